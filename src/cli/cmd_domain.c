/*
 * cmd_domain.c - `herald domain add|list|show|remove|rotate-key`: sending
 * domains, their DKIM keys, and the DNS records to publish for them.
 *
 * The text output of add, show and rotate-key is a zone file: the records
 * with a "; purpose" comment each, and every other line a comment, so it
 * can be pasted into a zone or given to --dns-zone as it is.
 */
#include "cli/cli.h"
#include "cli/domain_keys.h"

#include <herald/config.h>

#include <herald/dmarc.h>
#include <herald/domain.h>
#include <herald/json.h>
#include <herald/store.h>

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DATA_DIR "./herald-data"
#define MAX_SIGNING_KEYS 8

/* Shared ---------------------------------------------------------------------- */

/* Exit code for a library error (docs/cli.md "herald domain"). */
static int exit_for(int rc)
{
    switch (rc) {
    case HD_EINVAL:
    case HD_ELIMIT: return CLI_USAGE;
    case HD_ENOTFOUND:
    case HD_ESTATE: return CLI_DATAERR;
    case HD_EIO: return CLI_CANTCREAT;
    case HD_ETEMP: return CLI_TEMPFAIL;
    case HD_EPERM: return CLI_NOPERM;
    default: return CLI_SOFTWARE;
    }
}

static int fail(const hd_err *err, int rc)
{
    cli_error("%s", hd_err_str(err));
    return exit_for(rc);
}

typedef struct dom_args {
    const char *data_dir, *hostname, *selector, *bounce, *config;
    bool data_dir_given, hostname_given, activate_now, no_dns;
    cli_dns_opts dns; /* add's DMARC lookup, show's key checks */
    const char *addresses[HD_DOMAIN_MAX_ADDRESSES + 1];
    size_t n_addresses;
    unsigned algs;
    long long grace, now;
    bool json;
    char host_buf[256];
} dom_args;

static int open_data(const dom_args *a, hd_store **st, char *keys, size_t size)
{
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_domain_data_dir_open(a->data_dir, st, keys, size, &err);
    return rc ? fail(&err, rc) : CLI_OK;
}

/* For a command that only reads: the database must exist, and nothing is
 * made or changed (a mistyped --data-dir creates nothing). */
static int open_reader(const dom_args *a, hd_store **st)
{
    return cli_open_store(NULL, a->data_dir, "no domain has been added with this data "
                                             "directory: herald domain add", st);
}

/* The server's name for the records: --hostname, else this host's name,
 * which must then be a full domain name; and the --address values. */
static int resolve_hostname(dom_args *a)
{
    if (a->hostname == NULL) {
        if (gethostname(a->host_buf, sizeof a->host_buf - 1) != 0)
            a->host_buf[0] = '\0';
        a->host_buf[sizeof a->host_buf - 1] = '\0';
        a->hostname = a->host_buf;
    }
    char norm[HD_STORE_NAME_MAX];
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_name_normalize(a->hostname, norm, sizeof norm, &err) != 0) {
        cli_error("hostname \"%s\" is not a full domain name: give --hostname (the server's "
                  "public name, which the bounce domain's MX names)",
                  a->hostname);
        return CLI_USAGE;
    }
    hd_domain_dns_opts o = {a->hostname, a->addresses, a->n_addresses};
    if (hd_domain_dns_opts_check(&o, &err) != 0)
        return fail(&err, err.code);
    return CLI_OK;
}

/* "7d", "36h", "90m", "600s" or "600" (seconds), at most a year. */
static bool parse_grace(const char *s, long long *out)
{
    size_t len = strlen(s);
    long long unit = 1;
    char num[32];
    if (len == 0 || len >= sizeof num)
        return false;
    memcpy(num, s, len + 1);
    switch (num[len - 1]) {
    case 'd': unit = 86400; break;
    case 'h': unit = 3600; break;
    case 'm': unit = 60; break;
    case 's': unit = 1; break;
    default: len++; break;
    }
    num[len - 1] = '\0';
    long long v;
    if (!cli_parse_long("--grace", num, 0, 366LL * 86400 / unit, &v))
        return false;
    *out = v * unit;
    return true;
}

/* Common options: the longopts every subcommand shares. Their values lie
 * past any character, so the DNS options' letters ('D' is --dns-server's)
 * cannot collide with them. */
enum {
    OPT_DATA = 0x100, OPT_HOST, OPT_ADDR, OPT_JSON, OPT_NOW, OPT_CONFIG, OPT_ACTIVATE_NOW,
    OPT_NO_DNS
};

#define COMMON_LONGOPTS                                                                        \
    {"data-dir", required_argument, NULL, OPT_DATA}, {"help", no_argument, NULL, 'h'},        \
        {"now", required_argument, NULL, OPT_NOW}, {"config", required_argument, NULL, OPT_CONFIG}
#define DNS_REC_LONGOPTS                                                                       \
    {"hostname", required_argument, NULL, OPT_HOST}, {"address", required_argument, NULL, OPT_ADDR}

#define COMMON_HELP                                                                            \
    "      --data-dir DIR      herald's data directory (default ./herald-data; add\n"         \
    "                          makes it, 0700, if missing): DIR/herald.db, DIR/keys/\n"       \
    "      --config FILE       the server's configuration: its data_dir, hostname and\n"      \
    "                          pool addresses are the defaults of the options here\n"
#define DNS_REC_HELP                                                                           \
    "      --hostname H        the server's public name: the bounce domain's MX, and\n"        \
    "                          SPF's a: without --address (default: this host's name)\n"       \
    "      --address IP[/N]    an address the server sends from, for SPF (repeat;\n"           \
    "                          at most 16)\n"

