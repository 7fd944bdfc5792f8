/*
 * diagnose.c - what changed in a message after it was signed, for the
 * reason a receiver reads when a signature fails.
 *
 * Only changes that can be checked by hashing are claimed as found: the
 * signed body is looked for in the body as it is and decoded (a gateway
 * that re-encodes 8bit as quoted-printable), whole or followed by a
 * footer (a mailing list); header guesses (a Subject "[tag]", a rewritten
 * Content-Transfer-Encoding) are hashed by verify.c and tried against the
 * key there. The body search runs only for a body hash that failed (at
 * most HD_LIMIT_DKIM_DIAGNOSES a message); the header guesses are hashed
 * with the header, before the key is known (a digest of a few hundred
 * bytes each, only for a tagged Subject or a re-encoded body), and tried
 * against the key only when the signature failed: at most
 * DKIM_MAX_GUESSES public-key checks a failed signature. Pure: bytes in,
 * findings out.
 */
#include "auth/dkim/dkim_int.h"

#include <herald/limits.h>
#include <herald/mime.h>

#include <stdio.h>
#include <string.h>

/* The canonical body of body (CRLF line ends) into out. */
static int canon_copy(hd_dkim_canon bc, hd_slice body, hd_buf *out)
{
    dkim_body_sink sink = {NULL, UINT64_MAX, 0, 0, out};
    dkim_canon_body(bc, body, &sink);
    return sink.failed ? HD_ENOMEM : 0;
}

/* Where the signed body ends in canonical body c: at c.len when all of
 * c is it, at a line end within the last HD_LIMIT_DKIM_FOOTER_BYTES when
 * a footer follows it; 0 when it is not there. Every line end in that
 * window is tried: a hash copy finished there and compared. */
static int find_signed_end(hd_slice c, const EVP_MD *md, const uint8_t *want, size_t hlen,
                           uint64_t *at)
{
    *at = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *copy = EVP_MD_CTX_new();
    size_t pos = c.len > HD_LIMIT_DKIM_FOOTER_BYTES ? c.len - HD_LIMIT_DKIM_FOOTER_BYTES : 0;
    int rc = ctx != NULL && copy != NULL ? 0 : HD_ENOMEM;
    if (rc == 0 && (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, c.p, pos) != 1))
        rc = HD_ECRYPTO;
    while (rc == 0 && pos < c.len) {
        const uint8_t *lf = memchr(c.p + pos, '\n', c.len - pos);
        size_t end = lf != NULL ? (size_t)(lf - c.p) + 1 : c.len;
        uint8_t got[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        if (EVP_DigestUpdate(ctx, c.p + pos, end - pos) != 1 || EVP_MD_CTX_copy_ex(copy, ctx) != 1 ||
            EVP_DigestFinal_ex(copy, got, &len) != 1) {
            rc = HD_ECRYPTO;
            break;
        }
        pos = end;
        if (len == hlen && memcmp(got, want, hlen) == 0) {
            *at = pos;
            break;
        }
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(copy);
    return rc;
}

/* body with every bare LF made CRLF (a base64 text part may use LF; the
 * signer hashed CRLF lines, RFC 6376 §5.3). */
static int crlf_lines(hd_slice body, hd_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < body.len && rc == 0; i++) {
        if (body.p[i] == '\n' && (i == 0 || body.p[i - 1] != '\r'))
            rc = hd_buf_append(out, "\r", 1);
        if (rc == 0)
            rc = hd_buf_append(out, body.p + i, 1);
    }
    return rc;
}

/* The body decoded by its Content-Transfer-Encoding when that is one a
 * gateway re-encodes into (RFC 2045 §6.7, §6.8); false otherwise. */
static bool decoded_body(const hd_msg *m, hd_buf *out, char *encoding, size_t enc_size)
{
    size_t i = hd_msg_find(m, "Content-Transfer-Encoding", 0);
    if (i == (size_t)-1)
        return false;
    hd_slice cte = hd_slice_trim_wsp(hd_msg_field(m, i)->value);
    bool qp = hd_slice_caseeq_cstr(cte, "quoted-printable");
    if (!qp && !hd_slice_caseeq_cstr(cte, "base64"))
        return false;
    snprintf(encoding, enc_size, "%s", qp ? "quoted-printable" : "base64");
    hd_buf raw;
    hd_buf_init(&raw, hd_msg_body(m).len + 16); /* decoding only shrinks */
    hd_err err;
    hd_err_clear(&err);
    int rc = qp ? hd_mime_decode_qp(hd_msg_body(m), &raw, &err)
                : hd_mime_decode_base64(hd_msg_body(m), &raw, &err);
    if (rc == 0)
        rc = crlf_lines(hd_buf_slice(&raw), out);
    hd_buf_free(&raw);
    return rc == 0;
}

