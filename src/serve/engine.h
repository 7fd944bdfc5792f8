/*
 * engine.h - the engine room of `herald serve`: what every other room
 * stands on. The server's state, its clocks and log, the event loop's
 * helpers (posting to the main thread, DNS on the loop), the worker pools,
 * the committer (the one writer of the database and the spool) and the
 * snapshot of sending domains.
 *
 * Rooms (docs/architecture.md, "The rooms of serve"): engine ← delivery ←
 * feedback ← intake ← the top (serve.c's wiring, status.c, check.c). A
 * room includes the headers below it, never above; the engine includes no
 * room header (scripts/check-layers.sh).
 *
 * Threads:
 *   - the main thread runs the libevent loop: SMTP sessions (intake.c),
 *     the in-memory queue and its scheduler (queue.c), outbound SMTP
 *     connections (deliver.c), DNS, the status and control endpoints
 *     (status.c);
 *   - a pool of workers does the CPU work off the loop: message
 *     completion and DKIM signing, sandbox verdicts, the API (work.c);
 *   - a small pool of its own checks AUTH passwords (work.c), so password
 *     guessing never delays accepted mail;
 *   - one committer thread owns the database writes and the spool appends
 *     and makes them durable in batches: one spool fdatasync and one
 *     SQLite commit for everything that arrived meanwhile (commit.c).
 * Threads hand results back to the loop through serve_post(), which runs
 * a function on the main thread.
 *
 * A message's path: intake (smtpd session) → worker (complete, sign) →
 * committer (spool + rows, fsync) → 250 to the client and queue_add() →
 * scheduler → deliver (smtpc to the MX) or sandbox → committer (recipient
 * state, events) → released when every recipient is final.
 */
#ifndef HERALD_SERVE_ENGINE_H
#define HERALD_SERVE_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include <herald/buf.h>
#include <herald/config.h>
#include <herald/dkim.h>
#include <herald/dns.h>
#include <herald/err.h>
#include <herald/key.h>
#include <herald/log.h>
#include <herald/report.h>
#include <herald/spool.h>
#include <herald/store.h>
#include <herald/verp.h>

typedef struct serve serve;

/* ---- clocks (engine.c: the shell's; cores are given times) ---- */
int64_t serve_now(void);         /* Unix seconds */
int64_t serve_now_ms(void);      /* Unix milliseconds */
uint64_t serve_mono_ms(void);    /* monotonic milliseconds */

/* ---- logging (engine.c) ---- */
extern hd_log serve_log;
#define LOG_ERR(...) hd_log_msg(&serve_log, HD_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) hd_log_msg(&serve_log, HD_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) hd_log_msg(&serve_log, HD_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) hd_log_msg(&serve_log, HD_LOG_DEBUG, __VA_ARGS__)
/* The same about a session (client address), message (queue id) or request:
 * the id is a field of its own in json logs. */
#define LOG_ERR_ID(id, ...) hd_log_msg_id(&serve_log, HD_LOG_ERROR, id, __VA_ARGS__)
#define LOG_WARN_ID(id, ...) hd_log_msg_id(&serve_log, HD_LOG_WARN, id, __VA_ARGS__)
#define LOG_INFO_ID(id, ...) hd_log_msg_id(&serve_log, HD_LOG_INFO, id, __VA_ARGS__)
#define LOG_DEBUG_ID(id, ...) hd_log_msg_id(&serve_log, HD_LOG_DEBUG, id, __VA_ARGS__)
/* At most one line a minute per kind and client, for what a client or a
 * fault can repeat (refusals, accept errors): an attack must not write the
 * log for the attacker. kind is a fixed word naming the event
 * ("auth-limit"); client (may be NULL) is the line's id. The next line let
 * through ends with how many like it were held back (herald/ratelimit.h). */
