/*
 * apikey.c - HTTP API keys (see herald/apikey.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <herald/apikey.h>

#define ID_BYTES 8
#define SECRET_BYTES 32
#define SECRET_CHARS 52          /* base32 of 256 bits, unpadded */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void base32(const uint8_t *p, size_t n, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | p[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

static int sha256_hex(const char *s, size_t n, char out[65])
{
    uint8_t md[32];
    unsigned len = 0;
    if (EVP_Digest(s, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
        return HD_ECRYPTO;
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* "*" or sending domains that exist. */
static int check_domains(hd_store *st, const char *domains, hd_err *err)
{
    if (strcmp(domains, "*") == 0)
        return 0;
    char one[HD_STORE_NAME_MAX];
    size_t n = 0;
    for (const char *p = domains; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        if (len >= sizeof one)
            return hd_err_set(err, HD_EINVAL, "a domain in the list is too long");
        memcpy(one, p, len);
        one[len] = '\0';
        hd_store_domain d;
        if (hd_store_domain_get(st, one, &d, err) != 0)
            return hd_err_set(err, HD_EINVAL, "%s is not a sending domain (herald domain add)", one);
        n++;
        p += len;
    }
    return n ? 0 : hd_err_set(err, HD_EINVAL, "no domains: give \"*\" or sending domains");
}

int hd_apikey_create(hd_store *st, const char *name, const char *domains, int64_t now,
                     char *token, size_t size, hd_err *err)
{
    if (!name_ok(name))
        return hd_err_set(err, HD_EINVAL, "key name \"%s\": use 1-64 of A-Z a-z 0-9 . _ -", name);
    if (size < HD_APIKEY_TOKEN_MAX)
        return hd_err_set(err, HD_EINVAL, "token buffer too small");
    int rc = check_domains(st, domains, err);
    if (rc)
        return rc;
    if (strlen(domains) >= sizeof ((hd_store_apikey *)0)->domains)
        return hd_err_set(err, HD_ELIMIT, "the domain list is too long");
    uint8_t id[ID_BYTES], secret[SECRET_BYTES];
    if (RAND_bytes(id, sizeof id) != 1 || RAND_bytes(secret, sizeof secret) != 1)
        return hd_err_set(err, HD_ECRYPTO, "no randomness for the key");
    hd_store_apikey k = {0};
    for (size_t i = 0; i < ID_BYTES; i++)
        snprintf(k.id + 2 * i, 3, "%02x", id[i]);
    char sec[SECRET_CHARS + 1];
    base32(secret, sizeof secret, sec);
    OPENSSL_cleanse(secret, sizeof secret);
    snprintf(k.name, sizeof k.name, "%s", name);
    snprintf(k.domains, sizeof k.domains, "%s", domains);
    k.created = now;
    if ((rc = sha256_hex(sec, strlen(sec), k.secret_hash)) != 0) {
        OPENSSL_cleanse(sec, sizeof sec);
        return hd_err_set(err, rc, "hashing the key failed");
    }
    rc = hd_store_apikey_add(st, &k, err);
    if (rc == 0)
        snprintf(token, size, "hk_%s_%s", k.id, sec);
    OPENSSL_cleanse(sec, sizeof sec);
    return rc;
}

int hd_apikey_verify(hd_store *st, const char *token, hd_store_apikey *out, hd_err *err)
{
    /* hk_ + 16 hex + _ + 52 base32 */
    size_t n = strlen(token);
    char id[2 * ID_BYTES + 1], hash[65];
    hd_err ignored = {0};
    if (n != 3 + 2 * ID_BYTES + 1 + SECRET_CHARS || strncmp(token, "hk_", 3) != 0 ||
        token[3 + 2 * ID_BYTES] != '_')
        return hd_err_set(err, HD_EINVAL, "invalid API key");
    memcpy(id, token + 3, 2 * ID_BYTES);
    id[2 * ID_BYTES] = '\0';
    const char *secret = token + 3 + 2 * ID_BYTES + 1;
    int rc = hd_store_apikey_get(st, id, out, &ignored);
    if (rc != 0 && rc != HD_ENOTFOUND) {    /* the database, not the key: try again */
        *err = ignored;
        return rc;
    }
    if (rc != 0 || out->revoked != 0 ||
        sha256_hex(secret, SECRET_CHARS, hash) != 0 ||
        CRYPTO_memcmp(hash, out->secret_hash, 64) != 0) {
        memset(out, 0, sizeof *out);
        return hd_err_set(err, HD_EINVAL, "invalid API key");
    }
    return 0;
}

bool hd_apikey_allows(const hd_store_apikey *k, const char *domain)
{
    size_t n = strlen(domain);
    for (const char *p = k->domains; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if ((len == 1 && *p == '*') || (len == n && len && strncasecmp(p, domain, n) == 0))
            return true;
        p += len;
    }
    return false;
}
