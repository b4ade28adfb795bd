-- pg_tenancy 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_tenancy UPDATE)
\echo Use "ALTER EXTENSION pg_tenancy UPDATE TO '0.2.0'" to load this file. \quit

-- What changes: users may carry an external identity (create_user() takes
-- an id, a subject and an issuer; link_identity(), user_by_subject());
-- shares name the table they were made on (shares.relid, and
-- the unique key with it); the policies of protected tables name their table
-- in the share arm (shared_ids, is_shared and resource_allows take it);
-- signed contexts read their keys from tenancy.signing_keys (the
-- tenancy.context_secret setting is gone); tenancy.check_setup();
-- protect() refuses tables with permissive policies of their own and revokes
-- TRUNCATE, TRIGGER and REFERENCES; the lookups ask _check_may_ask_about;
-- _check_permission is C; the decisions and lookups are PARALLEL
-- RESTRICTED.
--
-- The order matters.  The 0.2.0 library finds its tables and functions by
-- name when a statement first needs them (src/catalog.c) and refuses a
-- schema that is not 0.2.0's: shares with relid as its fifth column,
-- shared_ids with three arguments, resource_allows with six.  Until those
-- exist, this script runs only DDL; the first statement that reads or
-- writes data comes after them.

-- 0. Users may carry the subject (and issuer) that names them at an
--    identity provider, and need an e-mail address only when they have
--    neither that nor the kind service_account (20_schema.sql).  DDL only.
ALTER TABLE tenancy.users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE tenancy.users
    ADD COLUMN external_issuer text
        CONSTRAINT users_external_issuer_check
        CHECK (pg_catalog.octet_length(external_issuer) BETWEEN 1 AND 255),
    ADD COLUMN external_subject text
        CONSTRAINT users_external_subject_check
        CHECK (pg_catalog.octet_length(external_subject) BETWEEN 1 AND 255),
    ADD CONSTRAINT users_identified_check
        CHECK (email IS NOT NULL OR external_subject IS NOT NULL
               OR kind OPERATOR(pg_catalog.=) 'service_account'),
    ADD CONSTRAINT users_external_check
        CHECK (external_issuer IS NULL OR external_subject IS NOT NULL);
CREATE UNIQUE INDEX users_external_key ON tenancy.users (external_subject, external_issuer)
    NULLS NOT DISTINCT WHERE external_subject IS NOT NULL;

-- 1. The share functions that name a table, beside 0.1.0's (the policies
--    still call those until step 4 re-creates them).
CREATE FUNCTION tenancy.shared_ids(permission text, id_type anyelement, tbl regclass)
RETURNS anyarray
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_shared_ids';
COMMENT ON FUNCTION tenancy.shared_ids(text, anyelement, regclass) IS
    'The ids of the resources of a table shared with the current user for a permission (in the current tenant when one is set), of the type of the second argument.';
CREATE FUNCTION tenancy.is_shared(tenant uuid, id anyelement, permission text, tbl regclass)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_is_shared';
COMMENT ON FUNCTION tenancy.is_shared(uuid, anyelement, text, regclass) IS
    'Whether the resource of a table with this id, in this tenant, is shared with the current user for a permission.';
