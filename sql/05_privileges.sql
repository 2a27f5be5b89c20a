--
-- 05_privileges: the append-only guards, the capture-trigger guards, the
-- uninstall guard, two-phase commit, and what each kind of role may do:
-- a table owner without superuser, an application role, the auditor.
--
CREATE SCHEMA priv;
CREATE TABLE priv.t (id int PRIMARY KEY, v text);
INSERT INTO priv.t VALUES (1, 'one');
CREATE TABLE public.unaudited (id int);
SELECT notary.enable('priv');

CREATE ROLE regress_notary_owner LOGIN;
CREATE ROLE regress_notary_app LOGIN;
CREATE ROLE regress_notary_auditor LOGIN IN ROLE notary_auditor;
GRANT USAGE, CREATE ON SCHEMA priv TO regress_notary_owner;
GRANT USAGE ON SCHEMA priv TO regress_notary_app;

\set VERBOSITY default

----------------------------------------------------------------------------
-- The ledger and its layouts are append-only, even for a superuser, even in
-- replica mode.  Nothing changes.
----------------------------------------------------------------------------
-- notary.ledger is a view over notary.ledger_entries (single entries) and
-- notary.ledger_packs (packed entries); the newest entry is written as a
-- single row, so that each table holds a row for the guards to refuse.
SET notary.pack_entries = off;
UPDATE priv.t SET v = 'one' WHERE id = 1;
RESET notary.pack_entries;
SELECT count(*) AS n0, max(seq) AS s0 FROM notary.ledger \gset
SELECT count(*) AS e0, count(*) FILTER (WHERE seq = :s0) AS newest_is_single FROM notary.ledger_entries \gset
SELECT count(*) AS p0 FROM notary.ledger_packs \gset
SELECT :newest_is_single AS newest_is_single, :p0 > 0 AS packs_exist;
SELECT count(*) AS l0 FROM notary.layouts \gset
UPDATE notary.ledger SET op = 'FORGED' WHERE seq = :s0;
DELETE FROM notary.ledger WHERE seq = :s0;
-- a view cannot be truncated: PostgreSQL's own error
TRUNCATE notary.ledger;
UPDATE notary.ledger_entries SET op = 'FORGED' WHERE seq = :s0;
DELETE FROM notary.ledger_entries WHERE seq = :s0;
TRUNCATE notary.ledger_entries;
UPDATE notary.ledger_packs SET entries = sha256(entries);
DELETE FROM notary.ledger_packs;
TRUNCATE notary.ledger_packs;
UPDATE notary.layouts SET table_name = 'forged';
DELETE FROM notary.layouts;
TRUNCATE notary.layouts;
SET session_replication_role = replica;
-- the view's INSTEAD OF trigger is ENABLE ALWAYS too: in replica mode
-- UPDATE and DELETE through it are still refused, not silently ignored
UPDATE notary.ledger SET op = 'FORGED' WHERE seq = :s0;
DELETE FROM notary.ledger WHERE seq = :s0;
SELECT count(*) AS still_there FROM notary.ledger WHERE seq = :s0 AND op <> 'FORGED';
DELETE FROM notary.ledger_entries WHERE seq = :s0;
DELETE FROM notary.ledger_packs;
TRUNCATE notary.ledger_entries;
TRUNCATE notary.ledger_packs;
TRUNCATE notary.layouts;
RESET session_replication_role;
SELECT expect_error('UPDATE notary.ledger SET op = ''FORGED''') AS ledger_update,
       expect_error('DELETE FROM notary.ledger') AS ledger_delete,
       expect_error('TRUNCATE notary.ledger') AS ledger_truncate;
SELECT expect_error('UPDATE notary.ledger_entries SET op = ''FORGED''') AS entries_update,
       expect_error('DELETE FROM notary.ledger_entries') AS entries_delete,
       expect_error('TRUNCATE notary.ledger_entries') AS entries_truncate;
