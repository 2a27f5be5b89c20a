-- demo/opendata.sql -- pg_notary and open data: anonymised views and signed exports.
--
-- Run by demo/run (bash demo/run), after parts 1 and 2, as superuser postgres
-- in a fresh database opendata_demo:  psql -X -v ON_ERROR_STOP=1 -f demo/opendata.sql
--
-- The story: a provincial government publishes three datasets from the
-- audited databases of its services, for journalists, researchers and
-- watchdogs:
--   * procurement contracts: vendors and values public, the officials who
--     signed them pseudonymised (the same official keeps one pseudonym
--     across datasets, so patterns can be followed without a name);
--   * complaint statistics in the spirit of LAPOR!: no complainant identity,
--     villages generalised to their regency (kabupaten/kota), dates to the
--     month, and any group of fewer than 5 complainants suppressed;
--   * business-permit processing times in the spirit of OSS: applicants
--     left out, dates to the month.
-- Every NIK in the source tables is then searched for in the exported
-- files: none is there.  docs/opendata.md explains the mechanism.

\ir session.psql

\echo
\echo '================================================================'
\echo ' Part 3: open data from audited tables'
\echo '================================================================'

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'open_portal') THEN
    CREATE ROLE open_portal LOGIN;       -- the open-data portal's account
  END IF;
END
$$;
CREATE EXTENSION pg_notary;
GRANT opendata_reader TO open_portal;

-- ---------------------------------------------------------------------------
-- Three services' tables (fictitious data, deterministic).
-- ---------------------------------------------------------------------------
CREATE SCHEMA procurement;
CREATE TABLE procurement.contracts (
    contract_no   text PRIMARY KEY,
    agency        text NOT NULL,
    vendor        text NOT NULL,
    value_idr     numeric(18,2) NOT NULL,
    signed_on     date NOT NULL,
    official_nik  text NOT NULL,       -- the signing official (PPK): a NIK
    official_name text NOT NULL
);

CREATE SCHEMA lapor;
CREATE TABLE lapor.complaints (
    id               integer PRIMARY KEY,
    complainant_nik  text NOT NULL,
    complainant_name text NOT NULL,
    village_code     text NOT NULL,    -- 10 digits: province, regency, district, village
    category         text NOT NULL,
    status           text NOT NULL,
    submitted_on     date NOT NULL
);

CREATE SCHEMA oss;
CREATE TABLE oss.permits (
    permit_no     text PRIMARY KEY,
    applicant_nik text NOT NULL,
    business_name text NOT NULL,
    kbli          text NOT NULL,       -- business classification code
    village_code  text NOT NULL,
    submitted_at  timestamptz NOT NULL,
    issued_at     timestamptz,
    processing_days integer GENERATED ALWAYS AS
      (CASE WHEN issued_at IS NULL THEN NULL
            ELSE (extract(epoch FROM issued_at - submitted_at) / 86400)::integer END) STORED
);

SELECT notary.enable('procurement') AS procurement_tables,
       notary.enable('lapor') AS lapor_tables,
       notary.enable('oss') AS oss_tables;

-- Officials: 12 people, each with a NIK (16 digits) and a name.
CREATE TEMP TABLE officials AS
SELECT g AS n, '3273' || lpad((110000000000 + g * 7919)::text, 12, '0') AS nik,
       (ARRAY['Agus Salim','Dewi Lestari','Bambang Sutrisno','Rina Wati','Hendra Gunawan',
              'Sri Mulyani','Joko Widodo','Ani Yudhoyono','Budi Santoso','Lina Marlina',
              'Eko Prasetyo','Maya Sari'])[g] AS name
  FROM generate_series(1, 12) g;

INSERT INTO procurement.contracts
SELECT format('SPK-%s/%s/2026', lpad(g::text, 3, '0'), (ARRAY['DPUPR','DINKES','DISDIK','DISHUB'])[1 + g % 4]),
       (ARRAY['Dinas PUPR','Dinas Kesehatan','Dinas Pendidikan','Dinas Perhubungan'])[1 + g % 4],
       (ARRAY['CV Maju Jaya','PT Karya Bangun','PT Sehat Sentosa','CV Cahaya Ilmu','PT Jalan Lancar',
              'CV Sinar Harapan'])[1 + (g * 7) % 6],
       round((50000000 + (g * 7919 % 1000) * 1250000)::numeric, 2),
       date '2026-01-05' + (g * 3) % 300,
       o.nik, o.name
  FROM generate_series(1, 120) g JOIN officials o ON o.n = 1 + g % 12;

