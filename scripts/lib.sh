# scripts/lib.sh — shared by scripts/demo and scripts/test.
#
# Installs what pg_tenancy needs from Debian's packages, builds and installs
# the extension, and runs throwaway PostgreSQL clusters on 127.0.0.1 in a
# temporary folder.  Sourced, not run.

PG_MAJOR=15
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-pgtap
pgtap libtap-parser-sourcehandler-pgtap-perl make gcc libc6-dev perl pgbouncer
libipc-run-perl libssl-dev openssl git debhelper postgresql-server-dev-all dpkg-dev
fakeroot python3-psycopg2 python3-sqlalchemy python3-django"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages that are missing (needs root when any is).
ensure_packages() {
    local missing=() p
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root to install them"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# scripts/test and scripts/valgrind set PG_TENANCY_WERROR=1 so that the
# project's own checks build with -Werror (see the Makefile); scripts/demo,
# a build from source by a user and the Debian package do not.
build_and_install() {
    say "building pg_tenancy"
    make -s -C "$REPO" PG_CONFIG="$PG_BIN/pg_config" >/dev/null
    make -s -C "$REPO" PG_CONFIG="$PG_BIN/pg_config" install >/dev/null
}

# PostgreSQL refuses to run as root: as root, the server runs as "postgres".
as_server_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    perl -MIO::Socket::INET -e \
        'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0) or die; print $s->sockport, "\n";'
}

# start_cluster DIR: initdb in DIR/data and start it on a free port, with
# pg_tenancy preloaded as the README recommends (signed contexts need it);
# exports PGHOST, PGPORT and PGUSER for the clients that follow.
start_cluster() {
    local dir=$1 port
    port=$(free_port)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_server_user "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust \
        --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -s \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_prepared_transactions=10 -c shared_preload_libraries=pg_tenancy" \
        start || { cat "$dir/server.log" >&2; die "the server did not start"; }
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
}

stop_cluster() {
    local dir=$1
    [ -d "$dir/data" ] && as_server_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -s stop \
        >/dev/null 2>&1 || true
}
