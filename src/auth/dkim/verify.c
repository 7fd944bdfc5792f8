/*
 * verify.c - DKIM verification (RFC 6376 §6, RFC 8301, RFC 8463).
 *
 * Sans I/O: start() parses the message and, for each signature, checks its
 * tags and computes both hashes (body and headers), so nothing of the
 * message is kept; the key records are then asked for by name, handed in
 * by the caller, and finish() turns key + hashes into a verdict with a
 * reason a mail admin can act on.
 */
#include "auth/dkim/dkim_keyrec.h"

#include <herald/authres.h>
#include <herald/base64.h>
#include <herald/limits.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct vsig {
    hd_dkim_result r;
    bool decided;          /* r is final (syntax, expiry, limit) */
    bool sha1;             /* a=rsa-sha1 */
    hd_key_type ktype;     /* from a= */
    char id_domain[256];   /* domain part of i= */
    uint8_t bh_want[32], bh_got[32], hh[32];
    size_t hlen;           /* digest length: 32, or 20 for sha1 */
    hd_buf b;              /* decoded b= */
    char b64[96];          /* start of b= without whitespace, for header.b */
    size_t signed_from;    /* how many times h= names From */
    bool bh_done;          /* bh_got holds the body hash */
    dkim_body_change body; /* when bh_got differs: what the body shows */
    /* header hashes with a change undone (diagnose.c), tried when the
     * signature fails: what each undoes, the Content-Transfer-Encoding it
     * tried; maybe: all they undo, none proven */
    uint8_t guess_hh[DKIM_MAX_GUESSES][32];
    unsigned guess_undoes[DKIM_MAX_GUESSES];
    const char *guess_cte_was[DKIM_MAX_GUESSES]; /* static strings */
    size_t nguesses;
    unsigned maybe;
    char subject_tag[64];  /* the signed Subject's "[tag]", if any */
    char qname[HD_LIMIT_DNS_NAME + 16];
    dkim_keyrec *key;      /* reference, once known */
} vsig;

typedef struct vquery {
    char *name;
    bool answered;
} vquery;

struct hd_dkim_verifier {
    hd_dkim_verify_opts opts;
    vsig *sigs;
    size_t nsigs;
    vquery *queries;
    size_t nqueries;
    EVP_MD_CTX *md;
    EVP_MD *sha256, *sha1; /* fetched once: an implicit fetch per digest
                            * costs as much as hashing a short message */
    hd_buf scratch;
    size_t ndiagnosed;     /* bodies searched for what changed (diagnose.c) */
};

static const char *const result_names[] = {
    "none", "pass", "fail", "policy", "neutral", "temperror", "permerror",
};

const char *hd_dkim_result_name(hd_dkim_result_code r)
{
    return (unsigned)r < sizeof result_names / sizeof result_names[0] ? result_names[r] : "?";
}

static const char *const reason_names[] = {
    "ok", "body_hash_mismatch", "signature_mismatch", "key_revoked", "key_too_small",
    "rsa_sha1", "key_syntax", "key_mismatch", "no_key", "key_dns_temperror",
    "signature_syntax", "from_not_signed", "expired", "future_timestamp",
    "identity_not_in_domain", "strict_identity", "unknown_algorithm", "bad_version",
    "not_checked", "internal_error", "unsigned_from",
};

const char *hd_dkim_reason_name(hd_dkim_reason r)
{
    return (unsigned)r < sizeof reason_names / sizeof reason_names[0] ? reason_names[r] : "?";
}

void hd_dkim_verify_opts_init(hd_dkim_verify_opts *o, int64_t now)
{
    memset(o, 0, sizeof *o);
    o->now = now;
    /* RFC 6376 §3.5 lets verifiers ignore signatures from the future;
     * signers with a clock or time zone set wrong are common, so only a
     * day or more ahead counts as broken */
    o->clock_skew = 86400;
}

int hd_dkim_verifier_new(const hd_dkim_verify_opts *opts, hd_dkim_verifier **out, hd_err *err)
{
    hd_dkim_verifier *v = calloc(1, sizeof *v);
    if (v == NULL || (v->md = EVP_MD_CTX_new()) == NULL ||
        (v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
        (v->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL)) == NULL) {
        hd_dkim_verifier_free(v);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    v->opts = *opts;
    if (v->opts.max_signatures == 0)
        v->opts.max_signatures = HD_LIMIT_DKIM_SIGNATURES;
    if (v->opts.min_rsa_bits == 0)
        v->opts.min_rsa_bits = HD_LIMIT_DKIM_RSA_MIN_BITS;
    if (v->opts.max_message_bytes == 0)
        v->opts.max_message_bytes = HD_LIMIT_MESSAGE_BYTES;
    hd_buf_init(&v->scratch, HD_LIMIT_HEADER_BYTES * 2);
    *out = v;
    return 0;
}

static void verifier_reset(hd_dkim_verifier *v)
{
    for (size_t i = 0; i < v->nsigs; i++) {
        hd_buf_free(&v->sigs[i].b);
        dkim_keyrec_release(v->sigs[i].key);
    }
    free(v->sigs);
    v->sigs = NULL;
    v->nsigs = 0;
    for (size_t i = 0; i < v->nqueries; i++)
        free(v->queries[i].name);
    free(v->queries);
    v->queries = NULL;
    v->nqueries = 0;
    v->ndiagnosed = 0;
}

void hd_dkim_verifier_free(hd_dkim_verifier *v)
{
    if (v == NULL)
        return;
    verifier_reset(v);
    EVP_MD_CTX_free(v->md);
    EVP_MD_free(v->sha256);
    EVP_MD_free(v->sha1);
    hd_buf_free(&v->scratch);
    free(v);
}

__attribute__((format(printf, 4, 5)))
static void decide(vsig *s, hd_dkim_result_code res, hd_dkim_reason code, const char *fmt, ...)
{
    s->r.result = res;
    s->r.reason_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->r.reason, sizeof s->r.reason, fmt, ap);
    va_end(ap);
    s->decided = true;
}

