-- ---------------------------------------------------------------------------
-- tenancy_ref: a plain-SQL reference implementation of tenant permissions
-- (SPEC section 4, points 1 to 3), written the way an application developer
-- would write it: joins over pg_tenancy's tables, no C.
--
-- It deliberately calls none of the extension's functions or operators
-- (tenancy.permissions, tenancy.has_permission, tenancy.allows, the permset
-- operators): a role's permission set is read through its text form,
-- e.g. '{*:read,pipeline:update}', and matched with string functions.
--
-- A user's permissions on a tenant are the union of
--   1. everything ('*:*') when the user holds the built-in organization role
--      "admin" in the tenant's organization (tenancy.memberships.role_id), or
--      one of their teams does (an organization-scope assignment in
--      tenancy.role_assignments, tenant_id IS NULL);
--   2. the permission sets of the roles assigned to the user on the tenant;
--   3. the permission sets of the roles assigned to the user's teams on the
--      tenant;
-- counting only grants that have not expired (expires_at IS NULL or
-- expires_at > statement_timestamp()), and only for an active user who is an
-- unexpired member of the tenant's organization.  Anything else: nothing.
--
-- A permission 'type:action' is granted when some granted pattern (t, a) has
-- (t = '*' or t = type) and (a = '*' or a = action).  The same test makes a
-- wildcard in the asked permission mean "all of": '*:read' is granted only by
-- '*:read' or '*:*', 'pipeline:*' only by 'pipeline:*' or '*:*'.
--
-- Used by test/model/model.sql as the oracle, and by benchmarks as the
-- "common practice" baseline.
-- ---------------------------------------------------------------------------

CREATE SCHEMA IF NOT EXISTS tenancy_ref;

