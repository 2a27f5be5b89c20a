/*-------------------------------------------------------------------------
 *
 * format.c
 *		The byte format that pg_notary hashes: layouts, column commitments,
 *		row images and ledger entries.
 *
 * This file is the executable form of docs/format.md; the two change
 * together, and the version in a hash's domain tag changes whenever its
 * bytes do: entries are hashed in format 1 (tags "/v1") or format 2 (the
 * entry hash and the seal, "/v2"); every other hash keeps its "/v1" tag
 * in both formats.  Every hash is BLAKE2b-256
 * (libsodium crypto_generichash, no key).  Integers are big-endian; text is
 * UTF-8, prefixed by its length as u32.  Nothing here depends on a session
 * setting, the platform or the server version.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <sodium.h>

#include "mb/pg_wchar.h"

/*
 * A hash being computed.  The many small fields (lengths, integers, short
 * strings) are gathered in buf and given to libsodium in one update when it
 * fills up or the hash ends: an update call per field cost about 30% more
 * per column commitment (issue 6), and a buffer that holds a whole entry
 * means one update per entry hash.  The helpers are inline, since a call per
 * field was itself a third of the cost of hashing an entry (perf, bulk
 * load).  The bytes hashed are the same.
 */
#define HASHER_BUFSIZE 1024

typedef struct Hasher
{
	crypto_generichash_state state;
	StringInfo	record;			/* not NULL: collect the bytes here instead
								 * of hashing them (format_entry_rest) */
	size_t		used;
	bool		utf8;			/* the server encoding is UTF-8: no conversion */
	uint8		buf[HASHER_BUFSIZE];
} Hasher;

static void
hash_update(Hasher *h, const uint8 *p, size_t len)
{
	if (unlikely(h->record != NULL))
		appendBinaryStringInfo(h->record, (const char *) p, (int) len);
	else
		crypto_generichash_update(&h->state, p, len);
}

static void
hash_flush(Hasher *h)
{
	if (h->used > 0)
		hash_update(h, h->buf, h->used);
	h->used = 0;
}

static pg_noinline void
hash_bytes_slow(Hasher *h, const void *p, size_t len)
{
	hash_flush(h);
	if (len > HASHER_BUFSIZE)
	{
		hash_update(h, (const uint8 *) p, len);
		return;
	}
	memcpy(h->buf, p, len);
	h->used = len;
}

static inline void
hash_bytes(Hasher *h, const void *p, size_t len)
{
	if (likely(h->used + len <= HASHER_BUFSIZE))
	{
		memcpy(h->buf + h->used, p, len);
		h->used += len;
	}
	else
		hash_bytes_slow(h, p, len);
}

/* Room for n more bytes in buf, written in place by the callers below. */
static inline uint8 *
hash_reserve(Hasher *h, size_t n)
{
	uint8	   *p;

	if (unlikely(h->used + n > HASHER_BUFSIZE))
		hash_flush(h);
	p = h->buf + h->used;
	h->used += n;
	return p;
}

static inline void
hash_u8(Hasher *h, uint8 v)
{
	*hash_reserve(h, 1) = v;
}

static inline void
hash_u16(Hasher *h, uint16 v)
{
	uint8	   *b = hash_reserve(h, 2);

	b[0] = (uint8) (v >> 8);
	b[1] = (uint8) v;
}

static inline void
hash_u32(Hasher *h, uint32 v)
{
	uint8	   *b = hash_reserve(h, 4);

	b[0] = (uint8) (v >> 24);
	b[1] = (uint8) (v >> 16);
	b[2] = (uint8) (v >> 8);
	b[3] = (uint8) v;
}

static inline void
hash_u64(Hasher *h, uint64 v)
{
	uint8	   *b = hash_reserve(h, 8);

	for (int i = 0; i < 8; i++)
		b[i] = (uint8) (v >> (56 - 8 * i));
}

/* A string, as u32 length and UTF-8 bytes (converted if the server is not). */
static void
hash_str(Hasher *h, const char *s)
{
	size_t		len = strlen(s);

	if (!h->utf8 && len > 0)
	{
		char	   *u = pg_server_to_any(s, (int) len, PG_UTF8);

		len = strlen(u);
		hash_u32(h, (uint32) len);
		hash_bytes(h, u, len);
		if (u != s)
			pfree(u);
		return;
	}
	hash_u32(h, (uint32) len);
	hash_bytes(h, s, len);
}

