/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *		Keyed pseudonyms for open data: the pseudonym key file, its cache,
 *		notary.create_pseudonym_key() and notary.pseudonym().
 *
 * A pseudonym is BLAKE2b-128 keyed with a 32-byte secret (libsodium's
 * crypto_generichash) over
 *		str("pg_notary/pseudonym/v1") || str(domain) || str(canonical text)
 * where str(s) is a u32 big-endian byte length and the UTF-8 bytes
 * (docs/opendata.md has the bytes and a test vector).  Its text form is
 * "k<version>." followed by 32 hex digits.  Without the key nobody can
 * recompute one: a NIK has ~10^10 values, an unkeyed hash of it falls in
 * seconds.
 *
 * The keys live in a file outside SQL (notary.pseudonym_key_file,
 * superuser only; default pg_notary_pseudonym.key in the data directory),
 * one line per version: "<version> <64 hex digits>", versions ascending.
 * It is never created implicitly: notary.create_pseudonym_key() appends a
 * version.  The file is refused unless it is a regular file that neither
 * group nor others may read or write, like the signing key (signing.c).
 *
 * Key check value: BLAKE2b-256 keyed with a version's key over the fixed
 * tag "pg_notary/pseudonym/key-check/v1".  A publication stores the one of
 * its key version and is stale if the file's key of that version no
 * longer gives it: another key under the same version would change every
 * pseudonym silently.  It reveals nothing of the key (a MAC of a constant).
 *
 * Cache: each backend keeps the parsed keys in TopMemoryContext and checks
 * the file (stat: device, inode, size, mtime, ctime) at most once per
 * transaction; a changed file is read again and the old keys are wiped.
 * Each call site of notary.pseudonym() keeps a BLAKE2b state that has
 * absorbed the key, the tag and the domain (fn_extra); it is wiped when the
 * call site's memory goes.  Secrets are wiped with sodium_memzero and never
 * logged.  No error or report says where the file is (its path is in the
 * server log only): readers of the views and the auditor see these errors,
 * and notary.pseudonym_key_file is for superusers only.
 *
 * notary.pseudonym() would be an oracle in anyone else's hands, so it
 * refuses every caller but the extension's owner and superusers, even
 * one granted EXECUTE; views in schema opendata call it through a
 * SECURITY DEFINER function owned by the extension's owner (publish.c).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

char	   *notary_pseudonym_key_file = NULL;

#define PSEUDONYM_TAG		"pg_notary/pseudonym/v1"
#define KEY_CHECK_TAG		"pg_notary/pseudonym/key-check/v1"
#define KEY_LINE_MAX		128
#define KEY_FILE_MAX		(1024 * 1024)

typedef struct PseudonymKey
{
	int32		version;
	uint8		key[PSEUDONYM_KEY_LEN];
	uint8		check[PSEUDONYM_CHECK_LEN];	/* key check value */
} PseudonymKey;

/*
 * The keys as last read, and what the file looked like then.  keys_error
 * holds why there are none usable (missing, insecure, malformed file), to
 * be raised by whoever needs a key.
 */
static PseudonymKey *keys = NULL;	/* TopMemoryContext */
static int	nkeys = 0;
static char *keys_path = NULL;	/* TopMemoryContext */
static struct stat keys_stat;
static bool keys_loaded = false;
static LocalTransactionId keys_checked_lxid = InvalidLocalTransactionId;
static uint64 keys_generation = 0;

typedef struct KeyError
{
	int			sqlstate;
	char		msg[256];		/* never the path: readers see it */
	char		path[MAXPGPATH];	/* the server log only */
	char		hint[256];
} KeyError;

static KeyError keys_error;
static bool keys_have_error = false;

