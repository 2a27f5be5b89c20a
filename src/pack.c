/*-------------------------------------------------------------------------
 *
 * pack.c
 *		The byte layout of packed ledger entries (notary.ledger_packs).
 *
 * A pack holds consecutive entries of one chain, written by one
 * transaction: what they share (chain, transaction, the first position)
 * is stored once, in the pack's columns, and each entry stores only what
 * differs from the entry before it.  This is storage only: every entry
 * keeps its own hash, computed exactly as docs/format.md says, and
 * notary.ledger (a view) shows packed entries with the same columns and
 * values as single ones.  docs/format.md, "Storage", specifies the bytes.
 *
 * Body:
 *		u8 version (1) || prev_hash (32 bytes, of the first entry) || entries
 * Entry:
 *		u8 flags || varint seq (delta from the entry before; the first: seq)
 *		|| op || zigzag logged_at (delta, in PostgreSQL microseconds)
 *		|| name(session_user) || name(current_user)
 *		|| [name(application_name)] || [name(client_addr)]
 *		|| [zigzag table_id] || [zigzag layout_id || varint n
 *		|| n x (varint 0 for NULL | varint len+1 || bytes)]
 *		|| [varint len || salts] || [old_digest (32)]
 *		|| [varint len || detail] || [varint len || redacted]
 *		|| entry_hash (32)
 * op is u8 k (1..14, the k-th of ops[] below) or u8 0 || varint len || bytes;
 * name is varint 0 for "this field's last value in the pack" or varint len+1 || bytes.
 *
 * The decoder trusts nothing: a body that does not parse is reported as
 * such (notary.verify() says malformed_entry), never read past its end.
 *
 *-------------------------------------------------------------------------
 */
#include "pack.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
#include "utils/xid8.h"

#define F_TABLE		0x01
#define F_IMAGE		0x02
#define F_SALTS		0x04
#define F_OLD		0x08
#define F_DETAIL	0x10
#define F_REDACTED	0x20
#define F_APP		0x40
#define F_CLIENT	0x80

static const char *const ops[] = {
	NULL,
	NOTARY_OP_INSERT, NOTARY_OP_UPDATE, NOTARY_OP_DELETE, NOTARY_OP_TRUNCATE,
	NOTARY_OP_SNAPSHOT, NOTARY_OP_BASELINE, NOTARY_OP_DDL, NOTARY_OP_ENABLE,
	NOTARY_OP_DISABLE, NOTARY_OP_CLASSIFY, NOTARY_OP_REDACT, NOTARY_OP_PUBLISH,
	NOTARY_OP_UNPUBLISH, NOTARY_OP_EXPORT
};
#define NOPS ((int) lengthof(ops))

/* ---- writing ---- */

/*
 * The writers append to the body in place: an entry is a few dozen small
 * fields, and a call of appendBinaryStringInfo() per field was a third of
 * the cost of adding an entry (callgrind, TPC-B).  The body is binary:
 * pack_add() restores StringInfo's terminating zero once per entry.
 */
static inline char *
put_reserve(StringInfo b, int n)
{
	if (unlikely(b->maxlen - b->len <= n))
		enlargeStringInfo(b, n);
	return b->data + b->len;
}

static inline void
put_u8(StringInfo b, uint8 v)
{
	*put_reserve(b, 1) = (char) v;
	b->len++;
}

static inline void
put_raw(StringInfo b, const void *p, int len)
{
	memcpy(put_reserve(b, len), p, len);
	b->len += len;
}

static inline void
put_varint(StringInfo b, uint64 v)
{
	char	   *out = put_reserve(b, 10);
	int			n = 0;

	do
	{
		uint8		c = v & 0x7f;

		v >>= 7;
		if (v != 0)
			c |= 0x80;
		out[n++] = (char) c;
	} while (v != 0);
	b->len += n;
}

static inline void
put_zigzag(StringInfo b, int64 v)
{
	put_varint(b, ((uint64) v << 1) ^ (uint64) (v >> 63));
}

static inline void
put_bytes(StringInfo b, const char *p, int len)
{
	put_varint(b, (uint64) len);
	put_raw(b, p, len);
}

/* A name: 0 if it equals the remembered one, else len+1 and the bytes. */
static void
put_name(StringInfo b, const char *s, char **remembered, MemoryContext mcxt)
{
	size_t		len;

	if (*remembered != NULL && strcmp(*remembered, s) == 0)
	{
		put_u8(b, 0);
		return;
	}
	len = strlen(s);
	put_varint(b, (uint64) len + 1);
	put_raw(b, s, (int) len);
	if (*remembered != NULL)
		pfree(*remembered);
	*remembered = MemoryContextStrdup(mcxt, s);
}

