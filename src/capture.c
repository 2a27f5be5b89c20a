/*-------------------------------------------------------------------------
 *
 * capture.c
 *		The capture triggers, and baselines of whole tables.
 *
 * notary.capture() is an AFTER ROW trigger (it sees the row as finally
 * written, after every BEFORE trigger), created ENABLE ALWAYS so that
 * session_replication_role = replica does not bypass it.  It fires for
 * INSERT, UPDATE, DELETE and COPY.  An INSERT records the new image, an
 * UPDATE the new image and the row digest of the old one (the before-image
 * itself is the row's previous entry), a DELETE the removed row.
 *
 * Row triggers do not fire for TRUNCATE, so notary.capture_truncate() runs
 * BEFORE TRUNCATE and records every row the TRUNCATE removes.  TRUNCATE
 * holds an ACCESS EXCLUSIVE lock by then, so a fresh snapshot sees exactly
 * the rows that go.
 *
 * A baseline records every row of a table as SNAPSHOT entries, then a
 * BASELINE entry with the count: on enrolment, and after a change of the
 * table's layout (so that every later before-image has an image under the
 * same layout to be compared with).
 *
 * Memory: the trigger runs in the executor's per-tuple context, which is
 * reset after each row; whole-table scans reset their own per-row context.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* Record one row of rel under op, with a fresh image (and salts). */
static void
capture_row(RelInfo *ri, Relation rel, const char *op, HeapTuple tuple,
			HeapTuple old_tuple)
{
	NotaryEntry e;
	NotaryImage img;
	TupleDesc	tupdesc = RelationGetDescr(rel);

	memset(&e, 0, sizeof(e));
	e.op = op;
	e.has_table = true;
	e.table_id = ri->table_id;
	e.layout_id = ri->layout_id;
	/*
	 * Numbered when its pack is stored, also for a table with a DEFERRABLE
	 * key: its check, a constraint trigger that may wait for another
	 * transaction's key, fires before that (at the latest at commit, before
	 * pre-commit), so the number comes after the wait (ledger_seq.c).
	 */
	e.number_at_store = true;
	relinfo_build_image(ri, tupdesc, tuple, true, &img);
	/* hashed by ledger_append(), in the format of the installed schema */
	format_entry_image(&e, ri->layout_digest, &img, ri->personal, ri->npersonal);
	if (old_tuple != NULL)
	{
		NotaryImage old;

		relinfo_build_old_image(ri, tupdesc, old_tuple, tuple, &img, &old);
		format_row_digest(ri->layout_digest, &old, ri->personal, ri->npersonal,
						  e.old_digest);
		e.has_old = true;
	}
	ledger_append(&e);
}

PG_FUNCTION_INFO_V1(notary_capture);

/* AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW */
Datum
notary_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	RelInfo    *ri;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notary.capture() must be an AFTER ... FOR EACH ROW trigger")));
	if (notary_restore_mode)
		return PointerGetDatum(NULL);

	ri = relinfo_get(td->tg_relation);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		capture_row(ri, td->tg_relation, NOTARY_OP_INSERT, td->tg_trigtuple, NULL);
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		capture_row(ri, td->tg_relation, NOTARY_OP_UPDATE, td->tg_newtuple,
					td->tg_trigtuple);
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		capture_row(ri, td->tg_relation, NOTARY_OP_DELETE, td->tg_trigtuple, NULL);
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notary.capture() fired for an unexpected event")));

	return PointerGetDatum(NULL);
}

/* Record every row of rel visible to a fresh snapshot under op. */
static int64
capture_all_rows(Relation rel, const char *op)
{
	RelInfo    *ri = relinfo_get(rel);
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	TableScanDesc scan = table_beginscan(rel, snap, 0, NULL);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext,
												 "pg_notary row",
												 ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	HeapTuple	tuple;
	int64		n = 0;

	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		old = MemoryContextSwitchTo(rowcxt);
		capture_row(ri, rel, op, tuple, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(rowcxt);
		n++;
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	MemoryContextDelete(rowcxt);
	return n;
}

PG_FUNCTION_INFO_V1(notary_capture_truncate);

/* BEFORE TRUNCATE ... FOR EACH STATEMENT */
Datum
notary_capture_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("notary.capture_truncate() must be a BEFORE TRUNCATE trigger")));
	if (notary_restore_mode)
		return PointerGetDatum(NULL);

	(void) capture_all_rows(td->tg_relation, NOTARY_OP_TRUNCATE);
	return PointerGetDatum(NULL);
}

/*
 * Record every row of rel as a SNAPSHOT entry, then a BASELINE entry that
 * says why and how many.  The caller holds a lock that keeps writers out.
 */
int64
capture_baseline(Relation rel, const char *reason)
{
	int64		n = capture_all_rows(rel, NOTARY_OP_SNAPSHOT);
	RelInfo    *ri = relinfo_get(rel);
	StringInfoData sb;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"reason\": ");
	escape_json(&sb, reason);
	appendStringInfo(&sb, ", \"rows\": " INT64_FORMAT "}", n);
	ledger_append_event(NOTARY_OP_BASELINE, true, ri->table_id, sb.data);
	return n;
}
