/*-------------------------------------------------------------------------
 *
 * notary_verify.c
 *		notary-verify: check a pg_notary ledger, trusting nothing in the
 *		database.
 *
 *	notary-verify --dbname CONNSTR [--checkpoint FILE]... [--public-key KEY]
 *	notary-verify --export FILE    [--checkpoint FILE]... [--public-key KEY]
 *	notary-verify --proof FILE --public-key KEY
 *	notary-verify --datapackage DIR --public-key KEY
 *	notary-verify --print-export-sql
 *
 * Every hash is recomputed from docs/format.md and docs/checkpoints.md;
 * findings use the words of the extension's notary.verify() and
 * notary.verify_checkpoint().  Exit status: 0 intact, 1 findings, 2 could
 * not check (arguments, unreadable or malformed input, connection).
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define NV_VERSION "0.2"

/* --checkpoint arguments (static: reachable until exit on every path) */
static const char **checkpoints = NULL;
static int	ncheckpoints = 0;

static void
usage(FILE *out)
{
	fprintf(out,
			"notary-verify checks a pg_notary ledger independently of the database.\n"
			"\n"
			"Usage:\n"
			"  notary-verify --dbname CONNSTR [--checkpoint FILE]... [--public-key KEY]\n"
			"  notary-verify --export FILE    [--checkpoint FILE]... [--public-key KEY]\n"
			"  notary-verify --proof FILE --public-key KEY\n"
			"  notary-verify --datapackage DIR --public-key KEY\n"
			"  notary-verify --print-export-sql\n"
			"\n"
			"Sources (one):\n"
			"  -d, --dbname CONNSTR     read the ledger with plain SQL (no notary.* function)\n"
			"  -e, --export FILE        read an export (JSON lines; - for standard input)\n"
			"  -p, --proof FILE         check one proof document offline\n"
			"      --datapackage DIR    check an open-data export offline: signature,\n"
			"                           checkpoint, every file's SHA-256, bytes and rows\n"
			"\n"
			"Options:\n"
			"  -c, --checkpoint FILE    a trusted checkpoint held outside the database\n"
			"                           (may be repeated)\n"
			"  -k, --public-key KEY     Ed25519 public key: 64 hex characters, or a file\n"
			"                           holding them (or notary.public_key() as JSON)\n"
			"      --json               print one JSON object instead of text\n"
			"      --progress           show progress on stderr (default: when a TTY)\n"
			"      --no-progress        never show progress\n"
			"      --print-export-sql   print the SQL of an export, for psql -XAt\n"
			"  -V, --version            print the version\n"
			"  -h, --help               print this help\n"
			"\n"
			"Exit status: 0 intact, 1 findings, 2 could not check.\n");
}

static int
fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "notary-verify: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return NV_EXIT_ERROR;
}

