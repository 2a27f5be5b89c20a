--
-- 14_opendata_export: open-data exports (docs/opendata.md, "Exports").
-- Bad input gets a clear error and leaves nothing behind; a small export's
-- CSV bytes (commas, quotes, CR/LF, NULL against the empty string); no
-- personal value reaches it; the EXPORT ledger entry; verify() stays clean.
--
CREATE DATABASE notary_opendata_export;
\c notary_opendata_export
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
\i sql/include/expect_error.sql
CREATE SCHEMA s;
CREATE TABLE s.complaints (id int PRIMARY KEY, region text, note text, nik text,
                           filed timestamptz, urgent boolean, amount numeric);
SELECT notary.enable('s');
SET TimeZone = 'Asia/Jakarta';
SET DateStyle = 'German';
INSERT INTO s.complaints VALUES
  (1, 'Bandung, Jawa Barat', 'says "jalan rusak"', '3273010101800001', '2024-03-01 09:30:00+07', true, 1.5),
  (2, 'Bogor', E'first line\r\nsecond line', '3201020202850002', NULL, false, NULL),
  (3, '', 'empty region, not null', '3201020202850003', '2024-12-31 23:59:59.5+07', NULL, 1e-7),
  (4, NULL, NULL, '3201020202850004', NULL, NULL, NULL);
SELECT notary.publish('s.complaints',
         '{"id": "keep", "region": "keep", "note": "keep", "filed": "keep",
           "urgent": "keep", "amount": "keep"}',
         title => 'Complaints', description => 'Complaints, no complainant');
CREATE VIEW opendata.unpublished AS SELECT 1 AS x;
CREATE VIEW public.elsewhere AS SELECT 1 AS x;
CREATE ROLE regress_export_nobody;
CREATE ROLE regress_export_noview;
GRANT USAGE ON SCHEMA notary, opendata TO regress_export_nobody, regress_export_noview;
GRANT EXECUTE ON FUNCTION notary.opendata_export(regclass[], text, text, text, text),
                          notary.opendata_export_to(text, regclass[], text, text, text, text)
  TO regress_export_noview;
SELECT count(*) AS checkpoints_before FROM notary.checkpoints;

