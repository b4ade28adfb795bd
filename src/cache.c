/*
 * cache.c
 *		A per-backend cache of resolved decisions: a user's permission set on
 *		a tenant, the tenants where a user holds a permission, the resources
 *		shared with a user for an action, and whether a resource type or
 *		action is registered.
 *
 * Memory.  Everything lives in one memory context, capped by
 * tenancy.cache_size (kB).  Entries sit on one list, newest at the head;
 * storing past the cap evicts from the tail, giving an entry used since it
 * last came round a second chance (CLOCK: a hit only marks the entry, and
 * touches no other entry's memory).  tenancy.cache_stats() reports the
 * figures.
 *
 * Invalidation.  Statement-level triggers on every table a decision reads
 * register relcache invalidations of sentinel relations: one of 64 bucket
 * channels (tenancy._invalidation_channel_00 .. _63) for each organization
 * and each user that the changed rows name, read from the statement's
 * transition tables, or the channel for everything
 * (tenancy._invalidation_channel) when a change names no organization
 * (registries, built-in roles, TRUNCATE).  PostgreSQL then does the rest,
 * with the semantics the cache needs: the invalidation is applied locally at
 * the next command of the transaction that made the change (and again if it
 * rolls back), sent to every other backend at commit and never if it aborts,
 * and written to the commit record, so that hot standbys apply it on replay.
 * Every entry carries the buckets of what it depends on (the tenant's
 * organization and the user for a permission set; the user and all their
 * organizations for a list); the callback only notes the buckets named, and
 * the next lookup drops the entries that carry one of them, so a change in
 * one organization leaves what other organizations' users cached in place
 * (but for the 1 in 64 that share its bucket).  Every lookup first accepts
 * pending invalidations, because a statement inside a transaction block
 * takes no new relation locks and so would not otherwise see them.
 *
 * Entries born stale.  A value computed under a snapshot that predates a
 * change already announced (a REPEATABLE READ transaction refilling the cache
 * after someone else's commit, or an invalidation that arrives while the
 * value is being computed) is right for its own transaction but must not
 * outlive it.  The changing transaction completed before its invalidation was
 * sent, so when the callback runs, its xid is at most the newest completed
 * xid, which the callback records.  A value is stored only if its snapshot
 * sees every transaction that had completed by then: the snapshot's xmax is
 * above the recorded xid, and each xid the snapshot saw running at or below
 * it is still running now (one that has completed since may be the change).
 * Other transactions running at the time do not matter, however many there
 * are.  (Snapshots do carry a count of completed transactions, but the copy
 * that a statement runs with has it zeroed.)
 *
 * Time.  A value that counted a grant with an expiry is valid until the
 * earliest such expiry, after which it is recomputed: grants stop at their
 * expires_at with no job to remove them.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "catalog.h"
#include "compat.h"

#define PERM_KEY_LEN	(2 * PERMSET_NAME_MAX + 2)

typedef struct PermsetKey
{
	pg_uuid_t	user;
	pg_uuid_t	tenant;
} PermsetKey;

/* A list computed for a user and a permission: tenants, or shares. */
typedef struct ListKey
{
	pg_uuid_t	user;
	char		list;			/* LIST_TENANTS or LIST_SHARES */
	char		perm[PERM_KEY_LEN];	/* "type:action", zero-padded */
} ListKey;

#define LIST_TENANTS	't'
#define LIST_SHARES		's'
#define LIST_ROLE		'r'		/* "user" is a role; the data its permission set */
#define LIST_ADMIN_TEAMS 'a'	/* "user" is an organization; the data its admin teams */

typedef struct RegistryKey
{
	char		kind;
	char		name[PERMSET_NAME_MAX + 1];	/* zero-padded */
} RegistryKey;

