/*
 * key.c - RSA and Ed25519 keys for DKIM (and later ARC), on OpenSSL 3 EVP.
 *
 * An hd_key owns one EVP_PKEY and, created on first use and kept, the
 * contexts that sign or verify with it: initialising an EVP context costs
 * about as much as an Ed25519 signature, so reusing them is what lets
 * herald sign at the speed `openssl speed` reports.
 */
#include <herald/base64.h>
#include <herald/key.h>
#include <herald/limits.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

struct hd_key {
    EVP_PKEY *pkey;
    hd_key_type type;
    bool is_private;
    EVP_PKEY_CTX *rsa_sign;     /* RSA: sign init'ed, PKCS#1, SHA-256 */
    EVP_PKEY_CTX *rsa_verify;   /* RSA: verify init'ed, SHA-256 */
    EVP_PKEY_CTX *rsa_verify1;  /* RSA: verify init'ed, SHA-1 */
    EVP_MD_CTX *ed_sign;        /* Ed25519: DigestSign init'ed */
    EVP_MD_CTX *ed_verify;      /* Ed25519: DigestVerify init'ed */
};

/* The last OpenSSL error as text, for messages; clears the queue. */
static const char *ossl_reason(void)
{
    static __thread char text[160];
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "no detail from OpenSSL";
    ERR_error_string_n(e, text, sizeof text);
    return text;
}

static int key_wrap(EVP_PKEY *pkey, bool is_private, hd_key **out, hd_err *err)
{
    hd_key_type type;
    int id = EVP_PKEY_get_base_id(pkey);
    if (id == EVP_PKEY_RSA) {
        type = HD_KEY_RSA;
    } else if (id == EVP_PKEY_ED25519) {
        type = HD_KEY_ED25519;
    } else {
        EVP_PKEY_free(pkey);
        return hd_err_set(err, HD_EUNSUPPORTED,
                          "key type %s is neither RSA nor Ed25519",
                          OBJ_nid2sn(id));
    }
    if (type == HD_KEY_RSA) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits > HD_LIMIT_DKIM_RSA_MAX_BITS) {
            EVP_PKEY_free(pkey);
            return hd_err_set(err, HD_EKEY, "RSA key of %d bits is larger than %d",
                              bits, HD_LIMIT_DKIM_RSA_MAX_BITS);
        }
    }
    hd_key *k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    k->pkey = pkey;
    k->type = type;
    k->is_private = is_private;
    *out = k;
    return 0;
}

void hd_key_free(hd_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_CTX_free(key->rsa_sign);
    EVP_PKEY_CTX_free(key->rsa_verify);
    EVP_PKEY_CTX_free(key->rsa_verify1);
    EVP_MD_CTX_free(key->ed_sign);
    EVP_MD_CTX_free(key->ed_verify);
    EVP_PKEY_free(key->pkey);
    free(key);
}

hd_key_type hd_key_get_type(const hd_key *key) { return key->type; }
bool hd_key_is_private(const hd_key *key) { return key->is_private; }

unsigned hd_key_bits(const hd_key *key)
{
    int bits = EVP_PKEY_get_bits(key->pkey);
    return bits > 0 ? (unsigned)bits : 0;
}

const char *hd_key_type_name(hd_key_type type)
{
    return type == HD_KEY_RSA ? "rsa" : "ed25519";
}

/* Never prompt for a passphrase on the terminal: an encrypted key is an
 * error the operator must fix, not a question in the middle of a daemon. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* A file of only base64 text (and whitespace) decoding to 32 bytes: the
 * raw Ed25519 seed form of RFC 8463 Appendix A. */
static int parse_raw_seed(hd_slice text, EVP_PKEY **pkey)
{
    hd_buf seed;
    hd_buf_init(&seed, 64);
    int rc = hd_b64_decode(hd_slice_trim_wsp(text), HD_B64_IGNORE_WSP, &seed, NULL);
    if (rc == 0 && seed.len == 32)
        *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed.p, 32);
    if (seed.p != NULL) /* all of it: a failed decode resets len, not the bytes */
        OPENSSL_cleanse(seed.p, seed.cap);
    hd_buf_free(&seed);
    return *pkey != NULL ? 0 : -1;
}

