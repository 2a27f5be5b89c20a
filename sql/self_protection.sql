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
ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only;
ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
DROP TRIGGER ledger_no_truncate ON notary.ledger;
SELECT op, detail->>'command' AS command, detail->>'object' AS object, detail->>'guard' AS guard
  FROM notary.ledger WHERE op = 'DDL' AND detail->>'object' LIKE '%notary.ledger' ORDER BY seq;
SELECT count(*) AS findings FROM notary.verify();
SET notary.allow_uninstall = on;
DROP EXTENSION pg_notary CASCADE;
\c contrib_regression
DROP DATABASE notary_self;
DROP ROLE notary_self_owner;
