/*
 * chain.c - finding the ARC sets of a message and checking their shape
 * (RFC 8617 §4.1, §4.2.1, §5.2 steps 1 and 3): every field read for its
 * instance, each instance 1..N holding exactly one AAR, AMS and AS.
 *
 * Pure functions over a parsed hd_msg; nothing here allocates except the
 * scratch copy in arc_canon_field. Slices point into the caller's message.
 */
#include "auth/arc/arc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const arc_field_names[ARC_KINDS] = {
    "ARC-Authentication-Results",
    "ARC-Message-Signature",
    "ARC-Seal",
};

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip folding whitespace and (nested) comments, RFC 5322 §3.2.2 CFWS. */
static size_t skip_cfws(hd_slice v, size_t i)
{
    while (i < v.len) {
        if (is_wsp(v.p[i])) {
            i++;
        } else if (v.p[i] == '(') {
            int depth = 0;
            for (; i < v.len; i++) {
                if (v.p[i] == '\\' && i + 1 < v.len)
                    i++;
                else if (v.p[i] == '(')
                    depth++;
                else if (v.p[i] == ')' && --depth == 0) {
                    i++;
                    break;
                }
            }
        } else {
            break;
        }
    }
    return i;
}

unsigned arc_instance(hd_slice v)
{
    v = hd_slice_trim_wsp(v);
    if (v.len == 0 || v.len > 9)
        return 0;
    unsigned n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return 0;
        n = n * 10 + (unsigned)(v.p[i] - '0');
    }
    return n > HD_ARC_MAX_INSTANCE ? HD_ARC_MAX_INSTANCE + 1 : n;
}

int arc_aar_split(hd_slice value, unsigned *instance, hd_slice *payload)
{
    size_t i = skip_cfws(value, 0);
    if (i >= value.len || value.p[i] != 'i')
        return -1;
    i = skip_cfws(value, i + 1);
    if (i >= value.len || value.p[i] != '=')
        return -1;
    i = skip_cfws(value, i + 1);
    size_t start = i;
    while (i < value.len && value.p[i] >= '0' && value.p[i] <= '9')
        i++;
    *instance = arc_instance(hd_slice_make(value.p + start, i - start));
    i = skip_cfws(value, i);
    if (*instance == 0 || i >= value.len || value.p[i] != ';')
        return -1;
    *payload = hd_slice_make(value.p + i + 1, value.len - i - 1);
    return 0;
}

void arc_authserv_id(hd_slice payload, char *out, size_t size)
{
    size_t i = skip_cfws(payload, 0), o = 0;
    bool quoted = i < payload.len && payload.p[i] == '"';
    i += quoted;
    for (; i < payload.len && o + 1 < size; i++) {
        uint8_t c = payload.p[i];
        if (quoted && c == '\\' && i + 1 < payload.len)
            c = payload.p[++i];
        else if (quoted ? c == '"' : (is_wsp(c) || c == ';' || c == '('))
            break;
        out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[o] = '\0';
}

void arc_unfold(hd_slice v, char *out, size_t size)
{
    v = hd_slice_trim_wsp(v);
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 1 < size; i++) {
        if (is_wsp(v.p[i])) {
            while (i + 1 < v.len && is_wsp(v.p[i + 1]))
                i++;
            out[o++] = ' ';
        } else {
            out[o++] = v.p[i] < 0x20 || v.p[i] == 0x7f ? '?' : (char)v.p[i];
        }
    }
    out[o] = '\0';
}

void arc_copy_text(char *dst, size_t size, hd_slice v)
{
    size_t o = 0;
    for (size_t i = 0; i < v.len && o + 1 < size; i++)
        if (v.p[i] > ' ' && v.p[i] < 0x7f)
            dst[o++] = (char)v.p[i];
    dst[o] = '\0';
}

int arc_canon_field(hd_dkim_canon canon, hd_slice raw, bool blank_b, hd_buf *out)
{
    size_t colon = 0;
    while (colon < raw.len && raw.p[colon] != ':')
        colon++;
    if (colon == raw.len)
        return HD_ESYNTAX;
    size_t nlen = colon;
    while (nlen > 0 && (raw.p[nlen - 1] == ' ' || raw.p[nlen - 1] == '\t'))
        nlen--;
    hd_slice value = hd_slice_make(raw.p + colon + 1, raw.len - colon - 1);
    if (!blank_b)
        return dkim_canon_header(canon, raw, hd_slice_make(raw.p, nlen), value, true, out);
    hd_taglist t;
    if (hd_tag_parse(value, &t, NULL) != 0)
        return HD_ESYNTAX;
    const hd_tag *b = hd_tag_get(&t, "b");
    if (b == NULL)
        return HD_ESYNTAX;
    hd_buf copy;
    hd_buf_init(&copy, raw.len);
    size_t vo = colon + 1;
    int rc = hd_buf_append(&copy, raw.p, vo + b->value_start);
    if (rc == 0)
        rc = hd_buf_append(&copy, raw.p + vo + b->value_end, raw.len - vo - b->value_end);
    if (rc == 0)
        rc = dkim_canon_header(canon, hd_buf_slice(&copy), hd_slice_make(copy.p, nlen),
                               hd_slice_make(copy.p + vo, copy.len - vo), false, out);
    hd_buf_free(&copy);
    return rc;
}

