# 003_crash.pl -- crashes under concurrent load lose no committed entry,
# leave no entry of an uncommitted change, and do not break a chain.
#
# pgbench runs several clients against an enrolled schema: each transaction
# increments one counter row and records the commit in a side table (and
# rolls back a savepoint in between, so that chain heads are restored on
# subtransaction abort under load).  Twice the server is killed under load:
#   1. one backend is SIGKILLed: the postmaster kills the others and
#      recovers from WAL (a crash restart);
#   2. the postmaster and every one of its children are SIGKILLed: a crash
#      of the whole server, restarted by a new postmaster.
# After each crash: verify() finds nothing, the ledger holds exactly one
# entry per committed change (counter UPDATEs, side-table INSERTs), the
# history of each counter row is 1, 2, 3, ... in seq order, every commit
# pgbench saw acknowledged is there, verify_table() agrees with the tables,
# and a signed checkpoint taken under load before the second crash still
# verifies after it.  Finally new writes continue the chains: verify() still clean.
#
# Storage (0.3): odd-numbered clients write single entries
# (notary.pack_entries = off), even-numbered ones packs, so that both
# storages and their mix in one ledger go through the crashes.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $clients = 4;
my $node    = notary_node('crash', qq{
restart_after_crash = on
max_connections = 20
log_statement = none
});


sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
CREATE EXTENSION pg_notary;
CREATE EXTENSION amcheck;
CREATE SCHEMA app;
CREATE TABLE app.counter (k int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO app.counter SELECT g, 0 FROM generate_series(1, 10) g;
CREATE TABLE app.commits (id bigserial PRIMARY KEY, k int NOT NULL, client int NOT NULL, run int NOT NULL);
SELECT notary.enable('app');
});

my $script = $node->basedir . '/load.sql';
append_to_file($script, q{
\set k random(1, 10)
SELECT set_config('notary.pack_entries', CASE WHEN :client_id % 2 = 0 THEN 'on' ELSE 'off' END, false);
BEGIN;
UPDATE app.counter SET n = n + 1 WHERE k = :k;
SAVEPOINT s;
INSERT INTO app.commits (k, client, run) VALUES (-1, :client_id, :run);
ROLLBACK TO SAVEPOINT s;
INSERT INTO app.commits (k, client, run) VALUES (:k, :client_id, :run);
COMMIT;
});

