/*
 * cmd_arc.c - `herald arc verify|seal` (RFC 8617).
 */
#include "cli/cli.h"

#include <herald/arc.h>
#include <herald/dkim.h>
#include <herald/dmarc.h>
#include <herald/key.h>
#include <herald/limits.h>
#include <herald/mail.h>
#include <herald/spf.h>

#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char verify_help[] =
    "usage: herald arc verify [--dns-zone F | --dns-server A] [--json] [--now T] [MESSAGE]\n"
    "\n"
    "Validate the ARC chain of MESSAGE (default: standard input): cv=none,\n"
    "pass or fail, which instance failed and why, and the oldest instance\n"
    "whose message signature still verifies (RFC 8617 §5.2).\n"
    "\n"
    CLI_DNS_HELP
    "      --json               {cv, reason, failed_instance, oldest_pass, instances: [...]}\n"
    "      --now T              judge t= as at Unix time T\n"
    "\n"
    "Exit: 0 cv=pass, 1 cv=fail, 2 cv=none (no chain), 64 usage, 65/66 input.\n";

static json_t *set_json(const hd_arc_set_info *s)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:s, s:s}", "instance",
                     (int)s->instance, "ams_domain", s->ams_domain, "ams_selector", s->ams_selector,
                     "as_domain", s->as_domain, "as_selector", s->as_selector, "seal_cv",
                     hd_arc_cv_name(s->seal_cv), "authserv_id", s->authserv_id, "ams_ok", s->ams_ok,
                     "ams_reason", s->ams_reason, "as_ok", s->as_ok, "as_reason", s->as_reason,
                     "aar", s->aar ? s->aar : "");
}

static int arc_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DNS_LONGOPTS, {"json", no_argument, NULL, 'j'},
        {"now", required_argument, NULL, 'N'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_dns_opts dopts = {NULL, NULL, 0};
    hd_arc_verify_opts o;
    hd_arc_verify_opts_init(&o, (int64_t)time(NULL));
    bool json = false;
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &dopts))
                return CLI_USAGE;
            break;
        case 'j': json = true; break;
        case 'N':
            if (!cli_parse_long("--now", optarg, 0, 253402300799LL, &n))
                return CLI_USAGE;
            o.now = n;
            break;
        case 'h': fputs(verify_help, stdout); return CLI_OK;
        default: fputs(verify_help, stderr); return CLI_USAGE;
        }
    }
    const char *input = optind < argc ? argv[optind++] : NULL;
    if (optind != argc) {
        cli_error("arc verify takes one message (see --help)");
        return CLI_USAGE;
    }
    hd_buf msg;
    int rc = cli_read_input(input, HD_LIMIT_MESSAGE_BYTES, &msg);
    if (rc != CLI_OK)
        return rc;
    hd_dns *dns = NULL;
    hd_arc_verifier *v = NULL;
    hd_err err;
    hd_err_clear(&err);
    rc = cli_dns_open(&dopts, &dns);
    if (rc == CLI_OK && hd_arc_verifier_new(&o, &v, &err) != 0)
        rc = CLI_SOFTWARE;
    if (rc == CLI_OK && hd_arc_verify_run(v, hd_buf_slice(&msg), dns, &err) != 0) {
        cli_error("%s: %s", input ? input : "message", hd_err_str(&err));
        rc = CLI_DATAERR;
    }
    if (rc == CLI_OK) {
        const hd_arc_result *r = hd_arc_verify_result(v);
        if (json) {
            json_t *sets = json_array();
            for (size_t i = 0; i < hd_arc_verify_nsets(v); i++)
                json_array_append_new(sets, set_json(hd_arc_verify_set(v, i)));
            json_t *out = json_pack("{s:s, s:s, s:i, s:i, s:o}", "cv", hd_arc_cv_name(r->cv),
                                    "reason", r->reason, "failed_instance", (int)r->failed_instance,
                                    "oldest_pass", (int)r->oldest_pass, "instances", sets);
            json_dumpf(out, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(out);
        } else {
            hd_buf ar;
            hd_buf_init(&ar, 4096);
            hd_arc_result_to_ar(r, &ar);
            printf("%s\n%s\n", hd_buf_cstr(&ar), r->reason);
            for (size_t i = 0; i < hd_arc_verify_nsets(v); i++) {
                const hd_arc_set_info *s = hd_arc_verify_set(v, i);
                printf("  i=%u sealed by %s (cv=%s): seal %s; message signature %s\n", s->instance,
                       s->as_domain, hd_arc_cv_name(s->seal_cv), s->as_reason, s->ams_reason);
            }
            hd_buf_free(&ar);
        }
        rc = r->cv == HD_ARC_PASS ? CLI_OK : r->cv == HD_ARC_FAIL ? CLI_FAIL : CLI_NONE;
    }
    hd_arc_verifier_free(v);
    hd_dns_free(dns);
    hd_buf_free(&msg);
    return rc;
}

