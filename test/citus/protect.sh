#!/usr/bin/env bash
# test/citus/protect.sh — protect() on Citus tables (issue 13, deliverable 3):
# distributed (hash) and reference tables, partitioned or not, protected
# before or after distribution, with and without owner/id columns.  Every
# guard must hold on the shards: an update-share recipient cannot take a
# row's ownership, a row cannot move into a tenant without "create" there,
# and a share never outlives its row (DELETE, id change, TRUNCATE) — where
# a worker cannot forget the share with the row, the write is refused
# (SQLSTATE 2BP01) and nothing is left behind.  share() works in the same
# transaction as the caller's own INSERT.
#
# Starts its own coordinator + 2 workers (cluster.sh), copies the hierarchy
# to the workers after each change on the coordinator (probe_sync.sh, until
# the replication of tenancy.* is merged).  TAP output; exit status 0 when
# every check passes.
#   PG_BIN=... test/citus/protect.sh [WORKDIR]   (default: a temporary folder, removed)
# BASELINE=1 turns citus.enable_unsafe_triggers on for the table owner, so
# that the code before issue 13 can be run through the same attacks.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/cluster.sh"
KEEP=${1:-}
W=${1:-$(mktemp -d /tmp/citus-protect.XXXXXX)}
cleanup() { citus_cluster_stop "$W"; [ -z "$KEEP" ] && rm -rf "$W"; }
trap cleanup EXIT
citus_cluster_start "$W" >"$W.start.log" 2>&1 || { cat "$W.start.log" >&2; die "cluster did not start"; }
rm -f "$W.start.log"
. "$W/env"

BOB=b0000000-0000-0000-0000-000000000001     # editor on t1 (create, read, share), viewer on t2
CAROL=c0000000-0000-0000-0000-000000000001   # viewer on t1
ALICE=a0000000-0000-0000-0000-000000000001   # org admin
T1=10000000-0000-0000-0000-000000000001
T2=20000000-0000-0000-0000-000000000002

PSQL="$PG_BIN/psql -X -h 127.0.0.1 -d $CITUS_DB -v VERBOSITY=verbose -At"
OWNER_OPTS=""
[ -n "${BASELINE:-}" ] && OWNER_OPTS="-c citus.enable_unsafe_triggers=on"
# sql PORT USER statements...: every statement with -c, output and errors
sql() {
    local port=$1 user=$2 a=(); shift 2
    for q in "$@"; do a+=(-c "$q"); done
    PGOPTIONS="$OWNER_OPTS" $PSQL -p "$port" -U "$user" "${a[@]}" 2>&1
}
owner() { sql "$COORD_PORT" postgres "$@"; }
# as USER TENANT statements...: one transaction of the application role
as() {
    local u=$1 t=$2; shift 2
    sql "$COORD_PORT" app "BEGIN" "SELECT tenancy.set_context('$u', '$t')" "$@" "COMMIT" \
        | grep -vE '^(BEGIN|COMMIT|ROLLBACK)?$'
}
sync_h() { bash -c ". $HERE/probe_sync.sh $W" >/dev/null 2>&1 || echo "sync failed" >&2; }

N=0; FAILED=0
ok() { # ok CONDITION-EXIT-STATUS NAME [DIAGNOSTIC]
    N=$((N + 1))
    if [ "$1" -eq 0 ]; then echo "ok $N - $2"
    else echo "not ok $N - $2"; FAILED=$((FAILED + 1)); [ -n "${3:-}" ] && echo "$3" | sed 's/^/#   /'; fi
}
is() { # is GOT WANT NAME
    [ "$1" = "$2" ]; ok $? "$3" "got: $1"$'\n'"want: $2"
}
has() { # has OUTPUT PATTERN NAME
    echo "$1" | grep -qE -- "$2"; ok $? "$3" "got: $1"$'\n'"want: /$2/"
}
hasnt() { # hasnt OUTPUT PATTERN NAME
    ! echo "$1" | grep -qE -- "$2"; ok $? "$3" "got: $1"
}

