--
-- 15_opendata_attacks: attacks on publications that once got personal data
-- into a view.  Each block fails if its defect returns.
-- Runs in its own database, with its own pseudonym key file.
--
CREATE DATABASE notary_od_attacks;
\c notary_od_attacks
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
\i sql/include/expect_error.sql
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

----------------------------------------------------------------------------
-- A pseudonym oracle through publish(): a publisher who is not superuser
-- publishes values of its choice in another publication's domain (named,
-- or a default domain spelt alike by names with dots) and reads their
-- pseudonyms.  Only superusers and the extension's owner may name a
-- domain; default domains are unambiguous.
----------------------------------------------------------------------------
SELECT notary.create_pseudonym_key() AS key_version;
CREATE TABLE lapor.v (id int PRIMARY KEY, nik text);
CREATE TABLE lapor."x.y" (id int PRIMARY KEY, nik text);
INSERT INTO lapor.v VALUES (1, '3171000000000001');
INSERT INTO lapor."x.y" VALUES (1, '3171000000000001');
SELECT notary.publish('lapor.v', '{"id": "keep", "nik": "pseudonymise"}', view_name => 'victim');
SELECT notary.publish('lapor."x.y"', '{"id": "keep", "nik": "pseudonymise"}', view_name => 'victim_dots');
SELECT notary.publish('lapor.v', '{"id": "keep", "nik": "pseudonymise(officials)"}', view_name => 'victim_shared');
CREATE ROLE regress_od_publisher;
CREATE SCHEMA guess AUTHORIZATION regress_od_publisher;
CREATE SCHEMA "lapor.x" AUTHORIZATION regress_od_publisher;
CREATE TABLE guess.t (id int PRIMARY KEY, nik text);
CREATE TABLE "lapor.x".y (id int PRIMARY KEY, nik text);
ALTER TABLE guess.t OWNER TO regress_od_publisher;
ALTER TABLE "lapor.x".y OWNER TO regress_od_publisher;
SELECT notary.enable('guess'), notary.enable('lapor.x');
-- a domain named by a superuser, on the publisher's table
SELECT notary.publish('guess.t', '{"id": "keep", "nik": "pseudonymise(guesses)"}', view_name => 'named_by_superuser');
GRANT USAGE ON SCHEMA notary TO regress_od_publisher;
GRANT EXECUTE ON FUNCTION notary.publish(regclass, jsonb, integer, name, name, text, text),
                          notary.refresh(text, boolean), notary.unpublish(text) TO regress_od_publisher;
SET ROLE regress_od_publisher;
INSERT INTO guess.t VALUES (1, '3171000000000001');
INSERT INTO "lapor.x".y VALUES (1, '3171000000000001');
SELECT expect_error($$SELECT notary.publish('guess.t', '{"id": "keep", "nik": "pseudonymise(lapor.v.nik)"}', view_name => 'oracle')$$) AS named_default_domain,
       expect_error($$SELECT notary.publish('guess.t', '{"id": "keep", "nik": "pseudonymise(officials)"}', view_name => 'oracle')$$) AS named_shared_domain;
-- its own column's default domain it may use; names with dots do not collide
SELECT notary.publish('"lapor.x".y', '{"id": "keep", "nik": "pseudonymise"}', view_name => 'oracle_dots');
-- refreshing a superuser's publication keeps its rules, named domain included
SELECT notary.refresh('named_by_superuser');
RESET ROLE;
SELECT count(*) AS publications_of_guess FROM notary.published WHERE view_name = 'opendata.oracle';
SELECT count(*) AS pseudonyms_matched
  FROM (SELECT nik FROM opendata.victim UNION ALL SELECT nik FROM opendata.victim_dots
        UNION ALL SELECT nik FROM opendata.victim_shared) v
  JOIN opendata.oracle_dots o USING (nik);
SELECT v.nik = notary.pseudonym('3171000000000001'::text, 'lapor."x.y".nik', 1) AS dotted_table_domain,
       o.nik = notary.pseudonym('3171000000000001'::text, '"lapor.x".y.nik', 1) AS dotted_schema_domain
  FROM opendata.victim_dots v, opendata.oracle_dots o;
SELECT notary.unpublish('victim'), notary.unpublish('victim_dots'), notary.unpublish('victim_shared'),
       notary.unpublish('oracle_dots'), notary.unpublish('named_by_superuser');

----------------------------------------------------------------------------
-- Row-level security: the view reads its table as the extension's owner,
-- so publishing a table with row-level security would publish rows the
-- publisher cannot see.  Refused unless the publisher sees every row;
-- enabled after publishing, the view fails closed until a refresh.
----------------------------------------------------------------------------
CREATE TABLE lapor.rls (id int PRIMARY KEY, seen_by text, region text);
INSERT INTO lapor.rls VALUES (1, 'regress_od_publisher', '31'), (2, 'someone else', '32'),
  (3, 'someone else', '33');
