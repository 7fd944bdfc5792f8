/*
 * cmd_inbound.c - `herald inbound list|show|parse`: the mail that came
 * back to the inbound listener (bounces, complaints, DMARC reports), as
 * stored; and what the bounce reader makes of a message in a file.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <herald/config.h>
#include <herald/json.h>
#include <herald/report.h>
#include <herald/store.h>

/* generated/bounce_rules.c (CMakeLists.txt): data/bounce-rules.txt, the
 * server's built-in rule set */
extern const unsigned char serve_bounce_rules[];
extern const size_t serve_bounce_rules_len;

#define RULES_FILE_MAX (1024u * 1024)
#define PARSE_INPUT_MAX (64u * 1024 * 1024)

static const char inbound_help[] =
    "usage: herald inbound list [--kind dsn|arf|dmarc|other] [--json]\n"
    "       herald inbound show ID [--raw] [--json]\n"
    "       herald inbound parse FILE|- [--rules FILE] [--json]\n"
    "   options: [--config FILE | --data-dir DIR]\n"
    "\n"
    "list   what the inbound listener took: id, time, kind, outcome (matched,\n"
    "       unmatched, unparsed, stored), the message it was matched to, and a\n"
    "       summary of what was read from it\n"
    "show   one of them; --raw prints the message exactly as received; --json\n"
    "       adds the recipients read from a bounce or feedback report\n"
    "parse  read a bounce (RFC 3464 DSN or, by the bounce rules, a plain-text\n"
    "       one) or a feedback report (RFC 5965) from a file, no server needed:\n"
    "       each failed address with its status, reason and hard/soft class.\n"
    "       Rules: --rules FILE, else the config's [inbound] bounce_rules,\n"
    "       else the built-in set\n"
    "\n"
    "Exit: 0 done, 64 usage, 65 no such id (show) or not a bounce or report\n"
    "(parse), 66 no database or no such file, 78 bad rules.\n";

/* ---- what a bounce said: one rendering for parse and show ---- */

static json_t *flags_json(unsigned flags)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < HD_REPORT_FLAG_BITS; i++)
        if (flags & (1u << i))
            json_array_append_new(a, json_string(hd_report_flag_name(1u << i)));
    return a;
}

static json_t *str_or_null(const char *s)
{
    /* report text may hold any bytes: invalid UTF-8 is replaced, not dropped */
    return s && s[0] ? hd_json_text(s) : json_null();
}

static json_t *rcpt_json(const hd_dsn_rcpt *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "address", hd_json_text(r->final_recipient));
    json_object_set_new(j, "original_recipient", str_or_null(r->original_recipient));
    json_object_set_new(j, "status", str_or_null(r->status));
    json_object_set_new(j, "action", json_string(hd_dsn_action_name(r->action)));
    json_object_set_new(j, "reason", json_string(hd_bounce_reason_name(r->reason)));
    json_object_set_new(j, "kind", json_string(hd_bounce_class_name(r->bounce)));
    json_object_set_new(j, "diagnostic", str_or_null(r->diagnostic));
    json_object_set_new(j, "diagnostic_type", str_or_null(r->diagnostic_type));
    json_object_set_new(j, "remote_mta", str_or_null(r->remote_mta));
    json_object_set_new(j, "last_attempt_date", str_or_null(r->last_attempt_date));
    return j;
}

static json_t *dsn_json(const hd_dsn *d)
{
    json_t *rc = json_array();
    for (size_t i = 0; i < d->nrcpts; i++)
        json_array_append_new(rc, rcpt_json(&d->rcpts[i]));
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string(d->flags & HD_REPORT_NONSTANDARD ? "nonstandard"
                                                                                : "dsn"));
    json_object_set_new(j, "reporting_mta", str_or_null(d->reporting_mta));
    json_object_set_new(j, "original_envelope_id", str_or_null(d->original_envelope_id));
    json_object_set_new(j, "arrival_date", str_or_null(d->arrival_date));
    json_object_set_new(j, "original_message_id", str_or_null(d->orig_message_id));
    json_object_set_new(j, "original_return_path", str_or_null(d->orig_return_path));
    json_object_set_new(j, "dsn_to", str_or_null(d->dsn_to));
    json_object_set_new(j, "envelope_sender", str_or_null(d->envelope_sender));
    json_object_set_new(j, "flags", flags_json(d->flags));
    json_object_set_new(j, "recipients", rc);
    return j;
}

