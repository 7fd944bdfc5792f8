/*
 * intake.c - the submission listener: one hd_smtpd session per client
 * connection, driven by libevent; message completion and signing go to a
 * worker, durability to the committer; the 250 is sent only after both.
 * The inbound listener ([inbound], bounces and reports) runs the same
 * sessions without AUTH; its recipients and messages go to inbound.c.
 * Bounded per client: a session is not read while its unread replies
 * pass OUT_PAUSE; one client address (IPv6: its /64) holds at most
 * max_sessions_per_client sessions of a listener and opens at most
 * max_connections_per_client_per_minute (client_limit_exceptions,
 * loopback by default, skip both); at most REFUSED_MAX refused
 * connections per listener linger for their 421, more are closed at once;
 * a listener out of descriptors rests instead of spinning on accept().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include <herald/clientkey.h>
#include <herald/passwd.h>
#include <herald/smtpd.h>
#include "serve/intake.h"

#define IP_WINDOW 60            /* seconds over which AUTH failures and inbound messages are counted */
#define IP_TRACK 1024           /* client addresses remembered for that */
#define FEED_MAX 16384          /* bytes handed to the session per call */
#define INBOUND_BAD_RCPTS 20    /* refused recipients before an inbound session is closed */
/* Password checks queued or running at once, every client together: with
 * scrypt at ~0.1-0.2 s a check, a few seconds of waiting at most for a
 * real user; past it AUTH gets 454 4.7.0 (try again). */
#define AUTH_PENDING_MAX 16
/* A second AUTH from a client whose password check is under way waits
 * for it (every local application logs in from 127.0.0.1, often several
 * at once): it retries every AUTH_RETRY_MS, at most AUTH_WAIT_MAX_MS,
 * and at most AUTH_WAITING_MAX sessions per client wait; past either
 * it gets 454 4.7.0. */
#define AUTH_RETRY_MS 20
#define AUTH_WAIT_MAX_MS 5000
#define AUTH_WAITING_MAX 8
/* Refusals (4xx/5xx) of our own policy, as the inbound MAIL limit, count
 * like Postfix's smtpd_hard_error_limit: past it 421 4.7.0 and close. */
#define POLICY_ERRORS_MAX 20
/* Connections refused at once that may linger per listener while their
 * 421 drains (each holds a descriptor up to a second); past it the next
 * ones are closed without a reply, so a client opening connections in a
 * loop cannot use up the descriptors. */
#define REFUSED_MAX 64
/* Replies a client has not read yet: past OUT_PAUSE no more of its input
 * is read (so a client that pipelines cheap commands and never reads
 * cannot make the server buffer its replies), reading resumes once the
 * output is down to OUT_RESUME; past OUT_MAX (only a reply larger than
 * the gap could get there) the session is closed. */
#define OUT_PAUSE (64 * 1024)
#define OUT_RESUME (16 * 1024)
#define OUT_MAX (1024 * 1024)

