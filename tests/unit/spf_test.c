/*
 * spf_test.c - SPF pieces the conformance suite does not isolate: macro
 * expansion (RFC 7208 §7.4 examples), record syntax errors and where they
 * are reported, hostile records, the resumable interface and the cache,
 * and the header fields.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <herald/dns.h>
#include <herald/spf.h>

/* RFC 7208 §7.4 ----------------------------------------------------------- */

static const struct {
    const char *in, *want;
} rfc_macros[] = {
    {"%{s}", "strong-bad@email.example.com"},
    {"%{o}", "email.example.com"},
    {"%{d}", "email.example.com"},
    {"%{d4}", "email.example.com"},
    {"%{d3}", "email.example.com"},
    {"%{d2}", "example.com"},
    {"%{d1}", "com"},
    {"%{dr}", "com.example.email"},
    {"%{d2r}", "example.email"},
    {"%{l}", "strong-bad"},
    {"%{l-}", "strong.bad"},
    {"%{lr}", "strong-bad"},
    {"%{lr-}", "bad.strong"},
    {"%{l1r-}", "strong"},
    {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
    {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
    {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
    {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
    {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
    /* §7.3: escapes and URL encoding of upper-case letters */
    {"%%%_%-", "% %20"},
    {"%{S}", "strong-bad%40email.example.com"},
    {"%{p}", "mx.example.org"},
};

static hd_spf_macro_ctx rfc_ctx(bool v6)
{
    hd_spf_macro_ctx c = {
        .sender = "strong-bad@email.example.com", .domain = "email.example.com",
        .ip = v6 ? "2001:db8::cb01" : "192.0.2.3",
        .ip_dotted = v6 ? "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1"
                        : "192.0.2.3",
        .is_v6 = v6, .helo = "mx.example.org", .receiver = "receiver.example.net",
        .validated = "mx.example.org", .now = 1700000000, .exp = false,
    };
    return c;
}

static void test_rfc7208_macro_examples(void **state)
{
    hd_spf_macro_ctx c = rfc_ctx(false);
    for (size_t i = 0; i < sizeof rfc_macros / sizeof rfc_macros[0]; i++) {
        hd_buf out;
        hd_buf_init(&out, 1024);
        hd_err err;
        hd_err_clear(&err);
        if (hd_spf_macro_expand(hd_slice_cstr(rfc_macros[i].in), &c, &out, &err) != 0)
            fail_msg("%s: %s", rfc_macros[i].in, err.msg);
        if (strcmp(hd_buf_cstr(&out), rfc_macros[i].want) != 0)
            fail_msg("%s gave %s, want %s", rfc_macros[i].in, hd_buf_cstr(&out), rfc_macros[i].want);
        hd_buf_free(&out);
    }
    /* the IPv6 example; the RFC prints lower-case nibbles, the openspf suite
     * (v-macro-ip6) wants upper case; DNS does not care */
    hd_spf_macro_ctx c6 = rfc_ctx(true);
    hd_buf out;
    hd_buf_init(&out, 1024);
    assert_int_equal(hd_spf_macro_expand(hd_slice_cstr("%{ir}.%{v}._spf.%{d2}"), &c6, &out, NULL), 0);
    assert_int_equal(strcasecmp(hd_buf_cstr(&out), "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                                                   "0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"), 0);
    hd_buf_free(&out);
}

static void test_macro_errors(void **state)
{
    static const struct {
        const char *in;
        bool exp;
    } bad[] = {
        {"%{c}", false},   /* c, r, t only in explanations (§7.2) */
        {"%{r}", false},
        {"%{t}", false},
        {"%{x}", false},   /* unknown letter */
        {"%{d0}", false},  /* digit transformer must be nonzero (§7.3) */
        {"%{d", false},    /* unterminated */
        {"%", false},      /* lone percent */
        {"%a", false},
        {"%{d2r#}", false}, /* bad delimiter */
    };
    hd_spf_macro_ctx c = rfc_ctx(false);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.exp = bad[i].exp;
        hd_buf out;
        hd_buf_init(&out, 1024);
        hd_err err;
        hd_err_clear(&err);
        if (hd_spf_macro_expand(hd_slice_cstr(bad[i].in), &c, &out, &err) != HD_ESYNTAX)
            fail_msg("%s was accepted", bad[i].in);
        assert_non_null(strstr(err.msg, "offset"));
        hd_buf_free(&out);
    }
    /* c, r and t do expand in explanation text */
    c.exp = true;
    hd_buf out;
    hd_buf_init(&out, 1024);
    assert_int_equal(hd_spf_macro_expand(hd_slice_cstr("%{c} %{r} %{t}"), &c, &out, NULL), 0);
    assert_string_equal(hd_buf_cstr(&out), "192.0.2.3 receiver.example.net 1700000000");
    hd_buf_free(&out);
}

/* Record syntax -------------------------------------------------------------- */

static void test_record_syntax(void **state)
{
    static const struct {
        const char *record;
        int want;
        const char *where; /* text the error must mention */
    } cases[] = {
        {"v=spf1", 0, NULL},
        {"v=spf1 -all", 0, NULL},
        {"v=spf1 a mx ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all", 0, NULL},
        {"v=spf1 a:example.com/24//64 mx:%{d}/16 exists:%{ir}.bl.example.com", 0, NULL},
        {"v=spf1 include:_spf.example.net redirect=_spf.example.org exp=exp.%{d}", 0, NULL},
        {"v=spf1 foo=bar.%{d} -all", 0, NULL},
        {"V=SPF1 IP4:192.0.2.1 -ALL", 0, NULL},
        {"v=spf1 ip4:192.0.2.1/33", HD_ESYNTAX, "ip4:192.0.2.1/33"},
        {"v=spf1 ip6:2001:db8::/129", HD_ESYNTAX, "prefix"},
        {"v=spf1 ip4:192.0.2.1/024", HD_ESYNTAX, "prefix"},
        {"v=spf1 a//129", HD_ESYNTAX, "IPv6 prefix"},
        {"v=spf1 ip4:300.1.2.3", HD_ESYNTAX, "not an IPv4"},
        {"v=spf1 include", HD_ESYNTAX, "include"},
        {"v=spf1 include:example.123", HD_ESYNTAX, "top-level"},
        {"v=spf1 -all:foo", HD_ESYNTAX, "all"},
        {"v=spf1 frobnicate", HD_ESYNTAX, "unknown mechanism"},
        {"v=spf1 redirect=a.example redirect=b.example", HD_ESYNTAX, "second redirect"},
        {"v=spf1 exp=a.example exp=b.example", HD_ESYNTAX, "second exp"},
        {"v=spf1 exists:%{c}.example.com", HD_ESYNTAX, "macro"},
        {"v=spf1 ip4:192.0.2.1 caf\xc3\xa9", HD_ESYNTAX, "offset 21"},
        {"v=spf1x", HD_ESYNTAX, "v=spf1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_spf_record_check(hd_slice_cstr(cases[i].record), &err);
        if (rc != cases[i].want)
            fail_msg("\"%s\": rc %d (%s)", cases[i].record, rc, err.msg);
        if (cases[i].where != NULL && strstr(err.msg, cases[i].where) == NULL)
            fail_msg("\"%s\": error \"%s\" does not mention \"%s\"", cases[i].record, err.msg,
                     cases[i].where);
    }
}

/* Evaluations over a zone ------------------------------------------------------ */

static hd_spf_verdict evaluate(const char *zone, const char *ip, const char *sender)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_slice_cstr(zone), "<test>", &err) != 0)
        fail_msg("zone: %s", err.msg);
    hd_spf_request req = {.ip = ip, .sender = sender, .helo = "mail.example.org", .now = 1700000000};
    hd_spf *spf = NULL;
    assert_int_equal(hd_spf_new(&req, NULL, &spf, &err), 0);
    if (hd_spf_run(spf, dns, &err) != 0)
        fail_msg("run: %s", err.msg);
    hd_spf_verdict v = *hd_spf_get_verdict(spf);
    hd_spf_free(spf);
    hd_dns_free(dns);
    return v;
}

/* A record of n terms (ip4 ranges, or bare "a" terms when short is set so
 * that 10,000 of them fit a DNS answer), as TXT strings of <= 255 bytes. */
static char *long_record_zone(const char *name, size_t n, bool short_terms)
{
    hd_buf rec, z;
    hd_buf_init(&rec, 1 << 22);
    hd_buf_init(&z, 1 << 22);
    hd_buf_append_cstr(&rec, "v=spf1");
    for (size_t i = 0; i < n; i++) {
        if (short_terms)
            hd_buf_append_cstr(&rec, " a");
        else
            hd_buf_printf(&rec, " ip4:10.%zu.%zu.0/24", (i >> 8) & 255, i & 255);
    }
    hd_buf_append_cstr(&rec, " -all");
    hd_buf_printf(&z, "%s. IN TXT", name);
    for (size_t i = 0; i < rec.len; i += 255)
        hd_buf_printf(&z, " \"%.*s\"", (int)(rec.len - i < 255 ? rec.len - i : 255),
                      (const char *)rec.p + i);
    hd_buf_append_cstr(&z, "\n");
    hd_buf_free(&rec);
    return (char *)hd_buf_steal(&z, NULL);
}

static void test_hostile_records(void **state)
{
    static const struct {
        const char *name, *zone, *ip, *sender;
        hd_spf_result want;
        const char *reason; /* must appear in the reason */
    } cases[] = {
        {"include loop", "loop.example. IN TXT \"v=spf1 include:loop.example -all\"\n",
         "192.0.2.1", "a@loop.example", HD_SPF_PERMERROR, "DNS-querying terms"},
        {"mutual includes", "a.example. IN TXT \"v=spf1 include:b.example -all\"\n"
                            "b.example. IN TXT \"v=spf1 include:a.example -all\"\n",
         "192.0.2.1", "x@a.example", HD_SPF_PERMERROR, "more than 10"},
        {"redirect loop", "r.example. IN TXT \"v=spf1 redirect=r.example\"\n", "192.0.2.1",
         "x@r.example", HD_SPF_PERMERROR, "more than 10"},
        {"three void lookups", "v.example. IN TXT \"v=spf1 a:nx1.v.example a:nx2.v.example "
                               "a:nx3.v.example -all\"\n",
         "192.0.2.1", "x@v.example", HD_SPF_PERMERROR, "void"},
        {"eleven MX names",
         "mx.example. IN TXT \"v=spf1 mx -all\"\n"
         "mx.example. IN MX 1 m1.mx.example.\nmx.example. IN MX 2 m2.mx.example.\n"
         "mx.example. IN MX 3 m3.mx.example.\nmx.example. IN MX 4 m4.mx.example.\n"
         "mx.example. IN MX 5 m5.mx.example.\nmx.example. IN MX 6 m6.mx.example.\n"
         "mx.example. IN MX 7 m7.mx.example.\nmx.example. IN MX 8 m8.mx.example.\n"
         "mx.example. IN MX 9 m9.mx.example.\nmx.example. IN MX 10 m10.mx.example.\n"
         "mx.example. IN MX 11 m11.mx.example.\n",
         "192.0.2.1", "x@mx.example", HD_SPF_PERMERROR, "11 MX"},
        {"malformed CIDR names the term", "c.example. IN TXT \"v=spf1 ip4:192.0.2.0/40 -all\"\n",
         "192.0.2.1", "x@c.example", HD_SPF_PERMERROR, "ip4:192.0.2.0/40"},
        {"non-ASCII record", "n.example. IN TXT \"v=spf1 a:caf\\195\\169.example -all\"\n",
         "192.0.2.1", "x@n.example", HD_SPF_PERMERROR, "offset"},
        {"exhaustive macro expansion is shortened",
         "m.example. IN TXT \"v=spf1 exists:%{l}.%{l}.%{l}.%{l}.%{l}.%{l}.%{l}.%{l}.%{l}.%{l}.x.m.example -all\"\n",
         "192.0.2.1",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@m.example",
         HD_SPF_FAIL, ""},
        {"a sender domain of 450 bytes is malformed", "", "192.0.2.1",
         "x@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
         HD_SPF_NONE, "not a valid"},
        {"DNS timeout", "t.example. TIMEOUT\n", "192.0.2.1", "x@t.example", HD_SPF_TEMPERROR,
         "TIMEOUT"},
        {"two SPF records", "d.example. IN TXT \"v=spf1 -all\"\nd.example. IN TXT \"v=spf1 +all\"\n",
         "192.0.2.1", "x@d.example", HD_SPF_PERMERROR, "2 SPF records"},
        {"include of a domain without SPF", "i.example. IN TXT \"v=spf1 include:nothing.example -all\"\n",
         "192.0.2.1", "x@i.example", HD_SPF_PERMERROR, "no SPF record"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_spf_verdict v = evaluate(cases[i].zone, cases[i].ip, cases[i].sender);
        if (v.result != cases[i].want || strstr(v.reason, cases[i].reason) == NULL)
            fail_msg("%s: %s (%s)", cases[i].name, hd_spf_result_name(v.result), v.reason);
    }
    /* 10,000 terms: refused, not evaluated */
    char *zone = long_record_zone("big.example", 10000, true);
    hd_spf_verdict v = evaluate(zone, "192.0.2.1", "x@big.example");
    free(zone);
    assert_int_equal(v.result, HD_SPF_PERMERROR);
    assert_non_null(strstr(v.reason, "terms"));
    /* 500 terms are still a record */
    zone = long_record_zone("wide.example", 500, false);
    v = evaluate(zone, "10.1.200.9", "x@wide.example");
    free(zone);
    assert_int_equal(v.result, HD_SPF_PASS);
}

/* The resumable interface: step hands out one question at a time and
 * never answers itself; with a warm cache nothing is asked. */
static void test_steps_and_cache(void **state)
{
    static const char zone[] =
        "example.com. IN TXT \"v=spf1 include:_spf.example.net mx -all\"\n"
        "_spf.example.net. IN TXT \"v=spf1 ip4:198.51.100.0/24 ~all\"\n"
        "example.com. IN MX 10 mx.example.com.\n"
        "mx.example.com. IN A 203.0.113.5\n";
    hd_dns *dns = NULL;
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_slice_cstr(zone), "<t>", NULL), 0);
    hd_dns_cache *cache = hd_dns_cache_new(64, 3600, 60);
    /* room for one parsed record: the include tree has two, so the second
     * is parsed outside the cache, and the cache is emptied between runs */
    hd_spf_records *records = hd_spf_records_new(1);
    hd_spf_opts opts = {.cache = cache, .records = records};
    hd_spf_request req = {.ip = "203.0.113.5", .sender = "a@example.com", .now = 1700000000};
    static const char *const want_q[] = {"example.com", "_spf.example.net", "example.com",
                                         "mx.example.com"};
    static const uint16_t want_t[] = {HD_DNS_T_TXT, HD_DNS_T_TXT, HD_DNS_T_MX, HD_DNS_T_A};
    for (int round = 0; round < 2; round++) {
        hd_spf *spf = NULL;
        assert_int_equal(hd_spf_new(&req, &opts, &spf, NULL), 0);
        size_t asked = 0;
        for (;;) {
            const char *q;
            uint16_t t;
            assert_int_equal(hd_spf_step(spf, &q, &t, NULL), 0);
            if (q == NULL)
                break;
            assert_true(round == 0); /* the second round is all cached */
            assert_true(asked < 4);
            assert_string_equal(q, want_q[asked]);
            assert_int_equal(t, want_t[asked]);
            hd_dns_answer *a = NULL;
            assert_int_equal(hd_dns_query(dns, q, t, &a, NULL), 0);
            assert_int_equal(hd_spf_answer(spf, a, NULL), 0);
            hd_dns_answer_free(a);
            asked++;
        }
        const hd_spf_verdict *v = hd_spf_get_verdict(spf);
        assert_int_equal(v->result, HD_SPF_PASS);
        assert_string_equal(v->mechanism, "mx");
        assert_int_equal(v->dns_lookups, 2);
        assert_int_equal(asked, round == 0 ? 4 : 0);
        /* an answer nobody asked for is refused */
        hd_dns_answer stray = {.qname = "x.example", .qtype = HD_DNS_T_A};
        assert_int_equal(hd_spf_answer(spf, &stray, NULL), HD_ESTATE);
        hd_spf_free(spf);
    }
    hd_dns_cache_free(cache);
    hd_spf_records_free(records);
    hd_dns_free(dns);
}

static void test_header_fields(void **state)
{
    static const char zone[] = "example.com. IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
                               "mail.example.org. IN TXT \"v=spf1 a -all\"\n"
                               "mail.example.org. IN A 192.0.2.77\n"
                               "loop.example.com. IN TXT \"v=spf1 redirect=none.example.com\"\n";
    hd_dns *dns = NULL;
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_slice_cstr(zone), "<t>", NULL), 0);
    static const struct {
        const char *sender, *want_rspf, *want_ar;
    } cases[] = {
        {"user@example.com",
         "Received-SPF: pass (example.com designates 192.0.2.77 as a permitted sender) "
         "client-ip=192.0.2.77; envelope-from=\"user@example.com\"; helo=mail.example.org; "
         "mechanism=\"ip4:192.0.2.0/24\"; identity=mailfrom",
         "spf=pass (example.com designates 192.0.2.77 as a permitted sender) "
         "smtp.mailfrom=user@example.com"},
        {"", /* null reverse-path: the HELO identity */
         "Received-SPF: pass (mail.example.org designates 192.0.2.77 as a permitted sender) "
         "client-ip=192.0.2.77; helo=mail.example.org; mechanism=\"a\"; identity=helo",
         "spf=pass (mail.example.org designates 192.0.2.77 as a permitted sender) "
         "smtp.helo=mail.example.org"},
        /* the reason's "(RFC 7208 §4.3)": a nested comment in ASCII, not
         * "?RFC 7208 ??4.3?" (issue 13, item 21) */
        {"user@localhost",
         "Received-SPF: none (\"localhost\" is not a valid multi-label domain name (RFC 7208 "
         "section 4.3)) client-ip=192.0.2.77; envelope-from=\"user@localhost\"; "
         "helo=mail.example.org; identity=mailfrom",
         "spf=none (\"localhost\" is not a valid multi-label domain name (RFC 7208 section 4.3)) "
         "smtp.mailfrom=user@localhost"},
        /* a permerror's problem= is a quoted string: '"' as a quoted-pair, § in words */
        {"user@loop.example.com",
         "Received-SPF: permerror (redirect=none.example.com has no SPF record (RFC 7208 "
         "section 6.1)) client-ip=192.0.2.77; envelope-from=\"user@loop.example.com\"; "
         "helo=mail.example.org; problem=\"redirect=none.example.com has no SPF record (RFC 7208 "
         "section 6.1)\"; identity=mailfrom",
         "spf=permerror (redirect=none.example.com has no SPF record (RFC 7208 section 6.1)) "
         "smtp.mailfrom=user@loop.example.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_spf_request req = {.ip = "192.0.2.77", .sender = cases[i].sender,
                              .helo = "mail.example.org", .now = 1};
        hd_spf *spf = NULL;
        assert_int_equal(hd_spf_new(&req, NULL, &spf, NULL), 0);
        assert_int_equal(hd_spf_run(spf, dns, NULL), 0);
        hd_buf a, b;
        hd_buf_init(&a, 4096);
        hd_buf_init(&b, 4096);
        assert_int_equal(hd_spf_received_spf(spf, &a), 0);
        assert_int_equal(hd_spf_to_ar(spf, &b), 0);
        assert_string_equal(hd_buf_cstr(&a), cases[i].want_rspf);
        assert_string_equal(hd_buf_cstr(&b), cases[i].want_ar);
        hd_buf_free(&a);
        hd_buf_free(&b);
        hd_spf_free(spf);
    }
    hd_dns_free(dns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7208_macro_examples),
        cmocka_unit_test(test_macro_errors),
        cmocka_unit_test(test_record_syntax),
        cmocka_unit_test(test_hostile_records),
        cmocka_unit_test(test_steps_and_cache),
        cmocka_unit_test(test_header_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
