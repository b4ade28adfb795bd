#!/usr/bin/env bash
# test/tap/private.sh WORKDIR — scripts/test works from a clone in a private
# directory.
#
# Clones the repository's HEAD into a mode-700 directory under WORKDIR, which
# the server's OS user (postgres, when run as root) cannot enter, and runs the
# TAP tests with the clone's own test/tap/run.sh, as scripts/test does: the
# servers the tests start, and prove itself, run as that user and must read
# nothing from the clone.  Prints TAP.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"
work=${1:?usage: private.sh WORKDIR}
priv=$work/private
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # skip $1"; }

echo "1..3"
trap 'rm -rf "$priv"' EXIT
rm -rf "$priv"
mkdir -m 700 "$priv"
if ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    skip "not a git checkout: nothing to clone"
    skip "not a git checkout"
    skip "not a git checkout"
    exit 0
fi
if git clone -q --no-hardlinks "$repo" "$priv/clone" >"$work/private_clone.log" 2>&1 \
    && git -C "$priv/clone" checkout -q --detach "$(git -C "$repo" rev-parse HEAD)" \
        >>"$work/private_clone.log" 2>&1; then
    chmod 700 "$priv/clone"
    ok "HEAD cloned into a mode-700 directory"
else
    notok "HEAD cloned into a mode-700 directory"
    sed 's/^/# /' "$work/private_clone.log"
    exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
    skip "not root: the server runs as this user, who can read the clone"
elif runuser -u postgres -- test -r "$priv/clone/t/010_standby.pl"; then
    notok "the server's OS user cannot read the clone"
else
    ok "the server's OS user cannot read the clone"
fi

bash "$priv/clone/test/tap/run.sh" "$work/private_tap" >"$work/private_tap.log" 2>&1
status=$?
passed=$(grep -cE '^[[:space:]]*ok [0-9]+' "$work/private_tap.log")
if [ $status -eq 0 ] && grep -q '^Result: PASS' "$work/private_tap.log"; then
    ok "the TAP suite passes when run from the private clone ($passed tests)"
else
    notok "the TAP suite passes when run from the private clone"
    grep -E '^[[:space:]]*not ok|^#   Failed|^Result|Permission denied|Can.t open' \
        "$work/private_tap.log" | sed 's/^/# /'
    tail -30 "$work/private_tap.log" | sed 's/^/# /'
fi
rm -rf "$work/private_tap"
