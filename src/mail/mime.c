/*
 * mime.c - a bounded, non-copying MIME reader: Content-Type with
 * parameters (RFC 2045 §5.1, RFC 2231), multipart walking (RFC 2046
 * §5.1.1), and base64 / quoted-printable decoding (RFC 2045 §6.7, §6.8).
 *
 * Ownership: an hd_mime borrows the caller's bytes; it owns its part array
 * and one hd_msg per part (hd_mime_free releases them).
 *
 * Invariants: parts are in depth-first pre-order, every part's raw and
 * body lie inside the parsed bytes, depth <= max_depth, n <= max_parts.
 * Recursion is bounded by max_depth.
 *
 * Choices:
 *   - Delimiter lines may end in CRLF or a bare LF (mail.h accepts both);
 *     the line end before a delimiter belongs to it (§5.1.1).
 *   - A delimiter line is "--boundary" then optional "--", then only
 *     transport padding (SP, HTAB) before the line end.
 *   - An unquoted parameter value is any run of visible characters other
 *     than ';' and '"': real mail writes boundary=----=_Part_1 unquoted.
 */
#include <herald/mime.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Content-Type grammar ---------------------------------------------------- */

typedef struct cur {
    const uint8_t *p;
    size_t len, i;
} cur;

/* Comments nest (RFC 5322 §3.2.2); deeper than this is not a header. */
#define COMMENT_DEPTH_MAX 32
/* RFC 2231 §3: continuation sections joined for one parameter. */
#define PARAM_SECTIONS_MAX 64

static bool is_tspecial(uint8_t c)
{
    return c != 0 && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(uint8_t c)
{
    return c > 0x20 && c < 0x7f && !is_tspecial(c);
}

static bool at_end(const cur *c)
{
    return c->i >= c->len;
}

static int skip_comment(cur *c, hd_err *err)
{
    size_t start = c->i;
    unsigned depth = 0;
    while (!at_end(c)) {
        uint8_t ch = c->p[c->i++];
        if (ch == '\\' && !at_end(c))
            c->i++;
        else if (ch == '(' && ++depth > COMMENT_DEPTH_MAX)
            return hd_err_set(err, HD_ELIMIT, "comments nested too deep at offset %zu", c->i - 1);
        else if (ch == ')' && --depth == 0)
            return 0;
    }
    return hd_err_set(err, HD_ESYNTAX, "unterminated comment at offset %zu", start);
}

/* Skip folding whitespace and comments. */
static int skip_cfws(cur *c, hd_err *err)
{
    while (!at_end(c)) {
        uint8_t ch = c->p[c->i];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            c->i++;
        } else if (ch == '(') {
            int rc = skip_comment(c, err);
            if (rc != 0)
                return rc;
        } else {
            break;
        }
    }
    return 0;
}

static bool take_token(cur *c, hd_slice *out)
{
    size_t s = c->i;
    while (!at_end(c) && is_token_char(c->p[c->i]))
        c->i++;
    *out = hd_slice_make(c->p + s, c->i - s);
    return c->i > s;
}

/* A quoted-string, quotes included in out. */
static int take_quoted(cur *c, hd_slice *out, hd_err *err)
{
    size_t s = c->i++;
    while (!at_end(c)) {
        uint8_t ch = c->p[c->i++];
        if (ch == '\\' && !at_end(c)) {
            c->i++;
        } else if (ch == '"') {
            *out = hd_slice_make(c->p + s, c->i - s);
            return 0;
        }
    }
    return hd_err_set(err, HD_ESYNTAX, "unterminated quoted string at offset %zu", s);
}

static void take_loose_value(cur *c, hd_slice *out)
{
    size_t s = c->i;
    while (!at_end(c) && c->p[c->i] > 0x20 && c->p[c->i] != 0x7f && c->p[c->i] != ';' &&
           c->p[c->i] != '"')
        c->i++;
    *out = hd_slice_make(c->p + s, c->i - s);
}

typedef struct param {
    hd_slice name, value; /* value keeps its quotes when quoted */
    bool quoted;
} param;

static int param_value(cur *c, param *pr, hd_err *err)
{
    if (!at_end(c) && c->p[c->i] == '"') {
        pr->quoted = true;
        return take_quoted(c, &pr->value, err);
    }
    pr->quoted = false;
    take_loose_value(c, &pr->value);
    if (pr->value.len == 0)
        return hd_err_set(err, HD_ESYNTAX, "parameter without a value at offset %zu", c->i);
    return 0;
}

