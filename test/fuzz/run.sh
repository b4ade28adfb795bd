#!/usr/bin/env bash
# test/fuzz/run.sh [COUNT [SEED]] — fuzz the token verifier and the permset
# input function.
#
# COUNT inputs per target (default 3000, a few seconds; 100000, about a
# minute, on demand), made by gen.py from SEED (default 1).  Uses the server
# that PGHOST/PGPORT/PGUSER name (scripts/test's) when PGPORT is set, else
# starts a throwaway cluster of $PG_BIN.  Each batch of inputs runs under a
# statement_timeout; the inputs are checked for: no crash (the connection
# survives), no hang (no batch times out, no input takes over a second),
# and only the SQLSTATEs fuzz.expected lists (driver.sql says what they
# mean).  Prints TAP lines ("ok N", "not ok N") and a summary line:
#   fuzz: inputs=... crashes=... hangs=... unexpected=... seconds=...
# SERVER_LOG, when set, is searched for backends killed by a signal;
# SLOW_MS (default 1000) is the time one input may take (raise it under
# valgrind).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
COUNT=${1:-3000}
SEED=${2:-1}
BATCH=${BATCH:-500}
. "$HERE/../../scripts/lib.sh"
PSQL="$PG_BIN/psql -X -q -v ON_ERROR_STOP=1"
START=$(date +%s)

OWN=
if [ -z "${PGPORT:-}" ]; then
    OWN=$(mktemp -d /tmp/pg_tenancy_fuzz.XXXXXX)
    chmod 755 "$OWN"
    trap 'stop_cluster "$OWN"; rm -rf "$OWN"' EXIT
    start_cluster "$OWN"
    SERVER_LOG="$OWN/server.log"
fi
TMP=$(mktemp -d /tmp/pg_tenancy_fuzzin.XXXXXX)
trap '[ -n "$OWN" ] && stop_cluster "$OWN" && rm -rf "$OWN"; rm -rf "$TMP"' EXIT

DB=pg_tenancy_fuzz
"$PG_BIN/dropdb" --if-exists "$DB" >/dev/null 2>&1
"$PG_BIN/createdb" "$DB" || die "could not create the fuzz database"
export PGDATABASE=$DB
$PSQL -f "$HERE/driver.sql" >/dev/null || die "driver.sql failed"

# The keys of the seed tokens (test/keys) and the generator's HS256 secret,
# and the user the seed tokens name, so that valid tokens go all the way.
{
    for k in rsa-1:RS256 ec-1:ES256 ed-1:EdDSA; do
        printf "SELECT tenancy.add_signing_key('%s', '%s', \$k\$%s\$k\$);\n" \
            "${k%%:*}" "${k##*:}" "$(cat "$HERE/../keys/${k%%:*}.pub")"
    done
    echo "SELECT tenancy.add_signing_key('hs-1', 'HS256', 'fuzz secret, thirty-two bytes or more');"
    echo "SELECT tenancy.add_signing_key('hs-aud', 'HS256', 'fuzz secret, thirty-two bytes or more', 'x', 'b');"
    echo "INSERT INTO tenancy.users (id, email) VALUES ('11111111-1111-4111-8111-111111111111', 'fuzz@example.com');"
    echo "SELECT tenancy.create_organization('fuzz', admin => '11111111-1111-4111-8111-111111111111');"
} | $PSQL >/dev/null || die "could not add the fuzz keys"

python3 "$HERE/gen.py" "$COUNT" "$SEED" >"$TMP/inputs.copy" || die "gen.py failed"
$PSQL -c "\\copy fuzz.inputs FROM '$TMP/inputs.copy'" || die "could not load the inputs"
TOTAL=$($PSQL -Atc "SELECT count(*) FROM fuzz.inputs")
rm -f "$TMP/inputs.copy"

