/*
 * report_test.c - DSN (RFC 3464), ARF (RFC 5965) and rule-driven bounce
 * reading over the hand-made samples in tests/data/bounces.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/report.h>

static uint8_t *sample(const char *name, size_t *len)
{
    char rel[128];
    snprintf(rel, sizeof rel, "tests/data/bounces/%s", name);
    return tu_read_file(tu_path(HERALD_SOURCE_DIR, rel), len);
}

static hd_report_rules *default_rules(void)
{
    size_t len;
    uint8_t *text = tu_read_file(tu_path(HERALD_SOURCE_DIR, "data/bounce-rules.txt"), &len);
    hd_report_rules *rs = NULL;
    hd_err err;
    if (hd_report_rules_parse(hd_slice_make(text, len), &rs, &err) != 0)
        fail_msg("data/bounce-rules.txt: %s", err.msg);
    free(text);
    return rs;
}

struct rcpt_want {
    const char *final, *original;
    hd_dsn_action action;
    const char *status;
    int status_class;
    const char *remote_mta, *diag_type, *diag, *last_attempt;
    hd_bounce_class bounce;
};

struct dsn_case {
    const char *file;
    int rules; /* parse with hd_report_parse_bounce and the default rules */
    const char *reporting_mta, *arrival, *orig_msgid, *orig_return_path, *dsn_to, *sender;
    unsigned flags;
    size_t nrcpts;
    struct rcpt_want r[2];
};

#define VERP_POSTFIX "b-m7k2p9q4-4bzv2k3qc6mdjxy7@bounce.example.com"
#define VERP_EXIM "b-a1b2c3d4-q7zk3m9w2x4v6ntr@bounce.example.com"
#define VERP_EXCH "b-x9y8z7w6-mn3k2j1h0g9f8e7d@bounce.example.com"
#define VERP_GMAIL "b-q1w2e3r4-zz9yy8xx7ww6vv5u@bounce.example.com"
#define VERP_QMAIL "b-p0o9i8u7-rr1tt2yy3uu4ii5o@bounce.example.com"

static const struct dsn_case dsn_cases[] = {
    {"postfix.eml", 0, "mail.example.net", "Tue, 14 May 2024 10:22:30 +0000 (UTC)",
     "<m7k2p9q4@example.com>", VERP_POSTFIX, VERP_POSTFIX, VERP_POSTFIX, 0, 1,
     {{"nosuchuser@example.net", "nosuchuser@example.net", HD_DSN_FAILED, "5.1.1", 5,
       "mx.example.net", "smtp",
       "550 5.1.1 <nosuchuser@example.net>: Recipient address    rejected: User unknown in "
       "virtual mailbox table",
       "", HD_BOUNCE_HARD}}},
    {"exim.eml", 0, "smtp.example.org", "", "<a1b2c3d4@example.com>", VERP_EXIM, VERP_EXIM,
     VERP_EXIM, 0, 2,
     {{"alice@example.org", "", HD_DSN_FAILED, "5.0.0", 5, "mx1.example.org", "smtp",
       "550 5.1.1 <alice@example.org>: Recipient address rejected: User unknown", "",
       HD_BOUNCE_HARD},
      {"bob@example.org", "", HD_DSN_FAILED, "5.0.0", 5, "mx1.example.org", "smtp",
       "552 5.2.2 Mailbox full", "", HD_BOUNCE_SOFT}}},
    {"exchange.eml", 0, "AM7PR02MB6001.eurprd02.prod.outlook.com",
     "Thu, 16 May 2024 12:00:01 +0000", "<x9y8z7w6@example.com>", VERP_EXCH, VERP_EXCH,
     VERP_EXCH, 0, 1,
     {{"carol@contoso.example", "", HD_DSN_FAILED, "5.1.10", 5, "", "smtp",
       "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient carol@contoso.example not found by "
       "SMTP address lookup",
       "", HD_BOUNCE_HARD}}},
    {"gmail.eml", 0, "googlemail.com", "Fri, 17 May 2024 03:15:00 -0700 (PDT)",
     "<q1w2e3r4@example.com>", VERP_GMAIL, VERP_GMAIL, VERP_GMAIL, 0, 1,
     {{"dave@example.org", "", HD_DSN_DELAYED, "4.2.2", 4,
       "mx.example.org. (203.0.113.40, the server for the domain example.org.)", "smtp",
       "452 4.2.2 The email account that you tried to reach is over quota.",
       "Fri, 17 May 2024 03:15:09 -0700 (PDT)", HD_BOUNCE_SOFT}}},
    {"qmail.eml", 1, "", "", "<p0o9i8u7@example.com>", "", VERP_QMAIL, VERP_QMAIL,
     HD_REPORT_NONSTANDARD, 1,
     {{"frank@example.org", "", HD_DSN_FAILED, "5.1.1", 5, "", "rule",
       "Sorry, no mailbox here by that name. (#5.1.1)", "", HD_BOUNCE_HARD}}},
    {"malformed-noclose.eml", 0, "mx.example.net", "", "", "",
     "b-n1n2n3n4-aaaabbbbccccdddd@bounce.example.com",
     "b-n1n2n3n4-aaaabbbbccccdddd@bounce.example.com", HD_REPORT_NO_ORIGINAL, 1,
     {{"gina@example.net", "", HD_DSN_FAILED, "5.7.1", 5, "", "smtp",
       "550 5.7.1 Message rejected as sp", "", HD_BOUNCE_SOFT}}}, /* policy: soft */
    {"malformed-fields.eml", 0, "mx.example.net", "", "", "",
     "b-n5n6n7n8-eeeeffffgggghhhh@bounce.example.com",
     "b-n5n6n7n8-eeeeffffgggghhhh@bounce.example.com",
     HD_REPORT_PARTIAL | HD_REPORT_NO_ORIGINAL, 2,
     {{"harry@example.net", "", HD_DSN_ACTION_NONE, "", 0, "", "", "", "", HD_BOUNCE_NONE},
      {"", "", HD_DSN_FAILED, "5.1.1", 5, "", "", "", "", HD_BOUNCE_HARD}}},
    {"malformed-junk.eml", 0, "", "", "", "", "b-n9n9n9n9-iiiijjjjkkkkllll@bounce.example.com",
     "b-n9n9n9n9-iiiijjjjkkkkllll@bounce.example.com",
     /* its lines read as unfolded continuations, to no avail */
     HD_REPORT_PARTIAL | HD_REPORT_NO_ORIGINAL | HD_REPORT_LAX_FIELDS, 0, {{0}}},
};

