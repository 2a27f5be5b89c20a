-- demo/demo.sql -- pg_notary on a public procurement database.
--
-- Run by demo/run (bash demo/run) as superuser postgres in a fresh database
-- procurement_demo:  psql -X -v ON_ERROR_STOP=1 -f demo/demo.sql
--
-- The story: a city public-works office keeps its budget lines, tenders,
-- contracts and payments in PostgreSQL.  pg_notary is enabled for the schema
-- in one call; the application keeps working unchanged; then a superuser
-- marks up a contract behind the ledger's back, and later tries to cover
-- the tracks by rewriting the ledger itself: an edited entry, then history
-- rewritten with recomputed hashes, then the newest entries cut off.
-- Verification finds all of it; the last two only with the signed
-- checkpoint the auditor published outside the database.
-- Every query reads only pg_notary's public SQL surface (docs/reference.md);
-- the attacker's tool in (e) is demo/forge_history.py, and the independent
-- verifier notary-verify (cli/) must be on PATH (demo/run sees to both).

\ir session.psql

\echo
\echo '================================================================'
\echo ' pg_notary demo: the procurement ledger of a city public-works office'
\echo '================================================================'

-- ---------------------------------------------------------------------------
-- Roles.  Roles are cluster-wide: create them only if a previous run left
-- them (demo/run starts from a fresh cluster, so normally they are new).
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'procurement_owner') THEN
    CREATE ROLE procurement_owner NOLOGIN;   -- owns the schema (not a superuser)
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'procurement_app') THEN
    CREATE ROLE procurement_app LOGIN;       -- the e-procurement web application
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bpk_auditor') THEN
    CREATE ROLE bpk_auditor LOGIN;           -- an external auditor (BPK)
  END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- The application's schema, owned by an ordinary role
-- ---------------------------------------------------------------------------
CREATE SCHEMA procurement AUTHORIZATION procurement_owner;
SET ROLE procurement_owner;

CREATE TABLE procurement.budget_lines (
    budget_code   text PRIMARY KEY,            -- account code in the DPA
    fiscal_year   integer NOT NULL,
    description   text NOT NULL,
    ceiling_idr   numeric(18,2) NOT NULL       -- approved ceiling (pagu), rupiah
);

CREATE TABLE procurement.tenders (
    tender_id     integer PRIMARY KEY,
    budget_code   text NOT NULL REFERENCES procurement.budget_lines,
    title         text NOT NULL,
    hps_idr       numeric(18,2) NOT NULL,      -- owner's estimate (HPS)
    bid_deadline  timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'announced'
);

CREATE TABLE procurement.contracts (
    contract_no   text PRIMARY KEY,            -- e.g. SPK-014/DPUPR/2024
    tender_id     integer NOT NULL REFERENCES procurement.tenders,
    vendor        text NOT NULL,
    value_idr     numeric(18,2) NOT NULL,
    signed_on     date NOT NULL,
    finish_by     date NOT NULL
);

CREATE TABLE procurement.payments (
    payment_id    integer PRIMARY KEY,
    contract_no   text NOT NULL REFERENCES procurement.contracts,
    term          text NOT NULL,               -- termin
    amount_idr    numeric(18,2) NOT NULL,
    paid_on       date,
    status        text NOT NULL DEFAULT 'requested'
);

-- An append-only notebook without a primary key: pg_notary identifies its
-- rows by their whole content.
CREATE TABLE procurement.contract_notes (
    contract_no   text NOT NULL,
    noted_at      timestamptz NOT NULL,
    note          text NOT NULL
);

GRANT USAGE ON SCHEMA procurement TO procurement_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA procurement TO procurement_app;

-- Data that exists before pg_notary is enabled: it goes into the baseline.
INSERT INTO procurement.budget_lines VALUES
  ('1.03.02.5.2.03', 2024, 'Belanja modal jalan, irigasi dan jaringan',  12500000000.00),
  ('1.03.02.5.2.02', 2024, 'Belanja modal peralatan dan mesin',           1750000000.00),
  ('1.03.02.5.1.02', 2024, 'Belanja barang dan jasa: pemeliharaan gedung', 640000000.00);
