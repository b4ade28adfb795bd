/*
 * context.c
 *		The session context: the current user, and optionally tenant, of
 *		the current transaction.
 *
 * The context is the setting tenancy.context, so that it can be established
 * with SET LOCAL (which Citus propagates to its workers) as well as with
 * tenancy.set_context(), and so that PostgreSQL's own setting machinery
 * gives it the right life: ROLLBACK TO SAVEPOINT restores what was set
 * before the savepoint, RESET ALL and DISCARD ALL clear it.
 *
 * Its value is "<user uuid>" or "<user uuid>/<tenant uuid>", or, when
 * tenancy.require_signed_context is on, a signed token (token.c).  The
 * check hook validates it and records, in the setting's "extra" data, the
 * decoded ids and the transaction generation in which it was set.  A value
 * counts only in the transaction that set it: a plain SET survives COMMIT
 * in PostgreSQL's eyes, but not in ours, so a pooled connection never
 * carries one request's identity into the next.  Values that come from
 * anywhere but SET/set_config in a transaction (postgresql.conf, ALTER ROLE
 * ... SET, connection options) never count at all.
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/dest.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/plancache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "compat.h"
#include "citus.h"
#include "context.h"
#include "policy.h"
#include "resolve.h"
#include "token.h"

/* A generation that no transaction has: the value never counts. */
#define NEVER_VALID		UINT64CONST(0xFFFFFFFFFFFFFFFF)

static const char *const unknown_subject =
	"The user claim is neither a user's external subject at the issuer nor the uuid of a user whom no identity provider names.";

typedef struct ContextExtra
{
	uint64		serial;			/* distinct for every value ever checked */
	bool		set;			/* false for the empty value */
	bool		is_signed;		/* established by a verified token */
	uint64		generation;		/* transaction generation it belongs to */
	TimestampTz expires;		/* token expiry, or DT_NOEND */
	TenancyContext ctx;
} ContextExtra;

/* Settings. */
static char *context_value = NULL;

/*
 * tenancy.parallel_context: the context a parallel query's leader decided
 * on, in canonical form ("" for none), set by the leader as the query
 * starts (tenancy_context_parallel_start) and read only by its workers.
 */
static char *parallel_context = NULL;
static bool require_signed = false;
static char *admin_role = NULL;
static char *user_claim = NULL;		/* tenancy.user_claim */
static char *tenant_claim = NULL;	/* tenancy.tenant_claim */
static char *claims_setting = NULL; /* tenancy.claims_setting */
static char *claims_role = NULL;	/* tenancy.claims_role */

/* The parsed paths (the settings' extra data). */
static const ClaimPath *user_path = NULL;
static const ClaimPath *tenant_path = NULL;

/*
 * The context a gateway's claims establish (tenancy.claims_setting), for
 * the claims it was computed from in the transaction it was computed in.
 */
typedef struct ClaimsContext
{
	uint64		generation;		/* NEVER_VALID: none computed */
	char	   *claims;			/* malloc'd; NULL: no claims */
	bool		set;
	TenancyContext ctx;
	uint64		serial;
} ClaimsContext;

/*
 * Whether the library was loaded before this session's first statement
 * (shared_preload_libraries, or session_preload_libraries): only then has
 * every SET of the context gone through the check hook, which keeps tokens
 * out of the setting, and only then can no client read a value SET before
 * the library was there.  Signed mode needs it.
 */
static bool loaded_at_start = false;

/* What the server reports as the query text of a statement carrying a token. */
#define REDACTED_QUERY	"<query text hidden by pg_tenancy: it carried a context token>"

/* The extra data of the value in force (assign hook). */
static ContextExtra *current_extra = NULL;

/* Bumped at every top-level transaction end. */
static uint64 generation = 0;

/* Bumped whenever a value that counts comes into force. */
static uint64 assignments = 0;

/* Numbers the values the check hook accepts. */
static uint64 last_serial = 0;

/* Whether cached plans carry the current-tenant restriction. */
static bool tenant_plans_exist = false;
static bool const_tenant_plans_exist = false;	/* PROTOTYPE, see policy.c */

static ClaimsContext from_claims = {NEVER_VALID, NULL, false, {{{0}}, {{0}}, false}, 0};

/*
 * A value SET before the library was loaded in this backend is kept by
 * PostgreSQL as a placeholder, unchecked, and re-applied when the library
 * defines the setting, inside whatever transaction happens to load it.  The
 * values set during that transaction may count; one committed by an earlier
 * transaction must not (behind a pooler it may be another client's).  While
 * the setting is defined, stale_reapplied says how many of the values about
 * to be re-applied, which come oldest first, are such leftovers.
 */
