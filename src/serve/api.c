/*
 * api.c - the HTTP API ([api] listen; docs/api.md, docs/openapi.yaml).
 *
 *   POST   /v1/messages                  send (structured or raw); 202 once durable
 *   GET    /v1/messages/{id}             its recipients, their states, its events
 *   GET    /v1/events                    paged: after, since, type, message, limit
 *   GET    /v1/suppressions[/{address}]  the suppression list
 *   POST   /v1/suppressions              add {address, reason}
 *   DELETE /v1/suppressions/{address}    remove (a key for every domain only)
 *   GET    /v1/domains                   the key's sending domains and their DNS records
 *   POST   /v1/domains                   add one (a key for every domain only)
 *
 * Threads: the request arrives on the main thread (evhttp has read the
 * whole body, up to max_request_size); everything that reads the database
 * or parses runs on a worker (its own store connection), so the loop never
 * waits on SQLite or on a 30 MB JSON body; the answer goes back through
 * serve_post(). Changes that live in the main thread's memory (the
 * suppression set, the domains snapshot, the queue) are made there, after
 * the worker. Messages go through accept.c like SMTP submission: 202 is
 * sent after the committer's fsync, the same promise as a 250.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "serve/intake.h"
#include <herald/apikey.h>
#include <herald/apimsg.h>
#include <herald/compose.h>
#include <herald/domain.h>
#include <herald/json.h>
#include <herald/webhook.h>

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000
#define MESSAGE_EVENTS_MAX 1000     /* events listed with GET /v1/messages/{id} */
#define IDEM_KEY_MAX 255

typedef struct idem_entry {         /* an Idempotency-Key whose request is in flight */
    char scope[24];
    char key[IDEM_KEY_MAX + 1];
    struct idem_entry *next;
} idem_entry;

/* The gate's memory of keys it let through lately (SHA-256 of the token,
 * and until when, monotonic ms): a keep-alive client's next request skips
 * the database read. It only decides whether a body is read; authorize()
 * checks the key again for every request, so a revoked key is refused at
 * once all the same. */
#define GATE_SEEN 32
#define GATE_SEEN_MS 10000
typedef struct gate_seen {
    unsigned char sha[32];
    uint64_t until;
} gate_seen;

struct serve_api {
    struct evhttp *http;
    http_listener *listener;
    idem_entry *in_flight;
    gate_seen seen[GATE_SEEN];
    unsigned seen_next;
    char keys_dir[4096];            /* data_dir/keys, absolute (POST /v1/domains) */
};

typedef enum route {
    R_NONE,
    R_SEND,
    R_MESSAGE,
    R_EVENTS,
    R_SUPPRESSIONS,
    R_SUPPRESSION,
    R_DOMAINS,
} route;

typedef enum after_action {         /* main-thread work once the worker is done */
    A_NONE,
    A_SUPPRESS,
    A_UNSUPPRESS,
    A_RELOAD_DOMAINS,
} after_action;

typedef struct api_req {
    serve *sv;
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    route route;
    const char *allow;              /* the methods of the route (405) */
    char arg[HD_STORE_ADDR_MAX];    /* {id} or {address}, decoded */
    char *query;                    /* owned */
    hd_slice body;                  /* borrowed from the request's input buffer */
    char token[HD_APIKEY_TOKEN_MAX + 1];
    char idem_key[IDEM_KEY_MAX + 1];
    char idem_scope[24];            /* the token's key id; set while the key is in flight */
    hd_store_apikey key;
    /* the answer */
    int status;
    char *reply;                    /* JSON text, owned */
    bool replayed;                  /* Idempotency-Key: the first request's answer again */
    int retry_after;                /* seconds, 0: no header */
    after_action after;
    int mark_rc;                    /* the committer's result for the change */
    char after_address[HD_STORE_ADDR_MAX];
    char after_reason[HD_STORE_TEXT_MAX];
    /* POST /v1/messages */
    accept_job *job;
    hd_store_idempotency idem;
    hd_apimsg msg;
} api_req;

/* ---- answers ---- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void set_reply(api_req *r, int status, json_t *body)
{
    r->status = status;
    free(r->reply);
    r->reply = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
}

/* {"error": {"code": ..., "message": ...}}; code is machine-readable, the
 * message says what is wrong and where. */
static void set_error(api_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_error(api_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a message may quote client bytes (a path): hd_json_text keeps it JSON */
    json_t *m = hd_json_text(msg);
    set_reply(r, status, json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", m));
}

static void send_reply(api_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct evbuffer *b = evbuffer_new();
    if (r->reply) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(b, r->reply, strlen(r->reply));
        evbuffer_add(b, "\n", 1);
    }
    if (r->status == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"herald\"");
    if (r->status == 405 && r->allow)
        evhttp_add_header(h, "Allow", r->allow);
    if (r->replayed)
        evhttp_add_header(h, "Idempotent-Replayed", "true");
    if (r->retry_after) {
        char s[16];
        snprintf(s, sizeof s, "%d", r->retry_after);
        evhttp_add_header(h, "Retry-After", s);
    }
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(r->req, r->status, reason_phrase(r->status), b);
    evbuffer_free(b);
}

static void idem_release(api_req *r)
{
    struct serve_api *api = r->sv->api;
    if (!r->idem_scope[0] || !api)
        return;
    for (idem_entry **pp = &api->in_flight; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->scope, r->idem_scope) == 0 && strcmp((*pp)->key, r->idem_key) == 0) {
            idem_entry *e = *pp;
            *pp = e->next;
            free(e);
            break;
        }
    }
    r->idem_scope[0] = '\0';
}

static void req_free(api_req *r)
{
    idem_release(r);
    if (r->job)
        accept_job_free(r->job);
    hd_apimsg_free(&r->msg);
    free(r->query);
    free(r->reply);
    OPENSSL_cleanse(r->token, sizeof r->token);
    free(r);
}

/* ---- JSON of rows ---- */

