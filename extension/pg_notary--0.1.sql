/* pg_notary 0.1: the ledger, capture, guards and SQL verification. */

\echo Use "CREATE EXTENSION pg_notary" to load this file. \quit

-- The schema is created by CREATE EXTENSION (control file: schema = notary).
-- New schemas grant nothing to PUBLIC; only the auditor role gets USAGE below.
-- A schema called notary that existed before belongs to someone else, who
-- would own the ledger's schema: refuse it.
DO $owner$
BEGIN
  IF (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'notary')
     OPERATOR(pg_catalog.<>)
     (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_notary')
     OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                 WHERE n.nspname OPERATOR(pg_catalog.=) 'notary')
  THEN
    RAISE EXCEPTION 'schema notary already exists and is not pg_notary''s'
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Drop or rename that schema, then create the extension.';
  END IF;
END
$owner$;
COMMENT ON SCHEMA notary IS
  'pg_notary: tamper-evident audit ledger (see docs/ for the format and threat model)';

-- ---------------------------------------------------------------------------
-- Roles.  Roles are cluster-wide, so they may exist from another database.
-- ---------------------------------------------------------------------------
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'notary_auditor') THEN
    CREATE ROLE notary_auditor NOLOGIN;
    COMMENT ON ROLE notary_auditor IS
      'pg_notary: may read the ledger and run every verification, nothing else';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'notary_redactor') THEN
    CREATE ROLE notary_redactor NOLOGIN;
    COMMENT ON ROLE notary_redactor IS
      'pg_notary: may erase personal data from the ledger (notary.redact, notary.redact_subject), each act recorded';
  END IF;
END
$roles$;

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

CREATE SEQUENCE notary.ledger_seq AS bigint CACHE 1 NO CYCLE;
COMMENT ON SEQUENCE notary.ledger_seq IS
  'pg_notary: global order of ledger entries (CACHE 1, so it agrees with row-lock order)';

CREATE SEQUENCE notary.table_id_seq AS integer CACHE 1 NO CYCLE;
COMMENT ON SEQUENCE notary.table_id_seq IS 'pg_notary: stable ids of enrolled tables';

CREATE SEQUENCE notary.layout_id_seq AS bigint CACHE 1 NO CYCLE;
COMMENT ON SEQUENCE notary.layout_id_seq IS 'pg_notary: ids of table layouts';

CREATE TABLE notary.schemas (
    schema_name  text        PRIMARY KEY,
    enabled      boolean     NOT NULL,
    enabled_at   timestamptz NOT NULL,
    enabled_by   text        NOT NULL,
    disabled_at  timestamptz,
    disabled_by  text
);
COMMENT ON TABLE notary.schemas IS
  'pg_notary: schemas enrolled with notary.enable(); every table in them is captured';

CREATE TABLE notary.tables (
    table_id      integer     PRIMARY KEY,
    relid         regclass    UNIQUE,
    schema_name   text        NOT NULL,
    table_name    text        NOT NULL,
    capturing     boolean     NOT NULL,
    enrolled_at   timestamptz NOT NULL,
    layout_digest bytea
);
COMMENT ON TABLE notary.tables IS
  'pg_notary: every table ever enrolled, with a stable id that survives renames and dump/restore (relid is NULL once dropped)';

CREATE TABLE notary.columns (
    table_id      integer     NOT NULL,
    column_name   text        NOT NULL,
    class         text        NOT NULL CHECK (class IN ('identifier', 'quasi_identifier', 'sensitive', 'public')),
    classified_at timestamptz NOT NULL,
    classified_by text        NOT NULL,
    PRIMARY KEY (table_id, column_name)
);
COMMENT ON TABLE notary.columns IS
  'pg_notary: column classification (notary.classify); identifier, quasi_identifier and sensitive columns hold personal data: salted in the ledger and redactable';

