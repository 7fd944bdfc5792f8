/*
 * base64.c - RFC 4648 §4 base64, strict or whitespace-tolerant (DKIM).
 *
 * Decoding is exact: padding must be complete and only at the end, and the
 * bits a final partial group leaves over must be zero (RFC 4648 §3.5), so
 * one encoded value has one spelling.
 */
#include <herald/base64.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 0..63: value; 64: '='; 65: whitespace; 66: invalid. */
enum { B64_PAD = 64, B64_WSP = 65, B64_BAD = 66 };

/* The class of every byte: 0..63 its value, or B64_PAD, B64_WSP, B64_BAD.
 * A table, because decoding is on the path of every DKIM verification. */
#define PD B64_PAD
#define WS B64_WSP
#define XX B64_BAD
static const uint8_t b64_table[256] = {
    XX, XX, XX, XX, XX, XX, XX, XX, XX, WS, WS, XX, XX, WS, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    WS, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, 62, XX, XX, XX, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, XX, XX, XX, PD, XX, XX,
    XX, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, XX, XX, XX, XX, XX,
    XX, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
    XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX, XX,
};
#undef PD
#undef WS
#undef XX

int hd_b64_decode(hd_slice in, hd_b64_mode mode, hd_buf *out, hd_err *err)
{
    uint32_t acc = 0;
    size_t ndata = 0, npad = 0;
    size_t start_len = out->len;
    int rc;

    if ((rc = hd_buf_reserve(out, hd_b64_decoded_max(in.len))) != 0)
        return hd_err_set(err, rc, "base64: %zu bytes do not fit", in.len);

    for (size_t i = 0; i < in.len; i++) {
        /* fast path: four alphabet characters at a group boundary */
        if (ndata % 4 == 0 && npad == 0 && i + 4 <= in.len) {
            uint8_t a = b64_table[in.p[i]], b = b64_table[in.p[i + 1]],
                    c = b64_table[in.p[i + 2]], d = b64_table[in.p[i + 3]];
            if ((a | b | c | d) < 64) {
                uint32_t g = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
                out->p[out->len++] = (uint8_t)(g >> 16);
                out->p[out->len++] = (uint8_t)(g >> 8);
                out->p[out->len++] = (uint8_t)g;
                ndata += 4;
                i += 3;
                continue;
            }
        }
        uint8_t v = b64_table[in.p[i]];
        if (v == B64_WSP && mode == HD_B64_IGNORE_WSP)
            continue;
        if (v == B64_BAD || v == B64_WSP) {
            out->len = start_len;
            return hd_err_set(err, HD_ESYNTAX,
                              "base64: invalid character 0x%02x at offset %zu",
                              in.p[i], i);
        }
        if (v == B64_PAD) {
            if (++npad > 2 || ndata % 4 < 2) {
                out->len = start_len;
                return hd_err_set(err, HD_ESYNTAX,
                                  "base64: misplaced '=' at offset %zu", i);
            }
            continue;
        }
        if (npad > 0) {
            out->len = start_len;
            return hd_err_set(err, HD_ESYNTAX,
                              "base64: data after '=' padding at offset %zu", i);
        }
        acc = (acc << 6) | v;
        if (++ndata % 4 == 0) {
            out->p[out->len++] = (uint8_t)(acc >> 16);
            out->p[out->len++] = (uint8_t)(acc >> 8);
            out->p[out->len++] = (uint8_t)acc;
            acc = 0;
        }
    }

    /* RFC 4648 §3.2: a final partial group is completed with '=' */
    size_t rem = ndata % 4;
    const char *why = NULL;
    if (rem == 1)
        why = "truncated input (a lone final character)";
    else if (rem != 0 && rem + npad != 4)
        why = npad ? "incomplete '=' padding at end" : "missing '=' padding at end";
    else if ((rem == 2 && (acc & 0xf)) || (rem == 3 && (acc & 0x3)))
        why = "non-zero padding bits in the final group"; /* RFC 4648 §3.5 */
    if (why != NULL) {
        out->len = start_len;
        return hd_err_set(err, HD_ESYNTAX, "base64: %s", why);
    }
    if (rem == 2) {
        out->p[out->len++] = (uint8_t)(acc >> 4);
    } else if (rem == 3) {
        out->p[out->len++] = (uint8_t)(acc >> 10);
        out->p[out->len++] = (uint8_t)(acc >> 2);
    }
    out->p[out->len] = '\0';
    return 0;
}

int hd_b64_encode(hd_slice in, hd_buf *out)
{
    int rc = hd_buf_reserve(out, hd_b64_encoded_len(in.len));
    if (rc != 0)
        return rc;
    uint8_t *o = out->p + out->len;
    size_t i = 0;
    for (; i + 3 <= in.len; i += 3) {
        uint32_t v = (uint32_t)in.p[i] << 16 | (uint32_t)in.p[i + 1] << 8 | in.p[i + 2];
        *o++ = (uint8_t)b64_alphabet[v >> 18];
        *o++ = (uint8_t)b64_alphabet[(v >> 12) & 63];
        *o++ = (uint8_t)b64_alphabet[(v >> 6) & 63];
        *o++ = (uint8_t)b64_alphabet[v & 63];
    }
    if (i < in.len) {
        uint32_t v = (uint32_t)in.p[i] << 16;
        if (i + 1 < in.len)
            v |= (uint32_t)in.p[i + 1] << 8;
        *o++ = (uint8_t)b64_alphabet[v >> 18];
        *o++ = (uint8_t)b64_alphabet[(v >> 12) & 63];
        *o++ = i + 1 < in.len ? (uint8_t)b64_alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    out->len = (size_t)(o - out->p);
    out->p[out->len] = '\0';
    return 0;
}
