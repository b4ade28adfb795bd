-- pgTAP: grants over time (SPEC.md sections 1 and 4).
--
-- Expiry before and after (time is moved by writing expires_at directly,
-- since the management functions refuse an expiry in the past);
-- deactivation and reactivation, of a person and of a service account;
-- removing a member and what goes with it; the last active admin; and what
-- deleting a tenant, team, role or organization takes with it.
\ir psql.psql

BEGIN;
CREATE EXTENSION pg_tenancy;

SELECT plan(121);

\ir ids.psql
-- A user, created as a plain member of the organization, with its id noted.
CREATE FUNCTION pg_temp.member(p_org text, p_name text, p_role text DEFAULT 'member',
                               p_kind text DEFAULT 'user') RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    u uuid := tenancy.create_user(p_name || '@example.test', p_name, p_kind);
BEGIN
    PERFORM tenancy.add_member(pg_temp.id(p_org), u, p_role);
    INSERT INTO pg_temp.ids VALUES (p_name, u);
    RETURN u;
END
$$;
CREATE FUNCTION pg_temp.note(p_name text, p_id uuid) RETURNS uuid
LANGUAGE sql AS $$ INSERT INTO pg_temp.ids VALUES (p_name, p_id) RETURNING id $$;

-- Setup -----------------------------------------------------------------------

DO $$
DECLARE
    acme uuid;
    globex uuid;
    u uuid;
    t uuid;
BEGIN
    PERFORM tenancy.register_resource_type('pipeline');

    u := pg_temp.note('owner', tenancy.create_user('owner@example.test'));
    acme := pg_temp.note('acme', tenancy.create_organization('acme', 'Acme', u));
    PERFORM pg_temp.note('prod', tenancy.create_tenant(acme, 'prod'));
    PERFORM pg_temp.note('staging', tenancy.create_tenant(acme, 'staging'));
    u := pg_temp.note('globex owner', tenancy.create_user('owner@globex.test'));
    globex := pg_temp.note('globex', tenancy.create_organization('globex', 'Globex', u));
    PERFORM pg_temp.note('globex prod', tenancy.create_tenant(globex, 'prod'));

    -- Expiry.
    u := pg_temp.member('acme', 'exp-direct');
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => u,
                                expires_at => now() + interval '1 hour');
    u := pg_temp.member('acme', 'exp-team');
    t := pg_temp.note('contractors', tenancy.create_team(acme, 'contractors'));
    PERFORM tenancy.add_team_member(t, u);
    PERFORM tenancy.assign_role('viewer', tenant => pg_temp.id('prod'), team_id => t,
                                expires_at => now() + interval '1 hour');
    u := pg_temp.member('acme', 'exp-member');
    UPDATE tenancy.memberships SET expires_at = now() + interval '1 hour'
    WHERE org_id = acme AND user_id = u;
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => u);
    u := pg_temp.member('acme', 'exp-orgadmin');
    t := pg_temp.note('ops-admins', tenancy.create_team(acme, 'ops-admins'));
    PERFORM tenancy.add_team_member(t, u);
    PERFORM tenancy.assign_role('admin', org => acme, team_id => t,
                                expires_at => now() + interval '1 hour');
    u := tenancy.create_user('temp-admin@example.test');
    PERFORM pg_temp.note('temp-admin', u);
    PERFORM tenancy.add_member(acme, u, 'admin', now() + interval '1 hour');

    -- Deactivation.
    u := pg_temp.member('acme', 'alice');
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => u);
    t := pg_temp.note('readers', tenancy.create_team(acme, 'readers'));
    PERFORM tenancy.add_team_member(t, u);
    PERFORM tenancy.assign_role('viewer', tenant => pg_temp.id('staging'), team_id => t);
    u := pg_temp.member('acme', 'ci-bot', 'member', 'service_account');
    PERFORM tenancy.assign_role('admin', tenant => pg_temp.id('prod'), user_id => u);
    PERFORM pg_temp.member('acme', 'vice', 'admin');

    -- Removal: a member of acme and of globex.
    u := pg_temp.member('acme', 'dual');
    PERFORM tenancy.add_member(globex, u);
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => u);
    t := pg_temp.note('data', tenancy.create_team(acme, 'data'));
    PERFORM tenancy.add_team_member(t, u);
    PERFORM tenancy.assign_role('viewer', tenant => pg_temp.id('staging'), team_id => t);
    PERFORM tenancy.assign_role('viewer', tenant => pg_temp.id('globex prod'), user_id => u);
    t := pg_temp.note('globex data', tenancy.create_team(globex, 'data'));
    PERFORM tenancy.add_team_member(t, u);
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('globex prod'), team_id => t);
END
$$;

