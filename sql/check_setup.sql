--
-- tenancy.check_setup(): each mistake it knows, made on purpose, is
-- reported with its fix; once fixed, it is not.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
\pset format unaligned
\pset fieldsep ' | '

CREATE FUNCTION pg_temp.findings() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT concat_ws(' | ', severity, check_name, object, fix) FROM tenancy.check_setup()
$$;

-- A fresh install, with the library preloaded: nothing to report.
SELECT * FROM pg_temp.findings();

CREATE ROLE regress_setup_owner;
CREATE ROLE regress_setup_app LOGIN;
CREATE SCHEMA setup AUTHORIZATION regress_setup_owner;
GRANT USAGE ON SCHEMA setup TO regress_setup_app;
SET ROLE regress_setup_owner;
CREATE TABLE setup.orders (id int PRIMARY KEY, tenant_id uuid NOT NULL, total numeric);
CREATE INDEX ON setup.orders (tenant_id);
SELECT tenancy.protect('setup.orders', resource_type => 'setup_order');
GRANT SELECT, INSERT, UPDATE, DELETE ON setup.orders TO regress_setup_app;
-- Protected, but no index starts with the tenant column.
CREATE TABLE setup.invoices (id int PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT tenancy.protect('setup.invoices', resource_type => 'setup_invoice');
-- Tenant data nobody protected: by its column's name, and by a foreign key.
CREATE TABLE setup.notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE TABLE setup.files (id int PRIMARY KEY, owner_tenant uuid NOT NULL);
RESET ROLE;
ALTER TABLE setup.files ADD FOREIGN KEY (owner_tenant) REFERENCES tenancy.tenants (id);
SELECT * FROM pg_temp.findings();

-- Mistakes made after protect().
ALTER TABLE setup.orders NO FORCE ROW LEVEL SECURITY;
CREATE POLICY legacy_open ON setup.orders USING (true);
ALTER ROLE regress_setup_owner LOGIN;
CREATE ROLE regress_setup_bypass LOGIN BYPASSRLS;
-- A login role that is a member of the owner's role acts as the owner.
GRANT regress_setup_owner TO regress_setup_app;
SELECT * FROM pg_temp.findings();

-- Signed contexts on, with the mistakes that undo them.
SET tenancy.require_signed_context = on;
SET log_statement = 'all';
SET tenancy.admin_role = 'regress_setup_nobody';
ALTER ROLE regress_setup_app SET tenancy.require_signed_context = off;
GRANT EXECUTE ON FUNCTION tenancy.assign_role(text, uuid, uuid, uuid, uuid, timestamptz) TO regress_setup_app;
SELECT f FROM pg_temp.findings() f WHERE split_part(f, ' | ', 2) NOT IN
    ('permissive_policy', 'rls_not_forced', 'member_of_owner', 'owner_can_login',
     'bypassrls_login', 'missing_tenant_index', 'unprotected_tenant_table');
-- A symmetric key, and a role that can read every table.
SELECT tenancy.add_signing_key('k1', 'HS256', repeat('s', 32));
CREATE ROLE regress_setup_reader LOGIN IN ROLE pg_read_all_data;
SELECT f FROM pg_temp.findings() f WHERE split_part(f, ' | ', 2) IN
    ('key_readable', 'symmetric_key', 'no_signing_keys');

-- Everything fixed as the findings say.
DROP POLICY legacy_open ON setup.orders;
ALTER TABLE setup.orders ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
REVOKE regress_setup_owner FROM regress_setup_app;
ALTER ROLE regress_setup_owner NOLOGIN;
ALTER ROLE regress_setup_bypass NOBYPASSRLS;
CREATE INDEX ON setup.invoices (tenant_id);
SELECT tenancy.protect('setup.notes', resource_type => 'setup_note');
CREATE INDEX ON setup.notes (tenant_id);
SELECT tenancy.protect('setup.files', tenant_column => 'owner_tenant', resource_type => 'setup_file');
CREATE INDEX ON setup.files (owner_tenant);
RESET log_statement;
RESET tenancy.admin_role;
ALTER ROLE regress_setup_app RESET tenancy.require_signed_context;
REVOKE EXECUTE ON FUNCTION tenancy.assign_role(text, uuid, uuid, uuid, uuid, timestamptz) FROM regress_setup_app;
REVOKE pg_read_all_data FROM regress_setup_reader;
SELECT tenancy.drop_signing_key('k1');
SELECT tenancy.add_signing_key('k2', 'EdDSA', E'-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n');
SELECT * FROM pg_temp.findings();
RESET tenancy.require_signed_context;

DROP SCHEMA setup CASCADE;
DROP ROLE regress_setup_owner;
DROP ROLE regress_setup_app;
DROP ROLE regress_setup_bypass;
DROP ROLE regress_setup_reader;
DROP EXTENSION pg_tenancy;
