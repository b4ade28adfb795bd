/*
 * guard.c
 *		What row-level security does not cover: utility statements that let
 *		a role subject to the policies reach other tenants anyway.
 *
 * Row-level security filters the rows a query reads and writes.  Some
 * statements act on the table as a whole, and PostgreSQL checks only a
 * table privilege for them:
 *
 *	- LOCK TABLE in SHARE mode or stronger blocks every tenant's writes
 *	  (ACCESS EXCLUSIVE every read too), with nothing more than UPDATE or
 *	  DELETE privilege.  Only the table's owner may take such a lock on a
 *	  protected table.
 *	- A cursor WITH HOLD outlives its transaction, and with it the context
 *	  its rows were read under: the next client of a pooled connection can
 *	  FETCH them.  A holdable cursor over a protected table (or through a
 *	  view) is refused, none may be declared while a context is in force,
 *	  and a transaction that sets a context after declaring one cannot
 *	  commit (its rows may come from a protected table through a function,
 *	  whose own SET clause may set the context while they are read).
 *	- LOCK TABLE on a view locks the tables behind it: those are checked
 *	  too.
 *	- With signed contexts, SET tenancy.context = '<token>' reaches the
 *	  hooks below this one (pg_stat_statements) with its text hidden.
 *	- GRANT can give back TRUNCATE, TRIGGER or REFERENCES, which protect()
 *	  takes away (see tenancy._revoke_unsafe_privileges): they are taken
 *	  away again after every GRANT on tables.
 *
 * These checks live in a ProcessUtility hook, so they hold in a backend
 * once the library is loaded there; with pg_tenancy in
 * shared_preload_libraries, from a connection's first statement.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/nodeFuncs.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lockdefs.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "citus.h"
#include "context.h"
#include "guard.h"

static ProcessUtility_hook_type prev_utility = NULL;

/*
 * The holdable cursors declared in the current transaction, by name (in
 * TopTransactionContext), and the count of context assignments when the
 * first was declared.
 */
static List *holdable_declared = NIL;
static uint64 assignments_at_declare = 0;

/*
 * Whether a relation is protected (tenancy.protected_tables names it, as a
 * table of its own or as a partition of a protected table).  False when the
 * extension is not installed in this database.
 */
static bool
is_protected(Oid relid)
{
	Oid			nsp = get_namespace_oid("tenancy", true);
	Oid			tableid;
	Oid			indexid;
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	if (!OidIsValid(nsp))
		return false;
	tableid = get_relname_relid("protected_tables", nsp);
	indexid = get_relname_relid("protected_tables_pkey", nsp);
	if (!OidIsValid(tableid) || !OidIsValid(indexid))
		return false;

	rel = table_open(tableid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, indexid, true, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* A relation's owner, or InvalidOid when it is gone. */
static Oid
rel_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* Superusers, roles that bypass row-level security, and the owner. */
static bool
may_block_tenants(Oid relid)
{
	Oid			user = GetUserId();
	Oid			owner = rel_owner(relid);

	/* A relation that is gone: LOCK TABLE says so itself. */
	return !OidIsValid(owner) || superuser_arg(user) ||
		has_bypassrls_privilege(user) || has_privs_of_role(user, owner);
}

static void refuse_lock(Oid relid, List *views);

/*
 * LOCK TABLE on a view locks the tables behind it too, with the view
 * owner's privileges (LockViewRecurse): look behind views, as it does.
 * context is the list of views being expanded (a view's query names the
 * view itself, and views may refer to each other).
 */
static bool
lock_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION &&
				!list_member_oid((List *) context, rte->relid))
				refuse_lock(rte->relid, (List *) context);
		}
		return query_tree_walker(query, lock_walker, context, 0);
	}
	return expression_tree_walker(node, lock_walker, context);
}

static void
refuse_lock(Oid relid, List *views)
{
	check_stack_depth();
	if (get_rel_relkind(relid) == RELKIND_VIEW)
	{
		Relation	view = relation_open(relid, AccessShareLock);

		lock_walker((Node *) get_view_query(view), lappend_oid(list_copy(views), relid));
		relation_close(view, AccessShareLock);
		return;
	}
	if (is_protected(relid) && !may_block_tenants(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to lock protected table \"%s\" in this mode",
						get_rel_name(relid)),
				 errdetail("A lock in SHARE mode or stronger on a protected table blocks every tenant; only its owner may take one."),
				 errhint("Lock rows with SELECT ... FOR UPDATE instead.")));
}

static void
check_lock(LockStmt *stmt)
{
	ListCell   *lc;

	/*
	 * ROW EXCLUSIVE and weaker are what tenants' own statements take; SHARE
	 * UPDATE EXCLUSIVE blocks no tenant's reads or writes (only VACUUM,
	 * ANALYZE and DDL).
	 */
	if (stmt->mode <= ShareUpdateExclusiveLock)
		return;
	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (OidIsValid(relid))
			refuse_lock(relid, NIL);
	}
}

