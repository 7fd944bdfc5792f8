/*
 * webhook.c - the [webhook NAME] sections: the event types they may ask
 * for (the store's table), their look-ups and freeing. The parsing is parse.c's.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/store.h>

/* The event types are the store's (hd_event_type): the one table of the
 * names the server writes. */
bool hd_config_event_explicit(const char *type)
{
    hd_event_type t;
    return type != NULL && hd_event_type_parse(hd_slice_cstr(type), &t) == 0 &&
           hd_event_type_explicit(t);
}

bool hd_config__event_type(hd_slice name)
{
    hd_event_type t;
    return hd_event_type_parse(name, &t) == 0;
}

void hd_config__event_types_list(char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (int t = 0; t < HD_EVENT_TYPE_COUNT && o < size; t++) {
        const char *sep = t == 0 ? "" : t + 1 == HD_EVENT_TYPE_COUNT ? " or " : ", ";
        int n = snprintf(out + o, size - o, "%s%s", sep, hd_event_type_name((hd_event_type)t));
        o += n > 0 ? (size_t)n : 0;
    }
}

const char *hd_config__url(hd_slice s)
{
    size_t skip;
    if (s.len > 7 && memcmp(s.p, "http://", 7) == 0)
        skip = 7;
    else if (s.len > 8 && memcmp(s.p, "https://", 8) == 0)
        skip = 8;
    else
        return "a URL that starts with http:// or https://";
    if (s.len > 2048)
        return "a URL of at most 2048 bytes";
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] <= 0x20 || s.p[i] >= 0x7f)
            return "a URL without spaces, control characters or non-ASCII bytes";
    if (s.p[skip] == '/' || s.p[skip] == ':' || s.p[skip] == '?' || s.p[skip] == '#')
        return "a URL with a host name";
    for (size_t i = skip; i < s.len && s.p[i] != '/'; i++)
        if (s.p[i] == '@')
            return "a URL without user:password@ (use the secret for authentication)";
    return NULL;
}

const hd_config_webhook *hd_config_webhook_find(const hd_config *cfg, const char *name)
{
    for (size_t i = 0; name != NULL && i < cfg->n_webhooks; i++)
        if (strcmp(cfg->webhooks[i].name, name) == 0)
            return &cfg->webhooks[i];
    return NULL;
}

static bool in_list(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

bool hd_config_webhook_wants(const hd_config_webhook *w, const char *type, const char *domain)
{
    if (w->n_events > 0 && !in_list(w->events, w->n_events, type ? type : ""))
        return false;
    /* a forgeable report is never in "every type": only asked for by name */
    if (w->n_events == 0 && hd_config_event_explicit(type))
        return false;
    if (w->n_domains == 0 || in_list(w->domains, w->n_domains, "*"))
        return true;
    if (domain == NULL || domain[0] == '\0')
        return false;
    char lower[HD_LIMIT_DNS_NAME + 1];
    size_t n = strlen(domain);
    if (n > HD_LIMIT_DNS_NAME)
        return false;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 : domain[i]);
    return in_list(w->domains, w->n_domains, lower);
}

void hd_config__free_webhooks(hd_config_webhook *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].name);
        free(v[i].url);
        if (v[i].secret != NULL) {
            memset(v[i].secret, 0, strlen(v[i].secret));
            free(v[i].secret);
        }
        hd_config__free_strings(v[i].domains, v[i].n_domains);
        hd_config__free_strings(v[i].events, v[i].n_events);
        free(v[i].ca_file);
    }
    free(v);
}
