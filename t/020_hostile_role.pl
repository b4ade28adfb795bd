# The application role as an attacker, from fresh connections: what it can
# read of keys and tokens, and what it can do, with the statement it sends
# first, before the library is loaded in its backend, and after.
#
# Two servers: "lazy" loads pg_tenancy on first use, "preloaded" has it in
# shared_preload_libraries, as signed contexts require.  Signed contexts are
# on in both, with an HS256 key (the one kind of key that is a secret).
use strict;
use warnings;

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $secret = 'tap suite secret, thirty-two bytes or more of it';

sub token
{
	my ($claims, $key) = @_;
	my $h = encode_base64url('{"alg":"HS256","typ":"JWT","kid":"k1"}');
	my $p = encode_base64url($claims);
	return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", $key // $secret));
}

sub setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', qq{
		CREATE EXTENSION pg_tenancy;
		CREATE TABLE ids (name text PRIMARY KEY, id uuid NOT NULL);
		INSERT INTO ids VALUES ('alice', tenancy.create_user('alice\@tap.test'));
		INSERT INTO ids VALUES ('bob', tenancy.create_user('bob\@tap.test'));
		INSERT INTO ids VALUES ('acme', tenancy.create_organization('acme', admin => (SELECT id FROM ids WHERE name = 'alice')));
		INSERT INTO ids VALUES ('globex', tenancy.create_organization('globex', admin => (SELECT id FROM ids WHERE name = 'bob')));
		INSERT INTO ids VALUES ('ta', tenancy.create_tenant((SELECT id FROM ids WHERE name = 'acme'), 'prod'));
		INSERT INTO ids VALUES ('tb', tenancy.create_tenant((SELECT id FROM ids WHERE name = 'globex'), 'main'));
		CREATE TABLE docs (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);
		CREATE INDEX ON docs (tenant_id);
		INSERT INTO docs VALUES (1, (SELECT id FROM ids WHERE name = 'ta'), 'acme'),
		                        (2, (SELECT id FROM ids WHERE name = 'tb'), 'globex');
		SELECT tenancy.protect('docs', resource_type => 'doc');
		CREATE ROLE app LOGIN;
		CREATE ROLE app_admin LOGIN;
		CREATE ROLE tenancy_admins;
		GRANT tenancy_admins TO app_admin;
		GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO app, app_admin;
		GRANT SELECT ON ids TO app, app_admin;
		-- Granted by mistake: a lookup that asks about any user.
		GRANT EXECUTE ON FUNCTION tenancy.explain(uuid, uuid, text, text, uuid) TO app, app_admin;
		SELECT tenancy.add_signing_key('k1', 'HS256', '$secret');
		ALTER SYSTEM SET tenancy.require_signed_context = on;
		ALTER SYSTEM SET tenancy.admin_role = 'tenancy_admins';
	});
	$node->reload;
	my %id = map { split /\|/ } split /\n/,
	  $node->safe_psql('postgres', 'SELECT name || \'|\' || id FROM ids');
	return %id;
}

