-- The test vectors of docs/format.md, checked by the extension's own
-- verify(): tests/format/check_format.py checks the same vectors in Python,
-- so C, document and an independent implementation must agree.
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
\c contrib_regression
DROP DATABASE notary_vectors;
