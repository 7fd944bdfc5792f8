/*
 * herald/dns.h - the resolver interface (docs/design.md, "DNS through one
 * interface").
 *
 * Two back ends answer the same questions:
 *   - libunbound: a real resolver, forwarding to a configured server
 *     ("127.0.0.1@5353") or using the system's resolv.conf; caching,
 *     DNSSEC-aware (the secure flag), TTLs;
 *   - the zone-file fixture, for tests and offline CLI use (TIMEOUT and
 *     SERVFAIL pseudo-types simulate failures); its file format is
 *     docs/zone-format.md.
 *
 * Names, asked and answered, are dotted text without escapes: labels joined
 * by '.', every other byte standing for itself (a blank, '%' or '\' is
 * that byte; evaluators pass what SPF macro expansion or a message gave
 * them as it is). A label holding a '.' or a NUL therefore cannot be asked
 * for, and an answer whose record names one is HD_DNS_ERROR in both back
 * ends. libunbound is handed the name with such bytes written as \DDD;
 * the fixture decodes the escapes of its file instead, so "a b.example"
 * finds the owner written "a\032b.example.".
 *
 * Asynchronous use (event loop): hd_dns_submit() a question with a
 * callback; watch hd_dns_fd() for readability (the fixture returns -1: its
 * answers are ready at once), then call hd_dns_process() to run the
 * callbacks of finished queries; call it too when hd_dns_next_timeout_ms()
 * says a query's time is up, so a silent server gives HD_DNS_TIMEOUT.
 * Synchronous use (CLI): hd_dns_query() submits and waits.
 *
 * A callback receives an answer it owns and frees with hd_dns_answer_free().
 * Callbacks run only from hd_dns_process() / hd_dns_wait() / hd_dns_query(),
 * never from hd_dns_submit().
 */
#ifndef HERALD_DNS_H
#define HERALD_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

/* RR types herald asks for (RFC 1035 §3.2.2, RFC 3596). */
enum {
    HD_DNS_T_A = 1,
    HD_DNS_T_NS = 2,
    HD_DNS_T_CNAME = 5,
    HD_DNS_T_PTR = 12,
    HD_DNS_T_MX = 15,
    HD_DNS_T_TXT = 16,
    HD_DNS_T_AAAA = 28,
    /* RFC 7208 §3.1: the SPF type, no longer used (RFC 7208 §14.1). herald
     * never asks for it; the zone fixture holds it, with TXT's layout, so
     * that a name whose only record is of this type exists (NODATA, not
     * NXDOMAIN), as in the openspf suite. */
    HD_DNS_T_SPF = 99,
};

/* What a question came to. Graded as Postfix's DNS statuses are: an
 * evaluator maps OK/NODATA/NXDOMAIN to definite results and
 * SERVFAIL/TIMEOUT/ERROR to temporary ones. */
typedef enum hd_dns_status {
    HD_DNS_OK,       /* NOERROR with >= 1 record of the asked type */
    HD_DNS_NODATA,   /* NOERROR, the name exists, no record of that type */
    HD_DNS_NXDOMAIN, /* RCODE 3: the name does not exist */
    HD_DNS_SERVFAIL, /* RCODE 2 or another error RCODE */
    HD_DNS_TIMEOUT,  /* no answer in time: temporary */
    HD_DNS_ERROR,    /* local failure: bad name, out of memory, resolver error */
} hd_dns_status;

typedef struct hd_dns_rr {
    uint16_t type;
    uint32_t ttl;
    uint8_t addr[16];     /* A: first 4 bytes; AAAA: all 16 */
    uint16_t preference;  /* MX */
    char *name;           /* MX exchange, PTR/CNAME/NS target; no trailing dot */
    uint8_t *txt;         /* TXT: the strings concatenated (RFC 6376
                           * §3.6.2.2, RFC 7208 §3.3), NUL-terminated */
    size_t txt_len;
    size_t txt_strings;   /* how many character-strings were joined */
} hd_dns_rr;

typedef struct hd_dns_answer {
    char *qname;          /* as asked, no trailing dot */
    uint16_t qtype;
    hd_dns_status status;
    int rcode;            /* wire RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN) or -1 */
    char *canonname;      /* target of a CNAME chain, or NULL */
    hd_dns_rr *rr;        /* records of qtype only, in answer order */
    size_t nrr;
    uint32_t ttl;         /* smallest TTL of rr; for NODATA/NXDOMAIN the
                           * negative-caching TTL when known, else 0 */
    bool secure;          /* DNSSEC validated (unbound with trust anchor) */
    bool bogus;           /* DNSSEC validation failed */
    char why[160];        /* for SERVFAIL/TIMEOUT/ERROR: what happened */
} hd_dns_answer;

void hd_dns_answer_free(hd_dns_answer *ans);
const char *hd_dns_status_name(hd_dns_status st);   /* "NXDOMAIN", ... */
const char *hd_dns_type_name(uint16_t type);        /* "TXT", ... or "TYPE99" */

typedef struct hd_dns hd_dns; /* opaque resolver */