static void
check_holdable(const char *name)
{
	Portal		portal = GetPortalByName(name);
	ListCell   *lc;
	TenancyContext ctx;
	MemoryContext old;

	if (!PortalIsValid(portal))
		return;
	if (tenancy_context_get(&ctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cursors WITH HOLD cannot be declared while a tenancy context is in force"),
				 errdetail("A holdable cursor's rows would outlive the context they were read under."),
				 errhint("Declare the cursor WITHOUT HOLD and fetch its rows in the transaction that sets the context.")));
	if (holdable_declared == NIL)
		assignments_at_declare = tenancy_context_assignments();
	old = MemoryContextSwitchTo(TopTransactionContext);
	holdable_declared = lappend(holdable_declared, pstrdup(name));
	MemoryContextSwitchTo(old);
	foreach(lc, portal->stmts)
	{
		PlannedStmt *stmt = lfirst_node(PlannedStmt, lc);
		ListCell   *rl;

		foreach(rl, stmt->relationOids)
		{
			if (is_protected(lfirst_oid(rl)))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cursors WITH HOLD over protected tables are not supported"),
						 errdetail("Relation \"%s\" is protected, and a holdable cursor's rows would outlive the context they were read under.",
								   get_rel_name(lfirst_oid(rl))),
						 errhint("Declare the cursor WITHOUT HOLD and fetch its rows in the transaction that sets the context.")));
		}
	}
}

/*
 * After a GRANT on tables that may have given TRUNCATE, TRIGGER or
 * REFERENCES: take them back on the protected tables that have them.  (A
 * restore runs a GRANT per table; it must not revisit every protected table
 * each time.)
 */