/* Handle an option every subcommand shares; false when it was not one. */
static bool common_option(int c, const char *arg, dom_args *a, int *rc)
{
    switch (c) {
    case OPT_DATA: a->data_dir = arg; a->data_dir_given = true; return true;
    case OPT_CONFIG: a->config = arg; return true;
    case OPT_HOST: a->hostname = arg; a->hostname_given = true; return true;
    case OPT_JSON: a->json = true; return true;
    case OPT_ADDR:
        if (a->n_addresses == HD_DOMAIN_MAX_ADDRESSES) {
            cli_error("at most %d --address options", HD_DOMAIN_MAX_ADDRESSES);
            *rc = CLI_USAGE;
        } else {
            a->addresses[a->n_addresses++] = arg;
        }
        return true;
    case OPT_NOW:
        if (!cli_parse_long("--now", arg, 0, 253402300799LL, &a->now))
            *rc = CLI_USAGE;
        return true;
    default: return false;
    }
}

/* The configuration stays loaded until the program ends: dom_args
 * borrows its strings. */
static hd_config *loaded_config;

static void free_config(void)
{
    hd_config_free(loaded_config);
}

/* --config: the server's data_dir, hostname and sending addresses (every
 * pool's) fill in what the command line did not give. */
static int apply_config(dom_args *a)
{
    int rc = cli_load_config(a->config, &loaded_config);
    if (rc)
        return rc;
    atexit(free_config);
    const hd_config *cfg = loaded_config;
    if (!a->data_dir_given)
        a->data_dir = cfg->data_dir;
    if (!a->hostname && strchr(cfg->hostname, '.'))
        a->hostname = cfg->hostname;
    if (!a->dns.zone && !a->dns.server) { /* the resolver the server uses */
        a->dns.zone = cfg->dns.zone_file;
        a->dns.server = cfg->dns.resolver;
        if (a->dns.timeout_ms == 0)
            a->dns.timeout_ms = cfg->dns.timeout_ms;
    }
    for (size_t p = 0; a->n_addresses == 0 && p < cfg->n_pools; p++)
        for (size_t i = 0; i < cfg->pools[p].n_addresses; i++) {
            if (a->n_addresses == HD_DOMAIN_MAX_ADDRESSES) {
                cli_error("%s: more than %d pool addresses; give --address", a->config,
                          HD_DOMAIN_MAX_ADDRESSES);
                return CLI_USAGE;
            }
            a->addresses[a->n_addresses++] = cfg->pools[p].addresses[i];
        }
    return CLI_OK;
}

/* Parse argv against longopts; the one positional DOMAIN (if want_domain)
 * goes to *domain. Returns CLI_OK, a code, or -1 after --help. */
static int parse(int argc, char **argv, const char *shortopts, const struct option *longopts,
                 const char *help, bool want_domain, dom_args *a, const char **domain)
{
    memset(a, 0, sizeof *a);
    a->data_dir = DEFAULT_DATA_DIR;
    a->grace = HD_DOMAIN_GRACE_DEFAULT;
    a->now = (long long)time(NULL);
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (common_option(c, optarg, a, &rc))
            continue;
        switch (c) {
        case 's': a->selector = optarg; break;
        case 'b': a->bounce = optarg; break;
        case 'r': a->algs = HD_DOMAIN_ALG_RSA; break;
        case 'e': a->algs = HD_DOMAIN_ALG_ED25519; break;
        case 'g':
            if (!parse_grace(optarg, &a->grace)) {
                cli_error("--grace %s: use a duration like 7d, 36h, 90m or 600s (at most 366d)",
                          optarg);
                rc = CLI_USAGE;
            }
            break;
        case OPT_ACTIVATE_NOW: a->activate_now = true; break;
        case OPT_NO_DNS: a->no_dns = true; break;
        CLI_DNS_CASES:
            if (!cli_dns_option(c, optarg, &a->dns))
                rc = CLI_USAGE;
            break;
        case 'h': fputs(help, stdout); return -1;
        default: fputs(help, stderr); return CLI_USAGE;
        }
    }
    if (rc == CLI_OK && a->config)
        rc = apply_config(a);
    if (rc != CLI_OK)
        return rc;
    if (want_domain && optind < argc)
        *domain = argv[optind++];
    if (optind != argc || (want_domain && *domain == NULL)) {
        cli_error("%s (see --help)", want_domain ? "give one DOMAIN" : "no arguments expected");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Records ------------------------------------------------------------------------ */

static int get_records(hd_store *st, const char *domain, const dom_args *a,
                       hd_domain_record **r, size_t *n)
{
    hd_domain_dns_opts o = {a->hostname, a->addresses, a->n_addresses};
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_domain_records_at(st, domain, &o, a->now, r, n, &err);
    return rc ? fail(&err, rc) : CLI_OK;
}

/* Print the records of the given kinds (all when only_dkim is false). */
static int print_zone(const hd_domain_record *r, size_t n, bool only_dkim)
{
    hd_buf out;
    hd_buf_init(&out, 1 << 20);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (only_dkim && r[i].kind != HD_DOMAIN_REC_DKIM)
            continue;
        rc = hd_buf_append_byte(&out, '\n');
        if (rc == 0)
            rc = hd_domain_records_zone(&r[i], 1, &out);
    }
    if (rc == 0)
        fwrite(out.p, 1, out.len, stdout);
    hd_buf_free(&out);
    if (rc != 0) {
        cli_error("records too large to print");
        return CLI_SOFTWARE;
    }
    return CLI_OK;
}

static const char *kind_name(hd_domain_record_kind k)
{
    static const char *const names[] = {"dkim", "spf", "mx", "dmarc"};
    return (unsigned)k < 4 ? names[k] : "?";
}

