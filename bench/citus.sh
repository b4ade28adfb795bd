#!/usr/bin/env bash
# bench/citus.sh — protected queries on a Citus cluster (coordinator + 2
# workers on this machine) against the ideal hand-written tenant filter on an
# unprotected distributed copy, in the same run (issue 13, "Benchmark").
# On demand; never part of the tests.
#
# 1,000,000 rows over 1,000 tenants (1,000 each), distributed by tenant_id
# in 32 shards (Citus's default), two co-located copies with the same rows
# and indexes (bench/citus_setup.sql).  Four queries, each transaction
# picking a random tenant (or user) through pgbench:
#   point         BEGIN; set_context(reader of t, t); one row by id; COMMIT
#   tenant_page   the same context; the tenant's latest 50 rows
#   tenant_agg    the same context; count and sum over the tenant's 1,000 rows
#   cross_tenant  BEGIN; set_context(a user with a role in 10 tenants), no
#                 current tenant; the latest 50 rows of all they see; COMMIT
# The ideal transaction is BEGIN; SELECT 1; the query on items_plain with the
# tenant(s) as literals (WHERE tenant_id = '<uuid>' / IN (<10 uuids>)); COMMIT.
# SELECT 1 stands in for set_context(): the client makes the same round trips
# to the coordinator on both sides, so the ratio is what pg_tenancy costs
# (checking and forwarding the context, the policies on the shards, the
# shards queried), not one more network hop that an application could fold
# into another statement.  A dummy set_config() would charge the ideal side
# for a setting it does not need.
#
# pgbench runs CLIENTS clients (default 2) in the simple query protocol, so
# that the ideal query carries its tenant as a literal, as a hand-written
# query does (pgbench would turn a variable into a bind parameter in the
# extended protocols); both sides are planned for every statement.  Each
# round runs the protected and the ideal script back to back (the order
# swapped every round) after a warm-up of each; a round's ratio is the ideal's
# tps over the protected's (> 1: protected slower), and the figure is the
# median of the rounds' ratios: on a machine shared with other work, a pair
# run together sees the same load.  tasks is the "Task Count" of EXPLAIN for
# the protected query under the same context (the table also shows the
# ideal's, and the worker connections opened per transaction on each side,
# from pg_stat_database.sessions on the workers).
# Prints a table, then one line per query:
#   BENCH citus_<name> ratio_vs_ideal=<x> tasks=<shards queried>
# Target (issue 13): ratio <= 1.10, tasks = 1 for the single-tenant queries.
#
# Environment: PG_BIN (a PostgreSQL 15 tree with Citus installed; default
# Debian's /usr/lib/postgresql/15/bin — ../shared/citus/build.sh installs
# Citus), ROUNDS (default 5), SECONDS_PER_RUN (default 4), WARMUP_SECONDS
# (default 2), CLIENTS (default 2), QUERIES (some of "point tenant_page
# tenant_agg cross_tenant"), KEEP=1 to leave the cluster running (its folder
# is printed; stop it with test/citus/cluster.sh clean DIR).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# The hierarchy's replication to the workers (tenancy.citus_setup()) needs
# logical decoding; the rest sizes the nodes for 2 x 1,000,000 rows.
export CITUS_EXTRA_CONF="-c wal_level=logical -c max_wal_senders=20 -c max_replication_slots=20 -c max_worker_processes=16 -c shared_buffers=512MB -c jit=off ${CITUS_EXTRA_CONF:-}"
export CITUS_DB=bench
# shellcheck source=../test/citus/cluster.sh
. "$HERE/../test/citus/cluster.sh"

ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_PER_RUN:-4}
WARMUP=${WARMUP_SECONDS:-2}
CLIENTS=${CLIENTS:-2}
QUERIES=${QUERIES:-point tenant_page tenant_agg cross_tenant}

[ -x "$PG_BIN/pgbench" ] || die "no pgbench in $PG_BIN (set PG_BIN)"
[ -f "$("$PG_BIN/pg_config" --pkglibdir)/citus.so" ] ||
    die "Citus is not installed in $PG_BIN (PG_CONFIG=$PG_BIN/pg_config bash ../shared/citus/build.sh)"
build_and_install

W=$(mktemp -d /tmp/pg_tenancy_citus_bench.XXXXXX)
chmod 755 "$W"
if [ -z "${KEEP:-}" ]; then
    trap 'citus_cluster_stop "$W"; rm -rf "$W"' EXIT
else
    trap 'say "cluster kept in $W (test/citus/cluster.sh clean $W)"' EXIT
fi
T0=$(date +%s)
citus_cluster_start "$W" >/dev/null
. "$W/env"

C() { citus_psql "$COORD_PORT" -d "$CITUS_DB" "$@"; }
APP() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COORD_PORT" -U bench_app -d "$CITUS_DB" "$@"; }

