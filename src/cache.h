/*
 * cache.h
 *		The per-backend cache of resolved decisions.
 */
#ifndef PG_TENANCY_CACHE_H
#define PG_TENANCY_CACHE_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/snapshot.h"
#include "utils/uuid.h"

#include "permset.h"

extern void tenancy_cache_init(void);

/*
 * Every entry names the invalidation buckets of what it depends on: the
 * buckets of the organizations and users involved (TENANCY_ALL_BUCKETS when
 * that is not known).
 */
#define TENANCY_ALL_BUCKETS	(~UINT64CONST(0))
extern uint64 tenancy_cache_bucket(const pg_uuid_t *id);

/*
 * Lookups return a copy in the caller's memory context, or NULL (-1 for
 * tenant lists) on a miss.  A store is ignored when the snapshot the value
 * was computed under may predate an invalidation already received: such a
 * value is right for the transaction that computed it, not for later ones.
 * valid_until is when the earliest grant the value counted expires
 * (DT_NOEND for never).
 */
extern PermSet *tenancy_cache_get_permset(const pg_uuid_t *user,
										  const pg_uuid_t *tenant,
										  TimestampTz *valid_until);
extern void tenancy_cache_put_permset(const pg_uuid_t *user,
									  const pg_uuid_t *tenant,
									  const PermSet *ps,
									  TimestampTz valid_until,
									  Snapshot snapshot, uint64 buckets);

/* A NULL perm stands for "any permission" (a non-empty set). */
extern int	tenancy_cache_get_tenants(const pg_uuid_t *user,
									  const PermEntry *perm,
									  pg_uuid_t **tenants,
									  TimestampTz *valid_until);
extern void tenancy_cache_put_tenants(const pg_uuid_t *user,
									  const PermEntry *perm,
									  const pg_uuid_t *tenants, int n,
									  TimestampTz valid_until,
									  Snapshot snapshot, uint64 buckets);

/*
 * The resources shared with a user for a permission, in resolve.c's flat
 * format; NULL on a miss.
 */
extern void *tenancy_cache_get_shares(const pg_uuid_t *user,
									  const PermEntry *perm, Size *len);
extern void tenancy_cache_put_shares(const pg_uuid_t *user,
									 const PermEntry *perm,
									 const void *data, Size len,
									 TimestampTz valid_until,
									 Snapshot snapshot, uint64 buckets);

/*
 * A role's permission set (a handful of roles serve every user, and every
 * resolution reads the sets of the roles it finds); NULL on a miss.
 */
extern PermSet *tenancy_cache_get_role(const pg_uuid_t *role);
extern void tenancy_cache_put_role(const pg_uuid_t *role, const PermSet *ps,
								   Snapshot snapshot, uint64 buckets);

/* The teams holding organization admin in an organization (resolve.c's). */
extern void *tenancy_cache_get_admin_teams(const pg_uuid_t *org, Size *len);
extern void tenancy_cache_put_admin_teams(const pg_uuid_t *org,
										  const void *data, Size len,
										  TimestampTz valid_until,
										  Snapshot snapshot, uint64 buckets);

/*
 * For memos kept outside the cache: the epoch changes whenever the cache is
 * emptied (after accepting pending invalidations), and a value computed under
 * a snapshot may be kept only if tenancy_cache_may_keep() says so.
 */
extern uint64 tenancy_cache_epoch(void);

/* tenancy.cache_size, in bytes. */
extern Size tenancy_cache_cap(void);
extern bool tenancy_cache_may_keep(Snapshot snapshot);

/* Registry verdicts: kind is 'a' (action) or 't' (resource type). */
extern int	tenancy_cache_get_registered(char kind, const char *name, int len);
extern void tenancy_cache_put_registered(char kind, const char *name, int len,
										 bool registered, Snapshot snapshot);

#endif							/* PG_TENANCY_CACHE_H */
