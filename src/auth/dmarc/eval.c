/*
 * eval.c - DMARC evaluation (RFC 9989 §4.10, §5.3; RFC 7489 §6.6),
 * resumable like SPF's: a run walks the DNS through lookup(), which
 * answers from this evaluation's memo (or the shared cache) or stops the
 * run with the question to hand out; the next step replays from the top.
 */
#include <herald/authres.h>
#include <herald/dmarc.h>
#include <herald/limits.h>

#include <libpsl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NEED (-1)
#define TEMP (-2)
#define WALK_MAX 8 /* §4.10: at most eight queries per tree walk */

struct hd_dmarc {
    hd_dmarc_opts opts;
    hd_dmarc_mode mode;
    const hd_dmarc_psl *psl;
    unsigned pct_roll;
    int64_t now;
    char from[256], spf[256];
    bool spf_pass, spf_temp;
    char dkim[HD_DMARC_MAX_DKIM][256];
    size_t ndkim;
    char dkim_temp[HD_DMARC_MAX_DKIM][256];
    size_t ndkim_temp;
    bool discover_only;
    bool many_records;
    hd_dmarc_verdict v;
    bool done;
    hd_dns_memo *memo;
    char qname[300];
    uint16_t qtype;
    bool need;
    unsigned queries;
};

struct hd_dmarc_psl {
    psl_ctx_t *ctx;
};

const char *hd_dmarc_result_name(hd_dmarc_result r)
{
    static const char *const n[] = {"none", "pass", "fail", "temperror", "permerror"};
    return (unsigned)r < sizeof n / sizeof n[0] ? n[r] : "?";
}

/* PSL --------------------------------------------------------------------- */

int hd_dmarc_psl_load(const char *path, hd_dmarc_psl **out, hd_err *err)
{
    hd_dmarc_psl *p = calloc(1, sizeof *p);
    if (p == NULL)
        return hd_err_set(err, HD_ENOMEM, NULL);
    p->ctx = path ? psl_load_file(path) : psl_latest(NULL);
    if (p->ctx == NULL) {
        free(p);
        return hd_err_set(err, HD_EIO, "%s: cannot load the Public Suffix List",
                          path ? path : "the system's list");
    }
    *out = p;
    return 0;
}

void hd_dmarc_psl_free(hd_dmarc_psl *p)
{
    if (p == NULL)
        return;
    psl_free(p->ctx);
    free(p);
}

static void lower_copy(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++)
        dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
    dst[i] = '\0';
    if (i > 0 && dst[i - 1] == '.')
        dst[i - 1] = '\0';
}

int hd_dmarc_psl_org(const hd_dmarc_psl *psl, const char *domain, char *out, size_t len)
{
    char d[256];
    lower_copy(d, sizeof d, domain);
    const char *reg = psl_registrable_domain(psl->ctx, d);
    snprintf(out, len, "%s", reg ? reg : d); /* a public suffix is its own */
    return 0;
}

/* DNS --------------------------------------------------------------------- */

static const hd_dns_answer *lookup(hd_dmarc *d, const char *name, uint16_t type)
{
    d->queries++;
    const hd_dns_answer *a = hd_dns_memo_get(d->memo, d->opts.cache, name, type, d->now);
    if (a != NULL)
        return a;
    snprintf(d->qname, sizeof d->qname, "%s", name);
    d->qtype = type;
    d->need = true;
    return NULL;
}

static bool is_temp(const hd_dns_answer *a)
{
    return a->status == HD_DNS_SERVFAIL || a->status == HD_DNS_TIMEOUT || a->status == HD_DNS_ERROR;
}

/* The one DMARC record at _dmarc.<domain>: 1 found, 0 none, MANY when
 * several (RFC 9989 §4.10 step 2 discards them and walks on; RFC 7489
 * §6.6.3 step 5 stops discovery), NEED or TEMP. */
#define MANY 2
static int fetch_record(hd_dmarc *d, const char *domain, hd_dmarc_record *rec)
{
    char name[300];
    snprintf(name, sizeof name, "_dmarc.%s", domain);
    if (strlen(name) > HD_LIMIT_DNS_NAME)
        return 0;
    const hd_dns_answer *a = lookup(d, name, HD_DNS_T_TXT);
    if (a == NULL)
        return NEED;
    if (is_temp(a))
        return TEMP;
    size_t found = 0;
    for (size_t i = 0; a->status == HD_DNS_OK && i < a->nrr; i++) {
        hd_dmarc_record r;
        if (hd_dmarc_record_parse(hd_slice_make(a->rr[i].txt, a->rr[i].txt_len), &r, NULL) == 0) {
            if (found++ == 0)
                *rec = r;
        }
    }
    return found == 1 ? 1 : found > 1 ? MANY : 0;
}