-- Does the user hold the permission on the tenant?
CREATE OR REPLACE FUNCTION tenancy_ref.has_permission(user_id uuid, tenant uuid, permission text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    WITH
    -- The user's membership of the tenant's organization, if they are an
    -- active user and the membership has not expired.
    member AS (
        SELECT m.org_id, r.org_id IS NULL AND r.scope = 'organization'
                         AND r.name = 'admin' AS is_admin
        FROM tenancy.tenants t
        JOIN tenancy.memberships m ON m.org_id = t.org_id
                                  AND m.user_id = has_permission.user_id
        JOIN tenancy.users u       ON u.id = m.user_id
        JOIN tenancy.roles r       ON r.id = m.role_id
        WHERE t.id = has_permission.tenant
          AND u.active
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
    ),
    -- The user's teams in that organization.
    my_teams AS (
        SELECT tm.team_id
        FROM member
        JOIN tenancy.team_members tm ON tm.org_id = member.org_id
                                    AND tm.user_id = has_permission.user_id
    ),
    -- The text of every permission set that applies.
    granted_sets AS (
        -- 1. Organization admin, held by the user ...
        SELECT '{*:*}' AS perms
        FROM member
        WHERE member.is_admin
        UNION ALL
        -- ... or by one of their teams.
        SELECT '{*:*}'
        FROM tenancy.role_assignments ra
        JOIN my_teams   ON my_teams.team_id = ra.team_id
        JOIN tenancy.roles r ON r.id = ra.role_id
        WHERE ra.tenant_id IS NULL
          AND r.org_id IS NULL AND r.scope = 'organization' AND r.name = 'admin'
          AND (ra.expires_at IS NULL OR ra.expires_at > statement_timestamp())
        UNION ALL
        -- 2. and 3. Roles assigned on the tenant to the user or their teams.
        SELECT r.permissions::text
        FROM member
        JOIN tenancy.role_assignments ra ON ra.tenant_id = has_permission.tenant
        JOIN tenancy.roles r ON r.id = ra.role_id
        WHERE (ra.user_id = has_permission.user_id
               OR ra.team_id IN (SELECT team_id FROM my_teams))
          AND (ra.expires_at IS NULL OR ra.expires_at > statement_timestamp())
    ),
    -- One row per granted pattern 'type:action'.
    patterns AS (
        SELECT p.pattern
        FROM granted_sets g
        CROSS JOIN LATERAL unnest(string_to_array(btrim(g.perms, '{}'), ',')) AS p(pattern)
    )
    SELECT EXISTS (
        SELECT 1
        FROM patterns
        WHERE split_part(pattern, ':', 1) IN ('*', split_part(has_permission.permission, ':', 1))
          AND split_part(pattern, ':', 2) IN ('*', split_part(has_permission.permission, ':', 2))
    )
$$;

COMMENT ON FUNCTION tenancy_ref.has_permission(uuid, uuid, text) IS
    'Reference (plain SQL) answer to: does the user hold "type:action" on the tenant?';

-- The granted patterns themselves, distinct and sorted; '{*:*}' for an
-- organization admin, '{}' for nothing.  (Not reduced: a pattern that another
-- one covers, like 'pipeline:read' beside '*:read', is listed too.)
CREATE OR REPLACE FUNCTION tenancy_ref.permissions(user_id uuid, tenant uuid)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    WITH
    member AS (
        SELECT m.org_id, r.org_id IS NULL AND r.scope = 'organization'
                         AND r.name = 'admin' AS is_admin
        FROM tenancy.tenants t
        JOIN tenancy.memberships m ON m.org_id = t.org_id
                                  AND m.user_id = permissions.user_id
        JOIN tenancy.users u       ON u.id = m.user_id
        JOIN tenancy.roles r       ON r.id = m.role_id
        WHERE t.id = permissions.tenant
          AND u.active
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
    ),
    my_teams AS (
        SELECT tm.team_id
        FROM member
        JOIN tenancy.team_members tm ON tm.org_id = member.org_id
                                    AND tm.user_id = permissions.user_id
    ),
    granted_sets AS (
        SELECT '{*:*}' AS perms
        FROM member
        WHERE member.is_admin
        UNION ALL
        SELECT '{*:*}'
        FROM tenancy.role_assignments ra
        JOIN my_teams   ON my_teams.team_id = ra.team_id
        JOIN tenancy.roles r ON r.id = ra.role_id
        WHERE ra.tenant_id IS NULL
          AND r.org_id IS NULL AND r.scope = 'organization' AND r.name = 'admin'
          AND (ra.expires_at IS NULL OR ra.expires_at > statement_timestamp())
        UNION ALL
        SELECT r.permissions::text
        FROM member
        JOIN tenancy.role_assignments ra ON ra.tenant_id = permissions.tenant
        JOIN tenancy.roles r ON r.id = ra.role_id
        WHERE (ra.user_id = permissions.user_id
               OR ra.team_id IN (SELECT team_id FROM my_teams))
          AND (ra.expires_at IS NULL OR ra.expires_at > statement_timestamp())
    ),
    patterns AS (
        SELECT DISTINCT p.pattern
        FROM granted_sets g
        CROSS JOIN LATERAL unnest(string_to_array(btrim(g.perms, '{}'), ',')) AS p(pattern)
    )
    SELECT coalesce(array_agg(pattern ORDER BY pattern COLLATE "C"), '{}')
    FROM patterns
$$;

COMMENT ON FUNCTION tenancy_ref.permissions(uuid, uuid) IS
    'Reference (plain SQL) list of the patterns a user is granted on a tenant.';

-- ---------------------------------------------------------------------------
-- One resource (SPEC section 4, "On one resource"): besides the tenant-wide
-- permission, the owner may do anything while they hold any permission in
-- the tenant, and a share grants its actions on that resource to its user,
-- or to every member of its team, while they are an active, unexpired
-- member of the share's organization.  A share grants concrete actions: an
-- asked permission with a "*" is never granted by one.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION tenancy_ref.shared(user_id uuid, tenant uuid, resource_type text,
                                              action text, resource_id text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT shared.action <> '*' AND shared.resource_type <> '*' AND EXISTS (
        SELECT 1
        FROM tenancy.shares s
        JOIN tenancy.memberships m ON m.org_id = s.org_id AND m.user_id = shared.user_id
        JOIN tenancy.users u ON u.id = m.user_id
        WHERE u.active
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
          AND s.tenant_id = shared.tenant
          AND s.resource_type = shared.resource_type
          -- A share counts only on the table it was made on: the one that
          -- holds the type's resources.
          AND s.relid = (SELECT p.relid FROM tenancy.protected_tables p
                         WHERE p.resource_type = shared.resource_type
                           AND p.root IS NULL AND p.id_column IS NOT NULL)
          AND s.resource_id = shared.resource_id
          AND shared.action = ANY (s.actions)
          AND (s.user_id = shared.user_id
               OR s.team_id IN (SELECT tm.team_id FROM tenancy.team_members tm
                                WHERE tm.org_id = s.org_id AND tm.user_id = shared.user_id)))
$$;

-- Does the user hold any share in the tenant (which makes it visible)?
CREATE OR REPLACE FUNCTION tenancy_ref.has_share_in(user_id uuid, tenant uuid)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM tenancy.shares s
        JOIN tenancy.memberships m ON m.org_id = s.org_id AND m.user_id = has_share_in.user_id
        JOIN tenancy.users u ON u.id = m.user_id
        WHERE u.active
          AND (m.expires_at IS NULL OR m.expires_at > statement_timestamp())
          AND s.tenant_id = has_share_in.tenant
          AND (s.user_id = has_share_in.user_id
               OR s.team_id IN (SELECT tm.team_id FROM tenancy.team_members tm
                                WHERE tm.org_id = s.org_id AND tm.user_id = has_share_in.user_id)))
$$;

CREATE OR REPLACE FUNCTION tenancy_ref.has_resource_permission(user_id uuid, tenant uuid,
                                                               permission text,
                                                               resource_id text, owner_id uuid)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT tenancy_ref.has_permission(user_id, tenant, permission)
        OR coalesce(owner_id = user_id
                    AND cardinality(tenancy_ref.permissions(user_id, tenant)) > 0, false)
        OR coalesce(tenancy_ref.shared(user_id, tenant, split_part(permission, ':', 1),
                                       split_part(permission, ':', 2), resource_id), false)
$$;

COMMENT ON FUNCTION tenancy_ref.has_resource_permission(uuid, uuid, text, text, uuid) IS
    'Reference (plain SQL) answer to: may the user act on this resource (tenant-wide, as owner, or by a share)?';
