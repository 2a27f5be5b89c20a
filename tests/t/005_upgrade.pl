# 005_upgrade.pl -- a ledger written by pg_notary 0.1 survives
# ALTER EXTENSION pg_notary UPDATE: every entry and checkpoint still
# verifies, capture goes on into the same chains, tampering with an old
# entry is still found, and what the upgrade adds carries COMMENTs and
# grants nothing to PUBLIC.  (CREATE EXTENSION itself runs the 0.1 script
# and then this same upgrade chain, so every other test covers the fresh
# install.)

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

# --- upgrade ---------------------------------------------------------------
sql('old_ledger', 'ALTER EXTENSION pg_notary UPDATE');
is(sql('old_ledger', q{SELECT extversion FROM pg_extension WHERE extname = 'pg_notary'}),
	'0.2', 'ALTER EXTENSION UPDATE reaches the default version');

is(sql('old_ledger', 'SELECT count(*) FROM notary.ledger'),
	$entries_before, 'the upgrade neither adds nor removes ledger entries');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'verify() finds nothing in the upgraded ledger');
is(sql('old_ledger',
		q{SELECT problem FROM notary.verify_checkpoint('} . $cp . q{'::jsonb)}),
	'', 'the checkpoint signed under 0.1 verifies after the upgrade');
is(sql('old_ledger', q{SELECT problem FROM notary.verify_table('app.contracts')}),
	'', 'verify_table() agrees after the upgrade');

# Capture goes on, and what it writes verifies with what 0.1 wrote.
sql('old_ledger', q{
	INSERT INTO app.contracts VALUES (1000, 'after upgrade', 1, '3201000000001000');
	UPDATE app.contracts SET vendor = 'renamed' WHERE id = 1;
	DELETE FROM app.contracts WHERE id = 2;
});
cmp_ok(sql('old_ledger', 'SELECT count(*) FROM notary.ledger'),
	'>=', $entries_before + 3, 'changes after the upgrade are captured');
is(sql('old_ledger', q{SELECT problem || ': ' || detail FROM notary.verify()}),
	'', 'old and new entries verify together');
is(sql('old_ledger',
		q{SELECT problem FROM notary.verify_checkpoint('} . $cp . q{'::jsonb)}),
	'', 'the old checkpoint is still consistent with the grown ledger');
is(sql('old_ledger', q{SELECT problem FROM notary.verify_table('app.contracts')}),
	'', 'verify_table() agrees after new changes');

# Tampering is still found after the upgrade (the verification is not
# silently blind to pre-upgrade entries).
sql('old_ledger', q{
	ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only;
	UPDATE notary.ledger SET row_image[3] = '1.00'
	 WHERE seq = (SELECT min(seq) FROM notary.ledger WHERE op = 'INSERT');
	ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
});
like(sql('old_ledger', 'SELECT string_agg(problem, \',\') FROM notary.verify()'),
	qr/altered_entry/, 'an altered 0.1 entry is reported after the upgrade');

# --- what the upgrade created is documented and closed ---------------------
# Every member of the extension carries a COMMENT (\df+ and \d+ are how a
# DBA reads the docs) and grants nothing to PUBLIC.
my $members = q{
	SELECT pg_describe_object(d.classid, d.objid, 0) AS what, d.classid, d.objid
	  FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
	 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'pg_notary'
	   AND d.deptype = 'e'};
is(sql('old_ledger', "SELECT count(*) FROM ($members) m WHERE what = 'table notary.publications'"), '1',
	'objects the upgrade creates become members of the extension');
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
	 WHERE tgrelid IN ('notary.ledger'::regclass, 'notary.layouts'::regclass, 'notary.checkpoints'::regclass)
	   AND tgenabled <> 'A'}),
	'', 'after the upgrade every guard trigger is still ENABLE ALWAYS');

done_testing();
