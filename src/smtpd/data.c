/*
 * data.c - receiving the message text after DATA (RFC 5321 §4.1.1.4).
 *
 * A byte-at-a-time state machine (with a fast path over plain text), so
 * the message may arrive in pieces of any size and give the same result.
 * Only CRLF ends a line; the text ends with a line that is exactly "."
 * after a CRLF (or right after the 354), i.e. <CRLF>.<CRLF>. A bare LF or
 * a bare CR (a CR not followed by LF) is not a line end: it marks the
 * message refused, and reception goes on to the real end, so no mix of
 * LF, CR and "." can end DATA early or split one message into two (SMTP
 * smuggling). A line that starts with "." and has more on it loses the
 * dot (§4.5.2). A NUL byte refuses the message the same way: RFC 5321
 * §2.3.8 and RFC 5322 §2.1 do not allow it in text, and relayed on it
 * would reach receivers that cut strings there.
 *
 * Memory: the message buffer never grows beyond max_message_size; past
 * it (or once the message is refused) the text is counted, not kept.
 */
#include "smtpd/smtpd_int.h"

#include <string.h>

void smtpd_data_begin(hd_smtpd *s)
{
    s->in_data = true;
    s->ds = SMTPD_D_LINE_START;
    s->line_no = 1;
    s->line_len = 0;
    s->refuse = SMTPD_REFUSE_NONE;
    s->refuse_line = 0;
    s->too_big = false;
    s->long_line = 0;
    hd_buf_free(&s->msg);
    hd_buf_init(&s->msg, s->o.max_message_size);
}

void smtpd_data_clear(hd_smtpd *s)
{
    s->in_data = false;
    hd_buf_free(&s->msg);
    hd_buf_init(&s->msg, s->o.max_message_size);
    memset(&s->msg_info, 0, sizeof s->msg_info);
}

static bool keeping(const hd_smtpd *s)
{
    return s->refuse == SMTPD_REFUSE_NONE && !s->too_big;
}

static void emit(hd_smtpd *s, const void *p, size_t n)
{
    if (!keeping(s) || n == 0)
        return;
    if (hd_buf_append(&s->msg, p, n) != 0) /* over max_message_size (or no memory) */
        s->too_big = true;
}

static void refuse(hd_smtpd *s, smtpd_refuse why)
{
    if (s->refuse == SMTPD_REFUSE_NONE) {
        s->refuse = why;
        s->refuse_line = s->line_no;
    }
}

/* Count n raw bytes of the current line, CRLF included (§4.5.3.1.6). */
static void count(hd_smtpd *s, size_t n)
{
    s->line_len += n;
    if (s->line_len > s->o.max_data_line && s->long_line == 0)
        s->long_line = s->line_no;
}

static void line_end(hd_smtpd *s)
{
    s->ds = SMTPD_D_LINE_START;
    s->line_no++;
    s->line_len = 0;
}

/* The text is complete: answer it, or hand it to the shell. */
static int finish(hd_smtpd *s)
{
    s->in_data = false;
    if (s->refuse == SMTPD_REFUSE_NUL) {
        smtpd_reply(s, 550, "5.6.0", "message refused: NUL byte in line %zu", s->refuse_line);
    } else if (s->refuse != SMTPD_REFUSE_NONE) {
        smtpd_reply(s, 550, "5.6.0", "message refused: bare %s in line %zu",
                    s->refuse == SMTPD_REFUSE_BARE_LF ? "LF" : "CR", s->refuse_line);
    } else if (s->too_big) {
        smtpd_reply(s, 552, "5.3.4", "message exceeds fixed maximum message size of %zu bytes",
                    s->o.max_message_size);
    } else if (s->long_line != 0) {
        smtpd_reply(s, 550, "5.6.0", "message refused: line %zu longer than %zu bytes",
                    s->long_line, s->o.max_data_line);
    } else {
        s->msg_info.data = hd_buf_slice(&s->msg);
        s->msg_info.reverse_path = s->from;
        s->msg_info.rcpts = (const char *const *)s->rcpts;
        s->msg_info.n_rcpts = s->n_rcpts;
        s->msg_info.body_8bit = s->mail.body_8bit;
        s->msg_info.smtputf8 = s->mail.smtputf8;
        s->pending = SMTPD_P_MESSAGE;
        return HD_SMTPD_EV_MESSAGE;
    }
    /* RFC 5321 §4.1.1.4: a refused DATA ends the transaction */
    smtpd_txn_reset(s);
    return SMTPD_CONTINUE;
}