typedef struct session {
    serve *sv;
    struct bufferevent *bev;
    hd_smtpd *smtpd;
    char ip[INET6_ADDRSTRLEN];
    char client[HD_CLIENTKEY_MAX]; /* what the per-client limits count: ip, or its /64 */
    bool refused;               /* refused at connection: the refusal was logged (limited) */
    bool trusted;               /* in smtp.trusted_networks: may submit without AUTH */
    bool tls;
    bool busy;                  /* a worker or the committer holds the session */
    bool dead;                  /* connection gone while busy */
    bool closing;
    bool out_paused;            /* not reading: too many replies unsent */
    bool tls_pending;           /* STARTTLS answered: the handshake waits for the output to drain */
    bool limit_exempt;          /* in client_limit_exceptions: no per-client caps */
    struct event *auth_wait;    /* AUTH waiting for this client's check under way */
    unsigned auth_wait_ticks;
    unsigned policy_errors;     /* our refusals smtpd does not count (inbound MAIL limit) */
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

/* One SMTP listener; after accept() failed (out of descriptors) it
 * pauses, and resume turns it back on. */
typedef struct listener {
    serve *sv;
    struct evconnlistener *l;
    struct event *resume;
    bool inbound;
    char spec[300];             /* address:port, for the log */
} listener;

#define ACCEPT_PAUSE_MS 250     /* how long a listener rests after accept() failed */

struct serve_intake {
    listener *listeners;
    size_t n_listeners;
    session *sessions;
    size_t n_sessions;
    size_t n_inbound;           /* of which on the inbound listener */
    size_t n_refused[2];        /* of which refused at connection, closing: [0] submission, [1] inbound */
    ip_count auth_fails[IP_TRACK];       /* failed AUTH per client */
    ip_count inbound_msgs[IP_TRACK];     /* messages taken on the inbound listener per client */
    /* password checks in hand, by client key ("" = free): one per client */
    char auth_pending[AUTH_PENDING_MAX][HD_CLIENTKEY_MAX];
    ip_count connections[2][IP_TRACK];   /* connections per client key: [0] submission, [1] inbound */
};

static void drive(session *s);
static void session_free(session *s);
static void deadline_restart(session *s);
static void start_tls(session *s);

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

static void begin_close(session *s);

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
        begin_close(s);
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
    if (s->refused)
        ;   /* one line a minute per client said why (LOG_WARN_LIMITED) */
    else if (s->refusals && !s->accepted)
        /* nothing queued, only refusals: a client that loops on that
         * must not write a line per session */
        LOG_INFO_LIMITED("session refused", s->client,
                         "session ended: no message queued, %u refused command%s, the last: %s",
                         s->refusals, s->refusals == 1 ? "" : "s", s->last_refusal);
    else if (s->refusals)
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
static bool session_back(session *s)
{
    s->busy = false;
    if (s->dead) {
        session_free(s);
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
    session_resume(s);
}

/* ---- AUTH ---- */

/* The count of ip in table (IP_TRACK slots), its window restarted when a
 * minute has passed; NULL when absent and not create. A full table gives
 * up an entry whose minute is over, else the one with the smallest count
 * (not the oldest: that is the most persistent client's). */
static ip_count *ip_slot(ip_count *table, const char *ip, bool create)
{
    ip_count *free_slot = NULL, *smallest = &table[0];
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
        else if (f->count < smallest->count)
            smallest = f;
    }
    if (!create)
        return NULL;
    ip_count *f = free_slot ? free_slot : smallest;
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
    int slot;                   /* in serve_intake.auth_pending */
    char key[HD_CLIENTKEY_MAX];   /* the client's, for the counts and the log */
    char user[HD_STORE_NAME_MAX];
    char password[512];
    bool ok;
    char domains[1024];
} auth_job;

/* On the password-check pool. */
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
    serve *sv = s->sv;
    sv->intake->auth_pending[j->slot][0] = '\0';
    atomic_fetch_add(j->ok ? &sv->metrics.auth_ok : &sv->metrics.auth_failed, 1);
    if (j->ok) {
        /* the attempt was counted when it started; a success gives it
         * back, so logging in often from one address never locks it out */
        ip_count *f = ip_slot(sv->intake->auth_fails, j->key, false);
        if (f && f->count > 0)
            f->count--;
    } else {
        LOG_WARN_LIMITED("auth-failed", j->key, "authentication failed for user \"%s\" (535 5.7.8)",
                         printable(j->user));
    }
    if (session_back(s)) {
        if (j->ok) {
            snprintf(s->user, sizeof s->user, "%s", j->user);
            snprintf(s->user_domains, sizeof s->user_domains, "%s", j->domains);
            LOG_INFO_ID(s->ip, "authenticated as %s", printable(j->user));
        }
        hd_smtpd_answer_auth(s->smtpd, j->ok);
        session_resume(s);
    }
    free(j);
}

/* A free slot for a password check from key, or -1 with *same set when
 * that client already has one in hand. */
static int auth_slot(struct serve_intake *in, const char *key, bool *same)
{
    int free_slot = -1;
    *same = false;
    for (int i = 0; i < AUTH_PENDING_MAX; i++) {
        if (!in->auth_pending[i][0])
            free_slot = free_slot < 0 ? i : free_slot;
        else if (strcmp(in->auth_pending[i], key) == 0)
            *same = true;
    }
    return *same ? -1 : free_slot;
}

