/*-------------------------------------------------------------------------
 *
 * nv_proof.c
 *		Checking one proof document offline (docs/checkpoints.md "Proofs"):
 *		the checkpoint's signature, the layout's digest, the entry's hash
 *		recomputed from its content in its format (a redacted column by the
 *		commitment the redaction kept), and the RFC 9162 audit path from
 *		that hash to the checkpoint's entries_root.  Whether a redaction was
 *		recorded (forged_redaction) takes the whole ledger, not one entry.
 *
 * A format-2 entry with sealed columns has no hash to recompute: its seal
 * is in a REDACT entry the proof does not carry.  Its stored entry_hash is
 * checked along the path, and the entry is reported as sealed_entry: the
 * proof shows that the hash is included, not what the entry says.
 *
 * Findings: malformed_proof (not a proof document), malformed_checkpoint,
 * bad_signature, wrong_key, altered_layout, malformed_entry, altered_entry,
 * sealed_entry, not_included (the path does not lead to entries_root, or
 * the checkpoint does not cover the entry's chain position).
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MAX_PATH 64

static NvFinding *
entry_where(NvFinding *f, const NvEntry *e)
{
	f->has_seq = f->has_chain = f->has_pos = true;
	f->seq = e->seq;
	f->chain_id = e->chain_id;
	f->chain_pos = e->chain_pos;
	return f;
}

/*
 * Recompute the entry's hash with the proof's layout.  Returns false with
 * why set when it cannot be hashed.  A sealed entry has no hash to
 * recompute: *sealed is set, and out holds its seal.
 */
static bool
recompute(const NvEntry *e, const NvLayout *l, bool *sealed, uint8_t *out,
		  NvError *why)
{
	*sealed = false;
	if (!e->prev_ok || !e->hash_ok)
	{
		nv_error(why, "prev_hash or entry_hash is missing or not 32 bytes");
		return false;
	}
	if (e->has_layout && l == NULL)
	{
		nv_error(why, "the entry has a layout, but the proof carries none");
		return false;
	}
	if (e->has_layout && l->layout_id != e->layout_id)
	{
		nv_error(why, "the proof's layout is not the entry's layout");
		return false;
	}
	return nv_entry_compute(e, e->has_layout ? l->digest : NULL,
							e->has_layout ? l->ncols : 0,
							e->has_layout ? l->personal : NULL,
							e->has_layout ? l->npersonal : 0,
							sealed, NULL, out, why);
}

/* The audit path: an array of at most 64 hashes. */
static bool
read_path(json_t *a, uint8_t (*path)[NV_HASH_LEN], size_t *n, NvError *err)
{
	size_t		i;
	json_t	   *x;

	if (!json_is_array(a))
	{
		nv_error(err, "\"path\" is not an array");
		return false;
	}
	if (json_array_size(a) > MAX_PATH)
	{
		nv_error(err, "\"path\" has %zu hashes; no tree of 2^63 entries needs more than %d",
				 json_array_size(a), MAX_PATH);
		return false;
	}
	json_array_foreach(a, i, x)
	{
		const char *s = json_string_value(x);

		if (s == NULL || strlen(s) != 2 * NV_HASH_LEN ||
			nv_hex_decode(s, path[i], NV_HASH_LEN) != NV_HASH_LEN)
		{
			nv_error(err, "path[%zu] is not 32 bytes of hex", i);
			return false;
		}
	}
	*n = json_array_size(a);
	return true;
}

