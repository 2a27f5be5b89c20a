/*-------------------------------------------------------------------------
 *
 * notary_export.c
 *		notary-export: export published open-data views of a pg_notary
 *		database into a local directory, with progress.
 *
 *	notary-export --dbname CONNSTR --output DIR --title TEXT --license ID
 *				  [--description TEXT] [--name NAME] [--public-key HEX] VIEW...
 *
 * Streams notary.opendata_export() row by row (libpq single-row mode), so
 * memory stays flat however large the views are; each file is written
 * under a temporary name while its SHA-256 is computed over the bytes
 * written, and compared with what the server signed before anything is
 * renamed into place.  Then the written package is checked like
 * notary-verify --datapackage does.  Progress (rows and percent per file)
 * goes to stderr.  Exit status as notary-verify: 0 exported and checked,
 * 1 findings (the files do not match what was signed), 2 could not export.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#define NE_VERSION "0.2"

typedef struct OutFile
{
	char	   *path;			/* as the server names it */
	char	   *tmp;
	char	   *final;
	FILE	   *f;
	crypto_hash_sha256_state sha;
	uint64_t	bytes;
	char		sha256[65];
} OutFile;

static OutFile *files = NULL;
static int	nfiles = 0;

static void
usage(FILE *out)
{
	fprintf(out,
			"notary-export exports published open-data views of a pg_notary database.\n"
			"\n"
			"Usage:\n"
			"  notary-export --dbname CONNSTR --output DIR --title TEXT --license ID\n"
			"                [--description TEXT] [--name NAME] [--public-key HEX] VIEW...\n"
			"\n"
			"Options:\n"
			"  -d, --dbname CONNSTR     the database (libpq connection string)\n"
			"  -o, --output DIR         directory for the CSV files and datapackage.json\n"
			"                           (created if missing; existing files are never replaced)\n"
			"  -t, --title TEXT         title of the data package\n"
			"  -l, --license ID         Open Definition license id (e.g. CC-BY-4.0) or URL\n"
			"      --description TEXT   description of the data package\n"
			"  -n, --name NAME          name of the data package (default: opendata)\n"
			"  -k, --public-key HEX     the Ed25519 key the package must be signed with\n"
			"      --progress           show progress on stderr (default: when a TTY)\n"
			"      --no-progress        never show progress\n"
			"  -V, --version            print the version\n"
			"  -h, --help               print this help\n"
			"\n"
			"VIEW: a view of schema opendata, e.g. opendata.contracts.\n"
			"Exit status: 0 exported and checked, 1 findings, 2 could not export.\n");
}

static int
fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "notary-export: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return NV_EXIT_ERROR;
}

/* Remove every temporary file (on failure). */
static void
discard(void)
{
	int			i;

	for (i = 0; i < nfiles; i++)
	{
		if (files[i].f != NULL)
			fclose(files[i].f);
		files[i].f = NULL;
		unlink(files[i].tmp);
	}
}

