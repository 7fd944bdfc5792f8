/*
 * domain_keys.c - a sending domain's DKIM keys as `herald domain add`,
 * `list`, `show` and `rotate-key` print them: states as at a time (the
 * pure hd_domain_key_state_at, so nothing is written), each record's DNS
 * check, text and JSON. The copies of the rows are owned by the cli_keys.
 */
#include "cli/domain_keys.h"

#include <herald/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest record name asked for: a selector (63) + "._domainkey." + a
 * name (253). */
#define RECORD_NAME_MAX 330

void cli_when_utc(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, size, "%lld", (long long)t);
}

static int collect(const hd_store_key *k, void *arg)
{
    cli_keys *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        hd_store_key *nk = realloc(v->k, cap * sizeof *nk);
        if (nk == NULL) {
            v->oom = true;
            return 1;
        }
        v->k = nk;
        v->cap = cap;
    }
    v->k[v->n] = *k;
    v->k[v->n].public_b64 = strdup(k->public_b64);
    if (v->k[v->n].public_b64 == NULL) {
        v->oom = true;
        return 1;
    }
    v->n++;
    return 0;
}

void cli_keys_free(cli_keys *v)
{
    for (size_t i = 0; i < v->n; i++)
        hd_store_key_clear(&v->k[i]);
    free(v->k);
    free(v->at);
    free(v->dns);
    memset(v, 0, sizeof *v);
}

int cli_keys_load(hd_store *st, const char *domain, int64_t now, cli_keys *v, hd_err *err)
{
    memset(v, 0, sizeof *v);
    int rc = hd_store_key_each(st, domain, collect, v, err);
    if (rc == 0 && !v->oom) {
        v->at = calloc(v->n ? v->n : 1, sizeof *v->at);
        v->dns = calloc(v->n ? v->n : 1, sizeof *v->dns);
        v->oom = v->at == NULL || v->dns == NULL;
    }
    if (v->oom)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    if (rc != 0) {
        cli_keys_free(v);
        return rc;
    }
    for (size_t i = 0; i < v->n; i++) {
        v->at[i] = hd_domain_key_state_at(&v->k[i], now);
        hd_domain_key_check(&v->k[i], NULL, &v->dns[i]);
    }
    return 0;
}

void cli_keys_check(cli_keys *v, hd_dns *dns, const char *why_not)
{
    size_t n = v->n ? v->n : 1, m = 0;
    const char **names = calloc(n, sizeof *names);
    char (*bufs)[RECORD_NAME_MAX] = calloc(n, sizeof *bufs);
    hd_dns_answer **ans = calloc(n, sizeof *ans);
    size_t *idx = calloc(n, sizeof *idx);
    char why[400];
    snprintf(why, sizeof why, "%s", why_not ? why_not : "no resolver");
    bool asked = false;
    if (names && bufs && ans && idx) {
        for (size_t i = 0; i < v->n; i++) {
            if (v->at[i] == HD_STORE_KEY_RETIRED ||
                hd_domain_key_record_name(&v->k[i], bufs[m], sizeof bufs[m], NULL) != 0)
                continue;
            names[m] = bufs[m];
            idx[m++] = i;
        }
        hd_err err;
        hd_err_clear(&err);
        if (dns != NULL && m > 0) {
            asked = hd_dns_query_all(dns, names, m, HD_DNS_T_TXT, ans, &err) == 0;
            if (!asked)
                snprintf(why, sizeof why, "%s", hd_err_str(&err));
        }
    } else {
        snprintf(why, sizeof why, "out of memory");
    }
    for (size_t j = 0; j < m; j++) {
        hd_domain_dns_check *c = &v->dns[idx[j]];
        if (asked && ans[j] != NULL) {
            hd_domain_key_check(&v->k[idx[j]], ans[j], c);
        } else {
            c->status = HD_DOMAIN_DNS_NOT_CHECKED;
            snprintf(c->why, sizeof c->why, "not checked (%s)", why);
        }
        hd_dns_answer_free(ans[j]);
    }
    free(names);
    free(bufs);
    free(ans);
    free(idx);
}

static const char *dns_json_name(hd_domain_dns_status s)
{
    return s == HD_DOMAIN_DNS_NOT_CHECKED ? "not_checked" : hd_domain_dns_status_name(s);
}

static json_t *key_json(const cli_keys *v, size_t i, bool with_dns)
{
    const hd_store_key *k = &v->k[i];
    bool pending = v->at[i] == HD_STORE_KEY_PENDING;
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "selector", k->selector, "algorithm", k->alg,
                          "state", hd_domain_key_state_name(v->at[i]), "path", k->path);
    hd_json_set_time(o, "created", k->created);
    hd_json_set_time(o, "activated", k->activated);
    hd_json_set_time(o, "retire_at", pending ? 0 : k->retire_at);
    json_object_set_new(o, "grace_seconds",
                        pending ? json_integer((json_int_t)k->grace) : json_null());
    if (with_dns) {
        json_object_set_new(o, "dns", json_string(dns_json_name(v->dns[i].status)));
        json_object_set_new(o, "dns_detail",
                            v->dns[i].why[0] ? hd_json_text(v->dns[i].why) : json_null());
    }
    return o;
}

json_t *cli_keys_json(const cli_keys *v, bool with_dns)
{
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++)
        json_array_append_new(a, key_json(v, i, with_dns));
    return a;
}

/* What a key's state means, after its name. */
static void state_note(const cli_keys *v, size_t i, char *out, size_t size)
{
    char when[40];
    switch (v->at[i]) {
    case HD_STORE_KEY_PENDING:
        if (v->dns[i].status == HD_DOMAIN_DNS_MATCH)
            snprintf(out, size, ": its record is published; a running server starts signing "
                                "with it at its next check (every %d minutes, and at a reload)",
                     CLI_KEYS_CHECK_MINUTES);
        else
            snprintf(out, size, ": signs once its DNS record is published and seen by the "
                                "server");
        return;
    case HD_STORE_KEY_RETIRING:
        cli_when_utc(v->k[i].retire_at, when, sizeof when);
        snprintf(out, size, ", signs no more, published until %s", when);
        return;
    case HD_STORE_KEY_RETIRED:
        snprintf(out, size, ": its record may leave the DNS");
        return;
    case HD_STORE_KEY_ACTIVE:
        break;
    }
    out[0] = '\0';
}

static void dns_note(const hd_domain_dns_check *c, char *out, size_t size)
{
    switch (c->status) {
    case HD_DOMAIN_DNS_MATCH: snprintf(out, size, "published, matches this key"); return;
    case HD_DOMAIN_DNS_MISSING: snprintf(out, size, "not published: %s", c->why); return;
    case HD_DOMAIN_DNS_MISMATCH: snprintf(out, size, "does not match: %s", c->why); return;
    case HD_DOMAIN_DNS_UNKNOWN: snprintf(out, size, "unknown: %s", c->why); return;
    case HD_DOMAIN_DNS_NOT_CHECKED: snprintf(out, size, "%s", c->why); return;
    }
}

void cli_keys_print(const cli_keys *v, bool with_dns)
{
    for (size_t i = 0; i < v->n; i++) {
        char note[200], dns[400];
        state_note(v, i, note, sizeof note);
        printf(";   %-24s %-8s %s%s\n;   %24s %s\n", v->k[i].selector, v->k[i].alg,
               hd_domain_key_state_name(v->at[i]), note, "", v->k[i].path);
        if (with_dns && v->at[i] != HD_STORE_KEY_RETIRED) {
            dns_note(&v->dns[i], dns, sizeof dns);
            printf(";   %24s DNS: %s\n", "", dns);
        }
    }
}
