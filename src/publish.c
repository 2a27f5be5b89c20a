/*-------------------------------------------------------------------------
 *
 * publish.c
 *		Open-data publications: notary.publish(), notary.refresh(),
 *		notary.unpublish(), notary.publication_problems(),
 *		notary.k_anonymity() and the staleness check every published view
 *		runs first (notary.publication_check()).
 *
 * A publication is a view opendata.<name> WITH (security_barrier) over a
 * generated SECURITY DEFINER function notary.publication_<id>() owned by
 * the extension's owner.  The function first checks that the table still
 * matches what the policy was checked against (fail closed: a stale
 * publication raises NT004 instead of returning rows), then returns the
 * published columns of the rows of groups of at least k people.  The
 * reader (opendata_reader) gets SELECT on the view and EXECUTE on the
 * function, nothing on the table and nothing on notary.pseudonym(): every
 * value it can see has passed through the policy inside the function, so
 * no qual of its own (a "leakproof" function in WHERE) can see a row or a
 * column that the policy suppressed.
 *
 * The function reads the table as the extension's owner, past row-level
 * security: a table with row-level security on is published only by a
 * caller who sees every row, and turning it on later makes the
 * publication stale ("row security enabled") until such a caller
 * refreshes it.
 *
 * Only superusers and the extension's owner may name a pseudonym domain
 * (publish_policy.c): anyone else granted EXECUTE could otherwise publish
 * values of its choice in another publication's domain and read their
 * pseudonyms.  refresh() republishes stored rules, checked when published.
 *
 * Pseudonyms are stable for a key version: a publication keeps the version
 * it was published with.  refresh() keeps it too (it mends staleness that
 * has nothing to do with keys, such as a dump and restore that renumbers
 * columns) and refuses if that version is gone or is another key; only
 * refresh(rotate_key => true) and publish() take the newest version.
 *
 * A publication belongs to its table's owner: only a superuser, the
 * extension's owner, or a role with the privileges of the table's owner
 * (current_user, as for ALTER TABLE) may replace, refresh or unpublish an
 * existing one (may_change_publication).  Anyone else granted EXECUTE may
 * publish a table it may read under a free view name, nothing more; else it
 * could loosen or drop what the table's owner or a superuser published.
 *
 * Everything is checked (publish_policy.c) before anything is created; the
 * objects, the row of notary.publications and the PUBLISH entry of the
 * ledger are made in the caller's transaction, so an error leaves nothing
 * behind.  The SQL runs as the extension's owner (notary_spi_begin), and
 * the event triggers skip it (notary_internal_ddl).  The table is locked
 * SHARE UPDATE EXCLUSIVE while it is published (no ALTER, no classify()
 * in between), and ACCESS SHARE while a view checks it.
 *
 *-------------------------------------------------------------------------
 */
#include "publish.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

/* A row of notary.publications, with what its policy was checked against. */
typedef struct PubRow
{
	int32		id;
	char	   *view_name;
	int32		table_id;
	Jsonb	   *rules;
	bool		k_null;
	int32		k;
	char	   *subject;		/* NULL: none */
	int32		key_version;	/* 0: none */
	uint8		key_check[PSEUDONYM_CHECK_LEN]; /* if key_version */
	bool		has_key_check;
	char	   *title;
	char	   *description;
	uint8		fingerprint[NOTARY_HASH_LEN];
	Oid			relid;			/* InvalidOid: the table is gone */
	/* from checked */
	char	   *schema_name;
	char	   *table_name;
	int			ncols;
	char	  **col_names;
	char	  **col_types;
	char	  **col_classes;
	int		   *col_attnums;
	bool		row_security;	/* published with row-level security on */
} PubRow;

/* A problem of a publication. */
typedef struct Problem
{
	const char *problem;
	char	   *detail;
} Problem;

#define PUB_COLUMNS \
	"p.publication_id, p.view_name, p.table_id, p.rules, p.k, p.subject_column, " \
	"p.key_version, p.title, p.description, p.fingerprint, t.relid::pg_catalog.oid, " \
	"p.checked->>'schema', p.checked->>'table', " \
	"(SELECT pg_catalog.array_agg(c.key ORDER BY c.key) FROM pg_catalog.jsonb_each(p.checked->'columns') c), " \
	"(SELECT pg_catalog.array_agg(c.value->>'type' ORDER BY c.key) FROM pg_catalog.jsonb_each(p.checked->'columns') c), " \
	"(SELECT pg_catalog.array_agg(c.value->>'class' ORDER BY c.key) FROM pg_catalog.jsonb_each(p.checked->'columns') c), " \
	"(SELECT pg_catalog.array_agg(c.value->>'attnum' ORDER BY c.key) FROM pg_catalog.jsonb_each(p.checked->'columns') c), " \
	"COALESCE(CAST(p.checked->>'row_security' AS pg_catalog.bool), false), p.key_check " \
	"FROM notary.publications p LEFT JOIN notary.tables t USING (table_id) "

static char *
getstr(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);	/* palloc'd in the current context */
}

