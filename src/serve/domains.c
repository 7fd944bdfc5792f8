/*
 * domains.c - the sending domains the server signs for: a snapshot read
 * from the database (domains, their active DKIM keys) and the config
 * (delivery mode), shared read-only by the main thread and the workers.
 * A reload makes a new snapshot; the old one goes when its last user
 * lets go. Each worker loads keys and keeps DKIM signers of its own
 * (signer contexts are not shared between threads).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/domain.h"
#include "serve.h"

typedef struct load_ctx {
    serve *sv;
    serve_domains *d;
    hd_err *err;
    int rc;
} load_ctx;

static int add_key(const hd_store_key *k, void *arg)
{
    serve_domain *dom = arg;
    if (k->state != HD_STORE_KEY_ACTIVE || dom->n_keys >= sizeof dom->keys / sizeof *dom->keys)
        return 0;
    serve_key *sk = &dom->keys[dom->n_keys++];
    snprintf(sk->selector, sizeof sk->selector, "%s", k->selector);
    snprintf(sk->alg, sizeof sk->alg, "%s", k->alg);
    snprintf(sk->path, sizeof sk->path, "%s", k->path);
    return 0;
}

/* The zone a receiver of this domain's mail would see once the records
 * `herald domain add` printed are published, plus the server's own name
 * pointing at the address sandbox verdicts assume it sends from. */
static char *sandbox_zone(serve *sv, const char *domain)
{
    /* the records need a full host name for the bounce MX and SPF; a
     * server still called "localhost" stands in as mail.<domain> */
    char host[300];
    if (strchr(sv->cfg->hostname, '.'))
        snprintf(host, sizeof host, "%s", sv->cfg->hostname);
    else
        snprintf(host, sizeof host, "mail.%s", domain);
    hd_domain_dns_opts o = {.hostname = host};
    hd_domain_record *recs = NULL;
    size_t n = 0;
    hd_err err = {0};
    if (hd_domain_records(sv->store, domain, &o, &recs, &n, &err) != 0) {
        LOG_WARN("domain %s: no DNS records for sandbox verdicts: %s", domain, hd_err_str(&err));
        return NULL;
    }
    hd_buf z;
    hd_buf_init(&z, 1u << 20);
    hd_domain_records_zone(recs, n, &z);
    hd_buf_printf(&z, "%s. IN A 127.0.0.1\n", host);
    hd_domain_records_free(recs, n);
    size_t len;
    return (char *)hd_buf_steal(&z, &len);
}

static int add_domain(const hd_store_domain *sd, void *arg)
{
    load_ctx *lc = arg;
    serve_domains *d = lc->d;
    serve_domain *v = realloc(d->v, (d->n + 1) * sizeof *v);
    if (!v) {
        lc->rc = hd_err_set(lc->err, HD_ENOMEM, "out of memory");
        return 1;
    }
    d->v = v;
    serve_domain *dom = &d->v[d->n++];
    memset(dom, 0, sizeof *dom);
    snprintf(dom->name, sizeof dom->name, "%s", sd->name);
    snprintf(dom->bounce_domain, sizeof dom->bounce_domain, "%s", sd->bounce_domain);
    dom->delivery = hd_config_delivery_for(lc->sv->cfg, sd->name);
    dom->canon = lc->sv->cfg->dkim_canon;
    return 0;
}

int domains_load(serve *sv, hd_err *err)
{
    serve_domains *d = calloc(1, sizeof *d);
    if (!d)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    atomic_init(&d->refs, 1);
    d->generation = ++sv->domains_generation;
    load_ctx lc = {sv, d, err, 0};
    int rc = hd_store_domain_each(sv->store, add_domain, &lc, err);
    if (!rc)
        rc = lc.rc;
    for (size_t i = 0; !rc && i < d->n; i++) {
        rc = hd_store_key_each(sv->store, d->v[i].name, add_key, &d->v[i], err);
        if (!rc && d->v[i].delivery == HD_DELIVERY_SANDBOX)
            d->v[i].zone = sandbox_zone(sv, d->v[i].name);
        if (!rc && d->v[i].n_keys == 0)
            LOG_WARN("domain %s has no active DKIM key: its mail goes out unsigned", d->v[i].name);
    }
    if (rc) {
        domains_put(d);
        return rc;
    }
    if (sv->domains)
        domains_put(sv->domains);
    sv->domains = d;
    LOG_INFO("%zu sending domain%s loaded", d->n, d->n == 1 ? "" : "s");
    return 0;
}

serve_domains *domains_get(serve *sv)
{
    atomic_fetch_add(&sv->domains->refs, 1);
    return sv->domains;
}

