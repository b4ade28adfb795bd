#!/usr/bin/env bash
# test/upgrade/run.sh WORKDIR — ALTER EXTENSION pg_tenancy UPDATE from 0.1.0.
#
# What a user does: the 0.1.0 package runs, with data; the 0.2.0 package
# replaces it (library and scripts); ALTER EXTENSION pg_tenancy UPDATE.
#
# 1. Builds the released 0.1.0 (commit 3d16e86) into a copy of PostgreSQL's
#    tree in WORKDIR, starts a cluster of its own with that library
#    preloaded, installs 0.1.0, fills it (setup.sql) and records every
#    decision, lookup and table (decisions.sql) and what each user sees of
#    each protected table under each of their contexts (rows.sql).
# 2. Restarts the same data directory with the tree under test (PG_BIN, with
#    0.2.0 installed), runs ALTER EXTENSION pg_tenancy UPDATE, records the
#    same and compares.
# 3. Compares the updated extension with a fresh CREATE EXTENSION pg_tenancy
#    (schema.sql: every member, with whole function definitions, columns,
#    constraints, indexes, triggers, policies, grants, comments), and the
#    application's tables with the same tables protected by 0.2.0
#    (user_tables.sql).  A difference is printed as a diff.
#
# The 0.2.0 library refuses a 0.1.0 schema (src/catalog.c checks where the
# columns of shares are and which share functions exist), so step 1 needs
# 0.1.0's own library, as a real installation has until its package is
# upgraded.  Prints TAP.  Needs git (for the 0.1.0 sources), and root or the
# server's OS user, like scripts/test.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/scripts/lib.sh"
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
released=3d16e86            # pg_tenancy 0.1.0
work=$1/upgrade
rm -rf "$work"
mkdir -p "$work"
chmod 755 "$work"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
# check_same NAME A B [errors_are_answers]: the two files are equal, and no
# query in them failed (unless errors are answers too); the diff when not.
check_same() {
    if [ "${4:-}" != errors_are_answers ] && grep -q ERROR "$2" "$3"; then
        notok "$1"
        grep -h ERROR "$2" "$3" | sed 's/^/#   /'
    elif cmp -s "$2" "$3"; then
        ok "$1 ($(wc -l <"$2") lines)"
    else
        notok "$1"
        diff -u "$2" "$3" | head -200 | sed 's/^/#   /'
    fi
}
psql_q() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

start() {   # start BINDIR
    as_server_user "$1/pg_ctl" -D "$work/data" -l "$work/server.log" -w -s \
        -o "-p $PGPORT -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c shared_preload_libraries=pg_tenancy" \
        start
}
stop() {    # stop BINDIR
    as_server_user "$1/pg_ctl" -D "$work/data" -m fast -w -s stop
}
# bail MESSAGE: the steps after this one cannot run.
bail() {
    notok "$1"
    tail -30 "$work/server.log" 2>/dev/null | sed 's/^/#   /'
    [ -n "${old:-}" ] && stop "$old/lib/postgresql/15/bin" >/dev/null 2>&1
    stop "$bin" >/dev/null 2>&1
    echo "# $failed failed"
    exit 1
}

echo "1..15"

# --- 0.1.0, built into a copy of the tree ----------------------------------
# The Debian layout: bindir is ROOT/lib/postgresql/15/bin, and pg_config and
# the server find the rest relative to where they are.
root=$(cd "$bin/../../../.." && pwd)
old=$work/old
mkdir -p "$old/lib/postgresql" "$old/share/postgresql" "$old/include"
if cp -a "$root/lib/postgresql/15" "$old/lib/postgresql/" &&
   cp -a "$root/share/postgresql/15" "$old/share/postgresql/" &&
   cp -a "$root/include/postgresql" "$old/include/" &&
   rm -f "$old"/lib/postgresql/15/lib/pg_tenancy.so "$old"/share/postgresql/15/extension/pg_tenancy* &&
   rm -rf "$old"/lib/postgresql/15/lib/bitcode/pg_tenancy* &&
   mkdir -p "$work/src" &&
   git -C "$repo" archive "$released" | tar -x -C "$work/src" &&
   make -s -C "$work/src" PG_CONFIG="$old/lib/postgresql/15/bin/pg_config" install \
       >"$work/build.log" 2>&1 &&
   [ -f "$old/share/postgresql/15/extension/pg_tenancy--0.1.0.sql" ] &&
   cmp -s "$old/share/postgresql/15/extension/pg_tenancy--0.1.0.sql" \
          "$repo/upgrade/pg_tenancy--0.1.0.sql"; then
    ok "0.1.0 ($released) builds and installs into a copy of the tree, and its script is upgrade/pg_tenancy--0.1.0.sql"
