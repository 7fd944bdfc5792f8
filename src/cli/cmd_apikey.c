/*
 * cmd_apikey.c - `herald apikey create|list|revoke`: keys for the HTTP API.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <herald/apikey.h>
#include <herald/json.h>
#include <herald/store.h>

static const char apikey_help[] =
    "usage: herald apikey create --name N (--domains \"a.com b.com\" | --all-domains)\n"
    "       herald apikey list [--json]\n"
    "       herald apikey revoke NAME|ID\n"
    "   options: [--config FILE | --data-dir DIR]\n"
    "\n"
    "create   make a key for the HTTP API, scoped to the sending domains\n"
    "         given; a key for every domain must be asked for (--all-domains,\n"
    "         or --domains '*'). The token hk_<id>_<secret> is printed once,\n"
    "         alone on standard output; only a hash of its secret is kept.\n"
    "list     the keys: id, name, domains, created, revoked\n"
    "revoke   the key stops working at once, also on a running server (it\n"
    "         reads keys at each request)\n"
    "\n"
    "Exit: 0 done, 64 usage, 65 bad name or domains, or no such key, 66 no database,\n"
    "77 the database is closed to this user.\n";

static int print_key(const hd_store_apikey *k, void *arg)
{
    json_t *arr = arg;
    char created[32], revoked[32] = "";
    time_t t = (time_t)k->created;
    struct tm tm;
    strftime(created, sizeof created, "%Y-%m-%d", gmtime_r(&t, &tm));
    if (k->revoked) {
        t = (time_t)k->revoked;
        strftime(revoked, sizeof revoked, "%Y-%m-%d", gmtime_r(&t, &tm));
    }
    if (arr) {
        /* domains: an array ("*" for every domain); times RFC 3339 with
         * <field>_unix beside them (revoked: null while the key works) */
        json_t *doms = json_array();
        for (const char *p = k->domains; *p;) {
            size_t len = strcspn(p, " ");
            if (len)
                json_array_append_new(doms, json_stringn(p, len));
            p += len;
            p += strspn(p, " ");
        }
        json_t *o = json_pack("{s:s, s:s, s:o}", "id", k->id, "name", k->name, "domains", doms);
        hd_json_set_time(o, "created", k->created);
        hd_json_set_time(o, "revoked", k->revoked);
        json_array_append_new(arr, o);
    } else
        printf("%-16s  %-24s  %-10s  %s%s%s\n", k->id, k->name, created, k->domains,
               k->revoked ? "  revoked " : "", revoked);
    return 0;
}

int cmd_apikey(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'}, {"domains", required_argument, NULL, 'D'},
        {"all-domains", no_argument, NULL, 'A'},
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(apikey_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1], *name = NULL, *domains = NULL, *config = NULL, *data_dir = NULL;
    bool json = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "n:D:c:d:jh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n': name = optarg; break;
        case 'D': domains = optarg; break;
        case 'A': domains = "*"; break;
        case 'c': config = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(apikey_help, stdout); return CLI_OK;
        default: fputs(apikey_help, stderr); return CLI_USAGE;
        }
    }
    int rest = argc - 1 - optind;
    bool is_create = strcmp(sub, "create") == 0, is_list = strcmp(sub, "list") == 0,
         is_revoke = strcmp(sub, "revoke") == 0;
    static const char *const subs[] = {"create", "list", "revoke", NULL};
    const char *near = is_create || is_list || is_revoke ? NULL : cli_nearest(subs, sub);
    if (near) {
        cli_error("unknown command \"%s\": did you mean \"herald apikey %s\"?", sub, near);
        return CLI_USAGE;
    }
    if ((!is_create && !is_list && !is_revoke) || (is_create && (!name || rest != 0)) ||
        (is_list && rest != 0) || (is_revoke && rest != 1)) {
        fputs(apikey_help, stderr);
        return CLI_USAGE;
    }
    if (is_create && domains == NULL) {
        /* a key that may send as every domain is the riskiest kind: only
         * when asked for by name */
        cli_error("apikey create needs --domains \"a.com b.com\", or --all-domains for a key "
                  "that may send as every domain");
        return CLI_USAGE;
    }
    hd_store *st;
    int rc = (is_list ? cli_open_store : cli_open_store_rw)(
        config, data_dir, "add a domain first: herald domain add", &st);
    if (rc)
        return rc;
    hd_err err = {0};
    if (is_create) {
        char token[HD_APIKEY_TOKEN_MAX];
        if (hd_apikey_create(st, name, domains, (int64_t)time(NULL), token, sizeof token, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = err.code == HD_EINVAL ? CLI_DATAERR : CLI_SOFTWARE;
        } else {
            puts(token);
            fprintf(stderr, "herald: API key %s created for %s; the token above is shown only now\n",
                    name, domains);
        }
    } else if (is_list) {
        json_t *arr = json ? json_array() : NULL;
        if (hd_store_apikey_each(st, print_key, arr, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_SOFTWARE;
        } else if (arr) {
            char *s = json_dumps(arr, JSON_COMPACT);
            puts(s);
            free(s);
        }
        json_decref(arr);
    } else if (hd_store_apikey_revoke(st, argv[1 + optind], (int64_t)time(NULL), &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = err.code == HD_ENOTFOUND ? CLI_DATAERR : CLI_SOFTWARE;
    } else {
        /* the server reads the key at each request: nothing to reload */
        printf("API key %s revoked: it stops working at once, also on a running server\n",
               argv[1 + optind]);
    }
    hd_store_close(st);
    return rc;
}