/* Names ------------------------------------------------------------------- */

static size_t label_count(const char *d)
{
    size_t n = *d ? 1 : 0;
    for (; *d; d++)
        n += *d == '.';
    return n;
}

/* The rightmost n labels of d. */
static const char *rightmost(const char *d, size_t n)
{
    size_t total = label_count(d);
    while (total > n) {
        const char *dot = strchr(d, '.');
        if (dot == NULL)
            break;
        d = dot + 1;
        total--;
    }
    return d;
}

/* Tree walk ---------------------------------------------------------------- */

typedef struct walk {
    char domain[WALK_MAX + 1][256];
    hd_dmarc_record rec[WALK_MAX + 1];
    size_t n;
} walk;

/* §4.10: from start (queried itself when with_start), then shortened to 7
 * labels if longer, then one label less each time, stopping at a record
 * with psd=y or psd=n; 1 done, NEED or TEMP. */
static int tree_walk(hd_dmarc *d, const char *start, bool with_start, walk *w)
{
    w->n = 0;
    const char *target = start;
    size_t queries = 0;
    if (!with_start) {
        size_t x = label_count(start);
        if (x <= 1)
            return 1;
        target = x < 8 ? strchr(start, '.') + 1 : rightmost(start, 7);
    }
    for (;;) {
        if (queries++ == WALK_MAX)
            return 1;
        hd_dmarc_record r;
        int rc = fetch_record(d, target, &r);
        if (rc == NEED || rc == TEMP)
            return rc;
        if (rc == 1) { /* MANY: all discarded, the walk goes on (§4.10 step 2) */
            snprintf(w->domain[w->n], sizeof w->domain[0], "%s", target);
            w->rec[w->n++] = r;
            if (r.psd == 'y' || r.psd == 'n')
                return 1;
        }
        size_t x = label_count(target);
        if (x <= 1)
            return 1;
        target = (target == start && x >= 8) ? rightmost(target, 7) : strchr(target, '.') + 1;
    }
}

/* §4.10.2: the Organizational Domain of start from its walk. */
static int org_of(hd_dmarc *d, const char *start, char *out, size_t len)
{
    if (d->mode == HD_DMARC_RFC7489)
        return hd_dmarc_psl_org(d->psl, start, out, len);
    walk w;
    int rc = tree_walk(d, start, true, &w);
    if (rc != 1)
        return rc;
    snprintf(out, len, "%s", start);
    for (size_t i = 0; i < w.n; i++) {
        if (w.rec[i].psd == 'n') {
            snprintf(out, len, "%s", w.domain[i]);
            return 0;
        }
        if (w.rec[i].psd == 'y' && strcasecmp(w.domain[i], start) != 0) {
            snprintf(out, len, "%s", rightmost(start, label_count(w.domain[i]) + 1));
            return 0;
        }
    }
    if (w.n > 0)
        snprintf(out, len, "%s", w.domain[w.n - 1]); /* the fewest labels */
    return 0;
}

/* Policy discovery (§4.10.1) ------------------------------------------------ */

__attribute__((format(printf, 2, 3)))
static void say(hd_dmarc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->v.reason, sizeof d->v.reason, fmt, ap);
    va_end(ap);
}

static int discover(hd_dmarc *d)
{
    hd_dmarc_verdict *v = &d->v;
    hd_dmarc_record r;
    int rc = fetch_record(d, d->from, &r);
    if (rc == NEED || rc == TEMP)
        return rc;
    if (rc == MANY && d->mode == HD_DMARC_RFC7489) {
        d->many_records = true; /* RFC 7489 §6.6.3 step 5: discovery ends */
        return 0;
    }
    if (rc == 1) {
        snprintf(v->record_domain, sizeof v->record_domain, "%s", d->from);
        v->record = r;
        v->have_record = true;
        return 0;
    }
    if (d->mode == HD_DMARC_RFC7489) { /* RFC 7489 §6.6.3: the org domain's record */
        char org[256];
        hd_dmarc_psl_org(d->psl, d->from, org, sizeof org);
        if (strcasecmp(org, d->from) == 0)
            return 0;
        rc = fetch_record(d, org, &r);
        if (rc == NEED || rc == TEMP)
            return rc;
        if (rc == MANY)
            d->many_records = true;
        if (rc == 1) {
            snprintf(v->record_domain, sizeof v->record_domain, "%s", org);
            v->record = r;
            v->have_record = true;
        }
        return 0;
    }
    walk w;
    rc = tree_walk(d, d->from, false, &w);
    if (rc != 1)
        return rc;
    if (w.n == 0)
        return 0;
    /* the record of the Organizational Domain if one was found there,
     * else the PSD's (psd=y), else the one with the fewest labels */
    char org[256];
    rc = org_of(d, d->from, org, sizeof org);
    if (rc != 0)
        return rc;
    size_t pick = w.n - 1;
    for (size_t i = 0; i < w.n; i++)
        if (strcasecmp(w.domain[i], org) == 0)
            pick = i;
    snprintf(v->record_domain, sizeof v->record_domain, "%s", w.domain[pick]);
    v->record = w.rec[pick];
    v->have_record = true;
    return 0;
}

