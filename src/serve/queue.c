/*
 * queue.c - the in-memory queue and its scheduler (see delivery.h; its structures in delivery_int.h).
 *
 * The database is the truth; this is its working copy, loaded at start
 * and kept in step: every change of a recipient's state is sent to the
 * committer (durable with the next batch) as it is made here. A crash
 * loses at most changes not yet committed, and those recipients are
 * simply tried again: at least once, never lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/backoff.h>
#include "serve/delivery_int.h"

#define TICK_MS 1000            /* the scheduler runs at least this often */
#define BATCH_MAX_RCPTS 100     /* recipients of one message per transaction */

/* ---- small string hash table ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;    /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s)) * 1099511628211ull;
    return h;
}

typedef struct sup_entry {
    char *address;
    int64_t until;               /* Unix seconds it stops applying; 0: never */
    struct sup_entry *next;
} sup_entry;

#define SUP_BUCKETS 4096
#define MSG_BUCKETS 8192
#define DEST_BUCKETS 1024

struct serve_queue {
    q_msg *msgs[MSG_BUCKETS];
    q_dest *dests[DEST_BUCKETS];
    q_dest *sandbox;
    q_dest *active;              /* destinations with ready recipients */
    q_dest *probe;               /* destinations no host of which answered (dest_probe) */
    q_rcpt **heap;               /* deferred, by next_attempt */
    size_t heap_n, heap_cap;
    size_t n_open;               /* recipients not final */
    size_t n_msgs;
    sup_entry *sup[SUP_BUCKETS];
    size_t total_conns;
    struct event *timer;
    bool kicked;
};

static sup_entry *sup_find(struct serve_queue *q, const char *addr)
{
    for (sup_entry *e = q->sup[hash_str(addr) % SUP_BUCKETS]; e; e = e->next)
        if (strcasecmp(e->address, addr) == 0)
            return e;
    return NULL;
}

/* An entry that ran out ([inbound] soft_bounce_suppress_for) stays in the
 * set until the next start or a new suppression; it no longer applies. */
static bool suppressed(struct serve_queue *q, const char *addr)
{
    sup_entry *e = sup_find(q, addr);
    return e && (e->until == 0 || serve_now() < e->until);
}

/* until 0: for good. As the rows (hd_store_suppression_add_until), the
 * stronger stays. */
static void suppress_add(struct serve_queue *q, const char *addr, int64_t until)
{
    sup_entry *e = sup_find(q, addr);
    if (e) {
        if (until == 0 || (e->until != 0 && e->until < until))
            e->until = until;
        return;
    }
    if (!(e = malloc(sizeof *e)) || !(e->address = strdup(addr))) {
        free(e);
        return;
    }
    e->until = until;
    size_t b = hash_str(addr) % SUP_BUCKETS;
    e->next = q->sup[b];
    q->sup[b] = e;
}

static void suppress_remove(struct serve_queue *q, const char *addr)
{
    for (sup_entry **pp = &q->sup[hash_str(addr) % SUP_BUCKETS]; *pp; pp = &(*pp)->next) {
        if (strcasecmp((*pp)->address, addr) == 0) {
            sup_entry *e = *pp;
            *pp = e->next;
            free(e->address);
            free(e);
            return;
        }
    }
}

void queue_suppress(serve *sv, const char *address, const char *reason, const char *source)
{
    commit_op_post(sv, commit_op_suppress(address, reason, source));
    suppress_add(sv->queue, address, 0);
}

void queue_suppressed(serve *sv, const char *address, int64_t until)
{
    suppress_add(sv->queue, address, until);
}

void queue_unsuppress(serve *sv, const char *address)
{
    commit_op_post(sv, commit_op_unsuppress(address));
    suppress_remove(sv->queue, address);
}

static int load_suppression(const char *address, const char *reason, const char *source,
                            int64_t created, int64_t expires, void *arg)
{
    suppress_add(arg, address, expires);
    return 0;
}

/* ---- the retry heap ---- */

static void heap_swap(struct serve_queue *q, size_t a, size_t b)
{
    q_rcpt *t = q->heap[a];
    q->heap[a] = q->heap[b];
    q->heap[b] = t;
    q->heap[a]->heap_idx = a;
    q->heap[b]->heap_idx = b;
}

static void heap_up(struct serve_queue *q, size_t i)
{
    while (i > 0 && q->heap[(i - 1) / 2]->next_attempt > q->heap[i]->next_attempt) {
        heap_swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct serve_queue *q, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->heap_n && q->heap[l]->next_attempt < q->heap[m]->next_attempt)
            m = l;
        if (r < q->heap_n && q->heap[r]->next_attempt < q->heap[m]->next_attempt)
            m = r;
        if (m == i)
            return;
        heap_swap(q, i, m);
        i = m;
    }
}

static void heap_push(struct serve_queue *q, q_rcpt *r)
{
    if (q->heap_n == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 1024;
        q->heap = serve_xrealloc(q->heap, cap * sizeof *q->heap, "for the retry heap");
        q->heap_cap = cap;
    }
    r->heap_idx = q->heap_n;
    q->heap[q->heap_n++] = r;
    heap_up(q, r->heap_idx);
    r->dest->n_down += r->dest_down;
}

static void heap_remove(struct serve_queue *q, q_rcpt *r)
{
    size_t i = r->heap_idx;
    if (i == SIZE_MAX)
        return;
    q->heap_n--;
    if (i != q->heap_n) {
        q->heap[i] = q->heap[q->heap_n];
        q->heap[i]->heap_idx = i;
        heap_down(q, i);
        heap_up(q, i);
    }
    r->heap_idx = SIZE_MAX;
    r->dest->n_down -= r->dest_down;
}

/* ---- destinations ---- */

/* A destination: a recipient domain reached from one source-address pool
 * (pool NULL: the system's default address). */
