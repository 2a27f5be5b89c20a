/*-------------------------------------------------------------------------
 *
 * pg_notary.h
 *		What crosses files in pg_notary: the ledger entry, the per-relation
 *		capture information, and the entry points of each subsystem.
 *
 * Subsystems, one file each:
 *	module.c		_PG_init, settings
 *	catalog.c		the extension's own tables: OIDs, owner, running as owner
 *	canonical.c		canonical text of a value (independent of session settings)
 *	format.c		the hashed byte format (docs/format.md): commitments, digests
 *	relinfo.c		per-relation capture info: layout, key, table id (cached)
 *	chain.c			per-backend chain heads, (sub)transaction rollback of heads
 *	ledger.c		appending one entry: sequence, who/when, hash, insert
 *	pack.c			the bytes of packed entries (notary.ledger_packs)
 *	ledger_scan.c	every entry in chain order, from both storages, merged
 *	ledger_view.c	notary.ledger: single and packed entries as one table
 *	capture.c		row and TRUNCATE triggers, baselines of whole tables
 *	enroll.c		notary.enable() / notary.disable(), enrolling one table
 *	guards.c		append-only guard of the ledger, event triggers
 *	ledger_read.c	reading layouts and images back for verification
 *	signing.c		the Ed25519 checkpoint key, in a file outside SQL
 *	pseudonym.c		keyed pseudonyms for open data, their key file
 *	publish.c		notary.publish(): views in schema opendata, staleness
 *	publish_policy.c	rules of a publication: parsing, checks, generated SQL
 *	merkle.c		RFC 9162 Merkle tree over entries (roots, audit paths)
 *	checkpoint.c	notary.checkpoint(), notary.verify_checkpoint()
 *	proof.c			notary.proof(): inclusion of one entry under a checkpoint
 *	export.c		notary.export(): the ledger as JSON lines
 *	worker.c		background worker for periodic checkpoints
 *	redaction.c		classification of personal columns, redaction
 *	verify.c		notary.verify(): hashes and links of every chain
 *	verify_table.c	notary.verify_table(): live table against its history
 *	history.c		notary.history(): one row's history
 *	opendata_export.c	open-data exports: views as CSV under one snapshot
 *	datapackage.c	datapackage.json and its signed manifest
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_NOTARY_H
#define PG_NOTARY_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/relcache.h"

#define NOTARY_HASH_LEN		32	/* BLAKE2b-256 */
#define NOTARY_SALT_LEN		16	/* per personal value */
#define NOTARY_FORMAT_VERSION 1

/* SQLSTATEs of pg_notary's own errors (class NT, documented in docs/) */
#define ERRCODE_NOTARY_LEDGER_APPEND_ONLY	MAKE_SQLSTATE('N','T','0','0','1')
#define ERRCODE_NOTARY_CAPTURE_BYPASS		MAKE_SQLSTATE('N','T','0','0','2')
#define ERRCODE_NOTARY_UNINSTALL_REFUSED	MAKE_SQLSTATE('N','T','0','0','3')

/* Operations recorded in the ledger (column op) */
#define NOTARY_OP_INSERT	"INSERT"
#define NOTARY_OP_UPDATE	"UPDATE"
#define NOTARY_OP_DELETE	"DELETE"
#define NOTARY_OP_TRUNCATE	"TRUNCATE"
#define NOTARY_OP_SNAPSHOT	"SNAPSHOT"
#define NOTARY_OP_BASELINE	"BASELINE"
#define NOTARY_OP_DDL		"DDL"
#define NOTARY_OP_ENABLE	"ENABLE"
#define NOTARY_OP_DISABLE	"DISABLE"
#define NOTARY_OP_CLASSIFY	"CLASSIFY"
#define NOTARY_OP_REDACT	"REDACT"
#define NOTARY_OP_PUBLISH	"PUBLISH"
#define NOTARY_OP_UNPUBLISH	"UNPUBLISH"
#define NOTARY_OP_EXPORT	"EXPORT"

#define NOTARY_REDACTED_LEN	(2 + NOTARY_HASH_LEN)	/* u16 position, commitment */
#define NOTARY_SEALED_FLAG	0x8000	/* on a redacted position: a sealed column */

