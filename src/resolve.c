/*
 * resolve.c
 *		What may a user do in a tenant?  The resolution rules of the
 *		specification (section 4, points 1 to 3), read from pg_tenancy's
 *		tables through their indexes, under the caller's snapshot.
 *
 * A user's permissions on a tenant are the union of
 *	 1. everything ("*:*", tenant admin) when the user, or one of their teams,
 *		holds the built-in organization role "admin";
 *	 2. the roles assigned to the user on the tenant;
 *	 3. the roles assigned to any of the user's teams on the tenant;
 * counting only assignments that have not expired, for a user who is active
 * and still a member of the tenant's organization.  Anything unknown
 * resolves to the empty set.
 *
 * Expiry is judged against the statement's start time, the same instant for
 * every row of a statement and the same one statement_timestamp() gives SQL.
 * No SPI is used: every read is an index scan with the active snapshot,
 * index-only where the heap page is all-visible: the indexes a check reads
 * carry the columns it needs (see 20_schema.sql).  A check reads the
 * tenant's organization, then the member's facts (membership, role, expiry,
 * activation and teams: one entry of _member_facts, see 35_member_facts.sql),
 * then the assignments to the user and to each team on the tenant.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "cache.h"
#include "context.h"
#include "catalog.h"
#include "permset.h"
#include "resolve.h"

/*
 * A row an index scan returns.  Its columns come from the index tuple when
 * the index carries them and the heap page is all-visible (an index-only
 * read, as PostgreSQL's own index-only scans do), from the heap otherwise.
 */
typedef struct ScanRow
{
	IndexScanDesc scan;
	TupleTableSlot *slot;		/* the heap tuple, once fetched (made on first
								 * need: index-only rows never want one) */
	bool		in_heap;		/* slot holds this row */
} ScanRow;

/* Called for each row an index scan returns; false stops the scan. */
typedef bool (*RowVisitor) (ScanRow *row, void *arg);

/* Tables and indexes one resolution may read: a few of each. */
#define MAX_OPEN_RELS	16

typedef struct ResolveState
{
	const TenancyCatalog *cat;
	Snapshot	snapshot;
	TimestampTz now;
	TimestampTz valid_until;	/* earliest future expiry counted */
	pg_uuid_t	org;			/* the tenant's organization */
	bool		org_known;		/* the tenant was found, org is set */
	bool		found;			/* scratch result of one lookup */
	bool		org_admin;		/* rule 1 applies */
	bool		teams_known;	/* teams came with the member's facts */
	List	   *teams;			/* pg_uuid_t * of the user's teams */
	List	   *roles;			/* pg_uuid_t * of the roles that apply */
	PermSetBuilder builder;
	/* Relations opened so far, kept open until resolve_end(). */
	int			nopen;
	Oid			open_relids[MAX_OPEN_RELS];
	Relation	open_rels[MAX_OPEN_RELS];
} ResolveState;

static pg_uuid_t org_admin_role;
static bool org_admin_role_set = false;

static const pg_uuid_t *
get_org_admin_role(void)
{
	if (!org_admin_role_set)
	{
		pg_uuid_t  *u;

		u = DatumGetUUIDP(DirectFunctionCall1(uuid_in,
											  CStringGetDatum(TENANCY_ORG_ADMIN_ROLE)));
		memcpy(&org_admin_role, u, sizeof(pg_uuid_t));
		org_admin_role_set = true;
	}
	return &org_admin_role;
}

static inline bool
uuid_equal(const pg_uuid_t *a, const pg_uuid_t *b)
{
	return memcmp(a->data, b->data, UUID_LEN) == 0;
}

static inline void
uuid_key(ScanKey key, AttrNumber attno, const pg_uuid_t *value)
{
	ScanKeyInit(key, attno, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(value));
}

static TupleTableSlot *
row_slot(ScanRow *row)
{
	if (row->slot == NULL)
		row->slot = table_slot_create(row->scan->heapRelation, NULL);
	return row->slot;
}

/* Column attno (of the table) of the row. */
static Datum
row_getattr(ScanRow *row, AttrNumber attno, bool *isnull)
{
	if (!row->in_heap)
	{
		Form_pg_index index = row->scan->indexRelation->rd_index;
		int			i;

		for (i = 0; i < index->indnatts; i++)
			if (index->indkey.values[i] == attno)
				return index_getattr(row->scan->xs_itup, i + 1,
									 row->scan->xs_itupdesc, isnull);
		/* Not in the index: read the (all-visible) heap tuple. */
		if (!index_fetch_heap(row->scan, row_slot(row)))
			elog(ERROR, "pg_tenancy: all-visible tuple not found in \"%s\"",
				 RelationGetRelationName(row->scan->heapRelation));
		row->in_heap = true;
	}
	return slot_getattr(row->slot, attno, isnull);
}

