/*
 * fold.c
 *		Taking the per-row resource check out of a scan when the context
 *		reads the whole tenant anyway.
 *
 * A table protected with owner and id columns admits a row of the current
 * tenant when the context holds the permission tenant-wide, or owns the row,
 * or has it shared.  In a plan made while the context held the permission,
 * the planner hook (policy.c) writes the three as one call per row,
 *
 *		tenancy.resource_allows(tenant, owner, id, 'doc:read', false)
 *
 * next to the restrictive "tenant = tenancy.current_tenant_id()".  While the
 * permission holds, every row that passes the restrictive condition passes
 * the call: its answer does not depend on the row.  PostgreSQL evaluates
 * such a condition once per scan only when it stands alone (a one-time
 * filter, which cannot express "or owns it, or has it shared"), and the plan
 * may be cached and run later under a context without the permission; so
 * the call stays in the plan and costs its 30 ns on every row, 15% of an
 * aggregate over a tenant.
 *
 * The decision is therefore taken when the executor starts, the way a
 * STABLE function's value may be taken once per statement: where a scan
 * carries the call and the restrictive condition on the same column, and
 * the context holds the call's permission on its tenant, the scan's filter
 * is rebuilt without the call.  The plan is not changed; the next execution
 * decides again for its own context.
 *
 * The decision stands for as long as the context does, so the context may
 * not change while such a scan is open: SET and set_config() (and so
 * set_context()) are refused then, whether from a statement run while a
 * cursor is open or from a function the query itself calls.  A scan's filter
 * cannot be swapped back under a running scan loop, which keeps the filter
 * it started a call with.  Where the context changes without being checked
 * (RESET ALL, a rollback to a savepoint, the end of a function's SET
 * clause), every scan gets its full filter back as well.
 */
#include "postgres.h"

#include "executor/executor.h"
#include "lib/ilist.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "citus.h"
#include "context.h"
#include "policy.h"

/* A scan running without its resource check, and the filter it had. */
typedef struct FoldedScan
{
	dlist_node	node;
	EState	   *estate;
	PlanState  *ps;
	ExprState  *full_qual;
} FoldedScan;

/* Every such scan whose executor state still exists, in this backend. */
static dlist_head folded_scans = DLIST_STATIC_INIT(folded_scans);

static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorEnd_hook_type prev_executor_end = NULL;

/*
 * Rebuilding a scan's filter costs about what 25 calls of the check do
 * (measured on a point lookup), so a scan that few rows reach keeps its
 * call.  The planner's estimate of a scan's rows is taken after its filter,
 * where it counts the call itself as passing a third of them (PostgreSQL's
 * guess for a boolean function): 8 stands for about 25.
 */
#define FOLD_MIN_ROWS	8

typedef struct FoldWalk
{
	const TenancyCatalog *cat;
	EState	   *estate;
	bool		registered;		/* the estate's forget callback is set */
} FoldWalk;

/* The executor state is going away: forget its scans. */
static void
forget_estate(void *arg)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &folded_scans)
	{
		FoldedScan *f = dlist_container(FoldedScan, node, it.cur);

		if (f->estate == (EState *) arg)
			dlist_delete(it.cur);
	}
}

/* Whether a scan that relies on the current context is open. */
bool
tenancy_fold_active(void)
{
	return !dlist_is_empty(&folded_scans);
}

/*
 * The context changed all the same (RESET ALL, a rollback, a function's SET
 * clause ending): every scan gets its full filter back.
 */
void
tenancy_fold_context_changed(void)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &folded_scans)
	{
		FoldedScan *f = dlist_container(FoldedScan, node, it.cur);

		f->ps->qual = f->full_qual;
		dlist_delete(it.cur);
	}
}

static inline bool
is_scan_var(Node *node, Index scanrelid)
{
	return IsA(node, Var) && ((Var *) node)->varno == (int) scanrelid &&
		((Var *) node)->varlevelsup == 0;
}

static bool
has_current_tenant_clause(List *quals, Index scanrelid, AttrNumber attno,
						  Oid current_tenant_fn)
{
	ListCell   *lc;

	foreach(lc, quals)
	{
		Var		   *col = tenancy_current_tenant_clause(lfirst(lc),
														current_tenant_fn);

		if (col != NULL && is_scan_var((Node *) col, scanrelid) &&
			col->varattno == attno)
			return true;
	}
	return false;
}

/*
 * A clause "tenancy.resource_allows(col, ...)" that this scan may go
 * without: the scan also requires "col = current_tenant_id()" (in the
 * filter or the index condition), and the context holds the permission on
 * the current tenant.
 */
