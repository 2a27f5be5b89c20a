# 021_opendata_dump.pl -- publications survive pg_dump and pg_restore
# (docs/operations.md, "Backups and restore"):
#   - into a new database of the same cluster (same pseudonym key file):
#     notary.publications comes back byte for byte; the views and their
#     generated SECURITY DEFINER functions exist with the same owner, options
#     and grants; a reader login reads the same rows (the same pseudonyms),
#     and still cannot read the tables or call notary.pseudonym();
#     k_anonymity() gives the same figures; publication_problems(), verify()
#     and verify_table() find nothing; an export works; a new publication
#     gets a new id; a table with a dropped column has its columns
#     renumbered by the restore, so its publication reports "column
#     replaced" (fails closed) until notary.refresh(), which keeps its
#     pseudonym key version even when a newer one was made since (the same
#     pseudonyms as the source);
#   - into another cluster (no pseudonym key file there): every view that
#     pseudonymises fails closed with NT004 and publication_problems() says
#     "pseudonym key missing" (and "pseudonym key changed" once another key
#     is made there); a view without pseudonyms still reads; after the key
#     file is copied over, the views give the same rows again (a refresh
#     there keeps the key version too).

use strict;
use warnings;

use File::Copy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('odump');

sub sql
{
	my ($n, $db, $q, $user) = @_;
	return $n->safe_psql($db, $q, defined $user ? (extra_params => [ '-U', $user ]) : ());
}

# ($ret, $stderr) of $q run by $user
sub try_sql
{
	my ($n, $db, $q, $user) = @_;
	my ($ret, $out, $err) = $n->psql($db, "\\set VERBOSITY verbose\n$q",
		defined $user ? (extra_params => [ '-U', $user ]) : ());
	return ($ret, $err);
}

sub run_cmd
{
	my ($cmd) = @_;
	my ($out, $err);
	local $ENV{PGOPTIONS} = '-c notary.restore_mode=on';
	my $ok = IPC::Run::run($cmd, '>', \$out, '2>', \$err);
	return ($ok, $err);
}

# --- the source database -----------------------------------------------------

$node->safe_psql('postgres', q{
CREATE DATABASE src;
CREATE ROLE citizen LOGIN;
});
sql($node, 'src', q{
CREATE EXTENSION pg_notary;
GRANT opendata_reader TO citizen;
CREATE SCHEMA lapor;
CREATE TABLE lapor.complaints (
    id       int PRIMARY KEY,
    nik      text,
    region   text,
    filed_at timestamptz,
    status   text
);
CREATE TABLE lapor.contracts (
    id      int PRIMARY KEY,
    vendor  text,
    signed  date,
    region  varchar(6),
    value   numeric(14, 2)
);
-- a dropped column: pg_dump renumbers the columns after it
CREATE TABLE lapor.permits (id int PRIMARY KEY, old text, issued date, holder text);
ALTER TABLE lapor.permits DROP COLUMN old;
INSERT INTO lapor.permits VALUES (1, '2023-12-31', '3171000000000001'), (2, '2024-06-01', '3171000000000002');
SELECT notary.enable('lapor');
INSERT INTO lapor.complaints VALUES
  (1, '3171000000000001', '317101', '2024-01-05 10:00+07', 'open'),
  (2, '3171000000000002', '317102', '2024-01-20 10:00+07', 'closed'),
  (3, '3171000000000001', '317103', '2024-02-01 00:30+07', 'open'),
  (4, '3171000000000003', '317104', '2024-02-11 10:00+07', 'open'),
  (5, '3271000000000009', '327101', '2024-03-01 10:00+07', 'open'),   -- alone in 32: suppressed
  (6, '3271000000000009', '327102', '2024-03-02 10:00+07', 'closed'); -- one person, twice
INSERT INTO lapor.contracts VALUES
  (1, 'PT Jalan Mulus', '2024-01-31', '317101', 1000000.00),
  (2, 'CV Terang',      '2024-02-01', '327101',  250000.50),
  (3, 'CV Terang',      '2024-02-29', '317102',       5.00);
UPDATE lapor.contracts SET value = value * 2 WHERE id = 3;
SELECT notary.classify('lapor.complaints', 'nik', 'identifier');
SELECT notary.classify('lapor.complaints', 'region', 'quasi_identifier');
SELECT notary.classify('lapor.contracts', 'region', 'sensitive');
SELECT notary.classify('lapor.permits', 'holder', 'identifier');
SELECT notary.create_pseudonym_key();
SELECT notary.publish('lapor.complaints',
         '{"id": "keep", "nik": "pseudonymise", "region": "prefix(2)", "filed_at": "month", "status": "keep"}',
         k => 2, subject => 'nik', title => 'Complaints');
SELECT notary.publish('lapor.contracts',
         '{"id": "keep", "vendor": "pseudonymise", "signed": "month", "region": "prefix(4)", "value": "range(1000)"}',
         title => 'Contracts');
SELECT notary.publish('lapor.contracts', '{"id": "keep", "signed": "year"}',
         view_name => 'contract_years');
SELECT notary.publish('lapor.permits', '{"id": "keep", "issued": "year", "holder": "pseudonymise"}');
});

