/*-------------------------------------------------------------------------
 *
 * guards.c
 *		Protection of the ledger and of capture: the append-only guard
 *		trigger, and the event triggers that record DDL.
 *
 * Threat model (docs/threat-model.md): roles without superuser cannot
 * change history or get around capture; a superuser can, but what they do
 * is recorded or detected.  So:
 *	- UPDATE, DELETE and TRUNCATE of the ledger and its layouts are refused
 *	  by ENABLE ALWAYS triggers, for everyone (superusers can drop the
 *	  triggers; verification then finds what they changed);
 *	- DDL on an enrolled table, or on pg_notary's own tables, is recorded;
 *	- a non-superuser who disables, renames or drops a capture trigger gets
 *	  an error (the table's owner could otherwise write around capture); a
 *	  superuser doing so is recorded;
 *	- a table created in (or moved into) an enabled schema is enrolled;
 *	- a change of an enrolled table's layout is followed by a baseline;
 *	- DROP EXTENSION pg_notary is refused unless notary.allow_uninstall.
 * Event triggers are created ENABLE ALWAYS, so session_replication_role
 * does not silence them.  Commands pg_notary runs itself are skipped, and
 * so is everything while a superuser restores a dump (notary.restore_mode).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

/*
 * Tables rewritten by the current command (table_rewrite event), in
 * TopMemoryContext; emptied when a command starts and when it ends, so a
 * command that failed in between leaves nothing behind.
 */
static List *rewritten_tables = NIL;

PG_FUNCTION_INFO_V1(notary_guard_ledger);

/*
 * BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE on the ledger tables;
 * INSTEAD OF INSERT OR UPDATE OR DELETE on the view notary.ledger
 */
Datum
notary_guard_ledger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *what;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notary.guard_ledger() must be called as a trigger")));
	if (TRIGGER_FIRED_INSTEAD(td->tg_event) && TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		/*
		 * INSERT into the view notary.ledger stores a single entry, as an
		 * INSERT into the table notary.ledger of 0.2 did (only a superuser
		 * may; verify() judges what was inserted).  Through the executor,
		 * as the caller: NOT NULL, the primary key and every index of the
		 * table apply as they did.
		 */
		TupleDesc	desc = RelationGetDescr(td->tg_relation);
		Oid			argtypes[1] = {desc->tdtypeid};
		Datum		args[1];

		args[0] = heap_copy_tuple_as_datum(td->tg_trigtuple, desc);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("INSERT INTO notary.ledger_entries SELECT ($1).*",
								  1, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the entry in notary.ledger_entries");
		SPI_finish();
		return PointerGetDatum(td->tg_trigtuple);
	}
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		what = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		what = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		what = "TRUNCATE";
	else
		return PointerGetDatum(td->tg_trigtuple);

	ereport(ERROR,
			(errcode(ERRCODE_NOTARY_LEDGER_APPEND_ONLY),
			 errmsg("the pg_notary ledger is append-only"),
			 errdetail("%s on notary.%s is refused.", what,
					   RelationGetRelationName(td->tg_relation))));
	return PointerGetDatum(NULL);	/* keep compiler quiet */
}

static void
require_event_trigger(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as an event trigger", name)));
}

static void
refuse_uninstall(const char *what, const char *command)
{
	ereport(ERROR,
			(errcode(ERRCODE_NOTARY_UNINSTALL_REFUSED),
			 errmsg("%s would destroy the ledger", what),
			 errdetail("%s is refused while notary.allow_uninstall is off.", command),
			 errhint("Export and archive the ledger first; then a superuser may SET notary.allow_uninstall = on.")));
}

PG_FUNCTION_INFO_V1(notary_on_ddl_start);

/*
 * ddl_command_start: refuse DROP EXTENSION pg_notary, DROP SCHEMA notary
 * and DROP OWNED BY the extension's owner
 */
