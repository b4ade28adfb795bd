-- test/upgrade/rows.sql — writes a psql script that shows, for every user,
-- with no current tenant and with each tenant of their organizations as the
-- current one, which rows of each protected table (and partition) the
-- application role sees.  run.sh runs what it writes.
\pset format unaligned
\pset tuples_only on
\pset pager off
WITH ctx AS (
    SELECT u.id AS uid, u.email, NULL::uuid AS tid, '-' AS tname
    FROM tenancy.users u
    UNION ALL
    SELECT u.id, u.email, t.id, o.slug || '/' || t.slug
    FROM tenancy.users u
    JOIN tenancy.memberships m ON m.user_id = u.id
    JOIN tenancy.tenants t ON t.org_id = m.org_id
    JOIN tenancy.organizations o ON o.id = t.org_id
),
tbl AS (
    SELECT * FROM (VALUES ('pipelines', 'name'), ('jobs', 'name'), ('jobs_p0', 'name'),
                          ('jobs_p1', 'name'), ('notes', 'body'), ('docs', 'title')) v(t, c)
)
SELECT format(E'BEGIN;\nSET LOCAL ROLE demo_app;\nSELECT tenancy.set_context(%L, %L) \\g /dev/null\n', c.uid, c.tid) ||
       string_agg(format('SELECT %L, %L, %L, coalesce(string_agg(%I, '','' ORDER BY %I), ''(none)'') FROM %I;',
                         c.email, c.tname, tbl.t, tbl.c, tbl.c, tbl.t), E'\n' ORDER BY tbl.t) ||
       E'\nCOMMIT;'
FROM ctx c, tbl
GROUP BY c.uid, c.email, c.tid, c.tname
ORDER BY c.email, c.tname;
