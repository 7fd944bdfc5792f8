/*
 * domain.c - sending domains and their DKIM keys: adding (keys generated,
 * written 0600, rows inserted), rotating, retiring, removing, and the
 * active keys for the signer.
 *
 * Order of work, so a failure leaves nothing half-made: files first, then
 * one transaction for the rows; if the transaction fails, the files just
 * written are unlinked (or the files just moved are moved back).
 */
#include "domain/domain_int.h"

#include <herald/base64.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A generated key's file and row, before the row is inserted. */
typedef struct new_key {
    hd_store_key row;
    bool written;
} new_key;

/* Helpers ---------------------------------------------------------------- */

static int mkdir_private(const char *path, hd_err *err)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return hd_err_set(err, HD_EIO, "%s: cannot create directory: %s", path, strerror(errno));
}

/* out = "a/b" + ext, or HD_ELIMIT when it does not fit. */
static int join(char *out, size_t size, hd_err *err, const char *a, const char *b,
                const char *ext)
{
    int n = snprintf(out, size, "%s/%s%s", a, b, ext);
    if (n < 0 || (size_t)n >= size)
        return hd_err_set(err, HD_ELIMIT, "path %s/%s%s: longer than %zu bytes", a, b, ext,
                          size - 1);
    return 0;
}

int hd_domain_lookup(hd_store *st, const char *domain, char *name, hd_store_domain *row,
                     hd_err *err)
{
    int rc = hd_domain_name_normalize(domain, name, HD_STORE_NAME_MAX, err);
    if (rc == 0)
        rc = hd_store_domain_get(st, name, row, err);
    return rc;
}

static int keys_collect(const hd_store_key *k, void *arg)
{
    hd_domain_keys *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        hd_store_key *p = realloc(l->k, cap * sizeof *p);
        if (p == NULL)
            return HD_ENOMEM;
        l->k = p;
        l->cap = cap;
    }
    l->k[l->n] = *k;
    l->k[l->n].public_b64 = strdup(k->public_b64);
    if (l->k[l->n].public_b64 == NULL)
        return HD_ENOMEM;
    l->n++;
    return 0;
}

int hd_domain_keys_load(hd_store *st, const char *domain, hd_domain_keys *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = hd_store_key_each(st, domain, keys_collect, out, err);
    if (rc == HD_ENOMEM)
        hd_err_set(err, rc, "out of memory");
    if (rc != 0)
        hd_domain_keys_free(out);
    return rc;
}

void hd_domain_keys_free(hd_domain_keys *l)
{
    for (size_t i = 0; i < l->n; i++)
        hd_store_key_clear(&l->k[i]);
    free(l->k);
    memset(l, 0, sizeof *l);
}

static bool selector_taken(const hd_domain_keys *l, const char *sel)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->k[i].selector, sel) == 0)
            return true;
    return false;
}

static const char *alg_suffix(unsigned alg)
{
    return alg == HD_DOMAIN_ALG_RSA ? "rsa" : "ed";
}

/* The selector prefix: the given one checked, or "hd" + the UTC date of
 * now with a letter added while the date's selectors are taken. */
static int choose_prefix(const char *given, const hd_domain_keys *have, int64_t now,
                         char prefix[HD_DOMAIN_PREFIX_MAX + 1], hd_err *err)
{
    char buf[HD_STORE_NAME_MAX];
    char rsa[80], ed[80];
    if (given != NULL) {
        int rc = hd_domain_check_name(given, 1, "selector", buf, sizeof buf, err);
        if (rc)
            return rc;
        if (strlen(buf) > HD_DOMAIN_PREFIX_MAX)
            return hd_err_set(err, HD_EINVAL, "selector \"%s\": longer than %d bytes", buf,
                              HD_DOMAIN_PREFIX_MAX);
        snprintf(rsa, sizeof rsa, "%s-rsa", buf);
        snprintf(ed, sizeof ed, "%s-ed", buf);
        if (selector_taken(have, rsa) || selector_taken(have, ed))
            return hd_err_set(err, HD_EINVAL, "selector prefix %s is already used by this domain",
                              buf);
        memcpy(prefix, buf, strlen(buf) + 1);
        return 0;
    }
    time_t t = (time_t)now;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999)
        return hd_err_set(err, HD_EINVAL, "time %lld is out of range", (long long)now);
    for (char c = 'a'; c <= 'z'; c++) {
        snprintf(prefix, HD_DOMAIN_PREFIX_MAX + 1, "hd%04d%02d%02d%c", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, c);
        if (c == 'a')
            prefix[10] = '\0'; /* the first of the day has no letter */
        snprintf(rsa, sizeof rsa, "%s-rsa", prefix);
        snprintf(ed, sizeof ed, "%s-ed", prefix);
        if (!selector_taken(have, rsa) && !selector_taken(have, ed))
            return 0;
    }
    return hd_err_set(err, HD_ELIMIT, "every date-based selector of today is taken; give one");
}