INSERT INTO procurement.tenders VALUES
  (101, '1.03.02.5.2.03', 'Rehabilitasi Jalan Soekarno-Hatta Km 3-5',
        4950000000.00, '2024-03-18 16:00+07', 'evaluation'),
  (102, '1.03.02.5.2.02', 'Pengadaan alat berat: excavator mini 2 unit',
        1320000000.00, '2024-04-02 16:00+07', 'announced');
RESET ROLE;

\echo
\echo '1. The DBA enables pg_notary for the whole schema, in one call.'
\echo '   Every existing row is recorded as a baseline; every later change'
\echo '   is captured by a C trigger into the hash-chained ledger.'
\echo
CREATE EXTENSION pg_notary;
SELECT notary.enable('procurement') AS tables_enrolled;

SELECT table_name, capturing FROM notary.enrolled ORDER BY table_name;

-- The auditor may read the ledger and verify.  USAGE on the schema only lets
-- them name its tables ('procurement.contracts'); it gives no access to rows.
SET client_min_messages = warning;   -- quiet if a previous run granted it
GRANT notary_auditor TO bpk_auditor;
SET client_min_messages = notice;
GRANT USAGE ON SCHEMA procurement TO bpk_auditor;

\echo
\echo '2. The application works as before (role procurement_app, no change'
\echo '   to its SQL): a new tender, a deadline moved by an official addendum,'
\echo '   a contract awarded and amended, a payment requested and paid.'
\echo
SET ROLE procurement_app;
SET application_name = 'e-procurement web';

INSERT INTO procurement.tenders VALUES
  (103, '1.03.02.5.1.02', 'Pemeliharaan gedung kantor dinas (atap dan talang)',
        615000000.00, '2024-04-15 16:00+07', 'announced');

-- Addendum 1 of tender 102: the bid deadline moves by one week, legitimately.
UPDATE procurement.tenders SET bid_deadline = '2024-04-09 16:00+07' WHERE tender_id = 102;

-- Tender 101 is awarded.
UPDATE procurement.tenders SET status = 'awarded' WHERE tender_id = 101;
INSERT INTO procurement.contracts VALUES
  ('SPK-014/DPUPR/2024', 101, 'PT Sinar Jaya Konstruksi', 4785000000.00, '2024-04-01', '2024-09-30');
INSERT INTO procurement.contract_notes VALUES
  ('SPK-014/DPUPR/2024', '2024-04-01 10:15+07', 'Kontrak ditandatangani; jaminan pelaksanaan 5% diterima.');

-- Tender 102 is awarded too.
UPDATE procurement.tenders SET status = 'awarded' WHERE tender_id = 102;
INSERT INTO procurement.contracts VALUES
  ('SPK-021/DPUPR/2024', 102, 'CV Karya Mandiri Abadi', 1287500000.00, '2024-04-22', '2024-06-21');

-- Contract amendment (CCO): extra drainage work, value and end date change.
UPDATE procurement.contracts
   SET value_idr = 4911250000.00, finish_by = '2024-10-31'
 WHERE contract_no = 'SPK-014/DPUPR/2024';
INSERT INTO procurement.contract_notes VALUES
  ('SPK-014/DPUPR/2024', '2024-06-10 14:00+07', 'Addendum 1 (CCO): pekerjaan drainase tambahan, nilai dan waktu disesuaikan.');

-- First payment (termin 1, 30%): requested, then paid.
INSERT INTO procurement.payments VALUES
  (1, 'SPK-014/DPUPR/2024', 'Termin 1 (30%)', 1473375000.00, NULL, 'requested');
UPDATE procurement.payments SET status = 'paid', paid_on = '2024-07-05' WHERE payment_id = 1;

RESET application_name;
RESET ROLE;

\echo 'Ledger entries by operation:'
SELECT op, count(*) AS entries FROM notary.ledger GROUP BY op ORDER BY min(seq);

\echo
\echo '================================================================'
\echo ' (a) Verification: the ledger is intact and every table agrees'
\echo '================================================================'
\echo 'As the auditor bpk_auditor (member of notary_auditor).'
\echo
\echo 'notary.verify() recomputes every hash and link; no rows = intact:'
SET ROLE bpk_auditor;
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify();

\echo 'notary.verify_table() compares each live table with its ledger history:'
SELECT e.table_name,
       (SELECT count(*) FROM notary.verify_table(e.relid)) AS findings
  FROM notary.enrolled e
 ORDER BY e.table_name;

