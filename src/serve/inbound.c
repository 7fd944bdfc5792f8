/*
 * inbound.c - the bounce intake: what comes back to the inbound listener
 * (intake.c runs its SMTP sessions). docs/bounces.md says what it does.
 *
 *   RCPT (main thread): only herald's VERP addresses whose HMAC checks, at
 *     a managed domain's bounce domain, and postmaster@ abuse@ dmarc@ of a
 *     managed domain or its bounce domain; everything else is refused
 *     before DATA, so herald never relays and never sends backscatter.
 *   end of DATA (worker): classify and parse (hd_report: ARF, DSN, the
 *     rule set for non-standard bounces), find the message herald sent
 *     (the envelope recipient's VERP token, else the returned Return-Path
 *     or Message-ID), and each failed recipient among its recipients.
 *   committer: the raw mail (table inbound), the events and recipient
 *     states in one transaction.
 *   main thread: suppressions (queue_suppress), counters, then the 250.
 *
 * A report is believed only about its own message's recipients: a DSN
 * naming an address the message never had changes nothing. Only a report
 * found through a VERP address (whose HMAC needs the key) is verified; one
 * matched by Message-ID alone, which anyone who saw the message can forge,
 * is recorded under a type of its own (bounced_unverified, ...), counted
 * apart, acted on never, and sent only to webhooks that ask for it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <herald/json.h>
#include <herald/mail.h>
#include <herald/report.h>
#include "serve/feedback.h"

#define MATCH_RCPTS_MAX 100000      /* recipients of one message read for matching */

typedef enum role { ROLE_NONE, ROLE_VERP, ROLE_POSTMASTER, ROLE_ABUSE, ROLE_DMARC } role;

/* What one report says about one recipient of one message. */
typedef struct inbound_hit {
    hd_event_type kind;                 /* HD_EVENT_BOUNCED, _COMPLAINED or _FEEDBACK */
    bool verified;                      /* matched through a VERP address (HMAC) */
    hd_event_type type;                 /* the event's: kind, or its _UNVERIFIED if not verified */
    char message[40];                   /* uuid */
    char domain[HD_STORE_NAME_MAX];     /* its sending domain and pool (metrics) */
    char pool[64];
    char address[HD_STORE_ADDR_MAX];    /* as in the recipient row */
    int64_t rcpt_id;
    bool suppress;                      /* hard bounce, abuse complaint */
    bool soft_failed;                   /* a soft failure matched through VERP: counted */
    size_t soft_bounces;                /* set by the committer: those counted in the window */
    int64_t suppress_until;             /* and when soft_bounce_limit was reached, until when */
    char reason[HD_STORE_TEXT_MAX];     /* event reply, suppression reason */
    char remote[HD_STORE_NAME_MAX];     /* reporting MTA */
    json_t *detail;
} inbound_hit;

/* One inbound message, from end of DATA to its answer. */
struct inbound_rec {
    serve *sv;
    hd_slice data;                      /* borrowed from the session */
    const char *const *rcpts;
    size_t n_rcpts;
    char envelope_id[HD_VERP_ID_MAX + 1];   /* the first VERP recipient's message */
    bool any_verp, any_dmarc, only_dmarc;
    hd_store_inbound row;
    inbound_hit *hits;
    size_t n_hits, cap_hits;
    int rc;                             /* the commit's */
    inbound_done_fn done;
    void *arg;
};

typedef struct rcpt_row {
    int64_t id;
    char address[HD_STORE_ADDR_MAX];
} rcpt_row;

typedef struct rcpt_rows {
    rcpt_row *v;
    size_t n, cap;
} rcpt_rows;

/* ---- recipients: who may write to us ---- */

static bool caseeq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* The role of an envelope recipient, and the message id of a VERP one.
 * *managed: its domain is one of ours. */
