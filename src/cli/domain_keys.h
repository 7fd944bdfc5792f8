/*
 * domain_keys.h - a sending domain's DKIM keys as `herald domain` shows
 * them: each key's state as at a time, the DNS check of its record, as
 * zone-file comment lines or JSON. Reading them writes nothing.
 */
#ifndef HERALD_CLI_DOMAIN_KEYS_H
#define HERALD_CLI_DOMAIN_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <herald/dns.h>
#include <herald/domain.h>
#include <herald/store.h>

/* How often a running server looks for the records of pending keys,
 * said in the output so an operator knows what to wait for. */
#define CLI_KEYS_CHECK_MINUTES (HD_DOMAIN_CHECK_INTERVAL / 60)

typedef struct cli_keys {
    hd_store_key *k;                /* copies (public_b64 owned), oldest first */
    hd_store_key_state *at;         /* state as at the time asked */
    hd_domain_dns_check *dns;       /* "not checked" until cli_keys_check */
    size_t n, cap;
    bool oom;
} cli_keys;

/* The keys of domain as at now. An HD_E* code with err set on failure
 * (nothing to free then). */
int cli_keys_load(hd_store *st, const char *domain, int64_t now, cli_keys *v, hd_err *err);
void cli_keys_free(cli_keys *v);

/* Look up the TXT records of the pending, active and retiring keys
 * through dns, all at once, and judge each (hd_domain_key_check). dns
 * NULL: every key "not checked (why_not)". */
void cli_keys_check(cli_keys *v, hd_dns *dns, const char *why_not);

/* The keys as JSON objects; with_dns adds "dns" and "dns_detail". */
json_t *cli_keys_json(const cli_keys *v, bool with_dns);

/* The keys as ";" comment lines of a zone file; with_dns adds each
 * record's check. */
void cli_keys_print(const cli_keys *v, bool with_dns);

/* "2027-01-15 08:00 UTC", for text. */
void cli_when_utc(int64_t t, char *out, size_t size);

#endif
