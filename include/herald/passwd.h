/*
 * herald/passwd.h - password hashing for submission users (scrypt,
 * RFC 7914, through OpenSSL 3).
 *
 * A stored hash describes itself:
 *
 *     $scrypt$ln=15,r=8,p=1$<salt>$<hash>
 *
 * ln is log2 of scrypt's N, r its block size, p its parallelism; salt (16
 * random bytes) and hash (32 bytes) are RFC 4648 base64 with padding. The
 * parser is strict (one spelling per value, no leading zeros, nothing
 * before or after) and bounds what a stored string may ask for, so a hash
 * planted in the database cannot make a verification allocate gigabytes or
 * run for minutes: ln <= 20, r <= 16, p <= 4, and scrypt's working memory
 * (128 * r * N bytes) at most HD_PASSWD_MAX_MEM.
 */
#ifndef HERALD_PASSWD_H
#define HERALD_PASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/err.h>

/* Bounds on a stored string's parameters (see above). */
#define HD_PASSWD_MAX_LN 20
#define HD_PASSWD_MAX_R 16
#define HD_PASSWD_MAX_P 4
#define HD_PASSWD_MAX_MEM (256u * 1024 * 1024)

/* Default cost: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s), the cost OWASP
 * and RFC 7914 §2 suggest for interactive logins. */
#define HD_PASSWD_DEFAULT_LN 15
#define HD_PASSWD_DEFAULT_R 8
#define HD_PASSWD_DEFAULT_P 1

/* Longest password accepted (bytes); a longer one is HD_ELIMIT. */
#define HD_PASSWD_MAX_LEN 1024
/* Room for a stored string: fits hd_store_user.pwhash. */
#define HD_PASSWD_HASH_MAX 128

#define HD_PASSWD_SALT_LEN 16
#define HD_PASSWD_KEY_LEN 32

typedef struct hd_passwd_params {
    unsigned ln, r, p;
} hd_passwd_params;

/* Hash password with the default cost and a fresh random salt; the
 * stored string (NUL-terminated) goes to out. HD_ELIMIT when out_size is
 * too small (HD_PASSWD_HASH_MAX always suffices) or the password too long. */
int hd_passwd_hash(const char *password, char *out, size_t out_size, hd_err *err);
/* The same with a chosen cost (within the bounds above, else HD_EINVAL). */
int hd_passwd_hash_params(const char *password, const hd_passwd_params *params, char *out,
                          size_t out_size, hd_err *err);

/* Does password match stored? *ok says; the comparison takes the same
 * time whatever the bytes. A stored string that does not parse or asks
 * for more than the bounds is HD_ESYNTAX / HD_ELIMIT (and *ok false). */
int hd_passwd_verify(const char *password, const char *stored, bool *ok, hd_err *err);

/* Parse a stored string without hashing (tests, fuzzers, and to tell an
 * operator whether a hash uses an old cost). The salt and hash are
 * decoded into the caller's arrays. */
int hd_passwd_parse(const char *stored, hd_passwd_params *params,
                    uint8_t salt[HD_PASSWD_SALT_LEN], uint8_t key[HD_PASSWD_KEY_LEN],
                    hd_err *err);

/* A random password of len characters (letters and digits without the
 * look-alikes 0/O, 1/l/I), NUL-terminated in out (out_size > len). */
int hd_passwd_generate(char *out, size_t out_size, size_t len, hd_err *err);

#endif
