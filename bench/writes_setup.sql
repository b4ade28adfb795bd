-- bench/writes_setup.sql — data for bench/writes.sh.
--
-- One organization with 1,000 tenants.  Four tables with the same columns
-- and indexes (primary key on id, (tenant_id, created_at)):
--   w_prot       protected by tenancy.protect() (tenant column)
--   w_plain      unprotected: the hand-written baseline
--   w_own        protected with owner and id columns
--   w_own_plain  unprotected copy of w_own
-- Users: "writer" holds the tenant admin role in tenant 0 (create, update);
-- "editor" holds the built-in editor role there (create; updates only what
-- it owns: the rows of w_own are its own).  bench/writes.sh loads the base
-- rows (w_base: 100,000 of tenant 0, 100,000 of other tenants) before each
-- round and runs every statement as bench_app, a role without BYPASSRLS.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_tenancy;

SELECT tenancy.register_resource_type('item');
SELECT tenancy.create_user('admin@bench.test') AS admin \gset
SELECT tenancy.create_user('writer@bench.test') AS writer \gset
SELECT tenancy.create_user('editor@bench.test') AS editor \gset
SELECT tenancy.create_organization('bench', admin => :'admin') AS org \gset
SELECT tenancy.add_member(:'org', :'writer');
SELECT tenancy.add_member(:'org', :'editor');
CREATE TABLE bench_tenants AS
SELECT n, tenancy.create_tenant(:'org', 't' || n) AS id FROM generate_series(0, 999) n;
SELECT tenancy.assign_role('admin', tenant => id, user_id => :'writer') FROM bench_tenants WHERE n = 0;
SELECT tenancy.assign_role('editor', tenant => id, user_id => :'editor') FROM bench_tenants WHERE n = 0;

CREATE TABLE w_base (
    id          bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    owner_id    uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    amount      numeric NOT NULL,
    title       text NOT NULL
);
INSERT INTO w_base
SELECT g,
       (SELECT id FROM bench_tenants WHERE n = CASE WHEN g <= 100000 THEN 0 ELSE 1 + (g % 999) END),
       :'editor',
       '2026-01-01'::timestamptz + (g::bigint * 7919 % 1000000) * interval '1 second',
       (g % 1000) / 10.0,
       'item ' || g
FROM generate_series(1, 200000) g;

CREATE TABLE w_prot (LIKE w_base);
CREATE TABLE w_plain (LIKE w_base);
CREATE TABLE w_own (LIKE w_base);
CREATE TABLE w_own_plain (LIKE w_base);
ALTER TABLE w_prot ADD PRIMARY KEY (id);
ALTER TABLE w_plain ADD PRIMARY KEY (id);
ALTER TABLE w_own ADD PRIMARY KEY (id);
ALTER TABLE w_own_plain ADD PRIMARY KEY (id);
CREATE INDEX ON w_prot (tenant_id, created_at);
CREATE INDEX ON w_plain (tenant_id, created_at);
CREATE INDEX ON w_own (tenant_id, created_at);
CREATE INDEX ON w_own_plain (tenant_id, created_at);
CREATE INDEX ON w_own (owner_id);
CREATE INDEX ON w_own_plain (owner_id);

SELECT tenancy.protect('w_prot', resource_type => 'item');
SELECT tenancy.protect('w_own', resource_type => 'item', owner_column => 'owner_id', id_column => 'id');

CREATE ROLE bench_app LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON w_prot, w_plain, w_own, w_own_plain TO bench_app;
GRANT SELECT ON bench_tenants TO bench_app;