static json_t *records_json(const hd_domain_record *r, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind",
                                           kind_name(r[i].kind), "name", r[i].name, "type",
                                           r[i].type, "value", r[i].value, "purpose",
                                           r[i].purpose));
    return a;
}

/* Keys ------------------------------------------------------------------------------- */

static int keys_load(hd_store *st, const char *domain, int64_t now, cli_keys *v)
{
    hd_err err;
    hd_err_clear(&err);
    int rc = cli_keys_load(st, domain, now, v, &err);
    return rc ? fail(&err, rc) : CLI_OK;
}

/* The resolver show uses: --dns-zone / --dns-server, else the --config
 * file's [dns], else the system's. NULL (and why) when none could be set
 * up; a bad --dns-zone or --dns-server is the user's error and ends the
 * command. */
static int open_resolver(const dom_args *a, hd_dns **dns, char *why, size_t why_size)
{
    *dns = NULL;
    cli_dns_opts o = a->dns; /* with --config: its [dns] unless given (apply_config) */
    bool asked = a->dns.zone != NULL || a->dns.server != NULL;
    if (o.zone != NULL)
        return cli_dns_open(&o, dns);
    hd_dns_config cfg = {o.server, o.timeout_ms, NULL};
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_unbound(dns, &cfg, &err) != 0) {
        if (asked) {
            cli_error("DNS: %s", hd_err_str(&err));
            return CLI_USAGE;
        }
        snprintf(why, why_size, "no resolver: %s", hd_err_str(&err));
        *dns = NULL;
    }
    return CLI_OK;
}

/* Check the keys' records in the DNS, unless --no-dns. */
static int check_dns(cli_keys *v, const dom_args *a)
{
    char why[300] = "--no-dns";
    hd_dns *dns = NULL;
    if (!a->no_dns) {
        int rc = open_resolver(a, &dns, why, sizeof why);
        if (rc != CLI_OK)
            return rc;
    }
    cli_keys_check(v, dns, why);
    hd_dns_free(dns);
    return CLI_OK;
}

/* add ---------------------------------------------------------------------------------- */

static const char add_help[] =
    "usage: herald domain add DOMAIN [--selector P] [--bounce-domain B]\n"
    "                         [--rsa-only | --ed25519-only] [--hostname H]\n"
    "                         [--address IP]... [--data-dir DIR] [--json]\n"
    "                         [--dns-zone F | --dns-server A] [--dns-timeout MS]\n"
    "\n"
    "Add a sending domain: make its DKIM keys (RSA-2048 and Ed25519: every\n"
    "message is signed with both) in DIR/keys/DOMAIN/ (mode 0600), and print\n"
    "the DNS records to publish, as a zone file with a comment on each: the\n"
    "DKIM keys, the bounce domain's SPF and MX, and DMARC.\n"
    "\n"
    "DMARC: the record published now is looked up first. With none, p=none is\n"
    "suggested, its reports (rua) going to dmarc@BOUNCE-DOMAIN, which herald\n"
    "receives (plus the RFC 9990 authorisation record when the bounce domain is\n"
    "outside DOMAIN's organizational domain). With one, only herald's address\n"
    "is added to its rua; its policy is kept. When the lookup fails, the p=none\n"
    "record comes with a warning that it was not checked.\n"
    "\n"
    "  -s, --selector P        selector prefix: the keys are P-rsa and P-ed\n"
    "                          (default: hd + today's date, e.g. hd20270115)\n"
    "  -b, --bounce-domain B   the MAIL FROM domain herald uses for this domain's\n"
    "                          mail, where bounces return (default bounce.DOMAIN)\n"
    "      --rsa-only          only an RSA key\n"
    "      --ed25519-only      only an Ed25519 key (many receivers cannot check\n"
    "                          Ed25519 yet: RSA alongside is advised)\n"
    DNS_REC_HELP
    COMMON_HELP
    CLI_DNS_HELP
    "                           (with --config: the server's [dns] by default)\n"
    "      --json              print {domain, bounce_domain, hostname, keys, records,\n"
    "                          dmarc, server}\n"
    "      --now T             act as at Unix time T (tests; dates the selector)\n"
    "\n"
    "Exit: 0 added, 64 usage or a bad name, 65 the domain exists, 73 a key file\n"
    "or the data directory cannot be made, 75 the database is busy.\n";

/* What became of telling the running server (item of the output). */
typedef struct told {
    cli_server state;
    char why[CLI_SERVER_WHY_MAX];
} told;

static void tell_server(const dom_args *a, told *t)
{
    t->why[0] = '\0';
    t->state = cli_reload_server(a->data_dir, t->why, sizeof t->why);
}

/* add's DMARC advice: what is published now, then the suggestion --------------- */

typedef struct dmarc_check {
    hd_domain_dmarc_live live;
    hd_domain_dmarc_advice advice;
    hd_dns_answer *own, *applied;    /* TXT sets at _dmarc.DOMAIN and where discovery led */
    hd_slice texts[32];
    hd_dmarc_verdict v;
    char why[400];                   /* FAILED: what went wrong */
} dmarc_check;

static void take_texts(dmarc_check *c, const hd_dns_answer *ans)
{
    c->live.texts = c->texts;
    c->live.n_texts = 0;
    for (size_t i = 0; i < ans->nrr && c->live.n_texts < sizeof c->texts / sizeof c->texts[0];
         i++)
        c->texts[c->live.n_texts++] = hd_slice_make(ans->rr[i].txt, ans->rr[i].txt_len);
}

