#!/usr/bin/env bash
# test/citus/probe.sh WORKDIR — reproduces the observations of issue 13 on a
# cluster started by test/citus/cluster.sh (fresh: it runs setup.sql).
# Prints one "== Ox ..." header per observation, then what the nodes answered.
# Not a pass/fail test: read the output (docs of findings: the branch's report).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${1:?WORKDIR}
# shellcheck disable=SC1091
. "$W/env"
P="$PG_BIN/psql -X -h 127.0.0.1 -d $CITUS_DB"
C()  { $P -p "$COORD_PORT" -U postgres "$@" 2>&1; }
CA() { $P -p "$COORD_PORT" -U app "$@" 2>&1; }
# Each statement its own -c: Citus forwards the WHOLE query string that
# contained a SET LOCAL, so "BEGIN; SET LOCAL ...; SELECT ..." in one simple
# query would be replayed on the workers.
CAs() { local a=(); for q in "$@"; do a+=(-c "$q"); done; $P -p "$COORD_PORT" -U app "${a[@]}" 2>&1; }
Cs()  { local a=(); for q in "$@"; do a+=(-c "$q"); done; $P -p "$COORD_PORT" -U postgres "${a[@]}" 2>&1; }
W1() { $P -p "$W1_PORT" -U postgres "$@" 2>&1; }
W2() { $P -p "$W2_PORT" -U postgres "$@" 2>&1; }
BOB=b0000000-0000-0000-0000-000000000001
ALICE=a0000000-0000-0000-0000-000000000001
T1=10000000-0000-0000-0000-000000000001
T2=20000000-0000-0000-0000-000000000002

# Copies every tenancy.* table from the coordinator to both workers, with
# triggers off (session_replication_role = replica), as a naive sync would.
sync_copy() { bash -c ". $HERE/probe_sync.sh $W"; }

echo "== setup"
C -q -v ON_ERROR_STOP=1 -f "$HERE/setup.sql" >/dev/null || { echo "setup failed"; C -f "$HERE/setup.sql"; exit 1; }
C -q -c "CREATE FUNCTION public.ctx_exec(v text) RETURNS void LANGUAGE plpgsql AS
  \$\$BEGIN EXECUTE pg_catalog.format('SET LOCAL tenancy.context = %L', v); END\$\$;
  GRANT EXECUTE ON FUNCTION public.ctx_exec(text) TO app;" >/dev/null
# the same, with propagation switched on only for the SET (a function SET
# clause): the design candidate for set_context in C (NewGUCNestLevel + SPI)
C -q -c "CREATE FUNCTION public.ctx_proto(v text) RETURNS void LANGUAGE plpgsql
  SET citus.propagate_set_commands = 'local' AS
  \$\$BEGIN EXECUTE pg_catalog.format('SET LOCAL tenancy.context = %L', v); END\$\$;
  GRANT EXECUTE ON FUNCTION public.ctx_proto(text) TO app;" >/dev/null

echo "== O1 empty hierarchy on workers after CREATE EXTENSION on the coordinator"
for f in W1 W2; do $f -At -c "SELECT '$f', (SELECT count(*) FROM tenancy.organizations) orgs,
     (SELECT count(*) FROM tenancy.resource_types WHERE name='item') item_type,
     (SELECT extversion FROM pg_extension WHERE extname='pg_tenancy') ext"; done
CAs "BEGIN" "SET LOCAL citus.propagate_set_commands='local'" "SET LOCAL tenancy.context = '$BOB/$T1'" \
    "SELECT count(*) AS bob_t1_expect_10 FROM items" "COMMIT"
echo "-- a worker asked directly, context set there"
$P -p "$W1_PORT" -U postgres -c "BEGIN" -c "SET LOCAL tenancy.context = '$BOB/$T1'" 2>&1 | tail -2
$P -p "$W1_PORT" -U postgres -c "SELECT tenancy.visible_tenants('item:read')" 2>&1 | tail -2

sync_copy
echo "== (hierarchy copied to the workers)"

echo "== O2 set_context / set_config / SET LOCAL / plpgsql EXECUTE (bob on t1: 10 rows expected)"
echo "-- a. set_context(), propagate=local"
CAs "BEGIN" "SET LOCAL citus.propagate_set_commands='local'" "SELECT tenancy.set_context('$BOB','$T1')" \
    "SELECT count(*) AS set_context_10 FROM items" "COMMIT"
echo "-- b. set_config(..., true), propagate=local"
CAs "BEGIN" "SET LOCAL citus.propagate_set_commands='local'" "SELECT set_config('tenancy.context','$BOB/$T1',true) IS NOT NULL" \
    "SELECT count(*) AS set_config_10 FROM items" "COMMIT"
echo "-- c. SET LOCAL, propagate=none (default)"
CAs "BEGIN" "SET LOCAL tenancy.context = '$BOB/$T1'" "SELECT count(*) AS set_local_none_10 FROM items" "COMMIT"
echo "-- d. SET LOCAL, propagate=local"
CAs "BEGIN" "SET LOCAL citus.propagate_set_commands='local'" "SET LOCAL tenancy.context = '$BOB/$T1'" \
    "SELECT count(*) AS set_local_10 FROM items" "COMMIT"
