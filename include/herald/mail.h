/*
 * herald/mail.h - RFC 5322 message header parsing on raw bytes, and
 * address parsing.
 *
 * The parser never copies or re-serializes what it parses: every field is
 * a set of slices into the caller's bytes (which must outlive the hd_msg),
 * so what a signer or verifier hashes is exactly what arrived.
 *
 * Accepted: CRLF and bare-LF line ends (mixed), folded fields, obsolete
 * syntax (RFC 5322 §4: WSP before the colon, empty fields), 8-bit bytes.
 * Refused with HD_ESYNTAX and "line N: reason": a header line that is
 * neither a field nor a continuation, a continuation before any field, a
 * NUL byte in the header. Limits refuse with HD_ELIMIT.
 */
#ifndef HERALD_MAIL_H
#define HERALD_MAIL_H

#include <stdbool.h>
#include <stddef.h>

#include <herald/buf.h>
#include <herald/err.h>

typedef struct hd_hdr_field {
    hd_slice name;   /* the field name, without WSP before the colon */
    hd_slice value;  /* after the colon up to (not including) the final
                      * line end; inner folding line ends kept */
    hd_slice raw;    /* from the name's first byte to (not including) the
                      * final line end */
    size_t raw_eol;  /* length of raw plus its final line end (0, 1 or 2) */
    size_t line;     /* 1-based line number of the field's first line */
} hd_hdr_field;

/* Facts the parser noticed, as bits of hd_msg_flags(). */
enum {
    HD_MSG_BARE_LF = 1u << 0,     /* a line ended with LF alone */
    HD_MSG_BARE_CR = 1u << 1,     /* a CR not followed by LF, anywhere */
    HD_MSG_8BIT_HEADER = 1u << 2, /* a header byte >= 0x80 */
    HD_MSG_OBS_SYNTAX = 1u << 3,  /* WSP before a colon, or similar */
    HD_MSG_NO_BODY = 1u << 4,     /* no empty line: header only */
};

typedef struct hd_msg_limits {
    size_t max_fields;       /* 0: HD_LIMIT_HEADER_FIELDS */
    size_t max_field_bytes;  /* 0: HD_LIMIT_HEADER_FIELD_BYTES */
    size_t max_header_bytes; /* 0: HD_LIMIT_HEADER_BYTES */
    bool header_only;        /* skip the body's line-end scan: for readers of
                              * header fields only (HD_MSG_BARE_LF/CR then
                              * describe the header alone) */
} hd_msg_limits;

typedef struct hd_msg hd_msg; /* opaque; borrows the raw bytes */

/* Parse the header section of raw (limits may be NULL for defaults). */
int hd_msg_parse(hd_slice raw, const hd_msg_limits *limits, hd_msg **out, hd_err *err);
void hd_msg_free(hd_msg *msg);

size_t hd_msg_nfields(const hd_msg *msg);
const hd_hdr_field *hd_msg_field(const hd_msg *msg, size_t i); /* top first */
/* Index of the first field named name (case-insensitive) at or after
 * index from, or (size_t)-1. */
size_t hd_msg_find(const hd_msg *msg, const char *name, size_t from);
/* How many fields carry this name. */
size_t hd_msg_count(const hd_msg *msg, const char *name);
/* The body: the bytes after the empty line that ends the header (empty
 * when there is none). */
hd_slice hd_msg_body(const hd_msg *msg);
size_t hd_msg_body_offset(const hd_msg *msg);
unsigned hd_msg_flags(const hd_msg *msg);

/* Line ends: true when raw has a bare LF (an LF not preceded by CR). */
bool hd_mail_has_bare_lf(hd_slice raw);
/* Append raw to out with every bare LF turned into CRLF (CRLF and bare CR
 * are left alone). A file with LF line ends and the same file with CRLF
 * then give the same bytes. */
int hd_mail_to_crlf(hd_slice raw, hd_buf *out);

/* RFC 5322 §3.3 date-time for t (Unix seconds, UTC), written out so no
 * locale can change it: "Fri, 27 Nov 2026 05:08:55 +0000". A time gmtime
 * cannot represent, or outside the years 0-9999, gives the epoch. */
void hd_mail_date(int64_t t, char out[40]);

/* Addresses (RFC 5322 §3.4) ---------------------------------------------- */

typedef struct hd_addr {
    char *display; /* display name, quotes and comments removed, unfolded; or NULL */
    char *local;   /* local part as written (a quoted local part keeps its quotes) */
    char *domain;  /* domain as written, or a domain literal "[192.0.2.1]" */
    char *group;   /* the group's display name when inside one, else NULL */
} hd_addr;

typedef struct hd_addr_list {
    hd_addr *v;
    size_t n;
    bool had_group; /* group syntax appeared (RFC 5322 §3.4) */
} hd_addr_list;

/* Parse an address-list / mailbox-list field value (From, To, Cc,
 * Reply-To, Sender). Comments, display names, quoted local parts, groups,
 * obsolete routes and folding are understood. HD_ESYNTAX says at which
 * byte the value went wrong. */
int hd_addr_parse_list(hd_slice value, hd_addr_list *out, hd_err *err);
void hd_addr_list_free(hd_addr_list *list);

/* The From field as DMARC and DKIM need it (RFC 5322 §3.6.2, RFC 7489
 * §6.6.1): exactly one address wanted. Parses value into out; sets
 * *multiple when it holds more than one mailbox (which a caller must
 * flag), and fails with HD_ESYNTAX when it holds none. */
int hd_addr_parse_from(hd_slice value, hd_addr_list *out, bool *multiple, hd_err *err);

#endif
