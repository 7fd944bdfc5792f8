/*
 * passwd.c - scrypt password hashes in a self-describing string
 * ($scrypt$ln=L,r=R,p=P$salt$hash), through OpenSSL's EVP_KDF.
 *
 * The stored string is parsed strictly with a cursor and its cost bounded
 * before anything is allocated (see herald/passwd.h). The derived key is
 * compared in constant time and wiped; passwords never appear in error
 * messages.
 */
#include <herald/passwd.h>

#include <herald/base64.h>
#include <herald/buf.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

#define PREFIX "$scrypt$"
/* Encoded sizes (RFC 4648 §4, padded) of the salt and the hash. */
#define SALT_B64_LEN 24
#define KEY_B64_LEN 44

/* Parameters -------------------------------------------------------------- */

static int check_params(const hd_passwd_params *p, hd_err *err)
{
    if (p->ln < 1 || p->r < 1 || p->p < 1)
        return hd_err_set(err, HD_EINVAL, "scrypt parameters must be at least 1 (ln=%u r=%u p=%u)",
                          p->ln, p->r, p->p);
    if (p->ln > HD_PASSWD_MAX_LN || p->r > HD_PASSWD_MAX_R || p->p > HD_PASSWD_MAX_P)
        return hd_err_set(err, HD_ELIMIT,
                          "scrypt parameters ln=%u r=%u p=%u exceed the bounds ln<=%d r<=%d p<=%d",
                          p->ln, p->r, p->p, HD_PASSWD_MAX_LN, HD_PASSWD_MAX_R, HD_PASSWD_MAX_P);
    /* RFC 7914 §2: scrypt's working memory is 128 * r * N bytes. */
    uint64_t mem = 128ull * p->r << p->ln;
    if (mem > HD_PASSWD_MAX_MEM)
        return hd_err_set(err, HD_ELIMIT,
                          "scrypt parameters ln=%u r=%u need %llu MiB, more than the %u MiB bound",
                          p->ln, p->r, (unsigned long long)(mem >> 20), HD_PASSWD_MAX_MEM >> 20);
    return 0;
}

static int check_password(const char *password, size_t *len, hd_err *err)
{
    *len = 0;
    if (password == NULL)
        return hd_err_set(err, HD_EINVAL, "no password given");
    *len = strnlen(password, HD_PASSWD_MAX_LEN + 1);
    if (*len > HD_PASSWD_MAX_LEN)
        return hd_err_set(err, HD_ELIMIT, "password longer than %d bytes", HD_PASSWD_MAX_LEN);
    return 0;
}

/* scrypt(password, salt) with params into key[HD_PASSWD_KEY_LEN]. */
static int derive(const char *password, size_t len, const uint8_t *salt,
                  const hd_passwd_params *p, uint8_t *key, hd_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (ctx == NULL)
        return hd_err_set(err, HD_ECRYPTO, "scrypt is not available in this OpenSSL");
    uint64_t n = 1ull << p->ln;
    uint32_t r = p->r, par = p->p;
    /* our own bound is the real one; OpenSSL's ceiling only needs to let
     * it through (its accounting adds the p*128*r block buffer) */
    uint64_t maxmem = 2ull * HD_PASSWD_MAX_MEM;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, HD_PASSWD_SALT_LEN),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &par),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, key, HD_PASSWD_KEY_LEN, params);
    EVP_KDF_CTX_free(ctx);
    if (ok != 1) {
        OPENSSL_cleanse(key, HD_PASSWD_KEY_LEN);
        return hd_err_set(err, HD_ECRYPTO, "scrypt failed (ln=%u r=%u p=%u)", p->ln, p->r, p->p);
    }
    return 0;
}

/* Hashing ------------------------------------------------------------------ */

static int format(const hd_passwd_params *p, const uint8_t *salt, const uint8_t *key, char *out,
                  size_t out_size, hd_err *err)
{
    hd_buf b;
    hd_buf_init(&b, HD_PASSWD_HASH_MAX);
    int rc = hd_buf_printf(&b, PREFIX "ln=%u,r=%u,p=%u$", p->ln, p->r, p->p);
    if (rc == 0)
        rc = hd_b64_encode(hd_slice_make(salt, HD_PASSWD_SALT_LEN), &b);
    if (rc == 0)
        rc = hd_buf_append_byte(&b, '$');
    if (rc == 0)
        rc = hd_b64_encode(hd_slice_make(key, HD_PASSWD_KEY_LEN), &b);
    if (rc == 0 && b.len >= out_size)
        rc = HD_ELIMIT;
    if (rc == 0)
        memcpy(out, b.p, b.len + 1);
    hd_buf_free(&b);
    if (rc != 0)
        return hd_err_set(err, rc, "password hash: no room for the %d-byte string",
                          HD_PASSWD_HASH_MAX);
    return 0;
}