/* TXT at _dmarc.domain: 0, or 1 when it failed (why filled). */
static int txt_of(hd_dns *dns, const char *domain, hd_dns_answer **ans, dmarc_check *c)
{
    char qname[HD_STORE_NAME_MAX + 8];
    snprintf(qname, sizeof qname, "_dmarc.%s", domain);
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_query(dns, qname, HD_DNS_T_TXT, ans, &err) != 0) {
        snprintf(c->why, sizeof c->why, "%s TXT: %s", qname, hd_err_str(&err));
        return 1;
    }
    hd_dns_status st = (*ans)->status;
    if (st == HD_DNS_SERVFAIL || st == HD_DNS_TIMEOUT || st == HD_DNS_ERROR) {
        snprintf(c->why, sizeof c->why, "%s TXT: %s%s%s", qname, hd_dns_status_name(st),
                 (*ans)->why[0] ? ", " : "", (*ans)->why);
        return 1;
    }
    return 0;
}

/* Look up what applies to domain now (its own record, else what RFC 9989
 * discovery finds above it) and decide the advice. */
static int dmarc_check_run(hd_dns *dns, const char *domain, const char *bounce, dmarc_check *c)
{
    memset(c, 0, sizeof *c);
    c->live.lookup = HD_DOMAIN_DMARC_FAILED;
    hd_err err;
    hd_err_clear(&err);
    if (txt_of(dns, domain, &c->own, c) == 0) {
        if (hd_dmarc_discover(domain, HD_DMARC_RFC9989, NULL, dns, &c->v, &err) != 0)
            snprintf(c->why, sizeof c->why, "DMARC discovery: %s", hd_err_str(&err));
        else if (c->v.result == HD_DMARC_TEMPERROR)
            snprintf(c->why, sizeof c->why, "%s", c->v.reason);
        else
            c->live.lookup = HD_DOMAIN_DMARC_ABSENT;
    }
    if (c->live.lookup != HD_DOMAIN_DMARC_FAILED) {
        c->live.org_domain = c->v.org_domain[0] ? c->v.org_domain : NULL;
        take_texts(c, c->own);
        hd_dmarc_record r;
        bool own = false;
        for (size_t i = 0; i < c->live.n_texts && !own; i++)
            own = hd_dmarc_record_parse(c->texts[i], &r, NULL) == 0;
        if (own) {
            c->live.lookup = HD_DOMAIN_DMARC_PRESENT;
        } else if (c->v.have_record && strcasecmp(c->v.record_domain, domain) != 0) {
            /* the organizational domain's record applies: its exact text */
            if (txt_of(dns, c->v.record_domain, &c->applied, c) != 0) {
                c->live.lookup = HD_DOMAIN_DMARC_FAILED;
            } else {
                c->live.lookup = HD_DOMAIN_DMARC_PRESENT;
                c->live.record_domain = c->v.record_domain;
                take_texts(c, c->applied);
            }
        }
    }
    if (c->live.lookup == HD_DOMAIN_DMARC_FAILED)
        c->live.n_texts = 0;
    int rc = hd_domain_dmarc_advise(domain, bounce, &c->live, &c->advice, &err);
    return rc ? fail(&err, rc) : CLI_OK;
}

static void dmarc_check_free(dmarc_check *c)
{
    hd_domain_dmarc_advice_free(&c->advice);
    hd_dns_answer_free(c->own);
    hd_dns_answer_free(c->applied);
}

static const char *action_name(hd_domain_dmarc_action a)
{
    static const char *const names[] = {"publish", "unchecked", "extend", "nothing", "fix"};
    return (unsigned)a < 5 ? names[a] : "?";
}

/* The suggested record and the authorisation record, as records (0..2). */
static size_t dmarc_records(const dmarc_check *c, hd_domain_record out[2], char *purpose,
                            size_t purpose_size)
{
    const hd_domain_dmarc_advice *a = &c->advice;
    size_t n = 0;
    static char auth_value[] = "v=DMARC1";
    if (a->value) {
        snprintf(purpose, purpose_size, "%s", a->action == HD_DOMAIN_DMARC_EXTEND
            ? "DMARC policy: the record published now, with herald's report address added"
            : "DMARC policy: monitoring first (p=none), aggregate reports to herald");
        out[n++] = (hd_domain_record){HD_DOMAIN_REC_DMARC, (char *)a->name + 0, "TXT",
                                      a->value, purpose};
    }
    if (a->auth_name[0] && a->action != HD_DOMAIN_DMARC_FIX) {
        static char auth_purpose[] =
            "DMARC report authorisation (RFC 9990 §4): the bounce domain takes reports for "
            "the domain, which lies outside its organizational domain";
        out[n++] = (hd_domain_record){HD_DOMAIN_REC_DMARC, (char *)a->auth_name, "TXT",
                                      auth_value, auth_purpose};
    }
    return n;
}

