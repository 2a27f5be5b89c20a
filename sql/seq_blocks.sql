-- seq numbers come in blocks (src/ledger_seq.c): one nextval of
-- notary.ledger_seq (INCREMENT BY 32) numbers up to 32 captured rows of one
-- statement's AFTER trigger batch.  A block may only number rows locked
-- before it was taken, so it ends with the batch, whenever a statement runs
-- in between, and for every entry that is not a captured row.
-- (tests/isolation/specs/seq_blocks.spec shows the order of row locks kept
-- when another session writes the same row meanwhile.)
CREATE DATABASE notary_seq_blocks;
\c notary_seq_blocks
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
SELECT seqincrement, seqcache FROM pg_sequence WHERE seqrelid = 'notary.ledger_seq'::regclass;
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text);
CREATE TABLE app.t2 (id serial PRIMARY KEY, note text);
INSERT INTO app.t VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT notary.enable('app');
CREATE FUNCTION app.table_of(seq bigint) RETURNS text LANGUAGE sql AS $$
  SELECT t.relid::text FROM notary.ledger l JOIN notary.tables t USING (table_id)
   WHERE l.seq = $1
$$;

-- the baseline's 3 SNAPSHOT entries share a block (the 32 numbers up to
-- what nextval returned); the BASELINE entry (not a captured row) takes a
-- number of its own, 32 past the end of that block
SELECT max(seq) - min(seq) AS snapshot_spread,
       (SELECT seq FROM notary.ledger WHERE op = 'BASELINE' AND table_id = (SELECT table_id FROM notary.tables WHERE relid = 'app.t'::regclass))
         - (min(seq) + 31) AS baseline_after_block_end
  FROM notary.ledger WHERE op = 'SNAPSHOT';

-- 100 rows of one statement: 100 consecutive numbers from 4 blocks, the
-- first right after the last number handed out
SELECT max(seq) AS before_insert FROM notary.ledger \gset
INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(10, 109) g;
SELECT count(*) AS entries, max(seq) - min(seq) AS spread, min(seq) - :before_insert AS first_gap
  FROM notary.ledger WHERE seq > :before_insert;

-- the next statement takes a block of its own: the rest of the last one
-- (100 = 3 * 32 + 4) is skipped
SELECT max(seq) AS before_next FROM notary.ledger \gset
INSERT INTO app.t VALUES (110, 'next statement');
SELECT seq - :before_next AS gap FROM notary.ledger WHERE seq > :before_next;

-- COPY's rows share a block too
SELECT max(seq) AS before_copy FROM notary.ledger \gset
COPY app.t FROM stdin;
200	c1
201	c2
202	c3
\.
SELECT count(*) AS entries, max(seq) - min(seq) AS spread FROM notary.ledger WHERE seq > :before_copy;

-- A function the statement calls writes an entry (app.t2) before the
-- statement's own rows are locked: the statement's rows are numbered after
-- every one of the function's entries, never from the function's block.
CREATE FUNCTION app.note(k int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO app.t2 (note) VALUES ('before row ' || k);
  RETURN k;
END
$$;
SELECT max(seq) AS before_nested FROM notary.ledger \gset
INSERT INTO app.t SELECT app.note(g) FROM generate_series(300, 302) g;
SELECT app.table_of(seq), op, seq - lag(seq) OVER (ORDER BY seq) > 1 AS new_block
  FROM notary.ledger WHERE seq > :before_nested ORDER BY seq;

-- A user's AFTER ROW trigger that writes (app.t2) runs between the capture
-- of one row and the next: each captured row after it takes a new block,
-- numbered after the trigger's entry.
CREATE FUNCTION app.echo() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO app.t2 (note) VALUES ('echo ' || NEW.id);
  RETURN NULL;
END
$$;
CREATE TRIGGER zz_echo AFTER INSERT ON app.t FOR EACH ROW EXECUTE FUNCTION app.echo();
SELECT max(seq) AS before_echo FROM notary.ledger \gset
INSERT INTO app.t VALUES (400, 'x'), (401, 'y');
SELECT app.table_of(seq), op, row_image[2] AS v
  FROM notary.ledger WHERE seq > :before_echo AND op <> 'DDL' ORDER BY seq;
DROP TRIGGER zz_echo ON app.t;

-- In one transaction, each statement takes its own block: a block never
-- outlives its statement.
SELECT max(seq) AS before_xact FROM notary.ledger \gset
BEGIN;
INSERT INTO app.t VALUES (500, 'first');
INSERT INTO app.t VALUES (501, 'second');
SAVEPOINT s;
INSERT INTO app.t VALUES (502, 'rolled back');
ROLLBACK TO SAVEPOINT s;
INSERT INTO app.t VALUES (503, 'after the rollback');
COMMIT;
SELECT row_image[1] AS id, seq - lag(seq) OVER (ORDER BY seq) AS gap
  FROM notary.ledger WHERE seq > :before_xact ORDER BY seq;

-- With INCREMENT BY 1 every entry takes its own number, without gaps.  A
-- block is the 32 numbers up to the value nextval returned, so a lowered
-- INCREMENT never hands out a number of an earlier block again: the UPDATE
-- of rows just inserted from a block comes after them.
INSERT INTO app.t SELECT g, 'block' FROM generate_series(600, 609) g;
SELECT max(seq) AS before_inc1 FROM notary.ledger \gset
ALTER SEQUENCE notary.ledger_seq INCREMENT BY 1;
UPDATE app.t SET v = 'inc 1' WHERE id BETWEEN 600 AND 609;
INSERT INTO app.t VALUES (610, 'inc 1');
SELECT count(*) AS entries, min(seq) - :before_inc1 AS first_gap, max(seq) - min(seq) AS spread
  FROM notary.ledger WHERE seq > :before_inc1 AND op <> 'DDL';
SELECT count(*) = count(DISTINCT seq) AS seqs_unique FROM notary.ledger;
SELECT count(*) AS updates_before_their_insert
  FROM notary.ledger u JOIN notary.ledger i USING (table_id)
 WHERE u.op = 'UPDATE' AND i.op = 'INSERT' AND u.row_image[1] = i.row_image[1]
   AND u.seq < i.seq;
ALTER SEQUENCE notary.ledger_seq INCREMENT BY 32;

-- A session loads pg_notary at its first capture, inside that statement's
-- AFTER trigger batch, after the scope that allows blocks would have begun:
-- that statement's rows take a number each.  With session_preload_libraries
-- the library is there from the start and the first statement's rows share
-- blocks too.  (Reading notary.ledger would load the library: the
-- sequence is read instead.)
\c notary_seq_blocks
SELECT last_value AS before_fresh FROM notary.ledger_seq \gset
INSERT INTO app.t SELECT g, 'fresh session' FROM generate_series(700, 704) g;
SELECT count(*) AS entries, (max(seq) - min(seq)) / 32 AS spread_in_blocks
  FROM notary.ledger WHERE seq > :before_fresh;
ALTER DATABASE notary_seq_blocks SET session_preload_libraries = 'pg_notary';
\c notary_seq_blocks
SELECT last_value AS before_preloaded FROM notary.ledger_seq \gset
INSERT INTO app.t SELECT g, 'preloaded' FROM generate_series(710, 714) g;
SELECT count(*) AS entries, max(seq) - min(seq) AS spread
  FROM notary.ledger WHERE seq > :before_preloaded;

SET client_min_messages = warning;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');
SELECT count(*) AS findings FROM notary.verify_table('app.t2');
\c contrib_regression
DROP DATABASE notary_seq_blocks;