/*
 * Columns of notary.ledger_entries (created as notary.ledger by
 * extension/pg_notary--0.1.sql), which are also the columns of the view
 * notary.ledger, for the code that reads or writes its tuples directly.
 * Before 0.4 there was no format_version (column 20): LEDGER_NATTS_V1
 * columns, every entry format 1.  notary_catalog()->ledger_natts says
 * which the installed schema has.
 */
#define LEDGER_NATTS			20
#define LEDGER_NATTS_V1			19
#define LEDGER_ATT_SEQ			1
#define LEDGER_ATT_CHAIN_ID		2
#define LEDGER_ATT_CHAIN_POS	3
#define LEDGER_ATT_ENTRY_HASH	5
#define LEDGER_ATT_ROW_IMAGE	15
#define LEDGER_ATT_ROW_SALTS	16
#define LEDGER_ATT_REDACTED		19
#define LEDGER_ATT_FORMAT		20

/* ---- canonical.c ---- */

typedef struct CanonCodec CanonCodec;

extern CanonCodec *canon_codec_create(Oid typid, MemoryContext mcxt);
extern char *canon_text(CanonCodec *codec, Datum value);
extern char *canon_text_of_type(Oid typid, Datum value);
extern char *canon_type_name(Oid typid, int32 typmod);

/* ---- format.c ---- */

struct NotaryImage;

/* The fields of a ledger entry that its hash covers. */
typedef struct NotaryEntry
{
	int			format_version;	/* 1 or 2: how it is hashed (not hashed itself) */
	int64		seq;
	int32		chain_id;
	int64		chain_pos;
	const char *op;
	uint64		xid;				/* full transaction id */
	int64		logged_at_us;		/* microseconds since 1970-01-01 UTC */
	const char *session_user_name;
	const char *current_user_name;
	const char *application_name;	/* may be NULL */
	const char *client_addr;		/* may be NULL */
	bool		has_table;
	int32		table_id;
	bool		has_image;
	bool		number_at_store;	/* not hashed: may be numbered (and
									 * hashed) when its pack is stored
									 * (ledger_seq.c) */
	int64		layout_id;			/* not hashed; points at the layout */
	uint8		image_digest[NOTARY_HASH_LEN];	/* format 1 */
	/* format 2 hashes the image itself, with has_image: */
	const uint8 *layout_digest; /* recomputed digest of the entry's layout */
	const struct NotaryImage *image;
	const int16 *personal;		/* the layout's personal columns, 0-based */
	int			npersonal;
	bool		has_old;
	uint8		old_digest[NOTARY_HASH_LEN];	/* row digest of the before-image */
	const char *detail;			/* canonical jsonb text, may be NULL */
} NotaryEntry;

/* A row image: canonical text of each captured column, in layout order. */
typedef struct NotaryImage
{
	int			ncols;
	char	  **values;			/* NULL element = SQL NULL (or redacted) */
	bytea	   *salts;			/* NOTARY_SALT_LEN per personal column, or NULL */
	bytea	   *redacted;		/* NOTARY_REDACTED_LEN per redacted column, or NULL */
} NotaryImage;

extern void format_layout_digest(int32 table_id, const char *schema_name,
								 const char *table_name, int ncols,
								 char **names, char **types,
								 int nkeys, const int16 *keys,
								 int npersonal, const int16 *personal,
								 uint8 *out);
extern const uint8 *format_redacted_record(const NotaryImage *img, int i);
extern const uint8 *format_redacted_commitment(const NotaryImage *img, int i);
extern void format_column_commitment(const char *value, const uint8 *salt,
									 int saltlen, uint8 *out);
extern void format_image_digest(const uint8 *layout_digest,
								const NotaryImage *img,
								const int16 *personal, int npersonal,
								uint8 *out);
extern void format_row_digest(const uint8 *layout_digest,
							  const NotaryImage *img,
							  const int16 *personal, int npersonal,
							  uint8 *out);
extern void format_entry_hash(const uint8 *prev_hash, const NotaryEntry *e,
							  uint8 *out);
extern void format_entry_rest(const NotaryEntry *e, StringInfo out);
extern void format_entry_hash_at(int format_version, const uint8 *prev_hash,
								 int64 seq, int32 chain_id, int64 chain_pos,
								 const char *rest, int len, uint8 *out);
