#!/usr/bin/env bash
# test/integrations/python/run.sh WORKDIR — the Python examples of
# examples/python/ under concurrent, pooled load, and their pitfalls.
#
# Assumes the cluster is running (PGHOST, PGPORT, PGUSER in the environment,
# trust authentication, PG_BIN set).  Creates database py_tenancy and role
# regress_py_app, a hierarchy of 3 organizations, their tenants and teams,
# 20 users with random roles, and a protected table; then
#   - SQLAlchemy 1.4: 300 requests on 12 threads over a QueuePool of 4,
#     through examples/python/tenancy_sqlalchemy.py;
#   - Django 3.2: 300 requests on 12 client threads over HTTP to the example
#     project (serve.py, 12 worker threads, CONN_MAX_AGE=None) behind a
#     PgBouncer in transaction pooling mode with 4 server connections;
# each request checks that it sees exactly the rows its user may read, and
# that its writes succeed exactly where its user may write, against a model
# computed from the assignment map.  Prints TAP; cleans up on exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
. "$repo/scripts/lib.sh"
. "$repo/test/lib/pgbouncer.sh"
work=${1:?usage: run.sh WORKDIR}
bin=$PG_BIN
db=py_tenancy
app=regress_py_app
dir=$work/integrations-python
py=/usr/bin/python3         # not a pyenv python3 earlier on PATH
seed=${PY_SEED:-20261203}   # the world's random seed
export PYTHONDONTWRITEBYTECODE=1
pool=4
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
psql_su() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# emit FILE WANT STAGE: number the "ok - " / "not ok - " lines a Python
# script printed; anything else becomes a diagnostic; checks it did not get
# to are failures.
emit() {
    local f=$1 want=$2 stage=$3 got=0 line
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "${line#ok - }"; got=$((got + 1)) ;;
            "not ok - "*) notok "${line#not ok - }"; got=$((got + 1)) ;;
            *) printf '# %s\n' "${line#\# }" ;;
        esac
    done <"$f"
    while [ "$got" -lt "$want" ]; do
        notok "$stage: a check was not reached (the script stopped early)"
        got=$((got + 1))
    done
}

echo "1..31"

# The Debian packages (also to go in scripts/lib.sh's PACKAGES).
pkgs="python3-sqlalchemy python3-django python3-psycopg2"
if ! $py -c 'import sqlalchemy, django, psycopg2' 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 &&
             apt-get install -y -qq --no-install-recommends $pkgs >/dev/null 2>&1; }
fi
if ! $py -c 'import sqlalchemy, django, psycopg2' 2>/dev/null; then
    echo "Bail out! $py cannot import sqlalchemy, django and psycopg2 (Debian: $pkgs)"
    exit 1
fi
[ -x "$PGBOUNCER" ] || { echo "Bail out! pgbouncer is not installed (Debian package pgbouncer)"; exit 1; }

django_pid=
cleanup() {
    if [ -n "$django_pid" ]; then kill "$django_pid" 2>/dev/null; wait "$django_pid" 2>/dev/null; fi
    pgbouncer_stop "$dir"
    "$bin/dropdb" --if-exists --force "$db" >/dev/null 2>&1
    psql_su -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT

rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"

"$bin/dropdb" --if-exists --force "$db" >/dev/null 2>&1
psql_su -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1
if ! { "$bin/createdb" "$db" &&
       psql_su -d postgres -c "CREATE ROLE $app LOGIN" &&
       psql_su -d "$db" -c "CREATE EXTENSION pg_tenancy"; } >"$dir/setup.log" 2>&1; then
    echo "Bail out! creating the database failed"; sed 's/^/# /' "$dir/setup.log"; exit 1
fi

# 1-2: the hierarchy, its model checked against tenancy.has_permission, check_setup().
timeout 60 $py "$here/setup_world.py" "$db" "$app" "$dir/world.json" "$seed" >"$dir/setup_world.out" 2>&1
echo "# seed $seed (PY_SEED)"
emit "$dir/setup_world.out" 2 "setup"
[ -s "$dir/world.json" ] || { echo "Bail out! no world.json"; exit 1; }

# 3: the application role is one the policies apply to.
check "the application role is not a superuser, has no BYPASSRLS and does not own the table" \
    "[ \"\$(psql_su -At -d $db -c \"SELECT r.rolsuper OR r.rolbypassrls OR c.relowner = r.oid
        FROM pg_roles r, pg_class c WHERE r.rolname = '$app' AND c.oid = 'public.notes'::regclass\")\" = f ]"

# 4-16: SQLAlchemy.
t0=$(date +%s%N)
timeout 120 $py "$here/check_sqlalchemy.py" "$dir/world.json" \
    "postgresql+psycopg2://$app@$PGHOST:$PGPORT/$db" \
    "postgresql+psycopg2://$PGUSER@$PGHOST:$PGPORT/$db" >"$dir/sqlalchemy.out" 2>&1
emit "$dir/sqlalchemy.out" 13 "sqlalchemy"
echo "# sqlalchemy: $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# 17: the warning itself, with its SQLSTATE, as any client gets it.
reader=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["users"][0])' "$dir/world.json")
out=$("$bin/psql" -X -At -U "$app" -d "$db" -v VERBOSITY=verbose \
    -c "SELECT tenancy.set_context('$reader')" -c "SELECT count(*) FROM public.notes" 2>&1)
