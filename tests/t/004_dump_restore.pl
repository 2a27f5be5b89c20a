# 004_dump_restore.pl -- a database with an enrolled schema and a populated
# ledger survives pg_dump and restore (custom format with pg_restore, and
# plain SQL with psql, parallel pg_restore -j 2, and pg_restore --schema-only
# followed by --data-only), as a superuser, into new databases:
#   - every ledger entry, layout, table and schema registration comes back
#     byte for byte (pg_extension_config_dump), the packs of
#     notary.ledger_packs and the single entries of notary.ledger_entries
#     too (the source holds both: one session writes with
#     notary.pack_entries = off), and so do the sequences (a new entry's
#     seq is above every restored one);
#   - verify() and verify_table() find nothing in the restored database;
#   - capture, enrolment of new tables and the guards work there;
#   - whatever the restore itself writes to the ledger is DDL on the
#     restored tables (the capture triggers being re-created), never a row.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('dump');


sub sql { my ($db, $q) = @_; return $node->safe_psql($db, $q); }

# --- a populated source database ------------------------------------------

$node->safe_psql('postgres', 'CREATE DATABASE src');
sql('src', q{
CREATE EXTENSION pg_notary;
CREATE SCHEMA app;
CREATE TYPE app.state AS ENUM ('open', 'closed');
CREATE TABLE app.tender (
    id      int PRIMARY KEY,
    title   text NOT NULL,
    value   numeric(14, 2),
    due     timestamptz,
    state   app.state DEFAULT 'open',
    doc     bytea
);
CREATE TABLE app.log (msg text);              -- no primary key
INSERT INTO app.tender VALUES
  (1, 'bridge', 1000000.00, '2024-03-01 10:00+07', 'open', '\x0102'),
  (2, 'school', 250000.50, '2024-04-01 10:00+07', 'open', NULL);
INSERT INTO app.log VALUES ('created'), ('created');
SELECT notary.enable('app');
UPDATE app.tender SET value = value * 1.1 WHERE id = 1;
INSERT INTO app.tender VALUES (3, 'road', 5.00, '2024-05-01 00:00+00', 'closed', '\x');
DELETE FROM app.tender WHERE id = 2;
ALTER TABLE app.tender ADD COLUMN note text;  -- DDL entry and a new baseline
UPDATE app.tender SET note = 'amended' WHERE id = 3;
CREATE TABLE app.later (id int PRIMARY KEY, v text);  -- enrolled by the event trigger
INSERT INTO app.later VALUES (1, 'a'), (2, 'b');
TRUNCATE app.log;
INSERT INTO app.log VALUES ('after truncate');
});

# Two sessions open at once write to two different chains, one of them
# single entries.
{
	my $a = $node->background_psql('src');
	my $b = $node->background_psql('src');
	$a->query_safe("SET notary.pack_entries = off");
	$a->query_safe("INSERT INTO app.later VALUES (10, 'session a')");
	$b->query_safe("INSERT INTO app.later VALUES (20, 'session b')");
	$a->query_safe("UPDATE app.later SET v = 'a again' WHERE id = 10");
	$b->query_safe("UPDATE app.later SET v = 'b again' WHERE id = 20");
	$a->quit;
	$b->quit;
}

my $held = sql('src', 'SELECT notary.checkpoint()');    # kept by the auditor
sql('src', "INSERT INTO app.later VALUES (30, 'after the checkpoint')");
is(sql('src', 'SELECT count(*) FROM notary.verify()'), '0', 'source: verify() finds nothing');
ok(sql('src', 'SELECT count(DISTINCT chain_id) FROM notary.ledger') >= 2,
	'source: the ledger has several chains');
ok(sql('src', 'SELECT count(*) FROM notary.ledger_entries') > 0 && sql('src', 'SELECT count(*) FROM notary.ledger_packs') > 0,
	'source: the ledger holds single entries and packs');
