/*
 * citus.c
 *		pg_tenancy on a Citus cluster: the coordinator keeps the hierarchy,
 *		each worker a copy that logical replication keeps (87_citus.sql sets
 *		it up), and every decision a worker makes is checked against the
 *		coordinator's state.
 *
 * The hierarchy's version.  Every transaction that changes the hierarchy on
 * the coordinator adds one to tenancy.hierarchy_epoch (the statement
 * trigger tenancy._hierarchy_changed on each hierarchy table), and waits at
 * its commit until every worker has applied it (synchronous_commit is
 * raised to remote_apply for that transaction alone; 87_citus.sql lists
 * the workers' subscriptions in synchronous_standby_names).  A transaction
 * that reads under a context forwards the version it sees to the workers
 * with the context (tenancy.coordinator_epoch, a SET LOCAL that Citus
 * forwards); a worker whose copy is older than that refuses to decide.  So
 * when a commit's wait is cancelled (it is committed on the coordinator,
 * not yet applied on a worker), or a worker fell behind, a worker answers
 * with an error, never with a stale decision.
 *
 * On a worker the copy is read-only: only the apply worker writes it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "citus.h"
#include "context.h"

/* The hierarchy's version the coordinator saw; forwarded, never lowered. */
static int	coordinator_epoch = 0;

/* The highest version this node's copy was seen to hold (only grows). */
static int64 verified_epoch = 0;

/*
 * This transaction changed the hierarchy (coordinator) and bumped its
 * version, in this subtransaction.
 */
static bool epoch_bumped = false;
static SubTransactionId bumped_in = InvalidSubTransactionId;

/*
 * This transaction changed which tables are protected.  It may have
 * created the table's shells on the workers too, in Citus's own two-phase
 * commit, which ends only after this node's commit: a worker cannot apply
 * the row naming the table before that, and waiting for it would never end.
 * Such a commit does not wait; the workers refuse to decide until they
 * have applied it (seconds: the apply worker retries).
 */
static bool protection_changed = false;

/* This node's part: unknown until asked in a transaction. */
typedef enum NodeRole
{
	NODE_UNKNOWN,
	NODE_SINGLE,				/* no Citus in this database */
	NODE_COORDINATOR,
	NODE_WORKER
} NodeRole;

static NodeRole node_role = NODE_UNKNOWN;

/* What was forwarded in this transaction. */
static int	forwarded_epoch = 0;
static uint64 forwarded_context = 0;
static bool forwarded_context_valid = false;

/*
 * Citus's library is loaded when its setting is defined: a placeholder of
 * the same name (which any role may set without Citus) does not count.
 * Citus is loaded only by shared_preload_libraries, so the answer is known
 * for the backend's life once those are loaded.
 */
bool
tenancy_citus_loaded(void)
{
	static int	loaded = -1;
	bool		answer;

	if (loaded >= 0)
		return loaded;
	answer = GetConfigOption("citus.propagate_set_commands", true, false) != NULL &&
		(GetConfigOptionFlags("citus.propagate_set_commands", true) &
		 GUC_CUSTOM_PLACEHOLDER) == 0;
	if (process_shared_preload_libraries_done)
		loaded = answer;
	return answer;
}

/*
 * The group of this node in Citus's metadata (pg_dist_local_group): 0 on
 * the coordinator.  Read once a backend; a database without Citus's
 * metadata is a single node (asked again in the next transaction, as
 * CREATE EXTENSION citus may come later).
 */
static NodeRole
current_node_role(void)
{
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	NodeRole	role = NODE_SINGLE;

	if (node_role != NODE_UNKNOWN)
		return node_role;
	if (!tenancy_citus_loaded() || !IsTransactionState())
		return NODE_SINGLE;
	relid = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(relid))
		return NODE_SINGLE;
	rel = table_open(relid, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	tuple = heap_getnext(scan, ForwardScanDirection);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		group = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);

		role = (!isnull && DatumGetInt32(group) == 0) ? NODE_COORDINATOR : NODE_WORKER;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	node_role = role;
	return role;
}

bool
tenancy_citus_is_worker(void)
{
	return tenancy_citus_loaded() && current_node_role() == NODE_WORKER;
}

/* tenancy.hierarchy_epoch, found once (and again after an invalidation). */
static Oid	epoch_relid = InvalidOid;

/*
 * The coordinator's committed version, as last read: valid until a relcache
 * invalidation of the table, which every transaction that advances it sends
 * (tenancy._hierarchy_changed) once it is visible.
 */
