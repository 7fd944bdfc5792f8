/*
 * fuzz_httphead.c - an HTTP request head read for its framing: the end is
 * found inside the input, a parse of it never reads past it, an accepted
 * head's slices lie inside it, a refusal carries a status.
 */
#include <herald/httphead.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_slice in = hd_slice_make(data, size);
    size_t end = hd_httphead_end(in);
    if (end > size)
        abort();
    hd_httphead h;
    hd_err err = {0};
    int rc = hd_httphead_parse(hd_slice_make(data, end ? end : size), &h, &err);
    if (rc && h.status != 400 && h.status != 411)
        abort();
    if (!rc && (h.method.p < data || h.method.p + h.method.len > data + size || h.method.len == 0))
        abort();
    if (!rc && h.authorization.p &&
        (h.authorization.p < data || h.authorization.p + h.authorization.len > data + size))
        abort();
    return 0;
}
