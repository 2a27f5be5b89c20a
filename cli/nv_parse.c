/*-------------------------------------------------------------------------
 *
 * nv_parse.c
 *		Strict readers of the JSON documents of docs/checkpoints.md: export
 *		lines (layouts and entries) and checkpoint documents.
 *
 * Rules: a member the format requires must be present with its JSON type
 * (numbers must be integers within range); members not known are ignored.
 * A hash given as valid hex of the wrong length is kept, flagged, because
 * the database can hold such a value (a tampered bytea) and verification
 * reports it as a finding; anything the database could not have produced
 * (not hex, wrong JSON type, missing member) is an error of the input.
 * Arrays of the database (text[], smallint[]) may be nested when the
 * array has several dimensions; they are flattened in storage order, as
 * PostgreSQL's deconstruct_array does.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static json_t *
member(json_t *o, const char *key, bool nullable, NvError *err)
{
	json_t	   *v = json_object_get(o, key);

	if (v == NULL)
	{
		nv_error(err, "member \"%s\" is missing", key);
		return NULL;
	}
	if (json_is_null(v) && !nullable)
	{
		nv_error(err, "member \"%s\" is null", key);
		return NULL;
	}
	return v;
}

/* An integer member within [min, max]; *isnull when nullable and null. */
static bool
get_int(json_t *o, const char *key, bool nullable, int64_t min, int64_t max,
		int64_t *out, bool *isnull, NvError *err)
{
	json_t	   *v = member(o, key, nullable, err);

	if (v == NULL)
		return false;
	if (isnull)
		*isnull = json_is_null(v);
	if (json_is_null(v))
		return true;
	if (!json_is_integer(v))
	{
		nv_error(err, "member \"%s\" is not an integer", key);
		return false;
	}
	*out = (int64_t) json_integer_value(v);
	if (*out < min || *out > max)
	{
		nv_error(err, "member \"%s\" is out of range (%" PRId64 ")", key, *out);
		return false;
	}
	return true;
}

