/*
 * authres_test.c - Authentication-Results: the RFC 8601 Appendix B
 * examples, real fields from the test corpora, malformed values with the
 * offset of the fault, the limits, ARC instances, and generation with a
 * round trip through herald's own DKIM and SPF fragments.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/authres.h>
#include <herald/dkim.h>
#include <herald/dns.h>
#include <herald/spf.h>

#define TESTDATA(rel) tu_path(HERALD_TESTDATA, rel)

/* A parse as one line: "id[ vN]; method[/v]=result reason=\"..\" (comment)
 * ptype.prop=value :name=value; ..." ("; none" for no-result). */
static void render(const hd_authres *ar, hd_buf *out)
{
    hd_buf_reset(out);
    hd_buf_append_cstr(out, hd_authres_authserv_id(ar));
    if (hd_authres_version(ar) != 1)
        hd_buf_printf(out, " v%u", hd_authres_version(ar));
    if (hd_authres_is_none(ar))
        hd_buf_append_cstr(out, "; none");
    for (size_t i = 0; i < hd_authres_count(ar); i++) {
        const hd_authres_result *r = hd_authres_get(ar, i);
        hd_buf_printf(out, "; %s", r->method);
        if (r->method_version != 1)
            hd_buf_printf(out, "/%u", r->method_version);
        hd_buf_printf(out, "=%s", r->result);
        if (r->reason)
            hd_buf_printf(out, " reason=\"%s\"", r->reason);
        if (r->comment)
            hd_buf_printf(out, " (%s)", r->comment);
        for (size_t j = 0; j < r->nprops; j++) {
            const hd_authres_prop *p = &r->props[j];
            if (p->unparsed)
                hd_buf_printf(out, " :%s=%s", p->property, p->value);
            else
                hd_buf_printf(out, " %s.%s=%s", p->ptype, p->property, p->value);
        }
    }
}

static void expect_parse(const char *name, hd_slice value, const char *want, unsigned quirks)
{
    hd_authres *ar = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_authres_parse(value, &ar, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    hd_buf got;
    hd_buf_init(&got, 1 << 16);
    render(ar, &got);
    if (strcmp(hd_buf_cstr(&got), want) != 0)
        fail_msg("%s:\n got  %s\n want %s", name, hd_buf_cstr(&got), want);
    if (hd_authres_quirks(ar) != quirks)
        fail_msg("%s: quirks %#x, want %#x", name, hd_authres_quirks(ar), quirks);
    hd_buf_free(&got);
    hd_authres_free(ar);
}

/* RFC 8601 Appendix B ------------------------------------------------------- */

/* The Authentication-Results fields of a file, in order: a line that
 * starts with the name and the continuation lines after it. */
typedef struct fields {
    size_t n;
    hd_slice v[512];
    bool arc[512];
} fields;

static void find_fields(const uint8_t *p, size_t len, size_t indent_min, fields *f)
{
    f->n = 0;
    size_t i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && p[eol] != '\n')
            eol++;
        size_t ind = i;
        while (ind < eol && (p[ind] == ' ' || p[ind] == '\t'))
            ind++;
        static const char *names[] = {"Authentication-Results:", "ARC-Authentication-Results:"};
        for (int k = 0; k < 2 && ind - i >= indent_min && (indent_min > 0 || ind == i); k++) {
            size_t nl = strlen(names[k]);
            if ((size_t)(eol - ind) < nl || memcmp(p + ind, names[k], nl) != 0)
                continue;
            size_t end = eol;
            while (end + 1 < len) { /* continuation: deeper indent than the name */
                size_t c = end + 1, ci = c;
                while (ci < len && (p[ci] == ' ' || p[ci] == '\t'))
                    ci++;
                if (ci - c <= ind - i || ci >= len || p[ci] == '\n')
                    break;
                end = c;
                while (end < len && p[end] != '\n')
                    end++;
            }
            if (end > ind + nl && p[end - 1] == '\r') /* CRLF files */
                end--;
            assert_true(f->n < 512);
            f->arc[f->n] = k == 1;
            f->v[f->n++] = hd_slice_make(p + ind + nl, end - ind - nl);
        }
        i = eol + 1;
    }
}

