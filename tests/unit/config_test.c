/*
 * config_test.c - the server's configuration: defaults, every value type,
 * every error with its line, the look-ups, trusted networks, and the
 * example file in docs/.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/config.h>

static hd_config *parse_ok(const char *text)
{
    hd_config *cfg = NULL;
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_config_parse("t.conf", text, strlen(text), &cfg, &err);
    if (rc != 0)
        fail_msg("parse failed (%d): %s\n--- text:\n%s", rc, err.msg, text);
    assert_non_null(cfg);
    return cfg;
}

/* ---- defaults ---------------------------------------------------------- */

static void check_defaults(const hd_config *c)
{
    assert_string_equal(c->hostname, "localhost");
    assert_string_equal(c->data_dir, "./herald-data");
    assert_string_equal(c->log_level, "info");
    assert_int_equal(c->dkim_canon, HD_CONFIG_CANON_RELAXED_RELAXED);
    assert_int_equal(c->smtp.n_listen, 1);
    assert_string_equal(c->smtp.listen[0].host, "127.0.0.1");
    assert_int_equal(c->smtp.listen[0].port, 2525);
    assert_null(c->smtp.tls_cert);
    assert_null(c->smtp.tls_key);
    assert_int_equal(c->smtp.max_message_size, 26214400);
    assert_int_equal(c->smtp.max_recipients, 1000);
    assert_int_equal(c->smtp.max_sessions, 2000);
    assert_int_equal(c->smtp.idle_timeout, 300);
    /* issue 14: AUTH everywhere by default; loopback is not trusted */
    assert_int_equal(c->smtp.n_trusted_networks, 0);
    assert_false(hd_config_trusted(c, "127.0.0.1"));
    assert_false(hd_config_trusted(c, "::1"));
    assert_int_equal(c->smtp.auth_failures_per_minute, 5);
    /* the per-client caps skip loopback on both listeners (Postfix's
     * smtpd_client_event_limit_exceptions = $mynetworks) */
    assert_true(hd_config_in_networks(c->smtp.client_limit_exceptions,
                                      c->smtp.n_client_limit_exceptions, "127.0.0.1"));
    assert_true(hd_config_in_networks(c->smtp.client_limit_exceptions,
                                      c->smtp.n_client_limit_exceptions, "::1"));
    assert_false(hd_config_in_networks(c->smtp.client_limit_exceptions,
                                       c->smtp.n_client_limit_exceptions, "192.0.2.1"));
    assert_true(hd_config_in_networks(c->inbound.client_limit_exceptions,
                                      c->inbound.n_client_limit_exceptions, "127.1.2.3"));
    /* the HTTP listeners' per-client caps, loopback not counted */
    assert_int_equal(c->api.max_connections_per_client, 32);
    assert_int_equal(c->status.max_connections_per_client, 8);
    assert_true(hd_config_in_networks(c->api.client_limit_exceptions,
                                      c->api.n_client_limit_exceptions, "127.0.0.2"));
    assert_true(hd_config_in_networks(c->status.client_limit_exceptions,
                                      c->status.n_client_limit_exceptions, "::1"));
    assert_false(hd_config_in_networks(c->api.client_limit_exceptions,
                                       c->api.n_client_limit_exceptions, "192.0.2.1"));
    assert_string_equal(c->status.listen.host, "127.0.0.1");
    assert_int_equal(c->status.listen.port, 8025);
    assert_int_equal(c->inbound.n_listen, 1);
    assert_string_equal(c->inbound.listen[0].host, "127.0.0.1");
    assert_int_equal(c->inbound.listen[0].port, 2526);
    assert_true(c->inbound.listen_default);
    assert_int_equal(c->inbound.max_message_size, 10u * 1024 * 1024);
    assert_int_equal(c->inbound.max_recipients, 100);
    assert_int_equal(c->inbound.max_sessions, 200);
    assert_null(c->inbound.bounce_rules);
    assert_int_equal(c->inbound.soft_bounce_limit, 0);         /* off */
    assert_int_equal(c->inbound.soft_bounce_window, 7 * 86400);
    assert_int_equal(c->inbound.soft_bounce_suppress_for, 7 * 86400);
    assert_int_equal(c->queue.max_lifetime, 432000);
    assert_int_equal(c->queue.retry_min, 60);
    assert_int_equal(c->queue.retry_max, 3600);
    assert_int_equal(c->queue.commit_batch, 256);
    assert_int_equal(c->queue.signing_threads, 0);
    assert_true(c->queue.durable);
    assert_int_equal(c->queue.max_queued, 1000000);
    assert_int_equal(c->queue.min_free_space, 100u * 1024 * 1024);
    assert_int_equal(c->queue.retention, 30u * 86400);
    assert_int_equal(c->queue.max_inflight, 256u * 1024 * 1024);
    assert_int_equal(c->delivery.mode, HD_DELIVERY_SANDBOX);
    assert_int_equal(c->delivery.remote_port, 25);
    assert_int_equal(c->delivery.tls, HD_TLS_POLICY_OPPORTUNISTIC);
    assert_int_equal(c->delivery.max_connections, 500);
    assert_int_equal(c->delivery.max_connections_per_destination, 20);
    assert_int_equal(c->delivery.max_messages_per_connection, 100);
    assert_int_equal(c->delivery.max_messages_per_minute, 0);
    assert_int_equal(c->delivery.connect_timeout, 30);
    assert_int_equal(c->delivery.command_timeout, 300);
    assert_null(c->delivery.default_pool);
    assert_null(c->dns.resolver);
    assert_null(c->dns.zone_file);
    assert_int_equal(c->dns.timeout_ms, 5000);
    assert_int_equal(c->n_domains, 0);
    assert_int_equal(c->n_pools, 0);
    assert_int_equal(c->n_routes, 0);
}

static void test_defaults(void **state)
{
    hd_config *c;
    assert_int_equal(hd_config_defaults(&c, NULL), 0);
    check_defaults(c);
    assert_int_equal(hd_config_delivery_for(c, "example.com"), HD_DELIVERY_SANDBOX);
    assert_null(hd_config_route_find(c, "example.com"));
    hd_config_free(c);
}

static void test_empty_and_comment_only_files_are_the_defaults(void **state)
{
    const char *texts[] = {"", "\n\n", "# nothing\n   # indented\n\t\n", "\xef\xbb\xbf# BOM\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        hd_config *c = parse_ok(texts[i]);
        check_defaults(c);
        hd_config_free(c);
    }
}

/* ---- every type -------------------------------------------------------- */

