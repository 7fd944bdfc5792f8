/*
 * header.c - RFC 5322 header section parsing on raw bytes, and line-end
 * helpers.
 *
 * Purpose: split a message into header fields and body without copying or
 * re-serializing anything, so a DKIM signer or verifier hashes exactly the
 * bytes that arrived.
 *
 * Ownership: an hd_msg borrows the caller's bytes (raw must outlive it) and
 * owns only its array of field records (hd_msg_free releases it).
 *
 * Invariants, for every field f of a parsed message:
 *   f.name, f.value and f.raw point into raw; f.raw starts at f.name;
 *   f.value ends where f.raw ends (before the final line end);
 *   f.raw_eol - f.raw.len is 0, 1 (LF) or 2 (CRLF), and 0 only for the
 *   last field of a message that ends without a line end;
 *   the fields and the line ends between them tile raw up to the empty line.
 *
 * Choices (RFC 5322 §2.2, §3.6, §4):
 *   - A line ends at LF, with or without a CR before it (bare LF sets
 *     HD_MSG_BARE_LF). A CR not followed by LF is data (HD_MSG_BARE_CR).
 *   - HD_MSG_BARE_LF and HD_MSG_BARE_CR describe the whole message, body
 *     included, because canonicalization cares about both; the body scan
 *     is memchr-based and stops early for each flag once it is known.
 *     HD_MSG_8BIT_HEADER and the NUL check cover the header only.
 *   - Header size limits count line ends: max_field_bytes bounds raw_eol,
 *     max_header_bytes bounds the header section including the empty line.
 *   - A line of only WSP after a field is an (obsolete, §4.2) continuation.
 */
#include <herald/limits.h>
#include <herald/mail.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct hd_msg {
    hd_slice raw;
    hd_hdr_field *fields;
    size_t n, cap;
    size_t body_off;
    unsigned flags;
};

/* One physical line: content is [start, end), next is just past its line
 * end (== end when the input ends without one). */
typedef struct line {
    size_t start, end, next;
    bool has_lf;
} line;

typedef struct parser {
    hd_msg *m;
    const uint8_t *p;
    size_t len;
    size_t max_fields, max_field_bytes, max_header;
    size_t lineno; /* 1-based number of the line being parsed */
    hd_err *err;
} parser;

/* ftext: printable US-ASCII except ':' (RFC 5322 §3.6.8). */
static inline bool is_ftext(uint8_t c)
{
    return c >= 33 && c <= 126 && c != ':';
}

static inline bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Byte-parallel tests on 8 bytes at a time (byte order does not matter). */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t has_zero_byte(uint64_t v)
{
    return (v - ONES) & ~v & HIGHS;
}

/* Classify one content byte; returns false on NUL. */
static inline bool note_byte(uint8_t c, unsigned *flags)
{
    if (c == 0)
        return false;
    if (c == '\r')
        *flags |= HD_MSG_BARE_CR;
    else if (c >= 0x80)
        *flags |= HD_MSG_8BIT_HEADER;
    return true;
}

/* Scan line content for CR (always bare here: the CR of a CRLF is outside
 * the content), 8-bit bytes and NUL. Returns the offset of the first NUL,
 * or n when there is none. */
static size_t scan_content(const uint8_t *s, size_t n, unsigned *flags)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, sizeof v);
        if (((v & HIGHS) | has_zero_byte(v) | has_zero_byte(v ^ (ONES * '\r'))) == 0)
            continue;
        for (size_t j = 0; j < 8; j++)
            if (!note_byte(s[i + j], flags))
                return i + j;
    }
    for (; i < n; i++)
        if (!note_byte(s[i], flags))
            return i;
    return n;
}

