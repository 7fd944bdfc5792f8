/*
 * feedback.h - the feedback room of `herald serve`: bounce, complaint and
 * report intake on the inbound listener (inbound.c) and the webhooks that
 * carry every event to the sender's endpoints (webhook.c). Stands on the
 * delivery room (a hard bounce suppresses an address) and the engine.
 */
#ifndef HERALD_SERVE_FEEDBACK_H
#define HERALD_SERVE_FEEDBACK_H

#include "serve/delivery.h"
#include "serve/engine.h"

/* ---- bounce, complaint and report intake (inbound.c) ---- */
/* RCPT on the inbound listener (main thread): the reply code, with a
 * static enhanced code and text. Only VERP addresses with a good HMAC at a
 * bounce domain and postmaster@, abuse@, dmarc@ of a managed domain pass. */
int inbound_rcpt_check(serve *sv, const char *rcpt, const char **enhanced, const char **text);
/* End of DATA on the inbound listener: a worker reads the message and
 * matches it, the committer stores it with its events in one transaction,
 * then (main thread) suppressions, and done(arg, code, enhanced, text).
 * data and the strings are borrowed until done. false: out of memory,
 * nothing started (done is not called). */
typedef void (*inbound_done_fn)(void *arg, int code, const char *enhanced, const char *text);
bool inbound_start(serve *sv, hd_slice data, const char *mail_from, const char *const *rcpts,
                   size_t n_rcpts, const char *remote, inbound_done_fn done, void *arg);

/* ---- webhooks (webhook.c): every event, signed, to the [webhook] endpoints ---- */
/* Hangs on the committer's COMMIT_HOOK_BATCH: new events are looked for
 * after each committed batch. */
int webhook_start(serve *sv, hd_err *err);
void webhook_stop(serve *sv);
int webhook_retry(serve *sv, int64_t id);   /* dead → pending; 0 = all; HD_ENOTFOUND */
/* Prometheus lines for the endpoints (status.c's /metrics). */
struct evbuffer;
void webhook_metrics(serve *sv, struct evbuffer *b);

#endif
