/*
 * httphead.c - an HTTP/1.1 request head read for its framing (herald/httphead.h).
 * Cursor over the head's lines; every field is looked at once; nothing is
 * allocated.
 */
#include <herald/httphead.h>

#include <string.h>
#include <strings.h>

#define CL_DIGITS_MAX 18            /* below 2^63: no overflow */

size_t hd_httphead_end(hd_slice data)
{
    /* the empty line: LF LF or LF CR LF; or an empty first line */
    for (size_t i = 0; i < data.len; i++) {
        if (data.p[i] != '\n')
            continue;
        if (i == 0 || (i == 1 && data.p[0] == '\r'))
            return i + 1;
        if (data.p[i - 1] == '\n' || (i >= 2 && data.p[i - 1] == '\r' && data.p[i - 2] == '\n'))
            return i + 1;
    }
    return 0;
}

/* The next line of the head, without its LF (and the CR before it). */
static bool next_line(hd_slice *cur, hd_slice *line)
{
    const uint8_t *lf = memchr(cur->p, '\n', cur->len);
    if (!lf)
        return false;
    size_t n = (size_t)(lf - cur->p);
    *line = hd_slice_make(cur->p, n && cur->p[n - 1] == '\r' ? n - 1 : n);
    cur->p += n + 1;
    cur->len -= n + 1;
    return true;
}

/* RFC 9110 §5.6.2 */
static bool is_tchar(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool name_is(hd_slice name, const char *want)
{
    return name.len == strlen(want) && strncasecmp((const char *)name.p, want, name.len) == 0;
}

/* RFC 9110 §9.1: methods are case-sensitive */
static bool method_is(hd_slice m, const char *want)
{
    return m.len == strlen(want) && memcmp(m.p, want, m.len) == 0;
}

static hd_slice trim_ows(hd_slice v)
{
    while (v.len && (v.p[0] == ' ' || v.p[0] == '\t')) {
        v.p++;
        v.len--;
    }
    while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
        v.len--;
    return v;
}

static int refuse(hd_httphead *out, int status, hd_err *err, const char *what)
{
    out->status = status;
    return hd_err_set(err, HD_ESYNTAX, "%s", what);
}

/* RFC 9112 §6.3: one value, digits only. A list of equal values (RFC
 * 9110 §8.6 lets a recipient take it) is refused too: simpler to read the
 * same way everywhere. */
static int content_length(hd_slice v, hd_httphead *out, hd_err *err)
{
    if (v.len == 0 || v.len > CL_DIGITS_MAX)
        goto bad;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            goto bad;
        out->content_length = out->content_length * 10 + (uint64_t)(v.p[i] - '0');
    }
    return 0;
bad:
    out->status = 400;
    return hd_err_set(err, HD_ESYNTAX,
                      "Content-Length: \"%.*s\" is not a number of bytes (digits only; RFC 9112 "
                      "§6.3)", v.len > 32 ? 32 : (int)v.len, (const char *)v.p);
}

int hd_httphead_parse(hd_slice head, hd_httphead *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_slice cur = head, line;
    /* RFC 9112 §2.2 lets a server skip empty lines before the request
     * line; evhttp 2.1 does not (evhttp_parse_request_line fails on "" and
     * answers 400), so skipping them here would let the two read different
     * requests: an empty line where a request line belongs is refused. */
    if (!next_line(&cur, &line) || line.len == 0)
        return refuse(out, 400, err, "the request line is missing (an empty line where a "
                                     "request begins)");
    const uint8_t *sp = memchr(line.p, ' ', line.len);
    if (!sp || sp == line.p)
        return refuse(out, 400, err, "the request line is malformed");
    out->method = hd_slice_make(line.p, (size_t)(sp - line.p));
    bool te = false, cl = false;
    while (next_line(&cur, &line) && line.len) {
        if (line.p[0] == ' ' || line.p[0] == '\t')
            return refuse(out, 400, err, "a header field is folded over lines (RFC 9112 §5.2)");
        const uint8_t *colon = memchr(line.p, ':', line.len);
        size_t nl = colon ? (size_t)(colon - line.p) : 0;
        bool name_ok = nl > 0;
        for (size_t i = 0; name_ok && i < nl; i++)
            name_ok = is_tchar(line.p[i]);
        if (!name_ok)   /* RFC 9112 §5.1: no space before the colon either */
            return refuse(out, 400, err, "a header field is malformed (RFC 9112 §5.1)");
        hd_slice name = hd_slice_make(line.p, nl);
        hd_slice value = trim_ows(hd_slice_make(colon + 1, line.len - nl - 1));
        if (name_is(name, "Content-Length")) {
            if (cl)
                return refuse(out, 400, err, "Content-Length: given more than once (RFC 9112 §6.3)");
            cl = true;
            int rc = content_length(value, out, err);
            if (rc)
                return rc;
        } else if (name_is(name, "Transfer-Encoding")) {
            te = true;
        } else if (name_is(name, "Authorization")) {
            if (out->authorization.p)
                return refuse(out, 400, err, "Authorization: given more than once");
            out->authorization = value;
        }
    }
    if (te && cl)       /* RFC 9112 §6.1: refuse, and close the connection */
        return refuse(out, 400, err, "Transfer-Encoding together with Content-Length (RFC 9112 §6.1)");
    if (te)
        return refuse(out, 411, err, "Transfer-Encoding is not accepted: send Content-Length");
    /* the API takes a body on POST only (it has no PUT or PATCH route) */
    if (out->content_length && !method_is(out->method, "POST"))
        return refuse(out, 400, err, "this method takes no body (a body goes with POST only)");
    return 0;
}
