/*
 * ratelimit_test.c - herald/ratelimit.h: one event per key per window,
 * the count of those held back, keys apart, and a bounded table under a
 * flood of distinct keys.
 */
#include "testutil.h"

#include <stdio.h>

#include <herald/ratelimit.h>

#define MIN 60000

static void test_once_per_window(void **state)
{
    (void)state;
    hd_ratelimit *rl = hd_ratelimit_new(64, MIN);
    assert_non_null(rl);
    uint64_t held = 99;
    assert_true(hd_ratelimit_allow(rl, "auth", "192.0.2.1", 1000, &held));
    assert_int_equal(held, 0);
    for (int i = 0; i < 500; i++)
        assert_false(hd_ratelimit_allow(rl, "auth", "192.0.2.1", 1000 + i * 100, NULL));
    /* the window is over: through again, with the count held back */
    assert_true(hd_ratelimit_allow(rl, "auth", "192.0.2.1", 1000 + MIN, &held));
    assert_int_equal(held, 500);
    assert_false(hd_ratelimit_allow(rl, "auth", "192.0.2.1", 1001 + MIN, NULL));
    hd_ratelimit_free(rl);
}

static void test_keys_apart(void **state)
{
    (void)state;
    hd_ratelimit *rl = hd_ratelimit_new(64, MIN);
    assert_true(hd_ratelimit_allow(rl, "auth", "192.0.2.1", 0, NULL));
    assert_true(hd_ratelimit_allow(rl, "auth", "192.0.2.2", 0, NULL));
    assert_true(hd_ratelimit_allow(rl, "nul", "192.0.2.1", 0, NULL));
    assert_true(hd_ratelimit_allow(rl, "emfile", NULL, 0, NULL));
    /* kind and who are not run together: "a"+"bc" is not "ab"+"c" */
    assert_true(hd_ratelimit_allow(rl, "a", "bc", 0, NULL));
    assert_true(hd_ratelimit_allow(rl, "ab", "c", 0, NULL));
    assert_false(hd_ratelimit_allow(rl, "emfile", NULL, 5, NULL));
    assert_false(hd_ratelimit_allow(rl, "auth", "192.0.2.2", 5, NULL));
    hd_ratelimit_free(rl);
}

/* A flood of distinct clients cannot grow the table, and a client seen
 * again after being pushed out is simply let through once more. */
static void test_flood_bounded(void **state)
{
    (void)state;
    hd_ratelimit *rl = hd_ratelimit_new(16, MIN);
    char who[32];
    int through = 0;
    for (int i = 0; i < 100000; i++) {
        snprintf(who, sizeof who, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        through += hd_ratelimit_allow(rl, "x", who, i, NULL);
    }
    assert_int_equal(through, 100000); /* each new key is new */
    /* a key used over and over in the same flood is still held back */
    int again = 0;
    for (int i = 0; i < 1000; i++)
        again += hd_ratelimit_allow(rl, "x", "198.51.100.7", 200000, NULL);
    assert_int_equal(again, 1);
    hd_ratelimit_free(rl);
}

/* A clock that steps back does not silence a key for good. */
static void test_clock_back(void **state)
{
    (void)state;
    hd_ratelimit *rl = hd_ratelimit_new(4, MIN);
    assert_true(hd_ratelimit_allow(rl, "k", NULL, 10 * MIN, NULL));
    assert_true(hd_ratelimit_allow(rl, "k", NULL, 1 * MIN, NULL));
    assert_false(hd_ratelimit_allow(rl, "k", NULL, 1 * MIN + 1, NULL));
    hd_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_once_per_window),
        cmocka_unit_test(test_keys_apart),
        cmocka_unit_test(test_flood_bounded),
        cmocka_unit_test(test_clock_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