CREATE TABLE notary.layouts (
    layout_id        bigint   PRIMARY KEY,
    table_id         integer  NOT NULL,
    layout_digest    bytea    NOT NULL,
    schema_name      text     NOT NULL,
    table_name       text     NOT NULL,
    column_names     text[]   NOT NULL,
    column_types     text[]   NOT NULL,
    key_columns      smallint[] NOT NULL,
    personal_columns smallint[] NOT NULL
);
CREATE INDEX layouts_digest_idx ON notary.layouts (layout_digest);
COMMENT ON TABLE notary.layouts IS
  'pg_notary: column layouts of captured tables; every ledger image refers to one (docs/format.md)';

CREATE TABLE notary.ledger (
    seq               bigint      NOT NULL,
    chain_id          integer     NOT NULL,
    chain_pos         bigint      NOT NULL,
    prev_hash         bytea       NOT NULL,
    entry_hash        bytea       NOT NULL,
    op                text        NOT NULL,
    xid               xid8        NOT NULL,
    logged_at         timestamptz NOT NULL,
    session_user_name text        NOT NULL,
    current_user_name text        NOT NULL,
    application_name  text,
    client_addr       text,
    table_id          integer,
    layout_id         bigint,
    row_image         text[],
    row_salts         bytea,
    old_digest        bytea,
    detail            jsonb,
    redacted          bytea,
    PRIMARY KEY (chain_id, chain_pos)
);
COMMENT ON TABLE notary.ledger IS
  'pg_notary: the append-only, hash-chained ledger; UPDATE, DELETE and TRUNCATE are refused (docs/format.md)';
COMMENT ON COLUMN notary.ledger.seq IS 'global order of entries across chains';
COMMENT ON COLUMN notary.ledger.chain_id IS 'chain (one writer at a time: the backend id that wrote it)';
COMMENT ON COLUMN notary.ledger.chain_pos IS 'position in the chain, from 1, without gaps';
COMMENT ON COLUMN notary.ledger.prev_hash IS 'entry_hash of the previous entry of the chain (32 zero bytes at position 1)';
COMMENT ON COLUMN notary.ledger.entry_hash IS 'BLAKE2b-256 over the previous entry''s hash and this entry (docs/format.md)';
COMMENT ON COLUMN notary.ledger.op IS 'INSERT, UPDATE, DELETE, TRUNCATE, SNAPSHOT, BASELINE, DDL, ENABLE, DISABLE, CLASSIFY, REDACT';
COMMENT ON COLUMN notary.ledger.row_image IS 'canonical text of every column (after-image; the removed row for DELETE and TRUNCATE)';
COMMENT ON COLUMN notary.ledger.row_salts IS 'random salts of personal columns, 16 bytes each, in column order';
COMMENT ON COLUMN notary.ledger.old_digest IS 'UPDATE: row digest of the row before the change (personal columns left out; docs/format.md)';
COMMENT ON COLUMN notary.ledger.detail IS 'DDL and schema events: what happened';
COMMENT ON COLUMN notary.ledger.redacted IS 'redacted columns: (u16 position, 32-byte commitment) each; their values and salts are erased (docs/format.md)';

CREATE INDEX ledger_table_idx ON notary.ledger (table_id, seq);

CREATE TABLE notary.checkpoints (
    checkpoint_id bigint      PRIMARY KEY,
    digest        bytea       NOT NULL,
    ledger_seq    bigint      NOT NULL,
    entries       bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    document      jsonb       NOT NULL
);
COMMENT ON TABLE notary.checkpoints IS
  'pg_notary: signed checkpoints, chained to each other; append-only (docs/checkpoints.md). Keep copies outside the database.';