/* A feedback report names the complaining recipient, when at all, in
 * Original-Rcpt-To (RFC 5965 §3.2) or the returned header's To:. */
static json_t *arf_json(const hd_arf *a)
{
    json_t *rc = json_array();
    const char *who = a->original_rcpt_to[0] ? a->original_rcpt_to : a->orig_to;
    if (who[0]) { /* the recipients' shape, as rcpt_json gives it */
        json_t *r = json_pack("{s:n, s:n, s:s, s:s, s:s, s:n, s:n, s:n, s:n}",
                              "original_recipient", "status", "action", "none", "reason",
                              "feedback", "kind", "none", "diagnostic", "diagnostic_type",
                              "remote_mta", "last_attempt_date");
        json_object_set_new(r, "address", hd_json_text(who)); /* any bytes: '?' for bad UTF-8 */
        json_array_append_new(rc, r);
    }
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string("arf"));
    json_object_set_new(j, "feedback_type", str_or_null(a->feedback_type));
    json_object_set_new(j, "user_agent", str_or_null(a->user_agent));
    json_object_set_new(j, "reporting_mta", str_or_null(a->reporting_mta));
    json_object_set_new(j, "source_ip", str_or_null(a->source_ip));
    json_object_set_new(j, "arrival_date", str_or_null(a->arrival_date));
    json_object_set_new(j, "original_message_id", str_or_null(a->orig_message_id));
    json_object_set_new(j, "original_mail_from", str_or_null(a->original_mail_from));
    json_object_set_new(j, "original_rcpt_to", str_or_null(a->original_rcpt_to));
    json_object_set_new(j, "flags", flags_json(a->flags));
    json_object_set_new(j, "recipients", rc);
    return j;
}

/* Read msg as the server does: a feedback report, else a bounce (a DSN or,
 * by rules, a plain-text one). *out is the report's JSON (type, report
 * fields, recipients); HD_ENOTFOUND when it is neither. */
static int report_json(hd_slice msg, const hd_report_rules *rules, json_t **out, hd_err *err)
{
    *out = NULL;
    hd_arf arf;
    int rc = hd_report_parse_arf(msg, &arf, err);
    if (rc == 0) {
        *out = arf_json(&arf);
        return 0;
    }
    if (rc != HD_ENOTFOUND)
        return rc;
    hd_err_clear(err);
    hd_dsn dsn;
    rc = hd_report_parse_bounce(msg, rules, &dsn, err);
    if (rc == 0)
        *out = dsn_json(&dsn);
    hd_dsn_free(&dsn);
    return rc;
}

/* The rule set: --rules FILE, else the config's [inbound] bounce_rules,
 * else the built-in one (as the server picks it). Errors printed. */
static int load_rules(const char *rules_path, const char *config, hd_report_rules **out)
{
    char *path = rules_path ? strdup(rules_path) : NULL;
    if (!rules_path && config) {
        hd_config *cfg;
        int rc = cli_load_config(config, &cfg);
        if (rc)
            return rc;
        path = cfg->inbound.bounce_rules ? strdup(cfg->inbound.bounce_rules) : NULL;
        hd_config_free(cfg);
    }
    hd_buf file;
    hd_buf_init(&file, RULES_FILE_MAX);
    hd_slice text = hd_slice_make(serve_bounce_rules, serve_bounce_rules_len);
    if (path) {
        int rc = cli_read_input(path, RULES_FILE_MAX, &file);
        if (rc) {
            free(path);
            return rc;
        }
        text = hd_buf_slice(&file);
    }
    hd_err err = {0};
    int rc = hd_report_rules_parse(text, out, &err);
    if (rc)
        cli_error("bounce rules %s: %s", path ? path : "(built in)", hd_err_str(&err));
    free(path);
    hd_buf_free(&file);
    return rc ? CLI_CONFIG : CLI_OK;
}

