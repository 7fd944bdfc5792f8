/*
 * report.c - delivery status notifications (RFC 3464), feedback reports
 * (RFC 5965) and rule-driven reading of non-standard bounces.
 *
 * Purpose: turn mail that comes back to the bounce domain into fields a
 * caller can match against its queue; no I/O, no matching here.
 *
 * Ownership: results are copied into the caller's hd_dsn / hd_arf (fixed
 * fields; hd_dsn owns its recipient array). Nothing borrows the message
 * after return.
 *
 * Bounds: the MIME walk is bounded by mime.h; a report part is decoded
 * into at most HD_REPORT_PART_MAX bytes; recipients stop at
 * HD_REPORT_MAX_RCPTS; every value is cut to its field (flagged); the
 * rules look at the first RULE_SCAN_MAX bytes of the bounce text only.
 */
#define _GNU_SOURCE /* memmem */
#include <herald/mail.h>
#include <herald/mime.h>
#include <herald/report.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounce explanations come first; rules do not read a whole novel. */
#define RULE_SCAN_MAX (64u * 1024)
#define RULE_TEXT_MAX 200
#define RULE_ADDR_METHODS 64
#define RULE_VENDORS_MAX 64 /* bits of rules_ctx.active */
#define RULE_CUTS_MAX 32

/* Small helpers ------------------------------------------------------------ */

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static hd_slice next_line(hd_slice text, size_t *pos)
{
    const uint8_t *lf = memchr(text.p + *pos, '\n', text.len - *pos);
    size_t end = lf ? (size_t)(lf - text.p) : text.len;
    hd_slice l = hd_slice_make(text.p + *pos, end - *pos);
    *pos = end + 1;
    return l;
}

/* line without its blanks and CR at either end */
static hd_slice trim_line(hd_slice line)
{
    line = hd_slice_trim_wsp(line);
    while (line.len > 0 && (line.p[line.len - 1] == '\r' || is_wsp(line.p[line.len - 1])))
        line.len--;
    return line;
}

/* Copy v into dst (size cap + 1) unfolded (RFC 5322 §2.2.3: CR and LF
 * dropped) and trimmed; a longer value is cut and flagged. */
static void copy_value(char *dst, size_t cap, hd_slice v, unsigned *flags)
{
    v = hd_slice_trim_wsp(v);
    size_t o = 0;
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = v.p[i];
        if (c == '\r' || c == '\n' || c == 0)
            continue;
        if (o == cap) {
            *flags |= HD_REPORT_TRUNCATED;
            break;
        }
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
}

/* "type; value" -> value (and type into *type when asked). */
static hd_slice split_typed(hd_slice v, hd_slice *type)
{
    const uint8_t *semi = v.len ? memchr(v.p, ';', v.len) : NULL;
    if (semi == NULL) {
        if (type)
            *type = HD_SLICE_NULL;
        return hd_slice_trim_wsp(v);
    }
    if (type)
        *type = hd_slice_trim_wsp(hd_slice_make(v.p, (size_t)(semi - v.p)));
    return hd_slice_trim_wsp(hd_slice_make(semi + 1, v.len - (size_t)(semi + 1 - v.p)));
}

/* The address in "Name <a@b>", "<a@b>" or "a@b". */
static hd_slice angle_addr(hd_slice v)
{
    v = hd_slice_trim_wsp(v);
    const uint8_t *lt = v.len ? memchr(v.p, '<', v.len) : NULL;
    if (lt == NULL)
        return v;
    size_t rest = v.len - (size_t)(lt + 1 - v.p);
    const uint8_t *gt = memchr(lt + 1, '>', rest);
    return hd_slice_make(lt + 1, gt ? (size_t)(gt - lt - 1) : rest);
}

static hd_slice field_value(const hd_msg *h, const char *name)
{
    size_t f = hd_msg_find(h, name, 0);
    return f == (size_t)-1 ? HD_SLICE_NULL : hd_msg_field(h, f)->value;
}

/* RFC 3463 §2: class "." subject "." detail, class 2, 4 or 5, subject and
 * detail 1-3 digits. Returns the class or 0. */
static int parse_status(hd_slice v, char out[16])
{
    v = hd_slice_trim_wsp(v);
    size_t i = 0, dots = 0, digits = 0;
    if (v.len == 0 || (v.p[0] != '2' && v.p[0] != '4' && v.p[0] != '5'))
        return 0;
    for (i = 1; i < v.len && i < 15; i++) {
        uint8_t c = v.p[i];
        if (c == '.' && (i == 1 || digits > 0) && dots < 2) {
            dots++;
            digits = 0;
        } else if (c >= '0' && c <= '9' && dots > 0 && digits < 3) {
            digits++;
        } else {
            break;
        }
    }
    if (dots != 2 || digits == 0 || (i < v.len && !is_wsp(v.p[i]) && v.p[i] != '('))
        return 0;
    memcpy(out, v.p, i);
    out[i] = '\0';
    return v.p[0] - '0';
}

