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

-- An index created on the ledger in a subtransaction that wrote and then
-- failed (no utility statement ends it: a PL/pgSQL EXCEPTION block) is not
-- left referenced ("cannot remove relcache entry ... nonzero refcount").
DO $$
BEGIN
  INSERT INTO app.t VALUES (300, 'before');
  BEGIN
    EXECUTE 'CREATE INDEX ledger_gone_idx ON notary.ledger (seq)';
    INSERT INTO app.t VALUES (301, 'lost with the index');
    RAISE EXCEPTION 'roll back the index';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  INSERT INTO app.t VALUES (302, 'after');
END
$$;

-- A write rolled back with its subtransaction keeps no lock on the ledger
-- or its indexes, as when each entry opened the ledger: the rest of the
-- transaction does not block CREATE INDEX, VACUUM FULL or REINDEX of others.
BEGIN;
DO $$
BEGIN
  BEGIN
    INSERT INTO app.t VALUES (310, 'lost');
    RAISE EXCEPTION 'roll back';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
END
$$;
SELECT c.relname, l.mode
  FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'notary'::regnamespace
   AND c.relkind <> 'S'
 ORDER BY 1;
COMMIT;

-- Entries alternating with utility statements in one transaction: each
-- reopening of the ledger frees what the previous one allocated, so the
-- transaction's memory does not grow with the number of entries.
BEGIN;
DO $$
BEGIN
  FOR i IN 1000..3999 LOOP
    INSERT INTO app.t VALUES (i, 'with a utility statement');
    EXECUTE 'SET LOCAL work_mem = ''5MB''';
  END LOOP;
END
$$;
SELECT sum(total_bytes) < 200000 AS memory_bounded
  FROM pg_backend_memory_contexts
 WHERE name = 'TopTransactionContext' OR parent = 'TopTransactionContext';
COMMIT;

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

-- Entries go into the ledger's indexes without an executor, which cannot
-- evaluate an expression or a predicate: an index with either (which only
-- a superuser can create) makes capture refuse, instead of crashing the
-- server (an expression index did) or filling a partial index with every
-- entry.  Creating one is refused already, since recording the DDL writes
-- to the ledger; with the DDL recording switched off it is created, and
-- then every captured write is refused until it is dropped.
CREATE INDEX ledger_expr_idx ON notary.ledger (pg_catalog.lower(op));
SELECT count(*) AS expr_index_created FROM pg_class WHERE relname = 'ledger_expr_idx';
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
CREATE INDEX ledger_expr_idx ON notary.ledger (pg_catalog.lower(op));
CREATE INDEX ledger_partial_idx ON notary.ledger (seq) WHERE op = 'DDL';
ALTER TABLE notary.ledger ADD CONSTRAINT ledger_seq_deferred UNIQUE (seq) DEFERRABLE INITIALLY DEFERRED;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
INSERT INTO app.t VALUES (5000, 'expression and partial index');
-- a refused write caught in a subtransaction leaves nothing allocated
BEGIN;
DO $$
BEGIN
  FOR i IN 6000..6999 LOOP
    BEGIN
      INSERT INTO app.t VALUES (i, 'refused, caught');
    EXCEPTION WHEN feature_not_supported THEN
      NULL;
    END;
  END LOOP;
END
$$;
SELECT count(*) AS ledger_contexts_left
  FROM pg_backend_memory_contexts WHERE name = 'pg_notary ledger';
COMMIT;
DROP INDEX notary.ledger_expr_idx;
INSERT INTO app.t VALUES (5001, 'partial index');
DROP INDEX notary.ledger_partial_idx;
-- a deferrable unique constraint would be checked at once (an assertion
-- failure in a server built with assertions)
INSERT INTO app.t VALUES (5003, 'deferrable unique constraint');
ALTER TABLE notary.ledger DROP CONSTRAINT ledger_seq_deferred;
-- nothing of the refused writes was kept; capture works again
SELECT count(*) AS refused_rows FROM app.t WHERE id IN (5000, 5001, 5003);
INSERT INTO app.t VALUES (5002, 'after the drop');
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');
\c contrib_regression
DROP DATABASE notary_write_path;
