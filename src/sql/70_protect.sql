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

-- ---------------------------------------------------------------------------
-- Citus (issue 13).  On a distributed or reference table, row and TRUNCATE
-- triggers fire on each shard (a relation named <table>_<shardid>, on the
-- node that holds it) with TG_RELID the shard's oid; the protection is
-- recorded under the distributed table.  And on a worker, tenancy.* is a
-- read-only copy of the coordinator's: a trigger there reads it but must
-- not write tenancy.shares.  Nothing here depends on Citus being installed:
-- its catalogs are reached by name, and only when they exist.
-- ---------------------------------------------------------------------------

-- The table a relation's triggers act for: the Citus table whose shard it
-- is (and the shard's id), or the relation itself (shard NULL).  A shard is
-- named <table>_<shardid> (a long name shortened before the suffix), in its
-- table's schema.
CREATE FUNCTION tenancy._citus_shard(rel oid, OUT relid oid, OUT shard bigint)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    logical oid;
    name text[];
BEGIN
    relid := rel;
    IF to_regclass('pg_catalog.pg_dist_shard') IS NULL
       OR EXISTS (SELECT 1 FROM tenancy.protected_tables p WHERE p.relid = rel) THEN
        RETURN;
    END IF;
    -- Not from pg_class: Citus hides shards from queries on it in client
    -- sessions (a reference table's placement on the coordinator fires its
    -- triggers in the client's session).  The name as regclass prints it,
    -- schema-qualified under this search_path.
    name := parse_ident(rel::regclass::text);
    shard := substring(name[cardinality(name)] FROM '_([0-9]{1,18})$')::bigint;
    IF shard IS NULL THEN
        RETURN;
    END IF;
    EXECUTE 'SELECT s.logicalrelid::oid FROM pg_catalog.pg_dist_shard s WHERE s.shardid = $1'
        INTO logical USING shard;
    IF logical IS NULL OR logical = rel
       OR (parse_ident(logical::regclass::text))[1] IS DISTINCT FROM name[1] THEN
        shard := NULL;
        RETURN;
    END IF;
    relid := logical;
END
$$;

-- May pg_tenancy write the hierarchy (tenancy.shares) on this node?  Yes
-- without Citus and on its coordinator (group 0); not on a worker.
CREATE FUNCTION tenancy._hierarchy_writable() RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grp integer;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN true;
    END IF;
    EXECUTE 'SELECT groupid FROM pg_catalog.pg_dist_local_group' INTO grp;
    RETURN coalesce(grp, 0) = 0;
END
$$;

-- Has this shard a placement on the coordinator?  (A reference table's
-- have, when the coordinator is in the metadata: a write reaches every
-- placement in the same distributed transaction, and the coordinator's
-- trigger does what the workers' cannot.)
CREATE FUNCTION tenancy._shard_on_coordinator(shard bigint) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    IF shard IS NULL OR to_regclass('pg_catalog.pg_dist_placement') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement p
                            WHERE p.shardid = $1 AND p.groupid = 0)'
        INTO found USING shard;
    RETURN found;
END
$$;

-- Citus refuses triggers on its tables unless citus.enable_unsafe_triggers
-- (a user setting) is on; pg_tenancy's are safe: they read the hierarchy on
-- the node they fire on and write nothing there but on the coordinator.
-- Turns it on for the rest of the transaction when Citus is loaded, and
-- returns what it was (NULL without Citus).
CREATE FUNCTION tenancy._citus_allow_triggers() RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was text;
BEGIN
    IF current_setting('citus.propagate_set_commands', true) IS NULL THEN
        RETURN NULL;
    END IF;
    was := coalesce(current_setting('citus.enable_unsafe_triggers', true), 'off');
    PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
    RETURN was;
END
$$;


-- The policies on one table, for one tenant column and resource type, and
-- optionally its owner and id columns.  Every operator and function is
-- schema-qualified: no search_path can change what a policy calls.
--
-- With owner and id columns, a row is allowed by the tenant-wide
-- permission, or to its owner while they hold any role in the tenant, or
-- through a share of that very row, made on this very table:
--
--   tenant_id = ANY (tenancy.visible_tenants('doc:read'))
--   OR (owner_id = tenancy.current_user_id()
--       AND tenant_id = ANY (tenancy.role_tenants()))
--   OR (id = ANY (tenancy.shared_ids('doc:read', NULL::bigint, 'app.docs'::regclass))
--       AND tenancy.is_shared(tenant_id, id, 'doc:read', 'app.docs'::regclass))
--
-- Each arm is indexable on its own (tenant, owner and id indexes), and every
-- function is computed once per statement.  The table is a constant (written
-- as its oid, so that no search_path can make it another; kept as an oid, so
-- that renaming the table changes nothing): a share made on another table of
-- the same type, such as one an application role protected for a moment,
-- grants nothing here.  A partition's policies name the partition, and the
-- shares of its protected ancestor count there (policy.c).  The C code
-- (policy.c) relies on the tenant condition being the first arm.
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
    tbl text := format('%L::pg_catalog.regclass', rel::oid);
BEGIN
    IF id_column IS NOT NULL THEN
        SELECT format_type(a.atttypid, NULL) INTO id_type
        FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = id_column;
    END IF;
    -- With Citus, the policy is copied to each shard as text, and a shard
    -- is created before its table's name exists on a worker (distributing a
    -- protected table, a new partition): the table is named there, as text
    -- cast when the policy runs, resolving to the table on that node.  (A
    -- protected Citus table renamed needs protect() again: docs/citus.md.)
    IF current_setting('citus.propagate_set_commands', true) IS NOT NULL THEN
        tbl := format('CAST(CAST(%L AS pg_catalog.text) AS pg_catalog.regclass)', rel::text);
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
            cond := cond || format(' OR (%I OPERATOR(pg_catalog.=) ANY (tenancy.shared_ids(%L::text, NULL::%s, %s))'
                                   ' AND tenancy.is_shared(%I, %I, %L::text, %s))',
                                   id_column, perm, id_type, tbl,
                                   tenant_column, id_column, perm, tbl);
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

-- Row-level security ORs the permissive policies of a table: one of the
-- owner's own (say "USING (true)") would let every row through, whatever
-- pg_tenancy's say.  protect() refuses such a table, and a partition that
-- carries one cannot join a protected table.  Restrictive policies can only
-- narrow and are left alone; pg_tenancy's own (by name) are replaced.
CREATE FUNCTION tenancy._refuse_permissive_policies(rel regclass) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found text;
BEGIN
    SELECT string_agg(format('%I on %s', p.polname, p.polrelid::regclass), ', '
                      ORDER BY p.polrelid::regclass::text, p.polname)
    INTO found
    FROM pg_policy p
    WHERE p.polpermissive
      AND p.polname NOT IN ('tenancy_select', 'tenancy_insert', 'tenancy_update', 'tenancy_delete')
      AND (p.polrelid = rel
           OR p.polrelid IN (SELECT t.relid FROM pg_partition_tree(rel) t));
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'cannot protect table % while it has permissive policies of its own', rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Row-level security lets a row through when any permissive policy allows it, so these would admit rows of every tenant: %s.', found),
                  HINT = 'Drop those policies, or recreate them AS RESTRICTIVE.';
    END IF;
END
$$;

-- The privileges that row-level security does not cover, taken from every
-- role but the table's owner (PUBLIC included): with TRUNCATE a role empties
-- every tenant, with TRIGGER it plants a trigger that sees every tenant's
-- writes, with REFERENCES a foreign key of its own probes which ids exist
-- (the checks bypass row-level security); a column's REFERENCES goes with
-- the table's.  Acts only on a table recorded as protected (for any other,
-- it returns an empty array), as the table's owner would: a superuser's
-- REVOKE is done on the owner's behalf, and CASCADE takes the grants made
-- with a grant option along.  Returns what it revoked, as
-- "PRIVILEGE from role"; a NOTICE says the same.  protect() calls it for the
-- table and each partition (also those attached or created later); the
-- utility hook can call it after a GRANT on a protected table.
CREATE FUNCTION tenancy._revoke_unsafe_privileges(rel regclass) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    revoked text[] := '{}';
BEGIN
    IF rel IS NULL
       OR NOT EXISTS (SELECT 1 FROM tenancy.protected_tables p WHERE p.relid = rel) THEN
        RETURN revoked;
    END IF;
    FOR r IN
        WITH grants AS (
            SELECT a.grantee, a.privilege_type
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = rel
            UNION
            SELECT a.grantee, a.privilege_type
            FROM pg_attribute att, aclexplode(att.attacl) a
            WHERE att.attrelid = rel AND att.attnum > 0 AND NOT att.attisdropped
        )
        SELECT CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END AS role,
               array_agg(DISTINCT g.privilege_type ORDER BY g.privilege_type) AS privileges
        FROM grants g
        WHERE g.privilege_type IN ('TRUNCATE', 'TRIGGER', 'REFERENCES')
          AND g.grantee <> (SELECT c.relowner FROM pg_class c WHERE c.oid = rel)
        GROUP BY 1
        ORDER BY 1
    LOOP
        EXECUTE format('REVOKE TRUNCATE, TRIGGER, REFERENCES ON TABLE %s FROM %s CASCADE',
                       rel, r.role);
        revoked := array_append(revoked, array_to_string(r.privileges, ', ') || ' from ' || r.role);
    END LOOP;
    IF cardinality(revoked) > 0 THEN
        RAISE NOTICE 'revoked privileges that row-level security does not cover on table %', rel
            USING DETAIL = format('Revoked %s.', array_to_string(revoked, '; '));
    END IF;
    RETURN revoked;
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
    PERFORM tenancy._revoke_unsafe_privileges(rel);
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
    -- The shares made on the table go with its protection: kept, they would
    -- grant again on whatever table is protected later with the same oid,
    -- and they could have been made on a table protected only for a moment.
    DELETE FROM tenancy.shares WHERE relid = rel;
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
    -- A temporary table goes at the end of its session without an event
    -- trigger firing, and would leave its protection (and resource type)
    -- behind.
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION 'cannot protect temporary table %', tbl
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A temporary table is dropped at the end of its session without pg_tenancy being told.';
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

    PERFORM tenancy._refuse_permissive_policies(tbl);

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
    was text;
