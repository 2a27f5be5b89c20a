/*-------------------------------------------------------------------------
 *
 * opendata_export.c
 *		Open-data exports: the published views of schema opendata as CSV
 *		files and a datapackage.json, taken at a signed checkpoint.
 *
 *	notary.opendata_export(views, title, license, ...)		rows to a client
 *	notary.opendata_export_to(directory, views, title, ...)	files on the server
 *
 * One generator, two sinks.  The generator yields the export line by line
 * (a CSV header, then one line per row, file after file, then
 * datapackage.json), hashing (SHA-256) and counting as it goes.  The SQL
 * function streams those lines (value-per-call: called in a SELECT list it
 * hands rows to the client as they are made, with the row count of each
 * file for progress); the directory sink writes them to temporary files
 * and renames them only when everything succeeded, never over an existing
 * file (renameat2 RENAME_NOREPLACE, or link and unlink), and on error
 * removes the files it created and no others.
 *
 * Consistency: the first call locks notary.checkpoints (as checkpoints
 * always do), then pushes ONE snapshot under which the checkpoint is taken
 * and every view is counted and opened as a cursor; the cursors keep that
 * snapshot, so the rows exported are exactly those of the state the
 * checkpoint covers, however long the client takes to read them.  In
 * REPEATABLE READ the transaction's snapshot is used instead.
 *
 * Rows are read as the caller (who needs SELECT on each view), with
 * DateStyle, TimeZone, IntervalStyle, extra_float_digits and bytea_output
 * pinned for each fetch, and sorted by the text of their columns in
 * collation "C", so the same data always gives the same bytes.  Memory is
 * one batch of rows at a time.  Only views registered in
 * notary.publications can be exported.  Each export appends an EXPORT
 * entry to the ledger.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define OPENDATA_SCHEMA "opendata"
#define FETCH_BATCH 1000
#define UNIX_EPOCH_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

typedef enum ExportPhase
{
	PHASE_HEADER,
	PHASE_ROWS,
	PHASE_PACKAGE,
	PHASE_DONE
} ExportPhase;

/* The generator's state, kept across calls in one memory context. */
typedef struct ExportState
{
	ExportPackage pkg;
	MemoryContext mcxt;
	MemoryContext batchcxt;		/* the lines of one fetched batch */
	ExportPhase phase;
	int			cur;			/* current resource */
	char	  **portals;		/* cursor name per resource */
	crypto_hash_sha256_state sha;	/* of the current file */
	StringInfoData *lines;		/* current batch */
	int			nlines;
	int			next;
	const char *directory;		/* for the ledger entry; NULL: streamed */
	char	   *package_json;
} ExportState;

/* One line of the export, as the generator yields it. */
typedef struct ExportLine
{
	const char *path;
	bool		has_row;		/* false for datapackage.json */
	int64		row_number;		/* 0 = the header */
	int64		row_count;		/* rows of this file */
	const char *data;
	int			len;
} ExportLine;

static int	portal_counter = 0;

/* ---- validation ---- */

static char *
required_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *s;
	const char *p;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an open-data export needs a %s", what)));
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	for (p = s; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an open-data export needs a %s", what),
				 errdetail("The %s is empty.", what)));
	return s;
}

/* A file and resource name from a view name: [a-z0-9._-], not starting with '.' */
static char *
resource_name(const char *view)
{
	char	   *s = pstrdup(view);
	char	   *p;

	for (p = s; *p; p++)
	{
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
				   *p == '-' || *p == '_' || *p == '.'))
			*p = '_';
	}
	if (s[0] == '.')
		s[0] = '_';
	return s;
}

static void
check_package_name(const char *name)
{
	const char *p;

	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			  *p == '-' || *p == '_' || *p == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid data package name \"%s\"", name),
					 errdetail("A data package name has lower-case letters, digits, \"-\", \"_\" and \".\" only.")));
}

/* ---- settings pinned while rows are turned into text ---- */