-- Expiry: a user's tenant assignment ---------------------------------------------

SELECT ok(tenancy.has_permission(pg_temp.id('exp-direct'), pg_temp.id('prod'), 'pipeline:create'),
          'an assignment that expires in an hour counts now');
SELECT throws_ok(
    $q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => pg_temp.id('exp-direct'),
                                  expires_at => now() - interval '1 minute')$q$,
    '22023', NULL,
    'assign_role refuses an expiry in the past');
SELECT throws_ok(
    $q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => pg_temp.id('exp-direct'),
                                  expires_at => now())$q$,
    '22023', NULL,
    'assign_role refuses an expiry that is not after the statement time');
SELECT cmp_ok((SELECT expires_at FROM tenancy.role_assignments WHERE user_id = pg_temp.id('exp-direct')),
              '>', now() + interval '59 minutes',
              'a refused expiry leaves the stored expiry as it was');

UPDATE tenancy.role_assignments SET expires_at = now() - interval '1 second'
WHERE user_id = pg_temp.id('exp-direct');

SELECT ok(NOT tenancy.has_permission(pg_temp.id('exp-direct'), pg_temp.id('prod'), 'pipeline:create'),
          'once its expiry has passed, the assignment no longer counts');
SELECT is(tenancy.permissions(pg_temp.id('exp-direct'), pg_temp.id('prod'))::text, '{}',
          'a user whose only assignment expired has the empty set');
SELECT lives_ok(
    $q$SELECT tenancy.assign_role('editor', tenant => pg_temp.id('prod'), user_id => pg_temp.id('exp-direct'),
                                  expires_at => now() + interval '1 day')$q$,
    'assigning the role again with a future expiry is allowed');
SELECT ok(tenancy.has_permission(pg_temp.id('exp-direct'), pg_temp.id('prod'), 'pipeline:create'),
          'assigning the role again with a future expiry renews the grant');

-- The boundary: an expiry equal to the statement time has passed.  Inside one
-- top-level statement, statement_timestamp() stays put, so a function can set
-- the expiry to exactly that instant and then ask.
CREATE FUNCTION pg_temp.allowed_with_expiry(p_offset interval) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE tenancy.role_assignments SET expires_at = statement_timestamp() + p_offset
    WHERE user_id = pg_temp.id('exp-direct');
    RETURN tenancy.has_permission(pg_temp.id('exp-direct'), pg_temp.id('prod'), 'pipeline:create');
END
$$;
SELECT is(pg_temp.allowed_with_expiry(interval '1 microsecond'), true,
          'an assignment expiring one microsecond after the statement time still counts');
SELECT is(pg_temp.allowed_with_expiry(interval '0'), false,
          'an assignment expiring exactly at the statement time no longer counts');
UPDATE tenancy.role_assignments SET expires_at = NULL WHERE user_id = pg_temp.id('exp-direct');

-- Expiry: a team's tenant assignment ----------------------------------------------

SELECT ok(tenancy.has_permission(pg_temp.id('exp-team'), pg_temp.id('prod'), 'pipeline:read'),
          'a team assignment that expires in an hour counts now');
UPDATE tenancy.role_assignments SET expires_at = now() - interval '1 second'
WHERE team_id = pg_temp.id('contractors');
SELECT ok(NOT tenancy.has_permission(pg_temp.id('exp-team'), pg_temp.id('prod'), 'pipeline:read'),
          'once its expiry has passed, the team assignment no longer counts');

-- Expiry: the membership itself -----------------------------------------------------

SELECT ok(tenancy.has_permission(pg_temp.id('exp-member'), pg_temp.id('prod'), 'pipeline:create'),
          'a member whose membership expires in an hour keeps their tenant roles now');
SELECT throws_ok(
    $q$SELECT tenancy.add_member(pg_temp.id('globex'), pg_temp.id('exp-member'), 'member',
                                 now() - interval '1 day')$q$,
    '22023', NULL,
    'add_member refuses an expiry in the past');
SELECT throws_ok(
    $q$SELECT tenancy.set_member_role(pg_temp.id('acme'), pg_temp.id('exp-member'), 'member',
                                      now() - interval '1 day')$q$,
    '22023', NULL,
    'set_member_role refuses an expiry in the past');
UPDATE tenancy.memberships SET expires_at = now() - interval '1 second'
WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('exp-member');
SELECT ok(NOT tenancy.has_permission(pg_temp.id('exp-member'), pg_temp.id('prod'), 'pipeline:create'),
          'an expired membership gives nothing, even with an unexpired tenant assignment');
SELECT is(tenancy.permissions(pg_temp.id('exp-member'), pg_temp.id('prod'))::text, '{}',
          'a member whose membership expired has the empty set');