static void
after_grant(GrantStmt *stmt)
{
	Oid			nsp;
	Oid			tables;
	Oid			argtype = REGCLASSOID;
	Oid			save_user;
	int			save_sec;

	if (!stmt->is_grant || stmt->objtype != OBJECT_TABLE || creating_extension)
		return;
	/* Only ALL (privileges NIL), TRUNCATE, TRIGGER and REFERENCES matter. */
	if (stmt->privileges != NIL)
	{
		ListCell   *lc;
		bool		unsafe = false;

		foreach(lc, stmt->privileges)
		{
			AccessPriv *priv = lfirst_node(AccessPriv, lc);

			if (priv->priv_name == NULL ||
				strcmp(priv->priv_name, "truncate") == 0 ||
				strcmp(priv->priv_name, "trigger") == 0 ||
				strcmp(priv->priv_name, "references") == 0)
				unsafe = true;
		}
		if (!unsafe)
			return;
	}
	nsp = get_namespace_oid("tenancy", true);
	tables = OidIsValid(nsp) ? get_relname_relid("protected_tables", nsp) : InvalidOid;
	if (!OidIsValid(tables) ||
		!OidIsValid(LookupFuncName(list_make2(makeString("tenancy"),
											  makeString("_revoke_unsafe_privileges")),
								   1, &argtype, true)))
		return;

	/*
	 * As the extension's owner, who alone may run the helper (it revokes
	 * with the rights of each table's owner).  An error restores the
	 * caller's identity with the transaction's abort.
	 */
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(rel_owner(tables),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
	if (SPI_execute("SELECT tenancy._revoke_unsafe_privileges(p.relid)"
					" FROM tenancy.protected_tables p"
					" JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.relid"
					" WHERE EXISTS (SELECT FROM pg_catalog.aclexplode(c.relacl) a"
					"  WHERE a.privilege_type OPERATOR(pg_catalog.=) ANY"
					"   ('{TRUNCATE,TRIGGER,REFERENCES}'::pg_catalog.text[])"
					"  AND a.grantee OPERATOR(pg_catalog.<>) c.relowner)"
					" OR EXISTS (SELECT FROM pg_catalog.pg_attribute t,"
					"  pg_catalog.aclexplode(t.attacl) a"
					"  WHERE t.attrelid OPERATOR(pg_catalog.=) c.oid"
					"  AND a.privilege_type OPERATOR(pg_catalog.=) 'REFERENCES'"
					"  AND a.grantee OPERATOR(pg_catalog.<>) c.relowner)",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not take back unsafe privileges on protected tables");
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * With signed contexts, "SET [LOCAL] tenancy.context = '<token>'" carries a
 * token in its text, and the hooks below ours (pg_stat_statements keeps the
 * text of utility statements as it is) must not see it: they get a copy
 * with the statement's text replaced, at the same length.
 */
static const char *
hide_context_token(PlannedStmt *pstmt, const char *queryString)
{
	VariableSetStmt *stmt = (VariableSetStmt *) pstmt->utilityStmt;
	static const char hidden[] = "SET tenancy.context = <hidden by pg_tenancy>";
	char	   *copy;
	int			start;
	int			len;
	int			i;

	if (stmt->kind != VAR_SET_VALUE || stmt->name == NULL ||
		strcmp(stmt->name, "tenancy.context") != 0 ||
		!tenancy_context_signed() || queryString == NULL)
		return queryString;

	copy = pstrdup(queryString);
	start = Max(pstmt->stmt_location, 0);
	len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(copy + start);
	for (i = 0; i < len; i++)
		copy[start + i] = i < (int) sizeof(hidden) - 1 ? hidden[i] : ' ';
	return copy;
}

/*
 * BEGIN in a transaction block that an earlier message opened and that holds
 * a context: the connection went back to its pool (or to the next request)
 * in the middle of a transaction, and whoever holds it now would work in
 * another request's context.  PostgreSQL only warns; make it an error, which
 * also ends that transaction and its context.  (A BEGIN in the same
 * multi-statement query that set the context turns an implicit block into
 * an explicit one, and is left alone.)
 */
static void
check_begin(TransactionStmt *stmt)
{
	TenancyContext ctx;

	if ((stmt->kind != TRANS_STMT_BEGIN && stmt->kind != TRANS_STMT_START) ||
		!IsTransactionBlock() ||
		GetCurrentTransactionStartTimestamp() == GetCurrentStatementStartTimestamp() ||
		!tenancy_context_peek(&ctx))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
			 errmsg("BEGIN inside a transaction that holds a tenancy context"),
			 errdetail("The connection was left in a transaction that set a context, most likely by a request that returned it to a pool without COMMIT or ROLLBACK (or a client nested its transactions); that transaction is now aborted."),
			 errhint("End every transaction before releasing its connection.")));
}

static void
guard_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest,
			  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, LockStmt))
		check_lock((LockStmt *) parsetree);
	else if (IsA(parsetree, TransactionStmt))
		check_begin((TransactionStmt *) parsetree);
	else if (IsA(parsetree, VariableSetStmt))
	{
		VariableSetStmt *set = (VariableSetStmt *) parsetree;

		/*
		 * With Citus, "SET LOCAL tenancy.context = ..." is carried out as
		 * tenancy.set_context() does it (context.c): as a statement of its
		 * own, with citus.propagate_set_commands on for it, whose text Citus
		 * forwards to the workers, token included.  Not passed down as it
		 * came: Citus would forward the client's whole query string (every
		 * statement in it), or the hidden text of a token, and only with
		 * propagation switched on.
		 */
		if (tenancy_context_forwarding())
			;
		else if (set->kind == VAR_SET_VALUE && set->is_local &&
				 set->name != NULL && strcmp(set->name, "tenancy.context") == 0 &&
				 tenancy_citus_loaded())
		{
			tenancy_context_forward(ExtractSetVariableArgs(set));
			return;
		}
		else
			queryString = hide_context_token(pstmt, queryString);
	}

	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params,
					 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (IsA(parsetree, DeclareCursorStmt) &&
		(((DeclareCursorStmt *) parsetree)->options & CURSOR_OPT_HOLD))
		check_holdable(((DeclareCursorStmt *) parsetree)->portalname);
	else if (IsA(parsetree, GrantStmt))
		after_grant((GrantStmt *) parsetree);
	else if (IsA(parsetree, VariableSetStmt))
		tenancy_context_statement_done();
}

static void
guard_xact_callback(XactEvent event, void *arg)
{
	TenancyContext ctx;
	ListCell   *lc;
	bool		dropped;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (holdable_declared == NIL ||
				(!tenancy_context_peek(&ctx) &&
				 tenancy_context_assignments() == assignments_at_declare))
				break;

			/*
			 * A context was set after the cursors were declared (perhaps by a
			 * function's SET clause while their rows were read), or is in
			 * force now.  By now the server has read their rows and made them
			 * outlive the transaction, even should it fail: drop them first.
			 * Cursors already closed are no concern.
			 */
			dropped = false;
			foreach(lc, holdable_declared)
			{
				Portal		portal = GetPortalByName((char *) lfirst(lc));

				if (PortalIsValid(portal) &&
					(portal->cursorOptions & CURSOR_OPT_HOLD) &&
					portal->status != PORTAL_ACTIVE)
				{
					PortalDrop(portal, false);
					dropped = true;
				}
			}
			holdable_declared = NIL;
			if (dropped)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
						 errmsg("cannot commit a transaction that set a tenancy context after declaring a cursor WITH HOLD"),
						 errdetail("The cursor's rows would outlive the context they were read under; they were dropped."),
						 errhint("Declare holdable cursors in transactions that set no context.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			holdable_declared = NIL;
			break;
		default:
			break;
	}
}

void
tenancy_guard_init(void)
{
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = guard_utility;
	RegisterXactCallback(guard_xact_callback, NULL);
}
