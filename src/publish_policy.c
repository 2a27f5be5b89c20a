/*-------------------------------------------------------------------------
 *
 * publish_policy.c
 *		The policy of a publication: parsing and checking the rules of
 *		notary.publish(), the SQL that applies them, and the fingerprint
 *		that tells when the table no longer matches them.
 *
 * Rules (docs/opendata.md): {"column": "rule", ...} with keep, drop,
 * pseudonymise[(domain)], mask[(first,last)], year, month, range(width),
 * prefix(n).  A column without a rule is not published.  Every check is
 * done here, before anything is created: unknown column, unknown rule,
 * bad argument, a rule the column's class or type does not allow, k
 * below 2, quasi-identifiers without k, a missing subject column, a named
 * pseudonym domain from a caller who may not name one.
 *
 * Pseudonym domains: a publisher chooses the values of a table it can
 * write, so a domain it could choose freely would be an oracle for every
 * other publication in that domain.  Only superusers and the extension's
 * owner may name a domain; anyone else gets the column's default domain,
 * schema.table.column with each name encoded unambiguously
 * (policy_default_domain()), so that no other table's names spell it.
 *
 * The generated SQL names every column with quote_identifier(), the table
 * with quote_qualified_identifier(), and every string from the rules
 * (pseudonym domains) with quote_literal_cstr(); numbers come from parsed
 * integers, widths from numeric_in() and back.  Built-ins are called as
 * pg_catalog.f() and operators as OPERATOR(pg_catalog.x): the SQL runs
 * under search_path pg_catalog, pg_temp anyway.  Output columns are named
 * c1..cN inside (the view gives them their names), so no column name can
 * collide with the names the SQL itself uses.
 *
 * k-anonymity: rows are grouped by the published (generalised) values of
 * the quasi-identifiers, compared byte-wise (COLLATE "C": a case-blind
 * collation must not merge groups that are shown apart); a group is
 * published only if it holds at least k people (distinct canonical values
 * of the subject column; rows whose subject is NULL count nobody) or,
 * without a subject column, k rows.
 *
 *-------------------------------------------------------------------------
 */
#include "publish.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#define MAX_RULE_NUMBER 1000

static const char *const rule_list_hint =
"Rules: keep, drop, pseudonymise, pseudonymise(domain), mask, mask(first,last), year, month, range(width), prefix(n).";

static char *
table_text(const Policy *p)
{
	return quote_qualified_identifier(p->schema_name, p->table_name);
}

static bool
is_personal(const char *class)
{
	return class != NULL && strcmp(class, "public") != 0;
}

static bool
is_text_type(Oid base)
{
	return base == TEXTOID || base == VARCHAROID || base == BPCHAROID;
}

static bool
is_date_type(Oid base)
{
	return base == DATEOID || base == TIMESTAMPOID || base == TIMESTAMPTZOID;
}

static bool
is_number_type(Oid base)
{
	return base == INT2OID || base == INT4OID || base == INT8OID ||
		base == NUMERICOID || base == FLOAT4OID || base == FLOAT8OID;
}

static void
bad_argument(const PolicyColumn *c, const char *rule, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("bad argument in rule \"%s\" for column \"%s\"", c->rule_text, c->name),
			 errdetail("%s", detail),
			 errhint("%s", rule_list_hint)));
}

