/*-------------------------------------------------------------------------
 *
 * nv_ledger.c
 *		The verifier proper: layouts, every chain of the ledger, and the
 *		ledger against trusted checkpoints.
 *
 * Findings agree with the extension's notary.verify() (docs/format.md
 * "What verification checks"), check for check: every layout digest is
 * recomputed (altered_layout); then, chain by chain in position order,
 * positions must run 1, 2, 3, ... (missing_entry; a position out of order
 * is malformed_entry), each prev_hash must equal the previous entry's
 * entry_hash (broken_link), and each entry_hash must equal the hash
 * recomputed from the entry's content (altered_entry), or the entry could
 * not be hashed at all (malformed_entry).
 *
 * Against a trusted checkpoint (docs/checkpoints.md): every chain head the
 * checkpoint lists must still be in the ledger (entries_missing) with the
 * same hash (history_rewritten), and the Merkle root over the covered
 * entries must equal entries_root (history_rewritten); a sealed entry it
 * covers must not rest on the seal of a REDACT entry it does not cover
 * (sealed_after_checkpoint: the checkpoint cannot vouch for what is left
 * of it).  A checkpoint that
 * is malformed, or not authentic (its fields do not match its digest, it
 * names another key, its signature fails), is not compared.  One of
 * another cluster or database is reported (other_cluster) and, when
 * authentic, still compared: a restored copy of a ledger is checked
 * against the checkpoints its source published.  As the extension's
 * notary.verify_checkpoint() does.
 *
 * Redactions (docs/redaction.md): an entry's redacted field must be a
 * whole number of (position, commitment) records, positions ascending
 * within the image, each value NULL (else malformed_entry); the kept
 * commitments stand in the image digest for the erased values.  Every
 * erased (entry, column) must be named, with the entry's seq, by a later
 * REDACT entry, else forged_redaction, reported at the end (a REDACT
 * entry can come in any chain, before or after the entries it names).
 *
 * Formats (docs/format.md): each entry is hashed in its format_version, 1
 * or 2 (anything else is malformed_entry).  A format-2 entry with sealed
 * columns (erased where they were hashed as they are) cannot be hashed:
 * its seal is recomputed instead, and checked at the end against the seal
 * that the newest later REDACT entry naming it records in its detail's
 * "sealed" (none: forged_redaction; another: altered_entry).  Its stored
 * entry_hash stands for it in its chain.
 *
 * Entries arrive in (chain_id, chain_pos) order and are checked as they
 * come: memory is one entry, the layouts, per checkpoint a Merkle stack
 * and its chain heads, one record per redacted column, and one per
 * sealed entry and per recorded seal.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define PROGRESS_EVERY 100000

/* What the verifier keeps of a layout. */
typedef struct KeptLayout
{
	int64_t		layout_id;
	char	   *name;			/* schema.table, for messages */
	int			ncols;
	char	  **names;			/* column names (NULL where the layout has none) */
	int			npersonal;
	int32_t    *personal;
	uint8_t		digest[NV_HASH_LEN];	/* recomputed */
} KeptLayout;

/* Where a checkpoint's chain head was found in the ledger. */
typedef struct HeadState
{
	bool		seen;			/* the listed position is in the ledger */
	bool		same;			/* ... with the listed hash */
	int64_t		seq;
	bool		chain_seen;
	int64_t		last_pos;		/* highest position of the chain seen */
} HeadState;

typedef struct Tracker
{
	NvCheckpoint cp;
	char	   *label;
	bool		digest_ok;		/* parsed, and its fields match its digest */
	bool		usable;			/* parsed and authentic enough to compare */
	NvMerkle	merkle;
	HeadState  *heads;
	int			cur;			/* index of the current chain in cp.chains, or -1 */
	int32_t		cur_chain;
	bool		cur_known;
} Tracker;

/*
 * One (entry, column) of a redaction: erased in the entry, or recorded by
 * a REDACT entry.  The column is compared as the extension keys it: its
 * first NAMEDATALEN - 1 bytes.
 */
typedef struct RedactionItem
{
	int64_t		seq;
	char	   *column;
	int32_t		chain_id;		/* where it was erased */
	int64_t		chain_pos;
} RedactionItem;

#define COLUMN_KEY_LEN 63

/*
 * Seals (docs/format.md "Sealed columns"): a format-2 entry with sealed
 * columns, and the seal recomputed from it; or a seal a REDACT entry
 * records for an earlier entry (seq), ok when it is 32 bytes of hex.
 */
typedef struct SealItem
{
	int64_t		seq;
	int64_t		redact_seq;		/* records: the REDACT entry's seq */
	bool		ok;
	uint8_t		seal[NV_HASH_LEN];
	int32_t		chain_id;		/* where the sealed entry, or the REDACT */
	int64_t		chain_pos;		/* entry of a recorded seal, is */
} SealItem;

/* A stored checkpoint's id and the digest its document names. */
typedef struct StoredCp
{
	uint64_t	checkpoint_id;
	uint8_t		digest[NV_HASH_LEN];
} StoredCp;

struct NvVerifier
{
	NvReport   *r;
	bool		progress;
	bool		progress_shown;
	int			phase;			/* 0 layouts, 1 entries, 2 checkpoints */

	KeptLayout *layouts;
	size_t		nlayouts;
	size_t		caplayouts;

	/* the chain being walked */
	bool		in_chain;
	int32_t		cur_chain;
	int64_t		expected;
	bool		link_known;
	uint8_t		last_hash[NV_HASH_LEN];

	Tracker    *trackers;
	int			ntrackers;

	bool		has_key;
	uint8_t		key[NV_KEY_LEN];

