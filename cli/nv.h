/*-------------------------------------------------------------------------
 *
 * nv.h
 *		What crosses files in notary-verify, the independent command-line
 *		verifier of pg_notary ledgers, checkpoints and proofs.
 *
 * notary-verify shares no code with the extension: it recomputes every
 * hash from docs/format.md and docs/checkpoints.md with libsodium, reads
 * JSON with jansson and talks to PostgreSQL with libpq.  Files:
 *	nv_hash.c		the hashed byte format: layouts, commitments, entries in
 *					formats 1 and 2, seals, checkpoint digests, key ids; hex
 *	nv_merkle.c		RFC 9162 Merkle tree hash and audit path check
 *	nv_parse.c		JSON objects -> layouts, entries, checkpoints (strict)
 *	nv_ledger.c		the verifier: layouts, chains, checkpoints vs ledger
 *	nv_proof.c		checking one proof document offline
 *	nv_findings.c	findings and notes, human and JSON output
 *	nv_export.c		reading an export file (JSON lines)
 *	nv_db.c			reading a live database with plain SQL (libpq)
 *	nv_datapackage.c	checking an open-data export (datapackage.json, CSV)
 *	notary_verify.c	main: arguments, exit status
 *	fuzz_parsers.c	libFuzzer target for the parsers
 *	notary_export.c	notary-export: a second program, exporting open data
 *
 * Exit status: 0 intact, 1 findings, 2 could not check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NV_H
#define NV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define NV_HASH_LEN		32		/* BLAKE2b-256 */
#define NV_SALT_LEN		16
#define NV_KEY_LEN		32		/* Ed25519 public key */
#define NV_SIG_LEN		64		/* Ed25519 detached signature */
#define NV_KEYID_LEN	8
#define NV_REDACTED_LEN	(2 + NV_HASH_LEN)	/* u16 position, commitment */
#define NV_SEALED_FLAG	0x8000	/* in a redacted record's u16: a sealed column */

#define NV_EXIT_INTACT		0
#define NV_EXIT_FINDINGS	1
#define NV_EXIT_ERROR		2

#define NV_CHECKPOINT_FORMAT	"pg_notary-checkpoint-v1"
#define NV_PROOF_FORMAT			"pg_notary-proof-v1"

/* An error message for the user (exit 2); empty when none. */
typedef struct NvError
{
	char		msg[1024];
} NvError;

extern void nv_error(NvError *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern char *nv_strdup(const char *s);
extern char *nv_printf(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));
extern void *nv_malloc(size_t n);
extern void *nv_realloc(void *p, size_t n);

/* ---- nv_hash.c ---- */

/* Decode lower- or upper-case hex; -1 if not hex or odd length. */
extern long nv_hex_decode(const char *hex, uint8_t *out, size_t outlen);
extern bool nv_is_hex(const char *s);
extern void nv_hex_encode(const uint8_t *bytes, size_t len, char *out);

typedef struct NvLayout
{
	int64_t		layout_id;
	int32_t		table_id;
	char	   *schema_name;
	char	   *table_name;
	int			ncols;
	char	  **names;			/* elements may be NULL (a tampered layout) */
	int			ntypes;
	char	  **types;
	int			nkeys;
	int32_t    *keys;			/* 1-based as stored; NULL element = 0 */
	int			npersonal;
	int32_t    *personal;		/* 1-based as stored */
	bool		stored_ok;		/* stored digest is 32 bytes */
	uint8_t		stored_digest[NV_HASH_LEN];
	/* computed by nv_layout_check */
	bool		well_formed;
	const char *why;			/* when not well formed */
	uint8_t		digest[NV_HASH_LEN];	/* recomputed; zeros if not well formed */
	bool		digest_ok;
} NvLayout;

