--
-- 03_capture: what the capture triggers record.  INSERT, UPDATE, DELETE,
-- COPY, TRUNCATE, ON CONFLICT, (sub)transaction rollback, replica mode,
-- DDL and layout changes, tables without a primary key, partitions.
--
CREATE SCHEMA cap;
CREATE TABLE cap.items (id int PRIMARY KEY, name text, qty int);
CREATE TABLE cap.log (msg text, n int);             -- no primary key
CREATE TABLE cap.pair (a int, b text, c date, PRIMARY KEY (c, a));  -- key not in column order
SELECT notary.enable('cap');

-- :s0 is the last seq before each step; images shown oldest first
SELECT max(seq) AS s0 FROM notary.ledger \gset

-- INSERT, UPDATE, DELETE: the after-image, the removed row for DELETE
INSERT INTO cap.items VALUES (1, 'apel', 3), (2, 'jeruk', 5);
UPDATE cap.items SET qty = qty + 10 WHERE id = 2;
UPDATE cap.items SET id = 20 WHERE id = 2;             -- a key change too
DELETE FROM cap.items WHERE id = 1;
INSERT INTO cap.items VALUES (20, 'mangga', 1)
  ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;  -- captured as UPDATE
INSERT INTO cap.items VALUES (21, 'salak', 1) ON CONFLICT DO NOTHING;
INSERT INTO cap.items VALUES (21, 'salak', 1) ON CONFLICT DO NOTHING;  -- nothing happens
UPDATE cap.items SET qty = qty WHERE id = 21;          -- no change, still an UPDATE
SELECT op, row_image, old_digest IS NOT NULL AS has_old_digest, length(old_digest) AS old_len,
       layout_id IS NOT NULL AS has_layout
  FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
-- every UPDATE has its own before-row here, so its own old digest
SELECT count(DISTINCT old_digest) AS distinct_old_digests, count(*) AS updates
  FROM notary.ledger WHERE seq > :s0 AND op = 'UPDATE';

-- who: session and current user, application name
SELECT DISTINCT session_user_name = session_user AS session_ok, current_user_name = current_user AS current_ok,
       application_name = current_setting('application_name') AS app_ok, xid IS NOT NULL AS has_xid
  FROM notary.ledger WHERE seq > :s0;
-- one statement's rows share its transaction's xid; each statement here
-- ran in its own transaction
SELECT count(DISTINCT xid) AS xids, count(*) AS entries FROM notary.ledger
 WHERE seq > :s0 AND op = 'INSERT' AND row_image IN ('{1,apel,3}', '{2,jeruk,5}');
SELECT count(DISTINCT xid) AS xids, count(*) AS entries FROM notary.ledger WHERE seq > :s0;

-- COPY FROM STDIN is captured row by row
SELECT max(seq) AS s0 FROM notary.ledger \gset
COPY cap.items (id, name, qty) FROM STDIN;
30	durian	2
31	\N	\N
32	rambutan	7
\.
COPY cap.log FROM STDIN WITH (FORMAT csv);
"hello, world",1
"",2
\.
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY seq;

-- a table without a primary key: duplicates are captured one by one
SELECT max(seq) AS s0 FROM notary.ledger \gset
INSERT INTO cap.log VALUES ('dup', 9), ('dup', 9);
UPDATE cap.log SET n = 10 WHERE msg = 'dup';
DELETE FROM cap.log WHERE msg = 'dup';
SELECT op, row_image, old_digest IS NOT NULL AS has_old_digest FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
-- the old digest depends on the row's content only: two equal rows, one digest
SELECT count(DISTINCT old_digest) AS distinct_old_digests, count(*) AS updates
  FROM notary.ledger WHERE seq > :s0 AND op = 'UPDATE';
INSERT INTO cap.pair VALUES (1, 'x', '2024-08-17');
SELECT table_name, column_names, key_columns FROM notary.layouts
 WHERE schema_name = 'cap' ORDER BY table_name, layout_id;

-- subtransactions: what is rolled back leaves no entry
SELECT max(seq) AS s0 FROM notary.ledger \gset
BEGIN;
INSERT INTO cap.items VALUES (40, 'kept before savepoint', 1);
SAVEPOINT a;
INSERT INTO cap.items VALUES (41, 'rolled back', 1);
SAVEPOINT b;
UPDATE cap.items SET qty = 99 WHERE id = 40;
ROLLBACK TO SAVEPOINT a;
INSERT INTO cap.items VALUES (42, 'after rollback to a', 1);
SAVEPOINT c;
INSERT INTO cap.items VALUES (43, 'kept, savepoint released', 1);
RELEASE SAVEPOINT c;
SAVEPOINT d;
INSERT INTO cap.items VALUES (40, 'duplicate key');     -- fails
ROLLBACK TO SAVEPOINT d;
INSERT INTO cap.items VALUES (44, 'after failed statement', 1);
COMMIT;
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
-- the chain stays contiguous (verify checks positions and links)
SELECT count(*) AS findings FROM notary.verify();

