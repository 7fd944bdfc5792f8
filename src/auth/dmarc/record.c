/*
 * record.c - DMARC Policy Records (RFC 9989 §4.7, §4.8), and the RFC 7489
 * tags it made obsolete (pct, rf, ri), parsed and reported.
 *
 * A record is a DMARC record only when its first term is exactly
 * v=DMARC1 (§4.7 v=); everything after that is forgiving (§4.8: "Syntax
 * errors in the remainder of the record MUST be discarded in favor of
 * default values (if any) or ignored outright"; RFC 7489 §6.3 says SHOULD):
 * a malformed term (no '=', a bad tag name, a control character, a repeated
 * tag) is dropped by the tolerant tag-list parse, an invalid value of a
 * known tag leaves that tag's default, and each is listed as a problem
 * with the term it came from. What an invalid p=, sp= or np= means for the
 * policy is eval.c's (§4.10.1).
 */
#include <herald/dmarc.h>
#include <herald/limits.h>
#include <herald/tag.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *hd_dmarc_policy_name(hd_dmarc_policy p)
{
    switch (p) {
    case HD_DMARC_P_NONE: return "none";
    case HD_DMARC_P_QUARANTINE: return "quarantine";
    case HD_DMARC_P_REJECT: return "reject";
    default: return "";
    }
}

