# 001_bypasses.pl -- every known bypass of the threat model
# (docs/threat-model.md, "Known bypasses") is refused, recorded in the
# ledger, or reported by verification.  In the manner of contrib/amcheck's
# t/001_verify_heapam.pl: history is damaged on purpose, and each finding is
# asserted by problem and position.
#
# Roles: the bootstrap superuser of the test cluster ("superuser" below),
# alice (owns app.owned, no other privilege) and auditor (notary_auditor).
# autovacuum is off so that consecutive connections get the same backend id
# and therefore write to the same chain; the forgery test below relies on it.
#
# Storage (0.3): notary.ledger is a view over notary.ledger_entries (one
# entry per row) and notary.ledger_packs (the entries of one transaction
# packed into one row).  Capture packs by default; the tampering with single
# entries below is done on entries written with notary.pack_entries = off,
# and section (e) tampers with the packed bytes themselves.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('bypasses');


# --- helpers ---------------------------------------------------------------

# Run SQL as the superuser (or as $user); die on error.
sub sql
{
	my ($q, $user) = @_;
	return $node->safe_psql('postgres', $q,
		defined $user ? (extra_params => [ '-U', $user ]) : ());
}

# Assert that $q fails with SQLSTATE $state (run as $user, or the superuser).
sub refused
{
	my ($q, $state, $name, $user) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$q",
		on_error_stop => 1,
		defined $user ? (extra_params => [ '-U', $user ]) : ());
	ok($ret != 0 && $err =~ /ERROR:  $state:/, $name)
	  or diag("expected SQLSTATE $state; exit $ret, stderr:\n$err");
}

# notary.verify() as "seq|problem" lines, "" when the ledger is intact.
sub verify
{
	return sql(
		"SELECT seq, problem FROM notary.verify() ORDER BY seq NULLS FIRST, problem"
	);
}

# notary.verify() with details (for messages and detail assertions).
sub verify_full
{
	return sql(
		"SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify() ORDER BY seq NULLS FIRST, problem"
	);
}

# notary.verify_checkpoint() of a held checkpoint document, as
# "problem|chain_id|position|detail" lines.
sub verify_checkpoint
{
	my ($doc) = @_;
	return sql("SELECT problem, chain_id, position, detail FROM notary.verify_checkpoint(\$cp\$$doc\$cp\$::jsonb)");
}

# notary.verify_table() as "problem|row_key" lines, or "ERROR: ..." when it
# fails (it is written in parallel; until it exists these assertions fail).
sub verify_table
{
	my ($tbl) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT problem, row_key FROM notary.verify_table('$tbl') ORDER BY seq NULLS LAST, problem, row_key"
	);
	return $ret == 0 ? $out : "ERROR: $err";
}

# Does a verify_table() line report $problem for the row with key $key?
# (row_key is formatted by verify_table; accept "2", "(2)", "{2}", "id=2".)
sub finding_re
{
	my ($problem, $key) = @_;
	return qr/^\Q$problem\E\|[^|\n]*(?<![0-9])\Q$key\E(?![0-9])[^|\n]*$/m;
}

