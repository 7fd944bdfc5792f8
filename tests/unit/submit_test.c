/*
 * submit_test.c - RFC 6409 §8 message completion: the author domain from
 * the From field, Message-ID and Date added only when missing, and the
 * RFC 5322 §3.3 date format.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/mail.h>
#include <herald/submit.h>

static const hd_submit_opts opts = {.hostname = "mx.example.net", .id = "0123abcd", .now = 0};

/* ---- the author domain ---- */

struct from_case {
    const char *name, *msg;
    int want_rc;
    const char *want_domain;
};

#define BODY "\r\n\r\nbody\r\n"

static const struct from_case from_cases[] = {
    {"plain", "From: a@example.com" BODY, 0, "example.com"},
    {"angle brackets", "From: <a@example.com>" BODY, 0, "example.com"},
    {"display name", "From: Alice Doe <alice@example.com>" BODY, 0, "example.com"},
    {"quoted display name with specials", "From: \"Doe, Alice <x@evil.example>\" <alice@example.com>" BODY,
     0, "example.com"},
    {"comments", "From: (the boss) alice(x)@(y)example.org (trailing)" BODY, 0, "example.org"},
    {"comment with an address in it", "From: alice@example.org (not bob@evil.example)" BODY, 0,
     "example.org"},
    {"quoted local part", "From: \"alice doe\"@example.net" BODY, 0, "example.net"},
    {"quoted local part with @", "From: \"a@evil.example\"@example.net" BODY, 0, "example.net"},
    {"upper case", "From: Alice <ALICE@Example.COM>" BODY, 0, "example.com"},
    {"folded", "From: Alice\r\n Doe\r\n\t<alice@sub.example.com>" BODY, 0, "sub.example.com"},
    {"field name case", "FROM: alice@example.com" BODY, 0, "example.com"},
    {"bare LF line ends", "Subject: x\nFrom: alice@example.com\n\nbody\n", 0, "example.com"},
    {"no body", "From: alice@example.com\r\n", 0, "example.com"},
    {"From in the body does not count", "From: a@example.com\r\n\r\nFrom: b@evil.example\r\n", 0,
     "example.com"},
    {"other fields around", "Received: x\r\nTo: b@to.example\r\nFrom: a@example.com\r\nSender: s@snd.example" BODY,
     0, "example.com"},
    {"group of one (RFC 6854)", "From: Team: alice@example.com;" BODY, 0, "example.com"},

    {"no From", "To: b@example.com\r\nSubject: x" BODY, HD_ESYNTAX, NULL},
    {"empty message", "", HD_ESYNTAX, NULL},
    {"no header", "\r\nFrom: a@example.com\r\n", HD_ESYNTAX, NULL},
    {"two From fields", "From: a@example.com\r\nFrom: a@example.com" BODY, HD_ESYNTAX, NULL},
    {"two From fields, other case", "From: a@example.com\r\nfrom: b@evil.example" BODY, HD_ESYNTAX, NULL},
    {"two mailboxes", "From: a@example.com, b@example.org" BODY, HD_ESYNTAX, NULL},
    {"group of two", "From: Team: a@example.com, b@example.org;" BODY, HD_ESYNTAX, NULL},
    {"empty group", "From: Undisclosed:;" BODY, HD_ESYNTAX, NULL},
    {"empty From", "From:" BODY, HD_ESYNTAX, NULL},
    {"blank From", "From:   " BODY, HD_ESYNTAX, NULL},
    {"address literal", "From: a@[192.0.2.1]" BODY, HD_ESYNTAX, NULL},
    {"IPv6 address literal", "From: a@[IPv6:2001:db8::1]" BODY, HD_ESYNTAX, NULL},
    {"no domain", "From: alice" BODY, HD_ESYNTAX, NULL},
    /* RFC 5322 §3.4.1: a dot-atom does not end in a dot (the mail parser
     * refuses it, so submit.c's trailing-dot strip is never reached) */
    {"trailing dot", "From: alice@example.com." BODY, HD_ESYNTAX, NULL},
    {"empty label", "From: alice@example..com" BODY, HD_ESYNTAX, NULL},
    {"garbage", "From: <<<>>>" BODY, HD_ESYNTAX, NULL},
    {"null address", "From: <>" BODY, HD_ESYNTAX, NULL},
    {"unclosed angle", "From: Alice <alice@example.com" BODY, HD_ESYNTAX, NULL},
    {"header line without colon", "From: a@example.com\r\nnot a field\r\n\r\nbody", HD_ESYNTAX, NULL},
    {"NUL in the header", "From: a@exa\0mple.com" BODY, HD_ESYNTAX, NULL},
    {"continuation first", " folded\r\nFrom: a@example.com" BODY, HD_ESYNTAX, NULL},
};

