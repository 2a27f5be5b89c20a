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
INSERT INTO s.t VALUES (1, 1), (2, 2);
SELECT notary.checkpoint() AS cp \gset
ALTER TABLE notary.checkpoints DISABLE TRIGGER checkpoints_append_only;
ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only;
-- a stored checkpoint without its digest, then not a checkpoint at all
UPDATE notary.checkpoints SET document = document - 'digest';
SELECT problem FROM notary.verify_checkpoint(:'cp');
SELECT problem, seq IS NULL AS no_entry FROM notary.verify();
UPDATE notary.checkpoints SET document = '{"x": 1}';
SELECT problem FROM notary.verify();
SELECT notary.proof(2);
-- NULL digests and hashes
ALTER TABLE notary.checkpoints ALTER COLUMN digest DROP NOT NULL;
UPDATE notary.checkpoints SET digest = NULL;
SELECT notary.checkpoint() IS NOT NULL AS checkpoint_taken;
ALTER TABLE notary.ledger ALTER COLUMN entry_hash DROP NOT NULL;
UPDATE notary.ledger SET entry_hash = NULL WHERE seq = (SELECT min(seq) FROM notary.ledger WHERE op = 'INSERT');
SELECT notary.checkpoint() IS NOT NULL AS checkpoint_taken;
SELECT problem FROM notary.verify() ORDER BY problem;
\c contrib_regression
DROP DATABASE notary_damaged;
DROP ROLE regress_notary_squatter;
