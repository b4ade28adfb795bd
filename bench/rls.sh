#!/usr/bin/env bash
# bench/rls.sh — what a protected query costs, against the ideal hand-written
# tenant filter and against the common practice (a policy that calls a SQL
# permission function for every row).  On demand; never part of the tests.
#
# 1,000,000 rows over 1,000 tenants, one tenant holding 10% (bench/rls_setup.sql).
# Each query runs under pgbench (one client, prepared statements by default)
# in rounds that interleave the protected, the ideal and the common-practice
# variant, and the median per-statement latency of each is compared.  Prints a
# table, then one line per query:
#   BENCH <name> ratio_vs_ideal=<x> ratio_vs_common=<y>
#
# SUITE=sharing runs the same comparison on a table protected with owner and
# id columns, 5% of whose rows are shared (bench/sharing_setup.sql): a user
# with the tenant-wide permission, and a user who sees only what it owns and
# what is shared with it, each against the ideal query for the same rule
# (no common-practice runs there).
#
# Environment: SUITE (tenant or sharing; default tenant), ROUNDS (default 5),
# SECONDS_PER_RUN (default 3), REPEAT (the query's statements per
# transaction, default 5),
# PROTOCOL (prepared or simple; default prepared), KEEP=1 to keep the cluster,
# CLAIMS=1 to set each protected query's context from gateway claims
# (request.jwt.claims, as PostgREST does) and run it beside the same query
# with tenancy.set_context(), printing the ratio of the two,
# SKIP_COMMON=1 to leave out the (slow) common-practice runs, QUERIES to run
# some of "point page aggregate cross_tenant".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_PER_RUN:-3}
PROTOCOL=${PROTOCOL:-prepared}
SUITE=${SUITE:-tenant}
case "$SUITE" in
    tenant) SETUP=rls_setup.sql ;;
    sharing) SETUP=sharing_setup.sql; SKIP_COMMON=1 ;;
    *) echo "SUITE must be tenant or sharing" >&2; exit 2 ;;
esac

bench_cluster

say "loading 1,000,000 rows (a minute or two)"
"$PG_BIN/psql" -X -q -d bench -f "$REPO/bench/$SETUP" >/dev/null

q() { "$PG_BIN/psql" -X -At -d bench -c "$1"; }

# write_script FILE CONTEXT_STATEMENT QUERY [TIMES]: the query REPEAT times
# (or TIMES) in one transaction, a new :id each time, since pgbench reports
# each statement's latency to the microsecond only, a tenth of a point
# lookup's overhead.
REPEAT=${REPEAT:-5}
write_script() {
    {
        echo "BEGIN;"
        echo "$2"
        for _ in $(seq "${4:-$REPEAT}"); do
            echo "\\set id random(1, 100000)"
            echo "$3"
        done
        echo "COMMIT;"
    } >"$1"
}

declare -A PROT IDEAL COMMON CTX CTX_COMMON
if [ "$SUITE" = sharing ]; then
    READER=$(q "SELECT id FROM bench_users WHERE n = 1")
    GUEST=$(q "SELECT id FROM bench_users WHERE n = 2")
    BIG=$(q "SELECT id FROM bench_tenants WHERE n = 0")
    SHARED_BIG=$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM guest_shared WHERE tenant_id = '$BIG'")
    SHARED_ALL=$(q "SELECT string_agg(id::text, ',' ORDER BY id) FROM guest_shared")
    say "guest: $(q "SELECT count(*) FROM guest_shared") rows shared, $(q "SELECT count(*) FROM guest_shared WHERE tenant_id = '$BIG'") in the big tenant, owns $(q "SELECT count(*) FROM docs_plain WHERE owner_id = '$GUEST' AND tenant_id = '$BIG'") there"
    CTX[point]="SELECT tenancy.set_context('$READER', '$BIG');"
    PROT[point]="SELECT * FROM docs WHERE id = :id;"
    IDEAL[point]="SELECT * FROM docs_plain WHERE id = :id AND tenant_id = '$BIG';"
    CTX[page]=${CTX[point]}
    PROT[page]="SELECT * FROM docs ORDER BY created_at DESC LIMIT 50;"
    IDEAL[page]="SELECT * FROM docs_plain WHERE tenant_id = '$BIG' ORDER BY created_at DESC LIMIT 50;"
    CTX[aggregate]=${CTX[point]}
    PROT[aggregate]="SELECT count(*), sum(amount) FROM docs;"
    IDEAL[aggregate]="SELECT count(*), sum(amount) FROM docs_plain WHERE tenant_id = '$BIG';"
    # guest: its own rows and the rows shared with it, in the big tenant ...
    CTX[guest_page]="SELECT tenancy.set_context('$GUEST', '$BIG');"
    PROT[guest_page]="SELECT * FROM docs ORDER BY created_at DESC LIMIT 50;"
    IDEAL[guest_page]="SELECT * FROM docs_plain WHERE tenant_id = '$BIG' AND (owner_id = '$GUEST' OR id = ANY ('{$SHARED_BIG}')) ORDER BY created_at DESC LIMIT 50;"
    CTX[guest_aggregate]=${CTX[guest_page]}
    PROT[guest_aggregate]="SELECT count(*), sum(amount) FROM docs;"
    IDEAL[guest_aggregate]="SELECT count(*), sum(amount) FROM docs_plain WHERE tenant_id = '$BIG' AND (owner_id = '$GUEST' OR id = ANY ('{$SHARED_BIG}'));"
    # ... and everywhere (no current tenant).
    CTX[guest_all]="SELECT tenancy.set_context('$GUEST');"
    PROT[guest_all]="SELECT * FROM docs ORDER BY created_at DESC LIMIT 50;"
    IDEAL[guest_all]="SELECT * FROM docs_plain WHERE (owner_id = '$GUEST' AND tenant_id = '$BIG') OR id = ANY ('{$SHARED_ALL}') ORDER BY created_at DESC LIMIT 50;"
    for name in point page aggregate guest_page guest_aggregate guest_all; do
        COMMON[$name]=""; CTX_COMMON[$name]=""
    done
    DEFAULT_QUERIES="point page aggregate guest_page guest_aggregate guest_all"
