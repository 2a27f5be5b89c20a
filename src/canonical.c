/*-------------------------------------------------------------------------
 *
 * canonical.c
 *		Canonical text of a value: the text pg_notary stores and hashes.
 *
 * A type's output function cannot be used as it is for every type: the
 * text of timestamptz follows TimeZone, dates follow DateStyle, floats
 * follow extra_float_digits, bytea follows bytea_output, intervals follow
 * IntervalStyle, money follows lc_monetary.  A ledger written in
 * Asia/Jakarta and verified in UTC must agree, so those types are encoded
 * here with fixed rules (docs/format.md, "Canonical text"): timestamps in
 * UTC and ISO 8601, dates ISO, floats shortest-exact, bytea hex, intervals
 * in the postgres style, money as its integer count of minor units.
 * Arrays, composites and ranges are encoded element by element with the
 * same quoting rules as their output functions, so nested values are
 * canonical too.  Domains take their base type.  Types whose output depends
 * on no setting (integers, numeric, uuid, json, ...) use their output
 * function; every other type uses it under fixed settings (UTC, ISO,
 * shortest floats, empty search_path, C locale), set and reset around the
 * call; docs/format.md lists them.
 *
 * Memory: a codec lives in the context it was created in (the relation
 * cache's context for captured columns); canon_text() allocates its
 * result in the caller's current context.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "parser/scansup.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/guc.h"
#include "utils/typcache.h"

typedef enum CanonKind
{
	CANON_OUTPUT,				/* the type's output function is canonical */
	CANON_GUARDED_OUTPUT,		/* output function, under fixed settings */
	CANON_TEXT,					/* text-like: the string itself */
	CANON_INT2,					/* integers: what int2out, int4out and */
	CANON_INT4,					/* int8out print, without a call through */
	CANON_INT8,					/* fmgr per value */
	CANON_TIMESTAMPTZ,
	CANON_TIMESTAMP,
	CANON_DATE,
	CANON_TIME,
	CANON_TIMETZ,
	CANON_INTERVAL,
	CANON_FLOAT4,
	CANON_FLOAT8,
	CANON_BYTEA,
	CANON_MONEY,
	CANON_ARRAY,
	CANON_RECORD,
	CANON_RANGE
} CanonKind;

struct CanonCodec
{
	Oid			typid;			/* after looking through domains */
	CanonKind	kind;
	FmgrInfo	outfunc;		/* CANON_OUTPUT, CANON_GUARDED_OUTPUT */
	CanonCodec *elem;			/* CANON_ARRAY element, CANON_RANGE subtype */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	TypeCacheEntry *rangetyp;	/* CANON_RANGE */
	MemoryContext mcxt;
};

static bool output_is_canonical(Oid typid, char typtype);

/* Create the codec for a type, allocated in mcxt. */
CanonCodec *
canon_codec_create(Oid typid, MemoryContext mcxt)
{
	CanonCodec *c = MemoryContextAllocZero(mcxt, sizeof(CanonCodec));
	Oid			base = getBaseType(typid);
	char		typtype = get_typtype(base);
	Oid			elemtype;

	c->typid = base;
	c->mcxt = mcxt;

	switch (base)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			c->kind = CANON_TEXT;
			return c;
		case INT2OID:
			c->kind = CANON_INT2;
			return c;
		case INT4OID:
			c->kind = CANON_INT4;
			return c;
		case INT8OID:
			c->kind = CANON_INT8;
			return c;
		case TIMESTAMPTZOID:
			c->kind = CANON_TIMESTAMPTZ;
			return c;
		case TIMESTAMPOID:
			c->kind = CANON_TIMESTAMP;
			return c;
		case DATEOID:
			c->kind = CANON_DATE;
			return c;
		case TIMEOID:
			c->kind = CANON_TIME;
			return c;
		case TIMETZOID:
			c->kind = CANON_TIMETZ;
			return c;
		case INTERVALOID:
			c->kind = CANON_INTERVAL;
			return c;
		case FLOAT4OID:
			c->kind = CANON_FLOAT4;
			return c;
		case FLOAT8OID:
			c->kind = CANON_FLOAT8;
			return c;
		case BYTEAOID:
			c->kind = CANON_BYTEA;
			return c;
		case CASHOID:
			c->kind = CANON_MONEY;
			return c;
		case RECORDOID:
			c->kind = CANON_RECORD;
			return c;
		default:
			break;
	}

	elemtype = get_element_type(base);
	if (OidIsValid(elemtype) && typtype != TYPTYPE_DOMAIN)
	{
		c->kind = CANON_ARRAY;
		c->elem = canon_codec_create(elemtype, mcxt);
		get_typlenbyvalalign(elemtype, &c->elmlen, &c->elmbyval, &c->elmalign);
		return c;
	}
	if (typtype == TYPTYPE_COMPOSITE)
	{
		c->kind = CANON_RECORD;
		return c;
	}
	if (typtype == TYPTYPE_RANGE)
	{
		c->kind = CANON_RANGE;
		c->rangetyp = lookup_type_cache(base, TYPECACHE_RANGE_INFO);
		c->elem = canon_codec_create(c->rangetyp->rngelemtype->type_id, mcxt);
		return c;
	}

	{
		Oid			outfn;
		bool		isvarlena;

		c->kind = output_is_canonical(base, typtype) ? CANON_OUTPUT : CANON_GUARDED_OUTPUT;
		getTypeOutputInfo(base, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &c->outfunc, mcxt);
	}
	return c;
}