/* Copy a tag value into a fixed field, printable bytes only. */
static void copy_text(char *dst, size_t size, hd_slice v)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 1 < size; i++)
        if (v.p[i] > ' ' && v.p[i] < 0x7f)
            dst[o++] = (char)v.p[i];
    dst[o] = '\0';
}

/* A decimal number up to INT64_MAX (t=, x=, l= all fit: RFC 6376 §3.5
 * asks for 12 digits of t= and x=, 76 of l=, which no body reaches). */
static int parse_uint(hd_slice v, uint64_t *out)
{
    if (v.len == 0 || v.len > 19)
        return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    if (n > (uint64_t)INT64_MAX)
        return -1;
    *out = n;
    return 0;
}

/* RFC 5321 Local-part as a dot-string of atext (a quoted local part is
 * refused: i= goes into Authentication-Results, and quoting is where
 * injection hides). */
static bool local_part_ok(hd_slice l)
{
    static const char specials[] = "!#$%&'*+-/=?^_`{|}~.";
    for (size_t i = 0; i < l.len; i++) {
        uint8_t c = l.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c < 0x80 && c != 0 && strchr(specials, c) != NULL) || c >= 0x80;
        if (!ok)
            return false;
    }
    return l.len == 0 || (l.p[0] != '.' && l.p[l.len - 1] != '.');
}

/* q= (§3.5): a colon-separated list that must name dns/txt. */
static bool query_methods_ok(hd_slice q)
{
    hd_slice parts[HD_LIMIT_TAGS];
    size_t n = hd_tag_split(q, ':', parts, HD_LIMIT_TAGS);
    for (size_t i = 0; i < n; i++)
        if (hd_slice_eq_cstr(parts[i], "dns/txt"))
            return true;
    return false;
}

/* RFC 6376 §6.1.1: the required tags, their syntax, and the checks that
 * need no key. Sets s->decided on any problem. */
