-- bench/sharing_setup.sql — data for bench/rls.sh with SUITE=sharing.
--
-- The data of rls_setup.sql (1,000,000 rows over 1,000 tenants, one tenant
-- holding 10%) with an owner on every row and 5% of the rows shared:
--   docs        protected by tenancy.protect() with owner and id columns
--   docs_plain  no row-level security: the ideal hand-written query for the
--               same rule runs here
-- Rows are owned by 500 members ("u1" .. "u500"); 50,000 rows (5%) are
-- shared, four in five with one of those users and one in five with one of
-- 50 teams of ten of them.
-- Users:
--   "reader" views the big tenant (tenant-wide "read");
--   "guest" holds a role without "doc:read" in the big tenant: it sees what
--   it owns there (an owner keeps every right while it holds any role) and
--   what is shared with it or its team, in any tenant.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_tenancy;

SELECT tenancy.register_resource_type('doc');
SELECT tenancy.create_user('admin@bench.test') AS admin \gset
SELECT tenancy.create_organization('bench', admin => :'admin') AS org \gset
SELECT tenancy.create_role(:'org', 'outsider', 'tenant', '{doc:create}') IS NOT NULL AS role_created;

CREATE TABLE bench_tenants AS
SELECT n, tenancy.create_tenant(:'org', 't' || n) AS id FROM generate_series(0, 999) n;
CREATE TABLE bench_users AS
SELECT g AS n, tenancy.create_user('u' || g || '@bench.test') AS id FROM generate_series(1, 500) g;
SELECT count(tenancy.add_member(:'org', id)) FROM bench_users;
-- u1 is "reader", u2 is "guest".
SELECT id AS reader FROM bench_users WHERE n = 1 \gset
SELECT id AS guest FROM bench_users WHERE n = 2 \gset
SELECT tenancy.assign_role('viewer', tenant => id, user_id => :'reader') FROM bench_tenants WHERE n = 0;
SELECT tenancy.assign_role('outsider', tenant => id, user_id => :'guest') FROM bench_tenants WHERE n = 0;
-- Everybody else: an editor somewhere.
SELECT count(tenancy.assign_role('editor', tenant => t.id, user_id => u.id))
FROM bench_users u JOIN bench_tenants t ON t.n = (u.n * 7) % 1000 WHERE u.n > 2;
-- 50 teams of ten.
CREATE TABLE bench_teams AS
SELECT g AS n, tenancy.create_team(:'org', 'team ' || g) AS id FROM generate_series(0, 49) g;
SELECT count(tenancy.add_team_member(t.id, u.id))
FROM bench_users u JOIN bench_teams t ON t.n = u.n % 50;

CREATE TABLE docs_plain (
    id          bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    owner_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    amount      numeric NOT NULL,
    title       text NOT NULL
);
INSERT INTO docs_plain
SELECT g,
       (SELECT id FROM bench_tenants WHERE n = CASE WHEN g <= 100000 THEN 0 ELSE 1 + (g % 999) END),
       (SELECT id FROM bench_users WHERE n = 1 + (g * 31 % 500)),
       '2026-01-01'::timestamptz + (g::bigint * 7919 % 1000000) * interval '1 second',
       (g % 1000) / 10.0,
       'doc ' || g
FROM generate_series(1, 1000000) g;
CREATE TABLE docs AS SELECT * FROM docs_plain;
ALTER TABLE docs_plain ADD PRIMARY KEY (id);
ALTER TABLE docs ADD PRIMARY KEY (id);
CREATE INDEX docs_plain_tenant_created_idx ON docs_plain (tenant_id, created_at);
CREATE INDEX docs_tenant_created_idx ON docs (tenant_id, created_at);
CREATE INDEX docs_plain_owner_idx ON docs_plain (owner_id);
CREATE INDEX docs_owner_idx ON docs (owner_id);

SELECT tenancy.protect('docs', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');

-- 5% of the rows shared (every 20th), for reading: written directly, as a
-- bulk load would be (share() checks the sharer, row by row).
INSERT INTO tenancy.shares (org_id, tenant_id, resource_type, relid, resource_id, user_id, team_id, actions)
SELECT :'org', d.tenant_id, 'doc', 'docs', d.id::text,
       CASE WHEN d.id % 100 <> 0 THEN (SELECT id FROM bench_users WHERE n = 1 + abs(hashint8(d.id)) % 500) END,
       CASE WHEN d.id % 100 = 0 THEN (SELECT id FROM bench_teams WHERE n = abs(hashint8(d.id)) % 50) END,
       '{read}'
FROM docs d WHERE d.id % 20 = 0;

-- What the ideal queries for guest name by hand.
CREATE TABLE guest_shared AS
SELECT s.tenant_id, s.resource_id::bigint AS id FROM tenancy.shared_with(:'guest', 'doc', 'read') s;

CREATE ROLE bench_app LOGIN;
GRANT SELECT ON docs, docs_plain, bench_tenants, bench_users, guest_shared TO bench_app;
VACUUM ANALYZE;
