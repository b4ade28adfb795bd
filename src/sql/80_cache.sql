-- ---------------------------------------------------------------------------
-- The per-backend decision cache (src/cache.c).
-- ---------------------------------------------------------------------------

-- The relations whose relcache invalidations tell every backend (and every
-- hot standby, through the commit record) that decisions may have changed:
-- one for everything, and 64 buckets of organizations and users (a change
-- names the buckets of the organizations and users in its rows, and a
-- backend drops only the cached decisions that depend on one of them).  They
-- hold nothing.
CREATE VIEW tenancy._invalidation_channel AS SELECT NULL::integer AS nothing WHERE false;
COMMENT ON VIEW tenancy._invalidation_channel IS
    'Empty; its invalidations announce changes to every cached decision.';
DO $$
BEGIN
    FOR b IN 0..63 LOOP
        EXECUTE pg_catalog.format(
            'CREATE VIEW tenancy.%I AS SELECT NULL::integer AS nothing WHERE false',
            pg_catalog.format('_invalidation_channel_%s', pg_catalog.lpad(b::text, 2, '0')));
    END LOOP;
END
$$;

-- Arguments: the column naming the organization, and the one naming the
-- user ('' for none); none at all: every change is a change to everything.
CREATE FUNCTION tenancy._invalidate_cache() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'tenancy_invalidate_cache';

DO $$
DECLARE
    t record;
    e record;
    args text;
BEGIN
    FOR t IN SELECT * FROM (VALUES
            ('organizations', 'id', ''), ('tenants', 'org_id', ''), ('users', '', 'id'),
            ('memberships', 'org_id', 'user_id'), ('teams', 'org_id', ''),
            ('team_members', 'org_id', 'user_id'), ('roles', 'org_id', ''),
            ('role_assignments', 'org_id', 'user_id'), ('shares', 'org_id', 'user_id'))
            AS v(tbl, org_col, user_col)
    LOOP
        args := pg_catalog.format('%L, %L', t.org_col, t.user_col);
        -- One trigger per event, each reading the rows it changed.
        FOR e IN SELECT * FROM (VALUES
                ('insert', 'NEW TABLE AS new_rows'),
                ('update', 'OLD TABLE AS old_rows NEW TABLE AS new_rows'),
                ('delete', 'OLD TABLE AS old_rows'))
                AS v(event, transition)
        LOOP
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER %I AFTER %s ON tenancy.%I REFERENCING %s
                   FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache(%s)',
                'invalidate_cache_' || e.event, pg_catalog.upper(e.event), t.tbl,
                e.transition, args);
        END LOOP;
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON tenancy.%I
               FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache()', t.tbl);
    END LOOP;
    FOREACH args IN ARRAY ARRAY['actions', 'resource_types'] LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
               ON tenancy.%I FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache()', args);
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

-- Which of the 64 buckets an organization or user falls in (for tests).
CREATE FUNCTION tenancy._cache_bucket(id uuid) RETURNS integer
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'tenancy_cache_bucket_sql';

-- tenancy.rebuild_member_facts() empties the derived member facts with
-- TRUNCATE: decisions made from them are dropped everywhere.
CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON tenancy._member_facts
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache();
