/*
 * herald/tag.h - the tag=value list shared by DKIM-Signature, DKIM key
 * records, ARC header fields and DMARC records (RFC 6376 §3.2).
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *
 * Parsed in place: names and values are slices into the caller's text.
 * Values are trimmed of surrounding whitespace; whitespace inside a value
 * (folding in b=, h=) is kept for the caller to strip where the RFC says.
 *
 * Two modes. hd_tag_parse is strict: one malformed tag-spec makes the
 * whole list invalid, as RFC 6376 asks of DKIM-Signature fields (§3.2,
 * §6.1.1) and key records (§6.1.2), and ARC, whose seals and message
 * signatures take DKIM's tag-list and semantics (RFC 8617 §4.1.2, §4.1.3).
 * hd_tag_parse_tolerant is for DMARC records (RFC 9989 §4.8, RFC 7489
 * §6.3: "Syntax errors in the remainder of the record MUST be discarded in
 * favor of default values (if any) or ignored outright"): a malformed term
 * is left out, listed with why, and the rest is kept.
 */
#ifndef HERALD_TAG_H
#define HERALD_TAG_H

#include <stdbool.h>
#include <stddef.h>

#include <herald/buf.h>
#include <herald/err.h>
#include <herald/limits.h>

typedef struct hd_tag {
    hd_slice name;
    hd_slice value;      /* trimmed */
    size_t value_start;  /* offset just after '=' in the text */
    size_t value_end;    /* offset of the ';' that ends the tag, or text end */
    unsigned term;       /* its place among the list's non-empty terms, from 1 */
} hd_tag;

typedef struct hd_taglist {
    hd_tag tags[HD_LIMIT_TAGS];
    size_t n;
} hd_taglist;

/* A term that hd_tag_parse_tolerant left out. */
typedef struct hd_tag_dropped {
    unsigned term;       /* its place among the non-empty terms, from 1 */
    size_t offset;       /* of its first byte in the text */
    hd_slice text;       /* the whole term up to its ';', trimmed (borrowed) */
    char why[80];        /* "no '=' after the tag name \"foo\"", ... */
} hd_tag_dropped;

typedef struct hd_tag_drops {
    hd_tag_dropped d[HD_LIMIT_TAGS];
    size_t n;
} hd_tag_drops;

/* Parse text. HD_ESYNTAX ("offset N: ...") on a malformed spec or a
 * duplicate tag (RFC 6376 §3.2: "Tags with duplicate names MUST NOT occur
 * within a single tag-list"); HD_ELIMIT past HD_LIMIT_TAGS tags. Empty
 * specs ("a=1;;b=2", a trailing ";") are tolerated, as real records have
 * them. */
int hd_tag_parse(hd_slice text, hd_taglist *out, hd_err *err);

/* Parse text, leaving out every malformed term (a term is what lies
 * between two ';'): no '=' after the name, a name that is not ALPHA
 * *ALNUMPUNC, a control character in the value, or a name already seen
 * (the first occurrence stands). Each is listed in drops, in order; out
 * holds the rest. Bounded like hd_tag_parse: HD_ELIMIT when the kept and
 * dropped terms together pass HD_LIMIT_TAGS. */
int hd_tag_parse_tolerant(hd_slice text, hd_taglist *out, hd_tag_drops *drops, hd_err *err);

/* The tag named name (case-sensitive, RFC 6376 §3.2), or NULL. */
const hd_tag *hd_tag_get(const hd_taglist *list, const char *name);

/* Append value to out without any whitespace (SP, HTAB, CR, LF): what
 * RFC 6376 §3.5 asks for b=, bh=, p= and z=. */
int hd_tag_strip_wsp(hd_slice value, hd_buf *out);

/* Split a value on sep (e.g. ':' in h=, s=, k=); each part trimmed of
 * whitespace. Returns how many parts were written (at most max). */
size_t hd_tag_split(hd_slice value, char sep, hd_slice *parts, size_t max);

#endif
