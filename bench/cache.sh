#!/usr/bin/env bash
# bench/cache.sh — the decision cache, measured.  On demand; never in CI.
#
#  1. check cost: tenancy.has_permission() with the cache warm (hit) and off
#     (miss), against the plain-SQL implementation (test/model/reference.sql)
#     on the same data in the same run;
#  2. scale: the same on a small (1,000 users, 100 tenants) and a large
#     (1,000,000 users, 100,000 tenants, 10,000 teams, ~5,000,000
#     assignments) hierarchy, as the ratio large/small;
#  3. memory: bytes per cached entry, and the cap held under a working set
#     larger than it;
#  4. pgbench, 8 clients: set context + protected select + protected insert
#     against the same script with hand-written filters on unprotected
#     tables; and the protected script while another session grants and
#     revokes in another organization ten times a second, against the quiet
#     run.
# Prints a table and "BENCH <name> <figure>=<x>" lines.
#
# Environment: SCALE=small to skip the large data set (quick look),
# PGBENCH_SECONDS (measured, default 15), WARMUP_SECONDS (default 20),
# ROUNDS (default 3), KEEP=1.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

PGB_SECS=${PGBENCH_SECONDS:-15}
WARMUP=${WARMUP_SECONDS:-20}
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
    eval "HIT_$d=$hit MISS_$d=$miss"
done
if [ "${SCALE:-}" != small ]; then
    LINES+=("BENCH scale_hit large_over_small=$(ratio "$HIT_large" "$HIT_small")")
    LINES+=("BENCH scale_miss large_over_small=$(ratio "$MISS_large" "$MISS_small")")
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

# Each pgbench run opens new connections, whose caches start empty, as they
# would after a restart.  Applications keep pooled connections for hours, so
# the rate is taken from the progress reports after a warm-up, the same way
# for every script.
tps() { # SCRIPT
    local out
    out=$("$PG_BIN/pgbench" -n -M prepared -c 8 -j 2 -T $((PGB_SECS + WARMUP)) -P 5 \
        -U bench_app -f "$1" "$DB" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    echo "$out" | awk -v warm="$WARMUP" '
        /^progress: / { t = $2 + 0; if (t > warm) { sum += $4; n++ } }
        END { if (n) printf "%.1f\n", sum / n }'
}

# Grants and revokes in the last organization, ten of each a second.
churn() {
    local org user tenant
    org=$(psql_db "$DB" -At -c "SELECT id FROM tenancy.organizations ORDER BY slug DESC LIMIT 1")
    user=$(psql_db "$DB" -At -c "SELECT user_id FROM tenancy.memberships WHERE org_id = '$org' ORDER BY user_id DESC LIMIT 1")
    tenant=$(psql_db "$DB" -At -c "SELECT id FROM tenancy.tenants WHERE org_id = '$org' LIMIT 1")
    for _ in $(seq $(((PGB_SECS + WARMUP) * 10 + 20))); do
        echo "SELECT tenancy.assign_role('viewer', tenant => '$tenant', user_id => '$user');"
        echo "SELECT pg_sleep(0.05);"
        echo "SELECT tenancy.revoke_role('viewer', tenant => '$tenant', user_id => '$user');"
        echo "SELECT pg_sleep(0.05);"
    done | psql_db "$DB" -o /dev/null
}

: >"$WORK/tps.p"; : >"$WORK/tps.i"; : >"$WORK/tps.c"
for _ in $(seq "$ROUNDS"); do
    tps "$WORK/protected.sql" >>"$WORK/tps.p"
    tps "$WORK/plain.sql" >>"$WORK/tps.i"
    churn & CHURN=$!
    sleep 1
    tps "$WORK/protected.sql" >>"$WORK/tps.c"
    kill $CHURN 2>/dev/null; wait $CHURN 2>/dev/null || true
done
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
TP=$(median <"$WORK/tps.p"); TI=$(median <"$WORK/tps.i"); TC=$(median <"$WORK/tps.c")
echo
printf '%-28s %10s\n' "pgbench (8 clients)" "tps"
printf '%-28s %10.0f\n' "hand-written, unprotected" "$TI" "protected" "$TP" "protected, with churn" "$TC"
LINES+=("BENCH pgbench_protected tps_ratio_vs_handwritten=$(ratio "$TP" "$TI")")
LINES+=("BENCH pgbench_churn tps_ratio_vs_quiet=$(ratio "$TC" "$TP")")
echo
printf '%s\n' "${LINES[@]}"