static void test_rfc8601_appendix_b(void **state)
{
    static const struct {
        const char *file;
        size_t n;
        const char *want[2];
    } cases[] = {
        {"rfc8601-appendixB.1.eml", 0, {NULL}},
        {"rfc8601-appendixB.2.eml", 1, {"example.org; none"}},
        {"rfc8601-appendixB.3.eml", 1, {"example.com; spf=pass smtp.mailfrom=example.net"}},
        {"rfc8601-appendixB.4.eml", 2,
         {"example.com; auth=pass (cram-md5) smtp.auth=sender@example.net; spf=pass "
          "smtp.mailfrom=example.net",
          "example.com; iprev=pass policy.iprev=192.0.2.200"}},
        {"rfc8601-appendixB.5.eml", 2,
         {"example.com; dkim=pass (good signature) header.d=example.com",
          "example.com; auth=pass (cram-md5) smtp.auth=sender@example.com; spf=fail "
          "smtp.mailfrom=example.com"}},
        {"rfc8601-appendixB.6.eml", 2,
         {"example.com; dkim=pass reason=\"good signature\" header.i=@mail-router.example.net; "
          "dkim=fail reason=\"bad signature\" header.i=@newyork.example.com",
          "example.net; dkim=pass (good signature) header.i=@newyork.example.com"}},
        /* B.7: comments everywhere CFWS may go; none is right after the result */
        {"rfc8601-appendixB.7-header-only.txt", 1,
         {"foo.example.net; dkim=fail policy.expired=1362471462"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len;
        uint8_t *msg = tu_read_file(tu_path(HERALD_TESTDATA, tu_path("rfc-extracts", cases[c].file)), &len);
        fields f;
        find_fields(msg, len, 0, &f);
        if (f.n != cases[c].n)
            fail_msg("%s: %zu fields", cases[c].file, f.n);
        for (size_t i = 0; i < f.n; i++)
            expect_parse(cases[c].file, f.v[i], cases[c].want[i], 0);
        free(msg);
    }
    /* B.7 as printed in the RFC: the method version and comments kept apart */
    hd_authres *ar = NULL;
    const char *b7 = " foo.example.net (foobar) 1 (baz);\r\n"
                     "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
                     "      policy (A dot can go here) . (like that) expired\r\n"
                     "      (this surprised me) = (as I wasn't expecting it) 1362471462\r\n";
    assert_int_equal(hd_authres_parse(hd_slice_cstr(b7), &ar, NULL), 0);
    assert_int_equal(hd_authres_version(ar), 1);
    assert_int_equal(hd_authres_get(ar, 0)->method_version, 1);
    assert_null(hd_authres_get(ar, 0)->comment);
    assert_string_equal(hd_authres_find_prop(ar, 0, "POLICY", "Expired")->value, "1362471462");
    assert_int_equal(hd_authres_get(ar, 0)->offset, 40);
    hd_authres_free(ar);
}

/* Real-world variants ----------------------------------------------------------- */

#define Q(x) HD_AUTHRES_Q_##x

static const struct parse_case {
    const char *name;
    const char *input;
    const char *want;
    unsigned quirks;
} parse_cases[] = {
    /* mail-auth/arc/002.txt (Microsoft): no authserv-id at all */
    {"outlook_no_authserv_id",
     "dkim=none (message not signed)\n header.d=none;dmarc=none action=none header.from=microsoft.com;",
     "; dkim=none (message not signed) header.d=none; dmarc=none :action=none header.from=microsoft.com",
     Q(NO_AUTHSERV_ID) | Q(TRAILING_SEMI) | Q(UNPARSED_PROP)},
    /* mail-auth/arf/005.eml (Postfix + OpenDKIM): comment after reason= */
    {"opendkim_reason_then_comment",
     "box.mydomain.name;\n\tdkim=fail reason=\"signature verification failed\" (2048-bit key; "
     "unprotected) header.d=interpublication.org header.i=@interpublication.org "
     "header.b=\"PrsTNnuH\";\n\tdkim-atps=neutral",
     "box.mydomain.name; dkim=fail reason=\"signature verification failed\" (2048-bit key; "
     "unprotected) header.d=interpublication.org header.i=@interpublication.org "
     "header.b=PrsTNnuH; dkim-atps=neutral",
     0},
    /* mail-auth/arc/001.txt (Gmail) */
    {"gmail",
     " mx.google.com;\r\n       dkim=pass header.i=@ietf.org header.s=ietf1 header.b=jqktrzno;\r\n"
     "       dkim=neutral (body hash did not verify) header.i=@stalw.art header.s=velikisrpan22 "
     "header.b=QS+O8z2Y;\r\n       spf=pass (google.com: domain of jmap-bounces@ietf.org designates "
     "50.223.129.194 as permitted sender) smtp.mailfrom=jmap-bounces@ietf.org;\r\n"
     "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=ietf.org\r\n",
     "mx.google.com; dkim=pass header.i=@ietf.org header.s=ietf1 header.b=jqktrzno; dkim=neutral "
     "(body hash did not verify) header.i=@stalw.art header.s=velikisrpan22 header.b=QS+O8z2Y; "
     "spf=pass (google.com: domain of jmap-bounces@ietf.org designates 50.223.129.194 as permitted "
     "sender) smtp.mailfrom=jmap-bounces@ietf.org; dmarc=pass (p=NONE sp=NONE dis=NONE) "
     "header.from=ietf.org",
     0},
    /* mail-auth/arc/001.txt (amavisd-new): comment after the authserv-id */
    {"amavis_comment_after_id", " ietfa.amsl.com (amavisd-new); dkim=pass (2048-bit key)\n header.d=stalw.art",
     "ietfa.amsl.com; dkim=pass (2048-bit key) header.d=stalw.art", 0},
    /* mox/tlsreports/microsoft.eml: IPv6 and '/' in bare values */
    {"mox_ipv6_value",
     " komijn.test.xmox.nl; iprev=pass\n\tpolicy.iprev=2a01:111:f403:c110::2; dkim=pass (1024 bit rsa)\n"
     "\theader.d=microsoft.com header.s=selector2 header.a=rsa-sha256\n\theader.b=Us/lkmPE/b1N; spf=pass "
     "smtp.mailfrom=microsoft.com; dmarc=pass\n\theader.from=microsoft.com",
     "komijn.test.xmox.nl; iprev=pass policy.iprev=2a01:111:f403:c110::2; dkim=pass (1024 bit rsa) "
     "header.d=microsoft.com header.s=selector2 header.a=rsa-sha256 header.b=Us/lkmPE/b1N; spf=pass "
     "smtp.mailfrom=microsoft.com; dmarc=pass header.from=microsoft.com",
     0},
    /* mox/dmarc-reports/mailru.eml */
    {"mailru_auth_two_props",
     " relay7.m.smailru.net; auth=pass smtp.auth=dmarc_support@corp.mail.ru "
     "smtp.mailfrom=dmarc_support@corp.mail.ru; iprev=pass policy.iprev=10.161.4.115",
     "relay7.m.smailru.net; auth=pass smtp.auth=dmarc_support@corp.mail.ru "
     "smtp.mailfrom=dmarc_support@corp.mail.ru; iprev=pass policy.iprev=10.161.4.115",
     0},
    /* Yahoo style: no space before a comment, trailing ';' */
    {"no_space_before_comment",
     "atlas.yahoo.com; dkim=pass header.i=@gmail.com header.s=20210112; spf=pass "
     "smtp.mailfrom=gmail.com; dmarc=pass(p=NONE sp=QUARANTINE dis=NONE) header.from=gmail.com;",
     "atlas.yahoo.com; dkim=pass header.i=@gmail.com header.s=20210112; spf=pass "
     "smtp.mailfrom=gmail.com; dmarc=pass (p=NONE sp=QUARANTINE dis=NONE) header.from=gmail.com",
     Q(TRAILING_SEMI)},
    /* Exchange Online: no space after ';', compauth's token reason */
    {"exchange_compauth",
     "spf.protection.outlook.com; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.example; "
     "dkim=pass (signature was verified) header.d=a.example;dmarc=pass action=none "
     "header.from=a.example;compauth=pass reason=100",
     "spf.protection.outlook.com; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=a.example; "
     "dkim=pass (signature was verified) header.d=a.example; dmarc=pass :action=none "
     "header.from=a.example; compauth=pass reason=\"100\"",
     Q(UNPARSED_PROP)},
    {"uppercase_keywords",
     "Example.COM; DKIM=PASS Header.D=Example.com; SPF=Pass smtp.MailFrom=User@Example.com",
     "Example.COM; dkim=pass header.d=Example.com; spf=pass smtp.mailfrom=User@Example.com", 0},
    /* RFC 8601 §2.7.6: a comment after a property is not the result's */
    {"extension_method", "example.com;\r\n\tfoo=pass bar.baz=blob (2 of 3 tests OK)",
     "example.com; foo=pass bar.baz=blob", 0},
    {"x_method", "example.com; x-tls=pass smtp.tls=TLSv1.3; X-Spam_Check=fail",
     "example.com; x-tls=pass smtp.tls=TLSv1.3; x-spam_check=fail", 0},
    {"crlf_folding_final_crlf",
     " example.com;\r\n\tspf=pass smtp.mailfrom=example.net;\r\n\tdkim=pass header.d=example.net\r\n",
     "example.com; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net", 0},
    {"quoted_local_part", "example.com; auth=pass smtp.auth=\"john doe\"@example.com",
     "example.com; auth=pass smtp.auth=\"john doe\"@example.com", 0},
    {"quoted_pair_in_value", "example.com; dkim=pass header.b=\"ab\\\"c/+=\"",
     "example.com; dkim=pass header.b=ab\"c/+=", 0},
    {"quoted_value_folded", "example.com; dkim=fail reason=\"bad\r\n signature\"",
     "example.com; dkim=fail reason=\"bad signature\"", 0},
    {"nested_comment", "example.com; dkim=pass (outer (inner \\) paren) end) header.d=x",
     "example.com; dkim=pass (outer (inner ) paren) end) header.d=x", 0},
    {"empty_comment", "example.com; dkim=pass () header.d=x", "example.com; dkim=pass () header.d=x", 0},
    {"quoted_authserv_id", "\"example.com\"; none", "example.com; none", 0},
    {"version_and_comment", "(edge) example.org 1 (v1); none", "example.org; none", 0},
    {"future_version", "example.org 2; spf=pass", "example.org v2; spf=pass", 0},
    {"method_versions", "example.com; dkim/1=pass; x-new / 2 = fail", "example.com; dkim=pass; x-new/2=fail", 0},
    {"id_only", "lists.example.org;", "lists.example.org", Q(NO_RESULTS)},
    {"id_no_semicolon", "lists.example.org", "lists.example.org", Q(NO_RESULTS)},
    {"empty_resinfo", "example.com; spf=pass;; dkim=pass", "example.com; spf=pass; dkim=pass", Q(EMPTY_RESINFO)},
    /* arc-test-suite: trailing spaces */
    {"trailing_spaces", " nobody.example.org; something=ignored      ",
     "nobody.example.org; something=ignored", 0},
    {"null_sender", "example.com; spf=none smtp.mailfrom=<>", "example.com; spf=none smtp.mailfrom=<>", 0},
    {"empty_value", "example.com; dmarc=fail header.from=;", "example.com; dmarc=fail header.from=",
     Q(EMPTY_VALUE) | Q(TRAILING_SEMI)},
    {"duplicate_reason", "example.com; dkim=fail reason=a reason=\"b c\"",
     "example.com; dkim=fail reason=\"a\" :reason=b c", Q(DUP_REASON) | Q(UNPARSED_PROP)},
    {"reason_after_props", "example.com; dkim=fail header.d=x reason=late",
     "example.com; dkim=fail reason=\"late\" header.d=x", 0},
    {"eai_utf8", "\xe4\xbe\x8b\xe3\x81\x88.jp; spf=pass smtp.mailfrom=\xe3\x83\xa6@\xe4\xbe\x8b\xe3\x81\x88.jp",
     "\xe4\xbe\x8b\xe3\x81\x88.jp; spf=pass smtp.mailfrom=\xe3\x83\xa6@\xe4\xbe\x8b\xe3\x81\x88.jp", 0},
    {"cfws_around_dot_and_eq", "example.com; dkim = pass header . d = example.com",
     "example.com; dkim=pass header.d=example.com", 0},
    {"bare_lf_folding", "example.com;\n  spf=pass\n  smtp.mailfrom=example.net",
     "example.com; spf=pass smtp.mailfrom=example.net", 0},
};

static void test_parse_table(void **state)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++)
        expect_parse(parse_cases[i].name, hd_slice_cstr(parse_cases[i].input), parse_cases[i].want,
                     parse_cases[i].quirks);
}

