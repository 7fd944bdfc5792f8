/*
 * cmd_dmarc.c - `herald dmarc record|check`.
 */
#include "cli/cli.h"

#include <herald/dmarc.h>

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static json_t *record_json(const hd_dmarc_record *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "p", json_string(hd_dmarc_policy_name(r->p)));
    json_object_set_new(o, "sp", json_string(hd_dmarc_policy_name(r->sp)));
    json_object_set_new(o, "np", json_string(hd_dmarc_policy_name(r->np)));
    char psd[2] = {r->psd, 0};
    json_object_set_new(o, "psd", json_string(psd));
    json_object_set_new(o, "t", json_boolean(r->testing));
    json_object_set_new(o, "adkim", json_string(r->adkim_strict ? "s" : "r"));
    json_object_set_new(o, "aspf", json_string(r->aspf_strict ? "s" : "r"));
    json_object_set_new(o, "pct", r->pct >= 0 ? json_integer(r->pct) : json_null());
    json_t *rua = json_array(), *ruf = json_array(), *problems = json_array();
    for (size_t i = 0; i < r->nrua; i++)
        json_array_append_new(rua, json_string(r->rua[i]));
    for (size_t i = 0; i < r->nruf; i++)
        json_array_append_new(ruf, json_string(r->ruf[i]));
    for (size_t i = 0; i < r->nproblems; i++)
        json_array_append_new(problems, json_string(r->problems[i]));
    json_object_set_new(o, "rua", rua);
    json_object_set_new(o, "ruf", ruf);
    json_object_set_new(o, "fo", json_string(r->fo));
    json_object_set_new(o, "problems", problems);
    return o;
}

static void print_record(const hd_dmarc_record *r)
{
    printf("  p=%s", hd_dmarc_policy_name(r->p)[0] ? hd_dmarc_policy_name(r->p) : "(none given)");
    if (r->sp != HD_DMARC_P_UNSET)
        printf(" sp=%s", hd_dmarc_policy_name(r->sp));
    if (r->np != HD_DMARC_P_UNSET)
        printf(" np=%s", hd_dmarc_policy_name(r->np));
    printf(" psd=%c adkim=%c aspf=%c%s", r->psd, r->adkim_strict ? 's' : 'r',
           r->aspf_strict ? 's' : 'r', r->testing ? " t=y" : "");
    if (r->pct >= 0)
        printf(" pct=%d", r->pct);
    putchar('\n');
    for (size_t i = 0; i < r->nrua; i++)
        printf("  rua: %s\n", r->rua[i]);
    for (size_t i = 0; i < r->nruf; i++)
        printf("  ruf: %s\n", r->ruf[i]);
    for (size_t i = 0; i < r->nproblems; i++)
        printf("  problem: %s\n", r->problems[i]);
}

static const char check_help[] =
    "usage: herald dmarc check [--json] 'v=DMARC1; p=...'\n"
    "\n"
    "Parse a DMARC record given on the command line and list every problem,\n"
    "each with the term (counted from 1, v=DMARC1 being term 1) it is in:\n"
    "malformed terms (no '=', a bad tag name, a control character, a tag\n"
    "given twice), which are ignored while the rest of the record stands;\n"
    "invalid values (their defaults then apply), obsolete RFC 7489 tags\n"
    "(pct, rf, ri, !size), unusable report URIs, a missing p=.\n"
    "\n"
    "Exit: 0 a DMARC record without problems, 1 a record with problems,\n"
    "65 not a DMARC record at all (the first term is not exactly v=DMARC1,\n"
    "or more than 64 terms or 8192 bytes), 64 usage.\n";

