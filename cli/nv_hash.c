/*-------------------------------------------------------------------------
 *
 * nv_hash.c
 *		The hashed byte format of pg_notary, written again from
 *		docs/format.md and docs/checkpoints.md: layout digests, column
 *		commitments, image digests, entry hashes, checkpoint digests and
 *		key ids.  Also hex and small allocation helpers.
 *
 * Written independently of the extension's src/format.c: the only shared
 * thing is the document.  Every hash is BLAKE2b-256 (libsodium
 * crypto_generichash, no key), begun with its domain tag
 * str("pg_notary/<what>/v1"), or ".../v2" for format 2's entry hash and
 * seal; integers are big-endian; strings are a u32
 * byte length and UTF-8 bytes (the inputs here are already UTF-8: JSON).
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

typedef crypto_generichash_state Hasher;

void
nv_error(NvError *err, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* Out of memory is the one condition not worth a graceful path. */
void *
nv_malloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fputs("notary-verify: out of memory\n", stderr);
		exit(NV_EXIT_ERROR);
	}
	return p;
}

void *
nv_realloc(void *p, size_t n)
{
	void	   *q = realloc(p, n ? n : 1);

	if (q == NULL)
	{
		fputs("notary-verify: out of memory\n", stderr);
		exit(NV_EXIT_ERROR);
	}
	return q;
}

char *
nv_strdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *d = nv_malloc(n);

	memcpy(d, s, n);
	return d;
}

char *
nv_printf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return nv_strdup("");
	s = nv_malloc((size_t) n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* True if s is an even number of hex digits (possibly none). */
bool
nv_is_hex(const char *s)
{
	size_t		n = 0;

	for (; s[n]; n++)
		if (hexval(s[n]) < 0)
			return false;
	return n % 2 == 0;
}

/*
 * Decode hex into out (at most outlen bytes); returns the byte count, or
 * -1 if s is not hex or does not fit.
 */
long
nv_hex_decode(const char *hex, uint8_t *out, size_t outlen)
{
	size_t		n = strlen(hex);
	size_t		i;

	if (n % 2 != 0 || n / 2 > outlen)
		return -1;
	for (i = 0; i < n / 2; i++)
	{
		int			hi = hexval(hex[2 * i]);
		int			lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t) (hi << 4 | lo);
	}
	return (long) (n / 2);
}

/* Lower-case hex; out must hold 2 * len + 1 bytes. */
void
nv_hex_encode(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/* ---- primitives of docs/format.md ---------------------------------------- */

static void
put_bytes(Hasher *h, const void *p, size_t n)
{
	crypto_generichash_update(h, (const unsigned char *) p, n);
}

static void
put_u8(Hasher *h, uint8_t v)
{
	put_bytes(h, &v, 1);
}

static void
put_u16(Hasher *h, uint16_t v)
{
	uint8_t		b[2] = {(uint8_t) (v >> 8), (uint8_t) v};

	put_bytes(h, b, 2);
}

static void
put_u32(Hasher *h, uint32_t v)
{
	uint8_t		b[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16),
	(uint8_t) (v >> 8), (uint8_t) v};

	put_bytes(h, b, 4);
}

static void
put_u64(Hasher *h, uint64_t v)
{
	uint8_t		b[8];
	int			i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t) (v >> (56 - 8 * i));
	put_bytes(h, b, 8);
}

/* str(s): u32 length, UTF-8 bytes. */
static void
put_str(Hasher *h, const char *s)
{
	size_t		n = strlen(s);

	put_u32(h, (uint32_t) n);
	put_bytes(h, s, n);
}

/* opt(s): u8 0 for NULL, else u8 1 || str(s). */
static void
put_opt(Hasher *h, const char *s)
{
	if (s == NULL)
		put_u8(h, 0);
	else
	{
		put_u8(h, 1);
		put_str(h, s);
	}
}

/* Start a hash with its tag: str("pg_notary/" what "/v" version). */
static void
begin_v(Hasher *h, const char *what, int version)
{
	char		tag[64];

	snprintf(tag, sizeof(tag), "pg_notary/%s/v%d", what, version);
	crypto_generichash_init(h, NULL, 0, NV_HASH_LEN);
	put_str(h, tag);
}

/* tag(what): every hash but format 2's entry hash and seal. */
static void
begin(Hasher *h, const char *what)
{
	begin_v(h, what, 1);
}