BEGIN
    IF rec.relid IS NULL THEN
        RAISE EXCEPTION 'table % is not protected', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- On a Citus table: the triggers go to every shard (see _citus_shard).
    was := tenancy._citus_allow_triggers();
    -- The update triggers fire only for the rows whose columns that matter
    -- change.
    IF rec.root IS NULL AND rec.id_column IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'tenancy_forget_shares') THEN
        EXECUTE format('CREATE TRIGGER tenancy_forget_shares AFTER DELETE ON %s'
                       ' FOR EACH ROW EXECUTE FUNCTION tenancy._forget_shares()', tbl);
        EXECUTE format('CREATE TRIGGER tenancy_forget_shares_update AFTER UPDATE ON %s FOR EACH ROW'
                       ' WHEN (OLD.%2$I IS DISTINCT FROM NEW.%2$I OR OLD.%3$I IS DISTINCT FROM NEW.%3$I)'
                       ' EXECUTE FUNCTION tenancy._forget_shares()',
                       tbl, rec.id_column, rec.tenant_column);
    END IF;
    -- The owner guard is in the writes' target lists (see _guard_owner);
    -- with Citus, whose router planner does not take it there, a trigger.
    IF rec.root IS NULL AND rec.owner_column IS NOT NULL
       AND to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL
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
    IF was IS NOT NULL THEN
        PERFORM set_config('citus.enable_unsafe_triggers', was, true);
    END IF;
