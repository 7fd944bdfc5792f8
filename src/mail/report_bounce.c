/*
 * report_bounce.c - reading a bounce with the rule table: the failed
 * addresses of a plain-text bounce (every one, each with the lines that
 * explain it, its status and reason), a DSN whose structure is broken, and
 * the reasons of a DSN's recipients from its phrases and its text part;
 * hd_report_parse_bounce.
 *
 * Ownership: as report.c (results copied into the caller's hd_dsn).
 * Bounds: the rules read the first RULE_SCAN_MAX bytes of a bounce's
 * text; recipients stop at HD_REPORT_MAX_RCPTS (HD_REPORT_TOO_MANY).
 */
#define _GNU_SOURCE /* memmem */
#include "mail/report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool looks_like_addr(hd_slice a)
{
    if (a.len < 3 || a.len > HD_REPORT_ADDR_MAX)
        return false;
    const uint8_t *at = memchr(a.p, '@', a.len);
    if (at == NULL || at == a.p || at == a.p + a.len - 1 || memchr(at + 1, '.',
        (size_t)(a.p + a.len - at - 1)) == NULL)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (a.p[i] <= 0x20 || a.p[i] == '<' || a.p[i] == '>' || a.p[i] == 0x7f ||
            a.p[i] == '(' || a.p[i] == ')' || a.p[i] == ',' || a.p[i] == ';' || a.p[i] == '"' ||
            a.p[i] == '[' || a.p[i] == ']' || a.p[i] == ':' || a.p[i] == '\\')
            return false;
    /* RFC 5321 §4.1.2: a domain is letters, digits, '-' and '.', or an
     * address literal in brackets (refused above) */
    for (const uint8_t *p = at + 1; p < a.p + a.len; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return false;
    return a.p[a.len - 1] != '.';
}

/* "<addr>: ..." or "addr: ..." at the start of a (trimmed) line. */
static hd_slice colon_addr(hd_slice line)
{
    size_t i = 0;
    bool angle = line.len > 0 && line.p[0] == '<';
    size_t s = angle ? 1 : 0;
    for (i = s; i < line.len && line.p[i] != '>' && line.p[i] != ':' && !is_wsp(line.p[i]); i++)
        ;
    hd_slice a = hd_slice_make(line.p + s, i - s);
    if (angle && (i == line.len || line.p[i] != '>'))
        return HD_SLICE_NULL;
    if (angle)
        i++;
    if (i == line.len || line.p[i] != ':' || !looks_like_addr(a))
        return HD_SLICE_NULL;
    return a;
}

/* "NAME: [type;] addr" (field is "name:", lowercased). */
static hd_slice field_addr(hd_slice line, const uint8_t *field, size_t fl)
{
    if (line.len < fl)
        return HD_SLICE_NULL;
    for (size_t i = 0; i < fl; i++)
        if (lower(line.p[i]) != field[i])
            return HD_SLICE_NULL;
    hd_slice rest = hd_slice_make(line.p + fl, line.len - fl);
    hd_slice v = hd_report__angle_addr(hd_report__split_typed(rest, NULL));
    return looks_like_addr(v) ? v : HD_SLICE_NULL;
}

/* The first address a line starts with: "<a@b>", "a@b", "<a@b>:", "a@b
 * on 3/1/2005", "'a@b'", "RCPT TO:<a@b>", "550 <a@b>... User unknown". */
static hd_slice leading_addr_coded(hd_slice line, bool *coded);

static hd_slice leading_addr(hd_slice line)
{
    bool coded;
    return leading_addr_coded(line, &coded);
}

/* ... and whether a reply code came first (a line of the remote server's
 * reply, rather than a list entry). */
static hd_slice leading_addr_coded(hd_slice line, bool *coded)
{
    *coded = false;
    size_t i = 0;
    while (i < line.len && (is_wsp(line.p[i]) || line.p[i] == '*' || line.p[i] == '-' ||
                            line.p[i] == '\'' || line.p[i] == '"' || line.p[i] == '>' ||
                            line.p[i] == ':'))
        i++;
    /* a reply code and a status first: "550 5.1.1 <a@b>..." */
    for (int k = 0; k < 2 && i < line.len && line.p[i] >= '2' && line.p[i] <= '5'; k++) {
        size_t j = i;
        while (j < line.len && !is_wsp(line.p[j]) && line.p[j] != '<')
            j++;
        bool code = true;
        for (size_t q = i; q < j; q++)
            code &= (line.p[q] >= '0' && line.p[q] <= '9') || line.p[q] == '.' || line.p[q] == '-';
        if (!code)
            break;
        *coded = true;
        i = j;
        while (i < line.len && is_wsp(line.p[i]))
            i++;
    }
    bool angle = i < line.len && line.p[i] == '<';
    size_t s = angle ? i + 1 : i, e = s;
    while (e < line.len && !is_wsp(line.p[e]) && line.p[e] != '>' && line.p[e] != '\'' &&
           line.p[e] != '"' && line.p[e] != ',' && line.p[e] != ';' && line.p[e] != '\\')
        e++;
    hd_slice a = hd_slice_make(line.p + s, e - s);
    while (a.len > 0 && (a.p[a.len - 1] == ':' || a.p[a.len - 1] == '.'))
        a.len--;
    if (a.len > 7 && hd_slice_caseeq_cstr(hd_slice_make(a.p, 7), "mailto:"))
        a = hd_slice_make(a.p + 7, a.len - 7);
    return looks_like_addr(a) ? a : HD_SLICE_NULL;
}

typedef struct found {
    hd_dsn *d;
    const rules_ctx *c;
    const rule *fallback; /* the rule that made this a bounce, or NULL */
    const hd_msg *header; /* the bounce's own header */
    const hd_mime *m;     /* the bounce, for its returned message */
    hd_slice returned;    /* the text after the cut: a quoted returned message */
    hd_slice fallback_line;
    size_t cap;
    hd_err *err;
} found;

static bool rcpt_seen(const hd_dsn *d, hd_slice a)
{
    for (size_t i = 0; i < d->nrcpts; i++)
        if (strlen(d->rcpts[i].final_recipient) == a.len &&
            hd_slice_caseeq_cstr(a, d->rcpts[i].final_recipient))
            return true;
    return false;
}

/* Add the failed address a with the explanation diag (the lines after it):
 * its status and reason from the first rule whose phrase the explanation
 * holds, else an RFC 3463 code in it, else the rule that made this a
 * bounce. */
static int add_found(found *f, hd_slice a, hd_slice diag)
{
    hd_dsn *d = f->d;
    if (rcpt_seen(d, a))
        return 0;
    if (d->nrcpts == HD_REPORT_MAX_RCPTS) {
        d->flags |= HD_REPORT_TOO_MANY;
        return 0;
    }
    if (d->nrcpts == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 4;
        hd_dsn_rcpt *v = realloc(d->rcpts, nc * sizeof *v);
        if (v == NULL)
            return hd_err_set(f->err, HD_ENOMEM, "out of memory for bounce recipients");
        d->rcpts = v;
        f->cap = nc;
    }
    hd_dsn_rcpt *r = &d->rcpts[d->nrcpts++];
    memset(r, 0, sizeof *r);
    hd_report__copy_value(r->final_recipient, HD_REPORT_ADDR_MAX, a, &d->flags);
    memcpy(r->diagnostic_type, "rule", 5);
    hd_report__copy_value(r->diagnostic, HD_REPORT_TEXT_MAX, diag.len ? diag : f->fallback_line,
                          &d->flags);
    const hd_dsn_rcpt *prev = d->nrcpts > 1 ? &d->rcpts[d->nrcpts - 2] : NULL;
    if (prev != NULL && strcmp(prev->diagnostic, r->diagnostic) == 0) {
        /* the same explanation reads the same: match the phrases once */
        memcpy(r->status, prev->status, sizeof r->status);
        r->status_class = prev->status_class;
        r->action = prev->action;
        r->reason = prev->reason;
        r->bounce = prev->bounce;
        return 0;
    }
    size_t n;
    uint8_t *low = hd_report__lowered(hd_slice_cstr(r->diagnostic), &n);
    const rule *by = low ? hd_report__match_rule(f->c, hd_slice_make(low, n), true, NULL) : NULL;
    free(low);
    /* an RFC 3463 code the remote server gave is the status; the rule's
     * phrase then gives the reason (hd_report__reclassify) */
    char code[16];
    int cls = hd_report__failure_code(r->diagnostic, true, code);
    if (cls != 0)
        by = NULL;
    if (by == NULL && cls == 0)
        by = f->fallback;
    if (by == NULL && cls == 0) { /* named failed by a header, no reason given */
        memcpy(code, "5.0.0", 6);
        cls = 5;
    }
    if (by != NULL) {
        memcpy(r->status, by->status, sizeof r->status);
        r->status_class = by->status_class;
    } else {
        memcpy(r->status, code, sizeof r->status);
        r->status_class = cls;
    }
    r->action = r->status_class == 4 ? HD_DSN_DELAYED : HD_DSN_FAILED;
    hd_report__classify(r);
    if (by != NULL && by->reason != HD_REASON_UNDEFINED) { /* the rule names it */
        r->reason = by->reason;
        r->bounce = hd_bounce_reason_class(r->reason, r->status);
    }
    hd_report__reclassify(r, f->c);
    return 0;
}

/* A line that ends a recipient's explanation: blank, or a divider. */

static bool para_end(hd_slice line)
{
    line = hd_report__trim_line(line);
    return line.len == 0 || (line.len >= 3 && (memcmp(line.p, "---", 3) == 0 ||
                                               memcmp(line.p, "===", 3) == 0));
}

static bool same_addr(hd_slice x, hd_slice y)
{
    return x.len == y.len && x.len > 0 &&
           strncasecmp((const char *)x.p, (const char *)y.p, x.len) == 0;
}

/* A line that starts with an address other than a (the next recipient;
 * "<<< 550 5.1.1 <a>... User unknown" still explains a). */
static bool other_addr(hd_slice line, hd_slice a)
{
    bool coded;
    hd_slice b = leading_addr_coded(hd_report__trim_line(line), &coded);
    return b.len > 0 && !coded && !same_addr(a, b);
}

/* The explanation after an address line: the rest of the line and the
 * following lines up to a blank line or the next address (at most 6). */
static hd_slice explanation(hd_slice text, size_t line_end, hd_slice a)
{
    size_t s = (size_t)(a.p + a.len - text.p), pos = line_end + 1, e = line_end;
    if (s > line_end)
        s = line_end;
    for (int k = 0; k < 6 && pos < text.len; k++) {
        size_t p0 = pos;
        hd_slice l = hd_report__next_line(text, &pos);
        if (para_end(l) || other_addr(l, a))
            break;
        e = p0 + l.len;
    }
    while (s < e && (text.p[s] == '>' || text.p[s] == ':' || is_wsp(text.p[s])
           || text.p[s] == '\'' || text.p[s] == '.'))
        s++;
    return hd_slice_make(text.p + s, e > s ? e - s : 0);
}

/* Every line from `from` that starts with an address (ADDR_AFTER: up to
 * the end of the paragraph list; colon: "<a@b>:" lines; field lines). */
static int scan_addrs(found *f, const addr_method *m, hd_slice text, size_t from)
{
    size_t pos = from;
    bool seen = false, coded = false;
    size_t first_indent = 0;
    int blank = 0;
    while (pos < text.len) {
        size_t start = pos;
        hd_slice raw = hd_report__next_line(text, &pos);
        hd_slice line = hd_report__trim_line(raw);
        size_t line_end = start + raw.len;
        hd_slice a = m->kind == ADDR_COLON   ? colon_addr(line)
                     : m->kind == ADDR_FIELD ? field_addr(line, m->text, m->len)
                                             : leading_addr_coded(line, &coded);
        /* a list's entries are indented alike; a line indented deeper
         * is an explanation ("    550 5.2.0 <sender>... refused") */
        size_t indent = 0;
        while (indent < raw.len && is_wsp(raw.p[indent]))
            indent++;
        if (m->kind == ADDR_AFTER && seen && indent > first_indent)
            a = HD_SLICE_NULL;
        if (a.len > 0 && !seen)
            first_indent = indent;
        if (a.len > 0) {
            int rc = add_found(f, a, m->kind == ADDR_FIELD ? HD_SLICE_NULL
                                                           : explanation(text, line_end, a));
            if (rc != 0)
                return rc;
            seen = true;
            blank = 0;
            continue;
        }
        if (m->kind != ADDR_AFTER)
            continue;
        /* after: addresses follow within a few lines; the list ends at
         * a divider, or at two blank lines once one was read */
        blank = line.len == 0 ? blank + 1 : 0;
        if ((line.len >= 3 && (memcmp(line.p, "---", 3) == 0 || memcmp(line.p, "===", 3) == 0) &&
             seen) ||
            (seen && blank >= 2) || (!seen && pos - from > 2048))
            break;
    }
    return 0;
}

/* The explanation of a, when a line of text starts with it. */
static hd_slice explanation_of(hd_slice text, hd_slice a)
{
    size_t pos = 0;
    while (pos < text.len) {
        size_t start = pos;
        hd_slice raw = hd_report__next_line(text, &pos);
        hd_slice l = leading_addr(hd_report__trim_line(raw));
        if (same_addr(l, a))
            return explanation(text, start + raw.len, l);
    }
    return HD_SLICE_NULL;
}

/* address header NAME: the addresses listed in the bounce's own header
 * field (X-Failed-Recipients: a@b, c@d), each explained by the text. */
static int header_addrs(found *f, const addr_method *m, hd_slice text)
{
    if (f->header == NULL)
        return 0;
    for (size_t i = hd_msg_find(f->header, (const char *)m->text, 0); i != (size_t)-1;
         i = hd_msg_find(f->header, (const char *)m->text, i + 1)) {
        hd_slice v = hd_msg_field(f->header, i)->value;
        size_t p = 0;
        while (p < v.len) {
            size_t e = p;
            while (e < v.len && v.p[e] != ',')
                e++;
            hd_slice a = hd_report__angle_addr(hd_slice_make(v.p + p, e - p));
            while (a.len > 0 && (a.p[a.len - 1] == '\r' || a.p[a.len - 1] == '\n'
                   || is_wsp(a.p[a.len - 1])))
                a.len--;
            while (a.len > 0 && (a.p[0] == '\r' || a.p[0] == '\n' || is_wsp(a.p[0])))
                a = hd_slice_make(a.p + 1, a.len - 1);
            if (f->d->nrcpts == HD_REPORT_MAX_RCPTS) {
                f->d->flags |= HD_REPORT_TOO_MANY;
                return 0;
            }
            /* the explanation is sought in the whole text: only for an
             * address not yet found (a field may list one many times) */
            if (looks_like_addr(a) && !rcpt_seen(f->d, a)) {
                int rc = add_found(f, a, explanation_of(text, a));
                if (rc != 0)
                    return rc;
            }
            p = e + 1;
        }
    }
    return 0;
}

/* address returned NAME, the last resort: the bounce says delivery
 * failed but names no address; when the returned message (its part, or
 * its header quoted after the cut) went to exactly one address in field
 * NAME, that is the one. */
static int returned_addr(found *f, const addr_method *m)
{
    hd_slice v = HD_SLICE_NULL;
    for (size_t i = 1; f->m != NULL && i < hd_mime_nparts(f->m); i++) {
        const hd_mime_part *p = hd_mime_part_at(f->m, i);
        if ((hd_mime_ctype_is(&p->ctype, "message", "rfc822") ||
             hd_mime_ctype_is(&p->ctype, "message", "global")) && p->nchildren > 0) {
            const hd_msg *h = hd_mime_part_header(f->m, i + 1);
            size_t k = hd_msg_find(h, (const char *)m->text, 0);
            if (k != (size_t)-1)
                v = hd_msg_field(h, k)->value;
            break;
        }
    }
    if (v.p == NULL) { /* "To: a@b" quoted after the cut */
        char field[RULE_TEXT_MAX + 2];
        int fl = snprintf(field, sizeof field, "%s:", (const char *)m->text);
        for (int i = 0; i < fl; i++)
            field[i] = (char)lower((uint8_t)field[i]);
        size_t pos = 0;
        while (pos < f->returned.len && v.p == NULL) {
            hd_slice l = hd_report__trim_line(hd_report__next_line(f->returned, &pos));
            if (field_addr(l, (const uint8_t *)field, (size_t)fl).len > 0)
                v = hd_slice_make(l.p + fl, l.len - (size_t)fl);
        }
    }
    if (v.p == NULL || memchr(v.p, ',', v.len) != NULL)
        return 0;
    hd_slice a = hd_report__trim_line(hd_report__angle_addr(v));
    while (a.len > 0 && (a.p[0] == '\r' || a.p[0] == '\n' || is_wsp(a.p[0])))
        a = hd_slice_make(a.p + 1, a.len - 1);
    if (!looks_like_addr(a))
        return 0;
    f->d->flags |= HD_REPORT_FROM_ORIGINAL;
    return add_found(f, a, HD_SLICE_NULL);
}

/* address before "text": the failed address is alone on the last line
 * with text before the line holding "text" (m-FILTER, Lotus Notes); its
 * explanation follows that line. */
static int before_addr(found *f, const addr_method *m, hd_slice text, hd_slice low)
{
    const uint8_t *hit = memmem(low.p, low.len, m->text, m->len);
    if (hit == NULL)
        return 0;
    size_t at = (size_t)(hit - low.p);
    while (at > 0 && text.p[at - 1] != '\n')
        at--;
    size_t e = at; /* walk back over empty lines to the previous text line */
    while (e > 0) {
        size_t s = e - 1;
        while (s > 0 && text.p[s - 1] != '\n')
            s--;
        hd_slice l = hd_report__trim_line(hd_slice_make(text.p + s, e - 1 - s));
        if (l.len > 0) {
            hd_slice a = leading_addr(l);
            while (l.len > 0 && (l.p[l.len - 1] == '>' || l.p[l.len - 1] == ':'))
                l.len--;
            if (a.len == 0 || a.p + a.len != l.p + l.len)
                return 0;
            size_t eol = at;
            while (eol < text.len && text.p[eol] != '\n')
                eol++;
            return add_found(f, a, explanation(text, eol, hd_slice_make(text.p + eol, 0)));
        }
        e = s;
    }
    return 0;
}

static int rules_addrs(found *f, hd_slice text, hd_slice low, bool header_only)
{
    const hd_report_rules *rs = f->c->rs;
    for (int pass = 1; pass >= 0 && f->d->nrcpts == 0; pass--)
        for (size_t k = 0; k < rs->naddr && f->d->nrcpts == 0; k++) {
            const addr_method *m = &rs->addr[k];
            if (!hd_report__in_scope(f->c, m->vendor, pass) || (header_only
                && m->kind != ADDR_HEADER))
                continue;
            size_t from = 0;
            if (m->kind == ADDR_HEADER) {
                int rc = header_addrs(f, m, text);
                if (rc != 0)
                    return rc;
                continue;
            }
            if (m->kind == ADDR_RETURNED) {
                int rc = returned_addr(f, m);
                if (rc != 0)
                    return rc;
                continue;
            }
            if (m->kind == ADDR_BEFORE) {
                int rc = before_addr(f, m, text, low);
                if (rc != 0)
                    return rc;
                continue;
            }
            if (m->kind == ADDR_AFTER) {
                const uint8_t *hit = memmem(low.p, low.len, m->text, m->len);
                if (hit == NULL)
                    continue;
                from = (size_t)(hit - low.p) + m->len;
                size_t eol = from;
                while (eol < text.len && text.p[eol] != '\n')
                    eol++;
                /* "could not be delivered to: <a@b>": on the same line */
                hd_slice rest = hd_report__trim_line(hd_slice_make(text.p + from, eol - from));
                hd_slice a = leading_addr(rest);
                if (a.len > 0) { /* then the line names it; what follows explains */
                    int rc = add_found(f, a, explanation(text, eol, a));
                    if (rc != 0)
                        return rc;
                    continue;
                }
                from = eol;
            }
            int rc = scan_addrs(f, m, text, from);
            if (rc != 0)
                return rc;
        }
    return 0;
}

/* The text up to the first "cut" phrase: the returned message after it
 * is the original's, not the bounce's, and names other addresses. */
static size_t cut_at(const hd_report_rules *rs, hd_slice low)
{
    size_t end = low.len;
    for (size_t i = 0; i < rs->ncuts; i++) {
        const uint8_t *hit = memmem(low.p, end, rs->cuts[i].text, rs->cuts[i].len);
        if (hit != NULL) {
            size_t at = (size_t)(hit - low.p);
            while (at > 0 && low.p[at - 1] != '\n')
                at--;
            if (at > 0)
                end = at;
        }
    }
    return end;
}

static hd_slice msgid_line(hd_slice line)
{
    if (line.len < 11 || !hd_slice_caseeq_cstr(hd_slice_make(line.p, 11), "Message-ID:"))
        return HD_SLICE_NULL;
    return hd_slice_trim_wsp(hd_slice_make(line.p + 11, line.len - 11));
}

/* The first Message-ID: line of text. */
static hd_slice quoted_msgid(hd_slice text)
{
    size_t pos = 0;
    while (pos < text.len) {
        hd_slice got = msgid_line(hd_slice_trim_wsp(hd_report__next_line(text, &pos)));
        if (got.len > 0)
            return got;
    }
    return HD_SLICE_NULL;
}

/* The line around offset at in text. */
static hd_slice line_at(hd_slice text, size_t at)
{
    size_t s = at, e = at;
    while (s > 0 && text.p[s - 1] != '\n')
        s--;
    while (e < text.len && text.p[e] != '\n')
        e++;
    return hd_slice_make(text.p + s, e - s);
}

/* A bounce when a status rule matches its text (then every address
 * directive may name the failed addresses) or when a header directive
 * finds its field (the field alone says delivery failed); no bounce
 * without a failed address. */
static int apply_rules(const rules_ctx *c, const hd_mime *m, hd_slice text, hd_dsn *d,
                       hd_err *err)
{
    size_t n;
    uint8_t *low = hd_report__lowered(text, &n);
    if (low == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for the bounce text");
    n = cut_at(c->rs, hd_slice_make(low, n));
    hd_slice returned = n < text.len ? hd_slice_make(text.p + n, text.len - n) : HD_SLICE_NULL;
    text.len = n;
    hd_slice lows = hd_slice_make(low, n);
    /* phrases are matched across line breaks ("could not\nbe delivered"):
     * on a copy with every run of white space made one space */
    uint8_t *flat = malloc(n + 1);
    if (flat == NULL) {
        free(low);
        return hd_err_set(err, HD_ENOMEM, "out of memory for the bounce text");
    }
    size_t fn = 0;
    for (size_t i = 0; i < n; i++) {
        bool ws = is_wsp(low[i]) || low[i] == '\r' || low[i] == '\n';
        if (!(ws && fn > 0 && flat[fn - 1] == ' '))
            flat[fn++] = ws ? ' ' : low[i];
    }
    const rule *r = hd_report__match_rule(c, hd_slice_make(flat, fn), true, NULL);
    free(flat);
    found f = {.d = d, .c = c, .fallback = r, .header = hd_mime_part_header(m, 0), .m = m,
               .returned = returned, .err = err};
    const uint8_t *hit = r ? memmem(low, n, r->text, r->len) : NULL;
    if (hit != NULL)
        f.fallback_line = line_at(text, (size_t)(hit - low));
    int rc = rules_addrs(&f, text, lows, r == NULL);
    if (rc == 0 && d->nrcpts == 0 && r == NULL)
        rc = hd_err_set(err, HD_ENOTFOUND, "not a DSN and no bounce rule matches");
    else if (rc == 0 && d->nrcpts == 0)
        rc = hd_err_set(err, HD_ENOTFOUND,
                        "the text reads as a bounce (\"%.40s\") but names no failed address",
                        (const char *)r->text);
    free(low);
    if (rc == 0)
        d->flags |= HD_REPORT_NONSTANDARD;
    return rc;
}

static void nonstd_original(const hd_mime *m, hd_slice text, hd_dsn *d)
{
    unsigned fl = 0;
    hd_report__with_original(m, 1, hd_report__dsn_original, d, &fl);
    if (d->orig_message_id[0] == '\0') { /* the original header quoted in the text */
        if (text.len > RULE_SCAN_MAX)
            text.len = RULE_SCAN_MAX;
        hd_report__copy_value(d->orig_message_id, HD_REPORT_TEXT_MAX, quoted_msgid(text),
                              &d->flags);
    }
    if (d->orig_message_id[0] == '\0')
        d->flags |= HD_REPORT_NO_ORIGINAL;
    d->flags |= fl & ~HD_REPORT_NO_ORIGINAL;
}

/* A DSN whose MIME structure is broken (delimiters that do not match the
 * boundary, a part header lost): the delivery-status fields are still in
 * the text, from its first Reporting-MTA: or Final-Recipient: line to the
 * next MIME delimiter or Content-Type: line. Read them as RFC 3464 groups;
 * HD_ENOTFOUND when there are none. */
static int dsn_in_text(hd_slice text, hd_dsn *d, hd_err *err)
{
    size_t n;
    uint8_t *low = hd_report__lowered(text, &n);
    if (low == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for the bounce text");
    size_t start = (size_t)-1, fr = (size_t)-1, end = n, pos = 0;
    while (pos < n) {
        size_t s = pos;
        hd_slice l = hd_report__next_line(hd_slice_make(low, n), &pos);
        if (start == (size_t)-1 && l.len >= 14 && memcmp(l.p, "reporting-mta:", 14) == 0)
            start = s;
        if (fr == (size_t)-1 && l.len >= 16 && memcmp(l.p, "final-recipient:", 16) == 0)
            fr = s;
        hd_slice t = hd_slice_trim_wsp(l);
        if (fr != (size_t)-1 && s > fr &&
            ((t.len >= 2 && memcmp(t.p, "--", 2) == 0) ||
             (t.len >= 13 && memcmp(t.p, "content-type:", 13) == 0))) {
            end = s;
            break;
        }
    }
    free(low);
    if (fr == (size_t)-1)
        return hd_err_set(err, HD_ENOTFOUND, "no delivery-status fields in the text");
    if (start == (size_t)-1 || start > fr)
        start = fr;
    unsigned flags_before = d->flags; /* a failed try leaves no deviation behind */
    hd_buf b;
    hd_buf_init(&b, HD_REPORT_PART_MAX);
    /* the first group is the per-message one: an empty one when the text
     * has no Reporting-MTA */
    int rc = start == fr ? hd_buf_append_cstr(&b, "X-Herald-Lax: 1\r\n\r\n") : 0;
    if (rc == 0)
        rc = hd_buf_append(&b, text.p + start, end - start);
    hd_buf g;
    if (rc == 0)
        rc = hd_report__normalise_groups(hd_buf_slice(&b), &g, &d->flags, err);
    else
        hd_buf_init(&g, 0);
    if (rc == 0)
        rc = hd_report__dsn_blocks(d, hd_buf_slice(&g), err);
    hd_buf_free(&g);
    hd_buf_free(&b);
    /* read from text, a group with neither address nor action is other
     * lines (a returned header after the fields), not a recipient */
    size_t kept = 0;
    for (size_t i = 0; rc == 0 && i < d->nrcpts; i++)
        if (d->rcpts[i].final_recipient[0] != '\0' || d->rcpts[i].action != HD_DSN_ACTION_NONE)
            d->rcpts[kept++] = d->rcpts[i];
    if (rc == 0)
        d->nrcpts = kept;
    if (rc == 0 && d->nrcpts == 0)
        rc = hd_err_set(err, HD_ENOTFOUND, "no recipient in the delivery-status fields");
    if (rc == 0)
        d->flags |= HD_REPORT_LAX_FIELDS | HD_REPORT_PARTIAL;
    else {
        hd_dsn_free(d);
        d->flags = flags_before;
    }
    return rc;
}

static int nonstandard(const hd_mime *m, const rules_ctx *c, hd_dsn *d, hd_err *err)
{
    size_t i = hd_mime_find(m, "text", "plain", 0);
    if (i == (size_t)-1 && (hd_mime_flags(m) & (HD_MIME_NO_DELIMITER | HD_MIME_NO_BOUNDARY))) {
        /* a multipart whose boundary is never used (a bounce generator's
         * slip): its body is all the text there is */
        i = 0;
        d->flags |= HD_REPORT_PARTIAL;
    }
    if (i == (size_t)-1)
        return hd_err_set(err, HD_ENOTFOUND, "not a DSN and no text part to read");
    hd_buf b;
    hd_report__decode_part(hd_mime_part_at(m, i), &b, &d->flags);
    /* the bounce's own To: is the sender, not a failed recipient */
    hd_slice to = hd_report__field_value(hd_mime_part_header(m, 0), "To");
    hd_report__copy_value(d->dsn_to, HD_REPORT_ADDR_MAX, hd_report__angle_addr(to), &d->flags);
    int rc = dsn_in_text(hd_buf_slice(&b), d, err);
    if (rc == HD_ENOTFOUND) {
        hd_err_clear(err);
        rc = apply_rules(c, m, hd_buf_slice(&b), d, err);
    } else if (rc == 0) {
        hd_report__reclassify_all(d, c);
        nonstd_original(m, hd_buf_slice(&b), d);
        hd_report__dsn_finish(d, m);
        hd_buf_free(&b);
        return 0;
    }
    if (rc == 0) {
        nonstd_original(m, hd_buf_slice(&b), d);
        hd_report__dsn_finish(d, m);
    }
    hd_buf_free(&b);
    return rc;
}

/* The paragraph of the DSN's human-readable part that names addr (from
 * the address to the next empty line), lowercased in low. */
static hd_slice paragraph_of(hd_slice low, const char *addr)
{
    size_t n = strlen(addr);
    uint8_t lw[HD_REPORT_ADDR_MAX + 1];
    if (n == 0 || n > HD_REPORT_ADDR_MAX)
        return HD_SLICE_NULL;
    for (size_t i = 0; i < n; i++)
        lw[i] = lower((uint8_t)addr[i]);
    const uint8_t *hit = memmem(low.p, low.len, lw, n);
    if (hit == NULL)
        return HD_SLICE_NULL;
    size_t s = (size_t)(hit - low.p), e = s;
    while (e < low.len) {
        size_t pos = e;
        hd_slice l = hd_report__next_line(low, &pos);
        if (e > s && (hd_report__trim_line(l).len == 0 || other_addr(l, hd_slice_make(lw, n))))
            break;
        e = pos;
    }
    return hd_slice_make(low.p + s, (e > low.len ? low.len : e) - s);
}

/* What the DSN's human-readable part says about each recipient: a reason
 * when the delivery-status part gave none; and RFC 5321 §3.3: recipients
 * are accepted or refused at RCPT TO, so a "user unknown" the remote
 * server gave only after the message was sent (the text says "in reply to
 * end of DATA command" for that address) is its content filter speaking,
 * not a bad address: filtered, soft. */
static void text_part_reasons(const hd_mime *m, const rules_ctx *c, hd_dsn *d)
{
    size_t i = hd_mime_find(m, "text", "plain", 0);
    if (i == (size_t)-1)
        return;
    unsigned fl = 0;
    hd_buf b;
    hd_report__decode_part(hd_mime_part_at(m, i), &b, &fl);
    size_t n;
    uint8_t *low = hd_report__lowered(hd_buf_slice(&b), &n);
    hd_buf_free(&b);
    if (low == NULL)
        return;
    static const char *const data[] = {"end of data", ">>> data", "after data"};
    for (size_t k = 0; k < d->nrcpts; k++) {
        hd_dsn_rcpt *r = &d->rcpts[k];
        hd_slice para = paragraph_of(hd_slice_make(low, n), r->final_recipient);
        if (r->reason == HD_REASON_UNDEFINED && r->bounce != HD_BOUNCE_NONE && para.len > 0) {
            /* no reason in the delivery-status part: the human-readable
             * part's paragraph about this address may give one */
            char text[HD_REPORT_TEXT_MAX + 1];
            unsigned ignored = 0;
            hd_report__copy_value(text, HD_REPORT_TEXT_MAX, para, &ignored);
            hd_report__reason_from_text(r, c, text);
        }
        if (r->reason != HD_REASON_USERUNKNOWN)
            continue;
        for (size_t j = 0; j < sizeof data / sizeof data[0]; j++)
            if (hd_report__holds(para, (const uint8_t *)data[j], strlen(data[j]))) {
                r->reason = HD_REASON_FILTERED;
                r->bounce = hd_bounce_reason_class(r->reason, r->status);
                break;
            }
    }
    free(low);
}

/* A DSN for one recipient whose Final-Recipient is no address (and no
 * Original-Recipient helps): the returned message's sole To: address. */
static void returned_sole_rcpt(const hd_mime *m, hd_dsn *d)
{
    if (d->nrcpts != 1 || hd_report__plausible_addr(d->rcpts[0].final_recipient))
        return;
    for (size_t i = 1; i < hd_mime_nparts(m); i++) {
        const hd_mime_part *p = hd_mime_part_at(m, i);
        if (!hd_mime_ctype_is(&p->ctype, "message", "rfc822") || p->nchildren == 0)
            continue;
        hd_slice v = hd_report__field_value(hd_mime_part_header(m, i + 1), "To");
        hd_slice a = hd_report__angle_addr(v);
        if (v.len > 0 && memchr(v.p, ',', v.len) == NULL
            && looks_like_addr(hd_report__trim_line(a))) {
            hd_report__copy_value(d->rcpts[0].final_recipient, HD_REPORT_ADDR_MAX, a, &d->flags);
            d->flags |= HD_REPORT_FROM_ORIGINAL;
        }
        return;
    }
}

/* A Final-Recipient that is a program or a file ("|/usr/bin/x", Exim's
 * local deliveries) with no usable Original-Recipient: the bounce's
 * X-Failed-Recipients header names the addresses, in the same order. */
static void failed_header_fallback(const hd_mime *m, hd_dsn *d)
{
    const hd_msg *h = hd_mime_part_header(m, 0);
    size_t f = hd_msg_find(h, "X-Failed-Recipients", 0);
    if (f == (size_t)-1) {
        returned_sole_rcpt(m, d);
        return;
    }
    hd_slice v = hd_msg_field(h, f)->value;
    size_t p = 0;
    for (size_t i = 0; i < d->nrcpts; i++) {
        if (hd_report__plausible_addr(d->rcpts[i].final_recipient))
            continue;
        while (p < v.len) {
            size_t e = p;
            while (e < v.len && v.p[e] != ',')
                e++;
            hd_slice a = hd_report__trim_line(hd_report__angle_addr(hd_slice_make(v.p + p, e - p)));
            while (a.len > 0 && (a.p[0] == '\r' || a.p[0] == '\n' || is_wsp(a.p[0])))
                a = hd_slice_make(a.p + 1, a.len - 1);
            p = e + 1;
            if (looks_like_addr(a) && !rcpt_seen(d, a)) {
                hd_report__copy_value(d->rcpts[i].final_recipient, HD_REPORT_ADDR_MAX, a,
                                      &d->flags);
                d->flags |= HD_REPORT_LAX_FIELDS;
                break;
            }
        }
    }
}

int hd_report_parse_bounce(hd_slice msg, const hd_report_rules *rules, hd_dsn *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_mime *m = NULL;
    int rc = hd_report__parse_mime(msg, &m, err);
    if (rc != 0)
        return rc;
    rules_ctx c = hd_report__rules_activate(rules, msg);
    rc = hd_report__dsn_from_mime(m, out, err);
    if (rc == 0 && rules != NULL) {
        hd_report__reclassify_all(out, &c);
        text_part_reasons(m, &c, out);
        failed_header_fallback(m, out);
    }
    if (rc == 0 && out->nrcpts == 0 && rules != NULL) {
        /* a DSN whose delivery-status part names nobody: its text may */
        hd_dsn alt;
        memset(&alt, 0, sizeof alt);
        hd_err why = {0};
        if (nonstandard(m, &c, &alt, &why) == 0) {
            memcpy(alt.reporting_mta, out->reporting_mta, sizeof alt.reporting_mta);
            alt.flags |= HD_REPORT_PARTIAL;
            hd_dsn_free(out);
            *out = alt;
        } else {
            hd_dsn_free(&alt);
        }
    }
    if (rc == HD_ENOTFOUND && rules != NULL) {
        hd_err_clear(err);
        hd_dsn_free(out);
        memset(out, 0, sizeof *out);
        rc = nonstandard(m, &c, out, err);
    }
    hd_mime_free(m);
    return rc;
}
