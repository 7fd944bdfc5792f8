/*
 * smtpc_test.c - the SMTP client session against a scripted fake server:
 * the test feeds the server's replies and checks the exact bytes the
 * client writes, the events it raises and the result of every recipient.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/smtpc.h>

#include "smtpc/smtpc_int.h"

#define HELO "client.example.org"
#define GREETING "220 mx.example.com ESMTP\r\n"
/* A modern server: pipelining, SIZE, 8BITMIME, SMTPUTF8. */
#define EHLO_PIPE                                                                          \
    "250-mx.example.com Hello client\r\n250-SIZE 10000\r\n250-PIPELINING\r\n"           \
    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"
/* One without pipelining or SIZE. */
#define EHLO_PLAIN "250-mx.example.com\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define MSG "Subject: hi\r\n\r\nhello\r\n"

static const char *const ONE[] = {"b@example.com"};
static const char *const THREE[] = {"r1@example.com", "r2@example.com", "r3@example.com"};

/* ------------------------------------------------------------------ */
/* the fake server                                                     */

static hd_smtpc *mk(hd_smtpc_tls_policy tls, bool tls_active)
{
    hd_smtpc_opts o;
    hd_smtpc_opts_init(&o);
    o.helo_name = HELO;
    o.tls = tls;
    o.tls_active = tls_active;
    hd_smtpc *c = NULL;
    hd_err err;
    if (hd_smtpc_new(&o, &c, &err) != 0)
        fail_msg("hd_smtpc_new: %s", err.msg);
    return c;
}

/* The client wrote exactly want (and nothing else) since the last check. */
static void want_out_at(hd_smtpc *c, const char *want, int line)
{
    hd_slice o = hd_smtpc_output(c);
    if (!hd_slice_eq_cstr(o, want))
        fail_msg("line %d: client wrote\n[%.*s]\nwant\n[%s]", line, (int)o.len,
                 (const char *)o.p, want);
    hd_smtpc_output_done(c, o.len);
}
#define want_out(c, w) want_out_at(c, w, __LINE__)

/* The server says s; the event the client raises. */
static hd_smtpc_event say(hd_smtpc *c, const char *s)
{
    hd_err err;
    if (hd_smtpc_feed(c, s, strlen(s), &err) != 0)
        fail_msg("feed: %s", err.msg);
    return hd_smtpc_step(c);
}

/* The same, one byte at a time: nothing may happen before the last. */
static hd_smtpc_event say_bytewise(hd_smtpc *c, const char *s)
{
    size_t n = strlen(s);
    hd_smtpc_event ev = HD_SMTPC_EV_NEED_INPUT;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(hd_smtpc_feed(c, s + i, 1, NULL), 0);
        ev = hd_smtpc_step(c);
        if (i + 1 < n && ev != HD_SMTPC_EV_NEED_INPUT)
            fail_msg("event %d after byte %zu of %zu", ev, i, n);
    }
    return ev;
}

/* Greeting and EHLO: the session is READY. */
static hd_smtpc *ready(hd_smtpc_tls_policy tls, const char *ehlo_reply)
{
    hd_smtpc *c = mk(tls, false);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "");
    assert_int_equal(say(c, GREETING), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, ehlo_reply), HD_SMTPC_EV_READY);
    want_out(c, "");
    return c;
}

static hd_smtpc_txn txn_of(const char *const *rcpts, size_t n, const char *msg)
{
    hd_smtpc_txn t = {0};
    t.mail_from = "a@example.org";
    t.rcpts = rcpts;
    t.n_rcpts = n;
    t.message = hd_slice_cstr(msg);
    return t;
}

static void begin(hd_smtpc *c, const hd_smtpc_txn *t)
{
    hd_err err;
    if (hd_smtpc_begin(c, t, &err) != 0)
        fail_msg("begin: %s", err.msg);
}

static void want_result_at(hd_smtpc *c, size_t i, int code, const char *enhanced,
                           hd_smtpc_phase phase, const char *text, int line)
{
    const hd_smtpc_result *r = hd_smtpc_rcpt_result(c, i);
    if (r == NULL)
        fail_msg("line %d: no result for recipient %zu", line, i);
    if (r->code != code || strcmp(r->enhanced, enhanced) != 0 || r->phase != phase ||
        (text != NULL && strcmp(r->text, text) != 0))
        fail_msg("line %d: recipient %zu: %d %s phase %d [%s], want %d %s phase %d [%s]", line,
                 i, r->code, r->enhanced, r->phase, r->text, code, enhanced, phase,
                 text ? text : "*");
}
#define want_result(c, i, code, e, ph, t) want_result_at(c, i, code, e, ph, t, __LINE__)

static void want_session_at(hd_smtpc *c, int code, hd_smtpc_phase phase, const char *text_has,
                            int line)
{
    const hd_smtpc_result *r = hd_smtpc_session_result(c);
    if (r == NULL)
        fail_msg("line %d: no session failure", line);
    if (r->code != code || r->phase != phase || strstr(r->text, text_has) == NULL)
        fail_msg("line %d: session %d phase %d [%s], want %d phase %d [..%s..]", line, r->code,
                 r->phase, r->text, code, phase, text_has);
}
#define want_session(c, code, ph, t) want_session_at(c, code, ph, t, __LINE__)

static void quit_cleanly(hd_smtpc *c)
{
    hd_smtpc_quit(c);
    want_out(c, "QUIT\r\n");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_NEED_INPUT);
    assert_int_equal(say(c, "221 2.0.0 Bye\r\n"), HD_SMTPC_EV_CLOSE);
    assert_null(hd_smtpc_session_result(c));
    hd_smtpc_free(c);
}

/* ------------------------------------------------------------------ */
/* transactions                                                        */

