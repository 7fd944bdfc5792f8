/*
 * cmd_queue.c - `herald queue list|show|retry|delete|flush` (recover:
 * cmd_recover.c) and
 * `herald events`. Reading is done on the database directly (the server
 * may run: SQLite WAL lets readers in); changing the queue goes through
 * the running server's control socket so its working copy stays true.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <herald/json.h>
#include <herald/store.h>
#include <herald/webhook.h>

#include "net/control.h"

typedef struct queue_opts {
    const char *config;
    const char *data_dir;
    bool json;
    bool follow;
    const char *message;
    long long limit;
    bool raw;
} queue_opts;

static const char queue_help[] =
    "usage: herald queue list [--json]\n"
    "       herald queue show ID [--json]\n"
    "       herald queue retry ID | delete ID | flush [--json]\n"
    "       herald queue recover\n"
    "   options: [--config FILE | --data-dir DIR]\n"
    "\n"
    "list     messages waiting for delivery: id, age, sender, recipients with\n"
    "         attempts, next attempt and last reply\n"
    "show     one message: envelope, every recipient's state and the envelope\n"
    "         sender it was sent with (per-recipient VERP), its events\n"
    "retry    make a message's deferred recipients due now (running server)\n"
    "delete   end a message's undelivered recipients as 'deleted' (running server)\n"
    "flush    make everything due now and forget back-off (running server)\n"
    "recover  queue again the mail of spool/orphan/ (server stopped; see\n"
    "         herald queue recover --help)\n"
    "\n"
    "Exit: 0 done, 64 usage, 66 no data directory or no such message,\n"
    "75 the server is not running (retry, delete, flush).\n";

static const char events_help[] =
    "usage: herald events [--follow] [--json] [--message ID] [--limit N]\n"
    "                     [--config FILE | --data-dir DIR]\n"
    "\n"
    "Print what happened to messages, oldest first: accepted, deferred,\n"
    "delivered, bounced, suppressed, expired, captured (sandbox), deleted,\n"
    "corrupt; with the remote host, its reply, the TLS version and timings.\n"
    "--follow keeps printing new events as they come (until interrupted).\n";

static const char captures_help[] =
    "usage: herald captures [--json] [--message ID] [--limit N] [--raw]\n"
    "                       [--config FILE | --data-dir DIR]\n"
    "\n"
    "What sandbox delivery captured instead of sending: for each recipient the\n"
    "envelope sender, the verdict a receiver would give (the Authentication-\n"
    "Results field: SPF, DKIM, DMARC against the domain's published-to-be\n"
    "records) and, with --json, every detail. --raw prints the messages\n"
    "themselves (as a receiver would get them), separated by a line \"--\".\n";

/* ---- list ---- */

typedef struct list_ctx {
    bool json;
    json_t *arr;
    size_t n;
} list_ctx;

static int list_one(const hd_store_message *m, const hd_store_recipient *r, size_t n, void *arg)
{
    list_ctx *lc = arg;
    char when[HD_JSON_TIME_LEN];
    hd_json_time(m->received_at * 1000, when);
    if (lc->json) {
        /* times: RFC 3339 UTC, the Unix seconds beside as <field>_unix */
        json_t *rs = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *ro = json_pack("{s:s, s:i}", "address", r[i].address, "attempts",
                                   r[i].attempts);
            hd_json_set_time(ro, "next_attempt", r[i].next_attempt);
            /* a remote's reply: any bytes */
            json_object_set_new(ro, "last_reply", hd_json_text(r[i].last_reply));
            json_array_append_new(rs, ro);
        }
        /* the names of queue show --json and GET /v1/messages/ID */
        json_t *mo = json_pack("{s:s}", "id", m->uuid);
        hd_json_set_time(mo, "received_at", m->received_at);
        json_object_set_new(mo, "envelope_from", json_string(m->mail_from));
        json_object_set_new(mo, "message_id", hd_json_text(m->message_id));
        json_object_set_new(mo, "size", json_integer(m->length));
        json_object_set_new(mo, "recipients", rs);
        json_array_append_new(lc->arr, mo);
    } else {
        printf("%s  %s  %lld bytes  %s\n", m->uuid, when, (long long)m->length, m->mail_from);
        for (size_t i = 0; i < n; i++) {
            char next[HD_JSON_TIME_LEN];
            hd_json_time(r[i].next_attempt * 1000, next);
            printf("    %s  attempts %d, next %s%s%s\n", r[i].address, r[i].attempts, next,
                   r[i].last_reply[0] ? "\n      last: " : "", r[i].last_reply);
        }
    }
    lc->n++;
    return 0;
}

