/*
 * addr_test.c - RFC 5322 §3.4 address lists (hd_addr_parse_list) and the
 * one-author From check (hd_addr_parse_from), including the RFC's own
 * Appendix A examples and the malformed cases with their messages.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/limits.h>
#include <herald/mail.h>

struct want_addr {
    const char *display, *local, *domain, *group; /* NULL: must be NULL */
};

struct addr_case {
    const char *name;
    const char *in;
    size_t len;      /* 0: strlen(in) */
    int rc;
    const char *err; /* exact message when rc != 0 */
    size_t n;
    bool had_group;
    struct want_addr a[4];
};

#define NONE {{NULL, NULL, NULL, NULL}}

static const struct addr_case addr_cases[] = {
    /* mailboxes */
    {"bare addr-spec", "jdoe@example.org", 0, 0, NULL, 1, false,
     {{NULL, "jdoe", "example.org", NULL}}},
    {"name-addr with atoms", "John Doe <jdoe@machine.example>", 0, 0, NULL, 1, false,
     {{"John Doe", "jdoe", "machine.example", NULL}}},
    {"angle-addr without display name", "<boss@nil.test>", 0, 0, NULL, 1, false,
     {{NULL, "boss", "nil.test", NULL}}},
    {"display name with dots (obs-phrase)", "Joe Q. Public <john.q.public@example.com>", 0, 0,
     NULL, 1, false, {{"Joe Q. Public", "john.q.public", "example.com", NULL}}},
    {"display name runs of spaces become one", "  Mary \t  Smith   <mary@x.test>  ", 0, 0, NULL,
     1, false, {{"Mary Smith", "mary", "x.test", NULL}}},
    {"quoted display name with quoted-pairs",
     "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", 0, 0, NULL, 1, false,
     {{"Giant; \"Big\" Box", "sysservices", "example.net", NULL}}},
    {"quoted and atom words mixed", "\"Joe  Q.\" Public <j@x>", 0, 0, NULL, 1, false,
     {{"Joe  Q. Public", "j", "x", NULL}}},
    {"empty quoted display name", "\"\" <a@b>", 0, 0, NULL, 1, false, {{"", "a", "b", NULL}}},
    {"folded quoted display name is unfolded", "\"Joe\r\n Smith\" <j@x>", 0, 0, NULL, 1, false,
     {{"Joe Smith", "j", "x", NULL}}},
    {"encoded word left as it is", "=?utf-8?q?Andr=C3=A9?= <andre@example.com>", 0, 0, NULL, 1,
     false, {{"=?utf-8?q?Andr=C3=A9?=", "andre", "example.com", NULL}}},
    {"UTF-8 in atoms and domain (RFC 6532)", "Jos\xc3\xa9 <j\xc3\xb6rg@b\xc3\xbc" "cher.example>",
     0, 0, NULL, 1, false,
     {{"Jos\xc3\xa9", "j\xc3\xb6rg", "b\xc3\xbc" "cher.example", NULL}}},
    {"list of three (RFC 5322 A.1.2)",
     "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", 0, 0, NULL, 3, false,
     {{"Mary Smith", "mary", "x.test", NULL},
      {NULL, "jdoe", "example.org", NULL},
      {"Who?", "one", "y.test", NULL}}},

    /* local parts and domains */
    {"quoted local part keeps its quotes", "\"a b\"@example.com", 0, 0, NULL, 1, false,
     {{NULL, "\"a b\"", "example.com", NULL}}},
    {"quoted local part keeps its quoted-pairs", "\"a\\\"b\"@example.com", 0, 0, NULL, 1, false,
     {{NULL, "\"a\\\"b\"", "example.com", NULL}}},
    {"quoted local part in angle brackets", "Joe <\"joe smith\"@example.com>", 0, 0, NULL, 1,
     false, {{"Joe", "\"joe smith\"", "example.com", NULL}}},
    {"dot-atom with atext specials", "o'brien+tag!x@sub.example.co.uk", 0, 0, NULL, 1, false,
     {{NULL, "o'brien+tag!x", "sub.example.co.uk", NULL}}},
    {"obs-local-part with CFWS around dots", "john . q (x) . public@example.com", 0, 0, NULL, 1,
     false, {{NULL, "john.q.public", "example.com", NULL}}},
    {"obs-local-part mixing quoted and atom words", "\"john\".q@example.com", 0, 0, NULL, 1,
     false, {{NULL, "\"john\".q", "example.com", NULL}}},
    {"domain literal", "user@[192.0.2.1]", 0, 0, NULL, 1, false,
     {{NULL, "user", "[192.0.2.1]", NULL}}},
    {"domain literal with FWS inside", "user@[ 192.0.2.1 ]", 0, 0, NULL, 1, false,
     {{NULL, "user", "[192.0.2.1]", NULL}}},
    {"IPv6 domain literal in angle brackets", "<user@[IPv6:2001:db8::1]>", 0, 0, NULL, 1, false,
     {{NULL, "user", "[IPv6:2001:db8::1]", NULL}}},
    {"obs-domain with CFWS around dots", "jdoe@test   . example", 0, 0, NULL, 1, false,
     {{NULL, "jdoe", "test.example", NULL}}},

    /* comments and folding */
    {"comments (RFC 5322 A.5)", "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
     0, 0, NULL, 1, false, {{"Pete", "pete", "silly.test", NULL}}},
    {"nested comments", "(outer (inner (deep)) \\( text) a@b (trailing (nested))", 0, 0, NULL, 1,
     false, {{NULL, "a", "b", NULL}}},
    {"comment between words is a separator", "John(middle)Smith <js@x>", 0, 0, NULL, 1, false,
     {{"John Smith", "js", "x", NULL}}},
    {"trailing comment is not a display name", "a@b (Alice)", 0, 0, NULL, 1, false,
     {{NULL, "a", "b", NULL}}},
    {"folding with CRLF", "a@b,\r\n c@d", 0, 0, NULL, 2, false,
     {{NULL, "a", "b", NULL}, {NULL, "c", "d", NULL}}},
    {"folding with bare LF", "Al\n\tBo <a@b>", 0, 0, NULL, 1, false, {{"Al Bo", "a", "b", NULL}}},
    {"folding inside a comment", "a@b (x\r\n y)", 0, 0, NULL, 1, false, {{NULL, "a", "b", NULL}}},
    {"trailing line end tolerated", "a@b\r\n", 0, 0, NULL, 1, false, {{NULL, "a", "b", NULL}}},

    /* groups */
    {"group with members (RFC 5322 A.1.3)",
     "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", 0, 0, NULL, 3, true,
     {{"Ed Jones", "c", "a.test", "A Group"},
      {NULL, "joe", "where.test", "A Group"},
      {"John", "jdoe", "one.test", "A Group"}}},
    {"empty group", "Undisclosed recipients:;", 0, 0, NULL, 0, true, NONE},
    {"group with comments and folding (RFC 5322 A.5)",
     "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
     "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
     0, 0, NULL, 3, true,
     {{"Chris Jones", "c", "public.example", "A Group"},
      {NULL, "joe", "example.org", "A Group"},
      {"John", "jdoe", "one.test", "A Group"}}},
    {"group of comments only (RFC 5322 A.5)",
     "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;", 0, 0, NULL, 0, true,
     NONE},
    {"group then a plain address", "Undisclosed: a@x, b@y;, c@z", 0, 0, NULL, 3, true,
     {{NULL, "a", "x", "Undisclosed"}, {NULL, "b", "y", "Undisclosed"}, {NULL, "c", "z", NULL}}},
    {"quoted group name", "\"My: Group\": a@x;", 0, 0, NULL, 1, true,
     {{NULL, "a", "x", "My: Group"}}},
    {"group with empty elements (obs-group-list)", "G: , ,a@x,, ;", 0, 0, NULL, 1, true,
     {{NULL, "a", "x", "G"}}},

    /* obsolete forms */
    {"obs-route dropped", "<@a.example,@b.example:user@c.example>", 0, 0, NULL, 1, false,
     {{NULL, "user", "c.example", NULL}}},
    {"obs-route with leading commas and CFWS", "Joe < , @a.example , @b.example : joe@c.example >",
     0, 0, NULL, 1, false, {{"Joe", "joe", "c.example", NULL}}},
    {"obs-route and empty element (RFC 5322 A.6.3)",
     "Mary Smith <@node.test:mary@example.net>, , jdoe@test   . example", 0, 0, NULL, 2, false,
     {{"Mary Smith", "mary", "example.net", NULL}, {NULL, "jdoe", "test.example", NULL}}},
    {"empty list elements (obs-mbox-list)", ", , a@b, ,", 0, 0, NULL, 1, false,
     {{NULL, "a", "b", NULL}}},
    {"empty value is an empty list", "", 0, 0, NULL, 0, false, NONE},
    {"only comments and commas is an empty list", " (none) , ", 0, 0, NULL, 0, false, NONE},

    /* malformed */
    {"unclosed angle address", "Joe <joe@example.com", 0, HD_ESYNTAX,
     "offset 20: expected '>' to close the angle address", 0, false, NONE},
    {"display name without address", "Joe", 0, HD_ESYNTAX,
     "offset 3: expected '@', '<' or ':' after the words", 0, false, NONE},
    {"two words before '@' without angle brackets", "Joe joe@x", 0, HD_ESYNTAX,
     "offset 4: expected '.' or '@' after a word of the local part", 0, false, NONE},
    {"double dot in the local part", "a..b@x", 0, HD_ESYNTAX,
     "offset 2: expected a word before '.' in the local part", 0, false, NONE},
    {"leading dot in the local part", ".a@x", 0, HD_ESYNTAX,
     "offset 0: expected a word before '.' in the local part", 0, false, NONE},
    {"trailing dot in the local part", "a.@x", 0, HD_ESYNTAX,
     "offset 2: expected a word after '.' in the local part", 0, false, NONE},
    {"empty local part", "@x", 0, HD_ESYNTAX, "offset 0: expected a local part before '@'", 0,
     false, NONE},
    {"missing domain", "a@", 0, HD_ESYNTAX, "offset 2: expected a domain after '@'", 0, false,
     NONE},
    {"trailing dot in the domain", "a@x.", 0, HD_ESYNTAX,
     "offset 4: expected a domain label after '.'", 0, false, NONE},
    {"two at signs", "a@b@c", 0, HD_ESYNTAX, "offset 3: expected ',' between addresses", 0,
     false, NONE},
    {"missing comma between addresses", "a@b c@d", 0, HD_ESYNTAX,
     "offset 4: expected ',' between addresses", 0, false, NONE},
    {"empty angle address", "Joe <>", 0, HD_ESYNTAX, "offset 4: empty angle address '<>'", 0,
     false, NONE},
    {"angle address without '@'", "<joe>", 0, HD_ESYNTAX,
     "offset 4: expected '@' after the local part", 0, false, NONE},
    {"unterminated comment", "a@b (oops (x)", 0, HD_ESYNTAX, "offset 4: unterminated comment",
     0, false, NONE},
    {"unmatched ')'", "a@b)", 0, HD_ESYNTAX, "offset 3: ')' without a matching '('", 0, false,
     NONE},
    {"unterminated quoted string", "\"abc@x", 0, HD_ESYNTAX,
     "offset 0: unterminated quoted string", 0, false, NONE},
    {"unterminated domain literal", "a@[1.2.3.4", 0, HD_ESYNTAX,
     "offset 2: expected ']' to close the domain literal", 0, false, NONE},
    {"'[' inside a domain literal", "a@[1[2]", 0, HD_ESYNTAX,
     "offset 4: '[' inside a domain literal", 0, false, NONE},
    {"group without ';'", "G: a@b", 0, HD_ESYNTAX, "offset 6: expected ';' to close the group",
     0, false, NONE},
    {"missing ',' between group members", "G: a@b c@d;", 0, HD_ESYNTAX,
     "offset 7: expected ',' or ';' after a group member", 0, false, NONE},
    {"nested group", "G: H: a@b;;", 0, HD_ESYNTAX, "offset 4: expected '@' or '<' after the words",
     0, false, NONE},
    {"group without a name", ": a@b;", 0, HD_ESYNTAX,
     "offset 0: expected an address, found ':'", 0, false, NONE},
    {"stray ';'", "a@b;", 0, HD_ESYNTAX, "offset 3: expected ',' between addresses", 0, false,
     NONE},
    {"stray '>'", "> a@b", 0, HD_ESYNTAX, "offset 0: expected an address, found '>'", 0, false,
     NONE},
    {"route without ':'", "<@a.example user@b>", 0, HD_ESYNTAX,
     "offset 12: expected ',' or ':' in the route", 0, false, NONE},
    {"line end without folding", "a@b,\r\nc@d", 0, HD_ESYNTAX,
     "offset 4: line end not followed by whitespace", 0, false, NONE},
    {"bare CR in a quoted string", "\"a\rb\"@c", 0, HD_ESYNTAX,
     "offset 2: line end not followed by whitespace", 0, false, NONE},
    {"NUL byte in an atom", "a\0b@c", 5, HD_ESYNTAX, "offset 1: unexpected byte 0x00", 0, false,
     NONE},
    {"NUL byte in a quoted string", "\"a\0\"@c", 6, HD_ESYNTAX, "offset 2: NUL byte", 0, false,
     NONE},
    {"backslash outside quotes", "a\\b@c", 0, HD_ESYNTAX, "offset 1: unexpected '\\'", 0,
     false, NONE},
};

