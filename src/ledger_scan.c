/*-------------------------------------------------------------------------
 *
 * ledger_scan.c
 *		Every entry of the ledger in (chain_id, chain_pos) order, however it
 *		is stored: the single entries, the packs and the entries this backend
 *		has not stored yet, merged.
 *
 * Used where order matters and a sort of the view would cost too much:
 * notary.verify(), and the scans that build and check checkpoints.  Each
 * table is read straight from its primary key index under the query's
 * snapshot (no executor, no tuple copies, no row built for what the caller
 * does not read).  A pack that does not decode comes out as one item with
 * why set, covering its positions.  Memory: the decoded pack lives in a
 * context of the scan, replaced by the next pack.
 *
 *-------------------------------------------------------------------------
 */
#include "ledger_scan.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

/* One of the three ordered sources. */
typedef struct Source
{
	Relation	heap;
	Relation	index;
	SysScanDesc scan;
	bool		packs;
	bool		pending;
	bool		done;
	MemoryContext packcxt;		/* the decoded pack */
	PackedEntry *es;
	int			n;
	int			i;
	HeapTuple	single;			/* the current single entry */
	/* the current item */
	bool		has;
	int32		chain;
	int64		pos;
	bool		bad;
	const char *why;
	int64		bad_last;
} Source;

static void
source_open(Source *src, Oid relid, bool packs, MemoryContext mcxt)
{
	int			want = packs ? PACKS_NATTS : notary_catalog()->ledger_natts;

	memset(src, 0, sizeof(*src));
	src->heap = table_open(relid, AccessShareLock);
	if (RelationGetDescr(src->heap)->natts != want)
		elog(ERROR, "%s has %d columns, expected %d",
			 RelationGetRelationName(src->heap), RelationGetDescr(src->heap)->natts,
			 want);
	src->index = index_open(RelationGetPrimaryKeyIndex(src->heap), AccessShareLock);
	src->scan = systable_beginscan_ordered(src->heap, src->index, GetActiveSnapshot(), 0, NULL);
	src->packs = packs;
	if (packs)
		src->packcxt = AllocSetContextCreate(mcxt, "pg_notary scan pack",
											 ALLOCSET_DEFAULT_SIZES);
}

static void
source_close(Source *src)
{
	if (src->scan)
	{
		systable_endscan_ordered(src->scan);
		index_close(src->index, AccessShareLock);
		table_close(src->heap, AccessShareLock);
	}
	if (src->packcxt)
		MemoryContextDelete(src->packcxt);
}

/* Decode a pack body into the source (in its pack context). */
static void
source_load_pack(Source *src, const char *body, int len, int32 chain,
				 int64 first, int64 last, uint64 xid)
{
	MemoryContext old;

	/* the caller reset packcxt, and may have put the body there */
	old = MemoryContextSwitchTo(src->packcxt);
	src->n = pack_decode(body, len, chain, first, xid, &src->es, &src->why);
	MemoryContextSwitchTo(old);
	src->i = 0;
	src->chain = chain;
	src->pos = first;
	src->bad = src->n < 0;
	src->bad_last = last;
	src->has = true;
}

/* Move to the next item. */
static void
source_next(Source *src)
{
	src->has = false;
	if (src->done)
		return;
	if ((src->packs || src->pending) && !src->bad && src->es != NULL && ++src->i < src->n)
	{
		src->chain = src->es[src->i].e.chain_id;
		src->pos = src->es[src->i].e.chain_pos;
		src->has = true;
		return;
	}
	if (src->pending)
	{
		src->done = true;
		return;
	}
	for (;;)
	{
		HeapTuple	tup = systable_getnext_ordered(src->scan, ForwardScanDirection);
		TupleDesc	desc = RelationGetDescr(src->heap);
		bool		isnull;

		if (tup == NULL)
		{
			src->done = true;
			return;
		}
		if (!src->packs)
		{
			src->single = tup;
			src->chain = DatumGetInt32(heap_getattr(tup, LEDGER_ATT_CHAIN_ID, desc, &isnull));
			src->pos = DatumGetInt64(heap_getattr(tup, LEDGER_ATT_CHAIN_POS, desc, &isnull));
			src->has = true;
			return;
		}
		else
		{
			Datum		v[PACKS_NATTS];
			bool		n[PACKS_NATTS];
			MemoryContext old;

			/*
			 * The previous pack goes; this one's body, detoasted if it is a
			 * large single entry, lives with its decoded entries.
			 */
			MemoryContextReset(src->packcxt);
			old = MemoryContextSwitchTo(src->packcxt);
			heap_deform_tuple(tup, desc, v, n);
			if (n[PACKS_ATT_CHAIN_ID - 1] || n[PACKS_ATT_FIRST_POS - 1])
			{
				MemoryContextSwitchTo(old);
				continue;		/* the primary key forbids it */
			}
			src->n = pack_decode_row(v, n, &src->es, &src->bad_last, &src->why);
			MemoryContextSwitchTo(old);
			src->i = 0;
			src->chain = DatumGetInt32(v[PACKS_ATT_CHAIN_ID - 1]);
			src->pos = DatumGetInt64(v[PACKS_ATT_FIRST_POS - 1]);
			src->bad = src->n < 0;
			src->has = true;
			return;
		}
	}
}