# Number of ledger entries of $op for table $tbl (schema.table).
sub n_entries
{
	my ($tbl, $op) = @_;
	my ($s, $t) = split /\./, $tbl;
	return sql(
		"SELECT count(*) FROM notary.ledger l JOIN notary.tables t USING (table_id)
		  WHERE t.schema_name = '$s' AND t.table_name = '$t' AND l.op = '$op'");
}

# The detail of the last DDL entry of $tbl, as text.
sub last_ddl
{
	my ($tbl) = @_;
	my ($s, $t) = split /\./, $tbl;
	return sql(
		"SELECT l.detail::text FROM notary.ledger l JOIN notary.tables t USING (table_id)
		  WHERE t.schema_name = '$s' AND t.table_name = '$t' AND l.op = 'DDL'
		  ORDER BY l.seq DESC LIMIT 1");
}

sub max_seq { return sql("SELECT coalesce(max(seq), 0) FROM notary.ledger"); }

sub nlines { my @l = split /\n/, $_[0]; return scalar @l; }

# --- setup -----------------------------------------------------------------

sql(q{
CREATE EXTENSION pg_notary;
CREATE ROLE alice LOGIN;
CREATE ROLE auditor LOGIN IN ROLE notary_auditor;
CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO alice;
});
for my $t (qw(owned t_dis t_all t_drop t_evt t_rep t_trunc t_copy t_tail t_forge))
{
	sql("CREATE TABLE app.$t (id int PRIMARY KEY, v text);
	     INSERT INTO app.$t SELECT g, 'row ' || g FROM generate_series(1, 3) g;");
}
sql(q{
ALTER TABLE app.owned OWNER TO alice;
CREATE TABLE app.t_copy2 (id int PRIMARY KEY, v text, amount numeric, at timestamptz);
});
is(sql("SELECT notary.enable('app')"), '11', 'enable() enrolls every table of the schema');
is(sql("SELECT count(*) FROM notary.ledger WHERE op = 'SNAPSHOT'"),
	'30', 'baseline: one SNAPSHOT entry per existing row');
is(verify(), '', 'fresh ledger verifies');

# --- the table owner (not a superuser) cannot get around capture ----------

{
	my ($ret, $out, $err) = $node->psql(
		'postgres',
		"INSERT INTO app.owned VALUES (4, 'by alice'); UPDATE app.owned SET v = 'changed' WHERE id = 1;",
		extra_params => [ '-U', 'alice' ]);
	is($ret, 0, 'table owner can write her enrolled table')
	  or diag("stderr: $err");
}
is(n_entries('app.owned', 'INSERT') . '/' . n_entries('app.owned', 'UPDATE'),
	'1/1', "the owner's INSERT and UPDATE are captured");

my @owner_bypasses = (
	[ 'ALTER TABLE app.owned DISABLE TRIGGER notary_capture', 'DISABLE TRIGGER notary_capture' ],
	[ 'ALTER TABLE app.owned DISABLE TRIGGER notary_capture_truncate', 'DISABLE TRIGGER notary_capture_truncate' ],
	[ 'ALTER TABLE app.owned DISABLE TRIGGER ALL', 'DISABLE TRIGGER ALL' ],
	[ 'ALTER TABLE app.owned DISABLE TRIGGER USER', 'DISABLE TRIGGER USER' ],
	[ 'ALTER TABLE app.owned ENABLE TRIGGER notary_capture', 'ENABLE (origin only) TRIGGER notary_capture' ],
	[ 'ALTER TABLE app.owned ENABLE REPLICA TRIGGER notary_capture', 'ENABLE REPLICA TRIGGER notary_capture' ],
	[ 'ALTER TRIGGER notary_capture ON app.owned RENAME TO x', 'ALTER TRIGGER notary_capture RENAME' ],
	[ 'DROP TRIGGER notary_capture ON app.owned', 'DROP TRIGGER notary_capture' ],
	[ 'DROP TRIGGER notary_capture_truncate ON app.owned', 'DROP TRIGGER notary_capture_truncate' ],
	[ "BEGIN; ALTER TABLE app.owned DISABLE TRIGGER notary_capture; UPDATE app.owned SET v = 'quiet' WHERE id = 2; ALTER TABLE app.owned ENABLE ALWAYS TRIGGER notary_capture; COMMIT;",
	  'disable, write, re-enable in one transaction' ],
);
for my $b (@owner_bypasses)
{
	refused($b->[0], 'NT002', "table owner: $b->[1] is refused (NT002)", 'alice');
}
is( sql("SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger
          WHERE tgrelid = 'app.owned'::regclass AND NOT tgisinternal"),
	'notary_capture=A,notary_capture_truncate=A',
	'after the refusals both capture triggers are intact and ENABLE ALWAYS');
is(sql("SELECT v FROM app.owned WHERE id = 2"), 'row 2', 'the refused transaction changed nothing');
refused('SET session_replication_role = replica', '42501',
	'table owner cannot set session_replication_role', 'alice');

# The owner may add her own triggers and indexes: capture still records the
# row as finally written (AFTER trigger), and the DDL itself is recorded.
sql(q{CREATE FUNCTION public.rewrite() RETURNS trigger LANGUAGE plpgsql
      AS $$BEGIN NEW.v := 'rewritten by trigger'; RETURN NEW; END$$;});
sql("CREATE TRIGGER aa_rewrite BEFORE UPDATE ON app.owned FOR EACH ROW EXECUTE FUNCTION public.rewrite()", 'alice');
like(last_ddl('app.owned'), qr/"command": "CREATE TRIGGER"/, 'CREATE TRIGGER on an enrolled table is recorded');
sql("UPDATE app.owned SET v = 'typed by alice' WHERE id = 3", 'alice');
is( sql("SELECT row_data->>'v' FROM notary.entries WHERE table_name = 'owned' AND op = 'UPDATE' ORDER BY seq DESC LIMIT 1"),
	'rewritten by trigger', 'capture records the row as written, after every BEFORE trigger');
sql("CREATE INDEX owned_v ON app.owned (v)");
like(last_ddl('app.owned'), qr/"command": "CREATE INDEX"/, 'CREATE INDEX on an enrolled table is recorded');
sql("DROP TRIGGER aa_rewrite ON app.owned", 'alice');
is(verify_table('app.owned'), '', 'verify_table(app.owned): the owner\'s changes all agree with the ledger');

# --- a superuser disabling capture is recorded, and what they change then
#     is reported by verify_table() -----------------------------------------

sql("ALTER TABLE app.t_dis DISABLE TRIGGER notary_capture");
like(last_ddl('app.t_dis'), qr/"capture": "disabled"/,
	'superuser DISABLE TRIGGER notary_capture is recorded with capture "disabled"');
sql("UPDATE app.t_dis SET v = 'changed while disabled' WHERE id = 2");
is(n_entries('app.t_dis', 'UPDATE'), '0', 'the UPDATE made while disabled left no entry');
sql("ALTER TABLE app.t_dis ENABLE ALWAYS TRIGGER notary_capture");
unlike(last_ddl('app.t_dis'), qr/"capture"/, 're-enabling is recorded, capture no longer flagged');
{
	my $vt = verify_table('app.t_dis');
	like($vt, finding_re('row_differs', 2),
		'verify_table: row_differs for the row changed while capture was disabled');
	unlike($vt, finding_re('row_differs', 1), 'verify_table: row 1 not reported');
	unlike($vt, finding_re('row_differs', 3), 'verify_table: row 3 not reported');
}

sql("ALTER TABLE app.t_all DISABLE TRIGGER ALL");
like(last_ddl('app.t_all'), qr/"capture": "disabled"/,
	'superuser DISABLE TRIGGER ALL is recorded with capture "disabled"');
sql("DELETE FROM app.t_all WHERE id = 3; INSERT INTO app.t_all VALUES (7, 'sneaked in')");
sql("ALTER TABLE app.t_all ENABLE ALWAYS TRIGGER notary_capture; ALTER TABLE app.t_all ENABLE ALWAYS TRIGGER notary_capture_truncate;");
{
	my $vt = verify_table('app.t_all');
	like($vt, finding_re('row_missing', 3),
		'verify_table: row_missing for the row deleted while capture was disabled');
	like($vt, finding_re('row_not_in_ledger', 7),
		'verify_table: row_not_in_ledger for the row inserted while capture was disabled');
}

sql("DROP TRIGGER notary_capture ON app.t_drop");
like(last_ddl('app.t_drop'), qr/"capture": "missing"/,
	'superuser DROP TRIGGER notary_capture is recorded with capture "missing"');
like(last_ddl('app.t_drop'), qr/"command": "DROP TRIGGER"/, '... as a DROP TRIGGER');
sql("UPDATE app.t_drop SET v = 'changed without trigger' WHERE id = 2");
is(n_entries('app.t_drop', 'UPDATE'), '0', 'the UPDATE made without the trigger left no entry');
like(verify_table('app.t_drop'), finding_re('row_differs', 2),
	'verify_table: row_differs for the row changed while the trigger was dropped');

# A superuser can also silence the event triggers first; then dropping the
# capture trigger is not recorded, but the change is still detected.
sql(q{
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
ALTER EVENT TRIGGER notary_sql_drop DISABLE;
DROP TRIGGER notary_capture ON app.t_evt;
UPDATE app.t_evt SET v = 'changed in the dark' WHERE id = 2;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
ALTER EVENT TRIGGER notary_sql_drop ENABLE ALWAYS;
});
is(n_entries('app.t_evt', 'DDL') . '/' . n_entries('app.t_evt', 'UPDATE'),
	'0/0', 'with the event triggers disabled, nothing was recorded');
like(verify_table('app.t_evt'), finding_re('row_differs', 2),
	'verify_table: row_differs even when the trigger drop went unrecorded');

# --- session_replication_role = replica does not stop capture -------------

{
	my $before = max_seq();
	sql(q{
SET session_replication_role = replica;
INSERT INTO app.t_rep VALUES (4, 'replica insert');
UPDATE app.t_rep SET v = 'replica update' WHERE id = 1;
DELETE FROM app.t_rep WHERE id = 2;
});
	is( sql("SELECT string_agg(l.op || ':' || (e.row_data->>'id'), ',' ORDER BY l.seq)
               FROM notary.ledger l JOIN notary.entries e USING (seq)
              WHERE l.seq > $before"),
		'INSERT:4,UPDATE:1,DELETE:2',
		'replica role: INSERT, UPDATE and DELETE are captured');
	sql("SET session_replication_role = replica; TRUNCATE app.t_rep;");
	is(n_entries('app.t_rep', 'TRUNCATE'), '3', 'replica role: TRUNCATE is captured (3 rows)');
	sql("SET session_replication_role = replica; ALTER TABLE app.t_rep DISABLE TRIGGER notary_capture;");
	like(last_ddl('app.t_rep'), qr/"capture": "disabled"/,
		'replica role: DISABLE TRIGGER is still recorded (event triggers ENABLE ALWAYS)');
	sql("ALTER TABLE app.t_rep ENABLE ALWAYS TRIGGER notary_capture");
}

# --- TRUNCATE records every removed row -----------------------------------

{
	my $before = max_seq();
	# The rolled back TRUNCATE must leave no entry and must not break the
	# chain of the session that continues after it.
	sql(q{
BEGIN; TRUNCATE app.t_trunc; ROLLBACK;
INSERT INTO app.t_trunc VALUES (4, 'row 4');
TRUNCATE app.t_trunc;
});
	is( sql("SELECT string_agg(e.op || ':' || (e.row_data->>'id') || ':' || (e.row_data->>'v'), ',' ORDER BY e.row_data->>'id')
               FROM notary.entries e WHERE e.seq > $before AND e.op = 'TRUNCATE'"),
		'TRUNCATE:1:row 1,TRUNCATE:2:row 2,TRUNCATE:3:row 3,TRUNCATE:4:row 4',
		'TRUNCATE: one entry with the full image per removed row, none for the rolled back one');
	is(verify(), '', 'ledger intact after a rolled back and a committed TRUNCATE');
}

# --- COPY is captured ------------------------------------------------------

{
	my $before = max_seq();
	sql("COPY app.t_copy FROM STDIN;\n10\tcopied ten\n11\tcopied eleven\n\\.\n");
	my $file = $node->basedir . '/copy.csv';
	PostgreSQL::Test::Utils::append_to_file($file,
		"20,file row,12.50,2024-03-01 10:00:00+07\n21,,0,\n");
	chmod 0644, $file;
	sql("COPY app.t_copy2 FROM '$file' WITH (FORMAT csv)");
	is( sql("SELECT string_agg(e.op || ':' || e.table_name || ':' || (e.row_data->>'id'), ',' ORDER BY e.seq)
               FROM notary.entries e WHERE e.seq > $before"),
		'INSERT:t_copy:10,INSERT:t_copy:11,INSERT:t_copy2:20,INSERT:t_copy2:21',
		'COPY FROM STDIN and COPY FROM a file are captured row by row');
	is( sql("SELECT row_data->>'at' FROM notary.entries WHERE seq > $before AND row_data->>'id' = '20'"),
		'2024-03-01 03:00:00+00',
		'the COPYed timestamptz is stored in canonical (UTC) form');
}

# --- DROP EXTENSION is refused --------------------------------------------

refused('DROP EXTENSION pg_notary', 'NT003', 'DROP EXTENSION pg_notary is refused (NT003)');
refused('DROP EXTENSION IF EXISTS pg_notary CASCADE', 'NT003',
	'DROP EXTENSION IF EXISTS ... CASCADE is refused');
refused('DROP EXTENSION plpgsql, pg_notary', 'NT003', 'DROP EXTENSION with a list is refused');
refused('SET session_replication_role = replica; DROP EXTENSION pg_notary', 'NT003',
	'DROP EXTENSION is refused under session_replication_role = replica');
# Dropping the schema takes the extension (and the whole ledger) with it.
refused('BEGIN; DROP SCHEMA notary CASCADE; ROLLBACK;', 'NT003',
	'DROP SCHEMA notary CASCADE (which drops the extension) is refused');
is(sql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_notary'"), '1',
	'the extension is still installed');

# --- nobody edits the ledger directly -------------------------------------

# Entries written with notary.pack_entries = off are single rows, as in 0.2
# (the tampering below uses them; the guards of notary.ledger_entries need
# rows to fire on).
sql("SET notary.pack_entries = off;
     INSERT INTO app.t_copy VALUES (12, 'single 12'); INSERT INTO app.t_copy VALUES (13, 'single 13');
     INSERT INTO app.t_copy VALUES (14, 'single 14');");
is( sql("SELECT count(*) FROM notary.ledger_entries e JOIN notary.tables t USING (table_id)
          WHERE t.table_name = 't_copy' AND e.row_image[1] IN ('12', '13', '14')"),
	'3', 'notary.pack_entries = off: each entry is a single row of notary.ledger_entries');
ok(sql("SELECT count(*) FROM notary.ledger_packs") > 0, 'by default capture writes packs');
# Only a superuser may store entries as single rows: once pg_notary is
# loaded in her session (by a write of her table), alice cannot set it, and
# a value set before is not taken.
refused("INSERT INTO app.owned VALUES (5, 'by alice'); SET notary.pack_entries = off", '42501',
	'only a superuser may set notary.pack_entries', 'alice');
sql("SET notary.pack_entries = off; INSERT INTO app.owned VALUES (6, 'by alice')", 'alice');
is( sql("SELECT count(*) FROM notary.ledger_entries e JOIN notary.tables t USING (table_id)
          WHERE t.table_name = 'owned' AND e.row_image[1] = '6'") . '/'
	  . sql("SELECT count(*) FROM notary.entries WHERE table_name = 'owned' AND row_data->>'id' = '6'"),
	'0/1', "alice's notary.pack_entries = off, set before pg_notary was loaded, is not taken");
# The entry format (0.4) likewise: superuser only, and 1 or 2.
refused("INSERT INTO app.owned VALUES (7, 'by alice'); SET notary.entry_format = 1", '42501',
	'only a superuser may set notary.entry_format', 'alice');
refused('SELECT notary.canonical(1); SET notary.entry_format = 3', '22023',
	'notary.entry_format takes 1 or 2, not 3');

# notary.ledger is a view: UPDATE and DELETE through it are refused by its
# INSTEAD OF trigger, TRUNCATE by PostgreSQL itself.  The tables that store
# the entries refuse all three.
my %a_column = (ledger => 'table_id', ledger_entries => 'table_id', ledger_packs => 'chain_id', layouts => 'table_id');
for my $tbl (qw(ledger ledger_entries ledger_packs layouts))
{
	my $col = $a_column{$tbl};
	refused("UPDATE notary.$tbl SET $col = $col", 'NT001',
		"superuser: UPDATE notary.$tbl is refused (NT001)");
	refused("DELETE FROM notary.$tbl", 'NT001',
		"superuser: DELETE FROM notary.$tbl is refused (NT001)");
	if ($tbl eq 'ledger')
	{
		refused("TRUNCATE notary.$tbl", '42809', "superuser: TRUNCATE notary.$tbl is refused (42809, a view)");
	}
	else
	{
		refused("TRUNCATE notary.$tbl", 'NT001', "superuser: TRUNCATE notary.$tbl is refused (NT001)");
	}
	refused("SET session_replication_role = replica; DELETE FROM notary.$tbl", 'NT001',
		"superuser under replica role: DELETE FROM notary.$tbl is refused (NT001)");
	refused("SET session_replication_role = replica; UPDATE notary.$tbl SET $col = $col", 'NT001',
		"superuser under replica role: UPDATE notary.$tbl is refused (NT001)");
}
for my $user (qw(alice auditor))
{
	for my $q ('UPDATE notary.ledger SET op = op', 'DELETE FROM notary.ledger',
		'INSERT INTO notary.ledger SELECT * FROM notary.ledger LIMIT 1',
		'UPDATE notary.ledger_entries SET op = op', 'DELETE FROM notary.ledger_entries',
		'TRUNCATE notary.ledger_entries',
		'INSERT INTO notary.ledger_entries SELECT * FROM notary.ledger_entries LIMIT 1',
		'UPDATE notary.ledger_packs SET entries = entries', 'DELETE FROM notary.ledger_packs',
		'TRUNCATE notary.ledger_packs',
		'INSERT INTO notary.ledger_packs SELECT * FROM notary.ledger_packs LIMIT 1')
	{
		refused($q, '42501', "$user: $q is refused (42501)", $user);
	}
	# alice has no USAGE on schema notary; the auditor has, and learns that
	# a view cannot be truncated
	my $state = $user eq 'alice' ? '42501' : '42809';
	refused('TRUNCATE notary.ledger', $state, "$user: TRUNCATE notary.ledger is refused ($state)", $user);
}
is(sql("SELECT count(*) FROM notary.verify()", 'auditor'), '0', 'the auditor role can run verify()');
is(verify(), '', 'ledger intact before tampering');

# --- a superuser who turns the guard off: detection ------------------------

refused('ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only', '42809',
	'the guard of the view notary.ledger cannot be turned off (42809)');
sql("ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only");
sql("ALTER TABLE notary.layouts DISABLE TRIGGER layouts_append_only");
is( sql("SELECT detail->>'object' FROM notary.ledger WHERE op = 'DDL' ORDER BY seq DESC LIMIT 1"),
	'notary.layouts', 'turning the guard off is itself recorded');
is( sql("SELECT detail->>'object' FROM notary.ledger WHERE op = 'DDL' ORDER BY seq DESC LIMIT 1 OFFSET 1"),
	'notary.ledger_entries', '... for both tables');

# (a) content edited, hash left alone: altered_entry at exactly that seq
# (a single entry, written with notary.pack_entries = off above).
{
	my $victim = sql("SELECT min(e.seq) FROM notary.entries e WHERE e.table_name = 't_copy' AND e.op = 'INSERT'
	                     AND e.seq IN (SELECT seq FROM notary.ledger_entries)");
	sql("CREATE TABLE public.saved AS SELECT * FROM notary.ledger_entries WHERE seq = $victim");
	sql("UPDATE notary.ledger_entries SET row_image[2] = 'forged' WHERE seq = $victim");
	is(sql("SELECT row_image[2] FROM notary.ledger WHERE seq = $victim"), 'forged',
		'precondition: the view shows the edited image');
	is(verify(), "$victim|altered_entry", 'edited row image: altered_entry at exactly that seq');

	sql("UPDATE notary.ledger_entries l SET row_image = s.row_image FROM public.saved s WHERE l.seq = s.seq");
	is(verify(), '', 'the original image restored: intact again');

	sql("UPDATE notary.ledger_entries SET session_user_name = 'someone_else' WHERE seq = $victim");
	is(verify(), "$victim|altered_entry", 'edited metadata (who): altered_entry');
	sql("UPDATE notary.ledger_entries l SET session_user_name = s.session_user_name FROM public.saved s WHERE l.seq = s.seq");

	sql("UPDATE notary.ledger_entries SET logged_at = logged_at - interval '1 day' WHERE seq = $victim");
	is(verify(), "$victim|altered_entry", 'edited metadata (when): altered_entry');
	sql("UPDATE notary.ledger_entries l SET logged_at = s.logged_at FROM public.saved s WHERE l.seq = s.seq");

	sql("UPDATE notary.layouts SET column_names[2] = 'w' WHERE table_name = 't_copy'");
	like(verify_full(), qr/^\|\|\|altered_layout\|.*t_copy/m, 'edited layout: altered_layout');
	sql("UPDATE notary.layouts SET column_names[2] = 'v' WHERE table_name = 't_copy'");
	is(verify(), '', 'intact again');
	sql("DROP TABLE public.saved");
}

# (b) an entry deleted from the middle of a chain: missing_entry naming it.
{
	my $row = sql(
		"SELECT seq || ' ' || chain_id || ' ' || chain_pos FROM notary.ledger_entries l
		  WHERE chain_pos > 1 AND EXISTS (SELECT 1 FROM notary.ledger n WHERE n.chain_id = l.chain_id AND n.chain_pos = l.chain_pos + 1)
		  ORDER BY seq LIMIT 1 OFFSET 1");
	my ($seq, $chain, $pos) = split / /, $row;
	my $next_seq = sql("SELECT seq FROM notary.ledger WHERE chain_id = $chain AND chain_pos = $pos + 1");
	sql("CREATE TABLE public.saved AS SELECT * FROM notary.ledger_entries WHERE seq = $seq;
	     DELETE FROM notary.ledger_entries WHERE seq = $seq;");
	my $v = verify_full();
	is(nlines($v), 1, 'deleted entry: exactly one finding') or diag($v);
	like($v, qr/^$next_seq\|$chain\|@{[$pos + 1]}\|missing_entry\|.*\bposition $pos of chain $chain\b/,
		'deleted entry: missing_entry at the next entry, naming the missing position');
	sql("INSERT INTO notary.ledger_entries SELECT * FROM public.saved; DROP TABLE public.saved;");
	is(verify(), '', 'the entry put back: intact again');
}

# A forged entry copied onto a new chain does not verify (the hash binds
# seq, chain and position).
{
	sql("INSERT INTO notary.ledger SELECT seq, 999, chain_pos, prev_hash, entry_hash, op, xid, logged_at,
	       session_user_name, current_user_name, application_name, client_addr, table_id, layout_id,
	       row_image, row_salts, old_digest, detail
	     FROM notary.ledger WHERE chain_pos = 1 ORDER BY seq LIMIT 1");
	is(sql("SELECT count(*) FROM notary.ledger_entries WHERE chain_id = 999"), '1',
		'an INSERT into the view notary.ledger stores a single entry');
	like(verify_full(), qr/^\d+\|999\|1\|altered_entry\|/m, 'an entry replayed onto another chain: altered_entry');
	sql("DELETE FROM notary.ledger_entries WHERE chain_id = 999");
	is(verify(), '', 'intact again');
}

# (c) tail truncation: the newest entries of a chain deleted.  verify() alone
# cannot see this (docs/threat-model.md, "Tail truncation"); a signed
# checkpoint taken before and held outside the database can, and so can
# verify_table() for rows whose entries went.
{
	sql("SET notary.pack_entries = off; INSERT INTO app.t_tail VALUES (9, 'row 9'); INSERT INTO app.t_tail VALUES (11, 'row 11');");
	my $held = sql("SELECT notary.checkpoint()");    # the auditor keeps this
	is(verify_checkpoint($held), '', 'a fresh checkpoint verifies');
	my ($chain, $pos) = split / /, sql(
		"SELECT chain_id || ' ' || chain_pos FROM notary.entries WHERE table_name = 't_tail' AND row_data->>'id' = '9'");
	my $tail_end = sql("SELECT max(chain_pos) FROM notary.ledger WHERE chain_id = $chain");
	sql("DELETE FROM notary.ledger_entries WHERE chain_id = $chain AND chain_pos >= $pos");
	is(sql("SELECT count(*) FROM notary.ledger WHERE chain_id = $chain AND chain_pos >= $pos"), '0',
		'precondition: the chain\'s tail is gone');
	is(verify(), '', 'verify() alone does not see the newest entries of a chain deleted (documented limit)');
	like(verify_checkpoint($held), qr/^entries_missing\|$chain\|\d+\|/m,
		'the held checkpoint reports entries_missing for the truncated chain');
	my $vt = verify_table('app.t_tail');
	like($vt, finding_re('row_not_in_ledger', 9), 'verify_table: row 9, whose entry was truncated away, is row_not_in_ledger');
	like($vt, finding_re('row_not_in_ledger', 11), 'verify_table: so is row 11');

	# The chain continues from the shortened head; writing as many entries as
	# were deleted rewrites the chain's history consistently (in packs now).
	sql("INSERT INTO app.t_tail VALUES (100, 'rewrite')");
	is( sql("SELECT chain_id || ' ' || chain_pos FROM notary.ledger ORDER BY seq DESC LIMIT 1"),
		"$chain $pos", 'the next writer of that chain continues from the shortened head');
	for my $k (1 .. $tail_end - $pos)
	{
		sql("INSERT INTO app.t_tail VALUES (" . (100 + $k) . ", 'rewrite')");
	}
	is(verify(), '', 'a consistent rewrite of the chain tail is invisible to verify() (documented limit)');
	like(verify_checkpoint($held), qr/^history_rewritten\|/m,
		'the held checkpoint reports history_rewritten');
}

# Replaying or removing stored checkpoints.
{
	my $c1 = sql("SELECT notary.checkpoint()");
	sql("INSERT INTO app.t_tail VALUES (200, 'after c1')");
	my $c2 = sql("SELECT notary.checkpoint()");
	refused('DELETE FROM notary.checkpoints', 'NT001', 'superuser: DELETE FROM notary.checkpoints is refused (NT001)');
	sql("ALTER TABLE notary.checkpoints DISABLE TRIGGER checkpoints_append_only");
	my $newest = sql("SELECT max(checkpoint_id) FROM notary.checkpoints");
	sql("CREATE TABLE public.saved AS SELECT * FROM notary.checkpoints WHERE checkpoint_id = $newest");
	sql("INSERT INTO notary.checkpoints SELECT $newest + 1, digest, ledger_seq, entries, created_at, document
	       FROM notary.checkpoints WHERE checkpoint_id = (SELECT min(checkpoint_id) FROM notary.checkpoints)");
	like(verify_full(), qr/^\|\|\|checkpoint_chain\|/m, 'an old checkpoint stored again as the newest: checkpoint_chain');
	sql("DELETE FROM notary.checkpoints WHERE checkpoint_id > $newest");
	is(verify(), '', 'intact again');
	sql("DELETE FROM notary.checkpoints WHERE checkpoint_id = $newest");
	like(verify_checkpoint($c2), qr/^unknown_checkpoint\|/m,
		'the newest checkpoint deleted from the database: the held copy reports unknown_checkpoint');
	sql("INSERT INTO notary.checkpoints SELECT * FROM public.saved; DROP TABLE public.saved;");
	sql("ALTER TABLE notary.checkpoints ENABLE ALWAYS TRIGGER checkpoints_append_only");
	is(verify_checkpoint($c2), '', 'checkpoint put back: the held copy verifies again');
	is(verify(), '', 'intact again');
}

# (d) an entry rewritten together with its hash: the attacker deletes the
# entries from position P on, lets pg_notary itself write a different,
# self-consistent entry at P, and puts the old entries after P back.  The
# rewritten entry verifies on its own; the link of the entry after it breaks.
{
	sql("SET notary.pack_entries = off;
	     INSERT INTO app.t_forge VALUES (21, 'honest 21'); INSERT INTO app.t_forge VALUES (22, 'honest 22');
	     INSERT INTO app.t_forge VALUES (23, 'honest 23');");
	my $row = sql("SELECT seq || ' ' || chain_id || ' ' || chain_pos FROM notary.entries
	                WHERE table_name = 't_forge' AND row_data->>'id' = '22'");
	my ($seq, $chain, $pos) = split / /, $row;
	my $next_seq = sql("SELECT seq FROM notary.ledger WHERE chain_id = $chain AND chain_pos = $pos + 1");
	is(sql("SELECT count(*) FROM notary.ledger_packs WHERE chain_id = $chain AND last_pos >= $pos"), '0',
		'precondition: the entries from that position on are single rows');
	sql("CREATE TABLE public.saved AS SELECT * FROM notary.ledger_entries WHERE chain_id = $chain AND chain_pos > $pos;
	     DELETE FROM notary.ledger_entries WHERE chain_id = $chain AND chain_pos >= $pos;");
	sql("INSERT INTO app.t_forge VALUES (99, 'forged 22')");
	is( sql("SELECT chain_id || ' ' || chain_pos FROM notary.ledger ORDER BY seq DESC LIMIT 1"),
		"$chain $pos", 'precondition: the forged entry took the place of the old one');
	sql("INSERT INTO notary.ledger_entries SELECT * FROM public.saved; DROP TABLE public.saved;");
	my $v = verify_full();
	is(nlines($v), 1, 'rewritten entry and hash: exactly one finding') or diag($v);
	like($v, qr/^$next_seq\|$chain\|@{[$pos + 1]}\|broken_link\|.*position $pos\b/,
		'rewritten entry and hash: broken_link at the next entry');
	# the old entries after the forged one removed again: the forged entry
	# (a pack) is the chain's head, and the chain verifies (for (e))
	sql("DELETE FROM notary.ledger_entries WHERE chain_id = $chain AND chain_pos > $pos");
	is(verify(), '', 'the old tail removed again: verify() finds nothing');
}

# (e) packed entries: the guard of notary.ledger_packs off, an attacker edits
# the stored bytes (an in-place replacement of a value, the same length, so
# that the pack still decodes), damages a pack, or deletes a whole one.
sql("ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only");
is( sql("SELECT detail->>'object' FROM notary.ledger WHERE op = 'DDL' ORDER BY seq DESC LIMIT 1"),
	'notary.ledger_packs', 'turning the guard of the packs off is recorded');
{
	# three transactions of one chain: a pack of two entries, then two packs
	# of one
	sql("INSERT INTO app.t_forge VALUES (30, 'packed 30'), (31, 'packed 31')");
	sql("INSERT INTO app.t_forge VALUES (32, 'packed 32')");
	sql("INSERT INTO app.t_forge VALUES (33, 'packed 33')");
	my $entry = sub {
		return split / /, sql("SELECT seq || ' ' || chain_id || ' ' || chain_pos FROM notary.entries
		                        WHERE table_name = 't_forge' AND row_data->>'id' = '$_[0]'");
	};
	my ($s30, $chain, $p30) = $entry->(30);
	my ($s31, undef, $pos31) = $entry->(31);
	my ($s32, undef, $p32) = $entry->(32);
	my ($s33, undef, $p33) = $entry->(33);
	my $pack_of = sub { "chain_id = $chain AND $_[0] BETWEEN first_pos AND last_pos" };
	is( sql("SELECT string_agg((last_pos - first_pos + 1)::text, ',' ORDER BY first_pos) FROM notary.ledger_packs
	          WHERE chain_id = $chain AND last_pos >= $p30"),
		'2,1,1', 'precondition: the entries are packed, 2 + 1 + 1');
	is(sql("SELECT count(*) FROM notary.ledger_entries WHERE seq >= $s30"), '0',
		'precondition: none of them is a single entry');
	sql("CREATE TABLE public.saved AS SELECT * FROM notary.ledger_packs WHERE chain_id = $chain AND last_pos >= $p30");

	# a value replaced in place: the view shows it, verify() finds it
	sql("UPDATE notary.ledger_packs
	        SET entries = overlay(entries PLACING convert_to('forged 31', 'UTF8')
	                      FROM position(convert_to('packed 31', 'UTF8') IN entries) FOR 9)
	      WHERE @{[ $pack_of->($pos31) ]}");
	is(sql("SELECT row_image[2] FROM notary.ledger WHERE seq = $s31"), 'forged 31',
		'precondition: the view shows the value edited in the pack');
	is(verify(), "$s31|altered_entry", 'packed value edited: altered_entry at exactly that seq');
	like(verify_table('app.t_forge'), finding_re('row_differs', 31), 'verify_table(): row_differs for the edited row');
	sql("UPDATE notary.ledger_packs p SET entries = s.entries FROM public.saved s
	      WHERE p.chain_id = s.chain_id AND p.first_pos = s.first_pos");
	is(verify(), '', 'the pack restored: intact again');

	# the stored hash of the pack's last entry edited (the pack's last byte)
	sql("UPDATE notary.ledger_packs SET entries = overlay(entries PLACING '\\x00'::bytea FROM length(entries) FOR 1)
	      WHERE @{[ $pack_of->($pos31) ]}");
	like(verify(), qr/^$s31\|altered_entry$/m, 'packed entry hash edited: altered_entry');
	sql("UPDATE notary.ledger_packs p SET entries = s.entries FROM public.saved s
	      WHERE p.chain_id = s.chain_id AND p.first_pos = s.first_pos");

	# a pack cut short: it no longer decodes
	sql("UPDATE notary.ledger_packs SET entries = substring(entries FROM 1 FOR length(entries) - 40)
	      WHERE @{[ $pack_of->($pos31) ]}");
	like(verify_full(), qr/^\d*\|$chain\|\d+\|malformed_entry\|/m, 'a damaged pack: malformed_entry for its chain');
	sql("UPDATE notary.ledger_packs p SET entries = s.entries FROM public.saved s
	      WHERE p.chain_id = s.chain_id AND p.first_pos = s.first_pos");
	is(verify(), '', 'intact again');

	# a whole pack deleted from the middle of the chain
	sql("DELETE FROM notary.ledger_packs WHERE @{[ $pack_of->($p32) ]}");
	my $v = verify_full();
	is(nlines($v), 1, 'deleted pack: exactly one finding') or diag($v);
	like($v, qr/^$s33\|$chain\|$p33\|missing_entry\|.*\bposition $p32 of chain $chain\b/,
		'deleted pack: missing_entry at the next entry, naming the missing position');
	sql("INSERT INTO notary.ledger_packs SELECT * FROM public.saved s
	      WHERE NOT EXISTS (SELECT 1 FROM notary.ledger_packs p WHERE p.chain_id = s.chain_id AND p.first_pos = s.first_pos);
	     DROP TABLE public.saved;");
	is(verify(), '', 'the pack put back: intact again');
}

sql("ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only");
sql("ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only");
sql("ALTER TABLE notary.layouts ENABLE ALWAYS TRIGGER layouts_append_only");
is( sql("SELECT string_agg(tgrelid::regclass || '.' || tgname || '=' || tgenabled::text, ',' ORDER BY 1)
           FROM pg_trigger WHERE tgrelid IN ('notary.ledger_entries'::regclass, 'notary.ledger_packs'::regclass)
            AND tgname IN ('ledger_append_only', 'ledger_packs_append_only')"),
	'notary.ledger_entries.ledger_append_only=A,notary.ledger_packs.ledger_packs_append_only=A', 'guards back on');
refused('DELETE FROM notary.ledger', 'NT001', 'and refusing again');
refused('DELETE FROM notary.ledger_entries', 'NT001', '... for single entries');
refused('DELETE FROM notary.ledger_packs', 'NT001', '... and for packs');

$node->stop;
done_testing();