Datum
notary_on_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	ListCell   *lc;

	require_event_trigger(fcinfo, "notary.on_ddl_start()");
	trigdata = (EventTriggerData *) fcinfo->context;
	list_free(rewritten_tables);
	rewritten_tables = NIL;
	if (notary_allow_uninstall)
		PG_RETURN_VOID();

	/* DROP OWNED BY the extension's owner would drop the extension too */
	if (IsA(trigdata->parsetree, DropOwnedStmt) && notary_extension_present())
	{
		Oid			owner = notary_extension_owner();

		foreach(lc, ((DropOwnedStmt *) trigdata->parsetree)->roles)
		{
			RoleSpec   *rs = lfirst_node(RoleSpec, lc);

			if (get_rolespec_oid(rs, true) == owner)
				refuse_uninstall("DROP OWNED BY the owner of pg_notary", "DROP OWNED BY its owner");
		}
		PG_RETURN_VOID();
	}
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();

	foreach(lc, ((DropStmt *) trigdata->parsetree)->objects)
	{
		Node	   *obj = lfirst(lc);

		if (!IsA(obj, String))
			continue;
		if (trigdata->tag == CMDTAG_DROP_EXTENSION && strcmp(strVal(obj), "pg_notary") == 0)
			refuse_uninstall("dropping extension pg_notary", "DROP EXTENSION pg_notary");
		if (trigdata->tag == CMDTAG_DROP_SCHEMA && strcmp(strVal(obj), "notary") == 0)
			refuse_uninstall("dropping schema notary", "DROP SCHEMA notary");
	}
	PG_RETURN_VOID();
}

/* A DDL command as the event trigger saw it, copied out of SPI. */
typedef struct DdlCommand
{
	char	   *tag;
	char	   *identity;
	Oid			relid;
} DdlCommand;

static char *
json_ddl(const char *command, const char *object, const char *capture)
{
	StringInfoData sb;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"command\": ");
	escape_json(&sb, command);
	appendStringInfoString(&sb, ", \"object\": ");
	escape_json(&sb, object);
	if (capture != NULL)
	{
		appendStringInfoString(&sb, ", \"capture\": ");
		escape_json(&sb, capture);
	}
	appendStringInfoChar(&sb, '}');
	return sb.data;
}

/* DDL on one of pg_notary's own tables, with the state of its guard. */
static char *
json_ddl_guard(const char *command, const char *object, const char *guard)
{
	char	   *base = json_ddl(command, object, NULL);

	if (guard == NULL)
		return base;
	base[strlen(base) - 1] = '\0';
	return psprintf("%s, \"guard\": \"%s\"}", base, guard);
}

/* Registered table id and capturing flag of relid (SPI connected). */
static int32
lookup_table(Oid relid, bool *capturing, bytea **layout_digest)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;
	int32		table_id;

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("SELECT table_id, capturing, layout_digest FROM notary.tables "
							  "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.tables");
	if (SPI_processed == 0)
		return 0;
	table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*capturing = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (layout_digest != NULL)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);

		*layout_digest = isnull ? NULL :
			(bytea *) SPI_datumTransfer(d, false, -1);
	}
	return table_id;
}

/*
 * State of the capture triggers of relid: NULL if both are ENABLE ALWAYS,
 * else "disabled" or "missing".  (SPI connected.)
 */
static const char *
capture_trigger_state(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	uint64		i;
	int			nalways = 0;

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("SELECT tgenabled FROM pg_catalog.pg_trigger "
							  "WHERE tgrelid OPERATOR(pg_catalog.=) $1 AND tgname "
							  "OPERATOR(pg_catalog.=) ANY ('{notary_capture,notary_capture_truncate}'::pg_catalog.name[])",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_trigger");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char		e = DatumGetChar(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (e == TRIGGER_FIRES_ALWAYS)
			nalways++;
	}
	if (SPI_processed < 2)
		return "missing";
	return nalways == 2 ? NULL : "disabled";
}

/*
 * State of the append-only guard triggers of one of pg_notary's tables:
 * NULL if it has none (notary.tables, notary.schemas) or all are ENABLE
 * ALWAYS, else "off".  (SPI connected.)
 */
