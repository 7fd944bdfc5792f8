/*
 * herald/domain.h - sending domains: their DKIM keys (files and rows),
 * key rotation, and the DNS records an operator publishes for them.
 *
 * The logic behind `herald domain ...`, for the server too. State lives in
 * the store (herald/store.h); private keys are files, mode 0600, in
 * directories of mode 0700:
 *
 *     KEYS_DIR/<domain>/<selector>.pem      one per key (PKCS#8 PEM)
 *     KEYS_DIR/removed/<domain>/...         keys of removed domains
 *
 * Selectors: a domain's keys are made in pairs (or alone) from a prefix P:
 * "P-rsa" for RSA and "P-ed" for Ed25519, so one glance at a selector says
 * which key it is. The default prefix is "hd" and the UTC date of creation
 * ("hd20261127"); when a rotation on the same day finds it taken, a letter
 * follows ("hd20261127b", ... "z").
 *
 * Key life (docs/cli.md, "Key rotation"):
 *
 *     add ──> active ──(a rotation's keys become active)──> retiring ──(retire_at)──> retired
 *     rotate ──> pending ──(its record is in the DNS and matches)──> active
 *
 * A domain's first keys are active at once (nothing signed before them).
 * A rotation makes new keys *pending*: published by the operator, but not
 * signing until the DNS shows their records (a receiver would fail every
 * message signed before). The server checks (hd_domain_key_check on the
 * TXT answers) and, once every pending key of the domain matches,
 * activates them (hd_domain_activate): the old active keys turn retiring
 * for the grace period stored with the pending keys: they sign no more but
 * stay published, so mail signed just before still verifies; then they
 * are retired and may leave the DNS. Only active keys sign. A rotation
 * made while keys are still pending supersedes them (they are retired,
 * having never signed).
 *
 * What state a key is in at a time, and what an activation changes, are
 * pure functions of the rows (hd_domain_key_state_at,
 * hd_domain_activation_plan), so listing "as of T" never writes.
 *
 * Functions that change several rows do it in one transaction, and undo
 * the files they wrote (or moved) when anything fails: no half-made
 * domain is left behind. Times are Unix seconds, given by the caller.
 */
#ifndef HERALD_DOMAIN_H
#define HERALD_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/dns.h>
#include <herald/err.h>
#include <herald/key.h>
#include <herald/store.h>

/* Which keys a domain signs with (bits). */
#define HD_DOMAIN_ALG_RSA 1u
#define HD_DOMAIN_ALG_ED25519 2u
#define HD_DOMAIN_ALG_BOTH (HD_DOMAIN_ALG_RSA | HD_DOMAIN_ALG_ED25519)

/* RFC 8301 §3.2: signers SHOULD use RSA keys of at least 2048 bits; more
 * than 4096 makes a TXT record too large for many resolvers' UDP. */
#define HD_DOMAIN_RSA_BITS_DEFAULT 2048
#define HD_DOMAIN_RSA_BITS_MIN 2048
#define HD_DOMAIN_RSA_BITS_MAX 4096

/* How long a rotated-out key stays published, by default: a week covers
 * the queue's lifetime and receivers that verify late. */
#define HD_DOMAIN_GRACE_DEFAULT (7u * 24 * 3600)

/* How often a running server looks up the records of pending keys (it
 * also does at start and at every reload): a record published is seen
 * within minutes, and a check is a few TXT questions the resolver caches. */
#define HD_DOMAIN_CHECK_INTERVAL 300

/* TTL of the records hd_domain_records_zone() writes. */
#define HD_DOMAIN_TTL 3600

/* Longest selector prefix: "P-rsa" must fit a selector of 63 bytes. */
#define HD_DOMAIN_PREFIX_MAX 56

/* Sending addresses the SPF record may list (one TXT record stays well
 * under the 512-byte DNS answer many resolvers still prefer). */
#define HD_DOMAIN_MAX_ADDRESSES 16

/* Names ------------------------------------------------------------------- */

/* Check a domain name and write its normal form (lower case, no trailing
 * dot) to out (HD_STORE_NAME_MAX suffices): LDH labels of 1..63 bytes
 * (RFC 1035 §2.3.1, a leading digit allowed as RFC 1123 §2.1 says), at
 * least two labels, at most 253 bytes, a last label not all digits (so no
 * IP address passes, RFC 3696 §2). HD_EINVAL with the reason otherwise. */
int hd_domain_name_normalize(const char *in, char *out, size_t out_size, hd_err *err);

/* Data directory ------------------------------------------------------------ */

/* Open data_dir's database (data_dir/herald.db) and find its key
 * directory: data_dir and data_dir/keys are created (mode 0700) when
 * missing, and keys_dir receives keys/'s absolute path, so the key paths
 * stored in rows mean the same from any working directory. */
