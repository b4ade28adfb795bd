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
    email       text
                CONSTRAINT users_email_check
                CHECK (email OPERATOR(pg_catalog.~) '^[^@[:space:]]+@[^@[:space:]]+$'),
    display_name text,
    kind        text NOT NULL DEFAULT 'user'
                CONSTRAINT users_kind_check
                CHECK (kind OPERATOR(pg_catalog.=) ANY (ARRAY['user', 'service_account'])),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- The user's identity at an external identity provider: its subject
    -- (a token's "sub"), and the issuer that names it ("iss"; NULL for
    -- tokens without one).  Unique per issuer.
    external_issuer text
                CONSTRAINT users_external_issuer_check
                CHECK (pg_catalog.octet_length(external_issuer) BETWEEN 1 AND 255),
    external_subject text
                CONSTRAINT users_external_subject_check
                CHECK (pg_catalog.octet_length(external_subject) BETWEEN 1 AND 255),
    CONSTRAINT users_pkey PRIMARY KEY (id) INCLUDE (active),
    -- A person is reached by e-mail or known to an identity provider; a
    -- service account needs neither.
    CONSTRAINT users_identified_check
        CHECK (email IS NOT NULL OR external_subject IS NOT NULL
               OR kind OPERATOR(pg_catalog.=) 'service_account'),
    CONSTRAINT users_external_check
        CHECK (external_issuer IS NULL OR external_subject IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON tenancy.users (pg_catalog.lower(email));
CREATE UNIQUE INDEX users_external_key ON tenancy.users (external_subject, external_issuer)
    NULLS NOT DISTINCT WHERE external_subject IS NOT NULL;
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

-- Chosen actions on one resource (a row of a protected table, named by the
-- table, its resource type and the row's id), granted to a user or a team of
-- the resource's organization.  A share to a user hangs on their membership,
-- a share to a team on the team, and every share on its tenant: removing any
-- of them removes the share in the same statement.  One share per resource
-- and recipient; sharing again replaces the actions.
--
-- A share grants only on the table it was made on (the protected table, the
-- root of a partitioned one): the policies name their table, and the share
-- must name it too.  It is regclass, not oid, so that pg_dump writes the
-- table's name and a restore finds the table again under its new oid (the
-- tables exist before the extension's configuration data is loaded).
-- unprotect() and DROP TABLE remove the shares of their table, so that no
-- share outlives it, and none can grant on a later table that reuses its
-- oid.
CREATE TABLE tenancy.shares (
    id          uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    org_id      uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    resource_type text NOT NULL REFERENCES tenancy.resource_types (name),
    relid       regclass NOT NULL,
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
        UNIQUE NULLS NOT DISTINCT (relid, tenant_id, resource_id, user_id, team_id)
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
