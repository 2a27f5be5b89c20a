/* pg_notary 0.2 -> 0.3: packed storage of ledger entries (issue 6). */

\echo Use "ALTER EXTENSION pg_notary UPDATE TO '0.3'" to load this file. \quit

-- ===========================================================================
-- Storage: the entries of one transaction packed into one row
-- ===========================================================================
-- What is hashed does not change (docs/format.md): only how entries are
-- stored.  The table of single entries keeps every entry written so far and
-- those written with notary.pack_entries = off; notary.ledger becomes a view
-- over both, with the columns and values it had.

-- Objects of others that read the table would go on reading it under its new
-- name, which holds only the entries written before the update: refuse, and
-- say which, rather than let them silently miss every later entry.
DO $deps$
DECLARE
  deps text;
BEGIN
  SELECT pg_catalog.string_agg(x.obj, ', ' ORDER BY x.obj) INTO deps FROM (
    SELECT DISTINCT r.ev_class::pg_catalog.regclass::pg_catalog.text AS obj
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) d.objid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) 'notary.ledger'::pg_catalog.regclass
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                        WHERE e.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                          AND e.objid OPERATOR(pg_catalog.=) r.ev_class
                          AND e.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                          AND e.deptype OPERATOR(pg_catalog.=) 'e')
    UNION
    SELECT DISTINCT d.objid::pg_catalog.regprocedure::pg_catalog.text
      FROM pg_catalog.pg_depend d
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) 'notary.ledger'::pg_catalog.regclass
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                        WHERE e.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                          AND e.objid OPERATOR(pg_catalog.=) d.objid
                          AND e.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                          AND e.deptype OPERATOR(pg_catalog.=) 'e')) x;
  IF deps IS NOT NULL THEN
    RAISE EXCEPTION USING
      ERRCODE = 'dependent_objects_still_exist',
      MESSAGE = 'objects outside pg_notary depend on the table notary.ledger: ' || deps,
      DETAIL = 'Version 0.3 renames that table to notary.ledger_entries and makes notary.ledger a view; these objects would go on reading the renamed table, which holds only the entries written before the update.',
      HINT = 'Drop them, run ALTER EXTENSION pg_notary UPDATE again, and create them again: they will then read the view notary.ledger.';
  END IF;
END
$deps$;

ALTER TABLE notary.ledger RENAME TO ledger_entries;
ALTER INDEX notary.ledger_pkey RENAME TO ledger_entries_pkey;
ALTER INDEX notary.ledger_table_brin RENAME TO ledger_entries_table_brin;
COMMENT ON TABLE notary.ledger_entries IS
  'pg_notary: ledger entries stored one per row (0.1 and 0.2, and notary.pack_entries = off); read them through notary.ledger; UPDATE, DELETE and TRUNCATE are refused (docs/format.md)';

CREATE TABLE notary.ledger_packs (
    chain_id   integer NOT NULL,
    first_pos  bigint  NOT NULL,
    last_pos   bigint  NOT NULL,
    xid        xid8    NOT NULL,
    entries    bytea   NOT NULL,
    PRIMARY KEY (chain_id, first_pos)
);
COMMENT ON TABLE notary.ledger_packs IS
  'pg_notary: ledger entries stored packed, consecutive entries of one chain and one transaction per row; read them through notary.ledger; UPDATE, DELETE and TRUNCATE are refused (docs/format.md, "Storage")';
COMMENT ON COLUMN notary.ledger_packs.chain_id IS 'chain of every entry of the pack';
COMMENT ON COLUMN notary.ledger_packs.first_pos IS 'chain position of the first entry; the others follow without gaps';
COMMENT ON COLUMN notary.ledger_packs.last_pos IS 'chain position of the last entry';
COMMENT ON COLUMN notary.ledger_packs.xid IS 'the transaction that wrote every entry of the pack';
COMMENT ON COLUMN notary.ledger_packs.entries IS 'the entries, encoded as docs/format.md, "Storage", specifies';
COMMENT ON INDEX notary.ledger_packs_pkey IS
  'pg_notary: finds a chain''s packs in order (verify(), the head of a chain)';

CREATE TRIGGER ledger_packs_append_only
  BEFORE UPDATE OR DELETE ON notary.ledger_packs
  FOR EACH ROW EXECUTE FUNCTION notary.guard_ledger();
