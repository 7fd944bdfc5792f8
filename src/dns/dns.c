/*
 * dns.c - the resolver object shared by both back ends: name checks on
 * submit, the ready queue that delivers answers to callbacks, the
 * synchronous query, and answer helpers.
 *
 * Invariants: pending counts jobs submitted whose callback has not run;
 * every job is either held by the back end or in the ready queue, never
 * both. Callbacks run only from hd_dns_process() (directly or through
 * hd_dns_wait() / hd_dns_query()), and a callback may submit new questions:
 * one process call delivers only what was ready when it started draining.
 * Answers handed to callbacks are owned by them (hd_dns_answer_free).
 */
#include "dns/dns_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hd_dns {
    const hd_dns_backend *be;
    void *impl;
    hd_dns_job *ready_head, *ready_tail;
    size_t pending;
};

/* Names ----------------------------------------------------------------- */

/* A question's name is dotted text without escapes (dns.h), so its length
 * in characters is its length in octets. Each back end reads it the same
 * way: libunbound after writing unusual bytes as \DDD, the zone fixture
 * (docs/zone-format.md) by cutting it at every '.'. */

int hd_dns__text_add_label(char *text, size_t *n, const uint8_t *label, size_t len)
{
    if (*n + (*n > 0) + len > HD_LIMIT_DNS_NAME)
        return HD_ELIMIT;
    if (memchr(label, '.', len) != NULL || memchr(label, '\0', len) != NULL)
        return HD_ESYNTAX;
    if (*n > 0)
        text[(*n)++] = '.';
    memcpy(text + *n, label, len);
    *n += len;
    return 0;
}

bool hd_dns__name_check(hd_slice name, bool allow_root, hd_slice *out,
                        char *why, size_t whylen)
{
    if (name.len > 0 && name.p[name.len - 1] == '.')
        name.len--; /* one trailing dot: the name is absolute */
    if (name.len == 0) {
        if (allow_root) {
            *out = name;
            return true;
        }
        snprintf(why, whylen, "empty name");
        return false;
    }
    if (name.len > HD_LIMIT_DNS_NAME) {
        snprintf(why, whylen, "name \"%.40s...\" is longer than %d characters (%zu)",
                 (const char *)name.p, HD_LIMIT_DNS_NAME, name.len);
        return false;
    }
    size_t start = 0;
    for (size_t i = 0; i <= name.len; i++) {
        if (i < name.len && name.p[i] != '.')
            continue;
        size_t llen = i - start;
        if (llen == 0) {
            snprintf(why, whylen, "empty label in \"%.*s\"", (int)name.len,
                     (const char *)name.p);
            return false;
        }
        if (llen > 63) { /* RFC 1035 §2.3.4 */
            snprintf(why, whylen, "label \"%.20s...\" is longer than 63 characters (%zu)",
                     (const char *)name.p + start, llen);
            return false;
        }
        start = i + 1;
    }
    *out = name;
    return true;
}

/* Answers --------------------------------------------------------------- */

hd_dns_answer *hd_dns__answer_new(const char *qname, uint16_t qtype)
{
    hd_dns_answer *ans = calloc(1, sizeof *ans);
    if (ans == NULL)
        return NULL;
    ans->qname = hd_slice_strdup(hd_slice_cstr(qname));
    if (ans->qname == NULL) {
        free(ans);
        return NULL;
    }
    ans->qtype = qtype;
    ans->status = HD_DNS_ERROR;
    ans->rcode = -1;
    return ans;
}

void hd_dns__answer_status(hd_dns_answer *ans, hd_dns_status st, int rcode,
                           const char *fmt, ...)
{
    ans->status = st;
    ans->rcode = rcode;
    if (fmt == NULL) {
        ans->why[0] = '\0';
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ans->why, sizeof ans->why, fmt, ap);
    va_end(ap);
}