crashes=0
hangs=0
crashed_batches=()
from=1
while [ "$from" -le "$TOTAL" ]; do
    to=$((from + BATCH - 1))
    out=$($PSQL -c "SET statement_timeout = '120s'; SET tenancy.require_signed_context = on;
                    SELECT fuzz.run($from, $to)" 2>&1)
    status=$?
    if [ $status -ne 0 ]; then
        if grep -q 'canceling statement due to statement timeout' <<<"$out"; then
            hangs=$((hangs + 1))
        else
            crashes=$((crashes + 1))
            crashed_batches+=("$from-$to")
            echo "# batch $from-$to: $out" | head -5
            # A crashed backend takes the others down; wait for recovery.
            for _ in $(seq 60); do "$PG_BIN/pg_isready" -q && break; sleep 1; done
        fi
    fi
    from=$((to + 1))
done

if [ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ] &&
   grep -q 'terminated by signal' "$SERVER_LOG"; then
    grep 'terminated by signal' "$SERVER_LOG" | head -5 | sed 's/^/# /'
    [ "$crashes" -gt 0 ] || crashes=1
fi

# Results per target.
n=0
fail=0
tap() {
    n=$((n + 1))
    if [ "$1" = ok ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
$PSQL -Atc "SELECT 1" >/dev/null 2>&1 && tap ok "the server accepts connections after the run" \
    || tap bad "the server accepts connections after the run"
[ "$crashes" -eq 0 ] && tap ok "no crash ($TOTAL inputs)" \
    || tap bad "no crash: $crashes batch(es) lost the connection: ${crashed_batches[*]}"
[ "$hangs" -eq 0 ] && tap ok "no batch hit statement_timeout" \
    || tap bad "no batch hit statement_timeout: $hangs did"
unexpected_total=0
for target in token permset; do
    read -r inputs run unexpected slow maxms < <($PSQL -AtF ' ' -c "
        SELECT (SELECT count(*) FROM fuzz.inputs WHERE target = '$target'),
               count(DISTINCT o.id),
               count(*) FILTER (WHERE e.sqlstate IS NULL),
               count(*) FILTER (WHERE o.ms > ${SLOW_MS:-1000}),
               round(coalesce(max(o.ms), 0)::numeric, 1)
        FROM fuzz.outcomes o JOIN fuzz.inputs i USING (id)
        LEFT JOIN fuzz.expected e ON e.target = i.target AND e.step = o.step AND e.sqlstate = o.sqlstate
        WHERE i.target = '$target'")
    unexpected_total=$((unexpected_total + unexpected))
    [ "$run" -eq "$inputs" ] && tap ok "$target: all $inputs inputs ran" \
        || tap bad "$target: all $inputs inputs ran (only $run did)"
    [ "$unexpected" -eq 0 ] && tap ok "$target: only documented SQLSTATEs" \
        || tap bad "$target: only documented SQLSTATEs ($unexpected unexpected)"
    [ "$slow" -eq 0 ] && tap ok "$target: no input took over ${SLOW_MS:-1000} ms (slowest ${maxms} ms)" \
        || tap bad "$target: no input took over ${SLOW_MS:-1000} ms ($slow did; slowest ${maxms} ms)"
    $PSQL -AtF ' ' -c "
        SELECT '# $target ' || o.step || ' ' || o.sqlstate || ': ' || count(*)
        FROM fuzz.outcomes o JOIN fuzz.inputs i USING (id)
        WHERE i.target = '$target' GROUP BY o.step, o.sqlstate ORDER BY 1"
    [ "$target" = token ] && $PSQL -AtF ' ' -c "
        SELECT '#   ' || count(*) || ' ' || detail FROM fuzz.outcomes
        WHERE step = 'verify' AND detail IS NOT NULL GROUP BY detail ORDER BY count(*) DESC"
    $PSQL -AtF ' ' -c "
        SELECT '# unexpected: input ' || o.id || ' (' || i.kind || ') ' || o.step || ' ' || o.sqlstate
        FROM fuzz.outcomes o JOIN fuzz.inputs i USING (id)
        LEFT JOIN fuzz.expected e ON e.target = i.target AND e.step = o.step AND e.sqlstate = o.sqlstate
        WHERE i.target = '$target' AND e.sqlstate IS NULL ORDER BY o.id LIMIT 10"
done
echo "1..$n"
echo "fuzz: inputs=$COUNT per target (seed $SEED), crashes=$crashes, hangs=$hangs, unexpected=$unexpected_total, seconds=$(( $(date +%s) - START ))"
[ "${KEEP_DB:-}" = 1 ] || "$PG_BIN/dropdb" --if-exists "$DB" >/dev/null 2>&1
exit $fail
