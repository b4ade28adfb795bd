--
-- Management functions: what each does, and what each refuses, with the
-- SQLSTATE and message, and proof that a refused call changed nothing.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never

-- A fingerprint of the whole hierarchy, and a runner that reports an error
-- as "SQLSTATE: message" and whether the fingerprint moved.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE sql AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.organizations t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.tenants t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.users t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.memberships t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.teams t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.team_members t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.roles t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.role_assignments t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.actions t),
        (SELECT string_agg(t::text, ',' ORDER BY t::text) FROM tenancy.resource_types t)))
$$;

CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.fingerprint();
    result text := 'ok';
BEGIN
    BEGIN
        EXECUTE stmt;
    EXCEPTION WHEN others THEN
        result := SQLSTATE || ': ' || SQLERRM;
    END;
    IF result <> 'ok' AND pg_temp.fingerprint() <> before THEN
        result := result || '  [HIERARCHY CHANGED]';
    END IF;
    RETURN result;
END
$$;

-- Users ------------------------------------------------------------------------
SELECT tenancy.create_user('alice@example.com', 'Alice') AS alice \gset
SELECT tenancy.create_user('bob@example.com', 'Bob') AS bob \gset
SELECT tenancy.create_user('carol@example.com') AS carol \gset
SELECT tenancy.create_user('ci-bot@example.com', 'CI', 'service_account') AS bot \gset
SELECT email, display_name, kind, active FROM tenancy.users ORDER BY email;

SELECT pg_temp.try($$SELECT tenancy.create_user(NULL)$$);
SELECT pg_temp.try($$SELECT tenancy.create_user('not-an-address')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user('ALICE@Example.com')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user('dave@example.com', NULL, 'robot')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user('dave@example.com', NULL, NULL)$$);
SELECT pg_temp.try(format('SELECT tenancy.rename_user(%L, %L, %L)', :'bob', 'Bobby', 'alice@EXAMPLE.com'));
SELECT pg_temp.try(format('SELECT tenancy.rename_user(%L, %L)', gen_random_uuid(), 'Nobody')) ~ '^23503: user ".*" does not exist$' AS unknown_user_rejected;
SELECT tenancy.rename_user(:'bob', 'Robert', 'robert@example.com');
SELECT email, display_name FROM tenancy.users WHERE id = :'bob';

-- Organizations ----------------------------------------------------------------
SELECT tenancy.create_organization('acme', 'Acme Corp', :'alice') AS acme \gset
SELECT tenancy.create_organization('globex') AS globex \gset
SELECT slug, name FROM tenancy.organizations ORDER BY slug;

SELECT pg_temp.try($$SELECT tenancy.create_organization(NULL)$$);
SELECT pg_temp.try($$SELECT tenancy.create_organization('Acme Inc')$$);
SELECT pg_temp.try($$SELECT tenancy.create_organization('-acme')$$);
SELECT pg_temp.try($$SELECT tenancy.create_organization('acme')$$);
SELECT pg_temp.try($$SELECT tenancy.create_organization('initech', '   ')$$);
SELECT pg_temp.try(format('SELECT tenancy.create_organization(%L, NULL, %L)', 'initech', gen_random_uuid())) ~ '^23503: user ".*" does not exist$' AS unknown_admin_rejected;
SELECT pg_temp.try(format('SELECT tenancy.rename_organization(%L, %L, %L)', :'globex', 'Globex', 'acme'));
SELECT tenancy.rename_organization(:'globex', 'Globex Corporation', 'globex-corp');
SELECT slug, name FROM tenancy.organizations ORDER BY slug;

-- Tenants --------------------------------------------------------------------
SELECT tenancy.create_tenant(:'acme', 'prod', 'Production') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'dev') AS dev \gset
SELECT tenancy.create_tenant(:'globex', 'prod') AS gprod \gset
SELECT o.slug AS org, t.slug, t.name FROM tenancy.tenants t JOIN tenancy.organizations o ON o.id = t.org_id ORDER BY 1, 2;

SELECT pg_temp.try(format('SELECT tenancy.create_tenant(%L, %L)', :'acme', 'prod'));
SELECT pg_temp.try(format('SELECT tenancy.create_tenant(%L, %L)', :'acme', 'Prod'));
SELECT pg_temp.try(format('SELECT tenancy.create_tenant(%L, NULL)', :'acme'));
SELECT pg_temp.try($$SELECT tenancy.create_tenant(NULL, 'x')$$);
SELECT pg_temp.try(format('SELECT tenancy.create_tenant(%L, %L)', gen_random_uuid(), 'x')) ~ '^23503: organization ".*" does not exist$' AS unknown_org_rejected;
SELECT pg_temp.try(format('SELECT tenancy.rename_tenant(%L, %L, %L)', :'dev', 'Development', 'prod'));
SELECT tenancy.rename_tenant(:'dev', 'Development', 'staging');
SELECT slug, name FROM tenancy.tenants WHERE id = :'dev';

