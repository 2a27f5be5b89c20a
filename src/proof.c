/*-------------------------------------------------------------------------
 *
 * proof.c
 *		notary.proof(seq): a document proving that one entry is included
 *		under the newest checkpoint that covers it (docs/checkpoints.md).
 *
 * The proof carries the signed checkpoint, the entry and its layout as
 * export lines (so the entry's hash can be recomputed from its content)
 * and the RFC 9162 audit path from the entry's leaf to the checkpoint's
 * Merkle root: at most ceil(log2(entries)) hashes.  Building it rescans
 * the entries the checkpoint covers, checking on the way that they still
 * give the signed root.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* One export line (as text) from sql with $1 = id, or NULL. */
static char *
export_line(const char *sql, const char *where, int64 id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(id)};

	if (SPI_execute_with_args(psprintf("%s WHERE %s OPERATOR(pg_catalog.=) $1", sql, where),
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ledger");
	if (SPI_processed == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

PG_FUNCTION_INFO_V1(notary_proof);

/* SQL: notary.proof(seq bigint) returns jsonb */
Datum
notary_proof(PG_FUNCTION_ARGS)
{
	int64		seq = PG_GETARG_INT64(0);
	NotaryUserSwitch sw;
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		args[2];
	int32		chain;
	int64		pos;
	int64		layout_id = 0;
	bool		has_layout;
	bool		isnull;
	NotaryCheckpoint cp;
	NotaryCheckpoint now;
	Datum		cpdoc;
	HTAB	   *limits;
	uint8		(*hashes)[NOTARY_HASH_LEN] = NULL;
	uint8		path[64][NOTARY_HASH_LEN];
	int			npath;
	int64		index;
	int			i;
	StringInfoData sb;
	char	   *entry;
	char	   *layout = NULL;
	MemoryContext callcxt = CurrentMemoryContext;
	Datum		result;

	notary_spi_begin(&sw);

	args[0] = Int64GetDatum(seq);
	argtypes[0] = INT8OID;
	if (SPI_execute_with_args("SELECT chain_id, chain_pos, layout_id FROM notary.ledger "
							  "WHERE seq OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not read the ledger");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the ledger holds no entry with seq " INT64_FORMAT, seq)));
	chain = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	layout_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &has_layout));
	has_layout = !has_layout;

	argtypes[0] = INT4OID;
	args[0] = Int32GetDatum(chain);
	args[1] = Int64GetDatum(pos);
	if (SPI_execute_with_args("SELECT document FROM notary.checkpoints k WHERE EXISTS ("
							  "SELECT 1 FROM pg_catalog.jsonb_array_elements(k.document->'chains') c "
							  "WHERE (c->>'chain_id')::pg_catalog.int4 OPERATOR(pg_catalog.=) $1 "
							  "AND (c->>'position')::pg_catalog.int8 OPERATOR(pg_catalog.>=) $2) "
							  "ORDER BY checkpoint_id DESC LIMIT 1",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read notary.checkpoints");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no checkpoint covers ledger entry " INT64_FORMAT " yet", seq),
				 errhint("Take one with SELECT notary.checkpoint();")));
	cpdoc = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || !checkpoint_parse_quietly(cpdoc = SPI_datumTransfer(cpdoc, false, -1), &cp))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the newest checkpoint covering ledger entry " INT64_FORMAT " is damaged", seq),
				 errhint("Run notary.verify(): it reports the stored checkpoints that were altered.")));

	limits = checkpoint_limits(&cp);
	checkpoint_scan(&now, limits, true, chain, pos, &index, &hashes, NULL);
	if (index < 0 || now.entries != cp.entries ||
		memcmp(now.entries_root, cp.entries_root, NOTARY_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the ledger no longer matches checkpoint " INT64_FORMAT, cp.checkpoint_id),
				 errhint("Run notary.verify_checkpoint() with that checkpoint.")));
	npath = merkle_path((const uint8 (*)[NOTARY_HASH_LEN]) hashes, (uint64) now.entries,
						(uint64) index, path);

	entry = export_line(export_entries_sql(), "seq", seq);
	if (has_layout)
		layout = export_line(export_layouts_sql, "layout_id", layout_id);

	MemoryContextSwitchTo(callcxt);
	initStringInfo(&sb);
	appendStringInfoString(&sb, "{\"format\": \"" NOTARY_PROOF_FORMAT "\", \"checkpoint\": ");
	appendStringInfoString(&sb, checkpoint_to_json(&cp));
	appendStringInfo(&sb, ", \"layout\": %s, \"entry\": %s, \"leaf_index\": " INT64_FORMAT ", \"path\": [",
					 layout ? layout : "null", entry, index);
	for (i = 0; i < npath; i++)
		appendStringInfo(&sb, "%s\"%s\"", i > 0 ? ", " : "", format_hex(path[i], NOTARY_HASH_LEN));
	appendStringInfoString(&sb, "]}");
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(sb.data));

	notary_spi_end(&sw);
	PG_RETURN_DATUM(result);
}