static q_dest *dest_get(serve *sv, const char *domain, const char *pool)
{
    struct serve_queue *q = sv->queue;
    size_t b = (hash_str(domain) ^ (pool ? hash_str(pool) : 0)) % DEST_BUCKETS;
    for (q_dest *d = q->dests[b]; d; d = d->hnext)
        if (strcasecmp(d->domain, domain) == 0 &&
            (pool ? d->pool && strcmp(d->pool, pool) == 0 : !d->pool))
            return d;
    q_dest *d = serve_xcalloc(1, sizeof *d, "for a destination");
    d->domain = serve_xstrdup(domain, "for a destination");
    for (char *p = d->domain; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    if (pool)
        d->pool = serve_xstrdup(pool, "for a destination");
    d->max_conns = (int)sv->cfg->delivery.max_connections_per_destination;
    d->hnext = q->dests[b];
    q->dests[b] = d;
    return d;
}

static void dest_activate(struct serve_queue *q, q_dest *d)
{
    if (d->scheduled)
        return;
    d->scheduled = true;
    d->anext = q->active;
    q->active = d;
}

static void ready_push(serve *sv, q_rcpt *r)
{
    q_dest *d = r->dest;
    r->ready = true;
    r->next = NULL;
    r->prev = d->ready_tail;
    if (d->ready_tail)
        d->ready_tail->next = r;
    else
        d->ready_head = r;
    d->ready_tail = r;
    d->n_ready++;
    dest_activate(sv->queue, d);
}

static void ready_remove(q_rcpt *r)
{
    q_dest *d = r->dest;
    if (!r->ready)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        d->ready_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        d->ready_tail = r->prev;
    r->next = r->prev = NULL;
    r->ready = false;
    d->n_ready--;
}

/* ---- messages and recipients ---- */

static q_msg *msg_find(struct serve_queue *q, const char *uuid)
{
    for (q_msg *m = q->msgs[hash_str(uuid) % MSG_BUCKETS]; m; m = m->hnext)
        if (strcmp(m->uuid, uuid) == 0)
            return m;
    return NULL;
}

static void msg_unlink(struct serve_queue *q, q_msg *m)
{
    q_msg **pp = &q->msgs[hash_str(m->uuid) % MSG_BUCKETS];
    while (*pp && *pp != m)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = m->hnext;
    q->n_msgs--;
}

/* Where a recipient of this message goes: the sandbox for a sandboxed
 * sending domain, else its own domain. */
static q_dest *dest_for(serve *sv, const q_msg *m, const char *address)
{
    hd_config_delivery mode = hd_config_delivery_for(sv->cfg, m->from_domain);
    if (mode == HD_DELIVERY_SANDBOX)
        return sv->queue->sandbox;
    const char *at = strrchr(address, '@');
    const hd_config_domain *cd = hd_config_domain_find(sv->cfg, m->from_domain);
    const char *pool = m->pool ? m->pool : cd && cd->pool ? cd->pool : sv->cfg->delivery.default_pool;
    return dest_get(sv, at ? at + 1 : "", pool);
}

const char *queue_pool_label(serve *sv, const char *domain, const char *msg_pool)
{
    if (hd_config_delivery_for(sv->cfg, domain) == HD_DELIVERY_SANDBOX)
        return "sandbox";
    if (msg_pool && *msg_pool)
        return msg_pool;
    const hd_config_domain *cd = hd_config_domain_find(sv->cfg, domain);
    const char *pool = cd && cd->pool ? cd->pool : sv->cfg->delivery.default_pool;
    return pool ? pool : "default";
}

/* The one rule for the envelope sender: with verp_per_recipient each
 * recipient its own, except in the sandbox, which sends nothing (dest_for
 * sends the same domains there) and keeps the message's. */
bool queue_sender_per_rcpt(serve *sv, const char *domain)
{
    return sv->cfg->delivery.verp_per_recipient &&
           hd_config_delivery_for(sv->cfg, domain) != HD_DELIVERY_SANDBOX;
}

static const char *rcpt_pool(const q_rcpt *r)
{
    if (r->dest->sandbox)
        return "sandbox";
    return r->dest->pool ? r->dest->pool : "default";
}

void queue_gauges(serve *sv)
{
    struct serve_queue *q = sv->queue;
    metrics_queue_clear(sv);
    for (size_t b = 0; q && b < MSG_BUCKETS; b++)
        for (q_msg *m = q->msgs[b]; m; m = m->hnext)
            for (q_rcpt *r = m->rcpts; r; r = r->mnext)
                metrics_queued(sv, m->from_domain, rcpt_pool(r), m->received_at);
}

static q_msg *msg_new(serve *sv, const hd_store_message *sm)
{
    struct serve_queue *q = sv->queue;
    q_msg *m = serve_xcalloc(1, sizeof *m, "for a queued message");
    m->mail_from = serve_xstrdup(sm->mail_from, "for a queued message");
    m->id = sm->id;
    snprintf(m->uuid, sizeof m->uuid, "%s", sm->uuid);
    m->loc = (hd_spool_loc){(uint32_t)sm->segment, (uint64_t)sm->offset, (uint32_t)sm->length,
                            sm->crc};
    snprintf(m->from_domain, sizeof m->from_domain, "%s", sm->from_domain);
    /* a pool removed from the configuration since: the domain's */
    if (sm->pool[0] && hd_config_pool_find(sv->cfg, sm->pool))
        m->pool = strdup(sm->pool);
    m->flags = sm->flags;
    m->received_at = sm->received_at;
    m->received_ms = sm->received_at * 1000;
    m->expires_at = sm->expires_at;
    size_t b = hash_str(m->uuid) % MSG_BUCKETS;
    m->hnext = q->msgs[b];
    q->msgs[b] = m;
    q->n_msgs++;
    return m;
}

static q_rcpt *rcpt_new(serve *sv, q_msg *m, int64_t id, const char *address, int attempts,
                        int64_t next_attempt, const char *last_reply)
{
    q_rcpt *r = serve_xcalloc(1, sizeof *r, "for a queued recipient");
    r->address = serve_xstrdup(address, "for a queued recipient");
    r->id = id;
    r->msg = m;
    r->attempts = attempts;
    r->next_attempt = next_attempt;
    r->heap_idx = SIZE_MAX;
    r->last_reply = last_reply && *last_reply ? strdup(last_reply) : NULL;
    r->dest = dest_for(sv, m, address);
    r->mnext = m->rcpts;
    if (m->rcpts)
        m->rcpts->mprev = r;
    m->rcpts = r;
    m->open++;
    sv->queue->n_open++;
    if (next_attempt <= serve_now())
        ready_push(sv, r);
    else
        heap_push(sv->queue, r);
    return r;
}

/* ---- state changes, each sent to the committer ---- */

/* detail: the event's JSON detail, owned (freed here), or NULL */
static void post_rcpt(serve *sv, const q_rcpt *r, hd_rcpt_state state, const char *reply,
                      hd_event_type event, const char *remote, const char *tls,
                      int64_t duration_ms, char *detail)
{
    commit_op *op = commit_op_rcpt(
        &(commit_rcpt_desc){.id = r->id,
                            .message = r->msg->id,
                            .state = state,
                            .attempts = r->attempts,
                            .next_attempt = r->next_attempt,
                            .updated_at = serve_now(),
                            .last_reply = reply,
                            /* what went on the wire: "" leaves the stored one (or none) */
                            .mail_from = r->sent_as},
        &(commit_event_desc){.type = event,
                             .message = r->msg->uuid,
                             .recipient = r->address,
                             .remote = remote,
                             .reply = reply,
                             .tls = tls,
                             .detail = detail,
                             .timed = duration_ms >= 0,
                             .duration_ms = duration_ms});
    free(detail);
    commit_op_post(sv, op);
}

static void msg_release(serve *sv, q_msg *m)
{
    commit_op_post(sv, commit_op_release(m->id, m->loc.segment));
    msg_unlink(sv->queue, m);
    free(m->mail_from);
    free(m->pool);
    free(m);
}

/* The detail of a bounce at SMTP time, in the shape of an inbound
 * report's (docs/bounces.md): its kind, SES's type and subtype, herald's
 * reason, and whether it suppressed. NULL when out of memory: the event
 * goes without. */
static char *bounce_detail(const q_result *res)
{
    char s[256]; /* the names are short fixed words */
    hd_bounce_ses ses = hd_bounce_ses_of(res->kind, res->reason);
    snprintf(s, sizeof s,
             "{\"kind\":\"%s\",\"bounce_type\":\"%s\",\"bounce_subtype\":\"%s\","
             "\"reason\":\"%s\",\"acted\":%s,\"async\":false}",
             hd_bounce_class_name(res->kind), ses.type, ses.subtype,
             hd_bounce_reason_name(res->reason), res->suppress ? "true" : "false");
    return strdup(s);
}

/* The recipient is final: record it, free it, and the message when it was
 * the last. */
static void rcpt_final(serve *sv, q_rcpt *r, hd_rcpt_state state, const char *reply,
                       hd_event_type event, const char *remote, const char *tls,
                       int64_t duration_ms, char *detail)
{
    struct serve_queue *q = sv->queue;
    ready_remove(r);
    heap_remove(q, r);
    post_rcpt(sv, r, state, reply, event, remote, tls, duration_ms, detail);
    q_msg *m = r->msg;
    if (r->mprev)
        r->mprev->mnext = r->mnext;
    else
        m->rcpts = r->mnext;
    if (r->mnext)
        r->mnext->mprev = r->mprev;
    m->open--;
    q->n_open--;
    free(r->address);
    free(r->last_reply);
    free(r->sent_as);
    free(r);
    if (m->open == 0)
        msg_release(sv, m);
}

/* RFC 5321 §4.5.4.1: retry with growing intervals; ±20 % jitter spreads
 * retries of many messages to one destination. */
static int64_t retry_delay(serve *sv, int attempts)
{
    uint64_t d = sv->cfg->queue.retry_min ? sv->cfg->queue.retry_min : 60;
    for (int i = 1; i < attempts && d < sv->cfg->queue.retry_max; i++)
        d *= 2;
    if (sv->cfg->queue.retry_max && d > sv->cfg->queue.retry_max)
        d = sv->cfg->queue.retry_max;
    double jitter = 0.8 + 0.4 * ((double)rand() / RAND_MAX);
    int64_t v = (int64_t)((double)d * jitter);
    return v < 1 ? 1 : v;
}

/* The message's lifetime is over (RFC 5321 §4.5.4.1: give up and report).
 * The reason names the attempts and the last reply, whichever path
 * notices it. */
static void rcpt_expire(serve *sv, q_rcpt *r, const char *remote, const char *tls,
                        int64_t duration_ms)
{
    char why[HD_STORE_TEXT_MAX];
    snprintf(why, sizeof why, "expired after %d attempt%s; last: %s", r->attempts,
             r->attempts == 1 ? "" : "s", r->last_reply ? r->last_reply : "(none)");
    atomic_fetch_add(&sv->metrics.expired, 1);
    metrics_outcome(sv, r->msg->from_domain, rcpt_pool(r), M_EXPIRED);
    LOG_INFO_ID(r->msg->uuid, "%s expired: %s", r->address, why);
    rcpt_final(sv, r, HD_RCPT_EXPIRED, why, HD_EVENT_EXPIRED, remote, tls, duration_ms, NULL);
}

static void remember_reply(q_rcpt *r, const char *reply)
{
    free(r->last_reply);
    r->last_reply = reply && *reply ? strdup(reply) : NULL;
}

/* The envelope sender an attempt used, recorded with the recipient's next
 * state change so that `queue show` and the API show what went on the
 * wire (the per-recipient VERP address, not the message's). */
static void remember_sender(q_rcpt *r, const char *mail_from)
{
    if (r->sent_as && strcmp(r->sent_as, mail_from) == 0)
        return;
    free(r->sent_as);
    r->sent_as = *mail_from ? strdup(mail_from) : NULL;
}

static void rcpt_defer(serve *sv, q_rcpt *r, const char *reply, const char *remote,
                       const char *tls, int64_t duration_ms)
{
    int64_t now = serve_now();
    int64_t next = now + retry_delay(sv, r->attempts);
    remember_reply(r, reply);
    if (next > r->msg->expires_at) {
        rcpt_expire(sv, r, remote, tls, duration_ms);
        return;
    }
    r->next_attempt = next;
    atomic_fetch_add(&sv->metrics.deferred, 1);
    metrics_outcome(sv, r->msg->from_domain, rcpt_pool(r), M_DEFERRED);
    post_rcpt(sv, r, HD_RCPT_QUEUED, reply, HD_EVENT_DEFERRED, remote, tls, duration_ms, NULL);
    heap_push(sv->queue, r);
}

/* ---- the scheduler ---- */

static void schedule(serve *sv);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    serve *sv = arg;
    sv->queue->kicked = false;
    schedule(sv);
}