typedef struct EntryHeader
{
	dlist_node	lru;			/* newest, or last given a second chance, at
								 * the head */
	uint64		buckets;		/* invalidation buckets it depends on */
	char		kind;			/* 'p', 'l' or 'r' */
	bool		used;			/* hit since it last came round */
	Size		bytes;			/* what this entry counts against the cap */
	TimestampTz valid_until;
} EntryHeader;

/*
 * A permission set small enough (most are: the union of a role or two)
 * lives in its entry, so that a hit reads one allocation instead of two: in
 * a large cache every pointer followed is likely a miss in the CPU's caches.
 */
#define PERMSET_INLINE	64

typedef struct PermsetEntry
{
	PermsetKey	key;
	EntryHeader h;
	PermSet    *permset;		/* inline_data, or its own allocation */
	char		inline_data[PERMSET_INLINE];	/* 8-aligned: after a pointer */
} PermsetEntry;

/* Tenant lists are arrays of uuids; share lists, resolve.c's flat form. */
typedef struct ListEntry
{
	ListKey		key;
	EntryHeader h;
	Size		len;
	char	   *data;
} ListEntry;

typedef struct RegistryEntry
{
	RegistryKey key;
	EntryHeader h;
	bool		registered;
} RegistryEntry;

/* Settings and statistics. */
static int	cache_size_kb = 8192;
static uint64 stat_hits = 0;
static uint64 stat_misses = 0;
static uint64 stat_evictions = 0;
static uint64 stat_invalidations = 0;

/* The cache. */
static MemoryContext cache_cxt = NULL;
static HTAB *permsets = NULL;
static HTAB *lists = NULL;
static HTAB *registry = NULL;
static dlist_head lru = DLIST_STATIC_INIT(lru);
static Size cache_bytes = 0;
static long cache_entries = 0;
static uint64 cache_epoch = 1;	/* bumped at every reset */

/* Invalidation state (written by the callback). */
static Oid	channel_relid = InvalidOid;
static Oid	bucket_relids[TENANCY_INVAL_BUCKETS];
static bool reset_pending = false;
static uint64 pending_buckets = 0;
static TransactionId completed_at_inval = InvalidTransactionId;

/* A rough per-entry cost of dynahash and allocator bookkeeping. */
#define ENTRY_OVERHEAD	48

static void
cache_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == channel_relid)
		reset_pending = true;
	else
	{
		int			b;

		for (b = 0; b < TENANCY_INVAL_BUCKETS; b++)
			if (relid == bucket_relids[b])
				break;
		if (b == TENANCY_INVAL_BUCKETS)
			return;
		pending_buckets |= UINT64CONST(1) << b;
	}
	stat_invalidations++;
	completed_at_inval = PT_LATEST_COMPLETED_XID();
}

static void
cache_reset(void)
{
	if (cache_cxt != NULL)
		MemoryContextReset(cache_cxt);
	permsets = lists = registry = NULL;
	dlist_init(&lru);
	cache_bytes = 0;
	cache_entries = 0;
	reset_pending = false;
	pending_buckets = 0;
	cache_epoch++;
}

static void remove_entry(EntryHeader *h);

/* Drops the entries that depend on one of the buckets. */
static void
evict_buckets(uint64 buckets)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &lru)
	{
		EntryHeader *h = dlist_container(EntryHeader, lru, it.cur);

		if (h->buckets & buckets)
			remove_entry(h);
	}
	cache_epoch++;
}

uint64
tenancy_cache_bucket(const pg_uuid_t *id)
{
	return UINT64CONST(1) << (hash_bytes(id->data, UUID_LEN) % TENANCY_INVAL_BUCKETS);
}

