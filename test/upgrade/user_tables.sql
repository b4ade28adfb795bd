-- test/upgrade/user_tables.sql — what pg_tenancy puts on the application's
-- tables (schema public): row-level security, policies, triggers, grants.
-- An updated database must show what protect() of 0.2.0 makes.
\pset format unaligned
\pset tuples_only on
\pset pager off
SET search_path = pg_catalog;
SELECT line FROM (
    SELECT format('table %s rls %s force %s acl %s', c.oid::regclass, c.relrowsecurity,
                  c.relforcerowsecurity,
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x), 'default')) AS line
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
    UNION ALL
    SELECT format('column %s.%s acl %s', c.oid::regclass, a.attname,
                  (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x))
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
    WHERE c.relnamespace = 'public'::regnamespace AND a.attacl IS NOT NULL
    UNION ALL
    SELECT format('policy %s on %s %s %s using %s check %s', p.polname, p.polrelid::regclass,
                  p.polcmd, p.polpermissive, pg_get_expr(p.polqual, p.polrelid),
                  pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
    WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('trigger %s enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT format('protected %s', row(p.relid, p.tenant_column, p.resource_type, p.owner_column,
                                      p.id_column, p.root, p.rls_was_enabled, p.rls_was_forced,
                                      p.registered_type))
    FROM tenancy.protected_tables p
) x
ORDER BY line COLLATE "C";
