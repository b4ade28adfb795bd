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
                                'visible_tenants', 'writable_tenants', 'context_tenant', '_tenant_in',
                                'role_tenants', 'shared_ids', 'is_shared', 'resource_allows',
                                'has_resource_permission', 'share', 'unshare',
                                'accept_invitation',
                                '_add_resource_triggers', '_audit_orgs', '_is_id_type',
                                -- Triggers of protected tables: a new partition
                                -- clones them as its creator, who needs EXECUTE;
                                -- attached elsewhere they act on nothing.
                                '_forget_shares', '_guard_resource_update',
                                -- In the target lists of writes (policy.c).
                                '_guard_owner', '_guard_tenant',
                                -- Called by the update guard and unprotect(),
                                -- which run as their caller (Citus).
                                '_citus_shard', '_citus_allow_triggers',
                                'protect', 'unprotect', '_record_protection',
                                '_forget_protection', '_apply_protection',
                                '_protect_partition', '_has_protection_policies',
                                '_refuse_permissive_policies',
                                '_not_null', 'cache_stats', 'cache_reset',
                                -- Guards the lookups run as their caller.
                                '_check_permission', '_check_may_ask_about')
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
-- So is signed mode's configuration; the dump holds HS256 secrets.
SELECT pg_catalog.pg_extension_config_dump('tenancy.signing_keys', '');
