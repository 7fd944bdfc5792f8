/*
 * json_test.c - herald/json.h: outside text made JSON-safe without losing
 * what is well-formed; instants as RFC 3339 UTC with milliseconds.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <herald/json.h>

static void check_text(const char *in, const char *want)
{
    json_t *j = hd_json_text(in);
    assert_non_null(j);
    assert_string_equal(json_string_value(j), want);
    json_decref(j);
}

static void test_text(void **state)
{
    (void)state;
    check_text("plain 250 2.0.0 Ok", "plain 250 2.0.0 Ok");
    check_text("caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93");          /* kept */
    check_text("caf\xe9 ok \xc3\xa9", "caf? ok \xc3\xa9");                       /* Latin-1 byte */
    check_text("\xc0\xaf", "??");                   /* overlong '/' (RFC 3629 §10) */
    check_text("\xed\xa0\x80", "???");              /* a UTF-16 surrogate */
    check_text("\xf4\x90\x80\x80", "????");         /* over U+10FFFF */
    check_text("cut \xe2\x9c", "cut ??");           /* a sequence cut short */
    check_text("", "");
}

static void test_time(void **state)
{
    (void)state;
    char s[HD_JSON_TIME_LEN];
    hd_json_time(0, s);
    assert_string_equal(s, "1970-01-01T00:00:00.000Z");
    hd_json_time(1795766400123LL, s);
    assert_string_equal(s, "2026-11-27T08:00:00.123Z");
    hd_json_time(-1, s);                            /* before 1970: milliseconds stay positive */
    assert_string_equal(s, "1969-12-31T23:59:59.999Z");
}

static void test_time_secs(void **state)
{
    (void)state;
    char s[HD_JSON_TIME_LEN];
    hd_json_time_secs(1795766400, s);
    assert_string_equal(s, "2026-11-27T08:00:00Z");   /* no fraction: the source has none */
    json_t *o = json_object();
    assert_int_equal(hd_json_set_time(o, "created", 1795766400), 0);
    assert_int_equal(hd_json_set_time(o, "revoked", 0), 0);
    assert_string_equal(json_string_value(json_object_get(o, "created")), "2026-11-27T08:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(o, "created_unix")), 1795766400);
    assert_true(json_is_null(json_object_get(o, "revoked")));
    assert_true(json_is_null(json_object_get(o, "revoked_unix")));
    json_decref(o);
    json_t *v = hd_json_time_ms_value(1795766400123LL);
    assert_string_equal(json_string_value(v), "2026-11-27T08:00:00.123Z");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_secs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
