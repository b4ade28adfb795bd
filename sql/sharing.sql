--
-- Ownership and shares (SPEC section 4): protect() with owner and id
-- columns, the sharing rules, the resource-level check, the lookups, and the
-- attacks on sharing (each tries and shows that it fails).
--
-- The cast: organization acme (tenants prod and staging, team ops) and
-- organization globex (tenant main).  alice administers acme; carol edits
-- prod; vic views prod; dan is a member with no tenant role; erin is a
-- member in team ops; bob administers globex.  app.docs is owned by the
-- ordinary role regress_app_owner; regress_app_user is what the application connects as.
--
CREATE EXTENSION pg_tenancy;
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET search_path = public;

SELECT tenancy.create_user('alice@acme.test') AS alice \gset
SELECT tenancy.create_user('carol@acme.test') AS carol \gset
SELECT tenancy.create_user('vic@acme.test') AS vic \gset
SELECT tenancy.create_user('dan@acme.test') AS dan \gset
SELECT tenancy.create_user('erin@acme.test') AS erin \gset
SELECT tenancy.create_user('bob@globex.test') AS bob \gset
SELECT tenancy.create_organization('acme', admin => :'alice') AS acme \gset
SELECT tenancy.create_organization('globex', admin => :'bob') AS globex \gset
SELECT tenancy.create_tenant(:'acme', 'prod') AS ta \gset
SELECT tenancy.create_tenant(:'acme', 'staging') AS ta2 \gset
SELECT tenancy.create_tenant(:'globex', 'main') AS tb \gset
SELECT tenancy.create_team(:'acme', 'ops') AS ops \gset
SELECT count(*) AS members_added FROM (
    SELECT tenancy.add_member(:'acme', u) FROM unnest(ARRAY[:'carol', :'vic', :'dan', :'erin']::uuid[]) u) x;
SELECT 'done' AS erin_in_ops FROM tenancy.add_team_member(:'ops', :'erin');
SELECT tenancy.assign_role('editor', tenant => :'ta', user_id => :'carol') IS NOT NULL AS carol_edits_prod;
SELECT tenancy.assign_role('viewer', tenant => :'ta', user_id => :'vic') IS NOT NULL AS vic_views_prod;