#define CHECK_STR(what, got, want)                                                           \
    do {                                                                                     \
        if (strcmp((got), (want)) != 0)                                                      \
            fail_msg("%s: %s \"%s\" want \"%s\"", c->file, what, (got), (want));             \
    } while (0)

static void check_rcpt(const struct dsn_case *c, const hd_dsn_rcpt *r, const struct rcpt_want *w)
{
    CHECK_STR("final recipient", r->final_recipient, w->final);
    CHECK_STR("original recipient", r->original_recipient, w->original);
    CHECK_STR("status", r->status, w->status);
    CHECK_STR("remote mta", r->remote_mta, w->remote_mta);
    CHECK_STR("diagnostic type", r->diagnostic_type, w->diag_type);
    CHECK_STR("diagnostic", r->diagnostic, w->diag);
    CHECK_STR("last attempt", r->last_attempt_date, w->last_attempt);
    if (r->action != w->action || r->status_class != w->status_class || r->bounce != w->bounce)
        fail_msg("%s %s: action %s class %d bounce %s", c->file, w->final,
                 hd_dsn_action_name(r->action), r->status_class, hd_bounce_class_name(r->bounce));
}

static void test_dsn_samples(void **state)
{
    hd_report_rules *rs = default_rules();
    for (size_t i = 0; i < sizeof dsn_cases / sizeof dsn_cases[0]; i++) {
        const struct dsn_case *c = &dsn_cases[i];
        size_t len;
        uint8_t *msg = sample(c->file, &len);
        hd_dsn d;
        hd_err err;
        hd_err_clear(&err);
        int rc = c->rules ? hd_report_parse_bounce(hd_slice_make(msg, len), rs, &d, &err)
                          : hd_report_parse_dsn(hd_slice_make(msg, len), &d, &err);
        if (rc != 0)
            fail_msg("%s: rc %d (%s)", c->file, rc, err.msg);
        CHECK_STR("reporting mta", d.reporting_mta, c->reporting_mta);
        CHECK_STR("arrival date", d.arrival_date, c->arrival);
        CHECK_STR("original message id", d.orig_message_id, c->orig_msgid);
        CHECK_STR("original return path", d.orig_return_path, c->orig_return_path);
        CHECK_STR("dsn to", d.dsn_to, c->dsn_to);
        CHECK_STR("envelope sender", d.envelope_sender, c->sender);
        if (d.flags != c->flags)
            fail_msg("%s: flags %#x want %#x", c->file, d.flags, c->flags);
        if (d.nrcpts != c->nrcpts)
            fail_msg("%s: %zu recipients want %zu", c->file, d.nrcpts, c->nrcpts);
        for (size_t k = 0; k < d.nrcpts && k < 2; k++)
            check_rcpt(c, &d.rcpts[k], &c->r[k]);
        hd_dsn_free(&d);
        free(msg);
    }
    hd_report_rules_free(rs);
}

static void test_bounce_prefers_dsn(void **state)
{
    /* the Postfix text part would match "user unknown", but the DSN part wins */
    hd_report_rules *rs = default_rules();
    size_t len;
    uint8_t *msg = sample("postfix.eml", &len);
    hd_dsn d;
    assert_int_equal(hd_report_parse_bounce(hd_slice_make(msg, len), rs, &d, NULL), 0);
    assert_false(d.flags & HD_REPORT_NONSTANDARD);
    assert_string_equal(d.rcpts[0].diagnostic_type, "smtp");
    hd_dsn_free(&d);
    free(msg);
    hd_report_rules_free(rs);
}

static void test_not_a_report(void **state)
{
    size_t len;
    uint8_t *arf = sample("arf.eml", &len);
    hd_dsn d;
    hd_err err;
    assert_int_equal(hd_report_parse_dsn(hd_slice_make(arf, len), &d, &err), HD_ENOTFOUND);
    assert_non_null(strstr(err.msg, "delivery-status"));
    hd_dsn_free(&d);
    free(arf);

    uint8_t *pf = sample("postfix.eml", &len);
    hd_arf a;
    assert_int_equal(hd_report_parse_arf(hd_slice_make(pf, len), &a, &err), HD_ENOTFOUND);
    free(pf);

    /* a plain message no rule matches */
    hd_report_rules *rs = default_rules();
    const char *hello = "From: a@example.com\r\nSubject: hi\r\n\r\nSee you tomorrow.\r\n";
    assert_int_equal(hd_report_parse_bounce(hd_slice_cstr(hello), rs, &d, &err), HD_ENOTFOUND);
    assert_int_equal(d.nrcpts, 0);
    hd_dsn_free(&d);
    /* without rules a non-standard bounce is not read */
    uint8_t *q = sample("qmail.eml", &len);
    assert_int_equal(hd_report_parse_bounce(hd_slice_make(q, len), NULL, &d, &err), HD_ENOTFOUND);
    hd_dsn_free(&d);
    free(q);
    hd_report_rules_free(rs);
}

