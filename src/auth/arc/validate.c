/*
 * validate.c - ARC chain validation (RFC 8617 §5.2), sans I/O.
 *
 * start() parses the message, places the ARC fields by instance
 * (chain.c), checks the seals' cv= rules and every AMS and AS tag list,
 * and computes every hash the verdict needs (AMS body and header hashes,
 * each AS over sets 1..i), so nothing of the message is kept but the AAR
 * text. The key records are then asked for by name, handed in, and
 * finish() runs steps 4-7: the newest AMS, the oldest-pass scan, every AS
 * from N down to 1. Any failure, DNS ones included, is a permanent fail
 * (§5.2.1). The verifier owns its sets and their AAR copies.
 */
#include "auth/arc/arc_int.h"

#include <herald/base64.h>
#include <herald/limits.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One AMS or AS awaiting its key. */
typedef struct arc_check {
    bool decided, ok;        /* decided before keys (a syntax problem) */
    bool is_ams;
    hd_key_type ktype;
    uint8_t bh_want[32], bh_got[32], hh[32];
    hd_buf b;                /* decoded b= */
    char qname[HD_LIMIT_DNS_NAME + 16];
    char *why;               /* the set's ams_reason / as_reason */
    dkim_keyrec *key;
} arc_check;

typedef struct arc_set {
    hd_arc_set_info info;
    arc_check ams, as;
} arc_set;

typedef struct vquery {
    char *name;
    bool answered;
} vquery;

struct hd_arc_verifier {
    hd_arc_verify_opts opts;
    hd_arc_result res;
    bool decided;            /* res is final before any key */
    arc_set *sets;           /* nsets of them when the structure is sound */
    size_t nsets;
    vquery *queries;
    size_t nqueries;
    EVP_MD_CTX *md;
    EVP_MD *sha256;
    hd_buf scratch;
    uint8_t bh[2][32];       /* body hash per canonicalization, this message */
    bool bh_have[2];
};

static const char *const cv_names[] = {"none", "pass", "fail"};

const char *hd_arc_cv_name(hd_arc_cv cv)
{
    return (unsigned)cv < 3 ? cv_names[cv] : "?";
}

void hd_arc_verify_opts_init(hd_arc_verify_opts *o, int64_t now)
{
    memset(o, 0, sizeof *o);
    o->now = now;
    o->clock_skew = 86400; /* as DKIM: clocks set wrong are common */
}

int hd_arc_verifier_new(const hd_arc_verify_opts *opts, hd_arc_verifier **out, hd_err *err)
{
    hd_arc_verifier *v = calloc(1, sizeof *v);
    if (v == NULL || (v->md = EVP_MD_CTX_new()) == NULL ||
        (v->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        hd_arc_verifier_free(v);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    v->opts = *opts;
    if (v->opts.min_rsa_bits == 0)
        v->opts.min_rsa_bits = HD_LIMIT_DKIM_RSA_MIN_BITS;
    if (v->opts.max_message_bytes == 0)
        v->opts.max_message_bytes = HD_LIMIT_MESSAGE_BYTES;
    hd_buf_init(&v->scratch, HD_LIMIT_HEADER_BYTES * 2);
    *out = v;
    return 0;
}

static void check_free(arc_check *c)
{
    hd_buf_free(&c->b);
    dkim_keyrec_release(c->key);
}

static void verifier_reset(hd_arc_verifier *v)
{
    v->bh_have[0] = v->bh_have[1] = false; /* body hashes belong to one message */
    for (size_t i = 0; i < v->nsets; i++) {
        check_free(&v->sets[i].ams);
        check_free(&v->sets[i].as);
        free(v->sets[i].info.aar);
    }
    free(v->sets);
    v->sets = NULL;
    v->nsets = 0;
    for (size_t i = 0; i < v->nqueries; i++)
        free(v->queries[i].name);
    free(v->queries);
    v->queries = NULL;
    v->nqueries = 0;
    memset(&v->res, 0, sizeof v->res);
    v->decided = false;
}

void hd_arc_verifier_free(hd_arc_verifier *v)
{
    if (v == NULL)
        return;
    verifier_reset(v);
    EVP_MD_CTX_free(v->md);
    EVP_MD_free(v->sha256);
    hd_buf_free(&v->scratch);
    free(v);
}

__attribute__((format(printf, 3, 4)))
static void chain_fail(hd_arc_verifier *v, unsigned instance, const char *fmt, ...)
{
    v->res.cv = HD_ARC_FAIL;
    v->res.failed_instance = instance;
    v->res.oldest_pass = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->res.reason, sizeof v->res.reason, fmt, ap);
    va_end(ap);
    v->decided = true;
}

__attribute__((format(printf, 2, 3)))
static void check_decide(arc_check *c, const char *fmt, ...)
{
    c->decided = true;
    c->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, 256, fmt, ap);
    va_end(ap);
}

