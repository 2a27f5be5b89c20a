--
-- 13_opendata: pseudonyms and notary.publish().  Every bad input fails with
-- its SQLSTATE and creates nothing; no unpublished or personal column
-- reaches a view; pseudonyms are keyed, stable for one key version,
-- different across domains, keys and rotations; groups smaller than k never
-- appear (people counted by the subject column); opendata_reader reaches
-- nothing but the views, even with a "leakproof" function in WHERE; a
-- view whose table changed fails closed until refreshed.
-- Runs in its own database, with its own pseudonym key files.
--
CREATE DATABASE notary_opendata;
\c notary_opendata
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
\i sql/include/expect_error.sql
-- everything a publication creates: schema opendata and its relations, the
-- generated functions, rows of notary.publications, PUBLISH entries
CREATE FUNCTION public.published_objects() RETURNS text
LANGUAGE sql AS $$
  SELECT format('schema opendata: %s, relations: %s, functions: %s, publications: %s, PUBLISH entries: %s',
    (SELECT count(*) FROM pg_namespace WHERE nspname = 'opendata'),
    (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'opendata'),
    (SELECT count(*) FROM pg_proc WHERE pronamespace = 'notary'::regnamespace AND proname LIKE 'publication\_%' AND proname <> 'publication_check' AND proname <> 'publication_problems'),
    (SELECT count(*) FROM notary.publications),
    (SELECT count(*) FROM notary.ledger WHERE op IN ('PUBLISH', 'UNPUBLISH')))
$$;
-- this run's own key files, in the data directory (a rerun starts afresh)
SELECT 'regress_opendata_' || oid || '.key' AS keyfile,
       'regress_opendata_' || oid || '_other.key' AS otherkey
  FROM pg_database WHERE datname = current_database() \gset
SET notary.pseudonym_key_file = :'keyfile';

CREATE ROLE regress_od_public LOGIN IN ROLE opendata_reader;
CREATE ROLE regress_od_nobody LOGIN;
CREATE ROLE regress_od_auditor IN ROLE notary_auditor;

CREATE SCHEMA lapor;
CREATE TABLE lapor.complaints (id int PRIMARY KEY, nik text, name text, birth_date date,
  region text, village text, amount numeric, filed_at timestamptz, body text, status text);
-- region 3171: 4 rows of 3 people; 3201: 3 rows of 2 people; 3603: 1 person
INSERT INTO lapor.complaints VALUES
  (1, '3171000000000001', 'Ayu Lestari', '1990-01-02', '3171', 'Menteng',  150000, '2024-01-05 10:00+07', 'jalan rusak', 'open'),
  (2, '3171000000000002', 'Bima Sakti',  '1985-05-06', '3171', 'Gondangdia', 250000, '2024-01-31 23:30+00', 'lampu mati', 'closed'),
  (3, '3171000000000002', 'Bima Sakti',  '1985-05-06', '3171', 'Gondangdia', 90000, '2024-02-01 01:00+07', 'lampu mati lagi', 'open'),
  (4, '3171000000000003', 'Citra Dewi',  '1979-09-10', '3171', 'Cikini',   1000, '2024-02-10 10:00+07', 'banjir', 'open'),
  (5, '3201000000000004', 'Dedi Kurnia', '1979-09-10', '3201', 'Cibinong', 5000, '2024-02-11 10:00+07', 'sampah', 'open'),
  (6, '3201000000000004', 'Dedi Kurnia', '1979-09-10', '3201', 'Cibinong', 7000, '2024-03-11 10:00+07', 'sampah lagi', 'open'),
  (7, '3201000000000005', 'Eka Putri',   '1999-12-31', '3201', 'Sentul',   7000, '2024-03-12 10:00+07', 'macet', 'open'),
  (8, '3603000000000006', 'Fajar Nugraha', '2001-07-07', '3603', 'Tigaraksa', 12000, '2024-03-13 10:00+07', 'air keruh', 'closed');
CREATE SCHEMA procurement;
CREATE TABLE procurement.tenders (id int PRIMARY KEY, vendor text, value numeric(14,2), official_nik text);
CREATE TABLE procurement.permits (id int PRIMARY KEY, applicant text, official_nik text, decided_on date);
INSERT INTO procurement.tenders VALUES (1, 'PT Jalan Mulus', 1500000000, '3171999900000001'),
  (2, 'CV Terang', 250000000, '3171999900000002');