# --- the hierarchy, by hand on the coordinator -----------------------------
out=$(owner "INSERT INTO tenancy.users (id, email, display_name) VALUES
    ('$ALICE', 'alice@x.test', 'Alice'), ('$BOB', 'bob@x.test', 'Bob'), ('$CAROL', 'carol@x.test', 'Carol')" \
    "SELECT tenancy.create_organization('acme', 'Acme', admin => '$ALICE')" \
    "INSERT INTO tenancy.tenants (id, org_id, slug, name) SELECT '$T1', id, 't1', 'T1' FROM tenancy.organizations WHERE slug = 'acme'" \
    "INSERT INTO tenancy.tenants (id, org_id, slug, name) SELECT '$T2', id, 't2', 'T2' FROM tenancy.organizations WHERE slug = 'acme'" \
    "SELECT tenancy.add_member(id, '$BOB') FROM tenancy.organizations WHERE slug = 'acme'" \
    "SELECT tenancy.add_member(id, '$CAROL') FROM tenancy.organizations WHERE slug = 'acme'" \
    "SELECT tenancy.assign_role('editor', tenant => '$T1', user_id => '$BOB')" \
    "SELECT tenancy.assign_role('viewer', tenant => '$T2', user_id => '$BOB')" \
    "SELECT tenancy.assign_role('viewer', tenant => '$T1', user_id => '$CAROL')" \
    "CREATE ROLE app LOGIN")
hasnt "$out" 'ERROR' "hierarchy set up on the coordinator"

# --- the tables -------------------------------------------------------------
# make_table NAME KIND WHEN: KIND hash (by tenant) | hashid (by id) | ref |
# part (partitioned by range of id, distributed by tenant); WHEN before|after
make_table() {
    local t=$1 kind=$2 when=$3 ddl dist protect parts=""
    ddl="CREATE TABLE $t (tenant_id uuid NOT NULL, id bigint NOT NULL, owner_id uuid, body text, PRIMARY KEY (tenant_id, id))"
    case $kind in
        hash)   dist="SELECT create_distributed_table('$t', 'tenant_id', shard_count => 4)" ;;
        hashid) ddl="CREATE TABLE $t (tenant_id uuid NOT NULL, id bigint PRIMARY KEY, owner_id uuid, body text)"
                dist="SELECT create_distributed_table('$t', 'id', shard_count => 4)" ;;
        ref)    dist="SELECT create_reference_table('$t')" ;;
        part)   ddl="$ddl PARTITION BY RANGE (id)"
                parts="CREATE TABLE ${t}_p0 PARTITION OF $t FOR VALUES FROM (0) TO (1000)"
                dist="SELECT create_distributed_table('$t', 'tenant_id', shard_count => 4)" ;;
    esac
    protect="SELECT tenancy.protect('$t', resource_type => '$t', owner_column => 'owner_id', id_column => 'id')"
    if [ "$when" = before ]; then
        # Citus refuses to distribute a table with triggers unless the
        # owner turns citus.enable_unsafe_triggers on (README).
        owner "$ddl" ${parts:+"$parts"} "CREATE INDEX ON $t (tenant_id)" "$protect" \
              "SET citus.enable_unsafe_triggers = on" "$dist" "GRANT SELECT, INSERT, UPDATE, DELETE ON $t TO app"
    else
        owner "$ddl" ${parts:+"$parts"} "CREATE INDEX ON $t (tenant_id)" "$dist" "$protect" \
              "GRANT SELECT, INSERT, UPDATE, DELETE ON $t TO app"
    fi
}

# no orphan share: every share of table T names a row that exists
orphans() {
    owner "SELECT count(*) FROM tenancy.shares s WHERE s.relid = '$1'::regclass
             AND (s.tenant_id::text || '/' || s.resource_id)
                 <> ALL (coalesce((SELECT array_agg(r.tenant_id::text || '/' || r.id::text) FROM $1 r), '{}'))"
}
shares_of() { owner "SELECT count(*) FROM tenancy.shares WHERE relid = '$1'::regclass AND resource_id = '$2'"; }

