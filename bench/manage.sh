#!/usr/bin/env bash
# bench/manage.sh — what the management functions cost per call in an
# organization of 1,000 tenants and in one of 100,000 (the same cluster,
# each with proportional members, teams and assignments:
# bench/manage_setup.sql), and whether the decision cache stays within its
# cap for an organization admin who sees 100,000 tenants.  On demand; never
# part of the tests.
#
# Each round, for each operation and each organization (interleaved, the
# order alternating), one transaction calls the function K times (fresh
# names, users not yet assigned or in the team) between two clock readings,
# and is rolled back; the tables are vacuumed after every round.  Prints
# the median per call:
#   BENCH manage_<op>_<size> ms_per_op=<x>
#   BENCH manage_<op> ratio_<large>_vs_<small>=<x>
# then, for the organization admin's query on a protected table with a row
# in every tenant of the large organization:
#   BENCH cache_100k_tenants bytes=<x> cap=<y>
# Environment: ROUNDS (5), K (calls per transaction, 200), LARGE (100000),
# SMALL (1000), KEEP=1 to keep the cluster.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
K=${K:-200}
SMALL=${SMALL:-1000}
LARGE=${LARGE:-100000}
bench_cluster "max_wal_size = '4GB'" "autovacuum = off"

q() { "$PG_BIN/psql" -X -At -d bench -c "$1"; }
q "CREATE EXTENSION pg_tenancy" >/dev/null
q "SELECT tenancy.register_resource_type('doc')" >/dev/null
q "CREATE TABLE mg_orgs (size text PRIMARY KEY, org uuid, admin uuid)" >/dev/null
q "CREATE TABLE mg_pairs (size text, k int, user_id uuid, tenant_id uuid, team_id uuid)" >/dev/null
q "CREATE TABLE docs (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL)" >/dev/null
q "CREATE INDEX ON docs (tenant_id)" >/dev/null
q "SELECT tenancy.protect('docs', resource_type => 'doc')" >/dev/null
q "CREATE ROLE bench_app LOGIN" >/dev/null
q "GRANT SELECT ON docs TO bench_app" >/dev/null
# tenancy.cache_size can be set by a superuser only: a second login with a 1MB cap.
q "CREATE ROLE bench_app_1mb LOGIN IN ROLE bench_app" >/dev/null
q "ALTER ROLE bench_app_1mb SET tenancy.cache_size = '1MB'" >/dev/null
for size in small large; do
    n=$SMALL; [ $size = large ] && n=$LARGE
    say "loading the $size organization ($n tenants)"
    "$PG_BIN/psql" -X -q -d bench -v size=$size -v n=$n -v k=$K -f "$REPO/bench/manage_setup.sql" >/dev/null
done
q "VACUUM ANALYZE" >/dev/null

