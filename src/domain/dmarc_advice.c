/*
 * dmarc_advice.c - the DMARC record herald suggests for a sending domain,
 * decided from what the domain publishes now (bytes in, advice out; the
 * caller does the DNS).
 *
 * Rules, so the suggestion never does harm:
 *   - no record applies: p=none with rua at herald (RFC 9989 §5.1.5:
 *     monitoring first);
 *   - a record applies (the domain's own, or its organizational domain's):
 *     only herald's address is added to its rua; every other byte of it
 *     stays, so the policy is never weakened, and no second record is
 *     suggested beside it (two records make receivers apply none, RFC 9989
 *     §4.10, RFC 7489 §6.6.3);
 *   - the lookup failed: the p=none record, but said to be unchecked;
 *   - herald's address outside the record domain's Organizational Domain:
 *     the RFC 9990 §4 authorisation record too.
 */
#include "domain/domain_int.h"

#include <herald/dmarc.h>
#include <herald/tag.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECORD_MAX 4096

/* RFC 7489 §6.2: receivers "MUST support the ability to send to at least
 * two" report URIs; a third may be left out. */
#define RUA_SURELY_SERVED 2

void hd_domain_dmarc_advice_free(hd_domain_dmarc_advice *a)
{
    if (a == NULL)
        return;
    free(a->current);
    free(a->value);
    a->current = a->value = NULL;
}

/* Is name equal to, or a subdomain of, parent? (normalized names) */
static bool within(const char *name, const char *parent)
{
    size_t n = strlen(name), p = strlen(parent);
    if (n == p)
        return strcmp(name, parent) == 0;
    return n > p && name[n - p - 1] == '.' && strcmp(name + n - p, parent) == 0;
}

/* One report URI of a rua list is ours: "mailto:" and the address
 * compared without case, a "!size" suffix (RFC 7489) ignored. */
static bool uri_is(hd_slice uri, const char *rua)
{
    const uint8_t *bang = memchr(uri.p, '!', uri.len);
    size_t len = bang ? (size_t)(bang - uri.p) : uri.len;
    while (len > 0 && (uri.p[len - 1] == ' ' || uri.p[len - 1] == '\t'))
        len--;
    return len == strlen(rua) && strncasecmp((const char *)uri.p, rua, len) == 0;
}

/* The one DMARC record of the set (RFC 9989 §4.10: TXT records that do
 * not start with v=DMARC1 are not DMARC records); *count gets how many. */
static const hd_slice *the_record(const hd_domain_dmarc_live *live, size_t *count,
                                  hd_dmarc_record *parsed)
{
    const hd_slice *one = NULL;
    *count = 0;
    for (size_t i = 0; i < live->n_texts; i++) {
        hd_dmarc_record r;
        if (hd_dmarc_record_parse(live->texts[i], &r, NULL) == 0) {
            if ((*count)++ == 0) {
                one = &live->texts[i];
                *parsed = r;
            }
        }
    }
    return one;
}

/* text with rua added to its rua= tag (or a rua= tag appended); *has
 * when the tag already lists it, *nrua how many URIs it lists. */
static int add_rua(hd_slice text, const char *rua, hd_buf *out, bool *has, size_t *nrua,
                   hd_err *err)
{
    *has = false;
    *nrua = 0;
    hd_taglist tags;
    hd_tag_drops drops;
    int rc = hd_tag_parse_tolerant(text, &tags, &drops, err);
    if (rc != 0)
        return rc;
    const hd_tag *t = hd_tag_get(&tags, "rua");
    if (t != NULL) {
        hd_slice parts[HD_DMARC_MAX_URIS * 2];
        size_t n = hd_tag_split(t->value, ',', parts, sizeof parts / sizeof parts[0]);
        for (size_t i = 0; i < n; i++) {
            *has |= uri_is(parts[i], rua);
            *nrua += parts[i].len > 0;
        }
        if (*has)
            return 0;
        size_t end = (size_t)(t->value.p - text.p) + t->value.len;
        rc = hd_buf_append(out, text.p, end);
        if (rc == 0)
            rc = hd_buf_printf(out, "%s%s", t->value.len ? "," : "", rua);
        if (rc == 0)
            rc = hd_buf_append(out, text.p + end, text.len - end);
    } else {
        size_t len = text.len;
        while (len > 0 && (text.p[len - 1] == ' ' || text.p[len - 1] == '\t'))
            len--;
        rc = hd_buf_append(out, text.p, len);
        if (rc == 0)
            rc = hd_buf_printf(out, "%srua=%s", len && text.p[len - 1] == ';' ? " " : "; ", rua);
    }
    return rc ? hd_err_set(err, rc, "DMARC record with %s: too long", rua) : 0;
}

