-- bench/rls_setup.sql — data for bench/rls.sh.
--
-- One organization with 1,000 tenants; 1,000,000 rows of "items", one
-- tenant (the first) holding 10% of them.  Three copies of the table with
-- the same rows and indexes:
--   items        protected by tenancy.protect()
--   items_plain  no row-level security: the ideal hand-written filter runs here
--   items_common the common practice: a policy that calls a SQL permission
--                function (test/model/reference.sql) for every row
-- Users: "reader" is a viewer of the big tenant; "ten" is a viewer of ten
-- tenants (the big one among them).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_tenancy;

SELECT tenancy.register_resource_type('item');
SELECT tenancy.create_user('admin@bench.test') AS admin \gset
SELECT tenancy.create_user('reader@bench.test') AS reader \gset
SELECT tenancy.create_user('ten@bench.test') AS ten \gset
SELECT tenancy.create_organization('bench', admin => :'admin') AS org \gset
SELECT tenancy.add_member(:'org', :'reader');
SELECT tenancy.add_member(:'org', :'ten');

CREATE TABLE bench_tenants AS
SELECT n, tenancy.create_tenant(:'org', 't' || n) AS id FROM generate_series(0, 999) n;
SELECT tenancy.assign_role('viewer', tenant => id, user_id => :'reader') FROM bench_tenants WHERE n = 0;
SELECT tenancy.assign_role('viewer', tenant => id, user_id => :'ten') FROM bench_tenants WHERE n % 100 = 0;
-- Background: a few hundred other users with roles here and there.
SELECT tenancy.add_member(:'org', tenancy.create_user('u' || g || '@bench.test')) FROM generate_series(1, 300) g;
SELECT tenancy.assign_role('editor', tenant => t.id, user_id => u.id)
FROM tenancy.users u JOIN bench_tenants t ON t.n = (hashtext(u.email) & 1023) % 1000
WHERE u.email LIKE 'u%@bench.test';

CREATE TABLE items_plain (
    id          bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    amount      numeric NOT NULL,
    title       text NOT NULL
);
-- 100,000 rows for tenant 0, 900,000 spread over the other 999.
INSERT INTO items_plain
SELECT g,
       (SELECT id FROM bench_tenants WHERE n = CASE WHEN g <= 100000 THEN 0 ELSE 1 + (g % 999) END),
       '2026-01-01'::timestamptz + (g::bigint * 7919 % 1000000) * interval '1 second',
       (g % 1000) / 10.0,
       'item ' || g
FROM generate_series(1, 1000000) g;
-- The same rows in the same order, and indexes built the same way after
-- loading, so that the three tables differ only in their policies.
CREATE TABLE items AS SELECT * FROM items_plain;
CREATE TABLE items_common AS SELECT * FROM items_plain;
ALTER TABLE items_plain ADD PRIMARY KEY (id);
ALTER TABLE items ADD PRIMARY KEY (id);
ALTER TABLE items_common ADD PRIMARY KEY (id);
CREATE INDEX items_plain_tenant_created_idx ON items_plain (tenant_id, created_at);
CREATE INDEX items_tenant_created_idx ON items (tenant_id, created_at);
CREATE INDEX items_common_tenant_created_idx ON items_common (tenant_id, created_at);

SELECT tenancy.protect('items', resource_type => 'item');

\ir ../test/model/reference.sql
ALTER TABLE items_common ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY common_read ON items_common FOR SELECT USING (
    tenancy_ref.has_permission(nullif(current_setting('app.user_id', true), '')::uuid,
                               tenant_id, 'item:read'));

CREATE ROLE bench_app LOGIN;
GRANT USAGE ON SCHEMA tenancy_ref TO bench_app;
GRANT SELECT ON tenancy.users, tenancy.tenants, tenancy.memberships, tenancy.teams,
    tenancy.team_members, tenancy.roles, tenancy.role_assignments TO bench_app;
GRANT SELECT ON items, items_plain, items_common, bench_tenants TO bench_app;
VACUUM ANALYZE;
