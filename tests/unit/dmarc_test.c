/*
 * dmarc_test.c - DMARC: record parsing, the RFC 9989 tree walk (the RFC's
 * own examples), policy discovery with sp/np/psd/t, the alignment matrix in
 * both modes, Public Suffix List edge cases, temperror paths.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/dmarc.h>
#include <herald/dns.h>
#include <herald/limits.h>

static hd_dmarc_psl *psl;

static int load_psl(void **state)
{
    hd_err err;
    if (hd_dmarc_psl_load(NULL, &psl, &err) != 0) {
        fprintf(stderr, "%s (Debian's publicsuffix package)\n", err.msg);
        return -1;
    }
    return 0;
}

static int free_psl(void **state)
{
    hd_dmarc_psl_free(psl);
    return 0;
}

/* Records ------------------------------------------------------------------- */

static void test_record_parsing(void **state)
{
    static const struct {
        const char *text;
        int rc;
        hd_dmarc_policy p, sp, np;
        char psd;
        size_t nproblems, nrua;
    } cases[] = {
        {"v=DMARC1; p=reject", 0, HD_DMARC_P_REJECT, HD_DMARC_P_UNSET, HD_DMARC_P_UNSET, 'u', 0, 0},
        {"v=DMARC1;p=none;sp=quarantine;np=reject;psd=n;rua=mailto:a@example.com,mailto:b@example.com", 0,
         HD_DMARC_P_NONE, HD_DMARC_P_QUARANTINE, HD_DMARC_P_REJECT, 'n', 0, 2},
        {"v=DMARC1; p=Reject; ; ", 0, HD_DMARC_P_REJECT, HD_DMARC_P_UNSET, HD_DMARC_P_UNSET, 'u', 0, 0},
        {"v=DMARC1; p=maybe; sp=x; rua=mailto:a@example.com", 0, HD_DMARC_P_UNSET, HD_DMARC_P_UNSET,
         HD_DMARC_P_UNSET, 'u', 2, 1},
        {"v=DMARC1; p=none; pct=20; rf=afrf; ri=86400", 0, HD_DMARC_P_NONE, HD_DMARC_P_UNSET,
         HD_DMARC_P_UNSET, 'u', 3, 0},
        {"v=DMARC1; p=none; unknown=tag; adkim=x", 0, HD_DMARC_P_NONE, HD_DMARC_P_UNSET,
         HD_DMARC_P_UNSET, 'u', 1, 0},
        {"p=reject; v=DMARC1", HD_ESYNTAX, 0, 0, 0, 0, 0, 0},      /* v not first */
        {"v=dmarc1; p=reject", HD_ESYNTAX, 0, 0, 0, 0, 0, 0},      /* case-sensitive */
        {"v=DMARC2; p=reject", HD_ESYNTAX, 0, 0, 0, 0, 0, 0},
        {"v=spf1 -all", HD_ESYNTAX, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_dmarc_record r;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_dmarc_record_parse(hd_slice_cstr(cases[i].text), &r, &err);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d (%s)", cases[i].text, rc, err.msg);
        if (rc != 0)
            continue;
        if (r.p != cases[i].p || r.sp != cases[i].sp || r.np != cases[i].np || r.psd != cases[i].psd ||
            r.nproblems != cases[i].nproblems || r.nrua != cases[i].nrua)
            fail_msg("\"%s\": p=%d sp=%d np=%d psd=%c problems=%zu rua=%zu", cases[i].text, r.p, r.sp,
                     r.np, r.psd, r.nproblems, r.nrua);
    }
}

/* RFC 9989 §4.8 (RFC 7489 §6.3): a malformed term after v=DMARC1 is
 * dropped and listed, with its term number; the record stands. */
static void test_record_malformed_terms(void **state)
{
    static const struct {
        const char *text;
        hd_dmarc_policy p;
        const char *problem; /* expected in problems[0] */
    } cases[] = {
        {"v=DMARC1; p=reject; foo", HD_DMARC_P_REJECT, "term 3 \"foo\""},
        {"v=DMARC1; p=reject; fo:1", HD_DMARC_P_REJECT, "term 3 \"fo:1\""},
        {"v=DMARC1; x-y=1; p=reject", HD_DMARC_P_REJECT, "term 2 \"x-y=1\""},
        {"v=DMARC1; p=reject; ruf mailto:f@example.com", HD_DMARC_P_REJECT,
         "term 3 \"ruf mailto:f@example.com\""},
        {"v=DMARC1; p=quarantine; 1x=y", HD_DMARC_P_QUARANTINE, "term 3 \"1x=y\""},
        {"v=DMARC1; p=reject; a=b\x01", HD_DMARC_P_REJECT, "term 3 \"a=b?\""}, /* printable */
        {"v=DMARC1; p=reject; p=none", HD_DMARC_P_REJECT, "term 3 \"p=none\": a second \"p\""},
        {"v=DMARC1; p:reject", HD_DMARC_P_UNSET, "term 2 \"p:reject\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_dmarc_record r;
        hd_err err;
        hd_err_clear(&err);
        if (hd_dmarc_record_parse(hd_slice_cstr(cases[i].text), &r, &err) != 0)
            fail_msg("\"%s\": not a record (%s)", cases[i].text, err.msg);
        if (r.p != cases[i].p || r.nproblems == 0 || strstr(r.problems[0], cases[i].problem) == NULL)
            fail_msg("\"%s\": p=%d, problems[0] \"%s\"", cases[i].text, r.p,
                     r.nproblems ? r.problems[0] : "");
    }
    /* the rest of the record still counts: rua and adkim after a bad term */
    hd_dmarc_record r;
    assert_int_equal(hd_dmarc_record_parse(
                         hd_slice_cstr("v=DMARC1; junk; p=none; rua mailto:x@example.com; "
                                       "rua=mailto:d@example.com; adkim=s"), &r, NULL), 0);
    assert_int_equal(r.nrua, 1);
    assert_true(r.adkim_strict);
    assert_int_equal(r.nproblems, 2);
    /* values of known tags keep their term number too, and problems come in
     * the record's order */
    assert_int_equal(hd_dmarc_record_parse(hd_slice_cstr("v=DMARC1; p=none; adkim=x; foo; rf=afrf"), &r,
                                           NULL), 0);
    assert_int_equal(r.nproblems, 3);
    assert_non_null(strstr(r.problems[0], "term 3: adkim=x"));
    assert_non_null(strstr(r.problems[1], "term 4 \"foo\""));
    assert_non_null(strstr(r.problems[2], "term 5: rf="));
    /* the first term is not tolerant: it must be exactly v=DMARC1 */
    static const char *const not_dmarc[] = {
        "foo; v=DMARC1; p=reject", "v=DMARC1 p=reject", "v DMARC1; p=reject", "v:DMARC1; p=reject",
        "=DMARC1; p=reject", "v=DMARC1x; p=reject",
    };
    for (size_t i = 0; i < sizeof not_dmarc / sizeof not_dmarc[0]; i++)
        if (hd_dmarc_record_parse(hd_slice_cstr(not_dmarc[i]), &r, NULL) != HD_ESYNTAX)
            fail_msg("\"%s\" taken as a DMARC record", not_dmarc[i]);
}

/* Bad input: the tolerant parse is bounded (record length, term count, and
 * the problems kept). */
static void test_record_bounds(void **state)
{
    static char text[HD_LIMIT_DMARC_RECORD_BYTES + 64];
    hd_dmarc_record r;
    hd_err err;
    size_t o = (size_t)snprintf(text, sizeof text, "v=DMARC1; p=reject");
    /* 62 more terms (64 in all), most of them malformed */
    for (int i = 0; i < HD_LIMIT_TAGS - 2; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, i % 4 ? "; junk%d" : "; t%d=x", i);
    hd_err_clear(&err);
    if (hd_dmarc_record_parse(hd_slice_cstr(text), &r, &err) != 0)
        fail_msg("64 terms: %s", err.msg);
    assert_int_equal(r.p, HD_DMARC_P_REJECT);
    assert_int_equal(r.nproblems, HD_DMARC_MAX_PROBLEMS);
    assert_non_null(strstr(r.problems[HD_DMARC_MAX_PROBLEMS - 1], "more problems"));
    snprintf(text + o, sizeof text - o, "; junk");
    hd_err_clear(&err);
    assert_int_equal(hd_dmarc_record_parse(hd_slice_cstr(text), &r, &err), HD_ESYNTAX);
    assert_non_null(strstr(err.msg, "more than 64 terms"));
    /* length: one byte over the limit, in a value */
    o = (size_t)snprintf(text, sizeof text, "v=DMARC1; p=reject; x=");
    memset(text + o, 'a', HD_LIMIT_DMARC_RECORD_BYTES - o);
    text[HD_LIMIT_DMARC_RECORD_BYTES] = '\0';
    assert_int_equal(hd_dmarc_record_parse(hd_slice_cstr(text), &r, NULL), 0);
    text[HD_LIMIT_DMARC_RECORD_BYTES] = 'a';
    text[HD_LIMIT_DMARC_RECORD_BYTES + 1] = '\0';
    hd_err_clear(&err);
    assert_int_equal(hd_dmarc_record_parse(hd_slice_cstr(text), &r, &err), HD_ESYNTAX);
    assert_non_null(strstr(err.msg, "longer than"));
}

/* Evaluation helpers ---------------------------------------------------------- */

typedef struct req {
    const char *from, *spf;
    bool spf_pass;
    const char *dkim;
    hd_dmarc_mode mode;
    unsigned roll;
} req;

static hd_dmarc_verdict run(const char *zone, req q)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_slice_cstr(zone), "<t>", &err) != 0)
        fail_msg("zone: %s", err.msg);
    hd_dmarc_request r = {.from_domain = q.from, .spf_domain = q.spf, .spf_pass = q.spf_pass,
                          .mode = q.mode, .psl = psl, .pct_roll = q.roll};
    if (q.dkim != NULL) {
        r.dkim_domains[0] = q.dkim;
        r.ndkim = 1;
    }
    hd_dmarc *d = NULL;
    assert_int_equal(hd_dmarc_new(&r, NULL, &d, &err), 0);
    if (hd_dmarc_run(d, dns, &err) != 0)
        fail_msg("run: %s", err.msg);
    hd_dmarc_verdict v = *hd_dmarc_get_verdict(d);
    hd_dmarc_free(d);
    hd_dns_free(dns);
    return v;
}