static int queue_list(const queue_opts *o)
{
    hd_store *st;
    int rc = cli_open_store(o->config, o->data_dir, NULL, &st);
    if (rc)
        return rc;
    list_ctx lc = {o->json, json_array(), 0};
    hd_err err = {0};
    if (hd_store_queue_each(st, list_one, &lc, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_SOFTWARE;
    } else if (o->json) {
        char *s = json_dumps(lc.arr, JSON_COMPACT);
        puts(s);
        free(s);
    } else if (lc.n == 0) {
        puts("the queue is empty");
    }
    json_decref(lc.arr);
    hd_store_close(st);
    return rc;
}

/* ---- events (also used by show) ---- */

typedef struct ev_ctx {
    bool json;
    int64_t last_id;
    size_t n;
} ev_ctx;

static int print_event(const hd_store_event *e, void *arg)
{
    ev_ctx *ec = arg;
    char when[HD_JSON_TIME_LEN];
    hd_json_time(e->at_ms, when);
    if (ec->json) {
        /* the object webhooks and GET /v1/events carry (docs/webhooks.md) */
        hd_buf b;
        hd_err err = {0};
        hd_buf_init(&b, 1024 * 1024);
        if (hd_webhook_payload(e, e->domain, &b, &err) != 0) {
            hd_buf_free(&b);
            cli_error("event %lld: %s", (long long)e->id, hd_err_str(&err));
            return HD_ENOMEM;
        }
        printf("%.*s\n", (int)b.len, (const char *)b.p);
        hd_buf_free(&b);
    } else {
        printf("%s %-10s %s%s%s%s%s%s%s", when, e->type, e->message, e->recipient[0] ? " " : "",
               e->recipient, e->remote_host[0] ? " via " : "", e->remote_host,
               e->tls[0] ? " " : "", e->tls);
        if (e->duration_ms >= 0)
            printf(" %lldms", (long long)e->duration_ms);
        printf("%s%s\n", e->reply[0] ? ": " : "", e->reply);
    }
    ec->last_id = e->id;
    ec->n++;
    return 0;
}

/* envelope_from: the envelope sender its last attempt used (with
 * per-recipient VERP its own b-r<id>-...), null before the first attempt;
 * the names of GET /v1/messages/ID's recipients */
static int rcpt_json(const hd_store_recipient *r, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:i, s:s, s:o}", "address", r->address,
                                         "state", hd_rcpt_state_name(r->state), "attempts",
                                         r->attempts, "last_reply", r->last_reply,
                                         "envelope_from",
                                         r->mail_from[0] ? json_string(r->mail_from)
                                                         : json_null()));
    return 0;
}

static int rcpt_text(const hd_store_recipient *r, void *arg)
{
    (void)arg;
    printf("  %-40s %-10s attempts %d%s%s\n", r->address, hd_rcpt_state_name(r->state),
           r->attempts, r->last_reply[0] ? "  " : "", r->last_reply);
    if (r->mail_from[0])
        printf("  %-40s mail from %s\n", "", r->mail_from);
    return 0;
}

/* An event for show --json: the object the API and webhooks give
 * (hd_webhook_payload), so a message's events have one shape. */
static int event_json(const hd_store_event *e, void *arg)
{
    json_t *o = hd_webhook_event_json(e, e->domain);
    return o && json_array_append_new(arg, o) == 0 ? 0 : HD_ENOMEM;
}

