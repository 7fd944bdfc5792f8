/*
 * explain.c - turn verdicts into a diagnosis a mail admin can act on.
 *
 * Rules are small functions over the verdicts, each adding a paragraph
 * when it applies; the order is: identity problems, DKIM, SPF, how they
 * combine under DMARC (forwarding, lists), then DNS trouble.
 */
#include <herald/explain.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct facts {
    const hd_dkim_result *aligned_pass;   /* a passing signature whose d= aligns */
    const hd_dkim_result *other_pass;     /* a passing signature that does not align */
    const hd_dkim_result *body_changed;   /* body hash mismatch */
    const hd_dkim_result *header_changed; /* signature mismatch */
    bool spf_pass, spf_fail;
} facts;

static bool same_org(const hd_explain_input *in, const char *d)
{
    if (strcasecmp(d, in->from_domain) == 0)
        return true;
    /* aligned per DMARC's own verdict when it says so */
    return in->dmarc != NULL && in->dmarc->dkim_aligned && strcasecmp(in->dmarc->aligned_dkim, d) == 0;
}

static void gather(const hd_explain_input *in, facts *f)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < in->ndkim; i++) {
        const hd_dkim_result *r = &in->dkim[i];
        if (r->result == HD_DKIM_PASS) {
            if (same_org(in, r->domain)) {
                if (f->aligned_pass == NULL)
                    f->aligned_pass = r;
            } else if (f->other_pass == NULL) {
                f->other_pass = r;
            }
        }
        if (r->reason_code == HD_DKIM_R_BODY_HASH && f->body_changed == NULL)
            f->body_changed = r;
        if ((r->reason_code == HD_DKIM_R_SIGNATURE || r->reason_code == HD_DKIM_R_UNSIGNED_FROM) &&
            f->header_changed == NULL)
            f->header_changed = r;
    }
    if (in->spf != NULL) {
        f->spf_pass = in->spf->result == HD_SPF_PASS;
        f->spf_fail = in->spf->result == HD_SPF_FAIL || in->spf->result == HD_SPF_SOFTFAIL;
    }
}

__attribute__((format(printf, 2, 3)))
static void para(hd_buf *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[1200];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    hd_buf_printf(out, "- %s\n", line);
}

/* What the body shows (hd_dkim_result.changes), into buf. */
static void body_changes(const hd_dkim_result *r, char *buf, size_t size, size_t *o)
{
    unsigned ch = r->changes;
    if ((ch & HD_DKIM_CH_REENCODED) && (ch & HD_DKIM_CH_FOOTER))
        hd_str_addf(buf, size, o, "the body was re-encoded as %s (decoded, it is the signed body with a "
                               "footer of %llu bytes after it)", r->encoding,
                 (unsigned long long)r->footer_bytes);
    else if (ch & HD_DKIM_CH_REENCODED)
        hd_str_addf(buf, size, o, "the body was re-encoded as %s (decoded, it is the signed body)",
                 r->encoding);
    else if (ch & HD_DKIM_CH_FOOTER)
        hd_str_addf(buf, size, o, "a footer of %llu bytes was added at the end of the body (the signed "
                               "body is intact before it)", (unsigned long long)r->footer_bytes);
    else if (ch & HD_DKIM_CH_BODY)
        hd_str_addf(buf, size, o, "the body was changed after signing");
}

/* What the signed header fields show, into buf after "; " when *o > 0. */
static void header_changes(const hd_dkim_result *r, char *buf, size_t size, size_t *o)
{
    unsigned ch = r->changes;
    const char *sep = *o > 0 ? "; " : "";
    if (!(ch & HD_DKIM_CH_HEADER) && r->reason_code != HD_DKIM_R_SIGNATURE &&
        r->reason_code != HD_DKIM_R_UNSIGNED_FROM)
        return;
    if (r->reason_code == HD_DKIM_R_UNSIGNED_FROM)
        return hd_str_addf(buf, size, o, "%sa From field was added after signing", sep);
    bool subject = ch & HD_DKIM_CH_SUBJECT_TAG, cte = ch & HD_DKIM_CH_CTE;
    if (!subject && !cte)
        return hd_str_addf(buf, size, o, "%sa signed header field was changed or added after signing", sep);
    if (ch & HD_DKIM_CH_CHECKED) {
        if (subject)
            hd_str_addf(buf, size, o, "%sthe Subject was tagged \"%s\"", sep, r->subject_tag);
        if (cte && r->encoding_was[0])
            hd_str_addf(buf, size, o, "%sthe Content-Transfer-Encoding field was rewritten from %s to %s",
                     subject ? "; " : sep, r->encoding_was, r->encoding);
        else if (cte)
            hd_str_addf(buf, size, o, "%sa Content-Transfer-Encoding: %s field was added", subject ? "; " : sep,
                     r->encoding);
        return;
    }
    hd_str_addf(buf, size, o, "%sa signed header field was changed: probably", sep);
    if (subject)
        hd_str_addf(buf, size, o, " the Subject, which now starts with \"%s\"", r->subject_tag);
    if (cte)
        hd_str_addf(buf, size, o, "%s the Content-Transfer-Encoding field, rewritten to %s",
                 subject ? " and" : "", r->encoding);
}

