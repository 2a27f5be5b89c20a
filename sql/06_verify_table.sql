--
-- 06_verify_table: notary.verify_table() compares a live table with what
-- its ledger history says it holds.  Changes made around capture (a
-- superuser switching a capture trigger off, or a schema disabled for a
-- while) are found; captured changes, baselines and layout changes are
-- not findings.
--
CREATE SCHEMA vt;
CREATE TABLE vt.acct (id int PRIMARY KEY, holder text, balance int);
CREATE TABLE vt.tags (tag text, n int);                 -- no primary key
INSERT INTO vt.acct VALUES (1, 'Ayu', 100), (2, 'Bima', 200), (3, 'Citra', 300);
INSERT INTO vt.tags VALUES ('x', 1), ('x', 1), ('y', 2);
SELECT notary.enable('vt');

-- findings, with entry numbers in the detail masked (they depend on what
-- earlier tests wrote); tbl as an OID works for roles without USAGE on vt
CREATE FUNCTION pg_temp.findings(tbl regclass)
RETURNS TABLE (problem text, row_key text, has_seq boolean, detail text)
LANGUAGE sql AS $$
  SELECT problem, row_key, seq IS NOT NULL, regexp_replace(detail, '(entry|key is) \d+', '\1 N', 'g')
    FROM notary.verify_table(tbl) ORDER BY row_key, problem;
$$;

-- right after enrolment, and after captured changes of every kind: no finding
SELECT * FROM pg_temp.findings('vt.acct');
SELECT * FROM pg_temp.findings('vt.tags');
INSERT INTO vt.acct VALUES (4, 'Dewi', 400);
UPDATE vt.acct SET balance = balance - 50 WHERE id = 1;
UPDATE vt.acct SET id = 30 WHERE id = 3;               -- a key change
DELETE FROM vt.acct WHERE id = 4;
INSERT INTO vt.acct VALUES (4, 'Dewi again', 1);
COPY vt.acct FROM STDIN;
5	Eka	500
\.
INSERT INTO vt.tags VALUES ('x', 1);                    -- a third identical row
DELETE FROM vt.tags WHERE tag = 'y';
UPDATE vt.tags SET n = 5 WHERE ctid = (SELECT min(ctid) FROM vt.tags WHERE tag = 'x');
BEGIN;
DELETE FROM vt.acct;
ROLLBACK;
SELECT * FROM pg_temp.findings('vt.acct');
SELECT * FROM pg_temp.findings('vt.tags');
-- a captured TRUNCATE, and rows again
CREATE TABLE vt.scratch (id int PRIMARY KEY, v text);
INSERT INTO vt.scratch VALUES (1, 'a'), (2, 'b');
TRUNCATE vt.scratch;
INSERT INTO vt.scratch VALUES (2, 'b2');
SELECT * FROM pg_temp.findings('vt.scratch');
-- a layout change with its baseline
ALTER TABLE vt.acct ADD COLUMN note text;
UPDATE vt.acct SET note = 'vip' WHERE id = 2;
ALTER TABLE vt.acct RENAME COLUMN holder TO owner_name;
SELECT * FROM pg_temp.findings('vt.acct');

-- changes while a superuser had switched a capture trigger off (recorded
-- as DDL, but the rows themselves are not in the ledger)
ALTER TABLE vt.acct DISABLE TRIGGER notary_capture;
UPDATE vt.acct SET balance = 999999 WHERE id = 2;       -- changed
DELETE FROM vt.acct WHERE id = 1;                       -- removed
INSERT INTO vt.acct VALUES (6, 'Fajar', 600, NULL);     -- added
ALTER TABLE vt.acct ENABLE ALWAYS TRIGGER notary_capture;
ALTER TABLE vt.tags DISABLE TRIGGER notary_capture;
INSERT INTO vt.tags VALUES ('z', 3);
DELETE FROM vt.tags WHERE n = 5;
ALTER TABLE vt.tags ENABLE ALWAYS TRIGGER notary_capture;
SELECT * FROM pg_temp.findings('vt.acct');
SELECT * FROM pg_temp.findings('vt.tags');

-- a captured change of a row that was changed outside capture: the
-- ledger's history of it has a gap
UPDATE vt.acct SET balance = 0 WHERE id = 2;
DELETE FROM vt.acct WHERE id = 6;
SELECT * FROM pg_temp.findings('vt.acct');

-- a schema disabled for a while: the baseline taken by enable() shows
-- what changed meanwhile; the baseline then becomes the ledger's view
SELECT notary.disable('vt');
UPDATE vt.acct SET owner_name = 'Eka Putri' WHERE id = 5;
DELETE FROM vt.acct WHERE id = 4;
INSERT INTO vt.acct VALUES (7, 'Gita', 700, NULL);
INSERT INTO vt.tags VALUES ('w', 4);
SELECT notary.enable('vt');
SELECT * FROM pg_temp.findings('vt.acct');
SELECT * FROM pg_temp.findings('vt.tags');

-- the auditor runs it without any privilege on the table itself
-- (tables named by OID: the auditor has no USAGE on schema vt either)
CREATE ROLE regress_notary_vt_auditor IN ROLE notary_auditor;
SELECT 'vt.acct'::regclass::oid AS acct_oid, 'vt.scratch'::regclass::oid AS scratch_oid \gset
SET ROLE regress_notary_vt_auditor;
SELECT has_table_privilege(:acct_oid, 'SELECT') AS can_select_table;
SELECT problem, count(*) FROM notary.verify_table(:acct_oid) GROUP BY problem ORDER BY problem;
SELECT count(*) AS findings FROM notary.verify_table(:scratch_oid);
RESET ROLE;

-- errors
\set VERBOSITY default
CREATE TABLE public.not_enrolled (id int);
SELECT * FROM notary.verify_table('public.not_enrolled');
SELECT * FROM notary.verify_table('pg_class');
SELECT expect_error($$SELECT * FROM notary.verify_table('public.not_enrolled')$$) AS not_enrolled;
SELECT * FROM notary.verify_table('vt.no_such_table');
SELECT count(*) AS strict_null FROM notary.verify_table(NULL);
-- a table whose capture stopped (schema disabled) can still be checked
SELECT notary.disable('vt');
SELECT count(*) AS findings FROM notary.verify_table('vt.scratch');
-- a dropped table is no longer enrolled
DROP TABLE vt.scratch;
SELECT count(*) AS enrolled_scratch FROM notary.enrolled WHERE table_name = 'scratch';

SELECT count(*) AS findings FROM notary.verify();

-- clean up
SET client_min_messages = warning;
DROP SCHEMA vt CASCADE;
RESET client_min_messages;
DROP TABLE public.not_enrolled;
DROP OWNED BY regress_notary_vt_auditor;
DROP ROLE regress_notary_vt_auditor;
