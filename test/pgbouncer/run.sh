#!/usr/bin/env bash
# test/pgbouncer/run.sh WORKDIR — the context does not cross clients of a
# transaction-pooling PgBouncer.
#
# Starts a real PgBouncer in front of the running cluster (PGHOST, PGPORT,
# PGUSER in the environment; trust authentication) in transaction pooling
# mode with ONE server connection, and has two psql clients, A and B, take
# turns on it: A sets its context (tenancy.set_context() in a transaction,
# and a plain session-level SET), then B, without a context of its own,
# reads and writes; then each works in its own context.  Both stay connected
# throughout.  Prints TAP; stops PgBouncer and cleans up on exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"
. "$repo/test/lib/pgbouncer.sh"
work=${1:?usage: run.sh WORKDIR}
bin=$PG_BIN
db=pgb_tenancy
app=pgb_app
dir=$work/pgbouncer
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
diag() { sed 's/^/# /'; }
psql_su() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "1..17"

# PgBouncer itself (also in scripts/lib.sh's PACKAGES).
if [ ! -x "$PGBOUNCER" ] && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 &&
             DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null 2>&1; }
    PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
fi
if [ ! -x "$PGBOUNCER" ]; then
    echo "Bail out! pgbouncer is not installed (Debian package pgbouncer)"
    exit 1
fi

