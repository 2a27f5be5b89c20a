# 005_upgrade.pl -- a ledger written by pg_notary 0.1, 0.2 and 0.3 survives
# ALTER EXTENSION pg_notary UPDATE (0.1 -> 0.2 -> 0.3 -> 0.4): every entry
# and checkpoint still verifies, capture goes on into the same chains (in
# 0.3 as packs, in notary.ledger_packs, after the single entries 0.1 and 0.2
# wrote, kept in notary.ledger_entries; in 0.4 hashed in format 2, after
# the format-1 entries of before), old and new entries verify together,
# tampering with any of them is still found, and what the upgrades add
# carries COMMENTs and grants nothing to PUBLIC.  (CREATE
# EXTENSION itself runs the 0.1 script and then this same upgrade chain, so
# every other test covers the fresh install.)

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('upgrade');

$node->safe_psql('postgres', 'CREATE DATABASE old_ledger');

sub sql { return $node->safe_psql($_[0], $_[1]); }

# In the INSERTed entry whose second column is $value, overwrite the start
# of $value inside its pack with $replacement (same length in bytes); the
# view must then show $shown, verify() report that entry as altered_entry,
# and, with the pack put back, nothing.
sub packed_change_is_found
{
	my ($value, $replacement, $shown, $precondition, $reported) = @_;
	my $new = sql('old_ledger',
		"SELECT seq FROM notary.ledger WHERE op = 'INSERT' AND row_image[2] = '$value'");
	my $len = length($replacement);
	sql('old_ledger', qq{
		CREATE TABLE public.saved AS SELECT * FROM notary.ledger_packs;
		ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
		UPDATE notary.ledger_packs
		   SET entries = overlay(entries PLACING convert_to('$replacement', 'UTF8')
		                 FROM position(convert_to('$value', 'UTF8') IN entries) FOR $len)
		 WHERE position(convert_to('$value', 'UTF8') IN entries) > 0;
	});
	is(sql('old_ledger', "SELECT row_image[2] FROM notary.ledger WHERE seq = $new"), $shown,
		$precondition);
	is(sql('old_ledger', 'SELECT seq || \' \' || problem FROM notary.verify()'),
		"$new altered_entry", $reported);
	sql('old_ledger', q{
		UPDATE notary.ledger_packs p SET entries = s.entries FROM public.saved s
		 WHERE p.chain_id = s.chain_id AND p.first_pos = s.first_pos;
		ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
		DROP TABLE public.saved;
	});
	is(sql('old_ledger', 'SELECT count(*) FROM notary.verify()'), '0', 'the pack restored: intact again');
	return;
}

# --- a ledger written by 0.1 ---------------------------------------------
sql('old_ledger', q{
	CREATE EXTENSION pg_notary VERSION '0.1';
	CREATE SCHEMA app;
	CREATE TABLE app.contracts (id int PRIMARY KEY, vendor text, amount numeric(14,2), nik text);
	SELECT notary.enable('app');
	INSERT INTO app.contracts SELECT g, 'vendor ' || g, g * 1000, '3201' || lpad(g::text, 12, '0')
	  FROM generate_series(1, 200) g;
	SELECT notary.classify('app.contracts', 'nik', 'identifier');
	UPDATE app.contracts SET amount = amount + 1 WHERE id % 3 = 0;
	DELETE FROM app.contracts WHERE id > 190;
});
is(sql('old_ledger', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_notary'}),
	'0.1', 'the old ledger is written by 0.1');
my $cp = sql('old_ledger', 'SELECT notary.checkpoint()');
like($cp, qr/"signature"/, 'a checkpoint signed under 0.1');
my $entries_before = sql('old_ledger', 'SELECT count(*) FROM notary.ledger');
cmp_ok($entries_before, '>', 400, "0.1 wrote $entries_before entries");

# --- upgrade to 0.2, and a ledger written by 0.2 ---------------------------
sql('old_ledger', q{ALTER EXTENSION pg_notary UPDATE TO '0.2'});
is(sql('old_ledger', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_notary'}),
	'0.2', 'ALTER EXTENSION UPDATE TO 0.2');
is(sql('old_ledger', 'SELECT count(*) FROM notary.ledger'),
	$entries_before, 'the upgrade to 0.2 neither adds nor removes ledger entries');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'verify() finds nothing in the ledger upgraded to 0.2');
is(sql('old_ledger',
		q{SELECT problem FROM notary.verify_checkpoint('} . $cp . q{'::jsonb)}),
	'', 'the checkpoint signed under 0.1 verifies under 0.2');

sql('old_ledger', q{
	INSERT INTO app.contracts VALUES (500, 'written by 0.2', 5, '3201000000000500');
	UPDATE app.contracts SET amount = amount * 2 WHERE id BETWEEN 10 AND 20;
	DELETE FROM app.contracts WHERE id = 3;
});
my $cp2 = sql('old_ledger', 'SELECT notary.checkpoint()');
like($cp2, qr/"signature"/, 'a checkpoint signed under 0.2');
my $entries_02 = sql('old_ledger', 'SELECT count(*) FROM notary.ledger');
cmp_ok($entries_02, '>=', $entries_before + 13, "0.2 wrote more entries ($entries_02 in all)");
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'verify() finds nothing in the ledger written by 0.1 and 0.2');

