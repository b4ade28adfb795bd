-- ---------------------------------------------------------------------------
-- tenancy.check_setup(): what a DBA runs after setting pg_tenancy up, and
-- after each migration.  One row per finding, most severe first, each with
-- the fix.  No rows: nothing found.
--
-- critical: a route to another tenant's rows, or to forging a context,
--           is open now;
-- warning:  a guarantee does not hold in some case, or a query is slow;
-- info:     a consequence of the chosen mode worth knowing.
--
-- SECURITY DEFINER, for superusers only (see 90_privileges.sql): it reads
-- the server's configuration files' settings and the signing keys.
-- ---------------------------------------------------------------------------

CREATE FUNCTION tenancy._setup_findings()
RETURNS TABLE (severity text, check_name text, object text, detail text, fix text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    signed boolean := coalesce(current_setting('tenancy.require_signed_context', true), 'off') = 'on';
    -- Loaded before a session's first statement, by either list, under
    -- either spelling.
    preloaded boolean := EXISTS (
        SELECT FROM unnest(string_to_array(
                   replace(current_setting('shared_preload_libraries') || ',' ||
                           current_setting('session_preload_libraries'), ' ', ''), ',')) AS l
        WHERE l IN ('pg_tenancy', '$libdir/pg_tenancy'));
    -- pg_stat_statements keeps the text of SET statements as written; it
    -- must see them through pg_tenancy's hook, which hides tokens, so it is
    -- listed first.
    libs text[] := string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',');
    keys regclass := to_regclass('tenancy.signing_keys');
    n_keys bigint := 0;
    n_hs256 bigint := 0;
    admin text := coalesce(current_setting('tenancy.admin_role', true), '');
    claims_setting text := coalesce(current_setting('tenancy.claims_setting', true), '');
    claims_role text := coalesce(current_setting('tenancy.claims_role', true), '');
