--
-- Readers of many tenants: where a plan checks the policy's tenant list row
-- by row, it calls tenancy._tenant_in(), whose hash table of the context's
-- tenants is kept from one statement to the next.  Every answer must be the
-- one the list gives: after a revoke, a grant, an expiry, a change of
-- context, and in a pooled connection's next transaction.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = public;

SELECT tenancy.create_user('admin@many.test') AS admin \gset
SELECT tenancy.create_user('svc@many.test') AS svc \gset
SELECT tenancy.create_user('crew@many.test') AS crew \gset
SELECT tenancy.create_organization('many', admin => :'admin') AS org \gset
SELECT tenancy.create_organization('other') AS other \gset
SELECT tenancy.add_member(:'org', :'svc');
SELECT tenancy.add_member(:'org', :'crew');
SELECT tenancy.create_team(:'org', 'crew') AS team \gset
SELECT tenancy.add_team_member(:'team', :'crew');

CREATE TABLE t AS
SELECT n, tenancy.create_tenant(:'org', 't' || n) AS id FROM generate_series(1, 60) n;
SELECT tenancy.create_tenant(:'other', 'x') AS foreign_tenant \gset
-- svc: viewer in the 30 odd tenants; crew's team: viewer in every third.
SELECT count(tenancy.assign_role('viewer', tenant => id, user_id => :'svc')) FROM t WHERE n % 2 = 1;
SELECT count(tenancy.assign_role('viewer', tenant => id, team_id => :'team')) FROM t WHERE n % 3 = 0;

CREATE TABLE items (
    id          bigint PRIMARY KEY,
    tenant_id   uuid,
    created_at  timestamptz NOT NULL
);
-- 10 rows a tenant, 20 of the other organization, 5 without a tenant
INSERT INTO items
SELECT t.n * 100 + g, t.id, '2026-01-01'::timestamptz + (t.n * 100 + g) * interval '1 minute'
FROM t, generate_series(1, 10) g;
INSERT INTO items SELECT 10000 + g, :'foreign_tenant', '2026-02-01'::timestamptz + g * interval '1 minute'
FROM generate_series(1, 20) g;
INSERT INTO items SELECT 20000 + g, NULL, '2026-03-01' FROM generate_series(1, 5) g;
CREATE INDEX ON items (tenant_id, created_at);
CREATE INDEX ON items (created_at);
ANALYZE items;
SELECT tenancy.protect('items', resource_type => 'item');

CREATE FUNCTION pg_temp.filter_of(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF line ~ 'Filter' THEN
            RETURN NEXT btrim(line);
        END IF;
    END LOOP;
END
$$;

CREATE ROLE regress_many_app;
GRANT SELECT ON items TO regress_many_app;
SET ROLE regress_many_app;
-- Row by row: the newest rows by created_at, the tenant list a filter.
SET enable_bitmapscan = off;
SET enable_seqscan = off;

BEGIN;
SELECT tenancy.set_context(:'svc');
SELECT pg_temp.filter_of('SELECT * FROM items ORDER BY created_at DESC LIMIT 5');
SELECT count(*) AS svc_rows, count(DISTINCT tenant_id) AS svc_tenants FROM items WHERE created_at > '2000-01-01';
SELECT array_agg(id ORDER BY id) AS newest FROM (SELECT id FROM items ORDER BY created_at DESC LIMIT 3) s;
-- another reader in the same transaction, and back
SELECT tenancy.set_context(:'crew');
SELECT count(*) AS crew_rows FROM items WHERE created_at > '2000-01-01';
SELECT tenancy.set_context(:'admin');
SELECT count(*) AS admin_rows FROM items WHERE created_at > '2000-01-01';
SELECT tenancy.set_context(:'svc');
SELECT count(*) AS svc_rows_again FROM items WHERE created_at > '2000-01-01';
COMMIT;

-- A revoke, a grant, a team change: seen by the next statement, in the same
-- transaction and in the next.
BEGIN;
SELECT tenancy.set_context(:'svc');
SELECT count(*) AS before_revoke FROM items WHERE created_at > '2000-01-01';
RESET ROLE;
SELECT tenancy.revoke_role('viewer', tenant => id, user_id => :'svc') FROM t WHERE n = 1;
SET ROLE regress_many_app;
SELECT count(*) AS after_revoke FROM items WHERE created_at > '2000-01-01';
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'svc');
SELECT count(*) AS next_transaction FROM items WHERE created_at > '2000-01-01';
COMMIT;
RESET ROLE;
SELECT tenancy.assign_role('viewer', tenant => id, user_id => :'svc') IS NOT NULL AS granted FROM t WHERE n = 2;
SELECT tenancy.remove_team_member(:'team', :'crew');
SET ROLE regress_many_app;
BEGIN;
SELECT tenancy.set_context(:'svc');
SELECT count(*) AS after_grant FROM items WHERE created_at > '2000-01-01';
SELECT tenancy.set_context(:'crew');
SELECT count(*) AS crew_without_team FROM items WHERE created_at > '2000-01-01';
COMMIT;

