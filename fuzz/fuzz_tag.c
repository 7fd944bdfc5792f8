/*
 * fuzz_tag.c - the tag=value list parser (DKIM, ARC, DMARC records).
 */
#include <herald/tag.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_taglist t;
    hd_err err;
    if (hd_tag_parse(hd_slice_make(data, size), &t, &err) != 0)
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