int hd_domain_data_dir_open(const char *data_dir, hd_store **st, char *keys_dir,
                            size_t keys_dir_size, hd_err *err);

/* Adding, rotating, removing ------------------------------------------------- */

typedef struct hd_domain_add_opts {
    const char *domain;
    const char *bounce_domain; /* MAIL FROM domain; NULL: "bounce.<domain>". Its
                                * MX receives bounces, so it must not be the
                                * domain itself; to align with the domain under
                                * DMARC's relaxed SPF alignment (RFC 7489
                                * §3.1.2) it must share its organizational
                                * domain, which is the caller's to check */
    const char *selector;      /* prefix; NULL: "hd" + the UTC date of now */
    unsigned algs;             /* HD_DOMAIN_ALG_* bits; 0: both (dual signing) */
    unsigned rsa_bits;         /* 0: HD_DOMAIN_RSA_BITS_DEFAULT */
    int64_t now;
    const char *hostname;      /* the server's name, stored so later commands
                                * need not be told again; NULL: none */
} hd_domain_add_opts;

/* Add a domain: check the names, generate its keys, write them to
 * keys_dir/<domain>/, and insert the domain and key rows. HD_EINVAL for a
 * bad name or a domain that exists; HD_ESTATE for a bounce domain at or
 * under another sending domain (one not below this one: that domain's
 * name and zone are not this one's); HD_EIO when a file or directory
 * cannot be made. keys_dir should be absolute (see above). */
int hd_domain_add(hd_store *st, const char *keys_dir, const hd_domain_add_opts *opts,
                  hd_err *err);

/* Rotate: new keys for the algorithms of the active keys (RSA with the
 * active key's size), under new_selector_prefix (NULL: the date-based
 * default; a prefix whose selectors the domain already has is HD_EINVAL).
 * The new keys are pending, grace_seconds stored with them for the
 * activation; keys still pending from an earlier rotation are retired
 * (superseded). With activate_now the new keys are active at once and the
 * active ones retiring with retire_at = now + grace_seconds, or retired
 * when grace_seconds is 0. HD_ENOTFOUND for an unknown domain, HD_ESTATE
 * when it has no active key. */
int hd_domain_rotate_key(hd_store *st, const char *keys_dir, const char *domain,
                         const char *new_selector_prefix, int64_t now, uint32_t grace_seconds,
                         bool activate_now, hd_err *err);

/* Mark retiring keys whose retire_at is at or before now retired, in every
 * domain. Returns how many (>= 0) or a negative HD_E*. */
int hd_domain_retire_due(hd_store *st, int64_t now, hd_err *err);

/* Remove a domain: its rows go, and its key files move to
 * keys_dir/removed/<domain>/ (".1", ".2"... added to a name already
 * there). They are kept, not deleted: mail already signed may still need
 * its key published, and an operator may want to restore it; deleting
 * them is a deliberate act left to the operator. A file already gone is
 * not an error. HD_ENOTFOUND for an unknown domain. */
int hd_domain_remove(hd_store *st, const char *keys_dir, const char *domain, hd_err *err);

/* Key life ------------------------------------------------------------------ */

/* "pending", "active", "retiring", "retired". */
const char *hd_domain_key_state_name(hd_store_key_state s);

/* The state k is in at time now, from its row alone: a retiring key whose
 * retire_at has come is retired; any other key is as stored (a pending key
 * needs the DNS to become active). */
hd_store_key_state hd_domain_key_state_at(const hd_store_key *k, int64_t now);

/* One change an activation makes. */
typedef struct hd_domain_transition {
    size_t index;              /* into the keys given */
    hd_store_key_state to;
    int64_t retire_at;         /* when to is retiring */
} hd_domain_transition;

/* What activating a domain's pending keys at now changes, for its keys
 * k[0..n) (states as at now): every pending key becomes active; every
 * active key becomes retiring until now + the largest grace of the pending
 * keys (retired when that is 0); a retiring key whose time has come,
 * retired. Writes at most n transitions to out and returns how many; 0
 * when no key is pending. */
size_t hd_domain_activation_plan(const hd_store_key *k, size_t n, int64_t now,
                                 hd_domain_transition *out);

/* Apply hd_domain_activation_plan to the domain's rows, in one
 * transaction, if its pending keys are exactly ids[0..n_ids) (the keys
 * whose records were checked: a rotation made meanwhile has replaced them,
 * and its keys must be checked first). HD_ESTATE when no key is pending
 * or the pending keys are others, HD_ENOTFOUND for an unknown domain. */