/* Text array column to char ** (NULL elements stay NULL). */
static int
getarr(HeapTuple tup, TupleDesc desc, int col, char ***out)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	*out = NULL;
	if (isnull)
		return 0;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	*out = palloc0(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		(*out)[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	return n;
}

/*
 * The publications (all, or the one named, or the one with that id), in
 * view name order, allocated in cxt.  (SPI connected, as owner.)
 */
static List *
load_publications(const char *view_name, int32 id, bool for_update, MemoryContext cxt)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	StringInfoData q;
	List	   *rows = NIL;
	uint64		i;

	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT " PUB_COLUMNS "WHERE ($1 IS NULL OR p.view_name OPERATOR(pg_catalog.=) $1) "
						   "AND ($2 IS NULL OR p.publication_id OPERATOR(pg_catalog.=) $2) ORDER BY p.view_name");
	if (for_update)
		appendStringInfoString(&q, " FOR UPDATE OF p");
	args[0] = view_name ? CStringGetTextDatum(view_name) : (Datum) 0;
	nulls[0] = view_name ? ' ' : 'n';
	args[1] = Int32GetDatum(id);
	nulls[1] = id ? ' ' : 'n';
	if (SPI_execute_with_args(q.data, 2, argtypes, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.publications");

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		PubRow	   *r = palloc0(sizeof(PubRow));
		bool		isnull;
		Datum		d;
		char	  **attnums;
		int			j;

		r->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		r->view_name = getstr(tup, desc, 2);
		r->table_id = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		r->rules = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &r->k_null);
		r->k = r->k_null ? 0 : DatumGetInt32(d);
		r->subject = getstr(tup, desc, 6);
		d = SPI_getbinval(tup, desc, 7, &isnull);
		r->key_version = isnull ? 0 : DatumGetInt32(d);
		r->title = getstr(tup, desc, 8);
		r->description = getstr(tup, desc, 9);
		d = SPI_getbinval(tup, desc, 10, &isnull);
		if (!isnull && VARSIZE_ANY_EXHDR(DatumGetByteaPP(d)) == NOTARY_HASH_LEN)
			memcpy(r->fingerprint, VARDATA_ANY(DatumGetByteaPP(d)), NOTARY_HASH_LEN);
		d = SPI_getbinval(tup, desc, 11, &isnull);
		r->relid = isnull ? InvalidOid : DatumGetObjectId(d);
		r->schema_name = getstr(tup, desc, 12);
		r->table_name = getstr(tup, desc, 13);
		r->ncols = getarr(tup, desc, 14, &r->col_names);
		(void) getarr(tup, desc, 15, &r->col_types);
		(void) getarr(tup, desc, 16, &r->col_classes);
		(void) getarr(tup, desc, 17, &attnums);
		r->col_attnums = palloc0(sizeof(int) * Max(r->ncols, 1));
		for (j = 0; j < r->ncols; j++)
			r->col_attnums[j] = (attnums && attnums[j]) ? atoi(attnums[j]) : 0;
		r->row_security = DatumGetBool(SPI_getbinval(tup, desc, 18, &isnull));
		d = SPI_getbinval(tup, desc, 19, &isnull);
		if (!isnull && VARSIZE_ANY_EXHDR(DatumGetByteaPP(d)) == PSEUDONYM_CHECK_LEN)
		{
			memcpy(r->key_check, VARDATA_ANY(DatumGetByteaPP(d)), PSEUDONYM_CHECK_LEN);
			r->has_key_check = true;
		}
		rows = lappend(rows, r);
		MemoryContextSwitchTo(old);
	}
	return rows;
}

static char *
view_text(const char *view_name)
{
	return quote_qualified_identifier(OPENDATA_SCHEMA, view_name);
}

static const char *
or_unclassified(const char *class)
{
	return class ? class : "unclassified";
}

/* Unclassified and public columns are published alike. */
static const char *
or_public(const char *class)
{
	return class ? class : "public";
}

/* Has the table row-level security enabled (ENABLE ROW LEVEL SECURITY)? */
static bool
rel_row_security(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		on = false;

	if (HeapTupleIsValid(tup))
	{
		on = ((Form_pg_class) GETSTRUCT(tup))->relrowsecurity;
		ReleaseSysCache(tup);
	}
	return on;
}

/* The live name of a column by attnum, or NULL if dropped or missing. */
static char *
live_attname(Oid relid, int attnum)
{
	HeapTuple	tup;
	char	   *name = NULL;

	if (attnum <= 0)
		return NULL;
	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	if (!HeapTupleIsValid(tup))
		return NULL;
	if (!((Form_pg_attribute) GETSTRUCT(tup))->attisdropped)
		name = pstrdup(NameStr(((Form_pg_attribute) GETSTRUCT(tup))->attname));
	ReleaseSysCache(tup);
	return name;
}

static void
add_problem(List **problems, const char *problem, char *detail)
{
	Problem    *p = palloc(sizeof(Problem));

	p->problem = problem;
	p->detail = detail;
	*problems = lappend(*problems, p);
}

/*
 * What no longer matches in a publication: the table, the columns its
 * policy names (name, type, class), the key version; with_objects also
 * checks that its view and function exist.  The table is locked ACCESS
 * SHARE first, so that it cannot change until the caller's transaction
 * ends.  (SPI connected, as owner.)
 */
