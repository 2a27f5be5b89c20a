/* pg_notary 0.1 -> 0.2: open data (publishing, pseudonyms, exports) and
 * write-path performance.  CREATE EXTENSION pg_notary installs 0.1 and runs
 * this script; 0.1's install script never changes. */

\echo Use "ALTER EXTENSION pg_notary UPDATE TO '0.2'" to load this file. \quit

-- ===========================================================================
-- Open data: roles and catalog (shared by publishing and exports)
-- ===========================================================================
DO $roles$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'opendata_reader') THEN
    CREATE ROLE opendata_reader NOLOGIN;
    COMMENT ON ROLE opendata_reader IS
      'pg_notary: may read the anonymised views in schema opendata, and nothing else';
  END IF;
END
$roles$;

CREATE SEQUENCE notary.publication_id_seq AS integer CACHE 1 NO CYCLE;
COMMENT ON SEQUENCE notary.publication_id_seq IS 'pg_notary: ids of publications';

CREATE TABLE notary.publications (
    publication_id integer     PRIMARY KEY,
    view_name      text        NOT NULL UNIQUE,
    table_id       integer     NOT NULL,
    rules          jsonb       NOT NULL,
    k              integer     CHECK (k OPERATOR(pg_catalog.>=) 2),
    subject_column text,
    key_version    integer,
    title          text,
    description    text,
    fingerprint    bytea       NOT NULL,
    published_at   timestamptz NOT NULL,
    published_by   text        NOT NULL
);
COMMENT ON TABLE notary.publications IS
  'pg_notary: anonymised views published in schema opendata (notary.publish): policy per column, k, subject column, pseudonym key version, and a fingerprint of what the policy was checked against (docs/opendata.md)';
SELECT pg_catalog.pg_extension_config_dump('notary.publications', '');
SELECT pg_catalog.pg_extension_config_dump('notary.publication_id_seq', '');
REVOKE ALL ON notary.publications, notary.publication_id_seq FROM PUBLIC;

-- ===========================================================================
-- Open data: pseudonyms (pseudonym.c)
-- ===========================================================================

CREATE FUNCTION notary.create_pseudonym_key() RETURNS integer
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_create_pseudonym_key';
COMMENT ON FUNCTION notary.create_pseudonym_key() IS
  'pg_notary: append a new version to the pseudonym key file (notary.pseudonym_key_file, mode 0600) and return its number; superuser only; publications use it when published, or refreshed with rotate_key (docs/opendata.md)';

CREATE FUNCTION notary.pseudonym(value anyelement, domain text, key_version integer DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'notary_pseudonym';
COMMENT ON FUNCTION notary.pseudonym(anyelement, text, integer) IS
  'pg_notary: keyed BLAKE2b pseudonym "k<version>.<32 hex>" of a value''s canonical text in a domain (newest key if key_version is NULL); only the extension''s owner and superusers may call it: anyone else could test guesses';

REVOKE ALL ON FUNCTION notary.create_pseudonym_key(), notary.pseudonym(anyelement, text, integer) FROM PUBLIC;



-- ===========================================================================
-- Open data: publishing and k-anonymity (publish.c)
-- ===========================================================================

-- What a publication's policy was checked against (names, types, classes of
-- the columns it names; attnums as a hint for reports): publication_problems()
-- says from it what changed.  fingerprint is its digest.
ALTER TABLE notary.publications ADD COLUMN checked jsonb NOT NULL;
COMMENT ON COLUMN notary.publications.checked IS
  'schema, table and the type and class of every column the rules name (and the subject column), and whether the table had row-level security enabled, as checked when published';
COMMENT ON COLUMN notary.publications.fingerprint IS
  'BLAKE2b-256 of checked without attnums; a view whose table no longer gives the same digest is stale: reading it raises NT004';
COMMENT ON COLUMN notary.publications.key_version IS
  'pseudonym key version the view uses (NULL: no pseudonymise rule); kept by notary.refresh(), changed by notary.refresh(rotate_key => true) and notary.publish()';

-- The key check value of that version (never the key): another key put in
-- the file under the same version makes the publication stale instead of
-- silently changing every pseudonym.
ALTER TABLE notary.publications ADD COLUMN key_check bytea,
  ADD CONSTRAINT publications_key_check
    CHECK ((key_version IS NULL) OPERATOR(pg_catalog.=) (key_check IS NULL));
