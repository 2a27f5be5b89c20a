/*-------------------------------------------------------------------------
 *
 * enroll.c
 *		notary.enable() and notary.disable(), and enrolling one table.
 *
 * Enrolling a table registers it in notary.tables, creates its capture
 * triggers ENABLE ALWAYS, and records a baseline of its rows.  CREATE
 * TRIGGER takes a SHARE ROW EXCLUSIVE lock, which keeps writers out until
 * this transaction ends, so the baseline (taken with a fresh snapshot
 * after the triggers exist) misses no change and records none twice.
 *
 * The DDL that pg_notary runs itself is marked (notary_internal_ddl) so
 * that its own event triggers do not record it as a user's DDL.  All SPI
 * work runs as the extension's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

bool		notary_internal_ddl = false;

/* Run one utility statement of pg_notary's own (SPI connected, as owner). */
static void
run_internal_ddl(const char *sql)
{
	bool		save = notary_internal_ddl;
	int			ret;

	notary_internal_ddl = true;
	PG_TRY();
	{
		ret = SPI_execute(sql, false, 0);
		if (ret < 0)
			elog(ERROR, "SPI_execute failed (%d): %s", ret, sql);
	}
	PG_FINALLY();
	{
		notary_internal_ddl = save;
	}
	PG_END_TRY();
}

/* Does relid have the named trigger?  Fresh snapshot.  (SPI connected.) */
static bool
has_trigger(Oid relid, const char *tgname)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];

	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(tgname);
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_trigger "
							  "WHERE tgrelid OPERATOR(pg_catalog.=) $1 "
							  "AND tgname OPERATOR(pg_catalog.=) $2::pg_catalog.name",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	return SPI_processed > 0;
}

/* Record the table's current layout digest in notary.tables. */
void
enroll_note_layout(int32 table_id, const uint8 *digest, bool capturing)
{
	NotaryUserSwitch sw;
	Oid			argtypes[3] = {INT4OID, BYTEAOID, BOOLOID};
	Datum		args[3];
	bytea	   *b = palloc(VARHDRSZ + NOTARY_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + NOTARY_HASH_LEN);
	memcpy(VARDATA(b), digest, NOTARY_HASH_LEN);
	args[0] = Int32GetDatum(table_id);
	args[1] = PointerGetDatum(b);
	args[2] = BoolGetDatum(capturing);
	notary_spi_begin(&sw);
	if (SPI_execute_with_args("UPDATE notary.tables SET layout_digest = $2, capturing = $3 "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update notary.tables");
	notary_spi_end(&sw);
}

/*
 * Enroll one table: register it, create its capture triggers and record a
 * baseline of its rows.  reason goes into the BASELINE entry.
 */
void
enroll_table(Oid relid, const char *reason)
{
	NotaryUserSwitch sw;
	char	   *qname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid));
	Relation	rel;
	RelInfo    *ri;

	(void) relinfo_register_table(relid, true);

	notary_spi_begin(&sw);
	if (!has_trigger(relid, "notary_capture"))
		run_internal_ddl(psprintf("CREATE TRIGGER notary_capture "
								  "AFTER INSERT OR UPDATE OR DELETE ON %s "
								  "FOR EACH ROW EXECUTE FUNCTION notary.capture()",
								  qname));
	if (!has_trigger(relid, "notary_capture_truncate"))
		run_internal_ddl(psprintf("CREATE TRIGGER notary_capture_truncate "
								  "BEFORE TRUNCATE ON %s "
								  "FOR EACH STATEMENT EXECUTE FUNCTION notary.capture_truncate()",
								  qname));
	run_internal_ddl(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER notary_capture", qname));
	run_internal_ddl(psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER notary_capture_truncate", qname));
	notary_spi_end(&sw);

	/* writers stay out until commit: CREATE TRIGGER's lock, or this one */
	rel = table_open(relid, ShareRowExclusiveLock);
	(void) capture_baseline(rel, reason);
	ri = relinfo_get(rel);
	enroll_note_layout(ri->table_id, ri->layout_digest, true);
	table_close(rel, NoLock);
}

static const char *
json_detail(const char *key1, const char *val1, const char *key2, int64 val2)
{
	StringInfoData sb;

	initStringInfo(&sb);
	appendStringInfoChar(&sb, '{');
	escape_json(&sb, key1);
	appendStringInfoString(&sb, ": ");
	escape_json(&sb, val1);
	appendStringInfoString(&sb, ", ");
	escape_json(&sb, key2);
	appendStringInfo(&sb, ": " INT64_FORMAT "}", val2);
	return sb.data;
}

static void
check_enrollable_schema(const char *schema)
{
	if (strcmp(schema, "notary") == 0 || strcmp(schema, "pg_catalog") == 0 ||
		strcmp(schema, "information_schema") == 0 ||
		strncmp(schema, "pg_toast", 8) == 0 || strncmp(schema, "pg_temp", 7) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_SCHEMA_NAME),
				 errmsg("schema \"%s\" cannot be enabled for pg_notary", schema),
				 errdetail("System schemas and pg_notary's own schema are never captured.")));
}

PG_FUNCTION_INFO_V1(notary_enable);