SELECT lives_ok(
    $q$SELECT tenancy.set_member_role(pg_temp.id('acme'), pg_temp.id('exp-member'), 'member',
                                      now() + interval '1 day')$q$,
    'set_member_role renews an expired membership');
SELECT ok(tenancy.has_permission(pg_temp.id('exp-member'), pg_temp.id('prod'), 'pipeline:create'),
          'a renewed membership brings the tenant roles back');

-- Expiry: organization admin, held by a team and held directly ---------------------

SELECT ok(tenancy.has_permission(pg_temp.id('exp-orgadmin'), pg_temp.id('staging'), 'pipeline:delete'),
          'a team''s organization admin that expires in an hour counts now');
SELECT throws_ok(
    $q$SELECT tenancy.assign_role('admin', org => pg_temp.id('acme'), team_id => pg_temp.id('ops-admins'),
                                  expires_at => now() - interval '1 hour')$q$,
    '22023', NULL,
    'assign_role refuses a past expiry for a team''s organization role');
UPDATE tenancy.role_assignments SET expires_at = now() - interval '1 second'
WHERE team_id = pg_temp.id('ops-admins') AND tenant_id IS NULL;
SELECT ok(NOT tenancy.has_permission(pg_temp.id('exp-orgadmin'), pg_temp.id('staging'), 'pipeline:delete'),
          'once the team''s organization admin has expired, its members lose tenant admin');
SELECT is(tenancy.permissions(pg_temp.id('exp-orgadmin'), pg_temp.id('prod'))::text, '{}',
          'a member of a team whose organization admin expired has the empty set');

SELECT ok(tenancy.has_permission(pg_temp.id('temp-admin'), pg_temp.id('prod'), 'pipeline:delete'),
          'an organization admin membership that expires in an hour counts now');
UPDATE tenancy.memberships SET expires_at = now() - interval '1 second'
WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('temp-admin');
SELECT is(tenancy.permissions(pg_temp.id('temp-admin'), pg_temp.id('prod'))::text, '{}',
          'once an organization admin membership has expired, it gives nothing');

-- Deactivation ------------------------------------------------------------------------

SELECT ok(tenancy.has_permission(pg_temp.id('alice'), pg_temp.id('prod'), 'pipeline:create')
          AND tenancy.has_permission(pg_temp.id('alice'), pg_temp.id('staging'), 'pipeline:read'),
          'an active user holds their direct and team grants');
SELECT lives_ok($q$SELECT tenancy.deactivate_user(pg_temp.id('alice'))$q$,
                'a user can be deactivated');
SELECT is((SELECT active FROM tenancy.users WHERE id = pg_temp.id('alice')), false,
          'deactivate_user clears the active flag');
SELECT is(tenancy.permissions(pg_temp.id('alice'), pg_temp.id('prod'))::text, '{}',
          'a deactivated user has nothing through a direct assignment');
SELECT is(tenancy.permissions(pg_temp.id('alice'), pg_temp.id('staging'))::text, '{}',
          'a deactivated user has nothing through a team');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments WHERE user_id = pg_temp.id('alice'))
          + (SELECT count(*)::int FROM tenancy.team_members WHERE user_id = pg_temp.id('alice')), 2,
          'a deactivated user keeps their assignment and team membership');
SELECT lives_ok($q$SELECT tenancy.reactivate_user(pg_temp.id('alice'))$q$,
                'a deactivated user can be reactivated');
SELECT ok(tenancy.has_permission(pg_temp.id('alice'), pg_temp.id('prod'), 'pipeline:create'),
          'a reactivated user has their direct grant back');
SELECT ok(tenancy.has_permission(pg_temp.id('alice'), pg_temp.id('staging'), 'pipeline:read'),
          'a reactivated user has their team grant back');

SELECT is((SELECT kind FROM tenancy.users WHERE id = pg_temp.id('ci-bot')), 'service_account',
          'a service account is a user of kind service_account');
SELECT ok(tenancy.has_permission(pg_temp.id('ci-bot'), pg_temp.id('prod'), 'pipeline:delete'),
          'a service account holding tenant admin may delete a pipeline');
SELECT tenancy.deactivate_user(pg_temp.id('ci-bot')) IS NULL AS deactivated \gset
SELECT is(tenancy.permissions(pg_temp.id('ci-bot'), pg_temp.id('prod'))::text, '{}',
          'a deactivated service account has the empty set');
SELECT tenancy.reactivate_user(pg_temp.id('ci-bot')) IS NULL AS reactivated \gset
SELECT ok(tenancy.has_permission(pg_temp.id('ci-bot'), pg_temp.id('prod'), 'pipeline:delete'),
          'a reactivated service account has its grant back');

