/*
 * verdict.c - a receiver's whole verdict on one message: SPF, every DKIM
 * signature, ARC and DMARC run through one DNS resolver, then turned into
 * an Authentication-Results field, JSON, or a diagnosis.
 *
 * The verdict owns the evaluators it ran (their results, and the ARC sets
 * the diagnosis reads, live in them) and copies of the request's strings;
 * nothing points into the message after hd_verdict_run returns.
 */
#include <herald/authres.h>
#include <herald/explain.h>
#include <herald/json.h>
#include <herald/limits.h>
#include <herald/mail.h>
#include <herald/verdict.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* SPF, ARC and DMARC may each leave one problem. */
#define MAX_PROBLEMS 3
/* Result fragments in one field: SPF, the signatures, DMARC, ARC. More
 * signatures than fit (beyond the verified ones) are left out of it. */
#define MAX_FRAGMENTS (HD_LIMIT_DKIM_SIGNATURES + 8)
/* Recorded passes of an ARC-Authentication-Results field checked for
 * alignment (as many as DMARC takes DKIM signatures). */
#define MAX_ARC_ALIGNMENTS HD_DMARC_MAX_DKIM
/* The run's own answer cache when the caller gives none. */
#define OWN_CACHE_ENTRIES 256
#define OWN_CACHE_MAX_TTL 3600
#define OWN_CACHE_NEG_TTL 60

struct hd_verdict {
    hd_spf *spf;
    hd_dkim_verifier *dkim;
    hd_arc_verifier *arc;
    hd_dmarc *dmarc;
    /* the connection, as given ("" for NULL) */
    char *ip, *helo, *mail_from;
    bool facts_from_message;
    /* what the header says */
    char from_domain[256];
    bool multiple_from;
    char list_id[256];
    bool subject_tagged;
    /* what the oldest ARC-Authentication-Results vouches for */
    hd_explain_arc_vouch arc_vouch;
    char arc_vouch_domain[256];
    char problems[MAX_PROBLEMS][HD_ERR_MSG_MAX + 16];
    size_t nproblems;
};

/* Reading the header ---------------------------------------------------------- */

static int parse_header(hd_slice msg, hd_msg **m, hd_err *err)
{
    hd_msg_limits header_only = {.header_only = true};
    return hd_msg_parse(msg, &header_only, m, err);
}

/* The field's value trimmed and unfolded (CR and LF dropped), cut to
 * len - 1 bytes, in buf (NUL-terminated). */
static hd_slice field_text(const hd_hdr_field *f, char *buf, size_t len)
{
    hd_slice v = hd_slice_trim_wsp(f->value);
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 1 < len; i++)
        if (v.p[i] != '\r' && v.p[i] != '\n')
            buf[o++] = (char)v.p[i];
    buf[o] = '\0';
    return hd_slice_make(buf, o);
}

