/*
 * resolve.h
 *		Resolution of a user's permissions on a tenant.
 */
#ifndef PG_TENANCY_RESOLVE_H
#define PG_TENANCY_RESOLVE_H

#include "postgres.h"
#include "utils/uuid.h"

#include "permset.h"

/* The user's permission set on the tenant; empty when anything is unknown. */
extern PermSet *tenancy_resolve(const pg_uuid_t *user, const pg_uuid_t *tenant);

/* The same, and until when the answer holds (the earliest expiry counted). */
extern PermSet *tenancy_resolve_until(const pg_uuid_t *user,
									  const pg_uuid_t *tenant,
									  TimestampTz *valid_until);

/*
 * The tenants where the user holds the permission, sorted and without
 * duplicates, palloc'd; returns how many.
 */
extern int	tenancy_user_tenants(const pg_uuid_t *user, const PermEntry *perm,
								 pg_uuid_t **tenants);

/* Is the user active and an unexpired member of some organization? */
extern bool tenancy_user_is_member(const pg_uuid_t *user);

/* Raises 22023 unless the permission's type and action are registered. */
extern void tenancy_check_registered(const PermEntry *e);

#endif							/* PG_TENANCY_RESOLVE_H */