/* RFC 9989 §4.10: the eight queries of the RFC's own example. */
static void test_tree_walk_queries(void **state)
{
    static const char *const want[] = {
        "_dmarc.a.b.c.d.e.f.g.h.i.j.mail.example.com", "_dmarc.g.h.i.j.mail.example.com",
        "_dmarc.h.i.j.mail.example.com", "_dmarc.i.j.mail.example.com", "_dmarc.j.mail.example.com",
        "_dmarc.mail.example.com", "_dmarc.example.com", "_dmarc.com",
    };
    hd_dmarc_request r = {.from_domain = "a.b.c.d.e.f.g.h.i.j.mail.example.com"};
    hd_dmarc *d = NULL;
    assert_int_equal(hd_dmarc_new(&r, NULL, &d, NULL), 0);
    size_t n = 0;
    for (;;) {
        const char *q;
        uint16_t t;
        assert_int_equal(hd_dmarc_step(d, &q, &t, NULL), 0);
        if (q == NULL)
            break;
        assert_true(n < 8);
        assert_string_equal(q, want[n]);
        assert_int_equal(t, HD_DNS_T_TXT);
        hd_dns_answer none = {.qname = (char *)q, .qtype = t, .status = HD_DNS_NXDOMAIN};
        assert_int_equal(hd_dmarc_answer(d, &none, NULL), 0);
        n++;
    }
    assert_int_equal(n, 8);
    assert_int_equal(hd_dmarc_get_verdict(d)->result, HD_DMARC_NONE);
    hd_dmarc_free(d);
}

