/*-------------------------------------------------------------------------
 *
 * redaction.c
 *		Personal data in the ledger: notary.classify(), notary.redact() and
 *		notary.redact_subject().
 *
 * A column classified identifier, quasi_identifier or sensitive holds
 * personal data: from then on every image stores it with a fresh 16-byte
 * salt inside its commitment (format.c).  A redaction erases the value and
 * its salt from every ledger entry of a row's history and keeps the
 * commitment in the entry's `redacted` field, so every hash still holds
 * and verification keeps working, while the commitment left behind cannot
 * be matched by guessing the value.  Each redaction appends a REDACT entry
 * naming the entries and columns (never the values); verify() reports any
 * erased column that no REDACT entry records.
 *
 * The ledger refuses UPDATE through SQL; a redaction rewrites the entries
 * through the heap directly (CatalogTupleUpdate), as the extension's
 * owner, after locking them FOR UPDATE.  The old row versions stay in the
 * table's file until VACUUM FULL rewrites it, and in WAL and backups until
 * those expire (docs/redaction.md).
 *
 *-------------------------------------------------------------------------
 */
#include "pack.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"


/* list_sort comparator of seqs held as decimal text */
static int
compare_seq_text(const ListCell *a, const ListCell *b)
{
	int64		x = pg_strtoint64((char *) lfirst(a));
	int64		y = pg_strtoint64((char *) lfirst(b));

	return x < y ? -1 : (x > y ? 1 : 0);
}

static const char *const classes[] = {"identifier", "quasi_identifier", "sensitive", "public"};

static char *
table_name_of(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static void
check_reason(const char *reason)
{
	const char *p;

	for (p = reason; *p; p++)
		if (!isspace((unsigned char) *p))
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a redaction needs a reason"),
			 errdetail("The reason is recorded in the ledger with the redaction; it must not contain the erased data.")));
}

/*
 * The class of a column in notary.columns, or NULL if unclassified: the one
 * classification that redaction and publication share.  (SPI connected.)
 */
