/*
 * httpc.h - one HTTP/1.1 request to a server (libevent's evhttp client),
 * for commands that talk to a running herald's API (`herald send`).
 */
#ifndef HERALD_NET_HTTPC_H
#define HERALD_NET_HTTPC_H

#include <stddef.h>

#include <herald/buf.h>
#include <herald/err.h>

typedef struct net_http_req {
    const char *host;          /* address or name */
    unsigned port;
    const char *method;        /* "GET" "POST" "DELETE" */
    const char *path;          /* with the query string */
    const char *token;         /* Authorization: Bearer <token>, or NULL */
    const char *idempotency_key; /* or NULL */
    hd_slice body;             /* sent as application/json when method is POST */
    int timeout_s;
} net_http_req;

/* Make the request; *status gets the HTTP status and resp the body.
 * HD_EIO when the server cannot be reached or does not answer in time. */
int net_http_call(const net_http_req *rq, int *status, hd_buf *resp, hd_err *err);

/* "http://HOST:PORT" (no path) into host and port. */
int net_http_parse_base(const char *url, char *host, size_t size, unsigned *port, hd_err *err);

#endif