static hd_dsn_action parse_action(hd_slice v)
{
    v = hd_slice_trim_wsp(v);
    size_t n = 0;
    while (n < v.len && !is_wsp(v.p[n]) && v.p[n] != '(')
        n++;
    hd_slice w = hd_slice_make(v.p, n);
    static const struct {
        const char *name;
        hd_dsn_action a;
    } names[] = {{"failed", HD_DSN_FAILED},       {"delayed", HD_DSN_DELAYED},
                 {"delivered", HD_DSN_DELIVERED}, {"relayed", HD_DSN_RELAYED},
                 {"expanded", HD_DSN_EXPANDED}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (hd_slice_caseeq_cstr(w, names[i].name))
            return names[i].a;
    return HD_DSN_ACTION_NONE;
}

/* RFC 3463 §3: the subject and detail of a status name the trouble; the
 * few that say something a sender acts on map to a reason. */
hd_bounce_reason hd_bounce_reason_from_status(const char *status)
{
    static const struct {
        const char *sd; /* ".subject.detail" */
        hd_bounce_reason r;
    } codes[] = {
        {".1.1", HD_REASON_USERUNKNOWN},    {".1.2", HD_REASON_HOSTUNKNOWN},
        {".1.3", HD_REASON_USERUNKNOWN},    {".1.6", HD_REASON_HASMOVED},
        {".1.7", HD_REASON_REJECTED},       {".1.8", HD_REASON_REJECTED},
        {".1.10", HD_REASON_NOTACCEPT},     {".2.1", HD_REASON_SUSPEND},
        {".2.2", HD_REASON_MAILBOXFULL},    {".2.3", HD_REASON_MESGTOOBIG},
        {".3.1", HD_REASON_SYSTEMFULL},     {".3.4", HD_REASON_MESGTOOBIG},
        {".4.7", HD_REASON_EXPIRED},        {".5.2", HD_REASON_SYNTAXERROR},
        {".7.1", HD_REASON_REJECTED},       {".7.26", HD_REASON_SECURITYERROR},
    };
    if (status == NULL || status[0] == '\0')
        return HD_REASON_UNDEFINED;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strcmp(status + 1, codes[i].sd) == 0)
            return codes[i].r;
    if (strncmp(status + 1, ".3.", 3) == 0)
        return HD_REASON_SYSTEMERROR;
    if (strncmp(status + 1, ".4.", 3) == 0)
        return HD_REASON_NETWORKERROR;
    if (strncmp(status + 1, ".6.", 3) == 0)
        return HD_REASON_CONTENTERROR;
    if (strncmp(status + 1, ".7.", 3) == 0)
        return HD_REASON_SECURITYERROR;
    return HD_REASON_UNDEFINED;
}

hd_bounce_class hd_bounce_reason_class(hd_bounce_reason r, const char *status)
{
    switch (r) {
    case HD_REASON_DELIVERED:
    case HD_REASON_VACATION:
        return HD_BOUNCE_NONE;
    case HD_REASON_USERUNKNOWN:
    case HD_REASON_HOSTUNKNOWN:
    case HD_REASON_HASMOVED:
        return HD_BOUNCE_HARD;
    case HD_REASON_NOTACCEPT: /* a null MX is final unless the code says retry */
        return status && status[0] == '4' ? HD_BOUNCE_SOFT : HD_BOUNCE_HARD;
    default:
        return HD_BOUNCE_SOFT;
    }
}

const char *hd_bounce_reason_name(hd_bounce_reason r)
{
    static const char *const names[HD_REASON_COUNT] = {
        [HD_REASON_UNDEFINED] = "undefined",
        [HD_REASON_USERUNKNOWN] = "userunknown",
        [HD_REASON_HOSTUNKNOWN] = "hostunknown",
        [HD_REASON_HASMOVED] = "hasmoved",
        [HD_REASON_NOTACCEPT] = "notaccept",
        [HD_REASON_MAILBOXFULL] = "mailboxfull",
        [HD_REASON_MESGTOOBIG] = "mesgtoobig",
        [HD_REASON_EXCEEDLIMIT] = "exceedlimit",
        [HD_REASON_SUSPEND] = "suspend",
        [HD_REASON_FILTERED] = "filtered",
        [HD_REASON_BLOCKED] = "blocked",
        [HD_REASON_REJECTED] = "rejected",
        [HD_REASON_SPAMDETECTED] = "spamdetected",
        [HD_REASON_VIRUSDETECTED] = "virusdetected",
        [HD_REASON_POLICYVIOLATION] = "policyviolation",
        [HD_REASON_SECURITYERROR] = "securityerror",
        [HD_REASON_CONTENTERROR] = "contenterror",
        [HD_REASON_SYNTAXERROR] = "syntaxerror",
        [HD_REASON_EXPIRED] = "expired",
        [HD_REASON_NETWORKERROR] = "networkerror",
        [HD_REASON_NORELAYING] = "norelaying",
        [HD_REASON_SYSTEMERROR] = "systemerror",
        [HD_REASON_SYSTEMFULL] = "systemfull",
        [HD_REASON_TOOMANYCONN] = "toomanyconn",
        [HD_REASON_MAILERERROR] = "mailererror",
        [HD_REASON_ONHOLD] = "onhold",
        [HD_REASON_VACATION] = "vacation",
        [HD_REASON_DELIVERED] = "delivered",
    };
    return (unsigned)r < HD_REASON_COUNT && names[r] ? names[r] : "undefined";
}

/* Many MTAs give a bare X.0.0 status and the real code in the remote
 * server's reply ("550 5.1.1 <a@b>: User unknown"): the first RFC 3463
 * code standing as a word in the diagnostic. */
static hd_bounce_reason reason_in_diagnostic(const char *diag)
{
    for (const char *p = diag; *p; p++) {
        if (p != diag && !is_wsp((uint8_t)p[-1]) && p[-1] != '(' && p[-1] != '#')
            continue;
        char code[16];
        const char *end = p;
        while (*end && !is_wsp((uint8_t)*end) && end - p < 15)
            end++;
        if (parse_status(hd_slice_make(p, (size_t)(end - p)), code) != 0)
            return hd_bounce_reason_from_status(code);
    }
    return HD_REASON_UNDEFINED;
}

/* A recipient's reason and class from its action and status: successes
 * are no bounce; a 4.x.x that the reporter gave up on is an expiry
 * (RFC 3464 §2.3.3: "failed" after retrying); else the status decides. */
static void classify(hd_dsn_rcpt *r)
{
    if (r->action == HD_DSN_DELIVERED || r->action == HD_DSN_RELAYED ||
        r->action == HD_DSN_EXPANDED) {
        r->reason = HD_REASON_DELIVERED;
        r->bounce = HD_BOUNCE_NONE;
        return;
    }
    if (r->status_class == 2 || (r->status_class == 0 && r->action == HD_DSN_ACTION_NONE)) {
        r->reason = r->status_class == 2 ? HD_REASON_DELIVERED : HD_REASON_UNDEFINED;
        r->bounce = HD_BOUNCE_NONE;
        return;
    }
    r->reason = hd_bounce_reason_from_status(r->status);
    if (r->reason == HD_REASON_UNDEFINED)
        r->reason = reason_in_diagnostic(r->diagnostic);
    if (r->reason == HD_REASON_UNDEFINED && r->status_class == 4 && r->action == HD_DSN_FAILED)
        r->reason = HD_REASON_EXPIRED;
    if (r->reason == HD_REASON_UNDEFINED && r->action == HD_DSN_DELAYED)
        r->reason = HD_REASON_ONHOLD;
    r->bounce = hd_bounce_reason_class(r->reason, r->status);
}

