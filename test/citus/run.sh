#!/usr/bin/env bash
# test/citus/run.sh [PARENT] — pg_tenancy on a Citus cluster: a coordinator
# and two workers on 127.0.0.1 (a third joins later), set up with
# tenancy.citus_setup(), then the scenarios of issue 13.  TAP on stdout.
#   PG_BIN   server binaries with Citus and pg_tenancy (default: Debian's)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck source=cluster.sh
. "$HERE/cluster.sh"
PARENT=${1:-${TMPDIR:-/tmp}}
W=$(mktemp -d "$PARENT/citus.XXXXXX")
export CITUS_EXTRA_CONF="-c wal_level=logical -c max_wal_senders=20 -c max_replication_slots=20 -c max_worker_processes=16"
cleanup() { citus_cluster_stop "$W"; rm -rf "$W"; }
trap cleanup EXIT
citus_cluster_start "$W" >"$W/start.log" 2>&1 || { cat "$W/start.log" >&2; echo "Bail out! the cluster did not start"; exit 1; }
# shellcheck disable=SC1091
. "$W/env"

n=0; failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
is() { # is GOT WANT NAME
    if [ "$1" = "$2" ]; then pass "$3"; else fail "$3"; echo "#   got: '$1'"; echo "#  want: '$2'"; fi
}
like() { # like GOT REGEX NAME
    if echo "$1" | grep -q -E -- "$2"; then pass "$3"; else fail "$3"; echo "#   got: '$1'"; echo "#  want: /$2/"; fi
}
Q() { # Q PORT USER statements... : the rows, one line each, or the error
    local port=$1 user=$2 a=(); shift 2
    for s in "$@"; do a+=(-c "$s"); done
    "$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$port" -U "$user" -d "$CITUS_DB" "${a[@]}" 2>&1 |
        grep -a -v -E '^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|PREPARE|INSERT 0 [0-9]+|UPDATE [0-9]+|DELETE [0-9]+|COPY [0-9]+)?$' |
        grep -a -v -E '^(DETAIL|HINT|CONTEXT):' | tr '\n' ' ' | sed 's/ *$//'
}
C()   { Q "$COORD_PORT" postgres "$@"; }
APP() { Q "$COORD_PORT" app "$@"; }

BOB=b0000000-0000-0000-0000-000000000001
ALICE=a0000000-0000-0000-0000-000000000001
T1=10000000-0000-0000-0000-000000000001
T2=20000000-0000-0000-0000-000000000002

# -- set-up ------------------------------------------------------------------
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COORD_PORT" -U postgres -d "$CITUS_DB" \
    -f "$HERE/setup.sql" >"$W/setup.log" 2>&1 || { cat "$W/setup.log"; echo "Bail out! setup.sql failed"; exit 1; }
# The single-node reference: the same rows in a table of the coordinator
# (a Citus local table: every protected table must be known to Citus).
C "CREATE TABLE items_local (LIKE items INCLUDING ALL)" \
  "INSERT INTO items_local SELECT * FROM items" \
  "SELECT citus_add_local_table_to_metadata('items_local')" \
  "SELECT tenancy.protect('items_local', resource_type => 'item')" \
  "GRANT SELECT, INSERT, UPDATE, DELETE ON items_local TO app" >/dev/null
out=$(C "SELECT node || ' ' || status FROM tenancy.citus_setup()")
is "$out" "127.0.0.1:$W1_PORT ready 127.0.0.1:$W2_PORT ready" "citus_setup() makes both workers ready"

# Each hierarchy table's rows, as one digest per table.
DIGEST="SELECT string_agg(c.relname || '=' || (xpath('/row/d/text()',
          query_to_xml(format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) AS d FROM tenancy.%I t',
                              ',', '', c.relname), false, false, '')))[1]::text, ' ' ORDER BY c.relname)
        FROM pg_class c WHERE c.relnamespace = 'tenancy'::regnamespace AND c.relkind = 'r'"
