/*
 * unbound.c - the libunbound back end: a real, caching, DNSSEC-aware
 * resolver that forwards to a configured server or uses resolv.conf.
 *
 * Queries run in libunbound's own thread (ub_ctx_async(ctx, 1)); their
 * results arrive on ub_fd() and are collected by ub_process(), which calls
 * ub_done(). Each outstanding question is a struct ubq in a list kept in
 * submit order; the timeout is the same for all, so the head always
 * expires first. ub_done() and the timeout path both turn a ubq into an
 * answer and hand its job to the ready queue of dns.c, which runs the
 * callback. Record data is parsed from libunbound's uncompressed rdata
 * with bounds checks on every byte read.
 */
#include "dns/dns_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unbound.h>

typedef struct ubq {
    struct ubq *prev, *next;
    struct ub_state *ub;
    hd_dns_job *job;
    int async_id;
    uint64_t deadline_ms;
} ubq;

typedef struct ub_state {
    hd_dns *dns; /* back pointer, set once the resolver object exists */
    struct ub_ctx *ctx;
    ubq *head, *tail;
    unsigned timeout_ms;
    char server[80]; /* for messages: "127.0.0.1@5353" or "resolv.conf servers" */
} ub_state;

/* Outstanding list -------------------------------------------------------- */

static void ubq_unlink(ub_state *ub, ubq *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        ub->head = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    else
        ub->tail = q->prev;
    q->prev = q->next = NULL;
}

static void ubq_append(ub_state *ub, ubq *q)
{
    q->prev = ub->tail;
    q->next = NULL;
    if (ub->tail != NULL)
        ub->tail->next = q;
    else
        ub->head = q;
    ub->tail = q;
}

/* Record data ------------------------------------------------------------ */

/* An uncompressed wire name (RFC 1035 §3.1) from rdata[*pos..len) to text
 * without the trailing dot; the root is "". Compression pointers are
 * refused (libunbound hands out decompressed rdata), as are labels that
 * text cannot carry unambiguously (a '.' or NUL inside). */
static int wire_name(const uint8_t *d, size_t len, size_t *pos, char **out, const char **why)
{
    char text[HD_DNS_NAME_BUF];
    size_t n = 0, i = *pos;
    for (;;) {
        if (i >= len) {
            *why = "name runs past the record data";
            return HD_ESYNTAX;
        }
        uint8_t l = d[i++];
        if (l == 0)
            break;
        if ((l & 0xc0) != 0) {
            *why = (l & 0xc0) == 0xc0 ? "compression pointer in record data" : "bad label type";
            return HD_ESYNTAX;
        }
        if (l > len - i) {
            *why = "label runs past the record data";
            return HD_ESYNTAX;
        }
        int rc = hd_dns__text_add_label(text, &n, d + i, l);
        if (rc != 0) {
            *why = rc == HD_ELIMIT ? "name longer than 253 characters"
                                   : "label contains '.' or NUL";
            return HD_ESYNTAX;
        }
        i += l;
    }
    *pos = i;
    *out = hd_slice_strdup(hd_slice_make(text, n));
    if (*out == NULL) {
        *why = "out of memory";
        return HD_ENOMEM;
    }
    return 0;
}

/* RFC 1035 §3.3.14: <character-string>s, concatenated. */
static int txt_rdata(const uint8_t *d, size_t len, hd_dns_rr *rr, const char **why)
{
    size_t total = 0, strings = 0;
    for (size_t i = 0; i < len; i += 1 + (size_t)d[i]) {
        if ((size_t)d[i] > len - i - 1) {
            *why = "TXT string runs past the record data";
            return HD_ESYNTAX;
        }
        total += d[i];
        strings++;
    }
    rr->txt = malloc(total + 1);
    if (rr->txt == NULL) {
        *why = "out of memory";
        return HD_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i += 1 + (size_t)d[i]) {
        memcpy(rr->txt + n, d + i + 1, d[i]);
        n += d[i];
    }
    rr->txt[n] = '\0';
    rr->txt_len = n;
    rr->txt_strings = strings;
    return 0;
}

