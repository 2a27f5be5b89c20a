/*-------------------------------------------------------------------------
 *
 * nv_datapackage.c
 *		Checking an open-data export offline: a directory with
 *		datapackage.json and its CSV files (docs/opendata.md, "Exports").
 *
 * Trusts nothing in the directory but the public key given by the user:
 * the manifest's Ed25519 signature, the embedded checkpoint (digest and
 * signature, as for any checkpoint), every field of the manifest against
 * datapackage.json, and every file's SHA-256, byte count, row count and
 * header against the manifest.  Rows are counted with the CSV rules of
 * the export (RFC 4180, CRLF, quotes doubled), reading each file once in
 * blocks.  Used by notary-verify --datapackage and by notary-export after
 * it wrote a package.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <stdlib.h>

#include <sodium.h>

#define NV_DATAPACKAGE_FORMAT "pg_notary-datapackage-v1"

/* A file's bytes, SHA-256, CSV records and its first record (the header). */
typedef struct CsvFacts
{
	uint64_t	bytes;
	uint8_t		sha256[32];
	uint64_t	records;
	bool		well_formed;	/* every record ends in CRLF, quotes balanced */
	char	  **header;
	int			nheader;
} CsvFacts;

static void
header_push(CsvFacts *cf, char *field, size_t len)
{
	cf->header = nv_realloc(cf->header, sizeof(char *) * (size_t) (cf->nheader + 1));
	field[len] = '\0';
	cf->header[cf->nheader++] = nv_strdup(field);
}

static bool
read_csv(const char *path, CsvFacts *cf, NvError *err)
{
	FILE	   *f = fopen(path, "rb");
	crypto_hash_sha256_state st;
	unsigned char buf[65536];
	size_t		n;
	bool		in_quotes = false;
	bool		after_cr = false;
	bool		in_header = true;
	char	   *field = nv_malloc(1024);
	size_t		flen = 0;
	size_t		fcap = 1024;
	int			prev = -1;

	memset(cf, 0, sizeof(*cf));
	if (f == NULL)
	{
		nv_error(err, "%s", strerror(errno));
		free(field);
		return false;
	}
	cf->well_formed = true;
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
	{
		size_t		i;

		crypto_hash_sha256_update(&st, buf, n);
		cf->bytes += n;
		for (i = 0; i < n; i++)
		{
			int			c = buf[i];
			bool		literal = true;

			if (in_quotes)
			{
				if (c == '"')
				{
					in_quotes = false;
					literal = false;
				}
			}
			else if (c == '"')
			{
				in_quotes = true;
				/* a doubled quote inside a quoted field is one quote */
				literal = (prev == '"');
				if (!literal && prev != ',' && prev != '\n' && prev != -1)
					cf->well_formed = false;
			}
			else if (c == '\r')
			{
				after_cr = true;
				prev = c;
				continue;
			}
			else if (c == '\n')
			{
				if (!after_cr)
					cf->well_formed = false;
				cf->records++;
				if (in_header)
					header_push(cf, field, flen);
				in_header = false;
				after_cr = false;
				prev = c;
				continue;
			}
			else if (c == ',')
			{
				if (in_header)
					header_push(cf, field, flen);
				flen = 0;
				literal = false;
			}
			if (after_cr)
				cf->well_formed = false;	/* a bare CR outside quotes */
			after_cr = false;
			if (in_header && literal)
			{
				if (flen + 2 > fcap)
				{
					fcap *= 2;
					field = nv_realloc(field, fcap);
				}
				field[flen++] = (char) c;
			}
			prev = c;
		}
	}
	if (ferror(f))
	{
		nv_error(err, "%s", strerror(errno));
		fclose(f);
		free(field);
		return false;
	}
	fclose(f);
	free(field);
	if (in_quotes || after_cr || (prev != '\n' && prev != -1))
		cf->well_formed = false;
	crypto_hash_sha256_final(&st, cf->sha256);
	return true;
}

static void
csv_facts_free(CsvFacts *cf)
{
	int			i;

	for (i = 0; i < cf->nheader; i++)
		free(cf->header[i]);
	free(cf->header);
}

/* The value of a manifest line after "key ": a JSON value. */
static json_t *
manifest_value(const char *s)
{
	json_error_t jerr;

	return json_loads(s, JSON_DECODE_ANY, &jerr);
}

static bool
same_string(json_t *a, json_t *b)
{
	if (a == NULL || json_is_null(a))
		return b == NULL || json_is_null(b);
	return b != NULL && json_equal(a, b);
}

