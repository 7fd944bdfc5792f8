/*
 * deliver.c - one outbound SMTP connection to a destination: find the
 * hosts (route, MX, or the domain itself), connect to them in preference
 * order from the pool's source address, and carry batches (one message,
 * several recipients each) over an hd_smtpc session until nothing is due
 * or the per-connection limit is reached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include <herald/mime7.h>
#include <herald/smtpc.h>
#include "serve/delivery_int.h"

#define MAX_HOSTS 10            /* MX hosts tried per connection */
#define MAX_ADDRS 4             /* addresses tried per host */

typedef struct host {
    char name[256];
    uint16_t pref;
    struct sockaddr_storage addrs[MAX_ADDRS];
    size_t n_addrs;
    bool resolved;
} host;

typedef struct conn conn;
struct conn {
    serve *sv;
    q_dest *dest;
    uint16_t port;
    host hosts[MAX_HOSTS];
    size_t n_hosts;
    size_t host_i, addr_i;
    int pending_dns;
    struct bufferevent *bev;
    hd_smtpc *smtpc;
    SSL *ssl;
    q_batch *batch;
    unsigned sent;
    bool ready_seen;            /* the session got as far as READY */
    bool tls_failed;            /* the STARTTLS handshake failed on this address */
    bool plain_retry;           /* this attempt is that address again, without TLS */
    bool trouble;
    bool answered;              /* some host answered SMTP: trouble is push-back, not unreachable */
    char source[64];            /* source address ("" = any) */
    char helo[256];
    char last_error[512];
    char remote[HD_STORE_NAME_MAX];
    struct conn *next, *prev;   /* every open connection, for deliver_stop() */
};

static void try_next(conn *c);
static void conn_end(conn *c);
static void drive(conn *c);

/* ---- outcomes ---- */

static q_outcome outcome_of(int code)
{
    if (code >= 200 && code < 300)
        return Q_DELIVERED;
    if (code >= 500 && code < 600)
        return Q_BOUNCED;
    return Q_DEFERRED;  /* 4xx, and 0: no reply (connection lost) */
}

/* The outcome of a reply herald makes itself (no server answered): its
 * reason is known where it is made; it never suppresses. */
static void own_result(q_result *res, q_outcome oc, hd_bounce_reason why, const char *reply)
{
    res->outcome = oc;
    res->reason = why;
    res->kind = oc == Q_BOUNCED ? hd_bounce_reason_class(why, "5") : HD_BOUNCE_SOFT;
    res->suppress = false;
    snprintf(res->reply, sizeof res->reply, "%s", reply);
}

/* Every due recipient of the destination gets the same outcome (dead
 * destination, null MX, DNS failure). */
static void settle_all(conn *c, q_outcome oc, hd_bounce_reason why, const char *reply)
{
    q_batch *b;
    while ((b = queue_next_batch(c->sv, c->dest))) {
        for (size_t i = 0; i < b->n; i++)
            own_result(&b->results[i], oc, why, reply);
        snprintf(b->remote, sizeof b->remote, "%s", c->remote[0] ? c->remote : c->dest->domain);
        queue_batch_done(c->sv, b);
    }
}

/* ---- finding the hosts ---- */

typedef struct mx_choice {
    const char *name;
    uint16_t pref;
    unsigned tiebreak;
} mx_choice;

static int mx_cmp(const void *a, const void *b)
{
    const mx_choice *x = a, *y = b;
    if (x->pref != y->pref)
        return (int)x->pref - (int)y->pref;
    return x->tiebreak < y->tiebreak ? -1 : x->tiebreak > y->tiebreak;
}

/* RFC 5321 §5.1: hosts in preference order, those of equal preference in
 * random order (spreading the load); sorted before the list is cut to
 * MAX_HOSTS, so the most preferred are never the ones dropped. */
static void pick_mx_hosts(conn *c, const hd_dns_answer *ans)
{
    mx_choice *v = calloc(ans->nrr ? ans->nrr : 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && i < ans->nrr; i++)
        if (ans->rr[i].name && ans->rr[i].name[0])
            v[n++] = (mx_choice){ans->rr[i].name, ans->rr[i].preference, (unsigned)rand()};
    if (v)
        qsort(v, n, sizeof *v, mx_cmp);
    for (size_t i = 0; i < n && c->n_hosts < MAX_HOSTS; i++) {
        host *h = &c->hosts[c->n_hosts++];
        snprintf(h->name, sizeof h->name, "%s", v[i].name);
        h->pref = v[i].pref;
    }
    free(v);
}

