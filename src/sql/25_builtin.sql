-- ---------------------------------------------------------------------------
-- Built-in actions, resource types and roles.
--
-- The organization-level resource types name what organization roles manage;
-- application tables register their own types (tenancy.register_resource_type,
-- and later tenancy.protect).  The built-in role ids are fixed: they are part
-- of the on-disk contract (pg_dump carries custom rows only) and
-- src/resolve.c knows the organization admin's id.
-- ---------------------------------------------------------------------------

INSERT INTO tenancy.actions (name, builtin, description) VALUES
    ('create', true, 'Create a resource.'),
    ('read',   true, 'Read a resource.'),
    ('update', true, 'Change a resource.'),
    ('delete', true, 'Delete a resource.'),
    ('share',  true, 'Share a resource with another user or team.');

INSERT INTO tenancy.resource_types (name, builtin, description) VALUES
    ('organization', true, 'The organization itself.'),
    ('tenant',       true, 'The organization''s tenants.'),
    ('team',         true, 'The organization''s teams.'),
    ('member',       true, 'The organization''s members.'),
    ('role',         true, 'The organization''s custom roles.'),
    ('assignment',   true, 'Role assignments in the organization.'),
    ('invitation',   true, 'Invitations to the organization.');

INSERT INTO tenancy.roles (id, org_id, name, scope, permissions, description) VALUES
    ('00000000-0000-0000-0001-000000000001', NULL, 'admin', 'organization',
     '{*:*}',
     'Everything in the organization; tenant admin on every tenant.'),
    ('00000000-0000-0000-0001-000000000002', NULL, 'manager', 'organization',
     '{organization:read,tenant:*,team:*,member:*,assignment:*,invitation:*,role:read}',
     'Creates and manages tenants, teams, members and invitations, but not admins; no tenant data by itself.'),
    ('00000000-0000-0000-0001-000000000003', NULL, 'viewer', 'organization',
     '{organization:read,tenant:read,team:read,member:read,role:read,assignment:read}',
     'Reads the organization''s structure and lists every tenant; no tenant data by itself.'),
    ('00000000-0000-0000-0001-000000000004', NULL, 'member', 'organization',
     '{organization:read}',
     'Minimal: sees only the tenants granted to it.'),
    ('00000000-0000-0000-0002-000000000001', NULL, 'admin', 'tenant',
     '{*:*}',
     'Every action on every resource type in the tenant, and its assignments.'),
    ('00000000-0000-0000-0002-000000000002', NULL, 'editor', 'tenant',
     '{*:create,*:read,*:share}',
     'Creates, reads and shares; updates and deletes only what it owns.'),
    ('00000000-0000-0000-0002-000000000003', NULL, 'viewer', 'tenant',
     '{*:read}',
     'Reads.');
