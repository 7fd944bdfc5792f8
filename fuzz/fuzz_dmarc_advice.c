/*
 * fuzz_dmarc_advice.c - the DMARC advice of `herald domain add`
 * (hd_domain_dmarc_advise) fed a published TXT set as DNS gives it: the
 * input split at NUL bytes into up to 8 records. Checks: an extension
 * keeps the policy and adds exactly herald's report address; nothing else
 * is ever suggested beside an existing record.
 */
#include <herald/dmarc.h>
#include <herald/domain.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_slice texts[8];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 8; i++)
        if (i == size || data[i] == 0) {
            texts[n++] = hd_slice_make(data + start, i - start);
            start = i + 1;
        }
    hd_domain_dmarc_live live = {HD_DOMAIN_DMARC_PRESENT, NULL, "example.com", texts, n};
    hd_domain_dmarc_advice a;
    if (hd_domain_dmarc_advise("example.com", "bounce.example.com", &live, &a, NULL) != 0)
        abort(); /* good names: never an error */
    if (a.action == HD_DOMAIN_DMARC_EXTEND) {
        hd_dmarc_record before, after;
        if (a.current == NULL || a.value == NULL ||
            hd_dmarc_record_parse(hd_slice_cstr(a.current), &before, NULL) != 0 ||
            hd_dmarc_record_parse(hd_slice_cstr(a.value), &after, NULL) != 0)
            abort();
        if (before.p != after.p || before.sp != after.sp || before.np != after.np ||
            before.testing != after.testing || strstr(a.value, a.rua) == NULL)
            abort();
    }
    if (a.action == HD_DOMAIN_DMARC_PUBLISH || a.action == HD_DOMAIN_DMARC_UNCHECKED) {
        /* p=none only where no DMARC record is published */
        for (size_t i = 0; i < n; i++) {
            hd_dmarc_record r;
            if (hd_dmarc_record_parse(texts[i], &r, NULL) == 0)
                abort();
        }
    }
    hd_domain_dmarc_advice_free(&a);
    return 0;
}