void
pseudonym_init(void)
{
	DefineCustomStringVariable("notary.pseudonym_key_file",
							   "File holding the secret keys of open-data pseudonyms.",
							   "Relative paths are in the data directory; notary.create_pseudonym_key() creates it with mode 0600.",
							   &notary_pseudonym_key_file,
							   "pg_notary_pseudonym.key",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

static char *
key_path(void)
{
	if (notary_pseudonym_key_file == NULL || notary_pseudonym_key_file[0] == '\0')
		return psprintf("%s/pg_notary_pseudonym.key", DataDir);
	if (is_absolute_path(notary_pseudonym_key_file))
		return pstrdup(notary_pseudonym_key_file);
	return psprintf("%s/%s", DataDir, notary_pseudonym_key_file);
}

static void
keys_forget(void)
{
	if (keys != NULL)
	{
		sodium_memzero(keys, sizeof(PseudonymKey) * nkeys);
		pfree(keys);
	}
	keys = NULL;
	nkeys = 0;
	keys_loaded = false;
	keys_generation++;
}

static void
set_error(int sqlstate, const char *path, const char *hint, const char *fmt,...) pg_attribute_printf(4, 5);

/*
 * Remember why no key can be used.  The message must not name the file:
 * it reaches readers of the views (NT004 details, publication_problems()
 * for the auditor), and the path says where the secret lies.  The path
 * goes to the server log only (keys_raise()).
 */
static void
set_error(int sqlstate, const char *path, const char *hint, const char *fmt,...)
{
	va_list		ap;

	keys_forget();
	keys_have_error = true;
	keys_error.sqlstate = sqlstate;
	va_start(ap, fmt);
	vsnprintf(keys_error.msg, sizeof(keys_error.msg), fmt, ap);
	va_end(ap);
	strlcpy(keys_error.path, path, sizeof(keys_error.path));
	strlcpy(keys_error.hint, hint ? hint : "", sizeof(keys_error.hint));
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
		a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
		a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
		a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
		a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
		a->st_mode == b->st_mode;
}

/*
 * Parse the key file's text into keys (TopMemoryContext); false with
 * keys_error set if it is malformed.  The caller wipes buf.
 */
static bool
parse_keys(const char *path, char *buf, size_t len)
{
	PseudonymKey *parsed;
	int			n = 0;
	int			max = 8;
	size_t		pos = 0;
	int			lineno = 0;

	parsed = MemoryContextAllocZero(TopMemoryContext, sizeof(PseudonymKey) * max);
	while (pos < len)
	{
		size_t		end = pos;
		char	   *line = buf + pos;
		size_t		linelen;
		char	   *sp;
		long		version;
		size_t		binlen = 0;

		while (end < len && buf[end] != '\n')
			end++;
		linelen = end - pos;
		pos = end + 1;
		lineno++;
		if (linelen == 0)
			continue;
		sp = memchr(line, ' ', linelen);
		version = 0;
		if (sp == NULL || sp == line || (size_t) (line + linelen - (sp + 1)) != PSEUDONYM_KEY_LEN * 2)
			goto bad;
		for (char *p = line; p < sp; p++)
		{
			if (*p < '0' || *p > '9' || version > 100000000)
				goto bad;
			version = version * 10 + (*p - '0');
		}
		if (version < 1 || (n > 0 && version <= parsed[n - 1].version))
			goto bad;
		if (n == max)
		{
			PseudonymKey *bigger = MemoryContextAllocZero(TopMemoryContext, sizeof(PseudonymKey) * max * 2);

			memcpy(bigger, parsed, sizeof(PseudonymKey) * max);
			sodium_memzero(parsed, sizeof(PseudonymKey) * max);
			pfree(parsed);
			parsed = bigger;
			max *= 2;
		}
		parsed[n].version = (int32) version;
		if (sodium_hex2bin(parsed[n].key, PSEUDONYM_KEY_LEN, sp + 1, PSEUDONYM_KEY_LEN * 2,
						   NULL, &binlen, NULL) != 0 || binlen != PSEUDONYM_KEY_LEN)
			goto bad;
		crypto_generichash(parsed[n].check, PSEUDONYM_CHECK_LEN,
						   (const unsigned char *) KEY_CHECK_TAG, strlen(KEY_CHECK_TAG),
						   parsed[n].key, PSEUDONYM_KEY_LEN);
		n++;
		continue;
bad:
		sodium_memzero(parsed, sizeof(PseudonymKey) * max);
		pfree(parsed);
		set_error(ERRCODE_CONFIG_FILE_ERROR, path,
				  "Each line must be a version number (ascending from 1), a space and 64 hexadecimal digits; notary.create_pseudonym_key() writes them.",
				  "the pg_notary pseudonym key file is malformed at line %d", lineno);
		return false;
	}
	if (n == 0)
	{
		sodium_memzero(parsed, sizeof(PseudonymKey) * max);
		pfree(parsed);
		set_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, path,
				  "Create one with SELECT notary.create_pseudonym_key(); (superuser).",
				  "no pseudonym key configured: the key file holds no key");
		return false;
	}
	keys_forget();
	keys = parsed;
	nkeys = n;
	keys_loaded = true;
	return true;
}

/*
 * Make the cache agree with the file: at most one stat() per transaction
 * (unless forced).  Never raises for a bad file: it sets keys_error.
 */
static void
keys_refresh(bool force)
{
	char	   *path;
	struct stat st;
	int			fd;
	char	   *buf;
	ssize_t		got;

	if (!force && keys_checked_lxid == MyProc->lxid &&
		keys_checked_lxid != InvalidLocalTransactionId)
		return;
	keys_checked_lxid = MyProc->lxid;
	path = key_path();
	if (keys_path == NULL || strcmp(keys_path, path) != 0)
	{
		keys_forget();
		if (keys_path)
			pfree(keys_path);
		keys_path = MemoryContextStrdup(TopMemoryContext, path);
	}

	fd = open(path, O_RDONLY | PG_BINARY | O_NOFOLLOW, 0);
	if (fd < 0)
	{
		if (errno == ENOENT)
			set_error(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, path,
					  "A superuser creates the key with SELECT notary.create_pseudonym_key(); notary.pseudonym_key_file sets its path.",
					  "no pseudonym key configured: the key file does not exist");
		else
			set_error(ERRCODE_CONFIG_FILE_ERROR, path, NULL,
					  "could not open the pg_notary pseudonym key file: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		(st.st_mode & (S_IRWXG | S_IRWXO)) != 0 || st.st_size > KEY_FILE_MAX)
	{
		close(fd);
		set_error(ERRCODE_CONFIG_FILE_ERROR, path, "chmod 600 the file.",
				  "the pg_notary pseudonym key file must be a regular file readable only by its owner");
		return;
	}
	if (keys_loaded && same_file(&st, &keys_stat))
	{
		close(fd);
		return;
	}
	buf = palloc(st.st_size + 1);
	got = read(fd, buf, st.st_size);
	close(fd);
	if (got != st.st_size)
	{
		sodium_memzero(buf, st.st_size + 1);
		set_error(ERRCODE_CONFIG_FILE_ERROR, path, NULL,
				  "could not read the pg_notary pseudonym key file");
		return;
	}
	if (parse_keys(path, buf, got))
	{
		keys_stat = st;
		keys_have_error = false;
	}
	sodium_memzero(buf, st.st_size + 1);
	pfree(buf);
}

/*
 * Raise keys_error.  Whoever reads a view may get here (through its
 * SECURITY DEFINER function), so the file's path is in the server log
 * only; superusers find it with SHOW notary.pseudonym_key_file.
 */
static void
keys_raise(void)
{
	ereport(ERROR,
			(errcode(keys_error.sqlstate),
			 errmsg("%s", keys_error.msg),
			 errdetail_log("The pseudonym key file is \"%s\".", keys_error.path),
			 keys_error.hint[0] ? errhint("%s", keys_error.hint) : 0));
}

static const PseudonymKey *
find_key(int32 version)
{
	int			i;

	for (i = 0; i < nkeys; i++)
		if (keys[i].version == version)
			return &keys[i];
	return NULL;
}

/* The newest key version; raises "no pseudonym key configured" if none. */
int32
pseudonym_newest_version(void)
{
	keys_refresh(false);
	if (!keys_loaded)
		keys_raise();
	return keys[nkeys - 1].version;
}

/* The key of that version, the file read again if it changed; raises if none. */
static const PseudonymKey *
key_of_version(int32 version)
{
	const PseudonymKey *k;

	keys_refresh(false);
	if (!keys_loaded)
		keys_raise();
	k = find_key(version);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the pseudonym key file has no key of version %d", version),
				 errhint("A publication made with a key version that is gone must be rotated explicitly: notary.refresh(view_name, rotate_key => true).")));
	return k;
}

/* The key check value of that version into check; raises if no such key. */
void
pseudonym_key_check(int32 version, uint8 *check)
{
	memcpy(check, key_of_version(version)->check, PSEUDONYM_CHECK_LEN);
}

/*
 * NULL if the key of that version can be used and (check not NULL) is the
 * key whose check value that is; else the problem ("pseudonym key
 * missing", "pseudonym key changed") with a sentence in *detail.  For
 * reports: never raises for a missing or bad key file.
 */
const char *
pseudonym_key_problem(int32 version, const uint8 *check, char **detail)
{
	const PseudonymKey *k;

	keys_refresh(false);
	if (!keys_loaded)
	{
		*detail = psprintf("Key version %d is needed: %s.", version, keys_error.msg);
		return "pseudonym key missing";
	}
	k = find_key(version);
	if (k == NULL)
	{
		*detail = psprintf("Key version %d is needed: the pseudonym key file has no key of version %d.",
						   version, version);
		return "pseudonym key missing";
	}
	if (check != NULL && sodium_memcmp(check, k->check, PSEUDONYM_CHECK_LEN) != 0)
	{
		*detail = psprintf("Key version %d in the key file is not the key the publication was made with: every pseudonym would change.",
						   version);
		return "pseudonym key changed";
	}
	return NULL;
}

/* Raise unless superuser or the extension's owner. */
static void
check_caller(void)
{
	Oid			user = GetUserId();

	if (superuser_arg(user) || user == notary_extension_owner())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to compute pseudonyms"),
			 errdetail("Only the extension's owner and superusers may: anyone else could use it to test guesses of a personal value."),
			 errhint("Read the pseudonyms through the views in schema opendata.")));
}

