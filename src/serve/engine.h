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

/* ---- clocks (the shell's; cores are given times) ---- */
int64_t serve_now(void);         /* Unix seconds */
int64_t serve_now_ms(void);      /* Unix milliseconds */
uint64_t serve_mono_ms(void);    /* monotonic milliseconds */

/* ---- logging ---- */
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

/* ---- cross-thread: run fn(arg) on the main thread (work.c) ---- */
typedef void (*serve_fn)(void *arg);
void serve_post(serve *sv, serve_fn fn, void *arg);

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
void work_free(serve *sv);    /* then, after commit_stop: the post queue */
hd_store *worker_store(worker *w);
void **worker_domains_slot(worker *w);   /* domains.c keeps its per-worker state here */

/* ---- sending domains (domains.c) ---- */
/* A key as the server knows it: public only. Its private half is in the
 * signer process (src/signer), asked by key id. */
typedef struct serve_key {
    int64_t id;                 /* the key's row: the signer's name for it */
    char selector[64];
    char alg[16];
    char public_b64[1600];      /* p=: SubjectPublicKeyInfo of up to 8192 bits, base64 */
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
    struct signer *signer;      /* who signs for its keys (borrowed) */
    serve_domain *v;
    size_t n;
} serve_domains;

int domains_load(serve *sv, hd_err *err);                  /* main thread */
/* A reload (SIGHUP, POST /reload on the control socket, which by names in
 * the log): a new snapshot of the sending domains and keys, the pending
 * keys looked up, [domain] sections of removed domains warned about, and
 * systemd told. On failure the old snapshot stays in use. Main thread. */
int serve_reload(serve *sv, const char *by, hd_err *err);
/* Look up the DNS records of pending DKIM keys now (domains_load does, and
 * a timer every few minutes); activate and reload when they match. */
void domains_check(serve *sv);
void domains_check_stop(serve *sv);                        /* at shutdown */
serve_domains *domains_get(serve *sv);                     /* takes a reference */
void domains_put(serve_domains *d);
const serve_domain *domains_find(const serve_domains *d, const char *name);
/* Sign msg with the domain's keys, in this worker (signers are kept per
 * worker and generation; each signature is asked of the signer process).
 * Appends the DKIM-Signature fields to out; HD_ETEMP when the signer could
 * not sign (it restarted, or does not hold the key): a 451. */
int worker_sign(worker *w, const serve_domains *d, const serve_domain *dom, hd_slice msg,
                hd_buf *out, hd_err *err);
/* The DNS a receiver of dom's mail would see (sandbox), per worker. */
hd_dns *worker_zone(worker *w, const serve_domains *d, const serve_domain *dom, hd_err *err);
void worker_domains_free(worker *w);

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

/* A change of queue state: recipient updates, events, suppressions,
 * releases, captures. Fire and forget: durable at the next batch. */
typedef enum commit_kind {
    COMMIT_RCPT,        /* rcpt row update (+ event) */
    COMMIT_EVENT,       /* event only */
    COMMIT_SUPPRESS,    /* suppression add (or update) */
    COMMIT_UNSUPPRESS,  /* suppression remove */
    COMMIT_RELEASE,     /* message released; spool segment released after commit */
    COMMIT_CAPTURE,     /* sandbox capture row */
    COMMIT_MARK,        /* run done(arg) on the main thread once everything before is durable */
    COMMIT_PRUNE,       /* retention: remove rows older than prune_before */
    COMMIT_APPLY,       /* apply(store, arg, err) in the batch; then finish(arg, rc) on the
                         * committer thread, rc 0 once durable (webhook.c) */
    COMMIT_INBOUND,     /* bounce intake: the raw mail and what it says (inbound.c) */
} commit_kind;

typedef struct commit_op {
    commit_kind kind;
    hd_store_recipient rcpt;
    hd_store_event event;
    bool has_event;
    char address[HD_STORE_ADDR_MAX];     /* suppress */
    char reason[HD_STORE_TEXT_MAX];
    char source[32];                     /* suppress: "bounce" "complaint" "api" ... */
    int64_t message_id;                  /* release */
    int64_t prune_before;                /* prune */
    uint32_t segment;
    hd_store_capture capture;            /* strings owned in cap_buf */
    char *cap_strings[5];
    uint8_t *cap_data;
    serve_fn done;                       /* mark */
    int *result;                         /* mark: set to the batch's result before done, or NULL */
    void *arg;                           /* mark, apply */
    int (*apply)(hd_store *st, void *arg, hd_err *err);
    void (*finish)(void *arg, int rc);
    struct inbound_rec *inbound;         /* inbound: owned by inbound.c */
    struct commit_op *next;
} commit_op;

int commit_start(serve *sv, hd_err *err);
void commit_stop(serve *sv);
void commit_message(serve *sv, commit_msg *cm);       /* any thread */
void commit_op_post(serve *sv, commit_op *op);        /* any thread; takes op */
/* The last write failed (disk full, database error) or the reserve
 * ([queue] reserve_space) could not be made again: no delivery may start,
 * for its outcome could not be recorded, and new mail is refused. The
 * queue's changes of failed batches are held and retried every second;
 * when they are written and the reserve is back the queue is kicked. Any
 * thread. */
bool commit_blocked(serve *sv);
size_t commit_held(serve *sv);                        /* changes waiting for a write */
void commit_blocked_why(serve *sv, char *out, size_t size);   /* the last failure */
commit_op *commit_op_new(commit_kind kind);
/* Make an event (at = now) ready to post; strings are copied and cut. */
void commit_event_fill(hd_store_event *e, const char *type, const char *message,
                       const char *recipient, const char *remote, const char *reply,
                       const char *tls, int64_t duration_ms);

/* ---- DNS on the loop (serve.c): cb runs later on the main thread ---- */
int serve_dns_ask(serve *sv, const char *name, uint16_t type, hd_dns_cb cb, void *arg,
                  hd_err *err);

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

    struct serve_work *work;        /* work.c */
    struct serve_commit *commit;    /* commit.c */
    struct serve_queue *queue;      /* queue.c */
    struct serve_intake *intake;    /* intake.c */
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
    struct signer *signer;          /* src/signer: the process holding the DKIM keys */
    struct conn *deliver_conns;     /* deliver.c: open outbound connections */
    unsigned domains_generation;
};

#endif
