/*
 * webhook.c - webhooks: every event, as signed JSON, to each [webhook]
 * endpoint that wants it; durable, retried, in order per message.
 *
 * The events table is tailed with a cursor per endpoint. Each page of
 * events (HOOK_PAGE) that an endpoint wants becomes rows of the outbox,
 * webhook_pending, in the same committer transaction that moves the
 * cursor past them: an event is either before the durable cursor and in
 * the outbox, or after it and read again after a restart. Requests are
 * made from the outbox only: a row is deleted when the endpoint answers
 * 2xx; otherwise it is tried again with exponential back-off until the
 * endpoint's max_retry_time, then marked dead (the dead letters of
 * `herald webhooks failed`). At least once: a crash between an answer and
 * the row's deletion sends it again, and the body carries the event id.
 *
 * Order per message: a row is sent only when no earlier row of the same
 * message is pending for that endpoint (the outbox query says so), so
 * "accepted" reaches the receiver before "delivered" however the first
 * one fared. Rows that are on the wire, or whose outcome is not yet
 * committed, are "held" in memory so they are not picked twice.
 *
 * Everything here runs on the main thread; the database is read through
 * the main thread's connection and written through the committer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <herald/webhook.h>
#include "serve/feedback.h"

#define HOOK_PAGE 100              /* events read per pass */
#define HOOK_INFLIGHT 4            /* requests on the wire per endpoint */
#define HOOK_TIMEOUT_S 10          /* per request: connect, send, answer */
#define HOOK_RETRY_FIRST 10        /* seconds before the first retry, then doubled */
#define HOOK_RETRY_CAP 3600        /* longest wait between two attempts */
#define HOOK_TICK_MS 1000          /* retries and missed kicks are looked for this often */
#define HOOK_BODY_MAX (1u << 20)   /* one event's JSON */
#define HOOK_REPLY_MAX 65536       /* what is read of an answer's body */
#define HOOK_PRUNE_EVERY 3600      /* dead rows older than [queue] retention go this often */
#define HOOK_PRUNE_BATCH 10000

typedef struct hook_req hook_req;

typedef struct endpoint {
    serve *sv;
    const hd_config_webhook *cfg;
    bool https;
    bool literal;                  /* host is an IP address */
    char host[256];                /* to connect to (IPv6 without brackets) */
    char host_header[300];
    uint16_t port;
    char *target;                  /* path and query */
    SSL_CTX *ssl;
    int64_t cursor;                /* events up to here are in the outbox */
    bool filling;                  /* a page is at the committer */
    unsigned inflight;
    int64_t *held;                 /* outbox rows not to pick again */
    size_t n_held, cap_held;
    hook_req *reqs;                /* on the wire */
    uint64_t sent, failed, dead;
} endpoint;

struct serve_webhook {
    endpoint *v;
    size_t n;
    struct event *timer, *kick;
    struct evdns_base *dns;        /* host names in URLs, looked up without blocking */
    int64_t pruned_at;
};

struct hook_req {
    endpoint *ep;
    hd_store_webhook row;          /* row.body is body */
    char *body;
    struct evhttp_connection *conn;
    bool has_error;
    enum evhttp_request_error error;
    uint64_t started_ms;
    hook_req *next;
};

/* ---- held rows ---- */

static bool held(const endpoint *ep, int64_t id)
{
    for (size_t i = 0; i < ep->n_held; i++)
        if (ep->held[i] == id)
            return true;
    return false;
}

static void hold(endpoint *ep, int64_t id)
{
    if (ep->n_held == ep->cap_held) {
        size_t cap = ep->cap_held ? ep->cap_held * 2 : 16;
        ep->held = serve_xrealloc(ep->held, cap * sizeof *ep->held, "in the webhook dispatcher");
        ep->cap_held = cap;
    }
    ep->held[ep->n_held++] = id;
}

static void unhold(endpoint *ep, int64_t id)
{
    for (size_t i = 0; i < ep->n_held; i++)
        if (ep->held[i] == id) {
            ep->held[i] = ep->held[--ep->n_held];
            return;
        }
}

