/* pg_notary 0.3 -> 0.4: ledger format 2 and bigger packs (issue 6). */

\echo Use "ALTER EXTENSION pg_notary UPDATE TO '0.4'" to load this file. \quit

-- ===========================================================================
-- Format 2: one hash per entry (docs/format.md, "Format 2")
-- ===========================================================================
-- Every entry written so far stays format 1 and verifies as before; the
-- library writes format 2 once this column exists.  Packs carry their
-- format in their first byte.
ALTER TABLE notary.ledger_entries
  ADD COLUMN format_version smallint NOT NULL DEFAULT 1;
COMMENT ON COLUMN notary.ledger_entries.format_version IS
  'how entry_hash is computed: 1 (written before 0.4) or 2 (docs/format.md); not hashed itself, it chooses the hash';

-- The view shows it too, at the end, so that queries of its other columns
-- do not change.  (ledger_rows() returns rows of notary.ledger_entries, so
-- it has the new column already.)
CREATE OR REPLACE VIEW notary.ledger AS
  SELECT * FROM notary.ledger_entries
  UNION ALL
  SELECT * FROM notary.ledger_rows();
COMMENT ON COLUMN notary.ledger.format_version IS
  'how entry_hash is computed: 1 (written before 0.4) or 2 (docs/format.md); not hashed itself, it chooses the hash';
-- A superuser's INSERT through the view that leaves it out writes format 1,
-- as before 0.4.
ALTER VIEW notary.ledger ALTER COLUMN format_version SET DEFAULT 1;
COMMENT ON COLUMN notary.ledger.redacted IS
  'redacted columns: (u16 position, 32-byte commitment) each, or (u16 0x8000 + position, 32 zero bytes) for a sealed one; their values and salts are erased (docs/format.md)';
COMMENT ON COLUMN notary.ledger_entries.redacted IS
  'redacted columns: (u16 position, 32-byte commitment) each, or (u16 0x8000 + position, 32 zero bytes) for a sealed one; their values and salts are erased (docs/format.md)';
COMMENT ON COLUMN notary.ledger_entries.entry_hash IS
  'BLAKE2b-256 over the previous entry''s hash and this entry, in the entry''s format_version (docs/format.md)';
COMMENT ON COLUMN notary.ledger.entry_hash IS
  'BLAKE2b-256 over the previous entry''s hash and this entry, in the entry''s format_version (docs/format.md)';

-- ===========================================================================
-- Bigger packs
-- ===========================================================================
-- A pack of up to about 7.9 kB stays inline and uncompressed with this
-- target (the default, 2 kB, kept packs under 2 kB): one heap and one index
-- insertion per about 70 bulk-loaded rows instead of 17.
ALTER TABLE notary.ledger_packs SET (toast_tuple_target = 8160);

-- ===========================================================================
-- seq in blocks
-- ===========================================================================
-- One nextval serves up to 32 captured rows of one statement (src/ledger_seq.c
-- says when a block may serve an entry).  Still CACHE 1: a number is taken
-- while its rows are locked, so seq keeps the order of row locks.  The
-- numbers a statement does not use are skipped.
ALTER SEQUENCE notary.ledger_seq INCREMENT BY 32;
COMMENT ON SEQUENCE notary.ledger_seq IS
  'pg_notary: global order of ledger entries (CACHE 1, so it agrees with row-lock order; each nextval gives a block of INCREMENT numbers to the rows of one statement, and the rest are skipped)';
