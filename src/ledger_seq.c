/*-------------------------------------------------------------------------
 *
 * ledger_seq.c
 *		The global order of entries: their seq numbers, from
 *		notary.ledger_seq, a block at a time.
 *
 * seq orders entries across chains.  verify_table(), history() and the
 * verifiers replay a table's entries in seq order, so two changes of one
 * row (or key) must be numbered in the order their locks were granted: the
 * second writer waits for the first one's commit, and the first one's
 * number must be the smaller.  An entry is therefore numbered while its
 * transaction holds its row's lock: after the lock was granted (the row
 * was changed) and before it is released at the end of the transaction.
 * That is why the sequence has CACHE 1: a cache hands a backend numbers
 * before it holds the locks they are used for.
 *
 * Captured rows are numbered when their pack is stored (ledger.c): at
 * pre-commit, when the pack is full, before a utility statement, or when
 * something reads or writes past them.  Every row of the pack is locked by
 * then, so one nextval can number many of them: since 0.4 the sequence
 * counts in steps of its INCREMENT (32), and the nextval that returns v
 * hands out the block v - 32 + 1 .. v, which no nextval can return again
 * whatever the increment is later set to.  A pack of a TPC-B transaction
 * (4 entries) takes one nextval instead of 4; a bulk-loaded pack of 70
 * rows takes 3 (issue 6).
 *
 * Entries numbered when they are written, one nextval each:
 *
 *	- entries that are not captured rows (REDACT, DDL, BASELINE, ...): a
 *	  REDACT entry names entries already written, possibly by others, and
 *	  must come after them;
 *	- rows written while a subtransaction below the pack's owner is current
 *	  (they are stored as single entries at once);
 *	- an entry that fills a pack on its own (ledger.c: recording it would
 *	  keep two more copies of it).
 *
 * Before such an entry is numbered, the entries recorded before it are
 * (ledger_number_pending), so that seq grows along each chain.
 *
 * A DEFERRABLE unique or exclusion constraint is checked by a constraint
 * trigger that may wait for another transaction's key: at the end of the
 * statement (before pg_notary's trigger for the same row, by name), or at
 * commit with INITIALLY DEFERRED, before pre-commit.  Numbered when the
 * pack is stored, such a row's entry comes after that wait, hence after
 * the entry of the transaction it waited for.  Only when the pack is
 * stored before commit (full, a utility statement such as SET
 * CONSTRAINTS, a read of notary.ledger, an entry numbered at once) can a
 * deferred check still come after the number (docs/operations.md).
 *
 * A block's unused numbers are skipped, so seq has gaps (as any sequence
 * has after a rollback).  With INCREMENT BY 1 (a database that ran a
 * development build of 0.4 before this was added) every entry takes its
 * own nextval, as before 0.4.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/htup_details.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "utils/syscache.h"

/* One number. */
int64
ledger_seq_next(Oid seq_relid)
{
	return nextval_internal(seq_relid, false);
}

/* n numbers, in increasing order, into out[0 .. n-1]. */
void
ledger_seq_take(Oid seq_relid, int n, int64 *out)
{
	int64		increment = 0;
	int64		seqmin = 0;
	int			i = 0;

	while (i < n)
	{
		int64		v = nextval_internal(seq_relid, false);
		int64		first = v;

		/*
		 * nextval returned v after v - INCREMENT, so the numbers between
		 * were never handed out, and no later nextval returns any of them.
		 * (An ALTER SEQUENCE cannot commit in between: it waits for this
		 * transaction, which holds a lock on the sequence since its
		 * nextval.)  The first nextval of all returns the start value
		 * itself: not below MINVALUE.
		 */
		if (increment == 0 && n - i > 1)
		{
			HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq_relid));
			Form_pg_sequence seqform;

			if (!HeapTupleIsValid(tup))
				elog(ERROR, "cache lookup failed for sequence %u", seq_relid);
			seqform = (Form_pg_sequence) GETSTRUCT(tup);
			increment = seqform->seqincrement;
			seqmin = seqform->seqmin;
			ReleaseSysCache(tup);
		}
		if (increment > 1 && n - i > 1)
		{
			int64		lowest;

			if (!pg_sub_s64_overflow(v, increment - 1, &lowest))
				first = Max(lowest, seqmin);
			/* as many as are needed: the rest of the block is skipped */
			if (v - first >= n - i)
				first = v - (n - i) + 1;
		}
		for (; first <= v && i < n; first++)
			out[i++] = first;
	}
}
