# Periodic checkpoints without a person: with pg_notary preloaded and
# notary.checkpoint_database set, the background worker takes a checkpoint
# every notary.checkpoint_interval seconds, but only when the ledger changed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('worker', qq{
shared_preload_libraries = 'pg_notary'
notary.checkpoint_database = 'postgres'
notary.checkpoint_interval = 1
});

$node->safe_psql('postgres', q{
CREATE EXTENSION pg_notary;
CREATE SCHEMA w;
CREATE TABLE w.t (id int PRIMARY KEY, v text);
SELECT notary.enable('w');
INSERT INTO w.t VALUES (1, 'a');
});

ok($node->poll_query_until('postgres',
		'SELECT count(*) >= 1 FROM notary.checkpoints'),
	'the worker takes a checkpoint of a changed ledger');

my $cp = $node->safe_psql('postgres',
	'SELECT document FROM notary.checkpoints ORDER BY checkpoint_id DESC LIMIT 1');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM notary.verify_checkpoint('$cp')"),
	'0', 'its checkpoint verifies');

# nothing changes: no new checkpoint in several intervals
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM notary.checkpoints');
sleep 4;
is($node->safe_psql('postgres', 'SELECT count(*) FROM notary.checkpoints'),
	$before, 'a quiet ledger gets no new checkpoints');

# a change: a new checkpoint, chained to the one before
$node->safe_psql('postgres', "INSERT INTO w.t VALUES (2, 'b')");
ok($node->poll_query_until('postgres',
		"SELECT count(*) > $before FROM notary.checkpoints"),
	'a change brings a new checkpoint');
is($node->safe_psql('postgres', q{
	SELECT (c.document->>'previous') = encode(p.digest, 'hex')
	  FROM notary.checkpoints c JOIN notary.checkpoints p
	    ON p.checkpoint_id = c.checkpoint_id - 1
	 ORDER BY c.checkpoint_id DESC LIMIT 1}),
	't', 'the new checkpoint names the one before it');
is($node->safe_psql('postgres', 'SELECT count(*) FROM notary.verify()'),
	'0', 'ledger and checkpoint chain verify');

# A checkpoint committed while the worker waits for the checkpoint lock:
# the worker reads in READ COMMITTED whatever default_transaction_isolation
# says, so it builds on that checkpoint instead of failing with 40001 (its
# snapshot would predate it) and exiting.
$node->safe_psql('postgres', q{ALTER SYSTEM SET default_transaction_isolation = 'repeatable read'});
$node->reload;
my $worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_notary checkpoint worker'});
my $log_offset = -s $node->logfile;
my $cps = $node->safe_psql('postgres', 'SELECT count(*) FROM notary.checkpoints');
$node->safe_psql('postgres', q{
	BEGIN ISOLATION LEVEL READ COMMITTED;
	INSERT INTO w.t VALUES (3, 'c');
	SELECT notary.checkpoint();
	SELECT pg_sleep(3);
	COMMIT;
});
sleep 2;
is($node->safe_psql('postgres', 'SELECT count(*) FROM notary.checkpoints'),
	$cps + 1, 'the checkpoint committed while the worker waited is the only new one');
unlike(slurp_file($node->logfile, $log_offset), qr/could not take a pg_notary checkpoint/,
	'the worker that waited does not fail with a serialization failure');
is($node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_notary checkpoint worker'}),
	$worker_pid, 'and keeps running');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET default_transaction_isolation');
$node->reload;

# the signing key file was created by the server, readable only by it
my $keyfile = $node->data_dir . '/pg_notary_signing.key';
ok(-f $keyfile, 'the signing key file exists in the data directory');
is((stat $keyfile)[2] & 07777, 0600, 'the signing key file has mode 0600');
my $secret = slurp_file($keyfile);
chomp $secret;
unlike($node->safe_psql('postgres', q{SELECT string_agg(line, ' ') FROM notary.export() AS line}),
	qr/$secret/, 'the secret key appears in no export');
my $pub = $node->safe_psql('postgres', 'SELECT public_key FROM notary.public_key()');
like($pub, qr/^[0-9a-f]{64}$/, 'public_key() returns 32 bytes in hex');
isnt(substr($secret, 0, 64), $pub, 'and it is not the secret key');

# a key file readable by others is refused
chmod 0644, $keyfile;
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT notary.checkpoint()');
isnt($ret, 0, 'checkpoint() refuses a key file readable by others');
like($stderr, qr/readable only by its owner/, 'with a clear message');
chmod 0600, $keyfile;

$node->stop;
done_testing();
