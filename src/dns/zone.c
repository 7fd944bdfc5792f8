/*
 * zone.c - the zone-file fixture back end: the store that the parser
 * (zone_parse.c) fills, and the lookups that answer as a recursive
 * resolver would (docs/zone-format.md).
 *
 * Answers, in order of precedence for a name N and type T:
 *   - N absent from the file and not a parent of a name in it: NXDOMAIN;
 *   - N has records of type T: OK with them;
 *   - N has a CNAME and T is not CNAME: follow it (RFC 1034 §3.6.2), at
 *     most HD_LIMIT_DNS_CNAME_CHAIN links, else SERVFAIL;
 *   - N is marked TIMEOUT: TIMEOUT; marked SERVFAIL: SERVFAIL;
 *   - otherwise NODATA, also for an empty non-terminal (RFC 8020).
 * A question's name is herald's dotted text (dns.h): it is cut into labels
 * at every '.', each byte taken as itself, and looked up in wire form, so
 * it finds an owner written with escapes ("a\032b" for "a b") but never
 * one whose label holds a '.'. A name handed back in an answer (a target,
 * the end of a CNAME chain) must be writable as such text: one with a '.'
 * or NUL inside a label makes the answer ERROR, as the libunbound back end
 * does for such a record.
 * The store is immutable after parsing; every answer is a fresh allocation
 * owned by the callback that receives it. Answers are ready at submit and
 * delivered by hd_dns_process(); nothing here waits or has a descriptor.
 */
#include "dns/zone_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pool holds at most the zone text plus decoded copies of it. */
#define ZONE_POOL_MAX (2u * HD_LIMIT_ZONE_BYTES)

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* FNV-1a over the lower-cased name (the length octets of wire form are
 * under 64, so lower() leaves them alone). */
static uint32_t name_hash(const uint8_t *p, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= lower(p[i]);
        h *= 16777619u;
    }
    return h;
}

