-- examples/python/setup.sql — the database the Python examples use.
-- As a superuser, in a database of its own, with pg_tenancy preloaded:
--   createdb tenancy_example && psql -d tenancy_example -f examples/python/setup.sql
-- Prints the ids to try the examples with.
\set ON_ERROR_STOP 1
CREATE EXTENSION IF NOT EXISTS pg_tenancy;

-- The application connects as "app": not a superuser, not the table's owner.
CREATE ROLE app LOGIN;

CREATE TABLE public.notes (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX ON public.notes (tenant_id);
SELECT tenancy.protect('public.notes', resource_type => 'note');
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO app;
GRANT USAGE ON SEQUENCE public.notes_id_seq TO app;

SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('bob@acme.test') AS bob \gset
SELECT tenancy.create_organization('acme', 'Acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'staging') AS staging \gset
SELECT tenancy.add_member(:'acme', :'bob');
SELECT tenancy.assign_role('editor', tenant => :'prod', user_id => :'bob');

INSERT INTO public.notes (tenant_id, body)
VALUES (:'prod', 'prod: first'), (:'prod', 'prod: second'), (:'staging', 'staging: only');

\echo
\echo alice (organization admin, sees both tenants): :alice
\echo bob   (editor on prod only):                  :bob
\echo prod:    :prod
\echo staging: :staging
