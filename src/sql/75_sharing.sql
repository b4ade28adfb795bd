-- ---------------------------------------------------------------------------
-- Sharing one resource (a row of a table protected with an id column) with a
-- user or a team (SPEC section 4).
--
-- share() and unshare() act for the context user: the sharer is whoever the
-- current context names, and the rules are checked against what that user
-- may do on the resource.  They are SECURITY DEFINER so that they can read
-- the row (whatever the policies would show) and write tenancy.shares, which
-- no one else can: a share cannot be forged by inserting into the table.
-- ---------------------------------------------------------------------------

-- The protected table whose rows are the resources of a type (its root,
-- for a partitioned table: shares are made on it), and the tenant, owner and
-- id (as the id column's own text, whatever form the caller wrote it in) of
-- one of them, in the current tenant if one is set; all but the table NULL
-- when there is no such row, or more than one (ids unique only per tenant,
-- and no current tenant to choose).
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

-- Runs a SELECT (parameters $1 text, $2 uuid) as the session's role and
-- returns its first row as text (citus.c).  For _resource() on Citus.
CREATE FUNCTION tenancy._read_as_session_role(query text, a text, b uuid) RETURNS text[]
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_read_as_session_role';

-- Shares and Citus: a worker does not see a share before the coordinator
-- commits it, so within the transaction that made it, the row can go (or
-- take a new id) without its share going too (_forget_shares).  share()
-- notes what the row was (citus.c), and a deferred trigger looks at the row
-- again at commit: gone, the share goes (as on a local table); changed or
-- replaced (say, deleted and created again with the same id), the commit
-- is refused — a share never passes to another row.

-- The row of a protected table with this tenant and id, as it is now (its
-- ctid, as text); NULL when there is none.  Read as _resource() reads.
CREATE FUNCTION tenancy._row_fingerprint(rel regclass, tenant uuid, id text) RETURNS text
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

CREATE FUNCTION tenancy._note_pending_share(key text, fingerprint text) RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'tenancy_note_pending_share';

CREATE FUNCTION tenancy._pending_share(key text) RETURNS text
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

CREATE CONSTRAINT TRIGGER shares_row_check AFTER INSERT OR UPDATE ON tenancy.shares
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (pg_catalog.current_setting('citus.propagate_set_commands', true) IS NOT NULL)
    EXECUTE FUNCTION tenancy._check_share_row();

-- The context user, who acts in share() and unshare().
CREATE FUNCTION tenancy._acting_user() RETURNS uuid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u uuid := tenancy.current_user_id();
BEGIN
    IF u IS NULL THEN
        RAISE EXCEPTION 'no tenancy context is set'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Call tenancy.set_context() in this transaction first.';
    END IF;
    RETURN u;
END
$$;

-- May the user share these actions of the resource?  Needs "share" and
-- every action shared, on that resource (tenant-wide, as its owner or by a
-- share of it).  A missing resource is refused with the same error, so that
-- share() does not tell which ids exist.
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

CREATE FUNCTION tenancy._check_recipient(to_user uuid, to_team uuid) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF num_nonnulls(to_user, to_team) <> 1 THEN
        RAISE EXCEPTION 'a share goes to exactly one user or one team'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass either to_user => ... or to_team => ....';
    END IF;
END
$$;

CREATE FUNCTION tenancy.share(resource_type text, resource_id text, actions text[],
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
COMMENT ON FUNCTION tenancy.share(text, text, text[], uuid, uuid) IS
    'The context user shares actions on one resource with a user or a team; replaces an earlier share to the same recipient.  Needs "share" and every action shared, on that resource.';

CREATE FUNCTION tenancy.unshare(resource_type text, resource_id text,
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

-- Taking a user out of one tenant: their own roles there and the shares
-- they received there.  (Team roles stay: they belong to the team.)
CREATE FUNCTION tenancy.remove_from_tenant(tenant uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    t tenancy.tenants := tenancy._tenant(tenant);
BEGIN
    PERFORM tenancy._not_null(user_id, 'user');
    DELETE FROM tenancy.role_assignments ra
    WHERE ra.user_id = user_id AND ra.tenant_id = t.id;
    DELETE FROM tenancy.shares s
    WHERE s.user_id = user_id AND s.tenant_id = t.id;
END
$$;
COMMENT ON FUNCTION tenancy.remove_from_tenant(uuid, uuid) IS
    'Removes a user''s own roles on a tenant and the shares they received in it; their owner''s rights there end with their last role.';
