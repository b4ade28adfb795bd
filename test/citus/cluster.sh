#!/usr/bin/env bash
# test/citus/cluster.sh — a throwaway Citus cluster (coordinator + 2 workers)
# on 127.0.0.1, for pg_tenancy's scale-out tests and probes.
#
#   test/citus/cluster.sh start WORKDIR    # initdb x3, start, register workers
#   test/citus/cluster.sh stop  WORKDIR    # stop the three servers
#   test/citus/cluster.sh clean WORKDIR    # stop and remove WORKDIR
#
# or sourced:  . test/citus/cluster.sh; citus_cluster_start DIR; ...; citus_cluster_stop DIR
#
# After start, WORKDIR/env holds (source it):
#   PG_BIN COORD_PORT W1_PORT W2_PORT CITUS_DB PGHOST PGUSER PGDATABASE PGPORT(=coordinator)
# Nodes live in WORKDIR/{coord,w1,w2}/data, logs in WORKDIR/{coord,w1,w2}/server.log.
#
# Environment:
#   PG_BIN            server binaries with Citus and pg_tenancy installed
#                     (default: Debian's /usr/lib/postgresql/15/bin)
#   CITUS_DB          database to create on every node (default: tenancy)
#   CITUS_PRELOAD     shared_preload_libraries (default: citus,pg_tenancy; citus must be first)
#   CITUS_EXTRA_CONF  extra "-c name=value" options for every server, e.g.
#                     "-c wal_level=logical -c max_wal_senders=20"
#   CITUS_NO_TENANCY=1  do not CREATE EXTENSION pg_tenancy (default: created on the
#                     coordinator after the workers are added, so Citus propagates it)
# As root, the servers run as "postgres" (scripts/lib.sh as_server_user).

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# shellcheck source=../../scripts/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
CITUS_DB=${CITUS_DB:-tenancy}
CITUS_PRELOAD=${CITUS_PRELOAD:-citus,pg_tenancy}
CITUS_EXTRA_CONF=${CITUS_EXTRA_CONF:-}

# citus_node_start DIR PORT: initdb DIR/data and start it on PORT.
# Restart a stopped node with: as_server_user "$PG_BIN/pg_ctl" -D DIR/data -l DIR/server.log -w start
citus_node_start() {
    local dir=$1 port=$2
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_server_user "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust \
        --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
    # trust on 127.0.0.1 for the nodes' connections to each other (initdb -A
    # trust already writes it; kept explicit for the reader).
    echo "host all all 127.0.0.1/32 trust" | as_server_user tee -a "$dir/data/pg_hba.conf" >/dev/null
    echo "host replication all 127.0.0.1/32 trust" | as_server_user tee -a "$dir/data/pg_hba.conf" >/dev/null
    # Settings go to postgresql.conf, so that a plain "pg_ctl start" (tests
    # that stop and restart a node) brings the node back the same.
    {
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "listen_addresses = '127.0.0.1'"
        echo "fsync = off"
        echo "max_prepared_transactions = 20"
        echo "max_connections = 100"
        echo "shared_preload_libraries = '$CITUS_PRELOAD'"
        local kv
        # CITUS_EXTRA_CONF: "-c name=value ..." -> "name = 'value'"
        for kv in $CITUS_EXTRA_CONF; do
            [ "$kv" = "-c" ] && continue
            echo "${kv%%=*} = '${kv#*=}'"
        done
    } | as_server_user tee -a "$dir/data/postgresql.conf" >/dev/null
    as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
        start || { cat "$dir/server.log" >&2; die "the server in $dir did not start"; }
}

citus_psql() { # citus_psql PORT [psql args...]
    local port=$1; shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

citus_cluster_start() {
    local w=$1 port
    [ -n "$w" ] || die "usage: citus_cluster_start WORKDIR"
    mkdir -p "$w"; w=$(cd "$w" && pwd)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$w"
    COORD_PORT=$(free_port); citus_node_start "$w/coord" "$COORD_PORT"
    W1_PORT=$(free_port);    citus_node_start "$w/w1" "$W1_PORT"
    W2_PORT=$(free_port);    citus_node_start "$w/w2" "$W2_PORT"
    for port in "$COORD_PORT" "$W1_PORT" "$W2_PORT"; do
        citus_psql "$port" -d postgres -c "CREATE DATABASE $CITUS_DB"
        citus_psql "$port" -d "$CITUS_DB" -c "CREATE EXTENSION citus"
    done
    citus_psql "$COORD_PORT" -d "$CITUS_DB" <<SQL >/dev/null
SELECT citus_set_coordinator_host('127.0.0.1', $COORD_PORT);
SELECT citus_add_node('127.0.0.1', $W1_PORT);
SELECT citus_add_node('127.0.0.1', $W2_PORT);
SQL
    if [ -z "${CITUS_NO_TENANCY:-}" ]; then
        citus_psql "$COORD_PORT" -d "$CITUS_DB" -c "CREATE EXTENSION pg_tenancy"
    fi
    cat >"$w/env" <<ENV
PG_BIN=$PG_BIN
COORD_PORT=$COORD_PORT
W1_PORT=$W1_PORT
W2_PORT=$W2_PORT
CITUS_DB=$CITUS_DB
PGHOST=127.0.0.1
PGUSER=postgres
PGDATABASE=$CITUS_DB
PGPORT=$COORD_PORT
export PGHOST PGUSER PGDATABASE PGPORT
ENV
    say "citus cluster up: coordinator $COORD_PORT, workers $W1_PORT $W2_PORT (db $CITUS_DB; . $w/env)"
}

citus_cluster_stop() {
    local w=$1 n
    [ -n "$w" ] || die "usage: citus_cluster_stop WORKDIR"
    for n in w2 w1 coord w3; do
        [ -f "$w/$n/data/postmaster.pid" ] || continue
        # fast, then immediate: a backend waiting for a synchronous
        # subscriber that is gone can hold up a fast shutdown
        as_server_user "$PG_BIN/pg_ctl" -D "$w/$n/data" -m fast -t 20 -w -s stop >/dev/null 2>&1 ||
            as_server_user "$PG_BIN/pg_ctl" -D "$w/$n/data" -m immediate -w -s stop >/dev/null 2>&1
    done
    return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-}" in
        start) citus_cluster_start "${2:?WORKDIR}" ;;
        stop)  citus_cluster_stop "${2:?WORKDIR}" ;;
        clean) citus_cluster_stop "${2:?WORKDIR}"
               for n in coord w1 w2 w3; do
                   [ -f "$2/$n/data/postmaster.pid" ] && die "a node in $2/$n still runs; not removing $2"
               done
               rm -rf "${2:?}" ;;
        *) echo "usage: $0 start|stop|clean WORKDIR" >&2; exit 2 ;;
    esac
fi