/* Plain text inside a line: everything up to the next CR or LF. */
static size_t text_run(hd_smtpd *s, const uint8_t *p, size_t n)
{
    /* memchr is vectorised: two scans beat one byte loop on long lines */
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf ? (size_t)(lf - p) : n;
    const uint8_t *cr = memchr(p, '\r', k);
    if (cr)
        k = (size_t)(cr - p);
    if (memchr(p, '\0', k))
        refuse(s, SMTPD_REFUSE_NUL);
    count(s, k);
    emit(s, p, k);
    return k;
}

/* One byte c in state s->ds; returns 1 at the end of the text, and sets
 * *again when c must be looked at once more in the new state. */
static int step_byte(hd_smtpd *s, uint8_t c, bool *again)
{
    *again = false;
    switch (s->ds) {
    case SMTPD_D_LINE_START:
        if (c == '.') {
            count(s, 1);
            s->ds = SMTPD_D_DOT;
            return 0;
        }
        s->ds = SMTPD_D_TEXT;
        *again = true;
        return 0;
    case SMTPD_D_DOT:
        if (c == '\r') {
            count(s, 1);
            s->ds = SMTPD_D_DOT_CR;
            return 0;
        }
        /* §4.5.2: the first dot of a longer line is dropped */
        s->ds = SMTPD_D_TEXT;
        *again = true;
        return 0;
    case SMTPD_D_DOT_CR:
        if (c == '\n')
            return 1; /* <CRLF>.<CRLF> */
        /* ".<CR>x": a bare CR; the dot was stuffing, the CR is text */
        refuse(s, SMTPD_REFUSE_BARE_CR);
        emit(s, "\r", 1);
        s->ds = SMTPD_D_TEXT;
        *again = true;
        return 0;
    case SMTPD_D_TEXT:
        count(s, 1);
        if (c == '\r') {
            s->ds = SMTPD_D_CR;
        } else {
            if (c == '\n')
                refuse(s, SMTPD_REFUSE_BARE_LF);
            else if (c == '\0')
                refuse(s, SMTPD_REFUSE_NUL);
            emit(s, &c, 1);
        }
        return 0;
    case SMTPD_D_CR:
        if (c == '\n') {
            count(s, 1);
            emit(s, "\r\n", 2);
            line_end(s);
            return 0;
        }
        refuse(s, SMTPD_REFUSE_BARE_CR);
        emit(s, "\r", 1);
        s->ds = SMTPD_D_TEXT;
        *again = true;
        return 0;
    }
    return 0;
}

int smtpd_data_consume(hd_smtpd *s)
{
    size_t n = s->in.len - s->in_off, i = 0;
    if (n == 0) /* (in.p may still be NULL) */
        return SMTPD_CONTINUE;
    const uint8_t *p = s->in.p + s->in_off;
    while (i < n) {
        if (s->ds == SMTPD_D_TEXT) {
            size_t k = text_run(s, p + i, n - i);
            i += k;
            if (i == n)
                break;
        }
        bool again;
        do {
            if (step_byte(s, p[i], &again) == 1) {
                s->in_off += i + 1;
                return finish(s);
            }
        } while (again);
        i++;
    }
    s->in_off += i;
    return SMTPD_CONTINUE;
}
