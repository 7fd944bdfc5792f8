/*
 * keyrec.c - DKIM key records (RFC 6376 §3.6.1, RFC 8463 §4.2) and the key
 * cache.
 *
 * A parsed record is an immutable, reference-counted dkim_keyrec, so one
 * key parsed from DNS serves every signature and every message that names
 * it until its TTL runs out. A record that cannot be used is still a
 * record: it carries the reason, so the verdict can say why.
 */
#include "auth/dkim/dkim_keyrec.h"

#include <herald/base64.h>
#include <herald/limits.h>

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

static dkim_keyrec *keyrec_new(void)
{
    dkim_keyrec *k = calloc(1, sizeof *k);
    if (k != NULL)
        k->refs = 1;
    return k;
}

void dkim_keyrec_release(dkim_keyrec *k)
{
    if (k == NULL || --k->refs > 0)
        return;
    hd_key_free(k->key);
    free(k);
}

__attribute__((format(printf, 2, 3)))
static dkim_keyrec *keyrec_error(hd_dkim_reason code, const char *fmt, ...)
{
    dkim_keyrec *k = keyrec_new();
    if (k == NULL)
        return NULL;
    k->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
    return k;
}

/* Is word one of the colon-separated entries of list (any number)? */
static bool list_has(hd_slice list, const char *word)
{
    size_t start = 0;
    for (size_t i = 0; i <= list.len; i++) {
        if (i < list.len && list.p[i] != ':')
            continue;
        if (hd_slice_eq_cstr(hd_slice_trim_wsp(hd_slice_make(list.p + start, i - start)), word))
            return true;
        start = i + 1;
    }
    return false;
}

/* Safe text of a slice for messages: printable ASCII, cut at 40 bytes. */
static const char *show(hd_slice s, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len && o + 4 < size && i < 40; i++)
        buf[o++] = (s.p[i] >= 0x20 && s.p[i] < 0x7f) ? (char)s.p[i] : '?';
    if (s.len > 40 && o + 4 < size)
        buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o] = '\0';
    return buf;
}

static dkim_keyrec *parse_tags(const hd_taglist *tags, dkim_keyrec *k)
{
    char tmp[64];
    const hd_tag *v = hd_tag_get(tags, "v");
    if (v != NULL && !hd_slice_eq_cstr(v->value, "DKIM1")) {
        k->code = HD_DKIM_R_KEY_SYNTAX;
        snprintf(k->why, sizeof k->why, "key record v=%s is not DKIM1", show(v->value, tmp, sizeof tmp));
        return k;
    }
    const hd_tag *kt = hd_tag_get(tags, "k");
    if (kt == NULL || hd_slice_eq_cstr(kt->value, "rsa")) {
        k->type = HD_KEY_RSA;
    } else if (hd_slice_eq_cstr(kt->value, "ed25519")) {
        k->type = HD_KEY_ED25519;
    } else {
        k->code = HD_DKIM_R_KEY_SYNTAX;
        snprintf(k->why, sizeof k->why, "unknown key type k=%s", show(kt->value, tmp, sizeof tmp));
        return k;
    }
    const hd_tag *h = hd_tag_get(tags, "h");
    k->allow_sha256 = h == NULL || list_has(h->value, "sha256");
    k->allow_sha1 = h == NULL || list_has(h->value, "sha1");
    const hd_tag *s = hd_tag_get(tags, "s");
    k->service_email = s == NULL || list_has(s->value, "*") || list_has(s->value, "email");
    const hd_tag *t = hd_tag_get(tags, "t");
    if (t != NULL) {
        k->testing = list_has(t->value, "y");
        k->strict = list_has(t->value, "s");
    }
    const hd_tag *p = hd_tag_get(tags, "p");
    if (p == NULL) {
        k->code = HD_DKIM_R_KEY_SYNTAX;
        snprintf(k->why, sizeof k->why, "key record has no p= tag");
        return k;
    }
    hd_buf der;
    hd_buf_init(&der, HD_LIMIT_DKIM_KEY_RECORD_BYTES);
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_tag_strip_wsp(p->value, &der);
    if (rc == 0 && der.len == 0) {
        k->revoked = true; /* RFC 6376 §3.6.1: empty p= means revoked */
        hd_buf_free(&der);
        return k;
    }
    hd_slice b64 = hd_slice_make(der.p, der.len);
    hd_buf bytes;
    hd_buf_init(&bytes, HD_LIMIT_DKIM_KEY_RECORD_BYTES);
    rc = hd_b64_decode(b64, HD_B64_IGNORE_WSP, &bytes, &err);
    if (rc == 0)
        rc = hd_key_from_public(k->type, hd_buf_slice(&bytes), &k->key, &err);
    hd_buf_free(&der);
    hd_buf_free(&bytes);
    if (rc != 0) {
        k->code = HD_DKIM_R_KEY_SYNTAX;
        snprintf(k->why, sizeof k->why, "key record p=: %s", hd_err_str(&err));
        return k;
    }
    k->bits = hd_key_bits(k->key);
    return k;
}