static const char seal_help[] =
    "usage: herald arc seal --domain D --selector S --key FILE [--timestamp T|now]\n"
    "                       [--authserv-id ID] [--headers LIST] [--ip IP --helo NAME\n"
    "                       --mail-from ADDR] [--authres TEXT]\n"
    "                       [--dns-zone F | --dns-server A] [MESSAGE]\n"
    "\n"
    "Add an ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results)\n"
    "to MESSAGE as an intermediary (a forwarder or list) would, and print the\n"
    "sealed message. The AAR records our own verdict: DKIM of the message, SPF\n"
    "when --ip is given, and the existing chain's cv; or, with --authres,\n"
    "the given text (\"authserv-id; dkim=pass ...\"): the verdict taken when\n"
    "the message arrived, before a list changed it. RSA or Ed25519 keys.\n"
    "\n"
    "Exit: 0 sealed, 1 not sealed because the chain already failed (RFC 8617\n"
    "§5.1), 64 usage, 65 message, 66 key or message unreadable.\n";

/* Our assessment for the AAR: "authserv; dkim=...; spf=...; arc=...". */
static void assess(const char *authserv, hd_slice msg, hd_dns *dns, const hd_arc_result *chain,
                   const char *ip, const char *helo, const char *mail_from, int64_t now, hd_buf *out)
{
    hd_buf_printf(out, "%s", authserv);
    hd_dkim_verify_opts o;
    hd_dkim_verify_opts_init(&o, now);
    hd_dkim_verifier *dv = NULL;
    hd_err err;
    if (hd_dkim_verifier_new(&o, &dv, &err) == 0 && hd_dkim_verify_run(dv, msg, dns, &err) == 0) {
        for (size_t i = 0; i < hd_dkim_verify_count(dv); i++) {
            hd_buf_append_cstr(out, "; ");
            hd_dkim_result_to_ar(hd_dkim_verify_result(dv, i), out);
        }
        if (hd_dkim_verify_count(dv) == 0)
            hd_buf_append_cstr(out, "; dkim=none");
    }
    hd_dkim_verifier_free(dv);
    if (ip != NULL) {
        hd_spf_request req = {.ip = ip, .sender = mail_from, .helo = helo, .now = now};
        hd_spf *spf = NULL;
        if (hd_spf_new(&req, NULL, &spf, &err) == 0 && hd_spf_run(spf, dns, &err) == 0) {
            hd_buf_append_cstr(out, "; ");
            hd_spf_to_ar(spf, out);
        }
        hd_spf_free(spf);
    }
    hd_buf_append_cstr(out, "; ");
    hd_arc_result_to_ar(chain, out);
    for (size_t i = 0; i < out->len; i++) /* the AAR is one line */
        if (out->p[i] == '\r' || out->p[i] == '\n')
            out->p[i] = ' ';
}