void queue_kick(serve *sv)
{
    struct serve_queue *q = sv->queue;
    if (q->kicked)
        return;
    q->kicked = true;
    struct timeval now = {0, 0};
    evtimer_add(q->timer, &now);
}

/* COMMIT_HOOK_RESUMED: the committer can record again, deliveries may start. */
static void kick_resumed(void *sv)
{
    queue_kick(sv);
}

/* The per-minute limit is reached: no connection until the minute is
 * over (a connection would only find nothing to send and quit). */
static bool minute_full(serve *sv, q_dest *d, int64_t now)
{
    uint32_t per_minute = sv->cfg->delivery.max_messages_per_minute;
    if (d->sandbox || !per_minute)
        return false;
    if (now - d->minute_start >= 60) {
        d->minute_start = now;
        d->minute_count = 0;
    }
    return d->minute_count >= per_minute;
}

static bool dest_may_open(serve *sv, q_dest *d, int64_t now)
{
    struct serve_queue *q = sv->queue;
    if (d->n_ready == 0 || d->paused_until > now || minute_full(sv, d, now))
        return false;
    /* an outcome that cannot be recorded would be sent again after a
     * restart: nothing starts until the committer writes again */
    if (commit_blocked(sv))
        return false;
    if (d->sandbox)
        return d->conns < d->max_conns;
    if (q->total_conns >= sv->cfg->delivery.max_connections || d->conns >= d->max_conns)
        return false;
    /* a new connection only for recipients the open ones will not take soon */
    return (size_t)d->conns < d->n_ready;
}