static int dmarc_check(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'h')
            return fputs(check_help, stdout), CLI_OK;
        else
            return fputs(check_help, stderr), CLI_USAGE;
    }
    if (optind + 1 != argc) {
        cli_error("dmarc check takes one record (quote it)");
        return CLI_USAGE;
    }
    hd_dmarc_record r;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dmarc_record_parse(hd_slice_cstr(argv[optind]), &r, &err) != 0) {
        if (json) {
            json_t *o = json_pack("{s:b, s:s}", "valid", 0, "error", err.msg);
            json_dumpf(o, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(o);
        } else
            printf("%s\n", err.msg);
        return CLI_DATAERR;
    }
    if (json) {
        json_t *o = record_json(&r);
        json_object_set_new(o, "valid", json_true());
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("a DMARC record%s\n", r.nproblems ? ", with problems:" : ", no problems");
        print_record(&r);
    }
    return r.nproblems ? CLI_FAIL : CLI_OK;
}

/* Is s a domain name one may look up: LDH labels of 1..63 bytes (RFC
 * 1035 §2.3.1; a leading digit allowed, RFC 1123 §2.1), at most 253 bytes,
 * a trailing dot allowed? why says what is wrong when it is not. */
static bool domain_name_ok(const char *s, char *why, size_t size)
{
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > 253) {
        snprintf(why, size, "%s", len ? "longer than 253 bytes" : "empty");
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)s[i] : '.';
        if (c == '.') {
            if (label == 0) {
                snprintf(why, size, "an empty label at byte %zu", i);
                return false;
            }
            if (s[i - 1] == '-') {
                snprintf(why, size, "a label ends with '-' at byte %zu", i - 1);
                return false;
            }
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (c != '-' || label == 0)) {
            if (c >= 0x80)
                snprintf(why, size, "a byte that is not ASCII at byte %zu (give an "
                                    "internationalized name as A-labels, xn--...)", i);
            else if (c < 0x20 || c == 0x7f)
                snprintf(why, size, "a control character at byte %zu", i);
            else
                snprintf(why, size, "'%c' at byte %zu is not a letter, digit or inner '-'", c, i);
            return false;
        }
        if (++label > 63) {
            snprintf(why, size, "a label longer than 63 bytes at byte %zu", i);
            return false;
        }
    }
    return true;
}

static const char record_help[] =
    "usage: herald dmarc record DOMAIN [--rfc7489 [--psl FILE]]\n"
    "                           [--dns-zone F | --dns-server A] [--json]\n"
    "\n"
    "Discover the DMARC policy that applies to mail From DOMAIN: by the RFC\n"
    "9989 DNS tree walk (default), or as RFC 7489 did, through the Public\n"
    "Suffix List (Debian's publicsuffix data, or --psl FILE). Prints where\n"
    "the record was found, the Organizational Domain, which policy tag\n"
    "applies (p, sp or np) and every problem in the record.\n"
    "\n"
    CLI_DNS_HELP
    "\n"
    "Exit: 0 a record applies, 4 no record, 75 DNS temporary failure, 64 usage\n"
    "or DOMAIN is not a domain name.\n";

