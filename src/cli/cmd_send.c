/*
 * cmd_send.c - `herald send`: a message through a running server's HTTP
 * API (POST /v1/messages), from flags or from a file; prints the message
 * id; --wait follows it to its final outcome (GET /v1/messages/{id}).
 *
 * The API key comes from $HERALD_API_KEY or --key-file, never from the
 * command line (other users can read a process's arguments).
 */
#include "cli/cli.h"
#include "net/httpc.h"

#include <herald/base64.h>
#include <herald/config.h>
#include <herald/mail.h>

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FILE_MAX (64u * 1024 * 1024)
#define ANSWER_MAX (16u * 1024 * 1024)

static const char send_help[] =
    "usage: herald send --from ADDR --to ADDR... [--cc ADDR]... [--bcc ADDR]...\n"
    "                   [--subject S] [--text TEXT | --text-file F] [--html-file F]\n"
    "                   [--attach FILE]... [--reply-to ADDR] [--header 'Name: value']...\n"
    "                   [--tag T]... [--pool P] [--idempotency-key K]\n"
    "                   [--wait [--timeout S]] [--json] [--api URL | --config FILE]\n"
    "                   [--key-file F]\n"
    "       herald send --raw FILE --to ADDR... [options]\n"
    "\n"
    "Send a message through a running `herald serve` (its HTTP API, docs/api.md)\n"
    "and print its id once the server has stored it durably.\n"
    "\n"
    "An ADDR is an address or, as in a header field, 'Name <address>' (quote a\n"
    "name with commas or other specials: '\"Doe, Jane\" <jane@example.com>');\n"
    "--to, --cc, --bcc and --reply-to also take a comma-separated list.\n"
    "\n"
    "      --raw FILE          send FILE (\"-\": standard input) as it is: a whole\n"
    "                          RFC 5322 message; --to/--cc/--bcc are its envelope\n"
    "      --attach FILE       attach a file (content type guessed from its name)\n"
    "      --wait              follow the message until every recipient is final\n"
    "                          (delivered, captured, bounced, expired, suppressed\n"
    "                          ...) and print each one's state\n"
    "      --timeout S         give up waiting after S seconds (default 300): exit 75\n"
    "      --api URL           the API (default: http://[api] listen of the config)\n"
    "      --config FILE       the server's configuration (for [api] listen)\n"
    "      --key-file F        read the API key from F (default: $HERALD_API_KEY)\n"
    "      --json              print the server's answer as one JSON document (with\n"
    "                          --wait: the message as GET /v1/messages/ID gives it)\n"
    "\n"
    "Exit codes: 0 sent (and with --wait, every recipient delivered); 1 with\n"
    "--wait, a recipient was not delivered; 2 with --wait, every recipient was\n"
    "captured by the sandbox: nothing was sent; 65 the server refused the\n"
    "message; 75 the server could not be reached or asked to try later; 64 bad\n"
    "options; 77 the key was refused.\n";

/* --wait: every recipient captured by the sandbox, nothing sent. Distinct
 * from 0 (delivered) so that a script never takes a sandbox for delivery,
 * and from 1 (a recipient failed). */
#define SEND_CAPTURED 2

typedef struct send_opts {
    json_t *req;                 /* the request being built */
    const char *raw, *text_file, *html_file, *api, *config, *key_file, *idem;
    bool wait, json;
    long long timeout;
} send_opts;

/* A value json_string() refused (not UTF-8) must not vanish silently. */
static bool bad_value;

static json_t *text(const char *s)
{
    json_t *v = json_string(s);
    if (!v) {
        cli_error("not UTF-8 text: %s", s);
        bad_value = true;
    }
    return v;
}

static void set(json_t *req, const char *key, json_t *v)
{
    if (v)
        json_object_set_new(req, key, v);
}

static void append(json_t *req, const char *key, json_t *v)
{
    if (!v)
        return;
    json_t *a = json_object_get(req, key);
    if (!a) {
        a = json_array();
        json_object_set_new(req, key, a);
    }
    json_array_append_new(a, v);
}

