/*
 * canon_test.c - DKIM canonicalization (RFC 6376 §3.4) edge cases and
 * header selection (§5.4.2).
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "auth/dkim/dkim_int.h"

struct body_case {
    const char *name, *in;
    const char *want_simple, *want_relaxed;
};

static const struct body_case body_cases[] = {
    {"empty body", "", "\r\n", ""},
    {"only CRLFs", "\r\n\r\n\r\n", "\r\n", ""},
    {"trailing blank lines", "a\r\n\r\n\r\n", "a\r\n", "a\r\n"},
    {"no final line end", "a\r\nb", "a\r\nb\r\n", "a\r\nb\r\n"},
    {"WSP runs", "a  \t b\r\n", "a  \t b\r\n", "a b\r\n"},
    {"trailing WSP on lines", "a \r\nb\t\t\r\n", "a \r\nb\t\t\r\n", "a\r\nb\r\n"},
    {"leading WSP kept as one SP", "  a\r\n", "  a\r\n", " a\r\n"},
    {"lines of only WSP at the end", "a\r\n \r\n\t\r\n", "a\r\n \r\n\t\r\n", "a\r\n"},
    {"WSP-only line inside", "a\r\n \r\nb\r\n", "a\r\n \r\nb\r\n", "a\r\n\r\nb\r\n"},
    {"bare CR is data", "a\rb \r\n", "a\rb \r\n", "a\rb\r\n"},
    {"space before bare CR kept", "a \rb\r\n", "a \rb\r\n", "a \rb\r\n"},
    {"8-bit bytes", "caf\xc3\xa9  ok\r\n", "caf\xc3\xa9  ok\r\n", "caf\xc3\xa9 ok\r\n"},
    {"single spaces untouched", "one two three\r\n", "one two three\r\n", "one two three\r\n"},
    {"tab alone becomes space", "a\tb\r\n", "a\tb\r\n", "a b\r\n"},
};

static void canon(hd_dkim_canon c, const char *in, uint64_t limit, hd_buf *out, uint64_t *total)
{
    dkim_body_sink sink = {NULL, limit, 0, 0, out};
    dkim_canon_body(c, hd_slice_cstr(in), &sink);
    assert_int_equal(sink.failed, 0);
    if (total)
        *total = sink.total;
}

static void test_body_table(void **state)
{
    for (size_t i = 0; i < sizeof body_cases / sizeof body_cases[0]; i++) {
        const struct body_case *c = &body_cases[i];
        hd_buf out;
        hd_buf_init(&out, 1024);
        canon(HD_DKIM_SIMPLE, c->in, UINT64_MAX, &out, NULL);
        if (strcmp(hd_buf_cstr(&out), c->want_simple) != 0)
            fail_msg("%s: simple gave \"%s\"", c->name, hd_buf_cstr(&out));
        hd_buf_reset(&out);
        canon(HD_DKIM_RELAXED, c->in, UINT64_MAX, &out, NULL);
        if (strcmp(hd_buf_cstr(&out), c->want_relaxed) != 0)
            fail_msg("%s: relaxed gave \"%s\"", c->name, hd_buf_cstr(&out));
        hd_buf_free(&out);
    }
}

static void test_body_length_limit(void **state)
{
    hd_buf out;
    hd_buf_init(&out, 1024);
    uint64_t total;
    canon(HD_DKIM_RELAXED, "hello  world\r\nmore\r\n", 5, &out, &total);
    assert_string_equal(hd_buf_cstr(&out), "hello");
    assert_int_equal(total, strlen("hello world\r\nmore\r\n"));
    hd_buf_free(&out);
}

struct header_case {
    const char *name, *field;
    const char *want_simple, *want_relaxed;
};

static const struct header_case header_cases[] = {
    {"plain", "Subject: Hello", "Subject: Hello\r\n", "subject:Hello\r\n"},
    {"folded", "Subject: a\r\n\tb\r\n  c", "Subject: a\r\n\tb\r\n  c\r\n", "subject:a b c\r\n"},
    {"WSP around colon and at end", "Subject \t:  x  y \t", "Subject \t:  x  y \t\r\n",
     "subject:x y\r\n"},
    {"empty value", "X-Empty:", "X-Empty:\r\n", "x-empty:\r\n"},
    {"empty folded value", "X-Empty: \r\n ", "X-Empty: \r\n \r\n", "x-empty:\r\n"},
    {"mixed case name", "MiMe-VeRsIoN: 1.0", "MiMe-VeRsIoN: 1.0\r\n", "mime-version:1.0\r\n"},
    {"8-bit value", "Subject: caf\xc3\xa9", "Subject: caf\xc3\xa9\r\n", "subject:caf\xc3\xa9\r\n"},
};

static void test_header_table(void **state)
{
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
        const struct header_case *c = &header_cases[i];
        char msg[512];
        snprintf(msg, sizeof msg, "%s\r\n\r\nbody\r\n", c->field);
        hd_msg *m = NULL;
        hd_err err;
        hd_err_clear(&err);
        if (hd_msg_parse(hd_slice_cstr(msg), NULL, &m, &err) != 0)
            fail_msg("%s: parse: %s", c->name, err.msg);
        const hd_hdr_field *f = hd_msg_field(m, 0);
        hd_buf out;
        hd_buf_init(&out, 1024);
        assert_int_equal(dkim_canon_header(HD_DKIM_SIMPLE, f->raw, f->name, f->value, true, &out), 0);
        if (strcmp(hd_buf_cstr(&out), c->want_simple) != 0)
            fail_msg("%s: simple gave \"%s\"", c->name, hd_buf_cstr(&out));
        hd_buf_reset(&out);
        assert_int_equal(dkim_canon_header(HD_DKIM_RELAXED, f->raw, f->name, f->value, true, &out), 0);
        if (strcmp(hd_buf_cstr(&out), c->want_relaxed) != 0)
            fail_msg("%s: relaxed gave \"%s\"", c->name, hd_buf_cstr(&out));
        hd_buf_free(&out);
        hd_msg_free(m);
    }
}

static void test_select_headers_bottom_up(void **state)
{
    const char *msg = "Received: 1\r\nTo: a\r\nReceived: 2\r\nFrom: f\r\nto: b\r\n\r\n";
    hd_msg *m = NULL;
    assert_int_equal(hd_msg_parse(hd_slice_cstr(msg), NULL, &m, NULL), 0);
    hd_slice names[] = {hd_slice_cstr("to"), hd_slice_cstr("from"), hd_slice_cstr("To"),
                        hd_slice_cstr("to"), hd_slice_cstr("subject")};
    size_t idx[5];
    dkim_select_headers(m, names, 5, idx);
    assert_int_equal(idx[0], 4);          /* bottom-most To first */
    assert_int_equal(idx[1], 3);
    assert_int_equal(idx[2], 1);          /* then the one above */
    assert_int_equal(idx[3], (size_t)-1); /* over-signed: none left */
    assert_int_equal(idx[4], (size_t)-1); /* absent */
    hd_msg_free(m);
}

