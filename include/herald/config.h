/*
 * herald/config.h - the server's configuration: embedded defaults, and a
 * file that overrides them (docs/config.md documents every key).
 *
 * The file is INI-like, one setting a line:
 *
 *     # comment
 *     hostname = mail.example.com
 *     [smtp]
 *     listen = 127.0.0.1:2525
 *     [domain example.com]
 *     delivery = real
 *     [pool transactional]
 *     addresses = 192.0.2.10 192.0.2.11
 *     [route example.net]
 *     next_hop = 127.0.0.1:2526
 *
 * Sections are [log], [smtp], [status], [api], [queue], [delivery], [dns], [inbound],
 * [domain NAME], [pool NAME], [route DOMAIN-or-*] and [webhook NAME]. An unknown key,
 * a bad value, a duplicate section or key is an error that names the file,
 * the line and the reason; the server refuses to start with it.
 * Errors: HD_ESYNTAX for what a line says, HD_EINVAL for a cross-check
 * between sections (a pool that is not defined, ehlo and addresses that do
 * not pair up), HD_ELIMIT past the limits below, HD_EIO for a file that
 * cannot be read.
 *
 * hd_config is plain data: read its fields directly. Strings and arrays
 * are owned by the config and freed by hd_config_free().
 */
#ifndef HERALD_CONFIG_H
#define HERALD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/err.h>
#include <herald/log.h>

/* Limits on the file, so that no input can make the parser use unbounded
 * memory or time. Real files are a few kilobytes. */
#define HD_CONFIG_MAX_BYTES (4u * 1024 * 1024) /* whole file */
#define HD_CONFIG_MAX_LINE 4096                /* bytes of one line, without its end */
#define HD_CONFIG_MAX_SECTIONS 10000           /* section headers in one file */
#define HD_CONFIG_MAX_LIST 1024                /* items of one list value */

/* host:port; written "192.0.2.1:25", "mx.example.net:25" or "[::1]:25".
 * host is the IPv4/IPv6 literal as written (without the brackets, ready
 * for getaddrinfo) or a host name in lower case. */
typedef struct hd_config_endpoint {
    char *host;
    uint16_t port;
} hd_config_endpoint;

typedef enum hd_config_delivery {
    HD_DELIVERY_SANDBOX, /* capture locally, record the verdict a receiver would give */
    HD_DELIVERY_REAL,    /* deliver to the MX (or the route) */
} hd_config_delivery;

typedef enum hd_config_tls_policy {
    HD_TLS_POLICY_NONE,          /* never STARTTLS */
    HD_TLS_POLICY_OPPORTUNISTIC, /* STARTTLS when offered, certificate not checked */
    HD_TLS_POLICY_VERIFY,        /* STARTTLS when offered, certificate must verify */
    HD_TLS_POLICY_REQUIRED,      /* STARTTLS required and verified */
} hd_config_tls_policy;

typedef struct hd_config_domain {
    char *name;                      /* lower case, no trailing dot */
    bool has_delivery;               /* delivery given for this domain */
    hd_config_delivery delivery;
    char *pool;                      /* NULL: [delivery] default_pool */
} hd_config_domain;

typedef struct hd_config_pool {
    char *name;
    char **addresses;                /* local IPv4/IPv6 literals to bind to */
    size_t n_addresses;
    char **ehlo;                     /* EHLO name per address (same count) or NULL: hostname */
    size_t n_ehlo;
} hd_config_pool;

typedef struct hd_config_route {
    char *domain;                    /* recipient domain, or "*" */
    hd_config_endpoint next_hop;     /* host:port, no MX lookup */
} hd_config_route;

/* [webhook NAME]: every event of the matching domains and types is POSTed
 * to url, signed with secret (docs/webhooks.md). */
typedef struct hd_config_webhook {
    char *name;                      /* a-z 0-9 _ -, as pool names */
    char *url;                       /* http:// or https:// */
    char *secret;                    /* at least HD_CONFIG_SECRET_MIN bytes; never log it */
    char **domains;                  /* sending domains; NULL (n 0): every one ("*") */
    size_t n_domains;
    char **events;                   /* event types; NULL (n 0): every type but the
                                      * unverified ones (hd_config_event_explicit) */
    size_t n_events;
    uint32_t max_retry_time;         /* seconds an event is retried before it is dead: 259200 */
    char *ca_file;                   /* PEM CAs for https; NULL: the system's */
} hd_config_webhook;

/* A webhook secret must have at least this many bytes (people type them:
 * count characters, not bits). */
#define HD_CONFIG_SECRET_MIN 32

/* Where the file set each key (opaque; hd_config_line). */
typedef struct hd_config_origin hd_config_origin;

/* Whether an event type (its name; the types are the store's,
 * hd_event_type) goes only to endpoints that name it: the reports
 * matched by Message-ID alone (bounced_unverified, complained_unverified,
 * feedback_unverified), which anyone holding a Message-ID can forge. */
bool hd_config_event_explicit(const char *type);

