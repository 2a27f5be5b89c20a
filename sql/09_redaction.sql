--
-- 09_redaction: classification of personal columns, notary.redact() and
-- notary.redact_subject().  A redaction erases values from the ledger and
-- keeps their commitments: verify() and verify_table() stay empty, the
-- values are found nowhere, every refusal changes nothing, only redactors
-- may redact, and an erasure done by hand is found (forged_redaction).
-- Runs in its own database: it ends by forging the ledger.
--
CREATE DATABASE notary_redaction;
\c notary_redaction
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
\i sql/include/expect_error.sql
-- the ledger's size, to show that a refusal appended nothing
CREATE FUNCTION public.ledger_size() RETURNS text
LANGUAGE sql AS $$ SELECT count(*) || ' entries, last ' || coalesce(max(seq), 0) FROM notary.ledger $$;
CREATE ROLE regress_notary_redactor IN ROLE notary_redactor;
CREATE ROLE regress_notary_reader IN ROLE notary_auditor;
CREATE ROLE regress_notary_nobody;

CREATE SCHEMA lapor;
CREATE TABLE lapor.complaints (id int PRIMARY KEY, nik text, name text,
  birth_date date, region text, body text);
CREATE TABLE lapor.replies (id int PRIMARY KEY, nik text, reply text);
CREATE TABLE lapor.visits (name text, place text, note text);   -- no primary key
CREATE TABLE public.loose (id int PRIMARY KEY, nik text);        -- not enrolled
-- findings of verify_table() for every table of schema lapor
CREATE FUNCTION public.table_findings() RETURNS TABLE (tbl text, problem text, row_key text)
LANGUAGE sql AS $$
  SELECT c.relname::text, f.problem, f.row_key
    FROM pg_class c, notary.verify_table(c.oid) f
   WHERE c.relnamespace = 'lapor'::regnamespace AND c.relkind = 'r'
   ORDER BY 1, 2, 3;
$$;
-- the redactor and the auditor may name the application's tables
GRANT USAGE ON SCHEMA lapor TO regress_notary_redactor, regress_notary_reader;
INSERT INTO lapor.complaints VALUES
  (1, '3171234567890001', 'Ayu Lestari', '1990-01-02', 'Depok', 'jalan rusak'),
  (2, '3171234567890002', 'Bima Sakti', '1985-05-06', 'Depok', 'lampu mati'),
  (3, '3171234567890003', 'Citra Dewi', '1979-09-10', 'Bogor', 'banjir');
INSERT INTO lapor.replies VALUES (1, '3171234567890002', 'sudah dicek'), (2, '3171234567890002', 'selesai'),
  (3, '3171234567890003', 'diteruskan');
INSERT INTO lapor.visits VALUES ('Eka Putra', 'Depok', 'pertama'), ('Fajar Nugraha', 'Depok', 'pertama');
SELECT notary.enable('lapor');

-- changes captured before anything is classified: their images hold the
-- values unsalted, and the UPDATEs' old_digest covers them
UPDATE lapor.complaints SET region = 'Depok Baru' WHERE id = 1;
UPDATE lapor.complaints SET body = 'jalan rusak parah', name = 'Ayu Lestari Putri' WHERE id = 1;
UPDATE lapor.complaints SET body = 'lampu mati lagi' WHERE id = 2;
UPDATE lapor.visits SET note = 'kedua' WHERE name = 'Eka Putra';
UPDATE lapor.visits SET note = 'pertama' WHERE name = 'Eka Putra';  -- like Fajar's row but the name
SELECT count(*) FILTER (WHERE row_salts IS NOT NULL) AS salted_entries FROM notary.ledger;

----------------------------------------------------------------------------
-- classify: every refusal, with its SQLSTATE; nothing is recorded
----------------------------------------------------------------------------
SELECT ledger_size() AS before \gset
SELECT notary.classify('lapor.complaints', 'nik', 'secret');
SELECT notary.classify('lapor.complaints', 'no_such_column', 'identifier');
SELECT notary.classify('public.loose', 'nik', 'identifier');
SET ROLE regress_notary_reader;
SELECT notary.classify('lapor.complaints', 'nik', 'identifier');
RESET ROLE;
SET ROLE regress_notary_redactor;
SELECT notary.classify('lapor.complaints', 'nik', 'identifier');
RESET ROLE;
SELECT expect_error($$SELECT notary.classify('lapor.complaints', 'nik', 'secret')$$) AS unknown_class,
       expect_error($$SELECT notary.classify('lapor.complaints', 'no_such_column', 'identifier')$$) AS missing_column,
       expect_error($$SELECT notary.classify('public.loose', 'nik', 'identifier')$$) AS not_enrolled;
