-- bench/manage_setup.sql — data for bench/manage.sh: an organization of
-- :n tenants, with :n members (each a viewer of one tenant), :n / 10 teams
-- of ten members each (each team an editor of ten tenants), and :k fresh
-- (user, tenant, team) triples that the timed calls use (mg_pairs), none
-- of them assigned or in the team yet.  Loaded with set-based INSERTs into
-- pg_tenancy's tables (the integrity triggers check them as they would any
-- write); the timed calls are the management functions.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT tenancy.create_user('admin-' || :'size' || '@bench.test') AS admin \gset
SELECT tenancy.create_organization('org-' || :'size', admin => :'admin') AS org \gset
INSERT INTO mg_orgs VALUES (:'size', :'org', :'admin');

CREATE TEMP TABLE t_ten AS
SELECT n, gen_random_uuid() AS id FROM generate_series(0, :n - 1) n;
INSERT INTO tenancy.tenants (id, org_id, slug, name)
SELECT id, :'org', 't' || n, 't' || n FROM t_ten;
CREATE TEMP TABLE t_usr AS
SELECT n, gen_random_uuid() AS id FROM generate_series(0, :n - 1) n;
INSERT INTO tenancy.users (id, email)
SELECT id, 'u' || n || '-' || :'size' || '@bench.test' FROM t_usr;
INSERT INTO tenancy.memberships (org_id, user_id) SELECT :'org', id FROM t_usr;
CREATE TEMP TABLE t_team AS
SELECT n, gen_random_uuid() AS id FROM generate_series(0, :n / 10 - 1) n;
INSERT INTO tenancy.teams (id, org_id, name) SELECT id, :'org', 'team ' || n FROM t_team;
INSERT INTO tenancy.team_members (team_id, org_id, user_id)
SELECT tm.id, :'org', u.id FROM t_usr u JOIN t_team tm ON tm.n = u.n / 10;
INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, user_id)
SELECT :'org', '00000000-0000-0000-0002-000000000003', t.id, u.id
FROM t_usr u JOIN t_ten t USING (n);
INSERT INTO tenancy.role_assignments (org_id, role_id, tenant_id, team_id)
SELECT :'org', '00000000-0000-0000-0002-000000000002', t.id, tm.id
FROM t_team tm JOIN t_ten t ON t.n / 10 = tm.n;
-- The timed calls: user k, a tenant it has no role in, a team it is not in.
INSERT INTO mg_pairs
SELECT :'size', k, u.id, t.id, tm.id
FROM generate_series(1, :k) k
JOIN t_usr u ON u.n = k
JOIN t_ten t ON t.n = (k + :n / 2) % :n
JOIN t_team tm ON tm.n = (k / 10 + 1) % (:n / 10);
-- A protected table with a row in every tenant, for the organization admin.
INSERT INTO docs (tenant_id) SELECT id FROM t_ten;
