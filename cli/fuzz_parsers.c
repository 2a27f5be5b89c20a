/*-------------------------------------------------------------------------
 *
 * fuzz_parsers.c
 *		libFuzzer target for notary-verify's parsers: the input is fed as an
 *		export (line by line, into a verifier with a trusted checkpoint and
 *		a key), as a trusted checkpoint document, and as a proof document.
 *		The seed corpus holds redacted entries and a REDACT entry, so the
 *		"redacted" records, REDACT details and forged_redaction are fuzzed
 *		too; and entries of formats 1 and 2, a sealed column and its seal.
 *
 * Build and run (cli/Makefile, tests/run):
 *	make -C cli fuzz && cli/fuzz_parsers -max_total_time=20 tests/cli/corpus
 *
 * Any crash, sanitizer report or leak is a failure.  Nothing is printed:
 * findings are collected and thrown away.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* An arbitrary but fixed Ed25519 public key (the key of the test corpus). */
static uint8_t key[NV_KEY_LEN];

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialised = false;
	NvReport	report;
	NvVerifier *v;
	NvError		err;
	json_error_t jerr;
	json_t	   *doc;
	size_t		start = 0;
	unsigned long lineno = 0;
	bool		ok = true;

	if (!initialised)
	{
		if (sodium_init() < 0)
			abort();
		nv_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
					  key, NV_KEY_LEN);
		initialised = true;
	}

	/* as a whole document: a proof, and a trusted checkpoint */
	doc = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &jerr);
	memset(&report, 0, sizeof(report));
	if (doc != NULL)
		nv_proof_check(&report, doc, key);
	nv_report_free(&report);

	/* as an export, with the document (if any) as its trusted checkpoint */
	memset(&report, 0, sizeof(report));
	v = nv_verifier_new(&report, false);
	nv_verifier_set_key(v, key);
	if (doc != NULL)
		nv_verifier_add_trusted(v, doc, "fuzz checkpoint");
	while (ok && start < size)
	{
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t		end = nl ? (size_t) (nl - data) : size;

		lineno++;
		if (memchr(data + start, '\0', end - start) != NULL)
			break;
		ok = nv_export_line(v, (const char *) data + start, end - start, lineno, &err);
		start = end + 1;
	}
	if (ok)
		nv_verifier_finish(v, &err);
	nv_verifier_free(v);
	nv_report_free(&report);
	json_decref(doc);
	return 0;
}