/* A time the database keeps in seconds: RFC 3339 without a fraction. */
static json_t *time_json(int64_t secs)
{
    json_t *j = hd_json_time_value(secs);
    return j ? j : json_null();
}

/* Text that may hold a remote server's bytes; "" is null. */
static json_t *text_json(const char *s)
{
    json_t *j = s && s[0] ? hd_json_text(s) : NULL;
    return j ? j : json_null();
}

/* ---- requests, on a worker ---- */

/* Main thread, before anything else is spent on the request: one SHA-256
 * and one indexed read of the main thread's connection (WAL: readers do
 * not wait for the committer). */
static bool authorize(api_req *r)
{
    if (!r->token[0]) {
        set_error(r, 401, "unauthorized", "an API key is needed: Authorization: Bearer hk_...");
        return false;
    }
    hd_err err = {0};
    int rc = hd_apikey_verify(r->sv->store, r->token, &r->key, &err);
    if (rc == HD_EINVAL) {
        char *peer = NULL;
        ev_uint16_t port = 0;
        struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
        if (evcon)
            evhttp_connection_get_peer(evcon, &peer, &port);
        LOG_WARN_LIMITED("api-unauthorized", peer, "API: invalid key from %s",
                         peer ? peer : "?");    /* never the token */
        set_error(r, 401, "unauthorized", "invalid API key");
        return false;
    }
    if (rc) {
        LOG_ERR("API key check: %s", hd_err_str(&err));
        set_error(r, 503, "unavailable", "the key could not be checked, try again");
        r->retry_after = 1;
        return false;
    }
    return true;
}

static bool key_is_global(const hd_store_apikey *k)
{
    return strcmp(k->domains, "*") == 0;
}

static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    *out = 0;
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* since=: Unix seconds, or an RFC 3339 UTC time "2026-11-27T08:00:00Z". */
static bool parse_since(const char *s, int64_t *ms)
{
    int64_t secs;
    if (parse_int(s, 0, INT64_MAX / 1000, &secs)) {
        *ms = secs * 1000;
        return true;
    }
    /* YYYY-MM-DDTHH:MM:SS, fixed widths (RFC 3339 §5.6) */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    for (size_t i = 0; i < sizeof shape - 1; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    int v[6];
    static const int at[] = {0, 5, 8, 11, 14, 17}, width[] = {4, 2, 2, 2, 2, 2};
    for (size_t k = 0; k < 6; k++) {
        v[k] = 0;
        for (int i = 0; i < width[k]; i++)
            v[k] = v[k] * 10 + (s[at[k] + i] - '0');
    }
    struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2],
                    .tm_hour = v[3], .tm_min = v[4], .tm_sec = v[5]};
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return false;
    const char *end = s + sizeof shape - 1;
    if (*end == '.')                 /* fractions of a second: ignored */
        for (end++; *end >= '0' && *end <= '9'; end++)
            ;
    if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
        return false;
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *ms = (int64_t)t * 1000;
    return true;
}

typedef struct collect {
    json_t *array;
    int64_t last_id;
    size_t n;
} collect;

/* An event as webhooks send it: one shape wherever an application meets it. */
static int collect_event(const hd_store_event *e, void *arg)
{
    collect *c = arg;
    json_t *o = hd_webhook_event_json(e, e->domain);
    if (!o || json_array_append_new(c->array, o) != 0)
        return HD_ENOMEM;
    c->last_id = e->id;
    c->n++;
    return 0;
}

static void get_events(api_req *r, worker *w)
{
    struct evkeyvalq q = {0};
    hd_store_event_filter f = {.domains = r->key.domains, .limit = PAGE_DEFAULT};
    if (r->query && evhttp_parse_query_str(r->query, &q) != 0) {
        set_error(r, 400, "invalid_query", "the query string is malformed");
        return;
    }
    const char *v;
    int64_t limit = PAGE_DEFAULT;
    if ((v = evhttp_find_header(&q, "after")) && !parse_int(v, 0, INT64_MAX, &f.after_id)) {
        set_error(r, 400, "invalid_query", "after: must be an event id (a whole number >= 0)");
    } else if ((v = evhttp_find_header(&q, "since")) && !parse_since(v, &f.since_ms)) {
        set_error(r, 400, "invalid_query",
                  "since: must be Unix seconds or a UTC time like 2026-11-27T08:00:00Z");
    } else if ((v = evhttp_find_header(&q, "limit")) && !parse_int(v, 1, PAGE_MAX, &limit)) {
        set_error(r, 400, "invalid_query", "limit: must be 1 to %d", PAGE_MAX);
    } else {
        f.limit = (size_t)limit;
        f.type = evhttp_find_header(&q, "type");
        f.message = evhttp_find_header(&q, "message");
        hd_event_type type;
        /* the one table of event types (webhooks filter by it too) */
        if (f.type && hd_event_type_parse(hd_slice_cstr(f.type), &type) != 0) {
            set_error(r, 400, "invalid_query", "type: \"%.40s\" is not an event type", f.type);
        } else {
            collect probe = {json_array(), f.after_id, 0};
            hd_err err = {0};
            size_t want = f.limit;
            f.limit++;      /* one more than asked: is there a next page? */
            int rc = hd_store_event_query(worker_store(w), &f, collect_event, &probe, &err);
            if (rc) {
                json_decref(probe.array);
                LOG_ERR("GET /v1/events: %s", hd_err_str(&err));
                set_error(r, 500, "internal", "the events could not be read");
            } else {
                bool more = probe.n > want;
                if (more) {
                    json_array_remove(probe.array, want);
                    probe.last_id = json_integer_value(
                        json_object_get(json_array_get(probe.array, want - 1), "id"));
                }
                set_reply(r, 200, json_pack("{s:o,s:I,s:b}", "events", probe.array, "next_after",
                                            (json_int_t)probe.last_id, "has_more", more));
            }
        }
    }
    evhttp_clear_headers(&q);
}