/* 454 4.7.0: the client may try again shortly (drive() goes on). */
static void refuse_auth(session *s, const char *text)
{
    hd_smtpd_reply r = {454, "4.7.0", text};
    hd_smtpd_refuse_auth(s->smtpd, &r);
}

static void start_auth(session *s);

/* Sessions of s's client (s aside) waiting for its password check. */
static unsigned auth_waiting(const session *s)
{
    unsigned n = 0;
    for (const session *o = s->sv->intake->sessions; o; o = o->next)
        n += o != s && o->auth_wait_ticks && strcmp(o->client, s->client) == 0;
    return n;
}

/* A waiting AUTH's timer: the session is held (busy) meanwhile, so a
 * client gone while it waited is freed here, once, by session_back. */
static void auth_retry(evutil_socket_t fd, short what, void *arg)
{
    session *s = arg;
    if (!session_back(s))
        return;
    start_auth(s);
    if (!s->busy)
        session_resume(s);
}

/* Wait AUTH_RETRY_MS for the client's check under way; false when it may
 * not wait (more than AUTH_WAITING_MAX do, or it waited AUTH_WAIT_MAX_MS). */
static bool auth_wait(session *s)
{
    if (s->auth_wait_ticks == 0 && auth_waiting(s) >= AUTH_WAITING_MAX)
        return false;
    if (s->auth_wait_ticks >= AUTH_WAIT_MAX_MS / AUTH_RETRY_MS)
        return false;
    if (!s->auth_wait && !(s->auth_wait = evtimer_new(s->sv->base, auth_retry, s)))
        return false;
    s->auth_wait_ticks++;
    session_hold(s);
    struct timeval tv = {0, AUTH_RETRY_MS * 1000};
    evtimer_add(s->auth_wait, &tv);
    return true;
}

/* AUTH credentials are in: the limits, then a password check on its own
 * pool. An attempt counts against [smtp] auth_failures_per_minute when
 * it starts (counted at the end, parallel guesses all passed the check
 * before any was counted); one check per client (address, IPv6 /64) at
 * a time, a second one waits for it (auth_wait), AUTH_PENDING_MAX for
 * everyone. */
static void start_auth(session *s)
{
    struct serve_intake *in = s->sv->intake;
    const hd_smtpd_auth_info *ai = hd_smtpd_auth(s->smtpd);
    uint32_t limit = s->sv->cfg->smtp.auth_failures_per_minute;
    const char *key = s->client; /* the address, an IPv6 client's /64 */
    ip_count *f = limit ? ip_slot(in->auth_fails, key, true) : NULL;
    if (f && f->count >= limit) {
        s->auth_wait_ticks = 0;
        LOG_WARN_LIMITED("auth-limit", key,
                         "%u authentication attempts this minute ([smtp] auth_failures_per_minute); "
                         "session closed (421)", f->count);
        hd_smtpd_shutdown(s->smtpd, "too many authentication failures, try again later");
        drive(s);
        return;
    }
    bool same;
    int slot = auth_slot(in, key, &same);
    if (slot < 0 && same) {
        if (auth_wait(s))
            return;
        s->auth_wait_ticks = 0;
        LOG_WARN_LIMITED("auth-concurrent", key,
                         "AUTH refused (454 4.7.0): another one from this client is being "
                         "checked and %d wait for it, or this one waited %d ms",
                         AUTH_WAITING_MAX, AUTH_WAIT_MAX_MS);
        refuse_auth(s, "another authentication from your address is in progress, try again shortly");
        return;
    }
    s->auth_wait_ticks = 0;
    if (slot < 0) {
        LOG_WARN_LIMITED("auth-busy", key, "AUTH refused (454 4.7.0): %d password checks under way",
                         AUTH_PENDING_MAX);
        refuse_auth(s, "too many authentications in progress, try again shortly");
        return;
    }
    auth_job *j = calloc(1, sizeof *j);
    if (!j) {
        refuse_auth(s, "temporary authentication failure");
        return;
    }
    if (f)
        f->count++;
    j->s = s;
    j->slot = slot;
    snprintf(j->key, sizeof j->key, "%s", key);
    snprintf(in->auth_pending[slot], HD_CLIENTKEY_MAX, "%s", key);
    snprintf(j->user, sizeof j->user, "%s", ai->authcid);
    snprintf(j->password, sizeof j->password, "%s", ai->password);
    session_hold(s);
    serve_work_auth(s->sv, auth_work, auth_done, j);
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
        ip_slot(s->sv->intake->inbound_msgs, s->client, true)->count++;
    session_hold(s);     /* the worker runs later: serve_work only queues the job */
}