static List *
publication_problems_of(PubRow *r, bool with_objects)
{
	List	   *problems = NIL;

	if (OidIsValid(r->relid))
	{
		LockRelationOid(r->relid, AccessShareLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(r->relid)))
			r->relid = InvalidOid;
	}
	if (!OidIsValid(r->relid))
		add_problem(&problems, "table dropped",
					psprintf("Table %s no longer exists.",
							 quote_qualified_identifier(r->schema_name, r->table_name)));
	else
	{
		Policy		now;
		PolicyColumn *cols = palloc0(sizeof(PolicyColumn) * Max(r->ncols, 1));
		uint8		digest[NOTARY_HASH_LEN];
		int			i;

		memset(&now, 0, sizeof(now));
		now.relid = r->relid;
		now.schema_name = get_namespace_name(get_rel_namespace(r->relid));
		now.table_name = get_rel_name(r->relid);
		now.ncols = r->ncols;
		now.cols = cols;
		now.subject = -1;
		for (i = 0; i < r->ncols; i++)
		{
			AttrNumber	att = get_attnum(r->relid, r->col_names[i]);

			cols[i].name = r->col_names[i];
			cols[i].attnum = att;
			if (att > 0)
			{
				Oid			typid;
				int32		typmod;
				Oid			collation;

				get_atttypetypmodcoll(r->relid, att, &typid, &typmod, &collation);
				cols[i].type_text = canon_type_name(typid, typmod);
			}
			cols[i].class = classification_of(r->table_id, r->col_names[i]);
			if (r->subject && strcmp(r->subject, r->col_names[i]) == 0)
				now.subject = i;
		}
		policy_digest(policy_checked_json(&now, false), digest);
		if (memcmp(digest, r->fingerprint, NOTARY_HASH_LEN) != 0)
		{
			int			before = list_length(problems);

			if (strcmp(now.schema_name, r->schema_name) != 0 ||
				strcmp(now.table_name, r->table_name) != 0)
				add_problem(&problems, "table renamed",
							psprintf("Table %s is now %s.",
									 quote_qualified_identifier(r->schema_name, r->table_name),
									 quote_qualified_identifier(now.schema_name, now.table_name)));
			for (i = 0; i < r->ncols; i++)
			{
				PolicyColumn *c = &cols[i];

				if (c->attnum <= 0)
				{
					char	   *renamed = live_attname(r->relid, r->col_attnums[i]);

					if (renamed != NULL)
						add_problem(&problems, "column renamed",
									psprintf("Column \"%s\" is now \"%s\".", c->name, renamed));
					else
						add_problem(&problems, "column dropped",
									psprintf("Column \"%s\" no longer exists.", c->name));
					continue;
				}
				if (r->col_types[i] == NULL || strcmp(c->type_text, r->col_types[i]) != 0)
					add_problem(&problems, "column retyped",
								psprintf("Column \"%s\" was %s and is now %s.", c->name,
										 r->col_types[i] ? r->col_types[i] : "?", c->type_text));
				if (strcmp(or_public(c->class), or_public(r->col_classes[i])) != 0)
					add_problem(&problems, "class changed",
								psprintf("Column \"%s\" was %s and is now %s.", c->name,
										 or_unclassified(r->col_classes[i]), or_unclassified(c->class)));
			}
			if (list_length(problems) == before)
				add_problem(&problems, "columns changed",
							pstrdup("The columns the policy names no longer match what it was checked against."));
		}

		/*
		 * Same name, another column: classes are kept by column name, so a
		 * sensitive column renamed to the name of a kept one (or a column
		 * dropped and added again) matches the digest.  The attribute number
		 * tells them apart; a dump and restore that renumbers columns makes
		 * the view stale too, which refresh() mends.
		 */
		for (i = 0; i < r->ncols; i++)
			if (cols[i].attnum > 0 && r->col_attnums[i] > 0 &&
				cols[i].attnum != r->col_attnums[i])
				add_problem(&problems, "column replaced",
							psprintf("Column \"%s\" is not the column that was published (attribute number %d, now %d).",
									 cols[i].name, r->col_attnums[i], cols[i].attnum));

		/*
		 * Row-level security turned on after publishing: someone now hides
		 * rows from some roles, and the view, reading as the extension's
		 * owner, would still publish them.  refresh() by a role that sees
		 * every row acknowledges it.
		 */
		if (!r->row_security && rel_row_security(r->relid))
			add_problem(&problems, "row security enabled",
						psprintf("Table %s has row-level security enabled since it was published: the view would publish rows it hides.",
								 quote_qualified_identifier(now.schema_name, now.table_name)));
	}
	if (r->key_version != 0)
	{
		char	   *detail = NULL;
		const char *problem;

		/* a publication without a check value is as good as a changed key */
		if (!r->has_key_check)
			memset(r->key_check, 0, PSEUDONYM_CHECK_LEN);
		problem = pseudonym_key_problem(r->key_version, r->key_check, &detail);
		if (problem != NULL)
			add_problem(&problems, problem, detail);
	}
	if (with_objects)
	{
		Oid			nsp = get_namespace_oid(OPENDATA_SCHEMA, true);
		Oid			view = OidIsValid(nsp) ? get_relname_relid(r->view_name, nsp) : InvalidOid;
		char	   *fn = psprintf("notary.publication_%d()", r->id);

		if (!OidIsValid(view) || get_rel_relkind(view) != RELKIND_VIEW)
			add_problem(&problems, "view missing",
						psprintf("View %s does not exist.", view_text(r->view_name)));
		if (!OidIsValid(DatumGetObjectId(DirectFunctionCall1(to_regprocedure, CStringGetTextDatum(fn)))))
			add_problem(&problems, "function missing",
						psprintf("Function %s does not exist.", fn));
	}
	return problems;
}

static char *
problems_text(List *problems)
{
	StringInfoData sb;
	ListCell   *lc;

	initStringInfo(&sb);
	foreach(lc, problems)
	{
		if (sb.len > 0)
			appendStringInfoChar(&sb, ' ');
		appendStringInfoString(&sb, ((Problem *) lfirst(lc))->detail);
	}
	return sb.data;
}

