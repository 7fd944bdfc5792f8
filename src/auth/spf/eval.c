/*
 * eval.c - check_host() (RFC 7208 §4-§6) as a resumable evaluation.
 *
 * How it resumes: an evaluation is a plain recursive check_host() whose
 * every DNS question goes through lookup(). lookup() answers from this
 * evaluation's memo of answers; a question not in the memo stops the run
 * (SPF_NEED travels up the recursion) and becomes the question that
 * hd_spf_step() hands out. When the answer arrives it joins the memo and
 * the next step runs check_host() again from the top, replaying every
 * earlier answer from the memo. Runs are deterministic, so the replay
 * reaches the same point and goes further; the counters (lookups, void
 * lookups) are recomputed each run. The cost is a few re-parses of short
 * records per network round trip, which the round trip dwarfs; in return
 * the evaluator reads like the RFC's pseudo-code, and nothing it does can
 * block.
 */
#include "auth/spf/spf_int.h"

#include <herald/limits.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPF_NEED (-1) /* a result value meaning "a DNS answer is needed" */

struct hd_spf {
    hd_spf_opts opts;
    /* the request */
    char ip_text[64];      /* readable (c) */
    char ip_dotted[80];    /* for %{i} */
    uint8_t ip[16];
    bool v6;
    char helo[256];
    char receiver[256];
    int64_t now;
    hd_spf_verdict v;
    bool done;
    /* DNS */
    hd_dns_memo *memo;
    char qname[300];
    uint16_t qtype;
    bool need;
    /* per run */
    unsigned lookups, voids;
    char validated[256]; /* %{p}: "" until computed */
    bool have_validated;
    hd_buf trace;
    hd_buf scratch;
};

