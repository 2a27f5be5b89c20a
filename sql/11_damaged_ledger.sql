-- A superuser who damages pg_notary's own tables gets findings or a clear
-- error, never a crashed server: NULLs where verification reads hashes,
-- digests and checkpoint documents (each of these once crashed it), and a
-- schema called notary that someone else made before the install.
CREATE DATABASE notary_damaged;
\c notary_damaged
SET client_min_messages = warning;
CREATE ROLE regress_notary_squatter;
GRANT CREATE ON DATABASE notary_damaged TO regress_notary_squatter;
SET ROLE regress_notary_squatter;
CREATE SCHEMA notary;
RESET ROLE;
CREATE EXTENSION pg_notary;
DROP SCHEMA notary;
CREATE EXTENSION pg_notary;
CREATE SCHEMA s;
CREATE TABLE s.t (id int PRIMARY KEY, v int);
SELECT notary.enable('s');
-- single entries (notary.ledger_entries), so that one can be damaged
SET notary.pack_entries = off;
INSERT INTO s.t VALUES (1, 1), (2, 2);
RESET notary.pack_entries;
SELECT notary.checkpoint() AS cp \gset
ALTER TABLE notary.checkpoints DISABLE TRIGGER checkpoints_append_only;
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
-- a stored checkpoint without its digest, then not a checkpoint at all
UPDATE notary.checkpoints SET document = document - 'digest';
SELECT problem FROM notary.verify_checkpoint(:'cp');
SELECT problem, seq IS NULL AS no_entry FROM notary.verify();
UPDATE notary.checkpoints SET document = '{"x": 1}';
SELECT problem FROM notary.verify();
SELECT min(seq) AS first_insert FROM notary.ledger WHERE op = 'INSERT' \gset
SELECT notary.proof(:first_insert);
-- NULL digests and hashes
ALTER TABLE notary.checkpoints ALTER COLUMN digest DROP NOT NULL;
UPDATE notary.checkpoints SET digest = NULL;
SELECT notary.checkpoint() IS NOT NULL AS checkpoint_taken;
ALTER TABLE notary.ledger_entries ALTER COLUMN entry_hash DROP NOT NULL;
UPDATE notary.ledger_entries SET entry_hash = NULL WHERE seq = (SELECT min(seq) FROM notary.ledger WHERE op = 'INSERT');
SELECT notary.checkpoint() IS NOT NULL AS checkpoint_taken;
SELECT problem FROM notary.verify() ORDER BY problem;
-- a pack cut short, then a NULL pack: verify() reports the pack, reading the
-- ledger and taking a checkpoint fail with a clear error (XX001)
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_packs ALTER COLUMN entries DROP NOT NULL;
SELECT min(first_pos) AS pack_pos FROM notary.ledger_packs \gset
UPDATE notary.ledger_packs SET entries = substr(entries, 1, length(entries) - 5) WHERE first_pos = :pack_pos;
SELECT problem, chain_pos = :pack_pos AS at_pack, regexp_replace(detail, 'chain \d+', 'chain N') AS detail
  FROM notary.verify() WHERE problem = 'malformed_entry' ORDER BY chain_pos;
\set VERBOSITY sqlstate
SELECT count(*) FROM notary.ledger;
SELECT notary.checkpoint() IS NOT NULL AS checkpoint_taken;
\set VERBOSITY default
UPDATE notary.ledger_packs SET entries = NULL WHERE first_pos = :pack_pos;
SELECT problem, chain_pos = :pack_pos AS at_pack, regexp_replace(detail, 'chain \d+', 'chain N') AS detail
  FROM notary.verify() WHERE problem = 'malformed_entry' ORDER BY chain_pos;
\set VERBOSITY sqlstate
SELECT count(*) FROM notary.ledger;
\set VERBOSITY default
\c contrib_regression
DROP DATABASE notary_damaged;
DROP ROLE regress_notary_squatter;