static bool defining = false;
static int	stale_reapplied = 0;

/* "<user>" or "<user>/<tenant>" */
static bool
parse_plain(const char *value, TenancyContext *ctx)
{
	const char *slash = strchr(value, '/');

	if (slash == NULL)
	{
		ctx->has_tenant = false;
		return tenancy_parse_uuid(value, strlen(value), &ctx->user);
	}
	ctx->has_tenant = true;
	return tenancy_parse_uuid(value, slash - value, &ctx->user) &&
		tenancy_parse_uuid(slash + 1, strlen(slash + 1), &ctx->tenant);
}

/*
 * May this user work in this context?  A user needs to be active and a
 * member of an organization; with a tenant, to hold some permission on it.
 */
static bool
context_allowed(const TenancyContext *ctx)
{
	/* A share makes the tenant visible without a role in it. */
	if (ctx->has_tenant)
		return !permset_is_empty(tenancy_resolve(&ctx->user, &ctx->tenant)) ||
			tenancy_user_has_share_in(&ctx->user, &ctx->tenant);
	return tenancy_user_is_member(&ctx->user);
}

static char *
uuid_string(const pg_uuid_t *u)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(u)));
}

/* The context's canonical form: "<user>" or "<user>/<tenant>" (palloc'd). */
static char *
context_ids(const TenancyContext *ctx)
{
	return ctx->has_tenant ?
		psprintf("%s/%s", uuid_string(&ctx->user), uuid_string(&ctx->tenant)) :
		uuid_string(&ctx->user);
}

/* Replace the setting's value by the ids of the context. */
static bool
replace_value(char **newval, const TenancyContext *ctx)
{
	char	   *copy = PT_GUC_STRDUP(context_ids(ctx));

	if (copy == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		return false;
	}
	PT_GUC_FREE(*newval);
	*newval = copy;
	return true;
}

static bool
check_context(char **newval, void **extra, GucSource source)
{
	ContextExtra result;
	ContextExtra *copy;
	const char *value = *newval;
	bool		leftover;

	/*
	 * A scan that runs without its per-row resource check (fold.c) relies on
	 * the context in force when it started, and PostgreSQL's scan loop keeps
	 * its filter for the length of a call: the full filter could not be put
	 * back in time.  Refuse to change the context under it.
	 */
	if (tenancy_fold_active())
	{
		GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
		GUC_check_errmsg("cannot change the tenancy context while a query that relies on it is running");
		GUC_check_errdetail("A scan of a protected table started under the current context is still open.");
		GUC_check_errhint("Close the cursor first, or set the context before the query.");
		return false;
	}

	memset(&result, 0, sizeof(result));
	result.generation = NEVER_VALID;
	result.expires = DT_NOEND;

	/*
	 * A session value re-applied from before the library was loaded (see
	 * above).  The boot and reset values, applied first when the setting is
	 * defined, come from other sources and never count anyway.
	 */
	leftover = defining && source == PGC_S_SESSION && stale_reapplied > 0;
	if (leftover)
		stale_reapplied--;

	/*
	 * Cleared in this transaction (clear_context(), SET ... = ''): no
	 * context, and none derived from gateway claims either.
	 */
	if ((value == NULL || value[0] == '\0') && source == PGC_S_SESSION &&
		IsTransactionState() && !IsParallelWorker() && !leftover)
		result.generation = generation;

	if (value != NULL && value[0] != '\0')
	{
		result.set = true;

		/*
		 * Only SET and set_config() inside a transaction establish a context;
		 * a value from any other source, or committed before the library was
		 * loaded, is kept but never counts.  A parallel worker never reads
		 * the context (see tenancy_context_get).
		 */
		if (source == PGC_S_SESSION && IsTransactionState() &&
			!IsParallelWorker() && !leftover)
		{
			if (require_signed)
			{
				TokenClaims claims;
				const char *detail;

				/*
				 * The statement's text may hold the token: from now on the
				 * server shows other sessions, and logs with an error, a
				 * placeholder instead.  (A token bound as a parameter never
				 * appears in it.)
				 */
				pgstat_report_activity(STATE_RUNNING, REDACTED_QUERY);
				debug_query_string = REDACTED_QUERY;

				if (!loaded_at_start)
				{
					GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
					GUC_check_errmsg("signed contexts require pg_tenancy in shared_preload_libraries");
					GUC_check_errdetail("Without it, a token SET before the library is loaded in a connection stays readable there.");
					GUC_check_errhint("Add pg_tenancy to shared_preload_libraries and restart the server.");
					return false;
				}
				if (!tenancy_token_verify(value, GetCurrentTimestamp(),
										  user_path, tenant_path,
										  &claims, &detail))
				{
					GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
					GUC_check_errmsg("invalid context token");
					GUC_check_errdetail("%s", detail);
					GUC_check_errhint("This database requires signed contexts: pass a token to tenancy.set_context_token().");
					return false;
				}
				if (!OidIsValid(get_namespace_oid("tenancy", true)))
				{
					GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
					GUC_check_errmsg("extension \"pg_tenancy\" is not installed in this database");
					return false;
				}
				if (!tenancy_claims_user(&claims, &result.ctx.user))
				{
					GUC_check_errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION);
					GUC_check_errmsg("invalid context token");
					GUC_check_errdetail("%s", unknown_subject);
					return false;
				}
				result.is_signed = true;
				result.expires = claims.exp;
				result.ctx.has_tenant = claims.has_tenant;
				result.ctx.tenant = claims.tenant;

				/*
				 * Keep the ids, not the token: a session-level value outlives
				 * its transaction in PostgreSQL's eyes, and the next client
				 * of a pooled connection must not be able to read the token
				 * back and replay it.  The ids alone are refused in this
				 * mode.
				 */
				if (!replace_value(newval, &result.ctx))
					return false;
			}
			else if (!parse_plain(value, &result.ctx))
			{
				GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
				GUC_check_errmsg("invalid value for tenancy.context: \"%s\"", value);
				GUC_check_errdetail("The context is a user's uuid, optionally followed by \"/\" and a tenant's uuid, in their canonical form.");
				return false;
			}

			if (!OidIsValid(get_namespace_oid("tenancy", true)))
			{
				GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
				GUC_check_errmsg("extension \"pg_tenancy\" is not installed in this database");
				return false;
			}
			if (!context_allowed(&result.ctx))
			{
				GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
				if (result.ctx.has_tenant)
					GUC_check_errmsg("user has no role and no share in the tenant");
				else
					GUC_check_errmsg("user is not an active member of any organization");
				return false;
			}
			result.generation = generation;

			/*
			 * A context set outside a transaction block ends with the
			 * statement; say so, as PostgreSQL does for SET LOCAL.
			 */
			if (!IsTransactionBlock())
				ereport(WARNING,
						(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
						 errmsg("tenancy context set outside a transaction block"),
						 errdetail("A context counts only in the transaction that sets it, and this one ends with the statement."),
						 errhint("Set the context after BEGIN, in the transaction that uses it.")));
		}
	}

	result.serial = ++last_serial;
	copy = PT_GUC_MALLOC(sizeof(ContextExtra));
	if (copy == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		return false;
	}
	memcpy(copy, &result, sizeof(ContextExtra));
	*extra = copy;
	return true;
}

