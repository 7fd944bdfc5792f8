/*
 * ext.c - what a server offers in its EHLO reply (RFC 5321 §4.1.1.1):
 * the keywords, case-insensitive, and the SIZE limit (RFC 1870 §4).
 */
#include "smtpc/smtpc_int.h"

#include <string.h>

static const struct {
    const char *name;
    unsigned bit;
} known_ext[] = {
    {"SIZE", SMTPC_EXT_SIZE},         {"PIPELINING", SMTPC_EXT_PIPELINING},
    {"8BITMIME", SMTPC_EXT_8BITMIME}, {"STARTTLS", SMTPC_EXT_STARTTLS},
    {"SMTPUTF8", SMTPC_EXT_SMTPUTF8}, {"ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCED},
};

static bool is_keychar(uint8_t ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-';
}

/* "SIZE 10240000": the limit, 0 when absent or not a number (no limit
 * announced), UINT64_MAX when too big to hold. */
static uint64_t parse_size(hd_slice p)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < p.len && p.p[i] == ' ')
        i++;
    for (; i < p.len && p.p[i] >= '0' && p.p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return UINT64_MAX;
        v = v * 10 + d;
    }
    return v;
}

/* One line: esmtp-keyword *(SP esmtp-param). Anything else is skipped. */
static void add_ext(hd_smtpc_exts *e, hd_slice line)
{
    size_t k = 0;
    while (line.len > 0 && line.p[0] == ' ') {
        line.p++;
        line.len--;
    }
    while (k < line.len && is_keychar(line.p[k]))
        k++;
    if (k == 0 || k >= SMTPC_EXT_NAME_MAX || (k < line.len && line.p[k] != ' '))
        return;
    hd_slice kw = hd_slice_make(line.p, k);
    for (size_t i = 0; i < sizeof known_ext / sizeof known_ext[0]; i++)
        if (hd_slice_caseeq_cstr(kw, known_ext[i].name))
            e->bits |= known_ext[i].bit;
    if (hd_slice_caseeq_cstr(kw, "SIZE"))
        e->max_size = parse_size(hd_slice_make(line.p + k, line.len - k));
    if (e->n < SMTPC_MAX_EXT) {
        char *dst = e->names[e->n++];
        for (size_t i = 0; i < k; i++)
            dst[i] = (char)((kw.p[i] >= 'a' && kw.p[i] <= 'z') ? kw.p[i] - 32 : kw.p[i]);
        dst[k] = '\0';
    }
}

void hd_smtpc_exts_clear(hd_smtpc_exts *e)
{
    e->bits = 0;
    e->max_size = 0;
    e->n = 0;
}

void hd_smtpc_exts_learn(hd_smtpc_exts *e, hd_slice reply)
{
    size_t pos = 0;
    hd_slice text;
    hd_smtpc_exts_clear(e);
    for (unsigned n = 0; hd_smtpc_reply_line(reply, &pos, &text); n++)
        if (n > 0) /* the first line greets */
            add_ext(e, text);
}

bool hd_smtpc_exts_has(const hd_smtpc_exts *e, const char *keyword)
{
    for (size_t i = 0; i < e->n; i++)
        if (hd_slice_caseeq_cstr(hd_slice_cstr(e->names[i]), keyword))
            return true;
    return false;
}
