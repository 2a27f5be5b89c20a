/*-------------------------------------------------------------------------
 *
 * publish.h
 *		What publish.c and publish_policy.c share: a publication's policy,
 *		checked, and the SQL made from it.  Nothing else includes this.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PUBLISH_H
#define PUBLISH_H

#include "pg_notary.h"

#include "utils/jsonb.h"

/* A publication that no longer matches its table: fail closed. */
#define ERRCODE_NOTARY_PUBLICATION_STALE	MAKE_SQLSTATE('N','T','0','0','4')

#define OPENDATA_SCHEMA "opendata"
#define OPENDATA_ROLE "opendata_reader"

typedef enum RuleKind
{
	RULE_KEEP,
	RULE_DROP,
	RULE_PSEUDONYMISE,
	RULE_MASK,
	RULE_YEAR,
	RULE_MONTH,
	RULE_RANGE,
	RULE_PREFIX
} RuleKind;

/* One column the policy names (by a rule, or as the subject column). */
typedef struct PolicyColumn
{
	char	   *name;
	AttrNumber	attnum;
	Oid			typid;			/* as declared (a domain stays a domain) */
	Oid			basetype;
	int32		typmod;
	char	   *type_text;		/* canon_type_name(): survives dump/restore */
	char	   *class;			/* notary.columns; NULL if unclassified */
	bool		has_rule;		/* false: named only as the subject */
	char	   *rule_text;
	RuleKind	kind;
	char	   *domain;			/* pseudonymise */
	int			first;			/* mask */
	int			last;
	int			n;				/* prefix */
	char	   *width;			/* range: canonical numeric text */
	bool		quasi;			/* a published quasi-identifier */
	int			out;			/* 1-based output position; 0: not published */
} PolicyColumn;

typedef struct Policy
{
	Oid			relid;
	int32		table_id;
	char	   *schema_name;
	char	   *table_name;
	int			ncols;
	PolicyColumn *cols;			/* in attnum order */
	int			nout;			/* published columns */
	int			nquasi;
	int32		k;				/* 0: none */
	int			subject;		/* index into cols, or -1 */
	bool		pseudonymises;	/* some rule needs the key */
	int32		key_version;	/* 0: none */
	bool		row_security;	/* published with row-level security on */
} Policy;

/* publish_policy.c */
extern Policy *policy_build(Oid relid, int32 table_id, Jsonb *rules,
							bool k_null, int32 k, const char *subject,
							bool may_name_domains);
extern char *policy_default_domain(const Policy *p, const PolicyColumn *c);
extern char *policy_rows_sql(const Policy *p, int32 publication_id);
extern char *policy_stats_sql(const Policy *p);
extern char *policy_column_defs(const Policy *p);
extern char *policy_checked_json(const Policy *p, bool with_attnums);
extern void policy_digest(const char *checked_json, uint8 *out);

#endif							/* PUBLISH_H */
