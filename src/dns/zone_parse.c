/*
 * zone_parse.c - the zone fixture's text syntax (docs/zone-format.md): RFC
 * 1035 §5.1 master-file lines, one record a line.
 *
 *   [OWNER] [TTL] [IN] TYPE RDATA    ; comment
 *   $TTL N
 *
 * A line that starts with a blank reuses the previous owner (RFC 1035
 * §5.1); parentheses continue a record over several lines. Names are
 * absolute whether or not they end in a dot, so $ORIGIN, '@' and relative
 * names are refused rather than guessed at. Types: A, AAAA, MX, TXT, PTR,
 * CNAME, NS, SPF (type 99, TXT's layout) and the pseudo-types TIMEOUT and
 * SERVFAIL.
 *
 * Names and strings take the §5.1 escapes: \X is the character X itself
 * (so "\." is a dot inside a label and "\ " a blank), \DDD the octet with
 * that decimal value. Names are decoded to wire form (zone_int.h), and
 * their limits (RFC 1035 §2.3.4) are counted on the decoded octets.
 *
 * A cursor walks the text once; tokens are slices into it, escapes still
 * in place. The first error stops the parse with "SOURCE:LINE: what was
 * wrong".
 */
#include "dns/zone_int.h"

#include <arpa/inet.h>
#include <string.h>

/* Default TTL before any $TTL line. */
#define ZP_DEFAULT_TTL 300u
/* RFC 2181 §8: a TTL is an unsigned 31-bit number. */
#define ZP_TTL_MAX 2147483647u
/* RFC 1035 §3.3: a <character-string> holds at most 255 octets. */
#define ZP_TXT_STRING_MAX 255
/* RFC 1035 §3.2.1: RDLENGTH is 16 bits. */
#define ZP_RDATA_MAX 65535u
/* How much of an offending token a message quotes. */
#define ZP_SHOW 60

typedef enum { TK_WORD, TK_QUOTED, TK_END } tk_kind;

typedef struct token {
    tk_kind kind;
    hd_slice s;    /* WORD: the word; QUOTED: between the quotes, escapes kept */
    uint32_t line;
} token;

typedef struct zp {
    zone *z;
    const uint8_t *p;
    size_t len, i;
    uint32_t line;       /* line of p[i] */
    int paren;           /* open '(' */
    uint32_t paren_line; /* where the outermost '(' was opened */
    uint32_t ttl;        /* from $TTL */
    uint8_t owner[ZONE_WIRE_MAX]; /* wire form, lower case */
    size_t owner_len;
    bool have_owner;
} zp;

#define SHOW(s) (int)((s).len > ZP_SHOW ? ZP_SHOW : (s).len), (const char *)(s).p

/* Tokens ----------------------------------------------------------------- */

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static bool is_delim(uint8_t c)
{
    return is_blank(c) || c == '\n' || c == ';' || c == '(' || c == ')' || c == '"';
}

