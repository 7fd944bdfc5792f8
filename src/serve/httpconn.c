/*
 * httpconn.c - the evhttp listeners' own socket and connections (issue 14).
 *
 * libevent 2.1 has no connection cap, no hook before a request's body is
 * read (evhttp_set_newreqcb came in 2.2) and no pause on EMFILE, so:
 *   - the listening socket is ours (evhttp_bind_listener), with an error
 *     callback that stops accepting for a second at EMFILE/ENFILE instead
 *     of spinning on accept();
 *   - each connection's bufferevent is ours (evhttp_set_bevcb): counted
 *     (the count drops in evhttp's close callback), one over the cap, or
 *     over the cap for its client address (IPv6: its /64, herald/clientkey.h;
 *     client_limit_exceptions are not counted), is answered 503 and
 *     closed, and its input stops being read past READ_HIGH bytes (plus
 *     the body being read: evhttp 2.1 takes a body once all of it is in),
 *     so a client that pipelines and never reads its answers holds at most
 *     that much (evhttp answers one request at a time; what comes in
 *     meanwhile waits in the input, under the same watermark);
 *   - a callback on the input buffer sees each byte before evhttp does
 *     and follows the framing: a request head must be complete within
 *     HEAD_DEADLINE_MS of its first byte (evhttp's own timeout restarts on
 *     every byte), else 408; at the end of a head it refuses what is
 *     ambiguous (RFC 9112 §6.3) or over the listener's body size (413) and
 *     asks the gate (the API: the key); a refused request never reaches
 *     evhttp: its head and body are dropped, the answer is written through
 *     the bufferevent once the answers before it are sent, the writing
 *     side is shut once it is out, and the connection is closed.
 * The framing this file follows (herald/httphead.h) is the only one
 * evhttp is given: no Transfer-Encoding, one Content-Length of digits, no
 * obsolete line folding; anything else is refused here, so both read the
 * same request.
 * Main thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include <herald/clientkey.h>
#include <herald/config.h>
#include <herald/httphead.h>
#include <herald/json.h>
#include "serve/intake.h"

#define READ_HIGH (64 * 1024)       /* input held per connection before reading stops */
#define HEAD_MAX (32 * 1024)        /* a request line and fields (evhttp's own limit is 16 KiB each) */
#define DISCARD_MAX (1024 * 1024)   /* bytes of a refused body read and dropped before closing */
#define LINGER_MS 1000              /* time a refused client gets to read its answer once sent */
#define REFUSAL_WRITE_MS 5000       /* time a refusal may take to be sent */
#define HEAD_DEADLINE_MS 10000      /* a request head complete this long after its first byte */
#define ACCEPT_PAUSE_MS 1000        /* accepting stops this long at EMFILE/ENFILE */
#define LISTENERS_MAX 4

typedef enum conn_state { C_HEAD, C_BODY, C_DISCARD } conn_state;
/* what the connection's one timer is waiting for */
typedef enum timer_use { T_NONE, T_HEAD, T_SEND, T_WRITE, T_LINGER } timer_use;

typedef struct http_conn {
    http_listener *l;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *watch;    /* our look at the input, before evhttp's */
    struct evbuffer_cb_entry *out_watch;  /* the refusal being written */
    struct event *timer;
    timer_use timer_for;
    bool over_cap;
    bool no_linger;                     /* closed once its answer is out */
    bool in_watch;                      /* our own changes to the input are not read again */
    bool refused;
    conn_state state;
    unsigned outstanding;               /* requests handed to evhttp, not yet answered */
    char head[HEAD_MAX];
    size_t head_len;
    size_t head_prev;                   /* bytes of the head that came in earlier reads */
    uint64_t body_left;
    uint64_t discarded;
    int refuse_status;                  /* an answer waiting for the ones before it */
    char refuse_code[32];
    char refuse_text[256];
    char peer[64];
    char client[HD_CLIENTKEY_MAX];      /* "" until attached, or when exempt */
    struct http_conn *next;
} http_conn;

struct http_listener {
    serve *sv;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct evconnlistener *lev;
    struct event *resume;
    char name[16];
    unsigned max;
    unsigned max_per_client;            /* 0: no limit */
    char *const *exceptions;            /* borrowed from the configuration */
    size_t n_exceptions;
    uint64_t max_body;
    const char *const *methods;         /* static; NULL: any */
    size_t n;
    http_gate_fn gate;
    void *gate_arg;
    http_conn *conns;
};