ALTER TABLE lapor.rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY seen_by ON lapor.rls USING (seen_by = current_user);
GRANT USAGE ON SCHEMA lapor TO regress_od_publisher;
GRANT SELECT ON lapor.rls TO regress_od_publisher;
SET ROLE regress_od_publisher;
SELECT count(*) AS rows_the_publisher_sees FROM lapor.rls;
SELECT expect_error($$SELECT notary.publish('lapor.rls', '{"id": "keep", "region": "keep"}', view_name => 'rls')$$) AS rls_publish;
RESET ROLE;
SELECT count(*) AS publications_of_rls FROM notary.published WHERE view_name = 'opendata.rls';
-- a superuser sees every row, and may publish them
SELECT notary.publish('lapor.rls', '{"id": "keep", "region": "keep"}', view_name => 'rls');
SELECT count(*) AS rows_published FROM opendata.rls;
-- refused to the publisher: not the table's owner (below)
SET ROLE regress_od_publisher;
SELECT expect_error($$SELECT notary.refresh('rls')$$) AS rls_refresh;
RESET ROLE;
-- and to a table's owner whose row-level security is forced
SELECT notary.publish('guess.t', '{"id": "keep"}', view_name => 'forced');
ALTER TABLE guess.t ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
SET ROLE regress_od_publisher;
SELECT expect_error($$SELECT notary.refresh('forced')$$) AS rls_forced_refresh;
RESET ROLE;
ALTER TABLE guess.t DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY;
SELECT notary.unpublish('forced');
-- enabled after publishing: stale until a superuser refreshes it
SELECT notary.publish('lapor.v', '{"id": "keep"}', view_name => 'late_rls');
ALTER TABLE lapor.v ENABLE ROW LEVEL SECURITY;
SELECT expect_error('SELECT * FROM opendata.late_rls') AS rls_enabled_later;
SELECT view_name, problem, detail FROM notary.publication_problems();
SELECT notary.refresh('late_rls');
SELECT count(*) AS rows_after_refresh FROM opendata.late_rls;
ALTER TABLE lapor.v DISABLE ROW LEVEL SECURITY;
SELECT notary.unpublish('rls'), notary.unpublish('late_rls');

----------------------------------------------------------------------------
-- Publications without an owner: a publisher granted EXECUTE could drop,
-- refresh or replace (with looser rules) a publication a superuser made.
-- An existing publication may be changed only by a superuser, the
-- extension's owner, or the owner of its table (or a member of that role);
-- each refusal leaves the publication, view, function and ledger as they
-- were.
----------------------------------------------------------------------------
CREATE FUNCTION public.pub_state(v text) RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|', p::text, c.oid, pg_get_viewdef(c.oid), f.oid, f.prosrc,
                       (SELECT count(*) FROM notary.ledger)))
    FROM notary.publications p
    LEFT JOIN pg_class c ON c.oid = to_regclass('opendata.' || quote_ident(v))
    LEFT JOIN pg_proc f ON f.oid = to_regprocedure('notary.publication_' || p.publication_id || '()')
   WHERE p.view_name = v
$$;
CREATE ROLE regress_od_owner;
CREATE TABLE lapor.o (id int PRIMARY KEY, status text, region text);
INSERT INTO lapor.o SELECT g, 'open', '31' FROM generate_series(1, 3) g;
ALTER TABLE lapor.o OWNER TO regress_od_owner;
GRANT SELECT ON lapor.o TO regress_od_publisher;
GRANT USAGE ON SCHEMA notary TO regress_od_owner;
GRANT EXECUTE ON FUNCTION notary.refresh(text, boolean), notary.unpublish(text) TO regress_od_owner;
SELECT notary.publish('lapor.o', '{"id": "keep", "status": "keep"}', view_name => 'by_superuser');
SELECT pub_state('by_superuser') AS before \gset
SET ROLE regress_od_publisher;
SELECT notary.refresh('by_superuser');
RESET ROLE;
SELECT pub_state('by_superuser') = :'before' AS unchanged_after_refresh;
SET ROLE regress_od_publisher;
SELECT notary.publish('lapor.o', '{"id": "keep", "status": "keep", "region": "keep"}', view_name => 'by_superuser');
RESET ROLE;
SELECT pub_state('by_superuser') = :'before' AS unchanged_after_replace;
SET ROLE regress_od_publisher;
SELECT notary.unpublish('by_superuser');
RESET ROLE;
SELECT pub_state('by_superuser') = :'before' AS unchanged_after_unpublish;
SELECT rules FROM notary.publications WHERE view_name = 'by_superuser';
-- a new publication under a free name stays allowed with SELECT alone
SET ROLE regress_od_publisher;
SELECT notary.publish('lapor.o', '{"id": "keep"}', view_name => 'by_reader');
-- ... but once made, it is the table owner's too, not its publisher's
SELECT expect_error($$SELECT notary.unpublish('by_reader')$$) AS publisher_not_owner;
RESET ROLE;
-- a superuser may change any publication
SELECT notary.refresh('by_superuser');
SELECT notary.unpublish('by_reader');
SELECT notary.publish('lapor.o', '{"id": "keep", "region": "keep"}', view_name => 'by_superuser');
-- and so may the table's owner
SET ROLE regress_od_owner;
SELECT notary.refresh('by_superuser');
SELECT notary.unpublish('by_superuser');
RESET ROLE;
-- the table's owner, and a member of its role, may change one a superuser made
SELECT notary.publish('guess.t', '{"id": "keep"}', view_name => 'of_owner');
CREATE ROLE regress_od_member IN ROLE regress_od_publisher;
SET ROLE regress_od_publisher;
SELECT notary.refresh('of_owner');
SELECT notary.publish('guess.t', '{"id": "keep", "nik": "pseudonymise"}', view_name => 'of_owner');
SET ROLE regress_od_member;
SELECT notary.refresh('of_owner');
SELECT notary.unpublish('of_owner');
RESET ROLE;
SELECT count(*) AS publications_left FROM notary.publications;
SELECT op, detail->>'view' AS view, detail->>'refresh' AS refresh, current_user_name
  FROM notary.ledger WHERE op IN ('PUBLISH', 'UNPUBLISH') ORDER BY seq DESC LIMIT 4;

\c contrib_regression
DROP DATABASE notary_od_attacks;
DROP ROLE regress_od_member, regress_od_publisher, regress_od_owner;
