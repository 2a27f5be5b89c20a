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



-- ===========================================================================
-- Open data: publishing and k-anonymity (publish.c)
-- ===========================================================================



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