/* A whole number from 0 (or 1) to MAX_RULE_NUMBER, or -1. */
static int
parse_small_int(const char *s, int min)
{
	int			v = 0;

	if (*s == '\0' || strlen(s) > 4)
		return -1;
	for (; *s; s++)
	{
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return (v < min || v > MAX_RULE_NUMBER) ? -1 : v;
}

/* Trim spaces at both ends, in place. */
static char *
trim(char *s)
{
	char	   *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/*
 * Parse "name" or "name(args)" into c.  The argument runs from the first
 * "(" to the final ")", so a pseudonym domain may hold any character but
 * control characters.  may_name_domains: the caller may use
 * pseudonymise(domain).
 */
static void
parse_rule(PolicyColumn *c, bool may_name_domains)
{
	char	   *s = trim(pstrdup(c->rule_text));
	char	   *open = strchr(s, '(');
	char	   *name = s;
	char	   *arg = NULL;
	char	   *comma;

	if (open != NULL)
	{
		size_t		len = strlen(s);

		if (s[len - 1] != ')')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown rule \"%s\" for column \"%s\"", c->rule_text, c->name),
					 errhint("%s", rule_list_hint)));
		*open = '\0';
		s[len - 1] = '\0';
		name = trim(name);
		arg = trim(open + 1);
	}

	if (strcmp(name, "keep") == 0)
		c->kind = RULE_KEEP;
	else if (strcmp(name, "drop") == 0)
		c->kind = RULE_DROP;
	else if (strcmp(name, "pseudonymise") == 0)
		c->kind = RULE_PSEUDONYMISE;
	else if (strcmp(name, "mask") == 0)
		c->kind = RULE_MASK;
	else if (strcmp(name, "year") == 0)
		c->kind = RULE_YEAR;
	else if (strcmp(name, "month") == 0)
		c->kind = RULE_MONTH;
	else if (strcmp(name, "range") == 0)
		c->kind = RULE_RANGE;
	else if (strcmp(name, "prefix") == 0)
		c->kind = RULE_PREFIX;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown rule \"%s\" for column \"%s\"", c->rule_text, c->name),
				 errhint("%s", rule_list_hint)));

	switch (c->kind)
	{
		case RULE_KEEP:
		case RULE_DROP:
		case RULE_YEAR:
		case RULE_MONTH:
			if (arg != NULL)
				bad_argument(c, name, "This rule takes no argument.");
			break;
		case RULE_PSEUDONYMISE:
			if (arg != NULL)
			{
				if (!may_name_domains)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("permission denied to name a pseudonym domain in rule \"%s\" for column \"%s\"",
									c->rule_text, c->name),
							 errdetail("Only superusers and the extension's owner may name a domain: a publisher could otherwise publish values of its choice in another publication's domain and read their pseudonyms."),
							 errhint("Use rule pseudonymise without a domain: the column's own domain.")));
				if (*arg == '\0' || strlen(arg) > 200)
					bad_argument(c, name, "A pseudonym domain is a name of 1 to 200 bytes: pseudonymise(officials).");
				for (const char *p = arg; *p; p++)
					if ((unsigned char) *p < 0x20 || *p == 0x7f)
						bad_argument(c, name, "A pseudonym domain must not hold control characters.");
				c->domain = pstrdup(arg);
			}
			break;
		case RULE_MASK:
			c->first = 1;
			c->last = 1;
			if (arg != NULL)
			{
				comma = strchr(arg, ',');
				if (comma == NULL)
					bad_argument(c, name, "mask takes two whole numbers from 0 to 1000: mask(first,last).");
				*comma = '\0';
				c->first = parse_small_int(trim(arg), 0);
				c->last = parse_small_int(trim(comma + 1), 0);
				if (c->first < 0 || c->last < 0)
					bad_argument(c, name, "mask takes two whole numbers from 0 to 1000: mask(first,last).");
			}
			break;
		case RULE_PREFIX:
			if (arg == NULL || (c->n = parse_small_int(arg, 1)) < 0)
				bad_argument(c, name, "prefix takes a whole number from 1 to 1000: prefix(2).");
			break;
		case RULE_RANGE:
			{
				const char *p;
				bool		dot = false;
				bool		nonzero = false;

				if (arg == NULL || *arg == '\0' || strlen(arg) > 40)
					bad_argument(c, name, "range takes a positive number: range(1000000).");
				for (p = arg; *p; p++)
				{
					if (*p == '.' && !dot && p != arg && p[1] != '\0')
						dot = true;
					else if (*p >= '0' && *p <= '9')
						nonzero |= (*p != '0');
					else
						bad_argument(c, name, "range takes a positive number: range(1000000).");
				}
				if (!nonzero)
					bad_argument(c, name, "range takes a positive number: range(1000000).");
				c->width = DatumGetCString(DirectFunctionCall1(numeric_out,
															   DirectFunctionCall3(numeric_in, CStringGetDatum(arg),
																				   ObjectIdGetDatum(InvalidOid),
																				   Int32GetDatum(-1))));
			}
			break;
	}
}

static const char *
kind_name(RuleKind k)
{
	switch (k)
	{
		case RULE_KEEP:
			return "keep";
		case RULE_DROP:
			return "drop";
		case RULE_PSEUDONYMISE:
			return "pseudonymise";
		case RULE_MASK:
			return "mask";
		case RULE_YEAR:
			return "year";
		case RULE_MONTH:
			return "month";
		case RULE_RANGE:
			return "range";
		case RULE_PREFIX:
			return "prefix";
	}
	return "?";
}