static bool str_eq(const char *got, const char *want)
{
    if (got == NULL || want == NULL)
        return got == want;
    return strcmp(got, want) == 0;
}

static const char *show(const char *s)
{
    return s ? s : "(null)";
}

static void check_addr(const char *name, size_t i, const hd_addr *got, const struct want_addr *w)
{
    if (!str_eq(got->display, w->display) || !str_eq(got->local, w->local) ||
        !str_eq(got->domain, w->domain) || !str_eq(got->group, w->group))
        fail_msg("%s: address %zu is display=%s local=%s domain=%s group=%s", name, i,
                 show(got->display), show(got->local), show(got->domain), show(got->group));
}

static void test_addr_parse_list_table(void **state)
{
    for (size_t i = 0; i < sizeof addr_cases / sizeof addr_cases[0]; i++) {
        const struct addr_case *c = &addr_cases[i];
        hd_addr_list list;
        hd_err err;
        hd_err_clear(&err);
        size_t len = c->len ? c->len : strlen(c->in);
        int rc = hd_addr_parse_list(hd_slice_make(c->in, len), &list, &err);
        if (rc != c->rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->rc, err.msg);
        if (rc != 0) {
            if (strcmp(err.msg, c->err) != 0)
                fail_msg("%s: error \"%s\" want \"%s\"", c->name, err.msg, c->err);
            if (list.v != NULL || list.n != 0)
                fail_msg("%s: list not empty after an error", c->name);
            continue;
        }
        if (list.n != c->n || list.had_group != c->had_group)
            fail_msg("%s: n=%zu had_group=%d, want n=%zu had_group=%d", c->name, list.n,
                     list.had_group, c->n, c->had_group);
        for (size_t j = 0; j < list.n && j < 4; j++)
            check_addr(c->name, j, &list.v[j], &c->a[j]);
        hd_addr_list_free(&list);
        assert_null(list.v);
        assert_int_equal(list.n, 0);
    }
}

