/*
 * tag.c - the RFC 6376 §3.2 tag-list parser shared by DKIM, ARC and DMARC.
 *
 * A cursor walks the text once; every tag is a pair of slices into it.
 * Both modes scan a spec the same way and differ only in what a fault
 * does: the strict parse stops, the tolerant one notes the term and goes
 * on after its ';'.
 */
#include <herald/tag.h>

#include <stdarg.h>
#include <stdio.h>
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

/* A byte as a message shows it: '-' when printable, 0x01 when not. */
typedef struct shown_byte {
    char s[8];
} shown_byte;

static shown_byte shown(uint8_t c)
{
    shown_byte b;
    if (c > 0x20 && c < 0x7f)
        snprintf(b.s, sizeof b.s, "'%c'", c);
    else
        snprintf(b.s, sizeof b.s, "0x%02x", c);
    return b;
}

/* What is wrong with a tag-spec, and where. */
typedef struct fault {
    size_t offset;
    char why[80];
} fault;

__attribute__((format(printf, 3, 4)))
static int fault_set(fault *f, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
    f->offset = offset;
    return HD_ESYNTAX;
}

/* Scan the tag-spec starting at i (neither WSP nor ';') into tag; 0, or
 * HD_ESYNTAX with the fault. tag->term is the caller's. */
static int scan_spec(hd_slice t, size_t i, hd_tag *tag, fault *f)
{
    size_t name_start = i;
    if (!is_alpha(t.p[i]))
        return fault_set(f, i, "a tag name must start with a letter, found %s", shown(t.p[i]).s);
    while (i < t.len && is_alnumpunc(t.p[i]))
        i++;
    hd_slice name = hd_slice_make(t.p + name_start, i - name_start);
    int nlen = (int)(name.len > 20 ? 20 : name.len);
    if (i < t.len && t.p[i] != '=' && t.p[i] != ';' && fws_len(t, i) == 0)
        return fault_set(f, i, "%s cannot be part of a tag name (after \"%.*s\")", shown(t.p[i]).s,
                         nlen, (const char *)name.p);
    i = skip_wsp(t, i);
    if (i >= t.len || t.p[i] != '=')
        return fault_set(f, i, "expected '=' after tag \"%.*s\"", nlen, (const char *)name.p);
    i++;
    size_t value_start = i;
    while (i < t.len && t.p[i] != ';') {
        size_t n = is_valchar(t.p[i]) ? 1 : fws_len(t, i);
        if (n == 0)
            return fault_set(f, i, "control character 0x%02x in the value of tag \"%.*s\"", t.p[i],
                             nlen, (const char *)name.p);
        i += n;
    }
    tag->name = name;
    tag->value = hd_slice_trim_wsp(hd_slice_make(t.p + value_start, i - value_start));
    tag->value_start = value_start;
    tag->value_end = i;
    return 0;
}

static const hd_tag *find(const hd_taglist *list, hd_slice name)
{
    for (size_t k = 0; k < list->n; k++)
        if (list->tags[k].name.len == name.len && list->tags[k].name.p[0] == name.p[0] &&
            hd_slice_eq(list->tags[k].name, name))
            return &list->tags[k];
    return NULL;
}

/* The offset of the ';' that ends the term at i, or the text's end: a
 * term cannot hold a ';' (VALCHAR excludes it). */
static size_t term_end(hd_slice t, size_t i)
{
    while (i < t.len && t.p[i] != ';')
        i++;
    return i;
}

int hd_tag_parse(hd_slice text, hd_taglist *out, hd_err *err)
{
    out->n = 0;
    size_t i = 0;
    unsigned term = 0;
    while (i < text.len) {
        i = skip_wsp(text, i);
        if (i >= text.len)
            break;
        if (text.p[i] == ';') { /* empty tag-spec */
            i++;
            continue;
        }
        hd_tag tag;
        fault f;
        if (scan_spec(text, i, &tag, &f) != 0)
            return hd_err_set(err, HD_ESYNTAX, "offset %zu: %s", f.offset, f.why);
        if (find(out, tag.name) != NULL)
            return hd_err_set(err, HD_ESYNTAX, "offset %zu: duplicate tag \"%.*s\"", i,
                              (int)tag.name.len, (const char *)tag.name.p);
        if (out->n == HD_LIMIT_TAGS)
            return hd_err_set(err, HD_ELIMIT, "offset %zu: more than %d tags", i, HD_LIMIT_TAGS);
        tag.term = ++term;
        out->tags[out->n++] = tag;
        i = tag.value_end < text.len ? tag.value_end + 1 : tag.value_end;
    }
    return 0;
}

static void drop(hd_tag_drops *drops, hd_slice t, unsigned term, size_t start, size_t end, const char *why)
{
    hd_tag_dropped *d = &drops->d[drops->n++];
    d->term = term;
    d->offset = start;
    d->text = hd_slice_trim_wsp(hd_slice_make(t.p + start, end - start));
    snprintf(d->why, sizeof d->why, "%s", why);
}

int hd_tag_parse_tolerant(hd_slice text, hd_taglist *out, hd_tag_drops *drops, hd_err *err)
{
    out->n = 0;
    drops->n = 0;
    size_t i = 0;
    unsigned term = 0;
    while (i < text.len) {
        i = skip_wsp(text, i);
        if (i >= text.len)
            break;
        if (text.p[i] == ';') {
            i++;
            continue;
        }
        if (out->n + drops->n == HD_LIMIT_TAGS)
            return hd_err_set(err, HD_ELIMIT, "offset %zu: more than %d terms", i, HD_LIMIT_TAGS);
        term++;
        size_t end = term_end(text, i);
        hd_tag tag;
        fault f;
        if (scan_spec(text, i, &tag, &f) != 0) {
            drop(drops, text, term, i, end, f.why);
        } else if (find(out, tag.name) != NULL) {
            char why[80];
            snprintf(why, sizeof why, "a second \"%.*s\" tag (the first one stands)",
                     (int)(tag.name.len > 20 ? 20 : tag.name.len), (const char *)tag.name.p);
            drop(drops, text, term, i, end, why);
        } else {
            tag.term = term;
            out->tags[out->n++] = tag;
        }
        i = end < text.len ? end + 1 : end;
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
