# 020_opendata_keys.pl -- the pseudonym key file (docs/opendata.md): never
# created implicitly (a publication that needs it fails clearly), refused
# when group or others may read it or when it is malformed, recomputable
# only with the key (checked here by Python's own BLAKE2b, from the bytes
# docs/opendata.md describes), rotated only when a publication is
# refreshed with rotate_key (a plain refresh, which mends a view stale for
# other reasons, keeps its key version, and refuses if that version is gone);
# another key under the same version makes a publication stale (its key
# check value no longer matches); pseudonyms survive a restart.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('opendata_keys');
my $keyfile = $node->data_dir . '/pg_notary_pseudonym.key';

sub sql
{
	my ($q, $user) = @_;
	return $node->safe_psql('postgres', $q,
		defined $user ? (extra_params => [ '-U', $user ]) : ());
}

# No error a non-superuser can see names the key file: its path says where
# the secret lies (notary.pseudonym_key_file is superuser only).
sub names_no_key_path
{
	my ($text, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $dir = $node->data_dir;
	unlike($text, qr/\Q$dir\E|\.key\b/, "$name: names no key file path");
	return;
}

# Assert that $q fails with an error matching $re; as a non-superuser
# ($user), also that the error names no key file path.
sub fails_like
{
	my ($q, $re, $name, $user) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) = $node->psql('postgres', $q,
		defined $user ? (extra_params => [ '-U', $user ]) : ());
	isnt($ret, 0, "$name: fails");
	like($err, $re, "$name: says why");
	names_no_key_path($err, $name) if defined $user;
	return;
}

# id => pseudonym of the published view, read by the public role
sub pseudonyms
{
	my %p = map { split /\|/ }
	  split /\n/, sql('SELECT id, official FROM opendata.tenders ORDER BY id', 'citizen');
	return \%p;
}

# The pseudonym of $value in $domain, from the key file, by Python's
# hashlib: keyed BLAKE2b-128 over str(tag) || str(domain) || str(value).
# With $unkeyed, the same without the key.
sub python_pseudonym
{
	my ($version, $domain, $value, $unkeyed) = @_;
	my $script = <<'EOF';
import hashlib, sys
path, version, domain, value, unkeyed = sys.argv[1:6]
keys = dict(line.split() for line in open(path) if line.strip())
def s(x):
    b = x.encode("utf-8")
    return len(b).to_bytes(4, "big") + b
msg = s("pg_notary/pseudonym/v1") + s(domain) + s(value)
key = b"" if unkeyed == "1" else bytes.fromhex(keys[version])
print("k%s.%s" % (version, hashlib.blake2b(msg, key=key, digest_size=16).hexdigest()))
EOF
	my ($out, $err);
	IPC::Run::run([ 'python3', '-c', $script, $keyfile, $version, $domain, $value, $unkeyed ? 1 : 0 ],
		'>', \$out, '2>', \$err)
	  or die "python3 failed: $err";
	chomp $out;
	return $out;
}

sql(q{
CREATE EXTENSION pg_notary;
CREATE ROLE citizen LOGIN IN ROLE opendata_reader;
CREATE ROLE clerk LOGIN;
CREATE ROLE auditor LOGIN IN ROLE notary_auditor;
CREATE SCHEMA procurement;
CREATE TABLE procurement.tenders (id int PRIMARY KEY, vendor text, official text);
INSERT INTO procurement.tenders VALUES (1, 'PT Jalan Mulus', '3171999900000001'),
  (2, 'CV Terang', '3171999900000002'), (3, 'CV Terang', '3171999900000001');
SELECT notary.enable('procurement');
SELECT notary.classify('procurement.tenders', 'official', 'identifier');
GRANT USAGE ON SCHEMA notary, procurement TO clerk;
GRANT SELECT ON procurement.tenders TO clerk;
GRANT EXECUTE ON FUNCTION notary.publish(regclass, jsonb, integer, name, name, text, text) TO clerk;
});
my $rules = q{'{"id": "keep", "vendor": "keep", "official": "pseudonymise(officials)"}'};

# --- no key: a clear error, nothing created, no file made -------------------
ok(!-e $keyfile, 'no key file before anyone asks for one');
fails_like("SELECT notary.publish('procurement.tenders', $rules)",
	qr/no pseudonym key configured: the key file does not exist.*\n.*HINT:.*create_pseudonym_key/,
	'publishing a pseudonymised column without a key');
fails_like(q{SELECT notary.publish('procurement.tenders', '{"id": "keep", "official": "pseudonymise"}', view_name => 'clerks')},
	qr/no pseudonym key configured: the key file does not exist/,
	'a publisher who is not superuser, without a key', 'clerk');
is(sql(q{SELECT count(*) FROM notary.publications}), '0', 'nothing was published');
ok(!-e $keyfile, 'still no key file: it is never created implicitly');
fails_like('SELECT notary.create_pseudonym_key()', qr/permission denied/, 'a non-superuser creating a key', 'clerk');

