-- Verification needs no write: in a read-only transaction (as on a hot
-- standby) verify() and verify_table() work even when the table's current
-- layout was never recorded (here: a column added with the DDL event
-- trigger switched off, so no baseline was taken).
CREATE DATABASE notary_read_only;
\c notary_read_only
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA ro;
CREATE TABLE ro.t (id int PRIMARY KEY, v text);
INSERT INTO ro.t VALUES (1, 'a'), (2, 'b');
SELECT notary.enable('ro');
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
ALTER TABLE ro.t ADD COLUMN w int;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
SELECT count(*) AS layouts_before FROM notary.layouts;
BEGIN READ ONLY;
SELECT count(*) AS ledger_findings FROM notary.verify();
SELECT problem, row_key FROM notary.verify_table('ro.t') ORDER BY row_key;
COMMIT;
SELECT count(*) AS layouts_after FROM notary.layouts;
\c contrib_regression
DROP DATABASE notary_read_only;
