-- bench/readers_setup.sql — data for bench/readers.sh (psql -v tenants=N).
--
-- Two organizations: "big" with :tenants tenants holding 900,000 of the
-- 1,000,000 rows of "items", "small" with 100 tenants holding the other
-- 100,000.  "notes" (300,000 rows, a note on every third item of big, in the
-- item's tenant) is the second protected table, for joins.
-- Readers of big, each with a context without a tenant:
--   admin    the organization's admin: every tenant of big
--   svc      a service user, viewer in 1,000 tenants of big
--   crew     a member of a team that is viewer in 2,000 tenants of big
-- The protected queries run as bench_app; the hand-written filters run on
-- the same tables as bench_plain, a role that bypasses row-level security
-- (bench_app may SET ROLE to it, and has none of its rights until then;
-- membership does not pass the attribute on).  Both sides read the same pages: two copies of a table, even built
-- alike, differ by up to a fifth in the speed of the same query (where
-- their pages lie in shared buffers), more than the difference measured.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_tenancy;

SELECT tenancy.register_resource_type('item');
SELECT tenancy.register_resource_type('note');
SELECT tenancy.create_user('admin@bench.test') AS admin \gset
SELECT tenancy.create_user('svc@bench.test') AS svc \gset
SELECT tenancy.create_user('crew@bench.test') AS crew \gset
SELECT tenancy.create_user('other@bench.test') AS other \gset
SELECT tenancy.create_organization('big', admin => :'admin') AS big \gset
SELECT tenancy.create_organization('small', admin => :'other') AS small \gset
SELECT tenancy.add_member(:'big', :'svc');
SELECT tenancy.add_member(:'big', :'crew');
SELECT tenancy.create_team(:'big', 'crew') AS team \gset
SELECT tenancy.add_team_member(:'team', :'crew');

CREATE TABLE bench_tenants AS
SELECT n, 'big'::text AS org, tenancy.create_tenant(:'big', 't' || n) AS id
FROM generate_series(0, :tenants - 1) n;
INSERT INTO bench_tenants
SELECT n, 'small', tenancy.create_tenant(:'small', 's' || n) FROM generate_series(0, 99) n;
CREATE UNIQUE INDEX ON bench_tenants (org, n);
-- svc: every (tenants / 1000)-th tenant; the team: every (tenants / 2000)-th.
SELECT count(tenancy.assign_role('viewer', tenant => id, user_id => :'svc'))
FROM bench_tenants WHERE org = 'big' AND n % (:tenants / 1000) = 0;
SELECT count(tenancy.assign_role('viewer', tenant => id, team_id => :'team'))
FROM bench_tenants WHERE org = 'big' AND n % (:tenants / 2000) = 1 % (:tenants / 2000);

CREATE TABLE items (
    id          bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    status      int NOT NULL,
    amount      numeric NOT NULL,
    title       text NOT NULL
);
-- 900,000 rows spread over the tenants of big, 100,000 over those of small.
INSERT INTO items
SELECT g,
       CASE WHEN g <= 900000
            THEN (SELECT id FROM bench_tenants WHERE org = 'big' AND n = g % :tenants)
            ELSE (SELECT id FROM bench_tenants WHERE org = 'small' AND n = g % 100) END,
       '2026-01-01'::timestamptz + (g::bigint * 7919 % 1000000) * interval '1 second',
       (g / :tenants) % 10,  -- not tied to the tenant
       (g % 1000) / 10.0,
       'item ' || g
FROM generate_series(1, 1000000) g;
CREATE TABLE notes (
    id          bigint NOT NULL,
    item_id     bigint NOT NULL,
    tenant_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    body        text NOT NULL
);
INSERT INTO notes
SELECT i.id / 3, i.id, i.tenant_id, i.created_at + interval '1 hour', 'note on ' || i.id
FROM items i WHERE i.id % 3 = 0 AND i.id <= 900000;

ALTER TABLE items ADD PRIMARY KEY (id);
ALTER TABLE notes ADD PRIMARY KEY (id);
CREATE INDEX ON items (tenant_id, created_at);
CREATE INDEX ON items (created_at);
CREATE INDEX ON notes (tenant_id, created_at);
CREATE INDEX ON notes (created_at);
CREATE INDEX ON notes (item_id);

SELECT tenancy.protect('items', resource_type => 'item');
SELECT tenancy.protect('notes', resource_type => 'note');

CREATE ROLE bench_app LOGIN NOINHERIT;
CREATE ROLE bench_plain BYPASSRLS;
GRANT bench_plain TO bench_app;
GRANT SELECT ON tenancy.tenants, tenancy.role_assignments, tenancy.team_members TO bench_plain;
GRANT SELECT ON items, notes, bench_tenants TO bench_app, bench_plain;
VACUUM ANALYZE;
