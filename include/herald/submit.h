/*
 * herald/submit.h - what a message submission agent does to a message it
 * accepts (RFC 6409 §8), before signing: find the author domain, add the
 * Message-ID and Date fields when they are missing, and take out the
 * fields no recipient may see or that only the last hop writes (Bcc,
 * Resent-Bcc, Return-Path, Content-Length; as Postfix's cleanup does by
 * default, message_drop_headers); and, as a signer should (RFC 6376
 * §5.3), re-encode its 8-bit MIME parts to quoted-printable or base64, so
 * the signed bytes can cross a hop without 8BITMIME (RFC 6152 §3)
 * unchanged (mime7.h).
 *
 * Pure: the time and the id to use are given.
 */
#ifndef HERALD_SUBMIT_H
#define HERALD_SUBMIT_H

#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>
#include <herald/mime7.h>

typedef struct hd_submit_opts {
    const char *hostname;  /* right side of a new Message-ID */
    const char *id;        /* left side of a new Message-ID (the queue id) */
    int64_t now;           /* for a new Date, Unix seconds (UTC) */
} hd_submit_opts;

/* Fields taken out of one message at most; a message with more is refused. */
#define HD_SUBMIT_DROP_MAX 64

typedef struct hd_submit_info {
    char from_domain[256]; /* the From address's domain, lower case */
    char message_id[1000]; /* the Message-ID value, with angle brackets */
    hd_buf added;          /* fields to put in front of the message (CRLF each); free with hd_submit_info_free */
    struct {
        size_t off, len;   /* a whole field, line end included, in the message */
    } drop[HD_SUBMIT_DROP_MAX];
    size_t ndrop;          /* in message order */
} hd_submit_info;

/* HD_ESYNTAX with the reason when the message cannot be submitted: no
 * header, no From field, several From fields, a From with no or several
 * mailboxes, an address-literal domain, a malformed header; HD_ELIMIT
 * with more than HD_SUBMIT_DROP_MAX fields to take out. */
int hd_submit_prepare(hd_slice msg, const hd_submit_opts *opts, hd_submit_info *out, hd_err *err);
/* Append the message as it leaves: info->added, then msg without the
 * fields to drop, its 8-bit parts re-encoded (hd_mime7_convert; a 7-bit
 * message is copied as it is). rep (may be NULL) says what was
 * re-encoded and whether, and why, the result is still 8-bit: the
 * message must then go with BODY=8BITMIME or not at all. msg must be the
 * one given to hd_submit_prepare. HD_ENOMEM, HD_ELIMIT past out's cap
 * (re-encoding makes a body longer: HD_MIME7_GROWTH in mime7.h). */
int hd_submit_write(hd_slice msg, const hd_submit_info *info, hd_buf *out, hd_mime7_report *rep);
void hd_submit_info_free(hd_submit_info *info);

#endif
