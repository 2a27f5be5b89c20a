/*-------------------------------------------------------------------------
 *
 * ledger.c
 *		Appending one entry to the ledger: its global sequence number, its
 *		place in this backend's chain, who and when, its hash, the insert.
 *
 * This is the hot path of every captured change.  The tuple goes straight
 * into the heap and its indexes (CatalogTupleInsert), without SPI, without
 * a privilege check (application roles have none on the ledger) and
 * without firing the ledger's own guard triggers, which only refuse
 * UPDATE, DELETE and TRUNCATE.  Its seq comes from ledger_seq.c, in the
 * order in which row locks were granted.
 *
 * The ledger and its indexes are opened once per transaction, not once per
 * entry (that was 6% of a bulk INSERT and 2 to 3% of TPC-B, issue 6): under
 * the resource owner of the (sub)transaction that writes first, not of the
 * statement's portal, so that the end of a statement does not close them.
 * They are closed before commit, and before and after every utility
 * statement (ProcessUtility hook, at any nesting level): DDL on the ledger
 * refuses a table this session holds open ("being used by active
 * queries"), and all DDL goes through ProcessUtility.  They are also closed
 * when the subtransaction that opened them ends (a PL/pgSQL EXCEPTION
 * block, which runs no utility statement): its locks then go to its parent
 * on commit and are released on abort, as they were when each entry opened
 * the ledger, and an index created in an aborted subtransaction is not left
 * referenced.  A top-level abort releases them with the resource owner.  A
 * relcache invalidation of the ledger (an index created or dropped) makes
 * the next entry open them again, so an entry always goes into the index
 * set the ledger has when it is written.
 *
 * Memory: what opening allocates (index info, BRIN's descriptor) lives in a
 * context of its own under TopTransactionContext, deleted on close, so a
 * transaction that alternates entries and utility statements does not
 * grow.
 *
 *-------------------------------------------------------------------------
 */
#include "pack.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"


/* Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* Role names are cached: the ids rarely change within a backend. */
static Oid	cached_session_oid = InvalidOid;
static char cached_session_name[NAMEDATALEN];
static Oid	cached_current_oid = InvalidOid;
static char cached_current_name[NAMEDATALEN];

static const char *
role_name(Oid roleid, Oid *cached_oid, char *cached_name)
{
	if (roleid != *cached_oid)
	{
		char	   *name = GetUserNameFromId(roleid, false);

		strlcpy(cached_name, name, NAMEDATALEN);
		*cached_oid = roleid;
	}
	return cached_name;
}

static bool client_addr_known = false;
static char *client_addr = NULL;	/* in TopMemoryContext */

/* The client's address, or NULL for a Unix socket or a worker. */
static const char *
client_address(void)
{
	if (!client_addr_known)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		addr;

		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		addr = inet_client_addr(fcinfo);
		if (!fcinfo->isnull)
			client_addr = MemoryContextStrdup(TopMemoryContext,
											  DatumGetCString(DirectFunctionCall1(inet_out, addr)));
		client_addr_known = true;
	}
	return client_addr;
}

/*
 * A relation as opened for this transaction (see the file header): the
 * table of single entries, and the table of packs.
 */
typedef struct OpenRel
{
	const char *what;			/* for error messages */
	int			natts;			/* the columns it must have (0: what the
								 * catalog says notary.ledger_entries has) */
	Relation	rel;
	CatalogIndexState indstate;
	MemoryContext cxt;			/* holds indstate */
	ResourceOwner owner;		/* holds the references */
	SubTransactionId subid;
	bool		stale;
} OpenRel;

static OpenRel open_entries = {"notary.ledger_entries", 0};
static OpenRel open_packs = {"notary.ledger_packs", PACKS_NATTS};

/* Forget an open relation without closing it (abort, or after closing). */
static void
openrel_forget(OpenRel *o)
{
	o->rel = NULL;
	o->indstate = NULL;
	o->cxt = NULL;
	o->owner = NULL;
	o->subid = InvalidSubTransactionId;
	o->stale = false;
}