coord_digest=$(C "$DIGEST")
is "$(Q "$W1_PORT" postgres "$DIGEST")" "$coord_digest" "worker 1 holds the coordinator's hierarchy, table for table"
is "$(Q "$W2_PORT" postgres "$DIGEST")" "$coord_digest" "worker 2 holds the coordinator's hierarchy, table for table"
is "$(C "SELECT count(*) FROM tenancy.check_setup() WHERE check_name = 'citus_node_not_ready'")" "0" \
   "check_setup() finds every worker ready"
like "$(Q "$W1_PORT" postgres "SELECT tenancy.create_organization('rogue', 'Rogue')")" \
     "cannot change the tenancy hierarchy on a Citus worker" "the hierarchy cannot be changed on a worker"
is "$(C "SHOW synchronous_commit")" "local" "other transactions on the coordinator do not wait for the workers"

# -- every way of setting the context reaches the workers ---------------------
is "$(APP "BEGIN" "SELECT tenancy.set_context('$ALICE', '$T2')::text" "SELECT count(*) FROM items" \
          "SELECT tenancy.set_context('$BOB', '$T1')::text" "SELECT count(*) FROM items" "COMMIT")" \
   "20 10" "set_context() reaches the workers; a change reaches connections opened before"
is "$(APP "BEGIN" "SELECT tenancy.set_context('$BOB', '$T1')::text" "SELECT count(*) FROM items" \
          "SELECT tenancy.clear_context()::text" "SELECT count(*) FROM items" "COMMIT")" \
   "10 0" "clear_context() reaches the workers"
is "$(APP "BEGIN" "SET LOCAL tenancy.context = '$ALICE/$T2'" "SELECT count(*) FROM items" \
          "SET LOCAL tenancy.context = '$BOB/$T1'" "SELECT count(*) FROM items" "COMMIT")" \
   "20 10" "SET LOCAL tenancy.context reaches the workers, without citus.propagate_set_commands"
is "$(APP "BEGIN; SET LOCAL tenancy.context = '$BOB/$T1'; SELECT count(*) FROM items; COMMIT;")" \
   "10" "SET LOCAL in a multi-statement query string"
is "$(APP "BEGIN" "SELECT set_config('tenancy.context', '$ALICE/$T2', true) IS NOT NULL" "SELECT count(*) FROM items" \
          "SELECT set_config('tenancy.context', '$BOB/$T1', true) IS NOT NULL" "SELECT count(*) FROM items" "COMMIT")" \
   "t 20 t 10" "set_config(..., true) reaches the workers, also a change of it"
C "CREATE FUNCTION bob_t1_count() RETURNS bigint LANGUAGE sql SET tenancy.context = '$BOB/$T1'
     AS 'SELECT count(*) FROM items'" "GRANT EXECUTE ON FUNCTION bob_t1_count() TO app" >/dev/null
is "$(APP "BEGIN" "SELECT tenancy.set_context('$ALICE', '$T2')::text" "SELECT bob_t1_count()" "SELECT count(*) FROM items" "COMMIT")" \
   "10 20" "a function's SET clause reaches the workers, and ends with the function"
is "$(APP "BEGIN" "SELECT tenancy.set_context('$ALICE', '$T2')::text" "SELECT count(*) FROM items" "SAVEPOINT s" \
          "SELECT tenancy.set_context('$BOB', '$T1')::text" "SELECT count(*) FROM items" "ROLLBACK TO SAVEPOINT s" \
          "SELECT count(*) FROM items" "COMMIT")" \
   "20 10 20" "ROLLBACK TO SAVEPOINT restores the earlier context on the workers"
is "$(APP "BEGIN" "SELECT tenancy.set_context('$BOB', '$T1')::text" "SELECT count(*) FROM items" "COMMIT" \
          "SELECT count(*) FROM items" "BEGIN" "SELECT count(*) FROM items" "COMMIT")" \
   "10 0 0" "nothing of the context survives the transaction on any node"
like "$(APP "SET tenancy.context = '$BOB/$T1'" "BEGIN" "SELECT count(*) FROM items" "COMMIT")" \
   "(^| )0$" "attack: a context set for the session counts on no node"