static int queue_show(const queue_opts *o, const char *id)
{
    hd_store *st;
    int rc = cli_open_store(o->config, o->data_dir, NULL, &st);
    if (rc)
        return rc;
    hd_store_message m;
    hd_err err = {0};
    if (hd_store_message_get(st, id, &m, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        hd_store_close(st);
        return CLI_NOINPUT;
    }
    char when[HD_JSON_TIME_LEN];
    hd_json_time(m.received_at * 1000, when);
    if (o->json) {
        /* one document: the message, its recipients and its events */
        json_t *rs = json_array(), *evs = json_array();
        rc = hd_store_recipient_each(st, m.id, rcpt_json, rs, &err);
        if (!rc)
            rc = hd_store_event_each(st, 0, m.uuid, 0, event_json, evs, &err);
        /* the names GET /v1/messages/ID gives the same things */
        json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:o, s:o}", "id", m.uuid,
                                "envelope_from", m.mail_from, "domain", m.from_domain,
                                "message_id", m.message_id, "submitter", m.submitter, "size",
                                (json_int_t)m.length, "in_spool", m.segment != 0, "recipients",
                                rs, "events", evs);
        if (obj && (hd_json_set_time(obj, "received_at", m.received_at) != 0 ||
                    hd_json_set_time(obj, "expires_at", m.expires_at) != 0)) {
            json_decref(obj);
            obj = NULL;
        }
        if (!obj) {
            cli_error("out of memory");
            hd_store_close(st);
            return CLI_SOFTWARE;
        }
        if (rc) {
            cli_error("%s", hd_err_str(&err));
            json_decref(obj);
            hd_store_close(st);
            return CLI_SOFTWARE;
        }
        char *s = json_dumps(obj, JSON_COMPACT);
        puts(s);
        free(s);
        json_decref(obj);
    } else {
        /* the message's VERP address; what each recipient's attempts
         * used (per-recipient VERP) is under the recipient */
        printf("id:          %s\nreceived:    %s\nmail from:   %s (the message's; each "
               "recipient's as sent below)\nfrom domain: %s\n"
               "message-id:  %s\nsubmitter:   %s\nsize:        %lld bytes\nrecipients:\n",
               m.uuid, when, m.mail_from, m.from_domain, m.message_id, m.submitter,
               (long long)m.length);
        rc = hd_store_recipient_each(st, m.id, rcpt_text, NULL, &err);
        if (!rc) {
            puts("events:");
            ev_ctx ec = {false, 0, 0};
            rc = hd_store_event_each(st, 0, m.uuid, 0, print_event, &ec, &err);
        }
        if (rc) {
            cli_error("%s", hd_err_str(&err));
            hd_store_close(st);
            return CLI_SOFTWARE;
        }
    }
    hd_store_close(st);
    return CLI_OK;
}

/* What the server did, in words: "3 recipients due now". */
static void control_text(const char *sub, const char *id, json_int_t n)
{
    const char *s = n == 1 ? "" : "s";
    if (strcmp(sub, "flush") == 0)
        printf(n ? "%lld recipient%s due now\n" : "no recipient waits for a retry\n",
               (long long)n, s);
    else if (strcmp(sub, "retry") == 0)
        printf(n ? "%s: %lld recipient%s due now\n"
                 : "%s: no recipient waits for a retry (all delivered, bounced or in "
                   "delivery)\n",
               id, (long long)n, s);
    else
        printf(n ? "%s: %lld recipient%s deleted\n"
                 : "%s: nothing deleted: every recipient is already final\n",
               id, (long long)n, s);
}

/* retry, delete, flush: the running server does it. The answer is JSON
 * ({"retried":N}, {"deleted":N} or {"error":"..."}): --json prints it,
 * else a sentence; errors go to standard error. */
