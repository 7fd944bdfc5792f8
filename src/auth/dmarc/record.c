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

static void policy_tag(hd_dmarc_record *r, const hd_tag *tag, hd_dmarc_policy *out, bool *bad)
{
    *out = parse_policy(tag->value);
    *bad = *out == HD_DMARC_P_UNSET;
    if (*bad)
        problem(r, "term %u: %.*s=%.*s is not none, quarantine or reject", tag->term,
                (int)tag->name.len, (const char *)tag->name.p,
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

/* A one-letter value out of allowed (case-insensitive) into *out, or a
 * problem and *out left at its default. */
static void one_of(hd_dmarc_record *r, const hd_tag *tag, const char *allowed, char *out)
{
    if (tag->value.len == 1 && strchr(allowed, tag->value.p[0] | 0x20) != NULL &&
        tag->value.p[0] != 0)
        *out = (char)(tag->value.p[0] | 0x20);
    else
        problem(r, "term %u: %.*s=%.*s is not one of %s: ignored", tag->term, (int)tag->name.len,
                (const char *)tag->name.p, (int)(tag->value.len > 20 ? 20 : tag->value.len),
                (const char *)tag->value.p, allowed);
}

static void fo_tag(hd_dmarc_record *r, const hd_tag *tag)
{
    bool ok = tag->value.len > 0 && tag->value.len < sizeof r->fo;
    for (size_t i = 0; ok && i < tag->value.len; i++)
        ok = strchr("01ds:", tag->value.p[i]) != NULL && tag->value.p[i] != 0;
    if (ok)
        memcpy(r->fo, tag->value.p, tag->value.len);
    else
        problem(r, "term %u: fo=%.*s is not a list of 0, 1, d, s: ignored", tag->term,
                (int)(tag->value.len > 20 ? 20 : tag->value.len), (const char *)tag->value.p);
}

static void pct_tag(hd_dmarc_record *r, const hd_tag *tag)
{
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

/* The one-letter tags, read into these and then into the record. */
typedef struct letters {
    char t, adkim, aspf;
} letters;

/* One kept tag (§4.7); unknown tags are ignored (§4.8). */
static void known_tag(hd_dmarc_record *r, const hd_tag *tag, letters *l)
{
    hd_slice n = tag->name;
    if (hd_slice_eq_cstr(n, "p"))
        policy_tag(r, tag, &r->p, &r->p_bad);
    else if (hd_slice_eq_cstr(n, "sp"))
        policy_tag(r, tag, &r->sp, &r->sp_bad);
    else if (hd_slice_eq_cstr(n, "np"))
        policy_tag(r, tag, &r->np, &r->np_bad);
    else if (hd_slice_eq_cstr(n, "psd"))
        one_of(r, tag, "ynu", &r->psd);
    else if (hd_slice_eq_cstr(n, "t"))
        one_of(r, tag, "yn", &l->t);
    else if (hd_slice_eq_cstr(n, "adkim"))
        one_of(r, tag, "rs", &l->adkim);
    else if (hd_slice_eq_cstr(n, "aspf"))
        one_of(r, tag, "rs", &l->aspf);
    else if (hd_slice_eq_cstr(n, "rua"))
        uri_list(r, tag, r->rua, &r->nrua);
    else if (hd_slice_eq_cstr(n, "ruf"))
        uri_list(r, tag, r->ruf, &r->nruf);
    else if (hd_slice_eq_cstr(n, "fo"))
        fo_tag(r, tag);
    else if (hd_slice_eq_cstr(n, "pct"))
        pct_tag(r, tag);
    else if (hd_slice_eq_cstr(n, "rf") || hd_slice_eq_cstr(n, "ri"))
        problem(r, "term %u: %.*s= is obsolete (RFC 7489): ignored", tag->term, (int)n.len,
                (const char *)n.p);
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
    /* the terms in the record's order, so are the problems */
    letters l = {'n', 'r', 'r'};
    for (size_t k = 1, d = 0; k < t.n || d < drops.n;) {
        if (d < drops.n && (k == t.n || drops.d[d].term < t.tags[k].term)) {
            const hd_tag_dropped *x = &drops.d[d++];
            problem(r, "term %u \"%.*s%s\": %s: ignored", x->term,
                    (int)(x->text.len > 40 ? 40 : x->text.len), (const char *)x->text.p,
                    x->text.len > 40 ? "..." : "", x->why);
        } else {
            known_tag(r, &t.tags[k++], &l);
        }
    }
    r->testing = l.t == 'y';
    r->adkim_strict = l.adkim == 's';
    r->aspf_strict = l.aspf == 's';
    if (hd_tag_get(&t, "p") == NULL)
        problem(r, "no p= tag");
    return 0;
}
