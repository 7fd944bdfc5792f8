/*
 * parse.c - the configuration file: lines, sections, keys.
 *
 * One pass, a line at a time, over a copy of the defaults. Each key is
 * looked up in its section's table, which says the value's type, where it
 * goes and its range; the value replaces the default in place. Checks that
 * need a whole section run when the next one starts, checks between
 * sections (a pool a domain names) at the end. The first error stops the
 * parse and the half-built config is freed.
 */
#include "config/config_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum value_kind {
    K_PATH,      /* a non-empty string, as written */
    K_HOST,      /* a DNS name, lower-cased */
    K_LOG_LEVEL, /* stored as its name */
    K_LOG_FORMAT, /* text or json */
    K_SIZE,
    K_DURATION,
    K_COUNT,
    K_PORT,
    K_BOOL,
    K_ENDPOINT,
    K_ENDPOINTS,
    K_ENDPOINTS_OPT, /* the same, and an empty value means none */
    K_CIDRS,
    K_IPS,
    K_HOSTS,
    K_DELIVERY,
    K_TLS,
    K_POOL,      /* a pool name; the pool must exist (checked at the end) */
    K_RESOLVER,
    K_URL,       /* http:// or https:// */
    K_SECRET,    /* at least HD_CONFIG_SECRET_MIN bytes; never echoed in messages */
    K_DOMAINS,   /* DNS names or "*", lower-cased */
    K_EVENTS,    /* event types */
    K_WORDS,     /* words of letters, digits, '-' and '_', lower-cased (their meaning is
                  * checked where they are used: serve/check.c) */
    K_CANON,     /* DKIM c=: header/body, each simple or relaxed */
} value_kind;

#define NO_OFF ((size_t)-1)

typedef struct key_spec {
    const char *name;
    value_kind kind;
    size_t off;      /* the field, from the start of the section's struct */
    size_t aux;      /* lists: their count; K_DELIVERY: a bool set when given */
    uint64_t min, max; /* numbers: the range */
    bool required;
} key_spec;

#define CFG(f) offsetof(hd_config, f)
#define DOM(f) offsetof(hd_config_domain, f)
#define POOL(f) offsetof(hd_config_pool, f)
#define ROUTE(f) offsetof(hd_config_route, f)
#define HOOK(f) offsetof(hd_config_webhook, f)

static const key_spec top_keys[] = {
    {"hostname", K_HOST, CFG(hostname), NO_OFF, 0, 0, false},
    {"data_dir", K_PATH, CFG(data_dir), NO_OFF, 0, 0, false},
    {"log_level", K_LOG_LEVEL, CFG(log_level), NO_OFF, 0, 0, false},
    {"dkim_canonicalization", K_CANON, CFG(dkim_canon), NO_OFF, 0, 0, false},
};

static const key_spec log_keys[] = {
    {"format", K_LOG_FORMAT, CFG(log.format), NO_OFF, 0, 0, false},
};

static const key_spec smtp_keys[] = {
    {"listen", K_ENDPOINTS, CFG(smtp.listen), CFG(smtp.n_listen), 0, 0, false},
    {"tls_cert", K_PATH, CFG(smtp.tls_cert), NO_OFF, 0, 0, false},
    {"tls_key", K_PATH, CFG(smtp.tls_key), NO_OFF, 0, 0, false},
    /* the parsers and the signer hold a message in memory up to this */
    {"max_message_size", K_SIZE, CFG(smtp.max_message_size), NO_OFF, 1,
     HD_LIMIT_MESSAGE_BYTES, false},
    {"max_recipients", K_COUNT, CFG(smtp.max_recipients), NO_OFF, 1, UINT32_MAX, false},
    {"max_sessions", K_COUNT, CFG(smtp.max_sessions), NO_OFF, 1, UINT32_MAX, false},
    {"idle_timeout", K_DURATION, CFG(smtp.idle_timeout), NO_OFF, 1, UINT32_MAX, false},
    {"trusted_networks", K_CIDRS, CFG(smtp.trusted_networks), CFG(smtp.n_trusted_networks),
     0, 0, false},
    {"auth_failures_per_minute", K_COUNT, CFG(smtp.auth_failures_per_minute), NO_OFF, 0,
     UINT32_MAX, false},
    /* one client address (IPv6: its /64) must not hold every session */
    {"max_sessions_per_client", K_COUNT, CFG(smtp.max_sessions_per_client), NO_OFF, 0,
     UINT32_MAX, false},
    {"max_connections_per_client_per_minute", K_COUNT,
     CFG(smtp.max_connections_per_client_per_minute), NO_OFF, 0, UINT32_MAX, false},
    {"client_limit_exceptions", K_CIDRS, CFG(smtp.client_limit_exceptions),
     CFG(smtp.n_client_limit_exceptions), 0, 0, false},
};

static const key_spec status_keys[] = {
    {"listen", K_ENDPOINT, CFG(status.listen), NO_OFF, 0, 0, false},
    /* each open connection holds a descriptor (serve.c fd_need) */
    {"max_connections", K_COUNT, CFG(status.max_connections), NO_OFF, 1, 100000, false},
    /* issue 14: one client cannot hold every connection */
    {"max_connections_per_client", K_COUNT, CFG(status.max_connections_per_client), NO_OFF, 0,
     100000, false},
    {"client_limit_exceptions", K_CIDRS, CFG(status.client_limit_exceptions),
     CFG(status.n_client_limit_exceptions), 0, 0, false},
};

static const key_spec api_keys[] = {
    {"listen", K_ENDPOINT, CFG(api.listen), NO_OFF, 0, 0, false},
    /* a request body is held in memory while it is parsed */
    {"max_request_size", K_SIZE, CFG(api.max_request_size), NO_OFF, 1024,
     2 * (uint64_t)HD_LIMIT_MESSAGE_BYTES, false},
    {"max_connections", K_COUNT, CFG(api.max_connections), NO_OFF, 1, 100000, false},
    /* issue 14: one client cannot hold every connection */
    {"max_connections_per_client", K_COUNT, CFG(api.max_connections_per_client), NO_OFF, 0,
     100000, false},
    {"client_limit_exceptions", K_CIDRS, CFG(api.client_limit_exceptions),
     CFG(api.n_client_limit_exceptions), 0, 0, false},
};