static int
pin_settings(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("DateStyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "iso_8601", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("TimeZone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("bytea_output", "hex", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * The SQL text of one column in the CSV: booleans as true/false and
 * timestamps with a "T" and "Z", the defaults of Frictionless; everything
 * else as its type prints it under the pinned settings.
 */
static char *
column_expr(const char *col, Oid typid)
{
	const char *q = quote_identifier(col);

	switch (getBaseType(typid))
	{
		case BOOLOID:
			return psprintf("CASE WHEN %s THEN 'true' WHEN NOT %s THEN 'false' END", q, q);
		case TIMESTAMPOID:
			return psprintf("pg_catalog.replace(%s::pg_catalog.text, ' ', 'T')", q);
		case TIMESTAMPTZOID:
			return psprintf("pg_catalog.replace(pg_catalog.replace(%s::pg_catalog.text, ' ', 'T'), '+00', 'Z')", q);
		default:
			return psprintf("%s::pg_catalog.text", q);
	}
}

/* ---- CSV (RFC 4180) ---- */

static void
csv_field(StringInfo sb, const char *s, bool isnull)
{
	const char *p;

	if (isnull)
		return;					/* NULL: an empty field */
	if (*s != '\0' && strpbrk(s, ",\"\r\n") == NULL)
	{
		appendStringInfoString(sb, s);
		return;
	}
	/* quoted; the empty string is "" so that it differs from NULL */
	appendStringInfoChar(sb, '"');
	for (p = s; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(sb, '"');
		appendStringInfoChar(sb, *p);
	}
	appendStringInfoChar(sb, '"');
}

/* ---- the generator ---- */

/*
 * Look up each view's publication and columns; as owner for
 * notary.publications.  SPI connected, as owner.
 */
static void
describe_resource(ExportResource *r, MemoryContext mcxt)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	Relation	rel;
	TupleDesc	desc;
	char	  **rule_cols = NULL;
	char	  **rule_vals = NULL;
	uint64		nrules = 0;
	uint64		k;
	int			i;
	MemoryContext old;

	args[0] = CStringGetTextDatum(get_rel_name(r->relid));
	args[1] = CStringGetTextDatum(r->view_text);
	if (SPI_execute_with_args("SELECT p.title, p.description, r.key, r.value OPERATOR(pg_catalog.#>>) '{}' "
							  "FROM notary.publications p "
							  "LEFT JOIN LATERAL pg_catalog.jsonb_each(CASE pg_catalog.jsonb_typeof(p.rules) "
							  "  WHEN 'object' THEN p.rules ELSE '{}' END) r ON true "
							  "WHERE p.view_name OPERATOR(pg_catalog.=) $1 "
							  "   OR p.view_name OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.publications");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a publication", r->view_text),
				 errdetail("Only views published in schema opendata and registered in notary.publications can be exported."),
				 errhint("Publish the table with notary.publish().")));
	old = MemoryContextSwitchTo(mcxt);
	r->title = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	r->description = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	rule_cols = palloc0(sizeof(char *) * SPI_processed);
	rule_vals = palloc0(sizeof(char *) * SPI_processed);
	for (k = 0; k < SPI_processed; k++)
	{
		char	   *c = SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 3);

		if (c == NULL)
			continue;
		rule_cols[nrules] = c;
		rule_vals[nrules++] = SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 4);
	}

	rel = relation_open(r->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	r->colnames = palloc0(sizeof(char *) * Max(desc->natts, 1));
	r->fieldtypes = palloc0(sizeof(char *) * Max(desc->natts, 1));
	r->coltypes = palloc0(sizeof(Oid) * Max(desc->natts, 1));
	r->ncols = 0;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *rule = NULL;

		if (att->attisdropped)
			continue;
		for (k = 0; k < nrules; k++)
			if (strcmp(rule_cols[k], NameStr(att->attname)) == 0)
				rule = rule_vals[k];
		r->colnames[r->ncols] = pstrdup(NameStr(att->attname));
		r->coltypes[r->ncols] = att->atttypid;
		r->fieldtypes[r->ncols] = (char *) datapackage_field_type(att->atttypid, rule);
		r->ncols++;
	}
	MemoryContextSwitchTo(old);
	relation_close(rel, AccessShareLock);
	if (r->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("view \"%s\" has no columns to export", r->view_text)));
}

