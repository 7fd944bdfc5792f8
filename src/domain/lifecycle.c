/*
 * lifecycle.c - the life of a DKIM key as pure functions of its row: the
 * state it is in at a given time, what an activation changes, and whether
 * the DNS answer for its record shows this very key.
 *
 * No I/O and no clock: the caller gives the time and the DNS answer, so
 * `domain list --now T` can show states as of T without writing, and the
 * server's check (serve/domains.c) and the CLI judge records alike.
 */
#include "domain/domain_int.h"

#include <herald/base64.h>
#include <herald/tag.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A public key of RSA-4096 is about 550 bytes of DER; leave room. */
#define KEY_DER_MAX 4096

const char *hd_domain_key_state_name(hd_store_key_state s)
{
    switch (s) {
    case HD_STORE_KEY_PENDING: return "pending";
    case HD_STORE_KEY_ACTIVE: return "active";
    case HD_STORE_KEY_RETIRING: return "retiring";
    case HD_STORE_KEY_RETIRED: return "retired";
    }
    return "unknown";
}

hd_store_key_state hd_domain_key_state_at(const hd_store_key *k, int64_t now)
{
    if (k->state == HD_STORE_KEY_RETIRING && k->retire_at <= now)
        return HD_STORE_KEY_RETIRED;
    return k->state;
}

size_t hd_domain_activation_plan(const hd_store_key *k, size_t n, int64_t now,
                                 hd_domain_transition *out)
{
    uint32_t grace = 0;
    bool pending = false;
    for (size_t i = 0; i < n; i++)
        if (hd_domain_key_state_at(&k[i], now) == HD_STORE_KEY_PENDING) {
            pending = true;
            if (k[i].grace > grace)
                grace = k[i].grace;
        }
    if (!pending)
        return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        hd_store_key_state at = hd_domain_key_state_at(&k[i], now);
        hd_domain_transition t = {i, at, 0};
        if (at == HD_STORE_KEY_PENDING)
            t.to = HD_STORE_KEY_ACTIVE;
        else if (at == HD_STORE_KEY_ACTIVE)
            t.to = grace ? HD_STORE_KEY_RETIRING : HD_STORE_KEY_RETIRED;
        else if (at == HD_STORE_KEY_RETIRED && k[i].state == HD_STORE_KEY_RETIRING)
            t.to = HD_STORE_KEY_RETIRED;
        else
            continue;
        if (t.to == HD_STORE_KEY_RETIRING)
            t.retire_at = now + (int64_t)grace;
        out[m++] = t;
    }
    return m;
}

bool hd_domain_activation_due(const hd_store_key *k, const hd_domain_dns_check *checks,
                              size_t n)
{
    bool pending = false;
    for (size_t i = 0; i < n; i++) {
        if (k[i].state != HD_STORE_KEY_PENDING)
            continue;
        if (checks[i].status != HD_DOMAIN_DNS_MATCH)
            return false;
        pending = true;
    }
    return pending;
}

/* DNS check ------------------------------------------------------------------ */

const char *hd_domain_dns_status_name(hd_domain_dns_status s)
{
    switch (s) {
    case HD_DOMAIN_DNS_NOT_CHECKED: return "not checked";
    case HD_DOMAIN_DNS_MATCH: return "matches";
    case HD_DOMAIN_DNS_MISSING: return "missing";
    case HD_DOMAIN_DNS_MISMATCH: return "mismatch";
    case HD_DOMAIN_DNS_UNKNOWN: return "unknown";
    }
    return "unknown";
}

int hd_domain_key_record_name(const hd_store_key *k, char *out, size_t size, hd_err *err)
{
    int n = snprintf(out, size, "%s._domainkey.%s", k->selector, k->domain);
    if (n < 0 || (size_t)n >= size)
        return hd_err_set(err, HD_ELIMIT, "%s._domainkey.%s: name too long", k->selector,
                          k->domain);
    return 0;
}