-- pg_dump keeps the ledger: extension tables are otherwise dumped empty.
SELECT pg_catalog.pg_extension_config_dump('notary.schemas', '');
SELECT pg_catalog.pg_extension_config_dump('notary.tables', '');
SELECT pg_catalog.pg_extension_config_dump('notary.layouts', '');
SELECT pg_catalog.pg_extension_config_dump('notary.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('notary.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('notary.columns', '');
SELECT pg_catalog.pg_extension_config_dump('notary.ledger_seq', '');
SELECT pg_catalog.pg_extension_config_dump('notary.table_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('notary.layout_id_seq', '');

-- ---------------------------------------------------------------------------
-- Capture and guards (C)
-- ---------------------------------------------------------------------------

CREATE FUNCTION notary.capture() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_capture';
COMMENT ON FUNCTION notary.capture() IS
  'pg_notary: AFTER ROW trigger that appends every INSERT, UPDATE and DELETE to the ledger';

CREATE FUNCTION notary.capture_truncate() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_capture_truncate';
COMMENT ON FUNCTION notary.capture_truncate() IS
  'pg_notary: BEFORE TRUNCATE trigger that records every row a TRUNCATE removes';

CREATE FUNCTION notary.guard_ledger() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_guard_ledger';
COMMENT ON FUNCTION notary.guard_ledger() IS
  'pg_notary: refuses UPDATE, DELETE and TRUNCATE of the ledger';

CREATE TRIGGER ledger_append_only
  BEFORE UPDATE OR DELETE ON notary.ledger
  FOR EACH ROW EXECUTE FUNCTION notary.guard_ledger();
CREATE TRIGGER ledger_no_truncate
  BEFORE TRUNCATE ON notary.ledger
  FOR EACH STATEMENT EXECUTE FUNCTION notary.guard_ledger();
ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_no_truncate;

CREATE TRIGGER layouts_append_only
  BEFORE UPDATE OR DELETE ON notary.layouts
  FOR EACH ROW EXECUTE FUNCTION notary.guard_ledger();
CREATE TRIGGER layouts_no_truncate
  BEFORE TRUNCATE ON notary.layouts
  FOR EACH STATEMENT EXECUTE FUNCTION notary.guard_ledger();
ALTER TABLE notary.layouts ENABLE ALWAYS TRIGGER layouts_append_only;
ALTER TABLE notary.layouts ENABLE ALWAYS TRIGGER layouts_no_truncate;

CREATE TRIGGER checkpoints_append_only
  BEFORE UPDATE OR DELETE ON notary.checkpoints
  FOR EACH ROW EXECUTE FUNCTION notary.guard_ledger();
CREATE TRIGGER checkpoints_no_truncate
  BEFORE TRUNCATE ON notary.checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION notary.guard_ledger();
ALTER TABLE notary.checkpoints ENABLE ALWAYS TRIGGER checkpoints_append_only;
ALTER TABLE notary.checkpoints ENABLE ALWAYS TRIGGER checkpoints_no_truncate;

CREATE FUNCTION notary.on_ddl_start() RETURNS event_trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_on_ddl_start';
COMMENT ON FUNCTION notary.on_ddl_start() IS
  'pg_notary: refuses DROP EXTENSION pg_notary unless notary.allow_uninstall is on';

CREATE FUNCTION notary.on_ddl_end() RETURNS event_trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_on_ddl_end';
COMMENT ON FUNCTION notary.on_ddl_end() IS
  'pg_notary: records DDL on enrolled tables and the ledger, enrolls new tables of enrolled schemas';

CREATE FUNCTION notary.on_sql_drop() RETURNS event_trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_on_sql_drop';
COMMENT ON FUNCTION notary.on_sql_drop() IS
  'pg_notary: records drops of enrolled tables and refuses dropping capture triggers to non-superusers';

CREATE FUNCTION notary.on_table_rewrite() RETURNS event_trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'notary_on_table_rewrite';
COMMENT ON FUNCTION notary.on_table_rewrite() IS
  'pg_notary: notes a rewritten enrolled table, so that its rows are recorded again (ALTER ... TYPE ... USING)';

CREATE EVENT TRIGGER notary_ddl_start ON ddl_command_start
  EXECUTE FUNCTION notary.on_ddl_start();
CREATE EVENT TRIGGER notary_ddl_end ON ddl_command_end
  EXECUTE FUNCTION notary.on_ddl_end();
CREATE EVENT TRIGGER notary_sql_drop ON sql_drop
  EXECUTE FUNCTION notary.on_sql_drop();
ALTER EVENT TRIGGER notary_ddl_start ENABLE ALWAYS;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
ALTER EVENT TRIGGER notary_sql_drop ENABLE ALWAYS;
CREATE EVENT TRIGGER notary_table_rewrite ON table_rewrite
  EXECUTE FUNCTION notary.on_table_rewrite();
ALTER EVENT TRIGGER notary_table_rewrite ENABLE ALWAYS;

-- ---------------------------------------------------------------------------
-- The DBA's functions
-- ---------------------------------------------------------------------------

CREATE FUNCTION notary.enable(schema_name name) RETURNS integer
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_enable';
COMMENT ON FUNCTION notary.enable(name) IS
  'pg_notary: enroll every table of a schema (and tables created in it later); records each row as a baseline; returns the number of tables';

CREATE FUNCTION notary.disable(schema_name name) RETURNS integer
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_disable';
COMMENT ON FUNCTION notary.disable(name) IS
  'pg_notary: stop capturing a schema; the act is recorded in the ledger; returns the number of tables';

CREATE FUNCTION notary.classify(tbl regclass, column_name name, class text) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_classify';
COMMENT ON FUNCTION notary.classify(regclass, name, text) IS
  'pg_notary: classify a column of an enrolled table (identifier, quasi_identifier, sensitive: personal data; public); recorded, followed by a new baseline';

CREATE VIEW notary.classification AS
  SELECT t.schema_name, t.table_name, c.column_name, c.class,
         c.class OPERATOR(pg_catalog.<>) 'public' AS personal,
         c.classified_at, c.classified_by
    FROM notary.columns c JOIN notary.tables t USING (table_id);
COMMENT ON VIEW notary.classification IS
  'pg_notary: how columns are classified, in one place (drives redaction and open data)';

CREATE FUNCTION notary.redact(tbl regclass, key text[], columns name[], reason text) RETURNS integer
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_redact';
COMMENT ON FUNCTION notary.redact(regclass, text[], name[], text) IS
  'pg_notary: erase personal columns of one row (key: primary key values) from every ledger entry of its history; verification keeps working; recorded; returns the number of values erased';

CREATE FUNCTION notary.redact_subject(column_name name, value text, reason text) RETURNS integer
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_redact_subject';
COMMENT ON FUNCTION notary.redact_subject(name, text, text) IS
  'pg_notary: erase one data subject (a value of an identifier column, e.g. a NIK) and the personal columns of their rows from every enrolled table''s history; returns the number of values erased';

CREATE VIEW notary.enrolled AS
  SELECT t.schema_name, t.table_name, t.relid, t.capturing, t.enrolled_at AS enrolled_since,
         s.enabled_at AS schema_enabled_at
    FROM notary.tables t
    LEFT JOIN notary.schemas s ON s.schema_name OPERATOR(pg_catalog.=) t.schema_name
   WHERE t.relid IS NOT NULL;
COMMENT ON VIEW notary.enrolled IS
  'pg_notary: tables enrolled for capture, and since when';

-- ---------------------------------------------------------------------------
-- The auditor's functions
-- ---------------------------------------------------------------------------

CREATE FUNCTION notary.canonical(value anyelement) RETURNS text
  LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'notary_canonical';
COMMENT ON FUNCTION notary.canonical(anyelement) IS
  'pg_notary: the canonical text of a value, as hashed in the ledger (independent of session settings)';

CREATE FUNCTION notary.verify(since jsonb DEFAULT NULL,
    OUT seq bigint, OUT chain_id integer, OUT chain_pos bigint,
    OUT problem text, OUT detail text)
  RETURNS SETOF record
  LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'notary_verify';
COMMENT ON FUNCTION notary.verify(jsonb) IS
  'pg_notary: recompute every hash and link of the ledger (only what follows a checkpoint with since =>) and check the stored checkpoints; one row per finding, none when intact';

CREATE FUNCTION notary.verify_table(tbl regclass,
    OUT problem text, OUT row_key text, OUT seq bigint, OUT detail text)
  RETURNS SETOF record
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_verify_table';
COMMENT ON FUNCTION notary.verify_table(regclass) IS
  'pg_notary: compare a table with its ledger history; one row per finding, none when they agree';

CREATE FUNCTION notary.history(tbl regclass, VARIADIC key text[],
    OUT seq bigint, OUT logged_at timestamptz, OUT op text, OUT xid xid8,
    OUT session_user_name text, OUT current_user_name text,
    OUT application_name text, OUT client_addr text,
    OUT before jsonb, OUT after jsonb)
  RETURNS SETOF record
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_history';
COMMENT ON FUNCTION notary.history(regclass, text[]) IS
  'pg_notary: full ledger history of one row, oldest first; key: the primary key values (all values for a table without one)';

CREATE FUNCTION notary.checkpoint(only_if_changed boolean DEFAULT false) RETURNS jsonb
  LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'notary_checkpoint';
COMMENT ON FUNCTION notary.checkpoint(boolean) IS
  'pg_notary: sign a checkpoint of every chain head and a Merkle root over all entries; returns the document to keep outside the database (NULL if only_if_changed and nothing changed)';

CREATE FUNCTION notary.verify_checkpoint(checkpoint jsonb, public_key text DEFAULT NULL,
    OUT problem text, OUT chain_id integer, OUT "position" bigint, OUT detail text)
  RETURNS SETOF record
  LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'notary_verify_checkpoint';
COMMENT ON FUNCTION notary.verify_checkpoint(jsonb, text) IS
  'pg_notary: check a checkpoint held outside the database against the ledger: signature (with the public key you trust, or this server''s), cluster, cut-off or rewritten history; one row per finding';

CREATE FUNCTION notary.public_key(OUT key_id text, OUT public_key text)
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_public_key';
COMMENT ON FUNCTION notary.public_key() IS
  'pg_notary: the Ed25519 public key (hex) that verifies checkpoints, and its id';

CREATE FUNCTION notary.proof(seq bigint) RETURNS jsonb
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_proof';
COMMENT ON FUNCTION notary.proof(bigint) IS
  'pg_notary: a proof, verifiable offline, that one entry is included under the newest checkpoint covering it';

CREATE FUNCTION notary.export() RETURNS SETOF text
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_export';
COMMENT ON FUNCTION notary.export() IS
  'pg_notary: the ledger as JSON lines (layouts, entries, checkpoints) for outside verifiers (docs/checkpoints.md)';

CREATE VIEW notary.redactions AS
  SELECT l.seq, l.logged_at, l.session_user_name, l.current_user_name,
         t.schema_name, t.table_name, l.detail->'columns' AS columns,
         l.detail->'entries' AS entries, l.detail->>'reason' AS reason
    FROM notary.ledger l LEFT JOIN notary.tables t USING (table_id)
   WHERE l.op OPERATOR(pg_catalog.=) 'REDACT';
COMMENT ON VIEW notary.redactions IS
  'pg_notary: every redaction: who, when, why, which entries and columns (never the erased values)';

CREATE VIEW notary.entries AS
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
COMMENT ON VIEW notary.entries IS
  'pg_notary: the ledger in readable form (row images as jsonb, column name to canonical text)';

-- ---------------------------------------------------------------------------
-- Privileges: closed by default; the auditor reads and verifies.
-- ---------------------------------------------------------------------------
REVOKE ALL ON ALL TABLES IN SCHEMA notary FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA notary FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA notary FROM PUBLIC;
GRANT USAGE ON SCHEMA notary TO notary_auditor;
GRANT SELECT ON notary.ledger, notary.layouts, notary.tables, notary.schemas,
                notary.checkpoints, notary.columns, notary.enrolled, notary.entries,
                notary.classification, notary.redactions TO notary_auditor;
GRANT USAGE ON SCHEMA notary TO notary_redactor;
GRANT SELECT ON notary.classification, notary.redactions TO notary_redactor;
GRANT EXECUTE ON FUNCTION notary.redact(regclass, text[], name[], text),
                          notary.redact_subject(name, text, text) TO notary_redactor;
GRANT EXECUTE ON FUNCTION notary.verify(jsonb), notary.verify_table(regclass),
                          notary.history(regclass, text[]), notary.checkpoint(boolean),
                          notary.verify_checkpoint(jsonb, text), notary.public_key(),
                          notary.proof(bigint), notary.export(),
                          notary.canonical(anyelement) TO notary_auditor;
