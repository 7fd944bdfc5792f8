/*
 * value.c - the typed values of the configuration file: numbers with
 * units, booleans, IP literals and networks, host names, endpoints.
 *
 * Every parser takes the whole value as a slice and accepts it entirely
 * or not at all; nothing here allocates.
 */
#include "config/config_int.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

bool hd_config__uint(hd_slice s, uint64_t max, uint64_t *out)
{
    if (s.len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!is_digit(s.p[i]))
            return false;
        unsigned d = (unsigned)(s.p[i] - '0');
        if (v > max / 10 || d > max - v * 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* A number followed by at most one unit letter from units, whose
 * multipliers are in mult. */
static bool number_with_unit(hd_slice s, const char *units, const uint64_t *mult,
                             uint64_t max, uint64_t *out)
{
    uint64_t m = 1;
    if (s.len > 0 && !is_digit(s.p[s.len - 1])) {
        const char *u = memchr(units, lower(s.p[s.len - 1]), strlen(units));
        if (u == NULL)
            return false;
        m = mult[u - units];
        s.len--;
    }
    uint64_t v;
    if (!hd_config__uint(s, max, &v) || (v != 0 && v > max / m))
        return false;
    *out = v * m;
    return true;
}

bool hd_config__size(hd_slice s, uint64_t *out)
{
    static const uint64_t mult[] = {1024, 1024 * 1024, 1024 * 1024 * 1024};
    return number_with_unit(s, "kmg", mult, UINT64_MAX, out);
}

bool hd_config__duration(hd_slice s, uint64_t *out)
{
    static const uint64_t mult[] = {1, 60, 3600, 86400};
    return number_with_unit(s, "smhd", mult, UINT32_MAX, out);
}

bool hd_config__bool(hd_slice s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on"};
    static const char *const no[] = {"no", "false", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (hd_slice_caseeq_cstr(s, yes[i])) {
            *out = true;
            return true;
        }
        if (hd_slice_caseeq_cstr(s, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

int hd_config__ip(hd_slice s, uint8_t addr[16])
{
    char text[INET6_ADDRSTRLEN];
    if (s.len == 0 || s.len >= sizeof text || memchr(s.p, '\0', s.len) != NULL)
        return 0;
    memcpy(text, s.p, s.len);
    text[s.len] = '\0';
    if (inet_pton(AF_INET, text, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, text, addr) == 1)
        return AF_INET6;
    return 0;
}

static bool is_v4_mapped(const uint8_t a[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, prefix, sizeof prefix) == 0;
}

const char *hd_config__cidr(hd_slice s, int *family, uint8_t addr[16], unsigned *len)
{
    const uint8_t *slash = s.len ? memchr(s.p, '/', s.len) : NULL;
    hd_slice a = hd_slice_make(s.p, slash ? (size_t)(slash - s.p) : s.len);
    int fam = hd_config__ip(a, addr);
    if (fam == 0)
        return "an IPv4 or IPv6 address before the '/'";
    uint64_t bits = fam == AF_INET ? 32 : 128;
    if (slash != NULL) {
        hd_slice l = hd_slice_make(slash + 1, s.len - a.len - 1);
        if (l.len > 3 || !hd_config__uint(l, bits, &bits))
            return fam == AF_INET ? "a prefix length of 0..32 after the '/'"
                                  : "a prefix length of 0..128 after the '/'";
    }
    if (fam == AF_INET6 && bits >= 96 && is_v4_mapped(addr)) {
        memmove(addr, addr + 12, 4);
        fam = AF_INET;
        bits -= 96;
    }
    *family = fam;
    *len = (unsigned)bits;
    return NULL;
}

/* One label: RFC 1035 §2.3.1 LDH (RFC 1123 §2.1 lets it start with a digit). */
static const char *label_check(hd_slice l)
{
    if (l.len == 0)
        return "an empty label (two dots, or a leading dot)";
    if (l.len > 63)
        return "a label longer than 63 bytes (RFC 1035 §2.3.4)";
    if (l.p[0] == '-' || l.p[l.len - 1] == '-')
        return "a label that starts or ends with '-'";
    for (size_t i = 0; i < l.len; i++)
        if (!is_alpha(l.p[i]) && !is_digit(l.p[i]) && l.p[i] != '-')
            return "a character other than a letter, digit, '-' or '.' "
                   "(write internationalized names as xn-- A-labels)";
    return NULL;
}

const char *hd_config__domain(hd_slice s, char *out)
{
    if (s.len > 0 && s.p[s.len - 1] == '.')
        s.len--;
    if (s.len == 0)
        return "no labels";
    if (s.len > HD_LIMIT_DNS_NAME)
        return "more than 253 bytes (RFC 1035 §2.3.4)";
    size_t start = 0;
    bool all_digits = true;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.p[i] != '.')
            continue;
        hd_slice l = hd_slice_make(s.p + start, i - start);
        const char *why = label_check(l);
        if (why != NULL)
            return why;
        all_digits = true;
        for (size_t k = 0; k < l.len; k++)
            all_digits = all_digits && is_digit(l.p[k]);
        start = i + 1;
    }
    /* RFC 3696 §2: a top-level domain is never all digits, which keeps an
     * IPv4 address from passing as a name. */
    if (all_digits)
        return "an all-digit last label (an IP address is not a name)";
    for (size_t i = 0; i < s.len; i++)
        out[i] = (char)lower(s.p[i]);
    out[s.len] = '\0';
    return NULL;
}

const char *hd_config__pool_name(hd_slice s, char *out)
{
    if (s.len == 0)
        return "no characters";
    if (s.len > HD_CONFIG_POOL_NAME_MAX)
        return "more than 64 bytes";
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = lower(s.p[i]);
        if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-')
            return "a character other than a-z, 0-9, '_' or '-'";
        out[i] = (char)c;
    }
    out[s.len] = '\0';
    return NULL;
}

/* ":PORT" at the start of s, and nothing after it. */
static const char *port_check(hd_slice s, uint16_t *port)
{
    uint64_t v;
    if (s.len == 0 || s.p[0] != ':')
        return "HOST:PORT (the port is required)";
    if (!hd_config__uint(hd_slice_make(s.p + 1, s.len - 1), 65535, &v) || v == 0)
        return "a port of 1..65535 after the ':'";
    *port = (uint16_t)v;
    return NULL;
}

const char *hd_config__endpoint(hd_slice s, hd_slice *host, bool *is_name, uint16_t *port)
{
    uint8_t addr[16];
    if (s.len > 0 && s.p[0] == '[') {
        const uint8_t *close = memchr(s.p, ']', s.len);
        if (close == NULL)
            return "[IPv6]:PORT (no closing ']')";
        hd_slice h = hd_slice_make(s.p + 1, (size_t)(close - s.p) - 1);
        if (hd_config__ip(h, addr) != AF_INET6)
            return "an IPv6 address inside the brackets";
        const char *why = port_check(hd_slice_make(close + 1, s.len - h.len - 2), port);
        if (why != NULL)
            return why;
        *host = h;
        *is_name = false;
        return NULL;
    }
    size_t colon = s.len;
    while (colon > 0 && s.p[colon - 1] != ':')
        colon--;
    if (colon == 0)
        return "HOST:PORT (the port is required)";
    hd_slice h = hd_slice_make(s.p, colon - 1);
    if (memchr(h.p, ':', h.len) != NULL)
        return "[IPv6]:PORT (an IPv6 address goes in brackets)";
    const char *why = port_check(hd_slice_make(s.p + h.len, s.len - h.len), port);
    if (why != NULL)
        return why;
    char name[HD_LIMIT_DNS_NAME + 1];
    *is_name = hd_config__ip(h, addr) == 0;
    if (*is_name && hd_config__domain(h, name) != NULL)
        return "an IPv4 address or a host name before the ':'";
    *host = h;
    return NULL;
}

const char *hd_config__resolver(hd_slice s)
{
    const uint8_t *at = s.len ? memchr(s.p, '@', s.len) : NULL;
    hd_slice a = hd_slice_make(s.p, at ? (size_t)(at - s.p) : s.len);
    uint8_t addr[16];
    if (hd_config__ip(a, addr) == 0)
        return "ADDR[@PORT] with an IPv4 or IPv6 address (e.g. 127.0.0.1@5353)";
    uint64_t port;
    if (at != NULL &&
        (!hd_config__uint(hd_slice_make(at + 1, s.len - a.len - 1), 65535, &port) || port == 0))
        return "ADDR[@PORT] with a port of 1..65535 after the '@'";
    return NULL;
}

/* Length of the UTF-8 sequence at s.p[i], or 0 if it is not valid
 * (RFC 3629 §4). */
static size_t utf8_len(hd_slice s, size_t i)
{
    uint8_t c = s.p[i];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        if (c == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else
        return 0;
    if (i + n > s.len)
        return 0;
    if (s.p[i + 1] < lo || s.p[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s.p[i + k] < 0x80 || s.p[i + k] > 0xbf)
            return 0;
    return n;
}

size_t hd_config__utf8_bad(hd_slice s)
{
    for (size_t i = 0; i < s.len;) {
        size_t n = utf8_len(s, i);
        if (n == 0)
            return i;
        i += n;
    }
    return (size_t)-1;
}
