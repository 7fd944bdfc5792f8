/*
 * herald/dkim.h - DKIM signing and verification (RFC 6376, RFC 8301 for
 * the algorithms and key sizes, RFC 8463 for Ed25519).
 *
 * Signing: an hd_dkim_signer holds the domain, selector, options and one
 * key; hd_dkim_sign() returns the DKIM-Signature field to put on top of
 * the message. Several signers (RSA and Ed25519) sign one message by
 * calling each in turn on the same unsigned bytes.
 *
 * Verification never does I/O (docs/style.md rule 8): hd_dkim_verify_start() parses
 * the message and hashes the bodies, then the verifier lists the key
 * records it needs (hd_dkim_verify_query()); the caller fetches each TXT
 * record by any means and hands the answer back
 * (hd_dkim_verify_answer()); hd_dkim_verify_finish() completes the
 * results. hd_dkim_verify_run() drives it all synchronously through an
 * hd_dns resolver. A key cache may be shared by many verifications.
 *
 * Input may have CRLF or bare-LF line ends: both give the same hashes.
 * The message bytes are borrowed for the duration of a call only (the
 * verifier copies what it keeps).
 */
#ifndef HERALD_DKIM_H
#define HERALD_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/dns.h>
#include <herald/err.h>
#include <herald/key.h>

typedef enum hd_dkim_canon {
    HD_DKIM_SIMPLE,
    HD_DKIM_RELAXED,
} hd_dkim_canon;

/* Signing ----------------------------------------------------------------- */

typedef struct hd_dkim_sign_opts {
    const char *domain;      /* d= */
    const char *selector;    /* s= */
    hd_dkim_canon header_canon; /* default relaxed */
    hd_dkim_canon body_canon;   /* default relaxed */
    /* Colon-separated header names to sign, exactly as listed (repeat a
     * name to over-sign it); NULL: the default set, RFC 6376 §5.4.1, with
     * From, To, Cc, Subject, Date, Reply-To, Message-ID and the MIME
     * fields over-signed, so one added in transit breaks the signature. */
    const char *headers;
    const char *identity;    /* i=, or NULL */
    int64_t timestamp;       /* t=, or -1 for none */
    int64_t expire_after;    /* x = t + expire_after seconds, or -1 for none */
} hd_dkim_sign_opts;

void hd_dkim_sign_opts_init(hd_dkim_sign_opts *opts);

typedef struct hd_dkim_signer hd_dkim_signer; /* opaque */

/* The signer borrows key (which must outlive it) and copies opts. Checks
 * the options: domain and selector syntax, the identity within the
 * domain, From in the header list. */
int hd_dkim_signer_new(const hd_dkim_sign_opts *opts, hd_key *key,
                       hd_dkim_signer **out, hd_err *err);
void hd_dkim_signer_free(hd_dkim_signer *signer);

/* Sign msg (unsigned bytes; CRLF or LF). The DKIM-Signature field,
 * folded, with CRLF line ends and a final CRLF, is appended to out. A
 * message without a From field cannot be signed (HD_EINVAL). */
int hd_dkim_sign(hd_dkim_signer *signer, hd_slice msg, hd_buf *out, hd_err *err);

/* Several signatures over the same message (dual RSA + Ed25519 signing,
 * RFC 8463 §6): the message is parsed once and the body hashed once per
 * body canonicalization. The fields are appended in the signers' order. */
int hd_dkim_sign_all(hd_dkim_signer *const *signers, size_t n, hd_slice msg, hd_buf *out,
                     hd_err *err);

/* Verification ------------------------------------------------------------ */

/* RFC 8601 §2.7.1 result values. */
typedef enum hd_dkim_result_code {
    HD_DKIM_NONE,
    HD_DKIM_PASS,
    HD_DKIM_FAIL,
    HD_DKIM_POLICY,
    HD_DKIM_NEUTRAL,
    HD_DKIM_TEMPERROR,
    HD_DKIM_PERMERROR,
} hd_dkim_result_code;

const char *hd_dkim_result_name(hd_dkim_result_code r); /* "pass", ... */