static void test_every_key(void **state)
{
    hd_config *c = parse_ok("hostname = Mail.Example.COM.\n"
                            "data_dir=/var/lib/herald\n"
                            "log_level = DEBUG\n"
                            "dkim_canonicalization = Simple/Simple\n"
                            "[smtp]\n"
                            "listen = 0.0.0.0:25 [::]:587 localhost:2525\n"
                            "tls_cert = /etc/herald/cert.pem\n"
                            "tls_key = /etc/herald/key.pem\n"
                            "max_message_size = 10M\n"
                            "max_recipients = 50\n"
                            "max_sessions = 7\n"
                            "idle_timeout = 10m\n"
                            "trusted_networks = 10.0.0.0/8 fd00::/8 192.0.2.1\n"
                            "auth_failures_per_minute = 0\n"
                            "[status]\n"
                            "listen = [::1]:9000\n"
                            "[queue]\n"
                            "max_lifetime = 2d\n"
                            "retry_min = 30s\n"
                            "retry_max = 2h\n"
                            "commit_batch = 1\n"
                            "signing_threads = 4\n"
                            "durable = off\n"
                            "[delivery]\n"
                            "mode = real\n"
                            "remote_port = 2526\n"
                            "tls = required\n"
                            "max_connections = 20\n"
                            "max_connections_per_destination = 2\n"
                            "max_messages_per_connection = 3\n"
                            "max_messages_per_minute = 60\n"
                            "connect_timeout = 5\n"
                            "command_timeout = 1m\n"
                            "default_pool = Main\n"
                            "[dns]\n"
                            "resolver = ::1@5353\n"
                            "timeout_ms = 250\n"
                            "[pool main]\n"
                            "addresses = 192.0.2.10 2001:db8::10\n"
                            "ehlo = a.example.com B.example.com\n");
    assert_string_equal(c->hostname, "mail.example.com");
    assert_string_equal(c->data_dir, "/var/lib/herald");
    assert_string_equal(c->log_level, "debug");
    assert_int_equal(c->dkim_canon, HD_CONFIG_CANON_SIMPLE_SIMPLE);
    assert_int_equal(c->smtp.n_listen, 3);
    assert_string_equal(c->smtp.listen[0].host, "0.0.0.0");
    assert_int_equal(c->smtp.listen[0].port, 25);
    assert_string_equal(c->smtp.listen[1].host, "::");
    assert_int_equal(c->smtp.listen[1].port, 587);
    assert_string_equal(c->smtp.listen[2].host, "localhost");
    assert_int_equal(c->smtp.listen[2].port, 2525);
    assert_string_equal(c->smtp.tls_cert, "/etc/herald/cert.pem");
    assert_string_equal(c->smtp.tls_key, "/etc/herald/key.pem");
    assert_int_equal(c->smtp.max_message_size, 10 * 1024 * 1024);
    assert_int_equal(c->smtp.max_recipients, 50);
    assert_int_equal(c->smtp.max_sessions, 7);
    assert_int_equal(c->smtp.idle_timeout, 600);
    assert_int_equal(c->smtp.n_trusted_networks, 3);
    assert_string_equal(c->smtp.trusted_networks[1], "fd00::/8");
    assert_string_equal(c->smtp.trusted_networks[2], "192.0.2.1");
    assert_int_equal(c->smtp.auth_failures_per_minute, 0);
    assert_string_equal(c->status.listen.host, "::1");
    assert_int_equal(c->status.listen.port, 9000);
    assert_int_equal(c->queue.max_lifetime, 2 * 86400);
    assert_int_equal(c->queue.retry_min, 30);
    assert_int_equal(c->queue.retry_max, 7200);
    assert_int_equal(c->queue.commit_batch, 1);
    assert_int_equal(c->queue.signing_threads, 4);
    assert_false(c->queue.durable);
    assert_int_equal(c->delivery.mode, HD_DELIVERY_REAL);
    assert_int_equal(c->delivery.remote_port, 2526);
    assert_int_equal(c->delivery.tls, HD_TLS_POLICY_REQUIRED);
    assert_int_equal(c->delivery.max_connections, 20);
    assert_int_equal(c->delivery.max_connections_per_destination, 2);
    assert_int_equal(c->delivery.max_messages_per_connection, 3);
    assert_int_equal(c->delivery.max_messages_per_minute, 60);
    assert_int_equal(c->delivery.connect_timeout, 5);
    assert_int_equal(c->delivery.command_timeout, 60);
    assert_string_equal(c->delivery.default_pool, "main");
    assert_string_equal(c->dns.resolver, "::1@5353");
    assert_int_equal(c->dns.timeout_ms, 250);
    assert_int_equal(c->n_pools, 1);
    const hd_config_pool *p = hd_config_pool_find(c, "MAIN");
    assert_non_null(p);
    assert_int_equal(p->n_addresses, 2);
    assert_string_equal(p->addresses[1], "2001:db8::10");
    assert_int_equal(p->n_ehlo, 2);
    assert_string_equal(p->ehlo[1], "b.example.com");
    hd_config_free(c);
}

/* One key in one section, and the value it must give (as a number) or
 * the error it must raise. */
struct value_case {
    const char *section, *line;
    int want_rc;
    uint64_t want;
};

static uint64_t field_of(const hd_config *c, const char *line)
{
    if (strncmp(line, "max_message_size", 16) == 0)
        return c->smtp.max_message_size;
    if (strncmp(line, "idle_timeout", 12) == 0)
        return c->smtp.idle_timeout;
    if (strncmp(line, "max_lifetime", 12) == 0)
        return c->queue.max_lifetime;
    if (strncmp(line, "durable", 7) == 0)
        return c->queue.durable;
    if (strncmp(line, "remote_port", 11) == 0)
        return c->delivery.remote_port;
    if (strncmp(line, "max_recipients", 14) == 0)
        return c->smtp.max_recipients;
    if (strncmp(line, "tls", 3) == 0)
        return (uint64_t)c->delivery.tls;
    if (strncmp(line, "mode", 4) == 0)
        return (uint64_t)c->delivery.mode;
    if (strncmp(line, "timeout_ms", 10) == 0)
        return c->dns.timeout_ms;
    fail_msg("no field for %s", line);
    return 0;
}

static const struct value_case value_cases[] = {
    /* sizes: 1024-based suffixes, upper or lower case */
    {"smtp", "max_message_size = 1", 0, 1},
    {"smtp", "max_message_size = 25M", 0, 26214400},
    {"smtp", "max_message_size = 64k", 0, 65536},
    {"smtp", "max_message_size = 64M", 0, 67108864},
    {"smtp", "max_message_size = 65M", HD_ESYNTAX, 0},  /* past the parser limit */
    {"smtp", "max_message_size = 1G", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = 0", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = 25MB", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = M", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = -1", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = 2.5M", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = 99999999999999999999999K", HD_ESYNTAX, 0},
    {"smtp", "max_message_size = 25 M", HD_ESYNTAX, 0},
    /* durations */
    {"smtp", "idle_timeout = 60", 0, 60},
    {"smtp", "idle_timeout = 60s", 0, 60},
    {"smtp", "idle_timeout = 2m", 0, 120},
    {"smtp", "idle_timeout = 1h", 0, 3600},
    {"queue", "max_lifetime = 5d", 0, 432000},
    {"queue", "max_lifetime = 5D", 0, 432000},
    {"queue", "max_lifetime = 49710d", 0, 4294944000u},
    {"queue", "max_lifetime = 49711d", HD_ESYNTAX, 0},  /* past 32 bits */
    {"queue", "max_lifetime = 4294967296", HD_ESYNTAX, 0},
    {"queue", "max_lifetime = 0", HD_ESYNTAX, 0},
    {"queue", "max_lifetime = 1w", HD_ESYNTAX, 0},
    {"queue", "max_lifetime = 1h30m", HD_ESYNTAX, 0},
    /* booleans */
    {"queue", "durable = yes", 0, 1},
    {"queue", "durable = no", 0, 0},
    {"queue", "durable = TRUE", 0, 1},
    {"queue", "durable = false", 0, 0},
    {"queue", "durable = on", 0, 1},
    {"queue", "durable = Off", 0, 0},
    {"queue", "durable = 1", HD_ESYNTAX, 0},
    {"queue", "durable = yess", HD_ESYNTAX, 0},
    /* ports and counts */
    {"delivery", "remote_port = 1", 0, 1},
    {"delivery", "remote_port = 65535", 0, 65535},
    {"delivery", "remote_port = 0", HD_ESYNTAX, 0},
    {"delivery", "remote_port = 65536", HD_ESYNTAX, 0},
    {"delivery", "remote_port = smtp", HD_ESYNTAX, 0},
    {"smtp", "max_recipients = 4294967295", 0, 4294967295u},
    {"smtp", "max_recipients = 4294967296", HD_ESYNTAX, 0},
    {"smtp", "max_recipients = 0", HD_ESYNTAX, 0},
    {"smtp", "max_recipients = +5", HD_ESYNTAX, 0},
    {"dns", "timeout_ms = 3600000", 0, 3600000},
    {"dns", "timeout_ms = 3600001", HD_ESYNTAX, 0},
    /* enumerations, any case */
    {"delivery", "tls = none", 0, HD_TLS_POLICY_NONE},
    {"delivery", "tls = opportunistic", 0, HD_TLS_POLICY_OPPORTUNISTIC},
    {"delivery", "tls = Verify", 0, HD_TLS_POLICY_VERIFY},
    {"delivery", "tls = required", 0, HD_TLS_POLICY_REQUIRED},
    {"delivery", "tls = maybe", HD_ESYNTAX, 0},
    {"delivery", "mode = real", 0, HD_DELIVERY_REAL},
    {"delivery", "mode = SANDBOX", 0, HD_DELIVERY_SANDBOX},
    {"delivery", "mode = live", HD_ESYNTAX, 0},
};

