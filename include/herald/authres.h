/*
 * herald/authres.h - the Authentication-Results header field (RFC 8601):
 * parsing what others wrote, and writing our own.
 *
 * Parsing is tolerant of what real MTAs write (missing spaces, a trailing
 * ';', uppercase method names, properties without a ptype, an absent
 * authserv-id, ...) and notes each tolerated deviation as a quirk bit, but
 * bounded: at most HD_AUTHRES_MAX_RESULTS results of at most
 * HD_AUTHRES_MAX_PROPS properties each, comments nested at most
 * HD_AUTHRES_MAX_COMMENT_DEPTH deep; the field length is the caller's
 * limit (hd_msg's HD_LIMIT_HEADER_FIELD_BYTES). The parsed hd_authres
 * owns copies of the strings it reports: the value is borrowed only for
 * the duration of the call. No reported string holds CR, LF or NUL.
 *
 * Generation builds one complete field from method fragments such as
 * those of hd_dkim_result_to_ar() and hd_spf_to_ar(), checks that each
 * fragment is a single resinfo, and checks that the field parses back to
 * the same methods, results, reasons and properties.
 */
#ifndef HERALD_AUTHRES_H
#define HERALD_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include <herald/buf.h>
#include <herald/err.h>

/* Limits (the RFC sets none; real fields carry fewer than ten results of
 * fewer than eight properties). */
#define HD_AUTHRES_MAX_RESULTS 64       /* resinfo per field */
#define HD_AUTHRES_MAX_PROPS 32         /* propspec per resinfo */
#define HD_AUTHRES_MAX_COMMENT_DEPTH 16 /* nested "(...)" (RFC 5322 §3.2.2) */
#define HD_AUTHRES_MAX_ID 253           /* authserv-id we generate (a DNS name) */
/* RFC 8617 §4.2.1: an ARC instance is 1 to 50. */
#define HD_AUTHRES_ARC_MAX_INSTANCE 50

/* Tolerated deviations from RFC 8601 §2.2, as bits of hd_authres_quirks(). */
enum {
    HD_AUTHRES_Q_NO_AUTHSERV_ID = 1u << 0, /* value began with method=result */
    HD_AUTHRES_Q_TRAILING_SEMI = 1u << 1,  /* ';' with nothing after it */
    HD_AUTHRES_Q_EMPTY_RESINFO = 1u << 2,  /* ";;" */
    HD_AUTHRES_Q_NO_RESULTS = 1u << 3,     /* neither "none" nor a resinfo */
    HD_AUTHRES_Q_UNPARSED_PROP = 1u << 4,  /* "name=value" without "ptype." */
    HD_AUTHRES_Q_EMPTY_VALUE = 1u << 5,    /* "ptype.prop=" with no pvalue */
    HD_AUTHRES_Q_DUP_REASON = 1u << 6,     /* a second reason= (kept as unparsed) */
};

typedef struct hd_authres_prop {
    const char *ptype;    /* lowercased; "" when unparsed */
    const char *property; /* lowercased */
    const char *value;    /* unquoted, quoted-pairs resolved, unfolded; a
                           * quoted local-part keeps its quotes:
                           * "\"a b\"@example.com" */
    bool unparsed;        /* written as "name=value" without a ptype */
} hd_authres_prop;

typedef struct hd_authres_result {
    const char *method;      /* lowercased, e.g. "dkim", "x-foo" */
    unsigned method_version; /* 1 when absent (RFC 8601 §2.6) */
    const char *result;      /* lowercased, e.g. "pass" */
    const char *reason;      /* reason= value unquoted, or NULL */
    const char *comment;     /* text of the first comment after the result
                              * and before the first property, or NULL */
    const hd_authres_prop *props;
    size_t nprops;
    size_t offset;           /* of the method in the parsed value */
} hd_authres_result;

typedef struct hd_authres hd_authres; /* opaque; owns its strings */

/* Parse the value of an Authentication-Results field (after the colon;
 * folding kept, a final line end allowed). HD_ESYNTAX says "offset N:
 * expected X"; HD_ELIMIT names the limit; HD_ENOMEM. On error *out is
 * NULL. */
int hd_authres_parse(hd_slice value, hd_authres **out, hd_err *err);
/* The value of an ARC-Authentication-Results field (RFC 8617 §4.1.1):
 * "i=N;" then an Authentication-Results payload. *instance gets N
 * (1..50); a missing, empty, zero, non-numeric or too large instance, or
 * one not followed by ';', is HD_ESYNTAX. */