/* A destination no host of which answered, with recipients waiting for
 * their own (growing) retry times and nothing due: when its pause is over,
 * one connection with nothing to send probes it. Refused, it pauses
 * again (herald/backoff.h: at most a minute) and writes no event; taken,
 * queue_conn_done releases the recipients that waited for it. So a host
 * that comes back gets its mail within a minute, not at the next retry
 * time of a recipient (up to retry_max). */
static void dest_probe(serve *sv, int64_t now)
{
    struct serve_queue *q = sv->queue;
    q_dest **pp = &q->probe;
    while (*pp) {
        q_dest *d = *pp;
        if (d->trouble == 0 || d->n_down == 0) {    /* recovered, or nothing waits */
            d->probing = false;
            *pp = d->pnext;
            continue;
        }
        pp = &d->pnext;
        if (sv->stopping || d->paused_until > now || d->conns > 0 || d->n_ready > 0 ||
            q->total_conns >= sv->cfg->delivery.max_connections)
            continue;   /* still resting, or a connection (with mail) is the probe */
        LOG_DEBUG("%s: probing (no host answered; %zu recipient%s wait)", d->domain, d->n_down,
                  d->n_down == 1 ? "" : "s");
        d->conns++;
        q->total_conns++;
        deliver_start(sv, d);
    }
}

static void schedule(serve *sv)
{
    struct serve_queue *q = sv->queue;
    int64_t now = serve_now();
    dest_probe(sv, now);
    while (q->heap_n > 0 && q->heap[0]->next_attempt <= now) {
        q_rcpt *r = q->heap[0];
        heap_remove(q, r);
        ready_push(sv, r);
    }
    q_dest **pp = &q->active;
    while (*pp) {
        q_dest *d = *pp;
        while (!sv->stopping && dest_may_open(sv, d, now)) {
            d->conns++;
            if (d->sandbox) {
                q_batch *b = queue_next_batch(sv, d);
                if (!b) {
                    d->conns--;
                    break;
                }
                sandbox_deliver(sv, b);
            } else {
                q->total_conns++;
                deliver_start(sv, d);
            }
        }
        if (d->n_ready == 0) {
            d->scheduled = false;
            *pp = d->anext;
        } else {
            pp = &d->anext;
        }
    }
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    if (!q->kicked)
        evtimer_add(q->timer, &tv);
}

/* ---- batches ---- */

void queue_batch_free(q_batch *b)
{
    if (!b)
        return;
    hd_buf_free(&b->data);
    free(b->detail);
    free(b->rcpts);
    free(b->addrs);
    free(b->results);
    free(b);
}

static void id_bytes(const char *uuid, uint8_t out[HD_SPOOL_ID_LEN])
{
    memset(out, 0, HD_SPOOL_ID_LEN);
    memcpy(out, uuid, strnlen(uuid, HD_SPOOL_ID_LEN));
}

