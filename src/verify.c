/*-------------------------------------------------------------------------
 *
 * verify.c
 *		notary.verify(): recompute every hash of the ledger and check every
 *		link of every chain; one row per finding, in the manner of
 *		contrib/amcheck's verify_heapam (all findings, not the first).
 *
 * Nothing stored is trusted: layout digests are recomputed from the
 * layouts' content, image digests from the images, entry hashes from the
 * entries.  Each entry stores the hash of its predecessor (prev_hash), so
 * the two ways an entry can be wrong are told apart: its content no longer
 * matches its own hash (altered_entry), or its link no longer matches the
 * entry before it (broken_link: that entry was rewritten, hash and all).
 * Positions must run 1, 2, 3, ... in every chain (missing_entry).  A
 * column erased by a redaction keeps its commitment, so the hash still
 * holds; it must be recorded by a later REDACT entry (forged_redaction).  The
 * stored checkpoints must form an unbroken, validly signed chain
 * (checkpoint_chain).
 *
 * verify(since => checkpoint) checks only the entries after a checkpoint:
 * each chain starts from the position and hash the checkpoint names.
 *
 * What verify() cannot see alone: a superuser who rewrites an entry and
 * recomputes every later hash of its chain, or who deletes the newest
 * entries of a chain.  Those need a checkpoint held outside the database
 * (docs/threat-model.md).
 *
 * Memory: one scratch context, reset after each entry; the scan
 * (ledger_scan.c) keeps one decoded pack at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "ledger_scan.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"


#define UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef struct Findings
{
	Tuplestorestate *store;
	TupleDesc	desc;
	int64		count;
} Findings;

static void
report(Findings *f, bool has_entry, int64 seq, int32 chain_id, int64 pos,
	   const char *problem, const char *detail)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (has_entry)
	{
		values[0] = Int64GetDatum(seq);
		values[1] = Int32GetDatum(chain_id);
		values[2] = Int64GetDatum(pos);
	}
	else
		nulls[0] = nulls[1] = nulls[2] = true;
	values[3] = CStringGetTextDatum(problem);
	values[4] = CStringGetTextDatum(detail);
	tuplestore_putvalues(f->store, f->desc, values, nulls);
	f->count++;
}

/* A finding about a pack that cannot be read: its chain and first position, no seq. */
static void
report_pack(Findings *f, int32 chain_id, int64 pos, const char *problem,
			const char *detail)
{
	Datum		values[5];
	bool		nulls[5] = {true, false, false, false, false};

	values[1] = Int32GetDatum(chain_id);
	values[2] = Int64GetDatum(pos);
	values[3] = CStringGetTextDatum(problem);
	values[4] = CStringGetTextDatum(detail);
	tuplestore_putvalues(f->store, f->desc, values, nulls);
	f->count++;
}

/*
 * Redactions: every (entry, column) a redaction erased must be recorded by
 * a later REDACT entry that names it; one erased by hand is reported.
 */
typedef struct RedactionKey
{
	int64		seq;
	char		column[NAMEDATALEN];
} RedactionKey;

typedef struct RedactionItem
{
	RedactionKey key;			/* hash key */
	bool		erased;			/* the entry shows the column erased */
	int32		chain_id;
	int64		chain_pos;
	int64		recorded_by;	/* seq of a later REDACT entry naming it */
} RedactionItem;

/*
 * Seals (docs/format.md, "Sealed columns"): a format-2 entry with sealed
 * columns is checked against the seal the newest later REDACT entry that
 * names it recorded.
 */
typedef struct SealItem
{
	int64		seq;			/* hash key */
	bool		sealed;			/* the entry has sealed columns: computed is set */
	uint8		computed[NOTARY_HASH_LEN];
	int32		chain_id;
	int64		chain_pos;
	int64		recorded_by;	/* seq of the newest later REDACT entry sealing it */
	uint8		recorded[NOTARY_HASH_LEN];
	bool		recorded_ok;	/* what it recorded is 32 bytes of hex */
	bool		forged_column;	/* a column of it was reported forged_redaction */
} SealItem;

typedef struct Redactions
{
	HTAB	   *items;
	HTAB	   *seals;
} Redactions;

static SealItem *
seal_item(Redactions *r, int64 seq)
{
	bool		found;
	SealItem   *it = hash_search(r->seals, &seq, HASH_ENTER, &found);

	if (!found)
	{
		it->sealed = false;
		it->recorded_by = 0;
		it->recorded_ok = false;
		it->forged_column = false;
	}
	return it;
}