SET ROLE regress_notary_reader;
SELECT expect_error($$SELECT notary.classify('lapor.complaints', 'nik', 'identifier')$$) AS auditor;
RESET ROLE;
SET ROLE regress_notary_nobody;
SELECT expect_error($$SELECT notary.classify('lapor.complaints', 'nik', 'identifier')$$) AS nobody;
RESET ROLE;
SELECT ledger_size() = :'before' AS ledger_unchanged,
       (SELECT count(*) FROM notary.columns) AS classified;

----------------------------------------------------------------------------
-- classify: a CLASSIFY entry; a new baseline when the personal columns
-- change, with a 16-byte salt per personal column; none otherwise
----------------------------------------------------------------------------
SELECT max(seq) AS s FROM notary.ledger \gset
SELECT notary.classify('lapor.complaints', 'nik', 'identifier');
SELECT op, count(*), min(length(row_salts)) AS salt_bytes, max(length(row_salts)) AS max_salt_bytes
  FROM notary.ledger WHERE seq > :s GROUP BY op ORDER BY op;
SELECT detail FROM notary.ledger WHERE seq > :s AND op = 'CLASSIFY';
SELECT max(seq) AS s FROM notary.ledger \gset
SELECT notary.classify('lapor.complaints', 'name', 'identifier'),
       notary.classify('lapor.complaints', 'birth_date', 'quasi_identifier');
SELECT op, count(*), min(length(row_salts)) AS salt_bytes, max(length(row_salts)) AS max_salt_bytes
  FROM notary.ledger WHERE seq > :s GROUP BY op ORDER BY op;
-- the baseline's layout names exactly the personal columns
SELECT y.column_names, y.personal_columns
  FROM notary.layouts y WHERE y.layout_id = (SELECT max(layout_id) FROM notary.layouts
                                               WHERE table_name = 'complaints');
-- public, or another personal class for a personal column: the personal
-- set is the same, so a CLASSIFY entry and no baseline
SELECT max(seq) AS s FROM notary.ledger \gset
SELECT notary.classify('lapor.complaints', 'region', 'public'),
       notary.classify('lapor.complaints', 'birth_date', 'sensitive');
SELECT op, detail FROM notary.ledger WHERE seq > :s ORDER BY seq;
-- the same class again: nothing at all
SELECT max(seq) AS s FROM notary.ledger \gset
SELECT notary.classify('lapor.complaints', 'region', 'public');
SELECT count(*) AS new_entries FROM notary.ledger WHERE seq > :s;
SELECT notary.classify('lapor.replies', 'nik', 'identifier'),
       notary.classify('lapor.visits', 'name', 'identifier');
SELECT table_name, column_name, class, personal, classified_by = session_user AS by_me
  FROM notary.classification ORDER BY table_name, column_name;
-- salts only where there are personal columns: every image since the
-- classification, never before it; fresh ones for each image
SELECT max(seq) AS s FROM notary.ledger \gset
INSERT INTO lapor.complaints VALUES (4, '3171234567890004', 'Dewi Sartika', '2000-03-04', 'Depok', 'sampah');
UPDATE lapor.complaints SET body = 'sampah menumpuk' WHERE id = 4;
SELECT op, length(row_salts) AS salt_bytes FROM notary.ledger WHERE seq > :s ORDER BY seq;
SELECT count(DISTINCT row_salts) AS distinct_salts FROM notary.ledger WHERE seq > :s;
SELECT y.table_name, count(*) AS images,
       count(*) FILTER (WHERE coalesce(length(l.row_salts), 0) = 16 * coalesce(array_length(y.personal_columns, 1), 0)) AS salts_match
  FROM notary.ledger l JOIN notary.layouts y USING (layout_id)
 GROUP BY y.table_name ORDER BY 1;
-- classification changed nothing verify() or verify_table() could object to
SELECT count(*) AS findings FROM notary.verify();
SELECT * FROM table_findings();