static int collect_rcpt(const hd_store_recipient *rc, void *arg)
{
    /* envelope_from: what went on the wire (per-recipient VERP), null
     * before the first attempt */
    json_array_append_new(arg, json_pack("{s:o,s:s,s:i,s:o,s:o,s:o,s:o}", "address",
                                         text_json(rc->address), "state",
                                         hd_rcpt_state_name(rc->state), "attempts", rc->attempts,
                                         "last_reply", text_json(rc->last_reply), "updated_at",
                                         time_json(rc->updated_at), "next_attempt",
                                         rc->state == HD_RCPT_QUEUED
                                             ? time_json(rc->next_attempt)
                                             : json_null(),
                                         "envelope_from", text_json(rc->mail_from)));
    return 0;
}

static void get_message(api_req *r, worker *w)
{
    hd_store_message *m = malloc(sizeof *m);
    hd_err err = {0};
    if (!m) {
        set_error(r, 500, "internal", "out of memory");
        return;
    }
    int rc = hd_store_message_get(worker_store(w), r->arg, m, &err);
    /* another domain's message is not found either: nothing about it leaks */
    if (rc == HD_ENOTFOUND || (!rc && !hd_apikey_allows(&r->key, m->from_domain))) {
        set_error(r, 404, "not_found", "no message %s", r->arg);
    } else if (rc) {
        LOG_ERR("GET /v1/messages: %s", hd_err_str(&err));
        set_error(r, 500, "internal", "the message could not be read");
    } else {
        json_t *rcpts = json_array();
        collect ev = {json_array(), 0, 0};
        hd_store_event_filter f = {.message = m->uuid, .limit = MESSAGE_EVENTS_MAX};
        if ((rc = hd_store_recipient_each(worker_store(w), m->id, collect_rcpt, rcpts, &err)) ||
            (rc = hd_store_event_query(worker_store(w), &f, collect_event, &ev, &err))) {
            json_decref(rcpts);
            json_decref(ev.array);
            LOG_ERR("GET /v1/messages: %s", hd_err_str(&err));
            set_error(r, 500, "internal", "the message could not be read");
        } else {
            json_t *tags = m->tags[0] ? json_loads(m->tags, 0, NULL) : NULL;
            set_reply(r, 200, json_pack("{s:s,s:o,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id",
                                        m->uuid, "message_id", text_json(m->message_id),
                                        "domain", m->from_domain, "submitter",
                                        text_json(m->submitter), "received_at",
                                        time_json(m->received_at), "expires_at",
                                        time_json(m->expires_at), "tags",
                                        tags ? tags : json_array(), "pool",
                                        text_json(m->pool), "envelope_from",
                                        text_json(m->mail_from), "recipients", rcpts, "events",
                                        ev.array));
        }
    }
    free(m);
}

static json_t *suppression_json(const hd_store_suppression *s)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:o}", "address", text_json(s->address), "reason",
                     text_json(s->reason), "source", text_json(s->source), "created",
                     time_json(s->created), "expires_at",
                     s->expires ? time_json(s->expires) : json_null());
}

static int collect_suppression(const hd_store_suppression *s, void *arg)
{
    json_array_append_new(arg, suppression_json(s));
    return 0;
}

static void get_suppressions(api_req *r, worker *w)
{
    if (!key_is_global(&r->key)) {  /* the list spans every domain's recipients */
        set_error(r, 403, "forbidden",
                  "listing suppressions needs a key for every domain (--domains '*'); "
                  "ask for one address with GET /v1/suppressions/{address}");
        return;
    }
    struct evkeyvalq q = {0};
    int64_t limit = PAGE_DEFAULT;
    const char *v;
    hd_err err = {0};
    if (r->query && evhttp_parse_query_str(r->query, &q) != 0) {
        set_error(r, 400, "invalid_query", "the query string is malformed");
    } else if ((v = evhttp_find_header(&q, "limit")) && !parse_int(v, 1, PAGE_MAX, &limit)) {
        set_error(r, 400, "invalid_query", "limit: must be 1 to %d", PAGE_MAX);
    } else {
        json_t *a = json_array();
        int rc = hd_store_suppression_page(worker_store(w), evhttp_find_header(&q, "after"),
                                           serve_now(), (size_t)limit + 1, collect_suppression, a, &err);
        if (rc) {
            json_decref(a);
            LOG_ERR("GET /v1/suppressions: %s", hd_err_str(&err));
            set_error(r, 500, "internal", "the suppressions could not be read");
        } else {
            bool more = json_array_size(a) > (size_t)limit;
            if (more)
                json_array_remove(a, (size_t)limit);
            size_t n = json_array_size(a);
            json_t *next = n ? json_deep_copy(json_object_get(json_array_get(a, n - 1), "address"))
                             : json_null();
            set_reply(r, 200, json_pack("{s:o,s:o,s:b}", "suppressions", a, "next_after",
                                        more ? next : (json_decref(next), json_null()),
                                        "has_more", more));
        }
    }
    evhttp_clear_headers(&q);
}

static void get_suppression(api_req *r, worker *w)
{
    hd_store_suppression s;
    hd_err err = {0};
    int rc = hd_store_suppression_get(worker_store(w), r->arg, serve_now(), &s, &err);
    if (rc == HD_ENOTFOUND)
        set_error(r, 404, "not_found", "%s is not suppressed", r->arg);
    else if (rc)
        set_error(r, 500, "internal", "the suppression list could not be read");
    else
        set_reply(r, 200, suppression_json(&s));
}