END
$$;

-- On a table protected with an owner column: taking a row from its owner
-- needs the tenant-wide "update" (the owner may give it away), and moving a
-- row into another tenant needs "create" there; without this, a share for
-- "update" would let its recipient make the row theirs, and an owner could
-- carry a row into a tenant where they may only read.  Without a context
-- the writer may (only roles that bypass row-level security reach a row).
--
-- The planner hook (policy.c) puts these two around each new value of the
-- owner or the tenant column an UPDATE, an INSERT ... ON CONFLICT DO
-- UPDATE or a MERGE assigns, with the old row's columns: each returns the
-- new value, or refuses it.  Called by anyone they decide nothing but
-- whether to raise, as the caller's context.
CREATE FUNCTION tenancy._guard_owner(new_owner uuid, old_owner uuid, old_tenant uuid,
                                     tbl regclass, permission text)
RETURNS uuid
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_guard_owner';
COMMENT ON FUNCTION tenancy._guard_owner(uuid, uuid, uuid, regclass, text) IS
    'The new owner of a row, if the context may take the row from its owner (the planner hook''s guard of owner changes).';

CREATE FUNCTION tenancy._guard_tenant(new_tenant uuid, old_tenant uuid,
                                      tbl regclass, permission text)
RETURNS uuid
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_guard_tenant';
COMMENT ON FUNCTION tenancy._guard_tenant(uuid, uuid, regclass, text) IS
    'The new tenant of a row, if the context may move the row there (the planner hook''s guard of tenant changes).';

