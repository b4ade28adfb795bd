#!/usr/bin/env bash
# test/citus/lr.sh WORKDIR — measures logical replication of tenancy.* from
# the coordinator to both workers with synchronous apply (issue 13, 3b).
# Needs a cluster started with
#   CITUS_EXTRA_CONF="-c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10"
# and probe.sh's setup (it runs setup.sql when items is missing).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${1:?WORKDIR}
N=${N:-20}
# shellcheck disable=SC1091
. "$W/env"
. "$HERE/cluster.sh"
P="$PG_BIN/psql -X -h 127.0.0.1 -d $CITUS_DB"
C()  { $P -p "$COORD_PORT" -U postgres "$@" 2>&1; }
Wn() { local port=$1; shift; $P -p "$port" -U postgres "$@" 2>&1; }
BOB=b0000000-0000-0000-0000-000000000001
T1=10000000-0000-0000-0000-000000000001
T2=20000000-0000-0000-0000-000000000002
ms() { date +%s%N; }

[ "$(C -At -c "SELECT to_regclass('items') IS NOT NULL")" = t ] || C -q -f "$HERE/setup.sql" >/dev/null

# N revoke+assign pairs, one autocommit statement each: ms per command
mgmt_cost() {
    local f t0 t1
    f=$(mktemp)
    for _ in $(seq "$N"); do
        echo "SELECT tenancy.revoke_role('editor', tenant => '$T1', user_id => '$BOB');"
        echo "SELECT tenancy.assign_role('editor', tenant => '$T1', user_id => '$BOB');"
    done >"$f"
    t0=$(ms); C -q -f "$f" >/dev/null; t1=$(ms); rm -f "$f"
    echo "scale=2; ($t1 - $t0) / 1000000 / (2 * $N)" | bc
}
# N multi-shard UPDATEs (2PC: the coordinator writes pg_dist_transaction)
mshard_cost() {
    local f t0 t1
    f=$(mktemp)
    for _ in $(seq "$N"); do echo "UPDATE items SET name = name;"; done >"$f"
    t0=$(ms); C -q -f "$f" >/dev/null; t1=$(ms); rm -f "$f"
    echo "scale=2; ($t1 - $t0) / 1000000 / $N" | bc
}
# N single-shard INSERT+DELETE (router, 1PC on one worker)
router_cost() {
    local f t0 t1
    f=$(mktemp)
    for i in $(seq "$N"); do echo "INSERT INTO items VALUES ('$T1', 1000+$i); DELETE FROM items WHERE tenant_id='$T1' AND id=1000+$i;"; done >"$f"
    t0=$(ms); C -q -f "$f" >/dev/null; t1=$(ms); rm -f "$f"
    echo "scale=2; ($t1 - $t0) / 1000000 / (2 * $N)" | bc
}
# bob's visible tenants for item:read, asked directly on a worker
bob_on() { Wn "$1" -At -c "BEGIN" -c "SET LOCAL tenancy.context = '$BOB'" -c "SELECT coalesce(array_length(tenancy.visible_tenants('item:read'),1),0)" -c "COMMIT" | grep -v -E '^(BEGIN|COMMIT|SET)$'; }

if [ -z "${LR_FROM:-}" ]; then
echo "== baseline (no subscribers): ms per management command / multi-shard UPDATE / router write"
echo "mgmt_none=$(mgmt_cost) mshard_none=$(mshard_cost) router_none=$(router_cost)"

