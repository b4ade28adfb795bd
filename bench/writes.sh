#!/usr/bin/env bash
# bench/writes.sh — what bulk writes into a protected table cost, against the
# same statement on an identical unprotected table (the hand-written
# baseline: the application's own tenant filter, no row-level security).
# On demand; never part of the tests.
#
# Data (bench/writes_setup.sql): one organization of 1,000 tenants; each
# table starts with 200,000 rows (100,000 of the context's tenant).  Every
# statement runs as bench_app (no BYPASSRLS) in a transaction that is rolled
# back, the protected one after tenancy.set_context(user, tenant), the
# baseline after SELECT 1; the tables are vacuumed after every round, so
# rounds do not grow them.  Rounds interleave the two sides (and alternate
# which goes first); the figure is the median over the rounds of each
# round's protected / baseline, which a slow minute of the machine moves
# less than it moves either side's own times.
#
#   insert_values   20 multi-row INSERTs of 1,000 rows (VALUES), per statement
#   insert_select   INSERT ... SELECT of 200,000 rows (generate_series)
#   update          UPDATE of the tenant's 100,000 rows
#   bulk_load       COPY (\copy) of 200,000 rows into a temporary table, then
#                   one INSERT ... SELECT, against a plain COPY into the
#                   unprotected table (and against the same temporary-table
#                   path on the unprotected table)
# The *_own variants run on a table protected with owner and id columns,
# as a tenant editor (create; updates only what it owns, as it owns every
# row here); the others as a tenant admin.
#
# Prints a table, then one line per statement:
#   BENCH write_<name> ratio_vs_handwritten=<x> rows=<n>
# Environment: ROUNDS (default 25), QUERIES (some of the names above, with
# _own variants), KEEP=1 to keep the cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-25}
# No checkpoint during the rounds (after one, the first write of each page
# logs the whole page, on whichever side writes it first), and no zero-fill
# of new WAL files (paid by whichever statement needs one): costs of the
# moment, not of either side.
bench_cluster "max_wal_size = '32GB'" "checkpoint_timeout = '1h'" "wal_init_zero = off" \
              "autovacuum = off"

say "loading the data"
"$PG_BIN/psql" -X -q -d bench -f "$REPO/bench/writes_setup.sql" >/dev/null

q() { "$PG_BIN/psql" -X -At -d bench -c "$1"; }
WRITER=$(q "SELECT id FROM tenancy.users WHERE email = 'writer@bench.test'")
EDITOR=$(q "SELECT id FROM tenancy.users WHERE email = 'editor@bench.test'")
T0=$(q "SELECT id FROM bench_tenants WHERE n = 0")

# 200,000 rows of tenant 0 to load, ids above the base rows'.
q "COPY (SELECT g, '$T0'::uuid, '$EDITOR'::uuid, '2026-06-01'::timestamptz + g * interval '1 second',
            (g % 1000) / 10.0, 'loaded ' || g FROM generate_series(1000001, 1200000) g)
   TO '$WORK/load.csv' (FORMAT csv)" >/dev/null
[ "$(id -u)" -eq 0 ] && chmod 644 "$WORK/load.csv"

reset_tables() {
    q "TRUNCATE w_prot, w_plain, w_own, w_own_plain" >/dev/null
    for t in w_prot w_plain w_own w_own_plain; do
        q "INSERT INTO $t SELECT * FROM w_base" >/dev/null
    done
    q "VACUUM ANALYZE w_prot, w_plain, w_own, w_own_plain" >/dev/null
}

# values_statements TABLE: 20 INSERTs of 1,000 rows each, as literals.
values_statements() {
    local k
    for k in $(seq 0 19); do
        echo "INSERT INTO $1 VALUES"
        seq $((2000001 + k * 1000)) $((2001000 + k * 1000)) |
            awk -v t="$T0" -v o="$EDITOR" '{ printf "%s(%d, '\''%s'\'', '\''%s'\'', '\''2026-06-01'\''::timestamptz, %d.5, '\''row %d'\'')", (NR > 1 ? ",\n" : ""), $1, t, o, $1 % 1000, $1 } END { print ";" }'
    done
}