static void
raise_stale(PubRow *r, List *problems)
{
	ereport(ERROR,
			(errcode(ERRCODE_NOTARY_PUBLICATION_STALE),
			 errmsg("publication %s is stale: %s", view_text(r->view_name),
					((Problem *) linitial(problems))->problem),
			 errdetail("%s", problems_text(problems)),
			 errhint("notary.publication_problems() lists what changed; notary.refresh('%s') publishes it again if its rules still hold.",
					 r->view_name)));
}

/* Run one utility statement of pg_notary's own.  (SPI connected, as owner.) */
static void
run_ddl(const char *sql)
{
	bool		save = notary_internal_ddl;

	notary_internal_ddl = true;
	PG_TRY();
	{
		if (SPI_execute(sql, false, 0) < 0)
			elog(ERROR, "SPI_execute failed: %s", sql);
	}
	PG_FINALLY();
	{
		notary_internal_ddl = save;
	}
	PG_END_TRY();
}

/*
 * Can the existing view be replaced in place (CREATE OR REPLACE VIEW keeps
 * its grants and dependants), i.e. do the new columns extend the old ones?
 */
static bool
view_replaceable(Oid view, const Policy *p)
{
	Relation	rel = relation_open(view, AccessExclusiveLock);
	TupleDesc	desc = RelationGetDescr(rel);
	bool		ok = desc->natts <= p->nout;
	int			i;

	for (i = 0; ok && i < p->ncols; i++)
	{
		const PolicyColumn *c = &p->cols[i];
		Form_pg_attribute a;

		if (c->out == 0 || c->out > desc->natts)
			continue;
		a = TupleDescAttr(desc, c->out - 1);
		if (strcmp(NameStr(a->attname), c->name) != 0 ||
			a->atttypid != (c->kind == RULE_KEEP ? c->typid : TEXTOID) ||
			a->atttypmod != (c->kind == RULE_KEEP ? c->typmod : -1))
			ok = false;
	}
	relation_close(rel, NoLock);
	return ok;
}

static char *
view_comment(const Policy *p, const char *title, const char *description)
{
	if (title && description)
		return psprintf("%s: %s", title, description);
	if (title)
		return pstrdup(title);
	if (description)
		return pstrdup(description);
	return psprintf("Open data from %s, published by pg_notary (rules: notary.published)",
					quote_qualified_identifier(p->schema_name, p->table_name));
}

/*
 * The PUBLISH entry: which view, table, rules, k, subject, key version,
 * whether the key version changed (key_rotated: the publication existed
 * with another version) and whether it was a refresh.
 */
static char *
publish_detail(const char *view_name, const Policy *p, Jsonb *rules,
			   const char *subject, bool key_rotated, bool refresh)
{
	StringInfoData sb;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"view\": ");
	escape_json(&sb, view_text(view_name));
	appendStringInfoString(&sb, ", \"table\": ");
	escape_json(&sb, quote_qualified_identifier(p->schema_name, p->table_name));
	appendStringInfo(&sb, ", \"rules\": %s", JsonbToCString(NULL, &rules->root, VARSIZE(rules)));
	if (p->k)
		appendStringInfo(&sb, ", \"k\": %d", p->k);
	else
		appendStringInfoString(&sb, ", \"k\": null");
	appendStringInfoString(&sb, ", \"subject\": ");
	if (subject)
		escape_json(&sb, subject);
	else
		appendStringInfoString(&sb, "null");
	if (p->key_version)
		appendStringInfo(&sb, ", \"key_version\": %d", p->key_version);
	else
		appendStringInfoString(&sb, ", \"key_version\": null");
	appendStringInfo(&sb, ", \"key_rotated\": %s, \"refresh\": %s}",
					 key_rotated ? "true" : "false", refresh ? "true" : "false");
	return sb.data;
}

/*
 * May the current user replace, refresh or unpublish a publication of
 * table relid (InvalidOid: dropped)?  Superusers and the extension's owner
 * may change any; anyone else only those of a table whose owner's
 * privileges it has.  Call it before switching to the owner.
 */
static bool
may_change_publication(Oid relid)
{
	HeapTuple	tup;
	Oid			relowner;

	if (superuser() || GetUserId() == notary_extension_owner())
		return true;
	if (!OidIsValid(relid))
		return false;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		return false;
	relowner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return has_privs_of_role(GetUserId(), relowner);
}

/*
 * Refuse, with 42501, to change publication view_name of table relid:
 * action is "replace", "refresh" or "unpublish".
 */
static void
refuse_change(const char *action, const char *view_name, Oid relid)
{
	HeapTuple	tup = OidIsValid(relid) ? SearchSysCache1(RELOID, ObjectIdGetDatum(relid)) : NULL;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s publication %s", action, view_text(view_name)),
				 errdetail("Its table was dropped, so only a superuser or the extension's owner may change it."),
				 errhint("Ask a superuser to notary.unpublish('%s').", view_name)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s publication %s", action, view_text(view_name)),
			 errdetail("Publication %s publishes table %s, owned by role \"%s\", and the current role does not have its privileges.",
					   view_text(view_name),
					   quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												  get_rel_name(relid)),
					   GetUserNameFromId(((Form_pg_class) GETSTRUCT(tup))->relowner, false)),
			 errhint("Only a superuser, the extension's owner, or the table's owner may replace, refresh or unpublish an existing publication; publish under another view_name instead.")));
}

