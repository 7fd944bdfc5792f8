/*
 * sign.c - DKIM signing (RFC 6376 §5, RFC 8463).
 *
 * The signer hashes the canonical body, builds the DKIM-Signature field
 * with an empty b=, hashes the selected header fields and that field
 * (§3.7), signs the digest through hd_key and appends b=. The field is
 * folded at about 76 columns; folding sits only where canonicalization
 * ignores it (between tags, and inside b=, whose whitespace verifiers
 * strip), so simple and relaxed signatures both survive it.
 */
#include "auth/dkim/dkim_int.h"

#include <herald/base64.h>
#include <herald/limits.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct hd_dkim_signer {
    hd_dkim_sign_opts opts;
    char *domain, *selector, *identity, *headers;
    hd_key *key; /* borrowed */
    EVP_MD_CTX *md;
    EVP_MD *sha256; /* fetched once (see verify.c) */
    hd_buf scratch;
};

/* RFC 6376 §5.4.1 recommended fields; "+" marks those over-signed (listed
 * once more than they occur), so adding one breaks the signature. */
static const char *const default_headers[] = {
    "+From", "+Reply-To", "+Subject", "+Date", "+To", "+Cc",
    "Resent-Date", "Resent-From", "Resent-To", "Resent-Cc",
    "In-Reply-To", "References",
    "List-Id", "List-Help", "List-Unsubscribe", "List-Subscribe", "List-Post",
    "List-Owner", "List-Archive", "List-Unsubscribe-Post",
    "+Message-ID", "+MIME-Version", "+Content-Type", "+Content-Transfer-Encoding",
    "Content-ID", "Content-Description",
};

