-- The write path keeps the ledger and its indexes open for the transaction
-- and closes them around every utility statement (issue 6).  DDL on the
-- ledger later in the same transaction (also from inside a function) must
-- still work, an index created on the ledger mid-transaction must receive
-- every later entry, and rolled-back subtransactions must leave a
-- verifiable chain.  The ledger is two tables behind the view
-- notary.ledger: notary.ledger_packs, where captured entries go by
-- default, and notary.ledger_entries, where they go one by one with
-- notary.pack_entries = off (or from a subtransaction while its parent
-- holds entries not stored yet); each is exercised.
CREATE DATABASE notary_write_path;
\c notary_write_path
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text);
SELECT notary.enable('app');

BEGIN;
INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(1, 100) g;
-- DDL on the ledger's tables after captured writes in the same transaction
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
INSERT INTO app.t VALUES (101, 'after DDL');
CREATE INDEX ledger_test_idx ON notary.ledger_entries (seq);
CREATE INDEX ledger_packs_test_idx ON notary.ledger_packs (last_pos);
INSERT INTO app.t VALUES (102, 'after CREATE INDEX');
SET LOCAL notary.pack_entries = off;
INSERT INTO app.t VALUES (104, 'single, after CREATE INDEX');
RESET notary.pack_entries;
SAVEPOINT s1;
INSERT INTO app.t VALUES (103, 'rolled back');
ROLLBACK TO s1;
SAVEPOINT s2;
SET LOCAL notary.pack_entries = off;
INSERT INTO app.t VALUES (105, 'rolled back');
ROLLBACK TO s2;
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
  EXECUTE 'ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only';
  EXECUTE 'ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only';
  EXECUTE 'ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only';
  EXECUTE 'ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only';
  INSERT INTO app.t VALUES (203, 'after DDL in a function');
END
$$;

-- An index created on the ledger in a subtransaction that wrote and then
-- failed (no utility statement ends it: a PL/pgSQL EXCEPTION block) is not
-- left referenced ("cannot remove relcache entry ... nonzero refcount").
-- notary.ledger_entries: the parent holds entries not stored yet, so the
-- subtransaction's go there one by one.
DO $$
BEGIN
  INSERT INTO app.t VALUES (300, 'before');
  BEGIN
    EXECUTE 'CREATE INDEX ledger_gone_idx ON notary.ledger_entries (seq)';
    INSERT INTO app.t VALUES (301, 'lost with the index');
    RAISE EXCEPTION 'roll back the index';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  INSERT INTO app.t VALUES (302, 'after');
END
$$;
-- notary.ledger_packs: the subtransaction's own pack, stored by a utility
-- statement in it
DO $$
BEGIN
  BEGIN
    EXECUTE 'CREATE INDEX ledger_packs_gone_idx ON notary.ledger_packs (last_pos)';
    INSERT INTO app.t VALUES (303, 'lost with the index');
    EXECUTE 'SET LOCAL work_mem = ''5MB''';
    RAISE EXCEPTION 'roll back the index';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  INSERT INTO app.t VALUES (304, 'after');
END
$$;
SELECT count(*) AS gone_indexes FROM pg_class WHERE relname IN ('ledger_gone_idx', 'ledger_packs_gone_idx');

-- A write rolled back with its subtransaction keeps no lock on the ledger
-- or its indexes, as when each entry opened the ledger: the rest of the
-- transaction does not block CREATE INDEX, VACUUM FULL or REINDEX of others.
-- A pack stored by a utility statement, then a single entry, each in a
-- subtransaction rolled back.
BEGIN;
DO $$
BEGIN
  BEGIN
    INSERT INTO app.t VALUES (310, 'lost');
    EXECUTE 'SET LOCAL work_mem = ''5MB''';
    RAISE EXCEPTION 'roll back';
  EXCEPTION WHEN raise_exception THEN
    NULL;
  END;
  BEGIN
    EXECUTE 'SET LOCAL notary.pack_entries = off';
    INSERT INTO app.t VALUES (311, 'lost');
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
-- transaction's memory does not grow with the number of entries.  Each
-- utility statement stores the pack before it; then single entries.
BEGIN;
DO $$
BEGIN
  FOR i IN 1000..2499 LOOP
    INSERT INTO app.t VALUES (i, 'with a utility statement');
    EXECUTE 'SET LOCAL work_mem = ''5MB''';
  END LOOP;
  EXECUTE 'SET LOCAL notary.pack_entries = off';
  FOR i IN 2500..3999 LOOP
    INSERT INTO app.t VALUES (i, 'with a utility statement');
    EXECUTE 'SET LOCAL work_mem = ''5MB''';
  END LOOP;
END
$$;
SELECT sum(total_bytes) < 200000 AS memory_bounded
  FROM pg_backend_memory_contexts
 WHERE name = 'TopTransactionContext' OR parent = 'TopTransactionContext';
COMMIT;

