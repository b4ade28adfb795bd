--
-- Invalidation by organization and user: a change in one organization
-- leaves the decisions cached for another organization's users in place,
-- and a change that names a user drops theirs, wherever it is made.  Counted
-- in one session (the change's invalidation is applied at its next command).
--
CREATE EXTENSION pg_tenancy;
SELECT tenancy.register_resource_type('doc');
SELECT tenancy.create_user('admin@scope.test') AS admin \gset
SELECT tenancy.create_user('bob@scope.test') AS bob \gset
-- Carol: the first of a few users whose bucket is not bob's (ids are random,
-- and one in 64 pairs would share a bucket).
SELECT id AS carol FROM (
    SELECT tenancy.create_user('carol' || g || '@scope.test') AS id, g FROM generate_series(1, 4) g) c
WHERE tenancy._cache_bucket(id) <> tenancy._cache_bucket(:'bob')
ORDER BY g LIMIT 1 \gset
SELECT count(tenancy.create_organization('o' || g, admin => :'admin')) AS orgs FROM generate_series(1, 12) g;
-- Two organizations whose buckets differ from each other's and from bob's
-- and carol's (a change names one of 64 buckets).
SELECT id AS a FROM tenancy.organizations
WHERE tenancy._cache_bucket(id) NOT IN (tenancy._cache_bucket(:'bob'), tenancy._cache_bucket(:'carol'))
ORDER BY slug LIMIT 1 \gset
SELECT id AS b FROM tenancy.organizations
WHERE tenancy._cache_bucket(id) NOT IN (tenancy._cache_bucket(:'bob'), tenancy._cache_bucket(:'carol'),
                                        tenancy._cache_bucket(:'a'))
ORDER BY slug LIMIT 1 \gset
SELECT tenancy.create_tenant(:'a', 'ta') AS ta \gset
SELECT tenancy.create_tenant(:'b', 'tb') AS tb \gset
SELECT tenancy.add_member(:'a', :'bob');
SELECT tenancy.add_member(:'b', :'carol');
SELECT tenancy.assign_role('viewer', tenant => :'ta', user_id => :'bob') IS NOT NULL AS bob_views_ta;
SELECT tenancy.assign_role('viewer', tenant => :'tb', user_id => :'carol') IS NOT NULL AS carol_views_tb;

CREATE FUNCTION check_both(OUT bob boolean, OUT carol boolean, OUT new_misses bigint)
LANGUAGE plpgsql AS $$
DECLARE
    before bigint := (SELECT misses FROM tenancy.cache_stats());
BEGIN
    bob := tenancy.has_permission((SELECT id FROM tenancy.users WHERE email = 'bob@scope.test'),
                                  (SELECT id FROM tenancy.tenants WHERE slug = 'ta'), 'doc:read');
    carol := tenancy.has_permission((SELECT u.id FROM tenancy.users u
                                     JOIN tenancy.memberships m ON m.user_id = u.id
                                     WHERE u.email LIKE 'carol%@scope.test'),
                                    (SELECT id FROM tenancy.tenants WHERE slug = 'tb'), 'doc:read');
    new_misses := (SELECT misses FROM tenancy.cache_stats()) - before;
END
$$;

SELECT tenancy.cache_reset();
SELECT bob, carol FROM check_both();
SELECT * FROM check_both();                     -- both cached
-- Changes in organization b: only carol's entry goes.
SELECT tenancy.revoke_role('viewer', tenant => :'tb', user_id => :'carol');
SELECT * FROM check_both();
SELECT tenancy.create_tenant(:'b', 'tb2') IS NOT NULL AS created;
SELECT * FROM check_both();
-- Changes that name bob: his entry goes (and carol's when b is named too).
SELECT tenancy.add_member(:'b', :'bob');
SELECT * FROM check_both();
SELECT tenancy.deactivate_user(:'bob');
SELECT * FROM check_both();
SELECT tenancy.reactivate_user(:'bob');
SELECT * FROM check_both();
-- A registry change empties everything (the role bob holds is read again too).
SELECT tenancy.register_action('approve');
SELECT * FROM check_both();

DROP FUNCTION check_both();
DROP EXTENSION pg_tenancy;