static int parse_num(hd_slice v, int64_t *out)
{
    if (v.len == 0 || v.len > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        n = n * 10 + (v.p[i] - '0');
    }
    *out = n;
    return 0;
}

/* RFC 6376 §3.2: tag-spec *( ";" tag-spec ) [ ";" ]: only a final ';'
 * may follow nothing. hd_tag_parse tolerates ";;" (DKIM keys have it);
 * ARC signatures are held to the grammar. */
static bool has_empty_spec(hd_slice text, const hd_taglist *t)
{
    for (size_t i = 0; i + 1 < t->n; i++) {
        size_t next = (size_t)(t->tags[i + 1].name.p - text.p), semis = 0;
        for (size_t k = t->tags[i].value_end; k < next && k < text.len; k++)
            semis += text.p[k] == ';';
        if (semis > 1)
            return true;
    }
    return false;
}

/* Tags both signatures share: a=, b=, d=, s=, t= (RFC 6376 §3.5 as
 * imported by RFC 8617 §4.1.2-3). False with c->why set on a problem. */
static bool check_common(const hd_arc_verifier *v, arc_check *c, hd_slice text, const hd_taglist *t,
                         char *domain, char *selector, char *alg, int64_t *ts)
{
    static const char *const required[] = {"a", "b", "d", "s"};
    if (has_empty_spec(text, t))
        return check_decide(c, "an empty tag between two ';' (RFC 6376 §3.2 tag-list)"), false;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (hd_tag_get(t, required[i]) == NULL)
            return check_decide(c, "lacks the required %s= tag", required[i]), false;
    const hd_tag *ta = hd_tag_get(t, "a"), *td = hd_tag_get(t, "d"), *ts_ = hd_tag_get(t, "s"),
                 *tt = hd_tag_get(t, "t");
    arc_copy_text(domain, 254, td->value);
    arc_copy_text(selector, 254, ts_->value);
    arc_copy_text(alg, 24, ta->value);
    if (hd_slice_eq_cstr(ta->value, "rsa-sha256"))
        c->ktype = HD_KEY_RSA;
    else if (hd_slice_eq_cstr(ta->value, "ed25519-sha256"))
        c->ktype = HD_KEY_ED25519;
    else if (hd_slice_eq_cstr(ta->value, "rsa-sha1"))
        return check_decide(c, "a=rsa-sha1 is not accepted (RFC 8301 §3.1)"), false;
    else
        return check_decide(c, "unknown signing algorithm a=%s", alg), false;
    if (!dkim_domain_ok(td->value))
        return check_decide(c, "d= is not a valid domain name"), false;
    if (!dkim_selector_ok(ts_->value))
        return check_decide(c, "s= is not a valid selector"), false;
    if (tt != NULL) {
        if (parse_num(tt->value, ts) != 0)
            return check_decide(c, "t= is not a number"), false;
        if (*ts > v->opts.now + v->opts.clock_skew)
            return check_decide(c, "t=%lld lies in the future", (long long)*ts), false;
    }
    hd_buf_init(&c->b, HD_LIMIT_DKIM_SIGNATURE_BYTES);
    hd_err err;
    hd_err_clear(&err);
    if (hd_b64_decode(hd_tag_get(t, "b")->value, HD_B64_IGNORE_WSP, &c->b, &err) != 0)
        return check_decide(c, "b= %s", err.msg), false;
    if (c->b.len == 0)
        return check_decide(c, "b= is empty"), false;
    snprintf(c->qname, sizeof c->qname, "%s._domainkey.%s", selector, domain);
    if (strlen(c->qname) > HD_LIMIT_DNS_NAME)
        return check_decide(c, "s= and d= make a name over 253 octets"), false;
    return true;
}

static int digest_final(EVP_MD_CTX *md, uint8_t out[32])
{
    unsigned len = 0;
    return EVP_DigestFinal_ex(md, out, &len) == 1 && len == 32 ? 0 : HD_ECRYPTO;
}