/* Append str(s): u32 big-endian length, bytes. */
static inline void
absorb_str(crypto_generichash_state *st, const char *s, uint32 len)
{
	uint8		l[4] = {(uint8) (len >> 24), (uint8) (len >> 16), (uint8) (len >> 8), (uint8) len};

	crypto_generichash_update(st, l, 4);
	crypto_generichash_update(st, (const unsigned char *) s, len);
}

/* A crypto_generichash_state aligned as libsodium declares it (64 bytes). */
typedef struct AlignedState
{
	char		raw[sizeof(crypto_generichash_state) + 64];
} AlignedState;

#define STATE_OF(a) ((crypto_generichash_state *) TYPEALIGN(64, (a)->raw))

/* Start a state: key of that version, tag, domain.  Raises if no key. */
static void
state_start(crypto_generichash_state *st, int32 version, const char *domain, uint32 domainlen)
{
	const PseudonymKey *k = key_of_version(version);

	crypto_generichash_init(st, k->key, PSEUDONYM_KEY_LEN, PSEUDONYM_LEN);
	absorb_str(st, PSEUDONYM_TAG, strlen(PSEUDONYM_TAG));
	absorb_str(st, domain, domainlen);
}

/* Write "k<version>." and 32 hex digits (no terminator); returns length. */
static int
pseudonym_text(int32 version, const uint8 *digest, char *out)
{
	int			n = sprintf(out, "k%d.", version);
	char		hex[PSEUDONYM_LEN * 2 + 1];

	sodium_bin2hex(hex, sizeof(hex), digest, PSEUDONYM_LEN);
	memcpy(out + n, hex, PSEUDONYM_LEN * 2);
	return n + PSEUDONYM_LEN * 2;
}