static void test_canon_names_and_domains(void **state)
{
    hd_dkim_canon h, b;
    assert_int_equal(dkim_parse_canon(hd_slice_cstr("relaxed"), &h, &b), 0);
    assert_int_equal(h, HD_DKIM_RELAXED);
    assert_int_equal(b, HD_DKIM_SIMPLE); /* RFC 6376 §3.5: body defaults to simple */
    assert_int_equal(dkim_parse_canon(hd_slice_cstr("simple/relaxed"), &h, &b), 0);
    assert_int_equal(b, HD_DKIM_RELAXED);
    assert_int_not_equal(dkim_parse_canon(hd_slice_cstr("relaxed/fancy"), &h, &b), 0);
    assert_int_not_equal(dkim_parse_canon(hd_slice_cstr("a/b/c"), &h, &b), 0);

    assert_true(dkim_domain_ok(hd_slice_cstr("example.com")));
    assert_true(dkim_domain_ok(hd_slice_cstr("mail-1.example.co.uk")));
    assert_false(dkim_domain_ok(hd_slice_cstr("legitimate.com(.attacker.com")));
    assert_false(dkim_domain_ok(hd_slice_cstr("a..b")));
    assert_false(dkim_domain_ok(hd_slice_cstr("-a.com")));
    assert_false(dkim_domain_ok(hd_slice_cstr("")));
    assert_true(dkim_selector_ok(hd_slice_cstr("2023-05-ed25519")));
    assert_true(dkim_identity_in_domain(hd_slice_cstr("mail.example.com"), hd_slice_cstr("example.com")));
    assert_true(dkim_identity_in_domain(hd_slice_cstr("EXAMPLE.com"), hd_slice_cstr("example.com")));
    assert_false(dkim_identity_in_domain(hd_slice_cstr("badexample.com"), hd_slice_cstr("example.com")));
    assert_false(dkim_identity_in_domain(hd_slice_cstr("com"), hd_slice_cstr("example.com")));
}