	/* the cluster the ledger comes from, when known */
	char	   *system_identifier;
	char	   *database;
	char	   *identity_source;
	uint64_t	stored_checkpoints;
	uint64_t	identity_checkpoint;

	/* the stored checkpoints' own chain (as notary.verify() checks it) */
	bool		stored_source;	/* the source can hold stored checkpoints */
	int64_t		stored_expected;
	bool		stored_have_prev;
	uint8_t		stored_prev[NV_HASH_LEN];
	StoredCp   *stored;
	size_t		nstored;

	/* redactions: the columns entries show erased, those REDACT entries name */
	RedactionItem *erased;
	size_t		nerased;
	size_t		caperased;
	RedactionItem *recorded;
	size_t		nrecorded;
	size_t		caprecorded;

	/* seals: of the sealed entries (recomputed), recorded by REDACT entries */
	SealItem   *sealed;
	size_t		nsealed;
	size_t		capsealed;
	SealItem   *seals;
	size_t		nseals;
	size_t		capseals;
	/* seqs of the entries with a column reported forged_redaction, ascending */
	int64_t    *forged;
	size_t		nforged;
};

NvVerifier *
nv_verifier_new(NvReport *r, bool progress)
{
	NvVerifier *v = nv_malloc(sizeof(NvVerifier));

	memset(v, 0, sizeof(*v));
	v->r = r;
	v->progress = progress;
	v->stored_source = true;
	v->stored_expected = 1;
	return v;
}

void
nv_verifier_set_key(NvVerifier *v, const uint8_t *public_key)
{
	v->has_key = true;
	memcpy(v->key, public_key, NV_KEY_LEN);
}

/* The source has no notary.checkpoints (an older pg_notary). */
void
nv_verifier_no_stored_checkpoints(NvVerifier *v)
{
	v->stored_source = false;
}

/* The connected cluster's identity (--dbname). */
void
nv_verifier_set_identity(NvVerifier *v, const char *system_identifier,
						 const char *database)
{
	free(v->system_identifier);
	free(v->database);
	free(v->identity_source);
	v->system_identifier = nv_strdup(system_identifier);
	v->database = nv_strdup(database);
	v->identity_source = nv_strdup("the connected database");
}

/*
 * Check a checkpoint's own integrity: its fields against its digest, its
 * key id against the given key, its signature.  Returns true if nothing
 * was found (or no key was given, which is noted).
 */
bool
nv_checkpoint_authentic(NvReport *r, const NvCheckpoint *cp,
						const char *label, const uint8_t *public_key)
{
	uint8_t		digest[NV_HASH_LEN];
	bool		ok = true;
	NvFinding  *f;

	nv_checkpoint_digest(cp, digest);
	if (sodium_memcmp(digest, cp->digest, NV_HASH_LEN) != 0)
	{
		/* one finding: its key and signature are beside the point */
		f = nv_finding(r, "bad_signature",
					   "%s: its fields do not match its digest: the document was changed after it was signed",
					   label);
		f->has_checkpoint = true;
		f->checkpoint_id = (int64_t) cp->checkpoint_id;
		return false;
	}
	if (public_key == NULL)
	{
		nv_note(r, "%s: signature not checked (no --public-key given)", label);
		return true;
	}
	{
		uint8_t		id[NV_KEYID_LEN];
		char		want[2 * NV_KEYID_LEN + 1];
		char		have[2 * NV_KEYID_LEN + 1];

		nv_key_id(public_key, id);
		if (memcmp(id, cp->key_id, NV_KEYID_LEN) != 0)
		{
			nv_hex_encode(id, NV_KEYID_LEN, want);
			nv_hex_encode(cp->key_id, NV_KEYID_LEN, have);
			f = nv_finding(r, "wrong_key",
						   "%s is signed by key %s, not by the given public key (key id %s)",
						   label, have, want);
			f->has_checkpoint = true;
			f->checkpoint_id = (int64_t) cp->checkpoint_id;
			return false;
		}
	}
	if (crypto_sign_verify_detached(cp->signature, digest, NV_HASH_LEN,
									public_key) != 0)
	{
		f = nv_finding(r, "bad_signature",
					   "%s: the signature does not verify with the given public key",
					   label);
		f->has_checkpoint = true;
		f->checkpoint_id = (int64_t) cp->checkpoint_id;
		ok = false;
	}
	return ok;
}

/*
 * A trusted checkpoint (held outside the database).  Its authenticity is
 * checked now; it is compared with the ledger as the entries go by.
 */
void
nv_verifier_add_trusted(NvVerifier *v, json_t *doc, const char *label)
{
	Tracker    *t;
	NvError		err;

	v->trackers = nv_realloc(v->trackers, sizeof(Tracker) * (size_t) (v->ntrackers + 1));
	t = &v->trackers[v->ntrackers++];
	memset(t, 0, sizeof(*t));
	t->cur = -1;
	nv_merkle_init(&t->merkle);
	v->r->checkpoints_checked++;
	if (!nv_parse_checkpoint(doc, &t->cp, &err))
	{
		t->label = nv_strdup(label);
		nv_finding(v->r, "malformed_checkpoint", "%s: %s", label, err.msg);
		return;
	}
	t->label = nv_printf("%s (checkpoint %" PRIu64 ")", label, t->cp.checkpoint_id);
	t->heads = nv_malloc(sizeof(HeadState) * (size_t) (t->cp.nchains + 1));
	memset(t->heads, 0, sizeof(HeadState) * (size_t) (t->cp.nchains + 1));
	{
		uint8_t		digest[NV_HASH_LEN];

		nv_checkpoint_digest(&t->cp, digest);
		t->digest_ok = sodium_memcmp(digest, t->cp.digest, NV_HASH_LEN) == 0;
	}
	t->usable = nv_checkpoint_authentic(v->r, &t->cp, t->label,
										v->has_key ? v->key : NULL);
	if (!t->usable)
		nv_note(v->r, "%s not compared with the ledger: it is not authentic", t->label);
}

