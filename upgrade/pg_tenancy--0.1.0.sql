-- pg_tenancy install script, assembled from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION pg_tenancy" to load this file. \quit
-- tenancy.permset: a canonical set of "resource_type:action" permissions.

CREATE TYPE tenancy.permset;

CREATE FUNCTION tenancy.permset_in(cstring)
RETURNS tenancy.permset
AS 'MODULE_PATHNAME', 'permset_in'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_out(tenancy.permset)
RETURNS cstring
AS 'MODULE_PATHNAME', 'permset_out'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_recv(internal)
RETURNS tenancy.permset
AS 'MODULE_PATHNAME', 'permset_recv'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_send(tenancy.permset)
RETURNS bytea
AS 'MODULE_PATHNAME', 'permset_send'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE tenancy.permset (
    INPUT = tenancy.permset_in,
    OUTPUT = tenancy.permset_out,
    RECEIVE = tenancy.permset_recv,
    SEND = tenancy.permset_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = int4,
    STORAGE = extended
);

COMMENT ON TYPE tenancy.permset IS
    'set of resource_type:action permissions, where either part may be the wildcard *';
COMMENT ON FUNCTION tenancy.permset_in(cstring) IS
    'text input function of type permset';
COMMENT ON FUNCTION tenancy.permset_out(tenancy.permset) IS
    'text output function of type permset';
COMMENT ON FUNCTION tenancy.permset_recv(internal) IS
    'binary input function of type permset';
COMMENT ON FUNCTION tenancy.permset_send(tenancy.permset) IS
    'binary output function of type permset';

-- Comparison.  The order is arbitrary but total; equal means byte-equal.

