/*
 * metrics.c - Prometheus metrics per sending domain and source-address
 * pool (GET /metrics, status.c): counters of outcomes, histograms of
 * message size and of the time from acceptance to delivery, and the
 * queue's size and oldest recipient per domain and pool (queue.c gives them
 * at scrape time: queue_gauges; this file never reads the queue).
 *
 * Main thread only: every count comes from the loop (accept.c's answer,
 * queue.c's outcomes, inbound reports), so there is no locking. The label
 * sets are sending domains × pools, a handful in practice; the table is
 * capped so that a flood of domains cannot grow it without bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "serve/delivery_int.h"

#define MAX_SERIES 4096

static const double size_buckets[] = {1e3, 1e4, 1e5, 1e6, 1e7, 5e7};
static const double delay_buckets[] = {0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 21600, 86400};
#define N_SIZE (sizeof size_buckets / sizeof *size_buckets)
#define N_DELAY (sizeof delay_buckets / sizeof *delay_buckets)

static const char *const outcome_names[M_N] = {
    [M_DELIVERED] = "delivered", [M_DEFERRED] = "deferred",     [M_BOUNCED] = "bounced",
    [M_COMPLAINED] = "complained", [M_EXPIRED] = "expired",     [M_SUPPRESSED] = "suppressed",
    [M_CAPTURED] = "captured",
};

typedef struct histogram {
    unsigned long long bucket[16];   /* cumulative at write time; per bucket here */
    unsigned long long count;
    double sum;
} histogram;

typedef struct series {
    char domain[256];
    char pool[64];
    unsigned long long accepted;
    unsigned long long outcome[M_N];
    histogram size, delay;
    size_t queued;                   /* filled at scrape time (queue_gauges) */
    int64_t oldest;                  /* received_at of the oldest queued, 0: none */
    uint32_t next;                   /* index + 1 of the next in its hash chain, 0: none */
} series;

#define BUCKETS 256

/* Every delivery outcome looks its series up: a hash, not a scan of up to
 * MAX_SERIES entries. Chains hold indexes (the array moves as it grows). */
struct serve_metrics_table {
    series *v;
    size_t n, cap;
    uint32_t head[BUCKETS];          /* index + 1, 0: empty */
    bool full_warned;
};

