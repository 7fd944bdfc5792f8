/*
 * mime_test.c - the MIME reader: Content-Type parameters, multipart
 * walking, limits and transfer decodings.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/mime.h>

struct param_case {
    const char *name, *ctype, *param;
    int want_rc;
    const char *want; /* value when want_rc == 0 */
};

static const struct param_case param_cases[] = {
    {"token", "multipart/mixed; boundary=abc", "boundary", 0, "abc"},
    {"quoted with escape", "text/plain; name=\"a \\\"b\\\" c\"", "name", 0, "a \"b\" c"},
    {"name case-insensitive", "text/plain; CharSet=utf-8", "charset", 0, "utf-8"},
    {"comments and folding", "multipart/report (x);\r\n\treport-type = delivery-status (y)",
     "report-type", 0, "delivery-status"},
    {"loose unquoted value", "multipart/alternative; boundary=----=_Part_1", "boundary", 0,
     "----=_Part_1"},
    {"trailing semicolon", "text/plain; a=1;", "a", 0, "1"},
    {"absent", "text/plain; a=1", "b", HD_ENOTFOUND, NULL},
    {"rfc2231 extended", "application/x; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun",
     "title", 0, "This is ***fun"},
    {"rfc2231 continuations", "application/x; url*0=\"ftp://\"; url*1=\"cs.utk.edu/pub\"", "url",
     0, "ftp://cs.utk.edu/pub"},
    {"rfc2231 mixed sections out of order",
     "application/x; t*1*=%2A%2A; t*0*=us-ascii'en'a%20b; t*2=\"c\"", "t", 0, "a b**c"},
    {"rfc2231 gap stops the join", "application/x; t*0=a; t*2=c", "t", 0, "a"},
    {"no value is an error", "text/plain; a=", "a", HD_ESYNTAX, NULL},
    {"no equals is an error", "text/plain; a", "a", HD_ESYNTAX, NULL},
};

static void test_params(void **state)
{
    for (size_t i = 0; i < sizeof param_cases / sizeof param_cases[0]; i++) {
        const struct param_case *c = &param_cases[i];
        hd_mime_ctype ct;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_mime_ctype_parse(hd_slice_cstr(c->ctype), &ct, &err);
        if (rc == 0) {
            hd_buf b;
            hd_buf_init(&b, 1000);
            rc = hd_mime_param(&ct, c->param, &b, &err);
            if (rc == 0 && strcmp(hd_buf_cstr(&b), c->want) != 0)
                fail_msg("%s: got \"%s\" want \"%s\"", c->name, hd_buf_cstr(&b), c->want);
            hd_buf_free(&b);
        } else if (strstr(err.msg, "offset") == NULL) {
            fail_msg("%s: error without a position: %s", c->name, err.msg);
        }
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
    }
}

static void test_ctype_syntax(void **state)
{
    hd_mime_ctype ct;
    hd_err err;
    assert_int_equal(hd_mime_ctype_parse(hd_slice_cstr(" Multipart / Report ; a=b"), &ct, &err),
                     0);
    assert_true(hd_mime_ctype_is(&ct, "multipart", "report"));
    assert_false(hd_mime_ctype_is(&ct, "multipart", "mixed"));
    assert_int_equal(hd_mime_ctype_parse(hd_slice_cstr("text"), &ct, &err), HD_ESYNTAX);
    assert_non_null(strstr(err.msg, "offset 4"));
    assert_int_equal(hd_mime_ctype_parse(hd_slice_cstr("text/plain (open"), &ct, &err),
                     HD_ESYNTAX);
}

static hd_mime *parse_ok(const char *text)
{
    hd_mime *m = NULL;
    hd_err err;
    int rc = hd_mime_parse(hd_slice_cstr(text), NULL, &m, &err);
    if (rc != 0)
        fail_msg("parse: %s", err.msg);
    return m;
}

static void assert_body(const hd_mime *m, size_t i, const char *want)
{
    const hd_mime_part *p = hd_mime_part_at(m, i);
    assert_non_null(p);
    if (!hd_slice_eq_cstr(p->body, want))
        fail_msg("part %zu body \"%.*s\" want \"%s\"", i, (int)p->body.len, (const char *)p->body.p,
                 want);
}

static const char nested[] =
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble, ignored\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "\r\n"
    "plain\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>html</p>\r\n"
    "--inner--\r\n"
    "--outer \r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "--outerX is not a delimiter\r\n"
    "last\r\n"
    "--outer--\r\n"
    "epilogue, ignored\r\n";