const char *hd_dsn_action_name(hd_dsn_action a)
{
    static const char *const names[] = {"none", "failed", "delayed", "delivered", "relayed",
                                        "expanded"};
    return (unsigned)a < sizeof names / sizeof names[0] ? names[a] : "none";
}

const char *hd_report_flag_name(unsigned bit)
{
    static const char *const names[HD_REPORT_FLAG_BITS] = {
        "partial",       "truncated",      "too_many",       "nonstandard",  "no_original",
        "lax_separator", "lax_status",     "bad_original",   "lax_fields",   "from_original",
    };
    for (unsigned i = 0; i < HD_REPORT_FLAG_BITS; i++)
        if (bit == 1u << i)
            return names[i];
    return NULL;
}

const char *hd_bounce_class_name(hd_bounce_class c)
{
    return c == HD_BOUNCE_HARD ? "hard" : c == HD_BOUNCE_SOFT ? "soft" : "none";
}

/* Decoded part bodies ------------------------------------------------------ */

/* Decode a part into b (capped); a cut or damaged encoding keeps what was
 * decoded and flags the result partial. */
static void decode_part(const hd_mime_part *p, hd_buf *b, unsigned *flags)
{
    hd_buf_init(b, HD_REPORT_PART_MAX);
    if (hd_mime_decode(p, b, NULL) != 0)
        *flags |= HD_REPORT_PARTIAL;
}

/* The header of the returned message (message/rfc822, message/global,
 * text/rfc822-headers) after part `from`; calls fn with it. */
typedef void (*orig_fn)(const hd_msg *h, void *ctx, unsigned *flags);

static void with_original(const hd_mime *m, size_t from, orig_fn fn, void *ctx, unsigned *flags)
{
    for (size_t i = from; i < hd_mime_nparts(m); i++) {
        const hd_mime_part *p = hd_mime_part_at(m, i);
        bool msg = hd_mime_ctype_is(&p->ctype, "message", "rfc822") ||
                   hd_mime_ctype_is(&p->ctype, "message", "global");
        bool hdrs = hd_mime_ctype_is(&p->ctype, "text", "rfc822-headers") ||
                    hd_mime_ctype_is(&p->ctype, "message", "global-headers");
        if (!msg && !hdrs)
            continue;
        if (msg && p->nchildren > 0) { /* walked by the MIME reader */
            fn(hd_mime_part_header(m, i + 1), ctx, flags);
            return;
        }
        hd_buf b;
        decode_part(p, &b, flags);
        hd_msg *h = NULL;
        hd_msg_limits lim = {0, 0, 0, true};
        if (hd_msg_parse(hd_buf_slice(&b), &lim, &h, NULL) == 0)
            fn(h, ctx, flags);
        else
            *flags |= HD_REPORT_PARTIAL;
        hd_msg_free(h);
        hd_buf_free(&b);
        return;
    }
    *flags |= HD_REPORT_NO_ORIGINAL;
}

/* DSN ------------------------------------------------------------------------ */

static void dsn_message_fields(hd_dsn *d, const hd_msg *h)
{
    copy_value(d->reporting_mta, HD_REPORT_SHORT_MAX,
               split_typed(field_value(h, "Reporting-MTA"), NULL), &d->flags);
    copy_value(d->original_envelope_id, HD_REPORT_SHORT_MAX,
               field_value(h, "Original-Envelope-Id"), &d->flags);
    copy_value(d->arrival_date, HD_REPORT_SHORT_MAX, field_value(h, "Arrival-Date"), &d->flags);
}

/* RFC 5321 §4.1.2 (obsolete source routes): "@relay:user@domain" is
 * user@domain. */
static void route_strip(char *a)
{
    char *colon = a[0] == '@' ? strchr(a, ':') : NULL;
    if (colon != NULL && strchr(colon, '@') != NULL)
        memmove(a, colon + 1, strlen(colon + 1) + 1);
}

/* local@domain, no blanks, no program or file. */
static bool plausible_addr(const char *a)
{
    const char *at = strrchr(a, '@');
    return at != NULL && at != a && at[1] != '\0' && strchr(at, '.') != NULL && a[0] != '|' &&
           a[0] != '/' && strpbrk(a, " \t") == NULL;
}

static void dsn_rcpt_fields(hd_dsn_rcpt *r, const hd_msg *h, unsigned *flags)
{
    copy_value(r->final_recipient, HD_REPORT_ADDR_MAX,
               angle_addr(split_typed(field_value(h, "Final-Recipient"), NULL)), flags);
    copy_value(r->original_recipient, HD_REPORT_ADDR_MAX,
               angle_addr(split_typed(field_value(h, "Original-Recipient"), NULL)), flags);
    r->action = parse_action(field_value(h, "Action"));
    hd_slice status = field_value(h, "Status");
    r->status_class = parse_status(status, r->status);
    status = hd_slice_trim_wsp(status);
    if (r->status_class == 0 && status.len >= 3 && (status.p[0] == '4' || status.p[0] == '5') &&
        status.p[1] >= '0' && status.p[1] <= '9' && status.p[2] >= '0' && status.p[2] <= '9' &&
        (status.len == 3 || is_wsp(status.p[3]))) {
        /* "Status: 553 ..." (an SMTP reply code, not RFC 3463): its class */
        r->status_class = status.p[0] - '0';
        snprintf(r->status, sizeof r->status, "%c.0.0", status.p[0]);
        *flags |= HD_REPORT_LAX_STATUS;
    }
    copy_value(r->remote_mta, HD_REPORT_SHORT_MAX, split_typed(field_value(h, "Remote-MTA"), NULL),
               flags);
    hd_slice type;
    hd_slice diag = split_typed(field_value(h, "Diagnostic-Code"), &type);
    copy_value(r->diagnostic_type, sizeof r->diagnostic_type - 1, type, flags);
    copy_value(r->diagnostic, HD_REPORT_TEXT_MAX, diag, flags);
    copy_value(r->last_attempt_date, HD_REPORT_SHORT_MAX, field_value(h, "Last-Attempt-Date"),
               flags);
    classify(r);
    if (r->final_recipient[0] == '\0' || r->action == HD_DSN_ACTION_NONE)
        *flags |= HD_REPORT_PARTIAL; /* RFC 3464 §2.3: both are required */
    route_strip(r->final_recipient);
    if (!plausible_addr(r->final_recipient) && plausible_addr(r->original_recipient)) {
        /* missing, a program ("|/usr/bin/x") or a file: the address the
         * sender used will do */
        memcpy(r->final_recipient, r->original_recipient, sizeof r->final_recipient);
        *flags |= HD_REPORT_LAX_FIELDS;
    }
}

