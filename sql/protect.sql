--
-- tenancy.protect() and tenancy.unprotect(): what they add, the plans the
-- policies give, partitions, refusals, and exactly what unprotect() undoes.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
SET search_path = public;

SELECT tenancy.create_user('ops@example.com') AS ops \gset
SELECT tenancy.create_user('vera@example.com') AS vera \gset
SELECT tenancy.create_user('max@example.com') AS max \gset
SELECT tenancy.create_organization('acme', admin => :'ops') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 'red') AS red \gset
SELECT tenancy.create_tenant(:'acme', 'blue') AS blue \gset
SELECT tenancy.create_tenant(:'acme', 'green') AS green \gset
SELECT tenancy.add_member(:'acme', :'vera');
SELECT tenancy.add_member(:'acme', :'max');
SELECT tenancy.assign_role('viewer', tenant => :'red', user_id => :'vera');
SELECT tenancy.assign_role('editor', tenant => :'blue', user_id => :'vera');
SELECT tenancy.assign_role('viewer', tenant => :'green', user_id => :'max');

CREATE TABLE tickets (
    id          bigint PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    title       text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX tickets_tenant_created_idx ON tickets (tenant_id, created_at);
INSERT INTO tickets
SELECT g, (ARRAY[:'red', :'blue', :'green']::uuid[])[g % 3 + 1], 'ticket ' || g,
       '2026-01-01'::timestamptz + g * interval '1 minute'
FROM generate_series(1, 3000) g;
ANALYZE tickets;

CREATE ROLE regress_tenancy_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tickets TO regress_tenancy_app;

-- EXPLAIN without the literal ids.
CREATE FUNCTION explain_plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        RETURN NEXT regexp_replace(line, '''[0-9a-f-]{36}''::uuid', '<tenant>', 'g');
    END LOOP;
END
$$;

-- Names instead of ids in the output.
CREATE FUNCTION tenant_name(uuid) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER AS
$$ SELECT slug FROM tenancy.tenants WHERE id = $1 $$;

-- Protect -------------------------------------------------------------------
SELECT tenancy.protect('tickets', resource_type => 'ticket');
SELECT relid, tenant_column, resource_type, root, rls_was_enabled, rls_was_forced, registered_type
FROM tenancy.protected_tables;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'tickets'::regclass;
SELECT policyname, permissive, roles, cmd, qual, with_check
FROM pg_policies WHERE tablename = 'tickets' ORDER BY policyname;
SELECT name FROM tenancy.resource_types WHERE name = 'ticket';

-- A second call changes nothing.
SELECT md5(string_agg(p::text, ',' ORDER BY polname)) AS policies_before FROM pg_policy p WHERE polrelid = 'tickets'::regclass \gset
SELECT tenancy.protect('tickets', resource_type => 'ticket');
SELECT md5(string_agg(p::text, ',' ORDER BY polname)) = :'policies_before' AS unchanged
FROM pg_policy p WHERE polrelid = 'tickets'::regclass;
SELECT count(*) AS catalog_rows FROM tenancy.protected_tables;

-- Refusals.
SELECT tenancy.unregister_resource_type('ticket');
SELECT tenancy.protect('tickets', tenant_column => 'title');
SELECT tenancy.protect('tickets', resource_type => 'tickets2');
CREATE VIEW ticket_view AS SELECT * FROM tickets;
SELECT tenancy.protect('ticket_view');
CREATE TABLE no_tenant (id int);
SELECT tenancy.protect('no_tenant');
CREATE TABLE text_tenant (tenant_id text);
SELECT tenancy.protect('text_tenant');
CREATE TABLE "Mixed Case" (tenant_id uuid);
SELECT tenancy.protect('"Mixed Case"');
SELECT tenancy.protect(NULL);
SELECT tenancy.unprotect('no_tenant');
-- Only the owner may protect a table.
CREATE TABLE not_yours (tenant_id uuid PRIMARY KEY);
SET ROLE regress_tenancy_app;
SELECT tenancy.protect('not_yours');
SELECT tenancy._record_protection('not_yours', 'tenant_id', 'ticket', NULL, false, false);
RESET ROLE;
SELECT relrowsecurity FROM pg_class WHERE oid = 'not_yours'::regclass;
SELECT count(*) AS catalog_rows FROM tenancy.protected_tables;

-- A table without an index on its tenant column is protected with a warning.
CREATE TABLE unindexed (id int, tenant_id uuid);
SELECT tenancy.protect('unindexed');
SELECT tenancy.unprotect('unindexed');
DROP TABLE unindexed;

-- Queries --------------------------------------------------------------------
SET ROLE regress_tenancy_app;

-- No context: no rows.
SELECT count(*) AS without_context FROM tickets;

-- A user without a tenant sees every tenant where they may read.
BEGIN;
SELECT tenancy.set_context(:'vera');
SELECT tenant_name(tenant_id), count(*) FROM tickets GROUP BY 1 ORDER BY 1;
COMMIT;

-- With a tenant, only that tenant.
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
SELECT tenant_name(tenant_id), count(*) FROM tickets GROUP BY 1 ORDER BY 1;
COMMIT;

-- Writes follow the actions: vera may create in blue (editor) but not in red
-- (viewer), and may update nowhere.
BEGIN;
SELECT tenancy.set_context(:'vera');
INSERT INTO tickets VALUES (10001, :'blue', 'new', now()) RETURNING tenant_name(tenant_id), title;
SAVEPOINT s;
INSERT INTO tickets VALUES (10002, :'red', 'new', now());
ROLLBACK TO SAVEPOINT s;
UPDATE tickets SET title = 'changed' WHERE id <= 30;
DELETE FROM tickets WHERE id <= 30;
ROLLBACK;

-- The plans: the tenant condition is an index condition, and with a tenant
-- set the planner knows every row has it, so ORDER BY ... LIMIT reads the
-- (tenant_id, created_at) index in order, exactly as the hand-written query
-- does.
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
EXPLAIN (COSTS OFF) SELECT * FROM tickets ORDER BY created_at LIMIT 50;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tickets;
EXPLAIN (COSTS OFF) SELECT * FROM tickets WHERE id = 42;
SELECT min(id), max(id), count(*) FROM (SELECT * FROM tickets ORDER BY created_at LIMIT 50) page;
COMMIT;
RESET ROLE;
SELECT explain_plan(format('SELECT * FROM tickets WHERE tenant_id = %L ORDER BY created_at LIMIT 50', :'red'));
SET ROLE regress_tenancy_app;

-- Without a tenant, the list of tenants is an index condition too.
BEGIN;
SELECT tenancy.set_context(:'vera');
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tickets;
COMMIT;

-- A setting named like Citus's, without Citus (a placeholder the application
-- may set), does not switch to the plans made for Citus.
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SELECT tenancy.set_context(:'vera');
SET LOCAL enable_seqscan = off;
SELECT explain_plan('SELECT count(*) FROM tickets');
SELECT explain_plan('SELECT * FROM tickets ORDER BY created_at LIMIT 1');
SELECT tenancy.set_context(:'vera', :'red');
SELECT explain_plan('SELECT * FROM tickets ORDER BY created_at LIMIT 1');
COMMIT;

-- A prepared statement whose generic plan was made under one context
-- returns the rows of the next one: nothing is folded in at plan time.
SET plan_cache_mode = force_generic_plan;
PREPARE page AS SELECT tenant_name(tenant_id) AS tenant, count(*) FROM tickets GROUP BY 1 ORDER BY 1;
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
EXECUTE page;
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'max', :'green');
EXECUTE page;
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'vera');
EXECUTE page;
COMMIT;
EXECUTE page;
DEALLOCATE page;
RESET plan_cache_mode;
RESET ROLE;

-- search_path cannot change what a policy calls.
CREATE SCHEMA evil;
CREATE FUNCTION evil.visible_tenants(text) RETURNS uuid[] LANGUAGE sql AS
$$ SELECT array_agg(id) FROM tenancy.tenants $$;
GRANT USAGE ON SCHEMA evil TO regress_tenancy_app;
SET ROLE regress_tenancy_app;
SET search_path = evil, public;
BEGIN;
SELECT tenancy.set_context(:'max');
SELECT count(*) AS max_sees FROM tickets;
COMMIT;
RESET search_path;
RESET ROLE;
DROP SCHEMA evil CASCADE;

-- Partitioned tables --------------------------------------------------------
CREATE SCHEMA "Billing";
CREATE TABLE "Billing".invoices (
    id bigint, tenant_id uuid NOT NULL, amount numeric
) PARTITION BY HASH (tenant_id);
CREATE TABLE "Billing".invoices_0 PARTITION OF "Billing".invoices FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE INDEX ON "Billing".invoices (tenant_id);
SELECT tenancy.protect('"Billing".invoices', resource_type => 'invoice');
-- Partitions created or attached later are protected as well.
CREATE TABLE "Billing".invoices_1 PARTITION OF "Billing".invoices FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE "Billing".invoices_2 (id bigint, tenant_id uuid NOT NULL, amount numeric);
ALTER TABLE "Billing".invoices ATTACH PARTITION "Billing".invoices_2 FOR VALUES WITH (MODULUS 3, REMAINDER 2);
SELECT relid, root, resource_type FROM tenancy.protected_tables WHERE resource_type = 'invoice' ORDER BY relid::text;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, count(p.polname) AS policies
FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
WHERE c.relnamespace = '"Billing"'::regnamespace AND c.relkind IN ('r', 'p')
GROUP BY 1, 2, 3 ORDER BY 1;

INSERT INTO "Billing".invoices
SELECT g, (ARRAY[:'red', :'blue', :'green']::uuid[])[g % 3 + 1], g FROM generate_series(1, 300) g;
GRANT USAGE ON SCHEMA "Billing" TO regress_tenancy_app;
GRANT SELECT ON ALL TABLES IN SCHEMA "Billing" TO regress_tenancy_app;
SET ROLE regress_tenancy_app;
BEGIN;
SELECT tenancy.set_context(:'max');
SELECT count(*) AS through_parent FROM "Billing".invoices;
SELECT (SELECT count(*) FROM "Billing".invoices_0) + (SELECT count(*) FROM "Billing".invoices_1)
     + (SELECT count(*) FROM "Billing".invoices_2) AS through_partitions;
SELECT count(*) FILTER (WHERE tenant_id <> :'green') AS other_tenants FROM (
    SELECT tenant_id FROM "Billing".invoices_0 UNION ALL
    SELECT tenant_id FROM "Billing".invoices_1 UNION ALL
    SELECT tenant_id FROM "Billing".invoices_2) x;
COMMIT;
RESET ROLE;

-- Unprotect --------------------------------------------------------------------
-- It removes exactly what protect() added: policies, RLS flags as they were,
-- the catalog rows, and the resource type it had registered.
ALTER TABLE text_tenant ENABLE ROW LEVEL SECURITY;
ALTER TABLE text_tenant ADD COLUMN t uuid;
CREATE INDEX ON text_tenant (t);
SELECT tenancy.protect('text_tenant', tenant_column => 't', resource_type => 'ticket');
SELECT tenancy.unprotect('text_tenant');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'text_tenant'::regclass;
SELECT tenancy.unprotect('"Billing".invoices');
SELECT tenancy.unprotect('tickets');
SELECT count(*) AS policies_left FROM pg_policy WHERE polrelid <> 'tenancy.audit_log'::regclass;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
WHERE c.relname IN ('tickets', 'invoices', 'invoices_0', 'invoices_1', 'invoices_2') ORDER BY 1;
SELECT count(*) AS catalog_rows FROM tenancy.protected_tables;
SELECT count(*) AS types_left FROM tenancy.resource_types WHERE name IN ('ticket', 'invoice');

-- Dropping a protected table drops its catalog row.
SELECT tenancy.protect('tickets');
DROP TABLE tickets CASCADE;
SELECT count(*) AS catalog_rows FROM tenancy.protected_tables;
SELECT tenancy.protect('"Billing".invoices');
SELECT count(*) AS catalog_rows FROM tenancy.protected_tables;
DROP SCHEMA "Billing" CASCADE;
SELECT count(*) AS catalog_rows FROM tenancy.protected_tables;
DROP TABLE no_tenant, text_tenant, "Mixed Case", not_yours;
DROP FUNCTION tenant_name(uuid);
DROP FUNCTION explain_plan(text);
DROP ROLE regress_tenancy_app;
DROP EXTENSION pg_tenancy;
