/*
 * cmd_dkim.c - `herald dkim keygen|sign|verify`.
 */
#include "cli/cli.h"

#include <herald/base64.h>
#include <herald/dkim.h>
#include <herald/key.h>
#include <herald/limits.h>
#include <herald/mail.h>

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* keygen ------------------------------------------------------------------ */

static const char keygen_help[] =
    "usage: herald dkim keygen --domain D --selector S [--algorithm ALG] --out DIR\n"
    "                          [--zone] [--json] [--allow-weak]\n"
    "\n"
    "Create a DKIM private key in DIR/S.private (PEM, mode 0600; DIR is made\n"
    "with mode 0700 if missing) and print the DNS TXT record to publish at\n"
    "S._domainkey.D, split into strings of at most 255 bytes.\n"
    "\n"
    "  -d, --domain D        the signing domain (d=)\n"
    "  -s, --selector S      the selector (s=)\n"
    "  -a, --algorithm ALG   rsa2048 (default), rsa3072, rsa4096 or ed25519\n"
    "                        (rsa1024 only with --allow-weak)\n"
    "  -o, --out DIR         where to write the key; an existing key is never\n"
    "                        overwritten\n"
    "      --zone            print the record as one zone-file line\n"
    "      --json            print {name, type, value, strings, key_file}\n"
    "      --allow-weak      allow rsa1024 (RFC 8301 §3.2: SHOULD be 2048 or more)\n"
    "\n"
    "Exit: 0 done, 64 usage, 73 cannot create the key file, 70 internal error.\n";

/* The record split into <= 255-byte character-strings (RFC 1035 §3.3). */
static json_t *record_strings(const char *value)
{
    json_t *a = json_array();
    size_t len = strlen(value);
    for (size_t i = 0; i < len; i += 255)
        json_array_append_new(a, json_stringn(value + i, len - i < 255 ? len - i : 255));
    return a;
}

static void print_strings(json_t *strings)
{
    size_t i;
    json_t *s;
    json_array_foreach(strings, i, s) printf("%s\"%s\"", i ? " " : "", json_string_value(s));
}

static int keygen_parse_alg(const char *alg, hd_key_type *type, unsigned *bits)
{
    static const struct {
        const char *name;
        hd_key_type type;
        unsigned bits;
    } algs[] = {{"rsa2048", HD_KEY_RSA, 2048}, {"rsa3072", HD_KEY_RSA, 3072},
                {"rsa4096", HD_KEY_RSA, 4096}, {"rsa1024", HD_KEY_RSA, 1024},
                {"ed25519", HD_KEY_ED25519, 256}};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strcmp(alg, algs[i].name) == 0) {
            *type = algs[i].type;
            *bits = algs[i].bits;
            return 0;
        }
    return -1;
}

