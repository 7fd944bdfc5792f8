/*
 * fuzz_spf_eval.c - a whole check_host() over hostile data: the input is
 * "IP\nSENDER\nZONE TEXT"; the zone fixture serves it (when it parses) and
 * the evaluation must end, within its limits, with a result and a reason.
 */
#include <herald/dns.h>
#include <herald/spf.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t line(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    while (i < n && p[i] != '\n')
        i++;
    size_t k = i < cap - 1 ? i : cap - 1;
    memcpy(out, p, k);
    out[k] = '\0';
    return i < n ? i + 1 : i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ip[64], sender[300];
    size_t o = line(data, size, ip, sizeof ip);
    o += line(data + o, size - o, sender, sizeof sender);
    hd_dns *dns = NULL;
    if (hd_dns_new_zone_text(&dns, hd_slice_make(data + o, size - o), "<fuzz>", NULL) != 0)
        return 0;
    hd_spf_request req = {.ip = ip, .sender = sender, .helo = "helo.example", .now = 1700000000};
    hd_spf *spf = NULL;
    if (hd_spf_new(&req, NULL, &spf, NULL) == 0) {
        if (hd_spf_run(spf, dns, NULL) == 0) {
            const hd_spf_verdict *v = hd_spf_get_verdict(spf);
            if (v->reason[0] == 0 || v->dns_lookups > 11 || v->void_lookups > 3) /* the limit + the refused one */
                abort();
            hd_buf b;
            hd_buf_init(&b, 1 << 16);
            hd_spf_received_spf(spf, &b);
            hd_spf_to_ar(spf, &b);
            hd_buf_free(&b);
        }
        hd_spf_free(spf);
    }
    hd_dns_free(dns);
    return 0;
}
