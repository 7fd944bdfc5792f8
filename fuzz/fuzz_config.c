/*
 * fuzz_config.c - the configuration file parser, over arbitrary bytes.
 *
 * A parse either fails with a message that names the input and *out left
 * NULL, or gives a config whose invariants hold: every name is found by
 * its own look-up, pools pair their ehlo names with their addresses,
 * routes have a next hop, every pool named exists, and the look-ups and
 * trusted() take any of the config's own strings.
 */
#include <herald/config.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void need(bool ok)
{
    if (!ok)
        abort();
}

static void check_endpoint(const hd_config_endpoint *e)
{
    need(e->host != NULL && e->host[0] != '\0' && e->port != 0);
}

static void check(const hd_config *c)
{
    need(c->hostname != NULL && c->data_dir != NULL && c->log_level != NULL);
    need(c->smtp.n_listen >= 1);
    for (size_t i = 0; i < c->smtp.n_listen; i++)
        check_endpoint(&c->smtp.listen[i]);
    check_endpoint(&c->status.listen);
    need((c->smtp.tls_cert == NULL) == (c->smtp.tls_key == NULL));
    need(c->queue.retry_min <= c->queue.retry_max);
    need(c->delivery.default_pool == NULL ||
         hd_config_pool_find(c, c->delivery.default_pool) != NULL);
    for (size_t i = 0; i < c->smtp.n_trusted_networks; i++)
        hd_config_trusted(c, c->smtp.trusted_networks[i]);
    for (size_t i = 0; i < c->n_domains; i++) {
        const hd_config_domain *d = &c->domains[i];
        need(hd_config_domain_find(c, d->name) == d);
        need(d->pool == NULL || hd_config_pool_find(c, d->pool) != NULL);
        need(hd_config_delivery_for(c, d->name) ==
             (d->has_delivery ? d->delivery : c->delivery.mode));
        need(i == 0 || strcmp(c->domains[i - 1].name, d->name) < 0);
    }
    for (size_t i = 0; i < c->n_pools; i++) {
        const hd_config_pool *p = &c->pools[i];
        need(hd_config_pool_find(c, p->name) == p);
        need(p->n_addresses >= 1 && (p->ehlo == NULL || p->n_ehlo == p->n_addresses));
        for (size_t k = 0; k < p->n_addresses; k++)
            hd_config_trusted(c, p->addresses[k]);
    }
    for (size_t i = 0; i < c->n_routes; i++) {
        const hd_config_route *r = &c->routes[i];
        need(hd_config_route_find(c, r->domain) == r);
        check_endpoint(&r->next_hop);
        hd_config_trusted(c, r->next_hop.host);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_config *c = (hd_config *)&size; /* must be reset */
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_config_parse("fuzz.conf", (const char *)data, size, &c, &err);
    if (rc != 0) {
        need(c == NULL && strncmp(err.msg, "fuzz.conf:", 10) == 0);
        return 0;
    }
    check(c);
    hd_config_free(c);
    return 0;
}
