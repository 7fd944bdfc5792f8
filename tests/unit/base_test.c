/*
 * base_test.c - buffers, slices, base64 and error values.
 */
#include "testutil.h"

#include <string.h>

#include <herald/base64.h>
#include <herald/buf.h>
#include <herald/err.h>

static void test_buf_grows_and_respects_max(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 10);
    assert_int_equal(hd_buf_append_cstr(&b, "hello"), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "world"), 0);
    assert_string_equal(hd_buf_cstr(&b), "helloworld");
    assert_int_equal(hd_buf_append_byte(&b, '!'), HD_ELIMIT);
    assert_int_equal(b.len, 10);
    assert_int_equal(hd_buf_printf(&b, "%d", 1), HD_ELIMIT);
    hd_buf_reset(&b);
    assert_int_equal(hd_buf_printf(&b, "%s-%d", "ab", 42), 0);
    assert_string_equal(hd_buf_cstr(&b), "ab-42");
    hd_buf_free(&b);
}

static void test_slice_compare(void **state)
{
    assert_true(hd_slice_caseeq_cstr(hd_slice_cstr("From"), "fROM"));
    assert_false(hd_slice_caseeq_cstr(hd_slice_cstr("From"), "Fro"));
    assert_true(hd_slice_eq_cstr(hd_slice_trim_wsp(hd_slice_cstr(" \t a b\r\n")), "a b"));
    assert_int_equal(hd_slice_trim_wsp(hd_slice_cstr(" \r\n")).len, 0);
}

struct b64_case {
    const char *name, *in;
    hd_b64_mode mode;
    int want_rc;
    const char *want; /* decoded bytes (text cases only) */
};

static const struct b64_case b64_cases[] = {
    {"rfc4648 empty", "", HD_B64_STRICT, 0, ""},
    {"rfc4648 f", "Zg==", HD_B64_STRICT, 0, "f"},
    {"rfc4648 fo", "Zm8=", HD_B64_STRICT, 0, "fo"},
    {"rfc4648 foo", "Zm9v", HD_B64_STRICT, 0, "foo"},
    {"rfc4648 foob", "Zm9vYg==", HD_B64_STRICT, 0, "foob"},
    {"rfc4648 fooba", "Zm9vYmE=", HD_B64_STRICT, 0, "fooba"},
    {"rfc4648 foobar", "Zm9vYmFy", HD_B64_STRICT, 0, "foobar"},
    {"dkim folding whitespace", " Zm9v\r\n\tYmFy ", HD_B64_IGNORE_WSP, 0, "foobar"},
    {"wsp between padding", "Zg= =", HD_B64_IGNORE_WSP, 0, "f"},
    {"strict refuses whitespace", "Zm9v YmFy", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"missing padding", "Zm8", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"missing padding dkim", "Zm8", HD_B64_IGNORE_WSP, HD_ESYNTAX, NULL},
    {"truncated lone char", "Zm9vY", HD_B64_IGNORE_WSP, HD_ESYNTAX, NULL},
    {"padding in the middle", "Zg==Zg==", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"three pads", "Z===", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"pad after full group", "Zm9v=", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"bad char", "Zm9*", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"nonzero trailing bits", "Zh==", HD_B64_STRICT, HD_ESYNTAX, NULL},
    {"url-safe alphabet refused", "-_8=", HD_B64_STRICT, HD_ESYNTAX, NULL},
};

static void test_base64_table(void **state)
{
    for (size_t i = 0; i < sizeof b64_cases / sizeof b64_cases[0]; i++) {
        const struct b64_case *c = &b64_cases[i];
        hd_buf out;
        hd_err err;
        hd_err_clear(&err);
        hd_buf_init(&out, 1024);
        int rc = hd_b64_decode(hd_slice_cstr(c->in), c->mode, &out, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
        if (c->want != NULL) {
            assert_int_equal(out.len, strlen(c->want));
            assert_memory_equal(out.p ? out.p : (const uint8_t *)"", c->want, out.len);
        } else {
            assert_int_equal(out.len, 0);
            assert_true(strstr(err.msg, "base64:") != NULL);
        }
        hd_buf_free(&out);
    }
}

static void test_base64_roundtrip(void **state)
{
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof bytes; n++) {
        hd_buf enc, dec;
        hd_buf_init(&enc, 1024);
        hd_buf_init(&dec, 1024);
        assert_int_equal(hd_b64_encode(hd_slice_make(bytes, n), &enc), 0);
        assert_int_equal(enc.len, hd_b64_encoded_len(n));
        assert_int_equal(hd_b64_decode(hd_buf_slice(&enc), HD_B64_STRICT, &dec, NULL), 0);
        assert_int_equal(dec.len, n);
        if (n)
            assert_memory_equal(dec.p, bytes, n);
        hd_buf_free(&enc);
        hd_buf_free(&dec);
    }
}

static void test_error_values(void **state)
{
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_err_set(&err, HD_ESYNTAX, "line %d: bad", 3), HD_ESYNTAX);
    assert_string_equal(err.msg, "line 3: bad");
    hd_err_prefix(&err, "%s: ", "zone.txt");
    assert_string_equal(hd_err_str(&err), "zone.txt: line 3: bad");
    assert_string_equal(hd_err_name(HD_ETEMP), "HD_ETEMP");
    assert_true(HD_ENOMEM < 0 && HD_ESTATE < 0);
    assert_int_equal(hd_err_set(NULL, HD_EIO, "ignored"), HD_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_respects_max),
        cmocka_unit_test(test_slice_compare),
        cmocka_unit_test(test_base64_table),
        cmocka_unit_test(test_base64_roundtrip),
        cmocka_unit_test(test_error_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
