/*-------------------------------------------------------------------------
 *
 * datapackage.c
 *		The description of an open-data export: datapackage.json
 *		(Frictionless Data Package v2) and the signed manifest inside it.
 *
 * The manifest is a small line-oriented text (docs/opendata.md, "Exports")
 * that names the checkpoint the data was taken at and, per file, its
 * SHA-256, byte count, row count and fields.  It is signed with Ed25519
 * by the checkpoint key, over its exact UTF-8 bytes: a checkpoint
 * signature covers exactly 32 bytes and a manifest is always longer and
 * starts with its format line, so one signature can never be taken for
 * the other.  datapackage.json repeats what the manifest says in the
 * Frictionless vocabulary; a verifier checks that the two agree.  Nothing
 * here reads the database: opendata_export.c hands in what it counted.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

#define DATAPACKAGE_PROFILE "https://datapackage.org/profiles/2.0/datapackage.json"

/*
 * The Frictionless field type of a published column: the rules "year" and
 * "month" generalise to "year" and "yearmonth"; a column kept as is maps
 * its type; everything else (pseudonyms, masks, ranges, prefixes) is text.
 */
const char *
datapackage_field_type(Oid typid, const char *rule)
{
	if (rule != NULL && strcmp(rule, "year") == 0)
		return "year";
	if (rule != NULL && strcmp(rule, "month") == 0)
		return "yearmonth";
	switch (getBaseType(typid))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return "integer";
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			return "number";
		case BOOLOID:
			return "boolean";
		case DATEOID:
			return "date";
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return "datetime";
		case TIMEOID:
			return "time";
		case INTERVALOID:
			return "duration";
		case JSONOID:
		case JSONBOID:
			return "any";
		default:
			return "string";
	}
}

/*
 * How a license is written in "licenses": an http(s) URL is a "path",
 * anything else must be an Open Definition id (e.g. CC-BY-4.0), a "name".
 * NULL when it is neither.
 */