static int dmarc_record(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rfc7489", no_argument, NULL, '7'}, {"psl", required_argument, NULL, 'P'},
        CLI_DNS_LONGOPTS, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    cli_dns_opts dopts = {NULL, NULL, 0};
    bool json = false, rfc7489 = false;
    const char *psl_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case '7': rfc7489 = true; break;
        case 'P': psl_file = optarg; break;
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &dopts))
                return CLI_USAGE;
            break;
        case 'j': json = true; break;
        case 'h': fputs(record_help, stdout); return CLI_OK;
        default: fputs(record_help, stderr); return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_error("dmarc record takes one domain (see --help)");
        return CLI_USAGE;
    }
    char why[160];
    if (!domain_name_ok(argv[optind], why, sizeof why)) {
        cli_error("\"%s\" is not a domain name: %s", argv[optind], why);
        return CLI_USAGE;
    }
    hd_err err;
    hd_err_clear(&err);
    hd_dmarc_psl *psl = NULL;
    if (rfc7489 && hd_dmarc_psl_load(psl_file, &psl, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        return CLI_NOINPUT;
    }
    hd_dns *dns = NULL;
    int rc = cli_dns_open(&dopts, &dns);
    hd_dmarc_verdict v;
    if (rc == CLI_OK && hd_dmarc_discover(argv[optind], rfc7489 ? HD_DMARC_RFC7489 : HD_DMARC_RFC9989,
                                          psl, dns, &v, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK) {
        const char *mode = rfc7489 ? "RFC 7489 (Public Suffix List)" : "RFC 9989 (DNS tree walk)";
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "domain", json_string(v.from_domain));
            json_object_set_new(o, "mode", json_string(rfc7489 ? "rfc7489" : "rfc9989"));
            json_object_set_new(o, "found", json_boolean(v.have_record));
            json_object_set_new(o, "record_name", v.have_record ? json_sprintf("_dmarc.%s", v.record_domain) : json_null());
            json_object_set_new(o, "organizational_domain", json_string(v.org_domain));
            json_object_set_new(o, "policy_tag", json_string(v.policy_tag));
            json_object_set_new(o, "policy", json_string(hd_dmarc_policy_name(v.policy)));
            json_object_set_new(o, "reason", json_string(v.reason));
            if (v.have_record)
                json_object_set_new(o, "record", record_json(&v.record));
            json_dumpf(o, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(o);
        } else if (v.have_record) {
            printf("%s: the record at _dmarc.%s applies (%s)\n", v.from_domain, v.record_domain, mode);
            printf("organizational domain: %s; policy: %s=%s%s\n", v.org_domain, v.policy_tag,
                   hd_dmarc_policy_name(v.policy),
                   strcmp(v.policy_tag, "p") ? " (the From domain is a subdomain)" : "");
            print_record(&v.record);
        } else {
            printf("%s: %s (%s)\n", v.from_domain, v.reason, mode);
        }
        rc = v.result == HD_DMARC_TEMPERROR ? CLI_TEMPFAIL : v.have_record ? CLI_OK : 4;
    }
    hd_dns_free(dns);
    hd_dmarc_psl_free(psl);
    return rc;
}

static const char evaluate_help[] =
    "usage: herald dmarc evaluate --from DOMAIN [--spf-domain D --spf RESULT]\n"
    "                             [--dkim DOMAIN:RESULT ...] [--rfc7489 [--psl FILE]\n"
    "                             [--pct-roll N]] [--dns-zone F | --dns-server A] [--json]\n"
    "\n"
    "The DMARC verdict for given authentication results, without a message:\n"
    "the From domain, the SPF-authenticated domain and its result, and each\n"
    "DKIM signature's d= and result (pass, fail, temperror, ...). For testing\n"
    "and for comparing with other implementations. With no aligned pass, a\n"
    "temperror for an identifier that would align gives temperror: the\n"
    "message cannot be judged and the policy is not applied.\n"
    "\n"
    "Exit: 0 pass, 1 fail, 4 none, 75 temperror, 64 usage.\n";

/* An SPF or DKIM result as Authentication-Results names them (RFC 8601
 * §2.7.1, §2.7.2); any other word is a typo, not a failure. */