static int queue_control(const queue_opts *o, const char *sub, const char *id, const char *path)
{
    char *dir = NULL;
    int rc = cli_data_dir(o->config, o->data_dir, &dir);
    if (rc)
        return rc;
    int status = 0;
    char body[4096];
    hd_err err = {0};
    rc = net_control_post(dir, path, &status, body, sizeof body, &err);
    free(dir);
    if (rc) {
        cli_error("queue %s: %s", sub, hd_err_str(&err));
        return CLI_TEMPFAIL;
    }
    json_t *j = json_loads(body, 0, NULL);
    json_t *n = json_object_get(j, strcmp(sub, "delete") == 0 ? "deleted" : "retried");
    if (status != 200 || !json_is_integer(n)) {
        const char *why = json_string_value(json_object_get(j, "error"));
        cli_error("queue %s%s%s: %s", sub, id ? " " : "", id ? id : "",
                  why ? why : "unexpected answer from the server");
        json_decref(j);
        return status == 404 ? CLI_NOINPUT : CLI_SOFTWARE;
    }
    if (o->json) {
        char *out = json_dumps(j, JSON_COMPACT);
        puts(out ? out : "{}");
        free(out);
    }
    else
        control_text(sub, id, json_integer_value(n));
    json_decref(j);
    return CLI_OK;
}

static int parse_opts(int argc, char **argv, queue_opts *o, const char *help)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'}, {"follow", no_argument, NULL, 'f'},
        {"message", required_argument, NULL, 'm'}, {"limit", required_argument, NULL, 'n'},
        {"raw", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:d:jfm:n:rh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o->config = optarg; break;
        case 'd': o->data_dir = optarg; break;
        case 'j': o->json = true; break;
        case 'f': o->follow = true; break;
        case 'm': o->message = optarg; break;
        case 'r': o->raw = true; break;
        case 'n':
            if (!cli_parse_long("--limit", optarg, 1, 1000000000, &o->limit))
                return CLI_USAGE;
            break;
        case 'h': fputs(help, stdout); return -1;
        default: fputs(help, stderr); return CLI_USAGE;
        }
    }
    return CLI_OK;
}

static bool queue_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