const char *
datapackage_license_key(const char *license)
{
	const char *p;

	if (strncmp(license, "https://", 8) == 0 || strncmp(license, "http://", 7) == 0)
	{
		for (p = license; *p; p++)
			if ((unsigned char) *p <= ' ' || *p == '"' || *p == '\\')
				return NULL;
		return "path";
	}
	if (*license == '\0')
		return NULL;
	for (p = license; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
			return NULL;
	return "name";
}

static void
json_or_null(StringInfo sb, const char *s)
{
	if (s == NULL)
		appendStringInfoString(sb, "null");
	else
		escape_json(sb, s);
}

/* The manifest text: what the signature covers (docs/opendata.md). */
static char *
build_manifest(const ExportPackage *pkg)
{
	StringInfoData sb;
	int			i,
				j;

	initStringInfo(&sb);
	appendStringInfoString(&sb, NOTARY_DATAPACKAGE_FORMAT "\n");
	appendStringInfoString(&sb, "name ");
	escape_json(&sb, pkg->name);
	appendStringInfoString(&sb, "\ntitle ");
	escape_json(&sb, pkg->title);
	appendStringInfoString(&sb, "\ndescription ");
	json_or_null(&sb, pkg->description);
	appendStringInfoString(&sb, "\nlicense ");
	escape_json(&sb, pkg->license);
	appendStringInfoString(&sb, "\ncreated ");
	escape_json(&sb, pkg->created);
	appendStringInfo(&sb, "\ncheckpoint " INT64_FORMAT " %s %s\n",
					 pkg->cp.checkpoint_id,
					 format_hex(pkg->cp.digest, NOTARY_HASH_LEN), pkg->cp.key_id);
	for (i = 0; i < pkg->nres; i++)
	{
		const ExportResource *r = &pkg->res[i];

		appendStringInfo(&sb, "resource %s " INT64_FORMAT " " INT64_FORMAT " ",
						 format_hex(r->sha256, 32), r->bytes, r->rows);
		escape_json(&sb, r->path);
		appendStringInfoChar(&sb, '\n');
		for (j = 0; j < r->ncols; j++)
		{
			appendStringInfo(&sb, "field %s ", r->fieldtypes[j]);
			escape_json(&sb, r->colnames[j]);
			appendStringInfoChar(&sb, '\n');
		}
		if (r->kanon_json != NULL)
			appendStringInfo(&sb, "k_anonymity %s\n", r->kanon_json);
	}
	return sb.data;
}

static void
append_resource(StringInfo sb, const ExportResource *r)
{
	int			j;

	appendStringInfoString(sb, "    {\"name\": ");
	escape_json(sb, r->name);
	appendStringInfoString(sb, ", \"type\": \"table\", \"path\": ");
	escape_json(sb, r->path);
	appendStringInfoString(sb, ", \"format\": \"csv\", \"mediatype\": \"text/csv\", \"encoding\": \"utf-8\"");
	if (r->title != NULL)
	{
		appendStringInfoString(sb, ", \"title\": ");
		escape_json(sb, r->title);
	}
	if (r->description != NULL)
	{
		appendStringInfoString(sb, ", \"description\": ");
		escape_json(sb, r->description);
	}
	appendStringInfo(sb, ",\n     \"bytes\": " INT64_FORMAT ", \"hash\": \"sha256:%s\"",
					 r->bytes, format_hex(r->sha256, 32));
	appendStringInfoString(sb, ",\n     \"dialect\": {\"header\": true, \"delimiter\": \",\", "
						   "\"lineTerminator\": \"\\r\\n\", \"quoteChar\": \"\\\"\", \"doubleQuote\": true}");
	appendStringInfoString(sb, ",\n     \"schema\": {\"fields\": [");
	for (j = 0; j < r->ncols; j++)
	{
		appendStringInfo(sb, "%s{\"name\": ", j > 0 ? ", " : "");
		escape_json(sb, r->colnames[j]);
		appendStringInfo(sb, ", \"type\": \"%s\"}", r->fieldtypes[j]);
	}
	appendStringInfoString(sb, "], \"missingValues\": [\"\"]}}");
}

/*
 * Sign the manifest and build datapackage.json.  Fills pkg->manifest and
 * its SHA-256 (for the ledger entry); returns the JSON text.
 */
char *
datapackage_build(ExportPackage *pkg)
{
	StringInfoData sb;
	unsigned char sig[crypto_sign_BYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char	   *key_id;
	int			i;
	bool		any_kanon = false;

	pkg->manifest = build_manifest(pkg);
	crypto_hash_sha256(pkg->manifest_sha256, (const unsigned char *) pkg->manifest,
					   strlen(pkg->manifest));
	signing_sign((const uint8 *) pkg->manifest, (int) strlen(pkg->manifest), sig, pk);
	key_id = signing_key_id(pk);
	if (strcmp(key_id, pkg->cp.key_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the signing key changed during the export")));

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\n  \"$schema\": \"" DATAPACKAGE_PROFILE "\",\n  \"name\": ");
	escape_json(&sb, pkg->name);
	appendStringInfoString(&sb, ",\n  \"title\": ");
	escape_json(&sb, pkg->title);
	if (pkg->description != NULL)
	{
		appendStringInfoString(&sb, ",\n  \"description\": ");
		escape_json(&sb, pkg->description);
	}
	appendStringInfo(&sb, ",\n  \"licenses\": [{\"%s\": ", datapackage_license_key(pkg->license));
	escape_json(&sb, pkg->license);
	appendStringInfoString(&sb, "}],\n  \"created\": ");
	escape_json(&sb, pkg->created);
	appendStringInfoString(&sb, ",\n  \"resources\": [\n");
	for (i = 0; i < pkg->nres; i++)
	{
		if (i > 0)
			appendStringInfoString(&sb, ",\n");
		append_resource(&sb, &pkg->res[i]);
		any_kanon |= (pkg->res[i].kanon_json != NULL);
	}
	appendStringInfoString(&sb, "\n  ],\n  \"pg_notary\": {\"format\": \"" NOTARY_DATAPACKAGE_FORMAT "\",\n    \"manifest\": ");
	escape_json(&sb, pkg->manifest);
	appendStringInfo(&sb, ",\n    \"signature\": \"%s\",\n    \"public_key\": \"%s\",\n    \"key_id\": \"%s\",\n    \"checkpoint\": %s",
					 format_hex(sig, crypto_sign_BYTES),
					 format_hex(pk, crypto_sign_PUBLICKEYBYTES), key_id,
					 pkg->checkpoint_json);
	if (any_kanon)
	{
		bool		first = true;

		appendStringInfoString(&sb, ",\n    \"k_anonymity\": {");
		for (i = 0; i < pkg->nres; i++)
		{
			if (pkg->res[i].kanon_json == NULL)
				continue;
			if (!first)
				appendStringInfoString(&sb, ", ");
			first = false;
			escape_json(&sb, pkg->res[i].name);
			appendStringInfo(&sb, ": %s", pkg->res[i].kanon_json);
		}
		appendStringInfoChar(&sb, '}');
	}
	appendStringInfoString(&sb, "}\n}\n");
	return sb.data;
}
