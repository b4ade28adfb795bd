--
-- Invitations: the token is shown once and only its hash is kept; accepting
-- hands everything over in one transaction; a used, expired, revoked or
-- mismatched invitation is refused and changes nothing.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse

SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('Nina@Acme.Test') AS nina \gset
SELECT tenancy.create_user('oscar@acme.test') AS oscar \gset
SELECT tenancy.create_organization('acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('globex', admin => :'alice') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'dev') AS dev \gset
SELECT tenancy.create_tenant(:'globex', 'main') AS main \gset
SELECT tenancy.create_team(:'acme', 'ops') AS ops \gset
SELECT tenancy.register_resource_type('doc');

-- What a user holds in acme, in one line.
CREATE FUNCTION holdings(u uuid) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce((SELECT r.name FROM tenancy.memberships m JOIN tenancy.roles r ON r.id = m.role_id
                     WHERE m.user_id = u AND m.org_id = (SELECT id FROM tenancy.organizations WHERE slug = 'acme')),
                    'not a member')
        || '; tenants: ' || coalesce((SELECT string_agg(t.slug || '=' || r.name, ',' ORDER BY t.slug, r.name)
                                      FROM tenancy.role_assignments ra
                                      JOIN tenancy.tenants t ON t.id = ra.tenant_id
                                      JOIN tenancy.roles r ON r.id = ra.role_id
                                      WHERE ra.user_id = u), '-')
        || '; teams: ' || coalesce((SELECT string_agg(tm.name, ',') FROM tenancy.team_members x
                                    JOIN tenancy.teams tm ON tm.id = x.team_id WHERE x.user_id = u), '-')
$$;
CREATE FUNCTION try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    -- Ids and times change from run to run.
    RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM,
        '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'),
        'expired at .*', 'expired at <time>');
END
$$;

--
-- Inviting.
--
SELECT * FROM tenancy.invite(:'acme', 'nina@acme.test', 'manager',
    tenant_roles => jsonb_build_array(jsonb_build_object('tenant', :'prod', 'role', 'editor'),
                                      jsonb_build_object('tenant', :'dev', 'role', 'viewer')),
    teams => ARRAY[:'ops'::uuid]) \gset nina_
SELECT length(:'nina_token') AS token_length, :'nina_token' ~ '^[A-Za-z0-9_-]+$' AS base64url;
-- Only the hash is kept, and the default expiry is seven days.
SELECT i.token_hash = sha256(convert_to(:'nina_token', 'UTF8')) AS hash_kept,
       position(convert_to(:'nina_token', 'UTF8') IN i.token_hash) = 0 AS token_not_kept,
       i.expires_at - i.created_at AS expires_in
FROM tenancy.invitations i WHERE i.id = :'nina_invitation_id';
SELECT count(*) AS tenant_roles FROM tenancy.invitation_tenant_roles WHERE invitation_id = :'nina_invitation_id';
SELECT count(*) AS teams FROM tenancy.invitation_teams WHERE invitation_id = :'nina_invitation_id';
-- Two invitations never share a token.
SELECT count(DISTINCT token) AS distinct_tokens
FROM (SELECT (tenancy.invite(:'acme', 'x' || g || '@acme.test')).token FROM generate_series(1, 20) g) x;

-- Bad input is refused with nothing written.
SELECT count(*) AS invitations_before FROM tenancy.invitations;
SELECT try(format('SELECT tenancy.invite(%L, ''not an address'')', :'acme')) AS bad_email;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', expires_in => ''-1 day'')', :'acme')) AS past_expiry;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', ''owner'')', :'acme')) AS unknown_role;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', ''editor'')', :'acme')) AS tenant_role_for_org;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', tenant_roles => %L)', :'acme',
                  jsonb_build_array(jsonb_build_object('tenant', :'main', 'role', 'viewer')))) AS tenant_of_other_org;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', tenant_roles => ''[{"tenant": "x", "role": "viewer"}]'')', :'acme')) AS bad_tenant_id;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', tenant_roles => ''{"tenant": 1}'')', :'acme')) AS not_an_array;
SELECT try(format('SELECT tenancy.invite(%L, ''a@b.c'', teams => ARRAY[%L]::uuid[])', :'globex', :'ops')) AS team_of_other_org;
SELECT try('SELECT tenancy.invite(gen_random_uuid(), ''a@b.c'')') AS unknown_org;
SELECT count(*) AS invitations_after FROM tenancy.invitations;

