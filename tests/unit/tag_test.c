/*
 * tag_test.c - the RFC 6376 §3.2 tag-list parser.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <herald/tag.h>

struct tag_case {
    const char *name, *in;
    int want_rc;
    size_t want_n;
    const char *want_tag, *want_value; /* one tag to check, when set */
};

static const struct tag_case tag_cases[] = {
    {"simple", "v=1; a=rsa-sha256", 0, 2, "a", "rsa-sha256"},
    {"trailing semicolon", "v=1; a=x;", 0, 2, "v", "1"},
    {"whitespace and folding around", " v = 1 ;\r\n\tb = abc \r\n def ;", 0, 2, "b", "abc \r\n def"},
    {"empty value", "p=; k=rsa", 0, 2, "p", ""},
    {"empty specs tolerated", "a=1;;b=2; ;", 0, 2, "b", "2"},
    {"underscore and digits in names", "x_1=y", 0, 1, "x_1", "y"},
    {"names are case-sensitive", "A=1; a=2", 0, 2, "a", "2"},
    {"value with equals and colons", "h=from:to; z=a=b", 0, 2, "z", "a=b"},
    {"8-bit value tolerated", "n=caf\xc3\xa9", 0, 1, "n", "caf\xc3\xa9"},
    {"empty input", "", 0, 0, NULL, NULL},
    {"duplicate tag", "a=1; b=2; a=3", HD_ESYNTAX, 0, NULL, NULL},
    {"no equals", "k=rsa; t; p=abc", HD_ESYNTAX, 0, NULL, NULL},
    {"name starts with digit", "1a=x", HD_ESYNTAX, 0, NULL, NULL},
    {"control character", "a=b\x01c", HD_ESYNTAX, 0, NULL, NULL},
    {"space inside name", "a b=c", HD_ESYNTAX, 0, NULL, NULL},
    {"lone CR is not whitespace", "d=exa\rX-Injected:yes", HD_ESYNTAX, 0, NULL, NULL},
    {"lone LF is not whitespace", "d=exa\nmple", HD_ESYNTAX, 0, NULL, NULL},
    {"CRLF without WSP is not folding", "a=1;\r\nb=2", HD_ESYNTAX, 0, NULL, NULL},
};

static void test_tag_table(void **state)
{
    for (size_t i = 0; i < sizeof tag_cases / sizeof tag_cases[0]; i++) {
        const struct tag_case *c = &tag_cases[i];
        hd_taglist t;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_tag_parse(hd_slice_cstr(c->in), &t, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
        if (rc != 0) {
            if (strstr(err.msg, "offset") == NULL)
                fail_msg("%s: error without a position: %s", c->name, err.msg);
            continue;
        }
        if (t.n != c->want_n)
            fail_msg("%s: %zu tags, want %zu", c->name, t.n, c->want_n);
        if (c->want_tag != NULL) {
            const hd_tag *tag = hd_tag_get(&t, c->want_tag);
            if (tag == NULL || !hd_slice_eq_cstr(tag->value, c->want_value))
                fail_msg("%s: tag %s wrong", c->name, c->want_tag);
        }
    }
}

static void test_tag_limit(void **state)
{
    char text[4096] = "";
    size_t o = 0;
    for (int i = 0; i <= HD_LIMIT_TAGS; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "t%d=x;", i);
    hd_taglist t;
    assert_int_equal(hd_tag_parse(hd_slice_cstr(text), &t, NULL), HD_ELIMIT);
}

static void test_tag_value_offsets(void **state)
{
    const char *in = "a=1; b= xy ;c=z";
    hd_taglist t;
    assert_int_equal(hd_tag_parse(hd_slice_cstr(in), &t, NULL), 0);
    const hd_tag *b = hd_tag_get(&t, "b");
    assert_int_equal(b->value_start, 7);      /* just after "b=" */
    assert_int_equal(b->value_end, 11);       /* the ';' */
    assert_true(hd_slice_eq_cstr(b->value, "xy"));
}

static void test_strip_and_split(void **state)
{
    hd_buf out;
    hd_buf_init(&out, 100);
    assert_int_equal(hd_tag_strip_wsp(hd_slice_cstr(" ab\r\n\tc d "), &out), 0);
    assert_string_equal(hd_buf_cstr(&out), "abcd");
    hd_buf_free(&out);
    hd_slice parts[4];
    size_t n = hd_tag_split(hd_slice_cstr("from : to:\r\n subject"), ':', parts, 4);
    assert_int_equal(n, 3);
    assert_true(hd_slice_eq_cstr(parts[0], "from"));
    assert_true(hd_slice_eq_cstr(parts[2], "subject"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_table),
        cmocka_unit_test(test_tag_limit),
        cmocka_unit_test(test_tag_value_offsets),
        cmocka_unit_test(test_strip_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