static const char *content_type_of(const char *path)
{
    static const char *const types[][2] = {
        {".pdf", "application/pdf"}, {".txt", "text/plain"},     {".html", "text/html"},
        {".htm", "text/html"},       {".csv", "text/csv"},       {".png", "image/png"},
        {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},    {".gif", "image/gif"},
        {".ics", "text/calendar"},   {".zip", "application/zip"}, {".json", "application/json"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcasecmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* A file's contents as a JSON string (UTF-8 text) or base64. */
static json_t *file_string(const char *path, bool base64, int *rc)
{
    hd_buf data, enc;
    hd_buf_init(&data, FILE_MAX);
    *rc = cli_read_input(path, FILE_MAX, &data);
    if (*rc) {
        hd_buf_free(&data);
        return NULL;
    }
    json_t *s;
    if (base64) {
        hd_buf_init(&enc, hd_b64_encoded_len(data.len) + 1);
        s = hd_b64_encode(hd_buf_slice(&data), &enc) == 0
                ? json_stringn((const char *)(enc.p ? enc.p : (uint8_t *)""), enc.len)
                : NULL;
        hd_buf_free(&enc);
    } else {
        s = json_stringn((const char *)(data.p ? data.p : (uint8_t *)""), data.len);
        if (!s)
            cli_error("%s: not UTF-8 text", path);
    }
    hd_buf_free(&data);
    if (!s && !*rc)
        *rc = CLI_DATAERR;
    return s;
}

/* One mailbox for the API: "a@example.com", or {"address", "name"} when
 * it has a display name (docs/api.md: the API takes no "Name <addr>"). */
static json_t *mailbox_json(const hd_addr *a)
{
    size_t n = strlen(a->local) + 1 + strlen(a->domain) + 1;
    char *addr = malloc(n);
    if (!addr)
        return NULL;
    snprintf(addr, n, "%s@%s", a->local, a->domain);
    json_t *address = text(addr);
    free(addr);
    if (!address)
        return NULL;
    if (!a->display || !a->display[0])
        return address;
    json_t *name = text(a->display);
    if (!name) {
        json_decref(address);
        return NULL;
    }
    return json_pack("{s:o,s:o}", "address", address, "name", name);
}

/* An address option: an address, 'Name <address>' or (several allowed)
 * a list of them, read with the header fields' parser (RFC 5322 §3.4),
 * so quoted names with commas and specials work as they do in From:. */
static int address_option(json_t *req, const char *opt, const char *key, const char *arg,
                          bool several)
{
    hd_addr_list list = {0};
    hd_err err = {0};
    if (hd_addr_parse_list(hd_slice_cstr(arg), &list, &err) != 0) {
        cli_error("--%s %s: not an address: %s", opt, arg, hd_err_str(&err));
        return CLI_USAGE;
    }
    int rc = CLI_USAGE;
    if (list.n == 0)
        cli_error("--%s: no address in \"%s\"", opt, arg);
    else if (list.had_group)
        cli_error("--%s %s: a group is not an address", opt, arg);
    else if (!several && list.n > 1)
        cli_error("--%s %s: one address, not %zu", opt, arg, list.n);
    else
        rc = 0;
    for (size_t i = 0; rc == 0 && i < list.n; i++) {
        json_t *v = mailbox_json(&list.v[i]);
        if (!v)
            rc = CLI_USAGE;
        else if (several)
            append(req, key, v);
        else
            set(req, key, v);
    }
    hd_addr_list_free(&list);
    return rc;
}

static int attach(json_t *req, const char *path)
{
    int rc;
    json_t *content = file_string(path, true, &rc);
    if (!content)
        return rc;
    const char *base = strrchr(path, '/');
    json_t *name = text(base ? base + 1 : path);
    if (!name) {
        json_decref(content);
        return CLI_USAGE;
    }
    append(req, "attachments", json_pack("{s:o,s:s,s:o}", "filename", name, "content_type",
                                         content_type_of(path), "content", content));
    return 0;
}

static int header(json_t *req, const char *arg)
{
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg) {
        cli_error("--header %s: give it as 'Name: value'", arg);
        return CLI_USAGE;
    }
    char name[128];
    size_t n = (size_t)(colon - arg);
    if (n >= sizeof name) {
        cli_error("--header: name too long");
        return CLI_USAGE;
    }
    memcpy(name, arg, n);
    name[n] = '\0';
    const char *value = colon + 1;
    while (*value == ' ')
        value++;
    json_t *h = json_object_get(req, "headers");
    if (!h) {
        h = json_object();
        json_object_set_new(req, "headers", h);
    }
    json_t *v = text(value);
    if (!v)
        return CLI_USAGE;
    json_object_set_new(h, name, v);
    return 0;
}

static int parse(int argc, char **argv, send_opts *o)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},    {"to", required_argument, NULL, 't'},
        {"cc", required_argument, NULL, 'c'},      {"bcc", required_argument, NULL, 'b'},
        {"reply-to", required_argument, NULL, 'R'}, {"subject", required_argument, NULL, 's'},
        {"text", required_argument, NULL, 'x'},    {"text-file", required_argument, NULL, 'X'},
        {"html-file", required_argument, NULL, 'H'}, {"attach", required_argument, NULL, 'a'},
        {"header", required_argument, NULL, 'e'},  {"tag", required_argument, NULL, 'g'},
        {"pool", required_argument, NULL, 'p'},    {"idempotency-key", required_argument, NULL, 'i'},
        {"raw", required_argument, NULL, 'r'},     {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
        {"api", required_argument, NULL, 'A'},     {"config", required_argument, NULL, 'C'},
        {"key-file", required_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': rc = address_option(o->req, "from", "from", optarg, false); break;
        case 't': rc = address_option(o->req, "to", "to", optarg, true); break;
        case 'c': rc = address_option(o->req, "cc", "cc", optarg, true); break;
        case 'b': rc = address_option(o->req, "bcc", "bcc", optarg, true); break;
        case 'R': rc = address_option(o->req, "reply-to", "reply_to", optarg, true); break;
        case 's': set(o->req, "subject", text(optarg)); break;
        case 'x': set(o->req, "text", text(optarg)); break;
        case 'X': o->text_file = optarg; break;
        case 'H': o->html_file = optarg; break;
        case 'a':
            if ((rc = attach(o->req, optarg)))
                return rc;
            break;
        case 'e':
            if ((rc = header(o->req, optarg)))
                return rc;
            break;
        case 'g': append(o->req, "tags", text(optarg)); break;
        case 'p': set(o->req, "pool", text(optarg)); break;
        case 'i': o->idem = optarg; break;
        case 'r': o->raw = optarg; break;
        case 'w': o->wait = true; break;
        case 'T':
            if (!cli_parse_long("--timeout", optarg, 1, 86400 * 7, &o->timeout))
                return CLI_USAGE;
            break;
        case 'j': o->json = true; break;
        case 'A': o->api = optarg; break;
        case 'C': o->config = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'h': fputs(send_help, stdout); return -1;
        default: fputs(send_help, stderr); return CLI_USAGE;
        }
        if (rc)
            return rc;
    }
    if (optind < argc) {
        cli_error("unexpected argument: %s", argv[optind]);
        return CLI_USAGE;
    }
    if (bad_value)
        return CLI_USAGE;
    /* a string json_string() refused (not UTF-8) left a NULL behind */
    if (json_object_size(o->req) == 0 && !o->raw) {
        fputs(send_help, stderr);
        return CLI_USAGE;
    }
    return 0;
}

