/*-------------------------------------------------------------------------
 *
 * checkpoint.c
 *		Signed checkpoints: notary.checkpoint(), notary.verify_checkpoint(),
 *		notary.public_key(), and the checks of the stored checkpoint chain.
 *
 * A checkpoint binds the head of every chain and a Merkle root over every
 * committed entry into one digest, chained to the previous checkpoint and
 * signed with Ed25519 (docs/checkpoints.md).  It is computed from one scan
 * of the ledger under one snapshot: a chain has one writer, so the entries
 * of a chain visible to a snapshot are always positions 1..k, and heads,
 * count and root agree with each other.  Checkpoints are serialised by an
 * EXCLUSIVE lock on notary.checkpoints (writers of the ledger are not
 * blocked).  The document returned is what an auditor keeps outside the
 * database; the copy in notary.checkpoints is append-only like the ledger.
 *
 *-------------------------------------------------------------------------
 */
#include "ledger_scan.h"

#include <sodium.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef struct ChainLimit
{
	int32		chain_id;		/* hash key */
	int64		position;
} ChainLimit;

/* The chains a checkpoint covers, and up to which position, as a hash. */
HTAB *
checkpoint_limits(const NotaryCheckpoint *cp)
{
	HASHCTL		ctl;
	HTAB	   *limits;
	int			i;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(ChainLimit);
	ctl.hcxt = CurrentMemoryContext;
	limits = hash_create("pg_notary chain limits", Max(cp->nchains, 16), &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < cp->nchains; i++)
	{
		ChainLimit *l = hash_search(limits, &cp->chains[i].chain_id, HASH_ENTER, NULL);

		l->position = cp->chains[i].position;
	}
	return limits;
}

/*
 * Scan the ledger in (chain_id, chain_pos) order, restricted to positions
 * <= limit per chain when limits is given (chains not in it are skipped).
 * Fills heads, count, highest seq and the Merkle root of cp.  With
 * collect, keeps every entry hash (for proofs) and the index of
 * (find_chain, find_pos) in *found.  Reads the tables directly, in
 * primary-key order (ledger_scan.c), not through the view, which would
 * build every packed entry's row and sort them all.
 *
 * A pack that cannot be read stops the scan with XX001 (a checkpoint or a
 * proof of a damaged ledger would certify a guess), unless unreadable is
 * given: then the pack is added to that list and its entries are left out,
 * as missing (verify_checkpoint() reports them).
 */
void
checkpoint_scan(NotaryCheckpoint *cp, HTAB *limits, bool collect,
				int32 find_chain, int64 find_pos, int64 *found,
				uint8 (**hashes)[NOTARY_HASH_LEN], List **unreadable)
{
	MerkleBuilder mb;
	LedgerScan *scan;
	const LedgerItem *item;
	int			maxchains = 16;
	int64		maxhashes = collect ? 1024 : 0;

	merkle_init(&mb);
	cp->nchains = 0;
	cp->chains = palloc(sizeof(CheckpointHead) * maxchains);
	cp->entries = 0;
	cp->ledger_seq = 0;
	if (found)
		*found = -1;
	if (collect)
		*hashes = palloc(sizeof(**hashes) * maxhashes);

	scan = ledger_scan_begin(CurrentMemoryContext);
	while ((item = ledger_scan_next(scan)) != NULL)
	{
		int32		chain = item->chain;
		int64		pos = item->pos;
		int64		seq;
		uint8		eh[NOTARY_HASH_LEN];
		CheckpointHead *head;

		if (limits != NULL)
		{
			ChainLimit *lim = hash_search(limits, &chain, HASH_FIND, NULL);

			if (lim == NULL || pos > lim->position)
				continue;
		}
		if (item->why != NULL && unreadable != NULL)
		{
			UnreadablePack *u = palloc(sizeof(UnreadablePack));

			u->chain = chain;
			u->first = pos;
			u->last = item->last;
			u->why = pstrdup(item->why);
			*unreadable = lappend(*unreadable, u);
			continue;
		}
		if (item->why != NULL)
			pack_unreadable(chain, pos, item->why);
		/* a damaged hash leaves zeros: the root then differs */
		memset(eh, 0, NOTARY_HASH_LEN);
		if (item->pe != NULL)
		{
			seq = item->pe->e.seq;
			memcpy(eh, item->pe->entry_hash, NOTARY_HASH_LEN);
		}
		else
		{
			bool		isnull;
			Datum		hd = heap_getattr(item->single, LEDGER_ATT_ENTRY_HASH, item->desc, &isnull);
			bytea	   *h = isnull ? NULL : DatumGetByteaPP(hd);

			seq = DatumGetInt64(heap_getattr(item->single, LEDGER_ATT_SEQ, item->desc, &isnull));
			if (h != NULL && VARSIZE_ANY_EXHDR(h) == NOTARY_HASH_LEN)
				memcpy(eh, VARDATA_ANY(h), NOTARY_HASH_LEN);
		}

		if (cp->nchains == 0 || cp->chains[cp->nchains - 1].chain_id != chain)
		{
			if (cp->nchains == maxchains)
			{
				maxchains *= 2;
				cp->chains = repalloc(cp->chains, sizeof(CheckpointHead) * maxchains);
			}
			cp->chains[cp->nchains++].chain_id = chain;
		}
		head = &cp->chains[cp->nchains - 1];
		head->position = pos;
		memcpy(head->hash, eh, NOTARY_HASH_LEN);

		if (found && chain == find_chain && pos == find_pos)
			*found = cp->entries;
		if (collect)
		{
			if (cp->entries == maxhashes)
			{
				maxhashes *= 2;
				*hashes = repalloc_huge(*hashes, sizeof(**hashes) * maxhashes);
			}
			memcpy((*hashes)[cp->entries], eh, NOTARY_HASH_LEN);
		}
		merkle_add(&mb, eh);
		cp->entries++;
		if (seq > cp->ledger_seq)
			cp->ledger_seq = seq;
		CHECK_FOR_INTERRUPTS();
	}
	ledger_scan_end(scan);
	merkle_root(&mb, cp->entries_root);
}