static void post_apply(serve *sv, int (*apply)(hd_store *, void *, hd_err *),
                       void (*finish)(void *, int), void *arg)
{
    commit_op_post(sv, commit_op_apply(apply, finish, arg));
}

static void send_due(endpoint *ep);
static void send_due_later(evutil_socket_t fd, short what, void *arg);

/* ---- reading events into the outbox ---- */

typedef struct fill_page {
    endpoint *ep;
    hd_store_webhook *rows;        /* bodies owned (row.body) */
    size_t n, cap;
    int64_t last;                  /* the cursor after this page */
    size_t read;
    int rc;
} fill_page;

static void fill_free(fill_page *f)
{
    for (size_t i = 0; i < f->n; i++)
        free((char *)f->rows[i].body);
    free(f->rows);
    free(f);
}

static int fill_event(const hd_store_event *e, const char *domain, void *arg)
{
    fill_page *f = arg;
    f->last = e->id;
    f->read++;
    if (!hd_config_webhook_wants(f->ep->cfg, e->type, domain))
        return 0;
    hd_buf b;
    hd_buf_init(&b, HOOK_BODY_MAX);
    hd_err err = {0};
    if (hd_webhook_payload(e, domain, &b, &err) != 0 || hd_buf_append_byte(&b, 0) != 0) {
        LOG_ERR("webhook %s: event %" PRId64 " skipped: %s", f->ep->cfg->name, e->id,
                hd_err_str(&err));
        hd_buf_free(&b);
        return 0;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->rows = serve_xrealloc(f->rows, f->cap * sizeof *f->rows, "in the webhook dispatcher");
    }
    hd_store_webhook *w = &f->rows[f->n++];
    memset(w, 0, sizeof *w);
    snprintf(w->endpoint, sizeof w->endpoint, "%s", f->ep->cfg->name);
    w->event_id = e->id;
    snprintf(w->message, sizeof w->message, "%s", e->message);
    snprintf(w->type, sizeof w->type, "%s", e->type);
    w->body = (char *)hd_buf_steal(&b, NULL);
    w->created = serve_now();
    return 0;
}

/* Committer thread: the rows and the cursor, in one transaction. */
static int fill_apply(hd_store *st, void *arg, hd_err *err)
{
    fill_page *f = arg;
    int rc = 0;
    for (size_t i = 0; !rc && i < f->n; i++)
        rc = hd_store_webhook_add(st, &f->rows[i], err);
    return rc ? rc : hd_store_webhook_set_cursor(st, f->ep->cfg->name, f->last, err);
}

static void fill_done(void *arg)
{
    fill_page *f = arg;
    endpoint *ep = f->ep;
    ep->filling = false;
    bool more = false;
    if (f->rc == 0) {
        ep->cursor = f->last;
        more = f->read == HOOK_PAGE;
    }
    fill_free(f);
    if (more)
        event_active(ep->sv->webhook->kick, EV_TIMEOUT, 0);
    send_due(ep);
}

static void fill_finish(void *arg, int rc)
{
    fill_page *f = arg;
    f->rc = rc;
    if (f->ep->sv->stopping)
        fill_free(f);      /* the loop is gone: nothing to tell */
    else
        serve_post(f->ep->sv, fill_done, f);
}

/* Event ids are rowids: when retention has removed every event, SQLite
 * numbers the next ones from 1 again. A cursor past the last id means
 * that happened, and every event there is now is new. */
static void restart_cursor(endpoint *ep)
{
    int64_t last = 0;
    hd_err err = {0};
    if (hd_store_event_last_id(ep->sv->store, &last, &err) != 0 || last >= ep->cursor)
        return;
    LOG_WARN("webhook %s: the events table restarts at 1 (all old events were removed): "
             "reading it from the start", ep->cfg->name);
    fill_page *f = serve_xcalloc(1, sizeof *f, "in the webhook dispatcher");
    f->ep = ep;
    f->last = 0;
    ep->filling = true;
    post_apply(ep->sv, fill_apply, fill_finish, f);
}