-- A grant that expires: counted until it does, not after, without any
-- change to the hierarchy in between.
RESET ROLE;
SELECT tenancy.assign_role('viewer', tenant => id, user_id => :'crew',
                           expires_at => clock_timestamp() + interval '1 second') IS NOT NULL AS expiring
FROM t WHERE n = 4;
SET ROLE regress_many_app;
BEGIN;
SELECT tenancy.set_context(:'crew');
SELECT count(*) AS before_expiry FROM items WHERE created_at > '2000-01-01';
COMMIT;
SELECT pg_sleep(1.2);
BEGIN;
SELECT tenancy.set_context(:'crew');
SELECT count(*) AS after_expiry FROM items WHERE created_at > '2000-01-01';
COMMIT;

-- A pooled connection's next transaction, without a context: nothing, and
-- a write needs a context.
BEGIN;
SELECT tenancy.set_context(:'admin');
SELECT count(*) AS admin_rows FROM items WHERE created_at > '2000-01-01';
COMMIT;
SELECT count(*) AS next_client_rows FROM items WHERE created_at > '2000-01-01';
RESET ROLE;
SELECT tenancy._tenant_in(id, 'item:read', false) AS no_context_read,
       tenancy._tenant_in(NULL, 'item:read', false) AS null_tenant
FROM t WHERE n = 1;
SELECT tenancy._tenant_in(id, 'item:create', true) FROM t WHERE n = 1;
SELECT tenancy._tenant_in(id, 'nonsense:read', false) FROM t WHERE n = 1;

-- A prepared statement's generic plan, across readers.
SET ROLE regress_many_app;
SET plan_cache_mode = force_generic_plan;
PREPARE newest AS SELECT count(*) FROM (SELECT id FROM items WHERE created_at > $1 ORDER BY created_at DESC) s;
BEGIN;
SELECT tenancy.set_context(:'svc');
EXECUTE newest('2000-01-01');
SELECT tenancy.set_context(:'admin');
EXECUTE newest('2000-01-01');
SELECT tenancy.clear_context();
EXECUTE newest('2000-01-01');
COMMIT;
DEALLOCATE newest;
RESET plan_cache_mode;
RESET ROLE;

-- An organization of 5,001 tenants: its admin's list is too long to give
-- the planner as an array (its estimate would weigh every element); the
-- policy's condition is the row check from the start, estimated from the
-- column's statistics, with the same answers.
SELECT tenancy.create_user('bigadmin@many.test') AS bigadmin \gset
SELECT tenancy.create_organization('bigorg', admin => :'bigadmin') AS bigorg \gset
CREATE TABLE big_t AS
SELECT n, tenancy.create_tenant(:'bigorg', 'b' || n) AS id FROM generate_series(1, 5001) n;
INSERT INTO items SELECT 30000 + n, id, '2026-04-01'::timestamptz + n * interval '1 minute' FROM big_t;
ANALYZE items;
SET ROLE regress_many_app;
BEGIN;
SELECT tenancy.set_context(:'bigadmin');
SELECT pg_temp.filter_of('SELECT * FROM items ORDER BY created_at DESC LIMIT 5');
SELECT count(*) AS bigadmin_rows, min(id) AS first_id, max(id) AS last_id FROM items WHERE created_at > '2000-01-01';
RESET ROLE;
INSERT INTO items VALUES (40000, tenancy.create_tenant(:'bigorg', 'late'), '2026-05-01');
SET ROLE regress_many_app;
SELECT count(*) AS with_new_tenant FROM items WHERE created_at > '2000-01-01';
SELECT tenancy.set_context(:'svc');
SELECT count(*) AS svc_rows FROM items WHERE created_at > '2000-01-01';
COMMIT;
RESET ROLE;

-- In parallel: the workers take the context the leader decided on, and
-- only that.  The application role cannot set what the leader passes them.
CREATE FUNCTION pg_temp.parallel_plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
        IF line ~ 'Parallel|Workers Launched' THEN
            RETURN NEXT btrim(line);
        END IF;
    END LOOP;
END
$$;
SET tenancy.parallel_context = '00000000-0000-0000-0000-000000000001';
SET ROLE regress_many_app;
SET tenancy.parallel_context = '00000000-0000-0000-0000-000000000001';
SET enable_indexscan = off;
SET enable_seqscan = on;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;  -- every row from a worker
BEGIN;
SELECT tenancy.set_context(:'svc');
SELECT pg_temp.parallel_plan('SELECT count(*) FROM items');
SELECT count(*) AS svc_rows_in_parallel FROM items;
SELECT tenancy.set_context(:'admin');
SELECT count(*) AS admin_rows_in_parallel FROM items;
SELECT tenancy.clear_context();
SELECT count(*) AS cleared_in_parallel FROM items;
COMMIT;
-- A context left at session level by an earlier client does not count in
-- the leader, nor in its workers.
SET tenancy.context = :'admin';
SELECT count(*) AS stale_in_parallel FROM items;
BEGIN;
SELECT count(*) AS stale_in_parallel_transaction FROM items;
COMMIT;
RESET tenancy.context;
RESET ROLE;
RESET ALL;

DROP TABLE items;
DROP TABLE t;
DROP TABLE big_t;
DROP ROLE regress_many_app;
DROP EXTENSION pg_tenancy;
