/*
 * path.c - the RFC 5321 §4.1.2 Path of MAIL FROM and RCPT TO, and the
 * ESMTP parameters after it.
 *
 *   Path          = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l         = At-domain *( "," At-domain )      ; source route
 *   Mailbox       = Local-part "@" ( Domain / address-literal )
 *   Local-part    = Dot-string / Quoted-string
 *
 * RFC 6531 §3.3 widens atext, qtextSMTP and sub-domain to UTF-8; the
 * parser takes any byte >= 0x80 there and reports it (eight_bit,
 * utf8_ok), so the caller decides with the SMTPUTF8 parameter in hand.
 * A source route is parsed and dropped (RFC 5321 §4.1.1.3, Appendix C).
 * A cursor walks the command line once; nothing is copied until the
 * path is known to be whole and within the §4.5.3.1 limits.
 */
#include "smtpd/smtpd_int.h"

#include <arpa/inet.h>
#include <string.h>

typedef struct cur {
    const uint8_t *p;
    size_t i, n;
} cur;

static bool at(const cur *c, uint8_t ch)
{
    return c->i < c->n && c->p[c->i] == ch;
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Let-dig, with RFC 6531's U-label bytes. */
static bool is_letdig(uint8_t c)
{
    return is_alpha(c) || is_digit(c) || c >= 0x80;
}

/* RFC 5322 §3.2.3 atext, with RFC 6531 §3.3 UTF8-non-ascii. */
static bool is_atext(uint8_t c)
{
    return is_alpha(c) || is_digit(c) || c >= 0x80 ||
           (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* sub-domain *("." sub-domain); each label within RFC 1035's 63. */
static bool parse_domain(cur *c, const char **why)
{
    for (;;) {
        size_t start = c->i;
        if (c->i >= c->n || !is_letdig(c->p[c->i])) {
            *why = "a domain label must start with a letter or digit";
            return false;
        }
        while (c->i < c->n && (is_letdig(c->p[c->i]) || c->p[c->i] == '-'))
            c->i++;
        if (c->p[c->i - 1] == '-') {
            *why = "a domain label must not end with '-'";
            return false;
        }
        if (c->i - start > SMTPD_LABEL_MAX) {
            *why = "a domain label is longer than 63 octets";
            return false;
        }
        if (!at(c, '.'))
            return true;
        c->i++;
    }
}

/* dcontent of a General-address-literal: %d33-90 / %d94-126. */
static bool is_dcontent(uint8_t c)
{
    return c >= 33 && c <= 126 && c != '[' && c != '\\' && c != ']';
}

static bool ipv4_literal(const uint8_t *p, size_t n)
{
    char tmp[16];
    struct in_addr a;
    if (n == 0 || n >= sizeof tmp)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i]) && p[i] != '.')
            return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET, tmp, &a) == 1;
}

static bool ipv6_literal(const uint8_t *p, size_t n)
{
    char tmp[64];
    struct in6_addr a;
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (memchr(tmp, '\0', n) != NULL)
        return false;
    return inet_pton(AF_INET6, tmp, &a) == 1;
}

/* RFC 5321 §4.1.3 address-literal, the brackets included. */
static bool parse_address_literal(cur *c, const char **why)
{
    size_t start = ++c->i; /* past '[' */
    while (c->i < c->n && c->p[c->i] != ']')
        c->i++;
    if (c->i >= c->n) {
        *why = "an address literal lacks its ']'";
        return false;
    }
    const uint8_t *p = c->p + start;
    size_t n = c->i - start;
    c->i++; /* past ']' */
    if (n > 0 && is_digit(p[0])) {
        if (ipv4_literal(p, n))
            return true;
        *why = "bad IPv4 address literal";
        return false;
    }
    if (n > 5 && memcmp(p, "IPv6:", 5) == 0) {
        if (ipv6_literal(p + 5, n - 5))
            return true;
        *why = "bad IPv6 address literal";
        return false;
    }
    /* General-address-literal = Standardized-tag ":" 1*dcontent */
    size_t k = 0;
    while (k < n && (is_alpha(p[k]) || is_digit(p[k]) || p[k] == '-'))
        k++;
    if (k == 0 || p[k - 1] == '-' || k >= n || p[k] != ':' || k + 1 == n) {
        *why = "bad address literal";
        return false;
    }
    for (k++; k < n; k++)
        if (!is_dcontent(p[k])) {
            *why = "bad character in address literal";
            return false;
        }
    return true;
}

/* Quoted-string: qtextSMTP = %d32-33 / %d35-91 / %d93-126 (+ UTF-8),
 * quoted-pairSMTP = "\" %d32-126. */
static bool parse_quoted(cur *c, const char **why)
{
    c->i++; /* past DQUOTE */
    while (c->i < c->n) {
        uint8_t ch = c->p[c->i];
        if (ch == '"') {
            c->i++;
            return true;
        }
        if (ch == '\\') {
            if (c->i + 1 < c->n && (c->p[c->i + 1] == '<' || c->p[c->i + 1] == '>')) {
                *why = "angle bracket in quoted local part";
                return false;
            }
            if (c->i + 1 >= c->n || c->p[c->i + 1] < 32 || c->p[c->i + 1] > 126) {
                *why = "bad quoted pair in local part";
                return false;
            }
            c->i += 2;
            continue;
        }
        if (ch < 32 || ch == 127) {
            *why = "control character in quoted local part";
            return false;
        }
        /* legal in qtextSMTP, but a path with them cannot be relayed
         * safely (the next hop's parser may take ">" as the path's end) */
        if (ch == '<' || ch == '>') {
            *why = "angle bracket in quoted local part";
            return false;
        }
        c->i++;
    }
    *why = "unterminated quoted local part";
    return false;
}