static int read_key(const send_opts *o, char *key, size_t size)
{
    if (o->key_file) {
        hd_buf b;
        hd_buf_init(&b, 4096);
        int rc = cli_read_input(o->key_file, 4096, &b);
        if (!rc) {
            size_t n = b.len;
            while (n && (b.p[n - 1] == '\n' || b.p[n - 1] == '\r' || b.p[n - 1] == ' '))
                n--;
            snprintf(key, size, "%.*s", (int)n, (const char *)b.p);
        }
        hd_buf_free(&b);
        return rc;
    }
    const char *env = getenv("HERALD_API_KEY");
    if (!env || !*env) {
        cli_error("no API key: set HERALD_API_KEY or give --key-file (herald apikey create)");
        return CLI_USAGE;
    }
    snprintf(key, size, "%s", env);
    return 0;
}

static int api_address(const send_opts *o, char *host, size_t size, unsigned *port)
{
    hd_err err = {0};
    if (o->api) {
        if (net_http_parse_base(o->api, host, size, port, &err) != 0) {
            cli_error("--api %s", hd_err_str(&err));
            return CLI_USAGE;
        }
        return 0;
    }
    hd_config *cfg;
    int rc = cli_load_config(o->config, &cfg);
    if (rc)
        return rc;
    snprintf(host, size, "%s", cfg->api.listen.host);
    *port = cfg->api.listen.port;
    hd_config_free(cfg);
    return 0;
}