/* POST /v1/suppressions {"address": ..., "reason": ...} */
static void post_suppression(api_req *r, worker *w)
{
    (void)w;
    json_error_t je;
    json_t *root = json_loadb(r->body.p ? (const char *)r->body.p : "", r->body.len,
                              JSON_REJECT_DUPLICATES, &je);
    hd_err err = {0};
    if (!root) {
        set_error(r, 400, "invalid_json", "the body is not JSON: %s at line %d, column %d",
                  je.text, je.line, je.column);
        return;
    }
    json_t *a = json_object_get(root, "address"), *why = json_object_get(root, "reason");
    const char *key;
    json_t *val;
    bool unknown = false;
    json_object_foreach(root, key, val) unknown |= strcmp(key, "address") && strcmp(key, "reason");
    if (!json_is_object(root) || unknown) {
        set_error(r, 422, "invalid_field", "the body must be {\"address\": ..., \"reason\": ...}");
    } else if (!json_is_string(a)) {
        set_error(r, 422, "invalid_field", "address: missing or not a string");
    } else if (why && !json_is_string(why)) {
        set_error(r, 422, "invalid_field", "reason: must be a string");
    } else if (hd_compose_check_address("address", json_string_value(a), &err) != 0) {
        set_error(r, 422, "invalid_field", "%s", hd_err_str(&err));
    } else if (why && (json_string_length(why) > 200 ||
                       strcspn(json_string_value(why), "\r\n") != json_string_length(why))) {
        set_error(r, 422, "invalid_field", "reason: at most 200 characters, one line");
    } else {
        snprintf(r->after_address, sizeof r->after_address, "%s", json_string_value(a));
        snprintf(r->after_reason, sizeof r->after_reason, "%s",
                 why ? json_string_value(why) : "added through the API");
        r->after = A_SUPPRESS;
        set_reply(r, 201, json_pack("{s:s,s:s,s:s}", "address", r->after_address, "reason",
                                    r->after_reason, "source", "api"));
    }
    json_decref(root);
}

static void delete_suppression(api_req *r, worker *w)
{
    hd_store_suppression s;
    hd_err err = {0};
    if (!key_is_global(&r->key)) {
        set_error(r, 403, "forbidden",
                  "removing a suppression needs a key for every domain (--domains '*')");
        return;
    }
    int rc = hd_store_suppression_get(worker_store(w), r->arg, serve_now(), &s, &err);
    if (rc == HD_ENOTFOUND) {
        set_error(r, 404, "not_found", "%s is not suppressed", r->arg);
    } else if (rc) {
        set_error(r, 500, "internal", "the suppression list could not be read");
    } else {
        snprintf(r->after_address, sizeof r->after_address, "%s", r->arg);
        r->after = A_UNSUPPRESS;
        r->status = 204;
    }
}

/* ---- domains ---- */