static const key_spec queue_keys[] = {
    {"max_lifetime", K_DURATION, CFG(queue.max_lifetime), NO_OFF, 1, UINT32_MAX, false},
    {"retry_min", K_DURATION, CFG(queue.retry_min), NO_OFF, 1, UINT32_MAX, false},
    {"retry_max", K_DURATION, CFG(queue.retry_max), NO_OFF, 1, UINT32_MAX, false},
    {"commit_batch", K_COUNT, CFG(queue.commit_batch), NO_OFF, 1, 1000000, false},
    {"signing_threads", K_COUNT, CFG(queue.signing_threads), NO_OFF, 0, 1024, false},
    {"durable", K_BOOL, CFG(queue.durable), NO_OFF, 0, 0, false},
    /* the queue's working copy is in memory: this bounds it */
    {"max_queued", K_COUNT, CFG(queue.max_queued), NO_OFF, 1, UINT32_MAX, false},
    {"min_free_space", K_SIZE, CFG(queue.min_free_space), NO_OFF, 0, UINT64_MAX, false},
    {"retention", K_DURATION, CFG(queue.retention), NO_OFF, 1, UINT32_MAX, false},
    {"max_inflight", K_SIZE, CFG(queue.max_inflight), NO_OFF, 1, UINT64_MAX, false},
    {"reserve_space", K_SIZE, CFG(queue.reserve_space), NO_OFF, 0, UINT64_MAX, false},
    {"accept_empty_database", K_BOOL, CFG(queue.accept_empty_database), NO_OFF, 0, 0, false},
};

static const key_spec delivery_keys[] = {
    {"mode", K_DELIVERY, CFG(delivery.mode), NO_OFF, 0, 0, false},
    {"remote_port", K_PORT, CFG(delivery.remote_port), NO_OFF, 1, 65535, false},
    {"tls", K_TLS, CFG(delivery.tls), NO_OFF, 0, 0, false},
    {"max_connections", K_COUNT, CFG(delivery.max_connections), NO_OFF, 1, UINT32_MAX, false},
    {"max_connections_per_destination", K_COUNT, CFG(delivery.max_connections_per_destination),
     NO_OFF, 1, UINT32_MAX, false},
    {"max_messages_per_connection", K_COUNT, CFG(delivery.max_messages_per_connection), NO_OFF,
     1, UINT32_MAX, false},
    {"max_messages_per_minute", K_COUNT, CFG(delivery.max_messages_per_minute), NO_OFF, 0,
     UINT32_MAX, false},
    {"connect_timeout", K_DURATION, CFG(delivery.connect_timeout), NO_OFF, 1, UINT32_MAX, false},
    {"command_timeout", K_DURATION, CFG(delivery.command_timeout), NO_OFF, 1, UINT32_MAX, false},
    {"default_pool", K_POOL, CFG(delivery.default_pool), NO_OFF, 0, 0, false},
    {"verp_per_recipient", K_BOOL, CFG(delivery.verp_per_recipient), NO_OFF, 0, 0, false},
};

static const key_spec dns_keys[] = {
    {"resolver", K_RESOLVER, CFG(dns.resolver), NO_OFF, 0, 0, false},
    {"zone_file", K_PATH, CFG(dns.zone_file), NO_OFF, 0, 0, false},
    {"timeout_ms", K_COUNT, CFG(dns.timeout_ms), NO_OFF, 1, 3600000, false},
};

static const key_spec inbound_keys[] = {
    {"listen", K_ENDPOINTS_OPT, CFG(inbound.listen), CFG(inbound.n_listen), 0, 0, false},
    /* the report parsers hold a message in memory up to this */
    {"max_message_size", K_SIZE, CFG(inbound.max_message_size), NO_OFF, 1,
     HD_LIMIT_MESSAGE_BYTES, false},
    {"max_recipients", K_COUNT, CFG(inbound.max_recipients), NO_OFF, 1, 100000, false},
    {"max_sessions", K_COUNT, CFG(inbound.max_sessions), NO_OFF, 1, UINT32_MAX, false},
    /* one client address (IPv6: its /64) must not hold every session */
    {"max_sessions_per_client", K_COUNT, CFG(inbound.max_sessions_per_client), NO_OFF, 0,
     UINT32_MAX, false},
    {"max_connections_per_client_per_minute", K_COUNT,
     CFG(inbound.max_connections_per_client_per_minute), NO_OFF, 0, UINT32_MAX, false},
    {"client_limit_exceptions", K_CIDRS, CFG(inbound.client_limit_exceptions),
     CFG(inbound.n_client_limit_exceptions), 0, 0, false},
    /* anyone may send here: one client must not fill the disk */
    {"max_messages_per_minute", K_COUNT, CFG(inbound.max_messages_per_minute), NO_OFF, 0,
     UINT32_MAX, false},
    {"bounce_rules", K_PATH, CFG(inbound.bounce_rules), NO_OFF, 0, 0, false},
    {"soft_bounce_limit", K_COUNT, CFG(inbound.soft_bounce_limit), NO_OFF, 0, 1000, false},
    {"soft_bounce_window", K_DURATION, CFG(inbound.soft_bounce_window), NO_OFF, 1, UINT32_MAX,
     false},
    {"soft_bounce_suppress_for", K_DURATION, CFG(inbound.soft_bounce_suppress_for), NO_OFF, 1,
     UINT32_MAX, false},
    {"hard_reasons", K_WORDS, CFG(inbound.hard_reasons), CFG(inbound.n_hard_reasons), 0, 0,
     false},
};

static const key_spec domain_keys[] = {
    {"delivery", K_DELIVERY, DOM(delivery), DOM(has_delivery), 0, 0, false},
    {"pool", K_POOL, DOM(pool), NO_OFF, 0, 0, false},
};

static const key_spec pool_keys[] = {
    {"addresses", K_IPS, POOL(addresses), POOL(n_addresses), 0, 0, true},
    {"ehlo", K_HOSTS, POOL(ehlo), POOL(n_ehlo), 0, 0, false},
};

static const key_spec route_keys[] = {
    {"next_hop", K_ENDPOINT, ROUTE(next_hop), NO_OFF, 0, 0, true},
};

static const key_spec webhook_keys[] = {
    {"url", K_URL, HOOK(url), NO_OFF, 0, 0, true},
    {"secret", K_SECRET, HOOK(secret), NO_OFF, 0, 0, true},
    {"domains", K_DOMAINS, HOOK(domains), HOOK(n_domains), 0, 0, false},
    {"events", K_EVENTS, HOOK(events), HOOK(n_events), 0, 0, false},
    /* issue 6: retried for at least 24 hours by default (3 days) */
    {"max_retry_time", K_DURATION, HOOK(max_retry_time), NO_OFF, 1, UINT32_MAX, false},
    {"ca_file", K_PATH, HOOK(ca_file), NO_OFF, 0, 0, false},
};