int hd_key_parse_private(hd_slice pem, const char *name, hd_key **out, hd_err *err)
{
    EVP_PKEY *pkey = NULL;
    if (pem.len > HD_LIMIT_KEY_FILE_BYTES)
        return hd_err_set(err, HD_EKEY, "%s: too large to be a private key", name);
    if (hd_slice_find(pem, hd_slice_cstr("-----BEGIN")) == (size_t)-1) {
        if (parse_raw_seed(pem, &pkey) != 0)
            return hd_err_set(err, HD_EKEY,
                              "%s: not a PEM private key nor a base64 Ed25519 seed", name);
        return key_wrap(pkey, true, out, err);
    }
    BIO *bio = BIO_new_mem_buf(pem.p, (int)pem.len);
    if (bio == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        const char *why = ossl_reason();
        if (hd_slice_find(pem, hd_slice_cstr("PUBLIC KEY")) != (size_t)-1)
            return hd_err_set(err, HD_EKEY, "%s: is a public key, a private key is needed", name);
        if (hd_slice_find(pem, hd_slice_cstr("ENCRYPTED")) != (size_t)-1)
            return hd_err_set(err, HD_EKEY, "%s: is encrypted; give an unencrypted key (mode 0600)", name);
        return hd_err_set(err, HD_EKEY, "%s: not a usable PEM private key (%s)", name, why);
    }
    int rc = key_wrap(pkey, true, out, err);
    if (rc != 0)
        hd_err_prefix(err, "%s: ", name);
    return rc;
}

int hd_key_load_private(const char *path, hd_key **out, hd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return hd_err_set(err, HD_EIO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t buf[HD_LIMIT_KEY_FILE_BYTES + 1];
    size_t n = fread(buf, 1, sizeof buf, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error)
        return hd_err_set(err, HD_EIO, "%s: cannot read", path);
    int rc = hd_key_parse_private(hd_slice_make(buf, n), path, out, err);
    OPENSSL_cleanse(buf, n);
    return rc;
}

int hd_key_generate(hd_key_type type, unsigned bits, hd_key **out, hd_err *err)
{
    EVP_PKEY *pkey;
    if (type == HD_KEY_RSA) {
        if (bits < HD_LIMIT_DKIM_RSA_MIN_BITS || bits > HD_LIMIT_DKIM_RSA_MAX_BITS)
            return hd_err_set(err, HD_EINVAL, "RSA key size %u is outside %d..%d bits",
                              bits, HD_LIMIT_DKIM_RSA_MIN_BITS, HD_LIMIT_DKIM_RSA_MAX_BITS);
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    } else {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    }
    if (pkey == NULL)
        return hd_err_set(err, HD_ECRYPTO, "key generation failed: %s", ossl_reason());
    return key_wrap(pkey, true, out, err);
}

int hd_key_write_private(const hd_key *key, const char *path, hd_err *err)
{
    if (!key->is_private)
        return hd_err_set(err, HD_EINVAL, "%s: no private key to write", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: cannot create: %s", path, strerror(errno));
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio != NULL && PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL);
    char *data = NULL;
    long len = ok ? BIO_get_mem_data(bio, &data) : 0;
    ok = ok && len > 0 && write(fd, data, (size_t)len) == (ssize_t)len && fsync(fd) == 0;
    int saved = errno;
    BIO_free(bio);
    if (close(fd) != 0)
        ok = 0;
    if (!ok) {
        unlink(path);
        return hd_err_set(err, HD_EIO, "%s: cannot write the key: %s", path, strerror(saved));
    }
    return 0;
}

int hd_key_from_public(hd_key_type type, hd_slice der, hd_key **out, hd_err *err)
{
    EVP_PKEY *pkey = NULL;
    if (type == HD_KEY_ED25519) {
        /* RFC 8463 §4.2: p= is the raw 32-byte public key */
        if (der.len != 32)
            return hd_err_set(err, HD_EKEY,
                              "Ed25519 public key is %zu bytes, RFC 8463 wants 32", der.len);
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der.p, 32);
    } else {
        const unsigned char *p = der.p;
        pkey = d2i_PUBKEY(NULL, &p, (long)der.len);
        if (pkey == NULL || p != der.p + der.len) {
            EVP_PKEY_free(pkey);
            ERR_clear_error();
            p = der.p; /* bare PKCS#1 RSAPublicKey */
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)der.len);
            if (pkey != NULL && p != der.p + der.len) {
                EVP_PKEY_free(pkey);
                pkey = NULL;
            }
        }
    }
    if (pkey == NULL) {
        ERR_clear_error();
        return hd_err_set(err, HD_EKEY, "p= does not hold a valid %s public key",
                          type == HD_KEY_RSA ? "RSA" : "Ed25519");
    }
    int id = EVP_PKEY_get_base_id(pkey);
    if ((type == HD_KEY_RSA) != (id == EVP_PKEY_RSA)) {
        EVP_PKEY_free(pkey);
        return hd_err_set(err, HD_EKEY, "p= holds a %s key, the record says k=%s",
                          OBJ_nid2sn(id), hd_key_type_name(type));
    }
    return key_wrap(pkey, false, out, err);
}

