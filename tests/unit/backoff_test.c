/*
 * backoff_test.c - herald/backoff.h: a destination's pause after trouble
 * doubles from 5 s and stops at 1 min when no host answered (a recovered
 * host gets mail within a minute), at 5 min when a receiver pushed back.
 */
#include "testutil.h"

#include <herald/backoff.h>

static void test_schedule(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned troubles;
        hd_backoff_cause cause;
        int64_t want;
    } cases[] = {
        {"no trouble counted is one", 0, HD_BACKOFF_UNREACHABLE, 5},
        {"refused once", 1, HD_BACKOFF_UNREACHABLE, 5},
        {"refused twice", 2, HD_BACKOFF_UNREACHABLE, 10},
        {"refused 4 times", 4, HD_BACKOFF_UNREACHABLE, 40},
        {"refused 5 times: the cap", 5, HD_BACKOFF_UNREACHABLE, 60},
        {"refused for hours", 1000, HD_BACKOFF_UNREACHABLE, 60},
        {"refused past any shift", 4000000000u, HD_BACKOFF_UNREACHABLE, 60},
        {"421 once", 1, HD_BACKOFF_PUSHBACK, 5},
        {"421 5 times", 5, HD_BACKOFF_PUSHBACK, 80},
        {"421 6 times", 6, HD_BACKOFF_PUSHBACK, 160},
        {"421 7 times: the cap", 7, HD_BACKOFF_PUSHBACK, 300},
        {"421 for hours", 1000, HD_BACKOFF_PUSHBACK, 300},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t got = hd_backoff_pause(cases[i].troubles, cases[i].cause);
        if (got != cases[i].want)
            fail_msg("%s: %lld s, want %lld s", cases[i].name, (long long)got,
                     (long long)cases[i].want);
    }
}

/* Never shorter after more trouble, never past the cap, never above the
 * push-back schedule for an unreachable host. */
static void test_monotone(void **state)
{
    (void)state;
    int64_t last[2] = {0, 0};
    for (unsigned t = 1; t < 100; t++) {
        int64_t u = hd_backoff_pause(t, HD_BACKOFF_UNREACHABLE);
        int64_t p = hd_backoff_pause(t, HD_BACKOFF_PUSHBACK);
        assert_true(u >= last[0] && u <= HD_BACKOFF_UNREACHABLE_MAX);
        assert_true(p >= last[1] && p <= HD_BACKOFF_PUSHBACK_MAX);
        assert_true(u <= p);
        last[0] = u;
        last[1] = p;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_monotone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