-- Complaints: most regencies have many complainants, two have very few.
INSERT INTO lapor.complaints
SELECT g,
       '3273' || lpad((200000000000 + (g % 900) * 104729)::text, 12, '0'),   -- 900 complainants
       'Warga ' || (g % 900),
       CASE WHEN g % 97 = 0 THEN '3299010001'          -- a small regency: few complainants
            WHEN g % 89 = 0 THEN '3298020002'
            ELSE (ARRAY['3273010001','3273020005','3204050003','3204110007','3217030001'])[1 + g % 5] END,
       (ARRAY['infrastructure','health','education','licensing','corruption'])[1 + (g * 3) % 5],
       (ARRAY['received','in progress','closed'])[1 + g % 3],
       date '2026-01-01' + (g * 13) % 240
  FROM generate_series(1, 3000) g;

INSERT INTO oss.permits (permit_no, applicant_nik, business_name, kbli, village_code, submitted_at, issued_at)
SELECT format('OSS-%s', lpad(g::text, 6, '0')),
       '3204' || lpad((300000000000 + g::bigint * 15485863 % 999999)::text, 12, '0'),
       'Usaha ' || g,
       (ARRAY['47111','56101','10710','96011','62019'])[1 + g % 5],
       (ARRAY['3204050003','3204110007','3217030001','3273010001'])[1 + g % 4],
       timestamptz '2026-01-02 08:00+07' + (g * 37 % 5000) * interval '1 hour',
       CASE WHEN g % 7 = 0 THEN NULL
            ELSE timestamptz '2026-01-02 08:00+07' + (g * 37 % 5000) * interval '1 hour'
                 + (1 + g % 21) * interval '1 day' END
  FROM generate_series(1, 1500) g;

-- ---------------------------------------------------------------------------
-- (a) Classify once: the same classification drives redaction and open data.
-- ---------------------------------------------------------------------------
\echo
\echo '(a) The data protection officer classifies the personal columns once.'
SELECT notary.classify('procurement.contracts', 'official_nik', 'identifier'),
       notary.classify('procurement.contracts', 'official_name', 'identifier'),
       notary.classify('lapor.complaints', 'complainant_nik', 'identifier'),
       notary.classify('lapor.complaints', 'complainant_name', 'identifier'),
       notary.classify('lapor.complaints', 'village_code', 'quasi_identifier'),
       notary.classify('lapor.complaints', 'submitted_on', 'quasi_identifier'),
       notary.classify('oss.permits', 'applicant_nik', 'identifier'),
       notary.classify('oss.permits', 'business_name', 'identifier'),
       notary.classify('oss.permits', 'village_code', 'quasi_identifier') \gset
SELECT schema_name, table_name, column_name, class FROM notary.classification ORDER BY 1, 2, 3;


-- ---------------------------------------------------------------------------
-- (b) Procurement contracts: vendors and values public, officials pseudonymised.
-- ---------------------------------------------------------------------------
\echo
\echo '(b) The pseudonym key is made once, by a superuser, in a file outside SQL'
\echo '    (notary.pseudonym_key_file, mode 0600).  Then the contracts are published:'
\echo '    every column needs a rule (default deny); the officials'' NIK becomes a'
\echo '    keyed pseudonym in the domain "officials", shared across datasets; their'
\echo '    names are dropped.'
SELECT notary.create_pseudonym_key() AS pseudonym_key_version;
SELECT notary.publish('procurement.contracts',
         '{"contract_no": "keep", "agency": "keep", "vendor": "keep", "value_idr": "keep",
           "signed_on": "keep", "official_nik": "pseudonymise(officials)", "official_name": "drop"}',
         title => 'Procurement contracts 2026',
         description => 'Contracts signed by the provincial agencies; the signing official is pseudonymised') AS view;
SELECT * FROM opendata.contracts ORDER BY contract_no LIMIT 4;

\echo 'Publishing a personal column as it is, or a column that does not exist, is'
\echo 'refused before anything is created:'
\set ON_ERROR_STOP off
SELECT notary.publish('procurement.contracts', '{"contract_no": "keep", "official_name": "keep"}',
                      view_name => 'contracts_with_names');
SELECT notary.publish('procurement.contracts', '{"contract_no": "keep", "official_email": "drop"}',
                      view_name => 'contracts_with_names');
\set ON_ERROR_STOP on
SELECT count(*) AS views_named_contracts_with_names
  FROM pg_class WHERE relname = 'contracts_with_names';

