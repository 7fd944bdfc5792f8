/*
 * verp.c - authenticated VERP envelope senders (see herald/verp.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <herald/verp.h>

#define MAC_BYTES 10                  /* 80 bits: forging needs 2^80 tries */
#define MAC_CHARS 16                  /* base32 of 10 bytes */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static int mac_of(const uint8_t key[HD_VERP_KEY_LEN], const char *id, size_t id_len,
                  char out[MAC_CHARS + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (!HMAC(EVP_sha256(), key, HD_VERP_KEY_LEN, (const uint8_t *)id, id_len, md, &md_len))
        return HD_ECRYPTO;
    /* 10 bytes = 80 bits = 16 base32 characters, no padding */
    uint64_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < MAC_BYTES; i++) {
        acc = acc << 8 | md[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    out[o] = '\0';
    OPENSSL_cleanse(md, sizeof md);
    return 0;
}

static bool id_ok(const char *id, size_t len)
{
    if (len == 0 || len > HD_VERP_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)id[i]) || isdigit((unsigned char)id[i])))
            return false;
    return true;
}

int hd_verp_encode(const uint8_t key[HD_VERP_KEY_LEN], const char *id, const char *bounce_domain,
                   char *out, size_t size, hd_err *err)
{
    if (!id_ok(id, strlen(id)))
        return hd_err_set(err, HD_EINVAL, "VERP id \"%s\" is not 1-40 of [0-9a-z]", id);
    char mac[MAC_CHARS + 1];
    if (mac_of(key, id, strlen(id), mac))
        return hd_err_set(err, HD_ECRYPTO, "VERP: HMAC failed");
    int n = snprintf(out, size, "b-%s-%s@%s", id, mac, bounce_domain);
    if (n < 0 || (size_t)n >= size)
        return hd_err_set(err, HD_ELIMIT, "VERP address longer than %zu bytes", size);
    return 0;
}

int hd_verp_decode(const uint8_t key[HD_VERP_KEY_LEN], const char *local_part,
                   char id[HD_VERP_ID_MAX + 1], hd_err *err)
{
    char lp[2 + HD_VERP_ID_MAX + 1 + MAC_CHARS + 1];
    size_t n = strlen(local_part);
    if (n >= sizeof lp || n < 2 + 1 + 1 + MAC_CHARS)
        return hd_err_set(err, HD_ESYNTAX, "not a herald VERP address (length %zu)", n);
    for (size_t i = 0; i <= n; i++)
        lp[i] = (char)tolower((unsigned char)local_part[i]);
    const char *dash = strrchr(lp, '-');
    if (strncmp(lp, "b-", 2) != 0 || !dash || dash < lp + 3 || strlen(dash + 1) != MAC_CHARS)
        return hd_err_set(err, HD_ESYNTAX, "not a herald VERP address: expected b-<id>-<mac>");
    size_t id_len = (size_t)(dash - (lp + 2));
    if (!id_ok(lp + 2, id_len))
        return hd_err_set(err, HD_ESYNTAX, "not a herald VERP address: bad id");
    char mac[MAC_CHARS + 1];
    if (mac_of(key, lp + 2, id_len, mac))
        return hd_err_set(err, HD_ECRYPTO, "VERP: HMAC failed");
    if (CRYPTO_memcmp(mac, dash + 1, MAC_CHARS) != 0)
        return hd_err_set(err, HD_EINVAL, "VERP address with a wrong MAC (forged or damaged)");
    memcpy(id, lp + 2, id_len);
    id[id_len] = '\0';
    return 0;
}

void hd_verp_rcpt_id(int64_t rcpt, char out[HD_VERP_ID_MAX + 1])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char rev[16];
    size_t n = 0;
    uint64_t v = rcpt > 0 ? (uint64_t)rcpt : 0;
    do {
        rev[n++] = digits[v % 36];
        v /= 36;
    } while (v);
    out[0] = 'r';
    for (size_t i = 0; i < n; i++)
        out[1 + i] = rev[n - 1 - i];
    out[1 + n] = '\0';
}

bool hd_verp_rcpt_parse(const char *id, int64_t *rcpt)
{
    if (id[0] != 'r' || !id[1] || id[1] == '0' || strlen(id) > 14)   /* 36^13 > 2^63 */
        return false;
    uint64_t v = 0;
    for (const char *p = id + 1; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'z' ? *p - 'a' + 10 : -1;
        if (d < 0 || v > (UINT64_MAX - (uint64_t)d) / 36)
            return false;
        v = v * 36 + (uint64_t)d;
    }
    if (v == 0 || v > INT64_MAX)
        return false;
    *rcpt = (int64_t)v;
    return true;
}
