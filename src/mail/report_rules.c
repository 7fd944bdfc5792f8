/*
 * report_rules.c - the bounce rule table (data/bounce-rules.txt; syntax in
 * report.h and docs/bounces.md): parsing it, with "line N:" errors, and
 * matching its phrases (a phrase gives a status and a reason).
 *
 * Bounds: HD_REPORT_MAX_RULES phrases, RULE_ADDR_METHODS address
 * directives, RULE_VENDORS_MAX vendor sections, RULE_CUTS_MAX cuts,
 * RULE_TEXT_MAX bytes a text; matching reads RULE_SCAN_MAX bytes.
 */
#define _GNU_SOURCE /* memmem */
#include "mail/report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hd_slice next_word(hd_slice *line)
{
    if (line->len == 0)
        return HD_SLICE_NULL;
    size_t i = 0;
    while (i < line->len && is_wsp(line->p[i]))
        i++;
    size_t s = i;
    while (i < line->len && !is_wsp(line->p[i]))
        i++;
    hd_slice w = hd_slice_make(line->p + s, i - s);
    *line = hd_slice_make(line->p + i, line->len - i);
    return w;
}

/* "quoted text" with \" and \\ escapes, lowercased into text/len. */
static int quoted_text(hd_slice line, uint8_t text[RULE_TEXT_MAX], size_t *len, size_t lineno,
                       hd_err *err)
{
    line = hd_slice_trim_wsp(line);
    if (line.len < 3 || line.p[0] != '"' || line.p[line.len - 1] != '"')
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected \"text\"", lineno);
    *len = 0;
    for (size_t i = 1; i + 1 < line.len; i++) {
        uint8_t c = line.p[i];
        if (c == '\\' && i + 2 < line.len)
            c = line.p[++i];
        else if (c == '"')
            return hd_err_set(err, HD_ESYNTAX, "line %zu: unescaped '\"' in the text", lineno);
        if (*len == RULE_TEXT_MAX)
            return hd_err_set(err, HD_ELIMIT, "line %zu: text longer than %d bytes", lineno,
                              RULE_TEXT_MAX);
        text[(*len)++] = lower(c);
    }
    return 0;
}

static hd_bounce_reason reason_by_name(hd_slice name)
{
    for (int r = 1; r < HD_REASON_COUNT; r++)
        if (hd_slice_eq_cstr(name, hd_bounce_reason_name((hd_bounce_reason)r)))
            return (hd_bounce_reason)r;
    return HD_REASON_UNDEFINED;
}

/* status X.Y.Z [reason NAME] contains "text"  |  reason NAME contains "text" */
static int rule_phrase(hd_report_rules *rs, bool with_status, hd_slice line, size_t lineno,
                       hd_err *err)
{
    if (rs->n == HD_REPORT_MAX_RULES)
        return hd_err_set(err, HD_ELIMIT, "line %zu: more than %d rules", lineno,
                          HD_REPORT_MAX_RULES);
    rule *r = &rs->rules[rs->n];
    memset(r, 0, sizeof *r);
    r->vendor = rs->section;
    hd_slice w = next_word(&line);
    if (with_status) {
        r->status_class = hd_report__parse_status(w, r->status);
        if (r->status_class != 4 && r->status_class != 5)
            return hd_err_set(err, HD_ESYNTAX, "line %zu: expected a 4.x.x or 5.x.x status code",
                              lineno);
        hd_slice rest = line;
        w = next_word(&rest);
        if (hd_slice_eq_cstr(w, "reason")) {
            w = next_word(&rest);
            line = rest;
        } else {
            w = HD_SLICE_NULL;
        }
    }
    if (w.p != NULL) {
        r->reason = reason_by_name(w);
        if (r->reason == HD_REASON_UNDEFINED)
            return hd_err_set(err, HD_ESYNTAX, "line %zu: unknown reason '%.*s'", lineno,
                              (int)(w.len > 40 ? 40 : w.len), (const char *)w.p);
    }
    if (!hd_slice_eq_cstr(next_word(&line), "contains"))
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected 'contains \"text\"'", lineno);
    int rc = quoted_text(line, r->text, &r->len, lineno, err);
    if (rc == 0)
        rs->n++;
    return rc;
}

/* address colon | address field NAME | address after "text" |
 * address before "text" | address header NAME */