void hd_dkim_sign_opts_init(hd_dkim_sign_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->header_canon = HD_DKIM_RELAXED;
    opts->body_canon = HD_DKIM_RELAXED;
    opts->timestamp = -1;
    opts->expire_after = -1;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

void hd_dkim_signer_free(hd_dkim_signer *s)
{
    if (s == NULL)
        return;
    free(s->domain);
    free(s->selector);
    free(s->identity);
    free(s->headers);
    EVP_MD_CTX_free(s->md);
    EVP_MD_free(s->sha256);
    hd_buf_free(&s->scratch);
    free(s);
}

static int check_opts(const hd_dkim_sign_opts *o, hd_err *err)
{
    if (o->domain == NULL || !dkim_domain_ok(hd_slice_cstr(o->domain)))
        return hd_err_set(err, HD_EINVAL, "signing domain \"%s\" is not a valid domain name",
                          o->domain ? o->domain : "");
    if (o->selector == NULL || !dkim_selector_ok(hd_slice_cstr(o->selector)))
        return hd_err_set(err, HD_EINVAL, "selector \"%s\" is not a valid selector",
                          o->selector ? o->selector : "");
    if (o->identity != NULL) {
        const char *at = strrchr(o->identity, '@');
        if (at == NULL || !dkim_identity_in_domain(hd_slice_cstr(at + 1), hd_slice_cstr(o->domain)))
            return hd_err_set(err, HD_EINVAL,
                              "identity \"%s\" is not within the signing domain %s (RFC 6376 §3.5 i=)",
                              o->identity, o->domain);
        static const char specials[] = "!#$%&'*+-/=?^_`{|}~.";
        for (const char *p = o->identity; p < at; p++) {
            unsigned char c = (unsigned char)*p;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr(specials, c) != NULL;
            if (!ok || c == 0)
                return hd_err_set(err, HD_EINVAL,
                                  "identity \"%s\": the local part may hold only letters, digits "
                                  "and !#$%%&'*+-/=?^_`{|}~. (RFC 5321 dot-string)", o->identity);
        }
    }
    if (o->headers != NULL) {
        bool from = false;
        hd_slice parts[HD_LIMIT_DKIM_SIGNED_HEADERS + 1];
        size_t n = hd_tag_split(hd_slice_cstr(o->headers), ':', parts,
                                HD_LIMIT_DKIM_SIGNED_HEADERS + 1);
        if (n > HD_LIMIT_DKIM_SIGNED_HEADERS)
            return hd_err_set(err, HD_ELIMIT, "more than %d header names to sign",
                              HD_LIMIT_DKIM_SIGNED_HEADERS);
        for (size_t i = 0; i < n; i++) {
            if (parts[i].len == 0)
                return hd_err_set(err, HD_EINVAL, "empty header name in \"%s\"", o->headers);
            for (size_t k = 0; k < parts[i].len; k++)
                if (parts[i].p[k] <= ' ' || parts[i].p[k] >= 127 || parts[i].p[k] == ';')
                    return hd_err_set(err, HD_EINVAL, "\"%.*s\" is not a header name",
                                      (int)parts[i].len, (const char *)parts[i].p);
            from |= hd_slice_caseeq_cstr(parts[i], "from");
        }
        if (!from)
            return hd_err_set(err, HD_EINVAL,
                              "the header list must include From (RFC 6376 §5.4)");
    }
    if (o->timestamp < -1 || (o->expire_after != -1 && o->expire_after <= 0))
        return hd_err_set(err, HD_EINVAL, "bad timestamp or expiry");
    if (o->expire_after > 0 && o->timestamp < 0)
        return hd_err_set(err, HD_EINVAL, "an expiry (x=) needs a timestamp (t=)");
    return 0;
}

int hd_dkim_signer_new(const hd_dkim_sign_opts *opts, hd_key *key, hd_dkim_signer **out,
                       hd_err *err)
{
    int rc = check_opts(opts, err);
    if (rc != 0)
        return rc;
    if (!hd_key_is_private(key))
        return hd_err_set(err, HD_EINVAL, "signing needs a private key");
    if (hd_key_get_type(key) == HD_KEY_RSA && hd_key_bits(key) < HD_LIMIT_DKIM_RSA_MIN_BITS)
        return hd_err_set(err, HD_EKEY, "RSA key of %u bits is below the %d-bit minimum (RFC 8301 §3.2)",
                          hd_key_bits(key), HD_LIMIT_DKIM_RSA_MIN_BITS);
    hd_dkim_signer *s = calloc(1, sizeof *s);
    if (s == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    s->opts = *opts;
    s->domain = strdup(opts->domain);
    s->selector = strdup(opts->selector);
    s->identity = dup_or_null(opts->identity);
    s->headers = dup_or_null(opts->headers);
    s->key = key;
    s->md = EVP_MD_CTX_new();
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    hd_buf_init(&s->scratch, HD_LIMIT_HEADER_BYTES * 2);
    if (s->domain == NULL || s->selector == NULL || s->md == NULL ||
        s->sha256 == NULL || (opts->identity && !s->identity) || (opts->headers && !s->headers)) {
        hd_dkim_signer_free(s);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    *out = s;
    return 0;
}

/* How many colon-separated entries of list equal name (any case). */
static size_t count_name(const char *list, const char *name)
{
    size_t n = 0, len = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ':');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        n += l == len && strncasecmp(p, name, len) == 0;
        p += l + (e != NULL);
    }
    return n;
}

/* The h= list for this message: the explicit list, or the default set
 * with each present field once per instance and over-signed ones once
 * more. Written colon-separated into h. */
static int build_h_list(const hd_dkim_signer *s, const hd_msg *msg, hd_buf *h)
{
    if (s->headers != NULL)
        return hd_buf_append_cstr(h, s->headers);
    int rc = 0;
    size_t total = 0;
    for (size_t i = 0; i < sizeof default_headers / sizeof default_headers[0] && rc == 0; i++) {
        const char *name = default_headers[i];
        bool over = name[0] == '+';
        name += over;
        size_t n = hd_msg_count(msg, name) + over;
        if ((total += n) > HD_LIMIT_DKIM_SIGNED_HEADERS)
            return HD_ELIMIT;
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = hd_buf_printf(h, "%s%s", h->len ? ":" : "", name);
    }
    return rc;
}

/* Append " tag=value;" to the field, folding before it when the line
 * would pass 76 columns. *col tracks the current column. */
static int add_tag(hd_buf *f, size_t *col, const char *tag, const char *value)
{
    size_t need = strlen(tag) + 1 + strlen(value) + 2;
    int rc;
    if (*col + need > 76) {
        rc = hd_buf_append_cstr(f, "\r\n\t");
        *col = 1;
    } else {
        rc = hd_buf_append_byte(f, ' ');
        (*col)++;
    }
    if (rc == 0)
        rc = hd_buf_printf(f, "%s=%s;", tag, value);
    *col += need - 1;
    return rc;
}

/* h= folded at colons, which relaxed and simple verifiers both keep
 * (folding whitespace in h= is allowed, RFC 6376 §3.5). */
static int add_h_tag(hd_buf *f, size_t *col, hd_slice h)
{
    int rc = hd_buf_append_cstr(f, "\r\n\th=");
    *col = 3;
    size_t start = 0;
    for (size_t i = 0; i <= h.len && rc == 0; i++) {
        if (i < h.len && h.p[i] != ':')
            continue;
        size_t n = i - start + (i < h.len);
        if (*col + n > 76) {
            rc = hd_buf_append_cstr(f, "\r\n\t ");
            *col = 2;
        }
        if (rc == 0)
            rc = hd_buf_append(f, h.p + start, n);
        *col += n;
        start = i + 1;
    }
    if (rc == 0)
        rc = hd_buf_append_byte(f, ';');
    return rc;
}

static int digest_final(EVP_MD_CTX *md, uint8_t out[32])
{
    unsigned len = 0;
    return EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32 ? 0 : HD_ECRYPTO;
}

static int body_hash(hd_dkim_signer *s, hd_slice body, uint8_t bh[32])
{
    if (EVP_DigestInit_ex(s->md, s->sha256, NULL) != 1)
        return HD_ECRYPTO;
    dkim_body_sink sink = {s->md, UINT64_MAX, 0, 0, NULL};
    dkim_canon_body(s->opts.body_canon, body, &sink);
    return sink.failed ? HD_ECRYPTO : digest_final(s->md, bh);
}

/* Build the field up to and including "b=" into f. */
static int build_field(hd_dkim_signer *s, const hd_msg *msg, const uint8_t bh[32], hd_buf *f)
{
    hd_buf tmp;
    hd_buf_init(&tmp, HD_LIMIT_HEADER_FIELD_BYTES);
    char canon[32], num[32];
    size_t col;
    const char *alg = hd_key_get_type(s->key) == HD_KEY_RSA ? "rsa-sha256" : "ed25519-sha256";
    int rc = hd_buf_printf(f, "DKIM-Signature: v=1; a=%s;", alg);
    col = f->len;
    snprintf(canon, sizeof canon, "%s/%s", dkim_canon_name(s->opts.header_canon),
             dkim_canon_name(s->opts.body_canon));
    if (rc == 0)
        rc = add_tag(f, &col, "c", canon);
    if (rc == 0)
        rc = add_tag(f, &col, "d", s->domain);
    if (rc == 0)
        rc = add_tag(f, &col, "s", s->selector);
    if (rc == 0 && s->identity != NULL)
        rc = add_tag(f, &col, "i", s->identity);
    if (rc == 0 && s->opts.timestamp >= 0) {
        snprintf(num, sizeof num, "%lld", (long long)s->opts.timestamp);
        rc = add_tag(f, &col, "t", num);
        if (rc == 0 && s->opts.expire_after > 0) {
            snprintf(num, sizeof num, "%lld", (long long)(s->opts.timestamp + s->opts.expire_after));
            rc = add_tag(f, &col, "x", num);
        }
    }
    if (rc == 0)
        rc = build_h_list(s, msg, &tmp);
    if (rc == 0)
        rc = add_h_tag(f, &col, hd_buf_slice(&tmp));
    hd_buf_reset(&tmp);
    if (rc == 0)
        rc = hd_b64_encode(hd_slice_make(bh, 32), &tmp);
    if (rc == 0)
        rc = hd_buf_printf(f, "\r\n\tbh=%s;\r\n\tb=", hd_buf_cstr(&tmp));
    hd_buf_free(&tmp);
    return rc;
}

/* Hash the selected fields then the DKIM-Signature field (b= empty, no
 * final CRLF), RFC 6376 §3.7. */
static int header_hash(hd_dkim_signer *s, const hd_msg *msg, hd_slice field, uint8_t out[32])
{
    /* h= of the field we built: parse it back, so the hash covers exactly
     * what the field says */
    hd_slice value = hd_slice_make(field.p + 15, field.len - 15); /* after "DKIM-Signature:" */
    hd_taglist tags;
    if (hd_tag_parse(value, &tags, NULL) != 0)
        return HD_ESTATE;
    const hd_tag *h = hd_tag_get(&tags, "h");
    hd_slice names[HD_LIMIT_DKIM_SIGNED_HEADERS * 2];
    size_t idx[HD_LIMIT_DKIM_SIGNED_HEADERS * 2];
    size_t n = hd_tag_split(h->value, ':', names, HD_LIMIT_DKIM_SIGNED_HEADERS * 2);
    dkim_select_headers(msg, names, n, idx);

    hd_buf *c = &s->scratch;
    hd_buf_reset(c);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (idx[k] == (size_t)-1)
            continue;
        const hd_hdr_field *hf = hd_msg_field(msg, idx[k]);
        rc = dkim_canon_header(s->opts.header_canon, hf->raw, hf->name, hf->value, true, c);
    }
    if (rc == 0)
        rc = dkim_canon_header(s->opts.header_canon, field, hd_slice_make(field.p, 14), value,
                               false, c);
    if (rc != 0)
        return rc;
    if (EVP_DigestInit_ex(s->md, s->sha256, NULL) != 1 ||
        EVP_DigestUpdate(s->md, c->p, c->len) != 1)
        return HD_ECRYPTO;
    return digest_final(s->md, out);
}

