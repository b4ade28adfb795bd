#!/usr/bin/env bash
# test/tap/run.sh WORKDIR [TEST...] — the TAP tests (t/*.pl, with
# PostgreSQL::Test::Cluster), run as the server's OS user.
#
# Each test makes its own clusters, whose servers run as that user (postgres
# when run as root), and prove reads the test files as that user too.  The
# repository may be a clone in a private directory that user cannot read, so
# t/ is copied into WORKDIR/tap, which it owns, and prove runs there; the
# tests read nothing else from the repository.  TEST names files in t/ (all
# of them when none is given).  Prints prove's verbose TAP.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"
work=${1:?usage: run.sh WORKDIR [TEST...]}
shift

dir=$work/tap
rm -rf "$dir"
mkdir -p "$dir"
cp -R "$repo/t" "$dir/t"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"

tests=()
if [ $# -eq 0 ]; then
    tests=(t/*.pl)
else
    for t in "$@"; do tests+=("t/$(basename "$t")"); done
fi

pgxs_dir=$(dirname "$("$PG_BIN/pg_config" --pgxs)")
cd "$dir" || exit 1
as_server_user env PATH="$PG_BIN:$PATH" TESTDIR="$dir" \
    PG_REGRESS="$pgxs_dir/../test/regress/pg_regress" \
    prove -I "$pgxs_dir/../test/perl" -v "${tests[@]}"