SELECT :'carol' || '/' || :'ta' AS ctx_carol_ta, :'dan' || '/' || :'ta' AS ctx_dan_ta \gset
\i test/regress/attack_helpers.psql
-- What a context sees of app.docs, and the outcome of a statement in it,
-- each in a transaction of its own (rolled back).
CREATE FUNCTION atk.sees(ctx text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    PERFORM set_config('tenancy.context', ctx, true);
    SELECT coalesce(string_agg(body, ', ' ORDER BY id), '(nothing)') INTO r FROM app.docs;
    PERFORM set_config('tenancy.context', '', true);
    RETURN r;
END
$$;

CREATE ROLE regress_app_owner;
CREATE ROLE regress_app_user;
CREATE SCHEMA app AUTHORIZATION regress_app_owner;
GRANT USAGE ON SCHEMA app TO regress_app_user;

SET ROLE regress_app_owner;
CREATE TABLE app.docs (
    id        bigint PRIMARY KEY,
    tenant_id uuid NOT NULL,
    owner_id  uuid,
    body      text NOT NULL
);
CREATE INDEX ON app.docs (tenant_id);
CREATE INDEX ON app.docs (owner_id);
CREATE TABLE app.notes (n int, tenant_id uuid, owner_id text);

--
-- protect() with owner and id columns: checked, idempotent, recorded.
--
SELECT atk.try('SELECT tenancy.protect(''app.notes'', owner_column => ''owner_id'')') AS owner_not_uuid;
SELECT atk.try('SELECT tenancy.protect(''app.notes'', id_column => ''n'')') AS id_not_unique;
SELECT atk.try('SELECT tenancy.protect(''app.notes'', id_column => ''nope'')') AS id_missing;
SELECT tenancy.protect('app.docs', owner_column => 'owner_id', id_column => 'id');
SELECT tenancy.protect('app.docs', owner_column => 'owner_id', id_column => 'id') AS again;
SELECT atk.try('SELECT tenancy.protect(''app.docs'', owner_column => ''owner_id'')') AS different_columns;
CREATE TABLE app.docs2 (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT atk.try('SELECT tenancy.protect(''app.docs2'', resource_type => ''docs'', id_column => ''id'')') AS type_taken;
DROP TABLE app.docs2;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.docs TO regress_app_user;
RESET ROLE;
SELECT resource_type, owner_column, id_column FROM tenancy.protected_tables WHERE relid = 'app.docs'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'app.docs'::regclass ORDER BY 1;

INSERT INTO app.docs VALUES
    (1, :'ta',  :'carol', 'carol-1'),
    (2, :'ta',  :'alice', 'alice-2'),
    (3, :'ta2', :'alice', 'alice-3'),
    (4, :'ta',  :'vic',   'vic-4'),
    (5, :'tb',  :'bob',   'bob-5');

--
-- Ownership: an editor updates and deletes only what it owns; a viewer
-- owns what it owns too; nobody sees another organization.
--
SET ROLE regress_app_user;
SELECT atk.sees(:'carol') AS carol_sees, atk.sees(:'vic') AS vic_sees, atk.sees(:'dan') AS dan_sees;
BEGIN;
SET LOCAL tenancy.context = :'carol';
UPDATE app.docs SET body = body || '!' RETURNING id;
DELETE FROM app.docs WHERE id <> 1 RETURNING id;
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = :'vic';
UPDATE app.docs SET body = body || '!' RETURNING id;
-- The owner cannot hand the row to another tenant where they hold nothing.
SELECT atk.try(format('UPDATE app.docs SET tenant_id = %L WHERE id = 4', :'tb')) AS owner_moves_to_globex;
ROLLBACK;
-- Inserting needs "create" on the tenant: the owner column grants nothing there.
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try(format('INSERT INTO app.docs VALUES (9, %L, %L, ''x'')', :'ta', :'vic')) AS viewer_inserts;
ROLLBACK;
RESET ROLE;

--
-- The sharing rules.
--
SET ROLE regress_app_user;
-- No context, no sharer.
SELECT atk.try('SELECT tenancy.share(''docs'', ''1'', ''{read}'', to_user => ' || quote_literal(:'dan') || ')') AS share_without_context;
BEGIN;
SET LOCAL tenancy.context = :'carol';
-- The owner shares its row; an editor shares another's row for read (it
-- holds share and read tenant-wide) but not for update.
SELECT tenancy.share('docs', '1', '{read}', to_user => :'dan') IS NOT NULL AS carol_shares_1_with_dan;
SELECT tenancy.share('docs', '2', '{read}', to_user => :'dan') IS NOT NULL AS carol_shares_2_with_dan;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''2'', ''{read,update}'', to_user => %L)', :'dan')) AS share_update_not_held;
-- Nobody shares with themselves; shares name registered concrete actions;
-- the recipient is in the resource's organization.
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{read}'', to_user => %L)', :'carol')) AS share_with_self;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{*}'', to_user => %L)', :'dan')) AS share_wildcard;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{}'', to_user => %L)', :'dan')) AS share_nothing;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{read}'', to_user => %L)', :'bob')) AS share_outside_org;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{read}'', to_user => %L, to_team => %L)', :'dan', :'ops')) AS share_two_recipients;
-- A missing row and a row the sharer may not share answer alike.
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''404'', ''{read}'', to_user => %L)', :'dan')) AS share_missing_row;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''5'', ''{read}'', to_user => %L)', :'dan')) AS share_globex_row;
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''abc'', ''{read}'', to_user => %L)', :'dan')) AS share_bad_id;
SELECT atk.try(format('SELECT tenancy.share(''nope'', ''1'', ''{read}'', to_user => %L)', :'dan')) AS share_unknown_type;
COMMIT;
-- A viewer holds no "share".
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''2'', ''{read}'', to_user => %L)', :'dan')) AS viewer_shares;
-- ... except on what it owns.
SELECT tenancy.share('docs', '4', '{read}', to_team => :'ops') IS NOT NULL AS vic_shares_4_with_ops;
COMMIT;
SELECT atk.sees(:'dan') AS dan_sees, atk.sees(:'erin') AS erin_sees;
-- A share makes the tenant visible: dan may take prod as his current tenant.
SELECT atk.sees(:'dan' || '/' || :'ta') AS dan_in_prod_sees;
SELECT atk.try(format('SET LOCAL tenancy.context = %L', :'dan' || '/' || :'ta2')) AS dan_in_staging;
-- A new share replaces the old one.
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.share('docs', '1', '{read,update}', to_user => :'dan') IS NOT NULL AS carol_reshares_1;
COMMIT;
RESET ROLE;
SELECT resource_id, actions FROM tenancy.shares WHERE user_id = :'dan' ORDER BY 1;
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'dan';
UPDATE app.docs SET body = body || ' (dan)' RETURNING id, body;
SELECT atk.try('DELETE FROM app.docs') AS dan_deletes;
-- A shared row cannot be carried into another tenant by its share.
SELECT atk.try(format('UPDATE app.docs SET tenant_id = %L WHERE id = 1', :'ta2')) AS dan_moves_row;
ROLLBACK;
RESET ROLE;

