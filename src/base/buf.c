/*
 * buf.c - the owning, capped byte buffer and the borrowed slice.
 *
 * Invariant: len <= cap, len <= max, and once memory is allocated p[len] is
 * a NUL byte (cap counts that byte's room separately).
 */
#include <herald/buf.h>
#include <herald/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

hd_slice hd_slice_cstr(const char *s)
{
    return (hd_slice){(const uint8_t *)s, s ? strlen(s) : 0};
}

bool hd_slice_eq(hd_slice a, hd_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool hd_slice_eq_cstr(hd_slice a, const char *s)
{
    return hd_slice_eq(a, hd_slice_cstr(s));
}

bool hd_slice_caseeq(hd_slice a, hd_slice b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (ascii_lower(a.p[i]) != ascii_lower(b.p[i]))
            return false;
    return true;
}

bool hd_slice_caseeq_cstr(hd_slice a, const char *s)
{
    return hd_slice_caseeq(a, hd_slice_cstr(s));
}

static bool is_wsp_or_eol(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

hd_slice hd_slice_trim_wsp(hd_slice s)
{
    while (s.len > 0 && is_wsp_or_eol(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && is_wsp_or_eol(s.p[s.len - 1]))
        s.len--;
    return s;
}

size_t hd_slice_find(hd_slice hay, hd_slice needle)
{
    if (needle.len == 0)
        return 0;
    for (size_t i = 0; i + needle.len <= hay.len; i++) {
        const uint8_t *q = memchr(hay.p + i, needle.p[0], hay.len - i - needle.len + 1);
        if (q == NULL)
            break;
        i = (size_t)(q - hay.p);
        if (memcmp(q, needle.p, needle.len) == 0)
            return i;
    }
    return (size_t)-1;
}

char *hd_slice_strdup(hd_slice s)
{
    char *r = malloc(s.len + 1);
    if (r == NULL)
        return NULL;
    if (s.len > 0)
        memcpy(r, s.p, s.len);
    r[s.len] = '\0';
    return r;
}

void hd_buf_init(hd_buf *b, size_t max)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void hd_buf_free(hd_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void hd_buf_reset(hd_buf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

int hd_buf_reserve(hd_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return HD_ELIMIT;
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    uint8_t *np = realloc(b->p, ncap);
    if (np == NULL)
        return HD_ENOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}

int hd_buf_append(hd_buf *b, const void *p, size_t len)
{
    int rc = hd_buf_reserve(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int hd_buf_append_slice(hd_buf *b, hd_slice s)
{
    return hd_buf_append(b, s.p, s.len);
}

int hd_buf_append_cstr(hd_buf *b, const char *s)
{
    return hd_buf_append(b, s, strlen(s));
}

int hd_buf_append_byte(hd_buf *b, uint8_t c)
{
    return hd_buf_append(b, &c, 1);
}

int hd_buf_printf(hd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HD_EINVAL;
    int rc = hd_buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *hd_buf_cstr(const hd_buf *b)
{
    return b->p != NULL ? (const char *)b->p : "";
}

uint8_t *hd_buf_steal(hd_buf *b, size_t *len)
{
    uint8_t *p = b->p;
    if (len != NULL)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void hd_str_addf(char *dst, size_t size, size_t *used, const char *fmt, ...)
{
    if (size == 0 || *used >= size - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}
