# bench/lib.sh — shared by the benchmarks: a throwaway cluster tuned for
# measuring, and the statistics of interleaved rounds.  Sourced, not run.
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# bench_cluster [SETTING ...]: builds and installs pg_tenancy, starts a
# cluster in a temporary folder (removed on exit unless KEEP=1) with 1 GB of
# shared buffers, no JIT and each "name = value" given, and creates the
# database "bench".  Sets WORK.
bench_cluster() {
    local setting sets=()
    ensure_packages
    build_and_install
    WORK=$(mktemp -d /tmp/pg_tenancy_bench.XXXXXX)
    chmod 755 "$WORK"
    if [ -z "${KEEP:-}" ]; then
        trap 'stop_cluster "$WORK"; rm -rf "$WORK"' EXIT
    else
        say "keeping $WORK (KEEP=1)"
    fi
    start_cluster "$WORK"
    for setting in "shared_buffers = '1GB'" "jit = off" "$@"; do
        sets+=(-c "ALTER SYSTEM SET $setting")
    done
    as_server_user "$PG_BIN/psql" -X -q -h "$WORK" -p "$PGPORT" -U postgres -d postgres \
        "${sets[@]}" >/dev/null
    as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -w -s restart -l "$WORK/server.log"
    "$PG_BIN/createdb" bench
}

# The median of the numbers on stdin, one a line.
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ratio A B -> A / B with three decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
