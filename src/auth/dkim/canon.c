/*
 * canon.c - DKIM canonicalization (RFC 6376 §3.4) and header selection
 * (§5.4.2): pure functions over bytes.
 *
 * The body is streamed straight from the message into the hash: spans that
 * canonicalization leaves untouched (almost all of a relaxed body) are
 * passed to the hash without copying; only whitespace runs that change are
 * rewritten. Input line ends are CRLF (the caller converts bare LF first).
 */
#include "auth/dkim/dkim_int.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static void sink_put(dkim_body_sink *s, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (s->total < s->limit) {
        uint64_t room = s->limit - s->total;
        size_t k = (uint64_t)n < room ? n : (size_t)room;
        if (s->md != NULL && EVP_DigestUpdate(s->md, p, k) != 1)
            s->failed = 1;
        if (s->capture != NULL && hd_buf_append(s->capture, p, k) != 0)
            s->failed = 1;
    }
    s->total += n;
}

static const uint8_t crlf[2] = {'\r', '\n'};

static bool is_crlf_at(hd_slice b, size_t i)
{
    return i + 1 < b.len && b.p[i] == '\r' && b.p[i + 1] == '\n';
}

/* RFC 6376 §3.4.3: trailing empty lines removed; an empty body is CRLF. */
static void canon_body_simple(hd_slice b, dkim_body_sink *s)
{
    size_t end = b.len;
    while (end >= 2 && b.p[end - 2] == '\r' && b.p[end - 1] == '\n')
        end -= 2;
    sink_put(s, b.p, end);
    sink_put(s, crlf, 2);
}

/* Offset just after the last byte that relaxed canonicalization keeps:
 * trailing WSP, line ends and empty lines all go (§3.4.4 a and c). */
static size_t relaxed_body_end(hd_slice b)
{
    size_t i = b.len;
    while (i > 0) {
        uint8_t c = b.p[i - 1];
        if (c == ' ' || c == '\t' || c == '\n')
            i--;
        else if (c == '\r' && i < b.len && b.p[i] == '\n')
            i--;
        else
            break;
    }
    return i;
}

/* Is the byte at i a place where relaxed canonicalization may change
 * something: a tab, or a space followed by SP, HTAB or CR? */
static bool relaxed_trouble(const uint8_t *p, size_t i, size_t end)
{
    if (p[i] == '\t')
        return true;
    return p[i] == ' ' && i + 1 < end && (p[i + 1] == ' ' || p[i + 1] == '\t' || p[i + 1] == '\r');
}

#ifdef __SSE2__
/* Trouble bytes among p[0..15] (reads p[16] too): a tab, or a space
 * followed by SP, HTAB or CR. */
static inline __m128i trouble16(const uint8_t *p)
{
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
    __m128i next_ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, sp), _mm_cmpeq_epi8(b, tab)),
                                   _mm_cmpeq_epi8(b, cr));
    return _mm_or_si128(_mm_cmpeq_epi8(a, tab), _mm_and_si128(_mm_cmpeq_epi8(a, sp), next_ws));
}
#endif

/* Offset of the first trouble byte at or after i, or end. Almost all of a
 * body is single spaces between words, which stay as they are; this scan
 * is what lets those spans go to the hash untouched. With SSE2 (every
 * x86-64) it looks at 16 bytes a step. */
static size_t next_trouble(const uint8_t *p, size_t i, size_t end)
{
#ifdef __SSE2__
    while (i + 33 <= end) { /* two blocks a step, one branch */
        if (_mm_movemask_epi8(_mm_or_si128(trouble16(p + i), trouble16(p + i + 16))) != 0)
            break;
        i += 32;
    }
    while (i + 17 <= end) {
        int mask = _mm_movemask_epi8(trouble16(p + i));
        if (mask != 0)
            return i + (size_t)__builtin_ctz((unsigned)mask);
        i += 16;
    }
#endif
    while (i < end && !relaxed_trouble(p, i, end))
        i++;
    return i;
}

/* RFC 6376 §3.4.4: WSP at line ends removed, WSP runs made one SP, empty
 * lines at the end removed; a non-empty body ends with CRLF (erratum
 * 1384), an empty one stays empty. */
static void canon_body_relaxed(hd_slice b, dkim_body_sink *s)
{
    size_t end = relaxed_body_end(b);
    if (end == 0)
        return;
    size_t span = 0, i = 0;
    while ((i = next_trouble(b.p, i, end)) < end) {
        /* a space before a bare CR (not a line end) stays */
        if (b.p[i] == ' ' && b.p[i + 1] == '\r' && !is_crlf_at(b, i + 1)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < end && (b.p[j] == ' ' || b.p[j] == '\t'))
            j++;
        sink_put(s, b.p + span, i - span);
        if (!is_crlf_at(b, j))
            sink_put(s, (const uint8_t *)" ", 1);
        span = i = j;
    }
    sink_put(s, b.p + span, end - span);
    sink_put(s, crlf, 2);
}

void dkim_canon_body(hd_dkim_canon canon, hd_slice body, dkim_body_sink *sink)
{
    if (canon == HD_DKIM_SIMPLE)
        canon_body_simple(body, sink);
    else
        canon_body_relaxed(body, sink);
}

static uint8_t ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* RFC 6376 §3.4.2: lower-case name, unfold, WSP runs to one SP, no WSP at
 * the value's end nor around the colon. */