static void add_addr(host *h, int family, const uint8_t *addr, uint16_t port)
{
    if (h->n_addrs >= MAX_ADDRS)
        return;
    struct sockaddr_storage *ss = &h->addrs[h->n_addrs++];
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, addr, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, addr, 16);
    }
}

static bool literal_addr(host *h, const char *name, uint16_t port)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, name, a) == 1) {
        add_addr(h, AF_INET, a, port);
    } else if (inet_pton(AF_INET6, name, a) == 1) {
        add_addr(h, AF_INET6, a, port);
    } else {
        return false;
    }
    h->resolved = true;
    return true;
}

typedef struct addr_q {
    conn *c;
    size_t host_i;
} addr_q;

static void on_addr(void *arg, hd_dns_answer *ans)
{
    addr_q *aq = arg;
    conn *c = aq->c;
    host *h = &c->hosts[aq->host_i];
    if (ans->status == HD_DNS_OK)
        for (size_t i = 0; i < ans->nrr; i++)
            add_addr(h, ans->rr[i].type == HD_DNS_T_A ? AF_INET : AF_INET6, ans->rr[i].addr, c->port);
    else if (!c->last_error[0] || ans->status != HD_DNS_NODATA)
        snprintf(c->last_error, sizeof c->last_error, "4.4.3 %s %s: %s", h->name,
                 hd_dns_type_name(ans->qtype), hd_dns_status_name(ans->status));
    hd_dns_answer_free(ans);
    free(aq);
    if (--c->pending_dns == 0) {
        h->resolved = true;
        try_next(c);
    }
}

/* Look up host i's A and AAAA records; try_next() goes on when both came. */
static void resolve_host(conn *c, size_t i)
{
    static const uint16_t types[] = {HD_DNS_T_A, HD_DNS_T_AAAA};
    hd_err err = {0};
    c->pending_dns = 2;
    for (size_t t = 0; t < 2; t++) {
        addr_q *aq = malloc(sizeof *aq);
        if (!aq || serve_dns_ask(c->sv, c->hosts[i].name, types[t], on_addr, aq, &err) != 0) {
            free(aq);
            if (--c->pending_dns == 0) {
                c->hosts[i].resolved = true;
                try_next(c);
            }
            continue;
        }
        *aq = (addr_q){c, i};
    }
}

static void on_mx(void *arg, hd_dns_answer *ans)
{
    conn *c = arg;
    c->pending_dns = 0;
    const char *domain = c->dest->domain;
    char reply[512];
    switch (ans->status) {
    case HD_DNS_OK:
        /* RFC 7505 §3: a single MX with the root as exchange: no mail */
        if (ans->nrr == 1 && (!ans->rr[0].name || !ans->rr[0].name[0] || strcmp(ans->rr[0].name, ".") == 0)) {
            snprintf(reply, sizeof reply, "556 5.1.10 %s accepts no mail (null MX, RFC 7505)", domain);
            hd_dns_answer_free(ans);
            settle_all(c, Q_BOUNCED, HD_REASON_NOTACCEPT, reply);
            conn_end(c);
            return;
        }
        pick_mx_hosts(c, ans);
        break;
    case HD_DNS_NODATA:
        /* RFC 5321 §5.1: no MX, the domain itself is the host */
        c->n_hosts = 1;
        snprintf(c->hosts[0].name, sizeof c->hosts[0].name, "%s", domain);
        break;
    case HD_DNS_NXDOMAIN:
        snprintf(reply, sizeof reply, "550 5.1.2 %s: no such domain (DNS NXDOMAIN)", domain);
        hd_dns_answer_free(ans);
        settle_all(c, Q_BOUNCED, HD_REASON_HOSTUNKNOWN, reply);
        conn_end(c);
        return;
    default:
        snprintf(reply, sizeof reply, "451 4.4.3 %s MX lookup: %s%s%s", domain,
                 hd_dns_status_name(ans->status), ans->why[0] ? ": " : "", ans->why);
        hd_dns_answer_free(ans);
        c->trouble = true;
        settle_all(c, Q_DEFERRED, HD_REASON_NETWORKERROR, reply);
        conn_end(c);
        return;
    }
    hd_dns_answer_free(ans);
    try_next(c);
}

/* ---- connecting ---- */