----------------------------------------------------------------------------
-- redact one row: its whole history, values and salts erased, the
-- commitments kept; verification unchanged; the act recorded
----------------------------------------------------------------------------
SELECT array_agg(seq ORDER BY seq) AS history_seqs FROM notary.history('lapor.complaints', '1') \gset
SELECT count(*) AS history_entries FROM notary.history('lapor.complaints', '1');
SET ROLE regress_notary_redactor;
SELECT notary.redact('lapor.complaints', '{1}', '{nik,name}', 'erasure request 2026/17') AS erased;
RESET ROLE;
SELECT count(*) AS findings FROM notary.verify();
SELECT * FROM table_findings();
-- the values are gone from the ledger, its readable views and its export
SELECT count(*) FILTER (WHERE row_image::text ~ '3171234567890001|Ayu Lestari') AS in_images,
       count(*) FILTER (WHERE detail::text ~ '3171234567890001|Ayu Lestari') AS in_details,
       count(*) FILTER (WHERE position(convert_to('3171234567890001', 'UTF8') IN coalesce(row_salts, '')) > 0
                           OR position(convert_to('Ayu Lestari', 'UTF8') IN coalesce(row_salts, '')) > 0) AS in_salts
  FROM notary.ledger;
SELECT count(*) AS in_entries_view FROM notary.entries WHERE row_data::text ~ '3171234567890001|Ayu Lestari';
SELECT count(*) AS in_export FROM notary.export() AS e(line) WHERE line ~ '3171234567890001|Ayu Lestari';
SELECT count(*) AS in_history FROM notary.history('lapor.complaints', '1') h
 WHERE h::text ~ '3171234567890001|Ayu Lestari';
