/*
 * apikey_test.c - HTTP API keys: create, verify, scope, revoke, and every
 * way a token can be wrong giving the same refusal.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/apikey.h>
#include <herald/store.h>

static hd_store *st;
static char *dir;

static int setup(void **state)
{
    char path[4096];
    dir = tu_mkdtemp();
    snprintf(path, sizeof path, "%s/herald.db", dir);
    hd_err err = {0};
    if (hd_store_open(path, false, &st, &err) != 0)
        fail_msg("open: %s", err.msg);
    hd_store_domain d = {.created = 1};
    snprintf(d.name, sizeof d.name, "example.com");
    snprintf(d.bounce_domain, sizeof d.bounce_domain, "bounce.example.com");
    assert_int_equal(hd_store_domain_add(st, &d, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    hd_store_close(st);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static void test_create_verify(void **state)
{
    char token[HD_APIKEY_TOKEN_MAX];
    hd_err err = {0};
    assert_int_equal(hd_apikey_create(st, "app-1", "example.com", 100, token, sizeof token, &err), 0);
    assert_int_equal(strlen(token), 3 + 16 + 1 + 52);
    assert_memory_equal(token, "hk_", 3);
    hd_store_apikey k;
    assert_int_equal(hd_apikey_verify(st, token, &k, &err), 0);
    assert_string_equal(k.name, "app-1");
    assert_true(hd_apikey_allows(&k, "example.com"));
    assert_true(hd_apikey_allows(&k, "EXAMPLE.com"));
    assert_false(hd_apikey_allows(&k, "other.org"));
    assert_false(hd_apikey_allows(&k, "example.co"));
    /* the secret itself is not stored */
    assert_null(strstr(k.secret_hash, token + 20));
    assert_int_equal(strlen(k.secret_hash), 64);
}

static void test_wrong_tokens(void **state)
{
    char token[HD_APIKEY_TOKEN_MAX], bad[HD_APIKEY_TOKEN_MAX];
    hd_err err = {0};
    assert_int_equal(hd_apikey_create(st, "app", "*", 100, token, sizeof token, &err), 0);
    hd_store_apikey k;
    const char *cases[] = {"", "hk_", "Bearer x", "hk_0123456789abcdef_short"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(hd_apikey_verify(st, cases[i], &k, &err), HD_EINVAL);
        assert_string_equal(err.msg, "invalid API key");
    }
    /* every single-character change of the token is refused */
    for (size_t i = 0; i < strlen(token); i++) {
        snprintf(bad, sizeof bad, "%s", token);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        if (strcmp(bad, token) == 0)
            continue;
        assert_int_equal(hd_apikey_verify(st, bad, &k, &err), HD_EINVAL);
    }
    /* a '*' key allows any domain */
    assert_int_equal(hd_apikey_verify(st, token, &k, &err), 0);
    assert_true(hd_apikey_allows(&k, "anything.test"));
    /* revoked: refused the same way */
    assert_int_equal(hd_store_apikey_revoke(st, "app", 200, &err), 0);
    assert_int_equal(hd_apikey_verify(st, token, &k, &err), HD_EINVAL);
    assert_string_equal(err.msg, "invalid API key");
    assert_int_equal(hd_store_apikey_revoke(st, "app", 300, &err), HD_ENOTFOUND);
}

static void test_create_refusals(void **state)
{
    char token[HD_APIKEY_TOKEN_MAX];
    hd_err err = {0};
    assert_int_equal(hd_apikey_create(st, "bad name", "*", 1, token, sizeof token, &err), HD_EINVAL);
    assert_int_equal(hd_apikey_create(st, "", "*", 1, token, sizeof token, &err), HD_EINVAL);
    assert_int_equal(hd_apikey_create(st, "k", "nosuch.test", 1, token, sizeof token, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "nosuch.test"));
    assert_int_equal(hd_apikey_create(st, "k", "", 1, token, sizeof token, &err), HD_EINVAL);
    assert_int_equal(hd_apikey_create(st, "k", "*", 1, token, sizeof token, &err), 0);
    assert_int_equal(hd_apikey_create(st, "k", "*", 1, token, sizeof token, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "already exists"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