/* §3.2.13: NXDOMAIN or NODATA for A, AAAA and MX. */
static int author_exists(hd_dmarc *d, bool *exists)
{
    static const uint16_t types[] = {HD_DNS_T_A, HD_DNS_T_AAAA, HD_DNS_T_MX};
    *exists = false;
    for (size_t i = 0; i < 3; i++) {
        const hd_dns_answer *a = lookup(d, d->from, types[i]);
        if (a == NULL)
            return NEED;
        if (is_temp(a) || (a->status == HD_DNS_OK && a->nrr > 0)) {
            *exists = true; /* a temporary error: assume it exists (sp, not np) */
            return 0;
        }
    }
    return 0;
}

/* Alignment (§4.4, §4.10.2) -------------------------------------------------- */

static int aligned(hd_dmarc *d, const char *id, bool strict, bool *out)
{
    *out = strcasecmp(id, d->from) == 0;
    if (*out || strict)
        return 0;
    char a[256], b[256];
    int rc = org_of(d, d->from, a, sizeof a);
    if (rc == 0)
        rc = org_of(d, id, b, sizeof b);
    if (rc != 0)
        return rc;
    *out = strcasecmp(a, b) == 0;
    return 0;
}

/* RFC 9989 §5.3.6 (RFC 7489 §6.6.2): when nothing aligned passed, a
 * check that failed temporarily for an identifier that would have aligned
 * leaves the message unjudged: had it completed it might have passed. A
 * temperror for an identifier that cannot align is no query DMARC needs
 * (§5.3.4 checks only aligned identifiers; whatever it said the result
 * would be fail), so it leaves the fail standing. 1 when there is one
 * (said in what), 0 none, NEED or TEMP. */
static int aligned_temperror(hd_dmarc *d, char *what, size_t len)
{
    const hd_dmarc_record *r = &d->v.record;
    bool ok;
    for (size_t i = 0; i < d->ndkim_temp; i++) {
        int rc = aligned(d, d->dkim_temp[i], r->adkim_strict, &ok);
        if (rc != 0)
            return rc;
        if (ok) {
            snprintf(what, len, "the DKIM check of the aligned signature by %s", d->dkim_temp[i]);
            return 1;
        }
    }
    if (d->spf_temp && d->spf[0]) {
        int rc = aligned(d, d->spf, r->aspf_strict, &ok);
        if (rc != 0)
            return rc;
        if (ok) {
            snprintf(what, len, "the SPF check of the aligned domain %s", d->spf);
            return 1;
        }
    }
    return 0;
}

static hd_dmarc_policy one_level_down(hd_dmarc_policy p)
{
    return p == HD_DMARC_P_REJECT ? HD_DMARC_P_QUARANTINE : HD_DMARC_P_NONE;
}

/* The policy tag that applies (§4.10.1). */
static int choose_policy(hd_dmarc *d)
{
    hd_dmarc_verdict *v = &d->v;
    const hd_dmarc_record *r = &v->record;
    v->policy_tag = "p";
    v->policy = r->p;
    v->from_exists = true;
    if (strcasecmp(v->record_domain, d->from) != 0) {
        if (d->mode == HD_DMARC_RFC9989 && r->np != HD_DMARC_P_UNSET) {
            int rc = author_exists(d, &v->from_exists);
            if (rc != 0)
                return rc;
        }
        if (!v->from_exists && r->np != HD_DMARC_P_UNSET && d->mode == HD_DMARC_RFC9989) {
            v->policy_tag = "np";
            v->policy = r->np;
        } else if (r->sp != HD_DMARC_P_UNSET) {
            v->policy_tag = "sp";
            v->policy = r->sp;
        }
    }
    return 0;
}