-- the other rows keep theirs
SELECT count(*) > 0 AS others_kept FROM notary.ledger WHERE row_image::text LIKE '%3171234567890002%';
-- every entry of the history: both values NULL, a 34-byte record each;
-- the salts of the personal ones among them zeroed, birth_date's kept
-- (salts: before any classification none, then nik's, then nik, name and
-- birth_date's)
SELECT l.op, l.row_image[2] AS nik, l.row_image[3] AS name, length(l.redacted) AS redacted_bytes,
       length(l.row_salts) AS salt_bytes,
       substring(l.row_salts FROM 1 FOR 32) = substring(decode(repeat('00', 32), 'hex') FROM 1 FOR length(l.row_salts)) AS erased_salts_zero,
       substring(l.row_salts FROM 33 FOR 16) <> decode(repeat('00', 16), 'hex') AS birth_date_salt_kept
  FROM notary.ledger l WHERE l.seq = ANY (:'history_seqs'::bigint[]) ORDER BY l.seq;
SELECT count(*) AS redacted_entries_outside_history
  FROM notary.ledger WHERE redacted IS NOT NULL AND NOT seq = ANY (:'history_seqs'::bigint[]);
-- the history shows the erased columns as null
SELECT op, before, after FROM notary.history('lapor.complaints', '1');
-- who, when, why, which entries and columns: never the value
SELECT session_user_name = session_user AS session_ok, current_user_name, schema_name, table_name,
       columns, entries = to_jsonb(:'history_seqs'::bigint[]) AS entries_are_history, reason,
       logged_at IS NOT NULL AS has_time
  FROM notary.redactions;
SELECT count(*) AS value_in_redactions FROM notary.redactions r WHERE r::text ~ '3171234567890001|Ayu Lestari';
-- the entries written before nik and name were classified hashed them as
-- they are (format 2): they are sealed, and the REDACT entry carries a seal
-- for each of them, and for no other (docs/format.md, "Sealed columns")
SELECT op, detail - 'entries' - 'sealed' AS detail, detail->'entries' = to_jsonb(:'history_seqs'::bigint[]) AS entries_are_history,
       (SELECT array_agg(k::bigint ORDER BY k::bigint) FROM jsonb_object_keys(detail->'sealed') k)
       = (SELECT array_agg(seq ORDER BY seq) FROM notary.ledger
           WHERE seq = ANY (:'history_seqs'::bigint[]) AND encode(redacted, 'hex') ~ '^([0-9a-f]{68})*8') AS seals_are_sealed_entries,
       (SELECT count(*) FROM jsonb_object_keys(detail->'sealed')) AS seals
  FROM notary.ledger WHERE seq = (SELECT max(seq) FROM notary.ledger);

----------------------------------------------------------------------------
-- redact: every refusal, with its SQLSTATE; the ledger unchanged
----------------------------------------------------------------------------
SELECT ledger_size() AS before \gset
SET ROLE regress_notary_redactor;
SELECT notary.redact('lapor.complaints', '{2}', '{region}', 'r');       -- public
SELECT notary.redact('lapor.complaints', '{2}', '{body}', 'r');         -- unclassified
SELECT notary.redact('lapor.complaints', '{2}', '{no_such_column}', 'r');
SELECT notary.redact('public.loose', '{1}', '{nik}', 'r');
SELECT notary.redact('lapor.complaints', '{999}', '{nik}', 'r');
SELECT notary.redact('lapor.complaints', '{1}', '{nik,name}', 'again');  -- nothing left
SELECT notary.redact('lapor.complaints', '{2}', '{nik}', '');
SELECT notary.redact('lapor.complaints', '{2}', '{nik}', '   ');
SELECT notary.redact('lapor.complaints', '{2}', '{nik,NULL}', 'r');
SELECT notary.redact('lapor.complaints', '{}', '{nik}', 'r');
SELECT notary.redact('lapor.complaints', '{2,3}', '{nik}', 'r');
SELECT notary.redact('lapor.complaints', '{2}', '{}', 'r');
SELECT notary.redact('lapor.complaints', '{2}', '{nik}', NULL) IS NULL AS strict_null;
SELECT expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{region}', 'r')$$) AS public_column,
       expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{body}', 'r')$$) AS unclassified_column;
SELECT expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{no_such_column}', 'r')$$) AS missing_column,
       expect_error($$SELECT notary.redact('public.loose', '{1}', '{nik}', 'r')$$) AS not_enrolled,
       expect_error($$SELECT notary.redact('lapor.complaints', '{999}', '{nik}', 'r')$$) AS no_such_row;
SELECT expect_error($$SELECT notary.redact('lapor.complaints', '{1}', '{nik,name}', 'again')$$) AS twice,
       expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{nik}', '')$$) AS empty_reason,
       expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{nik,NULL}', 'r')$$) AS null_column;
SELECT expect_error($$SELECT notary.redact('lapor.complaints', '{2,3}', '{nik}', 'r')$$) AS two_keys,
       expect_error($$SELECT notary.redact('lapor.complaints', '{}', '{nik}', 'r')$$) AS no_key,
       expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{}', 'r')$$) AS no_column;
RESET ROLE;
-- only notary_redactor's members may redact: not the auditor, not others
SET ROLE regress_notary_reader;
SELECT notary.redact('lapor.complaints', '{2}', '{nik}', 'r');
SELECT expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{nik}', 'r')$$) AS auditor,
       expect_error($$SELECT notary.redact_subject('nik', '3171234567890002', 'r')$$) AS auditor_subject;
RESET ROLE;
SET ROLE regress_notary_nobody;
SELECT expect_error($$SELECT notary.redact('lapor.complaints', '{2}', '{nik}', 'r')$$) AS nobody,
       expect_error($$SELECT notary.redact_subject('nik', '3171234567890002', 'r')$$) AS nobody_subject;
RESET ROLE;
SELECT ledger_size() = :'before' AS ledger_unchanged,
       (SELECT count(*) FROM notary.ledger WHERE redacted IS NOT NULL) AS redacted_entries;

----------------------------------------------------------------------------
-- redact_subject: one person (a NIK) in every enrolled table that has an
-- identifier column of that name, every personal column of their rows
----------------------------------------------------------------------------
SELECT ledger_size() AS before \gset
SET ROLE regress_notary_redactor;
SELECT notary.redact_subject('region', 'Depok', 'r');                    -- not an identifier
SELECT notary.redact_subject('nik', '3171000000000000', 'r');            -- nobody
SELECT notary.redact_subject('nik', '3171234567890002', ' ');
SELECT expect_error($$SELECT notary.redact_subject('region', 'Depok', 'r')$$) AS not_identifier,
       expect_error($$SELECT notary.redact_subject('nik', '3171000000000000', 'r')$$) AS nobody,
       expect_error($$SELECT notary.redact_subject('nik', '3171234567890002', ' ')$$) AS empty_reason;
RESET ROLE;
SELECT ledger_size() = :'before' AS ledger_unchanged;
SET ROLE regress_notary_redactor;
SELECT notary.redact_subject('nik', '3171234567890002', 'erasure request 2026/18') AS erased;
-- again: the value is nowhere any more
SELECT notary.redact_subject('nik', '3171234567890002', 'again');
SELECT expect_error($$SELECT notary.redact_subject('nik', '3171234567890002', 'again')$$) AS twice;
RESET ROLE;
SELECT count(*) AS findings FROM notary.verify();
SELECT * FROM table_findings();
SELECT count(*) FILTER (WHERE row_image::text ~ '3171234567890002|Bima Sakti|1985-05-06') AS in_images,
       count(*) FILTER (WHERE detail::text ~ '3171234567890002|Bima Sakti|1985-05-06') AS in_details
  FROM notary.ledger;
SELECT count(*) AS in_export FROM notary.export() AS e(line) WHERE line ~ '3171234567890002|Bima Sakti|1985-05-06';
SELECT table_name, (SELECT array_agg(c ORDER BY c) FROM jsonb_array_elements_text(columns) c) AS columns,
       jsonb_array_length(entries) AS entries, reason
  FROM notary.redactions WHERE reason = 'erasure request 2026/18' ORDER BY table_name;
SELECT op, row_image FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'replies') AND row_image IS NOT NULL
 ORDER BY seq;