char *
classification_of(int32 table_id, const char *column)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];

	args[0] = Int32GetDatum(table_id);
	args[1] = CStringGetTextDatum(column);
	if (SPI_execute_with_args("SELECT class FROM notary.columns WHERE table_id OPERATOR(pg_catalog.=) $1 "
							  "AND column_name OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.columns");
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static void
json_string_list(StringInfo sb, List *strings)
{
	ListCell   *lc;

	appendStringInfoChar(sb, '[');
	foreach(lc, strings)
	{
		if (lc != list_head(strings))
			appendStringInfoString(sb, ", ");
		escape_json(sb, (char *) lfirst(lc));
	}
	appendStringInfoChar(sb, ']');
}

PG_FUNCTION_INFO_V1(notary_classify);

/* SQL: notary.classify(tbl regclass, column_name name, class text) */
Datum
notary_classify(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *column = NameStr(*PG_GETARG_NAME(1));
	char	   *class = text_to_cstring(PG_GETARG_TEXT_PP(2));
	NotaryUserSwitch sw;
	int32		table_id;
	char	   *old_class;
	Oid			argtypes[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];
	Relation	rel;
	RelInfo    *ri;
	uint8		before[NOTARY_HASH_LEN];
	StringInfoData sb;
	int			i;
	bool		known = false;

	for (i = 0; i < lengthof(classes); i++)
		if (strcmp(class, classes[i]) == 0)
			known = true;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown column class \"%s\"", class),
				 errhint("Use identifier, quasi_identifier, sensitive (personal data) or public.")));
	if (get_attnum(relid, column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s does not exist", column, table_name_of(relid))));

	/* writers wait while the classification and its baseline change */
	rel = table_open(relid, ShareRowExclusiveLock);
	ri = relinfo_get(rel);
	memcpy(before, ri->layout_digest, NOTARY_HASH_LEN);

	notary_spi_begin(&sw);
	table_id = read_enrolled_table_id(relid);
	old_class = classification_of(table_id, column);
	if (old_class != NULL && strcmp(old_class, class) == 0)
	{
		notary_spi_end(&sw);
		table_close(rel, NoLock);
		PG_RETURN_VOID();
	}
	args[0] = Int32GetDatum(table_id);
	args[1] = CStringGetTextDatum(column);
	args[2] = CStringGetTextDatum(class);
	if (SPI_execute_with_args("INSERT INTO notary.columns AS c (table_id, column_name, class, "
							  "classified_at, classified_by) VALUES ($1, $2, $3, pg_catalog.now(), SESSION_USER) "
							  "ON CONFLICT (table_id, column_name) DO UPDATE SET class = EXCLUDED.class, "
							  "classified_at = EXCLUDED.classified_at, classified_by = EXCLUDED.classified_by",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the classification");
	notary_spi_end(&sw);

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"column\": ");
	escape_json(&sb, column);
	appendStringInfoString(&sb, ", \"class\": ");
	escape_json(&sb, class);
	if (old_class != NULL)
	{
		appendStringInfoString(&sb, ", \"was\": ");
		escape_json(&sb, old_class);
	}
	appendStringInfoChar(&sb, '}');
	ledger_append_event(NOTARY_OP_CLASSIFY, true, table_id, sb.data);

	/* other backends rebuild at commit; this one now */
	CacheInvalidateRelcacheByRelid(relid);
	relinfo_forget(relid);
	ri = relinfo_get(rel);
	if (memcmp(before, ri->layout_digest, NOTARY_HASH_LEN) != 0)
	{
		(void) capture_baseline(rel, "classification");
		ri = relinfo_get(rel);
		enroll_note_layout(ri->table_id, ri->layout_digest, true);
	}
	table_close(rel, NoLock);
	PG_RETURN_VOID();
}

/*
 * Erase the named columns from one image (of layout l) of an entry of the
 * given format: value and salt go, and a record joins img->redacted
 * (ascending positions): the column's commitment, or, for a format-2
 * column that was hashed as it is (not personal when written), a sealed
 * record (docs/format.md, "Sealed columns"), after which the caller must
 * record the entry's seal.  Returns the number of values erased; img's
 * values, salts and redacted are replaced when it is not 0.
 */
static int64
erase_in_image(const LayoutInfo *l, NotaryImage *img, int format_version,
			   List *columns)
{
	StringInfoData red;
	ListCell   *lc;
	int			p;
	int			personal_rank;
	int64		erased = 0;
	uint8	   *salts = NULL;
	int			nsalts = 0;

	if (img->ncols != l->ncols)
		return 0;
	if (img->salts != NULL)
	{
		nsalts = VARSIZE_ANY_EXHDR(img->salts) / NOTARY_SALT_LEN;
		salts = palloc(VARSIZE_ANY_EXHDR(img->salts));
		memcpy(salts, VARDATA_ANY(img->salts), VARSIZE_ANY_EXHDR(img->salts));
	}

	/* the (position, commitment) records, old and new, ascending */
	initStringInfo(&red);
	for (p = 0, personal_rank = 0; p < l->ncols; p++)
	{
		const uint8 *kept = format_redacted_record(img, p);
		bool		personal = (personal_rank < l->npersonal && l->personal[personal_rank] == p);
		bool		wanted = false;
		uint8		commit[NOTARY_HASH_LEN];
		uint8		pos[2] = {(uint8) (p >> 8), (uint8) p};

		foreach(lc, columns)
			if (strcmp((char *) lfirst(lc), l->names[p]) == 0)
				wanted = true;
		if (kept != NULL)
			appendBinaryStringInfo(&red, (const char *) kept, NOTARY_REDACTED_LEN);
		else if (wanted && img->values[p] != NULL)
		{
			const uint8 *salt = NULL;

			if (personal && personal_rank < nsalts)
				salt = salts + personal_rank * NOTARY_SALT_LEN;
			if (format_version == 2 && !personal)
			{
				/* hashed as it is: nothing can stand in for it */
				pos[0] |= (uint8) (NOTARY_SEALED_FLAG >> 8);
				memset(commit, 0, NOTARY_HASH_LEN);
			}
			else
				format_column_commitment(img->values[p], salt, salt ? NOTARY_SALT_LEN : 0, commit);
			appendBinaryStringInfo(&red, (char *) pos, 2);
			appendBinaryStringInfo(&red, (const char *) commit, NOTARY_HASH_LEN);
			img->values[p] = NULL;
			if (salt != NULL)
				memset(salts + personal_rank * NOTARY_SALT_LEN, 0, NOTARY_SALT_LEN);
			erased++;
		}
		if (personal)
			personal_rank++;
	}
	if (erased == 0)
		return 0;
	if (salts != NULL)
	{
		bytea	   *b = palloc(VARHDRSZ + nsalts * NOTARY_SALT_LEN);

		SET_VARSIZE(b, VARHDRSZ + nsalts * NOTARY_SALT_LEN);
		memcpy(VARDATA(b), salts, nsalts * NOTARY_SALT_LEN);
		img->salts = b;
	}
	{
		bytea	   *b = palloc(VARHDRSZ + red.len);

		SET_VARSIZE(b, VARHDRSZ + red.len);
		memcpy(VARDATA(b), red.data, red.len);
		img->redacted = b;
	}
	return erased;
}

/*
 * If the entry (its hashed fields e, its image img under layout l, as they
 * are stored now) has sealed columns, add its seal to *sealed, as the text
 * "<seq>": "<hex>" of the REDACT entry's "sealed" object.
 */
static void
note_seal(const LayoutInfo *l, NotaryEntry *e, const NotaryImage *img,
		  const uint8 *prev, const uint8 *stored, List **sealed)
{
	uint8		seal[NOTARY_HASH_LEN];

	if (e->format_version != 2 || !format_image_sealed(img))
		return;
	format_entry_image(e, l->digest, img, l->personal, l->npersonal);
	format_entry_seal(stored, prev, e, seal);
	*sealed = lappend(*sealed, psprintf("\"" INT64_FORMAT "\": \"%s\"",
										e->seq, format_hex(seal, NOTARY_HASH_LEN)));
}

/*
 * The seals recorded so far for entries of one table: for each sealed seq,
 * the newest REDACT entry naming it and the seal it recorded.
 */
typedef struct RecordedSeal
{
	int64		seq;			/* hash key */
	int64		redact_seq;
	char	   *hex;
} RecordedSeal;

static HTAB *
recorded_seals_load(int32 table_id)
{
	HASHCTL		ctl;
	HTAB	   *h;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(RecordedSeal);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("pg_notary recorded seals", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (notary_catalog()->max_format < 2)
		return h;
	args[0] = Int32GetDatum(table_id);
	if (SPI_execute_with_args("SELECT r.seq, s.key, s.value FROM ("
							  "SELECT seq, detail FROM notary.ledger_entries "
							  " WHERE table_id OPERATOR(pg_catalog.=) $1 AND op OPERATOR(pg_catalog.=) 'REDACT' "
							  "UNION ALL SELECT seq, detail FROM notary.ledger_rows($1) "
							  " WHERE op OPERATOR(pg_catalog.=) 'REDACT') r, "
							  "LATERAL pg_catalog.jsonb_each_text(CASE WHEN pg_catalog.jsonb_typeof(r.detail->'sealed') OPERATOR(pg_catalog.=) 'object' "
							  "THEN r.detail->'sealed' ELSE '{}'::pg_catalog.jsonb END) s ORDER BY r.seq",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the seals recorded so far");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		rseq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		char	   *key = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *val = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		int64		seq;
		bool		found;
		RecordedSeal *rs;

		if (!format_seal_key(key, &seq) || seq >= rseq)
			continue;
		rs = hash_search(h, &seq, HASH_ENTER, &found);
		rs->redact_seq = rseq;	/* ascending: the newest wins */
		rs->hex = val;
	}
	return h;
}

/*
 * Refuse to redact (and so to seal) a format-2 entry whose content no
 * longer matches its hash, or, when sealed already, its newest seal: a
 * seal over changed content would make verify() accept the change.
 */
static void
check_entry_intact(const LayoutInfo *l, NotaryEntry *e, const NotaryImage *img,
				   const uint8 *prev, const uint8 *stored, HTAB *seals)
{
	uint8		h[NOTARY_HASH_LEN];
	bool		ok;

	if (e->format_version != 2)
		return;					/* format 1 stays checkable after erasure */
	format_entry_image(e, l->digest, img, l->personal, l->npersonal);
	if (prev == NULL || stored == NULL)
		ok = false;
	else if (!format_image_sealed(img))
	{
		format_entry_hash(prev, e, h);
		ok = memcmp(h, stored, NOTARY_HASH_LEN) == 0;
	}
	else
	{
		bool		found;
		RecordedSeal *rs = hash_search(seals, &e->seq, HASH_FIND, &found);

		format_entry_seal(stored, prev, e, h);
		ok = found && rs->hex != NULL && strcmp(rs->hex, format_hex(h, NOTARY_HASH_LEN)) == 0;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ledger entry " INT64_FORMAT " does not match its hash or seal: it was changed after it was written", e->seq),
				 errhint("Run notary.verify(); a redaction would seal the changed entry and hide the change.")));
}

/* Erase in the single entries (notary.ledger_entries). */
static int64
erase_in_entries(HTAB *layouts, int32 table_id, ArrayType *seqs, List *columns,
				 List **affected, List **sealed, HTAB *seals)
{
	Oid			argtypes[2] = {INT4OID, INT8ARRAYOID};
	Datum		args[2];
	SPITupleTable *tt;
	uint64		n;
	uint64		i;
	int64		erased = 0;
	Relation	ledger = table_open(notary_catalog()->entries_oid, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(ledger);

	args[0] = Int32GetDatum(table_id);
	args[1] = PointerGetDatum(seqs);
	if (SPI_execute_with_args(psprintf("SELECT ctid, seq, layout_id FROM notary.%s "
									   "WHERE table_id OPERATOR(pg_catalog.=) $1 "
									   "AND seq OPERATOR(pg_catalog.=) ANY ($2) AND row_image IS NOT NULL "
									   "ORDER BY seq FOR UPDATE",
									   OidIsValid(notary_catalog()->packs_oid) ? "ledger_entries" : "ledger"),
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the ledger entries to redact");
	tt = SPI_tuptable;
	n = SPI_processed;

	for (i = 0; i < n; i++)
	{
		bool		isnull;
		ItemPointer tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		int64		seq = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
		LayoutInfo *l = layouts_find(layouts, DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull)));
		HeapTupleData tup;
		HeapTuple	copy;
		Buffer		buf;
		Datum		values[LEDGER_NATTS];
		bool		nulls[LEDGER_NATTS];
		bool		replace[LEDGER_NATTS];
		bool		repl_nulls[LEDGER_NATTS];
		NotaryImage img;
		NotaryEntry e;
		int64		here;

		if (l == NULL || !l->well_formed)
			continue;			/* verify() reports it */
		tup.t_self = *tid;
		if (!heap_fetch(ledger, SnapshotSelf, &tup, &buf, false))
			continue;
		copy = heap_copytuple(&tup);
		ReleaseBuffer(buf);
		heap_deform_tuple(copy, desc, values, nulls);
		if (desc->natts < LEDGER_ATT_FORMAT)
		{
			/* before 0.4 every entry is format 1 */
			values[LEDGER_ATT_FORMAT - 1] = Int16GetDatum(1);
			nulls[LEDGER_ATT_FORMAT - 1] = false;
		}
		read_image(values[LEDGER_ATT_ROW_IMAGE - 1], nulls[LEDGER_ATT_ROW_SALTS - 1],
				   values[LEDGER_ATT_ROW_SALTS - 1], &img);
		if (!nulls[LEDGER_ATT_REDACTED - 1])
			img.redacted = DatumGetByteaPP(values[LEDGER_ATT_REDACTED - 1]);
		if (!ledger_entry_from_values(values, nulls, &e))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("ledger entry " INT64_FORMAT " is damaged: its old_digest is not 32 bytes", e.seq),
					 errhint("Run notary.verify().")));
		check_entry_intact(l, &e, &img,
						   (!nulls[3] && VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[3])) == NOTARY_HASH_LEN) ?
						   (const uint8 *) VARDATA_ANY(DatumGetByteaPP(values[3])) : NULL,
						   (!nulls[4] && VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[4])) == NOTARY_HASH_LEN) ?
						   (const uint8 *) VARDATA_ANY(DatumGetByteaPP(values[4])) : NULL,
						   seals);
		here = erase_in_image(l, &img, e.format_version, columns);
		if (here == 0)
			continue;
		erased += here;
		if (!nulls[3] && !nulls[4] &&
			VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[3])) == NOTARY_HASH_LEN &&
			VARSIZE_ANY_EXHDR(DatumGetByteaPP(values[4])) == NOTARY_HASH_LEN)
			note_seal(l, &e, &img,
					  (const uint8 *) VARDATA_ANY(DatumGetByteaPP(values[3])),
					  (const uint8 *) VARDATA_ANY(DatumGetByteaPP(values[4])), sealed);

		memset(replace, false, sizeof(replace));
		{
			Datum	   *d = palloc(sizeof(Datum) * Max(img.ncols, 1));
			bool	   *dn = palloc(sizeof(bool) * Max(img.ncols, 1));
			int			dims[1] = {img.ncols};
			int			lbs[1] = {1};
			int			k;

			for (k = 0; k < img.ncols; k++)
			{
				dn[k] = (img.values[k] == NULL);
				d[k] = dn[k] ? (Datum) 0 : CStringGetTextDatum(img.values[k]);
			}
			values[LEDGER_ATT_ROW_IMAGE - 1] =
				PointerGetDatum(construct_md_array(d, dn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
			replace[LEDGER_ATT_ROW_IMAGE - 1] = true;
		}
		if (img.salts != NULL)
		{
			values[LEDGER_ATT_ROW_SALTS - 1] = PointerGetDatum(img.salts);
			replace[LEDGER_ATT_ROW_SALTS - 1] = true;
		}
		values[LEDGER_ATT_REDACTED - 1] = PointerGetDatum(img.redacted);
		nulls[LEDGER_ATT_REDACTED - 1] = false;
		replace[LEDGER_ATT_REDACTED - 1] = true;
		for (int k = 0; k < LEDGER_NATTS; k++)
			repl_nulls[k] = replace[k] ? nulls[k] : false;
		CatalogTupleUpdate(ledger, &copy->t_self,
						   heap_modify_tuple(copy, desc, values, repl_nulls, replace));
		*affected = lappend(*affected, psprintf(INT64_FORMAT, seq));
	}
	table_close(ledger, NoLock);
	CommandCounterIncrement();
	return erased;
}

