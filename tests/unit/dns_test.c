/*
 * dns_test.c - the resolver interface through the zone-file fixture back
 * end (docs/zone-format.md): every record type, escapes in strings and
 * names, name limits on decoded octets, TTLs, NXDOMAIN / NODATA / empty
 * non-terminals, TXT records of zero strings, CNAME chains, the TIMEOUT and
 * SERVFAIL pseudo-types, every syntax error with its line, and the
 * asynchronous API.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/dns.h>
#include <herald/err.h>
#include <herald/limits.h>

static const char fixture[] =
    "; the docs/zone-format.md example, and more\n"
    "$TTL 300\n"
    "example.com.            IN TXT   \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
    "_dmarc.example.com.     IN TXT   \"v=DMARC1; p=reject; rua=mailto:dmarc@example.com\"\n"
    "s1._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=MIIB\" \"...continued\"\n"
    "example.com.            IN MX    10 mx1.example.com.\n"
    "example.com.            IN MX    20 mx2.example.com\n"
    "example.com.            NS       ns1.example.net.\n"
    "mx1.example.com.        IN A     192.0.2.10\n"
    "mx1.example.com.        IN AAAA  2001:db8::10\n"
    "10.2.0.192.in-addr.arpa. IN PTR  mx1.example.com.\n"
    "alias.example.com.      IN CNAME example.com.\n"
    "alias2.example.com      CNAME    alias.example.com\n"
    "slow.example.com.       IN A     192.0.2.20\n"
    "slow.example.com.       TIMEOUT          ; other types time out\n"
    "dead.example.com.       TIMEOUT          ; every type times out\n"
    "broken.example.com.     SERVFAIL\n"
    "broken.example.com.     TXT \"still here\"\n"
    "cto.example.com.        CNAME dead.example.com.\n"
    "MiXeD.Example.COM       60 IN A 192.0.2.30\n"
    "ttl.example.com.        in 42 a 192.0.2.31 ; class before TTL, lower case\n"
    "multi.example.com.      100 A 192.0.2.1\n"
    "multi.example.com.      50 A 192.0.2.2\n"
    "esc.example.com. TXT \"a\\\"b\" \"c\\\\d\" \"\\065\\066C\" unquoted \"semi;colon\" \\065x\n"
    "nullmx.example.com.     MX 0 .\n"
    "paren.example.com.      TXT ( \"first\"   ; a comment inside\n"
    "                              \"second\" )\n"
    "                        A 192.0.2.60 ; blank start: same owner\n"
    "deep.a.b.example.org.   A 192.0.2.50\n"
    "dangling.example.com.   CNAME nowhere.example.com.\n"
    "loop1.example.com.      CNAME loop2.example.com.\n"
    "loop2.example.com.      CNAME loop1.example.com.\n"
    /* a chain of exactly HD_LIMIT_DNS_CNAME_CHAIN (8) links, and one of 9 */
    "c0.example.com. CNAME c1.example.com.\n"
    "c1.example.com. CNAME c2.example.com.\n"
    "c2.example.com. CNAME c3.example.com.\n"
    "c3.example.com. CNAME c4.example.com.\n"
    "c4.example.com. CNAME c5.example.com.\n"
    "c5.example.com. CNAME c6.example.com.\n"
    "c6.example.com. CNAME c7.example.com.\n"
    "c7.example.com. CNAME c8.example.com.\n"
    "c8.example.com. A 192.0.2.88\n"
    "d0.example.com. CNAME c0.example.com.\n"
    "$TTL 1000\n"
    "later.example.com.      A 192.0.2.40\n";

static hd_dns *fixture_dns(void)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_dns_new_zone_text(&dns, hd_slice_cstr(fixture), "fixture.zone", &err);
    if (rc != 0)
        fail_msg("fixture: %s", err.msg);
    return dns;
}

/* "rr;rr;..." in answer order: A/AAAA as text, MX "PREF NAME", names,
 * TXT "[STRINGS]BYTES". */
static void render(const hd_dns_answer *ans, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ans->nrr && n < outlen; i++) {
        const hd_dns_rr *rr = &ans->rr[i];
        char one[600];
        switch (rr->type) {
        case HD_DNS_T_A: inet_ntop(AF_INET, rr->addr, one, sizeof one); break;
        case HD_DNS_T_AAAA: inet_ntop(AF_INET6, rr->addr, one, sizeof one); break;
        case HD_DNS_T_MX: snprintf(one, sizeof one, "%u %s", rr->preference, rr->name); break;
        case HD_DNS_T_TXT:
        case HD_DNS_T_SPF:
            assert_int_equal(strlen((const char *)rr->txt), rr->txt_len);
            snprintf(one, sizeof one, "[%zu]%s", rr->txt_strings, (const char *)rr->txt);
            break;
        default: snprintf(one, sizeof one, "%s", rr->name); break;
        }
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? ";" : "", one);
    }
}

struct query_case {
    const char *name, *qname;
    uint16_t qtype;
    hd_dns_status want;
    int rcode;
    const char *rrs;       /* render() of the records ("" for none) */
    const char *canonname; /* or NULL */
    long ttl;              /* answer ttl, or -1 not checked */
};