/* RFC 9989 §4.10.2's three examples, and policy selection. */
static void test_organizational_domains(void **state)
{
    static const struct {
        const char *name, *zone, *from, *want_record, *want_org, *want_tag;
        hd_dmarc_policy want_policy;
    } cases[] = {
        {"records at mail.example.com and example.com: org is example.com",
         "_dmarc.mail.example.com. IN TXT \"v=DMARC1; p=quarantine\"\n"
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; sp=none\"\n",
         "a.mail.example.com", "example.com", "example.com", "sp", HD_DMARC_P_NONE},
        {"psd=n at mail.example.com",
         "_dmarc.mail.example.com. IN TXT \"v=DMARC1; p=quarantine; psd=n\"\n"
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n",
         "a.mail.example.com", "mail.example.com", "mail.example.com", "p", HD_DMARC_P_QUARANTINE},
        {"only a PSD record at com with psd=y: org is example.com",
         "_dmarc.com. IN TXT \"v=DMARC1; p=reject; psd=y\"\n", "a.mail.example.com", "com",
         "example.com", "p", HD_DMARC_P_REJECT},
        {"the author's own record wins",
         "_dmarc.a.mail.example.com. IN TXT \"v=DMARC1; p=none\"\n"
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n",
         "a.mail.example.com", "a.mail.example.com", "example.com", "p", HD_DMARC_P_NONE},
        {"np for a name that does not exist",
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=none; sp=quarantine; np=reject\"\n",
         "ghost.example.com", "example.com", "example.com", "np", HD_DMARC_P_REJECT},
        {"sp for a name that exists",
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=none; sp=quarantine; np=reject\"\n"
         "real.example.com. IN A 192.0.2.1\n",
         "real.example.com", "example.com", "example.com", "sp", HD_DMARC_P_QUARANTINE},
        {"two records at one name are both discarded",
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n"
         "_dmarc.example.com. IN TXT \"v=DMARC1; p=none\"\n",
         "example.com", "", "", "", HD_DMARC_P_NONE},
        {"a deep name past 8 labels finds the record 7 labels up",
         "_dmarc.c.d.e.f.g.example.com. IN TXT \"v=DMARC1; p=quarantine\"\n",
         "x.y.z.a.b.c.d.e.f.g.example.com", "c.d.e.f.g.example.com", "c.d.e.f.g.example.com", "p",
         HD_DMARC_P_QUARANTINE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_dmarc_verdict v = run(cases[i].zone, (req){.from = cases[i].from});
        bool ok = strcmp(v.record_domain, cases[i].want_record) == 0 &&
                  (!v.have_record || (strcmp(v.org_domain, cases[i].want_org) == 0 &&
                                      strcmp(v.policy_tag, cases[i].want_tag) == 0 &&
                                      v.policy == cases[i].want_policy));
        if (!ok)
            fail_msg("%s: record %s org %s %s=%s (%s)", cases[i].name, v.record_domain, v.org_domain,
                     v.policy_tag, hd_dmarc_policy_name(v.policy), v.reason);
    }
}

/* The alignment matrix: strict/relaxed x SPF/DKIM x same/sub/org/unrelated,
 * in both modes. */
static void test_alignment_matrix(void **state)
{
    static const char *const zones[2] = {
        "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n",
        "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"\n",
    };
    static const struct {
        const char *from, *id;
        bool relaxed, strict;
    } ids[] = {
        {"example.com", "example.com", true, true},
        {"example.com", "mail.example.com", true, false},
        {"news.example.com", "example.com", true, false},
        {"news.example.com", "bounce.example.com", true, false},
        {"example.com", "example.net", false, false},
        {"example.com", "example.com.evil.test", false, false},
    };
    size_t checked = 0;
    for (int mode = 0; mode < 2; mode++)
        for (int strict = 0; strict < 2; strict++)
            for (int via_dkim = 0; via_dkim < 2; via_dkim++)
                for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
                    req q = {.from = ids[i].from, .mode = mode ? HD_DMARC_RFC7489 : HD_DMARC_RFC9989};
                    if (via_dkim)
                        q.dkim = ids[i].id;
                    else
                        q.spf = ids[i].id, q.spf_pass = true;
                    hd_dmarc_verdict v = run(zones[strict], q);
                    bool want = strict ? ids[i].strict : ids[i].relaxed;
                    if ((v.result == HD_DMARC_PASS) != want)
                        fail_msg("mode %d %s %s: From %s, id %s: %s (%s)", mode,
                                 strict ? "strict" : "relaxed", via_dkim ? "DKIM" : "SPF", ids[i].from,
                                 ids[i].id, hd_dmarc_result_name(v.result), v.reason);
                    if (!want && v.result != HD_DMARC_FAIL)
                        fail_msg("unaligned should fail: %s", v.reason);
                    checked++;
                }
    printf("alignment matrix: %zu passed, 0 failed\n", checked);
    /* SPF that did not pass never aligns */
    hd_dmarc_verdict v = run(zones[0], (req){.from = "example.com", .spf = "example.com"});
    assert_int_equal(v.result, HD_DMARC_FAIL);
    assert_int_equal(v.disposition, HD_DMARC_P_REJECT);
}

