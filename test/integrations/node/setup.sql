-- test/integrations/node/setup.sql — the hierarchy and the protected table
-- of the Node.js suite.  psql variables: app (the application role), seed.
-- What it assigns is also written, as plain facts, to schema regress_node_map
-- (not granted to the application role), from which the suite computes what
-- each user may see on its own, without asking pg_tenancy.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION pg_tenancy;
SELECT tenancy.register_resource_type('note');

CREATE TABLE public.notes (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    kind      text NOT NULL DEFAULT 'seed',   -- seed | write
    author    uuid,
    body      text NOT NULL
);
CREATE INDEX ON public.notes (tenant_id);
SELECT tenancy.protect('public.notes', resource_type => 'note');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO :"app";
GRANT USAGE ON SEQUENCE public.notes_id_seq TO :"app";

CREATE SCHEMA regress_node_map;
CREATE TABLE regress_node_map.tenants (tenant_id uuid PRIMARY KEY, org text NOT NULL, slug text NOT NULL);
CREATE TABLE regress_node_map.users (user_id uuid PRIMARY KEY, email text NOT NULL);
CREATE TABLE regress_node_map.members (user_id uuid, org text, org_admin boolean NOT NULL);
CREATE TABLE regress_node_map.grants (user_id uuid, tenant_id uuid, role text NOT NULL);

SELECT setseed(:seed);

DO $$
DECLARE
    orgs   text[] := ARRAY['acme', 'globex'];
    ntens  int[]  := ARRAY[4, 3];
    org_ids jsonb := '{}';
    o int; i int; k int;
    u uuid; org_id uuid; t uuid; role text;
    my_orgs text[];
BEGIN
    -- Users u01..u20; u01 is acme's admin, u11 globex's.  u01..u10 are in
    -- acme, u11..u20 in globex, and u09, u10, u19, u20 in both.
    FOR i IN 1..20 LOOP
        INSERT INTO regress_node_map.users
        VALUES (tenancy.create_user(format('u%s@node.test', lpad(i::text, 2, '0'))),
                format('u%s@node.test', lpad(i::text, 2, '0')));
    END LOOP;
    FOR o IN 1..2 LOOP
        SELECT user_id INTO u FROM regress_node_map.users
         WHERE email = format('u%s@node.test', CASE o WHEN 1 THEN '01' ELSE '11' END);
        org_id := tenancy.create_organization(orgs[o], initcap(orgs[o]), admin => u);
        org_ids := org_ids || jsonb_build_object(orgs[o], org_id);
        INSERT INTO regress_node_map.members VALUES (u, orgs[o], true);
        FOR k IN 1..ntens[o] LOOP
            INSERT INTO regress_node_map.tenants
            VALUES (tenancy.create_tenant(org_id, format('%s-t%s', orgs[o], k)), orgs[o], format('%s-t%s', orgs[o], k));
        END LOOP;
    END LOOP;
    FOR i IN 1..20 LOOP
        IF i IN (1, 11) THEN CONTINUE; END IF;
        SELECT user_id INTO u FROM regress_node_map.users WHERE email = format('u%s@node.test', lpad(i::text, 2, '0'));
        my_orgs := CASE WHEN i IN (9, 10, 19, 20) THEN orgs
                        WHEN i <= 10 THEN ARRAY['acme'] ELSE ARRAY['globex'] END;
        FOR o IN 1..array_length(my_orgs, 1) LOOP
            PERFORM tenancy.add_member((org_ids ->> my_orgs[o])::uuid, u);
            INSERT INTO regress_node_map.members VALUES (u, my_orgs[o], false);
        END LOOP;
        -- 0 to 3 tenant roles on random tenants of the user's organizations.
        FOR k IN 1..floor(random() * 4)::int LOOP
            SELECT tenant_id INTO t FROM regress_node_map.tenants
             WHERE org = ANY (my_orgs)
               AND tenant_id NOT IN (SELECT tenant_id FROM regress_node_map.grants WHERE user_id = u)
             ORDER BY random() LIMIT 1;
            EXIT WHEN t IS NULL;
            role := (ARRAY['viewer', 'editor', 'admin'])[1 + floor(random() * 3)::int];
            PERFORM tenancy.assign_role(role, tenant => t, user_id => u);
            INSERT INTO regress_node_map.grants VALUES (u, t, role);
        END LOOP;
    END LOOP;
END
$$;

-- Five seed rows per tenant.
INSERT INTO public.notes (tenant_id, body)
SELECT tenant_id, format('%s #%s', slug, n)
  FROM regress_node_map.tenants, generate_series(1, 5) AS n;