my @views = qw(complaints contracts contract_years permits);
my %read = (
	complaints     => 'SELECT id, nik, region, filed_at, status FROM opendata.complaints ORDER BY id',
	contracts      => 'SELECT id, vendor, signed, region, value FROM opendata.contracts ORDER BY id',
	contract_years => 'SELECT id, signed FROM opendata.contract_years ORDER BY id',
	permits        => 'SELECT id, issued, holder FROM opendata.permits ORDER BY id',
);
my %kq = map { $_ => "SELECT k::text FROM notary.k_anonymity('opendata.$_') k" } @views;
# What the restore must keep: the catalog, and each generated function and
# view with its owner, settings and grants (roles compared by name).
my %fp = (
	publications => q{SELECT count(*) || ' ' || md5(string_agg(p::text, E'\n' ORDER BY publication_id)) FROM notary.publications p},
	functions    => q{SELECT string_agg(p.proname || ' ' || pg_get_userbyid(p.proowner) || ' ' || p.prosecdef || ' '
	                        || p.provolatile::text || ' ' || coalesce(p.proconfig::text, '-') || ' ' || coalesce(p.proacl::text, '-')
	                        || ' ' || md5(p.prosrc), E'\n' ORDER BY p.proname)
	                    FROM pg_proc p WHERE p.pronamespace = 'notary'::regnamespace
	                     AND p.proname ~ '^publication_[0-9]+$'},
	views        => q{SELECT string_agg(c.relname || ' ' || pg_get_userbyid(c.relowner) || ' ' || coalesce(c.reloptions::text, '-')
	                        || ' ' || coalesce(c.relacl::text, '-') || ' ' || md5(pg_get_viewdef(c.oid)), E'\n' ORDER BY c.relname)
	                    FROM pg_class c WHERE c.relnamespace = 'opendata'::regnamespace},
	schema       => q{SELECT pg_get_userbyid(nspowner) || ' ' || nspacl::text FROM pg_namespace WHERE nspname = 'opendata'},
);

my (%src_rows, %src_k, %src_fp);
for my $v (@views)
{
	$src_rows{$v} = sql($node, 'src', $read{$v}, 'citizen');
	$src_k{$v} = sql($node, 'src', $kq{$v});
}
$src_fp{$_} = sql($node, 'src', $fp{$_}) for keys %fp;
note("source $_:\n$src_rows{$_}") for @views;
note("source k_anonymity($_): $src_k{$_}") for @views;

like($src_rows{complaints}, qr/^1\|k1\.[0-9a-f]{32}\|31\|2024-01\|open$/m, 'source: complaints pseudonymised and generalised');
unlike($src_rows{complaints}, qr/^[56]\|/m, 'source: the group of one person is suppressed');
like($src_k{complaints}, qr/^\(2,3,\{region\},nik,4,2,1,1\)$/, 'source: k_anonymity(complaints)');
like($src_rows{contracts}, qr/^3\|k1\.[0-9a-f]{32}\|2024-02\|3171\|\[0,1000\)$/m, 'source: contracts generalised');
like($src_fp{functions}, qr/\A(publication_\d+ postgres true s \{"search_path=pg_catalog, pg_temp"\} \S*opendata_reader=X\/postgres\S* \S+\n?){4}\z/,
	'source: four generated functions, SECURITY DEFINER, owned by the extension owner, executable by opendata_reader');
is(sql($node, 'src', 'SELECT count(*) FROM notary.publication_problems()'), '0', 'source: no publication problems');

# --- dump, and restore into a new database of the same cluster -----------------

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
	'pg_dump -Fc of the source database');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
{
	my ($ok, $err) = run_cmd([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ]);
	ok($ok, 'pg_restore into a new database succeeds') or diag("stderr:\n$err");
	is($err, '', 'pg_restore reports no error or warning');
}

for my $k (sort keys %fp)
{
	is(sql($node, 'dst', $fp{$k}), $src_fp{$k}, "dst: $k identical to the source");
}