static int hash_buf(hd_arc_verifier *v, const hd_buf *c, uint8_t out[32])
{
    if (EVP_DigestInit_ex(v->md, v->sha256, NULL) != 1 || EVP_DigestUpdate(v->md, c->p, c->len) != 1)
        return HD_ECRYPTO;
    return digest_final(v->md, out);
}

/* AMS tags and hashes (RFC 8617 §4.1.2: a DKIM-Signature without v=, i=
 * the instance). Returns an error only for internal failures. */
static int start_ams(hd_arc_verifier *v, arc_set *s, const hd_msg *m, size_t fi)
{
    arc_check *c = &s->ams;
    const hd_hdr_field *f = hd_msg_field(m, fi);
    hd_taglist t;
    hd_tag_parse(f->value, &t, NULL); /* parsed once already by arc_collect */
    int64_t ts = -1;
    if (!check_common(v, c, f->value, &t, s->info.ams_domain, s->info.ams_selector, s->info.ams_algorithm,
                      &ts))
        return 0;
    const hd_tag *th = hd_tag_get(&t, "h"), *tbh = hd_tag_get(&t, "bh"), *tc = hd_tag_get(&t, "c");
    if (th == NULL || tbh == NULL)
        return check_decide(c, "lacks the required %s= tag", th == NULL ? "h" : "bh"), 0;
    hd_dkim_canon hc = HD_DKIM_SIMPLE, bc = HD_DKIM_SIMPLE;
    if (tc != NULL && dkim_parse_canon(tc->value, &hc, &bc) != 0)
        return check_decide(c, "unknown canonicalization c="), 0;
    hd_slice names[HD_LIMIT_DKIM_SIGNED_HEADERS + 1];
    size_t idx[HD_LIMIT_DKIM_SIGNED_HEADERS + 1];
    size_t nn = hd_tag_split(th->value, ':', names, HD_LIMIT_DKIM_SIGNED_HEADERS + 1);
    if (nn > HD_LIMIT_DKIM_SIGNED_HEADERS)
        return check_decide(c, "h= lists more than %d fields", HD_LIMIT_DKIM_SIGNED_HEADERS), 0;
    for (size_t i = 0; i < nn; i++) {
        /* an empty entry ("h=;", "from::to") names no field: skipped,
         * as the ARC test suite and dkimpy have it */
        /* RFC 8617 §4.1.2: ARC fields are not signed by an AMS; a seal
         * in h= would tie the AMS to the chain it is part of */
        if (hd_slice_caseeq_cstr(names[i], "ARC-Seal"))
            return check_decide(c, "h= includes ARC-Seal (RFC 8617 §4.1.2)"), 0;
    }
    hd_buf tmp;
    hd_buf_init(&tmp, 64);
    int bad = hd_b64_decode(tbh->value, HD_B64_IGNORE_WSP, &tmp, NULL) != 0 || tmp.len != 32;
    if (!bad)
        memcpy(c->bh_want, tmp.p, 32);
    hd_buf_free(&tmp);
    if (bad)
        return check_decide(c, "bh= is not a base64 SHA-256 digest"), 0;

    /* the body hash once per canonicalization: from DKIM on the same
     * message, or from an earlier AMS of this chain */
    int rc = 0;
    if (v->bh_have[bc]) {
        memcpy(c->bh_got, v->bh[bc], 32);
    } else if (v->opts.same_message_dkim != NULL &&
               dkim_verifier_body_hash(v->opts.same_message_dkim, bc, c->bh_got)) {
        memcpy(v->bh[bc], c->bh_got, 32);
        v->bh_have[bc] = true;
    } else {
        if (EVP_DigestInit_ex(v->md, v->sha256, NULL) != 1)
            return HD_ECRYPTO;
        dkim_body_sink sink = {v->md, UINT64_MAX, 0, 0, NULL};
        dkim_canon_body(bc, hd_msg_body(m), &sink);
        rc = sink.failed ? HD_ECRYPTO : digest_final(v->md, c->bh_got);
        if (rc == 0) {
            memcpy(v->bh[bc], c->bh_got, 32);
            v->bh_have[bc] = true;
        }
    }
    dkim_select_headers(m, names, nn, idx);
    hd_buf *cb = &v->scratch;
    hd_buf_reset(cb);
    for (size_t k = 0; k < nn && rc == 0; k++) {
        if (idx[k] == (size_t)-1)
            continue;
        const hd_hdr_field *hf = hd_msg_field(m, idx[k]);
        rc = dkim_canon_header(hc, hf->raw, hf->name, hf->value, true, cb);
    }
    if (rc == 0)
        rc = arc_canon_field(hc, f->raw, true, cb);
    return rc == 0 ? hash_buf(v, cb, c->hh) : rc;
}