static RedactionItem *
redaction_item(Redactions *r, int64 seq, const char *column)
{
	RedactionKey key;
	bool		found;
	RedactionItem *it;

	memset(&key, 0, sizeof(key));
	key.seq = seq;
	strlcpy(key.column, column, NAMEDATALEN);
	it = hash_search(r->items, &key, HASH_ENTER, &found);
	if (!found)
	{
		it->erased = false;
		it->recorded_by = 0;
	}
	return it;
}

/*
 * Is the redacted field of an entry well formed for its image?  Sealed
 * columns exist only in format 2.
 */
static bool
redacted_well_formed(bytea *redacted, const NotaryImage *img, int format_version,
					 const char **why)
{
	int			len = VARSIZE_ANY_EXHDR(redacted);
	const uint8 *r = (const uint8 *) VARDATA_ANY(redacted);
	int			last = -1;
	int			k;

	if (len == 0 || len % NOTARY_REDACTED_LEN != 0)
	{
		*why = "the redacted field is not a whole number of (position, commitment) records";
		return false;
	}
	for (k = 0; k < len / NOTARY_REDACTED_LEN; k++, r += NOTARY_REDACTED_LEN)
	{
		int			raw = (r[0] << 8) | r[1];
		int			pos = raw & ~NOTARY_SEALED_FLAG;

		if ((raw & NOTARY_SEALED_FLAG) && format_version != 2)
		{
			*why = "a format-1 entry has a sealed column";
			return false;
		}
		if (raw & NOTARY_SEALED_FLAG)
		{
			static const uint8 zeros[NOTARY_HASH_LEN] = {0};

			if (memcmp(r + 2, zeros, NOTARY_HASH_LEN) != 0)
			{
				*why = "a sealed column's record is not followed by 32 zero bytes";
				return false;
			}
		}
		if (pos <= last || pos >= img->ncols)
		{
			*why = "a redacted position is out of range or out of order";
			return false;
		}
		if (img->values[pos] != NULL)
		{
			*why = "a redacted column still holds a value";
			return false;
		}
		last = pos;
	}
	return true;
}

/* The columns an entry shows erased. */
static void
redactions_note(Redactions *r, const NotaryEntry *e, const LayoutInfo *l,
				bytea *redacted)
{
	const uint8 *p = (const uint8 *) VARDATA_ANY(redacted);
	int			n = VARSIZE_ANY_EXHDR(redacted) / NOTARY_REDACTED_LEN;
	int			k;

	for (k = 0; k < n; k++, p += NOTARY_REDACTED_LEN)
	{
		const char *name = l->names[((p[0] << 8) | p[1]) & ~NOTARY_SEALED_FLAG];
		RedactionItem *it;

		if (name == NULL)
			continue;			/* a damaged layout: altered_layout says so */
		it = redaction_item(r, e->seq, name);
		it->erased = true;
		it->chain_id = e->chain_id;
		it->chain_pos = e->chain_pos;
	}
}

/*
 * A seq named in a REDACT entry: the number rounded as numeric_int8 would,
 * *bad when it is no bigint at all (a forged entry must not stop verify()).
 */
static int64
json_seq(Numeric num, bool *bad)
{
	char	   *txt;
	char	   *end;
	long long	v;

	*bad = numeric_is_nan(num);
	if (*bad)
		return 0;
	txt = DatumGetCString(DirectFunctionCall1(numeric_out,
											  DirectFunctionCall2(numeric_round,
																  NumericGetDatum(num),
																  Int32GetDatum(0))));
	errno = 0;
	v = strtoll(txt, &end, 10);
	if (errno != 0 || *end != '\0')
		*bad = true;
	return (int64) v;
}

/*
 * The seals a REDACT entry records: {"sealed": {"<seq>": "<hex>", ...}}.
 * Each entry's newest seal counts (entries arrive in chain order, not seq
 * order).
 */
static void
seals_record(Redactions *r, int64 redact_seq, Jsonb *detail)
{
	JsonbValue *sealed = getKeyJsonValueFromContainer(&detail->root, "sealed", 6, NULL);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (sealed == NULL || sealed->type != jbvBinary ||
		!JsonContainerIsObject(sealed->val.binary.data))
		return;
	it = JsonbIteratorInit(sealed->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key != NULL)
		{
			int64		seq;
			SealItem   *si;

			/* one spelling only: the seq in decimal, the seal in lower-case hex */
			if (!format_seal_key(key, &seq) || seq >= redact_seq)
				continue;		/* a redaction seals only earlier entries */
			si = seal_item(r, seq);
			if (si->recorded_by > redact_seq)
				continue;
			si->recorded_by = redact_seq;
			si->recorded_ok = v.type == jbvString && v.val.string.len == 2 * NOTARY_HASH_LEN &&
				strspn(pnstrdup(v.val.string.val, v.val.string.len), "0123456789abcdef") ==
				2 * NOTARY_HASH_LEN &&
				format_unhex(pnstrdup(v.val.string.val, v.val.string.len), si->recorded,
							 NOTARY_HASH_LEN);
		}
	}
}