INSERT INTO procurement.permits VALUES (1, 'Toko Sinar', '3171999900000001', '2024-04-02'),
  (2, 'Warung Biru', '3171999900000002', '2024-05-17');
CREATE TABLE public.loose (id int PRIMARY KEY, note text);   -- not enrolled
SELECT notary.enable('lapor'), notary.enable('procurement');
SELECT notary.classify('lapor.complaints', 'nik', 'identifier');
SELECT notary.classify('lapor.complaints', 'name', 'identifier');
SELECT notary.classify('lapor.complaints', 'birth_date', 'quasi_identifier');
SELECT notary.classify('lapor.complaints', 'region', 'quasi_identifier');
SELECT notary.classify('lapor.complaints', 'village', 'quasi_identifier');
SELECT notary.classify('lapor.complaints', 'body', 'sensitive');
SELECT notary.classify('procurement.tenders', 'official_nik', 'identifier');
SELECT notary.classify('procurement.permits', 'official_nik', 'identifier');

----------------------------------------------------------------------------
-- Bad input: each with its SQLSTATE, and nothing created
----------------------------------------------------------------------------
SELECT published_objects() AS before;
-- no pseudonym key yet
SELECT expect_error($$SELECT notary.pseudonym('x'::text, 'd')$$) AS no_key_pseudonym;
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "nik": "pseudonymise"}')$$) AS no_key;
-- a schema opendata that is not pg_notary's
CREATE SCHEMA opendata AUTHORIZATION regress_od_nobody;
SELECT notary.publish('lapor.complaints', '{"id": "keep"}');
DROP SCHEMA opendata;
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "nosuch": "keep"}')$$) AS unknown_column,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "ctid": "keep"}')$$) AS system_column,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "status": "publish"}')$$) AS unknown_rule,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "status": "keep(1)"}')$$) AS keep_with_argument;
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "name": "mask(a,b)"}')$$) AS mask_letters,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "name": "mask(1)"}')$$) AS mask_one_number,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(0)"}', k => 2)$$) AS prefix_zero,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "amount": "range(-5)"}')$$) AS range_negative,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "amount": "range(0)"}')$$) AS range_zero,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "amount": "range(1e9)"}')$$) AS range_exponent,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "nik": "pseudonymise()"}')$$) AS empty_domain,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "filed_at": "month("}')$$) AS unclosed;
-- class: a personal column is never kept; an identifier is only dropped, pseudonymised or masked
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "nik": "keep"}')$$) AS keep_identifier,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "keep"}', k => 2)$$) AS keep_quasi,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "body": "keep"}')$$) AS keep_sensitive,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "nik": "prefix(4)"}')$$) AS prefix_identifier;
-- type
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "status": "year"}')$$) AS year_of_text,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "status": "range(10)"}')$$) AS range_of_text,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "prefix(2)"}')$$) AS prefix_of_integer;
-- k, quasi-identifiers, subject
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep"}', k => 1)$$) AS k_one,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep"}', k => -3)$$) AS k_negative,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(2)"}')$$) AS quasi_without_k,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep"}', k => 2, subject => 'nosuch')$$) AS subject_missing;
-- the rules themselves, the table, the caller
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '["id"]')$$) AS rules_array,
       expect_error($$SELECT notary.publish('lapor.complaints', NULL)$$) AS rules_null,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": 1}')$$) AS rule_not_string,
       expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "drop", "nik": "drop"}')$$) AS nothing_published,
       expect_error($$SELECT notary.publish(NULL, '{"id": "keep"}')$$) AS table_null,
       expect_error($$SELECT notary.publish('public.loose', '{"id": "keep"}')$$) AS not_enrolled,
       expect_error($$SELECT notary.publish('notary.enrolled', '{"schema_name": "keep"}')$$) AS a_view;
SET ROLE regress_od_nobody;
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep"}')$$) AS not_allowed;
RESET ROLE;
-- the messages in full, for a few
SELECT notary.publish('lapor.complaints', '{"id": "keep", "nik": "keep"}');
SELECT notary.publish('lapor.complaints', '{"id": "keep", "status": "year"}');
SELECT notary.publish('lapor.complaints', '{"id": "keep", "name": "mask(1)"}');
SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(2)"}');
SELECT notary.publish('lapor.complaints', '{"id": "keep", "nosuch": "keep"}');
SELECT published_objects() AS after_refusals;

