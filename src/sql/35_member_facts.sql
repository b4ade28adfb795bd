-- ---------------------------------------------------------------------------
-- What a resolution needs to know about a member, in one index entry.
-- ---------------------------------------------------------------------------
-- After the tenant's organization, a cache miss asks about the member:
-- whether the membership exists and has not expired, its role, whether the
-- user is active, and which of the organization's teams they are in.  Those
-- live in three tables, three B-tree descents into indexes that on a large
-- hierarchy are not in the CPU's caches.  This table holds the same facts,
-- one row per membership, kept by the triggers below in the transaction
-- that changes the rows they come from, and its primary key carries them
-- all: one descent, read without the heap once VACUUM has marked the page
-- all-visible.
--
-- Nothing writes it but those triggers.  pg_dump leaves it out; a restore
-- fills it again as the rows it derives from come back, in whatever order.
-- A load with triggers disabled (session_replication_role = replica,
-- pg_restore --disable-triggers) must call tenancy.rebuild_member_facts().
CREATE TABLE tenancy._member_facts (
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    role_id     uuid NOT NULL,
    expires_at  timestamptz,
    active      boolean NOT NULL,
    -- The member's teams in the organization, sorted; NULL when there are
    -- more than 32 of them, to keep the index entry small (resolution then
    -- reads team_members).
    teams       uuid[],
    PRIMARY KEY (org_id, user_id) INCLUDE (role_id, expires_at, active, teams),
    FOREIGN KEY (org_id, user_id) REFERENCES tenancy.memberships (org_id, user_id)
        ON DELETE CASCADE ON UPDATE CASCADE
);
COMMENT ON TABLE tenancy._member_facts IS
    'Derived: each membership with its user''s activation and its teams, for resolution; kept by triggers.';

-- VOLATILE: read with a snapshot of its own statement (see below).
CREATE FUNCTION tenancy._member_teams(p_org uuid, p_user uuid) RETURNS uuid[]
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN count(*) > 32 THEN NULL
                ELSE coalesce(array_agg(tm.team_id ORDER BY tm.team_id), '{}') END
    FROM tenancy.team_members tm
    WHERE tm.org_id = p_org AND tm.user_id = p_user
$$;

-- Concurrency: each write recomputes from a statement of its own, after a
-- lock that orders it after any concurrent writer of the same facts, so that
-- under READ COMMITTED the recomputation sees what the other one committed
-- (under REPEATABLE READ the second writer gets a serialization failure).
-- The user's row is read FOR SHARE, which waits for a concurrent
-- (de)activation and makes a later one wait for this transaction.
CREATE FUNCTION tenancy._member_facts_sync() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    user_active boolean;
BEGIN
    IF TG_TABLE_NAME = 'memberships' THEN
        IF TG_OP = 'UPDATE' AND OLD.org_id = NEW.org_id AND OLD.user_id = NEW.user_id THEN
            UPDATE tenancy._member_facts f
            SET role_id = NEW.role_id, expires_at = NEW.expires_at
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id;
            RETURN NULL;
        END IF;
        -- A new membership, or one given to another user or organization
        -- (the foreign key has carried the row's key along): everything
        -- again.  A user restored after their memberships counts as
        -- inactive until their row arrives (see the users branch).
        SELECT u.active INTO user_active FROM tenancy.users u
        WHERE u.id = NEW.user_id FOR SHARE;
        IF TG_OP = 'INSERT' THEN
            -- No team row can name a membership before it exists.
            INSERT INTO tenancy._member_facts (org_id, user_id, role_id, expires_at, active, teams)
            VALUES (NEW.org_id, NEW.user_id, NEW.role_id, NEW.expires_at,
                    coalesce(user_active, false), '{}');
        ELSE
            PERFORM FROM tenancy._member_facts f
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id FOR UPDATE;
            UPDATE tenancy._member_facts f
            SET role_id = NEW.role_id, expires_at = NEW.expires_at,
                active = coalesce(user_active, false),
                teams = tenancy._member_teams(NEW.org_id, NEW.user_id)
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id;
        END IF;
    ELSIF TG_TABLE_NAME = 'users' THEN
        UPDATE tenancy._member_facts f
        SET active = NEW.active
        FROM tenancy.memberships m
        WHERE m.user_id = NEW.id
          AND f.org_id = m.org_id AND f.user_id = m.user_id
          AND f.active IS DISTINCT FROM NEW.active;
    ELSE
        -- team_members: the member before the change and after it.  A row
        -- going with its membership (a cascade) leaves nothing to update.
        IF TG_OP <> 'INSERT' THEN
            PERFORM FROM tenancy._member_facts f
            WHERE f.org_id = OLD.org_id AND f.user_id = OLD.user_id FOR UPDATE;
            UPDATE tenancy._member_facts f
            SET teams = tenancy._member_teams(OLD.org_id, OLD.user_id)
            WHERE f.org_id = OLD.org_id AND f.user_id = OLD.user_id
              AND EXISTS (SELECT FROM tenancy.memberships m
                          WHERE m.org_id = OLD.org_id AND m.user_id = OLD.user_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM FROM tenancy._member_facts f
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id FOR UPDATE;
            UPDATE tenancy._member_facts f
            SET teams = tenancy._member_teams(NEW.org_id, NEW.user_id)
            WHERE f.org_id = NEW.org_id AND f.user_id = NEW.user_id;
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER member_facts_sync
    AFTER INSERT OR UPDATE OF org_id, user_id, role_id, expires_at ON tenancy.memberships
    FOR EACH ROW EXECUTE FUNCTION tenancy._member_facts_sync();
CREATE TRIGGER member_facts_sync
    AFTER INSERT OR UPDATE OF active ON tenancy.users
    FOR EACH ROW EXECUTE FUNCTION tenancy._member_facts_sync();
CREATE TRIGGER member_facts_sync
    AFTER INSERT OR UPDATE OR DELETE ON tenancy.team_members
    FOR EACH ROW EXECUTE FUNCTION tenancy._member_facts_sync();

CREATE FUNCTION tenancy.rebuild_member_facts() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE tenancy.memberships, tenancy.users, tenancy.team_members IN SHARE MODE;
    -- TRUNCATE, so that every backend's cached decisions are dropped too
    -- (80_cache.sql): they may have been made from the facts replaced here.
    TRUNCATE tenancy._member_facts;
    INSERT INTO tenancy._member_facts (org_id, user_id, role_id, expires_at, active, teams)
    SELECT m.org_id, m.user_id, m.role_id, m.expires_at, u.active,
           CASE WHEN t.n > 32 THEN NULL ELSE coalesce(t.teams, '{}') END
    FROM tenancy.memberships m
    JOIN tenancy.users u ON u.id = m.user_id
    LEFT JOIN (SELECT tm.org_id, tm.user_id, count(*) AS n,
                      array_agg(tm.team_id ORDER BY tm.team_id) AS teams
               FROM tenancy.team_members tm GROUP BY tm.org_id, tm.user_id) t
           ON t.org_id = m.org_id AND t.user_id = m.user_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION tenancy.rebuild_member_facts() IS
    'Rebuilds the derived member facts resolution reads, after a load that ran with triggers disabled; returns the rows written.';

-- TRUNCATE fires no row trigger.
CREATE FUNCTION tenancy._member_facts_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE tenancy._member_facts SET teams = '{}' WHERE teams IS DISTINCT FROM '{}';
    RETURN NULL;
END
$$;
CREATE TRIGGER member_facts_truncate
    AFTER TRUNCATE ON tenancy.team_members
    FOR EACH STATEMENT EXECUTE FUNCTION tenancy._member_facts_truncate();