/* The figures of notary.k_anonymity(view) as JSON, if that function exists. */
static char *
kanon_json(Oid relid, MemoryContext mcxt)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		args[1] = {ObjectIdGetDatum(relid)};
	char	   *s;

	if (SPI_execute("SELECT pg_catalog.to_regprocedure('notary.k_anonymity(regclass)') IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up notary.k_anonymity");
	s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (s == NULL || strcmp(s, "t") != 0)
		return NULL;
	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(k))::pg_catalog.text "
							  "FROM notary.k_anonymity($1) AS k",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.k_anonymity");
	s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return s ? MemoryContextStrdup(mcxt, s) : NULL;
}

static char *
rfc3339(int64 unix_us)
{
	pg_time_t	t = (pg_time_t) (unix_us / 1000000);
	struct pg_tm *tm = pg_gmtime(&t);

	return psprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", tm->tm_year + 1900,
					tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec);
}

/*
 * Validate the arguments, take the checkpoint and open a cursor per view,
 * all under one snapshot.  Arguments: views, title, license, description,
 * name at argument positions first..first+4.
 */
static ExportState *
export_begin(FunctionCallInfo fcinfo, int first, const char *directory,
			 MemoryContext mcxt)
{
	ExportState *st;
	ExportPackage *pkg;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i,
				j;
	NotaryUserSwitch sw;
	MemoryContext old;
	char	   *json;

	if (PG_ARGISNULL(first))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("views must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(first);
	deconstruct_array(arr, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an open-data export needs at least one view")));

	old = MemoryContextSwitchTo(mcxt);
	st = palloc0(sizeof(ExportState));
	st->mcxt = mcxt;
	st->batchcxt = AllocSetContextCreate(mcxt, "pg_notary export batch",
										 ALLOCSET_DEFAULT_SIZES);
	st->directory = directory ? pstrdup(directory) : NULL;
	pkg = &st->pkg;
	pkg->title = required_text(fcinfo, first + 1, "title");
	pkg->license = required_text(fcinfo, first + 2, "license");
	if (datapackage_license_key(pkg->license) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid license \"%s\"", pkg->license),
				 errhint("Give an Open Definition license id such as CC-BY-4.0, or the URL of the license.")));
	pkg->description = PG_ARGISNULL(first + 3) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(first + 3));
	pkg->name = PG_ARGISNULL(first + 4) ? pstrdup("opendata") :
		text_to_cstring(PG_GETARG_TEXT_PP(first + 4));
	check_package_name(pkg->name);
	if (*pkg->name == '\0')
		check_package_name("''");

	pkg->nres = n;
	pkg->res = palloc0(sizeof(ExportResource) * n);
	st->portals = palloc0(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		ExportResource *r = &pkg->res[i];
		Oid			relid;
		char		kind;
		Oid			nsp;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("views must not contain null")));
		relid = DatumGetObjectId(elems[i]);
		kind = get_rel_relkind(relid);
		if (kind == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", relid)));
		nsp = get_rel_namespace(relid);
		r->relid = relid;
		r->view_text = psprintf("%s.%s", get_namespace_name(nsp), get_rel_name(relid));
		r->view = quote_qualified_identifier(get_namespace_name(nsp), get_rel_name(relid));
		for (j = 0; j < i; j++)
			if (pkg->res[j].relid == relid)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("view \"%s\" is named twice", r->view_text)));
		if (strcmp(get_namespace_name(nsp), OPENDATA_SCHEMA) != 0 ||
			(kind != RELKIND_VIEW && kind != RELKIND_MATVIEW))
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a publication", r->view_text),
					 errdetail("Only views published in schema opendata can be exported."),
					 errhint("Publish the table with notary.publish().")));
		if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for view %s", r->view_text),
					 errhint("Exporting a view needs SELECT on it, e.g. membership in opendata_reader.")));
		r->name = resource_name(get_rel_name(relid));
		r->path = psprintf("%s.csv", r->name);
		for (j = 0; j < i; j++)
			if (strcmp(pkg->res[j].path, r->path) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("views \"%s\" and \"%s\" would both be written to \"%s\"",
								pkg->res[j].view_text, r->view_text, r->path)));
	}
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("open-data exports need a UTF8 database, this one is %s",
						GetDatabaseEncodingName()),
				 errdetail("The CSV files are UTF-8 and their hashes are taken over the bytes the server writes.")));
	MemoryContextSwitchTo(old);

	/* as owner: publications, the lock, the snapshot, the checkpoint */
	notary_spi_begin(&sw);
	for (i = 0; i < n; i++)
		describe_resource(&pkg->res[i], mcxt);
	if (SPI_execute("LOCK TABLE notary.checkpoints IN EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock notary.checkpoints");
	PushActiveSnapshot(GetTransactionSnapshot());
	json = checkpoint_create(false, &pkg->cp);
	pkg->checkpoint_json = MemoryContextStrdup(mcxt, json);
	pkg->cp.key_id = MemoryContextStrdup(mcxt, pkg->cp.key_id);
	pkg->created = MemoryContextStrdup(mcxt, rfc3339(pkg->cp.created_at_us));
	for (i = 0; i < n; i++)
		pkg->res[i].kanon_json = kanon_json(pkg->res[i].relid, mcxt);
	notary_spi_end(&sw);

	/* as the caller: count and open each view under the same snapshot */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	for (i = 0; i < n; i++)
	{
		ExportResource *r = &pkg->res[i];
		StringInfoData sql;
		Portal		portal;
		bool		isnull;

		if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s", r->view), true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not count the rows of %s", r->view_text);
		r->expected_rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
		initStringInfo(&sql);
		appendStringInfoString(&sql, "SELECT * FROM (SELECT ");
		for (j = 0; j < r->ncols; j++)
			appendStringInfo(&sql, "%s%s AS c%d", j > 0 ? ", " : "",
							 column_expr(r->colnames[j], r->coltypes[j]), j + 1);
		appendStringInfo(&sql, " FROM %s) s ORDER BY ", r->view);
		for (j = 0; j < r->ncols; j++)
			appendStringInfo(&sql, "%ss.c%d COLLATE \"C\" NULLS FIRST", j > 0 ? ", " : "", j + 1);
		st->portals[i] = MemoryContextStrdup(mcxt, psprintf("pg_notary_export_%d_%d",
															 MyProcPid, ++portal_counter));
		portal = SPI_cursor_open_with_args(st->portals[i], sql.data, 0, NULL, NULL, NULL,
										   true, CURSOR_OPT_NO_SCROLL);
		if (portal == NULL)
			elog(ERROR, "could not open a cursor on %s", r->view_text);
	}
	SPI_finish();
	PopActiveSnapshot();

	st->phase = PHASE_HEADER;
	st->cur = 0;
	return st;
}

