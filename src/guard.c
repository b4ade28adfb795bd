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
 *	  FETCH them.  A holdable cursor over a protected table is refused, and
 *	  a transaction that declared one cannot commit while a context is in
 *	  force (its rows may come from a protected table through a function).
 *	- GRANT can give back TRUNCATE, TRIGGER or REFERENCES, which protect()
 *	  takes away (see tenancy._revoke_unsafe_privileges): they are taken
 *	  away again after every GRANT on tables.
 *
 * These checks live in a ProcessUtility hook, so they hold in a backend
 * once the library is loaded there; with pg_tenancy in
 * shared_preload_libraries, from a connection's first statement.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "context.h"
#include "guard.h"

static ProcessUtility_hook_type prev_utility = NULL;

/*
 * The holdable cursors declared in the current transaction, by name (in
 * TopTransactionContext).
 */
static List *holdable_declared = NIL;

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

static void
check_lock(LockStmt *stmt)
{
	ListCell   *lc;

	/* ROW EXCLUSIVE and weaker are what tenants' own statements take. */
	if (stmt->mode <= ShareUpdateExclusiveLock)
		return;
	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (OidIsValid(relid) && is_protected(relid) &&
			!may_block_tenants(relid))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to lock protected table \"%s\" in this mode",
							get_rel_name(relid)),
					 errdetail("A lock in SHARE mode or stronger on a protected table blocks every tenant; only its owner may take one."),
					 errhint("Lock rows with SELECT ... FOR UPDATE instead.")));
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

static void
guard_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			  ProcessUtilityContext context, ParamListInfo params,
			  QueryEnvironment *queryEnv, DestReceiver *dest,
			  QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, LockStmt))
		check_lock((LockStmt *) parsetree);

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
}

static void
guard_xact_callback(XactEvent event, void *arg)
{
	TenancyContext ctx;
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (holdable_declared == NIL || !tenancy_context_get(&ctx))
				break;

			/*
			 * The cursors were declared with no context in force, and one was
			 * set later.  By now the server has read their rows and made them
			 * outlive the transaction, even should it fail: drop them first.
			 */
			foreach(lc, holdable_declared)
			{
				Portal		portal = GetPortalByName((char *) lfirst(lc));

				if (PortalIsValid(portal) && portal->status != PORTAL_ACTIVE)
					PortalDrop(portal, false);
			}
			holdable_declared = NIL;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("cannot commit a transaction that declared a cursor WITH HOLD while a tenancy context is in force"),
					 errdetail("The cursor's rows would outlive the context they were read under; they were dropped."),
					 errhint("Clear the context with tenancy.clear_context() before COMMIT.")));
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