static void test_arf_sample(void **state)
{
    size_t len;
    uint8_t *msg = sample("arf.eml", &len);
    hd_arf a;
    hd_err err;
    assert_int_equal(hd_report_parse_arf(hd_slice_make(msg, len), &a, &err), 0);
    assert_int_equal(a.type, HD_ARF_ABUSE);
    assert_string_equal(a.feedback_type, "abuse");
    assert_string_equal(a.user_agent, "ExampleFBL/2.1");
    assert_string_equal(a.version, "1");
    assert_string_equal(a.original_mail_from, "b-k5j4h3g2-aa1bb2cc3dd4ee5f@bounce.example.com");
    assert_string_equal(a.original_rcpt_to, "erin@mailbox.example.net");
    assert_int_equal(a.n_rcpt_to, 1);
    assert_string_equal(a.arrival_date, "Sat, 18 May 2024 09:12:01 +0000");
    assert_string_equal(a.reporting_mta, "mx.mailbox.example.net");
    assert_string_equal(a.source_ip, "198.51.100.7");
    assert_string_equal(a.authentication_results,
                        "mx.mailbox.example.net;  spf=pass smtp.mailfrom=bounce.example.com;  "
                        "dkim=pass header.d=example.com");
    assert_string_equal(a.orig_message_id, "<k5j4h3g2@example.com>");
    assert_string_equal(a.orig_from, "Deals <deals@example.com>");
    assert_string_equal(a.orig_to, "erin@mailbox.example.net");
    assert_int_equal(a.flags, 0);
    free(msg);
}

static void test_arf_partial(void **state)
{
    const char *in = "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n"
                     "\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\n"
                     "Feedback-Type: not-spam\r\n\r\n--b--\r\n";
    hd_arf a;
    assert_int_equal(hd_report_parse_arf(hd_slice_cstr(in), &a, NULL), 0);
    assert_int_equal(a.type, HD_ARF_NOT_SPAM);
    assert_int_equal(a.flags, HD_REPORT_PARTIAL | HD_REPORT_NO_ORIGINAL);
}

struct rules_case {
    const char *name, *text;
    int want_rc;
    const char *want_in_msg;
};

static const struct rules_case rules_cases[] = {
    {"minimal", "status 5.1.1 contains \"x\"\naddress colon\n", 0, NULL},
    {"escapes", "status 5.1.1 contains \"say \\\"no\\\"\"\naddress field Final-Recipient\n", 0,
     NULL},
    {"unknown directive", "status 5.1.1 contains \"x\"\nbounce it\naddress colon\n", HD_ESYNTAX,
     "line 2"},
    {"success status refused", "status 2.0.0 contains \"ok\"\naddress colon\n", HD_ESYNTAX,
     "line 1"},
    {"unquoted text", "status 5.1.1 contains user\naddress colon\n", HD_ESYNTAX, "line 1"},
    {"no contains", "status 5.1.1 has \"x\"\naddress colon\n", HD_ESYNTAX, "contains"},
    {"bad address method", "status 5.1.1 contains \"x\"\naddress guess\n", HD_ESYNTAX, "line 2"},
    {"no address directive", "status 5.1.1 contains \"x\"\n", HD_ESYNTAX, "address"},
    {"empty", "# nothing\n", HD_ESYNTAX, "status"},
};

