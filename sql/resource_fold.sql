--
-- The per-row resource check taken out of a scan (src/fold.c).  A reader of
-- the whole tenant runs its scans without tenancy.resource_allows(): the
-- function's call count, from pg_stat_xact_user_functions, shows it.  Then
-- the attacks: a scan started under that reader must not keep its shortcut
-- once the context changes underneath it (a cursor, an InitPlan run after a
-- CTE that switched the context, a prepared plan).
--
-- The cast: organization acme, tenants prod (rows 1-80) and staging (rows
-- 81-120).  vic views prod; dan holds a role in prod without doc:read, owns
-- rows 2 and 5 there and has row 90 of staging shared with him.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = public;
SET track_functions = 'all';
\i test/regress/attack_helpers.psql

-- A list of ids, or how many when there are more than ten.
CREATE FUNCTION pg_temp.ids(ids bigint[]) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN cardinality(ids) > 10 THEN cardinality(ids) || ' rows'
                ELSE coalesce(array_to_string(ids, ','), '') END $$;

SELECT tenancy.create_user('admin@acme.test') AS admin \gset
SELECT tenancy.create_user('vic@acme.test') AS vic \gset
SELECT tenancy.create_user('dan@acme.test') AS dan \gset
SELECT tenancy.create_organization('acme', admin => :'admin') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'staging') AS staging \gset
SELECT count(tenancy.add_member(:'acme', u)) AS members FROM unnest(ARRAY[:'vic', :'dan']::uuid[]) u;
SELECT tenancy.register_resource_type('doc');
SELECT tenancy.create_role(:'acme', 'outsider', 'tenant', '{doc:create}') IS NOT NULL AS outsider_role;
SELECT tenancy.assign_role('viewer', tenant => :'prod', user_id => :'vic') IS NOT NULL AS vic_views_prod;
SELECT tenancy.assign_role('outsider', tenant => :'prod', user_id => :'dan') IS NOT NULL AS dan_outsider_prod;