/* Policy options: t=y (RFC 9989) and pct (RFC 7489) lower the disposition. */
static void test_policy_options(void **state)
{
    hd_dmarc_verdict v = run("_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; t=y\"\n",
                             (req){.from = "example.com", .dkim = "other.test"});
    assert_int_equal(v.result, HD_DMARC_FAIL);
    assert_int_equal(v.policy, HD_DMARC_P_REJECT);
    assert_int_equal(v.disposition, HD_DMARC_P_QUARANTINE);
    static const char pct[] = "_dmarc.example.com. IN TXT \"v=DMARC1; p=quarantine; pct=30\"\n";
    v = run(pct, (req){.from = "example.com", .mode = HD_DMARC_RFC7489, .roll = 10});
    assert_int_equal(v.disposition, HD_DMARC_P_QUARANTINE); /* sampled */
    v = run(pct, (req){.from = "example.com", .mode = HD_DMARC_RFC7489, .roll = 70});
    assert_int_equal(v.disposition, HD_DMARC_P_NONE);       /* not sampled */
    v = run(pct, (req){.from = "example.com", .mode = HD_DMARC_RFC9989, .roll = 70});
    assert_int_equal(v.disposition, HD_DMARC_P_QUARANTINE); /* RFC 9989 has no pct */
    /* invalid p with a rua: act as p=none; without: no DMARC */
    v = run("_dmarc.example.com. IN TXT \"v=DMARC1; p=bogus; rua=mailto:d@example.com\"\n",
            (req){.from = "example.com"});
    assert_int_equal(v.result, HD_DMARC_FAIL);
    assert_int_equal(v.policy, HD_DMARC_P_NONE);
    v = run("_dmarc.example.com. IN TXT \"v=DMARC1; p=bogus\"\n", (req){.from = "example.com"});
    assert_int_equal(v.result, HD_DMARC_NONE);
    /* an invalid sp= disqualifies the record like an invalid p= (RFC 9989
     * §4.10.1, RFC 7489 §6.6.3 step 6), and with rua the whole record is
     * p=none: no sp= is left to enforce on subdomains */
    v = run("_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; sp=bogus\"\n",
            (req){.from = "example.com"});
    assert_int_equal(v.result, HD_DMARC_NONE);
    v = run("_dmarc.example.com. IN TXT \"v=DMARC1; p=bogus; sp=reject; rua=mailto:d@example.com\"\n",
            (req){.from = "a.example.com"});
    assert_int_equal(v.result, HD_DMARC_FAIL);
    assert_int_equal(v.disposition, HD_DMARC_P_NONE);
    /* several records at the From domain: RFC 7489 stops, RFC 9989 walks on */
    static const char many[] = "_dmarc.a.example.com. IN TXT \"v=DMARC1; p=none\"\n"
                               "_dmarc.a.example.com. IN TXT \"v=DMARC1; p=quarantine\"\n"
                               "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n";
    v = run(many, (req){.from = "a.example.com", .mode = HD_DMARC_RFC7489});
    assert_int_equal(v.result, HD_DMARC_NONE);
    v = run(many, (req){.from = "a.example.com", .mode = HD_DMARC_RFC9989});
    assert_int_equal(v.result, HD_DMARC_FAIL);
    assert_string_equal(v.record_domain, "example.com");
}