/*
 * Begin a pack body whose first entry follows prev_hash; its version byte
 * is the format of its entries (1 or 2).
 */
void
pack_start(StringInfo body, PackCursor *cur, const uint8 *prev_hash,
		   int format_version, MemoryContext mcxt)
{
	Assert(format_version == 1 || format_version == 2);
	resetStringInfo(body);
	appendStringInfoChar(body, (char) format_version);
	appendBinaryStringInfo(body, (const char *) prev_hash, NOTARY_HASH_LEN);
	if (cur->session_user_name)
		pfree(cur->session_user_name);
	if (cur->current_user_name)
		pfree(cur->current_user_name);
	if (cur->application_name)
		pfree(cur->application_name);
	if (cur->client_addr)
		pfree(cur->client_addr);
	memset(cur, 0, sizeof(*cur));
	cur->mcxt = mcxt;
}

/* The flags byte of an entry: which of the optional fields it has. */
static uint8
pack_flags(const NotaryEntry *e, const NotaryImage *img)
{
	uint8		flags = 0;

	if (e->has_table)
		flags |= F_TABLE;
	if (e->has_image)
		flags |= F_IMAGE;
	if (e->has_image && img->salts != NULL)
		flags |= F_SALTS;
	if (e->has_old)
		flags |= F_OLD;
	if (e->detail != NULL)
		flags |= F_DETAIL;
	if (e->has_image && img->redacted != NULL)
		flags |= F_REDACTED;
	if (e->application_name != NULL)
		flags |= F_APP;
	if (e->client_addr != NULL)
		flags |= F_CLIENT;
	return flags;
}

/* An entry's fields between its seq and its hash (op ... redacted). */
static void
pack_put_fields(StringInfo body, PackCursor *cur, const NotaryEntry *e,
				TimestampTz logged_at, const NotaryImage *img)
{
	int			k;

	for (k = 1; k < NOPS; k++)
		if (strcmp(ops[k], e->op) == 0)
			break;
	if (k < NOPS)
		put_u8(body, (uint8) k);
	else
	{
		put_u8(body, 0);
		put_bytes(body, e->op, strlen(e->op));
	}
	put_zigzag(body, cur->n == 0 ? (int64) logged_at : (int64) (logged_at - cur->logged_at));
	put_name(body, e->session_user_name, &cur->session_user_name, cur->mcxt);
	put_name(body, e->current_user_name, &cur->current_user_name, cur->mcxt);
	if (e->application_name != NULL)
		put_name(body, e->application_name, &cur->application_name, cur->mcxt);
	if (e->client_addr != NULL)
		put_name(body, e->client_addr, &cur->client_addr, cur->mcxt);
	if (e->has_table)
		put_zigzag(body, e->table_id);
	if (e->has_image)
	{
		put_zigzag(body, e->layout_id);
		put_varint(body, (uint64) img->ncols);
		for (k = 0; k < img->ncols; k++)
		{
			if (img->values[k] == NULL)
				put_u8(body, 0);
			else
			{
				size_t		len = strlen(img->values[k]);

				put_varint(body, (uint64) len + 1);
				put_raw(body, img->values[k], (int) len);
			}
		}
		if (img->salts != NULL)
			put_bytes(body, VARDATA_ANY(img->salts), VARSIZE_ANY_EXHDR(img->salts));
	}
	if (e->has_old)
		put_raw(body, e->old_digest, NOTARY_HASH_LEN);
	if (e->detail != NULL)
		put_bytes(body, e->detail, strlen(e->detail));
	if (e->has_image && img->redacted != NULL)
		put_bytes(body, VARDATA_ANY(img->redacted), VARSIZE_ANY_EXHDR(img->redacted));
	cur->n++;
	cur->logged_at = logged_at;
}

/* An entry's seq, as its pack stores it. */
static void
pack_put_seq(StringInfo body, PackCursor *cur, int64 seq)
{
	put_varint(body, cur->nseq == 0 ? (uint64) seq : (uint64) (seq - cur->seq));
	cur->nseq++;
	cur->seq = seq;
}

/* Append one entry (already hashed) to a pack body. */
void
pack_add(StringInfo body, PackCursor *cur, const NotaryEntry *e,
		 TimestampTz logged_at, const NotaryImage *img, const uint8 *entry_hash)
{
	Assert(cur->n == cur->nseq);
	put_u8(body, pack_flags(e, img));
	pack_put_seq(body, cur, e->seq);
	pack_put_fields(body, cur, e, logged_at, img);
	put_raw(body, entry_hash, NOTARY_HASH_LEN);
	body->data[body->len] = '\0';
}

