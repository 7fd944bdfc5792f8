/*
 * fuzz_tag.c - the tag=value list parser (DKIM, ARC, DMARC records), strict
 * and tolerant.
 */
#include <herald/tag.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The tolerant parse: every kept tag and dropped term lies inside the
 * input, in order, none overlapping; a strict success drops nothing. */
static void tolerant(const uint8_t *data, size_t size, bool strict_ok)
{
    hd_taglist t;
    hd_tag_drops d;
    if (hd_tag_parse_tolerant(hd_slice_make(data, size), &t, &d, NULL) != 0)
        return;
    if (t.n + d.n > HD_LIMIT_TAGS || (strict_ok && d.n != 0))
        abort();
    for (size_t i = 0; i < d.n; i++)
        if (d.d[i].text.p < data || d.d[i].text.p + d.d[i].text.len > data + size ||
            d.d[i].offset >= size || d.d[i].term == 0 || (i > 0 && d.d[i].term <= d.d[i - 1].term) ||
            memchr(d.d[i].text.p, ';', d.d[i].text.len) != NULL)
            abort();
    for (size_t i = 1; i < t.n; i++)
        if (t.tags[i].term <= t.tags[i - 1].term)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_taglist t;
    hd_err err;
    int rc = hd_tag_parse(hd_slice_make(data, size), &t, &err);
    tolerant(data, size, rc == 0);
    if (rc != 0)
        return 0;
    for (size_t i = 0; i < t.n; i++) {
        /* every slice lies inside the input, and the offsets agree */
        const hd_tag *tag = &t.tags[i];
        if (tag->name.p < data || tag->name.p + tag->name.len > data + size ||
            tag->value_end > size || tag->value_start > tag->value_end)
            abort();
        hd_slice parts[16];
        hd_tag_split(tag->value, ':', parts, 16);
        hd_buf b;
        hd_buf_init(&b, size + 1);
        if (hd_tag_strip_wsp(tag->value, &b) != 0)
            abort();
        hd_buf_free(&b);
    }
    return 0;
}
