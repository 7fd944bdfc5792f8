/*
 * dns_int.h - what the dns module's files share and nobody else sees: the
 * back-end vtable, the job that carries one question from submit to its
 * callback, and helpers for building answers.
 *
 * Flow: hd_dns_submit() validates the name, makes a job and hands it to the
 * back end. When the back end knows the answer (at once for the zone
 * fixture, from ub_process() or a timeout for libunbound) it calls
 * hd_dns__complete(), which appends the job to the ready queue. Callbacks
 * run only when dns.c drains that queue in hd_dns_process(), so never from
 * submit.
 */
#ifndef HERALD_DNS_INT_H
#define HERALD_DNS_INT_H

#include <herald/dns.h>
#include <herald/limits.h>

/* Room for a name in text form without the trailing dot, plus NUL. */
#define HD_DNS_NAME_BUF (HD_LIMIT_DNS_NAME + 1)

/* One question in flight. Owned by dns.c; a back end borrows it from
 * submit until it passes it to hd_dns__complete() (or is freed). */
typedef struct hd_dns_job {
    struct hd_dns_job *next; /* ready queue link */
    hd_dns_cb cb;
    void *arg;
    uint16_t qtype;
    hd_dns_answer *ans;      /* set by hd_dns__complete */
    char qname[HD_DNS_NAME_BUF]; /* validated, no trailing dot, case as asked */
} hd_dns_job;

typedef struct hd_dns_backend {
    const char *name;
    /* Start answering job; 0, or an error (the job is then not queued). */
    int (*submit)(hd_dns *dns, hd_dns_job *job, hd_err *err);
    int (*fd)(const hd_dns *dns);
    long (*next_timeout_ms)(const hd_dns *dns, uint64_t now_ms);
    /* Complete what has finished or expired; never blocks. */
    int (*process)(hd_dns *dns, uint64_t now_ms, hd_err *err);
    /* Wait up to timeout_ms (-1: indefinitely) for something to process. */
    int (*block)(hd_dns *dns, long timeout_ms, hd_err *err);
    /* Cancel outstanding jobs (their callbacks never run) and free impl. */
    void (*free)(void *impl);
} hd_dns_backend;

/* A new resolver object around a back end; takes impl. */
int hd_dns__new(hd_dns **out, const hd_dns_backend *be, void *impl, hd_err *err);
void *hd_dns__impl(const hd_dns *dns);
/* Queue the finished job with its answer (ans taken; NULL means out of
 * memory and is delivered as an HD_DNS_ERROR answer if possible). */
void hd_dns__complete(hd_dns *dns, hd_dns_job *job, hd_dns_answer *ans);
/* Forget a job that will never complete (back end teardown). */
void hd_dns__job_free(hd_dns_job *job);

/* A blank answer for qname/qtype (status ERROR, rcode -1), or NULL. */
hd_dns_answer *hd_dns__answer_new(const char *qname, uint16_t qtype);
/* Set status, rcode and a printf-style why. */
void hd_dns__answer_status(hd_dns_answer *ans, hd_dns_status st, int rcode,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Check a domain name in text form (dns.h: no escapes, so characters are
 * octets; RFC 1035 §2.3.4: labels 1..63 octets, at most 253 octets without
 * the trailing dot; one trailing dot allowed).
 * On success returns true and sets *out to the name without the trailing
 * dot; otherwise writes the reason to why. The root ("." or "") is refused
 * unless allow_root. */
bool hd_dns__name_check(hd_slice name, bool allow_root, hd_slice *out,
                        char *why, size_t whylen);

/* Append one label of a wire-form name to text, a name in dotted text
 * (dns.h) of *n octets in a buffer of HD_DNS_NAME_BUF, with a '.' before it
 * unless text is empty. 0; HD_ELIMIT when the name would pass
 * HD_LIMIT_DNS_NAME octets; HD_ESYNTAX when the label holds a '.' or a
 * NUL, which dotted text cannot carry. Both back ends turn the names of
 * their answers into text through it, so they refuse the same names. */
int hd_dns__text_add_label(char *text, size_t *n, const uint8_t *label, size_t len);

#endif
