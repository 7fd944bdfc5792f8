/*
 * metrics.h - Prometheus metrics per sending domain and pool (metrics.c).
 * Main thread only. A pool of "" or NULL is labelled "default"; sandbox
 * delivery is labelled "sandbox".
 */
#ifndef HERALD_SERVE_METRICS_H
#define HERALD_SERVE_METRICS_H

#include "queue.h"

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
/* Append every per-domain family to b (walks the queue for its gauges). */
void metrics_write(serve *sv, struct evbuffer *b, int64_t now);
void metrics_free(serve *sv);

#endif
