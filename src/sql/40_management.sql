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

-- An external subject and its issuer, as create_user() and link_identity()
-- take them.
CREATE FUNCTION tenancy._check_external(subject text, issuer text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF issuer IS NOT NULL AND subject IS NULL THEN
        RAISE EXCEPTION 'an issuer needs a subject'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give the user''s subject at that issuer (a token''s "sub").';
    END IF;
    IF octet_length(subject) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'invalid external subject "%"', subject
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A subject is 1 to 255 bytes long.';
    END IF;
    IF octet_length(issuer) NOT BETWEEN 1 AND 255 THEN
        RAISE EXCEPTION 'invalid issuer "%"', issuer
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'An issuer is 1 to 255 bytes long.';
    END IF;
    IF subject IS NOT NULL AND EXISTS (
            SELECT 1 FROM tenancy.users u
            WHERE u.external_subject = subject
              AND u.external_issuer IS NOT DISTINCT FROM issuer) THEN
        RAISE EXCEPTION 'a user with subject "%" of issuer "%" already exists',
                        subject, coalesce(issuer, '')
            USING ERRCODE = 'unique_violation';
    END IF;
END
$$;

CREATE FUNCTION tenancy.create_user(email text DEFAULT NULL, display_name text DEFAULT NULL,
                                    kind text DEFAULT 'user', id uuid DEFAULT NULL,
                                    subject text DEFAULT NULL, issuer text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    new_id uuid;
BEGIN
    PERFORM tenancy._not_null(create_user.kind, 'user kind');
    IF create_user.kind NOT IN ('user', 'service_account') THEN
        RAISE EXCEPTION 'invalid user kind "%"', create_user.kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The kind is "user" or "service_account".';
    END IF;
    IF create_user.email IS NULL AND create_user.subject IS NULL
       AND create_user.kind = 'user' THEN
        RAISE EXCEPTION 'a user needs an e-mail address or an external subject'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Only service accounts may have neither.';
    END IF;
    IF create_user.email IS NOT NULL THEN
        PERFORM tenancy._check_email(create_user.email);
        IF EXISTS (SELECT 1 FROM tenancy.users WHERE lower(email) = lower(create_user.email)) THEN
            RAISE EXCEPTION 'a user with e-mail address "%" already exists', create_user.email
                USING ERRCODE = 'unique_violation';
        END IF;
    END IF;
    PERFORM tenancy._check_external(create_user.subject, create_user.issuer);
    IF create_user.id IS NOT NULL
       AND EXISTS (SELECT 1 FROM tenancy.users WHERE id = create_user.id) THEN
        RAISE EXCEPTION 'a user with id "%" already exists', create_user.id
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO tenancy.users (id, email, display_name, kind, external_issuer, external_subject)
    VALUES (coalesce(create_user.id, gen_random_uuid()), create_user.email,
            create_user.display_name, create_user.kind,
            create_user.issuer, create_user.subject)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION tenancy.create_user(text, text, text, uuid, text, text) IS
    'Creates a user or service account, optionally with a given id and the subject (and issuer) that names it at an identity provider; returns its id.';

CREATE FUNCTION tenancy.link_identity(user_id uuid, subject text, issuer text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    u tenancy.users := tenancy._user(link_identity.user_id);
BEGIN
    IF u.external_subject IS NOT DISTINCT FROM link_identity.subject
       AND u.external_issuer IS NOT DISTINCT FROM link_identity.issuer THEN
        RETURN;
    END IF;
    IF link_identity.subject IS NULL AND link_identity.issuer IS NULL
       AND u.email IS NULL AND u.kind = 'user' THEN
        RAISE EXCEPTION 'a user needs an e-mail address or an external subject'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM tenancy._check_external(link_identity.subject, link_identity.issuer);
    UPDATE tenancy.users
    SET external_subject = link_identity.subject, external_issuer = link_identity.issuer
    WHERE id = u.id;
END
$$;
COMMENT ON FUNCTION tenancy.link_identity(uuid, text, text) IS
    'Sets (or, with NULLs, removes) the subject and issuer that name a user at an identity provider.';

CREATE FUNCTION tenancy.user_by_subject(subject text, issuer text DEFAULT NULL)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id FROM tenancy.users u
    WHERE u.external_subject = user_by_subject.subject
      AND u.external_issuer IS NOT DISTINCT FROM user_by_subject.issuer
$$;
COMMENT ON FUNCTION tenancy.user_by_subject(text, text) IS
    'The user an identity provider names by this subject (and issuer), or NULL.';

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
