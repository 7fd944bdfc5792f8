/*
 * delivery.h - the delivery room of `herald serve`: the in-memory queue
 * and its scheduler (queue.c), outbound SMTP (deliver.c), sandbox
 * capture (sandbox.c) and the delivery metrics per sending domain and
 * pool (metrics.c). Main thread only. Stands on the engine; its own
 * structures are in delivery_int.h, for this room's files alone.
 */
#ifndef HERALD_SERVE_DELIVERY_H
#define HERALD_SERVE_DELIVERY_H

#include "serve/engine.h"

/* ---- the queue and its scheduler (queue.c) ---- */
int queue_load(serve *sv, hd_err *err);
/* A committed message enters the queue. */
void queue_add(serve *sv, const hd_store_message *m, char **rcpts, const int64_t *ids, size_t n);
void queue_kick(serve *sv);                       /* run the scheduler soon */
size_t queue_size(serve *sv);                     /* recipients not final */
int queue_retry(serve *sv, const char *uuid);     /* due now; "" = everything (flush) */
int queue_delete(serve *sv, const char *uuid);
/* The suppression list: the in-memory set the scheduler checks, and its
 * rows (through the committer). Main thread. */
void queue_suppress(serve *sv, const char *address, const char *reason, const char *source);
void queue_unsuppress(serve *sv, const char *address);
/* The in-memory set only: the row was written in another transaction.
 * until: Unix seconds it stops applying, 0 for good. */
void queue_suppressed(serve *sv, const char *address, int64_t until);
/* The pool label of a message of domain (its own pool, else the domain's,
 * else the default; "sandbox" for sandbox delivery). */
const char *queue_pool_label(serve *sv, const char *domain, const char *msg_pool);
/* Whether a message of domain leaves with one envelope sender per
 * recipient (b-r<recipient id>-<mac>@bounce domain): [delivery]
 * verp_per_recipient, and not the sandbox (which sends nothing and keeps
 * the message's). */
bool queue_sender_per_rcpt(serve *sv, const char *domain);
/* The queue's gauges for /metrics, computed now: every recipient not yet
 * final counted under its domain and pool (metrics_queued), with its
 * message's age. Before metrics_write. */
void queue_gauges(serve *sv);
void queue_free(serve *sv);

/* Stop every outbound connection (deliver.c), at shutdown. */
void deliver_stop(serve *sv);

/* ---- metrics per sending domain and pool (metrics.c) ----
 * A pool of "" or NULL is labelled "default"; sandbox delivery is
 * labelled "sandbox". */
typedef enum metric_outcome {
    M_DELIVERED,
    M_DEFERRED,        /* an attempt */
    M_BOUNCED,         /* at delivery, or later by a DSN */
    M_COMPLAINED,      /* an ARF complaint */
    M_EXPIRED,
    M_SUPPRESSED,
    M_CAPTURED,        /* kept by the sandbox, not sent */
    M_N,
} metric_outcome;

struct evbuffer;

void metrics_accepted(serve *sv, const char *domain, const char *pool, size_t bytes);
void metrics_outcome(serve *sv, const char *domain, const char *pool, metric_outcome o);
/* A delivery, seconds after the message was accepted. */
void metrics_delivered_after(serve *sv, const char *domain, const char *pool, double seconds);
/* The queue's gauges, given by queue_gauges: cleared, then one call per
 * recipient not yet final (received_at: its message's). */
void metrics_queue_clear(serve *sv);
void metrics_queued(serve *sv, const char *domain, const char *pool, int64_t received_at);
/* Append every per-domain family to b (the gauges as queue_gauges left them). */
void metrics_write(serve *sv, struct evbuffer *b, int64_t now);
void metrics_free(serve *sv);

#endif