-- The same guard as a BEFORE row trigger, on a table protected with Citus
-- installed: Citus's router planner refuses a volatile function of a column
-- in an UPDATE's target list, and a shard's trigger runs on its worker.
-- (A BEFORE row trigger locks every row the UPDATE touches, whatever its
-- WHEN says; the target-list guard spares that.)
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
    -- On a Citus shard, the protection of its table (_citus_shard).
    SELECT * INTO rec FROM tenancy.protected_tables
    WHERE relid = (tenancy._citus_shard(TG_RELID)).relid;
    IF NOT FOUND OR rec.owner_column IS NULL THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT ($1).%I, ($2).%I, ($1).%I, ($2).%I',
                   rec.owner_column, rec.owner_column, rec.tenant_column, rec.tenant_column)
        INTO old_owner, new_owner, old_tenant, new_tenant USING OLD, NEW;
    IF new_owner IS DISTINCT FROM old_owner AND old_owner IS DISTINCT FROM me
       AND NOT tenancy.has_permission(old_tenant, rec.resource_type || ':update') THEN
        RAISE EXCEPTION 'permission denied to change the owner of a row of %', rec.relid
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Taking a row from its owner needs "%s:update" on its tenant.', rec.resource_type);
    END IF;
    IF new_tenant IS DISTINCT FROM old_tenant
       AND NOT tenancy.has_permission(new_tenant, rec.resource_type || ':create') THEN
        RAISE EXCEPTION 'permission denied to move a row of % into another tenant', rec.relid
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
    PERFORM tenancy._refuse_permissive_policies(part);
    PERFORM tenancy._apply_protection(part, tenant_column, resource_type, owner_column, id_column);
    PERFORM tenancy._record_protection(part, tenant_column, resource_type, root,
                                       rel.relrowsecurity, rel.relforcerowsecurity,
                                       owner_column, id_column);
    IF id_column IS NOT NULL THEN
        PERFORM tenancy._add_resource_triggers(part);
    END IF;
END
$$;

-- Is rel a Citus table (distributed, reference, or a partition of one)?
CREATE FUNCTION tenancy._is_citus_table(rel oid) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1)'
        INTO found USING rel;
    RETURN found;
END
$$;

-- The shares made on the protected table root whose rows are in rel (root
-- or one of its partitions), as 'tenant/id'.  Two steps, so that Citus can
-- plan them: the shares' keys, then those of them that rel holds.
CREATE FUNCTION tenancy._shared_rows_in(root regclass, rel regclass) RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables := tenancy._protection_checked(root);
    tenants uuid[];
    ids text[];
    present text[];
