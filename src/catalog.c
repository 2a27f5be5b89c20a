/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		The extension's own tables: their OIDs, the owner, and running code
 *		as the owner.
 *
 * OIDs are looked up once and kept across transactions: they change only
 * when the extension is dropped and created again, or its owner is
 * reassigned, and each of those drops or alters notary.ledger, whose
 * relcache invalidation forgets them (as does an aborted transaction, and
 * a reset of all caches).  Looking them up costs five catalog scans, which
 * was 3% of the CPU time of a small audited transaction (issue 6).  Application roles hold no privileges
 * on the ledger: capture inserts through the heap directly, and the few
 * SPI queries pg_notary runs on its own tables run as the extension's
 * owner with SECURITY_RESTRICTED_OPERATION, the pattern of pgaudit and
 * pg_cron, and with search_path pinned by qualifying every name.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

static NotaryCatalog cat;
static bool cat_valid = false;
static bool cat_callback_registered = false;

/* A relcache invalidation of one of our relations, or of all: look up again. */
static void
notary_catalog_invalidate(Datum arg, Oid relid)
{
	if (!cat_valid)
		return;
	if (!OidIsValid(relid) ||
		relid == cat.ledger_oid || relid == cat.ledger_seq_oid ||
		relid == cat.entries_oid || relid == cat.packs_oid ||
		relid == cat.layouts_oid || relid == cat.layout_seq_oid ||
		relid == cat.tables_oid || relid == cat.table_seq_oid ||
		relid == cat.schemas_oid)
		cat_valid = false;
}

static Oid
notary_relid(const char *relname)
{
	Oid			relid = get_relname_relid(relname, cat.namespace_oid);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_notary is not installed correctly: notary.%s is missing",
						relname)));
	return relid;
}

/* Is the extension installed in this database? */
bool
notary_extension_present(void)
{
	return OidIsValid(get_extension_oid("pg_notary", true));
}

static bool
notary_present(void)
{
	return notary_extension_present();
}

/* The extension's tables and owner (cached; see the file header). */
const NotaryCatalog *
notary_catalog(void)
{
	Oid			nsp;

	if (cat_valid)
		return &cat;
	if (!cat_callback_registered)
	{
		CacheRegisterRelcacheCallback(notary_catalog_invalidate, (Datum) 0);
		cat_callback_registered = true;
	}

	nsp = notary_present() ? notary_extension_namespace() : InvalidOid;
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_notary\" is not installed in this database")));
	cat.namespace_oid = nsp;
	/*
	 * Before version 0.3 the ledger is a table of single entries and there
	 * are no packs; while the update script to 0.3 runs, the table has its
	 * new name before the view has the old one.
	 */
	cat.entries_oid = get_relname_relid("ledger_entries", nsp);
	cat.packs_oid = get_relname_relid("ledger_packs", nsp);
	cat.ledger_oid = get_relname_relid("ledger", nsp);
	if (!OidIsValid(cat.entries_oid))
		cat.entries_oid = notary_relid("ledger");
	if (!OidIsValid(cat.ledger_oid))
		cat.ledger_oid = cat.entries_oid;
	/*
	 * 0.4 added format_version and hashes new entries in format 2; with an
	 * older schema (before ALTER EXTENSION UPDATE) they stay in format 1,
	 * which that schema's readers know.
	 */
	if (get_attnum(cat.entries_oid, "format_version") != InvalidAttrNumber)
	{
		cat.ledger_natts = LEDGER_NATTS;
		cat.max_format = 2;
	}
	else
	{
		cat.ledger_natts = LEDGER_NATTS_V1;
		cat.max_format = 1;
	}
	cat.ledger_seq_oid = notary_relid("ledger_seq");
	cat.layouts_oid = notary_relid("layouts");
	cat.layout_seq_oid = notary_relid("layout_id_seq");
	cat.tables_oid = notary_relid("tables");
	cat.table_seq_oid = notary_relid("table_id_seq");
	cat.schemas_oid = notary_relid("schemas");
	/*
	 * pg_notary's own queries run as the extension's owner, not as the
	 * owner of a schema that happens to be called notary.
	 */
	cat.owner_oid = notary_extension_owner();
	cat_valid = true;
	return &cat;
}

/* Forget the cached OIDs (after an aborted transaction). */
void
notary_catalog_reset(void)
{
	cat_valid = false;
}

/*
 * Run as the extension's owner, restricted, with a clean GUC nest level so
 * that nothing set here leaks out.  Pair with notary_restore_user().
 */
void
notary_become_owner(NotaryUserSwitch *sw)
{
	const NotaryCatalog *c = notary_catalog();

	GetUserIdAndSecContext(&sw->saved_userid, &sw->saved_sec_context);
	SetUserIdAndSecContext(c->owner_oid,
						   sw->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	sw->saved_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
notary_restore_user(NotaryUserSwitch *sw)
{
	AtEOXact_GUC(false, sw->saved_nestlevel);
	SetUserIdAndSecContext(sw->saved_userid, sw->saved_sec_context);
}

/* Connect to SPI as the extension's owner; pair with notary_spi_end(). */
void
notary_spi_begin(NotaryUserSwitch *sw)
{
	notary_become_owner(sw);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
notary_spi_end(NotaryUserSwitch *sw)
{
	SPI_finish();
	notary_restore_user(sw);
}

/*
 * Is a schema currently enabled?  Read with a fresh snapshot, so that a
 * caller that waited for enable() or disable() sees its outcome.  (Caller
 * is connected to SPI as owner.)
 */
bool
notary_schema_enabled(const char *schema_name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			ret;

	args[0] = CStringGetTextDatum(schema_name);
	ret = SPI_execute_with_args("SELECT 1 FROM notary.schemas "
								"WHERE schema_name OPERATOR(pg_catalog.=) $1 AND enabled",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %d", ret);
	return SPI_processed > 0;
}

/* Record that a schema is no longer enabled.  (SPI connected, as owner.) */
void
notary_schema_mark_disabled(const char *schema_name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(schema_name);
	if (SPI_execute_with_args("UPDATE notary.schemas SET enabled = false, "
							  "disabled_at = pg_catalog.now(), disabled_by = SESSION_USER "
							  "WHERE schema_name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update notary.schemas");
}

/* The owner and schema of the extension itself, from pg_extension. */
static void
notary_extension_row(Oid *owner, Oid *nsp)
{
	Oid			extoid = get_extension_oid("pg_notary", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	*owner = InvalidOid;
	*nsp = InvalidOid;
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
		*nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* The owner of the extension itself (pg_extension.extowner). */
Oid
notary_extension_owner(void)
{
	Oid			owner;
	Oid			nsp;

	notary_extension_row(&owner, &nsp);
	return owner;
}

/* The schema the extension lives in (pg_extension.extnamespace). */
Oid
notary_extension_namespace(void)
{
	Oid			owner;
	Oid			nsp;

	notary_extension_row(&owner, &nsp);
	return nsp;
}