/*
 * The key version a refresh keeps: the one publication r uses, with its
 * check value into check.  Refuses (55000) if the key file no longer holds
 * that very key: publishing with another would change every pseudonym, so
 * that takes an explicit refresh(..., rotate_key => true).
 */
static int32
kept_key_version(const PubRow *r, uint8 *check)
{
	char	   *detail = NULL;
	const char *problem;

	/* a publication without a check value is as good as a changed key */
	if (r->has_key_check)
		memcpy(check, r->key_check, PSEUDONYM_CHECK_LEN);
	else
		memset(check, 0, PSEUDONYM_CHECK_LEN);
	problem = pseudonym_key_problem(r->key_version, check, &detail);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot refresh publication %s with its pseudonym key version %d: %s",
						view_text(r->view_name), r->key_version, problem),
				 errdetail("%s A refresh keeps the key version so that no pseudonym changes.", detail),
				 errhint("Put key version %d back into the pseudonym key file, or rotate explicitly: notary.refresh('%s', rotate_key => true) publishes with the newest key version, and every pseudonym of the view changes.",
						 r->key_version, r->view_name)));
	return r->key_version;
}

/*
 * Publish (or publish again) a table: check everything, then create or
 * replace the function and the view, grant them, record the publication
 * and append a PUBLISH entry.  refresh_id: the publication refreshed, or
 * 0.  A refresh keeps the publication's key version unless rotate_key;
 * publish() (refresh_id 0), new or replacing, takes the newest.  Returns
 * the view's OID.
 */
