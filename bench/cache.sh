#!/usr/bin/env bash
# bench/cache.sh — the decision cache, measured.  On demand; never in CI.
#
#  1. check cost: tenancy.has_permission() with the cache warm (hit) and off
#     (miss), against the plain-SQL implementation (test/model/reference.sql)
#     on the same data in the same run;
#  2. scale: the same on a small (1,000 users, 100 tenants) and a large
#     (1,000,000 users, 100,000 tenants, 10,000 teams, ~5,000,000
#     assignments) hierarchy, as the ratio large/small, beside the same
#     ratio for PostgreSQL's own index probes (the first two lookups of a
#     check, as a plain-SQL nested loop over the same pairs);
#  3. memory: bytes per cached entry, and the cap held under a working set
#     larger than it;
#  4. pgbench, 8 clients: set context + protected select + protected insert
#     against the same script with hand-written filters on unprotected
#     tables, both in one run; and the protected script while another
#     session grants and revokes in another organization ten times a second,
#     against the quiet windows of the same run.
# Prints a table and "BENCH <name> <figure>=<x>" lines.
#
# Environment: SCALE=small to skip the large data set (quick look),
# PGBENCH_SECONDS (measured, default 40), WARMUP_SECONDS (default 60),
# ROUNDS (default 3), KEEP=1.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

PGB_SECS=${PGBENCH_SECONDS:-40}
WARMUP=${WARMUP_SECONDS:-60}
ROUNDS=${ROUNDS:-3}

ensure_packages
build_and_install

WORK=$(mktemp -d /tmp/pg_tenancy_cachebench.XXXXXX)
chmod 755 "$WORK"
if [ -z "${KEEP:-}" ]; then
    trap 'kill $(jobs -p) 2>/dev/null || true; stop_cluster "$WORK"; rm -rf "$WORK"' EXIT
fi
start_cluster "$WORK"
"$PG_BIN/psql" -X -q -d postgres -c "ALTER SYSTEM SET shared_buffers = '2GB'" \
    -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "ALTER SYSTEM SET jit = off" \
    -c "ALTER SYSTEM SET synchronous_commit = off" >/dev/null
as_server_user "$PG_BIN/pg_ctl" -D "$WORK/data" -w -s restart -l "$WORK/server.log"

psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$@"; }

load() { # NAME users orgs tenants_per_org teams_per_org members_per_team direct team_grants
    "$PG_BIN/createdb" "$1"
    local t0=$SECONDS
    psql_db "$1" -v users="$2" -v orgs="$3" -v tenants_per_org="$4" -v teams_per_org="$5" \
        -v members_per_team="$6" -v direct_per_user="$7" -v team_grants="$8" \
        -f "$REPO/bench/cache_data.sql" | sed 's/^/    /'
    say "$1 loaded in $((SECONDS - t0)) s"
}

say "generating the small hierarchy"
load small 1000 1 100 10 100 4 100
if [ "${SCALE:-}" != small ]; then
    say "generating the large hierarchy (a few minutes)"
    load large 1000000 1000 100 10 100 4 100
fi

# Per-call cost in microseconds: (time of the query - time of the bare scan)
# / rows, median of several runs, all in one session.
measure() { # DB -> lines "key value"
    psql_db "$1" -At <<'SQL'
CREATE FUNCTION pg_temp.ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; BEGIN t0 := clock_timestamp(); EXECUTE q;
RETURN extract(epoch FROM clock_timestamp() - t0) * 1000; END $$;
CREATE FUNCTION pg_temp.cold_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
BEGIN PERFORM tenancy.cache_reset(); RETURN pg_temp.ms(q); END $$;
CREATE FUNCTION pg_temp.median_ms(q text, runs int) RETURNS float8 LANGUAGE sql AS $$
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY pg_temp.ms(q)) FROM generate_series(1, runs) $$;
CREATE FUNCTION pg_temp.median_cold_ms(q text, runs int) RETURNS float8 LANGUAGE sql AS $$
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY pg_temp.cold_ms(q)) FROM generate_series(1, runs) $$;
SET tenancy.cache_size = '64MB';
SELECT tenancy.cache_reset();
SELECT count(*) FROM pairs WHERE tenancy.has_permission(u, t, 'doc:read') \g /dev/null
SELECT 'scan_us ' || pg_temp.median_ms('SELECT count(*) FROM pairs WHERE u IS NOT NULL', 7) * 1000 / (SELECT count(*) FROM pairs);
SELECT 'hit_us ' || pg_temp.median_ms('SELECT count(*) FROM pairs WHERE tenancy.has_permission(u, t, ''doc:read'')', 7) * 1000 / (SELECT count(*) FROM pairs);
SELECT 'entries ' || entries, 'bytes_per_entry ' || bytes / greatest(entries, 1),
       'memory_per_entry ' || memory / greatest(entries, 1), 'hit_rate ' || round(hits::numeric / (hits + misses), 4)
