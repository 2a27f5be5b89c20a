/*-------------------------------------------------------------------------
 *
 * verify_table.c
 *		notary.verify_table(): compare a live table with what its ledger
 *		history says it holds; one row per finding, none when they agree.
 *
 * The table's entries are replayed in seq order into a state: the
 * multiset of rows the ledger knows, keyed by row digest (the digest an
 * UPDATE records of its before-image).  An UPDATE, DELETE or TRUNCATE
 * whose row is not in the state shows a change made outside capture
 * (history_gap).  A baseline (SNAPSHOT entries closed by a BASELINE entry)
 * replaces the state after being compared with it: differences show
 * changes made while nothing was captured (*_outside_capture).  At the
 * end the state is compared with the table itself (row_differs,
 * row_missing, row_not_in_ledger).
 *
 * Comparing two sets of rows: rows under the same layout match exactly by
 * row digest, so identical rows cancel with one hash lookup each.  Under
 * different layouts (a column added while event triggers were off, a
 * rename, a type change) both sides are projected onto the columns they
 * share by name and type, and matched by the digest of that projection.
 * Leftovers are paired by primary key, to tell a changed row from a
 * removed and an added one; without a primary key they stay removed and
 * added.  Personal columns are left out everywhere, as in the row digest:
 * a redaction may erase them from the ledger.
 *
 * Redacted columns.  A redaction (redaction.c) may erase a value from
 * entries written before its column was classified personal, under a
 * layout where the row digest covered it: such a value is unknown, never
 * a NULL, and the digests that covered it cannot be recomputed.  The rule:
 *  - a column erased in any entry under a layout (a position in the
 *    entry's `redacted` field, not personal in that layout) is left out,
 *    like a personal column, of the digest every row of that layout is
 *    matched by, in the replay and in every comparison (a projection never
 *    shares it).  So an erased value is never compared with a baseline or
 *    with the live table, nor shown in a finding; rows that differ only
 *    there are not told apart;
 *  - an UPDATE's old_digest covers the whole row, so it is looked up among
 *    the rows whose whole digest is known (none of its covered columns
 *    erased).  If none has it and the state holds rows whose whole digest
 *    is unknown, the before-image may be one of those: with a primary key
 *    the state's row of the same key if it is one of them (or, for an
 *    UPDATE itself redacted whose key the state does not hold, a key
 *    change: as without a key); without a key the one most like the
 *    after-image (most equal columns compared, the oldest on a tie).  Only
 *    when there is none is it a history_gap;
 *  - a row whose key columns are erased has no key: it is named by all its
 *    columns, erased ones shown as (redacted), and never paired by key.
 * A ledger that only redactions changed gives no finding; a change made
 * around capture is still found when it reaches a baseline or the table
 * in a column never erased under the layout.  What is lost: a change that only an
 * UPDATE's old_digest showed (overwritten by that UPDATE), when the row's
 * previous image has an erased covered column.  A table never redacted
 * takes none of these paths.
 *
 * Everything runs as the extension's owner: the auditor may read the
 * ledger but not the application's tables.  The ledger and the table are
 * read with the same snapshot, so a change and its entry are seen
 * together.  Entries that cannot be read (no layout, wrong number of
 * values) are reported as malformed_entry and skipped; notary.verify()
 * says more about them.
 *
 * Memory: the state and the pending baseline each live in their own
 * context (a baseline replaces the state by deleting it); a comparison
 * consumes the state it compares.  One scratch context is reset after
 * each entry and after each row of the table.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define VERIFY_TABLE_BATCH 10000

/*
 * The columns left out of the digests rows of one layout are matched by:
 * its personal columns and the columns erased in some entry under it (see
 * the header).  A layout without a slot leaves out its personal columns.
 */
typedef struct IgnoreSlot
{
	uint8		digest[NOTARY_HASH_LEN];	/* hash key: the layout's digest */
	int			ncols;
	bool	   *erased;			/* per column: erased somewhere, not personal */
	int			nerased;
	int			nignored;
	int16	   *ignored;		/* personal and erased columns, ascending */
} IgnoreSlot;

typedef struct Ignore
{
	MemoryContext mcxt;
	HTAB	   *slots;			/* IgnoreSlot; NULL until a column is erased */
} Ignore;

struct VtRow;

/* What only rows touched by a redaction, or of a layout touched, need. */
typedef struct VtExtra
{
	struct VtRow *row;
	bool	   *erased;			/* per column: erased in the row's entry, or
								 * NULL */
	bool		in_old;			/* linked into RowSet.by_old */
	uint8		full[NOTARY_HASH_LEN];	/* the row digest an UPDATE records */
	dlist_node	old_node;		/* DigestSlot.rows of RowSet.by_old */
	dlist_node	partial_node;	/* RowSet.partials */
} VtExtra;

/* A row the ledger knows, a row of a baseline, or a row of the table. */
typedef struct VtRow
{
	uint8		digest[NOTARY_HASH_LEN];	/* row digest (projected while
											 * compared) */
	LayoutInfo *layout;
	char	  **values;			/* one chunk with the strings */
	int64		seq;			/* entry that recorded it; 0 for the table */
	char	   *key;			/* "id=42"; NULL without a (known) primary key */
	char	   *name;			/* row_name(), once asked for */
	bool		paired;			/* compare: paired with a row of the other side */
	bool		partial;		/* a column its digest covers is erased */
	VtExtra    *x;				/* NULL unless a redaction is involved */
	dlist_node	order_node;		/* RowSet.rows */
	dlist_node	digest_node;	/* DigestSlot.rows */
	dlist_node	key_node;		/* KeySlot.rows */
} VtRow;

typedef struct DigestSlot
{
	uint8		digest[NOTARY_HASH_LEN];	/* hash key */
	dlist_head	rows;
} DigestSlot;

typedef struct KeySlot
{
	uint32		hash;			/* hash key: hash of the key text */
	dlist_head	rows;			/* may mix keys whose hashes collide */
} KeySlot;

typedef struct KeyList
{
	uint32		hash;			/* hash key: hash of the key text */
	List	   *rows;			/* VtRow * */
} KeyList;

typedef struct LayoutUse
{
	LayoutInfo *layout;
	int64		nrows;
} LayoutUse;

