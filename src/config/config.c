/*
 * config.c - the server's configuration: the embedded defaults, reading
 * the file, freeing, and the look-ups the server makes per message.
 *
 * The config owns every string and array in it. The domain, pool and
 * route arrays are sorted by name once parsed, so look-ups bisect.
 */
#include "config/config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- defaults ---------------------------------------------------------- */

static bool dup_into(char **field, const char *s)
{
    *field = strdup(s);
    return *field != NULL;
}

static bool default_loopback(char ***list, size_t *n)
{
    *n = 0;
    if (!(*list = calloc(2, sizeof **list)))
        return false;
    *n = 2;
    return dup_into(&(*list)[0], "127.0.0.0/8") && dup_into(&(*list)[1], "::1/128");
}

static bool default_strings(hd_config *c)
{
    if (!dup_into(&c->hostname, "localhost") || !dup_into(&c->data_dir, "./herald-data") ||
        !dup_into(&c->log_level, "info"))
        return false;
    c->smtp.listen = calloc(1, sizeof *c->smtp.listen);
    if (c->smtp.listen == NULL)
        return false;
    c->smtp.n_listen = 1;
    c->smtp.listen[0].port = 2525;
    if (!dup_into(&c->smtp.listen[0].host, "127.0.0.1"))
        return false;
    /* smtp.trusted_networks: none, AUTH everywhere. Trusting loopback would
     * let any local account send signed mail as every tenant. */
    /* the per-client caps skip loopback, as Postfix's anvil skips
     * $mynetworks: every local application shares 127.0.0.1 */
    if (!default_loopback(&c->smtp.client_limit_exceptions, &c->smtp.n_client_limit_exceptions) ||
        !default_loopback(&c->inbound.client_limit_exceptions,
                          &c->inbound.n_client_limit_exceptions) ||
        !default_loopback(&c->api.client_limit_exceptions, &c->api.n_client_limit_exceptions) ||
        !default_loopback(&c->status.client_limit_exceptions,
                          &c->status.n_client_limit_exceptions))
        return false;
    c->inbound.listen = calloc(1, sizeof *c->inbound.listen);
    if (c->inbound.listen == NULL)
        return false;
    c->inbound.n_listen = 1;
    c->inbound.listen[0].port = 2526;
    c->inbound.listen_default = true;
    if (!dup_into(&c->inbound.listen[0].host, "127.0.0.1"))
        return false;
    c->status.listen.port = 8025;
    c->api.listen.port = 8026;
    return dup_into(&c->status.listen.host, "127.0.0.1") &&
           dup_into(&c->api.listen.host, "127.0.0.1");
}

int hd_config_defaults(hd_config **out, hd_err *err)
{
    *out = NULL;
    hd_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return hd_err_set(err, HD_ENOMEM, "configuration: out of memory");
    c->smtp.max_message_size = 25u * 1024 * 1024;
    c->smtp.max_recipients = 1000;
    c->smtp.max_sessions = 2000;
    c->smtp.idle_timeout = 300; /* RFC 5321 §4.5.3.2.7: at least 5 minutes */
    c->smtp.auth_failures_per_minute = 5;
    c->smtp.max_sessions_per_client = 100;
    c->smtp.max_connections_per_client_per_minute = 0;
    c->api.max_request_size = 36u * 1024 * 1024;
    c->api.max_connections = 256;
    c->status.max_connections = 64;
    c->api.max_connections_per_client = 32;
    c->status.max_connections_per_client = 8;
    c->inbound.max_message_size = 10u * 1024 * 1024;
    c->inbound.max_recipients = 100;
    c->inbound.max_sessions = 200;
    c->inbound.max_sessions_per_client = 50;
    c->inbound.max_connections_per_client_per_minute = 120;
    c->inbound.max_messages_per_minute = 60;
    c->inbound.soft_bounce_window = 7 * 86400;
    c->inbound.soft_bounce_suppress_for = 7 * 86400;
    c->queue.max_lifetime = 5 * 86400;
    c->queue.retry_min = 60;
    c->queue.retry_max = 3600;
    c->queue.commit_batch = 256;
    c->queue.signing_threads = 0;
    c->queue.durable = true;
    c->queue.max_queued = 1000000;
    c->queue.min_free_space = 100u * 1024 * 1024;
    c->queue.retention = 30u * 86400;
    c->queue.max_inflight = 256u * 1024 * 1024;
    c->queue.reserve_space = 16u * 1024 * 1024;
    c->delivery.mode = HD_DELIVERY_SANDBOX;
    c->delivery.remote_port = 25;
    c->delivery.tls = HD_TLS_POLICY_OPPORTUNISTIC;
    c->delivery.max_connections = 500;
    c->delivery.max_connections_per_destination = 20;
    c->delivery.verp_per_recipient = true;
    c->delivery.max_messages_per_connection = 100;
    c->delivery.max_messages_per_minute = 0;
    c->delivery.connect_timeout = 30;
    c->delivery.command_timeout = 300;
    c->dns.timeout_ms = HD_LIMIT_DNS_TIMEOUT_MS;
    if (!default_strings(c)) {
        hd_config_free(c);
        return hd_err_set(err, HD_ENOMEM, "configuration: out of memory");
    }
    *out = c;
    return 0;
}