/* Generate one key, write it to keys_dir/<domain>/<selector>.pem, fill
 * the row (state active). */
static int make_key(const char *keys_dir, const char *domain, const char *prefix, unsigned alg,
                    unsigned bits, int64_t now, new_key *nk, hd_err *err)
{
    memset(nk, 0, sizeof *nk);
    hd_store_key *r = &nk->row;
    snprintf(r->domain, sizeof r->domain, "%s", domain);
    snprintf(r->selector, sizeof r->selector, "%s-%s", prefix, alg_suffix(alg));
    snprintf(r->alg, sizeof r->alg, "%s", alg == HD_DOMAIN_ALG_RSA ? "rsa" : "ed25519");
    r->state = HD_STORE_KEY_ACTIVE;
    r->created = now;
    if (strlen(r->selector) + strlen("._domainkey.") + strlen(domain) > 253)
        return hd_err_set(err, HD_EINVAL, "%s._domainkey.%s: longer than a DNS name may be",
                          r->selector, domain);
    char dir[HD_STORE_PATH_MAX];
    int rc = join(dir, sizeof dir, err, keys_dir, domain, "");
    if (rc == 0)
        rc = join(r->path, sizeof r->path, err, dir, r->selector, ".pem");
    if (rc)
        return rc;
    hd_key *key = NULL;
    hd_buf pub, b64;
    hd_buf_init(&pub, 4096);
    hd_buf_init(&b64, 8192);
    rc = hd_key_generate(alg == HD_DOMAIN_ALG_RSA ? HD_KEY_RSA : HD_KEY_ED25519, bits, &key, err);
    if (rc == 0)
        rc = hd_key_public_bytes(key, &pub, err);
    if (rc == 0 && (rc = hd_b64_encode(hd_buf_slice(&pub), &b64)) != 0)
        hd_err_set(err, rc, "cannot encode the public key");
    if (rc == 0)
        rc = hd_key_write_private(key, r->path, err);
    if (rc == 0) {
        nk->written = true;
        r->public_b64 = (char *)hd_buf_steal(&b64, NULL);
    }
    hd_key_free(key);
    hd_buf_free(&pub);
    hd_buf_free(&b64);
    return rc;
}

static void discard_keys(new_key *nk, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (nk[i].written)
            unlink(nk[i].row.path);
        hd_store_key_clear(&nk[i].row);
        nk[i].written = false;
    }
}

/* Make the keys for algs under prefix; on failure nothing is left. */
static int make_keys(const char *keys_dir, const char *domain, const char *prefix, unsigned algs,
                     unsigned bits, int64_t now, new_key nk[2], size_t *n, hd_err *err)
{
    char dir[HD_STORE_PATH_MAX];
    int rc = mkdir_private(keys_dir, err);
    if (rc == 0)
        rc = join(dir, sizeof dir, err, keys_dir, domain, "");
    if (rc == 0)
        rc = mkdir_private(dir, err);
    *n = 0;
    static const unsigned order[] = {HD_DOMAIN_ALG_RSA, HD_DOMAIN_ALG_ED25519};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        if (!(algs & order[i]))
            continue;
        rc = make_key(keys_dir, domain, prefix, order[i], bits, now, &nk[*n], err);
        (*n)++;
    }
    if (rc != 0) {
        discard_keys(nk, *n);
        *n = 0;
        rmdir(dir); /* only if empty: another key may live there */
    }
    return rc;
}

