/*
 * cmd_spf.c - `herald spf check`.
 */
#include "cli/cli.h"

#include <herald/spf.h>

#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char check_help[] =
    "usage: herald spf check --ip IP [--sender ADDR] [--helo NAME] [--helo-only]\n"
    "                        [--dns-zone F | --dns-server A] [--json] [--trace]\n"
    "\n"
    "Evaluate SPF (RFC 7208 check_host) for a client IP and the MAIL FROM\n"
    "address; with an empty or missing --sender, the HELO identity\n"
    "(postmaster@HELO) is checked, as RFC 7208 §2.4 says; --helo-only checks\n"
    "the HELO identity on its own. Prints the result, the term that decided\n"
    "it, the Received-SPF field and the Authentication-Results fragment.\n"
    "\n"
    "  -i, --ip IP            the client's address (IPv4, IPv6, IPv4-mapped)\n"
    "  -s, --sender ADDR      MAIL FROM address\n"
    "  -H, --helo NAME        HELO/EHLO name\n"
    "      --helo-only        check the HELO identity instead of MAIL FROM\n"
    "      --receiver NAME    this host's name, for %{r} in explanations\n"
    CLI_DNS_HELP
    "      --json             print {result, mechanism, explanation, reason,\n"
    "                         dns_lookups, void_lookups, identity, domain,\n"
    "                         sender, received_spf, authentication_results}\n"
    "      --trace            show each term, each DNS question and answer, and\n"
    "                         the counts, on standard error\n"
    "\n"
    "Exit: 0 pass, 1 fail, 2 softfail, 3 neutral, 4 none, 5 permerror,\n"
    "75 temperror (try again later), 64 usage.\n";

static void print_trace(void *arg, int depth, const char *line)
{
    (void)arg;
    fprintf(stderr, "%*s%s\n", 2 * depth, "", line);
}

static int exit_code(hd_spf_result r)
{
    switch (r) {
    case HD_SPF_PASS: return 0;
    case HD_SPF_FAIL: return 1;
    case HD_SPF_SOFTFAIL: return 2;
    case HD_SPF_NEUTRAL: return 3;
    case HD_SPF_NONE: return 4;
    case HD_SPF_PERMERROR: return 5;
    default: return CLI_TEMPFAIL;
    }
}

static void print_result(hd_spf *spf, bool json)
{
    const hd_spf_verdict *v = hd_spf_get_verdict(spf);
    hd_buf rspf, ar;
    hd_buf_init(&rspf, 8192);
    hd_buf_init(&ar, 8192);
    hd_spf_received_spf(spf, &rspf);
    hd_spf_to_ar(spf, &ar);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "result", json_string(hd_spf_result_name(v->result)));
        json_object_set_new(o, "mechanism", json_string(v->mechanism));
        json_object_set_new(o, "explanation", json_string(v->explanation));
        json_object_set_new(o, "reason", json_string(v->reason));
        json_object_set_new(o, "dns_lookups", json_integer(v->dns_lookups));
        json_object_set_new(o, "void_lookups", json_integer(v->void_lookups));
        json_object_set_new(o, "identity", json_string(v->identity));
        json_object_set_new(o, "domain", json_string(v->domain));
        json_object_set_new(o, "sender", json_string(v->sender));
        json_object_set_new(o, "received_spf", json_string(hd_buf_cstr(&rspf)));
        json_object_set_new(o, "authentication_results", json_string(hd_buf_cstr(&ar)));
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("%s", hd_spf_result_name(v->result));
        if (v->mechanism[0])
            printf(" (%s)", v->mechanism);
        printf(": %s\n", v->reason);
        if (v->explanation[0])
            printf("explanation: %s\n", v->explanation);
        printf("dns lookups: %u, void lookups: %u\n", v->dns_lookups, v->void_lookups);
        printf("%s\n%s\n", hd_buf_cstr(&rspf), hd_buf_cstr(&ar));
    }
    hd_buf_free(&rspf);
    hd_buf_free(&ar);
}

static int spf_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ip", required_argument, NULL, 'i'}, {"sender", required_argument, NULL, 's'},
        {"helo", required_argument, NULL, 'H'}, {"helo-only", no_argument, NULL, 'O'},
        {"receiver", required_argument, NULL, 'R'}, CLI_DNS_LONGOPTS,
        {"json", no_argument, NULL, 'j'}, {"trace", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    hd_spf_request req = {0};
    hd_spf_opts opts = {0};
    cli_dns_opts dopts = {NULL, NULL, 0};
    bool json = false;
    int c;
    char receiver[256] = "";
    req.now = (int64_t)time(NULL);
    while ((c = getopt_long(argc, argv, "i:s:H:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': req.ip = optarg; break;
        case 's': req.sender = optarg; break;
        case 'H': req.helo = optarg; break;
        case 'O': req.check_helo = true; break;
        case 'R': req.receiver = optarg; break;
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &dopts))
                return CLI_USAGE;
            break;
        case 'j': json = true; break;
        case 't': opts.trace = print_trace; break;
        case 'h': fputs(check_help, stdout); return CLI_OK;
        default: fputs(check_help, stderr); return CLI_USAGE;
        }
    }
    if (optind != argc || req.ip == NULL) {
        cli_error("spf check needs --ip (see --help)");
        return CLI_USAGE;
    }
    if ((req.sender == NULL || req.sender[0] == '\0' || req.check_helo) && req.helo == NULL) {
        cli_error("spf check needs --sender, or --helo to check the HELO identity");
        return CLI_USAGE;
    }
    if (req.receiver == NULL && gethostname(receiver, sizeof receiver - 1) == 0)
        req.receiver = receiver;
    hd_dns *dns = NULL;
    int rc = cli_dns_open(&dopts, &dns);
    if (rc != CLI_OK)
        return rc;
    hd_spf *spf = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_spf_new(&req, &opts, &spf, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        hd_dns_free(dns);
        return CLI_USAGE;
    }
    if (hd_spf_run(spf, dns, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_SOFTWARE;
    } else {
        print_result(spf, json);
        rc = exit_code(hd_spf_get_verdict(spf)->result);
    }
    hd_spf_free(spf);
    hd_dns_free(dns);
    return rc;
}

int cmd_spf(int argc, char **argv)
{
    static const cli_cmd subs[] = {
        {"check", spf_check, "evaluate SPF for a client IP and sender"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("herald spf", subs, argc, argv);
}
