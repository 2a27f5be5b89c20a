-- pg_notary protects itself: the schema and the extension cannot be
-- dropped (by any path) while notary.allow_uninstall is off; a superuser
-- switching a guard of the ledger off, or dropping it, is recorded; and a
-- table owner without superuser writes and runs DDL normally (capture needs
-- no privilege of hers on schema notary).
CREATE DATABASE notary_self;
\c notary_self
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE ROLE notary_self_owner;
CREATE SCHEMA s AUTHORIZATION notary_self_owner;
CREATE TABLE s.t (id int PRIMARY KEY, v text);
ALTER TABLE s.t OWNER TO notary_self_owner;
SELECT notary.enable('s');
SET ROLE notary_self_owner;
INSERT INTO s.t VALUES (1, 'a');
UPDATE s.t SET v = 'b';
CREATE TABLE s.u (id int);
INSERT INTO s.u VALUES (1);
RESET ROLE;
SELECT op, table_name FROM notary.entries WHERE op IN ('INSERT', 'UPDATE', 'DDL') ORDER BY seq;
\set VERBOSITY sqlstate
DROP SCHEMA notary CASCADE;
DROP EXTENSION pg_notary;
DROP EXTENSION pg_notary CASCADE;
\set VERBOSITY default
DROP SCHEMA notary CASCADE;
SELECT count(*) > 0 AS ledger_still_there FROM notary.ledger;
-- the guards of both tables behind the view notary.ledger, and the view's own
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
DROP TRIGGER ledger_no_truncate ON notary.ledger_entries;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
DROP TRIGGER ledger_packs_no_truncate ON notary.ledger_packs;
DROP TRIGGER ledger_append_only ON notary.ledger;
SELECT op, detail->>'command' AS command, detail->>'object' AS object, detail->>'guard' AS guard
  FROM notary.ledger WHERE op = 'DDL' AND detail->>'object' ~ 'notary\.ledger(_entries|_packs)?$' ORDER BY seq;
SELECT count(*) AS findings FROM notary.verify();
-- restore_mode switches capture off for one session only, never for a
-- role or a database
\set VERBOSITY terse
ALTER ROLE notary_self_owner SET notary.restore_mode = on;
ALTER DATABASE notary_self SET notary.restore_mode = on;
\set VERBOSITY default
SET notary.restore_mode = on;
INSERT INTO s.t VALUES (99, 'during a restore');
RESET notary.restore_mode;
SELECT count(*) AS captured_during_restore FROM notary.ledger
 WHERE op = 'INSERT' AND row_image[1] = '99';
SELECT problem, row_key FROM notary.verify_table('s.t');
SET notary.allow_uninstall = on;
DROP EXTENSION pg_notary CASCADE;
-- DROP OWNED BY the extension's owner would drop the extension with it
CREATE ROLE regress_notary_ext_owner SUPERUSER;
CREATE DATABASE notary_owned OWNER regress_notary_ext_owner;
\c notary_owned
SET client_min_messages = warning;
SET ROLE regress_notary_ext_owner;
CREATE EXTENSION pg_notary;
RESET ROLE;
\set VERBOSITY sqlstate
DROP OWNED BY regress_notary_ext_owner;
\set VERBOSITY default
SELECT count(*) AS extension_still_there FROM pg_extension WHERE extname = 'pg_notary';
SET notary.allow_uninstall = on;
DROP OWNED BY regress_notary_ext_owner CASCADE;
\c contrib_regression
DROP DATABASE notary_self;
DROP DATABASE notary_owned;
DROP ROLE notary_self_owner;
DROP ROLE regress_notary_ext_owner;
