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

----------------------------------------------------------------------------
-- Generalisations that do not generalise a personal column: a prefix as
-- long as the value, a range that can hold a single value of the column.
----------------------------------------------------------------------------
SELECT expect_error($$SELECT notary.publish('lapor.c', '{"id": "keep", "code": "prefix(4)"}', view_name => 'g')$$) AS prefix_of_varchar4,
       expect_error($$SELECT notary.publish('lapor.c', '{"id": "keep", "amount": "range(1)"}', view_name => 'g')$$) AS range_1_of_integer,
       expect_error($$SELECT notary.publish('lapor.c', '{"id": "keep", "amount": "range(1.5)"}', view_name => 'g')$$) AS range_1_5_of_integer,
       expect_error($$SELECT notary.publish('lapor.c', '{"id": "keep", "price": "range(0.019)"}', view_name => 'g')$$) AS range_of_numeric_10_2;
SELECT count(*) AS publications_after_errors FROM notary.publications;
-- a text value no longer than the prefix is published as NULL, never as is
SELECT notary.publish('lapor.c', '{"id": "keep", "body": "prefix(1000)", "code": "prefix(3)",
                                   "amount": "range(2)", "price": "range(0.02)"}', view_name => 'g');
SELECT * FROM opendata.g ORDER BY id;
SELECT count(*) AS personal_values_in_view FROM opendata.g v, lapor.c t
 WHERE v.body = t.body OR v.code = t.code;
-- an unclassified column is published as the rule says (it could be kept)
SELECT notary.publish('lapor.c', '{"id": "keep", "region": "prefix(2)"}', view_name => 'r');
SELECT region, count(*) FROM opendata.r GROUP BY region;
SELECT notary.unpublish('g'), notary.unpublish('r');

\c contrib_regression
DROP DATABASE notary_od_attacks;