-- Members ----------------------------------------------------------------------
SELECT tenancy.add_member(:'acme', :'bob');
SELECT tenancy.add_member(:'acme', :'carol', 'viewer');
SELECT tenancy.add_member(:'acme', :'bot', 'member', now() + interval '1 day');
SELECT tenancy.add_member(:'globex', :'carol', 'admin');
SELECT o.slug AS org, u.email, r.name AS role, m.expires_at IS NOT NULL AS expires
FROM tenancy.memberships m
JOIN tenancy.organizations o ON o.id = m.org_id
JOIN tenancy.users u ON u.id = m.user_id
JOIN tenancy.roles r ON r.id = m.role_id
ORDER BY 1, 2;

SELECT pg_temp.try(format('SELECT tenancy.add_member(%L, %L)', :'acme', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.add_member(%L, %L, %L)', :'globex', :'bob', 'owner'));
SELECT pg_temp.try(format('SELECT tenancy.add_member(%L, %L, %L)', :'globex', :'bob', 'editor'));
SELECT pg_temp.try(format('SELECT tenancy.add_member(%L, %L, %L, %L)', :'globex', :'bob', 'member', now() - interval '1 second'));
SELECT pg_temp.try(format('SELECT tenancy.add_member(%L, NULL)', :'globex'));
SELECT pg_temp.try(format('SELECT tenancy.set_member_role(%L, %L, %L)', :'globex', :'bob', 'viewer'));
SELECT pg_temp.try(format('SELECT tenancy.remove_member(%L, %L)', :'globex', :'bob'));
SELECT tenancy.set_member_role(:'acme', :'carol', 'manager');
SELECT r.name FROM tenancy.memberships m JOIN tenancy.roles r ON r.id = m.role_id
WHERE m.org_id = :'acme' AND m.user_id = :'carol';

-- The last active admin ------------------------------------------------------
SELECT pg_temp.try(format('SELECT tenancy.remove_member(%L, %L)', :'acme', :'alice'));
SELECT pg_temp.try(format('SELECT tenancy.set_member_role(%L, %L, %L)', :'acme', :'alice', 'viewer'));
SELECT pg_temp.try(format('SELECT tenancy.set_member_role(%L, %L, %L, %L)', :'acme', :'alice', 'admin', now() + interval '1 hour'));
SELECT pg_temp.try(format('SELECT tenancy.deactivate_user(%L)', :'alice'));
SELECT pg_temp.try(format('SELECT tenancy.delete_user(%L)', :'alice'));
SELECT pg_temp.try(format('DELETE FROM tenancy.memberships WHERE user_id = %L', :'alice'));
SELECT pg_temp.try(format('UPDATE tenancy.users SET active = false WHERE id = %L', :'alice'));
\set VERBOSITY default
SELECT tenancy.remove_member(:'acme', :'alice');
-- With a second admin, the first can go.
SELECT tenancy.set_member_role(:'acme', :'bob', 'admin');
SELECT tenancy.set_member_role(:'acme', :'alice', 'member');
SELECT tenancy.set_member_role(:'acme', :'alice', 'admin');

-- Teams ------------------------------------------------------------------------
SELECT tenancy.create_team(:'acme', 'ML Platform') AS ml \gset
SELECT tenancy.create_team(:'acme', 'Data') AS data \gset
SELECT tenancy.create_team(:'globex', 'ML Platform') AS gml \gset
SELECT tenancy.add_team_member(:'ml', :'carol');
SELECT tenancy.add_team_member(:'ml', :'bob');
SELECT pg_temp.try(format('SELECT tenancy.create_team(%L, %L)', :'acme', 'ML Platform'));
SELECT pg_temp.try(format('SELECT tenancy.create_team(%L, %L)', :'acme', ''));
SELECT pg_temp.try(format('SELECT tenancy.add_team_member(%L, %L)', :'ml', :'carol'));
SELECT pg_temp.try(format('SELECT tenancy.add_team_member(%L, %L)', :'gml', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.remove_team_member(%L, %L)', :'data', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.rename_team(%L, %L)', :'data', 'ML Platform'));
SELECT tenancy.rename_team(:'data', 'Data Science');
SELECT tenancy.remove_team_member(:'ml', :'bob');
SELECT t.name, u.email FROM tenancy.team_members tm
JOIN tenancy.teams t ON t.id = tm.team_id JOIN tenancy.users u ON u.id = tm.user_id
ORDER BY 1, 2;

-- Registries and custom roles ------------------------------------------------
SELECT tenancy.register_resource_type('pipeline', 'ML pipelines');
SELECT tenancy.register_resource_type('pipeline');
SELECT tenancy.register_action('prune');
SELECT pg_temp.try($$SELECT tenancy.register_action('Prune')$$);
SELECT pg_temp.try($$SELECT tenancy.register_resource_type(NULL)$$);

SELECT tenancy.create_role(:'acme', 'deployer', 'tenant', '{pipeline:update,pipeline:prune}', 'viewer') AS deployer \gset
SELECT tenancy.create_role(:'acme', 'auditor', 'organization', '{member:read}') AS auditor \gset
SELECT name, scope, permissions, (SELECT b.name FROM tenancy.roles b WHERE b.id = r.base_role_id) AS base
FROM tenancy.roles r WHERE org_id IS NOT NULL ORDER BY name;

SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L)', :'acme', 'deployer', 'tenant'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L)', :'acme', 'editor', 'tenant'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L)', :'acme', 'Deployer', 'tenant'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L)', :'acme', 'x', 'global'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L, %L)', :'acme', 'x', 'tenant', '{model:read}'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L, %L)', :'acme', 'x', 'tenant', '{pipeline:promote}'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L, %L)', :'acme', 'x', 'tenant', '{pipeline}'));
SELECT pg_temp.try(format('SELECT tenancy.create_role(%L, %L, %L, %L, %L)', :'acme', 'x', 'tenant', '{}', 'manager'));
SELECT pg_temp.try(format('SELECT tenancy.alter_role(%L, %L)', (SELECT id FROM tenancy.roles WHERE org_id IS NULL AND name = 'viewer' AND scope = 'tenant'), '{*:*}'));
SELECT pg_temp.try(format('SELECT tenancy.drop_role(%L)', (SELECT id FROM tenancy.roles WHERE org_id IS NULL AND name = 'admin' AND scope = 'organization')));
SELECT pg_temp.try($$UPDATE tenancy.roles SET permissions = '{*:*}' WHERE org_id IS NULL AND name = 'viewer'$$);
SELECT pg_temp.try($$INSERT INTO tenancy.roles (name, scope) VALUES ('root', 'tenant')$$);
SELECT pg_temp.try(format('UPDATE tenancy.roles SET scope = %L WHERE id = %L', 'organization', :'deployer'));
SELECT pg_temp.try($$SELECT tenancy.unregister_action('prune')$$);
SELECT pg_temp.try($$SELECT tenancy.unregister_action('read')$$);

