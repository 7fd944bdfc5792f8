/*
 * fuzz_verp.c - authenticated VERP local parts (hd_verp_decode) with a
 * fixed key.
 *
 * Byte 0 picks the mode:
 *   even: the rest, up to a NUL, is a local part to decode. Success must
 *         give an id of [0-9a-z]{1,40} that re-encodes to the same local
 *         part (case-insensitively); failure must be HD_ESYNTAX or
 *         HD_EINVAL. A per-recipient id ("r" + base 36) must print back
 *         the same.
 *   odd:  the rest is an id to encode. When it is valid, the local part
 *         of the address, with the case of its letters flipped by the
 *         input's bits, must decode to the same id; when it is not,
 *         encoding must fail with HD_EINVAL.
 */
#include <herald/verp.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[HD_VERP_KEY_LEN] = {
    0x6b, 0x65, 0x79, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x21,
    0x00, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0,
};

#define DOMAIN "bounce.example.com"

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool same_ignoring_case(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

static void check_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > HD_VERP_ID_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
            abort();
}

/* Encode id; the local part goes to lp. */
static void encode_ok(const char *id, char *lp, size_t size)
{
    char addr[128];
    if (hd_verp_encode(key, id, DOMAIN, addr, sizeof addr, NULL) != 0)
        abort();
    char *at = strchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : 0;
    /* RFC 5321 §4.5.3.1.1: at most 64 octets */
    if (!at || n > 64 || n >= size || strcmp(at + 1, DOMAIN) != 0)
        abort();
    memcpy(lp, addr, n);
    lp[n] = '\0';
}

static void decode_mode(const uint8_t *data, size_t size)
{
    char in[256], id[HD_VERP_ID_MAX + 1], lp[128];
    size_t n = size < sizeof in - 1 ? size : sizeof in - 1;
    memcpy(in, data, n);
    in[n] = '\0';
    int rc = hd_verp_decode(key, in, id, NULL);
    if (rc != 0) {
        if (rc != HD_ESYNTAX && rc != HD_EINVAL)
            abort();
        return;
    }
    check_id(id);
    encode_ok(id, lp, sizeof lp);
    if (strlen(lp) != strlen(in) || !same_ignoring_case(lp, in, strlen(in)))
        abort();
    /* a per-recipient id has one spelling */
    int64_t rcpt;
    char again[HD_VERP_ID_MAX + 1];
    if (hd_verp_rcpt_parse(id, &rcpt)) {
        hd_verp_rcpt_id(rcpt, again);
        if (rcpt <= 0 || strcmp(again, id) != 0)
            abort();
    }
}

static void encode_mode(const uint8_t *data, size_t size)
{
    char id[64], lp[128], back[HD_VERP_ID_MAX + 1];
    size_t n = size < sizeof id - 1 ? size : sizeof id - 1;
    memcpy(id, data, n);
    id[n] = '\0';
    char addr[128];
    int rc = hd_verp_encode(key, id, DOMAIN, addr, sizeof addr, NULL);
    if (rc != 0) {
        if (rc != HD_EINVAL)
            abort();
        return;
    }
    check_id(id);
    encode_ok(id, lp, sizeof lp);
    /* flip the case of letters by the input's bits */
    for (size_t i = 0; lp[i]; i++)
        if (lp[i] >= 'a' && lp[i] <= 'z' && size > 0 && (data[i % size] >> (i % 8)) & 1)
            lp[i] = (char)(lp[i] - 'a' + 'A');
    if (hd_verp_decode(key, lp, back, NULL) != 0 || strcmp(back, id) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        encode_mode(data + 1, size - 1);
    else
        decode_mode(data + 1, size - 1);
    return 0;
}