static void pick_source(conn *c)
{
    const hd_config *cfg = c->sv->cfg;
    snprintf(c->helo, sizeof c->helo, "%s", cfg->hostname);
    const hd_config_pool *p = c->dest->pool ? hd_config_pool_find(cfg, c->dest->pool) : NULL;
    if (!p || p->n_addresses == 0)
        return;
    size_t i = c->dest->next_address++ % p->n_addresses;
    snprintf(c->source, sizeof c->source, "%s", p->addresses[i]);
    if (p->n_ehlo == p->n_addresses)
        snprintf(c->helo, sizeof c->helo, "%s", p->ehlo[i]);
}

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void close_socket(conn *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        c->ssl = NULL;
    }
    hd_smtpc_free(c->smtpc);
    c->smtpc = NULL;
}

static int bind_source(conn *c, int fd, int family)
{
    if (!c->source[0])
        return 0;
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        if (inet_pton(AF_INET, c->source, &sin->sin_addr) != 1)
            return -1;
        len = sizeof *sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, c->source, &sin6->sin6_addr) != 1)
            return -1;
        len = sizeof *sin6;
    }
    return bind(fd, (struct sockaddr *)&ss, len);
}

static void describe(conn *c, const host *h, const struct sockaddr_storage *ss)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
    snprintf(c->remote, sizeof c->remote, "%s[%s]:%u", h->name, ip, c->port);
}

static bool connect_to(conn *c, const host *h, const struct sockaddr_storage *ss)
{
    describe(c, h, ss);
    LOG_DEBUG("%s: connecting to %s%s%s", c->dest->domain, c->remote, c->source[0] ? " from " : "",
              c->source);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind_source(c, fd, ss->ss_family) != 0) {
        snprintf(c->last_error, sizeof c->last_error, "4.4.1 %s: cannot bind to %s: %s", c->remote,
                 c->source[0] ? c->source : "*", strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    c->bev = bufferevent_socket_new(c->sv->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    hd_smtpc_opts o;
    hd_smtpc_opts_init(&o);
    o.helo_name = c->helo;
    switch (c->sv->cfg->delivery.tls) {
    case HD_TLS_POLICY_NONE: o.tls = HD_SMTPC_TLS_NONE; break;
    case HD_TLS_POLICY_REQUIRED: o.tls = HD_SMTPC_TLS_REQUIRED; break;
    default: o.tls = c->sv->tls_client ? HD_SMTPC_TLS_OPPORTUNISTIC : HD_SMTPC_TLS_NONE; break;
    }
    if (c->plain_retry)
        o.tls = HD_SMTPC_TLS_NONE;
    hd_err err = {0};
    if (!c->bev || hd_smtpc_new(&o, &c->smtpc, &err) != 0) {
        if (!c->bev)
            close(fd);
        close_socket(c);
        snprintf(c->last_error, sizeof c->last_error, "4.3.0 out of memory");
        return false;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    struct timeval tv = {c->sv->cfg->delivery.connect_timeout, 0};
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    socklen_t len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    atomic_fetch_add(&c->sv->metrics.connections_out, 1);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)ss, (int)len) != 0) {
        snprintf(c->last_error, sizeof c->last_error, "4.4.1 connect to %s: %s", c->remote,
                 strerror(errno));
        close_socket(c);
        return false;
    }
    return true;
}

/* Next address of the current host, else the next host (RFC 5321 §5.1:
 * MX hosts in preference order, each of their addresses). When none is
 * left, the due recipients are deferred with the last error. */
static void try_next(conn *c)
{
    while (c->host_i < c->n_hosts) {
        host *h = &c->hosts[c->host_i];
        if (!h->resolved) {
            if (!literal_addr(h, h->name, c->port)) {
                resolve_host(c, c->host_i);
                return;
            }
        }
        while (c->addr_i < h->n_addrs) {
            if (connect_to(c, h, &h->addrs[c->addr_i++]))
                return;
        }
        c->host_i++;
        c->addr_i = 0;
    }
    char reply[600];
    snprintf(reply, sizeof reply, "451 %s", c->last_error[0] ? c->last_error : "4.4.4 no host to deliver to");
    atomic_fetch_add(&c->sv->metrics.connections_out_failed, 1);
    c->trouble = true;
    settle_all(c, Q_DEFERRED, HD_REASON_NETWORKERROR, reply);
    conn_end(c);
}

/* ---- the session ---- */