/*
 * Append an entry not numbered yet to rec, as a record that
 * pack_add_numbered() completes: its flags and its fields.  The entries
 * of a pack are recorded and numbered in the same order.
 */
void
pack_record(StringInfo rec, PackCursor *cur, const NotaryEntry *e,
			TimestampTz logged_at, const NotaryImage *img)
{
	put_u8(rec, pack_flags(e, img));
	pack_put_fields(rec, cur, e, logged_at, img);
	rec->data[rec->len] = '\0';
}

/* Append a recorded entry (pack_record) to a pack body, numbered and hashed. */
void
pack_add_numbered(StringInfo body, PackCursor *cur, const char *rec, int len,
				  int64 seq, const uint8 *entry_hash)
{
	Assert(len >= 1 && cur->nseq < cur->n);
	put_u8(body, (uint8) rec[0]);
	pack_put_seq(body, cur, seq);
	put_raw(body, rec + 1, len - 1);
	put_raw(body, entry_hash, NOTARY_HASH_LEN);
	body->data[body->len] = '\0';
}

/* A whole body from decoded entries (a redaction rewrites a pack so). */
bytea *
pack_encode(const PackedEntry *entries, int n)
{
	StringInfoData body;
	PackCursor	cur;
	bytea	   *out;
	int			i;

	initStringInfo(&body);
	memset(&cur, 0, sizeof(cur));
	pack_start(&body, &cur, n > 0 ? entries[0].prev_hash : (const uint8 *) "",
			   n > 0 ? entries[0].e.format_version : 1, CurrentMemoryContext);
	for (i = 0; i < n; i++)
		pack_add(&body, &cur, &entries[i].e, entries[i].logged_at,
				 &entries[i].img, entries[i].entry_hash);
	out = palloc(VARHDRSZ + body.len);
	SET_VARSIZE(out, VARHDRSZ + body.len);
	memcpy(VARDATA(out), body.data, body.len);
	return out;
}

/* ---- reading ---- */

typedef struct Reader
{
	const uint8 *p;
	const uint8 *end;
	bool		bad;
} Reader;

static uint64
get_varint(Reader *r)
{
	uint64		v = 0;
	int			shift = 0;

	while (!r->bad)
	{
		uint8		c;

		if (r->p >= r->end || shift > 63)
		{
			r->bad = true;
			break;
		}
		c = *r->p++;
		v |= (uint64) (c & 0x7f) << shift;
		if ((c & 0x80) == 0)
		{
			/* one encoding per value: no trailing zero groups */
			if (c == 0 && shift > 0)
				r->bad = true;
			return v;
		}
		shift += 7;
	}
	return 0;
}

static int64
get_zigzag(Reader *r)
{
	uint64		v = get_varint(r);

	return (int64) (v >> 1) ^ -(int64) (v & 1);
}

static bool
get_raw(Reader *r, void *out, size_t len)
{
	if (r->bad || (size_t) (r->end - r->p) < len)
	{
		r->bad = true;
		return false;
	}
	memcpy(out, r->p, len);
	r->p += len;
	return true;
}

/* varint len || bytes, as a palloc'd string; NULL when bad. */
static char *
get_string(Reader *r, uint64 len)
{
	char	   *s;

	if (r->bad || len > (uint64) (r->end - r->p))
	{
		r->bad = true;
		return NULL;
	}
	/* a NUL would hide the bytes after it from the hash */
	if (memchr(r->p, '\0', len) != NULL)
	{
		r->bad = true;
		return NULL;
	}
	s = palloc(len + 1);
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	return s;
}

static bytea *
get_bytea(Reader *r)
{
	uint64		len = get_varint(r);
	bytea	   *b;

	if (r->bad || len > (uint64) (r->end - r->p) || len > MaxAllocSize - VARHDRSZ)
	{
		r->bad = true;
		return NULL;
	}
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), r->p, len);
	r->p += len;
	return b;
}

static const char *
get_name(Reader *r, const char *before)
{
	uint64		v = get_varint(r);

	if (r->bad)
		return NULL;
	if (v == 0)
	{
		if (before == NULL)
			r->bad = true;
		return before;
	}
	return get_string(r, v - 1);
}

/*
 * Decode a pack body into *out (palloc'd, in the current context).
 * Returns the number of entries, or -1 with *why set when the body does
 * not parse.
 */