int hd_key_public_bytes(const hd_key *key, hd_buf *out, hd_err *err)
{
    if (key->type == HD_KEY_ED25519) {
        size_t len = 32;
        int rc = hd_buf_reserve(out, 32);
        if (rc != 0)
            return hd_err_set(err, rc, NULL);
        if (EVP_PKEY_get_raw_public_key(key->pkey, out->p + out->len, &len) != 1 || len != 32)
            return hd_err_set(err, HD_ECRYPTO, "cannot export the Ed25519 public key");
        out->len += 32;
        return 0;
    }
    int len = i2d_PUBKEY(key->pkey, NULL);
    if (len <= 0)
        return hd_err_set(err, HD_ECRYPTO, "cannot export the RSA public key");
    int rc = hd_buf_reserve(out, (size_t)len);
    if (rc != 0)
        return hd_err_set(err, rc, NULL);
    unsigned char *p = out->p + out->len;
    i2d_PUBKEY(key->pkey, &p);
    out->len += (size_t)len;
    return 0;
}

static EVP_PKEY_CTX *rsa_ctx(EVP_PKEY *pkey, bool sign, const EVP_MD *md)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL)
        return NULL;
    int ok = (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static EVP_MD_CTX *ed_ctx(EVP_PKEY *pkey, bool sign)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return NULL;
    int ok = sign ? EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey)
                  : EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey);
    if (ok != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int hd_key_sign_digest(hd_key *key, const uint8_t digest[32], hd_buf *sig, hd_err *err)
{
    if (!key->is_private)
        return hd_err_set(err, HD_EINVAL, "signing needs a private key");
    size_t len = (size_t)EVP_PKEY_get_size(key->pkey);
    int rc = hd_buf_reserve(sig, len);
    if (rc != 0)
        return hd_err_set(err, rc, NULL);
    int ok;
    if (key->type == HD_KEY_RSA) {
        if (key->rsa_sign == NULL && (key->rsa_sign = rsa_ctx(key->pkey, true, EVP_sha256())) == NULL)
            return hd_err_set(err, HD_ECRYPTO, "RSA signing setup: %s", ossl_reason());
        ok = EVP_PKEY_sign(key->rsa_sign, sig->p + sig->len, &len, digest, 32);
    } else {
        if (key->ed_sign == NULL && (key->ed_sign = ed_ctx(key->pkey, true)) == NULL)
            return hd_err_set(err, HD_ECRYPTO, "Ed25519 signing setup: %s", ossl_reason());
        ok = EVP_DigestSign(key->ed_sign, sig->p + sig->len, &len, digest, 32);
    }
    if (ok != 1)
        return hd_err_set(err, HD_ECRYPTO, "signing failed: %s", ossl_reason());
    sig->len += len;
    return 0;
}

int hd_key_verify_digest(hd_key *key, const uint8_t *digest, size_t digest_len,
                         bool sha1, hd_slice sig, hd_err *err)
{
    int ok;
    if (key->type == HD_KEY_RSA) {
        EVP_PKEY_CTX **slot = sha1 ? &key->rsa_verify1 : &key->rsa_verify;
        if (*slot == NULL &&
            (*slot = rsa_ctx(key->pkey, false, sha1 ? EVP_sha1() : EVP_sha256())) == NULL)
            return hd_err_set(err, HD_ECRYPTO, "RSA verification setup: %s", ossl_reason());
        ok = EVP_PKEY_verify(*slot, sig.p, sig.len, digest, digest_len);
    } else {
        if (sha1)
            return hd_err_set(err, HD_EUNSUPPORTED, "Ed25519 is defined with SHA-256 only");
        if (key->ed_verify == NULL && (key->ed_verify = ed_ctx(key->pkey, false)) == NULL)
            return hd_err_set(err, HD_ECRYPTO, "Ed25519 verification setup: %s", ossl_reason());
        ok = EVP_DigestVerify(key->ed_verify, sig.p, sig.len, digest, digest_len);
    }
    if (ok != 1) {
        ERR_clear_error();
        return hd_err_set(err, HD_ECRYPTO, "the signature does not verify with this key");
    }
    return 0;
}