/* Issue 12: a malformed term must not discard the record, so p=reject
 * applies (not dmarc=none, nor the organizational domain's weaker record). */
static void test_malformed_term_keeps_policy(void **state)
{
    static const char *const bad[] = {"foo", "fo:1", "x-y=1", "ruf mailto:f@example.com"};
    for (size_t m = 0; m < 2; m++) {
        hd_dmarc_mode mode = m ? HD_DMARC_RFC7489 : HD_DMARC_RFC9989;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char zone[512];
            snprintf(zone, sizeof zone, "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; %s\"\n", bad[i]);
            hd_dmarc_verdict v = run(zone, (req){.from = "example.com", .dkim = "other.test", .mode = mode});
            if (v.result != HD_DMARC_FAIL || v.disposition != HD_DMARC_P_REJECT)
                fail_msg("%s, mode %zu: %s dis=%d (%s)", bad[i], m, hd_dmarc_result_name(v.result),
                         v.disposition, v.reason);
            assert_true(v.record.nproblems > 0);
            /* the From domain's own record, not the org domain's p=none */
            snprintf(zone, sizeof zone,
                     "_dmarc.a.example.com. IN TXT \"v=DMARC1; p=reject; %s\"\n"
                     "_dmarc.example.com. IN TXT \"v=DMARC1; p=none\"\n", bad[i]);
            v = run(zone, (req){.from = "a.example.com", .spf = "other.test", .spf_pass = true, .mode = mode});
            if (v.result != HD_DMARC_FAIL || v.disposition != HD_DMARC_P_REJECT ||
                strcmp(v.record_domain, "a.example.com") != 0)
                fail_msg("%s, mode %zu, subdomain: %s dis=%d at %s", bad[i], m,
                         hd_dmarc_result_name(v.result), v.disposition, v.record_domain);
        }
    }
}

/* Public Suffix List wildcard and exception rules (RFC 7489 §3.2 with the
 * list's own algorithm: "*.ck" makes every child of ck a suffix, "!www.ck"
 * takes www.ck back out). */