static HTAB *
make_table(const char *name, Size keysize, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = cache_cxt;
	return hash_create(name, 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Accept pending invalidations, and have the tables ready. */
static void
cache_prepare(void)
{
	Oid			channel;

	AcceptInvalidationMessages();
	channel = tenancy_catalog()->invalidation_channel;
	if (channel != channel_relid)
	{
		/* First use, or the extension was reinstalled. */
		channel_relid = channel;
		memcpy(bucket_relids, tenancy_catalog()->bucket_channels,
			   sizeof(bucket_relids));
		reset_pending = true;
	}
	if (reset_pending)
		cache_reset();
	else if (pending_buckets != 0)
	{
		uint64		buckets = pending_buckets;

		pending_buckets = 0;
		if (cache_cxt != NULL)
			evict_buckets(buckets);
	}
	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "pg_tenancy cache",
										  ALLOCSET_DEFAULT_SIZES);
	if (permsets == NULL)
	{
		permsets = make_table("pg_tenancy permission sets",
							  sizeof(PermsetKey), sizeof(PermsetEntry));
		lists = make_table("pg_tenancy lists",
						   sizeof(ListKey), sizeof(ListEntry));
		registry = make_table("pg_tenancy registry",
							  sizeof(RegistryKey), sizeof(RegistryEntry));
	}
}

Size
tenancy_cache_cap(void)
{
	return (Size) cache_size_kb * 1024;
}

uint64
tenancy_cache_epoch(void)
{
	cache_prepare();
	return cache_epoch;
}

/* Was the snapshot taken after the last invalidation's change completed? */
bool
tenancy_cache_may_keep(Snapshot snapshot)
{
	uint32		i;

	if (!TransactionIdIsValid(completed_at_inval))
		return true;
	if (snapshot == NULL ||
		!TransactionIdPrecedes(completed_at_inval, snapshot->xmax))
		return false;
	for (i = 0; i < snapshot->xcnt; i++)
		if (TransactionIdPrecedesOrEquals(snapshot->xip[i], completed_at_inval) &&
			!TransactionIdIsInProgress(snapshot->xip[i]))
			return false;
	/* A hot standby's snapshot lists the running xids in subxip. */
	if (snapshot->takenDuringRecovery)
	{
		if (snapshot->suboverflowed)
			return false;
		for (i = 0; i < (uint32) snapshot->subxcnt; i++)
			if (TransactionIdPrecedesOrEquals(snapshot->subxip[i], completed_at_inval) &&
				!TransactionIdIsInProgress(snapshot->subxip[i]))
				return false;
	}
	return true;
}

static void *
entry_of(EntryHeader *h)
{
	switch (h->kind)
	{
		case 'p':
			return (char *) h - offsetof(PermsetEntry, h);
		case 'l':
			return (char *) h - offsetof(ListEntry, h);
		default:
			return (char *) h - offsetof(RegistryEntry, h);
	}
}

static void
remove_entry(EntryHeader *h)
{
	void	   *entry = entry_of(h);
	HTAB	   *table;

	switch (h->kind)
	{
		case 'p':
			table = permsets;
			if (((PermsetEntry *) entry)->permset !=
				(PermSet *) ((PermsetEntry *) entry)->inline_data)
				pfree(((PermsetEntry *) entry)->permset);
			break;
		case 'l':
			table = lists;
			if (((ListEntry *) entry)->data)
				pfree(((ListEntry *) entry)->data);
			break;
		default:
			table = registry;
			break;
	}
	dlist_delete(&h->lru);
	cache_bytes -= h->bytes;
	cache_entries--;
	(void) hash_search(table, entry, HASH_REMOVE, NULL);
}

/* Make room for bytes more; false if they can never fit. */
static bool
make_room(Size bytes)
{
	Size		cap = (Size) cache_size_kb * 1024;

	if (bytes > cap)
		return false;
	while (cache_bytes + bytes > cap && !dlist_is_empty(&lru))
	{
		EntryHeader *h = dlist_container(EntryHeader, lru, dlist_tail_node(&lru));

		if (h->used)
		{
			h->used = false;
			dlist_move_head(&lru, &h->lru);
			continue;
		}
		remove_entry(h);
		stat_evictions++;
	}
	return true;
}

/* A found entry: still valid?  If so, it is marked used. */
static bool
entry_usable(EntryHeader *h)
{
	if (h->valid_until <= GetCurrentStatementStartTimestamp())
	{
		remove_entry(h);
		return false;
	}
	h->used = true;
	return true;
}

static void
link_entry(EntryHeader *h, char kind, Size bytes, TimestampTz valid_until,
		   uint64 buckets)
{
	h->buckets = buckets;
	h->kind = kind;
	h->bytes = bytes;
	h->valid_until = valid_until;
	h->used = false;
	dlist_push_head(&lru, &h->lru);
	cache_bytes += bytes;
	cache_entries++;
}

/* Permission sets ---------------------------------------------------------- */

PermSet *
tenancy_cache_get_permset(const pg_uuid_t *user, const pg_uuid_t *tenant,
						  TimestampTz *valid_until)
{
	PermsetKey	key;
	PermsetEntry *e;
	PermSet    *copy;

	cache_prepare();
	key.user = *user;
	key.tenant = *tenant;
	e = hash_search(permsets, &key, HASH_FIND, NULL);
	if (e == NULL || !entry_usable(&e->h))
	{
		stat_misses++;
		return NULL;
	}
	stat_hits++;
	*valid_until = e->h.valid_until;
	copy = palloc(VARSIZE(e->permset));
	memcpy(copy, e->permset, VARSIZE(e->permset));
	return copy;
}

void
tenancy_cache_put_permset(const pg_uuid_t *user, const pg_uuid_t *tenant,
						  const PermSet *ps, TimestampTz valid_until,
						  Snapshot snapshot, uint64 buckets)
{
	PermsetKey	key;
	PermsetEntry *e;
	bool		found;
	bool		inline_ps = VARSIZE(ps) <= PERMSET_INLINE;
	Size		bytes = sizeof(PermsetEntry) + (inline_ps ? 0 : VARSIZE(ps)) +
		ENTRY_OVERHEAD;

	cache_prepare();
	if (!tenancy_cache_may_keep(snapshot))
		return;
	key.user = *user;
	key.tenant = *tenant;
	e = hash_search(permsets, &key, HASH_FIND, NULL);
	if (e != NULL)
		remove_entry(&e->h);
	if (!make_room(bytes))
		return;
	e = hash_search(permsets, &key, HASH_ENTER, &found);
	e->permset = inline_ps ? (PermSet *) e->inline_data :
		MemoryContextAlloc(cache_cxt, VARSIZE(ps));
	memcpy(e->permset, ps, VARSIZE(ps));
	link_entry(&e->h, 'p', bytes, valid_until, buckets);
}

/* Lists -------------------------------------------------------------------- */

/* A NULL permission ("any permission") has the empty key. */
static void
list_key(ListKey *key, char list, const pg_uuid_t *user, const PermEntry *perm)
{
	memset(key, 0, sizeof(*key));
	key->user = *user;
	key->list = list;
	if (perm == NULL)
		return;
	memcpy(key->perm, perm->type, perm->typelen);
	key->perm[perm->typelen] = ':';
	memcpy(key->perm + perm->typelen + 1, perm->action, perm->actlen);
}

/* A palloc'd copy of the list (never NULL on a hit), or NULL on a miss. */
static char *
list_get(char list, const pg_uuid_t *user, const PermEntry *perm, Size *len,
		 TimestampTz *valid_until)
{
	ListKey		key;
	ListEntry  *e;
	char	   *copy;

	cache_prepare();
	list_key(&key, list, user, perm);
	e = hash_search(lists, &key, HASH_FIND, NULL);
	if (e == NULL || !entry_usable(&e->h))
	{
		stat_misses++;
		return NULL;
	}
	stat_hits++;
	*len = e->len;
	if (valid_until != NULL)
		*valid_until = e->h.valid_until;
	copy = palloc(Max(e->len, 1));
	if (e->len > 0)
		memcpy(copy, e->data, e->len);
	return copy;
}

static void
list_put(char list, const pg_uuid_t *user, const PermEntry *perm,
		 const void *data, Size len, TimestampTz valid_until,
		 Snapshot snapshot, uint64 buckets)
{
	ListKey		key;
	ListEntry  *e;
	bool		found;
	Size		bytes = sizeof(ListEntry) + len + ENTRY_OVERHEAD;

	cache_prepare();
	if (!tenancy_cache_may_keep(snapshot))
		return;
	list_key(&key, list, user, perm);
	e = hash_search(lists, &key, HASH_FIND, NULL);
	if (e != NULL)
		remove_entry(&e->h);
	if (!make_room(bytes))
		return;
	e = hash_search(lists, &key, HASH_ENTER, &found);
	e->len = len;
	e->data = NULL;
	if (len > 0)
	{
		e->data = MemoryContextAlloc(cache_cxt, len);
		memcpy(e->data, data, len);
	}
	link_entry(&e->h, 'l', bytes, valid_until, buckets);
}

int
tenancy_cache_get_tenants(const pg_uuid_t *user, const PermEntry *perm,
						  pg_uuid_t **tenants, TimestampTz *valid_until)
{
	Size		len;
	char	   *data = list_get(LIST_TENANTS, user, perm, &len, valid_until);

	if (data == NULL)
		return -1;
	*tenants = len > 0 ? (pg_uuid_t *) data : NULL;
	return len / sizeof(pg_uuid_t);
}

void
tenancy_cache_put_tenants(const pg_uuid_t *user, const PermEntry *perm,
						  const pg_uuid_t *tenants, int n,
						  TimestampTz valid_until, Snapshot snapshot,
						  uint64 buckets)
{
	list_put(LIST_TENANTS, user, perm, tenants, sizeof(pg_uuid_t) * n,
			 valid_until, snapshot, buckets);
}

void *
tenancy_cache_get_shares(const pg_uuid_t *user, const PermEntry *perm,
						 Size *len)
{
	return list_get(LIST_SHARES, user, perm, len, NULL);
}

void
tenancy_cache_put_shares(const pg_uuid_t *user, const PermEntry *perm,
						 const void *data, Size len,
						 TimestampTz valid_until, Snapshot snapshot,
						 uint64 buckets)
{
	list_put(LIST_SHARES, user, perm, data, len, valid_until, snapshot,
			 buckets);
}

PermSet *
tenancy_cache_get_role(const pg_uuid_t *role)
{
	Size		len;

	return (PermSet *) list_get(LIST_ROLE, role, NULL, &len, NULL);
}

void
tenancy_cache_put_role(const pg_uuid_t *role, const PermSet *ps,
					   Snapshot snapshot, uint64 buckets)
{
	list_put(LIST_ROLE, role, NULL, ps, VARSIZE(ps), DT_NOEND, snapshot,
			 buckets);
}

void *
tenancy_cache_get_admin_teams(const pg_uuid_t *org, Size *len)
{
	return list_get(LIST_ADMIN_TEAMS, org, NULL, len, NULL);
}

void
tenancy_cache_put_admin_teams(const pg_uuid_t *org, const void *data,
							  Size len, TimestampTz valid_until,
							  Snapshot snapshot, uint64 buckets)
{
	list_put(LIST_ADMIN_TEAMS, org, NULL, data, len, valid_until, snapshot,
			 buckets);
}

/* Registry ----------------------------------------------------------------- */

static void
registry_key(RegistryKey *key, char kind, const char *name, int len)
{
	memset(key, 0, sizeof(*key));
	key->kind = kind;
	memcpy(key->name, name, Min(len, PERMSET_NAME_MAX));
}

int
tenancy_cache_get_registered(char kind, const char *name, int len)
{
	RegistryKey key;
	RegistryEntry *e;

	cache_prepare();
	registry_key(&key, kind, name, len);
	e = hash_search(registry, &key, HASH_FIND, NULL);
	if (e == NULL || !entry_usable(&e->h))
	{
		stat_misses++;
		return -1;
	}
	stat_hits++;
	return e->registered ? 1 : 0;
}

void
tenancy_cache_put_registered(char kind, const char *name, int len,
							 bool registered, Snapshot snapshot)
{
	RegistryKey key;
	RegistryEntry *e;
	bool		found;
	Size		bytes = sizeof(RegistryEntry) + ENTRY_OVERHEAD;

	cache_prepare();
	if (!tenancy_cache_may_keep(snapshot))
		return;
	registry_key(&key, kind, name, len);
	e = hash_search(registry, &key, HASH_FIND, NULL);
	if (e != NULL)
		remove_entry(&e->h);
	if (!make_room(bytes))
		return;
	e = hash_search(registry, &key, HASH_ENTER, &found);
	e->registered = registered;
	/* Registries change only with a reset of everything: no bucket. */
	link_entry(&e->h, 'r', bytes, DT_NOEND, 0);
}

/* Settings, SQL-callable functions ------------------------------------------ */

static void
assign_cache_size(int newval, void *extra)
{
	/* A smaller cap takes effect at once. */
	cache_size_kb = newval;
	if (cache_cxt != NULL && !reset_pending)
		(void) make_room(0);
}

void
tenancy_cache_init(void)
{
	DefineCustomIntVariable("tenancy.cache_size",
							"Sets the most memory the decision cache of one backend may use.",
							"0 turns the cache off.",
							&cache_size_kb,
							8192,
							0, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, assign_cache_size, NULL);
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
}

PG_FUNCTION_INFO_V1(tenancy_cache_stats);
PG_FUNCTION_INFO_V1(tenancy_cache_reset);
PG_FUNCTION_INFO_V1(tenancy_invalidate_cache);

/* tenancy.cache_stats() */
Datum
tenancy_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/* Report what a lookup would see now. */
	AcceptInvalidationMessages();
	if (reset_pending)
		cache_reset();

	values[0] = Int64GetDatum(cache_entries);
	values[1] = Int64GetDatum((int64) cache_bytes);
	values[2] = Int64GetDatum((int64) cache_size_kb * 1024);
	values[3] = Int64GetDatum(cache_cxt ? (int64) MemoryContextMemAllocated(cache_cxt, true) : 0);
	values[4] = Int64GetDatum((int64) stat_hits);
	values[5] = Int64GetDatum((int64) stat_misses);
	values[6] = Int64GetDatum((int64) stat_evictions);
	values[7] = Int64GetDatum((int64) stat_invalidations);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* tenancy.cache_reset(): empty this backend's cache and zero its counters */
Datum
tenancy_cache_reset(PG_FUNCTION_ARGS)
{
	cache_reset();
	stat_hits = stat_misses = stat_evictions = stat_invalidations = 0;
	PG_RETURN_VOID();
}

/* The buckets of the organizations and users named in a transition table. */
static uint64
transition_buckets(Tuplestorestate *rows, Relation rel, AttrNumber org_att,
				   AttrNumber user_att)
{
	TupleTableSlot *slot;
	uint64		buckets = 0;

	if (rows == NULL)
		return 0;
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		bool		isnull;
		Datum		d;

		if (org_att != InvalidAttrNumber)
		{
			d = slot_getattr(slot, org_att, &isnull);
			/* A built-in role names no organization: everything. */
			buckets |= isnull ? TENANCY_ALL_BUCKETS :
				tenancy_cache_bucket(DatumGetUUIDP(d));
		}
		if (user_att != InvalidAttrNumber)
		{
			d = slot_getattr(slot, user_att, &isnull);
			if (!isnull)
				buckets |= tenancy_cache_bucket(DatumGetUUIDP(d));
		}
		if (buckets == TENANCY_ALL_BUCKETS)
			break;
	}
	ExecDropSingleTupleTableSlot(slot);
	return buckets;
}

