/*
 * mail_test.c - header section parsing (hd_msg_*) and line-end helpers
 * (hd_mail_*): fields, folding, line ends, body, flags, errors, limits.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/limits.h>
#include <herald/mail.h>

#define NOT_FOUND ((size_t)-1)

struct fv {
    const char *name, *value;
};

struct msg_case {
    const char *name;
    const char *in;
    size_t len;       /* 0: strlen(in) */
    int rc;
    const char *err;  /* exact error message when rc != 0 */
    unsigned flags;   /* exact flags when rc == 0 */
    size_t nfields;
    struct fv f[4];   /* the first fields' names and values */
    const char *body;
};

static const struct msg_case msg_cases[] = {
    {"CRLF message", "From: a@x\r\nTo: b@y\r\n\r\nhello\r\n", 0, 0, NULL, 0, 2,
     {{"From", " a@x"}, {"To", " b@y"}}, "hello\r\n"},
    {"bare LF message", "From: a\nTo: b\n\nbody\n", 0, 0, NULL, HD_MSG_BARE_LF, 2,
     {{"From", " a"}, {"To", " b"}}, "body\n"},
    {"mixed CRLF and LF line ends", "A: 1\r\nB: 2\n\r\nbody", 0, 0, NULL, HD_MSG_BARE_LF, 2,
     {{"A", " 1"}, {"B", " 2"}}, "body"},
    {"LF empty line after CRLF fields", "A: 1\r\n\nbody\r\n", 0, 0, NULL, HD_MSG_BARE_LF, 1,
     {{"A", " 1"}}, "body\r\n"},
    {"folded field keeps its inner line ends",
     "Subject: one\r\n two\r\n\tthree\r\nX: y\r\n\r\n", 0, 0, NULL, 0, 2,
     {{"Subject", " one\r\n two\r\n\tthree"}, {"X", " y"}}, ""},
    {"folding with bare LF", "Subject: one\n two\n\nb", 0, 0, NULL, HD_MSG_BARE_LF, 1,
     {{"Subject", " one\n two"}}, "b"},
    {"whitespace-only continuation line (obs-FWS)", "A: 1\r\n   \r\nB: 2\r\n\r\n", 0, 0, NULL,
     0, 2, {{"A", " 1\r\n   "}, {"B", " 2"}}, ""},
    {"obsolete WSP before the colon", "Subject \t: hi\r\n\r\n", 0, 0, NULL, HD_MSG_OBS_SYNTAX, 1,
     {{"Subject", " hi"}}, ""},
    {"empty value", "A:\r\nB:\r\n\r\n", 0, 0, NULL, 0, 2, {{"A", ""}, {"B", ""}}, ""},
    {"value without space after colon", "A:x\r\n\r\n", 0, 0, NULL, 0, 1, {{"A", "x"}}, ""},
    {"colon inside the value", "Received: from a (b:c) by d\r\n\r\n", 0, 0, NULL, 0, 1,
     {{"Received", " from a (b:c) by d"}}, ""},
    {"header without body", "A: 1\r\nB: 2\r\n", 0, 0, NULL, HD_MSG_NO_BODY, 2,
     {{"A", " 1"}, {"B", " 2"}}, ""},
    {"empty body", "A: 1\r\n\r\n", 0, 0, NULL, 0, 1, {{"A", " 1"}}, ""},
    {"last field without line end", "A: 1\r\nB: 2", 0, 0, NULL, HD_MSG_NO_BODY, 2,
     {{"A", " 1"}, {"B", " 2"}}, ""},
    {"folded last field without line end", "A: 1\r\n 2", 0, 0, NULL, HD_MSG_NO_BODY, 1,
     {{"A", " 1\r\n 2"}}, ""},
    {"empty input", "", 0, 0, NULL, HD_MSG_NO_BODY, 0, {{NULL, NULL}}, ""},
    {"empty line first: no fields, all body", "\r\nbody\r\n", 0, 0, NULL, 0, 0, {{NULL, NULL}},
     "body\r\n"},
    {"body keeps further empty lines", "A: 1\r\n\r\n\r\nx\r\n", 0, 0, NULL, 0, 1, {{"A", " 1"}},
     "\r\nx\r\n"},
    {"8-bit bytes in a header value", "Subject: caf\xc3\xa9\r\n\r\n", 0, 0, NULL,
     HD_MSG_8BIT_HEADER, 1, {{"Subject", " caf\xc3\xa9"}}, ""},
    {"8-bit bytes in a long value past the 8-byte fast path",
     "Subject: aaaaaaaaaaaaaaaaaaaaaaaa\xff\r\n\r\n", 0, 0, NULL, HD_MSG_8BIT_HEADER, 1,
     {{"Subject", " aaaaaaaaaaaaaaaaaaaaaaaa\xff"}}, ""},
    {"8-bit bytes in the body only", "A: 1\r\n\r\ncaf\xc3\xa9", 0, 0, NULL, 0, 1, {{"A", " 1"}},
     "caf\xc3\xa9"},
    {"bare CR inside a header value is data", "A: x\ry\r\n\r\n", 0, 0, NULL, HD_MSG_BARE_CR, 1,
     {{"A", " x\ry"}}, ""},
    {"CR CR LF keeps one CR in the value", "A: 1\r\r\n\r\n", 0, 0, NULL, HD_MSG_BARE_CR, 1,
     {{"A", " 1\r"}}, ""},
    {"trailing CR at end of input is data", "A: 1\r", 0, 0, NULL,
     HD_MSG_BARE_CR | HD_MSG_NO_BODY, 1, {{"A", " 1\r"}}, ""},
    {"bare CR in the body", "A: 1\r\n\r\nx\ry\r\n", 0, 0, NULL, HD_MSG_BARE_CR, 1,
     {{"A", " 1"}}, "x\ry\r\n"},
    {"bare CR at the end of the body", "A: 1\r\n\r\nx\r", 0, 0, NULL, HD_MSG_BARE_CR, 1,
     {{"A", " 1"}}, "x\r"},
    {"bare LF in the body only", "A: 1\r\n\r\nx\ny\r\n", 0, 0, NULL, HD_MSG_BARE_LF, 1,
     {{"A", " 1"}}, "x\ny\r\n"},
    {"LF as the body's first byte is bare", "A: 1\r\n\r\n\nx", 0, 0, NULL, HD_MSG_BARE_LF, 1,
     {{"A", " 1"}}, "\nx"},
    {"NUL in the body is allowed", "A: 1\r\n\r\nx\0y", 11, 0, NULL, 0, 1, {{"A", " 1"}}, NULL},
    {"field name with every allowed punctuation", "X-!#$%&'*+-.^_`|~: v\r\n\r\n", 0, 0, NULL,
     0, 1, {{"X-!#$%&'*+-.^_`|~", " v"}}, ""},

    {"continuation before the first field", " A: 1\r\n\r\n", 0, HD_ESYNTAX,
     "line 1: continuation line before the first field", 0, 0, {{NULL, NULL}}, NULL},
    {"tab continuation before the first field", "\tA: 1\r\n", 0, HD_ESYNTAX,
     "line 1: continuation line before the first field", 0, 0, {{NULL, NULL}}, NULL},
    {"line without a colon", "A: 1\r\nnocolon\r\n\r\n", 0, HD_ESYNTAX,
     "line 2: header line without a colon", 0, 0, {{NULL, NULL}}, NULL},
    {"words before the colon", "A: 1\r\nnot a field: x\r\n\r\n", 0, HD_ESYNTAX,
     "line 2: expected ':' after the field name 'not'", 0, 0, {{NULL, NULL}}, NULL},
    {"mbox From_ line is not a field", "From a@b Mon Jan  1 00:00:00 2024\nA: 1\n", 0,
     HD_ESYNTAX, "line 1: expected ':' after the field name 'From'", 0, 0, {{NULL, NULL}}, NULL},
    {"8-bit byte in a field name", "A: 1\r\nX\x80Y: z\r\n", 0, HD_ESYNTAX,
     "line 2: byte 0x80 at column 2 is not allowed in a field name", 0, 0, {{NULL, NULL}},
     NULL},
    {"control byte in a field name", "X\x01: z\r\n", 0, HD_ESYNTAX,
     "line 1: byte 0x01 at column 2 is not allowed in a field name", 0, 0, {{NULL, NULL}},
     NULL},
    {"DEL in a field name", "X\x7f: z\r\n", 0, HD_ESYNTAX,
     "line 1: byte 0x7f at column 2 is not allowed in a field name", 0, 0, {{NULL, NULL}},
     NULL},
    {"lone CR after the last line end", "A: 1\r\n\r", 0, HD_ESYNTAX,
     "line 2: byte 0x0d at column 1 is not allowed in a field name", 0, 0, {{NULL, NULL}},
     NULL},
    {"NUL in a header value", "A: 1\r\nB: x\0y\r\n\r\n", 16, HD_ESYNTAX,
     "line 2: NUL byte in the header at column 5", 0, 0, {{NULL, NULL}}, NULL},
    {"NUL in a field name", "A\0: 1\r\n\r\n", 9, HD_ESYNTAX,
     "line 1: NUL byte in the header at column 2", 0, 0, {{NULL, NULL}}, NULL},
    {"NUL in a continuation line", "A: 1\r\n \0\r\n\r\n", 12, HD_ESYNTAX,
     "line 2: NUL byte in the header at column 2", 0, 0, {{NULL, NULL}}, NULL},
    {"empty field name", ": x\r\n\r\n", 0, HD_ESYNTAX, "line 1: empty field name", 0, 0,
     {{NULL, NULL}}, NULL},
};

