/*
 * records.c - the DNS records a sending domain publishes, as data, and
 * written in the zone fixture format (which is also what an operator
 * pastes into a BIND zone).
 *
 * For example.com with bounce domain bounce.example.com, keys P-rsa and
 * P-ed and a server mail.example.net sending from 192.0.2.10:
 *
 *   P-rsa._domainkey.example.com  TXT "v=DKIM1; k=rsa; p=..."      RFC 6376 §3.6.1
 *   P-ed._domainkey.example.com   TXT "v=DKIM1; k=ed25519; p=..."  RFC 8463 §4.2
 *   bounce.example.com            TXT "v=spf1 ip4:192.0.2.10 -all" RFC 7208 §3
 *   bounce.example.com            MX  10 mail.example.net.         bounces come back
 *   _dmarc.example.com            TXT "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com"
 *
 * (`herald domain add` looks up the live DMARC record first and suggests
 * only adding herald's address to it when there is one: dmarc_advice.c.)
 *
 * SPF is checked on the MAIL FROM domain, which herald sets to the bounce
 * domain; under DMARC's relaxed alignment (RFC 7489 §3.1.2) a bounce
 * domain under example.com aligns with From: example.com.
 */
#include "domain/domain_int.h"

#include <herald/spf.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* RFC 1035 §3.3: a <character-string> holds at most 255 bytes. */
#define TXT_STRING_MAX 255
#define VALUE_MAX 8192

/* "ip4:A" or "ip6:A" (with its /prefix) for one sending address. */
static int spf_term(const char *addr, hd_buf *out, hd_err *err)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(addr, '/');
    size_t hl = slash ? (size_t)(slash - addr) : strlen(addr);
    if (hl == 0 || hl >= sizeof host)
        return hd_err_set(err, HD_EINVAL, "address \"%.60s\" is not an IPv4 or IPv6 address",
                          addr);
    memcpy(host, addr, hl);
    host[hl] = '\0';
    uint8_t bin[16];
    bool v6 = strchr(host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
        return hd_err_set(err, HD_EINVAL, "address \"%.60s\" is not an IPv4 or IPv6 address",
                          addr);
    unsigned max = v6 ? 128 : 32, len = max;
    if (slash != NULL) {
        const char *p = slash + 1;
        len = 0;
        size_t digits = 0;
        for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
            len = len * 10 + (unsigned)(*p - '0');
        if (digits == 0 || *p != '\0' || (digits > 1 && slash[1] == '0') || len > max)
            return hd_err_set(err, HD_EINVAL, "address \"%.60s\": the prefix length must be "
                                              "0..%u", addr, max);
    }
    /* RFC 7208 §5.6: a /32 (/128) is the default and is left out */
    if (len == max)
        return hd_buf_printf(out, " %s:%s", v6 ? "ip6" : "ip4", host);
    return hd_buf_printf(out, " %s:%s/%u", v6 ? "ip6" : "ip4", host, len);
}

static int spf_value(const hd_domain_dns_opts *o, const char *hostname, hd_buf *out,
                     hd_err *err)
{
    if (o->n_addresses > HD_DOMAIN_MAX_ADDRESSES)
        return hd_err_set(err, HD_ELIMIT, "more than %d sending addresses for one SPF record",
                          HD_DOMAIN_MAX_ADDRESSES);
    int rc = hd_buf_append_cstr(out, "v=spf1");
    for (size_t i = 0; i < o->n_addresses && rc == 0; i++)
        rc = spf_term(o->addresses[i], out, err);
    if (rc == 0 && o->n_addresses == 0)
        rc = hd_buf_printf(out, " a:%s", hostname);
    if (rc == 0)
        rc = hd_buf_append_cstr(out, " -all");
    if (rc == 0 && (rc = hd_spf_record_check(hd_buf_slice(out), err)) != 0)
        hd_err_prefix(err, "SPF record %s: ", hd_buf_cstr(out));
    return rc;
}

/* Building the list ------------------------------------------------------------ */

typedef struct rec_list {
    hd_domain_record *r;
    size_t n, cap;
} rec_list;

static char *dup_buf(hd_buf *b)
{
    if (b->p == NULL)
        return strdup("");
    return (char *)hd_buf_steal(b, NULL);
}

/* Append a record; takes the three buffers' contents. */
static int push(rec_list *l, hd_domain_record_kind kind, const char *type, hd_buf *name,
                hd_buf *value, hd_buf *purpose, hd_err *err)
{
    if (l->n == l->cap)
        return hd_err_set(err, HD_ELIMIT, "too many records");
    hd_domain_record *r = &l->r[l->n];
    r->kind = kind;
    r->type = type;
    r->name = dup_buf(name);
    r->value = dup_buf(value);
    r->purpose = dup_buf(purpose);
    l->n++;
    if (r->name == NULL || r->value == NULL || r->purpose == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    return 0;
}

static void when_utc(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, size, "%lld", (long long)t);
}