static size_t case_len(const struct from_case *c)
{
    /* the NUL case carries a NUL: measure to the end of the body marker */
    if (strcmp(c->name, "NUL in the header") == 0)
        return strlen("From: a@exa") + 1 + strlen("mple.com" BODY);
    return strlen(c->msg);
}

static void test_from_domain(void **state)
{
    for (size_t i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
        const struct from_case *c = &from_cases[i];
        hd_submit_info info;
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_submit_prepare(hd_slice_make(c->msg, case_len(c)), &opts, &info, &err);
        if (rc != c->want_rc)
            fail_msg("%s: rc %d (%s), want %d", c->name, rc, err.msg, c->want_rc);
        if (rc == 0 && strcmp(info.from_domain, c->want_domain) != 0)
            fail_msg("%s: domain \"%s\", want \"%s\"", c->name, info.from_domain, c->want_domain);
        if (rc != 0 && err.msg[0] == '\0')
            fail_msg("%s: refused without a reason", c->name);
        hd_submit_info_free(&info);
    }
}

/* ---- Message-ID and Date ---- */

static void prepare_ok(const char *msg, const hd_submit_opts *o, hd_submit_info *info)
{
    hd_err err;
    hd_err_clear(&err);
    if (hd_submit_prepare(hd_slice_cstr(msg), o, info, &err) != 0)
        fail_msg("prepare: %s", err.msg);
}

static void test_adds_message_id_and_date(void **state)
{
    hd_submit_info info;
    prepare_ok("From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n", &opts, &info);
    assert_string_equal(info.message_id, "<0123abcd@mx.example.net>");
    assert_string_equal(hd_buf_cstr(&info.added), "Message-ID: <0123abcd@mx.example.net>\r\n"
                                                  "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n");
    hd_submit_info_free(&info);
}

static void test_keeps_message_id(void **state)
{
    const char *msgs[] = {
        "From: a@example.com\r\nMessage-ID: <orig@client.example>\r\nDate: x\r\n\r\nbody\r\n",
        "From: a@example.com\r\nmessage-id:   <orig@client.example>  \r\nDate: x\r\n\r\nbody\r\n",
        "From: a@example.com\r\nMESSAGE-ID:\r\n <orig@client.example>\r\nDate: x\r\n\r\nbody\r\n",
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        hd_submit_info info;
        prepare_ok(msgs[i], &opts, &info);
        assert_string_equal(info.message_id, "<orig@client.example>");
        assert_int_equal(info.added.len, 0);
        hd_submit_info_free(&info);
    }
}

static void test_adds_only_the_missing_one(void **state)
{
    hd_submit_info info;
    prepare_ok("Date: Fri, 27 Nov 2026 05:08:55 +0000\r\nFrom: a@example.com\r\n\r\nx", &opts, &info);
    assert_string_equal(hd_buf_cstr(&info.added), "Message-ID: <0123abcd@mx.example.net>\r\n");
    hd_submit_info_free(&info);

    hd_submit_opts o = opts;
    o.now = 1709164800;
    prepare_ok("Message-Id: <m@x.example>\r\nFrom: a@example.com\r\n\r\nx", &o, &info);
    assert_string_equal(info.message_id, "<m@x.example>");
    assert_string_equal(hd_buf_cstr(&info.added), "Date: Thu, 29 Feb 2024 00:00:00 +0000\r\n");
    hd_submit_info_free(&info);

    /* a Date or Message-ID in the body is not in the header */
    prepare_ok("From: a@example.com\r\n\r\nDate: x\r\nMessage-ID: <b@x>\r\n", &o, &info);
    assert_string_equal(info.message_id, "<0123abcd@mx.example.net>");
    assert_string_equal(hd_buf_cstr(&info.added), "Message-ID: <0123abcd@mx.example.net>\r\n"
                                                  "Date: Thu, 29 Feb 2024 00:00:00 +0000\r\n");
    hd_submit_info_free(&info);
}