static void test_accessors(void **state)
{
    hd_authres *ar = NULL;
    const char *v = "example.com; dkim=pass (good) header.d=example.com header.s=sel; spf=fail";
    assert_int_equal(hd_authres_parse(hd_slice_cstr(v), &ar, NULL), 0);
    assert_string_equal(hd_authres_authserv_id(ar), "example.com");
    assert_int_equal(hd_authres_count(ar), 2);
    const hd_authres_result *r = hd_authres_get(ar, 0);
    assert_string_equal(r->method, "dkim");
    assert_string_equal(r->result, "pass");
    assert_string_equal(r->comment, "good");
    assert_null(r->reason);
    assert_int_equal(r->nprops, 2);
    assert_int_equal(r->offset, 13);
    assert_string_equal(hd_authres_find_prop(ar, 0, "header", "s")->value, "sel");
    assert_null(hd_authres_find_prop(ar, 0, "smtp", "mailfrom"));
    r = hd_authres_get(ar, 1);
    assert_int_equal(r->nprops, 0);
    assert_null(r->props);
    assert_null(r->comment);
    assert_null(hd_authres_get(ar, 2));
    assert_null(hd_authres_find_prop(ar, 5, "header", "d"));
    hd_authres_free(ar);
    hd_authres_free(NULL);
}

/* Malformed values -------------------------------------------------------------- */

