/*-------------------------------------------------------------------------
 *
 * precommit_writer.c
 *		Test module (never installed): runs the SQL in the setting
 *		precommit_writer.sql from a pre-commit callback, as another
 *		extension's callback might.  Used by tests/t/023_precommit_write.pl
 *		to check that pg_notary refuses a captured change made after it
 *		stored the transaction's entries, instead of committing the change
 *		without its entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static char *precommit_sql = NULL;

static void
precommit_writer_callback(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_PRE_COMMIT || precommit_sql == NULL ||
		precommit_sql[0] == '\0')
		return;
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_execute(precommit_sql, false, 0);
	SPI_finish();
	PopActiveSnapshot();
}

void
_PG_init(void)
{
	DefineCustomStringVariable("precommit_writer.sql",
							   "SQL run from a pre-commit callback (tests only).",
							   NULL, &precommit_sql, "", PGC_USERSET, 0,
							   NULL, NULL, NULL);
	RegisterXactCallback(precommit_writer_callback, NULL);
}