/* Dot-string = Atom *("." Atom) */
static bool parse_dot_string(cur *c, const char **why)
{
    for (;;) {
        size_t start = c->i;
        while (c->i < c->n && is_atext(c->p[c->i]))
            c->i++;
        if (c->i == start) {
            *why = "empty or bad atom in local part";
            return false;
        }
        if (!at(c, '.'))
            return true;
        c->i++;
    }
}

/* A-d-l ":" - the source route, parsed and dropped. */
static bool parse_source_route(cur *c, const char **why)
{
    for (;;) {
        c->i++; /* past '@' */
        if (!parse_domain(c, why))
            return false;
        if (at(c, ':')) {
            c->i++;
            return true;
        }
        if (!at(c, ',') || c->i + 1 >= c->n || c->p[c->i + 1] != '@') {
            *why = "bad source route";
            return false;
        }
        c->i++;
    }
}

static smtpd_path_rc syntax(smtpd_path *out, const char *why)
{
    out->why = why;
    return SMTPD_PATH_SYNTAX;
}

static void copy_out(smtpd_path *out, const uint8_t *p, size_t n)
{
    memcpy(out->mailbox, p, n);
    out->mailbox[n] = '\0';
}

smtpd_path_rc smtpd_path_parse(hd_slice *in, bool allow_null, bool allow_postmaster,
                               smtpd_path *out)
{
    cur c = {in->p, 0, in->len};
    const char *why = NULL;
    memset(out, 0, sizeof *out);
    out->utf8_ok = true;
    if (!at(&c, '<'))
        return syntax(out, "the address must be enclosed in <>");
    c.i++;
    if (at(&c, '>')) {
        if (!allow_null)
            return syntax(out, "an empty address <> is not allowed here");
        out->is_null = true;
        in->p += 2;
        in->len -= 2;
        return SMTPD_PATH_OK;
    }
    if (at(&c, '@') && !parse_source_route(&c, &why))
        return syntax(out, why);

    size_t local_start = c.i;
    bool ok = at(&c, '"') ? parse_quoted(&c, &why) : parse_dot_string(&c, &why);
    if (!ok)
        return syntax(out, why);
    size_t local_len = c.i - local_start;

    size_t domain_start = 0, domain_len = 0;
    if (at(&c, '@')) {
        c.i++;
        domain_start = c.i;
        ok = at(&c, '[') ? parse_address_literal(&c, &why) : parse_domain(&c, &why);
        if (!ok)
            return syntax(out, why);
        domain_len = c.i - domain_start;
    } else if (!(allow_postmaster && at(&c, '>') &&
                 hd_slice_caseeq_cstr(hd_slice_make(c.p + local_start, local_len),
                                      "postmaster"))) {
        /* RFC 5321 §4.5.1: only <postmaster> may go without a domain */
        return syntax(out, "the address has no @domain");
    }
    if (!at(&c, '>'))
        return syntax(out, "unexpected character in address");
    c.i++;

    /* RFC 5321 §4.5.3.1.1-3 */
    if (local_len > SMTPD_LOCAL_MAX)
        return SMTPD_PATH_LOCAL_LONG;
    if (domain_len > SMTPD_DOMAIN_MAX)
        return SMTPD_PATH_DOMAIN_LONG;
    if (c.i > SMTPD_PATH_MAX)
        return SMTPD_PATH_TOO_LONG;

    hd_slice whole = hd_slice_make(c.p, c.i);
    for (size_t k = 0; k < whole.len; k++)
        if (whole.p[k] >= 0x80)
            out->eight_bit = true;
    out->utf8_ok = !out->eight_bit || smtpd_utf8_valid(whole);

    /* the mailbox runs from the local part to the end of the domain */
    size_t end = domain_len > 0 ? domain_start + domain_len : local_start + local_len;
    copy_out(out, c.p + local_start, end - local_start);
    in->p += c.i;
    in->len -= c.i;
    return SMTPD_PATH_OK;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool is_kwchar(uint8_t c)
{
    return is_alpha(c) || is_digit(c) || c == '-';
}

/* esmtp-value = 1*(%d33-60 / %d62-126), RFC 6531 §3.3 adds UTF-8. */
static bool is_valchar(uint8_t c)
{
    return (c >= 33 && c <= 126 && c != '=') || c >= 0x80;
}

int smtpd_param_next(hd_slice *in, hd_slice *keyword, hd_slice *value, bool *has_value)
{
    size_t i = 0;
    while (i < in->len && in->p[i] == ' ')
        i++;
    if (i == in->len) {
        *in = hd_slice_make(in->p + i, 0);
        return 0;
    }
    if (i == 0) /* parameters are separated by SP */
        return -1;
    size_t k = i;
    if (!is_alpha(in->p[k]) && !is_digit(in->p[k]))
        return -1;
    while (k < in->len && is_kwchar(in->p[k]))
        k++;
    *keyword = hd_slice_make(in->p + i, k - i);
    *has_value = false;
    *value = HD_SLICE_NULL;
    if (k < in->len && in->p[k] == '=') {
        size_t v = ++k;
        while (k < in->len && is_valchar(in->p[k]))
            k++;
        if (k == v)
            return -1;
        *value = hd_slice_make(in->p + v, k - v);
        *has_value = true;
    }
    if (k < in->len && in->p[k] != ' ')
        return -1;
    *in = hd_slice_make(in->p + k, in->len - k);
    return 1;
}

bool smtpd_utf8_valid(hd_slice s)
{
    size_t i = 0;
    while (i < s.len) {
        uint8_t c = s.p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + n >= s.len) /* the continuation bytes are missing */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s.p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s.p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}