/*
 * See policy.c: plans built while a tenant was set restrict scans to that
 * tenant.  Running one while a user without a tenant is set would hide rows
 * that user may see, so such plans are thrown away when that happens.  (With
 * no context at all every protected table is empty whatever the plan.)
 */
static void
assign_context(const char *newval, void *extra)
{
	ContextExtra *ce = (ContextExtra *) extra;

	/* Scans that relied on the context in force run in full again. */
	tenancy_fold_context_changed();
	current_extra = ce;
	if (ce != NULL && ce->set && ce->generation == generation)
		assignments++;
	if (const_tenant_plans_exist)
	{
		ResetPlanCache();
		const_tenant_plans_exist = false;
	}
	if (tenant_plans_exist && ce != NULL && ce->set && !ce->ctx.has_tenant)
	{
		ResetPlanCache();
		tenant_plans_exist = false;
	}
}

/*
 * Signed mode may only be switched by superusers; turning it on makes
 * every unsigned context already set stop counting.
 */
static void
context_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			generation++;
			break;
		default:
			break;
	}
}

/*
 * What tenancy.context says in this transaction: EXPLICIT_SET with the
 * context, EXPLICIT_NONE when it was set or cleared in this transaction but
 * gives no context now (cleared, expired, unsigned in signed mode), or
 * EXPLICIT_UNSET when it was not set in this transaction: only then may
 * gateway claims give one.
 */
typedef enum ExplicitState
{
	EXPLICIT_UNSET,
	EXPLICIT_NONE,
	EXPLICIT_SET
} ExplicitState;

static ExplicitState
explicit_context(TenancyContext *ctx)
{
	ContextExtra *ce = current_extra;

	if (ce == NULL || ce->generation != generation)
		return EXPLICIT_UNSET;
	if (!ce->set)
		return EXPLICIT_NONE;
	if (require_signed && !ce->is_signed)
		return EXPLICIT_NONE;
	if (ce->is_signed && ce->expires <= GetCurrentStatementStartTimestamp())
		return EXPLICIT_NONE;
	if (ctx != NULL)
		*ctx = ce->ctx;
	return EXPLICIT_SET;
}

