#!/usr/bin/env bash
# test/citus/suite.sh — the Citus suite of scripts/test: builds Citus into
# the PostgreSQL 15 tree when it is not there (../shared/citus/build.sh, kept
# beside the project), then runs test/citus/run.sh (set-up, hierarchy,
# context, single-node equality, freshness, failures, citus_add_node, signed
# contexts, the model-based test) and test/citus/protect.sh (protect() and
# its guards on shards).  TAP on stdout.
#   test/citus/suite.sh WORKDIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${1:?WORKDIR}
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
build=""
for b in "${CITUS_BUILD:-}" "$REPO/../shared/citus/build.sh" /work/shared/citus/build.sh; do
    [ -n "$b" ] && [ -f "$b" ] && { build=$b; break; }
done
if [ -z "$build" ]; then
    echo "Bail out! Citus's build.sh not found (set CITUS_BUILD=/path/to/shared/citus/build.sh)"
    exit 1
fi
if ! PG_CONFIG="$PG_BIN/pg_config" bash "$build" >"$WORK/citus-build.log" 2>&1; then
    cat "$WORK/citus-build.log"
    echo "Bail out! building Citus failed"
    exit 1
fi
echo "# $(tail -1 "$WORK/citus-build.log")"
status=0
bash "$HERE/run.sh" "$WORK" || status=1
echo "# protect() on Citus tables"
bash "$HERE/protect.sh" || status=1
exit $status