static void test_rules_parse(void **state)
{
    for (size_t i = 0; i < sizeof rules_cases / sizeof rules_cases[0]; i++) {
        const struct rules_case *c = &rules_cases[i];
        hd_report_rules *rs = NULL;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_report_rules_parse(hd_slice_cstr(c->text), &rs, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d want %d (%s)", c->name, rc, c->want_rc, err.msg);
        if (c->want_in_msg != NULL && strstr(err.msg, c->want_in_msg) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, err.msg, c->want_in_msg);
        hd_report_rules_free(rs);
    }
}

static void test_rules_order_and_address_field(void **state)
{
    hd_report_rules *rs = NULL;
    const char *rules = "status 4.2.2 contains \"OVER QUOTA\"\n"
                        "status 5.0.0 contains \"failed\"\n"
                        "address field X-Failed-Address\naddress colon\n";
    assert_int_equal(hd_report_rules_parse(hd_slice_cstr(rules), &rs, NULL), 0);
    const char *msg = "To: b-1-x@bounce.example.com\r\n\r\n"
                      "Delivery failed: the mailbox is over quota\r\n"
                      "X-Failed-Address: rfc822; <ivan@example.net>\r\n";
    hd_dsn d;
    assert_int_equal(hd_report_parse_bounce(hd_slice_cstr(msg), rs, &d, NULL), 0);
    assert_int_equal(d.nrcpts, 1);
    assert_string_equal(d.rcpts[0].status, "4.2.2"); /* the first rule wins */
    assert_int_equal(d.rcpts[0].bounce, HD_BOUNCE_SOFT);
    assert_int_equal(d.rcpts[0].action, HD_DSN_DELAYED);
    assert_string_equal(d.rcpts[0].final_recipient, "ivan@example.net");
    assert_string_equal(d.envelope_sender, "b-1-x@bounce.example.com");
    assert_true(d.flags & HD_REPORT_NO_ORIGINAL);
    hd_dsn_free(&d);

    /* no address found: no recipient with an empty address, not a bounce */
    msg = "Subject: x\r\n\r\nYour message failed.\r\n";
    assert_int_equal(hd_report_parse_bounce(hd_slice_cstr(msg), rs, &d, NULL), HD_ENOTFOUND);
    assert_int_equal(d.nrcpts, 0);
    hd_dsn_free(&d);
    hd_report_rules_free(rs);
}

/* Several addresses, each with its own explanation and reason; a vendor
 * section applies only when its signature is in the message. */
static void test_rules_several_addresses_and_vendor(void **state)
{
    (void)state;
    hd_report_rules *rs = NULL;
    const char *rules = "cut \"copy of the message\"\n"
                        "vendor acme when \"x-acme-bounce:\"\n"
                        "status 5.1.1 reason userunknown contains \"nobody by that name\"\n"
                        "address after \"acme could not deliver to\"\n"
                        "end\n"
                        "status 5.2.2 reason mailboxfull contains \"mailfolder is full\"\n"
                        "status 5.1.1 contains \"no mailbox here\"\n"
                        "status 5.0.0 contains \"could not be delivered\"\n"
                        "address colon\n";
    assert_int_equal(hd_report_rules_parse(hd_slice_cstr(rules), &rs, NULL), 0);
    /* qmail: "<addr>:" paragraphs */
    const char *msg = "To: s@example.org\r\n\r\n"
                      "Your message could not be delivered.\r\n\r\n"
                      "<a@example.net>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
                      "<b@example.net>:\r\nthe user's mailfolder is full\r\n\r\n"
                      "--- Below this line is a copy of the message.\r\n\r\n"
                      "<c@example.net>: not a recipient, the returned message\r\n";
    hd_dsn d;
    assert_int_equal(hd_report_parse_bounce(hd_slice_cstr(msg), rs, &d, NULL), 0);
    assert_int_equal(d.nrcpts, 2);
    assert_string_equal(d.rcpts[0].final_recipient, "a@example.net");
    assert_string_equal(d.rcpts[0].status, "5.1.1");
    assert_int_equal(d.rcpts[0].bounce, HD_BOUNCE_HARD);
    assert_string_equal(d.rcpts[1].final_recipient, "b@example.net");
    assert_int_equal(d.rcpts[1].reason, HD_REASON_MAILBOXFULL);
    assert_int_equal(d.rcpts[1].bounce, HD_BOUNCE_SOFT);
    hd_dsn_free(&d);
    /* the vendor's address directive, only with its signature */
    const char *acme = "X-Acme-Bounce: 1\r\nTo: s@example.org\r\n\r\n"
                       "ACME could not deliver to:\r\n\r\n  x@example.net\r\n"
                       "    nobody by that name\r\n  y@example.net\r\n    could not be delivered\r\n";
    assert_int_equal(hd_report_parse_bounce(hd_slice_cstr(acme), rs, &d, NULL), 0);
    assert_int_equal(d.nrcpts, 2);
    assert_string_equal(d.rcpts[0].final_recipient, "x@example.net");
    assert_int_equal(d.rcpts[0].reason, HD_REASON_USERUNKNOWN);
    assert_string_equal(d.rcpts[1].final_recipient, "y@example.net");
    assert_int_equal(d.rcpts[1].bounce, HD_BOUNCE_SOFT);
    hd_dsn_free(&d);
    assert_int_equal(hd_report_parse_bounce(hd_slice_cstr(acme + 18), rs, &d, NULL), HD_ENOTFOUND);
    hd_dsn_free(&d);
    hd_report_rules_free(rs);
}

static void test_rules_syntax_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"status 5.1.1 reason nosuch contains \"x\"\naddress colon\n", "line 1: unknown reason"},
        {"status 5.1.1 contains \"x\"\nend\naddress colon\n", "line 2: 'end' outside"},
        {"vendor v \"x\"\n", "line 1: expected 'vendor NAME when"},
        {"status 5.1.1 contains \"x\"\naddress after x\n", "line 2: expected \"text\""},
        {"reason userunknown contains \"x\"\naddress colon\n", "no status directive"},
        {"status 5.1.1 contains \"x\"\naddress colon\nvendor a when \"a\"\nvendor b when \"b\"\n",
         "line 4: 'vendor' inside vendor section 'a'"},
        {"status 5.1.1 contains \"x\"\naddress colon\nvendor a when \"a\"\n",
         "vendor section 'a' has no 'end'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_report_rules *rs = NULL;
        hd_err err = {0};
        assert_int_not_equal(hd_report_rules_parse(hd_slice_cstr(cases[i].text), &rs, &err), 0);
        if (strstr(err.msg, cases[i].want) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
        assert_null(rs);
    }
}

/* Real MTAs deviate from RFC 3464: a line of spaces between groups, an
 * SMTP code as Status, a returned part that is no message. */
/* The built-in table on real bounces of several formats (Sisimai's corpus,
 * tests/data/sisimai-set-of-emails): every failed address, each with the
 * reason its own explanation gives. */