CREATE FUNCTION tenancy.permset_eq(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_eq'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION tenancy.permset_ne(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_ne'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE FUNCTION tenancy.permset_lt(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_lt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_le(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_le'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_gt(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_gt'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_ge(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_ge'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_cmp(tenancy.permset, tenancy.permset)
RETURNS integer
AS 'MODULE_PATHNAME', 'permset_cmp'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_hash(tenancy.permset)
RETURNS integer
AS 'MODULE_PATHNAME', 'permset_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_hash_extended(tenancy.permset, bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'permset_hash_extended'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tenancy.permset_eq(tenancy.permset, tenancy.permset) IS
    'implementation of = operator for permset';
COMMENT ON FUNCTION tenancy.permset_ne(tenancy.permset, tenancy.permset) IS
    'implementation of <> operator for permset';
COMMENT ON FUNCTION tenancy.permset_lt(tenancy.permset, tenancy.permset) IS
    'implementation of < operator for permset';
COMMENT ON FUNCTION tenancy.permset_le(tenancy.permset, tenancy.permset) IS
    'implementation of <= operator for permset';
COMMENT ON FUNCTION tenancy.permset_gt(tenancy.permset, tenancy.permset) IS
    'implementation of > operator for permset';
COMMENT ON FUNCTION tenancy.permset_ge(tenancy.permset, tenancy.permset) IS
    'implementation of >= operator for permset';
COMMENT ON FUNCTION tenancy.permset_cmp(tenancy.permset, tenancy.permset) IS
    'btree comparison function for permset';
COMMENT ON FUNCTION tenancy.permset_hash(tenancy.permset) IS
    'hash function for permset';
COMMENT ON FUNCTION tenancy.permset_hash_extended(tenancy.permset, bigint) IS
    'seeded 64-bit hash function for permset';

CREATE OPERATOR tenancy.= (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_eq,
    COMMUTATOR = OPERATOR(tenancy.=),
    NEGATOR = OPERATOR(tenancy.<>),
    RESTRICT = eqsel,
    JOIN = eqjoinsel,
    HASHES,
    MERGES
);

CREATE OPERATOR tenancy.<> (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_ne,
    COMMUTATOR = OPERATOR(tenancy.<>),
    NEGATOR = OPERATOR(tenancy.=),
    RESTRICT = neqsel,
    JOIN = neqjoinsel
);

CREATE OPERATOR tenancy.< (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_lt,
    COMMUTATOR = OPERATOR(tenancy.>),
    NEGATOR = OPERATOR(tenancy.>=),
    RESTRICT = scalarltsel,
    JOIN = scalarltjoinsel
);

CREATE OPERATOR tenancy.<= (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_le,
    COMMUTATOR = OPERATOR(tenancy.>=),
    NEGATOR = OPERATOR(tenancy.>),
    RESTRICT = scalarlesel,
    JOIN = scalarlejoinsel
);

CREATE OPERATOR tenancy.> (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_gt,
    COMMUTATOR = OPERATOR(tenancy.<),
    NEGATOR = OPERATOR(tenancy.<=),
    RESTRICT = scalargtsel,
    JOIN = scalargtjoinsel
);

CREATE OPERATOR tenancy.>= (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_ge,
    COMMUTATOR = OPERATOR(tenancy.<=),
    NEGATOR = OPERATOR(tenancy.<),
    RESTRICT = scalargesel,
    JOIN = scalargejoinsel
);

COMMENT ON OPERATOR tenancy.= (tenancy.permset, tenancy.permset) IS
    'equal';
COMMENT ON OPERATOR tenancy.<> (tenancy.permset, tenancy.permset) IS
    'not equal';
COMMENT ON OPERATOR tenancy.< (tenancy.permset, tenancy.permset) IS
    'less than';
COMMENT ON OPERATOR tenancy.<= (tenancy.permset, tenancy.permset) IS
    'less than or equal';
COMMENT ON OPERATOR tenancy.> (tenancy.permset, tenancy.permset) IS
    'greater than';
COMMENT ON OPERATOR tenancy.>= (tenancy.permset, tenancy.permset) IS
    'greater than or equal';

CREATE OPERATOR CLASS tenancy.permset_ops
    DEFAULT FOR TYPE tenancy.permset USING btree AS
        OPERATOR 1 tenancy.< ,
        OPERATOR 2 tenancy.<= ,
        OPERATOR 3 tenancy.= ,
        OPERATOR 4 tenancy.>= ,
        OPERATOR 5 tenancy.> ,
        FUNCTION 1 tenancy.permset_cmp(tenancy.permset, tenancy.permset);

CREATE OPERATOR CLASS tenancy.permset_ops
    DEFAULT FOR TYPE tenancy.permset USING hash AS
        OPERATOR 1 tenancy.= ,
        FUNCTION 1 tenancy.permset_hash(tenancy.permset),
        FUNCTION 2 tenancy.permset_hash_extended(tenancy.permset, bigint);

COMMENT ON OPERATOR CLASS tenancy.permset_ops USING btree IS
    'default btree operator class for permset';
COMMENT ON OPERATOR CLASS tenancy.permset_ops USING hash IS
    'default hash operator class for permset';

-- Set operations.

CREATE FUNCTION tenancy.permset_contains(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_contains_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_contained(tenancy.permset, tenancy.permset)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_contained'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_union(tenancy.permset, tenancy.permset)
RETURNS tenancy.permset
AS 'MODULE_PATHNAME', 'permset_union_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tenancy.permset_contains(tenancy.permset, tenancy.permset) IS
    'does the first permset grant every permission the second grants';
COMMENT ON FUNCTION tenancy.permset_contained(tenancy.permset, tenancy.permset) IS
    'does the second permset grant every permission the first grants';
COMMENT ON FUNCTION tenancy.permset_union(tenancy.permset, tenancy.permset) IS
    'permset granting every permission either argument grants';

CREATE OPERATOR tenancy.@> (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_contains,
    COMMUTATOR = OPERATOR(tenancy.<@),
    RESTRICT = contsel,
    JOIN = contjoinsel
);

CREATE OPERATOR tenancy.<@ (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_contained,
    COMMUTATOR = OPERATOR(tenancy.@>),
    RESTRICT = contsel,
    JOIN = contjoinsel
);

CREATE OPERATOR tenancy.+ (
    LEFTARG = tenancy.permset,
    RIGHTARG = tenancy.permset,
    FUNCTION = tenancy.permset_union,
    COMMUTATOR = OPERATOR(tenancy.+)
);

COMMENT ON OPERATOR tenancy.@> (tenancy.permset, tenancy.permset) IS
    'contains';
COMMENT ON OPERATOR tenancy.<@ (tenancy.permset, tenancy.permset) IS
    'is contained by';
COMMENT ON OPERATOR tenancy.+ (tenancy.permset, tenancy.permset) IS
    'union';

-- Queries.

CREATE FUNCTION tenancy.allows(tenancy.permset, text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'permset_allows_text'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_elements(tenancy.permset)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'permset_elements'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tenancy.permset_count(tenancy.permset)
RETURNS integer
AS 'MODULE_PATHNAME', 'permset_count'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION tenancy.allows(tenancy.permset, text) IS
    'does the permset grant the type:action permission, where * in the argument means all';
COMMENT ON FUNCTION tenancy.permset_elements(tenancy.permset) IS
    'the permissions of a permset as type:action text, in canonical order';
COMMENT ON FUNCTION tenancy.permset_count(tenancy.permset) IS
    'number of permissions in the canonical form of a permset';

CREATE AGGREGATE tenancy.permset_agg(tenancy.permset) (
    SFUNC = tenancy.permset_union,
    STYPE = tenancy.permset,
    COMBINEFUNC = tenancy.permset_union,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE tenancy.permset_agg(tenancy.permset) IS
    'union of all input permsets';
-- ---------------------------------------------------------------------------
-- The hierarchy: organizations, tenants, users, memberships, teams, roles,
-- role assignments and invitations, with the integrity rules of the
-- specification enforced by the database itself.
--
-- Design notes
--   * A user is a member of an organization by holding an organization-level
--     role there; tenancy.memberships is that role (one per member).  Every
--     row that hangs on a membership (team memberships, tenant assignments)
--     references it with a composite foreign key (org_id, user_id) and
--     ON DELETE CASCADE, so removing a member removes what they held in that
--     organization in the same statement, and a team member or an assignee
--     cannot be anything but a member of the right organization.
--   * Every child row carries its organization's id, and references its
--     parent by (org_id, id): a tenant assignment cannot name a team or
--     tenant of another organization.
--   * Built-in roles have fixed ids (below) so that pg_dump output, which
--     carries only custom rows, restores against any installation.
-- ---------------------------------------------------------------------------

-- Registries -----------------------------------------------------------------

CREATE TABLE tenancy.actions (
    name        text PRIMARY KEY
                CONSTRAINT actions_name_check
                CHECK (name OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]{0,62}$'),
    builtin     boolean NOT NULL DEFAULT false,
    description text
);
COMMENT ON TABLE tenancy.actions IS
    'Registered actions; the right-hand side of a permission.';

CREATE TABLE tenancy.resource_types (
    name        text PRIMARY KEY
                CONSTRAINT resource_types_name_check
                CHECK (name OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]{0,62}$'),
    builtin     boolean NOT NULL DEFAULT false,
    description text
);
COMMENT ON TABLE tenancy.resource_types IS
    'Registered resource types; the left-hand side of a permission.';

-- Organizations and tenants --------------------------------------------------

CREATE TABLE tenancy.organizations (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    slug        text NOT NULL
                CONSTRAINT organizations_slug_check
                CHECK (slug OPERATOR(pg_catalog.~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        text NOT NULL
                CONSTRAINT organizations_name_check
                CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT organizations_slug_key UNIQUE (slug)
);
COMMENT ON TABLE tenancy.organizations IS
    'Top-level organizations; each holds members, teams, tenants and custom roles.';

CREATE TABLE tenancy.tenants (
    id          uuid DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL
                REFERENCES tenancy.organizations (id) ON DELETE CASCADE,
    slug        text NOT NULL
                CONSTRAINT tenants_slug_check
                CHECK (slug OPERATOR(pg_catalog.~) '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        text NOT NULL
                CONSTRAINT tenants_name_check
                CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Every index that a permission check reads carries the columns the
    -- check needs, so that it reads the index alone (index-only).
    CONSTRAINT tenants_pkey PRIMARY KEY (id) INCLUDE (org_id),
    CONSTRAINT tenants_org_slug_key UNIQUE (org_id, slug),
    CONSTRAINT tenants_org_id_key UNIQUE (org_id, id)
);
COMMENT ON TABLE tenancy.tenants IS
    'Tenants: isolated units of data; application rows carry a tenant id.';

-- Users ----------------------------------------------------------------------

CREATE TABLE tenancy.users (
    id          uuid DEFAULT pg_catalog.gen_random_uuid(),
    email       text NOT NULL
                CONSTRAINT users_email_check
                CHECK (email OPERATOR(pg_catalog.~) '^[^@[:space:]]+@[^@[:space:]]+$'),
    display_name text,
    kind        text NOT NULL DEFAULT 'user'
                CONSTRAINT users_kind_check
                CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['user', 'service_account'])),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT users_pkey PRIMARY KEY (id) INCLUDE (active)
);
CREATE UNIQUE INDEX users_email_key ON tenancy.users (pg_catalog.lower(email));
COMMENT ON TABLE tenancy.users IS
    'Identities (people and service accounts); global, members of any number of organizations.';

-- Roles ----------------------------------------------------------------------

CREATE TABLE tenancy.roles (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid REFERENCES tenancy.organizations (id) ON DELETE CASCADE,
    name        text NOT NULL
                CONSTRAINT roles_name_check
                CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]{0,62}$'),
    scope       text NOT NULL
                CONSTRAINT roles_scope_check
                CHECK (scope OPERATOR(pg_catalog.=) ANY (ARRAY['organization', 'tenant'])),
    permissions tenancy.permset NOT NULL DEFAULT '{}',
    -- Always a built-in role (checked by the roles_integrity trigger, and
    -- built-in roles cannot be dropped); no self-referencing foreign key,
    -- which would make pg_dump warn about circular constraints.
    base_role_id uuid,
    description text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT roles_org_scope_name_key UNIQUE NULLS NOT DISTINCT (org_id, scope, name),
    CONSTRAINT roles_base_custom_check
        CHECK (base_role_id IS NULL OR org_id IS NOT NULL)
);
COMMENT ON TABLE tenancy.roles IS
    'Built-in roles (org_id IS NULL) and custom roles of an organization; permissions is the effective set, base role included.';

-- Memberships and teams ------------------------------------------------------

-- The built-in organization role "member"; memberships fall back to it when
-- the custom role they held is dropped.
CREATE TABLE tenancy.memberships (
    org_id      uuid NOT NULL
                REFERENCES tenancy.organizations (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL
                REFERENCES tenancy.users (id) ON DELETE CASCADE,
    role_id     uuid NOT NULL DEFAULT '00000000-0000-0000-0001-000000000004'
                REFERENCES tenancy.roles (id) ON DELETE SET DEFAULT,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (org_id, user_id) INCLUDE (role_id, expires_at)
);
CREATE INDEX memberships_user_idx ON tenancy.memberships (user_id)
    INCLUDE (org_id, role_id, expires_at);
CREATE INDEX memberships_role_idx ON tenancy.memberships (role_id);
COMMENT ON TABLE tenancy.memberships IS
    'Organization members, each with the organization-scope role that makes them one.';

CREATE TABLE tenancy.teams (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL
                REFERENCES tenancy.organizations (id) ON DELETE CASCADE,
    name        text NOT NULL
                CONSTRAINT teams_name_check
                CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) ''
                       AND pg_catalog.length(name) OPERATOR(pg_catalog.<=) 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT teams_org_name_key UNIQUE (org_id, name),
    CONSTRAINT teams_org_id_key UNIQUE (org_id, id)
);
COMMENT ON TABLE tenancy.teams IS
    'Named groups of an organization''s members.';

CREATE TABLE tenancy.team_members (
    team_id     uuid NOT NULL,
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (team_id, user_id),
    CONSTRAINT team_members_team_fkey FOREIGN KEY (org_id, team_id)
        REFERENCES tenancy.teams (org_id, id) ON DELETE CASCADE,
    CONSTRAINT team_members_member_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES tenancy.memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_idx ON tenancy.team_members (org_id, user_id)
    INCLUDE (team_id);
COMMENT ON TABLE tenancy.team_members IS
    'Team membership; only members of the team''s organization can be in it.';

-- Role assignments -----------------------------------------------------------

-- Tenant scope (tenant_id set) to a user or a team, or organization scope
-- (tenant_id NULL) to a team.  A user's organization-scope role is their
-- membership, above.
CREATE TABLE tenancy.role_assignments (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL
                REFERENCES tenancy.organizations (id) ON DELETE CASCADE,
    role_id     uuid NOT NULL
                REFERENCES tenancy.roles (id) ON DELETE CASCADE,
    tenant_id   uuid,
    user_id     uuid,
    team_id     uuid,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT role_assignments_one_principal_check
        CHECK (pg_catalog.num_nonnulls(user_id, team_id) OPERATOR(pg_catalog.=) 1),
    CONSTRAINT role_assignments_user_org_scope_check
        CHECK (tenant_id IS NOT NULL OR user_id IS NULL),
    CONSTRAINT role_assignments_tenant_fkey FOREIGN KEY (org_id, tenant_id)
        REFERENCES tenancy.tenants (org_id, id) ON DELETE CASCADE,
    CONSTRAINT role_assignments_team_fkey FOREIGN KEY (org_id, team_id)
        REFERENCES tenancy.teams (org_id, id) ON DELETE CASCADE,
    CONSTRAINT role_assignments_member_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES tenancy.memberships (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT role_assignments_key
        UNIQUE NULLS NOT DISTINCT (role_id, tenant_id, user_id, team_id)
);
CREATE INDEX role_assignments_user_idx
    ON tenancy.role_assignments (user_id, tenant_id) INCLUDE (role_id, expires_at, org_id)
    WHERE user_id IS NOT NULL;
CREATE INDEX role_assignments_team_idx
    ON tenancy.role_assignments (team_id, tenant_id) INCLUDE (role_id, expires_at, org_id)
    WHERE team_id IS NOT NULL;
-- Organization-scope assignments (to teams): a check reads those of the
-- tenant's organization to know which teams hold organization admin.
CREATE INDEX role_assignments_org_scope_idx
    ON tenancy.role_assignments (org_id) INCLUDE (team_id, role_id, expires_at)
    WHERE tenant_id IS NULL;
CREATE INDEX role_assignments_tenant_idx
    ON tenancy.role_assignments (tenant_id);
CREATE INDEX role_assignments_org_idx
    ON tenancy.role_assignments (org_id);
COMMENT ON TABLE tenancy.role_assignments IS
    'Roles held by users or teams on one tenant, and by teams on the whole organization.';

-- Shares ---------------------------------------------------------------------

-- Chosen actions on one resource (a row of a protected table, named by its
-- resource type and id), granted to a user or a team of the resource's
-- organization.  A share to a user hangs on their membership, a share to a
-- team on the team, and every share on its tenant: removing any of them
-- removes the share in the same statement.  One share per resource and
-- recipient; sharing again replaces the actions.
CREATE TABLE tenancy.shares (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    resource_type text NOT NULL REFERENCES tenancy.resource_types (name),
    resource_id text NOT NULL,
    user_id     uuid,
    team_id     uuid,
    actions     text[] NOT NULL
                CONSTRAINT shares_actions_check
                CHECK (pg_catalog.cardinality(actions) OPERATOR(pg_catalog.>) 0
                       AND pg_catalog.array_position(actions, NULL) IS NULL),
    shared_by   uuid REFERENCES tenancy.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT shares_one_recipient_check
        CHECK (pg_catalog.num_nonnulls(user_id, team_id) OPERATOR(pg_catalog.=) 1),
    CONSTRAINT shares_tenant_fkey FOREIGN KEY (org_id, tenant_id)
        REFERENCES tenancy.tenants (org_id, id) ON DELETE CASCADE,
    CONSTRAINT shares_team_fkey FOREIGN KEY (org_id, team_id)
        REFERENCES tenancy.teams (org_id, id) ON DELETE CASCADE,
    CONSTRAINT shares_member_fkey FOREIGN KEY (org_id, user_id)
        REFERENCES tenancy.memberships (org_id, user_id) ON DELETE CASCADE,
    CONSTRAINT shares_key
        UNIQUE NULLS NOT DISTINCT (resource_type, tenant_id, resource_id, user_id, team_id)
);
CREATE INDEX shares_user_idx
    ON tenancy.shares (user_id, resource_type) WHERE user_id IS NOT NULL;
CREATE INDEX shares_team_idx
    ON tenancy.shares (team_id, resource_type) WHERE team_id IS NOT NULL;
CREATE INDEX shares_tenant_idx
    ON tenancy.shares (tenant_id);
COMMENT ON TABLE tenancy.shares IS
    'Actions on one resource granted to a user or a team; see tenancy.share().';

-- Invitations (shape only; accepting them comes with the management API) -----

CREATE TABLE tenancy.invitations (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL
                REFERENCES tenancy.organizations (id) ON DELETE CASCADE,
    email       text NOT NULL
                CONSTRAINT invitations_email_check
                CHECK (email OPERATOR(pg_catalog.~) '^[^@[:space:]]+@[^@[:space:]]+$'),
    role_id     uuid NOT NULL DEFAULT '00000000-0000-0000-0001-000000000004'
                REFERENCES tenancy.roles (id) ON DELETE SET DEFAULT,
    token_hash  bytea NOT NULL,
    invited_by  uuid REFERENCES tenancy.users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES tenancy.users (id) ON DELETE SET NULL,
    revoked_at  timestamptz,
    CONSTRAINT invitations_token_hash_key UNIQUE (token_hash),
    CONSTRAINT invitations_org_id_key UNIQUE (org_id, id)
);
CREATE INDEX invitations_org_email_idx
    ON tenancy.invitations (org_id, pg_catalog.lower(email));

CREATE TABLE tenancy.invitation_tenant_roles (
    invitation_id uuid NOT NULL,
    org_id      uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    role_id     uuid NOT NULL REFERENCES tenancy.roles (id) ON DELETE CASCADE,
    PRIMARY KEY (invitation_id, tenant_id, role_id),
    FOREIGN KEY (org_id, invitation_id)
        REFERENCES tenancy.invitations (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, tenant_id)
        REFERENCES tenancy.tenants (org_id, id) ON DELETE CASCADE
);

CREATE TABLE tenancy.invitation_teams (
    invitation_id uuid NOT NULL,
    org_id      uuid NOT NULL,
    team_id     uuid NOT NULL,
    PRIMARY KEY (invitation_id, team_id),
    FOREIGN KEY (org_id, invitation_id)
        REFERENCES tenancy.invitations (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, team_id)
        REFERENCES tenancy.teams (org_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE tenancy.invitations IS
    'Invitations of an e-mail address to an organization; only the token''s hash is kept.';
-- ---------------------------------------------------------------------------
-- Built-in actions, resource types and roles.
--
-- The organization-level resource types name what organization roles manage;
-- application tables register their own types (tenancy.register_resource_type,
-- and later tenancy.protect).  The built-in role ids are fixed: they are part
-- of the on-disk contract (pg_dump carries custom rows only) and
-- src/resolve.c knows the organization admin's id.
-- ---------------------------------------------------------------------------

INSERT INTO tenancy.actions (name, builtin, description) VALUES
    ('create', true, 'Create a resource.'),
    ('read',   true, 'Read a resource.'),
    ('update', true, 'Change a resource.'),
    ('delete', true, 'Delete a resource.'),
    ('share',  true, 'Share a resource with another user or team.');

INSERT INTO tenancy.resource_types (name, builtin, description) VALUES
    ('organization', true, 'The organization itself.'),
    ('tenant',       true, 'The organization''s tenants.'),
    ('team',         true, 'The organization''s teams.'),
    ('member',       true, 'The organization''s members.'),
    ('role',         true, 'The organization''s custom roles.'),
    ('assignment',   true, 'Role assignments in the organization.'),
    ('invitation',   true, 'Invitations to the organization.');

INSERT INTO tenancy.roles (id, org_id, name, scope, permissions, description) VALUES
    ('00000000-0000-0000-0001-000000000001', NULL, 'admin', 'organization',
     '{*:*}',
     'Everything in the organization; tenant admin on every tenant.'),
    ('00000000-0000-0000-0001-000000000002', NULL, 'manager', 'organization',
     '{organization:read,tenant:*,team:*,member:*,assignment:*,invitation:*,role:read}',
     'Creates and manages tenants, teams, members and invitations, but not admins; no tenant data by itself.'),
    ('00000000-0000-0000-0001-000000000003', NULL, 'viewer', 'organization',
     '{organization:read,tenant:read,team:read,member:read,role:read,assignment:read}',
     'Reads the organization''s structure and lists every tenant; no tenant data by itself.'),
    ('00000000-0000-0000-0001-000000000004', NULL, 'member', 'organization',
     '{organization:read}',
     'Minimal: sees only the tenants granted to it.'),
    ('00000000-0000-0000-0002-000000000001', NULL, 'admin', 'tenant',
     '{*:*}',
     'Every action on every resource type in the tenant, and its assignments.'),
    ('00000000-0000-0000-0002-000000000002', NULL, 'editor', 'tenant',
     '{*:create,*:read,*:share}',
     'Creates, reads and shares; updates and deletes only what it owns.'),
    ('00000000-0000-0000-0002-000000000003', NULL, 'viewer', 'tenant',
     '{*:read}',
     'Reads.');
-- ---------------------------------------------------------------------------
-- Integrity rules that foreign keys alone cannot state.  They hold for plain
-- INSERT/UPDATE/DELETE on the tables as much as for the management
-- functions, which check the same things first only to give a friendlier
-- message.
-- ---------------------------------------------------------------------------

-- Roles: built-in roles are fixed; a custom role keeps its organization and
-- scope, cannot take a built-in role's name, and its effective permission set
-- always includes its base role's.
CREATE FUNCTION tenancy.roles_integrity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    base tenancy.roles;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.org_id IS NULL THEN
            RAISE EXCEPTION 'built-in role "%" cannot be dropped', OLD.name
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;

    IF TG_OP = 'UPDATE' THEN
        IF OLD.org_id IS NULL THEN
            RAISE EXCEPTION 'built-in role "%" cannot be changed', OLD.name
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.scope <> OLD.scope THEN
            RAISE EXCEPTION 'cannot change the organization or scope of role "%"', OLD.name
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Create a new role instead.';
        END IF;
    ELSIF NEW.org_id IS NULL THEN
        RAISE EXCEPTION 'built-in roles cannot be created'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Give the role an organization.';
    END IF;

    IF EXISTS (SELECT 1 FROM tenancy.roles r
               WHERE r.org_id IS NULL AND r.scope = NEW.scope AND r.name = NEW.name) THEN
        RAISE EXCEPTION 'role name "%" is reserved for a built-in % role', NEW.name, NEW.scope
            USING ERRCODE = 'unique_violation';
    END IF;

    IF NEW.base_role_id IS NOT NULL THEN
        SELECT * INTO base FROM tenancy.roles r WHERE r.id = NEW.base_role_id;
        IF NOT FOUND OR base.org_id IS NOT NULL THEN
            RAISE EXCEPTION 'base role must be a built-in role'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF base.scope <> NEW.scope THEN
            RAISE EXCEPTION 'base role "%" has scope %, not %', base.name, base.scope, NEW.scope
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        NEW.permissions := NEW.permissions OPERATOR(tenancy.+) base.permissions;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER roles_integrity
    BEFORE INSERT OR UPDATE OR DELETE ON tenancy.roles
    FOR EACH ROW EXECUTE FUNCTION tenancy.roles_integrity();

-- The role of a membership, an assignment or an invitation: it must exist,
-- have the expected scope, and be built-in or of the same organization.
CREATE FUNCTION tenancy.check_role_fits(p_role_id uuid, p_org_id uuid, p_scope text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r tenancy.roles;
BEGIN
    SELECT * INTO r FROM tenancy.roles WHERE id = p_role_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', p_role_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF r.org_id IS NOT NULL AND r.org_id <> p_org_id THEN
        RAISE EXCEPTION 'role "%" belongs to another organization', r.name
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF r.scope <> p_scope THEN
        RAISE EXCEPTION 'role "%" has scope %, but this grant needs a role of scope %',
                        r.name, r.scope, p_scope
            USING ERRCODE = 'check_violation';
    END IF;
END
$$;

CREATE FUNCTION tenancy.memberships_integrity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy.check_role_fits(NEW.role_id, NEW.org_id, 'organization');
    RETURN NEW;
END
$$;

CREATE TRIGGER memberships_integrity
    BEFORE INSERT OR UPDATE OF org_id, role_id ON tenancy.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy.memberships_integrity();

-- Team members and assignments carry their organization's id; fill it in
-- from the parent when the writer left it out, so that the composite
-- foreign keys then check that everything belongs to one organization.
CREATE FUNCTION tenancy.team_members_integrity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.org_id IS NULL THEN
        SELECT t.org_id INTO NEW.org_id FROM tenancy.teams t WHERE t.id = NEW.team_id;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER team_members_integrity
    BEFORE INSERT OR UPDATE ON tenancy.team_members
    FOR EACH ROW EXECUTE FUNCTION tenancy.team_members_integrity();

CREATE FUNCTION tenancy.role_assignments_integrity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.org_id IS NULL THEN
        IF NEW.tenant_id IS NOT NULL THEN
            SELECT t.org_id INTO NEW.org_id FROM tenancy.tenants t WHERE t.id = NEW.tenant_id;
        ELSIF NEW.team_id IS NOT NULL THEN
            SELECT t.org_id INTO NEW.org_id FROM tenancy.teams t WHERE t.id = NEW.team_id;
        END IF;
        IF NEW.org_id IS NULL THEN
            RAISE EXCEPTION 'role assignment names no existing tenant or team'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    PERFORM tenancy.check_role_fits(NEW.role_id, NEW.org_id,
        CASE WHEN NEW.tenant_id IS NULL THEN 'organization' ELSE 'tenant' END);
    RETURN NEW;
END
$$;

CREATE TRIGGER role_assignments_integrity
    BEFORE INSERT OR UPDATE ON tenancy.role_assignments
    FOR EACH ROW EXECUTE FUNCTION tenancy.role_assignments_integrity();

CREATE FUNCTION tenancy.invitations_integrity() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'invitations' THEN
        PERFORM tenancy.check_role_fits(NEW.role_id, NEW.org_id, 'organization');
    ELSE
        PERFORM tenancy.check_role_fits(NEW.role_id, NEW.org_id, 'tenant');
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER invitations_integrity
    BEFORE INSERT OR UPDATE ON tenancy.invitations
    FOR EACH ROW EXECUTE FUNCTION tenancy.invitations_integrity();
CREATE TRIGGER invitation_tenant_roles_integrity
    BEFORE INSERT OR UPDATE ON tenancy.invitation_tenant_roles
    FOR EACH ROW EXECUTE FUNCTION tenancy.invitations_integrity();

-- The last active admin.  An organization that has an active admin keeps
-- one: removing, demoting, deactivating the last one, or giving their
-- membership an expiry, fails.  An admin whose membership expires is a
-- demotion already scheduled, so only admins without an expiry count.
-- The check runs after the statement's rows are all written, so a single
-- statement that hands the role over succeeds.  When the organization
-- itself is being deleted there is nothing left to protect.
CREATE FUNCTION tenancy.org_has_active_admin(p_org_id uuid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (
        SELECT 1
        FROM tenancy.memberships m
        JOIN tenancy.users u ON u.id = m.user_id
        WHERE m.org_id = p_org_id
          AND m.role_id = '00000000-0000-0000-0001-000000000001'
          AND u.active
          AND m.expires_at IS NULL)
$$;

CREATE FUNCTION tenancy.memberships_last_admin() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org_slug text;
BEGIN
    -- Only the loss of an active admin can leave the organization without one.
    IF OLD.role_id <> '00000000-0000-0000-0001-000000000001'
       OR OLD.expires_at IS NOT NULL
       OR EXISTS (SELECT 1 FROM tenancy.users u WHERE u.id = OLD.user_id AND NOT u.active) THEN
        RETURN NULL;
    END IF;
    SELECT slug INTO org_slug FROM tenancy.organizations WHERE id = OLD.org_id;
    IF FOUND AND NOT tenancy.org_has_active_admin(OLD.org_id) THEN
        RAISE EXCEPTION 'cannot remove the last active admin of organization "%"', org_slug
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'An organization must keep at least one active admin whose membership does not expire.',
                  HINT = 'Make another member an admin first, or delete the organization.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER memberships_last_admin
    AFTER UPDATE OF org_id, user_id, role_id, expires_at OR DELETE ON tenancy.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy.memberships_last_admin();

CREATE FUNCTION tenancy.users_last_admin() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org_slug text;
BEGIN
    SELECT o.slug INTO org_slug
    FROM tenancy.memberships m
    JOIN tenancy.organizations o ON o.id = m.org_id
    WHERE m.user_id = NEW.id
      AND m.role_id = '00000000-0000-0000-0001-000000000001'
      AND m.expires_at IS NULL
      AND NOT tenancy.org_has_active_admin(m.org_id)
    ORDER BY o.slug
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot deactivate the last active admin of organization "%"', org_slug
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'An organization must keep at least one active admin whose membership does not expire.',
                  HINT = 'Make another member an admin first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_last_admin
    AFTER UPDATE OF active ON tenancy.users
    FOR EACH ROW WHEN (OLD.active AND NOT NEW.active)
    EXECUTE FUNCTION tenancy.users_last_admin();
-- ---------------------------------------------------------------------------
-- What a resolution needs to know about a member, in one index entry.
-- ---------------------------------------------------------------------------
-- After the tenant's organization, a cache miss asks about the member:
-- whether the membership exists and has not expired, its role, whether the
-- user is active, and which of the organization's teams they are in.  Those
-- live in three tables, three B-tree descents into indexes that on a large
-- hierarchy are not in the CPU's caches.  This table holds the same facts,
-- one row per membership, kept by the triggers below in the transaction
-- that changes the rows they come from, and its primary key carries them
-- all: one descent, read without the heap once VACUUM has marked the page
-- all-visible.
--
-- Nothing writes it but those triggers.  pg_dump leaves it out; a restore
-- fills it again as the rows it derives from come back, in whatever order.
-- A load with triggers disabled (session_replication_role = replica,
-- pg_restore --disable-triggers) must call tenancy.rebuild_member_facts().
CREATE TABLE tenancy._member_facts (
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    role_id     uuid NOT NULL,
    expires_at  timestamptz,
    active      boolean NOT NULL,
    -- The member's teams in the organization, sorted; NULL when there are
    -- more than 32 of them, to keep the index entry small (resolution then
    -- reads team_members).
    teams       uuid[],
    PRIMARY KEY (org_id, user_id) INCLUDE (role_id, expires_at, active, teams),
    FOREIGN KEY (org_id, user_id) REFERENCES tenancy.memberships (org_id, user_id)
        ON DELETE CASCADE ON UPDATE CASCADE
);
COMMENT ON TABLE tenancy._member_facts IS
    'Derived: each membership with its user''s activation and its teams, for resolution; kept by triggers.';

-- VOLATILE: read with a snapshot of its own statement (see below).
CREATE FUNCTION tenancy._member_teams(p_org uuid, p_user uuid) RETURNS uuid[]
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN count(*) > 32 THEN NULL
                ELSE coalesce(array_agg(tm.team_id ORDER BY tm.team_id), '{}') END
    FROM tenancy.team_members tm
    WHERE tm.org_id = p_org AND tm.user_id = p_user
$$;

-- Concurrency: each write recomputes from a statement of its own, after a
-- lock that orders it after any concurrent writer of the same facts, so that
-- under READ COMMITTED the recomputation sees what the other one committed
-- (under REPEATABLE READ the second writer gets a serialization failure).
-- The user's row is read FOR SHARE, which waits for a concurrent
-- (de)activation and makes a later one wait for this transaction.
CREATE FUNCTION tenancy._member_facts_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    user_active boolean;
BEGIN
    IF TG_TABLE_NAME = 'memberships' THEN
        IF TG_OP = 'UPDATE' AND OLD.org_id = NEW.org_id AND OLD.user_id = NEW.user_id THEN
            UPDATE tenancy._member_facts f
            SET role_id = NEW.role_id, expires_at = NEW.expires_at
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id;
            RETURN NULL;
        END IF;
        -- A new membership, or one given to another user or organization
        -- (the foreign key has carried the row's key along): everything
        -- again.  A user restored after their memberships counts as
        -- inactive until their row arrives (see the users branch).
        SELECT u.active INTO user_active FROM tenancy.users u
        WHERE u.id = NEW.user_id FOR SHARE;
        IF TG_OP = 'INSERT' THEN
            -- No team row can name a membership before it exists.
            INSERT INTO tenancy._member_facts (org_id, user_id, role_id, expires_at, active, teams)
            VALUES (NEW.org_id, NEW.user_id, NEW.role_id, NEW.expires_at,
                    coalesce(user_active, false), '{}');
        ELSE
            PERFORM FROM tenancy._member_facts f
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id FOR UPDATE;
            UPDATE tenancy._member_facts f
            SET role_id = NEW.role_id, expires_at = NEW.expires_at,
                active = coalesce(user_active, false),
                teams = tenancy._member_teams(NEW.org_id, NEW.user_id)
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id;
        END IF;
    ELSIF TG_TABLE_NAME = 'users' THEN
        UPDATE tenancy._member_facts f
        SET active = NEW.active
        FROM tenancy.memberships m
        WHERE m.user_id = NEW.id
          AND f.org_id = m.org_id AND f.user_id = m.user_id
          AND f.active IS DISTINCT FROM NEW.active;
    ELSE
        -- team_members: the member before the change and after it.  A row
        -- going with its membership (a cascade) leaves nothing to update.
        IF TG_OP <> 'INSERT' THEN
            PERFORM FROM tenancy._member_facts f
            WHERE f.org_id = OLD.org_id AND f.user_id = OLD.user_id FOR UPDATE;
            UPDATE tenancy._member_facts f
            SET teams = tenancy._member_teams(OLD.org_id, OLD.user_id)
            WHERE f.org_id = OLD.org_id AND f.user_id = OLD.user_id
              AND EXISTS (SELECT FROM tenancy.memberships m
                          WHERE m.org_id = OLD.org_id AND m.user_id = OLD.user_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM FROM tenancy._member_facts f
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id FOR UPDATE;
            UPDATE tenancy._member_facts f
            SET teams = tenancy._member_teams(NEW.org_id, NEW.user_id)
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER member_facts_sync
    AFTER INSERT OR UPDATE OF org_id, user_id, role_id, expires_at ON tenancy.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy._member_facts_sync();
CREATE TRIGGER member_facts_sync
    AFTER INSERT OR UPDATE OF active ON tenancy.users
    FOR EACH ROW EXECUTE FUNCTION tenancy._member_facts_sync();
CREATE TRIGGER member_facts_sync
    AFTER INSERT OR UPDATE OR DELETE ON tenancy.team_members
    FOR EACH ROW EXECUTE FUNCTION tenancy._member_facts_sync();

CREATE FUNCTION tenancy.rebuild_member_facts() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE tenancy.memberships, tenancy.users, tenancy.team_members IN SHARE MODE;
    -- TRUNCATE, so that every backend's cached decisions are dropped too
    -- (80_cache.sql): they may have been made from the facts replaced here.
    TRUNCATE tenancy._member_facts;
    INSERT INTO tenancy._member_facts (org_id, user_id, role_id, expires_at, active, teams)
    SELECT m.org_id, m.user_id, m.role_id, m.expires_at, u.active,
           CASE WHEN t.n > 32 THEN NULL ELSE coalesce(t.teams, '{}') END
    FROM tenancy.memberships m
    JOIN tenancy.users u ON u.id = m.user_id
    LEFT JOIN (SELECT tm.org_id, tm.user_id, count(*) AS n,
                      array_agg(tm.team_id ORDER BY tm.team_id) AS teams
               FROM tenancy.team_members tm GROUP BY tm.org_id, tm.user_id) t
           ON t.org_id = m.org_id AND t.user_id = m.user_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION tenancy.rebuild_member_facts() IS
    'Rebuilds the derived member facts resolution reads, after a load that ran with triggers disabled; returns the rows written.';

-- TRUNCATE fires no row trigger.
CREATE FUNCTION tenancy._member_facts_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE tenancy._member_facts SET teams = '{}' WHERE teams IS DISTINCT FROM '{}';
    RETURN NULL;
END
$$;
CREATE TRIGGER member_facts_truncate
    AFTER TRUNCATE ON tenancy.team_members
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._member_facts_truncate();
-- ---------------------------------------------------------------------------
-- Management functions.
--
-- Each one validates its arguments first and fails with a message that names
-- what is wrong and a specific SQLSTATE:
--   22004  a required argument is NULL
--   22023  an argument has a bad value (malformed slug, unknown scope, ...)
--   23503  an argument refers to something that does not exist, or to
--          something of another organization
--   23505  the thing to create exists already
--   42501  a rule forbids it (built-in roles, the last active admin)
-- A function that fails changes nothing: each is one statement.
--
-- They are SECURITY DEFINER, with a fixed search_path: the tables belong to
-- the extension's owner and nobody else may write them, and EXECUTE on the
-- functions is revoked from PUBLIC at the end of the install script, so that
-- EXECUTE is all a DBA grants to the role that administers tenancy.
-- ---------------------------------------------------------------------------

-- Internal helpers -----------------------------------------------------------

CREATE FUNCTION tenancy._not_null(value anyelement, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION '% must not be null', what
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
END
$$;

CREATE FUNCTION tenancy._check_slug(slug text, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._not_null(slug, what || ' slug');
    IF slug !~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' THEN
        RAISE EXCEPTION 'invalid % slug "%"', what, slug
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A slug is 1 to 63 lower-case letters, digits and hyphens, and does not start or end with a hyphen.';
    END IF;
END
$$;

CREATE FUNCTION tenancy._check_name(name text, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._not_null(name, what || ' name');
    IF btrim(name) = '' THEN
        RAISE EXCEPTION '% name must not be empty', what
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

CREATE FUNCTION tenancy._check_email(email text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._not_null(email, 'e-mail address');
    IF email !~ '^[^@[:space:]]+@[^@[:space:]]+$' THEN
        RAISE EXCEPTION 'invalid e-mail address "%"', email
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

CREATE FUNCTION tenancy._check_expiry(expires_at timestamptz) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF expires_at <= statement_timestamp() THEN
        RAISE EXCEPTION 'expiry time must be in the future'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The expiry time given is %s.', expires_at);
    END IF;
END
$$;

CREATE FUNCTION tenancy._org(id uuid) RETURNS tenancy.organizations
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations;
BEGIN
    PERFORM tenancy._not_null(_org.id, 'organization');
    SELECT * INTO o FROM tenancy.organizations WHERE id = _org.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'organization "%" does not exist', _org.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN o;
END
$$;

CREATE FUNCTION tenancy._tenant(id uuid) RETURNS tenancy.tenants
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.tenants;
BEGIN
    PERFORM tenancy._not_null(_tenant.id, 'tenant');
    SELECT * INTO t FROM tenancy.tenants WHERE id = _tenant.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tenant "%" does not exist', _tenant.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN t;
END
$$;

CREATE FUNCTION tenancy._team(id uuid) RETURNS tenancy.teams
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.teams;
BEGIN
    PERFORM tenancy._not_null(_team.id, 'team');
    SELECT * INTO t FROM tenancy.teams WHERE id = _team.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'team "%" does not exist', _team.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN t;
END
$$;

CREATE FUNCTION tenancy._user(id uuid) RETURNS tenancy.users
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u tenancy.users;
BEGIN
    PERFORM tenancy._not_null(_user.id, 'user');
    SELECT * INTO u FROM tenancy.users WHERE id = _user.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user "%" does not exist', _user.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN u;
END
$$;

-- A role by name, as seen from one organization: its custom roles and the
-- built-in ones, of the given scope.
CREATE FUNCTION tenancy._role(org_id uuid, name text, scope text) RETURNS tenancy.roles
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r tenancy.roles;
BEGIN
    PERFORM tenancy._not_null(_role.name, 'role');
    SELECT * INTO r FROM tenancy.roles
    WHERE name = _role.name AND scope = _role.scope
      AND (org_id IS NULL OR org_id = _role.org_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION '% role "%" does not exist', _role.scope, _role.name
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN r;
END
$$;

CREATE FUNCTION tenancy._require_member(org_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tenancy.memberships m
                   WHERE m.org_id = _require_member.org_id
                     AND m.user_id = _require_member.user_id) THEN
        RAISE EXCEPTION 'user "%" is not a member of organization "%"',
                        (SELECT email FROM tenancy.users u WHERE u.id = _require_member.user_id),
                        (SELECT slug FROM tenancy.organizations o WHERE o.id = _require_member.org_id)
            USING ERRCODE = 'foreign_key_violation';
    END IF;
END
$$;

-- Every type and action a permission set names must be registered.
CREATE FUNCTION tenancy._check_registered(perms tenancy.permset) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    e text;
    rtype text;
    act text;
BEGIN
    PERFORM tenancy._not_null(perms, 'permission set');
    FOR e IN SELECT tenancy.permset_elements(perms) LOOP
        rtype := split_part(e, ':', 1);
        act := split_part(e, ':', 2);
        IF rtype <> '*' AND NOT EXISTS (SELECT 1 FROM tenancy.resource_types WHERE name = rtype) THEN
            RAISE EXCEPTION 'resource type "%" is not registered', rtype
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Register it with tenancy.register_resource_type().';
        END IF;
        IF act <> '*' AND NOT EXISTS (SELECT 1 FROM tenancy.actions WHERE name = act) THEN
            RAISE EXCEPTION 'action "%" is not registered', act
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Register it with tenancy.register_action().';
        END IF;
    END LOOP;
END
$$;

-- Registries -----------------------------------------------------------------

-- Actions and resource types are kept alike; these two helpers serve both.
-- registry is tenancy.actions or tenancy.resource_types, what names it in
-- messages, and part says which side of "type:action" the names are on.
CREATE FUNCTION tenancy._registry_add(registry regclass, what text, name text,
                                      description text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added integer;
BEGIN
    PERFORM tenancy._not_null(name, what || ' name');
    IF name !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid % name "%"', what, name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('A %s name is 1 to 63 lower-case letters, digits and underscores, and does not start with a digit.', what);
    END IF;
    EXECUTE format('INSERT INTO %s (name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
                   registry)
        USING name, description;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added > 0;
END
$$;

CREATE FUNCTION tenancy._registry_remove(registry regclass, what text, part integer,
                                         name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    builtin boolean;
    user_role text;     -- also the protected table that uses a type
BEGIN
    PERFORM tenancy._not_null(name, what || ' name');
    EXECUTE format('SELECT builtin FROM %s WHERE name = $1', registry) INTO builtin USING name;
    IF builtin IS NULL THEN
        RAISE EXCEPTION '% "%" is not registered', what, name
            USING ERRCODE = 'foreign_key_violation';
    ELSIF builtin THEN
        RAISE EXCEPTION 'built-in % "%" cannot be unregistered', what, name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT r.name INTO user_role FROM tenancy.roles r
    WHERE EXISTS (SELECT 1 FROM tenancy.permset_elements(r.permissions) e
                  WHERE split_part(e, ':', part) = _registry_remove.name)
    ORDER BY r.name LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot unregister % "%" because role "%" uses it', what, name, user_role
            USING ERRCODE = 'dependent_objects_still_exist';
    END IF;
    SELECT p.relid::text INTO user_role FROM tenancy.protected_tables p
    WHERE registry = 'tenancy.resource_types'::regclass AND p.resource_type = _registry_remove.name
    ORDER BY 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot unregister % "%" because table % is protected with it', what, name, user_role
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Call tenancy.unprotect() first.';
    END IF;
    EXECUTE format('DELETE FROM %s WHERE name = $1', registry) USING name;
END
$$;

CREATE FUNCTION tenancy.register_action(name text, description text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT tenancy._registry_add('tenancy.actions', 'action', name, description) $$;
COMMENT ON FUNCTION tenancy.register_action(text, text) IS
    'Registers an action; returns false when it was registered already.';

CREATE FUNCTION tenancy.register_resource_type(name text, description text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT tenancy._registry_add('tenancy.resource_types', 'resource type', name, description) $$;
COMMENT ON FUNCTION tenancy.register_resource_type(text, text) IS
    'Registers a resource type; returns false when it was registered already.';

CREATE FUNCTION tenancy.unregister_action(name text) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT tenancy._registry_remove('tenancy.actions', 'action', 2, name) $$;
COMMENT ON FUNCTION tenancy.unregister_action(text) IS
    'Unregisters an action that no role uses.';

CREATE FUNCTION tenancy.unregister_resource_type(name text) RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT tenancy._registry_remove('tenancy.resource_types', 'resource type', 1, name) $$;
COMMENT ON FUNCTION tenancy.unregister_resource_type(text) IS
    'Unregisters a resource type that no role and no protected table uses.';

-- Organizations --------------------------------------------------------------

CREATE FUNCTION tenancy.create_organization(slug text, name text DEFAULT NULL,
                                            admin uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    new_id uuid;
BEGIN
    PERFORM tenancy._check_slug(create_organization.slug, 'organization');
    IF create_organization.name IS NOT NULL THEN
        PERFORM tenancy._check_name(create_organization.name, 'organization');
    END IF;
    IF EXISTS (SELECT 1 FROM tenancy.organizations WHERE slug = create_organization.slug) THEN
        RAISE EXCEPTION 'organization "%" already exists', create_organization.slug
            USING ERRCODE = 'unique_violation';
    END IF;
    IF create_organization.admin IS NOT NULL THEN
        PERFORM tenancy._user(create_organization.admin);
    END IF;

    INSERT INTO tenancy.organizations (slug, name)
    VALUES (create_organization.slug,
            coalesce(create_organization.name, create_organization.slug))
    RETURNING id INTO new_id;

    IF create_organization.admin IS NOT NULL THEN
        INSERT INTO tenancy.memberships (org_id, user_id, role_id)
        VALUES (new_id, create_organization.admin, '00000000-0000-0000-0001-000000000001');
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION tenancy.create_organization(text, text, uuid) IS
    'Creates an organization, optionally with its first admin; returns its id.';

CREATE FUNCTION tenancy.rename_organization(org uuid, name text, slug text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(rename_organization.org);
BEGIN
    PERFORM tenancy._check_name(rename_organization.name, 'organization');
    IF rename_organization.slug IS NOT NULL THEN
        PERFORM tenancy._check_slug(rename_organization.slug, 'organization');
        IF EXISTS (SELECT 1 FROM tenancy.organizations
                   WHERE slug = rename_organization.slug AND id <> o.id) THEN
            RAISE EXCEPTION 'organization "%" already exists', rename_organization.slug
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    UPDATE tenancy.organizations
    SET name = rename_organization.name,
        slug = coalesce(rename_organization.slug, slug)
    WHERE id = o.id;
END
$$;

CREATE FUNCTION tenancy.delete_organization(org uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(delete_organization.org);
BEGIN
    DELETE FROM tenancy.organizations WHERE id = o.id;
END
$$;
COMMENT ON FUNCTION tenancy.delete_organization(uuid) IS
    'Deletes an organization with its tenants, teams, memberships, custom roles and assignments.';

-- Tenants --------------------------------------------------------------------

CREATE FUNCTION tenancy.create_tenant(org uuid, slug text, name text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(create_tenant.org);
    new_id uuid;
BEGIN
    PERFORM tenancy._check_slug(create_tenant.slug, 'tenant');
    IF create_tenant.name IS NOT NULL THEN
        PERFORM tenancy._check_name(create_tenant.name, 'tenant');
    END IF;
    IF EXISTS (SELECT 1 FROM tenancy.tenants
               WHERE org_id = o.id AND slug = create_tenant.slug) THEN
        RAISE EXCEPTION 'tenant "%" already exists in organization "%"', create_tenant.slug, o.slug
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO tenancy.tenants (org_id, slug, name)
    VALUES (o.id, create_tenant.slug, coalesce(create_tenant.name, create_tenant.slug))
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION tenancy.create_tenant(uuid, text, text) IS
    'Creates a tenant in an organization; returns its id.';

CREATE FUNCTION tenancy.rename_tenant(tenant uuid, name text, slug text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.tenants := tenancy._tenant(rename_tenant.tenant);
BEGIN
    PERFORM tenancy._check_name(rename_tenant.name, 'tenant');
    IF rename_tenant.slug IS NOT NULL THEN
        PERFORM tenancy._check_slug(rename_tenant.slug, 'tenant');
        IF EXISTS (SELECT 1 FROM tenancy.tenants
                   WHERE org_id = t.org_id AND slug = rename_tenant.slug AND id <> t.id) THEN
            RAISE EXCEPTION 'tenant "%" already exists in organization "%"', rename_tenant.slug,
                            (tenancy._org(t.org_id)).slug
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    UPDATE tenancy.tenants
    SET name = rename_tenant.name, slug = coalesce(rename_tenant.slug, slug)
    WHERE id = t.id;
END
$$;

CREATE FUNCTION tenancy.delete_tenant(tenant uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.tenants := tenancy._tenant(delete_tenant.tenant);
BEGIN
    DELETE FROM tenancy.tenants WHERE id = t.id;
END
$$;
COMMENT ON FUNCTION tenancy.delete_tenant(uuid) IS
    'Deletes a tenant and every assignment on it.';

-- Users ----------------------------------------------------------------------

CREATE FUNCTION tenancy.create_user(email text, display_name text DEFAULT NULL,
                                    kind text DEFAULT 'user')
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    new_id uuid;
BEGIN
    PERFORM tenancy._check_email(create_user.email);
    PERFORM tenancy._not_null(create_user.kind, 'user kind');
    IF create_user.kind NOT IN ('user', 'service_account') THEN
        RAISE EXCEPTION 'invalid user kind "%"', create_user.kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kind is "user" or "service_account".';
    END IF;
    IF EXISTS (SELECT 1 FROM tenancy.users WHERE lower(email) = lower(create_user.email)) THEN
        RAISE EXCEPTION 'a user with e-mail address "%" already exists', create_user.email
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO tenancy.users (email, display_name, kind)
    VALUES (create_user.email, create_user.display_name, create_user.kind)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION tenancy.create_user(text, text, text) IS
    'Creates a user or service account; returns its id.';

CREATE FUNCTION tenancy.rename_user(user_id uuid, display_name text, email text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u tenancy.users := tenancy._user(rename_user.user_id);
BEGIN
    IF rename_user.email IS NOT NULL THEN
        PERFORM tenancy._check_email(rename_user.email);
        IF EXISTS (SELECT 1 FROM tenancy.users
                   WHERE lower(email) = lower(rename_user.email) AND id <> u.id) THEN
            RAISE EXCEPTION 'a user with e-mail address "%" already exists', rename_user.email
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    UPDATE tenancy.users
    SET display_name = rename_user.display_name,
        email = coalesce(rename_user.email, email)
    WHERE id = u.id;
END
$$;

CREATE FUNCTION tenancy.delete_user(user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u tenancy.users := tenancy._user(delete_user.user_id);
BEGIN
    DELETE FROM tenancy.users WHERE id = u.id;
END
$$;
COMMENT ON FUNCTION tenancy.delete_user(uuid) IS
    'Deletes a user with all their memberships; fails for the last active admin of an organization.';

CREATE FUNCTION tenancy.deactivate_user(user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u tenancy.users := tenancy._user(deactivate_user.user_id);
BEGIN
    UPDATE tenancy.users SET active = false WHERE id = u.id AND active;
END
$$;
COMMENT ON FUNCTION tenancy.deactivate_user(uuid) IS
    'Deactivates a user: they are allowed nothing until reactivated, and keep their grants.';

CREATE FUNCTION tenancy.reactivate_user(user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u tenancy.users := tenancy._user(reactivate_user.user_id);
BEGIN
    UPDATE tenancy.users SET active = true WHERE id = u.id AND NOT active;
END
$$;

-- Members ----------------------------------------------------------------------

CREATE FUNCTION tenancy.add_member(org uuid, user_id uuid, role text DEFAULT 'member',
                                   expires_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(add_member.org);
    u tenancy.users := tenancy._user(add_member.user_id);
    r tenancy.roles := tenancy._role(o.id, add_member.role, 'organization');
BEGIN
    PERFORM tenancy._check_expiry(add_member.expires_at);
    IF EXISTS (SELECT 1 FROM tenancy.memberships WHERE org_id = o.id AND user_id = u.id) THEN
        RAISE EXCEPTION 'user "%" is already a member of organization "%"', u.email, o.slug
            USING ERRCODE = 'unique_violation',
                  HINT = 'Use tenancy.set_member_role() to change their role.';
    END IF;
    INSERT INTO tenancy.memberships (org_id, user_id, role_id, expires_at)
    VALUES (o.id, u.id, r.id, add_member.expires_at);
END
$$;
COMMENT ON FUNCTION tenancy.add_member(uuid, uuid, text, timestamptz) IS
    'Makes a user a member of an organization with an organization-scope role.';

CREATE FUNCTION tenancy.set_member_role(org uuid, user_id uuid, role text,
                                        expires_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(set_member_role.org);
    u tenancy.users := tenancy._user(set_member_role.user_id);
    r tenancy.roles := tenancy._role(o.id, set_member_role.role, 'organization');
BEGIN
    PERFORM tenancy._check_expiry(set_member_role.expires_at);
    PERFORM tenancy._require_member(o.id, u.id);
    UPDATE tenancy.memberships
    SET role_id = r.id, expires_at = set_member_role.expires_at
    WHERE org_id = o.id AND user_id = u.id;
END
$$;
COMMENT ON FUNCTION tenancy.set_member_role(uuid, uuid, text, timestamptz) IS
    'Changes a member''s organization-scope role (and its expiry).';

CREATE FUNCTION tenancy.remove_member(org uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(remove_member.org);
    u tenancy.users := tenancy._user(remove_member.user_id);
BEGIN
    PERFORM tenancy._require_member(o.id, u.id);
    DELETE FROM tenancy.memberships WHERE org_id = o.id AND user_id = u.id;
END
$$;
COMMENT ON FUNCTION tenancy.remove_member(uuid, uuid) IS
    'Removes a member with their team memberships and tenant assignments in that organization.';

-- Teams ----------------------------------------------------------------------

CREATE FUNCTION tenancy.create_team(org uuid, name text) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(create_team.org);
    new_id uuid;
BEGIN
    PERFORM tenancy._check_name(create_team.name, 'team');
    IF EXISTS (SELECT 1 FROM tenancy.teams WHERE org_id = o.id AND name = create_team.name) THEN
        RAISE EXCEPTION 'team "%" already exists in organization "%"', create_team.name, o.slug
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO tenancy.teams (org_id, name) VALUES (o.id, create_team.name)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION tenancy.create_team(uuid, text) IS
    'Creates a team in an organization; returns its id.';

CREATE FUNCTION tenancy.rename_team(team uuid, name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.teams := tenancy._team(rename_team.team);
BEGIN
    PERFORM tenancy._check_name(rename_team.name, 'team');
    IF EXISTS (SELECT 1 FROM tenancy.teams
               WHERE org_id = t.org_id AND name = rename_team.name AND id <> t.id) THEN
        RAISE EXCEPTION 'team "%" already exists in organization "%"', rename_team.name,
                        (tenancy._org(t.org_id)).slug
            USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE tenancy.teams SET name = rename_team.name WHERE id = t.id;
END
$$;

CREATE FUNCTION tenancy.delete_team(team uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.teams := tenancy._team(delete_team.team);
BEGIN
    DELETE FROM tenancy.teams WHERE id = t.id;
END
$$;
COMMENT ON FUNCTION tenancy.delete_team(uuid) IS
    'Deletes a team with its memberships and assignments.';

CREATE FUNCTION tenancy.add_team_member(team uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.teams := tenancy._team(add_team_member.team);
    u tenancy.users := tenancy._user(add_team_member.user_id);
BEGIN
    PERFORM tenancy._require_member(t.org_id, u.id);
    IF EXISTS (SELECT 1 FROM tenancy.team_members WHERE team_id = t.id AND user_id = u.id) THEN
        RAISE EXCEPTION 'user "%" is already a member of team "%"', u.email, t.name
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO tenancy.team_members (team_id, org_id, user_id) VALUES (t.id, t.org_id, u.id);
END
$$;
COMMENT ON FUNCTION tenancy.add_team_member(uuid, uuid) IS
    'Adds a member of the team''s organization to the team.';

CREATE FUNCTION tenancy.remove_team_member(team uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.teams := tenancy._team(remove_team_member.team);
    u tenancy.users := tenancy._user(remove_team_member.user_id);
BEGIN
    DELETE FROM tenancy.team_members WHERE team_id = t.id AND user_id = u.id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user "%" is not a member of team "%"', u.email, t.name
            USING ERRCODE = 'foreign_key_violation';
    END IF;
END
$$;

-- Custom roles ---------------------------------------------------------------

CREATE FUNCTION tenancy._check_scope(scope text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._not_null(scope, 'scope');
    IF scope NOT IN ('organization', 'tenant') THEN
        RAISE EXCEPTION 'invalid role scope "%"', scope
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The scope is "organization" or "tenant".';
    END IF;
END
$$;

CREATE FUNCTION tenancy._check_role_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._not_null(name, 'role name');
    IF name !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid role name "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A role name is 1 to 63 lower-case letters, digits and underscores, and starts with a letter.';
    END IF;
END
$$;

CREATE FUNCTION tenancy.create_role(org uuid, name text, scope text,
                                    permissions tenancy.permset DEFAULT '{}',
                                    base_role text DEFAULT NULL,
                                    description text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    o tenancy.organizations := tenancy._org(create_role.org);
    base_id uuid;
    new_id uuid;
BEGIN
    PERFORM tenancy._check_role_name(create_role.name);
    PERFORM tenancy._check_scope(create_role.scope);
    PERFORM tenancy._check_registered(create_role.permissions);
    IF EXISTS (SELECT 1 FROM tenancy.roles
               WHERE name = create_role.name AND scope = create_role.scope
                 AND (org_id IS NULL OR org_id = o.id)) THEN
        RAISE EXCEPTION '% role "%" already exists in organization "%"',
                        create_role.scope, create_role.name, o.slug
            USING ERRCODE = 'unique_violation';
    END IF;
    IF create_role.base_role IS NOT NULL THEN
        SELECT id INTO base_id FROM tenancy.roles
        WHERE org_id IS NULL AND name = create_role.base_role AND scope = create_role.scope;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'built-in % role "%" does not exist', create_role.scope, create_role.base_role
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'A custom role can start only from a built-in role of its own scope.';
        END IF;
    END IF;
    INSERT INTO tenancy.roles (org_id, name, scope, permissions, base_role_id, description)
    VALUES (o.id, create_role.name, create_role.scope, create_role.permissions,
            base_id, create_role.description)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION tenancy.create_role(uuid, text, text, tenancy.permset, text, text) IS
    'Creates a custom role of an organization from a permission set, optionally starting from a built-in role; returns its id.';

CREATE FUNCTION tenancy._custom_role(role_id uuid) RETURNS tenancy.roles
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r tenancy.roles;
BEGIN
    PERFORM tenancy._not_null(_custom_role.role_id, 'role');
    SELECT * INTO r FROM tenancy.roles WHERE id = _custom_role.role_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'role "%" does not exist', _custom_role.role_id
            USING ERRCODE = 'foreign_key_violation';
    ELSIF r.org_id IS NULL THEN
        RAISE EXCEPTION 'built-in role "%" cannot be changed', r.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN r;
END
$$;

CREATE FUNCTION tenancy.alter_role(role_id uuid, permissions tenancy.permset,
                                   description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r tenancy.roles := tenancy._custom_role(alter_role.role_id);
BEGIN
    PERFORM tenancy._check_registered(alter_role.permissions);
    UPDATE tenancy.roles
    SET permissions = alter_role.permissions,
        description = coalesce(alter_role.description, description)
    WHERE id = r.id;
END
$$;
COMMENT ON FUNCTION tenancy.alter_role(uuid, tenancy.permset, text) IS
    'Replaces a custom role''s permission set (its base role''s permissions stay included).';

CREATE FUNCTION tenancy.rename_role(role_id uuid, name text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r tenancy.roles := tenancy._custom_role(rename_role.role_id);
BEGIN
    PERFORM tenancy._check_role_name(rename_role.name);
    IF EXISTS (SELECT 1 FROM tenancy.roles
               WHERE name = rename_role.name AND scope = r.scope
                 AND (org_id IS NULL OR org_id = r.org_id) AND id <> r.id) THEN
        RAISE EXCEPTION '% role "%" already exists in organization "%"',
                        r.scope, rename_role.name, (tenancy._org(r.org_id)).slug
            USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE tenancy.roles SET name = rename_role.name WHERE id = r.id;
END
$$;

CREATE FUNCTION tenancy.drop_role(role_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    r tenancy.roles := tenancy._custom_role(drop_role.role_id);
BEGIN
    DELETE FROM tenancy.roles WHERE id = r.id;
END
$$;
COMMENT ON FUNCTION tenancy.drop_role(uuid) IS
    'Drops a custom role; its assignments go with it, and members who held it fall back to "member".';

-- Role assignments -----------------------------------------------------------

-- Where an assignment goes: the organization and scope named by tenant/org,
-- and the principal named by user_id/team_id, all checked.
CREATE FUNCTION tenancy._grant_target(tenant uuid, org uuid, user_id uuid, team_id uuid,
                                      OUT org_id uuid, OUT scope text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    t tenancy.tenants;
    tm tenancy.teams;
BEGIN
    IF num_nonnulls(_grant_target.user_id, _grant_target.team_id) <> 1 THEN
        RAISE EXCEPTION 'exactly one of user_id and team_id must be given'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF _grant_target.tenant IS NOT NULL THEN
        t := tenancy._tenant(_grant_target.tenant);
        IF _grant_target.org IS NOT NULL AND _grant_target.org <> t.org_id THEN
            RAISE EXCEPTION 'tenant "%" does not belong to organization "%"', t.slug,
                            (tenancy._org(_grant_target.org)).slug
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        org_id := t.org_id;
        scope := 'tenant';
    ELSIF _grant_target.org IS NOT NULL THEN
        org_id := (tenancy._org(_grant_target.org)).id;
        scope := 'organization';
    ELSE
        RAISE EXCEPTION 'either tenant or org must be given'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    IF _grant_target.user_id IS NOT NULL THEN
        PERFORM tenancy._user(_grant_target.user_id);
        IF scope = 'tenant' THEN
            PERFORM tenancy._require_member(org_id, _grant_target.user_id);
        END IF;
    ELSE
        tm := tenancy._team(_grant_target.team_id);
        IF tm.org_id <> org_id THEN
            RAISE EXCEPTION 'team "%" belongs to another organization', tm.name
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
END
$$;

CREATE FUNCTION tenancy.assign_role(role text,
                                    tenant uuid DEFAULT NULL,
                                    user_id uuid DEFAULT NULL,
                                    team_id uuid DEFAULT NULL,
                                    org uuid DEFAULT NULL,
                                    expires_at timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    target record := tenancy._grant_target(assign_role.tenant, assign_role.org,
                                           assign_role.user_id, assign_role.team_id);
    r tenancy.roles := tenancy._role(target.org_id, assign_role.role, target.scope);
BEGIN
    PERFORM tenancy._check_expiry(assign_role.expires_at);

    IF target.scope = 'organization' AND assign_role.user_id IS NOT NULL THEN
        -- A user's organization-scope role is their membership.
        INSERT INTO tenancy.memberships (org_id, user_id, role_id, expires_at)
        VALUES (target.org_id, assign_role.user_id, r.id, assign_role.expires_at)
        ON CONFLICT (org_id, user_id)
        DO UPDATE SET role_id = EXCLUDED.role_id, expires_at = EXCLUDED.expires_at;
        RETURN;
    END IF;

    INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, user_id, team_id, expires_at)
    VALUES (target.org_id, r.id, assign_role.tenant, assign_role.user_id,
            assign_role.team_id, assign_role.expires_at)
    ON CONFLICT ON CONSTRAINT role_assignments_key
    DO UPDATE SET expires_at = EXCLUDED.expires_at;
END
$$;
COMMENT ON FUNCTION tenancy.assign_role(text, uuid, uuid, uuid, uuid, timestamptz) IS
    'Assigns a role to a user or team, on a tenant or (with org) on the organization; assigning again replaces the expiry.';

CREATE FUNCTION tenancy.revoke_role(role text,
                                    tenant uuid DEFAULT NULL,
                                    user_id uuid DEFAULT NULL,
                                    team_id uuid DEFAULT NULL,
                                    org uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    target record := tenancy._grant_target(revoke_role.tenant, revoke_role.org,
                                           revoke_role.user_id, revoke_role.team_id);
    r tenancy.roles := tenancy._role(target.org_id, revoke_role.role, target.scope);
BEGIN
    IF target.scope = 'organization' AND revoke_role.user_id IS NOT NULL THEN
        -- Without an organization role the user is no longer a member.
        DELETE FROM tenancy.memberships
        WHERE org_id = target.org_id AND user_id = revoke_role.user_id AND role_id = r.id;
        RETURN FOUND;
    END IF;

    -- Equalities, not IS NOT DISTINCT FROM, so that the principal's index
    -- finds the row: with millions of assignments, a revoke must not scan
    -- every holder of the role.
    IF revoke_role.user_id IS NOT NULL THEN
        DELETE FROM tenancy.role_assignments
        WHERE user_id = revoke_role.user_id AND tenant_id = revoke_role.tenant
          AND role_id = r.id;
    ELSIF revoke_role.tenant IS NOT NULL THEN
        DELETE FROM tenancy.role_assignments
        WHERE team_id = revoke_role.team_id AND tenant_id = revoke_role.tenant
          AND role_id = r.id;
    ELSE
        DELETE FROM tenancy.role_assignments
        WHERE team_id = revoke_role.team_id AND tenant_id IS NULL
          AND role_id = r.id;
    END IF;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION tenancy.revoke_role(text, uuid, uuid, uuid, uuid) IS
    'Revokes a role from a user or team; returns false when it was not assigned.  Revoking a user''s organization role removes them from the organization.';
-- ---------------------------------------------------------------------------
-- Decisions, resolved in C (src/resolve.c) under the caller's snapshot.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tenancy.permissions(user_id uuid, tenant uuid)
RETURNS tenancy.permset
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_permissions';
COMMENT ON FUNCTION tenancy.permissions(uuid, uuid) IS
    'The permission set a user holds on a tenant; empty for unknown, inactive or non-member users and unknown tenants.';

CREATE FUNCTION tenancy.has_permission(user_id uuid, tenant uuid, permission text)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_has_permission';
COMMENT ON FUNCTION tenancy.has_permission(uuid, uuid, text) IS
    'Whether a user holds a permission ("type:action") on a tenant; false for unknown users and tenants.';

-- owner_id has no default: a call with four arguments is the context
-- user's variant (src/sql/60_context.sql).
CREATE FUNCTION tenancy.has_resource_permission(user_id uuid, tenant uuid, permission text,
                                                resource_id text, owner_id uuid)
RETURNS boolean
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_has_resource_permission';
COMMENT ON FUNCTION tenancy.has_resource_permission(uuid, uuid, text, text, uuid) IS
    'Whether a user may act on one resource of a tenant: by a tenant-wide permission, as its owner (while holding any role in the tenant), or through a share to them or one of their teams.';
-- ---------------------------------------------------------------------------
-- The session context (src/context.c) and the functions that row-level
-- security policies call (src/policy.c).
--
-- Everything that reads the context is PARALLEL RESTRICTED: a parallel
-- worker cannot tell a context of this transaction from a stale one, so the
-- leader alone evaluates it.
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
    'Sets the context from a signed token (HS256 JWT) until the end of the transaction.';

CREATE FUNCTION tenancy.clear_context()
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'tenancy_clear_context';
COMMENT ON FUNCTION tenancy.clear_context() IS
    'Clears the context for the rest of the transaction.';

CREATE FUNCTION tenancy.current_user_id()
RETURNS uuid
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_current_user_id';
COMMENT ON FUNCTION tenancy.current_user_id() IS
    'The user of the current context, or NULL when none is set.';

CREATE FUNCTION tenancy.current_tenant_id()
RETURNS uuid
LANGUAGE C STABLE PARALLEL RESTRICTED
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
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_visible_tenants';
COMMENT ON FUNCTION tenancy.visible_tenants(text) IS
    'The tenants where the current context holds a permission (only the current tenant when one is set); empty without a context.';

CREATE FUNCTION tenancy.writable_tenants(permission text)
RETURNS uuid[]
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_writable_tenants';
COMMENT ON FUNCTION tenancy.writable_tenants(text) IS
    'As visible_tenants, but an error without a context: used by the write policies.';

CREATE FUNCTION tenancy.context_tenant(permission text)
RETURNS uuid
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
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
CREATE FUNCTION tenancy.shared_ids(permission text, id_type anyelement)
RETURNS anyarray
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_shared_ids';
COMMENT ON FUNCTION tenancy.shared_ids(text, anyelement) IS
    'The ids of the resources shared with the current user for a permission (in the current tenant when one is set), of the type of the second argument.';

CREATE FUNCTION tenancy.is_shared(tenant uuid, id anyelement, permission text)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_is_shared';
COMMENT ON FUNCTION tenancy.is_shared(uuid, anyelement, text) IS
    'Whether the resource with this id, in this tenant, is shared with the current user for a permission.';

CREATE FUNCTION tenancy.has_resource_permission(tenant uuid, permission text,
                                                resource_id text, owner_id uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_resource_permission_current';
COMMENT ON FUNCTION tenancy.has_resource_permission(uuid, text, text, uuid) IS
    'Whether the current user may act on one resource: by a tenant-wide permission, as its owner, or through a share; false without a context.';

-- Not STRICT: owner and id may be NULL (the table has no such column).
CREATE FUNCTION tenancy.resource_allows(tenant uuid, owner uuid, id anyelement,
                                        permission text, for_write boolean DEFAULT false)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_resource_allows_row';
COMMENT ON FUNCTION tenancy.resource_allows(uuid, uuid, anyelement, text, boolean) IS
    'A resource-level policy''s conditions (tenant-wide permission, owner, share) in one call per row; what the planner puts in place of the policy when the plan reads the current tenant''s rows.';
-- ---------------------------------------------------------------------------
-- tenancy.protect(): one call that puts a table under tenant isolation.
--
-- protect() runs with its caller's rights, so that PostgreSQL itself checks
-- that the caller owns the table (ALTER TABLE, CREATE POLICY).  The
-- bookkeeping it cannot do with those rights (the catalog of protected
-- tables, the resource type registry) goes through two SECURITY DEFINER
-- helpers that only ever record what they can verify: a table is recorded
-- as protected only if it carries pg_tenancy's policies, which only its
-- owner can have created, and forgotten only once it carries none.
-- ---------------------------------------------------------------------------

CREATE TABLE tenancy.protected_tables (
    relid           regclass PRIMARY KEY,
    tenant_column   name NOT NULL,
    resource_type   text NOT NULL REFERENCES tenancy.resource_types (name),
    -- With both, ownership and shares count on each row (SPEC section 4).
    owner_column    name,
    id_column       name,
    -- The protected partitioned table this partition was protected through.
    root            regclass,
    -- What protect() found, so that unprotect() puts it back.
    rls_was_enabled boolean NOT NULL,
    rls_was_forced  boolean NOT NULL,
    registered_type boolean NOT NULL,
    protected_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE tenancy.protected_tables IS
    'Tables under tenant isolation, with what protect() changed on each.';
-- Readable by all, so that protect() can run with its caller's rights.
GRANT SELECT ON tenancy.protected_tables TO PUBLIC;

-- The types an id column may have.  pg_tenancy's SECURITY DEFINER functions
-- read and convert ids (and tenant and owner columns) of application rows;
-- with a type of the application's own, its casts and input functions would
-- run with the extension owner's rights.  Built-in types only, no domains.
CREATE FUNCTION tenancy._is_id_type(t oid) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN t = ANY (ARRAY['int2', 'int4', 'int8', 'uuid', 'text', 'varchar']::regtype[]::oid[]);

-- The protection of a table as recorded, if its columns still have safe
-- types (a table owner can change a column's type after protect()).
CREATE FUNCTION tenancy._protection_checked(rel oid) RETURNS tenancy.protected_tables
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables;
BEGIN
    SELECT * INTO rec FROM tenancy.protected_tables p WHERE p.relid = rel;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = rel AND NOT a.attisdropped
                 AND ((a.attname = rec.tenant_column AND a.atttypid <> 'uuid'::regtype)
                      OR (a.attname = rec.owner_column AND a.atttypid <> 'uuid'::regtype)
                      OR (a.attname = rec.id_column AND NOT tenancy._is_id_type(a.atttypid)))) THEN
        RAISE EXCEPTION 'a column of protected table % has changed type', rel::regclass
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Call tenancy.unprotect() and tenancy.protect() again.';
    END IF;
    RETURN rec;
END
$$;

-- The policies on one table, for one tenant column and resource type, and
-- optionally its owner and id columns.  Every operator and function is
-- schema-qualified: no search_path can change what a policy calls.
--
-- With owner and id columns, a row is allowed by the tenant-wide
-- permission, or to its owner while they hold any role in the tenant, or
-- through a share of that very row:
--
--   tenant_id = ANY (tenancy.visible_tenants('doc:read'))
--   OR (owner_id = tenancy.current_user_id()
--       AND tenant_id = ANY (tenancy.role_tenants()))
--   OR (id = ANY (tenancy.shared_ids('doc:read', NULL::bigint))
--       AND tenancy.is_shared(tenant_id, id, 'doc:read'))
--
-- Each arm is indexable on its own (tenant, owner and id indexes), and every
-- function is computed once per statement.  The C code (policy.c) relies on
-- the tenant condition being the first arm.
CREATE FUNCTION tenancy._apply_protection(rel regclass, tenant_column name,
                                          resource_type text,
                                          owner_column name DEFAULT NULL,
                                          id_column name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    cond text;
    perm text;
    id_type text;
BEGIN
    IF id_column IS NOT NULL THEN
        SELECT format_type(a.atttypid, NULL) INTO id_type
        FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = id_column;
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', rel);
    FOR p IN
        SELECT * FROM (VALUES
            ('tenancy_select', 'SELECT', 'visible_tenants',  'read',   true,  false),
            ('tenancy_insert', 'INSERT', 'writable_tenants', 'create', false, true),
            ('tenancy_update', 'UPDATE', 'writable_tenants', 'update', true,  true),
            ('tenancy_delete', 'DELETE', 'writable_tenants', 'delete', true,  false))
            AS v(name, command, fn, action, has_using, has_check)
    LOOP
        perm := resource_type || ':' || p.action;
        cond := format('%I OPERATOR(pg_catalog.=) ANY (tenancy.%s(%L::text))',
                       tenant_column, p.fn, perm);
        -- Creating a row needs the tenant-wide permission; the rest may also
        -- come from owning the row or from a share of it.
        IF p.command <> 'INSERT' AND owner_column IS NOT NULL THEN
            cond := cond || format(' OR (%I OPERATOR(pg_catalog.=) tenancy.current_user_id()'
                                   ' AND %I OPERATOR(pg_catalog.=) ANY (tenancy.role_tenants()))',
                                   owner_column, tenant_column);
        END IF;
        IF p.command <> 'INSERT' AND id_column IS NOT NULL THEN
            cond := cond || format(' OR (%I OPERATOR(pg_catalog.=) ANY (tenancy.shared_ids(%L::text, NULL::%s))'
                                   ' AND tenancy.is_shared(%I, %I, %L::text))',
                                   id_column, perm, id_type, tenant_column, id_column, perm);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = rel AND polname = p.name) THEN
            EXECUTE format('DROP POLICY %I ON %s', p.name, rel);
        END IF;
        EXECUTE format('CREATE POLICY %I ON %s AS PERMISSIVE FOR %s TO PUBLIC%s%s',
                       p.name, rel, p.command,
                       CASE WHEN p.has_using THEN format(' USING (%s)', cond) ELSE '' END,
                       CASE WHEN p.has_check THEN format(' WITH CHECK (%s)', cond) ELSE '' END);
    END LOOP;
END
$$;

CREATE FUNCTION tenancy._has_protection_policies(rel regclass, tenant_column name,
                                                 resource_type text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) = 4
    FROM pg_policy p
    CROSS JOIN LATERAL coalesce(pg_get_expr(p.polqual, p.polrelid),
                                pg_get_expr(p.polwithcheck, p.polrelid)) AS e(expr)
    WHERE p.polrelid = rel
      AND p.polname IN ('tenancy_select', 'tenancy_insert', 'tenancy_update', 'tenancy_delete')
      AND position(quote_ident(tenant_column) || ' = ANY (tenancy.' IN e.expr) > 0
      AND position('_tenants(''' || resource_type || ':' IN e.expr) > 0
$$;

CREATE FUNCTION tenancy._record_protection(rel regclass, tenant_column name,
                                           resource_type text, root regclass,
                                           rls_was_enabled boolean,
                                           rls_was_forced boolean,
                                           owner_column name DEFAULT NULL,
                                           id_column name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    newly boolean;
BEGIN
    IF NOT tenancy._has_protection_policies(rel, tenant_column, resource_type) THEN
        RAISE EXCEPTION 'table % does not carry pg_tenancy''s policies', rel
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- A partition is recorded under a protected ancestor, with its settings.
    IF root IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM tenancy.protected_tables t
           WHERE t.relid = root AND t.root IS NULL
             AND t.relid IN (SELECT a.relid FROM pg_partition_ancestors(rel) a WHERE a.relid <> rel)
             AND t.tenant_column = tenant_column AND t.resource_type = resource_type
             AND t.owner_column IS NOT DISTINCT FROM owner_column
             AND t.id_column IS NOT DISTINCT FROM id_column) THEN
        RAISE EXCEPTION 'table % is not a partition of the protected table %', rel, root
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- Shares name a resource by its type and id: one table (with its
    -- partitions) per resource type that has ids.
    IF id_column IS NOT NULL AND root IS NULL AND EXISTS (
           SELECT 1 FROM tenancy.protected_tables t
           WHERE t.resource_type = resource_type AND t.relid <> rel AND t.root IS NULL
             AND t.id_column IS NOT NULL) THEN
        RAISE EXCEPTION 'resource type "%" already names the resources of another table', resource_type
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Give this table its own type with resource_type => ''...''.';
    END IF;
    newly := tenancy.register_resource_type(resource_type);
    INSERT INTO tenancy.protected_tables AS t
        (relid, tenant_column, resource_type, owner_column, id_column, root,
         rls_was_enabled, rls_was_forced, registered_type)
    VALUES (rel, tenant_column, resource_type, owner_column, id_column, root,
            rls_was_enabled, rls_was_forced, newly)
    ON CONFLICT (relid) DO NOTHING;
END
$$;

CREATE FUNCTION tenancy._forget_protection(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_policy
               WHERE polrelid = rel
                 AND polname IN ('tenancy_select', 'tenancy_insert', 'tenancy_update', 'tenancy_delete')) THEN
        RAISE EXCEPTION 'table % still carries pg_tenancy''s policies', rel
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    DELETE FROM tenancy.protected_tables WHERE relid = rel RETURNING * INTO rec;
    -- A type that protect() registered goes when nothing uses it any more.
    IF rec.registered_type
       AND NOT EXISTS (SELECT 1 FROM tenancy.protected_tables WHERE resource_type = rec.resource_type)
       AND NOT EXISTS (SELECT 1 FROM tenancy.shares WHERE resource_type = rec.resource_type)
       AND NOT EXISTS (SELECT 1 FROM tenancy.roles r, tenancy.permset_elements(r.permissions) e
                       WHERE split_part(e, ':', 1) = rec.resource_type) THEN
        DELETE FROM tenancy.resource_types WHERE name = rec.resource_type AND NOT builtin;
    END IF;
END
$$;

CREATE FUNCTION tenancy.protect(tbl regclass, tenant_column name DEFAULT 'tenant_id',
                                resource_type text DEFAULT NULL,
                                owner_column name DEFAULT NULL,
                                id_column name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rel pg_class;
    col pg_attribute;
    other pg_attribute;
    rtype text;
    existing tenancy.protected_tables;
    part regclass;
BEGIN
    PERFORM tenancy._not_null(tbl, 'table');
    PERFORM tenancy._not_null(tenant_column, 'tenant column');
    SELECT * INTO rel FROM pg_class WHERE oid = tbl;
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot protect "%"', tbl
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'Only tables and partitioned tables can be protected.';
    END IF;
    SELECT * INTO col FROM pg_attribute
    WHERE attrelid = tbl AND attname = tenant_column AND attnum > 0 AND NOT attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', tenant_column, tbl
            USING ERRCODE = 'undefined_column',
                  HINT = 'Name the tenant column with tenant_column => ''...''.';
    END IF;
    IF col.atttypid <> 'uuid'::regtype THEN
        RAISE EXCEPTION 'tenant column "%" of relation % must be of type uuid, not %',
                        tenant_column, tbl, format_type(col.atttypid, NULL)
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF owner_column IS NOT NULL THEN
        SELECT * INTO other FROM pg_attribute
        WHERE attrelid = tbl AND attname = owner_column AND attnum > 0 AND NOT attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', owner_column, tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        IF other.atttypid <> 'uuid'::regtype THEN
            RAISE EXCEPTION 'owner column "%" of relation % must be of type uuid, not %',
                            owner_column, tbl, format_type(other.atttypid, NULL)
                USING ERRCODE = 'datatype_mismatch';
        END IF;
    END IF;
    IF id_column IS NOT NULL THEN
        SELECT * INTO other FROM pg_attribute
        WHERE attrelid = tbl AND attname = id_column AND attnum > 0 AND NOT attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', id_column, tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        IF NOT tenancy._is_id_type(other.atttypid) THEN
            RAISE EXCEPTION 'id column "%" of relation % must be of type smallint, integer, bigint, uuid, text or varchar, not %',
                            id_column, tbl, format_type(other.atttypid, other.atttypmod)
                USING ERRCODE = 'datatype_mismatch';
        END IF;
        -- A share names one row: the id must be unique, alone or per tenant.
        IF NOT EXISTS (
               SELECT 1 FROM pg_index i
               WHERE i.indrelid = tbl AND i.indisunique AND i.indpred IS NULL
                 AND i.indexprs IS NULL
                 AND other.attnum = ANY (i.indkey::int2[])
                 AND (i.indnatts = 1
                      OR (i.indnatts = 2 AND col.attnum = ANY (i.indkey::int2[])))) THEN
            RAISE EXCEPTION 'id column "%" of relation % is not unique', id_column, tbl
                USING ERRCODE = 'invalid_object_definition',
                      DETAIL = 'A share names one row by its id.',
                      HINT = format('Add a primary key or a unique index on (%I) or (%I, %I).',
                                    id_column, tenant_column, id_column);
        END IF;
    END IF;
    rtype := coalesce(resource_type, rel.relname);
    IF rtype !~ '^[a-z_][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION 'invalid resource type name "%"', rtype
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the resource type with resource_type => ''...'' (lower-case letters, digits and underscores).';
    END IF;

    SELECT * INTO existing FROM tenancy.protected_tables WHERE relid = tbl;
    IF FOUND AND (existing.tenant_column <> tenant_column OR existing.resource_type <> rtype
                  OR existing.owner_column IS DISTINCT FROM owner_column
                  OR existing.id_column IS DISTINCT FROM id_column) THEN
        RAISE EXCEPTION 'table % is already protected with tenant column "%", resource type "%", owner column % and id column %',
                        tbl, existing.tenant_column, existing.resource_type,
                        coalesce(quote_ident(existing.owner_column), 'none'),
                        coalesce(quote_ident(existing.id_column), 'none')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Call tenancy.unprotect() first.';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indrelid = tbl AND i.indkey[0] = col.attnum AND i.indpred IS NULL) THEN
        RAISE WARNING 'no index of % has "%" as its leading column', tbl, tenant_column
            USING DETAIL = 'Every query on a protected table filters on the tenant column.',
                  HINT = format('CREATE INDEX ON %s (%I);', tbl, tenant_column);
    END IF;

    -- The table, then (for a partitioned table) every partition under it.
    -- A table already protected keeps its policies as they are.
    IF existing.relid IS NULL
       OR NOT tenancy._has_protection_policies(tbl, tenant_column, rtype) THEN
        PERFORM tenancy._apply_protection(tbl, tenant_column, rtype, owner_column, id_column);
    END IF;
    PERFORM tenancy._record_protection(tbl, tenant_column, rtype, existing.root,
                                       coalesce(existing.rls_was_enabled, rel.relrowsecurity),
                                       coalesce(existing.rls_was_forced, rel.relforcerowsecurity),
                                       owner_column, id_column);
    -- Shares of a row end with the row (or when it changes id or tenant).
    -- Row triggers on a partitioned table reach every partition by
    -- themselves; TRUNCATE is caught on each table (_protect_partition).
    IF (id_column IS NOT NULL OR owner_column IS NOT NULL) AND existing.root IS NULL THEN
        PERFORM tenancy._add_resource_triggers(tbl);
    END IF;
    FOR part IN
        SELECT t.relid FROM pg_partition_tree(tbl) t
        WHERE t.relid <> tbl
          AND NOT EXISTS (SELECT 1 FROM tenancy.protected_tables p WHERE p.relid = t.relid)
    LOOP
        PERFORM tenancy._protect_partition(part, tbl, tenant_column, rtype,
                                           owner_column, id_column);
    END LOOP;
END
$$;
COMMENT ON FUNCTION tenancy.protect(regclass, name, text, name, name) IS
    'Puts a table (and every partition, now and later) under tenant isolation with forced row-level security, counting ownership and shares when given owner and id columns; idempotent.';

-- The triggers of a table protected with owner or id columns.  The trigger
-- functions are not executable by PUBLIC (so that nobody attaches them to a
-- table of their own); this SECURITY DEFINER helper adds them, only to a
-- table recorded as protected (which only its owner can have done), and
-- only those its protection calls for.  On a partitioned table the row
-- triggers reach every partition by themselves; TRUNCATE is caught on each
-- table.
CREATE FUNCTION tenancy._add_resource_triggers(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables := tenancy._protection_checked(tbl);
BEGIN
    IF rec.relid IS NULL THEN
        RAISE EXCEPTION 'table % is not protected', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- The update triggers fire only for the rows whose columns that matter
    -- change: an ordinary UPDATE pays nothing for them.
    IF rec.root IS NULL AND rec.id_column IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tenancy_forget_shares') THEN
        EXECUTE format('CREATE TRIGGER tenancy_forget_shares AFTER DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tenancy._forget_shares()', tbl);
        EXECUTE format('CREATE TRIGGER tenancy_forget_shares_update AFTER UPDATE ON %s FOR EACH ROW'
                       ' WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I OR OLD.%3$I IS DISTINCT FROM NEW.%3$I)'
                       ' EXECUTE FUNCTION tenancy._forget_shares()',
                       tbl, rec.id_column, rec.tenant_column);
    END IF;
    IF rec.root IS NULL AND rec.owner_column IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tenancy_guard_update') THEN
        EXECUTE format('CREATE TRIGGER tenancy_guard_update BEFORE UPDATE ON %s FOR EACH ROW'
                       ' WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I OR OLD.%3$I IS DISTINCT FROM NEW.%3$I)'
                       ' EXECUTE FUNCTION tenancy._guard_resource_update()',
                       tbl, rec.owner_column, rec.tenant_column);
    END IF;
    IF rec.id_column IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tenancy_forget_shares_truncate') THEN
        EXECUTE format('CREATE TRIGGER tenancy_forget_shares_truncate AFTER TRUNCATE ON %s'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION tenancy._forget_shares()', tbl);
    END IF;
END
$$;

-- On a table protected with an owner column: taking a row from its owner
-- needs the tenant-wide "update" (the owner may give it away), and moving a
-- row into another tenant needs "create" there; without this, a share for
-- "update" would let its recipient make the row theirs, and an owner could
-- carry a row into a tenant where they may only read.  Without a context
-- only roles that bypass row-level security get here: they may.
CREATE FUNCTION tenancy._guard_resource_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables;
    me uuid := tenancy.current_user_id();
    old_owner uuid;
    new_owner uuid;
    old_tenant uuid;
    new_tenant uuid;
BEGIN
    IF me IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT * INTO rec FROM tenancy.protected_tables WHERE relid = TG_RELID;
    IF NOT FOUND OR rec.owner_column IS NULL THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT ($1).%I, ($2).%I, ($1).%I, ($2).%I',
                   rec.owner_column, rec.owner_column, rec.tenant_column, rec.tenant_column)
        INTO old_owner, new_owner, old_tenant, new_tenant USING OLD, NEW;
    IF new_owner IS DISTINCT FROM old_owner AND old_owner IS DISTINCT FROM me
       AND NOT tenancy.has_permission(old_tenant, rec.resource_type || ':update') THEN
        RAISE EXCEPTION 'permission denied to change the owner of a row of %', TG_RELID::regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Taking a row from its owner needs "%s:update" on its tenant.', rec.resource_type);
    END IF;
    IF new_tenant IS DISTINCT FROM old_tenant
       AND NOT tenancy.has_permission(new_tenant, rec.resource_type || ':create') THEN
        RAISE EXCEPTION 'permission denied to move a row of % into another tenant', TG_RELID::regclass
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Moving a row into a tenant needs "%s:create" there.', rec.resource_type);
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION tenancy._protect_partition(part regclass, root regclass,
                                           tenant_column name, resource_type text,
                                           owner_column name DEFAULT NULL,
                                           id_column name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel pg_class;
BEGIN
    SELECT * INTO rel FROM pg_class WHERE oid = part;
    PERFORM tenancy._apply_protection(part, tenant_column, resource_type, owner_column, id_column);
    PERFORM tenancy._record_protection(part, tenant_column, resource_type, root,
                                       rel.relrowsecurity, rel.relforcerowsecurity,
                                       owner_column, id_column);
    IF id_column IS NOT NULL THEN
        PERFORM tenancy._add_resource_triggers(part);
    END IF;
END
$$;

-- Deletes the shares of a resource type whose rows are no longer in the
-- protected table root (after a TRUNCATE, or a partition dropped).  Only
-- for a table whose columns have safe types (see _protection_checked).
CREATE FUNCTION tenancy._forget_missing_shares(root regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables := tenancy._protection_checked(root);
BEGIN
    IF rec.relid IS NULL OR rec.id_column IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('DELETE FROM tenancy.shares s WHERE s.resource_type = $1
                      AND NOT EXISTS (SELECT 1 FROM %s r
                                      WHERE r.%I::text = s.resource_id AND r.%I = s.tenant_id)',
                   rec.relid, rec.id_column, rec.tenant_column)
    USING rec.resource_type;
END
$$;

-- The rows a share names are gone (DELETE, TRUNCATE) or are no longer the
-- same resource (a new id or tenant: the UPDATE trigger's WHEN clause): their
-- shares go too.  It acts only for
-- a table recorded as protected, with that table's own resource type, so a
-- trigger on some other table cannot reach another type's shares.
CREATE FUNCTION tenancy._forget_shares() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables;
    old_id text;
    old_tenant uuid;
BEGIN
    rec := tenancy._protection_checked(TG_RELID);
    IF rec.relid IS NULL OR rec.id_column IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM tenancy._forget_missing_shares(coalesce(rec.root, rec.relid));
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT ($1).%I::text, ($1).%I', rec.id_column, rec.tenant_column)
        INTO old_id, old_tenant USING OLD;
    DELETE FROM tenancy.shares
    WHERE resource_type = rec.resource_type AND resource_id = old_id AND tenant_id = old_tenant;
    RETURN NULL;
END
$$;

CREATE FUNCTION tenancy.unprotect(tbl regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables;
    part regclass;
    pol name;
BEGIN
    PERFORM tenancy._not_null(tbl, 'table');
    SELECT * INTO rec FROM tenancy.protected_tables WHERE relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not protected', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- Partitions first, so that the table is forgotten last, with the
    -- resource type it registered once nothing uses that type any more.
    FOR part IN SELECT relid FROM tenancy.protected_tables WHERE root = tbl LOOP
        PERFORM tenancy.unprotect(part);
    END LOOP;
    FOR pol IN
        SELECT polname FROM pg_policy
        WHERE polrelid = tbl
          AND polname IN ('tenancy_select', 'tenancy_insert', 'tenancy_update', 'tenancy_delete')
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', pol, tbl);
    END LOOP;
    -- The share triggers: only the ones protect() made on this very table
    -- (a partition's clone of its parent's row trigger goes with the parent's).
    FOR pol IN
        SELECT tgname FROM pg_trigger
        WHERE tgrelid = tbl AND tgparentid = 0
          AND tgname IN ('tenancy_forget_shares', 'tenancy_forget_shares_update',
                         'tenancy_forget_shares_truncate', 'tenancy_guard_update')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', pol, tbl);
    END LOOP;
    IF NOT rec.rls_was_forced THEN
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', tbl);
    END IF;
    IF NOT rec.rls_was_enabled THEN
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', tbl);
    END IF;
    PERFORM tenancy._forget_protection(tbl);
END
$$;
COMMENT ON FUNCTION tenancy.unprotect(regclass) IS
    'Removes exactly what tenancy.protect() added to a table and its partitions.';

-- Partitions created or attached later inherit their root's protection;
-- dropped tables leave the catalog.  The event triggers run as the
-- extension's owner: the table's owner already chose protection for the
-- partitioned table, and the new partition is only made to follow it.
CREATE FUNCTION tenancy._protect_new_partitions() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    stack text;
BEGIN
    -- protect(), unprotect() and this function run ALTER TABLE themselves;
    -- the partitions they are busy with are theirs to finish.
    GET DIAGNOSTICS stack = PG_CONTEXT;
    IF position('tenancy._apply_protection(' IN stack) > 0
       OR position('tenancy.unprotect(' IN stack) > 0 THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT t.relid AS part, p.relid AS root, p.tenant_column, p.resource_type,
               p.owner_column, p.id_column
        FROM tenancy.protected_tables p
        CROSS JOIN LATERAL pg_partition_tree(p.relid) t
        WHERE p.root IS NULL
          AND t.relid <> p.relid
          AND NOT EXISTS (SELECT 1 FROM tenancy.protected_tables q WHERE q.relid = t.relid)
    LOOP
        PERFORM tenancy._protect_partition(r.part, r.root, r.tenant_column, r.resource_type,
                                           r.owner_column, r.id_column);
    END LOOP;
END
$$;

-- A dropped table takes its resources' shares with it: a table created
-- again under the same name and type must not inherit them.  A dropped
-- partition takes the shares of the rows it held.
CREATE FUNCTION tenancy._forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped oid[];
    r tenancy.protected_tables;
BEGIN
    SELECT array_agg(objid) INTO dropped
    FROM pg_event_trigger_dropped_objects()
    WHERE classid = 'pg_class'::regclass AND objsubid = 0;
    FOR r IN
        SELECT * FROM tenancy.protected_tables p
        WHERE p.relid::oid = ANY (dropped) AND p.id_column IS NOT NULL
    LOOP
        IF r.root IS NULL THEN
            DELETE FROM tenancy.shares WHERE resource_type = r.resource_type;
        ELSIF NOT r.root::oid = ANY (dropped) THEN
            PERFORM tenancy._forget_missing_shares(r.root);
        END IF;
    END LOOP;
    DELETE FROM tenancy.protected_tables WHERE relid::oid = ANY (dropped);
END
$$;

CREATE EVENT TRIGGER tenancy_protect_new_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION tenancy._protect_new_partitions();

CREATE EVENT TRIGGER tenancy_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION tenancy._forget_dropped_tables();
-- ---------------------------------------------------------------------------
-- Sharing one resource (a row of a table protected with an id column) with a
-- user or a team (SPEC section 4).
--
-- share() and unshare() act for the context user: the sharer is whoever the
-- current context names, and the rules are checked against what that user
-- may do on the resource.  They are SECURITY DEFINER so that they can read
-- the row (whatever the policies would show) and write tenancy.shares, which
-- no one else can: a share cannot be forged by inserting into the table.
-- ---------------------------------------------------------------------------

-- The protected table whose rows are the resources of a type, and the
-- tenant, owner and id (as the id column's own text, whatever form the
-- caller wrote it in) of one of them, in the current tenant if one is set;
-- all NULL when there is no such row, or more than one (ids unique only per
-- tenant, and no current tenant to choose).
CREATE FUNCTION tenancy._resource(resource_type text, resource_id text,
                                  OUT tenant_id uuid, OUT owner_id uuid, OUT id text)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rec tenancy.protected_tables;
    rel regclass;
    id_type text;
    n bigint;
BEGIN
    SELECT p.relid INTO rel FROM tenancy.protected_tables p
    WHERE p.resource_type = resource_type AND p.root IS NULL AND p.id_column IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'resource type "%" has no protected table with an id column', resource_type
            USING ERRCODE = 'undefined_object',
                  HINT = 'Protect the table with tenancy.protect(..., id_column => ''id'').';
    END IF;
    -- Built-in types only (see _is_id_type): nothing of the table's owner
    -- runs here.
    rec := tenancy._protection_checked(rel);
    SELECT format_type(a.atttypid, a.atttypmod) INTO id_type
    FROM pg_attribute a WHERE a.attrelid = rec.relid AND a.attname = rec.id_column;
    BEGIN
        EXECUTE format('SELECT %I, %s, %I::text, count(*) OVER () FROM %s
                        WHERE %I = CAST($1 AS %s) AND ($2 IS NULL OR %I = $2) LIMIT 1',
                       rec.tenant_column,
                       coalesce(quote_ident(rec.owner_column), 'NULL::uuid'),
                       rec.id_column, rec.relid, rec.id_column, id_type, rec.tenant_column)
            INTO tenant_id, owner_id, id, n USING resource_id, tenancy.current_tenant_id();
    EXCEPTION WHEN data_exception THEN
        -- Not even a valid id: no such resource.
        n := 0;
    END;
    IF n IS DISTINCT FROM 1 THEN
        tenant_id := NULL;
        owner_id := NULL;
        id := NULL;
    END IF;
END
$$;

-- The context user, who acts in share() and unshare().
CREATE FUNCTION tenancy._acting_user() RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u uuid := tenancy.current_user_id();
BEGIN
    IF u IS NULL THEN
        RAISE EXCEPTION 'no tenancy context is set'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Call tenancy.set_context() in this transaction first.';
    END IF;
    RETURN u;
END
$$;

-- May the user share these actions of the resource?  Needs "share" and
-- every action shared, on that resource (tenant-wide, as its owner or by a
-- share of it).  A missing resource is refused with the same error, so that
-- share() does not tell which ids exist.
CREATE FUNCTION tenancy._check_may_share(sharer uuid, resource_type text, resource_id text,
                                         actions text[], OUT tenant_id uuid, OUT id text)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r record;
    a text;
BEGIN
    r := tenancy._resource(resource_type, resource_id);
    FOREACH a IN ARRAY array_prepend('share', actions) LOOP
        IF r.tenant_id IS NULL
           OR NOT tenancy.has_resource_permission(sharer, r.tenant_id, resource_type || ':' || a,
                                                  r.id, r.owner_id) THEN
            RAISE EXCEPTION 'permission denied to share % "%" for "%"', resource_type, resource_id, a
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Sharing needs "share" and every action shared, on the resource itself.';
        END IF;
    END LOOP;
    tenant_id := r.tenant_id;
    id := r.id;
END
$$;

CREATE FUNCTION tenancy._check_recipient(to_user uuid, to_team uuid) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF num_nonnulls(to_user, to_team) <> 1 THEN
        RAISE EXCEPTION 'a share goes to exactly one user or one team'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass either to_user => ... or to_team => ....';
    END IF;
END
$$;

CREATE FUNCTION tenancy.share(resource_type text, resource_id text, actions text[],
                              to_user uuid DEFAULT NULL, to_team uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    sharer uuid := tenancy._acting_user();
    acts text[];
    a text;
    t tenancy.tenants;
    target record;
    share_id uuid;
BEGIN
    PERFORM tenancy._not_null(resource_type, 'resource type');
    PERFORM tenancy._not_null(resource_id, 'resource id');
    PERFORM tenancy._not_null(actions, 'actions');
    PERFORM tenancy._check_recipient(to_user, to_team);
    SELECT array_agg(DISTINCT x ORDER BY x) INTO acts FROM unnest(actions) x;
    IF acts IS NULL OR array_position(acts, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'a share needs at least one action, and no null'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH a IN ARRAY acts LOOP
        IF a = '*' OR NOT EXISTS (SELECT 1 FROM tenancy.actions WHERE name = a) THEN
            RAISE EXCEPTION 'action "%" is not registered', a
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Shares name registered actions; "*" is not one.';
        END IF;
    END LOOP;
    IF to_user = sharer THEN
        RAISE EXCEPTION 'cannot share a resource with oneself'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    target := tenancy._check_may_share(sharer, resource_type, resource_id, acts);
    t := tenancy._tenant(target.tenant_id);
    IF to_user IS NOT NULL THEN
        PERFORM tenancy._require_member(t.org_id, to_user);
    ELSIF NOT EXISTS (SELECT 1 FROM tenancy.teams WHERE id = to_team AND org_id = t.org_id) THEN
        RAISE EXCEPTION 'team "%" is not a team of the resource''s organization', to_team
            USING ERRCODE = 'foreign_key_violation';
    ELSIF EXISTS (SELECT 1 FROM tenancy.team_members tm WHERE tm.team_id = to_team AND tm.user_id = sharer) THEN
        RAISE EXCEPTION 'cannot share a resource with a team one belongs to'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Nobody shares with themselves, also not through a team.';
    END IF;

    -- A new share replaces the old one.
    INSERT INTO tenancy.shares AS s
        (org_id, tenant_id, resource_type, resource_id, user_id, team_id, actions, shared_by)
    VALUES (t.org_id, t.id, resource_type, target.id, to_user, to_team, acts, sharer)
    ON CONFLICT ON CONSTRAINT shares_key DO UPDATE
        SET actions = EXCLUDED.actions, shared_by = EXCLUDED.shared_by,
            created_at = pg_catalog.now()
    RETURNING s.id INTO share_id;
    RETURN share_id;
END
$$;
COMMENT ON FUNCTION tenancy.share(text, text, text[], uuid, uuid) IS
    'The context user shares actions on one resource with a user or a team; replaces an earlier share to the same recipient.  Needs "share" and every action shared, on that resource.';

CREATE FUNCTION tenancy.unshare(resource_type text, resource_id text,
                                to_user uuid DEFAULT NULL, to_team uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    sharer uuid := tenancy._acting_user();
    target record;
BEGIN
    PERFORM tenancy._not_null(resource_type, 'resource type');
    PERFORM tenancy._not_null(resource_id, 'resource id');
    PERFORM tenancy._check_recipient(to_user, to_team);
    target := tenancy._check_may_share(sharer, resource_type, resource_id, '{}');
    DELETE FROM tenancy.shares s
    WHERE s.resource_type = resource_type AND s.tenant_id = target.tenant_id
      AND s.resource_id = target.id
      AND s.user_id IS NOT DISTINCT FROM to_user AND s.team_id IS NOT DISTINCT FROM to_team;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION tenancy.unshare(text, text, uuid, uuid) IS
    'The context user withdraws a share of one resource from a user or a team; needs "share" on the resource.  Returns whether there was one.';

-- Taking a user out of one tenant: their own roles there and the shares
-- they received there.  (Team roles stay: they belong to the team.)
CREATE FUNCTION tenancy.remove_from_tenant(tenant uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    t tenancy.tenants := tenancy._tenant(tenant);
BEGIN
    PERFORM tenancy._not_null(user_id, 'user');
    DELETE FROM tenancy.role_assignments ra
    WHERE ra.user_id = user_id AND ra.tenant_id = t.id;
    DELETE FROM tenancy.shares s
    WHERE s.user_id = user_id AND s.tenant_id = t.id;
END
$$;
COMMENT ON FUNCTION tenancy.remove_from_tenant(uuid, uuid) IS
    'Removes a user''s own roles on a tenant and the shares they received in it; their owner''s rights there end with their last role.';
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
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_user_tenants_array';

CREATE FUNCTION tenancy.tenants_with_permission(user_id uuid, permission text)
RETURNS SETOF uuid
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT t FROM pg_catalog.unnest(tenancy._user_tenants(user_id, permission)) AS t;
END;
COMMENT ON FUNCTION tenancy.tenants_with_permission(uuid, text) IS
    'The tenants where a user holds a permission (tenant-wide).';

-- A malformed or unregistered permission is an error, as in the checks.
CREATE FUNCTION tenancy._check_permission(permission text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._not_null(permission, 'permission');
    PERFORM tenancy.has_permission('00000000-0000-0000-0000-000000000000'::uuid,
                                   '00000000-0000-0000-0000-000000000000'::uuid, permission);
END
$$;

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
-- ---------------------------------------------------------------------------
-- The per-backend decision cache (src/cache.c).
-- ---------------------------------------------------------------------------

-- The relations whose relcache invalidations tell every backend (and every
-- hot standby, through the commit record) that decisions may have changed:
-- one for everything, and 64 buckets of organizations and users (a change
-- names the buckets of the organizations and users in its rows, and a
-- backend drops only the cached decisions that depend on one of them).  They
-- hold nothing.
CREATE VIEW tenancy._invalidation_channel AS SELECT NULL::integer AS nothing WHERE false;
COMMENT ON VIEW tenancy._invalidation_channel IS
    'Empty; its invalidations announce changes to every cached decision.';
DO $$
BEGIN
    FOR b IN 0..63 LOOP
        EXECUTE pg_catalog.format(
            'CREATE VIEW tenancy.%I AS SELECT NULL::integer AS nothing WHERE false',
            pg_catalog.format('_invalidation_channel_%s', pg_catalog.lpad(b::text, 2, '0')));
    END LOOP;
END
$$;

-- Arguments: the column naming the organization, and the one naming the
-- user ('' for none); none at all: every change is a change to everything.
CREATE FUNCTION tenancy._invalidate_cache() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'tenancy_invalidate_cache';

DO $$
DECLARE
    t record;
    e record;
    args text;
BEGIN
    FOR t IN SELECT * FROM (VALUES
            ('organizations', 'id', ''), ('tenants', 'org_id', ''), ('users', '', 'id'),
            ('memberships', 'org_id', 'user_id'), ('teams', 'org_id', ''),
            ('team_members', 'org_id', 'user_id'), ('roles', 'org_id', ''),
            ('role_assignments', 'org_id', 'user_id'), ('shares', 'org_id', 'user_id'))
            AS v(tbl, org_col, user_col)
    LOOP
        args := pg_catalog.format('%L, %L', t.org_col, t.user_col);
        -- One trigger per event, each reading the rows it changed.
        FOR e IN SELECT * FROM (VALUES
                ('insert', 'NEW TABLE AS new_rows'),
                ('update', 'OLD TABLE AS old_rows NEW TABLE AS new_rows'),
                ('delete', 'OLD TABLE AS old_rows'))
                AS v(event, transition)
        LOOP
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER %I AFTER %s ON tenancy.%I REFERENCING %s
                   FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache(%s)',
                'invalidate_cache_' || e.event, pg_catalog.upper(e.event), t.tbl,
                e.transition, args);
        END LOOP;
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON tenancy.%I
               FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache()', t.tbl);
    END LOOP;
    FOREACH args IN ARRAY ARRAY['actions', 'resource_types'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
               ON tenancy.%I FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache()', args);
    END LOOP;
END
$$;

CREATE FUNCTION tenancy.cache_stats(
    OUT entries bigint, OUT bytes bigint, OUT capacity bigint, OUT memory bigint,
    OUT hits bigint, OUT misses bigint, OUT evictions bigint, OUT invalidations bigint)
RETURNS record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_cache_stats';
COMMENT ON FUNCTION tenancy.cache_stats() IS
    'This backend''s decision cache: entries, bytes counted against the cap, the cap, memory held, hits, misses, evictions, invalidations.';

CREATE FUNCTION tenancy.cache_reset() RETURNS void
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_cache_reset';
COMMENT ON FUNCTION tenancy.cache_reset() IS
    'Empties this backend''s decision cache and zeroes its counters.';

-- Which of the 64 buckets an organization or user falls in (for tests).
CREATE FUNCTION tenancy._cache_bucket(id uuid) RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_cache_bucket_sql';

-- tenancy.rebuild_member_facts() empties the derived member facts with
-- TRUNCATE: decisions made from them are dropped everywhere.
CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON tenancy._member_facts
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache();
-- ---------------------------------------------------------------------------
-- The audit log: every change to the hierarchy, recorded by row triggers in
-- the transaction that made it, with who made it (the database role outside
-- any SECURITY DEFINER function, the session's role, and the context user),
-- what changed (table, operation, old and new row) and when (the
-- transaction id and the time).
--
-- It cannot be changed: no role is granted INSERT, UPDATE or DELETE, and
-- triggers refuse UPDATE, DELETE and TRUNCATE even from its owner.  It is
-- readable by everyone, through pg_tenancy's own row-level security: the
-- entries of the organizations where the context user is an admin or a
-- manager.
--
-- Entries carry the organization's id without a foreign key: the record of
-- an organization's changes outlives the organization.  pg_dump does not
-- carry the log (restoring is itself recorded, as inserts).
-- ---------------------------------------------------------------------------

CREATE TABLE tenancy.audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid,
    occurred_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    xid          xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    db_role      name NOT NULL,
    session_role name NOT NULL,
    context_user uuid,
    table_name   name NOT NULL,
    operation    text NOT NULL
                 CONSTRAINT audit_log_operation_check
                 CHECK (operation OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])),
    old_row      jsonb,
    new_row      jsonb
);
CREATE INDEX audit_log_org_idx ON tenancy.audit_log (org_id, id);
COMMENT ON TABLE tenancy.audit_log IS
    'Every change to the hierarchy, with who made it and when; append-only, readable per organization by its admins and managers.';

CREATE FUNCTION tenancy._outer_role() RETURNS name
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_outer_role';

CREATE FUNCTION tenancy._audit_orgs() RETURNS uuid[]
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_audit_orgs';
COMMENT ON FUNCTION tenancy._audit_orgs() IS
    'The organizations whose audit log the current user may read.';

CREATE FUNCTION tenancy._audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    orgs uuid[];
    ctx_user uuid;
    r jsonb;
BEGIN
    -- Only pg_tenancy's own tables write the log (EXECUTE is not granted,
    -- so nobody else can attach this trigger; this is a second lock).
    -- (Nobody but the extension's owner can create a table in the schema.)
    IF TG_TABLE_SCHEMA <> 'tenancy' THEN
        RAISE EXCEPTION 'tenancy._audit() records changes to pg_tenancy''s own tables only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        orgs := ARRAY[NULL::uuid];
    ELSE
        IF TG_OP <> 'INSERT' THEN
            old_row := to_jsonb(OLD);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            new_row := to_jsonb(NEW);
        END IF;
        -- An invitation's token hash is a secret's digest: not for the log.
        old_row := old_row - 'token_hash';
        new_row := new_row - 'token_hash';
        r := coalesce(new_row, old_row);
        IF TG_TABLE_NAME = 'organizations' THEN
            orgs := ARRAY[(r ->> 'id')::uuid];
        ELSIF TG_TABLE_NAME = 'users' THEN
            -- A user belongs to no organization: every one they are in sees it.
            SELECT array_agg(m.org_id ORDER BY m.org_id) INTO orgs
            FROM tenancy.memberships m WHERE m.user_id = (r ->> 'id')::uuid;
            orgs := coalesce(orgs, ARRAY[NULL::uuid]);
        ELSE
            orgs := ARRAY[(r ->> 'org_id')::uuid];
        END IF;
    END IF;
    ctx_user := tenancy.current_user_id();
    INSERT INTO tenancy.audit_log
        (org_id, db_role, session_role, context_user, table_name, operation, old_row, new_row)
    SELECT o, tenancy._outer_role(), session_user, ctx_user, TG_TABLE_NAME, TG_OP, old_row, new_row
    FROM unnest(orgs) o;
    IF TG_WHEN = 'BEFORE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tenancy._audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'the audit log cannot be changed'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s on tenancy.audit_log is not allowed.', TG_OP);
END
$$;

CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON tenancy.audit_log
    FOR EACH ROW EXECUTE FUNCTION tenancy._audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON tenancy.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._audit_log_immutable();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'tenants', 'users', 'memberships', 'teams',
                             'team_members', 'roles', 'role_assignments', 'shares',
                             'invitations', 'invitation_tenant_roles', 'invitation_teams']
    LOOP
        -- A user's deletion is recorded before it happens, while their
        -- memberships (which it cascades to) still say which organizations
        -- should see it; if the deletion fails, the entry goes with it.
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER audit AFTER INSERT OR UPDATE %s ON tenancy.%I
               FOR EACH ROW EXECUTE FUNCTION tenancy._audit()',
            CASE WHEN t = 'users' THEN '' ELSE 'OR DELETE' END, t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER audit_truncate AFTER TRUNCATE ON tenancy.%I
               FOR EACH STATEMENT EXECUTE FUNCTION tenancy._audit()', t);
    END LOOP;
    CREATE TRIGGER audit_delete BEFORE DELETE ON tenancy.users
        FOR EACH ROW EXECUTE FUNCTION tenancy._audit();
END
$$;

ALTER TABLE tenancy.audit_log ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON tenancy.audit_log FOR SELECT TO PUBLIC
    USING (org_id OPERATOR(pg_catalog.=) ANY (tenancy._audit_orgs()));
GRANT SELECT ON tenancy.audit_log TO PUBLIC;
-- ---------------------------------------------------------------------------
-- Privileges and pg_dump.
-- ---------------------------------------------------------------------------

-- Management functions and internal helpers are for the roles a DBA grants
-- them to.  For all: the permission-set type, the decision and context
-- functions, and protect()/unprotect() (which need the caller to own the
-- table, and whose bookkeeping helpers record only what they can verify).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'tenancy'::regnamespace
          AND p.prokind = 'f'
          AND p.proname NOT LIKE 'permset%'
          AND p.proname NOT IN ('allows', 'permissions', 'has_permission',
                                'set_context', 'set_context_token', 'clear_context',
                                'current_user_id', 'current_tenant_id',
                                'visible_tenants', 'writable_tenants', 'context_tenant',
                                'role_tenants', 'shared_ids', 'is_shared', 'resource_allows',
                                'has_resource_permission', 'share', 'unshare',
                                'accept_invitation',
                                '_add_resource_triggers', '_audit_orgs', '_is_id_type',
                                -- Triggers of protected tables: a new partition
                                -- clones them as its creator, who needs EXECUTE;
                                -- attached elsewhere they act on nothing.
                                '_forget_shares', '_guard_resource_update',
                                'protect', 'unprotect', '_record_protection',
                                '_forget_protection', '_apply_protection',
                                '_protect_partition', '_has_protection_policies',
                                '_not_null', 'cache_stats', 'cache_reset')
          -- Trigger functions too (but those above): nobody attaches the
          -- audit log's or the cache's to a table of their own.
    LOOP
        EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA tenancy TO PUBLIC;

-- The hierarchy is user data: pg_dump carries it, built-in rows excepted.
SELECT pg_catalog.pg_extension_config_dump('tenancy.organizations', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.tenants', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.users', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.roles', 'WHERE org_id IS NOT NULL');
SELECT pg_catalog.pg_extension_config_dump('tenancy.memberships', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.teams', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.team_members', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.role_assignments', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.actions', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('tenancy.resource_types', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('tenancy.shares', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.invitations', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.invitation_tenant_roles', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.invitation_teams', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.protected_tables', '');
