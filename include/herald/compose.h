/*
 * herald/compose.h - compose a structured message (what POST /v1/messages
 * receives: from, to, cc, reply_to, subject, text, html, headers,
 * attachments) into an RFC 5322 / MIME message.
 *
 * Pure: no I/O, no clock, no randomness. The time and a unique string (the
 * queue id, or random) are given, so the same input gives the same bytes.
 *
 * What comes out: CRLF line ends; 7-bit ASCII only; header lines folded at
 * 78 characters where a fold is possible and never over 998 (RFC 5322
 * §2.1.1); non-ASCII display names, Subject and custom header values as
 * RFC 2047 encoded words (UTF-8, B or Q, whichever is shorter, never
 * splitting a character); non-ASCII or long attachment file names as RFC
 * 2231 filename*= with an RFC 2047 name= fallback; text parts as
 * charset=utf-8, 7bit when pure ASCII with short lines, else
 * quoted-printable; attachments base64 in 76-character lines.
 *
 * Structure: text → text/plain; html → text/html; both →
 * multipart/alternative (text first); inline attachments (content_id set)
 * with html → multipart/related around the html; other attachments →
 * multipart/mixed around all that. With neither text nor html nor
 * attachments the body is an empty text/plain.
 *
 * Refused, with an error naming the field ("to[2].address: ..."): CR, LF,
 * NUL or other control characters in any header-bound field (header
 * injection), strings that are not UTF-8, malformed or over-long addresses
 * (RFC 5321 §4.5.3.1), non-ASCII addresses (SMTPUTF8 is not supported yet:
 * HD_EUNSUPPORTED), custom headers herald writes itself, counts and sizes
 * over the limits below (HD_ELIMIT). Bcc recipients are never given here:
 * they belong in the envelope only.
 */
#ifndef HERALD_COMPOSE_H
#define HERALD_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

/* To + Cc + Reply-To addresses in one message (HD_LIMIT_ADDRESSES). */
#define HD_COMPOSE_MAX_ADDRESSES 1000
#define HD_COMPOSE_MAX_ATTACHMENTS 100
#define HD_COMPOSE_MAX_HEADERS 100
/* Bytes of a display name, a subject, a custom header value, a file name:
 * far above real use, and it keeps every folded field small. */
#define HD_COMPOSE_MAX_NAME 512
#define HD_COMPOSE_MAX_SUBJECT 4096
#define HD_COMPOSE_MAX_HEADER_VALUE 4096
#define HD_COMPOSE_MAX_FILENAME 255
/* Default cap on the composed message (HD_LIMIT_MESSAGE_BYTES). */
#define HD_COMPOSE_MAX_BYTES (64u * 1024 * 1024)

typedef struct hd_compose_addr {
    const char *name;    /* display name, UTF-8, or NULL */
    const char *address; /* local@domain, ASCII (RFC 5321 limits) */
} hd_compose_addr;

typedef struct hd_compose_attachment {
    const char *filename;     /* UTF-8, or NULL */
    const char *content_type; /* "type/subtype" (no parameters); NULL: application/octet-stream */
    hd_slice data;            /* the raw bytes (the caller decoded the API's base64) */
    const char *content_id;   /* set: an inline part ("cid:" in the html), without <> */
} hd_compose_attachment;

typedef struct hd_compose_header {
    const char *name;  /* RFC 5322 ftext, not one herald writes itself */
    const char *value; /* UTF-8, no CR/LF; non-ASCII is encoded */
} hd_compose_header;

typedef struct hd_compose_msg {
    hd_compose_addr from;
    const hd_compose_addr *to, *cc, *reply_to;
    size_t n_to, n_cc, n_reply_to;
    const char *subject;  /* UTF-8, or NULL for no Subject field */
    hd_slice text, html;  /* UTF-8; p == NULL: no such part. Line ends
                           * (LF, CR, CRLF) become CRLF. */
    const hd_compose_header *headers;
    size_t n_headers;
    const hd_compose_attachment *att;
    size_t n_att;
    int64_t now;          /* Date, Unix seconds UTC */
    /* Required: unique to this message, 1-40 of [A-Za-z0-9._-]. It seeds
     * the MIME boundaries and is the left side of a generated Message-ID. */
    const char *unique;
    /* Set: write Message-ID: <unique@message_id_domain>. NULL: no
     * Message-ID (hd_submit_prepare adds one from the queue id later). */
    const char *message_id_domain;
    size_t max_bytes;     /* cap on the output; 0: HD_COMPOSE_MAX_BYTES */
} hd_compose_msg;

/* Check one address as hd_compose() checks every address (envelope-only
 * recipients such as Bcc go through here); field names it in the error. */
int hd_compose_check_address(const char *field, const char *address, hd_err *err);

/* Append the composed message to out. On error out is left as it was
 * and err names the field and the reason: HD_EINVAL (bad field),
 * HD_EUNSUPPORTED (non-ASCII address), HD_ELIMIT, HD_ENOMEM. */
int hd_compose(const hd_compose_msg *m, hd_buf *out, hd_err *err);

#endif