/* ---- layouts ------------------------------------------------------------- */

static int
cmp_layout(const void *a, const void *b)
{
	int64_t		x = ((const KeptLayout *) a)->layout_id;
	int64_t		y = ((const KeptLayout *) b)->layout_id;

	return (x > y) - (x < y);
}

static KeptLayout *
find_layout(NvVerifier *v, int64_t id)
{
	KeptLayout	key;

	if (v->nlayouts == 0)
		return NULL;
	key.layout_id = id;
	return bsearch(&key, v->layouts, v->nlayouts, sizeof(KeptLayout), cmp_layout);
}

static bool
add_layout(NvVerifier *v, json_t *o, const char *where, NvError *err)
{
	NvLayout	l;
	KeptLayout *k;
	NvFinding  *f;

	if (v->phase > 0)
	{
		nv_error(err, "%s: a layout after entries: the export is not in the documented order (layouts, entries, checkpoints)", where);
		return false;
	}
	if (!nv_parse_layout(o, &l, err))
	{
		char		msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%.60s: malformed layout: %.900s", where, err->msg);
		nv_error(err, "%s", msg);
		return false;
	}
	nv_layout_check(&l);
	if (v->nlayouts == v->caplayouts)
	{
		v->caplayouts = v->caplayouts ? v->caplayouts * 2 : 16;
		v->layouts = nv_realloc(v->layouts, sizeof(KeptLayout) * v->caplayouts);
	}
	k = &v->layouts[v->nlayouts++];
	k->layout_id = l.layout_id;
	k->name = nv_printf("%s.%s", l.schema_name, l.table_name);
	k->ncols = l.ncols;
	k->names = nv_malloc(sizeof(char *) * (size_t) (l.ncols + 1));
	for (int c = 0; c < l.ncols; c++)
		k->names[c] = l.names[c] ? nv_strdup(l.names[c]) : NULL;
	k->npersonal = l.npersonal;
	k->personal = l.personal;
	l.personal = NULL;
	memcpy(k->digest, l.digest, NV_HASH_LEN);
	v->r->layouts++;

	if (!l.well_formed)
		f = nv_finding(v->r, "altered_layout",
					   "layout %" PRId64 " of %s cannot be hashed: %s",
					   l.layout_id, k->name, l.why);
	else if (!l.digest_ok)
		f = nv_finding(v->r, "altered_layout",
					   "layout %" PRId64 " of %s does not match its digest: its names, types or key were changed after it was written",
					   l.layout_id, k->name);
	else
		f = NULL;
	if (f)
	{
		f->has_layout = true;
		f->layout_id = l.layout_id;
	}
	nv_layout_free(&l);
	return true;
}

/* End of the layouts: sort them for lookup; refuse duplicate ids. */
static bool
layouts_done(NvVerifier *v, NvError *err)
{
	size_t		i;

	if (v->nlayouts > 0)
		qsort(v->layouts, v->nlayouts, sizeof(KeptLayout), cmp_layout);
	for (i = 1; i < v->nlayouts; i++)
		if (v->layouts[i].layout_id == v->layouts[i - 1].layout_id)
		{
			nv_error(err, "layout %" PRId64 " appears twice", v->layouts[i].layout_id);
			return false;
		}
	return true;
}

/* ---- entries ------------------------------------------------------------- */

static void
entry_finding(NvVerifier *v, const NvEntry *e, const char *problem,
			  char *detail)
{
	NvFinding  *f = nv_finding(v->r, problem, "%s", detail);

	f->has_seq = f->has_chain = f->has_pos = true;
	f->seq = e->seq;
	f->chain_id = e->chain_id;
	f->chain_pos = e->chain_pos;
	free(detail);
}

/* ---- redactions ---------------------------------------------------------- */

static void
redaction_add(RedactionItem **items, size_t *n, size_t *cap, int64_t seq,
			  const char *column, int32_t chain_id, int64_t chain_pos)
{
	RedactionItem *it;

	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 64;
		*items = nv_realloc(*items, sizeof(RedactionItem) * *cap);
	}
	it = &(*items)[(*n)++];
	it->seq = seq;
	it->column = nv_malloc(COLUMN_KEY_LEN + 1);
	snprintf(it->column, COLUMN_KEY_LEN + 1, "%s", column);
	it->chain_id = chain_id;
	it->chain_pos = chain_pos;
}

/* The columns an entry shows erased (its redacted field, well formed). */
static void
redactions_note(NvVerifier *v, const NvEntry *e, const KeptLayout *l)
{
	size_t		k;

	for (k = 0; k + NV_REDACTED_LEN <= e->redacted_len; k += NV_REDACTED_LEN)
	{
		int			pos = nv_redacted_position(e, k);

		/*
		 * A layout without that column's name is altered_layout, and its
		 * entries altered_entry; no REDACT entry can name the column.
		 */
		if (l->names[pos] == NULL)
			continue;
		redaction_add(&v->erased, &v->nerased, &v->caperased, e->seq,
					  l->names[pos], e->chain_id, e->chain_pos);
	}
}

static SealItem *
seal_add(SealItem **items, size_t *n, size_t *cap, int64_t seq)
{
	SealItem   *it;

	if (*n == *cap)
	{
		*cap = *cap ? *cap * 2 : 16;
		*items = nv_realloc(*items, sizeof(SealItem) * *cap);
	}
	it = &(*items)[(*n)++];
	memset(it, 0, sizeof(*it));
	it->seq = seq;
	return it;
}