int
pack_decode(const char *body, int len, int32 chain_id, int64 first_pos,
			uint64 xid, PackedEntry **out, const char **why)
{
	Reader		r;
	int			n = 0;
	int			max = 8;
	PackedEntry *es;
	const uint8 *prev;
	uint8		version;
	int64		seq = 0;
	TimestampTz ts = 0;
	const char *su = NULL;
	const char *cu = NULL;
	const char *app = NULL;
	const char *client = NULL;

	r.p = (const uint8 *) body;
	r.end = r.p + len;
	r.bad = false;
	*out = NULL;
	if (!get_raw(&r, &version, 1) || (version != 1 && version != 2))
	{
		*why = "the pack's body has an unknown version";
		return -1;
	}
	if ((size_t) (r.end - r.p) < NOTARY_HASH_LEN)
	{
		*why = "the pack's body is cut short";
		return -1;
	}
	prev = r.p;
	r.p += NOTARY_HASH_LEN;

	es = palloc(sizeof(PackedEntry) * max);
	while (r.p < r.end && !r.bad)
	{
		PackedEntry *pe;
		const uint8 *start;
		uint8		flags = 0;
		uint8		opcode;
		uint64		v;

		if (n == max)
		{
			max *= 2;
			es = repalloc(es, sizeof(PackedEntry) * max);
		}
		pe = &es[n];
		memset(pe, 0, sizeof(*pe));
		start = r.p;
		get_raw(&r, &flags, 1);
		v = get_varint(&r);
		seq = n == 0 ? (int64) v : seq + (int64) v;
		pe->e.seq = seq;
		pe->e.chain_id = chain_id;
		pe->e.chain_pos = first_pos + n;
		pe->e.xid = xid;
		pe->e.format_version = version;
		get_raw(&r, &opcode, 1);
		if (r.bad)
			break;
		if (opcode == 0)
		{
			pe->e.op = get_string(&r, get_varint(&r));
			/* a known op has one encoding: its code */
			for (int k = 1; pe->e.op != NULL && k < NOPS; k++)
				if (strcmp(ops[k], pe->e.op) == 0)
					r.bad = true;
		}
		else if (opcode < NOPS)
			pe->e.op = ops[opcode];
		else
			r.bad = true;
		ts = n == 0 ? (TimestampTz) get_zigzag(&r) : ts + (TimestampTz) get_zigzag(&r);
		pe->logged_at = ts;
		pe->e.logged_at_us = (int64) ts +
			(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
		su = pe->e.session_user_name = get_name(&r, su);
		cu = pe->e.current_user_name = get_name(&r, cu);
		if (flags & F_APP)
			app = pe->e.application_name = get_name(&r, app);
		if (flags & F_CLIENT)
			client = pe->e.client_addr = get_name(&r, client);
		if (flags & F_TABLE)
		{
			pe->e.has_table = true;
			pe->e.table_id = (int32) get_zigzag(&r);
		}
		if (flags & F_IMAGE)
		{
			uint64		ncols;

			pe->e.has_image = true;
			pe->e.layout_id = get_zigzag(&r);
			ncols = get_varint(&r);
			if (r.bad || ncols > (uint64) (r.end - r.p) || ncols > 1600)
			{
				r.bad = true;
				break;
			}
			pe->img.ncols = (int) ncols;
			pe->img.values = palloc(sizeof(char *) * Max(ncols, 1));
			for (uint64 c = 0; c < ncols && !r.bad; c++)
			{
				uint64		l = get_varint(&r);

				pe->img.values[c] = l == 0 ? NULL : get_string(&r, l - 1);
			}
			if (flags & F_SALTS)
				pe->img.salts = get_bytea(&r);
		}
		else if (flags & (F_SALTS | F_REDACTED))
			r.bad = true;
		if (flags & F_OLD)
		{
			pe->e.has_old = true;
			get_raw(&r, pe->e.old_digest, NOTARY_HASH_LEN);
		}
		if (flags & F_DETAIL)
		{
			uint64		l = get_varint(&r);

			pe->e.detail = get_string(&r, l);
		}
		if (flags & F_REDACTED)
			pe->img.redacted = get_bytea(&r);
		if (n == 0)
			memcpy(pe->prev_hash, prev, NOTARY_HASH_LEN);
		else
			memcpy(pe->prev_hash, es[n - 1].entry_hash, NOTARY_HASH_LEN);
		get_raw(&r, pe->entry_hash, NOTARY_HASH_LEN);
		pe->encoded_len = (int) (r.p - start);
		if (!r.bad)
			n++;
	}
	if (r.bad)
	{
		*why = psprintf("the pack's body does not parse after %d entries", n);
		*out = es;
		return -1;
	}
	if (n == 0)
	{
		*why = "the pack holds no entry";
		return -1;
	}
	*out = es;
	return n;
}

/*
 * The last entry's position (as a count) and hash, for loading a chain's
 * head; false if the body does not parse.
 */
bool
pack_last_hash(const char *body, int len, int64 *count, uint8 *hash)
{
	PackedEntry *es;
	const char *why;
	int			n = pack_decode(body, len, 0, 1, 0, &es, &why);

	if (n <= 0)
		return false;
	*count = n;
	memcpy(hash, es[n - 1].entry_hash, NOTARY_HASH_LEN);
	return true;
}

/*
 * Decode a stored row of notary.ledger_packs (v and n as heap_deform_tuple
 * gives them; chain_id and first_pos not null, which the primary key
 * ensures): what every reader checks.  Returns the number of entries, or
 * -1 with *why set: a null column, a body that does not decode, or a
 * last_pos that is not where the entries end.  *last is last_pos as
 * stored (first_pos when null), so that a reader can step over an
 * unreadable pack.  Allocates in the current memory context, the
 * detoasted body included.
 */
int
pack_decode_row(const Datum *v, const bool *n, PackedEntry **out, int64 *last,
				const char **why)
{
	int32		chain = DatumGetInt32(v[PACKS_ATT_CHAIN_ID - 1]);
	int64		first = DatumGetInt64(v[PACKS_ATT_FIRST_POS - 1]);
	bytea	   *b;
	int			count;

	*out = NULL;
	*last = n[PACKS_ATT_LAST_POS - 1] ? first : DatumGetInt64(v[PACKS_ATT_LAST_POS - 1]);
	if (n[PACKS_ATT_ENTRIES - 1] || n[PACKS_ATT_XID - 1] || n[PACKS_ATT_LAST_POS - 1])
	{
		*why = "a column of the pack is null";
		return -1;
	}
	b = DatumGetByteaPP(v[PACKS_ATT_ENTRIES - 1]);
	count = pack_decode(VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b), chain, first,
						U64FromFullTransactionId(DatumGetFullTransactionId(v[PACKS_ATT_XID - 1])),
						out, why);
	if (count >= 0 && *last != first + count - 1)
	{
		*why = psprintf("the pack says it ends at position " INT64_FORMAT ", its entries end at " INT64_FORMAT,
						*last, first + count - 1);
		return -1;
	}
	return count;
}

