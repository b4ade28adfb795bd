/*
 * policy.c
 *		What the row-level security policies of protected tables call, and
 *		the hook that lets the planner treat "the current tenant" as the
 *		constant it is for the length of a statement.
 *
 * tenancy.protect() writes policies of the form
 *
 *		tenant_id OPERATOR(pg_catalog.=) ANY (tenancy.visible_tenants('orders:read'))
 *
 * The function is STABLE and takes no column, so the planner can use the
 * condition as an index condition, evaluated once when the scan starts;
 * where it ends up as a filter instead, the answer is kept in fn_extra and
 * computed once per statement all the same.  No SQL runs while a query
 * executes (Citus forbids it on workers): the answer comes from resolve.c's
 * direct index reads.
 *
 * A "= ANY (array)" condition cannot tell the planner that every row has
 * the same tenant, so with a current tenant set a query like "ORDER BY
 * created_at LIMIT 50" would sort the whole tenant instead of reading the
 * (tenant_id, created_at) index in order.  When a tenant is set, the
 * restrictive policy hook adds
 *
 *		tenant_id = tenancy.context_tenant('orders:read')
 *
 * which only narrows what the static policy allows (it is the current tenant
 * if the user may read it, NULL otherwise), and which the planner turns into
 * an equivalence class with a constant.  The value itself is never folded in
 * at plan time.  A plan built this way is wrong only for a context with a
 * user and no tenant; context.c throws cached plans away when such a context
 * is set after one was built.
 *
 * Once that condition is there, the static one is implied by it (when the
 * current tenant is returned, it is the one tenant the user may read in this
 * context), but the planner does not know, and multiplies the two
 * selectivities: it then expects a handful of rows, and prefers a bitmap scan
 * and a sort to reading the index in order.  The planner hook removes the
 * implied condition from the query before planning.  Removing it never
 * admits a row the remaining condition would not.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "common/hashfn.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/plannodes.h"
#include "nodes/supportnodes.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "parser/parsetree.h"
#include "rewrite/rowsecurity.h"
#include "storage/dsm.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/plancache.h"
#include "utils/selfuncs.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "cache.h"
#include "catalog.h"
#include "citus.h"
#include "context.h"
#include "permset.h"
#include "policy.h"
#include "resolve.h"

/* Per-call-site memo of a policy function's answer for one statement. */
typedef struct PolicyMemo
{
	uint64		context;		/* tenancy_context_identity() it was made for */
	char	   *permission;
	Datum		arg;			/* the argument it was last asked with */
	Datum		result;
	bool		isnull;
} PolicyMemo;

static row_security_policy_hook_type prev_restrictive_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;

/* Does a memo made for this context and permission answer this call? */
static inline bool
memo_answers(uint64 context, const char *made_for, const char *permission)
{
	return context == tenancy_context_identity() &&
		strcmp(made_for, permission) == 0;
}

/* The memo of this call site, if it answers this context and permission. */
static PolicyMemo *
memo_lookup(FunctionCallInfo fcinfo, const char *permission)
{
	PolicyMemo *memo = fcinfo->flinfo->fn_extra;

	if (memo != NULL && memo_answers(memo->context, memo->permission, permission))
		return memo;
	return NULL;
}

/*
 * Replacing an answer (the context changed during the statement) leaves the
 * old one in fn_mcxt until the statement ends: a caller may still hold it.
 */
static PolicyMemo *
memo_store(FunctionCallInfo fcinfo, const char *permission, Datum result,
		   bool isnull, int16 typlen, bool typbyval)
{
	MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	PolicyMemo *memo = fcinfo->flinfo->fn_extra;

	if (memo == NULL)
		memo = palloc0(sizeof(PolicyMemo));
	memo->context = tenancy_context_identity();
	memo->permission = pstrdup(permission);
	memo->arg = (Datum) 0;
	memo->isnull = isnull;
	memo->result = isnull ? (Datum) 0 : datumCopy(result, typbyval, typlen);
	fcinfo->flinfo->fn_extra = memo;
	MemoryContextSwitchTo(old);
	return memo;
}

static void
no_context_to_write(const char *permission)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("no tenancy context is set"),
			 errdetail("Writing to a protected table needs \"%s\" in the current context.",
					   permission),
			 errhint("Call tenancy.set_context() in this transaction first.")));
}

static void
parse_checked(const char *permission, PermEntry *e)
{
	permission_parse(permission, e);
	tenancy_check_registered(e);
}

/*
 * The tenants where the context may act, sorted; with e NULL, where it holds
 * any permission at all.  Returns how many.
 */
static int
context_tenant_list(const TenancyContext *ctx, const PermEntry *e,
					pg_uuid_t **result)
{
	pg_uuid_t  *tenants = NULL;
	int			n = 0;

	if (ctx->has_tenant)
	{
		PermSet    *ps = tenancy_resolve(&ctx->user, &ctx->tenant);

		if (e == NULL ? !permset_is_empty(ps) : permset_allows(ps, e))
		{
			tenants = palloc(sizeof(pg_uuid_t));
			tenants[0] = ctx->tenant;
			n = 1;
		}
	}
	else
		n = tenancy_user_tenants(&ctx->user, e, &tenants);
	*result = tenants;
	return n;
}

/* The same as a uuid[]. */
static Datum
context_tenants(const TenancyContext *ctx, const PermEntry *e)
{
	pg_uuid_t  *tenants = NULL;
	int			n = context_tenant_list(ctx, e, &tenants);
	Datum	   *elems;
	int			i;

	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&tenants[i]);
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN,
										   false, TYPALIGN_CHAR));
}


/*
 * Tenant sets kept from one statement to the next ------------------------
 *
 * A reader of thousands of tenants (an organization's admin, a service
 * user) gets the same list in statement after statement.  Building it again
 * for each (the array, and the hash table a row check searches) costs as
 * much as a short query itself: the lists of contexts without a tenant are
 * kept here, each valid while the decision cache has received no
 * invalidation since it was made (tenancy_cache_epoch()) and no grant it
 * counted has expired.  A set replaced or dropped while a statement may
 * still read it is freed at the end of the transaction.  Together the kept
 * sets stay within tenancy.cache_size, as the cache does.
 */
typedef struct TenantHashEntry
{
	pg_uuid_t	key;
	char		status;
} TenantHashEntry;

#define SH_PREFIX tenanthash
#define SH_ELEMENT_TYPE TenantHashEntry
#define SH_KEY_TYPE pg_uuid_t
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k).data, UUID_LEN)
#define SH_EQUAL(tb, a, b) (memcmp((a).data, (b).data, UUID_LEN) == 0)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct TenantSet
{
	MemoryContext cxt;			/* holds the set and everything in it */
	pg_uuid_t	user;
	char	   *permission;
	uint64		cache_epoch;	/* tenancy_cache_epoch() before it was read */
	TimestampTz valid_until;	/* DT_NOBEGIN: for one statement only */
	bool		kept;			/* in tenant_sets[] */
	Datum		array;			/* uuid[], sorted */
	int			n;
	tenanthash_hash *hash;		/* made when a row check first asks */
} TenantSet;

#define TENANT_SETS 4
static TenantSet *tenant_sets[TENANT_SETS];	/* most recently used first */
static List *retired_sets = NIL;	/* freed at the end of the transaction */

static void
retire_set(TenantSet *set)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	set->kept = false;
	retired_sets = lappend(retired_sets, set);
	MemoryContextSwitchTo(old);
}

static Size
kept_sets_bytes(void)
{
	Size		bytes = 0;

	for (int i = 0; i < TENANT_SETS; i++)
		if (tenant_sets[i] != NULL)
			bytes += MemoryContextMemAllocated(tenant_sets[i]->cxt, true);
	return bytes;
}

/* Makes room for a set of this many bytes; false if it can never fit. */
static bool
make_room_for_set(Size bytes)
{
	Size		cap = tenancy_cache_cap();

	if (bytes > cap)
		return false;
	for (int i = TENANT_SETS - 1; i >= 0 && kept_sets_bytes() + bytes > cap; i--)
	{
		if (tenant_sets[i] == NULL)
			continue;
		retire_set(tenant_sets[i]);
		memmove(&tenant_sets[i], &tenant_sets[i + 1],
				sizeof(TenantSet *) * (TENANT_SETS - 1 - i));
		tenant_sets[TENANT_SETS - 1] = NULL;
	}
	return true;
}

/* Puts a set first in tenant_sets[] (the last one is dropped). */
static void
keep_set_first(TenantSet *set, int at)
{
	if (at < 0)
	{
		at = TENANT_SETS - 1;
		if (tenant_sets[at] != NULL)
			retire_set(tenant_sets[at]);
	}
	memmove(&tenant_sets[1], &tenant_sets[0], sizeof(TenantSet *) * at);
	tenant_sets[0] = set;
}

/*
 * Parallel workers start with no set of their own: building the list of an
 * admin of 100,000 tenants in each worker costs more than a worker saves.
 * The leader copies the sets it keeps for the context into a dynamic shared
 * memory segment, which lives until the query's resource owner is released,
 * and names it in tenancy.parallel_context; a worker makes its sets from
 * it.  The sets were valid in the leader for this statement, whose
 * snapshot the workers share.
 */
typedef struct SharedList
{
	char		permission[NAMEDATALEN * 2];
	int32		n;
	pg_uuid_t	tenants[FLEXIBLE_ARRAY_MEMBER];
} SharedList;

#define SHARED_LIST_SIZE(n) MAXALIGN(offsetof(SharedList, tenants) + (Size) (n) * UUID_LEN)

static bool
set_usable(const TenantSet *set, uint64 epoch, TimestampTz now)
{
	return set->cache_epoch == epoch && now < set->valid_until;
}

/* A kept set the leader hands its workers for this context. */
static bool
set_shareable(const TenantSet *set, const TenancyContext *ctx, uint64 epoch,
			  TimestampTz now)
{
	return set != NULL && memcmp(&set->user, &ctx->user, UUID_LEN) == 0 &&
		set_usable(set, epoch, now) && strlen(set->permission) < NAMEDATALEN * 2;
}

/* Segments made for queries still running, each with its query. */
typedef struct SharedLists
{
	dsm_segment *seg;
	const void *query;
} SharedLists;

static List *shared_lists = NIL;

