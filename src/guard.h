/*
 * guard.h
 *		Utility statements that row-level security does not cover: LOCK
 *		TABLE, cursors WITH HOLD, GRANT (see guard.c).
 */
#ifndef PG_TENANCY_GUARD_H
#define PG_TENANCY_GUARD_H

extern void tenancy_guard_init(void);

#endif							/* PG_TENANCY_GUARD_H */
