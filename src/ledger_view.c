/*-------------------------------------------------------------------------
 *
 * ledger_view.c
 *		notary.ledger: single and packed entries as one table.
 *
 * Entries are stored two ways: one row each in notary.ledger_entries
 * (every entry of version 0.2, and those written with
 * notary.pack_entries = off), or packed, many to a row, in
 * notary.ledger_packs (pack.c).  The view notary.ledger is
 * ledger_entries UNION ALL notary.ledger_rows(), which unpacks every pack
 * visible to the query's snapshot, and the entries this backend has made
 * in its transaction and not yet inserted.  It shows the columns and
 * values a 0.2 ledger showed, so the hashes, export() and every outside
 * verifier are unchanged.
 *
 * A pack that does not decode makes the function fail (data corrupted),
 * rather than leave entries out of what a reader sees; notary.verify()
 * reports such a pack and goes on.
 *
 * Privileges: notary.ledger_rows() reads the packs through the heap
 * directly, so it checks that the caller may SELECT from notary.ledger.
 *
 *-------------------------------------------------------------------------
 */
#include "pack.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

/* Emit every entry of one pack body; false (with why) if it does not decode. */
static bool
emit_pack(Tuplestorestate *store, TupleDesc desc, const char *body, int len,
		  int32 chain_id, int64 first_pos, uint64 xid, const char **why)
{
	PackedEntry *es;
	int			n = pack_decode(body, len, chain_id, first_pos, xid, &es, why);
	Datum		values[LEDGER_NATTS];
	bool		nulls[LEDGER_NATTS];

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++)
	{
		pack_entry_values(&es[i], values, nulls);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	return true;
}

PG_FUNCTION_INFO_V1(notary_ledger_rows);

/* SQL: notary.ledger_rows() RETURNS SETOF notary.ledger_entries */
Datum
notary_ledger_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const NotaryCatalog *cat = notary_catalog();
	MemoryContext scratch;
	MemoryContext old;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	const char *body;
	int			len;
	int32		chain_id;
	int64		first_pos;
	uint64		xid;
	const char *why = NULL;

	if (GetUserId() != cat->owner_oid &&
		pg_class_aclcheck(cat->ledger_oid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view notary.ledger"),
				 errhint("notary.ledger_rows() shows the packed entries of notary.ledger to those who may read it; grant notary_auditor.")));

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != LEDGER_NATTS)
		elog(ERROR, "notary.ledger_entries has %d columns, expected %d",
			 rsinfo->setDesc->natts, LEDGER_NATTS);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_notary ledger_rows",
									ALLOCSET_DEFAULT_SIZES);

	rel = table_open(cat->packs_oid, AccessShareLock);
	if (RelationGetDescr(rel)->natts != PACKS_NATTS)
		elog(ERROR, "notary.ledger_packs has %d columns, expected %d",
			 RelationGetDescr(rel)->natts, PACKS_NATTS);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Datum		v[PACKS_NATTS];
		bool		n[PACKS_NATTS];
		bytea	   *b;

		old = MemoryContextSwitchTo(scratch);
		heap_deform_tuple(tup, RelationGetDescr(rel), v, n);
		chain_id = DatumGetInt32(v[PACKS_ATT_CHAIN_ID - 1]);
		first_pos = DatumGetInt64(v[PACKS_ATT_FIRST_POS - 1]);
		if (n[PACKS_ATT_ENTRIES - 1] || n[PACKS_ATT_XID - 1] ||
			n[PACKS_ATT_CHAIN_ID - 1] || n[PACKS_ATT_FIRST_POS - 1])
			why = "a column of the pack is null";
		else
		{
			b = DatumGetByteaPP(v[PACKS_ATT_ENTRIES - 1]);
			xid = U64FromFullTransactionId(DatumGetFullTransactionId(v[PACKS_ATT_XID - 1]));
			(void) emit_pack(rsinfo->setResult, rsinfo->setDesc,
							 VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b),
							 chain_id, first_pos, xid, &why);
		}
		MemoryContextSwitchTo(old);
		if (why != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a pack of notary.ledger_packs cannot be read: chain %d from position " INT64_FORMAT,
							chain_id, first_pos),
					 errdetail("%s.", why),
					 errhint("The ledger was damaged or tampered with; notary.verify() lists what it can still check.")));
		MemoryContextReset(scratch);
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	/* this transaction's entries not inserted yet */
	if (ledger_pending(&body, &len, &chain_id, &first_pos, &xid))
	{
		old = MemoryContextSwitchTo(scratch);
		if (!emit_pack(rsinfo->setResult, rsinfo->setDesc, body, len,
					   chain_id, first_pos, xid, &why))
			elog(ERROR, "pg_notary: the pending pack does not decode: %s", why);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(scratch);
	return (Datum) 0;
}