static role rcpt_role(serve *sv, const serve_domains *ds, const char *rcpt,
                      char id[HD_VERP_ID_MAX + 1], bool *managed, bool *forged)
{
    *managed = *forged = false;
    const char *at = strrchr(rcpt, '@');
    char local[HD_STORE_ADDR_MAX];
    if (!at) {          /* RFC 5321 §4.1.1.3: "postmaster" alone reaches this host's */
        *managed = true;
        return caseeq(rcpt, "postmaster") ? ROLE_POSTMASTER : ROLE_NONE;
    }
    size_t n = (size_t)(at - rcpt);
    if (n == 0 || n >= sizeof local)
        return ROLE_NONE;
    memcpy(local, rcpt, n);
    local[n] = '\0';
    const char *domain = at + 1;
    bool bounce_domain = false;
    for (size_t i = 0; ds && i < ds->n; i++) {
        if (caseeq(domain, ds->v[i].name))
            *managed = true;
        if (caseeq(domain, ds->v[i].bounce_domain))
            *managed = bounce_domain = true;
    }
    if (!*managed)
        return ROLE_NONE;
    if (caseeq(local, "postmaster"))
        return ROLE_POSTMASTER;
    if (caseeq(local, "abuse"))     /* RFC 2142 §2: where complaints are sent */
        return ROLE_ABUSE;
    if (caseeq(local, "dmarc"))
        return ROLE_DMARC;
    if (bounce_domain && (local[0] == 'b' || local[0] == 'B') && local[1] == '-') {
        hd_err err = {0};
        if (hd_verp_decode(sv->verp_key, local, id, &err) == 0)
            return ROLE_VERP;
        *forged = true;
    }
    return ROLE_NONE;
}

int inbound_rcpt_check(serve *sv, const char *rcpt, const char **enhanced, const char **text)
{
    char id[HD_VERP_ID_MAX + 1];
    bool managed, forged;
    role r = rcpt_role(sv, sv->domains, rcpt, id, &managed, &forged);
    if (r != ROLE_NONE) {
        *enhanced = "2.1.5";
        *text = "Ok";
        return 250;
    }
    if (!managed) {     /* RFC 3463 §3.8: never a relay */
        *enhanced = "5.7.1";
        *text = "relay access denied";
        return 550;
    }
    *enhanced = "5.1.1";
    *text = forged ? "no such bounce address" : "no such mailbox";
    return 550;
}

/* ---- matching (worker) ---- */

static int collect_rcpt(const hd_store_recipient *r, void *arg)
{
    rcpt_rows *rows = arg;
    if (rows->n == MATCH_RCPTS_MAX)
        return 1;
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 16;
        rcpt_row *v = realloc(rows->v, cap * sizeof *v);
        if (!v)
            return 1;
        rows->v = v;
        rows->cap = cap;
    }
    rows->v[rows->n].id = r->id;
    snprintf(rows->v[rows->n].address, sizeof rows->v[rows->n].address, "%s", r->address);
    rows->n++;
    return 0;
}

static const rcpt_row *rows_find(const rcpt_rows *rows, const char *addr)
{
    for (size_t i = 0; addr[0] && i < rows->n; i++)
        if (caseeq(rows->v[i].address, addr))
            return &rows->v[i];
    return NULL;
}

