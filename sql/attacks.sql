--
-- Attacks on tenant isolation.  Each case tries to read or write another
-- tenant's rows (or to act as someone else) and shows that it fails: a
-- "leaked" count of 0, only the current tenant's rows, or the error with its
-- SQLSTATE.  Two things are deliberately outside the guarantee and shown as
-- such: superusers and roles with BYPASSRLS.
--
-- The cast: organization acme (tenants prod and staging) and organization
-- globex (tenant main); alice administers acme, bob globex, carol edits acme
-- prod, vic views acme prod.  app.documents is owned by the ordinary role
-- regress_app_owner and protected; regress_app_user is what the application connects as.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = public;

SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('carol@acme.test') AS carol \gset
SELECT tenancy.create_user('vic@acme.test') AS vic \gset
SELECT tenancy.create_user('bob@globex.test') AS bob \gset
SELECT tenancy.create_organization('acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('globex', admin => :'bob') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS ta \gset
SELECT tenancy.create_tenant(:'acme', 'staging') AS ta2 \gset
SELECT tenancy.create_tenant(:'globex', 'main') AS tb \gset
SELECT 'done' AS carol_added FROM tenancy.add_member(:'acme', :'carol');
SELECT 'done' AS vic_added FROM tenancy.add_member(:'acme', :'vic');
SELECT tenancy.assign_role('editor', tenant => :'ta', user_id => :'carol') IS NOT NULL AS carol_edits_prod;
SELECT tenancy.assign_role('viewer', tenant => :'ta', user_id => :'vic') IS NOT NULL AS vic_views_prod;

-- Context values, kept in psql variables so that no id reaches the output.
SELECT :'alice' || '/' || :'ta' AS ctx_alice_ta, :'alice' AS ctx_alice,
       :'bob' || '/' || :'tb' AS ctx_bob_tb, :'carol' || '/' || :'ta' AS ctx_carol_ta,
       :'vic' || '/' || :'ta' AS ctx_vic_ta \gset

-- Helpers, owned by the superuser: run a statement and say what happened
-- ("ok, N rows" or "SQLSTATE: message").
\i test/regress/attack_helpers.psql

-- Roles and the protected table.
CREATE ROLE regress_app_owner;
CREATE ROLE regress_app_user LOGIN;
CREATE ROLE regress_app_bypass BYPASSRLS;
CREATE SCHEMA app AUTHORIZATION regress_app_owner;
GRANT USAGE ON SCHEMA app TO regress_app_user, regress_app_bypass;
CREATE SCHEMA evil AUTHORIZATION regress_app_user;

SET ROLE regress_app_owner;
CREATE TABLE app.documents (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX documents_tenant_idx ON app.documents (tenant_id);
SELECT tenancy.protect('app.documents', tenant_column => 'tenant_id', resource_type => 'document');
GRANT SELECT, INSERT, UPDATE, DELETE ON app.documents TO regress_app_user;
GRANT USAGE ON SEQUENCE app.documents_id_seq TO regress_app_user;
GRANT SELECT ON app.documents TO regress_app_bypass;
RESET ROLE;
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'app.documents'::regclass) AS policies
FROM pg_class WHERE oid = 'app.documents'::regclass;

-- The data (the superuser is not subject to row-level security).
INSERT INTO app.documents (tenant_id, body) VALUES
    (:'ta',  'acme prod 1'),
    (:'ta',  'acme prod 2'),
    (:'ta2', 'acme staging 1'),
    (:'tb',  'globex secret 1'),
    (:'tb',  'globex secret 2'),
    (:'tb',  'globex secret 3');

--
-- 1. No context: nothing to read, and every write fails with a clear 42501.
--
SET ROLE regress_app_user;
SELECT count(*) AS leaked FROM app.documents;
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'tb', 'planted')) AS insert_without_context;
SELECT atk.try('UPDATE app.documents SET body = ''defaced''') AS update_without_context;
SELECT atk.try('DELETE FROM app.documents') AS delete_without_context;
SELECT atk.try('UPDATE app.documents SET body = ''defaced'' WHERE id = 4') AS update_one_without_context;
SELECT atk.try('DELETE FROM app.documents WHERE id = 4') AS delete_one_without_context;
RESET ROLE;