int hd_domain_activate(hd_store *st, const char *domain, const int64_t *ids, size_t n_ids,
                       int64_t now, hd_err *err);

/* DNS check of a key's record --------------------------------------------------- */

typedef enum hd_domain_dns_status {
    HD_DOMAIN_DNS_NOT_CHECKED, /* no resolver was asked */
    HD_DOMAIN_DNS_MATCH,       /* published, and p= is this key */
    HD_DOMAIN_DNS_MISSING,     /* no TXT record there (NXDOMAIN, NODATA) */
    HD_DOMAIN_DNS_MISMATCH,    /* a record, but not this key (why says what differs) */
    HD_DOMAIN_DNS_UNKNOWN,     /* the DNS failed (SERVFAIL, time-out): try again */
} hd_domain_dns_status;

typedef struct hd_domain_dns_check {
    hd_domain_dns_status status;
    char why[320];             /* one sentence, "" for MATCH */
} hd_domain_dns_check;

/* "not checked", "matches", "missing", "mismatch", "unknown". */
const char *hd_domain_dns_status_name(hd_domain_dns_status s);

/* The owner name of k's record, SELECTOR._domainkey.DOMAIN (RFC 6376
 * §3.6.2.1). HD_ELIMIT when it does not fit size. */
int hd_domain_key_record_name(const hd_store_key *k, char *out, size_t size, hd_err *err);

/* Judge the answer to the TXT question for k's record (pure). MATCH when
 * every TXT record there is a DKIM key record (RFC 6376 §3.6.1: v=DKIM1
 * first if present, k= the key's algorithm, h= allowing sha256, s=
 * allowing email) whose p= decodes to this key's public key; RFC 6376
 * §3.6.2.2 lets a verifier pick any of several records, so every one must
 * match. */
void hd_domain_key_check(const hd_store_key *k, const hd_dns_answer *ans,
                         hd_domain_dns_check *out);

/* Whether a domain's pending keys are to be activated: true when k[0..n)
 * has a pending key and every pending key's check (checks[i] for k[i]) is
 * MATCH: a rotation's keys start signing together. */
bool hd_domain_activation_due(const hd_store_key *k, const hd_domain_dns_check *checks,
                              size_t n);

/* The keys to sign a domain's mail with: its active keys, oldest first. */
typedef struct hd_domain_signing_key {
    char selector[64];
    hd_key_type type;
    char path[HD_STORE_PATH_MAX];
} hd_domain_signing_key;

/* Fills out[0..*n) with at most max keys (HD_ELIMIT if it has more);
 * *n may be 0. HD_ENOTFOUND for an unknown domain. */
int hd_domain_signing_keys(hd_store *st, const char *domain, hd_domain_signing_key *out,
                           size_t max, size_t *n, hd_err *err);

/* DNS records ------------------------------------------------------------------ */

typedef enum hd_domain_record_kind {
    HD_DOMAIN_REC_DKIM,   /* <selector>._domainkey.<domain> TXT, one per published key */
    HD_DOMAIN_REC_SPF,    /* <bounce domain> TXT v=spf1 */
    HD_DOMAIN_REC_MX,     /* <bounce domain> MX: where bounces come back */
    HD_DOMAIN_REC_DMARC,  /* _dmarc.<domain> TXT */
} hd_domain_record_kind;

typedef struct hd_domain_record {
    hd_domain_record_kind kind;
    char *name;         /* owner name, absolute, no trailing dot */
    const char *type;   /* "TXT" or "MX" (static) */
    char *value;        /* TXT: the whole text, unsplit; MX: "10 host." */
    char *purpose;      /* one line for a human: what the record is for */
} hd_domain_record;

typedef struct hd_domain_dns_opts {
    const char *hostname;            /* the server's name: the bounce MX, and
                                      * SPF's a: when no address is given */
    const char *const *addresses;    /* the server's sending addresses:
                                      * IPv4 or IPv6, with an optional /prefix */
    size_t n_addresses;              /* at most HD_DOMAIN_MAX_ADDRESSES */
} hd_domain_dns_opts;

/* Check opts as hd_domain_records() would (hostname, addresses), so a
 * caller can refuse bad ones before it makes anything. */
int hd_domain_dns_opts_check(const hd_domain_dns_opts *opts, hd_err *err);

/* The records to publish for domain, in this order: one DKIM TXT per key
 * that is pending, active or retiring (oldest first), the bounce domain's SPF
 * ("v=spf1 ip4:A ip6:B -all", or "v=spf1 a:HOST -all" without addresses)
 * and MX ("10 HOST."), and "_dmarc.<domain>" ("v=DMARC1; p=none;
 * rua=mailto:dmarc@<bounce domain>": monitoring first, RFC 7489 §6.3, for
 * a domain that has no record yet; see hd_domain_dmarc_advise). *out is
 * owned by the caller: hd_domain_records_free(). HD_ENOTFOUND for an
 * unknown domain, HD_EINVAL for a bad hostname or address. */
