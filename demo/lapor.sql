-- demo/lapor.sql -- pg_notary and personal data: a citizen complaint system.
--
-- Run by demo/run (bash demo/run), after demo/demo.sql, as superuser postgres
-- in a fresh database lapor_demo:  psql -X -v ON_ERROR_STOP=1 -f demo/lapor.sql
--
-- The story: a complaint system in the spirit of LAPOR! (citizens report poor
-- public service or suspected corruption) keeps its complaints in PostgreSQL,
-- under pg_notary.  The complainant's NIK, name and phone are classified as
-- personal data, so the ledger stores them salted.  A complainant asks to be
-- forgotten (UU 27/2022): the data protection officer erases her identity
-- from every ledger entry, while the handling of her complaints (status
-- changes, who closed them, when) stays in the ledger and every hash, the
-- checkpoint published before and the independent verifier still agree.
-- Then a superuser fakes a "redaction" by hand to make a status disappear,
-- and verification says so.  docs/redaction.md explains the mechanism.

\ir session.psql

-- The data subject of this story (fictitious).
\set nik '3273014509870002'
\set name 'Siti Rahmawati'
\set phone '081234567890'

\echo
\echo '================================================================'
\echo ' Part 2: personal data in a citizen complaint system (LAPOR!-style)'
\echo '================================================================'

-- ---------------------------------------------------------------------------
-- Roles (cluster-wide: created only if a previous run left none).
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lapor_owner') THEN
    CREATE ROLE lapor_owner NOLOGIN;     -- owns the schema (not a superuser)
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lapor_app') THEN
    CREATE ROLE lapor_app LOGIN;         -- the citizens' web application
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lapor_officer') THEN
    CREATE ROLE lapor_officer LOGIN;     -- an agency's complaint officer
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lapor_dpo') THEN
    CREATE ROLE lapor_dpo LOGIN;         -- the data protection officer (PDP)
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ombudsman') THEN
    CREATE ROLE ombudsman LOGIN;         -- an external auditor
  END IF;
END
$$;

CREATE SCHEMA lapor AUTHORIZATION lapor_owner;
SET ROLE lapor_owner;
CREATE TABLE lapor.complaints (
    id                integer PRIMARY KEY,
    complainant_nik   text,            -- NIK, 16 digits
    complainant_name  text,
    phone             text,
    region            text,            -- kabupaten/kota of the complainant
    agency            text NOT NULL,   -- the agency the complaint is about
    category          text NOT NULL,
    text              text NOT NULL,   -- the complaint itself
    status            text NOT NULL DEFAULT 'received',
    handled_by        text,            -- the unit handling it
    closed_at         timestamptz
);
GRANT USAGE ON SCHEMA lapor TO lapor_app, lapor_officer;
GRANT SELECT, INSERT, UPDATE ON lapor.complaints TO lapor_app;
GRANT SELECT, UPDATE (status, handled_by, closed_at) ON lapor.complaints TO lapor_officer;
RESET ROLE;

\echo
\echo '3. The DBA enables pg_notary for schema lapor and classifies the columns'
\echo '   BEFORE any complaint comes in: NIK, name and phone identify a person,'
\echo '   the region does together with other data; the rest is public.'
\echo
CREATE EXTENSION pg_notary;
SELECT notary.enable('lapor') AS tables_enrolled;
\echo '  SELECT notary.classify(''lapor.complaints'', ''complainant_nik'', ''identifier'');'
\echo '  SELECT notary.classify(''lapor.complaints'', ''complainant_name'', ''identifier'');'
\echo '  SELECT notary.classify(''lapor.complaints'', ''phone'', ''identifier'');'
\echo '  SELECT notary.classify(''lapor.complaints'', ''region'', ''quasi_identifier'');'
\echo '  ... and ''public'' for every other column.  A public column is never erased:'
\echo '  the application must keep identities out of the complaint text.'
SELECT count(*) AS columns_classified
  FROM (VALUES ('complainant_nik', 'identifier'), ('complainant_name', 'identifier'),
               ('phone', 'identifier'), ('region', 'quasi_identifier'),
               ('id', 'public'), ('agency', 'public'), ('category', 'public'), ('text', 'public'),
               ('status', 'public'), ('handled_by', 'public'), ('closed_at', 'public')) v(col, class)
 CROSS JOIN LATERAL notary.classify('lapor.complaints', v.col, v.class);

