/*
 * cmd_webhooks.c - `herald webhooks list|failed|retry`: the [webhook]
 * endpoints of the configuration with their progress, the dead letters
 * (events given up after max_retry_time), and sending them again through
 * the running server's control socket. Secrets are never printed.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <herald/config.h>
#include <herald/json.h>
#include <herald/store.h>

#include "net/control.h"

static const char webhooks_help[] =
    "usage: herald webhooks list [--json]\n"
    "       herald webhooks failed [--json]\n"
    "       herald webhooks retry ID | --all [--json]\n"
    "   options: [--config FILE] [--data-dir DIR]\n"
    "\n"
    "list     the [webhook NAME] endpoints of the configuration: URL, domains,\n"
    "         event types, the last event read, events pending and dead\n"
    "failed   dead letters: events an endpoint did not take within its\n"
    "         max_retry_time (id, endpoint, event, attempts, last error, when)\n"
    "retry    send a dead event (ID from `failed`) or every one (--all) again,\n"
    "         with a new retry window (running server)\n"
    "\n"
    "Exit: 0 done, 64 usage, 66 no data directory or no such dead event,\n"
    "75 the server is not running (retry), 78 bad configuration.\n";

typedef struct hook_opts {
    const char *config;
    const char *data_dir;
    bool json;
    bool all;
} hook_opts;

static json_t *string_list(char *const *v, size_t n, const char *none)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    if (n == 0)
        json_array_append_new(a, json_string(none));
    return a;
}

static void print_list(char *const *v, size_t n, const char *none)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? " " : "", v[i]);
    if (n == 0)
        fputs(none, stdout);
}

static int hooks_list(const hook_opts *o)
{
    hd_config *cfg = NULL;
    int rc = cli_load_config(o->config, &cfg);
    if (rc)
        return rc;
    hd_store *st = NULL;
    if ((rc = cli_open_store(o->config, o->data_dir, NULL, &st)) != 0) {
        hd_config_free(cfg);
        return rc;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < cfg->n_webhooks; i++) {
        const hd_config_webhook *w = &cfg->webhooks[i];
        int64_t cursor = 0, pending = 0, dead = 0;
        hd_err err = {0};
        int crc = hd_store_webhook_cursor(st, w->name, &cursor, &err);
        if ((crc && crc != HD_ENOTFOUND) ||
            hd_store_webhook_counts(st, w->name, &pending, &dead, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_SOFTWARE;
            break;
        }
        if (o->json) {
            json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:I, s:b, s:I, s:I, s:I}", "name", w->name,
                                  "url", w->url, "domains", string_list(w->domains, w->n_domains, "*"),
                                  "events", string_list(w->events, w->n_events, "*"),
                                  "max_retry_time", (json_int_t)w->max_retry_time, "started",
                                  crc == 0, "last_event", (json_int_t)cursor, "pending",
                                  (json_int_t)pending, "dead", (json_int_t)dead);
            json_array_append_new(arr, j);
            continue;
        }
        printf("%s  %s\n  domains: ", w->name, w->url);
        print_list(w->domains, w->n_domains, "*");
        fputs("\n  events: ", stdout);
        /* the unverified reports go only where they are named */
        print_list(w->events, w->n_events, "* (but the *_unverified reports)");
        printf("\n  retried for %" PRIu32 " s; ", w->max_retry_time);
        if (crc == 0)
            printf("read up to event %" PRId64 "; %" PRId64 " pending, %" PRId64 " dead\n", cursor,
                   pending, dead);
        else
            puts("not started yet");
    }
    if (o->json && rc == CLI_OK) {
        char *s = json_dumps(arr, JSON_INDENT(2));
        puts(s);
        free(s);
    } else if (rc == CLI_OK && cfg->n_webhooks == 0) {
        puts("no [webhook] sections in the configuration");
    }
    json_decref(arr);
    hd_store_close(st);
    hd_config_free(cfg);
    return rc;
}

typedef struct failed_ctx {
    bool json;
    json_t *arr;
    size_t n;
} failed_ctx;