/*
 * The seals a REDACT entry records: detail {"sealed": {"<seq>": "<hex>"}},
 * for earlier entries only (docs/format.md).  A key names an entry only as
 * its seq in decimal, without sign or leading zeros; a value that is not
 * 64 lower-case hex digits is a seal that matches nothing.
 */
static void
seals_record(NvVerifier *v, const NvEntry *e, json_t *d)
{
	json_t	   *sealed = json_object_get(d, "sealed");
	const char *key;
	json_t	   *val;

	if (!json_is_object(sealed))
		return;
	json_object_foreach(sealed, key, val)
	{
		char	   *end;
		long long	seq;
		SealItem   *it;
		const char *hex = json_string_value(val);

		char		canonical[24];

		errno = 0;
		seq = strtoll(key, &end, 10);
		if (errno != 0 || end == key || *end != '\0')
			continue;
		snprintf(canonical, sizeof(canonical), "%lld", seq);
		if (strcmp(key, canonical) != 0 || seq >= e->seq)
			continue;			/* no entry, or not an earlier one */
		it = seal_add(&v->seals, &v->nseals, &v->capseals, (int64_t) seq);
		it->redact_seq = e->seq;
		it->chain_id = e->chain_id;	/* where the REDACT entry is */
		it->chain_pos = e->chain_pos;
		it->ok = hex != NULL && strlen(hex) == 2 * NV_HASH_LEN &&
			strspn(hex, "0123456789abcdef") == 2 * NV_HASH_LEN &&
			nv_hex_decode(hex, it->seal, NV_HASH_LEN) == NV_HASH_LEN;
	}
}

static int
cmp_seal(const void *a, const void *b)
{
	const SealItem *x = a;
	const SealItem *y = b;

	if (x->seq != y->seq)
		return (x->seq > y->seq) - (x->seq < y->seq);
	return (x->redact_seq > y->redact_seq) - (x->redact_seq < y->redact_seq);
}

/*
 * The seal the newest REDACT entry recorded for entry seq, or NULL; *j is
 * where to start looking in v->seals (sorted), for seqs in ascending order.
 */
static SealItem *
newest_seal(NvVerifier *v, int64_t seq, size_t *j)
{
	SealItem   *rec = NULL;

	while (*j < v->nseals && v->seals[*j].seq < seq)
		(*j)++;
	while (*j < v->nseals && v->seals[*j].seq == seq)
		rec = &v->seals[(*j)++];	/* the last: the newest REDACT entry */
	return rec;
}