/* AS tags and hash (RFC 8617 §4.1.3, §5.1.1): relaxed canonical AAR,
 * AMS, AS of sets 1..i, the last AS with b= empty. */
static int start_as(hd_arc_verifier *v, arc_set *s, const hd_msg *m, const arc_chain *ch)
{
    arc_check *c = &s->as;
    unsigned inst = s->info.instance;
    const hd_hdr_field *f = hd_msg_field(m, ch->field[inst][ARC_AS]);
    hd_taglist t;
    hd_tag_parse(f->value, &t, NULL);
    if (!check_common(v, c, f->value, &t, s->info.as_domain, s->info.as_selector, s->info.as_algorithm,
                      &s->info.as_timestamp))
        return 0;
    if (hd_tag_get(&t, "h") != NULL)
        return check_decide(c, "an ARC-Seal must not carry h= (RFC 8617 §4.1.3)"), 0;
    hd_buf *cb = &v->scratch;
    hd_buf_reset(cb);
    int rc = 0;
    for (unsigned k = 1; k <= inst && rc == 0; k++)
        for (int kind = 0; kind < ARC_KINDS && rc == 0; kind++) {
            const hd_hdr_field *hf = hd_msg_field(m, ch->field[k][kind]);
            rc = arc_canon_field(HD_DKIM_RELAXED, hf->raw, k == inst && kind == ARC_AS, cb);
        }
    return rc == 0 ? hash_buf(v, cb, c->hh) : rc;
}

static int add_query(hd_arc_verifier *v, arc_check *c)
{
    if (c->decided)
        return 0;
    if (v->opts.cache != NULL &&
        (c->key = dkim_keycache_get(v->opts.cache, c->qname, v->opts.now)) != NULL)
        return 0;
    for (size_t i = 0; i < v->nqueries; i++)
        if (strcasecmp(v->queries[i].name, c->qname) == 0)
            return 0;
    vquery *q = realloc(v->queries, (v->nqueries + 1) * sizeof *q);
    if (q == NULL)
        return HD_ENOMEM;
    v->queries = q;
    if ((q[v->nqueries].name = strdup(c->qname)) == NULL)
        return HD_ENOMEM;
    q[v->nqueries++].answered = false;
    return 0;
}

/* The seal cv= of set i, or -1 when absent or not a known value. */
static int seal_cv(const hd_msg *m, const arc_chain *ch, unsigned i)
{
    hd_taglist t;
    if (hd_tag_parse(hd_msg_field(m, ch->field[i][ARC_AS])->value, &t, NULL) != 0)
        return -1;
    const hd_tag *cv = hd_tag_get(&t, "cv");
    for (int k = 0; cv != NULL && k < 3; k++)
        if (hd_slice_eq_cstr(cv->value, cv_names[k]))
            return k;
    return -1;
}

/* §5.2 steps 2 and 3C. */
static void check_seal_cvs(hd_arc_verifier *v, const hd_msg *m, const arc_chain *ch)
{
    unsigned n = ch->max_instance;
    for (unsigned i = n; i >= 1 && !v->decided; i--) {
        int cv = seal_cv(m, ch, i);
        int want = i == 1 ? HD_ARC_NONE : HD_ARC_PASS;
        if (cv < 0)
            chain_fail(v, i, "the ARC-Seal i=%u has no valid cv= (none, pass or fail)", i);
        else if (cv == HD_ARC_FAIL)
            chain_fail(v, i, "the ARC-Seal i=%u says cv=fail: a custodian found the chain "
                             "broken (RFC 8617 §5.2 step 2)", i);
        else if (cv != want)
            chain_fail(v, i, "the ARC-Seal i=%u says cv=%s where %s is required "
                             "(RFC 8617 §5.2 step 3C)", i, cv_names[cv], cv_names[want]);
    }
}