\echo 'The auditor takes a signed checkpoint (every chain head and a Merkle root'
\echo 'over every entry) and publishes it outside the database, together with the'
\echo 'public key that verifies its signature.  Here: two files; in real life a'
\echo 'website, a mail, an audit report.'
SELECT notary.checkpoint() AS held_checkpoint \gset
SELECT :'held_checkpoint'::jsonb ->> 'checkpoint_id' AS checkpoint_id,
       :'held_checkpoint'::jsonb ->> 'entries' AS entries_covered,
       :'held_checkpoint'::jsonb ->> 'key_id' AS signed_with_key;
SELECT :'held_checkpoint' \g (format=unaligned tuples_only=on) :checkpoint_file
SELECT row_to_json(k) FROM notary.public_key() k \g (format=unaligned tuples_only=on) :public_key_file
\echo 'Published:' :checkpoint_file 'and' :public_key_file
\echo
\echo 'With these two files anyone can check the ledger, for instance with the'
\echo 'independent verifier notary-verify (cli/), which reads the ledger with'
\echo 'plain SQL and recomputes everything with its own code; exit status 0 = intact:'
\echo '$ notary-verify --dbname ''user=bpk_auditor'' --checkpoint checkpoint.json --public-key public_key.json'
\! cd "$PUBLISH_DIR" && notary-verify --dbname 'user=bpk_auditor' --checkpoint checkpoint.json --public-key public_key.json 2>&1; echo "exit status $?"
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (b) A superuser marks up a contract with capture switched off'
\echo '================================================================'
\echo 'Non-superusers cannot do this: even the schema owner is refused (NT002).'
\echo 'The error is caught and printed, since this script stops on errors:'
SET ROLE procurement_owner;
DO $$
BEGIN
  ALTER TABLE procurement.contracts DISABLE TRIGGER notary_capture;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'refused, SQLSTATE %: %', SQLSTATE, SQLERRM;
END
$$;
RESET ROLE;

\echo
\echo 'A superuser can.  They disable the capture trigger, raise the value of'
\echo 'SPK-014/DPUPR/2024 from 4,911,250,000 to 5,411,250,000 rupiah (+500 million)'
\echo 'and switch capture back on:'
\echo
\echo '  ALTER TABLE procurement.contracts DISABLE TRIGGER notary_capture;'
\echo '  UPDATE procurement.contracts SET value_idr = 5411250000.00'
\echo '   WHERE contract_no = ''SPK-014/DPUPR/2024'';'
\echo '  ALTER TABLE procurement.contracts ENABLE ALWAYS TRIGGER notary_capture;'
ALTER TABLE procurement.contracts DISABLE TRIGGER notary_capture;
UPDATE procurement.contracts SET value_idr = 5411250000.00
 WHERE contract_no = 'SPK-014/DPUPR/2024';
ALTER TABLE procurement.contracts ENABLE ALWAYS TRIGGER notary_capture;

SET ROLE bpk_auditor;
\echo
\echo 'The ledger itself is intact, so notary.verify() is still silent:'
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify();

\echo 'But notary.verify_table() compares the table with its history and points'
\echo 'at the contract (ledger value versus the value in the table):'
\x on
SELECT problem, row_key, seq, detail
  FROM notary.verify_table('procurement.contracts');
\x off

\echo 'And the ledger recorded the switch-off itself, with who and when:'
\x on
SELECT l.seq, l.op, l.logged_at, l.session_user_name, l.current_user_name,
       l.application_name, l.detail
  FROM notary.ledger l JOIN notary.tables t USING (table_id)
 WHERE l.op = 'DDL' AND t.schema_name = 'procurement' AND t.table_name = 'contracts'
 ORDER BY l.seq;
\x off
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (c) The superuser tries to cover the tracks in the ledger itself'
\echo '================================================================'
\echo 'The ledger refuses UPDATE and DELETE, even from a superuser (NT001):'
DO $$
BEGIN
  UPDATE notary.ledger SET op = op WHERE seq = 1;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'refused, SQLSTATE %: %', SQLSTATE, SQLERRM;
END
$$;

