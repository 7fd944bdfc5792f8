/*
 * dkim_keyrec.h - parsed DKIM key records and their cache (module-internal).
 */
#ifndef HERALD_DKIM_KEYREC_H
#define HERALD_DKIM_KEYREC_H

#include "auth/dkim/dkim_int.h"

typedef struct dkim_keyrec {
    int refs;
    hd_dkim_reason code;  /* HD_DKIM_R_OK when usable (or revoked) */
    char why[200];        /* when code != OK */
    hd_key_type type;     /* k= */
    hd_key *key;          /* NULL when revoked or unusable */
    bool revoked;         /* empty p= */
    bool allow_sha256, allow_sha1; /* h= */
    bool service_email;   /* s= includes email or * */
    bool testing, strict; /* t=y, t=s */
    unsigned bits;
    uint32_t ttl;
} dkim_keyrec;

/* Parse a key record's text; never NULL except out of memory. */
dkim_keyrec *dkim_keyrec_parse(hd_slice txt);
/* From a DNS answer for name (which appears in reasons). */
dkim_keyrec *dkim_keyrec_from_answer(const hd_dns_answer *ans, const char *name);
void dkim_keyrec_release(dkim_keyrec *k);

/* A new reference to a fresh cached record, or NULL. */
dkim_keyrec *dkim_keycache_get(hd_dkim_keycache *c, const char *name, int64_t now);
/* Store rec (the cache takes its own reference). */
void dkim_keycache_put(hd_dkim_keycache *c, const char *name, dkim_keyrec *rec, int64_t now);

#endif
