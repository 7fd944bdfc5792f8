/*
 * cmd_verify.c - `herald verify`: a receiver's full verdict for one
 * message: SPF, every DKIM signature, DMARC; the Authentication-Results
 * header, every field as JSON, and a diagnosis a mail admin can act on.
 */
#include "cli.h"

#include <herald/arc.h>
#include <herald/authres.h>
#include <herald/dkim.h>
#include <herald/dmarc.h>
#include <herald/explain.h>
#include <herald/limits.h>
#include <herald/mail.h>
#include <herald/spf.h>

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
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
    "Exit: 0 DMARC pass, 1 DMARC fail, 4 no DMARC record (none), 75 a\n"
    "temporary DNS failure decided the verdict, 64 usage, 65 unparseable message.\n";

typedef struct facts {
    char ip[64], helo[256], mail_from[512];
    bool guessed;
    char from_domain[256];
    bool multiple_from;
    char list_id[256];
    bool subject_tagged;
} facts;

static void field_text(const hd_hdr_field *f, char *out, size_t len)
{
    hd_slice v = hd_slice_trim_wsp(f->value);
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 1 < len; i++)
        if (v.p[i] != '\r' && v.p[i] != '\n')
            out[o++] = (char)v.p[i];
    out[o] = '\0';
}

/* "from HELO (... [IP]) by ..." in the topmost Received field. */
static void facts_from_received(const hd_msg *m, facts *f, bool want_ip, bool want_helo)
{
    size_t i = hd_msg_find(m, "Received", 0);
    if (i == (size_t)-1)
        return;
    char text[1024];
    field_text(hd_msg_field(m, i), text, sizeof text);
    const char *p = strstr(text, "from ");
    if (want_helo && p != NULL) {
        p += 5;
        size_t n = strcspn(p, " \t(;");
        snprintf(f->helo, sizeof f->helo, "%.*s", (int)n, p);
        f->guessed = true;
    }
    const char *lb = strchr(text, '[');
    if (want_ip && lb != NULL) {
        lb++;
        if (strncasecmp(lb, "IPv6:", 5) == 0)
            lb += 5;
        size_t n = strcspn(lb, "]");
        snprintf(f->ip, sizeof f->ip, "%.*s", (int)n, lb);
        f->guessed = true;
    }
}

static int message_facts(const hd_msg *m, facts *f, bool have_mail_from, bool have_ip,
                         bool have_helo)
{
    size_t i = hd_msg_find(m, "From", 0);
    if (i == (size_t)-1) {
        cli_error("the message has no From field: DMARC needs one");
        return CLI_DATAERR;
    }
    hd_addr_list from;
    hd_err err;
    hd_err_clear(&err);
    if (hd_addr_parse_from(hd_msg_field(m, i)->value, &from, &f->multiple_from, &err) != 0) {
        cli_error("From field (line %zu): %s", hd_msg_field(m, i)->line, hd_err_str(&err));
        return CLI_DATAERR;
    }
    f->multiple_from |= hd_msg_count(m, "From") > 1;
    snprintf(f->from_domain, sizeof f->from_domain, "%s", from.v[0].domain ? from.v[0].domain : "");
    hd_addr_list_free(&from);
    if (!have_mail_from && (i = hd_msg_find(m, "Return-Path", 0)) != (size_t)-1) {
        char rp[512];
        field_text(hd_msg_field(m, i), rp, sizeof rp);
        char *lt = strchr(rp, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt != NULL && gt != NULL)
            snprintf(f->mail_from, sizeof f->mail_from, "%.*s", (int)(gt - lt - 1), lt + 1);
        f->guessed = true;
    }
    facts_from_received(m, f, !have_ip, !have_helo);
    if ((i = hd_msg_find(m, "List-Id", 0)) != (size_t)-1)
        field_text(hd_msg_field(m, i), f->list_id, sizeof f->list_id);
    if ((i = hd_msg_find(m, "Subject", 0)) != (size_t)-1) {
        char subj[256];
        field_text(hd_msg_field(m, i), subj, sizeof subj);
        f->subject_tagged = subj[0] == '[' && strchr(subj, ']') != NULL;
    }
    return CLI_OK;
}

typedef struct verdicts {
    hd_spf *spf;
    hd_dkim_verifier *dkim;
    hd_dmarc *dmarc;
    hd_arc_verifier *arc;
} verdicts;

