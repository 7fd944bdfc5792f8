/*
 * herald/store.h - the repository layer: herald's state in SQLite (WAL).
 *
 * One database file, data_dir/herald.db (0600), holds the sending domains
 * and their DKIM keys, submission users, the queue's message and recipient
 * rows, events, suppressions and sandbox captures (schema: src/store/
 * schema.sql). The server and the CLI may have it open at the same time;
 * writers wait up to a few seconds for each other (busy timeout).
 *
 * An hd_store is one connection: use it from one thread at a time.
 * Strings handed in are borrowed; rows handed out are filled into
 * caller-owned structs with fixed-size fields.
 */
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/buf.h"
#include "herald/err.h"

typedef struct hd_store hd_store; /* opaque */

/* Opens (creating if needed, mode 0600) the database at path, applies the
 * schema, turns on WAL and foreign keys. durable: synchronous=FULL (every
 * commit reaches the disk before it returns), else NORMAL. */
int hd_store_open(const char *path, bool durable, hd_store **out, hd_err *err);
void hd_store_close(hd_store *st);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). */
int hd_store_begin(hd_store *st, hd_err *err);
int hd_store_commit(hd_store *st, hd_err *err);
void hd_store_rollback(hd_store *st);

/* ---- domains, DKIM keys, users (src/store/domains.c, users.c) ---- */

#define HD_STORE_NAME_MAX 256
#define HD_STORE_PATH_MAX 1024

typedef struct hd_store_domain {
    char name[HD_STORE_NAME_MAX];
    char bounce_domain[HD_STORE_NAME_MAX];
    int64_t created;
} hd_store_domain;

typedef enum hd_store_key_state {
    HD_STORE_KEY_ACTIVE,   /* signs and is published */
    HD_STORE_KEY_RETIRING, /* no longer signs; stays published until retire_at */
    HD_STORE_KEY_RETIRED,  /* may be removed from DNS */
} hd_store_key_state;

typedef struct hd_store_key {
    int64_t id;
    char domain[HD_STORE_NAME_MAX];
    char selector[64];
    char alg[16];                   /* "rsa" | "ed25519" */
    char path[HD_STORE_PATH_MAX];   /* private key file */
    char *public_b64;               /* owned: free() it (hd_store_key_clear) */
    hd_store_key_state state;
    int64_t created;
    int64_t retire_at;              /* 0 when not retiring */
} hd_store_key;

void hd_store_key_clear(hd_store_key *k);

/* HD_EINVAL if the domain already exists. */
int hd_store_domain_add(hd_store *st, const hd_store_domain *d, hd_err *err);
/* HD_ENOTFOUND if absent. */
int hd_store_domain_get(hd_store *st, const char *name, hd_store_domain *out, hd_err *err);
/* Removes the domain and its key rows (not the key files). */
int hd_store_domain_remove(hd_store *st, const char *name, hd_err *err);
/* Calls fn for each domain in name order; fn returning non-zero stops. */
int hd_store_domain_each(hd_store *st, int (*fn)(const hd_store_domain *d, void *arg),
                         void *arg, hd_err *err);

/* Fills k->id on success. */
int hd_store_key_add(hd_store *st, hd_store_key *k, hd_err *err);
/* Every key of a domain (any state), oldest first. */
int hd_store_key_each(hd_store *st, const char *domain,
                      int (*fn)(const hd_store_key *k, void *arg), void *arg, hd_err *err);
int hd_store_key_set_state(hd_store *st, int64_t id, hd_store_key_state state,
                           int64_t retire_at, hd_err *err);

typedef struct hd_store_user {
    char name[HD_STORE_NAME_MAX];
    char pwhash[256];
    char domains[1024];             /* space-separated, or "*" */
    int64_t created;
} hd_store_user;

int hd_store_user_add(hd_store *st, const hd_store_user *u, hd_err *err);
int hd_store_user_get(hd_store *st, const char *name, hd_store_user *out, hd_err *err);
int hd_store_user_remove(hd_store *st, const char *name, hd_err *err);
int hd_store_user_each(hd_store *st, int (*fn)(const hd_store_user *u, void *arg),
                       void *arg, hd_err *err);

/* ---- queue, events, suppressions, captures (src/store/queue.c) ---- */

#endif