SELECT ok(tenancy.has_permission(pg_temp.id('vice'), pg_temp.id('staging'), 'pipeline:update'),
          'a second organization admin is tenant admin everywhere');
SELECT lives_ok($q$SELECT tenancy.deactivate_user(pg_temp.id('vice'))$q$,
                'an organization admin who is not the last one can be deactivated');
SELECT is(tenancy.permissions(pg_temp.id('vice'), pg_temp.id('staging'))::text, '{}',
          'a deactivated organization admin has the empty set');
SELECT tenancy.reactivate_user(pg_temp.id('vice')) IS NULL AS reactivated \gset

-- Removing a member ------------------------------------------------------------------

SELECT ok(tenancy.has_permission(pg_temp.id('dual'), pg_temp.id('prod'), 'pipeline:create')
          AND tenancy.has_permission(pg_temp.id('dual'), pg_temp.id('staging'), 'pipeline:read')
          AND tenancy.has_permission(pg_temp.id('dual'), pg_temp.id('globex prod'), 'pipeline:create'),
          'a member of two organizations holds grants in both');
SELECT lives_ok($q$SELECT tenancy.remove_member(pg_temp.id('acme'), pg_temp.id('dual'))$q$,
                'a member can be removed from one organization');
SELECT is((SELECT count(*)::int FROM tenancy.memberships
           WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('dual')), 0,
          'remove_member deletes the membership');
SELECT is((SELECT count(*)::int FROM tenancy.team_members
           WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('dual')), 0,
          'remove_member deletes the user''s team memberships in that organization');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments
           WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('dual')), 0,
          'remove_member deletes the user''s tenant assignments in that organization');
SELECT is((SELECT count(*)::int FROM tenancy.memberships
           WHERE org_id = pg_temp.id('globex') AND user_id = pg_temp.id('dual')), 1,
          'the membership in the other organization is kept');
SELECT is((SELECT count(*)::int FROM tenancy.team_members
           WHERE org_id = pg_temp.id('globex') AND user_id = pg_temp.id('dual')), 1,
          'the team membership in the other organization is kept');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments
           WHERE org_id = pg_temp.id('globex') AND user_id = pg_temp.id('dual')), 1,
          'the tenant assignment in the other organization is kept');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments WHERE team_id = pg_temp.id('data')), 1,
          'the team the user was in keeps its own assignment');
SELECT is(tenancy.permissions(pg_temp.id('dual'), pg_temp.id('prod'))::text, '{}',
          'a removed member has nothing left on a tenant assigned directly');
SELECT is(tenancy.permissions(pg_temp.id('dual'), pg_temp.id('staging'))::text, '{}',
          'a removed member has nothing left through their former team');
SELECT is(tenancy.permissions(pg_temp.id('dual'), pg_temp.id('globex prod'))::text,
          '{*:create,*:read,*:share}'::tenancy.permset::text,
          'the removed member keeps their grants in the other organization');
SELECT tenancy.add_member(pg_temp.id('acme'), pg_temp.id('dual')) IS NULL AS readded \gset
SELECT is(tenancy.permissions(pg_temp.id('dual'), pg_temp.id('staging'))::text, '{}',
          'adding the user back does not bring back the old team grant');
SELECT is(tenancy.permissions(pg_temp.id('dual'), pg_temp.id('prod'))::text, '{}',
          'adding the user back does not bring back the old tenant assignment');
SELECT throws_ok(
    $q$SELECT tenancy.remove_member(pg_temp.id('acme'), pg_temp.id('globex owner'))$q$,
    '23503', NULL,
    'removing a user who is not a member fails');
SELECT ok(tenancy.revoke_role('member', org => pg_temp.id('acme'), user_id => pg_temp.id('dual')),
          'revoking the organization role of a user reports that it was held');
SELECT is((SELECT count(*)::int FROM tenancy.memberships
           WHERE org_id = pg_temp.id('acme') AND user_id = pg_temp.id('dual')), 0,
          'revoking a user''s organization role ends their membership');

-- The last active admin ------------------------------------------------------------

DO $$
DECLARE
    solo uuid;
    u uuid;
BEGIN
    u := pg_temp.note('solo admin', tenancy.create_user('solo-admin@example.test'));
    solo := pg_temp.note('solo', tenancy.create_organization('solo', 'Solo', u));
    PERFORM pg_temp.note('solo prod', tenancy.create_tenant(solo, 'prod'));
    PERFORM tenancy.create_role(solo, 'auditor', 'organization', '{organization:read}');
    PERFORM pg_temp.member('solo', 'solo-member');
    PERFORM pg_temp.note('solo second', tenancy.create_user('solo-second@example.test'));
