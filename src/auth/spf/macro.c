/*
 * macro.c - SPF macro expansion (RFC 7208 §7).
 *
 *   %{ letter [digits] [r] [delimiters] }   %%   %_   %-
 *
 * The value of the letter is split on the delimiters (default "."),
 * reversed with r, cut to the rightmost digits parts, and joined with
 * "." (§7.3); an upper-case letter URL-encodes the result (§7.3).
 */
#include "auth/spf/spf_int.h"

#include <stdio.h>
#include <string.h>

#define MAX_PARTS 128 /* a 253-octet name has at most 127 labels */

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

/* The value of one macro letter (§7.2). */
static const char *letter_value(char l, const hd_spf_macro_ctx *c, char *tmp, size_t tmplen)
{
    const char *at;
    switch (l) {
    case 's':
        return c->sender;
    case 'l':
        at = strrchr(c->sender, '@');
        if (at == NULL)
            return c->sender;
        snprintf(tmp, tmplen, "%.*s", (int)(at - c->sender), c->sender);
        return tmp;
    case 'o':
        at = strrchr(c->sender, '@');
        return at ? at + 1 : c->sender;
    case 'd':
        return c->domain;
    case 'i':
        return c->ip_dotted;
    case 'p':
        return c->validated ? c->validated : "unknown";
    case 'v':
        return c->is_v6 ? "ip6" : "in-addr";
    case 'h':
        return c->helo ? c->helo : "";
    case 'c':
        return c->ip;
    case 'r':
        return c->receiver ? c->receiver : "unknown";
    case 't':
        snprintf(tmp, tmplen, "%lld", (long long)c->now);
        return tmp;
    default:
        return NULL;
    }
}

/* RFC 3986 unreserved characters stay; the rest become %XX. */
static int url_encode(hd_slice s, hd_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < s.len && rc == 0; i++) {
        uint8_t ch = s.p[i];
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) ||
                    ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (keep) {
            rc = hd_buf_append_byte(out, ch);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = hd_buf_append(out, e, 3);
        }
    }
    return rc;
}

/* Split value on delims, reverse, keep the rightmost n (0: all), join
 * with '.', append to out. */
static int transform(const char *value, hd_slice delims, bool reverse, unsigned n, hd_buf *out)
{
    hd_slice parts[MAX_PARTS];
    size_t np = 0, start = 0, len = strlen(value);
    for (size_t i = 0; i <= len; i++) {
        bool cut = i == len || memchr(delims.p, value[i], delims.len) != NULL;
        if (!cut)
            continue;
        if (np == MAX_PARTS)
            return HD_ELIMIT;
        parts[np++] = hd_slice_make(value + start, i - start);
        start = i + 1;
    }
    if (reverse)
        for (size_t i = 0; i < np / 2; i++) {
            hd_slice t = parts[i];
            parts[i] = parts[np - 1 - i];
            parts[np - 1 - i] = t;
        }
    size_t first = (n > 0 && n < np) ? np - n : 0;
    int rc = 0;
    for (size_t i = first; i < np && rc == 0; i++) {
        if (i > first)
            rc = hd_buf_append_byte(out, '.');
        if (rc == 0)
            rc = hd_buf_append_slice(out, parts[i]);
    }
    return rc;
}

/* One %{...} at s[i] ('%' at i, '{' at i+1); *next gets the offset after '}'. */
static int expand_one(hd_slice s, size_t i, const hd_spf_macro_ctx *c, hd_buf *out, size_t *next,
                      hd_err *err)
{
    size_t j = i + 2;
    if (j >= s.len)
        return hd_err_set(err, HD_ESYNTAX, "macro at offset %zu: unterminated", i);
    char letter = (char)s.p[j++];
    char l = lower(letter);
    if (strchr("slodiphvcrt", l) == NULL || l == 0)
        return hd_err_set(err, HD_ESYNTAX, "macro at offset %zu: unknown letter '%c'", i, letter);
    if (!c->exp && (l == 'c' || l == 'r' || l == 't'))
        return hd_err_set(err, HD_ESYNTAX,
                          "macro at offset %zu: %%{%c} is allowed in exp= text only (RFC 7208 §7.2)",
                          i, letter);
    unsigned n = 0;
    bool has_digits = false;
    while (j < s.len && is_digit(s.p[j])) {
        has_digits = true;
        if (n < 1000)
            n = n * 10 + (unsigned)(s.p[j] - '0');
        j++;
    }
    if (has_digits && n == 0)
        return hd_err_set(err, HD_ESYNTAX,
                          "macro at offset %zu: a digit transformer must be nonzero (RFC 7208 §7.3)", i);
    bool reverse = j < s.len && (s.p[j] == 'r' || s.p[j] == 'R');
    j += reverse;
    size_t dstart = j;
    while (j < s.len && strchr(".-+,/_=", s.p[j]) != NULL && s.p[j] != 0)
        j++;
    if (j >= s.len || s.p[j] != '}')
        return hd_err_set(err, HD_ESYNTAX, "macro at offset %zu: expected '}'", i);
    hd_slice delims = j > dstart ? hd_slice_make(s.p + dstart, j - dstart) : hd_slice_cstr(".");
    char tmp[512];
    const char *value = letter_value(l, c, tmp, sizeof tmp);
    if (value == NULL)
        return hd_err_set(err, HD_ESYNTAX, "macro at offset %zu: no value for '%c'", i, letter);
    int rc;
    if (letter != l) { /* upper case: URL-encode (§7.3) */
        hd_buf t;
        hd_buf_init(&t, out->max);
        rc = transform(value, delims, reverse, n, &t);
        if (rc == 0)
            rc = url_encode(hd_buf_slice(&t), out);
        hd_buf_free(&t);
    } else {
        rc = transform(value, delims, reverse, n, out);
    }
    if (rc != 0)
        return hd_err_set(err, rc, "macro at offset %zu: expansion too long", i);
    *next = j + 1;
    return 0;
}

int hd_spf_macro_expand(hd_slice s, const hd_spf_macro_ctx *c, hd_buf *out, hd_err *err)
{
    for (size_t i = 0; i < s.len;) {
        uint8_t ch = s.p[i];
        int rc = 0;
        if (ch != '%') {
            rc = hd_buf_append_byte(out, ch);
            i++;
        } else if (i + 1 >= s.len) {
            return hd_err_set(err, HD_ESYNTAX, "macro at offset %zu: a lone '%%' at the end", i);
        } else if (s.p[i + 1] == '%') {
            rc = hd_buf_append_byte(out, '%');
            i += 2;
        } else if (s.p[i + 1] == '_') {
            rc = hd_buf_append_byte(out, ' ');
            i += 2;
        } else if (s.p[i + 1] == '-') {
            rc = hd_buf_append_cstr(out, "%20");
            i += 2;
        } else if (s.p[i + 1] == '{') {
            rc = expand_one(s, i, c, out, &i, err);
            if (rc != 0)
                return rc;
        } else {
            return hd_err_set(err, HD_ESYNTAX, "macro at offset %zu: '%%' must be followed by "
                                               "'{', '%%', '_' or '-'", i);
        }
        if (rc != 0)
            return hd_err_set(err, rc, "macro expansion too long");
    }
    return 0;
}
