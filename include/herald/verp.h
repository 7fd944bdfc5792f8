/*
 * herald/verp.h - the envelope sender of herald's mail: a VERP-style
 * address at the domain's bounce domain, b-<id>-<mac>@bounce.example.com,
 * that names the message or one recipient of it (id) and proves herald
 * made it (mac: the first 10 bytes of HMAC-SHA256(key, id), base32).
 * Bounces come back to it, so
 * the bounce domain must be the domain's own for SPF to align (RFC 7489
 * §3.1.2, relaxed alignment).
 */
#ifndef HERALD_VERP_H
#define HERALD_VERP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/err.h>

#define HD_VERP_KEY_LEN 32
#define HD_VERP_ID_MAX 40

/* Writes the address into out. id: [0-9a-z]{1,40}. */
int hd_verp_encode(const uint8_t key[HD_VERP_KEY_LEN], const char *id, const char *bounce_domain,
                   char *out, size_t size, hd_err *err);

/* Per-recipient ids: "r" + the recipient's row id in base 36. A message
 * id (32 hex digits) never starts with 'r', so the two cannot be confused.
 * Writes at most 15 bytes with the NUL. */
void hd_verp_rcpt_id(int64_t rcpt, char out[HD_VERP_ID_MAX + 1]);
/* The row id of a per-recipient id; false when id is not one. */
bool hd_verp_rcpt_parse(const char *id, int64_t *rcpt);

/* Checks a local part "b-<id>-<mac>" (case-insensitive) and copies the id
 * out: HD_ESYNTAX when it is not of that form, HD_EINVAL when the mac does
 * not match (a forged or damaged address). */
int hd_verp_decode(const uint8_t key[HD_VERP_KEY_LEN], const char *local_part,
                   char id[HD_VERP_ID_MAX + 1], hd_err *err);

#endif
