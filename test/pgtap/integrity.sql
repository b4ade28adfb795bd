-- pgTAP: integrity the database itself enforces (SPEC.md section 1).
--
-- Cross-organization grants are refused both by the management functions
-- and by plain INSERT/UPDATE on the tables; names are unique where a person
-- expects it; built-in roles cannot be changed or dropped.
\ir psql.psql

BEGIN;
CREATE EXTENSION pg_tenancy;

SELECT plan(82);

\ir ids.psql
CREATE FUNCTION pg_temp.note(p_name text, p_id uuid) RETURNS uuid
LANGUAGE sql AS $$ INSERT INTO pg_temp.ids VALUES (p_name, p_id) RETURNING id $$;

-- Everything a failed attempt could have changed, as one value.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT md5(concat_ws('|',
        (SELECT string_agg(concat_ws(',', org_id, role_id, tenant_id, user_id, team_id, expires_at), ';'
                           ORDER BY org_id, role_id, tenant_id, user_id, team_id)
         FROM tenancy.role_assignments),
        (SELECT string_agg(concat_ws(',', team_id, org_id, user_id), ';' ORDER BY team_id, user_id)
         FROM tenancy.team_members),
        (SELECT string_agg(concat_ws(',', org_id, user_id, role_id, expires_at), ';' ORDER BY org_id, user_id)
         FROM tenancy.memberships),
        (SELECT string_agg(concat_ws(',', id, org_id, name, scope, permissions::text, base_role_id), ';' ORDER BY id)
         FROM tenancy.roles),
        (SELECT string_agg(concat_ws(',', id, org_id, slug, name), ';' ORDER BY id) FROM tenancy.tenants),
        (SELECT string_agg(concat_ws(',', id, org_id, name), ';' ORDER BY id) FROM tenancy.teams),
        (SELECT string_agg(concat_ws(',', id, slug, name), ';' ORDER BY id) FROM tenancy.organizations),
        (SELECT string_agg(concat_ws(',', id, email, active), ';' ORDER BY id) FROM tenancy.users)))
$$;

-- Setup -------------------------------------------------------------------------

DO $$
DECLARE
    a uuid;
    b uuid;
    u uuid;
BEGIN
    PERFORM tenancy.register_resource_type('pipeline');
    u := pg_temp.note('owner a', tenancy.create_user('owner@acme.test'));
    a := pg_temp.note('acme', tenancy.create_organization('acme', 'Acme', u));
    u := pg_temp.note('owner b', tenancy.create_user('owner@globex.test'));
    b := pg_temp.note('globex', tenancy.create_organization('globex', 'Globex', u));

    PERFORM pg_temp.note('tenant a', tenancy.create_tenant(a, 'prod'));
    PERFORM pg_temp.note('tenant b', tenancy.create_tenant(b, 'prod'));
    PERFORM pg_temp.note('team a', tenancy.create_team(a, 'data'));
    PERFORM pg_temp.note('team b', tenancy.create_team(b, 'data'));
    PERFORM pg_temp.note('role a', tenancy.create_role(a, 'operator', 'tenant', '{pipeline:update}'));
    PERFORM pg_temp.note('role b', tenancy.create_role(b, 'runner', 'tenant', '{pipeline:read}'));
    PERFORM pg_temp.note('org role a', tenancy.create_role(a, 'auditor', 'organization', '{organization:read}'));
    PERFORM pg_temp.note('org role b', tenancy.create_role(b, 'inspector', 'organization', '{organization:read}'));

    u := pg_temp.note('ua', tenancy.create_user('ua@example.test'));
    PERFORM tenancy.add_member(a, u);
    PERFORM tenancy.add_team_member(pg_temp.id('team a'), u);
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('tenant a'), user_id => u);
    u := pg_temp.note('ub', tenancy.create_user('ub@example.test'));
    PERFORM tenancy.add_member(b, u);
    PERFORM tenancy.add_team_member(pg_temp.id('team b'), u);
    u := pg_temp.note('both', tenancy.create_user('both@example.test'));
    PERFORM tenancy.add_member(a, u);
    PERFORM tenancy.add_member(b, u);
    PERFORM pg_temp.note('outsider', tenancy.create_user('outsider@example.test'));
    PERFORM tenancy.assign_role('viewer', tenant => pg_temp.id('tenant a'), team_id => pg_temp.id('team a'));
END
$$;

