/*
 * data.c - a message as it goes on the wire after 354 (RFC 5321 §4.5.2).
 *
 * Every line end becomes CRLF (a bare CR or LF too: no receiver may find
 * an end of data inside the message, the SMTP smuggling defence), a final
 * CRLF is added when missing, a line that starts with "." gets another
 * one, and ".\r\n" ends the data.
 */
#include "smtpc/smtpc_int.h"

size_t hd_smtpc_stuff(hd_slice m, hd_buf *out, uint64_t *size)
{
    size_t n = 0, dots = 0, i = 0;
    bool bol = true;
    while (i < m.len) {
        if (bol && m.p[i] == '.') {
            dots++;
            if (out)
                (void)hd_buf_append_byte(out, '.');
        }
        size_t run = i;
        while (run < m.len && m.p[run] != '\r' && m.p[run] != '\n')
            run++;
        if (out)
            (void)hd_buf_append(out, m.p + i, run - i);
        n += run - i;
        if (run == m.len) {
            bol = false;
            break;
        }
        /* CRLF, a bare CR or a bare LF: one line end each */
        i = run + ((m.p[run] == '\r' && run + 1 < m.len && m.p[run + 1] == '\n') ? 2 : 1);
        if (out)
            (void)hd_buf_append(out, "\r\n", 2);
        n += 2;
        bol = true;
    }
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