static void
finish(Hasher *h, uint8_t *out)
{
	crypto_generichash_final(h, out, NV_HASH_LEN);
}

/* ---- the ledger format --------------------------------------------------- */

/*
 * Recompute a layout's digest from its content and compare it with the
 * stored one.  A layout whose names and types do not pair up, or that has
 * a NULL name or type, cannot be hashed: it is not well formed, and its
 * digest is taken as 32 zero bytes (so every image under it fails too).
 */
void
nv_layout_check(NvLayout *l)
{
	Hasher		h;
	int			i;

	l->well_formed = true;
	l->why = NULL;
	if (l->ntypes != l->ncols)
	{
		l->well_formed = false;
		l->why = "its column names and column types differ in number";
	}
	for (i = 0; l->well_formed && i < l->ncols; i++)
		if (l->names[i] == NULL || l->types[i] == NULL)
		{
			l->well_formed = false;
			l->why = "a column name or type is null";
		}
	if (!l->well_formed)
	{
		memset(l->digest, 0, NV_HASH_LEN);
		l->digest_ok = false;
		return;
	}

	begin(&h, "layout");
	put_u32(&h, (uint32_t) l->table_id);
	put_str(&h, l->schema_name);
	put_str(&h, l->table_name);
	put_u32(&h, (uint32_t) l->ncols);
	for (i = 0; i < l->ncols; i++)
	{
		put_str(&h, l->names[i]);
		put_str(&h, l->types[i]);
	}
	/* positions are hashed 0-based, as u16 */
	put_u32(&h, (uint32_t) l->nkeys);
	for (i = 0; i < l->nkeys; i++)
		put_u16(&h, (uint16_t) (l->keys[i] - 1));
	put_u32(&h, (uint32_t) l->npersonal);
	for (i = 0; i < l->npersonal; i++)
		put_u16(&h, (uint16_t) (l->personal[i] - 1));
	finish(&h, l->digest);
	l->digest_ok = l->stored_ok &&
		memcmp(l->digest, l->stored_digest, NV_HASH_LEN) == 0;
}

/* commitment(v, s) = H(tag("column") || (u8 0 | u8 1 || str(v)) || u32 len(s) || s) */
void
nv_column_commitment(const char *value, const uint8_t *salt, size_t saltlen,
					 uint8_t *out)
{
	Hasher		h;

	begin(&h, "column");
	if (value == NULL)
		put_u8(&h, 0);
	else
	{
		put_u8(&h, 1);
		put_str(&h, value);
	}
	put_u32(&h, (uint32_t) saltlen);
	if (saltlen > 0)
		put_bytes(&h, salt, saltlen);
	finish(&h, out);
}

int
nv_redacted_position(const NvEntry *e, size_t k)
{
	return ((int) e->redacted[k] << 8 | e->redacted[k + 1]) & ~NV_SEALED_FLAG;
}

static bool
redacted_sealed(const NvEntry *e, size_t k)
{
	return (e->redacted[k] << 8 & NV_SEALED_FLAG) != 0;
}

/*
 * The record a redaction kept for column i (0-based): the first (u16
 * position, commitment) record naming i, or -1.
 */
static long
redacted_record(const NvEntry *e, int i)
{
	size_t		k;

	for (k = 0; e->has_redacted && k + NV_REDACTED_LEN <= e->redacted_len; k += NV_REDACTED_LEN)
		if (nv_redacted_position(e, k) == i)
			return (long) k;
	return -1;
}

/*
 * Is an entry's redacted field well formed for its row image
 * (docs/redaction.md, docs/format.md "Sealed columns")?  A whole, non-zero
 * number of 34-byte records, positions (the low 15 bits) strictly
 * ascending and within the image, no value left at a redacted position,
 * and sealed records only in format 2, with 32 zero bytes for commitment.  Returns NULL, or why not.  The
 * caller has checked that the image has as many values as its layout has
 * columns.
 */
static const char *
redacted_why(const NvEntry *e)
{
	size_t		k;
	int			last = -1;

	if (e->redacted_len == 0 || e->redacted_len % NV_REDACTED_LEN != 0)
		return "the redacted field is not a whole number of (position, commitment) records";
	for (k = 0; k < e->redacted_len; k += NV_REDACTED_LEN)
	{
		int			pos = nv_redacted_position(e, k);

		if (redacted_sealed(e, k) && e->format_version != 2)
			return "a format-1 entry has a sealed column";
		if (redacted_sealed(e, k) && !sodium_is_zero(e->redacted + k + 2, NV_HASH_LEN))
			return "a sealed column's record is not followed by 32 zero bytes";
		if (pos <= last || pos >= e->nvalues)
			return "a redacted position is out of range or out of order";
		if (e->values[pos] != NULL)
			return "a redacted column still holds a value";
		last = pos;
	}
	return NULL;
}

