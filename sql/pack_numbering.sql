-- pack_numbering: entries that do not fit in the pack being filled.  The
-- pack is stored without them and the next one begins; the entry that did
-- not fit must not be counted in the stored pack (an assertion-enabled
-- build failed "pack.cur.nseq == pack.n" in pack_flush() when such an
-- entry was numbered at once).  Rows of about 5 kB (random, so that they
-- do not shrink): two of them exceed a pack.  Then an entry that fills a
-- pack on its own: it is numbered and hashed at once, in a pack of its own,
-- instead of being kept for later in two more copies.
CREATE DATABASE regress_notary_pack_numbering;
\c regress_notary_pack_numbering
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA app;
CREATE TABLE app.d (id int PRIMARY KEY DEFERRABLE, v text);
CREATE TABLE app.t (id int PRIMARY KEY, v text);
SELECT notary.enable('app');
CREATE FUNCTION app.noise(n int) RETURNS text LANGUAGE sql AS
$$ SELECT substr(string_agg(md5(g::text), ''), 1, n) FROM generate_series(1, n / 32 + 1) g $$;
SELECT max(seq) AS seq_before FROM notary.ledger \gset

BEGIN;
INSERT INTO app.d VALUES (1, app.noise(5000));
INSERT INTO app.d VALUES (2, app.noise(5000));
INSERT INTO app.t VALUES (1, app.noise(5000));
INSERT INTO app.d VALUES (3, app.noise(5000));
INSERT INTO app.t VALUES (2, 'small');
INSERT INTO app.d VALUES (4, 'small');
COMMIT;

-- every entry once, in chain order with growing seq, in packs that hold
-- as many entries as their positions say
SELECT count(*) AS entries,
       count(*) FILTER (WHERE seq <= prev_seq) AS seq_not_growing
  FROM (SELECT seq, lag(seq) OVER (ORDER BY chain_pos) AS prev_seq
          FROM notary.ledger WHERE seq > :seq_before) x;
SELECT count(*) AS packs,
       sum(last_pos - first_pos + 1) AS positions
  FROM notary.ledger_packs
 WHERE (chain_id, last_pos) >= (SELECT chain_id, min(chain_pos) FROM notary.ledger
                                  WHERE seq > :seq_before GROUP BY chain_id)
   AND chain_id = (SELECT DISTINCT chain_id FROM notary.ledger WHERE seq > :seq_before);
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.d');
SELECT count(*) AS findings FROM notary.verify_table('app.t');

-- A 20 kB row between small ones, written by another role (a SECURITY
-- DEFINER function, no utility statement that would store the pack): it
-- starts a pack of its own, the entries recorded before it are stored
-- first, and the next entry starts the next pack.  (Recording it first
-- made the pack remember its role, which the entry before it does not
-- have: taking it back must not leave that behind.)
CREATE ROLE regress_notary_bigwriter;
GRANT USAGE ON SCHEMA app TO regress_notary_bigwriter;
GRANT INSERT ON app.t TO regress_notary_bigwriter;
CREATE FUNCTION app.insert_big(k int) RETURNS void LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp AS
$$ INSERT INTO app.t VALUES (k, repeat(md5(k::text), 640)) $$;
ALTER FUNCTION app.insert_big(int) OWNER TO regress_notary_bigwriter;
SELECT max(seq) AS seq_before FROM notary.ledger \gset
BEGIN;
INSERT INTO app.t VALUES (10, 'small before');
INSERT INTO app.t VALUES (11, 'small before');
SELECT app.insert_big(12);
INSERT INTO app.t VALUES (13, 'small after');
COMMIT;
SELECT row_image[1] AS id, current_user_name, length(row_image[2]) AS len,
       chain_pos = p.first_pos AS starts_pack, p.last_pos - p.first_pos + 1 AS pack_entries
  FROM notary.ledger l
  JOIN notary.ledger_packs p ON p.chain_id = l.chain_id AND l.chain_pos BETWEEN p.first_pos AND p.last_pos
 WHERE l.seq > :seq_before ORDER BY l.seq;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('app.t');

\c contrib_regression
DROP DATABASE regress_notary_pack_numbering;
DROP ROLE regress_notary_bigwriter;