/* Close a relation and its indexes, if this transaction opened them. */
static void
openrel_close(OpenRel *o)
{
	if (o->rel != NULL)
	{
		ResourceOwner save_owner = CurrentResourceOwner;

		/* the references belong to the owner they were opened with */
		CurrentResourceOwner = o->owner;
		CatalogCloseIndexes(o->indstate);
		table_close(o->rel, NoLock);
		CurrentResourceOwner = save_owner;
		MemoryContextDelete(o->cxt);
	}
	openrel_forget(o);
}

static void
ledger_close_xact(void)
{
	openrel_close(&open_entries);
	openrel_close(&open_packs);
}

/*
 * The pack being filled: entries of this backend's chain, not yet
 * inserted.  It belongs to one subtransaction (owner), the one current
 * when its first entry was added; only that subtransaction may insert it,
 * since the entries must vanish with it if it aborts.  When it commits,
 * the pack passes to its parent.  An entry made while a child of the owner
 * is current goes into notary.ledger_entries as a single row at once.  The
 * pack is inserted when it is full, before every utility statement that
 * is not transaction control (DDL, COPY, ...) and before SAVEPOINT, and at
 * pre-commit: a transaction of a few statements makes one pack.  Readers
 * of notary.ledger in this transaction see it through ledger_pending().
 *
 * A captured row's entry is only recorded at first (pack_record: its
 * fields, and the bytes its hash covers after its position), with its
 * chain position reserved; it is numbered and hashed, in order, when the
 * pack is stored, read, or an entry that must be numbered at once is
 * written (ledger_number_pending; ledger_seq.c says why that keeps the
 * order of seq).  The body holds the entries numbered so far, the records
 * those that follow them.  Until they are numbered, the chain's head has
 * the right position but not yet its hash.
 */
typedef struct PendingEntry
{
	int			rec_off;		/* in recs */
	int			rec_len;
	int			rest_off;		/* in rests */
	int			rest_len;
} PendingEntry;

typedef struct PackBuffer
{
	MemoryContext cxt;			/* under TopMemoryContext */
	StringInfoData body;
	PackCursor	cur;
	int			n;				/* entries, numbered or not */
	int32		chain_id;
	int64		first_pos;			/* the others follow: first_pos + n - 1 is the last */
	uint64		xid;
	int			format_version; /* of every entry of the pack */
	int			target;			/* stored when the body reaches this */
	int			max;			/* an entry past this starts the next pack */
	SubTransactionId owner;
	uint8		last_hash[NOTARY_HASH_LEN];	/* of the last numbered entry
											 * (before the first: the
											 * pack's prev_hash) */
	/* recorded entries, not numbered yet: they follow the body's */
	StringInfoData recs;		/* pack_record()s */
	StringInfoData rests;		/* format_entry_rest()s */
	PendingEntry *pend;
	int			npend;
	int			maxpend;
} PackBuffer;

/*
 * What numbering adds to a recorded entry: its hash, and its seq as a
 * varint delta, one byte within a block of seq; the first entry of each
 * block (ledger_seq.c) may take up to 9 bytes more.  With INCREMENT BY 1
 * every entry starts a block, and a pack can exceed its maximum by those
 * bytes (stored all the same, possibly compressed).
 */
#define PENDING_EXTRA (1 + NOTARY_HASH_LEN)
#define PENDING_BLOCK_EXTRA 9

static PackBuffer pack = {NULL};

/*
 * Between pre-commit, where the pack is stored, and the end of the
 * transaction: an entry made then (by another extension's pre-commit
 * callback that runs after ours) could no longer be stored, so it is
 * refused, which aborts the transaction, change and all.
 */
static bool ledger_in_commit = false;

static void
pack_discard(void)
{
	pack.n = 0;
	pack.npend = 0;
	if (pack.recs.data != NULL)
	{
		resetStringInfo(&pack.recs);
		resetStringInfo(&pack.rests);
	}
	pack.owner = InvalidSubTransactionId;
}

/* The size the body will have when every recorded entry is numbered. */
static inline int
pack_size(void)
{
	return pack.body.len + pack.recs.len + pack.npend * PENDING_EXTRA +
		(pack.npend / 32 + 1) * PENDING_BLOCK_EXTRA;
}

/*
 * Number and hash the recorded entries of the pack, in order, into its
 * body.  Any (sub)transaction may: the entries stay the owner's, and the
 * chain's positions do not move.
 */
