--
-- 04_canonical: the canonical text of values, as captured, does not depend
-- on session settings (TimeZone, DateStyle, extra_float_digits,
-- bytea_output, IntervalStyle), and equals notary.canonical().
-- (lc_monetary is not varied: test machines have only the C locales.)
--
CREATE SCHEMA canon;
CREATE TYPE canon.address AS (street text, num int, tags text[]);
CREATE DOMAIN canon.amount AS numeric(10,2) CHECK (VALUE >= 0);
CREATE TABLE canon.everything (
  id int PRIMARY KEY,
  n numeric, f8 float8, f4 float4,
  tstz timestamptz, ts timestamp, d date, t time, ttz timetz, iv interval,
  b bytea, jb jsonb, js json,
  ta text[], ia int[], ia2 int[],
  u uuid, txt text, m money, addr canon.address, r tstzrange, amt canon.amount,
  big text, flag boolean
);
SELECT notary.enable('canon');

-- write under unusual settings
SET TimeZone = 'Asia/Jakarta';
SET DateStyle = 'SQL, DMY';
SET extra_float_digits = 0;
SET bytea_output = 'escape';
SET IntervalStyle = 'sql_standard';
INSERT INTO canon.everything VALUES
 (1, 12345678901234567890.123456789, 0.1, 0.1,
  '2024-01-01 10:00:00+07', '2024-01-01 10:00:00.5', '2024-02-29', '23:59:59.999999', '10:00+07',
  '1 year 2 mons 3 days 04:05:06.7',
  '\x00ff27'::bytea, '{"b": 1, "a": [1, 2.50, null]}', '{"b":1,  "a":2}',
  ARRAY['a b', NULL, 'NULL', '"q"', 'ꦗꦮ', '😀'], ARRAY[1, NULL, 3], ARRAY[[1, 2], [3, 4]],
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'Selamat pagi — ꦱꦼꦭꦩꦠ꧀ ꦲꦺꦗꦶꦁ 😀', '1234.56',
  ROW('Jl. Merdeka, 1', 7, ARRAY['x', 'y z']),
  tstzrange('2024-01-01 00:00+07', '2024-01-02 00:00+07', '[)'),
  42.5, repeat('x', 100000), true),
 (2, 'NaN', 'NaN', '-Infinity',
  'infinity', '-infinity', 'infinity', '00:00', '00:00-03:30',
  '-1 day +02:00',
  '\x'::bytea, 'null', '[]',
  '{}', '{}', '{{NULL,1},{2,NULL}}',
  NULL, '', '-0.01',
  ROW(NULL, NULL, NULL),
  'empty',
  0, NULL, false),
 (3, -0.000, 'Infinity', 1e-45,
  NULL, NULL, '-infinity', NULL, NULL,
  '0',
  NULL, NULL, NULL,
  NULL, NULL, NULL,
  NULL, NULL, NULL,
  NULL,
  '(,)',
  NULL, NULL, NULL),
 (4, 1e100, '-0', 3.4028235e38,
  '1999-12-31 23:59:59.123456+00', '0001-01-01 00:00:00 BC', '4713-01-01 BC', '24:00', '23:59:59.999999+14',
  '-178000000 years',
  '\xdeadbeef'::bytea, '{"ꦗ": "😀"}', '"x"',
  ARRAY['{', '}', ',', '\', ' ', ''], '[0:1]={5,6}', '{{{1}}}',
  NULL, E'tab\there\nnewline', '92233720368547758.07',
  ROW('a"b\c', -1, '{}'),
  '[2024-06-01 12:00+00,infinity)',
  99999999.99, repeat('ꦗ', 50000), NULL);

-- the settings are in effect: plain text output follows them ...
SELECT tstz::text, d::text, f8::text, b::text, iv::text, r::text
  FROM canon.everything WHERE id = 1;

-- ... the captured images do not (big: length and md5 instead of the text)
SELECT l.row_image[1] AS id, u.name,
       CASE WHEN u.name = 'big' THEN length(u.value) || ' chars, md5 ' || md5(u.value) ELSE u.value END AS canonical
  FROM notary.ledger l JOIN notary.layouts y USING (layout_id),
       unnest(y.column_names, l.row_image) WITH ORDINALITY AS u(name, value, pos)
 WHERE l.table_id = (SELECT table_id FROM notary.tables WHERE relid = 'canon.everything'::regclass)
   AND l.op = 'INSERT'
 ORDER BY l.seq, u.pos;
SELECT md5(big) FROM canon.everything WHERE id = 1;

-- under other settings, notary.canonical() of every live value gives the
-- captured text exactly
SET TimeZone = 'America/St_Johns';
SET DateStyle = 'German';
SET extra_float_digits = 3;
SET bytea_output = 'hex';
SET IntervalStyle = 'iso_8601';
SELECT tstz::text, d::text, f8::text, b::text, iv::text, r::text
  FROM canon.everything WHERE id = 1;
CREATE TEMP VIEW canon_now AS
SELECT id, ARRAY[notary.canonical(id), notary.canonical(n), notary.canonical(f8), notary.canonical(f4),
                 notary.canonical(tstz), notary.canonical(ts), notary.canonical(d), notary.canonical(t),
                 notary.canonical(ttz), notary.canonical(iv), notary.canonical(b), notary.canonical(jb),
                 notary.canonical(js), notary.canonical(ta), notary.canonical(ia), notary.canonical(ia2),
                 notary.canonical(u), notary.canonical(txt), notary.canonical(m), notary.canonical(addr),
                 notary.canonical(r), notary.canonical(amt), notary.canonical(big), notary.canonical(flag)] AS image
  FROM canon.everything;
CREATE TEMP VIEW captured AS
SELECT l.row_image[1]::int AS id, l.row_image AS image, y.column_names
  FROM notary.ledger l JOIN notary.layouts y USING (layout_id)
 WHERE l.table_id = (SELECT table_id FROM notary.tables WHERE relid = 'canon.everything'::regclass)
   AND l.op = 'INSERT';
SELECT count(*) AS values_compared,
       count(*) FILTER (WHERE x.cv IS DISTINCT FROM x.kv) AS mismatches
  FROM captured c JOIN canon_now k USING (id), unnest(c.image, k.image) AS x(cv, kv);
-- any mismatch, by column (none expected)
SELECT c.id, x.name, x.cv AS captured, x.kv AS canonical_now
  FROM captured c JOIN canon_now k USING (id),
       unnest(c.column_names, c.image, k.image) AS x(name, cv, kv)
 WHERE x.cv IS DISTINCT FROM x.kv;

-- a row update under these settings captures the same canonical text for
-- the unchanged columns
UPDATE canon.everything SET flag = NOT flag WHERE id = 1;
SELECT (SELECT row_image FROM notary.ledger WHERE op = 'UPDATE'
          AND table_id = (SELECT table_id FROM notary.tables WHERE relid = 'canon.everything'::regclass))[1:23]
     = (SELECT image FROM captured WHERE id = 1)[1:23] AS unchanged_columns_equal;

-- verification does not depend on the settings either
SELECT count(*) AS findings FROM notary.verify();
SET TimeZone = 'Pacific/Kiritimati';
SET extra_float_digits = -15;
SELECT count(*) AS findings FROM notary.verify();

-- notary.canonical() directly: documented forms
SET TimeZone = 'Asia/Jakarta';
SELECT notary.canonical('2024-01-01 10:00:00+07'::timestamptz) AS tstz,
       notary.canonical('2024-07-01 12:34:56.789'::timestamp) AS ts,
       notary.canonical('2024-08-17'::date) AS d,
       notary.canonical(0.1::float8) AS f8,
       notary.canonical(0.1::float4) AS f4,
       notary.canonical(0.1::float4::float8) AS f4_as_f8,
       notary.canonical('\x0102'::bytea) AS b,
       notary.canonical('1 day 01:00'::interval) AS iv,
       notary.canonical('12.34'::money) AS m;
SELECT notary.canonical(ARRAY['2024-01-01 10:00+07'::timestamptz, NULL]) AS tstz_array,
       notary.canonical(ROW(1.5::float8, '2024-01-01 10:00+07'::timestamptz, 'x y')) AS record,
       notary.canonical(numrange(1.5, NULL)) AS range,
       notary.canonical(int4range(1, 1)) AS empty_range,
       notary.canonical('ab'::char(4)) || '|' AS bpchar,
       notary.canonical(NULL::int) IS NULL AS null_is_null;

-- clean up
RESET TimeZone;
RESET DateStyle;
RESET extra_float_digits;
RESET bytea_output;
RESET IntervalStyle;
SET client_min_messages = warning;
DROP SCHEMA canon CASCADE;
RESET client_min_messages;
SELECT count(*) AS findings FROM notary.verify();
