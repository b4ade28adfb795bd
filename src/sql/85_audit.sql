-- ---------------------------------------------------------------------------
-- The audit log: every change to the hierarchy, recorded by row triggers in
-- the transaction that made it, with who made it (the database role outside
-- any SECURITY DEFINER function, the session's role, and the context user),
-- what changed (table, operation, old and new row) and when (the
-- transaction id and the time).
--
-- It cannot be changed: no role is granted INSERT, UPDATE or DELETE, and
-- triggers refuse UPDATE, DELETE and TRUNCATE even from its owner.  It is
-- readable by everyone, through pg_tenancy's own row-level security: the
-- entries of the organizations where the context user is an admin or a
-- manager.
--
-- Entries carry the organization's id without a foreign key: the record of
-- an organization's changes outlives the organization.  pg_dump does not
-- carry the log (restoring is itself recorded, as inserts).
-- ---------------------------------------------------------------------------

CREATE TABLE tenancy.audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       uuid,
    occurred_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    xid          xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    db_role      name NOT NULL,
    session_role name NOT NULL,
    context_user uuid,
    table_name   name NOT NULL,
    operation    text NOT NULL
                 CONSTRAINT audit_log_operation_check
                 CHECK (operation OPERATOR(pg_catalog.=) ANY (ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])),
    old_row      jsonb,
    new_row      jsonb
);
CREATE INDEX audit_log_org_idx ON tenancy.audit_log (org_id, id);
COMMENT ON TABLE tenancy.audit_log IS
    'Every change to the hierarchy, with who made it and when; append-only, readable per organization by its admins and managers.';

CREATE FUNCTION tenancy._outer_role() RETURNS name
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_outer_role';

CREATE FUNCTION tenancy._audit_orgs() RETURNS uuid[]
LANGUAGE C STABLE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_audit_orgs';
COMMENT ON FUNCTION tenancy._audit_orgs() IS
    'The organizations whose audit log the current user may read.';

CREATE FUNCTION tenancy._audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
    orgs uuid[];
    ctx_user uuid;
    r jsonb;
BEGIN
    -- Only pg_tenancy's own tables write the log (EXECUTE is not granted,
    -- so nobody else can attach this trigger; this is a second lock).
    -- (Nobody but the extension's owner can create a table in the schema.)
    IF TG_TABLE_SCHEMA <> 'tenancy' THEN
        RAISE EXCEPTION 'tenancy._audit() records changes to pg_tenancy''s own tables only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'TRUNCATE' THEN
        orgs := ARRAY[NULL::uuid];
    ELSE
        IF TG_OP <> 'INSERT' THEN
            old_row := to_jsonb(OLD);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            new_row := to_jsonb(NEW);
        END IF;
        -- An invitation's token hash is a secret's digest: not for the log.
        old_row := old_row - 'token_hash';
        new_row := new_row - 'token_hash';
        r := coalesce(new_row, old_row);
        IF TG_TABLE_NAME = 'organizations' THEN
            orgs := ARRAY[(r ->> 'id')::uuid];
        ELSIF TG_TABLE_NAME = 'users' THEN
            -- A user belongs to no organization: every one they are in sees it.
            SELECT array_agg(m.org_id ORDER BY m.org_id) INTO orgs
            FROM tenancy.memberships m WHERE m.user_id = (r ->> 'id')::uuid;
            orgs := coalesce(orgs, ARRAY[NULL::uuid]);
        ELSE
            orgs := ARRAY[(r ->> 'org_id')::uuid];
        END IF;
    END IF;
    ctx_user := tenancy.current_user_id();
    INSERT INTO tenancy.audit_log
        (org_id, db_role, session_role, context_user, table_name, operation, old_row, new_row)
    SELECT o, tenancy._outer_role(), session_user, ctx_user, TG_TABLE_NAME, TG_OP, old_row, new_row
    FROM unnest(orgs) o;
    IF TG_WHEN = 'BEFORE' THEN
        RETURN OLD;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tenancy._audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'the audit log cannot be changed'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s on tenancy.audit_log is not allowed.', TG_OP);
END
$$;

CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON tenancy.audit_log
    FOR EACH ROW EXECUTE FUNCTION tenancy._audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON tenancy.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._audit_log_immutable();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'tenants', 'users', 'memberships', 'teams',
                             'team_members', 'roles', 'role_assignments', 'shares',
                             'invitations', 'invitation_tenant_roles', 'invitation_teams']
    LOOP
        -- A user's deletion is recorded before it happens, while their
        -- memberships (which it cascades to) still say which organizations
        -- should see it; if the deletion fails, the entry goes with it.
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER audit AFTER INSERT OR UPDATE %s ON tenancy.%I
               FOR EACH ROW EXECUTE FUNCTION tenancy._audit()',
            CASE WHEN t = 'users' THEN '' ELSE 'OR DELETE' END, t);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER audit_truncate AFTER TRUNCATE ON tenancy.%I
               FOR EACH STATEMENT EXECUTE FUNCTION tenancy._audit()', t);
    END LOOP;
    CREATE TRIGGER audit_delete BEFORE DELETE ON tenancy.users
        FOR EACH ROW EXECUTE FUNCTION tenancy._audit();
END
$$;

ALTER TABLE tenancy.audit_log ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON tenancy.audit_log FOR SELECT TO PUBLIC
    USING (org_id OPERATOR(pg_catalog.=) ANY (tenancy._audit_orgs()));
GRANT SELECT ON tenancy.audit_log TO PUBLIC;