--
-- 2. The table owner (forced row-level security) and the application role
--    see only their context's rows.
--
SET ROLE regress_app_owner;
SELECT count(*) AS owner_leaked_without_context FROM app.documents;
BEGIN;
SELECT 'set' AS context FROM tenancy.set_context(:'alice', :'ta');
SELECT string_agg(body, ', ' ORDER BY id) AS owner_sees FROM app.documents;
COMMIT;
RESET ROLE;

SET ROLE regress_app_user;
BEGIN;
SELECT 'set' AS context FROM tenancy.set_context(:'alice', :'ta');
SELECT string_agg(body, ', ' ORDER BY id) AS alice_in_prod_sees FROM app.documents;
SELECT count(*) AS leaked FROM app.documents WHERE tenant_id = :'tb';
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice';
SELECT string_agg(body, ', ' ORDER BY id) AS alice_without_tenant_sees FROM app.documents;
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_bob_tb';
SELECT string_agg(body, ', ' ORDER BY id) AS bob_sees FROM app.documents;
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_vic_ta';
SELECT string_agg(body, ', ' ORDER BY id) AS viewer_sees FROM app.documents;
COMMIT;
-- A forced parallel plan changes nothing (the policy functions are
-- PARALLEL RESTRICTED and a worker never reads the context).
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SET LOCAL force_parallel_mode = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT string_agg(body, ', ' ORDER BY id) AS parallel_sees FROM app.documents;
COMMIT;
RESET ROLE;

--
-- 3. Outside the guarantee: a role with BYPASSRLS and a superuser see every
--    row, with or without a context.  This is PostgreSQL's rule; do not give
--    these attributes to the application's roles.
--
SET ROLE regress_app_bypass;
SELECT count(*) AS bypassrls_sees_all_outside_the_guarantee FROM app.documents;
RESET ROLE;
SELECT count(*) AS superuser_sees_all_outside_the_guarantee FROM app.documents;

--
-- 4. The application role cannot switch the protection off or grant itself
--    rights.
--
SET ROLE regress_app_user;
SELECT atk.try('ALTER TABLE app.documents DISABLE ROW LEVEL SECURITY') AS disable_rls;
SELECT atk.try('ALTER TABLE app.documents NO FORCE ROW LEVEL SECURITY') AS no_force_rls;
SELECT atk.try('DROP POLICY tenancy_select ON app.documents') AS drop_policy;
SELECT atk.try('CREATE POLICY open ON app.documents USING (true)') AS create_policy;
SELECT atk.try('SELECT tenancy.unprotect(''app.documents'')') AS unprotect;
SELECT atk.try('SET row_security = off; SELECT count(*) FROM app.documents') AS row_security_off;
SELECT atk.try(format('SELECT tenancy.assign_role(''admin'', tenant => %L, user_id => %L)', :'tb', :'alice')) AS assign_role;
SELECT atk.try(format('INSERT INTO tenancy.role_assignments (tenant_id, user_id, role_id) VALUES (%L, %L, %L)',
                      :'tb', :'alice', '00000000-0000-0000-0002-000000000001')) AS insert_assignment;
SELECT atk.try('CREATE FUNCTION tenancy.visible_tenants(varchar) RETURNS uuid[] LANGUAGE sql AS ''SELECT NULL::uuid[]''') AS function_in_tenancy;
RESET ROLE;