----------------------------------------------------------------------------
-- a table without a primary key: the row is named by all its values.  Its
-- whole history under the first layout is erased (the UPDATEs' old_digest
-- covered the name), yet verify_table() finds no gap; an erased column
-- matches any value, so the history is still found, and redacted again
----------------------------------------------------------------------------
SELECT op, before, after FROM notary.history('lapor.visits', 'Eka Putra', 'Depok', 'pertama');
SET ROLE regress_notary_redactor;
SELECT notary.redact('lapor.visits', '{Eka Putra,Depok,pertama}', '{name}', 'erasure request 2026/19') AS erased;
RESET ROLE;
SELECT count(*) AS findings FROM notary.verify();
SELECT * FROM table_findings();
SELECT op, before, after FROM notary.history('lapor.visits', 'Eka Putra', 'Depok', 'pertama');
SELECT count(*) AS entries_found_by_any_name FROM notary.history('lapor.visits', 'anyone', 'Depok', 'pertama');
SELECT op, row_image FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'visits') AND row_image IS NOT NULL
 ORDER BY seq;
SELECT notary.classify('lapor.visits', 'place', 'quasi_identifier');
SET ROLE regress_notary_redactor;
SELECT notary.redact('lapor.visits', '{Eka Putra,Depok,pertama}', '{place}', 'erasure request 2026/19, place') AS erased;
RESET ROLE;
SELECT count(*) AS findings FROM notary.verify();
SELECT * FROM table_findings();
-- (the baseline after classifying place recorded the live row again: the
-- name is the application's to erase from its table)
SELECT op, row_image FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'visits') AND row_image IS NOT NULL
 ORDER BY seq;

----------------------------------------------------------------------------
-- redaction hides no tampering: changes made while a capture trigger was
-- off are still found, in redacted rows too, and captured changes after a
-- redaction are recorded normally (their personal values salted)
----------------------------------------------------------------------------
ALTER TABLE lapor.complaints DISABLE TRIGGER notary_capture;
ALTER TABLE lapor.visits DISABLE TRIGGER notary_capture;
UPDATE lapor.complaints SET body = 'changed quietly' WHERE id = 1;
UPDATE lapor.complaints SET name = 'not compared: personal' WHERE id = 2;
DELETE FROM lapor.complaints WHERE id = 3;
UPDATE lapor.visits SET note = 'changed quietly' WHERE name = 'Eka Putra';
ALTER TABLE lapor.complaints ENABLE ALWAYS TRIGGER notary_capture;
ALTER TABLE lapor.visits ENABLE ALWAYS TRIGGER notary_capture;
SELECT tbl, problem, row_key, regexp_replace(detail, 'entry \d+', 'entry N', 'g') AS detail
  FROM table_findings() JOIN notary.verify_table(('lapor.' || tbl)::regclass) v USING (problem, row_key)
 ORDER BY 1, 2, 3;
UPDATE lapor.complaints SET nik = '3171234567890009', name = 'Ayu L.' WHERE id = 1;
SELECT op, row_image[2] AS nik, row_image[3] AS name, length(row_salts) AS salt_bytes, redacted IS NULL AS not_redacted
  FROM notary.ledger WHERE seq = (SELECT max(seq) FROM notary.ledger);
SELECT tbl, problem, row_key FROM table_findings();
SELECT count(*) AS findings FROM notary.verify();

-- a change made around capture before the classification, in a row
-- redacted later, is found by the classification's baseline: before the
-- redaction and after it alike
CREATE SCHEMA quiet;
CREATE TABLE quiet.t (id int PRIMARY KEY, name text, city text);
INSERT INTO quiet.t VALUES (1, 'Gita', 'Depok'), (2, 'Hadi', 'Depok');
SELECT notary.enable('quiet');
UPDATE quiet.t SET city = 'Bogor' WHERE id = 1;
ALTER TABLE quiet.t DISABLE TRIGGER notary_capture;
UPDATE quiet.t SET city = 'Cibinong' WHERE id = 1;
ALTER TABLE quiet.t ENABLE ALWAYS TRIGGER notary_capture;
SELECT notary.classify('quiet.t', 'name', 'identifier');
SELECT problem, row_key, regexp_replace(detail, 'entry \d+', 'entry N', 'g') AS detail
  FROM notary.verify_table('quiet.t');
