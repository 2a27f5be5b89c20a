/*-------------------------------------------------------------------------
 *
 * ledger_scan.h
 *		Every entry in chain order, from both storages (ledger_scan.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOTARY_LEDGER_SCAN_H
#define NOTARY_LEDGER_SCAN_H

#include "pack.h"

/* One item of a scan: an entry, or a pack that cannot be read. */
typedef struct LedgerItem
{
	int32		chain;
	int64		pos;
	const char *why;			/* set: an unreadable pack, from pos to last */
	int64		last;
	const PackedEntry *pe;		/* a packed (or not yet stored) entry */
	HeapTuple	single;			/* or a single entry, of descriptor desc */
	TupleDesc	desc;
} LedgerItem;

typedef struct LedgerScan LedgerScan;

extern LedgerScan *ledger_scan_begin(MemoryContext mcxt);
extern const LedgerItem *ledger_scan_next(LedgerScan *s);
extern void ledger_scan_end(LedgerScan *s);
extern void ledger_item_values(const LedgerItem *it, Datum *values, bool *nulls);

#endif							/* NOTARY_LEDGER_SCAN_H */