END
$$;

SELECT throws_ok($q$SELECT tenancy.remove_member(pg_temp.id('solo'), pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'remove_member refuses to remove the last active admin');
SELECT throws_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo admin'), 'manager')$q$,
                 '42501', NULL, 'set_member_role refuses to demote the last active admin to manager');
SELECT throws_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo admin'), 'auditor')$q$,
                 '42501', NULL, 'set_member_role refuses to demote the last active admin to a custom role');
SELECT throws_ok($q$SELECT tenancy.revoke_role('admin', org => pg_temp.id('solo'), user_id => pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'revoke_role refuses to take organization admin from the last active admin');
SELECT throws_ok($q$SELECT tenancy.assign_role('member', org => pg_temp.id('solo'), user_id => pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'assign_role refuses to replace the last active admin''s organization role');
SELECT throws_ok($q$SELECT tenancy.deactivate_user(pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'deactivate_user refuses to deactivate the last active admin');
SELECT throws_ok($q$SELECT tenancy.delete_user(pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'delete_user refuses to delete the last active admin');
SELECT throws_ok($q$DELETE FROM tenancy.memberships
                    WHERE org_id = pg_temp.id('solo') AND user_id = pg_temp.id('solo admin')$q$,
                 '42501', NULL, 'a plain DELETE of the last active admin''s membership fails');
SELECT throws_ok($q$UPDATE tenancy.memberships SET role_id = '00000000-0000-0000-0001-000000000004'
                    WHERE org_id = pg_temp.id('solo') AND user_id = pg_temp.id('solo admin')$q$,
                 '42501', NULL, 'a plain UPDATE demoting the last active admin fails');
SELECT throws_ok($q$UPDATE tenancy.memberships SET expires_at = now() - interval '1 second'
                    WHERE org_id = pg_temp.id('solo') AND user_id = pg_temp.id('solo admin')$q$,
                 '42501', NULL, 'a plain UPDATE expiring the last active admin fails');
SELECT throws_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo admin'), 'admin',
                                                   now() + interval '1 year')$q$,
                 '42501', NULL, 'set_member_role refuses to give the last active admin an expiry');
SELECT throws_ok($q$UPDATE tenancy.users SET active = false WHERE id = pg_temp.id('solo admin')$q$,
                 '42501', NULL, 'a plain UPDATE deactivating the last active admin fails');
SELECT throws_ok($q$DELETE FROM tenancy.users WHERE id = pg_temp.id('solo admin')$q$,
                 '42501', NULL, 'a plain DELETE of the last active admin''s user fails');
SELECT is(tenancy.permissions(pg_temp.id('solo admin'), pg_temp.id('solo prod'))::text, '{*:*}',
          'after every refused attempt the last admin is still an active admin');

SELECT tenancy.add_member(pg_temp.id('solo'), pg_temp.id('solo second'), 'admin') IS NULL AS added \gset
SELECT lives_ok($q$SELECT tenancy.deactivate_user(pg_temp.id('solo second'))$q$,
                'a second admin can be deactivated while the first is active');
SELECT throws_ok($q$SELECT tenancy.remove_member(pg_temp.id('solo'), pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'a deactivated second admin does not count as an active admin');
SELECT tenancy.reactivate_user(pg_temp.id('solo second')) IS NULL AS reactivated \gset
SELECT lives_ok($q$UPDATE tenancy.memberships SET expires_at = now() - interval '1 second'
                   WHERE org_id = pg_temp.id('solo') AND user_id = pg_temp.id('solo second')$q$,
                'a second admin''s membership can expire while the first is active');
SELECT throws_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo admin'), 'member')$q$,
                 '42501', NULL, 'an expired second admin does not count as an active admin');
SELECT lives_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo second'), 'admin',
                                                  now() + interval '1 day')$q$,
                'a second admin can be given a future expiry while the first is active');
SELECT throws_ok($q$SELECT tenancy.remove_member(pg_temp.id('solo'), pg_temp.id('solo admin'))$q$,
                 '42501', NULL, 'a second admin whose membership expires later does not count as an active admin');
UPDATE tenancy.memberships SET expires_at = NULL
WHERE org_id = pg_temp.id('solo') AND user_id = pg_temp.id('solo second');

SELECT lives_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo admin'), 'manager')$q$,
                'with a second active admin, the first can be demoted');
SELECT is((SELECT r.name FROM tenancy.memberships m JOIN tenancy.roles r ON r.id = m.role_id
           WHERE m.org_id = pg_temp.id('solo') AND m.user_id = pg_temp.id('solo admin')), 'manager',
          'the demoted admin is now a manager');
