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

/* A row the ledger knows, a row of a baseline, or a row of the table. */
typedef struct VtRow
{
	uint8		digest[NOTARY_HASH_LEN];	/* row digest (projected while
											 * compared) */
	LayoutInfo *layout;
	char	  **values;			/* one chunk with the strings */
	int64		seq;			/* entry that recorded it; 0 for the table */
	char	   *key;			/* "id=42"; NULL without a primary key */
	char	   *name;			/* row_name(), once asked for */
	bool		paired;			/* compare: paired with a row of the other side */
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
	HTAB	   *by_digest;
	HTAB	   *by_key;
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

/*
 * The text that names a row in findings: its primary key columns, or
 * every column without one, as "id=1, line=3" in canonical text.
 */
static char *
key_text(const LayoutInfo *l, char **values, bool all_columns)
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
						 values[c] ? values[c] : "NULL");
	}
	return sb.data;
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

		r->name = key_text(r->layout, r->values, true);
		MemoryContextSwitchTo(old);
	}
	return r->name;
}

static void
row_digest(const LayoutInfo *l, char **values, uint8 *out)
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
rowset_create(MemoryContext parent)
{
	MemoryContext mcxt = AllocSetContextCreate(parent, "pg_notary rows",
											   ALLOCSET_DEFAULT_SIZES);
	RowSet	   *s = MemoryContextAllocZero(mcxt, sizeof(RowSet));
	HASHCTL		ctl;

	s->mcxt = mcxt;
	dlist_init(&s->rows);
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

/* A row of its own, values copied into one chunk. */
static VtRow *
row_make(MemoryContext mcxt, LayoutInfo *l, char **values, int64 seq)
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
	row_digest(l, r->values, r->digest);
	if (l->nkeys > 0)
		r->key = MemoryContextStrdup(mcxt, key_text(l, r->values, false));
	return r;
}

/* Add a row under layout l, recorded by entry seq. */
static VtRow *
rowset_add(RowSet *s, LayoutInfo *l, char **values, int64 seq)
{
	VtRow	   *r = row_make(s->mcxt, l, values, seq);

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
	rowset_use(s, l)->nrows++;
	s->nrows++;
	return r;
}

static void
rowset_remove(RowSet *s, VtRow *r)
{
	DigestSlot *ds;

	dlist_delete(&r->order_node);
	dlist_delete(&r->digest_node);
	ds = hash_search(s->by_digest, r->digest, HASH_FIND, NULL);
	if (ds != NULL && dlist_is_empty(&ds->rows))
		hash_search(s->by_digest, r->digest, HASH_REMOVE, NULL);
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

	/* columns of the same name and type in every layout, none personal */
	c->shared = palloc(sizeof(char *) * Max(first->ncols, 1));
	for (i = 0; i < first->ncols; i++)
	{
		bool		ok = !is_personal(first, i);
		ListCell   *lc2;

		foreach(lc2, all)
		{
			LayoutInfo *l = lfirst(lc2);
			int			j = ok ? layout_column(l, first->names[i]) : -1;

			if (j < 0 || strcmp(l->types[j], first->types[i]) != 0 ||
				is_personal(l, j))
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
		existing = row_make(c->cxt, l, values, seq);
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
 * `value: ledger "1" (entry 12), table "2"`.
 */
static char *
row_differences(VtRow *a, VtRow *b, const char *bname)
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

		if (j < 0 || is_personal(a->layout, i) || is_personal(b->layout, j) ||
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
								row_differences(a, b, "table")));
			else
				report(f, "changed_outside_capture", a->key, b->seq,
					   psprintf("%s found the row changed since the ledger last recorded it, while nothing was captured: %s",
								where, row_differences(a, b, "baseline")));
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
	RowSet	   *state;
	RowSet	   *pending;		/* SNAPSHOT rows of a baseline not yet closed */
	int64		nsnapshots;		/* SNAPSHOT entries of that baseline */
	bool		have_history;	/* a baseline or a row change came before */
} Replay;

/*
 * A change whose row the state does not hold: report it and, with a
 * primary key, drop the state's row of the same key (the ledger's view of
 * that row is stale either way).
 */
static void
history_gap(Replay *rp, LayoutInfo *l, char **values, int64 seq,
			const char *op)
{
	char	   *key = l->nkeys > 0 ? key_text(l, values, false) : NULL;
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
		report(rp->f, "history_gap", key ? key : key_text(l, values, true), seq,
			   psprintf("the row was changed outside capture before this %s: %s matches no row the ledger knows",
						op, what));
	if (old != NULL)
		rowset_remove(rp->state, old);
}

/* Remove the row whose digest is digest, or report a gap. */
static void
remove_row(Replay *rp, LayoutInfo *l, char **values, const uint8 *digest,
		   int64 seq, const char *op)
{
	VtRow	   *r = rowset_find_digest(rp->state, digest);

	if (r != NULL)
		rowset_remove(rp->state, r);
	else
		history_gap(rp, l, values, seq, op);
}

/* The pending baseline becomes the state. */
static void
adopt_pending(Replay *rp)
{
	rowset_destroy(rp->state);
	rp->state = rp->pending;
	rp->pending = rowset_create(rp->cxt);
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
	int64		seq = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
	char	   *op = SPI_getvalue(t, d, 2);
	Datum		layout_d = SPI_getbinval(t, d, 3, &isnull);
	Datum		img_d = SPI_getbinval(t, d, 4, &img_null);
	Datum		salts_d = SPI_getbinval(t, d, 5, &salts_null);
	LayoutInfo *l;
	NotaryImage img;
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

	if (strcmp(op, NOTARY_OP_SNAPSHOT) == 0)
	{
		rowset_add(rp->pending, l, img.values, seq);
		return;
	}
	rp->have_history = true;
	if (strcmp(op, NOTARY_OP_INSERT) == 0)
		rowset_add(rp->state, l, img.values, seq);
	else if (strcmp(op, NOTARY_OP_UPDATE) == 0)
	{
		Datum		old_d = SPI_getbinval(t, d, 6, &isnull);
		bytea	   *old = isnull ? NULL : DatumGetByteaPP(old_d);

		if (old == NULL || VARSIZE_ANY_EXHDR(old) != NOTARY_HASH_LEN)
		{
			VtRow	   *prev = NULL;

			report(rp->f, "malformed_entry", key_text(l, img.values, l->nkeys == 0), seq,
				   "the UPDATE entry has no 32-byte old_digest, so the row it replaced is unknown");
			if (l->nkeys > 0)
				prev = rowset_find_key(rp->state, key_text(l, img.values, false));
			if (prev != NULL)
				rowset_remove(rp->state, prev);
		}
		else
			remove_row(rp, l, img.values, (uint8 *) VARDATA_ANY(old), seq, op);
		rowset_add(rp->state, l, img.values, seq);
	}
	else
	{
		/* DELETE, TRUNCATE: the image is the row removed */
		row_digest(l, img.values, digest);
		remove_row(rp, l, img.values, digest, seq, op);
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
		row_digest(live, img.values, digest);
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
	rp.state = rowset_create(vtcxt);
	rp.pending = rowset_create(vtcxt);

	args[0] = Int32GetDatum(table_id);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT seq, op, layout_id, row_image, row_salts, old_digest, "
									   "detail OPERATOR(pg_catalog.->>) 'rows', "
									   "detail OPERATOR(pg_catalog.->>) 'reason' "
									   "FROM notary.ledger WHERE table_id OPERATOR(pg_catalog.=) $1 "
									   "ORDER BY seq",
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