static void check_tags(hd_dkim_verifier *v, vsig *s, const hd_taglist *t)
{
    static const char *const required[] = {"v", "a", "b", "bh", "d", "h", "s"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (hd_tag_get(t, required[i]) == NULL)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                          "signature lacks the required %s= tag", required[i]);
    const hd_tag *tv = hd_tag_get(t, "v"), *ta = hd_tag_get(t, "a"), *td = hd_tag_get(t, "d"),
                 *ts = hd_tag_get(t, "s"), *th = hd_tag_get(t, "h"), *ti = hd_tag_get(t, "i"),
                 *tc = hd_tag_get(t, "c"), *tq = hd_tag_get(t, "q"), *tl = hd_tag_get(t, "l"),
                 *tt = hd_tag_get(t, "t"), *tx = hd_tag_get(t, "x");
    copy_text(s->r.domain, sizeof s->r.domain, td->value);
    copy_text(s->r.selector, sizeof s->r.selector, ts->value);
    copy_text(s->r.algorithm, sizeof s->r.algorithm, ta->value);

    if (!hd_slice_eq_cstr(tv->value, "1"))
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_VERSION,
                      "signature version v=%.*s is not 1 (RFC 6376 §3.5)",
                      (int)(tv->value.len > 20 ? 20 : tv->value.len), (const char *)tv->value.p);
    if (hd_slice_eq_cstr(ta->value, "rsa-sha256")) {
        s->ktype = HD_KEY_RSA;
    } else if (hd_slice_eq_cstr(ta->value, "ed25519-sha256")) {
        s->ktype = HD_KEY_ED25519;
    } else if (hd_slice_eq_cstr(ta->value, "rsa-sha1")) {
        s->ktype = HD_KEY_RSA;
        s->sha1 = true;
    } else {
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_ALGORITHM,
                      "unknown signing algorithm a=%s", s->r.algorithm);
    }
    s->hlen = s->sha1 ? 20 : 32;
    if (!dkim_domain_ok(td->value))
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                      "d=%.*s is not a valid domain name", (int)(td->value.len > 60 ? 60 : td->value.len),
                      (const char *)td->value.p);
    if (!dkim_selector_ok(ts->value))
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "s= is not a valid selector");
    hd_dkim_canon hc = HD_DKIM_SIMPLE, bc = HD_DKIM_SIMPLE;
    if (tc != NULL && dkim_parse_canon(tc->value, &hc, &bc) != 0)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "unknown canonicalization c=%.*s",
                      (int)(tc->value.len > 30 ? 30 : tc->value.len), (const char *)tc->value.p);
    snprintf(s->r.canon, sizeof s->r.canon, "%s/%s", dkim_canon_name(hc), dkim_canon_name(bc));
    if (tq != NULL && !query_methods_ok(tq->value))
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                      "query method q= does not include dns/txt");

    /* h= must sign From (RFC 6376 §5.4) */
    hd_slice names[HD_LIMIT_DKIM_SIGNED_HEADERS + 1];
    size_t nn = hd_tag_split(th->value, ':', names, HD_LIMIT_DKIM_SIGNED_HEADERS + 1);
    bool from = false;
    for (size_t i = 0; i < nn; i++) {
        if (names[i].len == 0)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                          "h= has an empty header name (entry %zu)", i + 1);
        from |= hd_slice_caseeq_cstr(names[i], "from");
        s->signed_from += hd_slice_caseeq_cstr(names[i], "from");
    }
    if (nn > HD_LIMIT_DKIM_SIGNED_HEADERS)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                      "h= lists more than %d header fields", HD_LIMIT_DKIM_SIGNED_HEADERS);
    if (!from)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_NO_FROM,
                      "h= does not include From, so the author is not protected (RFC 6376 §5.4)");

    /* i= defaults to "@" d= and must lie within d= (§3.5) */
    if (ti != NULL) {
        copy_text(s->r.identity, sizeof s->r.identity, ti->value);
        size_t at = ti->value.len;
        while (at > 0 && ti->value.p[at - 1] != '@')
            at--;
        if (at == 0)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "i= has no '@'");
        hd_slice idd = hd_slice_make(ti->value.p + at, ti->value.len - at);
        if (!local_part_ok(hd_slice_make(ti->value.p, at - 1)) || !dkim_domain_ok(idd))
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                          "i= is not a valid address (RFC 6376 §3.5: [Local-part] \"@\" domain)");
        copy_text(s->id_domain, sizeof s->id_domain, idd);
        if (!dkim_identity_in_domain(idd, td->value))
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_IDENTITY,
                          "i=%s is not within d=%s (RFC 6376 §3.5)", s->r.identity, s->r.domain);
    } else {
        snprintf(s->r.identity, sizeof s->r.identity, "@%s", s->r.domain);
        snprintf(s->id_domain, sizeof s->id_domain, "%s", s->r.domain);
    }

    uint64_t n;
    if (tl != NULL) {
        if (parse_uint(tl->value, &n) != 0)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "l= is not a number");
        s->r.has_length = true;
        s->r.body_length = n;
    }
    if (tt != NULL) {
        if (parse_uint(tt->value, &n) != 0)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "t= is not a number");
        s->r.timestamp = (int64_t)n;
    }
    if (tx != NULL) {
        if (parse_uint(tx->value, &n) != 0)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "x= is not a number");
        s->r.expiration = (int64_t)n;
        if (s->r.timestamp >= 0 && s->r.expiration <= s->r.timestamp) /* §3.5: x > t */
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX,
                          "x= (%lld) is not after t= (%lld)", (long long)s->r.expiration,
                          (long long)s->r.timestamp);
        if (s->r.expiration < v->opts.now)
            return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_EXPIRED,
                          "signature expired at x=%lld, %lld seconds ago", (long long)s->r.expiration,
                          (long long)(v->opts.now - s->r.expiration));
    }
    if (s->r.timestamp > v->opts.now + v->opts.clock_skew)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_FUTURE,
                      "signature timestamp t=%lld is %lld seconds in the future (more than %lld allowed)",
                      (long long)s->r.timestamp, (long long)(s->r.timestamp - v->opts.now),
                      (long long)v->opts.clock_skew);

    hd_buf tmp;
    hd_buf_init(&tmp, 64); /* a digest: 20 or 32 bytes */
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_b64_decode(hd_tag_get(t, "bh")->value, HD_B64_IGNORE_WSP, &tmp, &err);
    if (rc == 0 && tmp.len != s->hlen)
        rc = hd_err_set(&err, HD_ESYNTAX, "%zu bytes where %s gives %zu", tmp.len,
                        s->r.algorithm, s->hlen);
    if (rc == 0)
        memcpy(s->bh_want, tmp.p, s->hlen);
    hd_buf_free(&tmp);
    if (rc != 0)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "bh= %s", err.msg);
    hd_buf_init(&s->b, HD_LIMIT_DKIM_SIGNATURE_BYTES);
    if (hd_b64_decode(hd_tag_get(t, "b")->value, HD_B64_IGNORE_WSP, &s->b, &err) != 0)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "b= %s", err.msg);
    if (s->b.len == 0)
        return decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "b= is empty");
}

static const EVP_MD *sig_md(const hd_dkim_verifier *v, const vsig *s)
{
    return s->sha1 ? v->sha1 : v->sha256;
}

static int digest_final(EVP_MD_CTX *md, uint8_t *out, size_t want)
{
    unsigned len = 0;
    return EVP_DigestFinal_ex(md, out, &len) == 1 && len == want ? 0 : HD_ECRYPTO;
}

