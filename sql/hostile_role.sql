--
-- The application role as an attacker, beyond what row-level security
-- filters: statements that act on a protected table as a whole (LOCK
-- TABLE, GRANT), cursors that outlive their context, what SHOW says of the
-- context, and a context set where it cannot last.  Each case tries the
-- attack and shows how it is refused.
--
-- The library is loaded in each connection before the attacks (here by a
-- first call into it); t/020_hostile_role.pl runs the cases that
-- depend on a connection's first statement, with shared_preload_libraries.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse

SELECT tenancy.create_user('alice@hostile.test') AS alice \gset
SELECT tenancy.create_user('bob@hostile.test') AS bob \gset
SELECT tenancy.create_organization('hostile-acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('hostile-globex', admin => :'bob') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS ta \gset
SELECT tenancy.create_tenant(:'globex', 'main') AS tb \gset
SELECT :'alice' || '/' || :'ta' AS ctx_alice, :'bob' || '/' || :'tb' AS ctx_bob \gset

\i test/regress/attack_helpers.psql

CREATE ROLE regress_hostile_owner;
CREATE ROLE regress_hostile_app LOGIN;
CREATE SCHEMA hostile AUTHORIZATION regress_hostile_owner;
GRANT USAGE ON SCHEMA hostile TO regress_hostile_app;

SET ROLE regress_hostile_owner;
CREATE TABLE hostile.docs (
    id        bigint PRIMARY KEY,
    tenant_id uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX ON hostile.docs (tenant_id);
SELECT tenancy.protect('hostile.docs', resource_type => 'hostile_doc');
GRANT SELECT, INSERT, UPDATE, DELETE ON hostile.docs TO regress_hostile_app;
RESET ROLE;
INSERT INTO hostile.docs VALUES (1, :'ta', 'acme 1'), (2, :'ta', 'acme 2'),
                                (3, :'tb', 'globex 3');

\c - regress_hostile_app
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT tenancy.current_user_id() IS NULL AS loaded_no_context;

--
-- LOCK TABLE: UPDATE or DELETE privilege lets PostgreSQL grant any lock
-- mode, and SHARE or stronger blocks every tenant.  Only the owner may.
--
BEGIN;
SELECT tenancy.set_context(:'alice', :'ta');
LOCK TABLE hostile.docs IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE hostile.docs IN SHARE MODE;
ROLLBACK;
BEGIN;
LOCK TABLE ONLY hostile.docs IN EXCLUSIVE MODE;
ROLLBACK;
-- Through a view of its own: LOCK TABLE locks the tables behind a view too.
CREATE TEMP VIEW docs_view_of_mine AS SELECT * FROM hostile.docs;
BEGIN;
LOCK TABLE docs_view_of_mine IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
-- A temporary table cannot be protected: it would go at the end of the
-- session without pg_tenancy being told, keeping its resource type.
CREATE TEMP TABLE squat (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT tenancy.protect('squat', resource_type => 'squatted', id_column => 'id');
-- What tenants' own statements take is allowed.
BEGIN;
LOCK TABLE hostile.docs IN ROW EXCLUSIVE MODE;
LOCK TABLE hostile.docs IN SHARE UPDATE EXCLUSIVE MODE;
COMMIT;

--
-- A cursor WITH HOLD keeps its rows after COMMIT, for whoever uses the
-- connection next.
--
-- Over a protected table: refused, with or without a context.
BEGIN;
SELECT tenancy.set_context(:'alice', :'ta');
DECLARE leak CURSOR WITH HOLD FOR SELECT body FROM hostile.docs;
ROLLBACK;
BEGIN;
DECLARE leak CURSOR WITH HOLD FOR SELECT body FROM hostile.docs;
ROLLBACK;
-- Through a view, the same.
\c - postgres
SET ROLE regress_hostile_owner;
CREATE VIEW hostile.docs_view AS SELECT body FROM hostile.docs;
GRANT SELECT ON hostile.docs_view TO regress_hostile_app;
\c - regress_hostile_app
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT tenancy.current_user_id() IS NULL AS loaded_no_context;
BEGIN;
DECLARE leak CURSOR WITH HOLD FOR SELECT body FROM hostile.docs_view;
ROLLBACK;
-- While a context is in force, no holdable cursor at all: a function could
-- read the protected table for it.
CREATE FUNCTION pg_temp.bodies() RETURNS SETOF text LANGUAGE sql
    AS $$ SELECT body FROM hostile.docs ORDER BY id $$;
BEGIN;
SELECT tenancy.set_context(:'alice', :'ta');
DECLARE leak CURSOR WITH HOLD FOR SELECT * FROM pg_temp.bodies();
ROLLBACK;
-- Declared first, context set afterwards: the rows are read at COMMIT,
-- under the context, so the commit fails and the cursor is gone.
BEGIN;
DECLARE leak CURSOR WITH HOLD FOR SELECT * FROM pg_temp.bodies();
SELECT tenancy.set_context(:'alice', :'ta');
COMMIT;
FETCH ALL FROM leak;
-- The same when the context was cleared again before COMMIT.
BEGIN;
DECLARE leak CURSOR WITH HOLD FOR SELECT * FROM pg_temp.bodies();
SELECT tenancy.set_context(:'alice', :'ta');
SELECT tenancy.clear_context();
COMMIT;
FETCH ALL FROM leak;
-- A function whose SET clause sets the context while the cursor's rows are
-- read at COMMIT, with no context in force before or after.
CREATE FUNCTION pg_temp.bodies_as_alice() RETURNS SETOF text LANGUAGE sql
    AS $$ SELECT body FROM hostile.docs ORDER BY id $$;
SELECT format('ALTER FUNCTION pg_temp.bodies_as_alice() SET tenancy.context = %L', :'ctx_alice') AS alter_fn \gset
:alter_fn;
BEGIN;
DECLARE leak CURSOR WITH HOLD FOR SELECT * FROM pg_temp.bodies_as_alice();
COMMIT;
FETCH ALL FROM leak;
-- A holdable cursor closed before the context was set is no concern.
BEGIN;
DECLARE closed CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 3) g;
CLOSE closed;
SELECT tenancy.set_context(:'alice', :'ta');
COMMIT;
-- Cursors WITHOUT HOLD over protected tables work as always.
BEGIN;
SELECT tenancy.set_context(:'alice', :'ta');
DECLARE ok CURSOR FOR SELECT body FROM hostile.docs ORDER BY id;
FETCH ALL FROM ok;
COMMIT;
-- Holdable cursors over other tables, with no context, too.
BEGIN;
DECLARE numbers CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 3) g;
COMMIT;
FETCH ALL FROM numbers;
CLOSE numbers;

--
-- SHOW and current_setting() show the context in force, or nothing.
--
-- A session-level SET counts only in its own transaction; afterwards SHOW
-- does not show it as if it did.
SET tenancy.context = :'ctx_alice';
SHOW tenancy.context;
SELECT current_setting('tenancy.context') = '' AS nothing_in_force;
BEGIN;
SELECT tenancy.set_context(:'alice', :'ta');
SELECT current_setting('tenancy.context') = :'ctx_alice' AS shows_what_is_in_force;
SELECT count(*) AS listed_in_pg_settings FROM pg_settings WHERE name = 'tenancy.context';
COMMIT;
SHOW tenancy.context;
-- Upper-case ids are shown in their canonical form.
BEGIN;
SELECT set_config('tenancy.context', upper(:'ctx_alice'), true) <> '' AS set;
SELECT current_setting('tenancy.context') = :'ctx_alice' AS canonical;
COMMIT;

--
-- A context set outside a transaction block warns, as SET LOCAL does.
--
\set VERBOSITY default
SELECT tenancy.set_context(:'alice', :'ta');
SELECT set_config('tenancy.context', :'ctx_alice', false) IS NOT NULL AS set;
-- Inside a block, or several statements sent at once, it does not.
BEGIN;
SELECT tenancy.set_context(:'alice', :'ta');
COMMIT;
SELECT tenancy.set_context(:'alice', :'ta') \; SELECT count(*) AS acme_rows FROM hostile.docs;
\set VERBOSITY terse

\c - postgres
\set SHOW_CONTEXT never
\set VERBOSITY terse

--
-- GRANT gives back no privilege that row-level security does not cover:
-- after it, TRUNCATE, TRIGGER and REFERENCES are taken away again.
--
SELECT tenancy.current_user_id() IS NULL AS loaded;
GRANT ALL ON hostile.docs TO regress_hostile_app;
SELECT privilege_type FROM information_schema.role_table_grants
WHERE table_schema = 'hostile' AND table_name = 'docs'
  AND grantee = 'regress_hostile_app' ORDER BY 1;
GRANT TRUNCATE ON ALL TABLES IN SCHEMA hostile TO PUBLIC;
SELECT has_table_privilege('regress_hostile_app', 'hostile.docs', 'TRUNCATE') AS app_may_truncate,
       has_table_privilege('regress_hostile_app', 'hostile.docs_view', 'TRUNCATE') AS view_untouched;
-- A column's REFERENCES too; a GRANT of safe privileges takes nothing.
GRANT REFERENCES (id) ON hostile.docs TO regress_hostile_app;
SELECT has_column_privilege('regress_hostile_app', 'hostile.docs', 'id', 'REFERENCES') AS app_may_reference;
GRANT SELECT (body) ON hostile.docs TO PUBLIC;
REVOKE SELECT (body) ON hostile.docs FROM PUBLIC;
\c - regress_hostile_app
\set SHOW_CONTEXT never
\set VERBOSITY terse
SELECT atk.try('TRUNCATE hostile.docs') AS truncate_every_tenant;
\c - postgres
\set SHOW_CONTEXT never
\set VERBOSITY terse

-- Nothing changed.
SELECT t.slug, string_agg(d.body, ', ' ORDER BY d.id) AS rows
FROM hostile.docs d JOIN tenancy.tenants t ON t.id = d.tenant_id
GROUP BY t.slug ORDER BY t.slug;

DROP SCHEMA hostile CASCADE;
DROP SCHEMA atk CASCADE;
DROP ROLE regress_hostile_owner;
DROP ROLE regress_hostile_app;
DROP EXTENSION pg_tenancy;