/* Find the line starting at pos, without looking past the header limit. */
static int next_line(parser *ps, size_t pos, line *ln)
{
    size_t lim = ps->len < ps->max_header ? ps->len : ps->max_header;
    if (pos >= lim)
        return hd_err_set(ps->err, HD_ELIMIT, "line %zu: header section longer than %zu bytes",
                          ps->lineno, ps->max_header);
    const uint8_t *nl = memchr(ps->p + pos, '\n', lim - pos);
    ln->start = pos;
    if (nl == NULL) {
        if (lim < ps->len)
            return hd_err_set(ps->err, HD_ELIMIT,
                              "line %zu: header section longer than %zu bytes", ps->lineno,
                              ps->max_header);
        ln->end = ln->next = ps->len;
        ln->has_lf = false;
        return 0;
    }
    size_t at = (size_t)(nl - ps->p);
    ln->next = at + 1;
    ln->has_lf = true;
    ln->end = (at > pos && ps->p[at - 1] == '\r') ? at - 1 : at;
    if (ln->end == at)
        ps->m->flags |= HD_MSG_BARE_LF;
    return 0;
}

static int check_field_size(parser *ps, const hd_hdr_field *f)
{
    if (f->raw_eol > ps->max_field_bytes)
        return hd_err_set(ps->err, HD_ELIMIT, "line %zu: header field longer than %zu bytes",
                          ps->lineno, ps->max_field_bytes);
    return 0;
}

static int push_field(parser *ps, const hd_hdr_field *f)
{
    hd_msg *m = ps->m;
    if (m->n >= ps->max_fields)
        return hd_err_set(ps->err, HD_ELIMIT, "line %zu: more than %zu header fields",
                          ps->lineno, ps->max_fields);
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 32;
        if (ncap > ps->max_fields)
            ncap = ps->max_fields;
        hd_hdr_field *nf = realloc(m->fields, ncap * sizeof *nf);
        if (nf == NULL)
            return hd_err_set(ps->err, HD_ENOMEM, "out of memory for header fields");
        m->fields = nf;
        m->cap = ncap;
    }
    m->fields[m->n++] = *f;
    return 0;
}

/* Explain why a line is not "name *WSP ':'" (RFC 5322 §3.6.8, §4.5). */
static int bad_field_line(parser *ps, const line *ln, size_t name_end, size_t i)
{
    const uint8_t *p = ps->p;
    if (i == ln->end)
        return hd_err_set(ps->err, HD_ESYNTAX, "line %zu: header line without a colon",
                          ps->lineno);
    if (i > name_end)
        return hd_err_set(ps->err, HD_ESYNTAX,
                          "line %zu: expected ':' after the field name '%.*s'", ps->lineno,
                          (int)(name_end - ln->start > 64 ? 64 : name_end - ln->start),
                          (const char *)p + ln->start);
    return hd_err_set(ps->err, HD_ESYNTAX,
                      "line %zu: byte 0x%02x at column %zu is not allowed in a field name",
                      ps->lineno, p[i], i - ln->start + 1);
}

/* A line that starts a new field: "name *WSP ':' value". */
static int start_field(parser *ps, const line *ln)
{
    const uint8_t *p = ps->p;
    size_t i = ln->start;
    while (i < ln->end && is_ftext(p[i]))
        i++;
    size_t name_end = i;
    while (i < ln->end && is_wsp(p[i]))
        i++;
    if (i == ln->end || p[i] != ':')
        return bad_field_line(ps, ln, name_end, i);
    if (name_end == ln->start)
        return hd_err_set(ps->err, HD_ESYNTAX, "line %zu: empty field name", ps->lineno);
    if (i > name_end)
        ps->m->flags |= HD_MSG_OBS_SYNTAX; /* §4.5: WSP before the colon */
    hd_hdr_field f = {
        .name = hd_slice_make(p + ln->start, name_end - ln->start),
        .value = hd_slice_make(p + i + 1, ln->end - (i + 1)),
        .raw = hd_slice_make(p + ln->start, ln->end - ln->start),
        .raw_eol = ln->next - ln->start,
        .line = ps->lineno,
    };
    int rc = check_field_size(ps, &f);
    return rc != 0 ? rc : push_field(ps, &f);
}

/* A line starting with WSP: unfold into the previous field (§2.2.3). */
static int continue_field(parser *ps, const line *ln)
{
    if (ps->m->n == 0)
        return hd_err_set(ps->err, HD_ESYNTAX, "line %zu: continuation line before the first field",
                          ps->lineno);
    hd_hdr_field *f = &ps->m->fields[ps->m->n - 1];
    size_t fstart = (size_t)(f->raw.p - ps->p);
    size_t vstart = (size_t)(f->value.p - ps->p);
    f->raw.len = ln->end - fstart;
    f->value.len = ln->end - vstart;
    f->raw_eol = ln->next - fstart;
    return check_field_size(ps, f);
}