--
-- 5. Writes into another tenant.
--
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
-- INSERT with another tenant's id.
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'tb', 'planted')) AS insert_other_tenant;
-- ... and with the staging tenant of the same organization (not the context's tenant).
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'ta2', 'planted')) AS insert_other_tenant_same_org;
-- UPDATE moving a row into another tenant.
SELECT atk.try(format('UPDATE app.documents SET tenant_id = %L WHERE id = 1', :'tb')) AS move_row_out;
-- UPDATE and DELETE of hidden rows touch nothing.
SELECT atk.try('UPDATE app.documents SET body = ''defaced'' WHERE id = 4') AS update_hidden_row;
SELECT atk.try(format('DELETE FROM app.documents WHERE tenant_id = %L', :'tb')) AS delete_hidden_rows;
-- INSERT ... ON CONFLICT DO UPDATE onto a hidden row fails ...
SELECT atk.try(format('INSERT INTO app.documents (id, tenant_id, body) VALUES (4, %L, %L)
                       ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body', :'ta', 'hijacked')) AS upsert_onto_hidden_row;
SELECT atk.try(format('INSERT INTO app.documents (id, tenant_id, body) VALUES (4, %L, %L)
                       ON CONFLICT (id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id', :'ta', 'hijacked')) AS upsert_steal_hidden_row;
-- ... and DO NOTHING does nothing.
SELECT atk.try(format('INSERT INTO app.documents (id, tenant_id, body) VALUES (4, %L, %L)
                       ON CONFLICT (id) DO NOTHING', :'ta', 'hijacked')) AS upsert_do_nothing;
-- RETURNING returns only the context's rows.
SELECT atk.try('UPDATE app.documents SET body = body') AS update_all_rows;
SAVEPOINT s;
UPDATE app.documents SET body = body RETURNING body;
DELETE FROM app.documents RETURNING body;
ROLLBACK TO SAVEPOINT s;
-- MERGE (PostgreSQL 15): matched rows are only the context's rows; an
-- inserted row of another tenant is refused.
MERGE INTO app.documents d
USING (SELECT g AS id FROM generate_series(1, 6) g) s ON d.id = s.id
WHEN MATCHED THEN UPDATE SET body = d.body || ' (merged)';
SELECT string_agg(body, ', ' ORDER BY id) AS after_merge FROM app.documents;
SELECT atk.try('MERGE INTO app.documents d USING (SELECT 4 AS id) s ON d.id = s.id
                WHEN MATCHED THEN DELETE') AS merge_delete_hidden_row;
SELECT atk.try(format('MERGE INTO app.documents d USING (SELECT 100 AS id) s ON d.id = s.id
                       WHEN NOT MATCHED THEN INSERT (id, tenant_id, body) VALUES (s.id, %L, %L)',
                      :'tb', 'planted')) AS merge_insert_other_tenant;
ROLLBACK;
-- An editor creates but does not update or delete; a viewer does not create.
BEGIN;
SET LOCAL tenancy.context = :'ctx_carol_ta';
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'ta', 'by carol')) AS editor_insert_own_tenant;
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'tb', 'by carol')) AS editor_insert_other_tenant;
SELECT atk.try('UPDATE app.documents SET body = ''edited''') AS editor_update;
SELECT atk.try('DELETE FROM app.documents') AS editor_delete;
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = :'ctx_vic_ta';
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'ta', 'by vic')) AS viewer_insert;
SELECT atk.try('UPDATE app.documents SET body = ''edited''') AS viewer_update;
ROLLBACK;
RESET ROLE;

--
-- 6. COPY: TO shows only the context's rows; FROM is refused by PostgreSQL
--    for every role subject to row-level security.
--
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
COPY app.documents (body) TO STDOUT;
COPY (SELECT body FROM app.documents ORDER BY id) TO STDOUT;
COMMIT;
COPY app.documents (body) TO STDOUT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
\copy app.documents (tenant_id, body) from program 'true'
ROLLBACK;
SELECT :'LAST_ERROR_SQLSTATE' AS copy_from_sqlstate;
RESET ROLE;
SET ROLE regress_app_owner;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
\copy app.documents (tenant_id, body) from program 'true'
ROLLBACK;
SELECT :'LAST_ERROR_SQLSTATE' AS owner_copy_from_sqlstate;
RESET ROLE;

--
-- 7. A leaky function in WHERE: it sees (and prints) only the context's rows,
--    however cheap it claims to be.
--
SET ROLE regress_app_user;
CREATE FUNCTION evil.leak(b text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
    RAISE NOTICE 'leak saw: %', b;
    RETURN true;
END
$$;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT count(*) AS rows_passed FROM app.documents WHERE evil.leak(body);
SELECT count(*) AS rows_passed FROM app.documents WHERE evil.leak(body) AND tenant_id = :'tb';
SELECT count(*) AS rows_passed FROM app.documents WHERE evil.leak(body) AND id = 4;
SELECT count(*) AS rows_passed FROM app.documents d JOIN (VALUES (4), (5)) v(id) ON evil.leak(d.body) AND d.id = v.id;
COMMIT;
SELECT count(*) AS rows_passed_without_context FROM app.documents WHERE evil.leak(body);
RESET ROLE;

--
-- 8. Views created by the application role, with and without
--    security_invoker: only the context's rows.
--
SET ROLE regress_app_user;
CREATE VIEW evil.docs_definer AS SELECT id, tenant_id, body FROM app.documents;
CREATE VIEW evil.docs_invoker WITH (security_invoker = true) AS SELECT id, tenant_id, body FROM app.documents;
CREATE VIEW evil.docs_barrier WITH (security_barrier = true) AS SELECT id, tenant_id, body FROM app.documents WHERE evil.leak(body);
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT string_agg(body, ', ' ORDER BY id) AS definer_view FROM evil.docs_definer;
SELECT string_agg(body, ', ' ORDER BY id) AS invoker_view FROM evil.docs_invoker;
SELECT string_agg(body, ', ' ORDER BY id) AS barrier_view FROM evil.docs_barrier;
SELECT count(*) AS leaked FROM evil.docs_definer WHERE tenant_id = :'tb';
COMMIT;
SELECT count(*) AS definer_view_without_context FROM evil.docs_definer;
SELECT count(*) AS invoker_view_without_context FROM evil.docs_invoker;
RESET ROLE;
-- A view of the application role read by a BYPASSRLS role: the view's
-- owner is subject to row-level security, so nothing without a context.
GRANT USAGE ON SCHEMA evil TO regress_app_bypass;
SET ROLE regress_app_user;
GRANT SELECT ON evil.docs_definer TO regress_app_bypass;
RESET ROLE;
SET ROLE regress_app_bypass;
SELECT count(*) AS definer_view_read_by_bypassrls FROM evil.docs_definer;
RESET ROLE;

--
-- 9. Prepared statements and cached plans, reused under another context.
--
SET ROLE regress_app_user;
PREPARE docs AS SELECT string_agg(body, ', ' ORDER BY id) FROM app.documents;
PREPARE docs_of(uuid) AS SELECT count(*) FROM app.documents WHERE tenant_id = $1;
PREPARE docs_like(text) AS SELECT string_agg(body, ', ' ORDER BY id) FROM app.documents WHERE body LIKE $1;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
\o /dev/null
EXECUTE docs;
EXECUTE docs;
EXECUTE docs;
EXECUTE docs;
EXECUTE docs;
EXECUTE docs;
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'ta');
EXECUTE docs_like('%');
EXECUTE docs_like('%');
EXECUTE docs_like('%');
EXECUTE docs_like('%');
EXECUTE docs_like('%');
EXECUTE docs_like('%');
EXECUTE docs_like('%');
\o
SELECT name, generic_plans > 0 AS generic_plan_used FROM pg_prepared_statements ORDER BY name;
EXECUTE docs;
EXECUTE docs_of(:'tb');
EXECUTE docs_like('globex%');
COMMIT;
-- Another tenant.
BEGIN;
SET LOCAL tenancy.context = :'ctx_bob_tb';
EXECUTE docs;
EXECUTE docs_of(:'tb');
EXECUTE docs_of(:'ta');
EXECUTE docs_like('%');
COMMIT;
-- A user without a tenant: every tenant of acme, nothing of globex.
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice';
EXECUTE docs;
EXECUTE docs_of(:'tb');
EXECUTE docs_like('%');
COMMIT;
-- No context.
EXECUTE docs;
EXECUTE docs_of(:'ta');
EXECUTE docs_like('%');
DEALLOCATE ALL;
-- The same with generic plans forced from the first execution.
SET plan_cache_mode = force_generic_plan;
PREPARE docs_of(uuid) AS SELECT count(*) FROM app.documents WHERE tenant_id = $1;
PREPARE docs_like(text) AS SELECT string_agg(body, ', ' ORDER BY id) FROM app.documents WHERE body LIKE $1;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
EXECUTE docs_of(:'ta');
EXECUTE docs_like('%');
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_bob_tb';
EXECUTE docs_of(:'ta');
EXECUTE docs_of(:'tb');
EXECUTE docs_like('%');
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice';
EXECUTE docs_of(:'tb');
EXECUTE docs_like('%');
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
EXECUTE docs_like('%');
COMMIT;
EXECUTE docs_of(:'ta');
EXECUTE docs_like('%');
SELECT name, generic_plans, custom_plans FROM pg_prepared_statements ORDER BY name;
DEALLOCATE ALL;
RESET plan_cache_mode;
-- Plans that PL/pgSQL caches for the session.
CREATE FUNCTION evil.count_docs() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    RETURN (SELECT count(*) FROM app.documents);
END
$$;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT evil.count_docs() AS alice_prod, evil.count_docs(), evil.count_docs(), evil.count_docs(),
       evil.count_docs(), evil.count_docs(), evil.count_docs();
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_bob_tb';
SELECT evil.count_docs() AS bob;
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice';
SELECT evil.count_docs() AS alice_all_acme;
COMMIT;
SELECT evil.count_docs() AS without_context;
RESET ROLE;

--
-- 10. The context's life: gone after COMMIT and ROLLBACK, restored by
--     ROLLBACK TO SAVEPOINT, cleared by RESET ALL and DISCARD ALL.
--
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT count(*) AS inside FROM app.documents;
COMMIT;
SELECT count(*) AS leaked_after_commit FROM app.documents;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT count(*) AS inside FROM app.documents;
ROLLBACK;
SELECT count(*) AS leaked_after_rollback FROM app.documents;
-- A session-level SET outlives the transaction in PostgreSQL's eyes only.
BEGIN;
SET tenancy.context = :'ctx_alice_ta';
SELECT count(*) AS inside FROM app.documents;
COMMIT;
SELECT count(*) AS leaked_after_commit_of_plain_set FROM app.documents;
BEGIN;
SELECT count(*) AS leaked_in_next_transaction FROM app.documents;
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'ta', 'planted')) AS write_in_next_transaction;
COMMIT;
-- Savepoints.
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SAVEPOINT s1;
SET LOCAL tenancy.context = :'ctx_bob_tb';
SELECT string_agg(body, ', ' ORDER BY id) AS inside_savepoint FROM app.documents;
ROLLBACK TO SAVEPOINT s1;
SELECT string_agg(body, ', ' ORDER BY id) AS after_rollback_to_savepoint FROM app.documents;
SAVEPOINT s2;
SELECT 'cleared' AS context FROM tenancy.clear_context();
SELECT count(*) AS leaked_after_clear FROM app.documents;
ROLLBACK TO SAVEPOINT s2;
SELECT string_agg(body, ', ' ORDER BY id) AS after_rollback_to_s2 FROM app.documents;
RESET ALL;
SELECT count(*) AS leaked_after_reset_all FROM app.documents;
COMMIT;
RESET ROLE;
-- DISCARD ALL (what a pooler runs between clients) on the application's
-- own connection.
\c - regress_app_user
SELECT current_user;
BEGIN;
SET tenancy.context = :'ctx_alice_ta';
SELECT count(*) AS inside FROM app.documents;
COMMIT;
DISCARD ALL;
SELECT current_setting('tenancy.context') = '' AS discard_all_cleared_it;
BEGIN;
SELECT count(*) AS leaked_after_discard_all FROM app.documents;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never

