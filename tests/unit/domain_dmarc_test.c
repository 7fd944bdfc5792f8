/*
 * domain_dmarc_test.c - the DMARC record `herald domain add` suggests
 * (hd_domain_dmarc_advise): table-driven, the published TXT set in, the
 * action, record, authorisation name and note out.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <herald/dmarc.h>
#include <herald/domain.h>

typedef struct advice_case {
    const char *name;
    const char *domain, *bounce;
    hd_domain_dmarc_lookup lookup;
    const char *record_domain;      /* NULL: the domain */
    const char *org_domain;         /* NULL: unknown */
    const char *texts[3];           /* the TXT set at _dmarc.<record domain> */
    hd_domain_dmarc_action want_action;
    const char *want_name;
    const char *want_value;         /* NULL: none */
    const char *want_auth;          /* "" : none */
    const char *want_note;          /* a part of the note */
} advice_case;

static const advice_case cases[] = {
    {"none published: p=none, rua at the bounce domain", "example.com", "bounce.example.com",
     HD_DOMAIN_DMARC_ABSENT, NULL, "example.com", {NULL}, HD_DOMAIN_DMARC_PUBLISH,
     "_dmarc.example.com", "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com", "",
     "publishes no DMARC record"},
    {"none published, bounce domain elsewhere: authorisation record", "example.com",
     "bounce.herald-mail.net", HD_DOMAIN_DMARC_ABSENT, NULL, NULL, {NULL},
     HD_DOMAIN_DMARC_PUBLISH, "_dmarc.example.com",
     "v=DMARC1; p=none; rua=mailto:dmarc@bounce.herald-mail.net",
     "example.com._report._dmarc.bounce.herald-mail.net", "herald receives"},
    {"bounce domain a sibling under the same organizational domain: no authorisation",
     "mail.example.com", "bounce.example.com", HD_DOMAIN_DMARC_ABSENT, NULL, "example.com",
     {NULL}, HD_DOMAIN_DMARC_PUBLISH, "_dmarc.mail.example.com",
     "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com", "", "p=none"},
    {"TXT records that are not DMARC are no record", "example.com", "bounce.example.com",
     HD_DOMAIN_DMARC_PRESENT, NULL, NULL, {"v=spf1 -all", "hello", NULL},
     HD_DOMAIN_DMARC_PUBLISH, "_dmarc.example.com",
     "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com", "", "no DMARC record"},
    {"p=reject with a rua: only herald's address is added", "example.com",
     "bounce.example.com", HD_DOMAIN_DMARC_PRESENT, NULL, "example.com",
     {"v=DMARC1; p=reject; rua=mailto:d@example.com; adkim=s", NULL},
     HD_DOMAIN_DMARC_EXTEND, "_dmarc.example.com",
     "v=DMARC1; p=reject; rua=mailto:d@example.com,mailto:dmarc@bounce.example.com; adkim=s",
     "", "keep it and its policy"},
    {"p=quarantine without rua: rua appended after a trailing ';'", "example.com",
     "bounce.example.com", HD_DOMAIN_DMARC_PRESENT, NULL, NULL,
     {"v=DMARC1; p=quarantine; pct=50;  ", NULL}, HD_DOMAIN_DMARC_EXTEND,
     "_dmarc.example.com",
     "v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc@bounce.example.com", "", "p=quarantine"},
    {"record without trailing ';'", "example.com", "bounce.example.com",
     HD_DOMAIN_DMARC_PRESENT, NULL, NULL, {"v=DMARC1;p=reject", NULL}, HD_DOMAIN_DMARC_EXTEND,
     "_dmarc.example.com", "v=DMARC1;p=reject; rua=mailto:dmarc@bounce.example.com", "",
     "p=reject"},
    {"herald's address already there (any case, with !size): nothing to do", "example.com",
     "bounce.example.com", HD_DOMAIN_DMARC_PRESENT, NULL, NULL,
     {"v=DMARC1; p=reject; rua=mailto:x@example.com, MAILTO:Dmarc@Bounce.Example.com!10m",
      NULL},
     HD_DOMAIN_DMARC_NOTHING, "_dmarc.example.com", NULL, "", "nothing to change"},
    {"two DMARC records: mend first, suggest no record", "example.com", "bounce.example.com",
     HD_DOMAIN_DMARC_PRESENT, NULL, NULL, {"v=DMARC1; p=reject", "v=DMARC1; p=none", NULL},
     HD_DOMAIN_DMARC_FIX, "_dmarc.example.com", NULL, "", "2 DMARC records"},
    {"the organizational domain's record applies: extend it, never p=none below it",
     "mail.example.org", "bounce.mail.example.org", HD_DOMAIN_DMARC_PRESENT, "example.org",
     "example.org", {"v=DMARC1; p=quarantine; sp=reject", NULL}, HD_DOMAIN_DMARC_EXTEND,
     "_dmarc.example.org",
     "v=DMARC1; p=quarantine; sp=reject; rua=mailto:dmarc@bounce.mail.example.org", "",
     "of its organizational domain"},
    {"lookup failed: the safe record, said to be unchecked", "example.com",
     "bounce.example.com", HD_DOMAIN_DMARC_FAILED, NULL, NULL,
     {"v=DMARC1; p=reject", NULL}, HD_DOMAIN_DMARC_UNCHECKED, "_dmarc.example.com",
     "v=DMARC1; p=none; rua=mailto:dmarc@bounce.example.com", "", "could not be checked"},
    {"two rua addresses already: a warning that a third may go unserved", "example.com",
     "bounce.example.com", HD_DOMAIN_DMARC_PRESENT, NULL, NULL,
     {"v=DMARC1; p=none; rua=mailto:a@example.com,mailto:b@example.net", NULL},
     HD_DOMAIN_DMARC_EXTEND, "_dmarc.example.com",
     "v=DMARC1; p=none; rua=mailto:a@example.com,mailto:b@example.net,"
     "mailto:dmarc@bounce.example.com",
     "", "need serve only two"},
    {"an empty rua= gets the address without a comma", "example.com", "bounce.example.com",
     HD_DOMAIN_DMARC_PRESENT, NULL, NULL, {"v=DMARC1; p=reject; rua=; fo=1", NULL},
     HD_DOMAIN_DMARC_EXTEND, "_dmarc.example.com",
     "v=DMARC1; p=reject; rua=mailto:dmarc@bounce.example.com; fo=1", "", "p=reject"},
    {"a malformed term is kept as it is", "example.com", "bounce.example.com",
     HD_DOMAIN_DMARC_PRESENT, NULL, NULL, {"v=DMARC1; p=reject; bogus; rua=mailto:a@x.example",
                                           NULL},
     HD_DOMAIN_DMARC_EXTEND, "_dmarc.example.com",
     "v=DMARC1; p=reject; bogus; rua=mailto:a@x.example,mailto:dmarc@bounce.example.com", "",
     "p=reject"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const advice_case *c = &cases[i];
        hd_slice texts[3];
        size_t n = 0;
        for (; n < 3 && c->texts[n]; n++)
            texts[n] = hd_slice_cstr(c->texts[n]);
        hd_domain_dmarc_live live = {c->lookup, c->record_domain, c->org_domain, texts, n};
        hd_domain_dmarc_advice a;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_domain_dmarc_advise(c->domain, c->bounce, &live, &a, &err);
        if (rc != 0)
            fail_msg("%s: %s", c->name, hd_err_str(&err));
        if (a.action != c->want_action)
            fail_msg("%s: action %d, want %d", c->name, a.action, c->want_action);
        if (strcmp(a.name, c->want_name) != 0)
            fail_msg("%s: name %s, want %s", c->name, a.name, c->want_name);
        if ((c->want_value == NULL) != (a.value == NULL) ||
            (c->want_value && strcmp(a.value, c->want_value) != 0))
            fail_msg("%s: value \"%s\", want \"%s\"", c->name, a.value ? a.value : "(none)",
                     c->want_value ? c->want_value : "(none)");
        if (strcmp(a.auth_name, c->want_auth) != 0)
            fail_msg("%s: authorisation \"%s\", want \"%s\"", c->name, a.auth_name,
                     c->want_auth);
        if (strstr(a.note, c->want_note) == NULL)
            fail_msg("%s: note \"%s\" lacks \"%s\"", c->name, a.note, c->want_note);
        /* an extension never changes the policy */
        if (a.action == HD_DOMAIN_DMARC_EXTEND) {
            hd_dmarc_record before, after;
            assert_int_equal(hd_dmarc_record_parse(hd_slice_cstr(a.current), &before, NULL), 0);
            assert_int_equal(hd_dmarc_record_parse(hd_slice_cstr(a.value), &after, NULL), 0);
            assert_int_equal(before.p, after.p);
            assert_int_equal(before.sp, after.sp);
            assert_int_equal(after.nrua, before.nrua + 1);
        }
        hd_domain_dmarc_advice_free(&a);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    hd_domain_dmarc_live live = {HD_DOMAIN_DMARC_ABSENT, NULL, NULL, NULL, 0};
    hd_domain_dmarc_advice a;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_domain_dmarc_advise("bad..domain", "bounce.example.com", &live, &a, &err),
                     HD_EINVAL);
    hd_domain_dmarc_advice_free(&a);
    assert_int_equal(hd_domain_dmarc_advise("example.com", "b\"x.example.com", &live, &a, &err),
                     HD_EINVAL);
    hd_domain_dmarc_advice_free(&a);
    /* a record domain too long for the authorisation name: a warning, no name */
    char longb[254];
    memset(longb, 'a', sizeof longb - 1);
    longb[sizeof longb - 1] = '\0';
    for (size_t i = 60; i < sizeof longb - 1; i += 61)
        longb[i] = '.';
    assert_int_equal(hd_domain_dmarc_advise("example.com", longb + 10, &live, &a, &err), 0);
    assert_string_equal(a.auth_name, "");
    assert_non_null(strstr(a.note, "longer than a DNS name may be"));
    hd_domain_dmarc_advice_free(&a);
    /* a record longer than herald edits: mend by hand */
    char big[5000];
    memcpy(big, "v=DMARC1; p=reject; x=", 22);
    memset(big + 22, 'y', sizeof big - 23);
    big[sizeof big - 1] = '\0';
    hd_slice t = hd_slice_cstr(big);
    hd_domain_dmarc_live present = {HD_DOMAIN_DMARC_PRESENT, NULL, NULL, &t, 1};
    assert_int_equal(hd_domain_dmarc_advise("example.com", "bounce.example.com", &present, &a,
                                            &err), 0);
    assert_int_equal(a.action, HD_DOMAIN_DMARC_FIX);
    assert_null(a.value);
    hd_domain_dmarc_advice_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
