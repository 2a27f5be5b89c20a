-- seq numbers (src/ledger_seq.c): a captured row's entry is numbered when
-- its pack is stored (at commit, when the pack is full, before a utility
-- statement, or when something reads or writes past it), when every row
-- of the pack is locked; one nextval of notary.ledger_seq (INCREMENT BY
-- 32) numbers up to 32 of them.  Entries that are not captured rows take a
-- number of their own, after the entries recorded before them.
-- (tests/isolation/specs/seq_blocks.spec shows the order of row locks kept
-- when another session writes the same row meanwhile.)  The number of
-- nextvals is read from the sequence: each moves it by 32.
CREATE DATABASE notary_seq_blocks;
\c notary_seq_blocks
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
SELECT seqincrement, seqcache FROM pg_sequence WHERE seqrelid = 'notary.ledger_seq'::regclass;
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, v text);
CREATE TABLE app.t2 (id serial PRIMARY KEY, note text);
CREATE TABLE app.t3 (id int PRIMARY KEY, n int);
INSERT INTO app.t VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO app.t3 VALUES (1, 0);
SELECT notary.enable('app');
CREATE FUNCTION app.table_of(seq bigint) RETURNS text LANGUAGE sql AS $$
  SELECT t.relid::text FROM notary.ledger l JOIN notary.tables t USING (table_id)
   WHERE l.seq = $1
$$;

-- the baseline's 3 SNAPSHOT entries of app.t are numbered together, from
-- one nextval, when the BASELINE entry (not a captured row) is written;
-- that one takes a number of its own, after them
SELECT max(seq) - min(seq) AS snapshot_spread,
       (SELECT seq FROM notary.ledger WHERE op = 'BASELINE' AND table_id = (SELECT table_id FROM notary.tables WHERE relid = 'app.t'::regclass))
         > max(seq) AS baseline_after_snapshots
  FROM notary.ledger WHERE op = 'SNAPSHOT'
   AND table_id = (SELECT table_id FROM notary.tables WHERE relid = 'app.t'::regclass);

-- a transaction of single-row statements on several tables (TPC-B's
-- shape): its 4 entries are numbered at commit by one nextval, one
-- number after the other
SELECT last_value AS seq_before FROM notary.ledger_seq \gset
BEGIN;
UPDATE app.t SET v = 'a1' WHERE id = 1;
UPDATE app.t3 SET n = n + 1 WHERE id = 1;
INSERT INTO app.t2 (note) VALUES ('history');
UPDATE app.t SET v = 'b1' WHERE id = 2;
COMMIT;
SELECT (last_value - :seq_before) / 32 AS nextvals FROM notary.ledger_seq;
SELECT count(*) AS entries, max(seq) - min(seq) AS spread
  FROM notary.ledger WHERE seq > :seq_before;
SELECT app.table_of(seq), op FROM notary.ledger WHERE seq > :seq_before ORDER BY seq;

-- 100 rows of one statement: numbered in their order by 4 nextvals at most
-- (a pack holds about 70 of them here)
SELECT last_value AS seq_before FROM notary.ledger_seq \gset
INSERT INTO app.t SELECT g, 'v' || g FROM generate_series(10, 109) g;
SELECT (last_value - :seq_before) / 32 <= 4 AS at_most_4_nextvals FROM notary.ledger_seq;
SELECT count(*) AS entries,
       bool_and(row_image[1]::int > lag_id) AS in_row_order
  FROM (SELECT row_image, lag(row_image[1]::int, 1, 0) OVER (ORDER BY seq) AS lag_id
          FROM notary.ledger WHERE seq > :seq_before) x;

-- COPY's rows too
SELECT last_value AS seq_before FROM notary.ledger_seq \gset
COPY app.t FROM stdin;
200	c1
201	c2
202	c3
\.
SELECT (last_value - :seq_before) / 32 AS nextvals FROM notary.ledger_seq;
SELECT count(*) AS entries, max(seq) - min(seq) AS spread FROM notary.ledger WHERE seq > :seq_before;