/* Body hash (§3.7); equal (canon, l=, hash) signatures share one pass. */
static int hash_body(hd_dkim_verifier *v, vsig *s, size_t idx, hd_dkim_canon bc, hd_slice body)
{
    for (size_t i = 0; i < idx; i++) {
        vsig *o = &v->sigs[i];
        if (!o->decided && o->sha1 == s->sha1 && strcmp(o->r.canon + strcspn(o->r.canon, "/"),
                                                        s->r.canon + strcspn(s->r.canon, "/")) == 0 &&
            o->r.has_length == s->r.has_length && o->r.body_length == s->r.body_length) {
            memcpy(s->bh_got, o->bh_got, s->hlen);
            s->r.unsigned_bytes = o->r.unsigned_bytes;
            s->bh_done = true;
            return 0;
        }
    }
    if (EVP_DigestInit_ex(v->md, sig_md(v, s), NULL) != 1)
        return HD_ECRYPTO;
    dkim_body_sink sink = {v->md, s->r.has_length ? s->r.body_length : UINT64_MAX, 0, 0, NULL};
    dkim_canon_body(bc, body, &sink);
    if (sink.failed)
        return HD_ECRYPTO;
    if (s->r.has_length)
        s->r.unsigned_bytes = sink.total > s->r.body_length ? sink.total - s->r.body_length : 0;
    int rc = digest_final(v->md, s->bh_got, s->hlen);
    s->bh_done = rc == 0;
    return rc;
}

bool dkim_verifier_body_hash(const hd_dkim_verifier *v, hd_dkim_canon bc, uint8_t out[32])
{
    const char *want = bc == HD_DKIM_SIMPLE ? "/simple" : "/relaxed";
    for (size_t i = 0; i < v->nsigs; i++) {
        const vsig *s = &v->sigs[i];
        if (s->bh_done && !s->sha1 && !s->r.has_length &&
            strcmp(s->r.canon + strcspn(s->r.canon, "/"), want) == 0) {
            memcpy(out, s->bh_got, 32);
            return true;
        }
    }
    return false;
}

/* One signed field into the canonical header, as it is or as g says it
 * was before a change. */
static int canon_field(const hd_msg *m, size_t i, const dkim_header_guess *g, hd_dkim_canon hc,
                       hd_buf *c)
{
    const hd_hdr_field *hf = hd_msg_field(m, i);
    const dkim_field_edit *e = g == NULL ? NULL : g->subject.field == i ? &g->subject
                                                : g->cte.field == i     ? &g->cte
                                                                        : NULL;
    if (e == NULL)
        return dkim_canon_header(hc, hf->raw, hf->name, hf->value, true, c);
    if (e->drop)
        return 0;
    /* the field's own name and colon, then the value to try */
    size_t head = (size_t)(hf->value.p - hf->raw.p);
    hd_buf raw;
    hd_buf_init(&raw, head + e->value.len + 1);
    int rc = hd_buf_append(&raw, hf->raw.p, head);
    if (rc == 0)
        rc = hd_buf_append_slice(&raw, e->value);
    if (rc == 0)
        rc = dkim_canon_header(hc, hd_buf_slice(&raw), hf->name, e->value, true, c);
    hd_buf_free(&raw);
    return rc;
}

/* Header hash (§3.7) into out: the h= fields (sel, as g has them when not
 * NULL), then this field with b= emptied. */
static int header_digest(hd_dkim_verifier *v, vsig *s, const hd_msg *m, const hd_hdr_field *f,
                         const hd_taglist *t, hd_dkim_canon hc, const size_t *sel, size_t n,
                         const dkim_header_guess *g, uint8_t *out)
{
    hd_buf *c = &v->scratch;
    hd_buf_reset(c);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        if (sel[k] != (size_t)-1)
            rc = canon_field(m, sel[k], g, hc, c);
    /* this field with the b= value (and whitespace around it) deleted */
    const hd_tag *b = hd_tag_get(t, "b");
    size_t vo = (size_t)(f->value.p - f->raw.p); /* value offset in raw */
    hd_buf copy;
    hd_buf_init(&copy, f->raw.len);
    if (rc == 0)
        rc = hd_buf_append(&copy, f->raw.p, vo + b->value_start);
    if (rc == 0)
        rc = hd_buf_append(&copy, f->raw.p + vo + b->value_end, f->raw.len - vo - b->value_end);
    if (rc == 0) {
        hd_slice raw = hd_buf_slice(&copy);
        hd_slice name = hd_slice_make(copy.p, f->name.len);
        hd_slice value = hd_slice_make(copy.p + vo, copy.len - vo);
        rc = dkim_canon_header(hc, raw, name, value, false, c);
    }
    hd_buf_free(&copy);
    if (rc != 0)
        return rc;
    if (EVP_DigestInit_ex(v->md, sig_md(v, s), NULL) != 1 || EVP_DigestUpdate(v->md, c->p, c->len) != 1)
        return HD_ECRYPTO;
    return digest_final(v->md, out, s->hlen);
}

/* The header hash, and the hashes of the guesses at what the signed
 * fields were before a change (tried only if the signature fails). */