/* The server's error message, or the status. */
static void print_refusal(int status, const hd_buf *resp)
{
    json_t *j = json_loadb((const char *)(resp->p ? resp->p : (uint8_t *)""), resp->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    cli_error("the server answered %d: %s", status, msg ? msg : "(no reason given)");
    json_decref(j);
}

static int exit_for(int status)
{
    if (status == 401)
        return 77;      /* EX_NOPERM */
    if (status == 503 || status == 409)
        return CLI_TEMPFAIL;
    return CLI_DATAERR;
}

/* The exit code for the final states: 0 all delivered, SEND_CAPTURED
 * all captured by the sandbox, else 1. */
static int final_exit(json_t *rcpts)
{
    size_t i, delivered = 0, captured = 0;
    json_t *r;
    json_array_foreach(rcpts, i, r) {
        const char *st = json_string_value(json_object_get(r, "state"));
        delivered += st && strcmp(st, "delivered") == 0;
        captured += st && strcmp(st, "captured") == 0;
    }
    size_t n = json_array_size(rcpts);
    if (n && delivered == n)
        return CLI_OK;
    if (n && captured == n)
        return SEND_CAPTURED;
    return CLI_FAIL;
}

/* Poll GET /v1/messages/{id} until no recipient is queued. With --json
 * the final message is the one document printed; accepted is the 202
 * answer, printed instead when the message could not be followed to its
 * end (so --json always prints exactly one document). */
static int wait_final(const net_http_req *base, const char *id, const send_opts *o,
                      const hd_buf *accepted)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/messages/%s", id);
    net_http_req rq = *base;
    rq.method = "GET";
    rq.path = path;
    rq.body = (hd_slice){0};
    rq.idempotency_key = NULL;
    time_t deadline = time(NULL) + (time_t)(o->timeout ? o->timeout : 300);
    unsigned delay_ms = 100;
    for (;;) {
        hd_buf resp;
        hd_buf_init(&resp, ANSWER_MAX);
        hd_err err = {0};
        int status = 0;
        int rc = 0;
        if (net_http_call(&rq, &status, &resp, &err) != 0) {
            cli_error("%s", hd_err_str(&err));
            rc = CLI_TEMPFAIL;
        } else if (status != 200) {
            print_refusal(status, &resp);
            rc = exit_for(status);
        }
        json_t *m = rc ? NULL : json_loadb((const char *)resp.p, resp.len, 0, NULL);
        hd_buf_free(&resp);
        json_t *rcpts = json_object_get(m, "recipients");
        size_t i;
        json_t *r;
        bool done = json_array_size(rcpts) > 0;
        json_array_foreach(rcpts, i, r) {
            const char *st = json_string_value(json_object_get(r, "state"));
            done &= st && strcmp(st, "queued") != 0;
        }
        if (!rc && !m) {
            cli_error("%s: the server's answer is not JSON", id);
            rc = CLI_SOFTWARE;
        } else if (!rc && !done && time(NULL) >= deadline) {
            cli_error("%s: still queued after %llds", id, o->timeout ? o->timeout : 300);
            rc = CLI_TEMPFAIL;
        }
        if (rc) {
            if (o->json)
                printf("%.*s\n", (int)accepted->len, (const char *)accepted->p);
            json_decref(m);
            return rc;
        }
        if (done) {
            if (o->json) {
                char *s = json_dumps(m, JSON_INDENT(2));
                puts(s ? s : "{}");
                free(s);
            } else {
                json_array_foreach(rcpts, i, r) {
                    const char *reply = json_string_value(json_object_get(r, "last_reply"));
                    printf("%s %s%s%s\n", json_string_value(json_object_get(r, "address")),
                           json_string_value(json_object_get(r, "state")), reply ? ": " : "",
                           reply ? reply : "");
                }
            }
            rc = final_exit(rcpts);
            if (rc == SEND_CAPTURED)
                fprintf(stderr, "herald send: captured by the sandbox, not sent: the domain's "
                                "delivery is sandbox ([delivery] mode, [domain] delivery); "
                                "herald captures shows the copy and its verdict\n");
            json_decref(m);
            return rc;
        }
        json_decref(m);
        usleep(delay_ms * 1000);
        if (delay_ms < 2000)
            delay_ms *= 2;
    }
}