uint32
tenancy_policy_share_lists(const TenancyContext *ctx, const void *query)
{
	uint64		epoch;
	TimestampTz now = GetCurrentStatementStartTimestamp();
	Size		size = MAXALIGN(sizeof(int32));
	int			nsets = 0;
	dsm_segment *seg;
	char	   *p;

	if (ctx->has_tenant || CurrentResourceOwner == NULL ||
		tenancy_catalog_if_installed() == NULL)
		return 0;
	epoch = tenancy_cache_epoch();
	for (int i = 0; i < TENANT_SETS; i++)
	{
		if (set_shareable(tenant_sets[i], ctx, epoch, now))
		{
			size += SHARED_LIST_SIZE(tenant_sets[i]->n);
			nsets++;
		}
	}
	if (nsets == 0)
		return 0;
	seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
		return 0;
	/* detached when the query ends (or the transaction, on an error) */
	dsm_pin_mapping(seg);
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		SharedLists *sl = palloc(sizeof(SharedLists));

		sl->seg = seg;
		sl->query = query;
		shared_lists = lappend(shared_lists, sl);
		MemoryContextSwitchTo(old);
	}
	p = dsm_segment_address(seg);
	*(int32 *) p = nsets;
	p += MAXALIGN(sizeof(int32));
	for (int i = 0; i < TENANT_SETS; i++)
	{
		TenantSet  *set = tenant_sets[i];
		SharedList *list = (SharedList *) p;

		if (!set_shareable(set, ctx, epoch, now))
			continue;
		strlcpy(list->permission, set->permission, sizeof(list->permission));
		list->n = set->n;
		if (set->n > 0)
			memcpy(list->tenants, ARR_DATA_PTR(DatumGetArrayTypeP(set->array)),
				   (Size) set->n * UUID_LEN);
		p += SHARED_LIST_SIZE(set->n);
	}
	return dsm_segment_handle(seg);
}

/* The query has ended: its segment goes (all of them with NULL). */
void
tenancy_policy_query_done(const void *query)
{
	ListCell   *lc;

	foreach(lc, shared_lists)
	{
		SharedLists *sl = lfirst(lc);

		if (query == NULL || sl->query == query)
		{
			dsm_detach(sl->seg);
			pfree(sl);
			shared_lists = foreach_delete_current(shared_lists, lc);
		}
	}
}

/* In a parallel worker: the leader's list for a permission, or NULL. */
static SharedList *
leader_list(const char *permission, int *n)
{
	static dsm_segment *seg = NULL;
	static uint32 seg_handle = 0;
	uint32		handle = tenancy_context_parallel_lists();
	char	   *p;
	int32		nsets;

	if (handle == 0)
		return NULL;
	if (seg == NULL || seg_handle != handle)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		seg = dsm_attach(handle);
		MemoryContextSwitchTo(old);
		if (seg == NULL)
			return NULL;
		/* for the worker's life: it serves this one query */
		dsm_pin_mapping(seg);
		seg_handle = handle;
	}
	p = dsm_segment_address(seg);
	nsets = *(int32 *) p;
	p += MAXALIGN(sizeof(int32));
	for (int i = 0; i < nsets; i++)
	{
		SharedList *list = (SharedList *) p;

		if (strcmp(list->permission, permission) == 0)
		{
			*n = list->n;
			return list;
		}
		p += SHARED_LIST_SIZE(list->n);
	}
	return NULL;
}

/*
 * The tenants where the context may act for a permission: a kept set, or
 * one made now (kept when it may be; otherwise in the caller's memory,
 * transient_parent, for this statement).
 */
static TenantSet *
tenant_set_get(const TenancyContext *ctx, const char *permission,
			   const PermEntry *e, MemoryContext transient_parent)
{
	uint64		epoch = tenancy_cache_epoch();
	TimestampTz now = GetCurrentStatementStartTimestamp();
	TimestampTz until = DT_NOBEGIN;
	pg_uuid_t  *list = NULL;
	SharedList *shared;
	TenantSet  *set;
	MemoryContext old;
	Datum	   *elems;
	int			n;
	int			i;

	if (!ctx->has_tenant)
		for (i = 0; i < TENANT_SETS; i++)
		{
			set = tenant_sets[i];
			if (set == NULL || memcmp(&set->user, &ctx->user, UUID_LEN) != 0 ||
				strcmp(set->permission, permission) != 0)
				continue;
			if (set_usable(set, epoch, now))
			{
				keep_set_first(set, i);
				return set;
			}
			/* stale: out of the way */
			retire_set(set);
			memmove(&tenant_sets[i], &tenant_sets[i + 1],
					sizeof(TenantSet *) * (TENANT_SETS - 1 - i));
			tenant_sets[TENANT_SETS - 1] = NULL;
			break;
		}

	if (ctx->has_tenant)
		n = context_tenant_list(ctx, e, &list);
	else if (IsParallelWorker() && (shared = leader_list(permission, &n)) != NULL)
		list = shared->tenants;	/* not kept: the worker serves one query */
	else
		n = tenancy_user_tenants_until(&ctx->user, e, &list, &until);

	set = NULL;
	if (!ctx->has_tenant && now < until)
	{
		/* the array (16 bytes a tenant) and the hash table (17 bytes a slot) */
		Size		bytes = 1024 + (Size) n * (UUID_LEN + 24);

		if (make_room_for_set(bytes))
		{
			set = MemoryContextAllocZero(AllocSetContextCreate(TopMemoryContext,
															   "pg_tenancy tenant set",
															   ALLOCSET_DEFAULT_SIZES),
										 sizeof(TenantSet));
			set->kept = true;
		}
	}
	if (set == NULL)
		set = MemoryContextAllocZero(AllocSetContextCreate(transient_parent,
														   "pg_tenancy tenant set",
														   ALLOCSET_SMALL_SIZES),
									 sizeof(TenantSet));
	set->cxt = GetMemoryChunkContext(set);
	set->user = ctx->user;
	set->cache_epoch = epoch;
	set->valid_until = set->kept ? until : DT_NOBEGIN;
	set->n = n;
	old = MemoryContextSwitchTo(set->cxt);
	set->permission = pstrdup(permission);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&list[i]);
	set->array = PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN,
												 false, TYPALIGN_CHAR));
	pfree(elems);
	MemoryContextSwitchTo(old);
	if (set->kept)
		keep_set_first(set, -1);
	return set;
}

/* The set's hash table, made on first use. */
static tenanthash_hash *
tenant_set_hash(TenantSet *set)
{
	if (set->hash == NULL)
	{
		ArrayType  *a = DatumGetArrayTypeP(set->array);
		pg_uuid_t  *t = (pg_uuid_t *) ARR_DATA_PTR(a);
		tenanthash_hash *h = tenanthash_create(set->cxt, Max(set->n, 1), NULL);
		bool		found;

		for (int i = 0; i < set->n; i++)
			(void) tenanthash_insert(h, t[i], &found);
		set->hash = h;
	}
	return set->hash;
}

static void
policy_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	tenancy_policy_query_done(NULL);
	foreach(lc, retired_sets)
		MemoryContextDelete(((TenantSet *) lfirst(lc))->cxt);
	list_free(retired_sets);
	retired_sets = NIL;
}

static Datum
tenants_for_policy(FunctionCallInfo fcinfo, bool for_write)
{
	PolicyMemo *memo = fcinfo->flinfo->fn_extra;
	char	   *permission;
	TenancyContext ctx;
	PermEntry	e;

	/*
	 * The same array is handed out for every row of the statement; callers
	 * of a function result only read it.  A policy's call site passes the
	 * same constant each time: the memo answers without reading it again.
	 */
	if (memo != NULL && memo->arg == PG_GETARG_DATUM(0) &&
		memo->context == tenancy_context_identity())
		return memo->result;
	permission = text_to_cstring(PG_GETARG_TEXT_PP(0));
	memo = memo_lookup(fcinfo, permission);
	if (memo != NULL)
	{
		/* a constant's (or a parameter's) value stays where it is */
		if (get_fn_expr_arg_stable(fcinfo->flinfo, 0))
			memo->arg = PG_GETARG_DATUM(0);
		return memo->result;
	}

	parse_checked(permission, &e);
	if (!tenancy_context_get(&ctx))
	{
		if (for_write)
			no_context_to_write(permission);
		memo = memo_store(fcinfo, permission,
						  PointerGetDatum(construct_empty_array(UUIDOID)),
						  false, -1, false);
		return memo->result;
	}
	{
		TenantSet  *set = tenant_set_get(&ctx, permission, &e,
										 fcinfo->flinfo->fn_mcxt);

		/* the set's own array: it outlives the statement */
		memo = memo_store(fcinfo, permission, (Datum) 0, true, -1, false);
		memo->result = set->array;
		memo->isnull = false;
	}
	if (get_fn_expr_arg_stable(fcinfo->flinfo, 0))
		memo->arg = PG_GETARG_DATUM(0);
	return memo->result;
}

/*
 * tenancy._tenant_in(tenant uuid, permission text, for_write boolean)
 * returns boolean: "tenant = ANY (visible_tenants(permission))" (or
 * writable_tenants) as one hash lookup per row.  The planner hook puts it
 * in place of that condition where a plan checks it row by row (a filter):
 * the hash table of a kept set is made once, not once per statement as
 * PostgreSQL's own hashed "= ANY" is.  The same answer for every row,
 * including NULL for a NULL tenant.
 */
typedef struct TenantInMemo
{
	uint64		context;		/* tenancy_context_identity() */
	Datum		arg;			/* the permission it was asked with */
	TenantSet  *set;
	tenanthash_hash *hash;
} TenantInMemo;

PG_FUNCTION_INFO_V1(tenancy_tenant_in);
Datum
tenancy_tenant_in(PG_FUNCTION_ARGS)
{
	TenantInMemo *m = fcinfo->flinfo->fn_extra;
	pg_uuid_t  *tenant = PG_GETARG_UUID_P(0);

	if (m == NULL || m->context != tenancy_context_identity() ||
		m->arg != PG_GETARG_DATUM(1))
	{
		char	   *permission = text_to_cstring(PG_GETARG_TEXT_PP(1));
		bool		for_write = PG_GETARG_BOOL(2);
		TenancyContext ctx;
		PermEntry	e;

		parse_checked(permission, &e);
		if (m == NULL)
			m = fcinfo->flinfo->fn_extra =
				MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TenantInMemo));
		m->context = tenancy_context_identity();
		m->arg = get_fn_expr_arg_stable(fcinfo->flinfo, 1) ? PG_GETARG_DATUM(1) : (Datum) 0;
		m->set = NULL;
		m->hash = NULL;
		if (tenancy_context_get(&ctx))
		{
			m->set = tenant_set_get(&ctx, permission, &e, fcinfo->flinfo->fn_mcxt);
			m->hash = tenant_set_hash(m->set);
		}
		else if (for_write)
			no_context_to_write(permission);
	}
	PG_RETURN_BOOL(m->hash != NULL && tenanthash_lookup(m->hash, *tenant) != NULL);
}

/*
 * tenancy._tenant_in_support(internal): the fraction of a table's rows
 * whose tenant is in the context's list, from the column's statistics: the
 * most common tenants that are in the list, and the average share of each
 * other tenant for the rest of it.
 */