static void
hash_opt_str(Hasher *h, const char *s)
{
	if (s == NULL)
		hash_u8(h, 0);
	else
	{
		hash_u8(h, 1);
		hash_str(h, s);
	}
}

/* The domain tag of a kind of hash, e.g. "pg_notary/entry/v1". */
#define NOTARY_TAG(what) ("pg_notary/" what "/v" CppAsString2(NOTARY_FORMAT_VERSION))
/* ... and of the hashes format 2 changed: "pg_notary/entry/v2". */
#define NOTARY_TAG2(what) ("pg_notary/" what "/v2")

/* Start a hash with its domain tag (ASCII: hashed as str() without conversion). */
static void
hash_begin(Hasher *h, const char *tag)
{
	size_t		len = strlen(tag);

	crypto_generichash_init(&h->state, NULL, 0, NOTARY_HASH_LEN);
	h->record = NULL;
	h->used = 0;
	h->utf8 = (GetDatabaseEncoding() == PG_UTF8);
	hash_u32(h, (uint32) len);
	hash_bytes(h, tag, len);
}

static void
hash_end(Hasher *h, uint8 *out)
{
	hash_flush(h);
	crypto_generichash_final(&h->state, out, NOTARY_HASH_LEN);
}

/*
 * Digest of a table layout: which table, its names at the time, and every
 * captured column's name and type, its key and personal columns.
 */
void
format_layout_digest(int32 table_id, const char *schema_name,
					 const char *table_name, int ncols,
					 char **names, char **types,
					 int nkeys, const int16 *keys,
					 int npersonal, const int16 *personal,
					 uint8 *out)
{
	Hasher		h;
	int			i;

	hash_begin(&h, NOTARY_TAG("layout"));
	hash_u32(&h, (uint32) table_id);
	hash_str(&h, schema_name);
	hash_str(&h, table_name);
	hash_u32(&h, (uint32) ncols);
	for (i = 0; i < ncols; i++)
	{
		hash_str(&h, names[i]);
		hash_str(&h, types[i]);
	}
	hash_u32(&h, (uint32) nkeys);
	for (i = 0; i < nkeys; i++)
		hash_u16(&h, (uint16) keys[i]);
	hash_u32(&h, (uint32) npersonal);
	for (i = 0; i < npersonal; i++)
		hash_u16(&h, (uint16) personal[i]);
	hash_end(&h, out);
}

/*
 * Commitment to one column value.  A personal column's value is committed
 * with a random salt, so that once value and salt are erased the commitment
 * cannot be matched by guessing the value.
 */
void
format_column_commitment(const char *value, const uint8 *salt, int saltlen,
						 uint8 *out)
{
	Hasher		h;

	hash_begin(&h, NOTARY_TAG("column"));
	if (value == NULL)
		hash_u8(&h, 0);
	else
	{
		hash_u8(&h, 1);
		hash_str(&h, value);
	}
	hash_u32(&h, (uint32) saltlen);
	if (saltlen > 0)
		hash_bytes(&h, salt, saltlen);
	hash_end(&h, out);
}

/*
 * The record of column i in img->redacted, kept or sealed, or NULL if the
 * column is not redacted.  The records are (u16 position, commitment), the
 * position with NOTARY_SEALED_FLAG for a sealed column (32 zero bytes).
 */
const uint8 *
format_redacted_record(const NotaryImage *img, int i)
{
	const uint8 *r;
	int			n;
	int			k;

	if (img->redacted == NULL)
		return NULL;
	r = (const uint8 *) VARDATA_ANY(img->redacted);
	n = VARSIZE_ANY_EXHDR(img->redacted) / NOTARY_REDACTED_LEN;
	for (k = 0; k < n; k++, r += NOTARY_REDACTED_LEN)
		if ((((r[0] << 8) | r[1]) & ~NOTARY_SEALED_FLAG) == i)
			return r;
	return NULL;
}

/* The commitment kept for column i of img, or NULL (not redacted, or sealed). */
const uint8 *
format_redacted_commitment(const NotaryImage *img, int i)
{
	const uint8 *r = format_redacted_record(img, i);

	return (r != NULL && !(r[0] & (NOTARY_SEALED_FLAG >> 8))) ? r + 2 : NULL;
}

/*
 * Digest of a row image: its layout and the commitment of every column.
 * A redacted column's commitment is the one kept when it was erased.
 * personal[] lists the columns that take a salt, in ascending order; their
 * salts follow each other in img->salts.
 */
