/*
 * webhook_test.c - webhook bodies and signatures: a known-answer vector
 * computed with Python's hmac module, round trips, and every way a header
 * can be wrong (bad signature, stale or future timestamp, malformed).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <herald/webhook.h>

#define SECRET "whsec_0123456789abcdef0123456789abcdef"
#define T0 1795766400 /* 2026-11-27T08:00:00Z */

static const uint8_t *secret = (const uint8_t *)SECRET;
static const size_t secret_len = sizeof SECRET - 1;

static void test_known_answer(void **state)
{
    char sig[HD_WEBHOOK_SIG_MAX];
    hd_err err = {0};
    /* python3: hmac.new(SECRET, b'1795766400.{"id":1}', sha256).hexdigest() */
    assert_int_equal(hd_webhook_sign(secret, secret_len, T0, hd_slice_cstr("{\"id\":1}"), sig,
                                     sizeof sig, &err), 0);
    assert_string_equal(sig, "t=1795766400,v1="
                             "94a49a8832b1ab0d058e305b682acabd8f094f82178d4ddf852fbe3c01f768c7");
    assert_int_equal(hd_webhook_verify(secret, secret_len, hd_slice_cstr(sig),
                                       hd_slice_cstr("{\"id\":1}"), T0 + 10, 300, &err), 0);
}

typedef struct bad_case {
    const char *name;
    const char *header;
    int64_t now;
    int want;
} bad_case;

static void test_rejections(void **state)
{
    char good[HD_WEBHOOK_SIG_MAX], other[HD_WEBHOOK_SIG_MAX], both[300], tampered[300];
    hd_err err = {0};
    hd_slice body = hd_slice_cstr("{\"id\":7,\"type\":\"delivered\"}");
    assert_int_equal(hd_webhook_sign(secret, secret_len, T0, body, good, sizeof good, &err), 0);
    const char *other_secret = "another-secret-another-secret-another-secret";
    assert_int_equal(hd_webhook_sign((const uint8_t *)other_secret, strlen(other_secret), T0, body,
                                     other, sizeof other, &err), 0);
    /* a rotated secret: two v1 values, one matches */
    snprintf(both, sizeof both, "%s,%s", other, strchr(good, ',') + 1);
    snprintf(tampered, sizeof tampered, "%s", good);
    tampered[strlen(tampered) - 1] = tampered[strlen(tampered) - 1] == '0' ? '1' : '0';
    assert_int_equal(hd_webhook_verify(secret, secret_len, hd_slice_cstr(both), body, T0, 300,
                                       &err), 0);
    const bad_case cases[] = {
        {"other secret", other, T0, HD_EINVAL},
        {"one hex digit changed", tampered, T0, HD_EINVAL},
        {"stale", good, T0 + 301, HD_EINVAL},
        {"from the future", good, T0 - 301, HD_EINVAL},
        {"no t", "v1=94a49a8832b1ab0d058e305b682acabd8f094f82178d4ddf852fbe3c01f768c7", T0,
         HD_ESYNTAX},
        {"no v1", "t=1795766400", T0, HD_ESYNTAX},
        {"t twice", "t=1,t=1795766400,v1=94a49a8832b1ab0d058e305b682acabd8f094f82178d4ddf852fbe3c01f768c7",
         T0, HD_ESYNTAX},
        {"t not digits", "t=-5,v1=94a49a8832b1ab0d058e305b682acabd8f094f82178d4ddf852fbe3c01f768c7",
         T0, HD_ESYNTAX},
        {"short v1", "t=1795766400,v1=94a4", T0, HD_ESYNTAX},
        {"upper-case v1", "t=1795766400,v1=94A49A8832B1AB0D058E305B682ACABD8F094F82178D4DDF852FBE3C01F768C7",
         T0, HD_ESYNTAX},
        {"empty", "", T0, HD_ESYNTAX},
        {"no equals", "t1795766400", T0, HD_ESYNTAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_err_clear(&err);
        int rc = hd_webhook_verify(secret, secret_len, hd_slice_cstr(cases[i].header), body,
                                   cases[i].now, 300, &err);
        if (rc != cases[i].want)
            fail_msg("%s: got %d (%s), want %d", cases[i].name, rc, err.msg, cases[i].want);
        assert_true(err.msg[0] != '\0');
    }
    /* the body is signed too */
    assert_int_equal(hd_webhook_verify(secret, secret_len, hd_slice_cstr(good),
                                       hd_slice_cstr("{\"id\":8,\"type\":\"delivered\"}"), T0,
                                       300, &err), HD_EINVAL);
    /* short secrets are refused on both sides */
    assert_int_equal(hd_webhook_sign((const uint8_t *)"short", 5, T0, body, good, sizeof good,
                                     &err), HD_EINVAL);
}

static void test_payload(void **state)
{
    hd_store_event e = {.id = 123, .at_ms = (int64_t)T0 * 1000 + 123, .duration_ms = 12};
    snprintf(e.type, sizeof e.type, "delivered");
    snprintf(e.message, sizeof e.message, "0123456789abcdef0123456789abcdef");
    snprintf(e.recipient, sizeof e.recipient, "bob@example.net");
    snprintf(e.reply, sizeof e.reply, "250 ok \xff\xfe");  /* not UTF-8 */
    snprintf(e.tls, sizeof e.tls, "TLSv1.3");
    e.detail = (char *)"{\"dkim\":\"pass\"}";
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    hd_err err = {0};
    assert_int_equal(hd_webhook_payload(&e, "example.com", &b, &err), 0);
    json_t *j = json_loadb((const char *)b.p, b.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 123);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "delivered");
    assert_string_equal(json_string_value(json_object_get(j, "at")), "2026-11-27T08:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "domain")), "example.com");
    assert_string_equal(json_string_value(json_object_get(j, "recipient")), "bob@example.net");
    assert_string_equal(json_string_value(json_object_get(j, "reply")), "250 ok ??");
    assert_int_equal(json_integer_value(json_object_get(j, "duration_ms")), 12);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "detail"), "dkim")),
                        "pass");
    assert_null(json_object_get(j, "remote_host"));   /* empty: left out */
    json_decref(j);
    /* no message, no duration, detail that is not JSON */
    hd_store_event e2 = {.id = 5, .at_ms = 0, .duration_ms = -1, .detail = (char *)"plain"};
    snprintf(e2.type, sizeof e2.type, "suppressed");
    assert_int_equal(hd_webhook_payload(&e2, NULL, &b, &err), 0);
    assert_string_equal(hd_buf_cstr(&b),
                        "{\"id\":5,\"type\":\"suppressed\",\"at\":\"1970-01-01T00:00:00.000Z\","
                        "\"detail\":\"plain\"}");
    /* the cap holds */
    hd_buf small;
    hd_buf_init(&small, 16);
    assert_int_equal(hd_webhook_payload(&e, "example.com", &small, &err), HD_ELIMIT);
    hd_buf_free(&small);
    hd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