/*
 * Types whose output function depends on no setting: printed as they are.
 * Every other type (geometric types follow extra_float_digits, reg* types
 * search_path, multiranges TimeZone and DateStyle, extension types who
 * knows what) is printed under fixed settings instead.
 */
static bool
output_is_canonical(Oid typid, char typtype)
{
	if (typtype == TYPTYPE_ENUM)
		return true;
	switch (typid)
	{
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
		case XMLOID:
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case MACADDR8OID:
		case BITOID:
		case VARBITOID:
		case TSVECTOROID:
		case TSQUERYOID:
		case PG_LSNOID:
		case XID8OID:
			return true;
		default:
			return false;
	}
}

/* The settings every guarded output function runs under. */
static const char *const guarded_settings[][2] = {
	{"DateStyle", "ISO, YMD"},
	{"TimeZone", "UTC"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
	{"search_path", ""},
	{"lc_monetary", "C"},
	{"lc_numeric", "C"},
};

static char *
guarded_output(CanonCodec *c, Datum value)
{
	int			level = NewGUCNestLevel();
	char	   *result;
	int			i;

	for (i = 0; i < lengthof(guarded_settings); i++)
		(void) set_config_option(guarded_settings[i][0], guarded_settings[i][1],
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	result = OutputFunctionCall(&c->outfunc, value);
	AtEOXact_GUC(true, level);
	return result;
}

/* Append s to buf, quoted as array_out (quote_chars) would do it. */
static void
append_quoted(StringInfo buf, const char *s, const char *specials,
			  bool null_word_needs_quote, bool double_escape)
{
	bool		needquote = (s[0] == '\0');
	const char *p;

	if (null_word_needs_quote && pg_strcasecmp(s, "NULL") == 0)
		needquote = true;
	for (p = s; !needquote && *p; p++)
	{
		if (strchr(specials, *p) != NULL || scanner_isspace(*p))
			needquote = true;
	}
	if (!needquote)
	{
		appendStringInfoString(buf, s);
		return;
	}
	appendStringInfoChar(buf, '"');
	for (p = s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, double_escape ? *p : '\\');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

static void
canon_array(CanonCodec *c, Datum value, StringInfo buf)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	int			ndim = ARR_NDIM(arr);
	int		   *dims = ARR_DIMS(arr);
	int		   *lbs = ARR_LBOUND(arr);
	int			nitems = ArrayGetNItems(ndim, dims);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			indx[MAXDIM];
	int			i,
				j,
				k;
	bool		needdims = false;

	if (nitems == 0)
	{
		appendStringInfoString(buf, "{}");
		return;
	}
	for (i = 0; i < ndim; i++)
		if (lbs[i] != 1)
			needdims = true;
	if (needdims)
	{
		for (i = 0; i < ndim; i++)
			appendStringInfo(buf, "[%d:%d]", lbs[i], lbs[i] + dims[i] - 1);
		appendStringInfoChar(buf, '=');
	}

	deconstruct_array(arr, ARR_ELEMTYPE(arr), c->elmlen, c->elmbyval,
					  c->elmalign, &elems, &nulls, &nelems);

	for (i = 0; i < ndim; i++)
		indx[i] = 0;
	for (i = 0; i < ndim; i++)
		appendStringInfoChar(buf, '{');
	for (k = 0; k < nelems; k++)
	{
		if (nulls[k])
			appendStringInfoString(buf, "NULL");
		else
			append_quoted(buf, canon_text(c->elem, elems[k]), "{},\"\\", true, false);

		/* advance the index, closing and opening braces like array_out */
		for (i = ndim - 1; i >= 0; i--)
		{
			if (++indx[i] < dims[i])
			{
				appendStringInfoChar(buf, ',');
				for (j = i + 1; j < ndim; j++)
					appendStringInfoChar(buf, '{');
				break;
			}
			indx[i] = 0;
			appendStringInfoChar(buf, '}');
		}
	}
}

static void
canon_record(Datum value, StringInfo buf)
{
	HeapTupleHeader rec = DatumGetHeapTupleHeader(value);
	Oid			tupType = HeapTupleHeaderGetTypeId(rec);
	int32		tupTypmod = HeapTupleHeaderGetTypMod(rec);
	TupleDesc	tupdesc = lookup_rowtype_tupdesc(tupType, tupTypmod);
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	int			i;
	bool		first = true;

	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;

	values = palloc(tupdesc->natts * sizeof(Datum));
	nulls = palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(&tuple, tupdesc, values, nulls);

	appendStringInfoChar(buf, '(');
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		if (nulls[i])
			continue;
		append_quoted(buf, canon_text_of_type(att->atttypid, values[i]),
					  "(),\"\\", false, true);
	}
	appendStringInfoChar(buf, ')');
	ReleaseTupleDesc(tupdesc);
}

static void
canon_range(CanonCodec *c, Datum value, StringInfo buf)
{
	RangeType  *r = DatumGetRangeTypeP(value);
	RangeBound	lower,
				upper;
	bool		empty;

	range_deserialize(c->rangetyp, r, &lower, &upper, &empty);
	if (empty)
	{
		appendStringInfoString(buf, "empty");
		return;
	}
	appendStringInfoChar(buf, lower.inclusive ? '[' : '(');
	if (!lower.infinite)
		append_quoted(buf, canon_text(c->elem, lower.val), "()[],\"\\", false, true);
	appendStringInfoChar(buf, ',');
	if (!upper.infinite)
		append_quoted(buf, canon_text(c->elem, upper.val), "()[],\"\\", false, true);
	appendStringInfoChar(buf, upper.inclusive ? ']' : ')');
}

static char *
canon_float8(double v)
{
	char	   *s = palloc(32);

	if (isnan(v))
		strcpy(s, "NaN");
	else if (isinf(v))
		strcpy(s, v > 0 ? "Infinity" : "-Infinity");
	else
		double_to_shortest_decimal_buf(v, s);
	return s;
}

static char *
canon_float4(float v)
{
	char	   *s = palloc(32);

	if (isnan(v))
		strcpy(s, "NaN");
	else if (isinf(v))
		strcpy(s, v > 0 ? "Infinity" : "-Infinity");
	else
		float_to_shortest_decimal_buf(v, s);
	return s;
}

static char *
canon_timestamp(Timestamp ts, bool with_tz)
{
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts))
		EncodeSpecialTimestamp(ts, buf);
	else if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) == 0)
	{
		/* UTC: EncodeDateTime omits the zone when tm_isdst < 0 */
		tm.tm_isdst = 0;
		EncodeDateTime(&tm, fsec, with_tz, 0, NULL, USE_ISO_DATES, buf);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return pstrdup(buf);
}

