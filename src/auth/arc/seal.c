/*
 * seal.c - adding an ARC set as an intermediary (RFC 8617 §5.1).
 *
 * The sealer writes the AAR (this ADMD's results), the AMS (a DKIM-style
 * signature of the message, relaxed/relaxed) and the AS (a signature over
 * the ARC sets 1..N, §5.1.1, or only the new set when the chain failed,
 * §5.1.2). Tags are written in the order the ARC test suite's standard
 * layout uses (alphabetical), b= alone on its line and never folded
 * inside, so what herald hashes is what the suite's signer hashed; the
 * AMS b= is hashed again by the AS, where folding would matter.
 * The sealer borrows its key; all signing goes through hd_key.
 */
#include "auth/arc/arc_int.h"

#include <herald/base64.h>
#include <herald/limits.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* AMS h= when the caller gives none: the RFC 6376 §5.4.1 core and the
 * DKIM signatures (RFC 8617 §4.1.2: SHOULD include them). */
static const char *const default_headers[] = {
    "from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to",
    "references", "mime-version", "content-type", "content-transfer-encoding",
    "dkim-signature",
};

/* Names an AMS must not sign (RFC 8617 §4.1.2). */
static const char *const forbidden_headers[] = {
    "arc-seal", "arc-message-signature", "arc-authentication-results",
    "authentication-results",
};

struct hd_arc_sealer {
    char *domain, *selector, *headers;
    int64_t timestamp;
    hd_key *key;
    EVP_MD_CTX *md;
    EVP_MD *sha256;
    hd_buf scratch;
};

void hd_arc_seal_opts_init(hd_arc_seal_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timestamp = -1;
}

void hd_arc_sealer_free(hd_arc_sealer *s)
{
    if (s == NULL)
        return;
    free(s->domain);
    free(s->selector);
    free(s->headers);
    EVP_MD_CTX_free(s->md);
    EVP_MD_free(s->sha256);
    hd_buf_free(&s->scratch);
    free(s);
}

static int check_headers(const char *list, hd_err *err)
{
    hd_slice parts[HD_LIMIT_DKIM_SIGNED_HEADERS + 1];
    size_t n = hd_tag_split(hd_slice_cstr(list), ':', parts, HD_LIMIT_DKIM_SIGNED_HEADERS + 1);
    bool from = false;
    if (n > HD_LIMIT_DKIM_SIGNED_HEADERS)
        return hd_err_set(err, HD_ELIMIT, "more than %d header names to sign",
                          HD_LIMIT_DKIM_SIGNED_HEADERS);
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len == 0)
            return hd_err_set(err, HD_EINVAL, "empty header name in \"%s\"", list);
        for (size_t k = 0; k < parts[i].len; k++)
            if (parts[i].p[k] <= ' ' || parts[i].p[k] >= 127 || parts[i].p[k] == ';')
                return hd_err_set(err, HD_EINVAL, "\"%.*s\" is not a header name",
                                  (int)parts[i].len, (const char *)parts[i].p);
        for (size_t k = 0; k < sizeof forbidden_headers / sizeof forbidden_headers[0]; k++)
            if (hd_slice_caseeq_cstr(parts[i], forbidden_headers[k]))
                return hd_err_set(err, HD_EINVAL, "an ARC-Message-Signature must not sign %s "
                                                  "(RFC 8617 §4.1.2)", forbidden_headers[k]);
        from |= hd_slice_caseeq_cstr(parts[i], "from");
    }
    return from ? 0 : hd_err_set(err, HD_EINVAL, "the header list must include From");
}

