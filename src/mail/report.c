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

#include <stdlib.h>
#include <string.h>

/* Bounce explanations come first; rules do not read a whole novel. */
#define RULE_SCAN_MAX (64u * 1024)
#define RULE_TEXT_MAX 200
#define RULE_ADDR_METHODS 8

/* Small helpers ------------------------------------------------------------ */

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
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
        "lax_separator", "lax_status",     "bad_original",   "lax_fields",
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

static void dsn_rcpt_fields(hd_dsn_rcpt *r, const hd_msg *h, unsigned *flags)
{
    copy_value(r->final_recipient, HD_REPORT_ADDR_MAX,
               angle_addr(split_typed(field_value(h, "Final-Recipient"), NULL)), flags);
    copy_value(r->original_recipient, HD_REPORT_ADDR_MAX,
               angle_addr(split_typed(field_value(h, "Original-Recipient"), NULL)), flags);
    r->action = parse_action(field_value(h, "Action"));
    r->status_class = parse_status(field_value(h, "Status"), r->status);
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
            else
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

static int dsn_from_mime(const hd_mime *m, hd_dsn *out, hd_err *err)
{
    size_t i = hd_mime_find(m, "message", "delivery-status", 0);
    if (i == (size_t)-1)
        i = hd_mime_find(m, "message", "global-delivery-status", 0); /* RFC 6533 */
    if (i == (size_t)-1)
        return hd_err_set(err, HD_ENOTFOUND, "no message/delivery-status part: not a DSN");
    hd_buf b;
    decode_part(hd_mime_part_at(m, i), &b, &out->flags);
    int rc = dsn_blocks(out, hd_buf_slice(&b), err);
    hd_buf_free(&b);
    if (rc != 0)
        return rc;
    if (out->nrcpts == 0)
        out->flags |= HD_REPORT_PARTIAL;
    with_original(m, i + 1, dsn_original, out, &out->flags);
    dsn_finish(out, m);
    return 0;
}

static int parse_mime(hd_slice msg, hd_mime **m, hd_err *err)
{
    int rc = hd_mime_parse(msg, NULL, m, err);
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

typedef struct rule {
    char status[16];
    int status_class;
    uint8_t text[RULE_TEXT_MAX]; /* lowercased */
    size_t len;
} rule;

typedef struct addr_method {
    bool colon;                      /* else a field */
    char field[HD_REPORT_SHORT_MAX]; /* with its ':' */
} addr_method;

struct hd_report_rules {
    rule *rules;
    size_t n;
    addr_method addr[RULE_ADDR_METHODS];
    size_t naddr;
};

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

/* "quoted text" with \" and \\ escapes, lowercased into r. */
static int rule_text(hd_slice line, rule *r, size_t lineno, hd_err *err)
{
    line = hd_slice_trim_wsp(line);
    if (line.len < 3 || line.p[0] != '"' || line.p[line.len - 1] != '"')
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected \"text\" after contains", lineno);
    r->len = 0;
    for (size_t i = 1; i + 1 < line.len; i++) {
        uint8_t c = line.p[i];
        if (c == '\\' && i + 2 < line.len)
            c = line.p[++i];
        else if (c == '"')
            return hd_err_set(err, HD_ESYNTAX, "line %zu: unescaped '\"' in the text", lineno);
        if (r->len == RULE_TEXT_MAX)
            return hd_err_set(err, HD_ELIMIT, "line %zu: text longer than %d bytes", lineno,
                              RULE_TEXT_MAX);
        r->text[r->len++] = lower(c);
    }
    return 0;
}

static int rule_status(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    if (rs->n == HD_REPORT_MAX_RULES)
        return hd_err_set(err, HD_ELIMIT, "line %zu: more than %d rules", lineno,
                          HD_REPORT_MAX_RULES);
    rule *r = &rs->rules[rs->n];
    hd_slice code = next_word(&line);
    r->status_class = parse_status(code, r->status);
    if (r->status_class != 4 && r->status_class != 5)
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected a 4.x.x or 5.x.x status code",
                          lineno);
    if (!hd_slice_eq_cstr(next_word(&line), "contains"))
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected 'contains' after the status",
                          lineno);
    int rc = rule_text(line, r, lineno, err);
    if (rc == 0)
        rs->n++;
    return rc;
}