/* "; " + text, wrapped at about 76 columns. */
static void print_comment(const char *text)
{
    const char *p = text;
    while (*p) {
        size_t len = strlen(p);
        size_t cut = len;
        if (len > 74) {
            cut = 74;
            while (cut > 20 && p[cut] != ' ')
                cut--;
            if (p[cut] != ' ') /* no space to break at: a long token, cut it */
                cut = 74;
        }
        printf("; %.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

static int print_dmarc_text(const dmarc_check *c)
{
    const hd_domain_dmarc_advice *a = &c->advice;
    printf("\n");
    if (a->action == HD_DOMAIN_DMARC_UNCHECKED) {
        char line[600];
        snprintf(line, sizeof line, "DMARC: the live record could not be checked (%s).", c->why);
        print_comment(line);
    }
    print_comment(a->note);
    if (a->current) {
        printf("; published now at %s:\n", a->name);
        char line[4200];
        snprintf(line, sizeof line, "  \"%s\"", a->current);
        print_comment(line);
    }
    hd_domain_record r[2];
    char purpose[160];
    size_t n = dmarc_records(c, r, purpose, sizeof purpose);
    int rc = CLI_OK;
    for (size_t i = 0; i < n && rc == CLI_OK; i++)
        rc = print_zone(&r[i], 1, false);
    return rc;
}

static json_t *dmarc_json(const dmarc_check *c)
{
    const hd_domain_dmarc_advice *a = &c->advice;
    json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "action", action_name(a->action), "name",
                          a->name, "checked", a->action != HD_DOMAIN_DMARC_UNCHECKED, "note",
                          a->note);
    json_object_set_new(o, "error", c->why[0] && a->action == HD_DOMAIN_DMARC_UNCHECKED
                                        ? json_string(c->why) : json_null());
    json_object_set_new(o, "current", a->current ? json_string(a->current) : json_null());
    json_object_set_new(o, "suggested", a->value ? json_string(a->value) : json_null());
    json_object_set_new(o, "report_address", json_string(a->rua));
    json_object_set_new(o, "authorization",
                        a->auth_name[0] && a->action != HD_DOMAIN_DMARC_FIX
                            ? json_pack("{s:s, s:s}", "name", a->auth_name, "value", "v=DMARC1")
                            : json_null());
    return o;
}

/* The records without the static DMARC one, which the advice replaces. */
static size_t without_dmarc(const hd_domain_record *r, size_t n)
{
    return n > 0 && r[n - 1].kind == HD_DOMAIN_REC_DMARC ? n - 1 : n;
}

static int print_added(hd_store *st, const char *domain, const char *keys, const dom_args *a,
                       const dmarc_check *dc, const told *t)
{
    hd_domain_record *r;
    size_t n;
    int rc = get_records(st, domain, a, &r, &n);
    if (rc != CLI_OK)
        return rc;
    hd_store_domain d;
    hd_store_domain_get(st, domain, &d, NULL);
    size_t kept = without_dmarc(r, n);
    cli_keys v;
    if ((rc = keys_load(st, domain, a->now, &v)) != CLI_OK) {
        hd_domain_records_free(r, n);
        return rc;
    }
    if (a->json) {
        json_t *recs = records_json(r, kept);
        hd_domain_record dr[2];
        char purpose[160];
        size_t dn = dmarc_records(dc, dr, purpose, sizeof purpose);
        json_t *more = records_json(dr, dn);
        if (dn == 2)
            json_object_set_new(json_array_get(more, 1), "kind",
                                json_string("dmarc-report-authorization"));
        json_array_extend(recs, more);
        json_decref(more);
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "domain", domain,
                              "bounce_domain", d.bounce_domain, "hostname", d.hostname, "keys",
                              cli_keys_json(&v, false), "records", recs, "dmarc",
                              dmarc_json(dc), "server", cli_server_word(t->state));
        if (t->state == CLI_SERVER_NOT_TOLD)
            cli_server_say(t->state, t->why, a->data_dir, "");
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("; herald: domain %s added; bounce domain %s\n", domain, d.bounce_domain);
        cli_server_say(t->state, t->why, a->data_dir, "; herald: ");
        printf("; private keys (mode 0600) in %s/%s/:\n", keys, domain);
        cli_keys_print(&v, false);
        printf(";\n; Publish these records in the DNS:\n");
        rc = print_zone(r, kept, false);
        if (rc == CLI_OK)
            rc = print_dmarc_text(dc);
        bool first = dc->advice.action == HD_DOMAIN_DMARC_PUBLISH ||
                     dc->advice.action == HD_DOMAIN_DMARC_UNCHECKED;
        printf("\n; Next steps:\n"
               ";  1. publish the records above (a DNS host may want each TXT value as one\n"
               ";     string: join the quoted parts);\n"
               ";  2. make sure %s resolves (A/AAAA) to the server: the bounce MX names it;\n"
               ";  3. once published, send a test message to a mailbox that shows its\n"
               ";     Authentication-Results (herald domain show %s prints these again);\n"
               ";  4. read the DMARC reports herald receives at dmarc@%s\n"
               ";     (herald inbound list --kind dmarc)%s\n",
               a->hostname, domain, d.bounce_domain,
               first ? "; when all your mail passes,\n;     raise p=none to p=quarantine, "
                       "then p=reject." : ".");
    }
    cli_keys_free(&v);
    hd_domain_records_free(r, n);
    return rc;
}

/* Warn when SPF alignment is unlikely: a bounce domain not under the
 * domain aligns only if both share an organizational domain, which takes
 * the Public Suffix List to tell. */
static void warn_bounce(hd_store *st, const char *name)
{
    hd_store_domain d;
    if (hd_store_domain_get(st, name, &d, NULL) != 0)
        return;
    size_t bl = strlen(d.bounce_domain), nl = strlen(name);
    if (bl > nl + 1 && strcmp(d.bounce_domain + bl - nl, name) == 0 &&
        d.bounce_domain[bl - nl - 1] == '.')
        return;
    cli_error("warning: bounce domain %s is not under %s: SPF aligns with %s for DMARC only "
              "if both share an organizational domain",
              d.bounce_domain, name, name);
}

static int domain_add(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS, DNS_REC_LONGOPTS,
        {"selector", required_argument, NULL, 's'}, {"bounce-domain", required_argument, NULL, 'b'},
        {"rsa-only", no_argument, NULL, 'r'}, {"ed25519-only", no_argument, NULL, 'e'},
        {"json", no_argument, NULL, OPT_JSON}, CLI_DNS_LONGOPTS, {NULL, 0, NULL, 0}};
    dom_args a;
    const char *domain = NULL;
    int rc = parse(argc, argv, "hs:b:", longopts, add_help, true, &a, &domain);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    char name[HD_STORE_NAME_MAX], keys[4096];
    hd_err err;
    hd_err_clear(&err);
    if (hd_domain_name_normalize(domain, name, sizeof name, &err) != 0)
        return fail(&err, HD_EINVAL);
    /* everything the records need is checked before anything is made */
    if ((rc = resolve_hostname(&a)) != CLI_OK)
        return rc;
    hd_dns *dns = NULL;
    if ((rc = cli_dns_open(&a.dns, &dns)) != CLI_OK)
        return rc;
    hd_store *st;
    if ((rc = open_data(&a, &st, keys, sizeof keys)) != CLI_OK) {
        hd_dns_free(dns);
        return rc;
    }
    hd_store_domain d;
    if (hd_store_domain_get(st, name, &d, NULL) == 0) {
        cli_error("domain %s already exists (herald domain show %s)", name, name);
        hd_store_close(st);
        hd_dns_free(dns);
        return CLI_DATAERR;
    }
    hd_domain_add_opts o = {name, a.bounce, a.selector, a.algs, 0, a.now, a.hostname};
    rc = hd_domain_add(st, keys, &o, &err);
    if (rc != 0) {
        rc = fail(&err, rc);
    } else {
        warn_bounce(st, name);
        /* the server first: the DMARC lookup may wait for the DNS */
        told t;
        tell_server(&a, &t);
        hd_store_domain_get(st, name, &d, NULL);
        dmarc_check dc;
        rc = dmarc_check_run(dns, name, d.bounce_domain, &dc);
        if (rc == CLI_OK && dc.advice.action == HD_DOMAIN_DMARC_UNCHECKED)
            cli_error("warning: the DMARC record of %s could not be checked (%s): the p=none "
                      "record printed is safe only if %s publishes none",
                      name, dc.why, name);
        if (rc == CLI_OK)
            rc = print_added(st, name, keys, &a, &dc, &t);
        else
            cli_error("domain %s was added; herald domain show %s prints its records", name,
                      name);
        dmarc_check_free(&dc);
    }
    hd_store_close(st);
    hd_dns_free(dns);
    return rc;
}