/* End every recipient of m not in a transaction right now; those in
 * one finish their attempt. Returns how many ended (m may be gone then). */
static int msg_end_waiting(serve *sv, q_msg *m, hd_rcpt_state state, const char *why,
                           hd_event_type event)
{
    int n = 0;
    q_rcpt *r = m->rcpts;
    while (r) {
        q_rcpt *next = r->mnext;
        if (!r->busy) {
            bool last = m->open == 1;
            rcpt_final(sv, r, state, why, event, NULL, NULL, -1, NULL);
            n++;
            if (last)
                break;
        }
        r = next;
    }
    return n;
}

/* A damaged spool record: keep the bytes for an operator, end the
 * message's recipients as 'corrupt'. */
static void msg_corrupt(serve *sv, q_msg *m, const char *why)
{
    char name[64];
    hd_err err = {0};
    snprintf(name, sizeof name, "%s.bin", m->uuid);
    if (hd_spool_quarantine(sv->spool, &m->loc, name, &err) != 0)
        LOG_ERR_ID(m->uuid, "cannot move the damaged record aside: %s", hd_err_str(&err));
    LOG_ERR_ID(m->uuid, "%s; moved aside to spool/corrupt/%s", why, name);
    atomic_fetch_add(&sv->metrics.corrupt, 1);
    msg_end_waiting(sv, m, HD_RCPT_CORRUPT, why, HD_EVENT_CORRUPT);
}

/* The envelope sender of a batch: the message's VERP address, or with
 * per-recipient VERP its recipient's (the same bounce domain and key). */
static void batch_sender(serve *sv, q_batch *b, bool per_rcpt)
{
    const char *mf = b->msg->mail_from;
    const char *at = strrchr(mf, '@');
    char id[HD_VERP_ID_MAX + 1];
    hd_err err = {0};
    if (per_rcpt && at) {
        hd_verp_rcpt_id(b->rcpts[0]->id, id);
        if (hd_verp_encode(sv->verp_key, id, at + 1, b->mail_from, sizeof b->mail_from, &err) == 0)
            return;
        LOG_WARN_ID(b->msg->uuid, "per-recipient envelope sender: %s; the message's is used",
                 hd_err_str(&err));
    }
    snprintf(b->mail_from, sizeof b->mail_from, "%s", mf);
}

q_batch *queue_next_batch(serve *sv, q_dest *d)
{
    int64_t now = serve_now();
    if (minute_full(sv, d, now) || commit_blocked(sv))  /* see dest_may_open */
        return NULL;
    while (d->ready_head) {
        q_msg *m = d->ready_head->msg;
        q_batch *b = calloc(1, sizeof *b);
        size_t cap = d->n_ready < BATCH_MAX_RCPTS ? d->n_ready : BATCH_MAX_RCPTS;
        /* a recipient of its own needs a transaction of its own (the
         * sandbox sends nothing: it keeps the message's sender) */
        bool per_rcpt = queue_sender_per_rcpt(sv, m->from_domain);
        if (per_rcpt)
            cap = 1;
        if (!b || !(b->rcpts = calloc(cap, sizeof *b->rcpts)) ||
            !(b->results = calloc(cap, sizeof *b->results)) ||
            !(b->addrs = calloc(cap, sizeof *b->addrs))) {
            queue_batch_free(b);
            return NULL;
        }
        b->dest = d;
        b->msg = m;
        hd_buf_init(&b->data, (size_t)m->loc.length + 1);
        for (q_rcpt *r = d->ready_head, *next; r && b->n < cap; r = next) {
            next = r->next;
            if (r->msg != m)
                continue;
            if (now >= m->expires_at) {
                rcpt_expire(sv, r, NULL, NULL, -1);
                continue;
            }
            if (suppressed(sv->queue, r->address)) {
                atomic_fetch_add(&sv->metrics.suppressed, 1);
                metrics_outcome(sv, r->msg->from_domain, rcpt_pool(r), M_SUPPRESSED);
                rcpt_final(sv, r, HD_RCPT_SUPPRESSED, "address is on the suppression list",
                           HD_EVENT_SUPPRESSED, NULL, NULL, -1, NULL);
                continue;
            }
            ready_remove(r);
            r->busy = true;
            r->attempts++;
            b->addrs[b->n] = r->address;
            b->rcpts[b->n++] = r;
        }
        if (b->n == 0) {            /* all expired or suppressed (m may be gone) */
            queue_batch_free(b);
            continue;
        }
        batch_sender(sv, b, per_rcpt);
        m->busy += b->n;
        uint8_t id[HD_SPOOL_ID_LEN];
        id_bytes(m->uuid, id);
        hd_err err = {0};
        int rc = hd_spool_read(sv->spool, &m->loc, id, &b->data, &err);
        if (rc != 0) {
            m->busy -= b->n;
            if (rc == HD_ESYNTAX) {     /* the bytes are damaged: nothing to retry */
                for (size_t i = 0; i < b->n; i++) {
                    b->rcpts[i]->busy = false;
                    ready_push(sv, b->rcpts[i]);
                }
                queue_batch_free(b);
                msg_corrupt(sv, m, hd_err_str(&err));
                continue;
            }
            /* could not read them now (EIO, EMFILE, no memory): try later */
            LOG_ERR_ID(m->uuid, "spool read failed, retried later: %s", hd_err_str(&err));
            for (size_t i = 0; i < b->n; i++) {
                b->rcpts[i]->busy = false;
                b->rcpts[i]->attempts--;        /* no attempt was made */
                rcpt_defer(sv, b->rcpts[i], "451 4.3.0 local error reading the queue", NULL, NULL, -1);
            }
            queue_batch_free(b);
            return NULL;
        }
        b->started_ms = serve_now_ms();
        d->minute_count++;
        return b;
    }
    return NULL;
}

