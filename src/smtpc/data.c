/*
 * data.c - a message as it goes on the wire after 354 (RFC 5321 §4.5.2).
 *
 * Every line end becomes CRLF (a bare CR or LF too: no receiver may find
 * an end of data inside the message, the SMTP smuggling defence), a final
 * CRLF is added when missing, a line that starts with "." gets another
 * one, and ".\r\n" ends the data.
 */
#include "smtpc/smtpc_int.h"

#include <string.h>

/* Runs of well-formed lines (CRLF-terminated, not starting with ".")
 * are copied as one span; memchr finds the line ends, so a message that
 * needs no change costs two fast scans and one copy. */
static void flush(hd_buf *out, const uint8_t *p, size_t from, size_t to)
{
    if (out && to > from)
        (void)hd_buf_append(out, p + from, to - from);
}

size_t hd_smtpc_stuff(hd_slice m, hd_buf *out, uint64_t *size)
{
    const uint8_t *p = m.p;
    size_t len = m.len, n = 0, dots = 0, i = 0, span = 0;
    bool bol = true;
    while (i < len) {
        if (bol && p[i] == '.') {
            flush(out, p, span, i);
            span = i;
            dots++;
            if (out)
                (void)hd_buf_append_byte(out, '.');
        }
        const uint8_t *lf = memchr(p + i, '\n', len - i);
        size_t end = lf ? (size_t)(lf - p) : len;       /* the LF, or the end */
        const uint8_t *cr = memchr(p + i, '\r', end - i);
        if (lf && cr && (size_t)(cr - p) == end - 1) {  /* a proper CRLF line */
            n += end + 1 - i;
            i = end + 1;
            bol = true;
            continue;
        }
        /* the line ends at a bare CR, a bare LF, or the end of the message */
        size_t run = cr ? (size_t)(cr - p) : end;
        flush(out, p, span, run);
        n += run - i;
        if (run == len) {
            bol = false;
            i = span = len;
            break;
        }
        i = run + ((p[run] == '\r' && run + 1 < len && p[run + 1] == '\n') ? 2 : 1);
        span = i;
        if (out)
            (void)hd_buf_append(out, "\r\n", 2);
        n += 2;
        bol = true;
    }
    flush(out, p, span, i);
    if (!bol) {
        if (out)
            (void)hd_buf_append(out, "\r\n", 2);
        n += 2;
    }
    if (size)
        *size = n;
    if (out)
        (void)hd_buf_append(out, ".\r\n", 3);
    return n + dots + 3;
}
