/*
 * cmd_verify.c - `herald verify`: a receiver's full verdict for one
 * message: SPF, every DKIM signature, DMARC; the Authentication-Results
 * header, every field as JSON, and a diagnosis a mail admin can act on.
 * The verdict is libherald's (herald/verdict.h); this file holds what
 * only the command knows: options, the connection facts completed from
 * the message, printing and exit codes.
 */
#include "cli/cli.h"

#include <herald/authres.h>
#include <herald/limits.h>
#include <herald/verdict.h>

#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char verify_help[] =
    "usage: herald verify [--ip IP] [--helo NAME] [--mail-from ADDR]\n"
    "                     [--dns-zone F | --dns-server A] [--json] [--explain]\n"
    "                     [--authserv-id ID] [--rfc7489 [--psl FILE]] [MESSAGE]\n"
    "\n"
    "Verify MESSAGE (default: standard input) as a receiver would: SPF for\n"
    "the connection, every DKIM signature, DMARC for the From domain. Prints\n"
    "the Authentication-Results header field. When --ip, --helo or\n"
    "--mail-from are absent they are taken from the topmost Received field\n"
    "and the Return-Path, and the output says so.\n"
    "\n"
    "  -i, --ip IP            the client that delivered the message\n"
    "  -H, --helo NAME        its HELO/EHLO name\n"
    "  -m, --mail-from ADDR   the envelope sender (\"\" for <>)\n"
    CLI_DNS_HELP
    "      --json             every field of every verdict\n"
    "      --explain          a diagnosis in plain words (forwarding, lists,\n"
    "                         alignment, keys, DNS), after the header\n"
    "      --authserv-id ID   the name in Authentication-Results (default: host name)\n"
    "      --rfc7489          DMARC as RFC 7489 (Public Suffix List) instead of RFC 9989\n"
    "      --psl FILE         the Public Suffix List for --rfc7489\n"
    "      --now T            judge DKIM t=/x= as at Unix time T\n"
    "\n"
    "Exit: 0 DMARC pass, 1 DMARC fail, 4 no DMARC record (none), 75 DMARC\n"
    "temperror (the DMARC record, or the SPF or DKIM check of an identifier\n"
    "that would align, failed temporarily and nothing aligned passed: no\n"
    "policy applies, retry later), 64 usage, 65 unparseable message.\n";

/* The connection as given on the command line, completed from the message. */
typedef struct facts {
    char ip[64], helo[256], mail_from[512];
    bool have_ip, have_helo, have_mail_from;
    bool guessed;
} facts;

/* What the options did not say, from the topmost Received field and the
 * Return-Path. */
static int complete_facts(const char *input, hd_slice msg, facts *f)
{
    hd_verdict_facts mf;
    hd_err err;
    hd_err_clear(&err);
    if (hd_verdict_facts_from_message(msg, &mf, &err) != 0) {
        cli_error("%s: %s", input ? input : "message", hd_err_str(&err));
        return err.code == HD_ENOMEM ? CLI_SOFTWARE : CLI_DATAERR;
    }
    if (!f->have_mail_from && mf.have_mail_from) {
        snprintf(f->mail_from, sizeof f->mail_from, "%s", mf.mail_from);
        f->guessed = true;
    }
    if (!f->have_helo && mf.have_helo) {
        snprintf(f->helo, sizeof f->helo, "%s", mf.helo);
        f->guessed = true;
    }
    if (!f->have_ip && mf.have_ip) {
        snprintf(f->ip, sizeof f->ip, "%s", mf.ip);
        f->guessed = true;
    }
    return CLI_OK;
}

