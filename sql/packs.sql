--
-- packs: the packed storage of ledger entries (0.3).  The entries of one
-- transaction go into one row of notary.ledger_packs (split at about 1900
-- bytes); notary.ledger shows them, and this transaction's entries not
-- stored yet, as it shows single entries; aborted (sub)transactions leave
-- nothing behind and no gap; verify() reports a damaged pack and goes on;
-- a redaction rewrites the packs it erases in.
-- Runs in a database of its own: it damages the ledger (rolled back).
--
CREATE DATABASE regress_notary_packs;
\c regress_notary_packs
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_notary;
CREATE EXTENSION IF NOT EXISTS dblink;
\i sql/include/expect_error.sql
CREATE ROLE regress_pk_writer;
CREATE SCHEMA pk;
CREATE TABLE pk.a (id int PRIMARY KEY, v text);
CREATE TABLE pk.b (id int PRIMARY KEY, w text);
CREATE TABLE pk.person (id int PRIMARY KEY, nik text, note text);
GRANT USAGE ON SCHEMA pk TO regress_pk_writer;
GRANT INSERT, UPDATE, SELECT ON pk.a TO regress_pk_writer;
-- the test's helpers, in a schema that is not captured; the chains of this
-- test by label (A: this session, B: a dblink session)
CREATE SCHEMA pkt;
CREATE TABLE pkt.chains (label text PRIMARY KEY, chain_id int UNIQUE);
-- what a DO block saw
CREATE TABLE pkt.seen (what text, n bigint);