PG_FUNCTION_INFO_V1(tenancy_tenant_in_support);
Datum
tenancy_tenant_in_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSelectivity *req;
	Const	   *perm;
	TenancyContext ctx;
	PermEntry	e;
	char	   *permission;
	TenantSet  *set;
	tenanthash_hash *hash;
	VariableStatData vardata;
	Selectivity s;

	if (!IsA(rawreq, SupportRequestSelectivity))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSelectivity *) rawreq;
	if (req->is_join || list_length(req->args) != 3 || !IsA(lsecond(req->args), Const))
		PG_RETURN_POINTER(NULL);
	perm = lsecond(req->args);
	if (perm->constisnull)
	{
		req->selectivity = 0.0;
		PG_RETURN_POINTER(req);
	}
	if (!tenancy_context_peek(&ctx))
		PG_RETURN_POINTER(NULL);
	permission = TextDatumGetCString(perm->constvalue);
	parse_checked(permission, &e);
	set = tenant_set_get(&ctx, permission, &e, CurrentMemoryContext);
	hash = tenant_set_hash(set);

	examine_variable(req->root, linitial(req->args), req->varRelid, &vardata);
	if (HeapTupleIsValid(vardata.statsTuple))
	{
		Form_pg_statistic stats = (Form_pg_statistic) GETSTRUCT(vardata.statsTuple);
		AttStatsSlot sslot;
		double		common = 0.0;	/* share of the most common tenants */
		double		in_list = 0.0;	/* of those in the list */
		int			ncommon = 0;
		int			ncommon_in = 0;
		double		ndistinct;
		bool		isdefault;

		if (get_attstatsslot(&sslot, vardata.statsTuple, STATISTIC_KIND_MCV,
							 InvalidOid, ATTSTATSSLOT_VALUES | ATTSTATSSLOT_NUMBERS))
		{
			for (int i = 0; i < sslot.nvalues; i++)
			{
				common += sslot.numbers[i];
				if (tenanthash_lookup(hash, *DatumGetUUIDP(sslot.values[i])) != NULL)
				{
					in_list += sslot.numbers[i];
					ncommon_in++;
				}
			}
			ncommon = sslot.nvalues;
			free_attstatsslot(&sslot);
		}
		ndistinct = get_variable_numdistinct(&vardata, &isdefault);
		s = in_list;
		if (ndistinct > ncommon)
			s += Min(set->n - ncommon_in, ndistinct - ncommon) *
				Max(1.0 - stats->stanullfrac - common, 0.0) / (ndistinct - ncommon);
	}
	else
		s = set->n * DEFAULT_EQ_SEL;
	ReleaseVariableStats(vardata);
	CLAMP_PROBABILITY(s);
	req->selectivity = s;
	PG_RETURN_POINTER(req);
}

PG_FUNCTION_INFO_V1(tenancy_audit_orgs);
PG_FUNCTION_INFO_V1(tenancy_outer_role);
PG_FUNCTION_INFO_V1(tenancy_role_tenants);
PG_FUNCTION_INFO_V1(tenancy_shared_ids);
PG_FUNCTION_INFO_V1(tenancy_is_shared);
PG_FUNCTION_INFO_V1(tenancy_has_resource_permission);
PG_FUNCTION_INFO_V1(tenancy_has_resource_permission_current);
PG_FUNCTION_INFO_V1(tenancy_visible_tenants);
PG_FUNCTION_INFO_V1(tenancy_writable_tenants);
PG_FUNCTION_INFO_V1(tenancy_context_tenant);
PG_FUNCTION_INFO_V1(tenancy_resource_allows_row);
PG_FUNCTION_INFO_V1(tenancy_has_permission_current);

/* tenancy.visible_tenants(permission text) returns uuid[] */
Datum
tenancy_visible_tenants(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(tenants_for_policy(fcinfo, false));
}

/* tenancy.writable_tenants(permission text) returns uuid[]; no context: error */
Datum
tenancy_writable_tenants(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(tenants_for_policy(fcinfo, true));
}

/*
 * tenancy._audit_orgs() returns uuid[]: the organizations whose audit log
 * the context user may read (the audit log's policy), once per statement.
 */
Datum
tenancy_audit_orgs(PG_FUNCTION_ARGS)
{
	PolicyMemo *memo = memo_lookup(fcinfo, "");
	TenancyContext ctx;
	pg_uuid_t  *orgs = NULL;
	int			n = 0;
	Datum	   *elems;
	int			i;

	if (memo != NULL)
		PG_RETURN_DATUM(memo->result);
	if (tenancy_context_get(&ctx))
		n = tenancy_user_audit_orgs(&ctx.user, &orgs);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&orgs[i]);
	memo = memo_store(fcinfo, "",
					  PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN,
													  false, TYPALIGN_CHAR)),
					  false, -1, false);
	PG_RETURN_DATUM(memo->result);
}

/*
 * tenancy._outer_role() returns name: the role in effect outside any
 * SECURITY DEFINER function (the session's role, or the one SET ROLE
 * chose), which is who asked for a change made through pg_tenancy's
 * management functions.
 */
Datum
tenancy_outer_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(GetOuterUserId(),
																		  false))));
}

/*
 * tenancy.role_tenants() returns uuid[]: where the context user holds any
 * permission; an owner's rights on what they own last as long as that.
 */
Datum
tenancy_role_tenants(PG_FUNCTION_ARGS)
{
	PolicyMemo *memo = memo_lookup(fcinfo, "");
	TenancyContext ctx;

	if (memo != NULL)
		PG_RETURN_DATUM(memo->result);
	memo = memo_store(fcinfo, "",
					  tenancy_context_get(&ctx) ? context_tenants(&ctx, NULL) :
					  PointerGetDatum(construct_empty_array(UUIDOID)),
					  false, -1, false);
	PG_RETURN_DATUM(memo->result);
}

/*
 * Shares, for the policies of tables protected with an id column.  The
 * context user's shares for one permission on the policy's table, limited to
 * the current tenant when one is set, are kept for the statement in the call
 * site's fn_extra.  The policy names its table (a constant that protect()
 * writes): only the shares made on that table count, or, for a partition,
 * on the protected table it is a partition of (shares name the root).  A
 * share made on another table of the same resource type, such as one that an
 * application role protected for a moment, grants nothing here.  The list is
 * filtered once per statement, so that a row costs what it did: a search by
 * tenant and id.
 */
typedef struct SharesMemo
{
	uint64		context;
	char	   *permission;
	Oid			relid;			/* the policy's table */
	int			n;
	SharedResource *shares;
	Datum		ids;			/* shared_ids(): the ids as an array */
	Oid			elemtype;
	FmgrInfo	output;			/* is_shared(): the id type's output function */
	Oid			output_type;
} SharesMemo;

/* The table and its ancestors: the tables whose shares count on it. */
static List *
share_tables(Oid relid)
{
	if (!OidIsValid(relid))
		return NIL;
	if (get_rel_relispartition(relid))
		return lcons_oid(relid, get_partition_ancestors(relid));
	return list_make1_oid(relid);
}

/*
 * Fills memo (in cxt) with the context's shares for the permission, on the
 * table relid (InvalidOid: none).
 */
static void
shares_fill(SharesMemo *memo, const char *permission, Oid relid,
			MemoryContext cxt)
{
	MemoryContext old;
	TenancyContext ctx;
	PermEntry	e;
	SharedResource *all;
	List	   *tables;
	int			n;
	int			i;

	parse_checked(permission, &e);
	old = MemoryContextSwitchTo(cxt);
	memo->context = tenancy_context_identity();
	memo->permission = pstrdup(permission);
	memo->relid = relid;
	memo->n = 0;
	memo->shares = NULL;
	memo->ids = (Datum) 0;
	if (OidIsValid(relid) && tenancy_context_get(&ctx))
	{
		n = tenancy_user_shares(&ctx.user, &e, &all);
		tables = n > 0 ? share_tables(relid) : NIL;
		memo->shares = palloc(sizeof(SharedResource) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			if (ctx.has_tenant &&
				memcmp(&all[i].tenant, &ctx.tenant, UUID_LEN) != 0)
				continue;
			if (!list_member_oid(tables, all[i].relid))
				continue;
			memo->shares[memo->n] = all[i];
			memo->shares[memo->n].id = pnstrdup(all[i].id, all[i].len);
			memo->n++;
		}
		list_free(tables);
	}
	MemoryContextSwitchTo(old);
}

static SharesMemo *
shares_memo(FunctionCallInfo fcinfo, const char *permission, Oid relid)
{
	SharesMemo *memo = fcinfo->flinfo->fn_extra;

	if (memo != NULL && memo->relid == relid &&
		memo_answers(memo->context, memo->permission, permission))
		return memo;
	if (memo == NULL)
		memo = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SharesMemo));
	shares_fill(memo, permission, relid, fcinfo->flinfo->fn_mcxt);
	fcinfo->flinfo->fn_extra = memo;
	return memo;
}

/* An id as the text a share names it by, with the type's output function. */
static char *
shares_id_text(SharesMemo *memo, Oid idtype, Datum id, MemoryContext cxt)
{
	if (memo->output_type != idtype)
	{
		Oid			output;
		bool		varlena;

		getTypeOutputInfo(idtype, &output, &varlena);
		fmgr_info_cxt(output, &memo->output, cxt);
		memo->output_type = idtype;
	}
	return OutputFunctionCall(&memo->output, id);
}

/*
 * tenancy.shared_ids(permission text, id anyelement, tbl regclass) returns
 * anyarray: the ids, of the id column's type, of the resources of the table
 * shared with the context user.  The second argument only names the type.
 */
Datum
tenancy_shared_ids(PG_FUNCTION_ARGS)
{
	char	   *permission;
	Oid			elemtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	SharesMemo *memo;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	permission = text_to_cstring(PG_GETARG_TEXT_PP(0));
	/*
	 * Version 0.1.0 declared the function without the table: called through
	 * that declaration (before ALTER EXTENSION UPDATE), no share counts.
	 */
	memo = shares_memo(fcinfo, permission,
					   PG_NARGS() < 3 || PG_ARGISNULL(2) ?
					   InvalidOid : PG_GETARG_OID(2));

	if (memo->ids == (Datum) 0 || memo->elemtype != elemtype)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		Oid			input;
		Oid			ioparam;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems = palloc(sizeof(Datum) * Max(memo->n, 1));
		int			i;

		if (!OidIsValid(elemtype))
			elog(ERROR, "could not determine the type of the id column");
		getTypeInputInfo(elemtype, &input, &ioparam);
		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		for (i = 0; i < memo->n; i++)
			elems[i] = OidInputFunctionCall(input, (char *) memo->shares[i].id,
											ioparam, -1);
		memo->ids = PointerGetDatum(construct_array(elems, memo->n, elemtype,
													typlen, typbyval, typalign));
		memo->elemtype = elemtype;
		MemoryContextSwitchTo(old);
	}
	PG_RETURN_DATUM(memo->ids);
}

/*
 * tenancy.is_shared(tenant uuid, id anyelement, permission text,
 * tbl regclass) returns boolean: is this very resource of the table, in this
 * tenant, shared with the context user?  The policies pair it with
 * "id = ANY (shared_ids(...))", which finds the candidate rows through the
 * id index; this checks that the tenant is the share's own, so that moving a
 * shared row into another tenant is not allowed by its share.
 */