# A write that must either forget the row's shares with it (as on a local
# table) or be refused with 2BP01 and change nothing.  Returns 0 if done.
exact_or_refused() { # exact_or_refused TABLE ID OUTPUT WHAT
    local t=$1 id=$2 out=$3 what=$4
    if echo "$out" | grep -q 'ERROR'; then
        # (Citus itself refuses to change a distribution column)
        has "$out" 'ERROR:  (2BP01: .*shared|0A000: modifying the partition value)' "$t: $what refused with 2BP01 while the row is shared (worker)"
        return 1
    fi
    is "$(shares_of "$t" "$id")" 0 "$t: $what forgot the row's shares (as on a local table)"
    return 0
}

attack() { # attack TABLE
    local t=$1 out n
    # share() right after the caller's own INSERT, in one transaction
    out=$(as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 1, '$BOB', 'bob''s')" \
          "SELECT 'share=' || (tenancy.share('$t', '1', ARRAY['read', 'update'], to_user => '$CAROL') IS NOT NULL)")
    has "$out" '^share=true$' "$t: share() in the same transaction as the caller's INSERT"
    if ! echo "$out" | grep -q '^share=true$'; then
        # (so that the attacks below still have their row and share)
        as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 1, '$BOB', 'bob''s')" >/dev/null
        as "$BOB" "$T1" "SELECT tenancy.share('$t', '1', ARRAY['read', 'update'], to_user => '$CAROL')" >/dev/null
    fi
    sync_h
    # carol is a viewer in t1: she reads every row there, and may update
    # only through a share
    is "$(as "$CAROL" "$T1" "UPDATE $t SET body = 'carol' WHERE id = 1")" "UPDATE 1" "$t: the share grants its recipient the row on the shard"

    # an update-share recipient takes the row's ownership
    out=$(as "$CAROL" "$T1" "UPDATE $t SET owner_id = '$CAROL' WHERE id = 1")
    has "$out" 'ERROR:  42501: permission denied to change the owner' "$t: update-share recipient cannot take ownership on a shard"
    is "$(owner "SELECT owner_id FROM $t WHERE id = 1")" "$BOB" "$t: the row's owner is unchanged"
    owner "UPDATE $t SET owner_id = '$BOB' WHERE id = 1" >/dev/null   # (each attack on its own)

    # the owner moves the row into a tenant where they may not create
    out=$(as "$BOB" "$T1" "UPDATE $t SET tenant_id = '$T2' WHERE id = 1")
    has "$out" 'ERROR:  .*(42501: permission denied to move a row|modifying the partition value)' \
        "$t: tenant change without \"create\" refused"
    is "$(owner "SELECT tenant_id FROM $t WHERE id = 1")" "$T1" "$t: the row stays in its tenant"
    owner "UPDATE $t SET tenant_id = '$T1' WHERE id = 1" >/dev/null

    # an id change must not leave the share on the old id
    out=$(as "$BOB" "$T1" "UPDATE $t SET id = 2 WHERE id = 1")
    if ! exact_or_refused "$t" 1 "$out" "id change"; then
        is "$(owner "SELECT count(*) FROM $t WHERE id = 1")" 1 "$t: the refused id change left the row as it was"
    fi
    owner "UPDATE $t SET id = 1 WHERE id = 2" >/dev/null   # back, as the owner (no context)
    sync_h
    is "$(orphans "$t")" 0 "$t: no share outlives its row after the id change"

    # a deleted row's share must not grant a new row with the same id
    out=$(as "$BOB" "$T1" "DELETE FROM $t WHERE id = 1")
    if ! exact_or_refused "$t" 1 "$out" "DELETE"; then
        # (the unshare committed and seen by the workers: a worker does not
        # see an unshare earlier in the same transaction, and refuses)
        as "$BOB" "$T1" "SELECT tenancy.unshare('$t', '1', to_user => '$CAROL')" >/dev/null
        sync_h
        out=$(as "$BOB" "$T1" "DELETE FROM $t WHERE id = 1")
        hasnt "$out" 'ERROR' "$t: DELETE goes through once the row is unshared"
    fi
    sync_h
    as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 1, '$BOB', 'new row, same id')" >/dev/null
    is "$(as "$CAROL" "$T1" "UPDATE $t SET body = 'carol' WHERE id = 1")" "UPDATE 0" "$t: a deleted row's share does not grant a new row with the same id"

    # the same within one transaction: share, then delete (the workers have
    # not seen the share yet), then a new row with the same id
    out=$(as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 5, '$BOB', 'x')" \
          "SELECT tenancy.share('$t', '5', ARRAY['update'], to_user => '$CAROL') IS NOT NULL" \
          "DELETE FROM $t WHERE id = 5")
    sync_h
    as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 5, '$BOB', 'new row, same id')" >/dev/null
    is "$(as "$CAROL" "$T1" "UPDATE $t SET body = 'carol' WHERE id = 5")" "UPDATE 0" \
        "$t: share then DELETE in one transaction leaves no share for a new row with the same id"
    is "$(orphans "$t")" 0 "$t: no share outlives its row after DELETE"
    # share, delete, and a new row with the same id, all in one transaction:
    # the share must not pass to the new row
    out=$(as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 6, '$BOB', 'x')" \
          "SELECT tenancy.share('$t', '6', ARRAY['update'], to_user => '$CAROL') IS NOT NULL" \
          "DELETE FROM $t WHERE id = 6" "INSERT INTO $t VALUES ('$T1', 6, '$BOB', 'new row, same id')")
    sync_h
    if echo "$out" | grep -q ERROR; then
        has "$out" 'ERROR:  2BP01: ' "$t: share, DELETE and a new row with the same id in one transaction: refused at commit"
        is "$(owner "SELECT count(*) FROM $t WHERE id = 6")" 0 "$t: the refused transaction left nothing"
    else
        is "$(shares_of "$t" 6)" 0 "$t: share, DELETE and a new row with the same id in one transaction: the share went with the row"
    fi
    is "$(as "$CAROL" "$T1" "UPDATE $t SET body = 'carol' WHERE id = 6")" "UPDATE 0" \
        "$t: ... and grants nothing on the new row"
    owner "DELETE FROM $t WHERE id = 6" >/dev/null

    # TRUNCATE must not leave live shares
    as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 7, '$BOB', 'x')" \
       "SELECT tenancy.share('$t', '7', ARRAY['read'], to_user => '$CAROL')" >/dev/null
    sync_h
    out=$(owner "TRUNCATE $t")
    if echo "$out" | grep -q ERROR; then
        has "$out" 'ERROR:  2BP01: ' "$t: TRUNCATE refused with 2BP01 while rows are shared"
        is "$(owner "SELECT count(*) FROM $t")" 3 "$t: the refused TRUNCATE changed nothing"
    else
        is "$(shares_of "$t" 7)" 0 "$t: TRUNCATE forgot the table's shares (as on a local table)"
    fi
    sync_h
    as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 7, '$BOB', 'x') ON CONFLICT DO NOTHING" >/dev/null
    is "$(orphans "$t")" 0 "$t: no share outlives its row after TRUNCATE"
    # the truncate with unshared rows goes through
    as "$BOB" "$T1" "SELECT tenancy.unshare('$t', '7', to_user => '$CAROL')" >/dev/null
    sync_h
    out=$(owner "TRUNCATE $t")
    hasnt "$out" ERROR "$t: TRUNCATE of rows without shares goes through"
    sync_h
}