like "$(APP "BEGIN" "SELECT tenancy.set_context('$BOB', '$T1')::text" "SET LOCAL tenancy.coordinator_epoch = 0" "COMMIT")" \
     "cannot be lowered" "attack: the hierarchy version forwarded with the context cannot be lowered"
is "$(APP "BEGIN" "SET LOCAL citus.propagate_set_commands = local" "SET LOCAL tenancy.context = '$BOB'" \
          "SELECT count(*) FROM items" "COMMIT")" "30" "with citus.propagate_set_commands = local the context still reaches the workers once"
is "$(APP "SELECT count(*) FROM items" "SELECT sum(result::int) FROM run_command_on_shards('items', 'SELECT count(*) FROM %s')")" \
   "0 0" "attack: without a context, no rows through the coordinator nor from the shards themselves"
shard=$(C "SELECT shard_name('items', shardid) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid) WHERE logicalrelid = 'items'::regclass AND n.nodeport = $W1_PORT LIMIT 1")
is "$(Q "$W1_PORT" app "SELECT count(*) FROM $shard")" "0" "attack: a shard read directly on a worker, without a context: no rows"
is "$(Q "$W1_PORT" app "SET tenancy.coordinator_epoch = 0" "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T2'" "SELECT count(*) FROM items" "COMMIT")" \
   "$(APP "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T2'" "SELECT count(*) FROM items" "COMMIT")" \
   "a worker's own copy decides as the coordinator does"

# -- the same rows as a single node ---------------------------------------------
same() { # same NAME statements... (TBL stands for the table): distributed = local
    local name=$1 a=() b=(); shift
    for s in "$@"; do a+=("${s//TBL/items}"); b+=("${s//TBL/items_local}"); done
    local got want
    # the error names the shard: items_102008, items_local_102016
    got=$(APP "${a[@]}" | sed -E 's/items(_local)?(_[0-9]+)?/items/g'); want=$(APP "${b[@]}" | sed -E 's/items(_local)?(_[0-9]+)?/items/g')
    if [ "$got" = "$want" ] && [ -n "$want" ]; then pass "$name (as a single node: $want)"
    else fail "$name"; echo "#   distributed: '$got'"; echo "#   single node: '$want'"; fi
}
VIEW="SELECT count(*) || '/' || coalesce(sum(id), 0) || '/' || coalesce(md5(string_agg(name, ',' ORDER BY tenant_id, id)), '-') FROM TBL"
for ctx in "$BOB/$T1" "$BOB" "$ALICE/$T2" "$ALICE"; do
    same "router and multi-shard SELECT under $ctx" "BEGIN" "SET LOCAL tenancy.context = '$ctx'" "$VIEW" \
         "SELECT id FROM TBL WHERE tenant_id = '$T1' AND id = 3" "SELECT id FROM TBL WHERE tenant_id = '$T2' AND id = 3" "ROLLBACK"
done
same "INSERT, UPDATE, DELETE in and out of the tenant" "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T1'" \
     "INSERT INTO TBL VALUES ('$T1', 100, NULL, 'new') RETURNING id" \
     "UPDATE TBL SET name = name || '!' WHERE id <= 5 RETURNING id" \
     "DELETE FROM TBL WHERE id IN (2, 100) RETURNING id" "$VIEW" "SAVEPOINT a" \
     "INSERT INTO TBL VALUES ('$T2', 101, NULL, 'elsewhere')" "ROLLBACK TO SAVEPOINT a" \
     "UPDATE TBL SET name = 'x' WHERE tenant_id = '$T2' RETURNING id" "ROLLBACK"
same "INSERT ... SELECT" "BEGIN" "SET LOCAL tenancy.context = '$BOB'" \
     "INSERT INTO TBL SELECT tenant_id, id + 1000, owner_id, name FROM TBL WHERE id <= 3" "$VIEW" "ROLLBACK"
