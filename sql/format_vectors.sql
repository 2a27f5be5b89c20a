-- The test vectors of docs/format.md, formats 1 and 2, checked by the
-- extension's own verify(): tests/format/check_format.py checks the same
-- vectors in Python, so C, document and an independent implementation
-- must agree.
CREATE DATABASE notary_vectors;
\c notary_vectors
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
INSERT INTO notary.layouts VALUES (1, 7,
  '\xc7831049a8495318015a2e6d13047b66b4b2d23440c3bd175cd1249a924aba97',
  'procurement', 'contracts', '{id,vendor,value,signed_at}',
  '{integer,text,"numeric(14,2)","timestamp with time zone"}', '{1}', '{}');
-- the vector entry, through the view: stored as a single entry
INSERT INTO notary.ledger VALUES (1001, 3, 17, decode(repeat('00', 32), 'hex'),
  '\xbae560a841ad005de84cbc3d1645b5d4aa7dc025b25df87b6049b8965a3c1f52',
  'INSERT', '7531', to_timestamp(1709262000), 'alice', 'procurement_app',
  'e-procurement', NULL, 7, 1,
  '{42,"PT Sinar Jaya Konstruksi",150000000.00,"2024-03-01 03:00:00+00"}',
  NULL, NULL, NULL);
SELECT count(*) AS single_entry FROM notary.ledger_entries WHERE seq = 1001;
-- the vector entry hashes as documented: only the gap before position 17
SELECT chain_id, chain_pos, problem FROM notary.verify();
-- one byte of the image changed: the hash no longer matches
UPDATE notary.ledger_entries SET row_image[3] = '150000001.00' WHERE seq = 1001;
SELECT chain_id, chain_pos, problem FROM notary.verify() ORDER BY problem;
-- one byte of the layout changed: the layout and the entry are reported
UPDATE notary.ledger_entries SET row_image[3] = '150000000.00' WHERE seq = 1001;
ALTER TABLE notary.layouts DISABLE TRIGGER layouts_append_only;
UPDATE notary.layouts SET column_types[3] = 'numeric(14,3)';
SELECT chain_id, chain_pos, problem FROM notary.verify() ORDER BY problem;
UPDATE notary.layouts SET column_types[3] = 'numeric(14,2)';

-- format 2: the same entry hashed once, image inline (vector entry_hash_v2)
UPDATE notary.ledger_entries SET format_version = 2,
  entry_hash = '\x4bfe3e75d4779e8814ea3c54dec1a9b87d60938a693f1fb0b90022c265a1e4d1'
 WHERE seq = 1001;
SELECT chain_id, chain_pos, problem FROM notary.verify();
-- its format-1 hash no longer fits under format 2, nor the other way round
UPDATE notary.ledger_entries SET format_version = 1 WHERE seq = 1001;
SELECT chain_id, chain_pos, problem FROM notary.verify() ORDER BY problem;
-- a format this version does not know: malformed, not hashed
UPDATE notary.ledger_entries SET format_version = 3 WHERE seq = 1001;
SELECT chain_id, chain_pos, problem, detail FROM notary.verify() ORDER BY problem;
-- vendor personal, salted with 00 01 ... 0f (entry_hash_v2_personal)
INSERT INTO notary.layouts VALUES (2, 7,
  '\x2f94c49da8bcb51eea6e8832b688524cc5a0c3130aa291697a2462da168a095e',
  'procurement', 'contracts', '{id,vendor,value,signed_at}',
  '{integer,text,"numeric(14,2)","timestamp with time zone"}', '{1}', '{2}');
UPDATE notary.ledger_entries SET format_version = 2, layout_id = 2,
  row_salts = '\x000102030405060708090a0b0c0d0e0f',
  entry_hash = '\x74588004f60a564d6601af2800a03043b5bdacf02bfced931c046978f376f51e'
 WHERE seq = 1001;
SELECT chain_id, chain_pos, problem FROM notary.verify();
-- one byte of the salt changed: the commitment, and so the hash, differ
UPDATE notary.ledger_entries SET row_salts = '\x000102030405060708090a0b0c0d0eff' WHERE seq = 1001;
SELECT chain_id, chain_pos, problem FROM notary.verify() ORDER BY problem;
-- the first format-2 entry with vendor sealed, and a REDACT entry carrying
-- its seal (vector seal_v2; the REDACT entry's own hash is not computed
-- here, so it is altered_entry): the sealed entry checks through the seal
UPDATE notary.ledger_entries SET layout_id = 1, row_salts = NULL,
  entry_hash = '\x4bfe3e75d4779e8814ea3c54dec1a9b87d60938a693f1fb0b90022c265a1e4d1',
  row_image[2] = NULL, redacted = '\x8001' || decode(repeat('00', 32), 'hex')
 WHERE seq = 1001;
INSERT INTO notary.ledger VALUES (2000, 9, 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
  'REDACT', '7600', to_timestamp(1709262100), 'alice', 'alice', NULL, NULL, 7, NULL, NULL, NULL, NULL,
  '{"columns": ["vendor"], "entries": [1001], "reason": "vectors", "sealed": {"1001": "20552fd0ae8aec3004fc5ab9080610b05784b73e30be78d00a53a44c2e8b21e9"}}',
  NULL, 1);
SELECT seq, chain_id, chain_pos, problem FROM notary.verify() ORDER BY seq, problem;
-- the seal one hex digit off: the sealed entry is altered_entry
UPDATE notary.ledger_entries SET detail = jsonb_set(detail, '{sealed,1001}',
  '"20552fd0ae8aec3004fc5ab9080610b05784b73e30be78d00a53a44c2e8b21e8"') WHERE seq = 2000;
SELECT seq, chain_id, chain_pos, problem FROM notary.verify() ORDER BY seq, problem;
-- no seal at all: forged_redaction
UPDATE notary.ledger_entries SET detail = detail - 'sealed' WHERE seq = 2000;
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify() ORDER BY seq, problem;
\c contrib_regression
DROP DATABASE notary_vectors;