/* A string field of the JSON, or "-" when it is null or absent. */
static const char *field(const json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v ? v : "-";
}

static void print_report_text(const json_t *j)
{
    printf("type:      %s\n", field(j, "type"));
    const char *keys[] = {"reporting_mta", "original_message_id", "envelope_sender",
                          "feedback_type", "source_ip"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = json_string_value(json_object_get(j, keys[i]));
        if (v)
            printf("%s: %s\n", keys[i], v);
    }
    json_t *fl = json_object_get(j, "flags"), *v;
    size_t i;
    json_array_foreach(fl, i, v) printf("flag:      %s\n", json_string_value(v));
    json_array_foreach(json_object_get(j, "recipients"), i, v)
    {
        const char *st = json_string_value(json_object_get(v, "status"));
        const char *dg = json_string_value(json_object_get(v, "diagnostic"));
        printf("recipient: %s  %s %s %s (%s)\n", field(v, "address"), field(v, "action"),
               st ? st : "-", field(v, "kind"), field(v, "reason"));
        if (dg)
            printf("           %s\n", dg);
    }
}

static int cmd_parse(const char *file, const char *rules_path, const char *config, bool json)
{
    hd_report_rules *rules = NULL;
    int rc = load_rules(rules_path, config, &rules);
    if (rc)
        return rc;
    hd_buf msg;
    hd_buf_init(&msg, PARSE_INPUT_MAX);
    rc = cli_read_input(file, PARSE_INPUT_MAX, &msg);
    json_t *j = NULL;
    hd_err err = {0};
    if (rc == 0 && report_json(hd_buf_slice(&msg), rules, &j, &err) != 0) {
        if (json) {
            json_t *e = json_pack("{s:s, s:s, s:[]}", "type", "error", "error",
                                  hd_err_str(&err), "recipients");
            char *s = json_dumps(e, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
            json_decref(e);
        }
        cli_error("%s: %s", file, hd_err_str(&err));
        rc = CLI_DATAERR;
    } else if (rc == 0 && json) {
        char *s = json_dumps(j, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
    } else if (rc == 0) {
        print_report_text(j);
    }
    json_decref(j);
    hd_buf_free(&msg);
    hd_report_rules_free(rules);
    return rc;
}

static json_t *row_json(const hd_store_inbound *in)
{
    json_t *j = json_pack("{s:I}", "id", (json_int_t)in->id);
    hd_json_set_time(j, "at", in->at);      /* RFC 3339, and at_unix beside it */
    json_t *rest = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I}", "remote", in->remote,
                             "mail_from", in->mail_from, "rcpt", in->rcpt, "kind", in->kind,
                             "outcome", in->outcome, "message",
                             in->message[0] ? json_string(in->message) : json_null(), "summary",
                             in->summary, "size", (json_int_t)in->size);
    json_object_update(j, rest);
    json_decref(rest);
    return j;
}

typedef struct out_ctx {
    json_t *arr;    /* --json */
    bool raw;
    const hd_report_rules *rules; /* show --json: to re-read the stored message */
    size_t n;       /* rows printed */
} out_ctx;