typedef struct NvEntry
{
	int64_t		seq;
	int32_t		chain_id;
	int64_t		chain_pos;
	bool		prev_ok;		/* prev_hash is 32 bytes */
	uint8_t		prev_hash[NV_HASH_LEN];
	bool		hash_ok;		/* entry_hash is 32 bytes */
	uint8_t		entry_hash[NV_HASH_LEN];
	const char *op;
	uint64_t	xid;
	int64_t		logged_at_us;
	const char *session_user_name;
	const char *current_user_name;
	const char *application_name;	/* may be NULL */
	const char *client_addr;	/* may be NULL */
	bool		has_table;
	int32_t		table_id;
	bool		has_layout;
	int64_t		layout_id;
	bool		has_image;
	int			nvalues;
	const char **values;		/* elements may be NULL */
	bool		has_salts;
	uint8_t    *salts;
	size_t		salts_len;
	bool		has_old;
	bool		old_ok;			/* old_digest is 32 bytes */
	uint8_t		old_digest[NV_HASH_LEN];
	const char *detail;			/* may be NULL */
	bool		has_redacted;	/* "redacted" is not null */
	uint8_t    *redacted;		/* (u16 position, commitment) records */
	size_t		redacted_len;
	bool		format_null;	/* "format_version" is null */
	int64_t		format_version; /* 1 when the member is absent */
} NvEntry;

typedef struct NvChainHead
{
	uint32_t	chain_id;
	uint64_t	position;
	uint8_t		hash[NV_HASH_LEN];
} NvChainHead;

typedef struct NvCheckpoint
{
	uint64_t	checkpoint_id;
	char	   *system_identifier;
	uint32_t	timeline;
	char	   *database;
	int64_t		created_at_us;
	uint64_t	ledger_seq;
	uint64_t	entries;
	int			nchains;
	NvChainHead *chains;
	uint8_t		entries_root[NV_HASH_LEN];
	bool		has_previous;
	uint8_t		previous[NV_HASH_LEN];
	uint8_t		digest[NV_HASH_LEN];
	uint8_t		key_id[NV_KEYID_LEN];
	uint8_t		signature[NV_SIG_LEN];
} NvCheckpoint;

extern void nv_layout_check(NvLayout *l);
extern void nv_column_commitment(const char *value, const uint8_t *salt,
								 size_t saltlen, uint8_t *out);

/*
 * Hash one entry in its format (docs/format.md), with prev_hash as stored.
 * ldigest is the recomputed digest of the entry's layout, NULL when the
 * entry has no layout (the caller has found it); personal[] its personal
 * columns (1-based, ascending), ncols its column count.  A format-2 entry
 * with sealed columns gets its seal instead (computed with its stored
 * entry_hash), and *sealed is set.  Returns false with why set when the
 * entry cannot be hashed (malformed_entry); *redacted_ok (if not NULL)
 * tells whether the entry has a redacted field that is well formed, even
 * so (its erased columns count for forged_redaction).
 */
extern bool nv_entry_compute(const NvEntry *e, const uint8_t *ldigest,
							 int ncols, const int32_t *personal,
							 int npersonal, bool *sealed, bool *redacted_ok,
							 uint8_t *out, NvError *why);
/* The 0-based column of a redacted record at byte k of e->redacted. */
extern int	nv_redacted_position(const NvEntry *e, size_t k);
extern void nv_checkpoint_digest(const NvCheckpoint *cp, uint8_t *out);
extern void nv_key_id(const uint8_t *public_key, uint8_t *out);

/* ---- nv_merkle.c ---- */

typedef struct NvMerkle
{
	int			depth;
	uint64_t	count;
	uint64_t	sizes[64];
	uint8_t		stack[64][NV_HASH_LEN];
} NvMerkle;

extern void nv_merkle_init(NvMerkle *m);
extern void nv_merkle_leaf_hash(const uint8_t *entry_hash, uint8_t *out);
extern void nv_merkle_add(NvMerkle *m, const uint8_t *entry_hash);
extern void nv_merkle_root(const NvMerkle *m, uint8_t *out);
extern bool nv_merkle_verify_path(uint64_t leaf_index, uint64_t tree_size,
								  const uint8_t *entry_hash,
								  const uint8_t (*path)[NV_HASH_LEN],
								  size_t npath, const uint8_t *root);

/* ---- nv_parse.c ---- */