# COPY FROM a table with row-level security is refused by PostgreSQL itself.
same "COPY out, under a tenant and across tenants" "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T1'" \
     "COPY (SELECT * FROM TBL ORDER BY tenant_id, id) TO STDOUT" "SELECT tenancy.set_context('$BOB')::text" \
     "COPY (SELECT id FROM TBL ORDER BY tenant_id, id) TO STDOUT" "ROLLBACK"
same "savepoints and a context change mid-transaction" "BEGIN" "SELECT tenancy.set_context('$ALICE', '$T2')::text" \
     "$VIEW" "SAVEPOINT a" "DELETE FROM TBL WHERE id > 15" "SELECT tenancy.set_context('$BOB', '$T1')::text" "$VIEW" \
     "ROLLBACK TO SAVEPOINT a" "$VIEW" "SELECT tenancy.set_context('$BOB')::text" "$VIEW" "ROLLBACK"

# -- shard pruning and plans across contexts ----------------------------------
tasks() { APP "BEGIN" "$1" "EXPLAIN (COSTS OFF) SELECT * FROM items" "COMMIT" | grep -o 'Task Count: [0-9]*' | head -1; }
is "$(tasks "SELECT tenancy.set_context('$BOB', '$T1')::text")" "Task Count: 1" "a context with a tenant prunes to that tenant's shard"
is "$(APP "BEGIN" "EXPLAIN (COSTS OFF) SELECT * FROM items WHERE tenant_id = '$T1'" "COMMIT" | grep -o 'Task Count: [0-9]*')" \
   "Task Count: 1" "as a hand-written filter on the tenant does"
is "$(tasks "SELECT tenancy.set_context('$BOB')::text")" \
   "$(APP "BEGIN" "EXPLAIN (COSTS OFF) SELECT * FROM items WHERE tenant_id IN ('$T1', '$T2')" "COMMIT" | grep -o 'Task Count: [0-9]*')" \
   "a context without a tenant asks only the shards of the user's tenants, as a hand-written list does"
is "$(APP "SET plan_cache_mode = force_generic_plan" "PREPARE q AS SELECT count(*) FROM items" \
          "BEGIN" "SELECT tenancy.set_context('$BOB', '$T1')::text" "EXECUTE q" "COMMIT" \
          "BEGIN" "SELECT tenancy.set_context('$ALICE', '$T2')::text" "EXECUTE q" "COMMIT" \
          "BEGIN" "SELECT tenancy.set_context('$BOB')::text" "EXECUTE q" "COMMIT" \
          "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T2'" "EXECUTE q" "COMMIT" \
          "BEGIN" "SELECT tenancy.set_context('$BOB', '$T1')::text" "EXECUTE q" "COMMIT" "BEGIN" "EXECUTE q" "COMMIT")" \
   "10 20 30 20 10 0" "a prepared statement's generic plan is right in every context"

# -- changes are seen by warm worker backends at the next statement -------------
C "SELECT tenancy.create_team((SELECT id FROM tenancy.organizations WHERE slug = 'acme'), 'ops') AS team" >"$W/team"
TEAM=$(cat "$W/team")
C "SELECT tenancy.create_role((SELECT id FROM tenancy.organizations WHERE slug = 'acme'), 'item_reader', 'tenant', '{item:read}')" >/dev/null
ROLE_ID=$(C "SELECT id FROM tenancy.roles WHERE name = 'item_reader'")
STEP="BEGIN; SELECT tenancy.set_context('$BOB'); SELECT count(*) FROM items; COMMIT;"
mgmt() { printf '\\! %s/psql -X -q -h 127.0.0.1 -p %s -U postgres -d %s -c %q >/dev/null\n' "$PG_BIN" "$COORD_PORT" "$CITUS_DB" "$1"; }
{
    echo "$STEP"
    mgmt "SELECT tenancy.revoke_role('editor', tenant => '$T2', user_id => '$BOB')"; echo "$STEP"
    mgmt "SELECT tenancy.add_team_member('$TEAM', '$BOB'); SELECT tenancy.assign_role('editor', tenant => '$T2', team_id => '$TEAM')"; echo "$STEP"
    mgmt "SELECT tenancy.remove_team_member('$TEAM', '$BOB')"; echo "$STEP"
    mgmt "SELECT tenancy.assign_role('item_reader', tenant => '$T2', user_id => '$BOB')"; echo "$STEP"
    mgmt "SELECT tenancy.alter_role('$ROLE_ID', '{item:create}')"; echo "$STEP"
    mgmt "SELECT tenancy.deactivate_user('$BOB')"; echo "$STEP"
    mgmt "SELECT tenancy.reactivate_user('$BOB')"; echo "$STEP"
} >"$W/warm.sql"
chmod a+r "$W/warm.sql"
got=$("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$COORD_PORT" -U app -d "$CITUS_DB" -f "$W/warm.sql" 2>&1 |
      grep -v -E '^(BEGIN|COMMIT|)$' | tr '\n' ' ' | sed 's/ *$//')