/*
 * A generalisation of a personal column must be able to generalise: a
 * prefix no shorter than the declared length of the column would publish
 * every value as is, and a range narrower than twice the column's
 * precision (1 for integers, 10^-scale for numeric(p,s)) has ranges that
 * hold a single possible value: [999,1000.5) of an integer is 1000.  (Values of text, and of
 * numeric and floats without a scale, are checked per value: a prefix that
 * would not shorten one publishes NULL; see append_expr().)
 */
static void
check_generalises(const Policy *p, const PolicyColumn *c)
{
	int32		typmod = c->typmod;

	if (c->kind == RULE_PREFIX && typmod >= (int32) VARHDRSZ &&
		(c->basetype == VARCHAROID || c->basetype == BPCHAROID) &&
		c->n >= typmod - (int32) VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule \"%s\" does not generalise column \"%s\" of table %s, classified %s",
						c->rule_text, c->name, table_text(p), c->class),
				 errdetail("Its values are at most %d characters long: the prefix would publish them as they are.",
						   typmod - (int32) VARHDRSZ),
				 errhint("Give a shorter prefix, or drop, pseudonymise or mask the column.")));
	if (c->kind == RULE_RANGE)
	{
		char	   *unit = NULL;
		char	   *twice;

		if (c->basetype == INT2OID || c->basetype == INT4OID || c->basetype == INT8OID)
			unit = "1";
		else if (c->basetype == NUMERICOID && typmod >= (int32) VARHDRSZ)
			unit = psprintf("1e%d", -((((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024));
		twice = unit ? psprintf("2%s", unit + 1) : NULL;
		if (unit != NULL &&
			DatumGetBool(DirectFunctionCall2(numeric_lt,
											 DirectFunctionCall3(numeric_in, CStringGetDatum(c->width),
																 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
											 DirectFunctionCall3(numeric_in, CStringGetDatum(twice),
																 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rule \"%s\" does not generalise column \"%s\" of table %s, classified %s",
							c->rule_text, c->name, table_text(p), c->class),
					 errdetail("Its values are multiples of %s: a range narrower than %s can hold a single value.",
							   unit, twice),
					 errhint("Give a wider range, or drop, pseudonymise or mask the column.")));
	}
}

/* Is the rule allowed for the column's class and type? */
static void
check_rule_fits(const Policy *p, const PolicyColumn *c)
{
	if (c->kind == RULE_KEEP && is_personal(c->class))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of table %s is classified %s and cannot be kept",
						c->name, table_text(p), c->class),
				 errdetail("A personal column can never be published as is."),
				 errhint("Drop, pseudonymise, mask or generalise it.")));
	if (c->class != NULL && strcmp(c->class, "identifier") == 0 &&
		c->kind != RULE_DROP && c->kind != RULE_PSEUDONYMISE && c->kind != RULE_MASK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule \"%s\" is not allowed for column \"%s\" of table %s, classified identifier",
						kind_name(c->kind), c->name, table_text(p)),
				 errhint("An identifier can only be dropped, pseudonymised or masked.")));
	if ((c->kind == RULE_YEAR || c->kind == RULE_MONTH) && !is_date_type(c->basetype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rule \"%s\" needs a date, timestamp or timestamptz column, and column \"%s\" is %s",
						kind_name(c->kind), c->name, c->type_text)));
	if (c->kind == RULE_RANGE && !is_number_type(c->basetype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rule \"range\" needs a numeric column, and column \"%s\" is %s",
						c->name, c->type_text)));
	if (c->kind == RULE_PREFIX && !is_text_type(c->basetype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("rule \"prefix\" needs a text column, and column \"%s\" is %s",
						c->name, c->type_text)));
	if (is_personal(c->class))
		check_generalises(p, c);
}