static void check_msg_case(const struct msg_case *c)
{
    size_t len = c->len ? c->len : strlen(c->in);
    hd_msg *m = (hd_msg *)1;
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_msg_parse(hd_slice_make(c->in, len), NULL, &m, &err);
    if (rc != c->rc)
        fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->rc, err.msg);
    if (rc != 0) {
        if (m != NULL)
            fail_msg("%s: output not NULL on error", c->name);
        if (strcmp(err.msg, c->err) != 0)
            fail_msg("%s: error \"%s\" want \"%s\"", c->name, err.msg, c->err);
        return;
    }
    if (hd_msg_flags(m) != c->flags)
        fail_msg("%s: flags 0x%x want 0x%x", c->name, hd_msg_flags(m), c->flags);
    if (hd_msg_nfields(m) != c->nfields)
        fail_msg("%s: %zu fields want %zu", c->name, hd_msg_nfields(m), c->nfields);
    for (size_t i = 0; i < c->nfields && i < 4 && c->f[i].name != NULL; i++) {
        const hd_hdr_field *f = hd_msg_field(m, i);
        if (!hd_slice_eq_cstr(f->name, c->f[i].name) || !hd_slice_eq_cstr(f->value, c->f[i].value))
            fail_msg("%s: field %zu is '%.*s' '%.*s'", c->name, i, (int)f->name.len,
                     (const char *)f->name.p, (int)f->value.len, (const char *)f->value.p);
    }
    hd_slice body = hd_msg_body(m);
    if (c->body != NULL && !hd_slice_eq_cstr(body, c->body))
        fail_msg("%s: body '%.*s' want '%s'", c->name, (int)body.len, (const char *)body.p,
                 c->body);
    if (hd_msg_body_offset(m) + body.len != len)
        fail_msg("%s: body offset %zu + %zu != %zu", c->name, hd_msg_body_offset(m), body.len,
                 len);
    hd_msg_free(m);
}

