/*
 * fuzz_verdict.c - a receiver's whole verdict on arbitrary bytes: the
 * connection read from Received and Return-Path, SPF, DKIM (RFC 8463
 * Appendix A keys), ARC and DMARC against a zone fixture with records,
 * a timeout and a SERVFAIL; then the Authentication-Results field (which
 * must build: it parses itself back), the JSON (which must parse) and the
 * diagnosis.
 */
#include <herald/verdict.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zone[] =
    "brisbane._domainkey.football.example.com. IN TXT \"v=DKIM1; k=ed25519; "
    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n"
    "football.example.com. IN TXT \"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net ~all\"\n"
    "_spf.example.net. IN TXT \"v=spf1 ip6:2001:db8::/32 -all\"\n"
    "_dmarc.football.example.com. IN TXT \"v=DMARC1; p=reject; sp=quarantine\"\n"
    "_dmarc.example.org. IN TXT \"v=DMARC1; p=none; adkim=s\"\n"
    "slow.example. TIMEOUT\n"
    "_dmarc.slow.example. TIMEOUT\n"
    "broken.example. SERVFAIL\n";

static void check_outputs(const hd_verdict *v)
{
    hd_buf out;
    hd_buf_init(&out, 1 << 20);
    if (hd_verdict_ar(v, "mx.fuzz.test", &out, NULL) != 0)
        abort(); /* a field that does not parse back is a herald bug */
    hd_buf_reset(&out);
    if (hd_verdict_json(v, "mx.fuzz.test", true, &out, NULL) != 0)
        abort();
    json_t *o = json_loads(hd_buf_cstr(&out), 0, NULL);
    if (o == NULL || json_object_get(o, "authentication_results") == NULL)
        abort();
    json_decref(o);
    hd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hd_dns *dns;
    if (dns == NULL && hd_dns_new_zone_text(&dns, hd_slice_make(zone, strlen(zone)), "<fuzz>", NULL) != 0)
        abort();
    hd_slice msg = hd_slice_make(data, size);
    hd_verdict_facts f;
    if (hd_verdict_facts_from_message(msg, &f, NULL) != 0)
        return 0;
    hd_verdict_request req = {.ip = f.have_ip ? f.ip : "192.0.2.1",
                              .helo = f.helo,
                              .mail_from = f.have_mail_from ? f.mail_from : "joe@football.example.com",
                              .facts_from_message = true,
                              .now = 1528637909 + 60,
                              .arc = true};
    hd_verdict *v = NULL;
    if (hd_verdict_run(&req, msg, dns, &v, NULL) == 0) {
        check_outputs(v);
        hd_verdict_free(v);
    } else if (v != NULL) {
        abort();
    }
    return 0;
}
