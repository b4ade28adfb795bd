-- ---------------------------------------------------------------------------
-- Lookups: who can do what, and why.
--
-- tenants_with_permission() is the C lookup the policies use.  The others
-- are SQL over the same tables and the same rules as src/resolve.c (an
-- active user, an unexpired membership of the tenant's organization,
-- unexpired assignments, organization admin directly or through a team);
-- test/model checks that each returns exactly what the check functions
-- allow.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tenancy._user_tenants(user_id uuid, permission text) RETURNS uuid[]
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_user_tenants_array';

CREATE FUNCTION tenancy.tenants_with_permission(user_id uuid, permission text)
RETURNS SETOF uuid
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT t FROM pg_catalog.unnest(tenancy._user_tenants(user_id, permission)) AS t;
END;
COMMENT ON FUNCTION tenancy.tenants_with_permission(uuid, text) IS
    'The tenants where a user holds a permission (tenant-wide).';

-- A malformed or unregistered permission is an error, as in the checks.
CREATE FUNCTION tenancy._check_permission(permission text) RETURNS void
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_check_permission';

-- With signed contexts, only superusers and members of tenancy.admin_role
-- may ask about users other than the context's (NULL: about all users).
CREATE FUNCTION tenancy._check_may_ask_about(user_id uuid) RETURNS void
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_check_asker';