static size_t bucket_of(const char *domain, const char *pool)
{
    uint32_t h = 2166136261u;        /* FNV-1a */
    for (const char *p = domain; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = pool; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h % BUCKETS;
}

static series *find(serve *sv, const char *domain, const char *pool)
{
    struct serve_metrics_table *t = sv->metrics_table;
    if (!t && !(t = sv->metrics_table = calloc(1, sizeof *t)))
        return NULL;
    if (!pool || !*pool)
        pool = "default";
    size_t b = bucket_of(domain, pool);
    for (uint32_t i = t->head[b]; i; i = t->v[i - 1].next)
        if (strcmp(t->v[i - 1].domain, domain) == 0 && strcmp(t->v[i - 1].pool, pool) == 0)
            return &t->v[i - 1];
    if (t->n == MAX_SERIES) {
        if (!t->full_warned)
            LOG_WARN("metrics: more than %d domain and pool pairs; the rest are not counted",
                     MAX_SERIES);
        t->full_warned = true;
        return NULL;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        series *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    series *s = &t->v[t->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->domain, sizeof s->domain, "%s", domain);
    snprintf(s->pool, sizeof s->pool, "%s", pool);
    s->next = t->head[b];
    t->head[b] = (uint32_t)t->n;
    return s;
}

static void observe(histogram *h, const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    h->bucket[i]++;     /* i == n: only +Inf */
    h->count++;
    h->sum += v;
}

void metrics_accepted(serve *sv, const char *domain, const char *pool, size_t bytes)
{
    series *s = find(sv, domain, pool);
    if (!s)
        return;
    s->accepted++;
    observe(&s->size, size_buckets, N_SIZE, (double)bytes);
}

void metrics_outcome(serve *sv, const char *domain, const char *pool, metric_outcome o)
{
    series *s = find(sv, domain, pool);
    if (s && o < M_N)
        s->outcome[o]++;
}

void metrics_delivered_after(serve *sv, const char *domain, const char *pool, double seconds)
{
    series *s = find(sv, domain, pool);
    if (s)
        observe(&s->delay, delay_buckets, N_DELAY, seconds < 0 ? 0 : seconds);
}

void metrics_queue_clear(serve *sv)
{
    struct serve_metrics_table *t = sv->metrics_table;
    for (size_t i = 0; t && i < t->n; i++)
        t->v[i].queued = 0, t->v[i].oldest = 0;
}

void metrics_queued(serve *sv, const char *domain, const char *pool, int64_t received_at)
{
    series *s = find(sv, domain, pool);
    if (!s)
        return;
    s->queued++;
    if (!s->oldest || received_at < s->oldest)
        s->oldest = received_at;
}

/* Label values: a domain or pool name needs no escaping, but the format
 * (a Prometheus text exposition) must never break, so quote anyway. */
static void label(struct evbuffer *b, const char *name, const char *v, bool last)
{
    evbuffer_add_printf(b, "%s=\"", name);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            evbuffer_add_printf(b, "\\%c", *p);
        else if (*p == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add(b, p, 1);
    }
    evbuffer_add(b, last ? "\"" : "\",", last ? 1 : 2);
}

static void labels(struct evbuffer *b, const series *s, bool with_pool)
{
    label(b, "domain", s->domain, !with_pool);
    if (with_pool)
        label(b, "pool", s->pool, true);
}

static void write_histogram(struct evbuffer *b, const char *name, const series *s,
                            const histogram *h, const double *bounds, size_t n, bool with_pool)
{
    unsigned long long cum = 0;
    for (size_t i = 0; i <= n; i++) {
        cum += h->bucket[i];
        evbuffer_add_printf(b, "%s_bucket{", name);
        labels(b, s, with_pool);
        if (i < n)
            evbuffer_add_printf(b, ",le=\"%g\"} %llu\n", bounds[i], cum);
        else
            evbuffer_add_printf(b, ",le=\"+Inf\"} %llu\n", cum);
    }
    evbuffer_add_printf(b, "%s_sum{", name);
    labels(b, s, with_pool);
    evbuffer_add_printf(b, "} %.6f\n%s_count{", h->sum, name);
    labels(b, s, with_pool);
    evbuffer_add_printf(b, "} %llu\n", h->count);
}

void metrics_write(serve *sv, struct evbuffer *b, int64_t now)
{
    struct serve_metrics_table *t = sv->metrics_table;
    size_t n = t ? t->n : 0;
    evbuffer_add_printf(b, "# HELP herald_domain_messages_accepted_total messages accepted, per "
                           "sending domain and pool\n# TYPE herald_domain_messages_accepted_total "
                           "counter\n");
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "herald_domain_messages_accepted_total{");
        labels(b, &t->v[i], true);
        evbuffer_add_printf(b, "} %llu\n", t->v[i].accepted);
    }
    evbuffer_add_printf(b, "# HELP herald_domain_recipients_total recipient outcomes (deferred: "
                           "attempts), per sending domain and pool\n"
                           "# TYPE herald_domain_recipients_total counter\n");
    for (size_t i = 0; i < n; i++)
        for (int o = 0; o < M_N; o++) {
            evbuffer_add_printf(b, "herald_domain_recipients_total{");
            label(b, "domain", t->v[i].domain, false);
            label(b, "pool", t->v[i].pool, false);
            label(b, "outcome", outcome_names[o], true);
            evbuffer_add_printf(b, "} %llu\n", t->v[i].outcome[o]);
        }
    evbuffer_add_printf(b, "# HELP herald_domain_message_size_bytes size of accepted messages\n"
                           "# TYPE herald_domain_message_size_bytes histogram\n");
    for (size_t i = 0; i < n; i++)
        write_histogram(b, "herald_domain_message_size_bytes", &t->v[i], &t->v[i].size,
                        size_buckets, N_SIZE, true);
    evbuffer_add_printf(b, "# HELP herald_domain_delivery_seconds time from acceptance to "
                           "delivery\n# TYPE herald_domain_delivery_seconds histogram\n");
    for (size_t i = 0; i < n; i++)
        write_histogram(b, "herald_domain_delivery_seconds", &t->v[i], &t->v[i].delay,
                        delay_buckets, N_DELAY, true);
    /* the queue's gauges, as queue_gauges gave them */
    evbuffer_add_printf(b, "# HELP herald_domain_queue_recipients recipients waiting for "
                           "delivery\n# TYPE herald_domain_queue_recipients gauge\n");
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "herald_domain_queue_recipients{");
        labels(b, &t->v[i], true);
        evbuffer_add_printf(b, "} %zu\n", t->v[i].queued);
    }
    evbuffer_add_printf(b, "# HELP herald_domain_queue_oldest_seconds age of the oldest waiting "
                           "recipient's message (0: none waiting)\n"
                           "# TYPE herald_domain_queue_oldest_seconds gauge\n");
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "herald_domain_queue_oldest_seconds{");
        labels(b, &t->v[i], true);
        evbuffer_add_printf(b, "} %lld\n",
                            t->v[i].oldest ? (long long)(now - t->v[i].oldest) : 0LL);
    }
}

void metrics_free(serve *sv)
{
    if (sv->metrics_table) {
        free(sv->metrics_table->v);
        free(sv->metrics_table);
        sv->metrics_table = NULL;
    }
}
