#!/usr/bin/env bash
# bench/readers.sh — readers of many tenants: what a protected query costs
# for an organization admin over every tenant, a service user
# with roles in 1,000 tenants and a team's member whose team holds a role in
# 2,000, each against the fastest hand-written filter for the same rule.
# (An organization manager reads no tenant data: it has nothing to compare.)
# On demand; never part of the tests.
#
# 1,000,000 rows, 900,000 of them over the TENANTS tenants of one
# organization, and a second protected table for joins
# (bench/readers_setup.sql).  Each query is timed three ways, by one
# pgbench client (prepared statements) that picks one of the three at
# random for each transaction, so that the machine's ups and downs fall on
# all alike:
#   protected  the query as written, as bench_app under the reader's context
#   literal    tenant_id = ANY ('{...every visible tenant...}')
#   subquery   tenant_id IN (SELECT ... FROM tenancy.tenants or
#              tenancy.role_assignments ...), the rule written as SQL
# The hand-written filters run on the same tables as bench_plain, which
# bypasses row-level security: the same pages in the same buffers.  The
# figure is the median over ROUNDS runs of each side's mean latency per
# query statement, against the faster hand-written one.  Prints a table,
# then one line per reader and query:
#   BENCH readers_<tenants>_<reader>_<query> ratio_vs_handwritten=<x> visible_tenants=<n>
#
# Environment: TENANTS (tenants of the big organization, a multiple of
# 2,000; default 10000), READERS (some of "admin svc crew"),
# QUERIES (some of "newest filtered keyset count grouped join"), ROUNDS
# (default 5), SECONDS_PER_RUN (default 6: two for each side), REPEAT
# (statements per transaction, default 3), KEEP=1 to keep the cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TENANTS=${TENANTS:-10000}
ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_PER_RUN:-6}
REPEAT=${REPEAT:-3}
READERS=${READERS:-admin svc crew}
QUERIES=${QUERIES:-newest filtered keyset count grouped join}
[ $((TENANTS % 2000)) -eq 0 ] || die "TENANTS must be a multiple of 2000"

bench_cluster
say "loading 1,000,000 rows over $TENANTS + 100 tenants (a few minutes)"
"$PG_BIN/psql" -X -q -d bench -v tenants="$TENANTS" -f "$REPO/bench/readers_setup.sql" >/dev/null

q() { "$PG_BIN/psql" -X -At -d bench -c "$1"; }
BIG=$(q "SELECT id FROM tenancy.organizations WHERE slug = 'big'")
declare -A USER_ID SUBQ
for r in admin svc crew; do
    USER_ID[$r]=$(q "SELECT id FROM tenancy.users WHERE email = '$r@bench.test'")
done
ORG_SUBQ="SELECT id FROM tenancy.tenants WHERE org_id = '$BIG'"
SUBQ[admin]=$ORG_SUBQ
SUBQ[svc]="SELECT tenant_id FROM tenancy.role_assignments WHERE user_id = '${USER_ID[svc]}'"
SUBQ[crew]="SELECT ra.tenant_id FROM tenancy.role_assignments ra JOIN tenancy.team_members tm ON tm.team_id = ra.team_id WHERE tm.user_id = '${USER_ID[crew]}'"

# query NAME FILTER: the query's text, with FILTER (a condition on
# tenant_id, with %s for the table) on each table it reads.
query() {
    local f=${2:-}
    local fi="" fn="" wi="" wn=""
    if [ -n "$f" ]; then
        fi=$(printf "$f" i); fn=$(printf "$f" n)
        wi="WHERE $fi"; wn="AND $fn AND $fi"
    fi
    case $1 in
        newest)   echo "SELECT * FROM items i $wi ORDER BY created_at DESC LIMIT 50;" ;;
        filtered) echo "SELECT * FROM items i WHERE status = 3 ${fi:+AND $fi} ORDER BY created_at DESC LIMIT 50;" ;;
        keyset)   echo "SELECT * FROM items i WHERE created_at < '2026-01-01'::timestamptz + :sec * interval '1 second' ${fi:+AND $fi} ORDER BY created_at DESC LIMIT 50;" ;;
        count)    echo "SELECT count(*) FROM items i $wi;" ;;
        grouped)  echo "SELECT status, count(*), sum(amount) FROM items i $wi GROUP BY status;" ;;
        join)     echo "SELECT n.id, n.created_at, i.title FROM notes n JOIN items i ON i.id = n.item_id WHERE true $wn ORDER BY n.created_at DESC LIMIT 50;" ;;
        *) die "unknown query $1" ;;
    esac
}

