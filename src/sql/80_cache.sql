-- ---------------------------------------------------------------------------
-- The per-backend decision cache (src/cache.c).
-- ---------------------------------------------------------------------------

-- The relation whose relcache invalidation tells every backend (and every
-- hot standby, through the commit record) that decisions may have changed.
-- It holds nothing.
CREATE VIEW tenancy._invalidation_channel AS SELECT NULL::integer AS nothing WHERE false;
COMMENT ON VIEW tenancy._invalidation_channel IS
    'Empty; its invalidations announce changes to the decision cache.';

CREATE FUNCTION tenancy._invalidate_cache() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'tenancy_invalidate_cache';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'tenants', 'users', 'memberships', 'teams',
                             'team_members', 'roles', 'role_assignments', 'shares',
                             'actions', 'resource_types']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
               ON tenancy.%I FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache()', t);
    END LOOP;
END
$$;

CREATE FUNCTION tenancy.cache_stats(
    OUT entries bigint, OUT bytes bigint, OUT capacity bigint, OUT memory bigint,
    OUT hits bigint, OUT misses bigint, OUT evictions bigint, OUT invalidations bigint)
RETURNS record
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_cache_stats';
COMMENT ON FUNCTION tenancy.cache_stats() IS
    'This backend''s decision cache: entries, bytes counted against the cap, the cap, memory held, hits, misses, evictions, invalidations.';

CREATE FUNCTION tenancy.cache_reset() RETURNS void
LANGUAGE C VOLATILE PARALLEL RESTRICTED
AS 'MODULE_PATHNAME', 'tenancy_cache_reset';
COMMENT ON FUNCTION tenancy.cache_reset() IS
    'Empties this backend''s decision cache and zeroes its counters.';