/* The checkpoint as the JSON document of docs/checkpoints.md. */
char *
checkpoint_to_json(const NotaryCheckpoint *cp)
{
	StringInfoData sb;
	int			i;
	TimestampTz created = (TimestampTz) (cp->created_at_us - UNIX_EPOCH_OFFSET_US);

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"format\": \"" NOTARY_CHECKPOINT_FORMAT "\"");
	appendStringInfo(&sb, ", \"checkpoint_id\": " INT64_FORMAT, cp->checkpoint_id);
	appendStringInfoString(&sb, ", \"system_identifier\": ");
	escape_json(&sb, cp->system_identifier);
	appendStringInfo(&sb, ", \"timeline\": %d", cp->timeline);
	appendStringInfoString(&sb, ", \"database\": ");
	escape_json(&sb, cp->database);
	appendStringInfoString(&sb, ", \"created_at\": ");
	escape_json(&sb, canon_text_of_type(TIMESTAMPTZOID, TimestampTzGetDatum(created)));
	appendStringInfo(&sb, ", \"created_at_us\": " INT64_FORMAT, cp->created_at_us);
	appendStringInfo(&sb, ", \"ledger_seq\": " INT64_FORMAT, cp->ledger_seq);
	appendStringInfo(&sb, ", \"entries\": " INT64_FORMAT, cp->entries);
	appendStringInfoString(&sb, ", \"chains\": [");
	for (i = 0; i < cp->nchains; i++)
		appendStringInfo(&sb, "%s{\"chain_id\": %d, \"position\": " INT64_FORMAT ", \"hash\": \"%s\"}",
						 i > 0 ? ", " : "", cp->chains[i].chain_id, cp->chains[i].position,
						 format_hex(cp->chains[i].hash, NOTARY_HASH_LEN));
	appendStringInfo(&sb, "], \"entries_root\": \"%s\"",
					 format_hex(cp->entries_root, NOTARY_HASH_LEN));
	if (cp->has_previous)
		appendStringInfo(&sb, ", \"previous\": \"%s\"", format_hex(cp->previous, NOTARY_HASH_LEN));
	else
		appendStringInfoString(&sb, ", \"previous\": null");
	appendStringInfo(&sb, ", \"digest\": \"%s\", \"key_id\": \"%s\", \"signature\": \"%s\"}",
					 format_hex(cp->digest, NOTARY_HASH_LEN), cp->key_id,
					 format_hex(cp->signature, 64));
	return sb.data;
}

static void
malformed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed pg_notary checkpoint: %s", what),
			 errhint("Pass the JSON document that notary.checkpoint() returned, unchanged.")));
}

static int64
parse_json_int(const char *s, const char *field)
{
	char	   *end;
	long long	v;

	if (s == NULL || *s == '\0')
		malformed(psprintf("\"%s\" is missing", field));
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		malformed(psprintf("\"%s\" is not an integer", field));
	return (int64) v;
}

/*
 * Parse a checkpoint document (as jsonb) into cp; raises a clear error on
 * anything malformed.  SPI connected.
 */
