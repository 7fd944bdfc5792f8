/*
 * cmd_inbound.c - `herald inbound list|show`: the mail that came back to
 * the inbound listener (bounces, complaints, DMARC reports), as stored.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <herald/store.h>

static const char inbound_help[] =
    "usage: herald inbound list [--kind dsn|arf|dmarc|other] [--json]\n"
    "       herald inbound show ID [--raw] [--json]\n"
    "   options: [--config FILE | --data-dir DIR]\n"
    "\n"
    "list   what the inbound listener took: id, time, kind, outcome (matched,\n"
    "       unmatched, unparsed, stored), the message it was matched to, and a\n"
    "       summary of what was read from it\n"
    "show   one of them; --raw prints the message exactly as received\n"
    "\n"
    "Exit: 0 done, 64 usage, 65 no such id, 66 no database.\n";

static json_t *row_json(const hd_store_inbound *in)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I}", "id",
                     (json_int_t)in->id, "at", (json_int_t)in->at, "remote", in->remote,
                     "mail_from", in->mail_from, "rcpt", in->rcpt, "kind", in->kind, "outcome",
                     in->outcome, "message", in->message[0] ? json_string(in->message) : json_null(),
                     "summary", in->summary, "size", (json_int_t)in->size);
}

typedef struct out_ctx {
    json_t *arr;    /* --json */
    bool raw;
} out_ctx;

static int print_row(const hd_store_inbound *in, void *arg)
{
    out_ctx *o = arg;
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
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(inbound_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1], *kind = NULL, *config = NULL, *data_dir = NULL;
    bool json = false, raw = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "k:rc:d:jh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'k': kind = optarg; break;
        case 'r': raw = true; break;
        case 'c': config = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(inbound_help, stdout); return CLI_OK;
        default: fputs(inbound_help, stderr); return CLI_USAGE;
        }
    }
    int rest = argc - 1 - optind;
    bool is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0;
    long long id = 0;
    if ((!is_list && !is_show) || (is_list && (rest != 0 || raw)) || (is_show && (rest != 1 || kind)) ||
        (is_show && !cli_parse_long("ID", argv[1 + optind], 1, INT64_MAX, &id))) {
        fputs(inbound_help, stderr);
        return CLI_USAGE;
    }
    hd_store *st;
    int rc = cli_open_store(config, data_dir, NULL, &st);
    if (rc)
        return rc;
    hd_err err = {0};
    out_ctx o = {.arr = json ? json_array() : NULL, .raw = raw};
    if (is_list) {
        if (hd_store_inbound_each(st, 0, kind, 0, print_row, &o, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_SOFTWARE;
        } else if (o.arr) {
            char *s = json_dumps(o.arr, JSON_COMPACT);
            if (s)
                puts(s);
            free(s);
        }
    } else if (hd_store_inbound_get(st, (int64_t)id, show_row, &o, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = err.code == HD_ENOTFOUND ? CLI_DATAERR : CLI_SOFTWARE;
    }
    json_decref(o.arr);
    hd_store_close(st);
    return rc;
}