static int parse_line(parser *ps, const line *ln)
{
    size_t n = ln->end - ln->start;
    size_t nul = scan_content(ps->p + ln->start, n, &ps->m->flags);
    if (nul < n)
        return hd_err_set(ps->err, HD_ESYNTAX, "line %zu: NUL byte in the header at column %zu",
                          ps->lineno, nul + 1);
    if (is_wsp(ps->p[ln->start]))
        return continue_field(ps, ln);
    return start_field(ps, ln);
}

/* Flags of the byte pair (p[i-1], p[i]) for a line-end scan: an LF whose
 * byte before is not CR, or a CR (at i-1) whose byte after is not LF. */
static unsigned eol_pair_flags(const uint8_t *p, size_t i, size_t from, size_t len)
{
    unsigned flags = 0;
    if (p[i] == '\n' && (i == from || p[i - 1] != '\r'))
        flags |= HD_MSG_BARE_LF;
    if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
        flags |= HD_MSG_BARE_CR;
    return flags;
}

/* HD_MSG_BARE_LF / HD_MSG_BARE_CR over the body, in one pass that stops
 * once both are known; raw[from - 1] is the LF of the empty line, so an
 * LF at the body's first byte is bare. Every message signed or verified
 * comes through here, so with SSE2 it tests 16 bytes a step. */
static unsigned scan_body_eols(hd_slice raw, size_t from)
{
    const unsigned both = HD_MSG_BARE_LF | HD_MSG_BARE_CR;
    unsigned flags = 0;
    const uint8_t *p = raw.p;
    size_t i = from, len = raw.len;
    if (i < len)
        flags |= eol_pair_flags(p, i++, from, len);
#ifdef __SSE2__
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
    while (flags != both && i + 17 <= len) { /* reads p[i-1 .. i+16] */
        __m128i prev = _mm_loadu_si128((const __m128i *)(const void *)(p + i - 1));
        __m128i cur = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i next = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
        __m128i bare_lf = _mm_andnot_si128(_mm_cmpeq_epi8(prev, cr), _mm_cmpeq_epi8(cur, lf));
        __m128i bare_cr = _mm_andnot_si128(_mm_cmpeq_epi8(next, lf), _mm_cmpeq_epi8(cur, cr));
        if (_mm_movemask_epi8(bare_lf))
            flags |= HD_MSG_BARE_LF;
        if (_mm_movemask_epi8(bare_cr))
            flags |= HD_MSG_BARE_CR;
        i += 16;
    }
#endif
    for (; flags != both && i < len; i++)
        flags |= eol_pair_flags(p, i, from, len);
    return flags;
}

static void init_parser(parser *ps, hd_msg *m, hd_slice raw, const hd_msg_limits *lim,
                        hd_err *err)
{
    ps->m = m;
    ps->p = raw.p;
    ps->len = raw.len;
    ps->max_fields = lim && lim->max_fields ? lim->max_fields : HD_LIMIT_HEADER_FIELDS;
    ps->max_field_bytes =
        lim && lim->max_field_bytes ? lim->max_field_bytes : HD_LIMIT_HEADER_FIELD_BYTES;
    ps->max_header = lim && lim->max_header_bytes ? lim->max_header_bytes : HD_LIMIT_HEADER_BYTES;
    ps->lineno = 1;
    ps->err = err;
}

/* Walk lines until the empty line that ends the header (§2.1, §3.5). */
static int parse_header(parser *ps)
{
    hd_msg *m = ps->m;
    size_t pos = 0;
    while (pos < ps->len) {
        line ln = {0, 0, 0, false};
        int rc = next_line(ps, pos, &ln);
        if (rc != 0)
            return rc;
        if (ln.end == ln.start) { /* content empty and pos < len: an LF follows */
            m->body_off = ln.next;
            return 0;
        }
        rc = parse_line(ps, &ln);
        if (rc != 0)
            return rc;
        pos = ln.next;
        ps->lineno++;
    }
    m->body_off = ps->len;
    m->flags |= HD_MSG_NO_BODY;
    return 0;
}

