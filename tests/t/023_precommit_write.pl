# A captured change made after pg_notary stored the transaction's entries at
# pre-commit (by another extension's pre-commit callback that runs after
# pg_notary's) can no longer be recorded.  It must be refused, aborting the
# transaction with the change, never committed without its entry (before:
# a WARNING and the change committed unrecorded; with the relations left
# open, the next write crashed the server).  The other extension is the
# test module tests/modules/precommit_writer, built here and loaded by path.
# Callbacks registered later run earlier: loaded before pg_notary, its
# callback runs after pg_notary's; loaded after, before it (and the change
# is then captured and stored normally).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $moddir = "$FindBin::RealBin/../modules/precommit_writer";
my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
system('make', '-s', '-C', $moddir, "PG_CONFIG=$pg_config") == 0
  or BAIL_OUT('could not build tests/modules/precommit_writer');
my $module = "$moddir/precommit_writer.so";
ok(-f $module, 'the test module is built');

my $node = notary_node('precommit_write', '');
$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text);
SELECT notary.enable('app');
});

# A fresh session: the module's callback is registered before pg_notary is
# loaded (by the capture trigger), so it runs after pg_notary's pre-commit.
my ($ret, $out, $err) = $node->psql('postgres', qq{
LOAD '$module';
BEGIN;
SET LOCAL precommit_writer.sql = 'INSERT INTO app.t VALUES (99, ''late'')';
INSERT INTO app.t VALUES (1, 'in the transaction');
COMMIT;
});
like($err, qr/pg_notary cannot record a change made while its transaction commits/,
	'a captured change after pre-commit is refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.t'), '0',
	'... and the transaction aborted with it: neither row was committed');

# The same session goes on writing normally afterwards.
($ret, $out, $err) = $node->psql('postgres', qq{
LOAD '$module';
BEGIN;
SET LOCAL precommit_writer.sql = 'INSERT INTO app.t VALUES (98, ''late'')';
INSERT INTO app.t VALUES (2, 'refused');
COMMIT;
INSERT INTO app.t VALUES (3, 'after');
INSERT INTO app.t VALUES (4, 'after, again');
}, on_error_stop => 0);
like($err, qr/pg_notary cannot record a change made while its transaction commits/,
	'refused again in a session that goes on');
is($node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM app.t'),
	'3,4', 'the next transactions of that session are captured and committed');

# Loaded after pg_notary: the module's callback runs first, and its change
# is captured and stored with the transaction.
($ret, $out, $err) = $node->psql('postgres', qq{
INSERT INTO app.t VALUES (5, 'loads pg_notary first');
LOAD '$module';
BEGIN;
SET LOCAL precommit_writer.sql = 'INSERT INTO app.t VALUES (97, ''early'')';
INSERT INTO app.t VALUES (6, 'in the transaction');
COMMIT;
});
is($ret, 0, 'a change made by a callback that runs before pg_notary\'s commits');
is($node->safe_psql('postgres', q{
	SELECT string_agg(row_image[1], ',' ORDER BY seq) FROM notary.ledger
	 WHERE op = 'INSERT'}),
	'3,4,5,6,97', 'every committed row has its entry, the callback\'s included');
is($node->safe_psql('postgres', 'SELECT count(*) FROM notary.verify()'), '0', 'verify() is clean');
is($node->safe_psql('postgres', q{SELECT count(*) FROM notary.verify_table('app.t')}), '0',
	'verify_table() is clean: nothing was committed without its entry');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