static void fill(endpoint *ep)
{
    if (ep->filling)
        return;
    fill_page *f = serve_xcalloc(1, sizeof *f, "in the webhook dispatcher");
    f->ep = ep;
    f->last = ep->cursor;
    hd_err err = {0};
    if (hd_store_webhook_events(ep->sv->store, ep->cursor, HOOK_PAGE, fill_event, f, &err) != 0)
        LOG_ERR("webhook %s: %s", ep->cfg->name, hd_err_str(&err));
    if (f->read == 0) {
        fill_free(f);
        restart_cursor(ep);
        return;
    }
    ep->filling = true;
    post_apply(ep->sv, fill_apply, fill_finish, f);
}

/* ---- outcomes ---- */

/* Seconds before attempt n+1 after n failures: 10 s doubling to 1 h,
 * with +-10% jitter so that endpoints that fail together do not retry in
 * step. */
static int64_t backoff(int attempts)
{
    int64_t d = HOOK_RETRY_FIRST;
    for (int i = 1; i < attempts && d < HOOK_RETRY_CAP; i++)
        d *= 2;
    if (d > HOOK_RETRY_CAP)
        d = HOOK_RETRY_CAP;
    int64_t j = d / 10;
    return j > 0 ? d - j + rand() % (2 * j + 1) : d;
}

static int result_apply(hd_store *st, void *arg, hd_err *err)
{
    hook_req *hr = arg;
    if (hr->row.attempts == 0)      /* delivered */
        return hd_store_webhook_remove(st, hr->row.id, serve_now(), err);
    return hd_store_webhook_update(st, &hr->row, err);
}

static void req_free(hook_req *hr)
{
    free(hr->body);
    free(hr);
}

static void result_done(void *arg)
{
    hook_req *hr = arg;
    endpoint *ep = hr->ep;
    unhold(ep, hr->row.id);
    req_free(hr);
    send_due(ep);
}

static void result_finish(void *arg, int rc)
{
    hook_req *hr = arg;
    if (hr->ep->sv->stopping)
        req_free(hr);
    else
        serve_post(hr->ep->sv, result_done, hr);
}

static void free_conn(evutil_socket_t fd, short what, void *arg)
{
    evhttp_connection_free(arg);
}

static const char *error_text(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "connection closed before an answer";
    case EVREQ_HTTP_INVALID_HEADER:
        return "malformed answer";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection failed";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "answer too long";
    }
    return "failed";
}

/* A failed attempt: when to try again, or dead. */
static void failed(hook_req *hr, const char *why)
{
    endpoint *ep = hr->ep;
    hd_store_webhook *w = &hr->row;
    int64_t now = serve_now();
    int64_t deadline = w->created + (int64_t)ep->cfg->max_retry_time;
    w->attempts++;
    w->last_at = now;
    snprintf(w->last_error, sizeof w->last_error, "%s", why);
    ep->failed++;
    if (now >= deadline) {
        w->dead = true;
        ep->dead++;
        LOG_WARN("webhook %s: event %" PRId64 " (%s) given up after %d attempt%s: %s",
                 ep->cfg->name, w->event_id, w->type, w->attempts, w->attempts == 1 ? "" : "s",
                 why);
        return;
    }
    w->next_at = now + backoff(w->attempts);
    if (w->next_at > deadline)
        w->next_at = deadline;
    LOG_WARN("webhook %s: event %" PRId64 " (%s): %s; attempt %d, next in %" PRId64 " s",
             ep->cfg->name, w->event_id, w->type, why, w->attempts, w->next_at - now);
}

static void unlink_req(endpoint *ep, hook_req *hr)
{
    for (hook_req **p = &ep->reqs; *p; p = &(*p)->next)
        if (*p == hr) {
            *p = hr->next;
            break;
        }
    ep->inflight--;
}