/* As `herald domain show --json` names them. */
static const char *record_kind(hd_domain_record_kind k)
{
    static const char *const names[] = {"dkim", "spf", "mx", "dmarc"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "other";
}

static json_t *domain_json(serve *sv, hd_store *st, const hd_store_domain *d)
{
    const char *addrs[HD_DOMAIN_MAX_ADDRESSES];
    size_t n_addrs = 0;
    for (size_t p = 0; p < sv->cfg->n_pools; p++)
        for (size_t i = 0; i < sv->cfg->pools[p].n_addresses && n_addrs < HD_DOMAIN_MAX_ADDRESSES; i++)
            addrs[n_addrs++] = sv->cfg->pools[p].addresses[i];
    hd_domain_dns_opts o = {sv->cfg->hostname, addrs, n_addrs};
    hd_domain_record *rec = NULL;
    size_t n = 0;
    hd_err err = {0};
    json_t *records = json_array();
    if (hd_domain_records(st, d->name, &o, &rec, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(records, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind",
                                                     record_kind(rec[i].kind), "name", rec[i].name,
                                                     "type", rec[i].type, "value", rec[i].value,
                                                     "purpose", rec[i].purpose));
        hd_domain_records_free(rec, n);
    } else {
        LOG_WARN("records of %s: %s", d->name, hd_err_str(&err));
    }
    hd_config_delivery mode = hd_config_delivery_for(sv->cfg, d->name);
    return json_pack("{s:s,s:s,s:s,s:o}", "name", d->name, "bounce_domain", d->bounce_domain,
                     "delivery", mode == HD_DELIVERY_SANDBOX ? "sandbox" : "real", "records",
                     records);
}

typedef struct domains_walk {
    api_req *r;
    hd_store *st;
    json_t *array;
} domains_walk;

static int collect_domain(const hd_store_domain *d, void *arg)
{
    domains_walk *dw = arg;
    if (hd_apikey_allows(&dw->r->key, d->name))
        json_array_append_new(dw->array, domain_json(dw->r->sv, dw->st, d));
    return 0;
}

static void get_domains(api_req *r, worker *w)
{
    hd_err err = {0};
    domains_walk dw = {r, worker_store(w), json_array()};
    if (hd_store_domain_each(dw.st, collect_domain, &dw, &err) != 0) {
        json_decref(dw.array);
        set_error(r, 500, "internal", "the domains could not be read");
        return;
    }
    set_reply(r, 200, json_pack("{s:o}", "domains", dw.array));
}

/* POST /v1/domains {"name": ..., "bounce_domain": ...}: as `herald domain add`. */
static void post_domain(api_req *r, worker *w)
{
    if (!key_is_global(&r->key)) {
        set_error(r, 403, "forbidden", "adding a domain needs a key for every domain (--domains '*')");
        return;
    }
    json_error_t je;
    json_t *root = json_loadb(r->body.p ? (const char *)r->body.p : "", r->body.len,
                              JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        set_error(r, 400, "invalid_json", "the body is not JSON: %s at line %d, column %d",
                  je.text, je.line, je.column);
        return;
    }
    json_t *name = json_object_get(root, "name"), *bounce = json_object_get(root, "bounce_domain");
    const char *key;
    json_t *val;
    bool unknown = false;
    json_object_foreach(root, key, val) unknown |= strcmp(key, "name") && strcmp(key, "bounce_domain");
    hd_err err = {0};
    char norm[HD_STORE_NAME_MAX];
    if (!json_is_object(root) || unknown) {
        set_error(r, 422, "invalid_field", "the body must be {\"name\": ..., \"bounce_domain\": ...}");
    } else if (!json_is_string(name)) {
        set_error(r, 422, "invalid_field", "name: missing or not a string");
    } else if (bounce && !json_is_string(bounce)) {
        set_error(r, 422, "invalid_field", "bounce_domain: must be a string");
    } else if (hd_domain_name_normalize(json_string_value(name), norm, sizeof norm, &err) != 0) {
        set_error(r, 422, "invalid_field", "name: %s", hd_err_str(&err));
    } else {
        hd_domain_add_opts o = {.domain = norm,
                                .bounce_domain = bounce ? json_string_value(bounce) : NULL,
                                .now = serve_now()};
        int rc = hd_domain_add(worker_store(w), r->sv->api->keys_dir, &o, &err);
        hd_store_domain d;
        if (rc == HD_EINVAL) {
            set_error(r, strstr(hd_err_str(&err), "exists") ? 409 : 422,
                      strstr(hd_err_str(&err), "exists") ? "exists" : "invalid_field", "%s",
                      hd_err_str(&err));
        } else if (rc == HD_ESTATE) {    /* the bounce domain is another domain's */
            LOG_WARN_LIMITED("api-bounce-domain-taken", r->key.name,
                             "POST /v1/domains refused (key %s): %s", r->key.name,
                             hd_err_str(&err));
            set_error(r, 409, "bounce_domain_taken", "%s", hd_err_str(&err));
        } else if (rc || hd_store_domain_get(worker_store(w), norm, &d, &err) != 0) {
            LOG_ERR("POST /v1/domains %s: %s", norm, hd_err_str(&err));
            set_error(r, 500, "internal", "the domain could not be added");
        } else {
            LOG_INFO("domain %s added through the API (key %s)", norm, r->key.name);
            set_reply(r, 201, domain_json(r->sv, worker_store(w), &d));
            r->after = A_RELOAD_DOMAINS;
        }
    }
    json_decref(root);
}

/* ---- POST /v1/messages ---- */

static void request_hash(hd_slice body, char out[65])
{
    uint8_t md[32];
    unsigned len = 0;
    static const char hex[] = "0123456789abcdef";
    EVP_Digest(body.p, body.len, md, &len, EVP_sha256(), NULL);
    for (size_t i = 0; i < 32; i++)
        out[2 * i] = hex[md[i] >> 4], out[2 * i + 1] = hex[md[i] & 15];
    out[64] = '\0';
}

static int status_of_refusal(int code)
{
    if (code >= 500)
        return 422;     /* the message itself is refused */
    return 503;         /* 4xx: try again */
}

static void message_answered(void *arg);

static int count_rcpt(const hd_store_recipient *rc, void *arg)
{
    (void)rc;
    (*(int *)arg)++;
    return 0;
}

/* The 202 of the first request with this Idempotency-Key, again: the same
 * body (id, message_id, recipients) made from what was stored, so a retry
 * cannot tell it from the first answer but by Idempotent-Replayed. */
static void replay_answer(api_req *r, worker *w, const char *uuid)
{
    hd_store_message *m = malloc(sizeof *m);
    hd_err err = {0};
    int n = 0;
    if (!m || hd_store_message_get(worker_store(w), uuid, m, &err) != 0 ||
        hd_store_recipient_each(worker_store(w), m->id, count_rcpt, &n, &err) != 0) {
        /* the message was pruned ([queue] retention) or is unreadable */
        LOG_WARN_ID(uuid, "Idempotency-Key replay: %s", m ? hd_err_str(&err) : "out of memory");
        set_error(r, 503, "unavailable", "the first answer for this Idempotency-Key could not be read");
        r->retry_after = 1;
    } else {
        r->replayed = true;
        set_reply(r, 202, json_pack("{s:s,s:o,s:i}", "id", m->uuid, "message_id",
                                    text_json(m->message_id), "recipients", n));
    }
    free(m);
}

/* True when the message went to accept.c, which answers (the request may
 * be gone by the time this returns). */
static bool post_message(api_req *r, worker *w)
{
    serve *sv = r->sv;
    accept_job *j = r->job;
    hd_err err = {0};
    if (r->idem_key[0]) {
        hd_store_idempotency prior;
        request_hash(r->body, r->idem.request);
        int rc = hd_store_idempotency_get(worker_store(w), r->key.id, r->idem_key, &prior, &err);
        if (rc == 0 && strcmp(prior.request, r->idem.request) != 0) {
            set_error(r, 422, "idempotency_key_reused",
                      "Idempotency-Key: already used for a different request (message %s)",
                      prior.message);
            return false;
        }
        if (rc == 0) {
            replay_answer(r, w, prior.message);
            return false;
        }
        if (rc != HD_ENOTFOUND) {
            set_error(r, 503, "unavailable", "the idempotency key could not be checked");
            r->retry_after = 1;
            return false;
        }
        snprintf(r->idem.scope, sizeof r->idem.scope, "%s", r->key.id);
        snprintf(r->idem.key, sizeof r->idem.key, "%s", r->idem_key);
        r->idem.created = serve_now();
    }
    char uuid[33];
    accept_new_uuid(uuid);
    hd_apimsg_opts o = {.now = serve_now(), .unique = uuid,
                        .max_bytes = (size_t)sv->cfg->smtp.max_message_size,
                        .max_recipients = sv->cfg->smtp.max_recipients};
    int rc = hd_apimsg_parse(r->body, &o, &r->msg, &err);
    if (rc == HD_ESYNTAX) {
        set_error(r, 400, "invalid_json", "%s", hd_err_str(&err));
        return false;
    }
    if (rc == HD_ELIMIT && strstr(hd_err_str(&err), "bytes")) {
        set_error(r, 413, "too_large", "%s", hd_err_str(&err));
        return false;
    }
    if (rc == HD_ENOMEM) {
        set_error(r, 503, "unavailable", "out of memory, try again");
        r->retry_after = 5;
        return false;
    }
    if (rc) {
        set_error(r, 422, "invalid_field", "%s", hd_err_str(&err));
        return false;
    }
    if (r->msg.pool[0] && !hd_config_pool_find(sv->cfg, r->msg.pool)) {
        set_error(r, 422, "invalid_field", "pool: no [pool %s] in the configuration", r->msg.pool);
        return false;
    }
    /* the job takes the composed bytes and the envelope */
    j->owned = r->msg.message;
    hd_buf_init(&r->msg.message, 0);
    j->data = hd_buf_slice(&j->owned);
    j->rcpts = r->msg.rcpts;
    j->n_rcpts = r->msg.n_rcpts;
    r->msg.rcpts = NULL;
    r->msg.n_rcpts = 0;
    snprintf(j->cm.m.uuid, sizeof j->cm.m.uuid, "%s", uuid);
    snprintf(j->cm.m.pool, sizeof j->cm.m.pool, "%s", r->msg.pool);
    snprintf(j->cm.m.tags, sizeof j->cm.m.tags, "%s", r->msg.tags);
    snprintf(j->may_send_as, sizeof j->may_send_as, "%s", r->key.domains);
    snprintf(j->submitter, sizeof j->submitter, "api:%s", r->key.name);
    j->flags = r->msg.eight_bit ? HD_MSG_8BIT : 0;
    j->cm.idem = r->idem_key[0] ? &r->idem : NULL;
    if (r->idem_key[0])
        snprintf(r->idem.message, sizeof r->idem.message, "%s", uuid);
    j->done = message_answered;
    j->arg = r;
    accept_run(w, j);
    return true;
}

/* Main thread: accept.c is done with the message. */
static void message_answered(void *arg)
{
    accept_job *j = arg;
    api_req *r = j->arg;
    if (j->code == 250) {
        set_reply(r, 202, json_pack("{s:s,s:o,s:i}", "id", j->cm.m.uuid, "message_id",
                                    text_json(j->cm.m.message_id), "recipients",
                                    (int)j->n_rcpts));
    } else if (j->code == 550 && strcmp(j->enhanced, "5.7.1") == 0) {
        set_error(r, 403, "forbidden", "%s", j->text);
    } else {
        set_error(r, status_of_refusal(j->code), j->code >= 500 ? "refused" : "unavailable", "%s",
                  j->text);
        if (j->code < 500)
            r->retry_after = 5;
    }
    send_reply(r);
    req_free(r);
}

/* ---- dispatch ---- */

static void api_done(void *arg);

static void api_work(worker *w, void *arg)
{
    api_req *r = arg;
    switch (r->route) {
    case R_SEND:
        if (post_message(r, w))
            return;     /* accept.c answers through message_answered */
        break;
    case R_MESSAGE:
        get_message(r, w);
        break;
    case R_EVENTS:
        get_events(r, w);
        break;
    case R_SUPPRESSIONS:
        if (r->method == EVHTTP_REQ_POST)
            post_suppression(r, w);
        else
            get_suppressions(r, w);
        break;
    case R_SUPPRESSION:
        if (r->method == EVHTTP_REQ_DELETE)
            delete_suppression(r, w);
        else
            get_suppression(r, w);
        break;
    case R_DOMAINS:
        if (r->method == EVHTTP_REQ_POST)
            post_domain(r, w);
        else
            get_domains(r, w);
        break;
    case R_NONE:
        break;
    }
    serve_post(r->sv, api_done, r);
}

static void reply_and_free(void *arg)
{
    api_req *r = arg;
    if (r->mark_rc) {       /* the change did not become durable */
        set_error(r, 503, "unavailable", "the change could not be stored, try again");
        r->retry_after = 1;
    }
    send_reply(r);
    req_free(r);
}

/* Main thread: changes kept in the main thread's memory, then the answer
 * (a change to the suppression list is answered once it is durable). */
static void api_done(void *arg)
{
    api_req *r = arg;
    serve *sv = r->sv;
    hd_err err = {0};
    commit_op *mark = NULL;
    switch (r->after) {
    case A_SUPPRESS:
        queue_suppress(sv, r->after_address, r->after_reason, "api");
        LOG_INFO("%s suppressed through the API (key %s)", r->after_address, r->key.name);
        mark = commit_op_mark(reply_and_free, r, &r->mark_rc);
        break;
    case A_UNSUPPRESS:
        queue_unsuppress(sv, r->after_address);
        LOG_INFO("%s no longer suppressed (API key %s)", r->after_address, r->key.name);
        mark = commit_op_mark(reply_and_free, r, &r->mark_rc);
        break;
    case A_RELOAD_DOMAINS:
        serve_reload(sv, "API: POST /v1/domains", &err); /* logs a failure */
        break;
    case A_NONE:
        break;
    }
    if (mark) {
        commit_op_post(sv, mark);
        return;
    }
    reply_and_free(r);
}

/* Percent-decode a path segment; false when it is malformed or too long. */
static bool decode_segment(const char *s, char *out, size_t size)
{
    char *d = evhttp_uridecode(s, 0, NULL);
    if (!d)
        return false;
    size_t n = strlen(d);
    bool ok = n > 0 && n < size && !strchr(d, '/');
    if (ok)
        memcpy(out, d, n + 1);
    free(d);
    return ok;
}

/* Route and method; false with the error set. */
static bool route_of(api_req *r, const char *path)
{
    enum evhttp_cmd_type m = r->method;
    if (strcmp(path, "/v1/messages") == 0) {
        r->route = R_SEND;
        r->allow = "POST";
        return m == EVHTTP_REQ_POST;
    }
    if (strncmp(path, "/v1/messages/", 13) == 0) {
        r->route = R_MESSAGE;
        r->allow = "GET";
        if (!decode_segment(path + 13, r->arg, sizeof r->arg) || !serve_id_ok(r->arg)) {
            set_error(r, 404, "not_found", "no such message (an id is 32 hex digits)");
            return false;
        }
        return m == EVHTTP_REQ_GET;
    }
    if (strcmp(path, "/v1/events") == 0) {
        r->route = R_EVENTS;
        r->allow = "GET";
        return m == EVHTTP_REQ_GET;
    }
    if (strcmp(path, "/v1/suppressions") == 0) {
        r->route = R_SUPPRESSIONS;
        r->allow = "GET, POST";
        return m == EVHTTP_REQ_GET || m == EVHTTP_REQ_POST;
    }
    if (strncmp(path, "/v1/suppressions/", 17) == 0) {
        r->route = R_SUPPRESSION;
        r->allow = "GET, DELETE";
        if (!decode_segment(path + 17, r->arg, sizeof r->arg)) {
            set_error(r, 404, "not_found", "no such address");
            return false;
        }
        return m == EVHTTP_REQ_GET || m == EVHTTP_REQ_DELETE;
    }
    if (strcmp(path, "/v1/domains") == 0) {
        r->route = R_DOMAINS;
        r->allow = "GET, POST";
        return m == EVHTTP_REQ_GET || m == EVHTTP_REQ_POST;
    }
    set_error(r, 404, "not_found", "no such endpoint: %.200s", path);
    return false;
}

/* The query parameters each route takes, in the order the docs list them. */
static const char *const *params_of(const api_req *r)
{
    static const char *const events[] = {"after", "since", "type", "message", "limit", NULL};
    static const char *const page[] = {"after", "limit", NULL};
    static const char *const none[] = {NULL};
    if (r->route == R_EVENTS)
        return events;
    if (r->route == R_SUPPRESSIONS && r->method == EVHTTP_REQ_GET)
        return page;
    return none;
}

/* A parameter that is unknown, or given twice, is refused as an unknown
 * JSON field is: a misspelt filter must not silently widen the answer
 * (GET /v1/events?recipient=... would list everyone's events). False with
 * the error set. */
static bool check_query(api_req *r, const char *path)
{
    if (!r->query || !r->query[0])
        return true;
    struct evkeyvalq q = {0};
    if (evhttp_parse_query_str(r->query, &q) != 0) {
        set_error(r, 400, "invalid_query", "the query string is malformed");
        return false;
    }
    const char *const *known = params_of(r);
    char list[128] = "";
    for (size_t i = 0; known[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", known[i]);
    bool ok = true;
    for (struct evkeyval *kv = q.tqh_first; ok && kv; kv = kv->next.tqe_next) {
        bool is_known = false;
        for (size_t i = 0; known[i]; i++)
            is_known |= strcmp(kv->key, known[i]) == 0;
        if (!is_known) {
            set_error(r, 400, "invalid_query", "%.64s: unknown query parameter (%s takes %s)",
                      kv->key, path, list[0] ? list : "none");
            ok = false;
        }
        for (struct evkeyval *k2 = kv->next.tqe_next; ok && k2; k2 = k2->next.tqe_next)
            if (strcmp(kv->key, k2->key) == 0) {
                set_error(r, 400, "invalid_query", "%.64s: given more than once", kv->key);
                ok = false;
            }
    }
    evhttp_clear_headers(&q);
    return ok;
}

/* The bearer token (no other scheme); "" when absent. */
static void read_token(api_req *r, struct evkeyvalq *h)
{
    const char *a = evhttp_find_header(h, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0)
        return;
    a += 7;
    while (*a == ' ')
        a++;
    snprintf(r->token, sizeof r->token, "%s", a);
}

/* An Idempotency-Key is 1-255 printable ASCII characters; false when the
 * header is bad (the error is set). */
static bool read_idem_key(api_req *r, struct evkeyvalq *h)
{
    const char *k = evhttp_find_header(h, "Idempotency-Key");
    if (!k)
        return true;
    size_t n = strlen(k);
    bool ok = n > 0 && n <= IDEM_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = k[i] > 0x20 && k[i] < 0x7f;
    if (!ok) {
        set_error(r, 400, "invalid_header", "Idempotency-Key: 1 to %d printable ASCII characters",
                  IDEM_KEY_MAX);
        return false;
    }
    memcpy(r->idem_key, k, n + 1);
    return true;
}

/* While its first request is in flight, the same key gets 409: a second
 * copy must not be made, and the first has no answer to replay yet. The
 * scope is the token's key id (hk_<id>_...), the same the database keeps. */
static bool idem_claim(api_req *r)
{
    struct serve_api *api = r->sv->api;
    char scope[24];
    snprintf(scope, sizeof scope, "%s", r->key.id);     /* the key is checked by now */
    for (idem_entry *e = api->in_flight; e; e = e->next)
        if (strcmp(e->scope, scope) == 0 && strcmp(e->key, r->idem_key) == 0)
            return false;
    idem_entry *e = calloc(1, sizeof *e);
    if (!e)
        return false;
    snprintf(e->scope, sizeof e->scope, "%s", scope);
    snprintf(e->key, sizeof e->key, "%s", r->idem_key);
    e->next = api->in_flight;
    api->in_flight = e;
    snprintf(r->idem_scope, sizeof r->idem_scope, "%s", scope);
    return true;
}

static bool json_body(struct evkeyvalq *h)
{
    const char *ct = evhttp_find_header(h, "Content-Type");
    return ct && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

static void on_request(struct evhttp_request *req, void *arg)
{
    serve *sv = arg;
    http_listener_track(sv->api->listener, req);
    api_req *r = calloc(1, sizeof *r);
    if (!r) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    r->sv = sv;
    r->req = req;
    r->method = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    r->body = hd_slice_make(len ? evbuffer_pullup(in, -1) : NULL, len);
    if (query && !(r->query = strdup(query)))
        set_error(r, 503, "unavailable", "out of memory");
    read_token(r, h);
    bool ok = !r->status;
    if (ok && !path) {
        set_error(r, 400, "invalid_request", "no path");
        ok = false;
    }
    if (ok && !route_of(r, path)) {
        if (!r->status)
            set_error(r, 405, "method_not_allowed", "%s does not take this method", path);
        ok = false;
    }
    if (ok && !authorize(r))
        ok = false;
    if (ok && !check_query(r, path))
        ok = false;
    bool has_body = r->method == EVHTTP_REQ_POST;
    if (ok && has_body && !json_body(h)) {
        set_error(r, 415, "unsupported_media_type", "send the body as Content-Type: application/json");
        ok = false;
    }
    if (ok && r->route == R_SEND && !read_idem_key(r, h))
        ok = false;
    if (ok && r->route == R_SEND) {
        const char *full = accept_storage_full_for(sv, len);
        if (full || sv->stopping) {
            set_error(r, 503, "unavailable", "%s", full ? full : "the server is stopping");
            r->retry_after = 30;
            ok = false;
        /* the JSON and the message composed from it are held at once */
        } else if (!(r->job = accept_job_new(sv)) || !accept_admit(r->job, 2 * len)) {
            set_error(r, 503, "unavailable", "too much mail in progress, try again shortly");
            r->retry_after = 1;
            ok = false;
        } else if (r->idem_key[0] && !idem_claim(r)) {
            set_error(r, 409, "idempotency_key_in_use",
                      "Idempotency-Key: a request with this key is still in progress");
            ok = false;
        } else {
            char *peer = NULL;
            ev_uint16_t port = 0;
            struct evhttp_connection *evcon = evhttp_request_get_connection(req);
            if (evcon)
                evhttp_connection_get_peer(evcon, &peer, &port);
            snprintf(r->job->trace_from, sizeof r->job->trace_from, "api ([%s])",
                     peer ? peer : "unknown");
            snprintf(r->job->trace_with, sizeof r->job->trace_with, "HTTP");
        }
    }
    if (!ok) {
        send_reply(r);
        req_free(r);
        return;
    }
    serve_work(sv, api_work, NULL, r);
}

/* Before evhttp reads a body (httpconn.c): a request with a body needs a
 * good key, so a client without one never makes the server hold its body
 * (nor gets 100 Continue). A request without a body is answered as
 * before, by on_request. */
static int api_gate(void *arg, const http_head *h, const char **code, char *text, size_t size)
{
    serve *sv = arg;
    if (h->content_length == 0)
        return 0;
    const char *a = h->authorization;
    *code = "unauthorized";
    if (!a || strncasecmp(a, "Bearer ", 7) != 0) {
        LOG_WARN_LIMITED("api-unauthorized", h->peer, "API: %s request with a body and no key "
                         "from %s: refused before its body was read", h->method, h->peer);
        snprintf(text, size, "an API key is needed: Authorization: Bearer hk_...");
        return 401;
    }
    for (a += 7; *a == ' ';)
        a++;
    char token[HD_APIKEY_TOKEN_MAX + 1];
    snprintf(token, sizeof token, "%s", a);
    struct serve_api *api = sv->api;
    unsigned char sha[32];
    unsigned int sha_len = 0;
    uint64_t now = serve_mono_ms();
    bool hashed = EVP_Digest(token, strlen(token), sha, &sha_len, EVP_sha256(), NULL) == 1;
    for (unsigned i = 0; hashed && i < GATE_SEEN; i++)
        if (api->seen[i].until > now && memcmp(api->seen[i].sha, sha, sizeof sha) == 0) {
            OPENSSL_cleanse(token, sizeof token);
            return 0;
        }
    hd_store_apikey key;
    hd_err err = {0};
    int rc = hd_apikey_verify(sv->store, token, &key, &err);
    OPENSSL_cleanse(token, sizeof token);
    if (rc == 0 && hashed) {
        gate_seen *g = &api->seen[api->seen_next++ % GATE_SEEN];
        memcpy(g->sha, sha, sizeof sha);
        g->until = now + GATE_SEEN_MS;
    }
    if (rc == HD_EINVAL) {
        LOG_WARN_LIMITED("api-unauthorized", h->peer, "API: invalid key from %s: %s refused "
                         "before its body was read", h->peer, h->method);   /* never the token */
        snprintf(text, size, "invalid API key");
        return 401;
    }
    if (rc) {
        LOG_ERR("API key check: %s", hd_err_str(&err));
        *code = "unavailable";
        snprintf(text, size, "the key could not be checked, try again");
        return 503;
    }
    return 0;
}

/* As evhttp_set_allowed_methods below: httpconn.c refuses the others. */
static const char *const api_methods[] = {"GET", "POST", "DELETE", NULL};

int api_start(serve *sv, hd_err *err)
{
    const hd_config_endpoint *ep = &sv->cfg->api.listen;
    struct serve_api *api = calloc(1, sizeof *api);
    if (!api)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->api = api;
    char *real = realpath(sv->data_dir, NULL);
    snprintf(api->keys_dir, sizeof api->keys_dir, "%s/keys", real ? real : sv->data_dir);
    free(real);
    if (!ep->port)
        return 0;
    api->http = evhttp_new(sv->base);
    if (!api->http)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
    evhttp_set_max_headers_size(api->http, 16384);
    evhttp_set_max_body_size(api->http, (ev_ssize_t)sv->cfg->api.max_request_size);
    evhttp_set_timeout(api->http, 60);
    evhttp_set_gencb(api->http, on_request, sv);
    hd_err lerr = {0};
    const http_limits lim = {sv->cfg->api.max_connections, sv->cfg->api.max_connections_per_client,
                             sv->cfg->api.client_limit_exceptions,
                             sv->cfg->api.n_client_limit_exceptions, sv->cfg->api.max_request_size,
                             api_methods};
    if (http_listener_start(sv, api->http, "API", ep->host, ep->port, &lim, api_gate, sv,
                            &api->listener, &lerr))
        return hd_config_error(sv->cfg, err, HD_EIO, "api", NULL, "listen", "%s",
                               hd_err_str(&lerr));
    LOG_INFO("HTTP API on http://%s:%u/v1/", ep->host, ep->port);
    return 0;
}

void api_close_listener(serve *sv)
{
    struct serve_api *api = sv->api;
    if (api)
        http_listener_close(api->listener);
}

void api_stop(serve *sv)
{
    struct serve_api *api = sv->api;
    if (!api)
        return;
    if (api->http)
        evhttp_free(api->http);
    http_listener_free(api->listener);
    while (api->in_flight) {
        idem_entry *e = api->in_flight;
        api->in_flight = e->next;
        free(e);
    }
    free(api);
    sv->api = NULL;
}
