/*
 * herald/verdict.h - a receiver's whole verdict on one message: SPF for
 * the connection, every DKIM signature, ARC, and DMARC for the From
 * domain, with what can be made of them: the Authentication-Results
 * field, every result as JSON, and a diagnosis in plain words.
 *
 * This is what `herald verify` prints and what the sandbox server
 * records for each message it delivers. A pure function of its inputs:
 * no printing, no clock (the time is given), no global state; the DNS
 * comes through the hd_dns given (a zone fixture in tests and the
 * sandbox), driven synchronously.
 *
 * DMARC weighs the SPF and DKIM passes and, when nothing aligned passed,
 * their temperrors (hd_dmarc_request): an aligned identifier whose check
 * failed temporarily makes DMARC temperror, with no disposition.
 *
 * Evaluation errors of SPF, ARC and DMARC do not stop the verdict: that
 * part is left out (its accessor returns NULL) and the error is kept as
 * a problem (hd_verdict_problem). A message that cannot be read (header
 * syntax, limits, no usable From field) or whose DKIM signatures cannot
 * be processed at all is an error of hd_verdict_run.
 */
#ifndef HERALD_VERDICT_H
#define HERALD_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/arc.h>
#include <herald/buf.h>
#include <herald/dkim.h>
#include <herald/dmarc.h>
#include <herald/dns.h>
#include <herald/err.h>
#include <herald/spf.h>

typedef struct hd_verdict_request {
    const char *ip;          /* connecting client's IP literal; NULL or "": no SPF */
    const char *helo;        /* HELO/EHLO name, or NULL */
    const char *mail_from;   /* envelope sender ("" = null sender); NULL: no SPF */
    bool facts_from_message; /* ip, helo or mail_from were read from the message
                              * (hd_verdict_facts_from_message): said in the
                              * explanation and the JSON */
    int64_t now;             /* Unix time: DKIM t=/x=, ARC t=, caches, RFC 7489 pct */
    bool rfc7489;            /* DMARC in RFC 7489 mode (needs psl) */
    const hd_dmarc_psl *psl; /* borrowed; required when rfc7489 */
    hd_dns_cache *cache;     /* borrowed, or NULL: one for this run only (SPF and
                              * DMARC share it) */
    hd_dkim_keycache *keys;  /* borrowed, or NULL: parsed DKIM and ARC keys */
    bool arc;                /* validate the ARC chain too */
} hd_verdict_request;

typedef struct hd_verdict hd_verdict; /* opaque; owns every result */

/* Judge msg (CRLF or bare-LF line ends; borrowed for the call only).
 * Errors: HD_ESYNTAX or HD_ELIMIT for a message whose header cannot be
 * parsed, which has no From field ("the message has no From field: DMARC
 * needs one") or an unparseable one ("From field (line N): ..."); a DKIM
 * failure to process the message ("DKIM: ..."); HD_EINVAL for a request
 * in RFC 7489 mode without a psl; HD_ENOMEM. On error *out is NULL. */
int hd_verdict_run(const hd_verdict_request *req, hd_slice msg, hd_dns *dns, hd_verdict **out,
                   hd_err *err);
void hd_verdict_free(hd_verdict *v);

/* The parts; NULL when not evaluated (no ip or mail_from for SPF, ARC not
 * asked for, no From domain) or when their evaluation failed. */
const hd_spf_verdict *hd_verdict_spf(const hd_verdict *v);
size_t hd_verdict_dkim_count(const hd_verdict *v);
const hd_dkim_result *hd_verdict_dkim(const hd_verdict *v, size_t i); /* header order */
const hd_arc_result *hd_verdict_arc(const hd_verdict *v);
const hd_dmarc_verdict *hd_verdict_dmarc(const hd_verdict *v);
/* The RFC5322.From domain ("" when the address has none). */
const char *hd_verdict_from_domain(const hd_verdict *v);

/* Evaluation errors that left a part out, in order, e.g. "SPF: \"x\" is
 * not an IP address" (borrowed from v). */
size_t hd_verdict_nproblems(const hd_verdict *v);
const char *hd_verdict_problem(const hd_verdict *v, size_t i);

/* The complete Authentication-Results field (RFC 8601), "Authentication-
 * Results: <authserv>;" then one result per line (folded, CRLF line ends)
 * and a final CRLF, ready to put on top of the message, appended to out:
 * spf (when evaluated), every DKIM signature ("dkim=none" when there is
 * none), dmarc, and arc when the message has a chain. HD_EINVAL for a bad
 * authserv-id. */
int hd_verdict_ar(const hd_verdict *v, const char *authserv, hd_buf *out, hd_err *err);

/* Every result as one compact JSON object on one line (no line end),
 * appended to out: from_domain, connection {ip, helo, mail_from,
 * from_message}, spf, dkim [...], dmarc, arc (when evaluated; its vouches
 * is what the oldest ARC-Authentication-Results of a passing chain records
 * that DMARC could use, {method: "dkim"|"spf"|"dmarc", domain}, or null:
 * an aligned DKIM or SPF pass, or dmarc=pass for the From domain); when
 * authserv is not NULL, authentication_results (the field of
 * hd_verdict_ar without its final CRLF); when explain is true,
 * explanation (the text of hd_verdict_explain). Parts not evaluated are
 * null. Bytes that are not UTF-8 (from the message or the DNS) become
 * '?'. */
int hd_verdict_json(const hd_verdict *v, const char *authserv, bool explain, hd_buf *out,
                    hd_err *err);

/* The diagnosis in plain words (hd_explain), one paragraph per finding,
 * each ending in "\n", appended to out. */
int hd_verdict_explain(const hd_verdict *v, hd_buf *out, hd_err *err);

/* What the message says about how it arrived, for a caller that was not
 * told: the client in the topmost Received field ("from HELO (... [IP])")
 * and the envelope sender in the Return-Path. Empty ("") with have_* false
 * when absent; have_mail_from is true whenever there is a Return-Path
 * field, mail_from then holding what is inside its <...> (a field without
 * them gives ""). Errors are the header's (HD_ESYNTAX, HD_ELIMIT,
 * HD_ENOMEM). */
typedef struct hd_verdict_facts {
    char ip[64];
    char helo[256];
    char mail_from[512];
    bool have_ip, have_helo, have_mail_from;
} hd_verdict_facts;

int hd_verdict_facts_from_message(hd_slice msg, hd_verdict_facts *out, hd_err *err);

#endif
