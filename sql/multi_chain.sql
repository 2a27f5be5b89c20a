-- verify() over several chains (a second session through dblink writes its
-- own chain), and over a layout damaged so badly it cannot be hashed: both
-- once hung or crashed the server.
CREATE DATABASE notary_chains;
\c notary_chains
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE EXTENSION dblink;
CREATE SCHEMA s;
CREATE TABLE s.t (id int PRIMARY KEY, v text);
SELECT notary.enable('s');
INSERT INTO s.t VALUES (1, 'main session');
SELECT dblink_connect('other', format('dbname=notary_chains host=%s port=%s',
  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT dblink_exec('other', 'INSERT INTO s.t VALUES (2, ''second session'')');
SELECT dblink_exec('other', 'UPDATE s.t SET v = ''second session, again'' WHERE id = 2');
INSERT INTO s.t VALUES (3, 'main session again');
SELECT dblink_disconnect('other');
SELECT count(DISTINCT chain_id) AS chains FROM notary.ledger;
SELECT count(*) AS findings FROM notary.verify();
SELECT count(*) AS findings FROM notary.verify_table('s.t');
ALTER TABLE notary.layouts DISABLE TRIGGER layouts_append_only;
UPDATE notary.layouts SET column_names[1] = NULL;
SELECT problem, seq IS NULL AS no_entry FROM notary.verify() WHERE problem = 'altered_layout';
SELECT count(*) > 0 AS entries_reported FROM notary.verify() WHERE problem = 'altered_entry';
\c contrib_regression
DROP DATABASE notary_chains;
