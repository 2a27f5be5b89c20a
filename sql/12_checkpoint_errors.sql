-- Bad input to the checkpoint functions gets a clear error and changes
-- nothing: an entry that does not exist, an entry no checkpoint covers yet,
-- and checkpoint documents that are null, not objects, of another format,
-- with a field missing or mangled, or checked with a malformed key.
CREATE DATABASE notary_checkpoint_errors;
\c notary_checkpoint_errors
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA s;
CREATE TABLE s.t (id int PRIMARY KEY);
SELECT notary.enable('s');
INSERT INTO s.t VALUES (1);
\set VERBOSITY default
SELECT notary.proof(999999);
SELECT notary.proof((SELECT max(seq) FROM notary.ledger));
SELECT notary.checkpoint() AS cp \gset
SELECT count(*) AS checkpoints_before FROM notary.checkpoints;
SELECT * FROM notary.verify_checkpoint(NULL);
SELECT * FROM notary.verify_checkpoint('[1, 2]');
SELECT * FROM notary.verify_checkpoint('{"format": "something else"}');
SELECT * FROM notary.verify_checkpoint(:'cp'::jsonb - 'entries_root');
SELECT * FROM notary.verify_checkpoint(jsonb_set(:'cp', '{checkpoint_id}', '"one"'));
SELECT * FROM notary.verify_checkpoint(jsonb_set(:'cp', '{chains}', '"none"'));
SELECT * FROM notary.verify_checkpoint(:'cp', 'not a key');
SELECT * FROM notary.verify(since => '{"format": "something else"}');
-- nothing changed, and the real checkpoint still verifies
SELECT count(*) AS checkpoints_after FROM notary.checkpoints;
SELECT count(*) AS findings FROM notary.verify_checkpoint(:'cp');
SELECT count(*) AS findings FROM notary.verify(since => :'cp');
\c contrib_regression
DROP DATABASE notary_checkpoint_errors;