SELECT notary.redact('quiet.t', '{1}', '{name}', 'erasure request 2026/21') AS erased;
SELECT problem, row_key, regexp_replace(detail, 'entry \d+', 'entry N', 'g') AS detail
  FROM notary.verify_table('quiet.t');
SELECT count(*) AS gita_in_ledger FROM notary.ledger WHERE row_image::text LIKE '%Gita%';

----------------------------------------------------------------------------
-- forged by hand (guard off): an erasure no REDACT entry records is
-- forged_redaction at exactly that entry; a wrong commitment also breaks
-- the entry's hash (altered_entry); a replaced commitment is altered_entry
----------------------------------------------------------------------------
-- rows captured in format 1 (notary.entry_format = 1) before city is
-- classified: unsalted commitments, so two entries with the same city have
-- the same commitment, and one can be copied; they are stored as single
-- entries (notary.ledger_entries), to be forged one by one
CREATE TABLE lapor.forge (id int PRIMARY KEY, who text, city text);
SET notary.pack_entries = off;
SET notary.entry_format = 1;
INSERT INTO lapor.forge VALUES (1, 'x', 'Depok'), (2, 'y', 'Depok'), (3, 'z', 'Bogor');
RESET notary.entry_format;
RESET notary.pack_entries;
SELECT format_version, count(*) FROM notary.ledger
 WHERE table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'forge') GROUP BY 1;
SELECT notary.classify('lapor.forge', 'city', 'quasi_identifier');
SET ROLE regress_notary_redactor;
SELECT notary.redact('lapor.forge', '{1}', '{city}', 'erasure request 2026/20') AS erased;
RESET ROLE;
SELECT seq AS e_src, redacted AS rec FROM notary.ledger
 WHERE op = 'INSERT' AND row_image[1] = '1' AND table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'forge') \gset
SELECT seq AS e_forge FROM notary.ledger
 WHERE op = 'INSERT' AND row_image[1] = '2' AND table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'forge') \gset
SELECT seq AS e_wrong FROM notary.ledger
 WHERE op = 'INSERT' AND row_image[1] = '3' AND table_id = (SELECT table_id FROM notary.tables WHERE table_name = 'forge') \gset
SELECT count(*) AS single_entries FROM notary.ledger_entries WHERE seq IN (:e_src, :e_forge, :e_wrong);
SELECT length(:'rec'::bytea) AS record_bytes,
       get_byte(:'rec'::bytea, 0) * 256 + get_byte(:'rec'::bytea, 1) AS record_position;
SELECT count(*) AS findings FROM notary.verify();
-- the same record on the entry of row 2 (its city is Depok too): the hash
-- holds, but no REDACT entry names that entry
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[3] = NULL, redacted = :'rec'::bytea WHERE seq = :e_forge;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT seq = :e_forge AS at_forged_entry, problem, detail FROM notary.verify();
-- on the entry of row 3 (Bogor): the commitment is wrong as well
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[3] = NULL, redacted = :'rec'::bytea WHERE seq = :e_wrong;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT CASE seq WHEN :e_forge THEN 'forged' WHEN :e_wrong THEN 'wrong commitment' END AS entry, problem
  FROM notary.verify() ORDER BY seq, problem;
-- the commitment a legitimate redaction kept, replaced: altered_entry only
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET redacted = overlay(redacted PLACING decode(repeat('ab', 32), 'hex') FROM 3 FOR 32)
 WHERE seq = :e_src;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT CASE seq WHEN :e_forge THEN 'forged' WHEN :e_wrong THEN 'wrong commitment'
                WHEN :e_src THEN 'replaced commitment' END AS entry, problem
  FROM notary.verify() ORDER BY seq, problem;

