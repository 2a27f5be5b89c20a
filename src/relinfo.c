/*-------------------------------------------------------------------------
 *
 * relinfo.c
 *		Per-relation capture information: the table's stable id, its layout
 *		(columns, types, key, personal columns) and the codecs that turn its
 *		values into canonical text.
 *
 * Built on a table's first captured change in a backend and kept in a
 * backend-local hash; a relcache invalidation of the table (any ALTER,
 * CREATE TRIGGER, ...) marks it for rebuilding.  The callback only marks;
 * memory is freed when the entry is rebuilt.
 *
 * The table's row in notary.tables and its layout row in notary.layouts
 * must exist in every transaction that writes entries pointing at them.
 * An id found or inserted by this transaction is tentative until commit:
 * if the transaction or any subtransaction aborts, tentative ids are
 * looked up again on next use (the row may have vanished with the abort).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

typedef enum IdState
{
	IDS_UNKNOWN,				/* look up (or insert) before use */
	IDS_TENTATIVE,				/* found or inserted in this transaction */
	IDS_CONFIRMED				/* seen in a committed transaction */
} IdState;

typedef struct RelInfoEntry
{
	Oid			relid;			/* hash key */
	RelInfo    *info;
	IdState		ids;
} RelInfoEntry;

static HTAB *relinfo_hash = NULL;
static MemoryContext relinfo_cxt = NULL;

static void
relinfo_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	RelInfoEntry *e;

	if (relinfo_hash == NULL)
		return;
	if (OidIsValid(relid))
	{
		e = hash_search(relinfo_hash, &relid, HASH_FIND, NULL);
		if (e != NULL && e->info != NULL)
			e->info->valid = false;
		return;
	}
	hash_seq_init(&status, relinfo_hash);
	while ((e = hash_seq_search(&status)) != NULL)
		if (e->info != NULL)
			e->info->valid = false;
}