struct from_case {
    const char *name, *in;
    int rc;
    const char *err;
    size_t n;
    bool multiple;
};

static const struct from_case from_cases[] = {
    {"one mailbox", "Alice <alice@example.com>", 0, NULL, 1, false},
    {"one bare address with a comment", "alice@example.com (Alice)", 0, NULL, 1, false},
    {"two mailboxes", "alice@example.com, Bob <bob@example.net>", 0, NULL, 2, true},
    {"three mailboxes", "a@x, b@y, c@z", 0, NULL, 3, true},
    {"group with one member (RFC 6854)", "Team: alice@example.com;", 0, NULL, 1, false},
    {"group with two members", "Team: a@x, b@y;", 0, NULL, 2, true},
    {"empty From", "", HD_ESYNTAX, "From has no address", 0, false},
    {"whitespace only", "  \t ", HD_ESYNTAX, "From has no address", 0, false},
    {"comment only", "(nobody)", HD_ESYNTAX, "From has no address", 0, false},
    {"only a group with no members", "Undisclosed recipients:;", HD_ESYNTAX,
     "From has no address", 0, false},
    {"malformed From keeps the parse error", "Alice <alice@example.com", HD_ESYNTAX,
     "offset 24: expected '>' to close the angle address", 0, false},
};

static void test_addr_parse_from_table(void **state)
{
    for (size_t i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
        const struct from_case *c = &from_cases[i];
        hd_addr_list list;
        hd_err err;
        hd_err_clear(&err);
        bool multiple = !c->multiple;
        int rc = hd_addr_parse_from(hd_slice_cstr(c->in), &list, &multiple, &err);
        if (rc != c->rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->rc, err.msg);
        if (rc != 0 && strcmp(err.msg, c->err) != 0)
            fail_msg("%s: error \"%s\" want \"%s\"", c->name, err.msg, c->err);
        if (list.n != c->n || multiple != c->multiple)
            fail_msg("%s: n=%zu multiple=%d", c->name, list.n, multiple);
        hd_addr_list_free(&list);
    }
    hd_addr_list list;
    assert_int_equal(hd_addr_parse_from(hd_slice_cstr("a@b"), &list, NULL, NULL), 0);
    hd_addr_list_free(&list);
}