/* The next "; name=value": 1 when one was read, 0 at the end. Empty
 * parameters (";;", a trailing ';') are skipped. */
static int next_param(cur *c, param *pr, hd_err *err)
{
    for (;;) {
        int rc = skip_cfws(c, err);
        if (rc != 0)
            return rc;
        if (at_end(c))
            return 0;
        if (c->p[c->i] != ';')
            return hd_err_set(err, HD_ESYNTAX, "expected ';' at offset %zu", c->i);
        c->i++;
        if ((rc = skip_cfws(c, err)) != 0)
            return rc;
        if (at_end(c) || c->p[c->i] == ';')
            continue;
        if (!take_token(c, &pr->name))
            return hd_err_set(err, HD_ESYNTAX, "expected a parameter name at offset %zu", c->i);
        if ((rc = skip_cfws(c, err)) != 0)
            return rc;
        if (at_end(c) || c->p[c->i] != '=')
            return hd_err_set(err, HD_ESYNTAX, "expected '=' after parameter at offset %zu", c->i);
        c->i++;
        if ((rc = skip_cfws(c, err)) != 0)
            return rc;
        if ((rc = param_value(c, pr, err)) != 0)
            return rc;
        return 1;
    }
}

int hd_mime_ctype_parse(hd_slice value, hd_mime_ctype *out, hd_err *err)
{
    cur c = {value.p, value.len, 0};
    int rc = skip_cfws(&c, err);
    if (rc != 0)
        return rc;
    if (!take_token(&c, &out->type))
        return hd_err_set(err, HD_ESYNTAX, "expected a media type at offset %zu", c.i);
    if ((rc = skip_cfws(&c, err)) != 0)
        return rc;
    if (at_end(&c) || c.p[c.i] != '/')
        return hd_err_set(err, HD_ESYNTAX, "expected '/' after the media type at offset %zu", c.i);
    c.i++;
    if ((rc = skip_cfws(&c, err)) != 0)
        return rc;
    if (!take_token(&c, &out->subtype))
        return hd_err_set(err, HD_ESYNTAX, "expected a subtype at offset %zu", c.i);
    out->params = hd_slice_make(c.p + c.i, c.len - c.i);
    /* check the parameter list once, so lookups only fail on absence */
    param pr;
    while ((rc = next_param(&c, &pr, err)) == 1)
        ;
    return rc;
}

bool hd_mime_ctype_is(const hd_mime_ctype *ct, const char *type, const char *subtype)
{
    return hd_slice_caseeq_cstr(ct->type, type) &&
           (subtype == NULL || hd_slice_caseeq_cstr(ct->subtype, subtype));
}