void queue_batch_done(serve *sv, q_batch *b)
{
    int64_t dur = serve_now_ms() - b->started_ms;
    q_msg *m = b->msg;
    m->busy -= b->n;
    for (size_t i = 0; i < b->n; i++) {
        q_rcpt *r = b->rcpts[i];
        q_result *res = &b->results[i];
        r->busy = false;
        remember_sender(r, b->mail_from);
        switch (res->outcome) {
        case Q_DELIVERED:
            atomic_fetch_add(&sv->metrics.delivered, 1);
            metrics_outcome(sv, m->from_domain, rcpt_pool(r), M_DELIVERED);
            metrics_delivered_after(sv, m->from_domain, rcpt_pool(r),
                                    (double)(serve_now_ms() - m->received_ms) / 1000.0);
            LOG_INFO_ID(m->uuid, "delivered to %s via %s%s%s, envelope from %s: %s", r->address,
                        b->remote, b->tls[0] ? " " : "", b->tls, b->mail_from, res->reply);
            rcpt_final(sv, r, HD_RCPT_DELIVERED, res->reply, HD_EVENT_DELIVERED, b->remote, b->tls, dur,
                       NULL);
            break;
        case Q_CAPTURED:
            /* not delivered: nothing left the machine (its own state, event
             * and counters, so a sandbox never looks like real delivery) */
            atomic_fetch_add(&sv->metrics.captured, 1);
            metrics_outcome(sv, m->from_domain, rcpt_pool(r), M_CAPTURED);
            LOG_INFO_ID(m->uuid, "captured %s (sandbox, not sent), envelope from %s: %s",
                        r->address, b->mail_from, res->reply);
            rcpt_final(sv, r, HD_RCPT_CAPTURED, res->reply, HD_EVENT_CAPTURED, b->remote, NULL, dur,
                       b->detail ? strdup(b->detail) : NULL);
            break;
        case Q_BOUNCED: {
            atomic_fetch_add(&sv->metrics.bounced, 1);
            metrics_outcome(sv, m->from_domain, rcpt_pool(r), M_BOUNCED);
            LOG_INFO_ID(m->uuid, "bounced %s via %s, envelope from %s: %s (%s %s%s)", r->address,
                        b->remote, b->mail_from, res->reply, hd_bounce_reason_name(res->reason),
                        hd_bounce_class_name(res->kind), res->suppress ? ", suppressed" : "");
            if (res->suppress)
                queue_suppress(sv, r->address, res->reply, "bounce");
            rcpt_final(sv, r, HD_RCPT_BOUNCED, res->reply, HD_EVENT_BOUNCED, b->remote, b->tls, dur,
                       bounce_detail(res));
            break;
        }
        case Q_DEFERRED:
            if (m->deleted) {
                rcpt_final(sv, r, HD_RCPT_DELETED, "deleted by the operator", HD_EVENT_DELETED, b->remote,
                           b->tls, dur, NULL);
                break;
            }
            LOG_INFO_ID(m->uuid, "deferred %s via %s: %s", r->address, b->remote, res->reply);
            /* deliver.c's own result when no host answered (or no MX answer) */
            r->dest_down = res->reason == HD_REASON_NETWORKERROR;
            rcpt_defer(sv, r, res->reply, b->remote, b->tls, dur);
            break;
        }
    }
    queue_batch_free(b);
}

/* A destination answers again after trouble: the recipients deferred only
 * because no host of it answered are due now, not at their own retry
 * time (which grew while it was down); the destination's connection
 * limit, lowered by the trouble, paces them. One scan of the retry heap,
 * at recovery only. */
static void dest_recovered(serve *sv, q_dest *d)
{
    struct serve_queue *q = sv->queue;
    size_t n = 0, k = 0;
    for (size_t i = 0; i < q->heap_n; i++)
        n += q->heap[i]->dest == d && q->heap[i]->dest_down;
    q_rcpt **v = n ? malloc(n * sizeof *v) : NULL;
    if (!v)
        return;     /* none, or no memory: they keep their own retry times */
    for (size_t i = 0; i < q->heap_n; i++)
        if (q->heap[i]->dest == d && q->heap[i]->dest_down)
            v[k++] = q->heap[i];
    int64_t now = serve_now();
    for (k = 0; k < n; k++) {
        heap_remove(q, v[k]);
        v[k]->dest_down = false;
        v[k]->next_attempt = now;
        ready_push(sv, v[k]);
    }
    free(v);
    LOG_INFO("%s: answers again; %zu recipient%s deferred while it did not %s due now", d->domain,
             n, n == 1 ? "" : "s", n == 1 ? "is" : "are");
}

void queue_conn_done(serve *sv, q_dest *d, q_trouble trouble)
{
    struct serve_queue *q = sv->queue;
    d->conns--;
    if (!d->sandbox)
        q->total_conns--;
    int limit = (int)sv->cfg->delivery.max_connections_per_destination;
    int64_t now = serve_now();
    if (trouble != Q_TROUBLE_NONE) {
        /* back off: fewer connections, and a pause that grows with the
         * trouble (herald/backoff.h); after it one connection probes.
         * Connections opened together before the pause (a burst of
         * recipients to a host that is down) are one trouble: counted
         * each, they would make the pause the longest at once, and a
         * host back a moment later would wait minutes for its mail. */
        d->max_conns = d->max_conns > 1 ? d->max_conns / 2 : 1;
        if (d->paused_until <= now) {
            d->trouble++;
            d->paused_until =
                now + hd_backoff_pause(d->trouble, trouble == Q_TROUBLE_UNREACHABLE
                                                        ? HD_BACKOFF_UNREACHABLE
                                                        : HD_BACKOFF_PUSHBACK);
        }
        if (trouble == Q_TROUBLE_UNREACHABLE && !d->probing && !d->sandbox) {
            d->probing = true;
            d->pnext = q->probe;
            q->probe = d;
        }
    } else if (!d->sandbox) {
        if (d->trouble)
            dest_recovered(sv, d);
        d->trouble = 0;
        if (d->max_conns < limit)
            d->max_conns++;
    }
    if (d->n_ready)
        dest_activate(q, d);
    queue_kick(sv);
}