static int print_row(const hd_store_inbound *in, void *arg)
{
    out_ctx *o = arg;
    o->n++;
    if (o->arr) {
        json_array_append_new(o->arr, row_json(in));
        return 0;
    }
    char at[32];
    time_t t = (time_t)in->at;
    struct tm tm;
    strftime(at, sizeof at, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
    printf("%-6lld %s  %-5s %-9s %-32s %s\n", (long long)in->id, at, in->kind, in->outcome,
           in->message[0] ? in->message : "-", in->summary);
    return 0;
}

static int show_row(const hd_store_inbound *in, void *arg)
{
    out_ctx *o = arg;
    if (o->raw) {
        fwrite(in->data.p, 1, in->data.len, stdout);
        return 0;
    }
    json_t *j = row_json(in);
    if (o->arr) {
        json_t *rep = NULL;
        hd_err err = {0};
        if ((strcmp(in->kind, "dsn") == 0 || strcmp(in->kind, "arf") == 0) && o->rules &&
            report_json(in->data, o->rules, &rep, &err) == 0) {
            json_object_set(j, "recipients", json_object_get(rep, "recipients"));
            json_object_set_new(j, "report", rep);
        }
        json_object_set_new(j, "data", json_stringn((const char *)in->data.p, in->data.len));
        char *s = json_dumps(j, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
    } else {
        printf("id:        %lld\nremote:    %s\nmail from: <%s>\nrcpt:      %s\nkind:      %s\n"
               "outcome:   %s\nmessage:   %s\nsize:      %lld\nsummary:   %s\n",
               (long long)in->id, in->remote, in->mail_from, in->rcpt, in->kind, in->outcome,
               in->message[0] ? in->message : "-", (long long)in->size, in->summary);
    }
    json_decref(j);
    return 0;
}

int cmd_inbound(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kind", required_argument, NULL, 'k'}, {"raw", no_argument, NULL, 'r'},
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'}, {"rules", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(inbound_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1], *kind = NULL, *config = NULL, *data_dir = NULL, *rules_path = NULL;
    bool json = false, raw = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "k:rc:d:jR:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k': kind = optarg; break;
        case 'r': raw = true; break;
        case 'c': config = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'j': json = true; break;
        case 'R': rules_path = optarg; break;
        case 'h': fputs(inbound_help, stdout); return CLI_OK;
        default: fputs(inbound_help, stderr); return CLI_USAGE;
        }
    }
    int rest = argc - 1 - optind;
    if (strcmp(sub, "parse") == 0) {
        if (rest != 1 || kind || raw || data_dir) {
            fputs(inbound_help, stderr);
            return CLI_USAGE;
        }
        return cmd_parse(argv[1 + optind], rules_path, config, json);
    }
    bool is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0;
    static const char *const subs[] = {"list", "show", "parse", NULL};
    const char *near = is_list || is_show ? NULL : cli_nearest(subs, sub);
    if (near) {
        cli_error("unknown command \"%s\": did you mean \"herald inbound %s\"?", sub, near);
        return CLI_USAGE;
    }
    long long id = 0;
    if ((!is_list && !is_show) || (is_list && (rest != 0 || raw)) || (is_show && (rest != 1 || kind)) || rules_path ||
        (is_show && !cli_parse_long("ID", argv[1 + optind], 1, INT64_MAX, &id))) {
        fputs(inbound_help, stderr);
        return CLI_USAGE;
    }
    hd_store *st;
    int rc = cli_open_store(config, data_dir, NULL, &st);
    if (rc)
        return rc;
    hd_report_rules *rules = NULL;
    if (is_show && json && !raw) {
        rc = load_rules(NULL, config, &rules);
        if (rc) {
            hd_store_close(st);
            return rc;
        }
    }
    hd_err err = {0};
    out_ctx o = {.arr = json ? json_array() : NULL, .raw = raw, .rules = rules};
    if (is_list) {
        if (hd_store_inbound_each(st, 0, kind, 0, print_row, &o, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_SOFTWARE;
        } else if (o.arr) {
            char *s = json_dumps(o.arr, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
        } else if (o.n == 0) { /* an empty list says so (JSON: []) */
            if (kind)
                printf("no inbound messages of kind %s\n", kind);
            else
                puts("no inbound messages");
        }
    } else if (hd_store_inbound_get(st, (int64_t)id, show_row, &o, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = err.code == HD_ENOTFOUND ? CLI_DATAERR : CLI_SOFTWARE;
    }
    json_decref(o.arr);
    hd_report_rules_free(rules);
    hd_store_close(st);
    return rc;
}