extern void format_entry_image(NotaryEntry *e, const uint8 *layout_digest,
							   const NotaryImage *img, const int16 *personal,
							   int npersonal);
extern bool format_image_sealed(const NotaryImage *img);
extern bool format_seal_key(const char *key, int64 *seq);
extern void format_entry_seal(const uint8 *stored_hash, const uint8 *prev_hash,
							  const NotaryEntry *e, uint8 *out);
extern char *format_hex(const uint8 *bytes, int len);
extern bool format_unhex(const char *hex, uint8 *out, int len);

/* A checkpoint (docs/checkpoints.md). */
#define NOTARY_CHECKPOINT_FORMAT "pg_notary-checkpoint-v1"
#define NOTARY_PROOF_FORMAT "pg_notary-proof-v1"

typedef struct CheckpointHead
{
	int32		chain_id;
	int64		position;
	uint8		hash[NOTARY_HASH_LEN];
} CheckpointHead;

typedef struct NotaryCheckpoint
{
	int64		checkpoint_id;
	char	   *system_identifier;
	int32		timeline;
	char	   *database;
	int64		created_at_us;
	int64		ledger_seq;
	int64		entries;
	int			nchains;
	CheckpointHead *chains;		/* ascending chain_id */
	uint8		entries_root[NOTARY_HASH_LEN];
	bool		has_previous;
	uint8		previous[NOTARY_HASH_LEN];
	/* not part of the digest: */
	uint8		digest[NOTARY_HASH_LEN];
	char	   *key_id;
	uint8		signature[64];
} NotaryCheckpoint;

extern void format_key_digest(const uint8 *pk, int len, uint8 *out);
extern void format_checkpoint_digest(const NotaryCheckpoint *cp, uint8 *out);

/* ---- merkle.c ---- */

typedef struct MerkleBuilder
{
	int			depth;
	uint64		count;
	uint64		sizes[64];
	uint8		hashes[64][NOTARY_HASH_LEN];
} MerkleBuilder;

extern void merkle_leaf(const uint8 *entry_hash, uint8 *out);
extern void merkle_init(MerkleBuilder *mb);
extern void merkle_add(MerkleBuilder *mb, const uint8 *entry_hash);
extern void merkle_root(const MerkleBuilder *mb, uint8 *out);
extern int	merkle_path(const uint8 (*entry_hashes)[NOTARY_HASH_LEN], uint64 n,
						uint64 m, uint8 (*path)[NOTARY_HASH_LEN]);

/* ---- signing.c ---- */

extern char *notary_signing_key_file;
extern char *signing_key_id(const unsigned char *pk);
extern bool signing_key_exists(void);
extern void signing_public_key(unsigned char *pk, bool create);
extern void signing_sign(const uint8 *digest, int len, unsigned char *sig,
						 unsigned char *pk);

/* ---- pseudonym.c ---- */

#define PSEUDONYM_KEY_LEN	32	/* BLAKE2b key */
#define PSEUDONYM_LEN		16	/* BLAKE2b-128 output */
#define PSEUDONYM_TEXT_MAX	48	/* "k<version>." + 32 hex + NUL */
#define PSEUDONYM_CHECK_LEN	32	/* key check value: BLAKE2b-256 */

extern char *notary_pseudonym_key_file;
extern void pseudonym_init(void);
extern int32 pseudonym_newest_version(void);
extern void pseudonym_key_check(int32 version, uint8 *check);
extern const char *pseudonym_key_problem(int32 version, const uint8 *check,
										 char **detail);
extern void pseudonym_compute(int32 version, const char *domain,
							  const char *canonical, char *out);

/* ---- catalog.c ---- */

typedef struct NotaryCatalog
{
	Oid			namespace_oid;
	Oid			ledger_oid;		/* the view notary.ledger */
	Oid			entries_oid;	/* notary.ledger_entries: single entries */
	Oid			packs_oid;		/* notary.ledger_packs: packed entries */
	Oid			ledger_seq_oid;
	Oid			layouts_oid;
	Oid			layout_seq_oid;
	Oid			tables_oid;
	Oid			table_seq_oid;
	Oid			schemas_oid;
	Oid			owner_oid;
	int			ledger_natts;	/* LEDGER_NATTS, or LEDGER_NATTS_V1 before 0.4 */
	int			max_format;		/* the newest entry format the schema knows (2 since 0.4) */
} NotaryCatalog;