SELECT lives_ok($q$SELECT tenancy.set_member_role(pg_temp.id('solo'), pg_temp.id('solo admin'), 'admin')$q$,
                'a manager can be promoted back to admin');
SELECT lives_ok($q$SELECT tenancy.deactivate_user(pg_temp.id('solo admin'))$q$,
                'with a second active admin, the first can be deactivated');
SELECT tenancy.reactivate_user(pg_temp.id('solo admin')) IS NULL AS reactivated \gset
SELECT lives_ok($q$SELECT tenancy.remove_member(pg_temp.id('solo'), pg_temp.id('solo admin'))$q$,
                'with a second active admin, the first can be removed');
SELECT throws_ok($q$SELECT tenancy.delete_user(pg_temp.id('solo second'))$q$,
                 '42501', NULL, 'the remaining admin is now the last one and cannot be deleted');
SELECT lives_ok($q$UPDATE tenancy.memberships
                   SET role_id = CASE WHEN user_id = pg_temp.id('solo second')
                                      THEN '00000000-0000-0000-0001-000000000004'::uuid
                                      ELSE '00000000-0000-0000-0001-000000000001'::uuid END
                   WHERE org_id = pg_temp.id('solo')
                     AND user_id IN (pg_temp.id('solo second'), pg_temp.id('solo-member'))$q$,
                'one statement that hands organization admin to another member succeeds');
SELECT is((SELECT array_agg(m.user_id) FROM tenancy.memberships m
           WHERE m.org_id = pg_temp.id('solo') AND m.role_id = '00000000-0000-0000-0001-000000000001'),
          ARRAY[pg_temp.id('solo-member')],
          'after the hand-over the other member is the only admin');
SELECT lives_ok($q$SELECT tenancy.delete_user(pg_temp.id('solo second'))$q$,
                'a former admin can be deleted');
SELECT lives_ok($q$SELECT tenancy.delete_organization(pg_temp.id('solo'))$q$,
                'an organization can be deleted together with its last admin''s membership');
SELECT is((SELECT count(*)::int FROM tenancy.memberships WHERE org_id = pg_temp.id('solo')), 0,
          'deleting the organization removed its memberships');
SELECT is((SELECT count(*)::int FROM tenancy.users WHERE id = pg_temp.id('solo-member')), 1,
          'the former admin''s user survives the organization');