--
-- 11. Partitions: protect() the parent; partitions made before, created
--     after with PARTITION OF (also a sub-partitioned one), and attached
--     after, are all protected, so reading a partition directly shows only
--     the context's rows too.
--
SET ROLE regress_app_owner;
CREATE TABLE app.events (
    id        bigint NOT NULL,
    tenant_id uuid NOT NULL,
    what      text NOT NULL
) PARTITION BY RANGE (id);
CREATE INDEX events_tenant_idx ON app.events (tenant_id);
CREATE TABLE app.events_before PARTITION OF app.events FOR VALUES FROM (0) TO (100);
SELECT tenancy.protect('app.events', resource_type => 'event');
CREATE TABLE app.events_after PARTITION OF app.events FOR VALUES FROM (100) TO (200);
CREATE TABLE app.events_sub PARTITION OF app.events FOR VALUES FROM (200) TO (300) PARTITION BY RANGE (id);
CREATE TABLE app.events_sub_a PARTITION OF app.events_sub FOR VALUES FROM (200) TO (300);
CREATE TABLE app.events_attached (LIKE app.events INCLUDING INDEXES);
ALTER TABLE app.events ATTACH PARTITION app.events_attached FOR VALUES FROM (300) TO (400);
GRANT SELECT, INSERT, UPDATE, DELETE
    ON app.events, app.events_before, app.events_after, app.events_sub, app.events_sub_a, app.events_attached
    TO regress_app_user;