static pg_uuid_t *
copy_uuid_attr(ScanRow *row, AttrNumber attno)
{
	bool		isnull;
	Datum		d = row_getattr(row, attno, &isnull);
	pg_uuid_t  *copy;

	Assert(!isnull);
	copy = palloc(sizeof(pg_uuid_t));
	memcpy(copy, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	return copy;
}

/*
 * Has the grant in this tuple, whose expiry is in column attno, expired?  A
 * grant that will expire makes the answer being built valid only until then.
 */
static inline bool
expired(ScanRow *row, AttrNumber attno, ResolveState *st)
{
	bool		isnull;
	Datum		d = row_getattr(row, attno, &isnull);
	TimestampTz at;

	if (isnull)
		return false;
	at = DatumGetTimestampTz(d);
	if (at <= st->now)
		return true;
	st->valid_until = Min(st->valid_until, at);
	return false;
}

/*
 * A table or index, opened once per resolution: a resolution reads some of
 * them several times (an assignment index once per team), and opening and
 * locking them again each time was a sizeable part of a cache miss.
 */
static Relation
open_rel(ResolveState *st, Oid relid, bool is_index)
{
	int			i;
	Relation	rel;

	for (i = 0; i < st->nopen; i++)
		if (st->open_relids[i] == relid)
			return st->open_rels[i];
	if (st->nopen >= MAX_OPEN_RELS)
		elog(ERROR, "pg_tenancy opened too many relations in one resolution");
	rel = is_index ? index_open(relid, AccessShareLock) :
		table_open(relid, AccessShareLock);
	st->open_relids[st->nopen] = relid;
	st->open_rels[st->nopen] = rel;
	st->nopen++;
	return rel;
}

static void
resolve_end(ResolveState *st)
{
	int			i;

	/*
	 * The locks are kept until the end of the transaction, as a query's
	 * are: the next resolution finds them already held.
	 */
	for (i = st->nopen - 1; i >= 0; i--)
	{
		if (st->open_rels[i]->rd_rel->relkind == RELKIND_INDEX)
			index_close(st->open_rels[i], NoLock);
		else
			table_close(st->open_rels[i], NoLock);
	}
	st->nopen = 0;
}

/*
 * Reads the rows matching keys (on table columns) through the index, in
 * index order.  A row on an all-visible heap page is read from the index
 * tuple alone; the others are fetched from the heap and checked against the
 * snapshot, as systable scans do.
 */
static void
scan_index(ResolveState *st, Oid relid, Oid indexid,
		   ScanKey keys, int nkeys, RowVisitor visit, void *arg)
{
	Relation	rel = open_rel(st, relid, false);
	Relation	index = open_rel(st, indexid, true);
	Form_pg_index form = index->rd_index;
	ScanKeyData ikeys[INDEX_MAX_KEYS];
	Buffer		vmbuffer = InvalidBuffer;
	ScanRow		row;
	ItemPointer tid;
	int			i;
	int			j;

	/* The keys name table columns; the scan wants index columns. */
	Assert(nkeys <= INDEX_MAX_KEYS);
	for (i = 0; i < nkeys; i++)
	{
		ikeys[i] = keys[i];
		for (j = 0; j < IndexRelationGetNumberOfKeyAttributes(index); j++)
			if (form->indkey.values[j] == keys[i].sk_attno)
				break;
		if (j == IndexRelationGetNumberOfKeyAttributes(index))
			elog(ERROR, "pg_tenancy: column %d is not a key of index \"%s\"",
				 keys[i].sk_attno, RelationGetRelationName(index));
		ikeys[i].sk_attno = j + 1;
	}

	row.scan = index_beginscan(rel, index, st->snapshot, nkeys, 0);
	row.scan->xs_want_itup = true;
	row.slot = NULL;
	index_rescan(row.scan, ikeys, nkeys, NULL, 0);
	while ((tid = index_getnext_tid(row.scan, ForwardScanDirection)) != NULL)
	{
		if (VM_ALL_VISIBLE(rel, ItemPointerGetBlockNumber(tid), &vmbuffer))
		{
			row.in_heap = false;
			/* What reading the heap would have locked, under SERIALIZABLE. */
			PredicateLockPage(rel, ItemPointerGetBlockNumber(tid), st->snapshot);
		}
		else if (index_fetch_heap(row.scan, row_slot(&row)))
			row.in_heap = true;
		else
			continue;			/* not visible to the snapshot */
		if (!visit(&row, arg))
			break;
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	index_endscan(row.scan);
	if (row.slot != NULL)
		ExecDropSingleTupleTableSlot(row.slot);
}

/* Visitors ---------------------------------------------------------------- */

static bool
visit_tenant(ScanRow *row, void *arg)
{
	ResolveState *st = arg;
	pg_uuid_t  *org = copy_uuid_attr(row, Anum_tenants_org_id);

	st->org = *org;
	st->org_known = true;
	st->found = true;
	return false;
}

static bool
visit_user(ScanRow *row, void *arg)
{
	ResolveState *st = arg;
	bool		isnull;
	Datum		active = row_getattr(row, Anum_users_active, &isnull);

	st->found = !isnull && DatumGetBool(active);
	return false;
}

/*
 * A member's facts (see 35_member_facts.sql): an unexpired membership of an
 * active user, its role, and its teams when there are few enough to carry.
 */
static bool
visit_member(ScanRow *row, void *arg)
{
	ResolveState *st = arg;
	bool		isnull;
	Datum		d;
	pg_uuid_t  *role;

	if (expired(row, Anum_member_facts_expires_at, st))
		return false;
	d = row_getattr(row, Anum_member_facts_active, &isnull);
	if (isnull || !DatumGetBool(d))
		return false;
	st->found = true;
	role = copy_uuid_attr(row, Anum_member_facts_role_id);
	if (uuid_equal(role, get_org_admin_role()))
		st->org_admin = true;
	d = row_getattr(row, Anum_member_facts_teams, &isnull);
	st->teams_known = !isnull;
	if (!isnull)
	{
		/* A copy: the datum may point into the index page. */
		ArrayType  *teams = DatumGetArrayTypePCopy(d);
		Datum	   *elems;
		int			n;
		int			i;

		deconstruct_array(teams, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
						  &elems, NULL, &n);
		for (i = 0; i < n; i++)
			st->teams = lappend(st->teams, DatumGetUUIDP(elems[i]));
	}
	return false;
}

static bool
visit_team_member(ScanRow *row, void *arg)
{
	ResolveState *st = arg;

	st->teams = lappend(st->teams,
						copy_uuid_attr(row, Anum_team_members_team_id));
	return true;
}

/* A tenant-scope assignment: remember its role. */
static bool
visit_tenant_assignment(ScanRow *row, void *arg)
{
	ResolveState *st = arg;

	if (!expired(row, Anum_role_assignments_expires_at, st))
		st->roles = lappend(st->roles,
							copy_uuid_attr(row, Anum_role_assignments_role_id));
	return true;
}

/* A team holding the organization role "admin", and until when. */
typedef struct AdminTeam
{
	pg_uuid_t	team;
	TimestampTz expires;		/* DT_NOEND for never */
} AdminTeam;

typedef struct AdminTeamScan
{
	TimestampTz now;			/* the statement's start */
	List	   *found;			/* AdminTeam * */
	TimestampTz valid_until;	/* the earliest expiry found */
} AdminTeamScan;

/* An organization-scope assignment (always to a team): only "admin" counts. */
static bool
visit_org_scope_assignment(ScanRow *row, void *arg)
{
	AdminTeamScan *as = arg;
	AdminTeam  *a;
	bool		isnull;
	Datum		d;

	if (!uuid_equal(copy_uuid_attr(row, Anum_role_assignments_role_id),
					get_org_admin_role()))
		return true;
	d = row_getattr(row, Anum_role_assignments_expires_at, &isnull);
	a = palloc(sizeof(AdminTeam));
	a->expires = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	if (a->expires <= as->now)
		return true;
	a->team = *copy_uuid_attr(row, Anum_role_assignments_team_id);
	as->valid_until = Min(as->valid_until, a->expires);
	as->found = lappend(as->found, a);
	return true;
}

/*
 * The teams holding organization admin in the organization: few or none,
 * the same for every member, so cached per organization (until the first of
 * those grants expires).  Returns a palloc'd array and sets *n.
 */
static AdminTeam *
org_admin_teams(ResolveState *st, const pg_uuid_t *org, int *n)
{
	AdminTeamScan as = {st->now, NIL, DT_NOEND};
	ScanKeyData key;
	AdminTeam  *teams;
	Size		len;
	ListCell   *lc;

	teams = tenancy_cache_get_admin_teams(org, &len);
	if (teams != NULL)
	{
		*n = len / sizeof(AdminTeam);
		return teams;
	}
	uuid_key(&key, Anum_role_assignments_org_id, org);
	scan_index(st, st->cat->role_assignments,
			   st->cat->role_assignments_org_scope_idx, &key, 1,
			   visit_org_scope_assignment, &as);
	*n = list_length(as.found);
	teams = palloc(sizeof(AdminTeam) * Max(*n, 1));
	foreach(lc, as.found)
		teams[foreach_current_index(lc)] = *(AdminTeam *) lfirst(lc);
	tenancy_cache_put_admin_teams(org, teams, sizeof(AdminTeam) * *n,
								  as.valid_until, st->snapshot,
								  tenancy_cache_bucket(org));
	return teams;
}

/*
 * Rule 1 through a team: does one of the teams hold organization admin?  A
 * grant that will expire makes the answer valid only until then.
 */
static bool
team_is_org_admin(ResolveState *st, const pg_uuid_t *org, List *teams)
{
	AdminTeam  *admins;
	int			n;
	int			i;
	ListCell   *lc;

	if (teams == NIL)
		return false;
	admins = org_admin_teams(st, org, &n);
	foreach(lc, teams)
		for (i = 0; i < n; i++)
			if (uuid_equal(lfirst(lc), &admins[i].team))
			{
				st->valid_until = Min(st->valid_until, admins[i].expires);
				return true;
			}
	return false;
}

typedef struct RoleRead
{
	PermSet    *permset;
	uint64		buckets;
} RoleRead;

static bool
visit_role(ScanRow *row, void *arg)
{
	RoleRead   *rr = arg;
	bool		isnull;
	Datum		d = row_getattr(row, Anum_roles_org_id, &isnull);

	/*
	 * A custom role goes with its organization's bucket.  A built-in role
	 * names no organization, and a change to one resets the whole cache:
	 * its entry needs no bucket, and outlives changes in any organization.
	 */
	rr->buckets = isnull ? 0 : tenancy_cache_bucket(DatumGetUUIDP(d));
	d = row_getattr(row, Anum_roles_permissions, &isnull);
	if (!isnull)
		rr->permset = (PermSet *) PG_DETOAST_DATUM_COPY(d);
	return false;
}

/*
 * A role's permission set, from the cache or the roles table, in the current
 * memory context; NULL if the role is gone.
 */
static PermSet *
role_permset(ResolveState *st, const pg_uuid_t *role)
{
	ScanKeyData key;
	RoleRead	rr = {NULL, 0};

	rr.permset = tenancy_cache_get_role(role);
	if (rr.permset != NULL)
		return rr.permset;
	uuid_key(&key, Anum_roles_id, role);
	scan_index(st, st->cat->roles, st->cat->roles_pkey, &key, 1,
			   visit_role, &rr);
	if (rr.permset != NULL)
		tenancy_cache_put_role(role, rr.permset, st->snapshot, rr.buckets);
	return rr.permset;
}

static bool
visit_exists(ScanRow *row, void *arg)
{
	ResolveState *st = arg;

	st->found = true;
	return false;
}

/* The resolution ------------------------------------------------------------ */

static PermSet *
permset_everything(void)
{
	PermSetBuilder b;
	PermEntry	all = {"*", "*", 1, 1};

	permset_builder_init(&b);
	permset_builder_add(&b, &all);
	return permset_builder_finish(&b);
}

static void
resolve_begin(ResolveState *st)
{
	memset(st, 0, sizeof(*st));
	st->cat = tenancy_catalog();
	st->snapshot = GetActiveSnapshot();
	st->now = GetCurrentStatementStartTimestamp();
	st->valid_until = DT_NOEND;
	permset_builder_init(&st->builder);
}

static PermSet *resolve_rules(ResolveState *st, const pg_uuid_t *user,
							  const pg_uuid_t *tenant);

/*
 * Runs the rules in the current memory context; see the file header.  Sets
 * *valid_until to when the earliest grant counted expires.
 */
static PermSet *
resolve_in_context(const pg_uuid_t *user, const pg_uuid_t *tenant,
				   TimestampTz *valid_until, uint64 *buckets)
{
	ResolveState st;
	PermSet    *result;

	resolve_begin(&st);
	result = resolve_rules(&st, user, tenant);
	resolve_end(&st);
	*valid_until = st.valid_until;
	/* An unknown tenant's organization is unknown: any change may matter. */
	*buckets = st.org_known ?
		tenancy_cache_bucket(user) | tenancy_cache_bucket(&st.org) :
		TENANCY_ALL_BUCKETS;
	return result;
}

static PermSet *
resolve_rules(ResolveState *st, const pg_uuid_t *user, const pg_uuid_t *tenant)
{
	ScanKeyData keys[2];
	ListCell   *lc;

	/* The tenant's organization. */
	uuid_key(&keys[0], Anum_tenants_id, tenant);
	scan_index(st, st->cat->tenants, st->cat->tenants_pkey,
			   keys, 1, visit_tenant, st);
	if (!st->found)
		return permset_empty();

	/*
	 * An active member of that organization, and their teams, in one index
	 * entry (most questions about someone else's tenant end here).
	 */
	st->found = false;
	uuid_key(&keys[0], Anum_member_facts_org_id, &st->org);
	uuid_key(&keys[1], Anum_member_facts_user_id, user);
	scan_index(st, st->cat->member_facts, st->cat->member_facts_pkey,
			   keys, 2, visit_member, st);
	if (!st->found)
		return permset_empty();
	if (st->org_admin)
		return permset_everything();

	/* Too many teams to carry there: read them. */
	if (!st->teams_known)
	{
		uuid_key(&keys[0], Anum_team_members_org_id, &st->org);
		uuid_key(&keys[1], Anum_team_members_user_id, user);
		scan_index(st, st->cat->team_members, st->cat->team_members_user_idx,
				   keys, 2, visit_team_member, st);
	}

	/* Rule 1 through a team: the team holds organization admin. */
	if (team_is_org_admin(st, &st->org, st->teams))
		return permset_everything();

	/* Rule 2: roles assigned to the user on the tenant. */
	uuid_key(&keys[0], Anum_role_assignments_user_id, user);
	uuid_key(&keys[1], Anum_role_assignments_tenant_id, tenant);
	scan_index(st, st->cat->role_assignments,
			   st->cat->role_assignments_user_idx,
			   keys, 2, visit_tenant_assignment, st);

	/* Rule 3: roles assigned to the user's teams on the tenant. */
	foreach(lc, st->teams)
	{
		uuid_key(&keys[0], Anum_role_assignments_team_id, lfirst(lc));
		uuid_key(&keys[1], Anum_role_assignments_tenant_id, tenant);
		scan_index(st, st->cat->role_assignments,
				   st->cat->role_assignments_team_idx,
				   keys, 2, visit_tenant_assignment, st);
	}

	/* The union of those roles' permission sets. */
	foreach(lc, st->roles)
	{
		PermSet    *ps = role_permset(st, lfirst(lc));

		/* The builder keeps pointers into the set, a private copy. */
		if (ps != NULL)
			permset_builder_add_set(&st->builder, ps);
	}
	return permset_builder_finish(&st->builder);
}

/*
 * Reads need an active snapshot; SET runs without one, and gets a fresh one.
 * Returns whether one was pushed, for read_end().
 */
static bool
read_begin(void)
{
	if (ActiveSnapshotSet())
		return false;
	PushActiveSnapshot(GetTransactionSnapshot());
	return true;
}

static void
read_end(bool pushed)
{
	if (pushed)
		PopActiveSnapshot();
}

PermSet *
tenancy_resolve(const pg_uuid_t *user, const pg_uuid_t *tenant)
{
	TimestampTz valid_until;

	return tenancy_resolve_until(user, tenant, &valid_until);
}

PermSet *
tenancy_resolve_until(const pg_uuid_t *user, const pg_uuid_t *tenant,
					  TimestampTz *valid_until_out)
{
	MemoryContext work;
	MemoryContext caller = CurrentMemoryContext;
	PermSet    *result;
	PermSet    *copy;
	TimestampTz valid_until;
	uint64		buckets;
	bool		pushed;

	result = tenancy_cache_get_permset(user, tenant, valid_until_out);
	if (result != NULL)
		return result;

	pushed = read_begin();
	/* Everything but the answer is scratch; drop it in one go. */
	work = AllocSetContextCreate(caller, "pg_tenancy resolve",
								 ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(work);
	result = resolve_in_context(user, tenant, &valid_until, &buckets);
	MemoryContextSwitchTo(caller);

	copy = palloc(VARSIZE(result));
	memcpy(copy, result, VARSIZE(result));
	MemoryContextDelete(work);
	tenancy_cache_put_permset(user, tenant, copy, valid_until,
							  GetActiveSnapshot(), buckets);
	read_end(pushed);
	*valid_until_out = valid_until;
	return copy;
}

/* Lookups across tenants ---------------------------------------------------- */

typedef struct MemberOrg
{
	pg_uuid_t	org;
	pg_uuid_t	role;			/* the membership's organization role */
	bool		admin;			/* organization admin, directly or by a team */
	List	   *teams;			/* pg_uuid_t * */
} MemberOrg;

/* An unexpired tenant-scope assignment. */
typedef struct TenantGrant
{
	pg_uuid_t	tenant;
	pg_uuid_t	org;
	pg_uuid_t	role;
} TenantGrant;

typedef struct RoleVerdict
{
	pg_uuid_t	role;
	bool		allows;
} RoleVerdict;

typedef struct LookupState
{
	ResolveState base;			/* catalog, snapshot, now */
	List	   *orgs;			/* MemberOrg * */
	List	   *grants;			/* TenantGrant * */
	List	   *tenants;		/* pg_uuid_t * (result, unsorted) */
	List	   *verdicts;		/* RoleVerdict *, to ask each role once */
	const PermEntry *perm;
} LookupState;

static bool
visit_user_membership(ScanRow *row, void *arg)
{
	LookupState *ls = arg;
	MemberOrg  *mo;
	pg_uuid_t  *org;
	pg_uuid_t  *role;

	if (expired(row, Anum_memberships_expires_at, &ls->base))
		return true;
	org = copy_uuid_attr(row, Anum_memberships_org_id);
	role = copy_uuid_attr(row, Anum_memberships_role_id);
	mo = palloc0(sizeof(MemberOrg));
	mo->org = *org;
	mo->role = *role;
	mo->admin = uuid_equal(role, get_org_admin_role());
	ls->orgs = lappend(ls->orgs, mo);
	return true;
}

static bool
visit_org_tenant(ScanRow *row, void *arg)
{
	LookupState *ls = arg;

	ls->tenants = lappend(ls->tenants,
						  copy_uuid_attr(row, Anum_tenants_id));
	return true;
}

static bool
visit_tenant_grant(ScanRow *row, void *arg)
{
	LookupState *ls = arg;
	bool		isnull;
	TenantGrant *g;

	(void) row_getattr(row, Anum_role_assignments_tenant_id, &isnull);
	if (isnull || expired(row, Anum_role_assignments_expires_at,
						  &ls->base))
		return true;
	g = palloc(sizeof(TenantGrant));
	g->tenant = *copy_uuid_attr(row, Anum_role_assignments_tenant_id);
	g->org = *copy_uuid_attr(row, Anum_role_assignments_org_id);
	g->role = *copy_uuid_attr(row, Anum_role_assignments_role_id);
	ls->grants = lappend(ls->grants, g);
	return true;
}

/* Does the role grant the permission asked?  Each role is read once. */
static bool
role_allows(LookupState *ls, const pg_uuid_t *role)
{
	ListCell   *lc;
	RoleVerdict *v;
	PermSet    *ps;

	foreach(lc, ls->verdicts)
	{
		v = lfirst(lc);
		if (uuid_equal(&v->role, role))
			return v->allows;
	}

	ps = role_permset(&ls->base, role);
	v = palloc(sizeof(RoleVerdict));
	v->role = *role;
	v->allows = ps != NULL && (ls->perm == NULL ? !permset_is_empty(ps) :
							   permset_allows(ps, ls->perm));
	ls->verdicts = lappend(ls->verdicts, v);
	return v->allows;
}

static MemberOrg *
find_org(List *orgs, const pg_uuid_t *org)
{
	ListCell   *lc;

	foreach(lc, orgs)
	{
		MemberOrg  *mo = lfirst(lc);

		if (uuid_equal(&mo->org, org))
			return mo;
	}
	return NULL;
}

static int
uuid_qsort_cmp(const void *a, const void *b)
{
	return memcmp(a, b, UUID_LEN);
}

/* Is the user active?  (Unknown users are not.) */
static bool
user_is_active(ResolveState *st, const pg_uuid_t *user)
{
	ScanKeyData key;

	st->found = false;
	uuid_key(&key, Anum_users_id, user);
	scan_index(st, st->cat->users, st->cat->users_pkey,
			   &key, 1, visit_user, st);
	return st->found;
}

/* A list computed for the user depends on the user and all their orgs. */
static uint64
lookup_buckets(const LookupState *ls, const pg_uuid_t *user)
{
	uint64		buckets = tenancy_cache_bucket(user);
	ListCell   *lc;

	foreach(lc, ls->orgs)
		buckets |= tenancy_cache_bucket(&((MemberOrg *) lfirst(lc))->org);
	return buckets;
}

static void
lookup_begin(LookupState *ls, const PermEntry *perm)
{
	memset(ls, 0, sizeof(*ls));
	ls->base.cat = tenancy_catalog();
	ls->base.snapshot = GetActiveSnapshot();
	ls->base.now = GetCurrentStatementStartTimestamp();
	ls->base.valid_until = DT_NOEND;
	ls->perm = perm;
}

/* The user's unexpired memberships, with their teams and admin status. */
static void
collect_memberships(LookupState *ls, const pg_uuid_t *user)
{
	ResolveState *st = &ls->base;
	ScanKeyData keys[2];
	ListCell   *lc;

	uuid_key(&keys[0], Anum_memberships_user_id, user);
	scan_index(st, st->cat->memberships, st->cat->memberships_user_idx,
			   keys, 1, visit_user_membership, ls);

	foreach(lc, ls->orgs)
	{
		MemberOrg  *mo = lfirst(lc);

		st->teams = NIL;
		uuid_key(&keys[0], Anum_team_members_org_id, &mo->org);
		uuid_key(&keys[1], Anum_team_members_user_id, user);
		scan_index(st, st->cat->team_members,
				   st->cat->team_members_user_idx,
				   keys, 2, visit_team_member, st);
		mo->teams = st->teams;
		if (!mo->admin)
			mo->admin = team_is_org_admin(st, &mo->org, mo->teams);
	}
}

static int
tenants_in_context(const pg_uuid_t *user, const PermEntry *perm,
				   pg_uuid_t **result, TimestampTz *valid_until,
				   uint64 *buckets)
{
	LookupState ls;
	ResolveState *st = &ls.base;
	ScanKeyData keys[1];
	ListCell   *lc;
	pg_uuid_t  *out;
	int			n = 0;
	int			m;
	int			i;

	lookup_begin(&ls, perm);
	*valid_until = DT_NOEND;
	*buckets = tenancy_cache_bucket(user);
	if (!user_is_active(st, user))
	{
		resolve_end(st);
		return 0;
	}
	collect_memberships(&ls, user);
	*buckets = lookup_buckets(&ls, user);

	foreach(lc, ls.orgs)
	{
		MemberOrg  *mo = lfirst(lc);
		ListCell   *tc;

		if (mo->admin)
		{
			/* Rule 1: every tenant of the organization, whatever is asked. */
			uuid_key(&keys[0], Anum_tenants_org_id, &mo->org);
			scan_index(st, st->cat->tenants,
					   st->cat->tenants_org_slug_key,
					   keys, 1, visit_org_tenant, &ls);
			continue;
		}
		/* Rule 3: the teams' tenant assignments. */
		foreach(tc, mo->teams)
		{
			uuid_key(&keys[0], Anum_role_assignments_team_id, lfirst(tc));
			scan_index(st, st->cat->role_assignments,
					   st->cat->role_assignments_team_idx,
					   keys, 1, visit_tenant_grant, &ls);
		}
	}

	/* Rule 2: the user's own tenant assignments. */
	uuid_key(&keys[0], Anum_role_assignments_user_id, user);
	scan_index(st, st->cat->role_assignments,
			   st->cat->role_assignments_user_idx,
			   keys, 1, visit_tenant_grant, &ls);

	foreach(lc, ls.grants)
	{
		TenantGrant *g = lfirst(lc);
		MemberOrg  *mo = find_org(ls.orgs, &g->org);

		/* Only in organizations the user is still a member of. */
		if (mo != NULL && !mo->admin && role_allows(&ls, &g->role))
			ls.tenants = lappend(ls.tenants, &g->tenant);
	}

	*valid_until = st->valid_until;
	resolve_end(st);
	if (ls.tenants == NIL)
		return 0;
	out = palloc(sizeof(pg_uuid_t) * list_length(ls.tenants));
	foreach(lc, ls.tenants)
		out[n++] = *(pg_uuid_t *) lfirst(lc);
	qsort(out, n, sizeof(pg_uuid_t), uuid_qsort_cmp);
	m = 0;
	for (i = 0; i < n; i++)
		if (m == 0 || memcmp(&out[i], &out[m - 1], UUID_LEN) != 0)
			out[m++] = out[i];
	*result = out;
	return m;
}

int
tenancy_user_tenants(const pg_uuid_t *user, const PermEntry *perm,
					 pg_uuid_t **result)
{
	TimestampTz valid_until;

	return tenancy_user_tenants_until(user, perm, result, &valid_until);
}

int
tenancy_user_tenants_until(const pg_uuid_t *user, const PermEntry *perm,
						   pg_uuid_t **result, TimestampTz *keep_until)
{
	MemoryContext work;
	MemoryContext caller = CurrentMemoryContext;
	pg_uuid_t  *scratch = NULL;
	TimestampTz valid_until;
	uint64		buckets;
	bool		pushed;
	int			n;

	n = tenancy_cache_get_tenants(user, perm, result, keep_until);
	if (n >= 0)
		return n;

	pushed = read_begin();
	work = AllocSetContextCreate(caller, "pg_tenancy lookup",
								 ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(work);
	n = tenants_in_context(user, perm, &scratch, &valid_until, &buckets);
	MemoryContextSwitchTo(caller);
	*result = NULL;
	if (n > 0)
	{
		*result = palloc(sizeof(pg_uuid_t) * n);
		memcpy(*result, scratch, sizeof(pg_uuid_t) * n);
	}
	MemoryContextDelete(work);
	tenancy_cache_put_tenants(user, perm, *result, n, valid_until,
							  GetActiveSnapshot(), buckets);
	*keep_until = tenancy_cache_may_keep(GetActiveSnapshot()) ? valid_until : DT_NOBEGIN;
	read_end(pushed);
	return n;
}

bool
tenancy_user_is_member(const pg_uuid_t *user)
{
	LookupState ls;
	bool		pushed = read_begin();
	bool		result;

	lookup_begin(&ls, NULL);
	result = user_is_active(&ls.base, user);
	if (result)
	{
		collect_memberships(&ls, user);
		result = (ls.orgs != NIL);
	}
	resolve_end(&ls.base);
	read_end(pushed);
	return result;
}

/* External identities ----------------------------------------------------- */

typedef struct SubjectScan
{
	const char *issuer;			/* NULL: none */
	pg_uuid_t	user;
	bool		found;
} SubjectScan;

static bool
visit_subject(ScanRow *row, void *arg)
{
	SubjectScan *ss = arg;
	bool		isnull;
	Datum		d = row_getattr(row, Anum_users_external_issuer, &isnull);

	/* The same subject at another issuer is another user. */
	if (ss->issuer == NULL ? !isnull :
		(isnull || strcmp(TextDatumGetCString(d), ss->issuer) != 0))
		return true;
	d = row_getattr(row, Anum_users_id, &isnull);
	Assert(!isnull);
	ss->user = *DatumGetUUIDP(d);
	ss->found = true;
	return false;
}

bool
tenancy_user_by_subject(const char *subject, const char *issuer, pg_uuid_t *user)
{
	LookupState ls;
	SubjectScan ss;
	ScanKeyData key;
	bool		pushed = read_begin();

	lookup_begin(&ls, NULL);
	memset(&ss, 0, sizeof(ss));
	ss.issuer = issuer;
	ScanKeyInit(&key, Anum_users_external_subject, BTEqualStrategyNumber,
				F_TEXTEQ, CStringGetTextDatum(subject));
	/* The index's collation: the column's, the database's default. */
	key.sk_collation = DEFAULT_COLLATION_OID;
	scan_index(&ls.base, ls.base.cat->users, ls.base.cat->users_external_key,
			   &key, 1, visit_subject, &ss);
	resolve_end(&ls.base);
	read_end(pushed);
	if (ss.found)
		*user = ss.user;
	return ss.found;
}

static bool
visit_external(ScanRow *row, void *arg)
{
	bool		isnull;

	(void) row_getattr(row, Anum_users_external_subject, &isnull);
	*(bool *) arg = !isnull;
	return false;
}

bool
tenancy_user_has_external_identity(const pg_uuid_t *user)
{
	LookupState ls;
	ScanKeyData key;
	bool		found = false;
	bool		pushed = read_begin();

	lookup_begin(&ls, NULL);
	uuid_key(&key, Anum_users_id, user);
	scan_index(&ls.base, ls.base.cat->users, ls.base.cat->users_pkey,
			   &key, 1, visit_external, &found);
	resolve_end(&ls.base);
	read_end(pushed);
	return found;
}

/* Shares ------------------------------------------------------------------ */

/*
 * A share grants its actions on one resource to a user or a team.  It counts
 * for an active user who is an unexpired member of the share's organization
 * (a share to a team counts for the team's members, who are members of that
 * organization by construction).  Shares grant concrete actions only: a
 * permission asked with a "*" is never granted by a share.
 */
typedef struct ShareScan
{
	LookupState *ls;
	const PermEntry *perm;		/* NULL: any share at all */
	const pg_uuid_t *tenant;	/* NULL: every tenant */
	bool		direct;			/* a share to the user: check the org */
	List	   *found;			/* SharedResource * */
} ShareScan;

static bool
share_has_action(ScanRow *row, const PermEntry *perm)
{
	bool		isnull;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	arr = DatumGetArrayTypeP(row_getattr(row, Anum_shares_actions,
										  &isnull));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		text	   *t = DatumGetTextPP(elems[i]);

		if (!nulls[i] && VARSIZE_ANY_EXHDR(t) == perm->actlen &&
			memcmp(VARDATA_ANY(t), perm->action, perm->actlen) == 0)
			return true;
	}
	return false;
}

static bool
visit_share(ScanRow *row, void *arg)
{
	ShareScan  *ss = arg;
	pg_uuid_t  *tenant = copy_uuid_attr(row, Anum_shares_tenant_id);
	SharedResource *r;
	bool		isnull;
	text	   *id;

	if (ss->tenant != NULL && !uuid_equal(tenant, ss->tenant))
		return true;
	if (ss->direct &&
		find_org(ss->ls->orgs, copy_uuid_attr(row, Anum_shares_org_id)) == NULL)
		return true;
	if (ss->perm != NULL && !share_has_action(row, ss->perm))
		return true;
	id = DatumGetTextPP(row_getattr(row, Anum_shares_resource_id,
									 &isnull));
	r = palloc(sizeof(SharedResource));
	r->relid = DatumGetObjectId(row_getattr(row, Anum_shares_relid, &isnull));
	r->tenant = *tenant;
	r->len = VARSIZE_ANY_EXHDR(id);
	r->id = pnstrdup(VARDATA_ANY(id), r->len);
	ss->found = lappend(ss->found, r);
	return true;
}

/* Share lookups by recipient, optionally of one resource type. */
static void
scan_shares(ShareScan *ss, Oid indexid, AttrNumber recipient_attno,
			const pg_uuid_t *recipient)
{
	ResolveState *st = &ss->ls->base;
	ScanKeyData keys[2];
	int			nkeys = 1;

	/* Heap attribute numbers: the ordered scan maps them to the index's. */
	uuid_key(&keys[0], recipient_attno, recipient);
	if (ss->perm != NULL)
	{
		ScanKeyEntryInitialize(&keys[1], 0, Anum_shares_resource_type,
							   BTEqualStrategyNumber,
							   InvalidOid, DEFAULT_COLLATION_OID, F_TEXTEQ,
							   PointerGetDatum(cstring_to_text_with_len(ss->perm->type,
																		ss->perm->typelen)));
		nkeys = 2;
	}
	scan_index(st, st->cat->shares, indexid, keys, nkeys, visit_share, ss);
}

/* Order by tenant and id: what a policy looks a row up by. */
static int
shared_resource_key_cmp(const void *a, const void *b)
{
	const SharedResource *x = a;
	const SharedResource *y = b;
	int			c = memcmp(&x->tenant, &y->tenant, UUID_LEN);

	if (c != 0)
		return c;
	c = memcmp(x->id, y->id, Min(x->len, y->len));
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

/* The same, then by table: the order of a list, and its duplicates. */
static int
shared_resource_cmp(const void *a, const void *b)
{
	const SharedResource *x = a;
	const SharedResource *y = b;
	int			c = shared_resource_key_cmp(a, b);

	if (c != 0)
		return c;
	return (x->relid > y->relid) - (x->relid < y->relid);
}

/*
 * The shares that count for the user (all of them when perm is NULL), for
 * one tenant or all; returns them sorted, without duplicates, in *out.
 */
static int
shares_in_context(const pg_uuid_t *user, const PermEntry *perm,
				  const pg_uuid_t *tenant, SharedResource **out,
				  TimestampTz *valid_until, uint64 *buckets)
{
	LookupState ls;
	ShareScan	ss;
	ListCell   *lc;
	SharedResource *arr;
	int			n = 0;
	int			m = 0;
	int			i;

	lookup_begin(&ls, perm);
	*valid_until = DT_NOEND;
	*out = NULL;
	*buckets = tenancy_cache_bucket(user);
	if (!user_is_active(&ls.base, user))
	{
		resolve_end(&ls.base);
		return 0;
	}
	collect_memberships(&ls, user);
	*buckets = lookup_buckets(&ls, user);

	memset(&ss, 0, sizeof(ss));
	ss.ls = &ls;
	ss.perm = perm;
	ss.tenant = tenant;
	ss.direct = true;
	scan_shares(&ss, ls.base.cat->shares_user_idx, Anum_shares_user_id, user);
	ss.direct = false;
	foreach(lc, ls.orgs)
	{
		MemberOrg  *mo = lfirst(lc);
		ListCell   *tc;

		foreach(tc, mo->teams)
			scan_shares(&ss, ls.base.cat->shares_team_idx, Anum_shares_team_id,
						lfirst(tc));
	}
	*valid_until = ls.base.valid_until;
	resolve_end(&ls.base);

	if (ss.found == NIL)
		return 0;
	arr = palloc(sizeof(SharedResource) * list_length(ss.found));
	foreach(lc, ss.found)
		arr[n++] = *(SharedResource *) lfirst(lc);
	qsort(arr, n, sizeof(SharedResource), shared_resource_cmp);
	for (i = 0; i < n; i++)
		if (m == 0 || shared_resource_cmp(&arr[i], &arr[m - 1]) != 0)
			arr[m++] = arr[i];
	*out = arr;
	return m;
}

/*
 * The flat form the cache keeps: for each resource its table's oid, its
 * tenant, the length of its id (int32) and the id's bytes, unaligned.
 */
static char *
shares_flatten(const SharedResource *r, int n, Size *len)
{
	Size		size = 0;
	char	   *buf;
	char	   *p;
	int			i;

	for (i = 0; i < n; i++)
		size += sizeof(Oid) + UUID_LEN + sizeof(int32) + r[i].len;
	p = buf = palloc(Max(size, 1));
	for (i = 0; i < n; i++)
	{
		int32		l = r[i].len;

		memcpy(p, &r[i].relid, sizeof(Oid));
		p += sizeof(Oid);
		memcpy(p, &r[i].tenant, UUID_LEN);
		p += UUID_LEN;
		memcpy(p, &l, sizeof(int32));
		p += sizeof(int32);
		memcpy(p, r[i].id, l);
		p += l;
	}
	*len = size;
	return buf;
}

/* Points the entries at the ids in buf, which must outlive them. */
static int
shares_unflatten(const char *buf, Size len, SharedResource **out)
{
	const char *p = buf;
	const char *end = buf + len;
	int			n = 0;
	int			cap = 8;
	SharedResource *r = palloc(sizeof(SharedResource) * cap);

	while (p < end)
	{
		int32		l;

		if (n == cap)
		{
			cap *= 2;
			r = repalloc(r, sizeof(SharedResource) * cap);
		}
		memcpy(&r[n].relid, p, sizeof(Oid));
		p += sizeof(Oid);
		memcpy(&r[n].tenant, p, UUID_LEN);
		p += UUID_LEN;
		memcpy(&l, p, sizeof(int32));
		p += sizeof(int32);
		r[n].len = l;
		r[n].id = p;
		p += l;
		n++;
	}
	*out = r;
	return n;
}

int
tenancy_user_shares(const pg_uuid_t *user, const PermEntry *perm,
					SharedResource **result)
{
	MemoryContext work;
	MemoryContext caller = CurrentMemoryContext;
	SharedResource *scratch;
	TimestampTz valid_until;
	uint64		buckets;
	bool		pushed;
	char	   *flat;
	Size		len;
	int			n;

	*result = NULL;
	if ((perm->typelen == 1 && perm->type[0] == '*') ||
		(perm->actlen == 1 && perm->action[0] == '*'))
		return 0;

	flat = tenancy_cache_get_shares(user, perm, &len);
	if (flat != NULL)
		return shares_unflatten(flat, len, result);

	pushed = read_begin();
	work = AllocSetContextCreate(caller, "pg_tenancy shares",
								 ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(work);
	n = shares_in_context(user, perm, NULL, &scratch, &valid_until, &buckets);
	MemoryContextSwitchTo(caller);
	flat = shares_flatten(scratch, n, &len);
	MemoryContextDelete(work);
	tenancy_cache_put_shares(user, perm, flat, len, valid_until,
							 GetActiveSnapshot(), buckets);
	read_end(pushed);
	return shares_unflatten(flat, len, result);
}

bool
tenancy_shares_contain(const SharedResource *list, int n,
					   const pg_uuid_t *tenant, const char *id, int len)
{
	SharedResource key;

	key.relid = InvalidOid;
	key.tenant = *tenant;
	key.id = id;
	key.len = len;
	return bsearch(&key, list, n, sizeof(SharedResource),
				   shared_resource_key_cmp) != NULL;
}

/* Is (tenant, id) in the list, made on the table relid? */
static bool
shares_contain_on(const SharedResource *list, int n, Oid relid,
				  const pg_uuid_t *tenant, const char *id, int len)
{
	SharedResource key;

	key.relid = relid;
	key.tenant = *tenant;
	key.id = id;
	key.len = len;
	return bsearch(&key, list, n, sizeof(SharedResource),
				   shared_resource_cmp) != NULL;
}

/*
 * tenancy.protected_tables is small, and read here only when a share might
 * decide a check that names no table: a scan of the heap.
 */
Oid
tenancy_resource_type_table(const PermEntry *perm)
{
	const TenancyCatalog *cat = tenancy_catalog();
	bool		pushed = read_begin();
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	rel = table_open(cat->protected_tables, AccessShareLock);
	ScanKeyInit(&key, Anum_protected_tables_resource_type,
				BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(cstring_to_text_with_len(perm->type,
														 perm->typelen)));
	scan = systable_beginscan(rel, InvalidOid, false, GetActiveSnapshot(),
							  1, &key);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		bool		isnull;

		(void) heap_getattr(tuple, Anum_protected_tables_root,
							RelationGetDescr(rel), &isnull);
		if (!isnull)
			continue;
		(void) heap_getattr(tuple, Anum_protected_tables_id_column,
							RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		result = DatumGetObjectId(heap_getattr(tuple,
											   Anum_protected_tables_relid,
											   RelationGetDescr(rel),
											   &isnull));
		break;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	read_end(pushed);
	return result;
}

bool
tenancy_user_has_share_in(const pg_uuid_t *user, const pg_uuid_t *tenant)
{
	MemoryContext work;
	MemoryContext caller = CurrentMemoryContext;
	SharedResource *scratch;
	TimestampTz valid_until;
	uint64		buckets;
	bool		pushed = read_begin();
	int			n;

	work = AllocSetContextCreate(caller, "pg_tenancy shares",
								 ALLOCSET_SMALL_SIZES);
	MemoryContextSwitchTo(work);
	n = shares_in_context(user, NULL, tenant, &scratch, &valid_until, &buckets);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	read_end(pushed);
	return n > 0;
}

bool
tenancy_resource_allows(const pg_uuid_t *user, const pg_uuid_t *tenant,
						const PermEntry *perm, Oid relid,
						const char *id, int idlen, const pg_uuid_t *owner)
{
	PermSet    *ps = tenancy_resolve(user, tenant);
	SharedResource *shares;
	int			n;

	if (permset_allows(ps, perm))
		return true;
	/* The owner may do anything while holding any role in the tenant. */
	if (owner != NULL && uuid_equal(owner, user) && !permset_is_empty(ps))
		return true;
	if (id == NULL)
		return false;
	n = tenancy_user_shares(user, perm, &shares);
	if (n == 0)
		return false;
	if (!OidIsValid(relid))
		relid = tenancy_resource_type_table(perm);
	return OidIsValid(relid) &&
		shares_contain_on(shares, n, relid, tenant, id, idlen);
}

/*
 * The organizations whose audit log the user may read: where they are an
 * active member with the built-in organization role admin (directly or
 * through a team) or manager.
 */
int
tenancy_user_audit_orgs(const pg_uuid_t *user, pg_uuid_t **result)
{
	LookupState ls;
	bool		pushed = read_begin();
	pg_uuid_t	manager;
	ListCell   *lc;
	int			n = 0;

	memcpy(&manager, DatumGetUUIDP(DirectFunctionCall1(uuid_in,
													   CStringGetDatum(TENANCY_ORG_MANAGER_ROLE))),
		   sizeof(pg_uuid_t));
	lookup_begin(&ls, NULL);
	*result = NULL;
	if (user_is_active(&ls.base, user))
	{
		collect_memberships(&ls, user);
		*result = palloc(sizeof(pg_uuid_t) * Max(list_length(ls.orgs), 1));
		foreach(lc, ls.orgs)
		{
			MemberOrg  *mo = lfirst(lc);

			if (mo->admin || uuid_equal(&mo->role, &manager))
				(*result)[n++] = mo->org;
		}
	}
	resolve_end(&ls.base);
	read_end(pushed);
	return n;
}

/* Registries ---------------------------------------------------------------- */

static bool
registry_has(char kind, Oid relid, Oid indexid, const char *name, int len)
{
	ResolveState st;
	ScanKeyData key;
	int			cached = tenancy_cache_get_registered(kind, name, len);
	bool		pushed;

	if (cached >= 0)
		return cached == 1;

	pushed = read_begin();
	memset(&st, 0, sizeof(st));
	st.snapshot = GetActiveSnapshot();
	ScanKeyEntryInitialize(&key, 0, Anum_registry_name, BTEqualStrategyNumber,
						   InvalidOid, DEFAULT_COLLATION_OID, F_TEXTEQ,
						   PointerGetDatum(cstring_to_text_with_len(name, len)));
	scan_index(&st, relid, indexid, &key, 1, visit_exists, &st);
	resolve_end(&st);
	tenancy_cache_put_registered(kind, name, len, st.found, GetActiveSnapshot());
	read_end(pushed);
	return st.found;
}

void
tenancy_check_registered(const PermEntry *e)
{
	const TenancyCatalog *cat = tenancy_catalog();

	if (!(e->typelen == 1 && e->type[0] == '*') &&
		!registry_has('t', cat->resource_types, cat->resource_types_pkey,
					  e->type, e->typelen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("resource type \"%.*s\" is not registered",
						e->typelen, e->type),
				 errhint("Register it with tenancy.register_resource_type().")));
	if (!(e->actlen == 1 && e->action[0] == '*') &&
		!registry_has('a', cat->actions, cat->actions_pkey,
					  e->action, e->actlen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("action \"%.*s\" is not registered",
						e->actlen, e->action),
				 errhint("Register it with tenancy.register_action().")));
}

/* SQL-callable ---------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(tenancy_permissions);
PG_FUNCTION_INFO_V1(tenancy_has_permission);

/* tenancy.permissions(user_id uuid, tenant uuid) returns tenancy.permset */
Datum
tenancy_permissions(PG_FUNCTION_ARGS)
{
	tenancy_check_may_ask_about(PG_GETARG_UUID_P(0));
	PG_RETURN_PERMSET_P(tenancy_resolve(PG_GETARG_UUID_P(0),
										PG_GETARG_UUID_P(1)));
}

/* tenancy.has_permission(user_id uuid, tenant uuid, permission text) */
Datum
tenancy_has_permission(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user = PG_GETARG_UUID_P(0);
	pg_uuid_t  *tenant = PG_GETARG_UUID_P(1);
	char	   *perm = text_to_cstring(PG_GETARG_TEXT_PP(2));
	PermEntry	e;
	PermSet    *ps;

	/* Bad input is an error whoever asks; unknown ids are just "no". */
	permission_parse(perm, &e);
	tenancy_check_registered(&e);
	tenancy_check_may_ask_about(user);
	ps = tenancy_resolve(user, tenant);
	PG_RETURN_BOOL(permset_allows(ps, &e));
}

PG_FUNCTION_INFO_V1(tenancy_check_permission);
PG_FUNCTION_INFO_V1(tenancy_check_asker);

/*
 * tenancy._check_permission(permission text): an error unless the text is a
 * well-formed permission of registered names.
 */
Datum
tenancy_check_permission(PG_FUNCTION_ARGS)
{
	PermEntry	e;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("permission must not be null")));
	permission_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &e);
	tenancy_check_registered(&e);
	PG_RETURN_VOID();
}

/*
 * tenancy._check_may_ask_about(user_id uuid): the SQL lookups' guard (see
 * tenancy_check_may_ask_about); NULL asks about users in general.
 */
Datum
tenancy_check_asker(PG_FUNCTION_ARGS)
{
	tenancy_check_may_ask_about(PG_ARGISNULL(0) ? NULL : PG_GETARG_UUID_P(0));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(tenancy_user_tenants_array);

/* tenancy._user_tenants(user_id uuid, permission text) returns uuid[] */
Datum
tenancy_user_tenants_array(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user = PG_GETARG_UUID_P(0);
	char	   *perm = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PermEntry	e;
	pg_uuid_t  *tenants = NULL;
	Datum	   *elems;
	int			n;
	int			i;

	permission_parse(perm, &e);
	tenancy_check_registered(&e);
	tenancy_check_may_ask_about(user);
	n = tenancy_user_tenants(user, &e, &tenants);
	elems = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
		elems[i] = UUIDPGetDatum(&tenants[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, UUIDOID, UUID_LEN,
										  false, TYPALIGN_CHAR));
}