typedef enum sec_kind { S_TOP, S_FIXED, S_DOMAIN, S_POOL, S_ROUTE, S_WEBHOOK } sec_kind;

typedef struct section_spec {
    const char *name;
    sec_kind kind;
    const key_spec *keys;
    size_t n_keys;
} section_spec;

#define KEYS(t) t, sizeof t / sizeof t[0]

enum {
    SEC_TOP, SEC_SMTP, SEC_STATUS, SEC_API, SEC_QUEUE, SEC_DELIVERY, SEC_DNS, SEC_INBOUND, SEC_LOG,
    N_SECTIONS = 13
};

static const section_spec sections[N_SECTIONS] = {
    {"", S_TOP, KEYS(top_keys)},
    {"smtp", S_FIXED, KEYS(smtp_keys)},
    {"status", S_FIXED, KEYS(status_keys)},
    {"api", S_FIXED, KEYS(api_keys)},
    {"queue", S_FIXED, KEYS(queue_keys)},
    {"delivery", S_FIXED, KEYS(delivery_keys)},
    {"dns", S_FIXED, KEYS(dns_keys)},
    {"inbound", S_FIXED, KEYS(inbound_keys)},
    {"log", S_FIXED, KEYS(log_keys)},
    {"domain", S_DOMAIN, KEYS(domain_keys)},
    {"pool", S_POOL, KEYS(pool_keys)},
    {"route", S_ROUTE, KEYS(route_keys)},
    {"webhook", S_WEBHOOK, KEYS(webhook_keys)},
};

typedef struct enum_name {
    const char *name;
    int value;
} enum_name;

static const enum_name delivery_names[] = {
    {"sandbox", HD_DELIVERY_SANDBOX},
    {"real", HD_DELIVERY_REAL},
};
static const enum_name tls_names[] = {
    {"none", HD_TLS_POLICY_NONE},
    {"opportunistic", HD_TLS_POLICY_OPPORTUNISTIC},
    {"verify", HD_TLS_POLICY_VERIFY},
    {"required", HD_TLS_POLICY_REQUIRED},
};
static const enum_name log_names[] = {{"debug", 0}, {"info", 1}, {"warn", 2}, {"error", 3}};
static const enum_name log_formats[] = {{"text", HD_LOG_TEXT}, {"json", HD_LOG_JSON}};
static const enum_name canon_names[] = {
    {"relaxed/relaxed", HD_CONFIG_CANON_RELAXED_RELAXED},
    {"simple/simple", HD_CONFIG_CANON_SIMPLE_SIMPLE},
    {"relaxed/simple", HD_CONFIG_CANON_RELAXED_SIMPLE},
    {"simple/relaxed", HD_CONFIG_CANON_SIMPLE_RELAXED},
};

/* What the parser knows of a [domain], [pool] or [route] section beyond
 * the config itself: where it is, for messages. */
typedef struct entry_meta {
    size_t line;     /* the section header */
    size_t ref_line; /* domains: the pool key, 0 when none */
} entry_meta;

enum { N_NAMED = 4 }; /* S_DOMAIN, S_POOL, S_ROUTE, S_WEBHOOK */

