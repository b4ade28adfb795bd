--
-- Decisions read from the indexes alone.  The indexes a permission check
-- reads carry the columns it needs; where VACUUM has marked a heap page
-- all-visible, the check reads the index tuple and never the heap.  This
-- runs the same questions before any VACUUM (every read goes to the heap),
-- after one (index-only), after changes that un-mark some pages, and after
-- a second VACUUM, each time against the plain-SQL reference.
--
CREATE EXTENSION pg_tenancy;
\set ECHO none
\i test/model/reference.sql
\set ECHO all
\set SHOW_CONTEXT never
-- Hint bits, and so all-visible pages, wait for the commit record to be flushed.
SET synchronous_commit = on;
SET search_path = tenancy, public;

SELECT create_user('ada@example.com') AS ada \gset
SELECT create_user('ben@example.com') AS ben \gset
SELECT create_user('cy@example.com') AS cy \gset
SELECT create_user('dee@example.com') AS dee \gset
SELECT create_user('eve@example.com') AS eve \gset
SELECT create_organization('acme', admin => :'ada') AS acme \gset
SELECT create_organization('other', admin => :'eve') AS other \gset
SELECT create_tenant(:'acme', 'prod') AS prod \gset
SELECT create_tenant(:'acme', 'dev') AS dev \gset
SELECT create_tenant(:'other', 'main') AS main \gset
SELECT register_resource_type('pipeline');
SELECT add_member(:'acme', :'ben');
SELECT add_member(:'acme', :'cy', 'manager');
SELECT add_member(:'acme', :'dee', 'viewer');
SELECT add_member(:'other', :'ben');
SELECT create_team(:'acme', 'platform') AS platform \gset
SELECT create_team(:'acme', 'admins') AS admins \gset
SELECT add_team_member(:'platform', :'cy');
SELECT add_team_member(:'admins', :'dee');
SELECT assign_role('editor', tenant => :'prod', user_id => :'ben');
SELECT assign_role('viewer', tenant => :'main', user_id => :'ben');
SELECT assign_role('viewer', tenant => :'dev', team_id => :'platform');
SELECT assign_role('editor', tenant => :'prod', team_id => :'platform',
                   expires_at => now() + interval '1 hour');
SELECT assign_role('admin', org => :'acme', team_id => :'admins');

CREATE TABLE questions AS
SELECT u.id AS user_id, t.id AS tenant, p AS perm, u.email, t.slug
FROM tenancy.users u, tenancy.tenants t,
     unnest(ARRAY['pipeline:read', 'pipeline:update', 'pipeline:delete']) p;

-- Every answer, computed afresh (the cache emptied), against the reference;
-- and how many heap tuples the check fetched from the tables it reads.
CREATE FUNCTION mismatches(OUT wrong bigint, OUT granted bigint, OUT heap_fetches bigint)
LANGUAGE plpgsql AS $$
DECLARE
    before bigint;
BEGIN
    before := (SELECT sum(idx_tup_fetch) FROM pg_stat_xact_user_tables
               WHERE schemaname = 'tenancy'
                 AND relname IN ('tenants', 'users', 'memberships', 'team_members',
                                 'role_assignments'));
    PERFORM tenancy.cache_reset();
    CREATE TEMP TABLE answers ON COMMIT DROP AS
    SELECT q.*, tenancy.has_permission(q.user_id, q.tenant, q.perm) AS got FROM questions q;
    heap_fetches := (SELECT sum(idx_tup_fetch) FROM pg_stat_xact_user_tables
                     WHERE schemaname = 'tenancy'
                       AND relname IN ('tenants', 'users', 'memberships', 'team_members',
                                       'role_assignments')) - before;
    wrong := (SELECT count(*) FROM answers
              WHERE got IS DISTINCT FROM tenancy_ref.has_permission(user_id, tenant, perm));
    granted := (SELECT count(*) FROM answers WHERE got);
END
$$;

-- Before any VACUUM: read from the heap.
SELECT wrong, granted, heap_fetches > 0 AS read_the_heap FROM mismatches();

VACUUM tenancy.tenants, tenancy.users, tenancy.memberships, tenancy.team_members,
       tenancy.role_assignments, tenancy.roles;
SELECT relname, relallvisible = relpages AS all_visible
FROM pg_class WHERE oid IN ('tenancy.tenants'::regclass, 'tenancy.users'::regclass,
                            'tenancy.memberships'::regclass, 'tenancy.team_members'::regclass,
                            'tenancy.role_assignments'::regclass)
ORDER BY 1;
-- After it: the same answers, and not one heap tuple read.
SELECT wrong, granted, heap_fetches FROM mismatches();

-- Changes to columns the indexes carry: the changed rows' pages are no longer
-- all-visible, and their new versions are read from the heap.
SELECT deactivate_user(:'cy');
SELECT set_member_role(:'acme', :'dee', 'member');
SELECT revoke_role('admin', org => :'acme', team_id => :'admins');
UPDATE tenancy.role_assignments SET expires_at = now() - interval '1 second'
WHERE user_id = :'ben' AND tenant_id = :'main';
SELECT wrong, granted, heap_fetches > 0 AS read_the_heap FROM mismatches();

-- Once VACUUM has been again: the new values, from the indexes alone.
VACUUM tenancy.tenants, tenancy.users, tenancy.memberships, tenancy.team_members,
       tenancy.role_assignments, tenancy.roles;
SELECT wrong, granted, heap_fetches FROM mismatches();
SELECT has_permission(:'cy', :'dev', 'pipeline:read') AS inactive_cy_reads,
       has_permission(:'dee', :'prod', 'pipeline:delete') AS dee_still_admin,
       has_permission(:'ben', :'main', 'pipeline:read') AS expired_ben_reads,
       has_permission(:'ben', :'prod', 'pipeline:create') AS ben_creates;

DROP TABLE questions;
DROP FUNCTION mismatches();
DROP SCHEMA tenancy_ref CASCADE;
DROP EXTENSION pg_tenancy;
