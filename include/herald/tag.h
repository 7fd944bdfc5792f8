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
} hd_tag;

typedef struct hd_taglist {
    hd_tag tags[HD_LIMIT_TAGS];
    size_t n;
} hd_taglist;

/* Parse text. HD_ESYNTAX ("offset N: ...") on a malformed spec or a
 * duplicate tag (RFC 6376 §3.2: "Tags with duplicate names MUST NOT occur
 * within a single tag-list"); HD_ELIMIT past HD_LIMIT_TAGS tags. Empty
 * specs ("a=1;;b=2", a trailing ";") are tolerated, as real records have
 * them. */
int hd_tag_parse(hd_slice text, hd_taglist *out, hd_err *err);

/* The tag named name (case-sensitive, RFC 6376 §3.2), or NULL. */
const hd_tag *hd_tag_get(const hd_taglist *list, const char *name);

/* Append value to out without any whitespace (SP, HTAB, CR, LF): what
 * RFC 6376 §3.5 asks for b=, bh=, p= and z=. */
int hd_tag_strip_wsp(hd_slice value, hd_buf *out);

/* Split a value on sep (e.g. ':' in h=, s=, k=); each part trimmed of
 * whitespace. Returns how many parts were written (at most max). */
size_t hd_tag_split(hd_slice value, char sep, hd_slice *parts, size_t max);

#endif
