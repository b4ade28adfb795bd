-- pgTAP: the decision table of pg_tenancy (SPEC.md sections 2 to 4).
--
-- Every built-in tenant role (admin, editor, viewer) times every built-in
-- action, plus a registered custom action, reached directly, through a
-- team, and (for admin) through organization admin held directly or by a
-- team; every built-in organization role, showing that only admin gives
-- tenant data; custom roles, one of them derived from a built-in base role.
-- The expected answers are one explicit table; each cell is one assertion.
\ir psql.psql

BEGIN;
CREATE EXTENSION pg_tenancy;

SELECT plan(189);

-- Names of the things the setup creates, and their ids.
\ir ids.psql

-- Setup -----------------------------------------------------------------------

DO $$
DECLARE
    org uuid;
    other uuid;
    prod uuid;
    staging uuid;
    team uuid;
    u uuid;
    r text;
BEGIN
    PERFORM tenancy.register_resource_type('pipeline', 'An ML pipeline.');
    PERFORM tenancy.register_action('prune', 'Prune old runs.');

    u := tenancy.create_user('owner@acme.test');
    org := tenancy.create_organization('acme', 'Acme', u);
    prod := tenancy.create_tenant(org, 'prod');
    staging := tenancy.create_tenant(org, 'staging');
    INSERT INTO pg_temp.ids VALUES ('acme', org), ('prod', prod), ('staging', staging);

    u := tenancy.create_user('owner@globex.test');
    other := tenancy.create_organization('globex', 'Globex', u);
    INSERT INTO pg_temp.ids VALUES ('globex', other), ('globex owner', u),
        ('globex prod', tenancy.create_tenant(other, 'prod'));

    -- Tenant roles on prod: assigned to the user, and to a team of the user.
    FOREACH r IN ARRAY ARRAY['admin', 'editor', 'viewer'] LOOP
        u := tenancy.create_user('tenant-' || r || '.direct@acme.test');
        PERFORM tenancy.add_member(org, u);
        PERFORM tenancy.assign_role(r, tenant => prod, user_id => u);
        INSERT INTO pg_temp.ids VALUES ('tenant ' || r || ', assigned directly', u);

        team := tenancy.create_team(org, 'tenant ' || r || 's');
        INSERT INTO pg_temp.ids VALUES ('team of tenant ' || r || 's', team);
        u := tenancy.create_user('tenant-' || r || '.team@acme.test');
        PERFORM tenancy.add_member(org, u);
        PERFORM tenancy.add_team_member(team, u);
        PERFORM tenancy.assign_role(r, tenant => prod, team_id => team);
        INSERT INTO pg_temp.ids VALUES ('tenant ' || r || ', through a team', u);
    END LOOP;

    -- Organization roles: held as the membership, and held by a team of a
    -- plain member (organization scope, tenant_id NULL).
    FOREACH r IN ARRAY ARRAY['admin', 'manager', 'viewer', 'member'] LOOP
        u := tenancy.create_user('org-' || r || '.direct@acme.test');
        PERFORM tenancy.add_member(org, u, r);
        INSERT INTO pg_temp.ids VALUES ('organization ' || r || ', held directly', u);

        team := tenancy.create_team(org, 'organization ' || r || 's');
        PERFORM tenancy.assign_role(r, org => org, team_id => team);
        u := tenancy.create_user('org-' || r || '.team@acme.test');
        PERFORM tenancy.add_member(org, u);
        PERFORM tenancy.add_team_member(team, u);
        INSERT INTO pg_temp.ids VALUES ('organization ' || r || ', through a team', u);
    END LOOP;

    -- Custom roles: one from a permission set, one derived from a base role,
    -- and a custom organization role.
    PERFORM tenancy.create_role(org, 'pipeline_operator', 'tenant',
                                '{pipeline:read,pipeline:update,pipeline:prune}');
    u := tenancy.create_user('operator@acme.test');
    PERFORM tenancy.add_member(org, u);
    PERFORM tenancy.assign_role('pipeline_operator', tenant => prod, user_id => u);
    INSERT INTO pg_temp.ids VALUES ('custom pipeline_operator, assigned directly', u);

    PERFORM tenancy.create_role(org, 'pruner', 'tenant', '{pipeline:prune}',
                                base_role => 'viewer');
    team := tenancy.create_team(org, 'pruners');
    PERFORM tenancy.assign_role('pruner', tenant => prod, team_id => team);
    u := tenancy.create_user('pruner@acme.test');
    PERFORM tenancy.add_member(org, u);
    PERFORM tenancy.add_team_member(team, u);
    INSERT INTO pg_temp.ids VALUES ('custom pruner based on viewer, through a team', u);

    PERFORM tenancy.create_role(org, 'auditor', 'organization',
                                '{organization:read,tenant:read,member:read}');
    u := tenancy.create_user('auditor@acme.test');
    PERFORM tenancy.add_member(org, u, 'auditor');
    INSERT INTO pg_temp.ids VALUES ('custom organization auditor, held directly', u);

    -- The union of a direct grant and a team grant.
    u := tenancy.create_user('viewer-plus-editor@acme.test');
    PERFORM tenancy.add_member(org, u);
    PERFORM tenancy.assign_role('viewer', tenant => prod, user_id => u);
    PERFORM tenancy.add_team_member(pg_temp.id('team of tenant editors'), u);
    INSERT INTO pg_temp.ids VALUES ('tenant viewer directly plus editor through a team', u);
