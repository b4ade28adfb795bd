-- bench/cache_data.sql — a generated hierarchy for bench/cache.sh.
--
-- Set the sizes with psql variables: users, orgs (users are spread evenly
-- over them), tenants_per_org, teams_per_org, members_per_team,
-- direct_per_user (tenant roles per user), team_grants (tenant roles per
-- team).  Ids are md5-derived so that the rows can be written set-wise.
-- Triggers are off while loading (session_replication_role = replica): the
-- data is consistent by construction, and row triggers would turn a few
-- minutes into an hour; the member facts they would keep are rebuilt after.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_tenancy;
SELECT tenancy.register_resource_type('doc');

SET session_replication_role = replica;
SET maintenance_work_mem = '512MB';

CREATE FUNCTION pg_temp.id(kind text, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5(kind || n)::uuid $$;

INSERT INTO tenancy.organizations (id, slug, name)
SELECT pg_temp.id('o', o), 'org-' || o, 'Org ' || o FROM generate_series(1, :orgs) o;

INSERT INTO tenancy.tenants (id, org_id, slug, name)
SELECT pg_temp.id('t', (o - 1) * :tenants_per_org + k), pg_temp.id('o', o), 't-' || k, 'T ' || k
FROM generate_series(1, :orgs) o, generate_series(1, :tenants_per_org) k;

INSERT INTO tenancy.users (id, email)
SELECT pg_temp.id('u', u), 'u' || u || '@bench.test' FROM generate_series(1, :users) u;

-- User u belongs to org ((u - 1) % orgs) + 1; its first user is the admin.
INSERT INTO tenancy.memberships (org_id, user_id, role_id)
SELECT pg_temp.id('o', (u - 1) % :orgs + 1), pg_temp.id('u', u),
       CASE WHEN u <= :orgs THEN '00000000-0000-0000-0001-000000000001'::uuid
            ELSE '00000000-0000-0000-0001-000000000004'::uuid END
FROM generate_series(1, :users) u;

INSERT INTO tenancy.teams (id, org_id, name)
SELECT pg_temp.id('m', (o - 1) * :teams_per_org + k), pg_temp.id('o', o), 'team ' || k
FROM generate_series(1, :orgs) o, generate_series(1, :teams_per_org) k;

-- Team k of org o takes members_per_team of the org's users.
INSERT INTO tenancy.team_members (team_id, org_id, user_id)
SELECT DISTINCT ON (team, usr) team, org, usr FROM (
    SELECT pg_temp.id('m', (o - 1) * :teams_per_org + k) AS team, pg_temp.id('o', o) AS org,
           pg_temp.id('u', o + :orgs * ((k * 7919 + j) % (:users / :orgs))) AS usr
    FROM generate_series(1, :orgs) o, generate_series(1, :teams_per_org) k,
         generate_series(1, :members_per_team) j) x;

-- Direct tenant roles: editor on direct_per_user tenants of the user's org.
INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, user_id)
SELECT DISTINCT ON (t, u) org, '00000000-0000-0000-0002-000000000002'::uuid, t, u FROM (
    SELECT pg_temp.id('o', (u - 1) % :orgs + 1) AS org,
           pg_temp.id('t', ((u - 1) % :orgs) * :tenants_per_org + 1 + ((u * 31 + j * 17) % :tenants_per_org)) AS t,
           pg_temp.id('u', u) AS u
    FROM generate_series(1, :users) u, generate_series(1, :direct_per_user) j) x;

-- Team tenant roles: viewer on team_grants tenants of the team's org.
INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, team_id)
SELECT DISTINCT ON (t, m) org, '00000000-0000-0000-0002-000000000003'::uuid, t, m FROM (
    SELECT pg_temp.id('o', o) AS org,
           pg_temp.id('t', (o - 1) * :tenants_per_org + 1 + ((k * 13 + j) % :tenants_per_org)) AS t,
           pg_temp.id('m', (o - 1) * :teams_per_org + k) AS m
    FROM generate_series(1, :orgs) o, generate_series(1, :teams_per_org) k,
         generate_series(1, :team_grants) j) x;

RESET session_replication_role;
-- What the triggers would have derived (src/sql/35_member_facts.sql).
SELECT tenancy.rebuild_member_facts() AS member_facts;

-- 20,000 (user, tenant) pairs to ask about: half in the user's own
-- organization (often granted), half anywhere (mostly not).
-- All distinct, so that a first pass over them misses every time.
CREATE TABLE pairs AS
SELECT row_number() OVER (ORDER BY min(n)) AS n, u, t FROM (
    SELECT n, pg_temp.id('u', 1 + (n * 7919) % :users) AS u,
           CASE WHEN n % 2 = 0
                THEN pg_temp.id('t', ((1 + (n * 7919) % :users - 1) % :orgs) * :tenants_per_org + 1 + (n % :tenants_per_org))
                ELSE pg_temp.id('t', 1 + (n * 104729) % (:orgs * :tenants_per_org)) END AS t
    FROM generate_series(1::bigint, 40000) n) x
GROUP BY u, t
ORDER BY min(n)
LIMIT 20000;

\ir ../test/model/reference.sql
VACUUM ANALYZE;
SELECT (SELECT count(*) FROM tenancy.users) AS users,
       (SELECT count(*) FROM tenancy.tenants) AS tenants,
       (SELECT count(*) FROM tenancy.teams) AS teams,
       (SELECT count(*) FROM tenancy.team_members) AS team_members,
       (SELECT count(*) FROM tenancy.role_assignments) AS assignments;