----------------------------------------------------------------------------
-- Keys: created on request only, by superusers only, appended as versions
----------------------------------------------------------------------------
SET ROLE regress_od_nobody;
SELECT expect_error('SELECT notary.create_pseudonym_key()') AS create_key_not_superuser;
RESET ROLE;
SELECT notary.create_pseudonym_key() AS key_version;
SELECT (pg_stat_file(current_setting('notary.pseudonym_key_file'))).size AS key_file_bytes;

----------------------------------------------------------------------------
-- Publish the complaints: default deny, k = 2 people per region
----------------------------------------------------------------------------
SELECT notary.publish('lapor.complaints',
  '{"id": "keep", "nik": "pseudonymise", "name": "mask(1,1)", "region": "prefix(2)",
    "amount": "range(100000)", "filed_at": "month", "status": "keep", "village": "drop"}',
  k => 2, subject => 'nik', title => 'LAPOR! complaints', description => 'Complaints per region, no complainant identity');
SELECT published_objects() AS after_publish;
-- only the published columns, with their published types
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'opendata.complaints'::regclass AND attnum > 0 ORDER BY attnum;
SELECT obj_description('opendata.complaints'::regclass, 'pg_class') AS comment;
SELECT id, nik ~ '^k1\.[0-9a-f]{32}$' AS pseudonym_form, name, region, amount, filed_at, status
  FROM opendata.complaints ORDER BY id;
-- no personal value of the table appears anywhere in the view
SELECT count(*) AS personal_values_in_view
  FROM opendata.complaints v, lapor.complaints t
 WHERE strpos(v::text, t.nik) > 0 OR strpos(v::text, t.name) > 0 OR strpos(v::text, t.village) > 0
    OR strpos(v::text, t.body) > 0 OR strpos(v::text, t.birth_date::text) > 0;
-- pseudonyms: one per person, the same for both of Bima's complaints
SELECT count(DISTINCT v.nik) AS people, count(*) AS complaints,
       bool_and(v.nik = notary.pseudonym(t.nik, 'lapor.complaints.nik', 1)) AS recomputed_with_key
  FROM opendata.complaints v JOIN lapor.complaints t USING (id);
-- not an unkeyed hash of the value (sha256, md5, with or without the domain)
SELECT count(*) AS equal_to_unkeyed_hash
  FROM opendata.complaints v JOIN lapor.complaints t USING (id)
 WHERE substr(v.nik, 4) IN (left(encode(sha256(convert_to(t.nik, 'UTF8')), 'hex'), 32), md5(t.nik),
                            left(encode(sha256(convert_to('lapor.complaints.nik' || t.nik, 'UTF8')), 'hex'), 32),
                            md5('lapor.complaints.nik' || t.nik));
-- k-anonymity: region 36 (one person) is suppressed; 31 and 32 have >= 2 people
SELECT region, count(*) AS rows, count(DISTINCT nik) AS people FROM opendata.complaints GROUP BY region ORDER BY region;
SELECT * FROM notary.k_anonymity('opendata.complaints');
-- counted by people, not rows: k = 3 drops region 32 (3 rows, 2 people) ...
SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(2)"}', k => 3,
                      subject => 'nik', view_name => 'complaints_k3');
SELECT region, count(*) AS rows FROM opendata.complaints_k3 GROUP BY region ORDER BY region;
SELECT * FROM notary.k_anonymity('opendata.complaints_k3');
-- ... and keeps it when rows are counted
SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(2)"}', k => 3,
                      view_name => 'complaints_k3');
SELECT region, count(*) AS rows FROM opendata.complaints_k3 GROUP BY region ORDER BY region;
SELECT * FROM notary.k_anonymity('opendata.complaints_k3');
-- several quasi-identifiers: groups are combinations of their published
-- values; region and birth year together single out everyone here
SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(2)", "birth_date": "year"}', k => 2,
                      subject => 'nik', view_name => 'complaints_k3');