static int one_rdata(uint16_t type, const uint8_t *d, size_t len, hd_dns_rr *rr,
                     const char **why)
{
    size_t pos = 0;
    int rc = 0;
    switch (type) {
    case HD_DNS_T_A:
    case HD_DNS_T_AAAA:
        if (len != (type == HD_DNS_T_A ? 4u : 16u)) {
            *why = "address of the wrong length";
            return HD_ESYNTAX;
        }
        memcpy(rr->addr, d, len);
        return 0;
    case HD_DNS_T_MX:
        if (len < 3) {
            *why = "MX record too short";
            return HD_ESYNTAX;
        }
        rr->preference = (uint16_t)(d[0] << 8 | d[1]);
        pos = 2;
        rc = wire_name(d, len, &pos, &rr->name, why);
        break;
    case HD_DNS_T_PTR:
    case HD_DNS_T_CNAME:
    case HD_DNS_T_NS:
        rc = wire_name(d, len, &pos, &rr->name, why);
        break;
    case HD_DNS_T_TXT:
        return txt_rdata(d, len, rr, why);
    default:
        return 0; /* a type we do not decode: type and TTL only */
    }
    if (rc == 0 && pos != len) {
        *why = "trailing bytes after the name";
        return HD_ESYNTAX;
    }
    return rc;
}

/* Results ---------------------------------------------------------------- */

static bool same_name(const char *a, const char *b)
{
    hd_slice sa = hd_slice_cstr(a), sb = hd_slice_cstr(b);
    if (sa.len > 0 && sa.p[sa.len - 1] == '.')
        sa.len--;
    if (sb.len > 0 && sb.p[sb.len - 1] == '.')
        sb.len--;
    return hd_slice_caseeq(sa, sb);
}

static void fill_records(hd_dns_answer *ans, const struct ub_result *res)
{
    size_t count = 0;
    while (res->data[count] != NULL && count < HD_LIMIT_DNS_RRS)
        count++; /* records kept from one answer are bounded */
    ans->rr = calloc(count ? count : 1, sizeof *ans->rr);
    if (ans->rr == NULL) {
        hd_dns__answer_status(ans, HD_DNS_ERROR, ans->rcode, "out of memory");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        hd_dns_rr *rr = &ans->rr[ans->nrr++];
        rr->type = ans->qtype;
        rr->ttl = ans->ttl;
        const char *why = NULL;
        if (res->len[i] < 0 ||
            one_rdata(ans->qtype, (const uint8_t *)res->data[i], (size_t)res->len[i], rr,
                      &why) != 0) {
            hd_dns__answer_status(ans, HD_DNS_ERROR, ans->rcode, "bad %s record: %s",
                                  hd_dns_type_name(ans->qtype), why ? why : "negative length");
            return;
        }
    }
}

static void map_result(hd_dns_answer *ans, const struct ub_result *res)
{
    ans->rcode = res->rcode;
    ans->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
    ans->secure = res->secure != 0;
    ans->bogus = res->bogus != 0;
    if (res->canonname != NULL && !same_name(res->canonname, ans->qname)) {
        hd_slice c = hd_slice_cstr(res->canonname);
        if (c.len > 1 && c.p[c.len - 1] == '.')
            c.len--;
        ans->canonname = hd_slice_strdup(c);
    }
    if (res->bogus) {
        hd_dns__answer_status(ans, HD_DNS_SERVFAIL, res->rcode, "DNSSEC validation failed: %s",
                              res->why_bogus ? res->why_bogus : "bogus");
    } else if (res->rcode == 3 || res->nxdomain) { /* RFC 1035 §4.1.1 NXDOMAIN */
        hd_dns__answer_status(ans, HD_DNS_NXDOMAIN, 3, NULL);
    } else if (res->havedata) {
        hd_dns__answer_status(ans, HD_DNS_OK, res->rcode, NULL);
        fill_records(ans, res);
    } else if (res->rcode == 0) {
        hd_dns__answer_status(ans, HD_DNS_NODATA, 0, NULL);
    } else {
        hd_dns__answer_status(ans, HD_DNS_SERVFAIL, res->rcode, "server answered RCODE %d%s",
                              res->rcode, res->rcode == 2 ? " (SERVFAIL)" : "");
    }
}

/* libunbound's callback, from ub_process(). */
static void ub_done(void *mydata, int err, struct ub_result *res)
{
    ubq *q = mydata;
    ub_state *ub = q->ub;
    hd_dns_answer *ans = hd_dns__answer_new(q->job->qname, q->job->qtype);
    if (ans != NULL) {
        if (err != 0)
            hd_dns__answer_status(ans, HD_DNS_ERROR, -1, "resolver: %s", ub_strerror(err));
        else if (res == NULL)
            hd_dns__answer_status(ans, HD_DNS_ERROR, -1, "resolver gave no result");
        else
            map_result(ans, res);
    }
    if (res != NULL)
        ub_resolve_free(res);
    ubq_unlink(ub, q);
    hd_dns__complete(ub->dns, q->job, ans);
    free(q);
}