static int rule_address(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    if (rs->naddr == RULE_ADDR_METHODS)
        return hd_err_set(err, HD_ELIMIT, "line %zu: more than %d address directives", lineno,
                          RULE_ADDR_METHODS);
    addr_method *a = &rs->addr[rs->naddr];
    memset(a, 0, sizeof *a);
    a->vendor = rs->section;
    hd_slice kind = next_word(&line);
    if (hd_slice_eq_cstr(kind, "after") || hd_slice_eq_cstr(kind, "before")) {
        a->kind = hd_slice_eq_cstr(kind, "after") ? ADDR_AFTER : ADDR_BEFORE;
        int rc = quoted_text(line, a->text, &a->len, lineno, err);
        if (rc == 0)
            rs->naddr++;
        return rc;
    }
    /* a field name may hold spaces ("Unknown user: a@b"): the rest of the line */
    hd_slice name = hd_slice_eq_cstr(kind, "field") ? hd_slice_trim_wsp(line) : next_word(&line);
    if (hd_slice_eq_cstr(kind, "field"))
        line = hd_slice_make(line.p + line.len, 0);
    if (hd_slice_eq_cstr(kind, "colon") && name.len == 0) {
        a->kind = ADDR_COLON;
    } else if ((hd_slice_eq_cstr(kind, "header") || hd_slice_eq_cstr(kind, "returned")) &&
               name.len > 0 && name.len < RULE_TEXT_MAX - 1) {
        a->kind = hd_slice_eq_cstr(kind, "header") ? ADDR_HEADER : ADDR_RETURNED;
        memcpy(a->text, name.p, name.len);
        a->text[name.len] = '\0';
        a->len = name.len;
    } else if (hd_slice_eq_cstr(kind, "field") && name.len > 0 && name.len < RULE_TEXT_MAX - 1) {
        a->kind = ADDR_FIELD;
        for (size_t i = 0; i < name.len; i++)
            a->text[i] = lower(name.p[i]);
        a->text[name.len] = ':';
        a->len = name.len + 1;
    } else {
        return hd_err_set(err, HD_ESYNTAX,
                          "line %zu: expected 'address colon', 'address field NAME', "
                          "'address header|returned NAME' or 'address after|before \"text\"'",
                          lineno);
    }
    if (next_word(&line).len != 0)
        return hd_err_set(err, HD_ESYNTAX, "line %zu: extra words after the directive", lineno);
    rs->naddr++;
    return 0;
}

/* vendor NAME when "signature" */
static int rule_section(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    if (rs->section >= 0)
        return hd_err_set(err, HD_ESYNTAX,
                          "line %zu: 'vendor' inside vendor section '%s' (end it first)", lineno,
                          rs->vendors[rs->section].name);
    if (rs->nvendors == RULE_VENDORS_MAX)
        return hd_err_set(err, HD_ELIMIT, "line %zu: more than %d vendor sections", lineno,
                          RULE_VENDORS_MAX);
    vendor_sig *v = &rs->vendors[rs->nvendors];
    hd_slice name = next_word(&line);
    if (name.len == 0 || name.len >= sizeof v->name || !hd_slice_eq_cstr(next_word(&line), "when"))
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected 'vendor NAME when \"text\"'",
                          lineno);
    memcpy(v->name, name.p, name.len);
    v->name[name.len] = '\0';
    int rc = quoted_text(line, v->sig, &v->len, lineno, err);
    if (rc == 0)
        rs->section = (int)rs->nvendors++;
    return rc;
}

static int rule_cut(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    if (rs->ncuts == RULE_CUTS_MAX)
        return hd_err_set(err, HD_ELIMIT, "line %zu: more than %d cut directives", lineno,
                          RULE_CUTS_MAX);
    rule *c = &rs->cuts[rs->ncuts];
    int rc = quoted_text(line, c->text, &c->len, lineno, err);
    if (rc == 0)
        rs->ncuts++;
    return rc;
}

static int rules_line(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    line = hd_slice_trim_wsp(line);
    if (line.len == 0 || line.p[0] == '#')
        return 0;
    hd_slice word = next_word(&line);
    if (hd_slice_eq_cstr(word, "status"))
        return rule_phrase(rs, true, line, lineno, err);
    if (hd_slice_eq_cstr(word, "reason"))
        return rule_phrase(rs, false, line, lineno, err);
    if (hd_slice_eq_cstr(word, "address"))
        return rule_address(rs, line, lineno, err);
    if (hd_slice_eq_cstr(word, "vendor"))
        return rule_section(rs, line, lineno, err);
    if (hd_slice_eq_cstr(word, "cut"))
        return rule_cut(rs, line, lineno, err);
    if (hd_slice_eq_cstr(word, "end") && next_word(&line).len == 0) {
        if (rs->section < 0)
            return hd_err_set(err, HD_ESYNTAX, "line %zu: 'end' outside a vendor section", lineno);
        rs->section = -1;
        return 0;
    }
    return hd_err_set(err, HD_ESYNTAX, "line %zu: unknown directive '%.*s'", lineno,
                      (int)(word.len > 40 ? 40 : word.len), (const char *)word.p);
}