SELECT region, birth_date, count(*) AS rows FROM opendata.complaints_k3 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT k_required, k_reached, quasi_identifiers, rows_published, rows_suppressed FROM notary.k_anonymity('opendata.complaints_k3');
SELECT notary.unpublish('complaints_k3');

----------------------------------------------------------------------------
-- Domains: unlinkable across columns by default, linked on purpose
----------------------------------------------------------------------------
SELECT notary.publish('procurement.tenders', '{"id": "keep", "vendor": "keep", "value": "keep", "official_nik": "pseudonymise"}');
SELECT notary.publish('procurement.permits', '{"id": "keep", "applicant": "keep", "official_nik": "pseudonymise", "decided_on": "month"}');
SELECT count(*) AS linked_by_default FROM opendata.tenders t JOIN opendata.permits p USING (official_nik);
SELECT notary.publish('procurement.tenders', '{"id": "keep", "vendor": "keep", "value": "keep", "official_nik": "pseudonymise(officials)"}');
SELECT notary.publish('procurement.permits', '{"id": "keep", "applicant": "keep", "official_nik": "pseudonymise(officials)", "decided_on": "month"}');
SELECT t.vendor, p.applicant, p.decided_on FROM opendata.tenders t JOIN opendata.permits p USING (official_nik) ORDER BY 1;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'opendata.tenders'::regclass AND attnum > 0 ORDER BY attnum;

----------------------------------------------------------------------------
-- Keys: another key, another pseudonym; rotation changes a view only
-- when it is refreshed with rotate_key: a plain refresh keeps its version
----------------------------------------------------------------------------
CREATE TEMP TABLE seen AS SELECT id, nik FROM opendata.complaints;
SET notary.pseudonym_key_file = :'otherkey';
SELECT notary.create_pseudonym_key() AS other_file_version;
SELECT count(*) AS same_with_other_key
  FROM seen JOIN lapor.complaints t USING (id) WHERE seen.nik = notary.pseudonym(t.nik, 'lapor.complaints.nik', 1);
SET notary.pseudonym_key_file = :'keyfile';
SELECT notary.create_pseudonym_key() AS rotated_to;
SELECT count(*) AS unchanged_before_refresh FROM seen JOIN opendata.complaints v USING (id) WHERE seen.nik = v.nik;
SELECT key_version FROM notary.published WHERE view_name = 'opendata.complaints';
SELECT notary.refresh('opendata.complaints');
SELECT key_version FROM notary.published WHERE view_name = 'opendata.complaints';
SELECT count(*) FILTER (WHERE seen.nik = v.nik) AS unchanged_after_refresh,
       count(*) FILTER (WHERE v.nik ~ '^k1\.[0-9a-f]{32}$') AS with_key_1
  FROM seen JOIN opendata.complaints v USING (id);
SELECT notary.refresh('opendata.complaints', rotate_key => true);
SELECT key_version FROM notary.published WHERE view_name = 'opendata.complaints';
SELECT count(*) FILTER (WHERE seen.nik = v.nik) AS unchanged_after_rotation,
       count(*) FILTER (WHERE v.nik ~ '^k2\.[0-9a-f]{32}$') AS with_key_2,
       count(DISTINCT v.nik) AS people
  FROM seen JOIN opendata.complaints v USING (id);
-- a key file without the version a view uses (or another key under it): a
-- plain refresh refuses, changing nothing; rotating is explicit
CREATE TEMP TABLE before_refusal AS
  SELECT CAST(pub AS text) AS pub, (SELECT count(*) FROM notary.ledger) AS entries FROM notary.publications pub;
SET notary.pseudonym_key_file = :'otherkey';
SELECT expect_error($$SELECT notary.refresh('complaints')$$) AS refresh_key_missing,
       expect_error($$SELECT notary.refresh('tenders')$$) AS refresh_key_changed;
SET notary.pseudonym_key_file = :'keyfile';
SELECT (SELECT count(*) FROM notary.publications now WHERE CAST(now AS text) IN (SELECT pub FROM before_refusal))
         = (SELECT count(*) FROM before_refusal) AS publications_unchanged,
       (SELECT count(*) FROM notary.ledger) = (SELECT max(entries) FROM before_refusal) AS no_ledger_entry;