static int run_checks(const facts *f, hd_slice msg, hd_dns *dns, const hd_dmarc_psl *psl,
                      int64_t now, verdicts *v)
{
    hd_err err;
    hd_err_clear(&err);
    hd_dns_cache *cache = hd_dns_cache_new(256, 3600, 60);
    if (f->ip[0]) {
        hd_spf_request req = {.ip = f->ip, .sender = f->mail_from, .helo = f->helo, .now = now};
        hd_spf_opts so = {.cache = cache};
        if (hd_spf_new(&req, &so, &v->spf, &err) != 0 || hd_spf_run(v->spf, dns, &err) != 0) {
            cli_error("SPF: %s", hd_err_str(&err));
            hd_spf_free(v->spf);
            v->spf = NULL;
        }
    }
    hd_dkim_verify_opts dko;
    hd_dkim_verify_opts_init(&dko, now);
    if (hd_dkim_verifier_new(&dko, &v->dkim, &err) != 0 ||
        hd_dkim_verify_run(v->dkim, msg, dns, &err) != 0) {
        cli_error("DKIM: %s", hd_err_str(&err));
        hd_dns_cache_free(cache);
        return err.code == HD_ENOMEM ? CLI_SOFTWARE : CLI_DATAERR;
    }
    hd_arc_verify_opts ao;
    hd_arc_verify_opts_init(&ao, now);
    ao.same_message_dkim = v->dkim; /* started on msg just above */
    if (hd_arc_verifier_new(&ao, &v->arc, &err) != 0 || hd_arc_verify_run(v->arc, msg, dns, &err) != 0) {
        cli_error("ARC: %s", hd_err_str(&err));
        hd_arc_verifier_free(v->arc);
        v->arc = NULL;
    }
    hd_dmarc_request dr = {.from_domain = f->from_domain, .now = now,
                           .mode = psl ? HD_DMARC_RFC7489 : HD_DMARC_RFC9989, .psl = psl,
                           .pct_roll = (unsigned)(now % 100)};
    if (v->spf != NULL) {
        const hd_spf_verdict *s = hd_spf_get_verdict(v->spf);
        dr.spf_domain = s->domain;
        dr.spf_pass = s->result == HD_SPF_PASS;
    }
    for (size_t i = 0; i < hd_dkim_verify_count(v->dkim) && dr.ndkim < HD_DMARC_MAX_DKIM; i++) {
        const hd_dkim_result *r = hd_dkim_verify_result(v->dkim, i);
        if (r->result == HD_DKIM_PASS)
            dr.dkim_domains[dr.ndkim++] = r->domain;
    }
    hd_dmarc_opts dopts = {.cache = cache};
    if (f->from_domain[0] &&
        (hd_dmarc_new(&dr, &dopts, &v->dmarc, &err) != 0 || hd_dmarc_run(v->dmarc, dns, &err) != 0)) {
        cli_error("DMARC: %s", hd_err_str(&err));
        hd_dmarc_free(v->dmarc);
        v->dmarc = NULL;
    }
    hd_dns_cache_free(cache);
    return CLI_OK;
}

/* One Authentication-Results field (RFC 8601) from the method fragments,
 * through the builder, which folds it and checks it parses back. */
static int build_ar(const char *authserv, const verdicts *v, hd_buf *ar, hd_err *err)
{
    hd_buf frag[HD_LIMIT_DKIM_SIGNATURES + 8];
    hd_slice parts[HD_LIMIT_DKIM_SIGNATURES + 8];
    size_t n = 0, max = sizeof frag / sizeof frag[0];
    for (size_t i = 0; i < max; i++)
        hd_buf_init(&frag[i], 8192);
    if (v->spf != NULL)
        hd_spf_to_ar(v->spf, &frag[n++]);
    for (size_t i = 0; i < hd_dkim_verify_count(v->dkim) && n + 3 < max; i++)
        hd_dkim_result_to_ar(hd_dkim_verify_result(v->dkim, i), &frag[n++]);
    if (hd_dkim_verify_count(v->dkim) == 0)
        hd_buf_append_cstr(&frag[n++], "dkim=none (no signatures)");
    if (v->dmarc != NULL)
        hd_dmarc_to_ar(hd_dmarc_get_verdict(v->dmarc), &frag[n++]);
    if (v->arc != NULL && hd_arc_verify_result(v->arc)->cv != HD_ARC_NONE)
        hd_arc_result_to_ar(hd_arc_verify_result(v->arc), &frag[n++]);
    for (size_t i = 0; i < n; i++)
        parts[i] = hd_buf_slice(&frag[i]);
    int rc = hd_authres_build(authserv, parts, n, ar, err);
    for (size_t i = 0; i < max; i++)
        hd_buf_free(&frag[i]);
    /* the field ends in CRLF: print it without */
    while (rc == 0 && ar->len > 0 && (ar->p[ar->len - 1] == '\n' || ar->p[ar->len - 1] == '\r'))
        ar->p[--ar->len] = '\0';
    return rc;
}