-- ---------------------------------------------------------------------------
-- (c) Complaint statistics: no identity, regencies, months, k = 5 people.
-- ---------------------------------------------------------------------------
\echo
\echo '(c) Complaints in the spirit of LAPOR!: no complainant identity at all; the'
\echo '    village is generalised to its regency (first 4 digits), the date to the'
\echo '    month, and any (regency, month) group with fewer than 5 complainants'
\echo '    (people, counted by NIK: one person''s five complaints are one person) is'
\echo '    suppressed, not only measured.'
SELECT notary.publish('lapor.complaints',
         '{"village_code": "prefix(4)", "submitted_on": "month", "category": "keep", "status": "keep"}',
         k => 5, subject => 'complainant_nik', view_name => 'complaints',
         title => 'Public-service complaints 2026',
         description => 'One row per complaint; regency and month only; groups of fewer than 5 complainants suppressed') AS view;
SELECT village_code AS regency, count(*) AS complaints
  FROM opendata.complaints GROUP BY 1 ORDER BY 1;
\echo 'Regencies 3298 and 3299 have only a few complainants: their months with fewer'
\echo 'than 5 are suppressed.'
SELECT k_required, k_reached, quasi_identifiers, rows_published, rows_suppressed,
       groups_published, groups_suppressed
  FROM notary.k_anonymity('opendata.complaints');

-- ---------------------------------------------------------------------------
-- (d) Business permits: processing times, applicants left out, months.
-- ---------------------------------------------------------------------------
\echo
\echo '(d) Business permits in the spirit of OSS: how long a permit takes, per'
\echo '    business code and regency; applicants left out, dates to the month, k = 3.'
SELECT notary.publish('oss.permits',
         '{"permit_no": "keep", "kbli": "keep", "village_code": "prefix(4)",
           "submitted_at": "month", "issued_at": "month", "processing_days": "keep"}',
         k => 3, view_name => 'permits',
         title => 'Business permits 2026: processing times',
         description => 'Permit applications, months only; applicants are not published') AS view;
SELECT kbli, village_code AS regency, count(*) AS permits,
       round(avg(processing_days), 1) AS avg_days, max(processing_days) AS max_days
  FROM opendata.permits GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 6;

-- ---------------------------------------------------------------------------
-- (e) What the portal's account can and cannot reach.
-- ---------------------------------------------------------------------------
\echo
\echo '(e) The open-data portal logs in as open_portal (member of opendata_reader):'
\echo '    it reads the views, not the tables, and cannot compute a pseudonym of a'
\echo '    guessed NIK (that would let it test all 10^10 NIKs).'
SET ROLE open_portal;
SELECT count(*) AS contracts_visible FROM opendata.contracts;
\set ON_ERROR_STOP off
SELECT count(*) FROM procurement.contracts;
SELECT notary.pseudonym('3273110000007919'::text, 'officials');
\set ON_ERROR_STOP on
\echo 'A "cheap" function in WHERE, the classic leak through a view, is called only'
\echo 'on published rows: it never sees the suppressed complaints.'
SET demo.calls = 0;
CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
  $$BEGIN PERFORM set_config('demo.calls', (current_setting('demo.calls')::int + 1)::text, false);
          RETURN true; END$$;
SELECT count(*) AS rows_returned FROM opendata.complaints WHERE pg_temp.peek(village_code);
SELECT current_setting('demo.calls') AS rows_the_function_saw;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- (f) The export: CSV + datapackage.json, signed at a checkpoint.
-- ---------------------------------------------------------------------------
\echo
\echo '(f) The three views are exported with notary-export: RFC 4180 CSV files and a'
\echo '    Frictionless datapackage.json carrying each file''s SHA-256, the ledger'
\echo '    checkpoint the data was taken at, and a manifest signed with the'
\echo '    checkpoint key.  The export is recorded in the ledger.'
\echo 'The auditor took a first checkpoint and published the public key that'
\echo 'verifies checkpoints (and exports) beforehand:'
SELECT (notary.checkpoint()->>'checkpoint_id') AS first_checkpoint;
\set export_dir :publish_dir '/opendata'
SELECT set_config('demo.export_dir', :'export_dir', false) \gset
\setenv EXPORT_DIR :export_dir
SELECT public_key FROM notary.public_key() \gset
\setenv PUBLIC_KEY :public_key
\echo '$ notary-export --output opendata --title ... --license CC-BY-4.0 opendata.contracts opendata.complaints opendata.permits'
\! notary-export --dbname "user=postgres" --output "$EXPORT_DIR" --title 'Provincial open data 2026' --license CC-BY-4.0 --description 'Anonymised extracts of audited registers' --name province-2026 --public-key "$PUBLIC_KEY" --progress opendata.contracts opendata.complaints opendata.permits 2>&1 | tr '\r' '\n' | awk '/ rows \(/ { f = $1; if (!(f in last)) order[++n] = f; last[f] = $0; next } NF { rest[++m] = $0 } END { for (i = 1; i <= n; i++) print last[order[i]]; for (i = 1; i <= m; i++) print rest[i] }'
\! cd "$EXPORT_DIR" && ls -l --time-style=+ | awk 'NR > 1 {print "  " $5 "\t" $NF}'
\echo 'Anyone holding the public key checks the package offline, trusting nothing'
\echo 'in the database:'
\echo '$ notary-verify --datapackage opendata --public-key <key>'
\! notary-verify --datapackage "$EXPORT_DIR" --public-key "$PUBLIC_KEY" 2>&1; echo "exit status $?"
\echo 'A journalist who "corrects" one value in a CSV is caught:'
\echo '$ sed -i ''2s/PT Karya Bangun/PT Karya Bangun Abadi/'' contracts.csv'
\! cp -r "$EXPORT_DIR" "$EXPORT_DIR.tampered" && sed -i '2s/PT Karya Bangun/PT Karya Bangun Abadi/' "$EXPORT_DIR.tampered/contracts.csv" && notary-verify --datapackage "$EXPORT_DIR.tampered" --public-key "$PUBLIC_KEY" > "$EXPORT_DIR.tampered.out" 2>&1; rc=$?; cat "$EXPORT_DIR.tampered.out"; echo "exit status $rc"
\echo 'Each publication and the export are in the ledger (never a data value):'
SELECT seq, op, coalesce(detail->>'view', detail->>'name') AS what,
       coalesce(detail->>'k', (SELECT string_agg(r->>'path' || ' ' || left(r->>'sha256', 12) || '...', ', ')
                                 FROM jsonb_array_elements(detail->'resources') r)) AS detail
  FROM notary.entries WHERE op IN ('PUBLISH', 'EXPORT') ORDER BY seq;

