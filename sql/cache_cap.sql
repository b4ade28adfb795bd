--
-- The cache's cap: tenancy.cache_size bounds what the entries count, an
-- entry in use outlives the ones that are not, every answer stays right
-- while entries come and go, and 0 turns the cache off.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
SET search_path = tenancy, public;

SELECT register_resource_type('doc');
SELECT create_user('owner@cap.test') AS owner \gset
SELECT create_organization('cap', admin => :'owner') AS org \gset
CREATE TABLE cap_tenants AS
SELECT n, create_tenant(:'org', 't' || n) AS id FROM generate_series(1, 5) n;
CREATE TABLE cap_users AS
SELECT n, create_user('u' || n || '@cap.test') AS id FROM generate_series(1, 200) n;
SELECT count(add_member(:'org', id)) AS members FROM cap_users;
-- Each user views one tenant.
SELECT count(assign_role('viewer', tenant => t.id, user_id => u.id)) AS grants
FROM cap_users u JOIN cap_tenants t ON t.n = 1 + u.n % 5;

-- 1,000 permission sets, where 16 kB holds about a hundred.
SET tenancy.cache_size = '16kB';
SELECT cache_reset();
SELECT count(*) FILTER (WHERE has_permission(u.id, t.id, 'doc:read') <> (t.n = 1 + u.n % 5)) AS wrong,
       count(*) AS asked
FROM cap_users u, cap_tenants t;
SELECT bytes <= capacity AS under_cap, capacity, entries BETWEEN 1 AND 200 AS some_kept,
       evictions > 800 AS most_evicted
FROM cache_stats();
-- The same questions again, from what is left and what is read anew.
SELECT count(*) FILTER (WHERE has_permission(u.id, t.id, 'doc:read') <> (t.n = 1 + u.n % 5)) AS wrong
FROM cap_users u, cap_tenants t;
SELECT bytes <= capacity AS under_cap FROM cache_stats();

-- One question asked again and again, among a stream of new ones: it stays.
CREATE FUNCTION hot_misses() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    hot_user uuid := (SELECT id FROM cap_users WHERE n = 1);
    hot_tenant uuid := (SELECT id FROM cap_tenants WHERE n = 2);
    r record;
    before bigint;
    hot bigint := 0;
    i int := 0;
BEGIN
    PERFORM tenancy.cache_reset();
    PERFORM tenancy.has_permission(hot_user, hot_tenant, 'doc:read');
    FOR r IN SELECT u.id AS u, t.id AS t FROM cap_users u, cap_tenants t
             WHERE u.n > 1 ORDER BY t.n, u.n LOOP
        PERFORM tenancy.has_permission(r.u, r.t, 'doc:read');
        i := i + 1;
        IF i % 10 = 0 THEN
            before := (SELECT misses FROM tenancy.cache_stats());
            PERFORM tenancy.has_permission(hot_user, hot_tenant, 'doc:read');
            hot := hot + (SELECT misses FROM tenancy.cache_stats()) - before;
        END IF;
    END LOOP;
    RETURN hot;
END
$$;
SELECT hot_misses() AS hot_entry_misses, (SELECT evictions > 800 FROM cache_stats()) AS churned;

-- Off: nothing is kept, the answers are the same.
SET tenancy.cache_size = 0;
SELECT cache_reset();
SELECT count(*) FILTER (WHERE has_permission(u.id, t.id, 'doc:read') <> (t.n = 1 + u.n % 5)) AS wrong
FROM cap_users u, cap_tenants t;
SELECT entries, bytes FROM cache_stats();
RESET tenancy.cache_size;

DROP FUNCTION hot_misses();
DROP TABLE cap_users, cap_tenants;
DROP EXTENSION pg_tenancy;