typedef struct parser {
    const char *file;
    hd_config *cfg;
    hd_err *err;
    size_t line;
    const section_spec *sec;
    size_t sec_line;              /* the current section's header, 0 at the top */
    size_t entry;                 /* the current domain, pool or route */
    uint64_t given;               /* bit i: sec->keys[i] was given in this section */
    size_t fixed_line[N_SECTIONS]; /* where each section without a name began */
    size_t n_sections;
    entry_meta *meta[N_NAMED];
    size_t meta_cap[N_NAMED], cap[N_NAMED];
    size_t default_pool_line;
} parser;

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static hd_slice trim(hd_slice s)
{
    while (s.len > 0 && is_blank(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && is_blank(s.p[s.len - 1]))
        s.len--;
    return s;
}

__attribute__((format(printf, 4, 5)))
static int fail(parser *ps, int code, size_t line, const char *fmt, ...)
{
    char why[HD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return hd_err_set(ps->err, code, "%s:%zu: %s", ps->file, line, why);
}

static int nomem(parser *ps)
{
    return hd_err_set(ps->err, HD_ENOMEM, "%s:%zu: out of memory", ps->file, ps->line);
}

/* Text from the file for a message: at most 60 bytes, cut at a character
 * boundary (lines are valid UTF-8 by then). */
typedef struct quoted {
    char s[80];
} quoted;

static quoted quote(hd_slice v)
{
    quoted q;
    size_t n = v.len > 60 ? 60 : v.len;
    while (n > 0 && n < v.len && (v.p[n] & 0xc0) == 0x80)
        n--;
    if (n > 0)
        memcpy(q.s, v.p, n);
    q.s[n] = '\0';
    if (n < v.len)
        memcpy(q.s + n, "...", 4);
    return q;
}

/* The NAME of the current [domain NAME], [pool NAME], [route DOMAIN] or
 * [webhook NAME]; NULL in the other sections. */
static const char *entry_name(const parser *ps)
{
    const hd_config *c = ps->cfg;
    switch (ps->sec->kind) {
    case S_DOMAIN:
        return c->domains[ps->entry].name;
    case S_POOL:
        return c->pools[ps->entry].name;
    case S_ROUTE:
        return c->routes[ps->entry].domain;
    case S_WEBHOOK:
        return c->webhooks[ps->entry].name;
    default:
        return NULL;
    }
}

/* Remembers the current line as where key (NULL: the section) was set. */
static int note_line(parser *ps, const char *key)
{
    if (hd_config__origin_add(ps->cfg, ps->file, ps->sec->name, entry_name(ps), key,
                              ps->line) != 0)
        return nomem(ps);
    return 0;
}

/* "[smtp] ", "[domain example.com] ", or "" at the top level. */
typedef struct label {
    char s[HD_LIMIT_DNS_NAME + 16];
} label;

static label section_label(const parser *ps)
{
    label l = {""};
    const hd_config *c = ps->cfg;
    const char *name = NULL;
    switch (ps->sec->kind) {
    case S_TOP:
        return l;
    case S_FIXED:
        break;
    case S_DOMAIN:
        name = c->domains[ps->entry].name;
        break;
    case S_POOL:
        name = c->pools[ps->entry].name;
        break;
    case S_ROUTE:
        name = c->routes[ps->entry].domain;
        break;
    case S_WEBHOOK:
        name = c->webhooks[ps->entry].name;
        break;
    }
    snprintf(l.s, sizeof l.s, name ? "[%s %s] " : "[%s] ", ps->sec->name, name);
    return l;
}

static int bad_value(parser *ps, const key_spec *k, hd_slice v, const char *expected)
{
    return fail(ps, HD_ESYNTAX, ps->line, "%s%s = \"%s\": expected %s",
                section_label(ps).s, k->name, quote(v).s, expected);
}

static char *dup_lower(hd_slice s, bool lower)
{
    char *d = malloc(s.len + 1);
    if (d == NULL)
        return NULL;
    for (size_t i = 0; i < s.len; i++)
        d[i] = (char)(lower && s.p[i] >= 'A' && s.p[i] <= 'Z' ? s.p[i] + 32 : s.p[i]);
    d[s.len] = '\0';
    return d;
}

static int set_string(parser *ps, char **field, hd_slice v)
{
    char *d = dup_lower(v, false);
    if (d == NULL)
        return nomem(ps);
    free(*field);
    *field = d;
    return 0;
}

/* ---- numbers ---------------------------------------------------------- */

static int apply_number(parser *ps, const key_spec *k, uint8_t *field, hd_slice v)
{
    uint64_t n = 0;
    bool ok;
    const char *what, *unit = "", *suffix = "";
    switch (k->kind) {
    case K_SIZE:
        ok = hd_config__size(v, &n);
        what = "a size";
        unit = " bytes";
        suffix = ", optionally with a K, M or G suffix (e.g. 25M)";
        break;
    case K_DURATION:
        ok = hd_config__duration(v, &n);
        what = "a duration";
        unit = "s";
        suffix = ", optionally with an s, m, h or d suffix (e.g. 90s, 5d)";
        break;
    case K_PORT:
        ok = hd_config__uint(v, UINT64_MAX, &n);
        what = "a port number";
        break;
    default:
        ok = hd_config__uint(v, UINT64_MAX, &n);
        what = "a whole number";
        break;
    }
    if (!ok || n < k->min || n > k->max) {
        char expected[200];
        if (k->max == UINT32_MAX)
            snprintf(expected, sizeof expected, "%s of at least %" PRIu64 "%s%s", what, k->min,
                     unit, suffix);
        else
            snprintf(expected, sizeof expected, "%s from %" PRIu64 " to %" PRIu64 "%s%s", what,
                     k->min, k->max, unit, suffix);
        return bad_value(ps, k, v, expected);
    }
    if (k->kind == K_SIZE)
        *(uint64_t *)field = n;
    else if (k->kind == K_PORT)
        *(uint16_t *)field = (uint16_t)n;
    else
        *(uint32_t *)field = (uint32_t)n;
    return 0;
}

/* ---- enumerations ------------------------------------------------------ */

static int apply_enum(parser *ps, const key_spec *k, const enum_name *names, size_t n,
                      hd_slice v, int *value)
{
    *value = 0;
    for (size_t i = 0; i < n; i++)
        if (hd_slice_caseeq_cstr(v, names[i].name)) {
            *value = names[i].value;
            return 0;
        }
    char expected[120] = "one of";
    size_t o = strlen(expected);
    for (size_t i = 0; i < n && o < sizeof expected; i++)
        o += (size_t)snprintf(expected + o, sizeof expected - o, "%s %s", i ? "," : "",
                              names[i].name);
    return bad_value(ps, k, v, expected);
}

/* ---- lists ------------------------------------------------------------- */

/* Whitespace-separated items; at most HD_CONFIG_MAX_LIST of them. (An
 * empty value never comes here but for lists that may be empty.) */
static int split_list(parser *ps, const key_spec *k, hd_slice v, hd_slice *items, size_t *n)
{
    *n = 0;
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && is_blank(v.p[i]))
            i++;
        size_t start = i;
        while (i < v.len && !is_blank(v.p[i]))
            i++;
        if (i == start)
            break;
        if (*n == HD_CONFIG_MAX_LIST)
            return fail(ps, HD_ELIMIT, ps->line, "%s%s: more than %d items",
                        section_label(ps).s, k->name, HD_CONFIG_MAX_LIST);
        items[(*n)++] = hd_slice_make(v.p + start, i - start);
    }
    return 0;
}

/* Checks one item of a string list; norm gets a host name in lower case. */
static int check_item(parser *ps, const key_spec *k, hd_slice item, char *norm)
{
    uint8_t addr[16];
    int family;
    unsigned len;
    const char *why;
    label l = section_label(ps);
    switch (k->kind) {
    case K_CIDRS:
        if ((why = hd_config__cidr(item, &family, addr, &len)) == NULL)
            return 0;
        return fail(ps, HD_ESYNTAX, ps->line,
                    "%s%s: \"%s\" is not a network (ADDRESS/LENGTH): expected %s", l.s,
                    k->name, quote(item).s, why);
    case K_IPS:
        if (hd_config__ip(item, addr) != 0)
            return 0;
        return fail(ps, HD_ESYNTAX, ps->line, "%s%s: \"%s\" is not an IPv4 or IPv6 address",
                    l.s, k->name, quote(item).s);
    case K_WORDS:
        for (size_t i = 0; i < item.len; i++) {
            uint8_t c = item.p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_'))
                return fail(ps, HD_ESYNTAX, ps->line,
                            "%s%s: \"%s\" is not a word: byte %zu is not a letter, digit, '-' "
                            "or '_'",
                            l.s, k->name, quote(item).s, i);
        }
        return 0;
    case K_EVENTS: {
        if (hd_config__event_type(item))
            return 0;
        char known[512];
        hd_config__event_types_list(known, sizeof known);
        return fail(ps, HD_ESYNTAX, ps->line, "%s%s: \"%s\" is not an event type: expected %s",
                    l.s, k->name, quote(item).s, known);
    }
    default:
        if (k->kind == K_DOMAINS && hd_slice_eq_cstr(item, "*")) {
            memcpy(norm, "*", 2);
            return 0;
        }
        if ((why = hd_config__domain(item, norm)) == NULL)
            return 0;
        return fail(ps, HD_ESYNTAX, ps->line, "%s%s: \"%s\" is not a host name: it has %s", l.s,
                    k->name, quote(item).s, why);
    }
}