dkim_keyrec *dkim_keyrec_parse(hd_slice txt)
{
    if (txt.len > HD_LIMIT_DKIM_KEY_RECORD_BYTES)
        return keyrec_error(HD_DKIM_R_KEY_SYNTAX, "key record longer than %d bytes", HD_LIMIT_DKIM_KEY_RECORD_BYTES);
    hd_taglist tags;
    hd_err err;
    hd_err_clear(&err);
    if (hd_tag_parse(txt, &tags, &err) != 0)
        return keyrec_error(HD_DKIM_R_KEY_SYNTAX, "key record syntax: %s", err.msg);
    dkim_keyrec *k = keyrec_new();
    if (k == NULL)
        return NULL;
    return parse_tags(&tags, k);
}

dkim_keyrec *dkim_keyrec_from_answer(const hd_dns_answer *ans, const char *name)
{
    switch (ans->status) {
    case HD_DNS_OK:
        if (ans->nrr == 0)
            return keyrec_error(HD_DKIM_R_NO_KEY, "no key record at %s", name);
        break;
    case HD_DNS_NXDOMAIN:
    case HD_DNS_NODATA:
        return keyrec_error(HD_DKIM_R_NO_KEY, "no key record at %s (selector missing or removed)", name);
    default:
        return keyrec_error(HD_DKIM_R_KEY_TEMP, "DNS lookup of %s failed temporarily", name);
    }
    /* RFC 6376 §3.6.2.2: several TXT records give undefined results; the
     * first is used, as other verifiers do */
    const hd_dns_rr *rr = &ans->rr[0];
    dkim_keyrec *k = dkim_keyrec_parse(hd_slice_make(rr->txt, rr->txt_len));
    if (k != NULL)
        k->ttl = ans->ttl;
    return k;
}

/* The cache: open addressing on an FNV-1a hash of the query name. When
 * full it is emptied, the simplest bound that keeps every lookup O(1). */

typedef struct cache_slot {
    char *name;
    dkim_keyrec *rec;
    int64_t expires;
} cache_slot;

struct hd_dkim_keycache {
    cache_slot *slots;
    size_t nslots, used, max_entries;
    uint32_t max_ttl;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        uint8_t c = (uint8_t)*s;
        h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 1099511628211ull;
    }
    return h;
}

hd_dkim_keycache *hd_dkim_keycache_new(size_t max_entries, uint32_t max_ttl)
{
    if (max_entries == 0)
        max_entries = 1;
    hd_dkim_keycache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->nslots = 4;
    while (c->nslots < max_entries * 2)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    c->max_entries = max_entries;
    c->max_ttl = max_ttl;
    return c;
}

static void cache_clear(hd_dkim_keycache *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        free(c->slots[i].name);
        dkim_keyrec_release(c->slots[i].rec);
        c->slots[i] = (cache_slot){0};
    }
    c->used = 0;
}

void hd_dkim_keycache_free(hd_dkim_keycache *c)
{
    if (c == NULL)
        return;
    cache_clear(c);
    free(c->slots);
    free(c);
}

static cache_slot *cache_find(hd_dkim_keycache *c, const char *name)
{
    size_t mask = c->nslots - 1;
    for (size_t i = fnv1a(name) & mask, n = 0; n < c->nslots; i = (i + 1) & mask, n++) {
        if (c->slots[i].name == NULL || strcasecmp(c->slots[i].name, name) == 0)
            return &c->slots[i];
    }
    return NULL;
}

dkim_keyrec *dkim_keycache_get(hd_dkim_keycache *c, const char *name, int64_t now)
{
    cache_slot *s = cache_find(c, name);
    if (s == NULL || s->name == NULL || s->expires <= now)
        return NULL;
    s->rec->refs++;
    return s->rec;
}

void dkim_keycache_put(hd_dkim_keycache *c, const char *name, dkim_keyrec *rec, int64_t now)
{
    uint32_t ttl = rec->ttl < c->max_ttl ? rec->ttl : c->max_ttl;
    if (ttl == 0)
        return;
    if (c->used >= c->max_entries)
        cache_clear(c);
    cache_slot *s = cache_find(c, name);
    if (s == NULL)
        return;
    if (s->name == NULL) {
        if ((s->name = strdup(name)) == NULL)
            return;
        c->used++;
    } else {
        dkim_keyrec_release(s->rec);
    }
    rec->refs++;
    s->rec = rec;
    s->expires = now + ttl;
}
