/*
 * policy.h
 *		Row-level security support for protected tables.
 */
#ifndef PG_TENANCY_POLICY_H
#define PG_TENANCY_POLICY_H

extern void tenancy_policy_init(void);

#endif							/* PG_TENANCY_POLICY_H */