/* Strip white space at both ends, in place. */
static char *
trim(char *s)
{
	char	   *e;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool
key_from_hex(const char *hex, uint8_t *key, NvError *err, const char *what)
{
	size_t		n = strlen(hex);

	if (!nv_is_hex(hex))
	{
		nv_error(err, "%s is not hex: a public key is %d bytes as %d hex characters",
				 what, NV_KEY_LEN, 2 * NV_KEY_LEN);
		return false;
	}
	if (n != 2 * NV_KEY_LEN)
	{
		nv_error(err, "%s has the wrong length: %zu bytes, an Ed25519 public key has %d",
				 what, n / 2, NV_KEY_LEN);
		return false;
	}
	nv_hex_decode(hex, key, NV_KEY_LEN);
	return true;
}

/*
 * --public-key: hex on the command line, or a file holding the hex or the
 * JSON of notary.public_key() ({"key_id": ..., "public_key": ...}).
 */
static bool
read_public_key(const char *arg, uint8_t *key, NvError *err)
{
	FILE	   *f;
	char		buf[4096];
	size_t		n;
	char	   *s;

	if (nv_is_hex(arg) && access(arg, F_OK) != 0)
		return key_from_hex(arg, key, err, "the public key");
	f = fopen(arg, "r");
	if (f == NULL)
	{
		if (strspn(arg, "0123456789abcdefABCDEF") == strlen(arg))
			return key_from_hex(arg, key, err, "the public key");
		nv_error(err, "--public-key: \"%s\" is neither %d hex characters nor a readable file (%s)",
				 arg, 2 * NV_KEY_LEN, strerror(errno));
		return false;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f) || !feof(f))
	{
		nv_error(err, "--public-key: could not read \"%s\" (or it is too long for a key)", arg);
		fclose(f);
		return false;
	}
	fclose(f);
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL)
	{
		nv_error(err, "--public-key: \"%s\" is not a text file", arg);
		return false;
	}
	s = trim(buf);
	if (*s == '{')
	{
		json_error_t jerr;
		json_t	   *o = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
		const char *hex;
		bool		ok;

		if (o == NULL || !json_is_string(json_object_get(o, "public_key")))
		{
			nv_error(err, "--public-key: \"%s\" is JSON without a \"public_key\" string", arg);
			json_decref(o);
			return false;
		}
		hex = json_string_value(json_object_get(o, "public_key"));
		ok = key_from_hex(hex, key, err, "the file's public_key");
		json_decref(o);
		return ok;
	}
	return key_from_hex(s, key, err, "the key file's content");
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"export", required_argument, NULL, 'e'},
		{"proof", required_argument, NULL, 'p'},
		{"datapackage", required_argument, NULL, 'D'},
		{"checkpoint", required_argument, NULL, 'c'},
		{"public-key", required_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},
		{"progress", no_argument, NULL, 'P'},
		{"no-progress", no_argument, NULL, 'N'},
		{"print-export-sql", no_argument, NULL, 'S'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *dbname = NULL;
	const char *export_path = NULL;
	const char *proof_path = NULL;
	const char *package_dir = NULL;
	const char *key_arg = NULL;
	bool		json = false;
	int			progress = -1;
	uint8_t		key[NV_KEY_LEN];
	NvReport	report;
	NvError		err;
	int			c;
	int			i;
	int			status;

	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
	while ((c = getopt_long(argc, argv, "d:e:p:c:k:Vh", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				dbname = optarg;
				break;
			case 'e':
				export_path = optarg;
				break;
			case 'p':
				proof_path = optarg;
				break;
			case 'D':
				package_dir = optarg;
				break;
			case 'c':
				checkpoints = nv_realloc((void *) checkpoints, sizeof(char *) * (size_t) (ncheckpoints + 1));
				checkpoints[ncheckpoints++] = optarg;
				break;
			case 'k':
				key_arg = optarg;
				break;
			case 'j':
				json = true;
				break;
			case 'P':
				progress = 1;
				break;
			case 'N':
				progress = 0;
				break;
			case 'S':
				nv_db_print_export_sql(stdout);
				return NV_EXIT_INTACT;
			case 'V':
				printf("notary-verify %s (pg_notary ledger formats 1 and 2)\n", NV_VERSION);
				return NV_EXIT_INTACT;
			case 'h':
				usage(stdout);
				return NV_EXIT_INTACT;
			default:
				fprintf(stderr, "Try \"notary-verify --help\".\n");
				return NV_EXIT_ERROR;
		}
	}
	if (optind < argc)
		return fail("unexpected argument \"%s\" (try --help)", argv[optind]);
	if ((dbname != NULL) + (export_path != NULL) + (proof_path != NULL) +
		(package_dir != NULL) != 1)
		return fail("give exactly one of --dbname, --export, --proof and --datapackage%s", "");
	if (package_dir != NULL && key_arg == NULL)
		return fail("--datapackage needs --public-key: a data package is only as good as its signature%s", "");
	if (package_dir != NULL && ncheckpoints > 0)
		return fail("--checkpoint does not go with --datapackage (the package carries its checkpoint)%s", "");
	if (proof_path != NULL && key_arg == NULL)
		return fail("--proof needs --public-key: a proof is only as good as its signature%s", "");
	if (proof_path != NULL && ncheckpoints > 0)
		return fail("--checkpoint does not go with --proof (the proof carries its checkpoint)%s", "");
	if (sodium_init() < 0)
		return fail("could not initialise libsodium%s", "");
	if (key_arg != NULL && !read_public_key(key_arg, key, &err))
		return fail("%s", err.msg);
	if (progress < 0)
		progress = isatty(STDERR_FILENO) && !json;

	if (package_dir != NULL)
	{
		if (!nv_datapackage_check(&report, package_dir, key, &err))
		{
			nv_report_free(&report);
			return fail("%s", err.msg);
		}
	}
	else if (proof_path != NULL)
	{
		json_t	   *doc = nv_json_file(proof_path, &err);

		if (doc == NULL)
			return fail("%s", err.msg);
		report.source = "proof";
		nv_proof_check(&report, doc, key);
		json_decref(doc);
	}
	else
	{
		NvVerifier *v = nv_verifier_new(&report, progress == 1);
		bool		ok;

		if (key_arg != NULL)
			nv_verifier_set_key(v, key);
		for (i = 0; i < ncheckpoints; i++)
		{
			json_t	   *doc = nv_json_file(checkpoints[i], &err);
			char	   *label;

			if (doc == NULL)
			{
				nv_verifier_free(v);
				nv_report_free(&report);
				return fail("%s", err.msg);
			}
			label = nv_printf("checkpoint file %s", checkpoints[i]);
			nv_verifier_add_trusted(v, doc, label);
			free(label);
			json_decref(doc);
		}
		if (dbname != NULL)
		{
			report.source = "database";
			ok = nv_db_read(v, &report, dbname, &err);
		}
		else
		{
			report.source = "export";
			ok = nv_export_read(v, export_path, &err);
		}
		ok = ok && nv_verifier_finish(v, &err);
		nv_verifier_free(v);
		if (!ok)
		{
			nv_report_free(&report);
			return fail("%s", err.msg);
		}
	}

	nv_report_print(&report, stdout, json);
	status = report.nfindings > 0 ? NV_EXIT_FINDINGS : NV_EXIT_INTACT;
	nv_report_free(&report);
	if (fflush(stdout) != 0)
		return NV_EXIT_ERROR;
	return status;
}