COMMENT ON COLUMN notary.publications.key_check IS
  'key check value of key_version: BLAKE2b-256 keyed with that key over "pg_notary/pseudonym/key-check/v1" (docs/opendata.md); a view whose key file gives another is stale (pseudonym key changed)';

CREATE FUNCTION notary.mask(value text, keep_first integer, keep_last integer) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN CASE WHEN pg_catalog.length(value) OPERATOR(pg_catalog.>) (keep_first OPERATOR(pg_catalog.+) keep_last)
              THEN pg_catalog."left"(value, keep_first)
                   OPERATOR(pg_catalog.||) pg_catalog.repeat('*', pg_catalog.length(value) OPERATOR(pg_catalog.-) keep_first OPERATOR(pg_catalog.-) keep_last)
                   OPERATOR(pg_catalog.||) pg_catalog."right"(value, keep_last)
              ELSE pg_catalog.repeat('*', pg_catalog.length(value)) END;
COMMENT ON FUNCTION notary.mask(text, integer, integer) IS
  'pg_notary: rule mask(first,last): keep that many leading and trailing characters, * for the others; a value no longer than first + last becomes all *';

CREATE FUNCTION notary.generalise_range(value numeric, width numeric) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN CASE WHEN value OPERATOR(pg_catalog.=) ANY (ARRAY['NaN', 'Infinity', '-Infinity']::pg_catalog.numeric[]) THEN NULL
              ELSE '[' OPERATOR(pg_catalog.||) CAST((pg_catalog.div(value, width) OPERATOR(pg_catalog.-)
                          CASE WHEN pg_catalog.mod(value, width) OPERATOR(pg_catalog.<) 0 THEN 1 ELSE 0 END) OPERATOR(pg_catalog.*) width AS pg_catalog.text)
                   OPERATOR(pg_catalog.||) ','
                   OPERATOR(pg_catalog.||) CAST((pg_catalog.div(value, width) OPERATOR(pg_catalog.-)
                          CASE WHEN pg_catalog.mod(value, width) OPERATOR(pg_catalog.<) 0 THEN 1 ELSE 0 END) OPERATOR(pg_catalog.*) width OPERATOR(pg_catalog.+) width AS pg_catalog.text)
                   OPERATOR(pg_catalog.||) ')' END;
COMMENT ON FUNCTION notary.generalise_range(numeric, numeric) IS
  'pg_notary: rule range(width): the interval "[lo,hi)" of that width holding the value (lo a multiple of width); NULL for NaN and infinities';

CREATE FUNCTION notary.publish(tbl regclass, rules jsonb, k integer DEFAULT NULL,
    subject name DEFAULT NULL, view_name name DEFAULT NULL,
    title text DEFAULT NULL, description text DEFAULT NULL) RETURNS regclass
  LANGUAGE c CALLED ON NULL INPUT AS 'MODULE_PATHNAME', 'notary_publish';
COMMENT ON FUNCTION notary.publish(regclass, jsonb, integer, name, name, text, text) IS
  'pg_notary: publish an enrolled table as view opendata.<view_name or table name> for opendata_reader: rules {"column": "keep|drop|pseudonymise[(domain)]|mask[(first,last)]|year|month|range(width)|prefix(n)"}, default deny, a named domain for superusers and the extension''s owner only; groups of fewer than k people (distinct subject values) or rows suppressed; replacing an existing publication is for superusers, the extension''s owner and the table''s owner only; recorded (docs/opendata.md)';

CREATE FUNCTION notary.refresh(view_name text, rotate_key boolean DEFAULT false) RETURNS regclass
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_refresh';
COMMENT ON FUNCTION notary.refresh(text, boolean) IS
  'pg_notary: check a publication''s stored rules against its table as it is now and publish it again with the same pseudonym key version (pseudonyms unchanged), or with the newest if rotate_key (every pseudonym changes); refuses, changing nothing, if the rules no longer hold or, without rotate_key, if its key version is gone or changed; superusers, the extension''s owner and the table''s owner only';

CREATE FUNCTION notary.unpublish(view_name text) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_unpublish';
COMMENT ON FUNCTION notary.unpublish(text) IS
  'pg_notary: drop a published view and its function, forget the publication; superusers, the extension''s owner and the table''s owner only; recorded';

CREATE FUNCTION notary.publication_check(publication_id integer) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_publication_check';
COMMENT ON FUNCTION notary.publication_check(integer) IS
  'pg_notary: raises NT004 if the publication no longer matches its table (columns, types, classes, row security) or its pseudonym key (version missing, key changed); every published view calls it first';

