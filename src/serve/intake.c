/*
 * intake.c - the SMTP session of the submission and inbound listeners: one
 * hd_smtpd session per client connection, driven by libevent; message
 * completion and signing go to a worker, durability to the committer; the
 * 250 is sent only after both. The inbound listener ([inbound], bounces
 * and reports) runs the same sessions without AUTH; its recipients and
 * messages go to inbound.c. A session is not read while its unread
 * replies pass OUT_PAUSE. AUTH and its password-check pool are in
 * intake_auth.c, the listeners and the per-client caps in
 * intake_listen.c; what they share is in intake_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <herald/smtpd.h>
#include "serve/intake_int.h"

#define FEED_MAX 16384          /* bytes handed to the session per call */
#define INBOUND_BAD_RCPTS 20    /* refused recipients before an inbound session is closed */
/* Refusals (4xx/5xx) of our own policy, as the inbound MAIL limit, count
 * like Postfix's smtpd_hard_error_limit: past it 421 4.7.0 and close. */
#define POLICY_ERRORS_MAX 20
/* Replies a client has not read yet: past OUT_PAUSE no more of its input
 * is read (so a client that pipelines cheap commands and never reads
 * cannot make the server buffer its replies), reading resumes once the
 * output is down to OUT_RESUME; past OUT_MAX (only a reply larger than
 * the gap could get there) the session is closed. */
#define OUT_PAUSE (64 * 1024)
#define OUT_RESUME (16 * 1024)
#define OUT_MAX (1024 * 1024)

static void deadline_restart(session *s);
static void start_tls(session *s);

/* ---- output and closing ---- */

/* Count the refusals among the replies going out, keeping the last one:
 * the session's summary line in the log names them, so every refused
 * command leaves a trace with the client's address. */
static void note_replies(session *s, hd_slice out)
{
    size_t i = 0;
    while (i + 3 < out.len) {
        const uint8_t *eol = memchr(out.p + i, '\n', out.len - i);
        size_t end = eol ? (size_t)(eol - out.p) : out.len;
        if ((out.p[i] == '4' || out.p[i] == '5') && out.p[i + 3] == ' ') {
            size_t n = end - i;
            if (n > 0 && out.p[i + n - 1] == '\r')
                n--;
            if (n >= sizeof s->last_refusal)
                n = sizeof s->last_refusal - 1;
            memcpy(s->last_refusal, out.p + i, n);
            s->last_refusal[n] = '\0';
            s->refusals++;
        }
        i = end + 1;
    }
}

/* Bytes not yet handed to the kernel: a TLS filter passes its output to
 * the socket's bufferevent below it, which must drain too. */
static size_t unsent(struct bufferevent *bev)
{
    size_t n = evbuffer_get_length(bufferevent_get_output(bev));
    struct bufferevent *under = bufferevent_get_underlying(bev);
    return under ? n + evbuffer_get_length(bufferevent_get_output(under)) : n;
}

static void flush_output(session *s)
{
    hd_slice out = hd_smtpd_output(s->smtpd);
    if (out.len) {
        note_replies(s, out);
        bufferevent_write(s->bev, out.p, out.len);
        hd_smtpd_output_done(s->smtpd, out.len);
    }
}

/* Whether the client's unread replies stop this session for now: past
 * OUT_PAUSE its input is no longer read until on_written sees the output
 * drained to OUT_RESUME; past OUT_MAX the session is closed. */
static bool output_backlog(session *s)
{
    if (s->closing)
        return true;
    size_t n = unsent(s->bev);
    if (n > OUT_MAX) {
        LOG_WARN_LIMITED("output backlog", s->client,
                         "%zu bytes of replies unread by the client (more than %d); "
                         "session closed", n, OUT_MAX);
        intake__begin_close(s);
        return true;
    }
    if (n <= OUT_PAUSE)
        return false;
    if (!s->out_paused) {
        s->out_paused = true;
        bufferevent_disable(s->bev, EV_READ);
    }
    return true;
}

#define LINGER_MS 20            /* how often a closing session checks its output */
#define LINGER_MAX 250          /* checks before giving up on a client that reads nothing */
#define LINGER_REFUSED_MAX 50   /* the same for a connection refused at once (1 s) */

static void linger_done(session *s)
{
    event_free(s->linger);
    s->linger = NULL;
    intake__session_free(s);
}

/* After our half-close: what the client still sends is read and dropped,
 * so that closing does not answer it with a TCP reset (which could
 * destroy the final reply before the client reads it). */
