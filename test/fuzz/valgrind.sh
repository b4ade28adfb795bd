#!/usr/bin/env bash
# test/fuzz/valgrind.sh [COUNT [SEED]] — the fuzzer with the server under
# valgrind (memcheck).
#
# On demand (slow: COUNT 5000 per target takes several minutes).  Starts a
# throwaway cluster whose postmaster and backends run under memcheck, with
# leak checking at backend exit, runs test/fuzz/run.sh against it, and
# reports every valgrind error, and every block definitely lost, whose
# stack passes through pg_tenancy's code (as scripts/valgrind does, errors
# elsewhere in the server are counted but not shown).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../scripts/lib.sh"
COUNT=${1:-5000}
SEED=${2:-1}
PACKAGES="$PACKAGES valgrind"
ensure_packages
build_and_install

DIR=$(mktemp -d /tmp/pg_tenancy_fuzzvg.XXXXXX)
chmod 755 "$DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
trap 'as_server_user "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -s stop >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
as_server_user "$PG_BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 \
    --locale=C.UTF-8 >/dev/null
PORT=$(free_port)
as_server_user bash -c "valgrind --quiet --trace-children=yes --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --read-var-info=no --num-callers=30 --log-file=$DIR/vg.%p.log \
    $PG_BIN/postgres -D $DIR/data -p $PORT -k $DIR -c listen_addresses=127.0.0.1 \
    -c fsync=off >$DIR/server.log 2>&1 &"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
for _ in $(seq 120); do "$PG_BIN/pg_isready" -q && break; sleep 1; done
"$PG_BIN/pg_isready" -q || die "the server did not start under valgrind"

status=0
SLOW_MS=${SLOW_MS:-60000} SERVER_LOG="$DIR/server.log" BATCH=${BATCH:-200} \
    bash "$HERE/run.sh" "$COUNT" "$SEED" || status=$?
as_server_user "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w -s stop || true

# A valgrind report is a block of lines starting at "==PID== <message>" and
# ending at an empty "==PID==" line; it is ours when one of its innermost
# frames is in pg_tenancy (for a lost block: any frame, since the
# allocation is made deep inside OpenSSL or the server on our behalf).
ourfiles=$(cd "$HERE/../../src" && ls *.c | sed 's/\./\\./' | paste -sd'|')
ours=$(cat "$DIR"/vg.*.log 2>/dev/null | awk -v pat="pg_tenancy\\.so|$ourfiles" '
    /^==[0-9]+== [A-Z0-9]/ { block = $0; inblock = 1; frames = 0; mine = 0;
                             leak = ($0 ~ /definitely lost/); next }
    inblock && /^==[0-9]+== *$/ { if (mine) { print block; print "" } inblock = 0; next }
    inblock { block = block "\n" $0;
              if ($0 ~ /(at|by) 0x/ && (leak || ++frames <= 4) && $0 ~ pat) mine = 1 }
')
total=$(cat "$DIR"/vg.*.log 2>/dev/null \
    | grep -cE '^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Source and destination)' || true)
lost=$(cat "$DIR"/vg.*.log 2>/dev/null | grep -cE 'definitely lost in loss record' || true)
logs=$(ls "$DIR"/vg.*.log 2>/dev/null | wc -l)
if [ -n "$ours" ]; then
    echo "$ours"
    echo "valgrind: reports through pg_tenancy.so (above); $total errors and $lost lost blocks in all, $logs processes"
    exit 1
fi
echo "valgrind: no error or lost block passes through pg_tenancy.so ($total errors and $lost definitely lost blocks elsewhere in the server, $logs processes); fuzz status $status"
exit $status