RESET ROLE;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
       (SELECT count(*) FROM tenancy.protected_tables t WHERE t.relid = c.oid) AS recorded
FROM pg_class c
WHERE c.relnamespace = 'app'::regnamespace AND c.relname LIKE 'events%' AND c.relkind IN ('r', 'p')
ORDER BY c.relname;
INSERT INTO app.events
SELECT b + g, t.id, t.name || ' event ' || (b + g)
FROM unnest(ARRAY[0, 100, 200, 300]) b, generate_series(1, 2) g,
     (VALUES (:'ta'::uuid, 'acme prod'), (:'tb'::uuid, 'globex')) t(id, name);
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT 'events' AS via, string_agg(what, ', ' ORDER BY id) AS sees FROM app.events
UNION ALL SELECT 'events_before', string_agg(what, ', ' ORDER BY id) FROM app.events_before
UNION ALL SELECT 'events_after', string_agg(what, ', ' ORDER BY id) FROM app.events_after
UNION ALL SELECT 'events_sub', string_agg(what, ', ' ORDER BY id) FROM app.events_sub
UNION ALL SELECT 'events_sub_a', string_agg(what, ', ' ORDER BY id) FROM app.events_sub_a
UNION ALL SELECT 'events_attached', string_agg(what, ', ' ORDER BY id) FROM app.events_attached;
SELECT atk.try(format('INSERT INTO app.events_attached VALUES (350, %L, %L)', :'tb', 'planted')) AS insert_into_partition;
SELECT atk.try(format('UPDATE app.events_after SET tenant_id = %L', :'tb')) AS move_in_partition;
SELECT atk.try('DELETE FROM app.events_sub_a WHERE what LIKE ''globex%''') AS delete_hidden_in_partition;
COPY app.events_before (what) TO STDOUT;
COMMIT;
SELECT (SELECT count(*) FROM app.events_before) + (SELECT count(*) FROM app.events_after)
     + (SELECT count(*) FROM app.events_sub_a) + (SELECT count(*) FROM app.events_attached) AS leaked_without_context;
