--
-- 07_history: notary.history(table, key...) gives one row's history, oldest
-- first, with the row before and after each change, across baselines,
-- layout changes and key changes; for a table without a primary key the
-- row is named by all its values.
--
CREATE SCHEMA hist;
CREATE TABLE hist.acct (id int PRIMARY KEY, holder text, balance numeric);
CREATE TABLE hist.fx (code text, at timestamptz, rate numeric, PRIMARY KEY (code, at));
CREATE TABLE hist.notes (body text, n int);              -- no primary key
INSERT INTO hist.acct VALUES (1, 'Ayu', 100);
SELECT notary.enable('hist');

INSERT INTO hist.acct VALUES (2, 'Bima', 200);
UPDATE hist.acct SET balance = 150 WHERE id = 1;
UPDATE hist.acct SET holder = 'Ayu Lestari', balance = 175 WHERE id = 1;
BEGIN;
UPDATE hist.acct SET balance = -1 WHERE id = 1;          -- rolled back: not in history
ROLLBACK;
ALTER TABLE hist.acct ADD COLUMN branch text;            -- baseline under the new layout
UPDATE hist.acct SET branch = 'Yogyakarta' WHERE id = 1;
DELETE FROM hist.acct WHERE id = 1;
INSERT INTO hist.acct VALUES (1, 'Ayu (reopened)', 0, NULL);

-- the whole life of id 1: SNAPSHOT (enable), changes, the layout change's
-- SNAPSHOT, the removal and a new row with the same key
SELECT op, before, after FROM notary.history('hist.acct', '1');
-- who and when: as recorded
SELECT op, session_user_name = session_user AS session_ok, current_user_name = current_user AS current_ok,
       application_name = current_setting('application_name') AS app_ok, client_addr IS NULL AS unix_socket,
       logged_at IS NOT NULL AS has_time, xid IS NOT NULL AS has_xid
  FROM notary.history('hist.acct', '1');
-- oldest first: seq ascending
SELECT bool_and(seq > prev) AS ascending FROM (
  SELECT seq, lag(seq, 1, 0::bigint) OVER (ORDER BY ord) AS prev
    FROM notary.history('hist.acct', '1') WITH ORDINALITY AS h(seq, logged_at, op, xid, s, c, a, ad, b, af, ord)) x;
-- another row is not mixed in; a key never used has no history
SELECT op, before, after FROM notary.history('hist.acct', '2');
SELECT count(*) AS entries FROM notary.history('hist.acct', '99');

-- a key change: the UPDATE ends the old key's history and starts the new one's
UPDATE hist.acct SET id = 20 WHERE id = 2;
SELECT op, before, after FROM notary.history('hist.acct', '2');
SELECT op, after FROM notary.history('hist.acct', '20');
-- TRUNCATE ends a row's history
TRUNCATE hist.acct;
SELECT op, after FROM notary.history('hist.acct', '20');
SELECT before FROM notary.history('hist.acct', '20') WHERE op = 'TRUNCATE';

-- a composite key, given in key order; key texts are read as the session
-- reads them (here a time in Asia/Jakarta), so any spelling of the value works
SET TimeZone = 'Asia/Jakarta';
INSERT INTO hist.fx VALUES ('IDR', '2024-08-17 10:00', 0.000064);
UPDATE hist.fx SET rate = 0.0000641 WHERE code = 'IDR';
SELECT op, before, after FROM notary.history('hist.fx', 'IDR', '2024-08-17 10:00');
SET TimeZone = 'UTC';
SELECT op, after->>'at' AS at FROM notary.history('hist.fx', 'IDR', '2024-08-17 03:00:00+00');
SELECT count(*) AS entries FROM notary.history('hist.fx', 'IDR', '2024-08-17 10:00');  -- 10:00 UTC: another time
RESET TimeZone;
-- key values with quotes, commas and non-ASCII text
INSERT INTO hist.fx VALUES ('ꦫꦸꦥꦶꦪꦃ, "Rp"', '2024-01-01 00:00+00', 1);
SELECT op, after->>'code' AS code FROM notary.history('hist.fx', 'ꦫꦸꦥꦶꦪꦃ, "Rp"', '2024-01-01 00:00+00');

-- without a primary key, a row is named by all its values; equal rows
-- cannot be told apart
INSERT INTO hist.notes VALUES ('same', 1), ('same', 1), ('other', 2);
UPDATE hist.notes SET n = 3 WHERE body = 'other';
SELECT op, before, after FROM notary.history('hist.notes', 'same', '1');
SELECT op, before, after FROM notary.history('hist.notes', 'other', '2');
SELECT op, after FROM notary.history('hist.notes', 'other', '3');
INSERT INTO hist.notes VALUES (NULL, NULL);
SELECT op, after FROM notary.history('hist.notes', NULL, NULL);

-- the auditor may read histories, without privileges on the table
-- (named by OID: the auditor has no USAGE on schema hist either)
CREATE ROLE regress_notary_hist_auditor IN ROLE notary_auditor;
SELECT 'hist.acct'::regclass::oid AS acct_oid \gset
SET ROLE regress_notary_hist_auditor;
SELECT op FROM notary.history(:acct_oid, '1');
RESET ROLE;
-- an application role may not
CREATE ROLE regress_notary_hist_app;
GRANT USAGE ON SCHEMA hist TO regress_notary_hist_app;
GRANT SELECT ON hist.acct TO regress_notary_hist_app;
SET ROLE regress_notary_hist_app;
\set VERBOSITY sqlstate
SELECT op FROM notary.history('hist.acct', '1');
\set VERBOSITY default
RESET ROLE;

-- errors
CREATE TABLE public.not_enrolled (id int PRIMARY KEY);
SELECT * FROM notary.history('public.not_enrolled', '1');
SELECT * FROM notary.history('hist.acct', '1', '2');
SELECT * FROM notary.history('hist.fx', 'IDR');
SELECT * FROM notary.history('hist.notes', 'same');
SELECT * FROM notary.history('hist.acct', NULL);
SELECT * FROM notary.history('hist.acct', 'not a number');
SELECT * FROM notary.history('hist.acct');
SELECT expect_error($$SELECT * FROM notary.history('public.not_enrolled', '1')$$) AS not_enrolled,
       expect_error($$SELECT * FROM notary.history('hist.acct', '1', '2')$$) AS wrong_count,
       expect_error($$SELECT * FROM notary.history('hist.acct', NULL)$$) AS null_key;
SELECT count(*) AS strict_null FROM notary.history(NULL, '1');

SELECT count(*) AS findings FROM notary.verify();

-- clean up
SET client_min_messages = warning;
DROP SCHEMA hist CASCADE;
RESET client_min_messages;
DROP TABLE public.not_enrolled;
DROP OWNED BY regress_notary_hist_auditor, regress_notary_hist_app;
DROP ROLE regress_notary_hist_auditor, regress_notary_hist_app;