else
    READER=$(q "SELECT id FROM tenancy.users WHERE email = 'reader@bench.test'")
    TEN=$(q "SELECT id FROM tenancy.users WHERE email = 'ten@bench.test'")
    BIG=$(q "SELECT id FROM bench_tenants WHERE n = 0")
    TEN_TENANTS=$(q "SELECT string_agg(id::text, ',' ORDER BY n) FROM bench_tenants WHERE n % 100 = 0")

    # The four queries: name | protected | ideal | common (same text on each table)
    PROT[point]="SELECT * FROM items WHERE id = :id;"
    IDEAL[point]="SELECT * FROM items_plain WHERE id = :id AND tenant_id = '$BIG';"
    COMMON[point]="SELECT * FROM items_common WHERE id = :id;"
    CTX[point]="SELECT tenancy.set_context('$READER', '$BIG');"
    CTX_COMMON[point]="SELECT set_config('app.user_id', '$READER', true);"

    PROT[page]="SELECT * FROM items ORDER BY created_at DESC LIMIT 50;"
    IDEAL[page]="SELECT * FROM items_plain WHERE tenant_id = '$BIG' ORDER BY created_at DESC LIMIT 50;"
    COMMON[page]="SELECT * FROM items_common ORDER BY created_at DESC LIMIT 50;"
    CTX[page]=${CTX[point]}
    CTX_COMMON[page]=${CTX_COMMON[point]}

    PROT[aggregate]="SELECT count(*), sum(amount) FROM items;"
    IDEAL[aggregate]="SELECT count(*), sum(amount) FROM items_plain WHERE tenant_id = '$BIG';"
    COMMON[aggregate]="SELECT count(*), sum(amount) FROM items_common;"
    CTX[aggregate]=${CTX[point]}
    CTX_COMMON[aggregate]=${CTX_COMMON[point]}

    PROT[cross_tenant]="SELECT * FROM items ORDER BY created_at DESC LIMIT 50;"
    IDEAL[cross_tenant]="SELECT * FROM items_plain WHERE tenant_id = ANY ('{$TEN_TENANTS}') ORDER BY created_at DESC LIMIT 50;"
    COMMON[cross_tenant]="SELECT * FROM items_common ORDER BY created_at DESC LIMIT 50;"
    CTX[cross_tenant]="SELECT tenancy.set_context('$TEN');"
    CTX_COMMON[cross_tenant]="SELECT set_config('app.user_id', '$TEN', true);"
    DEFAULT_QUERIES="point page aggregate cross_tenant"
fi

QUERIES=${QUERIES:-$DEFAULT_QUERIES}

