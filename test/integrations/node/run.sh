#!/usr/bin/env bash
# test/integrations/node/run.sh WORKDIR — the Node.js integration example
# (examples/node) against the running cluster (PGHOST, PGPORT, PGUSER in the
# environment, a superuser with trust authentication; PG_BIN set).
#
# Copies examples/node to WORKDIR/node-integration and installs its locked
# dependencies there (npm ci: pg and knex, no install scripts), so the repo
# gets no node_modules.  Creates database regress_node and role
# regress_node_app (dropped on exit) with two organizations, 7 tenants and
# 20 users holding random roles in random tenants (setup.sql), then
# isolation.test.js runs, for pg.Pool and for knex, several hundred
# concurrent requests of random users through examples/node/tenancy.js and
# checks that each saw and wrote exactly what its user may, that no context
# crossed over to another request, and that the pool only ever handed out
# clean connections; then the pitfalls the example's README warns about.
# Prints TAP.  SEED=n repeats a run; REQUESTS, CONCURRENCY and POOL_MAX
# change its size.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
. "$repo/scripts/lib.sh"
work=${1:?usage: run.sh WORKDIR}
bin=$PG_BIN
db=regress_node
app=regress_node_app
dir=$work/node-integration
plan=34
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { sed 's/^/# /'; }
psql_su() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
# The remaining checks cannot run: fail them, so the count stays right.
bail_rest() {
    while [ "$n" -lt "$plan" ]; do notok "not run: $1"; done
    exit 1
}

echo "1..$plan"

cleanup() {
    "$bin/dropdb" --if-exists --force "$db" >/dev/null 2>&1
    psql_su -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT

# Node.js 18 or later and npm (Debian's packages nodejs and npm, as root).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends nodejs npm; } >/dev/null 2>&1
    fi
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    notok "node and npm are installed (Debian packages nodejs and npm)"
    bail_rest "no node"
fi

# 1. The example's dependencies, exactly as locked.
rm -rf "$dir"
mkdir -p "$dir/app"
cp "$repo"/examples/node/{package.json,package-lock.json,tenancy.js} "$here/isolation.test.js" "$dir/app/"
t0=$SECONDS
if (cd "$dir/app" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$dir/npm.log" 2>&1 &&
   versions=$(cd "$dir/app" && node -p "['pg','knex'].map(m => m + ' ' + require(m + '/package.json').version).join(', ')") &&
   locked=$(cd "$dir/app" && node -p "const l = require('./package-lock.json').packages; ['pg','knex'].map(m => m + ' ' + l['node_modules/' + m].version).join(', ')") &&
   [ "$versions" = "$locked" ]; then
    ok "npm ci installs the locked dependencies ($versions, $((SECONDS - t0)) s, node $(node --version))"
else
    notok "npm ci installs the locked dependencies"
    tail -20 "$dir/npm.log" | diag
    bail_rest "npm ci failed"
fi

# 2. The database: the hierarchy, the protected table and the app role.
seed=${SEED:-$((RANDOM % 100000))}
"$bin/dropdb" --if-exists --force "$db" >/dev/null 2>&1
psql_su -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1
if "$bin/createdb" "$db" >"$dir/setup.log" 2>&1 &&
   psql_su -d postgres -c "CREATE ROLE $app LOGIN" >>"$dir/setup.log" 2>&1 &&
   psql_su -d "$db" -v app="$app" -v seed="0.$seed" -f "$here/setup.sql" >>"$dir/setup.log" 2>&1 &&
   counts=$(psql_su -At -d "$db" -c "SELECT (SELECT count(*) FROM tenancy.tenants) || ' tenants, ' ||
        (SELECT count(*) FROM tenancy.users) || ' users, ' ||
        (SELECT count(*) FROM tenancy.role_assignments WHERE tenant_id IS NOT NULL) || ' tenant roles, ' ||
        (SELECT count(*) FROM public.notes) || ' rows'") &&
   [ "$(psql_su -At -d "$db" -c "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = '$app'")" = f ]; then
    ok "database $db with a protected table and app role $app ($counts, seed $seed)"
else
    notok "database $db with a protected table and app role $app"
    diag <"$dir/setup.log"
    bail_rest "setting up the database failed"
fi

# 3... The requests.
t0=$SECONDS
(cd "$dir/app" && START=$((n + 1)) SEED="$seed" TEST_DB="$db" APP_ROLE="$app" \
    REQUESTS="${REQUESTS:-400}" CONCURRENCY="${CONCURRENCY:-16}" POOL_MAX="${POOL_MAX:-4}" \
    timeout 100 node isolation.test.js) >"$dir/node.out" 2>&1
rc=$?
# Pass its TAP lines and comments through; anything else becomes a comment.
while IFS= read -r line; do
    case $line in
        "ok "* | "not ok "* | "#"*) echo "$line" ;;
        *) echo "# $line" ;;
    esac
done <"$dir/node.out"
n=$((n + $(grep -cE '^(not )?ok [0-9]+' "$dir/node.out")))
failed=$((failed + $(grep -cE '^not ok [0-9]+' "$dir/node.out")))
echo "# node ran for $((SECONDS - t0)) s, exit status $rc"
if [ "$n" -lt "$plan" ]; then bail_rest "isolation.test.js stopped early (exit status $rc)"; fi
[ "$n" -eq "$plan" ] || notok "isolation.test.js printed $n checks, $plan planned"
[ "$rc" -eq 0 ] || [ "$failed" -gt 0 ] || notok "isolation.test.js exited with status $rc"
exit $((failed > 0))