static void test_builtin_rules_real_bounces(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t n;
        const char *addr[2];
        hd_bounce_reason reason[2];
        unsigned flag; /* must be set */
    } cases[] = {
        /* qmail: "<addr>:" paragraphs */
        {"lhost-qmail-01.eml", 1, {"kijitora@example.ne.jp"}, {HD_REASON_USERUNKNOWN}, HD_REPORT_NONSTANDARD},
        /* a DSN read from text (MIME broken): the returned header after the
         * fields is no recipient group */
        {"rfc3464-06.eml", 1, {"kijitora@example.net"}, {0}, HD_REPORT_LAX_FIELDS},
        /* Exim: X-Failed-Recipients and the indented list, two addresses */
        {"lhost-exim-02.eml", 2, {"kijitora@example.jp", "sabatora@example.jp"}, {0, 0}, HD_REPORT_NONSTANDARD},
        /* a returned part that is no message: the report is still read */
        {"lhost-mcafee-01.eml", 1, {"kijitora@example.co.jp"}, {HD_REASON_USERUNKNOWN}, HD_REPORT_LAX_FIELDS},
        /* groups without separators (AOL) */
        {"rhost-aol-03.eml", 2, {"sabineko@example.jp", "mikeneko@example.jp"},
         {HD_REASON_MAILBOXFULL, HD_REASON_USERUNKNOWN}, HD_REPORT_LAX_FIELDS},
        /* a DSN whose MIME delimiters do not match its boundary */
        {"rfc3464-35.eml", 3, {"kijitora@nyaan.example.com", "sabatora@cat.example.net"}, {0, 0},
         HD_REPORT_LAX_FIELDS},
    };
    hd_report_rules *rs = default_rules();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[160];
        snprintf(rel, sizeof rel, "tests/data/sisimai-set-of-emails/bsd/%s", cases[i].file);
        size_t len;
        uint8_t *msg = tu_read_file(tu_path(HERALD_SOURCE_DIR, rel), &len);
        hd_dsn d;
        hd_err err = {0};
        if (hd_report_parse_bounce(hd_slice_make(msg, len), rs, &d, &err) != 0)
            fail_msg("%s: %s", cases[i].file, err.msg);
        if (d.nrcpts != cases[i].n)
            fail_msg("%s: %zu recipients, want %zu", cases[i].file, d.nrcpts, cases[i].n);
        for (size_t k = 0; k < 2 && cases[i].addr[k]; k++) {
            if (strcmp(d.rcpts[k].final_recipient, cases[i].addr[k]) != 0)
                fail_msg("%s: recipient %zu is %s, want %s", cases[i].file, k,
                         d.rcpts[k].final_recipient, cases[i].addr[k]);
            if (cases[i].reason[k] && d.rcpts[k].reason != cases[i].reason[k])
                fail_msg("%s: %s reason %s, want %s", cases[i].file, cases[i].addr[k],
                         hd_bounce_reason_name(d.rcpts[k].reason),
                         hd_bounce_reason_name(cases[i].reason[k]));
        }
        if (!(d.flags & cases[i].flag))
            fail_msg("%s: flags %#x lack %#x", cases[i].file, d.flags, cases[i].flag);
        hd_dsn_free(&d);
        free(msg);
    }
    hd_report_rules_free(rs);
}

static void test_dsn_lenient(void **state)
{
    (void)state;
    const char *msg = "From MAILER-DAEMON Mon Jan  1 00:00:00 2001\r\n"
                      "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
                      "Reporting-MTA: dns; mx.example\r\n  \r\n"
                      "Final-Recipient: rfc822; one@example.net\r\nAction: failed\r\n"
                      "Status: 553 sorry, that domain isn't in my list\r\n \t\r\n"
                      "Final-Recipient: rfc822; two@example.net\r\nAction: failed\r\n"
                      "Status: 5.1.1\r\n\r\n"
                      "--b\r\nContent-Type: message/rfc822\r\n\r\n"
                      "Message removed\r\n--b--\r\n";
    hd_dsn d;
    hd_err err = {0};
    assert_int_equal(hd_report_parse_dsn(hd_slice_cstr(msg), &d, &err), 0);
    assert_int_equal(d.nrcpts, 2);
    assert_string_equal(d.reporting_mta, "mx.example");
    assert_string_equal(d.rcpts[0].status, "5.0.0");
    assert_int_equal(d.rcpts[0].status_class, 5);
    assert_string_equal(d.rcpts[1].final_recipient, "two@example.net");
    assert_true(d.flags & HD_REPORT_LAX_SEPARATOR);
    assert_true(d.flags & HD_REPORT_LAX_STATUS);
    assert_true(d.flags & HD_REPORT_BAD_ORIGINAL);
    assert_string_equal(hd_report_flag_name(HD_REPORT_LAX_STATUS), "lax_status");
    hd_dsn_free(&d);
}

static void append_dsn_head(hd_buf *b)
{
    assert_int_equal(hd_buf_append_cstr(b, "Content-Type: multipart/report; boundary=b\r\n\r\n"
                                           "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
                                           "Reporting-MTA: dns; x.example\r\n"),
                     0);
}