/* Gateway claims ----------------------------------------------------------- */

static bool
claims_configured(void)
{
	return claims_setting != NULL && claims_setting[0] != '\0' &&
		claims_role != NULL && claims_role[0] != '\0';
}

/*
 * The claims the gateway set for this transaction, or NULL.  They count
 * only in a session its role logged in as (or a member of it), and only
 * when set for the transaction (set_config(..., true), as PostgREST does):
 * a value left for the session by an earlier request never counts.
 */
static const char *
gateway_claims(void)
{
	/*
	 * Whether this session is the gateway's is decided once a transaction
	 * (policies ask for the context once a row): a GRANT or REVOKE of the
	 * gateway's role counts from the next transaction.
	 */
	static uint64 decided_in = NEVER_VALID;
	static Oid	decided_for = InvalidOid;
	static bool is_gateway = false;
	static int	setting_hint = -1;
	const char *value;

	if (!claims_configured() || !IsTransactionState())
		return NULL;
	if (decided_in != generation || decided_for != GetSessionUserId())
	{
		Oid			role = get_role_oid(claims_role, true);

		is_gateway = OidIsValid(role) &&
			is_member_of_role_nosuper(GetSessionUserId(), role);
		decided_for = GetSessionUserId();
		decided_in = generation;
	}
	if (!is_gateway)
		return NULL;
	value = PT_GUC_LOCAL_STRING(claims_setting, &setting_hint);
	if (value == NULL || value[0] == '\0')
		return NULL;
	/* In a database without pg_tenancy (settings of a role apply in all). */
	if (tenancy_catalog_if_installed() == NULL)
		return NULL;
	return value;
}

/* Were these claims (NULL: none) the ones the context was derived from? */
static bool
claims_unchanged(const char *current)
{
	if (from_claims.generation != generation)
		return false;
	if (current == NULL || from_claims.claims == NULL)
		return current == from_claims.claims;
	return strcmp(current, from_claims.claims) == 0;
}

static bool
same_context(const TenancyContext *a, const TenancyContext *b)
{
	return memcmp(a->user.data, b->user.data, UUID_LEN) == 0 &&
		a->has_tenant == b->has_tenant &&
		(!a->has_tenant || memcmp(a->tenant.data, b->tenant.data, UUID_LEN) == 0);
}

/*
 * Bring the context of the gateway's claims up to date, and say whether
 * there is one.  Claims that cannot be read, or that name a user who may
 * not work (in the tenant), are an error, as set_context() would raise;
 * claims without a user (an anonymous request) establish no context.
 * Quiet, for callers that merely look (the executor's start, SHOW, the
 * guards), such claims give no context and nothing is remembered, so that
 * the policies and context functions that need the context raise the error.
 */
static bool
claims_context_refresh(bool quiet)
{
	const char *current = gateway_claims();
	TenancyContext ctx;
	bool		set = false;
	char	   *value = NULL;

	if (claims_unchanged(current))
		return from_claims.set;

	memset(&ctx, 0, sizeof(ctx));
	if (current != NULL)
	{
		TokenClaims claims;
		const char *detail;
		int			failure = 0;

		/* A copy: the lookups below must not depend on the setting's memory. */
		value = strdup(current);
		if (value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		if (!tenancy_claims_parse(value, user_path, tenant_path, &claims, &detail))
			failure = 1;
		else if (claims.subject != NULL)
		{
			if (!tenancy_claims_user(&claims, &ctx.user))
				failure = 2;
			else
			{
				ctx.has_tenant = claims.has_tenant;
				ctx.tenant = claims.tenant;
				if (!context_allowed(&ctx))
					failure = 3;
				set = true;
			}
		}
		if (failure != 0)
		{
			free(value);
			if (quiet)
				return false;
			if (failure == 1)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("invalid claims in setting \"%s\"", claims_setting),
						 errdetail("%s", detail)));
			if (failure == 2)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
						 errmsg("the claims in setting \"%s\" name no user", claims_setting),
						 errdetail("%s", unknown_subject)));
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 ctx.has_tenant ?
					 errmsg("user has no role and no share in the tenant") :
					 errmsg("user is not an active member of any organization")));
		}
	}

	if (set != from_claims.set || (set && !same_context(&ctx, &from_claims.ctx)))
	{
		/* As the check hook refuses a change under such a scan. */
		if (tenancy_fold_active())
		{
			free(value);
			if (quiet)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot change the tenancy context while a query that relies on it is running"),
					 errdetail("The claims in setting \"%s\" changed under an open scan of a protected table.",
							   claims_setting)));
		}
		tenancy_fold_context_changed();
	}
	if (tenant_plans_exist && set && !ctx.has_tenant)
	{
		ResetPlanCache();
		tenant_plans_exist = false;
	}
	if (set)
		assignments++;
	free(from_claims.claims);
	from_claims.claims = value;
	from_claims.set = set;
	from_claims.ctx = ctx;
	from_claims.serial = ++last_serial;
	from_claims.generation = generation;
	return set;
}

