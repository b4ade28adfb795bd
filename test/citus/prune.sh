#!/usr/bin/env bash
# test/citus/prune.sh — shard pruning under a tenant context (issue 13, 3c):
# tasks in EXPLAIN for a protected distributed table, and the row counts of a
# prepared statement reused under changing contexts.  Own cluster.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/cluster.sh"
W=${1:-$(mktemp -d /tmp/citus-prune.XXXXXX)}
trap 'citus_cluster_stop "$W"; [ -z "${1:-}" ] && rm -rf "$W"' EXIT
citus_cluster_start "$W" >/dev/null 2>&1 || die "cluster did not start"
. "$W/env"
P="$PG_BIN/psql -X -h 127.0.0.1 -d $CITUS_DB"
$P -p "$COORD_PORT" -U postgres -q -v ON_ERROR_STOP=1 -f "$HERE/setup.sql" >/dev/null || die "setup failed"
bash -c ". $HERE/probe_sync.sh $W" || die "sync failed"
BOB=b0000000-0000-0000-0000-000000000001
ALICE=a0000000-0000-0000-0000-000000000001
T1=10000000-0000-0000-0000-000000000001
T2=20000000-0000-0000-0000-000000000002
A() { local a=(); for q in "$@"; do a+=(-c "$q"); done; $P -p "$COORD_PORT" -U app -At "${a[@]}" 2>&1 | grep -v -E '^(BEGIN|COMMIT|ROLLBACK|SET|PREPARE)?$'; }
echo "-- tasks, context bob/t1, no WHERE:"
A "BEGIN" "SELECT tenancy.set_context('$BOB', '$T1')::text" "EXPLAIN (COSTS OFF) SELECT * FROM items" "COMMIT" | grep -E "Task Count|tenant_id ="
echo "-- tasks, context bob (no tenant):"
A "BEGIN" "SELECT tenancy.set_context('$BOB')::text" "EXPLAIN (COSTS OFF) SELECT * FROM items" "COMMIT" | grep -E "Task Count"
echo "-- a prepared statement reused: alice/t2 (20), bob/t1 (10), bob (30), alice/t1 (10), bob/t2 (20), x6 each:"
a=("PREPARE q AS SELECT count(*) FROM items")
for i in 1 2 3 4 5 6; do
  for c in "$ALICE/$T2" "$BOB/$T1" "$BOB" "$ALICE/$T1" "$BOB/$T2"; do
    a+=("BEGIN" "SET LOCAL citus.propagate_set_commands = 'local'" "SET LOCAL tenancy.context = '$c'" "EXECUTE q" "COMMIT")
  done
done
A "${a[@]}" | tr '\n' ' '; echo
echo "-- timing: 200 router reads (context bob/t1, one transaction each, SET LOCAL + SELECT)"
f=$(mktemp); for i in $(seq 200); do printf "BEGIN;\nSELECT tenancy.set_context('$BOB', '$T1');\nSELECT count(*) FROM items;\nCOMMIT;\n"; done >"$f"
t0=$(date +%s%N); $P -p "$COORD_PORT" -U app -q -f "$f" >/dev/null; t1=$(date +%s%N); rm -f "$f"
echo "ms per transaction: $(echo "scale=2; ($t1 - $t0)/1000000/200" | bc)"