/* The back end ----------------------------------------------------------- */

/* libunbound reads the name in presentation format (RFC 1035 §5.1), so
 * bytes that format gives a meaning to are written as \DDD. */
static void presentation_name(const char *name, char *out, size_t outlen)
{
    size_t n = 0;
    for (const uint8_t *p = (const uint8_t *)name; *p != '\0' && n + 5 < outlen; p++) {
        uint8_t c = *p;
        bool plain = c > 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '(' && c != ')' &&
                     c != ';' && c != '@' && c != '$';
        if (plain) {
            out[n++] = (char)c;
        } else {
            snprintf(out + n, outlen - n, "\\%03u", (unsigned)c);
            n += 4;
        }
    }
    out[n] = '\0';
}

static int ub_submit(hd_dns *dns, hd_dns_job *job, hd_err *err)
{
    ub_state *ub = hd_dns__impl(dns);
    ubq *q = calloc(1, sizeof *q);
    if (q == NULL)
        return hd_err_set(err, HD_ENOMEM, "dns: out of memory");
    q->ub = ub;
    q->job = job;
    q->deadline_ms = hd_dns_now_ms() + ub->timeout_ms;
    char name[4 * HD_DNS_NAME_BUF + 1];
    presentation_name(job->qname, name, sizeof name);
    int rc = ub_resolve_async(ub->ctx, name, job->qtype, 1 /* IN */, q, ub_done, &q->async_id);
    if (rc != 0) {
        free(q);
        return hd_err_set(err, rc == UB_NOMEM ? HD_ENOMEM : HD_EIO, "dns: cannot ask for %s %s: %s",
                          job->qname, hd_dns_type_name(job->qtype), ub_strerror(rc));
    }
    ubq_append(ub, q);
    return 0;
}

static int ub_fdesc(const hd_dns *dns)
{
    const ub_state *ub = hd_dns__impl(dns);
    return ub_fd(ub->ctx);
}

static long ub_next_timeout(const hd_dns *dns, uint64_t now_ms)
{
    const ub_state *ub = hd_dns__impl(dns);
    if (ub->head == NULL)
        return -1;
    if (ub->head->deadline_ms <= now_ms)
        return 0;
    return (long)(ub->head->deadline_ms - now_ms);
}

static void expire(ub_state *ub, uint64_t now_ms)
{
    while (ub->head != NULL && ub->head->deadline_ms <= now_ms) {
        ubq *q = ub->head;
        ub_cancel(ub->ctx, q->async_id);
        ubq_unlink(ub, q);
        hd_dns_answer *ans = hd_dns__answer_new(q->job->qname, q->job->qtype);
        if (ans != NULL)
            hd_dns__answer_status(ans, HD_DNS_TIMEOUT, -1, "no answer from %s within %u ms",
                                  ub->server, ub->timeout_ms);
        hd_dns__complete(ub->dns, q->job, ans);
        free(q);
    }
}

static int ub_proc(hd_dns *dns, uint64_t now_ms, hd_err *err)
{
    ub_state *ub = hd_dns__impl(dns);
    if (ub->head == NULL)
        return 0;
    if (ub_poll(ub->ctx)) {
        int rc = ub_process(ub->ctx);
        if (rc != 0)
            return hd_err_set(err, HD_EIO, "dns: %s", ub_strerror(rc));
    }
    expire(ub, now_ms);
    return 0;
}

static int ub_block(hd_dns *dns, long timeout_ms, hd_err *err)
{
    ub_state *ub = hd_dns__impl(dns);
    struct pollfd pfd = {.fd = ub_fd(ub->ctx), .events = POLLIN};
    int timeout = timeout_ms < 0 ? -1 : timeout_ms > 60000 ? 60000 : (int)timeout_ms;
    if (poll(&pfd, 1, timeout) < 0 && errno != EINTR)
        return hd_err_set(err, HD_EIO, "dns: poll: %s", strerror(errno));
    return 0;
}