/* Fetch the next batch of rows of the current view as CSV lines. */
static void
fetch_batch(ExportState *st)
{
	ExportResource *r = &st->pkg.res[st->cur];
	Portal		portal;
	int			level;
	uint64		i;
	int			j;
	MemoryContext old;

	MemoryContextReset(st->batchcxt);
	st->nlines = 0;
	st->next = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	portal = SPI_cursor_find(st->portals[st->cur]);
	if (portal == NULL)
		elog(ERROR, "the cursor of the export of %s is gone", r->view_text);
	level = pin_settings();
	SPI_cursor_fetch(portal, true, FETCH_BATCH);
	AtEOXact_GUC(false, level);
	if (SPI_processed == 0)
	{
		SPI_cursor_close(portal);
		SPI_finish();
		return;
	}
	old = MemoryContextSwitchTo(st->batchcxt);
	st->lines = palloc(sizeof(StringInfoData) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		StringInfo	sb = &st->lines[i];

		initStringInfo(sb);
		for (j = 0; j < r->ncols; j++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										  j + 1, &isnull);

			if (j > 0)
				appendStringInfoChar(sb, ',');
			csv_field(sb, isnull ? NULL : TextDatumGetCString(d), isnull);
		}
		appendStringInfoString(sb, "\r\n");
	}
	st->nlines = (int) SPI_processed;
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	SPI_finish();
}