static int append_unquoted(const param *pr, hd_buf *out)
{
    if (!pr->quoted)
        return hd_buf_append_slice(out, pr->value);
    for (size_t i = 1; i + 1 < pr->value.len; i++) {
        if (pr->value.p[i] == '\\' && i + 2 < pr->value.len)
            i++;
        int rc = hd_buf_append_byte(out, pr->value.p[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 2231 §4: an extended value is %XX-encoded; the first section starts
 * with charset'language' which is skipped (no charset conversion). */
static int append_extended(const param *pr, bool first, hd_buf *out)
{
    hd_slice v = pr->value;
    size_t i = 0;
    if (pr->quoted) /* not allowed by §4, but seen: take it literally */
        return append_unquoted(pr, out);
    if (first) {
        const uint8_t *q1 = memchr(v.p, '\'', v.len);
        const uint8_t *q2 = q1 ? memchr(q1 + 1, '\'', v.len - (size_t)(q1 + 1 - v.p)) : NULL;
        if (q2 != NULL)
            i = (size_t)(q2 + 1 - v.p);
    }
    for (; i < v.len; i++) {
        uint8_t ch = v.p[i];
        if (ch == '%' && i + 2 < v.len && hexval(v.p[i + 1]) >= 0 && hexval(v.p[i + 2]) >= 0) {
            ch = (uint8_t)(hexval(v.p[i + 1]) << 4 | hexval(v.p[i + 2]));
            i += 2;
        }
        int rc = hd_buf_append_byte(out, ch);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Does pname read "<name>*" (section -1) or "<name>*<k>[*]"? Sets *section
 * and *ext. */
static bool match_section(hd_slice pname, const char *name, int *section, bool *ext)
{
    size_t nl = strlen(name);
    if (pname.len <= nl || pname.p[nl] != '*' || !hd_slice_caseeq_cstr(hd_slice_make(pname.p, nl), name))
        return false;
    size_t i = nl + 1;
    if (i == pname.len) {
        *section = -1;
        *ext = true;
        return true;
    }
    int k = 0;
    size_t digits = 0;
    while (i < pname.len && pname.p[i] >= '0' && pname.p[i] <= '9' && digits < 3) {
        k = k * 10 + (pname.p[i++] - '0');
        digits++;
    }
    if (digits == 0 || (digits > 1 && pname.p[nl + 1] == '0'))
        return false;
    *ext = i < pname.len && pname.p[i] == '*';
    if (*ext)
        i++;
    *section = k;
    return i == pname.len;
}

static int param_done(int rc, const char *name, hd_err *err)
{
    if (rc == 0)
        return 0;
    return hd_err_set(err, rc, "parameter %s: value %s", name,
                      rc == HD_ELIMIT ? "over the size cap" : "could not be stored");
}

int hd_mime_param(const hd_mime_ctype *ct, const char *name, hd_buf *out, hd_err *err)
{
    cur c = {ct->params.p, ct->params.len, 0};
    param pr, sections[PARAM_SECTIONS_MAX];
    bool have[PARAM_SECTIONS_MAX] = {false}, ext[PARAM_SECTIONS_MAX] = {false};
    int rc;
    while ((rc = next_param(&c, &pr, err)) == 1) {
        int k;
        bool e;
        if (hd_slice_caseeq_cstr(pr.name, name))
            return param_done(append_unquoted(&pr, out), name, err);
        if (!match_section(pr.name, name, &k, &e))
            continue;
        if (k < 0)
            return param_done(append_extended(&pr, true, out), name, err);
        if (k < PARAM_SECTIONS_MAX && !have[k]) {
            sections[k] = pr;
            have[k] = true;
            ext[k] = e;
        }
    }
    if (rc != 0)
        return rc;
    if (!have[0])
        return HD_ENOTFOUND; /* absence is an answer, not an error message */
    /* §3: sections join in order up to the first missing one */
    for (int k = 0; k < PARAM_SECTIONS_MAX && have[k]; k++) {
        rc = ext[k] ? append_extended(&sections[k], k == 0, out) : append_unquoted(&sections[k], out);
        if (rc != 0)
            return param_done(rc, name, err);
    }
    return 0;
}

/* The tree walker ----------------------------------------------------------- */

struct hd_mime {
    hd_slice raw;
    hd_mime_part *parts;
    hd_msg **hdrs;
    size_t n, cap;
    unsigned flags;
    unsigned max_depth;
    size_t max_parts;
    bool lax_part_headers;
    hd_err *err;
};

static const char k_text[] = "text", k_plain[] = "plain", k_message[] = "message",
                  k_rfc822[] = "rfc822";

static int grow(hd_mime *m)
{
    if (m->n < m->cap)
        return 0;
    size_t cap = m->cap ? m->cap * 2 : 8;
    if (cap > m->max_parts)
        cap = m->max_parts;
    hd_mime_part *p = realloc(m->parts, cap * sizeof *p);
    if (p == NULL)
        return hd_err_set(m->err, HD_ENOMEM, "out of memory for MIME parts");
    m->parts = p;
    hd_msg **h = realloc(m->hdrs, cap * sizeof *h);
    if (h == NULL)
        return hd_err_set(m->err, HD_ENOMEM, "out of memory for MIME parts");
    m->hdrs = h;
    m->cap = cap;
    return 0;
}

static void set_ctype(hd_mime *m, hd_mime_part *p, const hd_msg *msg, bool in_digest)
{
    /* RFC 2046 §5.1.5: in a digest the default is message/rfc822 */
    hd_mime_ctype def = {hd_slice_cstr(in_digest ? k_message : k_text),
                         hd_slice_cstr(in_digest ? k_rfc822 : k_plain), HD_SLICE_NULL};
    p->ctype = def;
    size_t f = hd_msg_find(msg, "Content-Type", 0);
    if (f == (size_t)-1)
        return;
    /* RFC 2045 §5.2: an unreadable Content-Type is taken as text/plain */
    if (hd_mime_ctype_parse(hd_msg_field(msg, f)->value, &p->ctype, NULL) != 0) {
        p->ctype = (hd_mime_ctype){hd_slice_cstr(k_text), hd_slice_cstr(k_plain), HD_SLICE_NULL};
        m->flags |= HD_MIME_BAD_CTYPE;
    }
}

static int add_part(hd_mime *m, hd_slice raw, size_t parent, bool in_digest, size_t *idx)
{
    size_t offset = (size_t)(raw.p - m->raw.p);
    unsigned depth = parent == (size_t)-1 ? 0 : m->parts[parent].depth + 1;
    if (depth > m->max_depth)
        return hd_err_set(m->err, HD_ELIMIT, "MIME nesting deeper than %u at byte %zu",
                          m->max_depth, offset);
    if (m->n >= m->max_parts)
        return hd_err_set(m->err, HD_ELIMIT, "more than %zu MIME parts (at byte %zu)",
                          m->max_parts, offset);
    int rc = grow(m);
    if (rc != 0)
        return rc;
    hd_msg *msg = NULL;
    bool bad_header = false;
    if ((rc = hd_msg_parse(raw, NULL, &msg, m->err)) != 0) {
        if (!m->lax_part_headers || parent == (size_t)-1 || rc != HD_ESYNTAX)
            return hd_err_prefix(m->err, "MIME part at byte %zu: ", offset), rc;
        /* an empty header: the part is all body */
        hd_err_clear(m->err);
        if ((rc = hd_msg_parse(hd_slice_make(raw.p, 0), NULL, &msg, m->err)) != 0)
            return rc;
        bad_header = true;
        m->flags |= HD_MIME_BAD_HEADER;
    }
    hd_mime_part *p = &m->parts[m->n];
    memset(p, 0, sizeof *p);
    p->raw = raw;
    p->body = bad_header ? raw : hd_msg_body(msg);
    p->offset = offset;
    p->parent = parent;
    p->depth = depth;
    set_ctype(m, p, msg, in_digest);
    size_t f = hd_msg_find(msg, "Content-Transfer-Encoding", 0);
    if (f != (size_t)-1)
        p->cte = hd_slice_trim_wsp(hd_msg_field(msg, f)->value);
    m->hdrs[m->n] = msg;
    if (parent != (size_t)-1)
        m->parts[parent].nchildren++;
    *idx = m->n++;
    return 0;
}

static bool cte_is_identity(hd_slice cte)
{
    return cte.len == 0 || hd_slice_caseeq_cstr(cte, "7bit") ||
           hd_slice_caseeq_cstr(cte, "8bit") || hd_slice_caseeq_cstr(cte, "binary");
}

typedef struct delim {
    size_t start;  /* first byte of the line end before "--" (or of "--") */
    size_t next;   /* first byte after the delimiter line */
    bool close;
} delim;

/* Is there a delimiter line at line start j of body? */
static bool delim_at(hd_slice body, size_t j, hd_slice b, delim *d)
{
    const uint8_t *p = body.p;
    size_t n = body.len;
    if (n - j < 2 + b.len || p[j] != '-' || p[j + 1] != '-' || memcmp(p + j + 2, b.p, b.len) != 0)
        return false;
    size_t i = j + 2 + b.len;
    d->close = i + 1 < n && p[i] == '-' && p[i + 1] == '-';
    if (d->close)
        i += 2;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
        i += 2;
    else if (i < n && p[i] == '\n')
        i++;
    else if (i < n)
        return false;
    d->next = i;
    d->start = j;
    if (j >= 1 && p[j - 1] == '\n')
        d->start = j - 1 - (j >= 2 && p[j - 2] == '\r');
    return true;
}

/* The next delimiter at a line start at or after from. */
static bool next_delim(hd_slice body, size_t from, hd_slice b, delim *d)
{
    size_t j = from;
    while (j < body.len) {
        if ((j == 0 || body.p[j - 1] == '\n') && delim_at(body, j, b, d))
            return true;
        const uint8_t *lf = memchr(body.p + j, '\n', body.len - j);
        if (lf == NULL)
            return false;
        j = (size_t)(lf - body.p) + 1;
    }
    return false;
}

static int walk(hd_mime *m, size_t idx);

static int walk_multipart(hd_mime *m, size_t idx, hd_slice b)
{
    hd_slice body = m->parts[idx].body;
    bool digest = hd_slice_caseeq_cstr(m->parts[idx].ctype.subtype, "digest");
    delim d;
    if (!next_delim(body, 0, b, &d)) {
        m->flags |= HD_MIME_NO_DELIMITER;
        return 0;
    }
    while (!d.close) {
        size_t start = d.next;
        delim nd;
        bool found = next_delim(body, start, b, &nd);
        size_t end = found ? nd.start : body.len;
        if (end < start) /* two delimiter lines share one line end */
            end = start;
        size_t child;
        int rc = add_part(m, hd_slice_make(body.p + start, end - start), idx, digest, &child);
        if (rc == 0)
            rc = walk(m, child);
        if (rc != 0)
            return rc;
        if (!found) {
            m->flags |= HD_MIME_NO_CLOSE;
            break;
        }
        d = nd;
    }
    return 0;
}

static int walk(hd_mime *m, size_t idx)
{
    hd_mime_part *p = &m->parts[idx];
    if (hd_mime_ctype_is(&p->ctype, "multipart", NULL)) {
        uint8_t bb[HD_MIME_BOUNDARY_MAX + 1];
        hd_buf b;
        hd_buf_init(&b, HD_MIME_BOUNDARY_MAX);
        int rc = hd_mime_param(&p->ctype, "boundary", &b, NULL);
        size_t bl = b.len;
        if (rc == 0 && bl > 0)
            memcpy(bb, b.p, bl);
        hd_buf_free(&b);
        if (rc != 0 || bl == 0) {
            m->flags |= HD_MIME_NO_BOUNDARY;
            return 0;
        }
        return walk_multipart(m, idx, hd_slice_make(bb, bl));
    }
    if ((hd_mime_ctype_is(&p->ctype, "message", "rfc822") ||
         hd_mime_ctype_is(&p->ctype, "message", "global")) &&
        cte_is_identity(p->cte) && p->body.len > 0) {
        size_t child;
        int rc = add_part(m, p->body, idx, false, &child);
        return rc != 0 ? rc : walk(m, child);
    }
    return 0;
}

int hd_mime_parse(hd_slice raw, const hd_mime_limits *limits, hd_mime **out, hd_err *err)
{
    if (out == NULL || (raw.p == NULL && raw.len > 0))
        return hd_err_set(err, HD_EINVAL, "hd_mime_parse: bad arguments");
    *out = NULL;
    hd_mime *m = calloc(1, sizeof *m);
    if (m == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for a MIME tree");
    static const uint8_t empty[1];
    m->raw = raw.p != NULL ? raw : hd_slice_make(empty, 0);
    m->max_depth = limits && limits->max_depth ? limits->max_depth : HD_MIME_MAX_DEPTH;
    m->max_parts = limits && limits->max_parts ? limits->max_parts : HD_MIME_MAX_PARTS;
    m->lax_part_headers = limits && limits->lax_part_headers;
    m->err = err;
    size_t root;
    int rc = add_part(m, m->raw, (size_t)-1, false, &root);
    if (rc == 0)
        rc = walk(m, root);
    m->err = NULL;
    if (rc != 0) {
        hd_mime_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void hd_mime_free(hd_mime *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        hd_msg_free(m->hdrs[i]);
    free(m->hdrs);
    free(m->parts);
    free(m);
}

size_t hd_mime_nparts(const hd_mime *m)
{
    return m->n;
}

const hd_mime_part *hd_mime_part_at(const hd_mime *m, size_t i)
{
    return i < m->n ? &m->parts[i] : NULL;
}

const hd_msg *hd_mime_part_header(const hd_mime *m, size_t i)
{
    return i < m->n ? m->hdrs[i] : NULL;
}

size_t hd_mime_find(const hd_mime *m, const char *type, const char *subtype, size_t from)
{
    for (size_t i = from; i < m->n; i++)
        if (hd_mime_ctype_is(&m->parts[i].ctype, type, subtype))
            return i;
    return (size_t)-1;
}

unsigned hd_mime_flags(const hd_mime *m)
{
    return m->flags;
}

/* Transfer decodings ---------------------------------------------------------- */

/* Decoders stage output here and append in blocks. */
typedef struct sink {
    hd_buf *out;
    uint8_t tmp[1024];
    size_t n;
    int rc;
} sink;

static void sink_put(sink *s, uint8_t c)
{
    if (s->n == sizeof s->tmp) {
        if (s->rc == 0)
            s->rc = hd_buf_append(s->out, s->tmp, s->n);
        s->n = 0;
    }
    s->tmp[s->n++] = c;
}

static int sink_flush(sink *s, hd_err *err, const char *what)
{
    if (s->rc == 0 && s->n > 0)
        s->rc = hd_buf_append(s->out, s->tmp, s->n);
    s->n = 0;
    if (s->rc != 0)
        return hd_err_set(err, s->rc, "%s: decoded data %s", what,
                          s->rc == HD_ELIMIT ? "over the size cap" : "could not be stored");
    return 0;
}

static int b64_val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int hd_mime_decode_base64(hd_slice in, hd_buf *out, hd_err *err)
{
    sink s = {.out = out};
    uint32_t q = 0;
    unsigned n = 0;
    size_t last = 0;
    for (size_t i = 0; i < in.len && s.rc == 0; i++) {
        if (in.p[i] == '=')
            break;
        int v = b64_val(in.p[i]);
        if (v < 0)
            continue;
        q = q << 6 | (uint32_t)v;
        last = i;
        if (++n == 4) {
            sink_put(&s, (uint8_t)(q >> 16));
            sink_put(&s, (uint8_t)(q >> 8));
            sink_put(&s, (uint8_t)q);
            n = 0;
            q = 0;
        }
    }
    if (n == 1 && s.rc == 0)
        return hd_err_set(err, HD_ESYNTAX, "base64: a lone 6-bit group at offset %zu", last);
    if (n >= 2)
        sink_put(&s, (uint8_t)(q >> (6 * n - 8)));
    if (n == 3)
        sink_put(&s, (uint8_t)(q >> 2));
    return sink_flush(&s, err, "base64");
}

/* One quoted-printable line, content [0, len), without its line end. */
static void qp_line(sink *s, const uint8_t *p, size_t len, bool *soft)
{
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) /* §6.7 rule 3 */
        len--;
    *soft = len > 0 && p[len - 1] == '=';
    if (*soft) /* rule 5: a soft line break */
        len--;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '=' && i + 2 < len && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            sink_put(s, (uint8_t)(hexval(p[i + 1]) << 4 | hexval(p[i + 2])));
            i += 2;
        } else {
            sink_put(s, p[i]);
        }
    }
}

int hd_mime_decode_qp(hd_slice in, hd_buf *out, hd_err *err)
{
    sink s = {.out = out};
    size_t i = 0;
    while (i < in.len && s.rc == 0) {
        const uint8_t *lf = memchr(in.p + i, '\n', in.len - i);
        size_t end = lf ? (size_t)(lf - in.p) : in.len;
        size_t content = end;
        if (lf != NULL && content > i && in.p[content - 1] == '\r')
            content--;
        bool soft;
        qp_line(&s, in.p + i, content - i, &soft);
        if (lf != NULL && !soft)
            for (size_t k = content; k <= end; k++)
                sink_put(&s, in.p[k]);
        i = lf ? end + 1 : in.len;
    }
    return sink_flush(&s, err, "quoted-printable");
}

int hd_mime_decode(const hd_mime_part *part, hd_buf *out, hd_err *err)
{
    hd_slice cte = part->cte;
    if (hd_slice_caseeq_cstr(cte, "base64"))
        return hd_mime_decode_base64(part->body, out, err);
    if (hd_slice_caseeq_cstr(cte, "quoted-printable"))
        return hd_mime_decode_qp(part->body, out, err);
    if (!cte_is_identity(cte))
        return hd_err_set(err, HD_EUNSUPPORTED,
                          "MIME part at byte %zu: unknown Content-Transfer-Encoding \"%.*s\"",
                          part->offset, (int)(cte.len > 40 ? 40 : cte.len), (const char *)cte.p);
    int rc = hd_buf_append_slice(out, part->body);
    if (rc != 0)
        return hd_err_set(err, rc, "MIME part at byte %zu: body over the size cap", part->offset);
    return 0;
}
