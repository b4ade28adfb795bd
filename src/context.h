/*
 * context.h
 *		The session context: who the current user is, and optionally which
 *		tenant they work in, for the current transaction only.
 */
#ifndef PG_TENANCY_CONTEXT_H
#define PG_TENANCY_CONTEXT_H

#include "postgres.h"
#include "utils/uuid.h"

#include "token.h"

typedef struct TenancyContext
{
	pg_uuid_t	user;
	pg_uuid_t	tenant;
	bool		has_tenant;
} TenancyContext;

extern void tenancy_context_init(void);

/*
 * The context in force for this transaction; false when there is none (never
 * set, set in an earlier transaction, set other than by SET/set_config in
 * this transaction, unsigned while signed contexts are required, expired, or
 * asked from a parallel worker).
 */
extern bool tenancy_context_get(TenancyContext *ctx);

/*
 * The same for callers that only look (the executor's start, SHOW, the
 * guards): gateway claims that are not valid give no context here, rather
 * than an error; the policies and context functions raise it.
 */
extern bool tenancy_context_peek(TenancyContext *ctx);

/*
 * As a query with a parallel plan starts, in the leader: the context it
 * decided on, for its workers (which call tenancy_context_get too).
 */
extern void tenancy_context_parallel_start(const void *query);

/*
 * In a parallel worker: the handle of the dynamic shared memory segment in
 * which the leader put the tenant lists it kept for the context (0: none).
 */
extern uint32 tenancy_context_parallel_lists(void);

/* After each statement: see context.c (plans made for a tenant). */
extern void tenancy_context_statement_done(void);

/*
 * Identity of the context value in force, for memos of answers: a number no
 * other value of the setting has had in this backend.
 */
extern uint64 tenancy_context_identity(void);

/*
 * Refuse, with signed contexts, a question about another user than the
 * context's (NULL: about users in general) from a role that is neither a
 * superuser nor a member of tenancy.admin_role.
 */
extern void tenancy_check_may_ask_about(const pg_uuid_t *user);

/* Whether contexts must be signed (tenancy.require_signed_context). */
extern bool tenancy_context_signed(void);
/* Forwarding to Citus's workers (context.c, citus.c). */
extern bool tenancy_context_forwarding(void);
extern void tenancy_context_forward(const char *value);
extern void tenancy_context_forward_setting(const char *name, const char *value);
extern bool tenancy_context_set_in_transaction(const char **value, uint64 *identity);

/*
 * How many times a context that counts has come into force in this backend
 * (SET, set_context(), a function's SET clause, ...): a change says one
 * was set in between.
 */
extern uint64 tenancy_context_assignments(void);

/* The claim paths in force (tenancy.user_claim, tenancy.tenant_claim). */
extern const ClaimPath *tenancy_user_claim_path(void);
extern const ClaimPath *tenancy_tenant_claim_path(void);

/* The detail of an error for a user claim that names no user. */
extern const char *tenancy_unknown_subject_detail(void);

/* Plans were built with the current-tenant restriction (see policy.c). */
extern void tenancy_context_note_tenant_plans(void);
extern void tenancy_context_note_const_tenant_plans(void);

#endif							/* PG_TENANCY_CONTEXT_H */