/* A signature broken in transit: every change its hashes show, and who
 * makes such changes. */
static void explain_broken(const hd_explain_input *in, const hd_dkim_result *r, hd_buf *out)
{
    char what[600];
    size_t o = 0;
    what[0] = '\0';
    body_changes(r, what, sizeof what, &o);
    header_changes(r, what, sizeof what, &o);
    bool list = in->list_id != NULL || in->subject_tagged;
    bool gateway = r->changes & HD_DKIM_CH_REENCODED;
    char who[400];
    char lid[300] = "";
    if (in->list_id != NULL)
        snprintf(lid, sizeof lid, " (List-Id: %s)", in->list_id);
    bool tag = r->changes & HD_DKIM_CH_SUBJECT_TAG, footer = r->changes & HD_DKIM_CH_FOOTER;
    const char *lists = tag && footer ? "Tags and footers are what mailing lists add"
                        : tag         ? "Subject tags are what mailing lists add"
                        : footer      ? "Footers are what mailing lists add"
                                      : "Mailing lists make such changes";
    if (list && gateway)
        snprintf(who, sizeof who, "%s%s, and a gateway that re-encodes 8bit mail for a 7bit path "
                                  "rewrites the body and its Content-Transfer-Encoding.", lists, lid);
    else if (list)
        snprintf(who, sizeof who, "%s%s.", lists, lid);
    else if (gateway)
        snprintf(who, sizeof who, "A gateway or relay that re-encodes 8bit mail for a 7bit path "
                                  "does this.");
    else if (r->changes & HD_DKIM_CH_BODY)
        snprintf(who, sizeof who, "An auto-forward, a list or a gateway that rewrites the body "
                                  "does this.");
    else
        who[0] = '\0';
    bool bh = r->reason_code == HD_DKIM_R_BODY_HASH;
    para(out, "The DKIM %s by %s no longer %s (%s): %s.%s%s",
         bh ? "body hash of the signature" : "signature", r->domain, bh ? "matches" : "verifies",
         hd_dkim_reason_name(r->reason_code), what, who[0] ? " " : "", who);
}

/* RFC 8617: what would let a receiver accept a message a list or a
 * forwarder changed, when it carries no ARC chain. */
static void explain_no_arc(const hd_explain_input *in, const facts *f, hd_buf *out)
{
    const hd_dkim_result *broken = f->body_changed ? f->body_changed : f->header_changed;
    if (broken == NULL || f->aligned_pass != NULL || !in->arc_checked || in->arc_present)
        return;
    bool list = in->list_id != NULL || in->subject_tagged;
    para(out, "The message carries no ARC seal. Had %s sealed it with ARC (RFC 8617) when it changed "
              "it, recording that DKIM passed on arrival, a receiver that trusts %s could accept it "
              "despite the broken signature.",
         list ? "the mailing list" : "the forwarder or gateway", list ? "the list" : "it");
}

static void explain_identity(const hd_explain_input *in, hd_buf *out)
{
    if (in->facts_guessed)
        para(out, "The connection facts (client IP %s, HELO %s, MAIL FROM <%s>) were read from the "
                  "message's Received and Return-Path fields, not given: pass --ip, --helo and "
                  "--mail-from for a verdict on the real connection.",
             in->ip ? in->ip : "?", in->helo ? in->helo : "?", in->mail_from ? in->mail_from : "");
    if (in->multiple_from)
        para(out, "The message has more than one From address: DMARC cannot name one author, and "
                  "receivers treat such mail as suspect (RFC 5322 §3.6.2).");
}