static int
cmp_seq(const void *a, const void *b)
{
	int64_t		x = *(const int64_t *) a;
	int64_t		y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

/*
 * Every sealed entry against the seal the newest later REDACT entry that
 * names it records: none is forged_redaction (unless a column of it was
 * reported so already: one finding per entry erased by hand, as
 * notary.verify() reports it), another seal altered_entry.  Its stored
 * entry_hash stood for it in its chain.
 */
static void
seals_finish(NvVerifier *v)
{
	size_t		i;
	size_t		j = 0;

	if (v->nsealed == 0)
		return;
	qsort(v->sealed, v->nsealed, sizeof(SealItem), cmp_seal);
	if (v->nseals > 0)
		qsort(v->seals, v->nseals, sizeof(SealItem), cmp_seal);
	for (i = 0; i < v->nsealed; i++)
	{
		SealItem   *it = &v->sealed[i];
		SealItem   *rec = NULL;
		NvFinding  *f;

		rec = newest_seal(v, it->seq, &j);
		if (rec == NULL && v->nforged > 0 &&
			bsearch(&it->seq, v->forged, v->nforged, sizeof(int64_t), cmp_seq) != NULL)
			continue;			/* one finding per entry erased by hand */
		if (rec == NULL)
			f = nv_finding(v->r, "forged_redaction",
						   "the entry has sealed columns, but no REDACT entry records its seal: a value was erased by hand");
		else if (!rec->ok || sodium_memcmp(rec->seal, it->seal, NV_HASH_LEN) != 0)
			f = nv_finding(v->r, "altered_entry",
						   "the entry does not match the seal that REDACT entry %" PRId64 " recorded for it: it was changed after it was sealed",
						   rec->redact_seq);
		else
			continue;
		f->has_seq = f->has_chain = f->has_pos = true;
		f->seq = it->seq;
		f->chain_id = it->chain_id;
		f->chain_pos = it->chain_pos;
	}
}

/*
 * What a REDACT entry records: detail {"columns": [names], "entries":
 * [seq, ...]}, every column of every entry named.  Only earlier entries
 * count; anything else in the detail is ignored, as notary.verify() does.
 */
static void
redactions_record(NvVerifier *v, const NvEntry *e)
{
	json_error_t jerr;
	json_t	   *d = json_loads(e->detail, 0, &jerr);
	json_t	   *cols;
	json_t	   *ents;
	json_t	   *x;
	json_t	   *c;
	size_t		i;
	size_t		j;

	/* an integer beyond 64 bits (jsonb takes any) must not hide the rest */
	if (d == NULL)
		d = json_loads(e->detail, JSON_DECODE_INT_AS_REAL, &jerr);
	if (d == NULL)
		return;
	cols = json_object_get(d, "columns");
	ents = json_object_get(d, "entries");
	if (json_is_array(cols) && json_is_array(ents))
	{
		json_array_foreach(ents, i, x)
		{
			int64_t		seq;

			if (json_is_integer(x))
				seq = (int64_t) json_integer_value(x);
			else if (json_is_real(x) && json_real_value(x) > -9.2e18 &&
					 json_real_value(x) < 9.2e18)
				seq = (int64_t) llround(json_real_value(x));	/* as numeric_int8 */
			else
				continue;
			if (seq >= e->seq)
				continue;		/* a redaction records only earlier entries */
			json_array_foreach(cols, j, c)
				if (json_is_string(c))
					redaction_add(&v->recorded, &v->nrecorded, &v->caprecorded,
								  seq, json_string_value(c), 0, 0);
		}
	}
	seals_record(v, e, d);
	json_decref(d);
}

static int
cmp_redaction(const void *a, const void *b)
{
	const RedactionItem *x = a;
	const RedactionItem *y = b;

	if (x->seq != y->seq)
		return (x->seq > y->seq) - (x->seq < y->seq);
	return strcmp(x->column, y->column);
}

/* Every erased (entry, column) that no REDACT entry records. */
static void
redactions_finish(NvVerifier *v)
{
	size_t		i;
	size_t		j = 0;

	if (v->nerased == 0)
		return;
	qsort(v->erased, v->nerased, sizeof(RedactionItem), cmp_redaction);
	if (v->nrecorded > 0)
		qsort(v->recorded, v->nrecorded, sizeof(RedactionItem), cmp_redaction);
	for (i = 0; i < v->nerased; i++)
	{
		RedactionItem *it = &v->erased[i];
		NvFinding  *f;

		if (i > 0 && cmp_redaction(it, &v->erased[i - 1]) == 0)
			continue;			/* one finding per (entry, column) */
		while (j < v->nrecorded && cmp_redaction(&v->recorded[j], it) < 0)
			j++;
		if (j < v->nrecorded && cmp_redaction(&v->recorded[j], it) == 0)
			continue;
		f = nv_finding(v->r, "forged_redaction",
					   "column \"%s\" of this entry was erased, but no REDACT entry records it: a value was changed or erased by hand",
					   it->column);
		if (v->nforged == 0 || v->forged[v->nforged - 1] != it->seq)
		{
			v->forged = nv_realloc(v->forged, sizeof(int64_t) * (v->nforged + 1));
			v->forged[v->nforged++] = it->seq;
		}
		f->has_seq = f->has_chain = f->has_pos = true;
		f->seq = it->seq;
		f->chain_id = it->chain_id;
		f->chain_pos = it->chain_pos;
	}
}

static void
redactions_free(RedactionItem *items, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		free(items[i].column);
	free(items);
}

/*
 * Recompute one entry's hash (or, sealed, its seal) from its content, with
 * its own prev_hash.  Returns NULL, or why the entry cannot be hashed
 * (malloc'd).  Notes the columns the entry shows redacted.
 */
static char *
recompute(NvVerifier *v, const NvEntry *e, bool *sealed, uint8_t *out)
{
	KeptLayout *l = NULL;
	bool		redacted_ok;
	bool		ok;
	NvError		why;

	*sealed = false;
	if (e->has_layout)
	{
		l = find_layout(v, e->layout_id);
		if (l == NULL)
			return nv_printf("the entry refers to layout %" PRId64 ", which notary.layouts does not hold", e->layout_id);
	}
	ok = nv_entry_compute(e, l ? l->digest : NULL, l ? l->ncols : 0,
						  l ? l->personal : NULL, l ? l->npersonal : 0,
						  sealed, &redacted_ok, out, &why);
	if (redacted_ok)
		redactions_note(v, e, l);
	return ok ? NULL : nv_strdup(why.msg);
}

/* Feed one ledger position to every checkpoint tracker. */
static void
track(NvVerifier *v, const NvEntry *e, const uint8_t *hash)
{
	int			i;

	for (i = 0; i < v->ntrackers; i++)
	{
		Tracker    *t = &v->trackers[i];
		NvChainHead *h;
		HeadState  *s;

		if (t->heads == NULL)
			continue;
		if (!t->cur_known || t->cur_chain != e->chain_id)
		{
			int			lo = 0;
			int			hi = t->cp.nchains - 1;

			t->cur_known = true;
			t->cur_chain = e->chain_id;
			t->cur = -1;
			while (lo <= hi && e->chain_id >= 0)
			{
				int			mid = lo + (hi - lo) / 2;
				uint32_t	c = t->cp.chains[mid].chain_id;

				if (c == (uint32_t) e->chain_id)
				{
					t->cur = mid;
					break;
				}
				if (c < (uint32_t) e->chain_id)
					lo = mid + 1;
				else
					hi = mid - 1;
			}
		}
		if (t->cur < 0)
			continue;
		h = &t->cp.chains[t->cur];
		s = &t->heads[t->cur];
		if (!s->chain_seen || e->chain_pos > s->last_pos)
			s->last_pos = e->chain_pos;
		s->chain_seen = true;
		if (e->chain_pos < 1 || (uint64_t) e->chain_pos > h->position)
			continue;
		nv_merkle_add(&t->merkle, hash);
		if ((uint64_t) e->chain_pos == h->position && !s->seen)
		{
			s->seen = true;
			s->same = sodium_memcmp(hash, h->hash, NV_HASH_LEN) == 0;
			s->seq = e->seq;
		}
	}
}

static bool
add_entry(NvVerifier *v, json_t *o, const char *where, NvError *err)
{
	NvEntry		e;
	uint8_t		stored[NV_HASH_LEN];
	uint8_t		computed[NV_HASH_LEN];

	if (v->phase == 0)
	{
		if (!layouts_done(v, err))
			return false;
		v->phase = 1;
	}
	else if (v->phase > 1)
	{
		nv_error(err, "%s: an entry after checkpoints: the export is not in the documented order (layouts, entries, checkpoints)", where);
		return false;
	}
	if (!nv_parse_entry(o, &e, err))
	{
		char		msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%.60s: malformed entry: %.900s", where, err->msg);
		nv_error(err, "%s", msg);
		return false;
	}

	if (!v->in_chain || e.chain_id != v->cur_chain)
	{
		if (v->in_chain && e.chain_id < v->cur_chain)
		{
			nv_error(err, "%s: chain %d after chain %d: the entries are not ordered by (chain_id, chain_pos)",
					 where, e.chain_id, v->cur_chain);
			nv_entry_free(&e);
			return false;
		}
		v->in_chain = true;
		v->cur_chain = e.chain_id;
		v->expected = 1;
		memset(v->last_hash, 0, NV_HASH_LEN);
		v->link_known = true;
		v->r->chains++;
	}
	if (e.chain_pos != v->expected)
	{
		if (e.chain_pos > v->expected)
			entry_finding(v, &e, "missing_entry",
						  v->expected == e.chain_pos - 1 ?
						  nv_printf("position %" PRId64 " of chain %d, before this entry, is missing: an entry was deleted from the ledger",
									v->expected, e.chain_id) :
						  nv_printf("positions %" PRId64 " to %" PRId64 " of chain %d, before this entry, are missing: entries were deleted from the ledger",
									v->expected, e.chain_pos - 1, e.chain_id));
		else
			entry_finding(v, &e, "malformed_entry",
						  nv_printf("position %" PRId64 " is out of order in chain %d", e.chain_pos, e.chain_id));
		v->link_known = false;
	}

	if (!e.prev_ok || !e.hash_ok)
	{
		entry_finding(v, &e, "malformed_entry",
					  nv_strdup("prev_hash or entry_hash is missing or not 32 bytes"));
		if (e.hash_ok)
			memcpy(stored, e.entry_hash, NV_HASH_LEN);
		else
		{
			memset(stored, 0, NV_HASH_LEN);
			v->link_known = false;
		}
	}
	else
	{
		char	   *why;
		bool		sealed;

		memcpy(stored, e.entry_hash, NV_HASH_LEN);
		if (v->link_known && memcmp(e.prev_hash, v->last_hash, NV_HASH_LEN) != 0)
			entry_finding(v, &e, "broken_link",
						  e.chain_pos == 1 ?
						  nv_strdup("the first entry of the chain does not start from the zero hash") :
						  nv_printf("the entry does not link to the entry before it (chain %d, position %" PRId64 "): that entry was rewritten with a new hash, or this link was changed",
									e.chain_id, e.chain_pos - 1));
		why = recompute(v, &e, &sealed, computed);
		if (why != NULL)
			entry_finding(v, &e, "malformed_entry", why);
		else if (sealed)
		{
			/* its seal is checked at the end; its stored hash stands */
			SealItem   *it = seal_add(&v->sealed, &v->nsealed, &v->capsealed, e.seq);

			memcpy(it->seal, computed, NV_HASH_LEN);
			it->chain_id = e.chain_id;
			it->chain_pos = e.chain_pos;
		}
		else if (memcmp(computed, stored, NV_HASH_LEN) != 0)
			entry_finding(v, &e, "altered_entry",
						  nv_strdup("the entry's content does not match its hash: it was changed after it was written"));
		v->link_known = true;
	}
	if (strcmp(e.op, "REDACT") == 0 && e.detail != NULL)
		redactions_record(v, &e);
	track(v, &e, stored);
	memcpy(v->last_hash, stored, NV_HASH_LEN);
	v->expected = e.chain_pos + 1;
	v->r->entries++;
	if (v->progress && v->r->entries % PROGRESS_EVERY == 0)
	{
		fprintf(stderr, "\rnotary-verify: %" PRIu64 " entries checked", v->r->entries);
		fflush(stderr);
		v->progress_shown = true;
	}
	nv_entry_free(&e);
	return true;
}

static void
chain_finding(NvVerifier *v, const NvCheckpoint *cp, char *detail)
{
	NvFinding  *f = nv_finding(v->r, "checkpoint_chain", "%s", detail);

	f->has_checkpoint = true;
	f->checkpoint_id = (int64_t) cp->checkpoint_id;
	free(detail);
}

/*
 * The stored checkpoints must form an unbroken chain: ids 1, 2, 3, ...,
 * each matching its digest, validly signed when signed by the given key
 * (another key id is not judged: keys may have been rotated), each naming
 * the digest of the one before.  As notary.verify() checks them.
 */
static void
stored_chain(NvVerifier *v, const NvCheckpoint *cp)
{
	uint8_t		digest[NV_HASH_LEN];
	uint8_t		id[NV_KEYID_LEN];
	StoredCp   *s;

	if ((int64_t) cp->checkpoint_id != v->stored_expected)
		chain_finding(v, cp, nv_printf("checkpoint %" PRIu64 " follows checkpoint %" PRId64 ": stored checkpoints were deleted or inserted",
									   cp->checkpoint_id, v->stored_expected - 1));
	nv_checkpoint_digest(cp, digest);
	if (sodium_memcmp(digest, cp->digest, NV_HASH_LEN) != 0)
		chain_finding(v, cp, nv_printf("stored checkpoint %" PRIu64 " does not match its digest: it was altered",
									   cp->checkpoint_id));
	else if (v->has_key)
	{
		nv_key_id(v->key, id);
		if (memcmp(id, cp->key_id, NV_KEYID_LEN) == 0 &&
			crypto_sign_verify_detached(cp->signature, digest, NV_HASH_LEN, v->key) != 0)
			chain_finding(v, cp, nv_printf("stored checkpoint %" PRIu64 " has an invalid signature: it was forged",
										   cp->checkpoint_id));
	}
	if (v->stored_have_prev != cp->has_previous ||
		(v->stored_have_prev && memcmp(v->stored_prev, cp->previous, NV_HASH_LEN) != 0))
		chain_finding(v, cp, nv_printf("stored checkpoint %" PRIu64 " does not name the checkpoint before it: the checkpoint chain was rewritten or replayed",
									   cp->checkpoint_id));
	memcpy(v->stored_prev, digest, NV_HASH_LEN);
	v->stored_have_prev = true;
	v->stored_expected = (int64_t) cp->checkpoint_id + 1;

	v->stored = nv_realloc(v->stored, sizeof(StoredCp) * (v->nstored + 1));
	s = &v->stored[v->nstored++];
	s->checkpoint_id = cp->checkpoint_id;
	memcpy(s->digest, cp->digest, NV_HASH_LEN);
}

/*
 * A checkpoint stored in the database (export line).  Not trusted: it only
 * tells which cluster the export comes from.
 */
static bool
add_stored_checkpoint(NvVerifier *v, json_t *o, const char *where,
					  NvError *err)
{
	NvCheckpoint cp;
	NvError		perr;

	(void) err;
	if (v->phase == 0 && !layouts_done(v, err))
		return false;
	v->phase = 2;
	v->stored_checkpoints++;
	if (!nv_parse_checkpoint(o, &cp, &perr))
	{
		nv_finding(v->r, "malformed_checkpoint", "stored checkpoint (%s): %s",
				   where, perr.msg);
		return true;
	}
	stored_chain(v, &cp);

	/* the newest stored checkpoint names the export's cluster */
	if (v->identity_source == NULL ||
		(strncmp(v->identity_source, "stored", 6) == 0 &&
		 cp.checkpoint_id >= v->identity_checkpoint))
	{
		free(v->system_identifier);
		free(v->database);
		free(v->identity_source);
		v->system_identifier = nv_strdup(cp.system_identifier);
		v->database = nv_strdup(cp.database);
		v->identity_source = nv_printf("stored checkpoint %" PRIu64 " of the export", cp.checkpoint_id);
		v->identity_checkpoint = cp.checkpoint_id;
	}
	nv_checkpoint_free(&cp);
	return true;
}

/* One JSON line of an export, or one row of the database queries. */
bool
nv_verifier_line(NvVerifier *v, json_t *o, const char *where, NvError *err)
{
	const char *type;

	if (!json_is_object(o))
	{
		nv_error(err, "%s: not a JSON object", where);
		return false;
	}
	type = nv_line_type(o);
	if (type == NULL)
	{
		nv_error(err, "%s: no \"type\" member (layout, entry or checkpoint)", where);
		return false;
	}
	if (strcmp(type, "entry") == 0)
		return add_entry(v, o, where, err);
	if (strcmp(type, "layout") == 0)
		return add_layout(v, o, where, err);
	if (strcmp(type, "checkpoint") == 0)
		return add_stored_checkpoint(v, o, where, err);
	nv_error(err, "%s: unknown line type \"%.40s\"", where, type);
	return false;
}

/* ---- the end: checkpoints against what was seen ---------------------------- */

/*
 * The cluster and database a checkpoint names against the ledger's.  Told
 * for every checkpoint whose fields match its digest, authentic or not (as
 * the extension does); another cluster does not stop the comparison.
 */
static void
check_cluster(NvVerifier *v, Tracker *t)
{
	NvFinding  *f;

	if (v->system_identifier == NULL)
		nv_note(v->r, "%s: cluster not checked: the export holds no checkpoint that names its cluster", t->label);
	else if (strcmp(v->system_identifier, t->cp.system_identifier) != 0 ||
			 strcmp(v->database, t->cp.database) != 0)
	{
		f = nv_finding(v->r, "other_cluster",
					   "%s is of cluster %s, database \"%s\"; the ledger is of cluster %s, database \"%s\" (%s)%s",
					   t->label, t->cp.system_identifier, t->cp.database,
					   v->system_identifier, v->database, v->identity_source,
					   t->usable ? ": compared all the same (a restored copy is checked against its source's checkpoints)" : "");
		f->has_checkpoint = true;
		f->checkpoint_id = (int64_t) t->cp.checkpoint_id;
	}
}

static void
compare_checkpoint(NvVerifier *v, Tracker *t)
{
	int			i;
	int			found = 0;
	uint8_t		root[NV_HASH_LEN];
	NvFinding  *f;

	/* is it the checkpoint the database stored under that id? */
	if (v->stored_source)
	{
		size_t		k;
		StoredCp   *s = NULL;

		for (k = 0; k < v->nstored; k++)
			if (v->stored[k].checkpoint_id == t->cp.checkpoint_id)
				s = &v->stored[k];
		if (s == NULL)
			f = nv_finding(v->r, "unknown_checkpoint",
						   "the database holds no stored checkpoint %" PRIu64 ": its own record of checkpoints was cut or rewritten",
						   t->cp.checkpoint_id);
		else if (memcmp(s->digest, t->cp.digest, NV_HASH_LEN) != 0)
			f = nv_finding(v->r, "checkpoint_mismatch",
						   "the database holds a different checkpoint %" PRIu64 ": one of them was forged or replayed",
						   t->cp.checkpoint_id);
		else
			f = NULL;
		if (f)
		{
			f->has_checkpoint = true;
			f->checkpoint_id = (int64_t) t->cp.checkpoint_id;
		}
	}

	for (i = 0; i < t->cp.nchains; i++)
	{
		NvChainHead *h = &t->cp.chains[i];
		HeadState  *s = &t->heads[i];

		if (!s->seen)
		{
			if (!s->chain_seen)
				f = nv_finding(v->r, "entries_missing",
							   "%s lists chain %u up to position %" PRIu64 "; the ledger holds no entry of that chain: its entries were deleted",
							   t->label, h->chain_id, h->position);
			else if ((uint64_t) s->last_pos < h->position)
				f = nv_finding(v->r, "entries_missing",
							   "%s lists chain %u up to position %" PRIu64 "; the ledger ends that chain at position %" PRId64 ": its newest entries were deleted",
							   t->label, h->chain_id, h->position, s->last_pos);
			else
				f = nv_finding(v->r, "entries_missing",
							   "%s lists chain %u up to position %" PRIu64 "; the ledger does not hold that position (the chain goes on to %" PRId64 "): the entry was deleted",
							   t->label, h->chain_id, h->position, s->last_pos);
			found++;
		}
		else if (!s->same)
		{
			char		hex[2 * NV_HASH_LEN + 1];

			nv_hex_encode(h->hash, NV_HASH_LEN, hex);
			f = nv_finding(v->r, "history_rewritten",
						   "%s lists position %" PRIu64 " of chain %u with hash %s; the ledger holds another entry there: the chain was rewritten up to this position",
						   t->label, h->position, h->chain_id, hex);
			f->has_seq = true;
			f->seq = s->seq;
			found++;
		}
		else
			continue;
		f->has_checkpoint = true;
		f->checkpoint_id = (int64_t) t->cp.checkpoint_id;
		f->has_chain = f->has_pos = true;
		f->chain_id = (int32_t) h->chain_id;
		f->chain_pos = (int64_t) h->position;
	}
	if (found > 0)
		return;					/* the root cannot match; nothing to add */

	nv_merkle_root(&t->merkle, root);
	if (t->merkle.count != t->cp.entries ||
		sodium_memcmp(root, t->cp.entries_root, NV_HASH_LEN) != 0)
	{
		f = nv_finding(v->r, "history_rewritten",
					   "%s: every chain head matches, but the Merkle root over the %" PRIu64 " covered entries of the ledger differs from its entries_root (over %" PRIu64 " entries): an earlier entry was rewritten, removed or added",
					   t->label, t->merkle.count, t->cp.entries);
		f->has_checkpoint = true;
		f->checkpoint_id = (int64_t) t->cp.checkpoint_id;
	}
}

/* Does checkpoint cp cover position pos of chain? */
static bool
covers(const NvCheckpoint *cp, int32_t chain, int64_t pos)
{
	int			lo = 0;
	int			hi = cp->nchains - 1;

	while (lo <= hi && chain >= 0)
	{
		int			mid = lo + (hi - lo) / 2;
		uint32_t	c = cp->chains[mid].chain_id;

		if (c == (uint32_t) chain)
			return pos >= 1 && (uint64_t) pos <= cp->chains[mid].position;
		if (c < (uint32_t) chain)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * Sealed entries the checkpoint covers whose content now rests on the seal
 * of a REDACT entry it does not cover: the checkpoint vouches for their
 * stored hash only, and what is left of them could have been rewritten and
 * sealed again since (sealed_after_checkpoint, as
 * notary.verify_checkpoint() reports it).  After seals_finish (sorted).
 */
static void
check_seals_after(NvVerifier *v, Tracker *t)
{
	size_t		i;
	size_t		j = 0;

	for (i = 0; i < v->nsealed; i++)
	{
		SealItem   *it = &v->sealed[i];
		SealItem   *rec = newest_seal(v, it->seq, &j);
		NvFinding  *f;

		if (rec == NULL || !covers(&t->cp, it->chain_id, it->chain_pos) ||
			covers(&t->cp, rec->chain_id, rec->chain_pos))
			continue;
		f = nv_finding(v->r, "sealed_after_checkpoint",
					   "%s covers this entry, but what is left of it is vouched for by the seal of REDACT entry %" PRId64 " (chain %d, position %" PRId64 "), which the checkpoint does not cover: its content cannot be checked against this checkpoint",
					   t->label, rec->redact_seq, rec->chain_id, rec->chain_pos);
		f->has_checkpoint = true;
		f->checkpoint_id = (int64_t) t->cp.checkpoint_id;
		f->has_seq = f->has_chain = f->has_pos = true;
		f->seq = it->seq;
		f->chain_id = it->chain_id;
		f->chain_pos = it->chain_pos;
	}
}

bool
nv_verifier_finish(NvVerifier *v, NvError *err)
{
	int			i;

	if (v->phase == 0 && !layouts_done(v, err))
		return false;
	if (v->progress_shown)
		fprintf(stderr, "\rnotary-verify: %" PRIu64 " entries checked\n", v->r->entries);
	redactions_finish(v);
	seals_finish(v);
	for (i = 0; i < v->ntrackers; i++)
	{
		if (v->trackers[i].digest_ok)
			check_cluster(v, &v->trackers[i]);
		if (v->trackers[i].usable)
		{
			compare_checkpoint(v, &v->trackers[i]);
			check_seals_after(v, &v->trackers[i]);
		}
	}
	return true;
}

void
nv_verifier_free(NvVerifier *v)
{
	size_t		i;
	int			j;

	for (i = 0; i < v->nlayouts; i++)
	{
		for (j = 0; j < v->layouts[i].ncols; j++)
			free(v->layouts[i].names[j]);
		free(v->layouts[i].names);
		free(v->layouts[i].name);
		free(v->layouts[i].personal);
	}
	free(v->layouts);
	for (j = 0; j < v->ntrackers; j++)
	{
		nv_checkpoint_free(&v->trackers[j].cp);
		free(v->trackers[j].heads);
		free(v->trackers[j].label);
	}
	free(v->trackers);
	free(v->stored);
	redactions_free(v->erased, v->nerased);
	redactions_free(v->recorded, v->nrecorded);
	free(v->sealed);
	free(v->seals);
	free(v->forged);
	free(v->system_identifier);
	free(v->database);
	free(v->identity_source);
	free(v);
}