FROM tenancy.cache_stats();
-- A miss: a first pass over distinct pairs with the cache emptied before it.
SELECT 'miss_us ' || pg_temp.median_cold_ms('SELECT count(*) FROM pairs WHERE tenancy.has_permission(u, t, ''doc:read'')', 5) * 1000 / (SELECT count(*) FROM pairs);
SELECT 'miss_rate ' || round(misses::numeric / (hits + misses), 4) FROM tenancy.cache_stats();
SELECT 'sql_us ' || pg_temp.median_ms('SELECT count(*) FROM pairs WHERE n <= 2000 AND tenancy_ref.has_permission(u, t, ''doc:read'')', 3) * 1000 / (SELECT count(*) FROM pairs WHERE n <= 2000);
-- The baseline for scale: PostgreSQL's own index probes, the first two a
-- check makes (the tenant's organization, then the member), one nested loop
-- over the same pairs, nothing of pg_tenancy's code in between.
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SET enable_memoize = off; SET join_collapse_limit = 1;
SELECT 'probe_us ' || pg_temp.median_ms('SELECT count(f.user_id) FROM pairs p JOIN tenancy.tenants t ON t.id = p.t LEFT JOIN tenancy._member_facts f ON f.org_id = t.org_id AND f.user_id = p.u', 7) * 1000 / (SELECT count(*) FROM pairs);
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;
RESET enable_memoize; RESET join_collapse_limit;
SELECT 'pairs ' || count(*) FROM pairs;
SELECT 'granted ' || count(*) FILTER (WHERE tenancy.has_permission(u, t, 'doc:read')) FROM pairs;
-- The cap under a working set larger than it.
SET tenancy.cache_size = '64kB';
SELECT tenancy.cache_reset();
SELECT count(*) FROM pairs WHERE tenancy.has_permission(u, t, 'doc:read') \g /dev/null
SELECT 'capped_capacity ' || capacity, 'capped_bytes ' || bytes, 'capped_memory ' || memory,
       'capped_entries ' || entries, 'capped_evictions ' || evictions
FROM tenancy.cache_stats();
SQL
}