/* list ------------------------------------------------------------------------------- */

static const char list_help[] =
    "usage: herald domain list [--json] [--data-dir DIR] [--now T]\n"
    "\n"
    "List the sending domains with their bounce domain and their keys' state\n"
    "(pending, active, retiring, retired) as at now. It only reads: nothing is\n"
    "created or written (a mistyped --data-dir is an error, not a new database).\n"
    "\n"
    COMMON_HELP
    "      --json              print [{domain, bounce_domain, hostname, created,\n"
    "                          created_unix, keys: [{selector, algorithm, state,\n"
    "                          path, created, activated, retire_at (each with\n"
    "                          _unix), grace_seconds}]}]\n"
    "      --now T             the states as at Unix time T (nothing is written)\n"
    "\n"
    "Exit: 0 done, 64 usage, 66 no database in the data directory, 77 the\n"
    "database is closed to this user.\n";

typedef struct list_ctx {
    hd_store *st;
    json_t *json;
    int64_t now;
    int rc;
} list_ctx;

static json_t *domain_json(const hd_store_domain *d, json_t *keys)
{
    json_t *o = json_pack("{s:s, s:s}", "domain", d->name, "bounce_domain", d->bounce_domain);
    json_object_set_new(o, "hostname", d->hostname[0] ? json_string(d->hostname) : json_null());
    hd_json_set_time(o, "created", d->created);
    json_object_set_new(o, "keys", keys);
    return o;
}

static int list_one(const hd_store_domain *d, void *arg)
{
    list_ctx *c = arg;
    cli_keys v;
    if ((c->rc = keys_load(c->st, d->name, c->now, &v)) != CLI_OK)
        return 1;
    if (c->json) {
        json_array_append_new(c->json, domain_json(d, cli_keys_json(&v, false)));
    } else {
        char when[40];
        cli_when_utc(d->created, when, sizeof when);
        printf("%-30s %-34s %.10s ", d->name, d->bounce_domain, when);
        for (size_t i = 0; i < v.n; i++)
            if (v.at[i] != HD_STORE_KEY_RETIRED)
                printf(" %s%s", v.k[i].selector,
                       v.at[i] == HD_STORE_KEY_RETIRING  ? "(retiring)"
                       : v.at[i] == HD_STORE_KEY_PENDING ? "(pending)"
                                                         : "");
        putchar('\n');
    }
    cli_keys_free(&v);
    return 0;
}

static int domain_list(int argc, char **argv)
{
    static const struct option longopts[] = {COMMON_LONGOPTS,
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {NULL, 0, NULL, 0}};
    dom_args a;
    int rc = parse(argc, argv, "h", longopts, list_help, false, &a, NULL);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    if ((rc = open_reader(&a, &st)) != CLI_OK)
        return rc;
    list_ctx c = {st, a.json ? json_array() : NULL, a.now, CLI_OK};
    if (!a.json)
        printf("%-30s %-34s %-10s  %s\n", "DOMAIN", "BOUNCE DOMAIN", "CREATED",
               "PUBLISHED KEYS");
    hd_err err;
    hd_err_clear(&err);
    int lrc = hd_store_domain_each(st, list_one, &c, &err);
    if (c.rc != CLI_OK)
        rc = c.rc;
    else if (lrc != 0)
        rc = fail(&err, lrc);
    else if (a.json) {
        json_dumpf(c.json, stdout, JSON_INDENT(2));
        putchar('\n');
    }
    json_decref(c.json);
    hd_store_close(st);
    return rc;
}

/* show -------------------------------------------------------------------------------- */

