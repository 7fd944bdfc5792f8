/*
 * tag.c - the RFC 6376 §3.2 tag-list parser shared by DKIM, ARC and DMARC.
 *
 * A cursor walks the text once; every tag is a pair of slices into it.
 */
#include <herald/tag.h>

#include <string.h>

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnumpunc(uint8_t c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

/* VALCHAR = %x21-3A / %x3C-7E; 8-bit bytes are tolerated (UTF-8 in z=,
 * real DMARC records), control characters are not. */
static bool is_valchar(uint8_t c)
{
    return (c >= 0x21 && c <= 0x7e && c != ';') || c >= 0x80;
}

/* Bytes of folding whitespace at i (RFC 5322 FWS): SP or HTAB, or a CRLF
 * that a SP or HTAB follows. A lone CR or LF is not whitespace: it could
 * end a header line where a later reader does not expect one. */
static size_t fws_len(hd_slice t, size_t i)
{
    if (t.p[i] == ' ' || t.p[i] == '\t')
        return 1;
    if (t.p[i] == '\r' && i + 2 < t.len && t.p[i + 1] == '\n' &&
        (t.p[i + 2] == ' ' || t.p[i + 2] == '\t'))
        return 2;
    return 0;
}

static size_t skip_wsp(hd_slice t, size_t i)
{
    size_t n;
    while (i < t.len && (n = fws_len(t, i)) > 0)
        i += n;
    return i;
}

/* One tag-spec starting at i; on success *next is the offset after the
 * ';' (or the end). */
static int parse_spec(hd_slice t, size_t i, hd_taglist *out, size_t *next, hd_err *err)
{
    size_t name_start = i;
    if (!is_alpha(t.p[i]))
        return hd_err_set(err, HD_ESYNTAX,
                          "offset %zu: a tag name must start with a letter, found 0x%02x",
                          i, t.p[i]);
    while (i < t.len && is_alnumpunc(t.p[i]))
        i++;
    hd_slice name = hd_slice_make(t.p + name_start, i - name_start);
    i = skip_wsp(t, i);
    if (i >= t.len || t.p[i] != '=')
        return hd_err_set(err, HD_ESYNTAX, "offset %zu: expected '=' after tag \"%.*s\"",
                          i, (int)name.len, (const char *)name.p);
    i++;
    size_t value_start = i;
    while (i < t.len && t.p[i] != ';') {
        size_t n = is_valchar(t.p[i]) ? 1 : fws_len(t, i);
        if (n == 0)
            return hd_err_set(err, HD_ESYNTAX,
                              "offset %zu: control character 0x%02x in the value of tag \"%.*s\"",
                              i, t.p[i], (int)name.len, (const char *)name.p);
        i += n;
    }
    for (size_t k = 0; k < out->n; k++)
        if (out->tags[k].name.len == name.len && out->tags[k].name.p[0] == name.p[0] &&
            hd_slice_eq(out->tags[k].name, name))
            return hd_err_set(err, HD_ESYNTAX, "offset %zu: duplicate tag \"%.*s\"",
                              name_start, (int)name.len, (const char *)name.p);
    if (out->n == HD_LIMIT_TAGS)
        return hd_err_set(err, HD_ELIMIT, "offset %zu: more than %d tags", name_start,
                          HD_LIMIT_TAGS);
    hd_tag *tag = &out->tags[out->n++];
    tag->name = name;
    tag->value = hd_slice_trim_wsp(hd_slice_make(t.p + value_start, i - value_start));
    tag->value_start = value_start;
    tag->value_end = i;
    *next = i < t.len ? i + 1 : i;
    return 0;
}

int hd_tag_parse(hd_slice text, hd_taglist *out, hd_err *err)
{
    out->n = 0;
    size_t i = 0;
    while (i < text.len) {
        i = skip_wsp(text, i);
        if (i >= text.len)
            break;
        if (text.p[i] == ';') { /* empty tag-spec */
            i++;
            continue;
        }
        int rc = parse_spec(text, i, out, &i, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const hd_tag *hd_tag_get(const hd_taglist *list, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < list->n; i++) {
        hd_slice n = list->tags[i].name;
        if (n.len == len && n.p[0] == (uint8_t)name[0] && memcmp(n.p, name, len) == 0)
            return &list->tags[i];
    }
    return NULL;
}

int hd_tag_strip_wsp(hd_slice value, hd_buf *out)
{
    int rc = hd_buf_reserve(out, value.len);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < value.len; i++)
        if (!is_wsp(value.p[i]))
            out->p[out->len++] = value.p[i];
    out->p[out->len] = '\0';
    return 0;
}

size_t hd_tag_split(hd_slice value, char sep, hd_slice *parts, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= value.len && n < max; i++) {
        if (i == value.len || value.p[i] == (uint8_t)sep) {
            parts[n++] = hd_slice_trim_wsp(hd_slice_make(value.p + start, i - start));
            start = i + 1;
        }
    }
    return n;
}