static void conn_unlink(conn *c)
{
    conn **head = (conn **)&c->sv->deliver_conns;
    if (c->prev)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* At shutdown: close every connection; its recipients stay queued on disk
 * (their attempt was never recorded) and go again after the next start. */
void deliver_stop(serve *sv)
{
    while (sv->deliver_conns) {
        conn *c = sv->deliver_conns;
        conn_unlink(c);
        close_socket(c);
        for (size_t i = 0; c->batch && i < c->batch->n; i++) {  /* busy: in no queue list */
            free(c->batch->rcpts[i]->address);
            free(c->batch->rcpts[i]->last_reply);
            free(c->batch->rcpts[i]);
        }
        queue_batch_free(c->batch);
        free(c);
    }
}

static void conn_end(conn *c)
{
    LOG_DEBUG("%s: connection to %s ends after %u transaction%s%s", c->dest->domain,
              c->remote[0] ? c->remote : "(none)", c->sent, c->sent == 1 ? "" : "s",
              c->trouble ? " (trouble)" : "");
    close_socket(c);
    if (c->batch) {            /* connection lost mid-transaction: results already set */
        queue_batch_done(c->sv, c->batch);
        c->batch = NULL;
    }
    queue_conn_done(c->sv, c->dest,
                    !c->trouble   ? Q_TROUBLE_NONE
                    : c->answered ? Q_TROUBLE_PUSHBACK
                                  : Q_TROUBLE_UNREACHABLE);
    conn_unlink(c);
    free(c);
}

static void session_over(conn *c)
{
    /* failed before it could carry mail: next address or host */
    if (!c->ready_seen) {
        /* last_error reads "X.Y.Z what happened": the reply that defers the
         * recipients is "451 " + it */
        const hd_smtpc_result *r = c->smtpc ? hd_smtpc_session_result(c->smtpc) : NULL;
        c->answered |= r && r->code;
        if (r && r->code)
            snprintf(c->last_error, sizeof c->last_error, "%s %s said: %d%s%s %s",
                     r->enhanced[0] == '4' ? r->enhanced : "4.4.0", c->remote, r->code,
                     r->enhanced[0] ? " " : "", r->enhanced, r->text);
        else if (!c->last_error[0])
            snprintf(c->last_error, sizeof c->last_error, "4.4.2 %s: %s", c->remote,
                     r && r->text[0] ? r->text : "connection closed");
        close_socket(c);
        /* opportunistic TLS that failed: the same address once more in
         * plain text, rather than no mail at all (as Postfix's "may") */
        if (c->tls_failed && c->sv->cfg->delivery.tls == HD_TLS_POLICY_OPPORTUNISTIC &&
            !c->plain_retry && c->addr_i > 0) {
            LOG_INFO("%s: TLS failed with %s; trying it again without TLS", c->dest->domain, c->remote);
            c->plain_retry = true;
            c->tls_failed = false;
            c->addr_i--;
        } else {
            c->plain_retry = false;
        }
        try_next(c);
        return;
    }
    conn_end(c);
}

static void flush_output(conn *c)
{
    hd_slice out = hd_smtpc_output(c->smtpc);
    if (out.len) {
        bufferevent_write(c->bev, out.p, out.len);
        hd_smtpc_output_done(c->smtpc, out.len);
    }
}

/* Only a refusal of the mailbox itself puts the address on the
 * suppression list: a 5xx to RCPT saying the address is bad (X.1.x) or
 * disabled (X.2.1), or a plain 550/551/553 to RCPT without an enhanced
 * code. A 5xx to MAIL (our IP listed) or to DATA (content, policy) says
 * nothing about the recipient (RFC 3463 §3.2, §3.3). */
/* A failure's reason and kind, read as a bounce's would be (report.h):
 * only a hard reason given to RCPT TO says the mailbox is bad. A refusal
 * at MAIL FROM is about our sender (5.1.7, 5.1.8), one after DATA about
 * the message: neither condemns the address. */
static void classify_reply(serve *sv, const hd_smtpc_result *r, q_result *res)
{
    res->suppress = false;
    if (res->outcome != Q_BOUNCED) { /* only a bounce's reason is recorded: no phrase search */
        res->reason = res->outcome == Q_DELIVERED ? HD_REASON_DELIVERED : HD_REASON_UNDEFINED;
        res->kind = res->outcome == Q_DELIVERED ? HD_BOUNCE_NONE : HD_BOUNCE_SOFT;
        return;
    }
    bool at_rcpt = r->phase == HD_SMTPC_PHASE_RCPT;
    res->kind = hd_report_classify_reply(sv->bounce_rules, r->code, r->enhanced, r->text, at_rcpt,
                                         &res->reason);
    char status[2] = {(char)('0' + r->code / 100), '\0'}; /* a 5xx is permanent, 4xx not */
    res->kind = hd_bounce_class_with(res->kind, res->reason, status, sv->hard_reasons);
    res->suppress = at_rcpt && res->kind == HD_BOUNCE_HARD;
}

static void txn_done(conn *c)
{
    q_batch *b = c->batch;
    c->batch = NULL;
    for (size_t i = 0; i < b->n; i++) {
        const hd_smtpc_result *r = hd_smtpc_rcpt_result(c->smtpc, i);
        b->results[i].outcome = outcome_of(r->code);
        /* RFC 5321 §4.5.3.1.10: 552 to RCPT ("too many recipients") is
         * to be taken as temporary */
        if (r->code == 552 && r->phase == HD_SMTPC_PHASE_RCPT)
            b->results[i].outcome = Q_DEFERRED;
        classify_reply(c->sv, r, &b->results[i]);
        if (r->code)
            snprintf(b->results[i].reply, sizeof b->results[i].reply, "%d %s%s%s", r->code,
                     r->enhanced, r->enhanced[0] ? " " : "", r->text);
        else
            snprintf(b->results[i].reply, sizeof b->results[i].reply, "%s", r->text);
        /* the destination pushes back: 421, a lost session, or a 4xx to
         * MAIL or DATA (not to one RCPT: that is about the recipient) */
        if (r->code == 421 || (r->code == 0 && r->phase == HD_SMTPC_PHASE_SESSION) ||
            (r->code >= 400 && r->code < 500 &&
             (r->phase == HD_SMTPC_PHASE_MAIL || r->phase == HD_SMTPC_PHASE_DATA)))
            c->trouble = true;
    }
    snprintf(b->remote, sizeof b->remote, "%s", c->remote);
    if (c->ssl)
        snprintf(b->tls, sizeof b->tls, "%s", SSL_get_version(c->ssl));
    queue_batch_done(c->sv, b);
}

static void start_txn(conn *c)
{
    if (c->sent >= c->sv->cfg->delivery.max_messages_per_connection ||
        !(c->batch = queue_next_batch(c->sv, c->dest))) {
        hd_smtpc_quit(c->smtpc);
        return;
    }
    q_batch *b = c->batch;
    hd_smtpc_txn t = {
        .mail_from = b->mail_from,
        .rcpts = b->addrs,
        .n_rcpts = b->n,
        .message = hd_buf_slice(&b->data),
        /* the bytes on the wire decide BODY=8BITMIME, or that a hop
         * without 8BITMIME gets nothing (RFC 6152 §3). For a message
         * accepted now that is its HD_MSG_8BIT flag; the scan (a few µs
         * per 100 KB) is also right for one queued before intake
         * re-encoded 8-bit parts, whose flag says what the client
         * declared */
        .body_8bit = hd_mime7_has_8bit(hd_buf_slice(&b->data)),
        .smtputf8 = (b->msg->flags & HD_MSG_SMTPUTF8) != 0,
    };
    hd_err err = {0};
    c->sent++;
    int rc = hd_smtpc_begin(c->smtpc, &t, &err);
    if (rc == 0)
        return;
    /* the transaction cannot be sent at all: a message over the size
     * limit or an address the session refuses is permanent; anything
     * else is tried again */
    LOG_ERR_ID(b->msg->uuid, "cannot send to %s: %s", c->remote, hd_err_str(&err));
    q_outcome oc = rc == HD_ELIMIT || rc == HD_EINVAL ? Q_BOUNCED : Q_DEFERRED;
    const char *code = rc == HD_ELIMIT ? "554 5.3.4" : rc == HD_EINVAL ? "553 5.1.3" : "451 4.3.0";
    hd_bounce_reason why = rc == HD_ELIMIT ? HD_REASON_MESGTOOBIG
                           : rc == HD_EINVAL ? HD_REASON_SYNTAXERROR
                                             : HD_REASON_SYSTEMERROR;
    char reply[sizeof b->results[0].reply];
    snprintf(reply, sizeof reply, "%s %s", code, hd_err_str(&err));
    for (size_t i = 0; i < b->n; i++)
        own_result(&b->results[i], oc, why, reply);
    snprintf(b->remote, sizeof b->remote, "%s", c->remote);
    c->batch = NULL;
    queue_batch_done(c->sv, b);
    hd_smtpc_quit(c->smtpc);
}

static void start_tls(conn *c)
{
    c->ssl = SSL_new(c->sv->tls_client);
    struct bufferevent *tls = NULL;
    if (c->ssl) {
        SSL_set_tlsext_host_name(c->ssl, c->hosts[c->host_i].name);
        if (c->sv->cfg->delivery.tls >= HD_TLS_POLICY_VERIFY)
            SSL_set1_host(c->ssl, c->hosts[c->host_i].name);
        tls = bufferevent_openssl_filter_new(c->sv->base, c->bev, c->ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    }
    if (!tls) {
        if (c->ssl)
            SSL_free(c->ssl);
        c->ssl = NULL;
        hd_smtpc_tls_failed(c->smtpc);
        return;
    }
    c->bev = tls;
    bufferevent_setcb(tls, on_read, NULL, on_event, c);
    struct timeval tv = {c->sv->cfg->delivery.command_timeout, 0};
    bufferevent_set_timeouts(tls, &tv, &tv);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void drive(conn *c)
{
    for (;;) {
        hd_smtpc_event ev = hd_smtpc_step(c->smtpc);
        flush_output(c);
        switch (ev) {
        case HD_SMTPC_EV_NEED_INPUT:
            return;
        case HD_SMTPC_EV_STARTTLS:
            c->answered = true;     /* a TLS failure now is a receiver's, not a dead host */
            start_tls(c);
            return;     /* the handshake's end (on_event CONNECTED) goes on */
        case HD_SMTPC_EV_READY:
            c->ready_seen = c->answered = true;
            start_txn(c);
            break;
        case HD_SMTPC_EV_TXN_DONE:
            txn_done(c);
            break;
        case HD_SMTPC_EV_CLOSE:
            session_over(c);
            return;
        }
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    hd_err err = {0};
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        if (hd_smtpc_feed(c->smtpc, v.iov_base, v.iov_len, &err) != 0) {
            hd_smtpc_lost(c->smtpc, hd_err_str(&err));
            evbuffer_drain(in, evbuffer_get_length(in));
            break;
        }
        evbuffer_drain(in, v.iov_len);
    }
    drive(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (c->ssl) {
            hd_smtpc_tls_started(c->smtpc);
            drive(c);
        } else {
            struct timeval tv = {c->sv->cfg->delivery.command_timeout, 0};
            bufferevent_set_timeouts(bev, &tv, &tv);
        }
        return;
    }
    char why[300];
    if (what & BEV_EVENT_TIMEOUT)
        snprintf(why, sizeof why, "4.4.2 %s: timed out", c->remote);
    else if (what & BEV_EVENT_EOF)
        snprintf(why, sizeof why, "4.4.2 %s: connection closed by the server", c->remote);
    else if (c->ssl && !hd_smtpc_tls_active(c->smtpc))
        snprintf(why, sizeof why, "4.7.5 %s: TLS handshake failed", c->remote);
    if (c->ssl && !hd_smtpc_tls_active(c->smtpc))
        c->tls_failed = true;
    else
        snprintf(why, sizeof why, "4.4.1 %s: %s", c->remote,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    snprintf(c->last_error, sizeof c->last_error, "%s", why);
    if (c->ssl && !hd_smtpc_tls_active(c->smtpc))
        hd_smtpc_tls_failed(c->smtpc);
    else
        hd_smtpc_lost(c->smtpc, why);
    drive(c);
}

void deliver_start(serve *sv, q_dest *dest)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        queue_conn_done(sv, dest, Q_TROUBLE_PUSHBACK);  /* a local failure: the longer pause */
        return;
    }
    c->sv = sv;
    c->dest = dest;
    c->port = sv->cfg->delivery.remote_port;
    c->next = sv->deliver_conns;
    if (c->next)
        ((conn *)sv->deliver_conns)->prev = c;
    sv->deliver_conns = c;
    pick_source(c);
    const hd_config_route *route = hd_config_route_find(sv->cfg, dest->domain);
    if (route) {
        c->n_hosts = 1;
        snprintf(c->hosts[0].name, sizeof c->hosts[0].name, "%s", route->next_hop.host);
        c->port = route->next_hop.port;
        try_next(c);
        return;
    }
    hd_err err = {0};
    c->pending_dns = 1;
    if (serve_dns_ask(sv, dest->domain, HD_DNS_T_MX, on_mx, c, &err) != 0) {
        char reply[400];
        snprintf(reply, sizeof reply, "451 4.4.3 %s MX lookup: %s", dest->domain, hd_err_str(&err));
        c->trouble = true;
        settle_all(c, Q_DEFERRED, HD_REASON_NETWORKERROR, reply);
        conn_end(c);
    }
}
