/*
 * check.c - what `herald serve --check` checks, and `herald serve` before it
 * opens anything for writing: every file the configuration names opens
 * and parses (the TLS certificate and its key load and match, the DNS zone
 * file, the bounce rules, webhook CA files), the data directory is a
 * directory, the listen and pool addresses are this machine's, and each
 * [domain NAME] names a sending domain of the data directory, and the
 * session and connection caps fit under the hard limit of open files. A failure says where the configuration named it
 * ("FILE:LINE: [smtp] tls_cert: ..."), so the operator knows which line
 * to fix. Nothing is created or changed: a data directory that does not
 * exist yet holds no sending domain.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "serve/engine.h"
#include "serve/serve.h"

#define RULES_MAX (1024u * 1024)   /* bytes of a rule file */

/* The last OpenSSL error, in words. */
static const char *ssl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, n, "unusable");
    else
        ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

/* Whether path opens for reading; else err says where it was named. */
static int readable(const hd_config *cfg, const char *section, const char *name, const char *key,
                    const char *path, hd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        fclose(f);
        return 0;
    }
    return hd_config_error(cfg, err, HD_EIO, section, name, key, "%s: %s", path, strerror(errno));
}

/* [smtp] tls_cert and tls_key: they load, and the key is the certificate's. */
static int check_tls(const hd_config *cfg, hd_err *err)
{
    const char *cert = cfg->smtp.tls_cert, *key = cfg->smtp.tls_key ? cfg->smtp.tls_key : cert;
    if (cert == NULL)
        return 0;   /* a self-signed one is made in data_dir */
    int rc;
    if ((rc = readable(cfg, "smtp", NULL, "tls_cert", cert, err)) ||
        (rc = readable(cfg, "smtp", NULL, "tls_key", key, err)))
        return rc;
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return hd_err_set(err, HD_ECRYPTO, "TLS server context: %s", ssl_reason(why, sizeof why));
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        rc = hd_config_error(cfg, err, HD_ECRYPTO, "smtp", NULL, "tls_cert",
                             "%s: not a PEM certificate (chain): %s", cert,
                             ssl_reason(why, sizeof why));
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 &&
             ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        rc = hd_config_error(cfg, err, HD_ECRYPTO, "smtp", NULL, "tls_key",
                             "%s: not a PEM private key: %s", key, ssl_reason(why, sizeof why));
    else if (ERR_peek_last_error() != 0 || SSL_CTX_check_private_key(ctx) != 1)
        rc = hd_config_error(cfg, err, HD_ECRYPTO, "smtp", NULL, "tls_key",
                             "%s is not the key of the certificate %s", key, cert);
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return rc;
}

/* [dns] zone_file: read and parsed as the server will. */
static int check_zone(const hd_config *cfg, hd_err *err)
{
    if (cfg->dns.zone_file == NULL)
        return 0;
    int rc = readable(cfg, "dns", NULL, "zone_file", cfg->dns.zone_file, err);
    if (rc)
        return rc;
    hd_dns *dns = NULL;
    hd_err why = {0};
    rc = hd_dns_new_zone_file(&dns, cfg->dns.zone_file, &why);
    hd_dns_free(dns);
    if (rc)
        return hd_config_error(cfg, err, rc, "dns", NULL, "zone_file", "%s", hd_err_str(&why));
    return 0;
}

int serve_load_bounce_rules(const hd_config *cfg, hd_report_rules **out, hd_err *err)
{
    *out = NULL;
    const char *path = cfg->inbound.bounce_rules;
    hd_slice text = hd_slice_make(serve_bounce_rules, serve_bounce_rules_len);
    hd_buf file;
    hd_buf_init(&file, RULES_MAX);
    if (path != NULL) {
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            return hd_config_error(cfg, err, HD_EIO, "inbound", NULL, "bounce_rules", "%s: %s",
                                   path, strerror(errno));
        uint8_t chunk[4096];
        size_t n;
        int rc = 0;
        while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
            rc = hd_buf_append(&file, chunk, n);
        fclose(f);
        if (rc) {
            hd_buf_free(&file);
            return hd_config_error(cfg, err, HD_ELIMIT, "inbound", NULL, "bounce_rules",
                                   "%s: larger than %u bytes", path, RULES_MAX);
        }
        text = hd_buf_slice(&file);
    }
    hd_err why = {0};
    int rc = hd_report_rules_parse(text, out, &why);
    hd_buf_free(&file);
    if (rc)
        return path ? hd_config_error(cfg, err, rc, "inbound", NULL, "bounce_rules", "%s: %s",
                                      path, hd_err_str(&why))
                    : hd_err_set(err, rc, "built-in bounce rules: %s", hd_err_str(&why));
    return 0;
}

/* [inbound] bounce_rules: read and parsed as the server will. */
static int check_rules(const hd_config *cfg, hd_err *err)
{
    hd_report_rules *rules = NULL;
    int rc = serve_load_bounce_rules(cfg, &rules, err);
    hd_report_rules_free(rules);
    return rc;
}