\echo 'notary.classification:'
SELECT c.column_name, c.class, c.personal
  FROM notary.classification c
  JOIN pg_attribute a ON a.attrelid = 'lapor.complaints'::regclass AND a.attname = c.column_name
 WHERE c.schema_name = 'lapor' AND c.table_name = 'complaints'
 ORDER BY a.attnum;

SET client_min_messages = warning;   -- quiet if a previous run granted them
GRANT notary_auditor TO ombudsman;
GRANT notary_redactor TO lapor_dpo;
SET client_min_messages = notice;
GRANT USAGE ON SCHEMA lapor TO ombudsman;

\echo
\echo '4. Citizens file complaints through the web application (role lapor_app,'
\echo '   application_name ''LAPOR web''); agency officers (role lapor_officer)'
\echo '   move them from received to in progress to closed.  Siti Rahmawati files'
\echo '   two complaints, one of them about suspected bid rigging in a tender.'
\echo
SET ROLE lapor_app;
SET application_name = 'LAPOR web';
INSERT INTO lapor.complaints (id, complainant_nik, complainant_name, phone, region, agency, category, text)
VALUES
  (1, :'nik', :'name', :'phone', 'Kota Bandung',
   'Dinas Pekerjaan Umum dan Penataan Ruang', 'Dugaan korupsi',
   'Pemenang tender Rehabilitasi Jalan Soekarno-Hatta Km 3-5 sudah beredar sebelum batas waktu penawaran; diduga ada pengaturan tender.'),
  (2, '3404011203800005', 'Budi Santoso', '085712345678', 'Kabupaten Sleman',
   'Dinas Kependudukan dan Pencatatan Sipil', 'Pelayanan publik',
   'KTP-el belum dicetak tiga bulan setelah perekaman, tanpa penjelasan.'),
  (3, :'nik', :'name', :'phone', 'Kota Bandung',
   'Dinas Perhubungan', 'Infrastruktur',
   'Lampu penerangan jalan di Jalan Soekarno-Hatta padam sejak dua bulan.');
RESET application_name;
RESET ROLE;

SET ROLE lapor_officer;
SET application_name = 'LAPOR instansi';
UPDATE lapor.complaints SET status = 'in progress', handled_by = 'Inspektorat Daerah' WHERE id = 1;
UPDATE lapor.complaints SET status = 'in progress', handled_by = 'Disdukcapil Sleman' WHERE id = 2;
UPDATE lapor.complaints SET status = 'closed', closed_at = '2024-05-14 10:00+07' WHERE id = 2;
UPDATE lapor.complaints SET status = 'in progress', handled_by = 'Dishub, bidang PJU' WHERE id = 3;
UPDATE lapor.complaints SET status = 'closed', closed_at = '2024-06-03 15:30+07' WHERE id = 1;
RESET application_name;
RESET ROLE;

\echo 'The complaints as the application sees them:'
SELECT id, complainant_name, agency, category, status, handled_by FROM lapor.complaints ORDER BY id;

\echo
\echo '5. The history of complaint 1, as the auditor (role ombudsman) reads it'
\echo '   with notary.history(''lapor.complaints'', ''1''); times in UTC:'
SET ROLE ombudsman;
SELECT seq, op, current_user_name AS who,
       after ->> 'complainant_nik' AS complainant_nik,
       after ->> 'complainant_name' AS complainant_name,
       after ->> 'status' AS status, after ->> 'handled_by' AS handled_by,
       after ->> 'closed_at' AS closed_at
  FROM notary.history('lapor.complaints', '1');

