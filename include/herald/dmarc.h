/*
 * herald/dmarc.h - DMARC (RFC 9989; RFC 7489 behaviour selectable).
 *
 * Policy discovery and the Organizational Domains for relaxed alignment
 * come from the RFC 9989 DNS tree walk (at most 8 queries per walk) or,
 * in RFC 7489 mode, from the Public Suffix List (libpsl, offline, with
 * Debian's publicsuffix data). An evaluation is resumable exactly like an
 * SPF one (herald/spf.h): hd_dmarc_step hands out the DNS question it
 * needs, hd_dmarc_answer takes the answer, hd_dmarc_run drives it through
 * an hd_dns. The verdict says which mode and which record name decided,
 * which identifier aligned, the policy to apply, and why.
 */
#ifndef HERALD_DMARC_H
#define HERALD_DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/dns.h>
#include <herald/err.h>

/* Record ------------------------------------------------------------------ */

typedef enum hd_dmarc_policy {
    HD_DMARC_P_UNSET = -1,
    HD_DMARC_P_NONE,
    HD_DMARC_P_QUARANTINE,
    HD_DMARC_P_REJECT,
} hd_dmarc_policy;

const char *hd_dmarc_policy_name(hd_dmarc_policy p); /* "none", ... or "" */

#define HD_DMARC_MAX_PROBLEMS 12
#define HD_DMARC_MAX_URIS 8

typedef struct hd_dmarc_record {
    hd_dmarc_policy p, sp, np;  /* HD_DMARC_P_UNSET when absent or invalid */
    bool p_bad, sp_bad, np_bad; /* present with an invalid value (§4.10.1) */
    char psd;                   /* 'y', 'n' or 'u' (default) */
    bool testing;               /* t=y (RFC 9989 §4.7) */
    bool adkim_strict, aspf_strict;
    int pct;                    /* RFC 7489 pct=, -1 when absent */
    char fo[16];
    char rua[HD_DMARC_MAX_URIS][256];
    size_t nrua;                /* valid rua URIs */
    char ruf[HD_DMARC_MAX_URIS][256];
    size_t nruf;
    /* every problem found, in words: invalid values (ignored, defaults
     * used), obsolete tags (pct, rf, ri), "!size" suffixes, ... */
    char problems[HD_DMARC_MAX_PROBLEMS][160];
    size_t nproblems;
} hd_dmarc_record;

/* Parse a TXT value. 0: a DMARC record (problems may be listed);
 * HD_ESYNTAX: not a DMARC record at all (v=DMARC1 not first), with why. */
int hd_dmarc_record_parse(hd_slice text, hd_dmarc_record *out, hd_err *err);

/* Evaluation --------------------------------------------------------------- */

typedef enum hd_dmarc_mode {
    HD_DMARC_RFC9989, /* DNS tree walk */
    HD_DMARC_RFC7489, /* Public Suffix List, pct */
} hd_dmarc_mode;

typedef enum hd_dmarc_result {
    HD_DMARC_NONE,
    HD_DMARC_PASS,
    HD_DMARC_FAIL,
    HD_DMARC_TEMPERROR,
    HD_DMARC_PERMERROR,
} hd_dmarc_result;

const char *hd_dmarc_result_name(hd_dmarc_result r);

/* The Public Suffix List for RFC 7489 mode (libpsl). */
typedef struct hd_dmarc_psl hd_dmarc_psl;
/* path NULL: the system's list (Debian's publicsuffix package). */
int hd_dmarc_psl_load(const char *path, hd_dmarc_psl **out, hd_err *err);
void hd_dmarc_psl_free(hd_dmarc_psl *psl);
/* The registrable ("organizational") domain of domain under the list,
 * written to out; a public suffix is its own. */
int hd_dmarc_psl_org(const hd_dmarc_psl *psl, const char *domain, char *out, size_t len);

#define HD_DMARC_MAX_DKIM 16