int serve_hard_reasons(const hd_config *cfg, hd_bounce_reasons *out, hd_err *err)
{
    *out = 0;
    for (size_t i = 0; i < cfg->inbound.n_hard_reasons; i++) {
        const char *name = cfg->inbound.hard_reasons[i];
        hd_bounce_reason r;
        if (hd_bounce_reason_from_name(hd_slice_cstr(name), &r) != 0)
            return hd_config_error(cfg, err, HD_EINVAL, "inbound", NULL, "hard_reasons",
                                   "\"%s\" is not a bounce reason (docs/bounces.md lists "
                                   "them: blocked, policyviolation, spamdetected, ...)",
                                   name);
        /* not failures, or none whose reason is known: nothing to
         * suppress an address for */
        if (r == HD_REASON_DELIVERED || r == HD_REASON_VACATION || r == HD_REASON_ONHOLD ||
            r == HD_REASON_UNDEFINED)
            return hd_config_error(cfg, err, HD_EINVAL, "inbound", NULL, "hard_reasons",
                                   "\"%s\" is not a failure with a known reason", name);
        *out |= HD_BOUNCE_REASON_BIT(r);
    }
    return 0;
}

static int check_hard_reasons(const hd_config *cfg, hd_err *err)
{
    hd_bounce_reasons ignored;
    return serve_hard_reasons(cfg, &ignored, err);
}

/* [webhook NAME] ca_file: the certificates load. */
static int check_webhook_cas(const hd_config *cfg, hd_err *err)
{
    for (size_t i = 0; i < cfg->n_webhooks; i++) {
        const hd_config_webhook *w = &cfg->webhooks[i];
        if (w->ca_file == NULL)
            continue;
        int rc = readable(cfg, "webhook", w->name, "ca_file", w->ca_file, err);
        if (rc)
            return rc;
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        char why[256];
        ERR_clear_error();
        if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, w->ca_file, NULL) != 1)
            rc = hd_config_error(cfg, err, HD_ECRYPTO, "webhook", w->name, "ca_file",
                                 "%s: no PEM certificates: %s", w->ca_file,
                                 ssl_reason(why, sizeof why));
        SSL_CTX_free(ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int data_dir_ok(const hd_config *cfg, bool *exists, hd_err *err)
{
    struct stat st;
    *exists = stat(cfg->data_dir, &st) == 0;
    if (!*exists && errno != ENOENT)
        return hd_config_error(cfg, err, HD_EIO, NULL, NULL, "data_dir", "%s: %s", cfg->data_dir,
                               strerror(errno));
    if (*exists && !S_ISDIR(st.st_mode))
        return hd_config_error(cfg, err, HD_EINVAL, NULL, NULL, "data_dir",
                               "%s: not a directory", cfg->data_dir);
    return 0;
}

/* ---- addresses ---- */

/* Whether host is an address of this machine: each of its addresses binds
 * with port 0 (so a port in use, or one below 1024 for a user, is no
 * matter here: that is the start's business). NULL or the reason. */
static const char *local_address(const char *host, char *why, size_t n)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, "0", &hints, &res);
    if (g != 0) {
        snprintf(why, n, "%s: %s", host, gai_strerror(g));
        return why;
    }
    const char *bad = NULL;
    for (struct addrinfo *a = res; a != NULL && bad == NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;   /* no IPv6 on this machine: the start says so */
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRNOTAVAIL) {
            snprintf(why, n, "%s is not an address of this machine", host);
            bad = why;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return bad;
}

static int check_endpoints(const hd_config *cfg, const char *section, const hd_config_endpoint *v,
                           size_t n, hd_err *err)
{
    char why[HD_ERR_MSG_MAX];
    for (size_t i = 0; i < n; i++)
        if (v[i].port != 0 && local_address(v[i].host, why, sizeof why) != NULL)
            return hd_config_error(cfg, err, HD_EINVAL, section, NULL, "listen", "%s", why);
    return 0;
}

/* Where the server listens and the pools' source addresses: a typo or an
 * address the machine does not have is the configuration's mistake. */
static int check_addresses(const hd_config *cfg, hd_err *err)
{
    int rc;
    if ((rc = check_endpoints(cfg, "smtp", cfg->smtp.listen, cfg->smtp.n_listen, err)) ||
        (rc = check_endpoints(cfg, "status", &cfg->status.listen, 1, err)) ||
        (rc = check_endpoints(cfg, "api", &cfg->api.listen, 1, err)))
        return rc;
    if (!cfg->inbound.listen_default &&
        (rc = check_endpoints(cfg, "inbound", cfg->inbound.listen, cfg->inbound.n_listen, err)))
        return rc;
    char why[HD_ERR_MSG_MAX];
    for (size_t i = 0; i < cfg->n_pools; i++)
        for (size_t j = 0; j < cfg->pools[i].n_addresses; j++)
            if (local_address(cfg->pools[i].addresses[j], why, sizeof why) != NULL)
                return hd_config_error(cfg, err, HD_EINVAL, "pool", cfg->pools[i].name,
                                       "addresses", "%s", why);
    return 0;
}

/* ---- sending domains ---- */

typedef struct domain_names {
    char **v;
    size_t n, cap;
    bool nomem;
} domain_names;