static void test_msg_parse_table(void **state)
{
    for (size_t i = 0; i < sizeof msg_cases / sizeof msg_cases[0]; i++)
        check_msg_case(&msg_cases[i]);
}

/* Slices point into the input; raw, raw_eol and line are exact; fields and
 * their line ends tile the header. */
static void test_msg_raw_slices_are_exact(void **state)
{
    static const char in[] = "From: a\r\nSubject: x\r\n y\nX-Obs : z\r\nLast: w\r\n\r\nbody";
    hd_msg *m;
    assert_int_equal(hd_msg_parse(hd_slice_cstr(in), NULL, &m, NULL), 0);
    assert_int_equal(hd_msg_nfields(m), 4);
    static const struct {
        const char *raw;
        size_t eol, line;
        size_t name_len;
    } want[] = {
        {"From: a", 2, 1, 4},
        {"Subject: x\r\n y", 1, 2, 7},
        {"X-Obs : z", 2, 4, 5},
        {"Last: w", 2, 5, 4},
    };
    const uint8_t *at = (const uint8_t *)in;
    for (size_t i = 0; i < 4; i++) {
        const hd_hdr_field *f = hd_msg_field(m, i);
        assert_ptr_equal(f->raw.p, at);
        assert_true(hd_slice_eq_cstr(f->raw, want[i].raw));
        assert_int_equal(f->raw_eol, f->raw.len + want[i].eol);
        assert_int_equal(f->line, want[i].line);
        assert_ptr_equal(f->name.p, f->raw.p);
        assert_int_equal(f->name.len, want[i].name_len);
        assert_ptr_equal(f->value.p + f->value.len, f->raw.p + f->raw.len);
        at += f->raw_eol;
    }
    assert_null(hd_msg_field(m, 4));
    assert_int_equal(hd_msg_body_offset(m), (size_t)(at - (const uint8_t *)in) + 2);
    assert_ptr_equal(hd_msg_body(m).p, (const uint8_t *)in + hd_msg_body_offset(m));
    assert_int_equal(hd_msg_flags(m), HD_MSG_BARE_LF | HD_MSG_OBS_SYNTAX);
    hd_msg_free(m);

    /* the last field without a line end: raw_eol == raw.len */
    assert_int_equal(hd_msg_parse(hd_slice_cstr("A: 1\nB: 2"), NULL, &m, NULL), 0);
    assert_int_equal(hd_msg_field(m, 1)->raw_eol, hd_msg_field(m, 1)->raw.len);
    assert_int_equal(hd_msg_field(m, 0)->raw_eol, hd_msg_field(m, 0)->raw.len + 1);
    assert_int_equal(hd_msg_body_offset(m), 9);
    assert_int_equal(hd_msg_body(m).len, 0);
    hd_msg_free(m);
}