/* A string member; NULL out for a nullable null. */
static bool
get_str(json_t *o, const char *key, bool nullable, const char **out,
		NvError *err)
{
	json_t	   *v = member(o, key, nullable, err);

	if (v == NULL)
		return false;
	if (json_is_null(v))
	{
		*out = NULL;
		return true;
	}
	if (!json_is_string(v))
	{
		nv_error(err, "member \"%s\" is not a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/*
 * A hash member: hex.  *ok says whether it is exactly 32 bytes; exact
 * demands it (documents we define, where any other length is malformed).
 */
static bool
get_hash(json_t *o, const char *key, bool nullable, bool exact,
		 bool *present, bool *ok, uint8_t *out, NvError *err)
{
	const char *s;

	if (!get_str(o, key, nullable, &s, err))
		return false;
	if (present)
		*present = (s != NULL);
	if (s == NULL)
		return true;
	if (!nv_is_hex(s))
	{
		nv_error(err, "member \"%s\" is not hex", key);
		return false;
	}
	*ok = nv_hex_decode(s, out, NV_HASH_LEN) == NV_HASH_LEN;
	if (exact && !*ok)
	{
		nv_error(err, "member \"%s\" is not %d bytes of hex", key, NV_HASH_LEN);
		return false;
	}
	return true;
}

/* Fixed-length hex (key ids, signatures). */
static bool
get_hex_exact(json_t *o, const char *key, uint8_t *out, size_t len,
			  NvError *err)
{
	const char *s;

	if (!get_str(o, key, false, &s, err))
		return false;
	if (strlen(s) != 2 * len || nv_hex_decode(s, out, len) != (long) len)
	{
		nv_error(err, "member \"%s\" is not %zu bytes of hex", key, len);
		return false;
	}
	return true;
}

/* Flatten a (possibly nested) array of strings and nulls. */
static bool
flatten_text(json_t *a, const char ***vals, int *n, int *cap, int depth,
			 const char *key, NvError *err)
{
	size_t		i;
	json_t	   *x;

	if (depth > 6)
	{
		nv_error(err, "member \"%s\" is nested too deeply", key);
		return false;
	}
	json_array_foreach(a, i, x)
	{
		if (json_is_array(x))
		{
			if (!flatten_text(x, vals, n, cap, depth + 1, key, err))
				return false;
			continue;
		}
		if (!json_is_string(x) && !json_is_null(x))
		{
			nv_error(err, "member \"%s\" holds something other than strings", key);
			return false;
		}
		if (*n == *cap)
		{
			*cap = *cap ? *cap * 2 : 8;
			*vals = nv_realloc((void *) *vals, sizeof(char *) * (size_t) *cap);
		}
		(*vals)[(*n)++] = json_is_null(x) ? NULL : json_string_value(x);
	}
	return true;
}

static bool
get_text_array(json_t *o, const char *key, bool nullable, bool *present,
			   const char ***vals, int *n, NvError *err)
{
	json_t	   *v = member(o, key, nullable, err);
	int			cap = 0;

	*vals = NULL;
	*n = 0;
	if (v == NULL)
		return false;
	if (present)
		*present = !json_is_null(v);
	if (json_is_null(v))
		return true;
	if (!json_is_array(v))
	{
		nv_error(err, "member \"%s\" is not an array", key);
		return false;
	}
	if (!flatten_text(v, vals, n, &cap, 0, key, err))
	{
		free((void *) *vals);
		*vals = NULL;
		return false;
	}
	return true;
}

/* Flatten a (possibly nested) smallint[]; a NULL element reads as 0. */
static bool
flatten_small(json_t *a, int32_t **vals, int *n, int *cap, int depth,
			  const char *key, NvError *err)
{
	size_t		i;
	json_t	   *x;

	if (depth > 6)
	{
		nv_error(err, "member \"%s\" is nested too deeply", key);
		return false;
	}
	json_array_foreach(a, i, x)
	{
		int64_t		v = 0;

		if (json_is_array(x))
		{
			if (!flatten_small(x, vals, n, cap, depth + 1, key, err))
				return false;
			continue;
		}
		if (json_is_integer(x))
		{
			v = json_integer_value(x);
			if (v < INT16_MIN || v > INT16_MAX)
			{
				nv_error(err, "member \"%s\" holds a value out of smallint range", key);
				return false;
			}
		}
		else if (!json_is_null(x))
		{
			nv_error(err, "member \"%s\" holds something other than integers", key);
			return false;
		}
		if (*n == *cap)
		{
			*cap = *cap ? *cap * 2 : 8;
			*vals = nv_realloc(*vals, sizeof(int32_t) * (size_t) *cap);
		}
		(*vals)[(*n)++] = (int32_t) v;
	}
	return true;
}

static bool
get_small_array(json_t *o, const char *key, int32_t **vals, int *n,
				NvError *err)
{
	json_t	   *v = member(o, key, false, err);
	int			cap = 0;

	*vals = NULL;
	*n = 0;
	if (v == NULL)
		return false;
	if (!json_is_array(v))
	{
		nv_error(err, "member \"%s\" is not an array", key);
		return false;
	}
	if (!flatten_small(v, vals, n, &cap, 0, key, err))
	{
		free(*vals);
		*vals = NULL;
		return false;
	}
	return true;
}

/* The "type" of an export line, or NULL. */
const char *
nv_line_type(json_t *o)
{
	json_t	   *t = json_object_get(o, "type");

	return json_is_string(t) ? json_string_value(t) : NULL;
}

/* ---- layouts ------------------------------------------------------------- */

bool
nv_parse_layout(json_t *o, NvLayout *l, NvError *err)
{
	int64_t		v;
	const char *s;
	const char **names = NULL;
	const char **types = NULL;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(o))
	{
		nv_error(err, "a layout is not a JSON object");
		return false;
	}
	if (!get_int(o, "layout_id", false, INT64_MIN, INT64_MAX, &l->layout_id, NULL, err) ||
		!get_int(o, "table_id", false, INT32_MIN, INT32_MAX, &v, NULL, err))
		return false;
	l->table_id = (int32_t) v;
	if (!get_str(o, "layout_digest", false, &s, err))
		return false;
	if (!nv_is_hex(s))
	{
		nv_error(err, "member \"layout_digest\" is not hex");
		return false;
	}
	l->stored_ok = nv_hex_decode(s, l->stored_digest, NV_HASH_LEN) == NV_HASH_LEN;
	if (!get_str(o, "schema_name", false, &s, err))
		return false;
	l->schema_name = (char *) s;
	if (!get_str(o, "table_name", false, &s, err))
		return false;
	l->table_name = (char *) s;
	if (!get_text_array(o, "column_names", false, NULL, &names, &l->ncols, err))
		goto fail;
	if (!get_text_array(o, "column_types", false, NULL, &types, &l->ntypes, err))
		goto fail;
	l->names = (char **) names;
	l->types = (char **) types;
	if (!get_small_array(o, "key_columns", &l->keys, &l->nkeys, err))
		goto fail;
	if (!get_small_array(o, "personal_columns", &l->personal, &l->npersonal, err))
		goto fail;
	return true;

fail:
	free((void *) names);
	free((void *) types);
	free(l->keys);
	memset(l, 0, sizeof(*l));
	return false;
}

void
nv_layout_free(NvLayout *l)
{
	free(l->names);
	free(l->types);
	free(l->keys);
	free(l->personal);
	memset(l, 0, sizeof(*l));
}

/* ---- entries ------------------------------------------------------------- */

bool
nv_parse_entry(json_t *o, NvEntry *e, NvError *err)
{
	int64_t		v;
	bool		isnull;
	bool		present;
	const char *s;

	memset(e, 0, sizeof(*e));
	if (!json_is_object(o))
	{
		nv_error(err, "an entry is not a JSON object");
		return false;
	}
	if (!get_int(o, "seq", false, INT64_MIN, INT64_MAX, &e->seq, NULL, err) ||
		!get_int(o, "chain_id", false, INT32_MIN, INT32_MAX, &v, NULL, err))
		return false;
	e->chain_id = (int32_t) v;
	if (!get_int(o, "chain_pos", false, INT64_MIN, INT64_MAX, &e->chain_pos, NULL, err) ||
		!get_hash(o, "prev_hash", false, false, NULL, &e->prev_ok, e->prev_hash, err) ||
		!get_hash(o, "entry_hash", false, false, NULL, &e->hash_ok, e->entry_hash, err) ||
		!get_str(o, "op", false, &e->op, err))
		return false;

	/* xid: a decimal string of a 64-bit transaction id */
	if (!get_str(o, "xid", false, &s, err))
		return false;
	{
		char	   *end;

		if (*s < '0' || *s > '9' || strlen(s) > 20)
		{
			nv_error(err, "member \"xid\" is not a decimal string");
			return false;
		}
		errno = 0;
		e->xid = strtoull(s, &end, 10);
		if (*end != '\0' || errno != 0)
		{
			nv_error(err, "member \"xid\" is not a 64-bit decimal string");
			return false;
		}
	}
	if (!get_int(o, "logged_at_us", false, INT64_MIN, INT64_MAX, &e->logged_at_us, NULL, err) ||
		!get_str(o, "session_user_name", false, &e->session_user_name, err) ||
		!get_str(o, "current_user_name", false, &e->current_user_name, err) ||
		!get_str(o, "application_name", true, &e->application_name, err) ||
		!get_str(o, "client_addr", true, &e->client_addr, err))
		return false;
	if (!get_int(o, "table_id", true, INT32_MIN, INT32_MAX, &v, &isnull, err))
		return false;
	e->has_table = !isnull;
	e->table_id = isnull ? 0 : (int32_t) v;
	if (!get_int(o, "layout_id", true, INT64_MIN, INT64_MAX, &e->layout_id, &isnull, err))
		return false;
	e->has_layout = !isnull;
	if (!get_text_array(o, "row_image", true, &e->has_image, &e->values, &e->nvalues, err))
		return false;

	if (!get_str(o, "row_salts", true, &s, err))
		goto fail;
	if (s != NULL)
	{
		size_t		n = strlen(s) / 2;

		if (!nv_is_hex(s))
		{
			nv_error(err, "member \"row_salts\" is not hex");
			goto fail;
		}
		e->has_salts = true;
		e->salts = nv_malloc(n);
		e->salts_len = (size_t) nv_hex_decode(s, e->salts, n);
	}
	if (!get_hash(o, "old_digest", true, false, &present, &e->old_ok, e->old_digest, err))
		goto fail;
	e->has_old = present;
	if (!get_str(o, "detail", true, &e->detail, err))
		goto fail;

	/*
	 * redacted (docs/redaction.md): hex of (u16 position, commitment)
	 * records, or null.  An export of a ledger older than redaction has no
	 * such member: nothing was redacted.  Any whole number of bytes is
	 * kept; verification judges the records.
	 */
	if (json_object_get(o, "redacted") != NULL)
	{
		if (!get_str(o, "redacted", true, &s, err))
			goto fail;
		if (s != NULL)
		{
			size_t		n = strlen(s) / 2;

			if (!nv_is_hex(s))
			{
				nv_error(err, "member \"redacted\" is not hex");
				goto fail;
			}
			e->has_redacted = true;
			e->redacted = nv_malloc(n);
			e->redacted_len = (size_t) nv_hex_decode(s, e->redacted, n);
		}
	}

	/*
	 * format_version (docs/format.md): how entry_hash is computed.  An
	 * export older than format 2 has no such member: format 1.  Any integer
	 * is kept, and null; verification judges them (malformed_entry).
	 */
	e->format_version = 1;
	if (json_object_get(o, "format_version") != NULL)
	{
		if (!get_int(o, "format_version", true, INT64_MIN, INT64_MAX,
					 &e->format_version, &e->format_null, err))
			goto fail;
	}
	return true;

fail:
	nv_entry_free(e);
	return false;
}

void
nv_entry_free(NvEntry *e)
{
	free((void *) e->values);
	free(e->salts);
	free(e->redacted);
	e->values = NULL;
	e->salts = NULL;
	e->redacted = NULL;
}

/* ---- checkpoints --------------------------------------------------------- */

/*
 * Read a checkpoint document.  The strings it keeps are copied, so the
 * struct outlives the JSON.  Any deviation from docs/checkpoints.md is an
 * error here; callers report it as malformed_checkpoint.
 */
bool
nv_parse_checkpoint(json_t *o, NvCheckpoint *cp, NvError *err)
{
	const char *s;
	int64_t		v;
	json_t	   *chains;
	json_t	   *c;
	size_t		i;
	bool		present;
	bool		ok;

	memset(cp, 0, sizeof(*cp));
	if (!json_is_object(o))
	{
		nv_error(err, "the checkpoint is not a JSON object");
		return false;
	}
	if (!get_str(o, "format", false, &s, err))
		return false;
	if (strcmp(s, NV_CHECKPOINT_FORMAT) != 0)
	{
		nv_error(err, "format is \"%.60s\", not \"%s\"", s, NV_CHECKPOINT_FORMAT);
		return false;
	}
	if (!get_int(o, "checkpoint_id", false, 0, INT64_MAX, &v, NULL, err))
		return false;
	cp->checkpoint_id = (uint64_t) v;
	if (!get_str(o, "system_identifier", false, &s, err))
		return false;
	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
	{
		nv_error(err, "member \"system_identifier\" is not a decimal string");
		return false;
	}
	if (!get_int(o, "timeline", false, 0, UINT32_MAX, &v, NULL, err))
		return false;
	cp->timeline = (uint32_t) v;
	if (!get_str(o, "database", false, &s, err))
		return false;
	if (!get_int(o, "created_at_us", false, INT64_MIN, INT64_MAX, &cp->created_at_us, NULL, err) ||
		!get_int(o, "ledger_seq", false, 0, INT64_MAX, &v, NULL, err))
		return false;
	cp->ledger_seq = (uint64_t) v;
	if (!get_int(o, "entries", false, 0, INT64_MAX, &v, NULL, err))
		return false;
	cp->entries = (uint64_t) v;

	chains = member(o, "chains", false, err);
	if (chains == NULL)
		return false;
	if (!json_is_array(chains))
	{
		nv_error(err, "member \"chains\" is not an array");
		return false;
	}
	if (json_array_size(chains) > INT32_MAX / 2)
	{
		nv_error(err, "member \"chains\" is too long");
		return false;
	}
	cp->chains = nv_malloc(sizeof(NvChainHead) * (json_array_size(chains) + 1));
	json_array_foreach(chains, i, c)
	{
		NvChainHead *h = &cp->chains[i];

		if (!json_is_object(c))
		{
			nv_error(err, "chains[%zu] is not an object", i);
			goto fail;
		}
		if (!get_int(c, "chain_id", false, 0, UINT32_MAX, &v, NULL, err))
			goto chainfail;
		h->chain_id = (uint32_t) v;
		if (!get_int(c, "position", false, 0, INT64_MAX, &v, NULL, err))
			goto chainfail;
		h->position = (uint64_t) v;
		if (!get_hash(c, "hash", false, true, NULL, &ok, h->hash, err))
			goto chainfail;
		if (i > 0 && h->chain_id <= cp->chains[i - 1].chain_id)
		{
			nv_error(err, "chains are not in ascending order of chain_id (chain %u)", h->chain_id);
			goto fail;
		}
		cp->nchains++;
		continue;
chainfail:
		{
			char		msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "chains[%zu]: %.900s", i, err->msg);
			nv_error(err, "%s", msg);
		}
		goto fail;
	}
	if (!get_hash(o, "entries_root", false, true, NULL, &ok, cp->entries_root, err) ||
		!get_hash(o, "previous", true, true, &present, &ok, cp->previous, err))
		goto fail;
	cp->has_previous = present;
	if (!get_hash(o, "digest", false, true, NULL, &ok, cp->digest, err) ||
		!get_hex_exact(o, "key_id", cp->key_id, NV_KEYID_LEN, err) ||
		!get_hex_exact(o, "signature", cp->signature, NV_SIG_LEN, err))
		goto fail;

	/* copies last: nothing to undo above but chains */
	get_str(o, "system_identifier", false, &s, err);
	cp->system_identifier = nv_strdup(s);
	get_str(o, "database", false, &s, err);
	cp->database = nv_strdup(s);
	return true;

fail:
	free(cp->chains);
	memset(cp, 0, sizeof(*cp));
	return false;
}

void
nv_checkpoint_free(NvCheckpoint *cp)
{
	free(cp->chains);
	free(cp->system_identifier);
	free(cp->database);
	memset(cp, 0, sizeof(*cp));
}
