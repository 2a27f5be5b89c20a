/*-------------------------------------------------------------------------
 *
 * nv_db.c
 *		Reading a live database: the plain SQL of docs/checkpoints.md
 *		"Export", run by notary-verify itself over notary.layouts,
 *		notary.ledger and notary.checkpoints.
 *
 * No function of the extension is called: the queries use only built-in
 * functions (qualified, with search_path pinned to pg_catalog), produce
 * exactly the JSON lines notary.export() produces, and feed them to the
 * same verifier as an export file.  Everything is read in one REPEATABLE
 * READ, READ ONLY transaction, so layouts, entries and checkpoints come
 * from one snapshot; rows are streamed (libpq single-row mode), so a
 * ledger of any size is read in constant memory.  The cluster's identity,
 * for other_cluster, comes from pg_control_system() and current_database().
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static const char *const layouts_sql =
"SELECT pg_catalog.json_build_object('type', 'layout', 'layout_id', layout_id, "
"'table_id', table_id, 'layout_digest', pg_catalog.encode(layout_digest, 'hex'), "
"'schema_name', schema_name, 'table_name', table_name, 'column_names', column_names, "
"'column_types', column_types, 'key_columns', key_columns, "
"'personal_columns', personal_columns)::text FROM notary.layouts "
"ORDER BY layout_id";

/*
 * The entries; "redacted" since redaction (docs/redaction.md), and
 * "format_version" since format 2 (docs/format.md).  A ledger of an older
 * pg_notary has no such column: its lines, like its own export's, have no
 * such member (a line without format_version is format 1).
 */
#define ENTRIES_SQL(extra) \
"SELECT pg_catalog.json_build_object('type', 'entry', 'seq', seq, 'chain_id', chain_id, " \
"'chain_pos', chain_pos, 'prev_hash', pg_catalog.encode(prev_hash, 'hex'), " \
"'entry_hash', pg_catalog.encode(entry_hash, 'hex'), 'op', op, 'xid', xid::text, " \
"'logged_at_us', (pg_catalog.extract('epoch'::text, logged_at) OPERATOR(pg_catalog.*) 1000000)::bigint, " \
"'session_user_name', session_user_name, 'current_user_name', current_user_name, " \
"'application_name', application_name, 'client_addr', client_addr, " \
"'table_id', table_id, 'layout_id', layout_id, 'row_image', row_image, " \
"'row_salts', pg_catalog.encode(row_salts, 'hex'), " \
"'old_digest', pg_catalog.encode(old_digest, 'hex'), 'detail', detail::text" \
extra ")::text " \
"FROM notary.ledger ORDER BY chain_id, chain_pos"

#define REDACTED_MEMBER ", 'redacted', pg_catalog.encode(redacted, 'hex')"

/* by what the ledger has: [0] neither column, [1] redacted, [2] both */
static const char *const entries_sql[3] = {
	ENTRIES_SQL(""),
	ENTRIES_SQL(REDACTED_MEMBER),
	ENTRIES_SQL(REDACTED_MEMBER ", 'format_version', format_version"),
};

static const char *const checkpoints_sql =
"SELECT (document OPERATOR(pg_catalog.||) '{\"type\": \"checkpoint\"}'::pg_catalog.jsonb)::text "
"FROM notary.checkpoints ORDER BY checkpoint_id";

/* Does notary.ledger have column c?  (a column added by a later version) */
#define HAS_COLUMN(c) \
"EXISTS (SELECT FROM pg_catalog.pg_attribute " \
"WHERE attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('notary.ledger') " \
"AND attname OPERATOR(pg_catalog.=) '" c "' AND NOT attisdropped)"

/* What the database holds: one row, read by nv_db_read and by the script. */
static const char *const probe_sql =
"SELECT pg_catalog.to_regclass('notary.ledger') IS NOT NULL AS notary_ledger, "
"pg_catalog.to_regclass('notary.checkpoints') IS NOT NULL AS notary_checkpoints, "
HAS_COLUMN("redacted") " AS notary_redacted, "
HAS_COLUMN("format_version") " AS notary_format_version";

/*
 * The export as psql can produce it: psql -XAtq -f <this> > export.jsonl.
 * psql's \if picks the queries that fit the database's pg_notary, as
 * nv_db_read does (an older one has fewer columns and no checkpoints).
 */
