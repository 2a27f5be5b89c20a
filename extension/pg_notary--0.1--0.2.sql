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
  'pg_notary: append a new version to the pseudonym key file (notary.pseudonym_key_file, mode 0600) and return its number; superuser only; publications use it when refreshed (docs/opendata.md)';

CREATE FUNCTION notary.pseudonym(value anyelement, domain text, key_version integer DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE CALLED ON NULL INPUT PARALLEL SAFE AS 'MODULE_PATHNAME', 'notary_pseudonym';
COMMENT ON FUNCTION notary.pseudonym(anyelement, text, integer) IS
  'pg_notary: keyed BLAKE2b pseudonym "k<version>.<32 hex>" of a value''s canonical text in a domain (newest key if key_version is NULL); only the extension''s owner and superusers may call it: anyone else could test guesses';

REVOKE ALL ON FUNCTION notary.create_pseudonym_key(), notary.pseudonym(anyelement, text, integer) FROM PUBLIC;



-- ===========================================================================
-- Open data: publishing and k-anonymity (publish.c)
-- ===========================================================================



-- ===========================================================================
-- Open data: exports (opendata_export.c)
-- ===========================================================================



-- ===========================================================================
-- Performance (issue 6)
-- ===========================================================================