static void test_plain_transaction(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    assert_false(hd_smtpc_has_ext(c, "PIPELINING"));
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    assert_int_equal(say(c, "250 2.1.0 Ok\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "RCPT TO:<b@example.com>\r\n");
    assert_int_equal(say(c, "250 2.1.5 Ok\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "DATA\r\n");
    assert_int_equal(say(c, "354 End data with <CR><LF>.<CR><LF>\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, MSG ".\r\n");
    assert_null(hd_smtpc_rcpt_result(c, 0)); /* not before TXN_DONE */
    assert_int_equal(say(c, "250 2.0.0 Ok: queued as 4Fx\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "Ok: queued as 4Fx");
    assert_null(hd_smtpc_rcpt_result(c, 1));
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_NEED_INPUT); /* READY once */
    want_out(c, "");
    quit_cleanly(c);
}

static void test_pipelined_one_refused(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(THREE, 3, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=22\r\n"
                "RCPT TO:<r1@example.com>\r\nRCPT TO:<r2@example.com>\r\n"
                "RCPT TO:<r3@example.com>\r\nDATA\r\n");
    assert_int_equal(say(c, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                            "550 5.1.1 <r2@example.com>: Recipient address rejected\r\n"
                            "250 2.1.5 Ok\r\n354 go ahead\r\n"),
                     HD_SMTPC_EV_NEED_INPUT);
    want_out(c, MSG ".\r\n");
    assert_int_equal(say(c, "250 2.0.0 queued\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "queued");
    want_result(c, 1, 550, "5.1.1", HD_SMTPC_PHASE_RCPT,
                "<r2@example.com>: Recipient address rejected");
    want_result(c, 2, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "queued");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_mail_refused(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(THREE, 2, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    assert_int_equal(say(c, "553 5.7.1 Sender address rejected\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_out(c, ""); /* no RCPT, no RSET: MAIL opened nothing */
    for (size_t i = 0; i < 2; i++)
        want_result(c, i, 553, "5.7.1", HD_SMTPC_PHASE_MAIL, "Sender address rejected");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_mail_refused_pipelined(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(THREE, 2, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=22\r\nRCPT TO:<r1@example.com>\r\n"
                "RCPT TO:<r2@example.com>\r\nDATA\r\n");
    /* the replies to RCPT and DATA are still read, then ignored */
    assert_int_equal(say(c, "550 5.7.1 go away\r\n503 5.5.1 need MAIL\r\n"), HD_SMTPC_EV_NEED_INPUT);
    assert_int_equal(say(c, "503 5.5.1 need MAIL\r\n"), HD_SMTPC_EV_NEED_INPUT);
    assert_int_equal(say(c, "503 5.5.1 need RCPT\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_out(c, "");
    for (size_t i = 0; i < 2; i++)
        want_result(c, i, 550, "5.7.1", HD_SMTPC_PHASE_MAIL, "go away");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_all_rcpt_refused(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(THREE, 2, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    assert_int_equal(say(c, "250 2.1.0 Ok\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "RCPT TO:<r1@example.com>\r\n");
    assert_int_equal(say(c, "550 5.1.1 unknown\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "RCPT TO:<r2@example.com>\r\n");
    assert_int_equal(say(c, "450 4.2.0 greylisted\r\n"), HD_SMTPC_EV_NEED_INPUT);
    /* no DATA; RSET closes the transaction MAIL opened */
    want_out(c, "RSET\r\n");
    assert_int_equal(say(c, "250 2.0.0 Ok\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "unknown");
    want_result(c, 1, 450, "4.2.0", HD_SMTPC_PHASE_RCPT, "greylisted");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_all_rcpt_refused_pipelined(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(THREE, 2, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250 2.1.0 Ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n"
                            "554 5.5.1 Error: no valid recipients\r\n"),
                     HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "RSET\r\n");
    assert_int_equal(say(c, "250 2.0.0 Ok\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no");
    want_result(c, 1, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_data_354_all_refused_sends_dot(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250 2.1.0 Ok\r\n550 5.1.1 no such user\r\n354 go\r\n"),
                     HD_SMTPC_EV_NEED_INPUT);
    want_out(c, ".\r\n"); /* RFC 2920 §3.1: a lone dot, not the message */
    assert_int_equal(say(c, "554 5.5.1 no valid recipients\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_out(c, "");
    want_result(c, 0, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no such user");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_final_reply_4xx(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(THREE, 3, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250 Ok\r\n250 Ok\r\n452 4.2.2 mailbox full\r\n250 Ok\r\n354 go\r\n"),
                     HD_SMTPC_EV_NEED_INPUT);
    want_out(c, MSG ".\r\n");
    assert_int_equal(say(c, "451 4.3.0 Error: queue file write error\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 451, "4.3.0", HD_SMTPC_PHASE_DATA, "Error: queue file write error");
    want_result(c, 1, 452, "4.2.2", HD_SMTPC_PHASE_RCPT, "mailbox full");
    want_result(c, 2, 451, "4.3.0", HD_SMTPC_PHASE_DATA, NULL);
    want_out(c, ""); /* after "." the transaction is over: no RSET */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_data_command_refused(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    say(c, "250 Ok\r\n");
    want_out(c, "RCPT TO:<b@example.com>\r\n");
    say(c, "250 Ok\r\n");
    want_out(c, "DATA\r\n");
    assert_int_equal(say(c, "554 5.7.1 not now\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "RSET\r\n");
    assert_int_equal(say(c, "250 Ok\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 554, "5.7.1", HD_SMTPC_PHASE_DATA, "not now");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_two_transactions(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t1 = txn_of(ONE, 1, "first\r\n");
    begin(c, &t1);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=7\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    assert_int_equal(say(c, "250 Ok\r\n250 Ok\r\n354 go\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "first\r\n.\r\n");
    assert_int_equal(say(c, "250 2.0.0 queued as A\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "queued as A");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);

    hd_smtpc_txn t2 = txn_of(THREE, 2, "second\r\n");
    t2.mail_from = "";
    begin(c, &t2); /* no RSET between successful transactions */
    want_out(c, "MAIL FROM:<> SIZE=8\r\nRCPT TO:<r1@example.com>\r\n"
                "RCPT TO:<r2@example.com>\r\nDATA\r\n");
    assert_int_equal(say(c, "250 Ok\r\n550 5.1.1 no\r\n250 Ok\r\n354 go\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "second\r\n.\r\n");
    assert_int_equal(say(c, "250 2.0.0 queued as B\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no");
    want_result(c, 1, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "queued as B");
    assert_null(hd_smtpc_rcpt_result(c, 2));
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    quit_cleanly(c);
}

static void test_rset_refused_ends_session(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250 Ok\r\n550 no\r\n554 no recipients\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "RSET\r\n");
    assert_int_equal(say(c, "500 what\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 550, "", HD_SMTPC_PHASE_RCPT, "no");
    want_out(c, "QUIT\r\n"); /* a server in an unknown state is left */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_NEED_INPUT);
    assert_int_equal(say(c, "221 bye\r\n"), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);
}

/* ------------------------------------------------------------------ */
/* message data                                                        */

struct stuff_case {
    const char *name, *msg, *wire;
    unsigned long long size; /* RFC 1870 SIZE= */
};

static const struct stuff_case stuff_cases[] = {
    {"plain", "a\r\nb\r\n", "a\r\nb\r\n.\r\n", 6},
    {"dot on the first line", ".hidden\r\nx\r\n", "..hidden\r\nx\r\n.\r\n", 12},
    {"dots inside", "a\r\n.b\r\n..c\r\n.\r\nd\r\n", "a\r\n..b\r\n...c\r\n..\r\nd\r\n.\r\n", 18},
    {"no final CRLF", "a\r\nlast", "a\r\nlast\r\n.\r\n", 9},
    {"final line is a dot", "a\r\n.", "a\r\n..\r\n.\r\n", 6},
    {"dot not at line start", "a.b\r\n", "a.b\r\n.\r\n", 5},
    {"empty message", "", ".\r\n", 0},
    {"bare LF becomes CRLF", "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n", 9},
    {"bare CR becomes CRLF", "a\r.\rb\r\n", "a\r\n..\r\nb\r\n.\r\n", 9},
    {"smuggling attempt", "x\r\n\n.\r\nMAIL FROM:<e>\r\n",
     "x\r\n\r\n..\r\nMAIL FROM:<e>\r\n.\r\n", 23},
};

static void test_dot_stuffing(void **state)
{
    for (size_t i = 0; i < sizeof stuff_cases / sizeof stuff_cases[0]; i++) {
        const struct stuff_case *k = &stuff_cases[i];
        hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
        hd_smtpc_txn t = txn_of(ONE, 1, k->msg);
        begin(c, &t);
        char want[256];
        snprintf(want, sizeof want, "MAIL FROM:<a@example.org> SIZE=%llu\r\n"
                 "RCPT TO:<b@example.com>\r\nDATA\r\n", k->size);
        hd_slice o = hd_smtpc_output(c);
        if (!hd_slice_eq_cstr(o, want))
            fail_msg("%s: [%.*s]", k->name, (int)o.len, (const char *)o.p);
        hd_smtpc_output_done(c, o.len);
        say(c, "250 Ok\r\n250 Ok\r\n354 go\r\n");
        o = hd_smtpc_output(c);
        if (!hd_slice_eq_cstr(o, k->wire))
            fail_msg("%s: wrote [%.*s] want [%s]", k->name, (int)o.len, (const char *)o.p,
                     k->wire);
        hd_smtpc_free(c);
    }
}

static void test_output_partial_writes(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, 5); /* the shell wrote "MAIL " */
    want_out(c, "FROM:<a@example.org>\r\n");
    hd_smtpc_free(c);
}

/* A message bigger than the buffer kept between writes, written out in
 * small pieces, then a second transaction on the same session. */
static void test_big_message(void **state)
{
    size_t n = 300 * 1000;
    char *msg = malloc(n + 1);
    assert_non_null(msg);
    for (size_t i = 0; i < n; i += 10)
        memcpy(msg + i, ".23456789\n", 10); /* every line stuffed, every LF made CRLF */
    msg[n] = '\0';
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(ONE, 1, msg);
    begin(c, &t);
    say(c, "250 Ok\r\n");
    say(c, "250 Ok\r\n");
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    say(c, "354 go\r\n");
    size_t lines = n / 10, total = 0;
    hd_slice o = hd_smtpc_output(c);
    assert_int_equal(o.len, lines * 12 + 3);
    assert_memory_equal(o.p, "..23456789\r\n..2", 15);
    assert_memory_equal(o.p + o.len - 15, "..23456789\r\n.\r\n", 15);
    while ((o = hd_smtpc_output(c)).len > 0) {
        size_t w = o.len < 4096 ? o.len : 4096;
        hd_smtpc_output_done(c, w);
        total += w;
    }
    assert_int_equal(total, lines * 12 + 3);
    assert_int_equal(say(c, "250 queued\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "", HD_SMTPC_PHASE_DATA, "queued");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    hd_smtpc_txn t2 = txn_of(ONE, 1, MSG);
    begin(c, &t2);
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    hd_smtpc_free(c);
    free(msg);
}

/* ------------------------------------------------------------------ */
/* extensions and transaction parameters                               */

static void test_ehlo_keywords(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE,
                        "250-mx.example.com greets you\r\n250-size 5000\r\n250-pipelining\r\n"
                        "250-X-Custom foo bar\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN\r\n"
                        "250 8bitmime\r\n");
    assert_true(hd_smtpc_has_ext(c, "PIPELINING"));
    assert_true(hd_smtpc_has_ext(c, "Size"));
    assert_true(hd_smtpc_has_ext(c, "x-custom"));
    assert_true(hd_smtpc_has_ext(c, "AUTH"));
    assert_true(hd_smtpc_has_ext(c, "8BITMIME"));
    assert_false(hd_smtpc_has_ext(c, "STARTTLS"));
    assert_false(hd_smtpc_has_ext(c, "MX.EXAMPLE.COM")); /* the greeting line is no keyword */
    assert_false(hd_smtpc_has_ext(c, "SMTPUTF8"));
    assert_int_equal(hd_smtpc_max_size(c), 5000);
    hd_smtpc_free(c);

    c = ready(HD_SMTPC_TLS_NONE, "250-mx\r\n250 SIZE 99999999999999999999999\r\n");
    assert_true(hd_smtpc_max_size(c) == UINT64_MAX); /* too big to hold: no limit */
    hd_smtpc_free(c);

    c = ready(HD_SMTPC_TLS_NONE, "250-mx\r\n250 SIZE\r\n");
    assert_true(hd_smtpc_has_ext(c, "SIZE"));
    assert_int_equal(hd_smtpc_max_size(c), 0); /* announced without a limit */
    hd_smtpc_txn t = txn_of(ONE, 1, "x\r\n");
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=3\r\n");
    hd_smtpc_free(c);
}

static void test_size_limit(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, "250-mx\r\n250 SIZE 10\r\n");
    hd_smtpc_txn t = txn_of(THREE, 2, "0123456789x");
    begin(c, &t);
    want_out(c, ""); /* RFC 1870: not sent at all */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 552, "5.3.4", HD_SMTPC_PHASE_MAIL, NULL);
    want_result(c, 1, 552, "5.3.4", HD_SMTPC_PHASE_MAIL, NULL);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    /* exactly the limit (CRLF added: 8 + 2) goes out */
    hd_smtpc_txn t2 = txn_of(ONE, 1, "01234567");
    begin(c, &t2);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=10\r\n");
    hd_smtpc_free(c);
}

static void test_smtputf8_and_8bitmime(void **state)
{
    /* not offered: refused without a word to the server (RFC 6531 §3.4) */
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    t.smtputf8 = true;
    begin(c, &t);
    want_out(c, "");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 550, "5.6.7", HD_SMTPC_PHASE_MAIL, NULL);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    /* 8-bit body, 8BITMIME offered */
    hd_smtpc_txn t8 = txn_of(ONE, 1, MSG);
    t8.body_8bit = true;
    begin(c, &t8);
    want_out(c, "MAIL FROM:<a@example.org> BODY=8BITMIME\r\n");
    hd_smtpc_free(c);

    /* both offered */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    t.body_8bit = true;
    t.mail_from = "j\xc3\xb6rg@example.org";
    begin(c, &t);
    want_out(c, "MAIL FROM:<j\xc3\xb6rg@example.org> SIZE=22 BODY=8BITMIME SMTPUTF8\r\n"
                "RCPT TO:<b@example.com>\r\nDATA\r\n");
    hd_smtpc_free(c);

    /* 8-bit body, no 8BITMIME: not sent, 5.6.3 for every recipient
     * (RFC 6152 §3), and the session can go on with a 7-bit message */
    c = ready(HD_SMTPC_TLS_NONE, "250 mx\r\n");
    begin(c, &t8);
    want_out(c, "");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 554, "5.6.3", HD_SMTPC_PHASE_MAIL, NULL);
    assert_non_null(strstr(hd_smtpc_rcpt_result(c, 0)->text, "does not offer 8BITMIME"));
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    hd_smtpc_txn t7 = txn_of(ONE, 1, MSG);
    begin(c, &t7);
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    hd_smtpc_free(c);
}

static void test_begin_refuses_bad_input(void **state)
{
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    hd_err err;
    assert_int_equal(hd_smtpc_begin(c, &t, &err), HD_ESTATE); /* before READY */
    say(c, GREETING);
    assert_int_equal(hd_smtpc_begin(c, &t, NULL), HD_ESTATE);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, EHLO_PLAIN), HD_SMTPC_EV_READY);

    static const char *const crlf[] = {"b@example.com\r\nDATA"};
    static const char *const angle[] = {"b@example.com> NOTIFY=NEVER"};
    static const char *const empty[] = {""};
    hd_smtpc_txn bad = txn_of(crlf, 1, MSG);
    assert_int_equal(hd_smtpc_begin(c, &bad, &err), HD_EINVAL);
    bad = txn_of(angle, 1, MSG);
    assert_int_equal(hd_smtpc_begin(c, &bad, &err), HD_EINVAL);
    bad = txn_of(empty, 1, MSG);
    assert_int_equal(hd_smtpc_begin(c, &bad, &err), HD_EINVAL);
    bad = txn_of(ONE, 0, MSG);
    assert_int_equal(hd_smtpc_begin(c, &bad, &err), HD_EINVAL);
    const char **many = calloc(SMTPC_MAX_RCPTS + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= SMTPC_MAX_RCPTS; i++)
        many[i] = "b@example.com";
    bad = txn_of(many, SMTPC_MAX_RCPTS + 1, MSG);
    assert_int_equal(hd_smtpc_begin(c, &bad, &err), HD_ELIMIT);
    free(many);
    bad = txn_of(ONE, 1, MSG);
    bad.mail_from = "a@x\nRSET";
    assert_int_equal(hd_smtpc_begin(c, &bad, &err), HD_EINVAL);
    want_out(c, ""); /* nothing was queued */
    begin(c, &t);    /* still usable */
    assert_int_equal(hd_smtpc_begin(c, &t, &err), HD_ESTATE); /* one at a time */
    want_out(c, "MAIL FROM:<a@example.org>\r\n");
    hd_smtpc_free(c);

    hd_smtpc_opts o;
    hd_smtpc_opts_init(&o);
    o.helo_name = "bad\r\nname";
    assert_int_equal(hd_smtpc_new(&o, &c, &err), HD_EINVAL);
    assert_null(c);
}

/* ------------------------------------------------------------------ */
/* greeting, EHLO, session failures                                    */

static void test_ehlo_refused_falls_back_to_helo(void **state)
{
    static const char *const refusals[] = {
        "500 5.5.1 unrecognized command\r\n", "502 5.5.2 Error: command not recognized\r\n",
        "504 not implemented\r\n", "550 no\r\n"};
    for (size_t i = 0; i < 4; i++) {
        hd_smtpc *c = mk(HD_SMTPC_TLS_OPPORTUNISTIC, false);
        say(c, GREETING);
        want_out(c, "EHLO " HELO "\r\n");
        assert_int_equal(say(c, refusals[i]), HD_SMTPC_EV_NEED_INPUT);
        want_out(c, "HELO " HELO "\r\n");
        assert_int_equal(say(c, "250 mx.example.com\r\n"), HD_SMTPC_EV_READY);
        want_out(c, ""); /* opportunistic TLS: nothing offered, plain text */
        assert_false(hd_smtpc_has_ext(c, "PIPELINING"));
        assert_int_equal(hd_smtpc_max_size(c), 0);
        hd_smtpc_txn t = txn_of(ONE, 1, MSG);
        /* HELO offers nothing: an 8-bit message cannot go (RFC 6152 §3) */
        t.body_8bit = true;
        begin(c, &t);
        want_out(c, "");
        assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_TXN_DONE);
        want_result(c, 0, 554, "5.6.3", HD_SMTPC_PHASE_MAIL, NULL);
        assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
        t.body_8bit = false;
        begin(c, &t);
        want_out(c, "MAIL FROM:<a@example.org>\r\n");
        hd_smtpc_free(c);
    }
}

static void test_ehlo_and_helo_failures(void **state)
{
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    say(c, GREETING);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, "451 4.3.0 try later\r\n"), HD_SMTPC_EV_CLOSE);
    want_out(c, "QUIT\r\n");
    want_session(c, 451, HD_SMTPC_PHASE_EHLO, "try later");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE); /* stays closed */
    hd_smtpc_free(c);

    c = mk(HD_SMTPC_TLS_NONE, false);
    say(c, GREETING);
    say(c, "502 no EHLO\r\n");
    want_out(c, "EHLO " HELO "\r\nHELO " HELO "\r\n");
    assert_int_equal(say(c, "550 5.7.1 go away\r\n"), HD_SMTPC_EV_CLOSE);
    want_out(c, "QUIT\r\n");
    want_session(c, 550, HD_SMTPC_PHASE_EHLO, "go away");
    assert_string_equal(hd_smtpc_session_result(c)->enhanced, "5.7.1");
    hd_smtpc_free(c);
}

static void test_greeting_refused(void **state)
{
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, "554-5.3.2 mx.example.com\r\n554 5.3.2 No SMTP service here\r\n"),
                     HD_SMTPC_EV_CLOSE);
    want_out(c, "QUIT\r\n"); /* RFC 5321 §3.1 */
    const hd_smtpc_result *r = hd_smtpc_session_result(c);
    assert_non_null(r);
    assert_int_equal(r->code, 554);
    assert_string_equal(r->enhanced, "5.3.2");
    assert_string_equal(r->text, "mx.example.com / No SMTP service here");
    assert_int_equal(r->phase, HD_SMTPC_PHASE_CONNECT);
    hd_smtpc_free(c);

    c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, "450 4.3.2 busy, come back later\r\n"), HD_SMTPC_EV_CLOSE);
    want_out(c, "QUIT\r\n");
    want_session(c, 450, HD_SMTPC_PHASE_CONNECT, "busy");
    hd_smtpc_free(c);

    c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, "421 4.3.2 too many connections\r\n"), HD_SMTPC_EV_CLOSE);
    want_out(c, ""); /* the server is closing: no QUIT */
    want_session(c, 421, HD_SMTPC_PHASE_CONNECT, "too many connections");
    hd_smtpc_free(c);
}

static void test_421_mid_transaction(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(THREE, 3, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250 Ok\r\n250 Ok\r\n550 5.1.1 no\r\n421 4.3.2 shutting down\r\n"),
                     HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 421, "4.3.2", HD_SMTPC_PHASE_RCPT, "shutting down"); /* accepted, open */
    want_result(c, 1, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no");            /* keeps its reply */
    want_result(c, 2, 421, "4.3.2", HD_SMTPC_PHASE_RCPT, "shutting down");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    want_out(c, "");
    want_session(c, 421, HD_SMTPC_PHASE_RCPT, "shutting down");
    /* whatever comes after is not read */
    assert_int_equal(say(c, "250 Ok\r\n"), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);

    /* after the message went out */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    begin(c, &t);
    say(c, "250 Ok\r\n");
    say(c, "250 Ok\r\n");
    say(c, "250 Ok\r\n");
    say(c, "250 Ok\r\n");
    say(c, "354 go\r\n");
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "421 4.4.2 timeout\r\n"), HD_SMTPC_EV_TXN_DONE);
    for (size_t i = 0; i < 3; i++)
        want_result(c, i, 421, "4.4.2", HD_SMTPC_PHASE_DATA, "timeout");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);
}

static void test_connection_lost_mid_data(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(THREE, 2, MSG);
    begin(c, &t);
    say(c, "250 Ok\r\n");
    say(c, "250 Ok\r\n");
    say(c, "550 5.1.1 unknown\r\n");
    want_out(c, "MAIL FROM:<a@example.org>\r\nRCPT TO:<r1@example.com>\r\n"
                "RCPT TO:<r2@example.com>\r\nDATA\r\n");
    say(c, "354 go\r\n");
    hd_smtpc_lost(c, "connection reset by peer");
    want_out(c, ""); /* nothing left to write */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 0, "4.4.2", HD_SMTPC_PHASE_SESSION, "connection reset by peer");
    want_result(c, 1, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "unknown");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    want_session(c, 0, HD_SMTPC_PHASE_SESSION, "connection reset");
    hd_smtpc_lost(c, "again"); /* harmless */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);
}

static void test_idle_replies(void **state)
{
    /* a 421 while idle (the server timed out) */
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    assert_int_equal(say(c, "421 4.4.2 idle timeout\r\n"), HD_SMTPC_EV_CLOSE);
    want_session(c, 421, HD_SMTPC_PHASE_SESSION, "idle timeout");
    hd_smtpc_free(c);

    /* anything else answers nothing we asked: the dialogue is out of step */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    assert_int_equal(say(c, "250 surprise\r\n"), HD_SMTPC_EV_CLOSE);
    want_session(c, 0, HD_SMTPC_PHASE_SESSION, "protocol error");
    hd_smtpc_free(c);

    /* a reply too many, already there when the EHLO reply came */
    c = mk(HD_SMTPC_TLS_NONE, false);
    say(c, GREETING);
    assert_int_equal(say(c, "250 mx\r\n250 extra\r\n"), HD_SMTPC_EV_CLOSE);
    want_session(c, 0, HD_SMTPC_PHASE_SESSION, "protocol error");
    hd_smtpc_free(c);
}

static void test_quit_and_eof(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_quit(c);
    want_out(c, "QUIT\r\n");
    hd_smtpc_quit(c); /* once */
    want_out(c, "");
    hd_smtpc_lost(c, "eof"); /* the server closed without 221: fine */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    assert_null(hd_smtpc_session_result(c));
    hd_smtpc_free(c);

    /* quitting in the middle of a transaction closes it */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    hd_smtpc_quit(c);
    want_out(c, "MAIL FROM:<a@example.org>\r\nQUIT\r\n");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 0, "4.4.2", HD_SMTPC_PHASE_SESSION, NULL);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);
}

/* ------------------------------------------------------------------ */
/* STARTTLS                                                            */

#define EHLO_TLS "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 999\r\n250 STARTTLS\r\n"

static hd_smtpc *to_starttls(hd_smtpc_tls_policy policy, const char *ehlo)
{
    hd_smtpc *c = mk(policy, false);
    say(c, GREETING);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, ehlo), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "STARTTLS\r\n");
    return c;
}

static void test_starttls_offered(void **state)
{
    hd_smtpc *c = to_starttls(HD_SMTPC_TLS_OPPORTUNISTIC, EHLO_TLS);
    assert_int_equal(say(c, "220 2.0.0 Ready to start TLS\r\n"), HD_SMTPC_EV_STARTTLS);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_NEED_INPUT); /* raised once */
    want_out(c, "");
    assert_false(hd_smtpc_tls_active(c));
    hd_smtpc_tls_started(c);
    assert_true(hd_smtpc_tls_active(c));
    want_out(c, "EHLO " HELO "\r\n"); /* RFC 3207 §4.2 */
    assert_false(hd_smtpc_has_ext(c, "PIPELINING")); /* forgotten */
    assert_int_equal(hd_smtpc_max_size(c), 0);
    assert_int_equal(say(c, "250-mx.example.com\r\n250-SIZE 1000\r\n250 STARTTLS\r\n"),
                     HD_SMTPC_EV_READY);
    want_out(c, ""); /* no second STARTTLS */
    assert_int_equal(hd_smtpc_max_size(c), 1000);
    assert_false(hd_smtpc_has_ext(c, "PIPELINING"));
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=22\r\n");
    hd_smtpc_free(c);
}

static void test_starttls_not_offered(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_OPPORTUNISTIC, EHLO_PIPE);
    assert_false(hd_smtpc_tls_active(c));
    assert_null(hd_smtpc_session_result(c));
    hd_smtpc_free(c);

    /* REQUIRED: the session fails, 4xx-class, and says goodbye */
    c = mk(HD_SMTPC_TLS_REQUIRED, false);
    say(c, GREETING);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, EHLO_PIPE), HD_SMTPC_EV_CLOSE);
    want_out(c, "QUIT\r\n");
    want_session(c, 0, HD_SMTPC_PHASE_STARTTLS, "STARTTLS not offered");
    assert_string_equal(hd_smtpc_session_result(c)->enhanced, "4.7.0");
    hd_smtpc_free(c);

    /* REQUIRED after a HELO fallback: nothing can be offered */
    c = mk(HD_SMTPC_TLS_REQUIRED, false);
    say(c, GREETING);
    say(c, "502 no\r\n");
    assert_int_equal(say(c, "250 mx\r\n"), HD_SMTPC_EV_CLOSE);
    want_session(c, 0, HD_SMTPC_PHASE_STARTTLS, "STARTTLS not offered");
    hd_smtpc_free(c);

    /* policy NONE never asks */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_TLS);
    assert_true(hd_smtpc_has_ext(c, "STARTTLS"));
    hd_smtpc_free(c);

    /* already TLS (port 465): no STARTTLS even though REQUIRED and offered */
    c = mk(HD_SMTPC_TLS_REQUIRED, true);
    say(c, GREETING);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, EHLO_TLS), HD_SMTPC_EV_READY);
    want_out(c, "");
    assert_true(hd_smtpc_tls_active(c));
    hd_smtpc_free(c);
}

static void test_starttls_refused(void **state)
{
    hd_smtpc *c = to_starttls(HD_SMTPC_TLS_OPPORTUNISTIC, EHLO_TLS);
    assert_int_equal(say(c, "454 4.7.0 TLS not available due to local problem\r\n"),
                     HD_SMTPC_EV_READY);
    want_out(c, ""); /* RFC 3207 §4.1: go on in plain text */
    assert_false(hd_smtpc_tls_active(c));
    assert_true(hd_smtpc_has_ext(c, "PIPELINING")); /* the plain EHLO holds */
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=22\r\nRCPT TO:<b@example.com>\r\nDATA\r\n");
    hd_smtpc_free(c);

    c = to_starttls(HD_SMTPC_TLS_REQUIRED, EHLO_TLS);
    assert_int_equal(say(c, "554 5.7.3 no TLS for you\r\n"), HD_SMTPC_EV_CLOSE);
    want_out(c, "QUIT\r\n");
    /* 4xx-class even though the server said 5xx: the policy failed */
    want_session(c, 0, HD_SMTPC_PHASE_STARTTLS, "554");
    assert_string_equal(hd_smtpc_session_result(c)->enhanced, "4.7.0");
    hd_smtpc_free(c);
}

static void test_starttls_injection_discarded(void **state)
{
    hd_smtpc *c = to_starttls(HD_SMTPC_TLS_OPPORTUNISTIC, EHLO_TLS);
    /* A man in the middle appends a forged EHLO reply to the 220 */
    assert_int_equal(say(c, "220 go ahead\r\n250-evil\r\n250 PIPELINING\r\n"),
                     HD_SMTPC_EV_STARTTLS);
    /* and more arrives before the handshake */
    assert_int_equal(say(c, "250 injected\r\n"), HD_SMTPC_EV_NEED_INPUT);
    hd_smtpc_tls_started(c);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, "250-mx.example.com\r\n250 8BITMIME\r\n"), HD_SMTPC_EV_READY);
    assert_false(hd_smtpc_has_ext(c, "PIPELINING"));
    assert_true(hd_smtpc_has_ext(c, "8BITMIME"));
    assert_null(hd_smtpc_session_result(c));
    quit_cleanly(c);
}

static void test_quit_during_handshake(void **state)
{
    hd_smtpc *c = to_starttls(HD_SMTPC_TLS_OPPORTUNISTIC, EHLO_TLS);
    assert_int_equal(say(c, "220 go ahead\r\n"), HD_SMTPC_EV_STARTTLS);
    hd_smtpc_quit(c);
    want_out(c, ""); /* no plain text inside a handshake */
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    hd_smtpc_tls_started(c); /* too late: ignored */
    want_out(c, "");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);
}

static void test_tls_failed(void **state)
{
    hd_smtpc *c = to_starttls(HD_SMTPC_TLS_OPPORTUNISTIC, EHLO_TLS);
    assert_int_equal(say(c, "220 go ahead\r\n"), HD_SMTPC_EV_STARTTLS);
    hd_smtpc_tls_failed(c);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    want_out(c, ""); /* no plain-text QUIT after a broken handshake */
    const hd_smtpc_result *r = hd_smtpc_session_result(c);
    assert_non_null(r);
    assert_int_equal(r->code, 0);
    assert_string_equal(r->text, "TLS handshake failed");
    assert_int_equal(r->phase, HD_SMTPC_PHASE_STARTTLS);
    hd_smtpc_free(c);
}

/* ------------------------------------------------------------------ */
/* reply parsing                                                       */

static void test_multiline_replies(void **state)
{
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    /* EHLO goes out only once the greeting's last line came */
    assert_int_equal(say(c, "220-mx.example.com ESMTP\r\n220-no UCE\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "");
    assert_int_equal(say(c, "220 ready\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, EHLO_PIPE), HD_SMTPC_EV_READY);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    say(c, "250 Ok\r\n250 Ok\r\n354 go\r\n");
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250-2.0.0 Ok\r\n250-2.0.0 queued as X\r\n250 2.0.0 see you\r\n"),
                     HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "Ok / queued as X / see you");
    hd_smtpc_free(c);
}

static void test_bare_lf_from_server(void **state)
{
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, "220 mx\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, "250-mx\n250 PIPELINING\n"), HD_SMTPC_EV_READY);
    assert_true(hd_smtpc_has_ext(c, "PIPELINING"));
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    say(c, "250 Ok\n250 Ok\r\n354 go\n");
    want_out(c, MSG ".\r\n");
    assert_int_equal(say(c, "250 queued\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "", HD_SMTPC_PHASE_DATA, "queued");
    hd_smtpc_free(c);
}

static const char *const bad_lines[] = {
    "hello\r\n", "25\r\n", "2500 x\r\n", "250\tx\r\n", "220-a\r\n221 b\r\n", "650 x\r\n",
    "120 x\r\n", "x220 hi\r\n", "\r\n", " 220 x\r\n", "22a x\r\n", "220-ok\r\n\r\n",
};

static void test_bad_reply_lines(void **state)
{
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
        hd_smtpc_event ev = say(c, bad_lines[i]);
        if (ev != HD_SMTPC_EV_CLOSE)
            fail_msg("case %zu: event %d", i, ev);
        want_out(c, "");
        const hd_smtpc_result *r = hd_smtpc_session_result(c);
        if (r == NULL || r->code != 0 || strncmp(r->text, "protocol error: ", 16) != 0 ||
            strcmp(r->enhanced, "4.5.0") != 0 || r->phase != HD_SMTPC_PHASE_SESSION)
            fail_msg("case %zu: %s", i, r ? r->text : "no session result");
        hd_smtpc_free(c);
    }
}

static void test_bad_reply_mid_transaction(void **state)
{
    hd_smtpc *c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    hd_smtpc_txn t = txn_of(THREE, 2, MSG);
    begin(c, &t);
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);
    assert_int_equal(say(c, "250 Ok\r\n550 5.1.1 no\r\n<html>\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no");
    want_result(c, 1, 0, "4.5.0", HD_SMTPC_PHASE_SESSION, NULL);
    assert_non_null(strstr(hd_smtpc_rcpt_result(c, 1)->text, "<html>"));
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    hd_smtpc_free(c);

    /* a 3xx where only 2xx/4xx/5xx make sense */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_PLAIN);
    begin(c, &t);
    assert_int_equal(say(c, "354 what\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 0, "4.5.0", HD_SMTPC_PHASE_SESSION, NULL);
    hd_smtpc_free(c);

    /* a 2xx to DATA */
    c = ready(HD_SMTPC_TLS_NONE, EHLO_PIPE);
    begin(c, &t);
    assert_int_equal(say(c, "250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 0, "4.5.0", HD_SMTPC_PHASE_SESSION, NULL);
    hd_smtpc_free(c);
}

static void test_long_lines_cut(void **state)
{
    char line[2100];
    memset(line, 'a', sizeof line);
    memcpy(line, "220 ", 4);
    memcpy(line + 2096, "\r\n", 3);
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, line), HD_SMTPC_EV_NEED_INPUT); /* tolerated */
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say(c, EHLO_PIPE), HD_SMTPC_EV_READY);
    hd_smtpc_txn t = txn_of(ONE, 1, MSG);
    begin(c, &t);
    say(c, "250 Ok\r\n250 Ok\r\n354 go\r\n");
    hd_smtpc_output_done(c, hd_smtpc_output(c).len);

    /* three 600-byte lines: each cut, the whole cut to the result size */
    char reply[3 * 610];
    size_t o = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(reply + o, i < 2 ? "554-" : "554 ", 4);
        memset(reply + o + 4, 'x' + i, 600);
        memcpy(reply + o + 604, "\r\n", 2);
        o += 606;
    }
    reply[o] = '\0';
    assert_int_equal(say(c, reply), HD_SMTPC_EV_TXN_DONE);
    const hd_smtpc_result *r = hd_smtpc_rcpt_result(c, 0);
    assert_int_equal(r->code, 554);
    assert_int_equal(strlen(r->text), HD_SMTPC_MAX_REPLY_TEXT - 1);
    assert_int_equal(r->text[SMTPC_LINE_TEXT_MAX - 1], 'x');
    assert_memory_equal(r->text + SMTPC_LINE_TEXT_MAX, " / y", 4);
    hd_smtpc_free(c);
}

static void test_line_count_limit(void **state)
{
    hd_buf b;
    hd_buf_init(&b, 8192);
    for (int i = 0; i < HD_SMTPC_MAX_REPLY_LINES - 1; i++)
        hd_buf_append_cstr(&b, "220-x\r\n");
    hd_buf_append_cstr(&b, "220 x\r\n");
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, hd_buf_cstr(&b)), HD_SMTPC_EV_NEED_INPUT); /* 64 lines: fine */
    want_out(c, "EHLO " HELO "\r\n");
    hd_smtpc_free(c);

    hd_buf_reset(&b);
    for (int i = 0; i < HD_SMTPC_MAX_REPLY_LINES; i++)
        hd_buf_append_cstr(&b, "220-x\r\n");
    c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(say(c, hd_buf_cstr(&b)), HD_SMTPC_EV_NEED_INPUT); /* 64 and no end yet */
    assert_int_equal(say(c, "220 x\r\n"), HD_SMTPC_EV_CLOSE);          /* the 65th */
    want_session(c, 0, HD_SMTPC_PHASE_SESSION, "protocol error: reply of more than");
    hd_smtpc_free(c);
    hd_buf_free(&b);
}

static void test_input_bounded(void **state)
{
    /* one endless line */
    size_t n = SMTPC_REPLY_MAX + 100;
    char *junk = malloc(n);
    assert_non_null(junk);
    memset(junk, 'a', n);
    memcpy(junk, "220 ", 4);
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    assert_int_equal(hd_smtpc_feed(c, junk, n, NULL), 0);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    want_session(c, 0, HD_SMTPC_PHASE_SESSION, "protocol error: reply longer than");
    hd_smtpc_free(c);

    /* a flood fed in pieces before any step */
    c = mk(HD_SMTPC_TLS_NONE, false);
    int rc = 0;
    for (size_t fed = 0; rc == 0 && fed <= SMTPC_IN_MAX; fed += n)
        rc = hd_smtpc_feed(c, junk, n, NULL);
    assert_int_equal(rc, HD_ELIMIT);
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_CLOSE);
    want_session(c, 0, HD_SMTPC_PHASE_SESSION, "unread server input");
    assert_int_equal(hd_smtpc_feed(c, junk, n, NULL), 0); /* closed: ignored */
    hd_smtpc_free(c);
    free(junk);
}

struct enh_case {
    const char *reply, *enhanced, *text;
};

static const struct enh_case enh_cases[] = {
    {"550 5.1.1 User unknown\r\n", "5.1.1", "User unknown"},
    {"550 5.1.1\r\n", "5.1.1", ""},
    {"550 5.1.1   spaced\r\n", "5.1.1", "spaced"},
    {"250 2.1.0 Ok\r\n", "2.1.0", "Ok"},
    {"451 4.123.456 max\r\n", "4.123.456", "max"},
    {"550 4.1.1 class mismatch\r\n", "", "4.1.1 class mismatch"},
    {"550 5.1 short\r\n", "", "5.1 short"},
    {"550 5.1.1234 long\r\n", "", "5.1.1234 long"},
    {"550 5.1.1x glued\r\n", "", "5.1.1x glued"},
    {"550 55.1.1 x\r\n", "", "55.1.1 x"},
    {"550 5..1 x\r\n", "", "5..1 x"},
    {"354 3.0.0 no such class\r\n", "", "3.0.0 no such class"},
    {"550-5.1.1 a\r\n550 5.1.1 b\r\n", "5.1.1", "a / b"},
    {"550-5.1.1 a\r\n550 b\r\n", "5.1.1", "a / b"},
    {"550-a\r\n550 5.1.1 b\r\n", "", "a / 5.1.1 b"},
    {"550 bad\x01" "byte\x7f" "here\r\n", "", "bad?byte?here"},
    {"550 cr\rinside\r\n", "", "cr?inside"},
    {"220\r\n", "", ""},
    {"220-\r\n220 x\r\n", "", " / x"},
};

static void test_enhanced_codes(void **state)
{
    for (size_t i = 0; i < sizeof enh_cases / sizeof enh_cases[0]; i++) {
        const struct enh_case *k = &enh_cases[i];
        hd_smtpc_scan s = {0};
        hd_slice in = hd_slice_cstr(k->reply);
        size_t len = 0;
        int code = 0;
        char why[128];
        if (hd_smtpc_reply_scan(&s, in, &len, &code, why, sizeof why) != SMTPC_SCAN_DONE ||
            len != in.len)
            fail_msg("case %zu: not one complete reply (%s)", i, why);
        hd_smtpc_result r;
        hd_smtpc_reply_result(in, code, &r);
        if (strcmp(r.enhanced, k->enhanced) != 0 || strcmp(r.text, k->text) != 0)
            fail_msg("case %zu: [%s] [%s], want [%s] [%s]", i, r.enhanced, r.text, k->enhanced,
                     k->text);
    }
    /* and through a session: a greeting refused with an enhanced code */
    hd_smtpc *c = mk(HD_SMTPC_TLS_NONE, false);
    say(c, "554 5.7.1 blocked\r\n");
    assert_string_equal(hd_smtpc_session_result(c)->enhanced, "5.7.1");
    assert_string_equal(hd_smtpc_session_result(c)->text, "blocked");
    hd_smtpc_free(c);
}

/* A whole pipelined dialogue, the server's bytes one at a time. */
static void test_bytewise_dialogue(void **state)
{
    hd_smtpc *c = mk(HD_SMTPC_TLS_OPPORTUNISTIC, false);
    assert_int_equal(say_bytewise(c, "220-mx.example.com\r\n220 ESMTP\r\n"), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say_bytewise(c, EHLO_TLS), HD_SMTPC_EV_NEED_INPUT);
    want_out(c, "STARTTLS\r\n");
    assert_int_equal(say_bytewise(c, "220 2.0.0 go\r\n"), HD_SMTPC_EV_STARTTLS);
    hd_smtpc_tls_started(c);
    want_out(c, "EHLO " HELO "\r\n");
    assert_int_equal(say_bytewise(c, EHLO_PIPE), HD_SMTPC_EV_READY);
    hd_smtpc_txn t = txn_of(THREE, 3, MSG);
    begin(c, &t);
    want_out(c, "MAIL FROM:<a@example.org> SIZE=22\r\n"
                "RCPT TO:<r1@example.com>\r\nRCPT TO:<r2@example.com>\r\n"
                "RCPT TO:<r3@example.com>\r\nDATA\r\n");
    assert_int_equal(say_bytewise(c, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                                     "550-5.1.1 no\r\n550 5.1.1 such user\r\n"
                                     "250 2.1.5 Ok\r\n354 go\r\n"),
                     HD_SMTPC_EV_NEED_INPUT);
    want_out(c, MSG ".\r\n");
    assert_int_equal(say_bytewise(c, "250 2.0.0 queued as Q\r\n"), HD_SMTPC_EV_TXN_DONE);
    want_result(c, 0, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "queued as Q");
    want_result(c, 1, 550, "5.1.1", HD_SMTPC_PHASE_RCPT, "no / such user");
    want_result(c, 2, 250, "2.0.0", HD_SMTPC_PHASE_DATA, "queued as Q");
    assert_int_equal(hd_smtpc_step(c), HD_SMTPC_EV_READY);
    hd_smtpc_quit(c);
    want_out(c, "QUIT\r\n");
    assert_int_equal(say_bytewise(c, "221 2.0.0 Bye\r\n"), HD_SMTPC_EV_CLOSE);
    assert_null(hd_smtpc_session_result(c));
    assert_true(hd_smtpc_tls_active(c));
    hd_smtpc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_transaction),
        cmocka_unit_test(test_pipelined_one_refused),
        cmocka_unit_test(test_mail_refused),
        cmocka_unit_test(test_mail_refused_pipelined),
        cmocka_unit_test(test_all_rcpt_refused),
        cmocka_unit_test(test_all_rcpt_refused_pipelined),
        cmocka_unit_test(test_data_354_all_refused_sends_dot),
        cmocka_unit_test(test_final_reply_4xx),
        cmocka_unit_test(test_data_command_refused),
        cmocka_unit_test(test_two_transactions),
        cmocka_unit_test(test_rset_refused_ends_session),
        cmocka_unit_test(test_dot_stuffing),
        cmocka_unit_test(test_output_partial_writes),
        cmocka_unit_test(test_big_message),
        cmocka_unit_test(test_ehlo_keywords),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_smtputf8_and_8bitmime),
        cmocka_unit_test(test_begin_refuses_bad_input),
        cmocka_unit_test(test_ehlo_refused_falls_back_to_helo),
        cmocka_unit_test(test_ehlo_and_helo_failures),
        cmocka_unit_test(test_greeting_refused),
        cmocka_unit_test(test_421_mid_transaction),
        cmocka_unit_test(test_connection_lost_mid_data),
        cmocka_unit_test(test_idle_replies),
        cmocka_unit_test(test_quit_and_eof),
        cmocka_unit_test(test_starttls_offered),
        cmocka_unit_test(test_starttls_not_offered),
        cmocka_unit_test(test_starttls_refused),
        cmocka_unit_test(test_starttls_injection_discarded),
        cmocka_unit_test(test_tls_failed),
        cmocka_unit_test(test_quit_during_handshake),
        cmocka_unit_test(test_multiline_replies),
        cmocka_unit_test(test_bare_lf_from_server),
        cmocka_unit_test(test_bad_reply_lines),
        cmocka_unit_test(test_bad_reply_mid_transaction),
        cmocka_unit_test(test_long_lines_cut),
        cmocka_unit_test(test_line_count_limit),
        cmocka_unit_test(test_input_bounded),
        cmocka_unit_test(test_enhanced_codes),
        cmocka_unit_test(test_bytewise_dialogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