declare -A fds=() cpids=() last=()
cleanup() {
    local c
    for c in "${!fds[@]}"; do eval "exec ${fds[$c]}>&-"; done
    for c in "${!cpids[@]}"; do kill "${cpids[$c]}" 2>/dev/null; wait "${cpids[$c]}" 2>/dev/null; done
    pgbouncer_stop "$dir"
    "$bin/dropdb" --if-exists --force "$db" >/dev/null 2>&1
    psql_su -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT

rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"

# The database: two organizations with one tenant each, a protected table.
"$bin/dropdb" --if-exists --force "$db" >/dev/null 2>&1
psql_su -d postgres -c "DROP ROLE IF EXISTS $app" >/dev/null 2>&1
"$bin/createdb" "$db"
psql_su -d "$db" >"$dir/setup.log" 2>&1 <<SQL
CREATE EXTENSION pg_tenancy;
CREATE ROLE $app LOGIN;
CREATE TABLE public.documents (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX ON public.documents (tenant_id);
SELECT tenancy.protect('public.documents', resource_type => 'document');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.documents TO $app;
GRANT USAGE ON SEQUENCE public.documents_id_seq TO $app;
CREATE TABLE public.ids AS
SELECT tenancy.create_user('a@acme.test') AS ua, tenancy.create_user('b@globex.test') AS ub;
ALTER TABLE public.ids ADD ta uuid, ADD tb uuid;
UPDATE public.ids SET ta = tenancy.create_tenant(tenancy.create_organization('acme', admin => ua), 'prod'),
                      tb = tenancy.create_tenant(tenancy.create_organization('globex', admin => ub), 'main');
INSERT INTO public.documents (tenant_id, body)
SELECT ta, 'a1' FROM public.ids UNION ALL SELECT ta, 'a2' FROM public.ids
UNION ALL SELECT tb, 'b1' FROM public.ids;
SQL
[ $? -eq 0 ] || { echo "Bail out! setting up the database failed"; diag <"$dir/setup.log"; exit 1; }
IFS='|' read -r UA UB TA TB < <(psql_su -At -d "$db" -c "SELECT ua, ub, ta, tb FROM public.ids")

# PgBouncer: transaction pooling, one server connection, trust.
pgbouncer_start "$dir" "$db" 1 20 "$app" || { echo "Bail out! pgbouncer did not start"; diag <"$dir/pgbouncer.log"; exit 1; }
port=$PGB_PORT
admin() { pgbouncer_admin "$1"; }

# The server connections of our database: "pid" lines.
server_pids() {
    admin 'SHOW SERVERS' | awk -F'|' -v db="$db" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        col["database"] && $col["database"] == db { print $col["remote_pid"] }'
}

check "pgbouncer runs in transaction pooling mode with pool size 1" \
    "admin 'SHOW CONFIG' | grep -q '^pool_mode|transaction|' &&
     admin 'SHOW DATABASES' | awk -F'|' 'NR==1{for(i=1;i<=NF;i++)c[\$i]=i;next} \$1==\"$db\"{print \$c[\"pool_size\"]}' | grep -qx 1"

# Two long-lived psql clients fed through FIFOs.
start_client() {
    local c=$1 fd
    mkfifo "$dir/$c.in"
    stdbuf -oL -eL "$bin/psql" -X -q -At -v ON_ERROR_STOP=0 -v VERBOSITY=default \
        -h 127.0.0.1 -p "$port" -U "$app" -d "$db" <"$dir/$c.in" >"$dir/$c.out" 2>&1 &
    cpids[$c]=$!
    exec {fd}>"$dir/$c.in"
    fds[$c]=$fd
}
# run CLIENT SQL: send SQL (psql input), wait for it, put its output in $OUT.
seq=0
run() {
    local c=$1 mark
    seq=$((seq + 1))
    mark="__step_${seq}__"
    printf '%s\n\\echo %s\n' "$2" "$mark" >&"${fds[$c]}"
    for _ in $(seq 300); do grep -qx "$mark" "$dir/$c.out" && break; sleep 0.05; done
    OUT=$(awk -v m="$mark" -v p="${last[$c]:-}" '
        p == "" || seen { if ($0 == m) exit; print; next }
        $0 == p { seen = 1 }' "$dir/$c.out")
    last[$c]=$mark
    printf '%s\n' "--- $c, step $seq" "$2" "$OUT" >>"$dir/transcript.txt"
}
val() { printf '%s\n' "$OUT" | sed -n "s/^$1=//p" | head -1; }

PIDS=()
# Each step reports the server backend it ran on.
PID="SELECT 'pid=' || pg_backend_pid();"
READ="SELECT 'rows=' || coalesce(string_agg(body, ',' ORDER BY body), '') FROM public.documents;
SELECT 'of_a=' || count(*) FROM public.documents WHERE body LIKE 'a%';"

start_client A
start_client B

# A: set_context() in a transaction.
run A "BEGIN;
SELECT tenancy.set_context('$UA', '$TA');
$PID
$READ
COMMIT;"
PIDS+=("$(val pid)")
check "A with set_context() in a transaction sees only its tenant" "[ '$(val rows)' = 'a1,a2' ]"

# A: a plain session-level SET, in a transaction, read; then one outside
# any transaction, left behind on the server connection.  It is not in force
# after its statement, and current_setting() says so.
run A "BEGIN;
SET tenancy.context = '$UA/$TA';
$PID
$READ
COMMIT;
SET tenancy.context = '$UA/$TA';
SELECT 'shown=' || (current_setting('tenancy.context') <> '');"
PIDS+=("$(val pid)")
check "A with a session-level SET in a transaction sees only its tenant" \
    "[ '$(val rows)' = 'a1,a2' ] && [ '$(val shown)' = false ]"

# B, without a context, on the same server connection.
run B "$PID
$READ"
PIDS+=("$(val pid)")
check "B without a context sees no rows (none of A's tenant)" "[ '$(val rows)' = '' ] && [ '$(val of_a)' = 0 ]"
run B "BEGIN;
$PID
$READ
COMMIT;"
PIDS+=("$(val pid)")
check "B without a context sees no rows inside a transaction either" "[ '$(val rows)' = '' ] && [ '$(val of_a)' = 0 ]"
run B "INSERT INTO public.documents (tenant_id, body) VALUES ('$TA', 'planted by B');
\\echo insert=:SQLSTATE
UPDATE public.documents SET body = 'defaced by B';
\\echo update=:SQLSTATE
DELETE FROM public.documents;
\\echo delete=:SQLSTATE
$PID"
PIDS+=("$(val pid)")
check "B's INSERT, UPDATE and DELETE without a context fail with 42501" \
    "[ '$(val insert)' = 42501 ] && [ '$(val update)' = 42501 ] && [ '$(val delete)' = 42501 ] &&
     printf '%s\n' \"\$OUT\" | grep -q 'ERROR:  no tenancy context is set'"

server=$(server_pids)
distinct=$(printf '%s\n' "${PIDS[@]}" | sort -u)
check "both clients ran every step on the one server backend (SHOW SERVERS)" \
    "[ \$(printf '%s\n' '$server' | grep -c .) -eq 1 ] && [ '$distinct' = '$server' ]"
clients=$(admin 'SHOW CLIENTS' | grep -c "|$db|")
check "both clients are connected to pgbouncer at the same time (SHOW CLIENTS)" "[ $clients -ge 2 ]"

# B in its own context.
run B "BEGIN;
SELECT tenancy.set_context('$UB', '$TB');
$PID
$READ
INSERT INTO public.documents (tenant_id, body) VALUES ('$TB', 'b2');
\\echo insert=:SQLSTATE
SAVEPOINT s;
INSERT INTO public.documents (tenant_id, body) VALUES ('$TA', 'planted by B');
\\echo insert_into_a=:SQLSTATE
ROLLBACK TO SAVEPOINT s;
COMMIT;"
check "B with its own context sees only its tenant, writes there and not into A's" \
    "[ '$(val rows)' = 'b1' ] && [ '$(val of_a)' = 0 ] && [ '$(val insert)' = 00000 ] &&
     [ '$(val insert_into_a)' = 42501 ] && [ '$(val pid)' = '$server' ]"

# A again: nothing without a context, only its own tenant with one.
run A "$READ
BEGIN;
SELECT tenancy.set_context('$UA', '$TA');
SELECT 'mine=' || coalesce(string_agg(body, ',' ORDER BY body), '') FROM public.documents;
$PID
COMMIT;"
check "A again sees nothing without a context and only its tenant with one" \
    "[ '$(val rows)' = '' ] && [ '$(val mine)' = 'a1,a2' ] && [ '$(val pid)' = '$server' ]"

# A fresh server connection, where pg_tenancy has not been loaded yet: A's
# first statement there is a plain session-level SET; B comes next.
fresh_server() {
    admin "RECONNECT $db" >/dev/null
    for _ in $(seq 100); do [ -z "$(server_pids)" ] && return 0; sleep 0.1; done
    return 1
}
check "RECONNECT closes the server connection" "fresh_server"
run A "SET tenancy.context = '$UA/$TA';"
new_server=$(server_pids)
run B "$PID
$READ"
check "B sees no rows of A's tenant on a fresh server connection after A's plain SET" \
    "[ '$(val pid)' = '$new_server' ] && [ '$new_server' != '$server' ] && [ '$(val rows)' = '' ] && [ '$(val of_a)' = 0 ]"
run B "$READ"
check "... nor does B in its next transaction" "[ '$(val rows)' = '' ]"

fresh_server >/dev/null
run A "SET tenancy.context = '$UA/$TA';"
run B "INSERT INTO public.documents (tenant_id, body) VALUES ('$TA', 'planted by B');
\\echo insert=:SQLSTATE"
check "B cannot write into A's tenant on a fresh server connection after A's plain SET" \
    "[ '$(val insert)' = 42501 ]"

fresh_server >/dev/null
run A "BEGIN;
SET LOCAL tenancy.context = '$UA/$TA';
COMMIT;"
run B "$READ"
check "B sees nothing after A's SET LOCAL in a transaction on a fresh server connection" \
    "[ '$(val rows)' = '' ]"

fresh_server >/dev/null
run A "BEGIN;
SET tenancy.context = '$UA/$TA';
COMMIT;"
run B "$READ"
check "B sees nothing after A's session-level SET in a transaction on a fresh server connection" \
    "[ '$(val rows)' = '' ]"

# Nothing of A's was changed by B.
check "A's rows are intact, nothing was planted" \
    "[ \"\$(psql_su -At -d $db -c \"SELECT string_agg(body, ',' ORDER BY body) FROM public.documents\")\" = 'a1,a2,b1,b2' ]"

if [ "$failed" -gt 0 ]; then
    echo "# transcript of the clients:"
    diag <"$dir/transcript.txt"
    echo "# pgbouncer.log (tail):"
    tail -20 "$dir/pgbouncer.log" | diag
fi
exit $((failed > 0))