/* The EXPORT ledger entry: views, files, hashes, checkpoint. */
static void
append_ledger_entry(ExportState *st)
{
	ExportPackage *pkg = &st->pkg;
	StringInfoData sb;
	int			i;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"format\": \"" NOTARY_DATAPACKAGE_FORMAT "\", \"name\": ");
	escape_json(&sb, pkg->name);
	appendStringInfo(&sb, ", \"checkpoint_id\": " INT64_FORMAT ", \"checkpoint_digest\": \"%s\"",
					 pkg->cp.checkpoint_id, format_hex(pkg->cp.digest, NOTARY_HASH_LEN));
	appendStringInfo(&sb, ", \"manifest_sha256\": \"%s\", \"directory\": ",
					 format_hex(pkg->manifest_sha256, 32));
	if (st->directory)
		escape_json(&sb, st->directory);
	else
		appendStringInfoString(&sb, "null");
	appendStringInfoString(&sb, ", \"resources\": [");
	for (i = 0; i < pkg->nres; i++)
	{
		ExportResource *r = &pkg->res[i];

		appendStringInfoString(&sb, i > 0 ? ", {\"view\": " : "{\"view\": ");
		escape_json(&sb, r->view_text);
		appendStringInfoString(&sb, ", \"path\": ");
		escape_json(&sb, r->path);
		appendStringInfo(&sb, ", \"sha256\": \"%s\", \"bytes\": " INT64_FORMAT ", \"rows\": " INT64_FORMAT "}",
						 format_hex(r->sha256, 32), r->bytes, r->rows);
	}
	appendStringInfoString(&sb, "]}");
	ledger_append_event(NOTARY_OP_EXPORT, false, 0, sb.data);
}

static void
emit(ExportState *st, ExportLine *out, const char *data, int len, int64 row_number)
{
	ExportResource *r = &st->pkg.res[st->cur];

	crypto_hash_sha256_update(&st->sha, (const unsigned char *) data, len);
	r->bytes += len;
	out->path = r->path;
	out->has_row = true;
	out->row_number = row_number;
	out->row_count = r->expected_rows;
	out->data = data;
	out->len = len;
}

/* The next line of the export; false when there is none. */
static bool
export_next(ExportState *st, ExportLine *out)
{
	ExportPackage *pkg = &st->pkg;

	for (;;)
	{
		switch (st->phase)
		{
			case PHASE_HEADER:
				{
					ExportResource *r = &pkg->res[st->cur];
					StringInfoData sb;
					int			j;
					MemoryContext old = MemoryContextSwitchTo(st->batchcxt);

					MemoryContextReset(st->batchcxt);
					initStringInfo(&sb);
					for (j = 0; j < r->ncols; j++)
					{
						if (j > 0)
							appendStringInfoChar(&sb, ',');
						csv_field(&sb, r->colnames[j], false);
					}
					appendStringInfoString(&sb, "\r\n");
					MemoryContextSwitchTo(old);
					crypto_hash_sha256_init(&st->sha);
					st->nlines = st->next = 0;
					st->phase = PHASE_ROWS;
					emit(st, out, sb.data, sb.len, 0);
					return true;
				}
			case PHASE_ROWS:
				{
					ExportResource *r = &pkg->res[st->cur];

					if (st->next >= st->nlines)
						fetch_batch(st);
					if (st->nlines > 0)
					{
						StringInfo	l = &st->lines[st->next++];

						r->rows++;
						emit(st, out, l->data, l->len, r->rows);
						return true;
					}
					crypto_hash_sha256_final(&st->sha, r->sha256);
					if (r->rows != r->expected_rows)
						ereport(ERROR,
								(errcode(ERRCODE_DATA_EXCEPTION),
								 errmsg("view \"%s\" gave " INT64_FORMAT " rows, " INT64_FORMAT " were counted",
										r->view_text, r->rows, r->expected_rows),
								 errdetail("A published view must give the same rows under the same snapshot.")));
					if (++st->cur < pkg->nres)
						st->phase = PHASE_HEADER;
					else
						st->phase = PHASE_PACKAGE;
					break;
				}
			case PHASE_PACKAGE:
				{
					MemoryContext old = MemoryContextSwitchTo(st->mcxt);

					st->package_json = datapackage_build(pkg);
					MemoryContextSwitchTo(old);
					append_ledger_entry(st);
					st->phase = PHASE_DONE;
					out->path = "datapackage.json";
					out->has_row = false;
					out->row_number = out->row_count = 0;
					out->data = st->package_json;
					out->len = strlen(st->package_json);
					return true;
				}
			case PHASE_DONE:
				return false;
		}
	}
}