-- ---------------------------------------------------------------------------
-- (g) No NIK in any export.
-- ---------------------------------------------------------------------------
\echo
\echo '(g) Every NIK of the three source tables is searched for in every exported file:'
\set nik_file :publish_dir '/source_niks.txt'
\setenv NIK_FILE :nik_file
COPY (SELECT official_nik FROM procurement.contracts
      UNION SELECT complainant_nik FROM lapor.complaints
      UNION SELECT applicant_nik FROM oss.permits) TO :'nik_file';
\! echo "  NIKs in the source tables: $(wc -l < "$NIK_FILE")"; echo "  lines of the export holding one of them: $(cat "$EXPORT_DIR"/* | grep -c -F -f "$NIK_FILE")"
-- The same search in SQL, so that the demo (and tests/run, which runs it) fails if one is found.
DO $$
DECLARE found bigint;
BEGIN
  SELECT count(*) INTO found
    FROM (SELECT official_nik AS nik FROM procurement.contracts
          UNION SELECT complainant_nik FROM lapor.complaints
          UNION SELECT applicant_nik FROM oss.permits) s,
         (SELECT pg_read_file(current_setting('demo.export_dir') || '/' || f) AS body
            FROM unnest(ARRAY['contracts.csv', 'complaints.csv', 'permits.csv', 'datapackage.json']) f) b
   WHERE position(s.nik IN b.body) > 0;
  IF found > 0 THEN
    RAISE EXCEPTION '% NIK(s) reached the export', found;
  END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- (h) When the policy no longer fits the table: fail closed.
-- ---------------------------------------------------------------------------
\echo
\echo '(h) The data protection officer decides that business codes, in small'
\echo '    villages, identify people: kbli becomes a quasi-identifier.  The permits'
\echo '    view still says "keep" for it, so it stops returning rows (it fails'
\echo '    closed) until it is published again with a policy that fits.'
SELECT notary.classify('oss.permits', 'kbli', 'quasi_identifier');
\set ON_ERROR_STOP off
SELECT count(*) FROM opendata.permits;
SELECT notary.refresh('permits');
\set ON_ERROR_STOP on
SELECT view_name, problem, detail FROM notary.publication_problems();
SELECT notary.publish('oss.permits',
         '{"permit_no": "keep", "kbli": "prefix(2)", "village_code": "prefix(4)",
           "submitted_at": "month", "issued_at": "month", "processing_days": "keep"}',
         k => 3, view_name => 'permits',
         title => 'Business permits 2026: processing times',
         description => 'Permit applications, months only; business sector (2 digits); applicants are not published') AS view;
SELECT kbli AS sector, count(*) AS permits, round(avg(processing_days), 1) AS avg_days
  FROM opendata.permits GROUP BY 1 ORDER BY 1;
SELECT count(*) AS problems_left FROM notary.publication_problems();

\echo
\echo 'Done.  One classification drives both redaction and publication; a personal'
\echo 'column is never published as it is; small groups never leave the view; the'
\echo 'export is signed at a ledger checkpoint and checkable by anyone offline.  See'
\echo 'docs/opendata.md.'