-- Every tenant-wide path that grants the permission on the tenant, one row
-- per path, for every user (or only user_id when given).
CREATE FUNCTION tenancy._grant_paths(tenant uuid, permission text, only_user uuid DEFAULT NULL)
RETURNS TABLE (user_id uuid, path text, role_id uuid, team_id uuid, expires_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH
    t AS (
        SELECT t.id, t.org_id FROM tenancy.tenants t WHERE t.id = _grant_paths.tenant
    ),
    -- Active users with an unexpired membership of the tenant's organization.
    members AS (
        SELECT m.user_id, m.role_id, m.expires_at, t.org_id
        FROM t
        JOIN tenancy.memberships m ON m.org_id = t.org_id
        JOIN tenancy.users u ON u.id = m.user_id
        WHERE u.active
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
          AND (_grant_paths.only_user IS NULL OR m.user_id = _grant_paths.only_user)
    ),
    member_teams AS (
        SELECT mb.user_id, tm.team_id, mb.expires_at AS member_expires_at
        FROM members mb
        JOIN tenancy.team_members tm ON tm.org_id = mb.org_id AND tm.user_id = mb.user_id
    ),
    live AS (
        SELECT ra.* FROM tenancy.role_assignments ra, t
        WHERE ra.org_id = t.org_id
          AND (ra.expires_at IS NULL OR ra.expires_at > statement_timestamp())
    )
    -- 1. Organization admin, held by the member ...
    SELECT mb.user_id, 'organization admin', mb.role_id, NULL::uuid, mb.expires_at
    FROM members mb
    WHERE mb.role_id = '00000000-0000-0000-0001-000000000001'
    UNION ALL
    -- ... or by one of their teams (an organization-scope assignment).
    SELECT mt.user_id, 'team organization admin', ra.role_id, ra.team_id,
           least(ra.expires_at, mt.member_expires_at)
    FROM member_teams mt
    JOIN live ra ON ra.team_id = mt.team_id AND ra.tenant_id IS NULL
    WHERE ra.role_id = '00000000-0000-0000-0001-000000000001'
    UNION ALL
    -- 2. A role assigned to the user on the tenant.
    SELECT mb.user_id, 'role', ra.role_id, NULL::uuid, least(ra.expires_at, mb.expires_at)
    FROM members mb
    JOIN live ra ON ra.user_id = mb.user_id AND ra.tenant_id = _grant_paths.tenant
    JOIN tenancy.roles r ON r.id = ra.role_id
    WHERE tenancy.allows(r.permissions, _grant_paths.permission)
    UNION ALL
    -- 3. A role assigned to one of the user's teams on the tenant.
    SELECT mt.user_id, 'team role', ra.role_id, ra.team_id,
           least(ra.expires_at, mt.member_expires_at)
    FROM member_teams mt
    JOIN live ra ON ra.team_id = mt.team_id AND ra.tenant_id = _grant_paths.tenant
    JOIN tenancy.roles r ON r.id = ra.role_id
    WHERE tenancy.allows(r.permissions, _grant_paths.permission)
$$;

CREATE FUNCTION tenancy.permission_holders(tenant uuid, permission text)
RETURNS TABLE (user_id uuid, via text, role text, team_id uuid, expires_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM tenancy._check_may_ask_about(NULL);
    PERFORM tenancy._check_permission(permission);
    RETURN QUERY
    SELECT p.user_id, p.path, r.name, p.team_id, p.expires_at
    FROM tenancy._grant_paths(permission_holders.tenant, permission_holders.permission) p
    JOIN tenancy.roles r ON r.id = p.role_id
    ORDER BY p.user_id, p.path, r.name, p.team_id;
END
$$;
COMMENT ON FUNCTION tenancy.permission_holders(uuid, text) IS
    'The users who hold a permission on a tenant, one row per way they hold it: organization admin (directly or through a team), a role of their own or a team''s role; with when that way expires.';

CREATE FUNCTION tenancy.shared_with(user_id uuid, resource_type text, action text DEFAULT NULL)
RETURNS TABLE (tenant_id uuid, resource_id text, actions text[], team_id uuid, shared_by uuid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT tenancy._check_may_ask_about(shared_with.user_id);
    WITH members AS (
        SELECT m.org_id, m.user_id
        FROM tenancy.memberships m
        JOIN tenancy.users u ON u.id = m.user_id
        WHERE m.user_id = shared_with.user_id AND u.active
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
    )
    SELECT s.tenant_id, s.resource_id, s.actions, s.team_id, s.shared_by
    FROM tenancy.shares s
    JOIN members mb ON mb.org_id = s.org_id
    WHERE s.resource_type = shared_with.resource_type
      -- Only shares made on the table that holds the type's resources.
      AND s.relid = (SELECT p.relid FROM tenancy.protected_tables p
                     WHERE p.resource_type = shared_with.resource_type
                       AND p.root IS NULL AND p.id_column IS NOT NULL)
      AND (s.user_id = mb.user_id
           OR s.team_id IN (SELECT tm.team_id FROM tenancy.team_members tm
                            WHERE tm.org_id = mb.org_id AND tm.user_id = mb.user_id))
      AND (shared_with.action IS NULL OR shared_with.action = ANY (s.actions))
    ORDER BY s.tenant_id, s.resource_id, s.team_id NULLS FIRST
$$;
COMMENT ON FUNCTION tenancy.shared_with(uuid, text, text) IS
    'The resources of a type shared with a user, directly (team_id NULL) or through a team, optionally only those shared for one action.';

CREATE FUNCTION tenancy.explain(user_id uuid, tenant uuid, permission text,
                                resource_id text DEFAULT NULL, owner_id uuid DEFAULT NULL)
RETURNS TABLE (path text, role text, team_id uuid, shared_resource text, expires_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rtype text := split_part(permission, ':', 1);
    act text := split_part(permission, ':', 2);
BEGIN
    PERFORM tenancy._check_may_ask_about(user_id);
    PERFORM tenancy._check_permission(permission);
    RETURN QUERY
    SELECT p.path, r.name, p.team_id, NULL::text, p.expires_at
    FROM tenancy._grant_paths(tenant, permission, user_id) p
    JOIN tenancy.roles r ON r.id = p.role_id
    ORDER BY 1, 2, 3;
    IF resource_id IS NULL THEN
        RETURN;
    END IF;
    -- The owner, while they hold any role in the tenant.
    IF owner_id = user_id AND NOT tenancy.permissions(user_id, tenant) OPERATOR(tenancy.=) '{}' THEN
        RETURN QUERY SELECT 'owner'::text, NULL::text, NULL::uuid, NULL::text, NULL::timestamptz;
    END IF;
    -- Shares, which grant concrete actions only.
    IF rtype <> '*' AND act <> '*' THEN
        RETURN QUERY
        SELECT CASE WHEN s.team_id IS NULL THEN 'share' ELSE 'team share' END,
               NULL::text, s.team_id, s.resource_id, NULL::timestamptz
        FROM tenancy.shared_with(user_id, rtype, act) s
        WHERE s.tenant_id = tenant AND s.resource_id = resource_id
        ORDER BY 1, 3;
    END IF;
END
$$;
COMMENT ON FUNCTION tenancy.explain(uuid, uuid, text, text, uuid) IS
    'Every path that grants a user a permission on a tenant (and, given a resource id and owner, on that resource): the role, to whom it is assigned, through which team or share, and when it expires.  No rows: nothing grants it.';
