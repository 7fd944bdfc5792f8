/*
 * fuzz_arc.c - ARC chain validation of arbitrary bytes: message parsing,
 * ARC field collection and instance checks, AMS and AS tags, hashing, and
 * the ARC test suite's key (plus an Ed25519 key, a revoked key and a
 * timeout) served from a zone fixture, so seals reach the crypto code.
 */
#include <herald/arc.h>
#include <herald/dns.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zone[] =
    "dummy._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB\"\n"
    "ed._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; "
    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
    "revoked._domainkey.example.org. IN TXT \"v=DKIM1; p=\"\n"
    "slow._domainkey.example.org. TIMEOUT\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hd_dns *dns;
    static hd_dkim_keycache *cache;
    if (dns == NULL) {
        if (hd_dns_new_zone_text(&dns, hd_slice_make(zone, strlen(zone)), "<fuzz>", NULL) != 0)
            abort();
        cache = hd_dkim_keycache_new(16, 3600);
    }
    hd_arc_verify_opts o;
    hd_arc_verify_opts_init(&o, 1700000000);
    o.cache = cache;
    hd_arc_verifier *v = NULL;
    if (hd_arc_verifier_new(&o, &v, NULL) != 0)
        abort();
    if (hd_arc_verify_run(v, hd_slice_make(data, size), dns, NULL) == 0) {
        const hd_arc_result *r = hd_arc_verify_result(v);
        if (r->reason[0] == '\0' || r->nsets > 50 || (r->cv == HD_ARC_PASS && r->nsets == 0))
            abort(); /* every verdict says why; a pass has 1..50 sets */
        for (size_t i = 0; i < hd_arc_verify_nsets(v); i++)
            if (hd_arc_verify_set(v, i)->aar == NULL)
                abort();
        hd_buf ar;
        hd_buf_init(&ar, 1 << 16);
        hd_arc_result_to_ar(r, &ar);
        hd_buf_free(&ar);
    }
    hd_arc_verifier_free(v);
    return 0;
}