SELECT pg_temp.fingerprint() AS before \gset

-- A team's members are members of the team's organization -----------------------

SELECT throws_ok($q$SELECT tenancy.add_team_member(pg_temp.id('team a'), pg_temp.id('ub'))$q$,
                 '23503', NULL,
                 'add_team_member refuses a member of another organization');
SELECT throws_ok($q$SELECT tenancy.add_team_member(pg_temp.id('team a'), pg_temp.id('outsider'))$q$,
                 '23503', NULL,
                 'add_team_member refuses a user who is a member of no organization');
SELECT throws_ok($q$INSERT INTO tenancy.team_members (team_id, user_id)
                    VALUES (pg_temp.id('team a'), pg_temp.id('ub'))$q$,
                 '23503', NULL,
                 'a plain INSERT of a member of another organization into a team fails');
SELECT throws_ok($q$INSERT INTO tenancy.team_members (team_id, org_id, user_id)
                    VALUES (pg_temp.id('team a'), pg_temp.id('globex'), pg_temp.id('ub'))$q$,
                 '23503', NULL,
                 'a plain INSERT that claims the user''s organization for another organization''s team fails');
SELECT throws_ok($q$UPDATE tenancy.team_members SET user_id = pg_temp.id('ub')
                    WHERE team_id = pg_temp.id('team a') AND user_id = pg_temp.id('ua')$q$,
                 '23503', NULL,
                 'a plain UPDATE swapping in a member of another organization fails');
SELECT throws_ok($q$UPDATE tenancy.team_members SET team_id = pg_temp.id('team b')
                    WHERE team_id = pg_temp.id('team a') AND user_id = pg_temp.id('ua')$q$,
                 '23503', NULL,
                 'a plain UPDATE moving a team membership to another organization''s team fails');
SELECT throws_ok($q$UPDATE tenancy.teams SET org_id = pg_temp.id('globex'), name = 'moved' WHERE id = pg_temp.id('team a')$q$,
                 '23503', NULL,
                 'a team with members cannot be moved to another organization');
SELECT lives_ok($q$SELECT tenancy.add_team_member(pg_temp.id('team b'), pg_temp.id('both'))$q$,
                'a member of both organizations can join a team of either');

-- Tenant assignments stay within one organization ------------------------------------

SELECT throws_ok($q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('tenant a'), team_id => pg_temp.id('team b'))$q$,
                 '23503', NULL,
                 'assign_role refuses a team of another organization on a tenant');
SELECT throws_ok($q$SELECT tenancy.assign_role('runner', tenant => pg_temp.id('tenant a'), user_id => pg_temp.id('ua'))$q$,
                 '23503', NULL,
                 'assign_role refuses a custom role of another organization');
SELECT throws_ok($q$SELECT tenancy.assign_role('manager', tenant => pg_temp.id('tenant a'), user_id => pg_temp.id('ua'))$q$,
                 '23503', NULL,
                 'assign_role refuses an organization role on a tenant');
SELECT throws_ok($q$SELECT tenancy.assign_role('editor', org => pg_temp.id('acme'), team_id => pg_temp.id('team a'))$q$,
                 '23503', NULL,
                 'assign_role refuses a tenant role on the organization');
SELECT throws_ok($q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('tenant b'), org => pg_temp.id('acme'),
                                                user_id => pg_temp.id('both'))$q$,
                 '23503', NULL,
                 'assign_role refuses a tenant of another organization than the one named');
SELECT throws_ok($q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('tenant a'), user_id => pg_temp.id('outsider'))$q$,
                 '23503', NULL,
                 'assign_role refuses a tenant role to a user who is a member of no organization');
SELECT throws_ok($q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('tenant a'), user_id => pg_temp.id('ub'))$q$,
                 '23503', NULL,
                 'assign_role refuses a tenant role to a member of another organization');
SELECT throws_ok($q$SELECT tenancy.assign_role('admin', org => pg_temp.id('acme'), team_id => pg_temp.id('team b'))$q$,
                 '23503', NULL,
                 'assign_role refuses organization admin to a team of another organization');
SELECT throws_ok($q$SELECT tenancy.assign_role('inspector', org => pg_temp.id('acme'), team_id => pg_temp.id('team a'))$q$,
                 '23503', NULL,
                 'assign_role refuses another organization''s custom organization role to a team');

SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, team_id)
                    VALUES ('00000000-0000-0000-0002-000000000002', pg_temp.id('tenant a'), pg_temp.id('team b'))$q$,
                 '23503', NULL,
                 'a plain INSERT naming a team of another organization on a tenant fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, team_id)
                    VALUES (pg_temp.id('globex'), '00000000-0000-0000-0002-000000000002',
                            pg_temp.id('tenant a'), pg_temp.id('team b'))$q$,
                 '23503', NULL,
                 'a plain INSERT naming a tenant of another organization than its own fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, user_id)
                    VALUES (pg_temp.id('role b'), pg_temp.id('tenant a'), pg_temp.id('ua'))$q$,
                 '23503', NULL,
                 'a plain INSERT naming a custom role of another organization fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, user_id)
                    VALUES ('00000000-0000-0000-0001-000000000002', pg_temp.id('tenant a'), pg_temp.id('ua'))$q$,
                 '23514', NULL,
                 'a plain INSERT of an organization role on a tenant fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, user_id)
                    VALUES (pg_temp.id('org role a'), pg_temp.id('tenant a'), pg_temp.id('ua'))$q$,
                 '23514', NULL,
                 'a plain INSERT of a custom organization role on a tenant fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, team_id)
                    VALUES ('00000000-0000-0000-0002-000000000001', pg_temp.id('team a'))$q$,
                 '23514', NULL,
                 'a plain INSERT of a tenant role on the organization fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, team_id)
                    VALUES (pg_temp.id('org role b'), pg_temp.id('team a'))$q$,
                 '23503', NULL,
                 'a plain INSERT of another organization''s organization role to a team fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (org_id, role_id, team_id)
                    VALUES (pg_temp.id('acme'), '00000000-0000-0000-0001-000000000001', pg_temp.id('team b'))$q$,
                 '23503', NULL,
                 'a plain INSERT of organization admin to a team of another organization fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, user_id)
                    VALUES ('00000000-0000-0000-0002-000000000002', pg_temp.id('tenant a'), pg_temp.id('outsider'))$q$,
                 '23503', NULL,
                 'a plain INSERT of a tenant role for a non-member fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, user_id)
                    VALUES ('00000000-0000-0000-0002-000000000002', pg_temp.id('tenant a'), pg_temp.id('ub'))$q$,
                 '23503', NULL,
                 'a plain INSERT of a tenant role for a member of another organization fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, user_id)
                    VALUES (pg_temp.id('acme'), '00000000-0000-0000-0002-000000000002',
                            pg_temp.id('tenant b'), pg_temp.id('both'))$q$,
                 '23503', NULL,
                 'a plain INSERT claiming another organization''s tenant for this organization fails');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (org_id, role_id, user_id)
                    VALUES (pg_temp.id('acme'), '00000000-0000-0000-0001-000000000001', pg_temp.id('ua'))$q$,
                 '23514', NULL,
                 'a plain INSERT of an organization-scope assignment to a user fails (their membership is that)');
SELECT throws_ok($q$INSERT INTO tenancy.role_assignments (role_id, tenant_id, user_id, team_id)
                    VALUES ('00000000-0000-0000-0002-000000000002', pg_temp.id('tenant a'),
                            pg_temp.id('ua'), pg_temp.id('team a'))$q$,
                 '23514', NULL,
                 'a plain INSERT naming both a user and a team fails');
SELECT throws_ok($q$UPDATE tenancy.role_assignments SET tenant_id = pg_temp.id('tenant b')
                    WHERE user_id = pg_temp.id('ua') AND tenant_id = pg_temp.id('tenant a')$q$,
                 '23503', NULL,
                 'a plain UPDATE moving an assignment to another organization''s tenant fails');
SELECT throws_ok($q$UPDATE tenancy.role_assignments SET team_id = pg_temp.id('team b')
                    WHERE team_id = pg_temp.id('team a')$q$,
                 '23503', NULL,
                 'a plain UPDATE handing an assignment to another organization''s team fails');
SELECT throws_ok($q$UPDATE tenancy.role_assignments SET role_id = pg_temp.id('role b')
                    WHERE user_id = pg_temp.id('ua')$q$,
                 '23503', NULL,
                 'a plain UPDATE switching an assignment to another organization''s role fails');
SELECT throws_ok($q$UPDATE tenancy.role_assignments SET role_id = '00000000-0000-0000-0001-000000000003'
                    WHERE user_id = pg_temp.id('ua')$q$,
                 '23514', NULL,
                 'a plain UPDATE switching a tenant assignment to an organization role fails');