CREATE TRIGGER ledger_packs_no_truncate
  BEFORE TRUNCATE ON notary.ledger_packs
  FOR EACH STATEMENT EXECUTE FUNCTION notary.guard_ledger();
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_no_truncate;
COMMENT ON TRIGGER ledger_packs_append_only ON notary.ledger_packs IS 'pg_notary: refuses UPDATE and DELETE (NT001), ENABLE ALWAYS';
COMMENT ON TRIGGER ledger_packs_no_truncate ON notary.ledger_packs IS 'pg_notary: refuses TRUNCATE (NT001), ENABLE ALWAYS';

-- pg_dump keeps the packs, as it keeps the single entries.
SELECT pg_catalog.pg_extension_config_dump('notary.ledger_packs', '');

CREATE FUNCTION notary.ledger_rows() RETURNS SETOF notary.ledger_entries
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'notary_ledger_rows';
COMMENT ON FUNCTION notary.ledger_rows() IS
  'pg_notary: the packed entries of notary.ledger, one row each (and this transaction''s entries not stored yet); for those who may SELECT from notary.ledger';

CREATE FUNCTION notary.ledger_rows(table_id integer) RETURNS SETOF notary.ledger_entries
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'notary_ledger_rows';
COMMENT ON FUNCTION notary.ledger_rows(integer) IS
  'pg_notary: the packed entries of one table (and this transaction''s entries of it not stored yet), without building the other tables'' rows; for those who may SELECT from notary.ledger';

CREATE VIEW notary.ledger AS
  SELECT * FROM notary.ledger_entries
  UNION ALL
  SELECT * FROM notary.ledger_rows();
COMMENT ON VIEW notary.ledger IS
  'pg_notary: the append-only, hash-chained ledger, every entry one row, however stored (docs/format.md)';
COMMENT ON COLUMN notary.ledger.seq IS 'global order of entries across chains';
COMMENT ON COLUMN notary.ledger.chain_id IS 'chain (one writer at a time: the backend id that wrote it)';
COMMENT ON COLUMN notary.ledger.chain_pos IS 'position in the chain, from 1, without gaps';
COMMENT ON COLUMN notary.ledger.prev_hash IS 'entry_hash of the previous entry of the chain (32 zero bytes at position 1)';
COMMENT ON COLUMN notary.ledger.entry_hash IS 'BLAKE2b-256 over the previous entry''s hash and this entry (docs/format.md)';
COMMENT ON COLUMN notary.ledger.op IS
  'INSERT, UPDATE, DELETE, TRUNCATE, SNAPSHOT, BASELINE, DDL, ENABLE, DISABLE, CLASSIFY, REDACT, PUBLISH, UNPUBLISH, EXPORT';
COMMENT ON COLUMN notary.ledger.row_image IS 'canonical text of every column (after-image; the removed row for DELETE and TRUNCATE)';
COMMENT ON COLUMN notary.ledger.row_salts IS 'random salts of personal columns, 16 bytes each, in column order';
COMMENT ON COLUMN notary.ledger.old_digest IS 'UPDATE: row digest of the row before the change (personal columns left out; docs/format.md)';
COMMENT ON COLUMN notary.ledger.detail IS
  'events (DDL, BASELINE, ENABLE, DISABLE, CLASSIFY, REDACT, PUBLISH, UNPUBLISH, EXPORT): what happened (docs/reference.md)';
COMMENT ON COLUMN notary.ledger.redacted IS 'redacted columns: (u16 position, 32-byte commitment) each; their values and salts are erased (docs/format.md)';