/* Does a come before b in (chain, position) order? */
static bool
source_before(const Source *a, const Source *b)
{
	if (!b->has)
		return true;
	if (a->chain != b->chain)
		return a->chain < b->chain;
	return a->pos <= b->pos;
}


struct LedgerScan
{
	Source		src[3];			/* single entries, packs, pending */
	Source	   *cur;			/* the source of the item last returned */
	LedgerItem	item;
};

/* Begin a scan of every entry (SPI need not be connected). */
LedgerScan *
ledger_scan_begin(MemoryContext mcxt)
{
	const NotaryCatalog *cat = notary_catalog();
	LedgerScan *s = MemoryContextAllocZero(mcxt, sizeof(LedgerScan));
	const char *body;
	int			len;
	int32		pchain;
	int64		pfirst;
	uint64		pxid;

	source_open(&s->src[0], cat->entries_oid, false, mcxt);
	if (OidIsValid(cat->packs_oid))
		source_open(&s->src[1], cat->packs_oid, true, mcxt);
	else
		s->src[1].done = true;	/* a ledger of version 0.2 or older */
	s->src[2].pending = true;
	s->src[2].packcxt = AllocSetContextCreate(mcxt, "pg_notary scan pending",
											  ALLOCSET_SMALL_SIZES);
	if (ledger_pending(&body, &len, &pchain, &pfirst, &pxid))
		source_load_pack(&s->src[2], body, len, pchain, pfirst, pfirst, pxid);
	else
		s->src[2].done = true;
	source_next(&s->src[0]);
	if (!s->src[1].done)
		source_next(&s->src[1]);
	return s;
}

/*
 * The next entry in (chain_id, chain_pos) order, or NULL at the end.  What
 * it points to is valid until the next call.
 */
const LedgerItem *
ledger_scan_next(LedgerScan *s)
{
	Source	   *cur = NULL;
	LedgerItem *it = &s->item;

	if (s->cur != NULL)
	{
		/* past the item last returned (an unreadable pack: past all of it) */
		if (s->cur->bad)
		{
			s->cur->bad = false;
			s->cur->es = NULL;
		}
		source_next(s->cur);
	}
	for (int k = 0; k < 3; k++)
		if (s->src[k].has && (cur == NULL || source_before(&s->src[k], cur)))
			cur = &s->src[k];
	s->cur = cur;
	if (cur == NULL)
		return NULL;
	memset(it, 0, sizeof(*it));
	it->chain = cur->chain;
	it->pos = cur->pos;
	if (cur->bad)
	{
		it->why = cur->why;
		it->last = cur->bad_last;
	}
	else if (cur->packs || cur->pending)
		it->pe = &cur->es[cur->i];
	else
	{
		it->single = cur->single;
		it->desc = RelationGetDescr(cur->heap);
	}
	return it;
}

void
ledger_scan_end(LedgerScan *s)
{
	source_close(&s->src[0]);
	source_close(&s->src[1]);
	source_close(&s->src[2]);
}

/*
 * A good item's columns of notary.ledger; for a packed entry without the
 * row image and the detail (null), which the caller reads from it->pe.
 */
void
ledger_item_values(const LedgerItem *it, Datum *values, bool *nulls)
{
	if (it->pe == NULL)
	{
		heap_deform_tuple(it->single, it->desc, values, nulls);
		if (it->desc->natts < LEDGER_ATT_FORMAT)
		{
			/* before 0.4 every entry is format 1 */
			values[LEDGER_ATT_FORMAT - 1] = Int16GetDatum(1);
			nulls[LEDGER_ATT_FORMAT - 1] = false;
		}
	}
	else
		pack_entry_values(it->pe, values, nulls, false);
}