static void test_recipient_limit(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    append_dsn_head(&b);
    for (int i = 0; i < HD_REPORT_MAX_RCPTS + 5; i++)
        assert_int_equal(hd_buf_printf(&b, "\r\nFinal-Recipient: rfc822; u%d@example.net\r\n"
                                           "Action: failed\r\nStatus: 5.1.1\r\n", i),
                         0);
    assert_int_equal(hd_buf_append_cstr(&b, "\r\n--b--\r\n"), 0);
    hd_dsn d;
    assert_int_equal(hd_report_parse_dsn(hd_buf_slice(&b), &d, NULL), 0);
    assert_int_equal(d.nrcpts, HD_REPORT_MAX_RCPTS);
    assert_true(d.flags & HD_REPORT_TOO_MANY);
    assert_string_equal(d.rcpts[HD_REPORT_MAX_RCPTS - 1].final_recipient, "u999@example.net");
    hd_dsn_free(&d);
    hd_buf_free(&b);
}

static void test_long_fields_truncated(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    append_dsn_head(&b);
    assert_int_equal(hd_buf_append_cstr(&b, "\r\nFinal-Recipient: rfc822; u@example.net\r\n"
                                            "Action: failed\r\nDiagnostic-Code: smtp; "),
                     0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(hd_buf_append_cstr(&b, "550 this line goes on and on\r\n "), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "end\r\n\r\n--b--\r\n"), 0);
    hd_dsn d;
    assert_int_equal(hd_report_parse_dsn(hd_buf_slice(&b), &d, NULL), 0);
    assert_int_equal(strlen(d.rcpts[0].diagnostic), HD_REPORT_TEXT_MAX);
    assert_true(d.flags & HD_REPORT_TRUNCATED);
    /* failed, no status, no code in the text: nothing final about the address */
    assert_int_equal(d.rcpts[0].reason, HD_REASON_UNDEFINED);
    assert_int_equal(d.rcpts[0].bounce, HD_BOUNCE_SOFT);
    hd_dsn_free(&d);
    hd_buf_free(&b);
}

static void test_mime_bomb_refused(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    for (int i = 0; i < 40; i++)
        assert_int_equal(hd_buf_printf(&b, "Content-Type: multipart/report; boundary=n%d\r\n\r\n"
                                           "--n%d\r\n", i, i),
                         0);
    hd_dsn d;
    hd_err err;
    assert_int_equal(hd_report_parse_dsn(hd_buf_slice(&b), &d, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "report: "));
    hd_dsn_free(&d);
    hd_arf a;
    assert_int_equal(hd_report_parse_arf(hd_buf_slice(&b), &a, &err), HD_ELIMIT);
    hd_buf_free(&b);
}

/* Reasons from RFC 3463 codes, and only reasons about the address are hard. */
static void test_reason_and_class(void **state)
{
    (void)state;
    assert_int_equal(hd_bounce_reason_from_status("5.1.1"), HD_REASON_USERUNKNOWN);
    assert_int_equal(hd_bounce_reason_from_status("5.1.10"), HD_REASON_NOTACCEPT);
    assert_int_equal(hd_bounce_reason_from_status("4.2.2"), HD_REASON_MAILBOXFULL);
    assert_int_equal(hd_bounce_reason_from_status("5.4.4"), HD_REASON_NETWORKERROR);
    assert_int_equal(hd_bounce_reason_from_status("5.0.0"), HD_REASON_UNDEFINED);
    assert_int_equal(hd_bounce_reason_from_status(""), HD_REASON_UNDEFINED);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_USERUNKNOWN, "5.1.1"), HD_BOUNCE_HARD);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_MAILBOXFULL, "5.2.2"), HD_BOUNCE_SOFT);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_NOTACCEPT, "4.1.10"), HD_BOUNCE_SOFT);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_NOTACCEPT, "5.1.10"), HD_BOUNCE_HARD);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_UNDEFINED, "5.0.0"), HD_BOUNCE_SOFT);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_DELIVERED, "2.0.0"), HD_BOUNCE_NONE);
    assert_string_equal(hd_bounce_reason_name(HD_REASON_SPAMDETECTED), "spamdetected");
    assert_string_equal(hd_bounce_reason_name((hd_bounce_reason)999), "undefined");
}

/* SES's bounce type and subtype, table-driven (docs/bounces.md). */
/* [inbound] hard_reasons: a soft failure with a permanent status and a
 * listed reason is hard; a temporary one, or another reason, is not. */