# statement NAME TABLE -> the timed statements (psql input)
statement() {
    case "$1" in
        insert_values*) values_statements "$2" ;;
        insert_select*) echo "INSERT INTO $2 SELECT g, '$T0', '$EDITOR', '2026-06-01'::timestamptz + g * interval '1 second', (g % 1000) / 10.0, 'row ' || g FROM generate_series(1000001, 1200000) g;" ;;
        update*) echo "UPDATE $2 SET amount = amount + 1 WHERE tenant_id = '$T0';" ;;
        bulk_load_copy) echo "\\copy $2 FROM '$WORK/load.csv' (FORMAT csv)" ;;
        bulk_load*)
            echo "CREATE TEMP TABLE stage (LIKE $2) ON COMMIT DROP;"
            echo "\\copy stage FROM '$WORK/load.csv' (FORMAT csv)"
            echo "INSERT INTO $2 SELECT * FROM stage;" ;;
    esac
}

# write_script FILE CONTEXT TABLE NAME: the context, then the statements
# between two clock readings, rolled back; prints "MS <ms>".
write_script() {
    {
        echo "\\set ON_ERROR_STOP 1"
        echo "BEGIN;"
        echo "$2"
        echo "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset"
        statement "$4" "$3"
        echo "SELECT (extract(epoch FROM clock_timestamp()) - :t0) * 1000 AS ms \\gset"
        echo "\\echo MS :ms"
        echo "ROLLBACK;"
    } >"$1"
}

run() {
    local out
    out=$("$PG_BIN/psql" -X -q -U bench_app -d bench -f "$1" 2>&1) || { echo "$out" >&2; die "psql failed: $1"; }
    echo "$out" | awk -v d="${2:-1}" '/^MS / { printf "%.3f\n", $2 / d }'
}

# name | protected table | baseline table | context user | rows | statements per run
declare -A PT BT CU ROWS PER
for n in insert_values insert_select update bulk_load; do PT[$n]=w_prot; BT[$n]=w_plain; CU[$n]=$WRITER; done
for n in insert_values insert_select update; do PT[${n}_own]=w_own; BT[${n}_own]=w_own_plain; CU[${n}_own]=$EDITOR; done
for n in insert_values insert_values_own; do ROWS[$n]=1000; PER[$n]=20; done
for n in insert_select insert_select_own bulk_load; do ROWS[$n]=200000; PER[$n]=1; done
for n in update update_own; do ROWS[$n]=100000; PER[$n]=1; done
QUERIES=${QUERIES:-"insert_values insert_select update bulk_load insert_values_own insert_select_own update_own"}

for name in $QUERIES; do
    write_script "$WORK/$name.prot.sql" "SELECT tenancy.set_context('${CU[$name]}', '$T0');" "${PT[$name]}" "$name"
    write_script "$WORK/$name.base.sql" "SELECT 1;" "${BT[$name]}" "$name"
    : >"$WORK/$name.p"; : >"$WORK/$name.b"
    if [ "$name" = bulk_load ]; then
        write_script "$WORK/$name.copy.sql" "SELECT 1;" w_plain bulk_load_copy
        : >"$WORK/$name.c"
    fi
done

say "rounds: $ROUNDS"
reset_tables
q "CHECKPOINT" >/dev/null
for r in $(seq "$ROUNDS"); do
    for name in $QUERIES; do
        if [ $((r % 2)) -eq 1 ]; then
            run "$WORK/$name.prot.sql" "${PER[$name]}" >>"$WORK/$name.p"
            run "$WORK/$name.base.sql" "${PER[$name]}" >>"$WORK/$name.b"
            [ "$name" = bulk_load ] && run "$WORK/$name.copy.sql" >>"$WORK/$name.c"
        else
            [ "$name" = bulk_load ] && run "$WORK/$name.copy.sql" >>"$WORK/$name.c"
            run "$WORK/$name.base.sql" "${PER[$name]}" >>"$WORK/$name.b"
            run "$WORK/$name.prot.sql" "${PER[$name]}" >>"$WORK/$name.p"
        fi
        q "VACUUM w_prot, w_plain, w_own, w_own_plain" >/dev/null
    done