/* The buckets of the organization and user named in one row. */
static uint64
row_buckets(HeapTuple tuple, Relation rel, AttrNumber org_att, AttrNumber user_att)
{
	uint64		buckets = 0;
	bool		isnull;
	Datum		d;

	if (tuple == NULL)
		return 0;
	if (org_att != InvalidAttrNumber)
	{
		d = heap_getattr(tuple, org_att, RelationGetDescr(rel), &isnull);
		/* A built-in role names no organization: everything. */
		buckets |= isnull ? TENANCY_ALL_BUCKETS : tenancy_cache_bucket(DatumGetUUIDP(d));
	}
	if (user_att != InvalidAttrNumber)
	{
		d = heap_getattr(tuple, user_att, RelationGetDescr(rel), &isnull);
		if (!isnull)
			buckets |= tenancy_cache_bucket(DatumGetUUIDP(d));
	}
	return buckets;
}

static AttrNumber
trigger_arg_attnum(Relation rel, TriggerData *trigdata, int i)
{
	Trigger    *trigger = trigdata->tg_trigger;
	AttrNumber	att;

	if (trigger->tgnargs <= i || trigger->tgargs[i][0] == '\0')
		return InvalidAttrNumber;
	att = attnameAttNum(rel, trigger->tgargs[i], false);
	if (att == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
			 trigger->tgargs[i], RelationGetRelationName(rel));
	return att;
}