RESET ROLE;

--
-- 12. search_path hijack: the application role's own visible_tenants() that
--     returns every tenant and its own "=" operators, first in search_path.
--     The policies call tenancy.visible_tenants and pg_catalog.= all the same.
--
SET ROLE regress_app_user;
CREATE TABLE evil.all_tenants (id uuid);
INSERT INTO evil.all_tenants VALUES (:'ta'), (:'ta2'), (:'tb');
CREATE FUNCTION evil.visible_tenants(text) RETURNS uuid[] LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'evil.visible_tenants called';
    RETURN ARRAY(SELECT id FROM evil.all_tenants);
END
$$;
CREATE FUNCTION evil.writable_tenants(text) RETURNS uuid[] LANGUAGE sql AS
    'SELECT evil.visible_tenants($1)';
CREATE FUNCTION evil.context_tenant(text) RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid';
CREATE FUNCTION evil.always(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'evil = called';
    RETURN true;
END
$$;
CREATE FUNCTION evil.always_any(uuid, uuid[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'evil = (uuid, uuid[]) called';
    RETURN true;
END
$$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.always);
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid[], FUNCTION = evil.always_any);
SET search_path = evil, pg_catalog, public;
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta';
SELECT string_agg(body, ', ' ORDER BY id) AS hijacked_path_sees FROM app.documents;
SELECT count(*) AS leaked FROM app.documents WHERE body LIKE 'globex%';
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'tb', 'planted')) AS hijacked_insert;
COMMIT;
SELECT count(*) AS leaked_without_context FROM app.documents;
-- Under this search_path the policies print as what they call.
SELECT policyname, coalesce(qual, with_check) AS calls
FROM pg_catalog.pg_policies WHERE schemaname = 'app' AND tablename = 'documents' ORDER BY policyname;
RESET search_path;
RESET ROLE;