# script OP SIZE -> psql input: K calls in one statement, timed, rolled back.
call_of() {
    case "$1" in
        create_tenant) call="tenancy.create_tenant(o.org, 'new-' || p.k)" ;;
        assign_role) call="tenancy.assign_role('viewer', tenant => p.tenant_id, user_id => p.user_id)" ;;
        add_team_member) call="tenancy.add_team_member(p.team_id, p.user_id)" ;;
        create_team) call="tenancy.create_team(o.org, 'new team ' || p.k)" ;;
    esac
    echo "$call"
}
script() {
    local call
    call=$(call_of "$1")
    cat <<SQL
\\set ON_ERROR_STOP 1
BEGIN;
CREATE TEMP TABLE calls ON COMMIT DROP AS
SELECT o.org, p.* FROM mg_pairs p JOIN mg_orgs o USING (size) WHERE size = '$2' ORDER BY k;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset
SELECT count($call) FROM calls p, LATERAL (SELECT p.org) o \\g /dev/null
SELECT (extract(epoch FROM clock_timestamp()) - :t0) * 1000 / $K AS ms \\gset
\\echo MS :ms
ROLLBACK;
SQL
}
run() {
    local out
    out=$("$PG_BIN/psql" -X -q -d bench -f "$1" 2>&1) || { echo "$out" >&2; die "psql failed: $1"; }
    echo "$out" | awk '/^MS / { printf "%.4f\n", $2 }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

OPS="create_tenant assign_role add_team_member create_team"
for op in $OPS; do
    for size in small large; do script $op $size >"$WORK/$op.$size.sql"; : >"$WORK/$op.$size"; done
done
say "rounds: $ROUNDS, $K calls each"
for r in $(seq "$ROUNDS"); do
    for op in $OPS; do
        if [ $((r % 2)) -eq 1 ]; then order="small large"; else order="large small"; fi
        for size in $order; do run "$WORK/$op.$size.sql" >>"$WORK/$op.$size"; done
    done
    q "VACUUM tenancy.tenants, tenancy.teams, tenancy.team_members, tenancy.role_assignments, tenancy._member_facts, tenancy.audit_log" >/dev/null
done

printf '\n%-16s %12s %12s %10s  %s\n' operation "ms/call $SMALL" "ms/call $LARGE" "large/small" "per round (large/small)"
LINES=()
for op in $OPS; do
    s=$(median <"$WORK/$op.small"); l=$(median <"$WORK/$op.large")
    ratio=$(awk -v a="$l" -v b="$s" 'BEGIN { printf "%.3f", a / b }')
    per=$(paste "$WORK/$op.large" "$WORK/$op.small" | awk '{ printf "%.2f ", $1 / $2 }')
    printf '%-16s %12.4f %12.4f %10s  %s\n' "$op" "$s" "$l" "$ratio" "$per"
    LINES+=("BENCH manage_${op}_$SMALL ms_per_op=$s tenants=$SMALL")
    LINES+=("BENCH manage_${op}_$LARGE ms_per_op=$l tenants=$LARGE")
    LINES+=("BENCH manage_$op ratio_${LARGE}_vs_$SMALL=$ratio")
done

# Buffers per call (from EXPLAIN (ANALYZE, BUFFERS), which counts what the
# functions' own statements read): unlike times, not moved by the machine's
# load; equal at both sizes means no scan that grows with the organization.
buffers() {
    "$PG_BIN/psql" -X -q -At -d bench <<SQL | awk -v k="$K" '/Buffers: shared hit=/ { sub(/.*shared hit=/, ""); print $1 / (k - 10); exit }'
BEGIN;
$(script "$1" "$2" | sed -n '/^CREATE TEMP TABLE/,/ORDER BY k;/p')
SELECT count($(call_of "$1")) FROM calls p, LATERAL (SELECT p.org) o WHERE k <= 10 \\g /dev/null
EXPLAIN (ANALYZE, BUFFERS) SELECT count($(call_of "$1")) FROM calls p, LATERAL (SELECT p.org) o WHERE k > 10;
ROLLBACK;
SQL
}
printf '\n%-16s %14s %14s\n' operation "buffers/call $SMALL" "buffers/call $LARGE"
for op in $OPS; do
    bs=$(buffers $op small); bl=$(buffers $op large)
    printf '%-16s %14.1f %14.1f\n' "$op" "$bs" "$bl"
    LINES+=("BENCH manage_${op}_buffers buffers_per_op_$SMALL=$bs buffers_per_op_$LARGE=$bl")
done

# The organization admin of the large organization, no current tenant:
# every tenant is visible (the policy's tenant list has 100,000 entries);
# what does the decision cache hold afterwards?  The query reads 100 rows
# by id: a scan of the whole table compares each row's tenant with that list
# one by one (about 0.4 ms a row at this size).
ADMIN=$(q "SELECT admin FROM mg_orgs WHERE size = 'large'")
cache_run() {
    "$PG_BIN/psql" -X -q -At -U "$1" -d bench <<SQL
BEGIN;
SELECT tenancy.set_context('$ADMIN') \\g /dev/null
SELECT count(*) FROM docs WHERE id BETWEEN $SMALL + 1 AND $SMALL + 100 \\g /dev/null
SELECT count(*) FROM docs WHERE id BETWEEN $SMALL + 1 AND $SMALL + 100 \\g /dev/null
COMMIT;
SELECT format('entries=%s bytes=%s cap=%s memory=%s hits=%s misses=%s evictions=%s', entries, bytes, capacity, memory, hits, misses, evictions) FROM tenancy.cache_stats();
SQL
}
echo
default=$(cache_run bench_app)
echo "organization admin of $LARGE tenants, cache, default cap: $default"
small=$(cache_run bench_app_1mb)
echo "the same, tenancy.cache_size = 1MB:                       $small"
getf() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
LINES+=("BENCH cache_100k_tenants bytes=$(getf "$default" bytes) cap=$(getf "$default" cap) memory=$(getf "$default" memory) entries=$(getf "$default" entries) tenants=$LARGE")
LINES+=("BENCH cache_100k_tenants_cap1MB bytes=$(getf "$small" bytes) cap=$(getf "$small" cap) memory=$(getf "$small" memory) entries=$(getf "$small" entries)")
echo
printf '%s\n' "${LINES[@]}"
