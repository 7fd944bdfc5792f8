/*
 * zone_int.h - the zone fixture's in-memory form, shared by the parser
 * (zone_parse.c) and the store and back end (zone.c).
 *
 * All bytes (owner names in lower case, record targets, TXT data) live in
 * one pool and are referred to by offset, so the pool may grow while
 * parsing. Each distinct name is a node found through an open-addressing
 * hash table; names that exist only as parents of owners (empty
 * non-terminals, RFC 8020) are nodes too, with no records. After
 * hd_dns__zone_finish() the records are grouped by node.
 */
#ifndef HERALD_ZONE_INT_H
#define HERALD_ZONE_INT_H

#include "dns_int.h"

enum {
    ZN_OWNER = 1,    /* has at least one line in the file */
    ZN_CNAME = 2,
    ZN_TIMEOUT = 4,  /* pseudo-type TIMEOUT */
    ZN_SERVFAIL = 8, /* pseudo-type SERVFAIL */
};

typedef struct zone_rr {
    uint32_t node;
    uint32_t ttl;
    uint32_t line;
    uint32_t data_off, data_len; /* pool: target name, or TXT bytes */
    uint32_t txt_strings;
    uint16_t type;
    uint16_t pref;
    uint8_t addr[16];
} zone_rr;

typedef struct zone_node {
    uint32_t name_off;  /* pool, lower case, no trailing dot */
    uint32_t name_len;
    uint32_t first, nrr; /* records, after zone_finish */
    uint32_t nreal;      /* records seen so far (for the CNAME rule) */
    uint32_t mark_line;  /* line of the CNAME or pseudo-type, for messages */
    uint8_t flags;
} zone_node;

typedef struct zone {
    hd_buf pool;
    zone_rr *rr;
    size_t nrr, rr_cap;
    zone_node *node;
    size_t nnode, node_cap;
    uint32_t *table; /* node index + 1, 0 = empty; size is a power of two */
    size_t table_size;
    const char *source; /* borrowed, for messages while parsing */
    hd_err *err;
} zone;

void hd_dns__zone_init(zone *z, const char *source, hd_err *err);
void hd_dns__zone_release(zone *z);

/* Copy bytes into the pool; *off receives where they start. */
int hd_dns__zone_pool_add(zone *z, const void *p, size_t len, uint32_t *off);
/* Add a record for owner (a checked name). rr->node is filled in. */
int hd_dns__zone_add_rr(zone *z, hd_slice owner, zone_rr *rr);
/* Mark owner with ZN_TIMEOUT or ZN_SERVFAIL from line. */
int hd_dns__zone_add_pseudo(zone *z, hd_slice owner, uint8_t flag, uint32_t line);
/* Add empty non-terminals, group records by node, check per-RRset limits. */
int hd_dns__zone_finish(zone *z);

/* Parse text into z (zone_parse.c). */
int hd_dns__zone_parse(zone *z, hd_slice text);

/* "SOURCE:LINE: reason" as HD_ESYNTAX in z->err. */
int hd_dns__zone_syntax(const zone *z, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