static void test_values(void **state)
{
    for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
        const struct value_case *vc = &value_cases[i];
        char text[512];
        snprintf(text, sizeof text, "# leading comment\n[%s]\n%s\n", vc->section, vc->line);
        hd_config *c = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_config_parse("t.conf", text, strlen(text), &c, &err);
        if (rc != vc->want_rc)
            fail_msg("[%s] %s: rc %d want %d (%s)", vc->section, vc->line, rc, vc->want_rc,
                     err.msg);
        if (rc != 0) {
            assert_null(c);
            /* the message names the line, the key and the value */
            char key[64];
            size_t klen = strcspn(vc->line, " =");
            snprintf(key, sizeof key, "%.*s", (int)klen, vc->line);
            if (strncmp(err.msg, "t.conf:3: ", 10) != 0 || strstr(err.msg, key) == NULL ||
                strstr(err.msg, "expected") == NULL)
                fail_msg("[%s] %s: message %s", vc->section, vc->line, err.msg);
            continue;
        }
        if (field_of(c, vc->line) != vc->want)
            fail_msg("[%s] %s: got %llu want %llu", vc->section, vc->line,
                     (unsigned long long)field_of(c, vc->line), (unsigned long long)vc->want);
        hd_config_free(c);
    }
}

/* Endpoints: the host kept (brackets gone, names in lower case) or the
 * value refused. */
struct endpoint_case {
    const char *value, *host;
    uint16_t port;
};

static const struct endpoint_case endpoint_cases[] = {
    {"127.0.0.1:2525", "127.0.0.1", 2525},
    {"[::1]:25", "::1", 25},
    {"[2001:db8::1]:65535", "2001:db8::1", 65535},
    {"[::ffff:192.0.2.1]:25", "::ffff:192.0.2.1", 25},
    {"MX.Example.NET:25", "mx.example.net", 25},
    {"mx.example.net.:25", "mx.example.net", 25},
    {"localhost:1", "localhost", 1},
    {"127.0.0.1", NULL, 0},         /* no port */
    {"127.0.0.1:", NULL, 0},
    {"127.0.0.1:0", NULL, 0},
    {"127.0.0.1:65536", NULL, 0},
    {"127.0.0.1:25x", NULL, 0},
    {"::1:25", NULL, 0},            /* IPv6 needs brackets */
    {"[::1]", NULL, 0},
    {"[::1]25", NULL, 0},
    {"[::1:25", NULL, 0},
    {"[192.0.2.1]:25", NULL, 0},    /* brackets are for IPv6 */
    {"[nothost]:25", NULL, 0},
    {":25", NULL, 0},
    {"999.1.1.1:25", NULL, 0},      /* neither an address nor a name */
    {"bad_name:25", NULL, 0},
    {"-bad.example:25", NULL, 0},
};