declare -A R
collect() { # PREFIX DB
    local line k v
    while read -r line; do
        k=${line%% *}; v=${line#* }
        R["$1.$k"]=$v
    done < <(measure "$2" | tr '|' '\n')
}
say "measuring check cost (small)"
collect small small
DATASETS=small
if [ "${SCALE:-}" != small ]; then
    say "measuring check cost (large)"
    collect large large
    DATASETS="small large"
fi

us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
printf '%-8s %10s %10s %10s %12s %12s %14s %12s\n' data "hit (us)" "miss (us)" "sql (us)" "sql/hit" "sql/miss" "bytes/entry" "mem/entry"
LINES=()
for d in $DATASETS; do
    hit=$(us "${R[$d.hit_us]}" "${R[$d.scan_us]}")
    miss=$(us "${R[$d.miss_us]}" "${R[$d.scan_us]}")
    sql=$(us "${R[$d.sql_us]}" "${R[$d.scan_us]}")
    printf '%-8s %10s %10s %10s %12s %12s %14s %12s\n' "$d" "$hit" "$miss" "$sql" \
        "$(ratio "$sql" "$hit")" "$(ratio "$sql" "$miss")" "${R[$d.bytes_per_entry]}" "${R[$d.memory_per_entry]}"
    LINES+=("BENCH check_hit_$d speedup_vs_sql=$(ratio "$sql" "$hit") us=$hit")
    LINES+=("BENCH check_miss_$d speedup_vs_sql=$(ratio "$sql" "$miss") us=$miss")
    LINES+=("BENCH memory_$d bytes_per_entry=${R[$d.bytes_per_entry]} memory_per_entry=${R[$d.memory_per_entry]}")
    LINES+=("BENCH cap_$d capacity=${R[$d.capped_capacity]} bytes=${R[$d.capped_bytes]} memory=${R[$d.capped_memory]} entries=${R[$d.capped_entries]} evictions=${R[$d.capped_evictions]}")
    eval "HIT_$d=$hit MISS_$d=$miss PROBE_$d=$(us "${R[$d.probe_us]}" "${R[$d.scan_us]}")"
done
if [ "${SCALE:-}" != small ]; then
    LINES+=("BENCH scale_hit large_over_small=$(ratio "$HIT_large" "$HIT_small")")
    LINES+=("BENCH scale_miss large_over_small=$(ratio "$MISS_large" "$MISS_small")")
    LINES+=("BENCH scale_probe_baseline large_over_small=$(ratio "$PROBE_large" "$PROBE_small") small_us=$PROBE_small large_us=$PROBE_large")
fi

# pgbench ------------------------------------------------------------------
DB=${DATASETS##* }
say "pgbench on the $DB hierarchy: 8 clients, $ROUNDS rounds of ${PGB_SECS}s each way"
psql_db "$DB" -o /dev/null <<'SQL'
CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now(), payload text);
INSERT INTO events (tenant_id, created_at, payload)
SELECT t.id, now() - g * interval '1 second', 'seed' FROM tenancy.tenants t, generate_series(1, 10) g;
CREATE INDEX ON events (tenant_id, created_at);
CREATE TABLE events_plain (LIKE events INCLUDING ALL);
INSERT INTO events_plain SELECT * FROM events;
SELECT tenancy.protect('events', resource_type => 'doc');
-- Editors (create, read) with their tenant, in the first half of the orgs.
CREATE TABLE ctx_pairs AS
SELECT row_number() OVER () AS n, user_id AS u, tenant_id AS t FROM (
    SELECT a.user_id, a.tenant_id FROM tenancy.role_assignments a
    JOIN tenancy.organizations o ON o.id = a.org_id
    WHERE a.user_id IS NOT NULL AND a.role_id = '00000000-0000-0000-0002-000000000002'
      AND (o.slug <> (SELECT max(slug) FROM tenancy.organizations)
           OR (SELECT count(*) FROM tenancy.organizations) = 1)
    ORDER BY md5(a.user_id::text || a.tenant_id::text) LIMIT 10000) x;
CREATE UNIQUE INDEX ON ctx_pairs (n);
CREATE ROLE bench_app LOGIN;
GRANT SELECT, INSERT ON events, events_plain, ctx_pairs TO bench_app;
GRANT USAGE ON SEQUENCE events_id_seq TO bench_app;
ANALYZE;
SQL
NPAIRS=$(psql_db "$DB" -At -c "SELECT count(*) FROM ctx_pairs")
cat >"$WORK/protected.sql" <<SCRIPT
\\set r random(1, $NPAIRS)
SELECT u, t FROM ctx_pairs WHERE n = :r \gset
BEGIN;
SELECT tenancy.set_context(:u, :t);
SELECT * FROM events ORDER BY created_at DESC LIMIT 10;
INSERT INTO events (tenant_id, payload) VALUES (:t, 'bench');
COMMIT;
SCRIPT
cat >"$WORK/plain.sql" <<SCRIPT
\\set r random(1, $NPAIRS)
SELECT u, t FROM ctx_pairs WHERE n = :r \gset
BEGIN;
SELECT 1;
SELECT * FROM events_plain WHERE tenant_id = :t ORDER BY created_at DESC LIMIT 10;
INSERT INTO events_plain (tenant_id, payload) VALUES (:t, 'bench');
COMMIT;
SCRIPT

# Both scripts run in one pgbench run, on the same 8 connections, each
# transaction picking one at random: they see the same machine at the same
# moments, which separate runs on a shared machine never do (a run later in
# the bench meets bigger tables, a checkpoint, another tenant of the host).
# Every transaction is logged (-l) with its script, end time and latency.
# The connections are new, with empty caches, as after a restart;
# applications keep pooled connections for hours, so the first WARMUP seconds
# are left out.  In a closed loop a client starts its next transaction when
# the last ends, so the TPS ratio of two scripts is the inverse ratio of their
# mean latencies.
#
# After the warm-up, a churn session grants and revokes in the last
# organization, ten of each a second, in every other window of CHURN_WINDOW
# seconds: the protected script's latency in those windows against the quiet
# ones gives the churn ratio (0.5 s around each switch is left out).
CHURN_WINDOW=5
mixed_run() { # LOGDIR
    local org user tenant start end
    org=$(psql_db "$DB" -At -c "SELECT id FROM tenancy.organizations ORDER BY slug DESC LIMIT 1")
    user=$(psql_db "$DB" -At -c "SELECT user_id FROM tenancy.memberships WHERE org_id = '$org' ORDER BY user_id DESC LIMIT 1")
    tenant=$(psql_db "$DB" -At -c "SELECT id FROM tenancy.tenants WHERE org_id = '$org' LIMIT 1")
    mkdir -p "$1"; rm -f "$1"/pgbench_log.* "$1/windows"
    (cd "$1" && "$PG_BIN/pgbench" -n -M prepared -c 8 -j 2 -T $((PGB_SECS + WARMUP)) -l \
        -U bench_app -f "$WORK/protected.sql@1" -f "$WORK/plain.sql@1" "$DB" >"$1/out" 2>&1) &
    local bench=$!
    sleep "$WARMUP"
    end=$(($(date +%s) + PGB_SECS))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep "$CHURN_WINDOW"
        start=$(date +%s.%N)
        for _ in $(seq $((CHURN_WINDOW * 10))); do
            echo "SELECT tenancy.assign_role('viewer', tenant => '$tenant', user_id => '$user');"
            echo "SELECT pg_sleep(0.05);"
            echo "SELECT tenancy.revoke_role('viewer', tenant => '$tenant', user_id => '$user');"
            echo "SELECT pg_sleep(0.05);"
        done | psql_db "$DB" -o /dev/null
        echo "$start $(date +%s.%N)" >>"$1/windows"
    done
    wait $bench || { cat "$1/out" >&2; die "pgbench failed"; }
}

# LOGDIR -> mean latencies (ms) after the warm-up, in quiet and in churn
# windows: "protected_quiet plain_quiet protected_churn plain_churn"
mixed_figures() {
    cat "$1"/pgbench_log.* | awk -v warm="$WARMUP" -v wfile="$1/windows" '
        BEGIN { while ((getline line < wfile) > 0) { split(line, w, " "); ws[++nw] = w[1]; we[nw] = w[2] } }
        { t = $5 + $6 / 1e6; lat[NR] = $3; scr[NR] = $4; at[NR] = t; if (NR == 1 || t < t0) t0 = t }
        END {
            for (i = 1; i <= NR; i++) {
                if (at[i] < t0 + warm || at[i] > we[nw] + 0.5) continue
                where = "q"
                for (k = 1; k <= nw; k++) {
                    if ((at[i] > ws[k] - 0.5 && at[i] < ws[k] + 0.5) ||
                        (at[i] > we[k] - 0.5 && at[i] < we[k] + 0.5)) { where = ""; break }
                    if (at[i] >= ws[k] && at[i] <= we[k]) where = "c"
                }
                if (where != "") { sum[where, scr[i]] += lat[i]; n[where, scr[i]]++ }
            }
            printf "%.4f %.4f %.4f %.4f\n", sum["q", 0] / n["q", 0] / 1000, sum["q", 1] / n["q", 1] / 1000,
                sum["c", 0] / n["c", 0] / 1000, sum["c", 1] / n["c", 1] / 1000
        }'
}

: >"$WORK/mix"
for r in $(seq "$ROUNDS"); do
    mixed_run "$WORK/round$r"
    mixed_figures "$WORK/round$r" | tee -a "$WORK/mix" |
        sed "s/^/    round $r, mean latency (ms), quiet: protected, hand-written; churn: protected, hand-written: /"
done
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { cut -d' ' -f"$1" "$WORK/mix" | median; }
echo
printf '%-46s %12s %12s\n' "pgbench, 8 clients, both scripts interleaved" "quiet (ms)" "churn (ms)"
printf '%-46s %12.3f %12.3f\n' "hand-written, unprotected" "$(col 2)" "$(col 4)" \
    "protected" "$(col 1)" "$(col 3)"
LINES+=("BENCH pgbench_protected tps_ratio_vs_handwritten=$(awk '{ print $2 / $1 }' "$WORK/mix" | median | xargs printf '%.2f')")
LINES+=("BENCH pgbench_churn tps_ratio_vs_quiet=$(awk '{ print $1 / $3 }' "$WORK/mix" | median | xargs printf '%.2f')")
echo
printf '%s\n' "${LINES[@]}"
