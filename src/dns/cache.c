/*
 * cache.c - the DNS answer cache (see dns.h): open addressing on an
 * FNV-1a hash of "type/name" (name case-folded), answers copied in and
 * owned by the cache. Emptied whole when full: O(1) bounded memory.
 */
#include <herald/dns.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct slot {
    char *name;
    uint16_t type;
    hd_dns_answer *ans;
    int64_t expires;
} slot;

struct hd_dns_cache {
    slot *slots;
    size_t nslots, used, max_entries;
    uint32_t max_ttl, neg_ttl;
};

hd_dns_answer *hd_dns_answer_dup(const hd_dns_answer *a)
{
    hd_dns_answer *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    *c = *a;
    c->rr = NULL;
    c->nrr = 0;
    c->qname = strdup(a->qname ? a->qname : "");
    c->canonname = a->canonname ? strdup(a->canonname) : NULL;
    bool ok = c->qname != NULL && (a->canonname == NULL || c->canonname != NULL);
    if (ok && a->nrr > 0) {
        c->rr = calloc(a->nrr, sizeof *c->rr);
        ok = c->rr != NULL;
    }
    for (size_t i = 0; ok && i < a->nrr; i++) {
        c->rr[i] = a->rr[i];
        c->rr[i].name = NULL;
        c->rr[i].txt = NULL;
        c->nrr = i + 1;
        if (a->rr[i].name != NULL)
            ok = (c->rr[i].name = strdup(a->rr[i].name)) != NULL;
        if (ok && a->rr[i].txt != NULL) {
            ok = (c->rr[i].txt = malloc(a->rr[i].txt_len + 1)) != NULL;
            if (ok) {
                memcpy(c->rr[i].txt, a->rr[i].txt, a->rr[i].txt_len);
                c->rr[i].txt[a->rr[i].txt_len] = '\0';
            }
        }
    }
    if (!ok) {
        hd_dns_answer_free(c);
        return NULL;
    }
    return c;
}

hd_dns_cache *hd_dns_cache_new(size_t max_entries, uint32_t max_ttl, uint32_t neg_ttl)
{
    hd_dns_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->max_entries = max_entries ? max_entries : 1;
    c->nslots = 8;
    while (c->nslots < c->max_entries * 2)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    c->max_ttl = max_ttl;
    c->neg_ttl = neg_ttl;
    return c;
}

static void clear_all(hd_dns_cache *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        free(c->slots[i].name);
        hd_dns_answer_free(c->slots[i].ans);
        c->slots[i] = (slot){0};
    }
    c->used = 0;
}

void hd_dns_cache_free(hd_dns_cache *c)
{
    if (c == NULL)
        return;
    clear_all(c);
    free(c->slots);
    free(c);
}

static uint64_t key_hash(const char *name, uint16_t type)
{
    uint64_t h = 1469598103934665603ull ^ type;
    for (const char *p = name; *p; p++) {
        uint8_t ch = (uint8_t)*p;
        h = (h ^ (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch)) * 1099511628211ull;
    }
    return h;
}

/* The slot holding name/type, or the empty slot where it would go. */
static slot *find(hd_dns_cache *c, const char *name, uint16_t type)
{
    size_t mask = c->nslots - 1;
    for (size_t i = key_hash(name, type) & mask, n = 0; n < c->nslots; i = (i + 1) & mask, n++) {
        slot *s = &c->slots[i];
        if (s->name == NULL || (s->type == type && strcasecmp(s->name, name) == 0))
            return s;
    }
    return NULL;
}

const hd_dns_answer *hd_dns_cache_get(hd_dns_cache *c, const char *name, uint16_t type,
                                      int64_t now)
{
    slot *s = find(c, name, type);
    if (s == NULL || s->name == NULL || s->expires <= now)
        return NULL;
    return s->ans;
}

int hd_dns_cache_put(hd_dns_cache *c, const hd_dns_answer *ans, int64_t now)
{
    uint32_t ttl;
    switch (ans->status) {
    case HD_DNS_OK:
        ttl = ans->ttl;
        break;
    case HD_DNS_NXDOMAIN:
    case HD_DNS_NODATA:
        ttl = ans->ttl ? ans->ttl : c->neg_ttl;
        break;
    default:
        return 0; /* temporary failures are not kept */
    }
    if (ttl > c->max_ttl)
        ttl = c->max_ttl;
    if (ttl == 0 || ans->qname == NULL)
        return 0;
    if (c->used >= c->max_entries)
        clear_all(c);
    slot *s = find(c, ans->qname, ans->qtype);
    if (s == NULL)
        return HD_ENOMEM;
    hd_dns_answer *copy = hd_dns_answer_dup(ans);
    if (copy == NULL)
        return HD_ENOMEM;
    if (s->name == NULL) {
        if ((s->name = strdup(ans->qname)) == NULL) {
            hd_dns_answer_free(copy);
            return HD_ENOMEM;
        }
        s->type = ans->qtype;
        c->used++;
    } else {
        hd_dns_answer_free(s->ans);
    }
    s->ans = copy;
    s->expires = now + ttl;
    return 0;
}