Datum
tenancy_is_shared(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant;
	char	   *permission;
	Oid			idtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	SharesMemo *memo;
	char	   *id;

	/* 0.1.0's declaration, without the table: no share counts. */
	if (PG_NARGS() < 4 ||
		PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) ||
		PG_ARGISNULL(3))
		PG_RETURN_BOOL(false);
	tenant = PG_GETARG_UUID_P(0);
	permission = text_to_cstring(PG_GETARG_TEXT_PP(2));
	memo = shares_memo(fcinfo, permission, PG_GETARG_OID(3));
	if (memo->n == 0)
		PG_RETURN_BOOL(false);
	id = shares_id_text(memo, idtype, PG_GETARG_DATUM(1), fcinfo->flinfo->fn_mcxt);
	PG_RETURN_BOOL(tenancy_shares_contain(memo->shares, memo->n, tenant,
										  id, strlen(id)));
}

/*
 * tenancy.has_resource_permission(user_id uuid, tenant uuid,
 *	   permission text, resource_id text, owner_id uuid): the resource-level
 * check, counting ownership and shares besides tenant-wide permissions.
 */
static bool
resource_check(const pg_uuid_t *user, FunctionCallInfo fcinfo, int first)
{
	pg_uuid_t  *tenant;
	char	   *permission;
	text	   *id = NULL;
	pg_uuid_t  *owner = NULL;
	PermEntry	e;

	if (PG_ARGISNULL(first + 1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("permission must not be null")));
	permission = text_to_cstring(PG_GETARG_TEXT_PP(first + 1));
	parse_checked(permission, &e);
	if (user == NULL || PG_ARGISNULL(first))
		return false;
	tenant = PG_GETARG_UUID_P(first);
	if (!PG_ARGISNULL(first + 2))
		id = PG_GETARG_TEXT_PP(first + 2);
	if (!PG_ARGISNULL(first + 3))
		owner = PG_GETARG_UUID_P(first + 3);
	/* No table named: shares of the table that holds the type's resources. */
	return tenancy_resource_allows(user, tenant, &e, InvalidOid,
								   id ? VARDATA_ANY(id) : NULL,
								   id ? VARSIZE_ANY_EXHDR(id) : 0, owner);
}

Datum
tenancy_has_resource_permission(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		tenancy_check_may_ask_about(PG_GETARG_UUID_P(0));
	PG_RETURN_BOOL(resource_check(PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0),
								  fcinfo, 1));
}

/* The same for the context user. */
Datum
tenancy_has_resource_permission_current(PG_FUNCTION_ARGS)
{
	TenancyContext ctx;
	bool		has = tenancy_context_get(&ctx);

	PG_RETURN_BOOL(resource_check(has ? &ctx.user : NULL, fcinfo, 0));
}

/*
 * The last answer of context_tenant(), kept across statements: a point
 * lookup by id evaluates the function once per statement, and the work of
 * answering (parsing and checking the permission, finding the cached
 * permission set) would otherwise be a noticeable part of such a statement.
 * It stands for as long as the context, the cache's content (its epoch) and
 * the permission set's expiry do.
 */
static struct
{
	bool		valid;
	uint64		context;
	uint64		epoch;
	TimestampTz valid_until;
	bool		allowed;
	pg_uuid_t	tenant;
	char		permission[2 * PERMSET_NAME_MAX + 2];
} last_answer;

bool
tenancy_context_tenant_answer(const char *permission, pg_uuid_t *tenant)
{
	TenancyContext ctx;
	PermEntry	e;
	uint64		epoch;
	TimestampTz valid_until = DT_NOEND;
	bool		allowed;

	if (!tenancy_context_get(&ctx) || !ctx.has_tenant)
	{
		parse_checked(permission, &e);
		return false;
	}
	/* Read first: an invalidation while answering makes the answer stale. */
	epoch = tenancy_cache_epoch();
	if (last_answer.valid && last_answer.context == tenancy_context_identity() &&
		last_answer.epoch == epoch &&
		GetCurrentStatementStartTimestamp() < last_answer.valid_until &&
		strcmp(last_answer.permission, permission) == 0)
	{
		*tenant = last_answer.tenant;
		return last_answer.allowed;
	}

	parse_checked(permission, &e);
	allowed = permset_allows(tenancy_resolve_until(&ctx.user, &ctx.tenant,
												   &valid_until), &e);
	last_answer.valid = false;
	if (strlen(permission) < sizeof(last_answer.permission) &&
		ActiveSnapshotSet() && tenancy_cache_may_keep(GetActiveSnapshot()))
	{
		last_answer.valid = true;
		last_answer.context = tenancy_context_identity();
		last_answer.epoch = epoch;
		last_answer.valid_until = valid_until;
		last_answer.allowed = allowed;
		last_answer.tenant = ctx.tenant;
		strcpy(last_answer.permission, permission);
	}
	*tenant = ctx.tenant;
	return allowed;
}