static int hash_headers(hd_dkim_verifier *v, vsig *s, const hd_msg *m, const hd_hdr_field *f,
                        const hd_taglist *t, hd_dkim_canon hc)
{
    hd_slice names[HD_LIMIT_DKIM_SIGNED_HEADERS];
    size_t idx[HD_LIMIT_DKIM_SIGNED_HEADERS];
    size_t n = hd_tag_split(hd_tag_get(t, "h")->value, ':', names, HD_LIMIT_DKIM_SIGNED_HEADERS);
    dkim_select_headers(m, names, n, idx);
    int rc = header_digest(v, s, m, f, t, hc, idx, n, NULL, s->hh);
    dkim_header_guess guess[DKIM_MAX_GUESSES]; /* their slices point into m */
    s->nguesses = dkim_header_guesses(m, idx, n, s->body.reencoded, guess, s->subject_tag,
                                      sizeof s->subject_tag);
    for (size_t g = 0; g < s->nguesses && rc == 0; g++) {
        s->guess_undoes[g] = guess[g].undoes;
        s->guess_cte_was[g] = guess[g].cte_was;
        s->maybe |= guess[g].undoes;
        rc = header_digest(v, s, m, f, t, hc, idx, n, &guess[g], s->guess_hh[g]);
    }
    return rc;
}

static int add_query(hd_dkim_verifier *v, vsig *s)
{
    snprintf(s->qname, sizeof s->qname, "%s._domainkey.%s", s->r.selector, s->r.domain);
    if (strlen(s->qname) > HD_LIMIT_DNS_NAME) {
        decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "s= and d= make a name over 253 octets");
        return 0;
    }
    if (v->opts.cache != NULL &&
        (s->key = dkim_keycache_get(v->opts.cache, s->qname, v->opts.now)) != NULL)
        return 0;
    for (size_t i = 0; i < v->nqueries; i++)
        if (strcasecmp(v->queries[i].name, s->qname) == 0)
            return 0;
    vquery *q = realloc(v->queries, (v->nqueries + 1) * sizeof *q);
    if (q == NULL)
        return HD_ENOMEM;
    v->queries = q;
    if ((q[v->nqueries].name = strdup(s->qname)) == NULL)
        return HD_ENOMEM;
    q[v->nqueries++].answered = false;
    return 0;
}

/* What happened to the body of a signature whose body hash failed: found
 * once for signatures with the same body hash and canonicalization (dual
 * RSA and Ed25519 signing), and for at most HD_LIMIT_DKIM_DIAGNOSES bodies,
 * so a message with many bad signatures cannot multiply the work. */
static int find_body_change(hd_dkim_verifier *v, vsig *s, size_t idx, hd_dkim_canon bc, const hd_msg *m)
{
    for (size_t i = 0; i < idx; i++) {
        const vsig *o = &v->sigs[i];
        if (!o->decided && !o->r.has_length && o->hlen == s->hlen &&
            memcmp(o->bh_want, s->bh_want, s->hlen) == 0 &&
            strcmp(o->r.canon + strcspn(o->r.canon, "/"), s->r.canon + strcspn(s->r.canon, "/")) == 0) {
            s->body = o->body;
            return 0;
        }
    }
    if (v->ndiagnosed >= HD_LIMIT_DKIM_DIAGNOSES)
        return 0;
    v->ndiagnosed++;
    return dkim_find_body_change(m, bc, sig_md(v, s), s->bh_want, s->hlen, &s->body);
}

static int start_one(hd_dkim_verifier *v, size_t idx, const hd_msg *m, size_t field)
{
    vsig *s = &v->sigs[idx];
    const hd_hdr_field *f = hd_msg_field(m, field);
    s->r.field_index = field;
    s->r.timestamp = s->r.expiration = -1;
    if (idx >= v->opts.max_signatures) {
        decide(s, HD_DKIM_NEUTRAL, HD_DKIM_R_NOT_CHECKED,
               "not checked: only the first %zu signatures are verified", v->opts.max_signatures);
        return 0;
    }
    hd_taglist t;
    hd_err err;
    hd_err_clear(&err);
    if (hd_tag_parse(f->value, &t, &err) != 0) {
        decide(s, HD_DKIM_PERMERROR, HD_DKIM_R_SIG_SYNTAX, "signature syntax: %s", err.msg);
        return 0;
    }
    check_tags(v, s, &t);
    if (s->decided)
        return 0;
    /* RFC 6376 §8.15: a From the signature does not cover, added above or
     * beside the signed one, is what a reader may see: such a signature
     * proves nothing about the author */
    size_t froms = hd_msg_count(m, "From");
    if (froms > s->signed_from) {
        decide(s, HD_DKIM_FAIL, HD_DKIM_R_UNSIGNED_FROM,
               "the message has %zu From fields but the signature covers %zu: a From was added "
               "after signing (RFC 6376 §8.15)", froms, s->signed_from);
        return 0;
    }
    copy_text(s->b64, sizeof s->b64, hd_tag_get(&t, "b")->value);
    hd_dkim_canon hc, bc;
    dkim_parse_canon(hd_slice_cstr(s->r.canon), &hc, &bc);
    int rc = hash_body(v, s, idx, bc, hd_msg_body(m));
    /* the body hash is compared first (RFC 6376 §6.1.3 step 3); when it
     * fails, find what happened to the body while it is at hand */
    if (rc == 0 && !s->r.has_length && memcmp(s->bh_want, s->bh_got, s->hlen) != 0)
        rc = find_body_change(v, s, idx, bc, m);
    if (rc == 0)
        rc = hash_headers(v, s, m, f, &t, hc);
    if (rc != 0)
        return rc;
    return add_query(v, s);
}