static int push_dkim(rec_list *l, const char *domain, const hd_store_key *k,
                     hd_store_key_state state, hd_buf *b[3], hd_err *err)
{
    bool rsa = strcmp(k->alg, "rsa") == 0;
    int rc = hd_buf_printf(b[0], "%s._domainkey.%s", k->selector, domain);
    if (rc == 0)
        rc = hd_buf_printf(b[1], "v=DKIM1; k=%s; p=%s", rsa ? "rsa" : "ed25519", k->public_b64);
    if (rc == 0 && state == HD_STORE_KEY_PENDING)
        rc = hd_buf_printf(b[2], "DKIM key %s (%s, pending): publish it; herald signs with it "
                                 "once the DNS shows this record",
                           k->selector, rsa ? "RSA" : "Ed25519");
    if (rc == 0 && state == HD_STORE_KEY_ACTIVE)
        rc = hd_buf_printf(b[2], "DKIM key %s (%s, active): receivers check herald's "
                                 "signatures for %s with it",
                           k->selector, rsa ? "RSA" : "Ed25519", domain);
    if (rc == 0 && state == HD_STORE_KEY_RETIRING) {
        char when[40];
        when_utc(k->retire_at, when, sizeof when);
        rc = hd_buf_printf(b[2], "DKIM key %s (%s, retiring): signs no more; keep it published "
                                 "until %s for mail signed before the rotation",
                           k->selector, rsa ? "RSA" : "Ed25519", when);
    }
    if (rc != 0)
        return hd_err_set(err, rc, "DKIM record for %s: too long", k->selector);
    return push(l, HD_DOMAIN_REC_DKIM, "TXT", b[0], b[1], b[2], err);
}

static int push_rest(rec_list *l, const hd_store_domain *d, const char *host, hd_buf *spf,
                     hd_buf *b[3], hd_err *err)
{
    int rc = hd_buf_append_cstr(b[0], d->bounce_domain);
    if (rc == 0)
        rc = hd_buf_printf(b[2], "SPF of the bounce domain (the MAIL FROM herald uses): the "
                                 "addresses herald sends from; aligns with %s for DMARC",
                           d->name);
    if (rc == 0 && (rc = push(l, HD_DOMAIN_REC_SPF, "TXT", b[0], spf, b[2], err)) != 0)
        return rc;
    if (rc == 0)
        rc = hd_buf_append_cstr(b[0], d->bounce_domain);
    if (rc == 0)
        rc = hd_buf_printf(b[1], "10 %s.", host);
    if (rc == 0)
        rc = hd_buf_printf(b[2], "MX of the bounce domain: bounces and delivery reports come "
                                 "back to herald at %s",
                           host);
    if (rc == 0 && (rc = push(l, HD_DOMAIN_REC_MX, "MX", b[0], b[1], b[2], err)) != 0)
        return rc;
    if (rc == 0)
        rc = hd_buf_printf(b[0], "_dmarc.%s", d->name);
    if (rc == 0)
        rc = hd_buf_printf(b[1], "v=DMARC1; p=none; rua=mailto:dmarc@%s", d->bounce_domain);
    /* the reports go to the bounce domain, whose MX is herald: dmarc@<domain>
     * would reach the company's own mail server */
    if (rc == 0)
        rc = hd_buf_printf(b[2], "DMARC policy of %s, if it has none yet (a second record "
                                 "makes receivers apply neither: add rua=mailto:dmarc@%s to an "
                                 "existing one instead): p=none watches first, with aggregate "
                                 "reports to herald; move to quarantine or reject once they "
                                 "show all your mail passes",
                           d->name, d->bounce_domain);
    if (rc == 0)
        rc = push(l, HD_DOMAIN_REC_DMARC, "TXT", b[0], b[1], b[2], err);
    else
        hd_err_set(err, rc, "records of %s: too long", d->name);
    return rc;
}

void hd_domain_records_free(hd_domain_record *r, size_t n)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].value);
        free(r[i].purpose);
    }
    free(r);
}

static int check_host(const hd_domain_dns_opts *o, char *host, hd_err *err)
{
    if (o == NULL || o->hostname == NULL)
        return hd_err_set(err, HD_EINVAL, "no hostname given: the bounce domain's MX names the "
                                          "server");
    return hd_domain_check_name(o->hostname, 2, "hostname", host, HD_STORE_NAME_MAX, err);
}