static void test_extra_hard_reasons(void **state)
{
    (void)state;
    hd_bounce_reason r;
    assert_int_equal(hd_bounce_reason_from_name(hd_slice_cstr("Blocked"), &r), 0);
    assert_int_equal(r, HD_REASON_BLOCKED);
    assert_int_equal(hd_bounce_reason_from_name(hd_slice_cstr("blockedx"), &r), HD_ENOTFOUND);
    hd_bounce_reasons extra = HD_BOUNCE_REASON_BIT(HD_REASON_BLOCKED);
    static const struct {
        hd_bounce_class c;
        hd_bounce_reason r;
        const char *status;
        hd_bounce_class want;
    } cases[] = {
        {HD_BOUNCE_SOFT, HD_REASON_BLOCKED, "5.7.1", HD_BOUNCE_HARD},
        {HD_BOUNCE_SOFT, HD_REASON_BLOCKED, "5", HD_BOUNCE_HARD},       /* a reply's class */
        {HD_BOUNCE_SOFT, HD_REASON_BLOCKED, "4.7.1", HD_BOUNCE_SOFT},   /* temporary: never */
        {HD_BOUNCE_SOFT, HD_REASON_BLOCKED, "", HD_BOUNCE_SOFT},        /* no status: not known */
        {HD_BOUNCE_SOFT, HD_REASON_POLICYVIOLATION, "5.7.1", HD_BOUNCE_SOFT}, /* not listed */
        {HD_BOUNCE_HARD, HD_REASON_USERUNKNOWN, "5.1.1", HD_BOUNCE_HARD},
        {HD_BOUNCE_NONE, HD_REASON_DELIVERED, "2.0.0", HD_BOUNCE_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (hd_bounce_class_with(cases[i].c, cases[i].r, cases[i].status, extra) != cases[i].want)
            fail_msg("case %zu: %s %s", i, hd_bounce_reason_name(cases[i].r), cases[i].status);
    assert_int_equal(hd_bounce_class_with(HD_BOUNCE_SOFT, HD_REASON_BLOCKED, "5.7.1", 0),
                     HD_BOUNCE_SOFT);
}

static void test_ses_classes(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        hd_bounce_class c;
        hd_bounce_reason r;
        const char *type, *subtype;
    } cases[] = {
        {"no such user", HD_BOUNCE_HARD, HD_REASON_USERUNKNOWN, "Permanent", "NoEmail"},
        {"moved", HD_BOUNCE_HARD, HD_REASON_HASMOVED, "Permanent", "NoEmail"},
        {"no such domain", HD_BOUNCE_HARD, HD_REASON_HOSTUNKNOWN, "Permanent", "General"},
        {"null MX", HD_BOUNCE_HARD, HD_REASON_NOTACCEPT, "Permanent", "General"},
        {"user unknown, 4.x.x", HD_BOUNCE_SOFT, HD_REASON_USERUNKNOWN, "Transient", "General"},
        {"mailbox full", HD_BOUNCE_SOFT, HD_REASON_MAILBOXFULL, "Transient", "MailboxFull"},
        {"too large", HD_BOUNCE_SOFT, HD_REASON_MESGTOOBIG, "Transient", "MessageTooLarge"},
        {"over a limit", HD_BOUNCE_SOFT, HD_REASON_EXCEEDLIMIT, "Transient", "MessageTooLarge"},
        {"spam", HD_BOUNCE_SOFT, HD_REASON_SPAMDETECTED, "Transient", "ContentRejected"},
        {"filtered", HD_BOUNCE_SOFT, HD_REASON_FILTERED, "Transient", "ContentRejected"},
        {"virus", HD_BOUNCE_SOFT, HD_REASON_VIRUSDETECTED, "Transient", "AttachmentRejected"},
        {"blocked", HD_BOUNCE_SOFT, HD_REASON_BLOCKED, "Transient", "General"},
        {"policy", HD_BOUNCE_SOFT, HD_REASON_POLICYVIOLATION, "Transient", "General"},
        {"expired", HD_BOUNCE_SOFT, HD_REASON_EXPIRED, "Transient", "General"},
        {"unreadable", HD_BOUNCE_SOFT, HD_REASON_UNDEFINED, "Undetermined", "Undetermined"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_bounce_ses s = hd_bounce_ses_of(cases[i].c, cases[i].r);
        if (strcmp(s.type, cases[i].type) != 0 || strcmp(s.subtype, cases[i].subtype) != 0)
            fail_msg("%s: %s/%s, want %s/%s", cases[i].name, s.type, s.subtype, cases[i].type,
                     cases[i].subtype);
    }
}

/* A reply herald got while delivering is read as a DSN's diagnostic. */
static void test_classify_reply(void **state)
{
    (void)state;
    hd_report_rules *rules = NULL;
    hd_slice text = hd_slice_cstr("status 5.1.1 contains \"no such user\"\n"
                                  "status 5.7.1 reason blocked contains \"blocked using\"\n"
                                  "address colon\n");
    assert_int_equal(hd_report_rules_parse(text, &rules, NULL), 0);
    hd_bounce_reason r;
    assert_int_equal(hd_report_classify_reply(rules, 550, "5.1.1", "<a@b>: unknown", true, &r),
                     HD_BOUNCE_HARD);
    assert_int_equal(r, HD_REASON_USERUNKNOWN);
    /* no enhanced code: the phrase decides */
    assert_int_equal(hd_report_classify_reply(rules, 550, "", "No such user here", true, &r),
                     HD_BOUNCE_HARD);
    assert_int_equal(r, HD_REASON_USERUNKNOWN);
    assert_int_equal(hd_report_classify_reply(NULL, 550, "", "No such user here", true, &r),
                     HD_BOUNCE_SOFT);
    assert_int_equal(r, HD_REASON_UNDEFINED);
    assert_int_equal(hd_report_classify_reply(rules, 554, "5.7.1", "blocked using a list", true, &r),
                     HD_BOUNCE_SOFT);
    assert_int_equal(r, HD_REASON_BLOCKED);
    /* after DATA the address was accepted: a filter, not a bad mailbox */
    assert_int_equal(hd_report_classify_reply(rules, 550, "5.1.1", "user unknown", false, &r),
                     HD_BOUNCE_SOFT);
    assert_int_equal(r, HD_REASON_FILTERED);
    /* an enhanced code of another class than the reply is not believed */
    assert_int_equal(hd_report_classify_reply(NULL, 450, "5.1.1", "try later", true, &r),
                     HD_BOUNCE_SOFT);
    assert_int_equal(hd_report_classify_reply(NULL, 250, "2.0.0", "ok", true, &r), HD_BOUNCE_NONE);
    assert_int_equal(r, HD_REASON_DELIVERED);
    hd_report_rules_free(rules);
}

/* RFC 3463 §3.1: a 4.x.x is transient; no text or detail makes it hard,
 * and a permanent code quoted in a transient failure's text is not its
 * status; a success quoted in a transcript is passed over. */
static void test_transient_never_hard(void **state)
{
    (void)state;
    hd_buf b;
    hd_buf_init(&b, 1 << 16);
    append_dsn_head(&b);
    assert_int_equal(hd_buf_append_cstr(&b,
        "\r\nFinal-Recipient: rfc822; a@example.net\r\nAction: delayed\r\nStatus: 4.1.1\r\n"
        "\r\nFinal-Recipient: rfc822; b@example.net\r\nAction: failed\r\nStatus: 4.0.0\r\n"
        "Diagnostic-Code: smtp; 450 5.1.1 user unknown, try later\r\n"
        "\r\nFinal-Recipient: rfc822; c@example.net\r\nAction: failed\r\nStatus: 5.0.0\r\n"
        "Diagnostic-Code: smtp; 250 2.1.5 Ok then 550 5.1.1 no such mailbox\r\n"
        "\r\n--b--\r\n"), 0);
    hd_dsn d;
    assert_int_equal(hd_report_parse_dsn(hd_buf_slice(&b), &d, NULL), 0);
    assert_int_equal(d.nrcpts, 3);
    assert_int_equal(d.rcpts[0].reason, HD_REASON_USERUNKNOWN);
    assert_int_equal(d.rcpts[0].bounce, HD_BOUNCE_SOFT);
    assert_int_equal(d.rcpts[1].bounce, HD_BOUNCE_SOFT);
    assert_int_equal(d.rcpts[2].reason, HD_REASON_USERUNKNOWN);
    assert_int_equal(d.rcpts[2].bounce, HD_BOUNCE_HARD);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_USERUNKNOWN, "4.1.1"), HD_BOUNCE_SOFT);
    assert_int_equal(hd_bounce_reason_class(HD_REASON_HOSTUNKNOWN, "4.1.2"), HD_BOUNCE_SOFT);
    hd_dsn_free(&d);
    hd_buf_free(&b);
}