----------------------------------------------------------------------------
-- format 2, sealed columns forged by hand: an erasure no REDACT entry seals
-- is forged_redaction; a sealed entry changed afterwards no longer matches
-- its seal (altered_entry); a second redaction of a sealed entry records a
-- new seal, which replaces the old one
----------------------------------------------------------------------------
CREATE DATABASE notary_seals;
\c notary_seals
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
\i sql/include/expect_error.sql
CREATE SCHEMA s;
CREATE TABLE s.people (id int PRIMARY KEY, name text, city text, note text);
SELECT notary.enable('s');
SET notary.pack_entries = off;   -- single entries, to be forged one by one
INSERT INTO s.people VALUES (1, 'Ani', 'Depok', 'a'), (2, 'Budi', 'Depok', 'b'), (3, 'Citra', 'Bogor', 'c');
RESET notary.pack_entries;
SELECT seq AS s1 FROM notary.ledger WHERE op = 'INSERT' AND row_image[1] = '1' \gset
SELECT seq AS s2 FROM notary.ledger WHERE op = 'INSERT' AND row_image[1] = '2' \gset
SELECT seq AS s3 FROM notary.ledger WHERE op = 'INSERT' AND row_image[1] = '3' \gset
SELECT notary.classify('s.people', 'name', 'identifier'), notary.classify('s.people', 'city', 'quasi_identifier');
SELECT notary.redact('s.people', '{1}', '{city}', 'erasure request s-1') AS erased;
SELECT format_version, row_image, encode(redacted, 'hex') AS redacted FROM notary.ledger WHERE seq = :s1;
SELECT (detail->'sealed') ? (:s1)::text AS sealed_by_redact, (SELECT count(*) FROM jsonb_object_keys(detail->'sealed')) AS seals
  FROM notary.ledger WHERE op = 'REDACT';
SELECT count(*) AS findings FROM notary.verify();
-- the same sealed record on the entry of row 2, its city erased by hand
SELECT redacted AS srec FROM notary.ledger WHERE seq = :s1 \gset
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[3] = NULL, redacted = :'srec'::bytea WHERE seq = :s2;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT seq = :s2 AS at_forged_entry, problem, detail FROM notary.verify() ORDER BY detail;
-- what is left of the sealed entry of row 1, changed: its seal no longer fits
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[4] = 'changed' WHERE seq = :s1;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT CASE seq WHEN :s1 THEN 'changed after sealing' WHEN :s2 THEN 'forged' END AS entry, problem, detail ~ 'seal' AS about_seal
  FROM notary.verify() ORDER BY seq, problem, detail;
-- undone; then a second redaction of row 1 (its name): a new seal replaces
-- the old one, which no longer fits, and verify() is quiet about row 1
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[4] = 'a' WHERE seq = :s1;
UPDATE notary.ledger_entries SET row_image[3] = 'Depok', redacted = NULL WHERE seq = :s2;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT count(*) AS findings FROM notary.verify();
SELECT notary.redact('s.people', '{1}', '{name}', 'erasure request s-2') AS erased;
SELECT row_image, encode(redacted, 'hex') AS redacted FROM notary.ledger WHERE seq = :s1;
SELECT count(*) FILTER (WHERE (detail->'sealed') ? (:s1)::text) AS redacts_sealing_row_1,
       count(DISTINCT detail->'sealed'->>(:s1)::text) AS distinct_seals
  FROM notary.ledger WHERE op = 'REDACT';
SELECT count(*) AS findings FROM notary.verify();
-- a row captured after the classification is salted, never sealed
INSERT INTO s.people VALUES (4, 'Dewi', 'Bogor', 'd');
SELECT notary.redact('s.people', '{4}', '{name,city}', 'erasure request s-3') AS erased;
SELECT encode(l.redacted, 'hex') ~ '^([0-9a-f]{68})*8' AS sealed, length(l.redacted) AS redacted_bytes,
       (SELECT detail ? 'sealed' FROM notary.ledger WHERE op = 'REDACT' ORDER BY seq DESC LIMIT 1) AS redact_has_seals
  FROM notary.ledger l WHERE op = 'INSERT' AND row_image[1] = '4';
SELECT count(*) AS findings FROM notary.verify();
SELECT * FROM notary.verify_table('s.people');
-- a checkpoint, then a sealing redaction: verify_checkpoint() says which
-- covered entries now rest on a seal it does not cover
CREATE TABLE s.late (id int PRIMARY KEY, who text, amount int);
SET notary.pack_entries = off;
INSERT INTO s.late VALUES (1, 'Eka', 100), (2, 'Fajar', 200);
RESET notary.pack_entries;
SELECT seq AS l1 FROM notary.ledger WHERE op = 'INSERT' AND row_image[2] = 'Eka' \gset
SELECT seq AS l2 FROM notary.ledger WHERE op = 'INSERT' AND row_image[2] = 'Fajar' \gset
SELECT notary.checkpoint() AS cp \gset
SELECT count(*) AS findings FROM notary.verify_checkpoint(:'cp'::jsonb);
SELECT notary.classify('s.late', 'who', 'identifier');
SELECT notary.redact('s.late', '{1}', '{who}', 'erasure request s-4') AS erased;
SELECT problem, detail ~ ('^entry ' || :l1 || ' ') AS names_it
  FROM notary.verify_checkpoint(:'cp'::jsonb);