static int apply_string_list(parser *ps, const key_spec *k, uint8_t *base, hd_slice v)
{
    hd_slice items[HD_CONFIG_MAX_LIST];
    size_t n;
    int rc = split_list(ps, k, v, items, &n);
    if (rc != 0)
        return rc;
    char norm[HD_LIMIT_DNS_NAME + 1];
    char **list = n ? calloc(n, sizeof *list) : NULL;
    if (n && list == NULL)
        return nomem(ps);
    for (size_t i = 0; i < n; i++) {
        if ((rc = check_item(ps, k, items[i], norm)) != 0) {
            hd_config__free_strings(list, i);
            return rc;
        }
        bool normalized = k->kind == K_HOSTS || k->kind == K_DOMAINS;
        list[i] = dup_lower(normalized ? hd_slice_cstr(norm) : items[i], false);
        if (list[i] == NULL) {
            hd_config__free_strings(list, i);
            return nomem(ps);
        }
    }
    char ***field = (char ***)(base + k->off);
    size_t *count = (size_t *)(base + k->aux);
    hd_config__free_strings(*field, *count);
    *field = list;
    *count = n;
    return 0;
}

/* ---- endpoints --------------------------------------------------------- */

static int parse_endpoint(parser *ps, const key_spec *k, hd_slice v, hd_config_endpoint *out)
{
    hd_slice host;
    bool is_name;
    const char *why = hd_config__endpoint(v, &host, &is_name, &out->port);
    if (why != NULL)
        return bad_value(ps, k, v, why);
    char name[HD_LIMIT_DNS_NAME + 1];
    if (is_name && hd_config__domain(host, name) == NULL)
        host = hd_slice_cstr(name); /* lower case, no trailing dot */
    out->host = dup_lower(host, false);
    return out->host ? 0 : nomem(ps);
}

static int apply_endpoint(parser *ps, const key_spec *k, uint8_t *base, hd_slice v)
{
    hd_config_endpoint e;
    int rc = parse_endpoint(ps, k, v, &e);
    if (rc != 0)
        return rc;
    hd_config_endpoint *field = (hd_config_endpoint *)(base + k->off);
    free(field->host);
    *field = e;
    return 0;
}

static int apply_endpoints(parser *ps, const key_spec *k, uint8_t *base, hd_slice v)
{
    hd_slice items[HD_CONFIG_MAX_LIST];
    size_t n;
    int rc = split_list(ps, k, v, items, &n);
    if (rc != 0)
        return rc;
    hd_config_endpoint *list = n ? calloc(n, sizeof *list) : NULL;   /* none: disabled */
    if (n && list == NULL)
        return nomem(ps);
    for (size_t i = 0; i < n; i++) {
        rc = parse_endpoint(ps, k, items[i], &list[i]);
        if (rc != 0) {
            hd_config__free_endpoints(list, i);
            return rc;
        }
    }
    hd_config_endpoint **field = (hd_config_endpoint **)(base + k->off);
    size_t *count = (size_t *)(base + k->aux);
    hd_config__free_endpoints(*field, *count);
    *field = list;
    *count = n;
    return 0;
}

/* ---- one key ----------------------------------------------------------- */

static int apply(parser *ps, const key_spec *k, uint8_t *base, hd_slice v)
{
    uint8_t *field = base + k->off;
    char norm[HD_LIMIT_DNS_NAME + 1];
    const char *why;
    int value, rc;
    if (v.len == 0 && k->kind != K_CIDRS && k->kind != K_ENDPOINTS_OPT)
        return fail(ps, HD_ESYNTAX, ps->line, "%s%s: the value is missing",
                    section_label(ps).s, k->name);
    switch (k->kind) {
    case K_PATH:
        return set_string(ps, (char **)field, v);
    case K_HOST:
        if ((why = hd_config__domain(v, norm)) != NULL)
            return fail(ps, HD_ESYNTAX, ps->line, "%s%s = \"%s\": not a host name: it has %s",
                        section_label(ps).s, k->name, quote(v).s, why);
        return set_string(ps, (char **)field, hd_slice_cstr(norm));
    case K_LOG_LEVEL:
        if ((rc = apply_enum(ps, k, log_names, 4, v, &value)) != 0)
            return rc;
        return set_string(ps, (char **)field, hd_slice_cstr(log_names[value].name));
    case K_LOG_FORMAT:
        if ((rc = apply_enum(ps, k, log_formats, 2, v, &value)) != 0)
            return rc;
        *(hd_log_format *)field = (hd_log_format)value;
        return 0;
    case K_SIZE:
    case K_DURATION:
    case K_COUNT:
    case K_PORT:
        return apply_number(ps, k, field, v);
    case K_BOOL:
        if (!hd_config__bool(v, (bool *)field))
            return bad_value(ps, k, v, "yes or no (also true/false, on/off)");
        return 0;
    case K_ENDPOINT:
        return apply_endpoint(ps, k, base, v);
    case K_ENDPOINTS:
        return apply_endpoints(ps, k, base, v);
    case K_ENDPOINTS_OPT:
        if ((rc = apply_endpoints(ps, k, base, v)) == 0)
            ps->cfg->inbound.listen_default = false;    /* given: it must bind */
        return rc;
    case K_CIDRS:
    case K_IPS:
    case K_HOSTS:
        return apply_string_list(ps, k, base, v);
    case K_DELIVERY:
        if ((rc = apply_enum(ps, k, delivery_names, 2, v, &value)) != 0)
            return rc;
        *(hd_config_delivery *)field = (hd_config_delivery)value;
        if (k->aux != NO_OFF)
            *(bool *)(base + k->aux) = true;
        return 0;
    case K_TLS:
        if ((rc = apply_enum(ps, k, tls_names, 4, v, &value)) != 0)
            return rc;
        *(hd_config_tls_policy *)field = (hd_config_tls_policy)value;
        return 0;
    case K_CANON:
        if ((rc = apply_enum(ps, k, canon_names, 4, v, &value)) != 0)
            return rc;
        *(hd_config_canon *)field = (hd_config_canon)value;
        return 0;
    case K_POOL:
        if ((why = hd_config__pool_name(v, norm)) != NULL)
            return fail(ps, HD_ESYNTAX, ps->line, "%s%s = \"%s\": not a pool name: it has %s",
                        section_label(ps).s, k->name, quote(v).s, why);
        return set_string(ps, (char **)field, hd_slice_cstr(norm));
    case K_RESOLVER:
        if ((why = hd_config__resolver(v)) != NULL)
            return bad_value(ps, k, v, why);
        return set_string(ps, (char **)field, v);
    case K_URL:
        if ((why = hd_config__url(v)) != NULL)
            return bad_value(ps, k, v, why);
        return set_string(ps, (char **)field, v);
    case K_SECRET:
        /* the value is not quoted back: error messages end up in logs */
        if (v.len < HD_CONFIG_SECRET_MIN)
            return fail(ps, HD_ESYNTAX, ps->line,
                        "%s%s: %zu characters; a secret needs at least %d (e.g. from "
                        "openssl rand -hex 32)",
                        section_label(ps).s, k->name, v.len, HD_CONFIG_SECRET_MIN);
        return set_string(ps, (char **)field, v);
    case K_DOMAINS:
    case K_EVENTS:
    case K_WORDS:
        return apply_string_list(ps, k, base, v);
    }
    return 0;
}