-- an exception caught in PL/pgSQL rolls back its block's entries
SELECT max(seq) AS s0 FROM notary.ledger \gset
DO $$
BEGIN
  INSERT INTO cap.items VALUES (50, 'kept by DO', 1);
  BEGIN
    INSERT INTO cap.items VALUES (51, 'rolled back by exception', 1);
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN
    INSERT INTO cap.items VALUES (52, 'written in handler', 1);
  END;
END
$$;
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY seq;

-- aborted transactions leave no entry
SELECT max(seq) AS s0 FROM notary.ledger \gset
BEGIN;
INSERT INTO cap.items VALUES (60, 'rolled back', 1);
DELETE FROM cap.items WHERE id = 50;
TRUNCATE cap.log;
ROLLBACK;
BEGIN;
INSERT INTO cap.items VALUES (61, 'aborted by error', 1);
SELECT 1 / 0;
COMMIT;
INSERT INTO cap.items VALUES (62, 'x', 1), (62, 'duplicate in same statement', 1);
SELECT count(*) AS new_entries FROM notary.ledger WHERE seq > :s0;
-- and the next transaction continues the chain
INSERT INTO cap.items VALUES (63, 'after aborts', 1);
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
SELECT count(*) AS findings FROM notary.verify();

-- session_replication_role = replica does not stop capture
SELECT max(seq) AS s0 FROM notary.ledger \gset
SET session_replication_role = replica;
INSERT INTO cap.items VALUES (70, 'replica', 1);
UPDATE cap.items SET qty = 2 WHERE id = 70;
DELETE FROM cap.items WHERE id = 70;
RESET session_replication_role;
SET session_replication_role = local;
INSERT INTO cap.items VALUES (71, 'local', 1);
RESET session_replication_role;
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY seq;

-- TRUNCATE records every removed row (op TRUNCATE), also in replica mode,
-- and nothing when rolled back
SELECT max(seq) AS s0 FROM notary.ledger \gset
SELECT count(*) AS rows_before FROM cap.log;
TRUNCATE cap.log;
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY row_image::text;
SELECT max(seq) AS s0 FROM notary.ledger \gset
BEGIN;
TRUNCATE cap.items;
ROLLBACK;
SELECT count(*) AS new_entries FROM notary.ledger WHERE seq > :s0;
INSERT INTO cap.log VALUES ('again', 1);
SET session_replication_role = replica;
TRUNCATE cap.log;
RESET session_replication_role;
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
SELECT max(seq) AS s0 FROM notary.ledger \gset
TRUNCATE cap.log;                                      -- empty: nothing to record
SELECT count(*) AS new_entries FROM notary.ledger WHERE seq > :s0;

-- large values (TOASTed) are captured in full, also when an UPDATE leaves
-- them unchanged
CREATE TABLE cap.docs (id int PRIMARY KEY, body text, flag boolean);
SELECT max(seq) AS s0 FROM notary.ledger \gset
INSERT INTO cap.docs VALUES (1, repeat('Bhinneka Tunggal Ika ', 10000), false);
UPDATE cap.docs SET flag = true;
SELECT op, row_image[1] AS id, length(row_image[2]) AS body_length,
       md5(row_image[2]) = md5(repeat('Bhinneka Tunggal Ika ', 10000)) AS body_matches, row_image[3] AS flag
  FROM notary.ledger WHERE seq > :s0 ORDER BY seq;

-- DDL on an enrolled table is recorded; a changed layout (columns, names)
-- is followed by a new baseline with reason 'layout change'
SELECT max(seq) AS s0 FROM notary.ledger \gset
ALTER TABLE cap.items ADD COLUMN price numeric DEFAULT 0;
INSERT INTO cap.items VALUES (80, 'with price', 1, 12.5);
ALTER TABLE cap.items ALTER COLUMN price SET DEFAULT 1;   -- layout unchanged: no baseline
ALTER TABLE cap.items RENAME COLUMN qty TO quantity;
ALTER TABLE cap.items ALTER COLUMN quantity TYPE bigint;
ALTER TABLE cap.items DROP COLUMN price;
ALTER TABLE cap.items RENAME TO goods;
COMMENT ON TABLE cap.goods IS 'recorded, layout unchanged';
SELECT op, row_image, detail FROM notary.ledger
 WHERE seq > :s0 AND op IN ('DDL', 'BASELINE', 'INSERT') ORDER BY seq;