static const struct error_case {
    const char *name;
    const char *input;
    size_t len; /* 0: strlen */
    int code;
    const char *msg;
} error_cases[] = {
    {"empty", "", 0, HD_ESYNTAX, "offset 0: expected an authserv-id"},
    {"only_cfws", " (c) ", 0, HD_ESYNTAX, "offset 5: expected an authserv-id"},
    {"only_semicolon", "; spf=pass", 0, HD_ESYNTAX, "offset 0: expected an authserv-id"},
    {"empty_quoted_id", "\"\"; none", 0, HD_ESYNTAX, "offset 0: empty authserv-id"},
    {"no_semicolon", "example.com dkim=pass", 0, HD_ESYNTAX, "offset 12: expected ';' after the authserv-id"},
    {"method_only", "example.com; dkim", 0, HD_ESYNTAX, "offset 17: expected '=' after the method"},
    {"no_result", "example.com; dkim=", 0, HD_ESYNTAX, "offset 18: expected a result"},
    {"no_method", "example.com; =pass", 0, HD_ESYNTAX, "offset 13: expected a method name"},
    {"ptype_only", "example.com; dkim=pass header", 0, HD_ESYNTAX,
     "offset 29: expected '.' or '=' after a property type"},
    {"no_property", "example.com; dkim=pass header.", 0, HD_ESYNTAX,
     "offset 30: expected a property name after '.'"},
    {"no_eq", "example.com; dkim=pass header.d", 0, HD_ESYNTAX,
     "offset 31: expected '=' after the property name"},
    {"unclosed_comment", "example.com; dkim=pass (unclosed", 0, HD_ESYNTAX, "offset 23: unterminated comment"},
    {"unclosed_nested_comment", "example.com (a (b) c; none", 0, HD_ESYNTAX, "offset 12: unterminated comment"},
    {"unclosed_quote", "example.com; dkim=pass header.b=\"abc", 0, HD_ESYNTAX,
     "offset 32: unterminated quoted string"},
    {"backslash_at_end", "example.com; dkim=pass (a\\", 0, HD_ESYNTAX, "offset 23: unterminated comment"},
    {"not_folding", "example.com; dkim=pass\r\nheader.d=x", 0, HD_ESYNTAX,
     "offset 22: line end not followed by whitespace (not folding)"},
    {"bare_cr", "example.com; dkim=pass\rx", 0, HD_ESYNTAX, "offset 22: CR not followed by LF"},
    {"crlf_in_quoted_pair", "example.com; dkim=pass reason=\"a\\\r\n b\"", 0, HD_ESYNTAX,
     "offset 33: control byte in a quoted-pair"},
    {"nul_in_comment", "example.com (a\0b); none", 23, HD_ESYNTAX, "offset 14: NUL byte"},
    {"nul_after_result", "example.com; dkim=pass\0", 23, HD_ESYNTAX, "offset 22: expected ';' or a property"},
    {"nul_in_value", "example.com; dkim=pass header.d=a\0", 34, HD_ESYNTAX, "offset 33: NUL byte"},
    {"result_after_none", "example.com; none; dkim=pass", 0, HD_ESYNTAX, "offset 19: a result after 'none'"},
    {"none_after_result", "example.com; dkim=pass; none", 0, HD_ESYNTAX,
     "offset 24: 'none' must be the only result"},
    {"none_then_junk", "example.com; none foo", 0, HD_ESYNTAX, "offset 18: expected ';'"},
    {"empty_method_version", "example.com; dkim/=pass", 0, HD_ESYNTAX,
     "offset 18: expected a method version after '/'"},
    {"long_method_version", "example.com; dkim/1234567890=pass", 0, HD_ESYNTAX,
     "offset 18: method version too long"},
    {"long_version", "example.com 1234567890; none", 0, HD_ESYNTAX, "offset 12: version too long"},
    {"bad_version", "example.com 1x; none", 0, HD_ESYNTAX, "offset 13: expected ';' after the version"},
    {"stray_bracket", "example.com; dkim=pass ]", 0, HD_ESYNTAX, "offset 23: expected ';' or a property"},
    {"stray_paren", "example.com; dkim=pass )", 0, HD_ESYNTAX, "offset 23: expected ';' or a property"},
    {"quote_in_value", "example.com; dkim=pass header.d=a\"b\"", 0, HD_ESYNTAX,
     "offset 33: quote inside a property value"},
    {"backslash_in_value", "example.com; dkim=pass header.d=a\\b", 0, HD_ESYNTAX,
     "offset 33: expected a property value"},
    {"quoted_then_junk", "example.com; dkim=pass header.d=\"a\"b", 0, HD_ESYNTAX,
     "offset 36: expected '.' or '=' after a property type"},
    {"arc_value_as_ar", "i=1; mx.microsoft.com 1; spf=none", 0, HD_ESYNTAX,
     "offset 7: expected '=' after the method"},
    {"result_not_keyword", "example.com; dkim=\"pass\"", 0, HD_ESYNTAX, "offset 18: expected a result"},
};

static void test_parse_errors(void **state)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const struct error_case *c = &error_cases[i];
        hd_authres *ar = (hd_authres *)1;
        hd_err err;
        hd_err_clear(&err);
        size_t len = c->len ? c->len : strlen(c->input);
        int rc = hd_authres_parse(hd_slice_make(c->input, len), &ar, &err);
        if (rc != c->code)
            fail_msg("%s: rc %s (%s), want %s", c->name, hd_err_name(rc), err.msg, hd_err_name(c->code));
        if (strcmp(err.msg, c->msg) != 0)
            fail_msg("%s: message \"%s\", want \"%s\"", c->name, err.msg, c->msg);
        assert_null(ar);
        /* and with no hd_err at all */
        assert_int_equal(hd_authres_parse(hd_slice_make(c->input, len), &ar, NULL), c->code);
    }
}

/* Limits -------------------------------------------------------------------------- */

static int parse_built(hd_buf *b, hd_err *err, size_t *n)
{
    hd_authres *ar = NULL;
    int rc = hd_authres_parse(hd_buf_slice(b), &ar, err);
    *n = rc == 0 ? hd_authres_count(ar) : 0;
    hd_authres_free(ar);
    return rc;
}