struct limit_case {
    const char *name;
    hd_msg_limits lim;
    const char *in;
    int rc;
    const char *err;
};

static const struct limit_case limit_cases[] = {
    {"fields at the limit", {2, 0, 0, false}, "A: 1\r\nB: 2\r\n\r\n", 0, NULL},
    {"one field too many", {2, 0, 0, false}, "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", HD_ELIMIT,
     "line 3: more than 2 header fields"},
    {"field bytes at the limit (line end counted)", {0, 6, 0, false}, "A: 1\r\n\r\n", 0, NULL},
    {"field one byte too long", {0, 6, 0, false}, "A: 12\r\n\r\n", HD_ELIMIT,
     "line 1: header field longer than 6 bytes"},
    {"folding counts toward the field limit", {0, 10, 0, false}, "A: 1\r\n 23\r\n\r\n", HD_ELIMIT,
     "line 2: header field longer than 10 bytes"},
    {"header bytes at the limit (empty line counted)", {0, 0, 14, false}, "A: 1\r\nB: 2\r\n\r\nbody",
     0, NULL},
    {"header one byte too long", {0, 0, 13, false}, "A: 1\r\nB: 2\r\n\r\nbody", HD_ELIMIT,
     "line 3: header section longer than 13 bytes"},
    {"one long line past the header limit", {0, 0, 8, false}, "Subject: 0123456789", HD_ELIMIT,
     "line 1: header section longer than 8 bytes"},
    {"header-only input at the limit", {0, 0, 10, false}, "Subject: 0", 0, NULL},
};