\echo
\echo 'notary.ledger is a view: the entries are stored in notary.ledger_packs,'
\echo 'the entries of one transaction packed into one row (and, one per row, in'
\echo 'notary.ledger_entries).  So the superuser disables the guard trigger of'
\echo 'the packs and rewrites the newest ledger entry of SPK-014/DPUPR/2024 (the'
\echo 'amendment) in place, in the bytes of its pack: the value 4911250000.00'
\echo 'becomes 5411250000.00, the same number of digits, so that the pack still'
\echo 'decodes and the ledger would agree with the table:'
\echo
\echo '  ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;'
\echo '  UPDATE notary.ledger_packs'
\echo '     SET entries = overlay(entries PLACING convert_to(''5411250000.00'', ''UTF8'')'
\echo '                   FROM position(convert_to(''4911250000.00'', ''UTF8'') IN entries) FOR 13)'
\echo '   WHERE chain_id = <its chain> AND <its position> BETWEEN first_pos AND last_pos;'
\echo '  ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;'
\echo

-- The entry to rewrite: the last INSERT/UPDATE of that contract, where it is
-- stored, and the position of value_idr in its layout.
SELECT l.seq AS target_seq, l.chain_id AS target_chain, l.chain_pos AS target_pos,
       array_position(y.column_names, 'value_idr') AS value_col,
       l.row_image[array_position(y.column_names, 'value_idr')] AS old_value
  FROM notary.ledger l
  JOIN notary.layouts y USING (layout_id)
 WHERE y.schema_name = 'procurement' AND y.table_name = 'contracts'
   AND l.op IN ('INSERT', 'UPDATE')
   AND l.row_image[array_position(y.column_names, 'contract_no')] = 'SPK-014/DPUPR/2024'
 ORDER BY l.seq DESC LIMIT 1 \gset

\echo 'Entry' :target_seq 'has value_idr =' :old_value '; rewriting it.'
-- The demo stops (tests/run runs it) if the story's premise does not hold:
-- the entry is packed, and its pack holds the old value once.
SELECT count(*) = 1 AND bool_and(position(convert_to(:'old_value', 'UTF8') IN entries) > 0)
   AND bool_and(position(convert_to(:'old_value', 'UTF8') IN
                substring(entries FROM position(convert_to(:'old_value', 'UTF8') IN entries) + 1)) = 0)
       AS premise_holds
  FROM notary.ledger_packs
 WHERE chain_id = :target_chain AND :target_pos BETWEEN first_pos AND last_pos \gset
\if :premise_holds
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: the amendment is not in a pack that holds its value once'; END $$;
\endif
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
UPDATE notary.ledger_packs
   SET entries = overlay(entries PLACING convert_to('5411250000.00', 'UTF8')
                 FROM position(convert_to(:'old_value', 'UTF8') IN entries) FOR 13)
 WHERE chain_id = :target_chain AND :target_pos BETWEEN first_pos AND last_pos;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
\echo 'The ledger (the view) now shows the marked-up value for that entry:'
SELECT seq, op, row_image[:value_col] AS value_idr FROM notary.ledger WHERE seq = :target_seq;

SET ROLE bpk_auditor;
\echo
\echo 'The forged entry agrees with the table, so verify_table() is silent now:'
SELECT problem, row_key, seq, detail
  FROM notary.verify_table('procurement.contracts');

\echo 'But notary.verify() recomputes the hashes and reports altered_entry at'
\echo 'exactly that entry:'
\x on
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify();
\x off
-- the demo fails if verification did not find the tampering
SELECT count(*) FILTER (WHERE seq = :target_seq AND problem = 'altered_entry') = 1
   AND count(*) = 1 AS tampering_found
  FROM notary.verify() \gset
\if :tampering_found
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: verify() did not report exactly the entry edited in its pack'; END $$;
\endif

\echo 'And disabling the guard was itself recorded as DDL on the ledger:'
\x on
SELECT seq, op, logged_at, session_user_name, detail
  FROM notary.entries
 WHERE op = 'DDL' AND table_id IS NULL
 ORDER BY seq;
\x off
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (d) The history of one contract, and what the application can do'
\echo '================================================================'
\echo 'notary.history(''procurement.contracts'', ''SPK-014/DPUPR/2024''): every recorded'
\echo 'version, oldest first, with who changed it and from which application:'
SET ROLE bpk_auditor;
\x on
SELECT h.seq, h.op, h.current_user_name, h.application_name,
       h.before ->> 'value_idr' AS value_before,
       h.after ->> 'value_idr' AS value_after,
       h.after ->> 'finish_by' AS finish_by_after,
       CASE WHEN h.seq IN (SELECT v.seq FROM notary.verify() v WHERE v.seq IS NOT NULL)
            THEN 'ALTERED (see verify())' ELSE 'ok' END AS entry_check
  FROM notary.history('procurement.contracts', 'SPK-014/DPUPR/2024') h;