void
nv_db_print_export_sql(FILE *out)
{
	fprintf(out, "-- the export notary-verify reads (docs/checkpoints.md \"Export\"):\n"
			"--   psql -XAtq -v ON_ERROR_STOP=1 -f this.sql > export.jsonl\n"
			"SET client_encoding = 'UTF8';\n"
			"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n"
			"%s \\gset\n"
			"%s;\n"
			"\\if :notary_format_version\n%s;\n"
			"\\elif :notary_redacted\n%s;\n"
			"\\else\n%s;\n\\endif\n"
			"\\if :notary_checkpoints\n%s;\n\\endif\n"
			"COMMIT;\n",
			probe_sql, layouts_sql, entries_sql[2], entries_sql[1], entries_sql[0],
			checkpoints_sql);
}

static bool
command(PGconn *conn, const char *sql, NvError *err)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
		PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		nv_error(err, "query failed: %s", PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* Stream one query's single text column into the verifier. */
static bool
stream(PGconn *conn, NvVerifier *v, const char *sql, const char *what,
	   NvError *err)
{
	PGresult   *res;
	bool		ok = true;
	unsigned long row = 0;

	if (!PQsendQuery(conn, sql) || !PQsetSingleRowMode(conn))
	{
		nv_error(err, "could not read %s: %s", what, PQerrorMessage(conn));
		return false;
	}
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE && ok)
		{
			json_error_t jerr;
			json_t	   *o;
			char		where[96];

			row++;
			snprintf(where, sizeof(where), "%s, row %lu", what, row);
			if (PQgetisnull(res, 0, 0))
			{
				nv_error(err, "%s: a null row", where);
				ok = false;
			}
			else if ((o = json_loadb(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0),
									 JSON_REJECT_DUPLICATES, &jerr)) == NULL)
			{
				nv_error(err, "%s: not valid JSON (%s)", where, jerr.text);
				ok = false;
			}
			else
			{
				ok = nv_verifier_line(v, o, where, err);
				json_decref(o);
			}
		}
		else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && ok)
		{
			nv_error(err, "could not read %s: %s", what, PQerrorMessage(conn));
			ok = false;
		}
		PQclear(res);
	}
	return ok;
}

bool
nv_db_read(NvVerifier *v, NvReport *r, const char *conninfo, NvError *err)
{
	const char *keys[] = {"dbname", "client_encoding", "fallback_application_name", NULL};
	const char *vals[] = {conninfo, "UTF8", "notary-verify", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);
	PGresult   *res;
	bool		ok = false;
	bool		has_checkpoints = false;
	int			columns;		/* index into entries_sql */

	if (PQstatus(conn) != CONNECTION_OK)
	{
		nv_error(err, "could not connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return false;
	}
	if (!command(conn, "SET search_path = pg_catalog, pg_temp", err))
		goto done;

	/* which cluster and database this is */
	res = PQexec(conn, "SELECT system_identifier::text, pg_catalog.current_database() "
				 "FROM pg_catalog.pg_control_system()");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		nv_verifier_set_identity(v, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	else
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		nv_note(r, "the cluster's identity could not be read (%s): a checkpoint's cluster is not checked",
				msg);
	}
	PQclear(res);

	if (!command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err))
		goto done;
	res = PQexec(conn, probe_sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		nv_error(err, "query failed: %s", PQerrorMessage(conn));
		PQclear(res);
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
	{
		nv_error(err, "the database has no notary.ledger: pg_notary is not installed there");
		PQclear(res);
		goto done;
	}
	has_checkpoints = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	columns = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	if (columns == 1 && strcmp(PQgetvalue(res, 0, 3), "t") == 0)
		columns = 2;
	PQclear(res);
	if (!has_checkpoints)
		nv_verifier_no_stored_checkpoints(v);

	if (!stream(conn, v, layouts_sql, "notary.layouts", err) ||
		!stream(conn, v, entries_sql[columns], "notary.ledger", err))
		goto done;
	if (has_checkpoints &&
		!stream(conn, v, checkpoints_sql, "notary.checkpoints", err))
		goto done;
	if (!command(conn, "COMMIT", err))
		goto done;
	ok = true;

done:
	PQfinish(conn);
	return ok;
}