static int start_sets(hd_arc_verifier *v, const hd_msg *m, const arc_chain *ch)
{
    unsigned n = ch->max_instance;
    if ((v->sets = calloc(n, sizeof *v->sets)) == NULL)
        return HD_ENOMEM;
    v->nsets = n;
    v->res.nsets = n;
    int rc = 0;
    for (unsigned i = 1; i <= n && rc == 0; i++) {
        arc_set *s = &v->sets[i - 1];
        s->info.instance = i;
        s->info.as_timestamp = -1;
        s->ams.is_ams = true;
        s->ams.why = s->info.ams_reason;
        s->as.why = s->info.as_reason;
        s->info.seal_cv = (hd_arc_cv)seal_cv(m, ch, i);
        const hd_hdr_field *aar = hd_msg_field(m, ch->field[i][ARC_AAR]);
        hd_slice payload;
        unsigned inst;
        arc_aar_split(aar->value, &inst, &payload);
        arc_authserv_id(payload, s->info.authserv_id, sizeof s->info.authserv_id);
        size_t keep = payload.len + 1 < HD_ARC_AAR_KEPT_BYTES ? payload.len + 1
                                                               : HD_ARC_AAR_KEPT_BYTES;
        if ((s->info.aar = malloc(keep)) == NULL)
            return HD_ENOMEM;
        arc_unfold(payload, s->info.aar, keep);
        rc = start_ams(v, s, m, ch->field[i][ARC_AMS]);
        if (rc == 0)
            rc = start_as(v, s, m, ch);
        if (rc == 0)
            rc = add_query(v, &s->ams);
        if (rc == 0)
            rc = add_query(v, &s->as);
    }
    return rc;
}

int hd_arc_verify_start(hd_arc_verifier *v, hd_slice msg, hd_err *err)
{
    verifier_reset(v);
    if (msg.len > v->opts.max_message_bytes)
        return hd_err_set(err, HD_ELIMIT, "message of %zu bytes is over the %zu-byte limit",
                          msg.len, v->opts.max_message_bytes);
    /* most mail has no ARC sets: a header-only look first, before the
     * full parse and line-end conversion */
    hd_msg_limits quick = {.header_only = true};
    hd_msg *m = NULL;
    int rc = hd_msg_parse(msg, &quick, &m, err);
    if (rc != 0)
        return rc;
    bool any = hd_msg_count(m, "ARC-Seal") + hd_msg_count(m, "ARC-Message-Signature") +
                   hd_msg_count(m, "ARC-Authentication-Results") > 0;
    hd_msg_free(m);
    m = NULL;
    if (!any) {
        v->res.cv = HD_ARC_NONE;
        snprintf(v->res.reason, sizeof v->res.reason, "the message has no ARC sets");
        v->decided = true;
        return 0;
    }
    hd_buf crlf;
    hd_buf_init(&crlf, v->opts.max_message_bytes * 2);
    rc = dkim_parse_message(msg, &crlf, &m, err);
    arc_chain *ch = rc == 0 ? malloc(sizeof *ch) : NULL;
    if (rc == 0 && ch == NULL)
        rc = hd_err_set(err, HD_ENOMEM, NULL);
    if (rc == 0) {
        arc_collect(m, ch);
        v->res.max_instance = ch->max_instance;
        if (ch->nfields == 0) {
            v->res.cv = HD_ARC_NONE;
            snprintf(v->res.reason, sizeof v->res.reason, "the message has no ARC sets");
            v->decided = true;
        } else if (ch->broken) {
            chain_fail(v, ch->bad_instance, "%s", ch->why);
        } else {
            check_seal_cvs(v, m, ch);
        }
        if (ch->max_instance <= HD_ARC_MAX_INSTANCE && ch->nfields > 0 && !ch->broken)
            v->res.latest_seal_fail = seal_cv(m, ch, ch->max_instance) == HD_ARC_FAIL;
        if (!v->decided && (rc = start_sets(v, m, ch)) != 0)
            hd_err_set(err, rc, "hashing the ARC sets failed: %s", hd_strerror(rc));
    }
    free(ch);
    hd_msg_free(m);
    hd_buf_free(&crlf);
    return rc;
}

size_t hd_arc_verify_nqueries(const hd_arc_verifier *v)
{
    return v->nqueries;
}

const char *hd_arc_verify_query(const hd_arc_verifier *v, size_t i)
{
    return i < v->nqueries ? v->queries[i].name : NULL;
}