int cmd_queue(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(queue_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    queue_opts o = {0};
    static const char *const subs[] = {"list", "show", "retry", "delete", "flush", "recover", NULL};
    bool known = false;
    for (size_t i = 0; subs[i]; i++)
        known |= strcmp(sub, subs[i]) == 0;
    const char *near = known ? NULL : cli_nearest(subs, sub);
    if (near) {
        cli_error("unknown command \"%s\": did you mean \"herald queue %s\"?", sub, near);
        return CLI_USAGE;
    }
    if (strcmp(sub, "recover") == 0)
        return cmd_queue_recover(argc - 1, argv + 1);
    int rc = parse_opts(argc - 1, argv + 1, &o, queue_help);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    int rest = argc - 1 - optind;
    const char *id = rest > 0 ? argv[1 + optind] : NULL;
    bool needs_id = strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0 || strcmp(sub, "delete") == 0;
    if ((needs_id && (rest != 1 || !queue_id_ok(id))) || (!needs_id && rest != 0)) {
        cli_error(needs_id ? "queue %s: give one message id (32 hex digits)" : "queue %s: no arguments expected", sub);
        return CLI_USAGE;
    }
    char path[128];
    if (strcmp(sub, "list") == 0)
        return queue_list(&o);
    if (strcmp(sub, "show") == 0)
        return queue_show(&o, id);
    if (strcmp(sub, "flush") == 0)
        return queue_control(&o, sub, NULL, "/queue/flush");
    if (strcmp(sub, "retry") == 0 || strcmp(sub, "delete") == 0) {
        snprintf(path, sizeof path, "/queue/%s/%s", sub, id);
        return queue_control(&o, sub, id, path);
    }
    cli_error("queue: unknown subcommand \"%s\"", sub);
    fputs(queue_help, stderr);
    return CLI_USAGE;
}

int cmd_events(int argc, char **argv)
{
    queue_opts o = {0};
    int rc = parse_opts(argc, argv, &o, events_help);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (optind != argc) {
        fputs(events_help, stderr);
        return CLI_USAGE;
    }
    char *dir = NULL;
    if ((rc = cli_data_dir(o.config, o.data_dir, &dir)))
        return rc;
    hd_store *st;
    if ((rc = cli_open_store(NULL, dir, NULL, &st))) {
        free(dir);
        return rc;
    }
    ev_ctx ec = {o.json, 0, 0};
    hd_err err = {0};
    setvbuf(stdout, NULL, _IOLBF, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    int misses = 0;
    do {
        int lrc = st ? hd_store_event_each(st, ec.last_id, o.message, (size_t)o.limit,
                                           print_event, &ec, &err)
                     : HD_EIO; /* the reopen below failed: err says why */
        if (lrc != 0) {
            /* following: the server may be starting or stopping; give it 5 s */
            if (!o.follow || ++misses > 25) {
                cli_error("%s", hd_err_str(&err));
                /* as the first open would have said it (cli_open_store) */
                rc = err.code == HD_EPERM ? CLI_NOPERM : err.code == HD_ESTATE ? CLI_TEMPFAIL
                                                                                : CLI_SOFTWARE;
                break;
            }
        } else {
            misses = 0;
        }
        if (o.follow) {
            usleep(200 * 1000);
            /* a read-only connection sees a server that started or stopped
             * since it was opened only when opened again (store.h) */
            hd_store_close(st);
            st = NULL;
            hd_err_clear(&err);
            hd_store_open_readonly(path, &st, &err);
        }
    } while (o.follow);
    hd_store_close(st);
    free(dir);
    return rc;
}

typedef struct cap_ctx {
    const queue_opts *o;
    size_t n;
} cap_ctx;

/* A header field on one line for the terminal: each fold (CRLF and the
 * whitespace after it, RFC 5322 §2.2.3) and any other run of whitespace
 * becomes one space, so no tab or line end is printed. (JSON keeps the
 * field as it would be written, folded, as `herald verify --json` does.)
 * Owned. */
static char *unfold(const char *field)
{
    size_t n = strlen(field);
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = field; *p; p++) {
        bool space = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
        if (!space)
            *o++ = *p;
        else if (o > out && o[-1] != ' ')
            *o++ = ' ';
    }
    while (o > out && o[-1] == ' ')
        o--;
    *o = '\0';
    return out;
}

static int print_capture(int64_t id, const hd_store_capture *c, void *arg)
{
    cap_ctx *cc = arg;
    char when[HD_JSON_TIME_LEN];
    hd_json_time(c->at * 1000, when);
    char *ar = unfold(c->verdict ? c->verdict : "");
    if (!ar)
        return HD_ENOMEM;
    if (cc->o->raw) {
        if (cc->n)
            puts("--");
        fwrite(c->data.p, 1, c->data.len, stdout);
    } else if (cc->o->json) {
        /* the names events and queue show use for the same things */
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)id, "message",
                              c->message, "recipient", c->recipient, "envelope_from",
                              c->mail_from, "authentication_results", c->verdict, "size",
                              (json_int_t)c->data.len);
        if (o && hd_json_set_time(o, "at", c->at) != 0) {
            json_decref(o);
            o = NULL;
        }
        if (!o) {
            free(ar);
            return HD_ENOMEM;
        }
        json_t *d = c->detail ? json_loads(c->detail, 0, NULL) : NULL;
        if (d)
            json_object_set_new(o, "verdict", d);
        char *sj = json_dumps(o, JSON_COMPACT);
        puts(sj);
        free(sj);
        json_decref(o);
    } else {
        printf("%s %s %s (%zu bytes) from %s\n    %s\n", when, c->message, c->recipient,
               c->data.len, c->mail_from, ar);
    }
    free(ar);
    cc->n++;
    return 0;
}

int cmd_captures(int argc, char **argv)
{
    queue_opts o = {0};
    int rc = parse_opts(argc, argv, &o, captures_help);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (optind != argc) {
        fputs(captures_help, stderr);
        return CLI_USAGE;
    }
    hd_store *st;
    if ((rc = cli_open_store(o.config, o.data_dir, NULL, &st)))
        return rc;
    cap_ctx cc = {&o, 0};
    hd_err err = {0};
    if (hd_store_capture_each(st, 0, o.message, (size_t)o.limit, print_capture, &cc, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_SOFTWARE;
    } else if (cc.n == 0 && !o.json && !o.raw) {
        puts("nothing captured");
    }
    hd_store_close(st);
    return rc;
}
