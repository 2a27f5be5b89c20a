/*-------------------------------------------------------------------------
 *
 * worker.c
 *		Periodic checkpoints without a person: a background worker, started
 *		when pg_notary is in shared_preload_libraries and
 *		notary.checkpoint_database is set.
 *
 * Every notary.checkpoint_interval seconds it runs
 * notary.checkpoint(only_if_changed => true) in that database, so a quiet
 * ledger gets no new checkpoints, in READ COMMITTED whatever the server's
 * default isolation (checkpoint.c).  Errors end the worker; the postmaster
 * starts it again after a minute.  Without preloading, schedule the same
 * call with pg_cron (docs/operations.md).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

int			notary_checkpoint_interval = 300;
char	   *notary_checkpoint_database = NULL;

PGDLLEXPORT void notary_checkpoint_worker_main(Datum arg);

/* One checkpoint, in its own transaction. */
static void
worker_checkpoint(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "pg_notary periodic checkpoint");
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pg_notary'",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		if (SPI_execute("SELECT notary.checkpoint(true)", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "notary.checkpoint() failed");
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
notary_checkpoint_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(notary_checkpoint_database, NULL, 0);

	/*
	 * READ COMMITTED whatever the server's default: checkpoint() takes a
	 * fresh snapshot after waiting for the checkpoint lock, whereas in
	 * REPEATABLE READ this transaction's snapshot would predate a
	 * checkpoint committed meanwhile, and the worker would fail with 40001.
	 */
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	ereport(LOG,
			(errmsg("pg_notary checkpoint worker started in database \"%s\"",
					notary_checkpoint_database)));

	for (;;)
	{
		long		wait_ms = notary_checkpoint_interval > 0 ?
		notary_checkpoint_interval * 1000L : 60000L;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (notary_checkpoint_interval > 0)
			worker_checkpoint();
	}
}

/* Settings, and the worker when preloaded with a database to serve. */
void
worker_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("notary.checkpoint_interval",
							"Seconds between periodic pg_notary checkpoints (0 turns them off).",
							"Used by the background worker; a checkpoint is taken only when the ledger changed.",
							&notary_checkpoint_interval,
							300, 0, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	/* a PGC_POSTMASTER setting can only be defined while preloading */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomStringVariable("notary.checkpoint_database",
							   "Database in which the background worker takes periodic checkpoints.",
							   "Empty: no worker.  Needs pg_notary in shared_preload_libraries.",
							   &notary_checkpoint_database,
							   "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	if (notary_checkpoint_database == NULL || notary_checkpoint_database[0] == '\0')
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 60;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_notary");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "notary_checkpoint_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_notary checkpoint worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_notary checkpoint worker");
	RegisterBackgroundWorker(&worker);
}