static void test_endpoints(void **state)
{
    for (size_t i = 0; i < sizeof endpoint_cases / sizeof endpoint_cases[0]; i++) {
        const struct endpoint_case *ec = &endpoint_cases[i];
        char text[256];
        snprintf(text, sizeof text, "[route example.net]\nnext_hop = %s\n", ec->value);
        hd_config *c = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_config_parse("t.conf", text, strlen(text), &c, &err);
        if (ec->host == NULL) {
            if (rc != HD_ESYNTAX || strncmp(err.msg, "t.conf:2: ", 10) != 0 ||
                strstr(err.msg, "next_hop") == NULL)
                fail_msg("%s: rc %d, message %s", ec->value, rc, err.msg);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: %s", ec->value, err.msg);
        const hd_config_route *r = hd_config_route_find(c, "example.net");
        assert_non_null(r);
        if (strcmp(r->next_hop.host, ec->host) != 0 || r->next_hop.port != ec->port)
            fail_msg("%s: got %s port %u", ec->value, r->next_hop.host, r->next_hop.port);
        hd_config_free(c);
    }
}

/* CIDR lists: accepted or refused as a whole. */
static void test_cidrs(void **state)
{
    static const struct {
        const char *value;
        bool ok;
    } cases[] = {
        {"0.0.0.0/0", true},
        {"10.0.0.0/8 172.16.0.0/12 192.168.0.0/16", true},
        {"192.0.2.1/32 192.0.2.1", true},
        {"::/0 fe80::/10 2001:db8::/128", true},
        {"::ffff:10.0.0.0/104", true},
        {"10.0.0.0/33", false},
        {"::/129", false},
        {"10.0.0.0/", false},
        {"10.0.0.0/-1", false},
        {"10.0.0.0/8/8", false},
        {"10.0.0/8", false},
        {"/8", false},
        {"10.0.0.0/0008", false},
        {"example.com/8", false},
        {"10.0.0.0/8,192.168.0.0/16", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[smtp]\ntrusted_networks = %s\n", cases[i].value);
        hd_config *c = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_config_parse("t.conf", text, strlen(text), &c, &err);
        if ((rc == 0) != cases[i].ok)
            fail_msg("%s: rc %d (%s)", cases[i].value, rc, err.msg);
        if (rc != 0 && (strncmp(err.msg, "t.conf:2: ", 10) != 0 ||
                        strstr(err.msg, "trusted_networks") == NULL))
            fail_msg("%s: message %s", cases[i].value, err.msg);
        hd_config_free(c);
    }
    /* an empty list trusts no one */
    hd_config *c = parse_ok("[smtp]\ntrusted_networks =\n");
    assert_int_equal(c->smtp.n_trusted_networks, 0);
    assert_false(hd_config_trusted(c, "127.0.0.1"));
    hd_config_free(c);
}

/* [inbound]: its own keys, beside [smtp]'s of the same names; an empty
 * listen turns the bounce intake off. */
static void test_inbound_section(void **state)
{
    hd_config *c = parse_ok("[smtp]\nmax_sessions = 9\n"
                            "[inbound]\nlisten = 0.0.0.0:25 [::]:25\nmax_message_size = 2M\n"
                            "max_recipients = 5\nmax_sessions = 30\n"
                            "bounce_rules = /etc/herald/bounce-rules.txt\n"
                            "soft_bounce_limit = 3\nsoft_bounce_window = 2d\n"
                            "soft_bounce_suppress_for = 12h\n"
                            "hard_reasons = blocked PolicyViolation\n");
    assert_int_equal(c->inbound.n_listen, 2);
    assert_string_equal(c->inbound.listen[0].host, "0.0.0.0");
    assert_int_equal(c->inbound.listen[0].port, 25);
    assert_string_equal(c->inbound.listen[1].host, "::");
    assert_false(c->inbound.listen_default);
    assert_int_equal(c->inbound.max_message_size, 2u * 1024 * 1024);
    assert_int_equal(c->inbound.max_recipients, 5);
    assert_int_equal(c->inbound.max_sessions, 30);
    assert_string_equal(c->inbound.bounce_rules, "/etc/herald/bounce-rules.txt");
    assert_int_equal(c->inbound.soft_bounce_limit, 3);
    assert_int_equal(c->inbound.soft_bounce_window, 2 * 86400);
    assert_int_equal(c->inbound.soft_bounce_suppress_for, 12 * 3600);
    assert_int_equal(c->inbound.n_hard_reasons, 2);
    assert_string_equal(c->inbound.hard_reasons[0], "blocked");
    assert_string_equal(c->inbound.hard_reasons[1], "PolicyViolation"); /* matched without case */
    assert_int_equal(c->smtp.max_sessions, 9);
    assert_int_equal(c->smtp.max_message_size, 26214400);
    hd_config_free(c);

    c = parse_ok("[inbound]\nlisten =\n");
    assert_int_equal(c->inbound.n_listen, 0);
    assert_false(c->inbound.listen_default);
    assert_null(c->inbound.listen);
    hd_config_free(c);

    static const char *const bad[] = {
        "[inbound]\nlisten = 127.0.0.1\n",          /* no port */
        "[inbound]\nmax_message_size = 0\n",
        "[inbound]\nmax_recipients = 0\n",
        "[inbound]\ntls_cert = /x\n",               /* [smtp]'s, not here */
        "[inbound]\n[inbound]\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        hd_config *cfg = NULL;
        hd_err err = {0};
        if (hd_config_parse("t.conf", bad[i], strlen(bad[i]), &cfg, &err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_null(cfg);
        assert_non_null(strstr(err.msg, "t.conf:2: "));
    }
}

static void test_comments_and_layout(void **state)
{
    hd_config *c = parse_ok("  hostname=a.example   # trailing comment\r\n"
                            "data_dir = /srv/a#b\r\n"          /* '#' inside a value */
                            "log_level\t=\twarn\t#\ttabbed\n"
                            "\t[ smtp ]   # comment after a header\n"
                            "tls_cert = /x/cert.pem #c\n"
                            "tls_key = /x/key #1.pem\n"
                            "[DOMAIN Example.ORG]\n"
                            "Delivery = REAL\n"
                            "[route *]\n"
                            "next_hop=127.0.0.1:2526");        /* no final newline */
    assert_string_equal(c->hostname, "a.example");
    assert_string_equal(c->data_dir, "/srv/a#b");
    assert_string_equal(c->log_level, "warn");
    assert_string_equal(c->smtp.tls_cert, "/x/cert.pem");
    assert_string_equal(c->smtp.tls_key, "/x/key");
    assert_int_equal(c->n_domains, 1);
    assert_string_equal(c->domains[0].name, "example.org");
    assert_true(c->domains[0].has_delivery);
    assert_int_equal(c->n_routes, 1);
    assert_string_equal(c->routes[0].domain, "*");
    assert_int_equal(c->routes[0].next_hop.port, 2526);
    hd_config_free(c);
}

/* ---- errors, with the exact line --------------------------------------- */

struct error_case {
    const char *name, *text;
    int want_rc;
    const char *want_prefix; /* "t.conf:LINE: " */
    const char *want_in;     /* a part of the reason */
};

static const struct error_case error_cases[] = {
    {"log format is text or json", "[log]\nformat = journal\n", HD_ESYNTAX, "t.conf:2: ",
     "[log] format = \"journal\": expected one of text, json"},
    {"log level is spelt as documented", "log_level = warning\n", HD_ESYNTAX, "t.conf:1: ",
     "expected one of debug, info, warn, error"},
    {"unknown section", "hostname = a.example\n[mail]\n", HD_ESYNTAX, "t.conf:2: ",
     "unknown section [mail]"},
    {"unknown key names key and section", "[smtp]\nlisten = 127.0.0.1:25\nport = 25\n",
     HD_ESYNTAX, "t.conf:3: ", "[smtp] unknown key \"port\""},
    {"unknown key lists the known ones", "[queue]\nfoo = 1\n", HD_ESYNTAX, "t.conf:2: ",
     "known here: max_lifetime, retry_min"},
    {"top-level key inside a section", "[smtp]\nhostname = a.example\n", HD_ESYNTAX,
     "t.conf:2: ", "belongs at the top"},
    {"key of another section", "[smtp]\n\n\nremote_port = 25\n", HD_ESYNTAX, "t.conf:4: ",
     "belongs in [delivery]"},
    {"unknown top-level key", "# c\nfoo = bar\n", HD_ESYNTAX, "t.conf:2: ",
     "unknown key \"foo\" at the top level"},
    {"bad value names key, value and expectation", "[smtp]\nmax_message_size = lots\n",
     HD_ESYNTAX, "t.conf:2: ", "max_message_size = \"lots\": expected a size"},
    {"bad log level", "log_level = loud\n", HD_ESYNTAX, "t.conf:1: ",
     "expected one of debug, info, warn, error"},
    {"bad canonicalization", "dkim_canonicalization = relaxed\n", HD_ESYNTAX, "t.conf:1: ",
     "expected one of relaxed/relaxed, simple/simple, relaxed/simple, simple/relaxed"},
    {"bad host name", "hostname = mail..example\n", HD_ESYNTAX, "t.conf:1: ", "empty label"},
    {"host name with underscore", "hostname = mail_1.example\n", HD_ESYNTAX, "t.conf:1: ",
     "not a host name"},
    {"duplicate key", "[delivery]\nmode = real\ntls = none\nmode = sandbox\n", HD_ESYNTAX,
     "t.conf:4: ", "mode is given twice"},
    {"duplicate key in another case", "[delivery]\nmode = real\nMODE = real\n", HD_ESYNTAX,
     "t.conf:3: ", "given twice"},
    {"duplicate top-level key", "hostname = a.example\nhostname = b.example\n", HD_ESYNTAX,
     "t.conf:2: ", "given twice"},
    {"duplicate fixed section", "[smtp]\n[queue]\n[smtp]\n", HD_ESYNTAX, "t.conf:3: ",
     "duplicate section [smtp] (first at line 1)"},
    {"duplicate domain, in other case with a dot",
     "[domain example.com]\ndelivery = real\n[domain Example.COM.]\n", HD_ESYNTAX, "t.conf:3: ",
     "duplicate section [domain example.com] (first at line 1)"},
    {"duplicate pool", "[pool a]\naddresses = 192.0.2.1\n[pool b]\naddresses = 192.0.2.2\n"
                       "[pool A]\naddresses = 192.0.2.3\n",
     HD_ESYNTAX, "t.conf:5: ", "duplicate section [pool a] (first at line 1)"},
    {"duplicate route", "[route *]\nnext_hop = 127.0.0.1:25\n[route *]\n", HD_ESYNTAX,
     "t.conf:3: ", "duplicate section [route *]"},
    {"domain refers to an unknown pool",
     "[pool a]\naddresses = 192.0.2.1\n[domain example.com]\ndelivery = real\npool = b\n",
     HD_EINVAL, "t.conf:5: ", "[domain example.com] pool = b, but no [pool b]"},
    {"default pool unknown", "[delivery]\n\ndefault_pool = main\n", HD_EINVAL, "t.conf:3: ",
     "no [pool main]"},
    {"ehlo count differs from addresses",
     "[pool a]\naddresses = 192.0.2.1\n\n[pool b]\naddresses = 192.0.2.1 192.0.2.2\n"
     "ehlo = x.example\n[route *]\nnext_hop = 127.0.0.1:25\n",
     HD_EINVAL, "t.conf:4: ", "[pool b] has 1 ehlo names for 2 addresses"},
    {"ehlo count checked at the end of the file",
     "[pool b]\naddresses = 192.0.2.1\nehlo = a.example b.example\n", HD_EINVAL, "t.conf:1: ",
     "2 ehlo names for 1 addresses"},
    {"pool without addresses", "[pool a]\nehlo = x.example\n[smtp]\n", HD_EINVAL, "t.conf:1: ",
     "[pool a] has no addresses"},
    {"route without next_hop", "# c\n[route example.net]\n", HD_EINVAL, "t.conf:2: ",
     "[route example.net] has no next_hop"},
    {"pool address not an IP", "[pool a]\naddresses = 192.0.2.1 mail.example\n", HD_ESYNTAX,
     "t.conf:2: ", "\"mail.example\" is not an IPv4 or IPv6 address"},
    {"ehlo not a name", "[pool a]\naddresses = 192.0.2.1\nehlo = 192.0.2.1\n", HD_ESYNTAX,
     "t.conf:3: ", "all-digit last label"},
    {"pool name bad in a reference", "[domain example.com]\npool = a/b\n", HD_ESYNTAX,
     "t.conf:2: ", "not a pool name"},
    {"over-long line", NULL /* built in the test */, HD_ESYNTAX, "t.conf:2: ",
     "longer than 4096 bytes"},
    {"NUL byte", "# c\nhostname = a\0b\n", HD_ESYNTAX, "t.conf:2: ", "NUL byte at column 13"},
    {"control character", "hostname = a\x1b[31m\n", HD_ESYNTAX, "t.conf:1: ",
     "control character 0x1b"},
    {"lone CR", "hostname = a\rdata_dir = b\n", HD_ESYNTAX, "t.conf:1: ",
     "control character 0x0d"},
    {"invalid UTF-8", "# ok \xc3\xa9\n# bad \xc3\x28\n", HD_ESYNTAX, "t.conf:2: ",
     "invalid UTF-8 at column 7"},
    {"overlong UTF-8", "data_dir = /\xc0\xaf\n", HD_ESYNTAX, "t.conf:1: ", "invalid UTF-8"},
    {"UTF-8 surrogate", "data_dir = /\xed\xa0\x80\n", HD_ESYNTAX, "t.conf:1: ",
     "invalid UTF-8"},
    {"missing value", "[smtp]\ntls_cert =   # nothing\n", HD_ESYNTAX, "t.conf:2: ",
     "tls_cert: the value is missing"},
    {"empty list where one is needed", "[smtp]\nlisten =\n", HD_ESYNTAX, "t.conf:2: ",
     "listen: the value is missing"},
    {"no equals sign", "[smtp]\nlisten 127.0.0.1:25\n", HD_ESYNTAX, "t.conf:2: ",
     "expected \"key = value\""},
    {"no key", "= value\n", HD_ESYNTAX, "t.conf:1: ", "no key before the '='"},
    {"space inside a key", "max size = 5\n", HD_ESYNTAX, "t.conf:1: ", "is not a key"},
    {"header without ']'", "[smtp\n", HD_ESYNTAX, "t.conf:1: ", "closing ']'"},
    {"text after a header", "[smtp] listen = 1\n", HD_ESYNTAX, "t.conf:1: ",
     "text after the section header"},
    {"domain without a name", "[domain]\n", HD_ESYNTAX, "t.conf:1: ", "[domain] needs a name"},
    {"fixed section with a name", "[smtp main]\n", HD_ESYNTAX, "t.conf:1: ",
     "[smtp] takes no name"},
    {"two names", "[domain a.example b.example]\n", HD_ESYNTAX, "t.conf:1: ", "one name only"},
    {"domain name with a bad label", "[domain -a.example]\n", HD_ESYNTAX, "t.conf:1: ",
     "starts or ends with '-'"},
    {"IP address as a domain", "[domain 192.0.2.1]\n", HD_ESYNTAX, "t.conf:1: ",
     "all-digit last label"},
    {"label of 64 bytes",
     "[domain aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example]\n",
     HD_ESYNTAX, "t.conf:1: ", "longer than 63 bytes"},
    {"wildcard only for routes", "[domain *]\n", HD_ESYNTAX, "t.conf:1: ",
     "expected a domain name"},
    {"partial wildcard route", "[route *.example]\n", HD_ESYNTAX, "t.conf:1: ",
     "a domain name or *"},
    {"pool name with a dot", "[pool a.b]\n", HD_ESYNTAX, "t.conf:1: ", "a pool name"},
    {"tls_cert without tls_key", "hostname = a.example\n[smtp]\ntls_cert = /c.pem\n", HD_EINVAL,
     "t.conf:2: ", "tls_cert but no tls_key"},
    {"tls_key without tls_cert", "[smtp]\ntls_key = /k.pem\n", HD_EINVAL, "t.conf:1: ",
     "tls_key but no tls_cert"},
    {"retry_min above retry_max", "\n[queue]\nretry_min = 2h\n", HD_EINVAL, "t.conf:2: ",
     "retry_min (7200 s) is longer than retry_max (3600 s)"},
    {"soft_bounce_window beyond retention",
     "\n[inbound]\nsoft_bounce_limit = 3\nsoft_bounce_window = 40d\n", HD_EINVAL, "t.conf:2: ",
     "soft_bounce_window (3456000 s) is longer than [queue] retention (2592000 s)"},
    {"soft_bounce_limit range", "[inbound]\nsoft_bounce_limit = 1001\n", HD_ESYNTAX, "t.conf:2: ",
     "from 0 to 1000"},
    {"hard_reasons not words", "[inbound]\nhard_reasons = blocked 5.7.1\n", HD_ESYNTAX,
     "t.conf:2: ", "[inbound] hard_reasons: \"5.7.1\" is not a word: byte 1 is not a letter"},
    {"soft_bounce_suppress_for of 0", "[inbound]\nsoft_bounce_suppress_for = 0\n", HD_ESYNTAX,
     "t.conf:2: ", "soft_bounce_suppress_for"},
    {"resolver and zone_file", "[dns]\nresolver = 127.0.0.1\nzone_file = z.zone\n", HD_EINVAL,
     "t.conf:1: ", "both resolver and zone_file"},
    {"resolver not an address", "[dns]\nresolver = dns.example\n", HD_ESYNTAX, "t.conf:2: ",
     "ADDR[@PORT]"},
    {"resolver port 0", "[dns]\nresolver = 127.0.0.1@0\n", HD_ESYNTAX, "t.conf:2: ",
     "port of 1..65535"},
    {"signing_threads range", "[queue]\nsigning_threads = 1025\n", HD_ESYNTAX, "t.conf:2: ",
     "from 0 to 1024"},
};

static char *long_line_text(void)
{
    size_t n = HD_CONFIG_MAX_LINE + 64;
    char *t = malloc(n);
    assert_non_null(t);
    int o = snprintf(t, n, "# first\ndata_dir = /");
    memset(t + o, 'x', HD_CONFIG_MAX_LINE);
    t[8 + HD_CONFIG_MAX_LINE + 1] = '\n'; /* line 2 is 4097 bytes long */
    t[8 + HD_CONFIG_MAX_LINE + 2] = '\0';
    return t;
}

static void test_errors(void **state)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const struct error_case *ec = &error_cases[i];
        char *owned = ec->text ? NULL : long_line_text();
        const char *text = ec->text ? ec->text : owned;
        /* the NUL case is counted past its NUL */
        size_t len = strlen(text);
        if (strstr(ec->name, "NUL") != NULL)
            len += 1 + strlen(text + len + 1);
        hd_config *c = (hd_config *)1;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_config_parse("t.conf", text, len, &c, &err);
        if (rc != ec->want_rc)
            fail_msg("%s: rc %d want %d (%s)", ec->name, rc, ec->want_rc, err.msg);
        if (c != NULL)
            fail_msg("%s: *out not NULL on error", ec->name);
        if (strncmp(err.msg, ec->want_prefix, strlen(ec->want_prefix)) != 0 ||
            strstr(err.msg, ec->want_in) == NULL)
            fail_msg("%s: message \"%s\", want \"%s...%s\"", ec->name, err.msg, ec->want_prefix,
                     ec->want_in);
        free(owned);
    }
}

static void test_line_of_exactly_the_limit_is_fine(void **state)
{
    char *t = long_line_text();
    /* shorten line 2 to exactly HD_CONFIG_MAX_LINE bytes, CRLF after */
    t[8 + HD_CONFIG_MAX_LINE] = '\r';
    hd_config *c = parse_ok(t);
    assert_int_equal(strlen(c->data_dir), HD_CONFIG_MAX_LINE - 11);
    hd_config_free(c);
    free(t);
}

static void test_limits(void **state)
{
    hd_err err;
    hd_config *c;
    /* list items */
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    assert_int_equal(hd_buf_append_cstr(&b, "[pool a]\naddresses ="), 0);
    for (int i = 0; i <= HD_CONFIG_MAX_LIST; i++)
        assert_int_equal(hd_buf_append_cstr(&b, " ::"), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "\n"), 0);
    assert_int_equal(hd_config_parse("t.conf", (const char *)b.p, b.len, &c, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "t.conf:2: [pool a] addresses: more than 1024 items"));
    /* sections */
    hd_buf_reset(&b);
    for (int i = 0; i <= HD_CONFIG_MAX_SECTIONS; i++)
        assert_int_equal(hd_buf_printf(&b, "[domain d%d.example]\n", i), 0);
    assert_int_equal(hd_config_parse("t.conf", (const char *)b.p, b.len, &c, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "t.conf:10001: more than 10000 sections"));
    /* exactly the limit loads, and the look-ups find every domain */
    b.len -= strlen("[domain d10000.example]\n");
    assert_int_equal(hd_config_parse("t.conf", (const char *)b.p, b.len, &c, &err), 0);
    assert_int_equal(c->n_domains, HD_CONFIG_MAX_SECTIONS);
    assert_non_null(hd_config_domain_find(c, "d0.example"));
    assert_non_null(hd_config_domain_find(c, "D9999.EXAMPLE."));
    assert_null(hd_config_domain_find(c, "d10000.example"));
    hd_config_free(c);
    hd_buf_free(&b);
    /* the whole text */
    size_t big = HD_CONFIG_MAX_BYTES + 1;
    char *t = malloc(big);
    assert_non_null(t);
    memset(t, '\n', big);
    assert_int_equal(hd_config_parse("t.conf", t, big, &c, &err), HD_ELIMIT);
    assert_null(c);
    assert_int_equal(hd_config_parse("t.conf", t, big - 1, &c, &err), 0);
    hd_config_free(c);
    free(t);
}

/* ---- look-ups ---------------------------------------------------------- */

static void test_lookups(void **state)
{
    hd_config *c = parse_ok("[domain b.example]\n"
                            "delivery = real\n"
                            "pool = bulk\n"
                            "[domain a.example]\n"
                            "pool = bulk\n"
                            "[domain c.example]\n"
                            "delivery = sandbox\n"
                            "[delivery]\n"
                            "mode = real\n"
                            "[pool bulk]\n"
                            "addresses = 192.0.2.1\n"
                            "[route example.net]\n"
                            "next_hop = 192.0.2.25:25\n"
                            "[route *]\n"
                            "next_hop = smarthost.example:587\n");
    const hd_config_domain *d = hd_config_domain_find(c, "B.Example.");
    assert_non_null(d);
    assert_string_equal(d->name, "b.example");
    assert_string_equal(d->pool, "bulk");
    assert_null(hd_config_domain_find(c, "example"));
    assert_null(hd_config_domain_find(c, "sub.b.example"));
    assert_null(hd_config_domain_find(c, ""));
    /* the domain's own delivery, else [delivery] mode */
    assert_int_equal(hd_config_delivery_for(c, "b.example"), HD_DELIVERY_REAL);
    assert_int_equal(hd_config_delivery_for(c, "c.example"), HD_DELIVERY_SANDBOX);
    assert_int_equal(hd_config_delivery_for(c, "a.example"), HD_DELIVERY_REAL);
    assert_int_equal(hd_config_delivery_for(c, "other.example"), HD_DELIVERY_REAL);
    assert_false(hd_config_domain_find(c, "a.example")->has_delivery);
    assert_non_null(hd_config_pool_find(c, "Bulk"));
    assert_null(hd_config_pool_find(c, "bulk2"));
    assert_null(hd_config_pool_find(c, "bulk."));
    assert_null(hd_config_pool_find(c, NULL));
    /* routes: exact (any case), else "*" */
    const hd_config_route *r = hd_config_route_find(c, "EXAMPLE.net");
    assert_non_null(r);
    assert_string_equal(r->next_hop.host, "192.0.2.25");
    r = hd_config_route_find(c, "sub.example.net");
    assert_non_null(r);
    assert_string_equal(r->domain, "*");
    assert_string_equal(r->next_hop.host, "smarthost.example");
    assert_int_equal(r->next_hop.port, 587);
    hd_config_free(c);

    c = parse_ok("[route example.net]\nnext_hop = 192.0.2.25:25\n");
    assert_non_null(hd_config_route_find(c, "example.net."));
    assert_null(hd_config_route_find(c, "example.org"));
    hd_config_free(c);
    /* a domain with only a delivery of its own, the default mode sandbox */
    c = parse_ok("[domain example.com]\ndelivery = real\n");
    assert_int_equal(hd_config_delivery_for(c, "EXAMPLE.COM"), HD_DELIVERY_REAL);
    assert_int_equal(hd_config_delivery_for(c, "example.org"), HD_DELIVERY_SANDBOX);
    hd_config_free(c);
}

static void test_trusted(void **state)
{
    hd_config *c = parse_ok("[smtp]\ntrusted_networks = 127.0.0.0/8 ::1/128\n");
    assert_true(hd_config_trusted(c, "127.0.0.1"));
    assert_true(hd_config_trusted(c, "127.255.255.254"));
    assert_true(hd_config_trusted(c, "::1"));
    assert_true(hd_config_trusted(c, "::ffff:127.0.0.1"));
    assert_true(hd_config_trusted(c, "::FFFF:7f00:1"));
    assert_false(hd_config_trusted(c, "128.0.0.1"));
    assert_false(hd_config_trusted(c, "126.255.255.255"));
    assert_false(hd_config_trusted(c, "::2"));
    assert_false(hd_config_trusted(c, "::ffff:128.0.0.1"));
    assert_false(hd_config_trusted(c, "::127.0.0.1")); /* IPv4-compatible, not mapped */
    assert_false(hd_config_trusted(c, "localhost"));
    assert_false(hd_config_trusted(c, "127.0.0.1/8"));
    assert_false(hd_config_trusted(c, "127.0.0.1 "));
    assert_false(hd_config_trusted(c, ""));
    assert_false(hd_config_trusted(c, NULL));
    hd_config_free(c);

    /* client_limit_exceptions: an empty value removes the default */
    c = parse_ok("[smtp]\nclient_limit_exceptions =\n[inbound]\n"
                 "client_limit_exceptions = 192.0.2.0/24\n");
    assert_int_equal(c->smtp.n_client_limit_exceptions, 0);
    assert_false(hd_config_in_networks(c->smtp.client_limit_exceptions,
                                       c->smtp.n_client_limit_exceptions, "127.0.0.1"));
    assert_true(hd_config_in_networks(c->inbound.client_limit_exceptions,
                                      c->inbound.n_client_limit_exceptions, "192.0.2.9"));
    assert_false(hd_config_in_networks(c->inbound.client_limit_exceptions,
                                       c->inbound.n_client_limit_exceptions, "127.0.0.1"));
    hd_config_free(c);
    c = parse_ok("[api]\nmax_connections_per_client = 0\nclient_limit_exceptions =\n"
                 "[status]\nmax_connections_per_client = 3\n"
                 "client_limit_exceptions = 192.0.2.0/24\n");
    assert_int_equal(c->api.max_connections_per_client, 0);
    assert_int_equal(c->api.n_client_limit_exceptions, 0);
    assert_int_equal(c->status.max_connections_per_client, 3);
    assert_true(hd_config_in_networks(c->status.client_limit_exceptions,
                                      c->status.n_client_limit_exceptions, "192.0.2.9"));
    assert_false(hd_config_in_networks(c->status.client_limit_exceptions,
                                       c->status.n_client_limit_exceptions, "127.0.0.1"));
    hd_config_free(c);

    c = parse_ok("[smtp]\ntrusted_networks = 172.16.0.0/12 192.0.2.7 2001:db8:80::/41 "
                 "::ffff:10.0.0.0/104 198.51.100.77/24\n");
    assert_false(hd_config_trusted(c, "127.0.0.1"));
    assert_true(hd_config_trusted(c, "172.16.0.1"));
    assert_true(hd_config_trusted(c, "172.31.255.255"));
    assert_false(hd_config_trusted(c, "172.32.0.0"));
    assert_false(hd_config_trusted(c, "172.15.255.255"));
    assert_true(hd_config_trusted(c, "192.0.2.7"));
    assert_false(hd_config_trusted(c, "192.0.2.8"));
    assert_true(hd_config_trusted(c, "2001:db8:80::1"));
    assert_true(hd_config_trusted(c, "2001:db8:ff:ffff::1"));
    assert_false(hd_config_trusted(c, "2001:db8:100::1"));
    assert_false(hd_config_trusted(c, "2001:db8:7f::1"));
    /* a mapped network is the IPv4 network, both ways */
    assert_true(hd_config_trusted(c, "10.9.8.7"));
    assert_true(hd_config_trusted(c, "::ffff:10.9.8.7"));
    assert_true(hd_config_trusted(c, "::ffff:172.20.0.1"));
    assert_false(hd_config_trusted(c, "11.0.0.1"));
    /* host bits in a network are ignored */
    assert_true(hd_config_trusted(c, "198.51.100.1"));
    hd_config_free(c);

    c = parse_ok("[smtp]\ntrusted_networks = 0.0.0.0/0\n");
    assert_true(hd_config_trusted(c, "203.0.113.9"));
    assert_true(hd_config_trusted(c, "::ffff:203.0.113.9"));
    assert_false(hd_config_trusted(c, "2001:db8::1"));
    hd_config_free(c);
}

/* ---- files ------------------------------------------------------------- */

static void test_example_file(void **state)
{
    const char *path = tu_path(HERALD_SOURCE_DIR, "docs/herald.conf.example");
    hd_config *c = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_config_load(path, &c, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(c->hostname, "mail.example.com");
    assert_int_equal(c->smtp.n_listen, 2);
    assert_string_equal(c->smtp.listen[1].host, "::1");
    assert_int_equal(c->smtp.max_message_size, 26214400);
    assert_int_equal(c->smtp.idle_timeout, 300);
    assert_int_equal(c->inbound.n_listen, 2);
    assert_int_equal(c->inbound.listen[0].port, 25);
    assert_string_equal(c->inbound.listen[1].host, "::");
    assert_int_equal(c->inbound.max_message_size, 10u * 1024 * 1024);
    assert_null(c->inbound.bounce_rules);
    assert_int_equal(c->inbound.soft_bounce_limit, 0);         /* off */
    assert_int_equal(c->inbound.soft_bounce_window, 7 * 86400);
    assert_int_equal(c->inbound.soft_bounce_suppress_for, 7 * 86400);
    assert_int_equal(c->queue.max_lifetime, 432000);
    assert_int_equal(c->queue.retry_max, 3600);
    assert_int_equal(c->delivery.mode, HD_DELIVERY_SANDBOX);
    assert_int_equal(hd_config_delivery_for(c, "example.com"), HD_DELIVERY_REAL);
    assert_int_equal(hd_config_delivery_for(c, "news.example.com"), HD_DELIVERY_REAL);
    assert_int_equal(hd_config_delivery_for(c, "example.org"), HD_DELIVERY_SANDBOX);
    const hd_config_pool *bulk = hd_config_pool_find(c, "bulk");
    assert_non_null(bulk);
    assert_int_equal(bulk->n_addresses, 2);
    assert_int_equal(bulk->n_ehlo, 2);
    const hd_config_route *r = hd_config_route_find(c, "receiver.test");
    assert_non_null(r);
    assert_string_equal(r->next_hop.host, "127.0.0.1");
    assert_int_equal(r->next_hop.port, 2526);
    assert_null(hd_config_route_find(c, "example.org"));
    const hd_config_webhook *w = hd_config_webhook_find(c, "app");
    assert_non_null(w);
    assert_true(hd_config_webhook_wants(w, "bounced", "example.com"));
    assert_false(hd_config_webhook_wants(w, "accepted", "example.com"));
    hd_config_free(c);
}

/* Every indented block under "## Examples" in docs/config.md loads. */
static void test_doc_examples(void **state)
{
    size_t len;
    char *doc = (char *)tu_read_file(tu_path(HERALD_SOURCE_DIR, "docs/config.md"), &len);
    char *p = strstr(doc, "\n## Examples\n");
    assert_non_null(p);
    hd_buf block;
    hd_buf_init(&block, 1 << 16);
    size_t blocks = 0;
    while (*p != '\0') {
        char *eol = strchr(p + 1, '\n');
        char *line = p + 1;
        size_t n = eol ? (size_t)(eol - line) : strlen(line);
        bool code = n >= 4 && memcmp(line, "    ", 4) == 0;
        if (code)
            assert_int_equal(hd_buf_printf(&block, "%.*s\n", (int)(n - 4), line + 4), 0);
        else if (n == 0 && block.len > 0)
            assert_int_equal(hd_buf_append_cstr(&block, "\n"), 0);
        if ((!code && n > 0) || eol == NULL) {
            if (block.len > 0) {
                hd_config *c = NULL;
                hd_err err;
                if (hd_config_parse("config.md", (const char *)block.p, block.len, &c, &err) != 0)
                    fail_msg("example %zu: %s\n%s", blocks, err.msg, hd_buf_cstr(&block));
                hd_config_free(c);
                blocks++;
            }
            hd_buf_reset(&block);
        }
        if (eol == NULL)
            break;
        p = eol;
    }
    assert_int_equal(blocks, 5);
    hd_buf_free(&block);
    free(doc);
}

static void test_load_errors(void **state)
{
    hd_config *c = (hd_config *)1;
    hd_err err;
    char *dir = tu_mkdtemp();
    const char *missing = tu_path(dir, "nope.conf");
    assert_int_equal(hd_config_load(missing, &c, &err), HD_EIO);
    assert_null(c);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    /* a directory opens but does not read */
    assert_int_equal(hd_config_load(dir, &c, &err), HD_EIO);
    assert_non_null(strstr(err.msg, "Is a directory"));
    /* errors in a loaded file carry its path */
    const char *path = tu_path(dir, "bad.conf");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# ok\n[smtp]\nmax_sessions = many\n", f);
    fclose(f);
    assert_int_equal(hd_config_load(path, &c, &err), HD_ESYNTAX);
    char want[4200];
    snprintf(want, sizeof want, "%s:3: [smtp] max_sessions = \"many\"", path);
    if (strncmp(err.msg, want, strlen(want)) != 0)
        fail_msg("message %s", err.msg);
    tu_rmtree(dir);
    free(dir);
}

/* ---- [webhook NAME] ---------------------------------------------------- */

#define HOOK_SECRET "0123456789abcdef0123456789abcdef"

static void test_webhooks(void **state)
{
    hd_config *c = parse_ok("[webhook app]\n"
                            "url = https://hooks.example.com/herald?x=1\n"
                            "secret = " HOOK_SECRET "\n"
                            "domains = Example.COM. news.example.com\n"
                            "events = delivered bounced complained\n"
                            "max_retry_time = 2d\n"
                            "ca_file = /etc/herald/hooks-ca.pem\n"
                            "[webhook all]\n"
                            "url = http://127.0.0.1:9000/\n"
                            "secret = " HOOK_SECRET "\n");
    assert_int_equal(c->n_webhooks, 2);
    const hd_config_webhook *w = hd_config_webhook_find(c, "app");
    assert_ptr_equal(w, &c->webhooks[0]);   /* file order */
    assert_string_equal(w->url, "https://hooks.example.com/herald?x=1");
    assert_string_equal(w->secret, HOOK_SECRET);
    assert_int_equal(w->n_domains, 2);
    assert_string_equal(w->domains[0], "example.com");
    assert_int_equal(w->n_events, 3);
    assert_int_equal(w->max_retry_time, 2 * 86400);
    assert_string_equal(w->ca_file, "/etc/herald/hooks-ca.pem");
    assert_true(hd_config_webhook_wants(w, "delivered", "EXAMPLE.com"));
    assert_false(hd_config_webhook_wants(w, "accepted", "example.com"));
    assert_false(hd_config_webhook_wants(w, "delivered", "example.org"));
    assert_false(hd_config_webhook_wants(w, "delivered", NULL));
    const hd_config_webhook *all = hd_config_webhook_find(c, "all");
    assert_non_null(all);
    assert_int_equal(all->max_retry_time, 3 * 86400);     /* at least 24 h by default */
    assert_null(all->ca_file);
    assert_true(hd_config_webhook_wants(all, "accepted", "example.org"));
    assert_true(hd_config_webhook_wants(all, "suppressed", ""));   /* no message: "*" only */
    assert_null(hd_config_webhook_find(c, "nope"));
    hd_config_free(c);
    c = parse_ok("[webhook star]\nurl = http://h.example/\nsecret = " HOOK_SECRET "\n"
                 "domains = example.com *\n");
    assert_true(hd_config_webhook_wants(&c->webhooks[0], "accepted", "other.example"));
    hd_config_free(c);
    /* reports matched by Message-ID alone (forgeable) are never in "every
     * type" nor in "bounced": only an endpoint naming them gets them */
    c = parse_ok("[webhook every]\nurl = http://h.example/\nsecret = " HOOK_SECRET "\n"
                 "[webhook bounces]\nurl = http://h.example/\nsecret = " HOOK_SECRET "\n"
                 "events = bounced complained feedback\n"
                 "[webhook named]\nurl = http://h.example/\nsecret = " HOOK_SECRET "\n"
                 "events = bounced_unverified complained_unverified\n");
    static const char *const unverified[] = {"bounced_unverified", "complained_unverified",
                                             "feedback_unverified"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(hd_config_event_explicit(unverified[i]));
        assert_false(hd_config_webhook_wants(&c->webhooks[0], unverified[i], "example.com"));
        assert_false(hd_config_webhook_wants(&c->webhooks[1], unverified[i], "example.com"));
        assert_int_equal(hd_config_webhook_wants(&c->webhooks[2], unverified[i], "example.com"),
                         i < 2);
    }
    assert_true(hd_config_webhook_wants(&c->webhooks[0], "bounced", "example.com"));
    assert_false(hd_config_event_explicit("bounced"));
    assert_false(hd_config_event_explicit("_unverified"));
    assert_false(hd_config_event_explicit(NULL));
    hd_config_free(c);

    static const struct {
        const char *text, *want;
        int rc;
    } bad[] = {
        {"[webhook a]\nsecret = " HOOK_SECRET "\n", "t.conf:1: [webhook a] has no url", HD_EINVAL},
        {"[webhook a]\nurl = http://h.example/\n", "t.conf:1: [webhook a] has no secret", HD_EINVAL},
        {"[webhook a]\nurl = ftp://h.example/\n", "t.conf:2: [webhook a] url = \"ftp://h.example/\": expected a URL that starts with http:// or https://", HD_ESYNTAX},
        {"[webhook a]\nurl = http:///x\n", "t.conf:2: [webhook a] url", HD_ESYNTAX},
        {"[webhook a]\nurl = http://u:p@h.example/\n", "t.conf:2: [webhook a] url", HD_ESYNTAX},
        {"[webhook a]\nsecret = short-secret\n", "t.conf:2: [webhook a] secret: 12 characters; a secret needs at least 32", HD_ESYNTAX},
        {"[webhook a]\nevents = delivered sent\n", "t.conf:2: [webhook a] events: \"sent\" is not an event type", HD_ESYNTAX},
        /* the known types listed whole, from the store's table; names are exact */
        {"[webhook a]\nevents = Delivered\n", "t.conf:2: [webhook a] events: \"Delivered\" is not an event type: expected accepted, deferred, delivered, bounced, complained, feedback, suppressed, expired, captured, deleted, corrupt, bounced_unverified, complained_unverified or feedback_unverified", HD_ESYNTAX},
        {"[webhook a]\ndomains = bad_domain!\n", "t.conf:2: [webhook a] domains: \"bad_domain!\" is not a host name", HD_ESYNTAX},
        {"[webhook a]\nmax_retry_time = soon\n", "t.conf:2: [webhook a] max_retry_time = \"soon\"", HD_ESYNTAX},
        {"[webhook a]\nretries = 3\n", "t.conf:2: [webhook a] unknown key \"retries\"", HD_ESYNTAX},
        {"[webhook]\n", "t.conf:1: [webhook] needs a name", HD_ESYNTAX},
        {"[webhook A.B]\n", "t.conf:1: [webhook A.B]: expected a webhook name", HD_ESYNTAX},
        {"[webhook a]\nurl = http://h.example/\nsecret = " HOOK_SECRET "\n[webhook a]\n",
         "t.conf:4: duplicate section [webhook a] (first at line 1)", HD_ESYNTAX},
        {"[smtp]\nurl = http://h.example/\n", "t.conf:2: [smtp] unknown key \"url\"; it belongs in [webhook NAME]", HD_ESYNTAX},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hd_err err;
        hd_err_clear(&err);
        c = (hd_config *)1;
        int rc = hd_config_parse("t.conf", bad[i].text, strlen(bad[i].text), &c, &err);
        if (rc != bad[i].rc || c != NULL || strncmp(err.msg, bad[i].want, strlen(bad[i].want)) != 0)
            fail_msg("case %zu: rc %d, \"%s\"; want %d, \"%s...\"", i, rc, err.msg, bad[i].rc,
                     bad[i].want);
        /* a secret is never echoed */
        assert_null(strstr(err.msg, "short-secret"));
    }
}

/* [log] format, and where each key and section was set, for errors the
 * server finds after the parse (a file a key names is missing). */
static void test_log_and_lines(void **state)
{
    (void)state;
    hd_config *c = parse_ok("hostname = a.example\n"
                            "[log]\n"
                            "format = JSON\n"
                            "[smtp]\n"
                            "\n"
                            "tls_cert = /x/cert.pem\n"
                            "tls_key = /x/key.pem\n"
                            "[domain Example.COM]\n"
                            "delivery = real\n");
    assert_int_equal(c->log.format, HD_LOG_JSON);
    assert_string_equal(hd_config_file(c), "t.conf");
    assert_int_equal(hd_config_line(c, NULL, NULL, "hostname"), 1);
    assert_int_equal(hd_config_line(c, "", NULL, "hostname"), 1);
    assert_int_equal(hd_config_line(c, "log", NULL, "format"), 3);
    assert_int_equal(hd_config_line(c, "smtp", NULL, NULL), 4);
    assert_int_equal(hd_config_line(c, "smtp", NULL, "tls_key"), 7);
    assert_int_equal(hd_config_line(c, "domain", "example.com", NULL), 8);
    assert_int_equal(hd_config_line(c, "domain", "example.com", "delivery"), 9);
    assert_int_equal(hd_config_line(c, "smtp", NULL, "listen"), 0);   /* a default */
    assert_int_equal(hd_config_line(c, "domain", "other.example", NULL), 0);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_config_error(c, &err, HD_EIO, "smtp", NULL, "tls_cert", "%s: gone",
                                     c->smtp.tls_cert),
                     HD_EIO);
    assert_string_equal(err.msg, "t.conf:6: [smtp] tls_cert: /x/cert.pem: gone");
    hd_config_error(c, &err, HD_EINVAL, "domain", "example.com", NULL, "no such domain");
    assert_string_equal(err.msg, "t.conf:8: [domain example.com]: no such domain");
    hd_config_error(c, &err, HD_EINVAL, "smtp", NULL, "listen", "in use");
    assert_string_equal(err.msg, "t.conf:4: [smtp] listen: in use");   /* the section's line */
    hd_config_error(c, &err, HD_EINVAL, NULL, NULL, "data_dir", "not a directory");
    assert_string_equal(err.msg, "data_dir: not a directory");         /* a default: no line */
    hd_config_free(c);
    /* the embedded defaults come from no file */
    hd_config *d = NULL;
    assert_int_equal(hd_config_defaults(&d, &err), 0);
    assert_null(hd_config_file(d));
    assert_int_equal(d->log.format, HD_LOG_TEXT);
    assert_int_equal(hd_config_line(d, NULL, NULL, "hostname"), 0);
    hd_config_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_inbound_section),
        cmocka_unit_test(test_empty_and_comment_only_files_are_the_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_cidrs),
        cmocka_unit_test(test_comments_and_layout),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_line_of_exactly_the_limit_is_fine),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_trusted),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_doc_examples),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_webhooks),
        cmocka_unit_test(test_log_and_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
