/*-------------------------------------------------------------------------
 *
 * ledger_read.c
 *		Reading the ledger back: layouts (with their digests recomputed from
 *		their content, never trusted as stored) and row images.
 *
 * Used by every verification and by history.  Callers are connected to
 * SPI, as the extension's owner.  Everything is allocated in the memory
 * context the caller passes or is current.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

/* text[] → C strings (NULL elements stay NULL); returns the count. */
int
read_text_array(Datum arr, char ***out)
{
	ArrayType  *a = DatumGetArrayTypeP(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (ARR_NDIM(a) == 0)
	{
		*out = palloc(sizeof(char *));
		return 0;
	}
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	*out = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return n;
}

/* int2[] of 1-based positions → 0-based int16 positions. */
static int
read_positions(Datum arr, int16 **out)
{
	ArrayType  *a = DatumGetArrayTypeP(arr);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (ARR_NDIM(a) == 0)
	{
		*out = palloc(sizeof(int16));
		return 0;
	}
	deconstruct_array(a, INT2OID, 2, true, TYPALIGN_SHORT, &elems, &nulls, &n);
	*out = palloc(sizeof(int16) * Max(n, 1));
	for (i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? -1 : DatumGetInt16(elems[i]) - 1;
	return n;
}

/*
 * Load the layouts of one table (table_id > 0) or of all tables (0) into a
 * hash keyed by layout_id, allocated in mcxt.  Each layout's digest is
 * recomputed from its content; digest_ok says whether the stored digest
 * agrees.
 */
HTAB *
layouts_load(int32 table_id, MemoryContext mcxt)
{
	HASHCTL		ctl;
	HTAB	   *h;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	uint64		i;
	MemoryContext old;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(LayoutInfo);
	ctl.hcxt = mcxt;
	h = hash_create("pg_notary layouts", 64, &ctl,
					HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	args[0] = Int32GetDatum(table_id);
	if (SPI_execute_with_args("SELECT layout_id, table_id, layout_digest, schema_name, "
							  "table_name, column_names, column_types, key_columns, "
							  "personal_columns FROM notary.layouts "
							  "WHERE $1 OPERATOR(pg_catalog.=) 0 OR table_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.layouts");

	old = MemoryContextSwitchTo(mcxt);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		LayoutInfo *l = hash_search(h, &id, HASH_ENTER, NULL);
		bytea	   *stored;
		int			ntypes;
		Datum		v;

		l->layout_id = id;
		l->well_formed = true;
		v = SPI_getbinval(t, d, 2, &isnull);
		l->table_id = isnull ? 0 : DatumGetInt32(v);
		l->well_formed &= !isnull;
		v = SPI_getbinval(t, d, 3, &isnull);
		stored = isnull ? NULL : DatumGetByteaPP(v);
		v = SPI_getbinval(t, d, 4, &isnull);
		l->schema_name = isnull ? NULL : TextDatumGetCString(v);
		l->well_formed &= !isnull;
		v = SPI_getbinval(t, d, 5, &isnull);
		l->table_name = isnull ? NULL : TextDatumGetCString(v);
		l->well_formed &= !isnull;
		l->ncols = l->nkeys = l->npersonal = ntypes = 0;
		l->names = l->types = NULL;
		l->keys = l->personal = NULL;
		v = SPI_getbinval(t, d, 6, &isnull);
		if (!isnull)
			l->ncols = read_text_array(v, &l->names);
		l->well_formed &= !isnull;
		v = SPI_getbinval(t, d, 7, &isnull);
		if (!isnull)
			ntypes = read_text_array(v, &l->types);
		l->well_formed &= !isnull;
		v = SPI_getbinval(t, d, 8, &isnull);
		if (!isnull)
			l->nkeys = read_positions(v, &l->keys);
		l->well_formed &= !isnull;
		v = SPI_getbinval(t, d, 9, &isnull);
		if (!isnull)
			l->npersonal = read_positions(v, &l->personal);
		l->well_formed &= !isnull;
		l->well_formed &= (ntypes == l->ncols);
		for (int c = 0; l->well_formed && c < l->ncols; c++)
			if (l->names[c] == NULL || l->types[c] == NULL)
				l->well_formed = false;
		for (int c = 0; l->well_formed && c < l->nkeys; c++)
			if (l->keys[c] < 0 || l->keys[c] >= l->ncols)
				l->well_formed = false;
		for (int c = 0; l->well_formed && c < l->npersonal; c++)
			if (l->personal[c] < 0 || l->personal[c] >= l->ncols)
				l->well_formed = false;
		if (l->well_formed)
			format_layout_digest(l->table_id, l->schema_name, l->table_name,
								 l->ncols, l->names, l->types,
								 l->nkeys, l->keys, l->npersonal, l->personal,
								 l->digest);
		else
			memset(l->digest, 0, NOTARY_HASH_LEN);
		l->digest_ok = l->well_formed && stored != NULL &&
			VARSIZE_ANY_EXHDR(stored) == NOTARY_HASH_LEN &&
			memcmp(VARDATA_ANY(stored), l->digest, NOTARY_HASH_LEN) == 0;
	}
	MemoryContextSwitchTo(old);
	return h;
}

LayoutInfo *
layouts_find(HTAB *layouts, int64 layout_id)
{
	return hash_search(layouts, &layout_id, HASH_FIND, NULL);
}

/* Position of a column name in a layout, or -1. */
int
layout_column(const LayoutInfo *l, const char *name)
{
	int			i;

	for (i = 0; i < l->ncols; i++)
		if (strcmp(l->names[i], name) == 0)
			return i;
	return -1;
}

/*
 * A row image read back from row_image (text[]) and row_salts (bytea, may
 * be null).
 */
void
read_image(Datum row_image, bool salts_null, Datum row_salts, NotaryImage *img)
{
	img->ncols = read_text_array(row_image, &img->values);
	img->salts = salts_null ? NULL : DatumGetByteaPP(row_salts);
	img->redacted = NULL;		/* the caller reads it if it selected it */
}

/*
 * The table_id of a table enrolled in pg_notary (a row in notary.tables,
 * capturing or not); an error if it never was.  Shared by the per-table
 * verifications, which all refuse a table they know nothing of.
 */
int32
read_enrolled_table_id(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("SELECT table_id FROM notary.tables "
							  "WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.tables");
	if (SPI_processed == 0)
	{
		char	   *relname = get_rel_name(relid);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not enrolled in pg_notary",
						relname ? relname : psprintf("%u", relid)),
				 errhint("Tables are enrolled by notary.enable() on their schema.")));
	}
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The columns of an entry under l that a redaction erased, from its
 * `redacted` field, or NULL if none.  Positions outside the layout are
 * skipped (notary.verify() reports them).
 */
bool *
read_erased(const LayoutInfo *l, bool isnull, Datum redacted)
{
	bytea	   *b;
	const uint8 *r;
	int			n;
	int			k;
	bool	   *erased = NULL;

	if (isnull)
		return NULL;
	b = DatumGetByteaPP(redacted);
	r = (const uint8 *) VARDATA_ANY(b);
	n = VARSIZE_ANY_EXHDR(b) / NOTARY_REDACTED_LEN;
	for (k = 0; k < n; k++, r += NOTARY_REDACTED_LEN)
	{
		int			pos = ((r[0] << 8) | r[1]) & ~NOTARY_SEALED_FLAG;

		if (pos >= l->ncols)
			continue;
		if (erased == NULL)
			erased = palloc0(sizeof(bool) * Max(l->ncols, 1));
		erased[pos] = true;
	}
	return erased;
}

static char *
value_text(const Datum *v, const bool *n, int col)
{
	return n[col - 1] ? NULL : TextDatumGetCString(v[col - 1]);
}

/*
 * The hashed fields of an entry, but its image, from the columns of
 * notary.ledger (v and n as heap_deform_tuple gives them, LEDGER_NATTS of
 * them): what verify() recomputes and what a redaction seals.  Null text
 * columns stay NULL (the caller decides whether that is malformed); an
 * old_digest that is not 32 bytes leaves has_old unset and returns false.
 */
bool
ledger_entry_from_values(const Datum *v, const bool *n, NotaryEntry *e)
{
	memset(e, 0, sizeof(*e));
	e->format_version = n[LEDGER_ATT_FORMAT - 1] ? 0 : DatumGetInt16(v[LEDGER_ATT_FORMAT - 1]);
	e->seq = DatumGetInt64(v[0]);
	e->chain_id = DatumGetInt32(v[1]);
	e->chain_pos = DatumGetInt64(v[2]);
	e->op = value_text(v, n, 6);
	e->xid = n[6] ? 0 : U64FromFullTransactionId(DatumGetFullTransactionId(v[6]));
	e->logged_at_us = n[7] ? 0 : (int64) DatumGetTimestampTz(v[7]) +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	e->session_user_name = value_text(v, n, 9);
	e->current_user_name = value_text(v, n, 10);
	e->application_name = value_text(v, n, 11);
	e->client_addr = value_text(v, n, 12);
	e->has_table = !n[12];
	e->table_id = n[12] ? 0 : DatumGetInt32(v[12]);
	e->layout_id = n[13] ? 0 : DatumGetInt64(v[13]);
	e->detail = n[17] ? NULL : DatumGetCString(DirectFunctionCall1(jsonb_out, v[17]));
	if (!n[16])
	{
		bytea	   *b = DatumGetByteaPP(v[16]);

		if (VARSIZE_ANY_EXHDR(b) != NOTARY_HASH_LEN)
			return false;
		memcpy(e->old_digest, VARDATA_ANY(b), NOTARY_HASH_LEN);
		e->has_old = true;
	}
	return true;
}
