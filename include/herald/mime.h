/*
 * herald/mime.h - a bounded, non-copying MIME reader (RFC 2045, 2046).
 *
 * hd_mime_parse walks a message's MIME tree over the caller's bytes (which
 * must outlive the hd_mime): every part's header and body are slices into
 * them. Header fields come from hd_msg_parse (mail.h). Multiparts are split
 * on their boundary (RFC 2046 §5.1.1) and walked depth first; a
 * message/rfc822 or message/global part with an identity transfer encoding
 * is walked into as well, so a returned message's header is a part.
 *
 * Bounded: nesting deeper than max_depth or more than max_parts parts fail
 * with HD_ELIMIT (a MIME bomb is refused, not half-read). Damage that still
 * leaves a usable tree (no close delimiter, a multipart without any
 * delimiter, an unreadable Content-Type) is kept and noted in flags.
 *
 * Decoding (base64, quoted-printable) copies into a capped hd_buf.
 */
#ifndef HERALD_MIME_H
#define HERALD_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include <herald/buf.h>
#include <herald/err.h>
#include <herald/mail.h>

/* Nesting depth of multiparts and encapsulated messages. Real mail nests
 * 3-5 deep; RFC 2046 sets no limit, so a bomb must be cut somewhere. */
#define HD_MIME_MAX_DEPTH 16
/* Parts in one message (the root counts). */
#define HD_MIME_MAX_PARTS 1000
/* RFC 2046 §5.1.1: a boundary is 1 to 70 characters. */
#define HD_MIME_BOUNDARY_MAX 70

/* A Content-Type value: type "/" subtype *(";" parameter). The slices
 * point into the field's value; compare them with hd_slice_caseeq. */
typedef struct hd_mime_ctype {
    hd_slice type;
    hd_slice subtype;
    hd_slice params; /* from just after the subtype to the end */
} hd_mime_ctype;

/* RFC 2045 §5.1 (comments and folding allowed between tokens). HD_ESYNTAX
 * names the byte offset in value where it went wrong. */
int hd_mime_ctype_parse(hd_slice value, hd_mime_ctype *out, hd_err *err);
/* ASCII case-insensitive type and subtype test; subtype NULL matches any. */
bool hd_mime_ctype_is(const hd_mime_ctype *ct, const char *type, const char *subtype);
/* The value of parameter name (case-insensitive), unquoted, appended to
 * out. RFC 2231 extended values (name*=charset'lang'%XX) and continuations
 * (name*0, name*1*, ...) are joined and percent-decoded; the charset is
 * not converted. HD_ENOTFOUND when absent, HD_ESYNTAX on a malformed
 * parameter list, HD_ELIMIT past out's cap. */
int hd_mime_param(const hd_mime_ctype *ct, const char *name, hd_buf *out, hd_err *err);

/* Facts the reader noticed, as bits of hd_mime_flags(). */
enum {
    HD_MIME_NO_CLOSE = 1u << 0,      /* a multipart ended without "--b--" */
    HD_MIME_NO_DELIMITER = 1u << 1,  /* a multipart had no delimiter at all */
    HD_MIME_BAD_CTYPE = 1u << 2,     /* unreadable Content-Type: text/plain used */
    HD_MIME_NO_BOUNDARY = 1u << 3,   /* multipart without a usable boundary */
    HD_MIME_BAD_HEADER = 1u << 4,    /* a part's header unreadable: kept as plain text */
};

typedef struct hd_mime_part {
    hd_slice raw;        /* header and body of the part */
    hd_slice body;       /* the body, still transfer-encoded */
    size_t offset;       /* raw's byte offset in the parsed message */
    hd_mime_ctype ctype; /* text/plain when absent (RFC 2045 §5.2), or
                          * message/rfc822 inside multipart/digest */
    hd_slice cte;        /* Content-Transfer-Encoding, trimmed; empty if none */
    size_t parent;       /* index of the enclosing part; (size_t)-1 for the root */
    unsigned depth;      /* 0 for the root */
    size_t nchildren;
} hd_mime_part;

typedef struct hd_mime_limits {
    unsigned max_depth; /* 0: HD_MIME_MAX_DEPTH */
    size_t max_parts;   /* 0: HD_MIME_MAX_PARTS */
    /* Readers of mail that machines return damaged (bounce reports): a
     * part below the root whose header hd_msg_parse refuses is kept, not
     * an error: no fields, its whole raw text the body (so text/plain, or
     * message/rfc822 in a digest), HD_MIME_BAD_HEADER set. */
    bool lax_part_headers;
} hd_mime_limits;

typedef struct hd_mime hd_mime; /* opaque; borrows the raw bytes */

/* Walk raw (limits may be NULL). Errors: HD_ELIMIT (depth, parts, header
 * sizes), HD_ESYNTAX (a part header hd_msg_parse refuses), each with the
 * byte offset of the part. */
int hd_mime_parse(hd_slice raw, const hd_mime_limits *limits, hd_mime **out, hd_err *err);
void hd_mime_free(hd_mime *m);

/* Parts in depth-first pre-order: 0 is the message itself, a part's
 * children follow it. */
size_t hd_mime_nparts(const hd_mime *m);
const hd_mime_part *hd_mime_part_at(const hd_mime *m, size_t i);
/* The part's header fields (hd_msg_find and friends). */
const hd_msg *hd_mime_part_header(const hd_mime *m, size_t i);
/* Index of the first part at or after from whose type matches, or
 * (size_t)-1. */
size_t hd_mime_find(const hd_mime *m, const char *type, const char *subtype, size_t from);
unsigned hd_mime_flags(const hd_mime *m);

/* Decode a part's body by its Content-Transfer-Encoding, appending to out:
 * base64 and quoted-printable are decoded, 7bit/8bit/binary copied;
 * anything else is HD_EUNSUPPORTED. HD_ELIMIT past out's cap. */
int hd_mime_decode(const hd_mime_part *part, hd_buf *out, hd_err *err);
/* RFC 2045 §6.8: characters outside the alphabet are ignored, decoding
 * stops at '='; a lone trailing sextet is HD_ESYNTAX with its offset. */
int hd_mime_decode_base64(hd_slice in, hd_buf *out, hd_err *err);
/* RFC 2045 §6.7: =XX octets, soft line breaks, trailing whitespace
 * dropped; a malformed '=' is kept as it is (the robust reading). */
int hd_mime_decode_qp(hd_slice in, hd_buf *out, hd_err *err);

#endif