/*
 * Plans built while a tenant was set hide the rows of other tenants (see
 * assign_context).  A gateway sets its claims in a statement of their own
 * before the query; after each statement, new claims that name a user and
 * no tenant throw such plans away before the next statement fetches one.
 * (The context itself is derived when first needed.)  Raises nothing.
 */
void
tenancy_context_statement_done(void)
{
	const char *current;
	TokenClaims claims;
	const char *detail;

	if (!tenant_plans_exist || !claims_configured() || IsParallelWorker() ||
		explicit_context(NULL) != EXPLICIT_UNSET)
		return;
	current = gateway_claims();
	if (current == NULL || claims_unchanged(current))
		return;
	if (tenancy_claims_parse(current, user_path, tenant_path, &claims, &detail) &&
		(claims.subject == NULL || claims.has_tenant))
		return;
	ResetPlanCache();
	tenant_plans_exist = false;
}

/*
 * A parallel worker cannot tell a value of tenancy.context set in this
 * transaction from a stale one, nor see gateway claims the way the leader
 * does: it takes the context its leader decided on, which the leader
 * passes in tenancy.parallel_context (a setting only a superuser could set
 * otherwise, and which the leader sets before every parallel query).
 */
static bool
parallel_worker_context(TenancyContext *ctx)
{
	const char *v = parallel_context;
	const char *sep;
	size_t		len;
	char		ids[2 * 36 + 2];

	if (v == NULL || v[0] == '\0')
		return false;
	/* "<user>[/<tenant>][;<segment of tenant lists>]" */
	sep = strchr(v, ';');
	len = sep != NULL ? (size_t) (sep - v) : strlen(v);
	if (len != 36 && (len != 73 || v[36] != '/'))
		elog(ERROR, "invalid tenancy.parallel_context \"%s\"", v);
	memset(ctx, 0, sizeof(*ctx));
	memcpy(ids, v, len);
	ids[len] = '\0';
	ids[36] = '\0';
	ctx->user = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(ids)));
	ctx->has_tenant = len == 73;
	if (ctx->has_tenant)
		ctx->tenant = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(ids + 37)));
	return true;
}

uint32
tenancy_context_parallel_lists(void)
{
	const char *sep;

	if (!IsParallelWorker() || parallel_context == NULL ||
		(sep = strchr(parallel_context, ';')) == NULL)
		return 0;
	return (uint32) strtoul(sep + 1, NULL, 10);
}

void
tenancy_context_parallel_start(const void *query)
{
	TenancyContext ctx;
	const char *value = "";

	if (IsParallelWorker() || IsInParallelMode())
		return;
	if (tenancy_context_peek(&ctx))
	{
		/* and the tenant lists this backend keeps for it (policy.c) */
		uint32		lists = tenancy_policy_share_lists(&ctx, query);

		value = context_ids(&ctx);
		if (lists != 0)
			value = psprintf("%s;%u", value, lists);
	}
	if (parallel_context != NULL && strcmp(parallel_context, value) == 0)
		return;
	(void) set_config_option("tenancy.parallel_context", value,
							 PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

static bool
context_get(TenancyContext *ctx, bool quiet)
{
	if (IsParallelWorker())
		return parallel_worker_context(ctx);
	switch (explicit_context(ctx))
	{
		case EXPLICIT_SET:
			tenancy_citus_check_fresh();
			return true;
		case EXPLICIT_NONE:
			return false;
		case EXPLICIT_UNSET:
			break;
	}
	if (claims_configured() && claims_context_refresh(quiet))
	{
		tenancy_citus_check_fresh();
		*ctx = from_claims.ctx;
		return true;
	}
	return false;
}

bool
tenancy_context_get(TenancyContext *ctx)
{
	return context_get(ctx, false);
}

bool
tenancy_context_peek(TenancyContext *ctx)
{
	return context_get(ctx, true);
}

/*
 * SHOW, current_setting() and pg_settings show the context in force, in
 * its canonical form, or nothing: never a value that does not count (one
 * left by an earlier transaction, say), and never a token.
 */
static const char *
show_context(void)
{
	static char buf[2 * 36 + 2];	/* "<uuid>/<uuid>" */
	TenancyContext ctx;
	char	   *ids;

	if (!tenancy_context_peek(&ctx))
		return "";
	ids = context_ids(&ctx);
	strlcpy(buf, ids, sizeof(buf));
	pfree(ids);
	return buf;
}

/*
 * With signed contexts the application role is not trusted with identity,
 * so it may not ask what another user may do either: only about the user
 * its context names.  Superusers and members of tenancy.admin_role may ask
 * about anyone.  user NULL: a question about users in general.
 */
void
tenancy_check_may_ask_about(const pg_uuid_t *user)
{
	TenancyContext ctx;
	Oid			admin;

	if (!require_signed || superuser())
		return;
	if (user != NULL && tenancy_context_get(&ctx) &&
		memcmp(ctx.user.data, user->data, UUID_LEN) == 0)
		return;
	if (admin_role != NULL && admin_role[0] != '\0' &&
		OidIsValid(admin = get_role_oid(admin_role, true)) &&
		has_privs_of_role(GetUserId(), admin))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to ask about another user"),
			 errdetail("With signed contexts, a role may ask only about the user its context names."),
			 errhint("Superusers and members of the role named by tenancy.admin_role may ask about any user.")));
}