\echo 'In the ledger each personal value is stored with its own 16-byte random'
\echo 'salt (row_salts: 4 personal columns x 16 = 64 bytes), and only the salted'
\echo 'commitment enters the hash.  Once value and salt are erased, nobody can'
\echo 'test a guessed NIK against what is left (a NIK has only ~10^10 values).'
SELECT l.seq, l.op, octet_length(l.row_salts) AS row_salts_bytes
  FROM notary.ledger l
 WHERE l.seq IN (SELECT seq FROM notary.history('lapor.complaints', '1'))
 ORDER BY l.seq;

\echo 'The auditor takes a signed checkpoint and publishes it, with the public key:'
SELECT notary.checkpoint() AS held_checkpoint \gset
SELECT :'held_checkpoint'::jsonb ->> 'checkpoint_id' AS checkpoint_id,
       :'held_checkpoint'::jsonb ->> 'entries' AS entries_covered;
SELECT :'held_checkpoint' \g (format=unaligned tuples_only=on) :checkpoint_file
SELECT row_to_json(k) FROM notary.public_key() k \g (format=unaligned tuples_only=on) :public_key_file
\echo 'Published:' :checkpoint_file 'and' :public_key_file
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (g) Siti Rahmawati asks to be forgotten'
\echo '================================================================'
\echo 'Under UU 27/2022 she asks LAPOR! to erase her personal data (ticket'
\echo '#PDP-2024-0117).  Her complaints stay: they are about public bodies.'
\echo
SET ROLE ombudsman;
\echo 'Ledger entries and export lines (notary.export()) that contain her NIK,'
\echo 'name or phone (both of her complaints, every version):'
SELECT v.what,
       (SELECT count(*) FROM notary.ledger l WHERE strpos(l::text, v.value) > 0) AS ledger_entries,
       (SELECT count(*) FROM notary.export() x WHERE strpos(x, v.value) > 0) AS export_lines
  FROM (VALUES ('NIK', :'nik'), ('name', :'name'), ('phone', :'phone')) v(what, value);
RESET ROLE;

\echo 'Erasing from the ledger is reserved to members of notary_redactor.  The'
\echo 'application tries (caught and printed, since this script stops on errors):'
SET ROLE lapor_app;
DO $$
BEGIN
  PERFORM notary.redact('lapor.complaints', '{1}', '{complainant_nik}', 'test');
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'refused, SQLSTATE %: %', SQLSTATE, SQLERRM;
END
$$;
RESET ROLE;

\echo
\echo 'The data protection officer (role lapor_dpo, member of notary_redactor)'
\echo 'erases the data subject: every ledger entry, in every enrolled table, whose'
\echo 'identifier column complainant_nik holds her NIK, and the whole history of'
\echo 'those rows, loses every personal column (NIK, name, phone, region):'
\echo
\echo '  SELECT notary.redact_subject(''complainant_nik'', ''<NIK>'','
\echo '         ''Permintaan penghapusan data pribadi, UU 27/2022, tiket #PDP-2024-0117'');'
SET ROLE lapor_dpo;
SELECT notary.redact_subject('complainant_nik', :'nik',
         'Permintaan penghapusan data pribadi, UU 27/2022, tiket #PDP-2024-0117') AS values_erased;

\echo 'notary.redactions: who, when, why, which entries and columns (never the values):'
\x on
SELECT seq, logged_at, current_user_name, schema_name, table_name, columns, entries, reason
  FROM notary.redactions;
\x off
RESET ROLE;

\echo 'The redaction erases the ledger''s copies, not the live rows: the application'
\echo 'erases her identity from its own table (recorded like any change, with no'
\echo 'personal value left in it):'
\echo '  UPDATE lapor.complaints SET complainant_nik = NULL, complainant_name = NULL,'
\echo '         phone = NULL, region = NULL WHERE complainant_nik = ''<NIK>'';'
SET ROLE lapor_app;
SET application_name = 'LAPOR web';
UPDATE lapor.complaints
   SET complainant_nik = NULL, complainant_name = NULL, phone = NULL, region = NULL
 WHERE complainant_nik = :'nik';
