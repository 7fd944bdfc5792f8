/*
 * mime7.c - 8-bit MIME leaf parts re-encoded to quoted-printable or base64
 * (RFC 2045 §6.7, §6.8), for RFC 6152 §3 and RFC 6376 §5.3.
 *
 * Two passes over the caller's bytes: plan (walk the MIME tree, decide
 * for each 8-bit leaf whether and how it can be re-encoded, note why not
 * otherwise) and write (copy everything between the planned edits as it
 * is, scanning those copied bytes for 8-bit ones: what is still 8-bit in
 * the result is exactly what was copied, since every encoder writes
 * 7-bit). So the report's eight_bit never depends on the planner having
 * thought of every case.
 *
 * An edit is a part's Content-Transfer-Encoding field (replaced, or a
 * new one added at the end of the part's header) and the part's body
 * (replaced by its encoding). Parts come in depth-first pre-order, so
 * edits are in offset order and never overlap (only leaves are edited).
 *
 * Ownership: nothing is kept; the plan borrows the message.
 */
#include <herald/mime.h>
#include <herald/mime7.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool hd_mime7_has_8bit(hd_slice s)
{
    size_t i = 0;
    /* eight bytes at a time: this scan is all a 7-bit message costs */
    for (; i + 8 <= s.len; i += 8) {
        uint64_t w;
        memcpy(&w, s.p + i, 8);
        if (w & 0x8080808080808080ull)
            return true;
    }
    for (; i < s.len; i++)
        if (s.p[i] & 0x80)
            return true;
    return false;
}

static size_t first_8bit(hd_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] & 0x80)
            return i;
    return s.len;
}

/* Output staging ------------------------------------------------------------ */

/* Encoders write into a small array and append it in blocks, so the
 * per-byte work is a store, not a bounded-buffer call. */
typedef struct stage {
    hd_buf *out;
    uint8_t tmp[8192];
    size_t n;
    int rc;
} stage;

static void stage_flush(stage *s)
{
    if (s->rc == 0 && s->n > 0)
        s->rc = hd_buf_append(s->out, s->tmp, s->n);
    s->n = 0;
}

/* Room for at least k more bytes (k <= 96: eol is at most 2). */
static inline void stage_room(stage *s, size_t k)
{
    if (s->n + k > sizeof s->tmp)
        stage_flush(s);
}

static inline void stage_put(stage *s, uint8_t c)
{
    s->tmp[s->n++] = c;
}

static void stage_str(stage *s, const char *str)
{
    while (*str)
        stage_put(s, (uint8_t)*str++);
}

static const char k_hex[] = "0123456789ABCDEF";

/* Quoted-printable ---------------------------------------------------------- */

/* Byte classes for quoted-printable (RFC 2045 §6.7): Q_LITERAL may be
 * written as it is (rule 2: 33-126 but "="), Q_WSP only where no line
 * end follows (rule 3), everything else is =XX; Q_ODD marks the bytes
 * (NUL, CR inside a line) that make a body look binary. */