like "$got" "^30 10 30 10 30 10 .*ERROR: +user is not an active member.* 10$" \
   "one session: a revoke, a team's grant and its removal, a role's grant and change, a deactivation and reactivation, each seen at the next statement"

# -- a worker that is down or behind ----------------------------------------------
REVOKE="SELECT tenancy.revoke_role('item_reader', tenant => '$T2', user_id => '$BOB')"
ASSIGN="SELECT tenancy.assign_role('item_reader', tenant => '$T2', user_id => '$BOB')"
C "SELECT tenancy.alter_role('$ROLE_ID', '{item:read}')" >/dev/null
is "$(APP "$STEP")" "30" "(bob reads both tenants again)"
as_server_user "$PG_BIN/pg_ctl" -D "$W/w2/data" -m fast -w -s stop
( C "$REVOKE" >"$W/revoke.out" 2>&1 ) &
bg=$!
waiting=0
for _ in $(seq 50); do
    [ "$(C "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")" = 1 ] && { waiting=1; break; }
    sleep 0.1
done
is "$waiting" 1 "with a worker down, a management command waits for it"
is "$(APP "$STEP" | grep -c -E '^[0-9]+$')" "0" "while it waits, a query reaching the stopped worker fails (no stale rows)"
as_server_user "$PG_BIN/pg_ctl" -D "$W/w2/data" -l "$W/w2/server.log" -w -s start
wait $bg
is "$(cat "$W/revoke.out")" "t" "the worker back, the management command completes"
is "$(APP "$STEP")" "10" "and every worker honours it"
Q "$W2_PORT" postgres "ALTER SUBSCRIPTION tenancy_node_3 DISABLE" >/dev/null
( C "$ASSIGN" >"$W/assign.out" 2>&1 ) &
bg=$!
for _ in $(seq 50); do
    [ "$(C "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")" = 1 ] && break
    sleep 0.1
done
C "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'" >/dev/null
wait $bg
like "$(cat "$W/assign.out")" "canceling wait for synchronous replication" "(a cancelled wait: committed on the coordinator, not on worker 2)"
like "$(APP "$STEP")" "hierarchy on this node is behind the coordinator" \
     "the lagging worker refuses to decide rather than use its stale copy"
Q "$W2_PORT" postgres "ALTER SUBSCRIPTION tenancy_node_3 ENABLE" >/dev/null
caught=0
for _ in $(seq 50); do [ "$(APP "$STEP")" = 30 ] && { caught=1; break; }; sleep 0.2; done
is "$caught" 1 "caught up, the worker decides again, with the change"

# -- a node added later ---------------------------------------------------------------
W3_PORT=$(free_port)
citus_node_start "$W/w3" "$W3_PORT" >/dev/null
"$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$W3_PORT" -U postgres -d postgres -c "CREATE DATABASE $CITUS_DB" >/dev/null
Q "$W3_PORT" postgres "CREATE EXTENSION citus" >/dev/null
C "SELECT citus_add_node('127.0.0.1', $W3_PORT)" >/dev/null
is "$(C "SELECT object FROM tenancy.check_setup() WHERE check_name = 'citus_node_not_ready'")" "127.0.0.1:$W3_PORT" \
   "check_setup() reports the node added by citus_add_node()"
