/*
 * dns_cache_test.c - the answer cache: TTLs, negative answers, temporary
 * failures never kept, the bound, case-insensitive names.
 */
#include "testutil.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <herald/dns.h>

static hd_dns_answer *answer(const char *name, uint16_t type, hd_dns_status st, uint32_t ttl)
{
    hd_dns_answer *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->qname = strdup(name);
    a->qtype = type;
    a->status = st;
    a->ttl = ttl;
    if (st == HD_DNS_OK) {
        a->nrr = 1;
        a->rr = calloc(1, sizeof *a->rr);
        a->rr[0].type = type;
        a->rr[0].ttl = ttl;
        a->rr[0].txt = (uint8_t *)strdup("v=spf1 -all");
        a->rr[0].txt_len = 11;
        a->rr[0].txt_strings = 1;
    }
    return a;
}

static void test_ttl_and_kinds(void **state)
{
    hd_dns_cache *c = hd_dns_cache_new(16, 3600, 60);
    hd_dns_answer *ok = answer("Example.COM", HD_DNS_T_TXT, HD_DNS_OK, 10);
    hd_dns_answer *nx = answer("nx.example.com", HD_DNS_T_A, HD_DNS_NXDOMAIN, 0);
    hd_dns_answer *tmp = answer("slow.example.com", HD_DNS_T_A, HD_DNS_TIMEOUT, 300);
    assert_int_equal(hd_dns_cache_put(c, ok, 100), 0);
    assert_int_equal(hd_dns_cache_put(c, nx, 100), 0);
    assert_int_equal(hd_dns_cache_put(c, tmp, 100), 0);
    hd_dns_answer_free(ok);
    hd_dns_answer_free(nx);
    hd_dns_answer_free(tmp);

    const hd_dns_answer *a = hd_dns_cache_get(c, "example.com", HD_DNS_T_TXT, 105);
    assert_non_null(a); /* names are case-insensitive; the copy is deep */
    assert_int_equal(a->nrr, 1);
    assert_memory_equal(a->rr[0].txt, "v=spf1 -all", 11);
    assert_null(hd_dns_cache_get(c, "example.com", HD_DNS_T_A, 105));   /* other type */
    assert_null(hd_dns_cache_get(c, "example.com", HD_DNS_T_TXT, 110)); /* TTL over */
    /* negative answer without TTL: kept for neg_ttl */
    assert_non_null(hd_dns_cache_get(c, "nx.example.com", HD_DNS_T_A, 159));
    assert_null(hd_dns_cache_get(c, "nx.example.com", HD_DNS_T_A, 160));
    /* temporary failures are never kept */
    assert_null(hd_dns_cache_get(c, "slow.example.com", HD_DNS_T_A, 100));
    hd_dns_cache_free(c);
}

static void test_max_ttl_and_bound(void **state)
{
    hd_dns_cache *c = hd_dns_cache_new(4, 50, 10);
    hd_dns_answer *a = answer("long.example.com", HD_DNS_T_TXT, HD_DNS_OK, 86400);
    assert_int_equal(hd_dns_cache_put(c, a, 0), 0);
    hd_dns_answer_free(a);
    assert_non_null(hd_dns_cache_get(c, "long.example.com", HD_DNS_T_TXT, 49));
    assert_null(hd_dns_cache_get(c, "long.example.com", HD_DNS_T_TXT, 50)); /* capped */
    /* many more names than entries: memory stays bounded, newest kept */
    char name[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "n%d.example.com", i);
        a = answer(name, HD_DNS_T_TXT, HD_DNS_OK, 300);
        assert_int_equal(hd_dns_cache_put(c, a, 0), 0);
        hd_dns_answer_free(a);
    }
    assert_non_null(hd_dns_cache_get(c, "n999.example.com", HD_DNS_T_TXT, 1));
    size_t kept = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "n%d.example.com", i);
        kept += hd_dns_cache_get(c, name, HD_DNS_T_TXT, 1) != NULL;
    }
    assert_true(kept >= 1 && kept <= 4);
    hd_dns_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttl_and_kinds),
        cmocka_unit_test(test_max_ttl_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