/* What a REDACT entry records: {"columns": [...], "entries": [seq, ...]} */
static void
redactions_record(Redactions *r, int64 redact_seq, Jsonb *detail)
{
	JsonbValue *cols;
	JsonbValue *ents;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *names = NIL;
	ListCell   *lc;

	if (!JB_ROOT_IS_OBJECT(detail))
		return;					/* a forged detail: forged_redaction follows */
	seals_record(r, redact_seq, detail);
	cols = getKeyJsonValueFromContainer(&detail->root, "columns", 7, NULL);
	ents = getKeyJsonValueFromContainer(&detail->root, "entries", 7, NULL);

	if (cols == NULL || ents == NULL || cols->type != jbvBinary || ents->type != jbvBinary)
		return;
	it = JsonbIteratorInit(cols->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM && v.type == jbvString)
			names = lappend(names, pnstrdup(v.val.string.val, v.val.string.len));
	it = JsonbIteratorInit(ents->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int64		seq;
		bool		bad = false;

		if (tok != WJB_ELEM || v.type != jbvNumeric)
			continue;
		seq = json_seq(v.val.numeric, &bad);
		if (bad || seq >= redact_seq)
			continue;			/* a redaction records only earlier entries */
		foreach(lc, names)
			redaction_item(r, seq, (char *) lfirst(lc))->recorded_by = redact_seq;
	}
}

/*
 * A ledger row, deformed once: reading the later columns of a 19-column
 * tuple one by one costs more than the hashing.  Columns are numbered from
 * 1, as in the table.
 */
typedef struct LedgerRow
{
	Datum		v[LEDGER_NATTS];
	bool		n[LEDGER_NATTS];
	const PackedEntry *pe;		/* a packed entry: its image is read from here */
} LedgerRow;

static inline Datum
row_get(LedgerRow *r, int col, bool *isnull)
{
	*isnull = r->n[col - 1];
	return r->v[col - 1];
}

/* A 32-byte hash from a bytea column, or false if null or of another size. */
static bool
get_hash(LedgerRow *t, int col, uint8 *out)
{
	bool		isnull;
	Datum		v = row_get(t, col, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(v);
	if (VARSIZE_ANY_EXHDR(b) != NOTARY_HASH_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), NOTARY_HASH_LEN);
	return true;
}

