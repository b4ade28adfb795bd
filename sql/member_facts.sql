--
-- tenancy._member_facts (src/sql/35_member_facts.sql): the one row per
-- membership that a cache miss reads instead of memberships, users and
-- team_members.  After every kind of change it must equal what those three
-- tables say, and the decisions read through it must follow.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = public;

-- Rows of _member_facts that differ from what the base tables say.
CREATE FUNCTION pg_temp.drift() RETURNS bigint LANGUAGE sql AS $$
    WITH derived AS (
        SELECT m.org_id, m.user_id, m.role_id, m.expires_at, u.active,
               CASE WHEN count(tm.team_id) > 32 THEN NULL
                    ELSE coalesce(array_agg(tm.team_id ORDER BY tm.team_id)
                                  FILTER (WHERE tm.team_id IS NOT NULL), '{}') END AS teams
        FROM tenancy.memberships m
        JOIN tenancy.users u ON u.id = m.user_id
        LEFT JOIN tenancy.team_members tm ON tm.org_id = m.org_id AND tm.user_id = m.user_id
        GROUP BY m.org_id, m.user_id, m.role_id, m.expires_at, u.active)
    SELECT count(*) FROM (
        (SELECT * FROM derived EXCEPT SELECT * FROM tenancy._member_facts)
        UNION ALL
        (SELECT * FROM tenancy._member_facts EXCEPT SELECT * FROM derived)) d $$;

SELECT tenancy.register_resource_type('doc');
SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('bob@acme.test') AS bob \gset
SELECT tenancy.create_user('carol@acme.test') AS carol \gset
SELECT tenancy.create_organization('acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('globex', admin => :'alice') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_team(:'acme', 'ops') AS ops \gset
SELECT tenancy.create_team(:'acme', 'dev') AS dev \gset
SELECT count(tenancy.add_member(:'acme', u)) AS members FROM unnest(ARRAY[:'bob', :'carol']::uuid[]) u;
SELECT tenancy.add_member(:'globex', :'bob') IS NOT NULL AS bob_in_globex;
SELECT tenancy.assign_role('viewer', tenant => :'prod', team_id => :'ops') IS NOT NULL AS ops_views_prod;
SELECT count(*) AS facts, pg_temp.drift() AS drift FROM tenancy._member_facts;

-- Each change, then the facts and a decision that depends on them.
SELECT tenancy.add_team_member(:'ops', :'bob') IS NOT NULL AS bob_joins_ops;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads;
SELECT tenancy.add_team_member(:'dev', :'bob') IS NOT NULL AS bob_joins_dev;
SELECT teams = ARRAY(SELECT unnest(ARRAY[:'ops', :'dev']::uuid[]) ORDER BY 1) AS both_teams_sorted
FROM tenancy._member_facts WHERE org_id = :'acme' AND user_id = :'bob';
SELECT tenancy.remove_team_member(:'ops', :'bob') IS NOT NULL AS bob_leaves_ops;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads;
SELECT tenancy.add_team_member(:'ops', :'bob') IS NOT NULL AS bob_rejoins_ops;
SELECT tenancy.deactivate_user(:'bob') IS NOT NULL AS bob_deactivated;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads,
       (SELECT count(*) FROM tenancy._member_facts WHERE user_id = :'bob' AND NOT active) AS inactive_rows;
SELECT tenancy.reactivate_user(:'bob') IS NOT NULL AS bob_reactivated;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads;
SELECT tenancy.set_member_role(:'acme', :'bob', 'admin') IS NOT NULL AS bob_admin;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:delete') AS bob_deletes_as_admin;
SELECT tenancy.set_member_role(:'acme', :'bob', 'member') IS NOT NULL AS bob_member_again;
UPDATE tenancy.memberships SET expires_at = now() - interval '1 second'
WHERE org_id = :'acme' AND user_id = :'bob';
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads_expired;
UPDATE tenancy.memberships SET expires_at = NULL WHERE org_id = :'acme' AND user_id = :'bob';
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads;
-- A team deleted, a member removed (their team rows go with them).
SELECT tenancy.delete_team(:'dev') IS NOT NULL AS dev_deleted;
SELECT pg_temp.drift() AS drift;
SELECT tenancy.remove_member(:'acme', :'bob') IS NOT NULL AS bob_removed;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads,
       (SELECT count(*) FROM tenancy._member_facts WHERE user_id = :'bob') AS bob_rows;

-- More than 32 teams: the facts say "read team_members", and the team that
-- grants is found there.
SELECT tenancy.add_member(:'acme', :'bob') IS NOT NULL AS bob_back;
SELECT count(tenancy.add_team_member(tenancy.create_team(:'acme', 'team ' || g), :'bob')) AS teams_joined
FROM generate_series(1, 40) g;
SELECT tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads_without_ops;
SELECT tenancy.add_team_member(:'ops', :'bob') IS NOT NULL AS bob_joins_ops;
SELECT pg_temp.drift() AS drift, teams IS NULL AS teams_not_carried,
       tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads
FROM tenancy._member_facts WHERE org_id = :'acme' AND user_id = :'bob';

-- TRUNCATE fires no row trigger; the statement trigger empties the teams.
BEGIN;
TRUNCATE tenancy.team_members;
SELECT pg_temp.drift() AS drift, tenancy.has_permission(:'bob', :'prod', 'doc:read') AS bob_reads;
ROLLBACK;

-- A load with triggers off leaves the facts behind; rebuilding fixes them.
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO tenancy.memberships (org_id, user_id) VALUES (:'globex', :'carol');
RESET session_replication_role;
SELECT pg_temp.drift() AS drift_before_rebuild;
SELECT tenancy.rebuild_member_facts() AS rebuilt, pg_temp.drift() AS drift;
ROLLBACK;

-- Nobody writes the facts by hand, and nobody reads them.
CREATE ROLE regress_facts_writer;
GRANT USAGE ON SCHEMA tenancy TO regress_facts_writer;
SET ROLE regress_facts_writer;
INSERT INTO tenancy._member_facts VALUES (:'acme', :'carol', '00000000-0000-0000-0001-000000000001', NULL, true, '{}');
SELECT count(*) FROM tenancy._member_facts;
SELECT tenancy.rebuild_member_facts();
RESET ROLE;
REVOKE USAGE ON SCHEMA tenancy FROM regress_facts_writer;
DROP ROLE regress_facts_writer;

DROP EXTENSION pg_tenancy;
