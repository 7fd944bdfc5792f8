/*
 * fuzz_domain_keycheck.c - hd_domain_key_check on TXT records from the
 * DNS (anyone who controls a zone writes them).
 *
 * The input is up to four TXT records separated by NUL bytes; the first
 * byte chooses the key (even: RSA, odd: Ed25519). The check must give a
 * verdict with a reason for anything but a match, name the record in it,
 * and call a match only when every record holds a p= (the key's bytes).
 * The record herald itself prints for the key must always match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/domain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 4

static const char RSA_P[] = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";
static const char ED_P[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

/* A 'p', blanks (RFC 6376 §3.2: FWS around '='), then '='. */
static bool has_p(hd_slice t)
{
    for (size_t i = 0; i < t.len; i++) {
        if (t.p[i] != 'p')
            continue;
        size_t j = i + 1;
        while (j < t.len && (t.p[j] == ' ' || t.p[j] == '\t' || t.p[j] == '\r' || t.p[j] == '\n'))
            j++;
        if (j < t.len && t.p[j] == '=')
            return true;
    }
    return false;
}

static void check(const hd_store_key *k, const hd_slice *txt, size_t n,
                  hd_domain_dns_check *out)
{
    hd_dns_rr rr[MAX_RECORDS];
    memset(rr, 0, sizeof rr);
    for (size_t i = 0; i < n; i++) {
        rr[i].type = HD_DNS_T_TXT;
        rr[i].txt = (uint8_t *)txt[i].p;
        rr[i].txt_len = txt[i].len;
        rr[i].txt_strings = 1;
    }
    hd_dns_answer ans;
    memset(&ans, 0, sizeof ans);
    ans.qname = (char *)"fz._domainkey.example.com";
    ans.qtype = HD_DNS_T_TXT;
    ans.status = HD_DNS_OK;
    ans.rr = rr;
    ans.nrr = n;
    hd_domain_key_check(k, &ans, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 8192)
        return 0;
    hd_store_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.domain, sizeof k.domain, "example.com");
    snprintf(k.selector, sizeof k.selector, "fz");
    bool rsa = (data[0] & 1) == 0;
    snprintf(k.alg, sizeof k.alg, "%s", rsa ? "rsa" : "ed25519");
    k.public_b64 = (char *)(rsa ? RSA_P : ED_P);
    k.state = HD_STORE_KEY_PENDING;

    hd_slice txt[MAX_RECORDS];
    size_t n = 0, start = 1;
    for (size_t i = 1; i <= size && n < MAX_RECORDS; i++)
        if (i == size || data[i] == 0) {
            txt[n++] = (hd_slice){data + start, i - start};
            start = i + 1;
        }
    hd_domain_dns_check c;
    check(&k, txt, n, &c);
    if (memchr(c.why, '\0', sizeof c.why) == NULL)
        abort();
    if (c.status == HD_DOMAIN_DNS_MATCH) {
        for (size_t i = 0; i < n; i++)
            if (!has_p(txt[i]))
                abort();
    } else if (c.status != HD_DOMAIN_DNS_MISMATCH) {
        abort();
    } else if (c.why[0] == '\0' || strstr(c.why, "fz._domainkey.example.com") == NULL) {
        abort();
    }

    /* what herald prints for the key matches */
    char own[200];
    snprintf(own, sizeof own, "v=DKIM1; k=%s; p=%s", rsa ? "rsa" : "ed25519", k.public_b64);
    hd_slice mine = hd_slice_cstr(own);
    check(&k, &mine, 1, &c);
    if (c.status != HD_DOMAIN_DNS_MATCH)
        abort();
    return 0;
}
