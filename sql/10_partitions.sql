-- No write gets around capture through the table's family: a partition or
-- an inheritance child is enrolled wherever it lives, whether created as
-- one or attached later; and rows an ALTER TABLE rewrites in place (same
-- layout) are recorded again.
CREATE DATABASE notary_partitions;
\c notary_partitions
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE ROLE regress_notary_family;
CREATE SCHEMA app AUTHORIZATION regress_notary_family;
CREATE SCHEMA other AUTHORIZATION regress_notary_family;
SELECT notary.enable('app');
SET ROLE regress_notary_family;
CREATE TABLE app.parent (id int, v int) PARTITION BY RANGE (id);
CREATE TABLE app.p1 PARTITION OF app.parent FOR VALUES FROM (0) TO (100);
CREATE TABLE other.p2 PARTITION OF app.parent FOR VALUES FROM (100) TO (200);
CREATE TABLE other.p3 (id int, v int);
ALTER TABLE app.parent ATTACH PARTITION other.p3 FOR VALUES FROM (200) TO (300);
INSERT INTO app.parent VALUES (50, 1), (150, 1), (250, 1);
CREATE TABLE app.acc (id int PRIMARY KEY, bal int);
CREATE TABLE other.kid () INHERITS (app.acc);
INSERT INTO other.kid VALUES (99, 9999);
UPDATE app.acc SET bal = bal + 1;
-- the same layout, other values: a rewrite
ALTER TABLE app.acc ALTER COLUMN bal TYPE int USING (CASE WHEN id = 99 THEN 42 ELSE bal END);
RESET ROLE;
SELECT schema_name, table_name, capturing FROM notary.enrolled ORDER BY 1, 2;
SELECT op, schema_name, table_name, row_data FROM notary.entries
 WHERE op IN ('INSERT', 'UPDATE', 'SNAPSHOT') ORDER BY seq;
SELECT t.table_name, l.detail->>'reason' AS reason FROM notary.ledger l JOIN notary.tables t USING (table_id)
 WHERE l.op = 'BASELINE' ORDER BY l.seq;
SELECT count(*) AS findings FROM notary.verify();
SELECT problem, row_key FROM notary.verify_table('other.kid');
\c contrib_regression
DROP DATABASE notary_partitions;
DROP ROLE regress_notary_family;