static const char show_help[] =
    "usage: herald domain show DOMAIN [--hostname H] [--address IP]... [--json]\n"
    "                          [--dns-zone FILE | --dns-server A[@P] | --no-dns]\n"
    "                          [--data-dir DIR] [--now T]\n"
    "\n"
    "Show a domain: its keys, their state (pending, active, retiring, retired)\n"
    "and whether each key's DNS record is published and matches the key, and\n"
    "the DNS records to publish (a zone file; DKIM records for pending, active\n"
    "and retiring keys). The hostname stored at `domain add` is used unless\n"
    "--hostname is given. Nothing is written.\n"
    "\n"
    DNS_REC_HELP
    CLI_DNS_HELP
    "      --no-dns             do not look the records up (\"not checked\")\n"
    "                           (with --config and no --dns-zone or --dns-server:\n"
    "                           the resolver of its [dns] section)\n"
    COMMON_HELP
    "      --json              print {domain, bounce_domain, hostname, created,\n"
    "                          created_unix, keys (with dns: matches, missing,\n"
    "                          mismatch, unknown or not_checked, and dns_detail),\n"
    "                          records}\n"
    "      --now T             the states as at Unix time T (nothing is written)\n"
    "\n"
    "Exit: 0 done, 64 usage, 65 no such domain, 66 no database in the data\n"
    "directory, 77 the database is closed to this user.\n";

static int show_print(hd_store *st, const hd_store_domain *d, const dom_args *a)
{
    hd_domain_record *r;
    size_t n;
    cli_keys v;
    int rc = get_records(st, d->name, a, &r, &n);
    if (rc != CLI_OK)
        return rc;
    if ((rc = keys_load(st, d->name, a->now, &v)) != CLI_OK ||
        (rc = check_dns(&v, a)) != CLI_OK) {
        hd_domain_records_free(r, n);
        cli_keys_free(&v);
        return rc;
    }
    if (a->json) {
        json_t *o = domain_json(d, cli_keys_json(&v, true));
        json_object_set_new(o, "records", records_json(r, n));
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        char when[40];
        cli_when_utc(d->created, when, sizeof when);
        printf("; domain %s, bounce domain %s, added %s\n; keys:\n", d->name, d->bounce_domain,
               when);
        cli_keys_print(&v, true);
        printf(";\n; records to publish:\n");
        rc = print_zone(r, n, false);
    }
    cli_keys_free(&v);
    hd_domain_records_free(r, n);
    return rc;
}

/* Open the data directory and find the domain; its stored hostname serves
 * when none was given on the command line. */
static int open_domain(dom_args *a, const char *domain, bool readonly, hd_store **st,
                       char *keys, size_t keys_size, hd_store_domain *d)
{
    int rc = readonly ? open_reader(a, st) : open_data(a, st, keys, keys_size);
    if (rc != CLI_OK)
        return rc;
    char name[HD_STORE_NAME_MAX];
    hd_err err;
    hd_err_clear(&err);
    int lrc = hd_domain_name_normalize(domain, name, sizeof name, &err);
    if (lrc == 0)
        lrc = hd_store_domain_get(*st, name, d, &err);
    if (lrc == 0 && !a->hostname_given && d->hostname[0] != '\0')
        a->hostname = d->hostname;
    if (lrc == 0)
        rc = resolve_hostname(a);
    else
        rc = fail(&err, lrc);
    if (rc != CLI_OK) {
        hd_store_close(*st);
        *st = NULL;
    }
    return rc;
}

static int domain_show(int argc, char **argv)
{
    static const struct option longopts[] = {COMMON_LONGOPTS, DNS_REC_LONGOPTS, CLI_DNS_LONGOPTS,
                                             {"no-dns", no_argument, NULL, OPT_NO_DNS},
                                             {"json", no_argument, NULL, OPT_JSON},
                                             {NULL, 0, NULL, 0}};
    dom_args a;
    const char *domain = NULL;
    int rc = parse(argc, argv, "h", longopts, show_help, true, &a, &domain);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    char keys[4096];
    hd_store_domain d;
    if ((rc = open_domain(&a, domain, true, &st, keys, sizeof keys, &d)) != CLI_OK)
        return rc;
    rc = show_print(st, &d, &a);
    hd_store_close(st);
    return rc;
}

/* remove ------------------------------------------------------------------------------- */

static const char remove_help[] =
    "usage: herald domain remove DOMAIN [--data-dir DIR]\n"
    "\n"
    "Remove a sending domain: herald stops signing and sending for it. Its\n"
    "key files are not deleted but moved to DIR/keys/removed/DOMAIN/, since\n"
    "mail already sent may still need its keys published for a while, and\n"
    "the keys can be restored; delete them yourself when that time is past.\n"
    "Remove the domain's DNS records likewise.\n"
    "\n"
    COMMON_HELP
    "\n"
    "Exit: 0 removed, 64 usage, 65 no such domain, 73 a key file cannot be moved.\n";

