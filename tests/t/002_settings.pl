# 002_settings.pl -- the canonical form does not depend on session settings
# (docs/format.md).  Entries are written by sessions whose settings come
# from database and role defaults (ALTER DATABASE / ALTER ROLE ... SET):
# TimeZone Asia/Jakarta, DateStyle 'SQL, DMY', extra_float_digits 0,
# bytea_output escape, IntervalStyle iso_8601 and a search_path that puts a
# hostile schema before pg_catalog.  They are verified by a session with
# other defaults (UTC, ISO, hex, ...), and again with still other settings:
# verify() and verify_table() must find nothing, and every stored value must
# equal what notary.canonical() computes in the verifying session.  Covers
# the types whose output follows a setting: date/time types, floats, bytea,
# interval, money, arrays, ranges, composites, domains, and also geometric
# types (extra_float_digits), reg* types (search_path) and multiranges
# (TimeZone, DateStyle).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use NotaryTest;

my $node = notary_node('settings', "timezone = 'America/Sao_Paulo'\n");


sub sql
{
	my ($q, %o) = @_;
	my @p;
	push @p, extra_params => [ '-U', $o{user} ] if $o{user};
	return $node->safe_psql($o{db} // 'appdb', $q, @p);
}

sub writer  { return sql($_[0], user => 'app_writer'); }
sub checker { return sql($_[0], user => 'checker'); }

# notary.verify_table() as text, or "ERROR: ..." (then assertions fail).
sub verify_table_as
{
	my ($user, $tbl, $prefix) = @_;
	my ($ret, $out, $err) = $node->psql('appdb',
		($prefix // '') . "SELECT problem, row_key, detail FROM notary.verify_table('$tbl') ORDER BY seq NULLS LAST, problem, row_key",
		extra_params => [ '-U', $user ]);
	return $ret == 0 ? $out : "ERROR: $err";
}

# --- setup: roles, database and role defaults -------------------------------

$node->safe_psql('postgres', q{
CREATE DATABASE appdb;
CREATE ROLE app_writer LOGIN;
CREATE ROLE checker LOGIN;
ALTER DATABASE appdb SET TimeZone = 'Asia/Jakarta';
ALTER DATABASE appdb SET DateStyle = 'SQL, DMY';
ALTER ROLE app_writer SET extra_float_digits = 0;
ALTER ROLE app_writer SET bytea_output = 'escape';
ALTER ROLE app_writer SET IntervalStyle = 'iso_8601';
ALTER ROLE app_writer SET search_path = odd, pg_catalog, app, public;
ALTER ROLE checker IN DATABASE appdb SET TimeZone = 'UTC';
ALTER ROLE checker IN DATABASE appdb SET DateStyle = 'ISO, MDY';
ALTER ROLE checker SET extra_float_digits = 3;
ALTER ROLE checker SET bytea_output = 'hex';
ALTER ROLE checker SET IntervalStyle = 'postgres_verbose';
ALTER ROLE checker SET search_path = app, public;
});
sql(q{
CREATE EXTENSION pg_notary;
GRANT notary_auditor TO checker;
CREATE SCHEMA app;
GRANT USAGE ON SCHEMA app TO app_writer, checker;

-- A schema that the writer's search_path puts before pg_catalog, with an
-- integer "=" that is always false and a text "||" that drops its right
-- argument: anything pg_notary runs unqualified in the writer's session
-- would misbehave.
CREATE SCHEMA odd;
GRANT USAGE ON SCHEMA odd TO PUBLIC;
CREATE FUNCTION odd.int_eq(int, int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR odd.= (LEFTARG = int, RIGHTARG = int, FUNCTION = odd.int_eq);
CREATE FUNCTION odd.cat(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE OPERATOR odd.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = odd.cat);
CREATE FUNCTION odd.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '2000-01-01 00:00+00'::timestamptz$$;

CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.pair AS (at timestamptz, x float8, b bytea);
CREATE DOMAIN app.moment AS timestamptz;

-- Types whose text output follows a session setting, handled by the
-- canonical form.
CREATE TABLE app.s (
    id    int PRIMARY KEY,
    ts    timestamptz,
    d     date,
    t     timestamp,
    tm    time,
    ttz   timetz,
    f8    float8,
    f8b   float8,
    f4    float4,
    n     numeric,
    b     bytea,
    iv    interval,
    ivn   interval,
    m     money,
    arr   timestamptz[],
    r     tstzrange,
    dr    daterange,
    comp  app.pair,
    mo    app.moment,
    e     app.mood,
    j     jsonb,
    txt   text
);
-- Further types whose output follows a setting: geometric types
-- (extra_float_digits), reg* types (search_path), multiranges (TimeZone,
-- DateStyle).
CREATE TABLE app.x (
    id   int PRIMARY KEY,
    p    point,
    rc   regclass,
    mr   tstzmultirange,
    dmr  datemultirange
);
GRANT SELECT, INSERT, UPDATE, DELETE ON app.s, app.x TO app_writer;
GRANT SELECT ON app.s, app.x TO checker;
});

# The row values, written as expressions that do not depend on settings.
my $vals = q{
    '2024-02-03 08:04:05.123456+07', DATE '2024-02-03', TIMESTAMP '2024-02-03 08:04:05',
    TIME '08:04:05.5', TIMETZ '08:04:05+07', 0.1::float8, 1::float8 / 3, 0.1::float4,
    12345.678900, '\x00ff5c27'::bytea, INTERVAL '1 year 2 mons 3 days 04:05:06.5',
    INTERVAL '-1 day +02:00', 12.34::numeric::money,
    ARRAY['2024-01-01 00:00+07', '2024-06-01 12:00+00']::timestamptz[],
    tstzrange('2024-01-01 00:00+07', '2024-01-02 00:00+07'),
    daterange(DATE '2024-01-01', DATE '2024-03-01'),
    ROW('2024-01-01 00:00+07', 1::float8 / 3, '\x01'::bytea)::app.pair,
    '2024-05-05 05:05+05', 'ok', '{"a": 1.50, "b": [1, "x"]}', 'héllo'
};
my $xvals = q{
    point(0.1, 1::float8 / 3), 'app.s'::regclass,
    tstzmultirange(tstzrange('2024-01-01 00:00+07', '2024-01-02 00:00+07')),
    datemultirange(daterange(DATE '2024-01-01', DATE '2024-01-05'))
};

# Rows that exist before enrolment: their SNAPSHOT entries are written by
# a superuser session under the same odd settings.
my $odd = q{SET TimeZone = 'Asia/Jakarta'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = 0;
SET bytea_output = 'escape'; SET IntervalStyle = 'iso_8601'; SET search_path = odd, pg_catalog, app, public;
};
sql($odd . "INSERT INTO app.s VALUES (1, $vals), (2, $vals); INSERT INTO app.x VALUES (1, $xvals);
            SELECT notary.enable('app');");

# --- the writer's session really has the odd settings ---------------------

is( writer("SELECT pg_catalog.concat_ws('|', current_setting('TimeZone'), current_setting('DateStyle'),
            current_setting('extra_float_digits'), current_setting('bytea_output'),
            current_setting('IntervalStyle'), current_setting('search_path'))"),
	'Asia/Jakarta|SQL, DMY|0|escape|iso_8601|odd, pg_catalog, app, public',
	'precondition: writer session settings come from database and role defaults');
is( checker("SELECT current_setting('TimeZone') || '|' || current_setting('DateStyle') || '|' ||
             current_setting('extra_float_digits') || '|' || current_setting('bytea_output') || '|' ||
             current_setting('IntervalStyle')"),
	'UTC|ISO, MDY|3|hex|postgres_verbose',
	'precondition: checker session settings differ');
is(writer("SELECT 1 = 1"), 'f', 'precondition: the writer\'s "=" on integers is hijacked');

# --- writes under the odd settings ----------------------------------------

writer("INSERT INTO app.s VALUES (3, $vals), (4, $vals);
        UPDATE app.s SET f8 = f8 * 3, ts = ts + interval '1 hour', b = b || '\\x00'::bytea
         WHERE id OPERATOR(pg_catalog.=) 3;
        DELETE FROM app.s WHERE id OPERATOR(pg_catalog.=) 4;
        INSERT INTO app.x VALUES (2, $xvals);");
# A layout change under the odd settings: DDL entry and a new baseline.
sql($odd . "ALTER TABLE app.s ADD COLUMN extra timestamptz DEFAULT '2024-07-07 07:07+07'");
writer("UPDATE app.s SET n = n + 1 WHERE id OPERATOR(pg_catalog.=) 1; INSERT INTO app.s (id, ts) VALUES (5, '2030-01-01 00:00+14');");

is( sql("SELECT count(*) FROM notary.ledger l JOIN notary.tables t USING (table_id)
          WHERE t.table_name = 's' AND l.op IN ('INSERT', 'UPDATE', 'DELETE')"),
	'6', 'the writer\'s changes are captured (3 inserts, 2 updates, 1 delete)');
is( sql("SELECT count(*) FROM notary.ledger WHERE session_user_name = 'app_writer'"),
	'7', 'all seven entries of the writer are recorded under its name');

# --- verification in other sessions finds nothing --------------------------

is(checker("SELECT count(*) FROM notary.verify()"), '0',
	'verify() in a UTC/ISO/hex session: no findings');
is( sql("SET TimeZone = 'Pacific/Kiritimati'; SET DateStyle = 'Postgres, YMD'; SET extra_float_digits = -10;
	     SET bytea_output = 'escape'; SET IntervalStyle = 'sql_standard'; SET search_path = odd, pg_catalog;
	     SELECT count(*) FROM notary.verify();"),
	'0', 'verify() in a superuser session with yet other settings: no findings');
is(verify_table_as('checker', 'app.s'), '', 'verify_table(app.s) in the checker session: no findings');
is( verify_table_as(
		'checker', 'app.s',
		"SET TimeZone = 'Pacific/Chatham'; SET DateStyle = 'German, DMY'; SET extra_float_digits = -15; SET IntervalStyle = 'sql_standard'; SET search_path = odd, pg_catalog;\n"
	),
	'',
	'verify_table(app.s) under Pacific/Chatham, German, extra_float_digits -15: no findings');

# --- every stored value equals the canonical text computed elsewhere -------

# For each column of the latest image of each live row: the stored text in
# the ledger must equal notary.canonical(column) computed now in a session
# with different settings.  Reported per column, so a failure names it.
sub check_columns
{
	my ($tbl, @cols) = @_;
	for my $c (@cols)
	{
		my $bad = checker(qq{
SELECT coalesce(string_agg(format('id %s: stored %s, now %s', t.id, le.row_data->>'$c', notary.canonical(t.$c)), '; '), '')
  FROM app.$tbl t
  JOIN LATERAL (SELECT e.row_data FROM notary.entries e
                 WHERE e.table_name = '$tbl' AND e.row_data->>'id' = t.id::text AND e.op IN ('INSERT', 'UPDATE', 'SNAPSHOT')
                 ORDER BY e.seq DESC LIMIT 1) le ON true
 WHERE (le.row_data->>'$c') IS DISTINCT FROM notary.canonical(t.$c)});
		is($bad, '', "app.$tbl.$c: stored canonical text is independent of session settings");
	}
}
check_columns('s', qw(ts d t tm ttz f8 f8b f4 n b iv ivn m arr r dr comp mo e j txt extra));

is( checker("SELECT row_data->>'ts' || ' ' || (row_data->>'f8b') || ' ' || (row_data->>'b')
             FROM notary.entries WHERE table_name = 's' AND op = 'INSERT' AND row_data->>'id' = '3'"),
	'2024-02-03 01:04:05.123456+00 0.3333333333333333 \\x00ff5c27',
	'timestamptz in UTC, shortest exact float, bytea in hex, as written by the odd session');

# The history of a row reads the same in any session.
is( checker("SELECT string_agg(op, ',' ORDER BY seq) FROM notary.history('app.s', '3')"),
	'INSERT,UPDATE,SNAPSHOT',
	'history(app.s, 3): insert, update, then the snapshot of the layout change');

# --- types whose output follows other settings ----------------------------

is(verify_table_as('checker', 'app.x'), '',
	'verify_table(app.x) (point, regclass, multiranges) in the checker session: no findings');
check_columns('x', qw(p rc mr dmr));

$node->stop;
done_testing();
