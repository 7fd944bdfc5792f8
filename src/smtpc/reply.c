/*
 * reply.c - reading SMTP replies from a server (RFC 5321 §4.2).
 *
 * The scanner finds where a complete reply ends and checks every line on
 * the way; the session then turns the reply into an hd_smtpc_result. The
 * scanner is liberal where that is harmless (a bare LF ends a line, long
 * lines are cut rather than refused) and strict where a mistake would
 * desynchronise the dialogue (every line must start with the same three
 * digits and SP, '-' or the line end).
 */
#include "smtpc/smtpc_int.h"

#include <stdio.h>
#include <string.h>

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* The line's reply code (RFC 5321 §4.2: first digit 2-5, second 0-5 is
 * not checked, any third digit), or -1. */
static int line_code(hd_slice line)
{
    if (line.len < 3 || line.p[0] < '2' || line.p[0] > '5' || !is_digit(line.p[1]) ||
        !is_digit(line.p[2]))
        return -1;
    if (line.len > 3 && line.p[3] != ' ' && line.p[3] != '-')
        return -1;
    return (line.p[0] - '0') * 100 + (line.p[1] - '0') * 10 + (line.p[2] - '0');
}

static hd_slice strip_cr(hd_slice line)
{
    if (line.len > 0 && line.p[line.len - 1] == '\r')
        line.len--;
    return line;
}

static void scan_why(char *why, size_t whylen, const char *what, hd_slice line)
{
    char excerpt[48];
    if (line.len > 40)
        line.len = 40;
    hd_smtpc_copy_text(excerpt, sizeof excerpt, line);
    snprintf(why, whylen, "%s \"%s\"", what, excerpt);
}

int hd_smtpc_reply_scan(hd_smtpc_scan *s, hd_slice in, size_t *len, int *code,
                        char *why, size_t whylen)
{
    for (;;) {
        const uint8_t *lf = NULL;
        if (s->search < in.len)
            lf = memchr(in.p + s->search, '\n', in.len - s->search);
        if (lf == NULL) {
            s->search = in.len;
            if (in.len > SMTPC_REPLY_MAX) {
                snprintf(why, whylen, "reply longer than %u bytes", SMTPC_REPLY_MAX);
                return SMTPC_SCAN_ERROR;
            }
            return SMTPC_SCAN_AGAIN;
        }
        size_t end = (size_t)(lf - in.p);
        if (end + 1 > SMTPC_REPLY_MAX) {
            snprintf(why, whylen, "reply longer than %u bytes", SMTPC_REPLY_MAX);
            return SMTPC_SCAN_ERROR;
        }
        hd_slice line = strip_cr(hd_slice_make(in.p + s->line_start, end - s->line_start));
        int c = line_code(line);
        if (c < 0) {
            scan_why(why, whylen, "malformed reply line", line);
            return SMTPC_SCAN_ERROR;
        }
        if (s->nlines > 0 && c != s->code) {
            scan_why(why, whylen, "reply code changed within a reply at", line);
            return SMTPC_SCAN_ERROR;
        }
        if (++s->nlines > HD_SMTPC_MAX_REPLY_LINES) {
            snprintf(why, whylen, "reply of more than %d lines", HD_SMTPC_MAX_REPLY_LINES);
            return SMTPC_SCAN_ERROR;
        }
        s->code = c;
        s->line_start = s->search = end + 1;
        if (line.len == 3 || line.p[3] == ' ') {
            *len = end + 1;
            *code = c;
            return SMTPC_SCAN_DONE;
        }
    }
}

bool hd_smtpc_reply_line(hd_slice reply, size_t *pos, hd_slice *text)
{
    if (*pos >= reply.len)
        return false;
    const uint8_t *start = reply.p + *pos;
    const uint8_t *lf = memchr(start, '\n', reply.len - *pos);
    size_t n = lf ? (size_t)(lf - start) : reply.len - *pos;
    *pos += n + (lf ? 1 : 0);
    hd_slice line = strip_cr(hd_slice_make(start, n));
    if (line.len <= 4)
        *text = hd_slice_make(line.p + line.len, 0);
    else
        *text = hd_slice_make(line.p + 4, line.len - 4);
    return true;
}

size_t hd_smtpc_copy_text(char *dst, size_t n, hd_slice s)
{
    size_t k = 0;
    if (n == 0)
        return 0;
    for (; k < s.len && k + 1 < n; k++) {
        uint8_t ch = s.p[k];
        dst[k] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    dst[k] = '\0';
    return k;
}

/* Digits at *i, 1 to 3 of them (RFC 3463 §2: subject and detail). */
static bool take_digits(hd_slice t, size_t *i)
{
    size_t start = *i;
    while (*i < t.len && is_digit(t.p[*i]) && *i - start < 4)
        (*i)++;
    return *i > start && *i - start <= 3;
}

/* Length of an enhanced status code "class.subject.detail" at the start of
 * t whose class matches the reply code (RFC 2034 §4), followed by SP or
 * the end; 0 if there is none. Whether ENHANCEDSTATUSCODES was offered
 * does not matter: servers use the codes in greetings and HELO sessions
 * too, and the class check is what tells a code from ordinary text. */
static size_t enhanced_len(hd_slice t, int code)
{
    if (t.len < 5 || t.p[0] != '0' + code / 100 || t.p[1] != '.')
        return 0;
    if (t.p[0] != '2' && t.p[0] != '4' && t.p[0] != '5')
        return 0;
    size_t i = 2;
    if (!take_digits(t, &i) || i >= t.len || t.p[i] != '.')
        return 0;
    i++;
    if (!take_digits(t, &i))
        return 0;
    if (i < t.len && t.p[i] != ' ')
        return 0;
    return i;
}

/* Drop the enhanced code e (and the spaces after it) from the start of t. */
static hd_slice strip_enhanced(hd_slice t, const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || t.len < n || memcmp(t.p, e, n) != 0 || (t.len > n && t.p[n] != ' '))
        return t;
    t.p += n;
    t.len -= n;
    while (t.len > 0 && t.p[0] == ' ') {
        t.p++;
        t.len--;
    }
    return t;
}

void hd_smtpc_reply_result(hd_slice reply, int code, hd_smtpc_result *r)
{
    r->code = code;
    r->enhanced[0] = '\0';
    r->text[0] = '\0';
    size_t pos = 0, used = 0;
    hd_slice text;
    for (unsigned n = 0; hd_smtpc_reply_line(reply, &pos, &text); n++) {
        if (n == 0) {
            size_t e = enhanced_len(text, code);
            if (e > 0 && e < sizeof r->enhanced)
                hd_smtpc_copy_text(r->enhanced, e + 1, text);
        }
        text = strip_enhanced(text, r->enhanced);
        if (text.len > SMTPC_LINE_TEXT_MAX)
            text.len = SMTPC_LINE_TEXT_MAX;
        if (n > 0)
            used += hd_smtpc_copy_text(r->text + used, sizeof r->text - used,
                                       hd_slice_cstr(" / "));
        used += hd_smtpc_copy_text(r->text + used, sizeof r->text - used, text);
    }
}