static void tls_error(hook_req *hr, char *out, size_t size)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(hr->conn);
    unsigned long e = bev ? bufferevent_get_openssl_error(bev) : 0;
    if (e) {
        char buf[200];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(out, size, "TLS: %s", buf);
    }
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    hook_req *hr = arg;
    hr->has_error = true;
    hr->error = e;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    hook_req *hr = arg;
    endpoint *ep = hr->ep;
    unlink_req(ep, hr);
    int code = req && !hr->has_error ? evhttp_request_get_response_code(req) : 0;
    char why[HD_STORE_TEXT_MAX];
    if (code >= 200 && code < 300) {
        ep->sent++;
        hr->row.attempts = 0;
        LOG_DEBUG("webhook %s: event %" PRId64 " (%s) sent: %d in %" PRIu64 " ms", ep->cfg->name,
                  hr->row.event_id, hr->row.type, code, serve_mono_ms() - hr->started_ms);
    } else {
        if (code > 0) {
            const char *line = evhttp_request_get_response_code_line(req);
            snprintf(why, sizeof why, "HTTP %d %s", code, line ? line : "");
        } else {
            snprintf(why, sizeof why, "%s",
                     hr->has_error ? error_text(hr->error) : "no connection or no answer");
            if (ep->https)
                tls_error(hr, why, sizeof why);
        }
        failed(hr, why);
    }
    /* the connection cannot be freed from its own callback */
    struct timeval now = {0, 0};
    event_base_once(ep->sv->base, -1, EV_TIMEOUT, free_conn, hr->conn, &now);
    hr->conn = NULL;
    post_apply(ep->sv, result_apply, result_finish, hr);
    /* not from here: a request that fails at once would call back into
     * this function once per due row, deeper each time */
    event_base_once(ep->sv->base, -1, EV_TIMEOUT, send_due_later, ep, &now);
}

/* ---- requests ---- */

static struct bufferevent *new_bev(endpoint *ep)
{
    struct event_base *base = ep->sv->base;
    if (!ep->https)
        return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    SSL *ssl = SSL_new(ep->ssl);
    if (!ssl)
        return NULL;
    if (ep->literal)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ep->host);
    else {
        SSL_set_tlsext_host_name(ssl, ep->host);
        SSL_set1_host(ssl, ep->host);
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        SSL_free(ssl);
    else
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static int make_request(hook_req *hr)
{
    endpoint *ep = hr->ep;
    const char *secret = ep->cfg->secret;
    char sig[HD_WEBHOOK_SIG_MAX], id[32];
    hd_err err = {0};
    size_t len = strlen(hr->body);
    if (hd_webhook_sign((const uint8_t *)secret, strlen(secret), serve_now(),
                        hd_slice_make(hr->body, len), sig, sizeof sig, &err) != 0) {
        LOG_ERR("webhook %s: %s", ep->cfg->name, hd_err_str(&err));
        return -1;
    }
    struct bufferevent *bev = new_bev(ep);
    struct evdns_base *dns = ep->literal ? NULL : ep->sv->webhook->dns;
    hr->conn = bev ? evhttp_connection_base_bufferevent_new(ep->sv->base, dns, bev, ep->host,
                                                            ep->port)
                   : NULL;
    if (!hr->conn) {
        if (bev)
            bufferevent_free(bev);
        return -1;
    }
    evhttp_connection_set_timeout(hr->conn, HOOK_TIMEOUT_S);
    evhttp_connection_set_retries(hr->conn, 0);
    evhttp_connection_set_max_body_size(hr->conn, HOOK_REPLY_MAX);
    struct evhttp_request *req = evhttp_request_new(on_done, hr);
    if (!req)
        return -1;
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    snprintf(id, sizeof id, "%" PRId64, hr->row.event_id);
    evhttp_add_header(h, "Host", ep->host_header);
    evhttp_add_header(h, "User-Agent", "herald");
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Herald-Signature", sig);
    evhttp_add_header(h, "Herald-Event-Id", id);
    evhttp_add_header(h, "Herald-Webhook", ep->cfg->name);
    evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(req), hr->body, len);
    hr->started_ms = serve_mono_ms();
    /* on failure evhttp_make_request has freed req */
    return evhttp_make_request(hr->conn, req, EVHTTP_REQ_POST, ep->target);
}