int hd_report_rules_parse(hd_slice text, hd_report_rules **out, hd_err *err)
{
    *out = NULL;
    hd_report_rules *rs = calloc(1, sizeof *rs);
    if (rs == NULL || (rs->rules = calloc(HD_REPORT_MAX_RULES, sizeof *rs->rules)) == NULL) {
        free(rs);
        return hd_err_set(err, HD_ENOMEM, "out of memory for bounce rules");
    }
    rs->section = -1;
    size_t pos = 0, lineno = 1;
    int rc = 0;
    while (pos < text.len && rc == 0) {
        const uint8_t *lf = memchr(text.p + pos, '\n', text.len - pos);
        size_t end = lf ? (size_t)(lf - text.p) : text.len;
        if (memchr(text.p + pos, 0, end - pos) != NULL)
            rc = hd_err_set(err, HD_ESYNTAX, "line %zu: NUL byte", lineno);
        else
            rc = rules_line(rs, hd_slice_make(text.p + pos, end - pos), lineno, err);
        pos = end + 1;
        lineno++;
    }
    if (rc == 0 && rs->section >= 0)
        rc = hd_err_set(err, HD_ESYNTAX, "vendor section '%s' has no 'end'",
                        rs->vendors[rs->section].name);
    bool any_status = false;
    for (size_t i = 0; i < rs->n; i++)
        any_status |= rs->rules[i].status_class != 0;
    if (rc == 0 && (!any_status || rs->naddr == 0))
        rc = hd_err_set(err, HD_ESYNTAX, "no %s directive in the rules",
                        !any_status ? "status" : "address");
    if (rc != 0) {
        hd_report_rules_free(rs);
        return rc;
    }
    *out = rs;
    return 0;
}

void hd_report_rules_free(hd_report_rules *rules)
{
    if (rules == NULL)
        return;
    free(rules->rules);
    free(rules);
}

/* Applying the rules ------------------------------------------------------------ */

/* A lowercased copy of at most RULE_SCAN_MAX bytes of text (NULL: no memory). */
uint8_t *hd_report__lowered(hd_slice text, size_t *len)
{
    *len = text.len > RULE_SCAN_MAX ? RULE_SCAN_MAX : text.len;
    uint8_t *low = malloc(*len + 1);
    if (low == NULL)
        return NULL;
    for (size_t i = 0; i < *len; i++)
        low[i] = lower(text.p[i]);
    low[*len] = '\0';
    return low;
}

bool hd_report__holds(hd_slice low, const uint8_t *text, size_t len)
{
    return len > 0 && low.len >= len && memmem(low.p, low.len, text, len) != NULL;
}

/* The vendor sections whose signature is in the message's first bytes. */
rules_ctx hd_report__rules_activate(const hd_report_rules *rs, hd_slice msg)
{
    rules_ctx c = {rs, 0};
    if (rs == NULL || rs->nvendors == 0)
        return c;
    size_t n;
    uint8_t *low = hd_report__lowered(msg, &n);
    if (low == NULL)
        return c;
    for (size_t v = 0; v < rs->nvendors; v++)
        if (hd_report__holds(hd_slice_make(low, n), rs->vendors[v].sig, rs->vendors[v].len))
            c.active |= 1ull << v;
    free(low);
    return c;
}

bool hd_report__in_scope(const rules_ctx *c, int vendor, bool vendors_pass)
{
    return vendors_pass ? vendor >= 0 && (c->active & (1ull << vendor)) : vendor < 0;
}

/* The first rule (an active vendor's first, then the general ones) whose
 * text is in low; want_status: only rules that give a status. */
const rule *hd_report__match_rule(const rules_ctx *c, hd_slice low, bool want_status, size_t *at)
{
    for (int pass = 1; pass >= 0; pass--)
        for (size_t i = 0; i < c->rs->n; i++) {
            const rule *r = &c->rs->rules[i];
            if (!hd_report__in_scope(c, r->vendor, pass) || (want_status && r->status_class == 0))
                continue;
            const uint8_t *hit = memmem(low.p, low.len, r->text, r->len);
            if (hit != NULL) {
                if (at)
                    *at = (size_t)(hit - low.p);
                return r;
            }
        }
    return NULL;
}

/* The reason a recipient's diagnostic text gives by the rules. */
static hd_bounce_reason rules_reason(const rules_ctx *c, const char *diag)
{
    if (c == NULL || c->rs == NULL || diag[0] == '\0')
        return HD_REASON_UNDEFINED;
    size_t n;
    uint8_t *low = hd_report__lowered(hd_slice_cstr(diag), &n);
    if (low == NULL)
        return HD_REASON_UNDEFINED;
    /* unfolded text keeps its runs of blanks: "address    rejected" */
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (!(is_wsp(low[i]) && o > 0 && low[o - 1] == ' '))
            low[o++] = is_wsp(low[i]) ? ' ' : low[i];
    n = o;
    const rule *r = hd_report__match_rule(c, hd_slice_make(low, n), false, NULL);
    free(low);
    if (r == NULL)
        return HD_REASON_UNDEFINED;
    return r->reason != HD_REASON_UNDEFINED ? r->reason : hd_bounce_reason_from_status(r->status);
}