static void set(hd_domain_dns_check *out, hd_domain_dns_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set(hd_domain_dns_check *out, hd_domain_dns_status st, const char *fmt, ...)
{
    out->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
}

/* Does the comma- or colon-separated list in value hold want (or "*")? */
static bool list_has(hd_slice value, char sep, const char *want)
{
    size_t i = 0, wl = strlen(want);
    while (i <= value.len) {
        size_t j = i;
        while (j < value.len && value.p[j] != sep)
            j++;
        size_t a = i, b = j;
        while (a < b && (value.p[a] == ' ' || value.p[a] == '\t'))
            a++;
        while (b > a && (value.p[b - 1] == ' ' || value.p[b - 1] == '\t'))
            b--;
        if ((b - a == wl && memcmp(value.p + a, want, wl) == 0) ||
            (b - a == 1 && value.p[a] == '*'))
            return true;
        i = j + 1;
    }
    return false;
}

/* Decode a p= value (whitespace removed, RFC 6376 §3.6.1) into out. */
static int decode_p(hd_slice value, hd_buf *out)
{
    hd_buf clean;
    hd_buf_init(&clean, KEY_DER_MAX * 2);
    int rc = hd_tag_strip_wsp(value, &clean);
    if (rc == 0)
        rc = hd_b64_decode(hd_buf_slice(&clean), HD_B64_STRICT, out, NULL);
    hd_buf_free(&clean);
    return rc;
}

/* Where two base64 texts first differ, for the log line. */
static size_t first_difference(hd_slice a, const char *b)
{
    size_t i = 0, bl = strlen(b);
    while (i < a.len && i < bl && a.p[i] == (uint8_t)b[i])
        i++;
    return i;
}

/* One TXT record against the key. */
static void check_one(const hd_store_key *k, const char *name, hd_slice txt,
                      hd_domain_dns_check *out)
{
    hd_taglist tags;
    hd_err err;
    hd_err_clear(&err);
    if (hd_tag_parse(txt, &tags, &err) != 0) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the TXT record at %s is not a DKIM key record: %s",
            name, hd_err_str(&err));
        return;
    }
    const hd_tag *v = hd_tag_get(&tags, "v"), *kt = hd_tag_get(&tags, "k"),
                 *h = hd_tag_get(&tags, "h"), *s = hd_tag_get(&tags, "s"),
                 *p = hd_tag_get(&tags, "p");
    /* RFC 6376 §3.6.1: v= if present is the first tag and is "DKIM1" */
    if (v != NULL && (v != &tags.tags[0] || !hd_slice_eq_cstr(v->value, "DKIM1"))) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has v=%.*s%s, not v=DKIM1 first",
            name, (int)(v->value.len > 20 ? 20 : v->value.len), (const char *)v->value.p,
            v != &tags.tags[0] ? " (not the first tag)" : "");
        return;
    }
    const char *alg = strcmp(k->alg, "rsa") == 0 ? "rsa" : "ed25519";
    /* RFC 6376 §3.6.1: k= defaults to rsa */
    if ((kt == NULL && strcmp(alg, "rsa") != 0) ||
        (kt != NULL && !hd_slice_eq_cstr(kt->value, alg))) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has k=%.*s, this key is %s", name,
            kt ? (int)(kt->value.len > 20 ? 20 : kt->value.len) : 3,
            kt ? (const char *)kt->value.p : "rsa", alg);
        return;
    }
    if (h != NULL && !list_has(h->value, ':', "sha256")) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has h=%.*s: herald signs with sha256",
            name, (int)(h->value.len > 40 ? 40 : h->value.len), (const char *)h->value.p);
        return;
    }
    if (s != NULL && !list_has(s->value, ':', "email")) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has s=%.*s, not email", name,
            (int)(s->value.len > 40 ? 40 : s->value.len), (const char *)s->value.p);
        return;
    }
    if (p == NULL) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has no p= tag", name);
        return;
    }
    if (p->value.len == 0) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has an empty p=: the key is revoked "
                                         "(RFC 6376 §3.6.1)", name);
        return;
    }
    hd_buf got, want;
    hd_buf_init(&got, KEY_DER_MAX);
    hd_buf_init(&want, KEY_DER_MAX);
    bool good = decode_p(p->value, &got) == 0;
    bool same = good && decode_p(hd_slice_cstr(k->public_b64), &want) == 0 &&
                got.len == want.len && memcmp(got.p, want.p, got.len) == 0;
    hd_buf_free(&got);
    hd_buf_free(&want);
    if (!good) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has a p= that is not base64", name);
    } else if (!same) {
        size_t at = first_difference(p->value, k->public_b64);
        size_t left = p->value.len - at; /* the value is a slice: no NUL to stop at */
        set(out, HD_DOMAIN_DNS_MISMATCH, "the record at %s has another key: its p= differs "
                                         "from this key's at character %zu (\"%.*s...\" "
                                         "where herald has \"%.12s...\")",
            name, at + 1, (int)(left < 12 ? left : 12), (const char *)p->value.p + at,
            k->public_b64 + at);
    } else {
        out->status = HD_DOMAIN_DNS_MATCH;
        out->why[0] = '\0';
    }
}

void hd_domain_key_check(const hd_store_key *k, const hd_dns_answer *ans,
                         hd_domain_dns_check *out)
{
    char name[300];
    memset(out, 0, sizeof *out);
    if (hd_domain_key_record_name(k, name, sizeof name, NULL) != 0) {
        set(out, HD_DOMAIN_DNS_MISMATCH, "selector %s: the record's name is too long",
            k->selector);
        return;
    }
    if (ans == NULL) {
        set(out, HD_DOMAIN_DNS_NOT_CHECKED, "not checked");
        return;
    }
    switch (ans->status) {
    case HD_DNS_OK:
        break;
    case HD_DNS_NXDOMAIN:
    case HD_DNS_NODATA:
        set(out, HD_DOMAIN_DNS_MISSING, "no TXT record at %s (%s)", name,
            hd_dns_status_name(ans->status));
        return;
    default:
        set(out, HD_DOMAIN_DNS_UNKNOWN, "the DNS did not answer for %s: %s%s%s", name,
            hd_dns_status_name(ans->status), ans->why[0] ? ": " : "", ans->why);
        return;
    }
    for (size_t i = 0; i < ans->nrr; i++) {
        check_one(k, name, (hd_slice){ans->rr[i].txt, ans->rr[i].txt_len}, out);
        if (out->status != HD_DOMAIN_DNS_MATCH) {
            if (ans->nrr > 1) {
                /* RFC 6376 §3.6.2.2: a verifier may use any of them */
                size_t len = strlen(out->why);
                snprintf(out->why + len, sizeof out->why - len,
                         " (record %zu of %zu there; receivers may use any one)", i + 1,
                         ans->nrr);
            }
            return;
        }
    }
    if (ans->nrr == 0)
        set(out, HD_DOMAIN_DNS_MISSING, "no TXT record at %s", name);
}