static char *
get_text(LedgerRow *t, int col)
{
	bool		isnull;
	Datum		v = row_get(t, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(v);
}

/*
 * Recompute the hash of one entry (columns as selected below).  Returns
 * false with *why set when the entry is malformed and cannot be hashed.
 * A format-2 entry with sealed columns gets its seal instead, computed
 * with its stored hash, and *sealed set.
 */
static bool
recompute_entry(LedgerRow *t, HTAB *layouts, const uint8 *prev,
				const uint8 *stored, uint8 *out, bool *sealed,
				const char **why, Redactions *r)
{
	NotaryEntry e;
	NotaryImage img;
	bool		isnull;
	Datum		v;

	*sealed = false;
	if (!ledger_entry_from_values(t->v, t->n, &e))
	{
		*why = "old_digest is not 32 bytes";
		return false;
	}
	if (t->pe != NULL)
		e.detail = t->pe->e.detail;	/* as stored: the hash covers those bytes */
	if (e.format_version != 1 && e.format_version != 2)
	{
		*why = t->n[LEDGER_ATT_FORMAT - 1] ? "format_version is null" :
			psprintf("format_version %d is neither 1 nor 2", e.format_version);
		return false;
	}

	v = row_get(t, 14, &isnull);
	if (!isnull)
	{
		int64		layout_id = DatumGetInt64(v);
		LayoutInfo *l = layouts_find(layouts, layout_id);
		bool		img_null;
		bool		salts_null;
		Datum		imgd = row_get(t, 15, &img_null);
		Datum		saltsd = row_get(t, 16, &salts_null);

		if (l == NULL)
		{
			*why = psprintf("the entry refers to layout " INT64_FORMAT ", which notary.layouts does not hold", layout_id);
			return false;
		}
		if (t->pe != NULL)
		{
			img = t->pe->img;
			img.redacted = NULL;	/* read below, as for a single entry */
		}
		else if (img_null)
		{
			*why = "the entry has a layout but no row image";
			return false;
		}
		else
			read_image(imgd, salts_null, saltsd, &img);
		if (img.ncols != l->ncols)
		{
			*why = psprintf("the row image has %d values, its layout %d columns", img.ncols, l->ncols);
			return false;
		}
		v = row_get(t, 19, &isnull);
		if (!isnull)
		{
			img.redacted = DatumGetByteaPP(v);
			if (!redacted_well_formed(img.redacted, &img, e.format_version, why))
				return false;
			redactions_note(r, &e, l, img.redacted);
		}
		if (img.salts != NULL &&
			VARSIZE_ANY_EXHDR(img.salts) != l->npersonal * NOTARY_SALT_LEN)
		{
			*why = "the salts do not fit the layout's personal columns";
			return false;
		}
		format_entry_image(&e, l->digest, &img, l->personal, l->npersonal);
		if (e.format_version == 1)
			format_image_digest(l->digest, &img, l->personal, l->npersonal,
								e.image_digest);
		else
			*sealed = format_image_sealed(&img);
	}
	else
	{
		(void) row_get(t, 15, &isnull);
		if (!isnull)
		{
			*why = "the entry has a row image but no layout";
			return false;
		}
	}


	if (e.op == NULL || e.session_user_name == NULL || e.current_user_name == NULL)
	{
		*why = "a required field is null";
		return false;
	}
	if (*sealed)
		format_entry_seal(stored, prev, &e, out);
	else
		format_entry_hash(prev, &e, out);
	return true;
}


/*
 * A packed REDACT entry's detail as jsonb, or NULL if it is no valid JSON
 * (bytes written into a pack by hand): verify() reports, it does not stop.
 * jsonb_in is run in a subtransaction, since even JSON that parses can
 * fail to convert (a number out of numeric's range).
 */
static Jsonb *
detail_jsonb_quietly(const char *text)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Jsonb	   *volatile j = NULL;
	JsonLexContext *lex;

	if (text == NULL)
		return NULL;
	lex = makeJsonLexContextCstringLen((char *) text, strlen(text), GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		j = NULL;
	}
	PG_END_TRY();
	return j;
}

/* The position up to which a checkpoint covers a chain (0: not at all). */
static int64
since_position(const NotaryCheckpoint *since, int32 chain)
{
	for (int c = 0; c < since->nchains; c++)
		if (since->chains[c].chain_id == chain)
			return since->chains[c].position;
	return 0;
}

/* Callback for checkpoint_verify_stored(): a finding without an entry. */
static void
report_checkpoint(void *arg, const char *problem, const char *detail)
{
	report((Findings *) arg, false, 0, 0, 0, problem, detail);
}

PG_FUNCTION_INFO_V1(notary_verify);

/*
 * SQL: notary.verify(since jsonb DEFAULT NULL)
 *		returns setof (seq, chain_id, chain_pos, problem, detail)
 */