bool
tenancy_context_signed(void)
{
	return require_signed;
}

uint64
tenancy_context_assignments(void)
{
	return assignments;
}

uint64
tenancy_context_identity(void)
{
	if (claims_configured() && !IsParallelWorker() &&
		explicit_context(NULL) == EXPLICIT_UNSET)
	{
		(void) claims_context_refresh(false);
		return from_claims.serial;
	}
	return current_extra ? current_extra->serial : 0;
}

const ClaimPath *
tenancy_user_claim_path(void)
{
	return user_path;
}

const ClaimPath *
tenancy_tenant_claim_path(void)
{
	return tenant_path;
}

const char *
tenancy_unknown_subject_detail(void)
{
	return unknown_subject;
}

/* tenancy.user_claim and tenancy.tenant_claim: a path of member names. */
static bool
check_claim_path(char **newval, void **extra, GucSource source)
{
	ClaimPath  *path = PT_GUC_MALLOC(sizeof(ClaimPath));

	if (path == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		return false;
	}
	if (*newval == NULL || !tenancy_claim_path_parse(*newval, path))
	{
		PT_GUC_FREE(path);
		GUC_check_errdetail("A claim path is up to %d member names of 1 to 63 bytes, separated by dots, such as \"sub\" or \"app_metadata.tenant_id\".",
							CLAIM_PATH_MAX);
		return false;
	}
	*extra = path;
	return true;
}

static void
assign_user_claim(const char *newval, void *extra)
{
	user_path = extra;
}

static void
assign_tenant_claim(const char *newval, void *extra)
{
	tenant_path = extra;
}

/* tenancy.claims_setting: not one of ours, whose values the hooks check. */
static bool
check_claims_setting(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && pg_strncasecmp(*newval, "tenancy.", 8) == 0)
	{
		GUC_check_errdetail("The claims come from a setting the gateway sets, such as \"request.jwt.claims\".");
		return false;
	}
	return true;
}

void
tenancy_context_note_const_tenant_plans(void)
{
	const_tenant_plans_exist = true;
}

void
tenancy_context_note_tenant_plans(void)
{
	tenant_plans_exist = true;
}

/*
 * Idempotent, since _PG_init may run again after an error (pg_tenancy.c):
 * only defining tenancy.context can raise, and it comes last.
 */
