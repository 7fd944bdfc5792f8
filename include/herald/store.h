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

#include <herald/buf.h>
#include <herald/err.h>

typedef struct hd_store hd_store; /* opaque */

/* Opens (creating if needed, mode 0600) the database at path, applies the
 * schema, turns on WAL and foreign keys. durable: synchronous=FULL (every
 * commit reaches the disk before it returns), else NORMAL. */
int hd_store_open(const char *path, bool durable, hd_store **out, hd_err *err);
/* Opens an existing database for reading only: nothing is created,
 * changed or upgraded, no -wal or -shm file is made when no writer has it
 * open, and a user who may only read the files (not write the directory)
 * can read it, whether the server runs or not. Both opens: HD_ENOTFOUND
 * (this one) when the file does not exist, HD_EPERM when it, its -wal or
 * -shm file or its directory is closed to this user, HD_EIO otherwise
 * (not a database, ...); the message names the file. Without a writer
 * the file is read as it stood at the open: to follow changes (a server
 * that starts later), open it again. */
int hd_store_open_readonly(const char *path, hd_store **out, hd_err *err);
/* The version of the SQLite library the program runs with ("3.40.1"). */
const char *hd_store_sqlite_version(void);
void hd_store_close(hd_store *st);

/* Transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). */
int hd_store_begin(hd_store *st, hd_err *err);
int hd_store_commit(hd_store *st, hd_err *err);
void hd_store_rollback(hd_store *st);
/* A small write transaction (one meta row), committed: proof that the
 * database can be written again (the committer's test before deliveries
 * resume after a failed write). */
int hd_store_probe_write(hd_store *st, int64_t now, hd_err *err);

/* ---- domains, DKIM keys, users (src/store/domains.c, users.c) ---- */

#define HD_STORE_NAME_MAX 256
#define HD_STORE_PATH_MAX 1024

typedef struct hd_store_domain {
    char name[HD_STORE_NAME_MAX];
    char bounce_domain[HD_STORE_NAME_MAX];
    char hostname[HD_STORE_NAME_MAX];   /* the server's name given at add (the
                                         * bounce MX); "" when none was stored */
    int64_t created;
} hd_store_domain;