/* Does the oldest ARC set's AAR record a DKIM pass for the From domain?
 * (What a forwarder saw before it changed the message.) */
static bool arc_vouches(const hd_arc_verifier *a, const char *from)
{
    if (hd_arc_verify_nsets(a) == 0)
        return false;
    const hd_arc_set_info *first = hd_arc_verify_set(a, 0);
    if (first->aar == NULL)
        return false;
    char want[300];
    snprintf(want, sizeof want, "header.d=%s", from);
    hd_slice aar = hd_slice_cstr(first->aar);
    for (size_t i = 0; want[i]; i++) /* AAR text and domains compare case-insensitively */
        want[i] = (char)((want[i] >= 'A' && want[i] <= 'Z') ? want[i] + 32 : want[i]);
    char lower[HD_ARC_AAR_KEPT_BYTES + 1];
    size_t n = aar.len < HD_ARC_AAR_KEPT_BYTES ? aar.len : HD_ARC_AAR_KEPT_BYTES;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)((aar.p[i] >= 'A' && aar.p[i] <= 'Z') ? aar.p[i] + 32 : aar.p[i]);
    lower[n] = '\0';
    return strstr(lower, "dkim=pass") != NULL && strstr(lower, want) != NULL;
}

static json_t *dkim_json(const hd_dkim_result *r)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "result", hd_dkim_result_name(r->result),
                     "reason", r->reason, "reason_code", hd_dkim_reason_name(r->reason_code),
                     "domain", r->domain, "selector", r->selector, "algorithm", r->algorithm,
                     "header_b", r->header_b, "key_bits", (int)r->key_bits);
}

static void print_json(const facts *f, const verdicts *v, const hd_buf *ar, const hd_buf *expl)
{
    json_t *o = json_object();
    json_object_set_new(o, "from_domain", json_string(f->from_domain));
    json_object_set_new(o, "connection", json_pack("{s:s, s:s, s:s, s:b}", "ip", f->ip, "helo", f->helo,
                                                   "mail_from", f->mail_from, "from_message", f->guessed));
    if (v->spf != NULL) {
        const hd_spf_verdict *s = hd_spf_get_verdict(v->spf);
        json_object_set_new(o, "spf", json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "result",
                                                hd_spf_result_name(s->result), "domain", s->domain,
                                                "mechanism", s->mechanism, "reason", s->reason,
                                                "explanation", s->explanation, "dns_lookups",
                                                (int)s->dns_lookups, "void_lookups", (int)s->void_lookups));
    } else {
        json_object_set_new(o, "spf", json_null());
    }
    json_t *dk = json_array();
    for (size_t i = 0; i < hd_dkim_verify_count(v->dkim); i++)
        json_array_append_new(dk, dkim_json(hd_dkim_verify_result(v->dkim, i)));
    json_object_set_new(o, "dkim", dk);
    if (v->dmarc != NULL) {
        const hd_dmarc_verdict *d = hd_dmarc_get_verdict(v->dmarc);
        json_object_set_new(
            o, "dmarc",
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s}", "result",
                      hd_dmarc_result_name(d->result), "mode", d->mode == HD_DMARC_RFC7489 ? "rfc7489" : "rfc9989",
                      "record_domain", d->record_domain, "organizational_domain", d->org_domain,
                      "policy_tag", d->policy_tag, "policy", hd_dmarc_policy_name(d->policy),
                      "disposition", hd_dmarc_policy_name(d->disposition), "spf_aligned", d->spf_aligned,
                      "dkim_aligned", d->dkim_aligned, "reason", d->reason));
    } else {
        json_object_set_new(o, "dmarc", json_null());
    }
    if (v->arc != NULL) {
        const hd_arc_result *r = hd_arc_verify_result(v->arc);
        json_object_set_new(o, "arc", json_pack("{s:s, s:s, s:i, s:i, s:i}", "cv", hd_arc_cv_name(r->cv),
                                                "reason", r->reason, "sets", (int)r->nsets,
                                                "failed_instance", (int)r->failed_instance,
                                                "oldest_pass", (int)r->oldest_pass));
    }
    json_object_set_new(o, "authentication_results", json_string(hd_buf_cstr(ar)));
    if (expl != NULL)
        json_object_set_new(o, "explanation", json_string(hd_buf_cstr(expl)));
    json_dumpf(o, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(o);
}