RESET application_name;
RESET ROLE;

\echo
\echo '================================================================'
\echo ' (h) Her identity is gone; the handling of her complaints is not'
\echo '================================================================'
SET ROLE ombudsman;
\echo 'Ledger entries and export lines that still contain her NIK, name or phone:'
SELECT v.what,
       (SELECT count(*) FROM notary.ledger l WHERE strpos(l::text, v.value) > 0) AS ledger_entries,
       (SELECT count(*) FROM notary.export() x WHERE strpos(x, v.value) > 0) AS export_lines
  FROM (VALUES ('NIK', :'nik'), ('name', :'name'), ('phone', :'phone')) v(what, value);

\echo 'The history of complaint 1: who filed, who moved it, the statuses, who'
\echo 'handled it and when it was closed are all still there:'
SELECT seq, op, current_user_name AS who,
       after ->> 'complainant_nik' AS complainant_nik,
       after ->> 'complainant_name' AS complainant_name,
       after ->> 'region' AS region,
       after ->> 'status' AS status, after ->> 'handled_by' AS handled_by,
       after ->> 'closed_at' AS closed_at
  FROM notary.history('lapor.complaints', '1');

\echo 'In each entry the REDACT entry names (complaints 1 and 3), the 4 personal'
\echo 'values are erased, their salts zeroed, and their commitments kept in'
\echo '`redacted` (4 records of 34 bytes), so every hash still holds:'
SELECT l.seq, l.op, l.row_image[1] AS complaint,
       l.row_salts = decode(repeat('00', 64), 'hex') AS salts_zeroed,
       octet_length(l.redacted) / 34 AS redacted_columns
  FROM notary.ledger l
 WHERE l.seq IN (SELECT jsonb_array_elements_text(r.entries)::bigint FROM notary.redactions r)
 ORDER BY l.seq;

\echo 'Only her rows were touched; complaint 2 (another citizen) keeps its identity:'
SELECT c.id,
       (SELECT count(*) FROM notary.history('lapor.complaints', c.id::text)) AS entries,
       (SELECT count(*) FROM notary.history('lapor.complaints', c.id::text) h
         WHERE h.after ->> 'complainant_nik' IS NOT NULL) AS entries_with_nik
  FROM generate_series(1, 3) c(id);

\echo
\echo 'notary.verify() recomputes every hash and link; no rows = intact:'
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify();
\echo 'notary.verify_table(''lapor.complaints''): the table agrees with its history'
\echo '(personal columns are left out of that comparison); no rows:'
SELECT problem, row_key, seq, detail FROM notary.verify_table('lapor.complaints');
\echo 'The checkpoint published BEFORE the redaction still verifies: not one hash'
\echo 'changed.  notary.verify_checkpoint(<published checkpoint>, <public key>), no rows:'
\set published_checkpoint `cat :'checkpoint_file'`
\set published_key `cat :'public_key_file'`
SELECT problem, chain_id, position, detail
  FROM notary.verify_checkpoint(:'published_checkpoint',
                                :'published_key'::jsonb ->> 'public_key');
\echo 'And the independent verifier, with its own code; exit status 0 = intact:'
\echo '$ notary-verify --dbname ''user=ombudsman'' --checkpoint checkpoint.json --public-key public_key.json'
\! cd "$PUBLISH_DIR" && notary-verify --dbname 'user=ombudsman' --checkpoint checkpoint.json --public-key public_key.json 2>&1; echo "exit status $?"
RESET ROLE;