# The hierarchy on the workers: tenancy.citus_setup() where this version has
# it (called before the hierarchy is built, so that every later change
# reaches the workers through it); otherwise a copy of every tenancy.* table
# after it is built, triggers off, as test/citus/probe_sync.sh does (enough
# here: the hierarchy does not change during the runs).
HAS_SETUP=$(C -At -c "SELECT to_regprocedure('tenancy.citus_setup()') IS NOT NULL")
if [ "$HAS_SETUP" = t ]; then
    say "tenancy.citus_setup()"
    C -c "SELECT tenancy.citus_setup()" >/dev/null
fi

say "loading 2 x 1,000,000 rows and distributing them (about a minute)"
C -f "$HERE/citus_setup.sql" >/dev/null

copy_hierarchy() {
    local tables port t
    tables=$(C -At -c "SELECT string_agg(format('%I.%I', schemaname, tablename), ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'tenancy'")
    for port in "$W1_PORT" "$W2_PORT"; do
        PGOPTIONS='-c session_replication_role=replica' citus_psql "$port" -d "$CITUS_DB" \
            -c "TRUNCATE ${tables// /, } CASCADE" >/dev/null
        for t in $tables; do
            C -c "COPY $t TO STDOUT" |
                PGOPTIONS='-c session_replication_role=replica' citus_psql "$port" -d "$CITUS_DB" -c "COPY $t FROM STDIN"
        done
    done
}
if [ "$HAS_SETUP" != t ]; then
    say "copying the hierarchy to the workers (no tenancy.citus_setup() in this version)"
    copy_hierarchy
fi
# Every node must hold the same hierarchy before anything is measured.
FP="SELECT (SELECT count(*) FROM tenancy.users) || '/' || (SELECT count(*) FROM tenancy.tenants)
        || '/' || (SELECT count(*) FROM tenancy.memberships) || '/' || (SELECT count(*) FROM tenancy.role_assignments)
        || '/' || (SELECT count(*) FROM tenancy.protected_tables)"
want=$(C -At -c "$FP")
for port in "$W1_PORT" "$W2_PORT"; do
    for _ in $(seq 60); do
        got=$(citus_psql "$port" -d "$CITUS_DB" -At -c "$FP")
        [ "$got" = "$want" ] && break
        sleep 1
    done
    [ "$got" = "$want" ] || die "worker $port holds hierarchy $got, coordinator $want"
done
say "set-up done in $(( $(date +%s) - T0 )) s (hierarchy users/tenants/memberships/assignments/protected: $want on every node)"

# --- the queries, as pgbench scripts --------------------------------------
# :n tenant number, :t its uuid's last group (tenant and its reader), :id a
# row of that tenant; :k a user with ten tenants, :m its uuid's last group,
# :t0..:t9 its tenants'.
TEN='00000000-0000-0000-0000-'
RDR='00000000-0000-0000-0001-'
MUL='00000000-0000-0000-0002-'
VARS_ONE='\set n random(0, 999)
\set j random(0, 999)
\set t 100000000000 + :n
\set id :n + 1 + 1000 * :j'
VARS_TEN='\set k random(0, 99)
\set m 100000000000 + :k'
IN_LIST="'$TEN:t0'"
for i in $(seq 0 9); do
    VARS_TEN+=$'\n'"\\set t$i :m + $((100 * i))"
    [ "$i" -gt 0 ] && IN_LIST+=", '$TEN:t$i'"
done

declare -A VARS CTX PROT IDEAL
for name in point tenant_page tenant_agg; do
    VARS[$name]=$VARS_ONE
    CTX[$name]="SELECT tenancy.set_context('$RDR:t', '$TEN:t');"
done
PROT[point]="SELECT * FROM items WHERE id = :id;"
IDEAL[point]="SELECT * FROM items_plain WHERE id = :id AND tenant_id = '$TEN:t';"
PROT[tenant_page]="SELECT * FROM items ORDER BY created_at DESC LIMIT 50;"
IDEAL[tenant_page]="SELECT * FROM items_plain WHERE tenant_id = '$TEN:t' ORDER BY created_at DESC LIMIT 50;"
PROT[tenant_agg]="SELECT count(*), sum(amount) FROM items;"
IDEAL[tenant_agg]="SELECT count(*), sum(amount) FROM items_plain WHERE tenant_id = '$TEN:t';"
VARS[cross_tenant]=$VARS_TEN
CTX[cross_tenant]="SELECT tenancy.set_context('$MUL:m');"
PROT[cross_tenant]="SELECT * FROM items ORDER BY created_at DESC LIMIT 50;"
IDEAL[cross_tenant]="SELECT * FROM items_plain WHERE tenant_id IN ($IN_LIST) ORDER BY created_at DESC LIMIT 50;"

# fixed VARS... TEXT: the text with pgbench's variables given fixed values
# (tenant 7, row 7 + 3001; user with ten tenants 7), for EXPLAIN and checks
fixed() {
    local n=${1:-7}
    perl -pe 'BEGIN { %v = (n => '"$n"', t => 100000000000 + '"$n"', id => '"$n"' + 1 + 3000,
                            k => '"$n"' % 100, m => 100000000000 + '"$n"' % 100);
                      $v{"t$_"} = $v{m} + 100 * $_ for 0 .. 9 }
              s/:(\w+)/exists $v{$1} ? $v{$1} : ":$1"/ge'
}
tasks() { # tasks CONTEXT QUERY -> Task Count of the query's plan in the context
    APP -c "BEGIN" -c "$1" -c "EXPLAIN (COSTS OFF) $2" -c "COMMIT" |
        sed -n 's/.*Task Count: \([0-9]*\).*/\1/p' | head -1
}