# --- upgrade to 0.3: packed storage -----------------------------------------
# (The library is 0.4's: with the 0.3 schema it writes what 0.3 wrote,
# format-1 entries in packs of up to 1.9 kB.)
sql('old_ledger', q{ALTER EXTENSION pg_notary UPDATE TO '0.3'});
is(sql('old_ledger', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_notary'}),
	'0.3', 'ALTER EXTENSION UPDATE TO 0.3');
is(sql('old_ledger', q{SELECT relkind FROM pg_class WHERE oid = 'notary.ledger'::regclass}),
	'v', 'notary.ledger is a view now');
is( sql('old_ledger', 'SELECT count(*) FROM notary.ledger_entries') . '/'
	  . sql('old_ledger', 'SELECT count(*) FROM notary.ledger_packs'),
	"$entries_02/0", 'the entries 0.1 and 0.2 wrote are the single entries, no pack yet');

is(sql('old_ledger', 'SELECT count(*) FROM notary.ledger'),
	$entries_02, 'the upgrade neither adds nor removes ledger entries');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'verify() finds nothing in the upgraded ledger');
for my $c ([ '0.1', $cp ], [ '0.2', $cp2 ])
{
	is(sql('old_ledger',
			q{SELECT problem FROM notary.verify_checkpoint('} . $c->[1] . q{'::jsonb)}),
		'', "the checkpoint signed under $c->[0] verifies after the upgrade");
}
is(sql('old_ledger', q{SELECT problem FROM notary.verify_table('app.contracts')}),
	'', 'verify_table() agrees after the upgrade');

# Capture goes on, in packs, and what it writes verifies with what 0.1 and
# 0.2 wrote.
sql('old_ledger', q{
	INSERT INTO app.contracts VALUES (1000, 'after upgrade', 1, '3201000000001000');
	UPDATE app.contracts SET vendor = 'renamed' WHERE id = 1;
	DELETE FROM app.contracts WHERE id = 2;
});
sql('old_ledger', q{
	BEGIN;
	INSERT INTO app.contracts VALUES (1001, 'one transaction', 1, '3201000000001001');
	UPDATE app.contracts SET amount = 7 WHERE id = 1001;
	COMMIT;
});
cmp_ok(sql('old_ledger', 'SELECT count(*) FROM notary.ledger'),
	'>=', $entries_02 + 5, 'changes after the upgrade are captured');
is(sql('old_ledger', 'SELECT count(*) FROM notary.ledger_entries'),
	$entries_02, 'capture after the upgrade writes no single entry');
cmp_ok(sql('old_ledger', 'SELECT count(*) FROM notary.ledger_packs'),
	'>=', 4, 'capture after the upgrade writes packs (one per transaction)');
is( sql('old_ledger', q{SELECT last_pos - first_pos + 1 FROM notary.ledger_packs p
	                     WHERE EXISTS (SELECT 1 FROM notary.ledger l
	                                    WHERE l.chain_id = p.chain_id AND l.chain_pos BETWEEN p.first_pos AND p.last_pos
	                                      AND l.row_image[2] = 'one transaction')}),
	'2', "a transaction's entries make one pack");
ok( sql('old_ledger', q{SELECT count(*) FROM notary.ledger_packs p JOIN notary.ledger_entries e
	                      ON e.chain_id = p.chain_id AND e.chain_pos = p.first_pos - 1}) > 0,
	'a pack continues a chain of single entries written before the upgrade');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'old single entries and new packs verify together');
for my $c ([ '0.1', $cp ], [ '0.2', $cp2 ])
{
	is(sql('old_ledger',
			q{SELECT problem FROM notary.verify_checkpoint('} . $c->[1] . q{'::jsonb)}),
		'', "the $c->[0] checkpoint is still consistent with the grown ledger");
}
is(sql('old_ledger', q{SELECT problem FROM notary.verify_table('app.contracts')}),
	'', 'verify_table() agrees after new changes');
my $cp3 = sql('old_ledger', 'SELECT notary.checkpoint()');
is(sql('old_ledger',
		q{SELECT problem FROM notary.verify_checkpoint('} . $cp3 . q{'::jsonb)}),
	'', 'a checkpoint over single entries and packs verifies');