static int64 committed_epoch = -1;

/* From catalog.c's callback (a backend has only ten such slots). */
void
tenancy_citus_relcache_inval(Oid relid)
{
	if (!OidIsValid(relid) || relid == epoch_relid)
	{
		epoch_relid = InvalidOid;
		committed_epoch = -1;
	}
}

static Oid
get_epoch_relid(void)
{
	if (!OidIsValid(epoch_relid))
	{
		Oid			nsp = get_namespace_oid("tenancy", true);

		epoch_relid = OidIsValid(nsp) ? get_relname_relid("hierarchy_epoch", nsp) : InvalidOid;
	}
	return epoch_relid;
}

/*
 * This node's tenancy.hierarchy_epoch under a snapshot (the active one when
 * NULL: a worker's decisions are read with the same); -1 without the table.
 */
static int64
read_epoch(Snapshot snapshot)
{
	Oid			relid = get_epoch_relid();
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	int64		epoch = -1;
	bool		pushed = false;

	if (!OidIsValid(relid))
		return -1;
	if (snapshot == NULL)
	{
		if (!ActiveSnapshotSet())
		{
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		snapshot = GetActiveSnapshot();
	}
	rel = table_open(relid, AccessShareLock);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	tuple = heap_getnext(scan, ForwardScanDirection);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull);

		if (!isnull)
			epoch = DatumGetInt64(d);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	if (pushed)
		PopActiveSnapshot();
	return epoch;
}

/*
 * The coordinator's committed version, without this transaction's own step.
 * Read with the latest snapshot, not the transaction's: a value cached from
 * an older snapshot would outlive the invalidation that came before it.
 * Kept until the next invalidation, which a committing transaction sends
 * only once its change is visible: a value read before that is dropped.
 */
static int64
coordinator_committed_epoch(void)
{
	if (epoch_bumped)
		return read_epoch(NULL) - 1;
	AcceptInvalidationMessages();
	if (committed_epoch < 0)
		committed_epoch = read_epoch(GetLatestSnapshot());
	return committed_epoch;
}

/*
 * Before a decision under a forwarded context: this node must hold the
 * hierarchy at least as new as the coordinator saw it.
 */
void
tenancy_citus_check_fresh(void)
{
	int64		epoch;

	if (coordinator_epoch <= 0 || coordinator_epoch <= verified_epoch)
		return;
	epoch = read_epoch(NULL);
	if (epoch >= coordinator_epoch)
	{
		verified_epoch = epoch;
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the tenancy hierarchy on this node is behind the coordinator"),
			 errdetail("This node holds version %lld of the hierarchy; the coordinator's is %d.",
					   (long long) epoch, coordinator_epoch),
			 errhint("Check this node's subscription tenancy_node_* (pg_stat_subscription); "
					 "run SELECT tenancy.citus_setup() on the coordinator for a node added since.")));
}

/* A version once forwarded in a transaction is never lowered in it. */
static bool
check_coordinator_epoch(int *newval, void **extra, GucSource source)
{
	if (*newval < coordinator_epoch && IsTransactionState())
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("tenancy.coordinator_epoch cannot be lowered");
		return false;
	}
	return true;
}

/* Run "SET LOCAL name = 'value'" so that Citus forwards it (context.c). */
static void
forward_epoch(void)
{
	int64		epoch;
	char		buf[32];

	/*
	 * The workers see the coordinator's committed hierarchy only: not this
	 * transaction's own change (one step of the version) before it commits.
	 */
	epoch = coordinator_committed_epoch();
	if (epoch <= forwarded_epoch || epoch > PG_INT32_MAX)
		return;
	snprintf(buf, sizeof(buf), "%lld", (long long) epoch);
	tenancy_context_forward_setting("tenancy.coordinator_epoch", buf);
	forwarded_epoch = (int) epoch;
}

/*
 * The coordinator forwards the hierarchy's version, and a context set in a
 * way Citus does not see (set_config(), a function's SET clause): called
 * when a context is forwarded, and as each statement starts.
 */
void
tenancy_citus_before_forward(void)
{
	if (current_node_role() != NODE_COORDINATOR)
		return;
	forward_epoch();
}

void
tenancy_citus_forwarded_context(uint64 identity)
{
	forwarded_context = identity;
	forwarded_context_valid = true;
}

