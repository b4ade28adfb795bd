--
-- The audit log: every change to the hierarchy, in the changing
-- transaction, with who and when; append-only; readable per organization.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse

CREATE FUNCTION try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- The log since a mark, in a stable form (ids replaced by names).
CREATE TABLE names (id uuid PRIMARY KEY, name text);
GRANT SELECT ON names TO PUBLIC;
CREATE FUNCTION show(j jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(k || '=' || coalesce((SELECT name FROM names WHERE id::text = v), v), ' ' ORDER BY k)
    FROM jsonb_each_text(j - 'created_at' - 'id' - 'expires_at') AS e(k, v)
    WHERE v IS NOT NULL
$$;
CREATE FUNCTION log_since(mark bigint) RETURNS TABLE (org text, who text, ctx text, what text, old text, new text)
LANGUAGE sql AS $$
    SELECT (SELECT name FROM names WHERE id = a.org_id), a.db_role || '/' || a.session_role,
           (SELECT name FROM names WHERE id = a.context_user),
           a.table_name || ' ' || a.operation, show(a.old_row), show(a.new_row)
    FROM tenancy.audit_log a WHERE a.id > mark
    -- A user's change is logged once per organization, in no set order.
    ORDER BY a.xid, a.table_name = 'users', 1, a.id
$$;

SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('mia@acme.test') AS mia \gset
SELECT tenancy.create_user('ned@acme.test') AS ned \gset
SELECT tenancy.create_user('bob@globex.test') AS bob \gset
SELECT tenancy.create_organization('acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('globex', admin => :'bob') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_team(:'acme', 'ops') AS ops \gset
INSERT INTO names VALUES (:'alice', 'alice'), (:'mia', 'mia'), (:'ned', 'ned'), (:'bob', 'bob'),
    (:'acme', 'acme'), (:'globex', 'globex'), (:'prod', 'prod'), (:'ops', 'ops'),
    ('00000000-0000-0000-0001-000000000001', 'org admin'), ('00000000-0000-0000-0001-000000000002', 'org manager'),
    ('00000000-0000-0000-0001-000000000004', 'org member'), ('00000000-0000-0000-0002-000000000002', 'tenant editor');
SELECT count(*) > 0 AS setup_recorded FROM tenancy.audit_log;

-- A role the DBA grants the management functions to: the log names it, not
-- the functions' owner, even though they run as SECURITY DEFINER.
CREATE ROLE regress_admin_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tenancy TO regress_admin_app;
SELECT max(id) AS mark FROM tenancy.audit_log \gset

SET ROLE regress_admin_app;
BEGIN;
SELECT tenancy.set_context(:'alice');
SELECT 'done' FROM tenancy.add_member(:'acme', :'mia', 'manager');
SELECT 'done' FROM tenancy.add_member(:'acme', :'ned');
SELECT 'done' FROM tenancy.add_team_member(:'ops', :'ned');
SELECT tenancy.assign_role('editor', tenant => :'prod', user_id => :'ned') IS NOT NULL;
-- The transaction id is this transaction's.
SELECT count(*) AS entries, bool_and(xid = pg_current_xact_id()) AS this_transaction,
       bool_and(occurred_at >= now()) AS timed
FROM tenancy.audit_log WHERE id > :mark;
COMMIT;
RESET ROLE;
SELECT * FROM log_since(:mark);

-- Cascades are recorded too: removing a member takes their team and tenant
-- roles, and each goes in the log.  A deactivation is recorded for every
-- organization the user is in.
SELECT max(id) AS mark FROM tenancy.audit_log \gset
SELECT tenancy.remove_member(:'acme', :'ned');
SELECT tenancy.add_member(:'globex', :'mia');
SELECT max(id) AS mark2 FROM tenancy.audit_log \gset
SELECT tenancy.deactivate_user(:'mia');
SELECT * FROM log_since(:mark);

-- A user's deletion is seen by every organization they were in.
SELECT tenancy.create_user('temp@acme.test') AS temp \gset
SELECT tenancy.add_member(:'acme', :'temp');
SELECT tenancy.add_member(:'globex', :'temp');
SELECT max(id) AS mark FROM tenancy.audit_log \gset
SELECT tenancy.delete_user(:'temp');
SELECT (SELECT name FROM names WHERE id = org_id) AS org, table_name, operation
FROM tenancy.audit_log WHERE id > :mark AND table_name = 'users' ORDER BY 1;

-- A rolled-back change leaves no entry.
SELECT max(id) AS mark FROM tenancy.audit_log \gset
BEGIN;
SELECT tenancy.create_team(:'acme', 'ghost') IS NOT NULL AS created;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT tenancy.create_team(:'acme', 'ghost2') IS NOT NULL AS created;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT count(*) AS entries_after_rollback FROM tenancy.audit_log WHERE id > :mark;

-- An invitation's token hash never reaches the log.
SELECT (tenancy.invite(:'acme', 'zoe@acme.test')).invitation_id IS NOT NULL AS invited;
SELECT count(*) AS hashes_logged FROM tenancy.audit_log
WHERE old_row ? 'token_hash' OR new_row ? 'token_hash';
SELECT count(*) AS invitation_logged FROM tenancy.audit_log
WHERE table_name = 'invitations' AND new_row ->> 'email' = 'zoe@acme.test';

--
-- Reading: the entries of the organizations where the context user is an
-- admin or a manager; nothing without a context.
--
SELECT tenancy.reactivate_user(:'mia');
CREATE ROLE regress_app_user;
SET ROLE regress_app_user;
SELECT count(*) AS without_context FROM tenancy.audit_log;
BEGIN;
SELECT tenancy.set_context(:'alice');
SELECT array_agg(DISTINCT (SELECT name FROM names WHERE id = org_id)) AS alice_reads FROM tenancy.audit_log;
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'mia');
-- mia manages acme and is a plain member of globex.
SELECT array_agg(DISTINCT (SELECT name FROM names WHERE id = org_id)) AS mia_reads FROM tenancy.audit_log;
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'bob');
SELECT array_agg(DISTINCT (SELECT name FROM names WHERE id = org_id)) AS bob_reads FROM tenancy.audit_log;
COMMIT;

