/*
 * status.c - the server's HTTP endpoints (libevent evhttp):
 *   status (TCP, [status] listen): GET /health, GET /metrics (Prometheus);
 *   control (data_dir/control.sock, mode 0600, for `herald queue` and
 *   `herald domain`): POST /queue/flush, /queue/retry/ID,
 *   /queue/delete/ID, /webhooks/retry/ID|all, /reload.
 * The control socket is a file only the server's user can open: that is
 * its authentication.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include <herald/json.h>
#include "serve/delivery.h"
#include "serve/engine.h"
#include "serve/feedback.h"
#include "serve/intake.h"
#include "serve/status.h"

struct serve_status {
    struct evhttp *http;
    struct evhttp *control;
    http_listener *listener;
    http_listener *control_listener;    /* the pause on EMFILE only */
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static void reply_json(struct evhttp_request *req, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_json(struct evhttp_request *req, int code, const char *reason, const char *fmt, ...)
{
    struct evbuffer *b = evbuffer_new();
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(b, fmt, ap);
    va_end(ap);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

/* {"error": TEXT}, the text escaped as JSON (it may quote a file or a
 * name from the database). */
static void reply_error(struct evhttp_request *req, int code, const char *reason,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void reply_error(struct evhttp_request *req, int code, const char *reason,
                        const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:o}", "error", hd_json_text(text)); /* any bytes */
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    reply_json(req, code, reason, "%s\n", body ? body : "{\"error\":\"out of memory\"}");
    free(body);
    json_decref(o);
}

/* As evhttp_set_allowed_methods: httpconn.c refuses the others (405). */
static const char *const status_methods[] = {"GET", "HEAD", NULL};

/* Every answer of the listener goes through a handler that tracks it
 * (httpconn.c counts a request answered when its answer is sent): an
 * unknown path too, rather than evhttp's own 404. */
static void on_other(struct evhttp_request *req, void *arg)
{
    serve *sv = arg;
    http_listener_track(sv->status->listener, req);
    evhttp_send_error(req, 404, "Not Found");
}

static void on_health(struct evhttp_request *req, void *arg)
{
    serve *sv = arg;
    http_listener_track(sv->status->listener, req);
    if (commit_blocked(sv)) {
        /* the queue cannot be recorded: nothing is delivered or accepted */
        char why[HD_ERR_MSG_MAX];
        commit_blocked_why(sv, why, sizeof why);
        json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:o,s:I}", "status", "degraded", "queue",
                              (json_int_t)queue_size(sv), "sessions",
                              (json_int_t)intake_sessions(sv), "database", "cannot write",
                              "reason", hd_json_text(why), "held", (json_int_t)commit_held(sv));
        char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        reply_json(req, 503, "Service Unavailable", "%s\n",
                   body ? body : "{\"status\":\"degraded\"}");
        free(body);
        json_decref(o);
        return;
    }
    reply_json(req, 200, "OK", "{\"status\":\"%s\",\"queue\":%zu,\"sessions\":%zu}\n",
               sv->stopping ? "stopping" : "ok", queue_size(sv), intake_sessions(sv));
}

#define COUNTER(b, name, help, v)                                                         \
    evbuffer_add_printf(b, "# HELP herald_" name " " help "\n# TYPE herald_" name          \
                           " counter\nherald_" name " %llu\n", (unsigned long long)(v))
#define GAUGE(b, name, help, v)                                                           \
    evbuffer_add_printf(b, "# HELP herald_" name " " help "\n# TYPE herald_" name          \
                           " gauge\nherald_" name " %llu\n", (unsigned long long)(v))

