/*
 * zone_int.h - the zone fixture's in-memory form, shared by the parser
 * (zone_parse.c) and the store and back end (zone.c). The text format is
 * docs/zone-format.md.
 *
 * Names are held in wire form (RFC 1035 §3.1) without the root's zero
 * octet: each label is a length octet and its bytes, master-file escapes
 * already decoded. Label boundaries are length octets, so a '.' inside a
 * label (written "\." or "\046") is an ordinary byte that no lookup or
 * parent walk can take for a separator; the root is the empty string.
 * Owners are stored with ASCII letters in lower case and every comparison
 * folds ASCII letters only (RFC 4343): other bytes must match exactly.
 *
 * All bytes (owner names, record targets, TXT data) live in one pool and
 * are referred to by offset, so the pool may grow while parsing. Each
 * distinct name is a node found through an open-addressing hash table;
 * names that exist only as parents of owners (empty non-terminals, RFC
 * 8020) are nodes too, with no records. After hd_dns__zone_finish() the
 * records are grouped by node.
 */
#ifndef HERALD_ZONE_INT_H
#define HERALD_ZONE_INT_H

#include "dns/dns_int.h"

/* A name in wire form without the root's zero octet: RFC 1035 §2.3.4
 * allows 255 octets with it. As herald's dotted text that is 253. */
#define ZONE_WIRE_MAX 254
/* Room for a wire name as master-file text (every octet at most "\DDD"). */
#define ZONE_NAME_TEXT (4 * ZONE_WIRE_MAX + 1)

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
    uint32_t data_off, data_len; /* pool: target name (wire form), or TXT bytes */
    uint32_t txt_strings;        /* TXT: how many strings; 0 is allowed */
    uint16_t type;
    uint16_t pref;
    uint8_t addr[16];
} zone_rr;

typedef struct zone_node {
    uint32_t name_off;  /* pool: wire form, ASCII letters in lower case */
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
/* Add a record for owner (a checked wire-form name, lower case). rr->node
 * is filled in. */
int hd_dns__zone_add_rr(zone *z, hd_slice owner, zone_rr *rr);
/* Mark owner (as for add_rr) with ZN_TIMEOUT or ZN_SERVFAIL from line. */
int hd_dns__zone_add_pseudo(zone *z, hd_slice owner, uint8_t flag, uint32_t line);
/* Add empty non-terminals, group records by node, check per-RRset limits. */
int hd_dns__zone_finish(zone *z);

/* Parse text into z (zone_parse.c). */
int hd_dns__zone_parse(zone *z, hd_slice text);

/* A wire-form name as master-file text for messages (RFC 1035 §5.1: "\."
 * for a dot inside a label, "\X" for the other characters the format gives
 * a meaning to, "\DDD" for blanks, controls and bytes over 126); "." for
 * the root. Cut to fit outlen (at least 2); returns out. */
const char *hd_dns__zone_name_text(const uint8_t *wire, size_t len, char *out, size_t outlen);

/* "SOURCE:LINE: reason" as HD_ESYNTAX in z->err. */
int hd_dns__zone_syntax(const zone *z, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