static const key_spec *key_find(const section_spec *sec, hd_slice name, size_t *index)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (hd_slice_caseeq_cstr(name, sec->keys[i].name)) {
            *index = i;
            return &sec->keys[i];
        }
    return NULL;
}

/* Names the sections that know the key, or lists the keys this one knows. */
static int unknown_key(parser *ps, hd_slice key)
{
    char hint[HD_ERR_MSG_MAX] = "";
    size_t o = 0, index;
    for (size_t s = 0; s < N_SECTIONS && o < sizeof hint; s++) {
        const section_spec *sec = &sections[s];
        if (sec == ps->sec || key_find(sec, key, &index) == NULL)
            continue;
        const char *arg = sec->kind == S_DOMAIN  ? " NAME"
                          : sec->kind == S_POOL    ? " NAME"
                          : sec->kind == S_WEBHOOK ? " NAME"
                          : sec->kind == S_ROUTE ? " DOMAIN"
                                                 : "";
        if (sec->kind == S_TOP)
            o += (size_t)snprintf(hint + o, sizeof hint - o, "%s the top (before any section)",
                                  o ? " or at" : "; it belongs at");
        else
            o += (size_t)snprintf(hint + o, sizeof hint - o, "%s [%s%s]",
                                  o ? " or in" : "; it belongs in", sec->name, arg);
    }
    bool elsewhere = o > 0;
    for (size_t i = 0; !elsewhere && i < ps->sec->n_keys && o < sizeof hint; i++)
        o += (size_t)snprintf(hint + o, sizeof hint - o, "%s%s", i ? ", " : "; known here: ",
                              ps->sec->keys[i].name);
    label l = section_label(ps);
    return fail(ps, HD_ESYNTAX, ps->line, "%sunknown key \"%s\"%s%s", l.s, quote(key).s,
                ps->sec->kind == S_TOP ? " at the top level" : "", hint);
}

/* ---- sections ---------------------------------------------------------- */

/* Checks of a section that need all its keys: run when it ends. */
static int close_section(parser *ps)
{
    const section_spec *sec = ps->sec;
    for (size_t i = 0; i < sec->n_keys; i++)
        if (sec->keys[i].required && !(ps->given & (UINT64_C(1) << i)))
            return fail(ps, HD_EINVAL, ps->sec_line, "%shas no %s", section_label(ps).s,
                        sec->keys[i].name);
    if (sec->kind == S_POOL) {
        const hd_config_pool *p = &ps->cfg->pools[ps->entry];
        if (p->ehlo != NULL && p->n_ehlo != p->n_addresses)
            return fail(ps, HD_EINVAL, ps->sec_line,
                        "%shas %zu ehlo names for %zu addresses: give one per address, in the "
                        "same order, or none",
                        section_label(ps).s, p->n_ehlo, p->n_addresses);
    }
    return 0;
}

static void *grow(void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : 8;
    void *p = realloc(arr, c * size);
    if (p != NULL)
        *cap = c;
    return p;
}

/* The index of the named section of this kind, or (size_t)-1. */
static size_t named_find(const parser *ps, sec_kind kind, const char *name)
{
    const hd_config *c = ps->cfg;
    size_t n = kind == S_DOMAIN    ? c->n_domains
               : kind == S_POOL    ? c->n_pools
               : kind == S_WEBHOOK ? c->n_webhooks
                                   : c->n_routes;
    for (size_t i = 0; i < n; i++) {
        const char *have = kind == S_DOMAIN    ? c->domains[i].name
                           : kind == S_POOL    ? c->pools[i].name
                           : kind == S_WEBHOOK ? c->webhooks[i].name
                                               : c->routes[i].domain;
        if (strcmp(have, name) == 0)
            return i;
    }
    return (size_t)-1;
}

/* Appends a [domain], [pool] or [route] entry that owns name. */
static int named_add(parser *ps, sec_kind kind, char *name)
{
    hd_config *c = ps->cfg;
    size_t m = (size_t)(kind - S_DOMAIN);
    size_t n = kind == S_DOMAIN    ? c->n_domains
               : kind == S_POOL    ? c->n_pools
               : kind == S_WEBHOOK ? c->n_webhooks
                                   : c->n_routes;
    entry_meta *meta = grow(ps->meta[m], n, &ps->meta_cap[m], sizeof *meta);
    if (meta == NULL)
        goto nomem;
    ps->meta[m] = meta;
    meta[n] = (entry_meta){ps->line, 0};
    if (kind == S_DOMAIN) {
        hd_config_domain *d = grow(c->domains, n, &ps->cap[m], sizeof *d);
        if (d == NULL)
            goto nomem;
        c->domains = d;
        d[c->n_domains++] = (hd_config_domain){.name = name};
    } else if (kind == S_POOL) {
        hd_config_pool *p = grow(c->pools, n, &ps->cap[m], sizeof *p);
        if (p == NULL)
            goto nomem;
        c->pools = p;
        p[c->n_pools++] = (hd_config_pool){.name = name};
    } else if (kind == S_WEBHOOK) {
        hd_config_webhook *w = grow(c->webhooks, n, &ps->cap[m], sizeof *w);
        if (w == NULL)
            goto nomem;
        c->webhooks = w;
        w[c->n_webhooks++] = (hd_config_webhook){.name = name, .max_retry_time = 3 * 86400};
    } else {
        hd_config_route *r = grow(c->routes, n, &ps->cap[m], sizeof *r);
        if (r == NULL)
            goto nomem;
        c->routes = r;
        r[c->n_routes++] = (hd_config_route){.domain = name};
    }
    ps->entry = n;
    return 0;
nomem:
    free(name);
    return nomem(ps);
}

/* The NAME of [domain NAME], [pool NAME] or [route DOMAIN], normalized
 * into out. */