static int build_body(send_opts *o)
{
    int rc = 0;
    json_t *s;
    if (o->raw) {
        if (!(s = file_string(o->raw, true, &rc)))
            return rc;
        json_object_set_new(o->req, "raw_base64", s);
    }
    if (o->text_file) {
        if (!(s = file_string(o->text_file, false, &rc)))
            return rc;
        json_object_set_new(o->req, "text", s);
    }
    if (o->html_file) {
        if (!(s = file_string(o->html_file, false, &rc)))
            return rc;
        json_object_set_new(o->req, "html", s);
    }
    return 0;
}

int cmd_send(int argc, char **argv)
{
    send_opts o = {.req = json_object()};
    char key[256] = "", host[256];
    unsigned port = 0;
    char *body = NULL;
    int rc = parse(argc, argv, &o);
    if (rc == -1) {
        json_decref(o.req);
        return CLI_OK;
    }
    if (rc || (rc = build_body(&o)) || (rc = read_key(&o, key, sizeof key)) ||
        (rc = api_address(&o, host, sizeof host, &port)))
        goto out;
    body = json_dumps(o.req, JSON_COMPACT);
    if (!body) {
        cli_error("an option value is not UTF-8 text");
        rc = CLI_USAGE;
        goto out;
    }
    net_http_req rq = {.host = host, .port = port, .method = "POST", .path = "/v1/messages",
                       .token = key, .idempotency_key = o.idem,
                       .body = hd_slice_cstr(body), .timeout_s = 60};
    hd_buf resp;
    hd_buf_init(&resp, ANSWER_MAX);
    hd_err err = {0};
    int status = 0;
    if (net_http_call(&rq, &status, &resp, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        rc = CLI_TEMPFAIL;
    } else if (status != 202) {
        print_refusal(status, &resp);
        rc = exit_for(status);
    } else {
        json_t *a = json_loadb((const char *)resp.p, resp.len, 0, NULL);
        const char *id = json_string_value(json_object_get(a, "id"));
        if (!id) {
            cli_error("the server's answer has no message id");
            rc = CLI_SOFTWARE;
        } else {
            /* --json --wait prints one document: the final message */
            if (o.json && !o.wait)
                printf("%.*s\n", (int)resp.len, (const char *)resp.p);
            else if (!o.json)
                printf("%s\n", id);
            fflush(stdout);
            if (o.wait)
                rc = wait_final(&rq, id, &o, &resp);
        }
        json_decref(a);
    }
    hd_buf_free(&resp);
out:
    free(body);
    memset(key, 0, sizeof key);
    json_decref(o.req);
    return rc;
}
