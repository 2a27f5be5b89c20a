/*-------------------------------------------------------------------------
 *
 * history.c
 *		notary.history(): the ledger's history of one row, oldest first,
 *		with the row before and after each change.
 *
 * The row is named by its primary key (the values of the key columns),
 * or, for a table without one, by the value of every column.  The given
 * texts are read with the columns' own input functions, as the caller's
 * session would read them, then turned into canonical text: so
 * '2024-01-01 10:00+07' finds a timestamptz the ledger holds in UTC.
 *
 * Layouts change over a table's life; columns are found in each entry's
 * layout by name.  With a primary key, an entry belongs to the row when
 * its image has the given key, or when it is the UPDATE that replaced the
 * row's previous image (a change of the key itself).  Without one, an
 * entry belongs to the row when its image has the given values, or when
 * it is the UPDATE whose before-image had them (its old_digest is the row
 * digest of the given values).
 *
 * Redacted columns (redaction.c): an erased value is unknown.  In the
 * output it is a JSON null like any NULL, with nothing added, so the
 * shape of before and after never changes; the entry's `redacted` field
 * (and notary.redactions) says which nulls were erased.  No erased value
 * is ever shown, not even one the caller gave: a before-image built from
 * the given values (an UPDATE of a row without a key) shows null where
 * the UPDATE's own image is erased.  Without a primary key an erased
 * column matches any given value, so a redacted row's history is still
 * found by all its values (and can be redacted again); rows that differ
 * only in erased columns are the same row to us, as identical rows are.
 * With a primary key an erased key column matches nothing: a row whose
 * key itself was erased is no longer found by it.  An old_digest covers
 * the columns that were not personal when it was written: once one of
 * them is erased from the previous image, that image's digest cannot be
 * recomputed, so an UPDATE of a row without a key may show no before-
 * image, and an UPDATE that changed a primary key is found under the new
 * key only.
 *
 * Before-images are not stored: an UPDATE's before-image is the image of
 * the row's previous entry.  Key texts are parsed as the caller; the
 * ledger is read as the extension's owner (the auditor may read it, the
 * application's tables need not be readable).
 *
 * Memory: one scratch context, reset after each entry; the previous image
 * is kept in the function's own context.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_index.h"
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#define HISTORY_BATCH 10000
#define HISTORY_NATTS 10

/* The row asked for: column names and canonical values. */
typedef struct RowTarget
{
	bool		has_pk;
	int			n;
	char	  **names;			/* key columns, or every column */
	char	  **values;			/* canonical text; NULL = SQL NULL */
} RowTarget;

/* How the row is found under one layout (cached per layout_id). */
typedef struct HistLayout
{
	int64		layout_id;		/* hash key */
	bool		usable;			/* the row can be recognised under it */
	int		   *pos;			/* layout position of each target column */
	char	  **image;			/* no key: the target as an image of it */
	uint8		digest[NOTARY_HASH_LEN];	/* no key: its row digest */
} HistLayout;

/*
 * The columns that name a row of rel: its primary key's, or all of them.
 * Fills names and the types to read the given texts with.
 */
static int
target_columns(Relation rel, bool *has_pk, char ***names, Oid **types,
			   int32 **typmods)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);
	AttrNumber *attnums = palloc(sizeof(AttrNumber) * Max(tupdesc->natts, 1));
	int			n = 0;
	int			i;

	*has_pk = false;
	if (OidIsValid(pkoid))
	{
		HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));

		if (HeapTupleIsValid(itup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(itup);

			for (i = 0; i < idx->indnkeyatts; i++)
				attnums[n++] = idx->indkey.values[i];
			*has_pk = true;
			ReleaseSysCache(itup);
		}
	}
	if (!*has_pk)
	{
		for (i = 0; i < tupdesc->natts; i++)
			if (!TupleDescAttr(tupdesc, i)->attisdropped)
				attnums[n++] = TupleDescAttr(tupdesc, i)->attnum;
	}

	*names = palloc(sizeof(char *) * Max(n, 1));
	*types = palloc(sizeof(Oid) * Max(n, 1));
	*typmods = palloc(sizeof(int32) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, attnums[i] - 1);

		(*names)[i] = pstrdup(NameStr(att->attname));
		(*types)[i] = att->atttypid;
		(*typmods)[i] = att->atttypmod;
	}
	return n;
}