static void drop_input(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void closed_by_client(struct bufferevent *bev, short what, void *arg)
{
    session *s = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        linger_done(s);
}

static void linger(evutil_socket_t fd, short what, void *arg)
{
    session *s = arg;
    if (++s->linger_checks > (s->refused ? LINGER_REFUSED_MAX : LINGER_MAX)) {
        linger_done(s);
        return;
    }
    if (!s->half_closed && unsent(s->bev) == 0) {
        /* the last reply is out: send FIN, then wait for the client's */
        s->half_closed = true;
        evutil_socket_t sock = bufferevent_getfd(s->bev);
        if (sock < 0 || shutdown(sock, SHUT_WR) != 0) {
            linger_done(s);
            return;
        }
        bufferevent_setcb(s->bev, drop_input, NULL, closed_by_client, s);
        bufferevent_enable(s->bev, EV_READ);
    }
    struct timeval tv = {0, LINGER_MS * 1000};
    evtimer_add(s->linger, &tv);
}

/* Close once the last reply (221, 421 ...) is on its way. */
void intake__begin_close(session *s)
{
    if (s->closing)
        return;
    s->closing = true;
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setcb(s->bev, NULL, NULL, NULL, s);
    if (!(s->linger = evtimer_new(s->sv->base, linger, s))) {
        intake__session_free(s);
        return;
    }
    linger(-1, 0, s);
}

void intake__session_free(session *s)
{
    if (s->busy) {              /* a worker holds it: finish when it answers */
        s->dead = true;
        if (s->bev) {
            bufferevent_free(s->bev);
            s->bev = NULL;
        }
        return;
    }
    struct serve_intake *in = s->sv->intake;
    if (s->refused)
        ;   /* one line a minute per client said why (LOG_WARN_LIMITED) */
    else if (s->refusals && !s->accepted)
        /* nothing queued, only refusals: a client that loops on that
         * must not write a line per session */
        LOG_INFO_LIMITED("session refused", s->client,
                         "session ended: no message queued, %u refused command%s, the last: %s",
                         s->refusals, s->refusals == 1 ? "" : "s", s->last_refusal);
    else if (s->refusals)
        LOG_INFO_ID(s->id,
                    "session ended: %u message%s queued, %u refused command%s, the last: %s",
                    s->accepted, s->accepted == 1 ? "" : "s", s->refusals,
                    s->refusals == 1 ? "" : "s", s->last_refusal);
    else
        LOG_DEBUG_ID(s->id, "session ended: %u message%s queued", s->accepted,
                  s->accepted == 1 ? "" : "s");
    if (s->prev)
        s->prev->next = s->next;
    else
        in->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    in->n_sessions--;
    in->n_inbound -= s->inbound;
    in->n_refused[s->inbound] -= s->refused;
    atomic_fetch_sub(&s->sv->metrics.sessions_now, 1);
    if (s->linger)
        event_free(s->linger);
    if (s->deadline)
        event_free(s->deadline);
    if (s->auth_wait)
        event_free(s->auth_wait);
    if (s->bev)
        bufferevent_free(s->bev);
    hd_smtpd_free(s->smtpd);
    free(s);
}

/* The worker or committer answered; false when the session died meanwhile
 * (then it is freed here). */
bool intake__session_back(session *s)
{
    s->busy = false;
    if (s->dead) {
        intake__session_free(s);
        return false;
    }
    if (!s->out_paused)
        bufferevent_enable(s->bev, EV_READ);
    deadline_restart(s);
    return true;
}

/* Hold the session for a worker: no input is read meanwhile (the worker
 * reads the session's message), which also pushes back on a client that
 * pipelines faster than messages are signed and stored. */
void intake__session_hold(session *s)
{
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
}

static void on_read(struct bufferevent *bev, void *arg);

/* After an answer: go on with input that arrived meanwhile. */
void intake__session_resume(session *s)
{
    intake__drive(s);
    if (!s->busy && !s->closing && !s->out_paused && s->bev)
        on_read(s->bev, s);
}

/* The output is down to OUT_RESUME (the write low watermark): read again,
 * first what the session and the input buffer still hold. */
static void on_written(struct bufferevent *bev, void *arg)
{
    session *s = arg;
    if (!s->out_paused || s->closing)
        return;
    s->out_paused = false;
    if (s->tls_pending) {
        s->tls_pending = false;
        start_tls(s);       /* the STARTTLS answer is out: now the handshake */
    }
    if (s->busy)
        return;             /* session_back enables reading */
    bufferevent_enable(s->bev, EV_READ);
    intake__session_resume(s);
}

/* ---- a message ---- */

/* Main thread: the message is durable (or refused). */
static void message_answered(void *arg)
{
    accept_job *j = arg;
    session *s = j->arg;
    if (j->code == 250)
        s->accepted++;
    if (intake__session_back(s)) {
        hd_smtpd_reply r = {j->code, j->enhanced[0] ? j->enhanced : "2.0.0", j->text};
        hd_smtpd_answer_message(s->smtpd, &r);
        intake__session_resume(s);
    }
    accept_job_free(j);
}

static void start_message(session *s)
{
    const hd_smtpd_message_info *mi = hd_smtpd_message(s->smtpd);
    accept_job *j = accept_job_new(s->sv);
    bool ok = j != NULL;
    for (size_t i = 0; ok && i < mi->n_rcpts; i++)
        ok = accept_add_rcpt(j, mi->rcpts[i]) == 0;
    if (!ok) {
        accept_job_free(j);
        hd_smtpd_reply r = {451, "4.3.0", "out of memory, try again later"};
        hd_smtpd_answer_message(s->smtpd, &r);
        return;
    }
    /* RFC 3463 4.3.1: the size is known now; the client keeps the mail */
    const char *full = accept_storage_full_for(s->sv, mi->data.len);
    if (full) {
        accept_job_free(j);
        hd_smtpd_reply r = {452, "4.3.1", full};
        hd_smtpd_answer_message(s->smtpd, &r);
        return;
    }
    if (!accept_admit(j, mi->data.len)) {
        accept_job_free(j);
        LOG_WARN_LIMITED("in flight", s->client,
                         "message deferred (451 4.3.1): too much mail in flight "
                         "([queue] max_inflight)");
        hd_smtpd_reply r = {451, "4.3.1", "too much mail in progress, try again shortly"};
        hd_smtpd_answer_message(s->smtpd, &r);
        return;
    }
    j->data = mi->data;
    const char *helo = hd_smtpd_helo(s->smtpd);
    snprintf(j->trace_from, sizeof j->trace_from, "%s ([%s])", helo[0] ? helo : "unknown", s->ip);
    snprintf(j->trace_with, sizeof j->trace_with, "%s",
             s->user[0] ? (s->tls ? "ESMTPSA" : "ESMTPA") : (s->tls ? "ESMTPS" : "ESMTP"));
    snprintf(j->submitter, sizeof j->submitter, "%s", s->user[0] ? s->user : s->ip);
    /* an authenticated user sends as their domains; a trusted network as any */
    snprintf(j->may_send_as, sizeof j->may_send_as, "%s",
             s->user[0] ? s->user_domains : s->trusted ? "*" : "");
    j->flags = (mi->body_8bit ? HD_MSG_8BIT : 0) | (mi->smtputf8 ? HD_MSG_SMTPUTF8 : 0);
    j->done = message_answered;
    j->arg = s;
    intake__session_hold(s);
    accept_start(j);
}

/* ---- a message on the inbound listener ---- */

static void inbound_answered(void *arg, int code, const char *enhanced, const char *text)
{
    session *s = arg;
    accept_release(s->sv, s->held);
    s->held = 0;
    if (code == 250)
        s->accepted++;
    if (intake__session_back(s)) {
        hd_smtpd_reply r = {code, enhanced, text};
        hd_smtpd_answer_message(s->smtpd, &r);
        intake__session_resume(s);
    }
}

static void start_inbound(session *s)
{
    const hd_smtpd_message_info *mi = hd_smtpd_message(s->smtpd);
    if (!accept_reserve(s->sv, mi->data.len)) {
        hd_smtpd_reply r = {451, "4.3.1", "too much mail in progress, try again shortly"};
        hd_smtpd_answer_message(s->smtpd, &r);
        return;
    }
    if (!inbound_start(s->sv, mi->data, mi->reverse_path, mi->rcpts, mi->n_rcpts, s->ip,
                       inbound_answered, s)) {
        accept_release(s->sv, mi->data.len);
        hd_smtpd_reply r = {451, "4.3.0", "out of memory, try again later"};
        hd_smtpd_answer_message(s->smtpd, &r);
        return;
    }
    s->held = mi->data.len;
    if (s->sv->cfg->inbound.max_messages_per_minute)
        intake__ip_slot(s->sv->intake->inbound_msgs, s->client, true)->count++;
    intake__session_hold(s);     /* the worker runs later: serve_work only queues the job */
}

/* Anyone may send to the inbound listener: one client address (IPv6:
 * its /64) gets at most [inbound] max_messages_per_minute messages taken. */
static bool inbound_client_over_limit(session *s)
{
    uint32_t limit = s->sv->cfg->inbound.max_messages_per_minute;
    ip_count *c = limit ? intake__ip_slot(s->sv->intake->inbound_msgs, s->client, false) : NULL;
    if (!c || c->count < limit)
        return false;
    LOG_WARN_LIMITED("inbound message rate", s->client,
                     "%u messages on the inbound listener this minute "
                     "([inbound] max_messages_per_minute %u); MAIL refused (450 4.7.1)",
                     c->count, limit);
    return true;
}

/* RFC 5321 §3.8: 421 and close. RFC 3463 4.7.0: refused by policy (the
 * 4.3.2 of hd_smtpd_shutdown is the whole system's state). */
static void close_for_policy(session *s, const char *why)
{
    char line[512];
    int len = snprintf(line, sizeof line, "421 4.7.0 %s %s\r\n", s->sv->cfg->hostname, why);
    if (len < 0 || (size_t)len >= sizeof line)
        len = snprintf(line, sizeof line, "421 4.7.0 closing the connection\r\n");
    bufferevent_write(s->bev, line, (size_t)len);
    intake__begin_close(s);
}

/* A refusal of ours smtpd does not count as an error: as Postfix's
 * smtpd_hard_error_limit, POLICY_ERRORS_MAX of them end the session, so
 * a client looping on a refused command cannot go on for ever. */
static void count_policy_error(session *s)
{
    if (++s->policy_errors < POLICY_ERRORS_MAX)
        return;
    LOG_WARN_LIMITED("policy errors", s->client,
                     "%u commands refused by policy in one session; session closed (421 4.7.0)",
                     s->policy_errors);
    flush_output(s);
    close_for_policy(s, "Error: too many errors, closing connection");
}

/* RCPT on the inbound listener; a client that tries many addresses is
 * guessing (or misdirected): it is cut off. */
static void inbound_rcpt(session *s)
{
    const char *full = accept_storage_full(s->sv);
    hd_smtpd_reply r = {452, "4.3.1", full};
    if (!full)
        r.code = inbound_rcpt_check(s->sv, hd_smtpd_rcpt(s->smtpd), &r.enhanced, &r.text);
    hd_smtpd_answer_rcpt(s->smtpd, &r);
    if (r.code >= 500 && ++s->bad_rcpts >= INBOUND_BAD_RCPTS) {
        LOG_WARN_LIMITED("inbound-bad-rcpts", s->client,
                         "%u recipients refused on the inbound listener (not herald's "
                         "bounce, postmaster, abuse or dmarc addresses); session closed (421)",
                         s->bad_rcpts);
        hd_smtpd_shutdown(s->smtpd, "too many refused recipients");
    }
}

/* ---- TLS ---- */

static void on_event(struct bufferevent *bev, short what, void *arg);

static void start_tls(session *s)
{
    SSL *ssl = SSL_new(s->sv->tls_server);
    if (!ssl) {
        hd_smtpd_shutdown(s->smtpd, "TLS not available");
        return;
    }
    struct bufferevent *tls = bufferevent_openssl_filter_new(
        s->sv->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!tls) {
        SSL_free(ssl);
        hd_smtpd_shutdown(s->smtpd, "TLS not available");
        return;
    }
    s->bev = tls;
    s->tls = true;
    bufferevent_setcb(tls, on_read, on_written, on_event, s);
    /* the filter moves its output to the socket's bufferevent only while
     * that holds less than OUT_RESUME, so the filter's low watermark
     * (on_written) sees the client's reading */
    bufferevent_setwatermark(tls, EV_WRITE, OUT_RESUME, 0);
    bufferevent_setwatermark(bufferevent_get_underlying(tls), EV_WRITE, 0, OUT_RESUME);
    struct timeval tv = {s->sv->cfg->smtp.idle_timeout, 0};
    bufferevent_set_timeouts(tls, NULL, &tv);
    deadline_restart(s);    /* the handshake must finish in time too */
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    hd_smtpd_tls_started(s->smtpd);
}


void intake__drive(session *s)
{
    while (!s->closing) {
        hd_smtpd_event ev = hd_smtpd_step(s->smtpd);
        flush_output(s);
        switch (ev) {
        case HD_SMTPD_EV_NEED_INPUT:
        case HD_SMTPD_EV_WAIT:
            return;
        case HD_SMTPD_EV_STARTTLS:
            if (unsent(s->bev) > OUT_RESUME) {
                /* replies to pipelined commands still wait for the client:
                 * the handshake starts once they are down to OUT_RESUME
                 * (on_written), else the TLS session would begin paused
                 * with no low-watermark event of its own to resume it */
                s->tls_pending = s->out_paused = true;
                bufferevent_disable(s->bev, EV_READ);
                return;
            }
            start_tls(s);
            break;
        case HD_SMTPD_EV_AUTH:
            intake__start_auth(s);
            if (s->busy)
                return;
            break;
        case HD_SMTPD_EV_MAIL: {
            hd_smtpd_reply r = {250, "2.1.0", "Ok"};
            bool over = s->inbound && inbound_client_over_limit(s);
            if (over)
                r = (hd_smtpd_reply){450, "4.7.1", "too much mail from your address, try again later"};
            hd_smtpd_answer_mail(s->smtpd, &r);
            if (over)
                count_policy_error(s);
            break;
        }
        case HD_SMTPD_EV_RCPT: {
            if (s->inbound) {
                inbound_rcpt(s);
                break;
            }
            /* RFC 3463 4.3.1: mail system full, try later (the client keeps the mail) */
            const char *full = accept_storage_full(s->sv);
            hd_smtpd_reply r = full ? (hd_smtpd_reply){452, "4.3.1", full}
                                    : (hd_smtpd_reply){250, "2.1.5", "Ok"};
            hd_smtpd_answer_rcpt(s->smtpd, &r);
            break;
        }
        case HD_SMTPD_EV_MESSAGE:
            if (s->inbound)
                start_inbound(s);
            else
                start_message(s);
            if (s->busy)
                return;
            break;
        case HD_SMTPD_EV_CLOSE:
            intake__begin_close(s);
            return;
        }
        flush_output(s);
        if (output_backlog(s))
            return;         /* on_written drives the rest */
    }
}

/* Postfix's per-record deadline, for the same reason: a read timeout
 * that every byte restarts lets a client hold a session for ever by
 * trickling (slow loris). Here the clock restarts only when a line end
 * arrives, so each command line (or DATA line) must come whole within
 * idle_timeout (RFC 5321 §4.5.3.2.7 asks for at least 5 minutes). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    session *s = arg;
    if (s->busy || s->closing)
        return;
    LOG_INFO_LIMITED("timeout", s->client, "timeout: no complete line in %u s; session closed",
                     s->sv->cfg->smtp.idle_timeout);
    hd_smtpd_shutdown(s->smtpd, "timeout, closing the connection");
    flush_output(s);
    intake__begin_close(s);
}

static void deadline_restart(session *s)
{
    struct timeval tv = {s->sv->cfg->smtp.idle_timeout, 0};
    if (s->deadline)
        evtimer_add(s->deadline, &tv);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    hd_err err = {0};
    while (evbuffer_get_length(in) > 0 && !s->closing && !s->out_paused) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        if (v.iov_len > FEED_MAX)   /* smtpd takes at most max_pipeline at a time */
            v.iov_len = FEED_MAX;
        if (memchr(v.iov_base, '\n', v.iov_len))
            deadline_restart(s);
        if (hd_smtpd_feed(s->smtpd, v.iov_base, v.iov_len, &err) != 0) {
            LOG_WARN_LIMITED("input", s->client, "%s; connection closed", hd_err_str(&err));
            hd_smtpd_shutdown(s->smtpd, "too much pipelined input");
            flush_output(s);
            intake__begin_close(s);
            return;
        }
        evbuffer_drain(in, v.iov_len);
        if (!s->busy)
            intake__drive(s);
        if (s->busy || output_backlog(s))
            break;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    session *s = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        LOG_INFO_LIMITED("timeout", s->client, "idle timeout; session closed");
        hd_smtpd_shutdown(s->smtpd, "idle timeout");
        flush_output(s);
        intake__begin_close(s);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR)
            LOG_DEBUG_ID(s->id, "connection error");
        intake__session_free(s);
    }
}

/* A session accepted, its hd_smtpd made: read, write, keep the per-line
 * deadline and greet. */
void intake__session_start(session *s)
{
    serve *sv = s->sv;
    bufferevent_setcb(s->bev, on_read, on_written, on_event, s);
    bufferevent_setwatermark(s->bev, EV_WRITE, OUT_RESUME, 0);
    struct timeval tv = {sv->cfg->smtp.idle_timeout, 0};
    bufferevent_set_timeouts(s->bev, NULL, &tv);    /* reads: the per-line deadline */
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->deadline = evtimer_new(sv->base, on_deadline, s);
    deadline_restart(s);
    hd_smtpd_greet(s->smtpd, true);
    intake__drive(s);
}