void serve_log_limited(hd_log_level level, const char *kind, const char *client, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
#define LOG_WARN_LIMITED(kind, client, ...) \
    serve_log_limited(HD_LOG_WARN, kind, client, __VA_ARGS__)
#define LOG_INFO_LIMITED(kind, client, ...) \
    serve_log_limited(HD_LOG_INFO, kind, client, __VA_ARGS__)

/* ---- out of memory (engine.c) ----
 * The policy: where a failure can be answered (a 451 to a client, an
 * error from a start), allocation failures are errors like any other and
 * are answered. Where nothing can answer it and going on would lose track
 * of mail (a queue change, a recipient, a post to the main thread), the
 * server logs "out of memory WHAT" and aborts: what was committed is safe
 * on disk and is taken up again at the next start. These helpers are that
 * abort, written once; WHAT completes the line ("for a destination"). */
void *serve_xcalloc(size_t n, size_t size, const char *what);
void *serve_xmalloc(size_t size, const char *what);
void *serve_xrealloc(void *old, size_t size, const char *what);
char *serve_xstrdup(const char *s, const char *what);

/* ---- a message's id (engine.c) ----
 * Whether id is a message's queue id as the API and the control socket
 * take it: 32 lower-case hex digits (accept_new_uuid makes them). */
bool serve_id_ok(const char *id);

/* ---- cross-thread: run fn(arg) on the main thread (engine.c) ---- */
typedef void (*serve_fn)(void *arg);
void serve_post(serve *sv, serve_fn fn, void *arg);
int serve_post_start(serve *sv, hd_err *err);   /* once the loop exists */
void serve_post_free(serve *sv);                /* after work_stop and commit_stop */

/* ---- the service manager (engine.c): a state line to systemd, if any ---- */
void serve_notify(const char *state);

/* ---- worker pools (work.c) ---- */
typedef struct worker worker;   /* per-thread state: store connection, signers */
/* Run fn(w, arg) on a worker, then done(arg) on the main thread. */
void serve_work(serve *sv, void (*fn)(worker *w, void *arg), serve_fn done, void *arg);
/* The same on the password-check pool (AUTH only): its own threads, so
 * scrypt never waits in front of signing, storing or the API. */
void serve_work_auth(serve *sv, void (*fn)(worker *w, void *arg), serve_fn done, void *arg);
/* n workers in the main pool, n_auth in the password-check pool (>= 1 each). */
int work_start(serve *sv, unsigned n, unsigned n_auth, hd_err *err);
void work_stop(serve *sv);    /* joins the workers */
void work_free(serve *sv);    /* then */
hd_store *worker_store(worker *w);
/* State another file keeps in each worker (made by the worker when it
 * first needs it, read only by that worker): the pool frees it with the
 * free_fn given, once the worker has stopped. One slot per user. */
typedef enum worker_slot {
    WORKER_SLOT_DOMAINS,        /* domains.c: signers and zones per generation */
    WORKER_SLOTS
} worker_slot;
void *worker_slot_get(worker *w, worker_slot s);
void worker_slot_set(worker *w, worker_slot s, void *state, void (*free_fn)(void *state));

/* ---- sending domains (domains.c) ---- */
typedef struct serve_key {
    char selector[64];
    char alg[16];
    char path[1024];
} serve_key;

typedef struct serve_domain {
    char name[256];
    char bounce_domain[256];
    serve_key keys[4];          /* active keys: the ones that sign */
    size_t n_keys;
    hd_config_delivery delivery;
    hd_config_canon canon;      /* dkim_canonicalization */
    char *zone;                 /* the DNS a receiver would see (sandbox verdicts) */
} serve_domain;

typedef struct serve_domains {
    atomic_int refs;
    unsigned generation;
    serve_domain *v;
    size_t n;
} serve_domains;

int domains_load(serve *sv, hd_err *err);                  /* main thread */
/* A reload (SIGHUP, POST /reload on the control socket, which by names in
 * the log): a new snapshot of the sending domains and keys, the pending
 * keys looked up, [domain] sections of removed domains warned about, and
 * systemd told. On failure the old snapshot stays in use. Main thread
 * (engine.c). */
int serve_reload(serve *sv, const char *by, hd_err *err);
/* The warning about trusted networks while several domains are served
 * (at start, and at each reload). */
void serve_warn_trusted_tenants(serve *sv);
/* Look up the DNS records of pending DKIM keys now (domains_load does, and
 * a timer every few minutes); activate and reload when they match. */
void domains_check(serve *sv);
void domains_check_stop(serve *sv);                        /* at shutdown */
serve_domains *domains_get(serve *sv);                     /* takes a reference */
void domains_put(serve_domains *d);
const serve_domain *domains_find(const serve_domains *d, const char *name);
/* Sign msg with the domain's keys, in this worker (keys are loaded and
 * signers kept per worker and generation). Appends the DKIM-Signature
 * fields to out. */
int worker_sign(worker *w, const serve_domains *d, const serve_domain *dom, hd_slice msg,
                hd_buf *out, hd_err *err);
/* The DNS a receiver of dom's mail would see (sandbox), per worker. */
hd_dns *worker_zone(worker *w, const serve_domains *d, const serve_domain *dom, hd_err *err);

/* ---- committer (commit.c) ---- */

/* A message to make durable. Filled by the worker; the committer appends
 * parts to the spool, inserts rows, then calls done on the main thread
 * with rc/err set. */
typedef struct commit_msg {
    hd_store_message m;                  /* uuid, mail_from, ... (loc filled by the committer) */
    hd_slice parts[4];
    size_t n_parts;
    char **rcpts;                        /* owned by the caller */
    size_t n_rcpts;
    int64_t *rcpt_ids;                   /* filled: row ids, n_rcpts of them */
    const hd_store_idempotency *idem;    /* API Idempotency-Key row to insert with it, or NULL */
    hd_spool_loc loc;                    /* filled */
    int rc;
    hd_err err;
    serve_fn done;
    void *arg;
    struct commit_msg *next;
} commit_msg;

/* An event as its writer describes it, for commit_event_fill and
 * commit_op_rcpt: strings borrowed for the call (NULL: none), copied and
 * cut to the row's sizes, CR and LF made spaces. */
typedef struct commit_event_desc {
    hd_event_type type;
    const char *message;        /* the message's queue id (uuid) */
    const char *recipient;
    const char *remote;         /* the remote host */
    const char *reply;          /* the reply or reason (accepted: the submitter) */
    const char *tls;
    const char *detail;         /* JSON text */
    bool timed;                 /* duration_ms applies; otherwise the row says -1 */
    int64_t duration_ms;
} commit_event_desc;

/* Make an event (at = now) ready for hd_store_event_add; e->detail is
 * d->detail, borrowed. */
void commit_event_fill(hd_store_event *e, const commit_event_desc *d);

/* A change of queue state, made by one of the commit_op_* functions
 * (strings copied: an op is the size of what it carries) and handed to
 * commit_op_post. Fire and forget: durable at the next batch. A change
 * the queue made (rcpt, suppress, unsuppress, release, capture) is kept
 * and retried while the committer is blocked, never dropped. */
typedef struct commit_op commit_op;

/* A recipient's row: its new state and the event that says why. */
typedef struct commit_rcpt_desc {
    int64_t id;
    int64_t message;            /* the message's row id */
    hd_rcpt_state state;
    int attempts;
    int64_t next_attempt;
    int64_t updated_at;
    const char *last_reply;     /* NULL: none */
    const char *mail_from;      /* what went on the wire; NULL or "": the stored one stays */
} commit_rcpt_desc;

commit_op *commit_op_rcpt(const commit_rcpt_desc *r, const commit_event_desc *e);
/* The suppression list: add (or update) an address, or take it off. */
commit_op *commit_op_suppress(const char *address, const char *reason, const char *source);
commit_op *commit_op_unsuppress(const char *address);
/* The message is released; its spool segment is let go once that is durable. */
commit_op *commit_op_release(int64_t message_id, uint32_t segment);
/* A sandbox capture row (its strings and data are copied). */
commit_op *commit_op_capture(const hd_store_capture *cap);
/* done(arg) on the main thread once everything posted before is durable;
 * *result (when not NULL) set to the batch's result first. */
commit_op *commit_op_mark(serve_fn done, void *arg, int *result);
/* Retention: remove rows older than before (Unix seconds). */
commit_op *commit_op_prune(int64_t before);
/* apply(store, arg, err) inside the batch's transaction; then finish(arg,
 * rc) on the committer thread once the batch is over, rc 0 when it is
 * durable (webhook.c's pages and outcomes, inbound.c's reports). A failed
 * batch is not retried for it: finish gets the failure. */
commit_op *commit_op_apply(int (*apply)(hd_store *st, void *arg, hd_err *err),
                           void (*finish)(void *arg, int rc), void *arg);

int commit_start(serve *sv, hd_err *err);
void commit_stop(serve *sv);
void commit_message(serve *sv, commit_msg *cm);       /* any thread */
void commit_op_post(serve *sv, commit_op *op);        /* any thread; takes op */
/* The last write failed (disk full, database error) or the reserve
 * ([queue] reserve_space) could not be made again: no delivery may start,
 * for its outcome could not be recorded, and new mail is refused. The
 * queue's changes of failed batches are held and retried every second;
 * when they are written and the reserve is back the COMMIT_HOOK_RESUMED
 * hooks run. Any thread. */
bool commit_blocked(serve *sv);
size_t commit_held(serve *sv);                        /* changes waiting for a write */
void commit_blocked_why(serve *sv, char *out, size_t size);   /* the last failure */

/* Hooks the rooms above hang on the committer (so it calls none of them
 * by name). Added on the main thread before the loop runs; fn(arg) then
 * runs on the main thread. */
typedef enum commit_hook_when {
    COMMIT_HOOK_BATCH,          /* after each committed batch: new events may be there */
    COMMIT_HOOK_RESUMED,        /* a blocked committer can record again: deliveries may start */
} commit_hook_when;
void commit_hook_add(serve *sv, commit_hook_when when, serve_fn fn, void *arg);

/* ---- DNS on the loop (engine.c): cb runs later on the main thread ---- */
int serve_dns_ask(serve *sv, const char *name, uint16_t type, hd_dns_cb cb, void *arg,
                  hd_err *err);
int serve_dns_start(serve *sv, hd_err *err);   /* the resolver of [dns], on the loop */
void serve_dns_stop(serve *sv);

/* ---- metrics ---- */
typedef struct serve_metrics {
    atomic_ullong sessions_total, sessions_now, sessions_refused;
    atomic_ullong messages_accepted, messages_rejected, recipients_accepted;
    atomic_ullong auth_ok, auth_failed;
    atomic_ullong delivered, deferred, bounced, expired, suppressed, captured, corrupt;
    atomic_ullong commit_batches, commit_messages, commit_ops;
    atomic_ullong commit_failures;      /* batches that could not be written */
    atomic_ullong connections_out, connections_out_failed;
    atomic_ullong inbound_dsn, inbound_arf, inbound_dmarc, inbound_other;  /* by kind */
    atomic_ullong async_bounces, complaints;
    /* reports matched by Message-ID alone (inbound.c): counted apart, by type */
    atomic_ullong unverified_bounces, unverified_complaints, unverified_feedback;
} serve_metrics;

/* ---- the server ---- */
struct serve {
    hd_config *cfg;
    char *data_dir;
    int lock_fd;                    /* data_dir itself, flock()ed while running */
    struct event_base *base;
    hd_store *store;                /* main thread's connection */
    hd_spool *spool;
    hd_dns *dns;
    struct event *dns_ev, *dns_timer;
    SSL_CTX *tls_server, *tls_client;
    uint8_t verp_key[HD_VERP_KEY_LEN];
    serve_metrics metrics;
    atomic_bool stopping;            /* read by the committer thread too */

    struct serve_posts *posts;      /* engine.c: serve_post's list */
    struct serve_work *work;        /* work.c */
    struct serve_commit *commit;    /* commit.c */
    struct serve_queue *queue;      /* queue.c */
    struct serve_intake *intake;    /* intake*.c */
    struct serve_accept *accept;    /* accept.c */
    struct serve_api *api;          /* api.c */
    struct serve_metrics_table *metrics_table; /* metrics.c: per domain and pool */
    struct serve_status *status;    /* status.c */
    struct serve_webhook *webhook;  /* webhook.c */
    /* The bounce rule set (built in or [inbound] bounce_rules) and the
     * reasons [inbound] hard_reasons counts as hard too: set once at
     * start, then read only, by delivery for the replies it gets and by
     * the inbound workers for the reports they read. */
    hd_report_rules *bounce_rules;
    hd_bounce_reasons hard_reasons;
    serve_domains *domains;         /* current snapshot, main thread's reference */
    struct serve_keycheck *keycheck; /* domains.c: pending keys' DNS records */
    struct conn *deliver_conns;     /* deliver.c: open outbound connections */
    unsigned domains_generation;
};

#endif