int hd_arc_verify_answer(hd_arc_verifier *v, size_t i, const hd_dns_answer *ans, hd_err *err)
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
    for (size_t k = 0; k < 2 * v->nsets; k++) {
        arc_check *c = k % 2 ? &v->sets[k / 2].as : &v->sets[k / 2].ams;
        if (!c->decided && c->key == NULL && strcasecmp(c->qname, q->name) == 0) {
            c->key = rec;
            rec->refs++;
        }
    }
    dkim_keyrec_release(rec);
    return 0;
}

/* Key, signature and (AMS) body hash: RFC 6376 §6.1.2-3 with §5.2.1's
 * rule that every error is a failure. Idempotent. */
static bool evaluate(const hd_arc_verifier *v, arc_check *c)
{
    if (c->decided)
        return c->ok;
    const dkim_keyrec *k = c->key;
    c->decided = true;
    c->ok = false;
    if (k == NULL)
        return check_decide(c, "no answer for the key at %s", c->qname), false;
    if (k->code != HD_DKIM_R_OK)
        return check_decide(c, "%s", k->why), false;
    if (k->revoked)
        return check_decide(c, "the key at %s is revoked (empty p=)", c->qname), false;
    if (k->type != c->ktype || !k->allow_sha256 || !k->service_email)
        return check_decide(c, "the key at %s does not allow this signature (k=, h= or s=)",
                            c->qname), false;
    if (k->type == HD_KEY_RSA && k->bits < v->opts.min_rsa_bits)
        return check_decide(c, "the %u-bit RSA key at %s is below the %u-bit minimum "
                               "(RFC 8301 §3.2)", k->bits, c->qname, v->opts.min_rsa_bits), false;
    if (hd_key_verify_digest(k->key, c->hh, 32, false, hd_buf_slice(&c->b), NULL) != 0)
        return check_decide(c, c->is_ams ? "signature did not verify: a signed header field "
                                           "changed, or another key signed"
                                         : "seal did not verify: an ARC field changed, or "
                                           "another key sealed"), false;
    if (c->is_ams && memcmp(c->bh_want, c->bh_got, 32) != 0)
        return check_decide(c, "body hash did not verify: the body changed after signing"), false;
    c->ok = true;
    snprintf(c->why, 256, "verified");
    return true;
}

/* §5.2 steps 4-7. */
static void decide_chain(hd_arc_verifier *v)
{
    size_t n = v->nsets;
    arc_set *top = &v->sets[n - 1];
    top->info.ams_checked = true;
    if (!(top->info.ams_ok = evaluate(v, &top->ams)))
        return chain_fail(v, (unsigned)n, "the newest ARC-Message-Signature (i=%zu) failed: %s",
                          n, top->info.ams_reason);
    v->res.oldest_pass = 0;
    for (size_t i = n - 1; i >= 1; i--) {
        arc_set *s = &v->sets[i - 1];
        s->info.ams_checked = true;
        if (!(s->info.ams_ok = evaluate(v, &s->ams))) {
            v->res.oldest_pass = (unsigned)i + 1;
            break;
        }
    }
    for (size_t i = n; i >= 1; i--) {
        arc_set *s = &v->sets[i - 1];
        s->info.as_checked = true;
        if (!(s->info.as_ok = evaluate(v, &s->as)))
            return chain_fail(v, (unsigned)i, "the ARC-Seal i=%zu failed: %s", i,
                              s->info.as_reason);
    }
    v->res.cv = HD_ARC_PASS;
    v->res.nsets = n;
    snprintf(v->res.reason, sizeof v->res.reason, "%zu ARC set%s, every seal and the newest "
             "message signature verified", n, n == 1 ? "" : "s");
}

int hd_arc_verify_finish(hd_arc_verifier *v, hd_err *err)
{
    if (!v->decided && v->nsets > 0)
        decide_chain(v);
    if (v->res.cv != HD_ARC_PASS)
        v->res.oldest_pass = 0;
    v->decided = true;
    return 0;
}

const hd_arc_result *hd_arc_verify_result(const hd_arc_verifier *v)
{
    return &v->res;
}

size_t hd_arc_verify_nsets(const hd_arc_verifier *v)
{
    return v->nsets;
}

const hd_arc_set_info *hd_arc_verify_set(const hd_arc_verifier *v, size_t i)
{
    return i < v->nsets ? &v->sets[i].info : NULL;
}