/* A text[] literal of the view names, for $1::regclass[]. */
static char *
array_literal(char **names, int n)
{
	size_t		cap = 3;
	char	   *s;
	char	   *p;
	int			i;

	for (i = 0; i < n; i++)
		cap += 2 * strlen(names[i]) + 4;
	s = nv_malloc(cap);
	p = s;
	*p++ = '{';
	for (i = 0; i < n; i++)
	{
		const char *c;

		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (c = names[i]; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static bool
plain_name(const char *p)
{
	return *p != '\0' && *p != '.' && strchr(p, '/') == NULL;
}

static OutFile *
open_file(const char *dir, const char *path, NvError *err)
{
	OutFile    *o;
	struct stat st;

	if (!plain_name(path))
	{
		nv_error(err, "the server named a file \"%s\" that is not a plain file name", path);
		return NULL;
	}
	files = nv_realloc(files, sizeof(OutFile) * (size_t) (nfiles + 1));
	o = &files[nfiles];
	memset(o, 0, sizeof(*o));
	o->path = nv_strdup(path);
	o->final = nv_printf("%s/%s", dir, path);
	o->tmp = nv_printf("%s/.%s.%ld.partial", dir, path, (long) getpid());
	if (lstat(o->final, &st) == 0)
	{
		nv_error(err, "\"%s\" already exists: notary-export never replaces files", o->final);
		return NULL;
	}
	{
		int			fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);

		o->f = fd < 0 ? NULL : fdopen(fd, "wb");
	}
	if (o->f == NULL)
	{
		nv_error(err, "could not create \"%s\": %s", o->tmp, strerror(errno));
		return NULL;
	}
	nfiles++;
	crypto_hash_sha256_init(&o->sha);
	return o;
}

static bool
close_file(OutFile *o, NvError *err)
{
	uint8_t		h[32];

	if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0 || fclose(o->f) != 0)
	{
		o->f = NULL;
		nv_error(err, "could not write \"%s\": %s", o->tmp, strerror(errno));
		return false;
	}
	o->f = NULL;
	crypto_hash_sha256_final(&o->sha, h);
	nv_hex_encode(h, 32, o->sha256);
	return true;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Do the files written agree with datapackage.json as the server sent it?
 * (The full check of the signature follows on the renamed files.)
 */
static bool
agrees_with_server(const char *package, NvReport *r)
{
	json_error_t jerr;
	json_t	   *dp = json_loads(package, 0, &jerr);
	json_t	   *res = json_object_get(dp, "resources");
	int			i;

	if (dp == NULL || !json_is_array(res))
	{
		nv_finding(r, "malformed_package", "the server sent a datapackage.json that is not a JSON object with resources");
		json_decref(dp);
		return false;
	}
	for (i = 0; i < nfiles - 1; i++)
	{
		size_t		j;
		json_t	   *x;
		bool		found = false;

		json_array_foreach(res, j, x)
		{
			const char *p = json_string_value(json_object_get(x, "path"));
			const char *h = json_string_value(json_object_get(x, "hash"));
			json_t	   *b = json_object_get(x, "bytes");

			if (p == NULL || strcmp(p, files[i].path) != 0)
				continue;
			found = true;
			if (h == NULL || strncmp(h, "sha256:", 7) != 0 || strcmp(h + 7, files[i].sha256) != 0)
				nv_finding(r, "file_changed", "%s: the bytes written hash to %s, the server signed %s",
						   files[i].path, files[i].sha256, h ? h : "(none)");
			if (!json_is_integer(b) || (uint64_t) json_integer_value(b) != files[i].bytes)
				nv_finding(r, "file_changed", "%s: %" PRIu64 " bytes written, the server signed another count",
						   files[i].path, files[i].bytes);
		}
		if (!found)
			nv_finding(r, "unsigned_resource", "%s: received, but datapackage.json does not describe it", files[i].path);
	}
	json_decref(dp);
	return r->nfindings == 0;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"output", required_argument, NULL, 'o'},
		{"title", required_argument, NULL, 't'},
		{"license", required_argument, NULL, 'l'},
		{"description", required_argument, NULL, 'D'},
		{"name", required_argument, NULL, 'n'},
		{"public-key", required_argument, NULL, 'k'},
		{"progress", no_argument, NULL, 'P'},
		{"no-progress", no_argument, NULL, 'N'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *dbname = NULL;
	const char *dir = NULL;
	const char *title = NULL;
	const char *license = NULL;
	const char *description = NULL;
	const char *name = NULL;
	const char *key_arg = NULL;
	int			progress = -1;
	uint8_t		key[NV_KEY_LEN];
	NvReport	report;
	NvError		err;
	PGconn	   *conn;
	PGresult   *res;
	const char *params[5];
	char	   *views;
	char	   *package = NULL;
	OutFile    *cur = NULL;
	double		last = 0;
	int			last_pct = -1;
	int			c;
	int			i;
	int			status;
	bool		ok = true;
	struct stat st;

	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
	while ((c = getopt_long(argc, argv, "d:o:t:l:n:k:Vh", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				dbname = optarg;
				break;
			case 'o':
				dir = optarg;
				break;
			case 't':
				title = optarg;
				break;
			case 'l':
				license = optarg;
				break;
			case 'D':
				description = optarg;
				break;
			case 'n':
				name = optarg;
				break;
			case 'k':
				key_arg = optarg;
				break;
			case 'P':
				progress = 1;
				break;
			case 'N':
				progress = 0;
				break;
			case 'V':
				printf("notary-export %s (pg_notary data package format v1)\n", NE_VERSION);
				return NV_EXIT_INTACT;
			case 'h':
				usage(stdout);
				return NV_EXIT_INTACT;
			default:
				fprintf(stderr, "Try \"notary-export --help\".\n");
				return NV_EXIT_ERROR;
		}
	}
	if (dbname == NULL || dir == NULL || title == NULL || license == NULL)
		return fail("--dbname, --output, --title and --license are required (try --help)%s", "");
	if (optind >= argc)
		return fail("name at least one view to export, e.g. opendata.contracts%s", "");
	if (sodium_init() < 0)
		return fail("could not initialise libsodium%s", "");
	if (key_arg != NULL &&
		(strlen(key_arg) != 2 * NV_KEY_LEN || nv_hex_decode(key_arg, key, NV_KEY_LEN) != NV_KEY_LEN))
		return fail("--public-key must be %s hex characters (an Ed25519 public key)", "64");
	if (progress < 0)
		progress = isatty(STDERR_FILENO);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return fail("could not create the output directory: %s", strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return fail("\"%s\" is not a directory", dir);
	{
		char	   *p = nv_printf("%s/datapackage.json", dir);
		bool		exists = lstat(p, &st) == 0;

		free(p);
		if (exists)
			return fail("\"%s\" already holds a datapackage.json: export into a new directory", dir);
	}

	conn = PQconnectdb(dbname);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "notary-export: could not connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NV_EXIT_ERROR;
	}
	if (PQsetClientEncoding(conn, "UTF8") != 0)
	{
		PQfinish(conn);
		return fail("could not set client_encoding to UTF8%s", "");
	}
	views = array_literal(argv + optind, argc - optind);
	params[0] = views;
	params[1] = title;
	params[2] = license;
	params[3] = description;
	params[4] = name;
	/* in the SELECT list, the function streams; a subquery keeps it one call */
	if (!PQsendQueryParams(conn,
						   "SELECT (r).path, (r).row_number, (r).row_count, (r).data FROM "
						   "(SELECT notary.opendata_export($1::pg_catalog.regclass[], $2, $3, $4, $5) AS r) s",
						   5, NULL, params, NULL, NULL, 0) ||
		!PQsetSingleRowMode(conn))
	{
		fprintf(stderr, "notary-export: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NV_EXIT_ERROR;
	}
	free(views);

	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType s = PQresultStatus(res);

		if (s == PGRES_SINGLE_TUPLE && ok)
		{
			const char *path = PQgetvalue(res, 0, 0);
			const char *data = PQgetvalue(res, 0, 3);
			int			len = PQgetlength(res, 0, 3);

			if (PQgetisnull(res, 0, 1))
			{
				/* datapackage.json: last */
				free(package);
				package = nv_strdup(data);
			}
			else
			{
				long long	row = atoll(PQgetvalue(res, 0, 1));
				long long	total = atoll(PQgetvalue(res, 0, 2));

				if (cur == NULL || strcmp(cur->path, path) != 0)
				{
					if (cur != NULL && !close_file(cur, &err))
						ok = false;
					if (ok && (cur = open_file(dir, path, &err)) == NULL)
						ok = false;
				}
				if (ok)
				{
					if (fwrite(data, 1, (size_t) len, cur->f) != (size_t) len)
					{
						nv_error(&err, "could not write \"%s\": %s", cur->tmp, strerror(errno));
						ok = false;
					}
					crypto_hash_sha256_update(&cur->sha, (const unsigned char *) data, (size_t) len);
					cur->bytes += (uint64_t) len;
				}
				if (ok && progress)
				{
					int			pct = total > 0 ? (int) (row * 100 / total) : 100;
					double		t = now_s();

					if (row == total || pct != last_pct || t - last > 0.5)
					{
						fprintf(stderr, "\r%s: %lld/%lld rows (%d%%)%s", path, row, total, pct,
								row == total ? "\n" : "");
						last = t;
						last_pct = pct;
					}
				}
			}
		}
		else if (s == PGRES_FATAL_ERROR)
		{
			nv_error(&err, "the export failed: %s", PQresultErrorMessage(res));
			ok = false;
		}
		PQclear(res);
	}
	PQfinish(conn);
	if (ok && cur != NULL && !close_file(cur, &err))
		ok = false;
	if (ok && package == NULL)
	{
		nv_error(&err, "the server sent no datapackage.json");
		ok = false;
	}
	if (!ok)
	{
		discard();
		free(package);
		return fail("%s", err.msg);
	}

	/* the bytes written are what the server signed? */
	if (!agrees_with_server(package, &report))
	{
		discard();
		report.source = "datapackage";
		nv_report_print(&report, stdout, false);
		nv_report_free(&report);
		free(package);
		return NV_EXIT_FINDINGS;
	}
	{
		OutFile    *o;
		FILE	   *f;

		files = nv_realloc(files, sizeof(OutFile) * (size_t) (nfiles + 1));
		o = &files[nfiles++];
		memset(o, 0, sizeof(*o));
		o->path = nv_strdup("datapackage.json");
		o->final = nv_printf("%s/datapackage.json", dir);
		o->tmp = nv_printf("%s/.datapackage.json.%ld.partial", dir, (long) getpid());
		f = fopen(o->tmp, "wbx");
		if (f == NULL || fputs(package, f) == EOF || fflush(f) != 0 ||
			fsync(fileno(f)) != 0 || fclose(f) != 0)
		{
			discard();
			return fail("could not write datapackage.json: %s", strerror(errno));
		}
	}
	free(package);
	/* datapackage.json last: a directory holding it is complete */
	for (i = 0; i < nfiles; i++)
		if (rename(files[i].tmp, files[i].final) != 0)
		{
			int			j;

			for (j = 0; j < i; j++)
				unlink(files[j].final);
			discard();
			return fail("could not rename into place: %s", strerror(errno));
		}

	if (!nv_datapackage_check(&report, dir, key_arg ? key : NULL, &err))
		return fail("%s", err.msg);
	nv_report_print(&report, stdout, false);
	status = report.nfindings > 0 ? NV_EXIT_FINDINGS : NV_EXIT_INTACT;
	nv_report_free(&report);
	for (i = 0; i < nfiles; i++)
	{
		free(files[i].path);
		free(files[i].tmp);
		free(files[i].final);
	}
	free(files);
	if (fflush(stdout) != 0)
		return NV_EXIT_ERROR;
	return status;
}
