# A cached decision on a hot standby follows the primary: grant on the
# primary, cache the answer in a standby session, revoke on the primary, and
# the same standby session is denied once the revoke is replayed.  Then the
# primary restarts under a session that had the answer cached.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;

$primary->safe_psql('postgres', q{
    CREATE EXTENSION pg_tenancy;
    SELECT tenancy.register_resource_type('doc');
    CREATE TABLE ids (name text PRIMARY KEY, id uuid NOT NULL);
    INSERT INTO ids VALUES ('admin', tenancy.create_user('admin@tap.test'));
    INSERT INTO ids VALUES ('bob', tenancy.create_user('bob@tap.test'));
    INSERT INTO ids VALUES ('org', tenancy.create_organization('tap', admin => (SELECT id FROM ids WHERE name = 'admin')));
    INSERT INTO ids VALUES ('prod', tenancy.create_tenant((SELECT id FROM ids WHERE name = 'org'), 'prod'));
    SELECT tenancy.add_member(o.id, u.id) FROM ids o, ids u WHERE o.name = 'org' AND u.name = 'bob';
    SELECT tenancy.assign_role('viewer', tenant => t.id, user_id => u.id)
    FROM ids t, ids u WHERE t.name = 'prod' AND u.name = 'bob';

    CREATE TABLE docs (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);
    CREATE INDEX ON docs (tenant_id);
    INSERT INTO docs SELECT g, (SELECT id FROM ids WHERE name = 'prod'), 'doc ' || g
    FROM generate_series(1, 10) g;
    SELECT tenancy.protect('docs', resource_type => 'doc');
    CREATE ROLE tap_app;
    GRANT SELECT ON docs TO tap_app;
});

my ($bob, $prod) = split /\|/,
  $primary->safe_psql('postgres',
	"SELECT (SELECT id FROM ids WHERE name = 'bob') || '|' || (SELECT id FROM ids WHERE name = 'prod')");

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay');

my $revoke = "SELECT tenancy.revoke_role('viewer', tenant => '$prod', user_id => '$bob')";
my $grant = "SELECT tenancy.assign_role('viewer', tenant => '$prod', user_id => '$bob')";

# A long-lived standby session, inside one read-only transaction, asking
# through a prepared statement (which looks up no names, so only
# pg_tenancy's own handling of invalidations can notice the change).
my $session = $standby->background_psql('postgres');
$session->query_safe(
	"PREPARE bob_reads AS SELECT tenancy.has_permission('$bob', '$prod', 'doc:read')");
$session->query_safe("BEGIN");
is($session->query_safe("EXECUTE bob_reads"), 't', 'the standby session allows bob');
is($session->query_safe("EXECUTE bob_reads"), 't', 'and again, from its cache');
ok($session->query_safe("SELECT hits > 0 FROM tenancy.cache_stats()") eq 't',
	'the answer came from the cache');

$primary->safe_psql('postgres', $revoke);
$primary->wait_for_catchup($standby, 'replay');
is($session->query_safe("EXECUTE bob_reads"), 'f',
	'the same standby session denies bob once the revoke is replayed');
$session->query_safe("COMMIT");

# The protected table on the standby, through the context.
sub bob_counts_docs
{
	# As an ordinary role: the superuser this test connects as bypasses RLS.
	$session->query_safe("BEGIN");
	$session->query_safe("SET LOCAL ROLE tap_app");
	$session->query_safe("SELECT tenancy.set_context('$bob')");
	my $n = $session->query_safe("SELECT count(*) FROM docs");
	$session->query_safe("COMMIT");
	return $n;
}
is(bob_counts_docs(), '0', 'bob sees no rows on the standby after the revoke');

$primary->safe_psql('postgres', $grant);
$primary->wait_for_catchup($standby, 'replay');
is($session->query_safe("EXECUTE bob_reads"), 't', 'the grant reaches the standby session too');
is(bob_counts_docs(), '10', 'bob sees his tenant\'s rows on the standby again');

$primary->safe_psql('postgres', $revoke);
$primary->wait_for_catchup($standby, 'replay');
is($session->query_safe("SELECT tenancy.has_permission('$bob', '$prod', 'doc:read')"),
	'f', 'a plain statement on the standby is denied after the revoke as well');
$session->quit;

# A restart of the primary under a session that had the answer cached.
$primary->safe_psql('postgres', $grant);
my $psession = $primary->background_psql('postgres');
is($psession->query_safe("SELECT tenancy.has_permission('$bob', '$prod', 'doc:read')"),
	't', 'a primary session caches the grant');
$primary->restart;
$psession->reconnect_and_clear;
is($psession->query_safe("SELECT tenancy.has_permission('$bob', '$prod', 'doc:read')"),
	't', 'after the restart the reconnected session still allows bob');
$primary->safe_psql('postgres', $revoke);
is($psession->query_safe("SELECT tenancy.has_permission('$bob', '$prod', 'doc:read')"),
	'f', 'and is denied right after the next revoke');
$psession->quit;

# The standby followed the restarted primary.
$primary->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', "SELECT tenancy.has_permission('$bob', '$prod', 'doc:read')"),
	'f', 'the standby agrees after the primary restarted');

$standby->stop;
$primary->stop;
done_testing();