static int dkim_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"domain", required_argument, NULL, 'd'}, {"selector", required_argument, NULL, 's'},
        {"algorithm", required_argument, NULL, 'a'}, {"out", required_argument, NULL, 'o'},
        {"zone", no_argument, NULL, 'z'}, {"json", no_argument, NULL, 'j'},
        {"allow-weak", no_argument, NULL, 'W'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *domain = NULL, *selector = NULL, *alg = "rsa2048", *dir = NULL;
    bool zone = false, json = false, allow_weak = false;
    int c;
    while ((c = getopt_long(argc, argv, "d:s:a:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': domain = optarg; break;
        case 's': selector = optarg; break;
        case 'a': alg = optarg; break;
        case 'o': dir = optarg; break;
        case 'z': zone = true; break;
        case 'j': json = true; break;
        case 'W': allow_weak = true; break;
        case 'h': fputs(keygen_help, stdout); return CLI_OK;
        default: fputs(keygen_help, stderr); return CLI_USAGE;
        }
    }
    hd_key_type type;
    unsigned bits;
    if (domain == NULL || selector == NULL || dir == NULL || optind != argc) {
        cli_error("dkim keygen needs --domain, --selector and --out (see --help)");
        return CLI_USAGE;
    }
    if (keygen_parse_alg(alg, &type, &bits) != 0) {
        cli_error("--algorithm %s: use rsa2048, rsa3072, rsa4096 or ed25519", alg);
        return CLI_USAGE;
    }
    /* RFC 8301 §3.2: signers MUST use at least 1024 bits and SHOULD use
     * at least 2048; a weak key is made only when asked for by name */
    if (type == HD_KEY_RSA && bits < 2048 && !allow_weak) {
        cli_error("--algorithm %s: an RSA key under 2048 bits is weak (RFC 8301 §3.2 asks for "
                  "2048 or more) and many receivers distrust it; add --allow-weak to make one "
                  "anyway",
                  alg);
        return CLI_USAGE;
    }
    /* check names before making anything: a signer will need them valid */
    hd_dkim_sign_opts so;
    hd_dkim_sign_opts_init(&so);
    so.domain = domain;
    so.selector = selector;
    hd_err err;
    hd_err_clear(&err);
    hd_key *key = NULL;
    if (hd_key_generate(type, bits, &key, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        return CLI_SOFTWARE;
    }
    hd_dkim_signer *probe = NULL;
    if (hd_dkim_signer_new(&so, key, &probe, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        hd_key_free(key);
        return CLI_USAGE;
    }
    hd_dkim_signer_free(probe);

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_error("%s: cannot create directory: %s", dir, strerror(errno));
        hd_key_free(key);
        return CLI_CANTCREAT;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.private", dir, selector);
    if (hd_key_write_private(key, path, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        hd_key_free(key);
        return CLI_CANTCREAT;
    }
    hd_buf pub, value;
    hd_buf_init(&pub, 4096);
    hd_buf_init(&value, 8192);
    int rc = hd_key_public_bytes(key, &pub, &err);
    if (rc == 0)
        rc = hd_buf_printf(&value, "v=DKIM1; k=%s; p=", hd_key_type_name(type));
    if (rc == 0)
        rc = hd_b64_encode(hd_buf_slice(&pub), &value);
    hd_key_free(key);
    if (rc != 0) {
        cli_error("cannot export the public key: %s", hd_err_str(&err));
        hd_buf_free(&pub);
        hd_buf_free(&value);
        return CLI_SOFTWARE;
    }
    char name[600];
    snprintf(name, sizeof name, "%s._domainkey.%s", selector, domain);
    json_t *strings = record_strings(hd_buf_cstr(&value));
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:i}", "name", name, "type", "TXT",
                              "value", hd_buf_cstr(&value), "strings", strings, "key_file", path,
                              "algorithm", alg, "bits", (int)bits);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else if (zone) {
        printf("%s. IN TXT ", name);
        print_strings(strings);
        putchar('\n');
    } else {
        printf("Private key written to %s (mode 0600).\n", path);
        printf("Publish this TXT record:\n\n%s. 3600 IN TXT ", name);
        print_strings(strings);
        putchar('\n');
    }
    json_decref(strings);
    hd_buf_free(&pub);
    hd_buf_free(&value);
    return CLI_OK;
}

/* sign -------------------------------------------------------------------- */

static const char sign_help[] =
    "usage: herald dkim sign --domain D --selector S --key FILE\n"
    "                        [--selector S2 --key FILE2 ...] [options] [MESSAGE]\n"
    "\n"
    "Sign MESSAGE (default: standard input) and print the DKIM-Signature\n"
    "field(s) followed by the message. Several --selector/--key pairs sign\n"
    "once with each key (e.g. RSA and Ed25519); they pair up in order.\n"
    "Line ends: LF and CRLF input give the same signature; the output keeps\n"
    "the input's line ends.\n"
    "\n"
    "  -d, --domain D        signing domain (d=)\n"
    "  -s, --selector S      selector (s=), once per key\n"
    "  -k, --key FILE        private key: PEM (RSA or Ed25519) or a base64\n"
    "                        Ed25519 seed\n"
    "  -a, --algorithm A     rsa-sha256 or ed25519-sha256: refuse a key of\n"
    "                        another type (default: from the key)\n"
    "  -c, --canon H/B       simple or relaxed, header/body (default relaxed/relaxed)\n"
    "      --headers LIST    colon-separated fields to sign, as given (repeat a\n"
    "                        name to over-sign it); default: RFC 6376 §5.4.1 set,\n"
    "                        From, To, Cc, Subject, Date, Reply-To, Message-ID\n"
    "                        and the MIME fields over-signed\n"
    "  -i, --identity ID     the i= tag (an address within the domain)\n"
    "      --timestamp T     t= (Unix time, or \"now\"); default none\n"
    "      --expire SECS     x= = t= + SECS (needs --timestamp)\n"
    "      --signature-only  print only the DKIM-Signature field(s)\n"
    "\n"
    "l= is never used. Exit: 0 signed, 64 usage, 65 message cannot be signed\n"
    "(e.g. no From), 66 key or message unreadable or not a key of that type.\n";

#define MAX_KEYS 4

static int parse_canon(const char *s, hd_dkim_canon *h, hd_dkim_canon *b)
{
    char head[16] = "", body[16] = "";
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl >= sizeof head || (slash && strlen(slash + 1) >= sizeof body))
        return -1;
    memcpy(head, s, hl);
    if (slash)
        memcpy(body, slash + 1, strlen(slash + 1) + 1);
    else
        memcpy(body, "simple", 7); /* RFC 6376 §3.5: body default simple */
    int ok = 1;
    *h = strcmp(head, "relaxed") == 0 ? HD_DKIM_RELAXED : (ok &= strcmp(head, "simple") == 0, HD_DKIM_SIMPLE);
    *b = strcmp(body, "relaxed") == 0 ? HD_DKIM_RELAXED : (ok &= strcmp(body, "simple") == 0, HD_DKIM_SIMPLE);
    return ok ? 0 : -1;
}

/* Write the signature fields with LF line ends when the message uses LF. */
static void write_fields(hd_slice fields, bool lf)
{
    for (size_t i = 0; i < fields.len; i++) {
        if (lf && fields.p[i] == '\r' && i + 1 < fields.len && fields.p[i + 1] == '\n')
            continue;
        putchar(fields.p[i]);
    }
}

typedef struct sign_args {
    const char *domain, *identity, *headers, *alg, *canon, *input;
    const char *selectors[MAX_KEYS], *keys[MAX_KEYS];
    int nsel, nkeys;
    long long timestamp, expire;
    bool signature_only;
} sign_args;

static int sign_parse(int argc, char **argv, sign_args *a)
{
    static const struct option longopts[] = {
        {"domain", required_argument, NULL, 'd'}, {"selector", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'}, {"algorithm", required_argument, NULL, 'a'},
        {"canon", required_argument, NULL, 'c'}, {"headers", required_argument, NULL, 'H'},
        {"identity", required_argument, NULL, 'i'}, {"timestamp", required_argument, NULL, 'T'},
        {"expire", required_argument, NULL, 'X'}, {"signature-only", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->timestamp = a->expire = -1;
    a->canon = "relaxed/relaxed";
    int c;
    while ((c = getopt_long(argc, argv, "d:s:k:a:c:i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': a->domain = optarg; break;
        case 's':
            if (a->nsel == MAX_KEYS) { cli_error("at most %d selectors", MAX_KEYS); return CLI_USAGE; }
            a->selectors[a->nsel++] = optarg;
            break;
        case 'k':
            if (a->nkeys == MAX_KEYS) { cli_error("at most %d keys", MAX_KEYS); return CLI_USAGE; }
            a->keys[a->nkeys++] = optarg;
            break;
        case 'a': a->alg = optarg; break;
        case 'c': a->canon = optarg; break;
        case 'H': a->headers = optarg; break;
        case 'i': a->identity = optarg; break;
        case 'T':
            if (strcmp(optarg, "now") == 0)
                a->timestamp = (long long)time(NULL);
            else if (!cli_parse_long("--timestamp", optarg, 0, 253402300799LL, &a->timestamp))
                return CLI_USAGE;
            break;
        case 'X':
            if (!cli_parse_long("--expire", optarg, 1, 315360000LL, &a->expire))
                return CLI_USAGE;
            break;
        case 'S': a->signature_only = true; break;
        case 'h': fputs(sign_help, stdout); return -1;
        default: fputs(sign_help, stderr); return CLI_USAGE;
        }
    }
    if (optind < argc)
        a->input = argv[optind++];
    if (optind != argc || a->domain == NULL || a->nkeys == 0 || a->nsel != a->nkeys) {
        cli_error("dkim sign needs --domain and one --selector per --key (see --help)");
        return CLI_USAGE;
    }
    if (a->alg && strcmp(a->alg, "rsa-sha256") && strcmp(a->alg, "ed25519-sha256")) {
        cli_error("--algorithm %s: use rsa-sha256 or ed25519-sha256", a->alg);
        return CLI_USAGE;
    }
    return CLI_OK;
}

static int dkim_sign(int argc, char **argv)
{
    sign_args a;
    int rc = sign_parse(argc, argv, &a);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    hd_dkim_sign_opts o;
    hd_dkim_sign_opts_init(&o);
    if (parse_canon(a.canon, &o.header_canon, &o.body_canon) != 0) {
        cli_error("--canon %s: use simple or relaxed, as HEADER/BODY", a.canon);
        return CLI_USAGE;
    }
    o.domain = a.domain;
    o.headers = a.headers;
    o.identity = a.identity;
    o.timestamp = a.timestamp;
    o.expire_after = a.expire;

    hd_key *keys[MAX_KEYS] = {0};
    hd_dkim_signer *signers[MAX_KEYS] = {0};
    hd_buf msg, fields;
    hd_buf_init(&fields, 64 * 1024);
    msg.p = NULL;
    hd_err err;
    hd_err_clear(&err);
    rc = CLI_OK;
    for (int i = 0; i < a.nkeys && rc == CLI_OK; i++) {
        if (hd_key_load_private(a.keys[i], &keys[i], &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_NOINPUT;
            break;
        }
        hd_key_type want = a.alg && strcmp(a.alg, "rsa-sha256") == 0 ? HD_KEY_RSA : HD_KEY_ED25519;
        if (a.alg && hd_key_get_type(keys[i]) != want) {
            cli_error("%s: is an %s key, not one for %s", a.keys[i],
                      hd_key_type_name(hd_key_get_type(keys[i])), a.alg);
            rc = CLI_NOINPUT;
            break;
        }
        o.selector = a.selectors[i];
        if (hd_dkim_signer_new(&o, keys[i], &signers[i], &err) != 0) {
            cli_error("%s: %s", a.keys[i], hd_err_str(&err));
            rc = err.code == HD_EKEY ? CLI_NOINPUT : CLI_USAGE;
        }
    }
    if (rc == CLI_OK)
        rc = cli_read_input(a.input, HD_LIMIT_MESSAGE_BYTES, &msg);
    for (int i = 0; i < a.nkeys && rc == CLI_OK; i++) {
        if (hd_dkim_sign(signers[i], hd_buf_slice(&msg), &fields, &err) != 0) {
            cli_error("%s: %s", a.input ? a.input : "message", hd_err_str(&err));
            rc = err.code == HD_ENOMEM ? CLI_SOFTWARE : CLI_DATAERR;
        }
    }
    if (rc == CLI_OK) {
        bool lf = hd_mail_has_bare_lf(hd_buf_slice(&msg));
        write_fields(hd_buf_slice(&fields), lf);
        if (!a.signature_only)
            fwrite(msg.p, 1, msg.len, stdout);
        if (fflush(stdout) != 0)
            rc = CLI_CANTCREAT;
    }
    for (int i = 0; i < a.nkeys; i++) {
        hd_dkim_signer_free(signers[i]);
        hd_key_free(keys[i]);
    }
    if (msg.p != NULL)
        hd_buf_free(&msg);
    hd_buf_free(&fields);
    return rc;
}

/* verify ------------------------------------------------------------------ */

static const char verify_help[] =
    "usage: herald dkim verify [--dns-zone F | --dns-server A] [--json] [MESSAGE]\n"
    "\n"
    "Verify every DKIM-Signature of MESSAGE (default: standard input), up to\n"
    "--max-signatures (default 8; the rest are reported as not checked), and\n"
    "print for each its Authentication-Results fragment (RFC 8601) and the\n"
    "reason for its result.\n"
    "\n"
    CLI_DNS_HELP
    "      --json               print {\"signatures\": [...]} with, per signature:\n"
    "                           result, reason, reason_code, domain, selector,\n"
    "                           algorithm, header_b, identity, canonicalization,\n"
    "                           key_bits, testing, body_length, unsigned_bytes,\n"
    "                           timestamp, expiration (docs/cli.md)\n"
    "      --now T              judge t= and x= as at Unix time T\n"
    "      --max-signatures N   verify at most N signatures (1..64)\n"
    "      --allow-sha1         accept rsa-sha1 (RFC 8301 forbids it)\n"
    "\n"
    "Exit: 0 a signature passed, 1 signatures but none passed, 2 no\n"
    "signature, 75 none passed and a DNS lookup failed temporarily (try\n"
    "again), 64 usage, 65 message unparseable, 66 unreadable input.\n";

static json_t *result_json(const hd_dkim_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "result", json_string(hd_dkim_result_name(r->result)));
    json_object_set_new(o, "reason", json_string(r->reason));
    json_object_set_new(o, "reason_code", json_string(hd_dkim_reason_name(r->reason_code)));
    json_object_set_new(o, "domain", json_string(r->domain));
    json_object_set_new(o, "selector", json_string(r->selector));
    json_object_set_new(o, "algorithm", json_string(r->algorithm));
    json_object_set_new(o, "header_b", json_string(r->header_b));
    json_object_set_new(o, "identity", json_string(r->identity));
    json_object_set_new(o, "canonicalization", json_string(r->canon));
    json_object_set_new(o, "key_bits", json_integer(r->key_bits));
    json_object_set_new(o, "testing", json_boolean(r->testing));
    json_object_set_new(o, "body_length", r->has_length ? json_integer((json_int_t)r->body_length) : json_null());
    json_object_set_new(o, "unsigned_bytes", json_integer((json_int_t)r->unsigned_bytes));
    json_object_set_new(o, "timestamp", r->timestamp >= 0 ? json_integer(r->timestamp) : json_null());
    json_object_set_new(o, "expiration", r->expiration >= 0 ? json_integer(r->expiration) : json_null());
    return o;
}

static int verify_exit_code(const hd_dkim_verifier *v)
{
    size_t n = hd_dkim_verify_count(v);
    bool temp = false;
    if (n == 0)
        return CLI_NONE;
    for (size_t i = 0; i < n; i++) {
        const hd_dkim_result *r = hd_dkim_verify_result(v, i);
        if (r->result == HD_DKIM_PASS)
            return CLI_OK;
        temp |= r->result == HD_DKIM_TEMPERROR;
    }
    return temp ? CLI_TEMPFAIL : CLI_FAIL;
}

static void verify_print(const hd_dkim_verifier *v, bool json)
{
    size_t n = hd_dkim_verify_count(v);
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, result_json(hd_dkim_verify_result(v, i)));
        json_t *o = json_pack("{s:o}", "signatures", a);
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
        return;
    }
    if (n == 0)
        puts("dkim=none (no signatures)");
    hd_buf line;
    hd_buf_init(&line, 4096);
    for (size_t i = 0; i < n; i++) {
        hd_buf_reset(&line);
        hd_dkim_result_to_ar(hd_dkim_verify_result(v, i), &line);
        puts(hd_buf_cstr(&line));
    }
    hd_buf_free(&line);
}

static int dkim_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_DNS_LONGOPTS, {"json", no_argument, NULL, 'j'},
        {"now", required_argument, NULL, 'N'}, {"max-signatures", required_argument, NULL, 'M'},
        {"allow-sha1", no_argument, NULL, '1'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    cli_dns_opts dopts = {NULL, NULL, 0};
    hd_dkim_verify_opts o;
    hd_dkim_verify_opts_init(&o, (int64_t)time(NULL));
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
        case 'M':
            if (!cli_parse_long("--max-signatures", optarg, 1, 64, &n))
                return CLI_USAGE;
            o.max_signatures = (size_t)n;
            break;
        case '1': o.allow_sha1 = true; break;
        case 'h': fputs(verify_help, stdout); return CLI_OK;
        default: fputs(verify_help, stderr); return CLI_USAGE;
        }
    }
    const char *input = optind < argc ? argv[optind++] : NULL;
    if (optind != argc) {
        cli_error("dkim verify takes one message (see --help)");
        return CLI_USAGE;
    }
    hd_buf msg;
    int rc = cli_read_input(input, HD_LIMIT_MESSAGE_BYTES, &msg);
    if (rc != CLI_OK)
        return rc;
    hd_dns *dns = NULL;
    hd_dkim_verifier *v = NULL;
    hd_err err;
    hd_err_clear(&err);
    rc = cli_dns_open(&dopts, &dns);
    if (rc == CLI_OK && hd_dkim_verifier_new(&o, &v, &err) != 0)
        rc = CLI_SOFTWARE;
    if (rc == CLI_OK) {
        if (hd_dkim_verify_run(v, hd_buf_slice(&msg), dns, &err) != 0) {
            cli_error("%s: %s", input ? input : "message", hd_err_str(&err));
            rc = err.code == HD_ENOMEM ? CLI_SOFTWARE : CLI_DATAERR;
        } else {
            verify_print(v, json);
            rc = verify_exit_code(v);
        }
    }
    hd_dkim_verifier_free(v);
    hd_dns_free(dns);
    hd_buf_free(&msg);
    return rc;
}

/* dispatch ---------------------------------------------------------------- */

int cmd_dkim(int argc, char **argv)
{
    static const cli_cmd subs[] = {
        {"keygen", dkim_keygen, "create a key and print its DNS record"},
        {"sign", dkim_sign, "sign a message"},
        {"verify", dkim_verify, "verify a message's signatures"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("herald dkim", subs, argc, argv);
}