static void explain_dkim(const hd_explain_input *in, const facts *f, hd_buf *out)
{
    if (in->ndkim == 0) {
        para(out, "The message has no DKIM signature. Sign outgoing mail with a key of %s "
                  "(herald dkim keygen -d %s -s SELECTOR, then publish the printed TXT record): "
                  "DKIM survives forwarding, SPF does not.",
             in->from_domain, in->from_domain);
        return;
    }
    if (f->aligned_pass == NULL && f->other_pass != NULL)
        para(out, "The only passing DKIM signature is by %s, which is not aligned with the From "
                  "domain %s (typical of an email provider signing with its own domain). Have the "
                  "provider sign with a key under %s (most let you publish their key as a CNAME "
                  "under your domain).",
             f->other_pass->domain, in->from_domain, in->from_domain);
    for (size_t i = 0; i < in->ndkim; i++) {
        const hd_dkim_result *r = &in->dkim[i];
        switch (r->reason_code) {
        case HD_DKIM_R_KEY_REVOKED:
        case HD_DKIM_R_NO_KEY:
            para(out, "The signature by %s uses selector \"%s\", whose key is %s: the key was "
                      "probably rotated before all mail signed with it was delivered. Keep an old "
                      "selector published for a few days after switching to a new one.",
                 r->domain, r->selector, r->reason_code == HD_DKIM_R_NO_KEY ? "not in DNS" : "revoked (empty p=)");
            break;
        case HD_DKIM_R_KEY_TOO_SMALL:
            para(out, "The signature by %s uses a %u-bit RSA key; receivers ignore keys under 1024 "
                      "bits (RFC 8301). Publish a 2048-bit key (or Ed25519 beside it) and sign with it.",
                 r->domain, r->key_bits);
            break;
        case HD_DKIM_R_RSA_SHA1:
            para(out, "The signature by %s uses rsa-sha1, which receivers no longer accept "
                      "(RFC 8301): sign with rsa-sha256.", r->domain);
            break;
        case HD_DKIM_R_KEY_TEMP:
            para(out, "The key of %s (selector %s) could not be fetched: a temporary DNS failure. "
                      "Retry later; if it persists, check %s's name servers.",
                 r->domain, r->selector, r->domain);
            break;
        case HD_DKIM_R_EXPIRED:
            para(out, "The signature by %s had expired (x=) when it was checked: the message was "
                      "delayed, or the signer sets too short an expiry.", r->domain);
            break;
        default:
            break;
        }
    }
}

/* RFC 8617 §7.2.1: what an intact chain lets a receiver weigh is the
 * aligned pass its first sealer recorded, nothing less. */
static void explain_arc(const hd_explain_input *in, hd_buf *out)
{
    if (!in->arc_present)
        return;
    bool intact = in->arc_cv != NULL && strcmp(in->arc_cv, "pass") == 0;
    const char *dom = in->arc_vouch_domain ? in->arc_vouch_domain : "?";
    const char *by = in->arc_recorder ? in->arc_recorder : "?";
    char what[600];
    switch (intact ? in->arc_vouch : HD_EXPLAIN_ARC_NOTHING) {
    case HD_EXPLAIN_ARC_DKIM_PASS:
        snprintf(what, sizeof what, "a DKIM signature by %s, aligned with %s, passed", dom,
                 in->from_domain);
        break;
    case HD_EXPLAIN_ARC_SPF_PASS:
        snprintf(what, sizeof what, "SPF passed for the MAIL FROM domain %s, aligned with %s", dom,
                 in->from_domain);
        break;
    case HD_EXPLAIN_ARC_DMARC_PASS:
        snprintf(what, sizeof what, "DMARC passed for %s", dom);
        break;
    default:
        if (intact)
            para(out, "An ARC chain is intact (cv=pass), but the ARC-Authentication-Results %s "
                      "recorded holds no aligned DKIM or SPF pass, nor dmarc=pass, for %s: it does "
                      "not vouch for the author.",
                 by, in->from_domain);
        else
            para(out, "An ARC chain is present but does not vouch for the original result (cv=%s).",
                 in->arc_cv ? in->arc_cv : "?");
        return;
    }
    para(out, "An ARC seal by %s (cv=pass) vouches that when %s received the message, %s: a "
              "receiver that trusts %s can accept it.",
         in->arc_sealer, by, what, in->arc_sealer);
}