# write_script FILE COUNTER SETUP QUERY: the query REPEAT times in one
# transaction, after the statements SETUP (the last of them a SELECT).  The
# keyset's bound (:sec) is a function of the script's own transaction count
# (the variable COUNTER) and of the round (:round): each side's statements
# get the same bounds in the same order.  PostgreSQL decides between a
# generic and a custom plan for a prepared statement from the bounds of its
# first five runs, and with a 1,000-tenant list a custom plan costs three
# times as much (its planning weighs every tenant): drawn at random, the
# bounds would make one side's plans differ from the other's.
write_script() {
    local i
    {
        echo "\\set $2 :$2 + 1"
        echo "BEGIN;"
        echo "$3"
        for i in $(seq "$REPEAT"); do
            echo "\\set sec 100000 + ((:$2 * $REPEAT + $i + :round * 7) * 7919) % 800001"
            echo "$4"
        done
        echo "COMMIT;"
    } >"$1"
}

# run_pgbench ROUND SCRIPT... -> one line a script: its query statements'
# latency (ms), from the median of its transactions' times (pgbench -l)
# less the mean of its other statements (pgbench -r), over REPEAT.  A
# median, not a mean: a connection's first protected statement makes the
# reader's tenant list and plans over it (0.1 s for 100,000 tenants), and
# beside a hand-written list as slow as the 100,000-tenant literal (0.4 s a
# statement) the protected side runs only a few transactions a round.
run_pgbench() {
    local out f args=(-D round="$1" -D kp=0 -D kl=0 -D ks=0 -l --log-prefix="$WORK/tx")
    shift
    for f in "$@"; do args+=(-f "$f"); done
    rm -f "$WORK"/tx.*
    out=$("$PG_BIN/pgbench" -n -r -M prepared -c 1 -U bench_app -T "$SECS" "${args[@]}" bench 2>&1) \
        || { echo "$out" >&2; die "pgbench failed"; }
    # the statements other than the queries, a line per script
    echo "$out" | awk '/^SQL script / { if (n) print o; n = 1; o = 0; q = 0 }
                       /^ +[0-9.]+ +[0-9]+ +/ { if ($3 == "SELECT" && q++ > 0) next; o += $1 }
                       END { print o }' >"$WORK/tx.other"
    local script=0 other tx
    while read -r other; do
        tx=$(awk -v s="$script" '$4 == s { print $3 }' "$WORK"/tx.[0-9]* | median)
        awk -v t="$tx" -v o="$other" -v r="$REPEAT" 'BEGIN { printf "%.5f\n", (t / 1000 - o) / r }'
        script=$((script + 1))
    done <"$WORK/tx.other"
}

# the hand-written sides: the same tables, without row-level security
PLAIN_SETUP=$'SET LOCAL ROLE bench_plain;\nSELECT 1;'
printf '\n%-8s %-9s %8s %12s %12s %12s %10s\n' reader query tenants "protected" "literal" "subquery" "ratio"
printf '%-8s %-9s %8s %12s %12s %12s %10s\n' "" "" "" "(ms)" "(ms)" "(ms)" ""
LINES=()
for r in $READERS; do
    visible=$("$PG_BIN/psql" -X -At -q -d bench -c "BEGIN" \
              -c "SELECT FROM tenancy.set_context('${USER_ID[$r]}')" \
              -c "SELECT cardinality(tenancy.visible_tenants('item:read'))" -c "COMMIT" | tail -1)
    # the literal: every tenant the reader sees, as the policy computes them
    literal=$(q "SELECT string_agg(id::text, ',') FROM tenancy.tenants WHERE id IN (${SUBQ[$r]})")
    for name in $QUERIES; do
        base="$WORK/$r.$name"
        write_script "$base.prot.sql" kp "SELECT tenancy.set_context('${USER_ID[$r]}');" "$(query "$name")"
        write_script "$base.lit.sql" kl "$PLAIN_SETUP" \
            "$(query "$name" "%s.tenant_id = ANY ('{$literal}')")"
        write_script "$base.sub.sql" ks "$PLAIN_SETUP" \
            "$(query "$name" "%s.tenant_id IN (${SUBQ[$r]})")"
        : >"$base.p"; : >"$base.l"; : >"$base.s"
        for round in $(seq "$ROUNDS"); do
            run_pgbench "$round" "$base.prot.sql" "$base.lit.sql" "$base.sub.sql" >"$base.run"
            sed -n 1p "$base.run" >>"$base.p"
            sed -n 2p "$base.run" >>"$base.l"
            sed -n 3p "$base.run" >>"$base.s"
        done
        p=$(median <"$base.p"); l=$(median <"$base.l"); s=$(median <"$base.s")
        best=$(awk -v a="$l" -v b="$s" 'BEGIN { print (a < b) ? a : b }')
        rv=$(ratio "$p" "$best")
        printf '%-8s %-9s %8s %12.3f %12.3f %12.3f %10s\n' "$r" "$name" "$visible" "$p" "$l" "$s" "$rv"
        LINES+=("BENCH readers_${TENANTS}_${r}_${name} ratio_vs_handwritten=$rv visible_tenants=$visible")
    done
done
echo
printf '%s\n' "${LINES[@]}"
