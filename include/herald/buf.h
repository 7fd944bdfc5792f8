/*
 * herald/buf.h - the two string types: an owning growable buffer with a
 * size cap, and a borrowed slice.
 *
 * hd_buf owns its bytes (free with hd_buf_free). It is given a maximum size
 * when initialised; an append past it fails with HD_ELIMIT, so no input can
 * grow memory without bound. The bytes are kept NUL-terminated for
 * convenience, but len is the truth: parsers take pointer and length.
 *
 * hd_slice borrows: it points into memory someone else owns and is valid
 * only as long as that memory.
 */
#ifndef HERALD_BUF_H
#define HERALD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hd_slice {
    const uint8_t *p;
    size_t len;
} hd_slice;

typedef struct hd_buf {
    uint8_t *p;  /* owned; NUL at p[len] once anything was appended */
    size_t len;
    size_t cap;
    size_t max;  /* hard cap on len */
} hd_buf;

#define HD_SLICE_NULL ((hd_slice){NULL, 0})

static inline hd_slice hd_slice_make(const void *p, size_t len)
{
    return (hd_slice){(const uint8_t *)p, len};
}
hd_slice hd_slice_cstr(const char *s);
bool hd_slice_eq(hd_slice a, hd_slice b);
bool hd_slice_eq_cstr(hd_slice a, const char *s);
bool hd_slice_caseeq(hd_slice a, hd_slice b);           /* ASCII case-insensitive */
bool hd_slice_caseeq_cstr(hd_slice a, const char *s);
hd_slice hd_slice_trim_wsp(hd_slice s);                 /* strips SP, HTAB, CR, LF */
/* Offset of the first occurrence of needle in hay, or (size_t)-1. */
size_t hd_slice_find(hd_slice hay, hd_slice needle);

/* Initialise an empty buffer that may grow to max bytes. */
void hd_buf_init(hd_buf *b, size_t max);
void hd_buf_free(hd_buf *b);
void hd_buf_reset(hd_buf *b);                           /* len = 0, keeps memory */
int hd_buf_reserve(hd_buf *b, size_t extra);            /* HD_ENOMEM / HD_ELIMIT */
int hd_buf_append(hd_buf *b, const void *p, size_t len);
int hd_buf_append_slice(hd_buf *b, hd_slice s);
int hd_buf_append_cstr(hd_buf *b, const char *s);
int hd_buf_append_byte(hd_buf *b, uint8_t c);
int hd_buf_printf(hd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append formatted text to the NUL-terminated string in dst (size bytes,
 * *used of them taken), cut at the end of dst: for short fixed-size texts
 * (a reason in an Authentication-Results comment). */
void hd_str_addf(char *dst, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline hd_slice hd_buf_slice(const hd_buf *b)
{
    return (hd_slice){b->p, b->len};
}
/* The contents as a C string ("" for an empty buffer). */
const char *hd_buf_cstr(const hd_buf *b);
/* Hand the bytes to the caller (free() them); the buffer becomes empty. */
uint8_t *hd_buf_steal(hd_buf *b, size_t *len);

/* A malloc'ed NUL-terminated copy of a slice, or NULL. */
char *hd_slice_strdup(hd_slice s);

#endif