/* tenancy.context_tenant(permission text) returns uuid */
Datum
tenancy_context_tenant(PG_FUNCTION_ARGS)
{
	char	   *permission = text_to_cstring(PG_GETARG_TEXT_PP(0));
	PolicyMemo *memo = memo_lookup(fcinfo, permission);
	pg_uuid_t	tenant;
	bool		allowed;

	if (memo == NULL)
	{
		allowed = tenancy_context_tenant_answer(permission, &tenant);
		memo = memo_store(fcinfo, permission,
						  allowed ? UUIDPGetDatum(&tenant) : (Datum) 0,
						  !allowed, UUID_LEN, false);
	}
	if (memo->isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(memo->result);
}

/*
 * tenancy.resource_allows(tenant uuid, owner uuid, id anyelement,
 *						   permission text, for_write boolean, tbl regclass)
 * returns boolean: a resource-level policy's three conditions in one call
 * per row,
 *
 *	 tenant = ANY (visible_tenants(permission))
 *	 OR (owner = current_user_id() AND tenant = ANY (role_tenants()))
 *	 OR (id = ANY (shared_ids(permission, id, tbl))
 *		 AND is_shared(tenant, id, permission, tbl))
 *
 * with every list computed once per statement (owner or id NULL: that
 * condition is absent; tbl NULL: no share counts).  The planner hook puts
 * it in place of the OR when a plan reads the current tenant's index anyway,
 * where the arms need not be indexable (see rewrite_resource_quals).
 */
typedef struct RowMemo
{
	uint64		context;
	Datum		permission;		/* the argument it was computed for */
	char	   *permission_text;	/* and its text */
	bool		has_context;
	TenancyContext ctx;
	int			nvisible;
	pg_uuid_t  *visible;
	bool		roles_known;	/* the lists below, made on first need */
	int			nroles;
	pg_uuid_t  *roles;
	pg_uuid_t	current_tenant; /* the one visible tenant, when there is one */
	SharesMemo	shares;
} RowMemo;

static int
uuid_bytes_cmp(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

/* Every row asks: the usual list of one or a few is searched in line. */
static inline bool
uuid_in_list(const pg_uuid_t *u, const pg_uuid_t *list, int n)
{
	int			i;

	if (n > 8)
		return bsearch(u, list, n, sizeof(pg_uuid_t), uuid_bytes_cmp) != NULL;
	for (i = 0; i < n; i++)
		if (memcmp(u, &list[i], UUID_LEN) == 0)
			return true;
	return false;
}

Datum
tenancy_resource_allows_row(PG_FUNCTION_ARGS)
{
	RowMemo    *memo = fcinfo->flinfo->fn_extra;
	pg_uuid_t  *tenant;
	char	   *id;

	if (PG_ARGISNULL(3))
		PG_RETURN_BOOL(false);
	/* Rows of one statement pass the same constant: usually the same pointer. */
	if (memo == NULL || memo->context != tenancy_context_identity() ||
		(memo->permission != PG_GETARG_DATUM(3) &&
		 strcmp(memo->permission_text, text_to_cstring(PG_GETARG_TEXT_PP(3))) != 0))
	{
		char	   *permission = text_to_cstring(PG_GETARG_TEXT_PP(3));
		bool		for_write = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		PermEntry	e;

		if (memo == NULL)
			memo = palloc0(sizeof(RowMemo));
		memo->has_context = tenancy_context_get(&memo->ctx);
		if (!memo->has_context && for_write)
			no_context_to_write(permission);
		memo->nvisible = memo->nroles = 0;
		memo->roles_known = false;
		if (!memo->has_context)
			parse_checked(permission, &e);
		else if (memo->ctx.has_tenant)
		{
			/* The answer the policies share, kept across statements. */
			if (tenancy_context_tenant_answer(permission, &memo->current_tenant))
			{
				memo->visible = &memo->current_tenant;
				memo->nvisible = 1;
			}
		}
		else
		{
			parse_checked(permission, &e);
			memo->nvisible = context_tenant_list(&memo->ctx, &e, &memo->visible);
		}
		/* The share list is made on first need: most rows never ask. */
		memo->shares.permission = NULL;
		memo->permission = PG_GETARG_DATUM(3);
		memo->permission_text = pstrdup(permission);
		memo->context = tenancy_context_identity();
		fcinfo->flinfo->fn_extra = memo;
		MemoryContextSwitchTo(old);
	}
	if (!memo->has_context || PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	tenant = PG_GETARG_UUID_P(0);
	if (uuid_in_list(tenant, memo->visible, memo->nvisible))
		PG_RETURN_BOOL(true);
	if (!PG_ARGISNULL(1) &&
		memcmp(PG_GETARG_UUID_P(1), &memo->ctx.user, UUID_LEN) == 0)
	{
		if (!memo->roles_known)
		{
			MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

			memo->nroles = context_tenant_list(&memo->ctx, NULL, &memo->roles);
			memo->roles_known = true;
			MemoryContextSwitchTo(old);
		}
		if (uuid_in_list(tenant, memo->roles, memo->nroles))
			PG_RETURN_BOOL(true);
	}
	if (PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	if (memo->shares.permission == NULL)
	{
		char	   *permission = text_to_cstring(PG_GETARG_TEXT_PP(3));

		/* 0.1.0's declaration had no table (argument 6): no share counts. */
		shares_fill(&memo->shares, permission,
					PG_NARGS() > 5 && !PG_ARGISNULL(5) ? PG_GETARG_OID(5) : InvalidOid,
					fcinfo->flinfo->fn_mcxt);
	}
	if (memo->shares.n == 0)
		PG_RETURN_BOOL(false);
	id = shares_id_text(&memo->shares, get_fn_expr_argtype(fcinfo->flinfo, 2),
						PG_GETARG_DATUM(2), fcinfo->flinfo->fn_mcxt);
	PG_RETURN_BOOL(tenancy_shares_contain(memo->shares.shares, memo->shares.n,
										  tenant, id, strlen(id)));
}

/* tenancy.has_permission(tenant uuid, permission text): the current user */
Datum
tenancy_has_permission_current(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant = PG_GETARG_UUID_P(0);
	char	   *permission = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TenancyContext ctx;
	PermEntry	e;

	parse_checked(permission, &e);
	if (!tenancy_context_get(&ctx))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(permset_allows(tenancy_resolve(&ctx.user, tenant), &e));
}

/* The restrictive policy hook ---------------------------------------------- */

/*
 * Our policy for this command on the relation, as written by protect():
 * "col = ANY (tenancy.xxx_tenants('type:action'))".  Returns the column and
 * the permission constant, or false when the relation has none.
 */
static bool
find_tenancy_policy(Relation rel, CmdType cmd, Var **col, Const **perm,
					Oid *opno, bool *resource_level)
{
	const char *name;
	ListCell   *lc;

	switch (cmd)
	{
		case CMD_SELECT:
			name = "tenancy_select";
			break;
		case CMD_UPDATE:
			name = "tenancy_update";
			break;
		case CMD_DELETE:
			name = "tenancy_delete";
			break;
		default:
			return false;
	}
	if (rel->rd_rsdesc == NULL)
		return false;

	foreach(lc, rel->rd_rsdesc->policies)
	{
		RowSecurityPolicy *p = lfirst(lc);
		Node	   *qual = (Node *) p->qual;
		ScalarArrayOpExpr *saop;
		FuncExpr   *fn;

		if (strcmp(p->policy_name, name) != 0 || qual == NULL)
			continue;
		/* With owner and id columns: "tenant condition OR owner OR share". */
		*resource_level = is_orclause(qual);
		if (*resource_level)
			qual = linitial(((BoolExpr *) qual)->args);
		if (!IsA(qual, ScalarArrayOpExpr))
			continue;
		saop = (ScalarArrayOpExpr *) qual;
		if (list_length(saop->args) != 2 ||
			!IsA(linitial(saop->args), Var) ||
			!IsA(lsecond(saop->args), FuncExpr))
			continue;
		fn = lsecond(saop->args);
		if (list_length(fn->args) != 1 || !IsA(linitial(fn->args), Const))
			continue;
		*col = linitial(saop->args);
		*perm = linitial(fn->args);
		*opno = saop->opno;
		return true;
	}
	return false;
}

/*
 * With Citus and a context without a tenant, on the coordinator (a worker
 * plans a shard, where there is nothing to prune, and where more conditions
 * on the column cost the shard's index): the tenants the user sees, as
 * a constant list Citus can prune shards with ("col = ANY ('{...}')"), for
 * up to CITUS_TENANT_LIST of them.  The static policy stays, so a revoke
 * counts at run time; a grant counts from the next plan, and plans made
 * this way are thrown away whenever the context changes (context.c).
 */
#define CITUS_TENANT_LIST 1000

static List *
citus_visible_tenants(List *policies, Var *col, Const *perm, Oid opno,
					  bool resource_level)
{
	LOCAL_FCINFO(fcinfo, 1);
	FmgrInfo	flinfo;
	Datum		tenants;
	ScalarArrayOpExpr *any;
	RowSecurityPolicy *policy;
	Datum		public_role = ObjectIdGetDatum(ACL_ID_PUBLIC);

	if (resource_level ||
		!tenancy_citus_loaded() ||
		tenancy_citus_is_worker())
		return policies;
	fmgr_info(tenancy_catalog()->visible_tenants_fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = perm->constvalue;
	fcinfo->args[0].isnull = false;
	tenants = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return policies;
	if (ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(tenants)),
					   ARR_DIMS(DatumGetArrayTypeP(tenants))) > CITUS_TENANT_LIST)
		return policies;

	any = makeNode(ScalarArrayOpExpr);
	any->opno = opno;
	any->opfuncid = get_opcode(opno);
	any->useOr = true;
	any->inputcollid = InvalidOid;
	any->args = list_make2(copyObject(col),
						   makeConst(get_array_type(UUIDOID), -1, InvalidOid, -1,
									 datumCopy(tenants, false, -1), false, false));
	any->location = -1;
	policy = palloc0(sizeof(RowSecurityPolicy));
	policy->policy_name = pstrdup("tenancy_visible_tenants");
	policy->polcmd = '*';
	policy->roles = construct_array(&public_role, 1, OIDOID, sizeof(Oid),
									true, TYPALIGN_INT);
	policy->permissive = false;
	policy->qual = (Expr *) any;
	tenancy_context_note_const_tenant_plans();
	return lappend(policies, policy);
}

static List *
tenancy_restrictive_hook(CmdType cmdtype, Relation relation)
{
	List	   *policies = NIL;
	TenancyContext ctx;
	Var		   *col;
	Const	   *perm;
	Oid			opno;
	bool		resource_level = false;
	RowSecurityPolicy *policy;
	Datum		public_role = ObjectIdGetDatum(ACL_ID_PUBLIC);
	FuncExpr   *tenant_fn;

	if (prev_restrictive_hook)
		policies = prev_restrictive_hook(cmdtype, relation);

	if (!find_tenancy_policy(relation, cmdtype, &col, &perm, &opno,
							 &resource_level) ||
		!tenancy_context_get(&ctx))
		return policies;
	if (!ctx.has_tenant)
		return citus_visible_tenants(policies, col, perm, opno, resource_level);

	/*
	 * Where ownership and shares count, a row of the current tenant may be
	 * visible without the tenant-wide permission: narrow to the tenant only.
	 */
	if (resource_level)
		tenant_fn = makeFuncExpr(tenancy_catalog()->current_tenant_fn, UUIDOID,
								 NIL, InvalidOid, DEFAULT_COLLATION_OID,
								 COERCE_EXPLICIT_CALL);
	else if (tenancy_citus_loaded())
	{
		/*
		 * With Citus (shard pruning): the answer itself,
		 * as a constant Citus can prune shards with.  The static policy stays
		 * (the planner hook only drops it next to a context_tenant() call),
		 * so a revoke still counts at run time; plans made this way are
		 * thrown away whenever the context changes (context.c).
		 */
		pg_uuid_t	t;
		pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));
		Expr	   *c;

		if (tenancy_context_tenant_answer(TextDatumGetCString(perm->constvalue), &t))
		{
			*copy = t;
			c = (Expr *) makeConst(UUIDOID, -1, InvalidOid, UUID_LEN,
								   UUIDPGetDatum(copy), false, false);
		}
		else
			c = (Expr *) makeNullConst(UUIDOID, -1, InvalidOid);
		policy = palloc0(sizeof(RowSecurityPolicy));
		policy->policy_name = pstrdup("tenancy_current_tenant");
		policy->polcmd = '*';
		policy->roles = construct_array(&public_role, 1, OIDOID, sizeof(Oid),
										true, TYPALIGN_INT);
		policy->permissive = false;
		policy->qual = make_opclause(opno, BOOLOID, false,
									 (Expr *) copyObject(col), c,
									 InvalidOid, InvalidOid);
		policies = lappend(policies, policy);
		/*
		 * With Citus, the run-time check as a condition
		 * with no column, "context_tenant(perm) = <the constant>" (a
		 * one-time filter), so that the planner hook can drop the static
		 * "col = ANY (visible_tenants(perm))", whose array on the leading
		 * index column costs the index order (bitmap scan + sort).
		 */
		if (c != NULL && IsA(c, Const) && !((Const *) c)->constisnull)
		{
			RowSecurityPolicy *check = palloc0(sizeof(RowSecurityPolicy));

			check->policy_name = pstrdup("tenancy_current_tenant_check");
			check->polcmd = '*';
			check->roles = policy->roles;
			check->permissive = false;
			check->qual = make_opclause(opno, BOOLOID, false,
										(Expr *) makeFuncExpr(tenancy_catalog()->context_tenant_fn,
															  UUIDOID, list_make1(copyObject(perm)),
															  InvalidOid, DEFAULT_COLLATION_OID,
															  COERCE_EXPLICIT_CALL),
										(Expr *) copyObject(c), InvalidOid, InvalidOid);
			policies = lappend(policies, check);
		}
		tenancy_context_note_const_tenant_plans();
		return policies;
	}
	else
		tenant_fn = makeFuncExpr(tenancy_catalog()->context_tenant_fn, UUIDOID,
								 list_make1(copyObject(perm)),
								 InvalidOid, DEFAULT_COLLATION_OID,
								 COERCE_EXPLICIT_CALL);

	policy = palloc0(sizeof(RowSecurityPolicy));
	policy->policy_name = pstrdup("tenancy_current_tenant");
	policy->polcmd = '*';
	policy->roles = construct_array(&public_role, 1, OIDOID, sizeof(Oid),
									true, TYPALIGN_INT);
	policy->permissive = false;
	policy->qual = make_opclause(opno, BOOLOID, false,
								 (Expr *) copyObject(col), (Expr *) tenant_fn,
								 InvalidOid, InvalidOid);
	policy->with_check_qual = NULL;
	policy->hassublinks = false;

	tenancy_context_note_tenant_plans();
	return lappend(policies, policy);
}

/* The planner hook: drop static conditions implied by the hook's. --------- */

/* "col = tenancy.<fn>('perm')" or "col = ANY (tenancy.<fn>('perm'))" */
static bool
match_policy_qual(Node *qual, bool saop, Oid fn, Var **col, Const **perm)
{
	List	   *args;
	FuncExpr   *call;

	if (saop)
	{
		if (!IsA(qual, ScalarArrayOpExpr) || !((ScalarArrayOpExpr *) qual)->useOr)
			return false;
		args = ((ScalarArrayOpExpr *) qual)->args;
	}
	else
	{
		if (!IsA(qual, OpExpr))
			return false;
		args = ((OpExpr *) qual)->args;
	}
	if (list_length(args) != 2 || !IsA(linitial(args), Var) ||
		!IsA(lsecond(args), FuncExpr))
		return false;
	call = lsecond(args);
	if (call->funcid != fn || list_length(call->args) != 1 ||
		!IsA(linitial(call->args), Const))
		return false;
	*col = linitial(args);
	*perm = linitial(call->args);
	return true;
}

static void
prune_implied_quals(RangeTblEntry *rte, const TenancyCatalog *cat)
{
	ListCell   *lc;

	foreach(lc, rte->securityQuals)
	{
		Var		   *eqcol;
		Const	   *eqperm;
		ListCell   *lc2;
		Node	   *q = lfirst(lc);

		/* With Citus: "context_tenant(perm) = const" next to "col = const" */
		if (IsA(q, OpExpr) && list_length(((OpExpr *) q)->args) == 2 &&
			IsA(linitial(((OpExpr *) q)->args), FuncExpr) &&
			IsA(lsecond(((OpExpr *) q)->args), Const) &&
			((FuncExpr *) linitial(((OpExpr *) q)->args))->funcid == cat->context_tenant_fn)
		{
			FuncExpr   *f = linitial(((OpExpr *) q)->args);
			Const	   *t = lsecond(((OpExpr *) q)->args);
			ListCell   *lc3;
			Var		   *tcol = NULL;

			foreach(lc3, rte->securityQuals)
			{
				Node	   *o = lfirst(lc3);

				if (IsA(o, OpExpr) && list_length(((OpExpr *) o)->args) == 2 &&
					IsA(linitial(((OpExpr *) o)->args), Var) &&
					equal(lsecond(((OpExpr *) o)->args), t))
					tcol = linitial(((OpExpr *) o)->args);
			}
			if (tcol == NULL || !IsA(linitial(f->args), Const))
				continue;
			foreach(lc2, rte->securityQuals)
			{
				Var		   *col;
				Const	   *perm;

				if (match_policy_qual(lfirst(lc2), true, cat->visible_tenants_fn,
									  &col, &perm) &&
					equal(col, tcol) && equal(perm, linitial(f->args)))
				{
					rte->securityQuals = foreach_delete_current(rte->securityQuals, lc2);
					return;
				}
			}
			continue;
		}
		if (!match_policy_qual(lfirst(lc), false, cat->context_tenant_fn,
							   &eqcol, &eqperm))
			continue;
		foreach(lc2, rte->securityQuals)
		{
			Var		   *col;
			Const	   *perm;

			if (match_policy_qual(lfirst(lc2), true, cat->visible_tenants_fn,
								  &col, &perm) &&
				equal(col, eqcol) && equal(perm, eqperm))
			{
				rte->securityQuals = foreach_delete_current(rte->securityQuals, lc2);
				return;
			}
		}
	}
}

/*
 * "col = tenancy.current_tenant_id()" (either way round): the restrictive
 * hook's condition, as the planner hook finds it in a query and fold.c in a
 * plan.  Returns the column, or NULL.
 */
Var *
tenancy_current_tenant_clause(Node *clause, Oid current_tenant_fn)
{
	OpExpr	   *op;
	Node	   *var;
	Node	   *fn;
	Oid			opfunc;

	if (!IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return NULL;
	op = (OpExpr *) clause;
	opfunc = OidIsValid(op->opfuncid) ? op->opfuncid : get_opcode(op->opno);
	if (opfunc != F_UUID_EQ)
		return NULL;
	var = linitial(op->args);
	fn = lsecond(op->args);
	if (IsA(var, FuncExpr))
	{
		fn = linitial(op->args);
		var = lsecond(op->args);
	}
	if (!IsA(var, Var) || !IsA(fn, FuncExpr) ||
		((FuncExpr *) fn)->funcid != current_tenant_fn ||
		((FuncExpr *) fn)->args != NIL)
		return NULL;
	return (Var *) var;
}

/*
 * "var = fn(...)" (or "var = ANY (fn(...))" when saop), with the equality
 * operator of the column's type and fn the function given: the Var, and the
 * call; NULL when node is anything else.
 */
static Var *
equals_call(Node *node, bool saop, Oid fn, FuncExpr **call)
{
	List	   *args;
	Oid			opno;
	Var		   *var;

	if (saop && IsA(node, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) node)->useOr)
	{
		args = ((ScalarArrayOpExpr *) node)->args;
		opno = ((ScalarArrayOpExpr *) node)->opno;
	}
	else if (!saop && IsA(node, OpExpr))
	{
		args = ((OpExpr *) node)->args;
		opno = ((OpExpr *) node)->opno;
	}
	else
		return NULL;
	if (list_length(args) != 2 || !IsA(linitial(args), Var) ||
		!IsA(lsecond(args), FuncExpr) ||
		((FuncExpr *) lsecond(args))->funcid != fn)
		return NULL;
	var = linitial(args);
	if (opno != lookup_type_cache(var->vartype, TYPECACHE_EQ_OPR)->eq_opr)
		return NULL;
	*call = lsecond(args);
	return var;
}

/* Two Vars of the same table (of the same query level). */
static bool
same_table(const Var *a, const Var *b)
{
	return a->varno == b->varno && a->varlevelsup == b->varlevelsup;
}

/*
 * The owner arm protect() writes,
 *		owner = current_user_id() AND tenant = ANY (role_tenants())
 * with tenant the policy's tenant column: the owner column, or NULL.
 */
static Var *
owner_arm(Node *arm, const Var *tenant, const TenancyCatalog *cat)
{
	List	   *args;
	Var		   *owner;
	Var		   *col;
	FuncExpr   *call;

	if (!is_andclause(arm) || list_length(args = ((BoolExpr *) arm)->args) != 2)
		return NULL;
	if ((owner = equals_call(linitial(args), false, cat->current_user_fn, &call)) == NULL ||
		call->args != NIL || owner->vartype != UUIDOID || !same_table(owner, tenant))
		return NULL;
	if ((col = equals_call(lsecond(args), true, cat->role_tenants_fn, &call)) == NULL ||
		call->args != NIL || !equal(col, tenant))
		return NULL;
	return owner;
}

/*
 * The share arm protect() writes,
 *		id = ANY (shared_ids(perm, NULL::<id type>, tbl))
 *		AND is_shared(tenant, id, perm, tbl)
 * with the policy's tenant column and permission: the id column, or NULL;
 * and the table whose shares count.
 */
static Var *
share_arm(Node *arm, const Var *tenant, const Const *perm,
		  const TenancyCatalog *cat, Expr **tbl)
{
	List	   *args;
	Var		   *id;
	FuncExpr   *ids;
	FuncExpr   *shared;

	if (!is_andclause(arm) || list_length(args = ((BoolExpr *) arm)->args) != 2)
		return NULL;
	if ((id = equals_call(linitial(args), true, cat->shared_ids_fn, &ids)) == NULL ||
		list_length(ids->args) != 3 || !equal(linitial(ids->args), perm) ||
		!same_table(id, tenant))
		return NULL;
	if (!IsA(lsecond(args), FuncExpr))
		return NULL;
	shared = lsecond(args);
	if (shared->funcid != cat->is_shared_fn || list_length(shared->args) != 4 ||
		!equal(linitial(shared->args), tenant) ||
		!equal(lsecond(shared->args), id) ||
		!equal(lthird(shared->args), perm) ||
		!equal(lfourth(shared->args), lthird(ids->args)))
		return NULL;
	*tbl = lthird(ids->args);
	return id;
}

/* What the planner hook's walkers look up once: the catalog, if installed. */
typedef struct HashWalk
{
	bool		looked;			/* for the catalog */
	const TenancyCatalog *cat;	/* NULL when not installed */
} HashWalk;

/*
 * A resource-level policy's condition (tenant condition OR owner OR share,
 * as protect() writes it) as one call of resource_allows(): the same three
 * conditions, in one call per row with every list made once per statement.
 * Returns the call, and the tenant column and permission it checks; NULL
 * when qual is not of that shape.
 */
static FuncExpr *
resource_allows_call(Node *qual, const TenancyCatalog *cat, Var **tenant_col,
					 Const **permission)
{
	BoolExpr   *or;
	Var		   *col;
	Const	   *perm;
	Expr	   *owner = NULL;
	Expr	   *id = NULL;
	Expr	   *tbl = NULL;
	FuncExpr   *call;
	List	   *args;
	bool		for_write;
	ListCell   *arm;

	if (!is_orclause(qual))
		return NULL;
	or = (BoolExpr *) qual;
	if ((col = equals_call(linitial(or->args), true, cat->visible_tenants_fn,
						   &call)) != NULL)
		for_write = false;
	else if ((col = equals_call(linitial(or->args), true,
								cat->writable_tenants_fn, &call)) != NULL)
		for_write = true;
	else
		return NULL;
	if (col->vartype != UUIDOID || list_length(call->args) != 1 ||
		!IsA(linitial(call->args), Const) ||
		(perm = linitial(call->args))->constisnull)
		return NULL;
	/* Every other arm must be protect()'s owner or share condition. */
	for_each_from(arm, or->args, 1)
	{
		Var		   *v;

		if (owner == NULL && (v = owner_arm(lfirst(arm), col, cat)) != NULL)
			owner = (Expr *) v;
		else if (id == NULL && (v = share_arm(lfirst(arm), col, perm, cat, &tbl)) != NULL)
			id = (Expr *) v;
		else
			return NULL;
	}
	if (owner == NULL)
		owner = (Expr *) makeNullConst(UUIDOID, -1, InvalidOid);
	if (id == NULL)
		id = (Expr *) makeNullConst(TEXTOID, -1, DEFAULT_COLLATION_OID);
	if (tbl == NULL)
		tbl = (Expr *) makeNullConst(REGCLASSOID, -1, InvalidOid);
	args = list_make5(copyObject(col), copyObject(owner),
					  copyObject(id), copyObject(perm),
					  makeBoolConst(for_write, false));
	args = lappend(args, copyObject(tbl));
	*tenant_col = col;
	*permission = perm;
	return makeFuncExpr(cat->resource_allows_fn, BOOLOID, args,
						InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);
}

/*
 * A resource-level policy in a plan made while a current tenant is set, and
 * while the context holds the policy's permission there.  Such a plan will
 * read the tenant's rows through the restrictive "col = current_tenant_id()",
 * and, at least as long as the permission holds, every one of them passes
 * the tenant condition: the arms need not be indexable.  The OR is replaced
 * by resource_allows() instead of a BitmapOr over the owner and id indexes
 * and array searches on each row.  Only the shape of the plan depends on
 * the context: the call still decides at run time, so a plan reused under
 * another context or after a revoke returns exactly the rows the policy
 * allows (perhaps more slowly).  Without the permission the OR stays, for a
 * plan that reads only the owner's and the shared rows.
 */
static void
rewrite_resource_quals(RangeTblEntry *rte, const TenancyCatalog *cat)
{
	ListCell   *lc;
	Var		   *tenant_col = NULL;

	foreach(lc, rte->securityQuals)
	{
		if ((tenant_col = tenancy_current_tenant_clause(lfirst(lc),
														cat->current_tenant_fn)) != NULL)
			break;
	}
	if (tenant_col == NULL)
		return;

	foreach(lc, rte->securityQuals)
	{
		FuncExpr   *call;
		Var		   *col;
		Const	   *perm;
		pg_uuid_t	tenant;

		call = resource_allows_call(lfirst(lc), cat, &col, &perm);
		if (call != NULL && equal(col, tenant_col) &&
			tenancy_context_tenant_answer(TextDatumGetCString(perm->constvalue),
										  &tenant))
			lfirst(lc) = call;
	}
}

/*
 * The checks of the rows a command writes (the WITH CHECK of its policy,
 * and for an UPDATE the SELECT policy on the new row) run once per row
 * written and never through an index: there a resource-level policy is
 * always replaced by resource_allows(), whatever the context, as the call
 * answers what the OR would.
 */
static void
rewrite_check_options(Query *query, const TenancyCatalog *cat)
{
	ListCell   *lc;

	foreach(lc, query->withCheckOptions)
	{
		WithCheckOption *wco = lfirst(lc);
		FuncExpr   *call;
		Var		   *col;
		Const	   *perm;

		if (wco->kind != WCO_RLS_INSERT_CHECK && wco->kind != WCO_RLS_UPDATE_CHECK &&
			wco->kind != WCO_RLS_CONFLICT_CHECK)
			continue;
		if ((call = resource_allows_call(wco->qual, cat, &col, &perm)) != NULL)
			wco->qual = (Node *) call;
	}
}

/*
 * The owner and tenant guard.  On a table protected with an owner column,
 * taking a row from its owner needs the tenant-wide "update" (the owner may
 * give it away), and moving a row into another tenant needs "create" there:
 * otherwise a share for "update" would let its recipient make the row
 * theirs, and an owner could carry a row into a tenant where they may only
 * read.  Row-level security cannot say it (a WITH CHECK option sees the new
 * row only), so each new value of the owner or the tenant column a write
 * assigns is checked against the old row where it is computed, in the
 * target list of the UPDATE, of INSERT ... ON CONFLICT DO UPDATE, or of
 * MERGE's WHEN MATCHED THEN UPDATE:
 *
 *     owner_id = tenancy._guard_owner(<new>, owner_id, tenant_id, tbl, 'doc:update')
 *     tenant_id = tenancy._guard_tenant(<new>, tenant_id, tbl, 'doc:create')
 *
 * Every other write leaves the row's lock and its cost as they were: a
 * BEFORE row trigger would lock each row an UPDATE touches, whatever its
 * WHEN says.  The check sees the old row's latest version (a concurrent
 * update makes the executor compute the target list again) and the row
 * crossing into another partition as well as one staying put.  A table
 * with the guard trigger instead (on Citus, whose router planner refuses a
 * volatile function of a column in an UPDATE; see _add_resource_triggers)
 * is left to the trigger.  BEFORE row triggers of the table's owner run
 * after the check, as the owner's code.
 */
typedef struct GuardColumns
{
	AttrNumber	owner;
	AttrNumber	tenant;
	Const	   *relid;			/* the calls' constant arguments */
	Const	   *owner_permission;	/* '<type>:update' */
	Const	   *tenant_permission;	/* '<type>:create' */
} GuardColumns;

#define GUARD_TRIGGER "tenancy_guard_update"

/*
 * The attribute number of a protected table's owner or tenant column, by
 * the name protect() recorded.  A column renamed since (the policies follow
 * it, by number; the record does not) leaves the guard nothing to check: no
 * write may go unchecked, so every one is refused until the table is
 * protected again under the new name.
 */
static AttrNumber
guard_column(Oid relid, const char *name, const char *what)
{
	AttrNumber	attno = get_attnum(relid, name);

	if (attno == InvalidAttrNumber || get_atttype(relid, attno) != UUIDOID)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s column \"%s\" of protected table %s does not exist",
						what, name, get_rel_name(relid)),
				 errdetail("Changes of a row's owner and tenant are checked by the columns protect() was given."),
				 errhint("Call tenancy.unprotect() and tenancy.protect() again with the column's new name.")));
	return attno;
}

