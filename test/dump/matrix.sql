-- Every decision of the sample hierarchy, in a stable order, by name.
SELECT u.email, o.slug AS org, t.slug AS tenant, p.perm,
       tenancy.has_permission(u.id, t.id, p.perm) AS allowed,
       tenancy.permissions(u.id, t.id)::text AS permset
FROM tenancy.users u
CROSS JOIN tenancy.tenants t
JOIN tenancy.organizations o ON o.id = t.org_id
CROSS JOIN (VALUES ('pipeline:read'), ('pipeline:update'), ('pipeline:delete'),
                   ('model:promote'), ('*:read'), ('tenant:read')) AS p(perm)
ORDER BY 1, 2, 3, 4;