int hd_authres_parse_arc(hd_slice value, unsigned *instance, hd_authres **out, hd_err *err);
void hd_authres_free(hd_authres *ar);

const char *hd_authres_authserv_id(const hd_authres *ar); /* "" when absent */
unsigned hd_authres_version(const hd_authres *ar);        /* 1 when absent */
bool hd_authres_is_none(const hd_authres *ar);             /* "; none" */
unsigned hd_authres_quirks(const hd_authres *ar);
size_t hd_authres_count(const hd_authres *ar);
const hd_authres_result *hd_authres_get(const hd_authres *ar, size_t i);
/* The first property ptype.property of result i (names case-insensitive),
 * or NULL. */
const hd_authres_prop *hd_authres_find_prop(const hd_authres *ar, size_t i, const char *ptype,
                                            const char *property);

/* True when a and b report the same results: methods, versions, results,
 * reasons and properties, in order (authserv-id and comments ignored). */
bool hd_authres_same_results(const hd_authres *a, const hd_authres *b);
/* The same for one result of each. */
bool hd_authres_result_eq(const hd_authres_result *a, const hd_authres_result *b);

/* RFC 8601 §5: should an MTA whose authserv-id is `ours` remove this
 * field before adding its own? True when the field's authserv-id equals
 * ours or is a name under it ("mx1.example.com" under "example.com"),
 * ASCII case-insensitive; also true when no authserv-id can be read at
 * all (a field nobody can attribute is not worth keeping). Only the
 * authserv-id is read, so a forged field with malformed results is still
 * recognised. */
bool hd_authres_claims_id(hd_slice value, const char *ours);

/* Generation ---------------------------------------------------------------- */

/* A valid authserv-id to generate (RFC 8601 §2.5, a domain-like token):
 * 1..253 bytes of letters, digits, '-', '_' and '.', no empty label. CR
 * or LF is refused with its own message (docs/style.md rule 12). */
int hd_authres_check_id(const char *authserv_id, hd_err *err);

typedef struct hd_authres_builder hd_authres_builder; /* opaque */

/* Start "Authentication-Results: <authserv_id>;" (the id is copied). */
int hd_authres_builder_new(const char *authserv_id, hd_authres_builder **out, hd_err *err);
/* Start "ARC-Authentication-Results: i=<instance>; <authserv_id>;". */
int hd_authres_builder_new_arc(unsigned instance, const char *authserv_id,
                               hd_authres_builder **out, hd_err *err);
void hd_authres_builder_free(hd_authres_builder *b);
/* Add one method fragment "method=result [reason=...] (comment) ptype.p=v"
 * (copied). It must parse as exactly one resinfo; CR, LF and NUL are
 * refused. At most HD_AUTHRES_MAX_RESULTS. */
int hd_authres_builder_add(hd_authres_builder *b, hd_slice fragment, hd_err *err);
/* Append the complete field to out: each fragment on its own line after
 * ";\r\n\t" (a long fragment is folded before a space), "none" when none
 * was added, and a final CRLF. The field is parsed back and compared with
 * the fragments; a mismatch is HD_EINVAL (it would be a herald bug). */
int hd_authres_builder_finish(hd_authres_builder *b, hd_buf *out, hd_err *err);

/* One call: the field for n fragments (n may be 0: "none"). */
int hd_authres_build(const char *authserv_id, const hd_slice *fragments, size_t n, hd_buf *out,
                     hd_err *err);

/* Writing fragments (what hd_dkim_result_to_ar and its siblings use):
 * " (text)" as an RFC 8601 comment, and " name=value" with value as a
 * token when it is one (with '@' for addresses), else as a quoted-string
 * (RFC 8601 §2.3). Text is written in ASCII: "§" as "section" (so
 * "(RFC 7208 §4.3)" reads "(RFC 7208 section 4.3)"), any other non-ASCII
 * character as one '?', a tab as a space, other control characters as
 * '?'; nothing can close the comment or string early or start a line.
 * In a comment, parentheses that nest properly stay (nested comments,
 * RFC 5322 §3.2.2), others and backslashes become quoted-pairs; in a
 * quoted-string '"' and backslash do. */
int hd_authres_append_comment(hd_buf *out, const char *text);
int hd_authres_append_property(hd_buf *out, const char *name, const char *value);
/* The same text rules for a caller writing its own comment or quoted
 * string (the Received-SPF field, RFC 7208 §9.1): the inside only. */
int hd_authres_append_ctext(hd_buf *out, const char *text);
int hd_authres_append_qtext(hd_buf *out, const char *text);

#endif
