/*
 * engine.c - the event loop's helpers every room stands on: the clocks,
 * the log (and its rate-limited lines), serve_post() (run a function on
 * the main thread from any thread: a locked list and a libevent user
 * event; libevent is set up for threads in serve.c), DNS on the loop, the
 * service manager's notifications and the reload of the sending domains.
 *
 * Out of memory where an answer cannot be refused: serve_xcalloc and its
 * kin log and abort (see engine.h).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <herald/ratelimit.h>
#include "net/sdnotify.h"
#include "serve/engine.h"

hd_log serve_log;

/* ---- clocks ---- */

int64_t serve_now(void)
{
    return (int64_t)time(NULL);
}

int64_t serve_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t serve_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- out of memory ---- */

static void out_of_memory(const char *what)
{
    LOG_ERR("out of memory %s", what);
    abort();
}

void *serve_xcalloc(size_t n, size_t size, const char *what)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(what);
    return p;
}

void *serve_xmalloc(size_t size, const char *what)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory(what);
    return p;
}

void *serve_xrealloc(void *old, size_t size, const char *what)
{
    void *p = realloc(old, size ? size : 1);
    if (!p)
        out_of_memory(what);
    return p;
}

char *serve_xstrdup(const char *s, const char *what)
{
    char *p = strdup(s);
    if (!p)
        out_of_memory(what);
    return p;
}

/* ---- a message's id ---- */

bool serve_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return false;
    return n == 32;
}

/* ---- the log's rate-limited lines ---- */

#define LIMITED_KEYS 4096
#define LIMITED_WINDOW_MS 60000

void serve_log_limited(hd_log_level level, const char *kind, const char *client, const char *fmt,
                       ...)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static hd_ratelimit *limiter;
    if (level > serve_log.max)
        return;
    uint64_t held = 0;
    pthread_mutex_lock(&lock);
    if (limiter == NULL)
        limiter = hd_ratelimit_new(LIMITED_KEYS, LIMITED_WINDOW_MS);
    bool through =
        limiter == NULL || hd_ratelimit_allow(limiter, kind, client, (int64_t)serve_mono_ms(), &held);
    pthread_mutex_unlock(&lock);
    if (!through)
        return;
    char text[HD_LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (held)
        hd_log_msg_id(&serve_log, level, client, "%s (and %llu more like it since the last such line, not logged)",
                      text, (unsigned long long)held);
    else
        hd_log_msg_id(&serve_log, level, client, "%s", text);
}

/* ---- serve_post: run a function on the main thread ---- */

typedef struct post {
    serve_fn fn;
    void *arg;
    struct post *next;
} post;

struct serve_posts {
    pthread_mutex_t lock;
    post *head, *tail;
    struct event *ev;
};