SELECT throws_ok($q$UPDATE tenancy.tenants SET org_id = pg_temp.id('globex'), slug = 'moved' WHERE id = pg_temp.id('tenant a')$q$,
                 '23503', NULL,
                 'a tenant with assignments cannot be moved to another organization');
SELECT throws_ok($q$UPDATE tenancy.memberships SET org_id = pg_temp.id('globex')
                    WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('ua')$q$,
                 '23503', NULL,
                 'a membership with team memberships and assignments cannot be moved to another organization');

-- Memberships hold organization roles of their own organization --------------------

SELECT throws_ok($q$INSERT INTO tenancy.memberships (org_id, user_id, role_id)
                    VALUES (pg_temp.id('acme'), pg_temp.id('outsider'), pg_temp.id('org role b'))$q$,
                 '23503', NULL,
                 'a plain INSERT of a membership with another organization''s role fails');
SELECT throws_ok($q$INSERT INTO tenancy.memberships (org_id, user_id, role_id)
                    VALUES (pg_temp.id('acme'), pg_temp.id('outsider'), '00000000-0000-0000-0002-000000000001')$q$,
                 '23514', NULL,
                 'a plain INSERT of a membership with a tenant role fails');
SELECT throws_ok($q$UPDATE tenancy.memberships SET role_id = pg_temp.id('org role b')
                    WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('both')$q$,
                 '23503', NULL,
                 'a plain UPDATE giving a member another organization''s role fails');
SELECT throws_ok($q$SELECT tenancy.add_member(pg_temp.id('acme'), pg_temp.id('outsider'), 'inspector')$q$,
                 '23503', NULL,
                 'add_member refuses another organization''s custom role');
SELECT throws_ok($q$SELECT tenancy.add_member(pg_temp.id('acme'), pg_temp.id('outsider'), 'editor')$q$,
                 '23503', NULL,
                 'add_member refuses a tenant role as the organization role');

-- Invitations carry roles and teams of their own organization.
SELECT throws_ok($q$INSERT INTO tenancy.invitations (org_id, email, role_id, token_hash, expires_at)
                    VALUES (pg_temp.id('acme'), 'new@example.test', pg_temp.id('org role b'), '\x01', now() + interval '1 day')$q$,
                 '23503', NULL,
                 'an invitation cannot carry another organization''s organization role');
INSERT INTO tenancy.invitations (org_id, email, token_hash, expires_at)
VALUES (pg_temp.id('acme'), 'new@example.test', '\x02', now() + interval '1 day');
SELECT throws_ok($q$INSERT INTO tenancy.invitation_tenant_roles (invitation_id, org_id, tenant_id, role_id)
                    SELECT id, org_id, pg_temp.id('tenant a'), pg_temp.id('role b')
                    FROM tenancy.invitations WHERE email = 'new@example.test'$q$,
                 '23503', NULL,
                 'an invitation cannot grant another organization''s custom tenant role');
SELECT throws_ok($q$INSERT INTO tenancy.invitation_tenant_roles (invitation_id, org_id, tenant_id, role_id)
                    SELECT id, org_id, pg_temp.id('tenant b'), '00000000-0000-0000-0002-000000000002'
                    FROM tenancy.invitations WHERE email = 'new@example.test'$q$,
                 '23503', NULL,
                 'an invitation cannot grant a role on another organization''s tenant');
SELECT throws_ok($q$INSERT INTO tenancy.invitation_teams (invitation_id, org_id, team_id)
                    SELECT id, org_id, pg_temp.id('team b')
                    FROM tenancy.invitations WHERE email = 'new@example.test'$q$,
                 '23503', NULL,
                 'an invitation cannot put the invitee in another organization''s team');
DELETE FROM tenancy.invitations WHERE email = 'new@example.test';

-- Undo the one change that was allowed, then compare with the starting point.
SELECT tenancy.remove_team_member(pg_temp.id('team b'), pg_temp.id('both')) IS NULL AS undone \gset
SELECT is(pg_temp.fingerprint(), :'before',
          'the refused attempts changed nothing in the hierarchy');

-- Custom roles ---------------------------------------------------------------------------