/* Why a signature got its result; a stable machine name for each is given
 * by hd_dkim_reason_name() ("body_hash_mismatch", ...). */
typedef enum hd_dkim_reason {
    HD_DKIM_R_OK,                /* verified */
    HD_DKIM_R_BODY_HASH,         /* body hash did not verify */
    HD_DKIM_R_SIGNATURE,         /* signature did not verify */
    HD_DKIM_R_KEY_REVOKED,       /* empty p= */
    HD_DKIM_R_KEY_TOO_SMALL,     /* RSA key < 1024 bits (RFC 8301 §3.2) */
    HD_DKIM_R_RSA_SHA1,          /* rsa-sha1 not accepted (RFC 8301 §3.1) */
    HD_DKIM_R_KEY_SYNTAX,        /* key record malformed */
    HD_DKIM_R_KEY_MISMATCH,      /* key k=, h= or s= do not allow this signature */
    HD_DKIM_R_NO_KEY,            /* no key record (NXDOMAIN/NODATA) */
    HD_DKIM_R_KEY_TEMP,          /* DNS temporary failure */
    HD_DKIM_R_SIG_SYNTAX,        /* signature field malformed or incomplete */
    HD_DKIM_R_NO_FROM,           /* h= lacks From */
    HD_DKIM_R_EXPIRED,           /* x= in the past */
    HD_DKIM_R_FUTURE,            /* t= in the future (beyond the allowed skew) */
    HD_DKIM_R_IDENTITY,          /* i= not within d= */
    HD_DKIM_R_STRICT_IDENTITY,   /* key t=s and i= domain differs from d= */
    HD_DKIM_R_ALGORITHM,         /* unknown a= */
    HD_DKIM_R_VERSION,           /* v= not 1 */
    HD_DKIM_R_NOT_CHECKED,       /* beyond the signature limit */
    HD_DKIM_R_INTERNAL,          /* out of memory or the like */
    HD_DKIM_R_UNSIGNED_FROM,     /* more From fields than h= covers (RFC 6376 §8.15) */
} hd_dkim_reason;

const char *hd_dkim_reason_name(hd_dkim_reason r);

/* What a signature that failed on its hashes (body_hash_mismatch,
 * signature_mismatch) shows about how the message changed after signing:
 * bits of hd_dkim_result.changes. "Checked" bits were proven by hashing
 * the message with the change undone and getting the signed hash back;
 * the others are read off the message and may be wrong. */
#define HD_DKIM_CH_BODY        0x01u /* the body hash differs: the body changed */
#define HD_DKIM_CH_HEADER      0x02u /* the header signature does not verify: a signed
                                      * field changed or was added (or another key signed) */
#define HD_DKIM_CH_FOOTER      0x04u /* checked: the signed body, then footer_bytes
                                      * (canonical) added at its end */
#define HD_DKIM_CH_REENCODED   0x08u /* checked: decoded from its Content-Transfer-Encoding
                                      * (encoding), the body is the signed one (plus the
                                      * footer when CH_FOOTER) */
#define HD_DKIM_CH_SUBJECT_TAG 0x10u /* the signed Subject starts with subject_tag, as
                                      * mailing lists add */
#define HD_DKIM_CH_CTE         0x20u /* the signed Content-Transfer-Encoding field was
                                      * rewritten (it goes with CH_REENCODED) */
#define HD_DKIM_CH_CHECKED     0x40u /* checked: with the CH_SUBJECT_TAG and CH_CTE changes
                                      * undone the signature verifies, so they are what
                                      * changed in the signed fields (encoding_was is the
                                      * old Content-Transfer-Encoding, "" if there was none) */