--
-- Accepting.
--
-- Someone else's address, an unknown token, no user: refused, nothing changes.
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', :'nina_token', :'oscar')) AS wrong_user;
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', 'not-a-token', :'nina')) AS unknown_token;
SELECT try(format('SELECT tenancy.accept_invitation(%L)', :'nina_token')) AS nobody;
SELECT try(format('SELECT tenancy.accept_invitation(%L, gen_random_uuid())', :'nina_token')) AS unknown_user;
SELECT holdings(:'nina') AS nina_before, holdings(:'oscar') AS oscar_before;
-- A deactivated invitee cannot accept.
SELECT tenancy.deactivate_user(:'nina');
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', :'nina_token', :'nina')) AS deactivated;
SELECT tenancy.reactivate_user(:'nina');
-- The right user (e-mail compared case-insensitively): everything at once.
SELECT tenancy.accept_invitation(:'nina_token', :'nina') = :'acme' AS accepted;
SELECT holdings(:'nina') AS nina_after;
SELECT accepted_at IS NOT NULL AS accepted, accepted_by = :'nina' AS by_nina
FROM tenancy.invitations WHERE id = :'nina_invitation_id';
SELECT tenancy.has_permission(:'nina', :'prod', 'doc:create') AS nina_creates_in_prod;
-- Used once, never again.
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', :'nina_token', :'nina')) AS used_again;

-- Accepting as the context user; a context cannot accept for someone else.
SELECT * FROM tenancy.invite(:'acme', 'nina@acme.test', 'member',
    tenant_roles => jsonb_build_array(jsonb_build_object('tenant', :'dev', 'role', 'editor'))) \gset second_
BEGIN;
SELECT tenancy.set_context(:'alice');
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', :'second_token', :'nina')) AS for_someone_else;
ROLLBACK;
BEGIN;
SELECT tenancy.set_context(:'nina');
-- An existing member keeps their organization role: accepting never demotes.
SELECT tenancy.accept_invitation(:'second_token') = :'acme' AS accepted_in_context;
COMMIT;
SELECT holdings(:'nina') AS nina_now;

-- Expired and revoked invitations are refused, and change nothing.
SELECT * FROM tenancy.invite(:'acme', 'oscar@acme.test', expires_in => '1 hour') \gset oscar_
UPDATE tenancy.invitations SET expires_at = now() - interval '1 second' WHERE id = :'oscar_invitation_id';
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', :'oscar_token', :'oscar')) AS expired;
SELECT * FROM tenancy.invite(:'acme', 'oscar@acme.test') \gset oscar2_
SELECT tenancy.revoke_invitation(:'oscar2_invitation_id');
SELECT try(format('SELECT tenancy.accept_invitation(%L, %L)', :'oscar2_token', :'oscar')) AS revoked;
SELECT try(format('SELECT tenancy.revoke_invitation(%L)', :'nina_invitation_id')) AS revoke_accepted;
SELECT try('SELECT tenancy.revoke_invitation(gen_random_uuid())') AS revoke_unknown;
SELECT holdings(:'oscar') AS oscar_after;

-- Housekeeping deletes what stopped working long enough ago.
SELECT tenancy.expire_invitations('1 day') AS deleted_after_a_day;
SELECT tenancy.expire_invitations('0 seconds') AS deleted_now;

-- An ordinary role may accept (the token is the capability) but not invite.
CREATE ROLE regress_app_user;
SELECT * FROM tenancy.invite(:'acme', 'oscar@acme.test') \gset oscar3_
SET ROLE regress_app_user;
SELECT try(format('SELECT tenancy.invite(%L, ''eve@evil.test'', ''admin'')', :'acme')) AS app_invites;
SELECT try('SELECT * FROM tenancy.invitations') AS app_reads_invitations;
SELECT tenancy.accept_invitation(:'oscar3_token', :'oscar') = :'acme' AS app_accepts_for_oscar;
RESET ROLE;
SELECT holdings(:'oscar') AS oscar_finally;

DROP ROLE regress_app_user;
DROP FUNCTION holdings(uuid);
DROP FUNCTION try(text);
DROP EXTENSION pg_tenancy;