/*
 * The pseudonym of a value's canonical text in a domain, with the key of
 * that version, as text into out (PSEUDONYM_TEXT_MAX bytes, terminated).
 * For C callers (exports); SQL uses notary.pseudonym().
 */
void
pseudonym_compute(int32 version, const char *domain, const char *canonical,
				  char *out)
{
	AlignedState a;
	crypto_generichash_state *st = STATE_OF(&a);
	uint8		digest[PSEUDONYM_LEN];
	int			n;

	state_start(st, version, domain, strlen(domain));
	absorb_str(st, canonical, strlen(canonical));
	crypto_generichash_final(st, digest, PSEUDONYM_LEN);
	sodium_memzero(&a, sizeof(a));
	n = pseudonym_text(version, digest, out);
	out[n] = '\0';
}

/* What one call site of notary.pseudonym() keeps between calls. */
typedef struct PseudonymCall
{
	Oid			typid;
	bool		is_text;		/* text-like: the canonical text is the value */
	CanonCodec *codec;
	Oid			allowed_user;	/* caller already checked */
	uint64		generation;		/* keys_generation the state was made with */
	int32		version;
	char	   *domain;
	int			domainlen;
	char		prefix[16];		/* "k<version>." */
	int			prefixlen;
	AlignedState state;			/* key, tag and domain absorbed */
} PseudonymCall;

