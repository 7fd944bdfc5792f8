/*
 * tag_test.c - the RFC 6376 §3.2 tag-list parser, strict (DKIM, ARC) and
 * tolerant (DMARC, RFC 9989 §4.8).
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

/* The tolerant parse keeps what the strict one would, and for each
 * malformed term keeps the rest and says which term and why. */
struct tolerant_case {
    const char *name, *in;
    size_t want_n;          /* tags kept */
    const char *kept;       /* "name=value,..." of the kept tags, in order */
    const char *dropped;    /* "term:text|..." of the dropped terms */
    const char *why;        /* a word in the first drop's reason */
};

static const struct tolerant_case tolerant_cases[] = {
    {"well-formed", "v=DMARC1; p=reject", 2, "v=DMARC1,p=reject", "", NULL},
    {"no equals", "v=DMARC1; p=reject; foo", 2, "v=DMARC1,p=reject", "3:foo", "'='"},
    {"colon for equals", "v=DMARC1; fo:1; p=reject", 2, "v=DMARC1,p=reject", "2:fo:1", "':'"},
    {"hyphen in name", "v=DMARC1; p=reject; x-y=1", 2, "v=DMARC1,p=reject", "3:x-y=1", "'-'"},
    {"equals missing before URI", "v=DMARC1; p=reject; ruf mailto:f@example.com; adkim=s", 3,
     "v=DMARC1,p=reject,adkim=s", "3:ruf mailto:f@example.com", "\"ruf\""},
    {"name starts with digit", "v=DMARC1; 1x=2; p=none", 2, "v=DMARC1,p=none", "2:1x=2", "letter"},
    {"empty name", "v=DMARC1; =reject; p=none", 2, "v=DMARC1,p=none", "2:=reject", "letter"},
    {"control character", "a=b\x01" "c; d=e", 1, "d=e", "1:a=b\x01" "c", "control"},
    {"lone LF", "a=1; b=x\ny; c=3", 2, "a=1,c=3", "2:b=x\ny", "control"},
    {"second of a name", "v=DMARC1; p=reject; rua=mailto:a@x.example; p=none", 3,
     "v=DMARC1,p=reject,rua=mailto:a@x.example", "4:p=none", "first"},
    {"empty specs not counted", ";; a=1 ;; junk ; b=2;", 2, "a=1,b=2", "2:junk", NULL},
    {"several", "junk; v=DMARC1; p=x-y; q r; s=1", 3, "v=DMARC1,p=x-y,s=1", "1:junk|4:q r", NULL},
    {"only junk", "foo; bar", 0, "", "1:foo|2:bar", NULL},
    {"empty", "", 0, "", "", NULL},
};

static void join_kept(const hd_taglist *t, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->n && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%.*s=%.*s", i ? "," : "", (int)t->tags[i].name.len,
                              (const char *)t->tags[i].name.p, (int)t->tags[i].value.len,
                              (const char *)t->tags[i].value.p);
}

static void join_dropped(const hd_tag_drops *d, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->n && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%u:%.*s", i ? "|" : "", d->d[i].term,
                              (int)d->d[i].text.len, (const char *)d->d[i].text.p);
}

static void test_tolerant_table(void **state)
{
    for (size_t i = 0; i < sizeof tolerant_cases / sizeof tolerant_cases[0]; i++) {
        const struct tolerant_case *c = &tolerant_cases[i];
        hd_taglist t;
        hd_tag_drops d;
        hd_err err;
        hd_err_clear(&err);
        if (hd_tag_parse_tolerant(hd_slice_cstr(c->in), &t, &d, &err) != 0)
            fail_msg("%s: %s", c->name, err.msg);
        char kept[512], dropped[512];
        join_kept(&t, kept, sizeof kept);
        join_dropped(&d, dropped, sizeof dropped);
        if (t.n != c->want_n || strcmp(kept, c->kept) != 0)
            fail_msg("%s: kept %zu \"%s\", want \"%s\"", c->name, t.n, kept, c->kept);
        if (strcmp(dropped, c->dropped) != 0)
            fail_msg("%s: dropped \"%s\", want \"%s\"", c->name, dropped, c->dropped);
        if (c->why != NULL && (d.n == 0 || strstr(d.d[0].why, c->why) == NULL))
            fail_msg("%s: reason \"%s\" lacks %s", c->name, d.n ? d.d[0].why : "", c->why);
        for (size_t k = 0; k < d.n; k++) /* the offset is where the term starts */
            if (d.d[k].offset >= strlen(c->in) || c->in + d.d[k].offset != (const char *)d.d[k].text.p)
                fail_msg("%s: drop %zu offset %zu", c->name, k, d.d[k].offset);
        /* strict parsing refuses exactly the inputs with a dropped term */
        hd_taglist st;
        int rc = hd_tag_parse(hd_slice_cstr(c->in), &st, NULL);
        if ((rc != 0) != (d.n > 0))
            fail_msg("%s: strict rc %d with %zu dropped", c->name, rc, d.n);
    }
    /* term numbers of kept tags count dropped terms too */
    hd_taglist t;
    hd_tag_drops d;
    assert_int_equal(hd_tag_parse_tolerant(hd_slice_cstr("a=1; bad; c=3"), &t, &d, NULL), 0);
    assert_int_equal(t.tags[0].term, 1);
    assert_int_equal(t.tags[1].term, 3);
    assert_int_equal(hd_tag_parse(hd_slice_cstr("a=1;; c=3"), &t, NULL), 0);
    assert_int_equal(t.tags[1].term, 2);
}

/* Bounded like the strict parse: kept and dropped terms together. */
static void test_tolerant_limit(void **state)
{
    char text[8192] = "";
    size_t o = 0;
    for (int i = 0; i < HD_LIMIT_TAGS; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, i % 2 ? "t%d=x;" : "junk%d;", i);
    hd_taglist t;
    hd_tag_drops d;
    assert_int_equal(hd_tag_parse_tolerant(hd_slice_cstr(text), &t, &d, NULL), 0);
    assert_int_equal(t.n + d.n, HD_LIMIT_TAGS);
    snprintf(text + o, sizeof text - o, "junk");
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_tag_parse_tolerant(hd_slice_cstr(text), &t, &d, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "terms"));
    /* many empty specs cost nothing and count for nothing */
    memset(text, ';', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    assert_int_equal(hd_tag_parse_tolerant(hd_slice_cstr(text), &t, &d, NULL), 0);
    assert_int_equal(t.n + d.n, 0);
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
        cmocka_unit_test(test_tolerant_table),
        cmocka_unit_test(test_tolerant_limit),
        cmocka_unit_test(test_strip_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