static int canon_header_relaxed(hd_slice name, hd_slice value, hd_buf *out)
{
    int rc = hd_buf_reserve(out, name.len + value.len + 3);
    if (rc != 0)
        return rc;
    uint8_t *o = out->p + out->len;
    for (size_t i = 0; i < name.len; i++)
        *o++ = ascii_lower(name.p[i]);
    *o++ = ':';
    bool pending_space = false, started = false;
    for (size_t i = 0; i < value.len; i++) {
        uint8_t c = value.p[i];
        if (c == '\r' && i + 1 < value.len && value.p[i + 1] == '\n') {
            i++; /* unfold: the CRLF goes, the WSP after it is a run */
            continue;
        }
        if (c == '\n')
            continue;
        if (c == ' ' || c == '\t') {
            pending_space = started;
            continue;
        }
        if (pending_space)
            *o++ = ' ';
        pending_space = false;
        started = true;
        *o++ = c;
    }
    out->len = (size_t)(o - out->p);
    return 0;
}

int dkim_canon_header(hd_dkim_canon canon, hd_slice raw, hd_slice name, hd_slice value,
                      bool with_crlf, hd_buf *out)
{
    int rc = canon == HD_DKIM_SIMPLE ? hd_buf_append_slice(out, raw)
                                     : canon_header_relaxed(name, value, out);
    if (rc == 0 && with_crlf)
        rc = hd_buf_append(out, crlf, 2);
    else if (rc == 0)
        out->p[out->len] = '\0';
    return rc;
}

int dkim_parse_message(hd_slice msg, hd_buf *copy, hd_msg **out, hd_err *err)
{
    *out = NULL;
    int rc = hd_msg_parse(msg, NULL, out, err);
    if (rc != 0 || !(hd_msg_flags(*out) & HD_MSG_BARE_LF))
        return rc;
    hd_msg_free(*out);
    *out = NULL;
    if ((rc = hd_mail_to_crlf(msg, copy)) != 0)
        return hd_err_set(err, rc, "converting LF line ends to CRLF: %s", hd_strerror(rc));
    return hd_msg_parse(hd_buf_slice(copy), NULL, out, err);
}

static int canon_word(hd_slice w, hd_dkim_canon *out)
{
    if (hd_slice_eq_cstr(w, "simple"))
        *out = HD_DKIM_SIMPLE;
    else if (hd_slice_eq_cstr(w, "relaxed"))
        *out = HD_DKIM_RELAXED;
    else
        return HD_ESYNTAX;
    return 0;
}

int dkim_parse_canon(hd_slice c, hd_dkim_canon *header, hd_dkim_canon *body)
{
    hd_slice parts[3];
    size_t n = hd_tag_split(c, '/', parts, 3);
    *header = *body = HD_DKIM_SIMPLE;
    if (n == 0 || n > 2 || canon_word(parts[0], header) != 0)
        return HD_ESYNTAX;
    if (n == 2 && canon_word(parts[1], body) != 0)
        return HD_ESYNTAX;
    return 0;
}

const char *dkim_canon_name(hd_dkim_canon c)
{
    return c == HD_DKIM_SIMPLE ? "simple" : "relaxed";
}

/* Same field name? Lengths first: most pairs differ there. */
static inline bool same_name(hd_slice a, hd_slice b)
{
    return a.len == b.len && hd_slice_caseeq(a, b);
}

size_t dkim_select_headers(const hd_msg *msg, const hd_slice *names, size_t nnames,
                           size_t *out)
{
    size_t nfields = hd_msg_nfields(msg);
    for (size_t k = 0; k < nnames; k++) {
        /* how many earlier h= entries had this name: that many instances,
         * counted from the bottom, are used already */
        size_t used = 0;
        for (size_t e = 0; e < k; e++)
            used += same_name(names[e], names[k]);
        out[k] = (size_t)-1;
        for (size_t f = nfields; f-- > 0;) {
            if (!same_name(hd_msg_field(msg, f)->name, names[k]))
                continue;
            if (used-- == 0) {
                out[k] = f;
                break;
            }
        }
    }
    return nnames;
}

static bool label_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-';
}

/* Dot-separated labels of letters, digits and hyphens (underscore allowed
 * where allow_underscore, as selectors use it), none empty, none longer
 * than 63 octets, no hyphen at a label's start or end. */
static bool labels_ok(hd_slice d, bool allow_underscore)
{
    if (d.len == 0 || d.len > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= d.len; i++) {
        if (i == d.len || d.p[i] == '.') {
            size_t n = i - start;
            if (n == 0 || n > 63 || d.p[start] == '-' || d.p[i - 1] == '-')
                return false;
            start = i + 1;
        } else if (!label_char(d.p[i]) && !(allow_underscore && d.p[i] == '_')) {
            return false;
        }
    }
    return true;
}

bool dkim_domain_ok(hd_slice d)
{
    return labels_ok(d, true) && d.p[d.len - 1] != '.';
}

bool dkim_selector_ok(hd_slice s)
{
    return labels_ok(s, true);
}

bool dkim_identity_in_domain(hd_slice id_domain, hd_slice d)
{
    if (id_domain.len < d.len)
        return false;
    hd_slice tail = hd_slice_make(id_domain.p + id_domain.len - d.len, d.len);
    if (!hd_slice_caseeq(tail, d))
        return false;
    return id_domain.len == d.len || id_domain.p[id_domain.len - d.len - 1] == '.';
}
