--
-- 01_setup: CREATE EXTENSION, the objects it makes, and their privileges.
-- Later files assume the extension and the helper expect_error() exist.
--
CREATE EXTENSION pg_notary;

\i sql/include/expect_error.sql

-- the schema and its tables, views and sequences
SELECT c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'notary' AND c.relkind IN ('r', 'v', 'S')
 ORDER BY c.relname;

-- the ledger starts empty and verifies
SELECT count(*) AS entries FROM notary.ledger;
SELECT count(*) AS findings FROM notary.verify();

-- the auditor role: cannot log in
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles WHERE rolname = 'notary_auditor';

-- the guard triggers fire ALWAYS (session_replication_role cannot silence them);
-- the INSTEAD OF trigger of the view notary.ledger cannot (PostgreSQL refuses
-- ENABLE ALWAYS on a view), 05_privileges shows what replica mode does there
SELECT tgrelid::regclass, tgname, tgenabled
  FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'notary'::regnamespace)
   AND NOT tgisinternal
 ORDER BY tgrelid::regclass::text, tgname;
SELECT evtname, evtevent, evtenabled FROM pg_event_trigger
 WHERE evtname LIKE 'notary%' ORDER BY evtname;

-- PUBLIC: nothing in schema notary but canonical()
SELECT has_schema_privilege('public', 'notary', 'USAGE') AS public_usage;
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('notary_auditor', c.oid, 'SELECT') AS auditor_select,
       has_table_privilege('notary_auditor', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS auditor_write
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'notary' AND c.relkind IN ('r', 'v')
 ORDER BY c.relname;
-- functions PUBLIC may execute (canonical() only) and those the auditor may
SELECT p.oid::regprocedure AS public_may_execute
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'notary' AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT p.oid::regprocedure AS auditor_may_execute
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'notary' AND has_function_privilege('notary_auditor', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
SELECT has_schema_privilege('notary_auditor', 'notary', 'USAGE') AS auditor_usage,
       has_schema_privilege('notary_auditor', 'notary', 'CREATE') AS auditor_create;

-- the extension's tables are dumped with their content (pg_dump keeps the ledger)
SELECT c::regclass AS dumped FROM pg_extension, unnest(extconfig) AS c
 WHERE extname = 'pg_notary' ORDER BY c::regclass::text;

-- settings
SHOW notary.allow_uninstall;

-- CREATE EXTENSION again
CREATE EXTENSION pg_notary;
