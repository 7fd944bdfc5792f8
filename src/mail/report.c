/*
 * report.c - delivery status notifications (RFC 3464), read leniently
 * where real MTAs deviate; feedback reports (RFC 5965); the reasons of a
 * failure and their hard/soft class. The rule table is report_rules.c,
 * reading bounces with it report_bounce.c (report_int.h joins them).
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
#include "mail/report_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* Small helpers ------------------------------------------------------------ */

hd_slice hd_report__next_line(hd_slice text, size_t *pos)
{
    const uint8_t *lf = memchr(text.p + *pos, '\n', text.len - *pos);
    size_t end = lf ? (size_t)(lf - text.p) : text.len;
    hd_slice l = hd_slice_make(text.p + *pos, end - *pos);
    *pos = end + 1;
    return l;
}

/* line without its blanks and CR at either end */
hd_slice hd_report__trim_line(hd_slice line)
{
    line = hd_slice_trim_wsp(line);
    while (line.len > 0 && (line.p[line.len - 1] == '\r' || is_wsp(line.p[line.len - 1])))
        line.len--;
    return line;
}

/* Copy v into dst (size cap + 1) unfolded (RFC 5322 §2.2.3: CR and LF
 * dropped) and trimmed; a longer value is cut and flagged. */
void hd_report__copy_value(char *dst, size_t cap, hd_slice v, unsigned *flags)
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
hd_slice hd_report__split_typed(hd_slice v, hd_slice *type)
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
hd_slice hd_report__angle_addr(hd_slice v)
{
    v = hd_slice_trim_wsp(v);
    const uint8_t *lt = v.len ? memchr(v.p, '<', v.len) : NULL;
    if (lt == NULL)
        return v;
    size_t rest = v.len - (size_t)(lt + 1 - v.p);
    const uint8_t *gt = memchr(lt + 1, '>', rest);
    return hd_slice_make(lt + 1, gt ? (size_t)(gt - lt - 1) : rest);
}

hd_slice hd_report__field_value(const hd_msg *h, const char *name)
{
    size_t f = hd_msg_find(h, name, 0);
    return f == (size_t)-1 ? HD_SLICE_NULL : hd_msg_field(h, f)->value;
}

/* RFC 3463 §2: class "." subject "." detail, class 2, 4 or 5, subject and
 * detail 1-3 digits. Returns the class or 0. */
int hd_report__parse_status(hd_slice v, char out[16])
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
    bool transient = status && status[0] == '4'; /* RFC 3463 §3.1: 4.x.x may succeed later */
    switch (r) {
    case HD_REASON_DELIVERED:
    case HD_REASON_VACATION:
        return HD_BOUNCE_NONE;
    case HD_REASON_USERUNKNOWN:
    case HD_REASON_HOSTUNKNOWN:
    case HD_REASON_HASMOVED:
    case HD_REASON_NOTACCEPT:
        return transient ? HD_BOUNCE_SOFT : HD_BOUNCE_HARD;
    default:
        return HD_BOUNCE_SOFT;
    }
}

_Static_assert(HD_REASON_COUNT <= 64, "hd_bounce_reasons has a bit per reason");

hd_bounce_class hd_bounce_class_with(hd_bounce_class c, hd_bounce_reason r, const char *status,
                                     hd_bounce_reasons extra_hard)
{
    if (c == HD_BOUNCE_SOFT && status && status[0] == '5' && (unsigned)r < HD_REASON_COUNT &&
        (extra_hard & HD_BOUNCE_REASON_BIT(r)))
        return HD_BOUNCE_HARD;
    return c;
}

int hd_bounce_reason_from_name(hd_slice name, hd_bounce_reason *out)
{
    for (unsigned r = 0; r < HD_REASON_COUNT; r++)
        if (hd_slice_caseeq_cstr(name, hd_bounce_reason_name((hd_bounce_reason)r))) {
            *out = (hd_bounce_reason)r;
            return 0;
        }
    return HD_ENOTFOUND;
}