-- stable for the same key version
SELECT count(*) AS stable FROM opendata.complaints v JOIN opendata.complaints w USING (id) WHERE v.nik = w.nik;
-- a key file that lacks the version a view uses: fail closed, reported
SET notary.pseudonym_key_file = :'otherkey';
SELECT expect_error('SELECT * FROM opendata.complaints') AS key_version_gone;
SELECT view_name, problem FROM notary.publication_problems() ORDER BY 1, 2;
SET notary.pseudonym_key_file = :'keyfile';

----------------------------------------------------------------------------
-- opendata_reader: the views, and nothing else
----------------------------------------------------------------------------
-- a "leakproof" function, as cheap as can be, that tells (RAISE NOTICE) and
-- keeps (leaked) every value it is shown
CREATE TABLE public.leaked (v text);
CREATE FUNCTION public.leak(text) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 LEAKPROOF SECURITY DEFINER AS $$
BEGIN
  RAISE NOTICE 'leak: %', $1;
  INSERT INTO public.leaked VALUES ($1);
  RETURN true;
END
$$;
GRANT EXECUTE ON FUNCTION public.leak(text) TO PUBLIC;
SET ROLE regress_od_public;
SELECT count(*) AS rows_seen FROM opendata.complaints;
SELECT count(*) AS rows_via_leak FROM opendata.complaints c
 WHERE leak(c.id::text) AND leak(c.region) AND leak(c::text) AND c.status = 'open';
SELECT count(*) AS tenders FROM opendata.tenders WHERE leak(vendor);
SELECT expect_error('SELECT * FROM lapor.complaints') AS base_table,
       expect_error('SELECT * FROM lapor.complaints WHERE leak(nik)') AS base_table_with_leak,
       expect_error($$SELECT notary.pseudonym('3171000000000001'::text, 'lapor.complaints.nik', 1)$$) AS pseudonym_function,
       expect_error('SELECT * FROM notary.publication_1()') AS generated_function,
       expect_error('SELECT * FROM notary.publications') AS publications;
RESET ROLE;
-- what the leak saw: only what the view publishes
SELECT count(*) AS leaked_values,
       count(*) FILTER (WHERE v IN ('8', '36')) AS suppressed_seen,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM lapor.complaints t
                                        WHERE strpos(v, t.nik) > 0 OR strpos(v, t.name) > 0
                                           OR strpos(v, t.village) > 0 OR strpos(v, t.body) > 0)) AS personal_seen
  FROM public.leaked;
SELECT count(*) AS leaked_not_published FROM public.leaked l
 WHERE l.v NOT IN (SELECT c.id::text FROM opendata.complaints c UNION ALL SELECT c.region FROM opendata.complaints c
                   UNION ALL SELECT c::text FROM opendata.complaints c UNION ALL SELECT vendor FROM opendata.tenders);
-- even a role that may read the ledger cannot compute pseudonyms
SET ROLE regress_od_auditor;
SELECT expect_error($$SELECT notary.pseudonym('3171000000000001'::text, 'lapor.complaints.nik', 1)$$) AS auditor_pseudonym;
SELECT view_name, stale FROM notary.published ORDER BY 1;
-- the auditor has no USAGE on schema opendata: it names the view by the OID
-- notary.published gives
SELECT expect_error($$SELECT * FROM notary.k_anonymity('opendata.complaints')$$) AS auditor_k_by_name;
SELECT k_required, rows_suppressed
  FROM notary.k_anonymity((SELECT view_relid FROM notary.published WHERE view_name = 'opendata.complaints'));
RESET ROLE;
-- and a grant by mistake does not open it
GRANT USAGE ON SCHEMA notary TO regress_od_nobody;
GRANT EXECUTE ON FUNCTION notary.pseudonym(anyelement, text, integer) TO regress_od_nobody;
GRANT EXECUTE ON FUNCTION notary.create_pseudonym_key() TO regress_od_nobody;
SET ROLE regress_od_nobody;
SELECT notary.pseudonym('3171000000000001'::text, 'lapor.complaints.nik', 1);
SELECT notary.create_pseudonym_key();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION notary.pseudonym(anyelement, text, integer) FROM regress_od_nobody;
REVOKE EXECUTE ON FUNCTION notary.create_pseudonym_key() FROM regress_od_nobody;
REVOKE USAGE ON SCHEMA notary FROM regress_od_nobody;