int hd_domain_dns_opts_check(const hd_domain_dns_opts *opts, hd_err *err)
{
    char host[HD_STORE_NAME_MAX];
    hd_buf spf;
    hd_buf_init(&spf, VALUE_MAX);
    int rc = check_host(opts, host, err);
    if (rc == 0)
        rc = spf_value(opts, host, &spf, err);
    hd_buf_free(&spf);
    return rc;
}

int hd_domain_records(hd_store *st, const char *domain, const hd_domain_dns_opts *opts,
                      hd_domain_record **out, size_t *n, hd_err *err)
{
    return hd_domain_records_at(st, domain, opts, 0, out, n, err);
}

int hd_domain_records_at(hd_store *st, const char *domain, const hd_domain_dns_opts *opts,
                         int64_t now, hd_domain_record **out, size_t *n, hd_err *err)
{
    *out = NULL;
    *n = 0;
    char name[HD_STORE_NAME_MAX], host[HD_STORE_NAME_MAX];
    hd_store_domain d;
    hd_domain_keys keys;
    hd_buf spf;
    hd_buf_init(&spf, VALUE_MAX);
    int rc = hd_domain_lookup(st, domain, name, &d, err);
    if (rc == 0)
        rc = check_host(opts, host, err);
    if (rc == 0)
        rc = spf_value(opts, host, &spf, err);
    if (rc != 0 || (rc = hd_domain_keys_load(st, name, &keys, err)) != 0) {
        hd_buf_free(&spf);
        return rc;
    }
    rec_list l = {calloc(keys.n + 3, sizeof *l.r), 0, keys.n + 3};
    hd_buf bufs[3], *b[3] = {&bufs[0], &bufs[1], &bufs[2]};
    for (int i = 0; i < 3; i++)
        hd_buf_init(b[i], VALUE_MAX);
    if (l.r == NULL)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    for (size_t i = 0; i < keys.n && rc == 0; i++) {
        hd_store_key_state at = now ? hd_domain_key_state_at(&keys.k[i], now) : keys.k[i].state;
        if (at != HD_STORE_KEY_RETIRED)
            rc = push_dkim(&l, name, &keys.k[i], at, b, err);
    }
    if (rc == 0)
        rc = push_rest(&l, &d, host, &spf, b, err);
    for (int i = 0; i < 3; i++)
        hd_buf_free(b[i]);
    hd_buf_free(&spf);
    hd_domain_keys_free(&keys);
    if (rc != 0) {
        hd_domain_records_free(l.r, l.n);
        return rc;
    }
    *out = l.r;
    *n = l.n;
    return 0;
}

/* Zone text ------------------------------------------------------------------------------ */

/* One <character-string>, quoted, with RFC 1035 §5.1 escapes. */
static int quoted(hd_buf *out, const char *s, size_t len)
{
    int rc = hd_buf_append_byte(out, '"');
    for (size_t i = 0; i < len && rc == 0; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '"' || c == '\\')
            rc = hd_buf_printf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            rc = hd_buf_printf(out, "\\%03u", c);
        else
            rc = hd_buf_append_byte(out, c);
    }
    return rc ? rc : hd_buf_append_byte(out, '"');
}

static int zone_one(const hd_domain_record *r, hd_buf *out)
{
    /* the purpose is one comment line: no line break may end it early */
    int rc = hd_buf_append_cstr(out, "; ");
    for (const char *p = r->purpose; *p && rc == 0; p++)
        rc = hd_buf_append_byte(out, *p == '\n' || *p == '\r' ? ' ' : (uint8_t)*p);
    if (rc == 0)
        rc = hd_buf_printf(out, "\n%s. %d IN %s ", r->name, HD_DOMAIN_TTL, r->type);
    if (rc == 0 && strcmp(r->type, "TXT") == 0) {
        size_t len = strlen(r->value), i = 0;
        do { /* an empty text is one empty string */
            size_t part = len - i < TXT_STRING_MAX ? len - i : TXT_STRING_MAX;
            if (i > 0)
                rc = hd_buf_append_byte(out, ' ');
            if (rc == 0)
                rc = quoted(out, r->value + i, part);
            i += part;
        } while (rc == 0 && i < len);
    } else if (rc == 0) {
        rc = hd_buf_append_cstr(out, r->value);
    }
    return rc ? rc : hd_buf_append_byte(out, '\n');
}

int hd_domain_records_zone(const hd_domain_record *r, size_t n, hd_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        int rc = zone_one(&r[i], out);
        if (rc)
            return rc;
    }
    return 0;
}
