/*-------------------------------------------------------------------------
 *
 * nv_export.c
 *		Reading an export (docs/checkpoints.md "Export": JSON Lines, layouts
 *		then entries then checkpoints) and single JSON documents
 *		(checkpoints, proofs, key files).
 *
 * Anything that is not exactly an export is an error (exit 2), never a
 * guess: an empty file, a line that is not one JSON object, a duplicate
 * member, text that is not UTF-8, a last line without its newline (the
 * file was cut short).  An export cut exactly at a line end cannot be told
 * from a shorter ledger; only a checkpoint held outside can.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define MAX_DOCUMENT (256L * 1024 * 1024)

static bool
blank(const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* One line of an export (without its newline). */
bool
nv_export_line(NvVerifier *v, const char *line, size_t len,
			   unsigned long lineno, NvError *err)
{
	json_error_t jerr;
	json_t	   *o;
	char		where[64];
	bool		ok;

	snprintf(where, sizeof(where), "line %lu", lineno);
	if (blank(line, len))
	{
		nv_error(err, "%s: empty line", where);
		return false;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
	{
		nv_error(err, "%s: not valid JSON (column %d: %s)", where, jerr.column, jerr.text);
		return false;
	}
	ok = nv_verifier_line(v, o, where, err);
	json_decref(o);
	return ok;
}

bool
nv_export_read(NvVerifier *v, const char *path, NvError *err)
{
	FILE	   *f;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	unsigned long lineno = 0;
	bool		ok = true;
	bool		last_newline = true;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL)
	{
		nv_error(err, "could not open export \"%s\": %s", path, strerror(errno));
		return false;
	}
	while ((n = getline(&line, &cap, f)) > 0)
	{
		lineno++;
		last_newline = line[n - 1] == '\n';
		if (last_newline)
			line[--n] = '\0';
		if (!last_newline)
		{
			nv_error(err, "line %lu: the last line has no newline: the export was cut short", lineno);
			ok = false;
			break;
		}
		if (memchr(line, '\0', (size_t) n) != NULL)
		{
			nv_error(err, "line %lu: contains a NUL byte", lineno);
			ok = false;
			break;
		}
		if (!nv_export_line(v, line, (size_t) n, lineno, err))
		{
			ok = false;
			break;
		}
	}
	if (ok && ferror(f))
	{
		nv_error(err, "could not read export \"%s\": %s", path, strerror(errno));
		ok = false;
	}
	if (ok && lineno == 0)
	{
		nv_error(err, "the export \"%s\" is empty", path);
		ok = false;
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return ok;
}

/* A whole file as one JSON document. */
json_t *
nv_json_file(const char *path, NvError *err)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	size_t		len = 0;
	size_t		n;
	json_error_t jerr;
	json_t	   *doc;

	if (f == NULL)
	{
		nv_error(err, "could not open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf = nv_malloc(65536);
	while ((n = fread(buf + len, 1, 65536, f)) > 0)
	{
		len += n;
		if (len > MAX_DOCUMENT)
		{
			nv_error(err, "\"%s\" is larger than %ld bytes", path, MAX_DOCUMENT);
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = nv_realloc(buf, len + 65536);
	}
	if (ferror(f))
	{
		nv_error(err, "could not read \"%s\": %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (blank(buf, len) || len == 0)
	{
		nv_error(err, "\"%s\" is empty", path);
		free(buf);
		return NULL;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (doc == NULL)
		nv_error(err, "\"%s\" is not valid JSON (line %d, column %d: %s)",
				 path, jerr.line, jerr.column, jerr.text);
	return doc;
}
