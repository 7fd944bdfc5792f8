/*
 * herald/submit.h - what a message submission agent does to a message it
 * accepts (RFC 6409 §8), before signing: find the author domain, and add
 * the Message-ID and Date fields when they are missing.
 *
 * Pure: the time and the id to use are given.
 */
#ifndef HERALD_SUBMIT_H
#define HERALD_SUBMIT_H

#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

typedef struct hd_submit_opts {
    const char *hostname;  /* right side of a new Message-ID */
    const char *id;        /* left side of a new Message-ID (the queue id) */
    int64_t now;           /* for a new Date, Unix seconds (UTC) */
} hd_submit_opts;

typedef struct hd_submit_info {
    char from_domain[256]; /* the From address's domain, lower case */
    char message_id[1000]; /* the Message-ID value, with angle brackets */
    hd_buf added;          /* fields to put in front of the message (CRLF each); free with hd_submit_info_free */
} hd_submit_info;

/* HD_ESYNTAX with the reason when the message cannot be submitted: no
 * header, no From field, several From fields, a From with no or several
 * mailboxes, an address-literal domain, a malformed header. */
int hd_submit_prepare(hd_slice msg, const hd_submit_opts *opts, hd_submit_info *out, hd_err *err);
void hd_submit_info_free(hd_submit_info *info);

#endif
