--
-- Isolation that holds when the application role is hostile (SPEC section
-- 6): regress_app_user owns nothing of the application's, may read and write the
-- protected tables, and may create tables of its own in schema evil.  Each
-- case tries an attack and shows that it fails.
--
-- 1. Shares are bound to the table they were made on.
-- 2. protect() does not fail open on a table with a permissive policy.
-- 3. protect() takes away the privileges that row-level security does not
--    cover (TRUNCATE, TRIGGER, REFERENCES).
--
-- The cast: organization acme (tenant prod) and organization globex (tenant
-- main).  alice administers acme; carol edits prod; vic views prod; bob
-- administers globex.  app.docs is owned by regress_app_owner.
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

CREATE ROLE regress_app_owner;
CREATE ROLE regress_app_user;
CREATE SCHEMA app AUTHORIZATION regress_app_owner;
GRANT USAGE ON SCHEMA app TO regress_app_user;
CREATE SCHEMA evil AUTHORIZATION regress_app_user;

-- The application's table, not protected yet: its type "doc" is still free.
SET ROLE regress_app_owner;
CREATE TABLE app.docs (
    id        bigint PRIMARY KEY,
    tenant_id uuid NOT NULL,
    owner_id  uuid,
    body      text NOT NULL
);
CREATE INDEX ON app.docs (tenant_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON app.docs TO regress_app_user;
RESET ROLE;
INSERT INTO app.docs VALUES
    (1, :'ta', :'carol', 'carol-1'),
    (2, :'ta', :'alice', 'alice-2'),
    (3, :'tb', :'bob',   'bob-3');

--
-- 1. Shares made on a throwaway table of the attacker's grant nothing on
-- the application's table of the same type, now or later.
--
-- regress_app_user makes a table of its own, with rows of any id (it owns the
-- table: row-level security is not on yet), protects it under the type the
-- application will use, and, as carol (an editor, who owns those rows),
-- shares them with vic for update and delete.
SET ROLE regress_app_user;
CREATE TABLE evil.fake (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid);
INSERT INTO evil.fake VALUES (2, :'ta', :'carol');
SELECT tenancy.protect('evil.fake', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.share('doc', '2', '{read,update,delete}', to_user => :'vic') IS NOT NULL AS carol_shares_fake_2;
COMMIT;
SELECT tenancy.unprotect('evil.fake');
DROP TABLE evil.fake;
RESET ROLE;
SELECT count(*) AS shares_left_by_fake FROM tenancy.shares WHERE resource_type = 'doc';
-- The application protects its table under that type, later.
SET ROLE regress_app_owner;
SELECT tenancy.protect('app.docs', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');
RESET ROLE;
-- vic (a viewer) may read prod but not update or delete alice's row 2.
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try('UPDATE app.docs SET body = ''defaced'' WHERE id = 2') AS vic_updates_2;
SELECT atk.try('DELETE FROM app.docs WHERE id = 2') AS vic_deletes_2;
ROLLBACK;
RESET ROLE;
SELECT tenancy.has_resource_permission(:'vic', :'ta', 'doc:delete', '2', :'alice') AS vic_may_delete_2;

-- The same in the window where the owner unprotects and protects again.
SET ROLE regress_app_owner;
SELECT tenancy.unprotect('app.docs');
RESET ROLE;
SET ROLE regress_app_user;
CREATE TABLE evil.fake (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid);
INSERT INTO evil.fake VALUES (2, :'ta', :'carol');
SELECT tenancy.protect('evil.fake', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.share('doc', '2', '{read,update,delete}', to_user => :'vic') IS NOT NULL AS carol_shares_fake_2_again;
COMMIT;
-- Dropped without unprotect(): the shares go with the table all the same.
DROP TABLE evil.fake;
RESET ROLE;
SELECT count(*) AS shares_left_by_dropped_fake FROM tenancy.shares WHERE resource_type = 'doc';
SET ROLE regress_app_owner;
SELECT tenancy.protect('app.docs', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');
RESET ROLE;
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try('DELETE FROM app.docs WHERE id = 2') AS vic_deletes_2_after_window;
ROLLBACK;
RESET ROLE;

-- The policies name their table: a share counts only where it was made.
SELECT pg_get_expr(polqual, polrelid) AS select_policy
FROM pg_policy WHERE polrelid = 'app.docs'::regclass AND polname = 'tenancy_select';
-- A share that names another table (as a leftover would, had it survived)
-- grants nothing on this one.
CREATE TABLE evil.other (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
INSERT INTO tenancy.shares (org_id, tenant_id, resource_type, relid, resource_id, user_id, actions)
VALUES (:'acme', :'ta', 'doc', 'evil.other', '2', :'vic', '{read,update,delete}');
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try('DELETE FROM app.docs WHERE id = 2') AS vic_deletes_2_by_other_table;
ROLLBACK;
-- The same through resource_allows(), as the planner writes it with a
-- current tenant set.
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT count(*) AS vic_resource_allows_2
FROM app.docs WHERE tenancy.resource_allows(tenant_id, owner_id, id, 'doc:delete', false, 'app.docs');
ROLLBACK;
RESET ROLE;
SELECT tenancy.has_resource_permission(:'vic', :'ta', 'doc:delete', '2', :'alice') AS vic_may_delete_2_by_other_table,
       count(*) AS listed
FROM tenancy.shared_with(:'vic', 'doc');
-- Dropping that table takes the share, though it was never protected.
DROP TABLE evil.other;
SELECT count(*) AS shares_of_dropped_other FROM tenancy.shares WHERE resource_type = 'doc';

-- A genuine share on app.docs works, survives a rename of the table, and
-- goes with unprotect(): a later protect() of the same table starts with
-- none.
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.share('doc', '1', '{read,update}', to_user => :'vic') IS NOT NULL AS carol_shares_1;
COMMIT;
SELECT relid AS share_table FROM tenancy.shares WHERE resource_type = 'doc';
ALTER TABLE app.docs RENAME TO documents;
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'vic';
UPDATE app.documents SET body = body || '!' RETURNING id;
ROLLBACK;
RESET ROLE;
SELECT relid AS share_table_renamed FROM tenancy.shares WHERE resource_type = 'doc';
SELECT tenancy.has_resource_permission(:'vic', :'ta', 'doc:update', '1', :'carol') AS vic_may_update_1;
ALTER TABLE app.documents RENAME TO docs;
SET ROLE regress_app_owner;
SELECT tenancy.unprotect('app.docs');
RESET ROLE;
SELECT count(*) AS shares_after_unprotect FROM tenancy.shares WHERE resource_type = 'doc';
SET ROLE regress_app_owner;
SELECT tenancy.protect('app.docs', resource_type => 'doc', owner_column => 'owner_id', id_column => 'id');
RESET ROLE;

-- A schema dropped with CASCADE takes the shares of its tables.
CREATE SCHEMA evil2 AUTHORIZATION regress_app_user;
SET ROLE regress_app_user;
CREATE TABLE evil2.fake (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid);
INSERT INTO evil2.fake VALUES (7, :'ta', :'carol');
SELECT tenancy.protect('evil2.fake', resource_type => 'memo', owner_column => 'owner_id', id_column => 'id');
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.share('memo', '7', '{read}', to_user => :'vic') IS NOT NULL AS carol_shares_memo_7;
COMMIT;
DROP SCHEMA evil2 CASCADE;
RESET ROLE;
SELECT count(*) AS shares_after_drop_schema FROM tenancy.shares WHERE resource_type = 'memo';

--
-- 2. protect() refuses a table whose own permissive policy would let every
-- row through (row-level security ORs permissive policies).
--
SET ROLE regress_app_owner;
CREATE TABLE app.open_docs (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON app.open_docs (tenant_id);
CREATE POLICY open ON app.open_docs USING (true);
GRANT SELECT ON app.open_docs TO regress_app_user;
\set VERBOSITY default
SELECT tenancy.protect('app.open_docs');
\set VERBOSITY terse
RESET ROLE;
INSERT INTO app.open_docs VALUES (1, :'ta', 'acme'), (2, :'tb', 'globex');
-- A restrictive policy of the owner's can only narrow: it may stay.
SET ROLE regress_app_owner;
DROP POLICY open ON app.open_docs;
CREATE POLICY narrow ON app.open_docs AS RESTRICTIVE USING (body IS NOT NULL);
SELECT tenancy.protect('app.open_docs');
RESET ROLE;
SET ROLE regress_app_user;
SELECT count(*) AS seen_without_context_after FROM app.open_docs;
RESET ROLE;
-- The same holds for a partition, when protected with its table and when
-- attached later.
SET ROLE regress_app_owner;
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
SET ROLE regress_app_owner;
CREATE TABLE app.ledger (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON app.ledger (tenant_id);
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON app.ledger TO regress_app_user;
GRANT TRUNCATE ON app.ledger TO PUBLIC;
\set VERBOSITY default
SELECT tenancy.protect('app.ledger');
\set VERBOSITY terse
RESET ROLE;
INSERT INTO app.ledger VALUES (1, :'ta', 'acme'), (2, :'tb', 'globex');
SELECT pg_catalog.array_agg(a.privilege_type ORDER BY a.privilege_type) AS app_user_holds
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = 'app.ledger'::regclass AND a.grantee = 'regress_app_user'::regrole;
SELECT count(*) AS public_holds
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = 'app.ledger'::regclass AND a.grantee = 0;
-- TRUNCATE would empty every tenant.
SET ROLE regress_app_user;
SELECT atk.try('TRUNCATE app.ledger') AS truncate_every_tenant;
-- A trigger of regress_app_user's would copy every tenant's writes.
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
SET ROLE regress_app_owner;
DROP POLICY open ON app.parts_main;
GRANT TRIGGER ON app.parts_main TO regress_app_user;
GRANT REFERENCES (id) ON app.parts_main TO regress_app_user;
ALTER TABLE app.parts ATTACH PARTITION app.parts_main FOR VALUES IN (:'tb');
RESET ROLE;
SELECT has_table_privilege('regress_app_user', 'app.parts_main', 'TRIGGER') AS partition_trigger,
       has_any_column_privilege('regress_app_user', 'app.parts_main', 'REFERENCES') AS partition_references;
-- So does a partition created later that default privileges grant them on.
SET ROLE regress_app_owner;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT TRUNCATE, TRIGGER ON TABLES TO regress_app_user;
CREATE TABLE app.parts_other PARTITION OF app.parts DEFAULT;
ALTER DEFAULT PRIVILEGES IN SCHEMA app REVOKE TRUNCATE, TRIGGER ON TABLES FROM regress_app_user;
RESET ROLE;
SELECT has_table_privilege('regress_app_user', 'app.parts_other', 'TRUNCATE') AS new_partition_truncate,
       has_table_privilege('regress_app_user', 'app.parts_other', 'TRIGGER') AS new_partition_trigger;
-- A later GRANT is taken back at once by the utility hook (src/guard.c),
-- which calls it after every GRANT on tables; called again, it finds
-- nothing left.
SET ROLE regress_app_owner;
GRANT TRUNCATE ON app.ledger TO regress_app_user;
RESET ROLE;
SELECT tenancy._revoke_unsafe_privileges('app.ledger') AS revoked_again;
SELECT tenancy._revoke_unsafe_privileges('app.ledger') AS nothing_left;
-- A grant option for TRIGGER is taken back as well, so its holder cannot
-- pass the privilege on.
CREATE ROLE regress_ledger_admin;
GRANT USAGE ON SCHEMA app TO regress_ledger_admin;
SET ROLE regress_app_owner;
GRANT TRIGGER ON app.ledger TO regress_ledger_admin WITH GRANT OPTION;
SET ROLE regress_ledger_admin;
GRANT TRIGGER ON app.ledger TO regress_app_user;
RESET ROLE;
SELECT tenancy._revoke_unsafe_privileges('app.ledger') AS revoked_with_grant_option;
SELECT has_table_privilege('regress_app_user', 'app.ledger', 'TRIGGER') AS app_user_trigger,
       has_table_privilege('regress_ledger_admin', 'app.ledger', 'TRIGGER') AS ledger_admin_trigger;
SELECT tenancy._revoke_unsafe_privileges('evil.loot') AS not_protected;
SELECT has_function_privilege('regress_app_user', 'tenancy._revoke_unsafe_privileges(regclass)', 'EXECUTE') AS app_may_call;

DROP SCHEMA evil CASCADE;
DROP SCHEMA app CASCADE;
DROP SCHEMA atk CASCADE;
DROP ROLE regress_app_owner;
DROP ROLE regress_app_user;
DROP ROLE regress_ledger_admin;
DROP EXTENSION pg_tenancy;
