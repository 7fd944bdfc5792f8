/*
 * fuzz_dkim_verify.c - DKIM verification of arbitrary bytes: message
 * parsing, signature tags, canonicalization, hashing, and the key records
 * of RFC 8463 Appendix A served from a zone fixture (plus a revoked key,
 * a timeout and a SERVFAIL), so signatures reach the crypto code.
 */
#include <herald/dkim.h>
#include <herald/dns.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zone[] =
    "brisbane._domainkey.football.example.com. IN TXT \"v=DKIM1; k=ed25519; "
    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
    "test._domainkey.football.example.com. IN TXT \"v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB\"\n"
    "revoked._domainkey.football.example.com. IN TXT \"v=DKIM1; p=\"\n"
    "slow._domainkey.football.example.com. TIMEOUT\n"
    "broken._domainkey.football.example.com. SERVFAIL\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hd_dns *dns;
    static hd_dkim_keycache *cache;
    if (dns == NULL) {
        if (hd_dns_new_zone_text(&dns, hd_slice_make(zone, strlen(zone)), "<fuzz>", NULL) != 0)
            abort();
        cache = hd_dkim_keycache_new(16, 3600);
    }
    hd_dkim_verify_opts o;
    hd_dkim_verify_opts_init(&o, 1528637909 + 60);
    o.cache = cache;
    hd_dkim_verifier *v = NULL;
    if (hd_dkim_verifier_new(&o, &v, NULL) != 0)
        abort();
    if (hd_dkim_verify_run(v, hd_slice_make(data, size), dns, NULL) == 0) {
        hd_buf ar;
        hd_buf_init(&ar, 1 << 16);
        for (size_t i = 0; i < hd_dkim_verify_count(v); i++) {
            const hd_dkim_result *r = hd_dkim_verify_result(v, i);
            if (r->reason[0] == '\0')
                abort(); /* every result says why */
            hd_buf_reset(&ar);
            hd_dkim_result_to_ar(r, &ar);
        }
        hd_buf_free(&ar);
    }
    hd_dkim_verifier_free(v);
    return 0;
}