-- Only admins without an expiry count as active admins (README, "Integrity the
-- database enforces").  In an organization whose only admin's membership
-- expires, there is no active admin to protect: that admin can be removed,
-- and so can be deactivated.
DO $$
DECLARE
    lapsing uuid := tenancy.create_organization('lapsing');
    u uuid := tenancy.create_user('lapsing-admin@example.test');
BEGIN
    PERFORM pg_temp.note('lapsing', lapsing);
    PERFORM pg_temp.note('lapsing admin', u);
    PERFORM tenancy.add_member(lapsing, u, 'admin', now() + interval '1 day');
END
$$;
SELECT lives_ok($q$SELECT tenancy.deactivate_user(pg_temp.id('lapsing admin'))$q$,
                'an admin whose membership expires, in an organization with no other admin, can be deactivated');
SELECT tenancy.reactivate_user(pg_temp.id('lapsing admin')) IS NULL AS reactivated \gset
SELECT lives_ok($q$SELECT tenancy.remove_member(pg_temp.id('lapsing'), pg_temp.id('lapsing admin'))$q$,
                'an admin whose membership expires, in an organization with no other admin, can be removed');

-- Deletion cascades ---------------------------------------------------------------------

DO $$
DECLARE
    doomed uuid;
    u uuid;
    inv uuid;
BEGIN
    u := pg_temp.note('doomed owner', tenancy.create_user('doomed-owner@example.test'));
    doomed := pg_temp.note('doomed', tenancy.create_organization('doomed', 'Doomed', u));
    PERFORM pg_temp.note('d1', tenancy.create_tenant(doomed, 'd1'));
    PERFORM pg_temp.note('d2', tenancy.create_tenant(doomed, 'd2'));
    PERFORM pg_temp.note('ops', tenancy.create_role(doomed, 'ops', 'tenant',
                                                   '{pipeline:read,pipeline:update}'));
    PERFORM pg_temp.note('auditor', tenancy.create_role(doomed, 'auditor', 'organization',
                                                       '{organization:read,tenant:read}'));
    PERFORM pg_temp.note('dteam', tenancy.create_team(doomed, 'dteam'));
    PERFORM pg_temp.note('dteam2', tenancy.create_team(doomed, 'dteam2'));

    u := pg_temp.member('doomed', 'dx');
    PERFORM tenancy.add_team_member(pg_temp.id('dteam'), u);
    PERFORM tenancy.assign_role('editor', tenant => pg_temp.id('d1'), user_id => u);
    PERFORM tenancy.assign_role('ops', tenant => pg_temp.id('d2'), user_id => u);
    u := pg_temp.member('doomed', 'dy', 'auditor');
    PERFORM tenancy.add_team_member(pg_temp.id('dteam'), u);
    PERFORM tenancy.add_team_member(pg_temp.id('dteam2'), u);
    PERFORM tenancy.assign_role('viewer', tenant => pg_temp.id('d1'), team_id => pg_temp.id('dteam'));
    PERFORM tenancy.assign_role('ops', tenant => pg_temp.id('d2'), team_id => pg_temp.id('dteam'));
    PERFORM tenancy.assign_role('auditor', org => doomed, team_id => pg_temp.id('dteam2'));

    INSERT INTO tenancy.invitations (org_id, email, role_id, token_hash, expires_at)
    VALUES (doomed, 'invitee@example.test', pg_temp.id('auditor'), '\x01'::bytea,
            now() + interval '7 days')
    RETURNING id INTO inv;
    PERFORM pg_temp.note('invitation', inv);
    INSERT INTO tenancy.invitation_tenant_roles (invitation_id, org_id, tenant_id, role_id)
    VALUES (inv, doomed, pg_temp.id('d1'), '00000000-0000-0000-0002-000000000002'),
           (inv, doomed, pg_temp.id('d2'), pg_temp.id('ops'));
    INSERT INTO tenancy.invitation_teams (invitation_id, org_id, team_id)
    VALUES (inv, doomed, pg_temp.id('dteam'));
END
$$;

-- Grants that point nowhere, in every table that holds one.
CREATE FUNCTION pg_temp.dangling() RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM tenancy.role_assignments a
            WHERE NOT EXISTS (SELECT 1 FROM tenancy.roles r WHERE r.id = a.role_id)
               OR NOT EXISTS (SELECT 1 FROM tenancy.organizations o WHERE o.id = a.org_id)
               OR (a.tenant_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenancy.tenants t WHERE t.id = a.tenant_id))
               OR (a.team_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenancy.teams t WHERE t.id = a.team_id))
               OR (a.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenancy.memberships m
                                                         WHERE m.org_id = a.org_id AND m.user_id = a.user_id)))::int
         + (SELECT count(*) FROM tenancy.team_members tm
            WHERE NOT EXISTS (SELECT 1 FROM tenancy.teams t WHERE t.id = tm.team_id)
               OR NOT EXISTS (SELECT 1 FROM tenancy.memberships m
                              WHERE m.org_id = tm.org_id AND m.user_id = tm.user_id))::int
         + (SELECT count(*) FROM tenancy.memberships m
            WHERE NOT EXISTS (SELECT 1 FROM tenancy.roles r WHERE r.id = m.role_id)
               OR NOT EXISTS (SELECT 1 FROM tenancy.users u WHERE u.id = m.user_id)
               OR NOT EXISTS (SELECT 1 FROM tenancy.organizations o WHERE o.id = m.org_id))::int
         + (SELECT count(*) FROM tenancy.invitation_tenant_roles i
            WHERE NOT EXISTS (SELECT 1 FROM tenancy.roles r WHERE r.id = i.role_id)
               OR NOT EXISTS (SELECT 1 FROM tenancy.tenants t WHERE t.id = i.tenant_id))::int
         + (SELECT count(*) FROM tenancy.invitation_teams i
            WHERE NOT EXISTS (SELECT 1 FROM tenancy.teams t WHERE t.id = i.team_id))::int
         + (SELECT count(*) FROM tenancy.invitations i
            WHERE NOT EXISTS (SELECT 1 FROM tenancy.roles r WHERE r.id = i.role_id))::int
$$;

SELECT ok(tenancy.has_permission(pg_temp.id('dx'), pg_temp.id('d1'), 'pipeline:create')
          AND tenancy.has_permission(pg_temp.id('dy'), pg_temp.id('d2'), 'pipeline:update'),
          'before the deletions the grants of the doomed organization hold');

SELECT lives_ok($q$SELECT tenancy.delete_tenant(pg_temp.id('d1'))$q$, 'a tenant can be deleted');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments WHERE tenant_id = pg_temp.id('d1')), 0,
          'deleting a tenant deletes every assignment on it');
SELECT is((SELECT count(*)::int FROM tenancy.invitation_tenant_roles WHERE tenant_id = pg_temp.id('d1')), 0,
          'deleting a tenant deletes the invitations'' roles on it');
SELECT is(tenancy.permissions(pg_temp.id('dx'), pg_temp.id('d2'))::text,
          '{pipeline:read,pipeline:update}'::tenancy.permset::text,
          'deleting a tenant leaves the grants on other tenants alone');