/* ---- sink 1: rows to the client ---- */

PG_FUNCTION_INFO_V1(notary_opendata_export);

/*
 * SQL: notary.opendata_export(views regclass[], title text, license text,
 *		description text DEFAULT NULL, name text DEFAULT NULL)
 *		RETURNS TABLE (path text, row_number bigint, row_count bigint, data text)
 */
Datum
notary_opendata_export(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ExportState *st;
	ExportLine	line;

	if (SRF_IS_FIRSTCALL())
	{
		TupleDesc	desc;
		MemoryContext old;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		funcctx->tuple_desc = BlessTupleDesc(desc);
		MemoryContextSwitchTo(old);
		funcctx->user_fctx = export_begin(fcinfo, 0, NULL, funcctx->multi_call_memory_ctx);
	}
	funcctx = SRF_PERCALL_SETUP();
	st = (ExportState *) funcctx->user_fctx;
	if (export_next(st, &line))
	{
		Datum		values[4];
		bool		nulls[4] = {false, !line.has_row, !line.has_row, false};

		values[0] = CStringGetTextDatum(line.path);
		values[1] = Int64GetDatum(line.row_number);
		values[2] = Int64GetDatum(line.row_count);
		values[3] = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(funcctx->tuple_desc,
																   values, nulls)));
	}
	SRF_RETURN_DONE(funcctx);
}

/* ---- sink 2: files in a server directory ---- */

/*
 * One file of the directory sink.  tmp_made and final_made say which of its
 * two names this export created: on error, cleanup removes those and
 * nothing else (a file of that name made by anyone else stays).
 */
typedef struct OutFile
{
	char	   *tmp;
	char	   *final;
	int			fd;
	bool		tmp_made;
	bool		final_made;
} OutFile;

static void
write_all(OutFile *f, const char *data, int len)
{
	while (len > 0)
	{
		ssize_t		n = write(f->fd, data, len);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", f->tmp)));
		}
		data += n;
		len -= n;
	}
}

static void
target_exists(const char *path)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_FILE),
			 errmsg("file \"%s\" already exists", path),
			 errhint("Export into an empty directory; an export never overwrites files.")));
}

static void
open_out(OutFile *f, const char *directory, const char *name)
{
	struct stat st;

	f->final = psprintf("%s/%s", directory, name);
	f->tmp = psprintf("%s/.%s.%d.tmp", directory, name, MyProcPid);
	if (lstat(f->final, &st) == 0)
		target_exists(f->final);
	f->fd = OpenTransientFilePerm(f->tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, 0644);
	if (f->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", f->tmp)));
	f->tmp_made = true;
}

/*
 * Give the (closed, fsynced) temporary file its final name, failing with
 * 58P02 if that name exists, whenever it appeared: never replace.
 * renameat2(RENAME_NOREPLACE) where the kernel and file system have it,
 * else link() and unlink() (link refuses an existing target atomically).
 */
static void
install_out(OutFile *f)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->final, RENAME_NOREPLACE) == 0)
	{
		f->tmp_made = false;
		f->final_made = true;
		return;
	}
	if (errno == EEXIST)
		target_exists(f->final);
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m", f->tmp, f->final)));
#endif
	if (link(f->tmp, f->final) != 0)
	{
		if (errno == EEXIST)
			target_exists(f->final);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not link file \"%s\" to \"%s\": %m", f->tmp, f->final)));
	}
	f->final_made = true;
	if (unlink(f->tmp) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", f->tmp)));
	f->tmp_made = false;
}