/*
 * The commitment of column i: the one a redaction kept, else computed
 * from its value with the p-th salt when it is the p-th personal column
 * and row_salts has that salt, else with an empty salt.
 */
static void
commitment_of(const NvEntry *e, int i, bool is_personal, int p, uint8_t *out)
{
	long		k = redacted_record(e, i);
	size_t		nsalts = e->has_salts ? e->salts_len / NV_SALT_LEN : 0;

	if (k >= 0)
		memcpy(out, e->redacted + k + 2, NV_HASH_LEN);
	else if (is_personal && (size_t) p < nsalts)
		nv_column_commitment(e->values[i], e->salts + (size_t) p * NV_SALT_LEN,
							 NV_SALT_LEN, out);
	else
		nv_column_commitment(e->values[i], NULL, 0, out);
}

/* Format 1: H(tag("image") || layout_digest || u32 n || commitment_1..n) */
static void
image_digest_v1(const NvEntry *e, const uint8_t *ldigest,
				const int32_t *personal, int npersonal, uint8_t *out)
{
	Hasher		h;
	int			i;
	int			p = 0;

	begin(&h, "image");
	put_bytes(&h, ldigest, NV_HASH_LEN);
	put_u32(&h, (uint32_t) e->nvalues);
	for (i = 0; i < e->nvalues; i++)
	{
		uint8_t		c[NV_HASH_LEN];
		bool		is_personal = p < npersonal && personal[p] - 1 == i;

		commitment_of(e, i, is_personal, p, c);
		if (is_personal)
			p++;
		put_bytes(&h, c, NV_HASH_LEN);
	}
	finish(&h, out);
}

/* Format 2: each value inline, u8 0 | u8 1 || str(v) | u8 2 || commitment | u8 3 */
static void
put_image_v2(Hasher *h, const NvEntry *e, const uint8_t *ldigest,
			 const int32_t *personal, int npersonal)
{
	int			i;
	int			p = 0;

	put_bytes(h, ldigest, NV_HASH_LEN);
	put_u32(h, (uint32_t) e->nvalues);
	for (i = 0; i < e->nvalues; i++)
	{
		long		k = redacted_record(e, i);
		bool		is_personal = p < npersonal && personal[p] - 1 == i;

		if (k >= 0 && redacted_sealed(e, (size_t) k))
			put_u8(h, 3);		/* only in a seal: a sealed entry has no hash */
		else if (k >= 0 || is_personal)
		{
			uint8_t		c[NV_HASH_LEN];

			commitment_of(e, i, is_personal, p, c);
			put_u8(h, 2);
			put_bytes(h, c, NV_HASH_LEN);
		}
		else if (e->values[i] == NULL)
			put_u8(h, 0);
		else
		{
			put_u8(h, 1);
			put_str(h, e->values[i]);
		}
		if (is_personal)
			p++;
	}
}

/*
 * Every byte an entry hash hashes after its tag (docs/format.md "Ledger
 * entries", "Format 2"): format 1 binds the image through its digest,
 * format 2 hashes it inline.  ldigest NULL: no image.
 */
static void
put_entry(Hasher *h, const NvEntry *e, const uint8_t *ldigest,
		  const int32_t *personal, int npersonal)
{
	put_bytes(h, e->prev_hash, NV_HASH_LEN);
	put_u64(h, (uint64_t) e->seq);
	put_u32(h, (uint32_t) e->chain_id);
	put_u64(h, (uint64_t) e->chain_pos);
	put_str(h, e->op);
	put_u64(h, e->xid);
	put_u64(h, (uint64_t) e->logged_at_us);
	put_str(h, e->session_user_name);
	put_str(h, e->current_user_name);
	put_opt(h, e->application_name);
	put_opt(h, e->client_addr);
	if (e->has_table)
	{
		put_u8(h, 1);
		put_u32(h, (uint32_t) e->table_id);
	}
	else
		put_u8(h, 0);
	if (ldigest == NULL)
		put_u8(h, 0);
	else if (e->format_version == 2)
	{
		put_u8(h, 1);
		put_image_v2(h, e, ldigest, personal, npersonal);
	}
	else
	{
		uint8_t		image[NV_HASH_LEN];

		image_digest_v1(e, ldigest, personal, npersonal, image);
		put_u8(h, 1);
		put_bytes(h, image, NV_HASH_LEN);
	}
	if (e->has_old)
	{
		put_u8(h, 1);
		put_bytes(h, e->old_digest, NV_HASH_LEN);
	}
	else
		put_u8(h, 0);
	put_opt(h, e->detail);
}

