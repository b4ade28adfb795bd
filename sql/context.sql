--
-- The session context: set for one transaction, read back, gone at its end,
-- on RESET ALL and DISCARD ALL; restored by ROLLBACK TO SAVEPOINT; refused
-- for a user or tenant the user has nothing to do with; signed mode.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY default

SELECT tenancy.create_user('ann@example.com') AS ann \gset
SELECT tenancy.create_user('bo@example.com') AS bo \gset
SELECT tenancy.create_user('cid@example.com') AS cid \gset
SELECT tenancy.create_user('stranger@example.com') AS stranger \gset
SELECT tenancy.create_organization('acme', admin => :'ann') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'dev') AS dev \gset
SELECT tenancy.add_member(:'acme', :'bo');
SELECT tenancy.add_member(:'acme', :'cid');
SELECT tenancy.assign_role('viewer', tenant => :'prod', user_id => :'bo');
SELECT tenancy.deactivate_user(:'cid');

-- Names for what the context says, to keep ids out of the output.
-- (Not in pg_temp: DISCARD ALL below drops temporary objects.)
CREATE FUNCTION public.ctx() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
    SELECT coalesce((SELECT email FROM tenancy.users WHERE id = tenancy.current_user_id()), '(none)')
        || ' / ' ||
        coalesce((SELECT slug FROM tenancy.tenants WHERE id = tenancy.current_tenant_id()), '(none)')
$$;

-- No context: NULL, not an error.
SELECT tenancy.current_user_id() IS NULL AS no_user, tenancy.current_tenant_id() IS NULL AS no_tenant;

-- Set in a transaction, read back, gone after COMMIT.
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
SELECT public.ctx();
SELECT current_setting('tenancy.context') = :'bo' || '/' || :'prod' AS setting_shows_it;
COMMIT;
SELECT public.ctx() AS after_commit;

-- ... and after ROLLBACK.
BEGIN;
SELECT tenancy.set_context(:'bo');
SELECT public.ctx();
ROLLBACK;
SELECT public.ctx() AS after_rollback;

-- A plain session-level SET outlives its transaction in PostgreSQL's eyes,
-- but the context counts only in the transaction that set it.
SET tenancy.context = :'bo';
SELECT public.ctx() AS after_plain_set;
BEGIN;
SET tenancy.context = :'bo';
SELECT public.ctx() AS set_in_this_transaction;
COMMIT;
SELECT public.ctx() AS next_transaction;
RESET tenancy.context;

-- SET LOCAL and set_config(..., true) are the same thing.
BEGIN;
SET LOCAL tenancy.context = :'ann';
SELECT public.ctx() AS by_set_local;
SELECT set_config('tenancy.context', :'bo' || '/' || :'prod', true) IS NOT NULL AS by_set_config;
SELECT public.ctx();
COMMIT;

-- ROLLBACK TO SAVEPOINT restores what was set before the savepoint.
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
SAVEPOINT s1;
SELECT tenancy.set_context(:'ann', :'dev');
SELECT public.ctx() AS inside_savepoint;
ROLLBACK TO SAVEPOINT s1;
SELECT public.ctx() AS after_rollback_to_savepoint;
SAVEPOINT s2;
SELECT tenancy.clear_context();
SELECT public.ctx() AS cleared;
RELEASE SAVEPOINT s2;
SELECT public.ctx() AS cleared_after_release;
COMMIT;

-- RESET ALL and DISCARD ALL clear it.
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
RESET ALL;
SELECT public.ctx() AS after_reset_all;
COMMIT;
SET tenancy.context = :'bo';
DISCARD ALL;
SELECT current_setting('tenancy.context') = '' AS discard_all_cleared;

-- Refused, with nothing changed: a user with no role in the tenant, a user
-- of no organization, an inactive user, an unknown user, a malformed value.
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
SELECT tenancy.set_context(:'bo', :'dev');
ROLLBACK;
BEGIN;
SELECT tenancy.set_context(:'stranger');
ROLLBACK;
BEGIN;
SELECT tenancy.set_context(:'cid');
ROLLBACK;
BEGIN;
SELECT tenancy.set_context(gen_random_uuid());
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = 'not-a-uuid';
ROLLBACK;
BEGIN;
SELECT tenancy.set_context(NULL);
ROLLBACK;
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
SAVEPOINT s;
SELECT tenancy.set_context(:'bo', :'dev');
ROLLBACK TO SAVEPOINT s;
SELECT public.ctx() AS unchanged_after_refusal;
COMMIT;
\set VERBOSITY sqlstate
BEGIN;
SELECT tenancy.set_context(:'bo', :'dev');
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = 'not-a-uuid';
ROLLBACK;
\set VERBOSITY default

-- has_permission for the current user.
BEGIN;
SELECT tenancy.set_context(:'bo');
SELECT tenancy.has_permission(:'prod'::uuid, 'tenant:read') AS bo_reads_prod,
       tenancy.has_permission(:'dev'::uuid, 'tenant:read') AS bo_reads_dev;
COMMIT;
SELECT tenancy.has_permission(:'prod'::uuid, 'tenant:read') AS without_context;