/* Anyone may send to the inbound listener: one client address (IPv6:
 * its /64) gets at most [inbound] max_messages_per_minute messages taken. */
static bool inbound_client_over_limit(session *s)
{
    uint32_t limit = s->sv->cfg->inbound.max_messages_per_minute;
    ip_count *c = limit ? ip_slot(s->sv->intake->inbound_msgs, s->client, false) : NULL;
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
    begin_close(s);
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
            start_auth(s);
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
            begin_close(s);
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
            begin_close(s);
            return;
        }
        evbuffer_drain(in, v.iov_len);
        if (!s->busy)
            drive(s);
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
        begin_close(s);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (what & BEV_EVENT_ERROR)
            LOG_DEBUG_ID(s->ip, "connection error");
        session_free(s);
    }
}

/* Sessions open on s's listener from s's client (s aside), closing ones
 * not counted. A walk over the sessions rather than a table: nothing to
 * keep in step, and the sessions are bounded by max_sessions. */
static unsigned client_sessions(const session *s)
{
    unsigned n = 0;
    for (const session *o = s->sv->intake->sessions; o; o = o->next)
        n += o != s && o->inbound == s->inbound && !o->closing && strcmp(o->client, s->client) == 0;
    return n;
}

/* Postfix anvil's limits (smtpd_client_connection_count_limit and
 * _rate_limit): sessions open at once and connections a minute from one
 * client (IPv6: one /64). Every connection counts towards the rate,
 * refused ones too, so a client that keeps hammering stays refused until
 * it slows down. False, with the reply's text in why, when over. */
static bool client_within_limits(session *s, char *why, size_t n)
{
    const hd_config *cfg = s->sv->cfg;
    if (s->limit_exempt)    /* as Postfix's smtpd_client_event_limit_exceptions */
        return true;
    const char *where = s->inbound ? "inbound" : "submission";
    uint32_t max_open = s->inbound ? cfg->inbound.max_sessions_per_client
                                   : cfg->smtp.max_sessions_per_client;
    uint32_t max_rate = s->inbound ? cfg->inbound.max_connections_per_client_per_minute
                                   : cfg->smtp.max_connections_per_client_per_minute;
    if (max_rate) {
        ip_count *c = ip_slot(s->sv->intake->connections[s->inbound], s->client, true);
        if (++c->count > max_rate) {
            LOG_WARN_LIMITED(s->inbound ? "inbound connection rate" : "submission connection rate",
                             s->client,
                             "%u connections this minute on the %s listener "
                             "(max_connections_per_client_per_minute %u): refused (421 4.7.0)",
                             c->count, where, max_rate);
            snprintf(why, n, "too many connections from your address this minute, try again later");
            return false;
        }
    }
    unsigned open = max_open ? client_sessions(s) : 0;
    if (max_open && open >= max_open) {
        LOG_WARN_LIMITED(s->inbound ? "inbound client sessions" : "submission client sessions",
                         s->client,
                         "%u sessions open on the %s listener (max_sessions_per_client %u): "
                         "connection refused (421 4.7.0)", open, where, max_open);
        snprintf(why, n, "too many connections from your address (%u open), try again later",
                 open);
        return false;
    }
    return true;
}

/* RFC 5321 §3.1: a 421 in place of the greeting, then close; RFC 3463
 * 4.7.0 refused by policy, 4.3.2 the listener is full. The
 * session has no hd_smtpd: it was made only to close the usual way (the
 * reply drains, then FIN). Past REFUSED_MAX of them lingering on the
 * listener the connection is closed at once, without a reply. */