/* The reason text gives a recipient by the rules, when the status allows
 * it: a text may refine the reason, never contradict what the status
 * says for sure. */
void hd_report__reason_from_text(hd_dsn_rcpt *r, const rules_ctx *c, const char *text)
{
    if (r->bounce == HD_BOUNCE_NONE && r->reason == HD_REASON_DELIVERED)
        return;
    hd_bounce_reason by_text = rules_reason(c, text);
    /* RFC 3463 §3.3: an X.2.x status says the mailbox exists, so a text
     * claiming otherwise does not make the address bad; except X.2.1
     * (disabled), which "may be a permanent error if the mailbox will
     * never be re-enabled". Other subjects are left to the text: real
     * servers refuse unknown users with 5.5.0, 5.3.0, 5.4.1 or 5.7.1 */
    bool mailbox_exists = strncmp(r->status + 1, ".2.", 3) == 0 &&
                          strcmp(r->status + 1, ".2.1") != 0;
    if (mailbox_exists && hd_bounce_reason_class(by_text, "5") == HD_BOUNCE_HARD)
        by_text = HD_REASON_UNDEFINED;
    /* RFC 3463 §3.1: a 4.x.x is transient; a name that did not resolve
     * this time is trouble on the way, not a domain that is gone */
    if (r->status_class == 4 && by_text == HD_REASON_HOSTUNKNOWN)
        by_text = HD_REASON_NETWORKERROR;
    if (by_text != HD_REASON_UNDEFINED) {
        r->reason = by_text;
        r->bounce = hd_bounce_reason_class(r->reason, r->status);
    }
}

void hd_report__reclassify(hd_dsn_rcpt *r, const rules_ctx *c)
{
    hd_report__reason_from_text(r, c, r->diagnostic);
}

/* Recipients of one report often share their diagnostic (a DSN for a
 * list, a bounce whose addresses share one explanation): the phrases are
 * matched once per run of equal ones, not once per recipient. */
void hd_report__reclassify_all(hd_dsn *d, const rules_ctx *c)
{
    for (size_t i = 0; i < d->nrcpts; i++) {
        hd_dsn_rcpt *r = &d->rcpts[i], *prev = i > 0 ? &d->rcpts[i - 1] : NULL;
        if (prev != NULL && prev->action == r->action && strcmp(prev->status, r->status) == 0 &&
            strcmp(prev->diagnostic, r->diagnostic) == 0) {
            r->reason = prev->reason;
            r->bounce = prev->bounce;
            continue;
        }
        hd_report__reclassify(r, c);
    }
}

hd_bounce_class hd_report_classify_reply(const hd_report_rules *rules, int code,
                                         const char *enhanced, const char *text, bool at_rcpt,
                                         hd_bounce_reason *reason)
{
    if (code < 400 || code > 599) {
        *reason = code >= 200 && code < 400 ? HD_REASON_DELIVERED : HD_REASON_UNDEFINED;
        return HD_BOUNCE_NONE;
    }
    hd_dsn_rcpt r;
    memset(&r, 0, sizeof r);
    r.action = code >= 500 ? HD_DSN_FAILED : HD_DSN_DELAYED;
    r.status_class = code / 100;
    /* RFC 3463 §2: the enhanced code's class must be the reply's */
    if (enhanced == NULL || enhanced[0] == '\0' ||
        hd_report__parse_status(hd_slice_cstr(enhanced), r.status) != r.status_class)
        snprintf(r.status, sizeof r.status, "%d.0.0", r.status_class);
    unsigned ignored = 0;
    char line[HD_REPORT_TEXT_MAX + 1];
    snprintf(line, sizeof line, "%d %s%s%s", code, enhanced ? enhanced : "",
             enhanced && enhanced[0] ? " " : "", text ? text : "");
    hd_report__copy_value(r.diagnostic, HD_REPORT_TEXT_MAX, hd_slice_cstr(line), &ignored);
    hd_report__classify(&r);
    if (rules != NULL) {
        rules_ctx c = hd_report__rules_activate(rules, hd_slice_cstr(r.diagnostic));
        hd_report__reclassify(&r, &c);
    }
    if (!at_rcpt && r.reason == HD_REASON_USERUNKNOWN) {
        r.reason = HD_REASON_FILTERED;
        r.bounce = hd_bounce_reason_class(r.reason, r.status);
    }
    *reason = r.reason;
    return r.bounce;
}