/* b= folded into lines of at most 76 columns. */
static int append_b(hd_buf *f, hd_slice b64)
{
    size_t col = 3, i = 0;
    int rc = 0;
    while (i < b64.len && rc == 0) {
        size_t n = b64.len - i < 76 - col ? b64.len - i : 76 - col;
        rc = hd_buf_append(f, b64.p + i, n);
        i += n;
        if (i < b64.len && rc == 0) {
            rc = hd_buf_append_cstr(f, "\r\n\t ");
            col = 2;
        }
    }
    return rc == 0 ? hd_buf_append_cstr(f, "\r\n") : rc;
}

/* One signature over a parsed message; bh is its body hash. */
static int sign_parsed(hd_dkim_signer *s, const hd_msg *m, const uint8_t bh[32], hd_buf *out,
                       hd_err *err)
{
    hd_buf field, sig, b64;
    hd_buf_init(&field, HD_LIMIT_HEADER_FIELD_BYTES);
    hd_buf_init(&sig, 2048);
    hd_buf_init(&b64, 4096);
    uint8_t hh[32];
    int rc = 0;
    if (s->headers != NULL && count_name(s->headers, "DKIM-Signature") >
                                  hd_msg_count(m, "DKIM-Signature")) {
        /* RFC 6376 §3.7: the new signature cannot cover itself */
        rc = hd_err_set(err, HD_EINVAL, "the header list names DKIM-Signature more often than the "
                                        "message has such fields; a signature cannot sign itself");
        goto out;
    }
    if ((rc = build_field(s, m, bh, &field)) != 0 ||
        (rc = header_hash(s, m, hd_buf_slice(&field), hh)) != 0) {
        if (rc == HD_ELIMIT)
            hd_err_set(err, rc, "the message has more than %d fields to sign (h= limit); sign "
                                "with an explicit --headers list", HD_LIMIT_DKIM_SIGNED_HEADERS);
        else
            hd_err_set(err, rc, "building the signature failed: %s", hd_strerror(rc));
        goto out;
    }
    if ((rc = hd_key_sign_digest(s->key, hh, &sig, err)) != 0)
        goto out;
    if ((rc = hd_b64_encode(hd_buf_slice(&sig), &b64)) != 0 ||
        (rc = append_b(&field, hd_buf_slice(&b64))) != 0 ||
        (rc = hd_buf_append_slice(out, hd_buf_slice(&field))) != 0)
        hd_err_set(err, rc, NULL);
out:
    hd_buf_free(&field);
    hd_buf_free(&sig);
    hd_buf_free(&b64);
    return rc;
}