\x off
\echo 'history() shows what the ledger holds, forged entry included: always read'
\echo 'it together with verify().'
\echo

\echo 'The tender whose deadline moved (tender_id 102; times are canonical text, UTC):'
SELECT seq, op, current_user_name,
       before ->> 'bid_deadline' AS deadline_before,
       after ->> 'bid_deadline' AS deadline_after,
       after ->> 'status' AS status_after
  FROM notary.history('procurement.tenders', '102');
RESET ROLE;

\echo 'The application role cannot read, change or delete the ledger:'
SET ROLE procurement_app;
DO $$
BEGIN
  DELETE FROM notary.ledger;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'DELETE refused, SQLSTATE %: %', SQLSTATE, SQLERRM;
END
$$;
DO $$
BEGIN
  PERFORM notary.disable('procurement');
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'notary.disable() refused, SQLSTATE %: %', SQLSTATE, SQLERRM;
END
$$;
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (e) History rewritten with recomputed hashes'
\echo '================================================================'
\echo 'In (c), verify() caught the forged entry because its hash no longer matched'
\echo 'its content.  But the hash formulas are public (docs/format.md) and hold no'
\echo 'secret: a superuser can recompute the hash of the forged entry and of every'
\echo 'later entry of its chain, so that every hash and link is correct again.'
\echo 'demo/forge_history.py is such a tool, written for this demo: it computes'
\echo 'the hashes with the independent Python implementation of the format in'
\echo 'tests/format/check_format.py, and writes them as the superuser in place,'
\echo 'into the bytes of each pack (each entry ends with its 32-byte hash, and a'
\echo 'pack starts with the hash its first entry links to), after silencing the'
\echo 'event triggers (PostgreSQL fires no event trigger for ALTER EVENT TRIGGER,'
\echo 'so this time switching the guards off is not recorded):'
\echo
\echo '  ALTER EVENT TRIGGER notary_ddl_end DISABLE;'
\echo '  ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;'
\echo '  UPDATE notary.ledger_packs SET entries = <the same bytes, hashes recomputed>'
\echo '   WHERE <each pack of the chain from the forged entry on>;'
\echo '  ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;'
\echo '  ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;'
\echo '(and likewise UPDATE notary.ledger_entries SET prev_hash, entry_hash for any'
\echo 'entry of the chain stored as a single row)'
\echo
-- \! runs a shell command and does not expand psql variables: pass the entry
-- in the environment.  (From here on this session writes nothing more to the
-- ledger: its backend keeps its chain's old head hash in memory, so a new
-- entry of this session would not link to the rewritten chain.)
\setenv FORGE_SEQ :target_seq
\echo '$ python3 demo/forge_history.py' :target_seq
\! python3 demo/forge_history.py "$FORGE_SEQ"
-- psql goes on when a \! command fails: stop the demo (tests/run runs it) if
-- the tool failed, since the rest of the story depends on it.
DO $$
BEGIN
  IF EXISTS (SELECT FROM notary.verify()) THEN
    RAISE EXCEPTION 'demo: forge_history.py did not leave a consistent ledger';
  END IF;
END
$$;

SET ROLE bpk_auditor;
\echo
\echo 'Inside the database everything agrees now.  notary.verify(): no rows, intact:'
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify();

\echo 'notary.verify_table(''procurement.contracts''): the ledger agrees with the table:'
SELECT problem, row_key, seq, detail
  FROM notary.verify_table('procurement.contracts');

\echo 'And the history says the application itself wrote the marked-up value:'
SELECT seq, op, current_user_name, application_name,
       after ->> 'value_idr' AS value_after
  FROM notary.history('procurement.contracts', 'SPK-014/DPUPR/2024');