typedef struct NotaryUserSwitch
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			saved_nestlevel;
} NotaryUserSwitch;

extern const NotaryCatalog *notary_catalog(void);
extern bool notary_extension_present(void);
extern Oid	notary_extension_owner(void);
extern Oid	notary_extension_namespace(void);
extern void notary_catalog_reset(void);
extern void notary_become_owner(NotaryUserSwitch *sw);
extern void notary_restore_user(NotaryUserSwitch *sw);
extern void notary_spi_begin(NotaryUserSwitch *sw);
extern void notary_spi_end(NotaryUserSwitch *sw);
extern bool notary_schema_enabled(const char *schema_name);
extern void notary_schema_mark_disabled(const char *schema_name);

/* ---- relinfo.c ---- */

typedef struct RelInfo
{
	Oid			relid;
	bool		valid;
	int32		table_id;
	int64		layout_id;
	bool		layout_confirmed;	/* layout row seen committed */
	uint8		layout_digest[NOTARY_HASH_LEN];
	char	   *schema_name;
	char	   *table_name;
	int			ncols;			/* captured (non-dropped) columns */
	AttrNumber *attnums;		/* their attribute numbers */
	char	  **names;
	char	  **types;
	CanonCodec **codecs;
	int			nkeys;
	int16	   *keys;			/* 0-based positions into the columns */
	int			npersonal;
	int16	   *personal;		/* 0-based positions, ascending */
	MemoryContext mcxt;
} RelInfo;

extern void relinfo_init(void);
extern RelInfo *relinfo_get(Relation rel);
extern void relinfo_xact_end(bool commit);
extern void relinfo_build_image(RelInfo *ri, TupleDesc tupdesc, HeapTuple tuple,
								bool with_salts, NotaryImage *img);
extern void relinfo_build_old_image(RelInfo *ri, TupleDesc tupdesc,
									HeapTuple old_tuple, HeapTuple new_tuple,
									const NotaryImage *new_img, NotaryImage *img);
extern int32 relinfo_register_table(Oid relid, bool capturing);
extern void relinfo_forget(Oid relid);

/* ---- chain.c ---- */

extern void chain_init(void);
extern void chain_reserve(int32 *chain_id, int64 *pos, uint8 *prev_hash);
extern void chain_advance(int64 pos, const uint8 *hash);
extern void chain_advance_pending(int64 pos);
extern void chain_head_hash(uint8 *out);

/* ---- ledger.c ---- */

extern void ledger_init(void);
extern int64 ledger_seq_next(Oid seq_relid);
extern void ledger_seq_take(Oid seq_relid, int n, int64 *out);
extern void ledger_append(NotaryEntry *e);
extern void ledger_append_event(const char *op, bool has_table, int32 table_id,
								const char *detail_json);
extern void ledger_flush(void);
extern Datum ledger_hash_datum(const uint8 *h);
extern Datum ledger_image_datum(const NotaryImage *img);
extern void ledger_row_values(const NotaryEntry *e, const uint8 *prev,
							  const uint8 *hash, TimestampTz logged_at,
							  const NotaryImage *img, bool with_image,
							  Datum *values, bool *nulls);
extern void ledger_check_table(Oid relid);
extern char *ledger_of_table_sql(const char *param);
extern bool ledger_pending(const char **body, int *len, int32 *chain_id,
						   int64 *first_pos, uint64 *xid);

/* ---- ledger_read.c ---- */

/* A layout as read back from notary.layouts, its digest recomputed. */
typedef struct LayoutInfo
{
	int64		layout_id;		/* hash key */
	int32		table_id;
	bool		well_formed;	/* as many types as names */
	bool		digest_ok;		/* stored digest == recomputed */
	uint8		digest[NOTARY_HASH_LEN];	/* recomputed */
	char	   *schema_name;
	char	   *table_name;
	int			ncols;
	char	  **names;
	char	  **types;
	int			nkeys;
	int16	   *keys;			/* 0-based */
	int			npersonal;
	int16	   *personal;		/* 0-based */
} LayoutInfo;