static int evaluate(hd_dmarc *d)
{
    hd_dmarc_verdict *v = &d->v;
    int rc = discover(d);
    if (rc == NEED)
        return NEED;
    if (rc == TEMP) {
        v->result = HD_DMARC_TEMPERROR;
        say(d, "the DMARC record lookup for %s failed temporarily: retry later", d->from);
        return 0;
    }
    if (!v->have_record) {
        v->result = HD_DMARC_NONE;
        if (d->many_records)
            say(d, "several DMARC records where one was expected: DMARC does not apply "
                   "(RFC 7489 §6.6.3)");
        else
            say(d, "%s publishes no DMARC record (nor does its organizational domain)", d->from);
        return 0;
    }
    hd_dmarc_record *r = &v->record;
    /* RFC 9989 §4.10.1 (RFC 7489 §6.6.3 step 6): no valid p=, or an invalid
     * sp= or np=: with a valid rua the record counts as p=none (and only
     * that), without one DMARC does not apply */
    bool broken = r->p == HD_DMARC_P_UNSET || r->sp_bad ||
                  (r->np_bad && d->mode == HD_DMARC_RFC9989);
    if (broken && r->nrua == 0) {
        v->result = HD_DMARC_NONE;
        say(d, "the record at _dmarc.%s has %s and no valid rua=: DMARC does not apply",
            v->record_domain, r->p == HD_DMARC_P_UNSET ? "no valid p=" : "an invalid sp= or np=");
        return 0;
    }
    if (broken) {
        r->p = HD_DMARC_P_NONE;
        r->sp = r->np = HD_DMARC_P_UNSET;
    }
    if ((rc = choose_policy(d)) != 0)
        return rc;
    rc = org_of(d, d->from, v->org_domain, sizeof v->org_domain);
    if (rc == NEED)
        return NEED;
    if (d->discover_only)
        return 0;
    bool any_temp = false;
    for (size_t i = 0; i < d->ndkim && !v->dkim_aligned; i++) {
        bool ok;
        rc = aligned(d, d->dkim[i], r->adkim_strict, &ok);
        if (rc == NEED)
            return NEED;
        any_temp |= rc == TEMP;
        if (rc == 0 && ok) {
            v->dkim_aligned = true;
            snprintf(v->aligned_dkim, sizeof v->aligned_dkim, "%s", d->dkim[i]);
        }
    }
    if (d->spf_pass && d->spf[0]) {
        rc = aligned(d, d->spf, r->aspf_strict, &v->spf_aligned);
        if (rc == NEED)
            return NEED;
        any_temp |= rc == TEMP;
    }
    if (v->dkim_aligned || v->spf_aligned) {
        v->result = HD_DMARC_PASS;
        v->disposition = HD_DMARC_P_NONE;
        say(d, "%s aligns with %s (%s)", v->dkim_aligned ? v->aligned_dkim : d->spf, d->from,
            v->dkim_aligned ? "DKIM" : "SPF");
        return 0;
    }
    if (any_temp) {
        v->result = HD_DMARC_TEMPERROR;
        say(d, "finding organizational domains for alignment failed temporarily: retry later");
        return 0;
    }
    char temp[300];
    rc = aligned_temperror(d, temp, sizeof temp);
    if (rc == NEED)
        return NEED;
    if (rc == TEMP || rc == 1) {
        v->result = HD_DMARC_TEMPERROR; /* the disposition stays none */
        say(d, "no aligned identifier passed, and %s failed temporarily: the message can neither "
               "pass nor fail DMARC, so %s=%s is not applied (RFC 9989 §5.3.6); retry later",
            rc == 1 ? temp : "finding organizational domains for alignment",
            v->policy_tag, hd_dmarc_policy_name(v->policy));
        return 0;
    }
    v->result = HD_DMARC_FAIL;
    v->disposition = v->policy;
    if (d->mode == HD_DMARC_RFC9989 && r->testing) /* §4.7 t=y */
        v->disposition = one_level_down(v->policy);
    if (d->mode == HD_DMARC_RFC7489 && r->pct >= 0 && d->pct_roll >= (unsigned)r->pct)
        v->disposition = one_level_down(v->policy); /* RFC 7489 §6.6.4: not sampled */
    say(d, "no aligned identifier: %s%s%s; the policy is %s=%s%s", d->ndkim ? "DKIM passed only for " : "no DKIM signature passed",
        d->ndkim ? d->dkim[0] : "",
        d->spf_pass ? (d->spf[0] ? ", and SPF passed for an unaligned domain" : "") : ", and SPF did not pass",
        v->policy_tag, hd_dmarc_policy_name(v->policy),
        v->disposition != v->policy ? (r->testing ? " (t=y: one level lower)" : " (pct: not sampled)") : "");
    return 0;
}