bool
nv_entry_compute(const NvEntry *e, const uint8_t *ldigest, int ncols,
				 const int32_t *personal, int npersonal, bool *sealed,
				 bool *redacted_ok, uint8_t *out, NvError *why)
{
	Hasher		h;
	size_t		k;

	*sealed = false;
	if (redacted_ok)
		*redacted_ok = false;
	if (e->format_null)
	{
		nv_error(why, "format_version is null");
		return false;
	}
	if (e->format_version != 1 && e->format_version != 2)
	{
		nv_error(why, "format_version %" PRId64 " is neither 1 nor 2", e->format_version);
		return false;
	}
	if (ldigest != NULL)
	{
		if (!e->has_image)
		{
			nv_error(why, "the entry has a layout but no row image");
			return false;
		}
		if (e->nvalues != ncols)
		{
			nv_error(why, "the row image has %d values, its layout %d columns", e->nvalues, ncols);
			return false;
		}
		if (e->has_redacted)
		{
			const char *bad = redacted_why(e);

			if (bad != NULL)
			{
				nv_error(why, "%s", bad);
				return false;
			}
			if (redacted_ok)
				*redacted_ok = true;
			for (k = 0; k < e->redacted_len; k += NV_REDACTED_LEN)
				*sealed = *sealed || redacted_sealed(e, k);
		}
		if (e->has_salts && e->salts_len != (size_t) npersonal * NV_SALT_LEN)
		{
			nv_error(why, "the salts do not fit the layout's personal columns");
			*sealed = false;
			return false;
		}
	}
	else if (e->has_image)
	{
		nv_error(why, "the entry has a row image but no layout");
		return false;
	}
	if (e->has_old && !e->old_ok)
	{
		nv_error(why, "old_digest is not 32 bytes");
		*sealed = false;
		return false;
	}
	if (*sealed)
	{
		/* seal = H(tag2("seal") || entry_hash as stored || M) */
		begin_v(&h, "seal", 2);
		put_bytes(&h, e->entry_hash, NV_HASH_LEN);
	}
	else
		begin_v(&h, "entry", (int) e->format_version);
	put_entry(&h, e, ldigest, personal, npersonal);
	finish(&h, out);
	return true;
}

/* digest of a checkpoint, docs/checkpoints.md "The checkpoint document". */
void
nv_checkpoint_digest(const NvCheckpoint *cp, uint8_t *out)
{
	Hasher		h;
	int			i;

	begin(&h, "checkpoint");
	put_str(&h, NV_CHECKPOINT_FORMAT);
	put_u64(&h, cp->checkpoint_id);
	put_str(&h, cp->system_identifier);
	put_u32(&h, cp->timeline);
	put_str(&h, cp->database);
	put_u64(&h, (uint64_t) cp->created_at_us);
	put_u64(&h, cp->ledger_seq);
	put_u64(&h, cp->entries);
	put_u32(&h, (uint32_t) cp->nchains);
	for (i = 0; i < cp->nchains; i++)
	{
		put_u32(&h, cp->chains[i].chain_id);
		put_u64(&h, cp->chains[i].position);
		put_bytes(&h, cp->chains[i].hash, NV_HASH_LEN);
	}
	put_bytes(&h, cp->entries_root, NV_HASH_LEN);
	if (cp->has_previous)
	{
		put_u8(&h, 1);
		put_bytes(&h, cp->previous, NV_HASH_LEN);
	}
	else
		put_u8(&h, 0);
	finish(&h, out);
}

/* key_id = first 8 bytes of H(tag("key") || public_key) */
void
nv_key_id(const uint8_t *public_key, uint8_t *out)
{
	Hasher		h;
	uint8_t		full[NV_HASH_LEN];

	begin(&h, "key");
	put_bytes(&h, public_key, NV_KEY_LEN);
	finish(&h, full);
	memcpy(out, full, NV_KEYID_LEN);
}