else
    cat "$work/build.log" 2>/dev/null | tail -20 | sed 's/^/#   /'
    bail "0.1.0 ($released) builds and installs into a copy of the tree"
fi
oldbin=$old/lib/postgresql/15/bin

[ "$(id -u)" -eq 0 ] && chown postgres: "$work"
PGPORT=$(free_port)
export PGHOST=127.0.0.1 PGPORT PGUSER=postgres
as_server_user "$oldbin/initdb" -D "$work/data" -U postgres -A trust --no-sync -E UTF8 \
    --locale=C.UTF-8 >"$work/initdb.log" 2>&1 || bail "initdb"
start "$oldbin" || bail "a cluster starts with 0.1.0's library preloaded"

"$bin/createdb" up
if psql_q -d up -c "CREATE EXTENSION pg_tenancy VERSION '0.1.0'" -f "$here/setup.sql" \
        >"$work/setup_old.log" 2>&1; then
    ok "0.1.0 installs and takes the data (hierarchy, protected tables, shares, invitations)"
    # A DBA's grant on a management function the update re-creates.
    psql_q -d up -c 'GRANT EXECUTE ON FUNCTION tenancy.create_user(text, text, text) TO demo_app' \
        >>"$work/setup_old.log" 2>&1
else
    sed 's/^/#   /' "$work/setup_old.log" | tail -20
    bail "0.1.0 installs and takes the data"
fi

observe() {     # observe NAME: decisions and rows into WORK/NAME.*
    # Each script must run to its end: an error would stop it, and two
    # outputs cut at the same place would compare equal.
    psql_q -d up -f "$here/decisions.sql" >"$work/$1.decisions" 2>&1 &&
    psql_q -d up -f "$here/rows.sql" >"$work/$1.rows.sql" 2>&1
    echo $? >"$work/$1.status"
    # Not ON_ERROR_STOP: a context refused is an answer too (the path of
    # the script, which names the run, is cut from its message).
    "$bin/psql" -X -q -At -d up -f "$work/$1.rows.sql" 2>&1 \
        | sed 's/^psql:[^:]*:[0-9]*: //' >"$work/$1.rows"
    # The share of the unprotected table, and what it answers.
    psql_q -At -d up -c "SELECT count(*), bool_or(tenancy.has_resource_permission(
                             s.user_id, s.tenant_id, 'draft:read', s.resource_id, NULL))
                         FROM tenancy.shares s WHERE s.resource_type = 'draft'" \
        >"$work/$1.draft" 2>&1
}
observe before
psql_q -At -d up -c "SELECT count(*) FROM tenancy.shares" >"$work/before.shares" 2>&1
stop "$oldbin" || bail "the 0.1.0 cluster stops"

# --- the package is replaced: the tree under test, the same data -----------
start "$bin" || bail "the same data directory starts with the library under test"

# Before the update, the 0.2.0 library on the 0.1.0 schema: it refuses to
# answer (the schema check in src/catalog.c), a decision as well as a
# protected table's policy; it answers nothing wrong.
refused=$("$bin/psql" -X -q -At -d up 2>&1 <<'SQL'
SELECT id AS bob FROM tenancy.users WHERE email = 'bob@acme.test' \gset
SELECT id AS prod FROM tenancy.tenants WHERE slug = 'prod' \gset
SELECT tenancy.permissions(:'bob', :'prod');
BEGIN;
SET LOCAL ROLE demo_app;
SELECT tenancy.set_context(:'bob') \g /dev/null
SELECT count(*) FROM pipelines;
COMMIT;
SQL
)
check "before the update, the new library refuses the 0.1.0 schema instead of answering" \
    "[ \$(printf '%s\n' \"\$refused\" | grep -c ERROR) -ge 2 ] && ! printf '%s\n' \"\$refused\" | grep -qE '^[0-9{]'"
if psql_q -d up -c 'ALTER EXTENSION pg_tenancy UPDATE' >"$work/update.log" 2>&1 &&
   [ "$(psql_q -At -d up -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_tenancy'")" = 0.2.0 ]; then
    ok "ALTER EXTENSION pg_tenancy UPDATE takes 0.1.0 to 0.2.0"
else
    sed 's/^/#   /' "$work/update.log" | tail -20
    bail "ALTER EXTENSION pg_tenancy UPDATE takes 0.1.0 to 0.2.0"
fi
observe after

decisions=$(grep -c . "$work/before.decisions")
check "the decision and row scripts run without error, before and after" \
    "[ \"\$(cat '$work/before.status' '$work/after.status')\" = \"\$(printf '0\n0')\" ] && ! grep -q ERROR '$work/before.decisions' '$work/after.decisions'"
check_same "every decision, lookup and table's contents are the same after the update ($decisions answers)" \
    "$work/before.decisions" "$work/after.decisions"
