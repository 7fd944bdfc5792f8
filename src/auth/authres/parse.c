/*
 * parse.c - Authentication-Results (RFC 8601 §2.2) and
 * ARC-Authentication-Results (RFC 8617 §4.1.1) field values.
 *
 * Shape: a cursor over (pointer, length) with small readers that advance
 * it on success: CFWS (whitespace, folding, nested comments), keywords,
 * MIME values (token / quoted-string), property values. One pass, no
 * recursion, no backtracking beyond one token (to notice a value that
 * begins with "method=" instead of an authserv-id).
 *
 * Ownership: the value is borrowed for the call only. Every reported
 * string lives in one arena allocated once, at 2 * len + 1 bytes: each
 * string comes from its own disjoint span of the value, and its copy plus
 * its NUL never takes more than twice that span (empty strings point to a
 * static ""), so the arena never moves and pointers into it stay valid.
 * Results live in the hd_authres; properties in one array bounded by
 * HD_AUTHRES_MAX_RESULTS * HD_AUTHRES_MAX_PROPS.
 *
 * Invariants: no reported string holds CR, LF or NUL (a NUL anywhere is
 * refused; folding is removed); method, result, ptype and property are
 * lowercased (they are case-insensitive keywords, RFC 8601 §2.2 / RFC
 * 5321 §4.1.2); errors give the byte offset in the value.
 */
#include <herald/authres.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hd_authres {
    char *arena;
    size_t arena_len, arena_cap;
    bool overflow; /* the arena bound was wrong: reported, never written */
    const char *authserv_id;
    unsigned version;
    bool none;
    unsigned quirks;
    hd_authres_result res[HD_AUTHRES_MAX_RESULTS];
    size_t prop_first[HD_AUTHRES_MAX_RESULTS]; /* index into props */
    size_t n;
    hd_authres_prop *props;
    size_t nprops, props_cap;
};

typedef struct ar_parser {
    const uint8_t *p;
    size_t len, pos;
    hd_authres *ar;
    hd_err *err;
} ar_parser;

static const char empty_str[] = "";

/* Character classes -------------------------------------------------------- */