static const struct query_case query_cases[] = {
    {"spf txt", "example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[1]v=spf1 ip4:192.0.2.0/24 -all", NULL, 300},
    {"dmarc txt keeps quoted semicolons", "_dmarc.example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[1]v=DMARC1; p=reject; rua=mailto:dmarc@example.com", NULL, 300},
    {"dkim key two strings joined", "s1._domainkey.example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[2]v=DKIM1; k=rsa; p=MIIB...continued", NULL, -1},
    {"mx in file order, dots stripped", "example.com", HD_DNS_T_MX, HD_DNS_OK, 0,
     "10 mx1.example.com;20 mx2.example.com", NULL, -1},
    {"ns", "example.com", HD_DNS_T_NS, HD_DNS_OK, 0, "ns1.example.net", NULL, -1},
    {"a", "mx1.example.com", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.10", NULL, 300},
    {"aaaa", "mx1.example.com", HD_DNS_T_AAAA, HD_DNS_OK, 0, "2001:db8::10", NULL, -1},
    {"ptr", "10.2.0.192.in-addr.arpa", HD_DNS_T_PTR, HD_DNS_OK, 0, "mx1.example.com", NULL,
     -1},
    {"escapes and unquoted strings", "esc.example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[6]a\"bc\\dABCunquotedsemi;colonAx", NULL, -1},
    {"null mx is the root", "nullmx.example.com", HD_DNS_T_MX, HD_DNS_OK, 0, "0 ", NULL, -1},
    {"parenthesised record over two lines", "paren.example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[2]firstsecond", NULL, -1},
    {"blank start repeats the owner", "paren.example.com", HD_DNS_T_A, HD_DNS_OK, 0,
     "192.0.2.60", NULL, -1},
    /* names */
    {"owner case folded", "mixed.example.com", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.30", NULL, 60},
    {"query case folded", "MX1.Example.COM", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.10", NULL, -1},
    {"query trailing dot", "mx1.example.com.", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.10", NULL, -1},
    {"owner without trailing dot", "mx2.example.com", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL,
     -1},
    /* TTLs */
    {"class before ttl", "ttl.example.com", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.31", NULL, 42},
    {"answer ttl is the smallest", "multi.example.com", HD_DNS_T_A, HD_DNS_OK, 0,
     "192.0.2.1;192.0.2.2", NULL, 50},
    {"$TTL applies to later lines", "later.example.com", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.40",
     NULL, 1000},
    /* NXDOMAIN, NODATA, empty non-terminals (RFC 8020) */
    {"absent name", "nosuch.example.com", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL, 0},
    {"absent below a leaf", "x.mx1.example.com", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    {"other types only", "mx1.example.com", HD_DNS_T_TXT, HD_DNS_NODATA, 0, "", NULL, 0},
    {"empty non-terminal", "a.b.example.org", HD_DNS_T_A, HD_DNS_NODATA, 0, "", NULL, -1},
    {"empty non-terminal two up", "b.example.org", HD_DNS_T_TXT, HD_DNS_NODATA, 0, "", NULL, -1},
    {"empty non-terminal top", "org", HD_DNS_T_A, HD_DNS_NODATA, 0, "", NULL, -1},
    {"sibling of a parent", "x.example.org", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    {"unknown type asked", "example.com", 99, HD_DNS_NODATA, 0, "", NULL, -1},
    /* CNAME */
    {"cname followed to records", "alias.example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[1]v=spf1 ip4:192.0.2.0/24 -all", "example.com", -1},
    {"cname followed to nodata", "alias.example.com", HD_DNS_T_A, HD_DNS_NODATA, 0, "",
     "example.com", -1},
    {"two cnames followed", "ALIAS2.example.com", HD_DNS_T_MX, HD_DNS_OK, 0,
     "10 mx1.example.com;20 mx2.example.com", "example.com", -1},
    {"cname asked for itself", "alias.example.com", HD_DNS_T_CNAME, HD_DNS_OK, 0,
     "example.com", NULL, -1},
    {"cname to nowhere", "dangling.example.com", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "",
     "nowhere.example.com", -1},
    {"chain of 8 links", "c0.example.com", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.88",
     "c8.example.com", -1},
    {"chain of 9 links", "d0.example.com", HD_DNS_T_A, HD_DNS_SERVFAIL, 2, "", NULL, -1},
    {"cname loop", "loop1.example.com", HD_DNS_T_A, HD_DNS_SERVFAIL, 2, "", NULL, -1},
    /* pseudo-types */
    {"timeout: asked type still answers", "slow.example.com", HD_DNS_T_A, HD_DNS_OK, 0,
     "192.0.2.20", NULL, -1},
    {"timeout: other type times out", "slow.example.com", HD_DNS_T_TXT, HD_DNS_TIMEOUT, -1, "",
     NULL, -1},
    {"timeout only: a", "dead.example.com", HD_DNS_T_A, HD_DNS_TIMEOUT, -1, "", NULL, -1},
    {"timeout only: mx", "dead.example.com", HD_DNS_T_MX, HD_DNS_TIMEOUT, -1, "", NULL, -1},
    {"servfail: other type", "broken.example.com", HD_DNS_T_A, HD_DNS_SERVFAIL, 2, "", NULL, -1},
    {"servfail: asked type still answers", "broken.example.com", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[1]still here", NULL, -1},
    {"cname to a timeout name", "cto.example.com", HD_DNS_T_A, HD_DNS_TIMEOUT, -1, "",
     "dead.example.com", -1},
    {"child of a timeout name", "x.dead.example.com", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL,
     -1},
};

static void run_query_cases(hd_dns *dns, const struct query_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct query_case *c = &cases[i];
        hd_dns_answer *ans = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_dns_query(dns, c->qname, c->qtype, &ans, &err);
        if (rc != 0)
            fail_msg("%s: rc %d (%s)", c->name, rc, err.msg);
        char got[2048];
        render(ans, got, sizeof got);
        if (ans->status != c->want || ans->rcode != c->rcode || strcmp(got, c->rrs) != 0)
            fail_msg("%s: got %s rcode %d \"%s\" (%s), want %s rcode %d \"%s\"", c->name,
                     hd_dns_status_name(ans->status), ans->rcode, got, ans->why,
                     hd_dns_status_name(c->want), c->rcode, c->rrs);
        if ((c->canonname == NULL) != (ans->canonname == NULL) ||
            (c->canonname != NULL && strcmp(c->canonname, ans->canonname) != 0))
            fail_msg("%s: canonname %s, want %s", c->name,
                     ans->canonname ? ans->canonname : "(null)",
                     c->canonname ? c->canonname : "(null)");
        if (c->ttl >= 0 && ans->ttl != (uint32_t)c->ttl)
            fail_msg("%s: ttl %u, want %ld", c->name, ans->ttl, c->ttl);
        for (size_t k = 0; k < ans->nrr; k++)
            assert_int_equal(ans->rr[k].type, c->qtype);
        if (ans->status == HD_DNS_SERVFAIL || ans->status == HD_DNS_TIMEOUT ||
            ans->status == HD_DNS_ERROR)
            assert_true(ans->why[0] != '\0');
        assert_int_equal(ans->qtype, c->qtype);
        hd_dns_answer_free(ans);
    }
}

static void test_query_table(void **state)
{
    hd_dns *dns = fixture_dns();
    run_query_cases(dns, query_cases, sizeof query_cases / sizeof query_cases[0]);
    hd_dns_free(dns);
}

/* The reasons given for failures name what happened. */
static void test_failure_reasons(void **state)
{
    hd_dns *dns = fixture_dns();
    static const struct {
        const char *qname, *why;
    } cases[] = {
        {"loop1.example.com", "CNAME chain from loop1.example.com is longer than 8 links"},
        {"dead.example.com", "dead.example.com is marked TIMEOUT"},
        {"broken.example.com", "broken.example.com is marked SERVFAIL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_dns_answer *ans;
        assert_int_equal(hd_dns_query(dns, cases[i].qname, HD_DNS_T_A, &ans, NULL), 0);
        if (strstr(ans->why, cases[i].why) == NULL)
            fail_msg("%s: why \"%s\", want \"%s\"", cases[i].qname, ans->why, cases[i].why);
        hd_dns_answer_free(ans);
    }
    hd_dns_free(dns);
}

static void test_answer_fields(void **state)
{
    hd_dns *dns = fixture_dns();
    hd_dns_answer *ans;
    assert_int_equal(hd_dns_query(dns, "MX1.example.com.", HD_DNS_T_A, &ans, NULL), 0);
    assert_string_equal(ans->qname, "MX1.example.com"); /* as asked, no trailing dot */
    assert_false(ans->secure);
    assert_false(ans->bogus);
    assert_int_equal(ans->nrr, 1);
    assert_int_equal(ans->rr[0].ttl, 300);
    hd_dns_answer_free(ans);
    assert_int_equal(hd_dns_query(dns, "multi.example.com", HD_DNS_T_A, &ans, NULL), 0);
    assert_int_equal(ans->rr[0].ttl, 100);
    assert_int_equal(ans->rr[1].ttl, 50);
    hd_dns_answer_free(ans);
    hd_dns_free(dns);
}

struct zone_case {
    const char *name, *text;
    int want_rc;
    const char *want; /* substring of the message, with "t.zone:LINE: " */
};

/* A label of 63 'A's written as \065 (252 characters, 63 octets). */
#define E8 "\\065\\065\\065\\065\\065\\065\\065\\065"
#define E63 E8 E8 E8 E8 E8 E8 E8 "\\065\\065\\065\\065\\065\\065\\065"
#define A8 "AAAAAAAA"
#define A63 A8 A8 A8 A8 A8 A8 A8 "AAAAAAA"
#define L63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
#define L61 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi"
#define S255                                                                               \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234" \
    "5678901234567890123456789012345678901234567890123456789012345678901234567890123456789" \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234"

static const struct zone_case zone_cases[] = {
    /* accepted */
    {"empty text", "", 0, NULL},
    {"comments and blank lines", "; one\n\n   ; two\n\t\n", 0, NULL},
    {"crlf lines", "a.example. A 192.0.2.1\r\nb.example. TXT \"x\"\r\n", 0, NULL},
    {"no newline at the end", "a.example. A 192.0.2.1", 0, NULL},
    {"63-byte label", L63 ".example. A 192.0.2.1\n", 0, NULL},
    {"253-byte name", L63 "." L63 "." L63 "." L61 ". A 192.0.2.1\n", 0, NULL},
    {"255-byte string", "a.example. TXT \"" S255 "\"\n", 0, NULL},
    {"quote inside a comment", "a.example. A 192.0.2.1 ; it's \"fine\n", 0, NULL},
    {"quoted semicolon", "a.example. TXT \"a;b\" ; c\n", 0, NULL},
    {"ttl and class in any case", "a.example. 5 in Txt x\na.example. IN 6 txt y\n", 0, NULL},
    {"txt of zero strings", "a.example. TXT\nb.example. 5 IN TXT ; none\n", 0, NULL},
    /* names with escapes (RFC 1035 §5.1), limits on the decoded octets */
    {"every escape form in names",
     "a\\032b\\ c\\.d\\\\e\\\"f\\;g\\(h\\)i.example. A 192.0.2.1\n"
     "\\@.example. CNAME \\$.example.\n"
     "x.example. MX 10 \\255\\000.example.\n", 0, NULL},
    {"63 octets written as \\DDD", E63 ".example. A 192.0.2.1\n", 0, NULL},
    {"an escaped dot is one octet", L61 "\\.x.example. A 192.0.2.1\n", 0, NULL},
    {"253 octets, 441 characters", E63 "." E63 "." L63 "." L61 ". A 192.0.2.1\n", 0, NULL},
    {"escaped dot before a separator", "a\\..example. A 192.0.2.1\n", 0, NULL},
    {"escaped backslash before a trailing dot", "a\\\\. A 192.0.2.1\n", 0, NULL},
    /* refused, each with its line */
    {"bad ipv4", "a.example. A 1.2.3\n", HD_ESYNTAX, "t.zone:1: bad IPv4 address \"1.2.3\""},
    {"ipv4 octet too big", "\n\na.example. A 192.0.2.256\n", HD_ESYNTAX,
     "t.zone:3: bad IPv4 address"},
    {"ipv6 in an A", "a.example. A 2001:db8::1\n", HD_ESYNTAX, "t.zone:1: bad IPv4 address"},
    {"bad ipv6", "; c\n\nb.example. AAAA 2001:db8::zz\n", HD_ESYNTAX,
     "t.zone:3: bad IPv6 address \"2001:db8::zz\""},
    {"unknown type", "x.example. IN SRV 0 0 25 mx.example.\n", HD_ESYNTAX,
     "t.zone:1: unknown type \"SRV\""},
    {"quoted type", "x.example. \"A\" 192.0.2.1\n", HD_ESYNTAX, "t.zone:1: unknown type \"A\""},
    {"unterminated quote", "a. A 192.0.2.1\nx.example. TXT \"abc\ny. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:2: unterminated quoted string"},
    {"unterminated before crlf", "x.example. TXT \"abc\r\ny. A 192.0.2.1\r\n", HD_ESYNTAX,
     "t.zone:1: unterminated quoted string"},
    {"carriage return inside quotes", "x.example. TXT \"a\rb\"\n", HD_ESYNTAX,
     "t.zone:1: control character 0x0d in a quoted string"},
    {"unterminated at eof", "x.example. TXT \"abc\\\"", HD_ESYNTAX,
     "t.zone:1: unterminated quoted string"},
    {"256-byte string", "a.example. TXT \"" S255 "x\"\n", HD_ESYNTAX,
     "t.zone:1: TXT string longer than 255 bytes"},
    {"256-byte unquoted string", "a.example. TXT " S255 "x\n", HD_ESYNTAX,
     "t.zone:1: TXT string longer than 255 bytes"},
    {"254-byte name", "\n" L63 "." L63 "." L63 "." L61 "x. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:2: name \""},
    {"254-byte name says why", L63 "." L63 "." L63 "." L61 "x A 192.0.2.1\n", HD_ESYNTAX,
     "is longer than 253 octets (254)"},
    {"64-byte label", "a.example. CNAME " L63 "x.example.\n", HD_ESYNTAX,
     "t.zone:1: label \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh...\" is "
     "longer than 63 octets (64)"},
    {"empty name", ". A 192.0.2.1\n", HD_ESYNTAX, "t.zone:1: empty name"},
    /* bad escapes and limits in names, each naming its line and problem */
    {"\\DDD over 255 in an owner", "ok.example. A 192.0.2.1\nx\\256.example. A 192.0.2.1\n",
     HD_ESYNTAX,
     "t.zone:2: bad escape \"\\256\" in \"x\\256.example.\": \\DDD is a byte value, "
     "at most 255"},
    {"\\DDD over 255 in a target", "x.example. CNAME y\\300.example.\n", HD_ESYNTAX,
     "t.zone:1: bad escape \"\\300\" in \"y\\300.example.\""},
    {"\\DDD of two digits", "\n\nx\\12.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:3: bad escape \"\\12\" in \"x\\12.example.\": \\DDD needs exactly three "
     "digits"},
    {"\\DDD of one digit and a letter", "x\\1a.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: bad escape \"\\1\" in \"x\\1a.example.\": \\DDD needs exactly three"},
    {"\\DDD cut by the end of the name", "x.example. PTR y\\25\n", HD_ESYNTAX,
     "t.zone:1: bad escape \"\\25\" in \"y\\25\": \\DDD needs exactly three digits"},
    {"lone backslash at the end of an owner", "\nx.example\\\n", HD_ESYNTAX,
     "t.zone:2: \"x.example\\\" ends in a lone backslash"},
    {"lone backslash before crlf", "x.example. CNAME y.example\\\r\n", HD_ESYNTAX,
     "t.zone:1: \"y.example\\\" ends in a lone backslash"},
    {"lone backslash at the end of the text", "x.example. MX 10 y\\", HD_ESYNTAX,
     "t.zone:1: \"y\\\" ends in a lone backslash"},
    {"lone backslash at the end of a txt word", "x.example. TXT abc\\\n", HD_ESYNTAX,
     "t.zone:1: \"abc\\\" ends in a lone backslash"},
    {"empty label beside an escape", "a\\032..b. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: empty label in \"a\\032..b.\""},
    {"empty label in a target", "a. A 192.0.2.1\nx. MX 1 a.\\...\n", HD_ESYNTAX,
     "t.zone:2: empty label in \"a.\\...\""},
    {"escaped dot before the trailing dot", "x. MX 1 a.\\..\n", 0, NULL},
    {"64 octets written as \\DDD", E63 "\\065.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: label \"\\065\\065\\065"},
    {"64 octets says how many", E63 "\\065.example. A 192.0.2.1\n", HD_ESYNTAX,
     "is longer than 63 octets (64)"},
    {"64 octets with an escaped dot", "x. CNAME " L61 "\\.xy.example.\n", HD_ESYNTAX,
     "t.zone:1: label \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh...\" is "
     "longer than 63 octets (64)"},
    {"254 octets with escapes", E63 "." E63 "." L63 "." L61 "x. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: name \"\\065\\065"},
    {"254 octets says how many", E63 "." E63 "." L63 "." L61 "x. A 192.0.2.1\n", HD_ESYNTAX,
     "is longer than 253 octets (254)"},
    {"escaped wildcard", "\\*.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: wildcard names are not supported"},
    {"wildcard as \\042", "\\042.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: wildcard names are not supported"},
    {"escaped control character", "x\\\001y.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: control character 0x01"},
    {"escaped carriage return", "x\\\ry.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: control character 0x0d"},
    {"empty label", "a..example. A 192.0.2.1\n", HD_ESYNTAX, "t.zone:1: empty label in"},
    {"leading dot", ".a.example. A 192.0.2.1\n", HD_ESYNTAX, "t.zone:1: empty label in"},
    {"root target of a cname", "a.example. CNAME .\n", HD_ESYNTAX, "t.zone:1: empty name"},
    {"missing a data", "x.example. A\n", HD_ESYNTAX,
     "t.zone:1: missing data: A needs an IPv4 address"},
    {"missing aaaa data", "x.example. AAAA ; nothing\n", HD_ESYNTAX,
     "t.zone:1: missing data: AAAA needs an IPv6 address"},
    {"missing mx exchanger", "x.example. MX 10\n", HD_ESYNTAX,
     "t.zone:1: missing data: MX needs a mail exchanger"},
    {"missing mx", "x.example. MX\n", HD_ESYNTAX, "t.zone:1: missing data: MX needs"},
    {"missing ptr", "x.example. PTR\n", HD_ESYNTAX, "t.zone:1: missing data: PTR needs a name"},
    {"missing type", "x.example.\n", HD_ESYNTAX, "t.zone:1: missing type after \"x.example\""},
    {"missing type after ttl", "x.example. 300 IN\n", HD_ESYNTAX, "t.zone:1: missing type"},
    {"bad mx preference", "x.example. MX 70000 mx.example.\n", HD_ESYNTAX,
     "t.zone:1: bad MX preference \"70000\""},
    {"extra data", "x.example. A 192.0.2.1 192.0.2.2\n", HD_ESYNTAX,
     "t.zone:1: unexpected \"192.0.2.2\" after the address"},
    {"data after timeout", "x.example. TIMEOUT now\n", HD_ESYNTAX,
     "t.zone:1: unexpected \"now\" after TIMEOUT"},
    {"escape above 255", "x.example. TXT \"\\300\"\n", HD_ESYNTAX, "t.zone:1: bad escape"},
    {"escape of two digits", "x.example. TXT \"\\12\"\n", HD_ESYNTAX, "t.zone:1: bad escape"},
    {"quoted name", "x.example. CNAME \"y.example.\"\n", HD_ESYNTAX,
     "t.zone:1: a name cannot be quoted"},
    {"class ch", "x.example. CH TXT \"a\"\n", HD_ESYNTAX, "t.zone:1: class CH is not supported"},
    {"ttl too big", "x.example. 2147483648 A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: TTL 2147483648 is larger than"},
    {"bad $TTL", "$TTL 1h\n", HD_ESYNTAX, "t.zone:1: bad $TTL \"1h\""},
    {"empty $TTL", "$TTL\n", HD_ESYNTAX, "t.zone:1: missing data: $TTL needs"},
    {"$ORIGIN", "$ORIGIN example.\n", HD_ESYNTAX, "t.zone:1: $ORIGIN is not supported"},
    {"unknown directive", "\n$FOO 1\n", HD_ESYNTAX, "t.zone:2: unknown directive \"$FOO\""},
    {"origin @", "@ A 192.0.2.1\n", HD_ESYNTAX, "t.zone:1: '@' (the origin) is not supported"},
    {"wildcard", "*.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: wildcard names are not supported"},
    {"blank start on the first line", "  A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: line starts with a blank but there is no previous name"},
    {"close without open", "x.example. A 192.0.2.1 )\n", HD_ESYNTAX, "t.zone:1: ')' without '('"},
    {"open never closed", "a. A 192.0.2.1\nx.example. TXT ( \"a\"\n\"b\"\n", HD_ESYNTAX,
     "t.zone:2: '(' is never closed"},
    {"error after a parenthesised record", "x. TXT (\n a\n b )\ny. A 1\n", HD_ESYNTAX,
     "t.zone:4: bad IPv4 address"},
    {"control character", "x.example. TXT a\001b\n", HD_ESYNTAX,
     "t.zone:1: control character 0x01"},
    {"text after a closing quote", "x.example. TXT \"a\"b\n", HD_ESYNTAX,
     "t.zone:1: expected a space after the closing quote"},
    {"crlf line count", "a. A 192.0.2.1\r\n\r\nb. A x\r\n", HD_ESYNTAX,
     "t.zone:3: bad IPv4 address \"x\""},
    /* RFC 1034 §3.6.2 and the pseudo-types */
    {"cname and other data", "x.example. A 192.0.2.1\nx.example. CNAME y.example.\n",
     HD_ESYNTAX, "t.zone:2: x.example has other records, so it cannot have a CNAME"},
    {"data after a cname", "x.example. CNAME y.example.\nX.example. TXT \"a\"\n", HD_ESYNTAX,
     "t.zone:2: x.example has a CNAME (line 1)"},
    {"two cnames", "x.example. CNAME y.example.\nx.example. CNAME z.example.\n", HD_ESYNTAX,
     "t.zone:2: x.example has a second CNAME (the first is on line 1)"},
    {"timeout and servfail", "x.example. TIMEOUT\n\nx.example. SERVFAIL\n", HD_ESYNTAX,
     "t.zone:3: x.example is marked both TIMEOUT and SERVFAIL (the other is on line 1)"},
    {"cname and timeout", "x.example. TIMEOUT\nx.example. CNAME y.example.\n", HD_ESYNTAX,
     "t.zone:2: x.example has other records"},
    /* names in these messages are written with escapes */
    {"two cnames on an escaped name",
     "x\\032Y.example. CNAME a.example.\nx\\ y.example. CNAME b.example.\n", HD_ESYNTAX,
     "t.zone:2: x\\032y.example has a second CNAME (the first is on line 1)"},
    {"cname beside data, dot in a label",
     "a\\.b.example. A 192.0.2.1\na\\046B.example. CNAME c.example.\n", HD_ESYNTAX,
     "t.zone:2: a\\.b.example has other records"},
    {"missing type after an escaped name", "a\\.b\\032c\\\\\\;.example.\n", HD_ESYNTAX,
     "t.zone:1: missing type after \"a\\.b\\032c\\\\\\;.example\""},
};

static void test_zone_syntax_table(void **state)
{
    for (size_t i = 0; i < sizeof zone_cases / sizeof zone_cases[0]; i++) {
        const struct zone_case *c = &zone_cases[i];
        hd_dns *dns = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_dns_new_zone_text(&dns, hd_slice_cstr(c->text), "t.zone", &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
        if (c->want != NULL && strstr(err.msg, c->want) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.msg, c->want);
        if (rc == 0)
            assert_non_null(dns);
        else
            assert_null(dns);
        hd_dns_free(dns);
    }
}

/* Names with RFC 1035 §5.1 escapes ----------------------------------------
 *
 * Owners and targets are decoded to octets; a question's name is dotted
 * text in which every byte is itself (dns.h), so "a b.example" finds the
 * owner written "a\032b.example." and a backslash asked for is a backslash.
 */


static const char escaped_fixture[] =
    "a\\032b.example.            TXT \"DDD blank\"\n"
    "c\\ d.example.              TXT \"escaped blank\"\n"
    "macro%percent\\032\\032space%20url-space.example.com. A 1.2.3.4\n"
    "dot\\.inside.example.       TXT \"one label with a dot\"\n"
    "dot\\046ddd.example.        TXT \"a dot written as DDD\"\n"
    "back\\\\slash.example.       A 192.0.2.2\n"
    "trail\\\\.example.           A 192.0.2.3\n"
    "\\065\\066c.example.         A 192.0.2.4\n"
    "\\196.example.              A 192.0.2.5 ; 0xc4, not an ASCII letter\n"
    "semi\\;colon\\(paren\\).example. A 192.0.2.6\n"
    "quote\\\"d.example.          A 192.0.2.7\n"
    "\\@at.example.              A 192.0.2.8\n"
    "\\$dollar.example.          A 192.0.2.9\n"
    "tab\\009.example.           A 192.0.2.10\n"
    "nul\\000byte.example.       A 192.0.2.11\n"
    "a\\..example.               A 192.0.2.12 ; label \"a.\", then \"example\"\n"
    E63 ".long.example.          A 192.0.2.13\n"
    "sp\\032ace.example.         TIMEOUT\n"
    /* targets */
    "mx.example.     MX 10 sp\\032ace.example.\n"
    "mx.example.     MX 20 back\\\\slash.example.\n"
    "ptr.example.    PTR \\065\\066c.example.\n"
    "cn.example.     CNAME a\\032b.example.\n"
    "cndot.example.  CNAME dot\\.inside.example.\n"
    "cnadot.example. CNAME a\\..example.\n"
    "mxdot.example.  MX 10 mail\\.host.example.\n"
    "ptrnul.example. PTR x\\000y.example.\n";

static const struct query_case escaped_cases[] = {
    /* each escape form, asked for as plain text */
    {"\\DDD blank", "a b.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[1]DDD blank", NULL, -1},
    {"\\X blank", "c d.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[1]escaped blank", NULL, -1},
    {"spf suite name", "macro%percent  space%20url-space.example.com", HD_DNS_T_A, HD_DNS_OK,
     0, "1.2.3.4", NULL, -1},
    {"\\\\ is a backslash", "back\\slash.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.2", NULL,
     -1},
    {"a backslash asked for is itself", "trail\\.example", HD_DNS_T_A, HD_DNS_OK, 0,
     "192.0.2.3", NULL, -1},
    {"\\; \\( \\)", "semi;colon(paren).example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.6", NULL,
     -1},
    {"\\\"", "quote\"d.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.7", NULL, -1},
    {"\\@ at the start", "@at.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.8", NULL, -1},
    {"\\$ at the start", "$dollar.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.9", NULL, -1},
    {"\\009 is a tab", "tab\t.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.10", NULL, -1},
    /* case: ASCII letters only, however they were written */
    {"\\065\\066 asked in lower case", "abc.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.4", NULL,
     -1},
    {"\\065\\066 asked in upper case", "ABC.EXAMPLE", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.4", NULL,
     -1},
    {"byte 0xc4 is itself", "\xc4.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.5", NULL, -1},
    {"0xe4 is not 0xc4 in another case", "\xe4.example", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "",
     NULL, -1},
    {"63 octets written as \\DDD", A63 ".long.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.13",
     NULL, -1},
    {"63 octets in lower case", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     ".long.example", HD_DNS_T_A, HD_DNS_OK, 0, "192.0.2.13", NULL, -1},
    /* an escaped dot is inside its label: not a separator, not a parent */
    {"split at the escaped dot", "dot.inside.example", HD_DNS_T_TXT, HD_DNS_NXDOMAIN, 3, "",
     NULL, -1},
    {"\\046 split too", "dot.ddd.example", HD_DNS_T_TXT, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    {"right part is no parent", "inside.example", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    {"the real parent exists", "example", HD_DNS_T_A, HD_DNS_NODATA, 0, "", NULL, -1},
    {"nul byte owner is no prefix", "nul", HD_DNS_T_A, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    /* pseudo-types on an escaped name */
    {"timeout on an escaped name", "sp ace.example", HD_DNS_T_A, HD_DNS_TIMEOUT, -1, "", NULL,
     -1},
    /* targets */
    {"mx targets decoded", "mx.example", HD_DNS_T_MX, HD_DNS_OK, 0,
     "10 sp ace.example;20 back\\slash.example", NULL, -1},
    {"ptr target decoded", "ptr.example", HD_DNS_T_PTR, HD_DNS_OK, 0, "ABc.example", NULL, -1},
    {"cname to an escaped name", "cn.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[1]DDD blank",
     "a b.example", -1},
    {"cname asked for", "cn.example", HD_DNS_T_CNAME, HD_DNS_OK, 0, "a b.example", NULL, -1},
    /* names that text cannot carry: the answer is ERROR, as from unbound */
    {"cname to a dot in a label", "cndot.example", HD_DNS_T_TXT, HD_DNS_ERROR, -1, "", NULL,
     -1},
    {"cname record with a dot in a label", "cndot.example", HD_DNS_T_CNAME, HD_DNS_ERROR, -1,
     "", NULL, -1},
    {"mx target with a dot in a label", "mxdot.example", HD_DNS_T_MX, HD_DNS_ERROR, -1, "", NULL,
     -1},
    {"ptr target with a nul", "ptrnul.example", HD_DNS_T_PTR, HD_DNS_ERROR, -1, "", NULL, -1},
    {"other types of it still answer", "mxdot.example", HD_DNS_T_A, HD_DNS_NODATA, 0, "", NULL,
     -1},
};

static hd_dns *zone_dns(const char *text)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_slice_cstr(text), "esc.zone", &err) != 0)
        fail_msg("zone: %s", err.msg);
    return dns;
}

static void test_escaped_names(void **state)
{
    hd_dns *dns = zone_dns(escaped_fixture);
    run_query_cases(dns, escaped_cases, sizeof escaped_cases / sizeof escaped_cases[0]);
    hd_dns_free(dns);
}

/* What the failures say: names in messages are written with escapes. */
static void test_escaped_reasons(void **state)
{
    hd_dns *dns = zone_dns(escaped_fixture);
    static const struct {
        const char *qname;
        uint16_t qtype;
        const char *why;
    } cases[] = {
        {"sp ace.example", HD_DNS_T_A, "zone fixture: sp\\032ace.example is marked TIMEOUT"},
        {"cndot.example", HD_DNS_T_A,
         "zone fixture: the CNAME target dot\\.inside.example has a '.' or NUL inside a label"},
        {"mxdot.example", HD_DNS_T_MX,
         "zone fixture: the MX target mail\\.host.example has a '.' or NUL inside a label"},
        {"ptrnul.example", HD_DNS_T_PTR, "the PTR target x\\000y.example has"},
        {"cnadot.example", HD_DNS_T_A, "the CNAME target a\\..example has"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_dns_answer *ans;
        assert_int_equal(hd_dns_query(dns, cases[i].qname, cases[i].qtype, &ans, NULL), 0);
        if (strstr(ans->why, cases[i].why) == NULL)
            fail_msg("%s: why \"%s\", want \"%s\"", cases[i].qname, ans->why, cases[i].why);
        assert_null(ans->canonname);
        assert_int_equal(ans->nrr, 0);
        hd_dns_answer_free(ans);
    }
    hd_dns_free(dns);
}

/* TXT records of zero strings --------------------------------------------
 *
 * "name TXT" with no string is a record with no text: the name exists (a
 * TXT question gets OK with one record of zero strings, another type
 * NODATA), unlike a name with no line at all (NXDOMAIN); "" is one empty
 * string.
 */

static const char empty_txt_fixture[] =
    "empty.example.      TXT\n"
    "emptystr.example.   TXT \"\"\n"
    "comment.example.    60 IN TXT ; nothing but a comment\n"
    "paren.example.      TXT ( ; nothing inside either\n"
    "                    )\n"
    "both.example.       TXT\n"
    "both.example.       TXT \"v=spf1 -all\"\n"
    "strings.example.    TXT \"\" \"\" \"\"\n"
    "alias.example.      CNAME empty.example.\n"
    "spfonly.example.    SPF \"v=spf1 -all\"\n";

static const struct query_case empty_txt_cases[] = {
    {"zero strings", "empty.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[0]", NULL, 300},
    {"one empty string", "emptystr.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[1]", NULL, -1},
    {"three empty strings", "strings.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[3]", NULL, -1},
    {"zero strings, a comment after", "comment.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[0]",
     NULL, 60},
    {"zero strings in parentheses", "paren.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[0]", NULL,
     -1},
    {"beside a record with text", "both.example", HD_DNS_T_TXT, HD_DNS_OK, 0,
     "[0];[1]v=spf1 -all", NULL, -1},
    {"through a cname", "alias.example", HD_DNS_T_TXT, HD_DNS_OK, 0, "[0]", "empty.example", -1},
    {"the name exists: nodata", "empty.example", HD_DNS_T_A, HD_DNS_NODATA, 0, "", NULL, -1},
    {"below it: nxdomain", "x.empty.example", HD_DNS_T_TXT, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    {"a sibling: nxdomain", "none.example", HD_DNS_T_TXT, HD_DNS_NXDOMAIN, 3, "", NULL, -1},
    /* RFC 7208 §3.1's retired SPF type: never asked by herald, but its
     * name exists (the openspf suite's "spfonly") */
    {"only an SPF record: txt nodata", "spfonly.example", HD_DNS_T_TXT, HD_DNS_NODATA, 0, "",
     NULL, -1},
    {"only an SPF record: a nodata", "spfonly.example", HD_DNS_T_A, HD_DNS_NODATA, 0, "", NULL,
     -1},
    {"the SPF record itself", "spfonly.example", HD_DNS_T_SPF, HD_DNS_OK, 0, "[1]v=spf1 -all",
     NULL, -1},
};

static void test_empty_txt(void **state)
{
    hd_dns *dns = zone_dns(empty_txt_fixture);
    run_query_cases(dns, empty_txt_cases, sizeof empty_txt_cases / sizeof empty_txt_cases[0]);
    hd_dns_answer *ans;
    assert_int_equal(hd_dns_query(dns, "empty.example", HD_DNS_T_TXT, &ans, NULL), 0);
    assert_int_equal(ans->nrr, 1);
    assert_int_equal(ans->rr[0].txt_strings, 0);
    assert_int_equal(ans->rr[0].txt_len, 0);
    assert_non_null(ans->rr[0].txt); /* "" rather than NULL, as for any TXT */
    assert_int_equal(ans->rr[0].txt[0], '\0');
    hd_dns_answer_free(ans);
    hd_dns_free(dns);
}

/* RRsets are bounded at HD_LIMIT_DNS_RRS; the first record past it is
 * named by its line. */
static void test_rrset_limit(void **state)
{
    hd_buf text;
    hd_buf_init(&text, 1 << 20);
    for (int i = 0; i < HD_LIMIT_DNS_RRS; i++)
        assert_int_equal(hd_buf_printf(&text, "many.example. A 10.0.%d.%d\n", i / 256, i % 256), 0);
    assert_int_equal(hd_buf_printf(&text, "many.example. TXT \"other types count apart\"\n"), 0);
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_buf_slice(&text), "t.zone", &err), 0);
    hd_dns_answer *ans;
    assert_int_equal(hd_dns_query(dns, "many.example", HD_DNS_T_A, &ans, NULL), 0);
    assert_int_equal(ans->nrr, HD_LIMIT_DNS_RRS);
    hd_dns_answer_free(ans);
    hd_dns_free(dns);

    assert_int_equal(hd_buf_printf(&text, "many.example. A 10.1.0.0\n"), 0);
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_buf_slice(&text), "t.zone", &err),
                     HD_ESYNTAX);
    assert_string_equal(err.msg, "t.zone:258: more than 256 A records for many.example");
    hd_buf_free(&text);
}

static void test_zone_size_limit(void **state)
{
    size_t len = HD_LIMIT_ZONE_BYTES + 1;
    uint8_t *big = malloc(len);
    assert_non_null(big);
    memset(big, '\n', len);
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_slice_make(big, len), "big.zone", &err),
                     HD_ELIMIT);
    assert_non_null(strstr(err.msg, "big.zone: zone is"));
    assert_null(dns);
    free(big);
}

static void test_zone_file(void **state)
{
    char *dir = tu_mkdtemp();
    const char *good = tu_path(dir, "good.zone"), *bad = tu_path(dir, "bad.zone");
    FILE *f = fopen(good, "w");
    assert_non_null(f);
    fputs("$TTL 60\nfile.example. TXT \"from a file\"\n", f);
    fclose(f);
    f = fopen(bad, "w");
    assert_non_null(f);
    fputs("ok.example. A 192.0.2.1\nbad.example. AAAA nope\n", f);
    fclose(f);

    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_dns_new_zone_file(&dns, good, &err), 0);
    hd_dns_answer *ans;
    assert_int_equal(hd_dns_query(dns, "file.example", HD_DNS_T_TXT, &ans, &err), 0);
    assert_int_equal(ans->status, HD_DNS_OK);
    assert_string_equal((const char *)ans->rr[0].txt, "from a file");
    assert_int_equal(ans->ttl, 60);
    hd_dns_answer_free(ans);
    hd_dns_free(dns);

    char want[4200];
    snprintf(want, sizeof want, "%s:2: bad IPv6 address \"nope\"", bad);
    assert_int_equal(hd_dns_new_zone_file(&dns, bad, &err), HD_ESYNTAX);
    assert_string_equal(err.msg, want);
    assert_int_equal(hd_dns_new_zone_file(&dns, tu_path(dir, "missing.zone"), &err), HD_EIO);
    assert_non_null(strstr(err.msg, "missing.zone"));
    tu_rmtree(dir);
    free(dir);
}

/* Names checked on submit ------------------------------------------------ */

struct name_case {
    const char *name, *qname;
    int want_rc;
    const char *want;
};

static const struct name_case name_cases[] = {
    {"plain", "example.com", 0, NULL},
    {"one trailing dot", "example.com.", 0, NULL},
    {"single label", "localhost", 0, NULL},
    {"63-byte label", L63 ".example", 0, NULL},
    {"253 bytes", L63 "." L63 "." L63 "." L61, 0, NULL},
    {"253 bytes and a dot", L63 "." L63 "." L63 "." L61 ".", 0, NULL},
    {"empty", "", HD_EINVAL, "empty name"},
    {"root", ".", HD_EINVAL, "empty name"},
    {"two trailing dots", "example.com..", HD_EINVAL, "empty label"},
    {"empty label", "a..example.com", HD_EINVAL, "empty label"},
    {"leading dot", ".example.com", HD_EINVAL, "empty label"},
    {"64-byte label", L63 "x.example", HD_EINVAL, "longer than 63 characters"},
    {"254 bytes", L63 "." L63 "." L63 "." L61 "x", HD_EINVAL, "longer than 253 characters"},
};

static void count_cb(void *arg, hd_dns_answer *ans)
{
    (*(int *)arg)++;
    hd_dns_answer_free(ans);
}

static void test_submit_checks_names(void **state)
{
    hd_dns *dns = fixture_dns();
    for (size_t i = 0; i < sizeof name_cases / sizeof name_cases[0]; i++) {
        const struct name_case *c = &name_cases[i];
        hd_err err;
        hd_err_clear(&err);
        int calls = 0;
        int rc = hd_dns_submit(dns, c->qname, HD_DNS_T_A, count_cb, &calls, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
        if (c->want != NULL && strstr(err.msg, c->want) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.msg, c->want);
        assert_int_equal(hd_dns_wait(dns, &err), 0);
        assert_int_equal(calls, rc == 0 ? 1 : 0);
        assert_int_equal(hd_dns_pending(dns), 0);
    }
    hd_dns_free(dns);
}

/* The asynchronous API --------------------------------------------------- */

struct log {
    int n;
    char order[8][64];
    hd_dns_status status[8];
    hd_dns *dns; /* to submit from a callback */
};

static void log_cb(void *arg, hd_dns_answer *ans)
{
    struct log *lg = arg;
    snprintf(lg->order[lg->n], sizeof lg->order[0], "%s/%s", ans->qname,
             hd_dns_type_name(ans->qtype));
    lg->status[lg->n++] = ans->status;
    hd_dns_answer_free(ans);
}

static void test_async_submit_then_process(void **state)
{
    hd_dns *dns = fixture_dns();
    struct log lg = {0};
    assert_int_equal(hd_dns_fd(dns), -1);
    assert_int_equal(hd_dns_next_timeout_ms(dns, hd_dns_now_ms()), -1);
    assert_int_equal(hd_dns_submit(dns, "example.com", HD_DNS_T_MX, log_cb, &lg, NULL), 0);
    assert_int_equal(hd_dns_submit(dns, "dead.example.com", HD_DNS_T_A, log_cb, &lg, NULL), 0);
    assert_int_equal(hd_dns_submit(dns, "nosuch.example", HD_DNS_T_TXT, log_cb, &lg, NULL), 0);
    assert_int_equal(lg.n, 0); /* never from submit */
    assert_int_equal(hd_dns_pending(dns), 3);
    assert_int_equal(hd_dns_next_timeout_ms(dns, hd_dns_now_ms()), 0); /* ready now */
    assert_int_equal(hd_dns_process(dns, hd_dns_now_ms()), 3);
    assert_int_equal(hd_dns_pending(dns), 0);
    assert_int_equal(lg.n, 3);
    assert_string_equal(lg.order[0], "example.com/MX");
    assert_string_equal(lg.order[1], "dead.example.com/A");
    assert_string_equal(lg.order[2], "nosuch.example/TXT");
    assert_int_equal(lg.status[0], HD_DNS_OK);
    assert_int_equal(lg.status[1], HD_DNS_TIMEOUT); /* at once, no real waiting */
    assert_int_equal(lg.status[2], HD_DNS_NXDOMAIN);
    assert_int_equal(hd_dns_process(dns, hd_dns_now_ms()), 0);
    hd_dns_free(dns);
}

static void chain_cb(void *arg, hd_dns_answer *ans)
{
    struct log *lg = arg;
    bool first = lg->n == 0;
    log_cb(arg, ans);
    if (first)
        assert_int_equal(hd_dns_submit(lg->dns, "mx1.example.com", HD_DNS_T_A, chain_cb, lg,
                                       NULL), 0);
}

/* A callback may ask the next question; it is answered by a later process
 * call (one call delivers what was ready when it began), or by wait. */
static void test_async_submit_from_callback(void **state)
{
    hd_dns *dns = fixture_dns();
    struct log lg = {.dns = dns};
    assert_int_equal(hd_dns_submit(dns, "example.com", HD_DNS_T_MX, chain_cb, &lg, NULL), 0);
    assert_int_equal(hd_dns_process(dns, 0), 1);
    assert_int_equal(hd_dns_pending(dns), 1);
    assert_int_equal(hd_dns_process(dns, 0), 1);
    assert_int_equal(lg.n, 2);
    assert_string_equal(lg.order[1], "mx1.example.com/A");

    lg.n = 0;
    assert_int_equal(hd_dns_submit(dns, "example.com", HD_DNS_T_MX, chain_cb, &lg, NULL), 0);
    assert_int_equal(hd_dns_wait(dns, NULL), 0);
    assert_int_equal(lg.n, 2);
    assert_int_equal(hd_dns_pending(dns), 0);
    hd_dns_free(dns);
}

static void never_cb(void *arg, hd_dns_answer *ans)
{
    fail_msg("callback ran after hd_dns_free");
}

/* Freeing with answers queued runs no callback and leaks nothing (ASan). */
static void test_free_with_pending(void **state)
{
    hd_dns *dns = fixture_dns();
    assert_int_equal(hd_dns_submit(dns, "example.com", HD_DNS_T_TXT, never_cb, NULL, NULL), 0);
    assert_int_equal(hd_dns_submit(dns, "esc.example.com", HD_DNS_T_TXT, never_cb, NULL, NULL), 0);
    hd_dns_free(dns);
    hd_dns_free(NULL);
}

static void test_names_of_things(void **state)
{
    assert_string_equal(hd_dns_status_name(HD_DNS_OK), "OK");
    assert_string_equal(hd_dns_status_name(HD_DNS_NODATA), "NODATA");
    assert_string_equal(hd_dns_status_name(HD_DNS_NXDOMAIN), "NXDOMAIN");
    assert_string_equal(hd_dns_status_name(HD_DNS_SERVFAIL), "SERVFAIL");
    assert_string_equal(hd_dns_status_name(HD_DNS_TIMEOUT), "TIMEOUT");
    assert_string_equal(hd_dns_status_name(HD_DNS_ERROR), "ERROR");
    assert_string_equal(hd_dns_type_name(HD_DNS_T_TXT), "TXT");
    assert_string_equal(hd_dns_type_name(HD_DNS_T_AAAA), "AAAA");
    assert_string_equal(hd_dns_type_name(HD_DNS_T_CNAME), "CNAME");
    assert_string_equal(hd_dns_type_name(HD_DNS_T_SPF), "SPF");
    assert_string_equal(hd_dns_type_name(98), "TYPE98");
    assert_string_equal(hd_dns_type_name(65535), "TYPE65535");
    uint64_t a = hd_dns_now_ms(), b = hd_dns_now_ms();
    assert_true(a > 0 && b >= a);
    hd_dns_answer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_table),
        cmocka_unit_test(test_failure_reasons),
        cmocka_unit_test(test_answer_fields),
        cmocka_unit_test(test_zone_syntax_table),
        cmocka_unit_test(test_escaped_names),
        cmocka_unit_test(test_escaped_reasons),
        cmocka_unit_test(test_empty_txt),
        cmocka_unit_test(test_rrset_limit),
        cmocka_unit_test(test_zone_size_limit),
        cmocka_unit_test(test_zone_file),
        cmocka_unit_test(test_submit_checks_names),
        cmocka_unit_test(test_async_submit_then_process),
        cmocka_unit_test(test_async_submit_from_callback),
        cmocka_unit_test(test_free_with_pending),
        cmocka_unit_test(test_names_of_things),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