static Const *
text_const(const char *text)
{
	return makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
					 CStringGetTextDatum(text), false, false);
}

/* Whether the table's writes need the guard in their target lists. */
static bool
guard_columns(Oid relid, const TenancyCatalog *cat, GuardColumns *g)
{
	Relation	rel;
	bool		candidate;
	Relation	tables;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		found = false;

	/* The statement holds its lock on the table it writes. */
	rel = relation_open(relid, NoLock);
	candidate = rel->rd_rel->relrowsecurity &&
		(rel->rd_rel->relkind == RELKIND_RELATION ||
		 rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE);
	if (candidate && rel->trigdesc != NULL)
		for (int i = 0; i < rel->trigdesc->numtriggers; i++)
			if (strcmp(rel->trigdesc->triggers[i].tgname, GUARD_TRIGGER) == 0)
				candidate = false;
	relation_close(rel, NoLock);
	if (!candidate)
		return false;

	tables = table_open(cat->protected_tables, AccessShareLock);
	ScanKeyInit(&key, Anum_protected_tables_relid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tables, cat->protected_tables_pkey, true, NULL, 1, &key);
	if (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(tables);
		bool		isnull;
		Datum		owner = heap_getattr(tuple, Anum_protected_tables_owner_column,
										 desc, &isnull);

		if (!isnull)
		{
			Datum		tenant = heap_getattr(tuple, Anum_protected_tables_tenant_column,
											  desc, &isnull);
			char	   *rtype = TextDatumGetCString(heap_getattr(tuple,
																 Anum_protected_tables_resource_type,
																 desc, &isnull));

			g->owner = guard_column(relid, NameStr(*DatumGetName(owner)), "owner");
			g->tenant = guard_column(relid, NameStr(*DatumGetName(tenant)), "tenant");
			g->relid = makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid),
								 ObjectIdGetDatum(relid), false, true);
			g->owner_permission = text_const(psprintf("%s:update", rtype));
			g->tenant_permission = text_const(psprintf("%s:create", rtype));
			found = true;
		}
	}
	systable_endscan(scan);
	table_close(tables, AccessShareLock);
	return found;
}