CREATE FUNCTION notary.publication_problems(
    OUT view_name text, OUT table_name text, OUT problem text, OUT detail text)
  RETURNS SETOF record
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_publication_problems';
COMMENT ON FUNCTION notary.publication_problems() IS
  'pg_notary: one row per problem of a publication (table dropped or renamed, column dropped, renamed, replaced or retyped, class changed, row security enabled, pseudonym key missing or changed, view or function missing), none when all are current';

CREATE FUNCTION notary.k_anonymity(view regclass,
    OUT k_required integer, OUT k_reached bigint, OUT quasi_identifiers text[],
    OUT subject_column text, OUT rows_published bigint, OUT rows_suppressed bigint,
    OUT groups_published bigint, OUT groups_suppressed bigint)
  RETURNS record
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'notary_k_anonymity';
COMMENT ON FUNCTION notary.k_anonymity(regclass) IS
  'pg_notary: k-anonymity of a published view now: k required, k reached (people, or rows, in its smallest published group), quasi-identifiers, rows and groups published and suppressed';

CREATE VIEW notary.published AS
  SELECT p.publication_id,
         CAST('opendata.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.view_name) AS pg_catalog.text) AS view_name,
         (SELECT CAST(c.oid AS pg_catalog.regclass)
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
           WHERE n.nspname OPERATOR(pg_catalog.=) 'opendata'
             AND c.relname OPERATOR(pg_catalog.=) p.view_name) AS view_relid,
         COALESCE(p.checked->>'schema', t.schema_name) AS schema_name,
         COALESCE(p.checked->>'table', t.table_name) AS table_name,
         p.rules, p.k, p.subject_column, p.key_version, p.title, p.description,
         p.published_at, p.published_by,
         pr.problems IS NOT NULL AS stale, pr.problems
    FROM notary.publications p
    LEFT JOIN notary.tables t USING (table_id)
    LEFT JOIN (SELECT x.view_name, pg_catalog.array_agg(x.problem ORDER BY x.problem) AS problems
                 FROM notary.publication_problems() x GROUP BY x.view_name) pr
           ON pr.view_name OPERATOR(pg_catalog.=) ('opendata.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(p.view_name));
COMMENT ON VIEW notary.published IS
  'pg_notary: every publication: its view (view_relid: for notary.k_anonymity() without USAGE on schema opendata), table, rules, k, subject column, pseudonym key version, who published it when, and whether it is stale (then reading the view raises NT004; notary.refresh())';

REVOKE ALL ON FUNCTION notary.mask(text, integer, integer), notary.generalise_range(numeric, numeric),
                       notary.publish(regclass, jsonb, integer, name, name, text, text),
                       notary.refresh(text, boolean), notary.unpublish(text), notary.publication_check(integer),
                       notary.publication_problems(), notary.k_anonymity(regclass) FROM PUBLIC;
REVOKE ALL ON notary.published FROM PUBLIC;
GRANT SELECT ON notary.published TO notary_auditor;
GRANT EXECUTE ON FUNCTION notary.publication_problems(), notary.k_anonymity(regclass) TO notary_auditor;



-- ===========================================================================
-- Open data: exports (opendata_export.c)
-- ===========================================================================
-- An export reads each view as its caller (SELECT on the view is needed),
-- takes a checkpoint and appends an EXPORT ledger entry: closed to PUBLIC,
-- granted by the DBA to whoever publishes exports (docs/opendata.md).
CREATE FUNCTION notary.opendata_export(views regclass[], title text, license text,
                                       description text DEFAULT NULL, name text DEFAULT NULL)
RETURNS TABLE (path text, row_number bigint, row_count bigint, data text)
AS 'MODULE_PATHNAME', 'notary_opendata_export' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION notary.opendata_export(regclass[], text, text, text, text) IS
  'pg_notary: export published views as CSV (RFC 4180) and a signed Frictionless datapackage.json, taken at a new checkpoint; one row per CSV line (row_number 0 = header, row_count = rows of that file), datapackage.json last; call it in the SELECT list to stream (docs/opendata.md)';

CREATE FUNCTION notary.opendata_export_to(directory text, views regclass[], title text,
                                          license text, description text DEFAULT NULL,
                                          name text DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'notary_opendata_export_to' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION notary.opendata_export_to(text, regclass[], text, text, text, text) IS
  'pg_notary: write an export (<view>.csv files and datapackage.json) into an existing server directory; superuser or pg_write_server_files, like COPY TO a file; returns the datapackage (docs/opendata.md)';

REVOKE ALL ON FUNCTION notary.opendata_export(regclass[], text, text, text, text),
                       notary.opendata_export_to(text, regclass[], text, text, text, text)
  FROM PUBLIC;



-- ===========================================================================
-- Performance (issue 6)
-- ===========================================================================
-- The ledger's second index: a BRIN index instead of the btree on
-- (table_id, seq).  Every entry went into two btrees; the second one cost
-- about 15% of a bulk INSERT's time and about 30 bytes per entry.  Its readers
-- (verify_table, history, redaction: all entries of one table, ORDER BY seq;
-- proof: one seq) are scans that read many entries, for which a BRIN index
-- is enough: table_id as minmax-multi (a block range keeps up to 32 values,
-- so the few tables written in a range are each found exactly), and seq as
-- minmax (entries are appended in nearly seq order).  Inserting into a BRIN
-- index costs one look-up in its range map, and nothing while the range is
-- not summarised yet.  VACUUM (autovacuum, on an insert-only table too)
-- summarises finished ranges; ranges not summarised yet are always read.
-- See docs/performance.md.
DROP INDEX notary.ledger_table_idx;
CREATE INDEX ledger_table_brin ON notary.ledger
  USING brin (table_id pg_catalog.int4_minmax_multi_ops, seq pg_catalog.int8_minmax_ops)
  WITH (pages_per_range = 32);
COMMENT ON INDEX notary.ledger_table_brin IS
  'pg_notary: finds the entries of one table (table_id) or one seq; summarised by VACUUM (docs/performance.md)';





-- ===========================================================================
-- Comments of 0.1 objects (0.1's install script never changes)
-- ===========================================================================
COMMENT ON FUNCTION notary.guard_ledger() IS
  'pg_notary: refuses UPDATE, DELETE and TRUNCATE of notary.ledger, notary.layouts and notary.checkpoints (NT001)';
COMMENT ON FUNCTION notary.on_ddl_start() IS
  'pg_notary: refuses DROP EXTENSION pg_notary and DROP SCHEMA notary unless notary.allow_uninstall is on (NT003)';
COMMENT ON FUNCTION notary.on_ddl_end() IS
  'pg_notary: records DDL on enrolled tables and the ledger, enrolls new tables of enrolled schemas, refuses capture-trigger changes by non-superusers (NT002)';
COMMENT ON COLUMN notary.ledger.op IS
  'INSERT, UPDATE, DELETE, TRUNCATE, SNAPSHOT, BASELINE, DDL, ENABLE, DISABLE, CLASSIFY, REDACT, PUBLISH, UNPUBLISH, EXPORT';
COMMENT ON COLUMN notary.ledger.detail IS
  'events (DDL, BASELINE, ENABLE, DISABLE, CLASSIFY, REDACT, PUBLISH, UNPUBLISH, EXPORT): what happened (docs/reference.md)';
COMMENT ON INDEX notary.layouts_digest_idx IS
  'pg_notary: finds a layout by its digest';
COMMENT ON TRIGGER ledger_append_only ON notary.ledger IS 'pg_notary: refuses UPDATE and DELETE (NT001), ENABLE ALWAYS';
COMMENT ON TRIGGER ledger_no_truncate ON notary.ledger IS 'pg_notary: refuses TRUNCATE (NT001), ENABLE ALWAYS';
COMMENT ON TRIGGER layouts_append_only ON notary.layouts IS 'pg_notary: refuses UPDATE and DELETE (NT001), ENABLE ALWAYS';
COMMENT ON TRIGGER layouts_no_truncate ON notary.layouts IS 'pg_notary: refuses TRUNCATE (NT001), ENABLE ALWAYS';
COMMENT ON TRIGGER checkpoints_append_only ON notary.checkpoints IS 'pg_notary: refuses UPDATE and DELETE (NT001), ENABLE ALWAYS';
COMMENT ON TRIGGER checkpoints_no_truncate ON notary.checkpoints IS 'pg_notary: refuses TRUNCATE (NT001), ENABLE ALWAYS';
COMMENT ON EVENT TRIGGER notary_ddl_start IS 'pg_notary: calls notary.on_ddl_start()';
COMMENT ON EVENT TRIGGER notary_ddl_end IS 'pg_notary: calls notary.on_ddl_end()';
COMMENT ON EVENT TRIGGER notary_sql_drop IS 'pg_notary: calls notary.on_sql_drop()';
COMMENT ON EVENT TRIGGER notary_table_rewrite IS 'pg_notary: calls notary.on_table_rewrite()';