static void
ledger_number_pending(void)
{
	int64	   *seqs;
	int			i;

	if (pack.npend == 0)
		return;
	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pg_notary cannot show this transaction's latest ledger entries in a parallel query"),
				 errdetail("Entries are numbered when they are stored, which a parallel query cannot do."),
				 errhint("Run the query with max_parallel_workers_per_gather = 0, or after the transaction commits.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("pg_notary cannot store the ledger entries of a transaction made read-only after it changed audited rows"),
				 errdetail("Entries are numbered when they are stored, at the latest when the transaction commits."),
				 errhint("Make the transaction read-only before its first change, or not at all.")));
	seqs = palloc(sizeof(int64) * pack.npend);
	ledger_seq_take(notary_catalog()->ledger_seq_oid, pack.npend, seqs);
	for (i = 0; i < pack.npend; i++)
	{
		const PendingEntry *pe = &pack.pend[i];
		int64		pos = pack.first_pos + pack.cur.nseq;
		uint8		hash[NOTARY_HASH_LEN];

		format_entry_hash_at(pack.format_version, pack.last_hash, seqs[i],
							 pack.chain_id, pos, pack.rests.data + pe->rest_off,
							 pe->rest_len, hash);
		pack_add_numbered(&pack.body, &pack.cur, pack.recs.data + pe->rec_off,
						  pe->rec_len, seqs[i], hash);
		memcpy(pack.last_hash, hash, NOTARY_HASH_LEN);
		chain_advance(pos, hash);
	}
	pfree(seqs);
	pack.npend = 0;
	resetStringInfo(&pack.recs);
	resetStringInfo(&pack.rests);
}

static Relation openrel_open(OpenRel *o, Oid relid);

/* Insert the pack being filled, if any.  Only its owner may. */
static void
pack_flush(void)
{
	Datum		values[PACKS_NATTS];
	bool		nulls[PACKS_NATTS] = {false, false, false, false, false};
	bytea	   *body;
	Relation	rel;
	HeapTuple	tup;

	if (pack.n == 0)
		return;
	Assert(pack.owner == GetCurrentSubTransactionId());
	ledger_number_pending();
	Assert(pack.cur.nseq == pack.n);
	body = palloc(VARHDRSZ + pack.body.len);
	SET_VARSIZE(body, VARHDRSZ + pack.body.len);
	memcpy(VARDATA(body), pack.body.data, pack.body.len);
	values[PACKS_ATT_CHAIN_ID - 1] = Int32GetDatum(pack.chain_id);
	values[PACKS_ATT_FIRST_POS - 1] = Int64GetDatum(pack.first_pos);
	values[PACKS_ATT_LAST_POS - 1] = Int64GetDatum(pack.first_pos + pack.n - 1);
	values[PACKS_ATT_XID - 1] = FullTransactionIdGetDatum(FullTransactionIdFromU64(pack.xid));
	values[PACKS_ATT_ENTRIES - 1] = PointerGetDatum(body);

	rel = openrel_open(&open_packs, notary_catalog()->packs_oid);
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsertWithInfo(rel, tup, open_packs.indstate);
	heap_freetuple(tup);
	pfree(body);
	pack_discard();
}

/*
 * Open a ledger table as a write would, which refuses indexes capture
 * cannot maintain (check_ledger_indexes); after DDL on it.  Only that
 * table: dropping a bad index of one must not fail for the other's.
 */
void
ledger_check_table(Oid relid)
{
	const NotaryCatalog *cat = notary_catalog();

	if (relid == cat->entries_oid)
		(void) openrel_open(&open_entries, relid);
	else if (OidIsValid(cat->packs_oid) && relid == cat->packs_oid)
		(void) openrel_open(&open_packs, relid);
}

/* Insert the pack now if this (sub)transaction may. */
void
ledger_flush(void)
{
	if (pack.n > 0 && pack.owner == GetCurrentSubTransactionId())
		pack_flush();
}

/*
 * The entries this backend holds and has not inserted yet, as a pack body
 * (for readers of notary.ledger in this transaction); false if none.
 */