static void copy_slice(char *dst, size_t len, hd_slice s)
{
    size_t n = s.len < len - 1 ? s.len : len - 1;
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

/* Bytes of s before the first of the bytes in stop (all of s when none). */
static size_t span_until(hd_slice s, const char *stop)
{
    size_t n = 0;
    while (n < s.len && strchr(stop, s.p[n]) == NULL)
        n++;
    return n;
}

static hd_slice after(hd_slice s, size_t off)
{
    return hd_slice_make(s.p + off, s.len - off);
}

/* "from HELO (... [IP]) by ..." in the topmost Received field (RFC 5321
 * §4.4: the TCP-info in brackets is the address the receiver saw). */
static void facts_from_received(const hd_msg *m, hd_verdict_facts *f)
{
    size_t i = hd_msg_find(m, "Received", 0);
    if (i == (size_t)-1)
        return;
    char buf[1024];
    hd_slice text = field_text(hd_msg_field(m, i), buf, sizeof buf);
    size_t at = hd_slice_find(text, hd_slice_cstr("from "));
    if (at != (size_t)-1) {
        hd_slice rest = after(text, at + 5);
        copy_slice(f->helo, sizeof f->helo, hd_slice_make(rest.p, span_until(rest, " \t(;")));
        f->have_helo = true;
    }
    at = hd_slice_find(text, hd_slice_cstr("["));
    if (at != (size_t)-1) {
        hd_slice rest = after(text, at + 1);
        if (rest.len >= 5 && hd_slice_caseeq_cstr(hd_slice_make(rest.p, 5), "IPv6:"))
            rest = after(rest, 5);
        copy_slice(f->ip, sizeof f->ip, hd_slice_make(rest.p, span_until(rest, "]")));
        f->have_ip = true;
    }
}

/* "Return-Path: <addr>" (RFC 5321 §4.4), as the delivering MTA wrote it. */
static void facts_from_return_path(const hd_msg *m, hd_verdict_facts *f)
{
    size_t i = hd_msg_find(m, "Return-Path", 0);
    if (i == (size_t)-1)
        return;
    char buf[512];
    hd_slice text = field_text(hd_msg_field(m, i), buf, sizeof buf);
    size_t lt = hd_slice_find(text, hd_slice_cstr("<"));
    if (lt != (size_t)-1) {
        hd_slice rest = after(text, lt + 1);
        size_t gt = hd_slice_find(rest, hd_slice_cstr(">"));
        if (gt != (size_t)-1)
            copy_slice(f->mail_from, sizeof f->mail_from, hd_slice_make(rest.p, gt));
    }
    f->have_mail_from = true;
}

int hd_verdict_facts_from_message(hd_slice msg, hd_verdict_facts *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_msg *m = NULL;
    int rc = parse_header(msg, &m, err);
    if (rc != 0)
        return rc;
    facts_from_return_path(m, out);
    facts_from_received(m, out);
    hd_msg_free(m);
    return 0;
}

/* The From domain (RFC 7489 §6.6.1: exactly one, or the message is
 * flagged), the List-Id and a "[tag]" Subject for the diagnosis. */
static int read_header(hd_verdict *v, const hd_msg *m, hd_err *err)
{
    size_t i = hd_msg_find(m, "From", 0);
    if (i == (size_t)-1)
        return hd_err_set(err, HD_ESYNTAX, "the message has no From field: DMARC needs one");
    const hd_hdr_field *from_field = hd_msg_field(m, i);
    hd_addr_list from;
    hd_err why;
    hd_err_clear(&why);
    int rc = hd_addr_parse_from(from_field->value, &from, &v->multiple_from, &why);
    if (rc != 0)
        return hd_err_set(err, rc, "From field (line %zu): %s", from_field->line, hd_err_str(&why));
    v->multiple_from |= hd_msg_count(m, "From") > 1;
    snprintf(v->from_domain, sizeof v->from_domain, "%s", from.v[0].domain ? from.v[0].domain : "");
    hd_addr_list_free(&from);
    if ((i = hd_msg_find(m, "List-Id", 0)) != (size_t)-1)
        field_text(hd_msg_field(m, i), v->list_id, sizeof v->list_id);
    if ((i = hd_msg_find(m, "Subject", 0)) != (size_t)-1) {
        char buf[256];
        hd_slice subj = field_text(hd_msg_field(m, i), buf, sizeof buf);
        v->subject_tagged = subj.len > 0 && subj.p[0] == '[' && memchr(subj.p, ']', subj.len) != NULL;
    }
    return 0;
}

/* Running the checks ------------------------------------------------------------ */

static void problem(hd_verdict *v, const char *what, const hd_err *err)
{
    if (v->nproblems < MAX_PROBLEMS)
        snprintf(v->problems[v->nproblems++], sizeof v->problems[0], "%s: %s", what, hd_err_str(err));
}

static void run_spf(hd_verdict *v, const hd_verdict_request *req, hd_dns *dns, hd_dns_cache *cache)
{
    if (req->ip == NULL || req->ip[0] == '\0' || req->mail_from == NULL)
        return;
    hd_spf_request sr = {.ip = req->ip, .sender = req->mail_from, .helo = req->helo, .now = req->now};
    hd_spf_opts so = {.cache = cache};
    hd_err err;
    hd_err_clear(&err);
    if (hd_spf_new(&sr, &so, &v->spf, &err) != 0 || hd_spf_run(v->spf, dns, &err) != 0) {
        problem(v, "SPF", &err);
        hd_spf_free(v->spf);
        v->spf = NULL;
    }
}

static int run_dkim(hd_verdict *v, const hd_verdict_request *req, hd_slice msg, hd_dns *dns,
                    hd_err *err)
{
    hd_dkim_verify_opts o;
    hd_dkim_verify_opts_init(&o, req->now);
    o.cache = req->keys;
    int rc = hd_dkim_verifier_new(&o, &v->dkim, err);
    if (rc == 0)
        rc = hd_dkim_verify_run(v->dkim, msg, dns, err);
    if (rc != 0)
        hd_err_prefix(err, "DKIM: ");
    return rc;
}

static void run_arc(hd_verdict *v, const hd_verdict_request *req, hd_slice msg, hd_dns *dns)
{
    hd_arc_verify_opts o;
    hd_arc_verify_opts_init(&o, req->now);
    o.cache = req->keys;
    o.same_message_dkim = v->dkim; /* started on msg just before */
    hd_err err;
    hd_err_clear(&err);
    if (hd_arc_verifier_new(&o, &v->arc, &err) != 0 || hd_arc_verify_run(v->arc, msg, dns, &err) != 0) {
        problem(v, "ARC", &err);
        hd_arc_verifier_free(v->arc);
        v->arc = NULL;
    }
}

static void run_dmarc(hd_verdict *v, const hd_verdict_request *req, hd_dns *dns, hd_dns_cache *cache)
{
    if (v->from_domain[0] == '\0')
        return;
    hd_dmarc_request dr = {
        .from_domain = v->from_domain,
        .now = req->now,
        .mode = req->rfc7489 ? HD_DMARC_RFC7489 : HD_DMARC_RFC9989,
        .psl = req->psl,
        .pct_roll = (unsigned)(((req->now % 100) + 100) % 100),
    };
    /* passes, and the temperrors DMARC weighs when nothing aligned passed
     * (RFC 9989 §5.3.6: a message whose checks did not complete cannot
     * fail) */
    if (v->spf != NULL) {
        const hd_spf_verdict *s = hd_spf_get_verdict(v->spf);
        dr.spf_domain = s->domain;
        dr.spf_pass = s->result == HD_SPF_PASS;
        dr.spf_temperror = s->result == HD_SPF_TEMPERROR;
    }
    for (size_t i = 0; i < hd_dkim_verify_count(v->dkim); i++) {
        const hd_dkim_result *r = hd_dkim_verify_result(v->dkim, i);
        if (r->result == HD_DKIM_PASS && dr.ndkim < HD_DMARC_MAX_DKIM)
            dr.dkim_domains[dr.ndkim++] = r->domain;
        if (r->result == HD_DKIM_TEMPERROR && dr.ndkim_temp < HD_DMARC_MAX_DKIM)
            dr.dkim_temp_domains[dr.ndkim_temp++] = r->domain;
    }
    hd_dmarc_opts o = {.cache = cache};
    hd_err err;
    hd_err_clear(&err);
    if (hd_dmarc_new(&dr, &o, &v->dmarc, &err) != 0 || hd_dmarc_run(v->dmarc, dns, &err) != 0) {
        problem(v, "DMARC", &err);
        hd_dmarc_free(v->dmarc);
        v->dmarc = NULL;
    }
}

/* Reading what an ARC chain vouches for ------------------------------------------ */

/* The domain of an identity property: "user@dom" or "dom" (RFC 8601
 * §2.7.1 header.d, header.i; §2.7.2 smtp.mailfrom, smtp.helo). */
static const char *prop_domain(const hd_authres *ar, size_t i, const char *ptype, const char *name)
{
    const hd_authres_prop *p = hd_authres_find_prop(ar, i, ptype, name);
    if (p == NULL || p->value[0] == '\0')
        return NULL;
    const char *at = strrchr(p->value, '@');
    return at != NULL ? (at[1] ? at + 1 : NULL) : p->value;
}

/* The identifier a recorded pass is for: DKIM's signing domain, SPF's MAIL
 * FROM domain (the HELO name when MAIL FROM was null: RFC 7208 §2.4), the
 * DMARC From domain; NULL for any other method or result. */
static const char *vouched_id(const hd_authres *ar, size_t i, hd_explain_arc_vouch *kind)
{
    const hd_authres_result *r = hd_authres_get(ar, i);
    if (strcmp(r->result, "pass") != 0)
        return NULL;
    const char *id = NULL;
    if (strcmp(r->method, "dkim") == 0) {
        *kind = HD_EXPLAIN_ARC_DKIM_PASS;
        if ((id = prop_domain(ar, i, "header", "d")) == NULL)
            id = prop_domain(ar, i, "header", "i");
    } else if (strcmp(r->method, "spf") == 0) {
        *kind = HD_EXPLAIN_ARC_SPF_PASS;
        if ((id = prop_domain(ar, i, "smtp", "mailfrom")) == NULL)
            id = prop_domain(ar, i, "smtp", "helo");
    } else if (strcmp(r->method, "dmarc") == 0) {
        *kind = HD_EXPLAIN_ARC_DMARC_PASS;
        id = prop_domain(ar, i, "header", "from");
    }
    return id;
}

/* Does the recorded pass of kind for id count for the From domain: a DKIM
 * or SPF identifier aligned as DMARC aligns (the record's adkim=/aspf=,
 * relaxed through the Organizational Domain), a DMARC pass for this very
 * From domain? */
static bool vouch_counts(hd_verdict *v, hd_dns *dns, hd_explain_arc_vouch kind, const char *id)
{
    if (kind == HD_EXPLAIN_ARC_DMARC_PASS)
        return strcasecmp(id, v->from_domain) == 0;
    bool ok = false;
    hd_err err;
    hd_err_clear(&err);
    return hd_dmarc_aligned(v->dmarc, dns, id, kind == HD_EXPLAIN_ARC_DKIM_PASS, &ok, &err) == 0 && ok;
}

/* RFC 8617 §7.2.1: what the first sealer recorded when the message reached
 * it (the oldest AAR), read result by result with the Authentication-
 * Results parser: the first aligned DKIM pass, else an aligned SPF pass,
 * else dmarc=pass for the From domain. A pass for some other domain (an
 * ESP's own signature, "example.com.attacker.net") vouches for nothing. */
static void read_arc_vouch(hd_verdict *v, hd_dns *dns)
{
    const hd_arc_result *r = hd_verdict_arc(v);
    if (r == NULL || r->cv != HD_ARC_PASS || v->dmarc == NULL || hd_arc_verify_nsets(v->arc) == 0)
        return;
    const hd_arc_set_info *first = hd_arc_verify_set(v->arc, 0);
    hd_authres *ar = NULL;
    if (first->aar == NULL || hd_authres_parse(hd_slice_cstr(first->aar), &ar, NULL) != 0)
        return;
    static const hd_explain_arc_vouch order[] = {HD_EXPLAIN_ARC_DKIM_PASS, HD_EXPLAIN_ARC_SPF_PASS,
                                                 HD_EXPLAIN_ARC_DMARC_PASS};
    /* each alignment may walk the DNS tree (8 queries): a field of many
     * recorded passes is weighed for its first ones only */
    size_t budget = MAX_ARC_ALIGNMENTS;
    for (size_t k = 0; k < sizeof order / sizeof order[0] && v->arc_vouch == HD_EXPLAIN_ARC_NOTHING; k++)
        for (size_t i = 0; i < hd_authres_count(ar) && budget > 0; i++) {
            hd_explain_arc_vouch kind = HD_EXPLAIN_ARC_NOTHING;
            const char *id = vouched_id(ar, i, &kind);
            if (id == NULL || kind != order[k])
                continue;
            budget--;
            if (vouch_counts(v, dns, kind, id)) {
                v->arc_vouch = kind;
                snprintf(v->arc_vouch_domain, sizeof v->arc_vouch_domain, "%s", id);
                break;
            }
        }
    hd_authres_free(ar);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

static int start(const hd_verdict_request *req, hd_slice msg, hd_verdict *v, hd_err *err)
{
    v->ip = dup_or_empty(req->ip);
    v->helo = dup_or_empty(req->helo);
    v->mail_from = dup_or_empty(req->mail_from);
    if (v->ip == NULL || v->helo == NULL || v->mail_from == NULL)
        return hd_err_set(err, HD_ENOMEM, "verdict: out of memory");
    v->facts_from_message = req->facts_from_message;
    hd_msg *m = NULL;
    int rc = parse_header(msg, &m, err);
    if (rc == 0)
        rc = read_header(v, m, err);
    hd_msg_free(m);
    return rc;
}

int hd_verdict_run(const hd_verdict_request *req, hd_slice msg, hd_dns *dns, hd_verdict **out,
                   hd_err *err)
{
    if (out != NULL)
        *out = NULL;
    if (req == NULL || dns == NULL || out == NULL)
        return hd_err_set(err, HD_EINVAL, "verdict: a request, a resolver and a result are needed");
    if (req->rfc7489 && req->psl == NULL)
        return hd_err_set(err, HD_EINVAL, "verdict: DMARC in RFC 7489 mode needs the Public Suffix List");
    hd_verdict *v = calloc(1, sizeof *v);
    if (v == NULL)
        return hd_err_set(err, HD_ENOMEM, "verdict: out of memory");
    hd_dns_cache *own = NULL, *cache = req->cache;
    if (cache == NULL && (cache = own = hd_dns_cache_new(OWN_CACHE_ENTRIES, OWN_CACHE_MAX_TTL,
                                                         OWN_CACHE_NEG_TTL)) == NULL) {
        hd_verdict_free(v);
        return hd_err_set(err, HD_ENOMEM, "verdict: out of memory");
    }
    int rc = start(req, msg, v, err);
    if (rc == 0) {
        run_spf(v, req, dns, cache);
        rc = run_dkim(v, req, msg, dns, err);
    }
    if (rc == 0 && req->arc)
        run_arc(v, req, msg, dns);
    if (rc == 0)
        run_dmarc(v, req, dns, cache);
    if (rc == 0)
        read_arc_vouch(v, dns); /* before the cache DMARC holds goes */
    hd_dns_cache_free(own);
    if (rc != 0) {
        hd_verdict_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void hd_verdict_free(hd_verdict *v)
{
    if (v == NULL)
        return;
    hd_spf_free(v->spf);
    hd_dkim_verifier_free(v->dkim);
    hd_arc_verifier_free(v->arc);
    hd_dmarc_free(v->dmarc);
    free(v->ip);
    free(v->helo);
    free(v->mail_from);
    free(v);
}

/* Accessors ----------------------------------------------------------------------- */

const hd_spf_verdict *hd_verdict_spf(const hd_verdict *v)
{
    return v->spf != NULL ? hd_spf_get_verdict(v->spf) : NULL;
}

size_t hd_verdict_dkim_count(const hd_verdict *v)
{
    return hd_dkim_verify_count(v->dkim);
}

const hd_dkim_result *hd_verdict_dkim(const hd_verdict *v, size_t i)
{
    return i < hd_dkim_verify_count(v->dkim) ? hd_dkim_verify_result(v->dkim, i) : NULL;
}

const hd_arc_result *hd_verdict_arc(const hd_verdict *v)
{
    return v->arc != NULL ? hd_arc_verify_result(v->arc) : NULL;
}

const hd_dmarc_verdict *hd_verdict_dmarc(const hd_verdict *v)
{
    return v->dmarc != NULL ? hd_dmarc_get_verdict(v->dmarc) : NULL;
}

const char *hd_verdict_from_domain(const hd_verdict *v)
{
    return v->from_domain;
}

size_t hd_verdict_nproblems(const hd_verdict *v)
{
    return v->nproblems;
}

const char *hd_verdict_problem(const hd_verdict *v, size_t i)
{
    return i < v->nproblems ? v->problems[i] : NULL;
}

/* Authentication-Results ------------------------------------------------------------ */

/* One fragment into the builder, through the scratch buffer. */
static int add_fragment(hd_authres_builder *b, hd_buf *frag, int made, hd_err *err)
{
    int rc = made != 0 ? hd_err_set(err, made, "Authentication-Results fragment: %s", hd_strerror(made))
                       : hd_authres_builder_add(b, hd_buf_slice(frag), err);
    hd_buf_reset(frag);
    return rc;
}

/* RFC 8601 §2.7: one resinfo per method; RFC 8617 §6 for arc, reported
 * only when the message has a chain. */
static int add_fragments(const hd_verdict *v, hd_authres_builder *b, hd_buf *frag, hd_err *err)
{
    size_t n = 0, ndkim = hd_dkim_verify_count(v->dkim);
    int rc = 0;
    if (v->spf != NULL && (rc = add_fragment(b, frag, hd_spf_to_ar(v->spf, frag), err)) == 0)
        n++;
    for (size_t i = 0; rc == 0 && i < ndkim && n + 3 < MAX_FRAGMENTS; i++, n++)
        rc = add_fragment(b, frag, hd_dkim_result_to_ar(hd_dkim_verify_result(v->dkim, i), frag), err);
    if (rc == 0 && ndkim == 0)
        rc = add_fragment(b, frag, hd_buf_append_cstr(frag, "dkim=none (no signatures)"), err);
    if (rc == 0 && v->dmarc != NULL)
        rc = add_fragment(b, frag, hd_dmarc_to_ar(hd_dmarc_get_verdict(v->dmarc), frag), err);
    const hd_arc_result *arc = hd_verdict_arc(v);
    if (rc == 0 && arc != NULL && arc->cv != HD_ARC_NONE)
        rc = add_fragment(b, frag, hd_arc_result_to_ar(arc, frag), err);
    return rc;
}

int hd_verdict_ar(const hd_verdict *v, const char *authserv, hd_buf *out, hd_err *err)
{
    hd_authres_builder *b = NULL;
    int rc = hd_authres_builder_new(authserv, &b, err);
    hd_buf frag;
    hd_buf_init(&frag, 8192);
    if (rc == 0)
        rc = add_fragments(v, b, &frag, err);
    if (rc == 0)
        rc = hd_authres_builder_finish(b, out, err);
    hd_buf_free(&frag);
    hd_authres_builder_free(b);
    return rc;
}

/* JSON -------------------------------------------------------------------------------- */


/* Set o[key] = val (taking val); *bad on any failure (val NULL included). */
static void put(json_t *o, const char *key, json_t *val, bool *bad)
{
    if (json_object_set_new(o, key, val) != 0)
        *bad = true;
}

static json_t *connection_json(const hd_verdict *v, bool *bad)
{
    json_t *o = json_object();
    put(o, "ip", hd_json_text(v->ip), bad);
    put(o, "helo", hd_json_text(v->helo), bad);
    put(o, "mail_from", hd_json_text(v->mail_from), bad);
    put(o, "from_message", json_boolean(v->facts_from_message), bad);
    return o;
}

static json_t *spf_json(const hd_spf_verdict *s, bool *bad)
{
    if (s == NULL)
        return json_null();
    json_t *o = json_object();
    put(o, "result", hd_json_text(hd_spf_result_name(s->result)), bad);
    put(o, "domain", hd_json_text(s->domain), bad);
    put(o, "mechanism", hd_json_text(s->mechanism), bad);
    put(o, "reason", hd_json_text(s->reason), bad);
    put(o, "explanation", hd_json_text(s->explanation), bad);
    put(o, "dns_lookups", json_integer(s->dns_lookups), bad);
    put(o, "void_lookups", json_integer(s->void_lookups), bad);
    return o;
}

static json_t *dkim_json(const hd_dkim_result *r, bool *bad)
{
    json_t *o = json_object();
    put(o, "result", hd_json_text(hd_dkim_result_name(r->result)), bad);
    put(o, "reason", hd_json_text(r->reason), bad);
    put(o, "reason_code", hd_json_text(hd_dkim_reason_name(r->reason_code)), bad);
    put(o, "domain", hd_json_text(r->domain), bad);
    put(o, "selector", hd_json_text(r->selector), bad);
    put(o, "algorithm", hd_json_text(r->algorithm), bad);
    put(o, "header_b", hd_json_text(r->header_b), bad);
    put(o, "key_bits", json_integer(r->key_bits), bad);
    return o;
}

static json_t *dkim_array_json(const hd_verdict *v, bool *bad)
{
    json_t *a = json_array();
    for (size_t i = 0; i < hd_dkim_verify_count(v->dkim); i++)
        if (json_array_append_new(a, dkim_json(hd_dkim_verify_result(v->dkim, i), bad)) != 0)
            *bad = true;
    return a;
}

static json_t *dmarc_json(const hd_dmarc_verdict *d, bool *bad)
{
    if (d == NULL)
        return json_null();
    json_t *o = json_object();
    put(o, "result", hd_json_text(hd_dmarc_result_name(d->result)), bad);
    put(o, "mode", hd_json_text(d->mode == HD_DMARC_RFC7489 ? "rfc7489" : "rfc9989"), bad);
    put(o, "record_domain", hd_json_text(d->record_domain), bad);
    put(o, "organizational_domain", hd_json_text(d->org_domain), bad);
    put(o, "policy_tag", hd_json_text(d->policy_tag != NULL ? d->policy_tag : ""), bad);
    put(o, "policy", hd_json_text(hd_dmarc_policy_name(d->policy)), bad);
    put(o, "disposition", hd_json_text(hd_dmarc_policy_name(d->disposition)), bad);
    put(o, "spf_aligned", json_boolean(d->spf_aligned), bad);
    put(o, "dkim_aligned", json_boolean(d->dkim_aligned), bad);
    put(o, "reason", hd_json_text(d->reason), bad);
    return o;
}

/* What the oldest AAR vouches for: {method, domain}, or null. */
static json_t *vouch_json(const hd_verdict *v, bool *bad)
{
    static const char *const method[] = {
        [HD_EXPLAIN_ARC_DKIM_PASS] = "dkim",
        [HD_EXPLAIN_ARC_SPF_PASS] = "spf",
        [HD_EXPLAIN_ARC_DMARC_PASS] = "dmarc",
    };
    if (v->arc_vouch == HD_EXPLAIN_ARC_NOTHING)
        return json_null();
    json_t *o = json_object();
    put(o, "method", hd_json_text(method[v->arc_vouch]), bad);
    put(o, "domain", hd_json_text(v->arc_vouch_domain), bad);
    return o;
}

static json_t *arc_json(const hd_verdict *v, bool *bad)
{
    const hd_arc_result *r = hd_verdict_arc(v);
    json_t *o = json_object();
    put(o, "cv", hd_json_text(hd_arc_cv_name(r->cv)), bad);
    put(o, "reason", hd_json_text(r->reason), bad);
    put(o, "sets", json_integer((json_int_t)r->nsets), bad);
    put(o, "failed_instance", json_integer(r->failed_instance), bad);
    put(o, "oldest_pass", json_integer(r->oldest_pass), bad);
    put(o, "vouches", vouch_json(v, bad), bad);
    return o;
}

/* The field without its final line end, as a JSON string. */
static json_t *ar_json(const hd_verdict *v, const char *authserv, hd_err *err)
{
    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    json_t *j = NULL;
    if (hd_verdict_ar(v, authserv, &ar, err) == 0) {
        while (ar.len > 0 && (ar.p[ar.len - 1] == '\n' || ar.p[ar.len - 1] == '\r'))
            ar.p[--ar.len] = '\0';
        if ((j = hd_json_text(hd_buf_cstr(&ar))) == NULL)
            hd_err_set(err, HD_ENOMEM, "verdict JSON: out of memory");
    }
    hd_buf_free(&ar);
    return j;
}

static json_t *explain_json(const hd_verdict *v, hd_err *err)
{
    hd_buf text;
    hd_buf_init(&text, 1 << 16);
    json_t *j = NULL;
    if (hd_verdict_explain(v, &text, err) == 0 && (j = hd_json_text(hd_buf_cstr(&text))) == NULL)
        hd_err_set(err, HD_ENOMEM, "verdict JSON: out of memory");
    hd_buf_free(&text);
    return j;
}

int hd_verdict_json(const hd_verdict *v, const char *authserv, bool explain, hd_buf *out,
                    hd_err *err)
{
    bool bad = false;
    json_t *o = json_object();
    put(o, "from_domain", hd_json_text(v->from_domain), &bad);
    put(o, "connection", connection_json(v, &bad), &bad);
    put(o, "spf", spf_json(hd_verdict_spf(v), &bad), &bad);
    put(o, "dkim", dkim_array_json(v, &bad), &bad);
    put(o, "dmarc", dmarc_json(hd_verdict_dmarc(v), &bad), &bad);
    if (v->arc != NULL)
        put(o, "arc", arc_json(v, &bad), &bad);
    hd_err why;
    hd_err_clear(&why);
    json_t *ar = authserv != NULL ? ar_json(v, authserv, &why) : NULL;
    json_t *expl = explain && why.code == 0 ? explain_json(v, &why) : NULL;
    if (why.code != 0) {
        json_decref(ar);
        json_decref(o);
        if (err != NULL)
            *err = why;
        return why.code;
    }
    if (ar != NULL)
        put(o, "authentication_results", ar, &bad);
    if (expl != NULL)
        put(o, "explanation", expl, &bad);
    char *text = bad ? NULL : json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return hd_err_set(err, HD_ENOMEM, "verdict JSON: out of memory");
    int rc = hd_buf_append_cstr(out, text);
    free(text);
    if (rc != 0)
        return hd_err_set(err, rc, "verdict JSON: %s", hd_strerror(rc));
    return 0;
}

/* Explanation -------------------------------------------------------------------- */

static void explain_arc(const hd_verdict *v, hd_explain_input *in)
{
    const hd_arc_result *r = hd_verdict_arc(v);
    if (r == NULL || r->cv == HD_ARC_NONE)
        return;
    in->arc_present = true;
    in->arc_cv = hd_arc_cv_name(r->cv);
    size_t ns = hd_arc_verify_nsets(v->arc);
    in->arc_sealer = ns ? hd_arc_verify_set(v->arc, ns - 1)->as_domain : "?";
    in->arc_recorder = ns ? hd_arc_verify_set(v->arc, 0)->as_domain : "?";
    in->arc_vouch = v->arc_vouch;
    in->arc_vouch_domain = v->arc_vouch_domain;
}

int hd_verdict_explain(const hd_verdict *v, hd_buf *out, hd_err *err)
{
    size_t ndkim = hd_dkim_verify_count(v->dkim);
    hd_dkim_result *dk = calloc(ndkim + 1, sizeof *dk); /* hd_explain wants them in a row */
    if (dk == NULL)
        return hd_err_set(err, HD_ENOMEM, "explanation: out of memory");
    for (size_t i = 0; i < ndkim; i++)
        dk[i] = *hd_dkim_verify_result(v->dkim, i);
    hd_explain_input in = {
        .from_domain = v->from_domain, .multiple_from = v->multiple_from, .ip = v->ip,
        .mail_from = v->mail_from, .helo = v->helo, .facts_guessed = v->facts_from_message,
        .spf = hd_verdict_spf(v), .dkim = dk, .ndkim = ndkim, .dmarc = hd_verdict_dmarc(v),
        .list_id = v->list_id[0] ? v->list_id : NULL, .subject_tagged = v->subject_tagged,
        .arc_checked = v->arc != NULL,
    };
    explain_arc(v, &in);
    int rc = hd_explain(&in, out);
    free(dk);
    if (rc != 0)
        return hd_err_set(err, rc, "explanation: %s", hd_strerror(rc));
    return 0;
}