# pg_dump does not keep dropped columns: lapor.permits.issued comes back as
# column 2, not 3, and its publication reads as "column replaced" (see
# docs/opendata.md) until refreshed.  A key rotated since does not change
# its pseudonyms: the refresh keeps the key version it was published with.
is(sql($node, 'dst', q{SELECT string_agg(view_name || ': ' || problem, ',') FROM notary.publication_problems()}),
	'opendata.permits: column replaced,opendata.permits: column replaced', 'dst: a table with a dropped column reports "column replaced"');
{
	my ($ret, $err) = try_sql($node, 'dst', $read{permits}, 'citizen');
	like($err, qr/NT004: publication opendata\.permits is stale: column replaced/, 'dst: ... and its view fails closed');
}
is(sql($node, 'dst', 'SELECT notary.create_pseudonym_key()'), '2', 'dst: the key rotated since: version 2');
sql($node, 'dst', q{SELECT notary.refresh('permits')});
is(sql($node, 'dst', q{SELECT key_version FROM notary.published WHERE view_name = 'opendata.permits'}), '1',
	'dst: the refresh kept key version 1');
like(sql($node, 'dst', $read{permits}, 'citizen'), qr/\A1\|2023\|k1\.[0-9a-f]{32}\n2\|2024\|k1\./,
	'dst: refreshed permits still pseudonymise with key version 1');

for my $v (@views)
{
	my ($ret, $err) = try_sql($node, 'dst', $read{$v}, 'citizen');
	is($ret, 0, "dst: the reader may read opendata.$v") or diag($err);
	is(sql($node, 'dst', $read{$v}, 'citizen'), $src_rows{$v}, "dst: opendata.$v returns the same rows (same pseudonyms)");
	is(sql($node, 'dst', $kq{$v}), $src_k{$v}, "dst: k_anonymity($v) gives the same figures");
}
is(sql($node, 'dst', 'SELECT count(*) FROM notary.publication_problems()'), '0', 'dst: no publication problems');
is(sql($node, 'dst', q{SELECT string_agg(view_name || ' ' || stale, ',' ORDER BY view_name) FROM notary.published}),
	'opendata.complaints false,opendata.contract_years false,opendata.contracts false,opendata.permits false', 'dst: notary.published: none stale');

# what the reader still may not do
for my $q ('SELECT * FROM lapor.complaints', 'SELECT * FROM lapor.contracts',
	"SELECT notary.pseudonym('3171000000000001'::text, 'lapor.complaints.nik', 1)",
	'SELECT * FROM notary.publications')
{
	my ($ret, $err) = try_sql($node, 'dst', $q, 'citizen');
	like($err, qr/ERROR:  42501: permission denied/, "dst: the reader is refused: $q");
}

is(sql($node, 'dst', 'SELECT count(*) FROM notary.verify()'), '0', 'dst: verify() finds nothing');
for my $t (qw(lapor.complaints lapor.contracts))
{
	is(sql($node, 'dst', "SELECT count(*) FROM notary.verify_table('$t')"), '0', "dst: verify_table($t) finds nothing");
}

# an export of the restored views, into a directory
my $outdir = PostgreSQL::Test::Utils::tempdir();
my $pkg = sql($node, 'dst', "SELECT notary.opendata_export_to('$outdir', '{opendata.complaints,opendata.contracts}', 'Restored', 'CC-BY-4.0')");
like($pkg, qr/"pg_notary-datapackage-v1"/, 'dst: opendata_export_to() returns the datapackage');
{
	my $csv = -e "$outdir/complaints.csv" ? slurp_file("$outdir/complaints.csv") : '';
	my ($p1) = $src_rows{complaints} =~ /^1\|([^|]+)\|/m;
	like($csv, qr/^1,\Q$p1\E,31,2024-01,open\r$/m, 'dst: the exported complaints.csv holds the source pseudonyms');
	ok(-e "$outdir/contracts.csv" && -e "$outdir/datapackage.json", 'dst: contracts.csv and datapackage.json written');
}
is(sql($node, 'dst', q{SELECT count(*) FROM notary.entries WHERE op = 'EXPORT'}), '1', 'dst: the export is in the ledger');

# new publications go on above the restored ids
is(sql($node, 'dst', q{SELECT notary.publish('lapor.contracts', '{"id": "keep"}', view_name => 'contract_ids');
                       SELECT publication_id > (SELECT max(publication_id) FROM notary.publications WHERE view_name <> 'contract_ids')
                         FROM notary.publications WHERE view_name = 'contract_ids'}), "opendata.contract_ids\nt",
	'dst: a new publication gets a new id');