/* DKIM canonicalization, header/body (RFC 6376 §3.4). */
typedef enum hd_config_canon {
    HD_CONFIG_CANON_RELAXED_RELAXED,
    HD_CONFIG_CANON_SIMPLE_SIMPLE,
    HD_CONFIG_CANON_RELAXED_SIMPLE,
    HD_CONFIG_CANON_SIMPLE_RELAXED,
} hd_config_canon;

typedef struct hd_config {
    /* top level */
    char *hostname;                  /* default: gethostname() is the shell's job; "localhost" */
    char *data_dir;                  /* "./herald-data" */
    char *log_level;                 /* "info" (debug, info, warn, error) */
    hd_config_canon dkim_canon;      /* c= of the signatures; relaxed/relaxed */

    struct {                         /* [log] */
        hd_log_format format;        /* text (or json) */
    } log;

    struct {                         /* [smtp] submission listener */
        hd_config_endpoint *listen;  /* default 127.0.0.1:2525 */
        size_t n_listen;
        char *tls_cert;              /* PEM; NULL: a self-signed one in data_dir */
        char *tls_key;
        uint64_t max_message_size;   /* 26214400 */
        uint32_t max_recipients;     /* 1000 */
        uint32_t max_sessions;       /* 2000 */
        uint32_t idle_timeout;       /* seconds, 300 (RFC 5321 §4.5.3.2.7) */
        char **trusted_networks;     /* CIDRs that may submit without AUTH; none by default */
        size_t n_trusted_networks;
        uint32_t auth_failures_per_minute; /* per client address, 5 */
        /* per client address, IPv6 per /64; 0 = no limit */
        uint32_t max_sessions_per_client;  /* 100 */
        uint32_t max_connections_per_client_per_minute; /* 0 */
        char **client_limit_exceptions; /* CIDRs exempt from the two above: loopback */
        size_t n_client_limit_exceptions;
    } smtp;

    struct {                         /* [status] health + metrics over HTTP */
        hd_config_endpoint listen;   /* 127.0.0.1:8025 */
        uint32_t max_connections;    /* open connections at once: 64 */
        uint32_t max_connections_per_client; /* per client address (IPv6: /64): 8; 0 = no limit */
        char **client_limit_exceptions; /* CIDRs exempt from it: loopback */
        size_t n_client_limit_exceptions;
    } status;

    struct {                         /* [api] the HTTP API (docs/api.md) */
        hd_config_endpoint listen;   /* 127.0.0.1:8026 */
        uint64_t max_request_size;   /* bytes of a request body: 36 MiB (a 25 MiB message in base64, and room) */
        uint32_t max_connections;    /* open connections at once: 256 */
        uint32_t max_connections_per_client; /* per client address (IPv6: /64): 32; 0 = no limit */
        char **client_limit_exceptions; /* CIDRs exempt from it: loopback */
        size_t n_client_limit_exceptions;
    } api;

    struct {                         /* [queue] */
        uint32_t max_lifetime;       /* seconds a message may stay queued: 432000 (5 days) */
        uint32_t retry_min;          /* first retry delay, seconds: 60 */
        uint32_t retry_max;          /* cap on the retry delay, seconds: 3600 */
        uint32_t commit_batch;       /* messages per group commit at most: 256 */
        uint32_t signing_threads;    /* 0 = one per CPU */
        bool durable;                /* every commit reaches the disk (hd_store_open): yes */
        uint32_t max_queued;         /* recipients waiting at most; then 452 4.3.1: 1000000 */
        uint64_t min_free_space;     /* bytes free on data_dir's disk, else 452 4.3.1: 104857600 */
        uint64_t max_inflight;       /* bytes of messages being signed and stored at once; beyond it 451 4.3.1: 268435456 */
        uint32_t retention;          /* seconds events, captures and finished messages are kept: 2592000 (30 days) */
        uint64_t reserve_space;      /* bytes held back in data_dir/reserve for recording outcomes on a full disk: 16 MiB */
        bool accept_empty_database;  /* start on a new database beside a spool of mail (serve --accept-empty-database): no */
    } queue;

    struct {                         /* [delivery] */
        hd_config_delivery mode;     /* default for every domain: sandbox */
        uint16_t remote_port;        /* 25 */
        hd_config_tls_policy tls;    /* opportunistic */
        uint32_t max_connections;    /* in total: 500 */
        uint32_t max_connections_per_destination; /* 20 */
        uint32_t max_messages_per_connection;     /* 100 */
        uint32_t max_messages_per_minute;         /* per destination, 0 = no limit */
        uint32_t connect_timeout;    /* seconds: 30 */
        uint32_t command_timeout;    /* seconds: 300 */
        char *default_pool;          /* NULL: the system's default address */
        bool verp_per_recipient;     /* one envelope sender (and transaction) per recipient: yes */
    } delivery;

    struct {                         /* [inbound] bounce, complaint and report intake (docs/bounces.md) */
        hd_config_endpoint *listen;  /* default 127.0.0.1:2526 (production: :25); none: disabled */
        size_t n_listen;
        bool listen_default;         /* listen not given in the file: binding it is best-effort */
        uint64_t max_message_size;   /* 10485760 */
        uint32_t max_recipients;     /* accepted RCPTs per transaction: 100 */
        uint32_t max_sessions;       /* 200 */
        /* per client address, IPv6 per /64; 0 = no limit */
        uint32_t max_sessions_per_client;  /* 50, as Postfix's anvil */
        uint32_t max_connections_per_client_per_minute; /* 120 */
        char **client_limit_exceptions; /* CIDRs exempt from the two above: loopback */
        size_t n_client_limit_exceptions;
        uint32_t max_messages_per_minute; /* per client address: 60; 0 = no limit */
        char *bounce_rules;          /* rules for non-standard bounces; NULL: the built-in data/bounce-rules.txt */
        uint32_t soft_bounce_limit;  /* soft bounces (of different messages) within the window
                                      * that suppress an address for a while: 0 = never */
        uint32_t soft_bounce_window; /* seconds: 604800 (7 days); at most [queue] retention */
        uint32_t soft_bounce_suppress_for; /* seconds: 604800 (7 days) */
        char **hard_reasons;         /* bounce reasons that count as hard too (names as
                                      * hd_bounce_reason_name gives them); none by default */
        size_t n_hard_reasons;
    } inbound;

    struct {                         /* [dns] */
        char *resolver;              /* "ADDR[@PORT]" forwarder; NULL: /etc/resolv.conf */
        char *zone_file;             /* fixture instead of a resolver (tests, sandbox) */
        uint32_t timeout_ms;         /* 5000 */
    } dns;

    /* sorted by name (routes by domain, "*" first) */
    hd_config_domain *domains;
    size_t n_domains;
    hd_config_pool *pools;
    size_t n_pools;
    hd_config_route *routes;
    size_t n_routes;
    hd_config_webhook *webhooks;     /* in file order */
    size_t n_webhooks;

    hd_config_origin *origin;        /* the file's name and lines; NULL for the defaults */
} hd_config;