static int collect(const hd_store_domain *d, void *arg)
{
    domain_names *dn = arg;
    if (dn->n == dn->cap) {
        size_t cap = dn->cap ? dn->cap * 2 : 16;
        char **v = realloc(dn->v, cap * sizeof *v);
        if (v == NULL) {
            dn->nomem = true;
            return 1;
        }
        dn->v = v;
        dn->cap = cap;
    }
    if ((dn->v[dn->n] = strdup(d->name)) == NULL) {
        dn->nomem = true;
        return 1;
    }
    dn->n++;
    return 0;
}

static void names_free(domain_names *dn)
{
    for (size_t i = 0; i < dn->n; i++)
        free(dn->v[i]);
    free(dn->v);
}

static bool names_have(const domain_names *dn, const char *name)
{
    for (size_t i = 0; i < dn->n; i++)
        if (strcmp(dn->v[i], name) == 0)
            return true;
    return false;
}

/* The sending domains of data_dir: none when it has no database yet.
 * Read only: --check changes nothing (and may be run by a user who may
 * only read). HD_ESTATE when an older herald made the database. */
static int sending_domains(const hd_config *cfg, bool dir_exists, domain_names *dn, hd_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", cfg->data_dir);
    if (!dir_exists || access(path, F_OK) != 0)
        return 0;
    hd_store *st = NULL;
    int rc = hd_store_open_readonly(path, &st, err);
    if (rc == 0)
        rc = hd_store_domain_each(st, collect, dn, err);
    hd_store_close(st);
    if (rc == 0 && dn->nomem)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    return rc;
}

static bool real_delivery_somewhere(const hd_config *cfg)
{
    if (cfg->delivery.mode == HD_DELIVERY_REAL)
        return true;
    for (size_t i = 0; i < cfg->n_domains; i++)
        if (cfg->domains[i].has_delivery && cfg->domains[i].delivery == HD_DELIVERY_REAL)
            return true;
    return false;
}

/* [domain NAME] for a domain that is not a sending domain is a mistake
 * (a typo in the cut-over to real delivery would keep real mail in the
 * sandbox). Real delivery with no sending domain, or with a hostname
 * that is not a fully qualified name (receivers judge the EHLO name and
 * the certificate by it), is allowed but said loudly. */
static int check_domains(const hd_config *cfg, bool dir_exists, serve_warn_fn warn, void *arg,
                         bool *config_fault, hd_err *err)
{
    domain_names dn = {0};
    int rc = sending_domains(cfg, dir_exists, &dn, err);
    if (rc == HD_ESTATE) {
        /* the server brings it up to date when it starts; until then its
         * domains cannot be read by this herald */
        if (warn != NULL) {
            char text[HD_ERR_MSG_MAX + 96];
            snprintf(text, sizeof text, "%s; the [domain] sections are not checked against it",
                     hd_err_str(err));
            warn(arg, text);
        }
        hd_err_clear(err);
        names_free(&dn);
        return 0;
    }
    if (rc) {
        names_free(&dn);
        *config_fault = false;   /* the database's, not the file's */
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_domains; i++)
        if (!names_have(&dn, cfg->domains[i].name))
            rc = hd_config_error(cfg, err, HD_EINVAL, "domain", cfg->domains[i].name, NULL,
                                 "no such sending domain in %s (herald domain list; herald "
                                 "domain add %s)",
                                 cfg->data_dir, cfg->domains[i].name);
    if (rc == 0 && real_delivery_somewhere(cfg) && warn != NULL) {
        char text[HD_ERR_MSG_MAX + 64];
        if (strchr(cfg->hostname, '.') == NULL) {
            hd_err where = {0};
            hd_config_error(cfg, &where, 0, NULL, NULL, "hostname",
                            "\"%s\" is not a fully qualified name, but mail is delivered for "
                            "real: receivers see it in EHLO and may refuse or junk the mail; "
                            "set hostname = the server's public name",
                            cfg->hostname);
            snprintf(text, sizeof text, "%s", where.msg);
            warn(arg, text);
        }
        if (dn.n == 0) {
            snprintf(text, sizeof text,
                     "%s has no sending domain, but delivery is real: every message will be "
                     "refused (herald domain add DOMAIN --data-dir %s)",
                     cfg->data_dir, cfg->data_dir);
            warn(arg, text);
        }
    }
    names_free(&dn);
    return rc;
}

int serve_check_config(const hd_config *cfg, serve_warn_fn warn, void *arg, bool *config_fault,
                       hd_err *err)
{
    bool dir_exists = false;
    *config_fault = true;
    int rc;
    if ((rc = data_dir_ok(cfg, &dir_exists, err)) || (rc = check_tls(cfg, err)) ||
        (rc = check_zone(cfg, err)) || (rc = check_rules(cfg, err)) ||
        (rc = check_hard_reasons(cfg, err)) ||
        (rc = check_webhook_cas(cfg, err)) || (rc = check_addresses(cfg, err)) ||
        (rc = serve_fd_check(cfg, err)) ||
        (rc = check_domains(cfg, dir_exists, warn, arg, config_fault, err)))
        return rc;
    return 0;
}