static int section_name(parser *ps, const section_spec *sec, hd_slice arg, char *out)
{
    const char *why, *what;
    if (sec->kind == S_ROUTE && hd_slice_eq_cstr(arg, "*")) {
        memcpy(out, "*", 2);
        return 0;
    }
    if (sec->kind == S_POOL || sec->kind == S_WEBHOOK) {
        why = hd_config__pool_name(arg, out);
        what = sec->kind == S_POOL ? "a pool name (a-z, 0-9, '_', '-')"
                                   : "a webhook name (a-z, 0-9, '_', '-')";
    } else {
        why = hd_config__domain(arg, out);
        what = sec->kind == S_ROUTE ? "a domain name or *" : "a domain name";
    }
    if (why == NULL)
        return 0;
    return fail(ps, HD_ESYNTAX, ps->line, "[%s %s]: expected %s; it has %s", sec->name,
                quote(arg).s, what, why);
}

static int begin_named(parser *ps, const section_spec *sec, hd_slice arg)
{
    char name[HD_LIMIT_DNS_NAME + 1];
    if (arg.len == 0)
        return fail(ps, HD_ESYNTAX, ps->line, "[%s] needs a name: [%s %s]", sec->name,
                    sec->name,
                    sec->kind == S_POOL || sec->kind == S_WEBHOOK ? "NAME"
                    : sec->kind == S_ROUTE ? "DOMAIN] or [route *"
                                           : "example.com");
    int rc = section_name(ps, sec, arg, name);
    if (rc != 0)
        return rc;
    size_t first = named_find(ps, sec->kind, name);
    if (first != (size_t)-1)
        return fail(ps, HD_ESYNTAX, ps->line, "duplicate section [%s %s] (first at line %zu)",
                    sec->name, name, ps->meta[sec->kind - S_DOMAIN][first].line);
    char *owned = dup_lower(hd_slice_cstr(name), false);
    if (owned == NULL)
        return nomem(ps);
    return named_add(ps, sec->kind, owned);
}

/* "[kind]" or "[kind NAME]", then nothing or a comment. */
static int section_line(parser *ps, hd_slice t)
{
    const uint8_t *close = memchr(t.p, ']', t.len);
    if (close == NULL)
        return fail(ps, HD_ESYNTAX, ps->line, "a section header needs a closing ']'");
    hd_slice rest = trim(hd_slice_make(close + 1, t.len - (size_t)(close - t.p) - 1));
    if (rest.len > 0 && rest.p[0] != '#')
        return fail(ps, HD_ESYNTAX, ps->line, "text after the section header: \"%s\"",
                    quote(rest).s);
    hd_slice in = trim(hd_slice_make(t.p + 1, (size_t)(close - t.p) - 1));
    size_t k = 0;
    while (k < in.len && !is_blank(in.p[k]))
        k++;
    hd_slice kind = hd_slice_make(in.p, k);
    hd_slice arg = trim(hd_slice_make(in.p + k, in.len - k));
    const section_spec *sec = NULL;
    for (size_t i = 1; i < N_SECTIONS && sec == NULL; i++)
        if (hd_slice_caseeq_cstr(kind, sections[i].name))
            sec = &sections[i];
    if (sec == NULL)
        return fail(ps, HD_ESYNTAX, ps->line,
                    "unknown section [%s]; sections are [log], [smtp], [status], [api], [queue], "
                    "[delivery], [dns], [inbound], [domain NAME], [pool NAME], [route DOMAIN], "
                    "[webhook NAME]",
                    quote(in).s);
    for (size_t i = 0; i < arg.len; i++)
        if (is_blank(arg.p[i]))
            return fail(ps, HD_ESYNTAX, ps->line, "[%s]: one name only, found \"%s\"",
                        sec->name, quote(arg).s);
    int rc = close_section(ps);
    if (rc != 0)
        return rc;
    if (++ps->n_sections > HD_CONFIG_MAX_SECTIONS)
        return fail(ps, HD_ELIMIT, ps->line, "more than %d sections", HD_CONFIG_MAX_SECTIONS);
    size_t idx = (size_t)(sec - sections);
    if (sec->kind == S_FIXED) {
        if (arg.len > 0)
            return fail(ps, HD_ESYNTAX, ps->line, "[%s] takes no name, found \"%s\"", sec->name,
                        quote(arg).s);
        if (ps->fixed_line[idx] != 0)
            return fail(ps, HD_ESYNTAX, ps->line, "duplicate section [%s] (first at line %zu)",
                        sec->name, ps->fixed_line[idx]);
        ps->fixed_line[idx] = ps->line;
    } else if ((rc = begin_named(ps, sec, arg)) != 0) {
        return rc;
    }
    ps->sec = sec;
    ps->sec_line = ps->line;
    ps->given = 0;
    return note_line(ps, NULL);
}

/* ---- lines ------------------------------------------------------------- */

/* The value after '=': a '#' that follows a blank starts a comment. */
static hd_slice value_of(hd_slice raw)
{
    for (size_t i = 1; i < raw.len; i++)
        if (raw.p[i] == '#' && is_blank(raw.p[i - 1])) {
            raw.len = i;
            break;
        }
    return trim(raw);
}

static bool is_key_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

static int key_line(parser *ps, hd_slice t)
{
    const uint8_t *eq = memchr(t.p, '=', t.len);
    if (eq == NULL)
        return fail(ps, HD_ESYNTAX, ps->line,
                    "expected \"key = value\", a [section] header or a # comment, found \"%s\"",
                    quote(t).s);
    hd_slice key = trim(hd_slice_make(t.p, (size_t)(eq - t.p)));
    if (key.len == 0)
        return fail(ps, HD_ESYNTAX, ps->line, "no key before the '='");
    for (size_t i = 0; i < key.len; i++)
        if (!is_key_char(key.p[i]))
            return fail(ps, HD_ESYNTAX, ps->line,
                        "\"%s\" is not a key: keys are letters, digits and '_'", quote(key).s);
    size_t index;
    const key_spec *k = key_find(ps->sec, key, &index);
    if (k == NULL)
        return unknown_key(ps, key);
    if (ps->given & (UINT64_C(1) << index))
        return fail(ps, HD_ESYNTAX, ps->line, "%s%s is given twice in this section",
                    section_label(ps).s, k->name);
    ps->given |= UINT64_C(1) << index;
    uint8_t *base = (uint8_t *)ps->cfg;
    if (ps->sec->kind == S_DOMAIN)
        base = (uint8_t *)&ps->cfg->domains[ps->entry];
    else if (ps->sec->kind == S_POOL)
        base = (uint8_t *)&ps->cfg->pools[ps->entry];
    else if (ps->sec->kind == S_ROUTE)
        base = (uint8_t *)&ps->cfg->routes[ps->entry];
    else if (ps->sec->kind == S_WEBHOOK)
        base = (uint8_t *)&ps->cfg->webhooks[ps->entry];
    hd_slice raw = hd_slice_make(eq + 1, t.len - (size_t)(eq - t.p) - 1);
    int rc = apply(ps, k, base, value_of(raw));
    if (rc == 0)
        rc = note_line(ps, k->name);
    if (rc == 0 && k->kind == K_POOL) {
        if (ps->sec->kind == S_DOMAIN)
            ps->meta[0][ps->entry].ref_line = ps->line;
        else
            ps->default_pool_line = ps->line;
    }
    return rc;
}