-- bad input: SQLSTATE and message
SELECT expect_error($$SELECT * FROM notary.opendata_export(NULL, 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints,NULL}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints,opendata.complaints}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.nosuchview}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.unpublished}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{public.elsewhere}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{s.complaints}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', NULL, 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', '  ', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', 'T', NULL)$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', 'T', 'my licence')$$);
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', 'T', 'CC-BY-4.0', NULL, 'Bad Name')$$);
SELECT expect_error($$SELECT notary.opendata_export_to('relative/dir', '{opendata.complaints}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT notary.opendata_export_to('/nonexistent/pg_notary', '{opendata.complaints}', 'T', 'CC-BY-4.0')$$);
-- message, detail and hint in full for two of them
SELECT * FROM notary.opendata_export('{opendata.unpublished}', 'T', 'CC-BY-4.0');
SELECT * FROM notary.opendata_export('{opendata.complaints}', 'T', 'my licence');
-- who may export: closed to PUBLIC; SELECT on each view; files need pg_write_server_files
SET ROLE regress_export_nobody;
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', 'T', 'CC-BY-4.0')$$);
SET ROLE regress_export_noview;
SELECT expect_error($$SELECT * FROM notary.opendata_export('{opendata.complaints}', 'T', 'CC-BY-4.0')$$);
SELECT expect_error($$SELECT notary.opendata_export_to('/tmp', '{opendata.complaints}', 'T', 'CC-BY-4.0')$$);
RESET ROLE;
-- nothing was created by any of them
SELECT count(*) AS checkpoints_after FROM notary.checkpoints;
SELECT count(*) AS exports FROM notary.ledger WHERE op = 'EXPORT';

-- a small export, as a client reads it (CR and LF shown as \r and \n):
-- a field with , " CR or LF is quoted, quotes doubled; NULL is an empty
-- field, the empty string is ""; timestamps in UTC whatever the session
SELECT path, row_number, row_count,
       replace(replace(data, E'\r', '\r'), E'\n', '\n') AS data
  FROM notary.opendata_export('{opendata.complaints}', 'Complaints', 'CC-BY-4.0')
 WHERE path <> 'datapackage.json';
SHOW TimeZone;
SHOW DateStyle;
-- the datapackage: what does not depend on the time or the key
CREATE TEMP TABLE dp AS
  SELECT data::jsonb AS d
    FROM notary.opendata_export('{opendata.complaints}', 'Complaints', 'CC-BY-4.0',
                                'Complaints per region', 'lapor-complaints')
   WHERE path = 'datapackage.json';
SELECT d->>'$schema' AS profile, d->>'name' AS name, d->>'title' AS title,
       d->>'description' AS description, d->'licenses' AS licenses FROM dp;
SELECT r->>'name' AS name, r->>'path' AS path, r->>'type' AS type, r->>'format' AS format,
       r->>'mediatype' AS mediatype, r->>'encoding' AS encoding, r->'bytes' AS bytes,
       r->>'hash' AS hash, r->>'title' AS title
  FROM dp, jsonb_array_elements(d->'resources') r;
SELECT f->>'name' AS field, f->>'type' AS type
  FROM dp, jsonb_array_elements(d->'resources'->0->'schema'->'fields') f;
SELECT d->'resources'->0->'dialect' AS dialect FROM dp;
SELECT d->'pg_notary'->>'format' AS format,
       split_part(d->'pg_notary'->>'manifest', E'\n', 1) AS manifest_format,
       length(d->'pg_notary'->>'signature') AS signature_hex,
       d->'pg_notary'->>'public_key' = (SELECT public_key FROM notary.public_key()) AS server_key
  FROM dp;
-- the manifest lines that do not depend on the time
SELECT l AS manifest_line
  FROM dp, regexp_split_to_table(d->'pg_notary'->>'manifest', E'\n') WITH ORDINALITY AS m(l, n)
 WHERE l !~ '^(created|checkpoint) ' AND l <> '' ORDER BY n;
-- its checkpoint is authentic and agrees with the ledger
SELECT count(*) AS findings FROM dp, notary.verify_checkpoint(d->'pg_notary'->'checkpoint');
-- no personal value appears anywhere in an export
SELECT count(*) AS lines_with_a_nik
  FROM notary.opendata_export('{opendata.complaints}', 'Complaints', 'CC-BY-4.0')
 WHERE data ~ '3273010101800001|320102020285000';

-- the EXPORT ledger entry names views, files, hashes and the checkpoint
-- (the entry of the export kept in dp: the NIK search made one more)
SELECT detail->'resources' AS resources, detail->>'name' AS name,
       (detail->>'checkpoint_id')::bigint = (SELECT (d->'pg_notary'->'checkpoint'->>'checkpoint_id')::bigint FROM dp)
         AS names_the_checkpoint,
       detail->>'checkpoint_digest' = (SELECT d->'pg_notary'->'checkpoint'->>'digest' FROM dp) AS digest_matches
  FROM notary.ledger WHERE op = 'EXPORT'
 ORDER BY seq DESC LIMIT 1 OFFSET 1;
SELECT count(*) AS exports FROM notary.ledger WHERE op = 'EXPORT';
SELECT count(*) AS findings FROM notary.verify();

-- to a server directory: the same bytes, datapackage.json last; never overwritten
SELECT current_setting('data_directory') || '/pg_notary_export_test' AS dir \gset
SELECT format('rm -rf %s && mkdir -m 700 %s', :'dir', :'dir') AS mkdir,
       format('rm -rf %s', :'dir') AS rmdir \gset
COPY (SELECT 1) TO PROGRAM :'mkdir';
SELECT (notary.opendata_export_to(:'dir', '{opendata.complaints}', 'Complaints', 'CC-BY-4.0'))->'resources'->0->>'hash' AS hash;
SELECT pg_ls_dir AS file FROM pg_ls_dir(:'dir') ORDER BY 1;
SELECT pg_read_file(:'dir' || '/complaints.csv') =
       string_agg(data, '' ORDER BY row_number) AS same_bytes
  FROM notary.opendata_export('{opendata.complaints}', 'Complaints', 'CC-BY-4.0')
 WHERE path = 'complaints.csv';
SELECT replace(expect_error(format($$SELECT notary.opendata_export_to(%L, '{opendata.complaints}', 'T', 'CC-BY-4.0')$$, :'dir')),
               :'dir', 'DIR') AS error;
SELECT pg_ls_dir AS file FROM pg_ls_dir(:'dir') ORDER BY 1;
-- a target that appears after the check, while the export runs (here made
-- by a cast the export calls as it reads the rows): never replaced, never
-- removed, and nothing of the export is left behind, neither the files it
-- had put in place nor its temporary files
COPY (SELECT 1) TO PROGRAM :'mkdir';
CREATE TYPE s.mood AS ENUM ('calm');
CREATE TABLE s.moods (id int PRIMARY KEY, mood s.mood);
INSERT INTO s.moods VALUES (1, 'calm');
CREATE FUNCTION s.mood_text(s.mood) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE format('COPY (SELECT %L) TO %L', 'not the export''s', current_setting('regress.export_target'));
  RETURN CAST(CAST($1 AS anyenum) AS name);
END
$f$;
CREATE CAST (s.mood AS text) WITH FUNCTION s.mood_text(s.mood);
SELECT notary.publish('s.moods', '{"id": "keep", "mood": "keep"}');
-- moods.csv appears after its temporary file was opened: at the rename
SELECT set_config('regress.export_target', :'dir' || '/moods.csv', false) IS NOT NULL AS target_set;
SELECT replace(expect_error(format($$SELECT notary.opendata_export_to(%L, '{opendata.complaints,opendata.moods}', 'T', 'CC-BY-4.0')$$, :'dir')),
               :'dir', 'DIR') AS appeared_before_rename;
SELECT pg_ls_dir AS file FROM pg_ls_dir(:'dir') ORDER BY 1;
SELECT pg_read_file(:'dir' || '/moods.csv') AS untouched;
-- datapackage.json appears before its temporary file is opened
COPY (SELECT 1) TO PROGRAM :'mkdir';
SELECT set_config('regress.export_target', :'dir' || '/datapackage.json', false) IS NOT NULL AS target_set;
SELECT replace(expect_error(format($$SELECT notary.opendata_export_to(%L, '{opendata.complaints,opendata.moods}', 'T', 'CC-BY-4.0')$$, :'dir')),
               :'dir', 'DIR') AS appeared_before_open;
SELECT pg_ls_dir AS file FROM pg_ls_dir(:'dir') ORDER BY 1;
SELECT pg_read_file(:'dir' || '/datapackage.json') AS untouched;
COPY (SELECT 1) TO PROGRAM :'rmdir';

\c contrib_regression
DROP DATABASE notary_opendata_export;
DROP ROLE regress_export_nobody, regress_export_noview;