static int dsn_add_rcpt(hd_dsn *d, const hd_msg *h, size_t *cap, hd_err *err)
{
    if (d->nrcpts == HD_REPORT_MAX_RCPTS) {
        d->flags |= HD_REPORT_TOO_MANY;
        return 0;
    }
    if (d->nrcpts == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        if (nc > HD_REPORT_MAX_RCPTS)
            nc = HD_REPORT_MAX_RCPTS;
        hd_dsn_rcpt *v = realloc(d->rcpts, nc * sizeof *v);
        if (v == NULL)
            return hd_err_set(err, HD_ENOMEM, "out of memory for DSN recipients");
        d->rcpts = v;
        *cap = nc;
    }
    hd_dsn_rcpt *r = &d->rcpts[d->nrcpts++];
    memset(r, 0, sizeof *r);
    dsn_rcpt_fields(r, h, &d->flags);
    return 0;
}

/* RFC 3464 §2.1: the per-message block, then per-recipient blocks, each a
 * group of header-like fields, separated by empty lines. */
static int dsn_blocks(hd_dsn *d, hd_slice body, hd_err *err)
{
    size_t pos = 0, cap = 0;
    bool first = true;
    hd_msg_limits lim = {0, 0, 0, true};
    while (pos < body.len) {
        hd_slice rest = hd_slice_make(body.p + pos, body.len - pos);
        hd_msg *h = NULL;
        if (hd_msg_parse(rest, &lim, &h, NULL) != 0) {
            d->flags |= HD_REPORT_PARTIAL; /* keep the blocks read so far */
            return 0;
        }
        size_t used = hd_msg_body_offset(h);
        int rc = 0;
        if (hd_msg_nfields(h) > 0) {
            if (first)
                dsn_message_fields(d, h);
            /* a per-message group that runs into the first recipient's
             * fields (no empty line between), or is missing (the first
             * group names a recipient): read as a recipient too */
            bool rcpt_fields = hd_msg_find(h, "Final-Recipient", 0) != (size_t)-1 ||
                               hd_msg_find(h, "Original-Recipient", 0) != (size_t)-1;
            if (first && rcpt_fields)
                d->flags |= HD_REPORT_LAX_FIELDS;
            if (!first || rcpt_fields)
                rc = dsn_add_rcpt(d, h, &cap, err);
            first = false;
        }
        hd_msg_free(h);
        if (rc != 0)
            return rc;
        pos += used > 0 ? used : rest.len;
    }
    return 0;
}

static void dsn_original(const hd_msg *h, void *ctx, unsigned *flags)
{
    hd_dsn *d = ctx;
    copy_value(d->orig_message_id, HD_REPORT_TEXT_MAX, field_value(h, "Message-ID"), flags);
    copy_value(d->orig_return_path, HD_REPORT_ADDR_MAX, angle_addr(field_value(h, "Return-Path")),
               flags);
}

static void dsn_finish(hd_dsn *d, const hd_mime *m)
{
    copy_value(d->dsn_to, HD_REPORT_ADDR_MAX, angle_addr(field_value(hd_mime_part_header(m, 0), "To")),
               &d->flags);
    const char *s = d->orig_return_path[0] ? d->orig_return_path : d->dsn_to;
    memcpy(d->envelope_sender, s, strlen(s) + 1);
}

/* Whether line starts "Name:" (RFC 5322 §2.2: printable ASCII but ':'). */
static bool is_field_line(hd_slice line, hd_slice *name)
{
    size_t i = 0;
    while (i < line.len && line.p[i] > 0x20 && line.p[i] < 0x7f && line.p[i] != ':')
        i++;
    *name = hd_slice_make(line.p, i);
    return i > 0 && i < line.len && line.p[i] == ':';
}

typedef struct group_seen {
    bool final, orig, action, permsg;
} group_seen;

/* Does a Final- or Original-Recipient field start a new group? */
static bool starts_group(const group_seen *g, hd_slice name)
{
    if (hd_slice_caseeq_cstr(name, "Final-Recipient"))
        return g->final || g->permsg || (g->orig && g->action);
    if (hd_slice_caseeq_cstr(name, "Original-Recipient"))
        return g->orig || g->permsg || (g->final && g->action);
    return false;
}

static void group_note(group_seen *g, hd_slice name)
{
    g->final |= hd_slice_caseeq_cstr(name, "Final-Recipient");
    g->orig |= hd_slice_caseeq_cstr(name, "Original-Recipient");
    g->action |= hd_slice_caseeq_cstr(name, "Action") || hd_slice_caseeq_cstr(name, "Status");
    g->permsg |= hd_slice_caseeq_cstr(name, "Reporting-MTA") ||
                 hd_slice_caseeq_cstr(name, "Arrival-Date") ||
                 hd_slice_caseeq_cstr(name, "Received-From-MTA");
}

/* RFC 3464 §2.1: groups of fields parted by empty lines. Real MTAs
 * deviate, and each deviation is read and noted: a line of spaces as the
 * separator (a header reader would take it as a folded continuation:
 * HD_REPORT_LAX_SEPARATOR); no separator at all before the next
 * recipient's Final-Recipient, and a value's continuation line without
 * the leading space (HD_REPORT_LAX_FIELDS). in is copied into out as a
 * well-formed body; an error only for lack of memory. */