bool
ledger_pending(const char **body, int *len, int32 *chain_id, int64 *first_pos,
			   uint64 *xid)
{
	if (pack.n == 0)
		return false;
	ledger_number_pending();
	*body = pack.body.data;
	*len = pack.body.len;
	*chain_id = pack.chain_id;
	*first_pos = pack.first_pos;
	*xid = pack.xid;
	return true;
}

static void
ledger_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (pack.n > 0)
				pack_flush();
			ledger_close_xact();
			ledger_in_commit = true;
			break;
		case XACT_EVENT_PRE_PREPARE:
			/* chain.c refuses to prepare a transaction that wrote entries */
			ledger_close_xact();
			ledger_in_commit = true;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/*
			 * On abort the resource owner releases the relations and
			 * TopTransactionContext goes; on commit nothing is open any
			 * more (ledger_append refuses to write after pre-commit).
			 */
			openrel_forget(&open_entries);
			openrel_forget(&open_packs);
			pack_discard();
			ledger_in_commit = false;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction ends: close what it (or a child of it, already ended)
 * opened, before its resource owner goes; its pack goes with it on abort,
 * to its parent on commit.
 */
static void
ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_PRE_COMMIT_SUB || event == SUBXACT_EVENT_ABORT_SUB)
	{
		if (open_entries.rel != NULL && open_entries.subid >= mySubid)
			openrel_close(&open_entries);
		if (open_packs.rel != NULL && open_packs.subid >= mySubid)
			openrel_close(&open_packs);
	}
	if (event == SUBXACT_EVENT_ABORT_SUB && pack.n > 0 && pack.owner >= mySubid)
		pack_discard();
	else if (event == SUBXACT_EVENT_COMMIT_SUB && pack.n > 0 && pack.owner == mySubid)
		pack.owner = parentSubid;
}

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void
ledger_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	/*
	 * Store the pack before a statement may change the ledger's tables, and
	 * before SAVEPOINT, whose subtransaction could not store its parent's
	 * entries.  Not before COMMIT or PREPARE: an error there (a
	 * serialization failure) must end the transaction, as one in the
	 * commit itself does, not leave an aborted transaction block; the pack
	 * is stored at pre-commit.
	 */
	if (!IsA(pstmt->utilityStmt, TransactionStmt) ||
		((TransactionStmt *) pstmt->utilityStmt)->kind == TRANS_STMT_SAVEPOINT)
		ledger_flush();
	ledger_close_xact();

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	ledger_close_xact();
}

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

/*
 * A query whose plan runs in parallel mode cannot take numbers from the
 * sequence (nextval is refused there), so a reader of notary.ledger in it
 * could not show the entries this transaction recorded: number them before
 * it starts.  That is as early as a reader would number them, and every
 * row they are for is locked already.  Such a query cannot record entries
 * (parallel mode refuses writes).  Nothing to do in a read-only
 * transaction, which cannot number them at all (ledger_number_pending).
 */
static void
ledger_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (pack.npend > 0 && queryDesc->plannedstmt->parallelModeNeeded &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY) &&
		!IsInParallelMode() && !XactReadOnly)
		ledger_number_pending();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

static void ledger_xact_callback(XactEvent event, void *arg);
static void ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static void ledger_relcache_callback(Datum arg, Oid relid);

/*
 * Install the utility and executor hooks and the transaction callbacks
 * (from _PG_init): the callbacks from the start, so that pre-commit always
 * marks the transaction as committing, even in a backend whose first entry
 * comes from another extension's pre-commit callback.
 */
void
ledger_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ledger_ProcessUtility;
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = ledger_ExecutorStart;
	RegisterXactCallback(ledger_xact_callback, NULL);
	RegisterSubXactCallback(ledger_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(ledger_relcache_callback, (Datum) 0);
}

static void
ledger_relcache_callback(Datum arg, Oid relid)
{
	if (open_entries.rel != NULL &&
		(!OidIsValid(relid) || relid == RelationGetRelid(open_entries.rel)))
		open_entries.stale = true;
	if (open_packs.rel != NULL &&
		(!OidIsValid(relid) || relid == RelationGetRelid(open_packs.rel)))
		open_packs.stale = true;
}

