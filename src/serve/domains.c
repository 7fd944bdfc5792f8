/*
 * domains.c - the sending domains the server signs for: a snapshot read
 * from the database (domains, their active DKIM keys) and the config
 * (delivery mode), shared read-only by the main thread and the workers.
 * A reload makes a new snapshot; the old one goes when its last user
 * lets go. Each worker loads keys and keeps DKIM signers of its own
 * (signer contexts are not shared between threads). Keys pending after a
 * rotation are checked in the DNS here too, and activated once their
 * records are published (see below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <herald/domain.h>
#include <herald/json.h>
#include "serve/engine.h"

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
    /* at start and at every reload: are pending keys' records published? */
    if (sv->base && sv->dns)
        domains_check(sv);
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

static void worker_state_free(void *state)
{
    worker_state *ws = state;
    state_clear(ws);
    free(ws);
}

static worker_dom *worker_dom_for(worker *w, const serve_domains *d, const serve_domain *dom,
                                  hd_err *err)
{
    worker_state *ws = worker_slot_get(w, WORKER_SLOT_DOMAINS);
    if (!ws) {
        if (!(ws = calloc(1, sizeof *ws))) {
            hd_err_set(err, HD_ENOMEM, "out of memory");
            return NULL;
        }
        worker_slot_set(w, WORKER_SLOT_DOMAINS, ws, worker_state_free);
    }
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

/* ---- pending keys: their DNS records, checked (issue 13 item 3) ----
 *
 * A rotation's keys are pending until their records are in the DNS. At
 * start, at every reload and every KEYCHECK_INTERVAL_S the main thread
 * asks the configured resolver for the TXT record of each pending key;
 * hd_domain_key_check judges each answer. When every pending key of a
 * domain matches, hd_domain_activate makes them active (the old keys
 * retiring for the grace stored with them) and the snapshot is reloaded,
 * so the new keys sign from the next message on. One round at a time: a
 * reload during a round asks for another round when it ends. What a check
 * found is logged when it changes, not at every round. */

#define KEYCHECK_INTERVAL_S HD_DOMAIN_CHECK_INTERVAL

typedef struct kc_key {
    hd_store_key k;                 /* copy; public_b64 owned */
    hd_domain_dns_check check;
    struct serve_keycheck *kc;      /* the callback's way back */
} kc_key;

/* What was last logged for a key, so a line is written once per change. */
typedef struct kc_seen {
    int64_t id;
    hd_domain_dns_check check;
} kc_seen;

struct serve_keycheck {
    serve *sv;
    struct event *timer;
    kc_key *keys;                   /* this round's pending keys */
    size_t n, outstanding;
    bool again;                     /* a reload came during the round */
    hd_err err;                     /* of the round's reading */
    kc_seen *seen;
    size_t n_seen;
};

static void keycheck_round(serve *sv);

static void round_free(struct serve_keycheck *kc)
{
    for (size_t i = 0; i < kc->n; i++)
        hd_store_key_clear(&kc->keys[i].k);
    free(kc->keys);
    kc->keys = NULL;
    kc->n = 0;
}

static int collect_pending(const hd_store_key *k, void *arg)
{
    struct serve_keycheck *kc = arg;
    if (k->state != HD_STORE_KEY_PENDING)
        return 0;
    kc_key *v = realloc(kc->keys, (kc->n + 1) * sizeof *v);
    if (!v)
        return HD_ENOMEM;
    kc->keys = v;
    kc_key *e = &kc->keys[kc->n];
    memset(e, 0, sizeof *e);
    e->k = *k;
    e->kc = kc;
    if (!(e->k.public_b64 = strdup(k->public_b64)))
        return HD_ENOMEM;
    kc->n++;
    return 0;
}

static int collect_domain(const hd_store_domain *d, void *arg)
{
    struct serve_keycheck *kc = arg;
    return hd_store_key_each(kc->sv->store, d->name, collect_pending, kc, &kc->err);
}

/* Log k's check if it differs from what was logged last for it. */
static void log_change(struct serve_keycheck *kc, const kc_key *e)
{
    kc_seen *s = NULL;
    for (size_t i = 0; i < kc->n_seen && !s; i++)
        if (kc->seen[i].id == e->k.id)
            s = &kc->seen[i];
    if (s && s->check.status == e->check.status && strcmp(s->check.why, e->check.why) == 0)
        return;
    if (!s) {
        kc_seen *v = realloc(kc->seen, (kc->n_seen + 1) * sizeof *v);
        if (!v)
            return;
        kc->seen = v;
        s = &kc->seen[kc->n_seen++];
        s->id = e->k.id;
    }
    s->check = e->check;
    const char *d = e->k.domain, *sel = e->k.selector, *why = e->check.why;
    switch (e->check.status) {
    case HD_DOMAIN_DNS_MATCH:
        LOG_INFO("domain %s: DKIM key %s: its record is published and matches", d, sel);
        break;
    case HD_DOMAIN_DNS_MISSING:
        LOG_INFO("domain %s: DKIM key %s stays pending: %s; it signs once the record printed "
                 "by rotate-key is published", d, sel, why);
        break;
    case HD_DOMAIN_DNS_MISMATCH:
        LOG_WARN("domain %s: DKIM key %s stays pending: %s (herald domain show %s prints the "
                 "record to publish)", d, sel, why, d);
        break;
    case HD_DOMAIN_DNS_UNKNOWN:
    case HD_DOMAIN_DNS_NOT_CHECKED:
        LOG_WARN("domain %s: DKIM key %s stays pending: %s; asked again in %d s", d, sel, why,
                 KEYCHECK_INTERVAL_S);
        break;
    }
}

/* Keep only the remembered checks of keys still pending. */
static void seen_prune(struct serve_keycheck *kc)
{
    size_t m = 0;
    for (size_t i = 0; i < kc->n_seen; i++) {
        bool pending = false;
        for (size_t j = 0; j < kc->n && !pending; j++)
            pending = kc->keys[j].k.id == kc->seen[i].id;
        if (pending)
            kc->seen[m++] = kc->seen[i];
    }
    kc->n_seen = m;
}

/* Activate the domain of keys[first..] when every pending key of it
 * matches; true when it did. Keys of a domain are adjacent (collected
 * domain by domain). */
static bool maybe_activate(struct serve_keycheck *kc, size_t first, size_t end)
{
    hd_store_key *ks = calloc(end - first, sizeof *ks);
    hd_domain_dns_check *cs = calloc(end - first, sizeof *cs);
    bool due = false;
    if (ks && cs) {
        for (size_t i = first; i < end; i++) {
            ks[i - first] = kc->keys[i].k;
            cs[i - first] = kc->keys[i].check;
        }
        due = hd_domain_activation_due(ks, cs, end - first);
    }
    free(ks);
    free(cs);
    if (!due)
        return false;
    const char *domain = kc->keys[first].k.domain;
    int64_t ids[8];
    size_t n_ids = 0;
    for (size_t i = first; i < end && n_ids < sizeof ids / sizeof *ids; i++)
        ids[n_ids++] = kc->keys[i].k.id;
    hd_err err = {0};
    int rc = n_ids == end - first
                 ? hd_domain_activate(kc->sv->store, domain, ids, n_ids, serve_now(), &err)
                 : hd_err_set(&err, HD_ELIMIT, "more than %zu pending keys", n_ids);
    if (rc == HD_ESTATE) {
        /* a rotation came between the question and the answer: its keys
         * are asked for at the reload it brings, or the next check */
        LOG_INFO("domain %s: %s", domain, hd_err_str(&err));
        return false;
    }
    if (rc != 0) {
        LOG_ERR("domain %s: the new DKIM keys could not be activated: %s", domain,
                hd_err_str(&err));
        return false;
    }
    char sels[512] = "";
    for (size_t i = first; i < end; i++) {
        size_t len = strlen(sels);
        snprintf(sels + len, sizeof sels - len, "%s%s", len ? ", " : "", kc->keys[i].k.selector);
    }
    uint32_t grace = 0;
    for (size_t i = first; i < end; i++)
        if (kc->keys[i].k.grace > grace)
            grace = kc->keys[i].k.grace;
    char until[HD_JSON_TIME_LEN];
    hd_json_time((serve_now() + (int64_t)grace) * 1000, until);
    char tail[96];
    if (grace)
        snprintf(tail, sizeof tail, "are retiring, published until %s", until);
    else
        snprintf(tail, sizeof tail, "are retired");
    LOG_INFO("domain %s: DKIM key%s %s published and matching: signing with %s from now on; "
             "the previous keys %s",
             domain, end - first == 1 ? "" : "s", sels, end - first == 1 ? "it" : "them", tail);
    return true;
}

static void round_end(struct serve_keycheck *kc)
{
    serve *sv = kc->sv;
    bool activated = false;
    for (size_t first = 0, end; first < kc->n; first = end) {
        for (end = first + 1; end < kc->n; end++)
            if (strcmp(kc->keys[end].k.domain, kc->keys[first].k.domain) != 0)
                break;
        activated |= maybe_activate(kc, first, end);
    }
    round_free(kc);
    if (activated) {
        /* the new snapshot: the new keys sign; its load asks again for
         * the keys still pending elsewhere */
        hd_err err = {0};
        if (domains_load(sv, &err) != 0)
            LOG_ERR("reload after a key activation: %s", hd_err_str(&err));
        return;
    }
    if (kc->again) {
        kc->again = false;
        keycheck_round(sv);
    }
}

static void on_key_answer(void *arg, hd_dns_answer *ans)
{
    kc_key *e = arg;
    struct serve_keycheck *kc = e->kc;
    hd_domain_key_check(&e->k, ans, &e->check);
    hd_dns_answer_free(ans);
    log_change(kc, e);
    if (--kc->outstanding == 0)
        round_end(kc);
}

static void keycheck_round(serve *sv)
{
    struct serve_keycheck *kc = sv->keycheck;
    if (sv->stopping)
        return;
    if (kc->outstanding > 0) {
        kc->again = true;
        return;
    }
    round_free(kc);
    kc->again = false;      /* this round answers the reloads so far */
    hd_err_clear(&kc->err);
    int rc = hd_store_domain_each(sv->store, collect_domain, kc, &kc->err);
    if (rc) {
        LOG_ERR("checking pending DKIM keys: %s", rc == HD_ENOMEM ? "out of memory"
                                                                  : hd_err_str(&kc->err));
        round_free(kc);
        return;
    }
    seen_prune(kc);
    /* counted before any question goes out: no answer comes before the
     * loop runs again, but the count must be whole when it does */
    kc->outstanding = kc->n;
    size_t asked = 0;
    hd_err qerr = {0};
    for (; asked < kc->n; asked++) {
        char name[300];
        if (hd_domain_key_record_name(&kc->keys[asked].k, name, sizeof name, &qerr) != 0 ||
            serve_dns_ask(sv, name, HD_DNS_T_TXT, on_key_answer, &kc->keys[asked], &qerr) != 0)
            break;
    }
    if (asked < kc->n) {
        for (size_t i = asked; i < kc->n; i++) {
            kc->keys[i].check.status = HD_DOMAIN_DNS_UNKNOWN;
            snprintf(kc->keys[i].check.why, sizeof kc->keys[i].check.why,
                     "cannot ask the DNS: %s", hd_err_str(&qerr));
            log_change(kc, &kc->keys[i]);
        }
        kc->outstanding -= kc->n - asked;
        if (kc->outstanding == 0) {
            round_end(kc);
            return;
        }
    }
    if (kc->n > 0)
        LOG_DEBUG("checking the DNS records of %zu pending DKIM key%s", kc->n,
                  kc->n == 1 ? "" : "s");
}

static void on_keycheck_timer(evutil_socket_t fd, short what, void *arg)
{
    serve *sv = arg;
    hd_err err = {0};
    int n = hd_domain_retire_due(sv->store, serve_now(), &err);
    if (n > 0)
        LOG_INFO("%d retiring DKIM key%s now retired (may leave DNS)", n, n == 1 ? "" : "s");
    else if (n < 0)
        LOG_ERR("retiring DKIM keys: %s", hd_err_str(&err));
    keycheck_round(sv);
}

void domains_check(serve *sv)
{
    if (!sv->keycheck) {
        struct serve_keycheck *kc = calloc(1, sizeof *kc);
        if (!kc) {
            LOG_ERR("checking pending DKIM keys: out of memory");
            return;
        }
        kc->sv = sv;
        kc->timer = event_new(sv->base, -1, EV_PERSIST, on_keycheck_timer, sv);
        if (!kc->timer) {
            free(kc);
            LOG_ERR("checking pending DKIM keys: out of memory");
            return;
        }
        struct timeval tv = {KEYCHECK_INTERVAL_S, 0};
        event_add(kc->timer, &tv);
        sv->keycheck = kc;
    }
    keycheck_round(sv);
}

void domains_check_stop(serve *sv)
{
    struct serve_keycheck *kc = sv->keycheck;
    if (!kc)
        return;
    /* questions still out are cancelled with the resolver, their
     * callbacks never run */
    event_free(kc->timer);
    round_free(kc);
    free(kc->seen);
    free(kc);
    sv->keycheck = NULL;
}
