/*
 * herald/arc.h - Authenticated Received Chain (RFC 8617): validating the
 * chain of ARC sets on a message, and sealing a message as an
 * intermediary.
 *
 * ARC is a DKIM variant (as rspamd models it): an ARC-Message-Signature
 * (AMS) is a DKIM-Signature without v= and with i= the instance; an
 * ARC-Seal (AS) signs the ARC sets themselves (RFC 8617 §5.1.1). The
 * module reuses DKIM's canonicalization, header selection, key records
 * and key cache, and hd_key for the cryptography.
 *
 * Validation never does I/O (docs/style.md rule 8), like DKIM verification:
 * hd_arc_verify_start() parses and hashes, hd_arc_verify_query() lists the
 * key records needed, hd_arc_verify_answer() takes each TXT answer, and
 * hd_arc_verify_finish() gives the verdict. hd_arc_verify_run() drives it
 * synchronously through an hd_dns resolver.
 *
 * Input may have CRLF or bare-LF line ends. The message bytes are borrowed
 * for the duration of a call only.
 */
#ifndef HERALD_ARC_H
#define HERALD_ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/dkim.h>
#include <herald/dns.h>
#include <herald/err.h>
#include <herald/key.h>

/* RFC 8617 §4.2.1: instance values range over 1..50; a message with more
 * ARC sets fails validation (§5.2 step 1) and is never sealed again. */
#define HD_ARC_MAX_INSTANCE 50
/* Bytes of one AAR payload kept for reporting (the rest is cut). */
#define HD_ARC_AAR_KEPT_BYTES 4096

/* Chain Validation Status (RFC 8617 §4.4). */
typedef enum hd_arc_cv {
    HD_ARC_NONE,
    HD_ARC_PASS,
    HD_ARC_FAIL,
} hd_arc_cv;

const char *hd_arc_cv_name(hd_arc_cv cv); /* "none", "pass", "fail" */

/* What one ARC set says (for `herald verify --explain`): who sealed it,
 * what that ADMD had found (the AAR), and what became of its signatures. */
typedef struct hd_arc_set_info {
    unsigned instance;           /* i= */
    char ams_domain[254];        /* AMS d= ("" if unreadable) */
    char ams_selector[254];      /* AMS s= */
    char ams_algorithm[24];      /* AMS a= */
    char as_domain[254];         /* AS d= */
    char as_selector[254];       /* AS s= */
    char as_algorithm[24];       /* AS a= */
    hd_arc_cv seal_cv;           /* the AS cv= as written */
    int64_t as_timestamp;        /* AS t=, -1 if absent */
    char authserv_id[256];       /* AAR authserv-id */
    char *aar;                   /* AAR payload after "i=N;", unfolded
                                  * (whitespace runs made one space);
                                  * owned by the verifier, NUL-terminated */
    bool ams_checked;            /* the AMS was verified (or tried) */
    bool ams_ok;                 /* ... and it verified */
    char ams_reason[256];        /* why not, or "verified" */
    bool as_checked, as_ok;
    char as_reason[256];
} hd_arc_set_info;

typedef struct hd_arc_result {
    hd_arc_cv cv;
    size_t nsets;                /* N: the highest instance when the
                                  * structure is sound, else 0 */
    unsigned max_instance;       /* highest instance seen (even in a
                                  * broken chain); a sealer adds this + 1 */
    bool latest_seal_fail;       /* the highest AS says cv=fail: a sealer
                                  * must not add a set (§5.1 step 2) */
    unsigned failed_instance;    /* the set that failed, 0 when none or
                                  * the chain as a whole */
    unsigned oldest_pass;        /* RFC 8617 §5.2 step 5: the lowest
                                  * instance whose AMS still verifies; 0
                                  * when every AMS verifies (or cv!=pass) */
    char reason[256];            /* plain words: why this cv */
} hd_arc_result;

/* Validation --------------------------------------------------------------- */