SELECT expect_error('UPDATE notary.ledger_packs SET entries = sha256(entries)') AS packs_update,
       expect_error('DELETE FROM notary.ledger_packs') AS packs_delete,
       expect_error('TRUNCATE notary.ledger_packs') AS packs_truncate;
SELECT expect_error('UPDATE notary.layouts SET table_name = ''forged''') AS layouts_update,
       expect_error('DELETE FROM notary.layouts') AS layouts_delete,
       expect_error('TRUNCATE notary.layouts') AS layouts_truncate;

-- a role without superuser that was granted every privilege on them is
-- refused the same way
GRANT USAGE ON SCHEMA notary TO regress_notary_owner;
GRANT SELECT, UPDATE, DELETE, TRUNCATE ON notary.ledger, notary.ledger_entries, notary.ledger_packs
   TO regress_notary_owner;
GRANT EXECUTE ON FUNCTION notary.ledger_rows() TO regress_notary_owner;
SET ROLE regress_notary_owner;
SELECT expect_error('UPDATE notary.ledger SET op = ''FORGED''') AS ledger_update,
       expect_error('DELETE FROM notary.ledger') AS ledger_delete,
       expect_error('TRUNCATE notary.ledger') AS ledger_truncate;
SELECT expect_error('UPDATE notary.ledger_entries SET op = ''FORGED''') AS entries_update,
       expect_error('DELETE FROM notary.ledger_entries') AS entries_delete,
       expect_error('TRUNCATE notary.ledger_entries') AS entries_truncate;
SELECT expect_error('UPDATE notary.ledger_packs SET entries = sha256(entries)') AS packs_update,
       expect_error('DELETE FROM notary.ledger_packs') AS packs_delete,
       expect_error('TRUNCATE notary.ledger_packs') AS packs_truncate;
RESET ROLE;
REVOKE ALL ON notary.ledger, notary.ledger_entries, notary.ledger_packs FROM regress_notary_owner;
REVOKE ALL ON FUNCTION notary.ledger_rows() FROM regress_notary_owner;
REVOKE ALL ON SCHEMA notary FROM regress_notary_owner;

SELECT count(*) - :n0 AS new_entries, count(*) FILTER (WHERE op = 'FORGED') AS forged
  FROM notary.ledger;
SELECT (SELECT count(*) FROM notary.ledger_entries) - :e0 AS single_entries_changed,
       (SELECT count(*) FROM notary.ledger_packs) - :p0 AS packs_changed;
SELECT count(*) - :l0 AS layouts_changed FROM notary.layouts WHERE table_name <> 'forged';

-- the extension's objects cannot be dropped one by one, nor the extension
-- with its schema (expect_error: if the drop got through, it is rolled back)
DROP VIEW notary.ledger;
DROP TABLE notary.ledger_entries;
DROP TABLE notary.ledger_packs;
DROP SCHEMA notary;
SELECT expect_error('DROP SCHEMA notary CASCADE') <> 'no error' AS drop_schema_refused;
SELECT count(*) AS extension_present FROM pg_extension WHERE extname = 'pg_notary';

-- DROP EXTENSION is refused while notary.allow_uninstall is off
DROP EXTENSION pg_notary;
DROP EXTENSION pg_notary CASCADE;
DROP EXTENSION IF EXISTS pg_notary;
SELECT expect_error('DROP EXTENSION pg_notary') AS drop_extension;
SELECT extname FROM pg_extension WHERE extname = 'pg_notary';
SELECT count(*) - :n0 AS new_entries FROM notary.ledger;