/* Whatever a client put in its Message-ID, no line end gets into
 * message_id (it is logged and stored). */
static void test_message_id_without_line_ends(void **state)
{
    hd_submit_info info;
    prepare_ok("From: a@example.com\r\nMessage-ID: <a@b>\r\n <c@d>\r\n\r\nx", &opts, &info);
    assert_null(strchr(info.message_id, '\r'));
    assert_null(strchr(info.message_id, '\n'));
    assert_non_null(strstr(info.message_id, "<a@b>"));
    hd_submit_info_free(&info);
}

/* On every failure the info is still safe to free. */
static void test_free_after_failure(void **state)
{
    hd_submit_info info;
    assert_int_equal(hd_submit_prepare(hd_slice_cstr("Subject: x\r\n\r\n"), &opts, &info, NULL),
                     HD_ESYNTAX);
    hd_submit_info_free(&info);
    assert_int_equal(hd_submit_prepare(hd_slice_cstr("bad header\r\n\r\n"), &opts, &info, NULL),
                     HD_ESYNTAX);
    hd_submit_info_free(&info);
}

/* Only the header is parsed: a big body with NULs, bare CRs and LFs and
 * endless lines is none of the header's business. */
static void test_big_body(void **state)
{
    const char *head = "From: Alice <alice@Example.ORG>\r\nSubject: big\r\n\r\n";
    size_t body_len = 32u << 20;
    size_t len = strlen(head) + body_len;
    uint8_t *msg = malloc(len);
    assert_non_null(msg);
    memcpy(msg, head, strlen(head));
    uint8_t *body = msg + strlen(head);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (uint8_t)(i * 131u >> 3);
    memcpy(body + 1000, "\nFrom: x@evil.example\n", 22);
    hd_submit_info info;
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_submit_prepare(hd_slice_make(msg, len), &opts, &info, &err);
    if (rc != 0)
        fail_msg("big body: %s", err.msg);
    assert_string_equal(info.from_domain, "example.org");
    hd_submit_info_free(&info);
    free(msg);
}

/* ---- the date ---- */

static void test_date_format(void **state)
{
    const struct {
        int64_t t;
        const char *want;
    } cases[] = {
        {0, "Thu, 1 Jan 1970 00:00:00 +0000"},
        {-1, "Wed, 31 Dec 1969 23:59:59 +0000"},
        {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},   /* leap day, century divisible by 400 */
        {1709164800, "Thu, 29 Feb 2024 00:00:00 +0000"},  /* leap day */
        {1798761599, "Thu, 31 Dec 2026 23:59:59 +0000"},
        {2147483647, "Tue, 19 Jan 2038 03:14:07 +0000"},  /* 32-bit time_t's last second */
        {2147483648, "Tue, 19 Jan 2038 03:14:08 +0000"},
        {4107542399, "Sun, 28 Feb 2100 23:59:59 +0000"},  /* 2100 is not a leap year */
        {4107542400, "Mon, 1 Mar 2100 00:00:00 +0000"},
        {253402300799, "Fri, 31 Dec 9999 23:59:59 +0000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[40];
        memset(out, 'x', sizeof out);
        hd_mail_date(cases[i].t, out);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%lld: \"%s\", want \"%s\"", (long long)cases[i].t, out, cases[i].want);
    }
}

/* ---- fields taken out (RFC 5322 §3.6.3, RFC 5321 §4.4) ---- */

static void written(const char *msg, hd_buf *out)
{
    hd_submit_info info;
    prepare_ok(msg, &opts, &info);
    hd_buf_init(out, 1 << 16);
    assert_int_equal(hd_submit_write(hd_slice_cstr(msg), &info, out, NULL), 0);
    hd_submit_info_free(&info);
}