-- a changed entry is never sealed: redact() refuses (XX001) rather than
-- make the change pass, and the value stays until the entry is repaired
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[3] = '999' WHERE seq = :l2;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT expect_error($$SELECT notary.redact('s.late', '{2}', '{who}', 'erasure request s-5')$$);
SELECT row_image[2] AS who_kept FROM notary.ledger WHERE seq = :l2;
ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;
UPDATE notary.ledger_entries SET row_image[3] = '200' WHERE seq = :l2;
-- a sealed record must be followed by 32 zero bytes: the erased value
-- written back there is malformed_entry
UPDATE notary.ledger_entries SET redacted = '\x8001'::bytea || convert_to(rpad('who=Eka', 32, ' '), 'UTF8') WHERE seq = :l1;
SELECT seq = :l1 AS at_sealed_entry, problem, detail FROM notary.verify();
UPDATE notary.ledger_entries SET redacted = '\x8001'::bytea || decode(repeat('00', 32), 'hex') WHERE seq = :l1;
SELECT count(*) AS findings FROM notary.verify();
-- a seal is keyed by the seq in decimal, and is 64 lower-case hex digits.
-- A newer REDACT entry forged with a wrong seal for row 1 (its own hash is
-- not computed here: altered_entry) replaces the true seal; keyed another
-- way ('0' before the seq) it names no entry and is ignored; a seal in
-- upper case never matches
SELECT max(seq) + 1000 AS fseq FROM notary.ledger \gset
SELECT table_id AS late_id FROM notary.tables WHERE table_name = 'late' \gset
\set forged_redact 'INSERT INTO notary.ledger VALUES (' :fseq ', 99, 1, decode(repeat(''00'', 32), ''hex''), decode(repeat(''00'', 32), ''hex''), ''REDACT'', ''7600'', now(), ''x'', ''x'', NULL, NULL, ' :late_id ', NULL, NULL, NULL, NULL, '
\set findings 'SELECT CASE seq WHEN ' :l1 ' THEN ''row 1'' WHEN ' :fseq ' THEN ''forged REDACT'' ELSE seq::text END AS entry, problem FROM notary.verify() ORDER BY 1, 2;'
:forged_redact jsonb_build_object('columns', '["who"]'::jsonb, 'entries', jsonb_build_array(:l1),
  'sealed', jsonb_build_object(:l1::text, repeat('ab', 32))), NULL, 2);
:findings
DELETE FROM notary.ledger_entries WHERE seq = :fseq;
:forged_redact jsonb_build_object('columns', '["who"]'::jsonb, 'entries', jsonb_build_array(:l1),
  'sealed', jsonb_build_object('0' || :l1::text, repeat('ab', 32))), NULL, 2);
:findings
DELETE FROM notary.ledger_entries WHERE seq = :fseq;
:forged_redact jsonb_build_object('columns', '["who"]'::jsonb, 'entries', jsonb_build_array(:l1),
  'sealed', jsonb_build_object(:l1::text, repeat('AB', 32))), NULL, 2);
:findings
DELETE FROM notary.ledger_entries WHERE seq = :fseq;
-- a REDACT detail that is no object: reported, verify() goes on
:forged_redact '[1, 2]', NULL, 2);
:findings
DELETE FROM notary.ledger_entries WHERE seq = :fseq;
ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;
SELECT count(*) AS findings FROM notary.verify();
\c notary_redaction

-- redact_subject on a table without a primary key (this once crashed the
-- server): only the entries holding the value are erased, and the ledger
-- still verifies
CREATE DATABASE notary_redaction_nopk;
\c notary_redaction_nopk
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA np;
CREATE TABLE np.visits (nik text, name text, place text);
SELECT notary.enable('np');
SELECT notary.classify('np.visits', 'nik', 'identifier');
SELECT notary.classify('np.visits', 'name', 'identifier');
INSERT INTO np.visits VALUES ('3171000000000009', 'Ani', 'Puskesmas'), ('3171000000000010', 'Eko', 'Kantor Camat');
SELECT notary.redact_subject('nik', '3171000000000009', 'erasure request np-1') AS erased;
SELECT count(*) AS entries_with_her_nik FROM notary.ledger WHERE row_image::text LIKE '%3171000000000009%';
SELECT count(*) AS entries_with_his_nik FROM notary.ledger WHERE row_image::text LIKE '%3171000000000010%';
SELECT count(*) AS verify_findings FROM notary.verify();
\c contrib_regression
DROP DATABASE notary_redaction_nopk;
DROP DATABASE notary_redaction;
DROP DATABASE notary_seals;
DROP ROLE regress_notary_redactor, regress_notary_reader, regress_notary_nobody;