void
checkpoint_from_jsonb(Datum doc, NotaryCheckpoint *cp)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1] = {doc};
	HeapTuple	t;
	TupleDesc	d;
	char	   *s;
	uint64		i;
	SPITupleTable *tt;

	memset(cp, 0, sizeof(*cp));
	if (SPI_execute_with_args("SELECT $1->>'format', $1->>'checkpoint_id', $1->>'system_identifier', "
							  "$1->>'timeline', $1->>'database', $1->>'created_at_us', "
							  "$1->>'ledger_seq', $1->>'entries', $1->>'entries_root', "
							  "$1->>'previous', $1->>'digest', $1->>'key_id', $1->>'signature', "
							  "pg_catalog.jsonb_typeof($1->'chains'), pg_catalog.jsonb_typeof($1)",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the checkpoint document");
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	s = SPI_getvalue(t, d, 15);
	if (s == NULL || strcmp(s, "object") != 0)
		malformed("it is not a JSON object");
	s = SPI_getvalue(t, d, 1);
	if (s == NULL || strcmp(s, NOTARY_CHECKPOINT_FORMAT) != 0)
		malformed("\"format\" is not \"" NOTARY_CHECKPOINT_FORMAT "\"");
	cp->checkpoint_id = parse_json_int(SPI_getvalue(t, d, 2), "checkpoint_id");
	cp->system_identifier = SPI_getvalue(t, d, 3);
	if (cp->system_identifier == NULL)
		malformed("\"system_identifier\" is missing");
	(void) parse_json_int(cp->system_identifier, "system_identifier");
	cp->timeline = (int32) parse_json_int(SPI_getvalue(t, d, 4), "timeline");
	cp->database = SPI_getvalue(t, d, 5);
	if (cp->database == NULL)
		malformed("\"database\" is missing");
	cp->created_at_us = parse_json_int(SPI_getvalue(t, d, 6), "created_at_us");
	cp->ledger_seq = parse_json_int(SPI_getvalue(t, d, 7), "ledger_seq");
	cp->entries = parse_json_int(SPI_getvalue(t, d, 8), "entries");
	if (!format_unhex(SPI_getvalue(t, d, 9), cp->entries_root, NOTARY_HASH_LEN))
		malformed("\"entries_root\" is not 64 hexadecimal characters");
	s = SPI_getvalue(t, d, 10);
	cp->has_previous = (s != NULL);
	if (s != NULL && !format_unhex(s, cp->previous, NOTARY_HASH_LEN))
		malformed("\"previous\" is neither null nor 64 hexadecimal characters");
	if (!format_unhex(SPI_getvalue(t, d, 11), cp->digest, NOTARY_HASH_LEN))
		malformed("\"digest\" is not 64 hexadecimal characters");
	cp->key_id = SPI_getvalue(t, d, 12);
	if (cp->key_id == NULL)
		malformed("\"key_id\" is missing");
	if (!format_unhex(SPI_getvalue(t, d, 13), cp->signature, 64))
		malformed("\"signature\" is not 128 hexadecimal characters");
	s = SPI_getvalue(t, d, 14);
	if (s == NULL || strcmp(s, "array") != 0)
		malformed("\"chains\" is not an array");

	if (SPI_execute_with_args("SELECT c->>'chain_id', c->>'position', c->>'hash' "
							  "FROM pg_catalog.jsonb_array_elements($1->'chains') WITH ORDINALITY AS a(c, n) "
							  "ORDER BY n",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the checkpoint's chains");
	tt = SPI_tuptable;
	cp->nchains = (int) SPI_processed;
	cp->chains = palloc0(sizeof(CheckpointHead) * Max(cp->nchains, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		cp->chains[i].chain_id = (int32) parse_json_int(SPI_getvalue(tt->vals[i], tt->tupdesc, 1), "chains[].chain_id");
		cp->chains[i].position = parse_json_int(SPI_getvalue(tt->vals[i], tt->tupdesc, 2), "chains[].position");
		if (!format_unhex(SPI_getvalue(tt->vals[i], tt->tupdesc, 3), cp->chains[i].hash, NOTARY_HASH_LEN))
			malformed("a chain's \"hash\" is not 64 hexadecimal characters");
		if (i > 0 && cp->chains[i].chain_id <= cp->chains[i - 1].chain_id)
			malformed("\"chains\" is not in ascending chain_id order");
	}
}

/*
 * checkpoint_from_jsonb() that returns false instead of raising an error,
 * so that one damaged stored checkpoint does not hide every other finding.
 * Runs the parse in a subtransaction.  (SPI connected.)
 */
bool
checkpoint_parse_quietly(Datum doc, NotaryCheckpoint *cp)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		checkpoint_from_jsonb(doc, cp);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		SPI_restore_connection();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static char *
system_identifier_text(void)
{
	return psprintf(UINT64_FORMAT, GetSystemIdentifier());
}

/* Read the newest stored checkpoint's id and digest; false if none. */
static bool
latest_checkpoint(int64 *id, uint8 *digest, int64 *ledger_seq, int64 *entries)
{
	bool		isnull;

	if (SPI_execute("SELECT checkpoint_id, digest, ledger_seq, entries FROM notary.checkpoints "
					"ORDER BY checkpoint_id DESC LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.checkpoints");
	if (SPI_processed == 0)
		return false;
	*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	{
		Datum		bd = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		bytea	   *b = isnull ? NULL : DatumGetByteaPP(bd);

		memset(digest, 0, NOTARY_HASH_LEN);
		if (b != NULL && VARSIZE_ANY_EXHDR(b) == NOTARY_HASH_LEN)
			memcpy(digest, VARDATA_ANY(b), NOTARY_HASH_LEN);
	}
	*ledger_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	*entries = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	return true;
}

/* Serialise checkpoints: EXCLUSIVE on notary.checkpoints to the end of the transaction. */
static void
checkpoint_lock(void)
{
	if (SPI_execute("LOCK TABLE notary.checkpoints IN EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock notary.checkpoints");
}

/*
 * The id of the newest committed checkpoint (0 if none), whatever the
 * active snapshot sees: a checkpoint taken with a snapshot older than that
 * one would repeat its id or cover less than its predecessor.
 */
static int64
newest_committed_checkpoint_id(void)
{
	bool		isnull;
	Datum		d;

	PushActiveSnapshot(GetLatestSnapshot());
	if (SPI_execute("SELECT pg_catalog.max(checkpoint_id) FROM notary.checkpoints", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.checkpoints");
	PopActiveSnapshot();
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * Take, sign and store a new checkpoint of the ledger as the active
 * snapshot sees it; returns its document, or NULL when only_if_changed and
 * nothing changed since the newest one.  Checkpoints are serialised by an
 * EXCLUSIVE lock on notary.checkpoints, held to the end of the
 * transaction.  SPI connected, as owner.  An export locks first and then
 * pushes the snapshot that both the checkpoint and its data are read with.
 */
char *
checkpoint_create(bool only_if_changed, NotaryCheckpoint *cp)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	int64		prev_id = 0;
	int64		prev_seq = 0;
	int64		prev_entries = 0;
	char	   *json;
	Oid			argtypes[5] = {INT8OID, BYTEAOID, INT8OID, INT8OID, JSONBOID};
	Datum		args[5];
	bytea	   *digest;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot create a pg_notary checkpoint during recovery"),
				 errhint("Take checkpoints on the primary; verify them on the standby.")));

	memset(cp, 0, sizeof(*cp));
	checkpoint_lock();
	cp->has_previous = latest_checkpoint(&prev_id, cp->previous, &prev_seq, &prev_entries);
	if (newest_committed_checkpoint_id() != prev_id)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not take a pg_notary checkpoint: another checkpoint was committed after this transaction's snapshot was taken"),
				 errdetail("A checkpoint must build on the newest one, which this transaction cannot see."),
				 errhint("Retry the transaction.")));

	checkpoint_scan(cp, NULL, false, 0, 0, NULL, NULL, NULL);
	if (only_if_changed && cp->has_previous &&
		cp->ledger_seq == prev_seq && cp->entries == prev_entries)
		return NULL;

	cp->checkpoint_id = prev_id + 1;
	cp->system_identifier = system_identifier_text();
	cp->timeline = (int32) GetWALInsertionTimeLine();
	cp->database = get_database_name(MyDatabaseId);
	cp->created_at_us = (int64) GetCurrentTimestamp() + UNIX_EPOCH_OFFSET_US;
	format_checkpoint_digest(cp, cp->digest);
	signing_sign(cp->digest, NOTARY_HASH_LEN, cp->signature, pk);
	cp->key_id = signing_key_id(pk);
	json = checkpoint_to_json(cp);

	digest = palloc(VARHDRSZ + NOTARY_HASH_LEN);
	SET_VARSIZE(digest, VARHDRSZ + NOTARY_HASH_LEN);
	memcpy(VARDATA(digest), cp->digest, NOTARY_HASH_LEN);
	args[0] = Int64GetDatum(cp->checkpoint_id);
	args[1] = PointerGetDatum(digest);
	args[2] = Int64GetDatum(cp->ledger_seq);
	args[3] = Int64GetDatum(cp->entries);
	args[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	if (SPI_execute_with_args("INSERT INTO notary.checkpoints "
							  "(checkpoint_id, digest, ledger_seq, entries, created_at, document) "
							  "VALUES ($1, $2, $3, $4, pg_catalog.clock_timestamp(), $5)",
							  5, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the checkpoint");
	return json;
}

PG_FUNCTION_INFO_V1(notary_checkpoint);

/* SQL: notary.checkpoint(only_if_changed boolean DEFAULT false) returns jsonb */
Datum
notary_checkpoint(PG_FUNCTION_ARGS)
{
	bool		only_if_changed = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	NotaryUserSwitch sw;
	NotaryCheckpoint cp;
	char	   *json;
	MemoryContext callcxt = CurrentMemoryContext;

	notary_spi_begin(&sw);
	/*
	 * Lock first, then read with a snapshot taken after the lock: in READ
	 * COMMITTED it sees a checkpoint committed while this one waited, and
	 * the entries written meanwhile.  (In REPEATABLE READ the transaction's
	 * snapshot stays, and checkpoint_create() refuses if it is too old.)
	 */
	checkpoint_lock();
	PushActiveSnapshot(GetTransactionSnapshot());
	json = checkpoint_create(only_if_changed, &cp);
	PopActiveSnapshot();
	if (json != NULL)
	{
		MemoryContextSwitchTo(callcxt);
		json = pstrdup(json);
	}
	notary_spi_end(&sw);

	MemoryContextSwitchTo(callcxt);
	if (json == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

PG_FUNCTION_INFO_V1(notary_public_key);

/* SQL: notary.public_key(OUT key_id text, OUT public_key text) */
Datum
notary_public_key(PG_FUNCTION_ARGS)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	signing_public_key(pk, false);
	values[0] = CStringGetTextDatum(signing_key_id(pk));
	values[1] = CStringGetTextDatum(format_hex(pk, crypto_sign_PUBLICKEYBYTES));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Findings of verify_checkpoint(): (problem, chain_id, position, detail). */
typedef struct CpFindings
{
	Tuplestorestate *store;
	TupleDesc	desc;
} CpFindings;

static void check_seals_after(CpFindings *f, const NotaryCheckpoint *cp);
static void check_seals_tolerant(CpFindings *f, const NotaryCheckpoint *cp);

static void
cp_report(CpFindings *f, const char *problem, bool has_chain, int32 chain,
		  int64 position, const char *detail)
{
	Datum		values[4];
	bool		nulls[4] = {false, !has_chain, !has_chain, false};

	values[0] = CStringGetTextDatum(problem);
	values[1] = Int32GetDatum(chain);
	values[2] = Int64GetDatum(position);
	values[3] = CStringGetTextDatum(detail);
	tuplestore_putvalues(f->store, f->desc, values, nulls);
}

/*
 * Check a checkpoint's signature and identity (no ledger access): returns
 * false when it cannot be trusted at all.
 */
static bool
check_signature(CpFindings *f, NotaryCheckpoint *cp, const char *trusted_key)
{
	uint8		digest[NOTARY_HASH_LEN];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char	   *key_id;
	bool		ok = true;

	format_checkpoint_digest(cp, digest);
	if (memcmp(digest, cp->digest, NOTARY_HASH_LEN) != 0)
	{
		cp_report(f, "bad_signature", false, 0, 0,
				  "the checkpoint's fields do not match its digest: it was edited after it was signed");
		return false;
	}
	if (trusted_key != NULL)
	{
		if (!format_unhex(trusted_key, pk, crypto_sign_PUBLICKEYBYTES))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("public_key must be 64 hexadecimal characters (an Ed25519 public key)")));
	}
	else
		signing_public_key(pk, false);
	key_id = signing_key_id(pk);
	if (strcmp(key_id, cp->key_id) != 0)
	{
		cp_report(f, "wrong_key", false, 0, 0,
				  psprintf("the checkpoint names key %s, the key it is checked with is %s",
						   cp->key_id, key_id));
		ok = false;
	}
	else if (crypto_sign_verify_detached(cp->signature, digest, NOTARY_HASH_LEN, pk) != 0)
	{
		cp_report(f, "bad_signature", false, 0, 0,
				  "the signature does not verify with the public key it is checked with: the checkpoint is forged");
		ok = false;
	}

	/*
	 * An authentic checkpoint of another cluster or database is reported,
	 * and still compared: after a restore, the restored ledger is checked
	 * against the checkpoints its source published.
	 */
	if (strcmp(cp->system_identifier, system_identifier_text()) != 0 ||
		strcmp(cp->database, get_database_name(MyDatabaseId)) != 0)
		cp_report(f, "other_cluster", false, 0, 0,
				  psprintf("the checkpoint was taken in database \"%s\" of cluster %s, this is \"%s\" of cluster %s",
						   cp->database, cp->system_identifier,
						   get_database_name(MyDatabaseId), system_identifier_text()));
	return ok;
}

PG_FUNCTION_INFO_V1(notary_verify_checkpoint);

/*
 * SQL: notary.verify_checkpoint(checkpoint jsonb, public_key text DEFAULT NULL)
 *		returns setof (problem, chain_id, position, detail)
 *
 * public_key: the key the auditor trusts, held outside the database; NULL
 * takes the public half of this server's key file.
 */
Datum
notary_verify_checkpoint(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		doc;
	char	   *trusted_key = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	CpFindings	f;
	NotaryUserSwitch sw;
	NotaryCheckpoint cp;
	NotaryCheckpoint now;
	HTAB	   *limits;
	List	   *unreadable = NIL;
	ListCell   *lc;
	int			i,
				j;
	bool		heads_ok = true;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("checkpoint must not be null")));
	doc = PG_GETARG_DATUM(0);
	InitMaterializedSRF(fcinfo, 0);
	f.store = rsinfo->setResult;
	f.desc = rsinfo->setDesc;

	notary_spi_begin(&sw);
	checkpoint_from_jsonb(doc, &cp);

	/* a forged checkpoint, or one of another key, says nothing about the ledger */
	if (!check_signature(&f, &cp, trusted_key))
	{
		notary_spi_end(&sw);
		return (Datum) 0;
	}
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(cp.checkpoint_id)};

		/* is it the checkpoint this database stored under that id? */
		if (SPI_execute_with_args("SELECT pg_catalog.decode(document->>'digest', 'hex') "
								  "FROM notary.checkpoints "
								  "WHERE checkpoint_id OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read notary.checkpoints");
		if (SPI_processed == 0)
			cp_report(&f, "unknown_checkpoint", false, 0, 0,
					  psprintf("notary.checkpoints holds no checkpoint " INT64_FORMAT ": the database's own record of checkpoints was cut or rewritten",
							   cp.checkpoint_id));
		else
		{
			bool		isnull;
			Datum		bd = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			bytea	   *b = isnull ? NULL : DatumGetByteaPP(bd);

			if (b == NULL || VARSIZE_ANY_EXHDR(b) != NOTARY_HASH_LEN ||
				memcmp(VARDATA_ANY(b), cp.digest, NOTARY_HASH_LEN) != 0)
				cp_report(&f, "checkpoint_mismatch", false, 0, 0,
						  psprintf("notary.checkpoints holds a different checkpoint " INT64_FORMAT ": one of them was forged or replayed",
								   cp.checkpoint_id));
		}
	}

	/*
	 * the ledger against the checkpoint: heads, then the root.  A covered
	 * pack that cannot be read is reported, and its entries count as
	 * missing, so that the comparison still says what it can.
	 */
	limits = checkpoint_limits(&cp);
	checkpoint_scan(&now, limits, false, 0, 0, NULL, NULL, &unreadable);
	foreach(lc, unreadable)
	{
		UnreadablePack *u = lfirst(lc);

		cp_report(&f, "unreadable_pack", true, u->chain, u->first,
				  psprintf("the pack of notary.ledger_packs holding positions " INT64_FORMAT " to " INT64_FORMAT " of chain %d cannot be read (%s): its entries count as missing, and seals were not checked; notary.verify() lists what it can still check",
						   u->first, u->last, u->chain, u->why));
	}

	for (i = 0, j = 0; i < cp.nchains; i++)
	{
		CheckpointHead *want = &cp.chains[i];

		while (j < now.nchains && now.chains[j].chain_id < want->chain_id)
			j++;
		if (j >= now.nchains || now.chains[j].chain_id != want->chain_id ||
			now.chains[j].position < want->position)
		{
			int64		have = (j < now.nchains && now.chains[j].chain_id == want->chain_id) ?
			now.chains[j].position : 0;

			cp_report(&f, "entries_missing", true, want->chain_id, want->position,
					  psprintf("the checkpoint covers chain %d up to position " INT64_FORMAT ", the ledger holds it only up to " INT64_FORMAT ": entries were cut off",
							   want->chain_id, want->position, have));
			heads_ok = false;
		}
		else if (memcmp(now.chains[j].hash, want->hash, NOTARY_HASH_LEN) != 0)
		{
			cp_report(&f, "history_rewritten", true, want->chain_id, want->position,
					  psprintf("position " INT64_FORMAT " of chain %d has another hash than when the checkpoint was taken: the chain was rewritten up to there",
							   want->position, want->chain_id));
			heads_ok = false;
		}
	}
	if (heads_ok && (now.entries != cp.entries ||
					 memcmp(now.entries_root, cp.entries_root, NOTARY_HASH_LEN) != 0))
		cp_report(&f, "history_rewritten", false, 0, 0,
				  psprintf("the Merkle root over the " INT64_FORMAT " entries the checkpoint covers differs (the ledger has " INT64_FORMAT "): entries before the checkpoint were changed",
						   cp.entries, now.entries));
	/* reading the seals would stop at the unreadable pack */
	if (unreadable == NIL)
		check_seals_tolerant(&f, &cp);

	notary_spi_end(&sw);
	return (Datum) 0;
}

/*
 * check_seals_after(), but a pack that cannot be read anywhere in the
 * ledger (reading the seals reads every pack, also those the checkpoint
 * does not cover) is reported as seals_unchecked instead of stopping
 * verify_checkpoint(): the comparison above stands.  In a subtransaction,
 * as a PL/pgSQL EXCEPTION block does; only XX001 is caught.
 */
static void
check_seals_tolerant(CpFindings *f, const NotaryCheckpoint *cp)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		check_seals_after(f, cp);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		cp_report(f, "seals_unchecked", false, 0, 0,
				  psprintf("sealed entries were not checked: %s; notary.verify() lists what it can still check",
						   edata->message));
	}
	PG_END_TRY();
}

/*
 * Sealed entries the checkpoint covers whose content now rests on a seal
 * recorded by a REDACT entry the checkpoint does not cover: the checkpoint
 * vouches for their stored hash only, and what is left of them could have
 * been rewritten and sealed again since (docs/format.md, "Sealed columns").
 * (SPI connected.)
 */
static void
check_seals_after(CpFindings *f, const NotaryCheckpoint *cp)
{
	Oid			argtypes[2] = {INT4ARRAYOID, INT8ARRAYOID};
	Datum		args[2];
	Datum	   *chains = palloc(sizeof(Datum) * Max(cp->nchains, 1));
	Datum	   *positions = palloc(sizeof(Datum) * Max(cp->nchains, 1));

	if (notary_catalog()->max_format < 2)
		return;
	/* most ledgers have no seal: then the entries need no second reading */
	if (SPI_execute("SELECT 1 FROM notary.redaction_rows() r "
					"WHERE pg_catalog.jsonb_typeof(r.detail OPERATOR(pg_catalog.->) 'sealed') OPERATOR(pg_catalog.=) 'object' "
					"LIMIT 1", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the REDACT entries");
	if (SPI_processed == 0)
		return;
	for (int i = 0; i < cp->nchains; i++)
	{
		chains[i] = Int32GetDatum(cp->chains[i].chain_id);
		positions[i] = Int64GetDatum(cp->chains[i].position);
	}
	args[0] = PointerGetDatum(construct_array(chains, cp->nchains, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(positions, cp->nchains, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args(
		"WITH cov AS (SELECT c, p FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u(c, p)), "
		"sealed AS (SELECT l.seq, l.chain_id, l.chain_pos FROM notary.ledger l "
		"  JOIN cov ON l.chain_id OPERATOR(pg_catalog.=) cov.c AND l.chain_pos OPERATOR(pg_catalog.<=) cov.p "
		"  WHERE l.format_version OPERATOR(pg_catalog.=) 2 AND l.redacted IS NOT NULL "
		"  AND pg_catalog.encode(l.redacted, 'hex') OPERATOR(pg_catalog.~) '^([0-9a-f]{68})*[89a-f]'), "
		"seals AS (SELECT r.seq AS rseq, r.chain_id, r.chain_pos, k.key FROM notary.redaction_rows() r, "
		"  pg_catalog.jsonb_object_keys(CASE WHEN pg_catalog.jsonb_typeof(r.detail OPERATOR(pg_catalog.->) 'sealed') OPERATOR(pg_catalog.=) 'object' "
		"  THEN r.detail OPERATOR(pg_catalog.->) 'sealed' ELSE '{}'::pg_catalog.jsonb END) AS k(key) "
		"  WHERE r.op OPERATOR(pg_catalog.=) 'REDACT') "
		"SELECT s.seq, s.chain_id, s.chain_pos, n.rseq, n.chain_id, n.chain_pos FROM sealed s "
		"CROSS JOIN LATERAL (SELECT * FROM seals WHERE seals.key OPERATOR(pg_catalog.=) s.seq::pg_catalog.text "
		"  AND seals.rseq OPERATOR(pg_catalog.>) s.seq ORDER BY seals.rseq DESC LIMIT 1) n "
		"WHERE NOT EXISTS (SELECT 1 FROM cov WHERE cov.c OPERATOR(pg_catalog.=) n.chain_id "
		"  AND n.chain_pos OPERATOR(pg_catalog.<=) cov.p) ORDER BY s.seq",
		2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the seals of the ledger");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		cp_report(f, "sealed_after_checkpoint", true,
				  DatumGetInt32(SPI_getbinval(t, d, 2, &isnull)),
				  DatumGetInt64(SPI_getbinval(t, d, 3, &isnull)),
				  psprintf("entry " INT64_FORMAT " is covered by the checkpoint, but what is left of it is vouched for by the seal of REDACT entry " INT64_FORMAT " (chain %d, position " INT64_FORMAT "), which the checkpoint does not cover: its content cannot be checked against this checkpoint",
						   DatumGetInt64(SPI_getbinval(t, d, 1, &isnull)),
						   DatumGetInt64(SPI_getbinval(t, d, 4, &isnull)),
						   DatumGetInt32(SPI_getbinval(t, d, 5, &isnull)),
						   DatumGetInt64(SPI_getbinval(t, d, 6, &isnull))));
	}
}

/*
 * Check the chain of stored checkpoints (ids 1, 2, ... each naming the
 * digest of the one before, each digest and signature valid); report()
 * gets every problem.  SPI connected.
 */
void
checkpoint_verify_stored(void (*report) (void *arg, const char *problem, const char *detail),
						 void *arg)
{
	Portal		portal;
	int64		expected = 1;
	uint8		prev[NOTARY_HASH_LEN];
	bool		have_prev = false;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	bool		have_key = true;
	char	   *key_id = NULL;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_notary checkpoints",
												  ALLOCSET_DEFAULT_SIZES);

	have_key = signing_key_exists();
	if (have_key)
	{
		signing_public_key(pk, false);
		key_id = signing_key_id(pk);
	}

	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT checkpoint_id, NULL, document FROM notary.checkpoints "
									   "ORDER BY checkpoint_id",
									   0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		uint64		i;
		SPITupleTable *tt;
		uint64		n;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		n = SPI_processed;
		for (i = 0; i < n; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(scratch);
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			Datum		docd = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);
			NotaryCheckpoint cp;
			uint8		digest[NOTARY_HASH_LEN];

			if (isnull || !checkpoint_parse_quietly(docd, &cp))
			{
				report(arg, "checkpoint_chain",
					   psprintf("stored checkpoint " INT64_FORMAT " is not a well-formed checkpoint document: it was altered", id));
				have_prev = false;
				expected = id + 1;
				MemoryContextSwitchTo(old);
				MemoryContextReset(scratch);
				continue;
			}

			if (id != expected)
				report(arg, "checkpoint_chain",
					   psprintf("checkpoint " INT64_FORMAT " follows checkpoint " INT64_FORMAT ": stored checkpoints were deleted or inserted",
								id, expected - 1));
			format_checkpoint_digest(&cp, digest);
			if (cp.checkpoint_id != id ||
				memcmp(digest, cp.digest, NOTARY_HASH_LEN) != 0)
				report(arg, "checkpoint_chain",
					   psprintf("stored checkpoint " INT64_FORMAT " does not match its digest: it was altered", id));
			else if (have_key && strcmp(cp.key_id, key_id) == 0 &&
					 crypto_sign_verify_detached(cp.signature, digest, NOTARY_HASH_LEN, pk) != 0)
				report(arg, "checkpoint_chain",
					   psprintf("stored checkpoint " INT64_FORMAT " has an invalid signature: it was forged", id));
			if (have_prev != cp.has_previous ||
				(have_prev && memcmp(prev, cp.previous, NOTARY_HASH_LEN) != 0))
				report(arg, "checkpoint_chain",
					   psprintf("stored checkpoint " INT64_FORMAT " does not name the checkpoint before it: the checkpoint chain was rewritten or replayed", id));
			memcpy(prev, digest, NOTARY_HASH_LEN);
			have_prev = true;
			expected = id + 1;
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);
		}
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(scratch);
}