void
tenancy_context_init(void)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		/* Loaded outside a transaction: before the session's first statement. */
		loaded_at_start = process_shared_preload_libraries_in_progress ||
			!IsTransactionState();
		RegisterXactCallback(context_xact_callback, NULL);
		callback_registered = true;
	}

	if (!PT_GUC_IS_DEFINED("tenancy.require_signed_context"))
		DefineCustomBoolVariable("tenancy.require_signed_context",
								 "Sets whether the context can only be established with a signed token.",
								 NULL,
								 &require_signed,
								 false,
								 PGC_SUSET,
								 0,
								 NULL, NULL, NULL);

	if (!PT_GUC_IS_DEFINED("tenancy.admin_role"))
		DefineCustomStringVariable("tenancy.admin_role",
								   "Sets the role whose members may ask about any user when contexts are signed.",
								   "Superusers always may; other roles only about their context's user.",
								   &admin_role,
								   "",
								   PGC_SUSET,
								   GUC_NOT_IN_SAMPLE,
								   NULL, NULL, NULL);

	if (!PT_GUC_IS_DEFINED("tenancy.user_claim"))
		DefineCustomStringVariable("tenancy.user_claim",
								   "Sets the claim that names the user, in context tokens and gateway claims.",
								   "Member names separated by dots; the user's external subject or uuid.",
								   &user_claim,
								   "sub",
								   PGC_SUSET,
								   GUC_NOT_IN_SAMPLE,
								   check_claim_path, assign_user_claim, NULL);

	if (!PT_GUC_IS_DEFINED("tenancy.tenant_claim"))
		DefineCustomStringVariable("tenancy.tenant_claim",
								   "Sets the claim that names the tenant, in context tokens and gateway claims.",
								   "Member names separated by dots, such as app_metadata.tenant_id.",
								   &tenant_claim,
								   "tenant",
								   PGC_SUSET,
								   GUC_NOT_IN_SAMPLE,
								   check_claim_path, assign_tenant_claim, NULL);

	if (!PT_GUC_IS_DEFINED("tenancy.claims_setting"))
		DefineCustomStringVariable("tenancy.claims_setting",
								   "Sets the setting from which a gateway's verified claims establish the context.",
								   "Such as request.jwt.claims (PostgREST); empty: off.  Trusted only in sessions of tenancy.claims_role.",
								   &claims_setting,
								   "",
								   PGC_SUSET,
								   GUC_NOT_IN_SAMPLE,
								   check_claims_setting, NULL, NULL);

	if (!PT_GUC_IS_DEFINED("tenancy.claims_role"))
		DefineCustomStringVariable("tenancy.claims_role",
								   "Sets the role whose sessions' claims are trusted: the gateway's login role.",
								   NULL,
								   &claims_role,
								   "",
								   PGC_SUSET,
								   GUC_NOT_IN_SAMPLE,
								   NULL, NULL, NULL);

	/*
	 * The context is defined last, so that a value re-applied now meets the
	 * signed-mode settings already in place.
	 */
	if (PT_GUC_IS_DEFINED("tenancy.context"))
		return;
	stale_reapplied = PT_PLACEHOLDER_COMMITTED_VALUES("tenancy.context");
	defining = true;
	PG_TRY();
	{
		DefineCustomStringVariable("tenancy.parallel_context",
								   "The context a parallel query's leader decided on (set by pg_tenancy).",
								   "Read only by the query's parallel workers.",
								   &parallel_context,
								   "",
								   PGC_SUSET,
								   GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_DISALLOW_IN_FILE,
								   NULL, NULL, NULL);
		DefineCustomStringVariable("tenancy.context",
								   "Sets the current user, and optionally tenant, of this transaction.",
								   "A user's uuid, optionally followed by \"/\" and a tenant's uuid; "
								   "a signed token when tenancy.require_signed_context is on.  "
								   "Counts only in the transaction that sets it.",
								   &context_value,
								   "",
								   PGC_USERSET,
								   GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_DISALLOW_IN_FILE,
								   check_context,
								   assign_context,
								   show_context);
	}
	PG_FINALLY();
	{
		defining = false;
	}
	PG_END_TRY();
}

/* SQL-callable ------------------------------------------------------------ */

PG_FUNCTION_INFO_V1(tenancy_set_context);
PG_FUNCTION_INFO_V1(tenancy_set_context_token);
PG_FUNCTION_INFO_V1(tenancy_clear_context);
PG_FUNCTION_INFO_V1(tenancy_current_user_id);
PG_FUNCTION_INFO_V1(tenancy_current_tenant_id);

/*
 * With Citus loaded, the context is set by running the statement
 * "SET LOCAL tenancy.context = '...'" through ProcessUtility: Citus's
 * utility hook forwards that statement's text to the workers' connections
 * already open in the transaction, and to every one it opens later (it only
 * ever forwards a SET LOCAL statement, never a set_config_option()).  Citus
 * does so only with citus.propagate_set_commands = 'local', which is turned
 * on for this one statement, as a function's SET clause would (a GUC nest
 * level), so that the application's own SET LOCALs are not forwarded.
 * Without Citus, the value is set directly.
 */
static bool forwarding = false;

bool
tenancy_context_forwarding(void)
{
	return forwarding;
}

/*
 * Runs "SET LOCAL name = 'value'" as a statement of its own, so that Citus
 * forwards it to the workers (see above).
 */