SELECT is(pg_temp.dangling(), 0, 'after deleting a tenant no grant points nowhere');

SELECT lives_ok($q$SELECT tenancy.delete_team(pg_temp.id('dteam'))$q$, 'a team can be deleted');
SELECT is((SELECT count(*)::int FROM tenancy.team_members WHERE team_id = pg_temp.id('dteam')), 0,
          'deleting a team deletes its memberships');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments WHERE team_id = pg_temp.id('dteam')), 0,
          'deleting a team deletes its assignments');
SELECT is((SELECT count(*)::int FROM tenancy.invitation_teams WHERE team_id = pg_temp.id('dteam')), 0,
          'deleting a team deletes the invitations to it');
SELECT ok(NOT tenancy.has_permission(pg_temp.id('dy'), pg_temp.id('d2'), 'pipeline:read'),
          'a member who held a role only through the deleted team loses it');
SELECT ok(tenancy.has_permission(pg_temp.id('dx'), pg_temp.id('d2'), 'pipeline:update'),
          'a member who also held the role directly keeps it');
SELECT is(pg_temp.dangling(), 0, 'after deleting a team no grant points nowhere');

SELECT lives_ok($q$SELECT tenancy.drop_role(pg_temp.id('ops'))$q$, 'a custom tenant role can be dropped');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments WHERE role_id = pg_temp.id('ops')), 0,
          'dropping a tenant role deletes its assignments');
SELECT is((SELECT count(*)::int FROM tenancy.invitation_tenant_roles WHERE role_id = pg_temp.id('ops')), 0,
          'dropping a tenant role deletes the invitations'' grants of it');
SELECT is(tenancy.permissions(pg_temp.id('dx'), pg_temp.id('d2'))::text, '{}',
          'a member whose only role on a tenant was dropped has nothing left there');

SELECT lives_ok($q$SELECT tenancy.drop_role(pg_temp.id('auditor'))$q$, 'a custom organization role can be dropped');
SELECT is((SELECT r.name || '/' || r.scope || '/' || coalesce(r.org_id::text, 'built-in')
           FROM tenancy.memberships m JOIN tenancy.roles r ON r.id = m.role_id
           WHERE m.org_id = pg_temp.id('doomed') AND m.user_id = pg_temp.id('dy')),
          'member/organization/built-in',
          'a member who held the dropped organization role falls back to the built-in member');
SELECT is((SELECT count(*)::int FROM tenancy.role_assignments WHERE role_id = pg_temp.id('auditor')), 0,
          'dropping an organization role deletes the teams'' assignments of it');
SELECT is((SELECT role_id FROM tenancy.invitations WHERE id = pg_temp.id('invitation')),
          '00000000-0000-0000-0001-000000000004'::uuid,
          'an invitation carrying the dropped organization role falls back to member');
SELECT is(pg_temp.dangling(), 0, 'after dropping roles no grant points nowhere');

SELECT lives_ok($q$SELECT tenancy.delete_organization(pg_temp.id('doomed'))$q$,
                'an organization can be deleted');
SELECT is((SELECT count(*)::int FROM tenancy.tenants WHERE org_id = pg_temp.id('doomed'))
          + (SELECT count(*)::int FROM tenancy.teams WHERE org_id = pg_temp.id('doomed'))
          + (SELECT count(*)::int FROM tenancy.roles WHERE org_id = pg_temp.id('doomed')), 0,
          'deleting an organization deletes its tenants, teams and custom roles');
SELECT is((SELECT count(*)::int FROM tenancy.memberships WHERE org_id = pg_temp.id('doomed'))
          + (SELECT count(*)::int FROM tenancy.team_members WHERE org_id = pg_temp.id('doomed'))
          + (SELECT count(*)::int FROM tenancy.role_assignments WHERE org_id = pg_temp.id('doomed')), 0,
          'deleting an organization deletes its memberships, team memberships and assignments');
SELECT is((SELECT count(*)::int FROM tenancy.invitations WHERE org_id = pg_temp.id('doomed')), 0,
          'deleting an organization deletes its invitations');
SELECT is(pg_temp.dangling(), 0, 'after deleting an organization no grant points nowhere');
SELECT is((SELECT count(*)::int FROM tenancy.users WHERE id IN (pg_temp.id('dx'), pg_temp.id('dy'), pg_temp.id('doomed owner'))), 3,
          'the users of a deleted organization survive it');
SELECT ok(tenancy.has_permission(pg_temp.id('alice'), pg_temp.id('prod'), 'pipeline:create'),
          'deleting one organization leaves another organization''s grants alone');

SELECT * FROM finish();
ROLLBACK;