# Tampering is still found after the upgrade, in an old single entry (the
# verification is not silently blind to pre-upgrade entries) and in a pack.
{
	my $old = sql('old_ledger', q{SELECT min(seq) FROM notary.ledger_entries WHERE op = 'INSERT'});
	sql('old_ledger', qq{
		CREATE TABLE public.saved AS SELECT * FROM notary.ledger_entries WHERE seq = $old;
		ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
		UPDATE notary.ledger_entries SET row_image[3] = '1.00' WHERE seq = $old;
	});
	is(sql('old_ledger', 'SELECT seq || \' \' || problem FROM notary.verify()'),
		"$old altered_entry", 'an altered 0.1 entry is reported after the upgrade');
	sql('old_ledger', qq{
		UPDATE notary.ledger_entries l SET row_image = s.row_image FROM public.saved s WHERE l.seq = s.seq;
		ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
		DROP TABLE public.saved;
	});
	is(sql('old_ledger', 'SELECT count(*) FROM notary.verify()'), '0', 'the old entry restored: intact again');

	packed_change_is_found('after upgrade', 'AFTER upgrade', 'AFTER upgrade',
		'precondition: the value was replaced inside the pack',
		'an altered packed entry is reported');
}

# --- upgrade to 0.4 (the default): format 2, bigger packs ------------------
is(sql('old_ledger', q{SELECT string_agg(DISTINCT get_byte(entries, 0)::text, ',') FROM notary.ledger_packs}),
	'1', 'under the 0.3 schema every pack is version 1 (format-1 entries)');
my $entries_03 = sql('old_ledger', 'SELECT count(*) FROM notary.ledger');
is(sql('old_ledger', q{SELECT default_version FROM pg_available_extensions WHERE name = 'pg_notary'}),
	'0.4', 'the default version is 0.4');
sql('old_ledger', 'ALTER EXTENSION pg_notary UPDATE');
is(sql('old_ledger', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_notary'}),
	'0.4', 'ALTER EXTENSION UPDATE reaches the default version');
is(sql('old_ledger', 'SELECT count(*) FROM notary.ledger'),
	$entries_03, 'the upgrade to 0.4 neither adds nor removes ledger entries');
is(sql('old_ledger', q{SELECT string_agg(DISTINCT format_version::text, ',') FROM notary.ledger}),
	'1', 'every entry written before 0.4 is format 1');
is(sql('old_ledger', q{SELECT array_to_string(reloptions, ',') FROM pg_class WHERE oid = 'notary.ledger_packs'::regclass}),
	'toast_tuple_target=8160', 'ledger_packs keeps packs of up to 8 kB inline');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'verify() finds nothing in the ledger upgraded to 0.4');
for my $c ([ '0.1', $cp ], [ '0.2', $cp2 ], [ '0.3', $cp3 ])
{
	is(sql('old_ledger',
			q{SELECT problem FROM notary.verify_checkpoint('} . $c->[1] . q{'::jsonb)}),
		'', "the checkpoint signed under $c->[0] verifies after the upgrade to 0.4");
}
sql('old_ledger', q{
	INSERT INTO app.contracts VALUES (2000, 'written by 0.4', 1, '3201000000002000');
	UPDATE app.contracts SET vendor = 'renamed again' WHERE id = 1;
	DELETE FROM app.contracts WHERE id = 4;
});
is(sql('old_ledger', qq{SELECT format_version || ':' || count(*) FROM notary.ledger
                        WHERE seq > (SELECT max(seq) FROM notary.ledger WHERE format_version = 1)
                        GROUP BY format_version}),
	'2:3', 'capture after the upgrade to 0.4 writes format-2 entries');
is(sql('old_ledger', q{SELECT count(*) FROM notary.ledger_packs WHERE get_byte(entries, 0) = 2}),
	'3', 'in packs of version 2, one per transaction');
ok( sql('old_ledger', q{SELECT count(*) FROM notary.ledger n JOIN notary.ledger o
	                      ON o.chain_id = n.chain_id AND o.chain_pos = n.chain_pos - 1
	                     WHERE n.format_version = 2 AND o.format_version = 1}) > 0,
	'a format-2 entry continues a chain of format-1 entries');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'format-1 and format-2 entries verify together');
is(sql('old_ledger', q{SELECT problem FROM notary.verify_table('app.contracts')}),
	'', 'verify_table() agrees after changes under 0.4');
# 0.4 numbers the rows of a statement from blocks of 32 (docs/format.md,
# "The order of entries"): the first block after the update starts right
# after the last number the sequence gave under INCREMENT BY 1.
is(sql('old_ledger', q{SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'notary.ledger_seq'::regclass}),
	'32', 'the upgrade to 0.4 makes notary.ledger_seq count in steps of 32');