/*
 * Entries are inserted into the ledger's indexes without an executor
 * (CatalogTupleInsertWithInfo), which can neither evaluate an index
 * expression nor honour a predicate, an exclusion constraint or a
 * deferrable unique constraint (it would check it at once).  A
 * superuser may still create such an index on a ledger table: refuse to
 * write rather than crash or corrupt it.  Closes what it opened on error.
 */
static void
check_ledger_indexes(Relation rel, CatalogIndexState indstate)
{
	int			i;

	for (i = 0; i < indstate->ri_NumIndices; i++)
	{
		IndexInfo  *ii = indstate->ri_IndexRelationInfo[i];

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
			ii->ii_ExclusionOps != NULL ||
			!indstate->ri_IndexRelationDescs[i]->rd_index->indimmediate)
		{
			char	   *name = pstrdup(RelationGetRelationName(indstate->ri_IndexRelationDescs[i]));
			char	   *relname = pstrdup(RelationGetRelationName(rel));

			CatalogCloseIndexes(indstate);
			table_close(rel, NoLock);
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("pg_notary cannot write to notary.%s while it has index \"%s\"", relname, name),
					 errdetail("The ledger's indexes must be plain column indexes, without expressions, predicates, exclusion constraints or deferrable unique constraints."),
					 errhint("Drop that index, or the constraint it belongs to.")));
		}
	}
}


/*
 * A ledger table, opened for this transaction, and its index state: under
 * the current (sub)transaction's resource owner, in a context of their own.
 */
static Relation
openrel_open(OpenRel *o, Oid relid)
{
	ResourceOwner save_owner;
	MemoryContext save_cxt;

	if (o->rel != NULL && (o->stale || RelationGetRelid(o->rel) != relid))
		openrel_close(o);
	if (o->rel == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(TopTransactionContext,
												  "pg_notary ledger",
												  ALLOCSET_SMALL_SIZES);

		save_owner = CurrentResourceOwner;
		save_cxt = MemoryContextSwitchTo(cxt);
		PG_TRY();
		{
			Relation	rel;
			int			want = o->natts ? o->natts : notary_catalog()->ledger_natts;

			CurrentResourceOwner = CurTransactionResourceOwner;

			rel = table_open(relid, RowExclusiveLock);
			if (RelationGetDescr(rel)->natts != want)
			{
				int			natts = RelationGetDescr(rel)->natts;

				/* a caught error must not leave it open until commit */
				table_close(rel, NoLock);
				elog(ERROR, "%s has %d columns, expected %d",
					 o->what, natts, want);
			}
			o->indstate = CatalogOpenIndexes(rel);
			check_ledger_indexes(rel, o->indstate);
			o->rel = rel;
			o->cxt = cxt;
			o->owner = CurTransactionResourceOwner;
			o->subid = GetCurrentSubTransactionId();
			o->stale = false;
		}
		PG_CATCH();
		{
			/* a caught error must not leave the context behind either */
			CurrentResourceOwner = save_owner;
			MemoryContextSwitchTo(save_cxt);
			MemoryContextDelete(cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		CurrentResourceOwner = save_owner;
		MemoryContextSwitchTo(save_cxt);
	}
	return o->rel;
}

/* A 32-byte hash as a bytea Datum (for the ledger's columns). */
Datum
ledger_hash_datum(const uint8 *h)
{
	bytea	   *b = palloc(VARHDRSZ + NOTARY_HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + NOTARY_HASH_LEN);
	memcpy(VARDATA(b), h, NOTARY_HASH_LEN);
	return PointerGetDatum(b);
}

/* A row image as the text[] of the ledger's row_image column. */
Datum
ledger_image_datum(const NotaryImage *img)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(img->ncols, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(img->ncols, 1));
	int			dims[1];
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < img->ncols; i++)
	{
		nulls[i] = (img->values[i] == NULL);
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum(img->values[i]);
	}
	dims[0] = img->ncols;
	if (img->ncols == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID,
											  -1, false, TYPALIGN_INT));
}

/*
 * The columns of notary.ledger for one entry, hashed, with its previous
 * entry's hash: what a single entry stores, and what the view shows of a
 * packed one.  Without with_image the row image and the detail are left
 * null (verify() reads them from the decoded pack instead).
 */