/*
 * Read the caller's key texts into canonical values, checking that they
 * name a row of the table.
 */
static void
read_target(Oid relid, ArrayType *keyarr, RowTarget *t)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid		   *types;
	int32	   *typmods;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			i;

	t->n = target_columns(rel, &t->has_pk, &t->names, &types, &typmods);
	if (ARR_NDIM(keyarr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("key values must be a one-dimensional array")));
	deconstruct_array(keyarr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	if (nelems != t->n)
	{
		StringInfoData cols;

		initStringInfo(&cols);
		for (i = 0; i < t->n; i++)
			appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "", t->names[i]);
		if (t->has_pk)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wrong number of key values"),
					 errdetail("Table \"%s\" has a primary key of %d column(s): %s.",
							   RelationGetRelationName(rel), t->n, cols.data)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wrong number of key values"),
					 errdetail("Table \"%s\" has no primary key, so a row is named by the values of all its %d column(s): %s.",
							   RelationGetRelationName(rel), t->n, cols.data)));
	}

	t->values = palloc(sizeof(char *) * Max(t->n, 1));
	for (i = 0; i < t->n; i++)
	{
		Oid			typinput;
		Oid			typioparam;
		Datum		v;

		if (nulls[i])
		{
			if (t->has_pk)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("key values cannot be null"),
						 errdetail("Column \"%s\" is part of the primary key of table \"%s\".",
								   t->names[i], RelationGetRelationName(rel))));
			t->values[i] = NULL;
			continue;
		}
		getTypeInputInfo(types[i], &typinput, &typioparam);
		v = OidInputFunctionCall(typinput, TextDatumGetCString(elems[i]),
								 typioparam, typmods[i]);
		t->values[i] = canon_text_of_type(types[i], v);
	}
	table_close(rel, AccessShareLock);
}