--
-- Nobody changes it: not an application role, not its owner.
--
SELECT try('INSERT INTO tenancy.audit_log (db_role, session_role, table_name, operation) VALUES (''x'', ''x'', ''x'', ''INSERT'')') AS app_inserts;
SELECT try('UPDATE tenancy.audit_log SET db_role = ''nobody''') AS app_updates;
SELECT try('DELETE FROM tenancy.audit_log') AS app_deletes;
SELECT try('TRUNCATE tenancy.audit_log') AS app_truncates;
RESET ROLE;
SELECT count(*) AS entries FROM tenancy.audit_log \gset
SELECT try('UPDATE tenancy.audit_log SET db_role = ''nobody''') AS superuser_updates;
SELECT try('DELETE FROM tenancy.audit_log') AS superuser_deletes;
SELECT try('TRUNCATE tenancy.audit_log') AS superuser_truncates;
SELECT count(*) = :entries AS nothing_lost, count(*) FILTER (WHERE db_role = 'nobody') AS changed
FROM tenancy.audit_log;

-- The history outlives the organization.
SELECT count(*) > 0 AS globex_entries FROM tenancy.audit_log WHERE org_id = :'globex';
SELECT tenancy.delete_organization(:'globex');
SELECT count(*) > 0 AS globex_entries_kept FROM tenancy.audit_log WHERE org_id = :'globex';

DROP ROLE regress_app_user;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA tenancy FROM regress_admin_app;
DROP ROLE regress_admin_app;
DROP FUNCTION log_since(bigint);
DROP FUNCTION show(jsonb);
DROP FUNCTION try(text);
DROP TABLE names;
DROP EXTENSION pg_tenancy;
