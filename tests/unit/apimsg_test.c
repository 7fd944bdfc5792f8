/*
 * apimsg_test.c - the body of POST /v1/messages (herald/apimsg.h): what is
 * accepted becomes the right envelope and message; every refusal names
 * the field at fault.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/apimsg.h>
#include <herald/mail.h>

static const hd_apimsg_opts opts = {.now = 1700000000, .unique = "abc123", .max_bytes = 4096,
                                    .max_recipients = 5};

static int parse(const char *json, hd_apimsg *m, hd_err *err)
{
    return hd_apimsg_parse(hd_slice_cstr(json), &opts, m, err);
}

static bool has(const hd_apimsg *m, const char *needle)
{
    return strstr((const char *)m->message.p, needle) != NULL;
}

static void test_structured(void **state)
{
    (void)state;
    hd_apimsg m;
    hd_err err = {0};
    int rc = parse("{\"from\":{\"name\":\"Zo\\u00eb\",\"address\":\"zoe@example.com\"},"
                   "\"to\":[\"a@example.net\",{\"address\":\"B@example.net\",\"name\":\"B\"}],"
                   "\"cc\":\"c@example.net\",\"bcc\":[\"hidden@example.org\",\"a@EXAMPLE.net\"],"
                   "\"subject\":\"Gr\\u00fc\\u00dfe\",\"text\":\"hello\\n\","
                   "\"headers\":{\"X-Campaign\":\"nov\"},\"tags\":[\"welcome\",\"v2\"],"
                   "\"pool\":\"p1\"}",
                   &m, &err);
    assert_int_equal(rc, 0);
    /* envelope: to, cc, bcc in order; the repeated address (any case) once */
    assert_int_equal(m.n_rcpts, 4);
    assert_string_equal(m.rcpts[0], "a@example.net");
    assert_string_equal(m.rcpts[1], "B@example.net");
    assert_string_equal(m.rcpts[2], "c@example.net");
    assert_string_equal(m.rcpts[3], "hidden@example.org");
    assert_false(m.raw);
    assert_string_equal(m.tags, "[\"welcome\",\"v2\"]");
    assert_string_equal(m.pool, "p1");
    /* RFC 2047 for the name and subject; Bcc never in the header */
    assert_true(has(&m, "From: =?utf-8?"));
    assert_true(has(&m, "<zoe@example.com>"));
    assert_true(has(&m, "Subject: =?utf-8?"));
    assert_true(has(&m, "X-Campaign: nov\r\n"));
    assert_false(has(&m, "hidden@example.org"));
    assert_false(has(&m, "Bcc:"));
    hd_apimsg_free(&m);
}

static void test_raw(void **state)
{
    (void)state;
    hd_apimsg m;
    hd_err err = {0};
    /* LF line ends become CRLF; 8-bit content is flagged */
    assert_int_equal(parse("{\"to\":\"x@example.net\",\"raw\":\"From: a@example.com\\nSubject: "
                           "caf\\u00e9\\n\\nbody\\n\"}", &m, &err), 0);
    assert_true(m.raw);
    assert_true(m.eight_bit);
    assert_int_equal(m.n_rcpts, 1);
    assert_true(has(&m, "From: a@example.com\r\nSubject: caf\xc3\xa9\r\n\r\nbody\r\n"));
    hd_apimsg_free(&m);
    assert_int_equal(parse("{\"to\":\"x@example.net\",\"raw_base64\":"
                           "\"RnJvbTogYUBleGFtcGxlLmNvbQ0KDQpoaQ0K\"}", &m, &err), 0);
    assert_string_equal((const char *)m.message.p, "From: a@example.com\r\n\r\nhi\r\n");
    assert_false(m.eight_bit);
    hd_apimsg_free(&m);
}

typedef struct bad_case {
    const char *json;
    int code;
    const char *says;   /* the error must contain this */
} bad_case;