Datum
notary_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Findings	f;
	NotaryUserSwitch sw;
	MemoryContext scratch;
	MemoryContext callcxt = CurrentMemoryContext;
	HTAB	   *layouts;
	HASH_SEQ_STATUS hs;
	LayoutInfo *l;
	LedgerScan *scan;
	const LedgerItem *item;
	bool		in_chain = false;
	int32		cur_chain = 0;
	int64		expected = 1;
	uint8		last_hash[NOTARY_HASH_LEN];
	bool		link_known = false;
	NotaryCheckpoint since;
	bool		has_since = !PG_ARGISNULL(0);
	Redactions	redactions;

	InitMaterializedSRF(fcinfo, 0);
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(RedactionKey);
		ctl.entrysize = sizeof(RedactionItem);
		ctl.hcxt = CurrentMemoryContext;
		redactions.items = hash_create("pg_notary redactions", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		ctl.keysize = sizeof(int64);
		ctl.entrysize = sizeof(SealItem);
		redactions.seals = hash_create("pg_notary seals", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	f.store = rsinfo->setResult;
	f.desc = rsinfo->setDesc;
	f.count = 0;

	scratch = AllocSetContextCreate(CurrentMemoryContext, "pg_notary verify",
									ALLOCSET_DEFAULT_SIZES);

	notary_spi_begin(&sw);

	if (has_since)
		checkpoint_from_jsonb(PG_GETARG_DATUM(0), &since);
	else
		since.nchains = 0;
	checkpoint_verify_stored(report_checkpoint, &f);

	layouts = layouts_load(0, callcxt);
	hash_seq_init(&hs, layouts);
	while ((l = hash_seq_search(&hs)) != NULL)
	{
		if (!l->well_formed)
			report(&f, false, 0, 0, 0, "altered_layout",
				   psprintf("layout " INT64_FORMAT " cannot be hashed: a name or type is missing or their numbers differ",
							l->layout_id));
		else if (!l->digest_ok)
			report(&f, false, 0, 0, 0, "altered_layout",
				   psprintf("layout " INT64_FORMAT " of %s.%s does not match its digest: its names, types or key were changed after it was written",
							l->layout_id, l->schema_name, l->table_name));
	}

	/* The entries in (chain_id, chain_pos) order (ledger_scan.c). */
	scan = ledger_scan_begin(callcxt);
	while ((item = ledger_scan_next(scan)) != NULL)
	{
		LedgerRow	row;
		LedgerRow  *t = &row;

		if (item->why != NULL)
		{
			/*
			 * A pack that does not decode: its positions cannot be checked,
			 * but what comes before it can (a new chain, a gap).
			 */
			if (!in_chain || item->chain != cur_chain)
			{
				in_chain = true;
				cur_chain = item->chain;
				expected = since_position(&since, item->chain) + 1;
			}
			if (item->pos > expected)
				report_pack(&f, item->chain, item->pos, "missing_entry",
							psprintf("positions " INT64_FORMAT " to " INT64_FORMAT " of chain %d, before an unreadable pack, are missing: entries were deleted from the ledger",
									 expected, item->pos - 1, item->chain));
			report_pack(&f, item->chain, item->pos, "malformed_entry",
						psprintf("the pack of chain %d from position " INT64_FORMAT " cannot be read: %s",
								 item->chain, item->pos, item->why));
			/* its own last_pos is all there is to go on; never go backwards */
			expected = Max(Max(item->last, item->pos) + 1, expected);
			link_known = false;
			continue;
		}
		{
			MemoryContext old = MemoryContextSwitchTo(scratch);
			bool		isnull;
			int64		seq;
			int32		chain;
			int64		pos;
			uint8		prev[NOTARY_HASH_LEN];
			uint8		stored[NOTARY_HASH_LEN];
			uint8		computed[NOTARY_HASH_LEN];
			const char *why = NULL;
			bool		shape_ok;
			bool		sealed;

			/* a packed image is hashed from its decoded values, not via text[] */
			ledger_item_values(item, row.v, row.n);
			row.pe = item->pe;
			seq = DatumGetInt64(row_get(t, 1, &isnull));
			chain = DatumGetInt32(row_get(t, 2, &isnull));
			pos = DatumGetInt64(row_get(t, 3, &isnull));

			if (!in_chain || chain != cur_chain)
			{
				in_chain = true;
				cur_chain = chain;
				expected = 1;
				memset(last_hash, 0, NOTARY_HASH_LEN);
				link_known = true;
				for (int c = 0; c < since.nchains; c++)
					if (since.chains[c].chain_id == chain)
					{
						expected = since.chains[c].position + 1;
						memcpy(last_hash, since.chains[c].hash, NOTARY_HASH_LEN);
					}
			}
			if (pos >= 1 && pos < expected && pos <= since_position(&since, chain))
			{
				MemoryContextSwitchTo(old);
				MemoryContextReset(scratch);
				continue;		/* covered by the checkpoint verify() starts from */
			}
			if (pos != expected)
			{
				MemoryContextSwitchTo(callcxt);
				if (pos > expected)
					report(&f, true, seq, chain, pos, "missing_entry",
						   expected == pos - 1 ?
						   psprintf("position " INT64_FORMAT " of chain %d, before this entry, is missing: an entry was deleted from the ledger",
									expected, chain) :
						   psprintf("positions " INT64_FORMAT " to " INT64_FORMAT " of chain %d, before this entry, are missing: entries were deleted from the ledger",
									expected, pos - 1, chain));
				else
					report(&f, true, seq, chain, pos, "malformed_entry",
						   psprintf("position " INT64_FORMAT " is out of order in chain %d", pos, chain));
				MemoryContextSwitchTo(scratch);
				link_known = false;
			}

			shape_ok = get_hash(t, 4, prev) && get_hash(t, 5, stored);
			MemoryContextSwitchTo(callcxt);
			if (!shape_ok)
			{
				report(&f, true, seq, chain, pos, "malformed_entry",
					   "prev_hash or entry_hash is missing or not 32 bytes");
				memset(stored, 0, NOTARY_HASH_LEN);
				if (!get_hash(t, 5, stored))
					link_known = false;
			}
			else
			{
				if (link_known && memcmp(prev, last_hash, NOTARY_HASH_LEN) != 0)
					report(&f, true, seq, chain, pos, "broken_link",
						   pos == 1 ?
						   "the first entry of the chain does not start from the zero hash" :
						   psprintf("the entry does not link to the entry before it (chain %d, position " INT64_FORMAT "): that entry was rewritten with a new hash, or this link was changed",
									chain, pos - 1));
				MemoryContextSwitchTo(scratch);
				if (!recompute_entry(t, layouts, prev, stored, computed, &sealed, &why,
									 &redactions))
				{
					MemoryContextSwitchTo(callcxt);
					report(&f, true, seq, chain, pos, "malformed_entry", why);
				}
				else if (sealed)
				{
					/* checked at the end, against the REDACT entry's seal */
					SealItem   *si;

					MemoryContextSwitchTo(callcxt);
					si = seal_item(&redactions, seq);
					si->sealed = true;
					memcpy(si->computed, computed, NOTARY_HASH_LEN);
					si->chain_id = chain;
					si->chain_pos = pos;
				}
				else if (memcmp(computed, stored, NOTARY_HASH_LEN) != 0)
				{
					MemoryContextSwitchTo(callcxt);
					report(&f, true, seq, chain, pos, "altered_entry",
						   "the entry's content does not match its hash: it was changed after it was written");
				}
				link_known = true;
			}
			{
				char	   *op = get_text(t, 6);
				Datum		dj = row_get(t, 18, &isnull);

				if (op != NULL && strcmp(op, NOTARY_OP_REDACT) == 0 && t->pe != NULL)
				{
					/* a packed detail is text, and need not even be JSON */
					Jsonb	   *j = detail_jsonb_quietly(t->pe->e.detail);

					MemoryContextSwitchTo(callcxt);
					if (j != NULL)
						redactions_record(&redactions, seq, j);
				}
				else if (op != NULL && strcmp(op, NOTARY_OP_REDACT) == 0 && !isnull)
				{
					MemoryContextSwitchTo(callcxt);
					redactions_record(&redactions, seq, DatumGetJsonbP(dj));
				}
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);

			memcpy(last_hash, stored, NOTARY_HASH_LEN);
			expected = pos + 1;
		}
		CHECK_FOR_INTERRUPTS();
	}
	ledger_scan_end(scan);
	notary_spi_end(&sw);

	{
		HASH_SEQ_STATUS rs;
		RedactionItem *ri;

		hash_seq_init(&rs, redactions.items);
		while ((ri = hash_seq_search(&rs)) != NULL)
			if (ri->erased && ri->recorded_by == 0)
			{
				SealItem   *si = hash_search(redactions.seals, &ri->key.seq, HASH_FIND, NULL);

				report(&f, true, ri->key.seq, ri->chain_id, ri->chain_pos, "forged_redaction",
					   psprintf("column \"%s\" of this entry was erased, but no REDACT entry records it: a value was changed or erased by hand",
								ri->key.column));
				if (si != NULL)
					si->forged_column = true;
			}
	}
	{
		HASH_SEQ_STATUS ss;
		SealItem   *si;

		hash_seq_init(&ss, redactions.seals);
		while ((si = hash_seq_search(&ss)) != NULL)
		{
			if (!si->sealed)
				continue;
			if (si->recorded_by == 0)
			{
				/* one finding per entry erased by hand */
				if (!si->forged_column)
					report(&f, true, si->seq, si->chain_id, si->chain_pos, "forged_redaction",
						   "the entry has sealed columns, but no REDACT entry records its seal: a value was erased by hand");
			}
			else if (!si->recorded_ok ||
					 memcmp(si->computed, si->recorded, NOTARY_HASH_LEN) != 0)
				report(&f, true, si->seq, si->chain_id, si->chain_pos, "altered_entry",
					   psprintf("the entry does not match the seal that REDACT entry " INT64_FORMAT " recorded for it: it was changed after it was sealed",
								si->recorded_by));
		}
	}
	MemoryContextDelete(scratch);
	return (Datum) 0;
}
