-- bench/citus_setup.sql — data for bench/citus.sh, run on the coordinator
-- of a Citus cluster (as postgres) after pg_tenancy is created there.
--
-- One organization with 1,000 tenants; 1,000,000 rows, 1,000 per tenant,
-- in two distributed tables (by tenant_id, 32 shards, co-located) with the
-- same rows in the same order and the same indexes:
--   items        protected by tenancy.protect()
--   items_plain  no row-level security: the ideal hand-written filter runs here
--
-- Ids are fixed, so that pgbench can write them from a number:
--   tenant n (0..999)       00000000-0000-0000-0000-1000000nnnnn  (100000000000 + n)
--   reader n (0..999)       00000000-0000-0000-0001-1000000nnnnn  viewer of tenant n
--   multi k  (0..99)        00000000-0000-0000-0002-1000000000kk  viewer of the ten
--                           tenants k, k+100, ..., k+900
--   row g (1..1,000,000)    tenant (g - 1) % 1000, so tenant n holds the ids
--                           n + 1 + 1000 j, j in 0..999
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT tenancy.register_resource_type('item', 'bench items');
SELECT tenancy.create_user('admin@bench.test') AS admin \gset
SELECT tenancy.create_organization('bench', 'Bench', admin => :'admin') AS org \gset

INSERT INTO tenancy.tenants (id, org_id, slug, name)
SELECT ('00000000-0000-0000-0000-' || (100000000000 + n))::uuid, :'org', 't' || n, 'T' || n
FROM generate_series(0, 999) n;
INSERT INTO tenancy.users (id, email, display_name)
SELECT ('00000000-0000-0000-0001-' || (100000000000 + n))::uuid, 'r' || n || '@bench.test', 'R' || n
FROM generate_series(0, 999) n;
INSERT INTO tenancy.users (id, email, display_name)
SELECT ('00000000-0000-0000-0002-' || (100000000000 + k))::uuid, 'm' || k || '@bench.test', 'M' || k
FROM generate_series(0, 99) k;
SELECT tenancy.add_member(:'org', id) FROM tenancy.users
WHERE email LIKE 'r%@bench.test' OR email LIKE 'm%@bench.test';
SELECT tenancy.assign_role('viewer',
           tenant => ('00000000-0000-0000-0000-' || (100000000000 + n))::uuid,
           user_id => ('00000000-0000-0000-0001-' || (100000000000 + n))::uuid)
FROM generate_series(0, 999) n;
SELECT tenancy.assign_role('viewer',
           tenant => ('00000000-0000-0000-0000-' || (100000000000 + k + 100 * j))::uuid,
           user_id => ('00000000-0000-0000-0002-' || (100000000000 + k))::uuid)
FROM generate_series(0, 99) k, generate_series(0, 9) j;

CREATE TABLE items_plain (
    id          bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    amount      numeric NOT NULL,
    title       text NOT NULL
);
INSERT INTO items_plain
SELECT g,
       ('00000000-0000-0000-0000-' || (100000000000 + (g - 1) % 1000))::uuid,
       '2026-01-01'::timestamptz + (g::bigint * 7919 % 1000000) * interval '1 second',
       (g % 1000) / 10.0,
       'item ' || g
FROM generate_series(1, 1000000) g;
SELECT create_distributed_table('items_plain', 'tenant_id', shard_count => 32);
SELECT truncate_local_data_after_distributing_table('items_plain');
-- The protected copy: co-located, filled shard by shard from the plain one
-- (the same rows in the same order), indexes built the same way after loading.
CREATE TABLE items (LIKE items_plain);
SELECT create_distributed_table('items', 'tenant_id', colocate_with => 'items_plain');
INSERT INTO items SELECT * FROM items_plain;
ALTER TABLE items_plain ADD PRIMARY KEY (tenant_id, id);
ALTER TABLE items ADD PRIMARY KEY (tenant_id, id);
CREATE INDEX items_plain_tenant_created_idx ON items_plain (tenant_id, created_at);
CREATE INDEX items_tenant_created_idx ON items (tenant_id, created_at);

SELECT tenancy.protect('items', resource_type => 'item');

CREATE ROLE bench_app LOGIN;
GRANT SELECT ON items, items_plain TO bench_app;
VACUUM ANALYZE items;
VACUUM ANALYZE items_plain;