-- The view is append-only too; INSERT (a superuser's) stores a single entry.
CREATE TRIGGER ledger_append_only
  INSTEAD OF INSERT OR UPDATE OR DELETE ON notary.ledger
  FOR EACH ROW EXECUTE FUNCTION notary.guard_ledger();
-- ALTER TABLE cannot make a view's trigger ENABLE ALWAYS, and a trigger
-- enabled only for the origin role does not fire under
-- session_replication_role = replica: UPDATE and DELETE through the view
-- would then report rows changed and change nothing, silently.  Set what
-- ENABLE ALWAYS sets.
UPDATE pg_catalog.pg_trigger SET tgenabled = 'A'
 WHERE tgrelid OPERATOR(pg_catalog.=) 'notary.ledger'::pg_catalog.regclass
   AND tgname OPERATOR(pg_catalog.=) 'ledger_append_only';
COMMENT ON TRIGGER ledger_append_only ON notary.ledger IS
  'pg_notary: refuses UPDATE and DELETE (NT001); an INSERT goes into notary.ledger_entries; ENABLE ALWAYS';
COMMENT ON FUNCTION notary.guard_ledger() IS
  'pg_notary: refuses UPDATE, DELETE and TRUNCATE of notary.ledger_entries, notary.ledger_packs, notary.layouts and notary.checkpoints, and UPDATE and DELETE through the view notary.ledger (NT001)';

-- The views over the ledger read every entry again, not the single ones only.
-- notary.redactions reads only the REDACT entries, through a function its
-- readers (the redactor among them, who may not read the ledger) may call.
CREATE FUNCTION notary.redaction_rows() RETURNS SETOF notary.ledger_entries
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'notary_redaction_rows';
COMMENT ON FUNCTION notary.redaction_rows() IS
  'pg_notary: the REDACT entries of the ledger, single and packed, for the view notary.redactions; for those who may SELECT from it';
CREATE OR REPLACE VIEW notary.redactions AS
  SELECT l.seq, l.logged_at, l.session_user_name, l.current_user_name,
         t.schema_name, t.table_name, l.detail->'columns' AS columns,
         l.detail->'entries' AS entries, l.detail->>'reason' AS reason
    FROM notary.redaction_rows() l LEFT JOIN notary.tables t USING (table_id)
   WHERE l.op OPERATOR(pg_catalog.=) 'REDACT';
CREATE OR REPLACE VIEW notary.entries AS
  SELECT l.seq, l.chain_id, l.chain_pos, l.op, l.xid, l.logged_at,
         l.session_user_name, l.current_user_name, l.application_name, l.client_addr,
         COALESCE(y.schema_name, t.schema_name) AS schema_name,
         COALESCE(y.table_name, t.table_name) AS table_name, l.table_id,
         (SELECT pg_catalog.jsonb_object_agg(u.n, u.v)
            FROM ROWS FROM (pg_catalog.unnest(y.column_names), pg_catalog.unnest(l.row_image)) AS u(n, v)) AS row_data,
         l.detail, l.entry_hash
    FROM notary.ledger l
    LEFT JOIN notary.layouts y ON y.layout_id OPERATOR(pg_catalog.=) l.layout_id
    LEFT JOIN notary.tables t ON t.table_id OPERATOR(pg_catalog.=) l.table_id;

CREATE FUNCTION notary.storage(
    OUT table_id integer, OUT op text, OUT packed boolean,
    OUT entries bigint, OUT bytes_per_entry double precision)
  RETURNS SETOF record
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'notary_storage';
COMMENT ON FUNCTION notary.storage() IS
  'pg_notary: ledger bytes per captured change, by table, operation and storage (packed or single): tuple share, line pointer and index share; for capacity planning';

-- Privileges: as the table was.  Whoever may read notary.ledger needs
-- EXECUTE on notary.ledger_rows(), which checks SELECT on notary.ledger itself.
REVOKE ALL ON notary.ledger, notary.ledger_packs FROM PUBLIC;
REVOKE ALL ON FUNCTION notary.ledger_rows(), notary.ledger_rows(integer), notary.storage(),
                       notary.redaction_rows() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notary.redaction_rows() TO notary_auditor, notary_redactor;
-- Whoever could read the table notary.ledger (notary_auditor, and roles a DBA
-- granted SELECT) can read the view, and reads the table of single entries
-- only through it.
DO $grants$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT a.grantee::pg_catalog.regrole::pg_catalog.text AS who
             FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
            WHERE c.oid OPERATOR(pg_catalog.=) 'notary.ledger_entries'::pg_catalog.regclass
              AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'
              AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
              AND a.grantee OPERATOR(pg_catalog.<>) 0
  LOOP
    EXECUTE pg_catalog.format('GRANT SELECT ON notary.ledger TO %s', r.who);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION notary.ledger_rows(), notary.ledger_rows(integer) TO %s', r.who);
    EXECUTE pg_catalog.format('REVOKE SELECT ON notary.ledger_entries FROM %s', r.who);
  END LOOP;
END
$grants$;
GRANT SELECT ON notary.ledger TO notary_auditor;
GRANT EXECUTE ON FUNCTION notary.ledger_rows(), notary.ledger_rows(integer), notary.storage() TO notary_auditor;