typedef struct hd_arc_verify_opts {
    int64_t now;               /* Unix time; t= beyond now + clock_skew fails */
    int64_t clock_skew;        /* default 86400 */
    unsigned min_rsa_bits;     /* 0: HD_LIMIT_DKIM_RSA_MIN_BITS */
    hd_dkim_keycache *cache;   /* borrowed, may be NULL (shared with DKIM) */
    size_t max_message_bytes;  /* 0: HD_LIMIT_MESSAGE_BYTES */
    /* A DKIM verifier already started on the very same message bytes
     * (borrowed, may be NULL): an AMS whose body canonicalization matches
     * one of its signatures reuses that body hash instead of hashing the
     * body again. Never give one started on another message. */
    const hd_dkim_verifier *same_message_dkim;
} hd_arc_verify_opts;

void hd_arc_verify_opts_init(hd_arc_verify_opts *opts, int64_t now);

typedef struct hd_arc_verifier hd_arc_verifier; /* opaque */

int hd_arc_verifier_new(const hd_arc_verify_opts *opts, hd_arc_verifier **out, hd_err *err);
void hd_arc_verifier_free(hd_arc_verifier *v);

/* Parse msg, check the chain's structure and hash every AMS and AS. A
 * malformed chain is a verdict (cv=fail), not an error; a message that
 * cannot be parsed at all is HD_ESYNTAX. */
int hd_arc_verify_start(hd_arc_verifier *v, hd_slice msg, hd_err *err);
size_t hd_arc_verify_nqueries(const hd_arc_verifier *v);
const char *hd_arc_verify_query(const hd_arc_verifier *v, size_t i); /* TXT name */
int hd_arc_verify_answer(hd_arc_verifier *v, size_t i, const hd_dns_answer *ans, hd_err *err);
/* Complete the verdict (an unanswered query is a failure: RFC 8617 §5.2.1
 * makes every ARC error permanent). */
int hd_arc_verify_finish(hd_arc_verifier *v, hd_err *err);
int hd_arc_verify_run(hd_arc_verifier *v, hd_slice msg, hd_dns *dns, hd_err *err);

const hd_arc_result *hd_arc_verify_result(const hd_arc_verifier *v);
/* The sets found, by instance: set i (0-based) has instance i + 1. Only
 * present when the structure is sound (result nsets > 0). */
size_t hd_arc_verify_nsets(const hd_arc_verifier *v);
const hd_arc_set_info *hd_arc_verify_set(const hd_arc_verifier *v, size_t i);

/* The Authentication-Results method fragment (RFC 8617 §6), e.g.
 * "arc=pass (i=2) header.oldest-pass=0", appended to out. */
int hd_arc_result_to_ar(const hd_arc_result *r, hd_buf *out);

/* Sealing ------------------------------------------------------------------ */

typedef struct hd_arc_seal_opts {
    const char *domain;        /* d= of AMS and AS */
    const char *selector;      /* s= */
    /* Colon-separated names for the AMS h= (RFC 8617 §4.1.2: no ARC
     * fields, no Authentication-Results); NULL: From, To, Cc, Subject,
     * Date, Message-ID, Reply-To, the MIME fields and DKIM-Signature as
     * the message has them. Must include From. */
    const char *headers;
    int64_t timestamp;         /* t=, or -1 for none */
} hd_arc_seal_opts;

void hd_arc_seal_opts_init(hd_arc_seal_opts *opts);

typedef struct hd_arc_sealer hd_arc_sealer; /* opaque; borrows the key */

int hd_arc_sealer_new(const hd_arc_seal_opts *opts, hd_key *key, hd_arc_sealer **out,
                      hd_err *err);
void hd_arc_sealer_free(hd_arc_sealer *s);

/* Seal msg (CRLF or LF) as the next custodian. chain is this host's
 * validation of the message's existing chain (its cv becomes the AS cv=,
 * its max_instance + 1 the new instance); authres is this ADMD's
 * assessment, the AAR payload "authserv-id; method=result ..." on one
 * line (no CR or LF; results separated by ';' are folded one a line).
 * Appends "ARC-Seal: ...\r\nARC-Message-Signature: ...\r\n
 * ARC-Authentication-Results: ...\r\n" to out, to be put on top of the
 * message as it is. When the chain's latest seal already says cv=fail
 * nothing is appended and 0 is returned (RFC 8617 §5.1 step 2); a chain
 * at the instance limit is HD_ELIMIT. */
int hd_arc_seal(hd_arc_sealer *s, hd_slice msg, const hd_arc_result *chain, const char *authres,
                hd_buf *out, hd_err *err);

#endif
