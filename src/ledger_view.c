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
#include "access/genam.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

/*
 * Emit the decoded entries of one pack (of table only_table, if not 0, and
 * op only_op, if not NULL); false (with why) if the pack did not decode
 * (n < 0) or holds text the view must not hand out.
 */
static bool
emit_pack(Tuplestorestate *store, TupleDesc desc, const PackedEntry *es, int n,
		  int32 only_table, const char *only_op, const char **why)
{
	Datum		values[LEDGER_NATTS];
	bool		nulls[LEDGER_NATTS];

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++)
	{
		if (only_table != 0 && (!es[i].e.has_table || es[i].e.table_id != only_table))
			continue;
		if (only_op != NULL && strcmp(es[i].e.op, only_op) != 0)
			continue;
		if (!pack_entry_valid_text(&es[i]))
		{
			*why = psprintf("entry %d holds text that is not valid in the server encoding, or a detail that is not JSON", i + 1);
			return false;
		}
		pack_entry_values(&es[i], values, nulls, true);
		tuplestore_putvalues(store, desc, values, nulls);
	}
	return true;
}

/*
 * Put the packed entries (of one table, or of one op, if asked) and this
 * transaction's pending ones into the SRF's tuplestore; with with_singles,
 * the single entries of that op too.
 */
static void
emit_entries(ReturnSetInfo *rsinfo, int32 only_table, const char *only_op,
			 bool with_singles)
{
	const NotaryCatalog *cat = notary_catalog();
	MemoryContext scratch;
	MemoryContext old;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	const char *body;
	int			len;
	int32		chain_id = 0;
	int64		first_pos = 0;
	uint64		xid;
	const char *why = NULL;

	if (rsinfo->setDesc->natts != cat->ledger_natts)
		elog(ERROR, "notary.ledger_entries has %d columns, expected %d",
			 rsinfo->setDesc->natts, cat->ledger_natts);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_notary ledger_rows",
									ALLOCSET_DEFAULT_SIZES);

	if (with_singles)
	{
		rel = table_open(cat->entries_oid, AccessShareLock);
		if (RelationGetDescr(rel)->natts != cat->ledger_natts)
			elog(ERROR, "notary.ledger_entries has %d columns, expected %d",
				 RelationGetDescr(rel)->natts, cat->ledger_natts);
		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Datum		v[LEDGER_NATTS];
			bool		n[LEDGER_NATTS];

			old = MemoryContextSwitchTo(scratch);
			heap_deform_tuple(tup, RelationGetDescr(rel), v, n);
			if (!n[5] && (only_op == NULL || strcmp(TextDatumGetCString(v[5]), only_op) == 0) &&
				(only_table == 0 || (!n[12] && DatumGetInt32(v[12]) == only_table)))
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
	}

	rel = table_open(cat->packs_oid, AccessShareLock);
	if (RelationGetDescr(rel)->natts != PACKS_NATTS)
		elog(ERROR, "notary.ledger_packs has %d columns, expected %d",
			 RelationGetDescr(rel)->natts, PACKS_NATTS);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Datum		v[PACKS_NATTS];
		bool		n[PACKS_NATTS];

		old = MemoryContextSwitchTo(scratch);
		heap_deform_tuple(tup, RelationGetDescr(rel), v, n);
		chain_id = n[PACKS_ATT_CHAIN_ID - 1] ? 0 : DatumGetInt32(v[PACKS_ATT_CHAIN_ID - 1]);
		first_pos = n[PACKS_ATT_FIRST_POS - 1] ? 0 : DatumGetInt64(v[PACKS_ATT_FIRST_POS - 1]);
		if (n[PACKS_ATT_CHAIN_ID - 1] || n[PACKS_ATT_FIRST_POS - 1])
			why = "a column of the pack is null";
		else
		{
			PackedEntry *es;
			int64		last_pos;
			int			count = pack_decode_row(v, n, &es, &last_pos, &why);

			(void) emit_pack(rsinfo->setResult, rsinfo->setDesc, es, count,
							 only_table, only_op, &why);
		}
		MemoryContextSwitchTo(old);
		if (why != NULL)
			pack_unreadable(chain_id, first_pos, why);
		MemoryContextReset(scratch);
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	/* this transaction's entries not inserted yet */
	if (ledger_pending(&body, &len, &chain_id, &first_pos, &xid))
	{
		PackedEntry *es;
		int			count;

		old = MemoryContextSwitchTo(scratch);
		count = pack_decode(body, len, chain_id, first_pos, xid, &es, &why);
		if (!emit_pack(rsinfo->setResult, rsinfo->setDesc, es, count,
					   only_table, only_op, &why))
			elog(ERROR, "pg_notary: the pending pack does not decode: %s", why);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(scratch);
}