--
-- 13. Statistics: pg_stats shows the application role nothing of a protected
--     table (its most common values would be other tenants' data).
--
ANALYZE app.documents;
SET ROLE regress_app_user;
SELECT count(*) AS stats_rows_visible FROM pg_stats WHERE schemaname = 'app' AND tablename = 'documents';
RESET ROLE;

--
-- 14. Spoofing the context in signed mode: only a token signed with a
--     signing key counts; SET, set_config(), ALTER ROLE ... SET and a SECURITY
--     DEFINER function of the application role are refused or ignored.
--
CREATE EXTENSION pgcrypto;
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql AS $$
    SELECT rtrim(translate(encode($1, 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.jwt(payload jsonb, secret text) RETURNS text LANGUAGE sql AS $$
    SELECT h || '.' || p || '.' || pg_temp.b64url(hmac(h || '.' || p, secret, 'sha256'))
    FROM (SELECT pg_temp.b64url(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8')) AS h,
                 pg_temp.b64url(convert_to(payload::text, 'UTF8')) AS p) x
$$;
SET tenancy.require_signed_context = on;
SELECT tenancy.add_signing_key('attacks', 'HS256', 'attack suite secret, thirty-two bytes');
SELECT pg_temp.jwt(jsonb_build_object('sub', :'alice', 'tenant', :'ta',
                                      'exp', floor(extract(epoch FROM now() + interval '10 minutes'))),
                   'attack suite secret, thirty-two bytes') AS tok_alice_ta,
       pg_temp.jwt(jsonb_build_object('sub', :'bob', 'tenant', :'tb',
                                      'exp', floor(extract(epoch FROM now() + interval '10 minutes'))),
                   'wrong secret') AS tok_bob_forged \gset
SET ROLE regress_app_user;
-- The signed way works.
BEGIN;
SELECT 'set, signed' AS context FROM tenancy.set_context_token(:'tok_alice_ta');
SELECT string_agg(body, ', ' ORDER BY id) AS signed_alice_sees FROM app.documents;
COMMIT;
-- Every other way is refused, and nothing is seen or written.
BEGIN;
SELECT atk.try(format('SET LOCAL tenancy.context = %L', :'ctx_bob_tb')) AS spoof_set_local;
SELECT atk.try(format('SET tenancy.context = %L', :'ctx_bob_tb')) AS spoof_set;
SELECT atk.try(format('SELECT set_config(''tenancy.context'', %L, true)', :'ctx_bob_tb')) AS spoof_set_config;
SELECT atk.try(format('SELECT tenancy.set_context(%L, %L)', :'bob', :'tb')) AS spoof_set_context;
SELECT atk.try(format('SELECT tenancy.set_context_token(%L)', :'tok_bob_forged')) AS spoof_forged_token;
SELECT atk.try('SET tenancy.require_signed_context = off') AS switch_signed_mode_off;
SELECT atk.try('SELECT set_config(''tenancy.require_signed_context'', ''off'', true)') AS switch_off_by_set_config;
SELECT atk.try('ALTER ROLE regress_app_user SET tenancy.require_signed_context = off') AS switch_off_by_alter_role;
SELECT atk.try('SELECT key FROM tenancy.signing_keys') AS read_the_keys;
SELECT atk.try('SHOW tenancy.context_secret') AS read_a_secret_setting;
SELECT atk.try($q$SELECT tenancy.add_signing_key('mine', 'HS256', 'an attacker secret, thirty-two bytes')$q$) AS add_a_key;
SELECT count(*) AS leaked FROM app.documents;
SELECT atk.try(format('INSERT INTO app.documents (tenant_id, body) VALUES (%L, %L)', :'tb', 'planted')) AS write;
ROLLBACK;
-- SECURITY DEFINER functions of the application role, in its own schema.
CREATE FUNCTION evil.become(ctx text) RETURNS text LANGUAGE sql SECURITY DEFINER AS
    $$ SELECT set_config('tenancy.context', ctx, true) $$;
-- (Validating the body would apply the SET clause, which signed mode
-- already refuses; skip that to get the function created at all.)
SET check_function_bodies = off;
CREATE FUNCTION evil.count_as_bob() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET tenancy.context = :'ctx_bob_tb'
    AS 'SELECT count(*) FROM app.documents';
RESET check_function_bodies;
BEGIN;
SELECT atk.try(format('SELECT evil.become(%L)', :'ctx_bob_tb')) AS security_definer_set_config;
SELECT atk.try('SELECT evil.count_as_bob()') AS security_definer_set_clause;
SELECT count(*) AS leaked FROM app.documents;
ROLLBACK;
RESET ROLE;
-- An unsigned context set before the superuser switched signed mode on in
-- the same transaction stops counting.
SET tenancy.require_signed_context = off;
SET ROLE regress_app_user;
BEGIN;
SELECT 'set, unsigned' AS context FROM tenancy.set_context(:'bob', :'tb');
RESET ROLE;
SET LOCAL tenancy.require_signed_context = on;
SET ROLE regress_app_user;
SELECT count(*) AS leaked_after_switch FROM app.documents;
COMMIT;
RESET ROLE;
SET tenancy.require_signed_context = on;
-- ALTER ROLE ... SET, by the application role itself and by a superuser
-- (even with a valid token), on a new connection in signed mode.
SET ROLE regress_app_user;
ALTER ROLE regress_app_user SET tenancy.context = :'ctx_bob_tb';
RESET ROLE;
ALTER ROLE regress_app_user SET tenancy.require_signed_context = on;
\c - regress_app_user
SELECT count(*) AS leaked_via_alter_role FROM app.documents;
BEGIN;
SELECT count(*) AS leaked_via_alter_role_in_transaction FROM app.documents;
SELECT tenancy.current_user_id() IS NULL AS no_context_user;
COMMIT;
\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE regress_app_user SET tenancy.context = :'tok_alice_ta';
\c - regress_app_user
BEGIN;
SELECT count(*) AS leaked_via_alter_role_token FROM app.documents;
COMMIT;
-- Signed mode, a new connection, an unsigned SET before anything of
-- pg_tenancy ran in it: nothing.
\c - regress_app_user
SET tenancy.context = :'ctx_bob_tb';
SELECT count(*) AS leaked_via_early_set FROM app.documents;
\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE regress_app_user RESET ALL;

--
-- 15. A token set with a plain (session-level) SET by one request must not
--     be left behind for the next request on the same connection to replay.
--
SELECT tenancy.current_user_id() IS NULL AS no_context;  -- (loads pg_tenancy in this new connection)
SET tenancy.require_signed_context = on;
SET ROLE regress_app_user;
BEGIN;
SET tenancy.context = :'tok_alice_ta';
SELECT count(*) AS request_1_sees FROM app.documents;
COMMIT;
-- The next request, with no context of its own.
BEGIN;
SELECT count(*) AS leaked FROM app.documents;
-- (The setting keeps the ids the token carried, never the token itself.)
SELECT position('.' IN current_setting('tenancy.context')) = 0 AS no_token_left_behind;
SELECT atk.try('SELECT tenancy.set_context_token(current_setting(''tenancy.context''))') AS replay_attempt;
SELECT count(*) AS leaked_by_replay FROM app.documents;
COMMIT;
RESET ROLE;
RESET tenancy.context;
RESET tenancy.require_signed_context;
SELECT tenancy.drop_signing_key('attacks');

--
-- 16. A plain (session-level) SET on a new connection, before anything of
--     pg_tenancy ran in it, must not count in the next transaction — which
--     behind a transaction-pooling PgBouncer belongs to another client.
--
\c - regress_app_user
SET tenancy.context = :'ctx_alice_ta';
-- The next transaction, with no context of its own:
SELECT count(*) AS leaked FROM app.documents;
SELECT count(*) AS leaked_again FROM app.documents;
\c - postgres
\set SHOW_CONTEXT never

-- A context passed as a connection option (PGOPTIONS) never counts either.
SELECT format('dbname=%s user=regress_app_user options=''-c tenancy.context=%s''',
              current_database(), :'ctx_alice_ta') AS conn_with_context,
       format('dbname=%s user=postgres', current_database()) AS conn_back \gset
\c -reuse-previous=off :conn_with_context
SELECT count(*) AS leaked_via_connection_option FROM app.documents;
BEGIN;
SELECT count(*) AS leaked_via_connection_option_in_transaction FROM app.documents;
COMMIT;
\c -reuse-previous=off :conn_back
\set SHOW_CONTEXT never

--
-- Nothing of globex changed, nothing was planted.
--
SELECT t.slug, string_agg(d.body, ', ' ORDER BY d.id) AS rows
FROM app.documents d JOIN tenancy.tenants t ON t.id = d.tenant_id
GROUP BY t.slug ORDER BY t.slug;
SELECT t.slug, count(*) AS events
FROM app.events e JOIN tenancy.tenants t ON t.id = e.tenant_id
GROUP BY t.slug ORDER BY t.slug;

DROP SCHEMA evil CASCADE;
DROP SCHEMA app CASCADE;
DROP SCHEMA atk CASCADE;
DROP ROLE regress_app_owner;
DROP ROLE regress_app_user;
DROP ROLE regress_app_bypass;
DROP EXTENSION pgcrypto;
DROP EXTENSION pg_tenancy;