/* ---- entering the queue ---- */

void queue_add(serve *sv, const hd_store_message *sm, char **rcpts, const int64_t *ids, size_t n)
{
    q_msg *m = msg_new(sv, sm);
    m->received_ms = serve_now_ms();    /* accepted just now: a finer clock for the metrics */
    for (size_t i = 0; i < n; i++)
        rcpt_new(sv, m, ids[i], rcpts[i], 0, sm->received_at, NULL);
    queue_kick(sv);
}

typedef struct load_ctx {
    serve *sv;
    size_t msgs, rcpts, corrupt;
} load_ctx;

static int load_one(const hd_store_message *sm, const hd_store_recipient *rs, size_t n, void *arg)
{
    load_ctx *lc = arg;
    serve *sv = lc->sv;
    q_msg *m = msg_find(sv->queue, sm->uuid);
    if (!m) {
        m = msg_new(sv, sm);
        hd_spool_hold(sv->spool, m->loc.segment);
        lc->msgs++;
    }
    for (size_t i = 0; i < n; i++)
        rcpt_new(sv, m, rs[i].id, rs[i].address, rs[i].attempts, rs[i].next_attempt, rs[i].last_reply);
    lc->rcpts += n;
    return 0;
}

/* A message this database does not have, appended to its segment no
 * later than the last one it released from there: released too, then pruned by retention (a
 * database restored from an older copy released nothing appended after
 * its copy; a new one nothing at all; a message answered 451 is never
 * released, and neither is it owed to anyone). */
static bool spool_pruned(serve *sv, uint32_t segment, uint64_t offset)
{
    int64_t mark = -1;
    hd_err err = {0};
    return hd_store_segment_released(sv->store, segment, &mark, &err) == 0 && mark >= 0 &&
           (int64_t)offset <= mark;
}

static bool spool_prefix(const uint8_t id[HD_SPOOL_ID_LEN], char prefix[HD_SPOOL_ID_LEN + 1])
{
    memcpy(prefix, id, HD_SPOOL_ID_LEN);
    prefix[HD_SPOOL_ID_LEN] = '\0';
    return strlen(prefix) == HD_SPOOL_ID_LEN;
}

/* Collection's proof (hd_spool_collect): this database recorded the
 * message and finished it, or pruned it once finished. */
static bool spool_finished(const uint8_t id[HD_SPOOL_ID_LEN], uint32_t segment, uint64_t offset,
                           void *arg)
{
    serve *sv = arg;
    char prefix[HD_SPOOL_ID_LEN + 1];
    hd_err err = {0};
    if (!spool_prefix(id, prefix))
        return false;
    int known = hd_store_message_known(sv->store, prefix, &err);
    if (known == 0)
        return spool_pruned(sv, segment, offset);
    return known == 1 && hd_store_message_finished(sv->store, prefix, &err) == 1;
}

/* The pin's test (hd_spool_pin_unknown): this database has the message
 * (or had it, and pruned it once finished). */
static bool spool_known(const uint8_t id[HD_SPOOL_ID_LEN], uint32_t segment, uint64_t offset,
                        void *arg)
{
    serve *sv = arg;
    char prefix[HD_SPOOL_ID_LEN + 1];
    hd_err err = {0};
    /* a short or odd id, or a database error: unknown, the safe side */
    if (!spool_prefix(id, prefix))
        return false;
    int known = hd_store_message_known(sv->store, prefix, &err);
    return known == 1 || (known == 0 && spool_pruned(sv, segment, offset));
}

static void spool_pinned(uint32_t segment, size_t unknown, void *arg)
{
    serve *sv = arg;
    LOG_WARN("spool segment %08u.seg holds %zu message%s this database does not know (restored "
             "from an older copy?): it is kept, and once its known mail is done the next start "
             "moves it to %s/spool/orphan/ for `herald queue recover`", segment, unknown,
             unknown == 1 ? "" : "s", sv->data_dir);
}

static void spool_orphaned(uint32_t segment, const char *why, void *arg)
{
    serve *sv = arg;
    LOG_WARN("spool segment %08u.seg moved to %s/spool/orphan/: %s", segment, sv->data_dir, why);
}

/* A new (or emptied) database beside a spool that holds mail: the
 * database was lost or replaced, and the spool is the only copy of mail
 * answered 250. Starting would orphan it silently, so only when told. */
static int check_spool_history(serve *sv, hd_err *err)
{
    uint64_t bytes = 0;
    size_t n = hd_spool_data_segments(sv->spool, &bytes);
    int64_t msgs = 0, released = 0;
    int rc = n ? hd_store_message_count(sv->store, &msgs, err) : 0;
    /* every row pruned is still a history: segments it released mail from */
    if (!rc && n && msgs == 0)
        rc = hd_store_segment_released(sv->store, 0, &released, err);
    if (rc || n == 0 || msgs > 0 || released > 0)
        return rc;
    if (sv->cfg->queue.accept_empty_database) {
        LOG_WARN("%s/herald.db holds no message but the spool holds %zu segment%s (%llu bytes): "
                 "starting as told (--accept-empty-database); they go to spool/orphan/ and "
                 "`herald queue recover` queues their mail again", sv->data_dir, n,
                 n == 1 ? "" : "s", (unsigned long long)bytes);
        return 0;
    }
    LOG_ERR("%s/herald.db holds no message, but %s/spool holds %zu segment%s of accepted mail "
            "(%llu bytes): was the database lost or replaced? Not starting, so that mail is not "
            "lost: restore the database, or start once with `herald serve "
            "--accept-empty-database` (the segments go to spool/orphan/) and run `herald queue "
            "recover` (docs/operations.md)", sv->data_dir, sv->data_dir, n, n == 1 ? "" : "s",
            (unsigned long long)bytes);
    return hd_err_set(err, HD_ESTATE, "not starting: an empty database beside a spool of "
                      "accepted mail (--accept-empty-database; docs/operations.md)");
}