struct HTAB;
extern struct HTAB *layouts_load(int32 table_id, MemoryContext mcxt);
extern LayoutInfo *layouts_find(struct HTAB *layouts, int64 layout_id);
extern int	layout_column(const LayoutInfo *l, const char *name);
extern int	read_text_array(Datum arr, char ***out);
extern void read_image(Datum row_image, bool salts_null, Datum row_salts,
					   NotaryImage *img);
extern bool *read_erased(const LayoutInfo *l, bool isnull, Datum redacted);
extern bool ledger_entry_from_values(const Datum *v, const bool *n, NotaryEntry *e);
extern int32 read_enrolled_table_id(Oid relid);

/* ---- checkpoint.c ---- */

struct HTAB;

/* A pack checkpoint_scan() could not read, when asked to go on past it. */
typedef struct UnreadablePack
{
	int32		chain;
	int64		first;
	int64		last;
	char	   *why;
} UnreadablePack;

extern void checkpoint_scan(NotaryCheckpoint *cp, struct HTAB *limits, bool collect,
							int32 find_chain, int64 find_pos, int64 *found,
							uint8 (**hashes)[NOTARY_HASH_LEN], List **unreadable);
extern struct HTAB *checkpoint_limits(const NotaryCheckpoint *cp);
extern char *checkpoint_to_json(const NotaryCheckpoint *cp);
extern char *checkpoint_create(bool only_if_changed, NotaryCheckpoint *cp);
extern void checkpoint_from_jsonb(Datum doc, NotaryCheckpoint *cp);
extern bool checkpoint_parse_quietly(Datum doc, NotaryCheckpoint *cp);
extern void checkpoint_verify_stored(void (*report) (void *arg, const char *problem,
													 const char *detail),
									 void *arg);

/* ---- export.c ---- */

extern const char *const export_layouts_sql;
extern const char *export_entries_sql(void);

/* ---- opendata_export.c, datapackage.c ---- */

#define NOTARY_DATAPACKAGE_FORMAT "pg_notary-datapackage-v1"

/* One view of an open-data export: a CSV file and its resource. */
typedef struct ExportResource
{
	Oid			relid;
	char	   *view;			/* schema.view, quoted for SQL */
	char	   *view_text;		/* schema.view as text */
	char	   *name;			/* resource name */
	char	   *path;			/* file name */
	char	   *title;			/* of the publication, may be NULL */
	char	   *description;	/* of the publication, may be NULL */
	int			ncols;
	char	  **colnames;
	Oid		   *coltypes;
	char	  **fieldtypes;		/* Frictionless field types */
	char	   *kanon_json;		/* notary.k_anonymity(), or NULL */
	int64		expected_rows;	/* counted under the export's snapshot */
	int64		rows;
	int64		bytes;
	uint8		sha256[32];
} ExportResource;

typedef struct ExportPackage
{
	char	   *name;
	char	   *title;
	char	   *description;	/* may be NULL */
	char	   *license;
	char	   *created;		/* RFC 3339, UTC */
	int			nres;
	ExportResource *res;
	NotaryCheckpoint cp;
	char	   *checkpoint_json;
	/* filled by datapackage_build */
	char	   *manifest;
	uint8		manifest_sha256[32];
} ExportPackage;

extern const char *datapackage_field_type(Oid typid, const char *rule);
extern const char *datapackage_license_key(const char *license);
extern char *datapackage_build(ExportPackage *pkg);

/* ---- redaction.c ---- */

extern char *classification_of(int32 table_id, const char *column);

/* ---- capture.c ---- */

extern int64 capture_baseline(Relation rel, const char *reason);

/* ---- enroll.c ---- */

extern bool notary_internal_ddl;
extern void enroll_table(Oid relid, const char *reason);
extern void enroll_note_layout(int32 table_id, const uint8 *digest, bool capturing);

/* ---- module.c ---- */

extern bool notary_allow_uninstall;
extern bool notary_restore_mode;
extern bool notary_pack_entries;
extern int	notary_entry_format;

/* ---- worker.c ---- */

extern int	notary_checkpoint_interval;
extern char *notary_checkpoint_database;
extern void worker_init(void);

#endif							/* PG_NOTARY_H */