--
-- The resource-level check and the lookups agree with what the table shows.
--
SELECT tenancy.has_resource_permission(:'dan', :'ta', 'docs:read', '1', NULL) AS dan_read_1,
       tenancy.has_resource_permission(:'dan', :'ta', 'docs:update', '1', NULL) AS dan_update_1,
       tenancy.has_resource_permission(:'dan', :'ta', 'docs:delete', '1', NULL) AS dan_delete_1,
       tenancy.has_resource_permission(:'dan', :'ta2', 'docs:read', '1', NULL) AS dan_read_1_in_staging,
       tenancy.has_resource_permission(:'carol', :'ta', 'docs:delete', '1', :'carol') AS carol_owner_delete,
       tenancy.has_resource_permission(:'carol', :'ta', 'docs:delete', '2', :'alice') AS carol_delete_2,
       tenancy.has_resource_permission(:'erin', :'ta', 'docs:read', '4', NULL) AS erin_team_read_4;
SELECT resource_id, actions, team_id IS NOT NULL AS through_team
FROM tenancy.shared_with(:'erin', 'docs');
SELECT resource_id, actions FROM tenancy.shared_with(:'dan', 'docs', 'update');
SELECT path, role, team_id IS NOT NULL AS team FROM tenancy.explain(:'erin', :'ta', 'docs:read', '4', :'vic');
SELECT path, role FROM tenancy.explain(:'carol', :'ta', 'docs:delete', '1', :'carol');
SELECT path, role FROM tenancy.explain(:'dan', :'ta', 'docs:update', '1', :'carol');
SELECT count(*) AS paths FROM tenancy.explain(:'dan', :'ta', 'docs:delete', '1', :'carol');

--
-- Where shares and ownership end.
--
-- A team share ends when the user leaves the team, at once.
SELECT 'done' AS erin_leaves_ops FROM tenancy.remove_team_member(:'ops', :'erin');
SET ROLE regress_app_user;
SELECT atk.sees(:'erin') AS erin_sees_after_leaving;
RESET ROLE;
-- unshare() needs "share" on the resource, and ends the share at once.
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'dan';
SELECT atk.try('SELECT tenancy.unshare(''docs'', ''2'', to_user => ' || quote_literal(:'dan') || ')') AS dan_unshares;
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.unshare('docs', '2', to_user => :'dan') AS carol_unshares_2;
SELECT tenancy.unshare('docs', '2', to_user => :'dan') AS carol_unshares_2_again;
COMMIT;
SELECT atk.sees(:'dan') AS dan_sees_after_unshare;
RESET ROLE;
-- Deleting, renumbering or moving the row ends its shares.
SELECT count(*) AS shares_before FROM tenancy.shares;
BEGIN;
DELETE FROM app.docs WHERE id = 1;
SELECT count(*) AS shares_after_delete FROM tenancy.shares;
ROLLBACK;
BEGIN;
UPDATE app.docs SET id = 11 WHERE id = 1;
SELECT count(*) AS shares_after_new_id FROM tenancy.shares;
ROLLBACK;
BEGIN;
UPDATE app.docs SET body = 'same resource' WHERE id = 1;
SELECT count(*) AS shares_after_body_change FROM tenancy.shares;
ROLLBACK;
BEGIN;
TRUNCATE app.docs;
SELECT count(*) AS shares_after_truncate FROM tenancy.shares;
ROLLBACK;
-- Taking dan out of prod ends the shares he received there.
BEGIN;
SELECT 'done' AS dan_out_of_prod FROM tenancy.remove_from_tenant(:'ta', :'dan');
SELECT count(*) AS dan_shares FROM tenancy.shares WHERE user_id = :'dan';
ROLLBACK;
-- Removing dan from the organization ends them too.
BEGIN;
SELECT 'done' AS dan_removed FROM tenancy.remove_member(:'acme', :'dan');
SELECT count(*) AS dan_shares FROM tenancy.shares WHERE user_id = :'dan';
ROLLBACK;
-- An owner's rights last as long as they hold a role in the tenant.
BEGIN;
SELECT 'done' AS carol_out_of_prod FROM tenancy.remove_from_tenant(:'ta', :'carol');
SELECT tenancy.has_resource_permission(:'carol', :'ta', 'docs:update', '1', :'carol') AS carol_still_owner;
ROLLBACK;
-- A deactivated user is allowed nothing, and again everything on reactivation.
BEGIN;
SELECT 'done' AS dan_deactivated FROM tenancy.deactivate_user(:'dan');
SELECT tenancy.has_resource_permission(:'dan', :'ta', 'docs:update', '1', NULL) AS dan_update_1;
SELECT 'done' AS dan_reactivated FROM tenancy.reactivate_user(:'dan');
SELECT tenancy.has_resource_permission(:'dan', :'ta', 'docs:update', '1', NULL) AS dan_update_1;
ROLLBACK;
-- Deleting the team or the tenant takes their shares.
BEGIN;
SELECT count(*) AS team_shares FROM tenancy.shares WHERE team_id = :'ops';
SELECT 'done' AS ops_deleted FROM tenancy.delete_team(:'ops');
SELECT count(*) AS team_shares FROM tenancy.shares WHERE team_id = :'ops';
SELECT 'done' AS prod_deleted FROM tenancy.delete_tenant(:'ta');
SELECT count(*) AS shares_left FROM tenancy.shares;
ROLLBACK;