# shard_triggers TABLE: pg_tenancy's triggers on the shards held by worker 1
shard_triggers() {
    sql "$W1_PORT" postgres "SET citus.show_shards_for_app_name_prefixes = '*'" "SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
        WHERE c.relname ~ '^$1_[0-9]+\$' AND g.tgname LIKE 'tenancy_%'" | tail -n 1
}

for spec in "docs_ha hash after" "docs_hb hash before" "docs_hid hashid after" \
            "docs_ra ref after" "docs_rb ref before" "docs_pa part after" "docs_pb part before"; do
    set -- $spec
    out=$(make_table "$1" "$2" "$3")
    hasnt "$out" 'ERROR' "$1: protect() $3 distribution ($2)" 
    [ "$2" != part ] && { n=$(shard_triggers "$1"); [ "$n" -gt 0 ]; ok $? "$1: the guards are on the shards ($n triggers on worker 1)"; }
    sync_h
    attack "$1"
done

# partitions created later stay covered, on a table protected before and after
for t in docs_pa docs_pb; do
    out=$(owner "CREATE TABLE ${t}_p1 PARTITION OF $t FOR VALUES FROM (1000) TO (2000)")
    hasnt "$out" ERROR "$t: a partition created later"
    n=$(shard_triggers "${t}_p1"); [ "$n" -gt 0 ]; ok $? "$t: the guards are on the new partition's shards ($n)"
    sync_h
    out=$(as "$BOB" "$T1" "INSERT INTO $t VALUES ('$T1', 1500, '$BOB', 'x')" \
          "SELECT tenancy.share('$t', '1500', ARRAY['read', 'update'], to_user => '$CAROL') IS NOT NULL")
    hasnt "$out" ERROR "$t: share() on the new partition's row"
    sync_h
    out=$(as "$CAROL" "$T1" "UPDATE $t SET owner_id = '$CAROL' WHERE id = 1500")
    has "$out" 'ERROR:  42501: permission denied to change the owner' "$t: no ownership taken on the new partition's shards"
    out=$(as "$BOB" "$T1" "DELETE FROM $t WHERE id = 1500")
    exact_or_refused "$t" 1500 "$out" "DELETE on the new partition" || true
    sync_h
    is "$(orphans "$t")" 0 "$t: no share outlives its row on the new partition"