PG_FUNCTION_INFO_V1(notary_ledger_rows);

/*
 * SQL: notary.ledger_rows() RETURNS SETOF notary.ledger_entries, and
 * notary.ledger_rows(table_id integer): only that table's entries, without
 * building the others' rows (every pack is still read and decoded).
 */
Datum
notary_ledger_rows(PG_FUNCTION_ARGS)
{
	const NotaryCatalog *cat = notary_catalog();

	if (GetUserId() != cat->owner_oid &&
		pg_class_aclcheck(cat->ledger_oid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view notary.ledger"),
				 errhint("notary.ledger_rows() shows the packed entries of notary.ledger to those who may read it; grant notary_auditor.")));
	InitMaterializedSRF(fcinfo, 0);
	emit_entries((ReturnSetInfo *) fcinfo->resultinfo,
				 PG_NARGS() > 0 ? PG_GETARG_INT32(0) : 0, NULL, false);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(notary_redaction_rows);

/*
 * SQL: notary.redaction_rows() RETURNS SETOF notary.ledger_entries: the
 * REDACT entries, single and packed, for the view notary.redactions, to
 * those who may read that view (the redactor may; it may not read the
 * rest of the ledger).
 */
Datum
notary_redaction_rows(PG_FUNCTION_ARGS)
{
	const NotaryCatalog *cat = notary_catalog();
	Oid			view = get_relname_relid("redactions", cat->namespace_oid);

	if (GetUserId() != cat->owner_oid &&
		(!OidIsValid(view) ||
		 pg_class_aclcheck(view, GetUserId(), ACL_SELECT) != ACLCHECK_OK))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view notary.redactions")));
	InitMaterializedSRF(fcinfo, 0);
	emit_entries((ReturnSetInfo *) fcinfo->resultinfo, 0, NOTARY_OP_REDACT, true);
	return (Datum) 0;
}

/* Bytes on disk of a relation's indexes. */
static int64
indexes_bytes(Relation rel)
{
	List	   *ids = RelationGetIndexList(rel);
	ListCell   *lc;
	int64		total = 0;

	foreach(lc, ids)
	{
		Relation	ix = index_open(lfirst_oid(lc), AccessShareLock);

		total += (int64) RelationGetNumberOfBlocks(ix) * BLCKSZ;
		index_close(ix, AccessShareLock);
	}
	return total;
}

typedef struct StorageKey
{
	int32		table_id;		/* 0: no table */
	char		op[NAMEDATALEN];
	bool		packed;
} StorageKey;

typedef struct StorageSum
{
	StorageKey	key;
	int64		entries;
	double		bytes;
} StorageSum;

static void
storage_add(HTAB *h, int32 table_id, const char *op, bool packed, double bytes)
{
	StorageKey	key;
	StorageSum *s;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.table_id = table_id;
	strlcpy(key.op, op ? op : "", NAMEDATALEN);
	key.packed = packed;
	s = hash_search(h, &key, HASH_ENTER, &found);
	if (!found)
	{
		s->entries = 0;
		s->bytes = 0;
	}
	s->entries++;
	s->bytes += bytes;
}

PG_FUNCTION_INFO_V1(notary_storage);

/*
 * SQL: notary.storage() RETURNS TABLE (table_id, op, packed, entries,
 * bytes_per_entry): what captured changes cost in ledger storage.  A
 * single entry costs its tuple and line pointer; a packed one the share of
 * its pack's tuple and line pointer that its own bytes are of the pack's
 * entries (so a pack's header, and any compression, are shared out in
 * proportion).  Each table's index bytes are shared out
 * equally among the entries it stores.  Heap pages' own overhead and
 * free space are left out.
 */
Datum
notary_storage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const NotaryCatalog *cat = notary_catalog();
	HASHCTL		ctl;
	HTAB	   *h;
	HASH_SEQ_STATUS hs;
	StorageSum *s;
	MemoryContext scratch;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	if (GetUserId() != cat->owner_oid &&
		pg_class_aclcheck(cat->ledger_oid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for view notary.ledger"),
				 errhint("notary.storage() is for those who may read notary.ledger; grant notary_auditor.")));
	InitMaterializedSRF(fcinfo, 0);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(StorageKey);
	ctl.entrysize = sizeof(StorageSum);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("pg_notary storage", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_notary storage",
									ALLOCSET_DEFAULT_SIZES);

	for (int which = 0; which < 2; which++)
	{
		bool		packed = (which == 1);
		Oid			relid = packed ? cat->packs_oid : cat->entries_oid;
		int64		entries = 0;
		double		index_bytes;

		if (!OidIsValid(relid))
			continue;
		rel = table_open(relid, AccessShareLock);
		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(scratch);
			double		tuple_bytes = (double) tup->t_len + sizeof(ItemIdData);

			if (!packed)
			{
				bool		table_null;
				bool		op_null;
				Datum		t = heap_getattr(tup, 13, RelationGetDescr(rel), &table_null);
				Datum		op = heap_getattr(tup, 6, RelationGetDescr(rel), &op_null);

				storage_add(h, table_null ? 0 : DatumGetInt32(t),
							op_null ? NULL : TextDatumGetCString(op), false, tuple_bytes);
				entries++;
			}
			else
			{
				Datum		v[PACKS_NATTS];
				bool		n[PACKS_NATTS];
				PackedEntry *es;
				const char *why;
				int			ne = -1;
				int			used = 0;

				heap_deform_tuple(tup, RelationGetDescr(rel), v, n);
				if (!n[PACKS_ATT_ENTRIES - 1])
				{
					bytea	   *b = DatumGetByteaPP(v[PACKS_ATT_ENTRIES - 1]);

					ne = pack_decode(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), 0, 1, 0, &es, &why);
				}
				for (int i = 0; i < ne; i++)
					used += es[i].encoded_len;
				for (int i = 0; i < ne; i++)
					storage_add(h, es[i].e.has_table ? es[i].e.table_id : 0, es[i].e.op, true,
								tuple_bytes * es[i].encoded_len / used);
				entries += Max(ne, 0);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);
			CHECK_FOR_INTERRUPTS();
		}
		table_endscan(scan);
		index_bytes = (double) indexes_bytes(rel);
		table_close(rel, AccessShareLock);

		/* the indexes, shared out equally among the entries */
		hash_seq_init(&hs, h);
		while ((s = hash_seq_search(&hs)) != NULL)
			if (s->key.packed == packed)
				s->bytes += s->entries * index_bytes / (double) entries;
	}

	hash_seq_init(&hs, h);
	while ((s = hash_seq_search(&hs)) != NULL)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		if (s->key.table_id != 0)
			values[0] = Int32GetDatum(s->key.table_id);
		else
			nulls[0] = true;
		values[1] = CStringGetTextDatum(s->key.op);
		values[2] = BoolGetDatum(s->key.packed);
		values[3] = Int64GetDatum(s->entries);
		values[4] = Float8GetDatum(s->bytes / s->entries);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextDelete(scratch);
	return (Datum) 0;
}

/*
 * A FROM item (aliased l) for the entries of one table, whose table_id is
 * the query parameter param ("$1"): the single entries through their
 * index, and the packed ones without building the other tables' rows.
 * Queries on the view notary.ledger build every row of every pack first.
 * Before version 0.3 (no packs) it is the table notary.ledger itself.
 */
char *
ledger_of_table_sql(const char *param)
{
	if (!OidIsValid(notary_catalog()->packs_oid))
		return pstrdup("notary.ledger l");
	return psprintf("(SELECT * FROM notary.ledger_entries WHERE table_id OPERATOR(pg_catalog.=) %s "
					"UNION ALL SELECT * FROM notary.ledger_rows(%s)) l", param, param);
}