static int domain_remove(int argc, char **argv)
{
    static const struct option longopts[] = {COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    dom_args a;
    const char *domain = NULL;
    int rc = parse(argc, argv, "h", longopts, remove_help, true, &a, &domain);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    char keys[4096], name[HD_STORE_NAME_MAX];
    if ((rc = open_data(&a, &st, keys, sizeof keys)) != CLI_OK)
        return rc;
    hd_err err;
    hd_err_clear(&err);
    int lrc = hd_domain_remove(st, keys, domain, &err);
    if (lrc != 0) {
        rc = fail(&err, lrc);
    } else {
        hd_domain_name_normalize(domain, name, sizeof name, NULL);
        printf("domain %s removed; its key files were moved to %s/removed/%s/\n", name, keys,
               name);
        told t;
        tell_server(&a, &t);
        cli_server_say(t.state, t.why, a.data_dir, "");
    }
    hd_store_close(st);
    return rc;
}

/* rotate-key ------------------------------------------------------------------------------ */

static const char rotate_help[] =
    "usage: herald domain rotate-key DOMAIN [--selector P] [--grace DURATION]\n"
    "                                [--activate-now] [--hostname H] [--data-dir DIR]\n"
    "\n"
    "Make new DKIM keys for DOMAIN (the same algorithms and RSA size as the\n"
    "active ones) and print their DNS records. The rotation is staged: the new\n"
    "keys are pending and do not sign yet. Publish their records; the running\n"
    "server looks them up (at start, at a reload and every 5 minutes) and, once\n"
    "every new record is in the DNS and matches its key, signs with the new\n"
    "keys. The old keys then stay published (retiring) for the grace period, so\n"
    "mail signed before still verifies, and are then retired and may leave the\n"
    "DNS. `herald domain show` tells each key's state and whether its record\n"
    "matches. Keys still pending from an earlier rotation are replaced.\n"
    "\n"
    "  -s, --selector P        the new keys' selector prefix (default: hd + today's\n"
    "                          date, with a letter if today's is taken)\n"
    "  -g, --grace DURATION    how long the old keys stay published once the new\n"
    "                          ones sign: 7d (default), 36h, 90m, 600s; 0 retires\n"
    "                          them at once\n"
    "      --activate-now      sign with the new keys at once, without waiting for\n"
    "                          the DNS (mail signed before the records are visible\n"
    "                          fails DKIM at receivers)\n"
    DNS_REC_HELP
    COMMON_HELP
    "      --now T             act as at Unix time T (tests)\n"
    "\n"
    "Exit: 0 rotated, 64 usage or a selector in use, 65 no such domain or no\n"
    "active key, 73 a key file cannot be made.\n";

/* A --grace value as it would be given: "7d", "36h", "90m", "600s". */
static void duration_text(long long s, char *out, size_t size)
{
    if (s > 0 && s % 86400 == 0)
        snprintf(out, size, "%lldd", s / 86400);
    else if (s > 0 && s % 3600 == 0)
        snprintf(out, size, "%lldh", s / 3600);
    else if (s > 0 && s % 60 == 0)
        snprintf(out, size, "%lldm", s / 60);
    else
        snprintf(out, size, "%llds", s);
}

static void rotate_print(hd_store *st, const char *name, const dom_args *a)
{
    char until[40];
    cli_when_utc(a->now + a->grace, until, sizeof until);
    if (a->activate_now && a->grace)
        printf("; herald: new DKIM keys for %s sign from now on; the previous ones stay "
               "published until %s\n", name, until);
    else if (a->activate_now)
        printf("; herald: new DKIM keys for %s sign from now on; the previous ones are "
               "retired now\n", name);
    else {
        char grace[32];
        duration_text(a->grace, grace, sizeof grace);
        printf("; herald: new DKIM keys for %s are pending: publish their records below.\n"
               "; The current keys sign until a running server sees the new records in the\n"
               "; DNS (it looks at start, at a reload and every %d minutes); the previous\n"
               "; keys then stay published for %s (--grace) and retire.\n",
               name, CLI_KEYS_CHECK_MINUTES, grace);
    }
    cli_keys v;
    if (keys_load(st, name, a->now, &v) == CLI_OK) {
        printf("; keys:\n");
        cli_keys_print(&v, false);
        cli_keys_free(&v);
    }
}

static int domain_rotate(int argc, char **argv)
{
    static const struct option longopts[] = {
        COMMON_LONGOPTS, DNS_REC_LONGOPTS, {"selector", required_argument, NULL, 's'},
        {"grace", required_argument, NULL, 'g'},
        {"activate-now", no_argument, NULL, OPT_ACTIVATE_NOW}, {NULL, 0, NULL, 0}};
    dom_args a;
    const char *domain = NULL;
    int rc = parse(argc, argv, "hs:g:", longopts, rotate_help, true, &a, &domain);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_store *st;
    char keys[4096];
    hd_store_domain d;
    if ((rc = open_domain(&a, domain, false, &st, keys, sizeof keys, &d)) != CLI_OK)
        return rc;
    hd_err err;
    hd_err_clear(&err);
    int lrc = hd_domain_rotate_key(st, keys, d.name, a.selector, a.now, (uint32_t)a.grace,
                                   a.activate_now, &err);
    if (lrc != 0) {
        rc = fail(&err, lrc);
    } else {
        rotate_print(st, d.name, &a);
        hd_domain_record *r;
        size_t n;
        if (a.activate_now) {
            told t;
            tell_server(&a, &t);
            cli_server_say(t.state, t.why, a.data_dir, "; herald: ");
        } else {
            /* pending keys change nothing a server signs with, and asking
             * the DNS now, before anyone could publish, would only make
             * resolvers remember that the records are missing */
            printf("; herald: after publishing, `systemctl reload herald` (or kill -HUP) makes a\n"
                   "; running server look for the records at once\n");
        }
        printf(";\n; DKIM records to publish now (the SPF, MX and DMARC records do not change):\n");
        if ((rc = get_records(st, d.name, &a, &r, &n)) == CLI_OK) {
            rc = print_zone(r, n, true);
            hd_domain_records_free(r, n);
        }
    }
    hd_store_close(st);
    return rc;
}

/* dispatch ---------------------------------------------------------------------------------- */

int cmd_domain(int argc, char **argv)
{
    static const cli_cmd subs[] = {
        {"add", domain_add, "add a sending domain, make its keys, print its DNS records"},
        {"list", domain_list, "list the sending domains"},
        {"show", domain_show, "a domain's keys and DNS records"},
        {"remove", domain_remove, "remove a domain (its key files are kept aside)"},
        {"rotate-key", domain_rotate, "new DKIM keys, signing once their DNS records are seen"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("herald domain", subs, argc, argv);
}