static bool is_control(uint8_t c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_line_end(const zp *c, size_t j)
{
    return j >= c->len || c->p[j] == '\n' ||
           (c->p[j] == '\r' && (j + 1 == c->len || c->p[j + 1] == '\n'));
}

/* How far the byte at j takes the scan: 2 for a backslash and the character
 * it escapes, else 1. A backslash at the end of a line escapes nothing (the
 * decoder then reports it); an escaped control character is refused like a
 * bare one. */
static int scan_step(zp *c, size_t j, const char *where, size_t *step)
{
    uint8_t b = c->p[j];
    bool escapes = b == '\\' && !is_line_end(c, j + 1);
    if (escapes)
        b = c->p[j + 1];
    if (is_control(b))
        return hd_dns__zone_syntax(c->z, c->line, "control character 0x%02x%s (write it as "
                                   "\\DDD)", b, where);
    *step = escapes ? 2 : 1;
    return 0;
}

static int scan_quoted(zp *c, token *t)
{
    size_t j = c->i + 1;
    while (j < c->len && c->p[j] != '"') {
        if (is_line_end(c, j))
            break;
        size_t step;
        int rc = scan_step(c, j, " in a quoted string", &step);
        if (rc != 0)
            return rc;
        j += step;
    }
    if (j >= c->len || c->p[j] != '"')
        return hd_dns__zone_syntax(c->z, c->line, "unterminated quoted string");
    t->kind = TK_QUOTED;
    t->s = hd_slice_make(c->p + c->i + 1, j - c->i - 1);
    t->line = c->line;
    c->i = j + 1;
    if (c->i < c->len && !is_delim(c->p[c->i]))
        return hd_dns__zone_syntax(c->z, c->line, "expected a space after the closing quote");
    return 0;
}

static int scan_word(zp *c, token *t)
{
    size_t j = c->i;
    while (j < c->len && !is_delim(c->p[j])) {
        size_t step;
        int rc = scan_step(c, j, "", &step);
        if (rc != 0)
            return rc;
        j += step;
    }
    t->kind = TK_WORD;
    t->s = hd_slice_make(c->p + c->i, j - c->i);
    t->line = c->line;
    c->i = j;
    return 0;
}

/* The next token of the current record; TK_END at the end of the line
 * (outside parentheses) or of the text. */
static int next_token(zp *c, token *t)
{
    for (;;) {
        while (c->i < c->len && is_blank(c->p[c->i]))
            c->i++;
        if (c->i >= c->len) {
            if (c->paren > 0)
                return hd_dns__zone_syntax(c->z, c->paren_line, "'(' is never closed");
            *t = (token){TK_END, HD_SLICE_NULL, c->line};
            return 0;
        }
        uint8_t b = c->p[c->i];
        if (b == ';') { /* comment to the end of the line */
            while (c->i < c->len && c->p[c->i] != '\n')
                c->i++;
        } else if (b == '\n') {
            c->i++;
            c->line++;
            if (c->paren == 0) {
                *t = (token){TK_END, HD_SLICE_NULL, c->line - 1};
                return 0;
            }
        } else if (b == '(') {
            if (c->paren++ == 0)
                c->paren_line = c->line;
            c->i++;
        } else if (b == ')') {
            if (c->paren == 0)
                return hd_dns__zone_syntax(c->z, c->line, "')' without '('");
            c->paren--;
            c->i++;
        } else if (b == '"') {
            return scan_quoted(c, t);
        } else {
            return scan_word(c, t);
        }
    }
}

/* Skip the rest of a line after an error-free record: expect its end. */
static int expect_end(zp *c, const char *what)
{
    token t;
    int rc = next_token(c, &t);
    if (rc != 0)
        return rc;
    if (t.kind != TK_END)
        return hd_dns__zone_syntax(c->z, t.line, "unexpected \"%.*s\" after %s", SHOW(t.s),
                                   what);
    return 0;
}

/* Values ----------------------------------------------------------------- */

static bool parse_uint(hd_slice s, uint32_t max, uint32_t *out)
{
    if (s.len == 0 || s.len > 10)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.p[i] - '0');
    }
    if (v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool all_digits(hd_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return s.len > 0;
}

/* Escapes and names ------------------------------------------------------ */

typedef enum { ESC_OK, ESC_LONE, ESC_DIGITS, ESC_RANGE } esc_result;

/* RFC 1035 §5.1: the escape whose backslash is at s.p[*i]. "\X" is X for
 * any X but a digit; "\DDD" is the octet of the decimal value DDD, exactly
 * three digits, at most 255. On ESC_OK *out is the octet and *i is past the
 * escape; otherwise *i is left on the backslash. */
static esc_result unescape(hd_slice s, size_t *i, uint8_t *out)
{
    size_t at = *i + 1;
    if (at >= s.len)
        return ESC_LONE;
    uint8_t b = s.p[at];
    if (b < '0' || b > '9') {
        *out = b;
        *i = at + 1;
        return ESC_OK;
    }
    uint32_t v;
    if (at + 3 > s.len || !all_digits(hd_slice_make(s.p + at, 3)))
        return ESC_DIGITS;
    if (!parse_uint(hd_slice_make(s.p + at, 3), 255, &v))
        return ESC_RANGE;
    *out = (uint8_t)v;
    *i = at + 3;
    return ESC_OK;
}

/* The message for a bad escape at s.p[at] (the backslash) in token t. */
static int escape_error(zp *c, const token *t, size_t at, esc_result e)
{
    hd_slice s = t->s;
    if (e == ESC_LONE) { /* show the end, where the backslash is */
        size_t show = s.len > ZP_SHOW ? ZP_SHOW : s.len;
        return hd_dns__zone_syntax(c->z, t->line,
                                   "\"%s%.*s\" ends in a lone backslash (write \\\\ for a "
                                   "backslash)", show < s.len ? "..." : "", (int)show,
                                   (const char *)s.p + s.len - show);
    }
    size_t digits = 0;
    while (digits < 3 && at + 1 + digits < s.len && s.p[at + 1 + digits] >= '0' &&
           s.p[at + 1 + digits] <= '9')
        digits++;
    if (e == ESC_DIGITS)
        return hd_dns__zone_syntax(c->z, t->line,
                                   "bad escape \"\\%.*s\" in \"%.*s\": \\DDD needs exactly "
                                   "three digits", (int)digits, (const char *)s.p + at + 1,
                                   SHOW(s));
    return hd_dns__zone_syntax(c->z, t->line,
                               "bad escape \"\\%.3s\" in \"%.*s\": \\DDD is a byte value, "
                               "at most 255", (const char *)s.p + at + 1, SHOW(s));
}

/* The raw text of a label, for messages: at most ZP_SHOW characters, then
 * "..." if there was more. */
#define SHOW_AT(s, from, to)                                                     \
    (int)((to) - (from) > ZP_SHOW ? ZP_SHOW : (to) - (from)),                    \
        (const char *)(s).p + (from), (to) - (from) > ZP_SHOW ? "..." : ""

/* Close the label that began at text offset from (its length octet at
 * wire[lab]): RFC 1035 §2.3.4, 1 to 63 octets once decoded. */
static int end_label(zp *c, const token *t, size_t from, size_t to, size_t llen,
                     uint8_t *wire, size_t lab)
{
    if (llen == 0)
        return hd_dns__zone_syntax(c->z, t->line, "empty label in \"%.*s\"", SHOW(t->s));
    if (llen > 63)
        return hd_dns__zone_syntax(c->z, t->line,
                                   "label \"%.*s%s\" is longer than 63 octets (%zu)",
                                   SHOW_AT(t->s, from, to), llen);
    if (lab < ZONE_WIRE_MAX)
        wire[lab] = (uint8_t)llen;
    return 0;
}

/* A <domain-name> token (RFC 1035 §5.1), absolute whether or not it ends
 * in '.', decoded to wire form without the root octet (zone_int.h). An
 * unescaped '.' ends a label; "\." and "\046" are a dot inside one. The
 * name is at most 253 octets counting the labels and one dot between each
 * two (255 in wire form with the root, RFC 1035 §2.3.4). */
static int parse_name(zp *c, const token *t, bool allow_root, uint8_t *wire, size_t *wire_len)
{
    hd_slice s = t->s;
    if (t->kind == TK_QUOTED)
        return hd_dns__zone_syntax(c->z, t->line, "a name cannot be quoted: \"%.*s\"",
                                   SHOW(s));
    if (hd_slice_eq_cstr(s, "@"))
        return hd_dns__zone_syntax(c->z, t->line,
                                   "'@' (the origin) is not supported: write the full name");
    if (hd_slice_eq_cstr(s, ".")) {
        *wire_len = 0;
        return allow_root ? 0 : hd_dns__zone_syntax(c->z, t->line, "empty name");
    }
    size_t n = 1, lab = 0, llen = 0, from = 0; /* n counts octets, stored or not */
    bool closed = false; /* the last label ended at a trailing dot */
    for (size_t i = 0; i < s.len;) {
        uint8_t b = s.p[i];
        if (b == '.') {
            int rc = end_label(c, t, from, i, llen, wire, lab);
            if (rc != 0)
                return rc;
            i++;
            closed = i == s.len;
            if (closed)
                break; /* the trailing dot */
            lab = n++;
            llen = 0;
            from = i;
            continue;
        }
        if (b == '\\') {
            size_t at = i;
            esc_result e = unescape(s, &i, &b);
            if (e != ESC_OK)
                return escape_error(c, t, at, e);
        } else {
            i++;
        }
        if (n < ZONE_WIRE_MAX)
            wire[n] = b;
        n++;
        llen++;
    }
    if (!closed) {
        int rc = end_label(c, t, from, s.len, llen, wire, lab);
        if (rc != 0)
            return rc;
    }
    if (n > ZONE_WIRE_MAX)
        return hd_dns__zone_syntax(c->z, t->line, "name \"%.*s\" is longer than %d octets "
                                   "(%zu)", SHOW(s), HD_LIMIT_DNS_NAME, n - 1);
    *wire_len = n;
    return 0;
}

/* Append one <character-string> to the pool, undoing RFC 1035 §5.1
 * escapes: \X is X, \DDD is the octet with that decimal value. */
static int decode_string(zp *c, const token *t, size_t *out_len)
{
    uint8_t buf[ZP_TXT_STRING_MAX];
    size_t n = 0;
    for (size_t i = 0; i < t->s.len;) {
        uint8_t b = t->s.p[i];
        if (b == '\\') {
            size_t at = i;
            esc_result e = unescape(t->s, &i, &b);
            if (e != ESC_OK)
                return escape_error(c, t, at, e);
        } else {
            i++;
        }
        if (n == ZP_TXT_STRING_MAX)
            return hd_dns__zone_syntax(c->z, t->line,
                                       "TXT string longer than %d bytes: split it into "
                                       "several quoted strings", ZP_TXT_STRING_MAX);
        buf[n++] = b;
    }
    uint32_t off;
    int rc = hd_dns__zone_pool_add(c->z, buf, n, &off);
    if (rc != 0)
        return rc;
    *out_len = n;
    return 0;
}

/* Record data ------------------------------------------------------------ */

static int need_data(zp *c, const token *t, const char *what)
{
    if (t->kind == TK_END)
        return hd_dns__zone_syntax(c->z, t->line, "missing data: %s", what);
    return 0;
}

static int rdata_addr(zp *c, zone_rr *rr, int af)
{
    token t;
    const char *what = af == AF_INET ? "A needs an IPv4 address" : "AAAA needs an IPv6 address";
    int rc = next_token(c, &t);
    if (rc == 0)
        rc = need_data(c, &t, what);
    if (rc != 0)
        return rc;
    char text[64];
    if (t.kind != TK_WORD || t.s.len >= sizeof text)
        return hd_dns__zone_syntax(c->z, t.line, "bad %s address \"%.*s\"",
                                   af == AF_INET ? "IPv4" : "IPv6", SHOW(t.s));
    memcpy(text, t.s.p, t.s.len);
    text[t.s.len] = '\0';
    if (inet_pton(af, text, rr->addr) != 1)
        return hd_dns__zone_syntax(c->z, t.line, "bad %s address \"%s\"",
                                   af == AF_INET ? "IPv4" : "IPv6", text);
    return expect_end(c, "the address");
}

static int rdata_target(zp *c, zone_rr *rr, const char *what, bool allow_root)
{
    token t;
    int rc = next_token(c, &t);
    if (rc == 0)
        rc = need_data(c, &t, what);
    uint8_t wire[ZONE_WIRE_MAX];
    size_t len = 0;
    if (rc == 0)
        rc = parse_name(c, &t, allow_root, wire, &len);
    if (rc == 0)
        rc = hd_dns__zone_pool_add(c->z, wire, len, &rr->data_off);
    if (rc != 0)
        return rc;
    rr->data_len = (uint32_t)len;
    return expect_end(c, "the name");
}

static int rdata_mx(zp *c, zone_rr *rr)
{
    token t;
    int rc = next_token(c, &t);
    if (rc == 0)
        rc = need_data(c, &t, "MX needs a preference and a mail exchanger");
    if (rc != 0)
        return rc;
    uint32_t pref;
    if (t.kind != TK_WORD || !parse_uint(t.s, 65535, &pref))
        return hd_dns__zone_syntax(c->z, t.line, "bad MX preference \"%.*s\" (0 to 65535)",
                                   SHOW(t.s));
    rr->pref = (uint16_t)pref;
    /* RFC 7505: "0 ." is a null MX, so the root is a valid exchanger. */
    return rdata_target(c, rr, "MX needs a mail exchanger after the preference", true);
}

/* RFC 1035 §3.3.14: <character-string>s, joined in the pool. RFC 1035
 * asks for one or more, but a record of none (RDLENGTH 0) is served by real
 * servers and is not the same as no record: the name exists, and its TXT
 * RRset holds a record with no text. It is kept with txt_strings 0, apart
 * from one empty string ("", txt_strings 1). */
static int rdata_txt(zp *c, zone_rr *rr)
{
    rr->data_off = (uint32_t)c->z->pool.len;
    size_t wire = 0;
    for (;;) {
        token t;
        int rc = next_token(c, &t);
        if (rc != 0 || t.kind == TK_END)
            return rc;
        size_t n = 0;
        rc = decode_string(c, &t, &n);
        if (rc != 0)
            return rc;
        wire += 1 + n;
        if (wire > ZP_RDATA_MAX)
            return hd_dns__zone_syntax(c->z, t.line, "TXT record longer than %u bytes",
                                       ZP_RDATA_MAX);
        rr->data_len += (uint32_t)n;
        rr->txt_strings++;
    }
}

/* Records ---------------------------------------------------------------- */

static const struct {
    const char *name;
    uint16_t type; /* 0 for the pseudo-types */
    uint8_t flag;
} zp_types[] = {
    {"A", HD_DNS_T_A, 0},         {"AAAA", HD_DNS_T_AAAA, 0},
    {"MX", HD_DNS_T_MX, 0},       {"TXT", HD_DNS_T_TXT, 0},
    {"PTR", HD_DNS_T_PTR, 0},     {"CNAME", HD_DNS_T_CNAME, 0},
    {"NS", HD_DNS_T_NS, 0},       {"SPF", HD_DNS_T_SPF, 0},
    {"TIMEOUT", 0, ZN_TIMEOUT},
    {"SERVFAIL", 0, ZN_SERVFAIL},
};

static int rdata(zp *c, zone_rr *rr)
{
    switch (rr->type) {
    case HD_DNS_T_A: return rdata_addr(c, rr, AF_INET);
    case HD_DNS_T_AAAA: return rdata_addr(c, rr, AF_INET6);
    case HD_DNS_T_MX: return rdata_mx(c, rr);
    case HD_DNS_T_TXT:
    case HD_DNS_T_SPF: return rdata_txt(c, rr);
    case HD_DNS_T_PTR: return rdata_target(c, rr, "PTR needs a name", false);
    case HD_DNS_T_CNAME: return rdata_target(c, rr, "CNAME needs a name", false);
    case HD_DNS_T_NS: return rdata_target(c, rr, "NS needs a name", false);
    }
    return hd_dns__zone_syntax(c->z, rr->line, "internal: no parser for type %u", rr->type);
}

static bool is_class(hd_slice s)
{
    static const char *const classes[] = {"CH", "HS", "CS", "NONE", "ANY"};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (hd_slice_caseeq_cstr(s, classes[i]))
            return true;
    return s.len > 5 && hd_slice_caseeq_cstr(hd_slice_make(s.p, 5), "CLASS");
}

/* RFC 1035 §5.1: [<TTL>] [<class>] or [<class>] [<TTL>] before the type. */
static int ttl_and_class(zp *c, token *t, uint32_t *ttl)
{
    bool have_ttl = false, have_class = false;
    for (;;) {
        if (t->kind != TK_WORD)
            return 0;
        if (!have_ttl && all_digits(t->s)) {
            if (!parse_uint(t->s, ZP_TTL_MAX, ttl))
                return hd_dns__zone_syntax(c->z, t->line, "TTL %.*s is larger than %u",
                                           SHOW(t->s), ZP_TTL_MAX);
            have_ttl = true;
        } else if (!have_class && hd_slice_caseeq_cstr(t->s, "IN")) {
            have_class = true;
        } else if (!have_class && is_class(t->s)) {
            return hd_dns__zone_syntax(c->z, t->line, "class %.*s is not supported (only IN)",
                                       SHOW(t->s));
        } else {
            return 0;
        }
        int rc = next_token(c, t);
        if (rc != 0)
            return rc;
    }
}

static int record(zp *c, token *t)
{
    hd_slice owner = hd_slice_make(c->owner, c->owner_len);
    zone_rr rr = {0};
    rr.ttl = c->ttl;
    rr.line = t->line;
    int rc = ttl_and_class(c, t, &rr.ttl);
    if (rc != 0)
        return rc;
    if (t->kind == TK_END) {
        char name[ZONE_NAME_TEXT];
        return hd_dns__zone_syntax(c->z, t->line, "missing type after \"%s\"",
                                   hd_dns__zone_name_text(c->owner, c->owner_len, name,
                                                          sizeof name));
    }
    size_t k = 0, ntypes = sizeof zp_types / sizeof zp_types[0];
    while (k < ntypes && !hd_slice_caseeq_cstr(t->s, zp_types[k].name))
        k++;
    if (t->kind != TK_WORD || k == ntypes)
        return hd_dns__zone_syntax(c->z, t->line, "unknown type \"%.*s\"", SHOW(t->s));
    if (zp_types[k].flag != 0) {
        rc = expect_end(c, zp_types[k].name);
        return rc != 0 ? rc : hd_dns__zone_add_pseudo(c->z, owner, zp_types[k].flag, rr.line);
    }
    rr.type = zp_types[k].type;
    rc = rdata(c, &rr);
    return rc != 0 ? rc : hd_dns__zone_add_rr(c->z, owner, &rr);
}

static int directive(zp *c, const token *t)
{
    if (hd_slice_caseeq_cstr(t->s, "$TTL")) { /* RFC 2308 §4 */
        token v;
        int rc = next_token(c, &v);
        if (rc == 0)
            rc = need_data(c, &v, "$TTL needs a number of seconds");
        if (rc != 0)
            return rc;
        if (v.kind != TK_WORD || !parse_uint(v.s, ZP_TTL_MAX, &c->ttl))
            return hd_dns__zone_syntax(c->z, v.line, "bad $TTL \"%.*s\" (0 to %u seconds)",
                                       SHOW(v.s), ZP_TTL_MAX);
        return expect_end(c, "the $TTL value");
    }
    if (hd_slice_caseeq_cstr(t->s, "$ORIGIN") || hd_slice_caseeq_cstr(t->s, "$INCLUDE") ||
        hd_slice_caseeq_cstr(t->s, "$GENERATE"))
        return hd_dns__zone_syntax(c->z, t->line,
                                   "%.*s is not supported: names in the fixture are absolute "
                                   "and it is one file", SHOW(t->s));
    return hd_dns__zone_syntax(c->z, t->line, "unknown directive \"%.*s\"", SHOW(t->s));
}

static int set_owner(zp *c, const token *t)
{
    uint8_t wire[ZONE_WIRE_MAX];
    size_t len;
    int rc = parse_name(c, t, false, wire, &len);
    if (rc != 0)
        return rc;
    /* RFC 4592 wildcards would need synthesis; refuse rather than store a
     * literal '*' that would never match what the writer meant. The
     * asterisk label is one octet '*' (§2.1.1), so "\*" and "\042" are
     * wildcards too. */
    if (wire[0] == 1 && wire[1] == '*')
        return hd_dns__zone_syntax(c->z, t->line, "wildcard names are not supported: %.*s",
                                   SHOW(t->s));
    /* Owners are kept with ASCII letters in lower case (RFC 4343); length
     * octets are under 64, so no letter. */
    for (size_t i = 0; i < len; i++)
        c->owner[i] = (wire[i] >= 'A' && wire[i] <= 'Z') ? (uint8_t)(wire[i] + 32) : wire[i];
    c->owner_len = len;
    c->have_owner = true;
    return 0;
}

/* One line (or parenthesised group of lines). */
static int line(zp *c)
{
    bool indented = is_blank(c->p[c->i]);
    token t;
    int rc = next_token(c, &t);
    if (rc != 0 || t.kind == TK_END)
        return rc; /* blank or comment-only line */
    if (!indented) {
        if (t.kind == TK_WORD && t.s.p[0] == '$')
            return directive(c, &t);
        rc = set_owner(c, &t);
        if (rc == 0)
            rc = next_token(c, &t);
        if (rc != 0)
            return rc;
    } else if (!c->have_owner) {
        return hd_dns__zone_syntax(c->z, t.line,
                                   "line starts with a blank but there is no previous name "
                                   "to repeat");
    }
    return record(c, &t);
}

int hd_dns__zone_parse(zone *z, hd_slice text)
{
    zp c = {.z = z, .p = text.p, .len = text.len, .line = 1, .ttl = ZP_DEFAULT_TTL};
    while (c.i < c.len) {
        int rc = line(&c);
        if (rc != 0)
            return rc;
    }
    return hd_dns__zone_finish(z);
}