\echo 'Only what was published outside the database still tells the truth.  The'
\echo 'auditor reads back the checkpoint and the public key published after (a):'
\echo
\set published_checkpoint `cat :'checkpoint_file'`
\set published_key `cat :'public_key_file'`
\echo 'notary.verify_checkpoint(<published checkpoint>, <published public key>):'
\echo 'the signature is good, but the ledger no longer holds what the checkpoint'
\echo 'covers:'
\x on
SELECT problem, chain_id, position, detail
  FROM notary.verify_checkpoint(:'published_checkpoint',
                                :'published_key'::jsonb ->> 'public_key');
\x off
-- the demo fails if the published checkpoint did not expose the rewrite
SELECT count(*) FILTER (WHERE problem = 'history_rewritten') > 0 AS rewrite_found
  FROM notary.verify_checkpoint(:'published_checkpoint',
                                :'published_key'::jsonb ->> 'public_key') \gset
\if :rewrite_found
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: the published checkpoint did not report history_rewritten'; END $$;
\endif

\echo 'notary-verify, which trusts nothing in the database and recomputes every hash'
\echo 'and the Merkle root with its own C code, finds the same; the command that'
\echo 'said intact in (a) now exits with status 1 (findings):'
\echo '$ notary-verify --dbname ''user=bpk_auditor'' --checkpoint checkpoint.json --public-key public_key.json'
\! cd "$PUBLISH_DIR" && notary-verify --dbname 'user=bpk_auditor' --checkpoint checkpoint.json --public-key public_key.json 2>&1; echo "exit status $?"
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (f) Cutting off the newest entries, and the published checkpoint'
\echo '================================================================'
\echo 'Instead of rewriting entries, a superuser can delete the newest entries of'
\echo 'the chain, from the contract amendment on: the forged entry, the payment and'
\echo 'every DDL record of the tampering (event triggers silenced as in (e)).'
\echo
\echo 'The amendment was a transaction of its own, so its pack starts with it:'
\echo 'whole packs go, and single entries of the chain from there on if any.'
\echo
\echo '  ALTER EVENT TRIGGER notary_ddl_end DISABLE;'
\echo '  ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;'
\echo '  ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;'
\echo '  DELETE FROM notary.ledger_packs WHERE chain_id = <chain> AND first_pos >= <amendment>;'
\echo '  DELETE FROM notary.ledger_entries WHERE chain_id = <chain> AND chain_pos >= <amendment>;'
\echo '  ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;'
\echo '  ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;'
\echo '  ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;'
SELECT chain_id AS cut_chain, chain_pos AS cut_pos
  FROM notary.ledger WHERE seq = :target_seq \gset
SELECT count(*) = 1 AS cut_at_pack_start FROM notary.ledger_packs
 WHERE chain_id = :cut_chain AND first_pos = :cut_pos \gset
\if :cut_at_pack_start
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: the amendment does not start a pack'; END $$;
\endif
BEGIN;
ALTER EVENT TRIGGER notary_ddl_end DISABLE;
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
DELETE FROM notary.ledger_packs WHERE chain_id = :cut_chain AND first_pos >= :cut_pos;
DELETE FROM notary.ledger_entries WHERE chain_id = :cut_chain AND chain_pos >= :cut_pos;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;
COMMIT;

SET ROLE bpk_auditor;
\echo
\echo 'What is left is a shorter chain whose hashes and links are all correct, so'
\echo 'notary.verify() alone is silent:'
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify();

\echo 'The checkpoint published after (a) says the chain was cut:'
\x on
SELECT problem, chain_id, position, detail
  FROM notary.verify_checkpoint(:'published_checkpoint',
                                :'published_key'::jsonb ->> 'public_key');
\x off
-- the demo fails if the published checkpoint did not expose the cut
SELECT count(*) FILTER (WHERE problem = 'entries_missing') > 0 AS cut_found
  FROM notary.verify_checkpoint(:'published_checkpoint',
                                :'published_key'::jsonb ->> 'public_key') \gset
\if :cut_found
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: the published checkpoint did not report entries_missing'; END $$;
\endif
\echo 'And the tables no longer match the shortened history:'
SELECT e.table_name, v.problem, left(v.row_key, 60) AS row_key
  FROM notary.enrolled e, notary.verify_table(e.relid) v
 ORDER BY e.table_name, v.row_key;
RESET ROLE;

\echo
\echo 'Done.  Findings are rows, so an auditor can keep them, diff them, or'
\echo 'alert on them.  See README.md and docs/threat-model.md for what is'
\echo 'refused, recorded and detected, and what needs signed checkpoints.'
