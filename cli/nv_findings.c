/*-------------------------------------------------------------------------
 *
 * nv_findings.c
 *		Findings and notes, and their output: one line per finding for
 *		people, or one JSON object for programs (--json).
 *
 * A finding names its problem with the same words as the extension's
 * verification functions (altered_entry, broken_link, ...), where it is
 * (seq, chain, position, layout, checkpoint: whichever apply) and what it
 * means in plain language.  A note says what could not be checked and
 * why; notes do not change the exit status.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

NvFinding *
nv_finding(NvReport *r, const char *problem, const char *fmt,...)
{
	NvFinding  *f;
	va_list		ap;
	int			n;

	if (r->nfindings == r->cap)
	{
		r->cap = r->cap ? r->cap * 2 : 16;
		r->findings = nv_realloc(r->findings, sizeof(NvFinding) * r->cap);
	}
	f = &r->findings[r->nfindings++];
	memset(f, 0, sizeof(*f));
	f->problem = nv_strdup(problem);
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	f->detail = nv_malloc((size_t) (n < 0 ? 0 : n) + 1);
	f->detail[0] = '\0';
	va_start(ap, fmt);
	if (n >= 0)
		vsnprintf(f->detail, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return f;
}

void
nv_note(NvReport *r, const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = nv_malloc((size_t) (n < 0 ? 0 : n) + 1);
	s[0] = '\0';
	va_start(ap, fmt);
	if (n >= 0)
		vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	r->notes = nv_realloc(r->notes, sizeof(char *) * (r->nnotes + 1));
	r->notes[r->nnotes++] = s;
}

/* Distinct problems in order of first appearance, with their counts. */
static size_t
count_problems(const NvReport *r, const char **names, size_t *counts)
{
	size_t		n = 0;
	size_t		i;
	size_t		j;

	for (i = 0; i < r->nfindings; i++)
	{
		for (j = 0; j < n; j++)
			if (strcmp(names[j], r->findings[i].problem) == 0)
				break;
		if (j == n)
		{
			names[n] = r->findings[i].problem;
			counts[n++] = 0;
		}
		counts[j]++;
	}
	return n;
}

static void
print_text(const NvReport *r, FILE *out)
{
	size_t		i;
	const char **names = nv_malloc(sizeof(char *) * (r->nfindings + 1));
	size_t	   *counts = nv_malloc(sizeof(size_t) * (r->nfindings + 1));
	size_t		n;

	for (i = 0; i < r->nfindings; i++)
	{
		const NvFinding *f = &r->findings[i];
		const char *sep = " ";

		fprintf(out, "%s:", f->problem);
		if (f->has_checkpoint)
		{
			fprintf(out, "%scheckpoint %" PRId64, sep, f->checkpoint_id);
			sep = ", ";
		}
		if (f->has_layout)
		{
			fprintf(out, "%slayout %" PRId64, sep, f->layout_id);
			sep = ", ";
		}
		if (f->has_seq)
		{
			fprintf(out, "%sseq %" PRId64, sep, f->seq);
			sep = ", ";
		}
		if (f->has_chain)
		{
			fprintf(out, "%schain %d", sep, f->chain_id);
			sep = ", ";
		}
		if (f->has_pos)
			fprintf(out, "%sposition %" PRId64, sep, f->chain_pos);
		fprintf(out, "%s%s\n", sep[0] == ',' ? ": " : " ", f->detail);
	}
	for (i = 0; i < r->nnotes; i++)
		fprintf(out, "note: %s\n", r->notes[i]);

	fprintf(out, "notary-verify: %s", r->source ? r->source : "");
	if (r->proofs_checked > 0)
		fprintf(out, " %s", "checked");
	else if (r->source != NULL && strcmp(r->source, "datapackage") == 0)
		fprintf(out, ": %" PRIu64 " file%s, %" PRIu64 " checkpoint%s",
				r->files_checked, r->files_checked == 1 ? "" : "s",
				r->checkpoints_checked, r->checkpoints_checked == 1 ? "" : "s");
	else
		fprintf(out, ": %" PRIu64 " entr%s, %" PRIu64 " chain%s, %" PRIu64 " layout%s, %" PRIu64 " trusted checkpoint%s",
				r->entries, r->entries == 1 ? "y" : "ies",
				r->chains, r->chains == 1 ? "" : "s",
				r->layouts, r->layouts == 1 ? "" : "s",
				r->checkpoints_checked, r->checkpoints_checked == 1 ? "" : "s");
	if (r->nfindings == 0)
		fprintf(out, ": intact\n");
	else
	{
		n = count_problems(r, names, counts);
		fprintf(out, ": %zu finding%s (", r->nfindings, r->nfindings == 1 ? "" : "s");
		for (i = 0; i < n; i++)
			fprintf(out, "%s%s %zu", i ? ", " : "", names[i], counts[i]);
		fprintf(out, ")\n");
	}
	free(names);
	free(counts);
}

static void
print_json(const NvReport *r, FILE *out)
{
	json_t	   *o = json_object();
	json_t	   *fs = json_array();
	json_t	   *cs = json_object();
	json_t	   *ns = json_array();
	size_t		i;

	for (i = 0; i < r->nfindings; i++)
	{
		const NvFinding *f = &r->findings[i];
		json_t	   *j = json_object();

		json_object_set_new(j, "problem", json_string(f->problem));
		json_object_set_new(j, "seq", f->has_seq ? json_integer(f->seq) : json_null());
		json_object_set_new(j, "chain_id", f->has_chain ? json_integer(f->chain_id) : json_null());
		json_object_set_new(j, "chain_pos", f->has_pos ? json_integer(f->chain_pos) : json_null());
		if (f->has_layout)
			json_object_set_new(j, "layout_id", json_integer(f->layout_id));
		if (f->has_checkpoint)
			json_object_set_new(j, "checkpoint_id", json_integer(f->checkpoint_id));
		json_object_set_new(j, "detail", json_string(f->detail));
		json_array_append_new(fs, j);
		json_object_set_new(cs, f->problem,
							json_integer(json_integer_value(json_object_get(cs, f->problem)) + 1));
	}
	for (i = 0; i < r->nnotes; i++)
		json_array_append_new(ns, json_string(r->notes[i]));
	json_object_set_new(o, "source", json_string(r->source ? r->source : ""));
	json_object_set_new(o, "intact", json_boolean(r->nfindings == 0));
	json_object_set_new(o, "entries", json_integer((json_int_t) r->entries));
	json_object_set_new(o, "chains", json_integer((json_int_t) r->chains));
	json_object_set_new(o, "layouts", json_integer((json_int_t) r->layouts));
	json_object_set_new(o, "checkpoints", json_integer((json_int_t) r->checkpoints_checked));
	json_object_set_new(o, "proofs", json_integer((json_int_t) r->proofs_checked));
	if (r->source != NULL && strcmp(r->source, "datapackage") == 0)
		json_object_set_new(o, "files", json_integer((json_int_t) r->files_checked));
	json_object_set_new(o, "findings", fs);
	json_object_set_new(o, "counts", cs);
	json_object_set_new(o, "notes", ns);
	json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(o);
}

void
nv_report_print(const NvReport *r, FILE *out, bool json)
{
	if (json)
		print_json(r, out);
	else
		print_text(r, out);
}

void
nv_report_free(NvReport *r)
{
	size_t		i;

	for (i = 0; i < r->nfindings; i++)
	{
		free(r->findings[i].problem);
		free(r->findings[i].detail);
	}
	free(r->findings);
	for (i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	memset(r, 0, sizeof(*r));
}