static const char *
guard_state(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;
	int64		total,
				always;

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("SELECT count(*), count(*) FILTER (WHERE t.tgenabled OPERATOR(pg_catalog.=) 'A') "
							  "FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid "
							  "WHERE t.tgrelid OPERATOR(pg_catalog.=) $1 "
							  "AND p.proname OPERATOR(pg_catalog.=) 'guard_ledger' "
							  "AND p.pronamespace OPERATOR(pg_catalog.=) 'notary'::pg_catalog.regnamespace",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_trigger");
	total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	always = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (always == 2 || (total == 0 && get_rel_name(relid) != NULL &&
						(strcmp(get_rel_name(relid), "tables") == 0 ||
						 strcmp(get_rel_name(relid), "schemas") == 0)))
		return NULL;
	return "off";
}

static void
refuse_capture_bypass(const char *object)
{
	ereport(ERROR,
			(errcode(ERRCODE_NOTARY_CAPTURE_BYPASS),
			 errmsg("capture triggers of tables enrolled in pg_notary cannot be disabled, altered or dropped"),
			 errdetail("The command on %s would let changes bypass the ledger.", object),
			 errhint("A superuser can stop capture of a schema with notary.disable(); that act is recorded.")));
}

/*
 * Does relid descend (partition or inheritance child) from a table that is
 * captured, or that lives in an enabled schema?  (SPI connected.)
 */
static bool
inherits_capture(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("WITH RECURSIVE anc(oid) AS ("
							  " SELECT inhparent FROM pg_catalog.pg_inherits WHERE inhrelid OPERATOR(pg_catalog.=) $1"
							  " UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN anc ON i.inhrelid OPERATOR(pg_catalog.=) anc.oid) "
							  "SELECT 1 FROM anc JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) anc.oid "
							  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
							  "WHERE EXISTS (SELECT 1 FROM notary.tables t WHERE t.relid OPERATOR(pg_catalog.=) anc.oid::pg_catalog.regclass AND t.capturing) "
							  "OR EXISTS (SELECT 1 FROM notary.schemas s WHERE s.schema_name OPERATOR(pg_catalog.=) n.nspname::pg_catalog.text AND s.enabled) "
							  "LIMIT 1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_inherits");
	return SPI_processed > 0;
}

/*
 * The ordinary tables below relid that are not enrolled, as an array that
 * outlives SPI_finish (SPI_palloc), ended by InvalidOid.  (SPI connected.)
 */
static Oid *
unenrolled_leaves(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	Oid		   *leaves;
	uint64		i;

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("WITH RECURSIVE d(oid) AS ("
							  " SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent OPERATOR(pg_catalog.=) $1"
							  " UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN d ON i.inhparent OPERATOR(pg_catalog.=) d.oid) "
							  "SELECT d.oid FROM d JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.oid "
							  "WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence OPERATOR(pg_catalog.<>) 't' "
							  "AND NOT EXISTS (SELECT 1 FROM notary.tables t WHERE t.relid OPERATOR(pg_catalog.=) d.oid::pg_catalog.regclass) "
							  "ORDER BY d.oid",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_inherits");
	leaves = SPI_palloc(sizeof(Oid) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		leaves[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));
	}
	leaves[SPI_processed] = InvalidOid;
	return leaves;
}

/* Enroll a table a DDL command brought in, and record the command. */
static void
enroll_with_ddl(Oid relid, DdlCommand *cmd)
{
	NotaryUserSwitch sw;
	bool		c;
	int32		table_id;

	enroll_table(relid, "enrolled by DDL");
	notary_spi_begin(&sw);
	table_id = lookup_table(relid, &c, NULL);
	notary_spi_end(&sw);
	ledger_append_event(NOTARY_OP_DDL, true, table_id,
						json_ddl(cmd->tag, cmd->identity, NULL));
}

PG_FUNCTION_INFO_V1(notary_on_table_rewrite);

/* table_rewrite: remember the table, so ddl_command_end records its rows */
Datum
notary_on_table_rewrite(PG_FUNCTION_ARGS)
{
	LOCAL_FCINFO(inner, 0);
	Oid			relid;
	MemoryContext old;

	require_event_trigger(fcinfo, "notary.on_table_rewrite()");
	if (notary_internal_ddl || notary_restore_mode)
		PG_RETURN_VOID();
	InitFunctionCallInfoData(*inner, NULL, 0, InvalidOid, NULL, NULL);
	relid = DatumGetObjectId(pg_event_trigger_table_rewrite_oid(inner));
	old = MemoryContextSwitchTo(TopMemoryContext);
	rewritten_tables = lappend_oid(rewritten_tables, relid);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/* One DDL command on a captured table: record, guard, re-baseline. */
static void
handle_table_ddl(DdlCommand *cmd, int32 table_id, bytea *old_digest,
				 bool rewritten)
{
	NotaryUserSwitch sw;
	const char *state;
	Relation	rel;
	RelInfo    *ri;

	notary_spi_begin(&sw);
	state = capture_trigger_state(cmd->relid);
	notary_spi_end(&sw);

	if (state != NULL && !superuser())
		refuse_capture_bypass(quote_qualified_identifier(get_namespace_name(get_rel_namespace(cmd->relid)),
														 get_rel_name(cmd->relid)));

	/* keep the current names in notary.tables (renames, SET SCHEMA) */
	(void) relinfo_register_table(cmd->relid, true);

	ledger_append_event(NOTARY_OP_DDL, true, table_id,
						json_ddl(cmd->tag, cmd->identity, state));

	rel = table_open(cmd->relid, ShareRowExclusiveLock);
	ri = relinfo_get(rel);
	if (old_digest == NULL ||
		VARSIZE_ANY_EXHDR(old_digest) != NOTARY_HASH_LEN ||
		memcmp(VARDATA_ANY(old_digest), ri->layout_digest, NOTARY_HASH_LEN) != 0)
	{
		(void) capture_baseline(rel, "layout change");
		ri = relinfo_get(rel);
		enroll_note_layout(ri->table_id, ri->layout_digest, true);
	}
	else if (rewritten)
	{
		/* ALTER ... TYPE ... USING and the like rewrite rows in place */
		(void) capture_baseline(rel, "table rewrite");
		ri = relinfo_get(rel);
		enroll_note_layout(ri->table_id, ri->layout_digest, true);
	}
	table_close(rel, NoLock);
}

PG_FUNCTION_INFO_V1(notary_on_ddl_end);

/* ddl_command_end */
Datum
notary_on_ddl_end(PG_FUNCTION_ARGS)
{
	NotaryUserSwitch sw;
	DdlCommand *cmds;
	int			ncmds;
	int			i;
	Oid			notary_nsp;
	List	   *handled = NIL;

	require_event_trigger(fcinfo, "notary.on_ddl_end()");
	if (notary_internal_ddl || notary_restore_mode || !notary_extension_present())
		PG_RETURN_VOID();
	notary_nsp = notary_catalog()->namespace_oid;

	notary_spi_begin(&sw);
	if (SPI_execute("SELECT d.command_tag, d.object_identity, "
					"CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					"     THEN COALESCE(i.indrelid, d.objid) "
					"     WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass "
					"     THEN tg.tgrelid END "
					"FROM pg_catalog.pg_event_trigger_ddl_commands() d "
					"LEFT JOIN pg_catalog.pg_index i ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					"     AND i.indexrelid OPERATOR(pg_catalog.=) d.objid "
					"LEFT JOIN pg_catalog.pg_trigger tg ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass "
					"     AND tg.oid OPERATOR(pg_catalog.=) d.objid "
					"WHERE NOT d.in_extension",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_event_trigger_ddl_commands()");
	ncmds = (int) SPI_processed;
	cmds = MemoryContextAlloc(CurTransactionContext, sizeof(DdlCommand) * Max(ncmds, 1));
	for (i = 0; i < ncmds; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		rd;
		char	   *s;

		s = SPI_getvalue(t, d, 1);
		cmds[i].tag = MemoryContextStrdup(CurTransactionContext, s ? s : "");
		s = SPI_getvalue(t, d, 2);
		cmds[i].identity = MemoryContextStrdup(CurTransactionContext, s ? s : "");
		rd = SPI_getbinval(t, d, 3, &isnull);
		cmds[i].relid = isnull ? InvalidOid : DatumGetObjectId(rd);
	}
	notary_spi_end(&sw);

	for (i = 0; i < ncmds; i++)
	{
		DdlCommand *cmd = &cmds[i];
		char		relkind;
		Oid			nsp;
		int32		table_id;
		bool		capturing = false;
		bytea	   *digest = NULL;

		if (!OidIsValid(cmd->relid))
			continue;
		relkind = get_rel_relkind(cmd->relid);
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			continue;
		nsp = get_rel_namespace(cmd->relid);

		if (nsp == notary_nsp)
		{
			const char *guard;

			notary_spi_begin(&sw);
			guard = guard_state(cmd->relid);
			notary_spi_end(&sw);
			ledger_append_event(NOTARY_OP_DDL, false, 0,
								json_ddl_guard(cmd->tag, cmd->identity, guard));
			/*
			 * An index capture cannot maintain (an expression, a predicate)
			 * on a ledger table is refused now, with the command, not at a
			 * later write: the entry above may sit in a pack until commit.
			 */
			if (cmd->relid == notary_catalog()->entries_oid ||
				cmd->relid == notary_catalog()->packs_oid)
				ledger_check_table(cmd->relid);
			continue;
		}

		notary_spi_begin(&sw);
		table_id = lookup_table(cmd->relid, &capturing, &digest);
		if (relkind == RELKIND_PARTITIONED_TABLE)
		{
			/*
			 * A partitioned table holds no rows itself; its partitions are
			 * enrolled wherever they live (ATTACH PARTITION, a partition in
			 * another schema), so that no write gets around capture.
			 */
			char	   *nspname = get_namespace_name(nsp);
			Oid		   *leaves = NULL;

			if ((nspname != NULL && notary_schema_enabled(nspname)) ||
				inherits_capture(cmd->relid))
				leaves = unenrolled_leaves(cmd->relid);
			notary_spi_end(&sw);
			for (int k = 0; leaves != NULL && OidIsValid(leaves[k]); k++)
				enroll_with_ddl(leaves[k], cmd);
			continue;
		}
		if (table_id == 0 && get_rel_persistence(cmd->relid) != RELPERSISTENCE_TEMP)
		{
			char	   *nspname = get_namespace_name(nsp);

			/* enrolled: in an enabled schema, or below an enrolled table */
			if ((nspname == NULL || !notary_schema_enabled(nspname)) &&
				!inherits_capture(cmd->relid))
				table_id = -1;
		}
		else if (table_id == 0)
			table_id = -1;
		notary_spi_end(&sw);

		if (table_id == -1)
			continue;			/* not ours */
		if (table_id == 0)
		{
			/* a new table in (or moved into) an enabled schema, or a child */
			enroll_with_ddl(cmd->relid, cmd);
			continue;
		}
		if (!capturing)
			continue;
		handle_table_ddl(cmd, table_id, digest,
						 list_member_oid(rewritten_tables, cmd->relid));
		handled = lappend_oid(handled, cmd->relid);
	}

	/* tables rewritten with another one (inheritance children of it) */
	{
		ListCell   *lc;

		foreach(lc, rewritten_tables)
		{
			Oid			relid = lfirst_oid(lc);
			bool		capturing = false;
			int32		table_id;

			if (list_member_oid(handled, relid))
				continue;
			notary_spi_begin(&sw);
			table_id = lookup_table(relid, &capturing, NULL);
			notary_spi_end(&sw);
			if (table_id > 0 && capturing)
			{
				Relation	rel = table_open(relid, ShareRowExclusiveLock);

				(void) capture_baseline(rel, "table rewrite");
				table_close(rel, NoLock);
			}
		}
	}
	list_free(rewritten_tables);
	rewritten_tables = NIL;
	PG_RETURN_VOID();
}

/* An object the sql_drop event trigger saw, copied out of SPI. */
typedef struct DroppedObject
{
	Oid			objid;
	char	   *type;
	char	   *name;
	char	   *identity;
} DroppedObject;

PG_FUNCTION_INFO_V1(notary_on_sql_drop);

/* sql_drop: record dropped tables, guard capture triggers */
Datum
notary_on_sql_drop(PG_FUNCTION_ARGS)
{
	NotaryUserSwitch sw;
	DroppedObject *objs;
	int			nobjs;
	int			i,
				j;

	require_event_trigger(fcinfo, "notary.on_sql_drop()");
	if (notary_internal_ddl)
		PG_RETURN_VOID();
	if (notary_restore_mode && notary_extension_present())
		PG_RETURN_VOID();
	if (!notary_extension_present())
	{
		/* the extension is going, by a path ddl_command_start did not see */
		if (!notary_allow_uninstall)
			refuse_uninstall("dropping extension pg_notary", "Dropping pg_notary by cascade");
		PG_RETURN_VOID();
	}
	(void) notary_catalog();

	notary_spi_begin(&sw);
	if (SPI_execute("SELECT objid, object_type, object_name, object_identity "
					"FROM pg_catalog.pg_event_trigger_dropped_objects()",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_event_trigger_dropped_objects()");
	nobjs = (int) SPI_processed;
	objs = MemoryContextAlloc(CurTransactionContext, sizeof(DroppedObject) * Max(nobjs, 1));
	for (i = 0; i < nobjs; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *s;

		objs[i].objid = DatumGetObjectId(SPI_getbinval(t, d, 1, &isnull));
		s = SPI_getvalue(t, d, 2);
		objs[i].type = MemoryContextStrdup(CurTransactionContext, s ? s : "");
		s = SPI_getvalue(t, d, 3);
		objs[i].name = s ? MemoryContextStrdup(CurTransactionContext, s) : NULL;
		s = SPI_getvalue(t, d, 4);
		objs[i].identity = MemoryContextStrdup(CurTransactionContext, s ? s : "");
	}

	for (i = 0; i < nobjs; i++)
	{
		DroppedObject *o = &objs[i];

		if (strcmp(o->type, "table") == 0)
		{
			bool		capturing;
			int32		table_id = lookup_table(o->objid, &capturing, NULL);
			Oid			argtypes[1] = {INT4OID};
			Datum		args[1];

			if (table_id == 0)
				continue;
			args[0] = Int32GetDatum(table_id);
			if (SPI_execute_with_args("UPDATE notary.tables SET relid = NULL, capturing = false "
									  "WHERE table_id OPERATOR(pg_catalog.=) $1",
									  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "could not update notary.tables");
			notary_spi_end(&sw);
			ledger_append_event(NOTARY_OP_DDL, true, table_id,
								json_ddl("DROP TABLE", o->identity, NULL));
			notary_spi_begin(&sw);
		}
		else if (strcmp(o->type, "trigger") == 0 &&
				 (strncmp(o->identity, "notary_capture on ", 18) == 0 ||
				  strncmp(o->identity, "notary_capture_truncate on ", 27) == 0))
		{
			const char *table_ident = strstr(o->identity, " on ") + 4;
			bool		table_dropped = false;
			Oid			relid;
			bool		capturing = false;
			int32		table_id = 0;

			for (j = 0; j < nobjs; j++)
				if (strcmp(objs[j].type, "table") == 0 &&
					strcmp(objs[j].identity, table_ident) == 0)
					table_dropped = true;
			if (table_dropped)
				continue;
			relid = DatumGetObjectId(DirectFunctionCall1(to_regclass,
														 CStringGetTextDatum(table_ident)));
			if (OidIsValid(relid))
				table_id = lookup_table(relid, &capturing, NULL);
			if (table_id == 0 || !capturing)
				continue;
			notary_spi_end(&sw);
			if (!superuser())
				refuse_capture_bypass(table_ident);
			ledger_append_event(NOTARY_OP_DDL, true, table_id,
								json_ddl("DROP TRIGGER", o->identity, "missing"));
			notary_spi_begin(&sw);
		}
		else if (strcmp(o->type, "trigger") == 0 && strstr(o->identity, " on notary.") != NULL)
		{
			/* a guard of the ledger, layouts or checkpoints was dropped */
			notary_spi_end(&sw);
			ledger_append_event(NOTARY_OP_DDL, false, 0,
								json_ddl_guard("DROP TRIGGER", o->identity, "off"));
			notary_spi_begin(&sw);
		}
		else if (strcmp(o->type, "schema") == 0 && o->name != NULL &&
				 notary_schema_enabled(o->name))
		{
			notary_schema_mark_disabled(o->name);
			notary_spi_end(&sw);
			ledger_append_event(NOTARY_OP_DDL, false, 0,
								json_ddl("DROP SCHEMA", o->identity, NULL));
			notary_spi_begin(&sw);
		}
	}
	notary_spi_end(&sw);
	PG_RETURN_VOID();
}