void
format_image_digest(const uint8 *layout_digest, const NotaryImage *img,
					const int16 *personal, int npersonal, uint8 *out)
{
	Hasher		h;
	int			i;
	int			p = 0;
	const uint8 *salts = NULL;
	int			nsalts = 0;

	if (img->salts != NULL)
	{
		salts = (const uint8 *) VARDATA_ANY(img->salts);
		nsalts = VARSIZE_ANY_EXHDR(img->salts) / NOTARY_SALT_LEN;
	}

	hash_begin(&h, NOTARY_TAG("image"));
	hash_bytes(&h, layout_digest, NOTARY_HASH_LEN);
	hash_u32(&h, (uint32) img->ncols);
	for (i = 0; i < img->ncols; i++)
	{
		uint8		c[NOTARY_HASH_LEN];
		const uint8 *kept = format_redacted_commitment(img, i);

		if (p < npersonal && personal[p] == i)
			p++;
		if (kept != NULL)
			memcpy(c, kept, NOTARY_HASH_LEN);
		else if (p > 0 && personal[p - 1] == i)
		{
			if (p - 1 < nsalts)
				format_column_commitment(img->values[i],
										 salts + (p - 1) * NOTARY_SALT_LEN,
										 NOTARY_SALT_LEN, c);
			else
				format_column_commitment(img->values[i], NULL, 0, c);
		}
		else
			format_column_commitment(img->values[i], NULL, 0, c);
		hash_bytes(&h, c, NOTARY_HASH_LEN);
	}
	hash_end(&h, out);
}

/*
 * Row digest: what an UPDATE records of the row it replaced, so that
 * verification can tell whether the row had changed outside capture.  It
 * covers the layout and every non-personal column; personal columns are
 * left out (marked 2), because the trigger does not know the salts the
 * earlier image used and an unsalted commitment could be brute-forced
 * after a redaction.
 */
void
format_row_digest(const uint8 *layout_digest, const NotaryImage *img,
				  const int16 *personal, int npersonal, uint8 *out)
{
	Hasher		h;
	int			i;
	int			p = 0;

	hash_begin(&h, NOTARY_TAG("row"));
	hash_bytes(&h, layout_digest, NOTARY_HASH_LEN);
	hash_u32(&h, (uint32) img->ncols);
	for (i = 0; i < img->ncols; i++)
	{
		if (p < npersonal && personal[p] == i)
		{
			hash_u8(&h, 2);
			p++;
		}
		else if (img->values[i] == NULL)
			hash_u8(&h, 0);
		else
		{
			hash_u8(&h, 1);
			hash_str(&h, img->values[i]);
		}
	}
	hash_end(&h, out);
}

/*
 * The fields every entry hash begins with, after its tag: where the entry
 * is (the previous hash, seq and chain position).
 */
static void
hash_entry_position(Hasher *h, const uint8 *prev_hash, int64 seq,
					int32 chain_id, int64 chain_pos)
{
	hash_bytes(h, prev_hash, NOTARY_HASH_LEN);
	hash_u64(h, (uint64) seq);
	hash_u32(h, (uint32) chain_id);
	hash_u64(h, (uint64) chain_pos);
}

/* ... then what happened, in which transaction, when, by whom, to what. */
static void
hash_entry_head(Hasher *h, const NotaryEntry *e)
{
	hash_str(h, e->op);
	hash_u64(h, e->xid);
	hash_u64(h, (uint64) e->logged_at_us);
	hash_str(h, e->session_user_name);
	hash_str(h, e->current_user_name);
	hash_opt_str(h, e->application_name);
	hash_opt_str(h, e->client_addr);
	if (e->has_table)
	{
		hash_u8(h, 1);
		hash_u32(h, (uint32) e->table_id);
	}
	else
		hash_u8(h, 0);
}

/* ... and ends with. */
static void
hash_entry_tail(Hasher *h, const NotaryEntry *e)
{
	if (e->has_old)
	{
		hash_u8(h, 1);
		hash_bytes(h, e->old_digest, NOTARY_HASH_LEN);
	}
	else
		hash_u8(h, 0);
	hash_opt_str(h, e->detail);
}

/* Is column i of img sealed (erased where it was hashed as it is)? */
static bool
column_sealed(const NotaryImage *img, int i)
{
	const uint8 *r = format_redacted_record(img, i);

	return r != NULL && (r[0] & (NOTARY_SEALED_FLAG >> 8));
}

/*
 * Give an entry its row image: the layout's recomputed digest and personal
 * columns come with it, since format 2 hashes the image with the entry
 * (format 1 hashes e->image_digest, which the caller computes).
 */