/*
 * Is every text of the entry valid in the server encoding?  Captured texts
 * always are; bytes written into a pack by hand need not be, and the view
 * must not hand out invalid text.  (verify() needs no check: the hash
 * covers the bytes as stored.)
 */
bool
pack_entry_valid_text(const PackedEntry *pe)
{
	const char *s[6] = {pe->e.op, pe->e.session_user_name, pe->e.current_user_name,
	pe->e.application_name, pe->e.client_addr, pe->e.detail};

	for (int i = 0; i < 6; i++)
		if (s[i] != NULL && !pg_verifymbstr(s[i], strlen(s[i]), true))
			return false;
	if (pe->e.detail != NULL)
	{
		JsonLexContext *lex = makeJsonLexContextCstringLen((char *) pe->e.detail,
														   strlen(pe->e.detail),
														   GetDatabaseEncoding(), true);

		if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
			return false;
	}
	if (pe->e.has_image)
		for (int i = 0; i < pe->img.ncols; i++)
			if (pe->img.values[i] != NULL &&
				!pg_verifymbstr(pe->img.values[i], strlen(pe->img.values[i]), true))
				return false;
	return true;
}

/*
 * The columns of notary.ledger for one packed entry; without the row image
 * and the detail (left null) when the caller (verify()) reads them from pe
 * itself.
 */
void
pack_entry_values(const PackedEntry *pe, Datum *values, bool *nulls, bool with_image)
{
	ledger_row_values(&pe->e, pe->prev_hash, pe->entry_hash, pe->logged_at,
					  &pe->img, with_image, values, nulls);
}

/*
 * The error of a reader that cannot go on without a pack it cannot decode
 * (the view, checkpoints, proofs); verify() reports such a pack instead.
 */
void
pack_unreadable(int32 chain_id, int64 first_pos, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("a pack of notary.ledger_packs cannot be read: chain %d from position " INT64_FORMAT,
					chain_id, first_pos),
			 errdetail("%s.", why),
			 errhint("The ledger was damaged or tampered with; notary.verify() lists what it can still check.")));
}