static bool
same_value(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* How the target is recognised under layout l. */
static HistLayout *
hist_layout(HTAB *cache, LayoutInfo *l, const RowTarget *t, MemoryContext mcxt)
{
	bool		found;
	HistLayout *h = hash_search(cache, &l->layout_id, HASH_ENTER, &found);
	MemoryContext old;
	int			i;

	if (found)
		return h;
	old = MemoryContextSwitchTo(mcxt);
	h->usable = true;
	h->image = NULL;
	if (t->has_pk)
	{
		/* where each key column is in this layout */
		h->pos = palloc(sizeof(int) * Max(t->n, 1));
		for (i = 0; i < t->n; i++)
		{
			h->pos[i] = layout_column(l, t->names[i]);
			if (h->pos[i] < 0)
				h->usable = false;
		}
	}
	else
	{
		/* which given value each column of this layout takes */
		h->pos = palloc(sizeof(int) * Max(l->ncols, 1));
		h->image = palloc(sizeof(char *) * Max(l->ncols, 1));
		for (i = 0; i < l->ncols; i++)
		{
			int			j;

			h->pos[i] = -1;
			for (j = 0; j < t->n; j++)
				if (strcmp(l->names[i], t->names[j]) == 0)
					h->pos[i] = j;
			if (h->pos[i] < 0)
			{
				h->usable = false;
				break;
			}
			h->image[i] = t->values[h->pos[i]];
		}
		if (h->usable)
		{
			NotaryImage img;

			img.ncols = l->ncols;
			img.values = h->image;
			img.salts = NULL;
			img.redacted = NULL;
			format_row_digest(l->digest, &img, l->personal, l->npersonal,
							  h->digest);
		}
	}
	MemoryContextSwitchTo(old);
	return h;
}

/*
 * Does an image under l show the target row?  erased (NULL: none) marks
 * the columns a redaction erased: without a key they match any value.
 */
static bool
image_is_target(const HistLayout *h, const LayoutInfo *l, char **values,
				const bool *erased, const RowTarget *t)
{
	int			i;

	if (!h->usable)
		return false;
	if (t->has_pk)
	{
		for (i = 0; i < t->n; i++)
			if (!same_value(values[h->pos[i]], t->values[i]))
				return false;
		return true;
	}
	for (i = 0; i < l->ncols; i++)
		if (!(erased != NULL && erased[i]) && !same_value(values[i], h->image[i]))
			return false;
	return true;
}

/* An image as a JSON object: column name to canonical text or null. */
static char *
image_json(const LayoutInfo *l, char **values)
{
	StringInfoData sb;
	int			i;

	initStringInfo(&sb);
	appendStringInfoChar(&sb, '{');
	for (i = 0; i < l->ncols; i++)
	{
		if (i > 0)
			appendStringInfoString(&sb, ", ");
		escape_json(&sb, l->names[i]);
		appendStringInfoString(&sb, ": ");
		if (values[i] == NULL)
			appendStringInfoString(&sb, "null");
		else
			escape_json(&sb, values[i]);
	}
	appendStringInfoChar(&sb, '}');
	return sb.data;
}

/* What the previous entry of the row left: its image and row digest. */
typedef struct PrevImage
{
	char	   *json;			/* NULL: no row (yet, or any more) */
	uint8		digest[NOTARY_HASH_LEN];
	MemoryContext mcxt;
} PrevImage;

static void
prev_set(PrevImage *p, const char *json, const uint8 *digest)
{
	if (p->json != NULL)
		pfree(p->json);
	p->json = json ? MemoryContextStrdup(p->mcxt, json) : NULL;
	if (digest)
		memcpy(p->digest, digest, NOTARY_HASH_LEN);
}

/*
 * One entry (columns as selected below): emit it if it belongs to the row,
 * and remember the image it leaves.  Without a primary key, identical rows
 * are the same row to us, so an INSERT or SNAPSHOT shows no before-image.
 */
static void
history_entry(HeapTuple tup, TupleDesc d, HTAB *layouts, HTAB *cache,
			  const RowTarget *t, PrevImage *prev, MemoryContext mcxt,
			  ReturnSetInfo *rsinfo)
{
	bool		isnull;
	bool		img_null;
	bool		red_null;
	char	   *op = SPI_getvalue(tup, d, 3);
	Datum		layout_d = SPI_getbinval(tup, d, 9, &isnull);
	Datum		img_d = SPI_getbinval(tup, d, 10, &img_null);
	Datum		red_d;
	bool	   *erased;
	LayoutInfo *l;
	HistLayout *h;
	NotaryImage img;
	bool		is_update;
	bool		removes;
	bool		is_target;
	bool		old_known = false;
	uint8		old[NOTARY_HASH_LEN];
	uint8		digest[NOTARY_HASH_LEN];
	bool		old_is_prev;
	bool		old_is_target;
	const char *before;
	const char *after;
	char	   *json;
	Datum		values[HISTORY_NATTS];
	bool		nulls[HISTORY_NATTS];
	int			i;

	if (op == NULL || isnull || img_null)
		return;
	if (strcmp(op, NOTARY_OP_INSERT) != 0 && strcmp(op, NOTARY_OP_UPDATE) != 0 &&
		strcmp(op, NOTARY_OP_DELETE) != 0 && strcmp(op, NOTARY_OP_TRUNCATE) != 0 &&
		strcmp(op, NOTARY_OP_SNAPSHOT) != 0)
		return;
	l = layouts_find(layouts, DatumGetInt64(layout_d));
	if (l == NULL || !l->well_formed)
		return;					/* notary.verify() reports it */
	read_image(img_d, true, (Datum) 0, &img);
	if (img.ncols != l->ncols)
		return;

	is_update = strcmp(op, NOTARY_OP_UPDATE) == 0;
	removes = strcmp(op, NOTARY_OP_DELETE) == 0 ||
		strcmp(op, NOTARY_OP_TRUNCATE) == 0;
	if (is_update)
	{
		Datum		od = SPI_getbinval(tup, d, 11, &isnull);

		if (!isnull)
		{
			bytea	   *b = DatumGetByteaPP(od);

			if (VARSIZE_ANY_EXHDR(b) == NOTARY_HASH_LEN)
			{
				memcpy(old, VARDATA_ANY(b), NOTARY_HASH_LEN);
				old_known = true;
			}
		}
	}

	h = hist_layout(cache, l, t, mcxt);
	red_d = SPI_getbinval(tup, d, 12, &red_null);
	erased = read_erased(l, red_null, red_d);
	is_target = image_is_target(h, l, img.values, erased, t);
	old_is_prev = old_known && prev->json != NULL &&
		memcmp(old, prev->digest, NOTARY_HASH_LEN) == 0;
	old_is_target = old_known && !t->has_pk && h->usable &&
		memcmp(old, h->digest, NOTARY_HASH_LEN) == 0;
	if (!is_target && !(t->has_pk ? old_is_prev : old_is_target))
		return;

	json = image_json(l, img.values);
	if (removes)
	{
		before = json;
		after = NULL;
	}
	else
	{
		after = json;
		if (t->has_pk)
			before = prev->json;
		else if (!is_update)
			before = NULL;		/* identical rows cannot be told apart */
		else if (old_is_target)
		{
			/* the given values, but never one the ledger has erased */
			char	  **shown = palloc(sizeof(char *) * Max(l->ncols, 1));

			for (i = 0; i < l->ncols; i++)
				shown[i] = erased != NULL && erased[i] ? NULL : h->image[i];
			before = image_json(l, shown);
		}
		else
			before = old_is_prev ? prev->json : NULL;
	}

	memset(nulls, false, sizeof(nulls));
	for (i = 0; i < 8; i++)
		values[i] = SPI_getbinval(tup, d, i + 1, &nulls[i]);
	if (before != NULL)
		values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(before));
	else
		nulls[8] = true;
	if (after != NULL)
		values[9] = DirectFunctionCall1(jsonb_in, CStringGetDatum(after));
	else
		nulls[9] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

	/* the row as this entry leaves it */
	if (removes || (t->has_pk && !is_target))
		prev_set(prev, NULL, NULL);
	else
	{
		format_row_digest(l->digest, &img, l->personal, l->npersonal, digest);
		prev_set(prev, json, digest);
	}
}