void
tenancy_context_forward_setting(const char *name, const char *value)
{
	VariableSetStmt *stmt = makeNode(VariableSetStmt);
	A_Const    *arg = makeNode(A_Const);
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	char	   *query;
	int			nest;

	arg->val.sval.type = T_String;
	arg->val.sval.sval = pstrdup(value);
	arg->location = -1;
	stmt->kind = VAR_SET_VALUE;
	stmt->name = pstrdup(name);
	stmt->args = list_make1(arg);
	stmt->is_local = true;

	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = -1;
	pstmt->stmt_len = 0;

	/* the text Citus sends: one statement, nothing else of the client's */
	query = psprintf("SET LOCAL %s = %s", name, quote_literal_cstr(value));

	nest = NewGUCNestLevel();
	(void) set_config_option("citus.propagate_set_commands", "local",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/*
	 * guard.c hides a token in a SET's text from the hooks below it; Citus
	 * is one of them and must forward the text as it is.  This nested,
	 * single statement is not one pg_stat_statements records by default
	 * (pg_stat_statements.track = top).
	 */
	forwarding = true;
	PG_TRY();
	{
		ProcessUtility(pstmt, query, false, PROCESS_UTILITY_QUERY,
					   NULL, NULL, None_Receiver, NULL);
	}
	PG_FINALLY();
	{
		forwarding = false;
	}
	PG_END_TRY();
	/* restores citus.propagate_set_commands; keeps the SET LOCAL */
	AtEOXact_GUC(true, nest);
}

/*
 * The context, with the version of the hierarchy it is decided on
 * (citus.c), to the workers.
 */
void
tenancy_context_forward(const char *value_in)
{
	/* a copy: setting the value below frees the setting's old text */
	const char *value = pstrdup(value_in);

	/*
	 * Here first, so that a value this node refuses is refused with its own
	 * error, before any worker sees it.
	 */
	(void) set_config_option("tenancy.context", value,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	tenancy_citus_before_forward();
	tenancy_context_forward_setting("tenancy.context", value);
	tenancy_citus_forwarded_context(tenancy_context_identity());
}

/*
 * Whether tenancy.context was set or cleared in this transaction (only
 * such a value counts, and is forwarded to Citus's workers): its text and
 * identity.
 */
bool
tenancy_context_set_in_transaction(const char **value, uint64 *identity)
{
	if (explicit_context(NULL) == EXPLICIT_UNSET)
		return false;
	*value = context_value != NULL ? context_value : "";
	*identity = tenancy_context_identity();
	return true;
}

static void
set_context_local(const char *value)
{
	if (tenancy_citus_loaded())
	{
		tenancy_context_forward(value);
		return;
	}
	(void) set_config_option("tenancy.context", value,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/* tenancy.set_context(user_id uuid, tenant uuid DEFAULT NULL) */
Datum
tenancy_set_context(PG_FUNCTION_ARGS)
{
	char	   *user;
	char	   *value;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("user must not be null")));
	if (require_signed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("this database requires signed contexts"),
				 errhint("Pass a token to tenancy.set_context_token().")));

	user = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));
	if (PG_ARGISNULL(1))
		value = user;
	else
		value = psprintf("%s/%s", user,
						 DatumGetCString(DirectFunctionCall1(uuid_out,
															 PG_GETARG_DATUM(1))));
	set_context_local(value);
	PG_RETURN_VOID();
}

/* tenancy.set_context_token(token text) */
Datum
tenancy_set_context_token(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("token must not be null")));
	if (!require_signed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("signed contexts are not enabled"),
				 errhint("A superuser turns them on with tenancy.require_signed_context.")));
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid context token"),
				 errdetail("The token is empty."),
				 errhint("To clear the context, call tenancy.clear_context().")));
	set_context_local(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/* tenancy.clear_context() */
Datum
tenancy_clear_context(PG_FUNCTION_ARGS)
{
	set_context_local("");
	PG_RETURN_VOID();
}

/* tenancy.current_user_id() returns uuid */
Datum
tenancy_current_user_id(PG_FUNCTION_ARGS)
{
	TenancyContext ctx;
	pg_uuid_t  *result;

	if (!tenancy_context_get(&ctx))
		PG_RETURN_NULL();
	result = palloc(sizeof(pg_uuid_t));
	*result = ctx.user;
	PG_RETURN_UUID_P(result);
}

/* tenancy.current_tenant_id() returns uuid */
Datum
tenancy_current_tenant_id(PG_FUNCTION_ARGS)
{
	TenancyContext ctx;
	pg_uuid_t  *result;

	if (!tenancy_context_get(&ctx) || !ctx.has_tenant)
		PG_RETURN_NULL();
	result = palloc(sizeof(pg_uuid_t));
	*result = ctx.tenant;
	PG_RETURN_UUID_P(result);
}