void
nv_proof_check(NvReport *r, json_t *doc, const uint8_t *public_key)
{
	NvCheckpoint cp;
	bool		cp_ok = false;
	NvLayout	layout;
	bool		has_layout = false;
	NvEntry		entry;
	bool		entry_ok = false;
	json_t	   *x;
	NvError		err;
	uint8_t		path[MAX_PATH][NV_HASH_LEN];
	size_t		npath = 0;
	int64_t		leaf_index = -1;
	uint8_t		computed[NV_HASH_LEN];
	bool		hashed = false;
	bool		sealed;
	char	   *label = NULL;
	NvFinding  *f;

	r->proofs_checked++;
	memset(&layout, 0, sizeof(layout));
	memset(&entry, 0, sizeof(entry));
	if (!json_is_object(doc))
	{
		nv_finding(r, "malformed_proof", "the proof is not a JSON object");
		return;
	}
	x = json_object_get(doc, "format");
	if (!json_is_string(x) || strcmp(json_string_value(x), NV_PROOF_FORMAT) != 0)
	{
		nv_finding(r, "malformed_proof", "\"format\" is not \"%s\"", NV_PROOF_FORMAT);
		return;
	}

	/* the checkpoint, and whether it is authentic */
	x = json_object_get(doc, "checkpoint");
	if (x == NULL)
		nv_finding(r, "malformed_proof", "the proof has no \"checkpoint\"");
	else if (!nv_parse_checkpoint(x, &cp, &err))
		nv_finding(r, "malformed_checkpoint", "the proof's checkpoint: %s", err.msg);
	else
	{
		r->checkpoints_checked++;
		label = nv_printf("the proof's checkpoint %" PRIu64, cp.checkpoint_id);
		cp_ok = nv_checkpoint_authentic(r, &cp, label, public_key);
		if (!cp_ok)
		{
			nv_checkpoint_free(&cp);
			free(label);
			return;				/* nothing it says can be relied on */
		}
	}

	/* the layout, if the entry has one */
	x = json_object_get(doc, "layout");
	if (x == NULL)
		nv_finding(r, "malformed_proof", "the proof has no \"layout\" member (null for an entry without a row image)");
	else if (!json_is_null(x))
	{
		if (!nv_parse_layout(x, &layout, &err))
			nv_finding(r, "malformed_proof", "the proof's layout: %s", err.msg);
		else
		{
			has_layout = true;
			nv_layout_check(&layout);
			if (!layout.digest_ok)
			{
				f = nv_finding(r, "altered_layout",
							   "layout %" PRId64 " of %s.%s %s",
							   layout.layout_id, layout.schema_name, layout.table_name,
							   layout.well_formed ? "does not match its digest: its names, types or key were changed" :
							   "cannot be hashed: its names and types do not pair up");
				f->has_layout = true;
				f->layout_id = layout.layout_id;
			}
		}
	}

	/* the entry, its hash recomputed from its content */
	x = json_object_get(doc, "entry");
	if (x == NULL)
		nv_finding(r, "malformed_proof", "the proof has no \"entry\"");
	else if (!nv_parse_entry(x, &entry, &err))
		nv_finding(r, "malformed_proof", "the proof's entry: %s", err.msg);
	else
	{
		entry_ok = true;
		r->entries++;
		hashed = recompute(&entry, has_layout ? &layout : NULL, &sealed, computed, &err);
		if (!hashed)
			entry_where(nv_finding(r, "malformed_entry", "%s", err.msg), &entry);
		else if (sealed)
		{
			/*
			 * Its content cannot be recomputed: only the REDACT entry that
			 * sealed it vouches for it, and a proof does not carry that
			 * entry.  What can be proven is that its stored hash is
			 * included; the content is not, and that is a finding.
			 */
			entry_where(nv_finding(r, "sealed_entry",
								   "the entry has sealed columns: its content cannot be recomputed from the proof, and only the inclusion of its stored entry_hash is checked; its seal is in the REDACT entry that erased them (check the ledger with --export or --dbname)"),
						&entry);
			memcpy(computed, entry.entry_hash, NV_HASH_LEN);
		}
		else if (sodium_memcmp(computed, entry.entry_hash, NV_HASH_LEN) != 0)
			entry_where(nv_finding(r, "altered_entry",
								   "the entry's content does not match its hash: it was changed after it was written"),
						&entry);
	}

	/* the audit path */
	x = json_object_get(doc, "leaf_index");
	if (!json_is_integer(x) || json_integer_value(x) < 0)
		nv_finding(r, "malformed_proof", "\"leaf_index\" is not a non-negative integer");
	else
		leaf_index = json_integer_value(x);
	x = json_object_get(doc, "path");
	if (x == NULL)
	{
		nv_finding(r, "malformed_proof", "the proof has no \"path\"");
		leaf_index = -1;
	}
	else if (!read_path(x, path, &npath, &err))
	{
		nv_finding(r, "malformed_proof", "%s", err.msg);
		leaf_index = -1;
	}

	if (cp_ok && entry_ok && hashed && leaf_index >= 0)
	{
		int			i;
		const NvChainHead *head = NULL;

		for (i = 0; i < cp.nchains; i++)
			if (entry.chain_id >= 0 && cp.chains[i].chain_id == (uint32_t) entry.chain_id)
				head = &cp.chains[i];
		if (head == NULL || entry.chain_pos < 1 ||
			(uint64_t) entry.chain_pos > head->position)
			entry_where(nv_finding(r, "not_included",
								   "%s does not cover this chain position", label),
						&entry);
		else if ((uint64_t) entry.chain_pos == head->position &&
				 sodium_memcmp(head->hash, computed, NV_HASH_LEN) != 0)
			entry_where(nv_finding(r, "not_included",
								   "%s lists another hash for this chain position", label),
						&entry);
		else if (!nv_merkle_verify_path((uint64_t) leaf_index, cp.entries, computed,
										(const uint8_t (*)[NV_HASH_LEN]) path,
										npath, cp.entries_root))
			entry_where(nv_finding(r, "not_included",
								   "the audit path from leaf %" PRId64 " does not lead to the entries_root of %s (%" PRIu64 " entries)",
								   leaf_index, label, cp.entries),
						&entry);
	}
	if (cp_ok)
		nv_checkpoint_free(&cp);
	if (has_layout)
		nv_layout_free(&layout);
	if (entry_ok)
		nv_entry_free(&entry);
	free(label);
}