BEGIN
    IF keys IS NOT NULL THEN
        EXECUTE format('SELECT count(*), count(*) FILTER (WHERE alg = %L) FROM %s', 'HS256', keys)
            INTO n_keys, n_hs256;
    END IF;

    -- Citus: every worker must hold the hierarchy, kept by a subscription
    -- the coordinator's commits wait for (tenancy.citus_setup()).
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL THEN
        RETURN QUERY EXECUTE $q$
        SELECT 'warning', 'citus_node_not_ready', format('%s:%s', n.nodename, n.nodeport),
               CASE WHEN r.application_name IS NULL
                    THEN 'This worker receives no copy of the hierarchy: queries that reach its shards under a context fail.'
                    ELSE 'Commits that change the hierarchy do not wait for this worker: it may answer with an error until it catches up.' END,
               'SELECT tenancy.citus_setup();  -- on the coordinator'
        FROM pg_catalog.pg_dist_node n
        LEFT JOIN pg_catalog.pg_stat_replication r
               ON r.application_name = 'tenancy_node_' || n.nodeid AND r.state = 'streaming'
        WHERE (SELECT groupid FROM pg_catalog.pg_dist_local_group) = 0
          AND n.groupid <> 0 AND n.noderole = 'primary' AND n.isactive
          AND (r.application_name IS NULL
               OR r.application_name <> ALL (regexp_split_to_array(
                      substring(current_setting('synchronous_standby_names') FROM '\((.*)\)'), ', ')))
        ORDER BY n.nodeid
        $q$;
    END IF;

    -- Protected tables: row-level security on and forced.
    RETURN QUERY
    SELECT 'critical', 'rls_not_forced', p.relid::text,
           CASE WHEN NOT c.relrowsecurity
                THEN 'Row-level security is disabled: every role with a table privilege reads every tenant.'
                ELSE 'Row-level security is not forced: the owner reads every tenant.' END,
           format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;', p.relid)
    FROM tenancy.protected_tables p JOIN pg_class c ON c.oid = p.relid
    WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity);

    -- Permissive policies beside pg_tenancy's: row-level security ORs
    -- them, so each one opens the table as far as it says.
    RETURN QUERY
    SELECT 'critical', 'permissive_policy', format('%s on %s', quote_ident(pol.polname), p.relid),
           format('The permissive policy %I is ORed with pg_tenancy''s: rows it admits are visible whatever the context.', pol.polname),
           format('DROP POLICY %I ON %s;  -- or re-create it AS RESTRICTIVE', pol.polname, p.relid)
    FROM tenancy.protected_tables p JOIN pg_policy pol ON pol.polrelid = p.relid
    WHERE pol.polpermissive
      AND pol.polname NOT IN ('tenancy_select', 'tenancy_insert', 'tenancy_update', 'tenancy_delete');

    -- Privileges row-level security does not cover.
    RETURN QUERY
    SELECT 'critical', 'unsafe_grant', format('%s to %s', p.relid,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END),
           format('%s is granted: %s', a.privilege_type,
                  CASE a.privilege_type
                      WHEN 'TRUNCATE' THEN 'it empties every tenant at once.'
                      WHEN 'TRIGGER' THEN 'a trigger of the grantee''s sees every tenant''s writes.'
                      ELSE 'a foreign key of the grantee''s probes which ids exist in every tenant.' END),
           format('REVOKE %s ON %s FROM %s;', a.privilege_type, p.relid,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END)
    FROM tenancy.protected_tables p
    JOIN pg_class c ON c.oid = p.relid
    CROSS JOIN LATERAL aclexplode(c.relacl) a
    LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE a.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES')
      AND a.grantee <> c.relowner
      AND NOT coalesce(r.rolsuper, false);

    -- The same for a column's REFERENCES.
    RETURN QUERY
    SELECT 'critical', 'unsafe_grant', format('%s (%I) to %s', p.relid, t.attname,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END),
           'REFERENCES is granted on a column: a foreign key of the grantee''s probes which ids exist in every tenant.',
           format('REVOKE REFERENCES (%I) ON %s FROM %s;', t.attname, p.relid,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END)
    FROM tenancy.protected_tables p
    JOIN pg_class c ON c.oid = p.relid
    JOIN pg_attribute t ON t.attrelid = c.oid AND t.attnum > 0
    CROSS JOIN LATERAL aclexplode(t.attacl) a
    LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE a.privilege_type = 'REFERENCES'
      AND a.grantee <> c.relowner
      AND NOT coalesce(r.rolsuper, false);

    -- Protections of tables that are gone (a temporary table's, dropped at
    -- the end of its session without an event trigger firing): they keep
    -- their resource type from any other table.
    RETURN QUERY
    SELECT 'warning', 'stale_protection', p.relid::oid::text,
           format('tenancy.protected_tables names relation %s, which no longer exists; it still holds resource type %L.', p.relid::oid, p.resource_type),
           format('DELETE FROM tenancy.protected_tables WHERE relid = %s;  -- as a superuser', p.relid::oid)
    FROM tenancy.protected_tables p
    WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = p.relid);

    -- Roles that are not subject to the policies, and can log in.
    RETURN QUERY
    SELECT DISTINCT 'warning', 'owner_can_login', quote_ident(r.rolname),
           format('Role %I owns protected table %s and can log in: an owner may disable row-level security, drop policies or the table.', r.rolname, p.relid),
           format('ALTER TABLE %s OWNER TO <a role without LOGIN>;', p.relid)
    FROM tenancy.protected_tables p
    JOIN pg_class c ON c.oid = p.relid
    JOIN pg_roles r ON r.oid = c.relowner
    WHERE r.rolcanlogin AND NOT r.rolsuper;

    -- Login roles that act as an owner through membership in its role.
    RETURN QUERY
    SELECT 'critical', 'member_of_owner', quote_ident(r.rolname),
           format('Role %I can log in and has the privileges of %I, owner of protected tables %s: it may truncate them, disable row-level security or drop the policies.',
                  r.rolname, o.rolname, string_agg(p.relid::text, ', ' ORDER BY p.relid::text)),
           format('REVOKE %I FROM %I;', o.rolname, r.rolname)
    FROM tenancy.protected_tables p
    JOIN pg_class c ON c.oid = p.relid
    JOIN pg_roles o ON o.oid = c.relowner
    JOIN pg_roles r ON r.oid <> o.oid
    WHERE r.rolcanlogin AND NOT r.rolsuper
      AND pg_has_role(r.oid, o.oid, 'MEMBER')
    GROUP BY r.rolname, o.rolname;

    RETURN QUERY
    SELECT 'warning', 'bypassrls_login', quote_ident(r.rolname),
           format('Role %I has BYPASSRLS and can log in: it reads every tenant of every protected table it has privileges on.', r.rolname),
           format('ALTER ROLE %I NOBYPASSRLS;', r.rolname)
    FROM pg_roles r
    WHERE r.rolbypassrls AND r.rolcanlogin AND NOT r.rolsuper;

    -- Protected tables without an index that starts with the tenant column.
    RETURN QUERY
    SELECT 'warning', 'missing_tenant_index', p.relid::text,
           format('No index of %s starts with %I: every protected query scans the whole table.', p.relid, p.tenant_column),
           format('CREATE INDEX ON %s (%I);', p.relid, p.tenant_column)
    FROM tenancy.protected_tables p
    WHERE p.root IS NULL
      AND EXISTS (SELECT FROM pg_class c WHERE c.oid = p.relid)
      AND NOT EXISTS (
          SELECT 1 FROM pg_index i JOIN pg_attribute a
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
          WHERE i.indrelid = p.relid AND a.attname = p.tenant_column);

    -- Tables that look like tenant data and are not protected.
    RETURN QUERY
    SELECT 'warning', 'unprotected_tenant_table', c.oid::regclass::text,
           format('Column %I of %s looks like a tenant id, and the table is not protected: every role with a table privilege reads every tenant.', a.attname, c.oid::regclass),
           format('SELECT tenancy.protect(%L, tenant_column => %L);', c.oid::regclass::text, a.attname)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenancy', 'pg_toast')
      AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'
      AND a.atttypid = 'uuid'::regtype
      AND (a.attname IN ('tenant_id', 'tenant')
           OR EXISTS (SELECT 1 FROM pg_constraint f
                      WHERE f.conrelid = c.oid AND f.contype = 'f'
                        AND f.confrelid = 'tenancy.tenants'::regclass
                        AND a.attnum = ANY (f.conkey)))
      AND NOT EXISTS (SELECT 1 FROM tenancy.protected_tables p WHERE p.relid = c.oid);

    -- The guards of statements row-level security does not see (LOCK
    -- TABLE, cursors WITH HOLD, GRANT) hold from a connection's first
    -- statement only with the library preloaded.
    IF NOT preloaded THEN
        RETURN QUERY VALUES (
            CASE WHEN signed THEN 'critical' ELSE 'warning' END, 'not_preloaded', 'shared_preload_libraries',
            CASE WHEN signed
                 THEN 'Signed contexts are on and pg_tenancy is not preloaded: every context is refused.'
                 ELSE 'pg_tenancy is not preloaded: until a connection first calls it, LOCK TABLE, cursors WITH HOLD and GRANT are not checked there.' END,
            'ALTER SYSTEM SET shared_preload_libraries = ''pg_tenancy'';  -- keep the libraries already listed, then restart');
    END IF;

    -- The signing secret in a setting, where any role could read it.
    RETURN QUERY
    SELECT 'critical', 'secret_in_setting', s.where_set,
           'tenancy.context_secret is set: settings are readable by roles a secret must not reach, and pg_tenancy no longer reads it.',
           'Remove the setting; keep keys with tenancy.add_signing_key().'
    FROM (SELECT format('%s line %s', f.sourcefile, f.sourceline) AS where_set
          FROM pg_file_settings f WHERE f.name = 'tenancy.context_secret'
          UNION ALL
          SELECT format('ALTER %s SET', CASE WHEN d.setrole = 0 THEN 'DATABASE' ELSE 'ROLE' END)
          FROM pg_db_role_setting d, unnest(d.setconfig) AS cfg
          WHERE cfg LIKE 'tenancy.context\_secret=%') s;

    -- Signed mode switched off for a database or role.
    RETURN QUERY
    SELECT 'critical', 'signed_mode_off_somewhere',
           coalesce(quote_ident(r.rolname), 'every role') || ' in ' || coalesce(quote_ident(db.datname), 'every database'),
           'tenancy.require_signed_context is turned off here: connections of this role or database may name any user.',
           format('ALTER %s RESET tenancy.require_signed_context;',
                  CASE WHEN d.setrole = 0 THEN format('DATABASE %I', db.datname) ELSE format('ROLE %I', r.rolname) END)
    FROM pg_db_role_setting d
    CROSS JOIN LATERAL unnest(d.setconfig) AS cfg
    LEFT JOIN pg_roles r ON r.oid = d.setrole
    LEFT JOIN pg_database db ON db.oid = d.setdatabase
    WHERE signed
      AND lower(cfg) ~ '^tenancy\.require_signed_context=(f|fa|fal|fals|false|n|no|of|off|0)$';

    IF signed THEN
        IF n_keys = 0 THEN
            RETURN QUERY VALUES (
                'critical', 'no_signing_keys', 'tenancy.signing_keys',
                'Signed contexts are on and no key is configured: every token is refused.',
                'SELECT tenancy.add_signing_key(''<kid>'', ''ES256'', pg_read_file(''<public key file>''));');
        END IF;
        IF array_position(libs, 'pg_stat_statements') > array_position(libs, 'pg_tenancy')
           OR array_position(libs, '$libdir/pg_stat_statements') > array_position(libs, 'pg_tenancy') THEN
            RETURN QUERY VALUES (
                'critical', 'statement_texts_keep_tokens', 'shared_preload_libraries',
                'pg_stat_statements is listed after pg_tenancy: it keeps the text of SET tenancy.context = ''<token>'' before pg_tenancy can hide it, and any session of the role reads it back.',
                'List pg_tenancy after pg_stat_statements in shared_preload_libraries, and restart.');
        END IF;
        IF current_setting('log_statement') = 'all' THEN
            RETURN QUERY VALUES (
                'warning', 'tokens_in_log', 'log_statement',
                'log_statement = all writes every statement''s text to the server log, tokens written as literals included.',
                'Bind tokens as parameters and set log_parameter_max_length = 0, or set log_statement to ''ddl''.');
        END IF;
        IF admin <> '' AND to_regrole(quote_ident(admin)) IS NULL THEN
            RETURN QUERY VALUES (
                'warning', 'admin_role_missing', quote_ident(admin),
                'tenancy.admin_role names a role that does not exist: only superusers may ask about other users.',
                format('CREATE ROLE %I NOLOGIN;', admin));
        END IF;
        -- Roles that could change the hierarchy, and so grant themselves.
        RETURN QUERY
        SELECT DISTINCT 'warning', 'management_granted', quote_ident(r.rolname),
               format('Role %I can log in and may run pg_tenancy''s management functions (%s, ...): with them it can grant its users anything.',
                      r.rolname, f.oid::regprocedure),
               format('REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA tenancy FROM %I;  -- then GRANT back the context and decision functions it needs', r.rolname)
        FROM pg_proc f
        CROSS JOIN pg_roles r
        WHERE f.pronamespace = 'tenancy'::regnamespace
          AND f.proname IN ('create_user', 'link_identity', 'add_member', 'assign_role', 'create_tenant', 'create_role')
          AND r.rolcanlogin AND NOT r.rolsuper
          AND has_function_privilege(r.oid, f.oid, 'EXECUTE');
    ELSE
        -- Plain mode: every role with a privilege on a protected table may
        -- name any user as its context.
        RETURN QUERY
        SELECT 'info', 'plain_mode_context', quote_ident(r.rolname),
               format('Contexts are not signed: role %I, which has privileges on protected tables, may name any user as its context.', r.rolname),
               'Turn on signed contexts if the application is not trusted with identity (see docs/security.md).'
        FROM pg_roles r
        WHERE r.rolcanlogin AND NOT r.rolsuper AND NOT r.rolbypassrls
          AND EXISTS (SELECT 1 FROM tenancy.protected_tables p
                      WHERE p.root IS NULL
                        AND has_table_privilege(r.oid, p.relid, 'SELECT, INSERT, UPDATE, DELETE'));
    END IF;

    -- Gateway claims: the sessions of the gateway's role, and of its
    -- members, may name any user.
    IF claims_setting <> '' THEN
        IF to_regrole(quote_ident(claims_role)) IS NULL THEN
            RETURN QUERY VALUES (
                'warning', 'claims_role_missing', 'tenancy.claims_role',
                format('tenancy.claims_setting is %s, but tenancy.claims_role names no role: the claims establish no context.',
                       quote_literal(claims_setting)),
                format('ALTER DATABASE %I SET tenancy.claims_role = ''<the gateway''''s login role>'';',
                       current_database()));
        ELSE
            RETURN QUERY
            SELECT CASE WHEN r.rolname = claims_role THEN 'info' ELSE 'warning' END,
                   'claims_trusted', quote_ident(r.rolname),
                   CASE WHEN r.rolname = claims_role
                        THEN format('Sessions of role %I, the gateway''s, may name any user in %s.', r.rolname, claims_setting)
                        ELSE format('Role %I can log in and is a member of %I, the gateway''s role: its sessions may name any user in %s.',
                                    r.rolname, claims_role, claims_setting) END,
                   CASE WHEN r.rolname = claims_role
                        THEN format('Let only the gateway log in as %I.', r.rolname)
                        ELSE format('REVOKE %I FROM %I;', claims_role, r.rolname) END
            FROM pg_roles r
            WHERE r.rolcanlogin AND NOT r.rolsuper
              AND pg_has_role(r.oid, to_regrole(quote_ident(claims_role)), 'MEMBER');
        END IF;
    END IF;

    -- Who could read a symmetric key: pg_read_all_data reads every table.
    IF n_hs256 > 0 THEN
        RETURN QUERY
        SELECT 'critical', 'key_readable', quote_ident(r.rolname),
               format('Role %I can read tenancy.signing_keys (through pg_read_all_data or a grant), and with its HS256 secret forge any context.', r.rolname),
               format('REVOKE SELECT ON tenancy.signing_keys FROM %I; REVOKE pg_read_all_data FROM %I;  -- or use ES256, RS256 or EdDSA keys, which are public', r.rolname, r.rolname)
        FROM pg_roles r
        WHERE NOT r.rolsuper AND r.rolcanlogin
          AND has_table_privilege(r.oid, 'tenancy.signing_keys', 'SELECT');
        RETURN QUERY VALUES (
            'info', 'symmetric_key', 'tenancy.signing_keys',
            format('%s HS256 key(s): the database holds a secret that signs tokens; a dump of it carries the secret.', n_hs256),
            'Sign with ES256, RS256 or EdDSA and give the database only the public key.');
    END IF;
END
$$;

CREATE FUNCTION tenancy.check_setup()
RETURNS TABLE (severity text, check_name text, object text, detail text, fix text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.* FROM tenancy._setup_findings() f
    ORDER BY array_position(ARRAY['critical', 'warning', 'info'], f.severity),
             f.check_name, f.object
$$;
COMMENT ON FUNCTION tenancy.check_setup() IS
    'Findings about this database''s pg_tenancy set-up, most severe first, each with its fix: unprotected tenant tables, row-level security not forced, permissive policies, unsafe grants, roles that bypass the policies, missing tenant indexes, signed-mode misconfiguration, who gateway claims trust.';