-- The base role stays included when the permissions are replaced.
SELECT tenancy.alter_role(:'deployer', '{pipeline:update}');
SELECT permissions FROM tenancy.roles WHERE id = :'deployer';
SELECT tenancy.unregister_action('prune');
SELECT tenancy.rename_role(:'deployer', 'releaser');
SELECT pg_temp.try(format('SELECT tenancy.rename_role(%L, %L)', :'deployer', 'viewer'));

-- Role assignments -----------------------------------------------------------
SELECT tenancy.assign_role('editor', tenant => :'prod', user_id => :'carol');
SELECT tenancy.assign_role('releaser', tenant => :'prod', team_id => :'ml', expires_at => now() + interval '7 days');
SELECT tenancy.assign_role('viewer', tenant => :'dev', team_id => :'ml');
SELECT tenancy.assign_role('admin', org => :'acme', team_id => :'data');
SELECT tenancy.assign_role('auditor', org => :'acme', user_id => :'bot');
-- Assigning again replaces the expiry instead of failing.
SELECT tenancy.assign_role('releaser', tenant => :'prod', team_id => :'ml');

SELECT r.name AS role, coalesce(t.slug, '(organization)') AS scope,
       coalesce(u.email, tm.name) AS principal, a.expires_at IS NOT NULL AS expires
FROM tenancy.role_assignments a
JOIN tenancy.roles r ON r.id = a.role_id
LEFT JOIN tenancy.tenants t ON t.id = a.tenant_id
LEFT JOIN tenancy.users u ON u.id = a.user_id
LEFT JOIN tenancy.teams tm ON tm.id = a.team_id
ORDER BY 1, 2, 3;
SELECT r.name FROM tenancy.memberships m JOIN tenancy.roles r ON r.id = m.role_id
WHERE m.user_id = :'bot';

SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L)', 'editor', :'prod'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, user_id => %L, team_id => %L)', 'editor', :'prod', :'bob', :'ml'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, user_id => %L)', 'editor', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, user_id => %L)', 'owner', :'prod', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, user_id => %L)', 'manager', :'prod', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, user_id => %L)', 'editor', :'gprod', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, team_id => %L)', 'editor', :'gprod', :'ml'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, team_id => %L)', 'releaser', :'gprod', :'gml'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, org => %L, user_id => %L)', 'editor', :'prod', :'globex', :'bob'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(%L, tenant => %L, user_id => %L, expires_at => %L)', 'editor', :'prod', :'bob', now() - interval '1 minute'));
SELECT pg_temp.try(format('SELECT tenancy.assign_role(NULL, tenant => %L, user_id => %L)', :'prod', :'bob'));

SELECT tenancy.revoke_role('viewer', tenant => :'dev', team_id => :'ml');
SELECT tenancy.revoke_role('viewer', tenant => :'dev', team_id => :'ml');
SELECT pg_temp.try(format('SELECT tenancy.revoke_role(%L, tenant => %L, user_id => %L)', 'viewer', gen_random_uuid(), :'bob')) ~ '^23503: tenant ".*" does not exist$' AS unknown_tenant_rejected;

-- Removing a member takes their team memberships and assignments with it,
-- in that organization only.
SELECT tenancy.add_team_member(:'gml', :'carol');
SELECT tenancy.assign_role('viewer', tenant => :'gprod', user_id => :'carol');
SELECT tenancy.remove_member(:'acme', :'carol');
SELECT o.slug AS org, 'team ' || t.name AS holds FROM tenancy.team_members tm
  JOIN tenancy.teams t ON t.id = tm.team_id JOIN tenancy.organizations o ON o.id = t.org_id
  WHERE tm.user_id = :'carol'
UNION ALL
SELECT o.slug, 'assignment on ' || t.slug FROM tenancy.role_assignments a
  JOIN tenancy.tenants t ON t.id = a.tenant_id JOIN tenancy.organizations o ON o.id = t.org_id
  WHERE a.user_id = :'carol'
ORDER BY 1, 2;

-- Revoking a user's organization role ends their membership.
SELECT tenancy.revoke_role('auditor', org => :'acme', user_id => :'bot');
SELECT count(*) AS bot_memberships FROM tenancy.memberships WHERE user_id = :'bot';

-- Dropping a custom role: assignments go, members fall back to "member".
SELECT tenancy.add_member(:'acme', :'bot', 'auditor');
SELECT tenancy.drop_role(:'auditor');
SELECT r.name FROM tenancy.memberships m JOIN tenancy.roles r ON r.id = m.role_id WHERE m.user_id = :'bot';
SELECT tenancy.drop_role(:'deployer');
SELECT count(*) AS releaser_assignments FROM tenancy.role_assignments WHERE role_id = :'deployer';

-- Deactivation ---------------------------------------------------------------
SELECT tenancy.deactivate_user(:'bot');
SELECT tenancy.deactivate_user(:'bot');
SELECT active FROM tenancy.users WHERE id = :'bot';
SELECT tenancy.reactivate_user(:'bot');
SELECT active FROM tenancy.users WHERE id = :'bot';

-- Deleting ---------------------------------------------------------------------
SELECT tenancy.delete_team(:'data');
SELECT count(*) AS data_team_rows FROM tenancy.role_assignments WHERE team_id = :'data';
SELECT tenancy.delete_tenant(:'dev');
SELECT pg_temp.try(format('SELECT tenancy.delete_tenant(%L)', :'dev')) ~ '^23503: tenant ".*" does not exist$' AS deleted_tenant_is_gone;
SELECT tenancy.delete_organization(:'globex');
SELECT (SELECT count(*) FROM tenancy.tenants WHERE org_id = :'globex') AS tenants,
       (SELECT count(*) FROM tenancy.teams WHERE org_id = :'globex') AS teams,
       (SELECT count(*) FROM tenancy.memberships WHERE org_id = :'globex') AS members,
       (SELECT count(*) FROM tenancy.role_assignments WHERE org_id = :'globex') AS assignments;
SELECT tenancy.delete_user(:'bot');
SELECT count(*) AS bot_rows FROM tenancy.memberships WHERE user_id = :'bot';

-- Management functions are not for PUBLIC; decisions and the type are.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p
WHERE p.pronamespace = 'tenancy'::regnamespace
  AND p.proname IN ('create_tenant', 'assign_role', '_org', 'has_permission', 'permissions', 'allows')
ORDER BY 1;

DROP EXTENSION pg_tenancy;