/* SQL: notary.enable(schema_name name) returns integer */
Datum
notary_enable(PG_FUNCTION_ARGS)
{
	char	   *schema = NameStr(*PG_GETARG_NAME(0));
	Oid			nsp = get_namespace_oid(schema, true);
	NotaryUserSwitch sw;
	Oid			argtypes[2] = {TEXTOID, OIDOID};
	Datum		args[2];
	Oid		   *relids;
	int			nrels;
	int			i;

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_SCHEMA_NAME),
				 errmsg("schema \"%s\" does not exist", schema)));
	check_enrollable_schema(schema);

	args[0] = CStringGetTextDatum(schema);
	args[1] = ObjectIdGetDatum(nsp);

	notary_spi_begin(&sw);
	/*
	 * Keep CREATE TABLE in this schema (it takes ACCESS SHARE on the schema)
	 * and other enable()/disable() calls out until we commit; what we read
	 * after the lock is read with fresh snapshots (read_only = false), so a
	 * table created just before is seen, and one created after sees us.
	 */
	LockDatabaseObject(NamespaceRelationId, nsp, 0, AccessExclusiveLock);
	if (notary_schema_enabled(schema))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("schema \"%s\" is already enabled for pg_notary", schema),
				 errhint("See notary.enrolled for what is captured.")));
	if (SPI_execute_with_args("INSERT INTO notary.schemas AS s "
							  "(schema_name, enabled, enabled_at, enabled_by) "
							  "VALUES ($1, true, pg_catalog.now(), SESSION_USER) "
							  "ON CONFLICT (schema_name) DO UPDATE SET enabled = true, "
							  "enabled_at = EXCLUDED.enabled_at, enabled_by = EXCLUDED.enabled_by, "
							  "disabled_at = NULL, disabled_by = NULL",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record schema \"%s\"", schema);
	if (SPI_execute_with_args("SELECT c.oid FROM pg_catalog.pg_class c "
							  "WHERE c.relnamespace OPERATOR(pg_catalog.=) $2 "
							  "AND c.relkind OPERATOR(pg_catalog.=) 'r' "
							  "AND c.relpersistence OPERATOR(pg_catalog.<>) 't' "
							  "ORDER BY c.relname",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tables of schema \"%s\"", schema);
	nrels = (int) SPI_processed;
	relids = MemoryContextAlloc(TopTransactionContext, sizeof(Oid) * Max(nrels, 1));
	for (i = 0; i < nrels; i++)
	{
		bool		isnull;

		relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));
	}
	notary_spi_end(&sw);

	ledger_append_event(NOTARY_OP_ENABLE, false, 0,
						json_detail("schema", schema, "tables", nrels));
	for (i = 0; i < nrels; i++)
		enroll_table(relids[i], "enable");

	PG_RETURN_INT32(nrels);
}

PG_FUNCTION_INFO_V1(notary_disable);

/* SQL: notary.disable(schema_name name) returns integer */
Datum
notary_disable(PG_FUNCTION_ARGS)
{
	char	   *schema = NameStr(*PG_GETARG_NAME(0));
	Oid			nsp = get_namespace_oid(schema, true);
	NotaryUserSwitch sw;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			ntables;
	uint64		i;

	args[0] = CStringGetTextDatum(schema);

	if (OidIsValid(nsp))
		LockDatabaseObject(NamespaceRelationId, nsp, 0, AccessExclusiveLock);
	notary_spi_begin(&sw);
	if (!notary_schema_enabled(schema))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schema \"%s\" is not enabled for pg_notary", schema),
				 errhint("See notary.enrolled for what is captured.")));
	if (SPI_execute_with_args("SELECT t.relid::pg_catalog.oid, t.table_id FROM notary.tables t "
							  "JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid "
							  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
							  "WHERE n.nspname OPERATOR(pg_catalog.=) $1::pg_catalog.name AND t.capturing "
							  "ORDER BY c.relname",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tables of schema \"%s\"", schema);
	{
		SPITupleTable *tt = SPI_tuptable;

		ntables = (int) SPI_processed;
		for (i = 0; i < (uint64) ntables; i++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			char	   *qname = quote_qualified_identifier(schema, get_rel_name(relid));

			if (has_trigger(relid, "notary_capture"))
				run_internal_ddl(psprintf("DROP TRIGGER notary_capture ON %s", qname));
			if (has_trigger(relid, "notary_capture_truncate"))
				run_internal_ddl(psprintf("DROP TRIGGER notary_capture_truncate ON %s", qname));
		}
	}
	if (SPI_execute_with_args("UPDATE notary.tables t SET capturing = false "
							  "FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n "
							  "WHERE c.oid OPERATOR(pg_catalog.=) t.relid "
							  "AND n.oid OPERATOR(pg_catalog.=) c.relnamespace "
							  "AND n.nspname OPERATOR(pg_catalog.=) $1::pg_catalog.name",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update notary.tables");
	notary_schema_mark_disabled(schema);
	notary_spi_end(&sw);

	ledger_append_event(NOTARY_OP_DISABLE, false, 0,
						json_detail("schema", schema, "tables", ntables));
	PG_RETURN_INT32(ntables);
}