static bool is_alnum(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5321 §4.1.2 Keyword (Ldh-str), with '_' tolerated. */
static bool is_keyword(uint8_t c)
{
    return is_alnum(c) || c == '-' || c == '_';
}

/* RFC 2045 §5.1 token: CHAR except SPACE, CTLs and tspecials; 8-bit bytes
 * are allowed for EAI (RFC 8601 §2.5, RFC 6532). */
static bool is_token(uint8_t c)
{
    return c > 0x20 && c != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A bare property value, tolerantly: what MIME tokens and RFC 5322
 * addresses allow, plus the tspecials real fields leave unquoted
 * (header.b=a/b+c=, policy.iprev=2001:db8::1, smtp.mailfrom=<>). It stops
 * at whitespace, ';', a comment or a quote. */
static bool is_pvalue(uint8_t c)
{
    return c > 0x20 && c != 0x7f && strchr("();\"\\", c) == NULL;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Cursor basics ------------------------------------------------------------ */

static int syntax(ar_parser *ps, size_t off, const char *what)
{
    return hd_err_set(ps->err, HD_ESYNTAX, "offset %zu: %s", off, what);
}

static int peek(const ar_parser *ps)
{
    return ps->pos < ps->len ? ps->p[ps->pos] : -1;
}

/* The arena: strings are written byte by byte, then closed. */
static size_t str_begin(const ar_parser *ps)
{
    return ps->ar->arena_len;
}

static void str_put(ar_parser *ps, uint8_t c)
{
    hd_authres *ar = ps->ar;
    if (ar->arena_len + 1 >= ar->arena_cap) {
        ar->overflow = true;
        return;
    }
    ar->arena[ar->arena_len++] = (char)c;
}

static const char *str_end(ar_parser *ps, size_t start, bool lower)
{
    hd_authres *ar = ps->ar;
    if (ar->arena_len == start || ar->overflow)
        return empty_str;
    char *s = ar->arena + start;
    if (lower)
        for (char *q = s; q < ar->arena + ar->arena_len; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
    ar->arena[ar->arena_len++] = '\0';
    return s;
}

static const char *copy_span(ar_parser *ps, size_t from, size_t to, bool lower)
{
    size_t s = str_begin(ps);
    for (size_t i = from; i < to; i++)
        if (ps->p[i] != '\r' && ps->p[i] != '\n')
            str_put(ps, ps->p[i]);
    return str_end(ps, s, lower);
}

/* CFWS (RFC 5322 §3.2.2) ---------------------------------------------------- */

/* A line end at pos: folding when WSP follows, allowed at the very end of
 * the value (the field's own CRLF); anything else is refused. */
static int skip_eol(ar_parser *ps)
{
    size_t at = ps->pos;
    size_t n = 1;
    if (ps->p[at] == '\r') {
        if (at + 1 >= ps->len || ps->p[at + 1] != '\n')
            return syntax(ps, at, "CR not followed by LF");
        n = 2;
    }
    if (at + n == ps->len || ps->p[at + n] == ' ' || ps->p[at + n] == '\t') {
        ps->pos = at + n;
        return 0;
    }
    return syntax(ps, at, "line end not followed by whitespace (not folding)");
}

/* The inside of a comment or quoted string: a quoted-pair, a folding or
 * one byte; writes to the arena when keep. Returns 0 and advances. */
static int step_inner(ar_parser *ps, bool keep, size_t open, const char *what)
{
    uint8_t c = ps->p[ps->pos];
    if (c == '\0')
        return syntax(ps, ps->pos, "NUL byte");
    if (c == '\r' || c == '\n')
        return skip_eol(ps);
    if (c == '\\') {
        if (ps->pos + 1 >= ps->len)
            return hd_err_set(ps->err, HD_ESYNTAX, "offset %zu: unterminated %s", open, what);
        c = ps->p[ps->pos + 1];
        if (c == '\0' || c == '\r' || c == '\n')
            return syntax(ps, ps->pos + 1, "control byte in a quoted-pair");
        ps->pos++;
    }
    if (keep)
        str_put(ps, c);
    ps->pos++;
    return 0;
}

/* A comment at '(' (nested, with quoted-pairs). Its text is kept in
 * *keep when keep is not NULL and *keep is still NULL. */
static int read_comment(ar_parser *ps, const char **keep)
{
    size_t open = ps->pos;
    bool capture = keep != NULL && *keep == NULL;
    size_t s = str_begin(ps);
    unsigned depth = 0;
    for (;;) {
        if (ps->pos >= ps->len)
            return hd_err_set(ps->err, HD_ESYNTAX, "offset %zu: unterminated comment", open);
        uint8_t c = ps->p[ps->pos];
        if (c == '(') {
            if (++depth > HD_AUTHRES_MAX_COMMENT_DEPTH)
                return hd_err_set(ps->err, HD_ELIMIT, "offset %zu: comments nested deeper than %d",
                                  ps->pos, HD_AUTHRES_MAX_COMMENT_DEPTH);
            if (capture && depth > 1)
                str_put(ps, c);
            ps->pos++;
        } else if (c == ')') {
            ps->pos++;
            if (--depth == 0)
                break;
            if (capture)
                str_put(ps, c);
        } else {
            int rc = step_inner(ps, capture, open, "comment");
            if (rc != 0)
                return rc;
        }
    }
    if (capture)
        *keep = str_end(ps, s, false);
    return 0;
}

/* Skip CFWS; the first comment's text goes to *keep (see read_comment). */
static int skip_cfws(ar_parser *ps, const char **keep)
{
    while (ps->pos < ps->len) {
        uint8_t c = ps->p[ps->pos];
        int rc = 0;
        if (c == ' ' || c == '\t')
            ps->pos++;
        else if (c == '\r' || c == '\n')
            rc = skip_eol(ps);
        else if (c == '(')
            rc = read_comment(ps, keep);
        else
            return 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Tokens -------------------------------------------------------------------- */

/* A keyword at the cursor: its end, or pos itself when there is none. */
static size_t scan_keyword(const ar_parser *ps)
{
    size_t e = ps->pos;
    while (e < ps->len && is_keyword(ps->p[e]))
        e++;
    return e;
}

/* A quoted-string at '"' (RFC 5322 §3.2.4), unquoted into the arena. */
static int read_quoted(ar_parser *ps, const char **out)
{
    size_t open = ps->pos;
    size_t s = str_begin(ps);
    ps->pos++;
    for (;;) {
        if (ps->pos >= ps->len)
            return hd_err_set(ps->err, HD_ESYNTAX, "offset %zu: unterminated quoted string", open);
        if (ps->p[ps->pos] == '"') {
            ps->pos++;
            break;
        }
        int rc = step_inner(ps, true, open, "quoted string");
        if (rc != 0)
            return rc;
    }
    *out = str_end(ps, s, false);
    return 0;
}

/* Up to 9 digits (a version or an instance); false when there is none. */
static bool read_number(ar_parser *ps, unsigned *val, bool *toolong)
{
    size_t start = ps->pos;
    unsigned v = 0;
    while (ps->pos < ps->len && is_digit(ps->p[ps->pos])) {
        if (ps->pos - start < 9)
            v = v * 10 + (unsigned)(ps->p[ps->pos] - '0');
        ps->pos++;
    }
    *toolong = ps->pos - start > 9;
    *val = v;
    return ps->pos > start;
}

/* A property value (RFC 8601 §2.2 pvalue, the CFWS before it skipped):
 * quoted-string, "quoted"@domain (kept as written), or a bare run. */
static int read_pvalue(ar_parser *ps, const char **out)
{
    size_t start = ps->pos;
    if (peek(ps) == '"') {
        size_t s = str_begin(ps);
        int rc = read_quoted(ps, out);
        if (rc != 0 || peek(ps) != '@')
            return rc;
        ps->ar->arena_len = s; /* local-part@domain: keep the quotes */
    }
    while (ps->pos < ps->len && is_pvalue(ps->p[ps->pos]))
        ps->pos++;
    int c = peek(ps);
    if (c == '"')
        return syntax(ps, ps->pos, "quote inside a property value");
    if (c == '\\' || c == ')')
        return syntax(ps, ps->pos, "expected a property value");
    if (c == 0)
        return syntax(ps, ps->pos, "NUL byte");
    if (ps->pos == start)
        ps->ar->quirks |= HD_AUTHRES_Q_EMPTY_VALUE;
    *out = copy_span(ps, start, ps->pos, false);
    return 0;
}

/* resinfo (RFC 8601 §2.2) ----------------------------------------------------- */

static int add_prop(ar_parser *ps, hd_authres_result *r, size_t at, const char *ptype,
                    const char *property, const char *value, bool unparsed)
{
    hd_authres *ar = ps->ar;
    if (r->nprops == HD_AUTHRES_MAX_PROPS)
        return hd_err_set(ps->err, HD_ELIMIT, "offset %zu: more than %d properties in one result",
                          at, HD_AUTHRES_MAX_PROPS);
    if (ar->nprops == ar->props_cap) {
        size_t ncap = ar->props_cap ? ar->props_cap * 2 : 16;
        hd_authres_prop *np = realloc(ar->props, ncap * sizeof *np);
        if (np == NULL)
            return hd_err_set(ps->err, HD_ENOMEM, NULL);
        ar->props = np;
        ar->props_cap = ncap;
    }
    ar->props[ar->nprops++] = (hd_authres_prop){ptype, property, value, unparsed};
    r->nprops++;
    if (unparsed)
        ar->quirks |= HD_AUTHRES_Q_UNPARSED_PROP;
    return 0;
}

/* The properties after method=result: reason, ptype.property=pvalue, and
 * the tolerated name=value, until ';' or the end. */
static int parse_props(ar_parser *ps, hd_authres_result *r)
{
    int rc;
    for (;;) {
        if ((rc = skip_cfws(ps, r->nprops == 0 ? &r->comment : NULL)) != 0)
            return rc;
        if (ps->pos >= ps->len || ps->p[ps->pos] == ';')
            return 0;
        size_t ks = ps->pos, ke = scan_keyword(ps);
        if (ke == ks)
            return syntax(ps, ks, "expected ';' or a property");
        ps->pos = ke;
        if ((rc = skip_cfws(ps, NULL)) != 0)
            return rc;
        const char *value;
        if (peek(ps) == '.') {
            ps->pos++;
            if ((rc = skip_cfws(ps, NULL)) != 0)
                return rc;
            size_t ns = ps->pos, ne = scan_keyword(ps);
            if (ne == ns)
                return syntax(ps, ns, "expected a property name after '.'");
            ps->pos = ne;
            if ((rc = skip_cfws(ps, NULL)) != 0)
                return rc;
            if (peek(ps) != '=')
                return syntax(ps, ps->pos, "expected '=' after the property name");
            ps->pos++;
            if ((rc = skip_cfws(ps, NULL)) != 0 || (rc = read_pvalue(ps, &value)) != 0)
                return rc;
            const char *ptype = copy_span(ps, ks, ke, true);
            const char *prop = copy_span(ps, ns, ne, true);
            if ((rc = add_prop(ps, r, ks, ptype, prop, value, false)) != 0)
                return rc;
        } else if (peek(ps) == '=') {
            ps->pos++;
            if ((rc = skip_cfws(ps, NULL)) != 0)
                return rc;
            bool is_reason = ke - ks == 6 && hd_slice_caseeq_cstr(hd_slice_make(ps->p + ks, 6), "reason");
            /* §2.2 reasonspec: value = token / quoted-string */
            if ((rc = read_pvalue(ps, &value)) != 0)
                return rc;
            if (is_reason && r->reason == NULL) {
                r->reason = value;
                continue;
            }
            if (is_reason)
                ps->ar->quirks |= HD_AUTHRES_Q_DUP_REASON;
            if ((rc = add_prop(ps, r, ks, empty_str, copy_span(ps, ks, ke, true), value, true)) != 0)
                return rc;
        } else {
            return syntax(ps, ps->pos, "expected '.' or '=' after a property type");
        }
    }
}

/* One resinfo after its ';' (and CFWS): "none", or method[/v]=result and
 * its properties. */
static int parse_resinfo(ar_parser *ps)
{
    hd_authres *ar = ps->ar;
    int rc;
    size_t ms = ps->pos, me = scan_keyword(ps);
    if (me == ms)
        return syntax(ps, ms, "expected a method name");
    ps->pos = me;
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    int c = peek(ps);
    if (c != '=' && c != '/' && me - ms == 4 &&
        hd_slice_caseeq_cstr(hd_slice_make(ps->p + ms, 4), "none")) {
        if (ar->n > 0)
            return syntax(ps, ms, "'none' must be the only result");
        ar->none = true; /* §2.2 no-result */
        return 0;
    }
    if (ar->none)
        return syntax(ps, ms, "a result after 'none'");
    if (ar->n == HD_AUTHRES_MAX_RESULTS)
        return hd_err_set(ps->err, HD_ELIMIT, "offset %zu: more than %d results", ms,
                          HD_AUTHRES_MAX_RESULTS);
    hd_authres_result *r = &ar->res[ar->n];
    memset(r, 0, sizeof *r);
    r->offset = ms;
    r->method_version = 1;
    r->method = copy_span(ps, ms, me, true);
    if (c == '/') { /* §2.2 method-version */
        ps->pos++;
        if ((rc = skip_cfws(ps, NULL)) != 0)
            return rc;
        bool toolong;
        size_t vs = ps->pos;
        if (!read_number(ps, &r->method_version, &toolong))
            return syntax(ps, vs, "expected a method version after '/'");
        if (toolong)
            return syntax(ps, vs, "method version too long");
        if ((rc = skip_cfws(ps, NULL)) != 0)
            return rc;
    }
    if (peek(ps) != '=')
        return syntax(ps, ps->pos, "expected '=' after the method");
    ps->pos++;
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    size_t rs = ps->pos, re = scan_keyword(ps);
    if (re == rs)
        return syntax(ps, rs, "expected a result");
    ps->pos = re;
    r->result = copy_span(ps, rs, re, true);
    ar->prop_first[ar->n] = ar->nprops;
    ar->n++;
    return parse_props(ps, r);
}

/* authserv-id [version] (RFC 8601 §2.2, §2.5). Sets *missing when the
 * value begins with "method=" instead (seen in the wild), leaving the
 * cursor at the method. */
static int parse_authserv_id(ar_parser *ps, bool *missing)
{
    hd_authres *ar = ps->ar;
    int rc;
    *missing = false;
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    size_t start = ps->pos;
    if (peek(ps) == '"') {
        if ((rc = read_quoted(ps, &ar->authserv_id)) != 0)
            return rc;
        if (ar->authserv_id[0] == '\0')
            return syntax(ps, start, "empty authserv-id");
    } else {
        while (ps->pos < ps->len && is_token(ps->p[ps->pos]))
            ps->pos++;
        if (ps->pos == start)
            return syntax(ps, start, "expected an authserv-id");
        size_t end = ps->pos;
        bool keyword = scan_keyword(&(ar_parser){ps->p, end, start, ar, NULL}) == end;
        if ((rc = skip_cfws(ps, NULL)) != 0)
            return rc;
        if (keyword && (peek(ps) == '=' || peek(ps) == '/')) {
            *missing = true;
            ar->quirks |= HD_AUTHRES_Q_NO_AUTHSERV_ID;
            ar->authserv_id = empty_str;
            ps->pos = start;
            return 0;
        }
        ar->authserv_id = copy_span(ps, start, end, false);
    }
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    if (ps->pos < ps->len && is_digit(ps->p[ps->pos])) { /* §2.2 authres-version */
        size_t vs = ps->pos;
        bool toolong;
        read_number(ps, &ar->version, &toolong);
        if (toolong)
            return syntax(ps, vs, "version too long");
        if (ps->pos < ps->len && is_token(ps->p[ps->pos]))
            return syntax(ps, ps->pos, "expected ';' after the version");
        rc = skip_cfws(ps, NULL);
    }
    return rc;
}

/* authres-payload (RFC 8601 §2.2) from the cursor. */
static int parse_payload(ar_parser *ps)
{
    hd_authres *ar = ps->ar;
    bool missing;
    int rc = parse_authserv_id(ps, &missing);
    bool need_semi = !missing;
    while (rc == 0) {
        if ((rc = skip_cfws(ps, NULL)) != 0)
            break;
        if (ps->pos >= ps->len)
            break;
        if (need_semi) {
            if (ps->p[ps->pos] != ';')
                return syntax(ps, ps->pos,
                              ar->n == 0 && !ar->none ? "expected ';' after the authserv-id"
                                                      : "expected ';'");
            ps->pos++;
            if ((rc = skip_cfws(ps, NULL)) != 0)
                break;
            if (ps->pos >= ps->len) {
                if (ar->n > 0 || ar->none)
                    ar->quirks |= HD_AUTHRES_Q_TRAILING_SEMI;
                break;
            }
            if (ps->p[ps->pos] == ';') {
                ar->quirks |= HD_AUTHRES_Q_EMPTY_RESINFO;
                continue;
            }
        }
        need_semi = true;
        rc = parse_resinfo(ps);
    }
    if (rc == 0 && ar->n == 0 && !ar->none)
        ar->quirks |= HD_AUTHRES_Q_NO_RESULTS;
    return rc;
}

/* Entry points -------------------------------------------------------------- */

static int parser_init(ar_parser *ps, hd_slice value, hd_err *err)
{
    *ps = (ar_parser){value.p, value.len, 0, NULL, err};
    if (value.p == NULL && value.len > 0)
        return hd_err_set(err, HD_EINVAL, "no value");
    if (value.len > (SIZE_MAX - 1) / 2)
        return hd_err_set(err, HD_ELIMIT, "field too long");
    hd_authres *ar = calloc(1, sizeof *ar);
    if (ar == NULL || (ar->arena = malloc(value.len * 2 + 1)) == NULL) {
        free(ar);
        return hd_err_set(err, HD_ENOMEM, NULL);
    }
    ar->arena_cap = value.len * 2 + 1;
    ar->version = 1;
    ar->authserv_id = empty_str;
    ps->ar = ar;
    return 0;
}

static int parser_finish(ar_parser *ps, int rc, hd_authres **out)
{
    hd_authres *ar = ps->ar;
    if (rc == 0 && ar->overflow)
        rc = hd_err_set(ps->err, HD_ELIMIT, "internal: string arena too small");
    if (rc != 0) {
        hd_authres_free(ar);
        return rc;
    }
    for (size_t i = 0; i < ar->n; i++)
        ar->res[i].props = ar->res[i].nprops ? ar->props + ar->prop_first[i] : NULL;
    *out = ar;
    return 0;
}

int hd_authres_parse(hd_slice value, hd_authres **out, hd_err *err)
{
    ar_parser ps;
    *out = NULL;
    int rc = parser_init(&ps, value, err);
    if (rc != 0)
        return rc;
    return parser_finish(&ps, parse_payload(&ps), out);
}

/* "i=N;" (RFC 8617 §4.1.1, §4.2.1), then the payload. */
static int parse_instance(ar_parser *ps, unsigned *instance)
{
    int rc = skip_cfws(ps, NULL);
    if (rc != 0)
        return rc;
    int c = peek(ps);
    if (c != 'i' && c != 'I')
        return syntax(ps, ps->pos, "expected 'i=' (the ARC instance)");
    ps->pos++;
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    if (peek(ps) != '=')
        return syntax(ps, ps->pos, "expected '=' after 'i'");
    ps->pos++;
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    size_t vs = ps->pos;
    bool toolong;
    if (!read_number(ps, instance, &toolong))
        return syntax(ps, vs, "expected the ARC instance number");
    if (toolong || *instance < 1 || *instance > HD_AUTHRES_ARC_MAX_INSTANCE)
        return hd_err_set(ps->err, HD_ESYNTAX, "offset %zu: ARC instance not in 1..%d", vs,
                          HD_AUTHRES_ARC_MAX_INSTANCE);
    if ((rc = skip_cfws(ps, NULL)) != 0)
        return rc;
    if (peek(ps) != ';')
        return syntax(ps, ps->pos, "expected ';' after the ARC instance");
    ps->pos++;
    return 0;
}

int hd_authres_parse_arc(hd_slice value, unsigned *instance, hd_authres **out, hd_err *err)
{
    ar_parser ps;
    *out = NULL;
    *instance = 0;
    int rc = parser_init(&ps, value, err);
    if (rc != 0)
        return rc;
    rc = parse_instance(&ps, instance);
    if (rc == 0)
        rc = parse_payload(&ps);
    if (rc == 0 && (ps.ar->quirks & HD_AUTHRES_Q_NO_AUTHSERV_ID))
        rc = syntax(&ps, 0, "ARC-Authentication-Results without an authserv-id");
    if (rc != 0)
        *instance = 0;
    return parser_finish(&ps, rc, out);
}

void hd_authres_free(hd_authres *ar)
{
    if (ar == NULL)
        return;
    free(ar->arena);
    free(ar->props);
    free(ar);
}

/* Accessors ------------------------------------------------------------------- */

const char *hd_authres_authserv_id(const hd_authres *ar)
{
    return ar->authserv_id;
}

unsigned hd_authres_version(const hd_authres *ar)
{
    return ar->version;
}

bool hd_authres_is_none(const hd_authres *ar)
{
    return ar->none;
}

unsigned hd_authres_quirks(const hd_authres *ar)
{
    return ar->quirks;
}

size_t hd_authres_count(const hd_authres *ar)
{
    return ar->n;
}

const hd_authres_result *hd_authres_get(const hd_authres *ar, size_t i)
{
    return i < ar->n ? &ar->res[i] : NULL;
}

static bool ascii_caseeq(const char *a, const char *b)
{
    return hd_slice_caseeq(hd_slice_cstr(a), hd_slice_cstr(b));
}

const hd_authres_prop *hd_authres_find_prop(const hd_authres *ar, size_t i, const char *ptype,
                                            const char *property)
{
    const hd_authres_result *r = hd_authres_get(ar, i);
    for (size_t j = 0; r != NULL && j < r->nprops; j++)
        if (ascii_caseeq(r->props[j].ptype, ptype) && ascii_caseeq(r->props[j].property, property))
            return &r->props[j];
    return NULL;
}

static bool str_eq_null(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

bool hd_authres_result_eq(const hd_authres_result *a, const hd_authres_result *b)
{
    if (strcmp(a->method, b->method) != 0 || a->method_version != b->method_version ||
        strcmp(a->result, b->result) != 0 || !str_eq_null(a->reason, b->reason) ||
        a->nprops != b->nprops)
        return false;
    for (size_t j = 0; j < a->nprops; j++) {
        const hd_authres_prop *x = &a->props[j], *y = &b->props[j];
        if (strcmp(x->ptype, y->ptype) != 0 || strcmp(x->property, y->property) != 0 ||
            strcmp(x->value, y->value) != 0 || x->unparsed != y->unparsed)
            return false;
    }
    return true;
}

bool hd_authres_same_results(const hd_authres *a, const hd_authres *b)
{
    if (a->n != b->n || a->none != b->none)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!hd_authres_result_eq(&a->res[i], &b->res[i]))
            return false;
    return true;
}

/* RFC 8601 §5 ----------------------------------------------------------------- */

bool hd_authres_claims_id(hd_slice value, const char *ours)
{
    if (ours == NULL || ours[0] == '\0')
        return false;
    ar_parser ps;
    if (parser_init(&ps, value, NULL) != 0)
        return true; /* cannot even look: treat as unattributable */
    bool missing;
    bool claims = true;
    if (parse_authserv_id(&ps, &missing) == 0 && !missing && !ps.ar->overflow) {
        hd_slice id = hd_slice_cstr(ps.ar->authserv_id);
        hd_slice o = hd_slice_cstr(ours);
        while (id.len > 1 && id.p[id.len - 1] == '.') /* "example.com." */
            id.len--;
        claims = hd_slice_caseeq(id, o) ||
                 (id.len > o.len && id.p[id.len - o.len - 1] == '.' &&
                  hd_slice_caseeq(hd_slice_make(id.p + id.len - o.len, o.len), o));
    }
    hd_authres_free(ps.ar);
    return claims;
}
