--
-- 15_opendata_attacks: attacks on publications that once got personal data
-- into a view.  Each block fails if its defect returns.
-- Runs in its own database, with its own pseudonym key file.
--
CREATE DATABASE notary_od_attacks;
\c notary_od_attacks
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE FUNCTION public.expect_error(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RAISE EXCEPTION 'no error' USING ERRCODE = 'ZX000';
EXCEPTION WHEN OTHERS THEN
  IF SQLSTATE = 'ZX000' THEN
    RETURN 'no error';
  END IF;
  RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '"[^"]*\.key"', '"<key file>"');
END
$$;
SELECT 'regress_od_attacks_' || oid || '.key' AS keyfile
  FROM pg_database WHERE datname = current_database() \gset
SET notary.pseudonym_key_file = :'keyfile';

CREATE SCHEMA lapor;
CREATE TABLE lapor.c (id int PRIMARY KEY, body text, status text, code varchar(4),
  region text, amount integer, price numeric(10,2));
INSERT INTO lapor.c SELECT g, 'secret body ' || g, 'open', 'AB' || g,
  CASE WHEN g <= 3 THEN '31' ELSE '3171' END, g * 1000, g * 10.25 FROM generate_series(1, 6) g;
SELECT notary.enable('lapor');
SELECT notary.classify('lapor.c', 'body', 'sensitive');
SELECT notary.classify('lapor.c', 'code', 'sensitive');
SELECT notary.classify('lapor.c', 'amount', 'sensitive');
SELECT notary.classify('lapor.c', 'price', 'sensitive');

----------------------------------------------------------------------------
-- A column replaced under a published name: a sensitive column renamed to
-- the name of a kept one (classes are kept by name) must make the view
-- stale, not publish the sensitive values under the kept column's name.
----------------------------------------------------------------------------
SELECT notary.publish('lapor.c', '{"id": "keep", "status": "keep"}', view_name => 'st');
BEGIN;
ALTER TABLE lapor.c RENAME COLUMN status TO status_old;
ALTER TABLE lapor.c RENAME COLUMN body TO status;
SELECT expect_error('SELECT * FROM opendata.st') AS swapped_by_rename;
SELECT problem, detail FROM notary.publication_problems();
ROLLBACK;
BEGIN;
ALTER TABLE lapor.c DROP COLUMN status;
ALTER TABLE lapor.c RENAME COLUMN body TO status;
SELECT expect_error('SELECT * FROM opendata.st') AS swapped_by_drop;
ROLLBACK;
BEGIN;
-- dropped and added again: another column, even if it looks the same
ALTER TABLE lapor.c DROP COLUMN status;
ALTER TABLE lapor.c ADD COLUMN status text;
SELECT expect_error('SELECT * FROM opendata.st') AS added_again;
SELECT notary.refresh('st');
SELECT count(*) AS rows_after_refresh FROM opendata.st;
ROLLBACK;
SELECT count(*) AS rows_untouched FROM opendata.st;
SELECT notary.unpublish('st');

\c contrib_regression
DROP DATABASE notary_od_attacks;