----------------------------------------------------------------------------
-- Hostile names: identifiers and rule arguments cannot inject SQL
----------------------------------------------------------------------------
CREATE TABLE lapor."x""; DROP TABLE lapor.complaints; --" (
  "id"" int); DROP TABLE lapor.complaints; --" int PRIMARY KEY,
  "nik')); DROP TABLE lapor.complaints; --" text,
  "$$" text, "$body$" text);
INSERT INTO lapor."x""; DROP TABLE lapor.complaints; --" VALUES (1, '3171000000000001', '$$ dollar', '$body$');
SELECT notary.publish('lapor."x""; DROP TABLE lapor.complaints; --"',
  jsonb_build_object('id" int); DROP TABLE lapor.complaints; --', 'keep',
                     'nik'')); DROP TABLE lapor.complaints; --', 'pseudonymise(''); DROP TABLE lapor.complaints; --$$ $body$)',
                     '$$', 'keep', '$body$', 'mask(0,0)'),
  view_name => 'v"; DROP TABLE lapor.complaints; --', title => 'it''s $$ fine');
SELECT "id"" int); DROP TABLE lapor.complaints; --" AS id,
       "nik')); DROP TABLE lapor.complaints; --" ~ '^k2\.' AS pseudonymised, "$$", "$body$"
  FROM opendata."v""; DROP TABLE lapor.complaints; --";
SELECT to_regclass('lapor.complaints') IS NOT NULL AS complaints_still_there,
       obj_description('opendata."v""; DROP TABLE lapor.complaints; --"'::regclass, 'pg_class') AS title;
SELECT notary.unpublish('opendata."v""; DROP TABLE lapor.complaints; --"');

----------------------------------------------------------------------------
-- Staleness: fail closed, reported, refreshed or refused
----------------------------------------------------------------------------
SELECT view_name, problem FROM notary.publication_problems();
-- retype a kept column: stale until refreshed, then published with its new type
ALTER TABLE lapor.complaints ALTER COLUMN status TYPE varchar(10);
SELECT expect_error('SELECT * FROM opendata.complaints') AS retyped;
SELECT * FROM opendata.complaints;
SELECT * FROM notary.publication_problems();
SELECT stale, problems FROM notary.published WHERE view_name = 'opendata.complaints';
SELECT notary.refresh('complaints');
SELECT format_type(atttypid, atttypmod) AS status_type FROM pg_attribute
 WHERE attrelid = 'opendata.complaints'::regclass AND attname = 'status';
SELECT count(*) AS rows FROM opendata.complaints;
-- rename the table: stale; refresh follows the new name
ALTER TABLE procurement.permits RENAME TO licences;
SELECT expect_error('SELECT * FROM opendata.permits') AS table_renamed;
SELECT view_name, problem, detail FROM notary.publication_problems();
SELECT notary.refresh('permits');
SELECT count(*) AS permits FROM opendata.permits;
-- reclassify a kept column as personal: stale, and refresh refuses; back
-- to public (published like unclassified): current again
SELECT notary.classify('lapor.complaints', 'status', 'sensitive');
SELECT expect_error('SELECT * FROM opendata.complaints') AS reclassified;
SELECT view_name, problem, detail FROM notary.publication_problems();
SELECT notary.refresh('complaints');
SELECT expect_error('SELECT * FROM opendata.complaints') AS still_closed;
SELECT notary.classify('lapor.complaints', 'status', 'public');
SELECT count(*) AS open_again FROM opendata.complaints;
-- rename and drop columns: refresh refuses (the rules name them); publish anew
ALTER TABLE lapor.complaints RENAME COLUMN status TO state;
ALTER TABLE lapor.complaints DROP COLUMN amount;
SELECT expect_error('SELECT count(*) FROM opendata.complaints') AS renamed_and_dropped;
SELECT view_name, problem, detail FROM notary.publication_problems() ORDER BY 1, 3;
SELECT expect_error($$SELECT notary.refresh('complaints')$$) AS refresh_refused;
SELECT count(*) AS failed_refresh_kept_it_closed FROM notary.publication_problems() WHERE view_name = 'opendata.complaints';
SELECT notary.publish('lapor.complaints',
  '{"id": "keep", "nik": "pseudonymise", "region": "prefix(2)", "state": "keep"}', k => 2, subject => 'nik',
  view_name => 'complaints');