CREATE FUNCTION tenancy.resource_allows(tenant uuid, owner uuid, id anyelement,
                                        permission text, for_write boolean DEFAULT false,
                                        tbl regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_resource_allows_row';
COMMENT ON FUNCTION tenancy.resource_allows(uuid, uuid, anyelement, text, boolean, regclass) IS
    'A resource-level policy''s conditions (tenant-wide permission, owner, share) in one call per row; what the planner puts in place of the policy when the plan reads the current tenant''s rows.';

-- 1c. The owner guard the planner puts in the target lists of writes
--     (issue 14).
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

-- 1b. The row check the planner puts in place of a policy's tenant list
--     where a plan filters row by row (issue 14).
CREATE FUNCTION tenancy._tenant_in_support(internal)
RETURNS internal
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'tenancy_tenant_in_support';
COMMENT ON FUNCTION tenancy._tenant_in_support(internal) IS
    'The planner''s estimate of tenancy._tenant_in(): the share of rows whose tenant the context sees, from the column''s statistics.';
CREATE FUNCTION tenancy._tenant_in(tenant uuid, permission text, for_write boolean)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
SUPPORT tenancy._tenant_in_support
AS 'MODULE_PATHNAME', 'tenancy_tenant_in';
COMMENT ON FUNCTION tenancy._tenant_in(uuid, text, boolean) IS
    'tenant = ANY (visible_tenants(permission)) (writable_tenants when for_write) as one hash lookup: what the planner puts in its place where a plan checks it row by row.';

-- 2. Shares gain relid, the table a share was made on, as their fifth
--    column: the table is built again, as 0.2.0 creates it, and the rows
--    are copied.  A share names the one protected root table with an id
--    column of its resource type (protect() allows only one); a share
--    whose type has no such table (the table was unprotected: 0.1.0 kept
--    its shares) can name no table, and is not kept.  The copy is made
--    before the triggers are: it is neither audited nor an invalidation
--    (the same shares, the same answers).
ALTER TABLE tenancy.shares RENAME TO _shares_0_1_0;
ALTER INDEX tenancy.shares_pkey RENAME TO _shares_0_1_0_pkey;
ALTER INDEX tenancy.shares_key RENAME TO _shares_0_1_0_key;
ALTER INDEX tenancy.shares_user_idx RENAME TO _shares_0_1_0_user_idx;
ALTER INDEX tenancy.shares_team_idx RENAME TO _shares_0_1_0_team_idx;
ALTER INDEX tenancy.shares_tenant_idx RENAME TO _shares_0_1_0_tenant_idx;
-- Names the new table's unnamed constraints are to take.
ALTER TABLE tenancy._shares_0_1_0
    RENAME CONSTRAINT shares_resource_type_fkey TO _shares_0_1_0_resource_type_fkey;
ALTER TABLE tenancy._shares_0_1_0
    RENAME CONSTRAINT shares_shared_by_fkey TO _shares_0_1_0_shared_by_fkey;

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

INSERT INTO tenancy.shares
    (id, org_id, tenant_id, resource_type, relid, resource_id, user_id, team_id,
     actions, shared_by, created_at)
SELECT s.id, s.org_id, s.tenant_id, s.resource_type, p.relid, s.resource_id,
       s.user_id, s.team_id, s.actions, s.shared_by, s.created_at
FROM tenancy._shares_0_1_0 s
JOIN tenancy.protected_tables p
  ON p.resource_type OPERATOR(pg_catalog.=) s.resource_type
 AND p.root IS NULL AND p.id_column IS NOT NULL;

-- Out of the extension first: that also takes it out of the tables
-- pg_dump dumps as data (DROP TABLE alone would leave its oid there).
ALTER EXTENSION pg_tenancy DROP TABLE tenancy._shares_0_1_0;
DROP TABLE tenancy._shares_0_1_0;

-- The triggers 80_cache.sql and 85_audit.sql put on every hierarchy table.
CREATE TRIGGER invalidate_cache_insert AFTER INSERT ON tenancy.shares
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache('org_id', 'user_id');
CREATE TRIGGER invalidate_cache_update AFTER UPDATE ON tenancy.shares
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache('org_id', 'user_id');
CREATE TRIGGER invalidate_cache_delete AFTER DELETE ON tenancy.shares
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache('org_id', 'user_id');
CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON tenancy.shares
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON tenancy.shares
    FOR EACH ROW EXECUTE FUNCTION tenancy._audit();
CREATE TRIGGER audit_truncate AFTER TRUNCATE ON tenancy.shares
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._audit();

SELECT pg_catalog.pg_extension_config_dump('tenancy.shares', '');

-- 3. Functions whose body, attributes or result changed.  A changed result
--    (OUT parameters), a new language with its grants taken back, needs
--    DROP and CREATE; the rest are replaced and keep their grants.
CREATE OR REPLACE FUNCTION tenancy._apply_protection(rel regclass, tenant_column name,
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
            cond := cond || format(' OR (%I OPERATOR(pg_catalog.=) ANY (tenancy.shared_ids(%L::text, NULL::%s, %L::pg_catalog.regclass))'
                                   ' AND tenancy.is_shared(%I, %I, %L::text, %L::pg_catalog.regclass))',
                                   id_column, perm, id_type, rel::oid,
                                   tenant_column, id_column, perm, rel::oid);
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
CREATE OR REPLACE FUNCTION tenancy._record_protection(rel regclass, tenant_column name,
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
CREATE OR REPLACE FUNCTION tenancy._forget_protection(rel regclass) RETURNS void
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
CREATE OR REPLACE FUNCTION tenancy._protect_partition(part regclass, root regclass,
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
CREATE OR REPLACE FUNCTION tenancy._forget_missing_shares(root regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec tenancy.protected_tables := tenancy._protection_checked(root);
BEGIN
    IF rec.relid IS NULL OR rec.id_column IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('DELETE FROM tenancy.shares s WHERE s.relid = $1
                      AND NOT EXISTS (SELECT 1 FROM %s r
                                      WHERE r.%I::text = s.resource_id AND r.%I = s.tenant_id)',
                   rec.relid, rec.id_column, rec.tenant_column)
    USING rec.relid;
END
$$;
CREATE OR REPLACE FUNCTION tenancy._forget_shares() RETURNS trigger
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
    WHERE relid = coalesce(rec.root, rec.relid)
      AND resource_id = old_id AND tenant_id = old_tenant;
    RETURN NULL;
END
$$;

-- May pg_tenancy write the hierarchy (tenancy.shares) on this node?  Yes
-- without Citus and on its coordinator (group 0); not on a worker.
CREATE OR REPLACE FUNCTION tenancy._hierarchy_writable() RETURNS boolean
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

CREATE OR REPLACE FUNCTION tenancy._forget_dropped_tables() RETURNS event_trigger
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
CREATE OR REPLACE FUNCTION tenancy.protect(tbl regclass, tenant_column name DEFAULT 'tenant_id',
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
CREATE OR REPLACE FUNCTION tenancy.permissions(user_id uuid, tenant uuid)
RETURNS tenancy.permset
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_permissions';
COMMENT ON FUNCTION tenancy.permissions(uuid, uuid) IS
    'The permission set a user holds on a tenant; empty for unknown, inactive or non-member users and unknown tenants.';
CREATE OR REPLACE FUNCTION tenancy.has_permission(user_id uuid, tenant uuid, permission text)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_permission';
COMMENT ON FUNCTION tenancy.has_permission(uuid, uuid, text) IS
    'Whether a user holds a permission ("type:action") on a tenant; false for unknown users and tenants.';
CREATE OR REPLACE FUNCTION tenancy.has_resource_permission(user_id uuid, tenant uuid, permission text,
                                                resource_id text, owner_id uuid)
RETURNS boolean
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_has_resource_permission';
COMMENT ON FUNCTION tenancy.has_resource_permission(uuid, uuid, text, text, uuid) IS
    'Whether a user may act on one resource of a tenant: by a tenant-wide permission, as its owner (while holding any role in the tenant), or through a share to them or one of their teams.';
CREATE OR REPLACE FUNCTION tenancy._user_tenants(user_id uuid, permission text) RETURNS uuid[]
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_user_tenants_array';
CREATE OR REPLACE FUNCTION tenancy.tenants_with_permission(user_id uuid, permission text)
RETURNS SETOF uuid
LANGUAGE sql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT t FROM pg_catalog.unnest(tenancy._user_tenants(user_id, permission)) AS t;
END;
COMMENT ON FUNCTION tenancy.tenants_with_permission(uuid, text) IS
    'The tenants where a user holds a permission (tenant-wide).';
CREATE OR REPLACE FUNCTION tenancy.share(resource_type text, resource_id text, actions text[],
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
        -- Not _require_member(): its message names the user's e-mail, which
        -- the sharer, who may name any user id, is not to learn.
        IF NOT EXISTS (SELECT 1 FROM tenancy.memberships m
                       WHERE m.org_id = t.org_id AND m.user_id = to_user) THEN
            RAISE EXCEPTION 'the user to share with is not a member of the resource''s organization'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
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
        (org_id, tenant_id, resource_type, relid, resource_id, user_id, team_id, actions, shared_by)
    VALUES (t.org_id, t.id, resource_type, target.rel, target.id, to_user, to_team, acts, sharer)
    ON CONFLICT ON CONSTRAINT shares_key DO UPDATE
        SET actions = EXCLUDED.actions, shared_by = EXCLUDED.shared_by,
            created_at = pg_catalog.now()
    RETURNING s.id INTO share_id;
    RETURN share_id;
END
$$;
COMMENT ON FUNCTION tenancy.share(text, text, text[], uuid, uuid) IS
    'The context user shares actions on one resource with a user or a team; replaces an earlier share to the same recipient.  Needs "share" and every action shared, on that resource.';
CREATE OR REPLACE FUNCTION tenancy.unshare(resource_type text, resource_id text,
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
    WHERE s.relid = target.rel AND s.tenant_id = target.tenant_id
      AND s.resource_id = target.id
      AND s.user_id IS NOT DISTINCT FROM to_user AND s.team_id IS NOT DISTINCT FROM to_team;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION tenancy.unshare(text, text, uuid, uuid) IS
    'The context user withdraws a share of one resource from a user or a team; needs "share" on the resource.  Returns whether there was one.';
CREATE OR REPLACE FUNCTION tenancy.permission_holders(tenant uuid, permission text)
RETURNS TABLE (user_id uuid, via text, role text, team_id uuid, expires_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM tenancy._check_may_ask_about(NULL);
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
CREATE OR REPLACE FUNCTION tenancy.shared_with(user_id uuid, resource_type text, action text DEFAULT NULL)
RETURNS TABLE (tenant_id uuid, resource_id text, actions text[], team_id uuid, shared_by uuid)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT tenancy._check_may_ask_about(shared_with.user_id);
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
      -- Only shares made on the table that holds the type's resources.
      AND s.relid = (SELECT p.relid FROM tenancy.protected_tables p
                     WHERE p.resource_type = shared_with.resource_type
                       AND p.root IS NULL AND p.id_column IS NOT NULL)
      AND (s.user_id = mb.user_id
           OR s.team_id IN (SELECT tm.team_id FROM tenancy.team_members tm
                            WHERE tm.org_id = mb.org_id AND tm.user_id = mb.user_id))
      AND (shared_with.action IS NULL OR shared_with.action = ANY (s.actions))
    ORDER BY s.tenant_id, s.resource_id, s.team_id NULLS FIRST
$$;
COMMENT ON FUNCTION tenancy.shared_with(uuid, text, text) IS
    'The resources of a type shared with a user, directly (team_id NULL) or through a team, optionally only those shared for one action.';
CREATE OR REPLACE FUNCTION tenancy.explain(user_id uuid, tenant uuid, permission text,
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
    PERFORM tenancy._check_may_ask_about(user_id);
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
DROP FUNCTION tenancy._resource(text, text);
DROP FUNCTION tenancy._check_may_share(uuid, text, text, text[]);
DROP FUNCTION tenancy._check_permission(text);
CREATE FUNCTION tenancy._resource(resource_type text, resource_id text,
                                  OUT tenant_id uuid, OUT owner_id uuid, OUT id text,
                                  OUT rel regclass)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rec tenancy.protected_tables;
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
CREATE FUNCTION tenancy._check_may_share(sharer uuid, resource_type text, resource_id text,
                                         actions text[], OUT tenant_id uuid, OUT id text,
                                         OUT rel regclass)
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
    rel := r.rel;
END
$$;
CREATE FUNCTION tenancy._check_permission(permission text) RETURNS void
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_check_permission';
COMMENT ON FUNCTION tenancy.set_context_token(text) IS
    'Sets the context from a signed token (a JWT signed by a key of tenancy.signing_keys) until the end of the transaction.';

-- New functions: the guards of protect() and of the lookups.
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
CREATE FUNCTION tenancy._check_may_ask_about(user_id uuid) RETURNS void
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_check_asker';

-- 4. Every protected table (and partition) gets 0.2.0's policies, whose
--    share arm names the table; row-level security is left as it was
--    (_apply_protection turns it on and forces it).  Then nothing calls
--    0.1.0's share functions any more.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN
        SELECT t.*, c.relrowsecurity, c.relforcerowsecurity
        FROM tenancy.protected_tables t
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
        ORDER BY t.root IS NOT NULL, t.relid
    LOOP
        PERFORM tenancy._apply_protection(p.relid, p.tenant_column, p.resource_type,
                                          p.owner_column, p.id_column);
        IF NOT p.relforcerowsecurity THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', p.relid);
        END IF;
        IF NOT p.relrowsecurity THEN
            EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', p.relid);
        END IF;
    END LOOP;
END
$$;

DROP FUNCTION tenancy.shared_ids(text, anyelement);
DROP FUNCTION tenancy.is_shared(uuid, anyelement, text);
DROP FUNCTION tenancy.resource_allows(uuid, uuid, anyelement, text, boolean);

-- 5. Signed contexts: the keys (62_signing_keys.sql).
CREATE TABLE tenancy.signing_keys (
    kid         text PRIMARY KEY
                CONSTRAINT signing_keys_kid_check
                CHECK (kid OPERATOR(pg_catalog.<>) ''),
    alg         text NOT NULL
                CONSTRAINT signing_keys_alg_check
                CHECK (alg OPERATOR(pg_catalog.=) ANY (ARRAY['HS256', 'RS256', 'ES256', 'EdDSA'])),
    key         text NOT NULL,
    issuer      text,
    audience    text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE tenancy.signing_keys IS
    'Keys that sign context tokens, by key id (kid): an HS256 secret or a PEM public key; readable by the extension owner only.';
REVOKE ALL ON tenancy.signing_keys FROM PUBLIC;

CREATE FUNCTION tenancy._signing_key_check(alg text, key text)
RETURNS void
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_signing_key_check';

-- Every way a key gets in is checked: add_signing_key, INSERT, UPDATE, and
-- the COPY of a restored dump.
CREATE FUNCTION tenancy._signing_keys_check_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tenancy._signing_key_check(NEW.alg, NEW.key);
    RETURN NEW;
END
$$;

CREATE TRIGGER signing_keys_check
    BEFORE INSERT OR UPDATE ON tenancy.signing_keys
    FOR EACH ROW EXECUTE FUNCTION tenancy._signing_keys_check_row();

CREATE FUNCTION tenancy.add_signing_key(kid text, alg text, key text,
                                        issuer text DEFAULT NULL,
                                        audience text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF kid IS NULL OR alg IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'key id, algorithm and key must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF kid = '' THEN
        RAISE EXCEPTION 'key id must not be empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO tenancy.signing_keys AS k (kid, alg, key, issuer, audience)
    VALUES (add_signing_key.kid, add_signing_key.alg, add_signing_key.key,
            add_signing_key.issuer, add_signing_key.audience);
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'signing key "%" already exists', kid
        USING ERRCODE = 'duplicate_object',
              HINT = 'Add the new key under a new key id, then drop the old one.';
END
$$;
COMMENT ON FUNCTION tenancy.add_signing_key(text, text, text, text, text) IS
    'Adds a key that signs context tokens: kid, alg (HS256, RS256, ES256 or EdDSA), the HS256 secret or PEM public key, and the iss and aud its tokens must carry (NULL: not checked).';

CREATE FUNCTION tenancy.drop_signing_key(kid text)
RETURNS boolean
LANGUAGE sql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        DELETE FROM tenancy.signing_keys k
        WHERE k.kid OPERATOR(pg_catalog.=) drop_signing_key.kid
        RETURNING 1
    )
    SELECT count(*) OPERATOR(pg_catalog.>) 0 FROM gone
$$;
COMMENT ON FUNCTION tenancy.drop_signing_key(text) IS
    'Drops a signing key; tokens that name it stop working.  Returns whether there was one.';

CREATE FUNCTION tenancy.verify_token(token text,
                                     OUT user_id uuid, OUT tenant_id uuid,
                                     OUT expires_at timestamptz)
RETURNS record
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'tenancy_verify_token';
COMMENT ON FUNCTION tenancy.verify_token(text) IS
    'Checks a context token exactly as tenancy.context does, and returns its user, tenant and expiry; raises 28000 with the reason when it is refused.';

-- 6. tenancy.check_setup() (88_check_setup.sql).
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

-- 6b. External identities: create_user() takes an id, a subject and an
--     issuer, and an e-mail address only when it needs one
--     (40_management.sql).
-- The function is dropped and created anew: remember whom the DBA granted
-- EXECUTE on it (beyond what the install script gave), for after step 7.
SELECT pg_catalog.set_config('pg_tenancy_upgrade.create_user_grants',
    coalesce(pg_catalog.string_agg(a.grantee::text || ':' || a.is_grantable::text, ','), ''), true)
FROM pg_catalog.pg_proc p
CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
WHERE p.oid = 'tenancy.create_user(text, text, text)'::pg_catalog.regprocedure
  AND a.privilege_type = 'EXECUTE'
  AND a.grantee <> p.proowner
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_init_privs i
                  CROSS JOIN LATERAL pg_catalog.aclexplode(i.initprivs) ia
                  WHERE i.objoid = p.oid AND i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                    AND ia.grantee = a.grantee AND ia.privilege_type = 'EXECUTE');
DROP FUNCTION tenancy.create_user(text, text, text);
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

-- 7. Privileges, as 90_privileges.sql sets them: EXECUTE taken from PUBLIC
--    on every function but those listed (for the new functions; the others
--    kept their grants).
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

SELECT pg_catalog.pg_extension_config_dump('tenancy.signing_keys', '');

-- 7b. The DBA's grants on create_user() (see 6b), given back to the new
--     function.  They are the DBA's, not the extension's: its initial
--     privileges stay as step 7 left them, so that pg_dump keeps dumping
--     the grants.
DO $$
DECLARE
    fn regprocedure := 'tenancy.create_user(text, text, text, uuid, text, text)';
    initial aclitem[];
    g text;
    grantee oid;
BEGIN
    SELECT p.proacl INTO initial FROM pg_catalog.pg_proc p WHERE p.oid = fn;
    FOREACH g IN ARRAY pg_catalog.string_to_array(
            pg_catalog.current_setting('pg_tenancy_upgrade.create_user_grants', true), ',')
    LOOP
        grantee := pg_catalog.split_part(g, ':', 1)::oid;
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', fn,
            CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE grantee::regrole::text END,
            CASE WHEN pg_catalog.split_part(g, ':', 2) = 'true' THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    UPDATE pg_catalog.pg_init_privs i SET initprivs = initial
    WHERE i.objoid = fn AND i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
      AND i.objsubid = 0;
END
$$;

-- 8. protect() of 0.2.0 takes TRUNCATE, TRIGGER and REFERENCES from every
--    role but the owner: so does the update, on the tables protected
--    before it (a NOTICE names what was revoked).
SELECT tenancy._revoke_unsafe_privileges(p.relid)
FROM tenancy.protected_tables p
ORDER BY p.relid;

-- 9. 0.1.0 did not bind a share to a table: a share made on another table
--    of the type (one since dropped, say) may name an id the type's table
--    does not hold, and would grant on a row created later with that id.
--    Shares of rows that are not there go.
SELECT tenancy._forget_missing_shares(p.relid)
FROM tenancy.protected_tables p
WHERE p.root IS NULL AND p.id_column IS NOT NULL
ORDER BY p.relid;

-- 10. Citus: the hierarchy's version, its triggers and tenancy.citus_setup()
--     (as in src/sql/87_citus.sql).
CREATE TABLE tenancy.hierarchy_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0)
);
COMMENT ON TABLE tenancy.hierarchy_epoch IS
    'The version of the hierarchy: one more for each transaction that changed it on a Citus coordinator.';
INSERT INTO tenancy.hierarchy_epoch DEFAULT VALUES;

-- On a worker the apply worker writes the copy, with every trigger off but
-- the ones enabled for replicas: this one drops the decisions cached by
-- every backend of the worker when a change of the coordinator's arrives
-- (each carries a new version).
CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE ON tenancy.hierarchy_epoch
    FOR EACH ROW EXECUTE FUNCTION tenancy._invalidate_cache();
ALTER TABLE tenancy.hierarchy_epoch ENABLE REPLICA TRIGGER invalidate_cache;

CREATE FUNCTION tenancy._hierarchy_changed() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'tenancy_hierarchy_changed';

-- Every table of the hierarchy but the version itself: each statement
-- advances the version (once a transaction, on a coordinator), each row
-- written on a worker other than by replication is refused.
DO $$
DECLARE
    t name;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_catalog.pg_class c
        WHERE c.relnamespace = 'tenancy'::regnamespace AND c.relkind = 'r'
          AND c.relname <> 'hierarchy_epoch'
        ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER hierarchy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
               ON tenancy.%I FOR EACH STATEMENT EXECUTE FUNCTION tenancy._hierarchy_changed()', t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER hierarchy_read_only BEFORE INSERT OR UPDATE OR DELETE
               ON tenancy.%I FOR EACH ROW EXECUTE FUNCTION tenancy._hierarchy_changed()', t);
    END LOOP;
END
$$;

-- On a cluster set up with tenancy.citus_setup(), a protected table must
-- exist on the workers too (their copy of tenancy.protected_tables names
-- it): a Citus table by the end of the transaction that protects it.
CREATE FUNCTION tenancy._citus_check_protected() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known boolean;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL
       OR NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'tenancy_hierarchy')
       OR NOT EXISTS (SELECT FROM tenancy.protected_tables WHERE relid = NEW.relid) THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
        INTO known USING NEW.relid;
    IF NOT known THEN
        RAISE EXCEPTION 'cannot protect table %: it is not a Citus table', NEW.relid
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The workers'' copy of the hierarchy names every protected table, which must exist there.',
                  HINT = 'In the transaction that protects it, distribute it (create_distributed_table), make it a reference table, or add it to Citus''s metadata (citus_add_local_table_to_metadata).';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER citus_check_protected AFTER INSERT OR UPDATE ON tenancy.protected_tables
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION tenancy._citus_check_protected();

-- One command on a node of the cluster, in a connection of its own (not
-- in this transaction): its result, or an error naming the node.
CREATE FUNCTION tenancy._citus_run(host text, port integer, command text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ok boolean;
    res text;
BEGIN
    EXECUTE 'SELECT success, result FROM pg_catalog.master_run_on_worker($1, $2, $3, false)'
        INTO ok, res USING ARRAY[host], ARRAY[port], ARRAY[command];
    IF NOT ok THEN
        RAISE EXCEPTION 'pg_tenancy set-up failed on node %:%', host, port
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = res;
    END IF;
    RETURN res;
END
$$;

-- tenancy.citus_setup(): on the coordinator, makes every worker hold the
-- hierarchy and keep it; again after citus_add_node() for the new node.
-- It works through connections of its own (its transaction writes nothing
-- until the end: creating a replication slot waits for every transaction
-- that has written), and the coordinator must be in Citus's metadata
-- (citus_set_coordinator_host), so that the workers can reach it.
CREATE FUNCTION tenancy.citus_setup()
RETURNS TABLE (node text, subscription name, status text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    coord record;
    w record;
    slot name;
    names text[] := '{}';
    tables text;
    standby text;
    current_standby text := current_setting('synchronous_standby_names');
    deadline timestamptz;
    pending text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'permission denied to set up pg_tenancy on Citus'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It creates replication slots and subscriptions and changes the server''s configuration.',
                  HINT = 'Run it as a superuser.';
    END IF;
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RAISE EXCEPTION 'Citus is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CREATE EXTENSION citus first, with citus first in shared_preload_libraries.';
    END IF;
    IF (SELECT groupid FROM pg_dist_local_group) <> 0 THEN
        RAISE EXCEPTION 'tenancy.citus_setup() must run on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF current_setting('wal_level') <> 'logical' THEN
        RAISE EXCEPTION 'wal_level must be logical on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The workers'' copies of the hierarchy are kept by logical replication.',
                  HINT = 'ALTER SYSTEM SET wal_level = logical, and restart the coordinator.';
    END IF;
    IF current_standby <> '' AND current_standby !~ '^ANY [0-9]+ \(tenancy_node_[0-9]+(, tenancy_node_[0-9]+)*\)$' THEN
        RAISE EXCEPTION 'synchronous_standby_names is set already'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('pg_tenancy lists the workers'' subscriptions there; it holds %L.', current_standby),
                  HINT = 'Clear it, or combine it by hand with the subscriptions tenancy.citus_setup() creates.';
    END IF;
    SELECT nodename, nodeport INTO coord
    FROM pg_dist_node WHERE groupid = 0 AND noderole = 'primary';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the coordinator is not in Citus''s metadata'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'SELECT citus_set_coordinator_host(''<host the workers reach it at>'', <port>);';
    END IF;

    SELECT string_agg(p.relid::text, ', ' ORDER BY p.relid::text) INTO pending
    FROM tenancy.protected_tables p
    WHERE NOT EXISTS (SELECT FROM pg_dist_partition d WHERE d.logicalrelid = p.relid);
    IF pending IS NOT NULL THEN
        RAISE EXCEPTION 'protected tables that are not Citus tables: %', pending
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The workers'' copy of the hierarchy names every protected table, which must exist there.',
                  HINT = 'Distribute them, make them reference tables, add them to Citus''s metadata (citus_add_local_table_to_metadata), or unprotect them.';
    END IF;

    SELECT string_agg(format('tenancy.%I', c.relname), ', ' ORDER BY c.relname) INTO tables
    FROM pg_class c WHERE c.relnamespace = 'tenancy'::regnamespace AND c.relkind = 'r';

    IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'tenancy_hierarchy') THEN
        PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
            'SET citus.enable_ddl_propagation = off; '
            'CREATE PUBLICATION tenancy_hierarchy FOR TABLES IN SCHEMA tenancy; '
            'UPDATE tenancy.hierarchy_epoch SET epoch = epoch + 1');
    END IF;

    FOR w IN
        SELECT nodeid, nodename, nodeport FROM pg_dist_node
        WHERE groupid <> 0 AND noderole = 'primary' AND isactive
        ORDER BY nodeid
    LOOP
        slot := 'tenancy_node_' || w.nodeid;
        names := names || slot::text;
        IF tenancy._citus_run(w.nodename, w.nodeport,
               format('SELECT count(*) FROM pg_subscription WHERE subname = %L', slot)) = '0' THEN
            IF NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = slot) THEN
                PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
                    format('SELECT pg_create_logical_replication_slot(%L, ''pgoutput'')', slot));
            END IF;
            -- The worker's own rows (the built-in ones CREATE EXTENSION
            -- wrote) give way to the coordinator's.
            PERFORM tenancy._citus_run(w.nodename, w.nodeport, format(
                'SET session_replication_role = replica; '
                'SET citus.enable_ddl_propagation = off; '
                'TRUNCATE %s; '
                'CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION tenancy_hierarchy '
                'WITH (create_slot = false, slot_name = %L, copy_data = true)',
                tables, slot,
                format('host=%s port=%s dbname=%s user=%s application_name=%s',
                       coord.nodename, coord.nodeport, quote_ident(current_database()),
                       quote_ident(current_user), slot),
                slot));
        END IF;
    END LOOP;

    -- The first copy of every table.
    deadline := clock_timestamp() + interval '5 minutes';
    FOR w IN
        SELECT nodeid, nodename, nodeport FROM pg_dist_node
        WHERE groupid <> 0 AND noderole = 'primary' AND isactive
        ORDER BY nodeid
    LOOP
        slot := 'tenancy_node_' || w.nodeid;
        LOOP
            pending := tenancy._citus_run(w.nodename, w.nodeport, format(
                'SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid'
                ' WHERE s.subname = %L AND r.srsubstate <> ''r''', slot));
            EXIT WHEN pending = '0';
            IF clock_timestamp() > deadline THEN
                RAISE EXCEPTION 'the first copy of the hierarchy on node %:% did not finish', w.nodename, w.nodeport
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          DETAIL = format('%s tables are still being copied.', pending),
                          HINT = 'See the worker''s log; max_replication_slots and max_wal_senders on the coordinator, max_logical_replication_workers on the worker.';
            END IF;
            PERFORM pg_sleep(0.1);
        END LOOP;
    END LOOP;

    -- Commits that change the hierarchy wait until every worker applied
    -- them (citus.c raises synchronous_commit for those alone; the others
    -- keep what they had: "on" without standbys meant "local").
    standby := CASE WHEN cardinality(names) = 0 THEN ''
                    ELSE format('ANY %s (%s)', cardinality(names), array_to_string(names, ', ')) END;
    IF standby <> current_standby THEN
        PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
            format('ALTER SYSTEM SET synchronous_standby_names = %L', standby));
        IF current_setting('synchronous_commit') = 'on' AND current_standby = '' THEN
            PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
                'ALTER SYSTEM SET synchronous_commit = local');
        END IF;
        PERFORM pg_reload_conf();
    END IF;

    -- Back only once the coordinator's commits wait for every worker.
    deadline := clock_timestamp() + interval '1 minute';
    LOOP
        pending := tenancy._citus_run(coord.nodename, coord.nodeport, format(
            'SELECT count(*) FROM unnest(%L::text[]) a(name) WHERE NOT EXISTS ('
            ' SELECT FROM pg_stat_replication r WHERE r.application_name = a.name'
            ' AND r.state = ''streaming'' AND r.sync_state IN (''sync'', ''quorum''))', names));
        EXIT WHEN pending = '0';
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION '% workers do not stream the hierarchy synchronously', pending
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'See pg_stat_replication on the coordinator and the workers'' logs.';
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;

    -- Slots of nodes no longer in the cluster would keep WAL forever.
    FOR slot IN
        SELECT s.slot_name FROM pg_replication_slots s
        WHERE s.slot_name ~ '^tenancy_node_[0-9]+$' AND NOT s.active
          AND s.slot_name <> ALL (names)
    LOOP
        PERFORM tenancy._citus_run(coord.nodename, coord.nodeport,
            format('SELECT pg_drop_replication_slot(%L)', slot));
    END LOOP;

    RETURN QUERY
    SELECT format('%s:%s', n.nodename, n.nodeport), ('tenancy_node_' || n.nodeid)::name, 'ready'::text
    FROM pg_dist_node n
    WHERE n.groupid <> 0 AND n.noderole = 'primary' AND n.isactive
    ORDER BY n.nodeid;
END
$$;
COMMENT ON FUNCTION tenancy.citus_setup() IS
    'On a Citus coordinator: gives every worker a copy of the hierarchy kept by synchronous logical replication; run again after citus_add_node().';

REVOKE EXECUTE ON FUNCTION tenancy._hierarchy_changed() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._citus_check_protected() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._citus_run(text, integer, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy.citus_setup() FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- issue 13: protect() on Citus tables
--
-- protect()/unprotect() turn citus.enable_unsafe_triggers on for their own
-- triggers; the triggers find the protection of a shard's table
-- (_citus_shard); on a worker (read-only hierarchy) a row's shares are not
-- forgotten but the write refused (2BP01), unless the coordinator holds a
-- placement of the shard and forgets them there; TRUNCATE of a Citus table
-- forgets its shares on the coordinator before Citus empties the shards;
-- the policies name their table as text cast at run time when Citus is
-- loaded (a shard is created before its table's name exists on a worker);
-- share() reads a row the application wrote in the same transaction as the
-- application (citus.c), and a deferred trigger on tenancy.shares checks
-- at commit that a share made in the transaction still names the row it
-- was made for.  Functions in the order of src/sql.
-- ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION tenancy._citus_shard(rel oid, OUT relid oid, OUT shard bigint)
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

CREATE OR REPLACE FUNCTION tenancy._shard_on_coordinator(shard bigint) RETURNS boolean
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

CREATE OR REPLACE FUNCTION tenancy._citus_allow_triggers() RETURNS text
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

CREATE OR REPLACE FUNCTION tenancy._apply_protection(rel regclass, tenant_column name,
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

CREATE OR REPLACE FUNCTION tenancy._add_resource_triggers(tbl regclass) RETURNS void
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

-- The owner guard moved into the target lists of writes (policy.c, and
-- step 1c): the BEFORE row trigger goes from every table but on a Citus
-- cluster (see _add_resource_triggers).
DO $$
DECLARE
    t regclass;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        FOR t IN
            SELECT g.tgrelid::regclass FROM pg_catalog.pg_trigger g
            JOIN tenancy.protected_tables p ON p.relid = g.tgrelid
            WHERE g.tgname = 'tenancy_guard_update' AND g.tgparentid = 0
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER tenancy_guard_update ON %s', t);
        END LOOP;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION tenancy._guard_resource_update() RETURNS trigger
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

CREATE OR REPLACE FUNCTION tenancy._is_citus_table(rel oid) RETURNS boolean
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

CREATE OR REPLACE FUNCTION tenancy._shared_rows_in(root regclass, rel regclass) RETURNS text[]
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

CREATE OR REPLACE FUNCTION tenancy._forget_missing_shares(root regclass) RETURNS void
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

CREATE OR REPLACE FUNCTION tenancy._forget_shares() RETURNS trigger
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

CREATE OR REPLACE FUNCTION tenancy.unprotect(tbl regclass) RETURNS void
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

CREATE OR REPLACE FUNCTION tenancy._protect_new_partitions() RETURNS event_trigger
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

CREATE OR REPLACE FUNCTION tenancy._read_as_session_role(query text, a text, b uuid) RETURNS text[]
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_read_as_session_role';

CREATE OR REPLACE FUNCTION tenancy._resource(resource_type text, resource_id text,
                                  OUT tenant_id uuid, OUT owner_id uuid, OUT id text,
                                  OUT rel regclass)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rec tenancy.protected_tables;
    id_type text;
    n bigint;
    query text;
    got text[];
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
    query := format('SELECT %I, %s, %I::text, count(*) OVER () FROM %s
                     WHERE %I = CAST($1 AS %s) AND ($2 IS NULL OR %I = $2) LIMIT 1',
                    rec.tenant_column,
                    coalesce(quote_ident(rec.owner_column), 'NULL::uuid'),
                    rec.id_column, rec.relid, rec.id_column, id_type, rec.tenant_column);
    BEGIN
        BEGIN
            EXECUTE query INTO tenant_id, owner_id, id, n
                USING resource_id, tenancy.current_tenant_id();
        EXCEPTION WHEN active_sql_transaction THEN
            -- Citus: the application wrote the row's shard earlier in this
            -- transaction over its own connection, which alone sees that
            -- write.  Read as the application then, under its context
            -- (citus.c); without Citus this never happens.
            IF current_setting('citus.propagate_set_commands', true) IS NULL THEN
                RAISE;
            END IF;
            got := tenancy._read_as_session_role(query, resource_id, tenancy.current_tenant_id());
            tenant_id := got[1]::uuid;
            owner_id := got[2]::uuid;
            id := got[3];
            n := got[4]::bigint;
        END;
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

CREATE OR REPLACE FUNCTION tenancy._row_fingerprint(rel regclass, tenant uuid, id text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    rec tenancy.protected_tables := tenancy._protection_checked(rel);
    id_type text;
    query text;
    got text[];
    fp text;
BEGIN
    IF rec.relid IS NULL OR rec.id_column IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO id_type
    FROM pg_attribute a WHERE a.attrelid = rec.relid AND a.attname = rec.id_column;
    query := format('SELECT ctid::text FROM %s WHERE %I = CAST($1 AS %s) AND %I = $2',
                    rec.relid, rec.id_column, id_type, rec.tenant_column);
    BEGIN
        EXECUTE query INTO fp USING id, tenant;
    EXCEPTION WHEN active_sql_transaction THEN
        IF current_setting('citus.propagate_set_commands', true) IS NULL THEN
            RAISE;
        END IF;
        got := tenancy._read_as_session_role(query, id, tenant);
        fp := got[1];
    END;
    RETURN fp;
END
$$;

CREATE OR REPLACE FUNCTION tenancy._note_pending_share(key text, fingerprint text) RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_note_pending_share';

CREATE OR REPLACE FUNCTION tenancy._pending_share(key text) RETURNS text
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'tenancy_pending_share';

CREATE FUNCTION tenancy._check_share_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was text := tenancy._pending_share(NEW.id::text);
    now text;
BEGIN
    -- Not made by share() in this transaction, or unshared since.
    IF was IS NULL OR NOT EXISTS (SELECT 1 FROM tenancy.shares s WHERE s.id = NEW.id) THEN
        RETURN NULL;
    END IF;
    now := tenancy._row_fingerprint(NEW.relid, NEW.tenant_id, NEW.resource_id);
    IF now IS NULL THEN
        DELETE FROM tenancy.shares s WHERE s.id = NEW.id;
    ELSIF now IS DISTINCT FROM was THEN
        RAISE EXCEPTION 'a row of % shared in this transaction was changed or replaced later in it', NEW.relid
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = format('On a Citus table pg_tenancy cannot tell the row shared (%s %s) from another one with its id.', NEW.resource_type, NEW.resource_id),
                  HINT = 'Share a row after changing it, or in a transaction of its own.';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tenancy._check_share_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    was text := tenancy._pending_share(NEW.id::text);
    now text;
BEGIN
    -- Not made by share() in this transaction, or unshared since.
    IF was IS NULL OR NOT EXISTS (SELECT 1 FROM tenancy.shares s WHERE s.id = NEW.id) THEN
        RETURN NULL;
    END IF;
    now := tenancy._row_fingerprint(NEW.relid, NEW.tenant_id, NEW.resource_id);
    IF now IS NULL THEN
        DELETE FROM tenancy.shares s WHERE s.id = NEW.id;
    ELSIF now IS DISTINCT FROM was THEN
        RAISE EXCEPTION 'a row of % shared in this transaction was changed or replaced later in it', NEW.relid
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = format('On a Citus table pg_tenancy cannot tell the row shared (%s %s) from another one with its id.', NEW.resource_type, NEW.resource_id),
                  HINT = 'Share a row after changing it, or in a transaction of its own.';
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tenancy.share(resource_type text, resource_id text, actions text[],
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
        -- Not _require_member(): its message names the user's e-mail, which
        -- the sharer, who may name any user id, is not to learn.
        IF NOT EXISTS (SELECT 1 FROM tenancy.memberships m
                       WHERE m.org_id = t.org_id AND m.user_id = to_user) THEN
            RAISE EXCEPTION 'the user to share with is not a member of the resource''s organization'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
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
        (org_id, tenant_id, resource_type, relid, resource_id, user_id, team_id, actions, shared_by)
    VALUES (t.org_id, t.id, resource_type, target.rel, target.id, to_user, to_team, acts, sharer)
    ON CONFLICT ON CONSTRAINT shares_key DO UPDATE
        SET actions = EXCLUDED.actions, shared_by = EXCLUDED.shared_by,
            created_at = pg_catalog.now()
    RETURNING s.id INTO share_id;
    IF current_setting('citus.propagate_set_commands', true) IS NOT NULL
       AND tenancy._is_citus_table(target.rel) THEN
        PERFORM tenancy._note_pending_share(
            share_id::text, coalesce(tenancy._row_fingerprint(target.rel, t.id, target.id), ''));
    END IF;
    RETURN share_id;
END
$$;

CREATE CONSTRAINT TRIGGER shares_row_check AFTER INSERT OR UPDATE ON tenancy.shares
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (pg_catalog.current_setting('citus.propagate_set_commands', true) IS NOT NULL)
    EXECUTE FUNCTION tenancy._check_share_row();

-- Internal helpers, not for PUBLIC (90_privileges.sql); _citus_shard and
-- _citus_allow_triggers are, for the update guard and unprotect().
REVOKE EXECUTE ON FUNCTION tenancy._hierarchy_writable() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._shard_on_coordinator(bigint) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._is_citus_table(oid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._shared_rows_in(regclass, regclass) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._read_as_session_role(text, text, uuid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._row_fingerprint(regclass, uuid, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._note_pending_share(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._pending_share(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION tenancy._check_share_row() FROM PUBLIC;
-- end of issue 13: protect() on Citus tables

-- Issue 14: the functions a tenant-wide read policy calls may run in a
-- parallel worker, which takes the context its leader decided on
-- (tenancy.parallel_context).
ALTER FUNCTION tenancy.current_user_id() PARALLEL SAFE;
ALTER FUNCTION tenancy.current_tenant_id() PARALLEL SAFE;
ALTER FUNCTION tenancy.visible_tenants(text) PARALLEL SAFE;
ALTER FUNCTION tenancy.context_tenant(text) PARALLEL SAFE;