static int failed_one(const hd_store_webhook *w, void *arg)
{
    failed_ctx *fc = arg;
    char created[HD_JSON_TIME_LEN], last[HD_JSON_TIME_LEN];
    hd_json_time_secs(w->created, created);
    hd_json_time_secs(w->last_at, last);
    fc->n++;
    if (fc->json) {
        json_t *o = json_pack("{s:I, s:s, s:I, s:s, s:s, s:i, s:s}", "id", (json_int_t)w->id,
                              "endpoint", w->endpoint, "event_id", (json_int_t)w->event_id,
                              "type", w->type, "message", w->message, "attempts", w->attempts,
                              "last_error", w->last_error);
        if (o && (hd_json_set_time(o, "since", w->created) != 0 ||
                  hd_json_set_time(o, "last_attempt", w->last_at) != 0)) {
            json_decref(o);
            o = NULL;
        }
        return o && json_array_append_new(fc->arr, o) == 0 ? 0 : HD_ENOMEM;
    }
    printf("%" PRId64 "  %s  event %" PRId64 " %s%s%s\n  %d attempt%s since %s, last %s: %s\n",
           w->id, w->endpoint, w->event_id, w->type, w->message[0] ? " of " : "", w->message,
           w->attempts, w->attempts == 1 ? "" : "s", created, last, w->last_error);
    return 0;
}

static int hooks_failed(const hook_opts *o)
{
    hd_store *st = NULL;
    int rc = cli_open_store(o->config, o->data_dir, NULL, &st);
    if (rc)
        return rc;
    failed_ctx fc = {.json = o->json, .arr = json_array()};
    hd_err err = {0};
    if (hd_store_webhook_each(st, NULL, true, failed_one, &fc, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_SOFTWARE;
    } else if (o->json) {
        char *s = json_dumps(fc.arr, JSON_INDENT(2));
        puts(s);
        free(s);
    } else if (fc.n == 0) {
        puts("no dead webhook events");
    }
    json_decref(fc.arr);
    hd_store_close(st);
    return rc;
}

static int hooks_retry(const hook_opts *o, const char *id)
{
    char path[64];
    snprintf(path, sizeof path, "/webhooks/retry/%s", o->all ? "all" : id);
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
        cli_error("webhooks retry: %s", hd_err_str(&err));
        return CLI_TEMPFAIL;
    }
    /* {"retried":N} or {"error":"..."}: --json prints it, else a sentence */
    json_t *j = json_loads(body, 0, NULL);
    json_t *n = json_object_get(j, "retried");
    if (status != 200 || !json_is_integer(n)) {
        const char *why = json_string_value(json_object_get(j, "error"));
        cli_error("webhooks retry %s: %s", o->all ? "--all" : id,
                  why ? why : "unexpected answer from the server");
        json_decref(j);
        return status == 404 ? CLI_NOINPUT : CLI_SOFTWARE;
    }
    json_int_t k = json_integer_value(n);
    if (o->json) {
        char *out = json_dumps(j, JSON_COMPACT);
        puts(out ? out : "{}");
        free(out);
    } else if (k == 0)
        puts("no dead webhook event to retry");
    else
        printf("%lld dead webhook event%s to be sent again\n", (long long)k, k == 1 ? "" : "s");
    json_decref(j);
    return CLI_OK;
}

static bool digits(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 18 && s[n] == '\0';
}

int cmd_webhooks(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(webhooks_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},         {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *sub = argv[1];
    hook_opts o = {0};
    static const char *const subs[] = {"list", "failed", "retry", NULL};
    bool known = false;
    for (size_t i = 0; subs[i]; i++)
        known |= strcmp(sub, subs[i]) == 0;
    const char *near = known ? NULL : cli_nearest(subs, sub);
    if (near) {
        cli_error("unknown command \"%s\": did you mean \"herald webhooks %s\"?", sub, near);
        return CLI_USAGE;
    }
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "c:d:jah", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': o.config = optarg; break;
        case 'd': o.data_dir = optarg; break;
        case 'j': o.json = true; break;
        case 'a': o.all = true; break;
        case 'h': fputs(webhooks_help, stdout); return CLI_OK;
        default: fputs(webhooks_help, stderr); return CLI_USAGE;
        }
    }
    int rest = argc - 1 - optind;
    const char *id = rest > 0 ? argv[1 + optind] : NULL;
    if (strcmp(sub, "retry") == 0) {
        if ((o.all && rest != 0) || (!o.all && (rest != 1 || !digits(id)))) {
            cli_error("webhooks retry: give one id (a number from `herald webhooks failed`) or --all");
            return CLI_USAGE;
        }
        return hooks_retry(&o, id);
    }
    if (rest != 0 || o.all) {
        cli_error("webhooks %s: no arguments expected", sub);
        return CLI_USAGE;
    }
    if (strcmp(sub, "list") == 0)
        return hooks_list(&o);
    if (strcmp(sub, "failed") == 0)
        return hooks_failed(&o);
    cli_error("webhooks: unknown command %s", sub);
    fputs(webhooks_help, stderr);
    return CLI_USAGE;
}
