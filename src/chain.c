/*-------------------------------------------------------------------------
 *
 * chain.c
 *		Per-backend chain heads, and their rollback with (sub)transactions.
 *
 * Writers must never wait for each other because of the ledger, so there
 * is no global chain head.  Each backend appends to the chain numbered by
 * its backend id: two live backends never share a backend id, so a chain
 * has exactly one writer at a time.  A backend reads its chain's head (the
 * last committed entry) once, on its first write, and then keeps it in
 * memory.  The previous holder of the id has exited, so its transactions
 * are over; prepared transactions could outlive it, so a transaction that
 * wrote entries may not be prepared (XACT_EVENT_PRE_PREPARE).
 *
 * Rollback: entries written in an aborted (sub)transaction vanish, so the
 * head must go back too.  The head at the start of the transaction is kept;
 * for subtransactions, the head is saved lazily, the first time a
 * subtransaction writes, on a small stack of (subid, head).  Subtransaction
 * ids grow, so on abort of subid S every saved state with subid >= S
 * belongs to S or its children, and the oldest of them is the head to go
 * back to.  On commit of S its saved state passes to its parent, unless
 * the parent saved an (older) state of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "pack.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "storage/backendid.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

typedef struct SavedHead
{
	SubTransactionId subid;
	int64		pos;
	uint8		hash[NOTARY_HASH_LEN];
} SavedHead;

#define MAX_SAVED_HEADS 64

static bool head_loaded = false;
static Oid	head_ledger_oid = InvalidOid;	/* the ledger the head is of */
static int64 head_pos = 0;
static uint8 head_hash[NOTARY_HASH_LEN];
static bool head_pending = false;	/* the head is recorded, not hashed yet:
									 * head_hash is not its hash */

static bool wrote_in_xact = false;
static Oid	xact_start_ledger_oid;
static int64 xact_start_pos;
static uint8 xact_start_hash[NOTARY_HASH_LEN];

static SavedHead *saved = NULL;		/* in TopMemoryContext */
static int	nsaved = 0;
static int	maxsaved = 0;

/*
 * The last entry of this chain in one ledger table: a direct, backward
 * scan of its (chain_id, position) primary key with SnapshotSelf: it sees
 * every committed entry, takes no SERIALIZABLE predicate lock (a
 * transaction snapshot would, and every other writer's insert would then
 * count as a conflict), and needs no privilege.  A pack's last entry is
 * its last_pos; its hash is the last of its body.
 */
static void
chain_last_in(Oid relid, bool packs, int64 *pos, uint8 *hash)
{
	Relation	heap = table_open(relid, AccessShareLock);
	Oid			pkoid = RelationGetPrimaryKeyIndex(heap);
	Relation	index;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tup;

	if (!OidIsValid(pkoid))
		elog(ERROR, "%s has no primary key", RelationGetRelationName(heap));
	index = index_open(pkoid, AccessShareLock);
	/* attribute numbers of the heap, not of the index */
	ScanKeyInit(&key, packs ? PACKS_ATT_CHAIN_ID : LEDGER_ATT_CHAIN_ID,
				BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum((int32) MyBackendId));
	scan = systable_beginscan_ordered(heap, index, SnapshotSelf, 1, &key);
	tup = systable_getnext_ordered(scan, BackwardScanDirection);
	*pos = 0;
	memset(hash, 0, NOTARY_HASH_LEN);
	if (HeapTupleIsValid(tup))
	{
		TupleDesc	desc = RelationGetDescr(heap);
		bool		isnull;
		Datum		d;

		if (!packs)
		{
			*pos = DatumGetInt64(heap_getattr(tup, LEDGER_ATT_CHAIN_POS, desc, &isnull));
			d = heap_getattr(tup, LEDGER_ATT_ENTRY_HASH, desc, &isnull);
			if (!isnull)
			{
				bytea	   *h = DatumGetByteaPP(d);

				if (VARSIZE_ANY_EXHDR(h) == NOTARY_HASH_LEN)
					memcpy(hash, VARDATA_ANY(h), NOTARY_HASH_LEN);
			}
		}
		else
		{
			int64		first = DatumGetInt64(heap_getattr(tup, PACKS_ATT_FIRST_POS, desc, &isnull));
			int64		count = 0;

			d = heap_getattr(tup, PACKS_ATT_ENTRIES, desc, &isnull);
			if (!isnull)
			{
				bytea	   *b = DatumGetByteaPP(d);

				/*
				 * A damaged pack leaves the hash zero: the next entry then
				 * links to nothing, which verify() reports with the damage.
				 */
				(void) pack_last_hash(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), &count, hash);
			}
			*pos = count > 0 ? first + count - 1 :
				DatumGetInt64(heap_getattr(tup, PACKS_ATT_LAST_POS, desc, &isnull));
		}
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
}

/*
 * Read this chain's last committed entry: the later of the last single
 * entry and the last packed one.
 */