/* A column of the row being written, as it was. */
static Var *
old_value(Index rtindex, AttrNumber attno)
{
	return makeVar(rtindex, attno, UUIDOID, -1, InvalidOid, 0);
}

static Expr *
guard_call(Oid fn, List *args)
{
	return (Expr *) makeFuncExpr(fn, UUIDOID, args, InvalidOid, InvalidOid,
								 COERCE_EXPLICIT_CALL);
}

/*
 * The new values of the owner and the tenant in a target list, checked.
 * Always, even a value the statement already passes through one of the
 * guard functions (which the plans' callers may execute, so anyone may
 * call them, with old values of their choosing): only the call made here
 * is given the row's own.
 */
static void
guard_target_list(List *tlist, Index rtindex, const GuardColumns *g,
				  const TenancyCatalog *cat)
{
	ListCell   *lc;

	foreach(lc, tlist)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk)
			continue;
		if (tle->resno == g->owner)
			tle->expr = guard_call(cat->guard_owner_fn,
								   list_make5(tle->expr,
											  old_value(rtindex, g->owner),
											  old_value(rtindex, g->tenant),
											  copyObject(g->relid),
											  copyObject(g->owner_permission)));
		else if (tle->resno == g->tenant)
			tle->expr = guard_call(cat->guard_tenant_fn,
								   list_make4(tle->expr,
											  old_value(rtindex, g->tenant),
											  copyObject(g->relid),
											  copyObject(g->tenant_permission)));
	}
}

/* The target lists of a query that change rows already there. */
static List *
update_target_lists(Query *query)
{
	List	   *lists = NIL;
	ListCell   *lc;

	if (query->resultRelation <= 0)
		return NIL;
	switch (query->commandType)
	{
		case CMD_UPDATE:
			return list_make1(query->targetList);
		case CMD_INSERT:
			if (query->onConflict != NULL &&
				query->onConflict->action == ONCONFLICT_UPDATE)
				return list_make1(query->onConflict->onConflictSet);
			return NIL;
		case CMD_MERGE:
			foreach(lc, query->mergeActionList)
			{
				MergeAction *action = lfirst(lc);

				if (action->commandType == CMD_UPDATE)
					lists = lappend(lists, action->targetList);
			}
			return lists;
		default:
			return NIL;
	}
}

static void
guard_row_changes(Query *query, List *lists, const TenancyCatalog *cat)
{
	RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);
	GuardColumns g;
	ListCell   *lc;

	if (rte->rtekind != RTE_RELATION || !guard_columns(rte->relid, cat, &g))
		return;
	foreach(lc, lists)
		guard_target_list(lfirst(lc), query->resultRelation, &g, cat);
}

PG_FUNCTION_INFO_V1(tenancy_guard_owner);
PG_FUNCTION_INFO_V1(tenancy_guard_tenant);

/* The table and permission arguments: never NULL in the hook's calls. */
static void
guard_args_given(FunctionCallInfo fcinfo, int tbl, int perm)
{
	if (PG_ARGISNULL(tbl) || PG_ARGISNULL(perm))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the table and the permission must not be null")));
}

/* Whether two uuid arguments differ, NULL counting as a value. */
static bool
uuid_args_differ(FunctionCallInfo fcinfo, int a, int b)
{
	if (PG_ARGISNULL(a) || PG_ARGISNULL(b))
		return PG_ARGISNULL(a) != PG_ARGISNULL(b);
	return memcmp(PG_GETARG_UUID_P(a), PG_GETARG_UUID_P(b), UUID_LEN) != 0;
}

/*
 * Whether the context's user holds the permission (text argument perm) on
 * the tenant (uuid argument tenant; NULL: nowhere).  Sets *permission.
 */
static bool
guard_allows(const TenancyContext *ctx, FunctionCallInfo fcinfo, int tenant,
			 int perm, char **permission)
{
	PermEntry	e;

	*permission = text_to_cstring(PG_GETARG_TEXT_PP(perm));
	parse_checked(*permission, &e);
	return !PG_ARGISNULL(tenant) &&
		permset_allows(tenancy_resolve(&ctx->user, PG_GETARG_UUID_P(tenant)), &e);
}

static char *
guard_table_name(FunctionCallInfo fcinfo, int tbl)
{
	return DatumGetCString(DirectFunctionCall1(regclassout, PG_GETARG_DATUM(tbl)));
}

/*
 * tenancy._guard_owner(new_owner, old_owner, old_tenant, tbl, permission):
 * new_owner, when the context may give the row that owner: its owner may,
 * and whoever holds the permission (the tenant-wide update) on its tenant.
 */
Datum
tenancy_guard_owner(PG_FUNCTION_ARGS)
{
	TenancyContext ctx;
	char	   *permission;

	guard_args_given(fcinfo, 3, 4);
	if (tenancy_context_get(&ctx) && uuid_args_differ(fcinfo, 0, 1) &&
		(PG_ARGISNULL(1) || memcmp(PG_GETARG_UUID_P(1), &ctx.user, UUID_LEN) != 0) &&
		!guard_allows(&ctx, fcinfo, 2, 4, &permission))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change the owner of a row of %s",
						guard_table_name(fcinfo, 3)),
				 errdetail("Taking a row from its owner needs \"%s\" on its tenant.",
						   permission)));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/*
 * tenancy._guard_tenant(new_tenant, old_tenant, tbl, permission):
 * new_tenant, when the context may move the row there (holds the
 * permission, the create, there).
 */
Datum
tenancy_guard_tenant(PG_FUNCTION_ARGS)
{
	TenancyContext ctx;
	char	   *permission;

	guard_args_given(fcinfo, 2, 3);
	if (tenancy_context_get(&ctx) && uuid_args_differ(fcinfo, 0, 1) &&
		!guard_allows(&ctx, fcinfo, 0, 3, &permission))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to move a row of %s into another tenant",
						guard_table_name(fcinfo, 2)),
				 errdetail("Moving a row into a tenant needs \"%s\" there.",
						   permission)));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