SELECT throws_ok($q$UPDATE tenancy.roles SET org_id = pg_temp.id('globex') WHERE id = pg_temp.id('role a')$q$,
                 '0A000', NULL,
                 'a custom role cannot be moved to another organization');
SELECT throws_ok($q$UPDATE tenancy.roles SET scope = 'organization' WHERE id = pg_temp.id('role a')$q$,
                 '0A000', NULL,
                 'a custom role cannot change its scope');
SELECT throws_ok($q$SELECT tenancy.create_role(pg_temp.id('acme'), 'boss', 'tenant', '{}', base_role => 'manager')$q$,
                 '22023', NULL,
                 'a custom role cannot start from a built-in role of the other scope');
SELECT throws_ok($q$INSERT INTO tenancy.roles (org_id, name, scope, base_role_id)
                    VALUES (pg_temp.id('acme'), 'boss', 'tenant', pg_temp.id('role a'))$q$,
                 '22023', NULL,
                 'a custom role cannot start from another custom role');
SELECT throws_ok($q$SELECT tenancy.create_role(pg_temp.id('acme'), 'boss', 'team', '{}')$q$,
                 '22023', NULL,
                 'a role scope other than organization or tenant is refused');

-- Names are unique where a person expects it ------------------------------------------------

SELECT throws_ok($q$SELECT tenancy.create_organization('acme')$q$,
                 '23505', NULL, 'create_organization refuses a slug that is taken');
SELECT throws_ok($q$INSERT INTO tenancy.organizations (slug, name) VALUES ('acme', 'Another Acme')$q$,
                 '23505', NULL, 'a plain INSERT of an organization with a taken slug fails');
SELECT throws_ok($q$SELECT tenancy.rename_organization(pg_temp.id('globex'), 'Globex', slug => 'acme')$q$,
                 '23505', NULL, 'rename_organization refuses a slug that is taken');
SELECT throws_ok($q$SELECT tenancy.create_tenant(pg_temp.id('acme'), 'prod')$q$,
                 '23505', NULL, 'create_tenant refuses a slug taken in the same organization');
SELECT throws_ok($q$INSERT INTO tenancy.tenants (org_id, slug, name) VALUES (pg_temp.id('acme'), 'prod', 'Prod again')$q$,
                 '23505', NULL, 'a plain INSERT of a tenant with a slug taken in the organization fails');
SELECT lives_ok($q$SELECT tenancy.create_tenant(pg_temp.id('acme'), 'staging')$q$,
                'a tenant slug free in the organization is accepted');
SELECT throws_ok($q$SELECT tenancy.rename_tenant(pg_temp.id('tenant a'), 'Prod', slug => 'staging')$q$,
                 '23505', NULL, 'rename_tenant refuses a slug taken in the same organization');
SELECT throws_ok($q$SELECT tenancy.create_team(pg_temp.id('acme'), 'data')$q$,
                 '23505', NULL, 'create_team refuses a name taken in the same organization');
SELECT throws_ok($q$INSERT INTO tenancy.teams (org_id, name) VALUES (pg_temp.id('acme'), 'data')$q$,
                 '23505', NULL, 'a plain INSERT of a team with a name taken in the organization fails');
SELECT lives_ok($q$SELECT tenancy.create_team(pg_temp.id('acme'), 'platform')$q$,
                'a team name free in the organization is accepted');
SELECT throws_ok($q$SELECT tenancy.rename_team(pg_temp.id('team a'), 'platform')$q$,
                 '23505', NULL, 'rename_team refuses a name taken in the same organization');
SELECT throws_ok($q$SELECT tenancy.create_user('UA@Example.TEST')$q$,
                 '23505', NULL, 'create_user refuses an e-mail address taken in another letter case');
SELECT throws_ok($q$INSERT INTO tenancy.users (email) VALUES ('Ua@EXAMPLE.test')$q$,
                 '23505', NULL, 'a plain INSERT of a user with an e-mail address taken in another case fails');
SELECT throws_ok($q$SELECT tenancy.rename_user(pg_temp.id('ub'), 'B', email => 'uA@example.test')$q$,
                 '23505', NULL, 'rename_user refuses an e-mail address taken in another letter case');
SELECT throws_ok($q$UPDATE tenancy.users SET email = 'UA@example.test' WHERE id = pg_temp.id('ub')$q$,
                 '23505', NULL, 'a plain UPDATE to an e-mail address taken in another case fails');
