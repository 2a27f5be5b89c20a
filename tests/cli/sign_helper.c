/*
 * sign_helper.c -- Ed25519 for the notary-verify tests (Python's standard
 * library has none).  Only libsodium; nothing of pg_notary or the CLI.
 *
 *	sign_helper keypair SEEDHEX        -> "SECRETHEX PUBLICHEX" (32-byte seed)
 *	sign_helper public SECRETHEX       -> PUBLICHEX (64-byte libsodium secret key)
 *	sign_helper sign SECRETHEX MSGHEX  -> SIGNATUREHEX (detached)
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

static int
unhex(const char *hex, unsigned char *out, size_t len)
{
	size_t		got;

	if (strlen(hex) != 2 * len ||
		sodium_hex2bin(out, len, hex, strlen(hex), NULL, &got, NULL) != 0 || got != len)
		return -1;
	return 0;
}

static void
puthex(const unsigned char *b, size_t len)
{
	char		buf[2 * 4096 + 1];

	fputs(sodium_bin2hex(buf, sizeof(buf), b, len), stdout);
}

int
main(int argc, char **argv)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];

	if (sodium_init() < 0)
		return 2;
	if (argc == 3 && strcmp(argv[1], "keypair") == 0)
	{
		unsigned char seed[crypto_sign_SEEDBYTES];

		if (unhex(argv[2], seed, sizeof(seed)) != 0)
			return 2;
		crypto_sign_seed_keypair(pk, sk, seed);
		puthex(sk, sizeof(sk));
		putchar(' ');
		puthex(pk, sizeof(pk));
		putchar('\n');
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "public") == 0)
	{
		if (unhex(argv[2], sk, sizeof(sk)) != 0)
			return 2;
		crypto_sign_ed25519_sk_to_pk(pk, sk);
		puthex(pk, sizeof(pk));
		putchar('\n');
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "sign") == 0)
	{
		unsigned char msg[4096];
		unsigned char sig[crypto_sign_BYTES];
		size_t		len = strlen(argv[3]) / 2;

		if (len > sizeof(msg) || unhex(argv[2], sk, sizeof(sk)) != 0 ||
			unhex(argv[3], msg, len) != 0)
			return 2;
		crypto_sign_detached(sig, NULL, msg, len, sk);
		puthex(sig, sizeof(sig));
		putchar('\n');
		return 0;
	}
	fprintf(stderr, "usage: sign_helper keypair SEEDHEX | public SECRETHEX | sign SECRETHEX MSGHEX\n");
	return 2;
}