void
ledger_row_values(const NotaryEntry *e, const uint8 *prev, const uint8 *hash,
				  TimestampTz logged_at, const NotaryImage *img, bool with_image,
				  Datum *values, bool *nulls)
{
	memset(nulls, false, sizeof(bool) * LEDGER_NATTS);
	values[0] = Int64GetDatum(e->seq);
	values[1] = Int32GetDatum(e->chain_id);
	values[2] = Int64GetDatum(e->chain_pos);
	values[3] = ledger_hash_datum(prev);
	values[4] = ledger_hash_datum(hash);
	values[5] = CStringGetTextDatum(e->op);
	values[6] = FullTransactionIdGetDatum(FullTransactionIdFromU64(e->xid));
	values[7] = TimestampTzGetDatum(logged_at);
	values[8] = CStringGetTextDatum(e->session_user_name);
	values[9] = CStringGetTextDatum(e->current_user_name);
	if (e->application_name)
		values[10] = CStringGetTextDatum(e->application_name);
	else
		nulls[10] = true;
	if (e->client_addr)
		values[11] = CStringGetTextDatum(e->client_addr);
	else
		nulls[11] = true;
	if (e->has_table)
		values[12] = Int32GetDatum(e->table_id);
	else
		nulls[12] = true;
	if (e->has_image)
	{
		values[13] = Int64GetDatum(e->layout_id);
		if (with_image)
			values[14] = ledger_image_datum(img);
		else
			nulls[14] = true;
		if (img->salts != NULL)
			values[15] = PointerGetDatum(img->salts);
		else
			nulls[15] = true;
		/* redacted: only a redaction sets it */
		if (img->redacted != NULL)
			values[18] = PointerGetDatum(img->redacted);
		else
			nulls[18] = true;
	}
	else
		nulls[13] = nulls[14] = nulls[15] = nulls[18] = true;
	if (e->has_old)
		values[16] = ledger_hash_datum(e->old_digest);
	else
		nulls[16] = true;
	if (e->detail != NULL && with_image)
		values[17] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->detail));
	else
		nulls[17] = true;
	values[LEDGER_ATT_FORMAT - 1] = Int16GetDatum((int16) e->format_version);
}

/* Start the pack with an entry at pos, after the entry hashed prev. */
static void
pack_begin(const NotaryEntry *e, const uint8 *prev)
{
	MemoryContext old;

	if (pack.cxt == NULL)
	{
		pack.cxt = AllocSetContextCreate(TopMemoryContext, "pg_notary pack",
										 ALLOCSET_DEFAULT_SIZES);
		pack.body.data = NULL;
	}
	old = MemoryContextSwitchTo(pack.cxt);
	if (pack.body.data == NULL)
	{
		initStringInfo(&pack.body);
		initStringInfo(&pack.recs);
		initStringInfo(&pack.rests);
	}
	else if (pack.body.maxlen > 4 * PACK_TARGET_BYTES ||
			 pack.recs.maxlen > 4 * PACK_TARGET_BYTES ||
			 pack.rests.maxlen > 4 * PACK_TARGET_BYTES)
	{
		/* a huge entry made the buffers grow: do not keep that */
		pfree(pack.body.data);
		pfree(pack.recs.data);
		pfree(pack.rests.data);
		initStringInfo(&pack.body);
		initStringInfo(&pack.recs);
		initStringInfo(&pack.rests);
	}
	pack_start(&pack.body, &pack.cur, prev, e->format_version, pack.cxt);
	MemoryContextSwitchTo(old);
	pack.chain_id = e->chain_id;
	pack.first_pos = e->chain_pos;
	pack.xid = e->xid;
	pack.format_version = e->format_version;
	memcpy(pack.last_hash, prev, NOTARY_HASH_LEN);
	/* bigger packs only where toast_tuple_target keeps them inline (0.4) */
	pack.target = notary_catalog()->max_format == 2 ? PACK_TARGET_BYTES : PACK_TARGET_BYTES_V1;
	pack.max = notary_catalog()->max_format == 2 ? PACK_MAX_BYTES : PACK_MAX_BYTES_V1;
	pack.owner = GetCurrentSubTransactionId();
	pack.npend = 0;
	resetStringInfo(&pack.recs);
	resetStringInfo(&pack.rests);
}