/* The column's entry, filled from the catalogs; raises if it is missing. */
static PolicyColumn *
lookup_column(const Policy *p, const char *name, const char *what)
{
	PolicyColumn *c = palloc0(sizeof(PolicyColumn));
	AttrNumber	att = get_attnum(p->relid, name);
	Oid			collation;

	if (att <= 0)				/* missing, dropped, or a system column */
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s \"%s\" of table %s does not exist", what, name, table_text(p))));
	c->name = pstrdup(name);
	c->attnum = att;
	get_atttypetypmodcoll(p->relid, att, &c->typid, &c->typmod, &collation);
	c->basetype = getBaseType(c->typid);
	c->type_text = canon_type_name(c->typid, c->typmod);
	c->class = classification_of(p->table_id, name);
	return c;
}

static int
cmp_attnum(const void *a, const void *b)
{
	return ((const PolicyColumn *) a)->attnum - ((const PolicyColumn *) b)->attnum;
}

/*
 * Check a policy against the table as it is now and return it, or raise.
 * key_version is left 0: the caller picks it.  may_name_domains: whether
 * pseudonymise(domain) is allowed (the caller is superuser or the
 * extension's owner, or the rules are a stored publication's, checked
 * when it was published).  (SPI connected, as owner.)
 */
Policy *
policy_build(Oid relid, int32 table_id, Jsonb *rules, bool k_null, int32 k,
			 const char *subject, bool may_name_domains)
{
	Policy	   *p = palloc0(sizeof(Policy));
	List	   *cols = NIL;
	ListCell   *lc;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;
	int			out = 0;
	char	   *first_quasi = NULL;

	p->relid = relid;
	p->table_id = table_id;
	p->schema_name = get_namespace_name(get_rel_namespace(relid));
	p->table_name = get_rel_name(relid);
	p->subject = -1;

	if (rules == NULL || !JB_ROOT_IS_OBJECT(rules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rules must be a JSON object of column names and rules"),
				 errhint("For example {\"vendor\": \"keep\", \"official_nik\": \"pseudonymise(officials)\"}.")));
	if (!k_null && k < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 2, not %d", k),
				 errhint("Give k => NULL only for a table without quasi-identifiers.")));
	p->k = k_null ? 0 : k;

	it = JsonbIteratorInit(&rules->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		PolicyColumn *c;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		c = lookup_column(p, name, "column");
		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the rule for column \"%s\" must be a JSON string", name),
					 errhint("%s", rule_list_hint)));
		c->has_rule = true;
		c->rule_text = pnstrdup(v.val.string.val, v.val.string.len);
		parse_rule(c, may_name_domains);
		check_rule_fits(p, c);
		cols = lappend(cols, c);
	}

	if (subject != NULL)
	{
		PolicyColumn *s = NULL;

		foreach(lc, cols)
			if (strcmp(((PolicyColumn *) lfirst(lc))->name, subject) == 0)
				s = lfirst(lc);
		if (s == NULL)
		{
			s = lookup_column(p, subject, "subject column");
			s->kind = RULE_DROP;
			cols = lappend(cols, s);
		}
	}

	p->ncols = list_length(cols);
	p->cols = palloc0(sizeof(PolicyColumn) * Max(p->ncols, 1));
	i = 0;
	foreach(lc, cols)
		p->cols[i++] = *(PolicyColumn *) lfirst(lc);
	qsort(p->cols, p->ncols, sizeof(PolicyColumn), cmp_attnum);

	for (i = 0; i < p->ncols; i++)
	{
		PolicyColumn *c = &p->cols[i];

		if (subject != NULL && strcmp(c->name, subject) == 0)
			p->subject = i;
		if (!c->has_rule || c->kind == RULE_DROP)
			continue;
		c->out = ++out;
		if (c->kind == RULE_PSEUDONYMISE)
			p->pseudonymises = true;
		if (c->class != NULL && strcmp(c->class, "quasi_identifier") == 0)
		{
			c->quasi = true;
			p->nquasi++;
			if (first_quasi == NULL)
				first_quasi = c->name;
		}
	}
	p->nout = out;
	if (out == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the rules publish no column of table %s", table_text(p)),
				 errhint("A column without a rule, or with rule drop, is not published.")));
	if (first_quasi != NULL && p->k == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" is a quasi-identifier: publishing it needs k", first_quasi),
				 errdetail("Rows of groups smaller than k (by the published values of the quasi-identifiers) are suppressed."),
				 errhint("Give k => 5, for example, and subject => the column that names the person, if any.")));
	return p;
}