static int normalise_groups(hd_slice in, hd_buf *out, unsigned *flags, hd_err *err)
{
    hd_buf_init(out, HD_REPORT_PART_MAX + HD_REPORT_PART_MAX / 2);
    group_seen g = {0};
    size_t pos = 0;
    int rc = 0;
    while (pos < in.len && rc == 0) {
        hd_slice line = next_line(in, &pos);
        hd_slice body = trim_line(line), name;
        if (body.len == 0) {
            if (line.len > 0 && !(line.len == 1 && line.p[0] == '\r'))
                *flags |= HD_REPORT_LAX_SEPARATOR;
            memset(&g, 0, sizeof g);
            rc = hd_buf_append_cstr(out, "\r\n");
            continue;
        }
        bool cont = is_wsp(line.p[0]);
        if (!cont && is_field_line(body, &name)) {
            if (starts_group(&g, name)) {
                *flags |= HD_REPORT_LAX_FIELDS;
                memset(&g, 0, sizeof g);
                rc = hd_buf_append_cstr(out, "\r\n");
            }
            group_note(&g, name);
        } else if (cont) { /* RFC 5322 §2.2.3: the folding white space stays */
            body = hd_slice_make(line.p, (size_t)(body.p + body.len - line.p));
        } else {
            *flags |= HD_REPORT_LAX_FIELDS; /* an unfolded continuation */
            rc = hd_buf_append_cstr(out, " ");
        }
        if (rc == 0)
            rc = hd_buf_append(out, body.p, body.len);
        if (rc == 0)
            rc = hd_buf_append_cstr(out, "\r\n");
    }
    if (rc != 0)
        return hd_err_set(err, HD_ELIMIT, "delivery-status part too large to read");
    return 0;
}

static int dsn_from_mime(const hd_mime *m, hd_dsn *out, hd_err *err)
{
    size_t i = hd_mime_find(m, "message", "delivery-status", 0);
    if (i == (size_t)-1)
        i = hd_mime_find(m, "message", "global-delivery-status", 0); /* RFC 6533 */
    if (i == (size_t)-1)
        return hd_err_set(err, HD_ENOTFOUND, "no message/delivery-status part: not a DSN");
    hd_buf raw, b;
    decode_part(hd_mime_part_at(m, i), &raw, &out->flags);
    if (hd_mime_flags(m) & HD_MIME_BAD_HEADER)
        out->flags |= HD_REPORT_BAD_ORIGINAL;
    int rc = normalise_groups(hd_buf_slice(&raw), &b, &out->flags, err);
    hd_buf_free(&raw);
    if (rc == 0)
        rc = dsn_blocks(out, hd_buf_slice(&b), err);
    hd_buf_free(&b);
    if (rc != 0)
        return rc;
    if (out->nrcpts == 0)
        out->flags |= HD_REPORT_PARTIAL;
    with_original(m, i + 1, dsn_original, out, &out->flags);
    dsn_finish(out, m);
    return 0;
}

/* Bounces come back damaged: a returned message with a broken header
 * must not make the report unreadable (it is optional, RFC 3464 §2), so
 * parts are read laxly; a mailbox file's "From " line before the header
 * (as bounces are often saved) is skipped. */
static int parse_mime(hd_slice msg, hd_mime **m, hd_err *err)
{
    if (msg.len > 5 && memcmp(msg.p, "From ", 5) == 0) {
        const uint8_t *lf = memchr(msg.p, '\n', msg.len);
        if (lf != NULL)
            msg = hd_slice_make(lf + 1, msg.len - (size_t)(lf + 1 - msg.p));
    }
    hd_mime_limits lim = {.lax_part_headers = true};
    int rc = hd_mime_parse(msg, &lim, m, err);
    if (rc != 0)
        hd_err_prefix(err, "report: ");
    return rc;
}

int hd_report_parse_dsn(hd_slice msg, hd_dsn *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_mime *m = NULL;
    int rc = parse_mime(msg, &m, err);
    if (rc == 0)
        rc = dsn_from_mime(m, out, err);
    hd_mime_free(m);
    return rc;
}

void hd_dsn_free(hd_dsn *dsn)
{
    if (dsn == NULL)
        return;
    free(dsn->rcpts);
    dsn->rcpts = NULL;
    dsn->nrcpts = 0;
}

/* ARF ------------------------------------------------------------------------ */

static hd_arf_type arf_type(hd_slice v)
{
    static const struct {
        const char *name;
        hd_arf_type t;
    } names[] = {{"abuse", HD_ARF_ABUSE},       {"fraud", HD_ARF_FRAUD},
                 {"virus", HD_ARF_VIRUS},       {"not-spam", HD_ARF_NOT_SPAM},
                 {"auth-failure", HD_ARF_AUTH_FAILURE}};
    v = hd_slice_trim_wsp(v);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (hd_slice_caseeq_cstr(v, names[i].name))
            return names[i].t;
    return HD_ARF_OTHER;
}

static void arf_fields(hd_arf *a, const hd_msg *h)
{
    unsigned *fl = &a->flags;
    hd_slice ft = field_value(h, "Feedback-Type");
    a->type = arf_type(ft);
    copy_value(a->feedback_type, sizeof a->feedback_type - 1, ft, fl);
    copy_value(a->user_agent, HD_REPORT_SHORT_MAX, field_value(h, "User-Agent"), fl);
    copy_value(a->version, sizeof a->version - 1, field_value(h, "Version"), fl);
    copy_value(a->original_mail_from, HD_REPORT_ADDR_MAX,
               angle_addr(field_value(h, "Original-Mail-From")), fl);
    copy_value(a->original_rcpt_to, HD_REPORT_ADDR_MAX,
               angle_addr(field_value(h, "Original-Rcpt-To")), fl);
    a->n_rcpt_to = hd_msg_count(h, "Original-Rcpt-To");
    hd_slice date = field_value(h, "Arrival-Date");
    if (date.len == 0)
        date = field_value(h, "Received-Date"); /* RFC 5965 §3.2: the older name */
    copy_value(a->arrival_date, HD_REPORT_SHORT_MAX, date, fl);
    copy_value(a->reporting_mta, HD_REPORT_SHORT_MAX,
               split_typed(field_value(h, "Reporting-MTA"), NULL), fl);
    copy_value(a->source_ip, sizeof a->source_ip - 1, field_value(h, "Source-IP"), fl);
    copy_value(a->authentication_results, HD_REPORT_TEXT_MAX,
               field_value(h, "Authentication-Results"), fl);
    /* RFC 5965 §3.1: Feedback-Type, User-Agent and Version are required */
    if (ft.len == 0 || a->user_agent[0] == '\0' || a->version[0] == '\0')
        *fl |= HD_REPORT_PARTIAL;
}