void domains_put(serve_domains *d)
{
    if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].zone);
    free(d->v);
    free(d);
}

const serve_domain *domains_find(const serve_domains *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, name) == 0)
            return &d->v[i];
    return NULL;
}

/* ---- per worker ---- */

typedef struct worker_dom {
    char name[256];
    hd_key *keys[4];
    hd_dkim_signer *signers[4];
    size_t n;
    hd_dns *zone;
} worker_dom;

typedef struct worker_state {
    unsigned generation;
    worker_dom *v;
    size_t n;
} worker_state;

static void state_clear(worker_state *ws)
{
    for (size_t i = 0; i < ws->n; i++) {
        for (size_t k = 0; k < ws->v[i].n; k++) {
            hd_dkim_signer_free(ws->v[i].signers[k]);
            hd_key_free(ws->v[i].keys[k]);
        }
        hd_dns_free(ws->v[i].zone);
    }
    free(ws->v);
    ws->v = NULL;
    ws->n = 0;
}

void worker_domains_free(worker *w)
{
    worker_state *ws = *worker_domains_slot(w);
    if (ws) {
        state_clear(ws);
        free(ws);
    }
}

static worker_dom *worker_dom_for(worker *w, const serve_domains *d, const serve_domain *dom,
                                  hd_err *err)
{
    worker_state **slot = (worker_state **)worker_domains_slot(w);
    if (!*slot && !(*slot = calloc(1, sizeof **slot))) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    worker_state *ws = *slot;
    if (ws->generation != d->generation) {
        state_clear(ws);
        ws->generation = d->generation;
    }
    for (size_t i = 0; i < ws->n; i++)
        if (strcmp(ws->v[i].name, dom->name) == 0)
            return &ws->v[i];
    worker_dom *v = realloc(ws->v, (ws->n + 1) * sizeof *v);
    if (!v) {
        hd_err_set(err, HD_ENOMEM, "out of memory");
        return NULL;
    }
    ws->v = v;
    worker_dom *wd = &ws->v[ws->n];
    memset(wd, 0, sizeof *wd);
    snprintf(wd->name, sizeof wd->name, "%s", dom->name);
    for (size_t k = 0; k < dom->n_keys; k++) {
        hd_dkim_sign_opts o;
        hd_dkim_sign_opts_init(&o);
        o.domain = dom->name;
        o.selector = dom->keys[k].selector;
        o.header_canon = dom->canon == HD_CONFIG_CANON_SIMPLE_SIMPLE ||
                                 dom->canon == HD_CONFIG_CANON_SIMPLE_RELAXED
                             ? HD_DKIM_SIMPLE : HD_DKIM_RELAXED;
        o.body_canon = dom->canon == HD_CONFIG_CANON_SIMPLE_SIMPLE ||
                               dom->canon == HD_CONFIG_CANON_RELAXED_SIMPLE
                           ? HD_DKIM_SIMPLE : HD_DKIM_RELAXED;
        int rc = hd_key_load_private(dom->keys[k].path, &wd->keys[wd->n], err);
        if (!rc)
            rc = hd_dkim_signer_new(&o, wd->keys[wd->n], &wd->signers[wd->n], err);
        if (rc) {
            hd_key_free(wd->keys[wd->n]);
            for (size_t j = 0; j < wd->n; j++) {
                hd_dkim_signer_free(wd->signers[j]);
                hd_key_free(wd->keys[j]);
            }
            hd_err_prefix(err, "domain %s key %s: ", dom->name, dom->keys[k].selector);
            return NULL;
        }
        wd->n++;
    }
    ws->n++;
    return wd;
}

int worker_sign(worker *w, const serve_domains *d, const serve_domain *dom, hd_slice msg,
                hd_buf *out, hd_err *err)
{
    worker_dom *wd = worker_dom_for(w, d, dom, err);
    if (!wd)
        return err->code ? err->code : HD_EIO;
    /* RSA first, then Ed25519: receivers without Ed25519 support see the
     * RSA signature; both cover the same message (RFC 8463 §6) */
    return hd_dkim_sign_all(wd->signers, wd->n, msg, out, err);
}

hd_dns *worker_zone(worker *w, const serve_domains *d, const serve_domain *dom, hd_err *err)
{
    worker_dom *wd = worker_dom_for(w, d, dom, err);
    if (!wd)
        return NULL;
    if (!wd->zone && dom->zone &&
        hd_dns_new_zone_text(&wd->zone, hd_slice_cstr(dom->zone), dom->name, err) != 0)
        return NULL;
    if (!wd->zone && !err->code)
        hd_err_set(err, HD_ENOTFOUND, "domain %s: no DNS records known", dom->name);
    return wd->zone;
}