# --- a key: mode 0600, publishable, recomputable only with the key ----------
is(sql('SELECT notary.create_pseudonym_key()'), '1', 'the first key is version 1');
is((stat $keyfile)[2] & 07777, 0600, 'the key file is created with mode 0600');
like(slurp_file($keyfile), qr/\A1 [0-9a-f]{64}\n\z/, 'one line: version, 64 hex digits');
sql("SELECT notary.publish('procurement.tenders', $rules)");
my $p1 = pseudonyms();
like($p1->{1}, qr/^k1\.[0-9a-f]{32}$/, 'pseudonyms carry the key version');
is($p1->{1}, $p1->{3}, 'the same official, the same pseudonym');
isnt($p1->{1}, $p1->{2}, 'two officials, two pseudonyms');
# a reader cannot point the views at a key file of their own
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET notary.pseudonym_key_file = '/tmp/mine.key'; SELECT official FROM opendata.tenders WHERE id = 1},
	extra_params => [ '-U', 'citizen' ]);
is($out, $p1->{1}, "a reader's SET of the key file is ignored");
like($err, qr/permission denied to set parameter "notary\.pseudonym_key_file"/, 'and refused with a warning');
SKIP:
{
	skip 'python3 not available', 2 unless system('python3 -c "import hashlib" >/dev/null 2>&1') == 0;
	is(python_pseudonym(1, 'officials', '3171999900000001'), $p1->{1},
		'recomputed from the key file with an independent BLAKE2b');
	isnt(python_pseudonym(1, 'officials', '3171999900000001', 1), $p1->{1},
		'an unkeyed BLAKE2b of the same bytes is not the pseudonym');
}

# --- a file group or others may read is refused -----------------------------
chmod 0640, $keyfile;
fails_like('SELECT * FROM opendata.tenders', qr/must be a regular file readable only by its owner/,
	'a group-readable key file', 'citizen');
fails_like('SELECT notary.create_pseudonym_key()', qr/must be a regular file readable only by its owner/,
	'adding a key to a group-readable file');
chmod 0604, $keyfile;
fails_like('SELECT * FROM opendata.tenders', qr/readable only by its owner/, 'a world-readable key file', 'citizen');
chmod 0600, $keyfile;
is_deeply(pseudonyms(), $p1, 'mode 0600 again: the same pseudonyms');

# --- a malformed file is refused --------------------------------------------
my $good = slurp_file($keyfile);
append_to_file($keyfile, "2 not-hex\n");
fails_like('SELECT * FROM opendata.tenders', qr/pseudonym key file is malformed at line 2/,
	'a malformed key file', 'citizen');
fails_like('SELECT notary.create_pseudonym_key()', qr/malformed/, 'adding a key to a malformed file');
open(my $fh, '>', $keyfile) or die; print $fh $good; close $fh;
is_deeply(pseudonyms(), $p1, 'repaired: the same pseudonyms');

# --- survives a restart ------------------------------------------------------
$node->restart;
cap_memory($node);
is_deeply(pseudonyms(), $p1, 'the same pseudonyms after a restart');

# --- rotation: a new version, used only when a refresh asks for it ---------
is(sql('SELECT notary.create_pseudonym_key()'), '2', 'the next key is version 2');
like(slurp_file($keyfile), qr/\A1 [0-9a-f]{64}\n2 [0-9a-f]{64}\n\z/, 'appended, the old version kept');
is_deeply(pseudonyms(), $p1, 'rotation alone changes no published pseudonym');
# stale for a reason that has nothing to do with keys: "vendor" is now
# another column of the same name (as after a dump and restore renumbers)
sql(q{
ALTER TABLE procurement.tenders RENAME COLUMN vendor TO vendor_old;
ALTER TABLE procurement.tenders ADD COLUMN vendor text;
UPDATE procurement.tenders SET vendor = vendor_old;
ALTER TABLE procurement.tenders DROP COLUMN vendor_old;
});
fails_like('SELECT * FROM opendata.tenders', qr/publication opendata\.tenders is stale: column replaced/,
	'a replaced column makes the view stale', 'citizen');
sql(q{SELECT notary.refresh('tenders')});
is_deeply(pseudonyms(), $p1, 'a plain refresh mends it and keeps key version 1: the same pseudonyms');
is(sql(q{SELECT key_version FROM notary.published WHERE view_name = 'opendata.tenders'}), '1',
	'a plain refresh keeps the key version');
sql(q{SELECT notary.refresh('tenders', rotate_key => true)});
my $p2 = pseudonyms();
like($p2->{1}, qr/^k2\.[0-9a-f]{32}$/, 'refreshed with rotate_key: key version 2');
isnt(substr($p2->{1}, 3), substr($p1->{1}, 3), 'refreshed with rotate_key: other pseudonyms');
is(sql(q{SELECT string_agg(concat_ws(' ', detail->>'key_version', detail->>'key_rotated', detail->>'refresh'), ',' ORDER BY seq)
           FROM notary.ledger WHERE op = 'PUBLISH'}),
	'1 false false,1 false true,2 true true', 'the PUBLISH entries say the key version and whether it was rotated');