BEGIN
    SELECT array_agg(DISTINCT s.tenant_id), array_agg(DISTINCT s.resource_id)
    INTO tenants, ids
    FROM tenancy.shares s WHERE s.relid = root;
    IF tenants IS NULL OR rec.relid IS NULL OR rec.id_column IS NULL THEN
        RETURN '{}';
    END IF;
    EXECUTE format('SELECT array_agg(r.%I::text || ''/'' || r.%I::text) FROM %s r
                    WHERE r.%I = ANY ($1) AND r.%I::text = ANY ($2)',
                   rec.tenant_column, rec.id_column, rel, rec.tenant_column, rec.id_column)
        INTO present USING tenants, ids;
    RETURN coalesce(present, '{}');
END
$$;

-- Deletes the shares made on the protected table root whose rows are no
-- longer in it (after a TRUNCATE, or a partition dropped).  Only
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
    -- Citus plans no DELETE of a local table joined to one of its tables:
    -- the rows of the shares, looked up in the table (tenancy._shared_rows_in).
    IF tenancy._is_citus_table(rec.relid) THEN
        DELETE FROM tenancy.shares s
        WHERE s.relid = rec.relid
          AND (s.tenant_id::text || '/' || s.resource_id)
              <> ALL (tenancy._shared_rows_in(rec.relid, rec.relid));
        RETURN;
    END IF;
    EXECUTE format('DELETE FROM tenancy.shares s WHERE s.relid = $1
                      AND NOT EXISTS (SELECT 1 FROM %s r
                                      WHERE r.%I::text = s.resource_id AND r.%I = s.tenant_id)',
                   rec.relid, rec.id_column, rec.tenant_column)
    USING rec.relid;
END
$$;