--
-- Attacks on sharing.
--
SET ROLE regress_app_user;
-- Forging a share by writing pg_tenancy's tables.
SELECT atk.try(format('INSERT INTO tenancy.shares (org_id, tenant_id, resource_type, resource_id, user_id, actions) VALUES (%L, %L, ''docs'', ''2'', %L, ''{read,update,delete}'')',
                      :'acme', :'ta', :'dan')) AS forge_share;
SELECT atk.try('UPDATE tenancy.shares SET actions = ''{read,update,delete}''') AS widen_share;
SELECT atk.try('DELETE FROM tenancy.shares') AS drop_shares;
-- Calling the trigger function or writing one that calls it: it acts only
-- for the protected table of a type, so another table cannot clear shares.
RESET ROLE;
CREATE SCHEMA evil AUTHORIZATION regress_app_user;
SET ROLE regress_app_user;
CREATE TABLE evil.t (id bigint PRIMARY KEY, tenant_id uuid);
CREATE TRIGGER t AFTER DELETE ON evil.t FOR EACH ROW EXECUTE FUNCTION tenancy._forget_shares();
INSERT INTO evil.t VALUES (1, :'ta'), (4, :'ta');
DELETE FROM evil.t;
-- Claiming the resource type with a table of one's own.
SELECT atk.try('SELECT tenancy.protect(''evil.t'', resource_type => ''docs'', id_column => ''id'')') AS claim_type;
RESET ROLE;
SELECT count(*) AS shares_intact FROM tenancy.shares;
SET ROLE regress_app_user;
-- The plan's shape follows the context it was made in (the policy's owner
-- and share arms stay indexable where only owned and shared rows are
-- visible; on a table this small the tenant's index wins all the same), a
-- filter checks the policy in one call per row, and either plan answers for
-- any context.
BEGIN;
SET LOCAL tenancy.context = :'ctx_carol_ta';
EXPLAIN (COSTS OFF) SELECT body FROM app.docs;
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_dan_ta';
EXPLAIN (COSTS OFF) SELECT body FROM app.docs;
COMMIT;
PREPARE carol_shaped AS SELECT string_agg(body, ', ' ORDER BY id) FROM app.docs;
BEGIN;
SET LOCAL tenancy.context = :'ctx_carol_ta';
SET LOCAL plan_cache_mode = force_generic_plan;
EXECUTE carol_shaped;
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_dan_ta';
SET LOCAL plan_cache_mode = force_generic_plan;
EXECUTE carol_shaped;
COMMIT;
DEALLOCATE carol_shaped;
-- A share for "update" does not let its recipient take the row, and an owner
-- cannot carry a row into a tenant where it may only read.
RESET ROLE;
SELECT 'done' AS vic_views_staging FROM tenancy.assign_role('viewer', tenant => :'ta2', user_id => :'vic');
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'dan';
SELECT atk.try(format('UPDATE app.docs SET owner_id = %L WHERE id = 1', :'dan')) AS dan_takes_row_1;
ROLLBACK;
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try(format('UPDATE app.docs SET tenant_id = %L WHERE id = 4', :'ta2')) AS vic_moves_own_row_to_staging;
-- Nor give it away without "update" on the tenant (the new row must be
-- one it may update).
SELECT atk.try(format('UPDATE app.docs SET owner_id = %L WHERE id = 4', :'carol')) AS vic_gives_row_4_to_carol;
ROLLBACK;
-- Nobody shares with a team they are in (it would be sharing with oneself).
RESET ROLE;
SELECT 'done' AS carol_in_ops FROM tenancy.add_team_member(:'ops', :'carol');
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{read}'', to_team => %L)', :'ops')) AS share_with_own_team;
-- A share names the row by its id as the column prints it, whatever the
-- caller wrote; and with a current tenant, only that tenant's rows are found.
SELECT tenancy.share('docs', '0001', '{read}', to_user => :'vic') IS NOT NULL AS shared_as_0001;
COMMIT;
RESET ROLE;
SELECT resource_id FROM tenancy.shares WHERE user_id = :'vic' AND resource_type = 'docs';
SET ROLE regress_app_user;
SELECT :'alice' || '/' || :'ta2' AS ctx_alice_ta2 \gset
BEGIN;
SET LOCAL tenancy.context = :'ctx_alice_ta2';
SELECT atk.try(format('SELECT tenancy.share(''docs'', ''1'', ''{read}'', to_user => %L)', :'vic')) AS share_outside_current_tenant;
ROLLBACK;
RESET ROLE;
SELECT 'done' AS carol_leaves_ops FROM tenancy.remove_team_member(:'ops', :'carol');
SET ROLE regress_app_user;
-- A type of one's own as the id column (its casts would run inside
-- pg_tenancy's SECURITY DEFINER functions): refused; and PostgreSQL refuses
-- to change the type of a column that a policy uses.
CREATE TYPE evil.k AS ENUM ('x');
CREATE TABLE evil.k_rows (id evil.k PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT atk.try('SELECT tenancy.protect(''evil.k_rows'', id_column => ''id'')') AS protect_with_own_type;
CREATE TABLE evil.n_rows (id int PRIMARY KEY, tenant_id uuid NOT NULL);
CREATE INDEX ON evil.n_rows (tenant_id);
SELECT tenancy.protect('evil.n_rows', id_column => 'id') IS NOT NULL AS protected_with_int;
CREATE DOMAIN evil.d AS int CHECK (VALUE <> 0);
SELECT atk.try('ALTER TABLE evil.n_rows ALTER COLUMN id TYPE evil.d') AS retype_id_column;
-- pg_tenancy's audit and cache triggers cannot be attached elsewhere; a
-- partition cannot be recorded under another table's protection.
SELECT atk.try('CREATE TRIGGER a AFTER INSERT ON evil.t FOR EACH ROW EXECUTE FUNCTION tenancy._audit()') AS attach_audit;
SELECT atk.try('CREATE TRIGGER c AFTER INSERT ON evil.t FOR EACH STATEMENT EXECUTE FUNCTION tenancy._invalidate_cache()') AS attach_cache;
CREATE TABLE evil.fake (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
SELECT atk.try('SELECT tenancy._apply_protection(''evil.fake'', ''tenant_id'', ''docs'', NULL, ''id'')') AS fake_policies;
SELECT atk.try('SELECT tenancy._record_protection(''evil.fake'', ''tenant_id'', ''docs'', ''app.docs'', false, false, NULL, ''id'')') AS fake_partition;
-- A NULL permission crashes nothing.
SELECT tenancy.shared_ids(NULL, NULL::int, NULL) IS NULL AS shared_ids_of_null;
RESET ROLE;

SET ROLE regress_app_user;
-- A revoked share stops granting at once, also to a prepared statement
-- whose generic plan was made while it granted.
PREPARE dan_docs AS SELECT string_agg(body, ', ' ORDER BY id) FROM app.docs;
BEGIN;
SET LOCAL tenancy.context = :'dan';
SET LOCAL plan_cache_mode = force_generic_plan;
EXECUTE dan_docs;
EXECUTE dan_docs;
COMMIT;
RESET ROLE;
BEGIN;
SET LOCAL tenancy.context = :'carol';
SELECT tenancy.unshare('docs', '1', to_user => :'dan') AS carol_revokes;
COMMIT;
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'dan';
SET LOCAL plan_cache_mode = force_generic_plan;
EXECUTE dan_docs;
COMMIT;
-- Another user's context with the same prepared statement.
BEGIN;
SET LOCAL tenancy.context = :'erin';
EXECUTE dan_docs;
COMMIT;
DEALLOCATE dan_docs;
RESET ROLE;

--
-- A partitioned table: shares reach every partition, and go with the row.
--
SET ROLE regress_app_owner;
CREATE TABLE app.events (id bigint, tenant_id uuid NOT NULL, owner_id uuid, body text,
                         PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);
CREATE TABLE app.events_prod PARTITION OF app.events FOR VALUES IN (:'ta');
SELECT tenancy.protect('app.events', owner_column => 'owner_id', id_column => 'id');
CREATE TABLE app.events_staging PARTITION OF app.events FOR VALUES IN (:'ta2');
GRANT SELECT, UPDATE ON app.events TO regress_app_user;
GRANT SELECT ON app.events_staging TO regress_app_user;
RESET ROLE;
INSERT INTO app.events VALUES (1, :'ta', :'alice', 'prod event'), (2, :'ta2', :'alice', 'staging event'),
                              (3, :'ta', :'vic', 'vic''s prod event');
-- An owner may not carry a row into a tenant where it may only read, here
-- into another partition; the owner of the tenants may.
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try(format('UPDATE app.events SET tenant_id = %L WHERE id = 3', :'ta2')) AS vic_moves_event_to_staging;
SET LOCAL tenancy.context = :'alice';
SELECT atk.try(format('UPDATE app.events SET tenant_id = %L WHERE id = 3', :'ta2')) AS alice_moves_event_to_staging;
SELECT tableoid::regclass, body FROM app.events WHERE id = 3;
ROLLBACK;
RESET ROLE;
DELETE FROM app.events WHERE id = 3;
SELECT relid::regclass, owner_column, id_column FROM tenancy.protected_tables
WHERE resource_type = 'events' ORDER BY 1::text;
BEGIN;
SET LOCAL tenancy.context = :'alice';
SELECT tenancy.share('events', '2', '{read}', to_user => :'dan') IS NOT NULL AS alice_shares_event_2;
COMMIT;
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'dan';
SELECT body FROM app.events;
SELECT count(*) AS through_partition FROM app.events_staging;
COMMIT;
RESET ROLE;
DELETE FROM app.events_staging;
SELECT count(*) AS event_shares_left FROM tenancy.shares WHERE resource_type = 'events';
SELECT tenancy.unprotect('app.events');
SELECT count(*) AS event_triggers_left FROM pg_trigger
WHERE tgrelid IN (SELECT relid FROM pg_partition_tree('app.events')) AND tgname LIKE 'tenancy%';

-- unprotect() removes what protect() added, and the shares made on the
-- table (kept, they would grant again on whatever table is protected later
-- under that type or oid); the type it registered goes with them.
SELECT tenancy.unprotect('app.docs');
SELECT count(*) AS shares_left, (SELECT count(*) FROM tenancy.resource_types WHERE name = 'docs') AS type_left
FROM tenancy.shares WHERE resource_type = 'docs';
SELECT count(*) AS docs_triggers_left FROM pg_trigger WHERE tgrelid = 'app.docs'::regclass AND NOT tgisinternal;

-- Dropping a table takes its shares: a table made again under the same
-- name and type does not inherit them.  Dropping a partition takes the
-- shares of its rows.
SET ROLE regress_app_owner;
CREATE TABLE app.notes2 (id int PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid);
CREATE INDEX ON app.notes2 (tenant_id);
SELECT tenancy.protect('app.notes2', owner_column => 'owner_id', id_column => 'id');
CREATE TABLE app.events2 (id int, tenant_id uuid NOT NULL, PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);
CREATE TABLE app.events2_prod PARTITION OF app.events2 FOR VALUES IN (:'ta');
CREATE TABLE app.events2_staging PARTITION OF app.events2 FOR VALUES IN (:'ta2');
SELECT tenancy.protect('app.events2', id_column => 'id');
RESET ROLE;
INSERT INTO app.notes2 VALUES (1, :'ta', :'carol');
INSERT INTO app.events2 VALUES (1, :'ta'), (2, :'ta2');
BEGIN;
SET LOCAL tenancy.context = :'alice';
SELECT count(tenancy.share(t, i, '{read}', to_user => :'dan')) AS shared
FROM (VALUES ('notes2', '1'), ('events2', '1'), ('events2', '2')) v(t, i);
COMMIT;
DROP TABLE app.events2_staging;
SELECT resource_type, resource_id FROM tenancy.shares
WHERE resource_type IN ('notes2', 'events2') ORDER BY 1, 2;
DROP TABLE app.notes2, app.events2;
SELECT count(*) AS shares_of_dropped_tables FROM tenancy.shares
WHERE resource_type IN ('notes2', 'events2');

--
-- The checks of the rows an UPDATE writes (its policy's WITH CHECK, and the
-- SELECT policy on the new row), on a table with owner and id columns, with
-- a current tenant and without one, and in a generic plan made under one
-- context and run under another.  The planner asks them in one call a row;
-- each answer must be the policy's.
--
SET ROLE regress_app_owner;
CREATE TABLE app.wchk (id int PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid, body text);
CREATE INDEX ON app.wchk (tenant_id);
SELECT tenancy.protect('app.wchk', owner_column => 'owner_id', id_column => 'id');
GRANT SELECT, INSERT, UPDATE ON app.wchk TO regress_app_user;
CREATE VIEW app.wchk_view AS SELECT id, tenant_id, owner_id, body FROM app.wchk;
GRANT SELECT, UPDATE ON app.wchk_view TO regress_app_user;
RESET ROLE;
INSERT INTO app.wchk VALUES (1, :'ta', :'carol', 'carol''s'), (2, :'ta', :'vic', 'vic''s'),
                            (3, :'ta', NULL, 'nobody''s');
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'vic';
SELECT tenancy.share('wchk', '2', '{read,update}', to_user => :'dan') IS NOT NULL AS vic_shares_2_with_dan;
COMMIT;
BEGIN;
SET LOCAL tenancy.context = :'ctx_carol_ta';
SELECT atk.try('UPDATE app.wchk SET body = body || ''!'' WHERE id = 1') AS carol_edits_own_row;
SELECT atk.try('UPDATE app.wchk SET body = body || ''!'' WHERE id IN (2, 3)') AS carol_edits_others;
SELECT atk.try(format('UPDATE app.wchk SET owner_id = %L WHERE id = 1', :'vic')) AS carol_gives_row_1_away;
SELECT atk.try('UPDATE app.wchk SET id = 10 WHERE id = 1') AS carol_renumbers_own_row;
SET LOCAL tenancy.context = :'ctx_dan_ta';
SELECT atk.try('UPDATE app.wchk SET body = body || ''!'' WHERE id = 2') AS dan_edits_shared_row;
SELECT atk.try('UPDATE app.wchk SET id = 20 WHERE id = 2') AS dan_renumbers_shared_row;
SELECT atk.try(format('UPDATE app.wchk SET owner_id = %L WHERE id = 2', :'dan')) AS dan_takes_shared_row;
-- The owner guard runs before the row is written, so clearing the context
-- in RETURNING (after the row, before an AFTER trigger) cannot get round it.
SELECT atk.try(format('UPDATE app.wchk SET owner_id = %L WHERE id = 2 RETURNING tenancy.clear_context()', :'dan'))
       AS dan_takes_shared_row_clearing_context;
-- Nor by the other ways a write assigns the owner: the UPDATE of an INSERT
-- ... ON CONFLICT or of a MERGE, a multiple-column assignment, a view, a
-- generic plan made under the owner's context.
-- (ON CONFLICT needs the right to insert: carol, an editor, with a share.)
SAVEPOINT on_conflict;
SET LOCAL tenancy.context = :'vic';
SELECT tenancy.share('wchk', '2', '{read,update}', to_user => :'carol') IS NOT NULL AS vic_shares_2_with_carol;
SET LOCAL tenancy.context = :'ctx_carol_ta';
SELECT atk.try(format('INSERT INTO app.wchk VALUES (2, %L, %L, ''x'') ON CONFLICT (id) DO UPDATE SET owner_id = EXCLUDED.owner_id',
                      :'ta', :'carol')) AS carol_takes_shared_row_on_conflict;
SELECT atk.try(format('INSERT INTO app.wchk VALUES (2, %L, %L, ''x'') ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body',
                      :'ta', :'carol')) AS carol_edits_shared_row_on_conflict;
ROLLBACK TO SAVEPOINT on_conflict;
SELECT atk.try(format('MERGE INTO app.wchk w USING (VALUES (2)) s(id) ON w.id = s.id WHEN MATCHED THEN UPDATE SET owner_id = %L',
                      :'dan')) AS dan_takes_shared_row_by_merge;
SELECT atk.try(format('UPDATE app.wchk SET (body, owner_id) = (SELECT ''mine'', %L::uuid) WHERE id = 2', :'dan'))
       AS dan_takes_shared_row_multiple_assignment;
SELECT atk.try(format('UPDATE app.wchk_view SET owner_id = %L WHERE id = 2', :'dan')) AS dan_takes_shared_row_through_view;
SELECT atk.try('UPDATE app.wchk SET owner_id = NULL WHERE id = 2') AS dan_disowns_shared_row;
SELECT id, owner_id = :'vic' AS still_vics, body FROM app.wchk WHERE id = 2;
SAVEPOINT generic;
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL tenancy.context = :'vic';
PREPARE wchk_give(uuid) AS UPDATE app.wchk SET owner_id = $1 WHERE id = 2;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE wchk_give(NULL);
SET LOCAL tenancy.context = :'ctx_dan_ta';
SELECT atk.try(format('EXECUTE wchk_give(%L)', :'dan')) AS dan_takes_shared_row_generic_plan;
ROLLBACK TO SAVEPOINT generic;
DEALLOCATE wchk_give;
-- Nor by writing the guard's call himself, with old values of his own
-- choosing (anyone may execute the guard functions: the plans call them).
SELECT atk.try(format('UPDATE app.wchk SET owner_id = tenancy._guard_owner(%L, %L, NULL, ''app.wchk'', ''x'') WHERE id = 2',
                      :'dan', :'dan')) AS dan_forges_the_owner_guard;
SET LOCAL tenancy.context = :'vic';
SELECT atk.try(format('UPDATE app.wchk SET tenant_id = tenancy._guard_tenant(%L, %L, ''app.wchk'', ''wchk:create'') WHERE id = 2',
                      :'ta2', :'ta2')) AS vic_forges_the_tenant_guard;
SET LOCAL tenancy.context = :'ctx_dan_ta';
SELECT atk.try(format('SELECT tenancy._guard_owner(%L, %L, %L, NULL, NULL)', :'dan', :'vic', :'ta')) AS guard_without_table;
-- An UPDATE that assigns neither column carries no guard (nor any lock but
-- its own).
EXPLAIN (VERBOSE, COSTS OFF) UPDATE app.wchk SET body = 'x' WHERE id = 2;
SET LOCAL tenancy.context = :'dan';
SELECT atk.try('UPDATE app.wchk SET body = body || ''?'' WHERE id = 2') AS dan_edits_without_tenant;
SELECT atk.try('UPDATE app.wchk SET id = 20 WHERE id = 2') AS dan_renumbers_without_tenant;
SELECT id, body FROM app.wchk ORDER BY id;
ROLLBACK;
BEGIN;
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL tenancy.context = :'ctx_carol_ta';
PREPARE wchk_move(int, int) AS UPDATE app.wchk SET id = $2 WHERE id = $1 RETURNING id;
EXECUTE wchk_move(1, 11);
SET LOCAL tenancy.context = :'ctx_dan_ta';
EXECUTE wchk_move(11, 1);
EXECUTE wchk_move(2, 2);
-- the share names row 2, not row 12
EXECUTE wchk_move(2, 12);
ROLLBACK;
DEALLOCATE wchk_move;
RESET ROLE;
-- A restrictive policy of the table owner's own, shaped like protect()'s
-- but with one more condition on the owner's rows, is checked as written:
-- the planner never takes it for protect()'s and drops the condition.
ALTER TABLE app.wchk ADD COLUMN locked boolean NOT NULL DEFAULT false;
UPDATE app.wchk SET locked = true WHERE id = 1;
SET ROLE regress_app_owner;
CREATE POLICY wchk_unlocked ON app.wchk AS RESTRICTIVE FOR UPDATE TO PUBLIC
    USING (tenant_id OPERATOR(pg_catalog.=) ANY (tenancy.writable_tenants('wchk:update'::text))
           OR (owner_id OPERATOR(pg_catalog.=) tenancy.current_user_id()
               AND tenant_id OPERATOR(pg_catalog.=) ANY (tenancy.role_tenants())
               AND NOT locked));
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'ctx_carol_ta';
SELECT atk.try('UPDATE app.wchk SET body = body || ''!'' WHERE id = 1') AS carol_edits_locked_row;
SET LOCAL tenancy.context = :'carol';
SELECT atk.try('UPDATE app.wchk SET body = body || ''!'' WHERE id = 1') AS carol_edits_locked_row_no_tenant;
ROLLBACK;
RESET ROLE;
-- An owner column renamed since protect(): the guard has no column to check
-- by, so no write that could change an owner goes through.
ALTER TABLE app.wchk RENAME COLUMN owner_id TO owner_user;
SET ROLE regress_app_user;
BEGIN;
SET LOCAL tenancy.context = :'ctx_dan_ta';
SELECT atk.try(format('UPDATE app.wchk SET owner_user = %L WHERE id = 2', :'dan')) AS dan_takes_row_of_renamed_column;
ROLLBACK;
RESET ROLE;
DROP VIEW app.wchk_view;
DROP TABLE app.wchk;

DROP SCHEMA evil CASCADE;
DROP SCHEMA app CASCADE;
DROP SCHEMA atk CASCADE;
DROP ROLE regress_app_owner;
DROP ROLE regress_app_user;
DROP EXTENSION pg_tenancy;
