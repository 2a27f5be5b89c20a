/*-------------------------------------------------------------------------
 *
 * merkle.c
 *		The Merkle tree over ledger entries that checkpoints sign and proofs
 *		walk: RFC 9162 (Certificate Transparency 2.0) section 2.1, with
 *		BLAKE2b-256 in place of SHA-256 (docs/checkpoints.md).
 *
 * The root is computed in one streaming pass with a stack of perfect
 * subtrees (memory O(log n)); an audit path needs every leaf hash in
 * memory (32 bytes per entry) and is computed recursively.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <sodium.h>

static void
hash_node(const uint8 *left, const uint8 *right, uint8 *out)
{
	crypto_generichash_state h;
	uint8		one = 1;

	crypto_generichash_init(&h, NULL, 0, NOTARY_HASH_LEN);
	crypto_generichash_update(&h, &one, 1);
	crypto_generichash_update(&h, left, NOTARY_HASH_LEN);
	crypto_generichash_update(&h, right, NOTARY_HASH_LEN);
	crypto_generichash_final(&h, out, NOTARY_HASH_LEN);
}

/* Leaf hash of one entry: H(0x00 || entry_hash). */
void
merkle_leaf(const uint8 *entry_hash, uint8 *out)
{
	crypto_generichash_state h;
	uint8		zero = 0;

	crypto_generichash_init(&h, NULL, 0, NOTARY_HASH_LEN);
	crypto_generichash_update(&h, &zero, 1);
	crypto_generichash_update(&h, entry_hash, NOTARY_HASH_LEN);
	crypto_generichash_final(&h, out, NOTARY_HASH_LEN);
}

void
merkle_init(MerkleBuilder *mb)
{
	mb->depth = 0;
	mb->count = 0;
}

/* Add the next leaf (an entry hash) in order. */
void
merkle_add(MerkleBuilder *mb, const uint8 *entry_hash)
{
	uint8		node[NOTARY_HASH_LEN];
	uint64		size = 1;

	merkle_leaf(entry_hash, node);
	/* merge while the top subtree has the size of the new one */
	while (mb->depth > 0 && mb->sizes[mb->depth - 1] == size)
	{
		hash_node(mb->hashes[mb->depth - 1], node, node);
		mb->depth--;
		size *= 2;
	}
	memcpy(mb->hashes[mb->depth], node, NOTARY_HASH_LEN);
	mb->sizes[mb->depth] = size;
	mb->depth++;
	mb->count++;
}

/* The root: fold the perfect subtrees from the right. */
void
merkle_root(const MerkleBuilder *mb, uint8 *out)
{
	uint8		acc[NOTARY_HASH_LEN];
	int			i;

	if (mb->depth == 0)
	{
		crypto_generichash(out, NOTARY_HASH_LEN, NULL, 0, NULL, 0);
		return;
	}
	memcpy(acc, mb->hashes[mb->depth - 1], NOTARY_HASH_LEN);
	for (i = mb->depth - 2; i >= 0; i--)
		hash_node(mb->hashes[i], acc, acc);
	memcpy(out, acc, NOTARY_HASH_LEN);
}

static uint64
split_point(uint64 n)
{
	uint64		k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH over leaves[lo, hi) (leaf hashes already applied). */
static void
subtree_hash(const uint8 (*leaves)[NOTARY_HASH_LEN], uint64 lo, uint64 hi, uint8 *out)
{
	uint8		l[NOTARY_HASH_LEN];
	uint8		r[NOTARY_HASH_LEN];
	uint64		k;

	if (hi - lo == 1)
	{
		memcpy(out, leaves[lo], NOTARY_HASH_LEN);
		return;
	}
	k = split_point(hi - lo);
	subtree_hash(leaves, lo, lo + k, l);
	subtree_hash(leaves, lo + k, hi, r);
	hash_node(l, r, out);
}

/*
 * Audit path of leaf m among leaves[0, n) (entry hashes): writes the
 * sibling hashes bottom-up into path (room for 64), returns their count.
 */
int
merkle_path(const uint8 (*entry_hashes)[NOTARY_HASH_LEN], uint64 n, uint64 m,
			uint8 (*path)[NOTARY_HASH_LEN])
{
	uint8		(*leaves)[NOTARY_HASH_LEN] = palloc(sizeof(*leaves) * Max(n, 1));
	uint64		lo = 0,
				hi = n;
	int			depth = 0;
	uint8		stack[64][NOTARY_HASH_LEN];
	uint64		i;

	for (i = 0; i < n; i++)
		merkle_leaf(entry_hashes[i], leaves[i]);
	/* walk down, collecting siblings top-down */
	while (hi - lo > 1)
	{
		uint64		k = split_point(hi - lo);

		if (m < lo + k)
		{
			subtree_hash(leaves, lo + k, hi, stack[depth++]);
			hi = lo + k;
		}
		else
		{
			subtree_hash(leaves, lo, lo + k, stack[depth++]);
			lo = lo + k;
		}
	}
	for (i = 0; i < (uint64) depth; i++)
		memcpy(path[i], stack[depth - 1 - i], NOTARY_HASH_LEN);
	pfree(leaves);
	return depth;
}
