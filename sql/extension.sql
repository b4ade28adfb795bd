--
-- CREATE EXTENSION and DROP EXTENSION: what is installed, and that DROP
-- leaves nothing behind.
--
-- Earlier tests in this database leave the empty schema behind (see below).
DROP SCHEMA IF EXISTS tenancy;
CREATE FUNCTION pg_temp.catalog_footprint() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' ',
        (SELECT count(*) FROM pg_class),
        (SELECT count(*) FROM pg_proc),
        (SELECT count(*) FROM pg_type),
        (SELECT count(*) FROM pg_operator),
        (SELECT count(*) FROM pg_opclass),
        (SELECT count(*) FROM pg_trigger),
        (SELECT count(*) FROM pg_constraint),
        (SELECT count(*) FROM pg_namespace),
        (SELECT count(*) FROM pg_depend),
        (SELECT count(*) FROM pg_description))
$$;
SELECT pg_temp.catalog_footprint() AS before \gset

CREATE EXTENSION pg_tenancy;
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace
FROM pg_extension WHERE extname = 'pg_tenancy';

-- Every table is dumped by pg_dump (built-in rows excepted).
SELECT c.relname, coalesce(e.condition, '') AS dump_condition
FROM pg_extension x
CROSS JOIN LATERAL unnest(x.extconfig, x.extcondition) AS e(oid, condition)
JOIN pg_class c ON c.oid = e.oid
WHERE x.extname = 'pg_tenancy'
ORDER BY 1;

-- Built-in roles, actions and resource types.
SELECT scope, name, permissions FROM tenancy.roles ORDER BY scope, id;
SELECT name FROM tenancy.actions ORDER BY name;
SELECT name FROM tenancy.resource_types ORDER BY name;

-- Every function of the extension pins its search_path, or is written in C,
-- or is an aggregate over C functions.
SELECT p.proname
FROM pg_proc p
WHERE p.pronamespace = 'tenancy'::regnamespace
  AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
  AND p.prokind <> 'a'
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
ORDER BY 1;

-- The extension cannot be moved, and a second copy cannot be made.
CREATE SCHEMA elsewhere;
ALTER EXTENSION pg_tenancy SET SCHEMA elsewhere;
CREATE EXTENSION pg_tenancy;
DROP SCHEMA elsewhere;

-- GUC prefix is reserved once the library is loaded.
SELECT tenancy.has_permission(gen_random_uuid(), gen_random_uuid(), 'tenant:read');
SET tenancy.no_such_setting = 'x';

DROP EXTENSION pg_tenancy;
-- What remains is the schema that CREATE EXTENSION made for the control
-- file's "schema = tenancy" (PostgreSQL never makes it part of an
-- extension), and it is empty; dropping it restores the catalogs exactly.
SELECT count(*) AS objects_in_tenancy
FROM pg_depend d
WHERE d.refclassid = 'pg_namespace'::regclass
  AND d.refobjid = 'tenancy'::regnamespace;
DROP SCHEMA tenancy;
SELECT pg_temp.catalog_footprint() = :'before' AS nothing_left_behind;

-- Installing again after a drop works, with the same built-in role ids.
CREATE EXTENSION pg_tenancy;
SELECT count(*) AS builtin_roles FROM tenancy.roles
WHERE id::text LIKE '00000000-0000-0000-000_-00000000000_';
DROP EXTENSION pg_tenancy;