/* NUL, control characters (TAB aside) and invalid UTF-8 end the parse. */
static int check_bytes(parser *ps, hd_slice l)
{
    for (size_t i = 0; i < l.len; i++) {
        uint8_t c = l.p[i];
        if (c == 0)
            return fail(ps, HD_ESYNTAX, ps->line, "NUL byte at column %zu", i + 1);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(ps, HD_ESYNTAX, ps->line, "control character 0x%02x at column %zu", c,
                        i + 1);
    }
    size_t bad = hd_config__utf8_bad(l);
    if (bad != (size_t)-1)
        return fail(ps, HD_ESYNTAX, ps->line, "invalid UTF-8 at column %zu", bad + 1);
    return 0;
}

static int one_line(parser *ps, hd_slice l)
{
    if (l.len > 0 && l.p[l.len - 1] == '\r')
        l.len--;
    if (l.len > HD_CONFIG_MAX_LINE)
        return fail(ps, HD_ESYNTAX, ps->line, "line longer than %d bytes", HD_CONFIG_MAX_LINE);
    int rc = check_bytes(ps, l);
    if (rc != 0)
        return rc;
    hd_slice t = trim(l);
    if (t.len == 0 || t.p[0] == '#')
        return 0;
    if (t.p[0] == '[')
        return section_line(ps, t);
    return key_line(ps, t);
}

/* ---- the whole file ---------------------------------------------------- */

static int pool_ref(parser *ps, const char *pool, size_t line, const char *who)
{
    if (pool == NULL || hd_config_pool_find(ps->cfg, pool) != NULL)
        return 0;
    return fail(ps, HD_EINVAL, line, "%s pool = %s, but no [pool %s] section defines it", who,
                pool, pool);
}

/* Checks between sections, after the last line. */
static int finish(parser *ps)
{
    hd_config *c = ps->cfg;
    int rc = close_section(ps);
    if (rc != 0)
        return rc;
    if (c->smtp.tls_cert != NULL && c->smtp.tls_key == NULL)
        return fail(ps, HD_EINVAL, ps->fixed_line[SEC_SMTP], "[smtp] has tls_cert but no tls_key");
    if (c->smtp.tls_key != NULL && c->smtp.tls_cert == NULL)
        return fail(ps, HD_EINVAL, ps->fixed_line[SEC_SMTP], "[smtp] has tls_key but no tls_cert");
    if (c->queue.retry_min > c->queue.retry_max)
        return fail(ps, HD_EINVAL, ps->fixed_line[SEC_QUEUE],
                    "[queue] retry_min (%" PRIu32 " s) is longer than retry_max (%" PRIu32 " s)",
                    c->queue.retry_min, c->queue.retry_max);
    /* the soft bounces are counted from the events, which retention prunes */
    if (c->inbound.soft_bounce_limit > 0 && c->inbound.soft_bounce_window > c->queue.retention)
        return fail(ps, HD_EINVAL, ps->fixed_line[SEC_INBOUND],
                    "[inbound] soft_bounce_window (%" PRIu32 " s) is longer than [queue] retention"
                    " (%" PRIu32 " s): the bounces it counts would be gone",
                    c->inbound.soft_bounce_window, c->queue.retention);
    if (c->dns.resolver != NULL && c->dns.zone_file != NULL)
        return fail(ps, HD_EINVAL, ps->fixed_line[SEC_DNS],
                    "[dns] has both resolver and zone_file: give one");
    /* Pools are sorted first so that the look-up can check the names;
     * domains after, as they are checked in file order. */
    hd_config__sort_pools(c);
    for (size_t i = 0; rc == 0 && i < c->n_domains; i++) {
        char who[HD_LIMIT_DNS_NAME + 16];
        snprintf(who, sizeof who, "[domain %s]", c->domains[i].name);
        rc = pool_ref(ps, c->domains[i].pool, ps->meta[0][i].ref_line, who);
    }
    if (rc == 0)
        rc = pool_ref(ps, c->delivery.default_pool, ps->default_pool_line, "[delivery]");
    if (rc == 0)
        hd_config__sort(c);
    return rc;
}

static int parse_text(parser *ps, const uint8_t *text, size_t len)
{
    size_t pos = 0;
    /* a UTF-8 byte order mark, as some editors write */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        ps->line++;
        const uint8_t *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        int rc = one_line(ps, hd_slice_make(text + pos, end - pos));
        if (rc != 0)
            return rc;
        pos = nl ? end + 1 : len;
    }
    return finish(ps);
}

int hd_config_parse(const char *name, const char *text, size_t len, hd_config **out,
                    hd_err *err)
{
    *out = NULL;
    if (name == NULL)
        name = "config";
    if (len > HD_CONFIG_MAX_BYTES)
        return hd_err_set(err, HD_ELIMIT, "%s: larger than the limit of %u bytes", name,
                          HD_CONFIG_MAX_BYTES);
    hd_config *cfg;
    int rc = hd_config_defaults(&cfg, err);
    if (rc != 0)
        return rc;
    parser ps = {.file = name, .cfg = cfg, .err = err, .sec = &sections[SEC_TOP]};
    cfg->origin = calloc(1, sizeof *cfg->origin);
    if (cfg->origin == NULL || (cfg->origin->file = strdup(name)) == NULL) {
        hd_config_free(cfg);
        return hd_err_set(err, HD_ENOMEM, "%s: out of memory", name);
    }
    rc = parse_text(&ps, (const uint8_t *)text, len);
    for (size_t i = 0; i < N_NAMED; i++)
        free(ps.meta[i]);
    if (rc != 0) {
        hd_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}