void
format_entry_image(NotaryEntry *e, const uint8 *layout_digest,
				   const NotaryImage *img, const int16 *personal, int npersonal)
{
	e->has_image = true;
	e->layout_digest = layout_digest;
	e->image = img;
	e->personal = personal;
	e->npersonal = npersonal;
}

/* Does img have a sealed column? */
bool
format_image_sealed(const NotaryImage *img)
{
	const uint8 *r;
	int			n;
	int			k;

	if (img->redacted == NULL)
		return false;
	r = (const uint8 *) VARDATA_ANY(img->redacted);
	n = VARSIZE_ANY_EXHDR(img->redacted) / NOTARY_REDACTED_LEN;
	for (k = 0; k < n; k++, r += NOTARY_REDACTED_LEN)
		if (r[0] & (NOTARY_SEALED_FLAG >> 8))
			return true;
	return false;
}

/*
 * What format 2 hashes of an entry after its position: the head, the
 * image inline (a personal column as its commitment), the tail.  In a seal,
 * sealed columns are u8 3.
 */
static void
hash_entry_v2(Hasher *h, const NotaryEntry *e, bool seal)
{
	hash_entry_head(h, e);
	if (e->has_image)
	{
		const NotaryImage *img = e->image;
		const uint8 *salts = NULL;
		int			nsalts = 0;
		int			p = 0;
		int			i;

		if (img->salts != NULL)
		{
			salts = (const uint8 *) VARDATA_ANY(img->salts);
			nsalts = VARSIZE_ANY_EXHDR(img->salts) / NOTARY_SALT_LEN;
		}
		hash_u8(h, 1);
		hash_bytes(h, e->layout_digest, NOTARY_HASH_LEN);
		hash_u32(h, (uint32) img->ncols);
		for (i = 0; i < img->ncols; i++)
		{
			bool		personal = (p < e->npersonal && e->personal[p] == i);
			const uint8 *kept = (img->redacted != NULL) ?
				format_redacted_commitment(img, i) : NULL;

			if (seal && img->redacted != NULL && column_sealed(img, i))
				hash_u8(h, 3);
			else if (kept != NULL || personal)
			{
				uint8		c[NOTARY_HASH_LEN];

				if (kept != NULL)
					memcpy(c, kept, NOTARY_HASH_LEN);
				else
					format_column_commitment(img->values[i],
											 p < nsalts ? salts + p * NOTARY_SALT_LEN : NULL,
											 p < nsalts ? NOTARY_SALT_LEN : 0, c);
				hash_u8(h, 2);
				hash_bytes(h, c, NOTARY_HASH_LEN);
			}
			else if (img->values[i] == NULL)
				hash_u8(h, 0);
			else
			{
				hash_u8(h, 1);
				hash_str(h, img->values[i]);
			}
			if (personal)
				p++;
		}
	}
	else
		hash_u8(h, 0);
	hash_entry_tail(h, e);
}

/* What format 1 hashes of an entry after its position. */
static void
hash_entry_v1(Hasher *h, const NotaryEntry *e)
{
	hash_entry_head(h, e);
	if (e->has_image)
	{
		hash_u8(h, 1);
		hash_bytes(h, e->image_digest, NOTARY_HASH_LEN);
	}
	else
		hash_u8(h, 0);
	hash_entry_tail(h, e);
}

static void
hash_entry_begin(Hasher *h, int format_version)
{
	Assert(format_version == 1 || format_version == 2);
	hash_begin(h, format_version == 2 ? NOTARY_TAG2("entry") : NOTARY_TAG("entry"));
}

/*
 * Hash of a ledger entry, chained to the previous entry of its chain
 * (32 zero bytes before the first), in the entry's format: format 1 binds
 * the image through e->image_digest, format 2 hashes it inline.
 */
void
format_entry_hash(const uint8 *prev_hash, const NotaryEntry *e, uint8 *out)
{
	Hasher		h;

	hash_entry_begin(&h, e->format_version);
	hash_entry_position(&h, prev_hash, e->seq, e->chain_id, e->chain_pos);
	if (e->format_version == 2)
		hash_entry_v2(&h, e, false);
	else
		hash_entry_v1(&h, e);
	hash_end(&h, out);
}

/*
 * The bytes an entry's hash covers after its position, appended to out:
 * an entry can be hashed later, once its seq and position are known
 * (format_entry_hash_at), from these bytes alone.
 */