static void
wipe_call(void *arg)
{
	PseudonymCall *pc = (PseudonymCall *) arg;

	sodium_memzero(&pc->state, sizeof(pc->state));
}

PG_FUNCTION_INFO_V1(notary_pseudonym);

/*
 * SQL: notary.pseudonym(value anyelement, domain text, key_version integer
 * DEFAULT NULL) returns text.  NULL value -> NULL; NULL version -> newest.
 */
Datum
notary_pseudonym(PG_FUNCTION_ARGS)
{
	PseudonymCall *pc = (PseudonymCall *) fcinfo->flinfo->fn_extra;
	text	   *domain_t;
	int32		version;
	const char *val;
	int			vallen;
	AlignedState a;
	crypto_generichash_state *st;
	uint8		digest[PSEUDONYM_LEN];
	text	   *result;
	char	   *p;

	if (pc == NULL)
	{
		MemoryContextCallback *cb;
		Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, 0);
		Oid			base;

		if (!OidIsValid(typid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not determine the type of the argument")));
		pc = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PseudonymCall));
		pc->typid = typid;
		base = getBaseType(typid);
		pc->is_text = (base == TEXTOID || base == VARCHAROID || base == BPCHAROID);
		if (!pc->is_text)
			pc->codec = canon_codec_create(typid, fcinfo->flinfo->fn_mcxt);
		pc->version = -1;
		cb = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(MemoryContextCallback));
		cb->func = wipe_call;
		cb->arg = pc;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt, cb);
		fcinfo->flinfo->fn_extra = pc;
	}

	if (pc->allowed_user != GetUserId())
	{
		check_caller();
		pc->allowed_user = GetUserId();
	}
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the domain of a pseudonym must not be null")));
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();

	keys_refresh(false);
	if (PG_ARGISNULL(2))
		version = pseudonym_newest_version();
	else
		version = PG_GETARG_INT32(2);

	domain_t = PG_GETARG_TEXT_PP(1);
	if (pc->generation != keys_generation || pc->version != version ||
		pc->domainlen != VARSIZE_ANY_EXHDR(domain_t) ||
		memcmp(pc->domain, VARDATA_ANY(domain_t), pc->domainlen) != 0)
	{
		int			len = VARSIZE_ANY_EXHDR(domain_t);

		pc->version = -1;		/* until the state is complete */
		if (pc->domain)
			pfree(pc->domain);
		pc->domain = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, len + 1);
		memcpy(pc->domain, VARDATA_ANY(domain_t), len);
		pc->domain[len] = '\0';
		pc->domainlen = len;
		state_start(STATE_OF(&pc->state), version, pc->domain, len);
		pc->prefixlen = snprintf(pc->prefix, sizeof(pc->prefix), "k%d.", version);
		pc->generation = keys_generation;
		pc->version = version;
	}

	if (pc->is_text)
	{
		text	   *t = PG_GETARG_TEXT_PP(0);

		val = VARDATA_ANY(t);
		vallen = VARSIZE_ANY_EXHDR(t);
	}
	else
	{
		val = canon_text(pc->codec, PG_GETARG_DATUM(0));
		vallen = strlen(val);
	}

	st = STATE_OF(&a);
	memcpy(st, STATE_OF(&pc->state), sizeof(crypto_generichash_state));
	absorb_str(st, val, (uint32) vallen);
	crypto_generichash_final(st, digest, PSEUDONYM_LEN);
	sodium_memzero(st, sizeof(crypto_generichash_state));

	result = palloc(VARHDRSZ + pc->prefixlen + PSEUDONYM_LEN * 2 + 1);
	p = VARDATA(result);
	memcpy(p, pc->prefix, pc->prefixlen);
	sodium_bin2hex(p + pc->prefixlen, PSEUDONYM_LEN * 2 + 1, digest, PSEUDONYM_LEN);
	SET_VARSIZE(result, VARHDRSZ + pc->prefixlen + PSEUDONYM_LEN * 2);
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(notary_create_pseudonym_key);