echo "== publication + subscriptions"
C -q -c "SET citus.enable_ddl_propagation = off; CREATE PUBLICATION tenancy_pub FOR TABLES IN SCHEMA tenancy;"
tables=$(C -At -c "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables WHERE schemaname = 'tenancy'")
for pair in "w1:$W1_PORT" "w2:$W2_PORT"; do
    name=${pair%%:*}; port=${pair#*:}
    PGOPTIONS='-c session_replication_role=replica' Wn "$port" -q -c "TRUNCATE $tables CASCADE" >/dev/null
    Wn "$port" -q -c "CREATE SUBSCRIPTION tenancy_$name CONNECTION 'host=127.0.0.1 port=$COORD_PORT dbname=$CITUS_DB user=postgres' PUBLICATION tenancy_pub WITH (copy_data = true)"
done
for port in "$W1_PORT" "$W2_PORT"; do
    for _ in $(seq 60); do
        [ "$(Wn "$port" -At -c "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ] && break
        sleep 0.5
    done
    Wn "$port" -At -c "SELECT 'synced on $port: orgs=' || (SELECT count(*) FROM tenancy.organizations) || ' assignments=' || (SELECT count(*) FROM tenancy.role_assignments)"
done
C -q -c "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 2 (tenancy_w1, tenancy_w2)'" \
     -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
C -At -c "SELECT application_name, sync_state FROM pg_stat_replication ORDER BY 1"

echo "== with 2 synchronous subscribers (remote_apply)"
echo "mgmt_sync=$(mgmt_cost) mshard_sync=$(mshard_cost) router_sync=$(router_cost)"

echo "== revoke visibility at the next statement, warm worker backends, WITHOUT a worker trigger"
# one app session on the coordinator keeps its cached worker connections
# (citus.max_cached_conns_per_worker) and so the same worker backends.
revoke_probe() {
    $P -p "$COORD_PORT" -U app -At \
      -c "BEGIN" -c "SET LOCAL citus.propagate_set_commands='local'" -c "SET LOCAL tenancy.context = '$BOB'" -c "SELECT 'warm (30): ' || count(*) FROM items" -c "COMMIT" \
      -c "\\! $PG_BIN/psql -X -q -h 127.0.0.1 -p $COORD_PORT -U postgres -d $CITUS_DB -c \"SELECT tenancy.revoke_role('editor', tenant => '$T2', user_id => '$BOB')\" >/dev/null" \
      -c "BEGIN" -c "SET LOCAL citus.propagate_set_commands='local'" -c "SET LOCAL tenancy.context = '$BOB'" -c "SELECT 'next statement after revoke (expect 10): ' || count(*) FROM items" -c "COMMIT" 2>&1 | grep -v -E '^(BEGIN|COMMIT|SET)$'
    $P -p "$COORD_PORT" -U app -At \
      -c "BEGIN" -c "SET LOCAL citus.propagate_set_commands='local'" -c "SET LOCAL tenancy.context = '$BOB'" -c "SELECT 'cold (expect 10): ' || count(*) FROM items" -c "COMMIT" 2>&1 | grep -v -E '^(BEGIN|COMMIT|SET)$'
    C -q -c "SELECT tenancy.assign_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null
}
revoke_probe

echo "== the same WITH row-level ENABLE ALWAYS triggers on the worker copies (same arguments as the statement-level ones: by bucket)"
for port in "$W1_PORT" "$W2_PORT"; do
    Wn "$port" -q -c "DO \$\$DECLARE r record; BEGIN
      FOR r IN SELECT c.relname, substring(pg_get_triggerdef(g.oid) FROM '_invalidate_cache\((.*)\)\$') AS args
               FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'tenancy' AND g.tgfoid = 'tenancy._invalidate_cache'::regproc
                 AND g.tgname IN ('invalidate_cache_insert', 'invalidate_cache') LOOP
        EXECUTE format('CREATE TRIGGER lr_invalidate AFTER INSERT OR UPDATE OR DELETE ON tenancy.%I FOR EACH ROW EXECUTE FUNCTION tenancy._invalidate_cache(%s)', r.relname, r.args);
        EXECUTE format('ALTER TABLE tenancy.%I ENABLE ALWAYS TRIGGER lr_invalidate', r.relname);
      END LOOP; END\$\$"
done
Wn "$W1_PORT" -At -c "SELECT 'w1 row triggers: ' || count(*) FROM pg_trigger WHERE tgname = 'lr_invalidate'"
revoke_probe

fi

outage() {
echo "== a subscriber stops applying (subscription disabled on w2, server up): does COMMIT wait, can w2 leak?"
C -q -c "SELECT tenancy.assign_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null
Wn "$W2_PORT" -q -c "ALTER SUBSCRIPTION tenancy_w2 DISABLE"
# statement_timeout does not end a COMMIT's wait for synchronous replication
# (PostgreSQL disables it before committing): cancel it by pid after 3 s.
C -q -c "SET statement_timeout = '1s'" -c "SELECT tenancy.revoke_role('editor', tenant => '$T2', user_id => '$BOB')" >"$W/lr_revoke.out" 2>&1 &
sleep 3
C -At -c "SELECT 'waiting: ' || wait_event || ' for ' || round(extract(epoch FROM now() - query_start))::int || ' s (statement_timeout 1s)' FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
echo "while COMMIT waits: coordinator's other sessions see $(C -At -c "SELECT count(*) FROM tenancy.role_assignments") assignments (2 = not yet); bob's visible tenants w1=$(bob_on "$W1_PORT") w2=$(bob_on "$W2_PORT")"
C -At -c "SELECT 'cancelled: ' || pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
wait
cat "$W/lr_revoke.out"
echo "after the cancel: coordinator $(C -At -c "SELECT count(*) FROM tenancy.role_assignments") assignments; bob's visible tenants w1=$(bob_on "$W1_PORT") w2=$(bob_on "$W2_PORT") (2 = stale decision on w2)"
Wn "$W2_PORT" -q -c "ALTER SUBSCRIPTION tenancy_w2 ENABLE"
sleep 2
echo "after re-enabling: w2=$(bob_on "$W2_PORT")"
C -q -c "SELECT tenancy.assign_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null

echo "== a worker server down (w2 stopped): does a management command wait?"
as_srv() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_srv "$PG_BIN/pg_ctl" -D "$W/w2/data" -m fast -w -s stop
C -q -c "SELECT tenancy.revoke_role('editor', tenant => '$T2', user_id => '$BOB')" >"$W/lr_revoke.out" 2>&1 &
sleep 3
C -At -c "SELECT 'waiting: ' || wait_event FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
echo "a t1 read via the coordinator while w2 is down and the revoke waits:"
$P -p "$COORD_PORT" -U app -At -c "BEGIN" -c "SET LOCAL citus.propagate_set_commands='local'" -c "SET LOCAL tenancy.context = '$BOB'" -c "SELECT count(*) FROM items" -c "COMMIT" 2>&1 | grep -v -E '^(BEGIN|COMMIT|SET)$' | head -2
as_srv "$PG_BIN/pg_ctl" -D "$W/w2/data" -l "$W/w2/server.log" -w -s start
wait
t=$(C -At -c "SELECT count(*) FROM tenancy.role_assignments")
echo "w2 back: revoke returned ($(cat "$W/lr_revoke.out")); coordinator $t assignments; bob visible tenants w2=$(bob_on "$W2_PORT") (1 = caught up)"
C -q -c "SELECT tenancy.assign_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null
}

addnode() {
echo "== citus_add_node of a third node: what it gets"
port=$(free_port)
CITUS_NO_TENANCY=1 citus_node_start "$W/w3" "$port" >/dev/null
Wn "$port" -d postgres -q -c "CREATE DATABASE $CITUS_DB"
Wn "$port" -q -c "CREATE EXTENSION citus"
C -q -c "SELECT citus_add_node('127.0.0.1', $port)" >/dev/null
Wn "$port" -At -c "SELECT 'w3: pg_tenancy ' || coalesce((SELECT extversion FROM pg_extension WHERE extname='pg_tenancy'),'missing') || ', orgs=' || (SELECT count(*) FROM tenancy.organizations) || ', subscriptions=' || (SELECT count(*) FROM pg_subscription)"
echo "commit with a third node but synchronous_standby_names still FIRST 2 (w1, w2):"
C -q -c "SELECT tenancy.revoke_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null
echo "bob visible tenants w3=$(bob_on "$port") (no data: the hierarchy is empty there)"
C -q -c "SELECT tenancy.assign_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null
}

bench() {
echo "== alternating rounds (N=$N each): synchronous_standby_names '' vs FIRST 2, synchronous_commit remote_apply"
local r
for r in 1 2 3; do
    C -q -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
    echo "round $r none: mgmt=$(mgmt_cost) mshard=$(mshard_cost) router=$(router_cost)"
    C -q -c "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 2 (tenancy_w1, tenancy_w2)'" -c "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
    echo "round $r sync: mgmt=$(mgmt_cost) mshard=$(mshard_cost) router=$(router_cost)"
done
}

case "${LR_FROM:-all}" in
    bench) bench ;;
    outage) outage; addnode ;;
    addnode) addnode ;;
    *) outage; addnode ;;
esac