typedef struct hd_dmarc_request {
    const char *from_domain;      /* RFC5322.From domain */
    const char *spf_domain;       /* MAIL FROM domain (or HELO when MAIL FROM was empty) */
    bool spf_pass;                /* SPF said pass for spf_domain */
    bool spf_temperror;           /* SPF said temperror for spf_domain */
    const char *dkim_domains[HD_DMARC_MAX_DKIM]; /* d= of DKIM signatures that passed */
    size_t ndkim;
    /* d= of DKIM signatures whose check ended in temperror (the key lookup
     * failed temporarily). With no aligned pass, a temperror for an
     * identifier that would align makes the result temperror and no
     * policy applies (RFC 9989 §5.3.6, RFC 7489 §6.6.2); one that cannot
     * align changes nothing. */
    const char *dkim_temp_domains[HD_DMARC_MAX_DKIM];
    size_t ndkim_temp;
    hd_dmarc_mode mode;
    const hd_dmarc_psl *psl;      /* required in RFC 7489 mode (borrowed) */
    unsigned pct_roll;            /* RFC 7489 pct sampling: a number in 0..99 */
    int64_t now;                  /* for the cache */
} hd_dmarc_request;

typedef struct hd_dmarc_verdict {
    hd_dmarc_result result;
    hd_dmarc_mode mode;
    char from_domain[256];
    char record_domain[256];      /* where the applied record was found ("" if none) */
    char org_domain[256];         /* Organizational Domain of the From domain */
    hd_dmarc_record record;       /* the applied record */
    bool have_record;
    const char *policy_tag;       /* "p", "sp" or "np": which tag set the policy */
    hd_dmarc_policy policy;       /* the Domain Owner's requested policy */
    hd_dmarc_policy disposition;  /* what to apply after t=y (9989) or pct (7489); none
                                   * unless the result is fail */
    bool spf_aligned, dkim_aligned;
    char aligned_dkim[256];       /* the d= that aligned */
    bool from_exists;             /* false: NXDOMAIN/NODATA for A, AAAA, MX (np applies) */
    char reason[400];
    unsigned dns_queries;
} hd_dmarc_verdict;

typedef struct hd_dmarc_opts {
    hd_dns_cache *cache;          /* shared answers (borrowed, may be NULL) */
} hd_dmarc_opts;

typedef struct hd_dmarc hd_dmarc; /* opaque: one evaluation */

int hd_dmarc_new(const hd_dmarc_request *req, const hd_dmarc_opts *opts, hd_dmarc **out, hd_err *err);
void hd_dmarc_free(hd_dmarc *d);
int hd_dmarc_step(hd_dmarc *d, const char **qname, uint16_t *qtype, hd_err *err);
int hd_dmarc_answer(hd_dmarc *d, const hd_dns_answer *ans, hd_err *err);
int hd_dmarc_run(hd_dmarc *d, hd_dns *dns, hd_err *err);
const hd_dmarc_verdict *hd_dmarc_get_verdict(const hd_dmarc *d);

/* After hd_dmarc_run: does id (a domain) align with the From domain, under
 * the applied record's adkim= (dkim true) or aspf= (defaults when there is
 * no record), strict or relaxed through the Organizational Domains (RFC
 * 9989 §4.4, §4.10.2; the Public Suffix List in RFC 7489 mode)? The same
 * rule and answers as the evaluation, dns asked for the rest: for
 * identifiers the evaluation was not given, such as those an ARC-
 * Authentication-Results field records (RFC 8617 §7.2). HD_ETEMP when a
 * lookup failed temporarily; *out is false on every error. */
int hd_dmarc_aligned(hd_dmarc *d, hd_dns *dns, const char *id, bool dkim, bool *out, hd_err *err);

/* "dmarc=pass (p=reject dis=none) header.from=example.com policy.dmarc=reject" */
int hd_dmarc_to_ar(const hd_dmarc_verdict *v, hd_buf *out);

/* Policy discovery alone (herald dmarc record): from_domain only. */
int hd_dmarc_discover(const char *domain, hd_dmarc_mode mode, const hd_dmarc_psl *psl, hd_dns *dns,
                      hd_dmarc_verdict *out, hd_err *err);

#endif