done

# without owner and id columns: isolation only, no triggers
out=$(owner "CREATE TABLE plain (tenant_id uuid NOT NULL, v int)" "CREATE INDEX ON plain (tenant_id)" \
      "SELECT create_distributed_table('plain', 'tenant_id')" \
      "INSERT INTO plain SELECT '$T1', g FROM generate_series(1, 3) g" \
      "INSERT INTO plain SELECT '$T2', g FROM generate_series(1, 5) g" \
      "SELECT tenancy.protect('plain')" "GRANT SELECT ON plain TO app" \
      "CREATE TABLE plainref (tenant_id uuid NOT NULL, v int)" "CREATE INDEX ON plainref (tenant_id)" \
      "SELECT tenancy.protect('plainref')" "SELECT create_reference_table('plainref')" \
      "INSERT INTO plainref SELECT '$T1', g FROM generate_series(1, 2) g" "GRANT SELECT ON plainref TO app")
hasnt "$out" ERROR "protect() without owner/id columns, distributed after and reference before"
sync_h
is "$(as "$CAROL" "$T1" "SELECT count(*) FROM plain" "SELECT count(*) FROM plainref" | tr '\n' ' ')" "3 2 " \
    "without owner/id columns: the tenant's rows only"

# unprotect() takes the triggers off every shard
for t in docs_ha docs_ra; do
    out=$(owner "SELECT tenancy.unprotect('$t')")
    hasnt "$out" ERROR "$t: unprotect()"
    is "$(shard_triggers "$t")" 0 "$t: unprotect() took the triggers off the shards"
    out=$(owner "SELECT tenancy.protect('$t', resource_type => '$t', owner_column => 'owner_id', id_column => 'id')")
    hasnt "$out" ERROR "$t: protect() again after unprotect()"
done
sync_h

echo "1..$N"
[ "$FAILED" -eq 0 ] || { echo "# $FAILED of $N failed" >&2; exit 1; }