/*
 * Each parser fills its struct from a JSON object and returns true, or
 * returns false with err set.  Strings point into the JSON object, which
 * must outlive the struct unless said otherwise; nv_*_free releases only
 * what the parser allocated.
 */
extern bool nv_parse_layout(json_t *o, NvLayout *l, NvError *err);
extern void nv_layout_free(NvLayout *l);
extern bool nv_parse_entry(json_t *o, NvEntry *e, NvError *err);
extern void nv_entry_free(NvEntry *e);
extern bool nv_parse_checkpoint(json_t *o, NvCheckpoint *cp, NvError *err);
extern void nv_checkpoint_free(NvCheckpoint *cp);
extern const char *nv_line_type(json_t *o);

/* ---- nv_findings.c ---- */

typedef struct NvFinding
{
	char	   *problem;
	bool		has_seq;
	int64_t		seq;
	bool		has_chain;
	int32_t		chain_id;
	bool		has_pos;
	int64_t		chain_pos;
	bool		has_layout;
	int64_t		layout_id;
	bool		has_checkpoint;
	int64_t		checkpoint_id;
	char	   *detail;
} NvFinding;

typedef struct NvReport
{
	NvFinding  *findings;
	size_t		nfindings;
	size_t		cap;
	char	  **notes;
	size_t		nnotes;
	/* what was checked */
	const char *source;
	uint64_t	entries;
	uint64_t	layouts;
	uint64_t	chains;
	uint64_t	checkpoints_checked;
	uint64_t	proofs_checked;
	uint64_t	files_checked;	/* data package files */
} NvReport;

extern NvFinding *nv_finding(NvReport *r, const char *problem,
							 const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void nv_note(NvReport *r, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void nv_report_print(const NvReport *r, FILE *out, bool json);
extern void nv_report_free(NvReport *r);

/* ---- nv_ledger.c ---- */

typedef struct NvVerifier NvVerifier;

typedef struct NvTrusted
{
	NvCheckpoint cp;
	json_t	   *doc;			/* keeps the parsed document alive */
	bool		compare;		/* authentic enough to compare with the ledger */
} NvTrusted;

/*
 * A verifier is fed layouts, then entries in (chain_id, chain_pos) order,
 * then stored checkpoints; nv_verifier_finish reports what remains.
 * Feeding functions return false with err set only when the input cannot
 * be checked at all (exit 2).
 */
extern NvVerifier *nv_verifier_new(NvReport *r, bool progress);
extern void nv_verifier_set_key(NvVerifier *v, const uint8_t *public_key);
extern void nv_verifier_no_stored_checkpoints(NvVerifier *v);
extern void nv_verifier_set_identity(NvVerifier *v, const char *system_identifier,
									 const char *database);
extern void nv_verifier_add_trusted(NvVerifier *v, json_t *doc,
									const char *label);
extern bool nv_verifier_line(NvVerifier *v, json_t *o, const char *where,
							 NvError *err);
extern bool nv_verifier_finish(NvVerifier *v, NvError *err);
extern void nv_verifier_free(NvVerifier *v);

/* Check a checkpoint's digest, key and signature; findings go to r. */
extern bool nv_checkpoint_authentic(NvReport *r, const NvCheckpoint *cp,
									const char *label,
									const uint8_t *public_key);

/* ---- nv_proof.c ---- */

extern void nv_proof_check(NvReport *r, json_t *doc, const uint8_t *public_key);

/* ---- nv_export.c ---- */

/* Feed one line (without its newline) of an export; lineno from 1. */
extern bool nv_export_line(NvVerifier *v, const char *line, size_t len,
						   unsigned long lineno, NvError *err);
extern bool nv_export_read(NvVerifier *v, const char *path, NvError *err);
extern json_t *nv_json_file(const char *path, NvError *err);

/* ---- nv_datapackage.c ---- */

extern bool nv_datapackage_check(NvReport *r, const char *dir,
								 const uint8_t *public_key, NvError *err);

/* ---- nv_db.c ---- */

extern bool nv_db_read(NvVerifier *v, NvReport *r, const char *conninfo,
					   NvError *err);
extern void nv_db_print_export_sql(FILE *out);

#endif							/* NV_H */