# Run SQL as the application role on a new connection; returns
# (exit code, stdout, stderr).
sub as_app
{
	my ($node, $sql, $role) = @_;
	my ($out, $err);
	my $rc = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 0,
		extra_params => [ '-U', $role // 'app', '-v', 'VERBOSITY=default' ]);
	return ($rc, $out, $err);
}

# The ways a non-superuser might read key material: each must show nothing
# of the secret, as the connection's first statement and once loaded.
my @key_routes = (
	[ 'current_setting', q{SELECT current_setting('tenancy.context_secret', true)} ],
	[ 'pg_settings', q{SELECT string_agg(name || '=' || setting, ',') FROM pg_settings WHERE name LIKE 'tenancy.%'} ],
	[ 'pg_db_role_setting', q{SELECT string_agg(array_to_string(setconfig, ','), ',') FROM pg_db_role_setting} ],
	[ 'signing_keys', q{SELECT key FROM tenancy.signing_keys} ],
	[ 'pg_file_settings', q{SELECT string_agg(setting, ',') FROM pg_file_settings} ]);

sub no_key_readable
{
	my ($node, $label) = @_;
	for my $load ('', 'SELECT tenancy.current_user_id();') {
		for my $route (@key_routes) {
			my ($rc, $out, $err) = as_app($node, "$load $route->[1]");
			unlike(($out // '') . ($err // ''), qr/thirty-two bytes/,
				"$label: $route->[0] shows no key " . ($load ? 'once loaded' : 'as the first statement'));
		}
	}
}

#
# A server that loads the library on first use.
#
my $lazy = PostgreSQL::Test::Cluster->new('lazy');
$lazy->init;
$lazy->start;
my %id = setup($lazy);
my $exp = time + 3600;
my $bob_token = token(qq{{"sub":"$id{bob}","tenant":"$id{tb}","exp":$exp}});

no_key_readable($lazy, 'lazy');

# Signed contexts need the preload, and say so, first statement or not.
for my $load ('', 'SELECT tenancy.current_user_id();') {
	my ($rc, $out, $err) = as_app($lazy,
		"$load BEGIN; SELECT tenancy.set_context_token('$bob_token'); SELECT count(*) FROM docs; COMMIT;");
	like($err, qr/signed contexts require pg_tenancy in shared_preload_libraries/,
		'lazy: a signed context is refused without the preload' . ($load ? ', once loaded' : ''));
}

# A token SET before the library is loaded: once loaded, SHOW does not show
# it, and it counts for nothing.
{
	my ($rc, $out, $err) = as_app($lazy,
		"SET tenancy.context = '$bob_token'; SELECT tenancy.current_user_id() IS NULL AS none; SHOW tenancy.context; SELECT count(*) FROM docs;");
	is($out, "t\n\n0", 'lazy: a token SET before the library loaded neither counts nor shows');
}

# The context a parallel query's leader hands its workers, SET by the
# application before the library is loaded (a placeholder, which anyone may
# set): once loaded it is not the application's to set, and neither the
# leader nor a worker acts on it, at session level or in the transaction
# that loads the library.
my $parallel = q{SET force_parallel_mode = on; SET parallel_leader_participation = off;
	SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;};
{
	my ($rc, $out, $err) = as_app($lazy,
		"SET tenancy.parallel_context = '$id{bob}/$id{tb}'; $parallel
		 SELECT tenancy.current_user_id() IS NULL; SELECT count(*) FROM docs;");
	is($out, "t\n0", 'lazy: tenancy.parallel_context SET before loading grants nothing in parallel workers');
	($rc, $out, $err) = as_app($lazy,
		"$parallel BEGIN; SET LOCAL tenancy.parallel_context = '$id{bob}/$id{tb}';
		 SELECT count(*) FROM docs; SELECT body FROM docs; COMMIT;");
	is($out, "0", 'lazy: nor SET LOCAL in the transaction that loads the library');
}

# A hostile token (deeply nested header) SET before the library is loaded,
# at session level and in the transaction that loads it: the connection
# stays usable.
my $nested = encode_base64url('[' x 100000) . '.' . encode_base64url('{}') . '.AAAA';
{
	my ($rc, $out, $err) = as_app($lazy,
		"SET tenancy.context = '$nested'; SELECT tenancy.current_user_id() IS NULL; SELECT 1;");
	is($out, "t\n1", 'lazy: a nested token SET before loading costs nothing');
	($rc, $out, $err) = as_app($lazy,
		"BEGIN; SET LOCAL tenancy.context = '$nested'; SELECT tenancy.current_user_id() IS NULL; COMMIT; SELECT 2;");
	is($out, "t\n2", 'lazy: the same in the transaction that loads the library');
}
# Without the preload, a GRANT sent before anything loads the library is
# not taken back; check_setup() finds it, and the missing preload.
{
	$lazy->safe_psql('postgres', 'GRANT TRUNCATE ON docs TO app');
	my $found = $lazy->safe_psql('postgres',
		"SELECT string_agg(severity || ' ' || check_name, ',' ORDER BY check_name) FROM tenancy.check_setup() WHERE check_name IN ('unsafe_grant', 'not_preloaded')");
	is($found, 'critical not_preloaded,critical unsafe_grant',
		'lazy: check_setup reports the grant and the missing preload');
	$lazy->safe_psql('postgres', 'REVOKE TRUNCATE ON docs FROM app');
}

# The owner guard (in the plans of writes that assign the owner) from fresh
# connections of the application role, in unsigned mode, the one mode that
# works without the preload: dan holds a share for "update" of alice's row
# and tries to make it his.  First a generic plan the application made
# before the library loaded (nothing loads it while a statement is planned;
# the EXECUTE that runs it does), which loading makes again.
{
	$lazy->safe_psql('postgres', 'ALTER SYSTEM SET tenancy.require_signed_context = off');
	$lazy->reload;
	my $dan = $lazy->safe_psql('postgres', qq{
		CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, owner_id uuid, body text);
		CREATE INDEX ON notes (tenant_id);
		SELECT tenancy.protect('notes', owner_column => 'owner_id', id_column => 'id');
		INSERT INTO notes VALUES (1, '$id{ta}', '$id{alice}', 'alice''s');
		GRANT SELECT, UPDATE ON notes TO app;
		SELECT tenancy.add_member('$id{acme}', tenancy.create_user('dan\@tap.test')) IS NOT NULL;
		SELECT id FROM tenancy.users WHERE email = 'dan\@tap.test';
	});
	$dan = (split /\n/, $dan)[-1];
	$lazy->safe_psql('postgres', qq{
		BEGIN;
		SELECT tenancy.set_context('$id{alice}');
		SELECT tenancy.share('notes', '1', '{read,update}', to_user => '$dan');
		COMMIT;
	});
	my ($rc, $out, $err) = as_app($lazy,
		"SET plan_cache_mode = force_generic_plan;\n"
		  . "PREPARE take(uuid) AS UPDATE notes SET owner_id = \$1 WHERE id = 1;\n"
		  . "SELECT count(*) FROM pg_settings WHERE name = 'tenancy.context';\n"
		  . "EXECUTE take(NULL);\n"
		  . "BEGIN;\nSELECT tenancy.set_context('$dan');\nEXECUTE take('$dan');\nCOMMIT;\n");
	like($out, qr/^0(\n|$)/, 'lazy: the application planned before the library loaded');
	like($err, qr/permission denied to change the owner of a row of notes/,
		'lazy: its plan gets the owner guard when the library loads');
	my %attacks = (
		update => "UPDATE notes SET owner_id = '$dan' WHERE id = 1",
		merge => "MERGE INTO notes n USING (VALUES (1)) s(id) ON n.id = s.id WHEN MATCHED THEN UPDATE SET owner_id = '$dan'",
		forged_guard => "UPDATE notes SET owner_id = tenancy._guard_owner('$dan', '$dan', NULL, 'notes', 'x') WHERE id = 1",
		disown => "UPDATE notes SET owner_id = NULL WHERE id = 1");
	for my $name (sort keys %attacks) {
		($rc, $out, $err) = as_app($lazy,
			"BEGIN;\nSELECT tenancy.set_context('$dan');\n$attacks{$name};\nROLLBACK;\n");
		like($err, qr/permission denied to change the owner of a row of notes/,
			"lazy: a fresh connection cannot take a shared row ($name)");
	}
	($rc, $out, $err) = as_app($lazy,
		"BEGIN;\nSELECT tenancy.set_context('$dan');\nUPDATE notes SET body = 'edited by dan' WHERE id = 1;\nCOMMIT;\n");
	is($err, '', 'lazy: the share still lets dan edit the row');
	is($lazy->safe_psql('postgres', "SELECT owner_id || ' ' || body FROM notes WHERE id = 1"),
		"$id{alice} edited by dan", 'lazy: and the row is still alice\'s');
	$lazy->safe_psql('postgres', 'ALTER SYSTEM SET tenancy.require_signed_context = on');
	$lazy->reload;

	# A plan cached by a session that nothing made load the library (a
	# superuser's, whom row-level security does not stop) until its context
	# was set: loading the library makes it again, with the guard.
	my $err2;
	$lazy->psql('postgres',
		"SET tenancy.require_signed_context = off; SET plan_cache_mode = force_generic_plan;\n"
		  . "PREPARE take(uuid) AS UPDATE notes SET owner_id = \$1 WHERE id = 1;\n"
		  . "EXECUTE take('$id{alice}');\n"
		  . "SELECT count(*) FROM pg_settings WHERE name = 'tenancy.context';\n"
		  . "BEGIN;\nSELECT tenancy.set_context('$id{bob}');\nEXECUTE take('$id{bob}');\nCOMMIT;\n",
		stdout => \$out, stderr => \$err2, on_error_stop => 0);
	like($out, qr/^0(\n|$)/, 'lazy: a superuser\'s plan was cached before the library loaded');
	like($err2, qr/permission denied to change the owner of a row of notes/,
		'lazy: loading the library makes that plan again, with the guard');
	is($lazy->safe_psql('postgres', "SELECT owner_id FROM notes WHERE id = 1"), $id{alice},
		'lazy: and the row keeps its owner');
}

# An error while the library loads (here a lock timeout in the context's
# check, re-applying a value SET in the loading transaction) fails that
# statement only: the next one finishes loading the library.
{
	my $holder = $lazy->background_psql('postgres');
	$holder->query_safe('BEGIN; LOCK TABLE tenancy.users IN ACCESS EXCLUSIVE MODE;');
	my ($out, $err);
	$lazy->psql('postgres',
		"SET tenancy.require_signed_context = off; SET lock_timeout = '100ms';\n"
		  . "BEGIN;\nSET LOCAL tenancy.context = '$id{alice}';\nSELECT tenancy.current_user_id();\nROLLBACK;\n"
		  . "SELECT tenancy.current_user_id() IS NULL AS loaded;\n",
		stdout => \$out, stderr => \$err, on_error_stop => 0);
	like($err, qr/lock timeout/, 'lazy: the load was interrupted by an error');
	is($out, 't', 'lazy: and the next statement of the connection works');
	$holder->query_safe('COMMIT');
	$holder->quit;
}
$lazy->stop;

#
# A server with the library preloaded.
#
my $pre = PostgreSQL::Test::Cluster->new('preloaded');
$pre->init;
$pre->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements, pg_tenancy'");
$pre->start;
$pre->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');
%id = setup($pre);
$bob_token = token(qq{{"sub":"$id{bob}","tenant":"$id{tb}","exp":$exp}});
my $alice_token = token(qq{{"sub":"$id{alice}","tenant":"$id{ta}","exp":$exp}});

no_key_readable($pre, 'preloaded');

{
	my ($rc, $out, $err) = as_app($pre,
		"BEGIN; SELECT tenancy.set_context_token('$bob_token'); SELECT string_agg(body, ',') FROM docs; COMMIT;");
	is($out, "\nglobex", 'preloaded: a valid token works');
}

# With the library loaded from the start, the setting is refused outright.
{
	my ($rc, $out, $err) = as_app($pre,
		"SET tenancy.parallel_context = '$id{bob}/$id{tb}'; $parallel SELECT count(*) FROM docs;");
	like($err, qr/permission denied to set parameter "tenancy.parallel_context"/,
		'preloaded: the application may not set tenancy.parallel_context');
	is($out, "0", 'and its parallel query sees nothing');
}

# Tokens stay private: a session-level SET, as a pooled connection's
# previous client might leave it, shows nothing to the next; in its own
# transaction SHOW gives the ids, never the token.
{
	my ($rc, $out, $err) = as_app($pre,
		"SET tenancy.context = '$bob_token'; SHOW tenancy.context; SELECT current_setting('tenancy.context');");
	is($out, "\n", 'preloaded: the next client reads nothing of a session-level token');
	like($err, qr/outside a transaction block/, 'and setting it outside a block warned');
	($rc, $out, $err) = as_app($pre,
		"BEGIN; SET LOCAL tenancy.context = '$bob_token'; SHOW tenancy.context; COMMIT;");
	is($out, "$id{bob}/$id{tb}", 'preloaded: SHOW gives the ids in force, not the token');
}

# Another session of the same role does not see the token in
# pg_stat_activity once the token is being checked, nor after.  (Between
# the statement's start and the check, a token written as a literal is in
# the text the server publishes; only a bound parameter never is.)
{
	my $victim = $pre->background_psql('postgres', extra_params => [ '-U', 'app' ]);
	$victim->query_until(qr/started/,
		"\\echo started\nBEGIN; SELECT tenancy.set_context_token('$bob_token'), pg_sleep(2);\n");
	my $sig = (split /\./, $bob_token)[2];
	my ($hidden, $seen_after) = (0, 0);
	for (1 .. 25) {
		my ($rc, $out) = as_app($pre,
			"SELECT count(*) FILTER (WHERE query LIKE '%$sig%'), count(*) FILTER (WHERE query LIKE '%hidden by pg_tenancy%') FROM pg_stat_activity WHERE usename = 'app' AND pid <> pg_backend_pid()");
		my ($s, $h) = split /\|/, $out;
		$seen_after += $s if $hidden;
		$hidden += $h;
		last if $hidden >= 5;
		select(undef, undef, undef, 0.1);
	}
	ok($hidden > 0, 'preloaded: while the token is checked and after, the statement shows as hidden');
	is($seen_after, 0, 'and no other session sees the token from then on');
	$victim->quit;
}

# pg_stat_statements, listed before pg_tenancy, keeps the text of a SET as
# written: it must get it with the token hidden.
{
	my ($rc, $out, $err) = as_app($pre,
		"BEGIN; SET LOCAL tenancy.context = '$bob_token'; SELECT count(*) FROM docs; COMMIT;");
	my $sig = (split /\./, $bob_token)[2];
	($rc, $out) = as_app($pre,
		"SELECT count(*) FILTER (WHERE query LIKE '%$sig%'), count(*) FILTER (WHERE query LIKE '%hidden by pg_tenancy%') > 0 FROM pg_stat_statements");
	is($out, '0|t', 'preloaded: pg_stat_statements keeps the SET without its token');
}

# A hostile token costs the statement, never the connection.
{
	my ($rc, $out, $err) = as_app($pre,
		"SELECT tenancy.set_context_token('$nested');\nSELECT 1;\nBEGIN;\nSELECT tenancy.set_context_token('$bob_token');\nSELECT count(*) FROM docs;\nCOMMIT;");
	like($err, qr/invalid context token/, 'preloaded: a nested token is refused');
	is($out, "1\n\n1", 'and the connection goes on');
}

# What row-level security does not cover, from a connection's first
# statement.
{
	my ($rc, $out, $err) = as_app($pre, 'BEGIN; LOCK TABLE docs IN ACCESS EXCLUSIVE MODE;');
	like($err, qr/permission denied to lock protected table/, 'preloaded: LOCK TABLE as the first statement is refused');
	($rc, $out, $err) = as_app($pre, 'BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT * FROM docs; COMMIT;');
	like($err, qr/cursors WITH HOLD over protected tables are not supported/,
		'preloaded: a holdable cursor as the first statement is refused');
	($rc, $out, $err) = as_app($pre,
		"BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; SELECT tenancy.set_context_token('$bob_token'); COMMIT; FETCH ALL FROM c;");
	like($err, qr/cannot commit a transaction that set a tenancy context after declaring a cursor WITH HOLD/,
		'preloaded: a holdable cursor declared before the context cannot commit');
	like($err, qr/cursor "c" does not exist/, 'and is gone');
}

# With signed contexts the application asks only about its context's user.
my $ask = sub {
	my ($token, $about, $role) = @_;
	my ($rc, $out, $err) = as_app($pre,
		"BEGIN; SELECT tenancy.set_context_token('$token'); "
		  . "SELECT tenancy.permissions('$id{$about}', '$id{tb}') IS NOT NULL; "
		  . "SELECT tenancy.has_resource_permission('$id{$about}', '$id{tb}', 'doc:read', '2', NULL); "
		  . "SELECT tenancy.has_permission('$id{$about}', '$id{tb}', 'doc:read'); COMMIT;", $role);
	return ($out, $err);
};
{
	my ($out, $err) = $ask->($bob_token, 'bob');
	is($out, "\nt\nt\nt", 'signed: the context user may ask about themselves');
	($out, $err) = $ask->($bob_token, 'alice');
	like($err, qr/permission denied to ask about another user/, 'signed: not about another user');
	for my $fn ('permissions', 'has_permission', 'has_resource_permission', 'explain', 'tenants_with_permission') {
		my $call = {
			permissions => "tenancy.permissions('$id{alice}', '$id{ta}')",
			has_permission => "tenancy.has_permission('$id{alice}', '$id{ta}', 'doc:read')",
			has_resource_permission => "tenancy.has_resource_permission('$id{alice}', '$id{ta}', 'doc:read', '1', NULL)",
			explain => "(SELECT count(*) FROM tenancy.explain('$id{alice}', '$id{ta}', 'doc:read'))",
			tenants_with_permission => "(SELECT count(*) FROM tenancy.tenants_with_permission('$id{alice}', 'doc:read'))",
		}->{$fn};
		$pre->safe_psql('postgres', "GRANT EXECUTE ON FUNCTION tenancy._user_tenants(uuid, text), tenancy.tenants_with_permission(uuid, text) TO app");
		my ($rc, $o, $e) = as_app($pre, "BEGIN; SELECT tenancy.set_context_token('$bob_token'); SELECT $call; COMMIT;");
		like($e, qr/permission denied to ask about another user/, "signed: $fn about another user is refused");
	}
	($out, $err) = $ask->($bob_token, 'alice', 'app_admin');
	is($out, "\nt\nf\nf", 'signed: a member of tenancy.admin_role may ask about anyone');
}

$pre->stop;
done_testing();