# CLAIMS=1: the same contexts as gateway claims of bench_app's sessions.
declare -A CTX_CLAIMS
if [ -n "${CLAIMS:-}" ]; then
    q "ALTER ROLE bench_app SET tenancy.claims_setting = 'request.jwt.claims'" >/dev/null
    q "ALTER ROLE bench_app SET tenancy.claims_role = 'bench_app'" >/dev/null
    for name in "${!CTX[@]}"; do
        CTX_CLAIMS[$name]=$(printf '%s' "${CTX[$name]}" | sed -E \
            -e "s/^SELECT tenancy\.set_context\('([^']+)', '([^']+)'\);\$/SELECT set_config('request.jwt.claims', '{\"sub\":\"\\1\",\"tenant\":\"\\2\"}', true);/" \
            -e "s/^SELECT tenancy\.set_context\('([^']+)'\);\$/SELECT set_config('request.jwt.claims', '{\"sub\":\"\\1\"}', true);/")
    done
fi

# run_pgbench SCRIPT SECONDS-OR-TRANSACTIONS -> mean per-statement latency
# (ms) of the query lines (every SELECT after the context's), and the
# transaction's total of every SELECT, the context's included
run_pgbench() {
    local out
    out=$("$PG_BIN/pgbench" -n -r -M "$PROTOCOL" -c 1 -U bench_app $2 -f "$1" bench 2>&1) \
        || { echo "$out" >&2; die "pgbench failed"; }
    # -r prints one line per statement: "<latency> <failures> <statement>".
    echo "$out" | awk '/^ +[0-9.]+ +[0-9]+ +SELECT / { n++; t += $1; if (n >= 2) { s += $1; k++ } }
                       END { printf "%.5f %.5f\n", s / k, t }'
}


# The ideal variant keeps the same number of round trips: SELECT 1 stands in
# for setting the context.
printf '\n%-13s %12s %12s %12s %10s %10s\n' query "protected" "ideal" "common" "vs ideal" "vs common"
printf '%-13s %12s %12s %12s %10s %10s\n' "" "(ms)" "(ms)" "(ms)" "" ""
LINES=()
for name in $QUERIES; do
    write_script "$WORK/$name.prot.sql" "${CTX[$name]}" "${PROT[$name]}"
    write_script "$WORK/$name.ideal.sql" "SELECT 1;" "${IDEAL[$name]}"
    write_script "$WORK/$name.common.sql" "${CTX_COMMON[$name]}" "${COMMON[$name]}" 1
    : >"$WORK/$name.p"; : >"$WORK/$name.i"; : >"$WORK/$name.c"; : >"$WORK/$name.g"
    [ -n "${CLAIMS:-}" ] && write_script "$WORK/$name.claims.sql" "${CTX_CLAIMS[$name]}" "${PROT[$name]}"
    for _ in $(seq "$ROUNDS"); do
        run_pgbench "$WORK/$name.prot.sql" "-T $SECS" >>"$WORK/$name.p"
        run_pgbench "$WORK/$name.ideal.sql" "-T $SECS" >>"$WORK/$name.i"
        [ -n "${CLAIMS:-}" ] && run_pgbench "$WORK/$name.claims.sql" "-T $SECS" >>"$WORK/$name.g"
    done
    # The common practice scans every row through a SQL function: a
    # single transaction is enough to know its cost (seconds, not milliseconds).
    if [ -z "${SKIP_COMMON:-}" ]; then
        run_pgbench "$WORK/$name.common.sql" "-t 1" >>"$WORK/$name.c"
    else
        echo nan >"$WORK/$name.c"
    fi
    p=$(median <"$WORK/$name.p"); i=$(median <"$WORK/$name.i"); c=$(median <"$WORK/$name.c")
    rv=$(awk -v a="$p" -v b="$i" 'BEGIN { printf "%.3f", a / b }')
    rc=$(awk -v a="$p" -v b="$c" 'BEGIN { printf "%.4f", a / b }')
    printf '%-13s %12.3f %12.3f %12s %10s %10s\n' "$name" "$p" "$i" "$c" "$rv" "$rc"
    if [ -n "${CLAIMS:-}" ]; then
        # Per transaction, the context's statement included: with claims the
        # context is established by the first query that needs it.
        gt=$(awk '{ print $2 }' "$WORK/$name.g" | median)
        pt=$(awk '{ print $2 }' "$WORK/$name.p" | median)
        LINES+=("BENCH claims_$name transaction_ms=$gt set_context_transaction_ms=$pt ratio_vs_set_context=$(awk -v a="$gt" -v b="$pt" 'BEGIN { printf "%.3f", a / b }')")
    fi
    if [ "$SUITE" = sharing ]; then
        LINES+=("BENCH sharing_$name ratio_vs_ideal=$rv")
    else
        LINES+=("BENCH $name ratio_vs_ideal=$rv ratio_vs_common=$rc")
    fi
done
echo
printf '%s\n' "${LINES[@]}"