echo "-- d2. SET LOCAL inside a multi-statement query string (pitfall: the whole string is forwarded)"
CAs "BEGIN; SET LOCAL citus.propagate_set_commands='local'; SET LOCAL tenancy.context = '$BOB/$T1'; SELECT count(*) AS multi_10 FROM items; COMMIT;"
echo "-- e. plpgsql EXECUTE 'SET LOCAL', propagate=local; connections opened before; then change, then clear"
CAs "BEGIN" "SET LOCAL citus.propagate_set_commands='local'" "SET LOCAL tenancy.context = '$ALICE/$T2'" \
    "SELECT count(*) AS alice_t2_20 FROM items" \
    "SELECT public.ctx_exec('$BOB/$T1')" "SELECT count(*) AS bob_t1_10 FROM items" \
    "SELECT public.ctx_exec('')" "SELECT count(*) AS cleared_0 FROM items" "COMMIT"
echo "-- f. prototype: SET clause propagate=local on the function only (session propagate=none)"
CAs "BEGIN" "SELECT public.ctx_proto('$ALICE/$T2')" "SELECT count(*) AS alice_t2_20 FROM items" \
    "SELECT public.ctx_proto('$BOB/$T1')" "SELECT count(*) AS bob_t1_10 FROM items" \
    "SHOW citus.propagate_set_commands" \
    "SELECT public.ctx_proto('')" "SELECT count(*) AS cleared_0 FROM items" "COMMIT"
echo "-- h. prototype: savepoint rollback restores the earlier context on the workers"
CAs "BEGIN" "SELECT public.ctx_proto('$ALICE/$T2')" "SELECT count(*) FROM items" "SAVEPOINT s" \
    "SELECT public.ctx_proto('$BOB/$T1')" "SELECT count(*) AS bob_10 FROM items" "ROLLBACK TO SAVEPOINT s" \
    "SELECT count(*) AS alice_again_20 FROM items" "COMMIT"

echo "== O3 revoke (bob's t2) on the coordinator; context bob alone: 30 rows before, 10 after"
CAs "BEGIN" "SELECT public.ctx_proto('$BOB')" "SELECT count(*) AS before_30 FROM items" "COMMIT" \
    "\\! $PG_BIN/psql -X -q -h 127.0.0.1 -p $COORD_PORT -U postgres -d $CITUS_DB -c \"SELECT tenancy.revoke_role('editor', tenant => '$T2', user_id => '$BOB')\" >/dev/null" \
    "BEGIN" "SELECT public.ctx_proto('$BOB')" "SELECT count(*) AS unsynced_expect_10 FROM items" "COMMIT" \
    "\\! bash -c '. $HERE/probe_sync.sh $W'" \
    "BEGIN" "SELECT public.ctx_proto('$BOB')" "SELECT count(*) AS synced_warm_expect_10 FROM items" "COMMIT"
echo "-- a cold connection after the sync"
CAs "BEGIN" "SELECT public.ctx_proto('$BOB')" "SELECT count(*) AS cold_expect_10 FROM items" "COMMIT"
C -q -c "SELECT tenancy.assign_role('editor', tenant => '$T2', user_id => '$BOB')" >/dev/null
sync_copy

echo "== O4 protect() with owner/id columns on a distributed table"
Cs "CREATE TABLE docs (tenant_id uuid NOT NULL, id bigint NOT NULL, owner_id uuid, PRIMARY KEY (tenant_id, id))" \
   "SELECT create_distributed_table('docs', 'tenant_id')" \
   "SELECT tenancy.protect('docs', resource_type => 'item', owner_column => 'owner_id', id_column => 'id')"
echo "-- with citus.enable_unsafe_triggers"
Cs "SET citus.enable_unsafe_triggers = on" "SELECT tenancy.protect('docs', resource_type => 'item', owner_column => 'owner_id', id_column => 'id')"
W1 -c "SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'docs%' AND NOT tgisinternal ORDER BY 1 LIMIT 3"
echo "-- a write through a shard trigger (owner set to someone else than the context user)"
C -q -c "GRANT ALL ON docs TO app"
CAs "BEGIN" "SELECT public.ctx_proto('$BOB/$T1')" \
    "INSERT INTO docs VALUES ('$T1', 1, '$ALICE')" "SELECT tenant_id, id, owner_id FROM docs" "ROLLBACK"
W1 -At -c "SELECT 'w1 policies on docs shards: ' || count(*) FROM pg_policy WHERE polrelid::regclass::text LIKE 'docs%'"

echo "== O5 hierarchy tables as reference tables"
C -c "SELECT create_reference_table('tenancy.roles')"
C -c "SELECT create_reference_table('tenancy.organizations')"

echo "== O6 pruning: tenant context vs literal tenant"
CAs "BEGIN" "SELECT public.ctx_proto('$BOB/$T1')" "EXPLAIN (COSTS OFF) SELECT * FROM items" "COMMIT" | grep -E "Task Count|Index Cond|Filter" | head -3
CAs "BEGIN" "SELECT public.ctx_proto('$BOB/$T1')" "EXPLAIN (COSTS OFF) SELECT * FROM items WHERE tenant_id = '$T1'" "COMMIT" | grep -E "Task Count" | head -2