/* X-Failed-Recipients fields listing one address 33 000 times, and
 * 2000 different ones: each address read once, at most
 * HD_REPORT_MAX_RCPTS of them (the explanation is sought once per new
 * address, not once per entry). */
static void test_failed_header_bounded(void **state)
{
    (void)state;
    hd_report_rules *rules = NULL;
    hd_slice text = hd_slice_cstr("status 5.0.0 contains \"undeliverable\"\n"
                                  "address header X-Failed-Recipients\n");
    assert_int_equal(hd_report_rules_parse(text, &rules, NULL), 0);
    hd_buf b;
    hd_buf_init(&b, 4u << 20);
    assert_int_equal(hd_buf_append_cstr(&b, "From: MAILER-DAEMON@x.example\r\n"), 0);
    /* a field holds at most 64 KiB: 11 fields of 3000 entries each */
    for (int f = 0; f < 11; f++) {
        assert_int_equal(hd_buf_append_cstr(&b, "X-Failed-Recipients: "), 0);
        for (int i = 0; i < 3000; i++)
            assert_int_equal(hd_buf_append_cstr(&b, "same@example.net, "), 0);
        assert_int_equal(hd_buf_append_cstr(&b, "same@example.net\r\n"), 0);
    }
    assert_int_equal(hd_buf_append_cstr(&b, "X-Failed-Recipients: "), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(hd_buf_printf(&b, "u%d@example.net, ", i), 0);
    assert_int_equal(hd_buf_append_cstr(&b, "last@example.net\r\n\r\nundeliverable\r\n"), 0);
    hd_dsn d;
    hd_err err = {0};
    int rc = hd_report_parse_bounce(hd_buf_slice(&b), rules, &d, &err);
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(d.nrcpts, HD_REPORT_MAX_RCPTS);
    assert_true(d.flags & HD_REPORT_TOO_MANY);
    assert_string_equal(d.rcpts[0].final_recipient, "same@example.net");
    hd_dsn_free(&d);
    hd_buf_free(&b);
    hd_report_rules_free(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dsn_samples),
        cmocka_unit_test(test_reason_and_class),
        cmocka_unit_test(test_ses_classes),
        cmocka_unit_test(test_classify_reply),
        cmocka_unit_test(test_transient_never_hard),
        cmocka_unit_test(test_failed_header_bounded),
        cmocka_unit_test(test_bounce_prefers_dsn),
        cmocka_unit_test(test_not_a_report),
        cmocka_unit_test(test_arf_sample),
        cmocka_unit_test(test_arf_partial),
        cmocka_unit_test(test_rules_parse),
        cmocka_unit_test(test_rules_order_and_address_field),
        cmocka_unit_test(test_rules_several_addresses_and_vendor),
        cmocka_unit_test(test_rules_syntax_errors),
        cmocka_unit_test(test_dsn_lenient),
        cmocka_unit_test(test_builtin_rules_real_bounces),
        cmocka_unit_test(test_recipient_limit),
        cmocka_unit_test(test_long_fields_truncated),
        cmocka_unit_test(test_mime_bomb_refused),
        cmocka_unit_test(test_extra_hard_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