static void start(endpoint *ep, const hd_store_webhook *w)
{
    hook_req *hr = serve_xcalloc(1, sizeof *hr, "in the webhook dispatcher");
    hr->ep = ep;
    hr->row = *w;
    hr->body = serve_xstrdup(w->body ? w->body : "", "in the webhook dispatcher");
    hr->row.body = NULL;
    hold(ep, w->id);
    /* on the list first: a connection refused at once calls on_done
     * from inside evhttp_make_request */
    hr->next = ep->reqs;
    ep->reqs = hr;
    ep->inflight++;
    if (make_request(hr) != 0) {
        unlink_req(ep, hr);
        if (hr->conn)
            evhttp_connection_free(hr->conn);
        hr->conn = NULL;
        failed(hr, "cannot make the request");
        post_apply(ep->sv, result_apply, result_finish, hr);
    }
}

static int due_row(const hd_store_webhook *w, void *arg)
{
    endpoint *ep = arg;
    if (ep->inflight >= HOOK_INFLIGHT)
        return 1;
    if (!held(ep, w->id))
        start(ep, w);
    return 0;
}

static void send_due(endpoint *ep)
{
    if (ep->inflight >= HOOK_INFLIGHT || ep->sv->stopping)
        return;
    hd_err err = {0};
    if (hd_store_webhook_due(ep->sv->store, ep->cfg->name, serve_now(),
                             HOOK_INFLIGHT + ep->n_held, due_row, ep, &err) != 0)
        LOG_ERR("webhook %s: %s", ep->cfg->name, hd_err_str(&err));
}

static void send_due_later(evutil_socket_t fd, short what, void *arg)
{
    send_due(arg);
}

/* ---- the loop's side ---- */

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    serve *sv = arg;
    for (size_t i = 0; sv->webhook && i < sv->webhook->n; i++)
        fill(&sv->webhook->v[i]);
}

static int prune_apply(hd_store *st, void *arg, hd_err *err)
{
    size_t n = 0;
    int rc = hd_store_webhook_prune(st, *(int64_t *)arg, HOOK_PRUNE_BATCH, &n, err);
    if (!rc && n)
        LOG_INFO("retention: %zu dead webhook event%s removed", n, n == 1 ? "" : "s");
    return rc;
}

