--
-- External identities: users created with a caller's id and the subject an
-- identity provider names them by, e-mail optional for service accounts;
-- tokens and gateway claims (PostgREST's request.jwt.claims) that name a
-- user by that subject, with the tenant at a configurable, nested path.
-- The attacks on the gateway mode: claims set by a session that is not the
-- gateway's, claims left for the session by an earlier request, claims
-- naming nobody, a transaction handed on with its context.
--
CREATE EXTENSION pg_tenancy;
CREATE EXTENSION pgcrypto;
\set SHOW_CONTEXT never
\set VERBOSITY default

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    det text;
BEGIN
    EXECUTE sql;
    RETURN 'done';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || msg || coalesce(': ' || nullif(det, ''), '');
END
$$;

-- 1. Creating users ----------------------------------------------------------

-- A caller-supplied id and an external subject at an issuer; no e-mail.
SELECT tenancy.create_user(id => '11111111-1111-4111-8111-111111111111',
                           subject => 'auth0|alice', issuer => 'https://idp.test/',
                           display_name => 'Alice') AS alice \gset
SELECT :'alice' = '11111111-1111-4111-8111-111111111111' AS id_kept;
-- The same subject at another issuer, or at none, is another user.
SELECT tenancy.create_user('bob@acme.test', subject => 'auth0|alice') AS bob \gset
SELECT tenancy.create_user(subject => 'auth0|alice', issuer => 'https://other.test/') AS other_alice \gset
-- A service account needs neither e-mail nor subject.
SELECT tenancy.create_user(kind => 'service_account', display_name => 'billing job') AS svc \gset
SELECT display_name, email IS NULL AS no_email, external_subject, external_issuer, kind
FROM tenancy.users ORDER BY display_name NULLS LAST, email;

-- What is refused, and changes nothing.
SELECT count(*) AS users_before FROM tenancy.users \gset
SELECT pg_temp.try($$SELECT tenancy.create_user()$$);
SELECT pg_temp.try($$SELECT tenancy.create_user(display_name => 'nobody')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user(subject => 'auth0|alice', issuer => 'https://idp.test/')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user('x@acme.test', subject => 'auth0|alice')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user('y@acme.test', issuer => 'https://idp.test/')$$);
SELECT pg_temp.try($$SELECT tenancy.create_user(subject => '')$$);
SELECT left(pg_temp.try($$SELECT tenancy.create_user(subject => repeat('s', 256))$$), 40);
SELECT pg_temp.try($$SELECT tenancy.create_user(subject => 's', issuer => '')$$);
SELECT pg_temp.try(format($$SELECT tenancy.create_user('z@acme.test', id => %L)$$, :'alice'));
SELECT pg_temp.try($$SELECT tenancy.create_user('bob@acme.test')$$);
-- The table's own constraints hold for plain INSERTs too.
SELECT regexp_replace(pg_temp.try($$INSERT INTO tenancy.users (display_name) VALUES ('nobody')$$), ': Failing row.*', '');
SELECT pg_temp.try($$INSERT INTO tenancy.users (external_subject, external_issuer) VALUES ('auth0|alice', 'https://idp.test/')$$);
SELECT regexp_replace(pg_temp.try($$INSERT INTO tenancy.users (email, external_issuer) VALUES ('w@acme.test', 'https://idp.test/')$$), ': Failing row.*', '');
SELECT count(*) = :users_before AS nothing_changed FROM tenancy.users;

-- 2. Looking users up, linking identities --------------------------------------

SELECT tenancy.user_by_subject('auth0|alice', 'https://idp.test/') = :'alice' AS found_alice,
       tenancy.user_by_subject('auth0|alice') = :'bob' AS found_bob_without_issuer,
       tenancy.user_by_subject('auth0|alice', 'https://other.test/') = :'other_alice' AS found_other,
       tenancy.user_by_subject('auth0|nobody', 'https://idp.test/') IS NULL AS unknown_is_null;

SELECT tenancy.create_user('carol@acme.test') AS carol \gset
SELECT tenancy.link_identity(:'carol', 'google-oauth2|42', 'https://idp.test/');
SELECT tenancy.user_by_subject('google-oauth2|42', 'https://idp.test/') = :'carol' AS linked;
SELECT tenancy.link_identity(:'carol', 'google-oauth2|42', 'https://idp.test/');  -- again: no change
SELECT pg_temp.try(format($$SELECT tenancy.link_identity(%L, 'auth0|alice', 'https://idp.test/')$$, :'carol'));
SELECT pg_temp.try(format($$SELECT tenancy.link_identity(%L, NULL)$$, :'alice'));  -- her only name
SELECT tenancy.link_identity(:'carol', NULL);
SELECT tenancy.user_by_subject('google-oauth2|42', 'https://idp.test/') IS NULL AS unlinked;

-- For the roles a DBA grants management to, as the other management functions.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p
WHERE p.pronamespace = 'tenancy'::regnamespace
  AND p.proname IN ('create_user', 'link_identity', 'user_by_subject')
ORDER BY 1;

-- A hierarchy: alice is an editor of prod, carol a viewer of staging.
SELECT tenancy.register_resource_type('note');
SELECT tenancy.create_organization('acme', 'Acme', admin => :'bob') AS acme \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS prod \gset
SELECT tenancy.create_tenant(:'acme', 'staging') AS staging \gset
SELECT tenancy.add_member(:'acme', :'alice');
SELECT tenancy.add_member(:'acme', :'carol');
SELECT tenancy.assign_role('editor', tenant => :'prod', user_id => :'alice');
SELECT tenancy.assign_role('viewer', tenant => :'staging', user_id => :'carol');

CREATE TABLE notes (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL,
    body      text NOT NULL
);
CREATE INDEX ON notes (tenant_id);
INSERT INTO notes (tenant_id, body) VALUES (:'prod', 'prod note'), (:'staging', 'staging note');
SELECT tenancy.protect('notes', resource_type => 'note');

-- 3. Tokens that name the user by external subject -------------------------------

SELECT tenancy.add_signing_key('hs', 'HS256', 'an HS256 secret of at least 32 bytes!',
                               issuer => 'https://idp.test/');
CREATE FUNCTION pg_temp.b64url(bytea) RETURNS text LANGUAGE sql AS $$
    SELECT rtrim(translate(encode($1, 'base64'), E'+/\n', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.hs(payload text) RETURNS text LANGUAGE sql AS $$
    SELECT h || '.' || p || '.' ||
           pg_temp.b64url(hmac(convert_to(h || '.' || p, 'UTF8'),
                               convert_to('an HS256 secret of at least 32 bytes!', 'UTF8'), 'sha256'))
    FROM (SELECT pg_temp.b64url(convert_to('{"alg":"HS256","kid":"hs"}', 'UTF8')) AS h,
                 pg_temp.b64url(convert_to(payload, 'UTF8')) AS p) x
$$;
CREATE FUNCTION pg_temp.check(payload text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
    msg text;
    det text;
BEGIN
    SELECT * INTO r FROM tenancy.verify_token(pg_temp.hs(payload));
    RETURN format('user %s, tenant %s',
                  (SELECT coalesce(display_name, email) FROM tenancy.users WHERE id = r.user_id),
                  (SELECT slug FROM tenancy.tenants WHERE id = r.tenant_id));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || msg || ': ' || det;
END
$$;

-- The subject at the token's issuer; a user's uuid still works.
SELECT pg_temp.check('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800}');
SELECT pg_temp.check(format('{"sub":"%s","iss":"https://idp.test/","exp":4102444800}', :'carol'));
-- A subject nobody has at that issuer.
SELECT pg_temp.check('{"sub":"auth0|nobody","iss":"https://idp.test/","exp":4102444800}');
-- The user claim is a string.
SELECT pg_temp.check('{"sub":42,"iss":"https://idp.test/","exp":4102444800}');
SELECT pg_temp.check('{"iss":"https://idp.test/","exp":4102444800}');

-- The tenant where an identity provider puts it.
SET tenancy.tenant_claim = 'app_metadata.tenant_id';
SELECT pg_temp.check(format('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"app_metadata":{"tenant_id":"%s"}}', :'prod'));
-- A top-level "tenant" is no longer read; the path's value must be a uuid.
SELECT pg_temp.check(format('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"tenant":"%s"}', :'prod'));
SELECT pg_temp.check('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"app_metadata":{"tenant_id":{"id":1}}}');
SELECT pg_temp.check('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"app_metadata":[{"tenant_id":"x"}]}');
-- A member given twice, at any depth on the path, is refused.
SELECT pg_temp.check(format('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"app_metadata":{"tenant_id":"%s","tenant_id":"%s"}}', :'prod', :'staging'));
SELECT pg_temp.check(format('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"app_metadata":{"tenant_id":"%s"},"app_metadata":{"tenant_id":"%s"}}', :'prod', :'staging'));
-- ... also when the second one does not hold the claim: another reader,
-- where the last member wins, would see no tenant at all.
SELECT pg_temp.check(format('{"sub":"auth0|alice","iss":"https://idp.test/","exp":4102444800,"app_metadata":{"tenant_id":"%s"},"app_metadata":{}}', :'prod'));
-- A user an identity provider names is reached through that provider's
-- subject only, not by uuid from a token of any issuer.
SELECT pg_temp.check(format('{"sub":"%s","iss":"https://idp.test/","exp":4102444800}', :'alice'));
SET tenancy.user_claim = 'a..b';
SET tenancy.user_claim = 'a.b.c.d.e.f.g.h.i';
SET tenancy.user_claim = 'user.id';
SELECT pg_temp.check('{"user":{"id":"auth0|alice"},"iss":"https://idp.test/","exp":4102444800}');
RESET tenancy.user_claim;
RESET tenancy.tenant_claim;

-- Only superusers set the paths.
CREATE ROLE regress_ident_app LOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO regress_ident_app;
SET ROLE regress_ident_app;
SET tenancy.user_claim = 'email';
SET tenancy.claims_setting = 'request.jwt.claims';
SET tenancy.claims_role = 'regress_ident_app';
RESET ROLE;

-- 4. Gateway claims (PostgREST, Supabase) --------------------------------------

-- The gateway logs in as regress_ident_gateway and switches to
-- regress_ident_web for each request; its claims are trusted in its own
-- sessions only.
CREATE ROLE regress_ident_gateway LOGIN NOINHERIT;
CREATE ROLE regress_ident_web NOLOGIN;
GRANT regress_ident_web TO regress_ident_gateway;
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO regress_ident_web;
GRANT USAGE ON SEQUENCE notes_id_seq TO regress_ident_web;
SELECT current_database() AS db \gset
ALTER DATABASE :"db" SET tenancy.claims_setting = 'request.jwt.claims';
ALTER DATABASE :"db" SET tenancy.claims_role = 'regress_ident_gateway';
ALTER DATABASE :"db" SET tenancy.tenant_claim = 'app_metadata.tenant_id';

\c - regress_ident_gateway
SHOW tenancy.claims_setting;
-- Every request below switches to the web role, as the first shows.
-- A request, as PostgREST runs it: claims and role local to the transaction.
BEGIN;
SELECT set_config('role', 'regress_ident_web', true),
       set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/","role":"regress_ident_web"}', true) IS NOT NULL AS claims_set;
SELECT body FROM notes ORDER BY body;
SELECT tenancy.current_user_id() = :'alice' AS alice, tenancy.current_tenant_id() IS NULL AS no_tenant;
SELECT current_setting('tenancy.context') = :'alice' AS shown;
INSERT INTO notes (tenant_id, body) VALUES (:'prod', 'by alice');
SAVEPOINT s;
INSERT INTO notes (tenant_id, body) VALUES (:'staging', 'into staging');
ROLLBACK TO SAVEPOINT s;
COMMIT;
SET ROLE regress_ident_web;
-- The next transaction, without claims, has no context.
SELECT count(*) AS after_commit FROM notes;
-- Claims with the tenant at the configured path; then new claims in the same
-- transaction are followed.
BEGIN;
SELECT set_config('role', 'regress_ident_web', true),
       set_config('request.jwt.claims', format('{"sub":"%s","app_metadata":{"tenant_id":"%s"}}', :'carol', :'staging'), true) IS NOT NULL AS claims_set;
SELECT body, tenancy.current_tenant_id() = :'staging' AS in_staging FROM notes ORDER BY body;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT body FROM notes ORDER BY body;
COMMIT;
-- A prepared statement planned under claims with a tenant, then run under
-- claims without one (PostgREST prepares its statements): the plan made for
-- the tenant must not hide the other tenants' rows.
BEGIN;
SELECT set_config('request.jwt.claims', format('{"sub":"%s","app_metadata":{"tenant_id":"%s"}}', :'carol', :'staging'), true) IS NOT NULL AS claims_set;
PREPARE notes_q AS SELECT body FROM notes ORDER BY body;
EXECUTE notes_q;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
EXECUTE notes_q;
COMMIT;
DEALLOCATE notes_q;
-- A statement that touches no protected table needs no context: claims that
-- name nobody (a user not provisioned yet) do not get in its way.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|newcomer","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT 1 AS unrelated;
SHOW tenancy.context;
SELECT count(*) FROM notes;
ROLLBACK;
-- clear_context() clears, also where claims would give a context; so does an
-- expired signed context (below, in signed mode).
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT tenancy.clear_context();
SELECT count(*) AS after_clear, tenancy.current_user_id() IS NULL AS no_user FROM notes;
COMMIT;
-- An anonymous request (no user claim) sees nothing, without error.
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS anonymous FROM notes;
COMMIT;
-- An explicit context wins over the claims.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT tenancy.set_context(:'carol');
SELECT body FROM notes ORDER BY body;
COMMIT;
-- Claims that name nobody, or a tenant the user holds nothing in, or that
-- are not JSON, are errors, as set_context() would raise.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|nobody","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM notes;
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', format('{"sub":"%s","app_metadata":{"tenant_id":"%s"}}', :'carol', :'prod'), true) IS NOT NULL AS claims_set;
SELECT count(*) FROM notes;
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM notes;
ROLLBACK;
-- Attack: claims left for the session (set_config(..., false), SET) by an
-- earlier request never count, in that transaction or a later one.
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', false) IS NOT NULL AS session_claims;
SELECT count(*) AS session_claims_same_statement FROM notes;
BEGIN;
SELECT count(*) AS session_claims_later FROM notes;
SET request.jwt.claims = '{"sub":"auth0|alice","iss":"https://idp.test/"}';
SELECT count(*) AS session_set_in_transaction FROM notes;
COMMIT;
RESET request.jwt.claims;

-- Attack: a transaction handed on with its context.  The next client's
-- BEGIN is an error, which ends that transaction and its context.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS first_request FROM notes;
BEGIN;
SELECT count(*) FROM notes;
ROLLBACK;
SELECT count(*) AS after_rollback FROM notes;
-- So for a context set with set_context(); without a context BEGIN only warns.
BEGIN;
SELECT tenancy.set_context(:'carol');
BEGIN;
ROLLBACK;
BEGIN;
BEGIN;
ROLLBACK;

-- Attack: a session of any other login role sets the same claims.
\c - regress_ident_app
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT count(*) AS other_login FROM notes;
SELECT tenancy.current_user_id() IS NULL AS no_user;
COMMIT;

\c - postgres
-- Nor does a superuser's session count, unless it is the gateway's.
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"auth0|alice","iss":"https://idp.test/"}', true) IS NOT NULL AS claims_set;
SELECT tenancy.current_user_id() IS NULL AS no_user;
COMMIT;
-- The setting the claims come from is not one of pg_tenancy's own.
SET tenancy.claims_setting = 'tenancy.context';

-- check_setup() names whom the claims trust: the gateway, and (warning)
-- any login role that is a member of its role.
SELECT severity, check_name, object FROM tenancy.check_setup() WHERE check_name LIKE 'claims%';
GRANT regress_ident_gateway TO regress_ident_app;
SELECT severity, check_name, object, fix FROM tenancy.check_setup() WHERE check_name LIKE 'claims%';
REVOKE regress_ident_gateway FROM regress_ident_app;
SET tenancy.claims_role = 'regress_ident_nobody';
SELECT severity, check_name, object, detail FROM tenancy.check_setup() WHERE check_name LIKE 'claims%';
RESET tenancy.claims_role;

ALTER DATABASE :"db" RESET tenancy.claims_setting;
ALTER DATABASE :"db" RESET tenancy.claims_role;
ALTER DATABASE :"db" RESET tenancy.tenant_claim;
DROP TABLE notes;
DROP OWNED BY regress_ident_app, regress_ident_web, regress_ident_gateway;
DROP ROLE regress_ident_app, regress_ident_web, regress_ident_gateway;
DROP EXTENSION pg_tenancy;
DROP EXTENSION pgcrypto;