/* fsync a directory so that the names given in it last (ERROR, not PANIC). */
static void
fsync_directory(const char *directory)
{
	int			fd = OpenTransientFile(directory, O_RDONLY | PG_BINARY);

	if (fd < 0 || (pg_fsync(fd) != 0 && errno != EBADF && errno != EINVAL))
	{
		int			save = errno;

		if (fd >= 0)
			CloseTransientFile(fd);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync directory \"%s\": %m", directory)));
	}
	CloseTransientFile(fd);
}

static void
close_out(OutFile *f)
{
	if (pg_fsync(f->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", f->tmp)));
	if (CloseTransientFile(f->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", f->tmp)));
	f->fd = -1;
}

PG_FUNCTION_INFO_V1(notary_opendata_export_to);

/*
 * SQL: notary.opendata_export_to(directory text, views regclass[],
 *		title text, license text, description text DEFAULT NULL,
 *		name text DEFAULT NULL) RETURNS jsonb
 *
 * Writes <view>.csv files and datapackage.json into an existing server
 * directory, like COPY TO a file: superuser or pg_write_server_files.
 */
Datum
notary_opendata_export_to(PG_FUNCTION_ARGS)
{
	char	   *directory;
	struct stat stbuf;
	ExportState *st;
	ExportLine	line;
	OutFile    *files;
	volatile int nfiles = 0;	/* read in PG_CATCH */
	int			i;
	MemoryContext cxt = CurrentMemoryContext;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to export to a server directory"),
				 errdetail("Only roles with privileges of the \"pg_write_server_files\" role may write files on the server."),
				 errhint("Use notary.opendata_export() or notary-export to receive the files on the client.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("directory must not be null")));
	directory = text_to_cstring(PG_GETARG_TEXT_PP(0));
	canonicalize_path(directory);
	if (!is_absolute_path(directory))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("relative path not allowed for an export directory: \"%s\"", directory)));
	if (stat(directory, &stbuf) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open export directory \"%s\": %m", directory),
				 errhint("Create the directory first; it must be writable by the server.")));
	if (!S_ISDIR(stbuf.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a directory", directory)));
	if (access(directory, W_OK | X_OK) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("export directory \"%s\" is not writable by the server: %m", directory)));

	st = export_begin(fcinfo, 1, directory, cxt);
	files = palloc0(sizeof(OutFile) * (st->pkg.nres + 1));
	for (i = 0; i <= st->pkg.nres; i++)
		files[i].fd = -1;

	PG_TRY();
	{
		const char *cur_path = NULL;

		/* refuse before writing anything if a target exists */
		for (i = 0; i <= st->pkg.nres; i++)
		{
			char	   *p = psprintf("%s/%s", directory,
									 i < st->pkg.nres ? st->pkg.res[i].path : "datapackage.json");

			if (lstat(p, &stbuf) == 0)
				target_exists(p);
		}
		while (export_next(st, &line))
		{
			if (cur_path == NULL || strcmp(cur_path, line.path) != 0)
			{
				if (nfiles > 0)
					close_out(&files[nfiles - 1]);
				nfiles++;
				open_out(&files[nfiles - 1], directory, line.path);
				cur_path = line.path;
			}
			write_all(&files[nfiles - 1], line.data, line.len);
			CHECK_FOR_INTERRUPTS();
		}
		close_out(&files[nfiles - 1]);
		/* datapackage.json last: a directory with it is complete */
		for (i = 0; i < nfiles; i++)
			install_out(&files[i]);
		fsync_directory(directory);
	}
	PG_CATCH();
	{
		/* remove what this export created, and only that */
		for (i = 0; i < nfiles; i++)
		{
			if (files[i].fd >= 0)
				CloseTransientFile(files[i].fd);
			if (files[i].tmp_made)
				unlink(files[i].tmp);
			if (files[i].final_made)
				unlink(files[i].final);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(st->package_json)));
}