hd_bounce_ses hd_bounce_ses_of(hd_bounce_class c, hd_bounce_reason r)
{
    if (c == HD_BOUNCE_HARD) {
        bool no_mailbox = r == HD_REASON_USERUNKNOWN || r == HD_REASON_HASMOVED;
        return (hd_bounce_ses){"Permanent", no_mailbox ? "NoEmail" : "General"};
    }
    switch (r) {
    case HD_REASON_UNDEFINED:
        return (hd_bounce_ses){"Undetermined", "Undetermined"};
    case HD_REASON_MAILBOXFULL:
        return (hd_bounce_ses){"Transient", "MailboxFull"};
    case HD_REASON_MESGTOOBIG:
    case HD_REASON_EXCEEDLIMIT:
        return (hd_bounce_ses){"Transient", "MessageTooLarge"};
    case HD_REASON_FILTERED:
    case HD_REASON_SPAMDETECTED:
    case HD_REASON_CONTENTERROR:
        return (hd_bounce_ses){"Transient", "ContentRejected"};
    case HD_REASON_VIRUSDETECTED:
        return (hd_bounce_ses){"Transient", "AttachmentRejected"};
    default:
        return (hd_bounce_ses){"Transient", "General"};
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

/* The first RFC 3463 failure code standing as a word in text ("550 5.1.1
 * <a@b>", "(#5.1.1)"), into code; its class, or 0. A success quoted in a
 * transcript ("250 2.1.5 Ok") is not the failure; with permanent false a
 * 5.x.x is passed over too. */
int hd_report__failure_code(const char *text, bool permanent, char code[16])
{
    for (const char *p = text; *p; p++) {
        if (p != text && !is_wsp((uint8_t)p[-1]) && p[-1] != '(' && p[-1] != '#')
            continue;
        const char *end = p;
        while (*end && !is_wsp((uint8_t)*end) && *end != ')' && end - p < 15)
            end++;
        int cls = hd_report__parse_status(hd_slice_make(p, (size_t)(end - p)), code);
        if (cls == 4 || (cls == 5 && permanent))
            return cls;
    }
    code[0] = '\0';
    return 0;
}

/* Many MTAs give a bare X.0.0 status and the real code in the remote
 * server's reply ("550 5.1.1 <a@b>: User unknown"). RFC 3463 §3.1: a
 * transient failure stays transient whatever permanent code its text
 * quotes. */
static hd_bounce_reason reason_in_diagnostic(const char *diag, int status_class)
{
    char code[16];
    if (hd_report__failure_code(diag, status_class != 4, code) == 0)
        return HD_REASON_UNDEFINED;
    return hd_bounce_reason_from_status(code);
}

/* A recipient's reason and class from its action and status: successes
 * are no bounce; a 4.x.x that the reporter gave up on is an expiry
 * (RFC 3464 §2.3.3: "failed" after retrying); else the status decides. */
void hd_report__classify(hd_dsn_rcpt *r)
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
        r->reason = reason_in_diagnostic(r->diagnostic, r->status_class);
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
void hd_report__decode_part(const hd_mime_part *p, hd_buf *b, unsigned *flags)
{
    hd_buf_init(b, HD_REPORT_PART_MAX);
    if (hd_mime_decode(p, b, NULL) != 0)
        *flags |= HD_REPORT_PARTIAL;
}

/* The header of the returned message (message/rfc822, message/global,
 * text/rfc822-headers) after part `from`; calls fn with it. */

void hd_report__with_original(const hd_mime *m, size_t from, orig_fn fn, void *ctx, unsigned *flags)
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
        hd_report__decode_part(p, &b, flags);
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

/* Field NAME of h into dst (cap + 1): as is; its value after "type;"; the
 * address in it ("rfc822; <a@b>", "Name <a@b>"). */
static void put(char *dst, size_t cap, const hd_msg *h, const char *name, unsigned *flags)
{
    hd_report__copy_value(dst, cap, hd_report__field_value(h, name), flags);
}

static void put_typed(char *dst, size_t cap, const hd_msg *h, const char *name, unsigned *flags)
{
    hd_report__copy_value(dst, cap, hd_report__split_typed(hd_report__field_value(h, name), NULL),
                          flags);
}

static void put_addr(char *dst, size_t cap, const hd_msg *h, const char *name, unsigned *flags)
{
    hd_slice v = hd_report__split_typed(hd_report__field_value(h, name), NULL);
    hd_report__copy_value(dst, cap, hd_report__angle_addr(v), flags);
}

static void dsn_message_fields(hd_dsn *d, const hd_msg *h)
{
    put_typed(d->reporting_mta, HD_REPORT_SHORT_MAX, h, "Reporting-MTA", &d->flags);
    put(d->original_envelope_id, HD_REPORT_SHORT_MAX, h, "Original-Envelope-Id", &d->flags);
    put(d->arrival_date, HD_REPORT_SHORT_MAX, h, "Arrival-Date", &d->flags);
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
bool hd_report__plausible_addr(const char *a)
{
    const char *at = strrchr(a, '@');
    return at != NULL && at != a && at[1] != '\0' && strchr(at, '.') != NULL && a[0] != '|' &&
           a[0] != '/' && strpbrk(a, " \t") == NULL;
}

static void dsn_rcpt_fields(hd_dsn_rcpt *r, const hd_msg *h, unsigned *flags)
{
    put_addr(r->final_recipient, HD_REPORT_ADDR_MAX, h, "Final-Recipient", flags);
    put_addr(r->original_recipient, HD_REPORT_ADDR_MAX, h, "Original-Recipient", flags);
    r->action = parse_action(hd_report__field_value(h, "Action"));
    hd_slice status = hd_report__field_value(h, "Status");
    r->status_class = hd_report__parse_status(status, r->status);
    status = hd_slice_trim_wsp(status);
    if (r->status_class == 0 && status.len >= 3 && (status.p[0] == '4' || status.p[0] == '5') &&
        status.p[1] >= '0' && status.p[1] <= '9' && status.p[2] >= '0' && status.p[2] <= '9' &&
        (status.len == 3 || is_wsp(status.p[3]))) {
        /* "Status: 553 ..." (an SMTP reply code, not RFC 3463): its class */
        r->status_class = status.p[0] - '0';
        snprintf(r->status, sizeof r->status, "%c.0.0", status.p[0]);
        *flags |= HD_REPORT_LAX_STATUS;
    }
    put_typed(r->remote_mta, HD_REPORT_SHORT_MAX, h, "Remote-MTA", flags);
    hd_slice type;
    hd_slice diag = hd_report__split_typed(hd_report__field_value(h, "Diagnostic-Code"), &type);
    hd_report__copy_value(r->diagnostic_type, sizeof r->diagnostic_type - 1, type, flags);
    hd_report__copy_value(r->diagnostic, HD_REPORT_TEXT_MAX, diag, flags);
    put(r->last_attempt_date, HD_REPORT_SHORT_MAX, h, "Last-Attempt-Date", flags);
    hd_report__classify(r);
    if (r->final_recipient[0] == '\0' || r->action == HD_DSN_ACTION_NONE)
        *flags |= HD_REPORT_PARTIAL; /* RFC 3464 §2.3: both are required */
    route_strip(r->final_recipient);
    if (!hd_report__plausible_addr(r->final_recipient)
        && hd_report__plausible_addr(r->original_recipient)) {
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
int hd_report__dsn_blocks(hd_dsn *d, hd_slice body, hd_err *err)
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

void hd_report__dsn_original(const hd_msg *h, void *ctx, unsigned *flags)
{
    hd_dsn *d = ctx;
    put(d->orig_message_id, HD_REPORT_TEXT_MAX, h, "Message-ID", flags);
    put_addr(d->orig_return_path, HD_REPORT_ADDR_MAX, h, "Return-Path", flags);
}

void hd_report__dsn_finish(hd_dsn *d, const hd_mime *m)
{
    put_addr(d->dsn_to, HD_REPORT_ADDR_MAX, hd_mime_part_header(m, 0), "To", &d->flags);
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
int hd_report__normalise_groups(hd_slice in, hd_buf *out, unsigned *flags, hd_err *err)
{
    hd_buf_init(out, HD_REPORT_PART_MAX + HD_REPORT_PART_MAX / 2);
    group_seen g = {0};
    size_t pos = 0;
    int rc = 0;
    while (pos < in.len && rc == 0) {
        hd_slice line = hd_report__next_line(in, &pos);
        hd_slice body = hd_report__trim_line(line), name;
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

int hd_report__dsn_from_mime(const hd_mime *m, hd_dsn *out, hd_err *err)
{
    size_t i = hd_mime_find(m, "message", "delivery-status", 0);
    if (i == (size_t)-1)
        i = hd_mime_find(m, "message", "global-delivery-status", 0); /* RFC 6533 */
    if (i == (size_t)-1)
        return hd_err_set(err, HD_ENOTFOUND, "no message/delivery-status part: not a DSN");
    hd_buf raw, b;
    hd_report__decode_part(hd_mime_part_at(m, i), &raw, &out->flags);
    if (hd_mime_flags(m) & HD_MIME_BAD_HEADER)
        out->flags |= HD_REPORT_BAD_ORIGINAL;
    int rc = hd_report__normalise_groups(hd_buf_slice(&raw), &b, &out->flags, err);
    hd_buf_free(&raw);
    if (rc == 0)
        rc = hd_report__dsn_blocks(out, hd_buf_slice(&b), err);
    hd_buf_free(&b);
    if (rc != 0)
        return rc;
    if (out->nrcpts == 0)
        out->flags |= HD_REPORT_PARTIAL;
    hd_report__with_original(m, i + 1, hd_report__dsn_original, out, &out->flags);
    hd_report__dsn_finish(out, m);
    return 0;
}

/* Bounces come back damaged: a returned message with a broken header
 * must not make the report unreadable (it is optional, RFC 3464 §2), so
 * parts are read laxly; a mailbox file's "From " line before the header
 * (as bounces are often saved) is skipped. */
int hd_report__parse_mime(hd_slice msg, hd_mime **m, hd_err *err)
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
    int rc = hd_report__parse_mime(msg, &m, err);
    if (rc == 0)
        rc = hd_report__dsn_from_mime(m, out, err);
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
    hd_slice ft = hd_report__field_value(h, "Feedback-Type");
    a->type = arf_type(ft);
    hd_report__copy_value(a->feedback_type, sizeof a->feedback_type - 1, ft, fl);
    put(a->user_agent, HD_REPORT_SHORT_MAX, h, "User-Agent", fl);
    put(a->version, sizeof a->version - 1, h, "Version", fl);
    put_addr(a->original_mail_from, HD_REPORT_ADDR_MAX, h, "Original-Mail-From", fl);
    put_addr(a->original_rcpt_to, HD_REPORT_ADDR_MAX, h, "Original-Rcpt-To", fl);
    a->n_rcpt_to = hd_msg_count(h, "Original-Rcpt-To");
    hd_slice date = hd_report__field_value(h, "Arrival-Date");
    if (date.len == 0)
        date = hd_report__field_value(h, "Received-Date"); /* RFC 5965 §3.2: the older name */
    hd_report__copy_value(a->arrival_date, HD_REPORT_SHORT_MAX, date, fl);
    put_typed(a->reporting_mta, HD_REPORT_SHORT_MAX, h, "Reporting-MTA", fl);
    put(a->source_ip, sizeof a->source_ip - 1, h, "Source-IP", fl);
    put(a->authentication_results, HD_REPORT_TEXT_MAX, h, "Authentication-Results", fl);
    /* RFC 5965 §3.1: Feedback-Type, User-Agent and Version are required */
    if (ft.len == 0 || a->user_agent[0] == '\0' || a->version[0] == '\0')
        *fl |= HD_REPORT_PARTIAL;
}

static void arf_original(const hd_msg *h, void *ctx, unsigned *flags)
{
    hd_arf *a = ctx;
    put(a->orig_message_id, HD_REPORT_TEXT_MAX, h, "Message-ID", flags);
    put(a->orig_from, HD_REPORT_TEXT_MAX, h, "From", flags);
    put(a->orig_to, HD_REPORT_TEXT_MAX, h, "To", flags);
}

int hd_report_parse_arf(hd_slice msg, hd_arf *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_mime *m = NULL;
    int rc = hd_report__parse_mime(msg, &m, err);
    if (rc != 0)
        return rc;
    size_t i = hd_mime_find(m, "message", "feedback-report", 0);
    if (i == (size_t)-1) {
        hd_mime_free(m);
        return hd_err_set(err, HD_ENOTFOUND, "no message/feedback-report part: not an ARF report");
    }
    hd_buf b;
    hd_report__decode_part(hd_mime_part_at(m, i), &b, &out->flags);
    hd_msg *h = NULL;
    hd_msg_limits lim = {0, 0, 0, true};
    if (hd_msg_parse(hd_buf_slice(&b), &lim, &h, NULL) == 0)
        arf_fields(out, h);
    else
        out->flags |= HD_REPORT_PARTIAL;
    hd_msg_free(h);
    hd_buf_free(&b);
    hd_report__with_original(m, i + 1, arf_original, out, &out->flags);
    hd_mime_free(m);
    return 0;
}

