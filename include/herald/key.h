/*
 * herald/key.h - signing and verification keys (RSA and Ed25519) through
 * OpenSSL EVP.
 *
 * All signing goes through hd_key_sign_digest(), so the process that holds
 * private keys can later be split from the one that talks to the network
 * (docs/design.md, "Keys stay put"). An hd_key keeps its OpenSSL contexts initialised between
 * calls (that is where the speed is); it is therefore not to be used from
 * two threads at once.
 */
#ifndef HERALD_KEY_H
#define HERALD_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

typedef enum hd_key_type {
    HD_KEY_RSA,
    HD_KEY_ED25519,
} hd_key_type;

typedef struct hd_key hd_key; /* opaque */

/* Load a private key file: PEM (PKCS#1 or PKCS#8, RSA or Ed25519), or a
 * file holding only the base64 of a raw 32-byte Ed25519 seed (RFC 8463
 * Appendix A, dkimpy's format). Errors name the file and say why: missing,
 * unreadable, not a private key, an unsupported type. */
int hd_key_load_private(const char *path, hd_key **out, hd_err *err);
/* The same from bytes in memory; name is used in error messages. */
int hd_key_parse_private(hd_slice pem, const char *name, hd_key **out, hd_err *err);

/* Generate: RSA with bits in 1024..8192, or Ed25519 (bits ignored). */
int hd_key_generate(hd_key_type type, unsigned bits, hd_key **out, hd_err *err);

/* Write the private key as PKCS#8 PEM to path, created with mode 0600;
 * refuses to overwrite an existing file. */
int hd_key_write_private(const hd_key *key, const char *path, hd_err *err);

/* Public key from a DKIM key record's p= bytes (RFC 6376 §3.6.1, RFC 8463
 * §4.2): RSA as SubjectPublicKeyInfo DER, or a bare PKCS#1 RSAPublicKey,
 * which some signers publish; Ed25519 as the raw 32 bytes. */
int hd_key_from_public(hd_key_type type, hd_slice der, hd_key **out, hd_err *err);

/* The public key in the form a DKIM p= tag carries (see above; RSA as
 * SubjectPublicKeyInfo), appended to out. */
int hd_key_public_bytes(const hd_key *key, hd_buf *out, hd_err *err);

void hd_key_free(hd_key *key);

hd_key_type hd_key_get_type(const hd_key *key);
unsigned hd_key_bits(const hd_key *key);   /* RSA modulus bits; 256 for Ed25519 */
bool hd_key_is_private(const hd_key *key);
const char *hd_key_type_name(hd_key_type type); /* "rsa", "ed25519" */

/* Sign a SHA-256 digest: RSA PKCS#1 v1.5 with the SHA-256 DigestInfo
 * (RFC 6376 §3.3.1); Ed25519 PureEdDSA over the 32 digest bytes (RFC 8463
 * §3). The signature is appended to sig. */
int hd_key_sign_digest(hd_key *key, const uint8_t digest[32], hd_buf *sig, hd_err *err);
/* Verify; also for rsa-sha1 with a 20-byte digest when sha1 is true.
 * Returns 0 when the signature verifies, HD_ECRYPTO when it does not. */
int hd_key_verify_digest(hd_key *key, const uint8_t *digest, size_t digest_len,
                         bool sha1, hd_slice sig, hd_err *err);

#endif