check "set_context outside a transaction warns with 25P01, and the next statement sees 0 rows" \
    "printf '%s\n' \"\$out\" | grep -q '^WARNING:  25P01: tenancy context set outside a transaction block' &&
     [ \"\$(printf '%s\n' \"\$out\" | grep -v '^[A-Z]*:' | tail -1)\" = 0 ]"

# PgBouncer in transaction pooling mode, pool_size $pool, for Django.
if ! pgbouncer_start "$dir" "$db" "$pool" 100 "$app"; then
    echo "Bail out! pgbouncer did not start (is $dir reachable by the postgres user?)"
    sed 's/^/# /' "$dir/pgbouncer.log" 2>/dev/null
    exit 1
fi
pgb_port=$PGB_PORT
admin() { pgbouncer_admin "$1"; }

# The Django example, 12 worker threads, through PgBouncer.
dj_port=$(free_port)
(cd "$repo/examples/python/django_example" &&
    TENANCY_DB_HOST=127.0.0.1 TENANCY_DB_PORT=$pgb_port TENANCY_DB_NAME=$db TENANCY_DB_USER=$app \
    exec $py serve.py --port "$dj_port" --threads 12) >"$dir/django.log" 2>&1 &
django_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$dj_port") 2>/dev/null && break; sleep 0.1; done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$dj_port") 2>/dev/null; then
    echo "Bail out! the Django example did not start"; sed 's/^/# /' "$dir/django.log"; exit 1
fi

# 18-30: Django (its in-process pitfalls go straight to the cluster).
t0=$(date +%s%N)
TENANCY_DB_HOST=$PGHOST TENANCY_DB_PORT=$PGPORT TENANCY_DB_NAME=$db TENANCY_DB_USER=$app PGB_POOL=$pool \
timeout 120 $py "$here/check_django.py" "$dir/world.json" "http://127.0.0.1:$dj_port" \
    "host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER" >"$dir/django.out" 2>&1
emit "$dir/django.out" 13 "django"
echo "# django: $(( ($(date +%s%N) - t0) / 1000000 )) ms"

# 31: PgBouncer kept the Django threads' persistent connections on few servers.
# count_of SHOW-COMMAND: the rows of our database and application role.
count_of() {
    admin "$1" | awk -F'|' -v db="$db" -v user="$app" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        col["database"] && $col["database"] == db && $col["user"] == user { k++ }
        END { print k + 0 }'
}
servers=$(count_of 'SHOW SERVERS')
clients=$(count_of 'SHOW CLIENTS')
check "PgBouncer: $clients persistent Django connections shared $servers server connections (pool_size $pool)" \
    "[ $servers -ge 1 ] && [ $servers -le $pool ] && [ $clients -gt $pool ]"

if [ "$failed" -gt 0 ]; then
    echo "# django.log (tail):"
    tail -20 "$dir/django.log" | sed 's/^/# /'
fi
exit $((failed > 0))