static void test_nested(void **state)
{
    hd_mime *m = parse_ok(nested);
    assert_int_equal(hd_mime_nparts(m), 5);
    assert_int_equal(hd_mime_part_at(m, 0)->nchildren, 2);
    assert_int_equal(hd_mime_part_at(m, 1)->depth, 1);
    assert_int_equal(hd_mime_part_at(m, 1)->nchildren, 2);
    assert_int_equal(hd_mime_part_at(m, 2)->parent, 1);
    assert_int_equal(hd_mime_part_at(m, 2)->depth, 2);
    assert_true(hd_mime_ctype_is(&hd_mime_part_at(m, 2)->ctype, "text", "plain")); /* default */
    assert_body(m, 2, "plain");
    assert_body(m, 3, "<p>html</p>");
    assert_int_equal(hd_mime_part_at(m, 4)->parent, 0);
    assert_body(m, 4, "--outerX is not a delimiter\r\nlast");
    assert_int_equal(hd_mime_find(m, "text", "html", 0), 3);
    assert_int_equal(hd_mime_flags(m), 0);
    /* offsets locate the part in the input */
    const hd_mime_part *p = hd_mime_part_at(m, 3);
    assert_memory_equal(nested + p->offset, "Content-Type: text/html", 23);
    hd_mime_free(m);
}

static void test_missing_close_and_bare_lf(void **state)
{
    hd_mime *m = parse_ok("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n");
    assert_int_equal(hd_mime_nparts(m), 3);
    assert_body(m, 1, "one");
    assert_body(m, 2, "two\n");
    assert_true(hd_mime_flags(m) & HD_MIME_NO_CLOSE);
    hd_mime_free(m);

    m = parse_ok("Content-Type: multipart/mixed; boundary=b\r\n\r\nno delimiter here\r\n");
    assert_int_equal(hd_mime_nparts(m), 1);
    assert_true(hd_mime_flags(m) & HD_MIME_NO_DELIMITER);
    hd_mime_free(m);

    m = parse_ok("Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
    assert_int_equal(hd_mime_nparts(m), 1);
    assert_true(hd_mime_flags(m) & HD_MIME_NO_BOUNDARY);
    hd_mime_free(m);

    m = parse_ok("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\nx\r\n--b--");
    assert_int_equal(hd_mime_nparts(m), 3);
    assert_body(m, 1, "");
    assert_body(m, 2, "x");
    assert_int_equal(hd_mime_flags(m), 0);
    hd_mime_free(m);
}

static void test_bad_ctype_defaults_to_text(void **state)
{
    hd_mime *m = parse_ok("Content-Type: garbage\r\n\r\nbody");
    assert_true(hd_mime_ctype_is(&hd_mime_part_at(m, 0)->ctype, "text", "plain"));
    assert_true(hd_mime_flags(m) & HD_MIME_BAD_CTYPE);
    hd_mime_free(m);
}

static void test_encapsulated_message(void **state)
{
    hd_mime *m = parse_ok("Content-Type: multipart/report; boundary=r\r\n\r\n"
                          "--r\r\n\r\nhuman\r\n"
                          "--r\r\nContent-Type: message/rfc822\r\n\r\n"
                          "Message-ID: <x@y>\r\nSubject: hi\r\n\r\noriginal body\r\n"
                          "--r--\r\n");
    assert_int_equal(hd_mime_nparts(m), 4);
    assert_int_equal(hd_mime_part_at(m, 3)->parent, 2);
    const hd_msg *h = hd_mime_part_header(m, 3);
    size_t f = hd_msg_find(h, "Message-ID", 0);
    assert_true(f != (size_t)-1);
    assert_true(hd_slice_eq_cstr(hd_slice_trim_wsp(hd_msg_field(h, f)->value), "<x@y>"));
    assert_body(m, 3, "original body");
    hd_mime_free(m);
}

static void test_digest_default(void **state)
{
    hd_mime *m = parse_ok("Content-Type: multipart/digest; boundary=d\r\n\r\n"
                          "--d\r\n\r\nSubject: one\r\n\r\nbody\r\n--d--\r\n");
    assert_true(hd_mime_ctype_is(&hd_mime_part_at(m, 1)->ctype, "message", "rfc822"));
    assert_int_equal(hd_mime_nparts(m), 3);
    hd_mime_free(m);
}

/* n nested multiparts, each with one child. */
static char *depth_bomb(unsigned n)
{
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(hd_buf_printf(&b, "Content-Type: multipart/mixed; boundary=b%u\r\n\r\n--b%u\r\n", i, i), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "\r\nleaf\r\n"), 0);
    size_t len;
    return (char *)hd_buf_steal(&b, &len);
}

static void test_depth_limit(void **state)
{
    char *ok = depth_bomb(HD_MIME_MAX_DEPTH);
    hd_mime *m = parse_ok(ok);
    assert_int_equal(hd_mime_nparts(m), HD_MIME_MAX_DEPTH + 1);
    hd_mime_free(m);
    free(ok);

    char *bomb = depth_bomb(HD_MIME_MAX_DEPTH + 1);
    hd_err err;
    m = NULL;
    assert_int_equal(hd_mime_parse(hd_slice_cstr(bomb), NULL, &m, &err), HD_ELIMIT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "at byte"));
    free(bomb);

    /* encapsulated messages count as nesting too */
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    for (int i = 0; i < 100; i++)
        assert_int_equal(hd_buf_append_cstr(&b, "Content-Type: message/rfc822\r\n\r\n"), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "Subject: x\r\n\r\nbody"), 0);
    assert_int_equal(hd_mime_parse(hd_buf_slice(&b), NULL, &m, &err), HD_ELIMIT);
    hd_buf_free(&b);
}