void hd_dns_answer_free(hd_dns_answer *ans)
{
    if (ans == NULL)
        return;
    for (size_t i = 0; i < ans->nrr; i++) {
        free(ans->rr[i].name);
        free(ans->rr[i].txt);
    }
    free(ans->rr);
    free(ans->qname);
    free(ans->canonname);
    free(ans);
}

const char *hd_dns_status_name(hd_dns_status st)
{
    switch (st) {
    case HD_DNS_OK: return "OK";
    case HD_DNS_NODATA: return "NODATA";
    case HD_DNS_NXDOMAIN: return "NXDOMAIN";
    case HD_DNS_SERVFAIL: return "SERVFAIL";
    case HD_DNS_TIMEOUT: return "TIMEOUT";
    case HD_DNS_ERROR: return "ERROR";
    }
    return "UNKNOWN";
}

const char *hd_dns_type_name(uint16_t type)
{
    switch (type) {
    case HD_DNS_T_A: return "A";
    case HD_DNS_T_NS: return "NS";
    case HD_DNS_T_CNAME: return "CNAME";
    case HD_DNS_T_PTR: return "PTR";
    case HD_DNS_T_MX: return "MX";
    case HD_DNS_T_TXT: return "TXT";
    case HD_DNS_T_AAAA: return "AAAA";
    case HD_DNS_T_SPF: return "SPF";
    }
    /* RFC 3597 §5: an unknown type is written TYPEnnn. The text lives in
     * a per-thread buffer, valid until this thread's next such call. */
    static _Thread_local char unknown[sizeof "TYPE65535"];
    snprintf(unknown, sizeof unknown, "TYPE%u", (unsigned)type);
    return unknown;
}

/* The resolver object ---------------------------------------------------- */

int hd_dns__new(hd_dns **out, const hd_dns_backend *be, void *impl, hd_err *err)
{
    hd_dns *dns = calloc(1, sizeof *dns);
    if (dns == NULL) {
        be->free(impl);
        return hd_err_set(err, HD_ENOMEM, "dns: out of memory");
    }
    dns->be = be;
    dns->impl = impl;
    *out = dns;
    return 0;
}

void *hd_dns__impl(const hd_dns *dns)
{
    return dns->impl;
}

void hd_dns__job_free(hd_dns_job *job)
{
    if (job == NULL)
        return;
    hd_dns_answer_free(job->ans);
    free(job);
}

void hd_dns__complete(hd_dns *dns, hd_dns_job *job, hd_dns_answer *ans)
{
    job->ans = ans; /* NULL: out of memory, reported when delivered */
    job->next = NULL;
    if (dns->ready_tail != NULL)
        dns->ready_tail->next = job;
    else
        dns->ready_head = job;
    dns->ready_tail = job;
}

void hd_dns_free(hd_dns *dns)
{
    if (dns == NULL)
        return;
    dns->be->free(dns->impl);
    while (dns->ready_head != NULL) {
        hd_dns_job *j = dns->ready_head;
        dns->ready_head = j->next;
        hd_dns__job_free(j);
    }
    free(dns);
}

int hd_dns_submit(hd_dns *dns, const char *name, uint16_t type, hd_dns_cb cb,
                  void *arg, hd_err *err)
{
    if (dns == NULL || name == NULL || cb == NULL)
        return hd_err_set(err, HD_EINVAL, "dns: submit needs a resolver, a name and a callback");
    char why[160];
    hd_slice n;
    if (!hd_dns__name_check(hd_slice_cstr(name), false, &n, why, sizeof why))
        return hd_err_set(err, HD_EINVAL, "dns: cannot ask for %s: %s",
                          hd_dns_type_name(type), why);
    hd_dns_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return hd_err_set(err, HD_ENOMEM, "dns: out of memory");
    memcpy(job->qname, n.p, n.len);
    job->qname[n.len] = '\0';
    job->qtype = type;
    job->cb = cb;
    job->arg = arg;
    int rc = dns->be->submit(dns, job, err);
    if (rc != 0) {
        free(job);
        return rc;
    }
    dns->pending++;
    return 0;
}

int hd_dns_fd(const hd_dns *dns)
{
    return dns->be->fd(dns);
}