void
relinfo_init(void)
{
	HASHCTL		ctl;

	relinfo_cxt = AllocSetContextCreate(TopMemoryContext, "pg_notary relinfo",
										ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(RelInfoEntry);
	ctl.hcxt = relinfo_cxt;
	relinfo_hash = hash_create("pg_notary relinfo", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(relinfo_invalidate, (Datum) 0);
}

/* At transaction end: tentative ids become confirmed, or unknown again. */
void
relinfo_xact_end(bool commit)
{
	HASH_SEQ_STATUS status;
	RelInfoEntry *e;

	if (relinfo_hash == NULL)
		return;
	hash_seq_init(&status, relinfo_hash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->ids == IDS_TENTATIVE)
			e->ids = commit ? IDS_CONFIRMED : IDS_UNKNOWN;
	}
}

static Datum
make_text_array(char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
make_int2_array(const int16 *items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int16GetDatum(items[i] + 1);	/* 1-based in SQL */
	return PointerGetDatum(construct_array(d, n, INT2OID, 2, true, TYPALIGN_SHORT));
}

/*
 * The table's id in notary.tables, registering it if needed.  Runs its own
 * SPI session as the extension owner.
 */
int32
relinfo_register_table(Oid relid, bool capturing)
{
	NotaryUserSwitch sw;
	Oid			argtypes[4] = {OIDOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		args[4];
	int			ret;
	bool		isnull;
	int32		table_id;
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	if (relname == NULL || nspname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(nspname);
	args[2] = CStringGetTextDatum(relname);
	args[3] = BoolGetDatum(capturing);

	notary_spi_begin(&sw);
	ret = SPI_execute_with_args(
								"INSERT INTO notary.tables AS t "
								"(table_id, relid, schema_name, table_name, capturing, enrolled_at) "
								"VALUES (pg_catalog.nextval('notary.table_id_seq'), $1::pg_catalog.regclass, $2, $3, $4, pg_catalog.now()) "
								"ON CONFLICT (relid) DO UPDATE SET schema_name = EXCLUDED.schema_name, "
								"table_name = EXCLUDED.table_name, "
								"capturing = t.capturing OR EXCLUDED.capturing "
								"RETURNING table_id",
								4, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not register table %u in notary.tables", relid);
	table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	notary_spi_end(&sw);
	return table_id;
}

/*
 * Find (or, when may_insert, insert) the layout row of ri; sets
 * ri->layout_id, 0 if not found.
 */
static void
relinfo_find_layout(RelInfo *ri, bool may_insert)
{
	NotaryUserSwitch sw;
	Oid			argtypes[9] = {BYTEAOID, INT4OID, TEXTOID, TEXTOID, TEXTARRAYOID,
	TEXTARRAYOID, INT2ARRAYOID, INT2ARRAYOID, INT8OID};
	Datum		args[9];
	bytea	   *digest = palloc(VARHDRSZ + NOTARY_HASH_LEN);
	int			ret;
	bool		isnull;

	SET_VARSIZE(digest, VARHDRSZ + NOTARY_HASH_LEN);
	memcpy(VARDATA(digest), ri->layout_digest, NOTARY_HASH_LEN);
	args[0] = PointerGetDatum(digest);
	args[1] = Int32GetDatum(ri->table_id);

	notary_spi_begin(&sw);
	ret = SPI_execute_with_args("SELECT layout_id FROM notary.layouts "
								"WHERE layout_digest OPERATOR(pg_catalog.=) $1 "
								"AND table_id OPERATOR(pg_catalog.=) $2 "
								"ORDER BY layout_id LIMIT 1",
								2, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %d", ret);
	if (SPI_processed == 0 && !may_insert)
		ri->layout_id = 0;
	else if (SPI_processed == 0)
	{
		args[2] = CStringGetTextDatum(ri->schema_name);
		args[3] = CStringGetTextDatum(ri->table_name);
		args[4] = make_text_array(ri->names, ri->ncols);
		args[5] = make_text_array(ri->types, ri->ncols);
		args[6] = make_int2_array(ri->keys, ri->nkeys);
		args[7] = make_int2_array(ri->personal, ri->npersonal);
		ret = SPI_execute_with_args("INSERT INTO notary.layouts (layout_id, table_id, layout_digest, "
									"schema_name, table_name, column_names, column_types, "
									"key_columns, personal_columns) VALUES "
									"(pg_catalog.nextval('notary.layout_id_seq'), $2, $1, $3, $4, $5, $6, $7, $8) "
									"RETURNING layout_id",
									8, argtypes, args, NULL, false, 1);
		if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
			elog(ERROR, "could not insert a layout into notary.layouts");
	}
	if (SPI_processed > 0)
		ri->layout_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
	notary_spi_end(&sw);
}

/* The table's id, or 0 if it was never registered. */
static int32
relinfo_lookup_table_id(Oid relid)
{
	NotaryUserSwitch sw;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	int			ret;
	int32		table_id = 0;

	args[0] = ObjectIdGetDatum(relid);
	notary_spi_begin(&sw);
	ret = SPI_execute_with_args("SELECT table_id FROM notary.tables "
								"WHERE relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %d", ret);
	if (SPI_processed > 0)
	{
		bool		isnull;

		table_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1, &isnull));
	}
	notary_spi_end(&sw);
	return table_id;
}

/*
 * The columns notary.classify() marked as personal data (any class but
 * 'public'), as ascending positions.  They are salted in every image.
 */
static void
relinfo_load_personal(RelInfo *ri)
{
	NotaryUserSwitch sw;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	uint64		k;
	int			i;

	ri->npersonal = 0;
	if (ri->table_id == 0)
		return;
	args[0] = Int32GetDatum(ri->table_id);
	notary_spi_begin(&sw);
	if (SPI_execute_with_args("SELECT column_name FROM notary.columns "
							  "WHERE table_id OPERATOR(pg_catalog.=) $1 "
							  "AND class OPERATOR(pg_catalog.<>) 'public'",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.columns");
	for (i = 0; i < ri->ncols; i++)
	{
		for (k = 0; k < SPI_processed; k++)
		{
			char	   *name = SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1);

			if (name != NULL && strcmp(name, ri->names[i]) == 0)
			{
				ri->personal[ri->npersonal++] = (int16) i;
				break;
			}
		}
	}
	notary_spi_end(&sw);
}

/* Forget what we know of a relation (after its classification changed). */
void
relinfo_forget(Oid relid)
{
	relinfo_invalidate((Datum) 0, relid);
}

/* Build the column part of ri from the relation's descriptor. */
static void
relinfo_build_columns(RelInfo *ri, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	MemoryContext old = MemoryContextSwitchTo(ri->mcxt);
	Oid			pkoid;
	int			i;
	int			n = 0;

	ri->attnums = palloc(sizeof(AttrNumber) * Max(tupdesc->natts, 1));
	ri->names = palloc(sizeof(char *) * Max(tupdesc->natts, 1));
	ri->types = palloc(sizeof(char *) * Max(tupdesc->natts, 1));
	ri->codecs = palloc(sizeof(CanonCodec *) * Max(tupdesc->natts, 1));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		ri->attnums[n] = att->attnum;
		ri->names[n] = pstrdup(NameStr(att->attname));
		ri->types[n] = canon_type_name(att->atttypid, att->atttypmod);
		ri->codecs[n] = canon_codec_create(att->atttypid, ri->mcxt);
		n++;
	}
	ri->ncols = n;

	ri->nkeys = 0;
	ri->keys = NULL;
	pkoid = RelationGetPrimaryKeyIndex(rel);
	if (OidIsValid(pkoid))
	{
		HeapTuple	itup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkoid));

		if (HeapTupleIsValid(itup))
		{
			Form_pg_index idx = (Form_pg_index) GETSTRUCT(itup);
			int			k;

			ri->keys = palloc(sizeof(int16) * Max(idx->indnkeyatts, 1));
			for (k = 0; k < idx->indnkeyatts; k++)
			{
				AttrNumber	a = idx->indkey.values[k];

				for (i = 0; i < n; i++)
					if (ri->attnums[i] == a)
						ri->keys[ri->nkeys++] = (int16) i;
			}
			ReleaseSysCache(itup);
		}
	}

	/* personal columns come with the table id (relinfo_load_personal) */
	ri->npersonal = 0;
	ri->personal = palloc(sizeof(int16) * Max(n, 1));

	ri->schema_name = get_namespace_name(RelationGetNamespace(rel));
	ri->table_name = pstrdup(RelationGetRelationName(rel));
	MemoryContextSwitchTo(old);
}

/*
 * Capture information of a relation, built or refreshed as needed, with
 * table and layout rows that exist in this transaction.
 */
RelInfo *
relinfo_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	RelInfoEntry *e;
	bool		found;
	RelInfo    *ri;

	if (relinfo_hash == NULL)
		relinfo_init();
	e = hash_search(relinfo_hash, &relid, HASH_ENTER, &found);
	if (!found)
	{
		e->info = NULL;
		e->ids = IDS_UNKNOWN;
	}

	if (e->info == NULL || !e->info->valid)
	{
		MemoryContext mcxt;

		if (e->info != NULL)
			MemoryContextDelete(e->info->mcxt);
		e->info = NULL;
		mcxt = AllocSetContextCreate(relinfo_cxt, "pg_notary relation",
									 ALLOCSET_SMALL_SIZES);
		ri = MemoryContextAllocZero(mcxt, sizeof(RelInfo));
		ri->mcxt = mcxt;
		ri->relid = relid;
		relinfo_build_columns(ri, rel);
		ri->valid = true;
		e->info = ri;
		e->ids = IDS_UNKNOWN;
	}
	ri = e->info;

	if (e->ids == IDS_UNKNOWN)
	{
		int32		table_id = relinfo_lookup_table_id(relid);
		bool		read_only = XactReadOnly || RecoveryInProgress();

		/*
		 * A read-only transaction (verification, a hot standby) only looks:
		 * it cannot capture anything, so nothing needs to be registered.
		 */
		if (read_only)
		{
			ri->table_id = table_id;
			relinfo_load_personal(ri);
			format_layout_digest(ri->table_id, ri->schema_name, ri->table_name,
								 ri->ncols, ri->names, ri->types,
								 ri->nkeys, ri->keys, ri->npersonal, ri->personal,
								 ri->layout_digest);
			relinfo_find_layout(ri, false);
			return ri;
		}
		if (table_id == 0)
			table_id = relinfo_register_table(relid, true);
		ri->table_id = table_id;
		relinfo_load_personal(ri);
		format_layout_digest(ri->table_id, ri->schema_name, ri->table_name,
							 ri->ncols, ri->names, ri->types,
							 ri->nkeys, ri->keys, ri->npersonal, ri->personal,
							 ri->layout_digest);
		relinfo_find_layout(ri, true);
		/* the SPI calls may have processed invalidations */
		if (!ri->valid)
			return relinfo_get(rel);
		e->ids = IDS_TENTATIVE;
	}
	return ri;
}

/*
 * The canonical image of a tuple under ri's layout; with_salts draws a
 * fresh random salt for every personal column.  With other (the other
 * version of the row across an UPDATE, whose image other_img is built
 * already), a value equal to the other version's, bit for bit, shares its
 * canonical text instead of being converted again: an UPDATE usually
 * changes a few columns of many.
 */
#define BUILD_IMAGE_LOCAL 32

static void
build_image(RelInfo *ri, TupleDesc tupdesc, HeapTuple tuple, bool with_salts,
			HeapTuple other, const NotaryImage *other_img, NotaryImage *img)
{
	int			i;
	int			natts = tupdesc->natts;

	/* most tables are narrow: their deformed rows stay on the stack */
	Datum		d_local[BUILD_IMAGE_LOCAL];
	bool		isnull_local[BUILD_IMAGE_LOCAL];
	Datum		od_local[BUILD_IMAGE_LOCAL];
	bool		onull_local[BUILD_IMAGE_LOCAL];
	bool		local = natts <= BUILD_IMAGE_LOCAL;
	Datum	   *d = local ? d_local : palloc(sizeof(Datum) * natts);
	bool	   *isnull = local ? isnull_local : palloc(sizeof(bool) * natts);
	Datum	   *od = NULL;
	bool	   *onull = NULL;

	/*
	 * One pass over the tuple: heap_getattr() per column walks it again
	 * from the start for every column after a variable-length one.
	 */
	heap_deform_tuple(tuple, tupdesc, d, isnull);
	if (other != NULL)
	{
		od = local ? od_local : palloc(sizeof(Datum) * natts);
		onull = local ? onull_local : palloc(sizeof(bool) * natts);
		heap_deform_tuple(other, tupdesc, od, onull);
	}
	img->ncols = ri->ncols;
	img->values = palloc(sizeof(char *) * Max(ri->ncols, 1));
	img->salts = NULL;
	img->redacted = NULL;
	for (i = 0; i < ri->ncols; i++)
	{
		int			a = ri->attnums[i] - 1;
		Form_pg_attribute att;

		if (isnull[a])
		{
			img->values[i] = NULL;
			continue;
		}
		if (other != NULL && !onull[a] && other_img->values[i] != NULL)
		{
			att = TupleDescAttr(tupdesc, a);
			if (datumIsEqual(d[a], od[a], att->attbyval, att->attlen))
			{
				img->values[i] = other_img->values[i];
				continue;
			}
		}
		img->values[i] = canon_text(ri->codecs[i], d[a]);
	}
	if (!local)
	{
		pfree(d);
		pfree(isnull);
		if (od != NULL)
		{
			pfree(od);
			pfree(onull);
		}
	}
	if (with_salts && ri->npersonal > 0)
	{
		int			len = ri->npersonal * NOTARY_SALT_LEN;

		img->salts = palloc(VARHDRSZ + len);
		SET_VARSIZE(img->salts, VARHDRSZ + len);
		randombytes_buf(VARDATA(img->salts), len);
	}
}

void
relinfo_build_image(RelInfo *ri, TupleDesc tupdesc, HeapTuple tuple,
					bool with_salts, NotaryImage *img)
{
	build_image(ri, tupdesc, tuple, with_salts, NULL, NULL, img);
}

/*
 * The image of the row before an UPDATE, given the image of the row after
 * it (new_img, of new_tuple): the values the UPDATE kept share their text.
 */
void
relinfo_build_old_image(RelInfo *ri, TupleDesc tupdesc, HeapTuple old_tuple,
						HeapTuple new_tuple, const NotaryImage *new_img,
						NotaryImage *img)
{
	build_image(ri, tupdesc, old_tuple, false, new_tuple, new_img, img);
}