__attribute__((format(printf, 2, 3)))
static void problem(hd_dmarc_record *r, const char *fmt, ...)
{
    if (r->nproblems == HD_DMARC_MAX_PROBLEMS) { /* the last slot says so */
        snprintf(r->problems[r->nproblems - 1], sizeof r->problems[0],
                 "... and more problems: only the first %d are listed", HD_DMARC_MAX_PROBLEMS - 1);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problems[r->nproblems], sizeof r->problems[0], fmt, ap);
    va_end(ap);
    for (char *p = r->problems[r->nproblems]; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    r->nproblems++;
}

static hd_dmarc_policy parse_policy(hd_slice v)
{
    if (hd_slice_caseeq_cstr(v, "none"))
        return HD_DMARC_P_NONE;
    if (hd_slice_caseeq_cstr(v, "quarantine"))
        return HD_DMARC_P_QUARANTINE;
    if (hd_slice_caseeq_cstr(v, "reject"))
        return HD_DMARC_P_REJECT;
    return HD_DMARC_P_UNSET;
}

static void policy_tag(hd_dmarc_record *r, const hd_taglist *t, const char *name,
                       hd_dmarc_policy *out, bool *bad)
{
    const hd_tag *tag = hd_tag_get(t, name);
    if (tag == NULL)
        return;
    *out = parse_policy(tag->value);
    *bad = *out == HD_DMARC_P_UNSET;
    if (*bad)
        problem(r, "term %u: %s=%.*s is not none, quarantine or reject", tag->term, name,
                (int)(tag->value.len > 40 ? 40 : tag->value.len), (const char *)tag->value.p);
}

/* A reporting URI (§4.6): mailto: with an address, or another scheme
 * followed by something; the RFC 7489 "!size" suffix is dropped with a
 * note. */
static void uri_list(hd_dmarc_record *r, const hd_tag *tag, char out[][256], size_t *n)
{
    hd_slice parts[HD_DMARC_MAX_URIS + 1];
    size_t np = hd_tag_split(tag->value, ',', parts, HD_DMARC_MAX_URIS + 1);
    if (np > HD_DMARC_MAX_URIS)
        problem(r, "term %u: %.*s= lists more than %d URIs; the rest are ignored", tag->term,
                (int)tag->name.len, (const char *)tag->name.p, HD_DMARC_MAX_URIS);
    for (size_t i = 0; i < np && i < HD_DMARC_MAX_URIS; i++) {
        hd_slice u = parts[i];
        size_t bang = hd_slice_find(u, hd_slice_cstr("!"));
        if (bang != (size_t)-1) {
            problem(r, "term %u: \"%.*s\": the !size suffix is obsolete (RFC 7489) and ignored",
                    tag->term, (int)(u.len > 60 ? 60 : u.len), (const char *)u.p);
            u.len = bang;
        }
        size_t colon = hd_slice_find(u, hd_slice_cstr(":"));
        bool mailto = u.len > 7 && hd_slice_caseeq_cstr(hd_slice_make(u.p, 7), "mailto:");
        bool ok = colon != (size_t)-1 && colon > 0 && colon + 1 < u.len && u.len < 256 &&
                  (!mailto || hd_slice_find(u, hd_slice_cstr("@")) != (size_t)-1);
        if (!ok) {
            problem(r, "term %u: %.*s=: \"%.*s\" is not a usable URI", tag->term, (int)tag->name.len,
                    (const char *)tag->name.p, (int)(u.len > 60 ? 60 : u.len), (const char *)u.p);
            continue;
        }
        memcpy(out[*n], u.p, u.len);
        out[*n][u.len] = '\0';
        (*n)++;
    }
}

static void one_of(hd_dmarc_record *r, const hd_taglist *t, const char *name, const char *allowed,
                   char *out)
{
    const hd_tag *tag = hd_tag_get(t, name);
    if (tag == NULL)
        return;
    if (tag->value.len == 1 && strchr(allowed, tag->value.p[0] | 0x20) != NULL &&
        tag->value.p[0] != 0)
        *out = (char)(tag->value.p[0] | 0x20);
    else
        problem(r, "term %u: %s=%.*s is not one of %s: ignored", tag->term, name,
                (int)(tag->value.len > 20 ? 20 : tag->value.len), (const char *)tag->value.p, allowed);
}

int hd_dmarc_record_parse(hd_slice text, hd_dmarc_record *r, hd_err *err)
{
    memset(r, 0, sizeof *r);
    r->p = r->sp = r->np = HD_DMARC_P_UNSET;
    r->psd = 'u';
    r->pct = -1;
    if (text.len > HD_LIMIT_DMARC_RECORD_BYTES)
        return hd_err_set(err, HD_ESYNTAX, "not a DMARC record: longer than %u bytes",
                          HD_LIMIT_DMARC_RECORD_BYTES);
    hd_taglist t;
    hd_tag_drops drops;
    hd_err terr;
    hd_err_clear(&terr);
    if (hd_tag_parse_tolerant(text, &t, &drops, &terr) != 0)
        return hd_err_set(err, HD_ESYNTAX, "not a DMARC record: %s", terr.msg);
    /* §4.7 v=: the first term, exactly DMARC1 (case-sensitive) */
    if (t.n == 0 || t.tags[0].term != 1 || !hd_slice_eq_cstr(t.tags[0].name, "v") ||
        !hd_slice_eq_cstr(t.tags[0].value, "DMARC1"))
        return hd_err_set(err, HD_ESYNTAX, "not a DMARC record: it must start with v=DMARC1");
    for (size_t i = 0; i < drops.n; i++) {
        const hd_tag_dropped *d = &drops.d[i];
        problem(r, "term %u \"%.*s%s\": %s: ignored", d->term,
                (int)(d->text.len > 40 ? 40 : d->text.len), (const char *)d->text.p,
                d->text.len > 40 ? "..." : "", d->why);
    }
    policy_tag(r, &t, "p", &r->p, &r->p_bad);
    policy_tag(r, &t, "sp", &r->sp, &r->sp_bad);
    policy_tag(r, &t, "np", &r->np, &r->np_bad);
    one_of(r, &t, "psd", "ynu", &r->psd);
    char c = 'n';
    one_of(r, &t, "t", "yn", &c);
    r->testing = c == 'y';
    c = 'r';
    one_of(r, &t, "adkim", "rs", &c);
    r->adkim_strict = c == 's';
    c = 'r';
    one_of(r, &t, "aspf", "rs", &c);
    r->aspf_strict = c == 's';
    const hd_tag *tag;
    if ((tag = hd_tag_get(&t, "rua")) != NULL)
        uri_list(r, tag, r->rua, &r->nrua);
    if ((tag = hd_tag_get(&t, "ruf")) != NULL)
        uri_list(r, tag, r->ruf, &r->nruf);
    if ((tag = hd_tag_get(&t, "fo")) != NULL) {
        bool ok = tag->value.len > 0 && tag->value.len < sizeof r->fo;
        for (size_t i = 0; ok && i < tag->value.len; i++)
            ok = strchr("01ds:", tag->value.p[i]) != NULL && tag->value.p[i] != 0;
        if (ok)
            memcpy(r->fo, tag->value.p, tag->value.len);
        else
            problem(r, "term %u: fo=%.*s is not a list of 0, 1, d, s: ignored", tag->term,
                    (int)(tag->value.len > 20 ? 20 : tag->value.len), (const char *)tag->value.p);
    }
    if ((tag = hd_tag_get(&t, "pct")) != NULL) {
        int v = 0;
        bool ok = tag->value.len > 0 && tag->value.len <= 3;
        for (size_t i = 0; ok && i < tag->value.len; i++) {
            ok = tag->value.p[i] >= '0' && tag->value.p[i] <= '9';
            v = v * 10 + (tag->value.p[i] - '0');
        }
        if (ok && v <= 100)
            r->pct = v;
        problem(r, "term %u: pct= is obsolete (RFC 9989 dropped it; RFC 7489 receivers still sample)%s",
                tag->term, ok && v <= 100 ? "" : ", and its value is not 0..100");
    }
    if ((tag = hd_tag_get(&t, "rf")) != NULL)
        problem(r, "term %u: rf= is obsolete (RFC 7489): ignored", tag->term);
    if ((tag = hd_tag_get(&t, "ri")) != NULL)
        problem(r, "term %u: ri= is obsolete (RFC 7489): ignored", tag->term);
    if (hd_tag_get(&t, "p") == NULL)
        problem(r, "no p= tag");
    return 0;
}