void
tenancy_citus_statement_start(void)
{
	const char *value;
	uint64		identity;

	if (!tenancy_citus_loaded() || tenancy_context_forwarding() ||
		current_node_role() != NODE_COORDINATOR || !IsTransactionBlock())
		return;
	if (!tenancy_context_set_in_transaction(&value, &identity))
		return;
	if (!forwarded_context_valid || forwarded_context != identity)
		tenancy_context_forward(value);
	else
		forward_epoch();
}

/* The owner of the extension pg_tenancy (the bootstrap superuser if none). */
static Oid
get_extension_owner(void)
{
	Oid			ext = get_extension_oid("pg_tenancy", true);
	Oid			owner = BOOTSTRAP_SUPERUSERID;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	if (!OidIsValid(ext))
		return owner;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * tenancy._hierarchy_changed(): a statement changed the hierarchy.  On the
 * coordinator, the first one of a transaction adds one to its version; on
 * a worker, only the apply worker (replica role) writes, and CREATE or
 * ALTER EXTENSION's own script.
 */
PG_FUNCTION_INFO_V1(tenancy_hierarchy_changed);
Datum
tenancy_hierarchy_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	NodeRole	role;
	bool		per_row;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("tenancy._hierarchy_changed() must be called as a trigger")));
	role = current_node_role();
	per_row = TRIGGER_FIRED_FOR_ROW(trigdata->tg_event);

	/*
	 * On a worker, a row written (or a TRUNCATE) other than by the apply
	 * worker: a statement that changes nothing (a clean-up of a dropped
	 * table that had no shares, say) goes through.
	 */
	if (role == NODE_WORKER && !creating_extension &&
		SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA &&
		(per_row || TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot change the tenancy hierarchy on a Citus worker"),
				 errdetail("Table %s is a copy of the coordinator's, kept by logical replication.",
						   RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Manage the hierarchy on the coordinator.")));
	if (!per_row && role == NODE_COORDINATOR &&
		strcmp(RelationGetRelationName(trigdata->tg_relation), "protected_tables") == 0)
		protection_changed = true;
	if (per_row)
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
							   trigdata->tg_newtuple : trigdata->tg_trigtuple);
	if (role == NODE_COORDINATOR && !epoch_bumped)
	{
		Oid			save_userid;
		int			save_sec;
		Oid			owner = get_extension_owner();

		/* as the extension's owner: the change's author may not own the table */
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("UPDATE tenancy.hierarchy_epoch SET epoch = epoch + 1",
						false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not advance tenancy.hierarchy_epoch");
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec);
		/* for the other backends' cached version, at commit */
		CacheInvalidateRelcacheByRelid(get_epoch_relid());
		epoch_bumped = true;
		bumped_in = GetCurrentSubTransactionId();
	}
	return PointerGetDatum(NULL);
}

/*
 * A transaction that changed the hierarchy waits at its commit until the
 * workers applied it: only that transaction, whatever the session's
 * synchronous_commit (the others keep theirs).
 */
static void
citus_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (epoch_bumped && !protection_changed)
				(void) set_config_option("synchronous_commit", "remote_apply",
										 PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_LOCAL, true, 0, false);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
			epoch_bumped = false;
			protection_changed = false;
			forwarded_epoch = 0;
			forwarded_context_valid = false;
			break;
		default:
			break;
	}
}

/*
 * A rolled back subtransaction takes the bump with it when it was made in
 * it or in one of its children (started later, while it was open).
 */
static void
citus_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && epoch_bumped && bumped_in >= mySubid)
		epoch_bumped = false;
	/*
	 * Citus forgets a SET LOCAL made in a subtransaction once it is
	 * released or rolled back, for connections it opens later: what is in
	 * force is forwarded again at the next statement.
	 */
	if (event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB)
	{
		forwarded_context_valid = false;
		forwarded_epoch = 0;
	}
}

void
tenancy_citus_init(void)
{
	static bool done = false;

	if (done)
		return;
	DefineCustomIntVariable("tenancy.coordinator_epoch",
							"The version of the hierarchy the coordinator saw (Citus; set by pg_tenancy).",
							"A worker whose copy of the hierarchy is older refuses to decide.",
							&coordinator_epoch,
							0, 0, PG_INT32_MAX,
							PGC_USERSET,
							GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL | GUC_DISALLOW_IN_FILE,
							check_coordinator_epoch, NULL, NULL);
	RegisterXactCallback(citus_xact_callback, NULL);
	RegisterSubXactCallback(citus_subxact_callback, NULL);
	done = true;
}