static json_t *
find_resource(json_t *resources, const char *path)
{
	size_t		i;
	json_t	   *r;

	json_array_foreach(resources, i, r)
	{
		json_t	   *p = json_object_get(r, "path");

		if (json_is_string(p) && strcmp(json_string_value(p), path) == 0)
			return r;
	}
	return NULL;
}

/* A path the manifest names must be a plain file name in the directory. */
static bool
plain_name(const char *p)
{
	return *p != '\0' && *p != '.' && strchr(p, '/') == NULL && strchr(p, '\\') == NULL;
}

typedef struct ManifestResource
{
	char	   *path;
	char		sha256[65];
	uint64_t	bytes;
	uint64_t	rows;
	json_t	   *resource;		/* in datapackage.json, or NULL */
	int			nfields;
	char	  **names;
	char	  **types;
} ManifestResource;

/* Compare one resource of the manifest with datapackage.json and its file. */
static void
check_resource(NvReport *r, const char *dir, ManifestResource *m, json_t *kanon_dp)
{
	json_t	   *res = m->resource;
	json_t	   *fields;
	char	   *want_hash = nv_printf("sha256:%s", m->sha256);
	char	   *file;
	CsvFacts	cf;
	NvError		err;
	char		hex[65];
	int			i;

	(void) kanon_dp;
	if (res == NULL)
	{
		nv_finding(r, "manifest_mismatch", "%s: the signed manifest names it, datapackage.json has no such resource", m->path);
		free(want_hash);
		return;
	}
	if (!json_is_string(json_object_get(res, "hash")) ||
		strcmp(json_string_value(json_object_get(res, "hash")), want_hash) != 0)
		nv_finding(r, "manifest_mismatch", "%s: datapackage.json gives hash %s, the signed manifest %s",
				   m->path, json_is_string(json_object_get(res, "hash")) ?
				   json_string_value(json_object_get(res, "hash")) : "(none)", want_hash);
	if (!json_is_integer(json_object_get(res, "bytes")) ||
		(uint64_t) json_integer_value(json_object_get(res, "bytes")) != m->bytes)
		nv_finding(r, "manifest_mismatch", "%s: datapackage.json gives another byte count than the signed manifest (%" PRIu64 ")",
				   m->path, m->bytes);
	fields = json_object_get(json_object_get(res, "schema"), "fields");
	if (!json_is_array(fields) || json_array_size(fields) != (size_t) m->nfields)
		nv_finding(r, "manifest_mismatch", "%s: datapackage.json lists other fields than the signed manifest", m->path);
	else
		for (i = 0; i < m->nfields; i++)
		{
			json_t	   *fd = json_array_get(fields, (size_t) i);
			json_t	   *nm = json_object_get(fd, "name");
			json_t	   *ty = json_object_get(fd, "type");

			if (!json_is_string(nm) || strcmp(json_string_value(nm), m->names[i]) != 0 ||
				!json_is_string(ty) || strcmp(json_string_value(ty), m->types[i]) != 0)
				nv_finding(r, "manifest_mismatch", "%s: field %d of datapackage.json is not \"%s\" of type %s as the signed manifest says",
						   m->path, i + 1, m->names[i], m->types[i]);
		}
	free(want_hash);

	if (!plain_name(m->path))
	{
		nv_finding(r, "bad_path", "%s: not a plain file name in the package directory; not read", m->path);
		return;
	}
	file = nv_printf("%s/%s", dir, m->path);
	if (!read_csv(file, &cf, &err))
	{
		nv_finding(r, "file_missing", "%s: could not read %s: %s", m->path, file, err.msg);
		free(file);
		return;
	}
	free(file);
	r->files_checked++;
	nv_hex_encode(cf.sha256, 32, hex);
	if (strcmp(hex, m->sha256) != 0)
		nv_finding(r, "file_changed", "%s: its SHA-256 is %s, the signed manifest says %s", m->path, hex, m->sha256);
	if (cf.bytes != m->bytes)
		nv_finding(r, "file_changed", "%s: it has %" PRIu64 " bytes, the signed manifest says %" PRIu64,
				   m->path, cf.bytes, m->bytes);
	if (!cf.well_formed)
		nv_finding(r, "file_changed", "%s: it is not CSV as exported (RFC 4180, CRLF line ends)", m->path);
	else if (cf.records != m->rows + 1)
		nv_finding(r, "file_changed", "%s: it has %" PRIu64 " rows after its header, the signed manifest says %" PRIu64,
				   m->path, cf.records ? cf.records - 1 : 0, m->rows);
	if (cf.well_formed && cf.nheader == m->nfields)
	{
		for (i = 0; i < m->nfields; i++)
			if (strcmp(cf.header[i], m->names[i]) != 0)
			{
				nv_finding(r, "file_changed", "%s: column %d of its header is not \"%s\"", m->path, i + 1, m->names[i]);
				break;
			}
	}
	else if (cf.well_formed)
		nv_finding(r, "file_changed", "%s: its header has %d columns, the signed manifest %d",
				   m->path, cf.nheader, m->nfields);
	csv_facts_free(&cf);
}

