/*
 * fuzz_spf_record.c - the SPF record parser (RFC 7208 §4.6, §12).
 */
#include <herald/spf.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_spf_record_check(hd_slice_make(data, size), &err);
    if (rc != 0 && (err.msg[0] == '\0' || memchr(err.msg, '\n', strlen(err.msg)) != NULL))
        abort(); /* every refusal says why, on one line */
    return 0;
}