typedef struct hd_dkim_result {
    hd_dkim_result_code result;
    hd_dkim_reason reason_code;
    char reason[256];        /* human: what was wrong, and where */
    char domain[254];        /* d=, "" if absent */
    char selector[254];      /* s= */
    char identity[256];      /* i= (or its default "@d=") */
    char algorithm[24];      /* a= as written, e.g. "rsa-sha256" */
    char canon[24];          /* c= normalised, e.g. "relaxed/relaxed" */
    char header_b[96];       /* the start of b= that tells this signature
                              * apart from the others (RFC 6008), >= 8 chars */
    unsigned key_bits;       /* 0 when no key was reached */
    bool testing;            /* key record t=y */
    bool has_length;         /* l= present */
    uint64_t body_length;    /* l= value */
    uint64_t unsigned_bytes; /* body bytes after l= (canonical) */
    int64_t timestamp;       /* t=, -1 if absent */
    int64_t expiration;      /* x=, -1 if absent */
    size_t field_index;      /* index of the DKIM-Signature in the header */
    /* when the body hash or the signature failed: HD_DKIM_CH_* bits */
    unsigned changes;
    uint64_t footer_bytes;   /* CH_FOOTER */
    char encoding[24];       /* CH_REENCODED: the Content-Transfer-Encoding now */
    char encoding_was[24];   /* CH_CTE with CH_CHECKED: the signed one */
    char subject_tag[64];    /* CH_SUBJECT_TAG: the "[tag]" */
} hd_dkim_result;

/* The key cache and the keys in it are for one thread: the verifiers
 * that share a cache must run in the same thread (the daemon's event
 * loop). */
typedef struct hd_dkim_keycache hd_dkim_keycache; /* opaque */

/* A cache of parsed key records, keyed by query name, honouring the DNS
 * TTL (capped at max_ttl seconds); at most max_entries keys. */
hd_dkim_keycache *hd_dkim_keycache_new(size_t max_entries, uint32_t max_ttl);
void hd_dkim_keycache_free(hd_dkim_keycache *cache);

typedef struct hd_dkim_verify_opts {
    size_t max_signatures;     /* 0: HD_LIMIT_DKIM_SIGNATURES */
    int64_t now;               /* Unix time for x= and t= checks */
    int64_t clock_skew;        /* seconds t= may lie in the future; default 86400 */
    unsigned min_rsa_bits;     /* 0: HD_LIMIT_DKIM_RSA_MIN_BITS */
    bool allow_sha1;           /* accept rsa-sha1 (RFC 8301 says no); default false */
    hd_dkim_keycache *cache;   /* borrowed, may be NULL */
    size_t max_message_bytes;  /* 0: HD_LIMIT_MESSAGE_BYTES */
} hd_dkim_verify_opts;

void hd_dkim_verify_opts_init(hd_dkim_verify_opts *opts, int64_t now);

typedef struct hd_dkim_verifier hd_dkim_verifier; /* opaque */

int hd_dkim_verifier_new(const hd_dkim_verify_opts *opts, hd_dkim_verifier **out, hd_err *err);
void hd_dkim_verifier_free(hd_dkim_verifier *v);

/* Parse msg and compute what can be computed without keys. A message that
 * cannot be parsed at all is an error (HD_ESYNTAX); a message with bad
 * signatures is not: those become permerror results. */
int hd_dkim_verify_start(hd_dkim_verifier *v, hd_slice msg, hd_err *err);
/* Key records still needed: name i of n (e.g. "sel._domainkey.example.com"). */
size_t hd_dkim_verify_nqueries(const hd_dkim_verifier *v);
const char *hd_dkim_verify_query(const hd_dkim_verifier *v, size_t i);
/* Hand over the TXT answer for query i (borrowed). */
int hd_dkim_verify_answer(hd_dkim_verifier *v, size_t i, const hd_dns_answer *ans, hd_err *err);
/* Complete every result (queries never answered count as temperror). */
int hd_dkim_verify_finish(hd_dkim_verifier *v, hd_err *err);
/* start + every query through dns (concurrently) + finish. */
int hd_dkim_verify_run(hd_dkim_verifier *v, hd_slice msg, hd_dns *dns, hd_err *err);

size_t hd_dkim_verify_count(const hd_dkim_verifier *v);
const hd_dkim_result *hd_dkim_verify_result(const hd_dkim_verifier *v, size_t i);

/* The Authentication-Results method fragment for one result (RFC 8601
 * §2.7.1), e.g. "dkim=pass (2048-bit key) header.d=example.com
 * header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh", appended to out. */
int hd_dkim_result_to_ar(const hd_dkim_result *r, hd_buf *out);

#endif