/* libevent gives the listener's error callback evhttp's argument, not
 * ours: the listeners are found by their evconnlistener here. */
static http_listener *listeners[LISTENERS_MAX];

static const char *reason_of(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* The client's address, once known: the one evhttp took from accept()
 * (the socket may be reset already), else getpeername(). */
static void fill_peer(http_conn *c, struct evhttp_connection *evcon)
{
    char *host = NULL;
    ev_uint16_t port = 0;
    if (c->peer[0] == '?' && evcon)
        evhttp_connection_get_peer(evcon, &host, &port);
    if (host && host[0]) {
        snprintf(c->peer, sizeof c->peer, "%s", host);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (c->peer[0] != '?' || fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &n) != 0)
        return;
    const void *a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                             : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
    if (!evutil_inet_ntop(ss.ss_family, a, c->peer, sizeof c->peer))
        snprintf(c->peer, sizeof c->peer, "?");
}

static void unlink_conn(http_conn *c)
{
    http_listener *l = c->l;
    for (http_conn **pp = &l->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    l->n--;
}

static void conn_free(http_conn *c)
{
    if (c->watch)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    if (c->out_watch)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_watch);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

/* Everything from index keep of the input on is dropped. */
static void input_cut(http_conn *c, size_t keep)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    if (keep >= len)
        return;
    struct evbuffer *front = evbuffer_new();
    if (front && keep)
        evbuffer_remove_buffer(in, front, keep);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (front) {
        evbuffer_add_buffer(in, front);
        evbuffer_free(front);
    }
}

static void send_refusal(http_conn *c);
static void refuse(http_conn *c, int status, const char *code, const char *text);

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void timer_set(http_conn *c, timer_use use, int ms)
{
    if (!c->timer)
        c->timer = evtimer_new(bufferevent_get_base(c->bev), on_timer, c);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    c->timer_for = use;
    if (!c->timer || evtimer_add(c->timer, &tv) != 0) {
        c->timer_for = T_NONE;
        shutdown(bufferevent_getfd(c->bev), SHUT_RD);   /* evhttp reads the end and closes */
    }
}

static void timer_clear(http_conn *c)
{
    if (c->timer)
        evtimer_del(c->timer);
    c->timer_for = T_NONE;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn *c = arg;
    timer_use use = c->timer_for;
    c->timer_for = T_NONE;
    switch (use) {
    case T_HEAD:
        if (c->outstanding) {           /* the client waits on us, not we on it */
            timer_set(c, T_HEAD, HEAD_DEADLINE_MS);
            return;
        }
        LOG_WARN_LIMITED("http-slow-head", c->peer, "%s: request head from %s not complete "
                         "%d s after its first byte: refused (408)", c->l->name, c->peer,
                         HEAD_DEADLINE_MS / 1000);
        input_cut(c, 0);                /* nothing of it has reached evhttp's request */
        c->head_len = 0;
        refuse(c, 408, "timeout", "the request head took too long to arrive");
        return;
    case T_SEND:
        send_refusal(c);
        return;
    case T_WRITE:       /* the client does not read its answer */
    case T_LINGER:
        /* evhttp reads end-of-file and frees the connection (and c) */
        shutdown(bufferevent_getfd(c->bev), SHUT_RD);
        return;
    case T_NONE:
        return;
    }
}

/* The refusal's bytes left the output buffer: shut the writing side
 * (the client reads its answer and the end), then give it LINGER_MS to
 * read them while what it still sends is dropped (a close with unread
 * input would reset the connection and could take the answer with it). */
static void on_output(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
    http_conn *c = arg;
    if (info->n_deleted == 0 || evbuffer_get_length(out) != 0 || c->timer_for != T_WRITE)
        return;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    shutdown(fd, SHUT_WR);
    if (c->no_linger)
        shutdown(fd, SHUT_RD);
    else
        timer_set(c, T_LINGER, LINGER_MS);
}

/* The answers before it are sent (outstanding is 0) and evhttp has not
 * seen this request: the refusal goes into the bufferevent's output, at
 * most REFUSAL_WRITE_MS for a client that does not read it. evhttp's own
 * write callback is unset first: it would take the refusal's end for the
 * end of an answer of its own. */
static void send_refusal(http_conn *c)
{
    json_t *o = json_pack("{s:{s:s,s:o}}", "error", "code", c->refuse_code, "message",
                          hd_json_text(c->refuse_text));
    char *body = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    char allow[128] = "";   /* RFC 9110 §15.5.6: a 405 names the methods */
    for (size_t i = 0; c->refuse_status == 405 && c->l->methods && c->l->methods[i]; i++) {
        size_t len = strlen(allow);
        snprintf(allow + len, sizeof allow - len, "%s%s", i ? ", " : "Allow: ", c->l->methods[i]);
    }
    if (allow[0])
        snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "\r\n");
    char msg[1024];
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s%s%s"
                     "\r\n%s\n",
                     c->refuse_status, reason_of(c->refuse_status),
                     (body ? strlen(body) : 2) + 1,
                     c->refuse_status == 401 ? "WWW-Authenticate: Bearer realm=\"herald\"\r\n" : "",
                     c->refuse_status == 503 ? "Retry-After: 5\r\n" : "", allow, body ? body : "{}");
    free(body);
    c->refuse_status = 0;
    c->state = C_DISCARD;
    struct bufferevent *bev = c->bev;
    if (bufferevent_getfd(bev) < 0)
        return;
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *cbarg = NULL;
    bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
    bufferevent_setcb(bev, rcb, NULL, ecb, cbarg);
    if (!c->out_watch)
        c->out_watch = evbuffer_add_cb(bufferevent_get_output(bev), on_output, c);
    timer_set(c, T_WRITE, REFUSAL_WRITE_MS);
    if (n <= 0 || (size_t)n >= sizeof msg || !c->out_watch ||
        bufferevent_write(bev, msg, (size_t)n) != 0 || bufferevent_enable(bev, EV_WRITE) != 0) {
        LOG_DEBUG("%s: answer to %s not sent", c->l->name, c->peer);
        shutdown(bufferevent_getfd(bev), SHUT_RDWR);
    }
}