my $max_before = sql('old_ledger', 'SELECT max(seq) FROM notary.ledger');
# (LOAD first: a session that loads the library inside a statement gives
# that statement's rows a number each; see sql/seq_blocks)
sql('old_ledger', q{LOAD 'pg_notary'; INSERT INTO app.contracts
	SELECT g, 'block ' || g, 1, '3201000000' || g FROM generate_series(3001, 3010) g});
is(sql('old_ledger', qq{SELECT count(*) || ':' || (max(seq) - min(seq)) || ':' || (min(seq) > $max_before)
	                       FROM notary.ledger WHERE seq > $max_before}),
	'10:9:true', 'a 10-row INSERT after the upgrade takes 10 consecutive numbers, after every earlier entry');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'and the ledger still verifies');
for my $c ([ '0.1', $cp ], [ '0.2', $cp2 ], [ '0.3', $cp3 ])
{
	is(sql('old_ledger',
			q{SELECT problem FROM notary.verify_checkpoint('} . $c->[1] . q{'::jsonb)}),
		'', "the $c->[0] checkpoint is still consistent with the ledger grown under 0.4");
}
my $cp4 = sql('old_ledger', 'SELECT notary.checkpoint()');
is(sql('old_ledger',
		q{SELECT problem FROM notary.verify_checkpoint('} . $cp4 . q{'::jsonb)}),
	'', 'a checkpoint over entries of both formats verifies');
# a format-2 entry changed inside its pack is found
packed_change_is_found('written by 0.4', 'WRITTEN', 'WRITTEN by 0.4',
	'precondition: the value was replaced inside the version-2 pack',
	'an altered format-2 entry is reported');

# --- what the upgrade created is documented and closed ---------------------
# Every member of the extension carries a COMMENT (\df+ and \d+ are how a
# DBA reads the docs) and grants nothing to PUBLIC.
my $members = q{
	SELECT pg_describe_object(d.classid, d.objid, 0) AS what, d.classid, d.objid
	  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_notary'
	   AND d.deptype = 'e'};
is( sql('old_ledger', "SELECT string_agg(what, ', ' ORDER BY what) FROM ($members) m
	                      WHERE what IN ('table notary.publications', 'table notary.ledger_entries',
	                                     'table notary.ledger_packs', 'view notary.ledger',
	                                     'function notary.ledger_rows()')"),
	'function notary.ledger_rows(), table notary.ledger_entries, table notary.ledger_packs, table notary.publications, view notary.ledger',
	'objects the upgrades create become members of the extension');
is(sql('old_ledger', qq{
	SELECT string_agg(what, ', ' ORDER BY what) FROM ($members) m
	 WHERE classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_event_trigger'::regclass)
	   AND obj_description(objid, classid::regclass::text) IS NULL
	   AND NOT (classid = 'pg_class'::regclass
	            AND (SELECT relkind FROM pg_class WHERE oid = objid) IN ('i', 't'))}),
	'', 'every function, table, view, sequence and event trigger of the extension has a COMMENT');
is(sql('old_ledger', qq!
	SELECT string_agg(what, ', ' ORDER BY what) FROM ($members) m
	 WHERE (classid = 'pg_proc'::regclass
	        AND (SELECT proacl IS NULL OR proacl::text ~ '(^|[{,])=' FROM pg_proc WHERE oid = objid))
	    OR (classid = 'pg_class'::regclass
	        AND (SELECT relkind NOT IN ('i', 't') AND (relacl IS NULL OR relacl::text ~ '(^|[{,])=')
	               FROM pg_class WHERE oid = objid))!),
	'', 'no function, table, view or sequence of the extension is open to PUBLIC');

# The guard triggers of the ledger's tables fire in every session mode.
is(sql('old_ledger', q{
	SELECT string_agg(tgrelid::regclass::text || ' ' || tgname, ', ' ORDER BY 1)
	  FROM pg_trigger
	 WHERE tgrelid IN ('notary.ledger_entries'::regclass, 'notary.ledger_packs'::regclass,
	                   'notary.layouts'::regclass, 'notary.checkpoints'::regclass)
	   AND tgenabled <> 'A'}),
	'', 'after the upgrade every guard trigger of the tables is still ENABLE ALWAYS');
is(sql('old_ledger', q{SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('notary.ledger_entries'::regclass, 'notary.ledger_packs'::regclass)}),
	'4', 'ledger_entries and ledger_packs each have their two guards');
# ... and so does the view's (its UPDATE and DELETE are refused with
# NT001 under session_replication_role = replica too).
is(sql('old_ledger', q{
	SELECT string_agg(tgname || '=' || tgenabled::text, ', ') FROM pg_trigger
	 WHERE tgrelid = 'notary.ledger'::regclass}),
	'ledger_append_only=A', "the view's guard trigger is ENABLE ALWAYS");

done_testing();
