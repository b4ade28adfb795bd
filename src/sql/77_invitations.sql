-- ---------------------------------------------------------------------------
-- Invitations: an e-mail address invited to an organization with an
-- organization role, and optionally tenant roles and team memberships.
--
-- The token is 256 random bits (tenancy._new_token, from the server's strong
-- random source), returned once by invite(); only its SHA-256 is stored.
-- accept_invitation() is for a user whose e-mail address is the invited one
-- (the context user, or the user named, who is usually not a member of
-- anything yet and so cannot have a context): it makes them a member and
-- hands over every role and team the invitation carries, in one
-- transaction, or fails and changes nothing.  The token is the capability:
-- whoever holds it can only ever give the invitee what they were offered.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tenancy._new_token() RETURNS text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'tenancy_new_token';

CREATE FUNCTION tenancy._token_hash(token text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
RETURN pg_catalog.sha256(pg_catalog.convert_to(token, 'UTF8'));

CREATE FUNCTION tenancy.invite(org uuid, email text, role text DEFAULT 'member',
                               tenant_roles jsonb DEFAULT '[]',
                               teams uuid[] DEFAULT '{}',
                               expires_in interval DEFAULT '7 days',
                               OUT invitation_id uuid, OUT token text)
RETURNS record
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    o tenancy.organizations := tenancy._org(org);
    r tenancy.roles;
    tr jsonb;
    tenant_id uuid;
    team uuid;
BEGIN
    PERFORM tenancy._check_email(email);
    PERFORM tenancy._not_null(expires_in, 'expiry');
    IF expires_in <= interval '0' THEN
        RAISE EXCEPTION 'an invitation must expire in the future'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(coalesce(tenant_roles, '[]')) <> 'array' THEN
        RAISE EXCEPTION 'tenant roles must be a JSON array of {"tenant": ..., "role": ...}'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    r := tenancy._role(o.id, role, 'organization');
    token := tenancy._new_token();
    INSERT INTO tenancy.invitations (org_id, email, role_id, token_hash, invited_by, expires_at)
    VALUES (o.id, email, r.id, tenancy._token_hash(token), tenancy.current_user_id(),
            pg_catalog.now() + expires_in)
    RETURNING id INTO invitation_id;

    FOR tr IN SELECT * FROM jsonb_array_elements(coalesce(tenant_roles, '[]')) LOOP
        IF jsonb_typeof(tr) <> 'object' OR NOT tr ? 'tenant' OR NOT tr ? 'role' THEN
            RAISE EXCEPTION 'invalid tenant role %', tr
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Each tenant role is {"tenant": "<uuid>", "role": "<name>"}.';
        END IF;
        BEGIN
            tenant_id := (tr ->> 'tenant')::uuid;
        EXCEPTION WHEN invalid_text_representation THEN
            RAISE EXCEPTION 'invalid tenant id in %', tr USING ERRCODE = 'invalid_parameter_value';
        END;
        IF NOT EXISTS (SELECT 1 FROM tenancy.tenants t WHERE t.id = tenant_id AND t.org_id = o.id) THEN
            RAISE EXCEPTION 'tenant "%" is not a tenant of organization "%"', tenant_id, o.slug
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        r := tenancy._role(o.id, tr ->> 'role', 'tenant');
        INSERT INTO tenancy.invitation_tenant_roles (invitation_id, org_id, tenant_id, role_id)
        VALUES (invitation_id, o.id, tenant_id, r.id)
        ON CONFLICT DO NOTHING;
    END LOOP;

    FOREACH team IN ARRAY coalesce(teams, '{}') LOOP
        IF NOT EXISTS (SELECT 1 FROM tenancy.teams t WHERE t.id = team AND t.org_id = o.id) THEN
            RAISE EXCEPTION 'team "%" is not a team of organization "%"', team, o.slug
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        INSERT INTO tenancy.invitation_teams (invitation_id, org_id, team_id)
        VALUES (invitation_id, o.id, team)
        ON CONFLICT DO NOTHING;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tenancy.invite(uuid, text, text, jsonb, uuid[], interval) IS
    'Invites an e-mail address to an organization with an organization role, tenant roles ([{"tenant": ..., "role": ...}]) and teams; returns the invitation''s id and its token, which is not kept and cannot be shown again.';

CREATE FUNCTION tenancy.accept_invitation(token text, user_id uuid DEFAULT NULL) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    u tenancy.users;
    inv tenancy.invitations;
    ctx uuid := tenancy.current_user_id();
BEGIN
    PERFORM tenancy._not_null(token, 'token');
    IF user_id IS NULL THEN
        user_id := tenancy._acting_user();
    ELSIF ctx IS NOT NULL AND ctx <> user_id THEN
        RAISE EXCEPTION 'cannot accept an invitation for another user than the context''s'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Locked, so that two sessions cannot both accept it.
    SELECT * INTO inv FROM tenancy.invitations i
    WHERE i.token_hash = tenancy._token_hash(token)
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invitation token is not valid'
            USING ERRCODE = 'invalid_authorization_specification';
    END IF;
    IF inv.accepted_at IS NOT NULL THEN
        RAISE EXCEPTION 'invitation has already been accepted'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF inv.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'invitation has been revoked'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF inv.expires_at <= statement_timestamp() THEN
        RAISE EXCEPTION 'invitation expired at %', inv.expires_at
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- Only a valid token tells anything about users.
    SELECT * INTO u FROM tenancy.users WHERE id = user_id;
    IF NOT FOUND OR lower(u.email) <> lower(inv.email) THEN
        RAISE EXCEPTION 'invitation is for another e-mail address'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT u.active THEN
        RAISE EXCEPTION 'user "%" is deactivated', u.email
            USING ERRCODE = 'insufficient_privilege';
    END IF;

    -- A member keeps the organization role they have: accepting never
    -- demotes.  An expired membership is renewed, with the invited role.
    INSERT INTO tenancy.memberships AS m (org_id, user_id, role_id)
    VALUES (inv.org_id, u.id, inv.role_id)
    ON CONFLICT ON CONSTRAINT memberships_pkey DO UPDATE
        SET expires_at = NULL, role_id = EXCLUDED.role_id
        WHERE m.expires_at <= statement_timestamp();
    INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, user_id)
    SELECT inv.org_id, itr.role_id, itr.tenant_id, u.id
    FROM tenancy.invitation_tenant_roles itr WHERE itr.invitation_id = inv.id
    ON CONFLICT ON CONSTRAINT role_assignments_key DO NOTHING;
    INSERT INTO tenancy.team_members (team_id, org_id, user_id)
    SELECT it.team_id, inv.org_id, u.id
    FROM tenancy.invitation_teams it WHERE it.invitation_id = inv.id
    ON CONFLICT DO NOTHING;
    UPDATE tenancy.invitations SET accepted_at = statement_timestamp(), accepted_by = u.id
    WHERE id = inv.id;
    RETURN inv.org_id;