\echo
\echo 'The erased values are gone from the ledger as SQL sees it, but the old row'
\echo 'versions are still in the files of the tables that store the entries'
\echo '(notary.ledger_packs, where a redaction rewrote her entries'' packs, and'
\echo 'notary.ledger_entries).  VACUUM removes them, yet PostgreSQL does not wipe'
\echo 'the space it frees, so their bytes can stay in the files until overwritten;'
\echo 'VACUUM FULL writes new files.  Run both after a redaction.'
\echo 'Is her NIK in the files?  (As superuser, after CHECKPOINT so they are current.)'
-- every file of both tables: heap and TOAST
CREATE TEMP VIEW ledger_files AS
  SELECT pg_relation_filepath(c.oid) AS path
    FROM pg_class c
   WHERE c.oid IN ('notary.ledger_packs'::regclass, 'notary.ledger_entries'::regclass)
      OR c.oid IN (SELECT reltoastrelid FROM pg_class
                    WHERE oid IN ('notary.ledger_packs'::regclass, 'notary.ledger_entries'::regclass));
CHECKPOINT;
SELECT bool_or(position(convert_to(:'nik', 'UTF8') IN pg_read_binary_file(path)) > 0)
       AS in_file_0 FROM ledger_files \gset
VACUUM notary.ledger_packs, notary.ledger_entries;
CHECKPOINT;
SELECT bool_or(position(convert_to(:'nik', 'UTF8') IN pg_read_binary_file(path)) > 0)
       AS in_file_1 FROM ledger_files \gset
VACUUM FULL notary.ledger_packs, notary.ledger_entries;
CHECKPOINT;
SELECT bool_or(position(convert_to(:'nik', 'UTF8') IN pg_read_binary_file(path)) > 0)
       AS in_file_2 FROM ledger_files \gset
SELECT * FROM (VALUES ('right after the redaction', :'in_file_0'::boolean),
                      ('after VACUUM', :'in_file_1'::boolean),
                      ('after VACUUM FULL', :'in_file_2'::boolean)) v(ledger_files, hold_her_nik);
DROP VIEW ledger_files;
\echo 'Copies also remain in WAL (and any WAL archive) and in backups and dumps'
\echo 'taken before the redaction, until they expire: see docs/redaction.md.'

\echo
\echo '================================================================'
\echo ' (i) A forged "redaction": a status made to disappear'
\echo '================================================================'
\echo 'Someone wants to blur how the corruption complaint (1) was handled.  A'
\echo 'superuser switches the guards of the ledger''s tables off and erases the'
\echo 'status ''closed'' of the officer''s closing entry the way a redaction would.'
\echo 'Status is not personal, so the entry (format 2) hashed it as it is: a'
\echo 'redaction would *seal* it, value set to NULL and a sealed record added to'
\echo '`redacted`, the seal itself going into the REDACT entry.  Sloppier, they'
\echo 'also erase the status ''in progress'' of the officer''s entry before it,'
\echo 'with a made-up commitment in its place.'
\echo 'No REDACT entry records either.  The entries are packed, so the edit is'
\echo 'made in the bytes of their packs (the layout of src/pack.c), by'
\echo 'demo/forge_history.py, the attacker''s tool of part 1:'
\echo
\echo '  ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;'
\echo '  ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;'
\echo '  $ python3 demo/forge_history.py erase <entry> <status column> <commitment>'
\echo '    (in the entry''s pack: the value becomes NULL, the record is appended to'
\echo '    its `redacted` field; a single entry: UPDATE notary.ledger_entries)'
\echo '  ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;'
\echo '  ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;'
\echo