is "$(C "SELECT status FROM tenancy.citus_setup() ORDER BY node")" "ready ready ready" "citus_setup() again makes it ready"
is "$(Q "$W3_PORT" postgres "$DIGEST")" "$(C "$DIGEST")" "the new worker holds the coordinator's hierarchy"
C "SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')" "SELECT citus_rebalance_wait()" >/dev/null 2>&1
is "$(C "SELECT count(*) > 0 FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE n.nodeport = $W3_PORT")" "t" \
   "(shards moved to the new worker)"
is "$(APP "$STEP" "BEGIN; SELECT tenancy.set_context('$BOB', '$T1'); SELECT count(*) FROM items; COMMIT;")" "30 10" \
   "queries reaching the new worker's shards decide as before"

# -- signed contexts ----------------------------------------------------------------
SECRET='a citus test secret of at least thirty-two bytes'
C "SELECT tenancy.add_signing_key('hs-1', 'HS256', '$SECRET')" >/dev/null
for port in "$COORD_PORT" "$W1_PORT" "$W2_PORT" "$W3_PORT"; do
    Q "$port" postgres "ALTER SYSTEM SET tenancy.require_signed_context = on" "SELECT pg_reload_conf()" >/dev/null
done
sleep 0.5
token() { # token USER TENANT EXP [SECRET]
    python3 - "${4:-$SECRET}" "$1" "$2" "$3" <<'PY'
import base64, hmac, hashlib, json, sys
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
secret, sub, tenant, exp = sys.argv[1:5]
claims = {"sub": sub, "exp": int(exp)}
if tenant: claims["tenant"] = tenant
h = b(json.dumps({"alg": "HS256", "kid": "hs-1"}, separators=(",", ":")).encode())
p = b(json.dumps(claims, separators=(",", ":")).encode())
s = b(hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest())
print(h + "." + p + "." + s)
PY
}
later=$(( $(date +%s) + 3600 ))
TB=$(token "$BOB" "$T1" "$later"); TA=$(token "$ALICE" "$T2" "$later")
is "$(APP "BEGIN" "SELECT tenancy.set_context_token('$TA')::text" "SELECT count(*) FROM items" \
          "SET LOCAL tenancy.context = '$TB'" "SELECT count(*) FROM items" "SELECT tenancy.clear_context()::text" \
          "SELECT count(*) FROM items" "COMMIT")" "20 10 0" "signed: set_context_token, SET LOCAL of a token and clearing reach the workers"
like "$(APP "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T1'" "SELECT count(*) FROM items" "COMMIT")" "invalid context token" \
   "signed: an unsigned context is refused"
soon=$(( $(date +%s) + 2 ))
TS=$(token "$BOB" "$T1" "$soon")
like "$(APP "BEGIN" "SELECT tenancy.set_context_token('$TS')::text" "SELECT count(*) FROM items" "SELECT pg_sleep(3)" \
          "SELECT count(*) FROM items" "COMMIT")" "^10 (0|ERROR: +invalid context token.*)$" "signed: a token that expires mid-transaction stops counting on the workers"
like "$(APP "BEGIN" "SELECT tenancy.set_context_token('$(token "$BOB" "$T1" "$later" 'another secret of at least thirty-two bytes')')" "COMMIT")" \
     "ERROR" "signed: a forged token is refused"
for port in "$COORD_PORT" "$W1_PORT" "$W2_PORT" "$W3_PORT"; do
    Q "$port" postgres "ALTER SYSTEM RESET tenancy.require_signed_context" "SELECT pg_reload_conf()" >/dev/null
done

# -- the model-based test ----------------------------------------------------------
if [ -x "$HERE/model.sh" ] || [ -f "$HERE/model.sh" ]; then
    while IFS= read -r line; do
        case "$line" in
            "ok "*) pass "model: ${line#ok * - }" ;;
            "not ok "*) fail "model: ${line#not ok * - }" ;;
            "#"*) echo "$line" ;;
        esac
    done < <(bash "$HERE/model.sh" "$W" 2>&1)
fi

echo "1..$n"
[ "$failed" -eq 0 ]