/* A plain reading of RFC 6376 §3.4.4, line by line, to check the fast
 * implementation against on random bodies. */
static void reference_relaxed(const char *in, size_t len, hd_buf *out)
{
    hd_buf lines;
    hd_buf_init(&lines, 1 << 20);
    size_t start = 0;
    while (start < len) {
        size_t e = start;
        while (e < len && !(in[e] == '\r' && e + 1 < len && in[e + 1] == '\n'))
            e++;
        /* one line [start, e): collapse WSP runs, drop trailing WSP */
        size_t line_start = lines.len;
        bool ws = false;
        for (size_t k = start; k < e; k++) {
            if (in[k] == ' ' || in[k] == '\t') {
                ws = true;
                continue;
            }
            if (ws)
                hd_buf_append_byte(&lines, ' ');
            ws = false;
            hd_buf_append_byte(&lines, (uint8_t)in[k]);
        }
        (void)line_start;
        hd_buf_append_cstr(&lines, "\r\n");
        start = e < len ? e + 2 : len;
    }
    /* drop empty lines at the end */
    while (lines.len >= 2 && lines.p[lines.len - 1] == '\n' &&
           (lines.len == 2 || (lines.p[lines.len - 3] == '\n')))
        lines.len -= 2;
    hd_buf_append(out, lines.p, lines.len);
    hd_buf_free(&lines);
}

static void test_relaxed_matches_reference(void **state)
{
    static const char alphabet[] = "ab  \t\r\nx.";
    unsigned seed = 7208;
    for (int round = 0; round < 20000; round++) {
        char in[96];
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof in);
        for (size_t k = 0; k < len; k++)
            in[k] = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
        /* the body the canonicalizer sees has CRLF line ends only */
        hd_buf crlf;
        hd_buf_init(&crlf, 1024);
        hd_mail_to_crlf(hd_slice_make(in, len), &crlf);
        hd_buf want, got;
        hd_buf_init(&want, 1024);
        hd_buf_init(&got, 1024);
        reference_relaxed((const char *)crlf.p, crlf.len, &want);
        dkim_body_sink sink = {NULL, UINT64_MAX, 0, 0, &got};
        dkim_canon_body(HD_DKIM_RELAXED, hd_buf_slice(&crlf), &sink);
        if (!hd_slice_eq(hd_buf_slice(&want), hd_buf_slice(&got)))
            fail_msg("round %d: input of %zu bytes canonicalized differently", round, crlf.len);
        hd_buf_free(&crlf);
        hd_buf_free(&want);
        hd_buf_free(&got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_table),
        cmocka_unit_test(test_body_length_limit),
        cmocka_unit_test(test_header_table),
        cmocka_unit_test(test_select_headers_bottom_up),
        cmocka_unit_test(test_canon_names_and_domains),
        cmocka_unit_test(test_relaxed_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