-- Where each entry after seq "since" is stored: its position counted from
-- its chain's head at "since" (1, 2, 3, ... when nothing is missing), and
-- "pack i-j" (positions counted the same way), "single" (a row of
-- notary.ledger_entries) or "pending" (this transaction's, not stored yet).
CREATE FUNCTION pkt.stored(since bigint)
RETURNS TABLE (chain text, pos bigint, op text, row_image text[], stored text)
LANGUAGE sql AS $$
  WITH e AS (
    SELECT l.*, coalesce((SELECT max(h.chain_pos) FROM notary.ledger h
                           WHERE h.chain_id = l.chain_id AND h.seq <= since), 0) AS base
      FROM notary.ledger l WHERE l.seq > since)
  SELECT coalesce(c.label, '?'), e.chain_pos - e.base, e.op, e.row_image,
         CASE WHEN s.chain_id IS NOT NULL AND p.chain_id IS NOT NULL THEN 'single AND pack'
              WHEN s.chain_id IS NOT NULL THEN 'single'
              WHEN p.chain_id IS NOT NULL THEN format('pack %s-%s', p.first_pos - e.base, p.last_pos - e.base)
              ELSE 'pending' END
    FROM e
    LEFT JOIN pkt.chains c ON c.chain_id = e.chain_id
    LEFT JOIN notary.ledger_entries s ON s.chain_id = e.chain_id AND s.chain_pos = e.chain_pos
    LEFT JOIN notary.ledger_packs p ON p.chain_id = e.chain_id
                                   AND e.chain_pos BETWEEN p.first_pos AND p.last_pos
   ORDER BY 1, e.chain_pos
$$;
-- verify()'s findings, chains by label (also in the detail); the positions
-- in the detail masked (they depend on what came before)
CREATE FUNCTION pkt.findings()
RETURNS TABLE (chain text, chain_pos bigint, problem text, detail text)
LANGUAGE sql AS $$
  SELECT coalesce(c.label, f.chain_id::text), f.chain_pos, f.problem,
         regexp_replace(regexp_replace(f.detail, 'chain \d+', 'chain ' || coalesce(c.label, '?'), 'g'),
                        '(position|positions|to|at) \d+', '\1 #', 'g')
    FROM notary.verify() f LEFT JOIN pkt.chains c ON c.chain_id = f.chain_id
   ORDER BY 1, 2, 3
$$;
-- an error, its chain and position masked
CREATE FUNCTION pkt.error(sql text) RETURNS text
LANGUAGE sql AS $$
  SELECT regexp_replace(public.expect_error(sql), 'chain \d+ from position \d+', 'chain # from position #', 'g')
$$;

-- the bytes of a varint (docs/format.md, "Storage"): 7 bits a byte, least
-- significant group first, the high bit set on every byte but the last
CREATE FUNCTION pkt.varint(v bigint) RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
  b bytea := '';
BEGIN
  LOOP
    IF v < 128 THEN
      RETURN b || set_byte('\x00'::bytea, 0, v::int);
    END IF;
    b := b || set_byte('\x00'::bytea, 0, (v % 128 + 128)::int);
    v := v / 128;
  END LOOP;
END
$$;
-- the same value with one more, empty, group: not the minimal encoding
CREATE FUNCTION pkt.varint_long(v bigint) RETURNS bytea
LANGUAGE sql AS $$
  SELECT set_byte(b, length(b) - 1, get_byte(b, length(b) - 1) + 128) || '\x00'::bytea
    FROM pkt.varint(v) b
$$;

SELECT notary.enable('pk');
INSERT INTO pkt.chains
  SELECT 'A', chain_id FROM notary.ledger ORDER BY seq DESC LIMIT 1;

----------------------------------------------------------------------------
-- One transaction of several statements over several tables: ONE pack of
-- consecutive positions, shown by notary.ledger like single entries
----------------------------------------------------------------------------
-- a function that writes as another current_user
CREATE FUNCTION pk.as_writer(i int, t text) RETURNS void
LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO pk.a VALUES (i, t) $$;
ALTER FUNCTION pk.as_writer(int, text) OWNER TO regress_pk_writer;
SET application_name = 'pg_regress/packs';
SELECT max(seq) AS s FROM notary.ledger \gset
BEGIN;
INSERT INTO pk.a VALUES (1, 'one'), (2, 'two');
INSERT INTO pk.b VALUES (1, 'uno');
UPDATE pk.a SET v = 'one!' WHERE id = 1;
-- another application_name, none, the first again: names are stored once
SELECT set_config('application_name', 'packs other app', true) IS NOT NULL AS app_set;
INSERT INTO pk.b VALUES (2, 'dos');
SELECT set_config('application_name', '', true) IS NOT NULL AS app_set;
INSERT INTO pk.b VALUES (3, 'tres');
SELECT set_config('application_name', 'pg_regress/packs', true) IS NOT NULL AS app_set;
DELETE FROM pk.b WHERE id = 1;
-- another current_user within a statement
SELECT pk.as_writer(4, 'four by the writer');
INSERT INTO pk.a VALUES (5, 'five');
COMMIT;
SELECT * FROM pkt.stored(:s);
SELECT count(*) AS packs_of_the_transaction, bool_and(p.xid = l.xid) AS pack_has_the_entries_xid
  FROM notary.ledger_packs p JOIN notary.ledger l
    ON l.chain_id = p.chain_id AND l.chain_pos = p.first_pos
 WHERE l.seq > :s;
CREATE TEMP TABLE packed AS
  SELECT row_number() OVER (ORDER BY seq) AS n, op, table_id IS NOT NULL AS has_table,
         layout_id IS NOT NULL AS has_layout, row_image, row_salts IS NULL AS no_salts,
         old_digest IS NOT NULL AS has_old, detail, redacted IS NULL AS not_redacted,
         length(prev_hash) AS prev_len, length(entry_hash) AS hash_len,
         session_user_name = session_user AS by_me, current_user_name, application_name,
         client_addr, (SELECT count(DISTINCT xid) FROM notary.ledger WHERE seq > :s) AS xids
    FROM notary.ledger WHERE seq > :s;
SELECT n, op, row_image, current_user_name, application_name, client_addr, xids FROM packed;
-- the same statements with notary.pack_entries = off: single entries, and
-- notary.ledger shows the same columns and values for them
DELETE FROM pk.a;
DELETE FROM pk.b;
SELECT max(seq) AS s FROM notary.ledger \gset
SET notary.pack_entries = off;
BEGIN;
INSERT INTO pk.a VALUES (1, 'one'), (2, 'two');
INSERT INTO pk.b VALUES (1, 'uno');
UPDATE pk.a SET v = 'one!' WHERE id = 1;
-- another application_name, none, the first again: names are stored once
SELECT set_config('application_name', 'packs other app', true) IS NOT NULL AS app_set;
INSERT INTO pk.b VALUES (2, 'dos');
SELECT set_config('application_name', '', true) IS NOT NULL AS app_set;
INSERT INTO pk.b VALUES (3, 'tres');
SELECT set_config('application_name', 'pg_regress/packs', true) IS NOT NULL AS app_set;
DELETE FROM pk.b WHERE id = 1;
-- another current_user within a statement
SELECT pk.as_writer(4, 'four by the writer');
INSERT INTO pk.a VALUES (5, 'five');
COMMIT;
RESET notary.pack_entries;
SELECT * FROM pkt.stored(:s);
CREATE TEMP TABLE single AS
  SELECT row_number() OVER (ORDER BY seq) AS n, op, table_id IS NOT NULL AS has_table,
         layout_id IS NOT NULL AS has_layout, row_image, row_salts IS NULL AS no_salts,
         old_digest IS NOT NULL AS has_old, detail, redacted IS NULL AS not_redacted,
         length(prev_hash) AS prev_len, length(entry_hash) AS hash_len,
         session_user_name = session_user AS by_me, current_user_name, application_name,
         client_addr, (SELECT count(DISTINCT xid) FROM notary.ledger WHERE seq > :s) AS xids
    FROM notary.ledger WHERE seq > :s;
SELECT count(*) AS entries, count(*) FILTER (WHERE p IS DISTINCT FROM s) AS differ
  FROM packed p FULL JOIN single s USING (n);
-- a chain mixing single entries and packs verifies
SELECT count(*) AS singles FROM notary.ledger_entries;
SELECT * FROM pkt.findings();
SELECT * FROM notary.verify_table('pk.a');
SELECT * FROM notary.verify_table('pk.b');
-- only a superuser may switch packing off
SET ROLE regress_pk_writer;
SELECT expect_error($$SET notary.pack_entries = off$$) AS not_superuser;
RESET ROLE;

----------------------------------------------------------------------------
-- Readers in the same transaction see the entries not stored yet
----------------------------------------------------------------------------
SELECT max(seq) AS s FROM notary.ledger \gset
BEGIN;
INSERT INTO pk.a VALUES (10, 'ten');
UPDATE pk.a SET v = 'ten!' WHERE id = 10;
SELECT * FROM pkt.stored(:s);
SELECT count(*) AS pending FROM notary.ledger_rows() r
 WHERE NOT EXISTS (SELECT FROM notary.ledger_packs p
                    WHERE p.chain_id = r.chain_id AND r.chain_pos BETWEEN p.first_pos AND p.last_pos);
SELECT * FROM pkt.findings();
SELECT * FROM notary.verify_table('pk.a');
SELECT op, before, after FROM notary.history('pk.a', '10');
COMMIT;
SELECT * FROM pkt.stored(:s);

----------------------------------------------------------------------------
-- ROLLBACK and ROLLBACK TO SAVEPOINT discard the entries; RELEASE keeps
-- them; the chain goes on without a gap
----------------------------------------------------------------------------
SELECT max(seq) AS s FROM notary.ledger \gset
BEGIN;
INSERT INTO pk.a VALUES (20, 'rolled back');
INSERT INTO pk.a SELECT g, 'rolled back, bulk' FROM generate_series(2000, 2100) g;
SELECT count(*) AS entries_before_rollback FROM notary.ledger WHERE seq > :s;
ROLLBACK;
SELECT count(*) AS entries_after_rollback FROM notary.ledger WHERE seq > :s;
INSERT INTO pk.a VALUES (21, 'after a rollback');
SELECT * FROM pkt.stored(:s);

SELECT max(seq) AS s FROM notary.ledger \gset
BEGIN;
INSERT INTO pk.a VALUES (30, 'kept');
SAVEPOINT s1;
INSERT INTO pk.a VALUES (31, 'gone with s1');
SAVEPOINT s2;
INSERT INTO pk.a VALUES (32, 'gone with s2');
INSERT INTO pk.a SELECT g, 'gone with s2, bulk' FROM generate_series(3000, 3100) g;
ROLLBACK TO s2;
SELECT * FROM pkt.stored(:s);
INSERT INTO pk.a VALUES (33, 'gone with s1 too');
ROLLBACK TO s1;
SELECT * FROM pkt.stored(:s);
INSERT INTO pk.a VALUES (34, 'after rollback to s1');
SAVEPOINT s3;
INSERT INTO pk.a VALUES (35, 'released');
SAVEPOINT s4;
INSERT INTO pk.a VALUES (36, 'released, nested');
RELEASE s3;
INSERT INTO pk.a VALUES (37, 'after release');
SELECT * FROM pkt.stored(:s);
SELECT * FROM pkt.findings();
COMMIT;
SELECT * FROM pkt.stored(:s);
SELECT * FROM pkt.findings();

-- a procedure that commits and rolls back: the rolled-back transaction
-- leaves nothing, each committed one its own pack
CREATE PROCEDURE pkt.commits() LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pk.a VALUES (38, 'committed');
  COMMIT;
  INSERT INTO pk.a VALUES (39, 'rolled back');
  ROLLBACK;
  INSERT INTO pk.a VALUES (39, 'committed at the end');
END
$$;
SELECT max(seq) AS s FROM notary.ledger \gset
CALL pkt.commits();
SELECT * FROM pkt.stored(:s);

----------------------------------------------------------------------------
-- PL/pgSQL EXCEPTION blocks: subtransactions without utility statements
----------------------------------------------------------------------------
-- a block that captures rows, then raises: its rows vanish, the rows of
-- the statement around it stay (the block's are single entries: the
-- statement's pack is pending)
SELECT max(seq) AS s FROM notary.ledger \gset
DO $$
BEGIN
  INSERT INTO pk.a VALUES (40, 'before the block');
  BEGIN
    INSERT INTO pk.a VALUES (41, 'in the block');
    INSERT INTO pk.b VALUES (41, 'in the block');
    RAISE EXCEPTION 'undo the block';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  INSERT INTO pk.a VALUES (42, 'after the block');
END
$$;
SELECT * FROM pkt.stored(:s);
-- the block writes first: the pack is its own, and goes with it
SELECT max(seq) AS s FROM notary.ledger \gset
DO $$
BEGIN
  BEGIN
    INSERT INTO pk.a VALUES (43, 'in the block, first');
    INSERT INTO pk.a SELECT g, 'in the block, bulk' FROM generate_series(4000, 4100) g;
    RAISE EXCEPTION 'undo the block';
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  INSERT INTO pk.a VALUES (44, 'after the block');
END
$$;
SELECT * FROM pkt.stored(:s);
-- a block that commits while the statement's pack is pending: its rows
-- are single entries; readers in the block see both (verify() and
-- verify_table() would find the pending entries missing otherwise)
SELECT max(seq) AS s FROM notary.ledger \gset
DO $$
BEGIN
  INSERT INTO pk.a VALUES (45, 'parent');
  BEGIN
    INSERT INTO pk.a VALUES (46, 'child');
    UPDATE pk.a SET v = 'child!' WHERE id = 46;
    INSERT INTO pkt.seen SELECT '1 entries seen', count(*) FROM notary.ledger WHERE row_image[1] IN ('45', '46');
    INSERT INTO pkt.seen SELECT '2 verify() findings', count(*) FROM notary.verify();
    INSERT INTO pkt.seen SELECT '3 verify_table() findings', count(*) FROM notary.verify_table('pk.a');
  EXCEPTION WHEN others THEN RAISE;
  END;
  INSERT INTO pk.a VALUES (47, 'parent again');
END
$$;
SELECT * FROM pkt.stored(:s);
SELECT * FROM pkt.seen ORDER BY what;
-- nested blocks: the child's pack passes to its parent when it commits;
-- a grandchild's single entry goes with it
SELECT max(seq) AS s FROM notary.ledger \gset
DO $$
BEGIN
  BEGIN
    INSERT INTO pk.a VALUES (50, 'child');
    BEGIN
      INSERT INTO pk.a VALUES (51, 'grandchild, gone');
      RAISE EXCEPTION 'undo the grandchild';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    INSERT INTO pk.a VALUES (52, 'child again');
  EXCEPTION WHEN others THEN RAISE;
  END;
  INSERT INTO pk.a VALUES (53, 'top');
END
$$;
SELECT * FROM pkt.stored(:s);
SELECT * FROM pkt.findings();
SELECT * FROM notary.verify_table('pk.a');

----------------------------------------------------------------------------
-- A bulk INSERT: packs of about 7800 bytes (toast_tuple_target = 8160),
-- consecutive, none TOASTed or compressed
----------------------------------------------------------------------------
SELECT max(seq) AS s FROM notary.ledger \gset
INSERT INTO pk.a SELECT g, 'bulk row ' || g FROM generate_series(1000, 1999) g;
SELECT xid AS bulk_xid FROM notary.ledger WHERE seq > :s ORDER BY seq LIMIT 1 \gset
SELECT count(*) > 5 AS many_packs,
       sum(last_pos - first_pos + 1) AS entries,
       max(last_pos) - min(first_pos) + 1 AS positions,
       count(*) FILTER (WHERE length(entries) < 7800 AND last_pos < (SELECT max(last_pos) FROM notary.ledger_packs WHERE xid = :'bulk_xid')) AS smaller_but_last,
       count(*) FILTER (WHERE length(entries) > 7900) AS larger_than_7900,
       bool_and(pg_column_size(entries) = length(entries) + 4) AS inline_uncompressed
  FROM notary.ledger_packs WHERE xid = :'bulk_xid';
SELECT pg_relation_size(reltoastrelid) AS toast_bytes
  FROM pg_class WHERE oid = 'notary.ledger_packs'::regclass;
SELECT * FROM pkt.findings();

----------------------------------------------------------------------------
-- The first transaction of a new backend, which writes only entries,
-- stores them (a second chain: a dblink session)
----------------------------------------------------------------------------
SELECT dblink_connect('other', format('dbname=regress_notary_packs host=%s port=%s',
  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT dblink_exec('other', 'INSERT INTO pk.a VALUES (70, ''new backend''), (71, ''new backend'')');
INSERT INTO pkt.chains SELECT 'B', chain_id FROM notary.ledger WHERE row_image[1] = '70';
SELECT * FROM pkt.stored(0) WHERE chain = 'B';
SELECT dblink_exec('other', 'BEGIN; INSERT INTO pk.a VALUES (72, ''other chain''); '
                            'UPDATE pk.a SET v = ''other chain!'' WHERE id = 72; COMMIT');
SELECT dblink_exec('other', 'INSERT INTO pk.a VALUES (73, ''other chain, again'')');
SELECT * FROM pkt.stored(0) WHERE chain = 'B';
SELECT * FROM pkt.findings();

----------------------------------------------------------------------------
-- Damaged packs (a superuser, behind the guard): verify() reports each
-- damage at its entry, and goes on; the view refuses to show a pack it
-- cannot read (data_corrupted).  Each is rolled back.
----------------------------------------------------------------------------
-- :p is a pack of three entries of chain A, :q the pack after it
BEGIN;
INSERT INTO pk.a VALUES (60, 'tamper-one'), (61, 'tamper-two'), (62, 'tamper-three');
COMMIT;
INSERT INTO pk.a VALUES (63, 'next pack');
SELECT chain_id AS ca, first_pos AS p, last_pos AS p_last FROM notary.ledger_packs
 WHERE position(convert_to('tamper-two', 'UTF8') IN entries) > 0 \gset
SELECT first_pos AS q FROM notary.ledger_packs
 WHERE position(convert_to('next pack', 'UTF8') IN entries) > 0 \gset
SELECT :p_last - :p + 1 AS entries_in_p, :q = :p_last + 1 AS q_follows_p;
-- :pb is a pack of two entries of chain B
SELECT chain_id AS cb, first_pos AS pb FROM notary.ledger_packs
 WHERE position(convert_to('other chain!', 'UTF8') IN entries) > 0 \gset
-- :dp is a pack of chain A holding a DDL entry (at :dpos)
COMMENT ON TABLE pk.b IS 'a DDL entry in a pack';
SELECT chain_pos AS dpos, detail::text AS ddetail FROM notary.ledger
 WHERE op = 'DDL' AND chain_id = :ca ORDER BY seq DESC LIMIT 1 \gset
SELECT first_pos AS dp FROM notary.ledger_packs
 WHERE chain_id = :ca AND :dpos BETWEEN first_pos AND last_pos \gset
SELECT :'ddetail' AS ddl_detail;

-- a value byte: that entry's content no longer matches its hash
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = set_byte(entries, position(convert_to('tamper-two', 'UTF8') IN entries) - 1, ascii('T'))
 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT row_image FROM notary.ledger WHERE chain_id = :ca AND chain_pos = :p + 1;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
ROLLBACK;

-- an entry_hash (the second entry's): that entry, and the next one,
-- whose link is the changed hash
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs p
   SET entries = overlay(p.entries PLACING '\xdeadbeef'::bytea
                         FROM position(l.entry_hash IN p.entries) FOR 4)
  FROM notary.ledger l
 WHERE p.chain_id = :ca AND p.first_pos = :p AND l.chain_id = :ca AND l.chain_pos = :p + 1;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
ROLLBACK;
-- the last entry's hash: the next pack's first entry does not link to it
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = overlay(entries PLACING '\xdeadbeef'::bytea FROM length(entries) - 31 FOR 4)
 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
ROLLBACK;

-- a body cut short (chain A) and one of an unknown version (chain B), and
-- an altered value after each, in both chains: all four are reported
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs SET entries = substr(entries, 1, length(entries) - 40)
 WHERE chain_id = :ca AND first_pos = :p;
UPDATE notary.ledger_packs SET entries = set_byte(entries, 0, 7)
 WHERE chain_id = :cb AND first_pos = :pb;
UPDATE notary.ledger_packs
   SET entries = set_byte(entries, position(convert_to('next pack', 'UTF8') IN entries) - 1, ascii('N'))
 WHERE chain_id = :ca AND first_pos = :q;
UPDATE notary.ledger_packs
   SET entries = set_byte(entries, position(convert_to('other chain, again', 'UTF8') IN entries) - 1, ascii('O'))
 WHERE chain_id = :cb AND position(convert_to('other chain, again', 'UTF8') IN entries) > 0;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, CASE chain WHEN 'A' THEN chain_pos - :p ELSE chain_pos - :pb END AS pos_in_p,
       problem, detail
  FROM pkt.findings();
-- the view, and what reads it, refuse to go on without the pack
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS ledger_view;
SELECT pkt.error($$SELECT count(*) FROM notary.entries$$) AS entries_view;
SELECT pkt.error($$SELECT count(*) FROM notary.verify_table('pk.a')$$) AS verify_table;
SELECT pkt.error($$SELECT count(*) FROM notary.history('pk.a', '1')$$) AS history;
ROLLBACK;

-- a pack deleted: its positions are missing
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
DELETE FROM notary.ledger_packs WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
ROLLBACK;

-- last_pos changed: the pack does not hold what it says
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs SET last_pos = last_pos + 1 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem,
       regexp_replace(detail, 'position \d+', 'position #', 'g') AS detail
  FROM pkt.findings();
-- the view refuses it too, so an outside verifier reading it cannot pass it
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS ledger_view;
ROLLBACK;

-- a pack whose entries are null
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_packs ALTER entries DROP NOT NULL;
UPDATE notary.ledger_packs SET entries = NULL WHERE chain_id = :ca AND first_pos = :p;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS ledger_view;
ROLLBACK;

-- a DDL entry's detail replaced by as many bytes that are no JSON: verify()
-- hashes the detail as stored, so the entry is altered, and goes on; the
-- view refuses the pack
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = overlay(entries PLACING convert_to(repeat('x', length(:'ddetail')), 'UTF8')
                         FROM position(convert_to(:'ddetail', 'UTF8') IN entries)
                         FOR length(:'ddetail'))
 WHERE chain_id = :ca AND first_pos = :dp
   AND position(convert_to(:'ddetail', 'UTF8') IN entries) > 0
RETURNING position(convert_to(:'ddetail', 'UTF8') IN entries) = 0 AS detail_replaced;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :dpos AS pos_from_ddl, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS ledger_view;
ROLLBACK;

-- a pack deleted, and the pack after it cut short: the deleted positions
-- are missing (reported with the chain and the first position of the
-- unreadable pack, without seq), and the pack is malformed
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
DELETE FROM notary.ledger_packs WHERE chain_id = :ca AND first_pos = :p;
UPDATE notary.ledger_packs SET entries = substr(entries, 1, length(entries) - 40)
 WHERE chain_id = :ca AND first_pos = :q;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
SELECT problem, seq IS NULL AS no_seq, chain_id = :ca AS chain_a, chain_pos = :q AS at_q
  FROM notary.verify() ORDER BY problem;
ROLLBACK;

-- the first pack of chain B cut short: malformed at the chain's first
-- position, no gap reported before it, the rest of the chain checked; a
-- checkpoint refuses to certify the damaged ledger (XX001); a checkpoint
-- taken before reports the pack as unreadable, and what that does to the
-- covered history, instead of stopping
SELECT min(first_pos) AS b_first FROM notary.ledger_packs WHERE chain_id = :cb \gset
SELECT :b_first = (SELECT min(chain_pos) FROM notary.ledger WHERE chain_id = :cb) AS b_starts_packed;
BEGIN;
SELECT notary.checkpoint() AS cp_before \gset
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs SET entries = substr(entries, 1, length(entries) - 40)
 WHERE chain_id = :cb AND first_pos = :b_first;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :b_first AS pos_from_first, problem FROM pkt.findings();
SELECT pkt.error($$SELECT notary.checkpoint()$$) AS checkpoint;
SELECT problem, chain_id = :cb AS chain_b, position = :b_first AS at_pack,
       detail LIKE '%cannot be read%' AS says_why
  FROM notary.verify_checkpoint(:'cp_before') ORDER BY problem;
ROLLBACK;

-- a pack written after the checkpoint, damaged: not the checkpoint's
-- business, so its comparison is clean; only the seals, whose reading
-- reads every pack, could not be checked (seals_unchecked), and
-- verify_checkpoint() goes on instead of stopping with XX001
BEGIN;
SELECT notary.checkpoint() AS cp_before \gset
INSERT INTO pk.a SELECT g, 'after the checkpoint' FROM generate_series(900, 904) g;
-- (the utility statement stores the pack first)
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs SET entries = substr(entries, 1, length(entries) - 40)
 WHERE xid = pg_current_xact_id();
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT problem, chain_id IS NULL AS no_chain, detail LIKE '%cannot be read%' AS says_why
  FROM notary.verify_checkpoint(:'cp_before') ORDER BY problem;
ROLLBACK;

-- a real pack copied to position 0, or to negative positions: out of
-- order, not taken for entries a checkpoint covers (and skipped)
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
INSERT INTO notary.ledger_packs
  SELECT chain_id, 0, last_pos - first_pos, xid, entries
    FROM notary.ledger_packs WHERE chain_id = :ca AND first_pos = :q;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain_pos, op, row_image FROM notary.ledger WHERE chain_id = :ca AND chain_pos <= 0 ORDER BY 1;
SELECT chain, chain_pos, problem, detail FROM pkt.findings();
ROLLBACK;
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
INSERT INTO notary.ledger_packs
  SELECT chain_id, -10, -10 + last_pos - first_pos, xid, entries
    FROM notary.ledger_packs WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain_pos, op, row_image FROM notary.ledger WHERE chain_id = :ca AND chain_pos <= 0 ORDER BY 1;
SELECT chain, chain_pos, problem, detail FROM pkt.findings();
ROLLBACK;

-- bytes the hash does not cover, which the decoder refuses (the pack is
-- malformed, the view will not show it): a NUL in a value and in a name
-- (the same length; the text would end there), a varint not in its
-- shortest form, a known op spelt out instead of its code.  :p's first
-- entry starts at byte 34 (after the version and the prev_hash): flags,
-- varint seq, op (INSERT is 1)
SELECT seq AS pseq FROM notary.ledger WHERE chain_id = :ca AND chain_pos = :p \gset
SELECT substr(entries, 35, length(pkt.varint(:pseq))) = pkt.varint(:pseq) AS seq_at_35,
       get_byte(entries, 34 + length(pkt.varint(:pseq))) AS op_code,
       position(convert_to('pg_regress/packs', 'UTF8') IN entries) > 0 AS has_application_name
  FROM notary.ledger_packs WHERE chain_id = :ca AND first_pos = :p;
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = set_byte(entries, position(convert_to('tamper-two', 'UTF8') IN entries) - 1 + 6, 0)
 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS nul_in_value;
ROLLBACK;
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = set_byte(entries, position(convert_to('pg_regress/packs', 'UTF8') IN entries) - 1 + 10, 0)
 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS nul_in_name;
ROLLBACK;
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = overlay(entries PLACING pkt.varint_long(:pseq) FROM 35 FOR length(pkt.varint(:pseq)))
 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS long_varint;
ROLLBACK;
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = overlay(entries PLACING '\x00'::bytea || pkt.varint(6) || convert_to('INSERT', 'UTF8')
                         FROM 35 + length(pkt.varint(:pseq)) FOR 1)
 WHERE chain_id = :ca AND first_pos = :p;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :p AS pos_in_p, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS op_spelt_out;
ROLLBACK;

-- all undone
SELECT tgenabled FROM pg_trigger
 WHERE tgrelid = 'notary.ledger_packs'::regclass AND NOT tgisinternal ORDER BY tgname;
SELECT * FROM pkt.findings();

----------------------------------------------------------------------------
-- Redaction of entries stored in packs, and in a mix of singles and packs
----------------------------------------------------------------------------
SELECT notary.classify('pk.person', 'nik', 'identifier');
-- person 1: packed; person 2: single, then packed
INSERT INTO pk.person VALUES (1, 'NIK-PACKED-0001', 'packed');
UPDATE pk.person SET note = 'packed, updated' WHERE id = 1;
SET notary.pack_entries = off;
INSERT INTO pk.person VALUES (2, 'NIK-SINGLE-0002', 'single');
RESET notary.pack_entries;
UPDATE pk.person SET note = 'single, then packed' WHERE id = 2;
SELECT count(*) FILTER (WHERE position(convert_to('NIK-PACKED', 'UTF8') IN entries) > 0) AS packs_with_1,
       count(*) FILTER (WHERE position(convert_to('NIK-SINGLE', 'UTF8') IN entries) > 0) AS packs_with_2
  FROM notary.ledger_packs;
SELECT max(seq) AS s FROM notary.ledger \gset
SELECT notary.redact('pk.person', '{1}', '{nik}', 'erasure request 1');
SELECT notary.redact('pk.person', '{2}', '{nik}', 'erasure request 2');
-- person 3: insert, update and redaction in one transaction (its entries
-- are not stored yet when the redaction starts)
BEGIN;
INSERT INTO pk.person VALUES (3, 'NIK-PENDING-0003', 'pending');
UPDATE pk.person SET note = 'pending, updated' WHERE id = 3;
SELECT notary.redact('pk.person', '{3}', '{nik}', 'erasure request 3');
COMMIT;
-- person 4: redact_subject() in the transaction that wrote it
BEGIN;
INSERT INTO pk.person VALUES (4, 'NIK-SUBJECT-0004', 'subject');
SELECT notary.redact_subject('nik', 'NIK-SUBJECT-0004', 'erasure request 4');
COMMIT;
-- the values are found nowhere
SELECT count(*) AS packs_holding_a_nik
  FROM notary.ledger_packs WHERE position(convert_to('NIK-', 'UTF8') IN entries) > 0;
SELECT count(*) AS singles_holding_a_nik
  FROM notary.ledger_entries WHERE array_to_string(row_image, ',') LIKE '%NIK-%';
SELECT count(*) AS entries_holding_a_nik
  FROM notary.ledger WHERE array_to_string(row_image, ',') LIKE '%NIK-%';
-- every entry of the four people is redacted, and a REDACT entry names it
SELECT l.row_image[1] AS person, l.op,
       CASE WHEN s.seq IS NOT NULL THEN 'single' ELSE 'pack' END AS stored,
       l.row_image[2] IS NULL AS nik_erased, l.redacted IS NOT NULL AS redacted,
       (SELECT count(*) FROM notary.ledger r
         WHERE r.op = 'REDACT' AND r.seq > l.seq
           AND r.detail->'entries' @> to_jsonb(l.seq)) AS named_by_redact
  FROM notary.ledger l
  JOIN notary.tables t ON t.table_id = l.table_id AND t.table_name = 'person'
  LEFT JOIN notary.ledger_entries s ON s.seq = l.seq
 WHERE l.row_image IS NOT NULL
 ORDER BY l.seq;
SELECT op, detail - 'entries' AS detail, jsonb_array_length(detail->'entries') AS entries
  FROM notary.ledger WHERE op = 'REDACT' ORDER BY seq;
SELECT * FROM pkt.findings();
SELECT * FROM notary.verify_table('pk.person');
-- a REDACT entry's detail replaced by as many bytes that are no JSON:
-- verify() reports that entry altered, and the erasures it recorded as
-- forged, and goes on; the view refuses the pack
SELECT chain_id AS rc, chain_pos AS rpos, detail::text AS rdetail FROM notary.ledger
 WHERE op = 'REDACT' AND detail->>'reason' = 'erasure request 1' \gset
SELECT first_pos AS rp FROM notary.ledger_packs
 WHERE chain_id = :rc AND :rpos BETWEEN first_pos AND last_pos \gset
BEGIN;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = overlay(entries PLACING convert_to(repeat('x', length(:'rdetail')), 'UTF8')
                         FROM position(convert_to(:'rdetail', 'UTF8') IN entries)
                         FOR length(:'rdetail'))
 WHERE chain_id = :rc AND first_pos = :rp
   AND position(convert_to(:'rdetail', 'UTF8') IN entries) > 0
RETURNING position(convert_to(:'rdetail', 'UTF8') IN entries) = 0 AS detail_replaced;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
SELECT chain, chain_pos - :rpos AS pos_from_redact, problem, detail FROM pkt.findings();
SELECT pkt.error($$SELECT count(*) FROM notary.ledger$$) AS ledger_view;
ROLLBACK;

----------------------------------------------------------------------------
-- notary_redactor reads notary.redactions, with the REDACT entries stored
-- in packs and single ones, but not the ledger; notary_auditor reads both
----------------------------------------------------------------------------
CREATE ROLE regress_pk_redactor;
GRANT notary_redactor TO regress_pk_redactor;
CREATE ROLE regress_pk_auditor;
GRANT notary_auditor TO regress_pk_auditor;
-- person 6: a REDACT entry stored single
SET notary.pack_entries = off;
INSERT INTO pk.person VALUES (6, 'NIK-SINGLE-0006', 'single');
SELECT notary.redact('pk.person', '{6}', '{nik}', 'erasure request 6');
RESET notary.pack_entries;
SELECT r.reason, CASE WHEN s.seq IS NULL THEN 'pack' ELSE 'single' END AS stored
  FROM notary.redactions r LEFT JOIN notary.ledger_entries s USING (seq) ORDER BY r.seq;
SET ROLE regress_pk_redactor;
SELECT reason, jsonb_array_length(entries) AS entries, columns FROM notary.redactions ORDER BY seq;
SELECT expect_error($$SELECT count(*) FROM notary.ledger$$) AS ledger,
       expect_error($$SELECT count(*) FROM notary.ledger_rows()$$) AS ledger_rows;
RESET ROLE;
SET ROLE regress_pk_auditor;
SELECT count(*) AS redactions FROM notary.redactions;
SELECT count(*) > 0 AS reads_the_ledger FROM notary.ledger;
SELECT count(*) > 0 AS calls_ledger_rows FROM notary.ledger_rows();
RESET ROLE;
-- notary.storage(): every stored entry counted once, by table, operation
-- and storage, with bytes that fit the rows it shares; the auditor may
-- call it, the redactor (who may not read the ledger) may not
SELECT (SELECT sum(entries) FROM notary.storage()) = (SELECT count(*) FROM notary.ledger) AS every_entry,
       (SELECT sum(entries) FROM notary.storage() WHERE packed)
         = (SELECT sum(last_pos - first_pos + 1) FROM notary.ledger_packs) AS packed_ones,
       (SELECT bool_and(bytes_per_entry BETWEEN 10 AND 2100) FROM notary.storage() WHERE packed) AS packed_sizes,
       (SELECT bool_and(bytes_per_entry > 100) FROM notary.storage() WHERE NOT packed) AS single_sizes;
SELECT count(*) AS per_table_and_op_mismatches
  FROM (SELECT table_id, op, count(*) AS n FROM notary.ledger GROUP BY 1, 2) l
  FULL JOIN (SELECT table_id, op, sum(entries) AS n FROM notary.storage() GROUP BY 1, 2) s
    ON s.table_id IS NOT DISTINCT FROM l.table_id AND s.op = l.op
 WHERE l.n IS DISTINCT FROM s.n;
SET ROLE regress_pk_auditor;
SELECT count(*) > 0 AS auditor_storage FROM notary.storage();
RESET ROLE;
SET ROLE regress_pk_redactor;
SELECT expect_error($$SELECT count(*) FROM notary.storage()$$) AS redactor_storage;
RESET ROLE;
-- a redaction inside a subtransaction while the enclosing one's entries
-- are not stored yet is refused
BEGIN;
INSERT INTO pk.person VALUES (5, 'NIK-REFUSED-0005', 'refused');
SELECT expect_error($$SELECT notary.redact('pk.person', '{5}', '{nik}', 'too early')$$) AS in_a_block;
ROLLBACK;

----------------------------------------------------------------------------
-- The view notary.ledger and the table of packs are append-only
----------------------------------------------------------------------------
SELECT expect_error($$UPDATE notary.ledger SET op = 'X' WHERE seq = 1$$) AS update_view,
       expect_error($$DELETE FROM notary.ledger WHERE seq = 1$$) AS delete_view,
       expect_error($$TRUNCATE notary.ledger$$) AS truncate_view;
SELECT expect_error($$UPDATE notary.ledger_packs SET last_pos = last_pos$$) AS update_packs,
       expect_error($$DELETE FROM notary.ledger_packs$$) AS delete_packs,
       expect_error($$TRUNCATE notary.ledger_packs$$) AS truncate_packs;
-- INSERT into the view (a superuser's) stores a single entry
BEGIN;
INSERT INTO notary.ledger
  SELECT seq + 1000000, chain_id + 100000, chain_pos, prev_hash, entry_hash, op, xid, logged_at,
         session_user_name, current_user_name, application_name, client_addr, table_id,
         layout_id, row_image, row_salts, old_digest, detail, redacted
    FROM notary.ledger WHERE seq = (SELECT min(seq) FROM notary.ledger);
SELECT count(*) AS inserted_singles FROM notary.ledger_entries WHERE chain_id > 100000;
SELECT count(*) AS inserted_packs FROM notary.ledger_packs WHERE chain_id > 100000;
SELECT problem FROM notary.verify() WHERE chain_id > 100000;
ROLLBACK;
-- through the executor, as the caller: an expression index of
-- ledger_entries (made behind pg_notary's back) is maintained, NOT NULL
-- applies
BEGIN;
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
CREATE INDEX ledger_entries_by_expr ON notary.ledger_entries ((chain_id + 0));
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
INSERT INTO notary.ledger
  SELECT seq + 2000000, chain_id + 200000, chain_pos, prev_hash, entry_hash, op, xid, logged_at,
         session_user_name, current_user_name, application_name, client_addr, table_id,
         layout_id, row_image, row_salts, old_digest, detail, redacted
    FROM notary.ledger WHERE seq = (SELECT min(seq) FROM notary.ledger);
SET LOCAL enable_seqscan = off;
SELECT count(*) AS found_through_the_index FROM notary.ledger_entries WHERE chain_id + 0 > 200000;
RESET enable_seqscan;
SELECT c AS null_column, expect_error(format(
  $$INSERT INTO notary.ledger
      SELECT seq + 3000000, %s, %s, prev_hash, entry_hash, op, xid, logged_at,
             session_user_name, current_user_name, application_name, client_addr, table_id,
             layout_id, row_image, row_salts, old_digest, detail, redacted
        FROM notary.ledger WHERE seq = (SELECT min(seq) FROM notary.ledger)$$,
  CASE c WHEN 'chain_id' THEN 'NULL' ELSE 'chain_id + 300000' END,
  CASE c WHEN 'chain_pos' THEN 'NULL' ELSE 'chain_pos' END)) AS refused
  FROM unnest(ARRAY['chain_id', 'chain_pos']) c;
ROLLBACK;

----------------------------------------------------------------------------
-- An index capture cannot maintain on a ledger table is refused with the
-- DDL that makes it (the DDL's own entry may wait in a pack until commit)
----------------------------------------------------------------------------
SHOW notary.pack_entries;
SELECT what, expect_error(sql) AS refused FROM (VALUES
  (1, 'entries, expression', $$CREATE INDEX ON notary.ledger_entries ((chain_pos + 1))$$),
  (2, 'entries, predicate', $$CREATE INDEX ON notary.ledger_entries (seq) WHERE seq > 0$$),
  (3, 'entries, deferrable unique', $$ALTER TABLE notary.ledger_entries ADD UNIQUE (seq) DEFERRABLE$$),
  (4, 'packs, expression', $$CREATE INDEX ON notary.ledger_packs ((first_pos + 1))$$),
  (5, 'packs, predicate', $$CREATE INDEX ON notary.ledger_packs (xid) WHERE last_pos > first_pos$$),
  (6, 'packs, deferrable unique', $$ALTER TABLE notary.ledger_packs ADD UNIQUE (chain_id, last_pos) DEFERRABLE INITIALLY DEFERRED$$)
) v(n, what, sql) ORDER BY n;
-- not at a later write: the statement fails, and nothing is left
CREATE INDEX ledger_entries_expr ON notary.ledger_entries ((chain_pos + 1));
CREATE INDEX ledger_packs_partial ON notary.ledger_packs (chain_id) WHERE first_pos > 0;
SELECT indrelid::regclass AS ledger_table, indexrelid::regclass AS index
  FROM pg_index WHERE indrelid IN ('notary.ledger_entries'::regclass, 'notary.ledger_packs'::regclass)
 ORDER BY 1::text, 2::text;
-- both tables with one (made behind pg_notary's back): the bad index of one
-- can be dropped while the other still has its own
SELECT max(seq) AS s FROM notary.ledger \gset
BEGIN;
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
CREATE INDEX ledger_entries_expr ON notary.ledger_entries ((chain_pos + 1));
ALTER TABLE notary.ledger_packs ADD CONSTRAINT ledger_packs_deferred UNIQUE (chain_id, last_pos) DEFERRABLE;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
ALTER TABLE notary.ledger_packs DROP CONSTRAINT ledger_packs_deferred;
DROP INDEX notary.ledger_entries_expr;
COMMIT;
SELECT indrelid::regclass AS ledger_table, indexrelid::regclass AS index
  FROM pg_index WHERE indrelid IN ('notary.ledger_entries'::regclass, 'notary.ledger_packs'::regclass)
 ORDER BY 1::text, 2::text;
SELECT op, detail->>'command' AS command, detail->>'object' AS object
  FROM notary.ledger WHERE seq > :s AND detail->>'object' = 'notary.ledger_packs';
SELECT * FROM pkt.findings();

SELECT dblink_disconnect('other');
\c contrib_regression
DROP DATABASE regress_notary_packs;
DROP ROLE regress_pk_writer;
DROP ROLE regress_pk_redactor;
DROP ROLE regress_pk_auditor;
