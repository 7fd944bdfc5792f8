/*
 * accept.h - one path for new messages (accept.c), used by SMTP
 * submission (intake.c) and the HTTP API (api.c).
 *
 * The caller fills a job on the main thread (the message bytes, the
 * envelope recipients, who submits and which domains they may send as,
 * the Received field's "from" and "with" clauses), admits it against the
 * in-flight byte budget, and starts it (or, already on a worker, runs
 * it). done(job) then runs on the main thread with code 250 and the
 * message's uuid in cm.m, or a refusal (code, enhanced, text: SMTP terms;
 * the API maps them). The caller frees the job after done.
 */
#ifndef HERALD_SERVE_ACCEPT_H
#define HERALD_SERVE_ACCEPT_H

#include "queue.h"
#include "serve.h"

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

#endif