/* ---- reading and freeing ----------------------------------------------- */

int hd_config_load(const char *path, hd_config **out, hd_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    hd_buf text;
    hd_buf_init(&text, HD_CONFIG_MAX_BYTES);
    uint8_t chunk[16384];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = hd_buf_append(&text, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (rc == HD_ELIMIT)
        rc = hd_err_set(err, rc, "%s: larger than the limit of %u bytes", path,
                        HD_CONFIG_MAX_BYTES);
    else if (rc != 0)
        rc = hd_err_set(err, rc, "%s: out of memory", path);
    else if (read_errno != 0)
        rc = hd_err_set(err, HD_EIO, "%s: %s", path, strerror(read_errno));
    else
        rc = hd_config_parse(path, (const char *)text.p, text.len, out, err);
    hd_buf_free(&text);
    return rc;
}

void hd_config__free_strings(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

void hd_config__free_endpoints(hd_config_endpoint *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].host);
    free(v);
}

void hd_config_free(hd_config *c)
{
    if (c == NULL)
        return;
    free(c->hostname);
    free(c->data_dir);
    free(c->log_level);
    hd_config__free_endpoints(c->smtp.listen, c->smtp.n_listen);
    hd_config__free_endpoints(c->inbound.listen, c->inbound.n_listen);
    free(c->inbound.bounce_rules);
    free(c->smtp.tls_cert);
    free(c->smtp.tls_key);
    hd_config__free_strings(c->smtp.trusted_networks, c->smtp.n_trusted_networks);
    hd_config__free_strings(c->inbound.hard_reasons, c->inbound.n_hard_reasons);
    hd_config__free_strings(c->smtp.client_limit_exceptions, c->smtp.n_client_limit_exceptions);
    hd_config__free_strings(c->inbound.client_limit_exceptions,
                            c->inbound.n_client_limit_exceptions);
    hd_config__free_strings(c->api.client_limit_exceptions, c->api.n_client_limit_exceptions);
    hd_config__free_strings(c->status.client_limit_exceptions,
                            c->status.n_client_limit_exceptions);
    free(c->status.listen.host);
    free(c->api.listen.host);
    free(c->delivery.default_pool);
    free(c->dns.resolver);
    free(c->dns.zone_file);
    for (size_t i = 0; i < c->n_domains; i++) {
        free(c->domains[i].name);
        free(c->domains[i].pool);
    }
    free(c->domains);
    for (size_t i = 0; i < c->n_pools; i++) {
        free(c->pools[i].name);
        hd_config__free_strings(c->pools[i].addresses, c->pools[i].n_addresses);
        hd_config__free_strings(c->pools[i].ehlo, c->pools[i].n_ehlo);
    }
    free(c->pools);
    for (size_t i = 0; i < c->n_routes; i++) {
        free(c->routes[i].domain);
        free(c->routes[i].next_hop.host);
    }
    free(c->routes);
    hd_config__free_webhooks(c->webhooks, c->n_webhooks);
    hd_config__origin_free(c->origin);
    free(c);
}

/* ---- where keys were set ----------------------------------------------- */

static void copy_bounded(char *out, size_t cap, const char *s)
{
    snprintf(out, cap, "%s", s ? s : "");
}

int hd_config__origin_add(hd_config *cfg, const char *file, const char *section,
                          const char *name, const char *key, size_t line)
{
    hd_config_origin *o = cfg->origin;
    if (o == NULL) {
        if ((o = calloc(1, sizeof *o)) == NULL || (o->file = strdup(file)) == NULL) {
            free(o);
            return HD_ENOMEM;
        }
        cfg->origin = o;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 32;
        hd_config_origin_line *v = realloc(o->v, cap * sizeof *v);
        if (v == NULL)
            return HD_ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    hd_config_origin_line *l = &o->v[o->n];
    *l = (hd_config_origin_line){.line = line};
    copy_bounded(l->section, sizeof l->section, section);
    copy_bounded(l->key, sizeof l->key, key);
    if (name != NULL && (l->name = strdup(name)) == NULL)
        return HD_ENOMEM;
    o->n++;
    return 0;
}

void hd_config__origin_free(hd_config_origin *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n; i++)
        free(o->v[i].name);
    free(o->v);
    free(o->file);
    free(o);
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

size_t hd_config_line(const hd_config *cfg, const char *section, const char *name,
                      const char *key)
{
    const hd_config_origin *o = cfg ? cfg->origin : NULL;
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        const hd_config_origin_line *l = &o->v[i];
        if (same(l->section, section) && same(l->name, name) && same(l->key, key))
            return l->line;
    }
    return 0;
}

const char *hd_config_file(const hd_config *cfg)
{
    return cfg && cfg->origin ? cfg->origin->file : NULL;
}

