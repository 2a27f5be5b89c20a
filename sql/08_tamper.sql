--
-- 08_tamper: notary.verify() finds what a superuser changed behind the
-- guards.  Runs in a database of its own, since every tampering is visible
-- to verify() of the whole ledger; the database is dropped at the end.
--
CREATE DATABASE regress_notary_tamper;
\c regress_notary_tamper
CREATE EXTENSION pg_notary;
CREATE SCHEMA bank;
CREATE TABLE bank.acct (id int PRIMARY KEY, holder text, balance int);
SELECT notary.enable('bank');
-- the entries tampered with below are single rows of notary.ledger_entries
-- (those of enable() above are packed in notary.ledger_packs, whose guards
-- stay on)
SET notary.pack_entries = off;
INSERT INTO bank.acct SELECT g, 'holder ' || g, g * 100 FROM generate_series(1, 10) g;
UPDATE bank.acct SET balance = balance + 1 WHERE id IN (2, 4);
SELECT count(*) AS findings FROM notary.verify();

-- the guard must be switched off first; that is itself recorded
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
ALTER TABLE notary.layouts DISABLE TRIGGER layouts_append_only;
SELECT op, detail FROM notary.ledger WHERE op = 'DDL' ORDER BY seq;

-- :target is the INSERT of row 5; :next the entry after it in its chain
SELECT seq AS target, chain_id AS target_chain, chain_pos AS target_pos
  FROM notary.ledger WHERE op = 'INSERT' AND row_image[1] = '5' \gset
SELECT seq AS next FROM notary.ledger WHERE chain_id = :target_chain AND chain_pos = :target_pos + 1 \gset
SELECT seq AS upd FROM notary.ledger WHERE op = 'UPDATE' ORDER BY seq LIMIT 1 \gset
SELECT count(*) AS single_targets, (SELECT count(*) FROM notary.ledger_packs) > 0 AS packs_too
  FROM notary.ledger_entries WHERE seq IN (:target, :next, :upd);
CREATE TEMP TABLE saved AS SELECT * FROM notary.ledger_entries;
CREATE TEMP TABLE saved_layouts AS SELECT * FROM notary.layouts;

-- restore(): put the saved single entries and layouts back
CREATE FUNCTION pg_temp.restore() RETURNS void LANGUAGE sql AS $$
  DELETE FROM notary.ledger_entries l WHERE NOT EXISTS
    (SELECT 1 FROM saved s WHERE s.chain_id = l.chain_id AND s.chain_pos = l.chain_pos AND s.seq = l.seq);
  DELETE FROM notary.ledger_entries l USING saved s
   WHERE s.seq = l.seq AND (s.*)::text IS DISTINCT FROM (l.*)::text;
  INSERT INTO notary.ledger_entries SELECT * FROM saved s
   WHERE NOT EXISTS (SELECT 1 FROM notary.ledger_entries l WHERE l.seq = s.seq);
  UPDATE notary.layouts y SET table_id = s.table_id, layout_digest = s.layout_digest,
         schema_name = s.schema_name, table_name = s.table_name, column_names = s.column_names,
         column_types = s.column_types, key_columns = s.key_columns, personal_columns = s.personal_columns
    FROM saved_layouts s WHERE s.layout_id = y.layout_id;
$$;

-- findings(): verify()'s findings, with seqs told relative to the targets
CREATE FUNCTION pg_temp.findings(target bigint, next bigint)
RETURNS TABLE (problem text, at text, n bigint) LANGUAGE sql AS $$
  SELECT v.problem,
         CASE WHEN v.seq IS NULL THEN 'no entry'
              WHEN v.seq = target THEN 'target'
              WHEN v.seq = next THEN 'next entry'
              ELSE 'other entries' END,
         count(*)
    FROM notary.verify() v GROUP BY 1, 2 ORDER BY 2 DESC, 1;
$$;

