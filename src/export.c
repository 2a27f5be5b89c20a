/*-------------------------------------------------------------------------
 *
 * export.c
 *		notary.export(): the ledger as JSON lines, the input of outside
 *		verifiers (docs/checkpoints.md, "Export").
 *
 * The lines are built by plain SQL over the ledger's tables, the same SQL
 * notary-verify runs itself when it connects to a database, so an export
 * and a direct connection give a verifier the same bytes.  Hashes are
 * lower-case hex, xid a decimal string, detail the text jsonb prints.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

const char *const export_layouts_sql =
"SELECT pg_catalog.json_build_object('type', 'layout', 'layout_id', layout_id, "
"'table_id', table_id, 'layout_digest', pg_catalog.encode(layout_digest, 'hex'), "
"'schema_name', schema_name, 'table_name', table_name, 'column_names', column_names, "
"'column_types', column_types, 'key_columns', key_columns, "
"'personal_columns', personal_columns)::text FROM notary.layouts";

/*
 * Entry lines.  Before 0.4 (the library is new, ALTER EXTENSION UPDATE has
 * not run yet) there is no column format_version, and every entry is
 * format 1: the lines leave it out, as notary-verify's own query does.
 */
#define EXPORT_ENTRIES_SQL(format) \
"SELECT pg_catalog.json_build_object('type', 'entry', 'seq', seq, 'chain_id', chain_id, "\
"'chain_pos', chain_pos, 'prev_hash', pg_catalog.encode(prev_hash, 'hex'), "\
"'entry_hash', pg_catalog.encode(entry_hash, 'hex'), 'op', op, 'xid', xid::text, "\
"'logged_at_us', (pg_catalog.extract('epoch'::text, logged_at) OPERATOR(pg_catalog.*) 1000000)::bigint, "\
"'session_user_name', session_user_name, 'current_user_name', current_user_name, "\
"'application_name', application_name, 'client_addr', client_addr, "\
"'table_id', table_id, 'layout_id', layout_id, 'row_image', row_image, "\
"'row_salts', pg_catalog.encode(row_salts, 'hex'), "\
"'old_digest', pg_catalog.encode(old_digest, 'hex'), 'detail', detail::text, "\
"'redacted', pg_catalog.encode(redacted, 'hex')" format ")::text "\
"FROM notary.ledger"

const char *
export_entries_sql(void)
{
	return notary_catalog()->max_format == 2 ?
		EXPORT_ENTRIES_SQL(", 'format_version', format_version") : EXPORT_ENTRIES_SQL("");
}

static void
export_query(Tuplestorestate *store, TupleDesc desc, const char *sql)
{
	Portal		portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);

	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			tuplestore_putvalues(store, desc, &v, &isnull);
		}
		SPI_freetuptable(SPI_tuptable);
		CHECK_FOR_INTERRUPTS();
	}
	SPI_cursor_close(portal);
}

PG_FUNCTION_INFO_V1(notary_export);

/* SQL: notary.export() returns setof text */
Datum
notary_export(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NotaryUserSwitch sw;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	notary_spi_begin(&sw);
	export_query(rsinfo->setResult, rsinfo->setDesc,
				 psprintf("%s ORDER BY layout_id", export_layouts_sql));
	export_query(rsinfo->setResult, rsinfo->setDesc,
				 psprintf("%s ORDER BY chain_id, chain_pos", export_entries_sql()));
	export_query(rsinfo->setResult, rsinfo->setDesc,
				 "SELECT (document OPERATOR(pg_catalog.||) '{\"type\": \"checkpoint\"}'::pg_catalog.jsonb)::text "
				 "FROM notary.checkpoints ORDER BY checkpoint_id");
	notary_spi_end(&sw);
	return (Datum) 0;
}