static void prune_finish(void *arg, int rc)
{
    free(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    serve *sv = arg;
    int64_t now = serve_now();
    if (now - sv->webhook->pruned_at >= HOOK_PRUNE_EVERY) {
        sv->webhook->pruned_at = now;
        int64_t *before = serve_xcalloc(1, sizeof *before, "in the webhook dispatcher");
        *before = now - (int64_t)sv->cfg->queue.retention;
        post_apply(sv, prune_apply, prune_finish, before);
    }
    for (size_t i = 0; i < sv->webhook->n; i++) {
        fill(&sv->webhook->v[i]);
        send_due(&sv->webhook->v[i]);
    }
}

/* COMMIT_HOOK_BATCH: new events may be committed. */
static void webhook_kick(void *arg)
{
    serve *sv = arg;
    if (sv->webhook)
        event_active(sv->webhook->kick, EV_TIMEOUT, 0);
}

static int parse_url(endpoint *ep, hd_err *err)
{
    struct evhttp_uri *u = evhttp_uri_parse(ep->cfg->url);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (!scheme || !host || !host[0]) {
        if (u)
            evhttp_uri_free(u);
        return hd_err_set(err, HD_EINVAL, "[webhook %s] url: cannot be parsed", ep->cfg->name);
    }
    ep->https = strcmp(scheme, "https") == 0;
    int port = evhttp_uri_get_port(u);
    ep->port = (uint16_t)(port > 0 ? port : ep->https ? 443 : 80);
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2)
        snprintf(ep->host, sizeof ep->host, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(ep->host, sizeof ep->host, "%s", host);
    if (port > 0)
        snprintf(ep->host_header, sizeof ep->host_header, "%s:%d", host, port);
    else
        snprintf(ep->host_header, sizeof ep->host_header, "%s", host);
    uint8_t ip[16];
    ep->literal = evutil_inet_pton(AF_INET, ep->host, ip) == 1 ||
                  evutil_inet_pton(AF_INET6, ep->host, ip) == 1;
    const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
    size_t n = (path ? strlen(path) : 0) + (query ? strlen(query) : 0) + 3;
    ep->target = serve_xcalloc(1, n, "in the webhook dispatcher");
    snprintf(ep->target, n, "%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
             query ? query : "");
    evhttp_uri_free(u);
    return 0;
}

static int tls_ctx(endpoint *ep, hd_err *err)
{
    ep->ssl = SSL_CTX_new(TLS_client_method());
    if (!ep->ssl)
        return hd_err_set(err, HD_ECRYPTO, "[webhook %s]: no TLS context", ep->cfg->name);
    SSL_CTX_set_min_proto_version(ep->ssl, TLS1_2_VERSION);
    SSL_CTX_set_verify(ep->ssl, SSL_VERIFY_PEER, NULL);
    int ok = ep->cfg->ca_file ? SSL_CTX_load_verify_locations(ep->ssl, ep->cfg->ca_file, NULL)
                              : SSL_CTX_set_default_verify_paths(ep->ssl);
    if (ok != 1)
        return hd_err_set(err, HD_EIO, "[webhook %s] ca_file %s: cannot load the certificates",
                          ep->cfg->name, ep->cfg->ca_file ? ep->cfg->ca_file : "(system)");
    return 0;
}

/* The durable cursor, or for an endpoint seen for the first time, the
 * newest event: a new endpoint gets what happens from now on, not the
 * history. */
static int load_cursor(endpoint *ep, hd_err *err)
{
    int rc = hd_store_webhook_cursor(ep->sv->store, ep->cfg->name, &ep->cursor, err);
    if (rc != HD_ENOTFOUND)
        return rc;
    if ((rc = hd_store_event_last_id(ep->sv->store, &ep->cursor, err)) != 0)
        return rc;
    fill_page *f = serve_xcalloc(1, sizeof *f, "in the webhook dispatcher");
    f->ep = ep;
    f->last = ep->cursor;
    ep->filling = true;
    post_apply(ep->sv, fill_apply, fill_finish, f);
    return 0;
}

int webhook_start(serve *sv, hd_err *err)
{
    const hd_config *cfg = sv->cfg;
    if (cfg->n_webhooks == 0)
        return 0;
    struct serve_webhook *wh = serve_xcalloc(1, sizeof *wh, "in the webhook dispatcher");
    wh->v = serve_xcalloc(cfg->n_webhooks, sizeof *wh->v, "in the webhook dispatcher");
    sv->webhook = wh;
    for (size_t i = 0; i < cfg->n_webhooks; i++) {
        endpoint *ep = &wh->v[wh->n++];
        ep->sv = sv;
        ep->cfg = &cfg->webhooks[i];
        int rc = parse_url(ep, err);
        if (!rc && ep->https)
            rc = tls_ctx(ep, err);
        /* /etc/resolv.conf and /etc/hosts, as getaddrinfo would, but on the loop */
        if (!rc && !ep->literal && !wh->dns &&
            !(wh->dns = evdns_base_new(sv->base, EVDNS_BASE_INITIALIZE_NAMESERVERS)))
            rc = hd_err_set(err, HD_EIO, "[webhook %s]: cannot read the resolver configuration",
                            ep->cfg->name);
        if (!rc)
            rc = load_cursor(ep, err);
        if (rc)
            return rc;
        LOG_INFO("webhook %s: events after #%" PRId64 " to %s (retried for %" PRIu32 " s)",
                 ep->cfg->name, ep->cursor, ep->cfg->url, ep->cfg->max_retry_time);
    }
    wh->kick = event_new(sv->base, -1, 0, on_kick, sv);
    wh->timer = event_new(sv->base, -1, EV_PERSIST, on_tick, sv);
    if (!wh->kick || !wh->timer)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    struct timeval tick = {HOOK_TICK_MS / 1000, (HOOK_TICK_MS % 1000) * 1000};
    event_add(wh->timer, &tick);
    event_active(wh->kick, EV_TIMEOUT, 0);
    commit_hook_add(sv, COMMIT_HOOK_BATCH, webhook_kick, sv);
    return 0;
}

/* After commit_stop: nothing can post back any more. Requests on the wire
 * are dropped; their rows are still pending and go again at the next
 * start. */
void webhook_stop(serve *sv)
{
    struct serve_webhook *wh = sv->webhook;
    if (!wh)
        return;
    for (size_t i = 0; i < wh->n; i++) {
        endpoint *ep = &wh->v[i];
        for (hook_req *hr = ep->reqs, *next; hr; hr = next) {
            next = hr->next;
            evhttp_connection_free(hr->conn);
            req_free(hr);
        }
        SSL_CTX_free(ep->ssl);
        free(ep->held);
        free(ep->target);
    }
    if (wh->kick)
        event_free(wh->kick);
    if (wh->timer)
        event_free(wh->timer);
    if (wh->dns)
        evdns_base_free(wh->dns, 0);
    free(wh->v);
    free(wh);
    sv->webhook = NULL;
}

/* ---- the control socket and metrics ---- */

typedef struct revive {
    serve *sv;
    int64_t id;
    int n;
} revive;

static int count_dead(const hd_store_webhook *w, void *arg)
{
    revive *r = arg;
    if (r->id == 0 || r->id == w->id)
        r->n++;
    return 0;
}

static int revive_apply(hd_store *st, void *arg, hd_err *err)
{
    revive *r = arg;
    int n;
    return hd_store_webhook_revive(st, r->id, serve_now(), &n, err);
}

static void revive_finish(void *arg, int rc)
{
    free(arg);      /* the commit kicks the dispatcher */
}

int webhook_retry(serve *sv, int64_t id)
{
    revive *r = serve_xcalloc(1, sizeof *r, "in the webhook dispatcher");
    r->sv = sv;
    r->id = id;
    hd_err err = {0};
    if (hd_store_webhook_each(sv->store, NULL, true, count_dead, r, &err) != 0) {
        LOG_ERR("webhooks: %s", hd_err_str(&err));
        free(r);
        return HD_EIO;
    }
    int n = r->n;
    if (n == 0) {
        free(r);
        return id ? HD_ENOTFOUND : 0;
    }
    post_apply(sv, revive_apply, revive_finish, r);
    return n;
}

void webhook_metrics(serve *sv, struct evbuffer *b)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"webhook_sent_total", "counter", "webhook events the endpoint took (2xx)"},
        {"webhook_failed_attempts_total", "counter", "webhook requests that failed"},
        {"webhook_dead_total", "counter", "webhook events given up after max_retry_time"},
        {"webhook_pending", "gauge", "webhook events waiting (first attempt or retry)"},
    };
    struct serve_webhook *wh = sv->webhook;
    if (!wh)
        return;
    for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
        evbuffer_add_printf(b, "# HELP herald_%s %s\n# TYPE herald_%s %s\n", m[k].name,
                            m[k].help, m[k].name, m[k].type);
        for (size_t i = 0; i < wh->n; i++) {
            endpoint *ep = &wh->v[i];
            int64_t pending = 0, dead = 0;
            hd_err err = {0};
            if (k == 3)
                hd_store_webhook_counts(sv->store, ep->cfg->name, &pending, &dead, &err);
            uint64_t v = k == 0 ? ep->sent : k == 1 ? ep->failed : k == 2 ? ep->dead
                                                                         : (uint64_t)pending;
            evbuffer_add_printf(b, "herald_%s{webhook=\"%s\"} %" PRIu64 "\n", m[k].name,
                                ep->cfg->name, v);
        }
    }
}
