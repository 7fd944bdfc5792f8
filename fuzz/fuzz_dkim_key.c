/*
 * fuzz_dkim_key.c - DKIM key record parsing (tags, base64 p=, DER keys).
 */
#include "auth/dkim/dkim_keyrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dkim_keyrec *k = dkim_keyrec_parse(hd_slice_make(data, size));
    dkim_keyrec_release(k);
    return 0;
}
