/*
 * fuzz_mime.c - the MIME reader: Content-Type, multipart walking and the
 * transfer decodings, over one message.
 */
#include <herald/mime.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const hd_mime *m, size_t i, const uint8_t *data, size_t size)
{
    const hd_mime_part *p = hd_mime_part_at(m, i);
    /* every slice lies inside the input, and the tree is well formed */
    if (p->raw.len > 0 && (p->raw.p < data || p->raw.p + p->raw.len > data + size))
        abort();
    if (p->body.len > 0 && (p->body.p < p->raw.p || p->body.p + p->body.len > p->raw.p + p->raw.len))
        abort();
    if (p->offset > size || p->depth > HD_MIME_MAX_DEPTH)
        abort();
    if (i > 0 && (p->parent >= i || hd_mime_part_at(m, p->parent)->depth + 1 != p->depth))
        abort();
    hd_buf b;
    hd_buf_init(&b, 1 << 16);
    hd_err err;
    (void)hd_mime_decode(p, &b, &err);
    hd_buf_reset(&b);
    (void)hd_mime_param(&p->ctype, "boundary", &b, &err);
    hd_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_mime *m = NULL;
    hd_err err;
    if (hd_mime_parse(hd_slice_make(data, size), NULL, &m, &err) != 0)
        return 0;
    if (hd_mime_nparts(m) == 0 || hd_mime_nparts(m) > HD_MIME_MAX_PARTS)
        abort();
    for (size_t i = 0; i < hd_mime_nparts(m); i++)
        check_part(m, i, data, size);
    hd_mime_free(m);
    return 0;
}
