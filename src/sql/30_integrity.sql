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