static char *dup_slice(hd_slice s)
{
    char *p = malloc(s.len + 1);
    if (p != NULL) {
        memcpy(p, s.p, s.len);
        p[s.len] = '\0';
    }
    return p;
}

/* The RFC 9990 §4 name, when the bounce domain is outside the record
 * domain's Organizational Domain (org: known, or the record domain). */
static void authorisation(const char *record_domain, const char *org, const char *bounce,
                          hd_domain_dmarc_advice *a)
{
    a->auth_name[0] = '\0';
    if (org == NULL || !within(record_domain, org))
        org = record_domain;
    if (within(bounce, org))
        return;
    /* §4 step 4: a name past DNS limits cannot be authorised */
    if (strlen(record_domain) + strlen("._report._dmarc.") + strlen(bounce) > 253) {
        size_t used = strlen(a->note);
        snprintf(a->note + used, sizeof a->note - used,
                 " Warning: the name that would authorise reports to the bounce domain "
                 "(RFC 9990 §4) is longer than a DNS name may be: receivers will send none "
                 "to %s; choose a shorter bounce domain.",
                 bounce);
        return;
    }
    snprintf(a->auth_name, sizeof a->auth_name, "%s._report._dmarc.%s", record_domain, bounce);
}

static int advise_present(const char *domain, const char *record_domain, const hd_slice *one,
                          const hd_dmarc_record *parsed, hd_domain_dmarc_advice *a, hd_err *err)
{
    if (one->len > RECORD_MAX) {
        a->action = HD_DOMAIN_DMARC_FIX;
        snprintf(a->note, sizeof a->note,
                 "%s holds a DMARC record of %zu bytes, longer than herald edits (%d): add "
                 "%s to its rua= yourself.",
                 a->name, one->len, RECORD_MAX, a->rua);
        return 0;
    }
    if ((a->current = dup_slice(*one)) == NULL)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    hd_buf v;
    hd_buf_init(&v, RECORD_MAX + sizeof a->rua + 8);
    bool has = false;
    size_t nrua = 0;
    int rc = add_rua(*one, a->rua, &v, &has, &nrua, err);
    hd_dmarc_record after;
    const char *p = hd_dmarc_policy_name(parsed->p);
    if (rc == 0 && has) {
        a->action = HD_DOMAIN_DMARC_NOTHING;
        snprintf(a->note, sizeof a->note,
                 "%s publishes a DMARC record (p=%s) whose rua= already lists %s: nothing to "
                 "change.", a->name, p[0] ? p : "missing", a->rua);
    } else if (rc == 0 && (hd_dmarc_record_parse(hd_buf_slice(&v), &after, NULL) != 0 ||
                           after.p != parsed->p || after.sp != parsed->sp ||
                           after.np != parsed->np)) {
        /* cannot happen with a rua added; never suggest what changes policy */
        a->action = HD_DOMAIN_DMARC_FIX;
        snprintf(a->note, sizeof a->note,
                 "%s publishes a DMARC record herald cannot extend safely: add %s to its rua= "
                 "yourself, leaving the rest as it is.", a->name, a->rua);
    } else if (rc == 0) {
        a->action = HD_DOMAIN_DMARC_EXTEND;
        a->value = (char *)hd_buf_steal(&v, NULL);
        if (a->value == NULL)
            rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        int n = snprintf(a->note, sizeof a->note,
                         "%s already publishes a DMARC record (p=%s): keep it and its policy; "
                         "only add herald's report address %s to its rua=, as below (every "
                         "other tag unchanged). Do not publish a second record beside it: "
                         "receivers then apply none (RFC 9989 §4.10).",
                         a->name, p[0] ? p : "missing", a->rua);
        if (strcmp(record_domain, domain) != 0 && n > 0 && (size_t)n < sizeof a->note)
            n += snprintf(a->note + n, sizeof a->note - (size_t)n,
                          " %s has no record of its own: this one, of its organizational "
                          "domain, applies to its mail; a record at _dmarc.%s would replace "
                          "that policy for it.", domain, domain);
        if (nrua >= RUA_SURELY_SERVED && n > 0 && (size_t)n < sizeof a->note)
            snprintf(a->note + n, sizeof a->note - (size_t)n,
                     " It lists %zu report addresses already; receivers need serve only two "
                     "(RFC 7489 §6.2), so some may not send to herald.", nrua);
    }
    hd_buf_free(&v);
    return rc;
}