-- ALTER ROLE ... SET never establishes a context.
CREATE ROLE regress_tenancy_ctx_app LOGIN;
CREATE SCHEMA app AUTHORIZATION regress_tenancy_ctx_app;
ALTER ROLE regress_tenancy_ctx_app SET tenancy.context = :'ann';
\c - regress_tenancy_ctx_app
\set SHOW_CONTEXT never
SELECT tenancy.current_user_id() IS NULL AS alter_role_set_ignored;
\c - postgres
\set SHOW_CONTEXT never
ALTER ROLE regress_tenancy_ctx_app RESET ALL;

--
-- Signed contexts.
--
CREATE EXTENSION pgcrypto;
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql AS $$
    SELECT rtrim(translate(encode($1, 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.jwt(payload jsonb, secret text,
                            header jsonb DEFAULT '{"alg":"HS256","typ":"JWT"}')
RETURNS text LANGUAGE sql AS $$
    SELECT h || '.' || p || '.' || pg_temp.b64url(hmac(h || '.' || p, secret, 'sha256'))
    FROM (SELECT pg_temp.b64url(convert_to(header::text, 'UTF8')) AS h,
                 pg_temp.b64url(convert_to(payload::text, 'UTF8')) AS p) x
$$;
CREATE FUNCTION pg_temp.claims(sub uuid, tenant uuid DEFAULT NULL,
                               lifetime interval DEFAULT '5 minutes') RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'sub', sub, 'tenant', tenant,
        'exp', floor(extract(epoch FROM now() + lifetime))))
$$;

-- Tokens are refused while signed mode is off.
SELECT tenancy.set_context_token(pg_temp.jwt(pg_temp.claims(:'bo'), 'k'));

-- Only superusers switch it on and add keys; nobody else can read them.
SET tenancy.require_signed_context = on;
SELECT tenancy.add_signing_key('ctx', 'HS256', 'correct horse battery staple, and more');
SELECT pg_temp.jwt(pg_temp.claims(:'bo', :'prod'), 'correct horse battery staple, and more') AS good \gset
SELECT pg_temp.jwt(pg_temp.claims(:'bo', :'prod'), 'wrong secret') AS forged \gset
SELECT pg_temp.jwt(pg_temp.claims(:'bo', :'prod', '-1 minute'), 'correct horse battery staple, and more') AS expired \gset
SELECT pg_temp.jwt(pg_temp.claims(:'bo', :'dev'), 'correct horse battery staple, and more') AS no_role \gset
SELECT pg_temp.jwt(pg_temp.claims(:'bo', :'prod'), 'correct horse battery staple, and more', '{"alg":"none"}') AS alg_none \gset
SELECT pg_temp.jwt(jsonb_build_object('sub', :'bo'), 'correct horse battery staple, and more') AS no_exp \gset

SET ROLE regress_tenancy_ctx_app;
SELECT key FROM tenancy.signing_keys;
SELECT tenancy.add_signing_key('mine', 'HS256', 'a secret of my own, thirty-two bytes');
SHOW tenancy.context_secret;
SET tenancy.require_signed_context = off;

-- Every unsigned way is refused.
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = :'bo';
ROLLBACK;
BEGIN;
SELECT set_config('tenancy.context', :'bo', true);
ROLLBACK;
-- A SECURITY DEFINER function of the application role changes nothing.
CREATE FUNCTION app.sneaky_context(u uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER AS $$ SELECT set_config('tenancy.context', u::text, true) $$;
BEGIN;
SELECT app.sneaky_context(:'ann');
ROLLBACK;

-- Bad tokens are refused, and leave the context as it was.
BEGIN;
SELECT tenancy.set_context_token(:'good');
SELECT public.ctx() AS signed_context;
SAVEPOINT s;
SELECT tenancy.set_context_token(:'forged');
ROLLBACK TO SAVEPOINT s;
SELECT tenancy.set_context_token(:'expired');
ROLLBACK TO SAVEPOINT s;
SELECT tenancy.set_context_token(:'alg_none');
ROLLBACK TO SAVEPOINT s;
SELECT tenancy.set_context_token(:'no_exp');
ROLLBACK TO SAVEPOINT s;
SELECT tenancy.set_context_token('a.b');
ROLLBACK TO SAVEPOINT s;
SELECT tenancy.set_context_token(:'no_role');
ROLLBACK TO SAVEPOINT s;
SELECT public.ctx() AS still_the_signed_context;
COMMIT;
\set VERBOSITY sqlstate
SELECT tenancy.set_context_token(:'forged');
SELECT tenancy.set_context_token(:'expired');
SET tenancy.context = :'bo';
\set VERBOSITY default

-- SET LOCAL with a good token works too (what Citus propagates).
BEGIN;
SET LOCAL tenancy.context = :'good';
SELECT public.ctx() AS by_set_local_token;
COMMIT;
RESET ROLE;

-- A context set unsigned before signed mode was switched on stops counting.
SET tenancy.require_signed_context = off;
BEGIN;
SELECT tenancy.set_context(:'bo', :'prod');
SET LOCAL tenancy.require_signed_context = on;
SELECT public.ctx() AS unsigned_after_switch;
COMMIT;
RESET tenancy.require_signed_context;
SELECT tenancy.drop_signing_key('ctx');

DROP SCHEMA app CASCADE;
DROP FUNCTION public.ctx();
DROP ROLE regress_tenancy_ctx_app;
DROP EXTENSION pgcrypto;
DROP EXTENSION pg_tenancy;
