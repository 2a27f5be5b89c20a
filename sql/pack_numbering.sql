-- pack_numbering: entries numbered at once (here: rows of a table with a
-- DEFERRABLE key) that do not fit in the pack being filled.  The pack is
-- stored without them and the next one begins; the entry that did not fit
-- must not be counted in the stored pack (an assertion-enabled build
-- failed "pack.cur.nseq == pack.n" in pack_flush()).  Rows of about 5 kB
-- (random, so that they do not shrink): two of them exceed a pack.
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

\c contrib_regression
DROP DATABASE regress_notary_pack_numbering;
