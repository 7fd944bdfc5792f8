/*
 * dns_test.c - the resolver interface through the zone-file fixture back
 * end: every record type, escapes, TTLs, NXDOMAIN / NODATA / empty
 * non-terminals, CNAME chains, the TIMEOUT and SERVFAIL pseudo-types, every
 * syntax error with its line, and the asynchronous API.
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
    "; the DESIGN.md example, and more\n"
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

static void test_query_table(void **state)
{
    hd_dns *dns = fixture_dns();
    for (size_t i = 0; i < sizeof query_cases / sizeof query_cases[0]; i++) {
        const struct query_case *c = &query_cases[i];
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
        if (ans->status == HD_DNS_SERVFAIL || ans->status == HD_DNS_TIMEOUT)
            assert_true(ans->why[0] != '\0');
        assert_int_equal(ans->qtype, c->qtype);
        hd_dns_answer_free(ans);
    }
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
     "is longer than 253 characters (254)"},
    {"64-byte label", "a.example. CNAME " L63 "x.example.\n", HD_ESYNTAX,
     "is longer than 63 characters (64)"},
    {"empty name", ". A 192.0.2.1\n", HD_ESYNTAX, "t.zone:1: empty name"},
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
    {"missing txt", "x.example. TXT\n", HD_ESYNTAX, "t.zone:1: missing data: TXT needs"},
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
    {"escape in a name", "x\\.y.example. A 192.0.2.1\n", HD_ESYNTAX,
     "t.zone:1: escapes in names are not supported"},
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
    assert_string_equal(hd_dns_type_name(99), "TYPE99");
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