/* A multiset of rows, by digest and by key, in the order they came. */
typedef struct RowSet
{
	MemoryContext mcxt;
	Ignore	   *ign;
	HTAB	   *by_digest;
	HTAB	   *by_key;
	HTAB	   *by_old;			/* full row digests of rows of layouts with
								 * erased columns (rows with none erased);
								 * NULL until needed */
	dlist_head	partials;		/* VtExtra: rows with a covered column erased */
	int64		npartial;
	dlist_head	rows;
	int64		nrows;
	List	   *uses;			/* LayoutUse *: how many rows per layout */
	int64		first_seq;		/* pending baseline: its first SNAPSHOT */
} RowSet;

typedef struct Findings
{
	Tuplestorestate *store;
	TupleDesc	desc;
} Findings;

typedef enum CompareKind
{
	COMPARE_BASELINE,			/* the ledger's rows against a baseline */
	COMPARE_TABLE				/* the ledger's rows against the table */
} CompareKind;

/* The columns a row is projected onto, as positions in one layout. */
typedef struct ProjMap
{
	LayoutInfo *layout;
	int		   *pos;
} ProjMap;

/* One comparison of a RowSet (consumed) with rows offered one by one. */
typedef struct Compare
{
	MemoryContext cxt;
	RowSet	   *a;
	bool		project;
	int			nshared;
	char	  **shared;			/* names of the compared columns */
	List	   *maps;			/* ProjMap * */
	List	   *extra;			/* VtRow *: offered rows that matched nothing */
} Compare;

static const uint8 zero_digest[NOTARY_HASH_LEN];

/* Emit one finding; seq 0 and NULL key become SQL NULLs. */
static void
report(Findings *f, const char *problem, const char *key, int64 seq,
	   const char *detail)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	values[0] = CStringGetTextDatum(problem);
	if (key != NULL)
		values[1] = CStringGetTextDatum(key);
	else
		nulls[1] = true;
	if (seq > 0)
		values[2] = Int64GetDatum(seq);
	else
		nulls[2] = true;
	values[3] = CStringGetTextDatum(detail);
	tuplestore_putvalues(f->store, f->desc, values, nulls);
}

static bool
is_personal(const LayoutInfo *l, int col)
{
	int			i;

	for (i = 0; i < l->npersonal; i++)
		if (l->personal[i] == col)
			return true;
	return false;
}

/* The slot of a layout with erased columns, or NULL. */
static IgnoreSlot *
ignore_slot(Ignore *ign, const LayoutInfo *l)
{
	if (ign == NULL || ign->slots == NULL)
		return NULL;
	return hash_search(ign->slots, l->digest, HASH_FIND, NULL);
}

/* Is a column of l left out of digests and comparisons? */
static bool
is_ignored(Ignore *ign, const LayoutInfo *l, int col)
{
	IgnoreSlot *s = ignore_slot(ign, l);

	if (s != NULL && col >= 0 && col < s->ncols && s->erased[col])
		return true;
	return is_personal(l, col);
}

/* Does erased (NULL: nothing erased) erase a column a row digest covers? */
static bool
erases_covered(const LayoutInfo *l, const bool *erased)
{
	int			i;

	if (erased == NULL)
		return false;
	for (i = 0; i < l->ncols; i++)
		if (erased[i] && !is_personal(l, i))
			return true;
	return false;
}

/* Are the primary key's values known (none erased)? */
static bool
key_known(const LayoutInfo *l, const bool *erased)
{
	int			i;

	if (l->nkeys == 0)
		return false;
	for (i = 0; erased != NULL && i < l->nkeys; i++)
		if (l->keys[i] >= 0 && l->keys[i] < l->ncols && erased[l->keys[i]])
			return false;
	return true;
}

/*
 * The text that names a row in findings: its primary key columns, or
 * every column without one, as "id=1, line=3" in canonical text; an
 * erased value (erased may be NULL) shows as (redacted).
 */
static char *
key_text(const LayoutInfo *l, char **values, const bool *erased,
		 bool all_columns)
{
	StringInfoData sb;
	int			n = all_columns ? l->ncols : l->nkeys;
	int			i;

	initStringInfo(&sb);
	for (i = 0; i < n; i++)
	{
		int			c = all_columns ? i : l->keys[i];

		if (c < 0 || c >= l->ncols)
			continue;
		appendStringInfo(&sb, "%s%s=%s", i > 0 ? ", " : "", l->names[c],
						 erased != NULL && erased[c] ? "(redacted)" :
						 values[c] ? values[c] : "NULL");
	}
	return sb.data;
}

/* The key of a row under l, or NULL if it has none or it is erased. */
static char *
row_key(const LayoutInfo *l, char **values, const bool *erased)
{
	return key_known(l, erased) ? key_text(l, values, NULL, false) : NULL;
}

/* The name of a row in findings, whether or not its table has a key. */
static char *
row_name(VtRow *r)
{
	if (r->key != NULL)
		return r->key;
	if (r->name == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(r));

		r->name = key_text(r->layout, r->values, r->x ? r->x->erased : NULL,
						   true);
		MemoryContextSwitchTo(old);
	}
	return r->name;
}

/*
 * The digest rows are matched by: the row digest, leaving out the
 * columns erased under the layout as well as its personal ones.
 */
static void
row_digest(Ignore *ign, const LayoutInfo *l, char **values, uint8 *out)
{
	IgnoreSlot *s = ignore_slot(ign, l);
	NotaryImage img;

	img.ncols = l->ncols;
	img.values = values;
	img.salts = NULL;
	img.redacted = NULL;
	if (s != NULL)
		format_row_digest(l->digest, &img, s->ignored, s->nignored, out);
	else
		format_row_digest(l->digest, &img, l->personal, l->npersonal, out);
}

/* The row digest capture records (an UPDATE's old_digest). */
static void
full_row_digest(const LayoutInfo *l, char **values, uint8 *out)
{
	NotaryImage img;

	img.ncols = l->ncols;
	img.values = values;
	img.salts = NULL;
	img.redacted = NULL;
	format_row_digest(l->digest, &img, l->personal, l->npersonal, out);
}

/* ---- RowSet ---- */