static Oid
publish_table(Oid relid, Jsonb *rules, bool k_null, int32 k,
			  const char *subject, const char *view_name, const char *title,
			  const char *description, int32 refresh_id, bool rotate_key)
{
	NotaryUserSwitch sw;
	MemoryContext cxt = CurrentMemoryContext;
	Oid			owner;
	int32		table_id;
	Policy	   *p;
	List	   *existing;
	int32		id;
	Oid			nsp;
	Oid			view;
	char	   *fn;
	char	   *vq;
	char	   *checked;
	uint8		digest[NOTARY_HASH_LEN];
	StringInfoData q;
	bool		replace_view = false;
	bool		may_name_domains;
	bool		may_change;
	bool		row_security;
	uint8		key_check[PSEUDONYM_CHECK_LEN];
	int32		old_key_version = 0;
	char		relkind;
	char	   *detail;
	MemoryContext old;

	/* no ALTER TABLE and no classify() until this transaction ends */
	LockRelationOid(relid, ShareUpdateExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table to publish (OID %u) does not exist", relid)));
	owner = notary_extension_owner();
	/* a stored publication's rules were checked when it was published */
	may_name_domains = refresh_id != 0 || superuser() || GetUserId() == owner;
	may_change = may_change_publication(relid);
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errhint("Only enrolled tables can be published.")));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));

	/*
	 * The view reads as the extension's owner: with row-level security on,
	 * only a caller who sees every row (superuser, BYPASSRLS, the owner
	 * without FORCE ROW LEVEL SECURITY) may publish what it would show.
	 */
	row_security = rel_row_security(relid);
	if (row_security && check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to publish table \"%s\": it has row-level security enabled",
						get_rel_name(relid)),
				 errdetail("The view would publish every row of the table, including the rows its policies hide from you."),
				 errhint("A superuser, a role with BYPASSRLS, or the table's owner when row-level security is not forced, may publish it.")));
	if (pg_class_aclcheck(relid, owner, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of pg_notary cannot read table \"%s\"", get_rel_name(relid)),
				 errdetail("A published view reads its table as the extension's owner.")));
	if (view_name == NULL)
		view_name = get_rel_name(relid);
	if (view_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("the name of a published view must not be empty")));

	notary_spi_begin(&sw);
	table_id = read_enrolled_table_id(relid);
	p = policy_build(relid, table_id, rules, k_null, k, subject, may_name_domains);
	p->row_security = row_security;

	/* the view's name: free, or a publication of this very table */
	existing = load_publications(view_name, 0, true, cxt);
	if (existing != NIL && ((PubRow *) linitial(existing))->table_id != table_id)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("view %s already publishes another table", view_text(view_name)),
				 errhint("Choose another view_name, or notary.unpublish('%s') first.", view_name)));
	if (existing != NIL && !may_change)
		refuse_change(refresh_id != 0 ? "refresh" : "replace", view_name, relid);
	if (refresh_id != 0 && (existing == NIL || ((PubRow *) linitial(existing))->id != refresh_id))
		elog(ERROR, "publication %d changed while it was refreshed", refresh_id);
	nsp = get_namespace_oid(OPENDATA_SCHEMA, true);
	view = InvalidOid;
	if (OidIsValid(nsp))
	{
		HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
		Oid			nspowner = InvalidOid;

		if (HeapTupleIsValid(tup))
		{
			nspowner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
			ReleaseSysCache(tup);
		}
		if (nspowner != owner)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("schema \"%s\" exists and is not pg_notary's", OPENDATA_SCHEMA),
					 errdetail("Its owner could replace the published views."),
					 errhint("Rename or drop that schema, or make the extension's owner its owner.")));
		view = get_relname_relid(view_name, nsp);
		if (OidIsValid(view) && (existing == NIL || get_rel_relkind(view) != RELKIND_VIEW))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_TABLE),
					 errmsg("relation %s already exists and is not a publication", view_text(view_name)),
					 errhint("Choose another view_name.")));
	}
	if (existing != NIL)
		old_key_version = ((PubRow *) linitial(existing))->key_version;
	if (p->pseudonymises && refresh_id != 0 && !rotate_key && old_key_version != 0)
		p->key_version = kept_key_version((PubRow *) linitial(existing), key_check);
	else if (p->pseudonymises)
	{
		p->key_version = pseudonym_newest_version();
		pseudonym_key_check(p->key_version, key_check);
	}

	/* everything checked: create */
	if (existing != NIL)
		id = ((PubRow *) linitial(existing))->id;
	else
	{
		bool		isnull;

		if (SPI_execute("SELECT CAST(pg_catalog.nextval('notary.publication_id_seq') AS pg_catalog.int4)",
						false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read notary.publication_id_seq");
		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	fn = psprintf("notary.publication_%d()", id);
	vq = view_text(view_name);
	if (!OidIsValid(nsp))
	{
		run_ddl("CREATE SCHEMA " OPENDATA_SCHEMA);
		run_ddl("COMMENT ON SCHEMA " OPENDATA_SCHEMA " IS 'pg_notary: anonymised views of audited tables (notary.publish), readable by opendata_reader'");
		run_ddl("REVOKE ALL ON SCHEMA " OPENDATA_SCHEMA " FROM PUBLIC");
		run_ddl("GRANT USAGE ON SCHEMA " OPENDATA_SCHEMA " TO " OPENDATA_ROLE);
	}

	initStringInfo(&q);
	appendStringInfo(&q, "BEGIN\n  PERFORM notary.publication_check(%d);\n  RETURN QUERY %s;\nEND",
					 id, policy_rows_sql(p, id));
	run_ddl(psprintf("CREATE OR REPLACE FUNCTION notary.publication_%d() RETURNS SETOF record "
					 "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS %s",
					 id, quote_literal_cstr(q.data)));
	run_ddl(psprintf("REVOKE ALL ON FUNCTION %s FROM PUBLIC", fn));
	run_ddl(psprintf("GRANT EXECUTE ON FUNCTION %s TO " OPENDATA_ROLE, fn));
	run_ddl(psprintf("COMMENT ON FUNCTION %s IS %s", fn,
					 quote_literal_cstr(psprintf("pg_notary: the rows of publication %s (generated by notary.publish; do not edit)", vq))));

	if (OidIsValid(view))
	{
		replace_view = view_replaceable(view, p);
		if (!replace_view)
			run_ddl(psprintf("DROP VIEW %s", vq));
	}
	run_ddl(psprintf("CREATE %sVIEW %s WITH (security_barrier) AS SELECT * FROM %s AS p(%s)",
					 replace_view ? "OR REPLACE " : "", vq,
					 psprintf("notary.publication_%d()", id), policy_column_defs(p)));
	run_ddl(psprintf("REVOKE ALL ON %s FROM PUBLIC", vq));
	run_ddl(psprintf("GRANT SELECT ON %s TO " OPENDATA_ROLE, vq));
	run_ddl(psprintf("COMMENT ON VIEW %s IS %s", vq,
					 quote_literal_cstr(view_comment(p, title, description))));

	/* the publication, and what it was checked against */
	checked = policy_checked_json(p, true);
	policy_digest(policy_checked_json(p, false), digest);
	{
		Oid			argtypes[12] = {INT4OID, TEXTOID, INT4OID, JSONBOID, INT4OID, TEXTOID,
		INT4OID, TEXTOID, TEXTOID, BYTEAOID, JSONBOID, BYTEAOID};
		Datum		args[12];
		char		nulls[12];
		bytea	   *fp = palloc(VARHDRSZ + NOTARY_HASH_LEN);
		bytea	   *kc = palloc(VARHDRSZ + PSEUDONYM_CHECK_LEN);

		SET_VARSIZE(fp, VARHDRSZ + NOTARY_HASH_LEN);
		memcpy(VARDATA(fp), digest, NOTARY_HASH_LEN);
		memset(nulls, ' ', sizeof(nulls));
		args[0] = Int32GetDatum(id);
		args[1] = CStringGetTextDatum(view_name);
		args[2] = Int32GetDatum(table_id);
		args[3] = JsonbPGetDatum(rules);
		args[4] = Int32GetDatum(p->k);
		nulls[4] = p->k ? ' ' : 'n';
		args[5] = subject ? CStringGetTextDatum(subject) : (Datum) 0;
		nulls[5] = subject ? ' ' : 'n';
		args[6] = Int32GetDatum(p->key_version);
		nulls[6] = p->key_version ? ' ' : 'n';
		args[7] = title ? CStringGetTextDatum(title) : (Datum) 0;
		nulls[7] = title ? ' ' : 'n';
		args[8] = description ? CStringGetTextDatum(description) : (Datum) 0;
		nulls[8] = description ? ' ' : 'n';
		args[9] = PointerGetDatum(fp);
		args[10] = DirectFunctionCall1(jsonb_in, CStringGetDatum(checked));
		SET_VARSIZE(kc, VARHDRSZ + PSEUDONYM_CHECK_LEN);
		if (p->key_version)
			memcpy(VARDATA(kc), key_check, PSEUDONYM_CHECK_LEN);
		args[11] = PointerGetDatum(kc);
		nulls[11] = p->key_version ? ' ' : 'n';
		if (SPI_execute_with_args("INSERT INTO notary.publications AS p (publication_id, view_name, table_id, "
								  "rules, k, subject_column, key_version, title, description, fingerprint, "
								  "checked, key_check, published_at, published_by) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, pg_catalog.now(), SESSION_USER) "
								  "ON CONFLICT (publication_id) DO UPDATE SET view_name = EXCLUDED.view_name, "
								  "table_id = EXCLUDED.table_id, rules = EXCLUDED.rules, k = EXCLUDED.k, "
								  "subject_column = EXCLUDED.subject_column, key_version = EXCLUDED.key_version, "
								  "title = EXCLUDED.title, description = EXCLUDED.description, "
								  "fingerprint = EXCLUDED.fingerprint, checked = EXCLUDED.checked, "
								  "key_check = EXCLUDED.key_check, "
								  "published_at = EXCLUDED.published_at, published_by = EXCLUDED.published_by",
								  12, argtypes, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record the publication");
	}
	view = get_relname_relid(view_name, get_namespace_oid(OPENDATA_SCHEMA, false));
	/* p is in SPI's memory, which notary_spi_end() frees */
	old = MemoryContextSwitchTo(cxt);
	detail = publish_detail(view_name, p, rules, subject,
							old_key_version != 0 && p->key_version != 0 &&
							p->key_version != old_key_version,
							refresh_id != 0);
	MemoryContextSwitchTo(old);
	notary_spi_end(&sw);

	ledger_append_event(NOTARY_OP_PUBLISH, true, table_id, detail);
	return view;
}

PG_FUNCTION_INFO_V1(notary_publish);

/*
 * SQL: notary.publish(tbl regclass, rules jsonb, k integer, subject name,
 * view_name name, title text, description text) returns regclass
 */
Datum
notary_publish(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the table to publish must not be null")));
	PG_RETURN_OID(publish_table(PG_GETARG_OID(0),
								PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1),
								PG_ARGISNULL(2), PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2),
								PG_ARGISNULL(3) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(3))),
								PG_ARGISNULL(4) ? NULL : pstrdup(NameStr(*PG_GETARG_NAME(4))),
								PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5)),
								PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6)),
								0, false));
}