static void run_posts(evutil_socket_t fd, short what, void *arg)
{
    struct serve_posts *ps = arg;
    pthread_mutex_lock(&ps->lock);
    post *p = ps->head;
    ps->head = ps->tail = NULL;
    pthread_mutex_unlock(&ps->lock);
    while (p) {
        post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

int serve_post_start(serve *sv, hd_err *err)
{
    struct serve_posts *ps = calloc(1, sizeof *ps);
    if (!ps)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->posts = ps;
    pthread_mutex_init(&ps->lock, NULL);
    ps->ev = event_new(sv->base, -1, 0, run_posts, ps);
    if (!ps->ev)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    return 0;
}

void serve_post(serve *sv, serve_fn fn, void *arg)
{
    struct serve_posts *ps = sv->posts;
    /* cannot queue: run nothing rather than lose track silently */
    post *p = serve_xmalloc(sizeof *p, "posting to the main thread");
    *p = (post){fn, arg, NULL};
    pthread_mutex_lock(&ps->lock);
    if (ps->tail)
        ps->tail->next = p;
    else
        ps->head = p;
    ps->tail = p;
    pthread_mutex_unlock(&ps->lock);
    event_active(ps->ev, EV_READ, 0);
}

/* After work_stop and commit_stop: no thread can serve_post any more. */
void serve_post_free(serve *sv)
{
    struct serve_posts *ps = sv->posts;
    if (!ps)
        return;
    /* posts left behind belong to sessions that are gone with the loop */
    post *p = ps->head;
    while (p) {
        post *next = p->next;
        free(p);
        p = next;
    }
    if (ps->ev)
        event_free(ps->ev);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
    sv->posts = NULL;
}

/* ---- DNS on the loop ---- */

#define DNS_TICK_MS 100

static void dns_process(evutil_socket_t fd, short what, void *arg)
{
    serve *sv = arg;
    hd_dns_process(sv->dns, serve_mono_ms());
    if (hd_dns_pending(sv->dns) > 0) {
        struct timeval tv = {0, DNS_TICK_MS * 1000};
        evtimer_add(sv->dns_timer, &tv);
    }
}

int serve_dns_ask(serve *sv, const char *name, uint16_t type, hd_dns_cb cb, void *arg,
                  hd_err *err)
{
    int rc = hd_dns_submit(sv->dns, name, type, cb, arg, err);
    if (rc)
        return rc;
    /* the fixture answers at once; unbound's answers wake dns_ev, and
     * the tick catches time-outs */
    struct timeval tv = {0, hd_dns_fd(sv->dns) < 0 ? 0 : DNS_TICK_MS * 1000};
    if (hd_dns_fd(sv->dns) < 0 || !evtimer_pending(sv->dns_timer, NULL))
        evtimer_add(sv->dns_timer, &tv);
    return 0;
}

int serve_dns_start(serve *sv, hd_err *err)
{
    int rc;
    if (sv->cfg->dns.zone_file) {
        rc = hd_dns_new_zone_file(&sv->dns, sv->cfg->dns.zone_file, err);
    } else {
        hd_dns_config dc = {.server = sv->cfg->dns.resolver, .timeout_ms = sv->cfg->dns.timeout_ms};
        rc = hd_dns_new_unbound(&sv->dns, &dc, err);
    }
    if (rc)
        return rc;
    sv->dns_timer = evtimer_new(sv->base, dns_process, sv);
    int fd = hd_dns_fd(sv->dns);
    if (fd >= 0)
        sv->dns_ev = event_new(sv->base, fd, EV_READ | EV_PERSIST, dns_process, sv);
    if (!sv->dns_timer || (fd >= 0 && !sv->dns_ev))
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    if (sv->dns_ev)
        event_add(sv->dns_ev, NULL);
    return 0;
}

void serve_dns_stop(serve *sv)
{
    if (sv->dns_ev)
        event_free(sv->dns_ev);
    if (sv->dns_timer)
        event_free(sv->dns_timer);
    sv->dns_ev = sv->dns_timer = NULL;
    hd_dns_free(sv->dns);
    sv->dns = NULL;
}

/* ---- the service manager and reloads ---- */

/* Tell systemd (Type=notify) how we are; a failure to tell is logged, never
 * fatal: the server works the same without a service manager. */
void serve_notify(const char *state)
{
    hd_err err = {0};
    if (net_sd_notify(state, &err) != 0)
        LOG_WARN("service manager: %s", hd_err_str(&err));
}

/* A [domain NAME] whose domain was removed while the server runs: the
 * next start refuses the file (serve --check), so say it now. */
static void warn_stale_sections(serve *sv)
{
    for (size_t i = 0; i < sv->cfg->n_domains; i++) {
        const char *name = sv->cfg->domains[i].name;
        if (domains_find(sv->domains, name) != NULL)
            continue;
        hd_err where = {0};
        hd_config_error(sv->cfg, &where, 0, "domain", name, NULL,
                        "no longer a sending domain: remove the section, or the next start "
                        "refuses the file");
        LOG_WARN("%s", where.msg);
    }
}

/* Issue 14: a trusted network submits without AUTH and may send as any
 * sending domain, which is right for one tenant only; say so at start
 * and at every reload while more than one domain is served. */
void serve_warn_trusted_tenants(serve *sv)
{
    const hd_config *cfg = sv->cfg;
    if (cfg->smtp.n_trusted_networks == 0 || !sv->domains || sv->domains->n < 2)
        return;
    hd_err where = {0};
    hd_config_error(cfg, &where, 0, "smtp", NULL, "trusted_networks",
                    "%s%s: clients there submit without AUTH and may send as any of the %zu "
                    "sending domains; with more than one tenant leave trusted_networks empty "
                    "and give each a login (herald user add)",
                    cfg->smtp.trusted_networks[0], cfg->smtp.n_trusted_networks > 1 ? " ..." : "",
                    sv->domains->n);
    LOG_WARN("%s", where.msg);
}

int serve_reload(serve *sv, const char *by, hd_err *err)
{
    char state[160];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu", net_sd_monotonic_usec());
    serve_notify(state);
    if (domains_load(sv, err) != 0) {
        /* the domains loaded before stay in use: still serving */
        LOG_ERR("reload (%s): %s", by, hd_err_str(err));
        snprintf(state, sizeof state, "READY=1\nSTATUS=serving; the reload failed: %.60s",
                 hd_err_str(err));
        serve_notify(state);
        return err->code ? err->code : HD_EIO;
    }
    LOG_INFO("reload (%s): sending domains and keys reloaded", by);
    warn_stale_sections(sv);
    serve_warn_trusted_tenants(sv);
    serve_notify("READY=1\nSTATUS=serving");
    return 0;
}