static int arc_seal(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"domain", required_argument, NULL, 'd'}, {"selector", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'}, {"timestamp", required_argument, NULL, 'T'},
        {"authserv-id", required_argument, NULL, 'A'}, {"headers", required_argument, NULL, 'H'},
        {"ip", required_argument, NULL, 'i'}, {"helo", required_argument, NULL, 'E'},
        {"mail-from", required_argument, NULL, 'm'}, CLI_DNS_LONGOPTS,
        {"authres", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *given_authres = NULL;
    hd_arc_seal_opts so;
    hd_arc_seal_opts_init(&so);
    const char *keyfile = NULL, *ip = NULL, *helo = NULL, *mail_from = "";
    char authserv[256] = "";
    cli_dns_opts dopts = {NULL, NULL, 0};
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "d:s:k:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': so.domain = optarg; break;
        case 's': so.selector = optarg; break;
        case 'k': keyfile = optarg; break;
        case 'T':
            if (strcmp(optarg, "now") == 0)
                so.timestamp = (int64_t)time(NULL);
            else if (cli_parse_long("--timestamp", optarg, 0, 253402300799LL, &n))
                so.timestamp = n;
            else
                return CLI_USAGE;
            break;
        case 'A': snprintf(authserv, sizeof authserv, "%s", optarg); break;
        case 'H': so.headers = optarg; break;
        case 'i': ip = optarg; break;
        case 'E': helo = optarg; break;
        case 'm': mail_from = optarg; break;
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &dopts))
                return CLI_USAGE;
            break;
        case 'R': given_authres = optarg; break;
        case 'h': fputs(seal_help, stdout); return CLI_OK;
        default: fputs(seal_help, stderr); return CLI_USAGE;
        }
    }
    const char *input = optind < argc ? argv[optind++] : NULL;
    if (optind != argc || so.domain == NULL || so.selector == NULL || keyfile == NULL) {
        cli_error("arc seal needs --domain, --selector and --key (see --help)");
        return CLI_USAGE;
    }
    for (const char *p = authserv; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == ';') {
            cli_error("--authserv-id \"%s\": a name without spaces or ';'", authserv);
            return CLI_USAGE;
        }
    if (authserv[0] == '\0' && gethostname(authserv, sizeof authserv - 1) != 0)
        snprintf(authserv, sizeof authserv, "localhost");
    hd_err err;
    hd_err_clear(&err);
    hd_key *key = NULL;
    if (hd_key_load_private(keyfile, &key, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        return CLI_NOINPUT;
    }
    hd_buf msg = {0}, out, aar;
    hd_buf_init(&out, 1 << 20);
    hd_buf_init(&aar, 1 << 16);
    int rc = cli_read_input(input, HD_LIMIT_MESSAGE_BYTES, &msg);
    hd_dns *dns = NULL;
    hd_arc_verifier *v = NULL;
    hd_arc_sealer *sealer = NULL;
    int64_t now = so.timestamp >= 0 ? so.timestamp : (int64_t)time(NULL);
    if (rc == CLI_OK)
        rc = cli_dns_open(&dopts, &dns);
    if (rc == CLI_OK) {
        hd_arc_verify_opts vo;
        hd_arc_verify_opts_init(&vo, now);
        if (hd_arc_verifier_new(&vo, &v, &err) != 0 ||
            hd_arc_verify_run(v, hd_buf_slice(&msg), dns, &err) != 0 ||
            hd_arc_sealer_new(&so, key, &sealer, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = err.code == HD_EINVAL ? CLI_USAGE : CLI_DATAERR;
        }
    }
    if (rc == CLI_OK) {
        const hd_arc_result *chain = hd_arc_verify_result(v);
        if (given_authres != NULL) /* the verdict taken on arrival, before we changed it */
            hd_buf_append_cstr(&aar, given_authres);
        else
            assess(authserv, hd_buf_slice(&msg), dns, chain, ip, helo, mail_from, now, &aar);
        for (size_t i = 0; i < aar.len; i++)
            if (aar.p[i] == '\r' || aar.p[i] == '\n' || aar.p[i] == '\t')
                aar.p[i] = ' ';
        if (hd_arc_seal(sealer, hd_buf_slice(&msg), chain, hd_buf_cstr(&aar), &out, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_DATAERR;
        } else if (out.len == 0) {
            cli_error("not sealed: the chain's latest seal already says cv=fail (RFC 8617 §5.1)");
            fwrite(msg.p, 1, msg.len, stdout);
            rc = CLI_FAIL;
        } else {
            bool lf = hd_mail_has_bare_lf(hd_buf_slice(&msg));
            for (size_t i = 0; i < out.len; i++)
                if (!(lf && out.p[i] == '\r' && i + 1 < out.len && out.p[i + 1] == '\n'))
                    putchar(out.p[i]);
            fwrite(msg.p, 1, msg.len, stdout);
        }
    }
    hd_arc_sealer_free(sealer);
    hd_arc_verifier_free(v);
    hd_dns_free(dns);
    hd_key_free(key);
    if (msg.p != NULL)
        hd_buf_free(&msg);
    hd_buf_free(&out);
    hd_buf_free(&aar);
    return rc;
}

int cmd_arc(int argc, char **argv)
{
    static const cli_cmd subs[] = {
        {"verify", arc_verify, "validate a message's ARC chain"},
        {"seal", arc_seal, "add an ARC set as an intermediary"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("herald arc", subs, argc, argv);
}
