-- examples/sample.sql — a sample hierarchy for the demo and the tests.
--
-- Acme runs two tenants, prod and staging.  Alice administers the
-- organization; Bob edits prod; Carol and Dan are in the ML Platform team,
-- which views staging and deploys pipelines on prod through a custom role;
-- Erin may look at Acme's structure but holds no tenant data; a CI service
-- account can deploy on staging until its grant expires.  Globex, another
-- organization, shares none of it.  Pipelines have owners; Alice shares the
-- staging experiment with Bob, and Frank has a pending invitation.
\set ON_ERROR_STOP 1

SELECT tenancy.register_resource_type('pipeline', 'ML pipelines');
SELECT tenancy.register_resource_type('model', 'Trained models');
SELECT tenancy.register_action('promote', 'Promote a model to production.');

SELECT tenancy.create_user('alice@acme.test', 'Alice')  AS alice \gset
SELECT tenancy.create_user('bob@acme.test', 'Bob')      AS bob \gset
SELECT tenancy.create_user('carol@acme.test', 'Carol')  AS carol \gset
SELECT tenancy.create_user('dan@acme.test', 'Dan')      AS dan \gset
SELECT tenancy.create_user('erin@acme.test', 'Erin')    AS erin \gset
SELECT tenancy.create_user('ci@acme.test', 'CI', 'service_account') AS ci \gset
SELECT tenancy.create_user('gina@globex.test', 'Gina')  AS gina \gset

SELECT tenancy.create_organization('acme', 'Acme Corp', admin => :'alice') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 'prod', 'Production') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'staging', 'Staging') AS staging \gset

SELECT tenancy.add_member(:'acme', :'bob');
SELECT tenancy.add_member(:'acme', :'carol');
SELECT tenancy.add_member(:'acme', :'dan');
SELECT tenancy.add_member(:'acme', :'erin', 'viewer');
SELECT tenancy.add_member(:'acme', :'ci');

SELECT tenancy.create_team(:'acme', 'ML Platform') AS ml \gset
SELECT tenancy.add_team_member(:'ml', :'carol');
SELECT tenancy.add_team_member(:'ml', :'dan');

-- A custom tenant role: read everything, update and promote pipelines and models.
SELECT tenancy.create_role(:'acme', 'deployer', 'tenant',
                           '{pipeline:update,model:promote}', base_role => 'viewer',
                           description => 'Ships pipelines and models.');

SELECT tenancy.assign_role('editor', tenant => :'prod', user_id => :'bob');
SELECT tenancy.assign_role('viewer', tenant => :'staging', team_id => :'ml');
SELECT tenancy.assign_role('deployer', tenant => :'prod', team_id => :'ml');
SELECT tenancy.assign_role('deployer', tenant => :'staging', user_id => :'ci',
                           expires_at => now() + interval '30 days');

SELECT tenancy.create_organization('globex', 'Globex', admin => :'gina') AS globex \gset
SELECT tenancy.create_tenant(:'globex', 'main', 'Main') AS gmain \gset

-- An application table under tenant isolation, and the role the
-- application connects as.
CREATE TABLE pipelines (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    owner_id   uuid,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pipelines_tenant_created_idx ON pipelines (tenant_id, created_at);
CREATE INDEX pipelines_owner_idx ON pipelines (owner_id);
INSERT INTO pipelines (tenant_id, owner_id, name) VALUES
    (:'prod', :'carol', 'fraud-model training'), (:'prod', :'bob', 'fraud-model serving'),
    (:'staging', :'alice', 'new-feature experiment'), (:'gmain', :'gina', 'globex forecasting');
SELECT tenancy.protect('pipelines', resource_type => 'pipeline',
                       owner_column => 'owner_id', id_column => 'id');

-- Alice shares the staging experiment with Bob, who holds nothing on staging.
BEGIN;
SELECT tenancy.set_context(:'alice');
SELECT tenancy.share('pipeline', id::text, '{read}', to_user => :'bob')
FROM pipelines WHERE name = 'new-feature experiment';
COMMIT;

-- Frank is invited to view staging with the ML Platform team.
SELECT invitation_id AS frank_invitation FROM tenancy.invite(:'acme', 'frank@acme.test',
    tenant_roles => jsonb_build_array(jsonb_build_object('tenant', :'staging', 'role', 'viewer')),
    teams => ARRAY[:'ml'::uuid]) \gset

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_app') THEN
        CREATE ROLE demo_app LOGIN;
    END IF;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON pipelines TO demo_app;
GRANT USAGE ON SEQUENCE pipelines_id_seq TO demo_app;