static void refuse(http_conn *c, int status, const char *code, const char *text)
{
    if (c->refused)         /* one answer a connection; then it closes */
        return;
    c->refused = true;
    c->refuse_status = status;
    snprintf(c->refuse_code, sizeof c->refuse_code, "%s", code);
    snprintf(c->refuse_text, sizeof c->refuse_text, "%s", text);
    c->state = C_DISCARD;
    if (c->timer_for == T_HEAD)
        timer_clear(c);
    if (c->outstanding == 0)
        send_refusal(c);
}

/* Whether method is one of methods (NULL-terminated; NULL: any). */
static bool method_allowed(const char *const *methods, hd_slice method)
{
    for (size_t i = 0; methods && methods[i]; i++)
        if (strlen(methods[i]) == method.len && memcmp(methods[i], method.p, method.len) == 0)
            return true;
    return methods == NULL;
}

/* A head ended: let it through or refuse it. */
static void head_done(http_conn *c, size_t head_start)
{
    if (c->timer_for == T_HEAD)
        timer_clear(c);
    fill_peer(c, NULL);
    hd_httphead hh;
    hd_err err = {0};
    const char *code = "invalid_header";
    char text[256] = "";
    char method[16] = "", auth[1024] = "";
    int status = 0;
    if (hd_httphead_parse(hd_slice_make((const uint8_t *)c->head, c->head_len), &hh, &err)) {
        status = hh.status;
        if (status == 411)
            code = "length_required";
        snprintf(text, sizeof text, "%s", err.msg);
        LOG_WARN_LIMITED("http-framing", c->peer, "%s: request refused (%d): %s", c->l->name,
                         status, text);
    } else if (!method_allowed(c->l->methods, hh.method)) {
        /* here, not by evhttp: an answer evhttp makes itself reaches no
         * handler, so it would never be counted as sent (on_answered) */
        status = 405;
        code = "method_not_allowed";
        snprintf(text, sizeof text, "method %.*s is not allowed here", (int)hh.method.len,
                 (const char *)hh.method.p);
        LOG_WARN_LIMITED("http-method", c->peer, "%s: request from %s refused (405): %s",
                         c->l->name, c->peer, text);
    } else if (hh.content_length > c->l->max_body) {
        /* before the read watermark is raised for it: evhttp's own 413
         * would come only once it had read the body */
        status = 413;
        code = "too_large";
        snprintf(text, sizeof text, "the request body (%llu bytes) is over the limit of %llu",
                 (unsigned long long)hh.content_length, (unsigned long long)c->l->max_body);
        LOG_WARN_LIMITED("http-too-large", c->peer, "%s: request from %s refused (413): "
                         "Content-Length %llu over %llu", c->l->name, c->peer,
                         (unsigned long long)hh.content_length,
                         (unsigned long long)c->l->max_body);
    } else if (c->l->gate) {
        snprintf(method, sizeof method, "%.*s", (int)hh.method.len, (const char *)hh.method.p);
        if (hh.authorization.p)
            snprintf(auth, sizeof auth, "%.*s", (int)hh.authorization.len,
                     (const char *)hh.authorization.p);
        http_head h = {.method = method, .authorization = hh.authorization.p ? auth : NULL,
                       .content_length = hh.content_length, .peer = c->peer};
        status = c->l->gate(c->l->gate_arg, &h, &code, text, sizeof text);
        OPENSSL_cleanse(auth, sizeof auth);
    }
    OPENSSL_cleanse(c->head, c->head_len);     /* the token */
    c->head_len = 0;
    c->head_prev = 0;
    if (status) {
        input_cut(c, head_start);
        refuse(c, status, code, text);
        return;
    }
    c->outstanding++;
    c->body_left = hh.content_length;
    c->state = hh.content_length ? C_BODY : C_HEAD;
    /* evhttp 2.1 takes a body from the input once all of it is there */
    if (hh.content_length)
        bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH + (size_t)hh.content_length);
}