enum { Q_LITERAL = 1, Q_WSP = 2, Q_ODD = 4 };
static const uint8_t k_qclass[256] = {
    4, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* One line's content p[0, len), its line end not included. */
static void qp_line(stage *s, const uint8_t *p, size_t len, const char *eol)
{
    size_t col = 0;
    for (size_t j = 0; j < len && s->rc == 0;) {
        stage_room(s, 96);
        if (col > 0 && col < HD_MIME7_LINE_MAX - 1 && k_qclass[p[j]] == Q_LITERAL) {
            /* a run of literal bytes up to the soft break: copied at once */
            size_t stop = j + HD_MIME7_LINE_MAX - 1 - col, k = j;
            if (stop > len)
                stop = len;
            uint8_t *w = s->tmp + s->n;
            /* runs are short in 8-bit text: a byte loop beats memcpy calls */
            while (k < stop && k_qclass[p[k]] == Q_LITERAL)
                *w++ = p[k++];
            s->n += k - j;
            col += k - j;
            j = k;
            continue;
        }
        uint8_t c = p[j];
        bool last = j + 1 == len;
        /* rules 1, 2; rule 3: no SP or HTAB before a line end */
        bool encode = k_qclass[c] == Q_WSP ? last : k_qclass[c] != Q_LITERAL;
        size_t w = encode ? 3 : 1;
        /* rule 5: at most 76 characters, the soft break's "=" counted */
        if (col + w > (last ? HD_MIME7_LINE_MAX : HD_MIME7_LINE_MAX - 1)) {
            stage_put(s, '=');
            stage_str(s, eol);
            col = 0;
        }
        /* no line of the encoding starts "--", so none can read as a
         * boundary delimiter (RFC 2046 §5.1.1) */
        if (c == '-' && col == 0 && j + 1 < len && p[j + 1] == '-') {
            encode = true;
            w = 3;
        }
        if (encode) {
            stage_put(s, '=');
            stage_put(s, (uint8_t)k_hex[c >> 4]);
            stage_put(s, (uint8_t)k_hex[c & 15]);
        } else {
            stage_put(s, c);
        }
        col += w;
        j++;
    }
}

int hd_mime7_qp_encode(hd_slice in, const char *eol, hd_buf *out)
{
    stage s = {.out = out};
    const uint8_t *p = in.p;
    size_t n = in.len;
    for (size_t i = 0; i < n && s.rc == 0;) {
        const uint8_t *lf = memchr(p + i, '\n', n - i);
        size_t next = lf ? (size_t)(lf - p) + 1 : n;
        size_t end = lf ? next - 1 : n; /* the content ends here... */
        if (lf && end > i && p[end - 1] == '\r')
            end--;                       /* ...or before CRLF; a lone CR is content, =0D */
        qp_line(&s, p + i, end - i, eol);
        /* §6.7 rule 4: a line break of the text stays a line break */
        stage_room(&s, 2);
        for (size_t k = end; k < next; k++)
            stage_put(&s, p[k]);
        i = next;
    }
    stage_flush(&s);
    return s.rc;
}

/* Base64 -------------------------------------------------------------------- */

static const char k_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hd_mime7_b64_encode(hd_slice in, const char *eol, hd_buf *out)
{
    stage s = {.out = out};
    const uint8_t *p = in.p;
    size_t n = in.len, i = 0;
    /* §6.8: lines of 76 characters, 57 input bytes each */
    for (; i + 57 <= n && s.rc == 0; i += 57) {
        stage_room(&s, 80);
        for (size_t k = i; k < i + 57; k += 3) {
            uint32_t v = (uint32_t)p[k] << 16 | (uint32_t)p[k + 1] << 8 | p[k + 2];
            stage_put(&s, (uint8_t)k_b64[v >> 18]);
            stage_put(&s, (uint8_t)k_b64[(v >> 12) & 63]);
            stage_put(&s, (uint8_t)k_b64[(v >> 6) & 63]);
            stage_put(&s, (uint8_t)k_b64[v & 63]);
        }
        stage_str(&s, eol);
    }
    if (i < n && s.rc == 0) { /* the last, shorter line, padded */
        stage_room(&s, 80);
        for (; i < n; i += 3) {
            uint32_t v = (uint32_t)p[i] << 16;
            if (i + 1 < n)
                v |= (uint32_t)p[i + 1] << 8;
            if (i + 2 < n)
                v |= p[i + 2];
            stage_put(&s, (uint8_t)k_b64[v >> 18]);
            stage_put(&s, (uint8_t)k_b64[(v >> 12) & 63]);
            stage_put(&s, i + 1 < n ? (uint8_t)k_b64[(v >> 6) & 63] : '=');
            stage_put(&s, i + 2 < n ? (uint8_t)k_b64[v & 63] : '=');
        }
        stage_str(&s, eol);
    }
    stage_flush(&s);
    return s.rc;
}

/* The plan ------------------------------------------------------------------ */

typedef struct edit {
    size_t hdr_off, hdr_len; /* the CTE field to replace, or hdr_len 0: insert here */
    size_t body_off, body_len;
    bool b64;
    bool mime_version;       /* add MIME-Version: 1.0 with the field */
    const char *eol;
} edit;

typedef struct plan {
    hd_slice msg;
    edit *v;
    size_t n;
    hd_mime7_report *rep;
} plan;

static void why(plan *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(plan *pl, const char *fmt, ...)
{
    if (pl->rep->why[0])
        return; /* the first reason is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pl->rep->why, sizeof pl->rep->why, fmt, ap);
    va_end(ap);
}

/* The line end style of a header: that of its last field, else that of
 * the empty line after it. */
static const char *header_eol(const hd_msg *h, const hd_mime_part *part)
{
    size_t nf = hd_msg_nfields(h);
    if (nf > 0) {
        const hd_hdr_field *f = hd_msg_field(h, nf - 1);
        return f->raw_eol - f->raw.len == 1 ? "\n" : "\r\n";
    }
    return part->body.p - part->raw.p == 1 ? "\n" : "\r\n";
}

/* The slack covers each part's new fields and a trace field (mime7.h). */
_Static_assert(HD_MIME_MAX_PARTS * 64 + 1024 <= HD_MIME7_SLACK,
               "HD_MIME7_SLACK must hold the fields added to every part");

typedef struct scan {
    bool binary;   /* NUL, bare CR, or a line over 998 octets */
    size_t quoted; /* bytes quoted-printable writes as =XX */
} scan;

static scan scan_body(hd_slice b)
{
    scan r = {false, 0};
    unsigned odd = 0; /* a NUL, or a CR not before LF */
    for (size_t i = 0; i < b.len;) {
        const uint8_t *lf = memchr(b.p + i, '\n', b.len - i);
        size_t next = lf ? (size_t)(lf - b.p) + 1 : b.len;
        size_t end = lf ? next - 1 : b.len;
        if (lf && end > i && b.p[end - 1] == '\r')
            end--;
        r.binary |= end - i > HD_MIME7_SMTP_LINE_MAX;
        for (size_t k = i; k < end; k++) {
            unsigned t = k_qclass[b.p[k]];
            r.quoted += (t & (Q_LITERAL | Q_WSP)) == 0;
            odd |= t;
        }
        /* qp_line writes these as =XX too: a SP or HTAB before the line
         * end, the first '-' of a line starting "--"; counted so the
         * choice below bounds the growth (docs of hd_mime7_convert) */
        r.quoted += end > i && (k_qclass[b.p[end - 1]] & Q_WSP) != 0;
        r.quoted += end - i >= 2 && b.p[i] == '-' && b.p[i + 1] == '-';
        i = next;
    }
    r.binary |= (odd & Q_ODD) != 0;
    return r;
}

/* A part's name for a reason: its place in the tree as IMAP numbers it
 * (RFC 3501 §6.4.5: "part 2.1"), which stays true when herald adds
 * fields above the message, as byte offsets would not. */
static void part_name(const hd_mime *m, size_t i, char *out, size_t size)
{
    size_t path[HD_MIME_MAX_DEPTH + 2], depth = 0;
    for (size_t at = i; hd_mime_part_at(m, at)->parent != (size_t)-1 && depth < sizeof path / sizeof path[0];) {
        size_t parent = hd_mime_part_at(m, at)->parent, k = 1;
        for (size_t j = parent + 1; j < at; j++)
            k += hd_mime_part_at(m, j)->parent == parent;
        path[depth++] = k;
        at = parent;
    }
    const hd_mime_part *p = hd_mime_part_at(m, i);
    size_t used = 0;
    if (depth == 0)
        hd_str_addf(out, size, &used, "the message");
    else
        hd_str_addf(out, size, &used, "MIME part ");
    for (size_t d = depth; d > 0; d--)
        hd_str_addf(out, size, &used, "%s%zu", d == depth ? "" : ".", path[d - 1]);
    hd_str_addf(out, size, &used, " (%.*s/%.*s)", (int)(p->ctype.type.len > 40 ? 40 : p->ctype.type.len),
                (const char *)p->ctype.type.p,
                (int)(p->ctype.subtype.len > 40 ? 40 : p->ctype.subtype.len),
                (const char *)p->ctype.subtype.p);
}

/* Names the first header field with 8-bit bytes: the submitter knows its
 * message by its fields, not by the lines herald added above them. */
static void why_header(plan *pl, const hd_mime *m, size_t i)
{
    const hd_msg *h = hd_mime_part_header(m, i);
    for (size_t k = 0; k < hd_msg_nfields(h); k++) {
        const hd_hdr_field *f = hd_msg_field(h, k);
        if (!hd_mime7_has_8bit(f->raw))
            continue;
        char name[96];
        part_name(m, i, name, sizeof name);
        why(pl, "8-bit bytes in the %.*s field of %s, which only SMTPUTF8 may carry (RFC 6532)",
            (int)(f->name.len > 60 ? 60 : f->name.len), (const char *)f->name.p, name);
        return;
    }
}

/* Can leaf part i be re-encoded? Says why not when it cannot. */
static bool convertible(plan *pl, const hd_mime *m, size_t i)
{
    const hd_mime_part *p = hd_mime_part_at(m, i);
    const hd_msg *h = hd_mime_part_header(m, i);
    char name[96] = "";
    if (!pl->rep->why[0]) /* only the first reason is kept */
        part_name(m, i, name, sizeof name);
    if (hd_mime_ctype_is(&p->ctype, "multipart", NULL) || hd_mime_ctype_is(&p->ctype, "message", NULL)) {
        /* RFC 2045 §6.4: a composite type takes no encoding but an identity one */
        why(pl, "8-bit bytes in %s, which may not be re-encoded (RFC 2045 §6.4)", name);
        return false;
    }
    if (hd_msg_count(h, "Content-Transfer-Encoding") > 1) {
        why(pl, "%s has several Content-Transfer-Encoding fields", name);
        return false;
    }
    size_t ct = hd_msg_find(h, "Content-Type", 0);
    hd_mime_ctype unused;
    if (ct != (size_t)-1 && hd_mime_ctype_parse(hd_msg_field(h, ct)->value, &unused, NULL) != 0) {
        why(pl, "%s has an unreadable Content-Type", name);
        return false;
    }
    hd_slice cte = p->cte;
    if (cte.len == 0 || hd_slice_caseeq_cstr(cte, "7bit") || hd_slice_caseeq_cstr(cte, "8bit"))
        return true;
    if (hd_slice_caseeq_cstr(cte, "binary"))
        why(pl, "%s is encoded binary, which only BINARYMIME may carry (RFC 3030)", name);
    else
        why(pl, "8-bit bytes in %s, encoded \"%.*s\"", name, (int)(cte.len > 40 ? 40 : cte.len),
            (const char *)cte.p);
    return false;
}

static void plan_part(plan *pl, const hd_mime *m, size_t i)
{
    const hd_mime_part *p = hd_mime_part_at(m, i);
    const hd_msg *h = hd_mime_part_header(m, i);
    if ((hd_msg_flags(h) & HD_MSG_8BIT_HEADER) && !pl->rep->why[0])
        why_header(pl, m, i);
    if (p->nchildren > 0 || !hd_mime7_has_8bit(p->body) || !convertible(pl, m, i))
        return;
    edit *e = &pl->v[pl->n++];
    memset(e, 0, sizeof *e);
    e->eol = header_eol(h, p);
    size_t f = hd_msg_find(h, "Content-Transfer-Encoding", 0);
    if (f != (size_t)-1) {
        const hd_hdr_field *cf = hd_msg_field(h, f);
        e->hdr_off = (size_t)(cf->raw.p - pl->msg.p);
        e->hdr_len = cf->raw_eol;
    } else {
        size_t nf = hd_msg_nfields(h);
        const hd_hdr_field *last = nf ? hd_msg_field(h, nf - 1) : NULL;
        e->hdr_off = last ? (size_t)(last->raw.p - pl->msg.p) + last->raw_eol : p->offset;
    }
    /* RFC 2045 §4: a transfer encoding means MIME, which a message's top
     * level says: the whole message's, or one inside a message/rfc822 */
    bool top = p->parent == (size_t)-1 ||
               hd_slice_caseeq_cstr(hd_mime_part_at(m, p->parent)->ctype.type, "message");
    e->mime_version = top && hd_msg_find(h, "MIME-Version", 0) == (size_t)-1;
    e->body_off = (size_t)(p->body.p - pl->msg.p);
    e->body_len = p->body.len;
    scan sc = scan_body(p->body);
    /* whichever is shorter: =XX triples a byte, base64 adds a third to all */
    e->b64 = sc.binary || sc.quoted * 6 > p->body.len;
}

static int make_plan(plan *pl, hd_err *err)
{
    hd_mime *m = NULL;
    hd_err perr = {0};
    int rc = hd_mime_parse(pl->msg, NULL, &m, &perr);
    if (rc == HD_ENOMEM)
        return hd_err_set(err, rc, "out of memory for the MIME tree");
    if (rc != 0) {
        why(pl, "MIME structure not re-encoded: %s", hd_err_str(&perr));
        return 0;
    }
    size_t n = hd_mime_nparts(m);
    pl->v = calloc(n, sizeof *pl->v);
    if (pl->v == NULL) {
        hd_mime_free(m);
        return hd_err_set(err, HD_ENOMEM, "out of memory for the MIME plan");
    }
    for (size_t i = 0; i < n; i++)
        plan_part(pl, m, i);
    hd_mime_free(m);
    return 0;
}

/* The result ------------------------------------------------------------------ */

/* Bytes that stay as they are: copied, and scanned for 8-bit ones. */
static int copy_as_is(plan *pl, hd_buf *out, size_t from, size_t to)
{
    hd_slice s = hd_slice_make(pl->msg.p + from, to - from);
    if (!pl->rep->eight_bit && hd_mime7_has_8bit(s)) {
        pl->rep->eight_bit = true;
        why(pl, "8-bit bytes outside any part that can be re-encoded (a multipart's preamble "
                "or epilogue), at byte %zu of the message as signed", from + first_8bit(s));
    }
    return out ? hd_buf_append_slice(out, s) : 0;
}

static int write_edit(const edit *e, hd_buf *out)
{
    const char *name = e->b64 ? "base64" : "quoted-printable";
    int rc = 0;
    if (e->mime_version)
        rc = hd_buf_printf(out, "MIME-Version: 1.0%s", e->eol);
    if (rc == 0)
        rc = hd_buf_printf(out, "Content-Transfer-Encoding: %s%s", name, e->eol);
    return rc;
}

static int write_body(const plan *pl, const edit *e, hd_buf *out)
{
    hd_slice body = hd_slice_make(pl->msg.p + e->body_off, e->body_len);
    /* the body's own line end style for soft breaks and base64 lines */
    const uint8_t *lf = memchr(body.p, '\n', body.len);
    const char *eol = lf ? (lf > body.p && lf[-1] == '\r' ? "\r\n" : "\n") : e->eol;
    if (e->b64)
        return hd_mime7_b64_encode(body, eol, out);
    return hd_mime7_qp_encode(body, eol, out);
}

static int write_result(plan *pl, hd_buf *out)
{
    size_t at = 0;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < pl->n; k++) {
        const edit *e = &pl->v[k];
        rc = copy_as_is(pl, out, at, e->hdr_off);
        if (rc == 0 && out)
            rc = write_edit(e, out);
        if (rc == 0)
            rc = copy_as_is(pl, out, e->hdr_off + e->hdr_len, e->body_off);
        if (rc == 0 && out)
            rc = write_body(pl, e, out);
        at = e->body_off + e->body_len;
        pl->rep->converted++;
        pl->rep->to_qp += !e->b64;
    }
    if (rc == 0)
        rc = copy_as_is(pl, out, at, pl->msg.len);
    return rc;
}

int hd_mime7_convert(hd_slice msg, hd_buf *out, hd_mime7_report *rep, hd_err *err)
{
    memset(rep, 0, sizeof *rep);
    if (!hd_mime7_has_8bit(msg))
        return out ? hd_buf_append_slice(out, msg) : 0;
    plan pl = {.msg = msg, .rep = rep};
    int rc = make_plan(&pl, err);
    if (rc == 0 && (rc = write_result(&pl, out)) != 0)
        hd_err_set(err, rc, "the re-encoded message is %s",
                   rc == HD_ELIMIT ? "over the size cap" : "out of memory");
    if (!rep->eight_bit)
        rep->why[0] = '\0';
    free(pl.v);
    return rc;
}