int hd_config_error(const hd_config *cfg, hd_err *err, int code, const char *section,
                    const char *name, const char *key, const char *fmt, ...)
{
    char why[HD_ERR_MSG_MAX], where[HD_ERR_MSG_MAX] = "", sec[HD_LIMIT_DNS_NAME + 32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    size_t line = hd_config_line(cfg, section, name, key);
    if (line == 0 && key != NULL)   /* not set here: the section, if it is in the file */
        line = hd_config_line(cfg, section, name, NULL);
    if (line > 0)
        snprintf(where, sizeof where, "%s:%zu: ", hd_config_file(cfg), line);
    if (section != NULL && section[0] != '\0' && name != NULL)
        snprintf(sec, sizeof sec, "[%s %s]", section, name);
    else if (section != NULL && section[0] != '\0')
        snprintf(sec, sizeof sec, "[%s]", section);
    /* "[smtp] tls_cert: why", "[domain x]: why", "hostname: why" */
    bool label = sec[0] != '\0' || key != NULL;
    return hd_err_set(err, code, "%s%s%s%s%s%s", where, sec, sec[0] && key ? " " : "",
                      key ? key : "", label ? ": " : "", why);
}

/* ---- sorted look-ups --------------------------------------------------- */

/* Every entry struct starts with its name, so one comparison serves all. */
_Static_assert(offsetof(hd_config_domain, name) == 0, "name first");
_Static_assert(offsetof(hd_config_pool, name) == 0, "name first");
_Static_assert(offsetof(hd_config_route, domain) == 0, "domain first");

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int key_vs_name(const void *key, const void *entry)
{
    return strcmp(key, *(char *const *)entry);
}

void hd_config__sort_pools(hd_config *cfg)
{
    if (cfg->n_pools > 1)
        qsort(cfg->pools, cfg->n_pools, sizeof *cfg->pools, by_name);
}

void hd_config__sort(hd_config *cfg)
{
    hd_config__sort_pools(cfg);
    if (cfg->n_domains > 1)
        qsort(cfg->domains, cfg->n_domains, sizeof *cfg->domains, by_name);
    if (cfg->n_routes > 1)
        qsort(cfg->routes, cfg->n_routes, sizeof *cfg->routes, by_name);
}

/* The name as stored: lower case, no trailing dot; false if it cannot be
 * one (too long). */
static bool normalize(const char *name, char out[HD_LIMIT_DNS_NAME + 1])
{
    size_t n = name ? strlen(name) : 0;
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n > HD_LIMIT_DNS_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    out[n] = '\0';
    return true;
}

const hd_config_domain *hd_config_domain_find(const hd_config *cfg, const char *domain)
{
    char key[HD_LIMIT_DNS_NAME + 1];
    if (cfg->n_domains == 0 || !normalize(domain, key))
        return NULL;
    return bsearch(key, cfg->domains, cfg->n_domains, sizeof *cfg->domains, key_vs_name);
}

const hd_config_pool *hd_config_pool_find(const hd_config *cfg, const char *name)
{
    char key[HD_CONFIG_POOL_NAME_MAX + 1];
    if (cfg->n_pools == 0 || name == NULL || strlen(name) > HD_CONFIG_POOL_NAME_MAX)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i <= n; i++)
        key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    return bsearch(key, cfg->pools, cfg->n_pools, sizeof *cfg->pools, key_vs_name);
}

const hd_config_route *hd_config_route_find(const hd_config *cfg, const char *domain)
{
    char key[HD_LIMIT_DNS_NAME + 1];
    if (cfg->n_routes == 0)
        return NULL;
    const hd_config_route *r = NULL;
    if (normalize(domain, key) && key[0] != '\0')
        r = bsearch(key, cfg->routes, cfg->n_routes, sizeof *cfg->routes, key_vs_name);
    if (r == NULL)
        r = bsearch("*", cfg->routes, cfg->n_routes, sizeof *cfg->routes, key_vs_name);
    return r;
}

hd_config_delivery hd_config_delivery_for(const hd_config *cfg, const char *domain)
{
    const hd_config_domain *d = hd_config_domain_find(cfg, domain);
    return d != NULL && d->has_delivery ? d->delivery : cfg->delivery.mode;
}

/* ---- trusted networks -------------------------------------------------- */

static bool prefix_match(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    size_t whole = bits / 8;
    if (memcmp(a, net, whole) != 0)
        return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (net[whole] & mask);
}

bool hd_config_in_networks(char *const *networks, size_t n, const char *ip_literal)
{
    uint8_t addr[16], net[16];
    int family, net_family;
    unsigned bits;
    if (ip_literal == NULL)
        return false;
    /* a bare address parses as a full-length network, which also turns an
     * IPv4-mapped IPv6 address into the IPv4 one */
    if (hd_config__cidr(hd_slice_cstr(ip_literal), &family, addr, &bits) != NULL ||
        strchr(ip_literal, '/') != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (hd_config__cidr(hd_slice_cstr(networks[i]), &net_family, net, &bits) == NULL &&
            net_family == family && prefix_match(addr, net, bits))
            return true;
    }
    return false;
}

bool hd_config_trusted(const hd_config *cfg, const char *ip_literal)
{
    return hd_config_in_networks(cfg->smtp.trusted_networks, cfg->smtp.n_trusted_networks,
                                 ip_literal);
}
