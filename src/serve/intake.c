/*
 * intake.c - the submission listener: one hd_smtpd session per client
 * connection, driven by libevent; message completion and signing go to a
 * worker, durability to the committer; the 250 is sent only after both.
 * The inbound listener ([inbound], bounces and reports) runs the same
 * sessions without AUTH; its recipients and messages go to inbound.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "herald/passwd.h"
#include "herald/smtpd.h"
#include "accept.h"

#define IP_WINDOW 60            /* seconds over which AUTH failures and inbound messages are counted */
#define IP_TRACK 1024           /* client addresses remembered for that */
#define FEED_MAX 16384          /* bytes handed to the session per call */
#define INBOUND_BAD_RCPTS 20    /* refused recipients before an inbound session is closed */

typedef struct session {
    serve *sv;
    struct bufferevent *bev;
    hd_smtpd *smtpd;
    char ip[INET6_ADDRSTRLEN];
    bool trusted;               /* in smtp.trusted_networks: may submit without AUTH */
    bool tls;
    bool busy;                  /* a worker or the committer holds the session */
    bool dead;                  /* connection gone while busy */
    bool closing;
    struct event *linger;       /* closing: waits for the output to drain */
    struct event *deadline;     /* a line must be complete before it fires */
    unsigned accepted, refusals; /* messages queued; 4xx/5xx replies sent */
    char last_refusal[160];     /* the last 4xx/5xx reply line, for the log */
    unsigned linger_checks;
    bool half_closed;           /* FIN sent; waiting for the client's */
    char user[HD_STORE_NAME_MAX];   /* authenticated user */
    char user_domains[1024];
    bool inbound;               /* on the inbound listener (bounces, reports) */
    unsigned bad_rcpts;         /* inbound: recipients refused */
    size_t held;                /* inbound: bytes counted in serve_intake.inflight */
    struct session *next, *prev;
} session;

/* Something counted per client address over a minute. */
typedef struct ip_count {
    char ip[INET6_ADDRSTRLEN];
    int64_t window_start;
    unsigned count;
} ip_count;

struct serve_intake {
    struct evconnlistener **listeners;
    size_t n_listeners;
    session *sessions;
    size_t n_sessions;
    size_t n_inbound;           /* of which on the inbound listener */
    ip_count auth_fails[IP_TRACK];       /* failed AUTH per client */
    ip_count inbound_msgs[IP_TRACK];     /* messages taken on the inbound listener per client */
};

static void drive(session *s);
static void session_free(session *s);
static void deadline_restart(session *s);

size_t intake_sessions(serve *sv)
{
    return sv->intake ? sv->intake->n_sessions : 0;
}

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

