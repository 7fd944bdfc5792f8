/*
 * main.c - `herald COMMAND ...`: the command table.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpsl.h>
#include <openssl/crypto.h>
#include <zlib.h>

#include <herald/dns.h>
#include <herald/store.h>

/* generated at build time by cmake/version.cmake */
extern const char herald_version[], herald_git_commit[];

static const char version_help[] =
    "usage: herald version      (also: herald --version)\n"
    "\n"
    "Print herald's version, the git commit it was built from (when built from\n"
    "a git checkout; \"-dirty\" when the tree had uncommitted changes), and the\n"
    "versions of the libraries it runs with.\n";

static int cmd_version(int argc, char **argv)
{
    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fputs(version_help, help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    if (herald_git_commit[0])
        printf("herald %s (git %s)\n", herald_version, herald_git_commit);
    else
        printf("herald %s\n", herald_version);
    /* the libraries as loaded now, which may be newer than those built against */
    printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  libevent %s\n", event_get_version());
    printf("  libunbound %s\n", hd_dns_unbound_version());
    printf("  SQLite %s\n", hd_store_sqlite_version());
    printf("  jansson %s\n", jansson_version_str());
    printf("  libpsl %s\n", psl_get_version());
    printf("  zlib %s\n", zlibVersion());
    return CLI_OK;
}

static const cli_cmd commands[] = {
    {"dkim", cmd_dkim, "DKIM keys, signing and verification"},
    {"spf", cmd_spf, "SPF evaluation (RFC 7208)"},
    {"verify", cmd_verify, "a receiver's verdict: SPF, DKIM, DMARC, explained"},
    {"arc", cmd_arc, "ARC chain validation and sealing (RFC 8617)"},
    {"dmarc", cmd_dmarc, "DMARC policy discovery and record checks (RFC 9989)"},
    {"serve", cmd_serve, "run the delivery server (SMTP submission, queue, delivery)"},
    {"queue", cmd_queue, "the server's queue: list, show, retry, delete, flush"},
    {"captures", cmd_captures, "what sandbox delivery captured, with a receiver's verdict"},
    {"events", cmd_events, "what happened to messages: accepted, delivered, bounced ..."},
    {"domain", cmd_domain, "sending domains: DKIM keys, rotation, DNS records to publish"},
    {"user", cmd_user, "submission users: add, list, remove, change passwords"},
    {"apikey", cmd_apikey, "keys for the HTTP API: create, list, revoke"},
    {"send", cmd_send, "send a message through a running server's HTTP API"},
    {"webhooks", cmd_webhooks, "webhook endpoints: list, failed (dead letters), retry"},
    {"inbound", cmd_inbound, "bounces, complaints and DMARC reports that came back: list, show, parse"},
    {"version", cmd_version, "print the version"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
        return cmd_version(1, argv + 1);
    return cli_dispatch("herald", commands, argc, argv);
}
