-- A ledger written by 0.1 keeps verifying after ALTER EXTENSION UPDATE, and
-- entries written after the update chain on to it.  0.2 replaces the btree
-- index on (table_id, seq) with a BRIN index (issue 6); verify_table(),
-- history(), proof() and redaction find a table's entries through it.
-- 0.3 stores entries packed: the table becomes notary.ledger_entries and
-- notary.ledger a view over it and notary.ledger_packs; old and new entries
-- verify together, and a role granted SELECT on the old table reads the view.
-- Then the extension is dropped and created again in the same session: the
-- cached OIDs of the old ledger must be forgotten.
CREATE DATABASE notary_upgrade;
\c notary_upgrade
SET client_min_messages = warning;
CREATE EXTENSION pg_notary VERSION '0.1';
CREATE SCHEMA app;
CREATE TABLE app.person (id int PRIMARY KEY, name text, city text);
CREATE TABLE app.other (id int PRIMARY KEY, v text);
SELECT notary.enable('app');
SELECT notary.classify('app.person', 'name', 'identifier');
INSERT INTO app.person SELECT g, 'name ' || g, 'city ' || (g % 7) FROM generate_series(1, 300) g;
INSERT INTO app.other SELECT g, 'v' || g FROM generate_series(1, 50) g;
UPDATE app.person SET city = 'moved' WHERE id % 10 = 0;
DELETE FROM app.other WHERE id > 40;
SELECT indexname FROM pg_indexes WHERE schemaname = 'notary' AND tablename = 'ledger' ORDER BY 1;

ALTER EXTENSION pg_notary UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'pg_notary';
SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'notary' AND tablename = 'ledger' ORDER BY 1;

-- the 0.1 entries verify, and so do the ones written after the update
INSERT INTO app.person VALUES (1001, 'after update', 'x');
UPDATE app.other SET v = 'changed' WHERE id = 1;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.person');
SELECT count(*) AS findings FROM notary.verify_table('app.other');

-- the BRIN index finds a table's entries: in a range summarised when the
-- index was built and extended by later inserts, not summarised, and
-- summarised again
SET enable_seqscan = off;
SELECT op, count(*) FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'other')
 GROUP BY op ORDER BY op;
SELECT brin_desummarize_range('notary.ledger_table_brin', 0);
SELECT op, count(*) FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'other')
 GROUP BY op ORDER BY op;
SELECT brin_summarize_range('notary.ledger_table_brin', 0) AS ranges_summarised;
SELECT op, count(*) FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'other')
 GROUP BY op ORDER BY op;
SELECT op, row_image FROM notary.ledger
 WHERE seq = (SELECT max(seq) FROM notary.ledger WHERE row_image IS NOT NULL);
RESET enable_seqscan;
SELECT op, after->>'v' AS v FROM notary.history('app.other', '1') ORDER BY seq;

-- redaction of an entry written by 0.1 still verifies
SELECT notary.redact('app.person', ARRAY['5'], ARRAY['name'], 'upgrade test') > 0 AS redacted;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.person');

-- 0.2 -> 0.3: the same entries, now through a view; new ones are packed
CREATE ROLE notary_upgrade_reader;
GRANT USAGE ON SCHEMA notary TO notary_upgrade_reader;
GRANT SELECT ON notary.ledger TO notary_upgrade_reader;
SELECT count(*) AS entries_before, max(seq) AS seq_before FROM notary.ledger \gset
-- a view or a function (BEGIN ATOMIC) of others over the table would go on
-- reading the renamed table: the update refuses, names it, changes nothing
\set SHOW_CONTEXT never
CREATE VIEW public.ledger_ops AS SELECT op, count(*) FROM notary.ledger GROUP BY op;
ALTER EXTENSION pg_notary UPDATE TO '0.3';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT extversion FROM pg_extension WHERE extname = 'pg_notary';
SELECT relkind, to_regclass('notary.ledger_packs') IS NULL AS no_packs_table
  FROM pg_class WHERE oid = 'notary.ledger'::regclass;
DROP VIEW public.ledger_ops;
CREATE FUNCTION public.ledger_size() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
  SELECT count(*) FROM notary.ledger;
END;
ALTER EXTENSION pg_notary UPDATE TO '0.3';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT extversion FROM pg_extension WHERE extname = 'pg_notary';
SELECT relkind, to_regclass('notary.ledger_packs') IS NULL AS no_packs_table
  FROM pg_class WHERE oid = 'notary.ledger'::regclass;
DROP FUNCTION public.ledger_size();
\set SHOW_CONTEXT errors
ALTER EXTENSION pg_notary UPDATE TO '0.3';
SELECT extversion FROM pg_extension WHERE extname = 'pg_notary';
SELECT relname, relkind FROM pg_class
 WHERE relnamespace = 'notary'::regnamespace AND relname LIKE 'ledger%' ORDER BY 1;
SELECT count(*) = :entries_before AS same_entries FROM notary.ledger;
BEGIN;
INSERT INTO app.person VALUES (1002, 'after 0.3', 'y');
UPDATE app.other SET v = 'changed again' WHERE id = 2;
COMMIT;
SELECT count(*) AS packs, sum(last_pos - first_pos + 1) AS packed_entries FROM notary.ledger_packs;
SELECT count(*) FILTER (WHERE seq > :seq_before) AS new_single_entries FROM notary.ledger_entries;
-- made again after the update, a view reads the view: the new entries too
CREATE VIEW public.ledger_ops AS SELECT op, count(*) FROM notary.ledger GROUP BY op;
SELECT sum(count) > :entries_before AS reads_new_entries,
       sum(count) = (SELECT count(*) FROM notary.ledger) AS reads_all
  FROM public.ledger_ops;
DROP VIEW public.ledger_ops;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.person');
SELECT count(*) AS findings FROM notary.verify_table('app.other');
SELECT op, after->>'v' AS v FROM notary.history('app.other', '2') ORDER BY seq;
-- redaction of a 0.1 entry and of a packed one
SELECT notary.redact('app.person', ARRAY['6'], ARRAY['name'], 'upgrade test') > 0 AS redacted_old,
       notary.redact('app.person', ARRAY['1002'], ARRAY['name'], 'upgrade test') > 0 AS redacted_packed;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.person');
-- the reader granted SELECT on the 0.2 table reads the view, not the table
SET ROLE notary_upgrade_reader;
SELECT count(*) > :entries_before AS reads_the_view FROM notary.ledger;
SELECT count(*) FROM notary.ledger_entries;
RESET ROLE;

-- drop and create again in this session: capture writes to the new ledger,
-- and this backend's chain starts again at position 1
SET notary.allow_uninstall = on;
DROP EXTENSION pg_notary CASCADE;
RESET notary.allow_uninstall;
CREATE EXTENSION pg_notary;
SELECT notary.enable('app');
INSERT INTO app.other VALUES (500, 'new ledger');
SELECT op, count(*) FROM notary.ledger GROUP BY op ORDER BY op;
SELECT min(chain_pos) AS first_position FROM notary.ledger;
SELECT * FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.other');
\c contrib_regression
DROP DATABASE notary_upgrade;
DROP ROLE notary_upgrade_reader;
