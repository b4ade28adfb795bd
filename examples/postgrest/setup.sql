-- examples/postgrest/setup.sql — the database side of PostgREST (or
-- Supabase) with pg_tenancy taking each request's context from the claims
-- PostgREST verified.  Run it as a superuser in the API's database:
--
--   psql -d app -f examples/postgrest/setup.sql
--
-- The role names default to PostgREST's conventional ones; pass others with
-- -v authenticator=... -v authenticated=... -v anon=... (the tests do).
-- Supabase has these roles already; the CREATE ROLEs are skipped for roles
-- that exist.
\set ON_ERROR_STOP on
\if :{?authenticator}
\else
\set authenticator authenticator
\endif
\if :{?authenticated}
\else
\set authenticated authenticated
\endif
\if :{?anon}
\else
\set anon anon
\endif

CREATE EXTENSION IF NOT EXISTS pg_tenancy;

-- PostgREST logs in as the authenticator (give it a password in
-- production) and switches, per request, to the role its JWT names.
SELECT format('CREATE ROLE %I LOGIN NOINHERIT', :'authenticator')
WHERE to_regrole(:'authenticator') IS NULL \gexec
SELECT format('CREATE ROLE %I NOLOGIN', r)
FROM unnest(ARRAY[:'authenticated', :'anon']) r
WHERE to_regrole(r) IS NULL \gexec
GRANT :"authenticated", :"anon" TO :"authenticator";

-- The context comes from request.jwt.claims, in the authenticator's
-- sessions only; the user at "sub" (an auth.users id, or an identity
-- provider's subject), the tenant at app_metadata.tenant_id.  PostgREST's
-- open connections keep their settings: restart it after changing these.
SELECT current_database() AS db \gset
ALTER DATABASE :"db" SET tenancy.claims_setting = 'request.jwt.claims';
ALTER DATABASE :"db" SET tenancy.claims_role = :'authenticator';
ALTER DATABASE :"db" SET tenancy.tenant_claim = 'app_metadata.tenant_id';

-- A table the API exposes, protected: each request sees and writes only its
-- user's tenants (only the claimed tenant when the claims name one).
CREATE TABLE IF NOT EXISTS public.notes (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS notes_tenant_id_idx ON public.notes (tenant_id, created_at);
SELECT tenancy.protect('public.notes', resource_type => 'note')
WHERE NOT EXISTS (SELECT 1 FROM tenancy.protected_tables WHERE relid = 'public.notes'::regclass);
GRANT USAGE ON SCHEMA public TO :"authenticated", :"anon";
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes TO :"authenticated";
GRANT USAGE ON SEQUENCE public.notes_id_seq TO :"authenticated";
-- Anonymous requests have no context and see no rows; without this grant
-- they would get "permission denied" instead.
GRANT SELECT ON public.notes TO :"anon";

-- Then create the hierarchy, each user with the id PostgREST's tokens carry
-- in "sub" (Supabase: the auth.users id) or with their identity provider's
-- subject and issuer:
--   SELECT tenancy.create_user('ana@acme.test', id => '<auth.users id>');
--   SELECT tenancy.create_user(subject => 'auth0|6412a8', issuer => 'https://acme.eu.auth0.com/');
-- and check the set-up:
--   SELECT * FROM tenancy.check_setup();
