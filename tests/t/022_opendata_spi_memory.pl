# Open-data functions must not read what they built under SPI once SPI is
# finished: its memory is freed then.  A release build usually still finds
# the old bytes there, so this server runs with glibc's MALLOC_PERTURB_,
# which overwrites freed memory, and with enough problems (1200 renamed
# columns) for them to live in blocks that are really freed.  Reading the
# stale view crashed the server (its NT004 message was built from the freed
# problem list); k_anonymity() and the PUBLISH entry read the freed policy.
# The redaction functions did the same with their lists of erased entries.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

local $ENV{MALLOC_PERTURB_} = '165';
my $node = notary_node('spi_memory', '');

$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA w;
SELECT format('CREATE TABLE w.wide (id int PRIMARY KEY, %s)',
              string_agg(format('c%s text', g), ', ')) FROM generate_series(1, 1200) g \gexec
SELECT notary.enable('w');
INSERT INTO w.wide (id, c1, c2) SELECT g, 'x', (g % 2)::text FROM generate_series(1, 10) g;
SELECT notary.publish('w.wide',
       jsonb_object_agg('c' || g, 'keep') || '{"id": "keep", "c2": "keep"}',
       view_name => 'wide')
  FROM generate_series(3, 1200) g;
});

is($node->safe_psql('postgres', q{
	SELECT detail->>'view', detail->>'table', detail->>'k', detail->>'key_version'
	  FROM notary.ledger WHERE op = 'PUBLISH' ORDER BY seq DESC LIMIT 1}),
	'opendata.wide|w.wide||', 'the PUBLISH entry names the view and table');
like($node->safe_psql('postgres', q{
	SELECT k_required, k_reached, array_length(quasi_identifiers, 1), rows_published
	  FROM notary.k_anonymity('opendata.wide')}),
	qr/^\|10\|\|10$/, 'k_anonymity() of the publication');

$node->safe_psql('postgres', q{
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
SELECT format('ALTER TABLE w.wide RENAME c%s TO renamed_column_with_a_rather_long_name_%s', g, g)
  FROM generate_series(1, 1200) g \gexec
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM notary.publication_problems()'),
	'1199', 'every renamed published column is a problem');

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM opendata.wide');
like($err, qr/publication opendata\.wide is stale: column renamed/,
	'reading the stale view fails closed with its problems');
like($err, qr/DETAIL:  .*Column "c10" is now "renamed_column_with_a_rather_long_name_10"\./,
	'... named in the detail');
($ret, $out, $err) = $node->psql('postgres', q{SELECT * FROM notary.k_anonymity('opendata.wide')});
like($err, qr/publication opendata\.wide is stale: column renamed/, 'k_anonymity() fails closed too');
# redact() and redact_subject() wrote their REDACT entry from lists kept in
# SPI's memory after SPI was finished: under MALLOC_PERTURB_ the entry named
# garbage (or nothing), and verify() reported forged_redaction.  Each runs in
# a fresh connection, in both storages, with enough entries (400 per row
# history) for the lists to live in blocks that are really freed.
$node->safe_psql('postgres', q{
SET client_min_messages = warning;
CREATE SCHEMA r;
CREATE TABLE r.person (id int PRIMARY KEY, nik text, name text);
SELECT notary.enable('r');
SELECT notary.classify('r.person', 'nik', 'identifier');
SELECT notary.classify('r.person', 'name', 'identifier');
INSERT INTO r.person SELECT g, 'nik' || g, 'name ' || g FROM generate_series(1, 4) g;
});
for my $pack ('on', 'off')
{
	$node->safe_psql('postgres', qq{
SET notary.pack_entries = $pack;
DO \$\$ BEGIN FOR i IN 1..400 LOOP
  UPDATE r.person SET name = 'name ' || id || ' v' || i WHERE id <= 2;
END LOOP; END \$\$;
});
}
is($node->safe_psql('postgres', q{
	SELECT notary.redact('r.person', ARRAY['1'], ARRAY['nik', 'name'], 'erasure request 1')}),
	'1602', 'redact() erases both columns of every entry of the row');
is($node->safe_psql('postgres', q{
	SELECT notary.redact_subject('nik', 'nik2', 'erasure request 2')}),
	'1602', 'redact_subject() erases the subject');
is($node->safe_psql('postgres', q{
	SELECT reason, jsonb_array_length(entries), columns
	  FROM notary.redactions ORDER BY seq}),
	"erasure request 1|801|[\"nik\", \"name\"]\nerasure request 2|801|[\"name\", \"nik\"]",
	'each REDACT entry names every entry it erased, and the columns');
is($node->safe_psql('postgres', 'SELECT count(*) FROM notary.verify()'), '0',
	'verify(): every erased column is recorded by its REDACT entry');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
