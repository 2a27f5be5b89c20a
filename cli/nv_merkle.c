/*-------------------------------------------------------------------------
 *
 * nv_merkle.c
 *		The Merkle tree of docs/checkpoints.md: RFC 9162 (Certificate
 *		Transparency 2.0) section 2.1 with BLAKE2b-256 for SHA-256.
 *
 *	MTH({})      = H()
 *	MTH({d0})    = H(0x00 || entry_hash)
 *	MTH(D[0:n])  = H(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest
 *				   power of two < n
 *
 * The root is computed incrementally, leaf by leaf in order, with a stack
 * of complete subtrees (at most 64), so a ledger of any size is checked in
 * constant memory.  Folding the stack from the right at the end gives the
 * same tree as the recursive definition.
 *
 *-------------------------------------------------------------------------
 */
#include "nv.h"

#include <string.h>

#include <sodium.h>

static void
node_hash(const uint8_t *left, const uint8_t *right, uint8_t *out)
{
	crypto_generichash_state h;
	uint8_t		one = 0x01;

	crypto_generichash_init(&h, NULL, 0, NV_HASH_LEN);
	crypto_generichash_update(&h, &one, 1);
	crypto_generichash_update(&h, left, NV_HASH_LEN);
	crypto_generichash_update(&h, right, NV_HASH_LEN);
	crypto_generichash_final(&h, out, NV_HASH_LEN);
}

void
nv_merkle_leaf_hash(const uint8_t *entry_hash, uint8_t *out)
{
	crypto_generichash_state h;
	uint8_t		zero = 0x00;

	crypto_generichash_init(&h, NULL, 0, NV_HASH_LEN);
	crypto_generichash_update(&h, &zero, 1);
	crypto_generichash_update(&h, entry_hash, NV_HASH_LEN);
	crypto_generichash_final(&h, out, NV_HASH_LEN);
}

void
nv_merkle_init(NvMerkle *m)
{
	memset(m, 0, sizeof(*m));
}

/* Append one leaf; merge equal-sized subtrees on the stack. */
void
nv_merkle_add(NvMerkle *m, const uint8_t *entry_hash)
{
	nv_merkle_leaf_hash(entry_hash, m->stack[m->depth]);
	m->sizes[m->depth] = 1;
	m->depth++;
	m->count++;
	while (m->depth >= 2 && m->sizes[m->depth - 1] == m->sizes[m->depth - 2])
	{
		node_hash(m->stack[m->depth - 2], m->stack[m->depth - 1],
				  m->stack[m->depth - 2]);
		m->sizes[m->depth - 2] *= 2;
		m->depth--;
	}
}

/* MTH of the leaves added so far. */
void
nv_merkle_root(const NvMerkle *m, uint8_t *out)
{
	uint8_t		r[NV_HASH_LEN];
	int			i;

	if (m->depth == 0)
	{
		crypto_generichash(out, NV_HASH_LEN, NULL, 0, NULL, 0);
		return;
	}
	memcpy(r, m->stack[m->depth - 1], NV_HASH_LEN);
	for (i = m->depth - 2; i >= 0; i--)
		node_hash(m->stack[i], r, r);
	memcpy(out, r, NV_HASH_LEN);
}

/*
 * RFC 9162 section 2.1.3.2: verify that entry_hash is leaf leaf_index of a
 * tree of tree_size leaves with the given root, using the audit path.
 */
bool
nv_merkle_verify_path(uint64_t leaf_index, uint64_t tree_size,
					  const uint8_t *entry_hash,
					  const uint8_t (*path)[NV_HASH_LEN], size_t npath,
					  const uint8_t *root)
{
	uint64_t	fn;
	uint64_t	sn;
	uint8_t		r[NV_HASH_LEN];
	size_t		i;

	if (leaf_index >= tree_size)
		return false;
	fn = leaf_index;
	sn = tree_size - 1;
	nv_merkle_leaf_hash(entry_hash, r);
	for (i = 0; i < npath; i++)
	{
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			node_hash(path[i], r, r);
			if (!(fn & 1))
			{
				while (!(fn & 1) && fn != 0)
				{
					fn >>= 1;
					sn >>= 1;
				}
			}
		}
		else
			node_hash(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && sodium_memcmp(r, root, NV_HASH_LEN) == 0;
}