static void test_limits(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    hd_err err;
    size_t n;

    /* results: 64 fine, 65 refused at the 65th method */
    hd_buf_append_cstr(&b, "example.com");
    for (int i = 0; i < HD_AUTHRES_MAX_RESULTS; i++)
        hd_buf_append_cstr(&b, "; spf=pass");
    assert_int_equal(parse_built(&b, &err, &n), 0);
    assert_int_equal(n, HD_AUTHRES_MAX_RESULTS);
    size_t at = b.len + 2;
    hd_buf_append_cstr(&b, "; spf=pass");
    assert_int_equal(parse_built(&b, &err, &n), HD_ELIMIT);
    char want[128];
    snprintf(want, sizeof want, "offset %zu: more than 64 results", at);
    assert_string_equal(err.msg, want);

    /* properties: 32 fine, 33 refused (unparsed ones count too) */
    hd_buf_reset(&b);
    hd_buf_append_cstr(&b, "example.com; dkim=pass");
    for (int i = 0; i < HD_AUTHRES_MAX_PROPS; i++)
        hd_buf_printf(&b, i % 2 ? " header.p%d=v" : " x%d=v", i);
    assert_int_equal(parse_built(&b, &err, &n), 0);
    at = b.len + 1;
    hd_buf_append_cstr(&b, " header.d=x");
    assert_int_equal(parse_built(&b, &err, &n), HD_ELIMIT);
    snprintf(want, sizeof want, "offset %zu: more than 32 properties in one result", at);
    assert_string_equal(err.msg, want);

    /* comment nesting: 16 fine, 17 refused at the 17th '(' */
    hd_buf_reset(&b);
    hd_buf_append_cstr(&b, "example.com ");
    for (int i = 0; i < HD_AUTHRES_MAX_COMMENT_DEPTH; i++)
        hd_buf_append_byte(&b, '(');
    for (int i = 0; i < HD_AUTHRES_MAX_COMMENT_DEPTH; i++)
        hd_buf_append_byte(&b, ')');
    hd_buf_append_cstr(&b, "; none");
    assert_int_equal(parse_built(&b, &err, &n), 0);
    hd_buf_reset(&b);
    hd_buf_append_cstr(&b, "example.com; dkim=pass ");
    for (int i = 0; i <= HD_AUTHRES_MAX_COMMENT_DEPTH; i++)
        hd_buf_append_byte(&b, '(');
    assert_int_equal(parse_built(&b, &err, &n), HD_ELIMIT);
    assert_string_equal(err.msg, "offset 39: comments nested deeper than 16");

    /* a 64 KB field of results and long values: parses, strings intact */
    hd_buf_reset(&b);
    hd_buf_append_cstr(&b, "example.com; x=pass (");
    for (int i = 0; i < 20000; i++)
        hd_buf_append_cstr(&b, "c\\)");
    hd_buf_append_cstr(&b, ") header.b=\"");
    for (int i = 0; i < 10000; i++)
        hd_buf_append_cstr(&b, "\\\"");
    hd_buf_append_cstr(&b, "\"");
    hd_authres *ar = NULL;
    assert_int_equal(hd_authres_parse(hd_buf_slice(&b), &ar, &err), 0);
    assert_int_equal(strlen(hd_authres_get(ar, 0)->comment), 40000);
    assert_int_equal(strlen(hd_authres_get(ar, 0)->props[0].value), 10000);
    hd_authres_free(ar);
    hd_buf_free(&b);
}

/* ARC-Authentication-Results ------------------------------------------------------- */