int hd_passwd_hash_params(const char *password, const hd_passwd_params *params, char *out,
                          size_t out_size, hd_err *err)
{
    size_t len;
    int rc;
    if (out_size > 0)
        out[0] = '\0';
    if ((rc = check_password(password, &len, err)) != 0 || (rc = check_params(params, err)) != 0)
        return rc;
    uint8_t salt[HD_PASSWD_SALT_LEN], key[HD_PASSWD_KEY_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1)
        return hd_err_set(err, HD_ECRYPTO, "no random bytes for the salt");
    rc = derive(password, len, salt, params, key, err);
    if (rc == 0)
        rc = format(params, salt, key, out, out_size, err);
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

int hd_passwd_hash(const char *password, char *out, size_t out_size, hd_err *err)
{
    hd_passwd_params p = {HD_PASSWD_DEFAULT_LN, HD_PASSWD_DEFAULT_R, HD_PASSWD_DEFAULT_P};
    return hd_passwd_hash_params(password, &p, out, out_size, err);
}

/* Parsing ------------------------------------------------------------------ */

static bool take_lit(hd_slice *s, const char *lit)
{
    size_t n = strlen(lit);
    if (s->len < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p += n;
    s->len -= n;
    return true;
}

/* A positive decimal of 1..3 digits without a leading zero, after "name=". */
static int take_num(hd_slice *s, const char *name, unsigned *out, hd_err *err)
{
    if (!take_lit(s, name))
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: expected \"%s\"", name);
    size_t i = 0;
    unsigned v = 0;
    while (i < s->len && s->p[i] >= '0' && s->p[i] <= '9' && i < 4)
        v = v * 10 + (unsigned)(s->p[i++] - '0');
    if (i == 0 || i > 3 || (i > 1 && s->p[0] == '0') || v == 0)
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: bad number after \"%s\"", name);
    s->p += i;
    s->len -= i;
    *out = v;
    return 0;
}

/* Exactly enc_len base64 characters, up to the next '$' or the end,
 * decoding to exactly len bytes. */
static int take_b64(hd_slice *s, size_t enc_len, uint8_t *dst, size_t len, const char *what,
                    hd_err *err)
{
    size_t n = 0;
    while (n < s->len && s->p[n] != '$')
        n++;
    if (n != enc_len)
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: the %s is %zu characters, not %zu",
                          what, n, enc_len);
    hd_buf b;
    hd_buf_init(&b, hd_b64_decoded_max(enc_len));
    int rc = hd_b64_decode(hd_slice_make(s->p, n), HD_B64_STRICT, &b, NULL);
    if (rc == 0 && b.len != len)
        rc = HD_ESYNTAX;
    if (rc == 0)
        memcpy(dst, b.p, len);
    hd_buf_free(&b);
    if (rc != 0)
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: the %s is not base64 of %zu bytes",
                          what, len);
    s->p += n;
    s->len -= n;
    return 0;
}

int hd_passwd_parse(const char *stored, hd_passwd_params *params,
                    uint8_t salt[HD_PASSWD_SALT_LEN], uint8_t key[HD_PASSWD_KEY_LEN],
                    hd_err *err)
{
    if (stored == NULL)
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: none");
    hd_slice s = hd_slice_make(stored, strnlen(stored, HD_PASSWD_HASH_MAX + 1));
    if (s.len > HD_PASSWD_HASH_MAX)
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: longer than %d bytes",
                          HD_PASSWD_HASH_MAX);
    if (!take_lit(&s, PREFIX))
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: does not start with \"" PREFIX
                                           "\"");
    int rc;
    if ((rc = take_num(&s, "ln=", &params->ln, err)) != 0 || !take_lit(&s, ",") ||
        (rc = take_num(&s, "r=", &params->r, err)) != 0 || !take_lit(&s, ",") ||
        (rc = take_num(&s, "p=", &params->p, err)) != 0 || !take_lit(&s, "$"))
        return rc ? rc
                  : hd_err_set(err, HD_ESYNTAX, "stored password hash: parameters are not "
                                                "\"ln=L,r=R,p=P$\"");
    if ((rc = take_b64(&s, SALT_B64_LEN, salt, HD_PASSWD_SALT_LEN, "salt", err)) != 0)
        return rc;
    if (!take_lit(&s, "$"))
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: no '$' after the salt");
    if ((rc = take_b64(&s, KEY_B64_LEN, key, HD_PASSWD_KEY_LEN, "hash", err)) != 0)
        return rc;
    if (s.len != 0)
        return hd_err_set(err, HD_ESYNTAX, "stored password hash: text after the hash");
    return check_params(params, err);
}

int hd_passwd_verify(const char *password, const char *stored, bool *ok, hd_err *err)
{
    *ok = false;
    size_t len;
    int rc = check_password(password, &len, err);
    if (rc != 0)
        return rc;
    hd_passwd_params p;
    uint8_t salt[HD_PASSWD_SALT_LEN], want[HD_PASSWD_KEY_LEN], got[HD_PASSWD_KEY_LEN];
    if ((rc = hd_passwd_parse(stored, &p, salt, want, err)) != 0)
        return rc;
    if ((rc = derive(password, len, salt, &p, got, err)) != 0)
        return rc;
    *ok = CRYPTO_memcmp(got, want, sizeof got) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return 0;
}

/* Generated passwords -------------------------------------------------------- */

/* Letters and digits without 0/O and 1/l/I, which read alike. */
static const char gen_alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

int hd_passwd_generate(char *out, size_t out_size, size_t len, hd_err *err)
{
    const unsigned n = sizeof gen_alphabet - 1;
    /* reject bytes past the largest multiple of n, so each character is
     * equally likely */
    const unsigned limit = 256 / n * n;
    if (out_size <= len)
        return hd_err_set(err, HD_ELIMIT, "no room for a %zu-character password", len);
    size_t i = 0;
    uint8_t rnd[64];
    while (i < len) {
        if (RAND_bytes(rnd, sizeof rnd) != 1) {
            OPENSSL_cleanse(out, out_size);
            return hd_err_set(err, HD_ECRYPTO, "no random bytes for a password");
        }
        for (size_t j = 0; j < sizeof rnd && i < len; j++)
            if (rnd[j] < limit)
                out[i++] = gen_alphabet[rnd[j] % n];
    }
    out[len] = '\0';
    OPENSSL_cleanse(rnd, sizeof rnd);
    return 0;
}