/* Does the pack have entries the entry e cannot follow? */
static inline bool
pack_mismatch(const NotaryEntry *e)
{
	return pack.n > 0 &&
		(pack.chain_id != e->chain_id || pack.xid != e->xid ||
		 pack.first_pos + pack.n != e->chain_pos ||
		 pack.format_version != e->format_version);
}

/*
 * Add a hashed entry to the pack being filled; false if it must go into
 * notary.ledger_entries instead (a child of the pack's owner is current).
 * The pack has no recorded entries (ledger_append numbered them).
 */
static bool
pack_append(const NotaryEntry *e, TimestampTz logged_at, const NotaryImage *img,
			const uint8 *prev, const uint8 *hash)
{
	Assert(pack.npend == 0);
	if (pack.n > 0 && pack.owner != GetCurrentSubTransactionId())
		return false;
	if (pack_mismatch(e))
		pack_flush();
	if (pack.n == 0)
		pack_begin(e, prev);
	{
		MemoryContext old = MemoryContextSwitchTo(pack.cxt);
		int			before = pack.body.len;

		pack_add(&pack.body, &pack.cur, e, logged_at, img, hash);
		if (pack.body.len > pack.max && pack.n > 0)
		{
			/*
			 * too big for this pack: store it without, start the next.
			 * pack_add() counted it as added and numbered: uncount it,
			 * or pack_flush() sees one numbered entry more than it has.
			 */
			pack.body.len = before;
			pack.body.data[before] = '\0';
			pack.cur.n--;
			pack.cur.nseq--;
			MemoryContextSwitchTo(old);
			pack_flush();
			return pack_append(e, logged_at, img, prev, hash);
		}
		MemoryContextSwitchTo(old);
	}
	pack.n++;
	memcpy(pack.last_hash, hash, NOTARY_HASH_LEN);
	if (pack.body.len >= pack.target)
		pack_flush();
	return true;
}

/* Take back the entry pack_record_entry() was recording (recs and rests
 * had these lengths before it); the pack must be stored next, since the
 * cursor still remembers the entry's names. */
static void
pack_unrecord(int rec_before, int rest_before)
{
	pack.recs.len = rec_before;
	pack.recs.data[rec_before] = '\0';
	pack.rests.len = rest_before;
	pack.rests.data[rest_before] = '\0';
	pack.cur.n--;
}

/*
 * Record an entry in the pack, to be numbered and hashed when the pack is
 * stored (see PackBuffer).  Its position is reserved; the pack is empty or
 * the current subtransaction's.  False for an entry that fills a pack on
 * its own: the pack is stored without it, and the caller numbers and
 * hashes it at once, which keeps one copy of its image instead of three
 * (a 100 MB row took 200 MB more memory).
 */
static bool
pack_record_entry(const NotaryEntry *e, TimestampTz logged_at,
				  const NotaryImage *img)
{
	MemoryContext old;
	int			rec_before;
	int			rest_before;
	PendingEntry *pe;

	Assert(pack.n == 0 || pack.owner == GetCurrentSubTransactionId());
	if (pack_mismatch(e))
		pack_flush();
	if (pack.n == 0)
	{
		uint8		prev[NOTARY_HASH_LEN];

		/* nothing is recorded: the head is hashed */
		chain_head_hash(prev);
		pack_begin(e, prev);
	}
	old = MemoryContextSwitchTo(pack.cxt);
	if (pack.npend == pack.maxpend)
	{
		int			newmax = pack.maxpend == 0 ? 64 : pack.maxpend * 2;

		pack.pend = pack.pend == NULL ? palloc(sizeof(PendingEntry) * newmax) :
			repalloc(pack.pend, sizeof(PendingEntry) * newmax);
		pack.maxpend = newmax;
	}
	rec_before = pack.recs.len;
	rest_before = pack.rests.len;
	pack_record(&pack.recs, &pack.cur, e, logged_at, img);
	if (pack.recs.len - rec_before >= pack.target)
	{
		pack_unrecord(rec_before, rest_before);
		MemoryContextSwitchTo(old);
		pack_flush();
		return false;
	}
	format_entry_rest(e, &pack.rests);
	MemoryContextSwitchTo(old);
	pe = &pack.pend[pack.npend++];
	pe->rec_off = rec_before;
	pe->rec_len = pack.recs.len - rec_before;
	pe->rest_off = rest_before;
	pe->rest_len = pack.rests.len - rest_before;
	if (pack_size() > pack.max && pack.n > 0)
	{
		/* too big for this pack: store it without, start the next */
		pack.npend--;
		pack_unrecord(rec_before, rest_before);
		pack_flush();
		return pack_record_entry(e, logged_at, img);
	}
	pack.n++;
	chain_advance_pending(e->chain_pos);
	if (pack_size() >= pack.target)
		pack_flush();
	return true;
}

