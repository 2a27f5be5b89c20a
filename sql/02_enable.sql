--
-- 02_enable: notary.enable(), notary.disable(), notary.enrolled, enrolment
-- of tables created later, and the errors of the DBA's functions.
--
CREATE SCHEMA app;
CREATE TABLE app.accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2));
CREATE TABLE app.notes (body text, n int);          -- no primary key
INSERT INTO app.accounts VALUES (1, 'Budi', 100.00), (2, 'Siti', 250.50);
INSERT INTO app.notes VALUES ('first', 1);
CREATE VIEW app.v AS SELECT * FROM app.accounts;     -- views are not enrolled
CREATE SEQUENCE app.s;                               -- nor sequences

-- Entries are shown relative to :s0, the last seq before each step.
SELECT coalesce(max(seq), 0) AS s0 FROM notary.ledger \gset

-- enable() returns the number of tables it enrolled
SELECT notary.enable('app');

SELECT schema_name, table_name, relid, capturing,
       enrolled_since IS NOT NULL AS has_since, schema_enabled_at IS NOT NULL AS has_enabled_at
  FROM notary.enrolled WHERE schema_name = 'app' ORDER BY table_name;
SELECT schema_name, enabled, enabled_by = session_user AS by_me, disabled_at FROM notary.schemas;

-- the triggers, ENABLE ALWAYS
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('app.accounts'::regclass, 'app.notes'::regclass) ORDER BY 1, 2;

-- ENABLE, then per table (in name order) one SNAPSHOT per row and a BASELINE
SELECT l.op, t.table_name, l.row_image, l.detail, l.session_user_name = session_user AS by_me
  FROM notary.ledger l LEFT JOIN notary.tables t USING (table_id)
 WHERE l.seq > :s0 ORDER BY l.seq;
-- BASELINE and ENABLE carry no image; SNAPSHOTs carry no old digest
SELECT op, count(*), bool_and(layout_id IS NULL) AS no_layout, bool_and(old_digest IS NULL) AS no_old,
       bool_and(table_id IS NULL) AS no_table
  FROM notary.ledger WHERE seq > :s0 GROUP BY op ORDER BY op;

-- the layouts: names, canonical type names, key (1-based positions in the image)
SELECT table_name, column_names, column_types, key_columns, personal_columns
  FROM notary.layouts WHERE schema_name = 'app' ORDER BY table_name;

-- a table created later in the schema is enrolled by the event trigger,
-- with a baseline of the rows it was created with
SELECT max(seq) AS s0 FROM notary.ledger \gset
CREATE TABLE app.later (id int PRIMARY KEY, label text);
CREATE TABLE app.made AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 3) g;
SELECT g AS id INTO app.selected FROM generate_series(1, 2) g;
CREATE TABLE public.mover (id int PRIMARY KEY);
INSERT INTO public.mover VALUES (7);
ALTER TABLE public.mover SET SCHEMA app;             -- moved into the schema
CREATE TEMP TABLE tmp_not_enrolled (id int);
CREATE TABLE public.not_enrolled (id int);
SELECT l.op, t.table_name, l.row_image, l.detail
  FROM notary.ledger l LEFT JOIN notary.tables t USING (table_id)
 WHERE l.seq > :s0 ORDER BY l.seq;
SELECT table_name, relid, capturing FROM notary.enrolled ORDER BY table_name;
INSERT INTO app.later VALUES (1, 'captured');
SELECT op, row_image FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE relid = 'app.later'::regclass)
 ORDER BY seq;

-- errors: the ledger is not touched by any of them
SELECT count(*) AS n0 FROM notary.ledger \gset
\set VERBOSITY default
SELECT notary.enable('no_such_schema');
SELECT notary.enable('app');
SELECT notary.enable('notary');
SELECT notary.enable('pg_catalog');
SELECT notary.enable('information_schema');
SELECT notary.disable('public');
SELECT notary.disable('no_such_schema');
SELECT expect_error($$SELECT notary.enable('no_such_schema')$$) AS enable_missing,
       expect_error($$SELECT notary.enable('app')$$) AS enable_twice,
       expect_error($$SELECT notary.enable('notary')$$) AS enable_own_schema,
       expect_error($$SELECT notary.disable('public')$$) AS disable_not_enabled;
-- strict: NULL in, NULL out, nothing recorded
SELECT notary.enable(NULL) IS NULL AS enable_null, notary.disable(NULL) IS NULL AS disable_null;
SELECT count(*) - :n0 AS new_entries FROM notary.ledger;

-- disable(): returns the number of tables, records DISABLE, drops the triggers
SELECT max(seq) AS s0 FROM notary.ledger \gset
SELECT notary.disable('app');
SELECT l.op, l.detail FROM notary.ledger l WHERE l.seq > :s0 ORDER BY l.seq;
SELECT table_name, capturing FROM notary.enrolled ORDER BY table_name;
SELECT schema_name, enabled, disabled_at IS NOT NULL AS has_disabled_at FROM notary.schemas;
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgname LIKE 'notary_capture%';
-- changes are not captured any more, nor new tables enrolled
SELECT max(seq) AS s0 FROM notary.ledger \gset
INSERT INTO app.accounts VALUES (3, 'Wayan', 0);
UPDATE app.accounts SET balance = balance + 1 WHERE id = 1;
DELETE FROM app.notes;
CREATE TABLE app.while_disabled (id int);
INSERT INTO app.while_disabled VALUES (1);
SELECT count(*) AS new_entries FROM notary.ledger WHERE seq > :s0;
SELECT notary.disable('app');                        -- not enabled any more

-- enable() again: ENABLE and a new baseline of every table, as it is now
SELECT max(seq) AS s0 FROM notary.ledger \gset
SELECT notary.enable('app');
SELECT l.op, t.table_name, l.row_image, l.detail
  FROM notary.ledger l LEFT JOIN notary.tables t USING (table_id)
 WHERE l.seq > :s0 ORDER BY l.seq;
SELECT table_name, capturing FROM notary.enrolled ORDER BY table_name;
SELECT schema_name, enabled, disabled_at FROM notary.schemas;
-- a re-enrolled table keeps its table id (one id per table, ever)
SELECT count(*) AS tables, count(DISTINCT relid) AS distinct_relids FROM notary.tables WHERE schema_name = 'app';
INSERT INTO app.notes VALUES ('second', 2);
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 AND op = 'INSERT' ORDER BY seq;

-- everything above verifies
SELECT count(*) AS findings FROM notary.verify();

-- clean up: dropping enrolled tables is recorded; the schema row is disabled
SELECT max(seq) AS s0 FROM notary.ledger \gset
DROP SCHEMA app CASCADE;
SELECT l.op, l.detail FROM notary.ledger l WHERE l.seq > :s0 ORDER BY l.detail->>'object';
SELECT count(*) AS still_enrolled FROM notary.enrolled;
SELECT schema_name, enabled FROM notary.schemas;
DROP TABLE public.not_enrolled;
SELECT count(*) AS findings FROM notary.verify();