static void test_part_limit(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    assert_int_equal(hd_buf_append_cstr(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n"), 0);
    for (int i = 0; i < HD_MIME_MAX_PARTS; i++)
        assert_int_equal(hd_buf_append_cstr(&b, "--p\r\n\r\nx\r\n"), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "--p--\r\n"), 0);
    hd_mime *m = NULL;
    hd_err err;
    assert_int_equal(hd_mime_parse(hd_buf_slice(&b), NULL, &m, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "parts"));
    /* a smaller configured limit applies, one fewer part passes */
    hd_mime_limits lim = {0, HD_MIME_MAX_PARTS + 1, false};
    assert_int_equal(hd_mime_parse(hd_buf_slice(&b), &lim, &m, &err), 0);
    assert_int_equal(hd_mime_nparts(m), HD_MIME_MAX_PARTS + 1);
    hd_mime_free(m);
    hd_buf_free(&b);
}

struct dec_case {
    const char *name;
    int qp;
    const char *in;
    int want_rc;
    const char *want;
};

static const struct dec_case dec_cases[] = {
    {"b64 plain", 0, "aGVsbG8gd29ybGQ=", 0, "hello world"},
    {"b64 folded with junk", 0, "aGVs\r\nbG8g*d29y\r\nbGQ=\r\n", 0, "hello world"},
    {"b64 no padding", 0, "aGk", 0, "hi"},
    {"b64 data after padding ignored", 0, "aGk=aGk=", 0, "hi"},
    {"b64 lone sextet", 0, "aGVsb", HD_ESYNTAX, NULL},
    {"qp hex and soft break", 1, "caf=C3=A9 =\r\nau lait\r\n", 0, "caf\xc3\xa9 au lait\r\n"},
    {"qp trailing space dropped", 1, "a  \r\nb\t\n", 0, "a\r\nb\n"},
    {"qp malformed equals kept", 1, "1=2 and =Z9 and =", 0, "1=2 and =Z9 and "},
    {"qp lowercase hex", 1, "=e9", 0, "\xe9"},
};

static void test_decoders(void **state)
{
    for (size_t i = 0; i < sizeof dec_cases / sizeof dec_cases[0]; i++) {
        const struct dec_case *c = &dec_cases[i];
        hd_buf b;
        hd_buf_init(&b, 1000);
        hd_err err;
        hd_err_clear(&err);
        int rc = c->qp ? hd_mime_decode_qp(hd_slice_cstr(c->in), &b, &err)
                       : hd_mime_decode_base64(hd_slice_cstr(c->in), &b, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
        if (rc == 0 && strcmp(hd_buf_cstr(&b), c->want) != 0)
            fail_msg("%s: got \"%s\"", c->name, hd_buf_cstr(&b));
        if (rc != 0 && strstr(err.msg, "offset") == NULL)
            fail_msg("%s: error without a position: %s", c->name, err.msg);
        hd_buf_free(&b);
    }
}

static void test_decode_part_and_cap(void **state)
{
    hd_mime *m = parse_ok("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                          "--b\r\nContent-Transfer-Encoding: BASE64 \r\n\r\naGVsbG8=\r\n"
                          "--b\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b--\r\n");
    hd_buf b;
    hd_buf_init(&b, 4);
    hd_err err;
    assert_int_equal(hd_mime_decode(hd_mime_part_at(m, 1), &b, &err), HD_ELIMIT);
    hd_buf_free(&b);
    hd_buf_init(&b, 5);
    assert_int_equal(hd_mime_decode(hd_mime_part_at(m, 1), &b, &err), 0);
    assert_string_equal(hd_buf_cstr(&b), "hello");
    assert_int_equal(hd_mime_decode(hd_mime_part_at(m, 2), &b, &err), HD_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "x-uuencode"));
    hd_buf_free(&b);
    hd_mime_free(m);
}

static void test_bad_part_header(void **state)
{
    const char *in = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                     "--b\r\nnot a header line\r\n\r\nx\r\n--b--\r\n";
    hd_mime *m = NULL;
    hd_err err;
    assert_int_equal(hd_mime_parse(hd_slice_cstr(in), NULL, &m, &err), HD_ESYNTAX);
    assert_non_null(strstr(err.msg, "at byte 50"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_ctype_syntax),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_missing_close_and_bare_lf),
        cmocka_unit_test(test_bad_ctype_defaults_to_text),
        cmocka_unit_test(test_encapsulated_message),
        cmocka_unit_test(test_digest_default),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_part_limit),
        cmocka_unit_test(test_decoders),
        cmocka_unit_test(test_decode_part_and_cap),
        cmocka_unit_test(test_bad_part_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