/*
 * SQL: notary.create_pseudonym_key() returns integer.  Appends a new key
 * version to the key file (creating it, mode 0600) and returns its number.
 * Not transactional: a rolled back call leaves its key in the file, unused.
 */
Datum
notary_create_pseudonym_key(PG_FUNCTION_ARGS)
{
	char	   *path = key_path();
	int			fd;
	struct stat st;
	int32		version = 1;
	uint8		key[PSEUDONYM_KEY_LEN];
	char		line[KEY_LINE_MAX];
	int			len;
	bool		ok;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only superusers may create pseudonym keys")));

	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the pg_notary pseudonym key file \"%s\": %m", path)));
	/* two backends appending at once would pick the same version */
	if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not lock the pg_notary pseudonym key file \"%s\": %m", path)));
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the pg_notary pseudonym key file \"%s\" must be a regular file readable only by its owner", path),
				 errhint("chmod 600 the file.")));
	}
	if (st.st_size > 0)
	{
		/* the file must be sound before a version is added to it */
		keys_refresh(true);
		if (!keys_loaded)
		{
			close(fd);
			keys_raise();
		}
		version = keys[nkeys - 1].version + 1;
	}

	randombytes_buf(key, sizeof(key));
	len = snprintf(line, sizeof(line), "%d ", version);
	sodium_bin2hex(line + len, sizeof(line) - len, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	len += PSEUDONYM_KEY_LEN * 2;
	line[len++] = '\n';
	ok = write(fd, line, len) == len && fsync(fd) == 0;
	sodium_memzero(line, sizeof(line));
	close(fd);
	if (!ok)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the pg_notary pseudonym key file \"%s\"", path)));
	ereport(LOG,
			(errmsg("pg_notary added pseudonym key version %d to \"%s\"", version, path)));
	keys_refresh(true);
	PG_RETURN_INT32(version);
}