is(sql('src', q{SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM pg_extension, unnest(extconfig) c
                 WHERE extname = 'pg_notary' AND c::regclass::text IN ('notary.ledger_entries', 'notary.ledger_packs')}),
	'notary.ledger_entries,notary.ledger_packs', 'source: pg_dump is told to dump the single entries and the packs');
# The packs of the source, by (chain_id, first_pos): a restore adds packs
# of its own (DDL), which the fingerprint leaves out.
my $src_packs = sql('src', q{SELECT string_agg(format('(%s,%s)', chain_id, first_pos), ',') FROM notary.ledger_packs});

# Fingerprints of everything pg_notary keeps, and of the application data.
my %fp = (
	ledger  => 'SELECT count(*) || \' \' || md5(string_agg(l::text, E\'\n\' ORDER BY seq)) FROM notary.ledger l WHERE seq <= %MAX%',
	hashes  => 'SELECT md5(string_agg(encode(entry_hash, \'hex\'), \',\' ORDER BY chain_id, chain_pos)) FROM notary.ledger WHERE seq <= %MAX%',
	entries => 'SELECT count(*) || \' \' || md5(string_agg(l::text, E\'\n\' ORDER BY seq)) FROM notary.ledger_entries l WHERE seq <= %MAX%',
	packs   => 'SELECT count(*) || \' \' || md5(string_agg(p::text, E\'\n\' ORDER BY chain_id, first_pos)) FROM notary.ledger_packs p WHERE (chain_id, first_pos) IN (%PACKS%)',
	layouts => 'SELECT count(*) || \' \' || md5(string_agg(y::text, E\'\n\' ORDER BY layout_id)) FROM notary.layouts y',
	tables  => 'SELECT md5(string_agg(t::text, E\'\n\' ORDER BY table_id)) FROM notary.tables t',
	schemas => 'SELECT md5(string_agg(s::text, E\'\n\' ORDER BY schema_name)) FROM notary.schemas s',
	data    => 'SELECT md5((SELECT string_agg(t::text, \',\' ORDER BY id) FROM app.tender t) || (SELECT string_agg(l::text, \',\' ORDER BY id) FROM app.later l))',
);
my $src_max = sql('src', 'SELECT max(seq) FROM notary.ledger');
my %src_fp;
for my $k (keys %fp)
{
	(my $q = $fp{$k}) =~ s/%MAX%/$src_max/g;
	$q =~ s/%PACKS%/$src_packs/g;
	$src_fp{$k} = sql('src', $q);
}
my $src_ops = sql('src', 'SELECT string_agg(DISTINCT op, \',\') FROM notary.ledger');
note("source ledger: $src_max entries, ops $src_ops");

# --- dump, and restore in three ways ----------------------------------------

my $dump_c = $node->basedir . '/src.dump';
my $dump_p = $node->basedir . '/src.sql';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump_c, '-d', $node->connstr('src') ],
	'pg_dump -Fc of the source database');
$node->command_ok([ 'pg_dump', '-f', $dump_p, '-d', $node->connstr('src') ],
	'pg_dump (plain) of the source database');
