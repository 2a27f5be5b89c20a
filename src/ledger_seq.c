/*-------------------------------------------------------------------------
 *
 * ledger_seq.c
 *		The global order of entries: their seq numbers, from
 *		notary.ledger_seq, a block at a time for the rows of one statement.
 *
 * seq orders entries across chains.  verify_table(), history() and the
 * verifiers replay a table's entries in seq order, so two changes of one
 * row (or key) must be numbered in the order their locks were granted: the
 * second writer waits for the first one's commit, and the first one's
 * number must be the smaller.  A number taken while the entry is written
 * does that: a row's entry is written in an AFTER ROW trigger, after its
 * row lock was granted and before it is released at the end of the
 * transaction.  That is why the sequence has CACHE 1: a cache hands a
 * backend numbers before it holds the locks they are used for.
 *
 * A nextval per entry cost a bulk-loaded row 0.25 us of the 2.15 us an
 * unaudited row takes (issue 6).  So, since 0.4, the sequence counts in
 * steps of its INCREMENT (32): the nextval that returns v hands out the
 * block v - 32 + 1 .. v, which no nextval can return again whatever the
 * increment is later set to, and the entries of one statement's rows use
 * it one number after the other.  That keeps the order above as long as
 * every entry numbered from a block is for a row locked before the block
 * was taken.  A block is only taken and used inside a scope where that
 * holds, opened by:
 *
 *	- the ExecutorFinish hook: the AFTER ROW triggers of a statement fire
 *	  there, when it has changed (and locked) all its rows;
 *	- the ProcessUtility hook, for COPY FROM, whose AFTER ROW triggers fire
 *	  when it has inserted all its rows;
 *	- capture_all_rows() (TRUNCATE, baselines), whose lock keeps writers
 *	  out of the table.
 *
 * Anywhere else (triggers fired by logical replication's apply worker,
 * which runs no executor hook; the statement during which a session loads
 * the library, which began before its hooks existed, unless
 * session_preload_libraries loads it first) every entry takes a number of
 * its own.  Inside a scope, a block ends whenever rows may have been locked
 * since it was taken: at the start and end of every nested scope (a user's
 * trigger or a function that runs a statement) and of every utility
 * statement, and with the subtransaction, transaction or command id.  Two
 * kinds of entries always take a number of their own, and end the block:
 *
 *	- entries that are not captured rows (REDACT, DDL, BASELINE, ...): a
 *	  REDACT entry names entries already written, possibly by others since
 *	  the block was taken, and must come after them;
 *	- rows of a table with a DEFERRABLE unique or exclusion constraint: its
 *	  check is a trigger of the same batch (before pg_notary's, by name),
 *	  which may wait for another transaction's key.  (A constraint
 *	  INITIALLY DEFERRED is checked at commit, after the entry was
 *	  numbered, with or without blocks: docs/operations.md.)
 *
 * A block's unused numbers are skipped, so seq has gaps (as any sequence
 * has after a rollback).  With INCREMENT BY 1 (a database that ran a
 * development build of 0.4 before this was added) every entry takes its
 * own number, as before 0.4.
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

/* Scopes (see above) entered and not left. */
static int	scope_depth = 0;

static struct
{
	int64		next;			/* next number to hand out */
	int64		last;			/* the last number of the block */
	uint64		generation;
	LocalTransactionId lxid;
	SubTransactionId subid;
	CommandId	cid;
} block = {1, 0};

static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* Whatever block there is serves no further entry. */
void
ledger_seq_end_block(void)
{
	seq_generation++;
}

/*
 * Enter and leave a scope in which the rows whose entries are written were
 * all locked before it was entered.  Leave it also on error (PG_FINALLY).
 */
void
ledger_seq_scope_begin(void)
{
	scope_depth++;
	seq_generation++;
}

void
ledger_seq_scope_end(void)
{
	Assert(scope_depth > 0);
	scope_depth--;
	seq_generation++;
}

/*
 * The seq of the entry being written: from the current block if in_block
 * and the block may serve it, else from nextval.
 */
int64
ledger_seq_next(Oid seq_relid, bool in_block)
{
	HeapTuple	tup;
	Form_pg_sequence seqform;
	int64		v;
	int64		first;

	if (!in_block || scope_depth == 0)
	{
		ledger_seq_end_block();
		return nextval_internal(seq_relid, false);
	}

	if (block.next <= block.last &&
		block.generation == seq_generation &&
		block.lxid == MyProc->lxid &&
		block.subid == GetCurrentSubTransactionId() &&
		block.cid == GetCurrentCommandId(false))
		return block.next++;

	/*
	 * nextval returned v after v - INCREMENT, so the numbers between were
	 * never handed out, and no later nextval returns any of them.  (An
	 * ALTER SEQUENCE cannot commit in between: it waits for this
	 * transaction, which holds a lock on the sequence since its nextval.)
	 * The first nextval of all returns the start value itself: not below
	 * MINVALUE.
	 */
	v = nextval_internal(seq_relid, false);
	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq_relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seq_relid);
	seqform = (Form_pg_sequence) GETSTRUCT(tup);
	first = v;
	if (seqform->seqincrement > 1)
	{
		int64		lowest;

		if (!pg_sub_s64_overflow(v, seqform->seqincrement - 1, &lowest))
			first = Max(lowest, seqform->seqmin);
	}
	ReleaseSysCache(tup);

	block.next = first + 1;
	block.last = v;
	block.generation = seq_generation;
	block.lxid = MyProc->lxid;
	block.subid = GetCurrentSubTransactionId();
	block.cid = GetCurrentCommandId(false);
	return first;
}

/*
 * An executor's AFTER triggers fire in its ExecutorFinish, when its rows
 * are all locked: a scope.
 */
static void
ledger_seq_ExecutorFinish(QueryDesc *queryDesc)
{
	ledger_seq_scope_begin();
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		ledger_seq_scope_end();
	}
	PG_END_TRY();
}

/* From _PG_init. */
void
ledger_seq_init(void)
{
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ledger_seq_ExecutorFinish;
}