static void test_drops_blind_and_trace_fields(void **state)
{
    (void)state;
    hd_buf out;
    /* any case, folded, first, last, several, LF line ends */
    written("bcc: hidden@example.net,\r\n another@example.net\r\n"
            "From: a@example.com\r\nMessage-ID: <m@x>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            "Return-Path: <forged@example.org>\r\nTo: b@example.net\r\n"
            "Resent-Bcc: r@example.net\r\nContent-Length: 9\r\nBCC: third@example.net\r\n"
            "Subject: Bcc: in the subject stays\r\n\r\nBcc: in the body stays\r\n",
            &out);
    assert_string_equal((const char *)hd_buf_slice(&out).p,
                        "From: a@example.com\r\nMessage-ID: <m@x>\r\n"
                        "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nTo: b@example.net\r\n"
                        "Subject: Bcc: in the subject stays\r\n\r\nBcc: in the body stays\r\n");
    hd_buf_free(&out);
    written("From: a@example.com\nBcc: x@example.net\nMessage-ID: <m@x>\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n\nbody\n",
            &out);
    assert_string_equal((const char *)hd_buf_slice(&out).p,
                        "From: a@example.com\nMessage-ID: <m@x>\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n\nbody\n");
    hd_buf_free(&out);
    /* nothing to drop: the message as it came, after the added fields */
    written("From: a@example.com\r\n\r\nx", &out);
    hd_slice w = hd_buf_slice(&out);
    assert_true(w.len > 3 && memcmp(w.p + w.len - 24, "From: a@example.com\r\n\r\nx", 24) == 0);
    hd_buf_free(&out);
}

static void test_too_many_dropped_fields(void **state)
{
    (void)state;
    hd_buf m;
    hd_buf_init(&m, 1 << 16);
    assert_int_equal(hd_buf_append_cstr(&m, "From: a@example.com\r\n"), 0);
    for (int i = 0; i <= HD_SUBMIT_DROP_MAX; i++)
        assert_int_equal(hd_buf_printf(&m, "Bcc: u%d@example.net\r\n", i), 0);
    assert_int_equal(hd_buf_append_cstr(&m, "\r\nbody"), 0);
    hd_submit_info info;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_submit_prepare(hd_buf_slice(&m), &opts, &info, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "more than 64"));
    hd_submit_info_free(&info);
    hd_buf_free(&m);
}

/* ---- 8-bit parts re-encoded before signing (RFC 6376 §5.3) ---- */

static void test_eight_bit_reencoded(void **state)
{
    (void)state;
    static const char msg[] =
        "From: a@example.com\r\nBcc: hidden@example.net\r\nMessage-ID: <m@x>\r\n"
        "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9f" "e, Ihr Termin ist am Dienstag um neun Uhr.\r\n";
    hd_submit_info info;
    prepare_ok(msg, &opts, &info);
    hd_buf out;
    hd_buf_init(&out, 1 << 16);
    hd_mime7_report rep;
    assert_int_equal(hd_submit_write(hd_slice_cstr(msg), &info, &out, &rep), 0);
    /* the Bcc dropped, the field rewritten, MIME-Version added, the body quoted-printable */
    assert_string_equal((const char *)out.p,
                        "From: a@example.com\r\nMessage-ID: <m@x>\r\n"
                        "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "MIME-Version: 1.0\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                        "Gr=C3=BC=C3=9Fe, Ihr Termin ist am Dienstag um neun Uhr.\r\n");
    assert_int_equal(rep.converted, 1);
    assert_false(rep.eight_bit);
    hd_submit_info_free(&info);
    hd_buf_free(&out);

    /* what cannot be re-encoded stays, and the report says why */
    static const char hdr8[] = "From: a@example.com\r\nSubject: Caf\xc3\xa9\r\n\r\nok\r\n";
    prepare_ok(hdr8, &opts, &info);
    hd_buf_init(&out, 1 << 16);
    assert_int_equal(hd_submit_write(hd_slice_cstr(hdr8), &info, &out, &rep), 0);
    assert_true(rep.eight_bit);
    assert_non_null(strstr(rep.why, "Subject field"));
    assert_non_null(strstr((const char *)out.p, "Subject: Caf\xc3\xa9\r\n\r\nok\r\n"));
    hd_submit_info_free(&info);
    hd_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_domain),
        cmocka_unit_test(test_adds_message_id_and_date),
        cmocka_unit_test(test_keeps_message_id),
        cmocka_unit_test(test_adds_only_the_missing_one),
        cmocka_unit_test(test_message_id_without_line_ends),
        cmocka_unit_test(test_free_after_failure),
        cmocka_unit_test(test_big_body),
        cmocka_unit_test(test_date_format),
        cmocka_unit_test(test_drops_blind_and_trace_fields),
        cmocka_unit_test(test_too_many_dropped_fields),
        cmocka_unit_test(test_eight_bit_reencoded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
