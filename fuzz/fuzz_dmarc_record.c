/*
 * fuzz_dmarc_record.c - the DMARC record parser (RFC 9989 §4.7, §4.8).
 */
#include <herald/dmarc.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_dmarc_record r;
    if (hd_dmarc_record_parse(hd_slice_make(data, size), &r, NULL) != 0)
        return 0;
    if (r.nrua > HD_DMARC_MAX_URIS || r.nruf > HD_DMARC_MAX_URIS ||
        r.nproblems > HD_DMARC_MAX_PROBLEMS)
        abort();
    for (size_t i = 0; i < r.nproblems; i++)
        if (memchr(r.problems[i], '\n', strlen(r.problems[i])) != NULL)
            abort(); /* problems are single printable lines */
    return 0;
}