int hd_domain_records(hd_store *st, const char *domain, const hd_domain_dns_opts *opts,
                      hd_domain_record **out, size_t *n, hd_err *err);
/* The same with the keys' states as at now (hd_domain_key_state_at): a
 * key retiring until before now is left out. */
int hd_domain_records_at(hd_store *st, const char *domain, const hd_domain_dns_opts *opts,
                         int64_t now, hd_domain_record **out, size_t *n, hd_err *err);
void hd_domain_records_free(hd_domain_record *r, size_t n);

/* Append the records in the zone fixture format (docs/zone-format.md, RFC
 * 1035 §5.1), each after a "; purpose" comment line: absolute names, TTL
 * HD_DOMAIN_TTL, TXT text split into quoted strings of at most 255 bytes
 * (RFC 1035 §3.3.14) with '"' and '\' escaped. The output parses with
 * hd_dns_new_zone_text() and pastes into a BIND zone. */
int hd_domain_records_zone(const hd_domain_record *r, size_t n, hd_buf *out);

/* DMARC advice ------------------------------------------------------------------ */

/* What the DMARC record herald suggests for a domain should be, decided
 * from what is published now (the caller does the DNS: the domain's own
 * _dmarc TXT set, else the one its policy discovery found). herald's
 * aggregate-report address is dmarc@<bounce domain>, since herald's
 * inbound listener takes the bounce domain's mail (its MX names herald);
 * dmarc@<domain> would reach the company's own mail server. */

typedef enum hd_domain_dmarc_lookup {
    HD_DOMAIN_DMARC_ABSENT,   /* no DMARC record applies to the domain */
    HD_DOMAIN_DMARC_PRESENT,  /* texts: the TXT set at _dmarc.<record_domain> */
    HD_DOMAIN_DMARC_FAILED,   /* the lookup failed (timeout, SERVFAIL): unknown */
} hd_domain_dmarc_lookup;

typedef struct hd_domain_dmarc_live {
    hd_domain_dmarc_lookup lookup;
    const char *record_domain;  /* where texts were found: the domain (NULL means it)
                                 * or the organizational domain whose record applies */
    const char *org_domain;     /* the domain's Organizational Domain, NULL if unknown */
    const hd_slice *texts;      /* every TXT string there, DMARC or not (borrowed) */
    size_t n_texts;
} hd_domain_dmarc_live;

typedef enum hd_domain_dmarc_action {
    HD_DOMAIN_DMARC_PUBLISH,   /* none applies: publish value (p=none, rua to herald) */
    HD_DOMAIN_DMARC_UNCHECKED, /* the lookup failed: value as PUBLISH, only if none exists */
    HD_DOMAIN_DMARC_EXTEND,    /* replace current at name by value: the same record with
                                * herald's address added to its rua (policy untouched) */
    HD_DOMAIN_DMARC_NOTHING,   /* current already sends aggregate reports to herald */
    HD_DOMAIN_DMARC_FIX,       /* the published set must be mended first (several DMARC
                                * records, ...): note says how; no value */
} hd_domain_dmarc_action;

typedef struct hd_domain_dmarc_advice {
    hd_domain_dmarc_action action;
    char name[HD_STORE_NAME_MAX + 8];      /* "_dmarc.<record domain>" */
    char rua[HD_STORE_NAME_MAX + 16];      /* "mailto:dmarc@<bounce domain>" */
    char *current;                         /* the record published now, or NULL (owned) */
    char *value;                           /* the TXT to publish at name, or NULL (owned) */
    /* RFC 9990 §4 (RFC 7489 §7.1): when the bounce domain lies outside the
     * record domain's Organizational Domain, receivers send reports there
     * only if "<record domain>._report._dmarc.<bounce domain>" has a TXT
     * record "v=DMARC1"; its name, or "" when none is needed */
    char auth_name[2 * HD_STORE_NAME_MAX + 32];
    char note[800];                        /* what and why, for a human */
} hd_domain_dmarc_advice;

/* Decide. Names are checked as hd_domain_name_normalize does (HD_EINVAL);
 * a published record longer than 4096 bytes is FIX. Free with
 * hd_domain_dmarc_advice_free (also after an error). */
int hd_domain_dmarc_advise(const char *domain, const char *bounce_domain,
                           const hd_domain_dmarc_live *live, hd_domain_dmarc_advice *out,
                           hd_err *err);
void hd_domain_dmarc_advice_free(hd_domain_dmarc_advice *a);

#endif