SELECT count(*) AS rows, count(*) FILTER (WHERE nik ~ '^k2\.') AS with_key_2 FROM opendata.complaints;
-- a view that cannot be replaced (another view depends on it) changes nothing
CREATE VIEW public.on_top AS SELECT id, state FROM opendata.complaints;
SELECT expect_error($$SELECT notary.publish('lapor.complaints', '{"id": "keep", "region": "prefix(2)"}', k => 2, view_name => 'complaints')$$) AS dependent_view;
SELECT rules FROM notary.published WHERE view_name = 'opendata.complaints';
DROP VIEW public.on_top;
-- names: taken by another table's publication, or by something else
SELECT expect_error($$SELECT notary.publish('procurement.tenders', '{"id": "keep"}', view_name => 'complaints')$$) AS taken_by_publication;
CREATE TABLE opendata.squatter (x int);
SELECT expect_error($$SELECT notary.publish('procurement.tenders', '{"id": "keep"}', view_name => 'squatter')$$) AS taken_by_table;
DROP TABLE opendata.squatter;
-- a dropped view is reported, and refresh makes it again
DROP VIEW opendata.tenders;
SELECT view_name, problem FROM notary.publication_problems();
SELECT notary.refresh('tenders');
-- a dropped table: reported; refresh refuses; unpublish cleans up
DROP TABLE procurement.licences;
SELECT view_name, problem, detail FROM notary.publication_problems();
SELECT expect_error('SELECT * FROM opendata.permits') AS table_dropped;
SELECT expect_error($$SELECT notary.refresh('permits')$$) AS refresh_dropped;
SELECT notary.unpublish('permits');
SELECT expect_error($$SELECT notary.unpublish('permits')$$) AS unpublish_twice,
       expect_error($$SELECT notary.refresh('public.complaints')$$) AS other_schema,
       expect_error($$SELECT * FROM notary.k_anonymity('lapor.complaints')$$) AS k_anonymity_of_table;

-- k without any quasi-identifier: the whole table is one group
SELECT count(*) AS tenders, count(DISTINCT official_nik) AS officials FROM procurement.tenders;
SELECT notary.publish('procurement.tenders', '{"id": "keep", "vendor": "keep"}', k => 2, view_name => 'tenders_k');
SELECT count(*) AS rows_k2 FROM opendata.tenders_k;
SELECT k_required, k_reached, quasi_identifiers, rows_published, groups_published, groups_suppressed
  FROM notary.k_anonymity('opendata.tenders_k');
SELECT notary.publish('procurement.tenders', '{"id": "keep"}', k => 1000, view_name => 'tenders_k');
SELECT count(*) AS rows_k1000 FROM opendata.tenders_k;
SELECT notary.publish('procurement.tenders', '{"id": "keep"}', k => 2, subject => 'official_nik', view_name => 'tenders_k');
SELECT count(*) AS rows_k2_people FROM opendata.tenders_k;
SELECT k_required, k_reached, subject_column, rows_published, groups_suppressed
  FROM notary.k_anonymity('opendata.tenders_k');
SELECT notary.unpublish('tenders_k');

----------------------------------------------------------------------------
-- The ledger: every publication recorded, without a data value
----------------------------------------------------------------------------
SELECT op, detail->>'view' AS view, detail->>'table' AS tbl, detail->'k' AS k, detail->>'subject' AS subject,
       detail->'key_version' AS key_version, detail->'key_rotated' AS rotated, detail->'refresh' AS refresh
  FROM notary.ledger WHERE op IN ('PUBLISH', 'UNPUBLISH') ORDER BY seq;
SELECT count(*) AS entries_with_personal_values FROM notary.ledger l, lapor.complaints t
 WHERE l.op IN ('PUBLISH', 'UNPUBLISH') AND (strpos(l.detail::text, t.nik) > 0 OR strpos(l.detail::text, t.name) > 0);
SELECT count(*) AS verify_findings FROM notary.verify();

\c contrib_regression
DROP DATABASE notary_opendata;
DROP ROLE regress_od_public, regress_od_nobody, regress_od_auditor;