static void flush_output(session *s)
{
    hd_slice out = hd_smtpd_output(s->smtpd);
    if (out.len) {
        note_replies(s, out);
        bufferevent_write(s->bev, out.p, out.len);
        hd_smtpd_output_done(s->smtpd, out.len);
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

#define LINGER_MS 20            /* how often a closing session checks its output */
#define LINGER_MAX 250          /* checks before giving up on a client that reads nothing */

static void linger_done(session *s)
{
    event_free(s->linger);
    s->linger = NULL;
    session_free(s);
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
    if (++s->linger_checks > LINGER_MAX) {
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
static void begin_close(session *s)
{
    if (s->closing)
        return;
    s->closing = true;
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setcb(s->bev, NULL, NULL, NULL, s);
    if (!(s->linger = evtimer_new(s->sv->base, linger, s))) {
        session_free(s);
        return;
    }
    linger(-1, 0, s);
}

static void session_free(session *s)
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
    if (s->refusals)
        LOG_INFO_ID(s->ip,
                    "session ended: %u message%s queued, %u refused command%s, the last: %s",
                    s->accepted, s->accepted == 1 ? "" : "s", s->refusals,
                    s->refusals == 1 ? "" : "s", s->last_refusal);
    else
        LOG_DEBUG_ID(s->ip, "session ended: %u message%s queued", s->accepted,
                  s->accepted == 1 ? "" : "s");
    if (s->prev)
        s->prev->next = s->next;
    else
        in->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    in->n_sessions--;
    in->n_inbound -= s->inbound;
    atomic_fetch_sub(&s->sv->metrics.sessions_now, 1);
    if (s->linger)
        event_free(s->linger);
    if (s->deadline)
        event_free(s->deadline);
    if (s->bev)
        bufferevent_free(s->bev);
    hd_smtpd_free(s->smtpd);
    free(s);
}

/* The worker or committer answered; false when the session died meanwhile
 * (then it is freed here). */
static bool session_back(session *s)
{
    s->busy = false;
    if (s->dead) {
        session_free(s);
        return false;
    }
    bufferevent_enable(s->bev, EV_READ);
    deadline_restart(s);
    return true;
}

/* Hold the session for a worker: no input is read meanwhile (the worker
 * reads the session's message), which also pushes back on a client that
 * pipelines faster than messages are signed and stored. */
static void session_hold(session *s)
{
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
}

static void on_read(struct bufferevent *bev, void *arg);

/* After an answer: go on with input that arrived meanwhile. */
static void session_resume(session *s)
{
    drive(s);
    if (!s->busy && !s->closing && s->bev)
        on_read(s->bev, s);
}

/* ---- AUTH ---- */

/* The count of ip in table (IP_TRACK slots), its window restarted when a
 * minute has passed; NULL when absent and not create. A full table gives
 * up its oldest entry. */
static ip_count *ip_slot(ip_count *table, const char *ip, bool create)
{
    ip_count *free_slot = NULL, *oldest = &table[0];
    int64_t now = serve_now();
    for (size_t i = 0; i < IP_TRACK; i++) {
        ip_count *f = &table[i];
        if (f->ip[0] && strcmp(f->ip, ip) == 0) {
            if (now - f->window_start >= IP_WINDOW)
                f->window_start = now, f->count = 0;
            return f;
        }
        if (!f->ip[0] || now - f->window_start >= IP_WINDOW)
            free_slot = free_slot ? free_slot : f;
        else if (f->window_start < oldest->window_start)
            oldest = f;
    }
    if (!create)
        return NULL;
    ip_count *f = free_slot ? free_slot : oldest;
    snprintf(f->ip, sizeof f->ip, "%s", ip);
    f->window_start = now;
    f->count = 0;
    return f;
}

/* A client-chosen string made safe for one log line: control bytes and
 * non-ASCII become '?' (in place; the name is only logged after this). */
static const char *printable(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return s;
}

typedef struct auth_job {
    session *s;
    char user[HD_STORE_NAME_MAX];
    char password[512];
    bool ok;
    char domains[1024];
} auth_job;

static void auth_work(worker *w, void *arg)
{
    auth_job *j = arg;
    hd_store_user u;
    hd_err err = {0};
    j->ok = false;
    if (hd_store_user_get(worker_store(w), j->user, &u, &err) == 0) {
        bool ok = false;
        if (hd_passwd_verify(j->password, u.pwhash, &ok, &err) == 0 && ok) {
            j->ok = true;
            snprintf(j->domains, sizeof j->domains, "%s", u.domains);
        }
    } else {
        /* same cost for an unknown user as for a wrong password, so the
         * answer time does not tell which names exist */
        char dummy[256];
        hd_passwd_hash(j->password, dummy, sizeof dummy, &err);
    }
    OPENSSL_cleanse(j->password, sizeof j->password);
}

static void auth_done(void *arg)
{
    auth_job *j = arg;
    session *s = j->s;
    if (session_back(s)) {
        if (j->ok) {
            snprintf(s->user, sizeof s->user, "%s", j->user);
            snprintf(s->user_domains, sizeof s->user_domains, "%s", j->domains);
            atomic_fetch_add(&s->sv->metrics.auth_ok, 1);
            LOG_INFO_ID(s->ip, "authenticated as %s", printable(j->user));
        } else {
            ip_count *f = ip_slot(s->sv->intake->auth_fails, s->ip, true);
            f->count++;
            atomic_fetch_add(&s->sv->metrics.auth_failed, 1);
            LOG_WARN_ID(s->ip, "authentication failed for user \"%s\"", printable(j->user));
        }
        hd_smtpd_answer_auth(s->smtpd, j->ok);
        session_resume(s);
    }
    free(j);
}

static void start_auth(session *s)
{
    const hd_smtpd_auth_info *ai = hd_smtpd_auth(s->smtpd);
    ip_count *f = ip_slot(s->sv->intake->auth_fails, s->ip, false);
    if (f && f->count >= s->sv->cfg->smtp.auth_failures_per_minute) {
        LOG_WARN_ID(s->ip, "too many authentication failures; session closed");
        hd_smtpd_shutdown(s->smtpd, "too many authentication failures, try again later");
        drive(s);
        return;
    }
    auth_job *j = calloc(1, sizeof *j);
    if (!j) {
        hd_smtpd_answer_auth(s->smtpd, false);
        drive(s);
        return;
    }
    j->s = s;
    snprintf(j->user, sizeof j->user, "%s", ai->authcid);
    snprintf(j->password, sizeof j->password, "%s", ai->password);
    session_hold(s);
    serve_work(s->sv, auth_work, auth_done, j);
}

/* ---- a message ---- */

/* Main thread: the message is durable (or refused). */
static void message_answered(void *arg)
{
    accept_job *j = arg;
    session *s = j->arg;
    if (j->code == 250)
        s->accepted++;
    if (session_back(s)) {
        hd_smtpd_reply r = {j->code, j->enhanced[0] ? j->enhanced : "2.0.0", j->text};
        hd_smtpd_answer_message(s->smtpd, &r);
        session_resume(s);
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
        LOG_WARN_ID(s->ip, "message deferred (451 4.3.1): too much mail in flight");
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
    session_hold(s);
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
    if (session_back(s)) {
        hd_smtpd_reply r = {code, enhanced, text};
        hd_smtpd_answer_message(s->smtpd, &r);
        session_resume(s);
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
        ip_slot(s->sv->intake->inbound_msgs, s->ip, true)->count++;
    session_hold(s);     /* the worker runs later: serve_work only queues the job */
}

/* Anyone may send to the inbound listener: one client address gets at
 * most [inbound] max_messages_per_minute messages taken. */
static bool inbound_client_over_limit(session *s)
{
    uint32_t limit = s->sv->cfg->inbound.max_messages_per_minute;
    ip_count *c = limit ? ip_slot(s->sv->intake->inbound_msgs, s->ip, false) : NULL;
    if (!c || c->count < limit)
        return false;
    LOG_WARN_ID(s->ip, "%u messages on the inbound listener this minute; MAIL refused (450 4.7.1)",
                c->count);
    return true;
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
        LOG_WARN_ID(s->ip, "%u recipients refused on the inbound listener; session closed",
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
    bufferevent_setcb(tls, on_read, NULL, on_event, s);
    struct timeval tv = {s->sv->cfg->smtp.idle_timeout, 0};
    bufferevent_set_timeouts(tls, NULL, &tv);
    deadline_restart(s);    /* the handshake must finish in time too */
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    hd_smtpd_tls_started(s->smtpd);
}

/* ---- room for more mail ---- */


/* ---- driving the session ---- */

static void drive(session *s)
{
    while (!s->closing) {
        hd_smtpd_event ev = hd_smtpd_step(s->smtpd);
        flush_output(s);
        switch (ev) {
        case HD_SMTPD_EV_NEED_INPUT:
        case HD_SMTPD_EV_WAIT:
            return;
        case HD_SMTPD_EV_STARTTLS:
            start_tls(s);
            break;
        case HD_SMTPD_EV_AUTH:
            start_auth(s);
            if (s->busy)
                return;
            break;
        case HD_SMTPD_EV_MAIL: {
            hd_smtpd_reply r = {250, "2.1.0", "Ok"};
            if (s->inbound && inbound_client_over_limit(s))
                r = (hd_smtpd_reply){450, "4.7.1", "too much mail from your address, try again later"};
            hd_smtpd_answer_mail(s->smtpd, &r);
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
            begin_close(s);
            return;
        }
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
    LOG_INFO_ID(s->ip, "timeout: no complete line in %u s; session closed",
             s->sv->cfg->smtp.idle_timeout);
    hd_smtpd_shutdown(s->smtpd, "timeout, closing the connection");
    flush_output(s);
    begin_close(s);
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
    while (evbuffer_get_length(in) > 0 && !s->closing) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        if (v.iov_len > FEED_MAX)   /* smtpd takes at most max_pipeline at a time */
            v.iov_len = FEED_MAX;
        if (memchr(v.iov_base, '\n', v.iov_len))
            deadline_restart(s);
        if (hd_smtpd_feed(s->smtpd, v.iov_base, v.iov_len, &err) != 0) {
            LOG_WARN_ID(s->ip, "%s; connection closed", hd_err_str(&err));
            hd_smtpd_shutdown(s->smtpd, "too much pipelined input");
            flush_output(s);
            begin_close(s);
            return;
        }
        evbuffer_drain(in, v.iov_len);
        if (!s->busy)
            drive(s);
        if (s->busy || s->closing)
            break;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    session *s = arg;
    if (what & BEV_EVENT_TIMEOUT) {
        LOG_INFO_ID(s->ip, "idle timeout");
        hd_smtpd_shutdown(s->smtpd, "idle timeout");
        flush_output(s);
        begin_close(s);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR)
            LOG_DEBUG_ID(s->ip, "connection error");
        session_free(s);
    }
}

static void accept_session(serve *sv, evutil_socket_t fd, struct sockaddr *sa, bool inbound)
{
    struct serve_intake *in = sv->intake;
    session *s = calloc(1, sizeof *s);
    if (!s) {
        evutil_closesocket(fd);
        return;
    }
    s->sv = sv;
    s->inbound = inbound;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, s->ip, sizeof s->ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, s->ip, sizeof s->ip);
    s->trusted = hd_config_trusted(sv->cfg, s->ip);
    bool loopback = strncmp(s->ip, "127.", 4) == 0 || strcmp(s->ip, "::1") == 0;

    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.hostname = sv->cfg->hostname;
    o.max_message_size = (size_t)sv->cfg->smtp.max_message_size;
    o.max_recipients = sv->cfg->smtp.max_recipients;
    o.tls_available = sv->tls_server != NULL;
    o.auth_without_tls = loopback;   /* RFC 4954 §4: no plain-text passwords off this host */
    o.auth_required = !s->trusted;
    if (inbound) {      /* an MX: anyone may connect, nobody logs in */
        s->trusted = false;
        o.max_message_size = (size_t)sv->cfg->inbound.max_message_size;
        o.max_recipients = sv->cfg->inbound.max_recipients;
        o.auth_required = false;
        o.auth_disabled = true;
    }
    hd_err err = {0};
    s->bev = bufferevent_socket_new(sv->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!s->bev || hd_smtpd_new(&o, &s->smtpd, &err) != 0) {
        if (s->bev)
            bufferevent_free(s->bev);
        else
            evutil_closesocket(fd);
        free(s);
        return;
    }
    s->next = in->sessions;
    if (in->sessions)
        in->sessions->prev = s;
    in->sessions = s;
    in->n_sessions++;
    in->n_inbound += inbound;
    atomic_fetch_add(&sv->metrics.sessions_total, 1);
    atomic_fetch_add(&sv->metrics.sessions_now, 1);
    bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
    struct timeval tv = {sv->cfg->smtp.idle_timeout, 0};
    bufferevent_set_timeouts(s->bev, NULL, &tv);    /* reads: the per-line deadline */
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->deadline = evtimer_new(sv->base, on_deadline, s);
    deadline_restart(s);
    bool full = inbound ? in->n_inbound > sv->cfg->inbound.max_sessions
                        : in->n_sessions - in->n_inbound > sv->cfg->smtp.max_sessions;
    if (full || sv->stopping) {
        atomic_fetch_add(&sv->metrics.sessions_refused, 1);
        hd_smtpd_shutdown(s->smtpd, "too many connections, try again later");
    } else {
        hd_smtpd_greet(s->smtpd, true);
    }
    drive(s);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    accept_session(arg, fd, sa, false);
}

static void on_accept_inbound(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                              int len, void *arg)
{
    accept_session(arg, fd, sa, true);
}

static int listen_on(serve *sv, const hd_config_endpoint *ep, bool inbound, hd_err *err)
{
    const char *what = inbound ? "inbound" : "smtp";
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    char spec[300];
    snprintf(spec, sizeof spec, strchr(ep->host, ':') ? "[%s]:%u" : "%s:%u", ep->host, ep->port);
    /* the configuration's line, so the operator sees where (docs/config.md) */
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0)
        return hd_config_error(sv->cfg, err, HD_EINVAL, what, NULL, "listen",
                               "%s: not an address:port", spec);
    struct evconnlistener *l = evconnlistener_new_bind(
        sv->base, inbound ? on_accept_inbound : on_accept, sv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
        (struct sockaddr *)&ss, sslen);
    if (!l)
        return hd_config_error(sv->cfg, err, HD_EIO, what, NULL, "listen", "%s: %s", spec,
                               evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    struct serve_intake *in = sv->intake;
    in->listeners[in->n_listeners++] = l;
    LOG_INFO(inbound ? "SMTP inbound (bounces, complaints, reports) on %s" : "SMTP submission on %s",
             spec);
    return 0;
}

int intake_start(serve *sv, hd_err *err)
{
    struct serve_intake *in = calloc(1, sizeof *in);
    if (!in)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->intake = in;
    in->listeners = calloc(sv->cfg->smtp.n_listen + sv->cfg->inbound.n_listen + 1,
                           sizeof *in->listeners);
    if (!in->listeners)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    for (size_t i = 0; i < sv->cfg->smtp.n_listen; i++) {
        int rc = listen_on(sv, &sv->cfg->smtp.listen[i], false, err);
        if (rc)
            return rc;
    }
    /* the rule set reads delivery replies too, listener or not */
    int rc = inbound_init(sv, err);
    for (size_t i = 0; !rc && i < sv->cfg->inbound.n_listen; i++) {
        rc = listen_on(sv, &sv->cfg->inbound.listen[i], true, err);
        if (rc == HD_EIO && sv->cfg->inbound.listen_default) {
            /* the embedded default is best-effort (several servers on one
             * host, tests); a listen given in the file must bind */
            LOG_WARN("%s; no inbound listener (set [inbound] listen)", hd_err_str(err));
            rc = 0;
        }
    }
    return rc;
}

void intake_close_listeners(serve *sv)
{
    struct serve_intake *in = sv->intake;
    if (!in)
        return;
    for (size_t i = 0; i < in->n_listeners; i++)
        evconnlistener_free(in->listeners[i]);
    in->n_listeners = 0;
}

void intake_stop(serve *sv)
{
    struct serve_intake *in = sv->intake;
    if (!in)
        return;
    intake_close_listeners(sv);
    free(in->listeners);
    while (in->sessions) {
        session *s = in->sessions;
        s->busy = false;     /* workers are stopped by now */
        session_free(s);
    }
    free(in);
    sv->intake = NULL;
    inbound_free(sv);
}