-- 1. changing any hashed field of one entry: exactly one altered_entry there
CREATE FUNCTION pg_temp.tamper_field(col text, val text) RETURNS TABLE (field text, findings text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('UPDATE notary.ledger_entries SET %I = %s WHERE seq = %s', col, val,
                 CASE WHEN col = 'old_digest' THEN current_setting('my.upd') ELSE current_setting('my.target') END);
  field := col;
  SELECT string_agg(f.problem || ' at ' || f.at || ' x' || f.n, ', ') INTO findings
    FROM pg_temp.findings(CASE WHEN col = 'old_digest' THEN current_setting('my.upd') ELSE current_setting('my.target') END::bigint,
                          current_setting('my.next')::bigint) f;
  PERFORM pg_temp.restore();
  RETURN NEXT;
END
$$;
SELECT set_config('my.target', :'target', false), set_config('my.next', :'next', false),
       set_config('my.upd', :'upd', false) \gset
SELECT t.* FROM (VALUES
    ('row_image', $$'{5,"holder 5",999999}'$$),
    ('op', $$'DELETE'$$),
    ('logged_at', $$logged_at - interval '1 hour'$$),
    ('session_user_name', $$'someone_else'$$),
    ('current_user_name', $$'someone_else'$$),
    ('application_name', $$'forged'$$),
    ('client_addr', $$'10.0.0.1'$$),
    ('xid', $$'1'::xid8$$),
    ('table_id', $$table_id + 1$$),
    ('detail', $$'{"forged": true}'$$),
    ('old_digest', $$sha256(old_digest)$$)
  ) AS c(col, val), LATERAL pg_temp.tamper_field(c.col, c.val) t;
SELECT count(*) AS findings_after_restore FROM notary.verify();

-- 2. rewriting an entry's hash: altered_entry there, broken_link at the next
UPDATE notary.ledger_entries SET entry_hash = sha256(entry_hash) WHERE seq = :target;
SELECT * FROM pg_temp.findings(:target, :next);
SELECT pg_temp.restore();
-- also changing its content: the same
UPDATE notary.ledger_entries SET entry_hash = sha256(entry_hash), row_image = '{5,"holder 5",1}' WHERE seq = :target;
SELECT * FROM pg_temp.findings(:target, :next);
SELECT pg_temp.restore();

-- 3. deleting an entry in the middle of a chain: missing_entry at the next
DELETE FROM notary.ledger_entries WHERE seq = :target;
SELECT * FROM pg_temp.findings(:target, :next);
SELECT (SELECT detail FROM notary.verify() WHERE problem = 'missing_entry')
       = format('position %s of chain %s, before this entry, is missing: an entry was deleted from the ledger',
                :target_pos, :target_chain) AS detail_names_the_position;
SELECT pg_temp.restore();
-- deleting three in a row: one finding naming the range
DELETE FROM notary.ledger_entries WHERE chain_id = :target_chain AND chain_pos BETWEEN :target_pos - 2 AND :target_pos;
SELECT * FROM pg_temp.findings(:target, :next);
SELECT (SELECT detail FROM notary.verify() WHERE problem = 'missing_entry')
       = format('positions %s to %s of chain %s, before this entry, are missing: entries were deleted from the ledger',
                :target_pos - 2, :target_pos, :target_chain) AS detail_names_the_range;
SELECT pg_temp.restore();

-- 4. a forged entry inserted (INSERT is not guarded) as a new chain; through
--    the view, it is stored as a single entry
INSERT INTO notary.ledger
SELECT seq + 1000, chain_id + 1000, 1, prev_hash, entry_hash, op, xid, logged_at, session_user_name,
       current_user_name, application_name, client_addr, table_id, layout_id, '{5,"holder 5",1}',
       row_salts, old_digest, detail
  FROM notary.ledger WHERE seq = :target;
SELECT problem, seq = :target + 1000 AS at_forged, detail FROM notary.verify();
SELECT pg_temp.restore();

-- 5. malformed entries
UPDATE notary.ledger_entries SET entry_hash = '\x00' WHERE seq = :target;
SELECT * FROM pg_temp.findings(:target, :next);
SELECT pg_temp.restore();
UPDATE notary.ledger_entries SET layout_id = 999999 WHERE seq = :target;
SELECT problem, seq = :target AS at_target, detail FROM notary.verify();
SELECT pg_temp.restore();
UPDATE notary.ledger_entries SET row_image = row_image[1:2] WHERE seq = :target;
SELECT problem, seq = :target AS at_target, detail FROM notary.verify();
SELECT pg_temp.restore();

-- 6. a changed layout: altered_layout (no entry), and every image under it
--    no longer matches its entry
SELECT count(*) AS entries_under_layout FROM notary.ledger
 WHERE layout_id = (SELECT layout_id FROM notary.layouts WHERE table_name = 'acct') \gset
UPDATE notary.layouts SET column_names = '{id,holder,saldo}' WHERE table_name = 'acct';
SELECT problem, seq IS NULL AS no_entry, count(*) FROM notary.verify() GROUP BY 1, 2 ORDER BY 1;
SELECT count(*) = :entries_under_layout AS every_image_under_it
  FROM notary.verify() WHERE problem = 'altered_entry';
SELECT detail FROM notary.verify() WHERE problem = 'altered_layout';
SELECT pg_temp.restore();
UPDATE notary.layouts SET column_types = '{integer,pg_catalog.text,bigint}' WHERE table_name = 'acct';
SELECT problem, count(*) FROM notary.verify() GROUP BY 1 ORDER BY 1;
SELECT pg_temp.restore();
UPDATE notary.layouts SET key_columns = '{2}' WHERE table_name = 'acct';
SELECT problem, count(*) FROM notary.verify() GROUP BY 1 ORDER BY 1;
SELECT pg_temp.restore();
UPDATE notary.layouts SET column_types = '{integer}' WHERE table_name = 'acct';
SELECT problem, seq IS NULL AS no_entry, count(*) FROM notary.verify() GROUP BY 1, 2 ORDER BY 1;
SELECT detail FROM notary.verify() WHERE problem = 'altered_layout';
SELECT pg_temp.restore();

-- 7. known limit, without an outside checkpoint: deleting the newest
--    entries of a chain is not seen by verify() alone (docs/threat-model.md)
DELETE FROM notary.ledger_entries WHERE seq = (SELECT max(seq) FROM notary.ledger);
SELECT count(*) AS findings FROM notary.verify();
SELECT pg_temp.restore();

-- everything restored: the ledger verifies again; guards back on (recorded)
SELECT count(*) AS findings FROM notary.verify();
RESET notary.pack_entries;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE notary.layouts ENABLE ALWAYS TRIGGER layouts_append_only;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('notary.ledger_entries'::regclass, 'notary.layouts'::regclass) ORDER BY tgname;
SELECT op, detail FROM notary.ledger WHERE op = 'DDL' ORDER BY seq;
UPDATE notary.ledger SET op = 'FORGED';
UPDATE notary.ledger_entries SET op = 'FORGED';
SELECT count(*) AS findings FROM notary.verify();

-- uninstall: only with notary.allow_uninstall, which only a superuser sets
SET notary.allow_uninstall = on;
SET client_min_messages = warning;
DROP EXTENSION pg_notary CASCADE;
RESET client_min_messages;
SELECT count(*) AS extension_present FROM pg_extension WHERE extname = 'pg_notary';
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgname LIKE 'notary_capture%';
RESET notary.allow_uninstall;

\c contrib_regression
DROP DATABASE regress_notary_tamper;
SELECT count(*) AS findings FROM notary.verify();
