-- ---------------------------------------------------------------------------
-- Model-based test of permission resolution (SPEC section 4): tenant-wide
-- permissions (points 1 to 3), and on single resources ownership and shares.
--
-- A seeded random walk performs a few thousand operations on the hierarchy
-- through the management functions (and, for expiry, direct UPDATEs of
-- expires_at), invalid ones included; their errors are caught and counted.
-- After every batch of operations, tenancy.has_permission() is compared with
-- the plain-SQL reference tenancy_ref.has_permission() (reference.sql) on
-- every (user, tenant, permission) triple, and tenancy.permissions() with the
-- reference's patterns on every (user, tenant) pair.  On resources (rows of
-- a table protected with owner and id columns, m_docs, whose rows are
-- created, moved, re-owned, shared and unshared by the walk):
-- has_resource_permission() against tenancy_ref.has_resource_permission() on
-- every (user, row, action), the rows the protected table returns to every
-- user, with and without a current tenant, for SELECT, UPDATE and DELETE,
-- and the lookups (tenants_with_permission, permission_holders, shared_with,
-- explain) against the same reference answers.
--
-- Notes
--   * Deterministic: setseed() below, and every random choice is made from a
--     list in a fixed order (never by uuid).
--   * Expiry is exercised three ways: grants with an expiry 20 ms ahead
--     (accepted, elapsed by the next checkpoint: answers change over time),
--     direct UPDATEs of expires_at to the past, and, at each checkpoint, a
--     few grants set to expire exactly at the comparing statement's start
--     (expired, since expiry means expires_at <= statement_timestamp()).
--   * 32 resource types with long random names exist only to give the role
--     "wide" a permission set stored out of line (TOAST); of those, the
--     permission list asks "read" on each and every action on two.
--   * Expect about a minute; the reference (plain SQL) is the slow side.
--
-- Run:  pg_prove -d DB test/model/model.sql   (DB has CREATE EXTENSION pgtap)
-- ---------------------------------------------------------------------------
\ir ../pgtap/psql.psql

BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION pg_tenancy;
\ir reference.sql

SELECT plan(65);
SELECT setseed(0.20240607);

-- Bookkeeping ----------------------------------------------------------------

CREATE TEMP SEQUENCE m_names;
CREATE TEMP TABLE m_log (
    n        serial PRIMARY KEY,
    batch    int,
    op       text,
    outcome  text,          -- ok, noop (nothing to do / returned false), error
    sqlstate text,
    msg      text
);
-- Answers at each checkpoint.
CREATE TEMP TABLE m_answers (
    cp int, user_id uuid, tenant uuid, perm text, email text, tslug text,
    ext boolean, ref boolean
);
CREATE TEMP TABLE m_sets (
    cp int, user_id uuid, tenant uuid, email text, tslug text,
    ext text, ref text
);
CREATE TEMP TABLE m_coverage (cp int, what text, n bigint);
-- Resource-level answers (every user, row, action) and rows returned.
CREATE TEMP TABLE m_res (
    cp int, user_id uuid, doc int, tenant uuid, action text, email text,
    ext boolean, ref boolean
);
CREATE TEMP TABLE m_rows (
    cp int, user_id uuid, tenant uuid, command text, email text,
    ext int[], ref int[]
);
CREATE TEMP TABLE m_lookups (cp int, what text, args text, ext text, ref text);
CREATE INDEX ON m_res (cp, user_id, doc, action);
CREATE INDEX ON m_answers (cp, user_id, perm);
CREATE INDEX ON m_answers (cp, tenant, perm);
CREATE TEMP TABLE m_state (k text PRIMARY KEY, v text);
INSERT INTO m_state VALUES ('batch', '0');

-- Random helpers (all randomness comes from random(), seeded above, and
-- every choice is made from a deterministically ordered list).
CREATE FUNCTION pg_temp.chance(p float8) RETURNS boolean
LANGUAGE sql VOLATILE AS $$ SELECT random() < p $$;

CREATE FUNCTION pg_temp.pick_text(xs text[]) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN cardinality(xs) > 0
                THEN xs[1 + floor(random() * cardinality(xs))::int] END
$$;

