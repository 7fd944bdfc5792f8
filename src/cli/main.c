/*
 * main.c - `herald COMMAND ...`: the command table.
 */
#include "cli.h"

#include <string.h>

static int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    puts("herald 0.1.0");
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
    {"inbound", cmd_inbound, "bounces, complaints and DMARC reports that came back: list, show"},
    {"version", cmd_version, "print the version"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return cli_dispatch("herald", commands, argc, argv);
}