typedef enum hd_store_key_state {
    HD_STORE_KEY_ACTIVE,   /* signs and is published */
    HD_STORE_KEY_RETIRING, /* no longer signs; stays published until retire_at */
    HD_STORE_KEY_RETIRED,  /* may be removed from DNS */
    HD_STORE_KEY_PENDING,  /* made by a rotation: published, not yet seen in
                            * the DNS, so it does not sign yet */
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
    int64_t activated;              /* when it became active; 0: at creation, or not yet */
    uint32_t grace;                 /* pending: how long the keys it replaces stay
                                     * published once it is active (seconds) */
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
/* A pending key becomes active, activated = now. HD_ESTATE when it is not
 * pending (any more), HD_ENOTFOUND when there is no such key. */
int hd_store_key_activate(hd_store *st, int64_t id, int64_t now, hd_err *err);

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

/* ---- HTTP API keys (src/store/apikeys.c) ---- */

typedef struct hd_store_apikey {
    char id[32];                    /* public part of the key */
    char name[HD_STORE_NAME_MAX];
    char secret_hash[65];           /* hex SHA-256 of the secret */
    char domains[1024];             /* space-separated, or "*" */
    int64_t created;
    int64_t revoked;                /* 0 when in force */
} hd_store_apikey;

/* HD_EINVAL if the id or the name exists. */
int hd_store_apikey_add(hd_store *st, const hd_store_apikey *k, hd_err *err);
/* By id; HD_ENOTFOUND if absent. */
int hd_store_apikey_get(hd_store *st, const char *id, hd_store_apikey *out, hd_err *err);
/* Revoke by name or id; HD_ENOTFOUND if no key in force has it. */
int hd_store_apikey_revoke(hd_store *st, const char *name_or_id, int64_t now, hd_err *err);
int hd_store_apikey_each(hd_store *st, int (*fn)(const hd_store_apikey *k, void *arg), void *arg,
                         hd_err *err);

/* ---- queue, events, suppressions, captures (src/store/queue.c) ---- */

#define HD_STORE_ADDR_MAX 512
#define HD_STORE_TEXT_MAX 1024

typedef enum hd_rcpt_state {
    HD_RCPT_QUEUED,
    HD_RCPT_DELIVERED,
    HD_RCPT_BOUNCED,
    HD_RCPT_EXPIRED,
    HD_RCPT_SUPPRESSED,
    HD_RCPT_DELETED,
    HD_RCPT_CORRUPT,    /* its spool bytes were damaged; moved aside */
    HD_RCPT_CAPTURED,   /* kept by the sandbox with its verdict; never sent */
} hd_rcpt_state;

const char *hd_rcpt_state_name(hd_rcpt_state s);   /* "queued", ... */
int hd_rcpt_state_parse(const char *name, hd_rcpt_state *out);

#define HD_MSG_8BIT 1u
#define HD_MSG_SMTPUTF8 2u

typedef struct hd_store_message {
    int64_t id;                         /* rowid; set by insert */
    char uuid[40];                      /* public queue id */
    int64_t segment;                    /* 0 once released */
    int64_t offset;
    int64_t length;
    uint32_t crc;
    char mail_from[HD_STORE_ADDR_MAX];  /* envelope sender (VERP) */
    char from_domain[HD_STORE_NAME_MAX];
    char message_id[HD_STORE_TEXT_MAX];
    char submitter[HD_STORE_NAME_MAX];
    int64_t received_at;
    int64_t expires_at;
    unsigned flags;                     /* HD_MSG_* */
    char pool[64];                      /* source-address pool chosen for it, or "" */
    char tags[HD_STORE_TEXT_MAX];       /* JSON array of strings (API tags), or "" */
} hd_store_message;

typedef struct hd_store_recipient {
    int64_t id;
    int64_t message;
    char address[HD_STORE_ADDR_MAX];
    char domain[HD_STORE_NAME_MAX];
    hd_rcpt_state state;
    int attempts;
    int64_t next_attempt;
    char last_reply[HD_STORE_TEXT_MAX];
    int64_t updated_at;
    char mail_from[HD_STORE_ADDR_MAX];  /* the envelope sender of its last attempt
                                         * (per-recipient VERP), "" before any */
} hd_store_recipient;

int hd_store_message_insert(hd_store *st, hd_store_message *m, hd_err *err);
int hd_store_message_get(hd_store *st, const char *uuid, hd_store_message *out, hd_err *err);
/* By row id; HD_ENOTFOUND when there is none. */
int hd_store_message_get_id(hd_store *st, int64_t id, hd_store_message *out, hd_err *err);
/* The message's bytes are gone from the spool (every recipient final). */
int hd_store_message_release(hd_store *st, int64_t id, hd_err *err);
/* Whether the message whose uuid begins with prefix (the spool's 16-byte
 * record id) is recorded here and finished (no recipient still queued,
 * released or not: the test prune uses): 1 yes, 0 unknown
 * or still queued (no proof), negative on a database error. */
int hd_store_message_finished(hd_store *st, const char *prefix, hd_err *err);
/* The spool offset of the last-appended message released from segment
 * (-1 when none; segment 0: how many segments have such a mark, the
 * database's history of released mail). A message of that segment at a
 * lower offset that is no longer recorded was pruned, not lost. */
int hd_store_segment_released(hd_store *st, uint32_t segment, int64_t *out, hd_err *err);
/* The highest spool segment number any row here refers to (messages,
 * segment_released; 0 when none): the floor of hd_spool_open, so that a
 * new segment never takes a number these rows already mean. */
int hd_store_segment_highest(hd_store *st, uint32_t *out, hd_err *err);
/* Whether a message whose uuid begins with prefix is recorded here at all
 * (any state): 1 yes, 0 no, negative on a database error. */
int hd_store_message_known(hd_store *st, const char *prefix, hd_err *err);
/* Rows in messages (0: a new or emptied database). */
int hd_store_message_count(hd_store *st, int64_t *out, hd_err *err);
/* PRAGMA quick_check: 0 when the file is sound; else HD_ESTATE with the
 * first problem SQLite names ("database damaged: ..."). */
int hd_store_quick_check(hd_store *st, hd_err *err);

int hd_store_recipient_insert(hd_store *st, hd_store_recipient *r, hd_err *err);
/* Writes state, attempts, next_attempt, last_reply, updated_at of r->id,
 * and mail_from unless it is "" (the one stored is kept). */
int hd_store_recipient_update(hd_store *st, const hd_store_recipient *r, hd_err *err);
/* One recipient by row id; HD_ENOTFOUND when there is none. */
int hd_store_recipient_get(hd_store *st, int64_t id, hd_store_recipient *out, hd_err *err);
int hd_store_recipient_each(hd_store *st, int64_t message,
                            int (*fn)(const hd_store_recipient *r, void *arg), void *arg,
                            hd_err *err);

/* Every message that still holds spool bytes, with its queued recipients,
 * in message order (loading the queue at start). fn gets a message with
 * its queued recipients, at most 1024 at a time: a message with more comes
 * in several calls, in order. */
int hd_store_queue_each(hd_store *st,
                        int (*fn)(const hd_store_message *m, const hd_store_recipient *r,
                                  size_t n, void *arg),
                        void *arg, hd_err *err);

/* The event types: one table for the server that writes events, the
 * webhook filter ([webhook] events), GET /v1/events?type= and the CLI.
 * The events table stores the name (src/store/event_type.c).
 * X(ID, name, explicit): the explicit types are the reports matched by
 * Message-ID alone (forgeable), which a webhook endpoint gets only when it
 * names them. */
#define HD_EVENT_TYPES(X)                                   \
    X(ACCEPTED, "accepted", false)                          \
    X(DEFERRED, "deferred", false)                          \
    X(DELIVERED, "delivered", false)                        \
    X(BOUNCED, "bounced", false)                            \
    X(COMPLAINED, "complained", false)                      \
    X(FEEDBACK, "feedback", false)                          \
    X(SUPPRESSED, "suppressed", false)                      \
    X(EXPIRED, "expired", false)                            \
    X(CAPTURED, "captured", false)                          \
    X(DELETED, "deleted", false)                            \
    X(CORRUPT, "corrupt", false)                            \
    X(BOUNCED_UNVERIFIED, "bounced_unverified", true)       \
    X(COMPLAINED_UNVERIFIED, "complained_unverified", true) \
    X(FEEDBACK_UNVERIFIED, "feedback_unverified", true)

typedef enum hd_event_type {
#define HD_EVENT_ENUM_(id, name, only_named) HD_EVENT_##id,
    HD_EVENT_TYPES(HD_EVENT_ENUM_)
#undef HD_EVENT_ENUM_
    HD_EVENT_TYPE_COUNT
} hd_event_type;

const char *hd_event_type_name(hd_event_type t);      /* "accepted", ...; "?" if unknown */
/* The type named by name (exactly, case and all): 0, or HD_EINVAL. */
int hd_event_type_parse(hd_slice name, hd_event_type *out);
bool hd_event_type_explicit(hd_event_type t);

typedef struct hd_store_event {
    int64_t id;
    int64_t at_ms;
    char type[32];                      /* hd_event_type_name(): the names are stored */
    char message[40];
    char recipient[HD_STORE_ADDR_MAX];
    char remote_host[HD_STORE_NAME_MAX];
    char reply[HD_STORE_TEXT_MAX];
    char tls[16];
    int64_t duration_ms;                /* -1 when not applicable */
    char *detail;                       /* JSON text or NULL; owned by the caller */
    char domain[HD_STORE_NAME_MAX];     /* the message's sending domain: filled by
                                         * hd_store_event_query ("" if none), not stored */
} hd_store_event;

int hd_store_event_add(hd_store *st, const hd_store_event *e, hd_err *err);
/* Events with id > after_id (and of message uuid, when not NULL), oldest
 * first, at most limit (0 = all). */
int hd_store_event_each(hd_store *st, int64_t after_id, const char *message, size_t limit,
                        int (*fn)(const hd_store_event *e, void *arg), void *arg, hd_err *err);

typedef struct hd_store_event_filter {
    int64_t after_id;                   /* events with id > after_id */
    int64_t since_ms;                   /* and at_ms >= since_ms */
    const char *type;                   /* NULL: any */
    const char *message;                /* uuid, NULL: any */
    const char *domains;                /* space-separated sending domains; NULL or "*": any */
    size_t limit;                       /* 0: all */
} hd_store_event_filter;

/* Events matching f, oldest first; e is borrowed for the call. fn
 * returns 0 to go on, > 0 to stop, or a negative HD_E* code: then the
 * walk stops and returns it (err says so). The same for the other
 * _each functions of events and captures. */
int hd_store_event_query(hd_store *st, const hd_store_event_filter *f,
                         int (*fn)(const hd_store_event *e, void *arg), void *arg, hd_err *err);

/* A suppression is for good (expires 0) or until a time (Unix seconds):
 * an expired one no longer applies and is removed by hd_store_prune once
 * it is older than the retention. Adding to an address that has one keeps
 * the stronger: a lasting suppression replaces a temporary one, a
 * temporary one never shortens or replaces a lasting one. */
int hd_store_suppression_add(hd_store *st, const char *address, const char *reason,
                             const char *source, int64_t now, hd_err *err);
int hd_store_suppression_add_until(hd_store *st, const char *address, const char *reason,
                                   const char *source, int64_t now, int64_t expires, hd_err *err);
int hd_store_suppression_remove(hd_store *st, const char *address, hd_err *err);
/* The suppressions in force at now (0: every row), by address. */
int hd_store_suppression_each(hd_store *st, int64_t now,
                              int (*fn)(const char *address, const char *reason,
                                        const char *source, int64_t created, int64_t expires,
                                        void *arg),
                              void *arg, hd_err *err);

typedef struct hd_store_suppression {
    char address[HD_STORE_ADDR_MAX];
    char reason[HD_STORE_TEXT_MAX];
    char source[32];
    int64_t created;
    int64_t expires;                    /* 0: never */
} hd_store_suppression;

/* HD_ENOTFOUND when the address is not suppressed at now (0: any row). */
int hd_store_suppression_get(hd_store *st, const char *address, int64_t now,
                             hd_store_suppression *out, hd_err *err);
/* Suppressions in force at now (0: every row) with address > after (NULL:
 * from the start), by address, at most limit. */
int hd_store_suppression_page(hd_store *st, const char *after, int64_t now, size_t limit,
                              int (*fn)(const hd_store_suppression *s, void *arg), void *arg,
                              hd_err *err);

/* How many other messages than message (a uuid) reported a soft failure
 * (an inbound DSN with action failed, matched through VERP: inbound.c's
 * event detail) for address at or after since_ms. What [inbound]
 * soft_bounce_limit counts. */
int hd_store_soft_bounce_count(hd_store *st, const char *address, const char *message,
                               int64_t since_ms, size_t *n, hd_err *err);

/* Idempotency keys of the HTTP API: a key (scoped to an API key) names the
 * message its first request created, and the SHA-256 of that request, so
 * a retry gets the same answer and a different request under the same key
 * is refused. Kept as long as events (retention). */
typedef struct hd_store_idempotency {
    char scope[40];                     /* API key id */
    char key[256];
    char request[65];                   /* hex SHA-256 of the request body */
    char message[40];                   /* uuid */
    int64_t created;
} hd_store_idempotency;

/* Insert, or keep the row already there (never fails a batch on a duplicate). */
int hd_store_idempotency_add(hd_store *st, const hd_store_idempotency *k, hd_err *err);
/* HD_ENOTFOUND when there is none. */
int hd_store_idempotency_get(hd_store *st, const char *scope, const char *key,
                             hd_store_idempotency *out, hd_err *err);

typedef struct hd_store_capture {
    const char *message;    /* uuid */
    const char *recipient;
    int64_t at;
    const char *mail_from;
    const char *verdict;    /* Authentication-Results a receiver would add */
    const char *detail;     /* JSON */
    hd_slice data;
} hd_store_capture;

int hd_store_capture_add(hd_store *st, const hd_store_capture *c, hd_err *err);

/* Retention: remove at most limit rows of each kind older than before
 * (Unix seconds): events, captures, and messages whose recipients are all
 * final and whose bytes have left the spool (their recipient rows go with
 * them). *removed gets the total. */
int hd_store_prune(hd_store *st, int64_t before, size_t limit, size_t *removed, hd_err *err);
/* Captures with id > after_id (and of message uuid, when not NULL), oldest
 * first, at most limit (0 = all); c's strings and data are borrowed for
 * the call. */
int hd_store_capture_each(hd_store *st, int64_t after_id, const char *message, size_t limit,
                          int (*fn)(int64_t id, const hd_store_capture *c, void *arg), void *arg,
                          hd_err *err);

/* ---- webhooks: cursors and the outbox (src/store/webhooks.c) ---- */

typedef struct hd_store_webhook {
    int64_t id;
    char endpoint[HD_STORE_NAME_MAX];
    int64_t event_id;
    char message[40];                   /* "" when the event has none */
    char type[32];
    const char *body;                   /* JSON; borrowed (for the call / from the caller) */
    int64_t created;
    int attempts;
    int64_t next_at;
    int64_t last_at;                    /* 0: never tried */
    char last_error[HD_STORE_TEXT_MAX];
    bool dead;
} hd_store_webhook;

/* The endpoint's cursor (the last event id it has read); HD_ENOTFOUND
 * for an endpoint never seen. */
int hd_store_webhook_cursor(hd_store *st, const char *endpoint, int64_t *out, hd_err *err);
int hd_store_webhook_set_cursor(hd_store *st, const char *endpoint, int64_t last_event,
                                hd_err *err);
/* The highest event id (0 when there is none). */
int hd_store_event_last_id(hd_store *st, int64_t *out, hd_err *err);
/* Events with id > after_id, oldest first, at most limit, each with the
 * sending domain of its message ("" when it has none or it is gone). */
int hd_store_webhook_events(hd_store *st, int64_t after_id, size_t limit,
                            int (*fn)(const hd_store_event *e, const char *domain, void *arg),
                            void *arg, hd_err *err);
/* Adds a pending row (pending, attempts 0, next_at = created); a row for
 * the same endpoint and event is left as it is. */
int hd_store_webhook_add(hd_store *st, const hd_store_webhook *w, hd_err *err);
/* Pending rows of endpoint due at now that are first of their message
 * (no earlier pending row of the same message), soonest first, at most
 * limit. */
int hd_store_webhook_due(hd_store *st, const char *endpoint, int64_t now, size_t limit,
                         int (*fn)(const hd_store_webhook *w, void *arg), void *arg, hd_err *err);
/* Delivered: the row goes, and the later rows of its message are due at
 * now (they waited for it). */
int hd_store_webhook_remove(hd_store *st, int64_t id, int64_t now, hd_err *err);
/* A failed attempt: writes attempts, next_at, last_at, last_error, dead;
 * the later rows of its message are due no sooner than it (dead: at
 * last_at), so a blocked backlog is never scanned as due. */
int hd_store_webhook_update(hd_store *st, const hd_store_webhook *w, hd_err *err);
/* Dead rows (one by id, or all when id is 0) become pending, due now, with
 * a new retry window; *n gets how many. */
int hd_store_webhook_revive(hd_store *st, int64_t id, int64_t now, int *n, hd_err *err);
/* Rows of endpoint (NULL: every one), dead ones only when dead_only, by id. */
int hd_store_webhook_each(hd_store *st, const char *endpoint, bool dead_only,
                          int (*fn)(const hd_store_webhook *w, void *arg), void *arg, hd_err *err);
/* Retention: dead rows last tried before `before` go, at most limit;
 * *removed gets how many. */
int hd_store_webhook_prune(hd_store *st, int64_t before, size_t limit, size_t *removed,
                           hd_err *err);
/* How many rows the endpoint has pending and dead. */
int hd_store_webhook_counts(hd_store *st, const char *endpoint, int64_t *pending, int64_t *dead,
                            hd_err *err);

/* ---- inbound mail: bounces, complaints, reports (src/store/inbound.c) ---- */

typedef struct hd_store_inbound {
    int64_t id;                         /* set by add */
    int64_t at;
    char remote[64];                    /* client IP */
    char mail_from[HD_STORE_ADDR_MAX];
    char rcpt[HD_STORE_TEXT_MAX];       /* envelope recipients, space-separated */
    char kind[16];                      /* dsn arf dmarc other */
    char outcome[16];                   /* matched unmatched unparsed stored */
    char message[40];                   /* uuid of the matched message, or "" */
    char summary[HD_STORE_TEXT_MAX];
    int64_t size;                       /* bytes of data */
    hd_slice data;                      /* add: borrowed; get: borrowed for the call */
} hd_store_inbound;

/* Fills in->id. */
int hd_store_inbound_add(hd_store *st, hd_store_inbound *in, hd_err *err);
/* Rows with id > after_id (of kind, when not NULL), oldest first, at most
 * limit (0 = all), without their data (data is empty). */
int hd_store_inbound_each(hd_store *st, int64_t after_id, const char *kind, size_t limit,
                          int (*fn)(const hd_store_inbound *in, void *arg), void *arg,
                          hd_err *err);
/* One row with its data (borrowed for the call); HD_ENOTFOUND if absent. */
int hd_store_inbound_get(hd_store *st, int64_t id,
                         int (*fn)(const hd_store_inbound *in, void *arg), void *arg,
                         hd_err *err);
/* The uuid of the newest message whose Message-ID field is message_id
 * (compared as stored, e.g. "<x@y>"); HD_ENOTFOUND if none. */
int hd_store_message_by_message_id(hd_store *st, const char *message_id, char uuid[40],
                                   hd_err *err);
/* An asynchronous bounce of a recipient the queue has finished with: its
 * state becomes bounced (with reply) only if it was delivered; *changed
 * says whether it was. */
int hd_store_recipient_bounce_late(hd_store *st, int64_t id, const char *reply, int64_t now,
                                   bool *changed, hd_err *err);

#endif
