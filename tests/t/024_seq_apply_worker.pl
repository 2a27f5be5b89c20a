# seq numbers and logical replication (src/ledger_seq.c).  Logical
# replication's apply worker fires capture (ENABLE ALWAYS) without
# pg_notary's executor hooks, and applies a remote transaction's changes one
# after the other: a local session may change the second row in between.
# Every entry must still be numbered in the order of its row's locks.
#
# The apply worker applies a remote UPDATE of rows 1 and 2; a user trigger
# (ENABLE ALWAYS, fired after notary_capture) holds it after row 1 until a
# local session has updated row 2; the apply worker then waits for that
# session's commit before it updates row 2.  Row 2's history in seq order
# must be the local UPDATE, then the remote one.  (When the apply worker
# reused a block taken for row 1, the remote UPDATE came first and
# verify_table() reported a history_gap; entries numbered when their pack
# is stored, with every row locked, cannot do that.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $pub = notary_node('publisher', "wal_level = logical\nmax_wal_senders = 4\nmax_replication_slots = 4\n");
my $sub = notary_node('subscriber');

my $table = 'CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text NOT NULL); '
  . "INSERT INTO app.t VALUES (1, 'o'), (2, 'o');";
$pub->safe_psql('postgres', "$table CREATE PUBLICATION p FOR TABLE app.t;");
$sub->safe_psql('postgres', qq{
	CREATE EXTENSION pg_notary;
	$table
	SELECT notary.enable('app');
	-- assignments, evaluated as simple expressions: no executor, so no
	-- statement's start or end separates the two rows' captures
	CREATE FUNCTION app.hold() RETURNS trigger LANGUAGE plpgsql AS \$f\$
	DECLARE x text;
	BEGIN
	  IF NEW.id = 1 THEN
	    x := pg_advisory_lock(4713)::text;
	    x := pg_advisory_unlock(4713)::text;
	  END IF;
	  RETURN NULL;
	END \$f\$;
	CREATE TRIGGER o_hold AFTER UPDATE ON app.t FOR EACH ROW EXECUTE FUNCTION app.hold();
	ALTER TABLE app.t ENABLE ALWAYS TRIGGER o_hold;
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres',
	"CREATE SUBSCRIPTION s CONNECTION '$connstr' PUBLICATION p WITH (copy_data = false)");
$pub->wait_for_catchup('s');

# One round: returns row 2's UPDATE images in seq order.
sub round
{
	my ($n) = @_;
	my $local = $sub->background_psql('postgres');
	$local->query_safe('SELECT pg_advisory_lock(4713)');
	$pub->safe_psql('postgres', "UPDATE app.t SET v = 'remote $n' WHERE id IN (1, 2)");
	# the apply worker has captured row 1 and waits in app.hold()
	$sub->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
	  or die 'the apply worker never waited for the advisory lock';
	$local->query_safe('BEGIN');
	$local->query_safe("UPDATE app.t SET v = 'local $n' WHERE id = 2");
	$local->query_safe('SELECT pg_advisory_unlock(4713)');
	# the apply worker waits for the local transaction's row 2
	$sub->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted")
	  or die 'the apply worker never waited for row 2';
	$local->query_safe('COMMIT');
	$local->quit;
	$pub->wait_for_catchup('s');
	return $sub->safe_psql('postgres', qq{
		SELECT string_agg(l.row_image[2], ', ' ORDER BY l.seq)
		  FROM notary.ledger l JOIN notary.tables t USING (table_id)
		 WHERE t.relid = 'app.t'::regclass AND l.op = 'UPDATE' AND l.row_image[1] = '2'
		   AND l.row_image[2] LIKE '% $n'});
}

# the apply worker's first transaction (its first capture loads the table's
# capture information), then one after an invalidation of the table
is(round(1), 'local 1, remote 1', 'row 2: the local UPDATE is numbered before the apply worker\'s');
$sub->safe_psql('postgres', 'ANALYZE app.t');
is(round(2), 'local 2, remote 2', 'again after ANALYZE of the subscriber table');

is($sub->safe_psql('postgres', 'SELECT v FROM app.t WHERE id = 2'), 'remote 2',
	'the table holds the remote version');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM notary.verify_table(\'app.t\')'), '0',
	'verify_table() finds nothing');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM notary.verify()'), '0',
	'verify() finds nothing');

$sub->safe_psql('postgres', 'DROP SUBSCRIPTION s');
done_testing();