-- The rows a share names are gone (DELETE, TRUNCATE) or are no longer the
-- same resource (a new id or tenant: the UPDATE trigger's WHEN clause): their
-- shares go too.  It acts only for a table recorded as protected, and only
-- on the shares made on that table (its protected root), so a trigger on
-- some other table cannot reach another table's shares.
CREATE FUNCTION tenancy._forget_shares() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables;
    sh record := tenancy._citus_shard(TG_RELID);
    old_id text;
    old_tenant uuid;
BEGIN
    rec := tenancy._protection_checked(sh.relid);
    IF rec.relid IS NULL OR rec.id_column IS NULL THEN
        RETURN NULL;
    END IF;
    -- On a Citus worker the shares are a read-only copy: a row that is
    -- still shared (as far as the coordinator has committed) stays, unless
    -- the coordinator holds a placement of this shard too and forgets the
    -- shares there, in the same distributed transaction.  Fails closed.
    IF TG_OP = 'TRUNCATE' AND sh.shard IS NOT NULL THEN
        -- A shard is emptied by Citus's own TRUNCATE trigger on the table,
        -- which fires after this one (by name) on the node the TRUNCATE ran
        -- on: that node forgot the shares (coordinator) or refused (worker).
        RETURN NULL;
    END IF;
    IF NOT tenancy._hierarchy_writable() THEN
        IF tenancy._shard_on_coordinator(sh.shard) THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'TRUNCATE' THEN
            IF EXISTS (SELECT 1 FROM tenancy.shares s WHERE s.relid = coalesce(rec.root, rec.relid)) THEN
                RAISE EXCEPTION 'cannot truncate table % while rows of it are shared', rec.relid
                    USING ERRCODE = 'dependent_objects_still_exist',
                          DETAIL = 'On a Citus worker pg_tenancy cannot forget the shares with the rows: the hierarchy there is a read-only copy of the coordinator''s.',
                          HINT = 'Call tenancy.unshare() for each share of the table first, or truncate through the coordinator.';
            END IF;
            RETURN NULL;
        END IF;
        EXECUTE format('SELECT ($1).%I::text, ($1).%I', rec.id_column, rec.tenant_column)
            INTO old_id, old_tenant USING OLD;
        IF EXISTS (SELECT 1 FROM tenancy.shares s
                   WHERE s.relid = coalesce(rec.root, rec.relid)
                     AND s.resource_id = old_id AND s.tenant_id = old_tenant) THEN
            RAISE EXCEPTION 'cannot % a row of % while it is shared', CASE TG_OP WHEN 'DELETE' THEN 'delete' ELSE 'change the id or tenant of' END, rec.relid
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = format('The row''s shares would outlive it: on a Citus worker pg_tenancy cannot forget them with it (%s %s of tenant %s).', rec.resource_type, old_id, old_tenant),
                      HINT = 'Call tenancy.unshare() for each of its shares first.';
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        -- On the coordinator, TRUNCATE of a Citus table fires here, on the
        -- table (not a shard), before Citus's own trigger empties the
        -- shards: the shares of the rows it holds go now.
        IF sh.shard IS NULL AND tenancy._is_citus_table(rec.relid) THEN
            DELETE FROM tenancy.shares s
            WHERE s.relid = coalesce(rec.root, rec.relid)
              AND (s.tenant_id::text || '/' || s.resource_id)
                  = ANY (tenancy._shared_rows_in(coalesce(rec.root, rec.relid), rec.relid));
        END IF;
        PERFORM tenancy._forget_missing_shares(coalesce(rec.root, rec.relid));
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT ($1).%I::text, ($1).%I', rec.id_column, rec.tenant_column)
        INTO old_id, old_tenant USING OLD;
    DELETE FROM tenancy.shares
    WHERE relid = coalesce(rec.root, rec.relid)
      AND resource_id = old_id AND tenant_id = old_tenant;
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
    was text;
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
    was := tenancy._citus_allow_triggers();
    FOR pol IN
        SELECT tgname FROM pg_trigger
        WHERE tgrelid = tbl AND tgparentid = 0
          AND tgname IN ('tenancy_forget_shares', 'tenancy_forget_shares_update',
                         'tenancy_forget_shares_truncate', 'tenancy_guard_update')
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', pol, tbl);
    END LOOP;
    IF was IS NOT NULL THEN
        PERFORM set_config('citus.enable_unsafe_triggers', was, true);
    END IF;
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
    -- On a Citus worker: the coordinator protects the partition, Citus
    -- creates its shards as protected, and the protection's record
    -- arrives by replication.
    IF NOT tenancy._hierarchy_writable() THEN
        RETURN;
    END IF;
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
        -- Citus distributes a new partition of a distributed table after
        -- this (triggers and all): it must accept the triggers then too.
        IF r.id_column IS NOT NULL THEN
            PERFORM tenancy._citus_allow_triggers();
        END IF;
    END LOOP;
END
$$;

-- A dropped table takes its resources' shares with it: a table created
-- again under the same name and type, or one that reuses its oid, must not
-- inherit them.  A dropped partition takes the shares of the rows it held.
CREATE FUNCTION tenancy._forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped oid[];
    r tenancy.protected_tables;
BEGIN
    -- On a Citus worker the coordinator's own clean-up arrives by replication.
    IF NOT tenancy._hierarchy_writable() THEN
        RETURN;
    END IF;
    SELECT array_agg(objid) INTO dropped
    FROM pg_event_trigger_dropped_objects()
    WHERE classid = 'pg_class'::regclass AND objsubid = 0;
    FOR r IN
        SELECT * FROM tenancy.protected_tables p
        WHERE p.relid::oid = ANY (dropped) AND p.id_column IS NOT NULL
    LOOP
        IF r.root IS NOT NULL AND NOT r.root::oid = ANY (dropped) THEN
            PERFORM tenancy._forget_missing_shares(r.root);
        END IF;
    END LOOP;
    -- Whether or not the table was still recorded as protected.
    DELETE FROM tenancy.shares WHERE relid::oid = ANY (dropped);
    DELETE FROM tenancy.protected_tables WHERE relid::oid = ANY (dropped);
END
$$;

CREATE EVENT TRIGGER tenancy_protect_new_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION tenancy._protect_new_partitions();

CREATE EVENT TRIGGER tenancy_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION tenancy._forget_dropped_tables();