static void refuse_session(serve *sv, session *s, evutil_socket_t fd, const char *enhanced,
                           const char *why)
{
    struct serve_intake *in = sv->intake;
    atomic_fetch_add(&sv->metrics.sessions_refused, 1);
    if (in->n_refused[s->inbound] >= REFUSED_MAX ||
        !(s->bev = bufferevent_socket_new(sv->base, fd,
                                          BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS))) {
        evutil_closesocket(fd);
        free(s);
        return;
    }
    char line[512];
    int len = snprintf(line, sizeof line, "421 %s %s %s\r\n", enhanced, sv->cfg->hostname, why);
    if (len < 0 || (size_t)len >= sizeof line)
        len = snprintf(line, sizeof line, "421 %s too many connections\r\n", enhanced);
    s->refused = true;
    in->n_refused[s->inbound]++;
    s->next = in->sessions;
    if (in->sessions)
        in->sessions->prev = s;
    in->sessions = s;
    in->n_sessions++;
    in->n_inbound += s->inbound;
    atomic_fetch_add(&sv->metrics.sessions_total, 1);
    atomic_fetch_add(&sv->metrics.sessions_now, 1);
    bufferevent_enable(s->bev, EV_WRITE);
    bufferevent_write(s->bev, line, (size_t)len);
    begin_close(s);
}

/* Whether the listener has room: refused connections do not count (they
 * go within a second, and one client's refusals must not fill the
 * listener for others); the new one is not in the list yet. */
static bool listener_full(serve *sv, bool inbound, size_t *open)
{
    struct serve_intake *in = sv->intake;
    *open = inbound ? in->n_inbound - in->n_refused[1]
                    : in->n_sessions - in->n_inbound - in->n_refused[0];
    return *open >= (inbound ? sv->cfg->inbound.max_sessions : sv->cfg->smtp.max_sessions);
}

/* Who the client is: its address, the key the per-client limits count
 * (the address, or an IPv6 client's /64), and whether the listener's
 * client_limit_exceptions spare it those limits. */
static void session_identify(session *s, const struct sockaddr *sa)
{
    const hd_config *cfg = s->sv->cfg;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, s->ip, sizeof s->ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, s->ip, sizeof s->ip);
    if (hd_clientkey_of(s->ip, s->client, sizeof s->client) != 0)
        snprintf(s->client, sizeof s->client, "%s", s->ip);
    s->limit_exempt = s->inbound ? hd_config_in_networks(cfg->inbound.client_limit_exceptions,
                                                         cfg->inbound.n_client_limit_exceptions,
                                                         s->ip)
                                 : hd_config_in_networks(cfg->smtp.client_limit_exceptions,
                                                         cfg->smtp.n_client_limit_exceptions,
                                                         s->ip);
}