PG_FUNCTION_INFO_V1(notary_history);

/* SQL: notary.history(tbl regclass, VARIADIC key text[]) returns setof (...) */
Datum
notary_history(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *keyarr = PG_GETARG_ARRAYTYPE_P(1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	MemoryContext hcxt;
	MemoryContext scratch;
	NotaryUserSwitch sw;
	RowTarget	target;
	PrevImage	prev;
	HTAB	   *layouts;
	HTAB	   *cache;
	HASHCTL		ctl;
	Portal		portal;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	int32		table_id;

	InitMaterializedSRF(fcinfo, 0);

	/* refuse a table the ledger does not know before reading the key */
	notary_spi_begin(&sw);
	table_id = read_enrolled_table_id(relid);
	notary_spi_end(&sw);

	/* the key texts are read as the caller would read them */
	read_target(relid, keyarr, &target);

	hcxt = AllocSetContextCreate(callcxt, "pg_notary history",
								 ALLOCSET_DEFAULT_SIZES);
	scratch = AllocSetContextCreate(callcxt, "pg_notary history entry",
									ALLOCSET_DEFAULT_SIZES);
	memset(&prev, 0, sizeof(prev));
	prev.mcxt = hcxt;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(HistLayout);
	ctl.hcxt = hcxt;
	cache = hash_create("pg_notary history layouts", 16, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	notary_spi_begin(&sw);
	layouts = layouts_load(table_id, hcxt);
	args[0] = Int32GetDatum(table_id);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT seq, logged_at, op, xid, session_user_name, "
												"current_user_name, application_name, client_addr, "
												"layout_id, row_image, old_digest, redacted FROM %s "
												"WHERE table_id OPERATOR(pg_catalog.=) $1 "
												"AND row_image IS NOT NULL ORDER BY seq", ledger_of_table_sql("$1")),
									   1, argtypes, args, NULL, true, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, HISTORY_BATCH);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(scratch);

			history_entry(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
						  layouts, cache, &target, &prev, hcxt, rsinfo);
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	notary_spi_end(&sw);
	MemoryContextDelete(scratch);
	MemoryContextDelete(hcxt);
	return (Datum) 0;
}