/* The input buffer grew (or shrank): read what was added, before evhttp. */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    http_conn *c = arg;
    if (c->in_watch || info->n_added == 0)
        return;
    c->in_watch = true;
    size_t len = evbuffer_get_length(in);
    size_t tail = len >= info->n_added ? len - info->n_added : 0;
    if (c->state == C_DISCARD) {
        input_cut(c, tail);
        c->discarded += info->n_added;
        if (c->discarded > DISCARD_MAX && !c->refuse_status)
            shutdown(bufferevent_getfd(c->bev), SHUT_RD);
        c->in_watch = false;
        return;
    }
    size_t head_start = tail >= c->head_prev ? tail - c->head_prev : 0;
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, tail, EVBUFFER_PTR_SET);
    char chunk[4096];
    size_t at = tail;
    while (at < len && c->state != C_DISCARD) {
        size_t want = len - at < sizeof chunk ? len - at : sizeof chunk;
        ev_ssize_t got = evbuffer_copyout_from(in, &pos, chunk, want);
        if (got <= 0)
            break;
        for (size_t i = 0; i < (size_t)got && c->state != C_DISCARD; i++) {
            if (c->state == C_BODY) {
                size_t skip = (size_t)got - i < c->body_left ? (size_t)got - i : c->body_left;
                c->body_left -= skip;
                i += skip - 1;
                if (c->body_left == 0) {
                    c->state = C_HEAD;
                    bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH);
                }
                continue;
            }
            if (c->head_len == 0) {
                head_start = at + i;
                if (c->timer_for == T_NONE)
                    timer_set(c, T_HEAD, HEAD_DEADLINE_MS);
            }
            if (c->head_len == HEAD_MAX) {
                LOG_WARN_LIMITED("http-framing", c->peer, "%s: request head over %d bytes",
                                 c->l->name, HEAD_MAX);
                input_cut(c, head_start);
                c->head_len = 0;
                refuse(c, 431, "invalid_header", "the request head is too large");
                break;
            }
            c->head[c->head_len++] = chunk[i];
            size_t k = c->head_len;
            if (chunk[i] == '\n' &&
                (k == 1 || c->head[k - 2] == '\n' || (k >= 3 && c->head[k - 2] == '\r' &&
                                                      c->head[k - 3] == '\n') ||
                 (k == 2 && c->head[0] == '\r')))
                head_done(c, head_start);
        }
        at += (size_t)got;
        /* a refusal cut the buffer: pos points into freed chains */
        if (c->state == C_DISCARD || at >= len ||
            evbuffer_ptr_set(in, &pos, (size_t)got, EVBUFFER_PTR_ADD) != 0)
            break;
    }
    c->head_prev = c->head_len;
    c->in_watch = false;
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    http_conn *c = arg;
    unlink_conn(c);
    conn_free(c);
}