/* Text of a column for mask: the string itself, or its canonical text. */
static void
append_text_of(StringInfo sb, const PolicyColumn *c)
{
	if (is_text_type(c->basetype))
		appendStringInfo(sb, "CAST(t.%s AS pg_catalog.text)", quote_identifier(c->name));
	else
		appendStringInfo(sb, "notary.canonical(t.%s)", quote_identifier(c->name));
}

/*
 * One name of a default domain: as it is if it is a plain lower-case
 * identifier ([a-z_][a-z0-9_]*), else in double quotes with every double
 * quote doubled.  Unlike quote_identifier(), it depends neither on
 * quote_all_identifiers nor on the server's list of keywords, so the same
 * names always give the same domain.
 */
static void
append_domain_name(StringInfo sb, const char *name)
{
	bool		plain = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
	const char *s;

	for (s = name; plain && *s; s++)
		plain = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_';
	if (plain)
	{
		appendStringInfoString(sb, name);
		return;
	}
	appendStringInfoChar(sb, '"');
	for (s = name; *s; s++)
	{
		if (*s == '"')
			appendStringInfoChar(sb, '"');
		appendStringInfoChar(sb, *s);
	}
	appendStringInfoChar(sb, '"');
}

/*
 * The default pseudonym domain of a column: schema.table.column, each name
 * encoded by append_domain_name(), so that the string names one column
 * only: no names with dots (or quotes) spell another table's domain.
 */
char *
policy_default_domain(const Policy *p, const PolicyColumn *c)
{
	StringInfoData sb;

	initStringInfo(&sb);
	append_domain_name(&sb, p->schema_name);
	appendStringInfoChar(&sb, '.');
	append_domain_name(&sb, p->table_name);
	appendStringInfoChar(&sb, '.');
	append_domain_name(&sb, c->name);
	return sb.data;
}

/* The published expression of one column, over the table aliased t. */
static void
append_expr(StringInfo sb, const Policy *p, const PolicyColumn *c)
{
	const char *col = quote_identifier(c->name);

	switch (c->kind)
	{
		case RULE_KEEP:
			appendStringInfo(sb, "t.%s", col);
			break;
		case RULE_PSEUDONYMISE:
			{
				char	   *domain = c->domain ? c->domain : policy_default_domain(p, c);

				appendStringInfo(sb, "notary.pseudonym(t.%s, %s, %d)", col,
								 quote_literal_cstr(domain), p->key_version);
			}
			break;
		case RULE_MASK:
			appendStringInfoString(sb, "notary.mask(");
			append_text_of(sb, c);
			appendStringInfo(sb, ", %d, %d)", c->first, c->last);
			break;
		case RULE_YEAR:
		case RULE_MONTH:
			{
				const char *fmt = c->kind == RULE_YEAR ? "'YYYY'" : "'YYYY-MM'";

				if (c->basetype == TIMESTAMPTZOID)
					appendStringInfo(sb, "pg_catalog.to_char(pg_catalog.timezone('UTC', CAST(t.%s AS pg_catalog.timestamptz)), %s)",
									 col, fmt);
				else
					appendStringInfo(sb, "pg_catalog.to_char(CAST(t.%s AS pg_catalog.\"timestamp\"), %s)",
									 col, fmt);
			}
			break;
		case RULE_RANGE:
			appendStringInfo(sb, "notary.generalise_range(CAST(t.%s AS pg_catalog.\"numeric\"), CAST(%s AS pg_catalog.\"numeric\"))",
							 col, quote_literal_cstr(c->width));
			break;
		case RULE_PREFIX:
			/* a personal value the prefix would not shorten: NULL, never as is */
			if (is_personal(c->class))
				appendStringInfo(sb, "CASE WHEN pg_catalog.char_length(CAST(t.%s AS pg_catalog.text)) OPERATOR(pg_catalog.>) %d "
								 "THEN pg_catalog.\"left\"(CAST(t.%s AS pg_catalog.text), %d) END",
								 col, c->n, col, c->n);
			else
				appendStringInfo(sb, "pg_catalog.\"left\"(CAST(t.%s AS pg_catalog.text), %d)", col, c->n);
			break;
		case RULE_DROP:
			elog(ERROR, "a dropped column has no expression");
	}
}