static void test_arc(void **state)
{
    static const struct {
        const char *input;
        unsigned instance; /* 0: error */
        const char *msg;
    } cases[] = {
        {" i=1; mx.microsoft.com 1; spf=none; dmarc=none\r\n action=none header.from=microsoft.com; "
         "dkim=none (message not signed);\r\n arc=none",
         1, NULL},
        {"i=50; lists.example.org; arc=pass", 50, NULL},
        {"I = 2 (c) ; lists.example.org;\n    spf=pass smtp.mfrom=jqd@d1.example;\n    dmarc=pass", 2, NULL},
        /* the arc-test-suite's malformed instances */
        {" i=0; lists.example.org;", 0, "offset 3: ARC instance not in 1..50"},
        {" i=51; lists.example.org;", 0, "offset 3: ARC instance not in 1..50"},
        {" i=; lists.example.org;", 0, "offset 3: expected the ARC instance number"},
        {" i=yo-mama; lists.example.org;", 0, "offset 3: expected the ARC instance number"},
        {" i=1 lists.example.org;", 0, "offset 5: expected ';' after the ARC instance"},
        {" lists.example.org; i=1;", 0, "offset 1: expected 'i=' (the ARC instance)"},
        {" id=1; lists.example.org;", 0, "offset 2: expected '=' after 'i'"},
        {" i=99999999999; x;", 0, "offset 3: ARC instance not in 1..50"},
        {" i=1; spf=pass", 0, "offset 0: ARC-Authentication-Results without an authserv-id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_authres *ar = NULL;
        unsigned inst = 77;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_authres_parse_arc(hd_slice_cstr(cases[i].input), &inst, &ar, &err);
        if (cases[i].instance) {
            if (rc != 0)
                fail_msg("%s: %s", cases[i].input, err.msg);
            assert_int_equal(inst, cases[i].instance);
            assert_true(hd_authres_count(ar) > 0);
        } else {
            if (rc != HD_ESYNTAX || strcmp(err.msg, cases[i].msg) != 0)
                fail_msg("%s: %s (%s), want %s", cases[i].input, hd_err_name(rc), err.msg, cases[i].msg);
            assert_int_equal(inst, 0);
            assert_null(ar);
        }
        hd_authres_free(ar);
    }
}

/* Corpora: every (ARC-)Authentication-Results field of the test data parses,
 * except the ARC suite's deliberately broken instances. */
static size_t sweep(const char *path, size_t indent, size_t *nfields)
{
    size_t len, bad = 0;
    uint8_t *p = tu_read_file(path, &len);
    fields f;
    find_fields(p, len, indent, &f);
    for (size_t i = 0; i < f.n; i++) {
        hd_authres *ar = NULL;
        unsigned inst;
        hd_err err;
        hd_err_clear(&err);
        int rc = f.arc[i] ? hd_authres_parse_arc(f.v[i], &inst, &ar, &err) : hd_authres_parse(f.v[i], &ar, &err);
        if (rc != 0) {
            bad++;
            if (!f.arc[i])
                fail_msg("%s: field %zu: %s: %.*s", path, i, err.msg, (int)f.v[i].len, (const char *)f.v[i].p);
        }
        hd_authres_free(ar);
    }
    *nfields += f.n;
    free(p);
    return bad;
}

static void test_corpora(void **state)
{
    static const char *files[] = {
        "dkimpy/test.message", "dkimpy/ed25519test.msg", "mail-auth/dmarc-feedback/103.eml",
        "mail-auth/dmarc-feedback/102.eml", "mail-auth/arf/002.eml", "mail-auth/arf/003.eml",
        "mail-auth/arf/004.eml", "mail-auth/arf/005.eml", "mail-auth/arc/001.txt", "mail-auth/arc/002.txt",
        "parsedmarc/aggregate/twilight.eml", "parsedmarc/failure/exim_plain_text_only_no_arf_part.eml",
        "parsedmarc/failure/dmarc_ruf_report_linkedin.crlf.eml", "mox/tlsreports/microsoft.eml",
        "mox/tlsreports/example.eml", "mox/dmarc-reports/mailru.eml", "mox/dmarc-reports/xs4all.eml",
        "mox/dmarc-reports/google.eml", "mox/dmarc-reports/yahoo.eml", "mox/dmarc-reports/outlook.eml",
        "rfc-extracts/rfc9991-appendixA-failure-report.eml", "rfc-extracts/rfc8617-appendixB-arc-example.eml",
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        assert_int_equal(sweep(tu_path(HERALD_TESTDATA, files[i]), 0, &n), 0);
    assert_true(n >= 35);
    /* the ARC test suite (YAML, messages indented): the broken instances are
     * i=0, i=, i=yo-mama, i=squanch, "i=1 id", "id; i=1" and two without i= */
    size_t arc_n = 0;
    size_t bad = sweep(TESTDATA("arc-test-suite/arc-draft-validation-tests.yml"), 1, &arc_n);
    bad += sweep(TESTDATA("arc-test-suite/arc-draft-sign-tests.yml"), 1, &arc_n);
    assert_true(arc_n > 300);
    assert_int_equal(bad, 8);
}

/* §5: whose field is it? */
static void test_claims_id(void **state)
{
    static const struct {
        const char *value;
        const char *ours;
        bool want;
    } cases[] = {
        {"example.com; spf=pass", "example.com", true},
        {" EXAMPLE.com. (x) 1; none", "example.com", true},
        {"mx1.example.com; spf=pass", "example.com", true},
        {"badexample.com; spf=pass", "example.com", false},
        {"example.net; spf=pass", "example.com", false},
        {"example.com; spf=pass; garbage ]]]", "example.com", true}, /* results not read */
        {"\"example.com\"; dkim=pass", "example.com", true},
        {"dkim=pass header.d=example.com", "example.com", true},      /* no id: unattributable */
        {"(unclosed", "example.com", true},
        {"", "example.com", true},
        {"com; none", "example.com", false},
        {"example.com; none", "", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (hd_authres_claims_id(hd_slice_cstr(cases[i].value), cases[i].ours) != cases[i].want)
            fail_msg("\"%s\" vs %s: want %d", cases[i].value, cases[i].ours, cases[i].want);
}

/* Generation ---------------------------------------------------------------------- */

static void test_build_exact(void **state)
{
    hd_buf out;
    hd_buf_init(&out, 1 << 16);
    hd_err err;
    hd_slice frags[] = {
        hd_slice_cstr("dkim=pass (2048-bit key) header.d=example.com header.s=sel"),
        hd_slice_cstr("  spf=pass smtp.mailfrom=example.com "),
    };
    assert_int_equal(hd_authres_build("mx.example.org", frags, 2, &out, &err), 0);
    assert_string_equal(hd_buf_cstr(&out), "Authentication-Results: mx.example.org;\r\n"
                                           "\tdkim=pass (2048-bit key) header.d=example.com header.s=sel;\r\n"
                                           "\tspf=pass smtp.mailfrom=example.com\r\n");
    hd_buf_reset(&out);
    assert_int_equal(hd_authres_build("mx.example.org", NULL, 0, &out, &err), 0);
    assert_string_equal(hd_buf_cstr(&out), "Authentication-Results: mx.example.org; none\r\n");

    hd_authres_builder *b = NULL;
    hd_buf_reset(&out);
    assert_int_equal(hd_authres_builder_new_arc(2, "mx.example.org", &b, &err), 0);
    assert_int_equal(hd_authres_builder_add(b, hd_slice_cstr("arc=pass"), &err), 0);
    assert_int_equal(hd_authres_builder_finish(b, &out, &err), 0);
    assert_string_equal(hd_buf_cstr(&out), "ARC-Authentication-Results: i=2; mx.example.org;\r\n\tarc=pass\r\n");
    hd_authres_builder_free(b);

    /* a long fragment folds before spaces outside quotes, never inside */
    hd_buf_reset(&out);
    hd_slice lf = hd_slice_cstr("dkim=fail reason=\"a quoted reason that is long enough to pass the "
                                "soft line limit of 78\" (a comment that is also rather long and has "
                                "words) header.d=example.com header.s=selector header.b=\"a b\"");
    assert_int_equal(hd_authres_build("example.org", &lf, 1, &out, &err), 0);
    assert_string_equal(hd_buf_cstr(&out),
                        "Authentication-Results: example.org;\r\n"
                        "\tdkim=fail\r\n"
                        " reason=\"a quoted reason that is long enough to pass the soft line limit of 78\"\r\n"
                        " (a comment that is also rather long and has words) header.d=example.com\r\n"
                        " header.s=selector header.b=\"a b\"\r\n");
    hd_buf_free(&out);
}

/* Fragment writers: header text in ASCII ("§" in words, one '?' per other
 * character), parentheses that nest kept, others and backslashes quoted;
 * each result is built into a field, which parses back (the builder checks). */
static void test_fragment_text(void **state)
{
    static const struct {
        const char *name, *comment, *value, *want;
    } cases[] = {
        {"section sign", "not a domain (RFC 7208 §4.3)", "a@b.example",
         "spf=none (not a domain (RFC 7208 section 4.3)) smtp.mailfrom=a@b.example"},
        {"section sign with a space", "see § 6.1", "x", "spf=none (see section 6.1) smtp.mailfrom=x"},
        {"section sign at the end", "§", "x", "spf=none (section) smtp.mailfrom=x"},
        {"other non-ASCII: one ? per character", "Zo\xc3\xab \xe2\x9c\x93", "x",
         "spf=none (Zo? ?) smtp.mailfrom=x"},
        {"a stray byte", "a\x80" "b\xc3", "x", "spf=none (a?b?) smtp.mailfrom=x"},
        {"unbalanced parentheses are quoted", "a) b (c", "x",
         "spf=none (a\\) b \\(c) smtp.mailfrom=x"},
        {"a backslash is quoted", "a\\b", "x", "spf=none (a\\\\b) smtp.mailfrom=x"},
        {"tab and controls", "a\tb\x01" "c", "x", "spf=none (a b?c) smtp.mailfrom=x"},
        /* text from outside (an SPF term, a DKIM tag) that would close the
         * comment and add a result of its own if "\)" were taken as escaped */
        {"a backslash before a parenthesis escapes nothing",
         "\\); dkim=pass header.d=bank.example (\\(", "x",
         "spf=none (\\\\\\); dkim=pass header.d=bank.example \\(\\\\\\() smtp.mailfrom=x"},
        {"balanced parentheses after backslashes stay nested", "a\\(b)", "x",
         "spf=none (a\\\\(b)) smtp.mailfrom=x"},
        {"quoted value: quote, backslash, section sign", "c", "say \"hi\" \\ §2",
         "spf=none (c) smtp.mailfrom=\"say \\\"hi\\\" \\\\ section 2\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_buf frag, field;
        hd_buf_init(&frag, 4096);
        hd_buf_init(&field, 8192);
        hd_err err;
        assert_int_equal(hd_buf_append_cstr(&frag, "spf=none"), 0);
        assert_int_equal(hd_authres_append_comment(&frag, cases[i].comment), 0);
        assert_int_equal(hd_authres_append_property(&frag, "smtp.mailfrom", cases[i].value), 0);
        if (strcmp(hd_buf_cstr(&frag), cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].name, hd_buf_cstr(&frag), cases[i].want);
        for (size_t k = 0; k < frag.len; k++)
            assert_true(frag.p[k] >= 0x20 && frag.p[k] < 0x7f);
        hd_slice fs = hd_buf_slice(&frag);
        if (hd_authres_build("mx.example.org", &fs, 1, &field, &err) != 0)
            fail_msg("%s: %s", cases[i].name, hd_err_str(&err));
        /* one fragment in, one result out: the comment text made none */
        hd_authres *ar = NULL;
        const char *colon = strchr(hd_buf_cstr(&field), ':');
        assert_int_equal(hd_authres_parse(hd_slice_cstr(colon + 1), &ar, &err), 0);
        if (hd_authres_count(ar) != 1)
            fail_msg("%s: %zu results in %s", cases[i].name, hd_authres_count(ar),
                     hd_buf_cstr(&field));
        hd_authres_free(ar);
        hd_buf_free(&frag);
        hd_buf_free(&field);
    }
}

static void test_build_errors(void **state)
{
    static const struct {
        const char *id;
        const char *msg;
    } ids[] = {
        {"", "authserv-id: empty"},
        {"exa\r\nmple.com", "authserv-id: holds CR or LF"},
        {"example.com\n", "authserv-id: holds CR or LF"},
        {"exa mple", "authserv-id: byte 3 is not a letter, digit, '-', '_' or '.'"},
        {"example.com;", "authserv-id: byte 11 is not a letter, digit, '-', '_' or '.'"},
        {".example", "authserv-id: empty label at byte 0"},
        {"a..b", "authserv-id: empty label at byte 1"},
        {"example.", "authserv-id: empty label at byte 7"},
    };
    hd_err err;
    hd_authres_builder *b = (hd_authres_builder *)1;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        assert_int_equal(hd_authres_builder_new(ids[i].id, &b, &err), HD_EINVAL);
        assert_string_equal(err.msg, ids[i].msg);
        assert_null(b);
    }
    char longid[300];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(hd_authres_check_id(longid, &err), HD_EINVAL);
    assert_int_equal(hd_authres_check_id(NULL, &err), HD_EINVAL);
    assert_int_equal(hd_authres_check_id("example-auth", &err), 0);
    assert_int_equal(hd_authres_builder_new_arc(0, "example.org", &b, &err), HD_EINVAL);
    assert_int_equal(hd_authres_builder_new_arc(51, "example.org", &b, &err), HD_EINVAL);

    static const struct {
        const char *frag;
        const char *msg;
    } frags[] = {
        {"spf=pass\r\n smtp.mailfrom=x", "fragment: CR or LF at offset 8"},
        {"spf=pass\n", "fragment: CR or LF at offset 8"},
        {"spf=pass; dkim=pass", "fragment: not a single method=result"},
        {"spf=pass;", "fragment: not a single method=result"},
        {"none", "fragment: not a single method=result"},
        {"", "fragment: offset 0: expected an authserv-id"},
        {"=pass", "fragment: offset 0: expected an authserv-id"},
        {"example.com; spf=pass", "fragment: not a single method=result"},
        {"spf=pass (open", "fragment: offset 9: unterminated comment"},
    };
    assert_int_equal(hd_authres_builder_new("example.org", &b, &err), 0);
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
        assert_int_not_equal(hd_authres_builder_add(b, hd_slice_cstr(frags[i].frag), &err), 0);
        if (strcmp(err.msg, frags[i].msg) != 0)
            fail_msg("\"%s\": %s, want %s", frags[i].frag, err.msg, frags[i].msg);
    }
    assert_int_equal(hd_authres_builder_add(b, hd_slice_make("spf=pass\0", 9), &err), HD_EINVAL);
    for (int i = 0; i < HD_AUTHRES_MAX_RESULTS; i++)
        assert_int_equal(hd_authres_builder_add(b, hd_slice_cstr("spf=pass"), &err), 0);
    assert_int_equal(hd_authres_builder_add(b, hd_slice_cstr("spf=pass"), &err), HD_ELIMIT);
    /* the output buffer's cap is honoured and nothing is left half-written */
    hd_buf small;
    hd_buf_init(&small, 100);
    hd_buf_append_cstr(&small, "X");
    assert_int_equal(hd_authres_builder_finish(b, &small, &err), HD_ELIMIT);
    assert_string_equal(hd_buf_cstr(&small), "X");
    hd_buf_free(&small);
    hd_authres_builder_free(b);
}

/* Round trip: herald's DKIM fragments (made from hand-built results) and
 * SPF fragments (from real evaluations) build a field that parses back to
 * what each fragment says. */
static void check_round_trip(const char *id, hd_buf *frags, size_t n)
{
    hd_slice s[8];
    for (size_t i = 0; i < n; i++)
        s[i] = hd_buf_slice(&frags[i]);
    hd_buf out;
    hd_buf_init(&out, 1 << 16);
    hd_err err;
    hd_err_clear(&err);
    if (hd_authres_build(id, s, n, &out, &err) != 0)
        fail_msg("build: %s", err.msg);
    /* parse the value back ourselves, and each fragment alone */
    const char *colon = memchr(out.p, ':', out.len);
    hd_authres *ar = NULL;
    assert_int_equal(hd_authres_parse(hd_slice_make(colon + 1, out.len - (size_t)(colon + 1 - (char *)out.p)), &ar, &err), 0);
    assert_string_equal(hd_authres_authserv_id(ar), id);
    assert_int_equal(hd_authres_count(ar), n);
    assert_int_equal(hd_authres_quirks(ar), 0);
    for (size_t i = 0; i < n; i++) {
        hd_authres *one = NULL;
        assert_int_equal(hd_authres_parse(s[i], &one, &err), 0);
        assert_true(hd_authres_result_eq(hd_authres_get(ar, i), hd_authres_get(one, 0)));
        hd_authres_free(one);
    }
    /* every line of the field is at most 998 octets and none is blank */
    for (size_t i = 0, col = 0; i < out.len; i++, col++) {
        assert_true(col <= 998);
        if (out.p[i] == '\n') {
            assert_true(i + 1 == out.len || out.p[i + 1] == '\t' || out.p[i + 1] == ' ');
            col = 0;
        }
    }
    hd_authres_free(ar);
    hd_buf_free(&out);
}

static hd_dkim_result dkim_result(hd_dkim_result_code code, const char *reason, const char *d,
                                  const char *i, const char *b)
{
    hd_dkim_result r;
    memset(&r, 0, sizeof r);
    r.result = code;
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    snprintf(r.domain, sizeof r.domain, "%s", d);
    snprintf(r.selector, sizeof r.selector, "sel-2024");
    snprintf(r.identity, sizeof r.identity, "%s", i);
    snprintf(r.algorithm, sizeof r.algorithm, "rsa-sha256");
    snprintf(r.header_b, sizeof r.header_b, "%s", b);
    r.key_bits = 2048;
    return r;
}

static void test_round_trip_dkim_spf(void **state)
{
    hd_buf frags[8];
    for (int i = 0; i < 8; i++)
        hd_buf_init(&frags[i], 4096);
    hd_dkim_result r[4];
    r[0] = dkim_result(HD_DKIM_PASS, "", "example.com", "@example.com", "AbCdEfGh");
    r[0].testing = true;
    r[1] = dkim_result(HD_DKIM_FAIL, "body hash did not verify (l=100) \\ \"quoted\"", "example.net",
                       "\"odd user\"@sub.example.net", "x/y+z=AB");
    r[2] = dkim_result(HD_DKIM_PERMERROR, "d= \"le(git\" is not a domain", "", "", "");
    char longreason[256];
    memset(longreason, 'w', sizeof longreason - 1);
    for (size_t k = 7; k < sizeof longreason - 1; k += 8)
        longreason[k] = ' ';
    longreason[sizeof longreason - 1] = '\0';
    r[3] = dkim_result(HD_DKIM_TEMPERROR, longreason, "example.org", "user@example.org", "12345678");
    for (int i = 0; i < 4; i++)
        assert_int_equal(hd_dkim_result_to_ar(&r[i], &frags[i]), 0);

    /* SPF: real evaluations against a zone */
    hd_dns *dns = NULL;
    const char *zone = "example.net. IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
                       "helo.example.net. IN TXT \"v=spf1 ~all\"\n";
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_slice_cstr(zone), "<test>", NULL), 0);
    static const struct {
        const char *ip, *sender, *helo;
        bool check_helo;
    } spf[] = {
        {"192.0.2.7", "user+tag@example.net", "mx.example.net", false},
        {"198.51.100.1", "\"quoted local\"@example.net", "mx.example.net", false},
        {"198.51.100.1", "", "helo.example.net", true},
        {"198.51.100.1", "x@nosuch.invalid", "mx.example.net", false},
    };
    for (size_t i = 0; i < 4; i++) {
        hd_spf_request req = {spf[i].ip, spf[i].sender, spf[i].helo, spf[i].check_helo, "mx.example.org", 1700000000};
        hd_spf *s = NULL;
        assert_int_equal(hd_spf_new(&req, NULL, &s, NULL), 0);
        assert_int_equal(hd_spf_run(s, dns, NULL), 0);
        assert_int_equal(hd_spf_to_ar(s, &frags[4 + i]), 0);
        hd_spf_free(s);
    }
    hd_dns_free(dns);
    check_round_trip("mx.example.org", frags, 8);
    check_round_trip("example-auth", frags + 1, 1);

    /* what the fragments say survives: spot checks */
    hd_authres *ar = NULL;
    assert_int_equal(hd_authres_parse(hd_buf_slice(&frags[1]), &ar, NULL), 0);
    assert_string_equal(hd_authres_find_prop(ar, 0, "header", "b")->value, "x/y+z=AB");
    assert_string_equal(hd_authres_find_prop(ar, 0, "header", "i")->value, "\"odd user\"@sub.example.net");
    assert_string_equal(hd_authres_get(ar, 0)->result, "fail");
    hd_authres_free(ar);
    assert_int_equal(hd_authres_parse(hd_buf_slice(&frags[4]), &ar, NULL), 0);
    assert_string_equal(hd_authres_get(ar, 0)->result, "pass");
    assert_string_equal(hd_authres_find_prop(ar, 0, "smtp", "mailfrom")->value, "user+tag@example.net");
    hd_authres_free(ar);
    assert_int_equal(hd_authres_parse(hd_buf_slice(&frags[6]), &ar, NULL), 0);
    assert_string_equal(hd_authres_get(ar, 0)->result, "softfail");
    assert_string_equal(hd_authres_find_prop(ar, 0, "smtp", "helo")->value, "helo.example.net");
    hd_authres_free(ar);
    for (int i = 0; i < 8; i++)
        hd_buf_free(&frags[i]);
}

/* same_results: comments and authserv-id do not matter, anything else does */
static void test_same_results(void **state)
{
    static const struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        {"a.example; dkim=pass (x) header.d=d", "b.example; DKIM=pass (y) header . d = \"d\"", true},
        {"a.example; dkim=pass header.d=d", "a.example; dkim=pass header.d=D", false},
        {"a.example; dkim=pass header.d=d", "a.example; dkim/2=pass header.d=d", false},
        {"a.example; dkim=pass reason=x", "a.example; dkim=pass", false},
        {"a.example; dkim=pass x=d", "a.example; dkim=pass header.x=d", false},
        {"a.example; none", "a.example", false},
        {"a.example; spf=pass; dkim=pass", "a.example; dkim=pass; spf=pass", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_authres *a = NULL, *b = NULL;
        assert_int_equal(hd_authres_parse(hd_slice_cstr(cases[i].a), &a, NULL), 0);
        assert_int_equal(hd_authres_parse(hd_slice_cstr(cases[i].b), &b, NULL), 0);
        if (hd_authres_same_results(a, b) != cases[i].same)
            fail_msg("%s | %s", cases[i].a, cases[i].b);
        hd_authres_free(a);
        hd_authres_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8601_appendix_b),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_arc),
        cmocka_unit_test(test_corpora),
        cmocka_unit_test(test_claims_id),
        cmocka_unit_test(test_build_exact),
        cmocka_unit_test(test_fragment_text),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_round_trip_dkim_spf),
        cmocka_unit_test(test_same_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