-- each baseline recorded every row (SNAPSHOT entries, under the new layout)
SELECT count(*) AS snapshots, count(DISTINCT layout_id) AS layouts, (SELECT count(*) FROM cap.goods) AS live_rows
  FROM notary.ledger WHERE seq > :s0 AND op = 'SNAPSHOT';
SELECT table_name, column_names, column_types, key_columns FROM notary.layouts
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE relid = 'cap.goods'::regclass)
 ORDER BY layout_id;
-- notary.enrolled names the table by its current name
SELECT schema_name, table_name, relid FROM notary.enrolled WHERE relid = 'cap.goods'::regclass;
-- the newest snapshot of a row under the last layout
SELECT row_image FROM notary.ledger
 WHERE seq > :s0 AND op = 'SNAPSHOT' AND row_image[1] = '80' ORDER BY seq DESC LIMIT 1;
UPDATE cap.goods SET quantity = 5 WHERE id = 80;
SELECT op, y.table_name, y.column_names, l.row_image FROM notary.ledger l JOIN notary.layouts y USING (layout_id)
 WHERE l.seq = (SELECT max(seq) FROM notary.ledger);

-- partitions: the partitions are enrolled and capture rows routed to them
CREATE TABLE cap.part (id int, region text) PARTITION BY LIST (region);
CREATE TABLE cap.part_jawa PARTITION OF cap.part FOR VALUES IN ('jawa');
CREATE TABLE cap.part_bali PARTITION OF cap.part FOR VALUES IN ('bali');
SELECT table_name FROM notary.enrolled WHERE schema_name = 'cap' AND table_name LIKE 'part%' ORDER BY 1;
SELECT max(seq) AS s0 FROM notary.ledger \gset
INSERT INTO cap.part VALUES (1, 'jawa'), (2, 'bali');
UPDATE cap.part SET region = 'bali' WHERE id = 1;       -- moves between partitions
SELECT l.op, t.table_name, l.row_image FROM notary.ledger l JOIN notary.tables t USING (table_id)
 WHERE l.seq > :s0 ORDER BY l.seq;

SELECT count(*) AS findings FROM notary.verify();

-- several sessions at once: each writes its own chain (one per backend),
-- and the ledger verifies with several chains in it
CREATE EXTENSION dblink;
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s',
         split_part(current_setting('unix_socket_directories'), ',', 1),
         current_setting('port'), current_database())) AS connected;
SELECT max(seq) AS s0 FROM notary.ledger \gset
SELECT dblink_exec('other', $$INSERT INTO cap.goods VALUES (90, 'other session', 1)$$);
INSERT INTO cap.goods VALUES (91, 'this session', 1);
SELECT dblink_exec('other', $$UPDATE cap.goods SET quantity = 2 WHERE id = 90$$);
SELECT dblink_exec('other', $$BEGIN; INSERT INTO cap.goods VALUES (92, 'rolled back', 1); ROLLBACK$$);
UPDATE cap.goods SET quantity = 2 WHERE id = 91;
SELECT l.op, l.row_image, l.chain_id = first_value(l.chain_id) OVER (ORDER BY l.seq) AS first_chain,
       l.chain_pos - lag(l.chain_pos) OVER (PARTITION BY l.chain_id ORDER BY l.seq) AS pos_step
  FROM notary.ledger l WHERE l.seq > :s0 ORDER BY l.seq;
SELECT count(DISTINCT chain_id) AS chains FROM notary.ledger WHERE seq > :s0;
SELECT count(*) AS findings FROM notary.verify();
-- a new session may get the old one's backend id: it continues that chain
SELECT dblink_disconnect('other');
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s',
         split_part(current_setting('unix_socket_directories'), ',', 1),
         current_setting('port'), current_database())) AS connected;
SELECT dblink_exec('other', $$DELETE FROM cap.goods WHERE id = 90$$);
SELECT dblink_disconnect('other');
SELECT count(*) AS findings FROM notary.verify();
DROP EXTENSION dblink;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA cap CASCADE;
RESET client_min_messages;
SELECT count(*) AS still_enrolled FROM notary.enrolled;
SELECT count(*) AS findings FROM notary.verify();