const char *hd_spf_result_name(hd_spf_result r)
{
    static const char *const names[] = {"none",     "neutral",   "pass",     "fail",
                                        "softfail", "temperror", "permerror"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

__attribute__((format(printf, 3, 4)))
static void trace(hd_spf *s, int depth, const char *fmt, ...)
{
    if (s->opts.trace == NULL)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* kept per run; only the final run's lines are delivered */
    hd_buf_printf(&s->trace, "%d %s\n", depth, line);
}

__attribute__((format(printf, 3, 4)))
static int fail_with(hd_spf *s, int result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->v.reason, sizeof s->v.reason, fmt, ap);
    va_end(ap);
    for (unsigned char *p = (unsigned char *)s->v.reason; *p; p++) /* one printable line */
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    return result;
}

/* DNS ------------------------------------------------------------------- */

/* The answer to name/type from the memo (or the shared cache), or NULL
 * after recording the question as needed. */
static const hd_dns_answer *lookup(hd_spf *s, const char *name, uint16_t type, int depth)
{
    const hd_dns_answer *a = hd_dns_memo_get(s->memo, s->opts.cache, name, type, s->now);
    if (a != NULL) {
        trace(s, depth, "DNS %s %s: %s%s%zu record(s)", hd_dns_type_name(type), name,
              hd_dns_status_name(a->status), a->status == HD_DNS_OK ? ", " : " ",
              a->status == HD_DNS_OK ? a->nrr : (size_t)0);
        return a;
    }
    snprintf(s->qname, sizeof s->qname, "%s", name);
    s->qtype = type;
    s->need = true;
    return NULL;
}

static bool is_temp(const hd_dns_answer *a)
{
    return a->status == HD_DNS_SERVFAIL || a->status == HD_DNS_TIMEOUT || a->status == HD_DNS_ERROR;
}

/* §4.6.4: more than two void lookups (NXDOMAIN or no answer) is a
 * permerror. Returns 0, or the permerror. */
static int count_void(hd_spf *s, const hd_dns_answer *a, const char *what)
{
    bool empty = a->status == HD_DNS_NXDOMAIN || a->status == HD_DNS_NODATA ||
                 (a->status == HD_DNS_OK && a->nrr == 0);
    if (!empty)
        return 0;
    if (++s->voids > s->opts.max_void)
        return fail_with(s, HD_SPF_PERMERROR,
                         "more than %u void DNS lookups (the last: %s), RFC 7208 §4.6.4",
                         s->opts.max_void, what);
    return 0;
}

/* Names ------------------------------------------------------------------ */

/* %{i} (§7.3): dotted IPv4, or 32 dotted nibbles for IPv6 (upper case,
 * as the §7.4 example and the openspf suite have them). Made only when a
 * macro needs it. */
static const char *ip_dotted(hd_spf *s)
{
    if (s->ip_dotted[0] != '\0')
        return s->ip_dotted;
    if (!s->v6) {
        memcpy(s->ip_dotted, s->ip_text, strlen(s->ip_text) + 1);
        return s->ip_dotted;
    }
    static const char hex[] = "0123456789ABCDEF";
    char *o = s->ip_dotted;
    for (int i = 0; i < 16; i++) {
        if (i)
            *o++ = '.';
        *o++ = hex[s->ip[i] >> 4];
        *o++ = '.';
        *o++ = hex[s->ip[i] & 15];
    }
    *o = '\0';
    return s->ip_dotted;
}

/* §7.3: expand a domain-spec, drop a trailing dot, and shorten a name over
 * 253 octets by removing labels from the left. */
static int expand_domain(hd_spf *s, hd_slice spec, const char *domain, char *out, size_t outlen,
                         bool exp)
{
    hd_spf_macro_ctx c = {
        .sender = s->v.sender, .domain = domain, .ip = s->ip_text, .ip_dotted = ip_dotted(s),
        .is_v6 = s->v6, .helo = s->helo, .receiver = s->receiver[0] ? s->receiver : NULL,
        .validated = s->have_validated ? s->validated : NULL, .now = s->now, .exp = exp,
    };
    hd_buf *b = &s->scratch;
    hd_buf_reset(b);
    hd_err err;
    hd_err_clear(&err);
    if (hd_spf_macro_expand(spec, &c, b, &err) != 0)
        return fail_with(s, HD_SPF_PERMERROR, "%s", err.msg);
    if (exp) {
        snprintf(out, outlen, "%s", hd_buf_cstr(b));
        return 0;
    }
    const char *d = hd_buf_cstr(b);
    size_t len = b->len;
    if (len > 0 && d[len - 1] == '.')
        len--;
    while (len > HD_LIMIT_DNS_NAME) {
        const char *dot = memchr(d, '.', len);
        if (dot == NULL)
            break;
        len -= (size_t)(dot + 1 - d);
        d = dot + 1;
    }
    if (len >= outlen)
        return fail_with(s, HD_SPF_PERMERROR, "expanded name too long");
    memcpy(out, d, len);
    out[len] = '\0';
    return 0;
}

static bool needs_validated(const spf_term *t)
{
    return t->spec.len > 0 && spf_spec_needs_p(t->spec);
}

/* Addresses -------------------------------------------------------------- */

static bool cidr_match(const uint8_t *a, const uint8_t *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

/* Any A/AAAA record of the answer within cidr of the client? */
static bool answer_matches(const hd_spf *s, const hd_dns_answer *a, int cidr4, int cidr6)
{
    if (a->status != HD_DNS_OK)
        return false;
    for (size_t i = 0; i < a->nrr; i++) {
        const hd_dns_rr *rr = &a->rr[i];
        if (!s->v6 && rr->type == HD_DNS_T_A && cidr_match(rr->addr, s->ip, cidr4))
            return true;
        if (s->v6 && rr->type == HD_DNS_T_AAAA && cidr_match(rr->addr, s->ip, cidr6))
            return true;
    }
    return false;
}

static uint16_t addr_type(const hd_spf *s)
{
    return s->v6 ? HD_DNS_T_AAAA : HD_DNS_T_A;
}

/* The PTR query name of the client address (RFC 1035 §3.5, RFC 3596 §2.5). */
static void reverse_name(const hd_spf *s, char *out, size_t len)
{
    if (!s->v6) {
        snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", s->ip[3], s->ip[2], s->ip[1], s->ip[0]);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 15; i >= 0; i--) {
        o += (size_t)snprintf(out + o, len - o, "%c.%c.", hex[s->ip[i] & 15], hex[s->ip[i] >> 4]);
    }
    snprintf(out + o, len - o, "ip6.arpa");
}

static bool name_within(const char *name, const char *domain)
{
    size_t n = strlen(name), d = strlen(domain);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (d > 0 && domain[d - 1] == '.')
        d--;
    if (n < d || strncasecmp(name + n - d, domain, d) != 0)
        return false;
    return n == d || name[n - d - 1] == '.';
}

/* §5.5: the validated names of the client: PTR names (at most 10) whose
 * own A/AAAA records include the client. Calls each(arg, name) for each;
 * stops early when each returns true. DNS errors skip a name. */
static int validated_names(hd_spf *s, int depth, bool (*each)(void *, const char *), void *arg,
                           bool *stopped)
{
    char rev[80];
    reverse_name(s, rev, sizeof rev);
    const hd_dns_answer *ptr = lookup(s, rev, HD_DNS_T_PTR, depth);
    if (ptr == NULL)
        return SPF_NEED;
    *stopped = false;
    if (is_temp(ptr))
        return 0; /* §5.5: a DNS error in the PTR lookup: no match */
    int rc = count_void(s, ptr, rev);
    if (rc != 0)
        return rc;
    size_t n = ptr->status == HD_DNS_OK ? ptr->nrr : 0;
    if (n > s->opts.max_ptr_names)
        n = s->opts.max_ptr_names; /* §4.6.4: the rest are ignored */
    for (size_t i = 0; i < n; i++) {
        const char *name = ptr->rr[i].name;
        if (name == NULL || !spf_domain_ok(name))
            continue;
        const hd_dns_answer *a = lookup(s, name, addr_type(s), depth);
        if (a == NULL)
            return SPF_NEED;
        if (is_temp(a))
            continue;
        if ((rc = count_void(s, a, name)) != 0)
            return rc;
        if (answer_matches(s, a, 32, 128) && each(arg, name)) {
            *stopped = true;
            return 0;
        }
    }
    return 0;
}

typedef struct ptr_ctx {
    const char *target;
    char *first;
    size_t first_len;
    hd_spf *s;
} ptr_ctx;

static bool ptr_within_target(void *arg, const char *name)
{
    return name_within(name, ((ptr_ctx *)arg)->target);
}

/* %{p} (§7.3): a validated name equal to or under the domain, else the
 * first validated name, else "unknown". */
static bool ptr_pick(void *arg, const char *name)
{
    ptr_ctx *c = arg;
    if (c->first[0] == '\0')
        snprintf(c->first, c->first_len, "%s", name);
    if (name_within(name, c->target)) {
        snprintf(c->first, c->first_len, "%s", name);
        return true;
    }
    return false;
}

static int compute_validated(hd_spf *s, const char *domain, int depth)
{
    if (s->have_validated)
        return 0;
    char first[256] = "";
    ptr_ctx c = {domain, first, sizeof first, s};
    bool stopped;
    int rc = validated_names(s, depth, ptr_pick, &c, &stopped);
    if (rc != 0)
        return rc;
    snprintf(s->validated, sizeof s->validated, "%s", first[0] ? first : "unknown");
    s->have_validated = true;
    return 0;
}

/* Mechanisms ------------------------------------------------------------- */

enum { NOMATCH = 0, MATCH = 1 };

/* A target that is no valid name cannot be looked up: like pyspf, treat it
 * as a lookup that found nothing (a void lookup, no match). */
static int invalid_target(hd_spf *s, const char *target)
{
    hd_dns_answer none = {.status = HD_DNS_NXDOMAIN};
    int rc = count_void(s, &none, target);
    return rc != 0 ? rc : NOMATCH;
}

static int check_host(hd_spf *s, const char *domain, int depth, char *exp_out, size_t exp_len);

/* The target name of a term: its expanded domain-spec, or the current
 * domain. */
static int term_target(hd_spf *s, const spf_term *t, const char *domain, int depth, char *out,
                       size_t len)
{
    if (t->spec.len == 0) {
        snprintf(out, len, "%s", domain);
        return 0;
    }
    if (needs_validated(t)) {
        int rc = compute_validated(s, domain, depth);
        if (rc != 0)
            return rc;
    }
    return expand_domain(s, t->spec, domain, out, len, false);
}

static int mech_a(hd_spf *s, const spf_term *t, const char *target, int depth)
{
    if (!spf_domain_ok(target))
        return invalid_target(s, target);
    const hd_dns_answer *a = lookup(s, target, addr_type(s), depth);
    if (a == NULL)
        return SPF_NEED;
    if (is_temp(a))
        return fail_with(s, HD_SPF_TEMPERROR, "DNS lookup of %s for \"%.*s\" failed: %s", target,
                         (int)t->text.len, (const char *)t->text.p, hd_dns_status_name(a->status));
    int rc = count_void(s, a, target);
    if (rc != 0)
        return rc;
    return answer_matches(s, a, t->cidr4, t->cidr6) ? MATCH : NOMATCH;
}

static int mech_mx(hd_spf *s, const spf_term *t, const char *target, int depth)
{
    if (!spf_domain_ok(target))
        return invalid_target(s, target);
    const hd_dns_answer *mx = lookup(s, target, HD_DNS_T_MX, depth);
    if (mx == NULL)
        return SPF_NEED;
    if (is_temp(mx))
        return fail_with(s, HD_SPF_TEMPERROR, "DNS MX lookup of %s failed: %s", target,
                         hd_dns_status_name(mx->status));
    int rc = count_void(s, mx, target);
    if (rc != 0)
        return rc;
    size_t n = mx->status == HD_DNS_OK ? mx->nrr : 0;
    /* §4.6.4: more than 10 MX names is a permerror */
    if (n > s->opts.max_mx_names)
        return fail_with(s, HD_SPF_PERMERROR, "%s has %zu MX records; at most %u may be looked up "
                                              "(RFC 7208 §4.6.4)", target, n, s->opts.max_mx_names);
    /* §5.4: an address lookup on each MX name, then the comparison; a
     * timeout on any of them is a temperror (§5), whatever the order of
     * the MX records, as pyspf does */
    bool match = false;
    for (size_t i = 0; i < n; i++) {
        const char *name = mx->rr[i].name;
        if (name == NULL || name[0] == '\0' || !spf_domain_ok(name)) /* null MX (RFC 7505) */
            continue;
        const hd_dns_answer *a = lookup(s, name, addr_type(s), depth);
        if (a == NULL)
            return SPF_NEED;
        if (is_temp(a))
            return fail_with(s, HD_SPF_TEMPERROR, "DNS lookup of MX host %s failed: %s", name,
                             hd_dns_status_name(a->status));
        if ((rc = count_void(s, a, name)) != 0)
            return rc;
        match |= answer_matches(s, a, t->cidr4, t->cidr6);
    }
    return match ? MATCH : NOMATCH;
}

static int mech_ptr(hd_spf *s, const char *target, int depth)
{
    ptr_ctx c = {target, NULL, 0, s};
    bool stopped = false;
    int rc = validated_names(s, depth, ptr_within_target, &c, &stopped);
    if (rc != 0)
        return rc;
    return stopped ? MATCH : NOMATCH;
}

static int mech_exists(hd_spf *s, const spf_term *t, const char *target, int depth)
{
    if (!spf_domain_ok(target))
        return invalid_target(s, target);
    /* §5.7: an A query whatever the client's address family */
    const hd_dns_answer *a = lookup(s, target, HD_DNS_T_A, depth);
    if (a == NULL)
        return SPF_NEED;
    if (is_temp(a))
        return fail_with(s, HD_SPF_TEMPERROR, "DNS lookup of %s for \"%.*s\" failed: %s", target,
                         (int)t->text.len, (const char *)t->text.p, hd_dns_status_name(a->status));
    int rc = count_void(s, a, target);
    if (rc != 0)
        return rc;
    return a->status == HD_DNS_OK && a->nrr > 0 ? MATCH : NOMATCH;
}

/* §5.2: include maps the included result onto match / no match / error. */
static int mech_include(hd_spf *s, const char *target, int depth)
{
    char unused[8];
    int r = check_host(s, target, depth + 1, unused, sizeof unused);
    switch (r) {
    case SPF_NEED:
        return SPF_NEED;
    case HD_SPF_PASS:
        return MATCH;
    case HD_SPF_FAIL:
    case HD_SPF_SOFTFAIL:
    case HD_SPF_NEUTRAL:
        return NOMATCH;
    case HD_SPF_TEMPERROR:
        return HD_SPF_TEMPERROR;
    case HD_SPF_NONE:
        return fail_with(s, HD_SPF_PERMERROR, "include:%s has no SPF record (RFC 7208 §5.2)", target);
    default:
        return HD_SPF_PERMERROR;
    }
}

static bool addr_in_term(const hd_spf *s, const spf_term *t)
{
    if (t->kind == SPF_IP4)
        return !s->v6 && cidr_match(t->addr, s->ip, t->cidr4);
    return s->v6 && cidr_match(t->addr, s->ip, t->cidr6);
}

/* Evaluate one mechanism: MATCH, NOMATCH, SPF_NEED or an error result
 * (HD_SPF_TEMPERROR / HD_SPF_PERMERROR, which are > MATCH). */
static int eval_mechanism(hd_spf *s, const spf_term *t, const char *domain, int depth)
{
    if (t->kind == SPF_ALL)
        return MATCH;
    if (t->kind == SPF_IP4 || t->kind == SPF_IP6)
        return addr_in_term(s, t) ? MATCH : NOMATCH;
    /* §4.6.4: DNS-querying terms count, even if they then fail */
    if (++s->lookups > s->opts.max_dns_terms)
        return fail_with(s, HD_SPF_PERMERROR,
                         "more than %u DNS-querying terms (at \"%.*s\"), RFC 7208 §4.6.4",
                         s->opts.max_dns_terms, (int)t->text.len, (const char *)t->text.p);
    char target[300];
    int rc = term_target(s, t, domain, depth, target, sizeof target);
    if (rc != 0)
        return rc;
    switch (t->kind) {
    case SPF_A:
        return mech_a(s, t, target, depth);
    case SPF_MX:
        return mech_mx(s, t, target, depth);
    case SPF_PTR:
        return mech_ptr(s, target, depth);
    case SPF_EXISTS:
        return mech_exists(s, t, target, depth);
    case SPF_INCLUDE:
        return mech_include(s, target, depth);
    default:
        return HD_SPF_PERMERROR;
    }
}

static hd_spf_result qualifier_result(char q)
{
    switch (q) {
    case '-':
        return HD_SPF_FAIL;
    case '~':
        return HD_SPF_SOFTFAIL;
    case '?':
        return HD_SPF_NEUTRAL;
    default:
        return HD_SPF_PASS;
    }
}

/* Records ---------------------------------------------------------------- */

/* §4.5: the one TXT record that starts "v=spf1" then SP or its end.
 * Returns 0 with *out set, NO_RECORD, or a permerror. */
#define NO_RECORD (-3)
static int select_record(hd_spf *s, const hd_dns_answer *a, const char *domain, hd_slice *out)
{
    size_t found = 0;
    for (size_t i = 0; a->status == HD_DNS_OK && i < a->nrr; i++) {
        hd_slice t = hd_slice_make(a->rr[i].txt, a->rr[i].txt_len);
        if (t.len < 6 || !hd_slice_caseeq_cstr(hd_slice_make(t.p, 6), "v=spf1") ||
            (t.len > 6 && t.p[6] != ' '))
            continue;
        *out = t;
        found++;
    }
    if (found > 1)
        return fail_with(s, HD_SPF_PERMERROR, "%s publishes %zu SPF records; there must be one "
                                              "(RFC 7208 §4.5)", domain, found);
    return found == 1 ? 0 : NO_RECORD;
}

/* §6.2: the explanation, on fail; any problem just means no explanation. */
static int explain(hd_spf *s, const spf_record *rec, const char *domain, int depth, char *out,
                   size_t len)
{
    if (rec->exp == NULL)
        return 0;
    char name[300];
    if (needs_validated(rec->exp)) {
        unsigned saved = s->voids;
        int vrc = compute_validated(s, domain, depth);
        s->voids = saved;
        if (vrc == SPF_NEED)
            return SPF_NEED;
    }
    int rc = expand_domain(s, rec->exp->spec, domain, name, sizeof name, false);
    if (rc != 0 || !spf_domain_ok(name)) {
        s->v.reason[0] = '\0';
        return 0;
    }
    const hd_dns_answer *a = lookup(s, name, HD_DNS_T_TXT, depth);
    if (a == NULL)
        return SPF_NEED;
    if (a->status != HD_DNS_OK || a->nrr != 1)
        return 0;
    hd_slice text = hd_slice_make(a->rr[0].txt, a->rr[0].txt_len);
    for (size_t i = 0; i < text.len; i++)
        if (text.p[i] < 0x20 || text.p[i] > 0x7e)
            return 0; /* §6.2: explanation must be US-ASCII */
    /* §4.6.4: the explanation's lookups are not subject to the limits */
    unsigned saved_voids = s->voids;
    if (spf_spec_needs_p(text)) {
        rc = compute_validated(s, domain, depth);
        s->voids = saved_voids;
        if (rc == SPF_NEED)
            return SPF_NEED;
        if (rc != 0)
            return 0;
    }
    char ex[512];
    rc = expand_domain(s, text, domain, ex, sizeof ex, true);
    s->voids = saved_voids;
    if (rc == 0)
        snprintf(out, len, "%s", ex);
    else
        s->v.reason[0] = '\0';
    return 0;
}

/* check_host(): the result for domain, or SPF_NEED. On fail, *exp_out gets
 * this record's explanation, if it has one. */
static int check_host(hd_spf *s, const char *domain, int depth, char *exp_out, size_t exp_len)
{
    exp_out[0] = '\0';
    if (!spf_domain_ok(domain)) /* §4.3 */
        return fail_with(s, HD_SPF_NONE, "\"%s\" is not a valid multi-label domain name (RFC 7208 "
                                         "§4.3)", domain);
    const hd_dns_answer *a = lookup(s, domain, HD_DNS_T_TXT, depth);
    if (a == NULL)
        return SPF_NEED;
    if (is_temp(a)) /* §4.4 */
        return fail_with(s, HD_SPF_TEMPERROR, "DNS TXT lookup of %s failed: %s%s%s", domain,
                         hd_dns_status_name(a->status), a->why[0] ? ": " : "", a->why);
    int rc = count_void(s, a, domain);
    if (rc != 0)
        return rc;
    hd_slice text;
    rc = select_record(s, a, domain, &text);
    if (rc == NO_RECORD)
        return fail_with(s, HD_SPF_NONE, "%s has no SPF record", domain);
    if (rc != 0)
        return rc;
    trace(s, depth, "%s: \"%.*s\"", domain, (int)(text.len > 400 ? 400 : text.len),
          (const char *)text.p);
    spf_record own;
    const spf_record *recp = &own;
    hd_err err;
    hd_err_clear(&err);
    /* a parse from the cache stays valid for the whole run: the cache is
     * only ever emptied between runs */
    bool owned = s->opts.records == NULL;
    rc = owned ? spf_record_parse(text, &own, &err)
               : spf_records_get(s->opts.records, text, &recp, &err);
    if (rc == SPF_RECORDS_FULL) {
        owned = true;
        rc = spf_record_parse(text, &own, &err);
    }
    if (rc != 0)
        return fail_with(s, HD_SPF_PERMERROR, "%s's SPF record %s", domain, err.msg);
    spf_record rec = owned ? own : *recp;

    int result = -2; /* no match yet */
    for (size_t i = 0; i < rec.n; i++) {
        const spf_term *t = &rec.terms[i];
        if (t->kind >= SPF_REDIRECT)
            continue;
        int m = eval_mechanism(s, t, domain, depth);
        if (m == SPF_NEED || m > MATCH) {
            result = m;
            break;
        }
        trace(s, depth, "%.*s: %s", (int)t->text.len, (const char *)t->text.p,
              m == MATCH ? "match" : "no match");
        if (m == MATCH) {
            result = (int)qualifier_result(t->qualifier);
            if (depth == 0)
                snprintf(s->v.mechanism, sizeof s->v.mechanism, "%.*s", (int)t->text.len,
                         (const char *)t->text.p);
            break;
        }
    }
    if (result == -2 && rec.redirect != NULL) { /* §6.1 */
        const spf_term *t = rec.redirect;
        char target[300];
        if (++s->lookups > s->opts.max_dns_terms)
            result = fail_with(s, HD_SPF_PERMERROR,
                               "more than %u DNS-querying terms (at \"%.*s\"), RFC 7208 §4.6.4",
                               s->opts.max_dns_terms, (int)t->text.len, (const char *)t->text.p);
        else if ((result = term_target(s, t, domain, depth, target, sizeof target)) == 0) {
            trace(s, depth, "%.*s", (int)t->text.len, (const char *)t->text.p);
            result = check_host(s, target, depth, exp_out, exp_len);
            if (result == HD_SPF_NONE)
                result = fail_with(s, HD_SPF_PERMERROR,
                                   "redirect=%s has no SPF record (RFC 7208 §6.1)", target);
        }
        if (owned)
            spf_record_free(&rec);
        return result;
    }
    if (result == -2) {
        result = HD_SPF_NEUTRAL; /* §4.7: no match, no redirect */
        if (depth == 0)
            snprintf(s->v.mechanism, sizeof s->v.mechanism, "default");
    }
    if (result == HD_SPF_FAIL) {
        rc = explain(s, &rec, domain, depth, exp_out, exp_len);
        if (rc == SPF_NEED)
            result = SPF_NEED;
    }
    if (owned)
        spf_record_free(&rec);
    return result;
}

/* The API ---------------------------------------------------------------- */

static int parse_ip(hd_spf *s, const char *ip)
{
    uint8_t a[16];
    if (ip == NULL)
        return -1;
    if (inet_pton(AF_INET, ip, a) == 1) {
        memcpy(s->ip, a, 4);
        s->v6 = false;
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) { /* §5: IPv4-mapped is IPv4 */
            memcpy(s->ip, a + 12, 4);
            s->v6 = false;
        } else {
            memcpy(s->ip, a, 16);
            s->v6 = true;
        }
    } else {
        return -1;
    }
    if (!s->v6)
        snprintf(s->ip_text, sizeof s->ip_text, "%u.%u.%u.%u", s->ip[0], s->ip[1], s->ip[2], s->ip[3]);
    else
        inet_ntop(AF_INET6, s->ip, s->ip_text, sizeof s->ip_text);
    return 0;
}

int hd_spf_new(const hd_spf_request *req, const hd_spf_opts *opts, hd_spf **out, hd_err *err)
{
    hd_spf *s = calloc(1, sizeof *s);
    if (s == NULL || (s->memo = hd_dns_memo_new()) == NULL) {
        free(s);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    if (parse_ip(s, req->ip) != 0) {
        hd_dns_memo_free(s->memo);
        free(s);
        return hd_err_set(err, HD_EINVAL, "\"%s\" is not an IP address", req->ip ? req->ip : "");
    }
    if (opts != NULL)
        s->opts = *opts;
    if (s->opts.max_dns_terms == 0)
        s->opts.max_dns_terms = 10;
    if (s->opts.max_void == 0)
        s->opts.max_void = 2;
    if (s->opts.max_mx_names == 0)
        s->opts.max_mx_names = 10;
    if (s->opts.max_ptr_names == 0)
        s->opts.max_ptr_names = 10;
    snprintf(s->helo, sizeof s->helo, "%s", req->helo ? req->helo : "");
    snprintf(s->receiver, sizeof s->receiver, "%s", req->receiver ? req->receiver : "");
    s->now = req->now;
    hd_buf_init(&s->trace, 1 << 20);
    hd_buf_init(&s->scratch, 8192);

    /* §2.3, §2.4, §4.3: the identity and its domain */
    const char *sender = req->sender ? req->sender : "";
    if (req->check_helo || sender[0] == '\0') {
        s->v.identity = "helo";
        snprintf(s->v.sender, sizeof s->v.sender, "postmaster@%s", s->helo);
        snprintf(s->v.domain, sizeof s->v.domain, "%s", s->helo);
        if (!req->check_helo)
            s->v.identity = "helo"; /* null reverse-path: the HELO identity */
    } else {
        s->v.identity = "mailfrom";
        const char *at = strrchr(sender, '@');
        if (at == NULL) /* a bare domain: the local part is postmaster */
            snprintf(s->v.sender, sizeof s->v.sender, "postmaster@%s", sender);
        else if (at == sender) /* §4.3: no local part */
            snprintf(s->v.sender, sizeof s->v.sender, "postmaster%s", sender);
        else
            snprintf(s->v.sender, sizeof s->v.sender, "%s", sender);
        at = strrchr(s->v.sender, '@');
        snprintf(s->v.domain, sizeof s->v.domain, "%s", at + 1);
    }
    *out = s;
    return 0;
}

void hd_spf_free(hd_spf *s)
{
    if (s == NULL)
        return;
    hd_dns_memo_free(s->memo);
    hd_buf_free(&s->trace);
    hd_buf_free(&s->scratch);
    free(s);
}

static void deliver_trace(hd_spf *s)
{
    if (s->opts.trace == NULL || s->trace.len == 0)
        return;
    char *p = (char *)s->trace.p;
    while (*p) {
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        int depth = 0;
        char *sp = strchr(p, ' ');
        for (char *q = p; q < sp; q++)
            depth = depth * 10 + (*q - '0');
        s->opts.trace(s->opts.trace_arg, depth, sp + 1);
        p = nl + 1;
    }
}

int hd_spf_step(hd_spf *s, const char **qname, uint16_t *qtype, hd_err *err)
{
    *qname = NULL;
    if (s->done)
        return 0;
    s->need = false;
    if (s->opts.records != NULL)
        spf_records_make_room(s->opts.records);
    s->lookups = s->voids = 0;
    s->have_validated = false;
    s->v.reason[0] = '\0';
    s->v.mechanism[0] = '\0';
    hd_buf_reset(&s->trace);
    char exp[512];
    int r = check_host(s, s->v.domain, 0, exp, sizeof exp);
    if (r == SPF_NEED) {
        *qname = s->qname;
        *qtype = s->qtype;
        return 0;
    }
    s->v.result = (hd_spf_result)r;
    s->v.dns_lookups = s->lookups;
    s->v.void_lookups = s->voids;
    if (r == HD_SPF_FAIL)
        snprintf(s->v.explanation, sizeof s->v.explanation, "%s",
                 exp[0] ? exp : "");
    if (r == HD_SPF_FAIL && s->v.explanation[0] == '\0') /* §6.2: a default */
        snprintf(s->v.explanation, sizeof s->v.explanation,
                 "%s does not designate %s as a permitted sender", s->v.domain, s->ip_text);
    if (s->v.reason[0] == '\0' || r == HD_SPF_PASS || r == HD_SPF_FAIL || r == HD_SPF_SOFTFAIL ||
        r == HD_SPF_NEUTRAL) {
        const char *d = s->v.domain, *ip = s->ip_text;
        char *out = s->v.reason;
        size_t n = sizeof s->v.reason;
        if (r == HD_SPF_PASS)
            snprintf(out, n, "%s designates %s as a permitted sender", d, ip);
        else if (r == HD_SPF_FAIL)
            snprintf(out, n, "%s does not designate %s as a permitted sender", d, ip);
        else if (r == HD_SPF_SOFTFAIL)
            snprintf(out, n, "%s does not designate %s as a permitted sender, but asks receivers "
                             "to accept (softfail)", d, ip);
        else if (r == HD_SPF_NEUTRAL)
            snprintf(out, n, "%s makes no assertion about %s", d, ip);
    }
    s->done = true;
    deliver_trace(s);
    return 0;
}

int hd_spf_answer(hd_spf *s, const hd_dns_answer *ans, hd_err *err)
{
    if (!s->need)
        return hd_err_set(err, HD_ESTATE, "no question is outstanding");
    if (hd_dns_memo_put(s->memo, s->opts.cache, s->qname, s->qtype, ans, s->now) != 0)
        return hd_err_set(err, HD_ENOMEM, NULL);
    s->need = false;
    return 0;
}

int hd_spf_run(hd_spf *s, hd_dns *dns, hd_err *err)
{
    for (;;) {
        const char *q;
        uint16_t t;
        int rc = hd_spf_step(s, &q, &t, err);
        if (rc != 0 || q == NULL)
            return rc;
        hd_dns_answer *ans = NULL;
        hd_err qerr;
        hd_err_clear(&qerr);
        rc = hd_dns_query(dns, q, t, &ans, &qerr);
        if (rc != 0) { /* a name the resolver refuses: as if it did not exist */
            hd_dns_answer fake = {0};
            fake.qname = (char *)q;
            fake.qtype = t;
            fake.status = rc == HD_EINVAL ? HD_DNS_NXDOMAIN : HD_DNS_ERROR;
            snprintf(fake.why, sizeof fake.why, "%s", qerr.msg);
            rc = hd_spf_answer(s, &fake, err);
        } else {
            rc = hd_spf_answer(s, ans, err);
            hd_dns_answer_free(ans);
        }
        if (rc != 0)
            return rc;
    }
}

const hd_spf_verdict *hd_spf_get_verdict(const hd_spf *s)
{
    return &s->v;
}

const char *hd_spf__client_ip(const hd_spf *s)
{
    return s->ip_text;
}

const char *hd_spf__helo(const hd_spf *s)
{
    return s->helo;
}