END
$$;

-- The expected answers ---------------------------------------------------------
--
-- One row per way of holding a role; the action columns are the answer of
-- has_permission(user, prod, 'pipeline:<action>'); on_prod and on_staging
-- are permissions(user, tenant) on the tenant the grant names and on another
-- tenant of the same organization.
CREATE TEMP TABLE expected (
    n int PRIMARY KEY, path text NOT NULL,
    "create" bool, "read" bool, "update" bool, "delete" bool, "share" bool, "prune" bool,
    on_prod text, on_staging text);
INSERT INTO expected VALUES
--   n  path                                                  create read  update delete share  prune  on_prod                                          on_staging
    ( 1, 'tenant admin, assigned directly',                   true,  true, true,  true,  true,  true,  '{*:*}',                                         '{}'),
    ( 2, 'tenant admin, through a team',                      true,  true, true,  true,  true,  true,  '{*:*}',                                         '{}'),
    ( 3, 'tenant editor, assigned directly',                  true,  true, false, false, true,  false, '{*:create,*:read,*:share}',                     '{}'),
    ( 4, 'tenant editor, through a team',                     true,  true, false, false, true,  false, '{*:create,*:read,*:share}',                     '{}'),
    ( 5, 'tenant viewer, assigned directly',                  false, true, false, false, false, false, '{*:read}',                                      '{}'),
    ( 6, 'tenant viewer, through a team',                     false, true, false, false, false, false, '{*:read}',                                      '{}'),
    ( 7, 'organization admin, held directly',                 true,  true, true,  true,  true,  true,  '{*:*}',                                         '{*:*}'),
    ( 8, 'organization admin, through a team',                true,  true, true,  true,  true,  true,  '{*:*}',                                         '{*:*}'),
    ( 9, 'organization manager, held directly',               false, false, false, false, false, false, '{}',                                           '{}'),
    (10, 'organization manager, through a team',              false, false, false, false, false, false, '{}',                                           '{}'),
    (11, 'organization viewer, held directly',                false, false, false, false, false, false, '{}',                                           '{}'),
    (12, 'organization viewer, through a team',               false, false, false, false, false, false, '{}',                                           '{}'),
    (13, 'organization member, held directly',                false, false, false, false, false, false, '{}',                                           '{}'),
    (14, 'organization member, through a team',               false, false, false, false, false, false, '{}',                                           '{}'),
    (15, 'custom pipeline_operator, assigned directly',       false, true, true,  false, false, true,  '{pipeline:read,pipeline:update,pipeline:prune}', '{}'),
    (16, 'custom pruner based on viewer, through a team',     false, true, false, false, false, true,  '{*:read,pipeline:prune}',                       '{}'),
    (17, 'custom organization auditor, held directly',        false, false, false, false, false, false, '{}',                                           '{}'),
    (18, 'tenant viewer directly plus editor through a team', true,  true, false, false, true,  false, '{*:create,*:read,*:share}',                     '{}');