static void arf_original(const hd_msg *h, void *ctx, unsigned *flags)
{
    hd_arf *a = ctx;
    copy_value(a->orig_message_id, HD_REPORT_TEXT_MAX, field_value(h, "Message-ID"), flags);
    copy_value(a->orig_from, HD_REPORT_TEXT_MAX, field_value(h, "From"), flags);
    copy_value(a->orig_to, HD_REPORT_TEXT_MAX, field_value(h, "To"), flags);
}

int hd_report_parse_arf(hd_slice msg, hd_arf *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_mime *m = NULL;
    int rc = parse_mime(msg, &m, err);
    if (rc != 0)
        return rc;
    size_t i = hd_mime_find(m, "message", "feedback-report", 0);
    if (i == (size_t)-1) {
        hd_mime_free(m);
        return hd_err_set(err, HD_ENOTFOUND, "no message/feedback-report part: not an ARF report");
    }
    hd_buf b;
    decode_part(hd_mime_part_at(m, i), &b, &out->flags);
    hd_msg *h = NULL;
    hd_msg_limits lim = {0, 0, 0, true};
    if (hd_msg_parse(hd_buf_slice(&b), &lim, &h, NULL) == 0)
        arf_fields(out, h);
    else
        out->flags |= HD_REPORT_PARTIAL;
    hd_msg_free(h);
    hd_buf_free(&b);
    with_original(m, i + 1, arf_original, out, &out->flags);
    hd_mime_free(m);
    return 0;
}

/* Rules ------------------------------------------------------------------------ */

/* A phrase: text (lowercased) gives a status, a reason, or both. */
typedef struct rule {
    char status[16];       /* "" when the rule names only a reason */
    int status_class;      /* 4, 5 or 0 */
    hd_bounce_reason reason; /* HD_REASON_UNDEFINED: from the status */
    uint8_t text[RULE_TEXT_MAX];
    size_t len;
    int vendor; /* -1: general; else the section it belongs to */
} rule;

typedef enum addr_kind {
    ADDR_COLON,
    ADDR_FIELD,
    ADDR_AFTER,
    ADDR_BEFORE,
    ADDR_HEADER,
    ADDR_RETURNED,
} addr_kind;

typedef struct addr_method {
    addr_kind kind;
    uint8_t text[RULE_TEXT_MAX]; /* ADDR_FIELD: "name:"; ADDR_AFTER: the phrase, lowercased;
                                  * ADDR_HEADER: the field name, NUL-ended */
    size_t len;
    int vendor;
} addr_method;

/* A vendor section: its rules apply when the message holds the signature. */
typedef struct vendor_sig {
    char name[64];
    uint8_t sig[RULE_TEXT_MAX]; /* lowercased */
    size_t len;
} vendor_sig;

struct hd_report_rules {
    rule *rules;
    size_t n;
    addr_method addr[RULE_ADDR_METHODS];
    size_t naddr;
    vendor_sig vendors[RULE_VENDORS_MAX];
    size_t nvendors;
    rule cuts[RULE_CUTS_MAX]; /* "cut": where the returned message starts */
    size_t ncuts;
    int section; /* while parsing: the open vendor section, or -1 */
};