# Start pgbench in the background; returns (handle, \stdout, \stderr).
sub start_load
{
	my ($run, @opts) = @_;
	my ($out, $err) = ('', '');
	local $ENV{PGAPPNAME} = 'pgbench';
	my $h = IPC::Run::start(
		[
			'pgbench', '-n', '-c', $clients, '-j', 2, @opts, '-D', "run=$run",
			'-f', $script, '-h', $node->host, '-p', $node->port, 'postgres'
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($h, \$out, \$err);
}

# Transactions pgbench saw committed, from its summary.
sub processed
{
	my ($out) = @_;
	return $1 if $$out =~ /number of transactions actually processed: (\d+)/;
	return undef;
}

# Child processes of $pid (Linux /proc).
sub children_of
{
	my ($pid) = @_;
	my @kids;
	opendir(my $d, '/proc') or die "cannot read /proc: $!";
	for my $p (grep { /^\d+$/ } readdir $d)
	{
		open(my $f, '<', "/proc/$p/stat") or next;
		my $stat = <$f>;
		close $f;
		next unless defined $stat;
		# pid (comm) state ppid ...; comm may contain spaces or parens
		push @kids, $p if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $pid;
	}
	closedir $d;
	return @kids;
}

# Everything that must hold after a crash, for the commits of all runs.
sub check_after_crash
{
	my ($what, $acked) = @_;

	is(sql("SELECT count(*) FROM notary.verify()"), '0', "$what: verify() finds nothing");
	is(sql("SELECT count(*) FROM app.commits WHERE k < 0"), '0',
		"$what: no rolled back savepoint survived");
	is( sql("SELECT sum(n) = (SELECT count(*) FROM app.commits) FROM app.counter"),
		't', "$what: tables are consistent (sum of counters = commits)");

	# One entry per committed change, none for aborted ones.
	is( sql(q{SELECT count(*) FROM notary.entries WHERE table_name = 'counter' AND op = 'UPDATE'}),
		sql("SELECT sum(n) FROM app.counter"),
		"$what: one UPDATE entry per committed counter increment");
	is( sql(q{SELECT count(*) FROM notary.entries WHERE table_name = 'commits' AND op = 'INSERT'}),
		sql("SELECT count(*) FROM app.commits"),
		"$what: one INSERT entry per committed side-table row");
	is( sql(q{SELECT count(*) FROM notary.entries WHERE table_name = 'commits' AND (row_data->>'k')::int < 0}),
		'0', "$what: no entry of a rolled back savepoint");

	# The history of each counter row, in seq order, is 1, 2, 3, ...: the
	# global order agrees with the row-lock (commit) order.
	is( sql(q{
SELECT count(*) FROM (
  SELECT row_data->>'k' AS k, (row_data->>'n')::bigint AS n,
         row_number() OVER (PARTITION BY row_data->>'k' ORDER BY seq) AS i
    FROM notary.entries WHERE table_name = 'counter' AND op = 'UPDATE') h
 WHERE n <> i}),
		'0', "$what: each counter's history in seq order is 1, 2, 3, ...");
	is(sql("SELECT count(*) - count(DISTINCT seq) FROM notary.ledger"), '0',
		"$what: no seq was handed out twice");

	# Every commit pgbench saw acknowledged is there.
	my $n = sql("SELECT count(*) FROM app.commits");
	ok(defined $acked && $n >= $acked,
		"$what: all $acked acknowledged commits are present ($n rows)");

	is(sql("SELECT count(*) FROM notary.verify_table('app.counter')"), '0',
		"$what: verify_table(app.counter) finds nothing");
	is(sql("SELECT count(*) FROM notary.verify_table('app.commits')"), '0',
		"$what: verify_table(app.commits) finds nothing");
	ok( sql("SELECT count(*) FROM notary.ledger_entries") > 0
		  && sql("SELECT count(*) FROM notary.ledger_packs") > 0,
		"$what: the ledger holds single entries and packs");
	is( sql("SELECT 'ok' FROM (SELECT bt_index_check('notary.ledger_entries_pkey', true)) x"),
		'ok', "$what: the single entries' primary key agrees with the heap (amcheck)");
	is( sql("SELECT 'ok' FROM (SELECT bt_index_check('notary.ledger_packs_pkey', true)) x"),
		'ok', "$what: the packs' primary key agrees with the heap (amcheck)");
	# amcheck does not check BRIN indexes: summarise every range, then the
	# index must find each table's entries and each seq that a scan finds.
	sql("SELECT brin_summarize_new_values('notary.ledger_entries_table_brin')");
	my $count = "SELECT string_agg(table_id || ':' || (SELECT count(*) FROM notary.ledger_entries l WHERE l.table_id = t.table_id), ',' ORDER BY table_id) FROM notary.tables t";
	my $by_scan = sql("SET enable_bitmapscan = off; $count");
	my $by_brin = sql("SET enable_seqscan = off; $count");
	is($by_brin, $by_scan, "$what: the BRIN index finds every table's entries");
}

# --- crash 1: one backend killed, the postmaster restarts the server -------

{
	my ($h, $out, $err) = start_load(1, '-T', 120);
	$node->poll_query_until('postgres', "SELECT count(*) >= 500 FROM app.commits")
	  or die "load did not start";
	my $victim = sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND state <> 'idle' LIMIT 1")
	  || sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1");
	note("killing backend $victim");
	kill 'KILL', $victim or die "cannot kill $victim: $!";
	$h->finish;
	note("pgbench: " . (processed($out) // 'no summary') . "; stderr tail: " . substr($$err, -300));
	like($$err, qr/server closed the connection|terminating connection|connection.*lost|aborted/,
		'crash 1: pgbench clients lost their connections');
	$node->poll_query_until('postgres', 'SELECT 1', '1') or die "server did not come back";
	ok($node->log_contains('all server processes terminated; reinitializing'),
		'crash 1: the postmaster went through a crash restart');
	check_after_crash('crash 1', processed($out));
}

# --- crash 2: the postmaster and all its children killed -------------------

{
	my $acked_before = sql("SELECT count(*) FROM app.commits");
	my ($h, $out, $err) = start_load(2, '-T', 120);
	$node->poll_query_until('postgres', "SELECT count(*) >= $acked_before + 500 FROM app.commits")
	  or die "load did not start";
	# A checkpoint taken under load covers only committed entries: the crash
	# cannot take anything it covers away.
	my $held = sql("SELECT notary.checkpoint()");
	$node->poll_query_until('postgres', "SELECT count(*) >= $acked_before + 700 FROM app.commits")
	  or die "load stopped";
	my ($pm) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	my @kids = children_of($pm);
	note("killing postmaster $pm and its children @kids");
	$node->kill9;
	kill 'KILL', @kids;
	$h->finish;
	note("pgbench: " . (processed($out) // 'no summary'));
	# wait for every process of the old server to be gone
	for my $i (1 .. 100)
	{
		last unless grep { kill 0, $_ } @kids;
		select(undef, undef, undef, 0.1);
	}
	$node->start;
	cap_memory($node);
	my @recoveries = (slurp_file($node->logfile) =~ /automatic recovery in progress/g);
	is(scalar @recoveries, 2, 'crash 2: the new postmaster ran crash recovery');
	my $acked = processed($out);
	check_after_crash('crash 2', defined $acked ? $acked_before + $acked : undef);
	is( sql("SELECT coalesce(string_agg(problem || ' ' || detail, '; '), '') FROM notary.verify_checkpoint(\$cp\$$held\$cp\$::jsonb)"),
		'', 'crash 2: the checkpoint taken under load still verifies after the crash');
}

# --- after the crashes, the chains continue --------------------------------

{
	my $heads = sql("SELECT count(DISTINCT chain_id) FROM notary.ledger");
	my $before = sql("SELECT max(seq) FROM notary.ledger");
	my ($h, $out, $err) = start_load(3, '-t', 50);
	$h->finish;
	is(processed($out), 50 * $clients, 'after the crashes: new load runs to completion');
	is(sql("SELECT count(*) FROM notary.verify()"), '0', 'after the crashes: verify() still finds nothing');
	ok( sql("SELECT count(*) FROM notary.ledger l WHERE seq > $before AND chain_pos > 1
               AND EXISTS (SELECT 1 FROM notary.ledger p WHERE p.chain_id = l.chain_id AND p.chain_pos = l.chain_pos - 1 AND p.seq <= $before)"
		) > 0,
		'after the crashes: new entries continue chains written before the crashes');
	is(sql("SELECT count(*) FROM notary.verify_table('app.counter')"), '0',
		'after the crashes: verify_table(app.counter) finds nothing');
}

$node->stop;
done_testing();
