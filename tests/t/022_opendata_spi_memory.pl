# Open-data functions must not read what they built under SPI once SPI is
# finished: its memory is freed then.  A release build usually still finds
# the old bytes there, so this server runs with glibc's MALLOC_PERTURB_,
# which overwrites freed memory, and with enough problems (1200 renamed
# columns) for them to live in blocks that are really freed.  Reading the
# stale view crashed the server (its NT004 message was built from the freed
# problem list); k_anonymity() and the PUBLISH entry read the freed policy.
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
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
