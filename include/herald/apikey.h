/*
 * herald/apikey.h - keys for the HTTP API (issue 6): bearer tokens of the
 * form hk_<id>_<secret>, scoped to sending domains.
 *
 * The id (16 hex digits) names the key in lists and logs; the secret (256
 * random bits, base32) is shown once, at creation, and only its SHA-256 is
 * stored. A token of that much entropy needs no slow hash: nobody can
 * guess its preimage, and verifying stays cheap for every request.
 */
#ifndef HERALD_APIKEY_H
#define HERALD_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/err.h>
#include <herald/store.h>

#define HD_APIKEY_TOKEN_MAX 80   /* "hk_" + 16 + "_" + 52, with room */

/* Create a key named name (1-64 of [A-Za-z0-9._-]) for domains ("*" or
 * space-separated sending domains, each of which must exist); the token
 * goes to token (at least HD_APIKEY_TOKEN_MAX bytes). */
int hd_apikey_create(hd_store *st, const char *name, const char *domains, int64_t now,
                     char *token, size_t size, hd_err *err);

/* Check a bearer token: 0 and the key in *out when it is a key in force;
 * HD_EINVAL "invalid API key" otherwise (the same answer for a malformed,
 * unknown, wrong or revoked token). */
int hd_apikey_verify(hd_store *st, const char *token, hd_store_apikey *out, hd_err *err);

/* Whether the key may send as domain. */
bool hd_apikey_allows(const hd_store_apikey *k, const char *domain);

#endif