/* SELECT c1..cN[, s] FROM table AS t */
static void
append_source(StringInfo sb, const Policy *p)
{
	int			i;

	appendStringInfoString(sb, "SELECT ");
	for (i = 0; i < p->ncols; i++)
	{
		const PolicyColumn *c = &p->cols[i];

		if (c->out == 0)
			continue;
		if (c->out > 1)
			appendStringInfoString(sb, ", ");
		append_expr(sb, p, c);
		appendStringInfo(sb, " AS c%d", c->out);
	}
	if (p->subject >= 0)
		appendStringInfo(sb, ", notary.canonical(t.%s) AS s",
						 quote_identifier(p->cols[p->subject].name));
	appendStringInfo(sb, " FROM %s AS t", table_text(p));
}

/* The quasi-identifiers of alias x, comma separated, byte-wise. */
static void
append_groups(StringInfo sb, const Policy *p, const char *x)
{
	int			i;
	bool		first = true;

	for (i = 0; i < p->ncols; i++)
	{
		if (!p->cols[i].quasi)
			continue;
		appendStringInfo(sb, "%s%s.c%d COLLATE pg_catalog.\"C\"", first ? "" : ", ", x, p->cols[i].out);
		first = false;
	}
}

/*
 * The window of one group of alias x: "OVER (PARTITION BY <groups>)", or
 * "OVER ()" without quasi-identifiers, where the whole table is one group.
 */
static void
append_group_window(StringInfo sb, const Policy *p, const char *x)
{
	appendStringInfoString(sb, " OVER (");
	if (p->nquasi > 0)
	{
		appendStringInfoString(sb, "PARTITION BY ");
		append_groups(sb, p, x);
	}
	appendStringInfoChar(sb, ')');
}

static void
append_outputs(StringInfo sb, const Policy *p, const char *x)
{
	int			i;

	for (i = 1; i <= p->nout; i++)
		appendStringInfo(sb, "%s%s.c%d", i > 1 ? ", " : "", x, i);
}

/*
 * The query whose rows a publication publishes: every published column,
 * groups of fewer than k people (or rows) suppressed.
 */
char *
policy_rows_sql(const Policy *p, int32 publication_id)
{
	StringInfoData sb;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "SELECT ");
	if (p->k == 0)
	{
		append_outputs(&sb, p, "b");
		appendStringInfoString(&sb, " FROM (");
		append_source(&sb, p);
		appendStringInfoString(&sb, ") AS b");
		return sb.data;
	}
	append_outputs(&sb, p, "z");
	if (p->subject >= 0)
	{
		appendStringInfoString(&sb, " FROM (SELECT a.*, pg_catalog.count(*) FILTER (WHERE a.f)");
		append_group_window(&sb, p, "a");
		appendStringInfoString(&sb, " AS n FROM (SELECT b.*, (b.s IS NOT NULL AND pg_catalog.row_number() OVER (PARTITION BY ");
		append_groups(&sb, p, "b");
		appendStringInfoString(&sb, p->nquasi > 0 ? ", " : "");
		appendStringInfoString(&sb, "b.s COLLATE pg_catalog.\"C\") OPERATOR(pg_catalog.=) 1) AS f FROM (");
		append_source(&sb, p);
		appendStringInfoString(&sb, ") AS b) AS a) AS z");
	}
	else
	{
		appendStringInfoString(&sb, " FROM (SELECT b.*, pg_catalog.count(*)");
		append_group_window(&sb, p, "b");
		appendStringInfoString(&sb, " AS n FROM (");
		append_source(&sb, p);
		appendStringInfoString(&sb, ") AS b) AS z");
	}
	appendStringInfo(&sb, " WHERE z.n OPERATOR(pg_catalog.>=) %d", p->k);
	return sb.data;
}

/*
 * One row: k reached (smallest published group), rows published and
 * suppressed, groups published and suppressed.
 */