/*
 * Erase in the packed entries (notary.ledger_packs): each pack holding a
 * target is locked, decoded, changed and written back whole.
 */
static int64
erase_in_packs(HTAB *layouts, int32 table_id, ArrayType *seqs, List *columns,
			   List **affected, List **sealed, HTAB *seals)
{
	Oid			argtypes[2] = {INT4OID, INT8ARRAYOID};
	Datum		args[2];
	uint64		ntargets;
	uint64		i;
	int64		erased = 0;
	int32	   *chains;
	int64	   *positions;
	Relation	packs = table_open(notary_catalog()->packs_oid, RowExclusiveLock);
	TupleDesc	desc = RelationGetDescr(packs);

	args[0] = Int32GetDatum(table_id);
	args[1] = PointerGetDatum(seqs);

	/*
	 * Not read-only: erase_columns() has just stored this transaction's
	 * pending pack, in the current command; a read-only query would run
	 * under the statement's snapshot and not see it.
	 */
	if (SPI_execute_with_args("SELECT chain_id, chain_pos FROM notary.ledger_rows($1) "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1 "
							  "AND seq OPERATOR(pg_catalog.=) ANY ($2) AND row_image IS NOT NULL "
							  "ORDER BY seq",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not find the packed ledger entries to redact");
	ntargets = SPI_processed;
	chains = palloc(sizeof(int32) * Max(ntargets, 1));
	positions = palloc(sizeof(int64) * Max(ntargets, 1));
	for (i = 0; i < ntargets; i++)
	{
		bool		isnull;

		chains[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		positions[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}

	for (i = 0; i < ntargets; i++)
	{
		Oid			ptypes[2] = {INT4OID, INT8OID};
		Datum		pargs[2];
		bool		isnull;
		ItemPointerData tid;
		HeapTupleData tup;
		HeapTuple	copy;
		Buffer		buf;
		Datum		values[PACKS_NATTS];
		bool		nulls[PACKS_NATTS];
		bool		replace[PACKS_NATTS] = {false, false, false, false, true};
		PackedEntry *es;
		const char *why;
		int			n;
		int			k;
		int64		first;
		int64		last;
		LayoutInfo *l;
		int64		here;

		pargs[0] = Int32GetDatum(chains[i]);
		pargs[1] = Int64GetDatum(positions[i]);
		if (SPI_execute_with_args("SELECT ctid FROM notary.ledger_packs "
								  "WHERE chain_id OPERATOR(pg_catalog.=) $1 "
								  "AND first_pos OPERATOR(pg_catalog.<=) $2 "
								  "AND last_pos OPERATOR(pg_catalog.>=) $2 FOR UPDATE",
								  2, ptypes, pargs, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not lock the ledger pack to redact");
		if (SPI_processed != 1)
			continue;			/* verify() reports a damaged ledger */
		tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		tup.t_self = tid;
		if (!heap_fetch(packs, SnapshotSelf, &tup, &buf, false))
			continue;
		copy = heap_copytuple(&tup);
		ReleaseBuffer(buf);
		heap_deform_tuple(copy, desc, values, nulls);
		/* with the pack's xid, which a seal covers */
		n = pack_decode_row(values, nulls, &es, &last, &why);
		first = DatumGetInt64(values[PACKS_ATT_FIRST_POS - 1]);
		k = (int) (positions[i] - first);
		if (n < 0 || k < 0 || k >= n || !es[k].e.has_image)
			continue;			/* verify() reports it */
		l = layouts_find(layouts, es[k].e.layout_id);
		if (l == NULL || !l->well_formed)
			continue;
		check_entry_intact(l, &es[k].e, &es[k].img, es[k].prev_hash, es[k].entry_hash, seals);
		here = erase_in_image(l, &es[k].img, es[k].e.format_version, columns);
		if (here == 0)
			continue;
		erased += here;
		note_seal(l, &es[k].e, &es[k].img, es[k].prev_hash, es[k].entry_hash, sealed);
		values[PACKS_ATT_ENTRIES - 1] = PointerGetDatum(pack_encode(es, n));
		CatalogTupleUpdate(packs, &copy->t_self,
						   heap_modify_tuple(copy, desc, values, nulls, replace));
		CommandCounterIncrement();
		*affected = lappend(*affected, psprintf(INT64_FORMAT, es[k].e.seq));
	}
	table_close(packs, NoLock);
	return erased;
}

/*
 * Erase the named columns from the given entries of one table, wherever
 * they are stored.  Returns the number of values erased; *affected gets
 * the seqs of the entries changed, ascending.  (SPI connected, as owner.)
 */
static int64
erase_columns(int32 table_id, ArrayType *seqs, List *columns, List **affected,
			  List **sealed)
{
	HTAB	   *layouts = layouts_load(table_id, CurrentMemoryContext);
	List	   *from_entries = NIL;
	List	   *from_packs = NIL;
	int64		erased;
	HTAB	   *seals;
	const char *body;
	int			len;
	int32		chain;
	int64		first;
	uint64		xid;

	/* this transaction's entries are redacted too: store them first */
	ledger_flush();
	if (ledger_pending(&body, &len, &chain, &first, &xid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot redact while this transaction holds ledger entries of an enclosing subtransaction not stored yet"),
				 errhint("Run the redaction in a statement of its own, outside the exception block.")));
	*affected = NIL;
	*sealed = NIL;
	seals = recorded_seals_load(table_id);
	erased = erase_in_entries(layouts, table_id, seqs, columns, &from_entries, sealed, seals);
	if (OidIsValid(notary_catalog()->packs_oid))
		erased += erase_in_packs(layouts, table_id, seqs, columns, &from_packs, sealed, seals);
	*affected = list_concat(from_entries, from_packs);
	list_sort(*affected, compare_seq_text);
	return erased;
}

/*
 * Append the REDACT entry that records a redaction, with the seals of the
 * entries it sealed ("<seq>": "<hex>" texts).
 */
static void
record_redaction(int32 table_id, List *columns, List *affected, List *sealed,
				 const char *reason)
{
	StringInfoData sb;
	ListCell   *lc;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"columns\": ");
	json_string_list(&sb, columns);
	appendStringInfoString(&sb, ", \"entries\": [");
	foreach(lc, affected)
	{
		if (lc != list_head(affected))
			appendStringInfoString(&sb, ", ");
		appendStringInfoString(&sb, (char *) lfirst(lc));
	}
	appendStringInfoString(&sb, "], \"reason\": ");
	escape_json(&sb, reason);
	if (sealed != NIL)
	{
		appendStringInfoString(&sb, ", \"sealed\": {");
		foreach(lc, sealed)
		{
			if (lc != list_head(sealed))
				appendStringInfoString(&sb, ", ");
			appendStringInfoString(&sb, (char *) lfirst(lc));
		}
		appendStringInfoChar(&sb, '}');
	}
	appendStringInfoChar(&sb, '}');
	ledger_append_event(NOTARY_OP_REDACT, true, table_id, sb.data);
}

/* The personal columns (currently classified) among names, checked. */
static void
check_personal_columns(Oid relid, int32 table_id, List *columns)
{
	ListCell   *lc;

	if (columns == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no column to redact was given")));
	foreach(lc, columns)
	{
		char	   *c = (char *) lfirst(lc);
		char	   *class;

		if (get_attnum(relid, c) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of table %s does not exist", c, table_name_of(relid))));
		class = classification_of(table_id, c);
		if (class == NULL || strcmp(class, "public") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of table %s is not classified as personal data",
							c, table_name_of(relid)),
					 errhint("Only columns classified identifier, quasi_identifier or sensitive with notary.classify() can be redacted.")));
	}
}

/* The seqs of every entry of one row's history (notary.history's view). */
static ArrayType *
row_entries(Oid relid, ArrayType *key)
{
	Oid			argtypes[2] = {REGCLASSOID, TEXTARRAYOID};
	Datum		args[2];
	Datum	   *seqs;
	uint64		i;

	args[0] = ObjectIdGetDatum(relid);
	args[1] = PointerGetDatum(key);
	if (SPI_execute_with_args("SELECT seq FROM notary.history($1, VARIADIC $2)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the row's history");
	seqs = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		seqs[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
	}
	return construct_array(seqs, (int) SPI_processed, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static List *
name_array_list(ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	List	   *l = NIL;

	deconstruct_array(arr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column names to redact must not be null")));
		l = list_append_unique_ptr(l, pstrdup(NameStr(*DatumGetName(elems[i]))));
	}
	return l;
}

/*
 * A list of strings copied into cxt: what SPI's memory holds is freed at
 * notary_spi_end(), and the REDACT entry is written after it.
 */
static List *
copy_strings(List *l, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, l)
		out = lappend(out, pstrdup((char *) lfirst(lc)));
	MemoryContextSwitchTo(old);
	return out;
}

PG_FUNCTION_INFO_V1(notary_redact);

/* SQL: notary.redact(tbl regclass, key text[], columns name[], reason text) */
Datum
notary_redact(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *key = PG_GETARG_ARRAYTYPE_P(1);
	List	   *columns = name_array_list(PG_GETARG_ARRAYTYPE_P(2));
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(3));
	NotaryUserSwitch sw;
	int32		table_id;
	ArrayType  *seqs;
	List	   *affected;
	List	   *sealed;
	int64		erased;
	MemoryContext callcxt = CurrentMemoryContext;

	check_reason(reason);

	/*
	 * Wait for writers of the table that are still open (their entries must
	 * be erased too) and keep new ones out until this redaction commits.
	 */
	LockRelationOid(relid, ShareRowExclusiveLock);
	notary_spi_begin(&sw);
	table_id = read_enrolled_table_id(relid);
	check_personal_columns(relid, table_id, columns);
	seqs = row_entries(relid, key);
	if (ArrayGetNItems(ARR_NDIM(seqs), ARR_DIMS(seqs)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the ledger holds no history of that row of %s", table_name_of(relid))));
	erased = erase_columns(table_id, seqs, columns, &affected, &sealed);
	affected = copy_strings(affected, callcxt);
	sealed = copy_strings(sealed, callcxt);
	notary_spi_end(&sw);
	if (erased == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nothing to redact: those columns of that row are already redacted or empty")));
	record_redaction(table_id, columns, affected, sealed, reason);
	PG_RETURN_INT32((int32) erased);
}

/* A redaction done for one table, to be recorded. */
typedef struct RedactionRecord
{
	int32		table_id;
	List	   *columns;
	List	   *affected;
	List	   *sealed;		/* "<seq>": "<seal>" texts */
} RedactionRecord;

/* A growing array of seqs. */
typedef struct SeqSet
{
	Datum	   *d;
	int			n;
	int			max;
} SeqSet;

static void
seqset_add(SeqSet *s, Datum seq)
{
	if (s->n == s->max)
	{
		s->max = s->max ? s->max * 2 : 64;
		s->d = s->d ? repalloc(s->d, sizeof(Datum) * s->max) : palloc(sizeof(Datum) * s->max);
	}
	s->d[s->n++] = seq;
}

PG_FUNCTION_INFO_V1(notary_redact_subject);

/* SQL: notary.redact_subject(column_name name, value text, reason text) */
Datum
notary_redact_subject(PG_FUNCTION_ARGS)
{
	char	   *column = NameStr(*PG_GETARG_NAME(0));
	char	   *value = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	NotaryUserSwitch sw;
	Oid			argtypes[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		args[3];
	SPITupleTable *tables;
	uint64		ntables;
	uint64		i;
	int64		total = 0;
	bool		any_entry = false;
	List	   *records = NIL;	/* RedactionRecord * */
	ListCell   *lc;
	MemoryContext callcxt = CurrentMemoryContext;

	check_reason(reason);
	notary_spi_begin(&sw);
	args[0] = CStringGetTextDatum(column);
	if (SPI_execute_with_args("SELECT t.table_id, t.relid::pg_catalog.oid FROM notary.columns c "
							  "JOIN notary.tables t USING (table_id) "
							  "WHERE c.column_name OPERATOR(pg_catalog.=) $1 "
							  "AND c.class OPERATOR(pg_catalog.=) 'identifier' AND t.relid IS NOT NULL "
							  "ORDER BY t.table_id",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.columns");
	tables = SPI_tuptable;
	ntables = SPI_processed;
	if (ntables == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no enrolled table has an identifier column named \"%s\"", column),
				 errhint("Classify the column with notary.classify(table, column, 'identifier').")));

	for (i = 0; i < ntables; i++)
	{
		bool		isnull;
		int32		table_id = DatumGetInt32(SPI_getbinval(tables->vals[i], tables->tupdesc, 1, &isnull));
		Oid			relid = DatumGetObjectId(SPI_getbinval(tables->vals[i], tables->tupdesc, 2, &isnull));
		AttrNumber	att = get_attnum(relid, column);
		Oid			typid;
		int32		typmod;
		Oid			collid;
		Oid			input;
		Oid			ioparam;
		char	   *canonical;
		List	   *personal = NIL;
		SeqSet		seqset = {NULL, 0, 0};
		SPITupleTable *tt;
		uint64		n;
		uint64		k;
		List	   *affected;
		List	   *sealed;
		int64		erased;

		if (att == InvalidAttrNumber)
			continue;
		LockRelationOid(relid, ShareRowExclusiveLock);	/* as in redact() */
		get_atttypetypmodcoll(relid, att, &typid, &typmod, &collid);
		getTypeInputInfo(typid, &input, &ioparam);
		canonical = canon_text_of_type(typid, OidInputFunctionCall(input, value, ioparam, typmod));

		/* every personal column of the table is erased for the subject */
		args[1] = Int32GetDatum(table_id);
		if (SPI_execute_with_args("SELECT column_name FROM notary.columns "
								  "WHERE table_id OPERATOR(pg_catalog.=) $2 AND class OPERATOR(pg_catalog.<>) 'public' "
								  "ORDER BY column_name",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read notary.columns");
		for (k = 0; k < SPI_processed; k++)
			personal = lappend(personal, SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1));

		/* the entries that hold the subject, and their rows' whole history */
		args[2] = CStringGetTextDatum(canonical);
		if (SPI_execute_with_args(psprintf("SELECT l.seq, (SELECT pg_catalog.array_agg(l.row_image[k] ORDER BY o) "
										   "FROM pg_catalog.unnest(y.key_columns) WITH ORDINALITY AS u(k, o)) "
										   "FROM %s JOIN notary.layouts y USING (layout_id) "
										   "WHERE l.table_id OPERATOR(pg_catalog.=) $2 "
										   "AND l.row_image[pg_catalog.array_position(y.column_names, $1)] OPERATOR(pg_catalog.=) $3",
										   ledger_of_table_sql("$2")),
								  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not search the ledger");
		tt = SPI_tuptable;
		n = SPI_processed;
		for (k = 0; k < n; k++)
		{
			bool		key_null;
			Datum		keyd = SPI_getbinval(tt->vals[k], tt->tupdesc, 2, &key_null);

			seqset_add(&seqset, SPI_getbinval(tt->vals[k], tt->tupdesc, 1, &isnull));
			if (!key_null)
			{
				ArrayType  *keyarr = DatumGetArrayTypeP(keyd);
				ArrayType  *more;
				Datum	   *md;
				bool	   *mn;
				int			mcount;
				int			m;

				if (ArrayGetNItems(ARR_NDIM(keyarr), ARR_DIMS(keyarr)) == 0 ||
					array_contains_nulls(keyarr))
					continue;
				more = row_entries(relid, keyarr);
				deconstruct_array(more, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &md, &mn, &mcount);
				for (m = 0; m < mcount; m++)
					seqset_add(&seqset, md[m]);
			}
		}
		if (seqset.n == 0)
			continue;
		any_entry = true;
		erased = erase_columns(table_id,
							   construct_array(seqset.d, seqset.n, INT8OID, 8,
											   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE),
							   personal, &affected, &sealed);
		if (erased > 0)
		{
			/* kept past notary_spi_end(), which frees SPI's memory */
			RedactionRecord *r = MemoryContextAlloc(callcxt, sizeof(RedactionRecord));
			MemoryContext old = MemoryContextSwitchTo(callcxt);

			r->table_id = table_id;
			r->columns = copy_strings(personal, callcxt);
			r->affected = copy_strings(affected, callcxt);
			r->sealed = copy_strings(sealed, callcxt);
			records = lappend(records, r);
			MemoryContextSwitchTo(old);
			total += erased;
		}
	}
	notary_spi_end(&sw);

	if (!any_entry)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no ledger entry holds that value of \"%s\"", column)));
	if (total == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nothing to redact: that data subject is already redacted")));
	foreach(lc, records)
	{
		RedactionRecord *r = (RedactionRecord *) lfirst(lc);

		record_redaction(r->table_id, r->columns, r->affected, r->sealed, reason);
	}
	PG_RETURN_INT32((int32) total);
}