static void on_metrics(struct evhttp_request *req, void *arg)
{
    serve *sv = arg;
    http_listener_track(sv->status->listener, req);
    serve_metrics *m = &sv->metrics;
    struct evbuffer *b = evbuffer_new();
    COUNTER(b, "smtp_sessions_total", "SMTP submission sessions opened", m->sessions_total);
    COUNTER(b, "smtp_sessions_refused_total", "sessions refused (limit or shutdown)", m->sessions_refused);
    GAUGE(b, "smtp_sessions", "SMTP submission sessions open", m->sessions_now);
    COUNTER(b, "messages_accepted_total", "messages accepted (durable)", m->messages_accepted);
    COUNTER(b, "messages_rejected_total", "messages refused at end of DATA", m->messages_rejected);
    COUNTER(b, "recipients_accepted_total", "recipients of accepted messages", m->recipients_accepted);
    COUNTER(b, "auth_success_total", "successful AUTH", m->auth_ok);
    COUNTER(b, "auth_failure_total", "failed AUTH", m->auth_failed);
    COUNTER(b, "delivered_total", "recipients delivered", m->delivered);
    COUNTER(b, "deferred_total", "delivery attempts deferred", m->deferred);
    COUNTER(b, "bounced_total", "recipients bounced", m->bounced);
    COUNTER(b, "expired_total", "recipients expired", m->expired);
    COUNTER(b, "suppressed_total", "recipients not sent: suppressed", m->suppressed);
    COUNTER(b, "captured_total", "recipients captured by the sandbox", m->captured);
    COUNTER(b, "corrupt_total", "messages whose spool record was damaged", m->corrupt);
    COUNTER(b, "commit_batches_total", "group commits", m->commit_batches);
    COUNTER(b, "commit_messages_total", "messages made durable by group commits", m->commit_messages);
    COUNTER(b, "commit_failures_total", "group commits that could not be written", m->commit_failures);
    GAUGE(b, "database_writable", "1 when the queue can be recorded; 0: no delivery starts", !commit_blocked(sv));
    GAUGE(b, "commit_held_changes", "queue changes of failed commits waiting to be written", commit_held(sv));
    COUNTER(b, "connections_out_total", "outbound connections attempted", m->connections_out);
    COUNTER(b, "connections_out_failed_total", "deliveries that found no host", m->connections_out_failed);
    GAUGE(b, "queue_recipients", "recipients not yet final", queue_size(sv));
    queue_gauges(sv);   /* the queue computes its gauges; metrics writes them */
    metrics_write(sv, b, serve_now());
    webhook_metrics(sv, b);
    evbuffer_add_printf(b, "# HELP herald_inbound_messages_total mail taken by the inbound listener, by kind\n"
                           "# TYPE herald_inbound_messages_total counter\n");
    const struct { const char *kind; unsigned long long n; } kinds[] = {
        {"dsn", m->inbound_dsn}, {"arf", m->inbound_arf}, {"dmarc", m->inbound_dmarc},
        {"other", m->inbound_other}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        evbuffer_add_printf(b, "herald_inbound_messages_total{kind=\"%s\"} %llu\n", kinds[i].kind,
                            kinds[i].n);
    COUNTER(b, "async_bounces_total", "bounces (DSNs) that came back and matched a recipient", m->async_bounces);
    COUNTER(b, "complaints_total", "abuse complaints (ARF) that matched a recipient", m->complaints);
    evbuffer_add_printf(b, "# HELP herald_inbound_reports_unverified_total reports matched by "
                           "Message-ID alone (forgeable): not in the bounce or complaint counters\n"
                           "# TYPE herald_inbound_reports_unverified_total counter\n");
    const struct { const char *type; unsigned long long n; } unverified[] = {
        {"bounce", m->unverified_bounces}, {"complaint", m->unverified_complaints},
        {"feedback", m->unverified_feedback}};
    for (size_t i = 0; i < sizeof unverified / sizeof *unverified; i++)
        evbuffer_add_printf(b, "herald_inbound_reports_unverified_total{type=\"%s\"} %llu\n",
                            unverified[i].type, unverified[i].n);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* POST /webhooks/retry/ID or /webhooks/retry/all: dead webhook events
 * are tried again. */
static void webhook_control(serve *sv, struct evhttp_request *req, const char *what)
{
    int64_t id = 0;
    bool all = strcmp(what, "all") == 0;
    size_t n_digits = strspn(what, "0123456789");
    for (size_t i = 0; !all && i < n_digits && i < 18; i++)
        id = id * 10 + (what[i] - '0');
    if (!all && (id <= 0 || n_digits > 18 || what[n_digits] != '\0')) {
        reply_json(req, 400, "Bad Request", "{\"error\":\"expected an id or all\"}\n");
        return;
    }
    int n = webhook_retry(sv, id);
    if (n == HD_ENOTFOUND)
        reply_json(req, 404, "Not Found", "{\"error\":\"no such dead webhook event\"}\n");
    else if (n < 0)
        reply_json(req, 500, "Error", "{\"error\":\"database error\"}\n");
    else {
        if (n > 0)
            LOG_INFO("webhooks: %d dead event%s to be retried", n, n == 1 ? "" : "s");
        reply_json(req, 200, "OK", "{\"retried\":%d}\n", n);
    }
}

static void on_control(struct evhttp_request *req, void *arg)
{
    serve *sv = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || !path) {
        reply_json(req, 405, "Method Not Allowed", "{\"error\":\"POST only\"}\n");
        return;
    }
    if (strcmp(path, "/queue/flush") == 0) {
        int n = queue_retry(sv, "");
        LOG_INFO("queue flush: %d recipient%s due now", n, n == 1 ? "" : "s");
        reply_json(req, 200, "OK", "{\"retried\":%d}\n", n);
    } else if (strncmp(path, "/queue/retry/", 13) == 0 && serve_id_ok(path + 13)) {
        int n = queue_retry(sv, path + 13);
        if (n == HD_ENOTFOUND)
            reply_json(req, 404, "Not Found", "{\"error\":\"no such message in the queue\"}\n");
        else
            reply_json(req, 200, "OK", "{\"retried\":%d}\n", n);
    } else if (strncmp(path, "/queue/delete/", 14) == 0 && serve_id_ok(path + 14)) {
        int n = queue_delete(sv, path + 14);
        if (n == HD_ENOTFOUND)
            reply_json(req, 404, "Not Found", "{\"error\":\"no such message in the queue\"}\n");
        else
            reply_json(req, 200, "OK", "{\"deleted\":%d}\n", n);
        if (n > 0)
            LOG_INFO_ID(path + 14, "%d recipient%s deleted by the operator", n, n == 1 ? "" : "s");
    } else if (strncmp(path, "/webhooks/retry/", 16) == 0) {
        webhook_control(sv, req, path + 16);
    } else if (strcmp(path, "/reload") == 0) {
        hd_err err = {0};
        if (serve_reload(sv, "control socket", &err) != 0)
            reply_error(req, 500, "Error", "reload failed: %s", hd_err_str(&err));
        else
            reply_json(req, 200, "OK", "{\"domains\":%zu}\n", sv->domains->n);
    } else {
        reply_json(req, 404, "Not Found", "{\"error\":\"unknown control request\"}\n");
    }
}

static int control_socket(serve *sv, struct serve_status *st, hd_err *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int n = snprintf(st->sock_path, sizeof st->sock_path, "%s/control.sock", sv->data_dir);
    if (n < 0 || (size_t)n >= sizeof st->sock_path)
        return hd_err_set(err, HD_ELIMIT, "%s/control.sock: path too long for a socket", sv->data_dir);
    memcpy(sun.sun_path, st->sock_path, (size_t)n + 1);
    unlink(st->sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = umask(0077);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        if (fd >= 0)
            close(fd);
        return hd_err_set(err, HD_EIO, "%s: %s", st->sock_path, strerror(errno));
    }
    chmod(st->sock_path, 0600);
    st->control = evhttp_new(sv->base);
    struct evhttp_bound_socket *bound =
        st->control ? evhttp_accept_socket_with_handle(st->control, fd) : NULL;
    if (!bound) {
        close(fd);
        return hd_err_set(err, HD_EIO, "%s: cannot serve the control socket", st->sock_path);
    }
    if (http_listener_watch(sv, st->control, bound, "control", &st->control_listener, err))
        return err->code;
    evhttp_set_gencb(st->control, on_control, sv);
    return 0;
}

int status_start(serve *sv, hd_err *err)
{
    struct serve_status *st = calloc(1, sizeof *st);
    if (!st)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->status = st;
    st->http = evhttp_new(sv->base);
    if (!st->http)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    evhttp_set_allowed_methods(st->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(st->http, 8192);
    evhttp_set_max_body_size(st->http, 0);
    evhttp_set_timeout(st->http, 10);
    evhttp_set_cb(st->http, "/health", on_health, sv);
    evhttp_set_cb(st->http, "/metrics", on_metrics, sv);
    evhttp_set_gencb(st->http, on_other, sv);
    const hd_config_endpoint *ep = &sv->cfg->status.listen;
    hd_err lerr = {0};
    const http_limits lim = {sv->cfg->status.max_connections,
                             sv->cfg->status.max_connections_per_client,
                             sv->cfg->status.client_limit_exceptions,
                             sv->cfg->status.n_client_limit_exceptions, 0, status_methods};
    if (ep->port && http_listener_start(sv, st->http, "status", ep->host, ep->port, &lim, NULL,
                                        NULL, &st->listener, &lerr))
        return hd_config_error(sv->cfg, err, HD_EIO, "status", NULL, "listen", "%s",
                               hd_err_str(&lerr));
    if (ep->port)
        LOG_INFO("status (health, metrics) on http://%s:%u/", ep->host, ep->port);
    return control_socket(sv, st, err);
}

void status_stop(serve *sv)
{
    struct serve_status *st = sv->status;
    if (!st)
        return;
    if (st->http)
        evhttp_free(st->http);
    http_listener_free(st->listener);
    if (st->control)
        evhttp_free(st->control);
    http_listener_free(st->control_listener);
    if (st->sock_path[0])
        unlink(st->sock_path);
    free(st);
    sv->status = NULL;
}