is(sql($node, 'dst', 'SELECT count(*) FROM notary.verify()'), '0', 'dst: verify() still finds nothing');

# --- restore into another cluster: no pseudonym key file there -----------------

my $other = notary_node('odump_other');
my $keyfile = $node->data_dir . '/pg_notary_pseudonym.key';
my $other_keyfile = $other->data_dir . '/pg_notary_pseudonym.key';
$other->safe_psql('postgres', 'CREATE DATABASE dst2');
{
	my ($ok, $err) = run_cmd([ 'pg_restore', '--exit-on-error', '-d', $other->connstr('dst2'), $dump ]);
	ok($ok, 'other cluster: pg_restore succeeds') or diag("stderr:\n$err");
	is($err, '', 'other cluster: pg_restore reports no error or warning');
}
# roles are not in a database dump: the reader login is made again
$other->safe_psql('postgres', 'CREATE ROLE citizen LOGIN; GRANT opendata_reader TO citizen;');
ok(!-e $other_keyfile, 'other cluster: no pseudonym key file');
is(sql($other, 'dst2', $fp{publications}), $src_fp{publications}, 'other cluster: publications identical to the source');

for my $v (qw(complaints contracts))
{
	my ($ret, $err) = try_sql($other, 'dst2', $read{$v}, 'citizen');
	isnt($ret, 0, "other cluster: opendata.$v without the key fails");
	like($err, qr/ERROR:  NT004: publication opendata\.$v is stale: pseudonym key missing/,
		"other cluster: opendata.$v fails closed with NT004, key missing");
	unlike($err, qr/\.key\b/, "other cluster: the error names no key file");
	($ret, $err) = try_sql($other, 'dst2', $kq{$v});
	like($err, qr/NT004/, "other cluster: k_anonymity($v) fails closed too");
}
is(sql($other, 'dst2', $read{contract_years}, 'citizen'), $src_rows{contract_years},
	'other cluster: a view without pseudonyms still reads the same rows');
is(sql($other, 'dst2', q{SELECT string_agg(view_name || ': ' || problem, ',' ORDER BY view_name, problem) FROM notary.publication_problems()}),
	'opendata.complaints: pseudonym key missing,opendata.contracts: pseudonym key missing,opendata.permits: column replaced,opendata.permits: column replaced,opendata.permits: pseudonym key missing',
	'other cluster: publication_problems() says the key is missing');

# a new key made there instead is another key under version 1: still closed
is(sql($other, 'dst2', 'SELECT notary.create_pseudonym_key()'), '1', 'other cluster: a new key there is version 1');
is(sql($other, 'dst2', q{SELECT string_agg(view_name || ': ' || problem, ',' ORDER BY view_name) FROM notary.publication_problems() WHERE problem LIKE 'pseudonym%'}),
	'opendata.complaints: pseudonym key changed,opendata.contracts: pseudonym key changed,opendata.permits: pseudonym key changed',
	'other cluster: ... which publication_problems() reports as a changed key');
{
	my ($ret, $err) = try_sql($other, 'dst2', $read{complaints}, 'citizen');
	like($err, qr/NT004: publication opendata\.complaints is stale: pseudonym key changed/,
		'other cluster: ... and the views stay closed');
}

# a plain refresh there refuses: it would publish under another key
{
	my ($ret, $err) = try_sql($other, 'dst2', q{SELECT notary.refresh('permits')});
	like($err, qr/ERROR:  55000: cannot refresh publication opendata\.permits with its pseudonym key version 1: pseudonym key changed/,
		'other cluster: a plain refresh with another key under version 1 is refused');
}

# the key file copied over (with the version 2 made since), as docs/operations.md says
copy($keyfile, $other_keyfile) or die "copy: $!";
chmod 0600, $other_keyfile;
sql($other, 'dst2', q{SELECT notary.refresh('permits')});
for my $v (@views)
{
	is(sql($other, 'dst2', $read{$v}, 'citizen'), $src_rows{$v}, "other cluster, key copied: opendata.$v returns the same rows");
	is(sql($other, 'dst2', $kq{$v}), $src_k{$v}, "other cluster, key copied: k_anonymity($v) the same");
}
is(sql($other, 'dst2', 'SELECT count(*) FROM notary.publication_problems()'), '0', 'other cluster, key copied: no publication problems');
is(sql($other, 'dst2', 'SELECT count(*) FROM notary.verify()'), '0', 'other cluster: verify() finds nothing');

$other->stop;
$node->stop;
done_testing();