/* "view" or "opendata.view" (quoted as identifiers may be) to view. */
static char *
publication_name_arg(text *arg)
{
	List	   *names = textToQualifiedNameList(arg);

	if (list_length(names) == 1)
		return strVal(linitial(names));
	if (list_length(names) == 2 && strcmp(strVal(linitial(names)), OPENDATA_SCHEMA) == 0)
		return strVal(lsecond(names));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" does not name a view of schema %s", text_to_cstring(arg), OPENDATA_SCHEMA)));
	return NULL;				/* keep compiler quiet */
}

/* The publication of that view, locked; raises if there is none. */
static PubRow *
find_publication(const char *view_name, bool for_update)
{
	NotaryUserSwitch sw;
	MemoryContext cxt = CurrentMemoryContext;
	List	   *rows;

	notary_spi_begin(&sw);
	rows = load_publications(view_name, 0, for_update, cxt);
	notary_spi_end(&sw);
	if (rows == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s is not a publication", view_text(view_name)),
				 errhint("notary.published lists the publications.")));
	return (PubRow *) linitial(rows);
}

PG_FUNCTION_INFO_V1(notary_refresh);

/*
 * SQL: notary.refresh(view_name text, rotate_key boolean DEFAULT false)
 * returns regclass.  Checks the stored policy against the table as it is
 * now and publishes it again with the same pseudonym key version (the
 * newest with rotate_key); refuses (changing nothing) if it no longer
 * holds or, without rotate_key, if its key version is gone or changed.
 */
Datum
notary_refresh(PG_FUNCTION_ARGS)
{
	char	   *view_name = publication_name_arg(PG_GETARG_TEXT_PP(0));
	PubRow	   *r = find_publication(view_name, true);

	if (!may_change_publication(r->relid))
		refuse_change("refresh", r->view_name, r->relid);
	if (!OidIsValid(r->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the table of publication %s was dropped", view_text(view_name)),
				 errhint("notary.unpublish('%s') removes the publication.", view_name)));
	PG_RETURN_OID(publish_table(r->relid, r->rules, r->k_null, r->k, r->subject,
								r->view_name, r->title, r->description, r->id,
								PG_GETARG_BOOL(1)));
}

PG_FUNCTION_INFO_V1(notary_unpublish);

/* SQL: notary.unpublish(view_name text): drop the view, its function, its row. */
Datum
notary_unpublish(PG_FUNCTION_ARGS)
{
	char	   *view_name = publication_name_arg(PG_GETARG_TEXT_PP(0));
	PubRow	   *r = find_publication(view_name, true);
	NotaryUserSwitch sw;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	Oid			nsp = get_namespace_oid(OPENDATA_SCHEMA, true);
	StringInfoData sb;

	if (!may_change_publication(r->relid))
		refuse_change("unpublish", r->view_name, r->relid);
	notary_spi_begin(&sw);
	if (OidIsValid(nsp) && OidIsValid(get_relname_relid(r->view_name, nsp)))
		run_ddl(psprintf("DROP VIEW %s", view_text(r->view_name)));
	run_ddl(psprintf("DROP FUNCTION IF EXISTS notary.publication_%d()", r->id));
	args[0] = Int32GetDatum(r->id);
	if (SPI_execute_with_args("DELETE FROM notary.publications WHERE publication_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the publication");
	notary_spi_end(&sw);

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"view\": ");
	escape_json(&sb, view_text(r->view_name));
	appendStringInfoString(&sb, ", \"table\": ");
	escape_json(&sb, quote_qualified_identifier(r->schema_name, r->table_name));
	appendStringInfoChar(&sb, '}');
	ledger_append_event(NOTARY_OP_UNPUBLISH, true, r->table_id, sb.data);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(notary_publication_check);

/*
 * SQL: notary.publication_check(publication_id integer).  Called first by
 * every generated function: raises NT004 unless the publication still
 * matches its table, its classes and its key.
 */
Datum
notary_publication_check(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	NotaryUserSwitch sw;
	MemoryContext cxt = CurrentMemoryContext;
	List	   *rows;
	List	   *problems;

	notary_spi_begin(&sw);
	rows = load_publications(NULL, id, false, cxt);
	if (rows == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_NOTARY_PUBLICATION_STALE),
				 errmsg("publication %d does not exist", id),
				 errhint("It was unpublished; drop whatever still calls notary.publication_%d().", id)));
	problems = publication_problems_of((PubRow *) linitial(rows), false);
	/* before notary_spi_end(), which frees the problems */
	if (problems != NIL)
		raise_stale((PubRow *) linitial(rows), problems);
	notary_spi_end(&sw);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(notary_publication_problems);

