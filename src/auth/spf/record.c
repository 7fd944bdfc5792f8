/*
 * record.c - SPF record syntax (RFC 7208 §4.6, §5, §6, §12).
 *
 * The whole record is parsed before anything is evaluated, so a syntax
 * error anywhere is a permerror (§4.6: "If there are any syntax errors
 * anywhere in the record, check_host() returns immediately with the
 * result permerror") that names the term and the offset.
 */
#include "auth/spf/spf_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t len;
    spf_kind kind;
} mechanisms[] = {
    {"ip4", 3, SPF_IP4}, {"ip6", 3, SPF_IP6},         {"include", 7, SPF_INCLUDE},
    {"a", 1, SPF_A},     {"mx", 2, SPF_MX},           {"all", 3, SPF_ALL},
    {"ptr", 3, SPF_PTR}, {"exists", 6, SPF_EXISTS},
};

const char *spf_kind_name(spf_kind k)
{
    static const char *const names[] = {"all", "include", "a",        "mx",  "ptr",    "ip4",
                                        "ip6", "exists",  "redirect", "exp", "modifier"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

bool spf_kind_counts(spf_kind k)
{
    return k == SPF_INCLUDE || k == SPF_A || k == SPF_MX || k == SPF_PTR || k == SPF_EXISTS ||
           k == SPF_REDIRECT;
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* A term's error: the message says where and what. */
__attribute__((format(printf, 3, 4)))
static int term_error(hd_err *err, const spf_term *t, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    char term[84];
    size_t n = t->text.len > 80 ? 80 : t->text.len;
    for (size_t i = 0; i < n; i++) /* the term as printable text, for one log line */
        term[i] = t->text.p[i] >= 0x20 && t->text.p[i] < 0x7f ? (char)t->text.p[i] : '?';
    term[n] = '\0';
    return hd_err_set(err, HD_ESYNTAX, "at offset %zu: term \"%s\": %s", t->offset, term, why);
}

/* macro-string (§7.1): literals %x21-24 / %x26-7E and the macro-expands;
 * checks syntax only. Returns the offset of a bad byte, or -1. */
static long macro_string_bad_in(hd_slice s, const char *letters);

/* In a domain-spec, c, r and t may not appear: §7.2 keeps them for
 * explanation strings. */
static long macro_string_bad(hd_slice s)
{
    return macro_string_bad_in(s, "slodiphvSLODIPHV");
}

static long macro_string_bad_in(hd_slice s, const char *letters)
{
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c != '%') {
            if (c < 0x21 || c > 0x7e)
                return (long)i;
            continue;
        }
        if (i + 1 >= s.len)
            return (long)i;
        uint8_t n = s.p[i + 1];
        if (n == '%' || n == '_' || n == '-') {
            i++;
            continue;
        }
        if (n != '{' || i + 2 >= s.len || strchr(letters, s.p[i + 2]) == NULL || s.p[i + 2] == 0)
            return (long)i;
        size_t j = i + 3;
        while (j < s.len && is_digit(s.p[j]))
            j++;
        if (j < s.len && (s.p[j] == 'r' || s.p[j] == 'R'))
            j++;
        while (j < s.len && strchr(".-+,/_=", s.p[j]) != NULL && s.p[j] != 0)
            j++;
        if (j >= s.len || s.p[j] != '}')
            return (long)i;
        i = j;
    }
    return -1;
}

bool spf_spec_needs_p(hd_slice spec)
{
    for (size_t i = 0; i + 2 < spec.len; i++) {
        if (spec.p[i] == '%' && spec.p[i + 1] == '%') {
            i++; /* an escaped '%' */
            continue;
        }
        if (spec.p[i] == '%' && spec.p[i + 1] == '{' && (spec.p[i + 2] | 0x20) == 'p')
            return true;
    }
    return false;
}

/* domain-end (§7.1): the last label of a domain-spec that ends in a
 * literal must be a toplabel, not all digits; a spec ending in a macro
 * is checked after expansion. */
static bool domain_end_ok(hd_slice s)
{
    if (s.len > 0 && s.p[s.len - 1] == '}')
        return true;
    if (s.len > 0 && s.p[s.len - 1] == '.')
        s.len--;
    size_t start = s.len;
    while (start > 0 && s.p[start - 1] != '.')
        start--;
    if (start == 0) /* a single label cannot be a domain-spec */
        return false;
    hd_slice label = hd_slice_make(s.p + start, s.len - start);
    if (label.len == 0 || label.p[0] == '-' || label.p[label.len - 1] == '-')
        return false;
    bool alpha = false;
    for (size_t i = 0; i < label.len; i++) {
        uint8_t c = label.p[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-')
            return false;
        alpha |= is_alpha(c) || c == '-';
    }
    return alpha;
}

static int check_domain_spec(const spf_term *t, hd_slice spec, hd_err *err)
{
    if (spec.len == 0)
        return term_error(err, t, "empty domain-spec");
    long bad = macro_string_bad(spec);
    if (bad >= 0)
        return term_error(err, t, "bad macro or character at domain-spec offset %ld", bad);
    if (!domain_end_ok(spec))
        return term_error(err, t, "the domain must end in a valid top-level label");
    return 0;
}

/* "/N" with N in 0..max, no leading zero (§12 ip4-cidr-length). */
static int parse_cidr(hd_slice s, int max, int *out)
{
    if (s.len == 0 || s.len > 3 || (s.p[0] == '0' && s.len > 1))
        return -1;
    int v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_digit(s.p[i]))
            return -1;
        v = v * 10 + (s.p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Length of a trailing "/" + digits (0 when there is none; the '/' is at
 * s.len - n). */
static size_t trailing_prefix(hd_slice s)
{
    size_t d = s.len;
    while (d > 0 && is_digit(s.p[d - 1]))
        d--;
    return d > 0 && s.p[d - 1] == '/' ? s.len - d + 1 : 0;
}

/* Split a trailing dual-cidr-length ("/24", "//64", "/24//64") off arg.
 * A '/' not followed by digits up to the end is part of the domain-spec,
 * which macro-literal allows (§7.1; the suite's a:foo:bar/baz.example.com). */
static int split_dual_cidr(const spf_term *t, hd_slice *arg, int *c4, int *c6, hd_err *err)
{
    hd_slice a = *arg;
    size_t n = trailing_prefix(a);
    if (n > 0 && a.len > n && a.p[a.len - n - 1] == '/') { /* "//N": IPv6 */
        if (parse_cidr(hd_slice_make(a.p + a.len - n + 1, n - 1), 128, c6) != 0)
            return term_error(err, t, "bad IPv6 prefix length");
        a.len -= n + 1;
        n = trailing_prefix(a);
    }
    if (n > 0) {
        if (parse_cidr(hd_slice_make(a.p + a.len - n + 1, n - 1), 32, c4) != 0)
            return term_error(err, t, "bad IPv4 prefix length");
        a.len -= n;
    }
    if (a.len > 0 && a.p[a.len - 1] == '/')
        return term_error(err, t, "a '/' without a prefix length");
    *arg = a;
    return 0;
}

/* Dotted-quad IPv4 (RFC 7208 §12 ip4-network: four 0..255 decimal
 * octets); by hand, as records carry dozens of these. */
static bool parse_ip4(hd_slice a, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= a.len || a.p[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < a.len && is_digit(a.p[i]) && i - start < 3)
            v = v * 10 + (unsigned)(a.p[i++] - '0');
        if (i == start || v > 255 || (a.p[start] == '0' && i - start > 1))
            return false;
        out[part] = (uint8_t)v;
    }
    return i == a.len;
}

static int parse_ip(const spf_term *t, spf_term *out, hd_slice arg, int af, hd_err *err)
{
    if (af == AF_INET && parse_ip4(arg, out->addr))
        return 0;
    char text[64];
    if (arg.len == 0 || arg.len >= sizeof text)
        return term_error(err, t, "missing or overlong address");
    memcpy(text, arg.p, arg.len);
    text[arg.len] = '\0';
    if (inet_pton(af, text, out->addr) != 1)
        return term_error(err, t, "\"%s\" is not an IPv%d address", text, af == AF_INET ? 4 : 6);
    return 0;
}

/* A mechanism: [qualifier] name [":" arg] [cidr]. */
static int parse_mechanism(spf_term *t, hd_slice body, hd_err *err)
{
    size_t nlen = 0;
    while (nlen < body.len && body.p[nlen] != ':' && body.p[nlen] != '/')
        nlen++;
    hd_slice name = hd_slice_make(body.p, nlen);
    size_t k;
    for (k = 0; k < sizeof mechanisms / sizeof mechanisms[0]; k++)
        if (name.len == mechanisms[k].len &&
            hd_slice_caseeq(name, hd_slice_make(mechanisms[k].name, mechanisms[k].len)))
            break;
    if (k == sizeof mechanisms / sizeof mechanisms[0])
        return term_error(err, t, "unknown mechanism");
    t->kind = mechanisms[k].kind;
    t->cidr4 = 32;
    t->cidr6 = 128;
    bool colon = nlen < body.len && body.p[nlen] == ':';
    hd_slice arg = colon ? hd_slice_make(body.p + nlen + 1, body.len - nlen - 1)
                         : hd_slice_make(body.p + nlen, body.len - nlen);
    switch (t->kind) {
    case SPF_ALL:
        return arg.len == 0 && !colon ? 0 : term_error(err, t, "\"all\" takes no argument");
    case SPF_INCLUDE:
    case SPF_EXISTS:
        if (!colon)
            return term_error(err, t, "needs \":domain\"");
        t->spec = arg;
        return check_domain_spec(t, arg, err);
    case SPF_PTR:
        if (!colon && arg.len > 0)
            return term_error(err, t, "\"ptr\" takes no prefix length");
        t->spec = arg;
        return colon ? check_domain_spec(t, arg, err) : 0;
    case SPF_A:
    case SPF_MX:
        if (!colon && arg.len > 0 && arg.p[0] != '/')
            return term_error(err, t, "unexpected text after the mechanism");
        if (split_dual_cidr(t, &arg, &t->cidr4, &t->cidr6, err) != 0)
            return HD_ESYNTAX;
        t->spec = arg;
        return colon ? check_domain_spec(t, arg, err) : 0;
    case SPF_IP4:
    case SPF_IP6: {
        if (!colon)
            return term_error(err, t, "needs \":address\"");
        bool v4 = t->kind == SPF_IP4;
        size_t slash = arg.len;
        while (slash > 0 && arg.p[slash - 1] != '/')
            slash--;
        if (slash > 0) {
            int *c = v4 ? &t->cidr4 : &t->cidr6;
            if (parse_cidr(hd_slice_make(arg.p + slash, arg.len - slash), v4 ? 32 : 128, c) != 0)
                return term_error(err, t, "bad prefix length");
            arg.len = slash - 1;
        }
        return parse_ip(t, t, arg, v4 ? AF_INET : AF_INET6, err);
    }
    default:
        return term_error(err, t, "unknown mechanism");
    }
}

/* name "=" macro-string (§6, §12 unknown-modifier). */
static int parse_modifier(spf_term *t, size_t eq, hd_err *err)
{
    hd_slice name = hd_slice_make(t->text.p, eq);
    hd_slice value = hd_slice_make(t->text.p + eq + 1, t->text.len - eq - 1);
    if (name.len == 0 || !is_alpha(name.p[0]))
        return term_error(err, t, "a modifier name must start with a letter");
    for (size_t i = 1; i < name.len; i++) {
        uint8_t c = name.p[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_' && c != '.')
            return term_error(err, t, "bad character in the modifier name");
    }
    t->spec = value;
    if (hd_slice_caseeq_cstr(name, "redirect")) {
        t->kind = SPF_REDIRECT;
        return check_domain_spec(t, value, err);
    }
    if (hd_slice_caseeq_cstr(name, "exp")) {
        t->kind = SPF_EXP;
        return check_domain_spec(t, value, err);
    }
    t->kind = SPF_UNKNOWN_MOD;
    long bad = macro_string_bad_in(value, "slodiphcrtvSLODIPHCRTV");
    return bad < 0 ? 0 : term_error(err, t, "bad macro at value offset %ld", bad);
}

static int parse_term(spf_term *t, hd_err *err)
{
    /* a modifier has '=' before any ':' or '/' (mechanism arguments may
     * hold '=' as a macro delimiter) */
    for (size_t i = 0; i < t->text.len; i++) {
        uint8_t c = t->text.p[i];
        if (c == '=')
            return parse_modifier(t, i, err);
        if (c == ':' || c == '/')
            break;
    }
    hd_slice body = t->text;
    t->qualifier = '+';
    if (body.len > 0 && strchr("+-~?", body.p[0]) != NULL && body.p[0] != 0) {
        t->qualifier = (char)body.p[0];
        body.p++;
        body.len--;
    }
    return parse_mechanism(t, body, err);
}

void spf_record_free(spf_record *rec)
{
    free(rec->terms);
    rec->terms = NULL;
    rec->n = 0;
}

int spf_record_parse(hd_slice record, spf_record *rec, hd_err *err)
{
    memset(rec, 0, sizeof *rec);
    if (record.len < 6 || !hd_slice_caseeq_cstr(hd_slice_make(record.p, 6), "v=spf1") ||
        (record.len > 6 && record.p[6] != ' '))
        return hd_err_set(err, HD_ESYNTAX, "at offset 0: the record does not start with \"v=spf1 \"");
    size_t cap = 0;
    size_t i = 6;
    while (i < record.len) {
        if (record.p[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < record.len && record.p[i] != ' ')
            i++;
        if (rec->n == SPF_MAX_TERMS) {
            spf_record_free(rec);
            return hd_err_set(err, HD_ELIMIT, "at offset %zu: more than %d terms", start,
                              SPF_MAX_TERMS);
        }
        if (rec->n == cap) {
            cap = cap ? cap * 2 : 16;
            spf_term *nt = realloc(rec->terms, cap * sizeof *nt);
            if (nt == NULL) {
                spf_record_free(rec);
                return hd_err_set(err, HD_ENOMEM, NULL);
            }
            rec->terms = nt;
        }
        spf_term *t = &rec->terms[rec->n++];
        memset(t, 0, sizeof *t);
        t->text = hd_slice_make(record.p + start, i - start);
        t->offset = start;
        int rc = parse_term(t, err);
        for (size_t k = 0; rc == 0 && k + 1 < rec->n; k++)
            if ((t->kind == SPF_REDIRECT || t->kind == SPF_EXP) && rec->terms[k].kind == t->kind)
                rc = term_error(err, t, "a second %s= (RFC 7208 §6)", spf_kind_name(t->kind));
        if (rc != 0) {
            spf_record_free(rec);
            return rc;
        }
    }
    /* pointers only now: the array no longer moves */
    for (size_t k = 0; k < rec->n; k++) {
        if (rec->terms[k].kind == SPF_REDIRECT)
            rec->redirect = &rec->terms[k];
        else if (rec->terms[k].kind == SPF_EXP)
            rec->exp = &rec->terms[k];
    }
    return 0;
}

int hd_spf_record_check(hd_slice record, hd_err *err)
{
    spf_record rec;
    int rc = spf_record_parse(record, &rec, err);
    if (rc == 0)
        spf_record_free(&rec);
    return rc;
}

bool spf_domain_ok(const char *d)
{
    size_t len = strlen(d);
    if (len > 0 && d[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    size_t start = 0, labels = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && d[i] != '.')
            continue;
        if (i - start == 0 || i - start > 63)
            return false;
        labels++;
        start = i + 1;
    }
    return labels >= 2; /* §4.3: a multi-label domain name */
}