int hd_dkim_verify_start(hd_dkim_verifier *v, hd_slice msg, hd_err *err)
{
    verifier_reset(v);
    if (msg.len > v->opts.max_message_bytes)
        return hd_err_set(err, HD_ELIMIT, "message of %zu bytes is over the %zu-byte limit",
                          msg.len, v->opts.max_message_bytes);
    hd_buf crlf;
    hd_buf_init(&crlf, v->opts.max_message_bytes * 2);
    hd_msg *m = NULL;
    int rc = dkim_parse_message(msg, &crlf, &m, err);
    size_t total = rc == 0 ? hd_msg_count(m, "DKIM-Signature") : 0;
    if (rc == 0 && total > 0 && (v->sigs = calloc(total, sizeof *v->sigs)) == NULL)
        rc = hd_err_set(err, HD_ENOMEM, NULL);
    for (size_t f = 0; rc == 0 && total > 0; f++) {
        f = hd_msg_find(m, "DKIM-Signature", f);
        if (f == (size_t)-1)
            break;
        rc = start_one(v, v->nsigs++, m, f);
        if (rc != 0)
            hd_err_set(err, rc, "hashing the DKIM-Signature on line %zu failed: %s",
                       hd_msg_field(m, f)->line, hd_strerror(rc));
    }
    hd_msg_free(m);
    hd_buf_free(&crlf);
    return rc;
}

size_t hd_dkim_verify_nqueries(const hd_dkim_verifier *v)
{
    return v->nqueries;
}

const char *hd_dkim_verify_query(const hd_dkim_verifier *v, size_t i)
{
    return i < v->nqueries ? v->queries[i].name : NULL;
}

