/*
 * herald/spf.h - SPF: check_host() of RFC 7208, asynchronous.
 *
 * An evaluation is a resumable state machine (docs/style.md rule 8): hd_spf_step()
 * runs until it needs a DNS answer, and says which question; the caller
 * gets the answer by any means (the daemon from its event loop, the CLI
 * synchronously) and hands it to hd_spf_answer(); hd_spf_step() goes on
 * from there. hd_spf_run() drives it all synchronously through an hd_dns.
 * No evaluation ever blocks, and none does more DNS work than the RFC's
 * limits allow (10 DNS-querying terms, 2 void lookups, 10 MX and 10 PTR
 * names).
 */
#ifndef HERALD_SPF_H
#define HERALD_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/dns.h>
#include <herald/err.h>

/* RFC 7208 §2.6 results. */
typedef enum hd_spf_result {
    HD_SPF_NONE,
    HD_SPF_NEUTRAL,
    HD_SPF_PASS,
    HD_SPF_FAIL,
    HD_SPF_SOFTFAIL,
    HD_SPF_TEMPERROR,
    HD_SPF_PERMERROR,
} hd_spf_result;

const char *hd_spf_result_name(hd_spf_result r); /* "pass", ... */

typedef struct hd_spf_request {
    const char *ip;        /* the client's address: IPv4, IPv6 or IPv4-mapped IPv6 */
    const char *sender;    /* MAIL FROM address; "" or NULL for the null reverse-path */
    const char *helo;      /* HELO/EHLO name (may be NULL) */
    bool check_helo;       /* check the HELO identity instead of MAIL FROM */
    const char *receiver;  /* this host's name, for %{r} in explanations; NULL: "unknown" */
    int64_t now;           /* Unix time for %{t} */
} hd_spf_request;

/* Trace: one line per event (term evaluated, DNS question and answer,
 * limits), for --trace. */
typedef void (*hd_spf_trace_fn)(void *arg, int depth, const char *line);

/* A cache of parsed records shared by evaluations (one thread), so the
 * records of a busy include tree are parsed once, not per message. */
typedef struct hd_spf_records hd_spf_records;

hd_spf_records *hd_spf_records_new(size_t max_entries);
void hd_spf_records_free(hd_spf_records *records);

typedef struct hd_spf_opts {
    unsigned max_dns_terms;   /* 0: 10 (RFC 7208 §4.6.4) */
    unsigned max_void;        /* 0: 2 */
    unsigned max_mx_names;    /* 0: 10 */
    unsigned max_ptr_names;   /* 0: 10 */
    hd_spf_trace_fn trace;
    void *trace_arg;
    hd_dns_cache *cache;      /* shared answers (borrowed, may be NULL): asked
                               * before a question is handed out, fed with
                               * every answer handed in */
    hd_spf_records *records;  /* parsed records (borrowed, may be NULL) */
} hd_spf_opts;

typedef struct hd_spf_verdict {
    hd_spf_result result;
    const char *identity;      /* "mailfrom" or "helo" */
    char domain[256];          /* the domain checked first */
    char sender[512];          /* the identity's address (postmaster@helo when MAIL FROM is empty) */
    char mechanism[300];       /* the term that decided, e.g. "-all", "include:_spf.example.net", or
                                * "default" (no term matched), "" */
    char explanation[512];     /* on fail: the exp= text, or the default */
    char reason[300];          /* human: why this result (for errors: which term and where) */
    unsigned dns_lookups;      /* DNS-querying terms evaluated */
    unsigned void_lookups;
} hd_spf_verdict;

typedef struct hd_spf hd_spf; /* opaque: one evaluation */

/* Start an evaluation; the request's strings are copied. A request that
 * cannot be evaluated at all (no IP, a bad IP) is HD_EINVAL. */
int hd_spf_new(const hd_spf_request *req, const hd_spf_opts *opts, hd_spf **out, hd_err *err);
void hd_spf_free(hd_spf *spf);

/* Run until done (returns 0 and *qname NULL) or until a DNS answer is
 * needed (returns 0, *qname and *qtype set, borrowed until the next call). */
int hd_spf_step(hd_spf *spf, const char **qname, uint16_t *qtype, hd_err *err);
/* The answer to the question step asked (borrowed). */
int hd_spf_answer(hd_spf *spf, const hd_dns_answer *ans, hd_err *err);
/* Synchronous: step and answer through dns until done. */
int hd_spf_run(hd_spf *spf, hd_dns *dns, hd_err *err);

const hd_spf_verdict *hd_spf_get_verdict(const hd_spf *spf);

/* Received-SPF field (RFC 7208 §9.1), "Received-SPF: pass (...) key=value;...",
 * without CRLF, appended to out. */
int hd_spf_received_spf(const hd_spf *spf, hd_buf *out);
/* Authentication-Results fragment "spf=pass smtp.mailfrom=..." (RFC 8601). */
int hd_spf_to_ar(const hd_spf *spf, hd_buf *out);

/* Record parsing and macro expansion, exposed for the fuzzers and tests. */
/* Check an SPF record's syntax (text after selecting it); HD_ESYNTAX with
 * "at offset N: term: reason". */
int hd_spf_record_check(hd_slice record, hd_err *err);

typedef struct hd_spf_macro_ctx {
    const char *sender;     /* full address: local@domain */
    const char *domain;     /* current domain (d) */
    const char *ip;         /* client IP, readable (c) */
    const char *ip_dotted;  /* client IP for i: dotted IPv4, or 32 dotted nibbles for IPv6 */
    bool is_v6;             /* v: "ip6" rather than "in-addr" */
    const char *helo;
    const char *receiver;
    const char *validated;  /* p: validated name, or "unknown" */
    int64_t now;
    bool exp;               /* c, r, t allowed (explanation strings) */
} hd_spf_macro_ctx;

/* Expand a macro-string (RFC 7208 §7) into out. HD_ESYNTAX on a bad
 * macro, with its position. */
int hd_spf_macro_expand(hd_slice in, const hd_spf_macro_ctx *ctx, hd_buf *out, hd_err *err);

#endif