check_same "every user sees the same rows of every protected table and partition, with and without a current tenant" \
    "$work/before.rows" "$work/after.rows" errors_are_answers
check "the rows compared include shared, owned and tenant-wide rows (not all empty)" \
    "grep -q 'load test' '$work/before.rows' && grep -q 'fraud-model training' '$work/before.rows' && [ \$(grep -c '|' '$work/before.rows') -gt 100 ]"

# 0.1.0 kept the share of a table unprotected afterwards, and counted it;
# 0.2.0 shares name their table, this one names none: the update drops it.
check "the share of the unprotected table ($(tr '|' ' ' <"$work/before.draft") before: count, answer) is gone" \
    "[ \"\$(cat '$work/after.draft')\" = '0|' ]"
check "every other share names its type's protected table" \
    "[ \"\$(psql_q -At -d up -c \"SELECT count(*) FROM tenancy.shares s JOIN tenancy.protected_tables p ON p.relid = s.relid AND p.resource_type = s.resource_type AND p.root IS NULL\")\" = \$(( \$(cat '$work/before.shares') - 1 )) ]"
check "TRUNCATE, TRIGGER and REFERENCES granted before the update are taken back" \
    "[ \"\$(psql_q -At -d up -c \"SELECT count(*) FROM tenancy.check_setup() WHERE check_name = 'unsafe_grant'\")\" = 0 ] && [ \"\$(psql_q -At -d up -c \"SELECT has_table_privilege('demo_app', 'notes', 'TRUNCATE') OR has_table_privilege('demo_app', 'jobs_p1', 'TRIGGER') OR has_column_privilege('demo_app', 'docs', 'id', 'REFERENCES')\")\" = f ]"

# The DBA's grant on create_user() survives its re-creation, as the DBA's:
# pg_dump still writes it.  Then it goes, for the comparison below.
check "a DBA's grant of EXECUTE on create_user() survives the update, and pg_dump still carries it" \
    "[ \"\$(psql_q -At -d up -c \"SELECT has_function_privilege('demo_app', 'tenancy.create_user(text, text, text, uuid, text, text)', 'EXECUTE')\")\" = t ] &&
     '$bin/pg_dump' -s -d up | grep -q '^GRANT ALL ON FUNCTION tenancy.create_user(.*) TO demo_app;'"
psql_q -d up -c 'REVOKE EXECUTE ON FUNCTION tenancy.create_user(text, text, text, uuid, text, text) FROM demo_app' >/dev/null 2>&1

# --- the updated extension is 0.2.0's --------------------------------------
"$bin/createdb" fresh
psql_q -d fresh -c 'CREATE EXTENSION pg_tenancy' -f "$here/setup.sql" >"$work/setup_fresh.log" 2>&1 \
    || sed 's/^/#   /' "$work/setup_fresh.log" | tail -20
psql_q -d up -f "$here/schema.sql" >"$work/up.schema" 2>&1
psql_q -d fresh -f "$here/schema.sql" >"$work/fresh.schema" 2>&1
check_same "the updated extension equals a fresh CREATE EXTENSION pg_tenancy: every member, function definition, column, constraint, index, trigger, policy, grant and comment" \
    "$work/fresh.schema" "$work/up.schema"
psql_q -d up -f "$here/user_tables.sql" >"$work/up.tables" 2>&1
psql_q -d fresh -f "$here/user_tables.sql" >"$work/fresh.tables" 2>&1
check_same "the protected tables and partitions have the policies, triggers and grants protect() of 0.2.0 gives them" \
    "$work/fresh.tables" "$work/up.tables"

# The updated database keeps working: a new share counts on its table.
psql_q -d up >"$work/after_share.log" 2>&1 <<'SQL'
BEGIN;
SELECT tenancy.set_context((SELECT id FROM tenancy.users WHERE email = 'alice@acme.test'),
                           (SELECT id FROM tenancy.tenants WHERE slug = 'staging'));
SELECT tenancy.share('job', '1', '{read}',
                     to_user => (SELECT id FROM tenancy.users WHERE email = 'erin@acme.test'));
COMMIT;
SQL
seen=$(psql_q -At -d up 2>&1 <<'SQL'
SELECT id AS erin FROM tenancy.users WHERE email = 'erin@acme.test' \gset
BEGIN;
SET LOCAL ROLE demo_app;
SELECT tenancy.set_context(:'erin') \g /dev/null
SELECT string_agg(name, ',' ORDER BY name) FROM jobs;
COMMIT;
SQL
)
check "after the update, a new share is made and shows its row ($seen)" \
    "[ '$seen' = 'load test' ]"

stop "$bin" >/dev/null 2>&1
echo "# $failed failed"
[ "$failed" -eq 0 ]