char *
policy_stats_sql(const Policy *p)
{
	StringInfoData sb;

	initStringInfo(&sb);
	appendStringInfoString(&sb,
						   "SELECT pg_catalog.min(g.n) FILTER (WHERE g.kept), "
						   "CAST(COALESCE(pg_catalog.sum(g.r) FILTER (WHERE g.kept), 0) AS pg_catalog.int8), "
						   "CAST(COALESCE(pg_catalog.sum(g.r) FILTER (WHERE NOT g.kept), 0) AS pg_catalog.int8), "
						   "pg_catalog.count(*) FILTER (WHERE g.kept), "
						   "pg_catalog.count(*) FILTER (WHERE NOT g.kept) FROM (SELECT g0.*, ");
	if (p->k == 0)
		appendStringInfoString(&sb, "true");
	else
		appendStringInfo(&sb, "g0.n OPERATOR(pg_catalog.>=) %d", p->k);
	appendStringInfo(&sb, " AS kept FROM (SELECT pg_catalog.count(*) AS r, %s AS n FROM (",
					 p->subject >= 0 ? "pg_catalog.count(DISTINCT b.s COLLATE pg_catalog.\"C\")" : "pg_catalog.count(*)");
	append_source(&sb, p);
	appendStringInfoString(&sb, ") AS b GROUP BY ");
	if (p->nquasi > 0)
		append_groups(&sb, p, "b");
	else
		appendStringInfoString(&sb, "()");
	appendStringInfoString(&sb, " HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0) AS g0) AS g");
	return sb.data;
}

/* The column definition list of the view: "name" type, ... */
char *
policy_column_defs(const Policy *p)
{
	StringInfoData sb;
	int			i;

	initStringInfo(&sb);
	for (i = 0; i < p->ncols; i++)
	{
		const PolicyColumn *c = &p->cols[i];

		if (c->out == 0)
			continue;
		appendStringInfo(&sb, "%s%s %s", c->out > 1 ? ", " : "", quote_identifier(c->name),
						 c->kind == RULE_KEEP ? c->type_text : "pg_catalog.text");
	}
	return sb.data;
}

/*
 * What the policy was checked against, as JSON: the table's name, and the
 * name, type (as text, so it survives dump/restore) and class of every
 * column it names, the subject column included; attnums only as a hint
 * for reports (with_attnums), never in the digest, where an unclassified
 * column counts as public (the rules treat them alike).  with_attnums also
 * records whether the table had row-level security on (publish.c checks
 * it apart from the digest).
 */
char *
policy_checked_json(const Policy *p, bool with_attnums)
{
	StringInfoData sb;
	int			i;

	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"schema\": ");
	escape_json(&sb, p->schema_name);
	appendStringInfoString(&sb, ", \"table\": ");
	escape_json(&sb, p->table_name);
	appendStringInfoString(&sb, ", \"subject\": ");
	if (p->subject >= 0)
		escape_json(&sb, p->cols[p->subject].name);
	else
		appendStringInfoString(&sb, "null");
	appendStringInfoString(&sb, ", \"columns\": {");
	for (i = 0; i < p->ncols; i++)
	{
		const PolicyColumn *c = &p->cols[i];

		if (i > 0)
			appendStringInfoString(&sb, ", ");
		escape_json(&sb, c->name);
		appendStringInfoString(&sb, ": {\"type\": ");
		if (c->type_text)
			escape_json(&sb, c->type_text);
		else
			appendStringInfoString(&sb, "null");
		appendStringInfoString(&sb, ", \"class\": ");
		if (c->class)
			escape_json(&sb, c->class);
		else if (!with_attnums)
			appendStringInfoString(&sb, "\"public\"");	/* published alike */
		else
			appendStringInfoString(&sb, "null");
		if (with_attnums)
			appendStringInfo(&sb, ", \"attnum\": %d", c->attnum);
		appendStringInfoChar(&sb, '}');
	}
	appendStringInfoChar(&sb, '}');
	if (with_attnums)
		appendStringInfo(&sb, ", \"row_security\": %s", p->row_security ? "true" : "false");
	appendStringInfoChar(&sb, '}');
	return sb.data;
}

/* BLAKE2b-256 of the canonical (jsonb) text of a checked_json. */
void
policy_digest(const char *checked_json, uint8 *out)
{
	Datum		j = DirectFunctionCall1(jsonb_in, CStringGetDatum(checked_json));
	char	   *canon = DatumGetCString(DirectFunctionCall1(jsonb_out, j));
	static const char tag[] = "pg_notary/publication/v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, NOTARY_HASH_LEN);
	crypto_generichash_update(&st, (const unsigned char *) tag, sizeof(tag) - 1);
	crypto_generichash_update(&st, (const unsigned char *) canon, strlen(canon));
	crypto_generichash_final(&st, out, NOTARY_HASH_LEN);
}