int hd_dkim_verify_answer(hd_dkim_verifier *v, size_t i, const hd_dns_answer *ans, hd_err *err)
{
    if (i >= v->nqueries)
        return hd_err_set(err, HD_EINVAL, "no query %zu", i);
    vquery *q = &v->queries[i];
    dkim_keyrec *rec = dkim_keyrec_from_answer(ans, q->name);
    if (rec == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    q->answered = true;
    if (v->opts.cache != NULL && ans->status == HD_DNS_OK)
        dkim_keycache_put(v->opts.cache, q->name, rec, v->opts.now);
    for (size_t k = 0; k < v->nsigs; k++) {
        vsig *s = &v->sigs[k];
        if (!s->decided && s->key == NULL && strcasecmp(s->qname, q->name) == 0) {
            s->key = rec;
            rec->refs++;
        }
    }
    dkim_keyrec_release(rec);
    return 0;
}

/* Key checks before any cryptography (RFC 6376 §6.1.2 steps 6-9). */
static bool key_usable(const vsig *s, const dkim_keyrec *k, const char *qname)
{
    vsig *w = (vsig *)s;
    if (k->code != HD_DKIM_R_OK) {
        decide(w, k->code == HD_DKIM_R_KEY_TEMP ? HD_DKIM_TEMPERROR : HD_DKIM_PERMERROR,
               k->code, "%s", k->why);
        return false;
    }
    if (k->revoked) {
        decide(w, HD_DKIM_PERMERROR, HD_DKIM_R_KEY_REVOKED,
               "key revoked: %s has an empty p= (the selector was retired)", qname);
        return false;
    }
    if (k->type != s->ktype) {
        decide(w, HD_DKIM_PERMERROR, HD_DKIM_R_KEY_MISMATCH,
               "the key at %s is k=%s but the signature is a=%s", qname,
               hd_key_type_name(k->type), s->r.algorithm);
        return false;
    }
    if (s->sha1 ? !k->allow_sha1 : !k->allow_sha256) {
        decide(w, HD_DKIM_PERMERROR, HD_DKIM_R_KEY_MISMATCH,
               "the key's h= does not allow %s", s->sha1 ? "sha1" : "sha256");
        return false;
    }
    if (!k->service_email) {
        decide(w, HD_DKIM_PERMERROR, HD_DKIM_R_KEY_MISMATCH,
               "the key's s= does not include email");
        return false;
    }
    /* RFC 6376 §3.6.1 t=s: i= must use exactly d=, not a subdomain */
    if (k->strict && strcasecmp(s->id_domain, s->r.domain) != 0) {
        decide(w, HD_DKIM_PERMERROR, HD_DKIM_R_STRICT_IDENTITY,
               "the key has t=s, so i= must be in %s itself, not %s", s->r.domain, s->id_domain);
        return false;
    }
    return true;
}

/* What the failed hashes show (hd_dkim_result.changes): the body
 * findings of start(), and which header guess, if any, the key accepts. */
static void note_changes(vsig *s, const dkim_keyrec *k, bool bh_ok, bool sig_ok)
{
    hd_dkim_result *r = &s->r;
    if (!bh_ok) {
        r->changes |= HD_DKIM_CH_BODY;
        if (s->body.footer) {
            r->changes |= HD_DKIM_CH_FOOTER;
            r->footer_bytes = s->body.footer_bytes;
        }
        if (s->body.reencoded) {
            r->changes |= HD_DKIM_CH_REENCODED;
            snprintf(r->encoding, sizeof r->encoding, "%s", s->body.encoding);
        }
    }
    if (!sig_ok) {
        r->changes |= HD_DKIM_CH_HEADER;
        for (size_t g = 0; g < s->nguesses; g++) {
            if (hd_key_verify_digest(k->key, s->guess_hh[g], s->hlen, s->sha1, hd_buf_slice(&s->b),
                                     NULL) == 0) {
                r->changes |= s->guess_undoes[g] | HD_DKIM_CH_CHECKED;
                if (s->guess_undoes[g] & HD_DKIM_CH_CTE)
                    snprintf(r->encoding_was, sizeof r->encoding_was, "%s", s->guess_cte_was[g]);
                break;
            }
        }
        if (!(r->changes & HD_DKIM_CH_CHECKED))
            r->changes |= s->maybe;
    }
    if (r->changes & HD_DKIM_CH_SUBJECT_TAG)
        snprintf(r->subject_tag, sizeof r->subject_tag, "%s", s->subject_tag);
}

/* The changes in a few words, after "body hash did not verify" or
 * "signature did not verify" (no parentheses: it goes into an RFC 8601
 * comment). */
static void describe_changes(const hd_dkim_result *r, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    bool body = r->changes & HD_DKIM_CH_BODY;
    if (r->changes & HD_DKIM_CH_REENCODED)
        hd_str_addf(out, size, &o, ": the body was re-encoded as %s", r->encoding);
    else if (r->changes & HD_DKIM_CH_FOOTER)
        hd_str_addf(out, size, &o, ": %llu bytes were added at the end of the body",
                 (unsigned long long)r->footer_bytes);
    else if (body)
        hd_str_addf(out, size, &o, ": the body was changed after signing");
    if ((r->changes & HD_DKIM_CH_FOOTER) && (r->changes & HD_DKIM_CH_REENCODED))
        hd_str_addf(out, size, &o, ", with a footer of %llu bytes", (unsigned long long)r->footer_bytes);
    if (!(r->changes & HD_DKIM_CH_HEADER))
        return;
    bool subject = r->changes & HD_DKIM_CH_SUBJECT_TAG, cte = r->changes & HD_DKIM_CH_CTE;
    const char *lead = body ? "; " : ": ";
    if (!subject && !cte)
        return hd_str_addf(out, size, &o, "%sa signed header field was changed or added%s", lead,
                        body ? " too" : "");
    if (r->changes & HD_DKIM_CH_CHECKED) {
        if (subject)
            hd_str_addf(out, size, &o, "%sthe Subject was tagged %s", lead, r->subject_tag);
        if (cte && r->encoding_was[0])
            hd_str_addf(out, size, &o, "%sthe Content-Transfer-Encoding was rewritten from %s",
                     subject ? " and " : lead, r->encoding_was);
        else if (cte)
            hd_str_addf(out, size, &o, "%sa Content-Transfer-Encoding field was added",
                     subject ? " and " : lead);
        return;
    }
    hd_str_addf(out, size, &o, "%sa signed header field changed%s, probably", lead, body ? " too" : "");
    if (subject)
        hd_str_addf(out, size, &o, " the Subject tag %s", r->subject_tag);
    if (cte)
        hd_str_addf(out, size, &o, "%s the Content-Transfer-Encoding", subject ? " and" : "");
}

static void evaluate(hd_dkim_verifier *v, vsig *s)
{
    dkim_keyrec *k = s->key;
    if (k == NULL) {
        decide(s, HD_DKIM_TEMPERROR, HD_DKIM_R_KEY_TEMP, "no answer for the key at %s", s->qname);
        return;
    }
    s->r.key_bits = k->bits;
    s->r.testing = k->testing;
    if (!key_usable(s, k, s->qname))
        return;
    bool sig_ok = hd_key_verify_digest(k->key, s->hh, s->hlen, s->sha1,
                                       hd_buf_slice(&s->b), NULL) == 0;
    bool bh_ok = memcmp(s->bh_want, s->bh_got, s->hlen) == 0;
    bool weak = k->type == HD_KEY_RSA && k->bits < v->opts.min_rsa_bits;
    char what[sizeof s->r.reason] = "";
    if (!sig_ok || !bh_ok) {
        note_changes(s, k, bh_ok, sig_ok);
        describe_changes(&s->r, what, sizeof what);
    }
    /* RFC 6376 §6.1.3: the body hash is compared before the signature */
    if (!bh_ok)
        return decide(s, HD_DKIM_FAIL, HD_DKIM_R_BODY_HASH, "body hash did not verify%s", what);
    if (!sig_ok && (s->r.changes & HD_DKIM_CH_CHECKED))
        return decide(s, HD_DKIM_FAIL, HD_DKIM_R_SIGNATURE, "signature did not verify%s", what);
    if (!sig_ok)
        return decide(s, HD_DKIM_FAIL, HD_DKIM_R_SIGNATURE,
                      "signature did not verify%s, or the key at %s is not the one that signed", what,
                      s->qname);
    if (weak)
        return decide(s, HD_DKIM_POLICY, HD_DKIM_R_KEY_TOO_SMALL,
                      "verified, but the %u-bit RSA key is below the %u-bit minimum (RFC 8301 §3.2)",
                      k->bits, v->opts.min_rsa_bits);
    if (s->sha1 && !v->opts.allow_sha1)
        return decide(s, HD_DKIM_POLICY, HD_DKIM_R_RSA_SHA1,
                      "verified, but rsa-sha1 is not accepted (RFC 8301 §3.1)");
    if (s->r.has_length && s->r.unsigned_bytes > 0)
        return decide(s, HD_DKIM_PASS, HD_DKIM_R_OK,
                      "verified, but l=%llu leaves %llu body bytes unsigned",
                      (unsigned long long)s->r.body_length, (unsigned long long)s->r.unsigned_bytes);
    decide(s, HD_DKIM_PASS, HD_DKIM_R_OK, "%s", k->testing ? "verified (the key is in test mode, t=y)"
                                                           : "verified");
}

/* header.b: the shortest prefix of b=, at least 8 characters, that no
 * other signature shares (RFC 6008 §4). */
static void set_header_b(hd_dkim_verifier *v)
{
    for (size_t i = 0; i < v->nsigs; i++) {
        vsig *s = &v->sigs[i];
        if (s->b64[0] == '\0')
            continue;
        size_t len = strlen(s->b64), want = len < 8 ? len : 8;
        for (size_t k = 0; k < v->nsigs; k++) {
            const char *o = v->sigs[k].b64;
            /* an identical copy of this signature cannot be told apart */
            if (k == i || o[0] == '\0' || strcmp(o, s->b64) == 0)
                continue;
            size_t common = 0;
            while (s->b64[common] && s->b64[common] == o[common])
                common++;
            if (common + 1 > want)
                want = common + 1 < len ? common + 1 : len;
        }
        if (want >= sizeof s->r.header_b)
            want = sizeof s->r.header_b - 1;
        memcpy(s->r.header_b, s->b64, want);
        s->r.header_b[want] = '\0';
    }
}

int hd_dkim_verify_finish(hd_dkim_verifier *v, hd_err *err)
{
    for (size_t i = 0; i < v->nsigs; i++)
        if (!v->sigs[i].decided)
            evaluate(v, &v->sigs[i]);
    set_header_b(v);
    return 0;
}

size_t hd_dkim_verify_count(const hd_dkim_verifier *v)
{
    return v->nsigs;
}

const hd_dkim_result *hd_dkim_verify_result(const hd_dkim_verifier *v, size_t i)
{
    return i < v->nsigs ? &v->sigs[i].r : NULL;
}

int hd_dkim_verify_run(hd_dkim_verifier *v, hd_slice msg, hd_dns *dns, hd_err *err)
{
    int rc = hd_dkim_verify_start(v, msg, err);
    if (rc != 0 || v->nqueries == 0)
        return rc != 0 ? rc : hd_dkim_verify_finish(v, err);
    const char **names = calloc(v->nqueries, sizeof *names);
    hd_dns_answer **answers = calloc(v->nqueries, sizeof *answers);
    if (names == NULL || answers == NULL)
        rc = hd_err_set(err, HD_ENOMEM, NULL);
    for (size_t i = 0; rc == 0 && i < v->nqueries; i++)
        names[i] = v->queries[i].name;
    if (rc == 0)
        rc = hd_dns_query_all(dns, names, v->nqueries, HD_DNS_T_TXT, answers, err);
    for (size_t i = 0; answers != NULL && i < v->nqueries; i++) {
        if (rc == 0 && answers[i] != NULL)
            rc = hd_dkim_verify_answer(v, i, answers[i], err);
        hd_dns_answer_free(answers[i]);
    }
    free(names);
    free(answers);
    return rc != 0 ? rc : hd_dkim_verify_finish(v, err);
}

int hd_dkim_result_to_ar(const hd_dkim_result *r, hd_buf *out)
{
    int rc = hd_buf_printf(out, "dkim=%s", hd_dkim_result_name(r->result));
    if (rc != 0)
        return rc;
    if (r->result == HD_DKIM_PASS) {
        char note[96];
        snprintf(note, sizeof note, "%u-bit key%s%s", r->key_bits, r->testing ? "; test mode" : "",
                 r->has_length && r->unsigned_bytes ? "; partial body (l=)" : "");
        rc = hd_authres_append_comment(out, note);
    } else {
        rc = hd_authres_append_comment(out, r->reason);
    }
    if (rc == 0 && r->domain[0])
        rc = hd_authres_append_property(out, "header.d", r->domain);
    if (rc == 0 && r->identity[0] && r->result != HD_DKIM_PERMERROR)
        rc = hd_authres_append_property(out, "header.i", r->identity);
    if (rc == 0 && r->selector[0])
        rc = hd_authres_append_property(out, "header.s", r->selector);
    if (rc == 0 && r->algorithm[0])
        rc = hd_authres_append_property(out, "header.a", r->algorithm);
    if (rc == 0 && r->header_b[0]) /* quoted when it holds '/' or '=' (tspecials) */
        rc = hd_authres_append_property(out, "header.b", r->header_b);
    return rc;
}