is($p2->{1}, $p2->{3}, 'still stable within the new version');
SKIP:
{
	skip 'python3 not available', 1 unless system('python3 -c "import hashlib" >/dev/null 2>&1') == 0;
	is(python_pseudonym(2, 'officials', '3171999900000001'), $p2->{1}, 'version 2 recomputed with key 2');
}

# --- another key under the same version: fail closed, reported -------------
# Every pseudonym would silently change: the publication keeps a check value
# of its key (keyed BLAKE2b-256 of a fixed tag, never the key) and compares.
my $both = slurp_file($keyfile);
SKIP:
{
	skip 'python3 not available', 1 unless system('python3 -c "import hashlib" >/dev/null 2>&1') == 0;
	my ($kc, $kerr);
	IPC::Run::run([ 'python3', '-c',
			'import hashlib, sys; keys = dict(l.split() for l in open(sys.argv[1]) if l.strip()); '
			  . 'print(hashlib.blake2b(b"pg_notary/pseudonym/key-check/v1", key=bytes.fromhex(keys["2"]), digest_size=32).hexdigest())',
			$keyfile ],
		'>', \$kc, '2>', \$kerr) or die "python3 failed: $kerr";
	chomp $kc;
	is(sql(q{SELECT encode(key_check, 'hex') FROM notary.publications WHERE view_name = 'tenders'}), $kc,
		'the publication keeps the documented check value of key 2');
}
my $other = "1 " . ('ab' x 32) . "\n2 " . ('cd' x 32) . "\n";
open($fh, '>', $keyfile) or die; print $fh $other; close $fh;
fails_like('SELECT * FROM opendata.tenders', qr/publication opendata\.tenders is stale: pseudonym key changed/,
	'another secret under the same version: no pseudonym changes silently', 'citizen');
like(sql('SELECT problem, detail FROM notary.publication_problems()'),
	qr/pseudonym key changed\|Key version 2 in the key file is not the key/, 'publication_problems() says the key changed');
open($fh, '>', $keyfile) or die; print $fh $both; close $fh;
is_deeply(pseudonyms(), $p2, 'the key restored: the same pseudonyms');
open($fh, '>', $keyfile) or die; print $fh $good; close $fh;

# --- the version a view uses is gone: fail closed, reported ----------------
fails_like('SELECT * FROM opendata.tenders', qr/publication opendata\.tenders is stale: pseudonym key missing/,
	'a view whose key version is gone', 'citizen');
like(sql('SELECT problem, detail FROM notary.publication_problems()'),
	qr/pseudonym key missing\|Key version 2 is needed/, 'publication_problems() says which version');
my $before = sql(q{SELECT p::text FROM notary.publications p WHERE view_name = 'tenders'});
my $entries = sql('SELECT count(*) FROM notary.ledger');
fails_like("\\set VERBOSITY verbose\nSELECT notary.refresh('tenders')",
	qr/ERROR:  55000: cannot refresh publication opendata\.tenders with its pseudonym key version 2: pseudonym key missing\n.*\nHINT:  .*notary\.refresh\('tenders', rotate_key => true\)/,
	'a plain refresh when the key version is gone: refused, rotate explicitly');
is(sql(q{SELECT p::text FROM notary.publications p WHERE view_name = 'tenders'}), $before,
	'the refused refresh changed no publication');
is(sql('SELECT count(*) FROM notary.ledger'), $entries, 'the refused refresh appended nothing');
fails_like('SELECT * FROM opendata.tenders', qr/stale: pseudonym key missing/, 'the view stays closed', 'citizen');
sql(q{SELECT notary.refresh('tenders', rotate_key => true)});
like(pseudonyms()->{1}, qr/^k1\./, 'refresh with rotate_key picks the newest key the file holds');

# --- the setting: another file, missing ------------------------------------
$node->append_conf('postgresql.conf', "notary.pseudonym_key_file = 'elsewhere.key'\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('notary.pseudonym_key_file') = 'elsewhere.key'})
  or die 'setting not reloaded';
fails_like('SELECT * FROM opendata.tenders', qr/no pseudonym key configured: the key file does not exist/,
	'a configured key file that does not exist', 'citizen');
my $problems = sql('SELECT problem, detail FROM notary.publication_problems()', 'auditor');
like($problems, qr/pseudonym key missing\|Key version 1 is needed: no pseudonym key configured/,
	'publication_problems() for an auditor: the key is missing');
names_no_key_path($problems, 'publication_problems() for an auditor');
fails_like(q{SELECT notary.publish('procurement.tenders', '{"id": "keep", "official": "pseudonymise"}', view_name => 'clerks')},
	qr/no pseudonym key configured: the key file does not exist/,
	'a publisher who is not superuser, key file missing', 'clerk');
$node->append_conf('postgresql.conf', "notary.pseudonym_key_file = 'pg_notary_pseudonym.key'\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('notary.pseudonym_key_file') = 'pg_notary_pseudonym.key'})
  or die 'setting not reloaded';
is(pseudonyms()->{1}, python_pseudonym(1, 'officials', '3171999900000001'), 'back to the default file');

$node->stop;
done_testing();