/* The embedded defaults. */
int hd_config_defaults(hd_config **out, hd_err *err);

/* Defaults overridden by the file at path. On error err says
 * "FILE:LINE: reason" and *out is NULL. */
int hd_config_load(const char *path, hd_config **out, hd_err *err);

/* Same from bytes in memory; name is used in error messages. */
int hd_config_parse(const char *name, const char *text, size_t len,
                    hd_config **out, hd_err *err);

void hd_config_free(hd_config *cfg);

/* Where the file set a key, for errors found after the parse (a file a
 * key names cannot be read): the line, or 0 when the file did not set it
 * (an embedded default). section: NULL or "" for the top level, else
 * "smtp", "domain", ...; name: the NAME of [domain NAME], [pool NAME],
 * [route DOMAIN] or [webhook NAME] (as stored: lower case), else NULL;
 * key: NULL for the line of the section's header. */
size_t hd_config_line(const hd_config *cfg, const char *section, const char *name,
                      const char *key);
/* The file's name as given to hd_config_load/parse; NULL for the defaults. */
const char *hd_config_file(const hd_config *cfg);
/* Sets err to "FILE:LINE: [section NAME] key: reason" (without
 * "FILE:LINE: " for a default, "key: " for NULL) and returns code. */
int hd_config_error(const hd_config *cfg, hd_err *err, int code, const char *section,
                    const char *name, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Look-ups (borrowed results; NULL when absent). */
const hd_config_domain *hd_config_domain_find(const hd_config *cfg, const char *domain);
const hd_config_pool *hd_config_pool_find(const hd_config *cfg, const char *name);
/* The route for a recipient domain: an exact match, else "*", else NULL. */
const hd_config_route *hd_config_route_find(const hd_config *cfg, const char *domain);
const hd_config_webhook *hd_config_webhook_find(const hd_config *cfg, const char *name);
/* Whether webhook w takes events of this type from this sending domain
 * (NULL or "": an event without a message, which only "*" endpoints get).
 * An endpoint without an events list takes every type but the explicit
 * ones (hd_config_event_explicit). */
bool hd_config_webhook_wants(const hd_config_webhook *w, const char *type, const char *domain);
/* Delivery mode for a sending domain: the domain's own, else [delivery] mode. */
hd_config_delivery hd_config_delivery_for(const hd_config *cfg, const char *domain);

/* Whether an IP literal ("192.0.2.1", "2001:db8::1") lies in one of
 * smtp.trusted_networks. An IPv4-mapped IPv6 address (::ffff:192.0.2.1)
 * counts as the IPv4 address. Anything that is not a literal: false. */
bool hd_config_trusted(const hd_config *cfg, const char *ip_literal);
/* Whether ip_literal is in one of the n networks (CIDRs as the
 * configuration holds them, e.g. smtp.client_limit_exceptions). */
bool hd_config_in_networks(char *const *networks, size_t n, const char *ip_literal);

#endif