int hd_dkim_sign(hd_dkim_signer *s, hd_slice msg, hd_buf *out, hd_err *err)
{
    return hd_dkim_sign_all(&s, 1, msg, out, err);
}

int hd_dkim_sign_all(hd_dkim_signer *const *signers, size_t n, hd_slice msg, hd_buf *out,
                     hd_err *err)
{
    if (msg.len > HD_LIMIT_MESSAGE_BYTES)
        return hd_err_set(err, HD_ELIMIT, "message of %zu bytes is over the %u-byte limit",
                          msg.len, HD_LIMIT_MESSAGE_BYTES);
    hd_buf crlf_copy;
    hd_buf_init(&crlf_copy, HD_LIMIT_MESSAGE_BYTES * 2);
    hd_msg *m = NULL;
    int rc = dkim_parse_message(msg, &crlf_copy, &m, err);
    if (rc == 0 && hd_msg_find(m, "From", 0) == (size_t)-1)
        rc = hd_err_set(err, HD_EINVAL, "the message has no From field; it cannot be signed (RFC 6376 §5.4)");
    /* the body hash depends only on the body canonicalization: signatures
     * that share one share the hash (dual RSA + Ed25519 signing hashes the
     * body once) */
    uint8_t bh[2][32];
    bool have[2] = {false, false};
    for (size_t i = 0; rc == 0 && i < n; i++) {
        hd_dkim_signer *s = signers[i];
        int k = s->opts.body_canon == HD_DKIM_RELAXED;
        if (!have[k] && (rc = body_hash(s, hd_msg_body(m), bh[k])) != 0) {
            hd_err_set(err, rc, "building the signature failed: %s", hd_strerror(rc));
            break;
        }
        have[k] = true;
        rc = sign_parsed(s, m, bh[k], out, err);
    }
    hd_msg_free(m);
    hd_buf_free(&crlf_copy);
    return rc;
}
