-- ---------------------------------------------------------------------------
-- Decisions, resolved in C (src/resolve.c) under the caller's snapshot.
--
-- PARALLEL RESTRICTED: with signed contexts they answer only about the
-- context's user (or to an administrator), which a parallel worker cannot
-- tell.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tenancy.permissions(user_id uuid, tenant uuid)
RETURNS tenancy.permset
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_permissions';
COMMENT ON FUNCTION tenancy.permissions(uuid, uuid) IS
    'The permission set a user holds on a tenant; empty for unknown, inactive or non-member users and unknown tenants.';

CREATE FUNCTION tenancy.has_permission(user_id uuid, tenant uuid, permission text)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_permission';
COMMENT ON FUNCTION tenancy.has_permission(uuid, uuid, text) IS
    'Whether a user holds a permission ("type:action") on a tenant; false for unknown users and tenants.';

-- owner_id has no default: a call with four arguments is the context
-- user's variant (src/sql/60_context.sql).
CREATE FUNCTION tenancy.has_resource_permission(user_id uuid, tenant uuid, permission text,
                                                resource_id text, owner_id uuid)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_resource_permission';
COMMENT ON FUNCTION tenancy.has_resource_permission(uuid, uuid, text, text, uuid) IS
    'Whether a user may act on one resource of a tenant: by a tenant-wide permission, as its owner (while holding any role in the tenant), or through a share to them or one of their teams.';
