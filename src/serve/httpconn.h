/*
 * httpconn.h - what the evhttp listeners (api.c, status.c) share: their
 * own listening socket with a connection cap and a pause on EMFILE, a
 * read watermark per connection, and (API) a look at each request's head
 * before evhttp reads its body.
 */
#ifndef HERALD_SERVE_HTTPCONN_H
#define HERALD_SERVE_HTTPCONN_H

#include <stdint.h>

#include "serve.h"

struct evhttp;
struct evhttp_request;

/* The head of a request as the gate sees it (strings NUL-terminated,
 * borrowed for the call). */
typedef struct http_head {
    const char *method;
    const char *authorization;      /* NULL when absent */
    uint64_t content_length;        /* 0 when absent */
    const char *peer;               /* the client's address */
} http_head;

/* Called on the main thread with each request's head, before evhttp
 * reads a byte of its body. 0 lets it through; an HTTP status refuses it:
 * the answer {"error": {"code": code, "message": text}} is sent and the
 * connection closed, and the body is never read. */
typedef int (*http_gate_fn)(void *arg, const http_head *h, const char **code, char *text,
                            size_t text_size);

typedef struct http_listener http_listener;

/* A listener's limits (exceptions borrowed from the configuration). */
typedef struct http_limits {
    unsigned max_conns;             /* connections at once */
    unsigned max_per_client;        /* from one client address (IPv6: its /64); 0: no limit */
    char *const *exceptions;        /* client networks max_per_client does not count */
    size_t n_exceptions;
    uint64_t max_body;              /* Content-Length above it: 413 before the body is read */
    const char *const *methods;     /* the methods the handlers answer (NULL-terminated);
                                     * others: 405 here, never by evhttp */
} http_limits;

/* Listen on host:port for http (name is the listener's name in the log:
 * "API", "status"); a connection over lim's caps is answered 503 and
 * closed, a request head not complete 10 s after its first byte 408.
 * gate may be NULL. */
int http_listener_start(serve *sv, struct evhttp *http, const char *name, const char *host,
                        unsigned port, const http_limits *lim, http_gate_fn gate, void *gate_arg,
                        http_listener **out, hd_err *err);
/* Only the pause on EMFILE, for a socket evhttp already accepts on (the
 * control socket: no cap, no gate). */
struct evhttp_bound_socket;
int http_listener_watch(serve *sv, struct evhttp *http, struct evhttp_bound_socket *bound,
                        const char *name, http_listener **out, hd_err *err);
/* Stop accepting (the connections stay with evhttp). */
void http_listener_close(http_listener *l);
/* After evhttp_free(): frees the rest. */
void http_listener_free(http_listener *l);
/* A request handed to the application: its answer is counted when sent,
 * so a head refused meanwhile is answered in order (main thread). */
void http_listener_track(http_listener *l, struct evhttp_request *req);
size_t http_listener_connections(const http_listener *l);

#endif