void
format_entry_rest(const NotaryEntry *e, StringInfo out)
{
	Hasher		h;

	h.record = out;
	h.used = 0;
	h.utf8 = (GetDatabaseEncoding() == PG_UTF8);
	if (e->format_version == 2)
		hash_entry_v2(&h, e, false);
	else
		hash_entry_v1(&h, e);
	hash_flush(&h);
}

/* The hash of an entry at a position, from its rest (format_entry_rest). */
void
format_entry_hash_at(int format_version, const uint8 *prev_hash, int64 seq,
					 int32 chain_id, int64 chain_pos, const char *rest,
					 int len, uint8 *out)
{
	Hasher		h;

	hash_entry_begin(&h, format_version);
	hash_entry_position(&h, prev_hash, seq, chain_id, chain_pos);
	hash_bytes(&h, rest, len);
	hash_end(&h, out);
}

/*
 * The seq a key of a REDACT entry's "sealed" object names: the seq in
 * decimal without sign or leading zeros, the one spelling accepted (so
 * that every verifier reads the same object the same way); false for any
 * other key.
 */
bool
format_seal_key(const char *key, int64 *seq)
{
	char	   *end;
	long long	v;

	if (key[0] < '0' || key[0] > '9' || (key[0] == '0' && key[1] != '\0'))
		return false;
	errno = 0;
	v = strtoll(key, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*seq = (int64) v;
	return true;
}

/*
 * Seal of a format-2 entry with sealed columns: its stored hash and what
 * is left of it, which the REDACT entry that sealed it records.
 */
void
format_entry_seal(const uint8 *stored_hash, const uint8 *prev_hash,
				  const NotaryEntry *e, uint8 *out)
{
	Hasher		h;

	hash_begin(&h, NOTARY_TAG2("seal"));
	hash_bytes(&h, stored_hash, NOTARY_HASH_LEN);
	hash_entry_position(&h, prev_hash, e->seq, e->chain_id, e->chain_pos);
	hash_entry_v2(&h, e, true);
	hash_end(&h, out);
}

/* Digest of a public key; its first 8 bytes are the key id. */
void
format_key_digest(const uint8 *pk, int len, uint8 *out)
{
	Hasher		h;

	hash_begin(&h, NOTARY_TAG("key"));
	hash_bytes(&h, pk, len);
	hash_end(&h, out);
}

/* Digest of a checkpoint: what its Ed25519 signature signs. */
void
format_checkpoint_digest(const NotaryCheckpoint *cp, uint8 *out)
{
	Hasher		h;
	int			i;

	hash_begin(&h, NOTARY_TAG("checkpoint"));
	hash_str(&h, NOTARY_CHECKPOINT_FORMAT);
	hash_u64(&h, (uint64) cp->checkpoint_id);
	hash_str(&h, cp->system_identifier);
	hash_u32(&h, (uint32) cp->timeline);
	hash_str(&h, cp->database);
	hash_u64(&h, (uint64) cp->created_at_us);
	hash_u64(&h, (uint64) cp->ledger_seq);
	hash_u64(&h, (uint64) cp->entries);
	hash_u32(&h, (uint32) cp->nchains);
	for (i = 0; i < cp->nchains; i++)
	{
		hash_u32(&h, (uint32) cp->chains[i].chain_id);
		hash_u64(&h, (uint64) cp->chains[i].position);
		hash_bytes(&h, cp->chains[i].hash, NOTARY_HASH_LEN);
	}
	hash_bytes(&h, cp->entries_root, NOTARY_HASH_LEN);
	if (cp->has_previous)
	{
		hash_u8(&h, 1);
		hash_bytes(&h, cp->previous, NOTARY_HASH_LEN);
	}
	else
		hash_u8(&h, 0);
	hash_end(&h, out);
}

/* Lower-case hex of some bytes, palloc'd. */
char *
format_hex(const uint8 *bytes, int len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *s = palloc(len * 2 + 1);
	int			i;

	for (i = 0; i < len; i++)
	{
		s[2 * i] = digits[bytes[i] >> 4];
		s[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	s[len * 2] = '\0';
	return s;
}

/* Parse len bytes of lower- or upper-case hex; false unless exactly that. */
bool
format_unhex(const char *hex, uint8 *out, int len)
{
	size_t		binlen = 0;
	const char *end = NULL;

	if (hex == NULL || strlen(hex) != (size_t) len * 2)
		return false;
	if (sodium_hex2bin(out, len, hex, len * 2, NULL, &binlen, &end) != 0)
		return false;
	return binlen == (size_t) len && end != NULL && *end == '\0';
}