static void test_refusals(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"{\"from\":\"a@example.com\",", HD_ESYNTAX, "line 1, column"},
        {"[1,2]", HD_EINVAL, "JSON object"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"to\":\"c@example.net\"}",
         HD_ESYNTAX, "duplicate"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"bcc \":\"x@y.z\"}", HD_EINVAL,
         "bcc : unknown field"},
        {"{\"from\":\"a@example.com\",\"text\":\"x\"}", HD_EINVAL, "at least one recipient"},
        {"{\"from\":\"a@example.com\",\"to\":[\"b@example.net\",\"x\\r\\nBcc: e@vil.org\"]}",
         HD_EINVAL, "to[1]: control character"},
        {"{\"from\":{\"address\":\"a@example.com\",\"name\":\"A\\r\\nBcc: e@vil.org\"},"
         "\"to\":\"b@example.net\"}", HD_EINVAL, "from.name"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"subject\":\"x\\ny\"}", HD_EINVAL,
         "subject"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"headers\":{\"X-A\":\"1\\r\\n"
         "Bcc: e@vil.org\"}}", HD_EINVAL, "X-A"},
        {"{\"from\":\"A <a@example.com>\",\"to\":\"b@example.net\"}", HD_EINVAL, "\"name\""},
        {"{\"to\":\"b@example.net\",\"text\":\"x\"}", HD_EINVAL, "from: missing"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@ex..ample.net\"}", HD_EINVAL, "to: domain"},
        {"{\"from\":\"a@example.com\",\"to\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaa@example.net\"}", HD_ELIMIT, "local part"},
        {"{\"from\":\"a@example.com\",\"to\":[\"1@x.net\",\"2@x.net\",\"3@x.net\"],\"cc\":"
         "[\"4@x.net\",\"5@x.net\"],\"bcc\":\"6@x.net\"}", HD_ELIMIT, "6 recipients"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"attachments\":[{\"filename\":"
         "\"a.txt\",\"content\":\"!!!!\"}]}", HD_EINVAL, "attachments[0].content"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"attachments\":[{\"content\":"
         "\"QUJD\",\"size\":3}]}", HD_EINVAL, "attachments[0]: unknown field \"size\""},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"tags\":[\"a b\"]}", HD_EINVAL,
         "tags[0]"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"pool\":\"../x\"}", HD_EINVAL,
         "pool"},
        {"{\"to\":\"b@example.net\",\"raw\":\"From: a@example.com\\r\\n\\r\\nx\",\"subject\":\"s\"}",
         HD_EINVAL, "subject: not with raw"},
        {"{\"to\":\"b@example.net\",\"raw\":\"From: a@example.com\\r\\n\\r\\nx\\r.\\r\\n\"}",
         HD_EINVAL, "raw: a CR not followed by LF"},
        {"{\"to\":\"b@example.net\",\"raw\":\"a\\u0000b\"}", HD_ESYNTAX, "u0000"},
        {"{\"to\":\"b@example.net\",\"raw\":\"x\",\"raw_base64\":\"eA==\"}", HD_EINVAL,
         "not both"},
        {"{\"from\":\"a@example.com\",\"to\":\"b@example.net\",\"text\":7}", HD_EINVAL,
         "text: must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hd_apimsg m;
        hd_err err = {0};
        int rc = parse(cases[i].json, &m, &err);
        if (rc != cases[i].code || !strstr(hd_err_str(&err), cases[i].says))
            fail_msg("case %zu: got %d \"%s\", want %d with \"%s\"", i, rc, hd_err_str(&err),
                     cases[i].code, cases[i].says);
        hd_apimsg_free(&m);
    }
}

/* Sizes: the cap holds for raw and composed messages and attachments. */
static void test_limits(void **state)
{
    (void)state;
    char *big = malloc(8192);
    assert_non_null(big);
    size_t o = (size_t)snprintf(big, 8192, "{\"to\":\"b@example.net\",\"raw\":\"");
    memset(big + o, 'x', 5000);
    snprintf(big + o + 5000, 8192 - o - 5000, "\"}");
    hd_apimsg m;
    hd_err err = {0};
    assert_int_equal(parse(big, &m, &err), HD_ELIMIT);
    assert_non_null(strstr(hd_err_str(&err), "raw: 5000 bytes"));
    hd_apimsg_free(&m);
    o = (size_t)snprintf(big, 8192, "{\"from\":\"a@example.com\",\"to\":\"b@example.net\","
                                    "\"attachments\":[{\"content\":\"");
    memset(big + o, 'Q', 6000);
    snprintf(big + o + 6000, 8192 - o - 6000, "\"}]}");
    assert_int_equal(parse(big, &m, &err), HD_ELIMIT);
    assert_non_null(strstr(hd_err_str(&err), "attachments[0].content"));
    hd_apimsg_free(&m);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_structured),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