int hd_domain_dmarc_advise(const char *domain, const char *bounce_domain,
                           const hd_domain_dmarc_live *live, hd_domain_dmarc_advice *out,
                           hd_err *err)
{
    memset(out, 0, sizeof *out);
    char name[HD_STORE_NAME_MAX], bounce[HD_STORE_NAME_MAX], rec[HD_STORE_NAME_MAX];
    char org[HD_STORE_NAME_MAX];
    int rc = hd_domain_name_normalize(domain, name, sizeof name, err);
    if (rc == 0)
        rc = hd_domain_check_name(bounce_domain, 2, "bounce domain", bounce, sizeof bounce, err);
    if (rc == 0)
        rc = hd_domain_check_name(live->record_domain ? live->record_domain : name, 1,
                                  "record domain", rec, sizeof rec, err);
    if (rc == 0 && live->org_domain != NULL)
        rc = hd_domain_check_name(live->org_domain, 1, "organizational domain", org,
                                  sizeof org, err);
    if (rc != 0)
        return rc;
    snprintf(out->rua, sizeof out->rua, "mailto:dmarc@%s", bounce);

    size_t count = 0;
    hd_dmarc_record parsed;
    memset(&parsed, 0, sizeof parsed);
    const hd_slice *one = live->lookup == HD_DOMAIN_DMARC_PRESENT
                              ? the_record(live, &count, &parsed)
                              : NULL;
    if (count == 0)
        snprintf(rec, sizeof rec, "%s", name); /* nothing applies: the domain's own */
    snprintf(out->name, sizeof out->name, "_dmarc.%s", rec);

    if (count > 1) {
        out->action = HD_DOMAIN_DMARC_FIX;
        snprintf(out->note, sizeof out->note,
                 "%s holds %zu DMARC records: receivers apply none of them (RFC 9989 §4.10, "
                 "RFC 7489 §6.6.3). Keep one, then add %s to its rua=.",
                 out->name, count, out->rua);
        return 0;
    }
    if (count == 1) {
        rc = advise_present(name, rec, one, &parsed, out, err);
    } else {
        out->action = live->lookup == HD_DOMAIN_DMARC_FAILED ? HD_DOMAIN_DMARC_UNCHECKED
                                                             : HD_DOMAIN_DMARC_PUBLISH;
        char v[HD_STORE_NAME_MAX + 64];
        snprintf(v, sizeof v, "v=DMARC1; p=none; rua=%s", out->rua);
        if ((out->value = strdup(v)) == NULL)
            return hd_err_set(err, HD_ENOMEM, "out of memory");
        if (out->action == HD_DOMAIN_DMARC_PUBLISH)
            snprintf(out->note, sizeof out->note,
                     "%s publishes no DMARC record: p=none watches first, with aggregate "
                     "reports to %s, which herald receives; raise it to quarantine, then "
                     "reject, once they show all your mail passes.", name, out->rua + 7);
        else
            snprintf(out->note, sizeof out->note,
                     "Warning: the DMARC record of %s could not be checked. Publish this only "
                     "if %s has none: beside an existing record it makes two, and receivers "
                     "then apply neither (RFC 9989 §4.10). If one exists, add %s to its rua= "
                     "instead and keep its policy.", name, name, out->rua);
    }
    if (rc == 0 && out->action != HD_DOMAIN_DMARC_FIX)
        authorisation(rec, live->org_domain ? org : NULL, bounce, out);
    return rc;
}
