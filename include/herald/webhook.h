/*
 * herald/webhook.h - what a webhook request carries: the JSON body of one
 * event and the Herald-Signature header that authenticates it.
 *
 * The signature is Stripe's scheme: the header is
 *     Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 * A receiver recomputes the HMAC over the timestamp, a '.', and the raw
 * body, compares it in constant time, and refuses a timestamp too far from
 * its clock (a replayed request). Several v1= entries may be given (one
 * per secret while a secret is being changed); one match is enough.
 *
 * Pure functions: the caller gives the time. docs/webhooks.md is the
 * receiver's side of this.
 */
#ifndef HERALD_WEBHOOK_H
#define HERALD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <herald/buf.h>
#include <herald/err.h>
#include <herald/store.h>

/* A secret shorter than this is refused (it is typed by people, so count
 * 32 characters rather than 256 bits). */
#define HD_WEBHOOK_SECRET_MIN 32
#define HD_WEBHOOK_SECRET_MAX 4096
/* "t=<20 digits>,v1=<64 hex>" and a NUL, with room. */
#define HD_WEBHOOK_SIG_MAX 128
/* A header longer than this is refused unread (it would hold more
 * signatures than anyone rotates through). */
#define HD_WEBHOOK_HEADER_MAX 4096
/* The tolerance of hd_webhook_verify() receivers are told to use. */
#define HD_WEBHOOK_TOLERANCE_S 300

/* The JSON body for event e of a message from domain (NULL or "" when the
 * event has no message): one object, keys in a fixed order, fields that
 * are empty left out, detail embedded as JSON when it parses (else as a
 * string). Replaces out's contents. HD_ENOMEM, HD_ELIMIT (out's cap). */
int hd_webhook_payload(const hd_store_event *e, const char *domain, hd_buf *out, hd_err *err);
/* The same object as a jansson value, for the places that embed events
 * in a larger document (the API's lists, queue show --json); NULL when
 * out of memory. The caller owns it. */
json_t *hd_webhook_event_json(const hd_store_event *e, const char *domain);

/* The Herald-Signature value for body at time t, into out
 * (HD_WEBHOOK_SIG_MAX bytes). HD_EINVAL for a bad secret length. */
int hd_webhook_sign(const uint8_t *secret, size_t secret_len, int64_t t, hd_slice body,
                    char *out, size_t size, hd_err *err);

/* Checks a Herald-Signature header against body: HD_ESYNTAX for a header
 * that does not parse (err says where), HD_EINVAL for a timestamp more
 * than tolerance seconds from now (either way) or no v1 signature that
 * matches. 0 when authentic. */
int hd_webhook_verify(const uint8_t *secret, size_t secret_len, hd_slice header, hd_slice body,
                      int64_t now, int64_t tolerance, hd_err *err);

#endif
