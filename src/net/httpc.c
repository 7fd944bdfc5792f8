/*
 * httpc.c - a blocking HTTP request on a private event base (see httpc.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "net/httpc.h"

typedef struct call {
    struct event_base *base;
    int status;
    hd_buf *resp;
    bool failed, too_big;
} call;

static void on_done(struct evhttp_request *req, void *arg)
{
    call *c = arg;
    if (!req || evhttp_request_get_response_code(req) == 0) {
        c->failed = true;
    } else {
        c->status = evhttp_request_get_response_code(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        if (n && hd_buf_append(c->resp, evbuffer_pullup(in, -1), n) != 0)
            c->too_big = true;
    }
    event_base_loopexit(c->base, NULL);
}

static enum evhttp_cmd_type method_of(const char *m)
{
    if (strcmp(m, "POST") == 0)
        return EVHTTP_REQ_POST;
    if (strcmp(m, "DELETE") == 0)
        return EVHTTP_REQ_DELETE;
    return EVHTTP_REQ_GET;
}

int net_http_call(const net_http_req *rq, int *status, hd_buf *resp, hd_err *err)
{
    call c = {.resp = resp};
    struct evhttp_connection *conn = NULL;
    struct evhttp_request *req = NULL;
    int rc = 0;
    if (!(c.base = event_base_new()) ||
        !(conn = evhttp_connection_base_new(c.base, NULL, rq->host, (ev_uint16_t)rq->port)) ||
        !(req = evhttp_request_new(on_done, &c))) {
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        goto out;
    }
    evhttp_connection_set_timeout(conn, rq->timeout_s > 0 ? rq->timeout_s : 30);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char host[300];
    /* RFC 9110 §7.2 / RFC 3986 §3.2.2: an IPv6 literal goes in brackets */
    snprintf(host, sizeof host, strchr(rq->host, ':') ? "[%s]:%u" : "%s:%u", rq->host, rq->port);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "User-Agent", "herald-cli");
    evhttp_add_header(h, "Connection", "close");
    if (rq->token) {
        char auth[256];
        snprintf(auth, sizeof auth, "Bearer %s", rq->token);
        evhttp_add_header(h, "Authorization", auth);
    }
    if (rq->idempotency_key)
        evhttp_add_header(h, "Idempotency-Key", rq->idempotency_key);
    if (method_of(rq->method) == EVHTTP_REQ_POST) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), rq->body.p, rq->body.len);
    }
    if (evhttp_make_request(conn, req, method_of(rq->method), rq->path) != 0) {
        req = NULL;     /* freed by evhttp */
        rc = hd_err_set(err, HD_EIO, "http://%s%s: the request could not be sent", host, rq->path);
        goto out;
    }
    event_base_dispatch(c.base);
    if (c.failed)
        rc = hd_err_set(err, HD_EIO, "http://%s: no answer (is `herald serve` running, and "
                        "is [api] listen this address?)", host);
    else if (c.too_big)
        rc = hd_err_set(err, HD_ELIMIT, "http://%s: the answer is too large", host);
    *status = c.status;
out:
    if (conn)
        evhttp_connection_free(conn);
    if (c.base)
        event_base_free(c.base);
    return rc;
}

int net_http_parse_base(const char *url, char *host, size_t size, unsigned *port, hd_err *err)
{
    if (strncmp(url, "http://", 7) != 0)
        return hd_err_set(err, HD_EINVAL, "%s: give the API as http://HOST:PORT", url);
    const char *h = url + 7;
    const char *colon = strrchr(h, ':');
    const char *end = h + strcspn(h, "/");
    if (!colon || colon > end)
        return hd_err_set(err, HD_EINVAL, "%s: give the API as http://HOST:PORT", url);
    size_t n = (size_t)(colon - h);
    if (n == 0 || n >= size)
        return hd_err_set(err, HD_EINVAL, "%s: bad host", url);
    unsigned p = 0;
    const char *d = colon + 1;
    for (; d < end && *d >= '0' && *d <= '9' && p <= 65535; d++)
        p = p * 10 + (unsigned)(*d - '0');
    if (d != end || p == 0 || p > 65535)
        return hd_err_set(err, HD_EINVAL, "%s: bad port", url);
    memcpy(host, h, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {   /* [::1] */
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    *port = p;
    return 0;
}
