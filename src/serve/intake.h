/*
 * intake.h - the intake room of `herald serve`: the doors new mail comes
 * in by. SMTP submission and the inbound MX listener (intake*.c), the HTTP
 * API (api.c), the evhttp listeners' sockets (httpconn.c, also used by
 * status.c), and the one path both doors take for a new message
 * (accept.c). Stands on feedback (the inbound listener hands reports to
 * it), delivery (an accepted message enters the queue) and the engine.
 */
#ifndef HERALD_SERVE_INTAKE_H
#define HERALD_SERVE_INTAKE_H

#include <stdint.h>

#include "serve/delivery.h"
#include "serve/engine.h"
#include "serve/feedback.h"

/* ---- SMTP listeners (intake_listen.c; the session: intake.c, AUTH: intake_auth.c) ---- */
int intake_start(serve *sv, hd_err *err);
void intake_close_listeners(serve *sv);
void intake_stop(serve *sv);
size_t intake_sessions(serve *sv);

/* ---- the HTTP API (api.c) ---- */
int api_start(serve *sv, hd_err *err);
void api_close_listener(serve *sv);
void api_stop(serve *sv);

/* ---- one path for new messages (accept.c) ----
 *
 * The caller fills a job on the main thread (the message bytes, the
 * envelope recipients, who submits and which domains they may send as,
 * the Received field's "from" and "with" clauses), admits it against the
 * in-flight byte budget, and starts it (or, already on a worker, runs
 * it). done(job) then runs on the main thread with code 250 and the
 * message's uuid in cm.m, or a refusal (code, enhanced, text: SMTP terms;
 * the API maps them). The caller frees the job after done.
 */
typedef struct accept_job {
    serve *sv;
    /* in */
    hd_slice data;                  /* the message; borrowed until done (or in owned) */
    hd_buf owned;                   /* a caller may keep the bytes here (the API's composed message) */
    char **rcpts;                   /* envelope recipients (accept_add_rcpt), owned */
    size_t n_rcpts;
    char trace_from[600];           /* Received: from <this> */
    char trace_with[16];            /* Received: with <this> (ESMTPSA, HTTPS, ...) */
    char submitter[HD_STORE_NAME_MAX];
    char may_send_as[1024];         /* sending domains: space-separated, "*" for any */
    unsigned flags;                 /* HD_MSG_* */
    serve_fn done;                  /* given the job; the caller's context is in arg */
    void *arg;
    /* out */
    int code;                       /* 250, or a 4xx/5xx refusal */
    char enhanced[8];
    char text[512];
    commit_msg cm;                  /* cm.m: the stored message (uuid, message_id ...) */
    /* private */
    serve_domains *ds;
    size_t inflight;
    int64_t now;
    hd_buf head, body;
    bool too_big;                   /* made 7-bit, the message outgrew its buffer */
} accept_job;

int accept_init(serve *sv, hd_err *err);
void accept_free(serve *sv);

accept_job *accept_job_new(serve *sv);          /* NULL: out of memory */
void accept_job_free(accept_job *j);
int accept_add_rcpt(accept_job *j, const char *address);

/* Main thread: count bytes against [queue] max_inflight and take the
 * domains snapshot; false when over the budget (answer 451 4.3.1 / 503). */
bool accept_admit(accept_job *j, size_t bytes);
/* The same budget for mail that is not a job (the inbound listener). */
bool accept_reserve(serve *sv, size_t bytes);
void accept_release(serve *sv, size_t bytes);
/* Main thread: run the job on a worker. */
void accept_start(accept_job *j);
/* On a worker: run the job there (the API parses its request first). */
void accept_run(worker *w, accept_job *j);

/* Why no new mail can be taken now (queue at max_queued, the committer
 * blocked, disk under min_free_space less the bytes accepted since it was
 * last measured), or NULL. Main thread. */
const char *accept_storage_full(serve *sv);
/* The same for a message of bytes (end of DATA, the API's request): the
 * free space as last measured less what was accepted since must leave
 * min_free_space after it too. */
const char *accept_storage_full_for(serve *sv, uint64_t bytes);

/* Whether list ("*" or space-separated domains) names domain. */
bool accept_may_send_as(const char *list, const char *domain);
void accept_new_uuid(char out[33]);

/* ---- the evhttp listeners (httpconn.c): api.c and status.c ----
 * Their own listening socket with a connection cap and a pause on EMFILE,
 * a read watermark per connection, and (API) a look at each request's
 * head before evhttp reads its body. */
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