static int exit_code(const verdicts *v)
{
    if (v->dmarc == NULL)
        return 4;
    switch (hd_dmarc_get_verdict(v->dmarc)->result) {
    case HD_DMARC_PASS: return CLI_OK;
    case HD_DMARC_FAIL: return CLI_FAIL;
    case HD_DMARC_TEMPERROR: return CLI_TEMPFAIL;
    default: return 4;
    }
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
    bool json = false, explain = false, rfc7489 = false, have_ip = false, have_helo = false,
         have_mf = false;
    const char *psl_file = NULL;
    char authserv[256] = "";
    int64_t now = (int64_t)time(NULL);
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "i:H:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': snprintf(f.ip, sizeof f.ip, "%s", optarg); have_ip = true; break;
        case 'H': snprintf(f.helo, sizeof f.helo, "%s", optarg); have_helo = true; break;
        case 'm': snprintf(f.mail_from, sizeof f.mail_from, "%s", optarg); have_mf = true; break;
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
    hd_msg *m = NULL;
    hd_err err;
    hd_err_clear(&err);
    hd_msg_limits header_only = {.header_only = true};
    if (hd_msg_parse(hd_buf_slice(&msg), &header_only, &m, &err) != 0) {
        cli_error("%s: %s", input ? input : "message", hd_err_str(&err));
        hd_buf_free(&msg);
        return CLI_DATAERR;
    }
    rc = message_facts(m, &f, have_mf, have_ip, have_helo);
    hd_msg_free(m);
    hd_dmarc_psl *psl = NULL;
    if (rc == CLI_OK && rfc7489 && hd_dmarc_psl_load(psl_file, &psl, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_NOINPUT;
    }
    hd_dns *dns = NULL;
    verdicts v = {0};
    if (rc == CLI_OK)
        rc = cli_dns_open(&dopts, &dns);
    if (rc == CLI_OK)
        rc = run_checks(&f, hd_buf_slice(&msg), dns, psl, now, &v);
    if (rc == CLI_OK) {
        hd_buf ar, expl;
        hd_buf_init(&ar, 1 << 16);
        hd_buf_init(&expl, 1 << 16);
        if (build_ar(authserv, &v, &ar, &err) != 0) {
            cli_error("building Authentication-Results: %s", hd_err_str(&err));
            rc = CLI_SOFTWARE;
        }
        if (explain) {
            hd_dkim_result *dk = calloc(hd_dkim_verify_count(v.dkim) + 1, sizeof *dk);
            for (size_t i = 0; dk != NULL && i < hd_dkim_verify_count(v.dkim); i++)
                dk[i] = *hd_dkim_verify_result(v.dkim, i);
            hd_explain_input in = {
                .from_domain = f.from_domain, .multiple_from = f.multiple_from, .ip = f.ip,
                .mail_from = f.mail_from, .helo = f.helo, .facts_guessed = f.guessed,
                .spf = v.spf ? hd_spf_get_verdict(v.spf) : NULL, .dkim = dk,
                .ndkim = dk ? hd_dkim_verify_count(v.dkim) : 0,
                .dmarc = v.dmarc ? hd_dmarc_get_verdict(v.dmarc) : NULL,
                .list_id = f.list_id[0] ? f.list_id : NULL, .subject_tagged = f.subject_tagged,
            };
            if (v.arc != NULL && hd_arc_verify_result(v.arc)->cv != HD_ARC_NONE) {
                const hd_arc_result *r = hd_arc_verify_result(v.arc);
                in.arc_present = true;
                in.arc_cv = hd_arc_cv_name(r->cv);
                size_t ns = hd_arc_verify_nsets(v.arc);
                in.arc_sealer = ns ? hd_arc_verify_set(v.arc, ns - 1)->as_domain : "?";
                in.arc_vouches_dkim = arc_vouches(v.arc, f.from_domain);
            }
            hd_explain(&in, &expl);
            free(dk);
        }
        if (json) {
            print_json(&f, &v, &ar, explain ? &expl : NULL);
        } else {
            if (f.guessed)
                printf("(connection facts taken from the message: ip %s, helo %s, mail from <%s>)\n",
                       f.ip[0] ? f.ip : "?", f.helo[0] ? f.helo : "?", f.mail_from);
            printf("%s\n", hd_buf_cstr(&ar));
            if (explain)
                printf("\n%s", hd_buf_cstr(&expl));
        }
        if (rc == CLI_OK)
            rc = exit_code(&v);
        hd_buf_free(&ar);
        hd_buf_free(&expl);
    }
    hd_spf_free(v.spf);
    hd_dkim_verifier_free(v.dkim);
    hd_dmarc_free(v.dmarc);
    hd_arc_verifier_free(v.arc);
    hd_dns_free(dns);
    hd_dmarc_psl_free(psl);
    hd_buf_free(&msg);
    return rc;
}
