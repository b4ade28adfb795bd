#!/usr/bin/env bash
# test/dump/run.sh WORKDIR — pg_dump and pg_restore carry the hierarchy.
#
# Loads the sample hierarchy into one database, dumps it, restores it into a
# new one, and compares every decision and every table's contents.  Prints
# TAP.  Expects PGHOST/PGPORT/PGUSER of a running cluster.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$1
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
psql_q() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "1..10"
"$bin/dropdb" --if-exists dump_src >/dev/null 2>&1
"$bin/dropdb" --if-exists dump_dst >/dev/null 2>&1
"$bin/createdb" dump_src && "$bin/createdb" dump_dst

check "the sample hierarchy loads" \
    "psql_q -d dump_src -c 'CREATE EXTENSION pg_tenancy' -f '$repo/examples/sample.sql' >'$work/dump_load.log' 2>&1"
# Signed mode's keys are configuration the dump must carry too.
psql_q -d dump_src -v rsa="$(cat "$repo/test/keys/rsa-1.pub")" >/dev/null 2>&1 <<'SQL'
SELECT tenancy.add_signing_key('rsa-aud', 'RS256', :'rsa', issuer => 'https://issuer.example', audience => 'api');
SELECT tenancy.add_signing_key('hs-1', 'HS256', 'a dump test secret, thirty-two bytes');
-- Users known by an identity provider's subject, and one with neither
-- e-mail nor subject.
SELECT tenancy.create_user(subject => 'auth0|dump', issuer => 'https://issuer.example',
                           id => '77777777-7777-4777-8777-777777777777');
SELECT tenancy.create_user(kind => 'service_account', display_name => 'dump job');
SQL
check "pg_dump succeeds" \
    "'$bin/pg_dump' -Fc -f '$work/sample.dump' dump_src 2>'$work/dump_dump.log'"
check "pg_restore into a new database succeeds without errors" \
    "'$bin/pg_restore' --exit-on-error -d dump_dst '$work/sample.dump' 2>'$work/dump_restore.log'"

psql_q -At -d dump_src -f "$here/matrix.sql" >"$work/matrix_src.txt"
psql_q -At -d dump_dst -f "$here/matrix.sql" >"$work/matrix_dst.txt" 2>&1
rows=$(wc -l <"$work/matrix_src.txt")
check "every decision is the same after the restore ($rows decisions)" \
    "[ $rows -gt 100 ] && cmp -s '$work/matrix_src.txt' '$work/matrix_dst.txt'"

# The rows pg_dump carries (built-in rows come from CREATE EXTENSION).
contents() {
    local t cond
    while IFS='|' read -r t cond; do
        psql_q -At -d "$1" -c "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM tenancy.$t x WHERE $cond"
    done <<'TABLES'
organizations|true
tenants|true
users|true
memberships|true
teams|true
team_members|true
roles|org_id IS NOT NULL
role_assignments|true
actions|NOT builtin
resource_types|NOT builtin
shares|true
invitations|true
invitation_tenant_roles|true
invitation_teams|true
protected_tables|true
signing_keys|true
TABLES
}
contents dump_src >"$work/tables_src.txt"
contents dump_dst >"$work/tables_dst.txt"
check "every table's contents are the same after the restore" \
    "cmp -s '$work/tables_src.txt' '$work/tables_dst.txt'"

check "built-in roles are not duplicated by the restore" \
    "[ \"\$(psql_q -At -d dump_dst -c 'SELECT count(*) FROM tenancy.roles WHERE org_id IS NULL')\" = 7 ]"

# The protected table keeps its policies and its isolation.
src_rows=$(psql_q -At -d dump_src -f "$here/isolation.sql")
dst_rows=$(psql_q -At -d dump_dst -f "$here/isolation.sql" 2>&1)
check "the protected table shows bob the same rows after the restore ($dst_rows)" \
    "[ -n '$dst_rows' ] && [ '$src_rows' = '$dst_rows' ]"

token=$(awk -F'\t' '$1 == "aud_ok" { print $2 }' "$repo/test/keys/tokens.txt")
check "a signed token verifies with the restored keys" \
    "[ \"\$(psql_q -At -d dump_dst -c \"SELECT user_id FROM tenancy.verify_token('$token')\" 2>&1)\" = 11111111-1111-4111-8111-111111111111 ]"

check "a user is found by an identity provider's subject after the restore" \
    "[ \"\$(psql_q -At -d dump_dst -c \"SELECT tenancy.user_by_subject('auth0|dump', 'https://issuer.example')\" 2>&1)\" = 77777777-7777-4777-8777-777777777777 ]"

check "the restored hierarchy is managed as before" \
    "psql_q -d dump_dst -c \"SELECT tenancy.create_tenant(id, 'qa') FROM tenancy.organizations WHERE slug = 'acme'\" >/dev/null 2>&1"

if [ "$failed" -gt 0 ]; then
    diff "$work/matrix_src.txt" "$work/matrix_dst.txt" | head -20
    cat "$work/dump_restore.log"
fi
"$bin/dropdb" dump_src; "$bin/dropdb" dump_dst
exit $((failed > 0))