/*
 * Statement-level trigger on the hierarchy's tables: announce a change to
 * the buckets of the organizations (column named by the first argument) and
 * users (second argument) that the changed rows name, before and after; to
 * everything for TRUNCATE and for tables without such columns.
 */
Datum
tenancy_invalidate_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const TenancyCatalog *cat;
	Relation	rel;
	AttrNumber	org_att;
	AttrNumber	user_att;
	uint64		buckets;
	int			b;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be called as a trigger",
						"tenancy._invalidate_cache")));
	cat = tenancy_catalog();
	rel = trigdata->tg_relation;
	org_att = trigger_arg_attnum(rel, trigdata, 0);
	user_att = trigger_arg_attnum(rel, trigdata, 1);
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		(org_att == InvalidAttrNumber && user_att == InvalidAttrNumber))
		buckets = TENANCY_ALL_BUCKETS;
	else if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		/*
		 * As a row-level trigger: the copies of the hierarchy that logical
		 * replication keeps (on Citus workers) get their changes from the
		 * apply worker, which fires row triggers only (ENABLE ALWAYS).
		 */
		buckets = row_buckets(trigdata->tg_trigtuple, rel, org_att, user_att);
		if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
			buckets |= row_buckets(trigdata->tg_newtuple, rel, org_att, user_att);
	}
	else
		buckets = transition_buckets(trigdata->tg_oldtable, rel, org_att, user_att) |
			transition_buckets(trigdata->tg_newtable, rel, org_att, user_att);

	if (buckets == TENANCY_ALL_BUCKETS)
		CacheInvalidateRelcacheByRelid(cat->invalidation_channel);
	else
		for (b = 0; b < TENANCY_INVAL_BUCKETS; b++)
			if (buckets & (UINT64CONST(1) << b))
				CacheInvalidateRelcacheByRelid(cat->bucket_channels[b]);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(tenancy_cache_bucket_sql);

/* tenancy._cache_bucket(id uuid) returns integer */
Datum
tenancy_cache_bucket_sql(PG_FUNCTION_ARGS)
{
	uint64		bit = tenancy_cache_bucket(PG_GETARG_UUID_P(0));
	int			b = 0;

	while (bit > 1)
	{
		bit >>= 1;
		b++;
	}
	PG_RETURN_INT32(b);
}