/* The verdict's JSON, pretty. */
static int print_json(const hd_verdict *v, const char *authserv, bool explain)
{
    hd_buf text;
    hd_buf_init(&text, HD_LIMIT_MESSAGE_BYTES);
    hd_err err;
    hd_err_clear(&err);
    json_t *o = NULL;
    if (hd_verdict_json(v, authserv, explain, &text, &err) == 0 &&
        (o = json_loads(hd_buf_cstr(&text), 0, NULL)) == NULL)
        hd_err_set(&err, HD_ENOMEM, "JSON: out of memory");
    hd_buf_free(&text);
    if (o == NULL) {
        cli_error("%s", hd_err_str(&err));
        return CLI_SOFTWARE;
    }
    json_dumpf(o, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(o);
    return CLI_OK;
}

static int exit_code(const hd_verdict *v)
{
    const hd_dmarc_verdict *d = hd_verdict_dmarc(v);
    if (d == NULL)
        return 4;
    switch (d->result) {
    case HD_DMARC_PASS: return CLI_OK;
    case HD_DMARC_FAIL: return CLI_FAIL;
    case HD_DMARC_TEMPERROR: return CLI_TEMPFAIL;
    default: return 4;
    }
}

/* The header and the diagnosis, or the JSON, for a verdict reached. */
static int report(const hd_verdict *v, const facts *f, const char *authserv, bool json, bool explain)
{
    if (json) {
        int rc = print_json(v, authserv, explain);
        return rc == CLI_OK ? exit_code(v) : rc;
    }
    int rc = CLI_OK;
    hd_buf ar, expl;
    hd_buf_init(&ar, 1 << 16);
    hd_buf_init(&expl, 1 << 16);
    hd_err err;
    hd_err_clear(&err);
    if (hd_verdict_ar(v, authserv, &ar, &err) != 0) {
        cli_error("building Authentication-Results: %s", hd_err_str(&err));
        rc = CLI_SOFTWARE;
    }
    /* the field ends in CRLF: print it without */
    while (ar.len > 0 && (ar.p[ar.len - 1] == '\n' || ar.p[ar.len - 1] == '\r'))
        ar.p[--ar.len] = '\0';
    if (explain && hd_verdict_explain(v, &expl, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_SOFTWARE;
    }
    if (f->guessed)
        printf("(connection facts taken from the message: ip %s, helo %s, mail from <%s>)\n",
               f->ip[0] ? f->ip : "?", f->helo[0] ? f->helo : "?", f->mail_from);
    printf("%s\n", hd_buf_cstr(&ar));
    if (explain)
        printf("\n%s", hd_buf_cstr(&expl));
    hd_buf_free(&ar);
    hd_buf_free(&expl);
    return rc == CLI_OK ? exit_code(v) : rc;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ip", required_argument, NULL, 'i'}, {"helo", required_argument, NULL, 'H'},
        {"mail-from", required_argument, NULL, 'm'}, CLI_DNS_LONGOPTS,
        {"json", no_argument, NULL, 'j'}, {"explain", no_argument, NULL, 'e'},
        {"authserv-id", required_argument, NULL, 'A'}, {"rfc7489", no_argument, NULL, '7'},
        {"psl", required_argument, NULL, 'P'}, {"now", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    facts f;
    memset(&f, 0, sizeof f);
    cli_dns_opts dopts = {NULL, NULL, 0};
    bool json = false, explain = false, rfc7489 = false;
    const char *psl_file = NULL;
    char authserv[256] = "";
    int64_t now = (int64_t)time(NULL);
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "i:H:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': snprintf(f.ip, sizeof f.ip, "%s", optarg); f.have_ip = true; break;
        case 'H': snprintf(f.helo, sizeof f.helo, "%s", optarg); f.have_helo = true; break;
        case 'm': snprintf(f.mail_from, sizeof f.mail_from, "%s", optarg); f.have_mail_from = true; break;
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &dopts))
                return CLI_USAGE;
            break;
        case 'j': json = true; break;
        case 'e': explain = true; break;
        case 'A': snprintf(authserv, sizeof authserv, "%s", optarg); break;
        case '7': rfc7489 = true; break;
        case 'P': psl_file = optarg; break;
        case 'N':
            if (!cli_parse_long("--now", optarg, 0, 253402300799LL, &n))
                return CLI_USAGE;
            now = n;
            break;
        case 'h': fputs(verify_help, stdout); return CLI_OK;
        default: fputs(verify_help, stderr); return CLI_USAGE;
        }
    }
    const char *input = optind < argc ? argv[optind++] : NULL;
    if (optind != argc) {
        cli_error("verify takes one message (see --help)");
        return CLI_USAGE;
    }
    for (const char *p = authserv; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ';' || *p == '(' || *p == ')') {
            cli_error("--authserv-id \"%s\": a name without spaces, ';' or parentheses", authserv);
            return CLI_USAGE;
        }
    if (authserv[0] == '\0' && gethostname(authserv, sizeof authserv - 1) != 0)
        snprintf(authserv, sizeof authserv, "localhost");
    hd_err idcheck;
    hd_err_clear(&idcheck);
    if (hd_authres_check_id(authserv, &idcheck) != 0) {
        cli_error("authserv-id \"%s\": %s", authserv, hd_err_str(&idcheck));
        return CLI_USAGE;
    }
    hd_buf msg;
    int rc = cli_read_input(input, HD_LIMIT_MESSAGE_BYTES, &msg);
    if (rc != CLI_OK)
        return rc;
    rc = complete_facts(input, hd_buf_slice(&msg), &f);
    hd_err err;
    hd_err_clear(&err);
    hd_dmarc_psl *psl = NULL;
    if (rc == CLI_OK && rfc7489 && hd_dmarc_psl_load(psl_file, &psl, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_NOINPUT;
    }
    hd_dns *dns = NULL;
    if (rc == CLI_OK)
        rc = cli_dns_open(&dopts, &dns);
    hd_verdict *v = NULL;
    if (rc == CLI_OK) {
        hd_verdict_request req = {.ip = f.ip, .helo = f.helo, .mail_from = f.mail_from,
                                  .facts_from_message = f.guessed, .now = now, .rfc7489 = rfc7489,
                                  .psl = psl, .arc = true};
        if (hd_verdict_run(&req, hd_buf_slice(&msg), dns, &v, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = err.code == HD_ENOMEM ? CLI_SOFTWARE : CLI_DATAERR;
        }
    }
    if (rc == CLI_OK) {
        for (size_t i = 0; i < hd_verdict_nproblems(v); i++)
            cli_error("%s", hd_verdict_problem(v, i));
        rc = report(v, &f, authserv, json, explain);
    }
    hd_verdict_free(v);
    hd_dns_free(dns);
    hd_dmarc_psl_free(psl);
    hd_buf_free(&msg);
    return rc;
}
