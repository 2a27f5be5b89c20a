/*-------------------------------------------------------------------------
 *
 * ledger_seq.c
 *		The global order of entries: their seq numbers, from
 *		notary.ledger_seq, a block at a time for the rows of one statement.
 *
 * seq orders entries across chains.  verify_table(), history() and the
 * verifiers replay a table's entries in seq order, so two changes of one
 * row must be numbered in the order their row locks were granted: the
 * second writer waits for the first one's commit, and the first one's
 * number must be the smaller.  A number taken while the entry is written
 * does that: a row's entry is written in an AFTER ROW trigger, after its
 * row lock was granted and before it is released at the end of the
 * transaction.  That is why the sequence has CACHE 1: a cache hands a
 * backend numbers before it holds the locks they are used for.
 *
 * A nextval per entry cost a bulk-loaded row 0.25 us of the 2.15 us an
 * unaudited row takes (issue 6).  So, since 0.4, the sequence counts in
 * steps of its INCREMENT (32): one nextval hands out a block of that many
 * numbers, and the entries of one statement's rows use them one after the
 * other.  That keeps the order above as long as every entry numbered from
 * a block is for a row locked before the block was taken.  The AFTER ROW
 * triggers of a statement fire when it has changed all its rows (in its
 * ExecutorFinish, at the end of a COPY), so a block may serve one such
 * batch of trigger calls, and nothing else:
 *
 *	- a block ends when an executor finishes or begins to finish, and
 *	  around every utility statement (hooks below and in ledger.c): a
 *	  statement that runs while a batch fires (a user's trigger, a
 *	  function called by the statement) may lock further rows, and the rows
 *	  of a statement that called a function that wrote entries are locked
 *	  after that function's block was taken;
 *	- a block belongs to one transaction, subtransaction and command id
 *	  (logical replication's apply worker fires triggers without the
 *	  executor hooks, and increments the command id after every change);
 *	- an entry that is not a captured row (REDACT, DDL, BASELINE, ...)
 *	  always takes a fresh number, and ends the block: a REDACT entry names
 *	  entries already written, possibly by others since the block was
 *	  taken, and must come after them.
 *
 * Whole-table captures (TRUNCATE, baselines) hold a lock that keeps
 * writers out of the table, so their rows share blocks too.
 *
 * A block's unused numbers are skipped, so seq has gaps (as any sequence
 * has after a rollback).  With INCREMENT BY 1 (a database set up by a
 * development build of 0.4, or a DBA's choice) every entry takes its own
 * number, as before 0.4.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "executor/executor.h"
#include "storage/proc.h"
#include "utils/syscache.h"

/* Bumped whenever rows may have been locked since a block was taken. */
static uint64 seq_generation = 1;

static struct
{
	int64		next;			/* next number to hand out */
	int64		end;			/* one past the last number of the block */
	uint64		generation;
	LocalTransactionId lxid;
	SubTransactionId subid;
	CommandId	cid;
} block;

static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* Whatever block there is serves no further entry. */
void
ledger_seq_end_block(void)
{
	seq_generation++;
}

/* The sequence's INCREMENT, as nextval used it. */
static int64
seq_increment(Oid seq_relid)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq_relid));
	int64		inc;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seq_relid);
	inc = ((Form_pg_sequence) GETSTRUCT(tup))->seqincrement;
	ReleaseSysCache(tup);
	return inc;
}

/*
 * The seq of the entry being written: from the current block if
 * captured_row and the block may serve it, else from nextval.
 */
int64
ledger_seq_next(Oid seq_relid, bool captured_row)
{
	int64		v;
	int64		inc;
	int64		end;

	if (captured_row &&
		block.next < block.end &&
		block.generation == seq_generation &&
		block.lxid == MyProc->lxid &&
		block.subid == GetCurrentSubTransactionId() &&
		block.cid == GetCurrentCommandId(false))
		return block.next++;

	v = nextval_internal(seq_relid, false);
	if (!captured_row)
	{
		ledger_seq_end_block();
		return v;
	}

	/* nextval's next call returns v + INCREMENT: the block is v .. that - 1 */
	inc = seq_increment(seq_relid);
	if (inc <= 1 || pg_add_s64_overflow(v, inc, &end))
		end = v + 1;
	block.next = v + 1;
	block.end = end;
	block.generation = seq_generation;
	block.lxid = MyProc->lxid;
	block.subid = GetCurrentSubTransactionId();
	block.cid = GetCurrentCommandId(false);
	return v;
}

/*
 * An executor's AFTER triggers fire in its ExecutorFinish: a block taken
 * before (by a function the statement called) may not serve them, and
 * theirs may not serve the statement that called this one.
 */
static void
ledger_seq_ExecutorFinish(QueryDesc *queryDesc)
{
	ledger_seq_end_block();
	if (prev_ExecutorFinish)
		prev_ExecutorFinish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	ledger_seq_end_block();
}

/* From _PG_init. */
void
ledger_seq_init(void)
{
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ledger_seq_ExecutorFinish;
}