/* API ---------------------------------------------------------------------- */

int hd_dmarc_new(const hd_dmarc_request *req, const hd_dmarc_opts *opts, hd_dmarc **out, hd_err *err)
{
    if (req->from_domain == NULL || req->from_domain[0] == '\0')
        return hd_err_set(err, HD_EINVAL, "DMARC needs the From domain");
    if (req->mode == HD_DMARC_RFC7489 && req->psl == NULL)
        return hd_err_set(err, HD_EINVAL, "RFC 7489 mode needs the Public Suffix List");
    hd_dmarc *d = calloc(1, sizeof *d);
    if (d == NULL || (d->memo = hd_dns_memo_new()) == NULL) {
        free(d);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    if (opts != NULL)
        d->opts = *opts;
    d->mode = req->mode;
    d->psl = req->psl;
    d->pct_roll = req->pct_roll % 100;
    d->now = req->now;
    lower_copy(d->from, sizeof d->from, req->from_domain);
    lower_copy(d->spf, sizeof d->spf, req->spf_domain ? req->spf_domain : "");
    d->spf_pass = req->spf_pass;
    d->spf_temp = req->spf_temperror && !req->spf_pass;
    for (size_t i = 0; i < req->ndkim && i < HD_DMARC_MAX_DKIM; i++)
        lower_copy(d->dkim[d->ndkim++], sizeof d->dkim[0], req->dkim_domains[i]);
    for (size_t i = 0; i < req->ndkim_temp && i < HD_DMARC_MAX_DKIM; i++)
        lower_copy(d->dkim_temp[d->ndkim_temp++], sizeof d->dkim_temp[0], req->dkim_temp_domains[i]);
    *out = d;
    return 0;
}

void hd_dmarc_free(hd_dmarc *d)
{
    if (d == NULL)
        return;
    hd_dns_memo_free(d->memo);
    free(d);
}

int hd_dmarc_step(hd_dmarc *d, const char **qname, uint16_t *qtype, hd_err *err)
{
    *qname = NULL;
    if (d->done)
        return 0;
    memset(&d->v, 0, sizeof d->v);
    d->v.mode = d->mode;
    d->v.policy = d->v.disposition = HD_DMARC_P_NONE;
    d->v.policy_tag = "";
    snprintf(d->v.from_domain, sizeof d->v.from_domain, "%s", d->from);
    d->need = false;
    d->queries = 0;
    if (evaluate(d) == NEED) {
        *qname = d->qname;
        *qtype = d->qtype;
        return 0;
    }
    d->v.dns_queries = d->queries;
    for (char *p = d->v.reason; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    d->done = true;
    return 0;
}

int hd_dmarc_answer(hd_dmarc *d, const hd_dns_answer *ans, hd_err *err)
{
    if (!d->need)
        return hd_err_set(err, HD_ESTATE, "no question is outstanding");
    if (hd_dns_memo_put(d->memo, d->opts.cache, d->qname, d->qtype, ans, d->now) != 0)
        return hd_err_set(err, HD_ENOMEM, NULL);
    d->need = false;
    return 0;
}

int hd_dmarc_run(hd_dmarc *d, hd_dns *dns, hd_err *err)
{
    for (;;) {
        const char *q;
        uint16_t t;
        int rc = hd_dmarc_step(d, &q, &t, err);
        if (rc != 0 || q == NULL)
            return rc;
        hd_dns_answer *ans = NULL;
        hd_err qerr;
        hd_err_clear(&qerr);
        if (hd_dns_query(dns, q, t, &ans, &qerr) != 0) {
            hd_dns_answer fake = {.qname = (char *)q, .qtype = t, .status = HD_DNS_NXDOMAIN};
            rc = hd_dmarc_answer(d, &fake, err);
        } else {
            rc = hd_dmarc_answer(d, ans, err);
            hd_dns_answer_free(ans);
        }
        if (rc != 0)
            return rc;
    }
}

const hd_dmarc_verdict *hd_dmarc_get_verdict(const hd_dmarc *d)
{
    return &d->v;
}

/* Bound on the answers one alignment check asks for: two tree walks. */
#define ALIGN_MAX_QUERIES (2 * WALK_MAX + 2)

int hd_dmarc_aligned(hd_dmarc *d, hd_dns *dns, const char *id, bool dkim, bool *out, hd_err *err)
{
    *out = false;
    if (!d->done)
        return hd_err_set(err, HD_ESTATE, "alignment is asked before the evaluation finished");
    if (strlen(id) > HD_LIMIT_DNS_NAME + 1) /* RFC 1035 §2.3.4, with a final dot */
        return 0;                            /* no domain name: aligns with nothing */
    char lid[256];
    lower_copy(lid, sizeof lid, id);
    size_t n = strlen(lid);
    if (n > 0 && lid[n - 1] == '.')
        lid[--n] = '\0';
    /* an Organizational Domain is its names' ancestor or themselves: a
     * name outside the From domain's cannot align, and costs no query
     * (the names come from a recorded result anyone may write) */
    const char *org = d->v.org_domain;
    size_t on = strlen(org);
    if (on > 0 && !(n == on && strcmp(lid, org) == 0) &&
        !(n > on && lid[n - on - 1] == '.' && strcmp(lid + n - on, org) == 0))
        return 0;
    bool strict = dkim ? d->v.record.adkim_strict : d->v.record.aspf_strict;
    for (unsigned asked = 0;; asked++) {
        d->need = false;
        bool ok = false;
        int rc = aligned(d, lid, strict, &ok);
        if (rc == 0) {
            *out = ok;
            return 0;
        }
        if (rc == TEMP)
            return hd_err_set(err, HD_ETEMP, "aligning %s with %s: a DNS lookup failed temporarily",
                              lid, d->from);
        if (asked == ALIGN_MAX_QUERIES)
            return hd_err_set(err, HD_ELIMIT, "aligning %s with %s: more than %d DNS queries", lid,
                              d->from, ALIGN_MAX_QUERIES);
        hd_dns_answer *ans = NULL;
        hd_err qerr;
        hd_err_clear(&qerr);
        if (hd_dns_query(dns, d->qname, d->qtype, &ans, &qerr) != 0) {
            hd_dns_answer fake = {.qname = d->qname, .qtype = d->qtype, .status = HD_DNS_NXDOMAIN};
            rc = hd_dns_memo_put(d->memo, d->opts.cache, d->qname, d->qtype, &fake, d->now);
        } else {
            rc = hd_dns_memo_put(d->memo, d->opts.cache, d->qname, d->qtype, ans, d->now);
            hd_dns_answer_free(ans);
        }
        d->need = false;
        if (rc != 0)
            return hd_err_set(err, HD_ENOMEM, NULL);
    }
}

int hd_dmarc_discover(const char *domain, hd_dmarc_mode mode, const hd_dmarc_psl *psl, hd_dns *dns,
                      hd_dmarc_verdict *out, hd_err *err)
{
    hd_dmarc_request req = {.from_domain = domain, .mode = mode, .psl = psl};
    hd_dmarc *d = NULL;
    int rc = hd_dmarc_new(&req, NULL, &d, err);
    if (rc != 0)
        return rc;
    d->discover_only = true;
    rc = hd_dmarc_run(d, dns, err);
    if (rc == 0) {
        *out = d->v;
        if (out->have_record && out->result == HD_DMARC_NONE && out->reason[0] == '\0')
            snprintf(out->reason, sizeof out->reason, "the record at _dmarc.%s applies (%s=%s)",
                     out->record_domain, out->policy_tag, hd_dmarc_policy_name(out->policy));
    }
    hd_dmarc_free(d);
    return rc;
}

int hd_dmarc_to_ar(const hd_dmarc_verdict *v, hd_buf *out)
{
    int rc = hd_buf_printf(out, "dmarc=%s", hd_dmarc_result_name(v->result));
    if (rc == 0 && v->have_record)
        rc = hd_buf_printf(out, " (p=%s dis=%s)", hd_dmarc_policy_name(v->policy),
                           v->result == HD_DMARC_FAIL ? hd_dmarc_policy_name(v->disposition) : "none");
    if (rc == 0)
        rc = hd_authres_append_property(out, "header.from", v->from_domain);
    if (rc == 0 && v->have_record && (v->result == HD_DMARC_PASS || v->result == HD_DMARC_FAIL))
        rc = hd_buf_printf(out, " policy.dmarc=%s",
                           hd_dmarc_policy_name(v->result == HD_DMARC_FAIL ? v->disposition : HD_DMARC_P_NONE));
    return rc;
}
