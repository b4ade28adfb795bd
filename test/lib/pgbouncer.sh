# test/lib/pgbouncer.sh — a throwaway PgBouncer in transaction pooling mode
# in front of the test cluster, for the suites that need one.  Sourced
# after scripts/lib.sh (PG_BIN, free_port, as_server_user), with PGHOST,
# PGPORT and PGUSER of the running cluster and trust authentication.

PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

# pgbouncer_start DIR DB POOL_SIZE MAX_CLIENTS USER...: start one for the
# users named (and PGUSER, its admin), listening on a free port of
# 127.0.0.1 (PGB_PORT), with its files in DIR, which the server's OS user
# must be able to reach; false if it did not come up.
pgbouncer_start() {
    local dir=$1 db=$2 pool=$3 clients=$4
    shift 4
    PGB_PORT=$(free_port)
    printf '"%s" ""\n' "$@" "$PGUSER" >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db pool_size=$pool

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = $PGUSER
pool_mode = transaction
default_pool_size = $pool
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = $clients
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"/*
    as_server_user "$PGBOUNCER" -d -q "$dir/pgbouncer.ini" || return 1
    for _ in $(seq 100); do pgbouncer_admin 'SHOW VERSION' >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# pgbouncer_admin COMMAND: its admin console, '|'-separated.
pgbouncer_admin() {
    "$PG_BIN/psql" -X -A -F'|' -h 127.0.0.1 -p "$PGB_PORT" -U "$PGUSER" -d pgbouncer -c "$1" 2>&1
}

# pgbouncer_stop DIR: stop the one whose files are in DIR, if any.
pgbouncer_stop() {
    local pid
    [ -s "$1/pgbouncer.pid" ] || return 0
    pid=$(cat "$1/pgbouncer.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
