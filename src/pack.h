/*-------------------------------------------------------------------------
 *
 * pack.h
 *		Packed storage of ledger entries (pack.c): many entries of one
 *		chain and one transaction in one row of notary.ledger_packs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NOTARY_PACK_H
#define NOTARY_PACK_H

#include "pg_notary.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

/*
 * A pack is stored once its body reaches PACK_TARGET_BYTES, and an entry
 * that would take it past PACK_MAX_BYTES starts the next pack instead.
 * notary.ledger_packs has toast_tuple_target = 8160 (since 0.4), so a row
 * of that size is stored inline and PostgreSQL never tries to compress it
 * (which cost more CPU than the rest of the write): one pack per page,
 * each a single heap and index insertion for about 70 bulk-loaded rows.
 * Before 0.4 the table has the default target, and packs stay under
 * TOAST_TUPLE_THRESHOLD (2032 bytes with header and columns) instead.  Only
 * an entry bigger than that alone makes a bigger pack.
 */
#define PACK_TARGET_BYTES	7800
#define PACK_MAX_BYTES		7900
#define PACK_TARGET_BYTES_V1	1900
#define PACK_MAX_BYTES_V1	1960

/* Columns of notary.ledger_packs */
#define PACKS_NATTS			5
#define PACKS_ATT_CHAIN_ID	1
#define PACKS_ATT_FIRST_POS	2
#define PACKS_ATT_LAST_POS	3
#define PACKS_ATT_XID		4
#define PACKS_ATT_ENTRIES	5

/* One entry of a pack, decoded: everything notary.ledger shows of it. */
typedef struct PackedEntry
{
	NotaryEntry e;				/* seq, chain, position, op, who, table, layout,
								 * old digest, detail; image_digest unset */
	TimestampTz logged_at;
	uint8		prev_hash[NOTARY_HASH_LEN];
	uint8		entry_hash[NOTARY_HASH_LEN];
	NotaryImage img;			/* when e.has_image */
	int			encoded_len;	/* bytes of the body it took */
} PackedEntry;

/* What the encoder remembers of the entry before (deltas, repeated names). */
typedef struct PackCursor
{
	int			n;				/* entries so far */
	int			nseq;			/* ... of which numbered (pack_record) */
	int64		seq;
	TimestampTz logged_at;
	char	   *session_user_name;
	char	   *current_user_name;
	char	   *application_name;
	char	   *client_addr;
	MemoryContext mcxt;			/* where the remembered names live */
} PackCursor;

extern void pack_start(StringInfo body, PackCursor *cur, const uint8 *prev_hash,
					   int format_version, MemoryContext mcxt);
extern void pack_add(StringInfo body, PackCursor *cur, const NotaryEntry *e,
					 TimestampTz logged_at, const NotaryImage *img,
					 const uint8 *entry_hash);
extern void pack_record(StringInfo rec, PackCursor *cur, const NotaryEntry *e,
						TimestampTz logged_at, const NotaryImage *img);
extern void pack_add_numbered(StringInfo body, PackCursor *cur, const char *rec,
							  int len, int64 seq, const uint8 *entry_hash);
extern int	pack_decode(const char *body, int len, int32 chain_id, int64 first_pos,
						uint64 xid, PackedEntry **out, const char **why);
extern int	pack_decode_row(const Datum *v, const bool *n, PackedEntry **out,
							int64 *last, const char **why);
extern bytea *pack_encode(const PackedEntry *entries, int n);
extern void pack_entry_values(const PackedEntry *pe, Datum *values, bool *nulls,
							  bool with_image);
extern bool pack_entry_valid_text(const PackedEntry *pe);
extern void pack_unreadable(int32 chain_id, int64 first_pos, const char *why) pg_attribute_noreturn();
extern bool pack_last_hash(const char *body, int len, int64 *count, uint8 *hash);

#endif							/* NOTARY_PACK_H */