static void test_msg_limits_table(void **state)
{
    for (size_t i = 0; i < sizeof limit_cases / sizeof limit_cases[0]; i++) {
        const struct limit_case *c = &limit_cases[i];
        hd_msg *m = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_msg_parse(hd_slice_cstr(c->in), &c->lim, &m, &err);
        if (rc != c->rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->rc, err.msg);
        if (c->err != NULL && strcmp(err.msg, c->err) != 0)
            fail_msg("%s: error \"%s\" want \"%s\"", c->name, err.msg, c->err);
        hd_msg_free(m);
    }
}

/* Zero limits mean the limits.h defaults. */
static void test_msg_default_field_limit(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1u << 20);
    /* header_only: the body's bare LF is not looked for */
    {
        hd_msg_limits ho = {0, 0, 0, true};
        hd_msg *h = NULL;
        assert_int_equal(hd_msg_parse(hd_slice_cstr("A: 1\r\n\r\nbody\nmore\r\n"), &ho, &h, NULL), 0);
        assert_false(hd_msg_flags(h) & HD_MSG_BARE_LF);
        hd_msg_free(h);
        assert_int_equal(hd_msg_parse(hd_slice_cstr("A: 1\r\n\r\nbody\nmore\r\n"), NULL, &h, NULL), 0);
        assert_true(hd_msg_flags(h) & HD_MSG_BARE_LF);
        hd_msg_free(h);
    }
    for (int i = 0; i < HD_LIMIT_HEADER_FIELDS; i++)
        assert_int_equal(hd_buf_append_cstr(&b, "X: y\r\n"), 0);
    hd_msg_limits zero = {0, 0, 0, false};
    hd_msg *m;
    assert_int_equal(hd_msg_parse(hd_buf_slice(&b), &zero, &m, NULL), 0);
    assert_int_equal(hd_msg_nfields(m), HD_LIMIT_HEADER_FIELDS);
    assert_int_equal(hd_msg_count(m, "x"), HD_LIMIT_HEADER_FIELDS);
    hd_msg_free(m);
    assert_int_equal(hd_buf_append_cstr(&b, "X: y\r\n"), 0);
    hd_err err;
    assert_int_equal(hd_msg_parse(hd_buf_slice(&b), NULL, &m, &err), HD_ELIMIT);
    assert_string_equal(err.msg, "line 1001: more than 1000 header fields");
    hd_buf_free(&b);
}

static void test_msg_find_and_count_ignore_case(void **state)
{
    static const char in[] = "From: a\r\nDKIM-Signature: 1\r\nTo: b\r\ndkim-signature: 2\r\n"
                             "Fro: c\r\nFROM : d\r\n\r\n";
    hd_msg *m;
    assert_int_equal(hd_msg_parse(hd_slice_cstr(in), NULL, &m, NULL), 0);
    assert_int_equal(hd_msg_find(m, "from", 0), 0);
    assert_int_equal(hd_msg_find(m, "from", 1), 5);
    assert_int_equal(hd_msg_find(m, "From", 6), NOT_FOUND);
    assert_int_equal(hd_msg_find(m, "Dkim-Signature", 0), 1);
    assert_int_equal(hd_msg_find(m, "DKIM-SIGNATURE", 2), 3);
    assert_int_equal(hd_msg_find(m, "Fr", 0), NOT_FOUND);
    assert_int_equal(hd_msg_find(m, "Fromm", 0), NOT_FOUND);
    assert_int_equal(hd_msg_find(m, "Cc", 0), NOT_FOUND);
    assert_int_equal(hd_msg_find(m, "from", 100), NOT_FOUND);
    assert_int_equal(hd_msg_count(m, "FROM"), 2);
    assert_int_equal(hd_msg_count(m, "dkim-signature"), 2);
    assert_int_equal(hd_msg_count(m, "fro"), 1);
    assert_int_equal(hd_msg_count(m, "Subject"), 0);
    hd_msg_free(m);
}