like(slurp_file($dump_p), qr/^COPY notary\.ledger_packs \(/m, 'the plain dump holds the packs');
like(slurp_file($dump_p), qr/^COPY notary\.ledger_entries \(/m, '... and the single entries');

# The source keeps working after being dumped.
sql('src', "INSERT INTO app.later VALUES (99, 'after dump')");

$node->safe_psql('postgres', 'CREATE DATABASE dst_c; CREATE DATABASE dst_p; CREATE DATABASE dst_j; CREATE DATABASE dst_s;');
{
	my ($ret, $out, $err) = run_cmd(
		[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_c'), $dump_c ]);
	ok($ret, 'pg_restore into a new database succeeds') or diag("stderr:\n$err");
	is($err, '', 'pg_restore reports no error or warning');
}
# A parallel or two-step restore loads pg_notary's own tables in no fixed
# order relative to the application's rows and triggers, so it is run as
# docs/operations.md says: with notary.restore_mode on, so that neither the
# capture triggers nor the event triggers write into the ledger meanwhile.
{
	local $ENV{PGOPTIONS} = '-c notary.restore_mode=on';
	my ($ret, $out, $err) = run_cmd(
		[ 'pg_restore', '--exit-on-error', '-j', '2', '-d', $node->connstr('dst_j'), $dump_c ]);
	ok($ret, 'parallel pg_restore (-j 2) into a new database succeeds') or diag("stderr:\n$err");
	is($err, '', 'parallel pg_restore reports no error or warning');
}
{
	# Two steps, as for a migration: the schema first, then the data.  The
	# capture triggers exist (ENABLE ALWAYS) while the application's rows are
	# loaded, before pg_notary's own tables are.
	local $ENV{PGOPTIONS} = '-c notary.restore_mode=on';
	my ($ret1, $out1, $err1) = run_cmd(
		[ 'pg_restore', '--schema-only', '-d', $node->connstr('dst_s'), $dump_c ]);
	my ($ret2, $out2, $err2) = run_cmd(
		[ 'pg_restore', '--data-only', '-d', $node->connstr('dst_s'), $dump_c ]);
	ok($ret1 && $ret2, 'pg_restore --schema-only, then --data-only, succeeds')
	  or diag("stderr:\n$err1$err2");
	is($err1 . $err2, '', 'two-step pg_restore reports no error or warning');
}
{
	my ($ret, $out, $err) = run_cmd(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst_p'), '-f', $dump_p ]);
	ok($ret, 'psql restore of the plain dump into a new database succeeds') or diag("stderr:\n$err");
	unlike($err, qr/ERROR|WARNING/, 'psql restore reports no error or warning');
}

sub run_cmd
{
	my ($cmd) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run($cmd, '>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

# --- the restored databases -----------------------------------------------

for my $db (qw(dst_c dst_p dst_j dst_s))
{
	for my $k (sort keys %fp)
	{
		(my $q = $fp{$k}) =~ s/%MAX%/$src_max/g;
		$q =~ s/%PACKS%/$src_packs/g;
	$q =~ s/%PACKS%/$src_packs/g;
		is(sql($db, $q), $src_fp{$k}, "$db: $k identical to the source");
	}

	# What the restore wrote itself, if anything: only DDL of the restored
	# tables (re-created capture triggers), never a row image.
	my $extra = sql($db,
		"SELECT coalesce(string_agg(op || ' ' || coalesce(detail->>'command', '') || ' ' || coalesce(detail->>'object', '')
		                            || coalesce(' capture ' || (detail->>'capture'), ''), '; ' ORDER BY seq), '')
		   FROM notary.ledger WHERE seq > $src_max");
	note("$db: entries written by the restore: " . ($extra eq '' ? 'none' : $extra));
	is(sql($db, "SELECT count(*) FROM notary.ledger WHERE seq > $src_max AND (op <> 'DDL' OR row_image IS NOT NULL)"),
		'0', "$db: the restore wrote no row entries");

	is(sql($db, 'SELECT count(*) FROM notary.verify()'), '0', "$db: verify() finds nothing");
	is(sql($db, 'SELECT count(*) - count(DISTINCT seq) FROM notary.ledger'), '0',
		"$db: no seq appears twice") or diag(sql($db, "SELECT string_agg(seq || ':' || chain_id || '/' || chain_pos || ' ' || op, ', ' ORDER BY seq, chain_id) FROM notary.ledger"));
	my $vc = sql($db, "SELECT string_agg(problem, ',' ORDER BY problem) FROM notary.verify_checkpoint(\$cp\$$held\$cp\$::jsonb)");
	note("$db: verify_checkpoint(checkpoint taken in the source) says: $vc");
	unlike($vc, qr/entries_missing|history_rewritten|checkpoint_mismatch|unknown_checkpoint/,
		"$db: the source's checkpoint finds the restored history complete and unchanged");
	for my $t (qw(app.tender app.log app.later))
	{
		is(sql($db, "SELECT count(*) FROM notary.verify_table('$t')"), '0',
			"$db: verify_table($t) finds nothing");
	}
	is( sql($db, "SELECT string_agg(op || ':' || coalesce(after->>'note', '-'), ',' ORDER BY seq) FROM notary.history('app.tender', '3')"),
		'INSERT:-,SNAPSHOT:-,UPDATE:amended',
		"$db: history(app.tender, 3) reads as in the source");

	is( sql($db, "SELECT string_agg(c.relname || '.' || t.tgname || '=' || t.tgenabled::text, ',' ORDER BY c.relname, t.tgname)
                    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                   WHERE c.relnamespace = 'app'::regnamespace AND NOT t.tgisinternal"),
		'later.notary_capture=A,later.notary_capture_truncate=A,log.notary_capture=A,log.notary_capture_truncate=A,tender.notary_capture=A,tender.notary_capture_truncate=A',
		"$db: capture triggers restored ENABLE ALWAYS");
	is( sql($db, "SELECT string_agg(evtname || '=' || evtenabled::text, ',' ORDER BY evtname) FROM pg_event_trigger"),
		'notary_ddl_end=A,notary_ddl_start=A,notary_sql_drop=A,notary_table_rewrite=A',
		"$db: event triggers ENABLE ALWAYS");

	# Capture continues, with sequences past the restored values.
	my $max = sql($db, 'SELECT max(seq) FROM notary.ledger');
	sql($db, "INSERT INTO app.tender (id, title) VALUES (4, 'restored db insert')");
	is( sql($db, "SELECT op || ' ' || (row_data->>'id') FROM notary.entries WHERE seq > $max"),
		'INSERT 4', "$db: a new INSERT is captured");
	ok(sql($db, "SELECT min(seq) FROM notary.ledger WHERE seq > $max") > $src_max,
		"$db: the new entry's seq is above every restored seq");
	sql($db, "CREATE TABLE app.newer (id int PRIMARY KEY); INSERT INTO app.newer VALUES (1);");
	is( sql($db, "SELECT (SELECT table_id FROM notary.tables WHERE table_name = 'newer') > (SELECT max(table_id) FROM notary.tables WHERE table_name <> 'newer')"),
		't', "$db: a new table is enrolled with a new table_id");
	is( sql($db, "SELECT (SELECT max(layout_id) FROM notary.layouts WHERE table_name = 'newer') > (SELECT max(layout_id) FROM notary.layouts WHERE table_name <> 'newer')"),
		't', "$db: ... and a new layout_id");
	is(sql($db, "SELECT count(*) FROM notary.entries WHERE table_name = 'newer' AND op = 'INSERT'"),
		'1', "$db: the new table is captured");
	is(sql($db, 'SELECT count(*) FROM notary.verify()'), '0', "$db: verify() still finds nothing");
	is(sql($db, "SELECT count(*) FROM notary.verify_table('app.tender')"), '0',
		"$db: verify_table(app.tender) still finds nothing");

	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\nDELETE FROM notary.ledger");
	like($err, qr/ERROR:  NT001:/, "$db: the ledger guard works");
	for my $t (qw(ledger_entries ledger_packs))
	{
		($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\nDELETE FROM notary.$t");
		like($err, qr/ERROR:  NT001:/, "$db: the guard of notary.$t works");
	}
	($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\nDROP EXTENSION pg_notary");
	like($err, qr/ERROR:  NT003:/, "$db: DROP EXTENSION is refused");
}

# The source is untouched by all this.
is(sql('src', 'SELECT count(*) FROM notary.verify()'), '0', 'source: verify() still finds nothing');

$node->stop;
done_testing();
