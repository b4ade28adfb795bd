-- ---------------------------------------------------------------------------
-- Privileges and pg_dump.
-- ---------------------------------------------------------------------------

-- Management functions and internal helpers are for the roles a DBA grants
-- them to; the permission-set type and the decision functions are for all.
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
          AND p.proname NOT IN ('allows', 'permissions', 'has_permission')
          AND p.prorettype <> 'trigger'::regtype
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
SELECT pg_catalog.pg_extension_config_dump('tenancy.invitations', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.invitation_tenant_roles', '');
SELECT pg_catalog.pg_extension_config_dump('tenancy.invitation_teams', '');