/* Every query of the tree that writes rows; the catalog once, if at all. */
static bool
check_options_walker(Node *node, void *context)
{
	HashWalk   *walk = context;

	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		List	   *updates = update_target_lists(query);

		if (query->withCheckOptions != NIL || updates != NIL)
		{
			if (!walk->looked)
			{
				walk->cat = tenancy_catalog_if_installed();
				walk->looked = true;
			}
			if (walk->cat != NULL)
			{
				rewrite_check_options(query, walk->cat);
				if (updates != NIL)
					guard_row_changes(query, updates, walk->cat);
			}
		}
		return query_tree_walker(query, check_options_walker, context, 0);
	}
	return expression_tree_walker(node, check_options_walker, context);
}

static bool
prune_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && rte->securityQuals != NIL)
		{
			prune_implied_quals(rte, context);
			rewrite_resource_quals(rte, context);
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, prune_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, prune_walker, context);
}

/*
 * "col = ANY (tenancy.visible_tenants(perm))" (or writable_tenants) as a
 * hashed search.  PostgreSQL hashes the array of "= ANY" only when it is a
 * constant (convert_saop_to_hashed_saop); the policy's array is the
 * function's answer, the same for the whole statement, so where the
 * condition is checked row by row (a filter: newest rows across thousands
 * of tenants by another index, say) each row searched it from the start.
 * The executor builds the hash table from the first row's array and probes
 * it after: exactly what it does for a hand-written list of ids.  The
 * function is still called for each row, and answers from its memo.
 */
/*
 * "col = ANY (tenancy.visible_tenants(perm))" or writable_tenants: the
 * function call, or NULL.
 */
static FuncExpr *
tenant_list_call(Node *node, const TenancyCatalog *cat)
{
	ScalarArrayOpExpr *saop;
	FuncExpr   *fn;

	if (!IsA(node, ScalarArrayOpExpr) || !((ScalarArrayOpExpr *) node)->useOr)
		return NULL;
	saop = (ScalarArrayOpExpr *) node;
	fn = lsecond(saop->args);
	if (!IsA(fn, FuncExpr) || list_length(fn->args) != 1 ||
		(fn->funcid != cat->visible_tenants_fn && fn->funcid != cat->writable_tenants_fn))
		return NULL;
	return fn;
}

static bool
hash_walker(Node *node, void *context)
{
	HashWalk   *walk = context;

	if (node == NULL)
		return false;
	if (IsA(node, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) node)->useOr &&
		IsA(lsecond(((ScalarArrayOpExpr *) node)->args), FuncExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) node;
		Oid			lefthash;
		Oid			righthash;

		/* the catalog once, and only for a query that may need it */
		if (!walk->looked)
		{
			walk->cat = tenancy_catalog_if_installed();
			walk->looked = true;
		}
		if (walk->cat != NULL && !OidIsValid(saop->hashfuncid) &&
			tenant_list_call(node, walk->cat) != NULL &&
			get_op_hash_functions(saop->opno, &lefthash, &righthash) &&
			lefthash == righthash)
			saop->hashfuncid = lefthash;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, hash_walker, context, 0);
	return expression_tree_walker(node, hash_walker, context);
}

/*
 * In a finished plan, "col = ANY (visible_tenants(perm))" (or
 * writable_tenants) where it is checked row by row, in a node's filter,
 * becomes tenancy._tenant_in(col, perm, for_write): the same answer from a
 * hash table kept across statements.  Index conditions keep the array
 * (read once per scan), and so do rechecks.
 */
typedef struct TenantInWalk
{
	const TenancyCatalog *cat;
	bool		only_long;		/* only for lists longer than TENANT_LIST_LONG */
} TenantInWalk;

/*
 * A tenant list this long is not given to the planner as an array: its
 * estimate of "= ANY (array)" weighs every element against the column's
 * statistics, 0.3 s of planning for 100,000 tenants.
 */
#define TENANT_LIST_LONG 5000

/* Is the context's list for this permission longer than TENANT_LIST_LONG? */
static bool
tenant_list_is_long(Const *perm)
{
	TenancyContext ctx;
	PermEntry	e;
	char	   *permission;

	if (!IsA(perm, Const) || perm->constisnull || !tenancy_context_peek(&ctx) ||
		ctx.has_tenant)
		return false;
	permission = TextDatumGetCString(perm->constvalue);
	parse_checked(permission, &e);
	return tenant_set_get(&ctx, permission, &e, CurrentMemoryContext)->n > TENANT_LIST_LONG;
}

static Node *
tenant_in_mutator(Node *node, void *context)
{
	TenantInWalk *walk = context;
	const TenancyCatalog *cat = walk->cat;

	if (node == NULL)
		return NULL;
	if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) node;
		Node	   *lhs = linitial(saop->args);
		FuncExpr   *fn = tenant_list_call(node, cat);

		if (fn != NULL && exprType(lhs) == UUIDOID &&
			get_opcode(saop->opno) == F_UUID_EQ &&
			(!walk->only_long || tenant_list_is_long(linitial(fn->args))))
			return (Node *) makeFuncExpr(cat->tenant_in_fn, BOOLOID,
										 list_make3(tenant_in_mutator(lhs, context),
													copyObject(linitial(fn->args)),
													makeBoolConst(fn->funcid == cat->writable_tenants_fn,
																  false)),
										 InvalidOid, DEFAULT_COLLATION_OID,
										 COERCE_EXPLICIT_CALL);
	}
	return expression_tree_mutator(node, tenant_in_mutator, context);
}

/*
 * Before planning, a policy's condition over a long tenant list becomes the
 * call as well, whose support function (tenancy._tenant_in_support)
 * estimates it from the column's most common values, and which no index
 * scan uses: such a list holds most of the table's tenants.
 */
static bool
long_list_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->securityQuals != NIL)
			rte->securityQuals = (List *) tenant_in_mutator((Node *) rte->securityQuals,
															context);
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, long_list_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, long_list_walker, context);
}

/*
 * A resource-level policy left in a node's filter (a plan that reads the
 * owner's and the shared rows through a BitmapOr, say, whose index
 * conditions are elsewhere) is checked row by row: as resource_allows(),
 * one call a row instead of three arms of calls and array searches.  Only
 * whole conditions of the filter, where false and NULL both drop the row.
 */
static void
resource_filters(List *qual, const TenancyCatalog *cat)
{
	ListCell   *lc;

	foreach(lc, qual)
	{
		FuncExpr   *call;
		Var		   *col;
		Const	   *perm;

		if ((call = resource_allows_call(lfirst(lc), cat, &col, &perm)) != NULL)
			lfirst(lc) = call;
	}
}

static void
tenant_in_plan(Plan *plan, const TenancyCatalog *cat)
{
	ListCell   *lc;
	TenantInWalk walk = {cat, false};

	if (plan == NULL)
		return;
	/* Citus's plan sends the query's text, not these conditions */
	if (IsA(plan, CustomScan))
		return;
	resource_filters(plan->qual, cat);
	plan->qual = (List *) tenant_in_mutator((Node *) plan->qual, (void *) &walk);
	tenant_in_plan(plan->lefttree, cat);
	tenant_in_plan(plan->righttree, cat);
	if (IsA(plan, Append))
		foreach(lc, ((Append *) plan)->appendplans)
			tenant_in_plan(lfirst(lc), cat);
	else if (IsA(plan, MergeAppend))
		foreach(lc, ((MergeAppend *) plan)->mergeplans)
			tenant_in_plan(lfirst(lc), cat);
	else if (IsA(plan, SubqueryScan))
		tenant_in_plan(((SubqueryScan *) plan)->subplan, cat);
}

static PlannedStmt *
tenancy_planner(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	PlannedStmt *result;
	HashWalk	walk = {false, NULL};

	TenancyContext ctx;
	const TenancyCatalog *cat;

	if (!creating_extension)
	{
		(void) check_options_walker((Node *) parse, (void *) &walk);
		(void) query_tree_walker(parse, hash_walker, (void *) &walk, 0);
	}
	if (walk.cat != NULL)
	{
		TenantInWalk lw = {walk.cat, true};

		(void) query_tree_walker(parse, long_list_walker, (void *) &lw,
								 QTW_EXAMINE_RTES_BEFORE);
	}

	/* Only a plan made while a tenant is set can carry the hook's condition. */
	if (tenancy_context_peek(&ctx) &&
		(cat = tenancy_catalog_if_installed()) != NULL)
	{
		if (ctx.has_tenant)
			(void) query_tree_walker(parse, prune_walker, (void *) cat,
									 QTW_EXAMINE_RTES_BEFORE);
		/*
		 * With Citus, a copy of the restrictive policy's constant condition
		 * ("col = <the tenant>", or "col = ANY (<the user's tenants>)") in
		 * WHERE, where Citus's router planner and shard pruning look for
		 * the distribution column (they ignore security quals).  The same
		 * condition ANDed again: no row more or less, and uuid_eq is
		 * leakproof.
		 */
		if (parse->commandType == CMD_SELECT && list_length(parse->rtable) == 1 &&
			parse->jointree != NULL &&
			tenancy_citus_loaded() &&
			!tenancy_citus_is_worker())
		{
			RangeTblEntry *rte = linitial(parse->rtable);
			ListCell   *lc;

			if (rte->rtekind == RTE_RELATION)
				foreach(lc, rte->securityQuals)
				{
					Node	   *q = lfirst(lc);
					List	   *args = NIL;
					Oid			opno = InvalidOid;

					if (IsA(q, OpExpr))
					{
						args = ((OpExpr *) q)->args;
						opno = ((OpExpr *) q)->opno;
					}
					else if (IsA(q, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) q)->useOr)
					{
						args = ((ScalarArrayOpExpr *) q)->args;
						opno = ((ScalarArrayOpExpr *) q)->opno;
					}
					if (OidIsValid(opno) && get_opcode(opno) == F_UUID_EQ &&
						list_length(args) == 2 &&
						IsA(linitial(args), Var) &&
						IsA(lsecond(args), Const) &&
						!((Const *) lsecond(args))->constisnull)
					{
						parse->jointree->quals =
							make_and_qual(parse->jointree->quals, copyObject(q));
						break;
					}
				}
		}
	}
	if (prev_planner_hook)
		result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		result = standard_planner(parse, query_string, cursorOptions, boundParams);
	if (walk.cat != NULL)
	{
		ListCell   *lc;

		tenant_in_plan(result->planTree, walk.cat);
		foreach(lc, result->subplans)
			tenant_in_plan(lfirst(lc), walk.cat);
	}
	return result;
}

void
tenancy_policy_init(void)
{
	prev_restrictive_hook = row_security_policy_hook_restrictive;
	row_security_policy_hook_restrictive = tenancy_restrictive_hook;
	prev_planner_hook = planner_hook;
	planner_hook = tenancy_planner;
	/* Plans this session made before the hook was there are made again. */
	ResetPlanCache();
	RegisterXactCallback(policy_xact_callback, NULL);
}
