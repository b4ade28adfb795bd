-- test/citus/setup.sql — a small hierarchy and one distributed protected
-- table, run on the coordinator as postgres (test/citus/probe.sh).
-- Fixed ids so that other nodes and scripts can name them.
\set ON_ERROR_STOP 1
SELECT tenancy.register_resource_type('item', 'probe items');

-- users: alice (org admin), bob (editor on t1 only)
INSERT INTO tenancy.users (id, email, display_name) VALUES
    ('a0000000-0000-0000-0000-000000000001', 'alice@x.test', 'Alice'),
    ('b0000000-0000-0000-0000-000000000001', 'bob@x.test', 'Bob');
SELECT tenancy.create_organization('acme', 'Acme', admin => 'a0000000-0000-0000-0000-000000000001') AS acme \gset
INSERT INTO tenancy.tenants (id, org_id, slug, name) VALUES
    ('10000000-0000-0000-0000-000000000001', :'acme', 't1', 'T1'),
    ('20000000-0000-0000-0000-000000000002', :'acme', 't2', 'T2');
SELECT tenancy.add_member(:'acme', 'b0000000-0000-0000-0000-000000000001');
SELECT tenancy.assign_role('editor', tenant => '10000000-0000-0000-0000-000000000001',
                           user_id => 'b0000000-0000-0000-0000-000000000001');

CREATE ROLE app LOGIN;
CREATE TABLE items (
    tenant_id uuid NOT NULL,
    id bigint NOT NULL,
    owner_id uuid,
    name text,
    PRIMARY KEY (tenant_id, id)
);
SELECT create_distributed_table('items', 'tenant_id', shard_count => 8);
INSERT INTO items SELECT '10000000-0000-0000-0000-000000000001', g, NULL, 't1-' || g FROM generate_series(1, 10) g;
INSERT INTO items SELECT '20000000-0000-0000-0000-000000000002', g, NULL, 't2-' || g FROM generate_series(1, 20) g;
SELECT tenancy.protect('items', resource_type => 'item');
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO app;
-- bob also edits t2: a context of bob alone sees 30 rows; revoking t2 leaves 10
SELECT tenancy.assign_role('editor', tenant => '20000000-0000-0000-0000-000000000002',
                           user_id => 'b0000000-0000-0000-0000-000000000001');
