/*
 * fuzz_domain_zone.c - the zone text hd_domain_records_zone() writes for
 * the records a sandbox or an operator publishes.
 *
 * The input is a name, a NUL byte, then a TXT value of any bytes (without
 * NUL), also used as the purpose comment. When the name is one herald
 * could publish, the record is written as zone
 * text, which must parse with the zone fixture and answer the query for
 * that name with exactly the value given (escaping and 255-byte splitting
 * are right for every byte).
 */
#include <stdlib.h>
#include <string.h>

#include <herald/dns.h>
#include <herald/domain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A record owner as herald makes them: LDH labels or ones with '_'
 * (_dmarc, _domainkey), 1..63 bytes each, 253 in all, two labels or more. */
static bool owner_ok(const char *s)
{
    size_t len = strlen(s), label = 0, labels = 1;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            labels++;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_') ||
            ++label > 63)
            return false;
    }
    return label > 0 && labels >= 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (nul == NULL || size > 8192)
        return 0;
    size_t nlen = (size_t)(nul - data), vlen = size - nlen - 1;
    if (memchr(nul + 1, 0, vlen) != NULL)
        return 0;
    char *in = malloc(nlen + 1), *value = malloc(vlen + 1);
    memcpy(in, data, nlen);
    in[nlen] = '\0';
    memcpy(value, nul + 1, vlen);
    value[vlen] = '\0';
    if (owner_ok(in)) {
        char *name = in;
        hd_domain_record r = {HD_DOMAIN_REC_SPF, name, "TXT", value, value};
        hd_buf text;
        hd_buf_init(&text, 1 << 20);
        hd_dns *dns = NULL;
        hd_dns_answer *ans = NULL;
        if (hd_domain_records_zone(&r, 1, &text) != 0 ||
            hd_dns_new_zone_text(&dns, hd_buf_slice(&text), "<fuzz>", NULL) != 0 ||
            hd_dns_query(dns, name, HD_DNS_T_TXT, &ans, NULL) != 0 || ans->status != HD_DNS_OK ||
            ans->nrr != 1 || ans->rr[0].txt_len != vlen ||
            memcmp(ans->rr[0].txt, value, vlen) != 0)
            abort();
        hd_dns_answer_free(ans);
        hd_dns_free(dns);
        hd_buf_free(&text);
    }
    free(in);
    free(value);
    return 0;
}
