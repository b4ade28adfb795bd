-- test/upgrade/setup.sql — the data an upgrade must carry, made with the
-- 0.1.0 API (and run as is on a fresh 0.2.0 database, to compare the
-- protected tables' policies, triggers and grants).
--
-- The sample hierarchy (two organizations, teams, a custom role, an
-- expiring grant, a protected table with owner and id columns, a share, an
-- invitation), and besides it: a partitioned protected table with owner and
-- id columns and a share to a team; a table protected without owner or id;
-- one with a uuid id and no owner, shared with a user; an accepted
-- invitation; grants that row-level security does not cover; and a share
-- whose table was unprotected afterwards (0.1.0 kept such shares: the update
-- cannot say which table it names, and drops it).
\set ON_ERROR_STOP 1
\ir ../../examples/sample.sql

SELECT id AS alice FROM tenancy.users WHERE email = 'alice@acme.test' \gset
SELECT id AS bob FROM tenancy.users WHERE email = 'bob@acme.test' \gset
SELECT id AS erin FROM tenancy.users WHERE email = 'erin@acme.test' \gset
SELECT id AS ml FROM tenancy.teams WHERE name = 'ML Platform' \gset
SELECT id AS prod FROM tenancy.tenants WHERE slug = 'prod' \gset
SELECT id AS staging FROM tenancy.tenants WHERE slug = 'staging' \gset
SELECT id AS gmain FROM tenancy.tenants WHERE slug = 'main' \gset

-- Partitioned, with owner and id columns.
CREATE TABLE jobs (
    tenant_id uuid NOT NULL,
    id        bigint NOT NULL,
    owner_id  uuid,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
) PARTITION BY HASH (tenant_id);
CREATE TABLE jobs_p0 PARTITION OF jobs FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE jobs_p1 PARTITION OF jobs FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE INDEX jobs_owner_idx ON jobs (owner_id);
INSERT INTO jobs VALUES
    (:'prod', 1, :'bob', 'nightly retrain'), (:'prod', 2, :'alice', 'backfill'),
    (:'staging', 1, :'alice', 'load test'), (:'staging', 2, NULL, 'orphan job'),
    (:'gmain', 1, NULL, 'globex batch');
SELECT tenancy.protect('jobs', resource_type => 'job', owner_column => 'owner_id',
                       id_column => 'id');

-- Tenant-wide only: no owner, no id.
CREATE TABLE notes (tenant_id uuid NOT NULL, body text NOT NULL);
CREATE INDEX notes_tenant_idx ON notes (tenant_id);
INSERT INTO notes VALUES (:'prod', 'prod note'), (:'staging', 'staging note'),
                         (:'gmain', 'globex note');
SELECT tenancy.protect('notes', resource_type => 'note');

-- A uuid id and no owner.
CREATE TABLE docs (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, title text NOT NULL);
CREATE INDEX docs_tenant_idx ON docs (tenant_id);
INSERT INTO docs VALUES
    ('00000000-0000-0000-0000-00000000d001', :'prod', 'runbook'),
    ('00000000-0000-0000-0000-00000000d002', :'staging', 'design'),
    ('00000000-0000-0000-0000-00000000d003', :'gmain', 'globex plan');
SELECT tenancy.protect('docs', resource_type => 'doc', id_column => 'id');

-- What row-level security does not cover, granted after protect().  0.2.0
-- takes it back at once (the GRANT guard), the update takes it back too.
GRANT SELECT ON jobs, jobs_p0, jobs_p1, notes, docs TO demo_app;
GRANT TRUNCATE, TRIGGER, REFERENCES ON notes, jobs_p1 TO demo_app;
GRANT REFERENCES (id) ON docs TO demo_app;

-- Shares: a job row to the team, a doc to a user who holds no tenant
-- data, a second pipeline to Bob with more actions.
BEGIN;
SELECT tenancy.set_context(:'alice', :'prod');
SELECT tenancy.share('job', '2', '{read,update}', to_team => :'ml');
SELECT tenancy.set_context(:'alice');
SELECT tenancy.share('doc', '00000000-0000-0000-0000-00000000d002', '{read}', to_user => :'erin');
SELECT tenancy.share('pipeline', id::text, '{read,update,delete}', to_user => :'bob')
FROM pipelines WHERE name = 'fraud-model training';
COMMIT;

-- A share whose table is unprotected afterwards (its type registered
-- beforehand, so that unprotect() keeps the type).
SELECT tenancy.register_resource_type('draft', 'Drafts');
CREATE TABLE drafts (id int PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid);
CREATE INDEX drafts_tenant_idx ON drafts (tenant_id);
INSERT INTO drafts VALUES (1, :'staging', :'alice');
SELECT tenancy.protect('drafts', resource_type => 'draft', owner_column => 'owner_id',
                       id_column => 'id');
BEGIN;
SELECT tenancy.set_context(:'alice');
SELECT tenancy.share('draft', '1', '{read}', to_user => :'bob');
COMMIT;
SELECT tenancy.unprotect('drafts');

-- An invitation accepted, and one left pending (the sample's).
SELECT token AS grace_token FROM tenancy.invite(
    (SELECT id FROM tenancy.organizations WHERE slug = 'acme'), 'grace@acme.test', 'viewer',
    tenant_roles => jsonb_build_array(jsonb_build_object('tenant', :'prod', 'role', 'viewer'))) \gset
SELECT tenancy.create_user('grace@acme.test', 'Grace') AS grace \gset
SELECT tenancy.accept_invitation(:'grace_token', :'grace') IS NOT NULL AS accepted;