-- the new indexes hold every row written after they were created
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS entries_by_index FROM notary.ledger_entries WHERE seq > 0;
SELECT count(*) AS packs_by_index FROM notary.ledger_packs WHERE last_pos > 0;
RESET enable_bitmapscan;
RESET enable_seqscan;
SELECT count(*) AS entries_by_scan FROM notary.ledger_entries;
SELECT count(*) AS packs_by_scan FROM notary.ledger_packs;
SELECT count(*) AS in_ledger FROM notary.ledger;
SELECT count(*) FILTER (WHERE row_image[2] = 'lost') AS lost,
       count(*) FILTER (WHERE row_image[2] = 'lost with the index') AS lost_with_the_index,
       count(*) FILTER (WHERE row_image[2] = 'rolled back') AS rolled_back
  FROM notary.ledger;
DROP INDEX notary.ledger_test_idx;
DROP INDEX notary.ledger_packs_test_idx;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');

-- Entries go into the ledger's indexes without an executor, which cannot
-- evaluate an expression or a predicate: an index with either (which only
-- a superuser can create) makes capture refuse, instead of crashing the
-- server (an expression index did) or filling a partial index with every
-- entry.  Creating one is refused already, since recording the DDL writes
-- to the ledger (a single entry at once; a pack at commit); with the DDL
-- recording switched off it is created, and then every captured write to
-- that table is refused until it is dropped.
SET notary.pack_entries = off;
CREATE INDEX ledger_expr_idx ON notary.ledger_entries (pg_catalog.lower(op));
RESET notary.pack_entries;
CREATE INDEX ledger_packs_expr_idx ON notary.ledger_packs ((last_pos - first_pos));
SELECT count(*) AS expr_index_created FROM pg_class WHERE relname IN ('ledger_expr_idx', 'ledger_packs_expr_idx');
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
CREATE INDEX ledger_expr_idx ON notary.ledger_entries (pg_catalog.lower(op));
CREATE INDEX ledger_partial_idx ON notary.ledger_entries (seq) WHERE op = 'DDL';
ALTER TABLE notary.ledger_entries ADD CONSTRAINT ledger_seq_deferred UNIQUE (seq) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX ledger_packs_expr_idx ON notary.ledger_packs ((last_pos - first_pos));
CREATE INDEX ledger_packs_partial_idx ON notary.ledger_packs (first_pos) WHERE last_pos > first_pos;
ALTER TABLE notary.ledger_packs ADD CONSTRAINT ledger_packs_deferred UNIQUE (chain_id, last_pos) DEFERRABLE INITIALLY DEFERRED;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
INSERT INTO app.t VALUES (5000, 'expression and partial index');
SET notary.pack_entries = off;
INSERT INTO app.t VALUES (5010, 'expression and partial index');
RESET notary.pack_entries;
-- a refused write caught in a subtransaction leaves nothing allocated: a
-- pack stored by a utility statement, then single entries
BEGIN;
DO $$
BEGIN
  FOR i IN 6000..6499 LOOP
    BEGIN
      INSERT INTO app.t VALUES (i, 'refused, caught');
      EXECUTE 'SET LOCAL work_mem = ''5MB''';
    EXCEPTION WHEN feature_not_supported THEN
      NULL;
    END;
  END LOOP;
  EXECUTE 'SET LOCAL notary.pack_entries = off';
  FOR i IN 6500..6999 LOOP
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
SELECT count(*) AS refused_rows_kept FROM app.t WHERE id BETWEEN 6000 AND 6999;
COMMIT;
DROP INDEX notary.ledger_expr_idx;
DROP INDEX notary.ledger_packs_expr_idx;
INSERT INTO app.t VALUES (5001, 'partial index');
SET notary.pack_entries = off;
INSERT INTO app.t VALUES (5011, 'partial index');
RESET notary.pack_entries;
DROP INDEX notary.ledger_partial_idx;
DROP INDEX notary.ledger_packs_partial_idx;
-- a deferrable unique constraint would be checked at once (an assertion
-- failure in a server built with assertions)
INSERT INTO app.t VALUES (5003, 'deferrable unique constraint');
SET notary.pack_entries = off;
INSERT INTO app.t VALUES (5013, 'deferrable unique constraint');
RESET notary.pack_entries;
-- (dropping a constraint is recorded, in a pack: the one of ledger_packs first)
ALTER TABLE notary.ledger_packs DROP CONSTRAINT ledger_packs_deferred;
ALTER TABLE notary.ledger_entries DROP CONSTRAINT ledger_seq_deferred;
-- nothing of the refused writes was kept; capture works again
SELECT count(*) AS refused_rows FROM app.t WHERE id IN (5000, 5001, 5003, 5010, 5011, 5013);
INSERT INTO app.t VALUES (5002, 'after the drop');
SET notary.pack_entries = off;
INSERT INTO app.t VALUES (5012, 'after the drop');
RESET notary.pack_entries;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');
\c contrib_regression
DROP DATABASE notary_write_path;