static bool
resource_check_foldable(Node *clause, Index scanrelid, List *filter,
						List *index_quals, const TenancyCatalog *cat)
{
	FuncExpr   *call;
	Var		   *tenant_col;
	Const	   *perm;
	pg_uuid_t	tenant;

	if (!IsA(clause, FuncExpr))
		return false;
	call = (FuncExpr *) clause;
	if (call->funcid != cat->resource_allows_fn || list_length(call->args) != 6 ||
		!is_scan_var(linitial(call->args), scanrelid) ||
		!IsA(lfourth(call->args), Const))
		return false;
	tenant_col = linitial(call->args);
	perm = lfourth(call->args);
	if (perm->constisnull)
		return false;
	if (!has_current_tenant_clause(filter, scanrelid, tenant_col->varattno,
								   cat->current_tenant_fn) &&
		!has_current_tenant_clause(index_quals, scanrelid, tenant_col->varattno,
								   cat->current_tenant_fn))
		return false;
	return tenancy_context_tenant_answer(TextDatumGetCString(perm->constvalue),
										 &tenant);
}

static void
fold_scan(PlanState *ps, Index scanrelid, List *index_quals, FoldWalk *walk)
{
	List	   *filter = ps->plan->qual;
	List	   *kept = NIL;
	ListCell   *lc;
	MemoryContext old;
	FoldedScan *f;

	/* A SubPlan in the filter would be initialized a second time. */
	if (ps->plan->plan_rows < FOLD_MIN_ROWS || contain_subplans((Node *) filter))
		return;
	foreach(lc, filter)
	{
		if (!resource_check_foldable(lfirst(lc), scanrelid, filter,
									 index_quals, walk->cat))
			kept = lappend(kept, lfirst(lc));
	}
	if (list_length(kept) == list_length(filter))
		return;

	old = MemoryContextSwitchTo(walk->estate->es_query_cxt);
	if (!walk->registered)
	{
		MemoryContextCallback *cb = palloc(sizeof(MemoryContextCallback));

		cb->func = forget_estate;
		cb->arg = walk->estate;
		MemoryContextRegisterResetCallback(walk->estate->es_query_cxt, cb);
		walk->registered = true;
	}
	f = palloc(sizeof(FoldedScan));
	f->estate = walk->estate;
	f->ps = ps;
	f->full_qual = ps->qual;
	ps->qual = ExecInitQual(kept, ps);
	dlist_push_head(&folded_scans, &f->node);
	MemoryContextSwitchTo(old);
}

static bool
fold_walker(PlanState *ps, void *arg)
{
	Plan	   *plan = ps->plan;

	if (ps->qual != NULL)
	{
		switch (nodeTag(ps))
		{
			case T_SeqScanState:
				fold_scan(ps, ((Scan *) plan)->scanrelid, NIL, arg);
				break;
			case T_IndexScanState:
				fold_scan(ps, ((Scan *) plan)->scanrelid,
						  ((IndexScan *) plan)->indexqualorig, arg);
				break;
			case T_BitmapHeapScanState:
				fold_scan(ps, ((Scan *) plan)->scanrelid,
						  ((BitmapHeapScan *) plan)->bitmapqualorig, arg);
				break;
			default:
				break;
		}
	}
	return planstate_tree_walker(ps, fold_walker, arg);
}

static void
tenancy_executor_start(QueryDesc *queryDesc, int eflags)
{
	TenancyContext ctx;
	FoldWalk	walk;

	/* Before Citus's executor opens connections to the workers. */
	tenancy_citus_statement_start();
	/* Before the executor enters parallel mode, where no setting changes. */
	if (queryDesc->plannedstmt->parallelModeNeeded)
		tenancy_context_parallel_start(queryDesc);
	if (prev_executor_start)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	/* Only a context with a tenant has plans with the call to take out. */
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) || queryDesc->planstate == NULL ||
		!tenancy_context_peek(&ctx) || !ctx.has_tenant ||
		(walk.cat = tenancy_catalog_if_installed()) == NULL)
		return;
	walk.estate = queryDesc->estate;
	walk.registered = false;
	(void) fold_walker(queryDesc->planstate, &walk);
}

/* A statement has run: it may have set a gateway's claims (context.c). */
static void
tenancy_executor_end(QueryDesc *queryDesc)
{
	if (prev_executor_end)
		prev_executor_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	/* the tenant lists the workers read, if it ran in parallel */
	tenancy_policy_query_done(queryDesc);
	tenancy_context_statement_done();
}

void
tenancy_fold_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = tenancy_executor_start;
	prev_executor_end = ExecutorEnd_hook;
	ExecutorEnd_hook = tenancy_executor_end;
}
