-- test/upgrade/decisions.sql — every decision and lookup answer, by name:
-- run before and after ALTER EXTENSION pg_tenancy UPDATE, the outputs must
-- be the same.  The share of the unprotected "drafts" table is left out
-- (run.sh checks that the update drops it).
\pset format unaligned
\pset tuples_only on
\pset pager off
CREATE TEMP VIEW u AS SELECT id, email FROM tenancy.users;
CREATE TEMP VIEW t AS
    SELECT t.id, o.slug || '/' || t.slug AS name
    FROM tenancy.tenants t JOIN tenancy.organizations o ON o.id = t.org_id;

-- Tenant-wide: every user on every tenant.
SELECT 'permissions', u.email, t.name, tenancy.permissions(u.id, t.id)::text
FROM u, t ORDER BY 2, 3;
SELECT 'has_permission', u.email, t.name, p,
       tenancy.has_permission(u.id, t.id, p)
FROM u, t, unnest(ARRAY['pipeline:read', 'pipeline:update', 'job:delete',
                        'note:read', 'doc:create', 'model:promote']) p
ORDER BY 2, 3, 4;
SELECT 'tenants_with_permission', u.email, p,
       (SELECT string_agg(t.name, ',' ORDER BY t.name)
        FROM tenancy.tenants_with_permission(u.id, p) x JOIN t ON t.id = x)
FROM u, unnest(ARRAY['pipeline:read', 'job:update', 'note:read']) p
ORDER BY 2, 3;
SELECT 'permission_holders', t.name, p,
       (SELECT string_agg(u.email || ':' || h.via || ':' || coalesce(h.role, ''), ','
                          ORDER BY u.email, h.via, h.role)
        FROM tenancy.permission_holders(t.id, p) h JOIN u ON u.id = h.user_id)
FROM t, unnest(ARRAY['pipeline:read', 'doc:update']) p
ORDER BY 2, 3;

-- Resource-level: every user on every row of the tables with ids.
SELECT 'has_resource_permission', u.email, 'pipelines', r.name, a,
       tenancy.has_resource_permission(u.id, r.tenant_id, 'pipeline:' || a, r.id::text, r.owner_id)
FROM u, pipelines r, unnest(ARRAY['read', 'update', 'delete']) a
ORDER BY 2, 4, 5;
SELECT 'has_resource_permission', u.email, 'jobs', r.name, a,
       tenancy.has_resource_permission(u.id, r.tenant_id, 'job:' || a, r.id::text, r.owner_id)
FROM u, jobs r, unnest(ARRAY['read', 'update', 'delete']) a
ORDER BY 2, 4, 5;
SELECT 'has_resource_permission', u.email, 'docs', r.title, a,
       tenancy.has_resource_permission(u.id, r.tenant_id, 'doc:' || a, r.id::text, NULL)
FROM u, docs r, unnest(ARRAY['read', 'update']) a
ORDER BY 2, 4, 5;
SELECT 'shared_with', u.email, rt,
       (SELECT string_agg(s.resource_id || ':' || array_to_string(s.actions, '+'), ','
                          ORDER BY s.resource_id)
        FROM tenancy.shared_with(u.id, rt) s)
FROM u, unnest(ARRAY['pipeline', 'job', 'doc']) rt
ORDER BY 2, 3;

-- The data itself: every table pg_dump carries, users and shares without
-- their new columns, the audit log.
SELECT 'table', x.t, x.n, x.h FROM (
    SELECT 'organizations' t, count(*) n, md5(string_agg(r::text, ',' ORDER BY r::text)) h FROM tenancy.organizations r
    UNION ALL SELECT 'tenants', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.tenants r
    UNION ALL SELECT 'users', count(*), md5(string_agg(
                  row(r.id, r.email, r.display_name, r.kind, r.active, r.created_at)::text, ',' ORDER BY r.id))
              FROM tenancy.users r
    UNION ALL SELECT 'memberships', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.memberships r
    UNION ALL SELECT 'teams', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.teams r
    UNION ALL SELECT 'team_members', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.team_members r
    UNION ALL SELECT 'roles', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.roles r
    UNION ALL SELECT 'role_assignments', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.role_assignments r
    UNION ALL SELECT 'actions', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.actions r
    UNION ALL SELECT 'resource_types', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.resource_types r
    UNION ALL SELECT 'invitations', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.invitations r
    UNION ALL SELECT 'invitation_tenant_roles', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.invitation_tenant_roles r
    UNION ALL SELECT 'invitation_teams', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.invitation_teams r
    UNION ALL SELECT 'protected_tables', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.protected_tables r
    UNION ALL SELECT 'audit_log', count(*), md5(string_agg(r::text, ',' ORDER BY r::text)) FROM tenancy.audit_log r
    UNION ALL SELECT 'shares', count(*), md5(string_agg(
                  row(s.id, s.org_id, s.tenant_id, s.resource_type, s.resource_id, s.user_id,
                      s.team_id, s.actions, s.shared_by, s.created_at)::text, ',' ORDER BY s.id))
              FROM tenancy.shares s WHERE s.resource_type <> 'draft'
) x ORDER BY 2;