static void test_public_suffix_wildcards(void **state)
{
    static const struct {
        const char *domain, *want;
    } cases[] = {
        {"a.b.nakahara.kawasaki.jp", "b.nakahara.kawasaki.jp"}, /* *.kawasaki.jp */
        {"nakahara.kawasaki.jp", "nakahara.kawasaki.jp"},       /* a suffix: its own */
        {"a.city.kawasaki.jp", "city.kawasaki.jp"},             /* !city.kawasaki.jp */
        {"city.kawasaki.jp", "city.kawasaki.jp"},
        {"kawasaki.jp", "kawasaki.jp"},
        {"x.y.co.ck", "y.co.ck"},                               /* *.ck */
        {"mail.www.ck", "www.ck"},                              /* !www.ck */
        {"MAIL.WWW.CK", "www.ck"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        hd_dmarc_psl_org(psl, cases[i].domain, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s: %s, want %s", cases[i].domain, out, cases[i].want);
    }
    /* relaxed alignment across the exception: mail.www.ck and bounce.www.ck share www.ck */
    hd_dmarc_verdict v = run("_dmarc.www.ck. IN TXT \"v=DMARC1; p=reject\"\n",
                             (req){.from = "MAIL.WWW.CK", .spf = "bounce.www.ck", .spf_pass = true,
                                   .mode = HD_DMARC_RFC7489});
    assert_int_equal(v.result, HD_DMARC_PASS);
    assert_string_equal(v.record_domain, "www.ck");
}

/* Public Suffix List (RFC 7489 mode). */
static void test_public_suffix_list(void **state)
{
    static const struct {
        const char *domain, *want;
    } cases[] = {
        {"www.example.co.uk", "example.co.uk"},
        {"a.b.example.com", "example.com"},
        {"co.uk", "co.uk"},                       /* a public suffix is its own */
        {"foo.city.kawasaki.jp", "city.kawasaki.jp"}, /* exception rule */
        {"x.something.github.io", "something.github.io"}, /* private suffix */
        {"EXAMPLE.COM.", "example.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        hd_dmarc_psl_org(psl, cases[i].domain, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s: %s, want %s", cases[i].domain, out, cases[i].want);
    }
    /* a From domain that is itself a public suffix: its own record only */
    hd_dmarc_verdict v = run("_dmarc.co.uk. IN TXT \"v=DMARC1; p=reject\"\n",
                             (req){.from = "co.uk", .mode = HD_DMARC_RFC7489});
    assert_true(v.have_record);
    assert_string_equal(v.record_domain, "co.uk");
    /* subdomain of a registrable domain under a multi-label suffix */
    v = run("_dmarc.example.co.uk. IN TXT \"v=DMARC1; p=quarantine; sp=reject\"\n",
            (req){.from = "mail.example.co.uk", .spf = "bounce.example.co.uk", .spf_pass = true,
                  .mode = HD_DMARC_RFC7489});
    assert_int_equal(v.result, HD_DMARC_PASS);
    assert_string_equal(v.policy_tag, "sp");
}

static void test_temporary_errors(void **state)
{
    hd_dmarc_verdict v = run("_dmarc.example.com. TIMEOUT\n", (req){.from = "example.com"});
    assert_int_equal(v.result, HD_DMARC_TEMPERROR);
    assert_non_null(strstr(v.reason, "retry"));
    v = run("_dmarc.a.example.com. SERVFAIL\n_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n",
            (req){.from = "a.example.com"});
    assert_int_equal(v.result, HD_DMARC_TEMPERROR);
    /* the AR fragment */
    v = run("_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n",
            (req){.from = "example.com", .dkim = "example.com"});
    hd_buf ar;
    hd_buf_init(&ar, 1024);
    hd_dmarc_to_ar(&v, &ar);
    assert_string_equal(hd_buf_cstr(&ar), "dmarc=pass (p=reject dis=none) header.from=example.com "
                                          "policy.dmarc=none");
    hd_buf_free(&ar);
}

/* Temperrors of the checks (RFC 9989 §5.3.6, RFC 7489 §6.6.2) ---------------- */

/* A request with SPF and DKIM results by name ("pass", "temperror", ...). */
typedef struct checks {
    const char *name;
    const char *zone, *from;
    const char *spf, *spf_result;
    const char *dkim[3], *dkim_result[3];
    hd_dmarc_mode mode;
    hd_dmarc_result want;
    hd_dmarc_policy want_disposition;
} checks;

static hd_dmarc_verdict run_checks(const checks *c, hd_buf *ar)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_slice_cstr(c->zone), "<t>", &err) != 0)
        fail_msg("%s: zone: %s", c->name, err.msg);
    hd_dmarc_request r = {.from_domain = c->from, .spf_domain = c->spf, .mode = c->mode, .psl = psl};
    if (c->spf_result != NULL) {
        r.spf_pass = strcmp(c->spf_result, "pass") == 0;
        r.spf_temperror = strcmp(c->spf_result, "temperror") == 0;
    }
    for (size_t i = 0; i < 3 && c->dkim[i] != NULL; i++) {
        if (strcmp(c->dkim_result[i], "pass") == 0)
            r.dkim_domains[r.ndkim++] = c->dkim[i];
        if (strcmp(c->dkim_result[i], "temperror") == 0)
            r.dkim_temp_domains[r.ndkim_temp++] = c->dkim[i];
    }
    hd_dmarc *d = NULL;
    assert_int_equal(hd_dmarc_new(&r, NULL, &d, &err), 0);
    if (hd_dmarc_run(d, dns, &err) != 0)
        fail_msg("%s: run: %s", c->name, err.msg);
    hd_dmarc_verdict v = *hd_dmarc_get_verdict(d);
    hd_buf_reset(ar);
    hd_dmarc_to_ar(&v, ar);
    hd_dmarc_free(d);
    hd_dns_free(dns);
    return v;
}

/* An aligned pass anywhere passes; else a temperror for an identifier that
 * would align (under adkim=/aspf=) gives temperror and no disposition; a
 * temperror for one that cannot align leaves the fail (and its policy). */
