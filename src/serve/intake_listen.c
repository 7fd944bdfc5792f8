/*
 * intake_listen.c - the SMTP listeners (submission and inbound) and what
 * happens at accept(): the per-listener and per-client caps (one client
 * address, IPv6 its /64, holds at most max_sessions_per_client sessions of
 * a listener and opens at most max_connections_per_client_per_minute;
 * client_limit_exceptions, loopback by default, skip both), the 421 of a
 * refused connection (at most REFUSED_MAX per listener linger for it, more
 * are closed at once), and the rest of a listener out of descriptors
 * instead of spinning on accept().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include <herald/smtpd.h>
#include "serve/intake_int.h"

/* Connections refused at once that may linger per listener while their
 * 421 drains (each holds a descriptor up to a second); past it the next
 * ones are closed without a reply, so a client opening connections in a
 * loop cannot use up the descriptors. */
#define REFUSED_MAX 64
#define ACCEPT_PAUSE_MS 250     /* how long a listener rests after accept() failed */

size_t intake_sessions(serve *sv)
{
    return sv->intake ? sv->intake->n_sessions : 0;
}

/* The count of ip in table (IP_TRACK slots), its window restarted when a
 * minute has passed; NULL when absent and not create. A full table gives
 * up an entry whose minute is over, else the one with the smallest count
 * (not the oldest: that is the most persistent client's). */
ip_count *intake__ip_slot(ip_count *table, const char *ip, bool create)
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
        ip_count *c = intake__ip_slot(s->sv->intake->connections[s->inbound], s->client, true);
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
    intake__begin_close(s);
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
 * (the address, or an IPv6 client's /64), the session's log id, and
 * whether the listener's client_limit_exceptions spare it those limits. */
static void session_identify(session *s, const struct sockaddr *sa)
{
    const hd_config *cfg = s->sv->cfg;
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, s->ip, sizeof s->ip);
        port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, s->ip, sizeof s->ip);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    /* a number from a random start (rand(), seeded at start), so that the
     * ids of one run differ from the last run's; 24 bits, 6 hex digits */
    uint32_t n = ++s->sv->intake->session_seq & 0xffffff;
    snprintf(s->id, sizeof s->id, strchr(s->ip, ':') ? "s%06x [%s]:%u" : "s%06x %s:%u",
             (unsigned)n, s->ip, port);
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
    intake__session_start(s);
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
    in->session_seq = (uint32_t)rand();
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
        intake__session_free(s);
    }
    free(in);
    sv->intake = NULL;
}
