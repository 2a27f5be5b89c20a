/*-------------------------------------------------------------------------
 *
 * module.c
 *		Module initialisation and settings.
 *
 * _PG_init only defines the settings and calls one init function per
 * subsystem.  The library is loaded on first use of any pg_notary
 * function (a capture trigger, an event trigger); it need not be in
 * shared_preload_libraries.
 *
 * Settings (prefix notary., reserved):
 *	notary.allow_uninstall (superuser only): lets DROP EXTENSION pg_notary
 *	through; off by default, since dropping the extension drops the ledger.
 *	notary.restore_mode (superuser only): capture and DDL recording do
 *	nothing, so that pg_restore can load a dumped ledger and the tables it
 *	covers without the triggers writing into it meanwhile.
 *	notary.signing_key_file (superuser only): the checkpoint signing key.
 *	notary.pseudonym_key_file (superuser only): pseudonym keys (pseudonym.c).
 *	notary.checkpoint_interval, notary.checkpoint_database: worker.c.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <sodium.h>

#include "utils/guc.h"

PG_MODULE_MAGIC;

bool		notary_allow_uninstall = false;
bool		notary_restore_mode = false;
bool		notary_pack_entries = true;
int			notary_entry_format = 2;

void		_PG_init(void);

/*
 * notary.restore_mode may be turned on for one session only (SET, or
 * PGOPTIONS at connection): never for a role, a database or the server,
 * where it would silently switch capture off for sessions to come.
 */
static bool
check_restore_mode(bool *newval, void **extra, GucSource source)
{
	if (*newval && source != PGC_S_CLIENT && source != PGC_S_SESSION)
	{
		GUC_check_errdetail("notary.restore_mode can only be set for one session, with SET or PGOPTIONS.");
		return false;
	}
	return true;
}

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libsodium")));

	DefineCustomBoolVariable("notary.allow_uninstall",
							 "Allows DROP EXTENSION pg_notary, which destroys the ledger.",
							 "Superuser only; off by default.",
							 &notary_allow_uninstall,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("notary.restore_mode",
							 "Turns capture and DDL recording off while a dump is restored.",
							 "Superuser only; set it for pg_restore (PGOPTIONS='-c notary.restore_mode=on'). Changes made meanwhile are not captured; verify_table() reports them.",
							 &notary_restore_mode,
							 false,
							 PGC_SUSET,
							 0,
							 check_restore_mode, NULL, NULL);
	DefineCustomBoolVariable("notary.pack_entries",
							 "Stores the entries a transaction writes packed together, in notary.ledger_packs.",
							 "Superuser only; on by default. Off writes one row of notary.ledger_entries per entry (the storage of version 0.2), which takes about 2.5 times the space and more CPU time (docs/performance.md). Hashes and what notary.ledger shows are the same either way.",
							 &notary_pack_entries,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("notary.entry_format",
							"The format new ledger entries are hashed in (docs/format.md).",
							"Superuser only; 2 by default (since 0.4). 1 keeps a commitment of every column, so that a column classified personal after rows were written can be redacted without a seal, at about twice the hashing cost. Before ALTER EXTENSION pg_notary UPDATE to 0.4, entries are format 1 whatever this says.",
							&notary_entry_format,
							2, 1, 2,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("notary.signing_key_file",
							   "File holding the Ed25519 key that signs pg_notary checkpoints.",
							   "Relative paths are in the data directory; created on first use with mode 0600.",
							   &notary_signing_key_file,
							   "pg_notary_signing.key",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	worker_init();
	pseudonym_init();
	MarkGUCPrefixReserved("notary");

	relinfo_init();
	chain_init();
	ledger_init();
}