int hd_dns__zone_syntax(const zone *z, uint32_t line, const char *fmt, ...)
{
    char msg[HD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hd_err_set(z->err, HD_ESYNTAX, "%s:%u: %s", z->source, (unsigned)line, msg);
}

/* RFC 1035 §5.1: the characters a master file gives a meaning to, written
 * "\X" inside a name; '.' only when it is inside a label. */
static bool special_in_name(uint8_t c)
{
    return c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' ||
           c == '@' || c == '$';
}

const char *hd_dns__zone_name_text(const uint8_t *wire, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    if (len == 0) {
        snprintf(out, outlen, ".");
        return out;
    }
    for (size_t i = 0; i < len && n + 5 < outlen;) {
        size_t l = wire[i++];
        if (n > 0)
            out[n++] = '.';
        for (size_t k = 0; k < l && i < len && n + 5 < outlen; k++, i++) {
            uint8_t c = wire[i];
            if (c <= 0x20 || c >= 0x7f)
                n += (size_t)snprintf(out + n, outlen - n, "\\%03u", (unsigned)c);
            else if (special_in_name(c))
                n += (size_t)snprintf(out + n, outlen - n, "\\%c", c);
            else
                out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return out;
}

static int zone_nomem(const zone *z, int rc)
{
    if (rc == HD_ELIMIT)
        return hd_err_set(z->err, rc, "%s: zone data larger than %u bytes", z->source,
                          ZONE_POOL_MAX);
    return hd_err_set(z->err, HD_ENOMEM, "%s: out of memory", z->source);
}

void hd_dns__zone_init(zone *z, const char *source, hd_err *err)
{
    memset(z, 0, sizeof *z);
    hd_buf_init(&z->pool, ZONE_POOL_MAX);
    z->source = source;
    z->err = err;
}

void hd_dns__zone_release(zone *z)
{
    hd_buf_free(&z->pool);
    free(z->rr);
    free(z->node);
    free(z->table);
    memset(z, 0, sizeof *z);
}

int hd_dns__zone_pool_add(zone *z, const void *p, size_t len, uint32_t *off)
{
    *off = (uint32_t)z->pool.len;
    int rc = hd_buf_append(&z->pool, p, len);
    return rc != 0 ? zone_nomem(z, rc) : 0;
}

/* Nodes ------------------------------------------------------------------ */

static const uint8_t *node_name(const zone *z, const zone_node *n)
{
    return z->pool.p + n->name_off;
}

/* Index of the wire-form name (lower case in the store, any case asked),
 * or -1. */
static long find_node(const zone *z, const uint8_t *p, size_t len)
{
    if (z->table_size == 0)
        return -1;
    size_t mask = z->table_size - 1;
    for (size_t i = name_hash(p, len) & mask;; i = (i + 1) & mask) {
        uint32_t v = z->table[i];
        if (v == 0)
            return -1;
        const zone_node *n = &z->node[v - 1];
        if (n->name_len == len &&
            hd_slice_caseeq(hd_slice_make(node_name(z, n), len), hd_slice_make(p, len)))
            return (long)(v - 1);
    }
}

static void table_put(uint32_t *table, size_t size, uint32_t h, uint32_t idx)
{
    size_t mask = size - 1;
    size_t i = h & mask;
    while (table[i] != 0)
        i = (i + 1) & mask;
    table[i] = idx + 1;
}

static int table_grow(zone *z)
{
    size_t size = z->table_size ? z->table_size * 2 : 64;
    uint32_t *t = calloc(size, sizeof *t);
    if (t == NULL)
        return zone_nomem(z, HD_ENOMEM);
    for (size_t i = 0; i < z->nnode; i++)
        table_put(t, size, name_hash(node_name(z, &z->node[i]), z->node[i].name_len),
                  (uint32_t)i);
    free(z->table);
    z->table = t;
    z->table_size = size;
    return 0;
}

/* The node for a wire-form name already in the pool at off (lower case). */
static int intern_at(zone *z, uint32_t off, size_t len, uint32_t *idx)
{
    long found = find_node(z, z->pool.p + off, len);
    if (found >= 0) {
        *idx = (uint32_t)found;
        return 0;
    }
    if (2 * (z->nnode + 1) > z->table_size && table_grow(z) != 0)
        return HD_ENOMEM;
    if (z->nnode == z->node_cap) {
        size_t cap = z->node_cap ? z->node_cap * 2 : 64;
        zone_node *nn = realloc(z->node, cap * sizeof *nn);
        if (nn == NULL)
            return zone_nomem(z, HD_ENOMEM);
        z->node = nn;
        z->node_cap = cap;
    }
    *idx = (uint32_t)z->nnode;
    z->node[z->nnode++] = (zone_node){.name_off = off, .name_len = (uint32_t)len};
    table_put(z->table, z->table_size, name_hash(z->pool.p + off, len), *idx);
    return 0;
}

/* The node for an owner name (wire form, lower case, checked), added if
 * new. */
static int intern_owner(zone *z, hd_slice owner, uint32_t *idx)
{
    long found = find_node(z, owner.p, owner.len);
    if (found >= 0) {
        *idx = (uint32_t)found;
        z->node[*idx].flags |= ZN_OWNER;
        return 0;
    }
    uint32_t off;
    int rc = hd_dns__zone_pool_add(z, owner.p, owner.len, &off);
    if (rc == 0)
        rc = intern_at(z, off, owner.len, idx);
    if (rc == 0)
        z->node[*idx].flags |= ZN_OWNER;
    return rc;
}

/* RFC 1034 §3.6.2: a name with a CNAME has no other data. The pseudo-types
 * count as data here, since a CNAME answers every type. */
static int check_cname_rule(zone *z, const zone_node *n, bool adding_cname, uint32_t line)
{
    bool has_cname = (n->flags & ZN_CNAME) != 0;
    bool has_other = n->nreal > 0 || (n->flags & (ZN_TIMEOUT | ZN_SERVFAIL));
    if (adding_cname ? !has_cname && !has_other : !has_cname)
        return 0;
    char name[ZONE_NAME_TEXT];
    hd_dns__zone_name_text(node_name(z, n), n->name_len, name, sizeof name);
    if (adding_cname && (n->flags & ZN_CNAME))
        return hd_dns__zone_syntax(z, line, "%s has a second CNAME (the first is on line %u)",
                                   name, (unsigned)n->mark_line);
    if (adding_cname && (n->nreal > 0 || (n->flags & (ZN_TIMEOUT | ZN_SERVFAIL))))
        return hd_dns__zone_syntax(z, line,
                                   "%s has other records, so it cannot have a CNAME "
                                   "(RFC 1034 section 3.6.2)", name);
    if (!adding_cname && (n->flags & ZN_CNAME))
        return hd_dns__zone_syntax(z, line,
                                   "%s has a CNAME (line %u), so it cannot have other "
                                   "records (RFC 1034 section 3.6.2)", name,
                                   (unsigned)n->mark_line);
    return 0;
}

int hd_dns__zone_add_rr(zone *z, hd_slice owner, zone_rr *rr)
{
    uint32_t idx;
    int rc = intern_owner(z, owner, &idx);
    if (rc != 0)
        return rc;
    zone_node *n = &z->node[idx];
    rc = check_cname_rule(z, n, rr->type == HD_DNS_T_CNAME, rr->line);
    if (rc != 0)
        return rc;
    if (rr->type == HD_DNS_T_CNAME) {
        n->flags |= ZN_CNAME;
        n->mark_line = rr->line;
    }
    n->nreal++;
    if (z->nrr == z->rr_cap) {
        size_t cap = z->rr_cap ? z->rr_cap * 2 : 64;
        zone_rr *nr = realloc(z->rr, cap * sizeof *nr);
        if (nr == NULL)
            return zone_nomem(z, HD_ENOMEM);
        z->rr = nr;
        z->rr_cap = cap;
    }
    rr->node = idx;
    z->rr[z->nrr++] = *rr;
    return 0;
}

int hd_dns__zone_add_pseudo(zone *z, hd_slice owner, uint8_t flag, uint32_t line)
{
    uint32_t idx;
    int rc = intern_owner(z, owner, &idx);
    if (rc != 0)
        return rc;
    zone_node *n = &z->node[idx];
    rc = check_cname_rule(z, n, false, line);
    if (rc != 0)
        return rc;
    uint8_t other = flag == ZN_TIMEOUT ? ZN_SERVFAIL : ZN_TIMEOUT;
    if (n->flags & other) {
        char name[ZONE_NAME_TEXT];
        return hd_dns__zone_syntax(z, line, "%s is marked both TIMEOUT and SERVFAIL "
                                   "(the other is on line %u)",
                                   hd_dns__zone_name_text(node_name(z, n), n->name_len, name,
                                                          sizeof name),
                                   (unsigned)n->mark_line);
    }
    n->flags |= flag;
    n->mark_line = line;
    return 0;
}

/* Every parent of an owner exists as a node (RFC 8020: an empty
 * non-terminal answers NODATA, not NXDOMAIN). In wire form a parent is the
 * owner without its first label, a suffix that shares the owner's bytes in
 * the pool; a '.' inside a label is never a place to cut. The root is not
 * a node. */
static int add_parents(zone *z)
{
    size_t owners = z->nnode;
    for (size_t i = 0; i < owners; i++) {
        uint32_t off = z->node[i].name_off, len = z->node[i].name_len;
        for (;;) {
            uint32_t skip = 1u + z->pool.p[off];
            if (skip >= len)
                break;
            off += skip;
            len -= skip;
            size_t before = z->nnode;
            uint32_t idx;
            if (intern_at(z, off, len, &idx) != 0)
                return HD_ENOMEM;
            if (z->nnode == before)
                break; /* its parents were added with it */
        }
    }
    return 0;
}

/* Group records by node (a stable counting sort, so each RRset keeps the
 * file's order) and bound every RRset at HD_LIMIT_DNS_RRS. */
static int group_records(zone *z)
{
    for (size_t i = 0; i < z->nnode; i++)
        z->node[i].nrr = 0;
    for (size_t i = 0; i < z->nrr; i++)
        z->node[z->rr[i].node].nrr++;
    uint32_t at = 0;
    for (size_t i = 0; i < z->nnode; i++) {
        z->node[i].first = at;
        at += z->node[i].nrr;
        z->node[i].nrr = 0;
    }
    zone_rr *sorted = malloc((z->nrr ? z->nrr : 1) * sizeof *sorted);
    if (sorted == NULL)
        return zone_nomem(z, HD_ENOMEM);
    for (size_t i = 0; i < z->nrr; i++) {
        zone_node *n = &z->node[z->rr[i].node];
        uint32_t same = 0;
        for (uint32_t k = n->first; k < n->first + n->nrr; k++)
            same += sorted[k].type == z->rr[i].type;
        if (same >= HD_LIMIT_DNS_RRS) {
            free(sorted);
            char name[ZONE_NAME_TEXT];
            return hd_dns__zone_syntax(z, z->rr[i].line, "more than %d %s records for %s",
                                       HD_LIMIT_DNS_RRS, hd_dns_type_name(z->rr[i].type),
                                       hd_dns__zone_name_text(node_name(z, n), n->name_len,
                                                              name, sizeof name));
        }
        sorted[n->first + n->nrr++] = z->rr[i];
    }
    free(z->rr);
    z->rr = sorted;
    z->rr_cap = z->nrr;
    return 0;
}

int hd_dns__zone_finish(zone *z)
{
    int rc = add_parents(z);
    return rc != 0 ? rc : group_records(z);
}

/* Lookups ---------------------------------------------------------------- */

/* A question's name (dotted text, checked by hd_dns_submit: labels of 1 to
 * 63 bytes, at most 253 bytes, no trailing dot) in wire form: every '.'
 * ends a label, every other byte is itself. */
static bool query_wire(const char *name, uint8_t *wire, size_t *len)
{
    size_t n = 0;
    for (const char *p = name;;) {
        const char *dot = strchr(p, '.');
        size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || n + 1 + l > ZONE_WIRE_MAX)
            return false;
        wire[n++] = (uint8_t)l;
        memcpy(wire + n, p, l);
        n += l;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    *len = n;
    return true;
}

/* A wire-form name from the pool as herald's dotted text (dns.h), or
 * HD_ESYNTAX when a label holds a '.' or a NUL, which that text cannot
 * carry; the root is "". */
static int pool_name_text(const zone *z, uint32_t off, uint32_t len, char **out)
{
    char text[HD_DNS_NAME_BUF];
    size_t n = 0;
    const uint8_t *w = z->pool.p + off;
    for (uint32_t i = 0; i < len;) {
        uint32_t l = w[i++];
        /* the pool holds checked names: only a '.' or NUL in a label fails */
        if (l > len - i || hd_dns__text_add_label(text, &n, w + i, l) != 0)
            return HD_ESYNTAX;
        i += l;
    }
    *out = hd_slice_strdup(hd_slice_make(text, n));
    return *out != NULL ? 0 : HD_ENOMEM;
}

/* The answer for a name that cannot be handed over as text. */
static void untextable(const zone *z, uint32_t off, uint32_t len, const char *what,
                       hd_dns_answer *ans)
{
    char name[ZONE_NAME_TEXT];
    for (size_t i = 0; i < ans->nrr; i++) {
        free(ans->rr[i].name);
        free(ans->rr[i].txt);
    }
    free(ans->rr);
    ans->rr = NULL;
    ans->nrr = 0;
    ans->ttl = 0;
    free(ans->canonname);
    ans->canonname = NULL;
    hd_dns__answer_status(ans, HD_DNS_ERROR, -1,
                          "zone fixture: %s %s has a '.' or NUL inside a label, which a "
                          "name in text form cannot carry", what,
                          hd_dns__zone_name_text(z->pool.p + off, len, name, sizeof name));
}

/* Fill dst from src: 0, HD_ENOMEM, or HD_ESYNTAX for a target name that
 * cannot be written as text. */
static int fill_rr(const zone *z, const zone_rr *src, hd_dns_rr *dst)
{
    dst->type = src->type;
    dst->ttl = src->ttl;
    memcpy(dst->addr, src->addr, sizeof dst->addr);
    dst->preference = src->pref;
    if (src->type == HD_DNS_T_TXT || src->type == HD_DNS_T_SPF) {
        /* zero strings (txt_strings 0) give an empty text, as one "" does */
        dst->txt = (uint8_t *)hd_slice_strdup(
            src->data_len > 0 ? hd_slice_make(z->pool.p + src->data_off, src->data_len)
                              : HD_SLICE_NULL);
        dst->txt_len = src->data_len;
        dst->txt_strings = src->txt_strings;
        return dst->txt != NULL ? 0 : HD_ENOMEM;
    }
    if (src->type == HD_DNS_T_MX || src->type == HD_DNS_T_PTR ||
        src->type == HD_DNS_T_CNAME || src->type == HD_DNS_T_NS)
        return pool_name_text(z, src->data_off, src->data_len, &dst->name);
    return 0;
}

/* 1: the answer is made, OK with the node's records of qtype (or ERROR
 * for a target that cannot be written as text); 0: the node has none
 * (ans untouched); or HD_ENOMEM. */
static int take_rrset(const zone *z, const zone_node *n, uint16_t qtype, hd_dns_answer *ans)
{
    size_t count = 0;
    for (uint32_t k = n->first; k < n->first + n->nrr; k++)
        count += z->rr[k].type == qtype;
    if (count == 0)
        return 0;
    ans->rr = calloc(count, sizeof *ans->rr);
    if (ans->rr == NULL)
        return HD_ENOMEM;
    ans->ttl = UINT32_MAX;
    for (uint32_t k = n->first; k < n->first + n->nrr; k++) {
        const zone_rr *r = &z->rr[k];
        if (r->type != qtype)
            continue;
        int rc = fill_rr(z, r, &ans->rr[ans->nrr++]);
        if (rc == HD_ESYNTAX) {
            char what[32];
            snprintf(what, sizeof what, "the %s target", hd_dns_type_name(r->type));
            untextable(z, r->data_off, r->data_len, what, ans);
            return 1;
        }
        if (rc != 0)
            return rc;
        if (r->ttl < ans->ttl)
            ans->ttl = r->ttl;
    }
    hd_dns__answer_status(ans, HD_DNS_OK, 0, NULL);
    return 1;
}

/* Follow the node's CNAME: the next name to look up (wire form) becomes
 * the target, which is also the answer's canonical name. 0: followed; 1:
 * the answer is made (ERROR: the target cannot be written as text); or
 * HD_ENOMEM. */
static int follow_cname(const zone *z, const zone_node *n, hd_dns_answer *ans, uint8_t *cur,
                        size_t *cur_len)
{
    const zone_rr *c = &z->rr[n->first]; /* a CNAME is alone at its name */
    free(ans->canonname);
    ans->canonname = NULL;
    int rc = pool_name_text(z, c->data_off, c->data_len, &ans->canonname);
    if (rc == HD_ESYNTAX) {
        untextable(z, c->data_off, c->data_len, "the CNAME target", ans);
        return 1;
    }
    if (rc != 0)
        return rc;
    memcpy(cur, z->pool.p + c->data_off, c->data_len);
    *cur_len = c->data_len;
    return 0;
}

/* What a node without records of qtype (and no CNAME to follow) answers. */
static void no_records(const zone_node *n, const uint8_t *cur, size_t cur_len,
                       hd_dns_answer *ans)
{
    char name[ZONE_NAME_TEXT];
    if (n->flags & (ZN_TIMEOUT | ZN_SERVFAIL))
        hd_dns__zone_name_text(cur, cur_len, name, sizeof name);
    if (n->flags & ZN_TIMEOUT)
        hd_dns__answer_status(ans, HD_DNS_TIMEOUT, -1, "zone fixture: %s is marked TIMEOUT",
                              name);
    else if (n->flags & ZN_SERVFAIL)
        hd_dns__answer_status(ans, HD_DNS_SERVFAIL, 2, "zone fixture: %s is marked SERVFAIL",
                              name);
    else
        hd_dns__answer_status(ans, HD_DNS_NODATA, 0, NULL);
}

static int lookup(const zone *z, const char *qname, uint16_t qtype, hd_dns_answer *ans)
{
    uint8_t cur[ZONE_WIRE_MAX];
    size_t cur_len;
    if (!query_wire(qname, cur, &cur_len)) {
        hd_dns__answer_status(ans, HD_DNS_ERROR, -1, "zone fixture: bad name %s", qname);
        return 0;
    }
    for (int links = 0;; links++) {
        long idx = find_node(z, cur, cur_len);
        if (idx < 0) {
            hd_dns__answer_status(ans, HD_DNS_NXDOMAIN, 3, NULL);
            return 0;
        }
        const zone_node *n = &z->node[idx];
        int rc = take_rrset(z, n, qtype, ans);
        if (rc != 0)
            return rc < 0 ? rc : 0;
        if (!(n->flags & ZN_CNAME) || qtype == HD_DNS_T_CNAME) {
            no_records(n, cur, cur_len, ans);
            return 0;
        }
        if (links == HD_LIMIT_DNS_CNAME_CHAIN) {
            free(ans->canonname); /* a failed chain has no canonical name */
            ans->canonname = NULL;
            hd_dns__answer_status(ans, HD_DNS_SERVFAIL, 2,
                                  "CNAME chain from %s is longer than %d links (a loop?)",
                                  qname, HD_LIMIT_DNS_CNAME_CHAIN);
            return 0;
        }
        rc = follow_cname(z, n, ans, cur, &cur_len);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
}

/* The back end ----------------------------------------------------------- */

static int zone_submit(hd_dns *dns, hd_dns_job *job, hd_err *err)
{
    const zone *z = hd_dns__impl(dns);
    hd_dns_answer *ans = hd_dns__answer_new(job->qname, job->qtype);
    if (ans != NULL && lookup(z, job->qname, job->qtype, ans) != 0) {
        hd_dns_answer_free(ans);
        ans = NULL; /* delivered as an out-of-memory ERROR */
    }
    hd_dns__complete(dns, job, ans);
    return 0;
}

static int zone_fd(const hd_dns *dns)
{
    return -1;
}

static long zone_next_timeout(const hd_dns *dns, uint64_t now_ms)
{
    return -1; /* nothing is ever outstanding: answers are ready at submit */
}

static int zone_process(hd_dns *dns, uint64_t now_ms, hd_err *err)
{
    return 0;
}

static int zone_block(hd_dns *dns, long timeout_ms, hd_err *err)
{
    return hd_err_set(err, HD_ESTATE, "dns: the zone fixture has nothing to wait for");
}

static void zone_free(void *impl)
{
    zone *z = impl;
    if (z == NULL)
        return;
    hd_dns__zone_release(z);
    free(z);
}

static const hd_dns_backend zone_backend = {
    .name = "zone fixture",
    .submit = zone_submit,
    .fd = zone_fd,
    .next_timeout_ms = zone_next_timeout,
    .process = zone_process,
    .block = zone_block,
    .free = zone_free,
};

int hd_dns_new_zone_text(hd_dns **out, hd_slice text, const char *source, hd_err *err)
{
    *out = NULL;
    if (source == NULL)
        source = "<zone>";
    if (text.len > HD_LIMIT_ZONE_BYTES)
        return hd_err_set(err, HD_ELIMIT, "%s: zone is %zu bytes, more than the limit of %u",
                          source, text.len, HD_LIMIT_ZONE_BYTES);
    zone *z = malloc(sizeof *z);
    if (z == NULL)
        return hd_err_set(err, HD_ENOMEM, "%s: out of memory", source);
    hd_dns__zone_init(z, source, err);
    int rc = hd_dns__zone_parse(z, text);
    z->source = NULL; /* borrowed only while parsing */
    z->err = NULL;
    if (rc != 0) {
        zone_free(z);
        return rc;
    }
    return hd_dns__new(out, &zone_backend, z, err);
}

/* Read at most max bytes of path; more is HD_ELIMIT. */
static int read_bounded(const char *path, size_t max, hd_buf *out, hd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    hd_buf_init(out, max);
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = hd_buf_append(out, chunk, n);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (rc == HD_ELIMIT)
        rc = hd_err_set(err, rc, "%s: zone is larger than the limit of %zu bytes", path, max);
    else if (rc != 0)
        rc = hd_err_set(err, rc, "%s: out of memory", path);
    else if (failed)
        rc = hd_err_set(err, HD_EIO, "%s: read error", path);
    if (rc != 0)
        hd_buf_free(out);
    return rc;
}

int hd_dns_new_zone_file(hd_dns **out, const char *path, hd_err *err)
{
    *out = NULL;
    hd_buf text;
    int rc = read_bounded(path, HD_LIMIT_ZONE_BYTES, &text, err);
    if (rc != 0)
        return rc;
    rc = hd_dns_new_zone_text(out, hd_buf_slice(&text), path, err);
    hd_buf_free(&text);
    return rc;
}