/* The next loop turn after the accept: evhttp owns the bufferevent now
 * (or has freed it already). */
static void on_attach(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn *c = arg;
    struct bufferevent *bev = c->bev;
    bufferevent_data_cb rcb, wcb;
    bufferevent_event_cb ecb;
    void *cbarg = NULL;
    bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
    if (!ecb || !cbarg) {               /* closed before this turn */
        unlink_conn(c);
        conn_free(c);
        bufferevent_decref(bev);
        return;
    }
    evhttp_connection_set_closecb(cbarg, on_close, c);
    fill_peer(c, cbarg);
    http_listener *l = c->l;
    char text[160];
    if (c->over_cap) {
        LOG_WARN_LIMITED("http-cap", c->peer, "%s: connection from %s refused: %u connections open "
                         "(max_connections)", l->name, c->peer, l->max);
        snprintf(text, sizeof text, "too many connections (%u), try again shortly", l->max);
    } else if (l->max_per_client &&
               !hd_config_in_networks(l->exceptions, l->n_exceptions, c->peer) &&
               hd_clientkey_of(c->peer, c->client, sizeof c->client) == 0) {
        unsigned same = 0;
        for (const http_conn *o = l->conns; o; o = o->next)
            same += o != c && strcmp(o->client, c->client) == 0;
        if (same >= l->max_per_client) {
            c->over_cap = true;
            LOG_WARN_LIMITED("http-cap-client", c->client, "%s: connection from %s refused: %u "
                             "connections open from %s (max_connections_per_client)", l->name,
                             c->peer, same, c->client);
            snprintf(text, sizeof text, "too many connections from your address (%u), try "
                     "again shortly", l->max_per_client);
        }
    }
    if (c->over_cap) {
        /* nothing to linger for: the client has sent nothing worth
         * answering; closed once the answer is out */
        c->no_linger = true;
        refuse(c, 503, "unavailable", text);
    }
    bufferevent_decref(bev);
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    http_listener *l = arg;
    http_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE) : NULL;
    if (!bev) {
        free(c);
        return NULL;        /* evhttp makes its own; this one is not counted */
    }
    c->l = l;
    c->bev = bev;
    snprintf(c->peer, sizeof c->peer, "?");
    bufferevent_setwatermark(bev, EV_READ, 0, READ_HIGH);
    c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    c->over_cap = l->n >= l->max;
    c->next = l->conns;
    l->conns = c;
    l->n++;
    /* held until on_attach, which may find evhttp done with it */
    bufferevent_incref(bev);
    struct timeval now = {0, 0};
    if (event_base_once(base, -1, EV_TIMEOUT, on_attach, c, &now) != 0) {
        bufferevent_decref(bev);
        unlink_conn(c);
        conn_free(c);
        return NULL;
    }
    return bev;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_listener *l = arg;
    if (l->lev)
        evconnlistener_enable(l->lev);
}

/* accept() failed: at EMFILE/ENFILE (and out of buffers) stop accepting
 * for a moment instead of trying again at once, which would spin (the
 * pending connection stays readable). */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int e = EVUTIL_SOCKET_ERROR();
    http_listener *l = NULL;
    for (size_t i = 0; i < LISTENERS_MAX; i++)
        if (listeners[i] && listeners[i]->lev == lev)
            l = listeners[i];
    if (!l)
        return;
    struct timeval tv = {ACCEPT_PAUSE_MS / 1000, (ACCEPT_PAUSE_MS % 1000) * 1000};
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        evconnlistener_disable(lev);
        evtimer_add(l->resume, &tv);
    }
    LOG_WARN_LIMITED("http-accept", l->name, "accept: %s%s", strerror(e),
                     e == EMFILE || e == ENFILE ? " (out of descriptors: accepting again in a "
                                                  "second; see max_connections)" : "");
}

