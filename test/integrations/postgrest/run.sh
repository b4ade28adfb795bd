#!/usr/bin/env bash
# test/integrations/postgrest/run.sh WORKDIR — pg_tenancy's gateway-claims
# mode behind a PostgREST-style gateway (gateway.py), with concurrent
# requests for random users over a pool, Supabase-shaped claims, and the
# attacks from outside the gateway.  Prints TAP.
#
# Needs the running test cluster (PGHOST, PGPORT, PGUSER, PG_BIN) and
# Debian's python3-psycopg2.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
. "$repo/scripts/lib.sh"
work=${1:?usage: run.sh WORKDIR}
db=pgrst_tenancy
psql_su() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
    "$PG_BIN/dropdb" --if-exists --force "$db" >/dev/null 2>&1
    psql_su -d postgres -c 'DROP ROLE IF EXISTS pgrst_authenticator, pgrst_authenticated, pgrst_anon, pgrst_intruder' >/dev/null 2>&1
}
trap cleanup EXIT
cleanup

if ! /usr/bin/python3 -c 'import psycopg2' 2>/dev/null; then
    echo "Bail out! python3-psycopg2 is not installed"
    exit 1
fi

"$PG_BIN/createdb" "$db" || { echo "Bail out! createdb failed"; exit 1; }
# The example's set-up (roles, settings, the protected table), with the
# suite's role names, then the suite's hierarchy and rows.
psql_su -d "$db" -v authenticator=pgrst_authenticator -v authenticated=pgrst_authenticated \
    -v anon=pgrst_anon -f "$repo/examples/postgrest/setup.sql" >"$work/postgrest-example.log" 2>&1 \
    || { echo "Bail out! examples/postgrest/setup.sql failed"; sed 's/^/# /' "$work/postgrest-example.log"; exit 1; }
psql_su -d "$db" >"$work/postgrest-setup.log" 2>&1 <<'SQL' || { echo "Bail out! setup failed"; sed 's/^/# /' "$work/postgrest-setup.log"; exit 1; }
-- A login role that is not the gateway's, for the attacks.
CREATE ROLE pgrst_intruder LOGIN;
SELECT tenancy.create_user('owner@acme.test') AS owner \gset
SELECT tenancy.create_organization('acme', 'Acme', admin => :'owner') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 't' || i) FROM generate_series(1, 5) i;
-- Users as Supabase has them (their auth id is their id), and users of an
-- external identity provider, known by its subject.
SELECT tenancy.create_user('user' || i || '@acme.test', id => gen_random_uuid())
FROM generate_series(1, 12) i;
SELECT tenancy.create_user(subject => 'auth0|' || i, issuer => 'https://acme.auth0.test/')
FROM generate_series(1, 4) i;
SELECT tenancy.add_member(:'acme', id) FROM tenancy.users WHERE id <> :'owner';
-- One or two tenants each, as viewer or editor, drawn from the random ids.
SELECT tenancy.assign_role(CASE WHEN get_byte(decode(md5(t.id::text || u.id::text), 'hex'), 0) % 2 = 0
                                THEN 'editor' ELSE 'viewer' END,
                           tenant => t.id, user_id => u.id)
FROM tenancy.users u
CROSS JOIN LATERAL (SELECT id FROM tenancy.tenants
                    ORDER BY md5(u.id::text || tenants.id::text)
                    LIMIT 1 + get_byte(decode(md5(u.id::text), 'hex'), 0) % 2) t
WHERE u.id <> :'owner';

INSERT INTO notes (tenant_id, body)
SELECT t.id, 'seed ' || i FROM tenancy.tenants t, generate_series(1, 5) i;
GRANT USAGE ON SCHEMA public TO pgrst_intruder;
GRANT SELECT, INSERT ON notes TO pgrst_intruder;
SQL

psql_su -d "$db" -At >"$work/postgrest-setup.json" <<'SQL' || { echo "Bail out! could not read the set-up"; exit 1; }
SELECT json_build_object(
    'seed_per_tenant', 5,
    'tenants', (SELECT json_agg(id ORDER BY slug) FROM tenancy.tenants),
    'users', (SELECT json_agg(json_build_object(
                  'id', u.id,
                  'sub', coalesce(u.external_subject, u.id::text),
                  'iss', u.external_issuer,
                  'tenants', (SELECT json_object_agg(ra.tenant_id, r.name)
                              FROM tenancy.role_assignments ra
                              JOIN tenancy.roles r ON r.id = ra.role_id
                              WHERE ra.user_id = u.id))
                  ORDER BY u.created_at, u.id)
              FROM tenancy.users u
              WHERE u.email IS DISTINCT FROM 'owner@acme.test'));
SQL

/usr/bin/python3 "$here/gateway.py" \
    "host=$PGHOST port=$PGPORT dbname=$db user={user}" "$work/postgrest-setup.json"