int hd_msg_parse(hd_slice raw, const hd_msg_limits *limits, hd_msg **out, hd_err *err)
{
    if (out == NULL)
        return hd_err_set(err, HD_EINVAL, "hd_msg_parse: no output pointer");
    *out = NULL;
    if (raw.p == NULL && raw.len > 0)
        return hd_err_set(err, HD_EINVAL, "hd_msg_parse: NULL bytes");
    hd_msg *m = calloc(1, sizeof *m);
    if (m == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for a message");
    m->raw = raw;
    parser ps;
    init_parser(&ps, m, raw, limits, err);
    int rc = parse_header(&ps);
    if (rc != 0) {
        hd_msg_free(m);
        return rc;
    }
    if (m->body_off < raw.len && !(limits != NULL && limits->header_only))
        m->flags |= scan_body_eols(raw, m->body_off);
    *out = m;
    return 0;
}

void hd_msg_free(hd_msg *msg)
{
    if (msg == NULL)
        return;
    free(msg->fields);
    free(msg);
}

size_t hd_msg_nfields(const hd_msg *msg)
{
    return msg != NULL ? msg->n : 0;
}

const hd_hdr_field *hd_msg_field(const hd_msg *msg, size_t i)
{
    return (msg != NULL && i < msg->n) ? &msg->fields[i] : NULL;
}

size_t hd_msg_find(const hd_msg *msg, const char *name, size_t from)
{
    if (msg == NULL || name == NULL)
        return (size_t)-1;
    hd_slice want = hd_slice_cstr(name);
    for (size_t i = from; i < msg->n; i++)
        if (msg->fields[i].name.len == want.len && hd_slice_caseeq(msg->fields[i].name, want))
            return i;
    return (size_t)-1;
}

size_t hd_msg_count(const hd_msg *msg, const char *name)
{
    size_t count = 0;
    for (size_t i = hd_msg_find(msg, name, 0); i != (size_t)-1; i = hd_msg_find(msg, name, i + 1))
        count++;
    return count;
}

hd_slice hd_msg_body(const hd_msg *msg)
{
    if (msg == NULL || msg->raw.p == NULL)
        return HD_SLICE_NULL;
    return hd_slice_make(msg->raw.p + msg->body_off, msg->raw.len - msg->body_off);
}

size_t hd_msg_body_offset(const hd_msg *msg)
{
    return msg != NULL ? msg->body_off : 0;
}

unsigned hd_msg_flags(const hd_msg *msg)
{
    return msg != NULL ? msg->flags : 0;
}

/* Line ends ---------------------------------------------------------------- */

/* Number of bare LFs in raw, stopping once more than stop are counted. */
static size_t count_bare_lf(hd_slice raw, size_t stop)
{
    size_t count = 0;
    const uint8_t *end = raw.p + raw.len;
    for (const uint8_t *s = raw.p; s < end && count <= stop;) {
        const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            break;
        if (nl == raw.p || nl[-1] != '\r')
            count++;
        s = nl + 1;
    }
    return count;
}

bool hd_mail_has_bare_lf(hd_slice raw)
{
    if (raw.p == NULL || raw.len == 0)
        return false;
    return count_bare_lf(raw, 0) > 0;
}

/* One sizing pass, then bulk copies: on error out is left unchanged. */
int hd_mail_to_crlf(hd_slice raw, hd_buf *out)
{
    if (out == NULL || (raw.p == NULL && raw.len > 0))
        return HD_EINVAL;
    if (raw.len == 0)
        return 0;
    size_t extra = count_bare_lf(raw, SIZE_MAX - 1);
    if (extra > SIZE_MAX - raw.len)
        return HD_ELIMIT;
    int rc = hd_buf_reserve(out, raw.len + extra);
    if (rc != 0)
        return rc;
    const uint8_t *s = raw.p, *chunk = raw.p, *end = raw.p + raw.len;
    while (s < end) {
        const uint8_t *nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL)
            break;
        if (nl == raw.p || nl[-1] != '\r') { /* room was reserved above */
            hd_buf_append(out, chunk, (size_t)(nl - chunk));
            hd_buf_append(out, "\r\n", 2);
            chunk = nl + 1;
        }
        s = nl + 1;
    }
    return hd_buf_append(out, chunk, (size_t)(end - chunk));
}