static bool known_result(const char *opt, const char *r)
{
    static const char *const names[] = {"pass", "fail", "softfail", "neutral", "none",
                                        "temperror", "permerror", "policy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(r, names[i]) == 0)
            return true;
    cli_error("%s: \"%s\" is not a result (pass, fail, softfail, neutral, none, temperror, "
              "permerror, policy)", opt, r);
    return false;
}

static int dmarc_evaluate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'}, {"spf-domain", required_argument, NULL, 'S'},
        {"spf", required_argument, NULL, 's'}, {"dkim", required_argument, NULL, 'k'},
        {"rfc7489", no_argument, NULL, '7'}, {"psl", required_argument, NULL, 'P'},
        {"pct-roll", required_argument, NULL, 'r'}, CLI_DNS_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    hd_dmarc_request req = {0};
    static char dkim[HD_DMARC_MAX_DKIM][256];
    size_t ndkim = 0;
    cli_dns_opts dopts = {NULL, NULL, 0};
    const char *psl_file = NULL;
    bool json = false, rfc7489 = false;
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': req.from_domain = optarg; break;
        case 'S': req.spf_domain = optarg; break;
        case 's':
            if (!known_result("--spf", optarg))
                return CLI_USAGE;
            req.spf_pass = strcmp(optarg, "pass") == 0;
            req.spf_temperror = strcmp(optarg, "temperror") == 0;
            break;
        case 'k': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || ndkim == HD_DMARC_MAX_DKIM) {
                cli_error("--dkim DOMAIN:RESULT (at most %d)", HD_DMARC_MAX_DKIM);
                return CLI_USAGE;
            }
            if (!known_result("--dkim", colon + 1))
                return CLI_USAGE;
            /* passes count, and temperrors when nothing aligned passed */
            snprintf(dkim[ndkim], sizeof dkim[0], "%.*s", (int)(colon - optarg), optarg);
            if (strcmp(colon + 1, "pass") == 0)
                req.dkim_domains[req.ndkim++] = dkim[ndkim];
            if (strcmp(colon + 1, "temperror") == 0)
                req.dkim_temp_domains[req.ndkim_temp++] = dkim[ndkim];
            ndkim++;
            break;
        }
        case '7': rfc7489 = true; break;
        case 'P': psl_file = optarg; break;
        case 'r':
            if (!cli_parse_long("--pct-roll", optarg, 0, 99, &n))
                return CLI_USAGE;
            req.pct_roll = (unsigned)n;
            break;
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &dopts))
                return CLI_USAGE;
            break;
        case 'j': json = true; break;
        case 'h': fputs(evaluate_help, stdout); return CLI_OK;
        default: fputs(evaluate_help, stderr); return CLI_USAGE;
        }
    }
    if (optind != argc || req.from_domain == NULL) {
        cli_error("dmarc evaluate needs --from (see --help)");
        return CLI_USAGE;
    }
    hd_err err;
    hd_err_clear(&err);
    hd_dmarc_psl *psl = NULL;
    if (rfc7489 && hd_dmarc_psl_load(psl_file, &psl, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        return CLI_NOINPUT;
    }
    req.mode = rfc7489 ? HD_DMARC_RFC7489 : HD_DMARC_RFC9989;
    req.psl = psl;
    hd_dns *dns = NULL;
    hd_dmarc *d = NULL;
    int rc = cli_dns_open(&dopts, &dns);
    if (rc == CLI_OK && (hd_dmarc_new(&req, NULL, &d, &err) != 0 || hd_dmarc_run(d, dns, &err) != 0)) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK) {
        const hd_dmarc_verdict *v = hd_dmarc_get_verdict(d);
        hd_buf ar;
        hd_buf_init(&ar, 4096);
        hd_dmarc_to_ar(v, &ar);
        if (json) {
            json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s}", "result",
                                  hd_dmarc_result_name(v->result), "policy", hd_dmarc_policy_name(v->policy),
                                  "policy_tag", v->policy_tag, "disposition",
                                  hd_dmarc_policy_name(v->disposition), "record_domain", v->record_domain,
                                  "organizational_domain", v->org_domain, "spf_aligned", v->spf_aligned,
                                  "dkim_aligned", v->dkim_aligned, "reason", v->reason,
                                  "authentication_results", hd_buf_cstr(&ar));
            json_dumpf(o, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(o);
        } else {
            printf("%s\n%s\n", hd_buf_cstr(&ar), v->reason);
        }
        hd_buf_free(&ar);
        rc = v->result == HD_DMARC_PASS ? CLI_OK : v->result == HD_DMARC_FAIL ? CLI_FAIL
           : v->result == HD_DMARC_TEMPERROR ? CLI_TEMPFAIL : 4;
    }
    hd_dmarc_free(d);
    hd_dns_free(dns);
    hd_dmarc_psl_free(psl);
    return rc;
}

int cmd_dmarc(int argc, char **argv)
{
    static const cli_cmd subs[] = {
        {"record", dmarc_record, "discover the DMARC policy of a domain"},
        {"check", dmarc_check, "parse a DMARC record and list its problems"},
        {"evaluate", dmarc_evaluate, "the DMARC verdict for given SPF/DKIM results"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("herald dmarc", subs, argc, argv);
}