-- Reading notary.ledger numbers what this transaction recorded so far:
-- the reader sees seqs, and what follows is numbered after them.
SELECT last_value AS seq_before FROM notary.ledger_seq \gset
BEGIN;
INSERT INTO app.t VALUES (300, 'before the read');
SELECT op, row_image[1] AS id, seq > :seq_before AS numbered
  FROM notary.ledger WHERE seq > :seq_before;
INSERT INTO app.t VALUES (301, 'after the read');
COMMIT;
SELECT (last_value - :seq_before) / 32 AS nextvals FROM notary.ledger_seq;
SELECT row_image[1] AS id FROM notary.ledger WHERE seq > :seq_before ORDER BY seq;

-- A change in a subtransaction below the pack's owner (an EXCEPTION block
-- in a function a query calls) is stored at once, as a single entry: the
-- entries recorded before it are numbered first, so seq grows with the
-- chain position.
CREATE FUNCTION app.insert_guarded(k int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO app.t VALUES (k, 'in the exception block');
EXCEPTION WHEN unique_violation THEN
  RAISE NOTICE 'duplicate';
END
$$;
SELECT last_value AS seq_before FROM notary.ledger_seq \gset
BEGIN;
INSERT INTO app.t VALUES (400, 'top');
SELECT app.insert_guarded(401);
INSERT INTO app.t VALUES (402, 'top again');
COMMIT;
SELECT row_image[1] AS id, chain_pos - lag(chain_pos) OVER (ORDER BY seq) AS pos_step
  FROM notary.ledger WHERE seq > :seq_before ORDER BY seq;
SELECT row_image[1] AS single_entry FROM notary.ledger_entries WHERE seq > :seq_before;

-- A transaction made read-only after it changed audited rows (by a query:
-- a SET statement would store the pack first) cannot take numbers at
-- commit: it fails, and its change is not kept unrecorded.
BEGIN;
INSERT INTO app.t VALUES (450, 'read-only later');
SELECT set_config('transaction_read_only', 'on', true);
COMMIT;
SELECT count(*) AS kept FROM app.t WHERE id = 450;

-- A parallel query runs in parallel mode (the leader too), where nextval
-- is refused: the entries recorded before it are numbered when it starts,
-- so that it shows them.  Here a Gather in an InitPlan; with
-- force_parallel_mode any query that reads notary.ledger runs so.
CREATE TABLE public.seq_par AS SELECT g FROM generate_series(1, 1000) g;
ANALYZE public.seq_par;
BEGIN;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
INSERT INTO app.t VALUES (460, 'read by a parallel query');
SELECT (SELECT count(*) FROM public.seq_par) AS n,
       count(*) FILTER (WHERE row_image[1] = '460') AS seen
  FROM notary.ledger WHERE op = 'INSERT';
SET LOCAL force_parallel_mode = on;
INSERT INTO app.t VALUES (461, 'read under force_parallel_mode');
SELECT row_image[1] AS id FROM notary.ledger WHERE row_image[1] IN ('460', '461') ORDER BY seq;
ROLLBACK;
DROP TABLE public.seq_par;

-- With INCREMENT BY 1 every entry takes its own number, without gaps.  A
-- block is the numbers up to the value nextval returned, so a lowered
-- INCREMENT never hands out a number of an earlier block again: the UPDATE
-- of rows just inserted comes after them.
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

-- A session that loads pg_notary at its first capture (inside that
-- statement) numbers that statement's rows together all the same.
-- (Reading notary.ledger would load the library: the sequence is read.)
\c notary_seq_blocks
SELECT last_value AS seq_before FROM notary.ledger_seq \gset
INSERT INTO app.t SELECT g, 'fresh session' FROM generate_series(700, 704) g;
SELECT (last_value - :seq_before) / 32 AS nextvals FROM notary.ledger_seq;
SELECT count(*) AS entries, max(seq) - min(seq) AS spread
  FROM notary.ledger WHERE seq > :seq_before;

SET client_min_messages = warning;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');
SELECT count(*) AS findings FROM notary.verify_table('app.t2');
SELECT count(*) AS findings FROM notary.verify_table('app.t3');
\c contrib_regression
DROP DATABASE notary_seq_blocks;