CREATE ROLE regress_fold_owner;
CREATE ROLE regress_fold_user;
CREATE SCHEMA app AUTHORIZATION regress_fold_owner;
GRANT USAGE ON SCHEMA app TO regress_fold_user;
GRANT pg_read_all_stats TO regress_fold_user;
SET ROLE regress_fold_owner;
CREATE TABLE app.docs (
    id        bigint PRIMARY KEY,
    tenant_id uuid NOT NULL,
    owner_id  uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX ON app.docs (tenant_id, id);
SELECT tenancy.protect('app.docs', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');
GRANT SELECT ON app.docs TO regress_fold_user;
RESET ROLE;
INSERT INTO app.docs
SELECT g, CASE WHEN g <= 80 THEN :'prod'::uuid ELSE :'staging'::uuid END,
       CASE WHEN g IN (2, 5) THEN :'dan'::uuid ELSE :'admin'::uuid END, 'doc ' || g
FROM generate_series(1, 120) g;
INSERT INTO tenancy.shares (org_id, tenant_id, resource_type, relid, resource_id, user_id, actions)
VALUES (:'acme', :'staging', 'doc', 'app.docs', '90', :'dan', '{read}');
ANALYZE app.docs;

SELECT :'vic' || '/' || :'prod' AS vic_prod, :'dan' || '/' || :'prod' AS dan_prod,
       :'dan' || '/' || :'staging' AS dan_staging \gset
-- How often resource_allows() ran: PostgreSQL 15 keeps a backend's function
-- counts pending across transactions, so each figure is a difference.
CREATE FUNCTION pg_temp.row_checks() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
    WHERE schemaname = 'tenancy' AND funcname = 'resource_allows' $$;

SET ROLE regress_fold_user;

--
-- The reader: the same rows with and without the per-row call, whatever
-- the scan.  dan, who reads only what he owns, keeps the check, in one call
-- for each row the scan reads (the policy's owner and share arms stay
-- indexable; the filter asks them through resource_allows()).  Each query
-- is planned afresh, under its own context.
--
CREATE FUNCTION pg_temp.reads(ctx text, scan text) RETURNS TABLE (rows text, row_checks bigint)
LANGUAGE plpgsql AS $$
DECLARE
    before bigint := pg_temp.row_checks();
BEGIN
    PERFORM set_config('tenancy.context', ctx, true);
    PERFORM set_config('enable_seqscan', (scan = 'seq')::text, true);
    PERFORM set_config('enable_indexscan', (scan = 'index')::text, true);
    PERFORM set_config('enable_bitmapscan', (scan = 'bitmap')::text, true);
    EXECUTE 'SELECT pg_temp.ids(array_agg(id ORDER BY id)) FROM app.docs WHERE id > 0' INTO rows;
    row_checks := pg_temp.row_checks() - before;
    RETURN NEXT;
END $$;
BEGIN;
SELECT 'vic ' || s AS reader, r.* FROM unnest(ARRAY['seq', 'index', 'bitmap']) s, pg_temp.reads(:'vic_prod', s) r;
SELECT 'dan ' || s AS owner, r.* FROM unnest(ARRAY['seq', 'index', 'bitmap']) s, pg_temp.reads(:'dan_prod', s) r;
SELECT 'dan staging' AS shared, r.* FROM pg_temp.reads(:'dan_staging', 'seq') r;
ROLLBACK;
-- A page reads without the call.  A point lookup keeps it: for a scan
-- expected to return a handful of rows, rebuilding the filter would cost
-- more than the calls it saves.
BEGIN;
SELECT pg_temp.row_checks() AS before \gset
SELECT tenancy.set_context(:'vic', :'prod');
SELECT id FROM app.docs ORDER BY id DESC LIMIT 3;
SELECT pg_temp.row_checks() - :before AS page_row_checks;
SELECT id, body FROM app.docs WHERE id = 5;
SELECT pg_temp.row_checks() - :before AS point_row_checks;
ROLLBACK;

--
-- Attack: change the context under a scan that started without the check.
-- PostgreSQL's scan loop keeps the filter it started a call with, so the
-- check could not be put back in time: the change is refused, from a
-- statement run while a cursor is open and from inside the query itself.
--
BEGIN;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT tenancy.set_context(:'vic', :'prod');
DECLARE c CURSOR FOR SELECT id FROM app.docs ORDER BY id;
SELECT pg_temp.row_checks() AS before \gset
FETCH 2 FROM c;
SELECT pg_temp.row_checks() - :before AS row_checks_for_vic;
SELECT atk.try(format('SELECT tenancy.set_context(%L, %L)', :'dan', :'prod')) AS switch_under_cursor;
SELECT atk.try(format('SET LOCAL tenancy.context = %L', :'dan_staging')) AS set_under_cursor;
-- The cursor goes on as vic; closed, the context may change.
FETCH 3 FROM c;
CLOSE c;
SELECT tenancy.set_context(:'dan', :'prod');
SELECT pg_temp.ids(array_agg(id ORDER BY id)) AS dan_sees FROM app.docs;
ROLLBACK;

-- From inside the query: a CTE that runs before the scan (an InitPlan
-- started with the rest of the query), and a function in the filter,
-- called on each row, that would switch to dan and then look at the rows.
CREATE FUNCTION pg_temp.switch_and_peek(ctx text, id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('tenancy.context', ctx, true);
    RAISE NOTICE 'peeked at %', id;
    RETURN false;
END $$;
BEGIN;
SELECT tenancy.set_context(:'vic', :'prod');
SELECT atk.try(format($q$
    WITH switch AS MATERIALIZED (SELECT set_config('tenancy.context', %L, true) AS ctx)
    SELECT (SELECT count(*) FROM app.docs) FROM switch $q$, :'dan_prod')) AS switch_in_cte;
-- (IS NOT NULL: the planner then expects enough rows for the scan to go
-- without the check; a bare boolean function would count for a third.)
SELECT atk.try(format('SELECT count(*) FROM app.docs WHERE pg_temp.switch_and_peek(%L, id) IS NOT NULL',
                      :'dan_prod')) AS switch_in_filter;
SELECT tenancy.current_user_id() = :'vic' AS still_vic;
ROLLBACK;

--
-- A plan prepared and first run by the reader, run again for dan: the
-- shortcut is decided at every execution.
--
BEGIN;
SELECT tenancy.set_context(:'vic', :'prod');
PREPARE q AS SELECT pg_temp.ids(array_agg(id ORDER BY id)) FROM app.docs;
SELECT pg_temp.row_checks() AS before \gset
EXECUTE q;
SELECT pg_temp.row_checks() - :before AS row_checks_for_vic;
SELECT tenancy.set_context(:'dan', :'prod');
EXECUTE q;
SELECT pg_temp.row_checks() - :before AS row_checks_for_dan;
-- And a revoke in the same transaction is honoured by the next statement.
SELECT tenancy.set_context(:'vic', :'prod');
EXECUTE q;
RESET ROLE;
SELECT tenancy.revoke_role('viewer', tenant => :'prod', user_id => :'vic') AS revoked;
SET ROLE regress_fold_user;
EXECUTE q;
DEALLOCATE q;
ROLLBACK;

RESET ROLE;
DROP SCHEMA app CASCADE;
DROP ROLE regress_fold_owner;
DROP FUNCTION pg_temp.reads(text, text);
DROP FUNCTION pg_temp.switch_and_peek(text, bigint);
DROP SCHEMA atk CASCADE;
REVOKE pg_read_all_stats FROM regress_fold_user;
DROP ROLE regress_fold_user;
DROP EXTENSION pg_tenancy;
