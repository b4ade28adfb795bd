--
-- Isolation that holds when the application role is hostile (SPEC section
-- 6): app_user owns nothing of the application's, may read and write the
-- protected tables, and may create tables of its own in schema evil.  Each
-- case tries an attack and shows that it fails.
--
-- 2. protect() does not fail open on a table with a permissive policy.
-- 3. protect() takes away the privileges that row-level security does not
--    cover (TRUNCATE, TRIGGER, REFERENCES).
--
-- The cast: organization acme (tenant prod) and organization globex (tenant
-- main).  alice administers acme; carol edits prod; vic views prod; bob
-- administers globex.  app.docs is owned by app_owner.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = public;

SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('carol@acme.test') AS carol \gset
SELECT tenancy.create_user('vic@acme.test') AS vic \gset
SELECT tenancy.create_user('bob@globex.test') AS bob \gset
SELECT tenancy.create_organization('acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('globex', admin => :'bob') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS ta \gset
SELECT tenancy.create_tenant(:'globex', 'main') AS tb \gset
SELECT count(*) AS members_added FROM (
    SELECT tenancy.add_member(:'acme', u) FROM unnest(ARRAY[:'carol', :'vic']::uuid[]) u) x;
SELECT tenancy.assign_role('editor', tenant => :'ta', user_id => :'carol') IS NOT NULL AS carol_edits_prod;
SELECT tenancy.assign_role('viewer', tenant => :'ta', user_id => :'vic') IS NOT NULL AS vic_views_prod;
\i test/regress/attack_helpers.psql

CREATE ROLE app_owner;
CREATE ROLE app_user;
CREATE SCHEMA app AUTHORIZATION app_owner;
GRANT USAGE ON SCHEMA app TO app_user;
CREATE SCHEMA evil AUTHORIZATION app_user;

--
-- 2. protect() refuses a table whose own permissive policy would let every
-- row through (row-level security ORs permissive policies).
--
SET ROLE app_owner;
CREATE TABLE app.open_docs (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON app.open_docs (tenant_id);
CREATE POLICY open ON app.open_docs USING (true);
GRANT SELECT ON app.open_docs TO app_user;
\set VERBOSITY default
SELECT tenancy.protect('app.open_docs');
\set VERBOSITY terse
RESET ROLE;
INSERT INTO app.open_docs VALUES (1, :'ta', 'acme'), (2, :'tb', 'globex');
-- A restrictive policy of the owner's can only narrow: it may stay.
SET ROLE app_owner;
DROP POLICY open ON app.open_docs;
CREATE POLICY narrow ON app.open_docs AS RESTRICTIVE USING (body IS NOT NULL);
SELECT tenancy.protect('app.open_docs');
RESET ROLE;
SET ROLE app_user;
SELECT count(*) AS seen_without_context_after FROM app.open_docs;
RESET ROLE;
-- The same holds for a partition, when protected with its table and when
-- attached later.
SET ROLE app_owner;
CREATE TABLE app.parts (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id))
    PARTITION BY LIST (tenant_id);
CREATE TABLE app.parts_prod PARTITION OF app.parts FOR VALUES IN (:'ta');
CREATE POLICY open ON app.parts_prod USING (true);
SELECT atk.try('SELECT tenancy.protect(''app.parts'')') AS protect_open_partition;
DROP POLICY open ON app.parts_prod;
SELECT tenancy.protect('app.parts');
CREATE TABLE app.parts_main (id bigint, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE POLICY open ON app.parts_main USING (true);
SELECT atk.try(format('ALTER TABLE app.parts ATTACH PARTITION app.parts_main FOR VALUES IN (%L)', :'tb')) AS attach_open_partition;
SELECT count(*) AS attached FROM pg_inherits WHERE inhrelid = 'app.parts_main'::regclass;
RESET ROLE;

--
-- 3. Privileges that row-level security does not cover.
--
-- The owner granted them before protecting: protect() takes them back.
SET ROLE app_owner;
CREATE TABLE app.ledger (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON app.ledger (tenant_id);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON app.ledger TO app_user;
GRANT TRUNCATE ON app.ledger TO PUBLIC;
\set VERBOSITY default
SELECT tenancy.protect('app.ledger');
\set VERBOSITY terse
RESET ROLE;
INSERT INTO app.ledger VALUES (1, :'ta', 'acme'), (2, :'tb', 'globex');
SELECT pg_catalog.array_agg(a.privilege_type ORDER BY a.privilege_type) AS app_user_holds
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = 'app.ledger'::regclass AND a.grantee = 'app_user'::regrole;
SELECT count(*) AS public_holds
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = 'app.ledger'::regclass AND a.grantee = 0;
-- TRUNCATE would empty every tenant.
SET ROLE app_user;
SELECT atk.try('TRUNCATE app.ledger') AS truncate_every_tenant;
-- A trigger of app_user's would copy every tenant's writes.
CREATE TABLE evil.loot (body text);
CREATE FUNCTION evil.steal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.loot VALUES (NEW.body);
    RETURN NEW;
END
$$;
SELECT atk.try('CREATE TRIGGER steal AFTER INSERT ON app.ledger FOR EACH ROW EXECUTE FUNCTION evil.steal()') AS plant_trigger;
-- A foreign key checks the referenced rows without row-level security: it
-- would tell which ids exist in other tenants.
SELECT atk.try('CREATE TABLE evil.probe (ledger_id bigint REFERENCES app.ledger (id))') AS fk_probe;
RESET ROLE;
SELECT count(*) AS ledger_rows_left FROM app.ledger;
-- A partition attached later loses them too (a column's REFERENCES goes
-- with the table's).
SET ROLE app_owner;
DROP POLICY open ON app.parts_main;
GRANT TRIGGER ON app.parts_main TO app_user;
GRANT REFERENCES (id) ON app.parts_main TO app_user;
ALTER TABLE app.parts ATTACH PARTITION app.parts_main FOR VALUES IN (:'tb');
RESET ROLE;
SELECT has_table_privilege('app_user', 'app.parts_main', 'TRIGGER') AS partition_trigger,
       has_any_column_privilege('app_user', 'app.parts_main', 'REFERENCES') AS partition_references;
-- Called again (as the utility hook will after a GRANT), it takes back a
-- later grant; on a table that is not protected it does nothing.
SET ROLE app_owner;
GRANT TRUNCATE ON app.ledger TO app_user;
RESET ROLE;
SELECT tenancy._revoke_unsafe_privileges('app.ledger') AS revoked_again;
SELECT tenancy._revoke_unsafe_privileges('app.ledger') AS nothing_left;
SELECT tenancy._revoke_unsafe_privileges('evil.loot') AS not_protected;
SELECT has_function_privilege('app_user', 'tenancy._revoke_unsafe_privileges(regclass)', 'EXECUTE') AS app_may_call;

DROP SCHEMA evil CASCADE;
DROP SCHEMA app CASCADE;
DROP SCHEMA atk CASCADE;
DROP ROLE app_owner;
DROP ROLE app_user;
DROP EXTENSION pg_tenancy;
