/*
 * config_int.h - what the config module's files share: the value parsers
 * (value.c) used by the file parser (parse.c) and by the look-ups
 * (config.c).
 *
 * Value parsers read a whole slice and either fill their output and return
 * true (or NULL), or leave it alone and return false (or the reason as a
 * static string). They never allocate.
 */
#ifndef HERALD_CONFIG_INT_H
#define HERALD_CONFIG_INT_H

#include <herald/buf.h>
#include <herald/config.h>
#include <herald/limits.h>

/* Longest pool name. */
#define HD_CONFIG_POOL_NAME_MAX 64

/* Digits only, no sign, at most max. */
bool hd_config__uint(hd_slice s, uint64_t max, uint64_t *out);
/* Bytes with an optional K, M or G suffix (1024-based). */
bool hd_config__size(hd_slice s, uint64_t *out);
/* Seconds with an optional s, m, h or d suffix; at most UINT32_MAX. */
bool hd_config__duration(hd_slice s, uint64_t *out);
/* yes/no, true/false, on/off (any case). */
bool hd_config__bool(hd_slice s, bool *out);

/* An IPv4 or IPv6 literal: returns AF_INET or AF_INET6 and fills addr
 * (4 or 16 bytes), or 0. */
int hd_config__ip(hd_slice s, uint8_t addr[16]);
/* ADDR/LEN, or a bare ADDR (the whole address). An IPv4-mapped IPv6
 * network of length >= 96 becomes the IPv4 network. NULL or the reason. */
const char *hd_config__cidr(hd_slice s, int *family, uint8_t addr[16], unsigned *len);

/* A DNS name: LDH labels of 1..63 bytes, at most 253 bytes, one trailing
 * dot dropped, the last label not all digits. Writes it in lower case to
 * out (HD_LIMIT_DNS_NAME + 1 bytes). NULL or the reason, worded to
 * follow "it has". */
const char *hd_config__domain(hd_slice s, char *out);
/* [a-z0-9_-]+ after lower-casing, at most HD_CONFIG_POOL_NAME_MAX bytes;
 * out holds HD_CONFIG_POOL_NAME_MAX + 1 bytes. NULL or the reason, worded
 * to follow "it has". */
const char *hd_config__pool_name(hd_slice s, char *out);

/* HOST:PORT or [IPv6]:PORT. host points into s (brackets removed), and
 * *is_name says it is a host name (valid, as written: normalize it with
 * hd_config__domain). */
const char *hd_config__endpoint(hd_slice s, hd_slice *host, bool *is_name, uint16_t *port);
/* ADDR[@PORT], the DNS forwarder. */
const char *hd_config__resolver(hd_slice s);

/* Free a list of strings or endpoints (the items and the array). */
void hd_config__free_strings(char **v, size_t n);
void hd_config__free_endpoints(hd_config_endpoint *v, size_t n);

/* [webhook NAME] (webhook.c): a known event type; the known ones as
 * "a, b or c" (for an error); a URL's check (NULL or what was expected);
 * freeing. */
bool hd_config__event_type(hd_slice name);
void hd_config__event_types_list(char *out, size_t size);
const char *hd_config__url(hd_slice s);
void hd_config__free_webhooks(hd_config_webhook *v, size_t n);

/* Sort domains, pools and routes by name, for the look-ups (which
 * search them by bisection); or the pools only. */
void hd_config__sort(hd_config *cfg);
void hd_config__sort_pools(hd_config *cfg);

/* Where the file set each key and began each section (config.c). */
typedef struct hd_config_origin_line {
    char section[16];            /* "" at the top level */
    char *name;                  /* named sections: the name; else NULL */
    char key[40];                /* "" for the section header */
    size_t line;
} hd_config_origin_line;

struct hd_config_origin {
    char *file;
    hd_config_origin_line *v;
    size_t n, cap;
};

/* Adds a line to cfg->origin (made on the first call). HD_ENOMEM or 0. */
int hd_config__origin_add(hd_config *cfg, const char *file, const char *section,
                          const char *name, const char *key, size_t line);
void hd_config__origin_free(hd_config_origin *o);

/* Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF): the offset of the first bad byte, or (size_t)-1. */
size_t hd_config__utf8_bad(hd_slice s);

#endif
