/*
 * policy.h
 *		Row-level security support for protected tables.
 */
#ifndef PG_TENANCY_POLICY_H
#define PG_TENANCY_POLICY_H

#include "nodes/primnodes.h"
#include "utils/uuid.h"

extern void tenancy_policy_init(void);

/*
 * Whether the context holds the permission on its current tenant (and
 * which that is); memoized for as long as the context and the cache stand.
 */
extern bool tenancy_context_tenant_answer(const char *permission,
										  pg_uuid_t *tenant);

/*
 * As a parallel query starts, in the leader: the tenant lists it keeps for
 * the context, in a dynamic shared memory segment for the workers; returns
 * its handle (0: none).
 */
struct TenancyContext;
extern uint32 tenancy_policy_share_lists(const struct TenancyContext *ctx,
										 const void *query);
extern void tenancy_policy_query_done(const void *query);

/* "col = tenancy.current_tenant_id()": its column, or NULL. */
extern Var *tenancy_current_tenant_clause(Node *clause, Oid current_tenant_fn);

/* fold.c */
extern void tenancy_fold_init(void);
extern void tenancy_fold_context_changed(void);
extern bool tenancy_fold_active(void);

#endif							/* PG_TENANCY_POLICY_H */