-- The two entries (the officer's), the position of status, the value erased.
SELECT min(h.seq) FILTER (WHERE h.after ->> 'status' = 'closed') AS closed_seq,
       min(h.seq) FILTER (WHERE h.after ->> 'status' = 'in progress') AS progress_seq
  FROM notary.history('lapor.complaints', '1') h
 WHERE h.current_user_name = 'lapor_officer' \gset
SELECT array_position(y.column_names, 'status') AS status_col,
       l.row_image[array_position(y.column_names, 'status')] AS closed_status
  FROM notary.ledger l JOIN notary.layouts y USING (layout_id)
 WHERE l.seq = :closed_seq \gset
-- commitment(value, no salt): given the true commitment of a column the entry
-- hashed as it is, forge_history.py seals it as redact() would
-- (tests/format/check_format.py implements docs/format.md in Python).
\set commitment `python3 -B -c 'import sys; sys.path.insert(0, "tests/format"); import check_format as f; print(f.column_commitment(sys.argv[1]).hex())' :'closed_status'`
\set forged_1 'Entry ' :closed_seq ': status ' :closed_status ' -> NULL, commitment ' :commitment
\set forged_2 'Entry ' :progress_seq ': status in progress -> NULL, commitment 32 zero bytes'
\echo :forged_1
\echo :forged_2
ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
-- \! does not expand psql variables: pass them in the environment
\setenv FORGE_CLOSED :closed_seq
\setenv FORGE_PROGRESS :progress_seq
\setenv FORGE_COL :status_col
\setenv FORGE_COMMITMENT :commitment
\! python3 demo/forge_history.py erase "$FORGE_CLOSED" "$FORGE_COL" "$FORGE_COMMITMENT"
\! python3 demo/forge_history.py erase "$FORGE_PROGRESS" "$FORGE_COL" 0000000000000000000000000000000000000000000000000000000000000000
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;
-- psql goes on when a \! command fails: stop the demo (tests/run runs it)
-- unless both values are erased, as the story says
SELECT count(*) FILTER (WHERE row_image[:status_col] IS NULL AND redacted IS NOT NULL) = 2 AS forged
  FROM notary.ledger WHERE seq IN (:closed_seq, :progress_seq) \gset
\if :forged
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: forge_history.py did not erase the two statuses'; END $$;
\endif

SET ROLE ombudsman;
\echo
\echo 'The history no longer shows the officer taking it up or closing it:'
SELECT seq, op, current_user_name AS who,
       after ->> 'status' AS status, after ->> 'handled_by' AS handled_by,
       after ->> 'closed_at' AS closed_at
  FROM notary.history('lapor.complaints', '1');
\echo 'But notary.verify() knows that every erased column must be named by a later'
\echo 'REDACT entry, and a sealed entry must have its seal there: forged_redaction'
\echo 'for both entries; the made-up commitment was never part of the entry''s'
\echo 'hash: altered_entry for the second one.'
\x on
SELECT seq, chain_id, chain_pos, problem, detail FROM notary.verify() ORDER BY seq, problem;
\x off
-- the demo fails unless verify() reports exactly that
SELECT coalesce(string_agg(v.problem || '@' || v.what, ',' ORDER BY v.problem, v.what), '')
       = 'altered_entry@in progress,forged_redaction@closed,forged_redaction@in progress' AS forgery_found
  FROM (SELECT problem, CASE seq WHEN :closed_seq THEN 'closed' WHEN :progress_seq THEN 'in progress'
                                 ELSE coalesce(seq::text, '-') END AS what
          FROM notary.verify()) v \gset
\if :forgery_found
\else
  DO $$ BEGIN RAISE EXCEPTION 'demo: verify() did not report the forged redactions as expected'; END $$;
\endif
\echo 'notary-verify finds the same with its own code (exit status 1 = findings):'
\echo '$ notary-verify --dbname ''user=ombudsman'' --checkpoint checkpoint.json --public-key public_key.json'
\! cd "$PUBLISH_DIR" && notary-verify --dbname 'user=ombudsman' --checkpoint checkpoint.json --public-key public_key.json 2>&1; echo "exit status $?"
\echo 'And switching the guard off was recorded as DDL on the ledger:'
SELECT seq, op, session_user_name, detail
  FROM notary.entries
 WHERE op = 'DDL' AND table_id IS NULL
 ORDER BY seq;
RESET ROLE;

\echo
\echo 'Done.  A redaction forgets the person, not the handling: every hash, the'
\echo 'published checkpoint and the independent verifier agree before and after,'
\echo 'and an erasure that no REDACT entry records is reported.  See'
\echo 'docs/redaction.md.'