/* Comments nest up to 32 deep; one more is a limit error. */
static void test_addr_comment_depth_is_bounded(void **state)
{
    char in[200];
    for (int depth = 32; depth <= 33; depth++) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            in[n++] = '(';
        for (int i = 0; i < depth; i++)
            in[n++] = ')';
        memcpy(in + n, " a@b", 4);
        n += 4;
        hd_addr_list list;
        hd_err err;
        int rc = hd_addr_parse_list(hd_slice_make(in, n), &list, &err);
        if (depth == 32) {
            assert_int_equal(rc, 0);
            assert_int_equal(list.n, 1);
            hd_addr_list_free(&list);
        } else {
            assert_int_equal(rc, HD_ELIMIT);
            assert_string_equal(err.msg, "offset 32: comments nested deeper than 32");
        }
    }
}

/* HD_LIMIT_ADDRESSES addresses parse; one more is a limit error. */
static void test_addr_count_is_bounded(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1u << 20);
    for (int i = 0; i < HD_LIMIT_ADDRESSES; i++)
        assert_int_equal(hd_buf_printf(&b, "%su%d@example.com", i ? ", " : "", i), 0);
    hd_addr_list list;
    hd_err err;
    assert_int_equal(hd_addr_parse_list(hd_buf_slice(&b), &list, &err), 0);
    assert_int_equal(list.n, HD_LIMIT_ADDRESSES);
    assert_string_equal(list.v[HD_LIMIT_ADDRESSES - 1].local, "u999");
    hd_addr_list_free(&list);
    size_t off = b.len + 2;
    assert_int_equal(hd_buf_append_cstr(&b, ", last@example.com"), 0);
    assert_int_equal(hd_addr_parse_list(hd_buf_slice(&b), &list, &err), HD_ELIMIT);
    char want[64];
    snprintf(want, sizeof want, "offset %zu: more than 1000 addresses", off);
    assert_string_equal(err.msg, want);
    assert_int_equal(list.n, 0);
    hd_buf_free(&b);
}

/* The value need not be NUL-terminated: nothing reads past its end. */
static void test_addr_value_without_nul(void **state)
{
    static const char text[] = "Alice <alice@example.com>";
    size_t n = sizeof text - 1;
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    hd_addr_list list;
    assert_int_equal(hd_addr_parse_list(hd_slice_make(copy, n), &list, NULL), 0);
    assert_string_equal(list.v[0].domain, "example.com");
    hd_addr_list_free(&list);
    assert_int_equal(hd_addr_parse_list(hd_slice_make(copy, 10), &list, NULL), HD_ESYNTAX);
    free(copy);
    assert_int_equal(hd_addr_parse_list(hd_slice_make(NULL, 2), &list, NULL), HD_EINVAL);
    assert_int_equal(hd_addr_parse_list(HD_SLICE_NULL, &list, NULL), 0);
    assert_int_equal(list.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_list_table),
        cmocka_unit_test(test_addr_parse_from_table),
        cmocka_unit_test(test_addr_comment_depth_is_bounded),
        cmocka_unit_test(test_addr_count_is_bounded),
        cmocka_unit_test(test_addr_value_without_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