SELECT throws_ok($q$SELECT tenancy.create_role(pg_temp.id('acme'), 'operator', 'tenant', '{}')$q$,
                 '23505', NULL, 'create_role refuses a name taken in the organization and scope');
SELECT throws_ok($q$SELECT tenancy.create_role(pg_temp.id('acme'), 'editor', 'tenant', '{}')$q$,
                 '23505', NULL, 'create_role refuses the name of a built-in role of the same scope');
SELECT throws_ok($q$INSERT INTO tenancy.roles (org_id, name, scope) VALUES (pg_temp.id('acme'), 'viewer', 'tenant')$q$,
                 '23505', NULL, 'a plain INSERT of a custom role named like a built-in one fails');
SELECT throws_ok($q$UPDATE tenancy.roles SET name = 'admin' WHERE id = pg_temp.id('org role a')$q$,
                 '23505', NULL, 'a plain UPDATE renaming a custom role to a built-in name fails');
SELECT lives_ok($q$SELECT tenancy.create_role(pg_temp.id('globex'), 'operator', 'tenant', '{}')$q$,
                'another organization may use the same custom role name');
SELECT throws_ok($q$SELECT tenancy.add_member(pg_temp.id('acme'), pg_temp.id('ua'))$q$,
                 '23505', NULL, 'add_member refuses a user who is a member already');
SELECT throws_ok($q$SELECT tenancy.add_team_member(pg_temp.id('team a'), pg_temp.id('ua'))$q$,
                 '23505', NULL, 'add_team_member refuses a user who is in the team already');

-- Built-in roles are fixed --------------------------------------------------------------------

SELECT throws_ok($q$UPDATE tenancy.roles SET permissions = '{*:*}' WHERE id = '00000000-0000-0000-0002-000000000003'$q$,
                 '42501', NULL, 'a plain UPDATE of a built-in role''s permissions fails');
SELECT throws_ok($q$UPDATE tenancy.roles SET name = 'owner' WHERE id = '00000000-0000-0000-0001-000000000001'$q$,
                 '42501', NULL, 'a plain UPDATE renaming a built-in role fails');
SELECT throws_ok($q$DELETE FROM tenancy.roles WHERE id = '00000000-0000-0000-0001-000000000004'$q$,
                 '42501', NULL, 'a plain DELETE of a built-in role fails');
SELECT throws_ok($q$INSERT INTO tenancy.roles (name, scope, permissions) VALUES ('auditor', 'tenant', '{*:read}')$q$,
                 '42501', NULL, 'a plain INSERT of a new built-in role fails');
SELECT throws_ok($q$SELECT tenancy.drop_role('00000000-0000-0000-0002-000000000002')$q$,
                 '42501', NULL, 'drop_role refuses a built-in role');
SELECT throws_ok($q$SELECT tenancy.alter_role('00000000-0000-0000-0002-000000000003', '{*:*}')$q$,
                 '42501', NULL, 'alter_role refuses a built-in role');
SELECT throws_ok($q$SELECT tenancy.rename_role('00000000-0000-0000-0001-000000000002', 'boss')$q$,
                 '42501', NULL, 'rename_role refuses a built-in role');
SELECT results_eq(
    $q$SELECT scope, name, permissions::text FROM tenancy.roles WHERE org_id IS NULL ORDER BY scope, name$q$,
    $q$VALUES ('organization', 'admin',   '{*:*}'::tenancy.permset::text),
              ('organization', 'manager', '{organization:read,tenant:*,team:*,member:*,assignment:*,invitation:*,role:read}'::tenancy.permset::text),
              ('organization', 'member',  '{organization:read}'::tenancy.permset::text),
              ('organization', 'viewer',  '{organization:read,tenant:read,team:read,member:read,role:read,assignment:read}'::tenancy.permset::text),
              ('tenant',       'admin',   '{*:*}'::tenancy.permset::text),
              ('tenant',       'editor',  '{*:create,*:read,*:share}'::tenancy.permset::text),
              ('tenant',       'viewer',  '{*:read}'::tenancy.permset::text)$q$,
    'the seven built-in roles are unchanged after every refused attempt');
SELECT is(tenancy.permissions(pg_temp.id('ua'), pg_temp.id('tenant a'))::text,
          '{*:create,*:read,*:share}'::tenancy.permset::text,
          'a member''s decision is unchanged after every refused attempt');

SELECT * FROM finish();
ROLLBACK;
