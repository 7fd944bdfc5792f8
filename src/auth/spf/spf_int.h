/*
 * spf_int.h - what the files of the SPF module share; not a public door.
 */
#ifndef HERALD_SPF_INT_H
#define HERALD_SPF_INT_H

#include <herald/spf.h>

/* Terms in one record: RFC 7208 sets no number, a record of thousands of
 * terms is an attack, not a policy. */
#define SPF_MAX_TERMS 512

typedef enum spf_kind {
    SPF_ALL,
    SPF_INCLUDE,
    SPF_A,
    SPF_MX,
    SPF_PTR,
    SPF_IP4,
    SPF_IP6,
    SPF_EXISTS,
    SPF_REDIRECT,
    SPF_EXP,
    SPF_UNKNOWN_MOD,
} spf_kind;

typedef struct spf_term {
    spf_kind kind;
    char qualifier;      /* '+', '-', '~', '?' (mechanisms) */
    hd_slice text;       /* the whole term as written */
    hd_slice spec;       /* domain-spec (may be empty: the current domain) */
    int cidr4, cidr6;    /* prefix lengths; 32 / 128 when absent */
    uint8_t addr[16];    /* ip4 (first 4 bytes) / ip6 network */
    size_t offset;       /* of the term in the record */
} spf_term;

typedef struct spf_record {
    spf_term *terms;     /* mechanisms and modifiers in order */
    size_t n;
    const spf_term *redirect, *exp;
} spf_record;

/* Parse a selected record ("v=spf1 ..."). On error, HD_ESYNTAX with
 * "at offset N: term \"...\": reason". rec->terms point into record. */
int spf_record_parse(hd_slice record, spf_record *rec, hd_err *err);
void spf_record_free(spf_record *rec);

const char *spf_kind_name(spf_kind k);
bool spf_kind_counts(spf_kind k); /* a DNS-querying term (§4.6.4) */

/* Does the domain-spec use %{p}? (The validated name needs lookups.) */
bool spf_spec_needs_p(hd_slice spec);

/* A name checked as RFC 7208 §4.3 / §7.3 ask: labels 1..63, total <= 253
 * after the left-shortening the macro rules apply. */
bool spf_domain_ok(const char *d);

/* records.c: the parse of text from the cache, parsing it on a miss;
 * *out is borrowed until spf_records_make_room. SPF_RECORDS_FULL: not in
 * the cache and no room, parse it yourself. */
#define SPF_RECORDS_FULL 1
int spf_records_get(hd_spf_records *c, hd_slice text, const spf_record **out, hd_err *err);
/* Empty a full cache; call only when no run holds entries. */
void spf_records_make_room(hd_spf_records *c);

/* eval.c: request facts for output.c */
const char *hd_spf__client_ip(const hd_spf *spf);
const char *hd_spf__helo(const hd_spf *spf);

#endif