static void test_temperror_of_checks(void **state)
{
    static const char reject[] = "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n";
    static const char strict[] = "_dmarc.example.com. IN TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"\n";
    static const char uk[] = "_dmarc.example.co.uk. IN TXT \"v=DMARC1; p=quarantine\"\n";
    static const checks cases[] = {
        {"SPF and DKIM temperror, both aligned", reject, "example.com", "example.com", "temperror",
         {"example.com"}, {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_TEMPERROR, HD_DMARC_P_NONE},
        {"SPF temperror for the aligned MAIL FROM, no signature", reject, "example.com",
         "bounce.example.com", "temperror", {NULL}, {NULL}, HD_DMARC_RFC9989, HD_DMARC_TEMPERROR,
         HD_DMARC_P_NONE},
        {"DKIM temperror for an aligned d=, SPF fails", reject, "example.com", "example.com", "fail",
         {"mail.example.com"}, {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_TEMPERROR, HD_DMARC_P_NONE},
        {"an aligned DKIM pass beside an aligned temperror", reject, "example.com", "example.com",
         "temperror", {"example.com", "example.com"}, {"temperror", "pass"}, HD_DMARC_RFC9989,
         HD_DMARC_PASS, HD_DMARC_P_NONE},
        {"an aligned SPF pass beside a DKIM temperror", reject, "example.com", "example.com", "pass",
         {"example.com"}, {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_PASS, HD_DMARC_P_NONE},
        {"DKIM temperror for an unaligned ESP, SPF fails", reject, "example.com", "example.com",
         "fail", {"esp.example"}, {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_FAIL, HD_DMARC_P_REJECT},
        {"SPF temperror for an unaligned MAIL FROM", reject, "example.com", "bounces.esp.example",
         "temperror", {"example.com"}, {"fail"}, HD_DMARC_RFC9989, HD_DMARC_FAIL, HD_DMARC_P_REJECT},
        {"a look-alike d= is not aligned", reject, "example.com", NULL, NULL,
         {"example.com.attacker.net"}, {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_FAIL,
         HD_DMARC_P_REJECT},
        {"adkim=s: a temperror for a subdomain's signature cannot align", strict, "example.com",
         "example.com", "fail", {"mail.example.com"}, {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_FAIL,
         HD_DMARC_P_REJECT},
        {"aspf=s: a temperror for a bounce subdomain cannot align", strict, "example.com",
         "bounce.example.com", "temperror", {NULL}, {NULL}, HD_DMARC_RFC9989, HD_DMARC_FAIL,
         HD_DMARC_P_REJECT},
        {"adkim=s: the very domain's temperror", strict, "example.com", NULL, NULL, {"example.com"},
         {"temperror"}, HD_DMARC_RFC9989, HD_DMARC_TEMPERROR, HD_DMARC_P_NONE},
        {"RFC 7489: SPF temperror aligned through the Public Suffix List", uk, "mail.example.co.uk",
         "bounce.example.co.uk", "temperror", {NULL}, {NULL}, HD_DMARC_RFC7489, HD_DMARC_TEMPERROR,
         HD_DMARC_P_NONE},
        {"RFC 7489: a sibling under co.uk is not aligned", uk, "mail.example.co.uk", "other.co.uk",
         "temperror", {NULL}, {NULL}, HD_DMARC_RFC7489, HD_DMARC_FAIL, HD_DMARC_P_QUARANTINE},
        {"no record: none, temperror or not", "", "example.net", "example.net", "temperror", {NULL},
         {NULL}, HD_DMARC_RFC9989, HD_DMARC_NONE, HD_DMARC_P_NONE},
    };
    hd_buf ar;
    hd_buf_init(&ar, 1024);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const checks *c = &cases[i];
        hd_dmarc_verdict v = run_checks(c, &ar);
        if (v.result != c->want || v.disposition != c->want_disposition)
            fail_msg("%s: %s dis=%s (%s), want %s dis=%s", c->name, hd_dmarc_result_name(v.result),
                     hd_dmarc_policy_name(v.disposition), v.reason, hd_dmarc_result_name(c->want),
                     hd_dmarc_policy_name(c->want_disposition));
        if (v.result == HD_DMARC_TEMPERROR &&
            (strstr(v.reason, "not applied") == NULL || strstr(hd_buf_cstr(&ar), "dmarc=temperror") != hd_buf_cstr(&ar) ||
             strstr(hd_buf_cstr(&ar), "policy.dmarc") != NULL))
            fail_msg("%s: reason \"%s\", AR \"%s\"", c->name, v.reason, hd_buf_cstr(&ar));
    }
    /* the AR fragment of the first case, whole */
    run_checks(&cases[0], &ar);
    assert_string_equal(hd_buf_cstr(&ar), "dmarc=temperror (p=reject dis=none) header.from=example.com");
    hd_buf_free(&ar);
}

/* hd_dmarc_aligned: the evaluation's own rule for identifiers it was not
 * given (what an ARC-Authentication-Results field records). */
static void test_aligned_after_evaluation(void **state)
{
    static const struct {
        const char *record, *id;
        bool dkim, want;
    } cases[] = {
        {"v=DMARC1; p=reject", "example.com", true, true},
        {"v=DMARC1; p=reject", "EXAMPLE.COM.", true, true},
        {"v=DMARC1; p=reject", "mail.example.com", true, true},
        {"v=DMARC1; p=reject", "bounce.example.com", false, true},
        {"v=DMARC1; p=reject", "esp.example", true, false},
        {"v=DMARC1; p=reject", "example.com.attacker.net", true, false},
        {"v=DMARC1; p=reject", "attacker-example.com", true, false},
        {"v=DMARC1; p=reject; adkim=s", "mail.example.com", true, false},
        {"v=DMARC1; p=reject; adkim=s", "mail.example.com", false, true}, /* aspf relaxed */
        {"v=DMARC1; p=reject; aspf=s", "bounce.example.com", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char zone[256];
        snprintf(zone, sizeof zone, "_dmarc.example.com. IN TXT \"%s\"\n", cases[i].record);
        hd_dns *dns = NULL;
        hd_err err;
        hd_err_clear(&err);
        assert_int_equal(hd_dns_new_zone_text(&dns, hd_slice_cstr(zone), "<t>", &err), 0);
        hd_dmarc_request r = {.from_domain = "example.com"};
        hd_dmarc *d = NULL;
        assert_int_equal(hd_dmarc_new(&r, NULL, &d, &err), 0);
        bool ok = true;
        assert_int_equal(hd_dmarc_aligned(d, dns, "example.com", true, &ok, &err), HD_ESTATE);
        assert_false(ok);
        assert_int_equal(hd_dmarc_run(d, dns, &err), 0);
        if (hd_dmarc_aligned(d, dns, cases[i].id, cases[i].dkim, &ok, &err) != 0 || ok != cases[i].want)
            fail_msg("%s, %s %s: %s (%s)", cases[i].record, cases[i].dkim ? "DKIM" : "SPF",
                     cases[i].id, ok ? "aligned" : "not aligned", err.msg);
        hd_dmarc_free(d);
        hd_dns_free(dns);
    }
    /* a name too long to be one whose first 255 bytes end in ".example.com":
     * not cut there, but no domain name at all */
    char longid[400];
    size_t n = 0;
    for (; n < 255 - strlen(".example.com"); n++)
        longid[n] = n % 50 == 49 ? '.' : 'a';
    snprintf(longid + n, sizeof longid - n, ".example.com.attacker.net");
    assert_int_equal(strlen(longid) > 255, 1);
    hd_dns *zl = NULL;
    assert_int_equal(hd_dns_new_zone_text(&zl, hd_slice_cstr("_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n"),
                                          "<t>", NULL), 0);
    hd_dmarc_request rl = {.from_domain = "example.com"};
    hd_dmarc *dl = NULL;
    assert_int_equal(hd_dmarc_new(&rl, NULL, &dl, NULL), 0);
    assert_int_equal(hd_dmarc_run(dl, zl, NULL), 0);
    bool longok = true;
    assert_int_equal(hd_dmarc_aligned(dl, zl, longid, true, &longok, NULL), 0);
    assert_false(longok);
    hd_dmarc_free(dl);
    hd_dns_free(zl);

    /* a lookup that fails temporarily while finding an Organizational
     * Domain; a name outside the From domain's asks nothing (its lookup
     * would fail too) and does not align */
    hd_dns *dns = NULL;
    assert_int_equal(hd_dns_new_zone_text(&dns, hd_slice_cstr("_dmarc.example.com. IN TXT \"v=DMARC1; p=reject\"\n"
                                                              "_dmarc.slow.example.com. TIMEOUT\n"
                                                              "_dmarc.slow.example.net. TIMEOUT\n"),
                                          "<t>", NULL), 0);
    hd_dmarc_request r = {.from_domain = "example.com"};
    hd_dmarc *d = NULL;
    assert_int_equal(hd_dmarc_new(&r, NULL, &d, NULL), 0);
    assert_int_equal(hd_dmarc_run(d, dns, NULL), 0);
    bool ok = true;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_dmarc_aligned(d, dns, "slow.example.com", true, &ok, &err), HD_ETEMP);
    assert_false(ok);
    assert_non_null(strstr(err.msg, "slow.example.com"));
    ok = true;
    assert_int_equal(hd_dmarc_aligned(d, dns, "slow.example.net", true, &ok, &err), 0);
    assert_false(ok);
    hd_dmarc_free(d);
    hd_dns_free(dns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_parsing),
        cmocka_unit_test(test_record_malformed_terms),
        cmocka_unit_test(test_record_bounds),
        cmocka_unit_test(test_malformed_term_keeps_policy),
        cmocka_unit_test(test_public_suffix_wildcards),
        cmocka_unit_test(test_tree_walk_queries),
        cmocka_unit_test(test_organizational_domains),
        cmocka_unit_test(test_alignment_matrix),
        cmocka_unit_test(test_policy_options),
        cmocka_unit_test(test_public_suffix_list),
        cmocka_unit_test(test_temporary_errors),
        cmocka_unit_test(test_temperror_of_checks),
        cmocka_unit_test(test_aligned_after_evaluation),
    };
    return cmocka_run_group_tests(tests, load_psl, free_psl);
}