-- Every cell: 18 rows x 6 actions.
SELECT is(tenancy.has_permission(pg_temp.id(e.path), pg_temp.id('prod'), 'pipeline:' || c.action),
          c.allowed,
          format('%s: %s %s a pipeline on prod', e.path,
                 CASE WHEN c.allowed THEN 'may' ELSE 'may not' END, c.action))
FROM expected e
CROSS JOIN LATERAL (VALUES (1, 'create', e."create"), (2, 'read', e."read"),
                           (3, 'update', e."update"), (4, 'delete', e."delete"),
                           (5, 'share', e."share"), (6, 'prune', e."prune"))
     AS c(k, action, allowed)
ORDER BY e.n, c.k;

-- The whole permission set on the tenant named by the grant (18).
SELECT is(tenancy.permissions(pg_temp.id(e.path), pg_temp.id('prod'))::text,
          e.on_prod::tenancy.permset::text,
          format('%s: the permissions on prod are %s', e.path, e.on_prod))
FROM expected e ORDER BY e.n;

-- A grant on one tenant gives nothing on another; organization admin covers
-- every tenant of the organization (18).
SELECT is(tenancy.permissions(pg_temp.id(e.path), pg_temp.id('staging'))::text,
          e.on_staging::tenancy.permset::text,
          format('%s: the permissions on staging are %s', e.path, e.on_staging))
FROM expected e ORDER BY e.n;

-- Nobody in acme holds anything on a tenant of another organization (18).
SELECT is(tenancy.permissions(pg_temp.id(e.path), pg_temp.id('globex prod'))::text, '{}',
          format('%s: nothing on a tenant of another organization', e.path))
FROM expected e ORDER BY e.n;

-- Organization admin is admin of its own organization's tenants only.
SELECT ok(tenancy.has_permission(pg_temp.id('globex owner'), pg_temp.id('globex prod'), 'pipeline:delete'),
          'the admin of globex may delete a pipeline on globex prod');
SELECT ok(NOT tenancy.has_permission(pg_temp.id('globex owner'), pg_temp.id('prod'), 'pipeline:read'),
          'the admin of globex may not read a pipeline on acme prod');
SELECT ok(tenancy.has_permission(pg_temp.id('globex owner'), pg_temp.id('globex prod'), 'tenant:update'),
          'organization admin gives every type, not only application types');

-- Organization admin of acme, held directly or through a team, gives nothing
-- on the tenant of another organization the same user is a plain member of.
DO $$
BEGIN
    PERFORM tenancy.add_member(pg_temp.id('globex'), pg_temp.id('organization admin, held directly'));
    PERFORM tenancy.add_member(pg_temp.id('globex'), pg_temp.id('organization admin, through a team'));
END
$$;
SELECT is(tenancy.permissions(pg_temp.id('organization admin, held directly'), pg_temp.id('globex prod'))::text, '{}',
          'an acme admin who is a plain member of globex has nothing on globex prod');
SELECT is(tenancy.permissions(pg_temp.id('organization admin, through a team'), pg_temp.id('globex prod'))::text, '{}',
          'an acme admin through a team who is a plain member of globex has nothing on globex prod');

-- A wildcard action in the question asks for every action.
SELECT ok(tenancy.has_permission(pg_temp.id('tenant admin, assigned directly'), pg_temp.id('prod'), 'pipeline:*'),
          'tenant admin may do every action on a pipeline');
SELECT ok(NOT tenancy.has_permission(pg_temp.id('tenant editor, assigned directly'), pg_temp.id('prod'), 'pipeline:*'),
          'tenant editor may not do every action on a pipeline');

-- Actions and types must be registered --------------------------------------

SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, 'pipeline:promote')$q$,
           pg_temp.id('tenant admin, assigned directly'), pg_temp.id('prod')),
    '22023', NULL,
    'an unregistered action is an error, even for an admin');
SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, 'notebook:read')$q$,
           pg_temp.id('tenant admin, assigned directly'), pg_temp.id('prod')),
    '22023', NULL,
    'an unregistered resource type is an error');
SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, 'notebook:read')$q$,
           gen_random_uuid(), gen_random_uuid()),
    '22023', NULL,
    'an unregistered resource type is an error for unknown ids too');
SELECT ok(tenancy.register_action('promote'), 'registering a new action returns true');
SELECT ok(NOT tenancy.register_action('promote'), 'registering it again returns false');
SELECT ok(tenancy.has_permission(pg_temp.id('tenant admin, through a team'), pg_temp.id('prod'), 'pipeline:promote'),
          'once registered, the new action is granted by tenant admin');
SELECT ok(tenancy.has_permission(pg_temp.id('organization admin, through a team'), pg_temp.id('staging'), 'pipeline:promote'),
          'once registered, the new action is granted by organization admin');
SELECT ok(NOT tenancy.has_permission(pg_temp.id('tenant editor, assigned directly'), pg_temp.id('prod'), 'pipeline:promote'),
          'once registered, the new action is not granted by tenant editor');
SELECT throws_ok(
    $q$SELECT tenancy.create_role(pg_temp.id('acme'), 'deployer', 'tenant', '{pipeline:deploy}')$q$,
    '22023', NULL,
    'a custom role cannot name an unregistered action');

-- Malformed permissions -------------------------------------------------------

SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, 'pipeline')$q$,
           pg_temp.id('tenant viewer, assigned directly'), pg_temp.id('prod')),
    '22P02', NULL,
    'a permission without an action is malformed');
SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, 'pipeline:read:now')$q$,
           pg_temp.id('tenant viewer, assigned directly'), pg_temp.id('prod')),
    '22P02', NULL,
    'a permission with two colons is malformed');
SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, '')$q$,
           pg_temp.id('tenant viewer, assigned directly'), pg_temp.id('prod')),
    '22P02', NULL,
    'an empty permission is malformed');
SELECT throws_ok(
    format($q$SELECT tenancy.has_permission(%L, %L, 'Pipe Line:read')$q$,
           pg_temp.id('tenant viewer, assigned directly'), pg_temp.id('prod')),
    '22P02', NULL,
    'a permission with upper case and a blank is malformed');

-- Unknown ids are just "no" -----------------------------------------------------

SELECT is(tenancy.has_permission(gen_random_uuid(), pg_temp.id('prod'), 'pipeline:read'), false,
          'an unknown user may not read a pipeline');
SELECT is(tenancy.has_permission(pg_temp.id('tenant admin, assigned directly'), gen_random_uuid(), 'pipeline:read'), false,
          'nobody may read a pipeline on an unknown tenant');
SELECT is(tenancy.permissions(gen_random_uuid(), pg_temp.id('prod'))::text, '{}',
          'an unknown user has the empty permission set');
SELECT is(tenancy.permissions(pg_temp.id('organization admin, held directly'), gen_random_uuid())::text, '{}',
          'even an organization admin has the empty permission set on an unknown tenant');
SELECT is(tenancy.has_permission(pg_temp.id('prod'), pg_temp.id('tenant admin, assigned directly'), 'pipeline:read'), false,
          'a tenant id passed as a user and a user id passed as a tenant allow nothing');

-- The custom roles' stored permission sets --------------------------------------

SELECT is((SELECT permissions::text FROM tenancy.roles WHERE org_id = pg_temp.id('acme') AND name = 'pruner'),
          '{*:read,pipeline:prune}'::tenancy.permset::text,
          'a custom role derived from viewer holds its own permissions and the base role''s');
SELECT is((SELECT r.name FROM tenancy.roles c JOIN tenancy.roles r ON r.id = c.base_role_id
           WHERE c.org_id = pg_temp.id('acme') AND c.name = 'pruner'),
          'viewer',
          'the derived role records its base role');

SELECT * FROM finish();
ROLLBACK;