/* Canonical text of a non-null value of the codec's type. */
char *
canon_text(CanonCodec *c, Datum value)
{
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;

	switch (c->kind)
	{
		case CANON_TEXT:
			return TextDatumGetCString(value);
		case CANON_INT2:
			{
				char	   *out = palloc(7);

				pg_itoa(DatumGetInt16(value), out);
				return out;
			}
		case CANON_INT4:
			{
				char	   *out = palloc(12);

				pg_ltoa(DatumGetInt32(value), out);
				return out;
			}
		case CANON_INT8:
			{
				char	   *out = palloc(MAXINT8LEN + 1);

				pg_lltoa(DatumGetInt64(value), out);
				return out;
			}
		case CANON_TIMESTAMPTZ:
			return canon_timestamp(DatumGetTimestampTz(value), true);
		case CANON_TIMESTAMP:
			return canon_timestamp(DatumGetTimestamp(value), false);
		case CANON_DATE:
			{
				DateADT		d = DatumGetDateADT(value);

				if (DATE_NOT_FINITE(d))
					EncodeSpecialDate(d, buf);
				else
				{
					j2date(d + POSTGRES_EPOCH_JDATE,
						   &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
					EncodeDateOnly(&tm, USE_ISO_DATES, buf);
				}
				return pstrdup(buf);
			}
		case CANON_TIME:
			time2tm(DatumGetTimeADT(value), &tm, &fsec);
			EncodeTimeOnly(&tm, fsec, false, 0, USE_ISO_DATES, buf);
			return pstrdup(buf);
		case CANON_TIMETZ:
			timetz2tm(DatumGetTimeTzADTP(value), &tm, &fsec, &tz);
			EncodeTimeOnly(&tm, fsec, true, tz, USE_ISO_DATES, buf);
			return pstrdup(buf);
		case CANON_INTERVAL:
			{
				struct pg_itm itm;

				interval2itm(*DatumGetIntervalP(value), &itm);
				EncodeInterval(&itm, INTSTYLE_POSTGRES, buf);
				return pstrdup(buf);
			}
		case CANON_FLOAT4:
			return canon_float4(DatumGetFloat4(value));
		case CANON_FLOAT8:
			return canon_float8(DatumGetFloat8(value));
		case CANON_BYTEA:
			{
				bytea	   *b = DatumGetByteaPP(value);
				size_t		len = VARSIZE_ANY_EXHDR(b);
				char	   *s = palloc(len * 2 + 3);

				s[0] = '\\';
				s[1] = 'x';
				hex_encode(VARDATA_ANY(b), len, s + 2);
				s[len * 2 + 2] = '\0';
				return s;
			}
		case CANON_MONEY:
			return psprintf(INT64_FORMAT, DatumGetInt64(value));
		case CANON_ARRAY:
			{
				StringInfoData sb;

				initStringInfo(&sb);
				canon_array(c, value, &sb);
				return sb.data;
			}
		case CANON_RECORD:
			{
				StringInfoData sb;

				initStringInfo(&sb);
				canon_record(value, &sb);
				return sb.data;
			}
		case CANON_RANGE:
			{
				StringInfoData sb;

				initStringInfo(&sb);
				canon_range(c, value, &sb);
				return sb.data;
			}
		case CANON_OUTPUT:
			return OutputFunctionCall(&c->outfunc, value);
		case CANON_GUARDED_OUTPUT:
			return guarded_output(c, value);
	}
	elog(ERROR, "unexpected canonical kind %d", (int) c->kind);
	return NULL;				/* keep compiler quiet */
}

/* Canonical text of a value of any type, with a throwaway codec. */
char *
canon_text_of_type(Oid typid, Datum value)
{
	CanonCodec *c = canon_codec_create(typid, CurrentMemoryContext);

	return canon_text(c, value);
}

/*
 * The type name recorded in a layout: schema-qualified unless built in,
 * with its modifier, independent of search_path.
 */
char *
canon_type_name(Oid typid, int32 typmod)
{
	return format_type_extended(typid, typmod,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

PG_FUNCTION_INFO_V1(notary_canonical);

/* SQL: notary.canonical(anyelement) */
Datum
notary_canonical(PG_FUNCTION_ARGS)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!OidIsValid(typid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not determine the type of the argument")));
	PG_RETURN_TEXT_P(cstring_to_text(canon_text_of_type(typid, PG_GETARG_DATUM(0))));
}
