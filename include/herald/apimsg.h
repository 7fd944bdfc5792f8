/*
 * herald/apimsg.h - the body of the HTTP API's POST /v1/messages (JSON)
 * read into an envelope and a message (docs/api.md).
 *
 * Pure: no I/O, no clock. Two forms:
 *   - structured: from, to, cc, bcc, reply_to, subject, text, html,
 *     headers, attachments → composed with hd_compose();
 *   - raw: "raw" (the message as a UTF-8 string) or "raw_base64", sent as
 *     it is, to the envelope given by to, cc and bcc.
 * Both may carry tags and pool. An address is "local@domain" or
 * {"address": ..., "name": ...}; a list may be one address or an array.
 *
 * Every refusal names the field and the reason: "to[2].address: ...",
 * "attachments[0].content: not base64 at byte 17". Unknown fields are
 * refused (a misspelt "bcc" must not go unnoticed). JSON errors give the
 * line, column and byte of the input.
 */
#ifndef HERALD_APIMSG_H
#define HERALD_APIMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

#define HD_APIMSG_MAX_TAGS 10
#define HD_APIMSG_TAG_MAX 64      /* bytes of one tag: [A-Za-z0-9_.:-] */
#define HD_APIMSG_POOL_MAX 63

typedef struct hd_apimsg_opts {
    int64_t now;              /* Date of a composed message */
    const char *unique;       /* the queue id: MIME boundaries (see hd_compose) */
    size_t max_bytes;         /* cap on the message (composed or raw) */
    size_t max_recipients;    /* to + cc + bcc */
} hd_apimsg_opts;

typedef struct hd_apimsg {
    char **rcpts;             /* envelope: to, cc, bcc, in that order, duplicates removed */
    size_t n_rcpts;
    hd_buf message;           /* CRLF line ends */
    bool raw;                 /* given raw, not composed */
    bool eight_bit;           /* the message has bytes over 127 */
    char tags[HD_APIMSG_MAX_TAGS * (HD_APIMSG_TAG_MAX + 4) + 4]; /* JSON array text, or "" */
    char pool[HD_APIMSG_POOL_MAX + 1];   /* or "" */
} hd_apimsg;

/* Read body into out (zeroed first; free it with hd_apimsg_free() whatever
 * the result). HD_ESYNTAX: not JSON; HD_EINVAL / HD_ELIMIT /
 * HD_EUNSUPPORTED: a field is wrong (err names it). */
int hd_apimsg_parse(hd_slice body, const hd_apimsg_opts *opts, hd_apimsg *out, hd_err *err);
void hd_apimsg_free(hd_apimsg *m);

#endif