static void explain_forwarding(const hd_explain_input *in, const facts *f, hd_buf *out)
{
    const char *spf_domain = in->spf ? in->spf->domain : "";
    if (f->spf_fail && f->aligned_pass != NULL) {
        para(out, "SPF %s for %s: %s is not one of %s's servers, so the message was probably "
                  "forwarded or relayed. That is fine: the aligned DKIM signature by %s still "
                  "passes, so DMARC passes.",
             hd_spf_result_name(in->spf->result), spf_domain, in->ip ? in->ip : "the client",
             spf_domain, f->aligned_pass->domain);
        return;
    }
    const hd_dkim_result *broken = f->body_changed ? f->body_changed : f->header_changed;
    if (broken == NULL || f->aligned_pass != NULL)
        return;
    explain_broken(in, broken, out);
    if (in->list_id != NULL && in->from_domain[0])
        para(out, "Mailing lists that modify messages should rewrite From to the list's own "
                  "address (DMARC mitigation) or not modify the body and Subject.");
    if (f->spf_fail)
        para(out, "SPF also fails for %s (%s is not one of its servers): with DKIM broken, nothing "
                  "vouches for the original sender.",
             spf_domain, in->ip ? in->ip : "the client");
    explain_arc(in, out);
}

static void explain_spf(const hd_explain_input *in, const facts *f, hd_buf *out)
{
    if (in->spf == NULL)
        return;
    const hd_spf_verdict *s = in->spf;
    if (f->spf_pass && in->dmarc != NULL && in->dmarc->have_record && !in->dmarc->spf_aligned &&
        strcasecmp(s->domain, in->from_domain) != 0)
        para(out, "SPF passes for %s, but that MAIL FROM domain is not aligned with the From domain "
                  "%s. Use a custom MAIL FROM (bounce) domain under %s, e.g. bounce.%s, with its "
                  "own SPF record and MX.",
             s->domain, in->from_domain, in->from_domain, in->from_domain);
    if (s->result == HD_SPF_PERMERROR)
        para(out, "SPF permerror for %s: %s. Fix the record: receivers treat it as if there were "
                  "none, or worse.", s->domain, s->reason);
    if (s->result == HD_SPF_TEMPERROR)
        para(out, "SPF could not be checked: %s. Retry later; if it persists, check %s's name "
                  "servers.", s->reason, s->domain);
    if (s->result == HD_SPF_NONE && in->mail_from && in->mail_from[0])
        para(out, "%s publishes no SPF record: publish one listing the servers that send its mail.",
             s->domain);
}

static void explain_dmarc(const hd_explain_input *in, hd_buf *out)
{
    const hd_dmarc_verdict *d = in->dmarc;
    if (d == NULL)
        return;
    switch (d->result) {
    case HD_DMARC_NONE:
        para(out, "%s publishes no usable DMARC record: publish \"v=DMARC1; p=none; "
                  "rua=mailto:dmarc@%s\" at _dmarc.%s to start receiving reports.",
             in->from_domain, in->from_domain, in->from_domain);
        break;
    case HD_DMARC_PASS:
        para(out, "DMARC passes: %s.", d->reason);
        break;
    case HD_DMARC_FAIL:
        para(out, "DMARC fails: %s. The record at _dmarc.%s asks receivers to %s such mail.",
             d->reason, d->record_domain,
             d->disposition == HD_DMARC_P_REJECT ? "reject" :
             d->disposition == HD_DMARC_P_QUARANTINE ? "quarantine (spam folder)" : "deliver (monitoring only)");
        break;
    case HD_DMARC_TEMPERROR:
        para(out, "DMARC could not be checked: %s.", d->reason);
        break;
    default:
        break;
    }
}

int hd_explain(const hd_explain_input *in, hd_buf *out)
{
    facts f;
    gather(in, &f);
    size_t before = out->len;
    explain_identity(in, out);
    explain_dkim(in, &f, out);
    explain_forwarding(in, &f, out);
    explain_no_arc(in, &f, out);
    explain_spf(in, &f, out);
    explain_dmarc(in, out);
    if (out->len == before)
        para(out, "Nothing to report.");
    return 0;
}