static int rule_address(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    if (rs->naddr == RULE_ADDR_METHODS)
        return hd_err_set(err, HD_ELIMIT, "line %zu: more than %d address directives", lineno,
                          RULE_ADDR_METHODS);
    addr_method *a = &rs->addr[rs->naddr];
    hd_slice kind = next_word(&line);
    hd_slice name = next_word(&line);
    if (hd_slice_eq_cstr(kind, "colon") && name.len == 0) {
        a->colon = true;
    } else if (hd_slice_eq_cstr(kind, "field") && name.len > 0 &&
               name.len < sizeof a->field - 1) {
        a->colon = false;
        memcpy(a->field, name.p, name.len);
        a->field[name.len] = ':';
        a->field[name.len + 1] = '\0';
    } else {
        return hd_err_set(err, HD_ESYNTAX, "line %zu: expected 'address colon' or 'address field NAME'",
                          lineno);
    }
    if (next_word(&line).len != 0)
        return hd_err_set(err, HD_ESYNTAX, "line %zu: extra words after the directive", lineno);
    rs->naddr++;
    return 0;
}

static int rules_line(hd_report_rules *rs, hd_slice line, size_t lineno, hd_err *err)
{
    line = hd_slice_trim_wsp(line);
    if (line.len == 0 || line.p[0] == '#')
        return 0;
    hd_slice word = next_word(&line);
    if (hd_slice_eq_cstr(word, "status"))
        return rule_status(rs, line, lineno, err);
    if (hd_slice_eq_cstr(word, "address"))
        return rule_address(rs, line, lineno, err);
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
    if (rc == 0 && (rs->n == 0 || rs->naddr == 0))
        rc = hd_err_set(err, HD_ESYNTAX, "no %s directive in the rules",
                        rs->n == 0 ? "status" : "address");
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

static bool looks_like_addr(hd_slice a)
{
    if (a.len < 3 || a.len > HD_REPORT_ADDR_MAX || memchr(a.p, '@', a.len) == NULL)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (a.p[i] <= 0x20 || a.p[i] == '<' || a.p[i] == '>' || a.p[i] == 0x7f)
            return false;
    return true;
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

static hd_slice field_addr(hd_slice line, const char *field)
{
    size_t fl = strlen(field);
    if (line.len < fl || !hd_slice_caseeq_cstr(hd_slice_make(line.p, fl), field))
        return HD_SLICE_NULL;
    hd_slice v = angle_addr(split_typed(hd_slice_make(line.p + fl, line.len - fl), NULL));
    return looks_like_addr(v) ? v : HD_SLICE_NULL;
}

/* Calls back with each trimmed line until fn returns true. */
static hd_slice find_line(hd_slice text, hd_slice (*fn)(hd_slice, const char *), const char *arg)
{
    size_t pos = 0;
    while (pos < text.len) {
        const uint8_t *lf = memchr(text.p + pos, '\n', text.len - pos);
        size_t end = lf ? (size_t)(lf - text.p) : text.len;
        hd_slice got = fn(hd_slice_trim_wsp(hd_slice_make(text.p + pos, end - pos)), arg);
        if (got.len > 0)
            return got;
        pos = end + 1;
    }
    return HD_SLICE_NULL;
}

static hd_slice colon_fn(hd_slice line, const char *unused)
{
    (void)unused;
    return colon_addr(line);
}

static hd_slice msgid_fn(hd_slice line, const char *unused)
{
    (void)unused;
    if (line.len < 11 || !hd_slice_caseeq_cstr(hd_slice_make(line.p, 11), "Message-ID:"))
        return HD_SLICE_NULL;
    return hd_slice_trim_wsp(hd_slice_make(line.p + 11, line.len - 11));
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

static const rule *match_rule(const hd_report_rules *rs, hd_slice low, size_t *at)
{
    for (size_t i = 0; i < rs->n; i++) {
        const uint8_t *hit = memmem(low.p, low.len, rs->rules[i].text, rs->rules[i].len);
        if (hit != NULL) {
            *at = (size_t)(hit - low.p);
            return &rs->rules[i];
        }
    }
    return NULL;
}

static void rules_recipient(const hd_report_rules *rs, hd_slice text, hd_dsn_rcpt *r,
                            unsigned *flags)
{
    for (size_t k = 0; k < rs->naddr; k++) {
        hd_slice a = rs->addr[k].colon ? find_line(text, colon_fn, NULL)
                                       : find_line(text, field_addr, rs->addr[k].field);
        if (a.len > 0) {
            copy_value(r->final_recipient, HD_REPORT_ADDR_MAX, a, flags);
            return;
        }
    }
    *flags |= HD_REPORT_PARTIAL; /* a bounce, but for whom is not said */
}

static int apply_rules(const hd_report_rules *rs, hd_slice text, hd_dsn *d, hd_err *err)
{
    if (text.len > RULE_SCAN_MAX)
        text.len = RULE_SCAN_MAX;
    uint8_t *low = malloc(text.len + 1);
    if (low == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for the bounce text");
    for (size_t i = 0; i < text.len; i++)
        low[i] = lower(text.p[i]);
    size_t at = 0;
    const rule *r = match_rule(rs, hd_slice_make(low, text.len), &at);
    free(low);
    if (r == NULL)
        return hd_err_set(err, HD_ENOTFOUND, "not a DSN and no bounce rule matches");
    d->rcpts = calloc(1, sizeof *d->rcpts);
    if (d->rcpts == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory for a recipient");
    d->nrcpts = 1;
    hd_dsn_rcpt *rc = &d->rcpts[0];
    memcpy(rc->status, r->status, sizeof rc->status);
    rc->status_class = r->status_class;
    rc->action = r->status_class == 5 ? HD_DSN_FAILED : HD_DSN_DELAYED;
    classify(rc);
    memcpy(rc->diagnostic_type, "rule", 5);
    copy_value(rc->diagnostic, HD_REPORT_TEXT_MAX, line_at(text, at), &d->flags);
    rules_recipient(rs, text, rc, &d->flags);
    d->flags |= HD_REPORT_NONSTANDARD;
    return 0;
}

static void nonstd_original(const hd_mime *m, hd_slice text, hd_dsn *d)
{
    unsigned fl = 0;
    with_original(m, 1, dsn_original, d, &fl);
    if (d->orig_message_id[0] == '\0') { /* the original header quoted in the text */
        if (text.len > RULE_SCAN_MAX)
            text.len = RULE_SCAN_MAX;
        copy_value(d->orig_message_id, HD_REPORT_TEXT_MAX, find_line(text, msgid_fn, NULL),
                   &d->flags);
    }
    if (d->orig_message_id[0] == '\0')
        d->flags |= HD_REPORT_NO_ORIGINAL;
    d->flags |= fl & ~HD_REPORT_NO_ORIGINAL;
}

static int nonstandard(const hd_mime *m, const hd_report_rules *rs, hd_dsn *d, hd_err *err)
{
    size_t i = hd_mime_find(m, "text", "plain", 0);
    if (i == (size_t)-1)
        return hd_err_set(err, HD_ENOTFOUND, "not a DSN and no text part to read");
    hd_buf b;
    decode_part(hd_mime_part_at(m, i), &b, &d->flags);
    int rc = apply_rules(rs, hd_buf_slice(&b), d, err);
    if (rc == 0) {
        nonstd_original(m, hd_buf_slice(&b), d);
        dsn_finish(d, m);
    }
    hd_buf_free(&b);
    return rc;
}

int hd_report_parse_bounce(hd_slice msg, const hd_report_rules *rules, hd_dsn *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    hd_mime *m = NULL;
    int rc = parse_mime(msg, &m, err);
    if (rc != 0)
        return rc;
    rc = dsn_from_mime(m, out, err);
    if (rc == HD_ENOTFOUND && rules != NULL) {
        hd_err_clear(err);
        memset(out, 0, sizeof *out);
        rc = nonstandard(m, rules, out, err);
    }
    hd_mime_free(m);
    return rc;
}
