--
-- Decisions: tenancy.permissions() and tenancy.has_permission().
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
SET search_path = tenancy, public;

SELECT create_user('ada@example.com') AS ada \gset
SELECT create_user('ben@example.com') AS ben \gset
SELECT create_user('cy@example.com') AS cy \gset
SELECT create_user('dee@example.com') AS dee \gset
SELECT create_user('bot@example.com', kind => 'service_account') AS bot \gset
SELECT create_user('eve@example.com') AS eve \gset
SELECT create_organization('acme', admin => :'ada') AS acme \gset
SELECT create_organization('other', admin => :'eve') AS other \gset
SELECT create_tenant(:'acme', 'prod') AS prod \gset
SELECT create_tenant(:'acme', 'dev') AS dev \gset
SELECT create_tenant(:'other', 'main') AS main \gset
SELECT register_resource_type('pipeline');
SELECT register_resource_type('model');
SELECT register_action('prune');

SELECT add_member(:'acme', :'ben');
SELECT add_member(:'acme', :'cy', 'manager');
SELECT add_member(:'acme', :'dee', 'viewer');
SELECT add_member(:'acme', :'bot');
SELECT create_team(:'acme', 'platform') AS platform \gset
SELECT create_team(:'acme', 'admins') AS admins \gset
SELECT add_team_member(:'platform', :'cy');
SELECT add_team_member(:'admins', :'dee');
SELECT create_role(:'acme', 'pruner', 'tenant', '{pipeline:prune}', 'viewer') IS NOT NULL AS created;
SELECT assign_role('editor', tenant => :'prod', user_id => :'ben');
SELECT assign_role('viewer', tenant => :'dev', team_id => :'platform');
SELECT assign_role('pruner', tenant => :'prod', team_id => :'platform');
SELECT assign_role('editor', tenant => :'dev', user_id => :'bot', expires_at => now() + interval '1 hour');

-- The full picture: every user on every tenant.
SELECT u.email, t.slug, permissions(u.id, t.id)
FROM users u CROSS JOIN tenants t
ORDER BY 1, 2;

-- Single checks, including wildcard questions.
SELECT has_permission(:'ben', :'prod', 'pipeline:create') AS ben_creates,
       has_permission(:'ben', :'prod', 'pipeline:update') AS ben_updates,
       has_permission(:'ben', :'prod', '*:read') AS ben_reads_all,
       has_permission(:'ben', :'prod', 'pipeline:*') AS ben_all_pipeline,
       has_permission(:'cy', :'prod', 'pipeline:prune') AS cy_prunes,
       has_permission(:'cy', :'prod', 'model:prune') AS cy_prunes_models,
       has_permission(:'ada', :'prod', '*:*') AS ada_everything;

-- Organization admin through a team.
SELECT has_permission(:'dee', :'prod', 'pipeline:delete') AS dee_before;
SELECT assign_role('admin', org => :'acme', team_id => :'admins');
SELECT has_permission(:'dee', :'prod', 'pipeline:delete') AS dee_after;

-- Expiry is judged at the statement's start.
UPDATE role_assignments SET expires_at = statement_timestamp()
WHERE user_id = :'bot';
SELECT permissions(:'bot', :'dev') AS bot_expired;

-- Deactivated users are allowed nothing, and everything again on return.
SELECT deactivate_user(:'ben');
SELECT permissions(:'ben', :'prod') AS ben_inactive;
SELECT reactivate_user(:'ben');
SELECT permissions(:'ben', :'prod') AS ben_active;

-- An expired membership counts as none.
UPDATE memberships SET expires_at = statement_timestamp() - interval '1 second'
WHERE user_id = :'cy';
SELECT permissions(:'cy', :'prod') AS cy_expired_member;

-- Unknown ids are "no", not errors; NULL in is NULL out.
SELECT has_permission(gen_random_uuid(), :'prod', 'pipeline:read') AS unknown_user,
       has_permission(:'ada', gen_random_uuid(), 'pipeline:read') AS unknown_tenant,
       permissions(gen_random_uuid(), gen_random_uuid()) AS unknown_both,
       has_permission(NULL, :'prod', 'pipeline:read') IS NULL AS null_user;

-- A user of another organization gets nothing here.
SELECT permissions(:'eve', :'prod') AS eve_on_acme, permissions(:'ada', :'main') AS ada_on_other;

-- Malformed or unregistered permissions are errors, whoever asks.
SELECT has_permission(:'ada', :'prod', 'pipeline');
SELECT has_permission(:'ada', :'prod', 'Pipeline:read');
SELECT has_permission(:'ada', :'prod', '');
SELECT has_permission(:'ada', :'prod', 'pipline:read');
SELECT has_permission(:'ada', :'prod', 'pipeline:raed');
SELECT has_permission(gen_random_uuid(), :'prod', 'pipeline:raed');

-- The same errors, by SQLSTATE.
\set VERBOSITY sqlstate
SELECT has_permission(:'ada', :'prod', 'pipeline:read:write');
SELECT has_permission(:'ada', :'prod', 'pipeline:raed');
\set VERBOSITY default

-- The caller's snapshot is honoured: a change made in this transaction is
-- seen by its next statement, and a rollback takes it back.
-- (Other sessions' changes are covered by the isolation tests.)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT has_permission(:'ben', :'prod', 'pipeline:read') AS ben_reads;
SELECT revoke_role('editor', tenant => :'prod', user_id => :'ben');
SELECT has_permission(:'ben', :'prod', 'pipeline:read') AS ben_reads_after_revoke;
ROLLBACK;
SELECT has_permission(:'ben', :'prod', 'pipeline:read') AS ben_reads_after_rollback;

-- Ordinary roles may ask; they cannot manage.
CREATE ROLE regress_tenancy_app;
SET ROLE regress_tenancy_app;
SELECT has_permission(:'ben', :'prod', 'pipeline:read') AS asked_by_app;
SELECT create_tenant(:'acme', 'sneaky');
SELECT count(*) FROM memberships;
RESET ROLE;
DROP ROLE regress_tenancy_app;

DROP EXTENSION pg_tenancy;