done

# Check: the protected statements did what the baseline did (one run,
# committed), and count the calls of pg_tenancy's functions that run (the
# policies' functions, evaluated per row where PostgreSQL checks a policy on
# each new row), after the timed rounds: track_functions costs a little.
q "ALTER ROLE bench_app SET track_functions = 'all'" >/dev/null
declare -A CALLS
check_rows() {
    local after
    sed -e 's/^ROLLBACK;$/COMMIT;/' \
        -e 's/^\\echo MS :ms$/SELECT sum(calls) - 1 AS fc FROM pg_stat_xact_user_functions WHERE schemaname = '"'tenancy'"' \\gset\n\\echo MS :fc/' \
        "$WORK/$1.prot.sql" >"$WORK/$1.commit.sql"
    CALLS[$1]=$(run "$WORK/$1.commit.sql")
    after=$(q "SELECT count(*), sum(amount) FROM $2")
    sed 's/^ROLLBACK;$/COMMIT;/' "$WORK/$1.base.sql" >"$WORK/$1.commitb.sql"
    run "$WORK/$1.commitb.sql" >/dev/null
    [ "$after" = "$(q "SELECT count(*), sum(amount) FROM $3")" ] || die "$1: the protected table differs from the baseline ($after)"
}
reset_tables
for name in $QUERIES; do check_rows "$name" "${PT[$name]}" "${BT[$name]}"; reset_tables; done

printf '\n%-18s %8s %12s %12s %9s %10s  %s\n' statement rows "protected" "baseline" ratio "calls/row" "per round (protected/baseline)"
printf '%-18s %8s %12s %12s %9s %10s\n' "" "" "(ms)" "(ms)" "" "(policy)"
LINES=()
for name in $QUERIES; do
    p=$(median <"$WORK/$name.p"); b=$(median <"$WORK/$name.b")
    ratio=$(paste "$WORK/$name.p" "$WORK/$name.b" | awk '{ printf "%.5f\n", $1 / $2 }' | median)
    ratio=$(printf '%.3f' "$ratio")
    per=$(paste "$WORK/$name.p" "$WORK/$name.b" | awk '{ printf "%.2f ", $1 / $2 }')
    cpr=$(awk -v c="${CALLS[$name]}" -v n="${ROWS[$name]}" -v k="${PER[$name]}" 'BEGIN { printf "%.2f", c / (n * k) }')
    printf '%-18s %8s %12.3f %12.3f %9s %10s  %s\n' "$name" "${ROWS[$name]}" "$p" "$b" "$ratio" "$cpr" "$per"
    LINES+=("BENCH write_$name ratio_vs_handwritten=$ratio rows=${ROWS[$name]} policy_calls_per_row=$cpr")
    if [ "$name" = bulk_load ]; then
        c=$(median <"$WORK/$name.c")
        rc=$(paste "$WORK/$name.p" "$WORK/$name.c" | awk '{ printf "%.5f\n", $1 / $2 }' | median)
        rc=$(printf '%.3f' "$rc")
        rcb=$(paste "$WORK/$name.b" "$WORK/$name.c" | awk '{ printf "%.5f\n", $1 / $2 }' | median)
        rcb=$(printf '%.3f' "$rcb")
        per=$(paste "$WORK/$name.p" "$WORK/$name.c" | awk '{ printf "%.2f ", $1 / $2 }')
        printf '%-18s %8s %12.3f %12.3f %9s %10s  %s\n' "  vs plain COPY" "${ROWS[$name]}" "$p" "$c" "$rc" "" "$per"
        LINES+=("BENCH write_bulk_load_vs_copy ratio_vs_copy=$rc rows=${ROWS[$name]} unprotected_path_vs_copy=$rcb")
    fi
done
echo
printf '%s\n' "${LINES[@]}"
