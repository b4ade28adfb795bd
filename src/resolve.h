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
 * The tenants where the user holds the permission (any permission at all
 * when perm is NULL), sorted and without duplicates, palloc'd; returns how
 * many.
 */
extern int	tenancy_user_tenants(const pg_uuid_t *user, const PermEntry *perm,
								 pg_uuid_t **tenants);

/*
 * The same, and until when the answer may be kept beyond this statement
 * (DT_NOBEGIN: not at all): as the decision cache would keep it.
 */
extern int	tenancy_user_tenants_until(const pg_uuid_t *user, const PermEntry *perm,
									   pg_uuid_t **tenants, TimestampTz *valid_until);

/* One resource shared with a user. */
typedef struct SharedResource
{
	Oid			relid;			/* the table the share was made on */
	pg_uuid_t	tenant;
	int			len;
	const char *id;				/* not NUL-terminated */
} SharedResource;

/*
 * The resources of perm's type shared with the user (directly or through a
 * team) for perm's action, on whatever table, sorted by tenant, id and
 * table; returns how many.  A permission with a "*" is never granted by a
 * share: the result is empty.
 */
extern int	tenancy_user_shares(const pg_uuid_t *user, const PermEntry *perm,
								SharedResource **shares);
/* Is (tenant, id) in the list, on any of its tables?  */
extern bool tenancy_shares_contain(const SharedResource *shares, int n,
								   const pg_uuid_t *tenant,
								   const char *id, int len);

/*
 * The table that holds the resources of perm's type, those that shares
 * name (the protected root with an id column); InvalidOid when there is none.
 */
extern Oid	tenancy_resource_type_table(const PermEntry *perm);

/* Has the user any share in the tenant?  (A share makes a tenant visible.) */
extern bool tenancy_user_has_share_in(const pg_uuid_t *user,
									  const pg_uuid_t *tenant);

/*
 * May the user act on one resource of the tenant: by a tenant-wide
 * permission, as its owner (owner may be NULL), or through a share of the
 * resource with id (NULL: no id) made on the table relid (InvalidOid: the
 * table that holds the resources of perm's type)?
 */
extern bool tenancy_resource_allows(const pg_uuid_t *user,
									const pg_uuid_t *tenant,
									const PermEntry *perm,
									Oid relid,
									const char *id, int idlen,
									const pg_uuid_t *owner);

/* The organizations whose audit log the user may read; returns how many. */
extern int	tenancy_user_audit_orgs(const pg_uuid_t *user, pg_uuid_t **orgs);

/* Is the user active and an unexpired member of some organization? */
extern bool tenancy_user_is_member(const pg_uuid_t *user);

/* The user an identity provider names by subject at issuer (NULL: none). */
extern bool tenancy_user_by_subject(const char *subject, const char *issuer,
									pg_uuid_t *user);

/* Whether an identity provider names the user (an external subject). */
extern bool tenancy_user_has_external_identity(const pg_uuid_t *user);

/* Raises 22023 unless the permission's type and action are registered. */
extern void tenancy_check_registered(const PermEntry *e);

#endif							/* PG_TENANCY_RESOLVE_H */