/* The SMTP session's rules for this listener and client (sets s->trusted). */
static void session_options(session *s, hd_smtpd_opts *o)
{
    const serve *sv = s->sv;
    s->trusted = hd_config_trusted(sv->cfg, s->ip);
    bool loopback = strncmp(s->ip, "127.", 4) == 0 || strcmp(s->ip, "::1") == 0;
    hd_smtpd_opts_init(o);
    o->hostname = sv->cfg->hostname;
    o->max_message_size = (size_t)sv->cfg->smtp.max_message_size;
    o->max_recipients = sv->cfg->smtp.max_recipients;
    o->tls_available = sv->tls_server != NULL;
    o->auth_without_tls = loopback;  /* RFC 4954 §4: no plain-text passwords off this host */
    o->auth_required = !s->trusted;
    o->postmaster_needs_domain = !s->inbound;  /* an MX takes <postmaster>, submission does not */
    if (s->inbound) {    /* an MX: anyone may connect, nobody logs in */
        s->trusted = false;
        o->max_message_size = (size_t)sv->cfg->inbound.max_message_size;
        o->max_recipients = sv->cfg->inbound.max_recipients;
        o->auth_required = false;
        o->auth_disabled = true;
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
    session_identify(s, sa);
    /* the limits first: a refused connection costs no hd_smtpd */
    size_t open;
    char why[200];
    if (sv->stopping) {
        refuse_session(sv, s, fd, "4.3.2", "shutting down, try again later");
        return;
    }
    if (listener_full(sv, inbound, &open)) {
        LOG_WARN_LIMITED("sessions full", inbound ? "inbound" : "submission",
                         "%zu sessions open on the %s listener (max_sessions %u): "
                         "connection from %s refused (421 4.3.2)",
                         open, inbound ? "inbound" : "submission",
                         inbound ? sv->cfg->inbound.max_sessions : sv->cfg->smtp.max_sessions,
                         s->ip);
        refuse_session(sv, s, fd, "4.3.2", "too many connections, try again later");
        return;
    }
    if (!client_within_limits(s, why, sizeof why)) {
        refuse_session(sv, s, fd, "4.7.0", why);
        return;
    }
    hd_smtpd_opts o;
    session_options(s, &o);
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
    bufferevent_setcb(s->bev, on_read, on_written, on_event, s);
    bufferevent_setwatermark(s->bev, EV_WRITE, OUT_RESUME, 0);
    struct timeval tv = {sv->cfg->smtp.idle_timeout, 0};
    bufferevent_set_timeouts(s->bev, NULL, &tv);    /* reads: the per-line deadline */
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    s->deadline = evtimer_new(sv->base, on_deadline, s);
    deadline_restart(s);
    hd_smtpd_greet(s->smtpd, true);
    drive(s);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    listener *ln = arg;
    accept_session(ln->sv, fd, sa, ln->inbound);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    listener *ln = arg;
    evconnlistener_enable(ln->l);
}

/* Out of descriptors or memory: the connection stays waiting, so a
 * listener left on would find it again at once. */
static bool accept_must_rest(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* accept() failed with something other than "try again" (libevent takes
 * EAGAIN, EINTR and ECONNABORTED). accept(2): the network errors (EPROTO,
 * ENETDOWN, EHOSTUNREACH ...) belong to that one connection, gone now:
 * retried like EAGAIN. Out of descriptors (EMFILE, ENFILE) or of memory,
 * the listener would find the same connection waiting at once and spin
 * at a full core; it rests ACCEPT_PAUSE_MS instead, the waiting clients
 * stay in the backlog, and the sessions open go on being served. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    listener *ln = arg;
    int e = EVUTIL_SOCKET_ERROR();
    if (!accept_must_rest(e)) {
        LOG_INFO_LIMITED("accept-network", ln->spec, "SMTP %s listener: accept(): %s (retried)",
                         ln->inbound ? "inbound" : "submission", evutil_socket_error_to_string(e));
        return;
    }
    evconnlistener_disable(l);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    evtimer_add(ln->resume, &tv);
    LOG_WARN_LIMITED("accept", ln->spec,
                     "SMTP %s listener: cannot accept connections: %s (%zu sessions open); "
                     "new clients wait, retried every %d ms",
                     ln->inbound ? "inbound" : "submission",
                     evutil_socket_error_to_string(e), ln->sv->intake->n_sessions,
                     ACCEPT_PAUSE_MS);
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
    struct serve_intake *in = sv->intake;
    listener *ln = &in->listeners[in->n_listeners];
    *ln = (listener){.sv = sv, .inbound = inbound};
    snprintf(ln->spec, sizeof ln->spec, "%s", spec);
    ln->l = evconnlistener_new_bind(sv->base, on_accept, ln,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
                                    (struct sockaddr *)&ss, sslen);
    if (!ln->l)
        return hd_config_error(sv->cfg, err, HD_EIO, what, NULL, "listen", "%s: %s", spec,
                               evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    if (!(ln->resume = evtimer_new(sv->base, on_resume, ln))) {
        evconnlistener_free(ln->l);
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    evconnlistener_set_error_cb(ln->l, on_accept_error);
    in->n_listeners++;
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
    int rc = 0;
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
    for (size_t i = 0; i < in->n_listeners; i++) {
        evconnlistener_free(in->listeners[i].l);
        event_free(in->listeners[i].resume);
    }
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
}