static int kind_of(hd_slice name)
{
    for (int k = 0; k < ARC_KINDS; k++)
        if (hd_slice_caseeq_cstr(name, arc_field_names[k]))
            return k;
    return -1;
}

__attribute__((format(printf, 3, 4)))
static void broken(arc_chain *c, unsigned instance, const char *fmt, ...)
{
    if (c->broken)
        return;
    c->broken = true;
    c->bad_instance = instance;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof c->why, fmt, ap);
    va_end(ap);
}

/* The instance of one ARC field, or 0 (with c->broken set). */
static unsigned field_instance(arc_chain *c, const hd_hdr_field *f, arc_kind k)
{
    unsigned inst = 0;
    if (k == ARC_AAR) {
        hd_slice payload;
        if (arc_aar_split(f->value, &inst, &payload) != 0 || inst == 0) {
            broken(c, 0, "the %s on line %zu does not start with a valid \"i=N;\" "
                         "(RFC 8617 §4.1.1)", arc_field_names[k], f->line);
            return 0;
        }
    } else {
        hd_taglist t;
        hd_err err;
        hd_err_clear(&err);
        if (hd_tag_parse(f->value, &t, &err) != 0) {
            broken(c, 0, "the %s on line %zu is not a valid tag list: %s", arc_field_names[k],
                   f->line, err.msg);
            return 0;
        }
        const hd_tag *ti = hd_tag_get(&t, "i");
        if (ti == NULL || (inst = arc_instance(ti->value)) == 0) {
            broken(c, 0, "the %s on line %zu has %s i= instance tag (RFC 8617 §4.2.1)",
                   arc_field_names[k], f->line, ti == NULL ? "no" : "an invalid");
            return 0;
        }
    }
    if (inst > HD_ARC_MAX_INSTANCE)
        broken(c, inst, "the %s on line %zu has an instance above %d, the most ARC allows "
                        "(RFC 8617 §4.2.1)", arc_field_names[k], f->line, HD_ARC_MAX_INSTANCE);
    return inst;
}

void arc_collect(const hd_msg *m, arc_chain *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i <= HD_ARC_MAX_INSTANCE; i++)
        for (int k = 0; k < ARC_KINDS; k++)
            c->field[i][k] = ARC_NO_FIELD;
    size_t n = hd_msg_nfields(m);
    for (size_t f = 0; f < n; f++) {
        const hd_hdr_field *hf = hd_msg_field(m, f);
        int k = kind_of(hf->name);
        if (k < 0)
            continue;
        c->nfields++;
        unsigned inst = field_instance(c, hf, (arc_kind)k);
        if (inst > c->max_instance)
            c->max_instance = inst;
        if (inst == 0 || inst > HD_ARC_MAX_INSTANCE)
            continue;
        if (c->field[inst][k] != ARC_NO_FIELD)
            broken(c, inst, "two %s fields carry i=%u (lines %zu and %zu); an ARC set has "
                            "exactly one of each (RFC 8617 §4.2.1)", arc_field_names[k], inst,
                   hd_msg_field(m, c->field[inst][k])->line, hf->line);
        else
            c->field[inst][k] = f;
    }
    for (unsigned i = 1; i <= c->max_instance && i <= HD_ARC_MAX_INSTANCE && !c->broken; i++) {
        int have = 0;
        for (int k = 0; k < ARC_KINDS; k++)
            have += c->field[i][k] != ARC_NO_FIELD;
        if (have == 0)
            broken(c, i, "no ARC set with i=%u: the instances must run 1..%u without gaps "
                         "(RFC 8617 §5.2 step 3B)", i, c->max_instance);
        for (int k = 0; k < ARC_KINDS && have > 0; k++)
            if (c->field[i][k] == ARC_NO_FIELD)
                broken(c, i, "the ARC set i=%u has no %s (RFC 8617 §5.2 step 3A)", i,
                       arc_field_names[k]);
    }
}