/* Which vendor sections a message switched on. */
typedef struct rules_ctx {
    const hd_report_rules *rs;
    uint64_t active;
} rules_ctx;

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static hd_slice next_word(hd_slice *line)
{
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
        r->status_class = parse_status(w, r->status);
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
        line = HD_SLICE_NULL;
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
static uint8_t *lowered(hd_slice text, size_t *len)
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

static bool holds(hd_slice low, const uint8_t *text, size_t len)
{
    return len > 0 && memmem(low.p, low.len, text, len) != NULL;
}

/* The vendor sections whose signature is in the message's first bytes. */
static rules_ctx rules_activate(const hd_report_rules *rs, hd_slice msg)
{
    rules_ctx c = {rs, 0};
    if (rs == NULL || rs->nvendors == 0)
        return c;
    size_t n;
    uint8_t *low = lowered(msg, &n);
    if (low == NULL)
        return c;
    for (size_t v = 0; v < rs->nvendors; v++)
        if (holds(hd_slice_make(low, n), rs->vendors[v].sig, rs->vendors[v].len))
            c.active |= 1ull << v;
    free(low);
    return c;
}

static bool in_scope(const rules_ctx *c, int vendor, bool vendors_pass)
{
    return vendors_pass ? vendor >= 0 && (c->active & (1ull << vendor)) : vendor < 0;
}

/* The first rule (an active vendor's first, then the general ones) whose
 * text is in low; want_status: only rules that give a status. */
static const rule *match_rule(const rules_ctx *c, hd_slice low, bool want_status, size_t *at)
{
    for (int pass = 1; pass >= 0; pass--)
        for (size_t i = 0; i < c->rs->n; i++) {
            const rule *r = &c->rs->rules[i];
            if (!in_scope(c, r->vendor, pass) || (want_status && r->status_class == 0))
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
    uint8_t *low = lowered(hd_slice_cstr(diag), &n);
    if (low == NULL)
        return HD_REASON_UNDEFINED;
    /* unfolded text keeps its runs of blanks: "address    rejected" */
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (!(is_wsp(low[i]) && o > 0 && low[o - 1] == ' '))
            low[o++] = is_wsp(low[i]) ? ' ' : low[i];
    n = o;
    const rule *r = match_rule(c, hd_slice_make(low, n), false, NULL);
    free(low);
    if (r == NULL)
        return HD_REASON_UNDEFINED;
    return r->reason != HD_REASON_UNDEFINED ? r->reason : hd_bounce_reason_from_status(r->status);
}

/* The reason text gives a recipient by the rules, when the status allows
 * it: a text may refine the reason, never contradict what the status
 * says for sure. */
static void reason_from_text(hd_dsn_rcpt *r, const rules_ctx *c, const char *text)
{
    if (r->bounce == HD_BOUNCE_NONE && r->reason == HD_REASON_DELIVERED)
        return;
    hd_bounce_reason by_text = rules_reason(c, text);
    /* RFC 3463 §3.3: an X.2.x status says the mailbox exists, so a text
     * claiming otherwise does not make the address bad; except X.2.1
     * (disabled), which "may be a permanent error if the mailbox will
     * never be re-enabled" */
    bool mailbox_exists = strncmp(r->status + 1, ".2.", 3) == 0 &&
                          strcmp(r->status + 1, ".2.1") != 0;
    if (mailbox_exists && hd_bounce_reason_class(by_text, r->status) == HD_BOUNCE_HARD)
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

static void reclassify(hd_dsn_rcpt *r, const rules_ctx *c)
{
    reason_from_text(r, c, r->diagnostic);
}

static bool looks_like_addr(hd_slice a)
{
    if (a.len < 3 || a.len > HD_REPORT_ADDR_MAX)
        return false;
    const uint8_t *at = memchr(a.p, '@', a.len);
    if (at == NULL || at == a.p || at == a.p + a.len - 1 || memchr(at + 1, '.', (size_t)(a.p + a.len - at - 1)) == NULL)
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
    hd_slice v = angle_addr(split_typed(hd_slice_make(line.p + fl, line.len - fl), NULL));
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

/* The bounce text, cut where the returned message starts (a "cut" phrase
 * at the start of a line), split into lines. */
typedef struct text_lines {
    hd_slice text; /* cut */
    hd_slice low;  /* the same, lowercased */
} text_lines;


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
 * its status and reason from the first rule the explanation holds, else
 * an RFC 3463 code in it, else the rule that made this a bounce. */
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
    copy_value(r->final_recipient, HD_REPORT_ADDR_MAX, a, &d->flags);
    memcpy(r->diagnostic_type, "rule", 5);
    copy_value(r->diagnostic, HD_REPORT_TEXT_MAX, diag.len ? diag : f->fallback_line, &d->flags);
    size_t n;
    uint8_t *low = lowered(hd_slice_cstr(r->diagnostic), &n);
    const rule *by = low ? match_rule(f->c, hd_slice_make(low, n), true, NULL) : NULL;
    free(low);
    /* an RFC 3463 code the remote server gave is the status; the rule's
     * phrase then gives the reason (reclassify) */
    char code[16] = "";
    int cls = 0;
    for (const char *p = r->diagnostic; cls == 0 && *p; p++) {
        if (p != r->diagnostic && !is_wsp((uint8_t)p[-1]) && p[-1] != '(' && p[-1] != '#')
            continue;
        const char *e = p;
        while (*e && !is_wsp((uint8_t)*e) && *e != ')' && e - p < 15)
            e++;
        cls = parse_status(hd_slice_make(p, (size_t)(e - p)), code);
        if (cls == 2) /* "250 2.1.5 Ok" in a transcript: not the failure */
            cls = 0;
    }
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
    classify(r);
    if (by != NULL && by->reason != HD_REASON_UNDEFINED) { /* the rule names it */
        r->reason = by->reason;
        r->bounce = hd_bounce_reason_class(r->reason, r->status);
    }
    reclassify(r, f->c);
    return 0;
}

/* A line that ends a recipient's explanation: blank, or a divider. */

static bool para_end(hd_slice line)
{
    line = trim_line(line);
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
    hd_slice b = leading_addr_coded(trim_line(line), &coded);
    return b.len > 0 && !coded && !same_addr(a, b);
}

/* The explanation after an address line: the rest of the line and the
 * following lines up to a blank line or the next address (at most 6). */
static hd_slice explanation(hd_slice text, size_t from, size_t line_end, hd_slice a)
{
    size_t s = (size_t)(a.p + a.len - text.p), pos = line_end + 1, e = line_end;
    if (s > line_end)
        s = line_end;
    for (int k = 0; k < 6 && pos < text.len; k++) {
        size_t p0 = pos;
        hd_slice l = next_line(text, &pos);
        if (para_end(l) || other_addr(l, a))
            break;
        e = p0 + l.len;
    }
    (void)from;
    while (s < e && (text.p[s] == '>' || text.p[s] == ':' || is_wsp(text.p[s]) || text.p[s] == '\'' || text.p[s] == '.'))
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
        hd_slice raw = next_line(text, &pos);
        hd_slice line = trim_line(raw);
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
                                                           : explanation(text, start, line_end, a));
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
        hd_slice raw = next_line(text, &pos);
        hd_slice l = leading_addr(trim_line(raw));
        if (same_addr(l, a))
            return explanation(text, start, start + raw.len, l);
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
            hd_slice a = angle_addr(hd_slice_make(v.p + p, e - p));
            while (a.len > 0 && (a.p[a.len - 1] == '\r' || a.p[a.len - 1] == '\n' || is_wsp(a.p[a.len - 1])))
                a.len--;
            while (a.len > 0 && (a.p[0] == '\r' || a.p[0] == '\n' || is_wsp(a.p[0])))
                a = hd_slice_make(a.p + 1, a.len - 1);
            if (looks_like_addr(a)) {
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
            hd_slice l = trim_line(next_line(f->returned, &pos));
            if (field_addr(l, (const uint8_t *)field, (size_t)fl).len > 0)
                v = hd_slice_make(l.p + fl, l.len - (size_t)fl);
        }
    }
    if (v.p == NULL || memchr(v.p, ',', v.len) != NULL)
        return 0;
    hd_slice a = trim_line(angle_addr(v));
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
        hd_slice l = trim_line(hd_slice_make(text.p + s, e - 1 - s));
        if (l.len > 0) {
            hd_slice a = leading_addr(l);
            while (l.len > 0 && (l.p[l.len - 1] == '>' || l.p[l.len - 1] == ':'))
                l.len--;
            if (a.len == 0 || a.p + a.len != l.p + l.len)
                return 0;
            size_t eol = at;
            while (eol < text.len && text.p[eol] != '\n')
                eol++;
            return add_found(f, a, explanation(text, at, eol, hd_slice_make(text.p + eol, 0)));
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
            if (!in_scope(f->c, m->vendor, pass) || (header_only && m->kind != ADDR_HEADER))
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
                hd_slice rest = trim_line(hd_slice_make(text.p + from, eol - from));
                hd_slice a = leading_addr(rest);
                if (a.len > 0) { /* then the line names it; what follows explains */
                    int rc = add_found(f, a, explanation(text, from, eol, a));
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
        hd_slice got = msgid_line(hd_slice_trim_wsp(next_line(text, &pos)));
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
    uint8_t *low = lowered(text, &n);
    if (low == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for the bounce text");
    n = cut_at(c->rs, hd_slice_make(low, n));
    hd_slice returned = hd_slice_make(text.p + n, text.len - n);
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
    const rule *r = match_rule(c, hd_slice_make(flat, fn), true, NULL);
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
    with_original(m, 1, dsn_original, d, &fl);
    if (d->orig_message_id[0] == '\0') { /* the original header quoted in the text */
        if (text.len > RULE_SCAN_MAX)
            text.len = RULE_SCAN_MAX;
        copy_value(d->orig_message_id, HD_REPORT_TEXT_MAX, quoted_msgid(text),
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
    uint8_t *low = lowered(text, &n);
    if (low == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for the bounce text");
    size_t start = (size_t)-1, fr = (size_t)-1, end = n, pos = 0;
    while (pos < n) {
        size_t s = pos;
        hd_slice l = next_line(hd_slice_make(low, n), &pos);
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
    hd_buf b;
    hd_buf_init(&b, HD_REPORT_PART_MAX);
    /* the first group is the per-message one: an empty one when the text
     * has no Reporting-MTA */
    int rc = start == fr ? hd_buf_append_cstr(&b, "X-Herald-Lax: 1\r\n\r\n") : 0;
    if (rc == 0)
        rc = hd_buf_append(&b, text.p + start, end - start);
    hd_buf g;
    if (rc == 0)
        rc = normalise_groups(hd_buf_slice(&b), &g, &d->flags, err);
    else
        hd_buf_init(&g, 0);
    if (rc == 0)
        rc = dsn_blocks(d, hd_buf_slice(&g), err);
    hd_buf_free(&g);
    hd_buf_free(&b);
    if (rc == 0 && d->nrcpts == 0)
        rc = hd_err_set(err, HD_ENOTFOUND, "no recipient in the delivery-status fields");
    if (rc == 0)
        d->flags |= HD_REPORT_LAX_FIELDS | HD_REPORT_PARTIAL;
    else {
        hd_dsn_free(d);
        d->flags &= ~(unsigned)HD_REPORT_LAX_SEPARATOR;
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
    decode_part(hd_mime_part_at(m, i), &b, &d->flags);
    /* the bounce's own To: is the sender, not a failed recipient */
    copy_value(d->dsn_to, HD_REPORT_ADDR_MAX,
               angle_addr(field_value(hd_mime_part_header(m, 0), "To")), &d->flags);
    int rc = dsn_in_text(hd_buf_slice(&b), d, err);
    if (rc == HD_ENOTFOUND) {
        hd_err_clear(err);
        rc = apply_rules(c, m, hd_buf_slice(&b), d, err);
    } else if (rc == 0) {
        for (size_t k = 0; k < d->nrcpts; k++)
            reclassify(&d->rcpts[k], c);
        nonstd_original(m, hd_buf_slice(&b), d);
        dsn_finish(d, m);
        hd_buf_free(&b);
        return 0;
    }
    if (rc == 0) {
        nonstd_original(m, hd_buf_slice(&b), d);
        dsn_finish(d, m);
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
        hd_slice l = next_line(low, &pos);
        if (e > s && (trim_line(l).len == 0 || other_addr(l, hd_slice_make(lw, n))))
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
    decode_part(hd_mime_part_at(m, i), &b, &fl);
    size_t n;
    uint8_t *low = lowered(hd_buf_slice(&b), &n);
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
            copy_value(text, HD_REPORT_TEXT_MAX, para, &ignored);
            reason_from_text(r, c, text);
        }
        if (r->reason != HD_REASON_USERUNKNOWN)
            continue;
        for (size_t j = 0; j < sizeof data / sizeof data[0]; j++)
            if (holds(para, (const uint8_t *)data[j], strlen(data[j]))) {
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
    if (d->nrcpts != 1 || plausible_addr(d->rcpts[0].final_recipient))
        return;
    for (size_t i = 1; i < hd_mime_nparts(m); i++) {
        const hd_mime_part *p = hd_mime_part_at(m, i);
        if (!hd_mime_ctype_is(&p->ctype, "message", "rfc822") || p->nchildren == 0)
            continue;
        hd_slice v = field_value(hd_mime_part_header(m, i + 1), "To");
        hd_slice a = angle_addr(v);
        if (v.len > 0 && memchr(v.p, ',', v.len) == NULL && looks_like_addr(trim_line(a))) {
            copy_value(d->rcpts[0].final_recipient, HD_REPORT_ADDR_MAX, a, &d->flags);
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
        if (plausible_addr(d->rcpts[i].final_recipient))
            continue;
        while (p < v.len) {
            size_t e = p;
            while (e < v.len && v.p[e] != ',')
                e++;
            hd_slice a = trim_line(angle_addr(hd_slice_make(v.p + p, e - p)));
            while (a.len > 0 && (a.p[0] == '\r' || a.p[0] == '\n' || is_wsp(a.p[0])))
                a = hd_slice_make(a.p + 1, a.len - 1);
            p = e + 1;
            if (looks_like_addr(a) && !rcpt_seen(d, a)) {
                copy_value(d->rcpts[i].final_recipient, HD_REPORT_ADDR_MAX, a, &d->flags);
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
    int rc = parse_mime(msg, &m, err);
    if (rc != 0)
        return rc;
    rules_ctx c = rules_activate(rules, msg);
    rc = dsn_from_mime(m, out, err);
    if (rc == 0 && rules != NULL) {
        for (size_t i = 0; i < out->nrcpts; i++)
            reclassify(&out->rcpts[i], &c);
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
