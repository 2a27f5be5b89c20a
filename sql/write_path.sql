-- The write path keeps the ledger and its indexes open for the transaction
-- and closes them around every utility statement (issue 6).  DDL on the
-- ledger later in the same transaction (also from inside a function) must
-- still work, an index created on the ledger mid-transaction must receive
-- every later entry, and rolled-back subtransactions must leave a
-- verifiable chain.
CREATE DATABASE notary_write_path;
\c notary_write_path
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text);
SELECT notary.enable('app');

BEGIN;
INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(1, 100) g;
-- DDL on the ledger after captured writes in the same transaction
ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only;
ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
INSERT INTO app.t VALUES (101, 'after DDL');
CREATE INDEX ledger_test_idx ON notary.ledger (seq);
INSERT INTO app.t VALUES (102, 'after CREATE INDEX');
SAVEPOINT s1;
INSERT INTO app.t VALUES (103, 'rolled back');
ROLLBACK TO s1;
UPDATE app.t SET v = 'updated' WHERE id <= 10;
COMMIT;

-- a function that writes, fails in a subtransaction, and writes again
DO $$
BEGIN
  INSERT INTO app.t VALUES (200, 'before');
  BEGIN
    INSERT INTO app.t VALUES (201, 'lost');
    INSERT INTO app.t VALUES (1, 'duplicate');
  EXCEPTION WHEN unique_violation THEN
    NULL;
  END;
  INSERT INTO app.t VALUES (202, 'after');
  EXECUTE 'ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only';
  EXECUTE 'ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only';
  INSERT INTO app.t VALUES (203, 'after DDL in a function');
END
$$;

-- the new index holds every entry written after it was created
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS by_index FROM notary.ledger WHERE seq > 0;
RESET enable_bitmapscan;
RESET enable_seqscan;
SELECT count(*) AS by_scan FROM notary.ledger;
SELECT count(*) FILTER (WHERE row_image[2] = 'lost') AS lost,
       count(*) FILTER (WHERE row_image[2] = 'rolled back') AS rolled_back
  FROM notary.ledger;
DROP INDEX notary.ledger_test_idx;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');
\c contrib_regression
DROP DATABASE notary_write_path;
