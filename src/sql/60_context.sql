-- ---------------------------------------------------------------------------
-- The session context (src/context.c) and the functions that row-level
-- security policies call (src/policy.c).
--
-- A parallel worker cannot tell a context of this transaction from a stale
-- one: it takes the context its leader decided on (tenancy.parallel_context,
-- src/context.c).  The functions a tenant-wide read policy calls are
-- PARALLEL SAFE, so that a query over many tenants may run in parallel as a
-- hand-written one does; the rest that read the context are PARALLEL
-- RESTRICTED.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tenancy.set_context(user_id uuid, tenant uuid DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'tenancy_set_context';
COMMENT ON FUNCTION tenancy.set_context(uuid, uuid) IS
    'Sets the current user, and optionally tenant, until the end of the transaction (SET LOCAL tenancy.context).';

CREATE FUNCTION tenancy.set_context_token(token text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'tenancy_set_context_token';
COMMENT ON FUNCTION tenancy.set_context_token(text) IS
    'Sets the context from a signed token (a JWT signed by a key of tenancy.signing_keys) until the end of the transaction.';

CREATE FUNCTION tenancy.clear_context()
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'tenancy_clear_context';
COMMENT ON FUNCTION tenancy.clear_context() IS
    'Clears the context for the rest of the transaction.';

CREATE FUNCTION tenancy.current_user_id()
RETURNS uuid
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_current_user_id';
COMMENT ON FUNCTION tenancy.current_user_id() IS
    'The user of the current context, or NULL when none is set.';

CREATE FUNCTION tenancy.current_tenant_id()
RETURNS uuid
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_current_tenant_id';
COMMENT ON FUNCTION tenancy.current_tenant_id() IS
    'The tenant of the current context, or NULL when none is set.';

CREATE FUNCTION tenancy.has_permission(tenant uuid, permission text)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_permission_current';
COMMENT ON FUNCTION tenancy.has_permission(uuid, text) IS
    'Whether the current user holds a permission on a tenant; false without a context.';

CREATE FUNCTION tenancy.visible_tenants(permission text)
RETURNS uuid[]
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_visible_tenants';
COMMENT ON FUNCTION tenancy.visible_tenants(text) IS
    'The tenants where the current context holds a permission (only the current tenant when one is set); empty without a context.';

CREATE FUNCTION tenancy.writable_tenants(permission text)
RETURNS uuid[]
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_writable_tenants';
COMMENT ON FUNCTION tenancy.writable_tenants(text) IS
    'As visible_tenants, but an error without a context: used by the write policies.';

CREATE FUNCTION tenancy._tenant_in_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'tenancy_tenant_in_support';
COMMENT ON FUNCTION tenancy._tenant_in_support(internal) IS
    'The planner''s estimate of tenancy._tenant_in(): the share of rows whose tenant the context sees, from the column''s statistics.';
CREATE FUNCTION tenancy._tenant_in(tenant uuid, permission text, for_write boolean)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT tenancy._tenant_in_support
AS 'MODULE_PATHNAME', 'tenancy_tenant_in';
COMMENT ON FUNCTION tenancy._tenant_in(uuid, text, boolean) IS
    'tenant = ANY (visible_tenants(permission)) (writable_tenants when for_write) as one hash lookup: what the planner puts in its place where a plan checks it row by row.';

CREATE FUNCTION tenancy.context_tenant(permission text)
RETURNS uuid
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_context_tenant';
COMMENT ON FUNCTION tenancy.context_tenant(text) IS
    'The current tenant when the current user holds the permission there, else NULL.';

-- Ownership and shares (tables protected with owner and id columns) ---------

CREATE FUNCTION tenancy.role_tenants()
RETURNS uuid[]
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_role_tenants';
COMMENT ON FUNCTION tenancy.role_tenants() IS
    'The tenants where the current user holds any permission (only the current tenant when one is set): where they keep an owner''s rights.';

-- Not STRICT: the second argument is a typed NULL that only names the type.
-- tbl is the table the policy is on: only shares made on it (or on the
-- protected table it is a partition of) count.
CREATE FUNCTION tenancy.shared_ids(permission text, id_type anyelement, tbl regclass)
RETURNS anyarray
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_shared_ids';
COMMENT ON FUNCTION tenancy.shared_ids(text, anyelement, regclass) IS
    'The ids of the resources of a table shared with the current user for a permission (in the current tenant when one is set), of the type of the second argument.';

CREATE FUNCTION tenancy.is_shared(tenant uuid, id anyelement, permission text, tbl regclass)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_is_shared';
COMMENT ON FUNCTION tenancy.is_shared(uuid, anyelement, text, regclass) IS
    'Whether the resource of a table with this id, in this tenant, is shared with the current user for a permission.';

CREATE FUNCTION tenancy.has_resource_permission(tenant uuid, permission text,
                                                resource_id text, owner_id uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_resource_permission_current';
COMMENT ON FUNCTION tenancy.has_resource_permission(uuid, text, text, uuid) IS
    'Whether the current user may act on one resource: by a tenant-wide permission, as its owner, or through a share; false without a context.';

-- Not STRICT: owner and id may be NULL (the table has no such column), and
-- so may tbl, the table whose shares count (NULL: none).
CREATE FUNCTION tenancy.resource_allows(tenant uuid, owner uuid, id anyelement,
                                        permission text, for_write boolean DEFAULT false,
                                        tbl regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_resource_allows_row';
COMMENT ON FUNCTION tenancy.resource_allows(uuid, uuid, anyelement, text, boolean, regclass) IS
    'A resource-level policy''s conditions (tenant-wide permission, owner, share) in one call per row; what the planner puts in place of the policy when the plan reads the current tenant''s rows.';