----------------------------------------------------------------------------
-- PREPARE TRANSACTION of a transaction that wrote entries is refused, and
-- the transaction is rolled back.  One without entries can be prepared.
----------------------------------------------------------------------------
SELECT count(*) AS n0 FROM notary.ledger \gset
BEGIN;
INSERT INTO priv.t VALUES (2, 'two-phase');
PREPARE TRANSACTION 'regress_notary_wrote';
BEGIN;
UPDATE priv.t SET v = 'two-phase' WHERE id = 1;
\set VERBOSITY sqlstate
PREPARE TRANSACTION 'regress_notary_wrote';
\set VERBOSITY default
SELECT count(*) AS prepared FROM pg_prepared_xacts;
SELECT * FROM priv.t ORDER BY id;
SELECT count(*) - :n0 AS new_entries FROM notary.ledger;
BEGIN;
SELECT count(*) FROM priv.t;
INSERT INTO public.unaudited VALUES (1);
PREPARE TRANSACTION 'regress_notary_read';
SELECT gid FROM pg_prepared_xacts;
ROLLBACK PREPARED 'regress_notary_read';
-- the chain continues where it was
INSERT INTO priv.t VALUES (3, 'after prepare');
SELECT op, row_image FROM notary.ledger WHERE seq > :s0 AND op = 'INSERT' ORDER BY seq;
SELECT count(*) AS findings FROM notary.verify();

----------------------------------------------------------------------------
-- A superuser may disable, drop or rename a capture trigger, but it is
-- recorded (detail "capture": "disabled" / "missing").
----------------------------------------------------------------------------
SELECT max(seq) AS s0 FROM notary.ledger \gset
ALTER TABLE priv.t DISABLE TRIGGER notary_capture;
INSERT INTO priv.t VALUES (4, 'not captured');
ALTER TABLE priv.t ENABLE ALWAYS TRIGGER notary_capture;
INSERT INTO priv.t VALUES (5, 'captured again');
DROP TRIGGER notary_capture_truncate ON priv.t;
SELECT op, row_image, detail FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
-- restore the triggers: disable and enable the schema (a new baseline)
SELECT notary.disable('priv');
SELECT notary.enable('priv');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'priv.t'::regclass ORDER BY tgname;

----------------------------------------------------------------------------
-- A table owner without superuser
----------------------------------------------------------------------------
SET ROLE regress_notary_owner;
-- creates a table in the enabled schema: enrolled, and its changes captured
CREATE TABLE priv.owned (id int PRIMARY KEY, v text);
INSERT INTO priv.owned VALUES (1, 'by owner');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON priv.owned TO regress_notary_app;
RESET ROLE;
SELECT l.op, l.row_image, l.detail, l.current_user_name, l.session_user_name = session_user AS session_is_me
  FROM notary.ledger l JOIN notary.tables t USING (table_id)
 WHERE t.relid = 'priv.owned'::regclass ORDER BY l.seq;

SELECT count(*) AS n0 FROM notary.ledger \gset
SET ROLE regress_notary_owner;
-- may not get around capture: every form is refused (NT002)
ALTER TABLE priv.owned DISABLE TRIGGER notary_capture;
ALTER TABLE priv.owned DISABLE TRIGGER notary_capture_truncate;
ALTER TABLE priv.owned DISABLE TRIGGER ALL;
ALTER TABLE priv.owned DISABLE TRIGGER USER;
ALTER TABLE priv.owned ENABLE TRIGGER notary_capture;
ALTER TABLE priv.owned ENABLE REPLICA TRIGGER notary_capture;
ALTER TRIGGER notary_capture ON priv.owned RENAME TO not_capture;
DROP TRIGGER notary_capture ON priv.owned;
DROP TRIGGER notary_capture_truncate ON priv.owned;
SELECT expect_error('ALTER TABLE priv.owned DISABLE TRIGGER notary_capture') AS disable_trigger,
       expect_error('DROP TRIGGER notary_capture ON priv.owned') AS drop_trigger;
-- may not read the ledger, verify, enable, disable, uninstall (42501)
\set VERBOSITY sqlstate
SELECT count(*) FROM notary.ledger;
SELECT count(*) FROM notary.entries;
SELECT count(*) FROM notary.verify();
SELECT notary.enable('priv');
SELECT notary.disable('priv');
SET notary.allow_uninstall = on;
SET session_replication_role = replica;
\set VERBOSITY default
RESET ROLE;
SELECT count(*) - :n0 AS new_entries FROM notary.ledger;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'priv.owned'::regclass ORDER BY tgname;