/*
 * SQL: notary.publication_problems() returns setof (view_name text,
 * table_name text, problem text, detail text): one row per problem of
 * every publication, none when all are current.
 */
Datum
notary_publication_problems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NotaryUserSwitch sw;
	MemoryContext cxt = CurrentMemoryContext;
	List	   *rows;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	notary_spi_begin(&sw);
	rows = load_publications(NULL, 0, false, cxt);
	foreach(lc, rows)
	{
		PubRow	   *r = (PubRow *) lfirst(lc);
		List	   *problems = publication_problems_of(r, true);
		ListCell   *pc;

		foreach(pc, problems)
		{
			Problem    *pr = (Problem *) lfirst(pc);
			Datum		values[4];
			bool		nulls[4] = {false, false, false, false};

			values[0] = CStringGetTextDatum(view_text(r->view_name));
			values[1] = CStringGetTextDatum(quote_qualified_identifier(r->schema_name, r->table_name));
			values[2] = CStringGetTextDatum(pr->problem);
			values[3] = CStringGetTextDatum(pr->detail);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	notary_spi_end(&sw);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(notary_k_anonymity);

/*
 * SQL: notary.k_anonymity(view regclass) returns (k_required integer,
 * k_reached bigint, quasi_identifiers text[], subject_column text,
 * rows_published bigint, rows_suppressed bigint, groups_published bigint,
 * groups_suppressed bigint).
 */
Datum
notary_k_anonymity(PG_FUNCTION_ARGS)
{
	Oid			view = PG_GETARG_OID(0);
	Oid			nsp = get_namespace_oid(OPENDATA_SCHEMA, true);
	char	   *view_name = get_rel_name(view);
	PubRow	   *r;
	NotaryUserSwitch sw;
	MemoryContext cxt = CurrentMemoryContext;
	List	   *problems;
	Policy	   *p;
	TupleDesc	tupdesc;
	Datum		values[8];
	bool		nulls[8];
	Datum	   *qi;
	int			nqi = 0;
	int			i;
	int64		stats[5];		/* k reached, rows and groups kept, suppressed */
	bool		stat_nulls[5];
	MemoryContext old;
	HeapTuple	tup;

	if (view_name == NULL || !OidIsValid(nsp) || get_rel_namespace(view) != nsp)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation %s is not a publication",
						view_name ? quote_qualified_identifier(get_namespace_name(get_rel_namespace(view)), view_name)
						: psprintf("%u", view)),
				 errhint("notary.published lists the publications.")));
	r = find_publication(view_name, false);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	notary_spi_begin(&sw);
	problems = publication_problems_of(r, false);
	/* before notary_spi_end(), which frees the problems */
	if (problems != NIL)
		raise_stale(r, problems);
	p = policy_build(r->relid, r->table_id, r->rules, r->k_null, r->k, r->subject, true);
	p->key_version = r->key_version;
	if (SPI_execute(policy_stats_sql(p), true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the groups of %s", view_text(view_name));
	memset(nulls, false, sizeof(nulls));
	for (i = 0; i < 5; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  1 + i, &stat_nulls[i]);

		stats[i] = stat_nulls[i] ? 0 : DatumGetInt64(d);
	}

	/*
	 * The policy is in SPI's memory (every SPI call switches back to it),
	 * which notary_spi_end() frees: build the result in the caller's
	 * context first.
	 */
	old = MemoryContextSwitchTo(cxt);
	values[0] = Int32GetDatum(p->k);
	nulls[0] = (p->k == 0);
	values[1] = Int64GetDatum(stats[0]);
	nulls[1] = stat_nulls[0];
	for (i = 0; i < 4; i++)
	{
		values[4 + i] = Int64GetDatum(stats[1 + i]);
		nulls[4 + i] = stat_nulls[1 + i];
	}

	qi = palloc(sizeof(Datum) * Max(p->ncols, 1));
	for (i = 0; i < p->ncols; i++)
		if (p->cols[i].quasi)
			qi[nqi++] = CStringGetTextDatum(p->cols[i].name);
	values[2] = PointerGetDatum(construct_array(qi, nqi, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = p->subject >= 0 ? CStringGetTextDatum(p->cols[p->subject].name) : (Datum) 0;
	nulls[3] = p->subject < 0;
	tup = heap_form_tuple(tupdesc, values, nulls);
	MemoryContextSwitchTo(old);
	notary_spi_end(&sw);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