END
$$;
COMMENT ON FUNCTION tenancy.accept_invitation(text, uuid) IS
    'A user (the context user by default) accepts an invitation sent to their e-mail address: membership, tenant roles and teams, all at once; returns the organization.';

CREATE FUNCTION tenancy.revoke_invitation(invitation uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    inv tenancy.invitations;
BEGIN
    PERFORM tenancy._not_null(invitation, 'invitation');
    SELECT * INTO inv FROM tenancy.invitations WHERE id = invitation FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invitation "%" does not exist', invitation
            USING ERRCODE = 'undefined_object';
    END IF;
    IF inv.accepted_at IS NOT NULL THEN
        RAISE EXCEPTION 'invitation has already been accepted'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE tenancy.invitations SET revoked_at = coalesce(revoked_at, statement_timestamp())
    WHERE id = invitation;
END
$$;
COMMENT ON FUNCTION tenancy.revoke_invitation(uuid) IS
    'Withdraws a pending invitation; its token stops working at once.';

CREATE FUNCTION tenancy.expire_invitations(older_than interval DEFAULT '30 days') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM tenancy._not_null(older_than, 'interval');
    DELETE FROM tenancy.invitations
    WHERE accepted_at IS NULL
      AND least(expires_at, coalesce(revoked_at, 'infinity')) < statement_timestamp() - older_than;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION tenancy.expire_invitations(interval) IS
    'Housekeeping: deletes invitations that expired or were revoked more than the interval ago (they stopped working then); returns how many.  The audit log keeps their record.';