# Each protected query must return exactly the ideal query's rows.
for name in $QUERIES; do
    [ -n "${PROT[$name]:-}" ] || die "unknown query $name"
    for n in 7 512 999; do
        p=$(APP -c "BEGIN" -c "$(fixed $n <<<"${CTX[$name]}")" -c "$(fixed $n <<<"${PROT[$name]}")" -c "COMMIT" | sed '/^$/d' | md5sum)
        i=$(APP -c "$(fixed $n <<<"${IDEAL[$name]}")" | sed '/^$/d' | md5sum)
        e=$(APP -c "$(fixed $n <<<"${IDEAL[$name]}")" | wc -l)
        [ "$p" = "$i" ] && [ "$e" -gt 0 ] || die "$name: the protected query's rows differ from the ideal's (n=$n)"
    done
done

write_script() { # write_script FILE VARS CONTEXT QUERY
    printf '%s\nBEGIN;\n%s\n%s\nCOMMIT;\n' "$2" "$3" "$4" >"$1"
}
sessions() { # connections the workers have accepted so far
    local port s=0
    for port in "$W1_PORT" "$W2_PORT"; do
        s=$((s + $(citus_psql "$port" -d "$CITUS_DB" -At -c "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")))
    done
    echo "$s"
}
run_pgbench() { # run_pgbench SCRIPT SECONDS -> "tps transactions new-worker-connections"
    local out s0 s1
    s0=$(sessions)
    out=$("$PG_BIN/pgbench" -n -M simple -c "$CLIENTS" -j 1 -T "$2" \
          -h 127.0.0.1 -p "$COORD_PORT" -U bench_app -f "$1" "$CITUS_DB" 2>&1) \
        || { echo "$out" >&2; die "pgbench failed ($1)"; }
    s1=$(sessions)
    echo "$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')" \
         "$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')" \
         "$((s1 - s0))"
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

printf '\n%-13s %9s %9s %6s %6s %6s %7s %7s   %s\n' query "protected" "ideal" "ratio" "tasks" "tasks" "conn/tx" "conn/tx" "ratio per round"
printf '%-13s %9s %9s %6s %6s %6s %7s %7s\n' "" "(tps)" "(tps)" "" "(prot)" "(ideal)" "(prot)" "(ideal)"
LINES=()
for name in $QUERIES; do
    write_script "$W/$name.prot.sql" "${VARS[$name]}" "${CTX[$name]}" "${PROT[$name]}"
    write_script "$W/$name.ideal.sql" "${VARS[$name]}" "SELECT 1;" "${IDEAL[$name]}"
    tp=$(tasks "$(fixed <<<"${CTX[$name]}")" "$(fixed <<<"${PROT[$name]}")")
    ti=$(tasks "SELECT 1" "$(fixed <<<"${IDEAL[$name]}")")
    run_pgbench "$W/$name.prot.sql" "$WARMUP" >/dev/null
    run_pgbench "$W/$name.ideal.sql" "$WARMUP" >/dev/null
    : >"$W/$name.p"; : >"$W/$name.i"; : >"$W/$name.r"; per=""
    for r in $(seq "$ROUNDS"); do
        if [ $((r % 2)) -eq 1 ]; then
            a=$(run_pgbench "$W/$name.prot.sql" "$SECS"); b=$(run_pgbench "$W/$name.ideal.sql" "$SECS")
        else
            b=$(run_pgbench "$W/$name.ideal.sql" "$SECS"); a=$(run_pgbench "$W/$name.prot.sql" "$SECS")
        fi
        echo "$a" >>"$W/$name.p"; echo "$b" >>"$W/$name.i"
        x=$(awk -v a="${a%% *}" -v b="${b%% *}" 'BEGIN { printf "%.2f", b / a }')
        echo "$x" >>"$W/$name.r"; per+=" $x"
    done
    p=$(awk '{ print $1 }' "$W/$name.p" | median); i=$(awk '{ print $1 }' "$W/$name.i" | median)
    cp=$(awk '{ t += $2; s += $3 } END { printf "%.2f", s / t }' "$W/$name.p")
    ci=$(awk '{ t += $2; s += $3 } END { printf "%.2f", s / t }' "$W/$name.i")
    ratio=$(median <"$W/$name.r"); ratio=$(printf '%.2f' "$ratio")
    printf '%-13s %9.1f %9.1f %6s %6s %6s %7s %7s  %s\n' "$name" "$p" "$i" "$ratio" "$tp" "$ti" "$cp" "$ci" "$per"
    LINES+=("BENCH citus_$name ratio_vs_ideal=$ratio tasks=$tp")
done
echo
printf '%s\n' "${LINES[@]}"
say "total $(( $(date +%s) - T0 )) s"