long hd_dns_next_timeout_ms(const hd_dns *dns, uint64_t now_ms)
{
    if (dns->ready_head != NULL)
        return 0; /* answers are waiting to be delivered */
    return dns->be->next_timeout_ms(dns, now_ms);
}

size_t hd_dns_pending(const hd_dns *dns)
{
    return dns->pending;
}

/* Hand the answer to its callback; an answer lost to memory exhaustion
 * still reaches the caller as HD_DNS_ERROR when a blank one can be made. */
static void deliver(hd_dns *dns, hd_dns_job *job)
{
    hd_dns_answer *ans = job->ans;
    job->ans = NULL;
    if (ans == NULL) {
        ans = hd_dns__answer_new(job->qname, job->qtype);
        if (ans != NULL)
            hd_dns__answer_status(ans, HD_DNS_ERROR, -1, "out of memory");
    }
    hd_dns_cb cb = job->cb;
    void *arg = job->arg;
    free(job);
    dns->pending--;
    if (ans != NULL)
        cb(arg, ans);
}

int hd_dns_process(hd_dns *dns, uint64_t now_ms)
{
    hd_err err;
    hd_err_clear(&err);
    int rc = dns->be->process(dns, now_ms, &err);
    if (rc < 0)
        return rc;
    /* Deliver what is ready now; questions a callback asks are answered
     * on a later call, so this never loops without bound. */
    hd_dns_job *last = dns->ready_tail;
    int n = 0;
    while (last != NULL && dns->ready_head != NULL) {
        hd_dns_job *j = dns->ready_head;
        dns->ready_head = j->next;
        if (dns->ready_head == NULL)
            dns->ready_tail = NULL;
        deliver(dns, j);
        n++;
        if (j == last)
            break;
    }
    return n;
}

/* Run the loop until *done is set, or until nothing is pending when done is
 * NULL. */
static int run_until(hd_dns *dns, const bool *done, hd_err *err)
{
    for (;;) {
        uint64_t now = hd_dns_now_ms();
        int rc = hd_dns_process(dns, now);
        if (rc < 0)
            return hd_err_set(err, rc, "dns: %s back end failed", dns->be->name);
        if (done != NULL ? *done : dns->pending == 0)
            return 0;
        if (dns->ready_head != NULL)
            continue;
        if (dns->pending == 0)
            return hd_err_set(err, HD_ESTATE, "dns: waiting for an answer that was never asked");
        rc = dns->be->block(dns, dns->be->next_timeout_ms(dns, hd_dns_now_ms()), err);
        if (rc < 0)
            return rc;
    }
}

int hd_dns_wait(hd_dns *dns, hd_err *err)
{
    return run_until(dns, NULL, err);
}

/* The synchronous query's mailbox. It lives on the heap: if the loop fails
 * while the question is still out, the slot is abandoned and the callback,
 * should it ever run, frees the answer and the slot. */
struct sync_slot {
    bool done, abandoned;
    hd_dns_answer *ans;
};

static void sync_cb(void *arg, hd_dns_answer *ans)
{
    struct sync_slot *slot = arg;
    if (slot->abandoned) {
        hd_dns_answer_free(ans);
        free(slot);
        return;
    }
    slot->ans = ans;
    slot->done = true;
}

int hd_dns_query(hd_dns *dns, const char *name, uint16_t type,
                 hd_dns_answer **out, hd_err *err)
{
    *out = NULL;
    struct sync_slot *slot = calloc(1, sizeof *slot);
    if (slot == NULL)
        return hd_err_set(err, HD_ENOMEM, "dns: out of memory");
    int rc = hd_dns_submit(dns, name, type, sync_cb, slot, err);
    if (rc != 0) {
        free(slot);
        return rc;
    }
    rc = run_until(dns, &slot->done, err);
    if (rc != 0) {
        slot->abandoned = true;
        return rc;
    }
    *out = slot->ans;
    free(slot);
    return 0;
}

uint64_t hd_dns_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
