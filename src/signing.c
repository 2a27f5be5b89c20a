/*-------------------------------------------------------------------------
 *
 * signing.c
 *		The checkpoint signing key: an Ed25519 key pair in a file outside
 *		SQL, created on first use.
 *
 * The file (notary.signing_key_file, superuser-only; default
 * pg_notary_signing.key in the data directory) holds the 64-byte libsodium
 * secret key as 128 hex characters.  It is created with mode 0600 by the
 * server's OS user and refused if group or others can read it.  The secret
 * is read for each signature and wiped (sodium_memzero) right after; it is
 * never logged, returned or exported.  A superuser can still read any file
 * the server can (pg_read_binary_file): docs/threat-model.md says what the
 * key does and does not protect.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_notary.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "miscadmin.h"
#include "storage/fd.h"

char	   *notary_signing_key_file = NULL;

#define KEY_HEX_LEN (crypto_sign_SECRETKEYBYTES * 2)

static char *
key_path(void)
{
	if (notary_signing_key_file == NULL || notary_signing_key_file[0] == '\0')
		return psprintf("%s/pg_notary_signing.key", DataDir);
	if (is_absolute_path(notary_signing_key_file))
		return pstrdup(notary_signing_key_file);
	return psprintf("%s/%s", DataDir, notary_signing_key_file);
}

/* Create a new key file; false if it already exists. */
static bool
create_key_file(const char *path)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	char		hex[KEY_HEX_LEN + 2];
	int			fd;
	bool		ok;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
	if (fd < 0)
	{
		if (errno == EEXIST)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create the pg_notary signing key file \"%s\": %m", path)));
	}
	crypto_sign_keypair(pk, sk);
	sodium_bin2hex(hex, sizeof(hex), sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	hex[KEY_HEX_LEN] = '\n';
	ok = (write(fd, hex, KEY_HEX_LEN + 1) == KEY_HEX_LEN + 1) && fsync(fd) == 0;
	sodium_memzero(hex, sizeof(hex));
	close(fd);
	if (!ok)
	{
		unlink(path);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write the pg_notary signing key file \"%s\"", path)));
	}
	ereport(LOG,
			(errmsg("pg_notary created a new checkpoint signing key in \"%s\"", path)));
	return true;
}

/*
 * Load the secret key into sk (crypto_sign_SECRETKEYBYTES), creating the
 * file first if allowed and missing.  The caller wipes sk.
 */
static void
load_secret_key(unsigned char *sk, bool create)
{
	char	   *path = key_path();
	char		hex[KEY_HEX_LEN + 8];
	struct stat st;
	int			fd;
	ssize_t		n;
	size_t		binlen = 0;

	if (create)
		(void) create_key_file(path);
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open the pg_notary signing key file \"%s\": %m", path),
				 errhint("The first notary.checkpoint() creates the key; notary.signing_key_file sets its path. To verify without it, pass the public key you trust.")));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		(st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the pg_notary signing key file \"%s\" must be a regular file readable only by its owner", path),
				 errhint("chmod 600 the file.")));
	}
	n = read(fd, hex, sizeof(hex) - 1);
	close(fd);
	if (n < KEY_HEX_LEN ||
		sodium_hex2bin(sk, crypto_sign_SECRETKEYBYTES, hex, KEY_HEX_LEN,
					   NULL, &binlen, NULL) != 0 ||
		binlen != crypto_sign_SECRETKEYBYTES)
	{
		sodium_memzero(hex, sizeof(hex));
		sodium_memzero(sk, crypto_sign_SECRETKEYBYTES);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the pg_notary signing key file \"%s\" is malformed", path),
				 errdetail("It must hold a 64-byte Ed25519 secret key as 128 hexadecimal characters.")));
	}
	sodium_memzero(hex, sizeof(hex));
}

/* Is there a key file yet?  (The first checkpoint creates it.) */
bool
signing_key_exists(void)
{
	struct stat st;

	return stat(key_path(), &st) == 0;
}

/* The key id: first 8 bytes of H(tag("key") || public key), in hex. */
char *
signing_key_id(const unsigned char *pk)
{
	uint8		h[NOTARY_HASH_LEN];

	format_key_digest(pk, crypto_sign_PUBLICKEYBYTES, h);
	return format_hex(h, 8);
}

/* The public key (creating the key pair on first use). */
void
signing_public_key(unsigned char *pk, bool create)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	load_secret_key(sk, create);
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_memzero(sk, sizeof(sk));
}

/* Sign a digest; returns the public key too. */
void
signing_sign(const uint8 *digest, int len, unsigned char *sig, unsigned char *pk)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	load_secret_key(sk, true);
	crypto_sign_detached(sig, NULL, digest, len, sk);
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_memzero(sk, sizeof(sk));
}
