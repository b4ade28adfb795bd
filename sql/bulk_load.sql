--
-- The bulk-load path for protected tables: PostgreSQL refuses COPY FROM into
-- a table under row-level security, so an application role loads into a
-- temporary table and moves the rows with one INSERT ... SELECT, which the
-- INSERT policy checks row by row, all or nothing.
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
-- vera may create in red and blue; max only reads green.
SELECT tenancy.assign_role('editor', tenant => :'red', user_id => :'vera');
SELECT tenancy.assign_role('editor', tenant => :'blue', user_id => :'vera');
SELECT tenancy.assign_role('viewer', tenant => :'green', user_id => :'max');

CREATE TABLE tickets (
    id          bigint PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    title       text NOT NULL
);
CREATE INDEX ON tickets (tenant_id);
SELECT tenancy.protect('tickets', resource_type => 'ticket');

-- Names instead of ids in the output.
CREATE FUNCTION tenant_name(uuid) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER AS
$$ SELECT slug FROM tenancy.tenants WHERE id = $1 $$;
CREATE FUNCTION tenant_by_slug(text) RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER AS
$$ SELECT id FROM tenancy.tenants WHERE slug = $1 $$;
-- What the table holds, whatever the context (the owner's view, bypassing
-- row-level security as a superuser does).
CREATE FUNCTION ticket_counts() RETURNS TABLE (tenant text, n bigint)
LANGUAGE sql SECURITY DEFINER AS
$$ SELECT tenant_name(tenant_id), count(*) FROM tickets GROUP BY 1 ORDER BY 1 $$;

CREATE ROLE regress_bulk_app;
GRANT SELECT, INSERT ON tickets TO regress_bulk_app;
GRANT EXECUTE ON FUNCTION tenant_name(uuid), tenant_by_slug(text), ticket_counts() TO regress_bulk_app;

-- The data to load names its tenant by slug (tenant_by_slug() turns it into
-- the id); tenant ids in the COPY data would do as well, slugs keep the ids
-- out of this file.
SET ROLE regress_bulk_app;

-- COPY FROM into the protected table: refused by PostgreSQL itself for a
-- role subject to row-level security, whatever the context (psql skips the
-- data that follows).
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
COPY tickets FROM STDIN;
1	00000000-0000-0000-0000-000000000000	first red ticket
\.
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- COPY into a temporary table, then one INSERT ... SELECT under the context.
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
1	red	first red ticket
2	red	second red ticket
3	red	third red ticket
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
COMMIT;
SELECT * FROM ticket_counts();

-- One row of a tenant the context may not write (green): the whole INSERT
-- is refused, nothing is inserted.
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
10	red	fine
11	green	not vera's
12	red	fine too
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM ticket_counts();

-- A row of blue, where vera may create too, under a context whose current
-- tenant is red: refused as well.  With a current tenant, a write may name
-- that tenant only.
BEGIN;
SELECT tenancy.set_context(:'vera', :'red');
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
20	red	fine
21	blue	vera's, but not the current tenant
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM ticket_counts();

-- The same rows with a context without a tenant: every tenant where vera
-- holds ticket:create (red and blue) may be written, in one statement.
BEGIN;
SELECT tenancy.set_context(:'vera');
SELECT array_agg(tenant_name(t) ORDER BY tenant_name(t)) AS writable
FROM unnest(tenancy.writable_tenants('ticket:create')) t;
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
20	red	fine
21	blue	vera's, and no current tenant
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
COMMIT;
SELECT * FROM ticket_counts();

-- Without a tenant, a row of green (where vera holds nothing) is still
-- refused, and takes the rest of the statement with it.
BEGIN;
SELECT tenancy.set_context(:'vera');
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
30	blue	fine
31	green	not vera's
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM ticket_counts();

-- Reading a tenant is not writing it: max, a viewer of green, cannot load there.
BEGIN;
SELECT tenancy.set_context(:'max', :'green');
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
40	green	max's
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- No context: the INSERT fails (42501, no tenancy context is set).
BEGIN;
CREATE TEMP TABLE stage (id bigint, tenant text, title text) ON COMMIT DROP;
COPY stage FROM STDIN;
50	red	nobody's
\.
INSERT INTO tickets (id, tenant_id, title)
SELECT id, tenant_by_slug(tenant), title FROM stage;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT * FROM ticket_counts();
RESET ROLE;

-- Cleanup.
DROP TABLE tickets;
DROP FUNCTION ticket_counts();
DROP FUNCTION tenant_name(uuid);
DROP FUNCTION tenant_by_slug(text);
DROP ROLE regress_bulk_app;
DROP EXTENSION pg_tenancy;