-- the owner's ALTER TABLE is allowed and recorded, with a new baseline
SELECT max(seq) AS s0 FROM notary.ledger \gset
SET ROLE regress_notary_owner;
ALTER TABLE priv.owned ADD COLUMN note text;
RESET ROLE;
SELECT op, row_image, detail, current_user_name FROM notary.ledger WHERE seq > :s0 ORDER BY seq;

----------------------------------------------------------------------------
-- An application role with DML rights only: captured under its name
----------------------------------------------------------------------------
SELECT max(seq) AS s0 FROM notary.ledger \gset
SET ROLE regress_notary_app;
INSERT INTO priv.owned VALUES (2, 'by app');
UPDATE priv.owned SET note = 'noted' WHERE id = 1;
DELETE FROM priv.owned WHERE id = 2;
TRUNCATE priv.owned;
-- reads nothing of the ledger, however stored (42501)
\set VERBOSITY sqlstate
SELECT count(*) FROM notary.ledger;
SELECT count(*) FROM notary.ledger_entries;
SELECT count(*) FROM notary.ledger_packs;
SELECT count(*) FROM notary.ledger_rows();
\set VERBOSITY default
RESET ROLE;
SELECT op, row_image, current_user_name, session_user_name = session_user AS session_is_me
  FROM notary.ledger WHERE seq > :s0 ORDER BY seq;
-- not even with USAGE on schema notary: each object refuses it
GRANT USAGE ON SCHEMA notary TO regress_notary_app;
SET ROLE regress_notary_app;
SELECT count(*) FROM notary.ledger;
SELECT count(*) FROM notary.ledger_entries;
SELECT count(*) FROM notary.ledger_packs;
SELECT count(*) FROM notary.ledger_rows();
RESET ROLE;
REVOKE USAGE ON SCHEMA notary FROM regress_notary_app;

----------------------------------------------------------------------------
-- The auditor reads and verifies, and changes nothing
----------------------------------------------------------------------------
SELECT count(*) AS n0 FROM notary.ledger \gset
SET ROLE regress_notary_auditor;
SELECT count(*) > 0 AS can_read_ledger FROM notary.ledger;
SELECT count(*) > 0 AS can_read_entries FROM notary.entries;
SELECT count(*) > 0 AS can_read_layouts FROM notary.layouts;
SELECT table_name, capturing FROM notary.enrolled ORDER BY table_name;
SELECT count(*) AS findings FROM notary.verify();
\set VERBOSITY sqlstate
UPDATE notary.ledger SET op = 'FORGED';
DELETE FROM notary.ledger;
INSERT INTO notary.ledger SELECT * FROM notary.ledger LIMIT 1;
TRUNCATE notary.ledger;
-- nor the tables behind the view: not even a read of the single entries
SELECT count(*) FROM notary.ledger_entries;
UPDATE notary.ledger_entries SET op = 'FORGED';
DELETE FROM notary.ledger_entries;
INSERT INTO notary.ledger_entries SELECT * FROM notary.ledger LIMIT 1;
TRUNCATE notary.ledger_entries;
UPDATE notary.ledger_packs SET entries = sha256(entries);
DELETE FROM notary.ledger_packs;
TRUNCATE notary.ledger_packs;
UPDATE notary.layouts SET table_name = 'forged';
UPDATE notary.tables SET capturing = false;
SELECT notary.enable('priv');
SELECT notary.disable('priv');
INSERT INTO priv.t VALUES (100, 'auditor');
\set VERBOSITY default
RESET ROLE;
SELECT count(*) - :n0 AS new_entries FROM notary.ledger;

SELECT count(*) AS findings FROM notary.verify();

-- clean up (roles are cluster-wide)
SET client_min_messages = warning;
DROP SCHEMA priv CASCADE;
RESET client_min_messages;
DROP TABLE public.unaudited;
DROP OWNED BY regress_notary_owner, regress_notary_app, regress_notary_auditor;
DROP ROLE regress_notary_owner, regress_notary_app, regress_notary_auditor;
SELECT count(*) AS findings FROM notary.verify();