int dkim_find_body_change(const hd_msg *m, hd_dkim_canon bc, const EVP_MD *md,
                          const uint8_t *want, size_t hlen, dkim_body_change *out)
{
    memset(out, 0, sizeof *out);
    hd_slice body = hd_msg_body(m);
    if (body.len > HD_LIMIT_DKIM_DIAGNOSE_BYTES)
        return 0;
    hd_buf c;
    hd_buf_init(&c, 2 * body.len + 4); /* LF to CRLF at most doubles */
    uint64_t at = 0;
    int rc = canon_copy(bc, body, &c);
    if (rc == 0)
        rc = find_signed_end(hd_buf_slice(&c), md, want, hlen, &at);
    if (rc == 0 && at != 0 && at < c.len) {
        out->footer = true;
        out->footer_bytes = c.len - at;
    }
    hd_buf dec;
    hd_buf_init(&dec, 2 * body.len + 4);
    if (rc == 0 && at == 0 && decoded_body(m, &dec, out->encoding, sizeof out->encoding)) {
        hd_buf_reset(&c);
        rc = canon_copy(bc, hd_buf_slice(&dec), &c);
        if (rc == 0)
            rc = find_signed_end(hd_buf_slice(&c), md, want, hlen, &at);
        if (rc == 0 && at != 0) {
            out->reencoded = true;
            out->footer = at < c.len;
            out->footer_bytes = c.len - at;
        }
    }
    if (!out->reencoded)
        out->encoding[0] = '\0';
    hd_buf_free(&dec);
    hd_buf_free(&c);
    return rc;
}

/* The selected field named name, or (size_t)-1. */
static size_t selected(const hd_msg *m, const size_t *sel, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (sel[k] != (size_t)-1 && hd_slice_caseeq_cstr(hd_msg_field(m, sel[k])->name, name))
            return sel[k];
    return (size_t)-1;
}

/* A Subject value that starts with "[tag]": the value without it (from
 * the space before the rest, so "Subject: [x] Hi" hashes as "Subject:
 * Hi") and the tag; false when it does not start so. */
static bool untagged(hd_slice value, hd_slice *rest, hd_slice *tag)
{
    size_t i = 0;
    while (i < value.len && (value.p[i] == ' ' || value.p[i] == '\t'))
        i++;
    if (i == value.len || value.p[i] != '[')
        return false;
    size_t close = i;
    while (close < value.len && value.p[close] != ']' && value.p[close] != '\r')
        close++;
    if (close == value.len || value.p[close] != ']')
        return false;
    *tag = hd_slice_make(value.p + i, close + 1 - i);
    size_t r = close + 1;
    while (r < value.len && (value.p[r] == ' ' || value.p[r] == '\t'))
        r++;
    if (r > close + 1)
        r--; /* keep one space after the colon */
    *rest = hd_slice_make(value.p + r, value.len - r);
    return true;
}

size_t dkim_header_guesses(const hd_msg *m, const size_t *sel, size_t n, bool reencoded,
                           dkim_header_guess out[DKIM_MAX_GUESSES], char *tag, size_t tag_size)
{
    /* RFC 2045 §6.1: what a body a gateway re-encodes was labelled before */
    static const char *const cte_was[] = {"8bit", "7bit", ""};
    static const char *const cte_value[] = {" 8bit", " 7bit", ""};
    const dkim_field_edit none = {(size_t)-1, {NULL, 0}, false};
    tag[0] = '\0';
    size_t ng = 0;
    dkim_field_edit subj = none;
    size_t s = selected(m, sel, n, "Subject");
    hd_slice rest, t;
    if (s != (size_t)-1 && untagged(hd_msg_field(m, s)->value, &rest, &t)) {
        subj = (dkim_field_edit){s, rest, false};
        snprintf(tag, tag_size, "%.*s", (int)t.len, (const char *)t.p);
        out[ng++] = (dkim_header_guess){subj, none, HD_DKIM_CH_SUBJECT_TAG, NULL};
    }
    size_t c = reencoded ? selected(m, sel, n, "Content-Transfer-Encoding") : (size_t)-1;
    for (size_t k = 0; c != (size_t)-1 && k < sizeof cte_was / sizeof cte_was[0]; k++) {
        dkim_field_edit cte = {c, hd_slice_cstr(cte_value[k]), cte_was[k][0] == '\0'};
        out[ng++] = (dkim_header_guess){none, cte, HD_DKIM_CH_CTE, cte_was[k]};
        if (subj.field != (size_t)-1)
            out[ng++] = (dkim_header_guess){subj, cte, HD_DKIM_CH_SUBJECT_TAG | HD_DKIM_CH_CTE,
                                            cte_was[k]};
    }
    return ng;
}