static void
chain_load_head(void)
{
	const NotaryCatalog *cat = notary_catalog();
	int64		pos;
	uint8		hash[NOTARY_HASH_LEN];

	chain_last_in(cat->entries_oid, false, &head_pos, head_hash);
	if (OidIsValid(cat->packs_oid))
		chain_last_in(cat->packs_oid, true, &pos, hash);
	else
		pos = 0;
	if (pos > head_pos)
	{
		head_pos = pos;
		memcpy(head_hash, hash, NOTARY_HASH_LEN);
	}
	head_loaded = true;
	head_pending = false;
	head_ledger_oid = cat->ledger_oid;
}

/*
 * Reserve the next position of this backend's chain: returns the chain id,
 * the position and the previous entry's hash (prev_hash may be NULL).  The
 * head moves only when chain_advance() (or chain_advance_pending()) is
 * called after the entry was inserted (or recorded).
 *
 * A subtransaction's first write saves the head, which is hashed then:
 * recorded entries belong to the pack's owner, which wrote before
 * (ledger.c), so the head a save or a rollback sees is always hashed.
 */
void
chain_reserve(int32 *chain_id, int64 *pos, uint8 *prev_hash)
{
	SubTransactionId cur = GetCurrentSubTransactionId();

	/*
	 * A ledger dropped and created again (DROP EXTENSION, CREATE EXTENSION in
	 * this session) starts its chains afresh.
	 */
	if (!head_loaded || head_ledger_oid != notary_catalog()->ledger_oid)
		chain_load_head();

	if (!wrote_in_xact)
	{
		xact_start_ledger_oid = head_ledger_oid;
		xact_start_pos = head_pos;
		memcpy(xact_start_hash, head_hash, NOTARY_HASH_LEN);
		wrote_in_xact = true;
	}
	if (cur != TopSubTransactionId &&
		(nsaved == 0 || saved[nsaved - 1].subid != cur))
	{
		if (nsaved == maxsaved)
		{
			int			newmax = maxsaved == 0 ? MAX_SAVED_HEADS : maxsaved * 2;

			if (saved == NULL)
				saved = MemoryContextAlloc(TopMemoryContext,
										   newmax * sizeof(SavedHead));
			else
				saved = repalloc(saved, newmax * sizeof(SavedHead));
			maxsaved = newmax;
		}
		saved[nsaved].subid = cur;
		saved[nsaved].pos = head_pos;
		memcpy(saved[nsaved].hash, head_hash, NOTARY_HASH_LEN);
		nsaved++;
	}

	*chain_id = (int32) MyBackendId;
	*pos = head_pos + 1;
	if (prev_hash != NULL)
		chain_head_hash(prev_hash);
}

/* The hash of the chain's last entry, which must be hashed. */
void
chain_head_hash(uint8 *out)
{
	if (head_pending)
		elog(ERROR, "pg_notary: the last entry of the chain is not hashed yet");
	memcpy(out, head_hash, NOTARY_HASH_LEN);
}

/* The entry at pos was inserted (or hashed): it is the head now. */
void
chain_advance(int64 pos, const uint8 *hash)
{
	head_pos = pos;
	memcpy(head_hash, hash, NOTARY_HASH_LEN);
	head_pending = false;
}

/* The entry at pos was recorded, to be hashed later (chain_advance). */
void
chain_advance_pending(int64 pos)
{
	head_pos = pos;
	head_pending = true;
}

static void
chain_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (wrote_in_xact)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that wrote pg_notary ledger entries"),
						 errdetail("Ledger chains have one writer at a time; a prepared transaction would outlive its writer."),
						 errhint("Commit the transaction without two-phase commit.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			wrote_in_xact = false;
			nsaved = 0;
			relinfo_xact_end(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (wrote_in_xact)
			{
				head_pos = xact_start_pos;
				memcpy(head_hash, xact_start_hash, NOTARY_HASH_LEN);
				head_pending = false;
				/* the ledger was replaced and the replacement rolled back */
				if (head_ledger_oid != xact_start_ledger_oid)
					head_loaded = false;
			}
			wrote_in_xact = false;
			nsaved = 0;
			relinfo_xact_end(false);
			notary_catalog_reset();
			break;
		default:
			break;
	}
}

static void
chain_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		bool		restored = false;

		while (nsaved > 0 && saved[nsaved - 1].subid >= mySubid)
		{
			nsaved--;
			head_pos = saved[nsaved].pos;
			memcpy(head_hash, saved[nsaved].hash, NOTARY_HASH_LEN);
			head_pending = false;
			restored = true;
		}
		(void) restored;
		relinfo_xact_end(false);
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		if (nsaved > 0 && saved[nsaved - 1].subid == mySubid)
		{
			if (parentSubid == TopSubTransactionId ||
				(nsaved > 1 && saved[nsaved - 2].subid == parentSubid))
				nsaved--;		/* the parent's own state is older */
			else
				saved[nsaved - 1].subid = parentSubid;
		}
	}
}

void
chain_init(void)
{
	RegisterXactCallback(chain_xact_callback, NULL);
	RegisterSubXactCallback(chain_subxact_callback, NULL);
}