typedef struct hd_dns_config {
    const char *server;        /* "ADDR[@PORT]" to forward to; NULL: resolv.conf */
    unsigned timeout_ms;       /* per query; 0: HD_LIMIT_DNS_TIMEOUT_MS */
    const char *trust_anchor;  /* DNSSEC trust anchor file, or NULL */
} hd_dns_config;

/* libunbound back end. */
int hd_dns_new_unbound(hd_dns **out, const hd_dns_config *cfg, hd_err *err);
/* Zone-file fixture back end from a file, or from text (source names the
 * text in error messages, e.g. "<fuzz>"). A syntax error is HD_ESYNTAX with
 * "FILE:LINE: reason". */
int hd_dns_new_zone_file(hd_dns **out, const char *path, hd_err *err);
int hd_dns_new_zone_text(hd_dns **out, hd_slice text, const char *source, hd_err *err);
/* Cancels outstanding queries without running their callbacks. */
void hd_dns_free(hd_dns *dns);

typedef void (*hd_dns_cb)(void *arg, hd_dns_answer *ans);

/* Ask name/type; cb(arg, answer) runs later from hd_dns_process(). */
int hd_dns_submit(hd_dns *dns, const char *name, uint16_t type,
                  hd_dns_cb cb, void *arg, hd_err *err);
/* Descriptor to watch for readability, or -1 when none is needed. */
int hd_dns_fd(const hd_dns *dns);
/* Milliseconds until the earliest outstanding query times out, given the
 * monotonic time now_ms; -1 when nothing is outstanding. */
long hd_dns_next_timeout_ms(const hd_dns *dns, uint64_t now_ms);
/* Run callbacks of finished queries and time out expired ones; never
 * blocks. Returns the number of callbacks run, or a negative HD_E*. */
int hd_dns_process(hd_dns *dns, uint64_t now_ms);
/* Queries submitted whose callbacks have not yet run. */
size_t hd_dns_pending(const hd_dns *dns);
/* Block until every submitted query's callback has run. */
int hd_dns_wait(hd_dns *dns, hd_err *err);
/* Synchronous: submit, wait, hand over the answer (*out owned by caller). */
int hd_dns_query(hd_dns *dns, const char *name, uint16_t type,
                 hd_dns_answer **out, hd_err *err);

/* Answer cache ------------------------------------------------------------
 *
 * Shared by evaluations that ask the same questions again and again (SPF
 * include trees, DKIM keys): answers are kept for their TTL (capped at
 * max_ttl), negative ones (NXDOMAIN, NODATA) for their TTL or, when it is
 * 0, for neg_ttl; temporary failures are never kept. At most max_entries
 * answers; when full, the cache is emptied (a simple bound, never a
 * growing one). For one thread.
 */
typedef struct hd_dns_cache hd_dns_cache;

hd_dns_cache *hd_dns_cache_new(size_t max_entries, uint32_t max_ttl, uint32_t neg_ttl);
void hd_dns_cache_free(hd_dns_cache *cache);
/* The answer to name/type still fresh at now (Unix seconds), or NULL.
 * Borrowed: valid until the next hd_dns_cache_put or _free. */
const hd_dns_answer *hd_dns_cache_get(hd_dns_cache *cache, const char *name, uint16_t type,
                                      int64_t now);
/* Keep a copy of ans (keyed by its qname and qtype). */
int hd_dns_cache_put(hd_dns_cache *cache, const hd_dns_answer *ans, int64_t now);
/* A deep copy of an answer, or NULL. */
hd_dns_answer *hd_dns_answer_dup(const hd_dns_answer *ans);

/* Memo of one evaluation -----------------------------------------------------
 *
 * The answers an evaluation (SPF, DMARC) has been given, so it can replay
 * its earlier questions after each new answer and get the same answers
 * again even if the shared cache has moved on. hd_dns_memo_get asks the
 * memo, then the cache (may be NULL); hd_dns_memo_put keeps a copy keyed
 * by the question as asked (a resolver may answer in another case) and
 * offers it to the cache.
 */
typedef struct hd_dns_memo hd_dns_memo;

hd_dns_memo *hd_dns_memo_new(void);
void hd_dns_memo_free(hd_dns_memo *memo);
const hd_dns_answer *hd_dns_memo_get(const hd_dns_memo *memo, hd_dns_cache *cache,
                                     const char *name, uint16_t type, int64_t now);
int hd_dns_memo_put(hd_dns_memo *memo, hd_dns_cache *cache, const char *name, uint16_t type,
                    const hd_dns_answer *ans, int64_t now);

/* Ask the n TXT/other questions names[] concurrently and wait for all;
 * answers[i] (owned by the caller) is set for each. On failure the
 * questions still out are abandoned safely (their answers freed when
 * they come). */
int hd_dns_query_all(hd_dns *dns, const char *const *names, size_t n, uint16_t type,
                     hd_dns_answer **answers, hd_err *err);

/* Milliseconds on CLOCK_MONOTONIC, for callers that drive the resolver. */
uint64_t hd_dns_now_ms(void);

/* The version of the libunbound the program runs with ("1.17.1"). */
const char *hd_dns_unbound_version(void);

#endif