-- One element of the result of an ordered query returning one text column.
CREATE FUNCTION pg_temp.pick(q text, a uuid DEFAULT NULL, b text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    xs text[];
BEGIN
    EXECUTE format('SELECT array(%s)', q) INTO xs USING a, b;
    RETURN pg_temp.pick_text(xs);
END
$$;

CREATE FUNCTION pg_temp.r_user() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick('SELECT id::text FROM tenancy.users ORDER BY lower(email)')::uuid
$$;
CREATE FUNCTION pg_temp.r_org() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick('SELECT id::text FROM tenancy.organizations ORDER BY slug')::uuid
$$;
CREATE FUNCTION pg_temp.r_tenant() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick('SELECT t.id::text FROM tenancy.tenants t
                         JOIN tenancy.organizations o ON o.id = t.org_id
                         ORDER BY o.slug, t.slug')::uuid
$$;
CREATE FUNCTION pg_temp.r_team() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick('SELECT t.id::text FROM tenancy.teams t
                         JOIN tenancy.organizations o ON o.id = t.org_id
                         ORDER BY o.slug, t.name')::uuid
$$;
-- A member of org (mostly), or any user (sometimes: often an invalid choice).
CREATE FUNCTION pg_temp.r_member(org uuid, p_member float8 DEFAULT 0.9) RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN pg_temp.chance(p_member)
                THEN coalesce(pg_temp.pick('SELECT u.id::text FROM tenancy.memberships m
                                            JOIN tenancy.users u ON u.id = m.user_id
                                            WHERE m.org_id = $1 ORDER BY lower(u.email)', org)::uuid,
                              pg_temp.r_user())
                ELSE pg_temp.r_user() END
$$;
-- The name of a custom role of org with the given scope, or NULL.
CREATE FUNCTION pg_temp.r_custom_role(org uuid, scope text) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick('SELECT name FROM tenancy.roles
                         WHERE org_id = $1 AND scope = $2 ORDER BY name', org, scope)
$$;
-- (For alter_role and drop_role: "owner_like" and "wide" stay as created.)
CREATE FUNCTION pg_temp.r_custom_role_id() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT pg_temp.pick('SELECT r.id::text FROM tenancy.roles r
                         JOIN tenancy.organizations o ON o.id = r.org_id
                         WHERE r.name NOT IN (''owner_like'', ''wide'')
                         ORDER BY o.slug, r.scope, r.name')::uuid
$$;
-- An expiry for a grant: mostly none, some far in the future, some that
-- elapse before the next checkpoint, a few in the past (refused).
CREATE FUNCTION pg_temp.r_expiry() RETURNS timestamptz
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    x float8 := random();
BEGIN
    IF x < 0.65 THEN RETURN NULL;
    ELSIF x < 0.83 THEN RETURN statement_timestamp() + interval '1 day';
    ELSIF x < 0.96 THEN RETURN statement_timestamp() + interval '20 milliseconds';
    ELSE RETURN statement_timestamp() - interval '1 hour';
    END IF;
END
$$;
-- A tenant role name as seen from org: built-in, custom, or a wrong one.
CREATE FUNCTION pg_temp.r_tenant_role(org uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    x float8 := random();
BEGIN
    IF x < 0.08 THEN RETURN 'admin';
    ELSIF x < 0.32 THEN RETURN 'editor';
    ELSIF x < 0.50 THEN RETURN 'viewer';
    ELSIF x < 0.94 THEN RETURN coalesce(pg_temp.r_custom_role(org, 'tenant'), 'viewer');
    ELSIF x < 0.97 THEN  -- a custom role of another organization
        RETURN coalesce(pg_temp.pick('SELECT name FROM tenancy.roles WHERE org_id <> $1
                                      AND scope = ''tenant'' ORDER BY name', org), 'nosuch');
    ELSE RETURN 'manager';  -- an organization role
    END IF;
END
$$;
CREATE FUNCTION pg_temp.r_org_role(org uuid) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    x float8 := random();
BEGIN
    IF x < 0.06 THEN RETURN 'admin';
    ELSIF x < 0.11 THEN RETURN 'owner_like';   -- custom, '{*:*}' at first, not admin
    ELSIF x < 0.25 THEN RETURN 'manager';
    ELSIF x < 0.40 THEN RETURN 'viewer';
    ELSIF x < 0.72 THEN RETURN 'member';
    ELSIF x < 0.97 THEN RETURN coalesce(pg_temp.r_custom_role(org, 'organization'), 'member');
    ELSE RETURN 'editor';  -- a tenant role: refused
    END IF;
END
$$;
-- A random permission set over registered names (rarely an unregistered one).
CREATE FUNCTION pg_temp.r_permset() RETURNS tenancy.permset
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := 1 + floor(random() * 4)::int;
    parts text[] := '{}';
    t text;
    a text;
BEGIN
    FOR i IN 1..n LOOP
        t := CASE WHEN pg_temp.chance(0.2) THEN '*'
                  ELSE pg_temp.pick_text('{pipeline,pipeline,model,model,tenant,team,member}') END;
        a := CASE WHEN pg_temp.chance(0.15) THEN '*'
                  ELSE pg_temp.pick_text('{create,read,update,delete,share,promote}') END;
        IF t = '*' AND a = '*' AND pg_temp.chance(0.7) THEN
            a := 'read';
        END IF;
        parts := parts || (t || ':' || a);
    END LOOP;
    IF pg_temp.chance(0.03) THEN
        parts := parts || 'nosuchtype:read'::text;
    END IF;
    RETURN ('{' || array_to_string(parts, ',') || '}')::tenancy.permset;
END
$$;

-- Actions to share: one to three, sometimes one not held by the sharer.
CREATE FUNCTION pg_temp.r_actions() RETURNS text[]
LANGUAGE sql VOLATILE AS $$
    SELECT array_agg(DISTINCT pg_temp.pick_text('{read,read,update,delete,share,promote}'))
    FROM generate_series(1, 1 + floor(random() * 3)::int)
$$;

-- One operation --------------------------------------------------------------

CREATE FUNCTION pg_temp.m_do(op text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n bigint := nextval('m_names');
    org uuid; usr uuid; tnt uuid; tm uuid; rid uuid;
    rname text; k text; done boolean;
    x float8;
BEGIN
    CASE op
    WHEN 'create_user' THEN
        x := random();
        IF x < 0.05 THEN      -- duplicate address, other case
            usr := pg_temp.r_user();
            PERFORM tenancy.create_user(upper((SELECT email FROM tenancy.users WHERE id = usr)));
        ELSIF x < 0.08 THEN
            PERFORM tenancy.create_user('not an address');
        ELSIF x < 0.10 THEN
            PERFORM tenancy.create_user('u' || n || '@example.test', NULL, 'robot');
        ELSE
            PERFORM tenancy.create_user('u' || n || '@example.test', 'User ' || n,
                CASE WHEN pg_temp.chance(0.15) THEN 'service_account' ELSE 'user' END);
        END IF;
    WHEN 'delete_user' THEN
        PERFORM tenancy.delete_user(pg_temp.r_user());
    WHEN 'create_org' THEN
        PERFORM tenancy.create_organization(
            CASE WHEN pg_temp.chance(0.2) THEN 'org-1' ELSE 'org-' || n END,
            NULL, pg_temp.r_user());
    WHEN 'delete_org' THEN
        PERFORM tenancy.delete_organization(
            pg_temp.pick('SELECT id::text FROM tenancy.organizations
                          WHERE slug NOT IN (''org-1'', ''org-2'') ORDER BY slug')::uuid);
    WHEN 'create_tenant' THEN
        x := random();
        org := pg_temp.r_org();
        PERFORM tenancy.create_tenant(org,
            CASE WHEN x < 0.06 THEN (SELECT slug FROM tenancy.tenants WHERE org_id = org ORDER BY slug LIMIT 1)
                 WHEN x < 0.09 THEN 'Bad_Slug'
                 ELSE 't' || n END);
    WHEN 'delete_tenant' THEN
        PERFORM tenancy.delete_tenant(pg_temp.r_tenant());
    WHEN 'create_team' THEN
        x := random();
        org := pg_temp.r_org();
        PERFORM tenancy.create_team(org,
            CASE WHEN x < 0.08 THEN (SELECT name FROM tenancy.teams WHERE org_id = org ORDER BY name LIMIT 1)
                 WHEN x < 0.10 THEN '   '
                 ELSE 'team ' || n END);
    WHEN 'delete_team' THEN
        PERFORM tenancy.delete_team(pg_temp.r_team());
    WHEN 'add_member' THEN
        org := pg_temp.r_org();
        usr := CASE WHEN pg_temp.chance(0.8)   -- mostly someone who is not a member yet
                    THEN pg_temp.pick('SELECT id::text FROM tenancy.users u
                                       WHERE NOT EXISTS (SELECT 1 FROM tenancy.memberships m
                                                         WHERE m.org_id = $1 AND m.user_id = u.id)
                                       ORDER BY lower(email)', org)::uuid
               END;
        PERFORM tenancy.add_member(org, coalesce(usr, pg_temp.r_user()), pg_temp.r_org_role(org),
                                   pg_temp.r_expiry());
    WHEN 'set_member_role' THEN
        org := pg_temp.r_org();
        PERFORM tenancy.set_member_role(org, pg_temp.r_member(org), pg_temp.r_org_role(org),
                                        pg_temp.r_expiry());
    WHEN 'remove_member' THEN
        org := pg_temp.r_org();
        PERFORM tenancy.remove_member(org, pg_temp.r_member(org));
    WHEN 'add_team_member' THEN
        tm := pg_temp.r_team();
        PERFORM tenancy.add_team_member(tm,
            pg_temp.r_member((SELECT org_id FROM tenancy.teams WHERE id = tm), 0.85));
    WHEN 'remove_team_member' THEN
        tm := pg_temp.r_team();
        usr := CASE WHEN pg_temp.chance(0.85)
                    THEN pg_temp.pick('SELECT tm.user_id::text FROM tenancy.team_members tm
                                       JOIN tenancy.users u ON u.id = tm.user_id
                                       WHERE tm.team_id = $1 ORDER BY lower(u.email)', tm)::uuid
                    END;
        PERFORM tenancy.remove_team_member(tm, coalesce(usr, pg_temp.r_user()));
    WHEN 'assign_user' THEN
        tnt := pg_temp.r_tenant();
        org := (SELECT org_id FROM tenancy.tenants WHERE id = tnt);
        PERFORM tenancy.assign_role(pg_temp.r_tenant_role(org), tenant => tnt,
                                    user_id => pg_temp.r_member(org, 0.93),
                                    expires_at => pg_temp.r_expiry());
    WHEN 'assign_team' THEN
        tnt := pg_temp.r_tenant();
        org := (SELECT org_id FROM tenancy.tenants WHERE id = tnt);
        tm := CASE WHEN pg_temp.chance(0.93)
                   THEN pg_temp.pick('SELECT id::text FROM tenancy.teams WHERE org_id = $1 ORDER BY name', org)::uuid
                   ELSE pg_temp.r_team() END;   -- maybe another organization's team
        PERFORM tenancy.assign_role(pg_temp.r_tenant_role(org), tenant => tnt, team_id => tm,
                                    expires_at => pg_temp.r_expiry());
    WHEN 'revoke_tenant_role' THEN
        k := pg_temp.pick($q$
            SELECT concat_ws('|', r.name, ra.tenant_id, coalesce(ra.user_id::text, ''),
                             coalesce(ra.team_id::text, ''))
            FROM tenancy.role_assignments ra
            JOIN tenancy.roles r ON r.id = ra.role_id
            JOIN tenancy.tenants t ON t.id = ra.tenant_id
            JOIN tenancy.organizations o ON o.id = ra.org_id
            LEFT JOIN tenancy.users u ON u.id = ra.user_id
            LEFT JOIN tenancy.teams tm ON tm.id = ra.team_id
            ORDER BY o.slug, t.slug, r.name, lower(u.email), tm.name $q$);
        IF k IS NULL OR pg_temp.chance(0.1) THEN   -- something not assigned
            tnt := pg_temp.r_tenant();
            org := (SELECT org_id FROM tenancy.tenants WHERE id = tnt);
            done := tenancy.revoke_role(pg_temp.r_tenant_role(org), tenant => tnt,
                                        user_id => pg_temp.r_member(org));
        ELSIF split_part(k, '|', 3) = '' THEN
            done := tenancy.revoke_role(split_part(k, '|', 1), tenant => split_part(k, '|', 2)::uuid,
                                        team_id => split_part(k, '|', 4)::uuid);
        ELSE
            done := tenancy.revoke_role(split_part(k, '|', 1), tenant => split_part(k, '|', 2)::uuid,
                                        user_id => split_part(k, '|', 3)::uuid);
        END IF;
        IF NOT done THEN RETURN 'noop'; END IF;
    WHEN 'assign_team_org' THEN
        tm := pg_temp.r_team();
        org := (SELECT org_id FROM tenancy.teams WHERE id = tm);
        PERFORM tenancy.assign_role(CASE WHEN pg_temp.chance(0.7) THEN 'admin' ELSE pg_temp.r_org_role(org) END,
                                    org => org, team_id => tm, expires_at => pg_temp.r_expiry());
    WHEN 'revoke_team_org' THEN
        k := pg_temp.pick($q$
            SELECT concat_ws('|', r.name, ra.org_id, ra.team_id)
            FROM tenancy.role_assignments ra
            JOIN tenancy.roles r ON r.id = ra.role_id
            JOIN tenancy.organizations o ON o.id = ra.org_id
            JOIN tenancy.teams tm ON tm.id = ra.team_id
            WHERE ra.tenant_id IS NULL
            ORDER BY o.slug, tm.name, r.name $q$);
        IF k IS NULL THEN RETURN 'noop'; END IF;
        done := tenancy.revoke_role(split_part(k, '|', 1), org => split_part(k, '|', 2)::uuid,
                                    team_id => split_part(k, '|', 3)::uuid);
        IF NOT done THEN RETURN 'noop'; END IF;
    WHEN 'create_role' THEN
        org := pg_temp.r_org();
        k := CASE WHEN pg_temp.chance(0.8) THEN 'tenant' ELSE 'organization' END;
        x := random();
        rname := CASE WHEN x < 0.05 THEN coalesce(pg_temp.r_custom_role(org, k), 'viewer')
                      WHEN x < 0.08 THEN 'viewer'          -- a built-in name
                      WHEN x < 0.10 THEN 'Bad Name'
                      ELSE 'cr' || n END;
        PERFORM tenancy.create_role(org, rname, k, pg_temp.r_permset(),
            CASE WHEN pg_temp.chance(0.3) THEN
                 CASE k WHEN 'tenant' THEN pg_temp.pick_text('{viewer,editor,viewer,admin}')
                        ELSE pg_temp.pick_text('{member,viewer,manager,admin}') END
            END);
    WHEN 'alter_role' THEN
        rid := CASE WHEN pg_temp.chance(0.05)
                    THEN '00000000-0000-0000-0002-000000000003'::uuid   -- built-in: refused
                    ELSE pg_temp.r_custom_role_id() END;
        IF rid IS NULL THEN RETURN 'noop'; END IF;
        PERFORM tenancy.alter_role(rid, pg_temp.r_permset());
    WHEN 'drop_role' THEN
        rid := CASE WHEN pg_temp.chance(0.1)
                    THEN '00000000-0000-0000-0002-000000000002'::uuid   -- built-in: refused
                    ELSE pg_temp.r_custom_role_id() END;
        IF rid IS NULL THEN RETURN 'noop'; END IF;
        PERFORM tenancy.drop_role(rid);
    WHEN 'deactivate_user' THEN
        usr := coalesce(pg_temp.pick('SELECT id::text FROM tenancy.users WHERE active
                                      ORDER BY lower(email)')::uuid, pg_temp.r_user());
        PERFORM tenancy.deactivate_user(usr);
    WHEN 'reactivate_user' THEN
        usr := pg_temp.pick('SELECT id::text FROM tenancy.users WHERE NOT active
                             ORDER BY lower(email)')::uuid;
        IF usr IS NULL THEN RETURN 'noop'; END IF;
        PERFORM tenancy.reactivate_user(usr);
    WHEN 'expire_grant' THEN
        -- Management functions refuse a past expiry: age a grant directly.
        IF pg_temp.chance(0.35) THEN
            k := pg_temp.pick($q$
                SELECT m.org_id || '|' || m.user_id
                FROM tenancy.memberships m
                JOIN tenancy.organizations o ON o.id = m.org_id
                JOIN tenancy.users u ON u.id = m.user_id
                WHERE m.expires_at IS NULL OR m.expires_at > statement_timestamp()
                ORDER BY o.slug, lower(u.email) $q$);
            IF k IS NULL THEN RETURN 'noop'; END IF;
            UPDATE tenancy.memberships
            SET expires_at = statement_timestamp() - interval '1 minute' * floor(random() * 100)
            WHERE org_id = split_part(k, '|', 1)::uuid AND user_id = split_part(k, '|', 2)::uuid;
        ELSE
            k := pg_temp.pick($q$
                SELECT ra.id::text
                FROM tenancy.role_assignments ra
                JOIN tenancy.roles r ON r.id = ra.role_id
                JOIN tenancy.organizations o ON o.id = ra.org_id
                LEFT JOIN tenancy.tenants t ON t.id = ra.tenant_id
                LEFT JOIN tenancy.users u ON u.id = ra.user_id
                LEFT JOIN tenancy.teams tm ON tm.id = ra.team_id
                WHERE ra.expires_at IS NULL OR ra.expires_at > statement_timestamp()
                ORDER BY o.slug, t.slug, r.name, lower(u.email), tm.name $q$);
            IF k IS NULL THEN RETURN 'noop'; END IF;
            UPDATE tenancy.role_assignments
            SET expires_at = statement_timestamp() - interval '1 minute' * floor(random() * 100)
            WHERE id = k::uuid;
        END IF;
    WHEN 'unexpire_grant' THEN
        IF pg_temp.chance(0.4) THEN
            k := pg_temp.pick($q$
                SELECT m.org_id || '|' || m.user_id
                FROM tenancy.memberships m
                JOIN tenancy.organizations o ON o.id = m.org_id
                JOIN tenancy.users u ON u.id = m.user_id
                WHERE m.expires_at <= statement_timestamp()
                ORDER BY o.slug, lower(u.email) $q$);
            IF k IS NULL THEN RETURN 'noop'; END IF;
            UPDATE tenancy.memberships SET expires_at = NULL
            WHERE org_id = split_part(k, '|', 1)::uuid AND user_id = split_part(k, '|', 2)::uuid;
        ELSE
            k := pg_temp.pick($q$
                SELECT ra.id::text
                FROM tenancy.role_assignments ra
                JOIN tenancy.roles r ON r.id = ra.role_id
                JOIN tenancy.organizations o ON o.id = ra.org_id
                LEFT JOIN tenancy.tenants t ON t.id = ra.tenant_id
                LEFT JOIN tenancy.users u ON u.id = ra.user_id
                LEFT JOIN tenancy.teams tm ON tm.id = ra.team_id
                WHERE ra.expires_at <= statement_timestamp()
                ORDER BY o.slug, t.slug, r.name, lower(u.email), tm.name $q$);
            IF k IS NULL THEN RETURN 'noop'; END IF;
            UPDATE tenancy.role_assignments SET expires_at = NULL WHERE id = k::uuid;
        END IF;
    WHEN 'create_doc' THEN
        tnt := pg_temp.r_tenant();
        org := (SELECT org_id FROM tenancy.tenants WHERE id = tnt);
        INSERT INTO m_docs (tenant_id, owner_id, body)
        VALUES (tnt, CASE WHEN pg_temp.chance(0.85) THEN pg_temp.r_member(org) END, 'doc ' || n);
    WHEN 'delete_doc' THEN
        DELETE FROM m_docs WHERE id = pg_temp.pick('SELECT id::text FROM m_docs ORDER BY id')::int;
    WHEN 'move_doc' THEN
        -- A new tenant (its shares end) or a new owner.
        k := pg_temp.pick('SELECT id::text FROM m_docs ORDER BY id');
        IF k IS NULL THEN RETURN 'noop'; END IF;
        IF pg_temp.chance(0.4) THEN
            UPDATE m_docs SET tenant_id = pg_temp.r_tenant() WHERE id = k::int;
        ELSE
            UPDATE m_docs SET owner_id = pg_temp.r_member((SELECT t.org_id FROM m_docs d
                                                           JOIN tenancy.tenants t ON t.id = d.tenant_id
                                                           WHERE d.id = k::int))
            WHERE id = k::int;
        END IF;
    WHEN 'share' THEN
        -- As a member of the row's organization (the owner, often): allowed
        -- or not by the rules; to a member or a team of that organization,
        -- or someone else (refused).
        k := pg_temp.pick('SELECT id::text FROM m_docs ORDER BY id');
        IF k IS NULL THEN RETURN 'noop'; END IF;
        org := (SELECT t.org_id FROM m_docs d JOIN tenancy.tenants t ON t.id = d.tenant_id WHERE d.id = k::int);
        x := random();
        usr := CASE WHEN x < 0.45 THEN (SELECT owner_id FROM m_docs WHERE id = k::int)
                    WHEN x < 0.8 THEN   -- someone who may share on the whole tenant
                         pg_temp.pick('SELECT u.id::text FROM tenancy.users u
                                       WHERE tenancy.has_permission(u.id, $1, ''pipeline:share'')
                                       ORDER BY lower(u.email)',
                                      (SELECT tenant_id FROM m_docs WHERE id = k::int))::uuid
               END;
        usr := coalesce(usr, pg_temp.r_member(org, 0.95));
        PERFORM set_config('tenancy.context', usr::text, true);
        IF pg_temp.chance(0.3) THEN
            tm := CASE WHEN pg_temp.chance(0.9)
                       THEN pg_temp.pick('SELECT id::text FROM tenancy.teams WHERE org_id = $1 ORDER BY name', org)::uuid
                       ELSE pg_temp.r_team() END;
            PERFORM tenancy.share('pipeline', k, pg_temp.r_actions(), to_team => tm);
        ELSE
            PERFORM tenancy.share('pipeline', k, pg_temp.r_actions(), to_user => pg_temp.r_member(org, 0.9));
        END IF;
        PERFORM set_config('tenancy.context', '', true);
    WHEN 'unshare' THEN
        k := pg_temp.pick($q$
            SELECT concat_ws('|', s.resource_id, coalesce(s.user_id::text, ''), coalesce(s.team_id::text, ''),
                             coalesce(s.shared_by::text, ''))
            FROM tenancy.shares s
            LEFT JOIN tenancy.users u ON u.id = s.user_id
            LEFT JOIN tenancy.teams tm ON tm.id = s.team_id
            ORDER BY s.resource_id::int, lower(u.email), tm.name $q$);
        IF k IS NULL THEN RETURN 'noop'; END IF;
        -- Usually by whoever shared it; the rules decide.
        usr := CASE WHEN pg_temp.chance(0.8) AND split_part(k, '|', 4) <> ''
                    THEN split_part(k, '|', 4)::uuid ELSE pg_temp.r_user() END;
        PERFORM set_config('tenancy.context', usr::text, true);
        done := tenancy.unshare('pipeline', split_part(k, '|', 1),
                                to_user => nullif(split_part(k, '|', 2), '')::uuid,
                                to_team => nullif(split_part(k, '|', 3), '')::uuid);
        PERFORM set_config('tenancy.context', '', true);
        IF NOT done THEN RETURN 'noop'; END IF;
    WHEN 'remove_from_tenant' THEN
        tnt := pg_temp.r_tenant();
        PERFORM tenancy.remove_from_tenant(tnt, pg_temp.r_member((SELECT org_id FROM tenancy.tenants WHERE id = tnt)));
    WHEN 'invalid' THEN
        -- Requests that are wrong whatever the state.
        CASE floor(random() * 12)::int
        WHEN 0 THEN PERFORM tenancy.delete_tenant('00000000-dead-0000-0000-000000000000');
        WHEN 1 THEN PERFORM tenancy.create_organization('org-1');
        WHEN 2 THEN PERFORM tenancy.alter_role('00000000-0000-0000-0001-000000000002', '{}');
        WHEN 3 THEN PERFORM tenancy.assign_role('viewer', tenant => pg_temp.r_tenant(),
                                                 user_id => pg_temp.r_user(), team_id => pg_temp.r_team());
        WHEN 4 THEN PERFORM tenancy.add_member(NULL, pg_temp.r_user());
        WHEN 5 THEN PERFORM tenancy.create_role(pg_temp.r_org(), 'editor', 'tenant');
        WHEN 6 THEN PERFORM tenancy.register_action('Bad-Name');
        WHEN 7 THEN PERFORM tenancy.drop_role('00000000-0000-0000-0001-000000000001');
        WHEN 8 THEN PERFORM tenancy.unregister_action('read');
        WHEN 9 THEN PERFORM tenancy.create_role(pg_temp.r_org(), 'weird', 'galaxy');
        WHEN 10 THEN PERFORM tenancy.assign_role('viewer', user_id => pg_temp.r_user());
        ELSE PERFORM tenancy.create_role(pg_temp.r_org(), 'based', 'tenant', '{}', 'manager');
        END CASE;
    ELSE
        RAISE EXCEPTION 'model: unknown operation %', op;
    END CASE;
    RETURN 'ok';
END
$$;

-- Runs one operation, catching and recording its error.
CREATE FUNCTION pg_temp.m_exec(op text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    b int := (SELECT v::int FROM m_state WHERE k = 'batch');
    res text;
    st text;
    msg text;
BEGIN
    BEGIN
        res := pg_temp.m_do(op);
        INSERT INTO m_log (batch, op, outcome) VALUES (b, op, res);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        INSERT INTO m_log (batch, op, outcome, sqlstate, msg) VALUES (b, op, 'error', st, msg);
    END;
END
$$;

-- A batch of n random operations, weighted by the current state.
CREATE FUNCTION pg_temp.m_run(n int) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    b int;
    ops text[];
    w float8[];
    total float8;
    x float8;
    nu int; nt int; ntm int; no int; nd int;
BEGIN
    UPDATE m_state SET v = (v::int + 1)::text WHERE k = 'batch' RETURNING v::int INTO b;
    FOR i IN 1..n LOOP
        SELECT count(*) INTO nu FROM tenancy.users;
        SELECT count(*) INTO nt FROM tenancy.tenants;
        SELECT count(*) INTO ntm FROM tenancy.teams;
        SELECT count(*) INTO no FROM tenancy.organizations;
        SELECT count(*) INTO nd FROM m_docs;
        ops := ARRAY['create_user', 'delete_user', 'create_org', 'delete_org',
                     'create_tenant', 'delete_tenant', 'create_team', 'delete_team',
                     'add_member', 'set_member_role', 'remove_member',
                     'add_team_member', 'remove_team_member',
                     'assign_user', 'assign_team', 'revoke_tenant_role',
                     'assign_team_org', 'revoke_team_org',
                     'create_role', 'alter_role', 'drop_role',
                     'deactivate_user', 'reactivate_user',
                     'expire_grant', 'unexpire_grant', 'invalid',
                     'create_doc', 'delete_doc', 'move_doc', 'share', 'unshare',
                     'remove_from_tenant'];
        w := ARRAY[CASE WHEN nu < 40 THEN 4 ELSE 0.3 END, 0.3,
                   CASE WHEN no < 3 THEN 0.3 ELSE 0.05 END, CASE WHEN no > 2 THEN 0.1 ELSE 0 END,
                   CASE WHEN nt < 10 THEN 2 ELSE 0.2 END, CASE WHEN nt > 6 THEN 0.3 ELSE 0 END,
                   CASE WHEN ntm < 12 THEN 2 ELSE 0.2 END, CASE WHEN ntm > 6 THEN 0.6 ELSE 0 END,
                   9, 6, 2,
                   10, 4,
                   16, 10, 5,
                   2.5, 1,
                   3, 4, 0.6,
                   2.5, 2.5,
                   5, 2, 2,
                   CASE WHEN nd < 36 THEN 3 ELSE 0.3 END, CASE WHEN nd > 20 THEN 0.6 ELSE 0 END,
                   1.5, 12, 1.5,
                   0.8];
        SELECT sum(v) INTO total FROM unnest(w) v;
        x := random() * total;
        FOR j IN 1..cardinality(ops) LOOP
            x := x - w[j];
            IF x < 0 OR j = cardinality(ops) THEN
                PERFORM pg_temp.m_exec(ops[j]);
                EXIT;
            END IF;
        END LOOP;
    END LOOP;
    -- Let the short expiries of this batch elapse before the checkpoint.
    PERFORM pg_sleep(0.05);
    RETURN (SELECT format('batch %s: %s operations: %s ok, %s no-op, %s errors',
                          b, count(*), count(*) FILTER (WHERE outcome = 'ok'),
                          count(*) FILTER (WHERE outcome = 'noop'),
                          count(*) FILTER (WHERE outcome = 'error'))
            FROM m_log WHERE batch = b);
END
$$;

-- The permissions asked: every registered type with every registered action,
-- and some wildcard asks.
CREATE TEMP TABLE m_perms (perm text PRIMARY KEY);

-- Checkpoints ----------------------------------------------------------------

-- The reference's patterns in the extension's canonical text form: without
-- patterns that another one covers, sorted bytewise by (type, action).
CREATE FUNCTION pg_temp.canonical(patterns text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    WITH p AS (SELECT DISTINCT split_part(x, ':', 1) AS t, split_part(x, ':', 2) AS a
               FROM unnest(patterns) x)
    SELECT '{' || coalesce(string_agg(t || ':' || a, ',' ORDER BY t COLLATE "C", a COLLATE "C"), '') || '}'
    FROM p
    WHERE NOT EXISTS (SELECT 1 FROM p q
                      WHERE (q.t, q.a) <> (p.t, p.a)
                        AND q.t IN ('*', p.t) AND q.a IN ('*', p.a))
$$;

-- Compares every triple; first ages a few grants to exactly this statement's
-- start time (expired: expires_at <= now) to test the boundary.  Returns the
-- number of mismatches.
CREATE FUNCTION pg_temp.m_compare(checkpoint int) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k text;
BEGIN
    FOR i IN 1..3 LOOP
        k := pg_temp.pick($q$
            SELECT ra.id::text
            FROM tenancy.role_assignments ra
            JOIN tenancy.roles r ON r.id = ra.role_id
            JOIN tenancy.organizations o ON o.id = ra.org_id
            LEFT JOIN tenancy.tenants t ON t.id = ra.tenant_id
            LEFT JOIN tenancy.users u ON u.id = ra.user_id
            LEFT JOIN tenancy.teams tm ON tm.id = ra.team_id
            WHERE ra.expires_at IS NULL OR ra.expires_at > statement_timestamp()
            ORDER BY o.slug, t.slug, r.name, lower(u.email), tm.name $q$);
        UPDATE tenancy.role_assignments SET expires_at = statement_timestamp() WHERE id = k::uuid;
    END LOOP;
    BEGIN
        k := pg_temp.pick($q$
            SELECT m.org_id || '|' || m.user_id
            FROM tenancy.memberships m
            JOIN tenancy.organizations o ON o.id = m.org_id
            JOIN tenancy.users u ON u.id = m.user_id
            WHERE m.expires_at IS NULL OR m.expires_at > statement_timestamp()
            ORDER BY o.slug, lower(u.email) $q$);
        UPDATE tenancy.memberships SET expires_at = statement_timestamp()
        WHERE org_id = split_part(k, '|', 1)::uuid AND user_id = split_part(k, '|', 2)::uuid;
    EXCEPTION WHEN insufficient_privilege THEN
        NULL;   -- the last active admin
    END;

    INSERT INTO m_answers
    SELECT checkpoint, u.id, t.id, p.perm, u.email, t.slug,
           tenancy.has_permission(u.id, t.id, p.perm),
           tenancy_ref.has_permission(u.id, t.id, p.perm)
    FROM (SELECT id, email FROM tenancy.users
          UNION ALL SELECT '00000000-dead-0000-0000-000000000001', 'nobody') u
    CROSS JOIN (SELECT id, slug FROM tenancy.tenants
                UNION ALL SELECT '00000000-dead-0000-0000-000000000002', 'nowhere') t
    CROSS JOIN m_perms p;

    -- What the data looks like now.
    INSERT INTO m_coverage
    SELECT checkpoint, what, n FROM (VALUES
        ('users', (SELECT count(*) FROM tenancy.users)),
        ('inactive users', (SELECT count(*) FROM tenancy.users WHERE NOT active)),
        ('service accounts', (SELECT count(*) FROM tenancy.users WHERE kind = 'service_account')),
        ('tenants', (SELECT count(*) FROM tenancy.tenants)),
        ('teams', (SELECT count(*) FROM tenancy.teams)),
        ('team members', (SELECT count(*) FROM tenancy.team_members)),
        ('memberships', (SELECT count(*) FROM tenancy.memberships)),
        ('expired memberships', (SELECT count(*) FROM tenancy.memberships
                                 WHERE expires_at <= statement_timestamp())),
        ('custom org role memberships', (SELECT count(*) FROM tenancy.memberships m
                                         JOIN tenancy.roles r ON r.id = m.role_id
                                         WHERE r.org_id IS NOT NULL)),
        ('custom roles', (SELECT count(*) FROM tenancy.roles WHERE org_id IS NOT NULL)),
        ('assignments of a TOASTed role', (SELECT count(*) FROM tenancy.role_assignments ra
                                           JOIN tenancy.roles r ON r.id = ra.role_id
                                           WHERE r.name = 'wide')),
        ('members with a custom org role of every permission',
         (SELECT count(*) FROM tenancy.memberships m
          JOIN tenancy.roles r ON r.id = m.role_id
          WHERE r.org_id IS NOT NULL AND r.permissions::text = '{*:*}')),
        ('tenant assignments', (SELECT count(*) FROM tenancy.role_assignments
                                WHERE tenant_id IS NOT NULL)),
        ('team tenant assignments', (SELECT count(*) FROM tenancy.role_assignments
                                     WHERE tenant_id IS NOT NULL AND team_id IS NOT NULL)),
        ('expired assignments', (SELECT count(*) FROM tenancy.role_assignments
                                 WHERE expires_at <= statement_timestamp())),
        ('protected rows', (SELECT count(*) FROM m_docs)),
        ('rows with an owner', (SELECT count(*) FROM m_docs WHERE owner_id IS NOT NULL)),
        ('shares to users', (SELECT count(*) FROM tenancy.shares WHERE user_id IS NOT NULL)),
        ('shares to teams', (SELECT count(*) FROM tenancy.shares WHERE team_id IS NOT NULL)),
        ('team org admin grants', (SELECT count(*) FROM tenancy.role_assignments
                                   WHERE tenant_id IS NULL
                                     AND role_id = '00000000-0000-0000-0001-000000000001'
                                     AND (expires_at IS NULL OR expires_at > statement_timestamp())))
    ) v(what, n);

    RETURN (SELECT count(*) FROM m_answers
            WHERE cp = checkpoint AND ext IS DISTINCT FROM ref);
END
$$;

CREATE FUNCTION pg_temp.m_compare_sets(checkpoint int) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO m_sets
    SELECT checkpoint, u.id, t.id, u.email, t.slug,
           tenancy.permissions(u.id, t.id)::text,
           pg_temp.canonical(tenancy_ref.permissions(u.id, t.id))
    FROM tenancy.users u CROSS JOIN tenancy.tenants t;
    RETURN (SELECT count(*) FROM m_sets
            WHERE cp = checkpoint AND ext IS DISTINCT FROM ref);
END
$$;

-- Resources: the check on every (user, row, action).
CREATE FUNCTION pg_temp.m_compare_resources(checkpoint int) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO m_res
    SELECT checkpoint, u.id, d.id, d.tenant_id, a, u.email,
           tenancy.has_resource_permission(u.id, d.tenant_id, 'pipeline:' || a, d.id::text, d.owner_id),
           tenancy_ref.has_resource_permission(u.id, d.tenant_id, 'pipeline:' || a, d.id::text, d.owner_id)
    FROM tenancy.users u
    CROSS JOIN m_docs d
    CROSS JOIN unnest('{read,update,delete,share,promote,*}'::text[]) a;
    RETURN (SELECT count(*) FROM m_res WHERE cp = checkpoint AND ext IS DISTINCT FROM ref);
END
$$;

-- The ids of the rows of m_docs a statement reaches as the application
-- role regress_m_app in context ctx; NULL when the context cannot be set.  UPDATE
-- and DELETE are undone.  (With RETURNING, they also need "read".)
CREATE FUNCTION pg_temp.m_rows_as(ctx text, command text) RETURNS int[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ids int[];
BEGIN
    BEGIN
        PERFORM set_config('tenancy.context', ctx, true);
    EXCEPTION WHEN insufficient_privilege THEN
        RETURN NULL;
    END;
    PERFORM set_config('role', 'regress_m_app', true);
    BEGIN
        IF command = 'select' THEN
            SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO ids FROM m_docs;
        ELSIF command = 'update' THEN
            WITH c AS (UPDATE m_docs SET body = body RETURNING id)
            SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO ids FROM c;
        ELSE
            WITH c AS (DELETE FROM m_docs RETURNING id)
            SELECT coalesce(array_agg(id ORDER BY id), '{}') INTO ids FROM c;
        END IF;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'MUNDO';
    EXCEPTION WHEN SQLSTATE 'MUNDO' THEN
        NULL;
    END;
    PERFORM set_config('role', 'none', true);
    PERFORM set_config('tenancy.context', '', true);
    RETURN ids;
END
$$;

-- The rows the protected table gives every user (no current tenant: SELECT,
-- UPDATE, DELETE), and with every tenant as the current one (SELECT; the
-- context itself is allowed exactly when the user holds a permission or a
-- share there).
CREATE FUNCTION pg_temp.m_compare_rows(checkpoint int) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    u record;
    t record;
    cmd text;
    got int[];
BEGIN
    FOR u IN SELECT id, email FROM tenancy.users ORDER BY lower(email) LOOP
        FOREACH cmd IN ARRAY '{select,update,delete}'::text[] LOOP
            got := coalesce(pg_temp.m_rows_as(u.id::text, cmd), '{}');
            INSERT INTO m_rows
            SELECT checkpoint, u.id, NULL, cmd, u.email, got,
                   (SELECT coalesce(array_agg(r.doc ORDER BY r.doc), '{}') FROM m_res r
                    WHERE r.cp = checkpoint AND r.user_id = u.id AND r.action = 'read' AND r.ref
                      AND (cmd = 'select' OR EXISTS (
                               SELECT 1 FROM m_res w
                               WHERE w.cp = checkpoint AND w.user_id = u.id AND w.doc = r.doc
                                 AND w.action = cmd AND w.ref)));
        END LOOP;
        FOR t IN SELECT id FROM tenancy.tenants ORDER BY id LOOP
            INSERT INTO m_rows
            SELECT checkpoint, u.id, t.id, 'select in tenant', u.email,
                   pg_temp.m_rows_as(u.id || '/' || t.id, 'select'),
                   CASE WHEN cardinality(tenancy_ref.permissions(u.id, t.id)) > 0
                             OR tenancy_ref.has_share_in(u.id, t.id)
                        THEN (SELECT coalesce(array_agg(r.doc ORDER BY r.doc), '{}') FROM m_res r
                              WHERE r.cp = checkpoint AND r.user_id = u.id AND r.tenant = t.id
                                AND r.action = 'read' AND r.ref)
                   END;
        END LOOP;
    END LOOP;
    RETURN (SELECT count(*) FROM m_rows WHERE cp = checkpoint AND ext IS DISTINCT FROM ref);
END
$$;

-- The lookups, against the reference answers of this checkpoint.
CREATE FUNCTION pg_temp.m_compare_lookups(checkpoint int) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lookup_perms text[] := '{pipeline:read,pipeline:update,model:promote,*:read,tenant:read,pipeline:*}';
BEGIN
    -- The tenants where a user holds a permission.
    INSERT INTO m_lookups
    SELECT checkpoint, 'tenants_with_permission', u.email || ' ' || p,
           array(SELECT x FROM tenancy.tenants_with_permission(u.id, p) x ORDER BY x)::text,
           array(SELECT a.tenant FROM m_answers a
                 WHERE a.cp = checkpoint AND a.user_id = u.id AND a.perm = p AND a.ref
                 ORDER BY a.tenant)::text
    FROM tenancy.users u CROSS JOIN unnest(lookup_perms) p;
    -- The users holding a permission on a tenant.
    INSERT INTO m_lookups
    SELECT checkpoint, 'permission_holders', t.slug || ' ' || p,
           array(SELECT DISTINCT h.user_id FROM tenancy.permission_holders(t.id, p) h ORDER BY 1)::text,
           array(SELECT a.user_id FROM m_answers a
                 WHERE a.cp = checkpoint AND a.tenant = t.id AND a.perm = p AND a.ref
                 ORDER BY a.user_id)::text
    FROM tenancy.tenants t CROSS JOIN unnest(lookup_perms) p;
    -- The resources shared with a user.
    INSERT INTO m_lookups
    SELECT checkpoint, 'shared_with', u.email || ' ' || a,
           array(SELECT DISTINCT s.resource_id::int FROM tenancy.shared_with(u.id, 'pipeline', a) s ORDER BY 1)::text,
           array(SELECT d.id FROM m_docs d
                 WHERE tenancy_ref.shared(u.id, d.tenant_id, 'pipeline', a, d.id::text)
                 ORDER BY d.id)::text
    FROM tenancy.users u CROSS JOIN unnest('{read,update,share}'::text[]) a;
    -- explain(): some path exactly when the check says yes, tenant-wide ...
    INSERT INTO m_lookups
    SELECT checkpoint, 'explain', a.email || ' ' || a.tslug || ' ' || a.perm,
           EXISTS (SELECT 1 FROM tenancy.explain(a.user_id, a.tenant, a.perm))::text,
           a.ref::text
    FROM m_answers a
    WHERE a.cp = checkpoint AND a.perm IN ('pipeline:read', '*:read')
      AND a.email <> 'nobody' AND a.tslug <> 'nowhere';
    -- ... and on one resource.
    INSERT INTO m_lookups
    SELECT checkpoint, 'explain resource', r.email || ' doc ' || r.doc || ' ' || r.action,
           EXISTS (SELECT 1 FROM tenancy.explain(r.user_id, r.tenant, 'pipeline:' || r.action,
                                                 r.doc::text, d.owner_id))::text,
           r.ref::text
    FROM m_res r JOIN m_docs d ON d.id = r.doc
    WHERE r.cp = checkpoint AND r.action = 'update';
    RETURN (SELECT count(*) FROM m_lookups WHERE cp = checkpoint AND ext IS DISTINCT FROM ref);
END
$$;

CREATE FUNCTION pg_temp.m_summary(checkpoint int) RETURNS text
LANGUAGE sql AS $$
    SELECT format('checkpoint %s: %s triples (%s true), %s pairs, %s resource answers (%s true), %s row sets, %s lookups; ',
                  checkpoint,
                  (SELECT count(*) FROM m_answers WHERE cp = checkpoint),
                  (SELECT count(*) FROM m_answers WHERE cp = checkpoint AND ext),
                  (SELECT count(*) FROM m_sets WHERE cp = checkpoint),
                  (SELECT count(*) FROM m_res WHERE cp = checkpoint),
                  (SELECT count(*) FROM m_res WHERE cp = checkpoint AND ext),
                  (SELECT count(*) FROM m_rows WHERE cp = checkpoint),
                  (SELECT count(*) FROM m_lookups WHERE cp = checkpoint))
        || (SELECT string_agg(what || ' ' || n, ', ' ORDER BY what)
            FROM m_coverage WHERE cp = checkpoint)
$$;

CREATE FUNCTION pg_temp.m_mismatches(checkpoint int) RETURNS SETOF text
LANGUAGE sql AS $$
    (SELECT format('checkpoint %s: has_permission(%s, %s, %s): extension %s, reference %s',
                   cp, email, tslug, perm, ext, ref)
     FROM m_answers WHERE cp = checkpoint AND ext IS DISTINCT FROM ref
     ORDER BY email, tslug, perm LIMIT 5)
    UNION ALL
    (SELECT format('checkpoint %s: permissions(%s, %s): extension %s, reference %s',
                   cp, email, tslug, ext, ref)
     FROM m_sets WHERE cp = checkpoint AND ext IS DISTINCT FROM ref
     ORDER BY email, tslug LIMIT 5)
    UNION ALL
    (SELECT format('checkpoint %s: has_resource_permission(%s, doc %s, %s): extension %s, reference %s',
                   cp, email, doc, action, ext, ref)
     FROM m_res WHERE cp = checkpoint AND ext IS DISTINCT FROM ref
     ORDER BY email, doc, action LIMIT 5)
    UNION ALL
    (SELECT format('checkpoint %s: rows of %s for %s (tenant %s): extension %s, reference %s',
                   cp, command, email, tenant, ext, ref)
     FROM m_rows WHERE cp = checkpoint AND ext IS DISTINCT FROM ref
     ORDER BY email, command LIMIT 5)
    UNION ALL
    (SELECT format('checkpoint %s: %s(%s): extension %s, reference %s', cp, what, args, ext, ref)
     FROM m_lookups WHERE cp = checkpoint AND ext IS DISTINCT FROM ref
     ORDER BY what, args LIMIT 5)
$$;

-- Setup (logged as operations too) ------------------------------------------

CREATE FUNCTION pg_temp.m_setup() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    o1 uuid; o2 uuid; a1 uuid; a2 uuid;
BEGIN
    PERFORM tenancy.register_resource_type('pipeline', 'An ML pipeline.');
    PERFORM tenancy.register_resource_type('model', 'A trained model.');
    PERFORM tenancy.register_action('promote', 'Promote a model.');
    -- Types with long, incompressible names, only so that the role "wide"
    -- below has a permission set stored out of line (TOAST).
    PERFORM tenancy.register_resource_type(left('r' || md5('bulk' || i) || md5('more' || i), 62))
    FROM generate_series(1, 32) i;
    INSERT INTO m_log (batch, op, outcome)
    SELECT 0, 'register', 'ok' FROM generate_series(1, 35);
    a1 := tenancy.create_user('admin1@example.test', 'Admin One');
    a2 := tenancy.create_user('admin2@example.test', 'Admin Two');
    o1 := tenancy.create_organization('org-1', 'Org One', a1);
    o2 := tenancy.create_organization('org-2', 'Org Two', a2);
    -- A custom organization role with every permission is still not "admin".
    PERFORM tenancy.create_role(o1, 'owner_like', 'organization', '{*:*}');
    PERFORM tenancy.create_role(o2, 'owner_like', 'organization', '{*:*}');
    PERFORM tenancy.create_role(o2, 'auditor', 'organization', '{tenant:read}', 'viewer');
    PERFORM tenancy.create_role(o1, 'ml_engineer', 'tenant', '{pipeline:*,model:read,model:promote}', 'viewer');
    PERFORM tenancy.create_role(o2, 'deployer', 'tenant', '{model:promote,model:update}');
    PERFORM tenancy.create_role(o, 'wide', 'tenant',
        ('{' || (SELECT string_agg(t.name || ':' || a, ',')
                 FROM tenancy.resource_types t, unnest('{read,update,promote}'::text[]) a
                 WHERE length(t.name) = 62) || '}')::tenancy.permset)
    FROM unnest(ARRAY[o1, o2]) o;
    -- The protected table whose rows are "pipeline" resources, with owners
    -- and shares; regress_m_app is the application's role.
    CREATE TABLE m_docs (id serial PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid, body text);
    CREATE INDEX ON m_docs (tenant_id);
    PERFORM tenancy.protect('m_docs', resource_type => 'pipeline', owner_column => 'owner_id', id_column => 'id');
    CREATE ROLE regress_m_app;
    GRANT SELECT, UPDATE, DELETE ON m_docs TO regress_m_app;
    INSERT INTO m_log (batch, op, outcome)
    SELECT 0, 'setup', 'ok' FROM generate_series(1, 12);
    FOR i IN 1..12 LOOP
        PERFORM pg_temp.m_exec('create_user');
    END LOOP;
    FOR i IN 1..4 LOOP
        PERFORM pg_temp.m_exec('create_tenant');
        PERFORM pg_temp.m_exec('create_team');
    END LOOP;
    -- Every action on every type, but for the 32 bulk types: "read" on each,
    -- and every action on two of them.
    INSERT INTO m_perms
    SELECT t.name || ':' || a.name FROM tenancy.resource_types t CROSS JOIN tenancy.actions a
    WHERE length(t.name) < 62
    UNION
    SELECT name || ':read' FROM tenancy.resource_types WHERE length(name) = 62
    UNION
    SELECT t.name || ':' || a.name
    FROM (SELECT name FROM tenancy.resource_types WHERE length(name) = 62
          ORDER BY name LIMIT 2) t CROSS JOIN tenancy.actions a
    UNION
    SELECT min(name) || ':*' FROM tenancy.resource_types WHERE length(name) = 62
    UNION
    SELECT unnest('{*:read,pipeline:*,*:*,*:promote,model:*,*:share}'::text[]);
    RETURN format('setup: %s permissions asked on each (user, tenant)', (SELECT count(*) FROM m_perms));
END
$$;

SELECT diag(pg_temp.m_setup());

-- The random walk, with a comparison after every batch -----------------------

\set n 1
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql
\ir checkpoint.psql

-- Totals and sanity of the generated data ------------------------------------

SELECT ok((SELECT count(*) FROM m_log) >= 5000,
          format('at least 5000 operations were performed (%s)', (SELECT count(*) FROM m_log)));
SELECT is((SELECT count(*) FROM m_answers WHERE ext IS DISTINCT FROM ref), 0::bigint,
          format('no mismatch over all %s triples compared', (SELECT count(*) FROM m_answers)));
SELECT is((SELECT count(*) FROM m_res WHERE ext IS DISTINCT FROM ref), 0::bigint,
          format('no mismatch over all %s resource answers compared', (SELECT count(*) FROM m_res)));
SELECT is((SELECT count(*) FROM m_rows WHERE ext IS DISTINCT FROM ref), 0::bigint,
          format('no mismatch over all %s row sets of the protected table (%s rows)',
                 (SELECT count(*) FROM m_rows), (SELECT sum(cardinality(ext)) FROM m_rows)));
SELECT is((SELECT count(*) FROM m_lookups WHERE ext IS DISTINCT FROM ref), 0::bigint,
          format('no mismatch over all %s lookups', (SELECT count(*) FROM m_lookups)));
-- Ownership and shares decide many answers on their own.
SELECT cmp_ok((SELECT count(*) FROM m_res r
               WHERE r.ref AND NOT tenancy_ref.has_permission(r.user_id, r.tenant, 'pipeline:' || r.action)
                 AND r.cp = 10)::int, '>=', 20,
              'at the last checkpoint, many resource answers are granted by ownership or a share alone');

-- Outcomes: plenty of successes, and errors of several kinds.
SELECT ok((SELECT count(*) FILTER (WHERE outcome = 'ok') >= 1000
               AND count(*) FILTER (WHERE outcome = 'error') >= 100 FROM m_log),
          (SELECT format('operations succeeded (%s) and failed (%s) in numbers',
                         count(*) FILTER (WHERE outcome = 'ok'),
                         count(*) FILTER (WHERE outcome = 'error')) FROM m_log));
SELECT cmp_ok((SELECT count(DISTINCT sqlstate) FROM m_log)::int, '>=', 5,
              'errors of at least five SQLSTATEs were hit');
SELECT cmp_ok((SELECT count(DISTINCT regexp_replace(msg, '"[^"]*"|[0-9a-f-]{36}', '…', 'g'))
               FROM m_log WHERE outcome = 'error')::int, '>=', 20,
              'errors of at least twenty kinds were hit');
SELECT is((SELECT array_agg(DISTINCT sqlstate ORDER BY sqlstate) FROM m_log
           WHERE sqlstate NOT IN ('22004', '22023', '23503', '23505', '42501')),
          NULL, 'every error has a documented SQLSTATE');
SELECT diag(format('errors %s: %s', sqlstate, string_agg(DISTINCT regexp_replace(msg, '"[^"]*"|[0-9a-f-]{36}', '…', 'g'), ' / ')))
FROM m_log WHERE outcome = 'error' GROUP BY sqlstate ORDER BY sqlstate;
SELECT diag(format('operations: %s', string_agg(format('%s %s (%s failed)', op, n, e), ', ' ORDER BY op)))
FROM (SELECT op, count(*) n, count(*) FILTER (WHERE outcome = 'error') e FROM m_log GROUP BY op) s;

-- The answers are not degenerate.
SELECT ok((SELECT count(*) FILTER (WHERE ext) >= 0.05 * count(*)
              AND count(*) FILTER (WHERE NOT ext) >= 0.05 * count(*) FROM m_answers),
          (SELECT format('true (%s) and false (%s) answers both occur in numbers',
                         count(*) FILTER (WHERE ext), count(*) FILTER (WHERE NOT ext)) FROM m_answers));
SELECT cmp_ok((SELECT count(*) FROM m_sets WHERE ext NOT IN ('{}', '{*:*}'))::int, '>=', 100,
              'many (user, tenant) pairs have a partial permission set (neither {} nor {*:*})');
SELECT cmp_ok((SELECT count(*) FROM m_answers a JOIN m_sets s USING (cp, user_id, tenant)
               WHERE a.ext AND s.ext <> '{*:*}')::int, '>=', 2000,
              'many true answers come from roles, not from organization admin');
-- Answers change over time.
SELECT cmp_ok((SELECT count(*) FROM m_answers a JOIN m_answers b
                   ON b.cp = a.cp + 1 AND (b.user_id, b.tenant, b.perm) = (a.user_id, a.tenant, a.perm)
               WHERE a.ext <> b.ext)::int, '>=', 500,
              'answers of existing users on existing tenants change between checkpoints');
-- Every path of the resolution was present at some checkpoint.
SELECT is((SELECT array_agg(what ORDER BY what) FROM
              (SELECT what FROM m_coverage GROUP BY what HAVING max(n) = 0) s),
          NULL, 'every kind of hierarchy data occurred (inactive users, expiry, team grants, ...)');

SELECT * FROM finish();
ROLLBACK;