int hd_arc_sealer_new(const hd_arc_seal_opts *o, hd_key *key, hd_arc_sealer **out, hd_err *err)
{
    if (o->domain == NULL || !dkim_domain_ok(hd_slice_cstr(o->domain)))
        return hd_err_set(err, HD_EINVAL, "sealing domain \"%s\" is not a valid domain name",
                          o->domain ? o->domain : "");
    if (o->selector == NULL || !dkim_selector_ok(hd_slice_cstr(o->selector)))
        return hd_err_set(err, HD_EINVAL, "selector \"%s\" is not a valid selector",
                          o->selector ? o->selector : "");
    int rc = o->headers != NULL ? check_headers(o->headers, err) : 0;
    if (rc != 0)
        return rc;
    if (o->timestamp < -1)
        return hd_err_set(err, HD_EINVAL, "bad timestamp");
    if (!hd_key_is_private(key))
        return hd_err_set(err, HD_EINVAL, "sealing needs a private key");
    if (hd_key_get_type(key) == HD_KEY_RSA && hd_key_bits(key) < HD_LIMIT_DKIM_RSA_MIN_BITS)
        return hd_err_set(err, HD_EKEY, "RSA key of %u bits is below the %d-bit minimum "
                                        "(RFC 8301 §3.2)", hd_key_bits(key),
                          HD_LIMIT_DKIM_RSA_MIN_BITS);
    hd_arc_sealer *s = calloc(1, sizeof *s);
    if (s == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    s->domain = strdup(o->domain);
    s->selector = strdup(o->selector);
    s->headers = o->headers ? strdup(o->headers) : NULL;
    s->timestamp = o->timestamp;
    s->key = key;
    s->md = EVP_MD_CTX_new();
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    hd_buf_init(&s->scratch, HD_LIMIT_HEADER_BYTES * 2);
    if (!s->domain || !s->selector || (o->headers && !s->headers) || !s->md || !s->sha256) {
        hd_arc_sealer_free(s);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    *out = s;
    return 0;
}

/* The AAR payload: one line of text, results folded one a line at the
 * top-level ';' (not inside quotes or comments). */
static int build_aar(unsigned inst, const char *authres, hd_buf *f, hd_err *err)
{
    for (const char *p = authres; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return hd_err_set(err, HD_EINVAL, "the AAR text holds a control character (CR, "
                                              "LF or other); give it on one line");
    hd_slice a = hd_slice_trim_wsp(hd_slice_cstr(authres));
    if (a.len == 0)
        return hd_err_set(err, HD_EINVAL, "the AAR text is empty; it must start with the "
                                          "authserv-id (RFC 8601 §2.2)");
    int rc = hd_buf_printf(f, "ARC-Authentication-Results: i=%u; ", inst);
    int depth = 0, seps = 0;
    bool quoted = false;
    size_t start = 0;
    for (size_t i = 0; i <= a.len && rc == 0; i++) {
        if (i < a.len) {
            uint8_t c = a.p[i];
            if (c == '"' && (i == 0 || a.p[i - 1] != '\\'))
                quoted = !quoted;
            else if (!quoted && c == '(')
                depth++;
            else if (!quoted && c == ')' && depth > 0)
                depth--;
            if (c != ';' || quoted || depth > 0)
                continue;
        }
        hd_slice part = hd_slice_trim_wsp(hd_slice_make(a.p + start, i - start));
        if (part.len > 0 && seps > 0)
            rc = hd_buf_append_cstr(f, seps == 1 ? "; " : ";\r\n\t");
        if (rc == 0 && part.len > 0) {
            rc = hd_buf_append_slice(f, part);
            seps++;
        }
        start = i + 1;
    }
    return rc;
}

/* The AMS h= list for this message. */
static int build_h(const hd_arc_sealer *s, const hd_msg *m, hd_buf *h)
{
    if (s->headers != NULL)
        return hd_buf_append_cstr(h, s->headers);
    int rc = 0;
    for (size_t i = 0; i < sizeof default_headers / sizeof default_headers[0] && rc == 0; i++) {
        size_t n = hd_msg_count(m, default_headers[i]);
        if (n == 0 && strcmp(default_headers[i], "from") == 0)
            n = 1;
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = hd_buf_printf(h, "%s%s", h->len ? ":" : "", default_headers[i]);
    }
    return rc;
}

static int digest(hd_arc_sealer *s, const hd_buf *c, uint8_t out[32])
{
    unsigned len = 0;
    if (EVP_DigestInit_ex(s->md, s->sha256, NULL) != 1 ||
        EVP_DigestUpdate(s->md, c->p, c->len) != 1 ||
        EVP_DigestFinal_ex(s->md, out, &len) != 1 || len != 32)
        return HD_ECRYPTO;
    return 0;
}

/* Sign the hash of c and write pre + b64 + post + CRLF to field. */
static int finish_field(hd_arc_sealer *s, const hd_buf *c, const hd_buf *pre,
                        const hd_buf *post, hd_buf *field, hd_err *err)
{
    uint8_t hh[32];
    hd_buf sig, b64;
    hd_buf_init(&sig, HD_LIMIT_DKIM_SIGNATURE_BYTES);
    hd_buf_init(&b64, HD_LIMIT_DKIM_SIGNATURE_BYTES * 2);
    int rc = digest(s, c, hh);
    if (rc == 0)
        rc = hd_key_sign_digest(s->key, hh, &sig, err);
    if (rc == 0)
        rc = hd_b64_encode(hd_buf_slice(&sig), &b64);
    if (rc == 0)
        rc = hd_buf_append_slice(field, hd_buf_slice(pre));
    if (rc == 0)
        rc = hd_buf_append_slice(field, hd_buf_slice(&b64));
    if (rc == 0)
        rc = hd_buf_append_slice(field, hd_buf_slice(post));
    hd_buf_free(&sig);
    hd_buf_free(&b64);
    return rc;
}

static const char *alg_name(const hd_key *k)
{
    return hd_key_get_type(k) == HD_KEY_RSA ? "rsa-sha256" : "ed25519-sha256";
}

static int append_t(const hd_arc_sealer *s, hd_buf *b)
{
    return s->timestamp >= 0 ? hd_buf_printf(b, "; t=%lld", (long long)s->timestamp) : 0;
}

/* The AMS (RFC 8617 §4.1.2): relaxed/relaxed, tags a b bh c d h i s t. */
static int build_ams(hd_arc_sealer *s, const hd_msg *m, unsigned inst, hd_buf *ams, hd_err *err)
{
    uint8_t bh[32];
    hd_buf pre, post, h, tmp;
    hd_buf_init(&pre, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&post, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&h, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&tmp, HD_LIMIT_HEADER_FIELD_BYTES);
    int rc = EVP_DigestInit_ex(s->md, s->sha256, NULL) == 1 ? 0 : HD_ECRYPTO;
    dkim_body_sink sink = {s->md, UINT64_MAX, 0, 0, NULL};
    if (rc == 0)
        dkim_canon_body(HD_DKIM_RELAXED, hd_msg_body(m), &sink);
    unsigned len = 0;
    if (rc == 0 && (sink.failed || EVP_DigestFinal_ex(s->md, bh, &len) != 1 || len != 32))
        rc = HD_ECRYPTO;
    if (rc == 0)
        rc = build_h(s, m, &h);
    if (rc == 0)
        rc = hd_b64_encode(hd_slice_make(bh, 32), &tmp);
    if (rc == 0)
        rc = hd_buf_printf(&pre, "ARC-Message-Signature: a=%s;\r\n\tb=", alg_name(s->key));
    if (rc == 0)
        rc = hd_buf_printf(&post, ";\r\n\tbh=%s; c=relaxed/relaxed; d=%s;\r\n\th=%s;\r\n\t i=%u; s=%s",
                           hd_buf_cstr(&tmp), s->domain, hd_buf_cstr(&h), inst, s->selector);
    if (rc == 0)
        rc = append_t(s, &post);
    /* the hash: the h= fields, then this field with b= empty (RFC 6376 §3.7) */
    hd_slice names[HD_LIMIT_DKIM_SIGNED_HEADERS];
    size_t idx[HD_LIMIT_DKIM_SIGNED_HEADERS];
    size_t n = rc == 0 ? hd_tag_split(hd_buf_slice(&h), ':', names, HD_LIMIT_DKIM_SIGNED_HEADERS)
                       : 0;
    dkim_select_headers(m, names, n, idx);
    hd_buf *c = &s->scratch;
    hd_buf_reset(c);
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (idx[k] == (size_t)-1)
            continue;
        const hd_hdr_field *hf = hd_msg_field(m, idx[k]);
        rc = dkim_canon_header(HD_DKIM_RELAXED, hf->raw, hf->name, hf->value, true, c);
    }
    hd_buf_reset(&tmp);
    if (rc == 0)
        rc = hd_buf_printf(&tmp, "%s%s", hd_buf_cstr(&pre), hd_buf_cstr(&post));
    if (rc == 0)
        rc = arc_canon_field(HD_DKIM_RELAXED, hd_buf_slice(&tmp), true, c);
    if (rc == 0)
        rc = finish_field(s, c, &pre, &post, ams, err);
    hd_buf_free(&pre);
    hd_buf_free(&post);
    hd_buf_free(&h);
    hd_buf_free(&tmp);
    return rc;
}

/* The AS (RFC 8617 §4.1.3, §5.1.1-2): tags a b cv d i s t. */
static int build_as(hd_arc_sealer *s, const hd_msg *m, const arc_chain *ch, hd_arc_cv cv,
                    unsigned inst, const hd_buf *aar, const hd_buf *ams, hd_buf *as, hd_err *err)
{
    hd_buf pre, post, tmp;
    hd_buf_init(&pre, 256);
    hd_buf_init(&post, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&tmp, HD_LIMIT_HEADER_FIELD_BYTES);
    int rc = hd_buf_printf(&pre, "ARC-Seal: a=%s;\r\n\tb=", alg_name(s->key));
    if (rc == 0)
        rc = hd_buf_printf(&post, ";\r\n\tcv=%s; d=%s; i=%u; s=%s", hd_arc_cv_name(cv), s->domain,
                           inst, s->selector);
    if (rc == 0)
        rc = append_t(s, &post);
    hd_buf *c = &s->scratch;
    hd_buf_reset(c);
    /* a failed chain: only the new set is sealed (§5.1.2) */
    for (unsigned k = 1; cv != HD_ARC_FAIL && k < inst && rc == 0; k++)
        for (int kind = 0; kind < ARC_KINDS && rc == 0; kind++)
            rc = arc_canon_field(HD_DKIM_RELAXED, hd_msg_field(m, ch->field[k][kind])->raw, false,
                                 c);
    if (rc == 0)
        rc = arc_canon_field(HD_DKIM_RELAXED, hd_slice_make(aar->p, aar->len - 2), false, c);
    if (rc == 0)
        rc = arc_canon_field(HD_DKIM_RELAXED, hd_slice_make(ams->p, ams->len - 2), false, c);
    if (rc == 0)
        rc = hd_buf_printf(&tmp, "%s%s", hd_buf_cstr(&pre), hd_buf_cstr(&post));
    if (rc == 0)
        rc = arc_canon_field(HD_DKIM_RELAXED, hd_buf_slice(&tmp), true, c);
    if (rc == 0)
        rc = finish_field(s, c, &pre, &post, as, err);
    hd_buf_free(&pre);
    hd_buf_free(&post);
    hd_buf_free(&tmp);
    return rc;
}

/* The message's chain must be the one the caller validated. */
static int check_chain(const hd_msg *m, const hd_arc_result *chain, arc_chain *ch, hd_err *err)
{
    arc_collect(m, ch);
    if (ch->max_instance != chain->max_instance)
        return hd_err_set(err, HD_EINVAL, "the validation result given is not this message's "
                                          "(instance %u here, %u there)", ch->max_instance,
                          chain->max_instance);
    if (chain->cv == HD_ARC_FAIL)
        return 0;
    if (ch->broken || (ch->max_instance > 0) != (chain->cv == HD_ARC_PASS))
        return hd_err_set(err, HD_EINVAL, "the validation result (cv=%s) does not fit this "
                                          "message's chain", hd_arc_cv_name(chain->cv));
    return 0;
}

int hd_arc_seal(hd_arc_sealer *s, hd_slice msg, const hd_arc_result *chain, const char *authres,
                hd_buf *out, hd_err *err)
{
    if (chain->latest_seal_fail)
        return 0; /* RFC 8617 §5.1 step 2 */
    if (chain->max_instance >= HD_ARC_MAX_INSTANCE)
        return hd_err_set(err, HD_ELIMIT, "the chain already has %u sets, the most ARC allows "
                                          "(RFC 8617 §4.2.1)", chain->max_instance);
    if (msg.len > HD_LIMIT_MESSAGE_BYTES)
        return hd_err_set(err, HD_ELIMIT, "message of %zu bytes is over the %u-byte limit",
                          msg.len, HD_LIMIT_MESSAGE_BYTES);
    unsigned inst = chain->max_instance + 1;
    hd_buf crlf, aar, ams, as;
    hd_buf_init(&crlf, HD_LIMIT_MESSAGE_BYTES * 2);
    hd_buf_init(&aar, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&ams, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&as, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_msg *m = NULL;
    arc_chain *ch = malloc(sizeof *ch);
    int rc = ch == NULL ? hd_err_set(err, HD_ENOMEM, NULL)
                        : dkim_parse_message(msg, &crlf, &m, err);
    if (rc == 0)
        rc = check_chain(m, chain, ch, err);
    if (rc == 0 && (rc = build_aar(inst, authres, &aar, err)) == 0)
        rc = hd_buf_append_cstr(&aar, "\r\n");
    if (rc == 0 && (rc = build_ams(s, m, inst, &ams, err)) == 0)
        rc = hd_buf_append_cstr(&ams, "\r\n");
    if (rc == 0 && (rc = build_as(s, m, ch, chain->cv, inst, &aar, &ams, &as, err)) == 0)
        rc = hd_buf_append_cstr(&as, "\r\n");
    if (rc == 0 && (rc = hd_buf_append_slice(out, hd_buf_slice(&as))) == 0 &&
        (rc = hd_buf_append_slice(out, hd_buf_slice(&ams))) == 0)
        rc = hd_buf_append_slice(out, hd_buf_slice(&aar));
    if (rc != 0 && err != NULL && err->code == 0)
        hd_err_set(err, rc, "sealing failed: %s", hd_strerror(rc));
    free(ch);
    hd_msg_free(m);
    hd_buf_free(&crlf);
    hd_buf_free(&aar);
    hd_buf_free(&ams);
    hd_buf_free(&as);
    return rc;
}
