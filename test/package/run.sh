#!/usr/bin/env bash
# test/package/run.sh WORKDIR — the release metadata agree, and the Debian
# package builds, installs and works.
#
# Checks that META.json is valid PGXN metadata whose version is the
# Makefile's EXTVERSION, the control file's default_version and
# debian/changelog's; builds postgresql-15-pg-tenancy with
# dpkg-buildpackage in a copy of the tree under WORKDIR (nothing lands in
# the repository), without -Werror; installs it with dpkg -i (as root: this
# changes the system's PostgreSQL 15 tree, over files a "make install" may
# have put there); checks its files are where that PostgreSQL looks; and
# creates the extension from it in a fresh database and takes one decision.
# The database is on the running test cluster (PGHOST, PGPORT, PGUSER) when
# that cluster's server is the system's, else on a cluster of the system's
# server started here.  The package stays installed.  PACKAGE_INSTALL=0
# builds and checks the package without installing it.  Prints TAP.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"
work=${1:?usage: run.sh WORKDIR}
dir=$work/package
sys_bin=/usr/lib/postgresql/$PG_MAJOR/bin
db=pkg_tenancy
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; return 1; fi; }
diag() { sed 's/^/# /'; }

echo "1..14"

own_cluster=
cleanup() {
    [ -n "$own_cluster" ] && stop_cluster "$own_cluster"
    [ -z "$own_cluster" ] && "$PG_BIN/dropdb" --if-exists "$db" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir"
mkdir -p "$dir"

# 1-4. Release metadata.
extversion=$(sed -nE 's/^EXTVERSION[[:space:]]*=[[:space:]]*([^[:space:]]+).*/\1/p' "$repo/Makefile")
default_version=$(sed -nE "s/^default_version[[:space:]]*=[[:space:]]*'([^']*)'.*/\\1/p" "$repo/pg_tenancy.control")
meta=$(perl -MJSON::PP -e '
    local $/;
    open my $f, "<", $ARGV[0] or die "$ARGV[0]: $!\n";
    my $m = JSON::PP->new->decode(<$f>);
    my @missing = grep { !defined $m->{$_} }
        qw(name abstract version maintainer license provides meta-spec);
    die "missing: @missing\n" if @missing;
    die "meta-spec version is not 1.0.0\n" if $m->{"meta-spec"}{version} ne "1.0.0";
    my $p = $m->{provides}{pg_tenancy} or die "provides has no pg_tenancy\n";
    die "provides.pg_tenancy needs file and version\n" unless $p->{file} && $p->{version};
    die "provides.pg_tenancy.file $p->{file} does not exist\n" unless -e "$ARGV[1]/$p->{file}";
    die "license is not postgresql\n" if $m->{license} ne "postgresql";
    die "runtime requires no PostgreSQL 15.0.0\n"
        if ($m->{prereqs}{runtime}{requires}{PostgreSQL} // "") ne "15.0.0";
    print "$m->{name} $m->{version} $p->{version}\n";
' "$repo/META.json" "$repo" 2>&1)
status=$?
check "META.json is valid JSON with the PGXN meta spec 1.0.0's required fields" '[ $status -eq 0 ]' \
    || echo "$meta" | diag
read -r meta_name meta_version meta_provides <<<"$meta"
check "META.json's version ($meta_version) and provides version are the Makefile's EXTVERSION ($extversion)" \
    '[ -n "$extversion" ] && [ "$meta_version" = "$extversion" ] && [ "$meta_provides" = "$extversion" ] && [ "$meta_name" = pg_tenancy ]'
check "pg_tenancy.control's default_version ($default_version) is EXTVERSION" \
    '[ "$default_version" = "$extversion" ]'
deb_version=$(cd "$repo" && dpkg-parsechangelog -S Version 2>/dev/null)
check "debian/changelog's version ($deb_version) is EXTVERSION" \
    '[ "${deb_version%%-*}" = "$extversion" ]'

# 5-6. Build in a copy of the tree: the files git knows of and would not
# ignore, so no build product of the repository's own comes along.
mkdir -p "$dir/src"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z -co --exclude-standard \
        | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -x -C "$dir/src"
else
    tar -C "$repo" --exclude=.git -cf - . | tar -x -C "$dir/src"
    make -s -C "$dir/src" clean PG_CONFIG="$sys_bin/pg_config" >/dev/null 2>&1
fi
start=$(date +%s)
(cd "$dir/src" && dpkg-buildpackage -us -uc -b) >"$work/package_build.log" 2>&1
status=$?
deb=$(ls "$dir"/postgresql-$PG_MAJOR-pg-tenancy_*.deb 2>/dev/null | grep -v dbgsym | head -1)
check "dpkg-buildpackage builds postgresql-$PG_MAJOR-pg-tenancy ($(( $(date +%s) - start ))s)" \
    '[ $status -eq 0 ] && [ -n "$deb" ]' || tail -40 "$work/package_build.log" | diag
# (No "grep -q" at the end of a pipe: under pipefail, the grep it leaves
# writing to a closed pipe would fail the check.)
compiles=$(grep -cE '^(gcc|cc|clang)' "$work/package_build.log")
werror=$(grep -E '^(gcc|cc|clang)' "$work/package_build.log" | grep -cE -- '-Werror( |$)')
check "the package build compiles ($compiles commands) without -Werror" \
    '[ "$compiles" -gt 0 ] && [ "$werror" -eq 0 ]'

# 7. The files are where the system's PostgreSQL looks for them.
pkglibdir=$("$sys_bin/pg_config" --pkglibdir)
extdir=$("$sys_bin/pg_config" --sharedir)/extension
contents=$(dpkg-deb -c "$deb" 2>/dev/null | awk '{ print substr($6, 2) }')
want="$pkglibdir/pg_tenancy.so $extdir/pg_tenancy.control $extdir/pg_tenancy--$extversion.sql"
missing=
for f in $want; do grep -qxF "$f" <<<"$contents" || missing="$missing $f"; done
check "the package holds pg_tenancy.so in pg_config --pkglibdir and the control and install script in --sharedir/extension" \
    '[ -n "$deb" ] && [ -z "$missing" ]' || echo "missing:$missing" | diag

# 8-10. Install it.  PACKAGE_INSTALL=0 stops here, for a machine whose
# system PostgreSQL others are using.
if [ "${PACKAGE_INSTALL:-1}" = 0 ]; then
    while [ "$n" -lt 14 ]; do n=$((n + 1)); echo "ok $n # skip PACKAGE_INSTALL=0"; done
    [ "$failed" -eq 0 ]
    exit
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "Bail out! dpkg -i needs root"
    exit 1
fi
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/package_install.log" 2>&1
status=$?
check "dpkg -i installs it" '[ $status -eq 0 ]' || cat "$work/package_install.log" | diag
installed=$(dpkg-query -W -f='${Status} ${Version}' "postgresql-$PG_MAJOR-pg-tenancy" 2>/dev/null)
check "dpkg reports postgresql-$PG_MAJOR-pg-tenancy $deb_version installed" \
    '[ "$installed" = "install ok installed $deb_version" ]' || echo "$installed" | diag
listed=$(dpkg -L "postgresql-$PG_MAJOR-pg-tenancy" 2>/dev/null)
missing=
for f in $want; do
    { grep -qxF "$f" <<<"$listed" && [ -s "$f" ]; } || missing="$missing $f"
done
check "its files are on disk, owned by the package" '[ -z "$missing" ]' || echo "missing:$missing" | diag

# 11-14. Create the extension from the package in a fresh database.
if [ "$("$PG_BIN/pg_config" --pkglibdir)" != "$pkglibdir" ]; then
    # The test cluster's server is another PostgreSQL tree, which does not
    # read the system's: start one of the system's own.
    own_cluster=$dir/cluster
    mkdir -p "$own_cluster"
    chmod 755 "$dir" "$own_cluster"
    PG_BIN=$sys_bin
    start_cluster "$own_cluster" 2>"$work/package_cluster.log"
    where="a cluster of the system's server ($sys_bin)"
else
    where="the test cluster"
fi
psql_su() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
"$PG_BIN/createdb" "$db" 2>&1 | diag
out=$(psql_su -At -d "$db" -c 'CREATE EXTENSION pg_tenancy' \
    -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenancy'" 2>&1)
check "CREATE EXTENSION pg_tenancy in a fresh database on $where" \
    '[ "$out" = "$extversion" ]' || echo "$out" | diag
out=$(psql_su -At -d "$db" -c "SHOW shared_preload_libraries" \
    -c "SELECT setting FROM pg_settings WHERE name = 'dynamic_library_path'" 2>&1)
check "the server preloads pg_tenancy from \$libdir ($pkglibdir)" \
    '[ "$(echo "$out" | head -1)" = pg_tenancy ] && [ "$(echo "$out" | tail -1)" = "\$libdir" ]' \
    || echo "$out" | diag
out=$(psql_su -At -d "$db" 2>&1 <<'SQL'
SELECT tenancy.register_resource_type('doc');
SELECT tenancy.create_user('alice@pkg.test') AS alice \gset
SELECT tenancy.create_user('bob@pkg.test') AS bob \gset
SELECT tenancy.create_organization('pkg', admin => :'alice') AS org \gset
SELECT tenancy.create_tenant(:'org', 'prod') AS prod \gset
SELECT tenancy.add_member(:'org', :'bob');
SELECT tenancy.assign_role('viewer', tenant => :'prod', user_id => :'bob');
SELECT tenancy.has_permission(:'bob', :'prod', 'doc:read')::text
    || ' ' || tenancy.has_permission(:'bob', :'prod', 'doc:delete')::text;
SQL
)
check "a decision from the packaged library: a tenant viewer may read a doc and may not delete it" \
    '[ "$(echo "$out" | tail -1)" = "true false" ]' || echo "$out" | diag
out=$(psql_su -At -d "$db" -c "SELECT probin FROM pg_proc WHERE proname = 'has_permission' AND pronamespace = 'tenancy'::regnamespace LIMIT 1" 2>&1)
check "its functions are the module in \$libdir" '[ "$out" = "\$libdir/pg_tenancy" ]' \
    || echo "$out" | diag

[ "$failed" -eq 0 ]