/* Are the keys of obj all in the NULL-terminated list allowed? */
static const char *
unknown_key(json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t	   *v;

	json_object_foreach(obj, k, v)
	{
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, k) == 0)
				break;
		if (*a == NULL)
			return k;
	}
	return NULL;
}

static bool
string_is(json_t *v, const char *want)
{
	return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/*
 * datapackage.json must say nothing the signed manifest does not cover:
 * readers act on all of it (a "dialect" with another delimiter, a
 * "missingValues" of "0", a second licence or a second resource for the
 * same file change what the data says while every signed figure still
 * matches).  So every member is one the export writes, and every member
 * the manifest does not sign has the one value the export gives it.
 */
static void
check_unsigned_members(NvReport *r, json_t *dp)
{
	static const char *const top[] = {"$schema", "name", "title", "description", "licenses",
	"created", "resources", "pg_notary", NULL};
	static const char *const res_keys[] = {"name", "type", "path", "format", "mediatype",
		"encoding", "title", "description", "bytes", "hash", "dialect", "schema", NULL};
	static const char *const schema_keys[] = {"fields", "missingValues", NULL};
	static const char *const field_keys[] = {"name", "type", NULL};
	static const char *const dialect =
	"{\"header\": true, \"delimiter\": \",\", \"lineTerminator\": \"\\r\\n\", "
	"\"quoteChar\": \"\\\"\", \"doubleQuote\": true}";
	json_error_t jerr;
	json_t	   *want_dialect = json_loads(dialect, 0, &jerr);
	json_t	   *licenses = json_object_get(dp, "licenses");
	json_t	   *resources = json_object_get(dp, "resources");
	json_t	   *res;
	const char *k;
	size_t		i;

	if ((k = unknown_key(dp, top)) != NULL)
		nv_finding(r, "manifest_mismatch", "datapackage.json has a member \"%s\" the signed manifest does not cover", k);
	if (!string_is(json_object_get(dp, "$schema"), "https://datapackage.org/profiles/2.0/datapackage.json"))
		nv_finding(r, "manifest_mismatch", "datapackage.json's $schema is not the one the export writes");
	if (!json_is_array(licenses) || json_array_size(licenses) != 1 ||
		json_object_size(json_array_get(licenses, 0)) != 1)
		nv_finding(r, "manifest_mismatch", "datapackage.json's licenses are not the one licence the signed manifest names");
	json_array_foreach(resources, i, res)
	{
		const char *path = json_string_value(json_object_get(res, "path"));
		json_t	   *schema = json_object_get(res, "schema");
		json_t	   *fields = json_object_get(schema, "fields");
		json_t	   *missing = json_object_get(schema, "missingValues");
		json_t	   *fd;
		size_t		j;
		bool		bad = false;
		char	   *name;

		if (!json_is_object(res) || path == NULL)
			continue;			/* reported as unsigned_resource */
		for (j = 0; j < i; j++)
			if (string_is(json_object_get(json_array_get(resources, j), "path"), path))
				nv_finding(r, "manifest_mismatch", "%s: datapackage.json describes it twice", path);
		if ((k = unknown_key(res, res_keys)) != NULL)
			nv_finding(r, "manifest_mismatch", "%s: datapackage.json has a member \"%s\" the signed manifest does not cover", path, k);
		name = nv_strdup(path);
		if (strlen(name) > 4 && strcmp(name + strlen(name) - 4, ".csv") == 0)
			name[strlen(name) - 4] = '\0';
		if (!string_is(json_object_get(res, "name"), name) ||
			!string_is(json_object_get(res, "type"), "table") ||
			!string_is(json_object_get(res, "format"), "csv") ||
			!string_is(json_object_get(res, "mediatype"), "text/csv") ||
			!string_is(json_object_get(res, "encoding"), "utf-8") ||
			want_dialect == NULL || !json_equal(json_object_get(res, "dialect"), want_dialect))
			bad = true;
		free(name);
		if (!json_is_object(schema) || unknown_key(schema, schema_keys) != NULL ||
			!json_is_array(missing) || json_array_size(missing) != 1 ||
			!string_is(json_array_get(missing, 0), ""))
			bad = true;
		json_array_foreach(fields, j, fd)
			if (!json_is_object(fd) || unknown_key(fd, field_keys) != NULL)
			bad = true;
		if (bad)
			nv_finding(r, "manifest_mismatch", "%s: datapackage.json describes it otherwise than the export does (name, type, format, mediatype, encoding, dialect or schema)", path);
	}
	json_decref(want_dialect);
}

static const char *
license_of(json_t *dp)
{
	json_t	   *l = json_array_get(json_object_get(dp, "licenses"), 0);
	json_t	   *v = json_object_get(l, "name");

	if (!json_is_string(v))
		v = json_object_get(l, "path");
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Check the package in dir.  public_key NULL: the key the package names is
 * used, which proves integrity but not who signed (a note says so).
 * Returns false with err set only when datapackage.json cannot be read.
 */
bool
nv_datapackage_check(NvReport *r, const char *dir, const uint8_t *public_key,
					 NvError *err)
{
	char	   *path = nv_printf("%s/datapackage.json", dir);
	json_t	   *dp = nv_json_file(path, err);
	json_t	   *pg;
	json_t	   *resources;
	json_t	   *kanon;
	const char *manifest;
	uint8_t		sig[NV_SIG_LEN];
	uint8_t		key[NV_KEY_LEN];
	NvCheckpoint cp;
	bool		have_cp = false;
	char	   *text;
	char	   *line;
	char	   *save = NULL;
	ManifestResource *mr = NULL;
	int			nmr = 0;
	int			lineno = 0;
	size_t		i;
	json_t	   *res;

	free(path);
	r->source = "datapackage";
	if (dp == NULL)
		return false;
	pg = json_object_get(dp, "pg_notary");
	resources = json_object_get(dp, "resources");
	manifest = json_string_value(json_object_get(pg, "manifest"));
	if (!json_is_object(pg) || manifest == NULL ||
		!json_is_string(json_object_get(pg, "signature")) ||
		nv_hex_decode(json_string_value(json_object_get(pg, "signature")), sig, NV_SIG_LEN) != NV_SIG_LEN ||
		!json_is_string(json_object_get(pg, "public_key")) ||
		nv_hex_decode(json_string_value(json_object_get(pg, "public_key")), key, NV_KEY_LEN) != NV_KEY_LEN ||
		!json_is_array(resources))
	{
		nv_finding(r, "malformed_package", "datapackage.json has no well-formed \"pg_notary\" signature (manifest, signature, public_key) or no resources");
		json_decref(dp);
		return true;
	}
	if (public_key != NULL && memcmp(public_key, key, NV_KEY_LEN) != 0)
		nv_finding(r, "wrong_key", "the package names another public key than the one given");
	if (public_key == NULL)
	{
		nv_note(r, "checked with the public key the package names: this proves the files match what was signed, not who signed; pass --public-key");
		public_key = key;
	}
	if (crypto_sign_verify_detached(sig, (const unsigned char *) manifest, strlen(manifest),
									public_key) != 0)
		nv_finding(r, "bad_signature", "the manifest's signature does not verify with the public key: the manifest was changed or not signed by this key");

	/* the checkpoint the data was taken at */
	if (!json_is_object(json_object_get(pg, "checkpoint")) ||
		!nv_parse_checkpoint(json_object_get(pg, "checkpoint"), &cp, err))
	{
		nv_finding(r, "malformed_package", "the package's checkpoint is not a well-formed checkpoint document");
		err->msg[0] = '\0';
	}
	else
	{
		have_cp = true;
		r->checkpoints_checked++;
		nv_checkpoint_authentic(r, &cp, "the package's checkpoint", public_key);
	}
	kanon = json_object_get(pg, "k_anonymity");

	/* the manifest, line by line, against datapackage.json */
	text = nv_strdup(manifest);
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		char	   *sp = strchr(line, ' ');
		char	   *rest = sp ? sp + 1 : line + strlen(line);

		if (sp)
			*sp = '\0';
		lineno++;
		if (lineno == 1)
		{
			if (strcmp(line, NV_DATAPACKAGE_FORMAT) != 0)
			{
				nv_finding(r, "malformed_package", "the manifest is not \"%s\"", NV_DATAPACKAGE_FORMAT);
				break;
			}
			continue;
		}
		if (strcmp(line, "name") == 0 || strcmp(line, "title") == 0 ||
			strcmp(line, "description") == 0 || strcmp(line, "created") == 0 ||
			strcmp(line, "license") == 0)
		{
			json_t	   *v = manifest_value(rest);
			json_t	   *have;

			if (strcmp(line, "license") == 0)
			{
				const char *l = license_of(dp);

				have = l ? json_string(l) : NULL;
			}
			else
			{
				have = json_object_get(dp, line);
				json_incref(have);
			}
			if (v == NULL || !same_string(v, have))
				nv_finding(r, "manifest_mismatch", "datapackage.json's %s differs from the signed manifest's", line);
			json_decref(v);
			json_decref(have);
		}
		else if (strcmp(line, "checkpoint") == 0)
		{
			char		digest[65];
			char		kid[17];
			unsigned long long id;

			if (sscanf(rest, "%llu %64s %16s", &id, digest, kid) != 3)
				nv_finding(r, "malformed_package", "the manifest's checkpoint line is malformed");
			else if (have_cp)
			{
				char		d[65];
				char		k[17];

				nv_hex_encode(cp.digest, NV_HASH_LEN, d);
				nv_hex_encode(cp.key_id, NV_KEYID_LEN, k);
				if (id != cp.checkpoint_id || strcmp(d, digest) != 0 || strcmp(k, kid) != 0)
					nv_finding(r, "manifest_mismatch", "the package's checkpoint is not checkpoint %llu %s the manifest signs", id, digest);
			}
		}
		else if (strcmp(line, "resource") == 0)
		{
			ManifestResource *m;
			char		sha[65];
			unsigned long long b,
						rows;
			int			consumed = 0;
			json_t	   *p;

			if (sscanf(rest, "%64s %llu %llu %n", sha, &b, &rows, &consumed) != 3 || consumed == 0 ||
				!json_is_string(p = manifest_value(rest + consumed)))
			{
				nv_finding(r, "malformed_package", "manifest line %d is not a well-formed resource", lineno);
				break;
			}
			mr = nv_realloc(mr, sizeof(ManifestResource) * (size_t) (nmr + 1));
			m = &mr[nmr++];
			memset(m, 0, sizeof(*m));
			m->path = nv_strdup(json_string_value(p));
			json_decref(p);
			memcpy(m->sha256, sha, 65);
			m->bytes = b;
			m->rows = rows;
			m->resource = find_resource(resources, m->path);
		}
		else if (strcmp(line, "field") == 0 && nmr > 0)
		{
			ManifestResource *m = &mr[nmr - 1];
			char	   *sp2 = strchr(rest, ' ');
			json_t	   *nm = sp2 ? manifest_value(sp2 + 1) : NULL;

			if (sp2 == NULL || !json_is_string(nm))
			{
				nv_finding(r, "malformed_package", "manifest line %d is not a well-formed field", lineno);
				json_decref(nm);
				break;
			}
			*sp2 = '\0';
			m->names = nv_realloc(m->names, sizeof(char *) * (size_t) (m->nfields + 1));
			m->types = nv_realloc(m->types, sizeof(char *) * (size_t) (m->nfields + 1));
			m->names[m->nfields] = nv_strdup(json_string_value(nm));
			m->types[m->nfields++] = nv_strdup(rest);
			json_decref(nm);
		}
		else if (strcmp(line, "k_anonymity") == 0 && nmr > 0)
		{
			json_t	   *v = manifest_value(rest);
			json_t	   *name = json_object_get(mr[nmr - 1].resource, "name");
			json_t	   *have = json_is_string(name) ?
				json_object_get(kanon, json_string_value(name)) : NULL;

			if (v == NULL || have == NULL || !json_equal(v, have))
				nv_finding(r, "manifest_mismatch", "%s: datapackage.json's k-anonymity figures differ from the signed manifest's",
						   mr[nmr - 1].path);
			json_decref(v);
		}
		else
			nv_finding(r, "malformed_package", "manifest line %d is not understood", lineno);
	}
	free(text);

	for (i = 0; i < (size_t) nmr; i++)
		check_resource(r, dir, &mr[i], kanon);
	check_unsigned_members(r, dp);
	json_array_foreach(resources, i, res)
	{
		const char *p = json_string_value(json_object_get(res, "path"));
		int			j;
		bool		found = false;

		for (j = 0; j < nmr; j++)
			if (p != NULL && strcmp(p, mr[j].path) == 0)
				found = true;
		if (!found)
			nv_finding(r, "unsigned_resource", "resource %zu (%s) of datapackage.json is not in the signed manifest",
					   i + 1, p ? p : "no path");
	}
	for (i = 0; i < (size_t) nmr; i++)
	{
		int			j;

		for (j = 0; j < mr[i].nfields; j++)
		{
			free(mr[i].names[j]);
			free(mr[i].types[j]);
		}
		free(mr[i].names);
		free(mr[i].types);
		free(mr[i].path);
	}
	free(mr);
	if (have_cp)
		nv_checkpoint_free(&cp);
	json_decref(dp);
	return true;
}