/* A message's spool record is checked when it is first read for delivery;
 * at start only its segment must exist: a missing or unreadable segment is
 * a damaged spool, handled the same way. */
int queue_load(serve *sv, hd_err *err)
{
    struct serve_queue *q = calloc(1, sizeof *q);
    if (!q)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->queue = q;
    commit_hook_add(sv, COMMIT_HOOK_RESUMED, kick_resumed, sv);
    q->timer = evtimer_new(sv->base, on_tick, sv);
    q->sandbox = calloc(1, sizeof *q->sandbox);
    if (!q->timer || !q->sandbox || !(q->sandbox->domain = strdup("")))
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    q->sandbox->sandbox = true;
    q->sandbox->max_conns = 64;
    int rc = hd_store_suppression_each(sv->store, serve_now(), load_suppression, q, err);
    if (rc)
        return rc;
    if ((rc = check_spool_history(sv, err)))
        return rc;
    load_ctx lc = {sv, 0, 0, 0};
    if ((rc = hd_store_queue_each(sv->store, load_one, &lc, err)))
        return rc;
    hd_spool_pin_unknown(sv->spool, spool_known, spool_pinned, sv);
    hd_spool_collected col;
    if ((rc = hd_spool_collect(sv->spool, spool_finished, spool_orphaned, sv, &col, err)))
        return rc;
    LOG_INFO("queue loaded: %zu message%s, %zu recipient%s to deliver%s", lc.msgs,
             lc.msgs == 1 ? "" : "s", lc.rcpts, lc.rcpts == 1 ? "" : "s",
             col.removed > 0 ? "; finished spool segments removed" : "");
    if (col.orphaned > 0)
        LOG_WARN("%zu spool segment%s moved to %s/spool/orphan/ (not deleted): they may hold "
                 "accepted mail this database does not know; `herald queue recover` queues it "
                 "again (docs/operations.md)", col.orphaned, col.orphaned == 1 ? "" : "s",
                 sv->data_dir);
    queue_kick(sv);
    return 0;
}

size_t queue_size(serve *sv)
{
    return sv->queue ? sv->queue->n_open : 0;
}

/* Make a message's waiting recipients (or everyone's) due now. */
int queue_retry(serve *sv, const char *uuid)
{
    struct serve_queue *q = sv->queue;
    int n = 0;
    q_msg *m = *uuid ? msg_find(q, uuid) : NULL;
    if (*uuid && !m)
        return HD_ENOTFOUND;
    if (m) {    /* the message's own list: removing from the heap reorders it */
        for (q_rcpt *r = m->rcpts; r; r = r->mnext)
            if (r->heap_idx != SIZE_MAX) {
                heap_remove(q, r);
                r->next_attempt = serve_now();
                ready_push(sv, r);
                n++;
            }
    } else {
        while (q->heap_n > 0) {
            q_rcpt *r = q->heap[q->heap_n - 1];
            heap_remove(q, r);
            r->next_attempt = serve_now();
            ready_push(sv, r);
            n++;
        }
    }
    if (!*uuid) {       /* flush: forget back-off too */
        for (size_t b = 0; b < DEST_BUCKETS; b++)
            for (q_dest *d = q->dests[b]; d; d = d->hnext)
                d->paused_until = 0;
    }
    queue_kick(sv);
    return n;
}

/* Delete a message: its recipients not in a transaction right now end
 * 'deleted'; those in flight finish their attempt. */
int queue_delete(serve *sv, const char *uuid)
{
    q_msg *m = msg_find(sv->queue, uuid);
    if (!m)
        return HD_ENOTFOUND;
    m->deleted = true;  /* for the recipients in a transaction right now */
    return msg_end_waiting(sv, m, HD_RCPT_DELETED, "deleted by the operator", HD_EVENT_DELETED);
}

void queue_free(serve *sv)
{
    struct serve_queue *q = sv->queue;
    if (!q)
        return;
    for (size_t b = 0; b < MSG_BUCKETS; b++)
        for (q_msg *m = q->msgs[b], *next; m; m = next) {
            next = m->hnext;
            free(m->mail_from);
            free(m->pool);
            free(m);
        }
    for (size_t b = 0; b < DEST_BUCKETS + 1; b++) {
        q_dest *d = b < DEST_BUCKETS ? q->dests[b] : q->sandbox;
        for (q_dest *next; d; d = next) {
            next = b < DEST_BUCKETS ? d->hnext : NULL;
            for (q_rcpt *r = d->ready_head, *rn; r; r = rn) {
                rn = r->next;
                free(r->address);
                free(r->last_reply);
                free(r->sent_as);
                free(r);
            }
            free(d->domain);
            free(d->pool);
            free(d);
        }
    }
    for (size_t i = 0; i < q->heap_n; i++) {
        free(q->heap[i]->address);
        free(q->heap[i]->last_reply);
        free(q->heap[i]->sent_as);
        free(q->heap[i]);
    }
    for (size_t b = 0; b < SUP_BUCKETS; b++)
        for (sup_entry *e = q->sup[b], *next; e; e = next) {
            next = e->next;
            free(e->address);
            free(e);
        }
    free(q->heap);
    if (q->timer)
        event_free(q->timer);
    free(q);
    sv->queue = NULL;
}
