-- examples/walkthrough.sql — a few decisions on the sample hierarchy.
\set ON_ERROR_STOP 1
\pset footer off
SET search_path = tenancy, public;

-- Names instead of ids, for reading.
CREATE TEMP VIEW who AS SELECT id, email FROM users;
CREATE TEMP VIEW tenant AS
    SELECT t.id, o.slug || '/' || t.slug AS name FROM tenants t JOIN organizations o ON o.id = t.org_id;

\echo
\echo '1. What each user may do in each tenant (tenancy.permissions):'
SELECT w.email, t.name AS tenant, permissions(w.id, t.id) AS permissions
FROM who w CROSS JOIN tenant t
WHERE permissions(w.id, t.id) <> '{}'
ORDER BY 1, 2;

\echo '2. Single checks (tenancy.has_permission):'
SELECT w.email, t.name AS tenant, q.permission, has_permission(w.id, t.id, q.permission) AS allowed
FROM (VALUES ('bob@acme.test', 'acme/prod', 'pipeline:update'),
             ('carol@acme.test', 'acme/prod', 'pipeline:update'),
             ('carol@acme.test', 'acme/staging', 'pipeline:update'),
             ('erin@acme.test', 'acme/prod', 'pipeline:read'),
             ('alice@acme.test', 'acme/staging', 'model:delete'),
             ('alice@acme.test', 'globex/main', 'pipeline:read'),
             ('gina@globex.test', 'acme/prod', 'pipeline:read')) AS q(email, tenant, permission)
JOIN who w ON w.email = q.email
JOIN tenant t ON t.name = q.tenant
ORDER BY 1, 2, 3;

\echo '3. Carol leaves the ML Platform team; the decision changes in the same transaction:'
BEGIN;
SELECT remove_team_member(tm.id, w.id)
FROM teams tm, who w WHERE tm.name = 'ML Platform' AND w.email = 'carol@acme.test' \g /dev/null
SELECT w.email, t.name AS tenant, permissions(w.id, t.id) AS permissions
FROM who w CROSS JOIN tenant t
WHERE w.email = 'carol@acme.test' AND t.name LIKE 'acme/%'
ORDER BY 2;
ROLLBACK;

\echo '4. The protected table pipelines, as the application role demo_app:'
SELECT (SELECT id FROM who WHERE email = 'bob@acme.test') AS bob,
       (SELECT id FROM who WHERE email = 'erin@acme.test') AS erin,
       (SELECT id FROM who WHERE email = 'gina@globex.test') AS gina,
       (SELECT id FROM tenant WHERE name = 'acme/staging') AS staging \gset
SET ROLE demo_app;
\echo '   without a context:'
SELECT count(*) AS rows_visible FROM pipelines;
BEGIN;
SELECT tenancy.set_context(:'bob') \g /dev/null
\echo '   as bob (editor of acme/prod; alice shared one staging pipeline with him):'
SELECT name FROM pipelines ORDER BY name;
\echo '   bob updates what he owns, not the rest (an editor updates its own rows):'
UPDATE pipelines SET name = name RETURNING name;
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'gina') \g /dev/null
\echo '   as gina (admin of globex):'
SELECT name FROM pipelines ORDER BY name;
COMMIT;
BEGIN;
SELECT tenancy.set_context(:'erin') \g /dev/null
\echo '   as erin (viewer of the acme organization, no tenant role):'
SELECT count(*) AS rows_visible FROM pipelines;
COMMIT;
\echo '   bob writing into acme/staging, where he holds nothing:'
BEGIN;
SELECT tenancy.set_context(:'bob') \g /dev/null
\set ON_ERROR_STOP 0
\set SHOW_CONTEXT never
INSERT INTO pipelines (tenant_id, name) VALUES (:'staging', 'sneaky');
ROLLBACK;
RESET ROLE;

\echo '5. The last admin cannot be removed:'
SELECT remove_member(o.id, w.id) FROM organizations o, who w
WHERE o.slug = 'acme' AND w.email = 'alice@acme.test';

\echo '6. Why may bob read the staging experiment, and who may update pipelines on acme/prod?'
SELECT e.path, e.role, e.shared_resource
FROM pipelines p, explain(:'bob', p.tenant_id, 'pipeline:read', p.id::text, p.owner_id) e
WHERE p.name = 'new-feature experiment';
SELECT w.email, h.via, h.role
FROM permission_holders((SELECT id FROM tenant WHERE name = 'acme/prod'), 'pipeline:update') h
JOIN who w ON w.id = h.user_id
ORDER BY 1, 2;