int http_listener_start(serve *sv, struct evhttp *http, const char *name, const char *host,
                        unsigned port, const http_limits *lim, http_gate_fn gate, void *gate_arg,
                        http_listener **out, hd_err *err)
{
    *out = NULL;
    size_t slot = LISTENERS_MAX;
    for (size_t i = 0; i < LISTENERS_MAX && slot == LISTENERS_MAX; i++)
        if (!listeners[i])
            slot = i;
    http_listener *l = slot < LISTENERS_MAX ? calloc(1, sizeof *l) : NULL;
    if (!l)
        return hd_err_set(err, HD_ENOMEM, "%s: out of memory", name);
    l->sv = sv;
    l->http = http;
    l->max = lim->max_conns ? lim->max_conns : 1;
    l->max_per_client = lim->max_per_client;
    l->exceptions = lim->exceptions;
    l->n_exceptions = lim->n_exceptions;
    l->max_body = lim->max_body;
    l->methods = lim->methods;
    l->gate = gate;
    l->gate_arg = gate_arg;
    snprintf(l->name, sizeof l->name, "%s", name);
    l->resume = evtimer_new(sv->base, on_resume, l);
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                    .ai_flags = EVUTIL_AI_PASSIVE}, *ai = NULL;
    int gai = evutil_getaddrinfo(host, portstr, &hints, &ai);
    if (gai == 0 && l->resume)
        l->lev = evconnlistener_new_bind(sv->base, NULL, NULL,
                                         LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
                                             LEV_OPT_CLOSE_ON_EXEC, -1, ai->ai_addr,
                                         (int)ai->ai_addrlen);
    int e = errno;
    if (ai)
        evutil_freeaddrinfo(ai);
    if (!l->lev || !(l->bound = evhttp_bind_listener(http, l->lev))) {
        if (l->lev && !l->bound)
            evconnlistener_free(l->lev);
        if (l->resume)
            event_free(l->resume);
        free(l);
        return hd_err_set(err, HD_EIO, "%s:%u: %s", host, port,
                          gai ? evutil_gai_strerror(gai) : strerror(e));
    }
    evconnlistener_set_error_cb(l->lev, on_accept_error);
    evhttp_set_bevcb(http, on_new_conn, l);
    listeners[slot] = l;
    *out = l;
    return 0;
}

int http_listener_watch(serve *sv, struct evhttp *http, struct evhttp_bound_socket *bound,
                        const char *name, http_listener **out, hd_err *err)
{
    *out = NULL;
    size_t slot = LISTENERS_MAX;
    for (size_t i = 0; i < LISTENERS_MAX && slot == LISTENERS_MAX; i++)
        if (!listeners[i])
            slot = i;
    http_listener *l = slot < LISTENERS_MAX ? calloc(1, sizeof *l) : NULL;
    if (!l || !(l->resume = evtimer_new(sv->base, on_resume, l))) {
        free(l);
        return hd_err_set(err, HD_ENOMEM, "%s: out of memory", name);
    }
    l->sv = sv;
    l->http = http;
    l->bound = bound;
    l->lev = evhttp_bound_socket_get_listener(bound);
    snprintf(l->name, sizeof l->name, "%s", name);
    evconnlistener_set_error_cb(l->lev, on_accept_error);
    listeners[slot] = l;
    *out = l;
    return 0;
}

void http_listener_close(http_listener *l)
{
    if (l && l->bound) {
        evhttp_del_accept_socket(l->http, l->bound);    /* frees the evconnlistener */
        l->bound = NULL;
        l->lev = NULL;
    }
}

void http_listener_free(http_listener *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < LISTENERS_MAX; i++)
        if (listeners[i] == l)
            listeners[i] = NULL;
    if (l->resume)
        event_free(l->resume);
    free(l);
}

static void on_answered(struct evhttp_request *req, void *arg)
{
    (void)req;
    http_conn *c = arg;
    if (c->outstanding)
        c->outstanding--;
    /* on the next loop turn: evhttp sets its own callbacks up for the next
     * request after this one returns */
    if (c->outstanding == 0 && c->refuse_status)
        timer_set(c, T_SEND, 0);
}

void http_listener_track(http_listener *l, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    for (http_conn *c = l ? l->conns : NULL; bev && c; c = c->next)
        if (c->bev == bev) {
            evhttp_request_set_on_complete_cb(req, on_answered, c);
            return;
        }
}

size_t http_listener_connections(const http_listener *l)
{
    return l ? l->n : 0;
}