static void ub_state_free(void *impl)
{
    ub_state *ub = impl;
    if (ub == NULL)
        return;
    if (ub->ctx != NULL)
        ub_ctx_delete(ub->ctx); /* stops the thread; no callbacks run */
    while (ub->head != NULL) {
        ubq *q = ub->head;
        ubq_unlink(ub, q);
        hd_dns__job_free(q->job);
        free(q);
    }
    free(ub);
}

static const hd_dns_backend unbound_backend = {
    .name = "libunbound",
    .submit = ub_submit,
    .fd = ub_fdesc,
    .next_timeout_ms = ub_next_timeout,
    .process = ub_proc,
    .block = ub_block,
    .free = ub_state_free,
};

static int configure(ub_state *ub, const hd_dns_config *cfg, hd_err *err)
{
    int rc = ub_ctx_async(ub->ctx, 1); /* a thread, not a forked process */
    if (rc != 0)
        return hd_err_set(err, HD_EIO, "dns: %s", ub_strerror(rc));
    /* A name that did not exist is asked again after a minute at most
     * (unbound's own default cap is an hour): a DKIM record published
     * after the server looked for it (key rotation), or a domain just
     * registered, is seen soon after. */
    if (ub_ctx_set_option(ub->ctx, "cache-max-negative-ttl:", "60") != 0)
        return hd_err_set(err, HD_EIO, "dns: cannot configure libunbound's negative cache");
    if (cfg->server != NULL) {
        /* libunbound reads "ADDR@PORT" itself. */
        rc = ub_ctx_set_fwd(ub->ctx, cfg->server);
        if (rc != 0)
            return hd_err_set(err, HD_EINVAL, "dns: bad server \"%s\": %s", cfg->server,
                              ub_strerror(rc));
        snprintf(ub->server, sizeof ub->server, "%s", cfg->server);
        /* libunbound answers some names itself by default. RFC 6761 §6.2
         * asks for an option to let test names through to a private
         * server that serves them; naming a server is that choice. So is
         * asking it for the RFC 1918 reverse zones. (A transparent zone
         * with no data replaces the default one and resolves normally;
         * "nodefault" is not honoured through ub_ctx_set_option.) */
        if (ub_ctx_set_option(ub->ctx, "local-zone:", "test. transparent") != 0 ||
            ub_ctx_set_option(ub->ctx, "unblock-lan-zones:", "yes") != 0)
            return hd_err_set(err, HD_EIO, "dns: cannot configure libunbound's local zones");
    } else {
        rc = ub_ctx_resolvconf(ub->ctx, NULL);
        if (rc != 0)
            return hd_err_set(err, HD_EIO, "dns: cannot read resolv.conf: %s", ub_strerror(rc));
        snprintf(ub->server, sizeof ub->server, "the resolv.conf servers");
    }
    if (cfg->trust_anchor != NULL) {
        /* libunbound reads the file only at the first query; look now so
         * a wrong path is reported where it was configured. */
        if (access(cfg->trust_anchor, R_OK) != 0)
            return hd_err_set(err, HD_EIO, "dns: trust anchor %s: %s", cfg->trust_anchor,
                              strerror(errno));
        rc = ub_ctx_add_ta_file(ub->ctx, cfg->trust_anchor);
        if (rc != 0)
            return hd_err_set(err, HD_EINVAL, "dns: trust anchor %s: %s", cfg->trust_anchor,
                              ub_strerror(rc));
    }
    return 0;
}

int hd_dns_new_unbound(hd_dns **out, const hd_dns_config *cfg, hd_err *err)
{
    *out = NULL;
    hd_dns_config none = {0};
    if (cfg == NULL)
        cfg = &none;
    ub_state *ub = calloc(1, sizeof *ub);
    if (ub == NULL)
        return hd_err_set(err, HD_ENOMEM, "dns: out of memory");
    ub->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : HD_LIMIT_DNS_TIMEOUT_MS;
    ub->ctx = ub_ctx_create();
    if (ub->ctx == NULL) {
        free(ub);
        return hd_err_set(err, HD_ENOMEM, "dns: cannot create a libunbound context");
    }
    int rc = configure(ub, cfg, err);
    if (rc != 0) {
        ub_state_free(ub);
        return rc;
    }
    rc = hd_dns__new(out, &unbound_backend, ub, err);
    if (rc == 0)
        ub->dns = *out;
    return rc;
}

const char *hd_dns_unbound_version(void)
{
    return ub_version();
}