/*
 * Append an entry.  The caller fills op, the table, the row image
 * (format_entry_image), the old digest and detail; this fills sequence,
 * chain, who, when and the hash, and inserts (or records it in the pack,
 * to be numbered and hashed when the pack is stored).
 */
void
ledger_append(NotaryEntry *e)
{
	const NotaryCatalog *cat = notary_catalog();
	const NotaryImage *img = e->has_image ? e->image : NULL;
	uint8		prev[NOTARY_HASH_LEN];
	uint8		hash[NOTARY_HASH_LEN];
	Datum		values[LEDGER_NATTS];
	bool		nulls[LEDGER_NATTS];
	Relation	rel;
	HeapTuple	tup;
	TimestampTz now = GetCurrentStatementStartTimestamp();
	bool		packing;

	if (ledger_in_commit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("pg_notary cannot record a change made while its transaction commits"),
				 errdetail("Something ran at pre-commit, after pg_notary stored the transaction's entries, and changed a captured table."),
				 errhint("Make the change before COMMIT.")));
	e->xid = U64FromFullTransactionId(GetTopFullTransactionId());
	e->logged_at_us = (int64) now + UNIX_EPOCH_OFFSET_US;
	e->session_user_name = role_name(GetSessionUserId(), &cached_session_oid,
									 cached_session_name);
	e->current_user_name = role_name(GetUserId(), &cached_current_oid,
									 cached_current_name);
	e->application_name = (application_name != NULL && application_name[0] != '\0')
		? application_name : NULL;
	e->client_addr = client_address();

	/* format 2 hashes the image with the entry; format 1 digests it first */
	e->format_version = Min(cat->max_format, notary_entry_format);
	if (e->has_image && e->format_version == 1)
		format_image_digest(e->layout_digest, img, e->personal, e->npersonal,
							e->image_digest);

	packing = notary_pack_entries && OidIsValid(cat->packs_oid);
	if (packing && e->number_at_store &&
		(pack.n == 0 || pack.owner == GetCurrentSubTransactionId()))
	{
		chain_reserve(&e->chain_id, &e->chain_pos, NULL);
		if (pack_record_entry(e, now, img))
			return;
	}

	/* numbered now: after the entries recorded before it */
	ledger_number_pending();
	e->seq = ledger_seq_next(cat->ledger_seq_oid);
	chain_reserve(&e->chain_id, &e->chain_pos, prev);
	format_entry_hash(prev, e, hash);

	if (packing && pack_append(e, now, img, prev, hash))
	{
		chain_advance(e->chain_pos, hash);
		return;
	}

	ledger_row_values(e, prev, hash, now, img, true, values, nulls);

	rel = openrel_open(&open_entries, cat->entries_oid);
	tup = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsertWithInfo(rel, tup, open_entries.indstate);
	heap_freetuple(tup);

	chain_advance(e->chain_pos, hash);
}

/*
 * Normalise a JSON text to the text jsonb prints, which is what is hashed
 * (the stored jsonb prints the same text again).
 */
static char *
canonical_json(const char *json)
{
	Datum		j = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));

	return DatumGetCString(DirectFunctionCall1(jsonb_out, j));
}

/* Append an entry without a row image: DDL, schema enable/disable, ... */
void
ledger_append_event(const char *op, bool has_table, int32 table_id,
					const char *detail_json)
{
	NotaryEntry e;

	memset(&e, 0, sizeof(e));
	e.op = op;
	e.has_table = has_table;
	e.table_id = table_id;
	e.detail = detail_json ? canonical_json(detail_json) : NULL;
	ledger_append(&e);
}