/* A message that lives in a buffer without a NUL: nothing reads past it. */
static void test_msg_no_nul_terminator_needed(void **state)
{
    static const char text[] = "A: 1\r\nB: 2345678901234567890";
    size_t n = sizeof text - 1;
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    hd_msg *m;
    assert_int_equal(hd_msg_parse(hd_slice_make(copy, n), NULL, &m, NULL), 0);
    assert_true(hd_slice_eq_cstr(hd_msg_field(m, 1)->value, " 2345678901234567890"));
    hd_msg_free(m);
    free(copy);
    assert_int_equal(hd_msg_parse(HD_SLICE_NULL, NULL, &m, NULL), 0);
    assert_int_equal(hd_msg_nfields(m), 0);
    assert_int_equal(hd_msg_body(m).len, 0);
    hd_msg_free(m);
    assert_int_equal(hd_msg_parse(hd_slice_make(NULL, 3), NULL, &m, NULL), HD_EINVAL);
}

struct crlf_case {
    const char *name, *in, *want;
    bool bare_lf;
};

static const struct crlf_case crlf_cases[] = {
    {"LF only", "A: 1\nB: 2\n\nbody\n", "A: 1\r\nB: 2\r\n\r\nbody\r\n", true},
    {"CRLF unchanged", "A: 1\r\n\r\nbody\r\n", "A: 1\r\n\r\nbody\r\n", false},
    {"mixed", "A: 1\r\nB: 2\n\r\nx\ny", "A: 1\r\nB: 2\r\n\r\nx\r\ny", true},
    {"bare CR kept", "a\rb\r\nc\r", "a\rb\r\nc\r", false},
    {"CR then LF then LF", "a\r\n\n", "a\r\n\r\n", true},
    {"LF as first byte", "\nx", "\r\nx", true},
    {"no line end at all", "abc", "abc", false},
    {"empty", "", "", false},
};

static void test_mail_to_crlf_table(void **state)
{
    for (size_t i = 0; i < sizeof crlf_cases / sizeof crlf_cases[0]; i++) {
        const struct crlf_case *c = &crlf_cases[i];
        hd_slice in = hd_slice_cstr(c->in);
        if (hd_mail_has_bare_lf(in) != c->bare_lf)
            fail_msg("%s: has_bare_lf %d", c->name, !c->bare_lf);
        hd_buf out;
        hd_buf_init(&out, 1024);
        assert_int_equal(hd_buf_append_cstr(&out, "<"), 0);
        if (hd_mail_to_crlf(in, &out) != 0)
            fail_msg("%s: to_crlf failed", c->name);
        if (out.len != strlen(c->want) + 1 || memcmp(out.p + 1, c->want, out.len - 1) != 0)
            fail_msg("%s: got '%s'", c->name, hd_buf_cstr(&out));
        assert_false(hd_mail_has_bare_lf(hd_slice_make(out.p + 1, out.len - 1)));
        hd_buf_free(&out);
    }
}

/* The result of a conversion that does not fit leaves the buffer alone. */
static void test_mail_to_crlf_respects_buffer_max(void **state)
{
    hd_buf out;
    hd_buf_init(&out, 8);
    assert_int_equal(hd_mail_to_crlf(hd_slice_cstr("a\nb\nc\n"), &out), HD_ELIMIT);
    assert_int_equal(out.len, 0);
    assert_int_equal(hd_mail_to_crlf(hd_slice_cstr("a\nb\n"), &out), 0);
    assert_string_equal(hd_buf_cstr(&out), "a\r\nb\r\n");
    hd_buf_free(&out);
    assert_false(hd_mail_has_bare_lf(HD_SLICE_NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_parse_table),
        cmocka_unit_test(test_msg_raw_slices_are_exact),
        cmocka_unit_test(test_msg_limits_table),
        cmocka_unit_test(test_msg_default_field_limit),
        cmocka_unit_test(test_msg_find_and_count_ignore_case),
        cmocka_unit_test(test_msg_no_nul_terminator_needed),
        cmocka_unit_test(test_mail_to_crlf_table),
        cmocka_unit_test(test_mail_to_crlf_respects_buffer_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