/* The address inside "Name <a@b>", "<a@b>" or "a@b", into out. */
static void bare_address(const char *value, char *out, size_t size)
{
    const char *lt = strrchr(value, '<');
    const char *p = lt ? lt + 1 : value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = 0;
    while (p[n] && p[n] != '>' && p[n] != ' ' && p[n] != '\t' && n + 1 < size)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The message id of a VERP address, if it is one with a good HMAC. */
static bool verp_id(serve *sv, const char *addr, char id[HD_VERP_ID_MAX + 1])
{
    char a[HD_STORE_ADDR_MAX];
    bare_address(addr, a, sizeof a);
    char *at = strrchr(a, '@');
    if (!at)
        return false;
    *at = '\0';
    hd_err err = {0};
    return hd_verp_decode(sv->verp_key, a, id, &err) == 0;
}

/* The message a VERP id names: a message id, or (per-recipient VERP) a
 * recipient's row id, which then is the only recipient the report may be
 * about (*only gets its row id; 0 for a message id). */
static bool verp_lookup(hd_store *st, const char *id, hd_store_message *m, int64_t *only,
                        hd_err *err)
{
    int64_t rid;
    hd_store_recipient r;
    *only = 0;
    if (!hd_verp_rcpt_parse(id, &rid))
        return hd_store_message_get(st, id, m, err) == 0;
    if (hd_store_recipient_get(st, rid, &r, err) != 0 ||
        hd_store_message_get_id(st, r.message, m, err) != 0)
        return false;
    *only = rid;
    return true;
}

/* The message a report is about: the envelope's VERP token, else the
 * returned Return-Path (or Original-Mail-From), else the returned
 * Message-ID. how names the way it was found. With a per-recipient VERP
 * token, rows holds that recipient alone: a report reached through it
 * may speak of no one else. */
static bool find_message(worker *w, struct inbound_rec *rec, const char *envelope_id,
                         const char *return_path, const char *message_id,
                         hd_store_message *m, rcpt_rows *rows, const char **how)
{
    hd_store *st = worker_store(w);
    hd_err err = {0};
    char id[HD_VERP_ID_MAX + 1];
    bool found = false;
    int64_t only = 0;
    if (envelope_id[0]) {
        *how = "verp";
        found = verp_lookup(st, envelope_id, m, &only, &err);
    } else if (return_path[0] && verp_id(rec->sv, return_path, id)) {
        *how = "return-path";
        found = verp_lookup(st, id, m, &only, &err);
    } else if (message_id[0]) {
        char mid[HD_STORE_TEXT_MAX];
        char uuid[40];
        bare_address(message_id, mid + 1, sizeof mid - 2);   /* the <...> part */
        mid[0] = '<';
        size_t n = strlen(mid);
        mid[n] = '>';
        mid[n + 1] = '\0';
        *how = "message-id";
        found = hd_store_message_by_message_id(st, mid, uuid, &err) == 0 &&
                hd_store_message_get(st, uuid, m, &err) == 0;
    } else {
        *how = "nothing";
        return false;
    }
    if (!found) {
        if (err.code != HD_ENOTFOUND)
            LOG_ERR("inbound: looking up the original message: %s", hd_err_str(&err));
        return false;
    }
    if (only) {
        hd_store_recipient r;
        if (hd_store_recipient_get(st, only, &r, &err) != 0 || collect_rcpt(&r, rows) != 0) {
            LOG_ERR("inbound: reading recipient %lld: %s", (long long)only, hd_err_str(&err));
            return false;
        }
    } else if (hd_store_recipient_each(st, m->id, collect_rcpt, rows, &err) != 0) {
        LOG_ERR_ID(m->uuid, "inbound: reading its recipients: %s", hd_err_str(&err));
        return false;
    }
    snprintf(rec->row.message, sizeof rec->row.message, "%s", m->uuid);
    return true;
}

/* How a message was found: through a VERP address whose HMAC checked
 * (the envelope recipient, or the returned Return-Path), or not. */
static bool how_verified(const char *how)
{
    return strcmp(how, "verp") == 0 || strcmp(how, "return-path") == 0;
}

/* A report matched by Message-ID alone could be forged: its event has a
 * type of its own, which only endpoints that name it get. */
static hd_event_type unverified(hd_event_type kind)
{
    return kind == HD_EVENT_BOUNCED      ? HD_EVENT_BOUNCED_UNVERIFIED
           : kind == HD_EVENT_COMPLAINED ? HD_EVENT_COMPLAINED_UNVERIFIED
                                         : HD_EVENT_FEEDBACK_UNVERIFIED;
}

static inbound_hit *hit_new(struct inbound_rec *rec, hd_event_type kind, const char *how,
                            const hd_store_message *m, const rcpt_row *r)
{
    if (rec->n_hits == rec->cap_hits) {
        size_t cap = rec->cap_hits ? rec->cap_hits * 2 : 4;
        inbound_hit *v = realloc(rec->hits, cap * sizeof *v);
        if (!v)
            return NULL;
        rec->hits = v;
        rec->cap_hits = cap;
    }
    inbound_hit *h = &rec->hits[rec->n_hits++];
    memset(h, 0, sizeof *h);
    h->kind = kind;
    h->verified = how_verified(how);
    h->type = h->verified ? kind : unverified(kind);
    snprintf(h->message, sizeof h->message, "%s", m->uuid);
    snprintf(h->domain, sizeof h->domain, "%s", m->from_domain);
    snprintf(h->pool, sizeof h->pool, "%s", m->pool);
    snprintf(h->address, sizeof h->address, "%s", r->address);
    h->rcpt_id = r->id;
    h->detail = json_object();
    return h;
}

static void summary_add(struct inbound_rec *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void summary_add(struct inbound_rec *rec, const char *fmt, ...)
{
    size_t n = strlen(rec->row.summary);
    if (n + 1 >= sizeof rec->row.summary)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rec->row.summary + n, sizeof rec->row.summary - n, fmt, ap);
    va_end(ap);
    /* parts of it come from the report: one printable line for the log */
    for (char *p = rec->row.summary + n; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static void match_dsn(worker *w, struct inbound_rec *rec, const char *envelope_id,
                      const hd_dsn *dsn)
{
    hd_store_message m;
    rcpt_rows rows = {0};
    const char *how = "";
    bool nonstd = dsn->flags & HD_REPORT_NONSTANDARD;
    summary_add(rec, "%s, %zu recipient%s", nonstd ? "non-standard bounce (rules)" : "DSN",
                dsn->nrcpts, dsn->nrcpts == 1 ? "" : "s");
    if (dsn->flags & (HD_REPORT_PARTIAL | HD_REPORT_TRUNCATED | HD_REPORT_TOO_MANY))
        summary_add(rec, " (partly unreadable or cut)");
    if (!find_message(w, rec, envelope_id, dsn->envelope_sender, dsn->orig_message_id, &m, &rows,
                      &how)) {
        summary_add(rec, "; no message of ours found (by %s)", how);
        return;
    }
    summary_add(rec, "; message %s (by %s%s)", m.uuid, how,
                how_verified(how) ? "" : ", unverified: not acted on");
    for (size_t i = 0; i < dsn->nrcpts; i++) {
        const hd_dsn_rcpt *d = &dsn->rcpts[i];
        if (d->bounce == HD_BOUNCE_NONE)
            continue;
        const rcpt_row *r = rows_find(&rows, d->final_recipient);
        if (!r)
            r = rows_find(&rows, d->original_recipient);
        if (!r) {
            summary_add(rec, "; %s is not one of its recipients", d->final_recipient);
            continue;
        }
        inbound_hit *h = hit_new(rec, HD_EVENT_BOUNCED, how, &m, r);
        if (!h)
            break;
        /* only a failure condemns an address; a delay never does */
        bool hard = hd_bounce_class_with(d->bounce, d->reason, d->status,
                                         rec->sv->hard_reasons) == HD_BOUNCE_HARD &&
                    d->action == HD_DSN_FAILED;
        /* a Message-ID is known to everyone who got the message: such a
         * match is recorded, not acted on (no suppression, no state change) */
        h->suppress = hard && h->verified;
        h->soft_failed = !hard && d->action == HD_DSN_FAILED && h->verified;
        json_object_set_new(h->detail, "acted", json_boolean(h->suppress));
        const char *why = hd_bounce_reason_name(d->reason);
        snprintf(h->reason, sizeof h->reason, "%s %s%s%s", d->status[0] ? d->status : "(no status)",
                 why, d->diagnostic[0] ? ": " : "", d->diagnostic);
        snprintf(h->remote, sizeof h->remote, "%s", dsn->reporting_mta);
        json_object_set_new(h->detail, "kind", json_string(hard ? "hard" : "soft"));
        hd_bounce_ses ses = hd_bounce_ses_of(hard ? HD_BOUNCE_HARD : HD_BOUNCE_SOFT, d->reason);
        json_object_set_new(h->detail, "bounce_type", json_string(ses.type));
        json_object_set_new(h->detail, "bounce_subtype", json_string(ses.subtype));
        json_object_set_new(h->detail, "reason", json_string(why));
        json_object_set_new(h->detail, "status", hd_json_text(d->status));
        json_object_set_new(h->detail, "action", json_string(hd_dsn_action_name(d->action)));
        json_object_set_new(h->detail, "diagnostic", hd_json_text(d->diagnostic));
        json_object_set_new(h->detail, "reporting_mta", hd_json_text(dsn->reporting_mta));
        json_object_set_new(h->detail, "remote_mta", hd_json_text(d->remote_mta));
        json_object_set_new(h->detail, "matched_by", json_string(how));
        json_object_set_new(h->detail, "nonstandard", json_boolean(nonstd));
        json_object_set_new(h->detail, "async", json_true());
        summary_add(rec, "; %s %s %s %s", r->address, d->status, why, hard ? "hard" : "soft");
    }
    free(rows.v);
}

static void match_arf(worker *w, struct inbound_rec *rec, const char *envelope_id,
                      const hd_arf *arf)
{
    hd_store_message m;
    rcpt_rows rows = {0};
    const char *how = "";
    summary_add(rec, "ARF feedback-type %s", arf->feedback_type[0] ? arf->feedback_type : "?");
    if (arf->flags & (HD_REPORT_PARTIAL | HD_REPORT_TRUNCATED))
        summary_add(rec, " (partly unreadable or cut)");
    if (!find_message(w, rec, envelope_id, arf->original_mail_from, arf->orig_message_id, &m,
                      &rows, &how)) {
        summary_add(rec, "; no message of ours found (by %s)", how);
        return;
    }
    summary_add(rec, "; message %s (by %s%s)", m.uuid, how,
                how_verified(how) ? "" : ", unverified: not acted on");
    /* who complained: the report's Original-Rcpt-To, else the returned
     * To:, else the message's only recipient (providers often redact) */
    char to[HD_STORE_ADDR_MAX];
    bare_address(arf->orig_to, to, sizeof to);
    const rcpt_row *r = rows_find(&rows, arf->original_rcpt_to);
    if (!r)
        r = rows_find(&rows, to);
    if (!r && rows.n == 1 && !arf->original_rcpt_to[0])
        r = &rows.v[0];
    if (!r) {
        summary_add(rec, "; the complaining recipient is not one of its recipients");
        free(rows.v);
        return;
    }
    bool abuse = arf->type == HD_ARF_ABUSE;
    inbound_hit *h = hit_new(rec, abuse ? HD_EVENT_COMPLAINED : HD_EVENT_FEEDBACK, how, &m, r);
    if (h) {
        h->suppress = abuse && h->verified;     /* as for DSNs */
        json_object_set_new(h->detail, "acted", json_boolean(h->suppress));
        snprintf(h->reason, sizeof h->reason, "complaint: feedback-type %s%s%s", arf->feedback_type,
                 arf->user_agent[0] ? " from " : "", arf->user_agent);
        snprintf(h->remote, sizeof h->remote, "%s", arf->reporting_mta);
        json_object_set_new(h->detail, "feedback_type", hd_json_text(arf->feedback_type));
        json_object_set_new(h->detail, "user_agent", hd_json_text(arf->user_agent));
        json_object_set_new(h->detail, "reporting_mta", hd_json_text(arf->reporting_mta));
        json_object_set_new(h->detail, "source_ip", hd_json_text(arf->source_ip));
        json_object_set_new(h->detail, "arrival_date", hd_json_text(arf->arrival_date));
        json_object_set_new(h->detail, "matched_by", json_string(how));
        summary_add(rec, "; %s", r->address);
    }
    free(rows.v);
}

/* The Subject of a stored report, for the summary (DMARC reports name
 * their domain and period there). */
static void subject_of(struct inbound_rec *rec)
{
    hd_msg *msg = NULL;
    hd_err err = {0};
    hd_msg_limits lim = {.header_only = true};
    if (hd_msg_parse(rec->data, &lim, &msg, &err) == 0) {
        size_t i = hd_msg_find(msg, "Subject", 0);
        if (i != (size_t)-1) {
            hd_slice v = hd_msg_field(msg, i)->value;
            size_t n = v.len < 300 ? v.len : 300;
            char s[301];
            for (size_t k = 0; k < n; k++)
                s[k] = (v.p[k] < 0x20 || v.p[k] >= 0x7f) ? ' ' : (char)v.p[k];
            s[n] = '\0';
            summary_add(rec, "; subject:%s", s);
        }
    }
    hd_msg_free(msg);
}

static void kind_set(struct inbound_rec *rec, const char *kind, const char *outcome)
{
    snprintf(rec->row.kind, sizeof rec->row.kind, "%s", kind);
    snprintf(rec->row.outcome, sizeof rec->row.outcome, "%s", outcome);
}

static int inbound_apply(hd_store *st, void *arg, hd_err *err);
static void inbound_committed(void *arg, int rc);

static void inbound_work(worker *w, void *arg)
{
    struct inbound_rec *rec = arg;
    serve *sv = rec->sv;
    const char *envelope_id = rec->envelope_id;
    bool any_verp = rec->any_verp, any_dmarc = rec->any_dmarc, only_dmarc = rec->only_dmarc;
    hd_err err = {0};
    int rc = HD_ENOTFOUND;
    if (!only_dmarc) {
        hd_arf arf;
        rc = hd_report_parse_arf(rec->data, &arf, &err);
        if (rc == 0) {
            kind_set(rec, "arf", "unmatched");
            match_arf(w, rec, envelope_id, &arf);
        } else if (rc == HD_ENOTFOUND) {
            hd_dsn dsn;
            rc = hd_report_parse_bounce(rec->data, sv->bounce_rules, &dsn, &err);
            if (rc == 0) {
                kind_set(rec, "dsn", "unmatched");
                match_dsn(w, rec, envelope_id, &dsn);
            }
            hd_dsn_free(&dsn);
        }
    }
    if (rc == 0) {
        if (rec->n_hits)
            snprintf(rec->row.outcome, sizeof rec->row.outcome, "matched");
    } else if (any_dmarc) {
        kind_set(rec, "dmarc", "stored");
        summary_add(rec, "DMARC report, kept raw");
        subject_of(rec);
    } else if (rc != HD_ENOTFOUND || any_verp) {
        /* mail to a bounce address that does not read as one, or a report
         * past the MIME limits (a bomb): kept raw, not believed */
        kind_set(rec, "other", "unparsed");
        summary_add(rec, "%s", rc != HD_ENOTFOUND ? hd_err_str(&err)
                                                  : "not a bounce or a feedback report");
    } else {
        kind_set(rec, "other", "stored");
        summary_add(rec, "mail to postmaster");
        subject_of(rec);
    }
    commit_op_post(sv, commit_op_apply(inbound_apply, inbound_committed, rec));
}

/* ---- committer ---- */

/* [inbound] soft_bounce_limit: soft failures say nothing final about an
 * address, but one that keeps failing (a mailbox full for weeks, a
 * receiver that always refuses) is suppressed for a while, not for good.
 * The count is of the events in the window, this one included; it runs
 * in the report's transaction. */
static int soft_bounce_apply(hd_store *st, const hd_config *cfg, inbound_hit *h, int64_t now,
                             hd_err *err)
{
    size_t n = 0;
    int64_t since = now - (int64_t)cfg->inbound.soft_bounce_window;
    int rc = hd_store_soft_bounce_count(st, h->address, h->message, since * 1000, &n, err);
    if (rc)
        return rc;
    h->soft_bounces = ++n;
    json_object_set_new(h->detail, "soft_bounces", json_integer((json_int_t)n));
    if (n < cfg->inbound.soft_bounce_limit)
        return 0;
    char why[HD_STORE_TEXT_MAX];
    snprintf(why, sizeof why, "%zu soft bounces in %" PRIu32 " s, the last: %s", n,
             cfg->inbound.soft_bounce_window, h->reason);
    h->suppress_until = now + (int64_t)cfg->inbound.soft_bounce_suppress_for;
    rc = hd_store_suppression_add_until(st, h->address, why, "soft-bounce", now, h->suppress_until,
                                        err);
    if (rc)
        return rc;
    char t[HD_JSON_TIME_LEN];
    hd_json_time(h->suppress_until * 1000, t);
    json_object_set_new(h->detail, "acted", json_true());
    json_object_set_new(h->detail, "suppressed_until", json_string(t));
    return 0;
}

/* Write one report inside the batch's transaction (commit_op_apply). */
static int inbound_apply(hd_store *st, void *arg, hd_err *err)
{
    struct inbound_rec *rec = arg;
    int rc = hd_store_inbound_add(st, &rec->row, err);
    int64_t now = serve_now();
    for (size_t i = 0; !rc && i < rec->n_hits; i++) {
        inbound_hit *h = &rec->hits[i];
        bool changed = false;
        /* RFC 3463 §3.1: 5.x.x is permanent; the delivery is undone */
        bool bounce = h->kind == HD_EVENT_BOUNCED;
        if (h->suppress && bounce)
            rc = hd_store_recipient_bounce_late(st, h->rcpt_id, h->reason, now, &changed, err);
        /* the suppression is durable with the report that caused it */
        if (!rc && h->suppress)
            rc = hd_store_suppression_add(st, h->address, h->reason, bounce ? "bounce" : "complaint",
                                          now, err);
        if (!rc && h->soft_failed && rec->sv->cfg->inbound.soft_bounce_limit > 0)
            rc = soft_bounce_apply(st, rec->sv->cfg, h, now, err);
        if (rc)
            break;
        json_object_set_new(h->detail, "inbound", json_integer(rec->row.id));
        if (bounce)
            json_object_set_new(h->detail, "state_changed", json_boolean(changed));
        char *detail = json_dumps(h->detail, JSON_COMPACT);
        hd_store_event e;
        commit_event_fill(&e, &(commit_event_desc){.type = h->type,
                                                   .message = h->message,
                                                   .recipient = h->address,
                                                   .remote = h->remote,
                                                   .reply = h->reason,
                                                   .detail = detail});
        rc = hd_store_event_add(st, &e, err);
        free(detail);
    }
    return rc;
}

static void inbound_finish(void *arg);

/* The batch is over (rc its result): the answer is made on the main thread. */
static void inbound_committed(void *arg, int rc)
{
    struct inbound_rec *rec = arg;
    rec->rc = rc;
    serve_post(rec->sv, inbound_finish, rec);
}

/* ---- main thread ---- */

static void rec_free(struct inbound_rec *rec)
{
    for (size_t i = 0; i < rec->n_hits; i++)
        json_decref(rec->hits[i].detail);
    free(rec->hits);
    free(rec);
}

static void inbound_finish(void *arg)
{
    struct inbound_rec *rec = arg;
    serve *sv = rec->sv;
    char text[128];
    if (rec->rc) {
        rec->done(rec->arg, 451, "4.3.0", "temporary failure storing the message, try again later");
        rec_free(rec);
        return;
    }
    serve_metrics *mt = &sv->metrics;
    const char *k = rec->row.kind;
    atomic_fetch_add(strcmp(k, "dsn") == 0     ? &mt->inbound_dsn
                     : strcmp(k, "arf") == 0   ? &mt->inbound_arf
                     : strcmp(k, "dmarc") == 0 ? &mt->inbound_dmarc
                                               : &mt->inbound_other,
                     1);
    for (size_t i = 0; i < rec->n_hits; i++) {
        inbound_hit *h = &rec->hits[i];
        bool bounce = h->kind == HD_EVENT_BOUNCED;
        bool complaint = h->kind == HD_EVENT_COMPLAINED;
        const char *pool = queue_pool_label(sv, h->domain, h->pool);
        if (!h->verified) {
            /* forgeable: never in the bounce and complaint counters */
            atomic_fetch_add(bounce      ? &mt->unverified_bounces
                             : complaint ? &mt->unverified_complaints
                                         : &mt->unverified_feedback,
                             1);
        } else if (bounce) {
            /* herald_bounced_total counts every bounced event, these too
             * (docs/metrics.md: the bounce counters agree) */
            atomic_fetch_add(&mt->bounced, 1);
            atomic_fetch_add(&mt->async_bounces, 1);
            metrics_outcome(sv, h->domain, pool, M_BOUNCED);
        } else if (complaint) {
            atomic_fetch_add(&mt->complaints, 1);
            metrics_outcome(sv, h->domain, pool, M_COMPLAINED);
        }
        if (h->suppress || h->suppress_until)    /* its row was written with the report */
            queue_suppressed(sv, h->address, h->suppress ? 0 : h->suppress_until);
        if (h->suppress_until && !h->suppress)
            LOG_INFO("inbound %lld: %s suppressed for %" PRIu32 " s: %zu soft bounces within %"
                     PRIu32 " s", (long long)rec->row.id, h->address,
                     sv->cfg->inbound.soft_bounce_suppress_for, h->soft_bounces,
                     sv->cfg->inbound.soft_bounce_window);
    }
    LOG_INFO("inbound %lld from %s <%s>: %s, %s: %s", (long long)rec->row.id, rec->row.remote,
             rec->row.mail_from, rec->row.kind, rec->row.outcome, rec->row.summary);
    snprintf(text, sizeof text, "Ok: stored as inbound %lld", (long long)rec->row.id);
    rec->done(rec->arg, 250, "2.0.0", text);
    rec_free(rec);
}

bool inbound_start(serve *sv, hd_slice data, const char *mail_from, const char *const *rcpts,
                   size_t n_rcpts, const char *remote, inbound_done_fn done, void *arg)
{
    struct inbound_rec *rec = calloc(1, sizeof *rec);
    if (!rec)
        return false;
    rec->sv = sv;
    rec->data = data;
    rec->rcpts = rcpts;
    rec->n_rcpts = n_rcpts;
    rec->done = done;
    rec->arg = arg;
    hd_store_inbound *row = &rec->row;
    row->at = serve_now();
    row->data = data;
    snprintf(row->remote, sizeof row->remote, "%s", remote);
    snprintf(row->mail_from, sizeof row->mail_from, "%s", mail_from ? mail_from : "");
    /* the roles, with this thread's domains (they were checked at RCPT) */
    rec->only_dmarc = true;
    for (size_t i = 0; i < n_rcpts; i++) {
        char id[HD_VERP_ID_MAX + 1];
        bool managed, forged;
        role r = rcpt_role(sv, sv->domains, rcpts[i], id, &managed, &forged);
        if (r == ROLE_VERP && !rec->any_verp)
            snprintf(rec->envelope_id, sizeof rec->envelope_id, "%s", id);
        rec->any_verp |= r == ROLE_VERP;
        rec->any_dmarc |= r == ROLE_DMARC;
        rec->only_dmarc &= r == ROLE_DMARC;
    }
    size_t o = 0;
    for (size_t i = 0; i < n_rcpts && o + 1 < sizeof row->rcpt; i++)
        o += (size_t)snprintf(row->rcpt + o, sizeof row->rcpt - o, "%s%s", i ? " " : "", rcpts[i]);
    serve_work(sv, inbound_work, NULL, rec);
    return true;
}