static int insert_keys(hd_store *st, new_key *nk, size_t n, hd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = hd_store_key_add(st, &nk[i].row, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Data directory ------------------------------------------------------------ */

int hd_domain_data_dir_open(const char *data_dir, hd_store **st, char *keys_dir,
                            size_t keys_dir_size, hd_err *err)
{
    *st = NULL;
    int rc = mkdir_private(data_dir, err);
    if (rc)
        return rc;
    char abs[PATH_MAX], db[PATH_MAX + 16];
    if (realpath(data_dir, abs) == NULL)
        return hd_err_set(err, HD_EIO, "%s: %s", data_dir, strerror(errno));
    if ((rc = join(keys_dir, keys_dir_size, err, abs, "keys", "")) != 0 ||
        (rc = mkdir_private(keys_dir, err)) != 0 ||
        (rc = join(db, sizeof db, err, abs, "herald.db", "")) != 0)
        return rc;
    return hd_store_open(db, true, st, err);
}

/* Add --------------------------------------------------------------------------- */

static int add_check(const hd_domain_add_opts *o, char *name, char *bounce, unsigned *algs,
                     unsigned *bits, hd_err *err)
{
    int rc = hd_domain_name_normalize(o->domain, name, HD_STORE_NAME_MAX, err);
    if (rc)
        return rc;
    if (o->bounce_domain != NULL) {
        if ((rc = hd_domain_check_name(o->bounce_domain, 2, "bounce domain", bounce,
                                       HD_STORE_NAME_MAX, err)) != 0)
            return rc;
    } else if (snprintf(bounce, HD_STORE_NAME_MAX, "bounce.%s", name) >= HD_STORE_NAME_MAX ||
               strlen(bounce) > 253) {
        return hd_err_set(err, HD_EINVAL, "bounce.%s is too long a name; give a bounce domain",
                          name);
    }
    if (strlen("_dmarc.") + strlen(name) > 253)
        return hd_err_set(err, HD_EINVAL, "_dmarc.%s: longer than a DNS name may be", name);
    if (strcmp(bounce, name) == 0)
        return hd_err_set(err, HD_EINVAL, "the bounce domain must be a name of its own (its MX "
                                          "receives bounces), e.g. bounce.%s", name);
    *algs = o->algs ? o->algs : HD_DOMAIN_ALG_BOTH;
    if (*algs & ~HD_DOMAIN_ALG_BOTH)
        return hd_err_set(err, HD_EINVAL, "unknown key algorithm bits %#x", *algs);
    *bits = o->rsa_bits ? o->rsa_bits : HD_DOMAIN_RSA_BITS_DEFAULT;
    if (*bits < HD_DOMAIN_RSA_BITS_MIN || *bits > HD_DOMAIN_RSA_BITS_MAX)
        return hd_err_set(err, HD_EINVAL, "RSA key size %u: use %d to %d bits", *bits,
                          HD_DOMAIN_RSA_BITS_MIN, HD_DOMAIN_RSA_BITS_MAX);
    return 0;
}

/* name is parent or a name below it (both normalized: lower case, no
 * final dot). */
static bool at_or_under(const char *name, const char *parent)
{
    size_t n = strlen(name), p = strlen(parent);
    if (n == p)
        return strcmp(name, parent) == 0;
    return n > p && name[n - p - 1] == '.' && strcmp(name + n - p, parent) == 0;
}

typedef struct bounce_claim {
    const char *name, *bounce;      /* the domain being added and its bounce domain */
    char holder[HD_STORE_NAME_MAX]; /* the sending domain the bounce domain is in, if any */
} bounce_claim;

static int find_holder(const hd_store_domain *d, void *arg)
{
    bounce_claim *c = arg;
    /* a domain below the new one is its own subtree: its names are the
     * new domain's owner's too */
    if (!at_or_under(c->bounce, d->name) || at_or_under(d->name, c->name))
        return 0;
    snprintf(c->holder, sizeof c->holder, "%s", d->name);
    return 1;
}

/* The bounce domain is the MAIL FROM of every message of the domain, and
 * its SPF and MX records are published in the zone it is in: a name at
 * or under another sending domain would send with that domain's name
 * (and the SPF its owner published for herald) and have records written
 * into its zone. HD_ESTATE names both. */
static int bounce_domain_free(hd_store *st, const char *name, const char *bounce, hd_err *err)
{
    bounce_claim c = {name, bounce, ""};
    int rc = hd_store_domain_each(st, find_holder, &c, err);
    if (rc)
        return rc;
    if (!c.holder[0])
        return 0;
    return hd_err_set(err, HD_ESTATE,
                      "bounce domain %s for %s: %s is %s sending domain %s, which is not %s's "
                      "to use; choose a name under %s (the default: bounce.%s) or under no "
                      "other sending domain",
                      bounce, name, bounce, strcmp(bounce, c.holder) == 0 ? "the" : "under the",
                      c.holder, name, name, name);
}

int hd_domain_add(hd_store *st, const char *keys_dir, const hd_domain_add_opts *opts,
                  hd_err *err)
{
    char name[HD_STORE_NAME_MAX], prefix[HD_DOMAIN_PREFIX_MAX + 1];
    hd_store_domain row;
    memset(&row, 0, sizeof row);
    unsigned algs = 0, bits = 0;
    int rc = add_check(opts, name, row.bounce_domain, &algs, &bits, err);
    if (rc)
        return rc;
    hd_store_domain old;
    rc = hd_store_domain_get(st, name, &old, err);
    if (rc == 0)
        return hd_err_set(err, HD_EINVAL, "domain %s already exists", name);
    if (rc != HD_ENOTFOUND)
        return rc;
    if ((rc = bounce_domain_free(st, name, row.bounce_domain, err)) != 0)
        return rc;
    hd_domain_keys none = {0};
    if ((rc = choose_prefix(opts->selector, &none, opts->now, prefix, err)) != 0)
        return rc;
    if (opts->hostname != NULL &&
        (rc = hd_domain_check_name(opts->hostname, 2, "hostname", row.hostname,
                                   sizeof row.hostname, err)) != 0)
        return rc;

    new_key nk[2];
    size_t n = 0;
    if ((rc = make_keys(keys_dir, name, prefix, algs, bits, opts->now, nk, &n, err)) != 0)
        return rc;
    memcpy(row.name, name, sizeof row.name);
    row.created = opts->now;
    rc = hd_store_begin(st, err);
    if (rc == 0) {
        if ((rc = hd_store_domain_add(st, &row, err)) == 0 &&
            (rc = insert_keys(st, nk, n, err)) == 0)
            rc = hd_store_commit(st, err);
        if (rc != 0)
            hd_store_rollback(st);
    }
    if (rc != 0) {
        discard_keys(nk, n);
        char dir[HD_STORE_PATH_MAX];
        if (join(dir, sizeof dir, NULL, keys_dir, name, "") == 0)
            rmdir(dir);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        hd_store_key_clear(&nk[i].row);
    return 0;
}

/* Rotate ------------------------------------------------------------------------ */

/* The RSA key size of a published key, from its p= bytes. */
static unsigned rsa_bits_of(const hd_store_key *k)
{
    hd_buf der;
    hd_buf_init(&der, 8192);
    hd_key *key = NULL;
    unsigned bits = HD_DOMAIN_RSA_BITS_DEFAULT;
    if (hd_b64_decode(hd_slice_cstr(k->public_b64), HD_B64_STRICT, &der, NULL) == 0 &&
        hd_key_from_public(HD_KEY_RSA, hd_buf_slice(&der), &key, NULL) == 0)
        bits = hd_key_bits(key);
    hd_key_free(key);
    hd_buf_free(&der);
    if (bits < HD_DOMAIN_RSA_BITS_MIN)
        bits = HD_DOMAIN_RSA_BITS_MIN; /* a rotation is the time to grow a small key */
    if (bits > HD_DOMAIN_RSA_BITS_MAX)
        bits = HD_DOMAIN_RSA_BITS_MAX;
    return bits;
}

/* The changes of hd_domain_activation_plan, written. */
static int apply_plan(hd_store *st, const hd_domain_keys *have, const hd_domain_transition *t,
                      size_t n, int64_t now, hd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const hd_store_key *k = &have->k[t[i].index];
        int rc = t[i].to == HD_STORE_KEY_ACTIVE
                     ? hd_store_key_activate(st, k->id, now, err)
                     : hd_store_key_set_state(st, k->id, t[i].to, t[i].retire_at, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Keys still pending from an earlier rotation never signed: retired. */
static int supersede_pending(hd_store *st, const hd_domain_keys *have, hd_err *err)
{
    for (size_t i = 0; i < have->n; i++) {
        if (have->k[i].state != HD_STORE_KEY_PENDING)
            continue;
        int rc = hd_store_key_set_state(st, have->k[i].id, HD_STORE_KEY_RETIRED, 0, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Are the pending keys of have exactly ids[0..n)? */
static bool pending_are(const hd_domain_keys *have, const int64_t *ids, size_t n)
{
    size_t pending = 0;
    for (size_t i = 0; i < have->n; i++) {
        if (have->k[i].state != HD_STORE_KEY_PENDING)
            continue;
        pending++;
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++)
            listed = ids[j] == have->k[i].id;
        if (!listed)
            return false;
    }
    return pending == n;
}

/* Activate the domain's pending keys inside the caller's transaction;
 * with ids, only if they are the pending ones. */
static int activate_in(hd_store *st, const char *name, const int64_t *ids, size_t n_ids,
                       int64_t now, hd_err *err)
{
    hd_domain_keys have;
    int rc = hd_domain_keys_load(st, name, &have, err);
    if (rc)
        return rc;
    hd_domain_transition *t = calloc(have.n ? have.n : 1, sizeof *t);
    if (t == NULL)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    size_t n = rc == 0 ? hd_domain_activation_plan(have.k, have.n, now, t) : 0;
    if (rc == 0 && n == 0)
        rc = hd_err_set(err, HD_ESTATE, "domain %s has no pending key", name);
    if (rc == 0 && ids != NULL && !pending_are(&have, ids, n_ids))
        rc = hd_err_set(err, HD_ESTATE, "domain %s: its pending keys changed since they were "
                                        "checked (a new rotation?)", name);
    if (rc == 0)
        rc = apply_plan(st, &have, t, n, now, err);
    free(t);
    hd_domain_keys_free(&have);
    return rc;
}

int hd_domain_activate(hd_store *st, const char *domain, const int64_t *ids, size_t n_ids,
                       int64_t now, hd_err *err)
{
    char name[HD_STORE_NAME_MAX];
    hd_store_domain row;
    int rc = hd_domain_lookup(st, domain, name, &row, err);
    if (rc == 0)
        rc = hd_store_begin(st, err);
    if (rc)
        return rc;
    rc = activate_in(st, name, ids, n_ids, now, err);
    if (rc == 0)
        rc = hd_store_commit(st, err);
    if (rc != 0)
        hd_store_rollback(st);
    return rc;
}

int hd_domain_rotate_key(hd_store *st, const char *keys_dir, const char *domain,
                         const char *new_selector_prefix, int64_t now, uint32_t grace_seconds,
                         bool activate_now, hd_err *err)
{
    char name[HD_STORE_NAME_MAX], prefix[HD_DOMAIN_PREFIX_MAX + 1];
    hd_store_domain row;
    int rc = hd_domain_lookup(st, domain, name, &row, err);
    if (rc)
        return rc;
    hd_domain_keys have;
    if ((rc = hd_domain_keys_load(st, name, &have, err)) != 0)
        return rc;
    unsigned algs = 0, bits = HD_DOMAIN_RSA_BITS_DEFAULT;
    for (size_t i = 0; i < have.n; i++) {
        if (have.k[i].state != HD_STORE_KEY_ACTIVE)
            continue;
        if (strcmp(have.k[i].alg, "rsa") == 0) {
            algs |= HD_DOMAIN_ALG_RSA;
            bits = rsa_bits_of(&have.k[i]);
        } else {
            algs |= HD_DOMAIN_ALG_ED25519;
        }
    }
    if (algs == 0)
        rc = hd_err_set(err, HD_ESTATE, "domain %s has no active key to rotate", name);
    if (rc == 0)
        rc = choose_prefix(new_selector_prefix, &have, now, prefix, err);
    new_key nk[2];
    size_t n = 0;
    if (rc == 0)
        rc = make_keys(keys_dir, name, prefix, algs, bits, now, nk, &n, err);
    if (rc != 0) {
        hd_domain_keys_free(&have);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        nk[i].row.state = HD_STORE_KEY_PENDING;
        nk[i].row.grace = grace_seconds;
    }
    rc = hd_store_begin(st, err);
    if (rc == 0) {
        /* earlier pending keys go before the new ones arrive, so only the
         * new ones are pending when --activate-now activates */
        if ((rc = supersede_pending(st, &have, err)) == 0 &&
            (rc = insert_keys(st, nk, n, err)) == 0 &&
            (!activate_now || (rc = activate_in(st, name, NULL, 0, now, err)) == 0))
            rc = hd_store_commit(st, err);
        if (rc != 0)
            hd_store_rollback(st);
    }
    if (rc != 0)
        discard_keys(nk, n);
    for (size_t i = 0; i < n; i++)
        hd_store_key_clear(&nk[i].row);
    hd_domain_keys_free(&have);
    return rc;
}

/* Retire --------------------------------------------------------------------------- */

typedef struct due {
    hd_store *st;
    int64_t now;
    int64_t *ids;
    size_t n, cap;
    hd_err *err;
} due;

static int due_key(const hd_store_key *k, void *arg)
{
    due *d = arg;
    if (k->state != HD_STORE_KEY_RETIRING || k->retire_at > d->now)
        return 0;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        int64_t *p = realloc(d->ids, cap * sizeof *p);
        if (p == NULL)
            return hd_err_set(d->err, HD_ENOMEM, "out of memory");
        d->ids = p;
        d->cap = cap;
    }
    d->ids[d->n++] = k->id;
    return 0;
}

static int due_domain(const hd_store_domain *dom, void *arg)
{
    due *d = arg;
    return hd_store_key_each(d->st, dom->name, due_key, d, d->err);
}

int hd_domain_retire_due(hd_store *st, int64_t now, hd_err *err)
{
    due d = {st, now, NULL, 0, 0, err};
    /* collect first: no rows change under a running SELECT */
    int rc = hd_store_domain_each(st, due_domain, &d, err);
    if (rc == 0 && d.n > 0) {
        rc = hd_store_begin(st, err);
        if (rc == 0) {
            for (size_t i = 0; i < d.n && rc == 0; i++)
                rc = hd_store_key_set_state(st, d.ids[i], HD_STORE_KEY_RETIRED, 0, err);
            if (rc == 0)
                rc = hd_store_commit(st, err);
            if (rc != 0)
                hd_store_rollback(st);
        }
    }
    free(d.ids);
    return rc != 0 ? rc : (int)(d.n > INT_MAX ? INT_MAX : d.n);
}

/* Remove ----------------------------------------------------------------------------- */

typedef struct moved {
    char from[HD_STORE_PATH_MAX];
    char to[HD_STORE_PATH_MAX + 16];
} moved;

/* Move path into dir without ever replacing a file there: link() refuses
 * an existing name, so "name", "name.1", "name.2"... are tried. *gone is
 * set when path no longer exists (nothing to keep). */
static int move_into(const char *path, const char *dir, moved *m, bool *gone, hd_err *err)
{
    *gone = false;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    snprintf(m->from, sizeof m->from, "%s", path);
    for (int i = 0; i < 100; i++) {
        int n = i ? snprintf(m->to, sizeof m->to, "%s/%s.%d", dir, base, i)
                  : snprintf(m->to, sizeof m->to, "%s/%s", dir, base);
        if (n < 0 || (size_t)n >= sizeof m->to)
            return hd_err_set(err, HD_ELIMIT, "%s/%s: path too long", dir, base);
        if (link(path, m->to) == 0) {
            if (unlink(path) != 0) {
                int e = errno;
                unlink(m->to);
                return hd_err_set(err, HD_EIO, "%s: cannot move: %s", path, strerror(e));
            }
            return 0;
        }
        if (errno == ENOENT && access(path, F_OK) != 0) {
            *gone = true;
            return 0;
        }
        if (errno != EEXIST)
            return hd_err_set(err, HD_EIO, "%s: cannot move to %s: %s", path, dir,
                              strerror(errno));
    }
    return hd_err_set(err, HD_ELIMIT, "%s: too many removed copies of %s", dir, base);
}

static void move_back(moved *m, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (link(m[i].to, m[i].from) == 0)
            unlink(m[i].to);
}

static int removed_dir(const char *keys_dir, const char *name, char *dir, size_t size,
                       hd_err *err)
{
    int rc = mkdir_private(keys_dir, err);
    if (rc == 0)
        rc = join(dir, size, err, keys_dir, "removed", "");
    if (rc == 0)
        rc = mkdir_private(dir, err);
    if (rc == 0) {
        char sub[HD_STORE_PATH_MAX];
        rc = join(sub, sizeof sub, err, dir, name, "");
        if (rc == 0)
            rc = mkdir_private(sub, err);
        if (rc == 0)
            memcpy(dir, sub, strlen(sub) + 1);
    }
    return rc;
}

int hd_domain_remove(hd_store *st, const char *keys_dir, const char *domain, hd_err *err)
{
    char name[HD_STORE_NAME_MAX], dir[HD_STORE_PATH_MAX];
    hd_store_domain row;
    hd_domain_keys have;
    int rc = hd_domain_lookup(st, domain, name, &row, err);
    if (rc == 0)
        rc = removed_dir(keys_dir, name, dir, sizeof dir, err);
    if (rc != 0 || (rc = hd_domain_keys_load(st, name, &have, err)) != 0)
        return rc;
    moved *m = calloc(have.n ? have.n : 1, sizeof *m);
    size_t nm = 0;
    if (m == NULL)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    if (rc == 0 && (rc = hd_store_begin(st, err)) == 0) {
        rc = hd_store_domain_remove(st, name, err);
        for (size_t i = 0; i < have.n && rc == 0; i++) {
            bool gone;
            rc = move_into(have.k[i].path, dir, &m[nm], &gone, err);
            if (rc == 0 && !gone)
                nm++;
        }
        if (rc == 0)
            rc = hd_store_commit(st, err);
        if (rc != 0) {
            hd_store_rollback(st);
            move_back(m, nm);
        }
    }
    if (rc == 0) {
        /* the domain's own key directory, if now empty */
        char own[HD_STORE_PATH_MAX];
        if (join(own, sizeof own, NULL, keys_dir, name, "") == 0)
            rmdir(own);
    }
    free(m);
    hd_domain_keys_free(&have);
    return rc;
}

/* Signing keys -------------------------------------------------------------------------- */

int hd_domain_signing_keys(hd_store *st, const char *domain, hd_domain_signing_key *out,
                           size_t max, size_t *n, hd_err *err)
{
    char name[HD_STORE_NAME_MAX];
    hd_store_domain row;
    hd_domain_keys have;
    *n = 0;
    int rc = hd_domain_lookup(st, domain, name, &row, err);
    if (rc != 0 || (rc = hd_domain_keys_load(st, name, &have, err)) != 0)
        return rc;
    for (size_t i = 0; i < have.n && rc == 0; i++) {
        const hd_store_key *k = &have.k[i];
        if (k->state != HD_STORE_KEY_ACTIVE)
            continue;
        if (*n == max) {
            rc = hd_err_set(err, HD_ELIMIT, "domain %s has more than %zu active keys", name, max);
            break;
        }
        hd_domain_signing_key *s = &out[(*n)++];
        memcpy(s->selector, k->selector, sizeof s->selector);
        memcpy(s->path, k->path, sizeof s->path);
        s->type = strcmp(k->alg, "rsa") == 0 ? HD_KEY_RSA : HD_KEY_ED25519;
    }
    hd_domain_keys_free(&have);
    return rc;
}