static RowSet *
rowset_create(MemoryContext parent, Ignore *ign)
{
	MemoryContext mcxt = AllocSetContextCreate(parent, "pg_notary rows",
											   ALLOCSET_DEFAULT_SIZES);
	RowSet	   *s = MemoryContextAllocZero(mcxt, sizeof(RowSet));
	HASHCTL		ctl;

	s->mcxt = mcxt;
	s->ign = ign;
	dlist_init(&s->rows);
	dlist_init(&s->partials);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NOTARY_HASH_LEN;
	ctl.entrysize = sizeof(DigestSlot);
	ctl.hcxt = mcxt;
	s->by_digest = hash_create("pg_notary rows by digest", 1024, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeySlot);
	s->by_key = hash_create("pg_notary rows by key", 1024, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return s;
}

static void
rowset_destroy(RowSet *s)
{
	MemoryContextDelete(s->mcxt);
}

static LayoutUse *
rowset_use(RowSet *s, LayoutInfo *l)
{
	ListCell   *lc;
	LayoutUse  *u;
	MemoryContext old;

	foreach(lc, s->uses)
	{
		u = lfirst(lc);
		if (u->layout == l)
			return u;
	}
	old = MemoryContextSwitchTo(s->mcxt);
	u = palloc0(sizeof(LayoutUse));
	u->layout = l;
	s->uses = lappend(s->uses, u);
	MemoryContextSwitchTo(old);
	return u;
}

static void
link_digest(HTAB *by_digest, VtRow *r)
{
	bool		found;
	DigestSlot *slot = hash_search(by_digest, r->digest, HASH_ENTER, &found);

	if (!found)
		dlist_init(&slot->rows);
	dlist_push_tail(&slot->rows, &r->digest_node);
}

static void
unlink_digest(HTAB *by_digest, VtRow *r)
{
	DigestSlot *ds;

	dlist_delete(&r->digest_node);
	ds = hash_search(by_digest, r->digest, HASH_FIND, NULL);
	if (ds != NULL && dlist_is_empty(&ds->rows))
		hash_search(by_digest, r->digest, HASH_REMOVE, NULL);
}

static VtExtra *
row_extra(VtRow *r)
{
	if (r->x == NULL)
	{
		r->x = MemoryContextAllocZero(GetMemoryChunkContext(r), sizeof(VtExtra));
		r->x->row = r;
	}
	return r->x;
}

/*
 * A row of its own, values copied into one chunk.  erased (NULL: none)
 * marks the columns a redaction erased in the row's entry.
 */
static VtRow *
row_make(MemoryContext mcxt, Ignore *ign, LayoutInfo *l, char **values,
		 const bool *erased, int64 seq)
{
	VtRow	   *r = MemoryContextAllocZero(mcxt, sizeof(VtRow));
	Size		size = sizeof(char *) * Max(l->ncols, 1);
	char	   *p;
	int			i;

	for (i = 0; i < l->ncols; i++)
		if (values[i] != NULL)
			size += strlen(values[i]) + 1;
	r->values = MemoryContextAlloc(mcxt, size);
	p = (char *) (r->values + Max(l->ncols, 1));
	for (i = 0; i < l->ncols; i++)
	{
		if (values[i] == NULL)
			r->values[i] = NULL;
		else
		{
			size_t		len = strlen(values[i]) + 1;

			memcpy(p, values[i], len);
			r->values[i] = p;
			p += len;
		}
	}
	r->layout = l;
	r->seq = seq;
	if (erased != NULL)
	{
		VtExtra    *x = row_extra(r);

		x->erased = MemoryContextAlloc(mcxt, sizeof(bool) * Max(l->ncols, 1));
		memcpy(x->erased, erased, sizeof(bool) * l->ncols);
		r->partial = erases_covered(l, erased);
	}
	row_digest(ign, l, r->values, r->digest);
	if (l->nkeys > 0 && key_known(l, erased))
		r->key = MemoryContextStrdup(mcxt, key_text(l, r->values, NULL, false));
	return r;
}

/* Index r (not partial) by the full row digest an UPDATE would record. */
static void
link_old(RowSet *s, VtRow *r, const uint8 *full)
{
	VtExtra    *x = row_extra(r);
	DigestSlot *slot;
	bool		found;

	if (s->by_old == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = NOTARY_HASH_LEN;
		ctl.entrysize = sizeof(DigestSlot);
		ctl.hcxt = s->mcxt;
		s->by_old = hash_create("pg_notary rows by full digest", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memcpy(x->full, full, NOTARY_HASH_LEN);
	slot = hash_search(s->by_old, x->full, HASH_ENTER, &found);
	if (!found)
		dlist_init(&slot->rows);
	dlist_push_tail(&slot->rows, &x->old_node);
	x->in_old = true;
}

/* Add a row under layout l, recorded by entry seq (erased: see row_make). */
static VtRow *
rowset_add(RowSet *s, LayoutInfo *l, char **values, const bool *erased,
		   int64 seq)
{
	VtRow	   *r = row_make(s->mcxt, s->ign, l, values, erased, seq);
	IgnoreSlot *is;

	dlist_push_tail(&s->rows, &r->order_node);
	link_digest(s->by_digest, r);
	if (r->key != NULL)
	{
		uint32		h = hash_bytes((const unsigned char *) r->key, strlen(r->key));
		bool		found;
		KeySlot    *slot = hash_search(s->by_key, &h, HASH_ENTER, &found);

		if (!found)
			dlist_init(&slot->rows);
		dlist_push_tail(&slot->rows, &r->key_node);
	}
	if (r->partial)
	{
		dlist_push_tail(&s->partials, &row_extra(r)->partial_node);
		s->npartial++;
	}
	else if ((is = ignore_slot(s->ign, l)) != NULL && is->nerased > 0)
	{
		uint8		full[NOTARY_HASH_LEN];

		full_row_digest(l, r->values, full);
		link_old(s, r, full);
	}
	rowset_use(s, l)->nrows++;
	s->nrows++;
	return r;
}

static void
rowset_remove(RowSet *s, VtRow *r)
{
	dlist_delete(&r->order_node);
	unlink_digest(s->by_digest, r);
	if (r->key != NULL)
	{
		uint32		h = hash_bytes((const unsigned char *) r->key, strlen(r->key));
		KeySlot    *ks;

		dlist_delete(&r->key_node);
		ks = hash_search(s->by_key, &h, HASH_FIND, NULL);
		if (ks != NULL && dlist_is_empty(&ks->rows))
			hash_search(s->by_key, &h, HASH_REMOVE, NULL);
		pfree(r->key);
	}
	if (r->name != NULL)
		pfree(r->name);
	if (r->x != NULL)
	{
		if (r->x->in_old)
		{
			DigestSlot *ds;

			dlist_delete(&r->x->old_node);
			ds = hash_search(s->by_old, r->x->full, HASH_FIND, NULL);
			if (ds != NULL && dlist_is_empty(&ds->rows))
				hash_search(s->by_old, r->x->full, HASH_REMOVE, NULL);
		}
		if (r->partial)
		{
			dlist_delete(&r->x->partial_node);
			s->npartial--;
		}
		if (r->x->erased != NULL)
			pfree(r->x->erased);
		pfree(r->x);
	}
	rowset_use(s, r->layout)->nrows--;
	s->nrows--;
	pfree(r->values);
	pfree(r);
}

/* The oldest row with this digest, or NULL. */
static VtRow *
rowset_find_digest(RowSet *s, const uint8 *digest)
{
	DigestSlot *slot = hash_search(s->by_digest, digest, HASH_FIND, NULL);

	if (slot == NULL || dlist_is_empty(&slot->rows))
		return NULL;
	return dlist_head_element(VtRow, digest_node, &slot->rows);
}

/*
 * The oldest row whose full row digest (what an UPDATE records) is this
 * one, or NULL.  Rows of layouts without erased columns are indexed by it
 * already; a digest that leaves erased columns out never equals one that
 * covers them.
 */
static VtRow *
rowset_find_full(RowSet *s, const uint8 *full)
{
	VtRow	   *r = rowset_find_digest(s, full);
	DigestSlot *slot;

	if (r != NULL || s->by_old == NULL)
		return r;
	slot = hash_search(s->by_old, full, HASH_FIND, NULL);
	if (slot == NULL || dlist_is_empty(&slot->rows))
		return NULL;
	return dlist_head_element(VtExtra, old_node, &slot->rows)->row;
}

/* The oldest row with this key text, or NULL. */
static VtRow *
rowset_find_key(RowSet *s, const char *key)
{
	uint32		h = hash_bytes((const unsigned char *) key, strlen(key));
	KeySlot    *slot = hash_search(s->by_key, &h, HASH_FIND, NULL);
	dlist_iter	it;

	if (slot == NULL)
		return NULL;
	dlist_foreach(it, &slot->rows)
	{
		VtRow	   *r = dlist_container(VtRow, key_node, it.cur);

		if (strcmp(r->key, key) == 0)
			return r;
	}
	return NULL;
}

/*
 * The columns erased under layout l grew (was_clear: it had none): its
 * rows are matched by a digest without them from now on.  Rows already
 * held are re-keyed; those not erased themselves are indexed by their
 * full digest, which until now was their digest.
 */
static void
rowset_rekey(RowSet *s, const LayoutInfo *l, bool was_clear)
{
	dlist_iter	it;

	dlist_foreach(it, &s->rows)
	{
		VtRow	   *r = dlist_container(VtRow, order_node, it.cur);

		if (memcmp(r->layout->digest, l->digest, NOTARY_HASH_LEN) != 0)
			continue;
		if (was_clear && !r->partial)
			link_old(s, r, r->digest);
		unlink_digest(s->by_digest, r);
		row_digest(s->ign, r->layout, r->values, r->digest);
		link_digest(s->by_digest, r);
	}
}

/*
 * The partial row of s most like an image under l: most equal columns
 * compared (neither erased, nor personal), the oldest on a tie; NULL if
 * s holds no partial row of l's layout.
 */
static VtRow *
rowset_most_like(RowSet *s, const LayoutInfo *l, char **values,
				 const bool *erased)
{
	dlist_iter	it;
	VtRow	   *best = NULL;
	int			best_score = -1;

	dlist_foreach(it, &s->partials)
	{
		VtExtra    *x = dlist_container(VtExtra, partial_node, it.cur);
		VtRow	   *r = x->row;
		int			score = 0;
		int			i;

		if (memcmp(r->layout->digest, l->digest, NOTARY_HASH_LEN) != 0)
			continue;
		for (i = 0; i < l->ncols; i++)
		{
			const char *a = r->values[i];
			const char *b = values[i];

			if (is_personal(l, i) || (x->erased && x->erased[i]) ||
				(erased && erased[i]))
				continue;
			if ((a == NULL && b == NULL) ||
				(a != NULL && b != NULL && strcmp(a, b) == 0))
				score++;
		}
		if (score > best_score)
		{
			best = r;
			best_score = score;
		}
	}
	return best;
}

/* ---- comparing two sets of rows ---- */

/* Positions in l of the compared columns. */
static ProjMap *
proj_map(Compare *c, LayoutInfo *l)
{
	ListCell   *lc;
	ProjMap    *m;
	MemoryContext old;
	int			i;

	foreach(lc, c->maps)
	{
		m = lfirst(lc);
		if (m->layout == l)
			return m;
	}
	old = MemoryContextSwitchTo(c->cxt);
	m = palloc(sizeof(ProjMap));
	m->layout = l;
	m->pos = palloc(sizeof(int) * Max(c->nshared, 1));
	for (i = 0; i < c->nshared; i++)
		m->pos[i] = layout_column(l, c->shared[i]);
	c->maps = lappend(c->maps, m);
	MemoryContextSwitchTo(old);
	return m;
}

/* The digest rows are matched by: the row digest, or that of a projection. */
static void
compare_digest(Compare *c, LayoutInfo *l, char **values,
			   const uint8 *digest, uint8 *out)
{
	ProjMap    *m;
	NotaryImage img;
	int			i;

	if (!c->project)
	{
		memcpy(out, digest, NOTARY_HASH_LEN);
		return;
	}
	m = proj_map(c, l);
	img.ncols = c->nshared;
	img.values = palloc(sizeof(char *) * Max(c->nshared, 1));
	img.salts = NULL;
	img.redacted = NULL;
	for (i = 0; i < c->nshared; i++)
		img.values[i] = values[m->pos[i]];
	format_row_digest(zero_digest, &img, NULL, 0, out);
	pfree(img.values);
}

/*
 * Start comparing a (the ledger's rows; consumed) with rows under the
 * layouts others.  When more than one layout is involved, decide the
 * shared columns and re-key a by the digest of its projection.
 */
static void
compare_begin(Compare *c, RowSet *a, List *others, MemoryContext parent)
{
	List	   *all = NIL;
	ListCell   *lc;
	LayoutInfo *first;
	MemoryContext old;
	int			i;

	memset(c, 0, sizeof(Compare));
	c->cxt = AllocSetContextCreate(parent, "pg_notary compare",
								   ALLOCSET_DEFAULT_SIZES);
	c->a = a;
	old = MemoryContextSwitchTo(c->cxt);

	foreach(lc, a->uses)
	{
		LayoutUse  *u = lfirst(lc);

		if (u->nrows > 0)
			all = lappend(all, u->layout);
	}
	all = list_concat(all, others);
	if (all == NIL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	first = linitial(all);
	foreach(lc, all)
	{
		LayoutInfo *l = lfirst(lc);

		if (memcmp(l->digest, first->digest, NOTARY_HASH_LEN) != 0)
			c->project = true;
	}
	if (!c->project)
	{
		MemoryContextSwitchTo(old);
		return;
	}

	/* columns of the same name and type in every layout, none left out */
	c->shared = palloc(sizeof(char *) * Max(first->ncols, 1));
	for (i = 0; i < first->ncols; i++)
	{
		bool		ok = !is_ignored(a->ign, first, i);
		ListCell   *lc2;

		foreach(lc2, all)
		{
			LayoutInfo *l = lfirst(lc2);
			int			j = ok ? layout_column(l, first->names[i]) : -1;

			if (j < 0 || strcmp(l->types[j], first->types[i]) != 0 ||
				is_ignored(a->ign, l, j))
			{
				ok = false;
				break;
			}
		}
		if (ok)
			c->shared[c->nshared++] = first->names[i];
	}
	MemoryContextSwitchTo(old);

	/* re-key the ledger's rows by their projection */
	hash_destroy(a->by_digest);
	{
		HASHCTL		ctl;
		dlist_iter	it;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = NOTARY_HASH_LEN;
		ctl.entrysize = sizeof(DigestSlot);
		ctl.hcxt = a->mcxt;
		a->by_digest = hash_create("pg_notary rows by projection", 1024, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		dlist_foreach(it, &a->rows)
		{
			VtRow	   *r = dlist_container(VtRow, order_node, it.cur);
			uint8		d[NOTARY_HASH_LEN];

			compare_digest(c, r->layout, r->values, r->digest, d);
			memcpy(r->digest, d, NOTARY_HASH_LEN);
			link_digest(a->by_digest, r);
		}
	}
}

/*
 * Offer one row of the other side.  An identical row of the ledger's side
 * cancels it; otherwise it is kept (existing, or a copy) for pairing.
 */
static void
compare_offer(Compare *c, LayoutInfo *l, char **values, const uint8 *digest,
			  int64 seq, VtRow *existing)
{
	uint8		d[NOTARY_HASH_LEN];
	VtRow	   *match;
	MemoryContext old;

	compare_digest(c, l, values, digest, d);
	match = rowset_find_digest(c->a, d);
	if (match != NULL)
	{
		rowset_remove(c->a, match);
		return;
	}
	old = MemoryContextSwitchTo(c->cxt);
	if (existing == NULL)
		existing = row_make(c->cxt, c->a->ign, l, values, NULL, seq);
	existing->paired = false;
	c->extra = lappend(c->extra, existing);
	MemoryContextSwitchTo(old);
}

static void
append_value(StringInfo sb, const char *v)
{
	if (v == NULL)
		appendStringInfoString(sb, "NULL");
	else
		appendStringInfo(sb, "\"%s\"", v);
}

/*
 * Every compared column in which two rows differ, as
 * `value: ledger "1" (entry 12), table "2"`.  Personal and erased columns
 * are not compared, so never shown.
 */
static char *
row_differences(Ignore *ign, VtRow *a, VtRow *b, const char *bname)
{
	StringInfoData sb;
	int			i;
	int			n = 0;

	initStringInfo(&sb);
	for (i = 0; i < a->layout->ncols; i++)
	{
		const char *name = a->layout->names[i];
		int			j = layout_column(b->layout, name);
		const char *va = a->values[i];
		const char *vb;

		if (j < 0 || is_ignored(ign, a->layout, i) || is_ignored(ign, b->layout, j) ||
			strcmp(a->layout->types[i], b->layout->types[j]) != 0)
			continue;
		vb = b->values[j];
		if ((va == NULL && vb == NULL) ||
			(va != NULL && vb != NULL && strcmp(va, vb) == 0))
			continue;
		appendStringInfo(&sb, "%s%s: ledger ", n++ > 0 ? "; " : "", name);
		append_value(&sb, va);
		appendStringInfo(&sb, " (entry " INT64_FORMAT "), %s ", a->seq, bname);
		append_value(&sb, vb);
		if (b->seq > 0)
			appendStringInfo(&sb, " (entry " INT64_FORMAT ")", b->seq);
	}
	if (n == 0)
		appendStringInfoString(&sb, "they differ only in columns whose name or type changed");
	return sb.data;
}

static int
extra_cmp(const ListCell *x, const ListCell *y)
{
	VtRow	   *a = lfirst(x);
	VtRow	   *b = lfirst(y);

	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return strcmp(row_name(a), row_name(b));
}

/*
 * Report what is left: rows of the ledger's side paired by key with a row
 * of the other side differ; unpaired ones are gone; the other side's
 * unpaired rows are new.  The ledger's rows come in the order they were
 * recorded, the other side's in seq order, then by name.
 */
static void
compare_finish(Compare *c, Findings *f, CompareKind kind, int64 base_seq,
			   const char *reason)
{
	HTAB	   *by_key;
	HASHCTL		ctl;
	ListCell   *lc;
	dlist_iter	it;
	const char *where = NULL;

	if (kind == COMPARE_BASELINE)
		where = psprintf("the baseline at entry " INT64_FORMAT " (reason: %s)",
						 base_seq, reason ? reason : "not given");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(KeyList);
	ctl.hcxt = c->cxt;
	by_key = hash_create("pg_notary unmatched rows by key", 256, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (kind == COMPARE_TABLE)
		list_sort(c->extra, extra_cmp);
	foreach(lc, c->extra)
	{
		VtRow	   *r = lfirst(lc);
		uint32		h;
		bool		found;
		KeyList    *kl;

		if (r->key == NULL)
			continue;
		h = hash_bytes((const unsigned char *) r->key, strlen(r->key));
		kl = hash_search(by_key, &h, HASH_ENTER, &found);
		if (!found)
			kl->rows = NIL;
		kl->rows = lappend(kl->rows, r);
	}

	dlist_foreach(it, &c->a->rows)
	{
		VtRow	   *a = dlist_container(VtRow, order_node, it.cur);
		VtRow	   *b = NULL;

		if (a->key != NULL)
		{
			uint32		h = hash_bytes((const unsigned char *) a->key, strlen(a->key));
			KeyList    *kl = hash_search(by_key, &h, HASH_FIND, NULL);
			ListCell   *klc;

			if (kl != NULL)
			{
				foreach(klc, kl->rows)
				{
					VtRow	   *x = lfirst(klc);

					if (!x->paired && strcmp(x->key, a->key) == 0)
					{
						b = x;
						break;
					}
				}
			}
		}
		if (b != NULL)
		{
			b->paired = true;
			if (kind == COMPARE_TABLE)
				report(f, "row_differs", a->key, a->seq,
					   psprintf("the table's row differs from the ledger's last entry for it: %s",
								row_differences(c->a->ign, a, b, "table")));
			else
				report(f, "changed_outside_capture", a->key, b->seq,
					   psprintf("%s found the row changed since the ledger last recorded it, while nothing was captured: %s",
								where, row_differences(c->a->ign, a, b, "baseline")));
		}
		else if (kind == COMPARE_TABLE)
			report(f, "row_missing", row_name(a), a->seq,
				   psprintf("the ledger's entry " INT64_FORMAT " says this row exists, but the table does not hold it: it was deleted or changed outside capture",
							a->seq));
		else
			report(f, "removed_outside_capture", row_name(a), base_seq,
				   psprintf("the ledger's entry " INT64_FORMAT " says this row exists, but %s does not hold it: it was removed or changed while nothing was captured",
							a->seq, where));
	}

	foreach(lc, c->extra)
	{
		VtRow	   *b = lfirst(lc);

		if (b->paired)
			continue;
		if (kind == COMPARE_TABLE)
			report(f, "row_not_in_ledger", row_name(b), 0,
				   "the table holds this row, but no ledger entry records it: it was inserted or changed outside capture");
		else
			report(f, "added_outside_capture", row_name(b), b->seq,
				   psprintf("%s holds this row, but no earlier entry records it: it was added or changed while nothing was captured",
							where));
	}
}

static void
compare_end(Compare *c)
{
	MemoryContextDelete(c->cxt);
}

/* ---- replaying the ledger ---- */

typedef struct Replay
{
	Findings   *f;
	MemoryContext cxt;			/* parent of the row sets */
	HTAB	   *layouts;
	Ignore		ign;			/* columns erased under each layout */
	RowSet	   *state;
	RowSet	   *pending;		/* SNAPSHOT rows of a baseline not yet closed */
	int64		nsnapshots;		/* SNAPSHOT entries of that baseline */
	bool		have_history;	/* a baseline or a row change came before */
} Replay;

/*
 * Columns erased in an entry under l that its row digest covers are left
 * out of the digests of every row of l from now on; rows already held are
 * re-keyed.
 */
static void
note_erased(Replay *rp, const LayoutInfo *l, const bool *erased)
{
	IgnoreSlot *s = NULL;
	bool		was_clear = true;
	bool		grew = false;
	int			i;

	for (i = 0; i < l->ncols; i++)
	{
		if (!erased[i] || is_personal(l, i))
			continue;
		if (s == NULL)
		{
			bool		found;

			if (rp->ign.slots == NULL)
			{
				HASHCTL		ctl;

				memset(&ctl, 0, sizeof(ctl));
				ctl.keysize = NOTARY_HASH_LEN;
				ctl.entrysize = sizeof(IgnoreSlot);
				ctl.hcxt = rp->ign.mcxt;
				rp->ign.slots = hash_create("pg_notary erased columns", 16, &ctl,
											HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			}
			s = hash_search(rp->ign.slots, l->digest, HASH_ENTER, &found);
			if (!found)
			{
				s->ncols = l->ncols;
				s->erased = MemoryContextAllocZero(rp->ign.mcxt,
												   sizeof(bool) * Max(l->ncols, 1));
				s->nerased = 0;
				s->ignored = MemoryContextAlloc(rp->ign.mcxt,
												sizeof(int16) * Max(l->ncols, 1));
				s->nignored = 0;
			}
			was_clear = (s->nerased == 0);
		}
		if (!s->erased[i])
		{
			s->erased[i] = true;
			s->nerased++;
			grew = true;
		}
	}
	if (!grew)
		return;
	s->nignored = 0;
	for (i = 0; i < s->ncols; i++)
		if (s->erased[i] || is_personal(l, i))
			s->ignored[s->nignored++] = (int16) i;
	rowset_rekey(rp->state, l, was_clear);
	rowset_rekey(rp->pending, l, was_clear);
}

/*
 * A change whose row the state does not hold: report it and, with a
 * primary key, drop the state's row of the same key (the ledger's view of
 * that row is stale either way).
 */
static void
history_gap(Replay *rp, LayoutInfo *l, char **values, const bool *erased,
			int64 seq, const char *op)
{
	char	   *key = row_key(l, values, erased);
	VtRow	   *old = key ? rowset_find_key(rp->state, key) : NULL;
	const char *what = strcmp(op, NOTARY_OP_UPDATE) == 0 ?
	"its before-image" : "the row it removes";

	if (old != NULL &&
		memcmp(old->layout->digest, l->digest, NOTARY_HASH_LEN) != 0)
		report(rp->f, "history_gap", key, seq,
			   psprintf("the table's columns changed without a baseline before this %s (were event triggers off?): the row's last entry " INT64_FORMAT " is under another layout, so %s cannot be matched",
						op, old->seq, what));
	else if (old != NULL)
		report(rp->f, "history_gap", key, seq,
			   psprintf("the row was changed outside capture before this %s: %s matches no row the ledger knows (the ledger's last entry for this key is " INT64_FORMAT ")",
						op, what, old->seq));
	else
		report(rp->f, "history_gap", key ? key : key_text(l, values, erased, true), seq,
			   psprintf("the row was changed outside capture before this %s: %s matches no row the ledger knows",
						op, what));
	if (old != NULL)
		rowset_remove(rp->state, old);
}

/* DELETE, TRUNCATE: remove the row whose digest is digest, or report a gap. */
static void
remove_row(Replay *rp, LayoutInfo *l, char **values, const bool *erased,
		   const uint8 *digest, int64 seq, const char *op)
{
	VtRow	   *r = rowset_find_digest(rp->state, digest);

	if (r != NULL)
		rowset_remove(rp->state, r);
	else
		history_gap(rp, l, values, erased, seq, op);
}

/*
 * UPDATE: remove the row its old_digest names.  If none has it, the
 * before-image may be a row whose full digest is unknown (a covered
 * column erased): the one chosen as the header says; else a gap.
 */
static void
remove_before_image(Replay *rp, LayoutInfo *l, char **values,
					const bool *erased, const uint8 *old, int64 seq)
{
	RowSet	   *s = rp->state;
	VtRow	   *r = rowset_find_full(s, old);

	if (r == NULL && s->npartial > 0)
	{
		if (l->nkeys > 0)
		{
			char	   *key = row_key(l, values, erased);
			VtRow	   *k = key ? rowset_find_key(s, key) : NULL;

			if (k != NULL && k->partial)
				r = k;
			else if (k == NULL && erases_covered(l, erased))
				r = rowset_most_like(s, l, values, erased);
		}
		else
			r = rowset_most_like(s, l, values, erased);
	}
	if (r != NULL)
		rowset_remove(s, r);
	else
		history_gap(rp, l, values, erased, seq, NOTARY_OP_UPDATE);
}

/* The pending baseline becomes the state. */
static void
adopt_pending(Replay *rp)
{
	rowset_destroy(rp->state);
	rp->state = rp->pending;
	rp->pending = rowset_create(rp->cxt, &rp->ign);
	rp->nsnapshots = 0;
	rp->have_history = true;
}

/* SNAPSHOT entries that no BASELINE entry closes: report, then adopt them. */
static void
close_unfinished_baseline(Replay *rp)
{
	if (rp->nsnapshots == 0)
		return;
	report(rp->f, "baseline_incomplete", NULL, rp->pending->first_seq,
		   psprintf("the SNAPSHOT entries from entry " INT64_FORMAT " on are not closed by a BASELINE entry: the end of the baseline is missing",
					rp->pending->first_seq));
	adopt_pending(rp);
}

/* A BASELINE entry: compare the state with the baseline, which replaces it. */
static void
close_baseline(Replay *rp, int64 seq, const char *rows, const char *reason)
{
	if (rp->have_history)
	{
		Compare		c;
		List	   *others = NIL;
		ListCell   *lc;
		dlist_iter	it;

		foreach(lc, rp->pending->uses)
		{
			LayoutUse  *u = lfirst(lc);

			if (u->nrows > 0)
				others = lappend(others, u->layout);
		}
		compare_begin(&c, rp->state, others, rp->cxt);
		dlist_foreach(it, &rp->pending->rows)
		{
			VtRow	   *r = dlist_container(VtRow, order_node, it.cur);

			compare_offer(&c, r->layout, r->values, r->digest, r->seq, r);
		}
		compare_finish(&c, rp->f, COMPARE_BASELINE, seq, reason);
		compare_end(&c);
	}

	if (rows == NULL)
		report(rp->f, "baseline_incomplete", NULL, seq,
			   "the BASELINE entry does not say how many rows the baseline recorded");
	else
	{
		char	   *end;
		int64		n = strtoi64(rows, &end, 10);

		if (*end != '\0' || end == rows || n != rp->nsnapshots)
			report(rp->f, "baseline_incomplete", NULL, seq,
				   psprintf("the BASELINE entry says the baseline recorded %s rows, but the ledger holds " INT64_FORMAT " SNAPSHOT entries for it",
							rows, rp->nsnapshots));
	}
	adopt_pending(rp);
}

/* One entry of the table, in seq order (columns as selected below). */
static void
replay_entry(Replay *rp, HeapTuple t, TupleDesc d)
{
	bool		isnull;
	bool		img_null;
	bool		salts_null;
	bool		red_null;
	int64		seq = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
	char	   *op = SPI_getvalue(t, d, 2);
	Datum		layout_d = SPI_getbinval(t, d, 3, &isnull);
	Datum		img_d = SPI_getbinval(t, d, 4, &img_null);
	Datum		salts_d = SPI_getbinval(t, d, 5, &salts_null);
	Datum		red_d = SPI_getbinval(t, d, 9, &red_null);
	LayoutInfo *l;
	NotaryImage img;
	bool	   *erased;
	uint8		digest[NOTARY_HASH_LEN];

	if (op == NULL)
		return;
	if (strcmp(op, NOTARY_OP_BASELINE) == 0)
	{
		close_baseline(rp, seq, SPI_getvalue(t, d, 7), SPI_getvalue(t, d, 8));
		return;
	}
	if (strcmp(op, NOTARY_OP_INSERT) != 0 && strcmp(op, NOTARY_OP_UPDATE) != 0 &&
		strcmp(op, NOTARY_OP_DELETE) != 0 && strcmp(op, NOTARY_OP_TRUNCATE) != 0 &&
		strcmp(op, NOTARY_OP_SNAPSHOT) != 0)
		return;					/* DDL and the like carry no row */

	if (strcmp(op, NOTARY_OP_SNAPSHOT) != 0)
		close_unfinished_baseline(rp);
	else if (rp->nsnapshots++ == 0)
		rp->pending->first_seq = seq;

	l = isnull ? NULL : layouts_find(rp->layouts, DatumGetInt64(layout_d));
	if (l == NULL || !l->well_formed || img_null)
	{
		report(rp->f, "malformed_entry", NULL, seq,
			   psprintf("the %s entry has no row image or no readable layout, so it cannot be replayed",
						op));
		return;
	}
	read_image(img_d, salts_null, salts_d, &img);
	if (img.ncols != l->ncols)
	{
		report(rp->f, "malformed_entry", NULL, seq,
			   psprintf("the row image has %d values, its layout %d columns, so it cannot be replayed",
						img.ncols, l->ncols));
		return;
	}
	erased = read_erased(l, red_null, red_d);
	if (erased != NULL)
		note_erased(rp, l, erased);

	if (strcmp(op, NOTARY_OP_SNAPSHOT) == 0)
	{
		rowset_add(rp->pending, l, img.values, erased, seq);
		return;
	}
	rp->have_history = true;
	if (strcmp(op, NOTARY_OP_INSERT) == 0)
		rowset_add(rp->state, l, img.values, erased, seq);
	else if (strcmp(op, NOTARY_OP_UPDATE) == 0)
	{
		Datum		old_d = SPI_getbinval(t, d, 6, &isnull);
		bytea	   *old = isnull ? NULL : DatumGetByteaPP(old_d);

		if (old == NULL || VARSIZE_ANY_EXHDR(old) != NOTARY_HASH_LEN)
		{
			char	   *key = row_key(l, img.values, erased);
			VtRow	   *prev = key ? rowset_find_key(rp->state, key) : NULL;

			report(rp->f, "malformed_entry",
				   key ? key : key_text(l, img.values, erased, true), seq,
				   "the UPDATE entry has no 32-byte old_digest, so the row it replaced is unknown");
			if (prev != NULL)
				rowset_remove(rp->state, prev);
		}
		else
			remove_before_image(rp, l, img.values, erased,
								(uint8 *) VARDATA_ANY(old), seq);
		rowset_add(rp->state, l, img.values, erased, seq);
	}
	else
	{
		/* DELETE, TRUNCATE: the image is the row removed */
		row_digest(&rp->ign, l, img.values, digest);
		remove_row(rp, l, img.values, erased, digest, seq, op);
	}
}

/* A copy of the table's current layout, as capture would record it. */
static LayoutInfo *
live_layout(RelInfo *ri, MemoryContext mcxt)
{
	LayoutInfo *l = MemoryContextAllocZero(mcxt, sizeof(LayoutInfo));
	int			i;

	l->layout_id = ri->layout_id;
	l->table_id = ri->table_id;
	l->well_formed = true;
	l->digest_ok = true;
	memcpy(l->digest, ri->layout_digest, NOTARY_HASH_LEN);
	l->schema_name = MemoryContextStrdup(mcxt, ri->schema_name);
	l->table_name = MemoryContextStrdup(mcxt, ri->table_name);
	l->ncols = ri->ncols;
	l->names = MemoryContextAlloc(mcxt, sizeof(char *) * Max(ri->ncols, 1));
	l->types = MemoryContextAlloc(mcxt, sizeof(char *) * Max(ri->ncols, 1));
	for (i = 0; i < ri->ncols; i++)
	{
		l->names[i] = MemoryContextStrdup(mcxt, ri->names[i]);
		l->types[i] = MemoryContextStrdup(mcxt, ri->types[i]);
	}
	l->nkeys = ri->nkeys;
	l->keys = MemoryContextAlloc(mcxt, sizeof(int16) * Max(ri->nkeys, 1));
	if (ri->nkeys > 0)
		memcpy(l->keys, ri->keys, sizeof(int16) * ri->nkeys);
	l->npersonal = ri->npersonal;
	l->personal = MemoryContextAlloc(mcxt, sizeof(int16) * Max(ri->npersonal, 1));
	if (ri->npersonal > 0)
		memcpy(l->personal, ri->personal, sizeof(int16) * ri->npersonal);
	return l;
}

/* Compare the state with every row of the table visible to our snapshot. */
static void
compare_with_table(Replay *rp, Oid relid, MemoryContext scratch)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	RelInfo    *ri = relinfo_get(rel);
	LayoutInfo *live = live_layout(ri, rp->cxt);
	TableScanDesc scan;
	HeapTuple	tuple;
	Compare		c;
	MemoryContext old;

	compare_begin(&c, rp->state, list_make1(live), rp->cxt);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		NotaryImage img;
		uint8		digest[NOTARY_HASH_LEN];

		old = MemoryContextSwitchTo(scratch);
		relinfo_build_image(ri, tupdesc, tuple, false, &img);
		row_digest(&rp->ign, live, img.values, digest);
		compare_offer(&c, live, img.values, digest, 0, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(scratch);
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	table_close(rel, NoLock);

	old = MemoryContextSwitchTo(scratch);
	compare_finish(&c, rp->f, COMPARE_TABLE, 0, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextReset(scratch);
	compare_end(&c);
}

PG_FUNCTION_INFO_V1(notary_verify_table);

/* SQL: notary.verify_table(tbl regclass) returns setof (problem, row_key, seq, detail) */
Datum
notary_verify_table(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	MemoryContext vtcxt;
	MemoryContext scratch;
	NotaryUserSwitch sw;
	Findings	f;
	Replay		rp;
	Portal		portal;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	int32		table_id;
	Snapshot	snap;

	InitMaterializedSRF(fcinfo, 0);
	f.store = rsinfo->setResult;
	f.desc = rsinfo->setDesc;

	vtcxt = AllocSetContextCreate(callcxt, "pg_notary verify_table",
								  ALLOCSET_DEFAULT_SIZES);
	scratch = AllocSetContextCreate(callcxt, "pg_notary verify_table entry",
									ALLOCSET_DEFAULT_SIZES);

	/*
	 * Lock the table first, then take the one snapshot both the ledger and
	 * the table are read with: a snapshot taken before waiting for a
	 * concurrent TRUNCATE would see the ledger without its entries and the
	 * table already empty.  Writers are not blocked; what they commit
	 * meanwhile is invisible to both reads alike.
	 */
	LockRelationOid(relid, AccessShareLock);
	snap = RegisterSnapshot(GetTransactionSnapshot());
	PushActiveSnapshot(snap);

	notary_spi_begin(&sw);
	table_id = read_enrolled_table_id(relid);

	memset(&rp, 0, sizeof(rp));
	rp.f = &f;
	rp.cxt = vtcxt;
	rp.layouts = layouts_load(table_id, vtcxt);
	rp.ign.mcxt = vtcxt;
	rp.state = rowset_create(vtcxt, &rp.ign);
	rp.pending = rowset_create(vtcxt, &rp.ign);

	args[0] = Int32GetDatum(table_id);
	portal = SPI_cursor_open_with_args(NULL,
									   psprintf("SELECT seq, op, layout_id, row_image, row_salts, old_digest, "
												"detail OPERATOR(pg_catalog.->>) 'rows', "
												"detail OPERATOR(pg_catalog.->>) 'reason', redacted "
												"FROM %s WHERE table_id OPERATOR(pg_catalog.=) $1 "
												"ORDER BY seq", ledger_of_table_sql("$1")),
									   1, argtypes, args, NULL, true, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, VERIFY_TABLE_BATCH);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(scratch);

			replay_entry(&rp, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			MemoryContextSwitchTo(old);
			MemoryContextReset(scratch);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
	close_unfinished_baseline(&rp);

	compare_with_table(&rp, relid, scratch);

	notary_spi_end(&sw);
	PopActiveSnapshot();
	UnregisterSnapshot(snap);
	MemoryContextDelete(scratch);
	MemoryContextDelete(vtcxt);
	return (Datum) 0;
}
