/*
 * smtpd_test.c - the sans-I/O SMTP server session.
 *
 * A script is a list of client writes ("segments"). run_script() plays it
 * against a session, answering every event with a fixed policy (below),
 * and records what the client would see (the reply bytes) and the events
 * raised. check_script() plays it twice, whole and one byte at a time,
 * and demands identical results before comparing them with what is
 * wanted. Replies are compared as a summary: the code of each final reply
 * line, with "/x.y.z" when it carries an enhanced status code.
 *
 * Policy: a sender or recipient starting with "reject" gets 550, one
 * starting with "tempfail" 451, anything else 250; a message 250; AUTH
 * succeeds for user "user" with password "secret", and user "busy" gets
 * hd_smtpd_refuse_auth() (the shell's "too many checks"). After STARTTLS the
 * rest of the segment is fed (the session must drop it) and the TLS
 * handshake "completes" at the end of the segment.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/base64.h>
#include <herald/smtpd.h>

#include "smtpd/smtpd_int.h"

typedef struct run {
    hd_buf out;     /* every reply byte */
    hd_buf events;  /* "MAIL RCPT MESSAGE CLOSE" */
    hd_buf msgs;    /* "[data]" per EV_MESSAGE */
    hd_buf rcpts;   /* last message's recipients, "a,b" */
    hd_buf summary; /* see above */
    int n_messages;
    int feed_rc;
    bool closed, tls_pending;
    char from[300];         /* last MAIL event */
    uint64_t size;
    bool body_8bit, smtputf8;
    char msg_from[300];     /* last EV_MESSAGE */
    bool msg_8bit, msg_utf8;
    char authzid[64], authcid[64], password[64], mech[16];
    bool authed;
    char auth_user[64];
    char helo[300];
    bool esmtp;
} run;

static void run_init(run *r)
{
    memset(r, 0, sizeof *r);
    hd_buf_init(&r->out, 16u << 20);
    hd_buf_init(&r->events, 1u << 20);
    hd_buf_init(&r->msgs, 64u << 20);
    hd_buf_init(&r->rcpts, 1u << 20);
    hd_buf_init(&r->summary, 1u << 20);
}

static void run_free(run *r)
{
    hd_buf_free(&r->out);
    hd_buf_free(&r->events);
    hd_buf_free(&r->msgs);
    hd_buf_free(&r->rcpts);
    hd_buf_free(&r->summary);
}

static void event(run *r, const char *name)
{
    if (r->events.len > 0)
        hd_buf_append_byte(&r->events, ' ');
    hd_buf_append_cstr(&r->events, name);
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src != NULL ? src : "(null)");
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static hd_smtpd_reply policy_path(const char *path)
{
    if (starts(path, "reject"))
        return (hd_smtpd_reply){550, "5.1.1", "rejected by policy"};
    if (starts(path, "tempfail"))
        return (hd_smtpd_reply){451, NULL, "try later"};
    return (hd_smtpd_reply){250, NULL, "OK"};
}

static void answer(hd_smtpd *s, hd_smtpd_event ev, run *r)
{
    switch (ev) {
    case HD_SMTPD_EV_AUTH: {
        const hd_smtpd_auth_info *a = hd_smtpd_auth(s);
        assert_non_null(a);
        event(r, "AUTH");
        copy(r->mech, sizeof r->mech, a->mechanism);
        copy(r->authzid, sizeof r->authzid, a->authzid);
        copy(r->authcid, sizeof r->authcid, a->authcid);
        copy(r->password, sizeof r->password, a->password);
        if (strcmp(a->authcid, "busy") == 0) /* the shell cannot check now */
            hd_smtpd_refuse_auth(s, NULL);
        else
            hd_smtpd_answer_auth(s, strcmp(a->authcid, "user") == 0 &&
                                        strcmp(a->password, "secret") == 0);
        break;
    }
    case HD_SMTPD_EV_MAIL: {
        const hd_smtpd_mail_info *m = hd_smtpd_mail(s);
        assert_non_null(m);
        event(r, "MAIL");
        copy(r->from, sizeof r->from, m->reverse_path);
        r->size = m->size;
        r->body_8bit = m->body_8bit;
        r->smtputf8 = m->smtputf8;
        hd_smtpd_reply rep = policy_path(m->reverse_path);
        hd_smtpd_answer_mail(s, &rep);
        break;
    }
    case HD_SMTPD_EV_RCPT: {
        const char *rcpt = hd_smtpd_rcpt(s);
        assert_non_null(rcpt);
        event(r, "RCPT");
        hd_smtpd_reply rep = policy_path(rcpt);
        hd_smtpd_answer_rcpt(s, &rep);
        break;
    }
    case HD_SMTPD_EV_MESSAGE: {
        const hd_smtpd_message_info *m = hd_smtpd_message(s);
        assert_non_null(m);
        event(r, "MESSAGE");
        r->n_messages++;
        hd_buf_append_byte(&r->msgs, '[');
        hd_buf_append_slice(&r->msgs, m->data);
        hd_buf_append_byte(&r->msgs, ']');
        copy(r->msg_from, sizeof r->msg_from, m->reverse_path);
        r->msg_8bit = m->body_8bit;
        r->msg_utf8 = m->smtputf8;
        hd_buf_reset(&r->rcpts);
        for (size_t i = 0; i < m->n_rcpts; i++) {
            if (i > 0)
                hd_buf_append_byte(&r->rcpts, ',');
            hd_buf_append_cstr(&r->rcpts, m->rcpts[i]);
        }
        hd_smtpd_reply rep = {250, "2.0.0", "queued as T1"};
        hd_smtpd_answer_message(s, &rep);
        break;
    }
    default:
        fail_msg("answer: unexpected event %d", (int)ev);
    }
}

static void collect(hd_smtpd *s, run *r)
{
    hd_slice o = hd_smtpd_output(s);
    hd_buf_append_slice(&r->out, o);
    hd_smtpd_output_done(s, o.len);
}

/* Step until the session needs input (or is waiting for the TLS
 * handshake, or closed), answering events. */
static void pump(hd_smtpd *s, run *r)
{
    for (int guard = 0; guard < 1000000; guard++) {
        hd_smtpd_event ev = hd_smtpd_step(s);
        collect(s, r);
        switch (ev) {
        case HD_SMTPD_EV_NEED_INPUT:
        case HD_SMTPD_EV_WAIT:
            return;
        case HD_SMTPD_EV_STARTTLS:
            event(r, "STARTTLS");
            r->tls_pending = true;
            return;
        case HD_SMTPD_EV_CLOSE:
            if (!r->closed)
                event(r, "CLOSE");
            r->closed = true;
            return;
        default:
            answer(s, ev, r);
            collect(s, r);
        }
    }
    fail_msg("pump: the session never asked for input");
}

static void summarize(run *r)
{
    hd_slice o = hd_buf_slice(&r->out);
    size_t i = 0;
    while (i < o.len) {
        const uint8_t *eol = memchr(o.p + i, '\n', o.len - i);
        if (eol == NULL)
            fail_msg("output does not end in a line end");
        size_t n = (size_t)(eol - (o.p + i)) + 1;
        const char *l = (const char *)o.p + i;
        i += n;
        if (n < 5 || l[n - 2] != '\r')
            fail_msg("bad reply line");
        if (l[3] == '-')
            continue;
        if (r->summary.len > 0)
            hd_buf_append_byte(&r->summary, ' ');
        hd_buf_append(&r->summary, l, 3);
        /* an enhanced status code: d.d{1,3}.d{1,3} then SP */
        size_t k = 4, dots = 0;
        while (k < n - 2 && ((l[k] >= '0' && l[k] <= '9') || l[k] == '.')) {
            dots += l[k] == '.';
            k++;
        }
        if (dots == 2 && k > 4 && l[k] == ' ') {
            hd_buf_append_byte(&r->summary, '/');
            hd_buf_append(&r->summary, l + 4, k - 4);
        }
    }
}

typedef struct setup {
    hd_smtpd_opts o;
    bool refuse_greeting;
} setup;

static void setup_init(setup *su)
{
    memset(su, 0, sizeof *su);
    hd_smtpd_opts_init(&su->o);
    su->o.hostname = "mx.test";
}

/* Play segs (NULL-terminated) in pieces of chunk bytes. */
static void run_script(const setup *su, const char *const *segs, size_t chunk, run *r)
{
    hd_smtpd *s;
    hd_err err;
    run_init(r);
    assert_int_equal(hd_smtpd_new(&su->o, &s, &err), 0);
    hd_smtpd_greet(s, !su->refuse_greeting);
    pump(s, r);
    for (size_t i = 0; segs[i] != NULL && !r->closed && r->feed_rc == 0; i++) {
        size_t len = strlen(segs[i]);
        for (size_t off = 0; off < len && !r->closed; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            r->feed_rc = hd_smtpd_feed(s, segs[i] + off, n, &err);
            if (r->feed_rc != 0) {
                event(r, "ELIMIT");
                break;
            }
            pump(s, r);
        }
        if (r->tls_pending) {
            hd_smtpd_tls_started(s);
            r->tls_pending = false;
            pump(s, r);
        }
    }
    r->authed = hd_smtpd_is_authenticated(s);
    copy(r->auth_user, sizeof r->auth_user, hd_smtpd_auth_user(s));
    copy(r->helo, sizeof r->helo, hd_smtpd_helo(s));
    r->esmtp = hd_smtpd_esmtp(s);
    assert_true(smtpd_mem_held(s) > 0);
    hd_smtpd_free(s);
    summarize(r);
}

static void assert_buf_eq(const hd_buf *a, const hd_buf *b, const char *what)
{
    if (!hd_slice_eq(hd_buf_slice(a), hd_buf_slice(b)))
        fail_msg("%s differ between whole and byte-wise feeding:\n%s\n----\n%s", what,
                 hd_buf_cstr(a), hd_buf_cstr(b));
}

/* Play the script whole and byte by byte; both must agree and match the
 * wanted reply summary and events. The whole run is left in r. */
static void check_script(const setup *su, const char *const *segs, const char *want_replies,
                         const char *want_events, run *r)
{
    run bytewise;
    run_script(su, segs, (size_t)-1, r);
    run_script(su, segs, 1, &bytewise);
    assert_buf_eq(&r->out, &bytewise.out, "replies");
    assert_buf_eq(&r->events, &bytewise.events, "events");
    assert_buf_eq(&r->msgs, &bytewise.msgs, "messages");
    run_free(&bytewise);
    if (strcmp(hd_buf_cstr(&r->summary), want_replies) != 0)
        fail_msg("replies:\n got  %s\n want %s\n%s", hd_buf_cstr(&r->summary), want_replies,
                 hd_buf_cstr(&r->out));
    if (strcmp(hd_buf_cstr(&r->events), want_events) != 0)
        fail_msg("events:\n got  %s\n want %s\n%s", hd_buf_cstr(&r->events), want_events,
                 hd_buf_cstr(&r->out));
}

/* check_script without looking at the run afterwards. */
static void expect(const setup *su, const char *const *segs, const char *want_replies,
                   const char *want_events)
{
    run r;
    check_script(su, segs, want_replies, want_events, &r);
    run_free(&r);
}

static void assert_out_has(const run *r, const char *needle)
{
    if (strstr(hd_buf_cstr(&r->out), needle) == NULL)
        fail_msg("output lacks \"%s\":\n%s", needle, hd_buf_cstr(&r->out));
}

static const char *b64(const char *in, size_t len)
{
    static char text[4][512];
    static int which;
    hd_buf b;
    hd_buf_init(&b, 500);
    assert_int_equal(hd_b64_encode(hd_slice_make(in, len), &b), 0);
    char *t = text[which++ % 4];
    snprintf(t, 512, "%s", hd_buf_cstr(&b));
    hd_buf_free(&b);
    return t;
}

/* A string of n copies of c (static, one of a few slots). */
static const char *rep(char c, size_t n)
{
    static char slot[4][4096];
    static int which;
    char *t = slot[which++ % 4];
    assert_true(n < 4096);
    memset(t, c, n);
    t[n] = '\0';
    return t;
}

/* A domain of exactly n octets: labels of up to 50 'a' joined by dots. */
static const char *domain_of(size_t n)
{
    static char d[1024];
    size_t o = 0;
    while (o < n) {
        size_t label = n - o <= 50 ? n - o : 50;
        if (n - o > 50 && n - o - 50 < 2)
            label = 48; /* leave room for ".a" */
        memset(d + o, 'a', label);
        o += label;
        if (o < n)
            d[o++] = '.';
    }
    d[o] = '\0';
    return d;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    static char slot[8][8192];
    static int which;
    char *t = slot[which++ % 8];
    va_list ap;
    va_start(ap, f);
    vsnprintf(t, 8192, f, ap);
    va_end(ap);
    return t;
}

#define EHLO "EHLO client.test\r\n"
#define ENVELOPE "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.net>\r\n"
#define EHLO_ENV_REPLIES "220 250 250/2.1.0 250/2.1.5"

/* Sessions ---------------------------------------------------------------- */

static void test_greeting_and_quit(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {"QUIT\r\n", NULL};
    check_script(&su, segs, "220 221/2.0.0", "CLOSE", &r);
    assert_true(starts(hd_buf_cstr(&r.out), "220 mx.test ESMTP herald\r\n221 2.0.0 "));
    run_free(&r);
}

static void test_full_transaction(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO,
                          "MAIL FROM:<alice@example.com>\r\n",
                          "RCPT TO:<bob@example.net>\r\n",
                          "RCPT TO:<carol@example.org>\r\n",
                          "DATA\r\n",
                          "Subject: hi\r\n\r\n..leading dot\r\n...\r\nplain\r\n.x\r\n",
                          ".\r\n",
                          "QUIT\r\n",
                          NULL};
    check_script(&su, segs, "220 250 250/2.1.0 250/2.1.5 250/2.1.5 354 250/2.0.0 221/2.0.0",
                 "MAIL RCPT RCPT MESSAGE CLOSE", &r);
    assert_string_equal(hd_buf_cstr(&r.msgs),
                        "[Subject: hi\r\n\r\n.leading dot\r\n..\r\nplain\r\nx\r\n]");
    assert_string_equal(r.msg_from, "alice@example.com");
    assert_string_equal(hd_buf_cstr(&r.rcpts), "bob@example.net,carol@example.org");
    assert_string_equal(r.helo, "client.test");
    assert_true(r.esmtp);
    assert_out_has(&r, "354 End data with <CR><LF>.<CR><LF>\r\n");
    assert_out_has(&r, "250 2.0.0 queued as T1\r\n");
    run_free(&r);
}

static void test_ehlo_reply(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_message_size = 1000000;
    run r;
    const char *segs[] = {EHLO, NULL};
    check_script(&su, segs, "220 250", "", &r);
    assert_string_equal(hd_buf_cstr(&r.out), "220 mx.test ESMTP herald\r\n"
                                             "250-mx.test\r\n"
                                             "250-SIZE 1000000\r\n"
                                             "250-PIPELINING\r\n"
                                             "250-8BITMIME\r\n"
                                             "250-ENHANCEDSTATUSCODES\r\n"
                                             "250 SMTPUTF8\r\n");
    run_free(&r);
}

static void test_ehlo_offers_starttls_then_auth(void **state)
{
    setup su;
    setup_init(&su);
    su.o.tls_available = true;
    run r;
    const char *segs[] = {EHLO, "STARTTLS\r\n", EHLO, NULL};
    check_script(&su, segs, "220 250 220/2.0.0 250", "STARTTLS", &r);
    const char *out = hd_buf_cstr(&r.out);
    const char *mid = strstr(out, "220 2.0.0 Ready to start TLS\r\n");
    assert_non_null(mid);
    /* before TLS: STARTTLS, no AUTH; after: AUTH, no STARTTLS */
    char before[1024];
    snprintf(before, sizeof before, "%.*s", (int)(mid - out), out);
    assert_non_null(strstr(before, "250-SMTPUTF8\r\n250 STARTTLS\r\n"));
    assert_null(strstr(before, "AUTH"));
    assert_null(strstr(mid, "STARTTLS\r\n"));
    assert_non_null(strstr(mid, "250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN\r\n"));
    run_free(&r);
}

/* An MX for inbound mail (the bounce intake): STARTTLS but never AUTH,
 * before or after TLS, and AUTH is refused as not implemented. */
static void test_auth_disabled(void **state)
{
    setup su;
    setup_init(&su);
    su.o.tls_available = true;
    su.o.auth_without_tls = true;
    su.o.auth_disabled = true;
    run r;
    const char *segs[] = {EHLO, "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n", "STARTTLS\r\n", EHLO,
                          "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n", ENVELOPE, NULL};
    check_script(&su, segs, "220 250 502/5.5.1 220/2.0.0 250 502/5.5.1 250/2.1.0 250/2.1.5",
                 "STARTTLS MAIL RCPT", &r);
    assert_null(strstr(hd_buf_cstr(&r.out), "AUTH PLAIN LOGIN"));
    assert_false(r.authed);
    run_free(&r);

    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.auth_disabled = true;
    o.auth_required = true;
    hd_smtpd *s = NULL;
    hd_err err = {0};
    assert_int_equal(hd_smtpd_new(&o, &s, &err), HD_EINVAL);
    assert_null(s);
}

static void test_helo(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {"HELO old.client\r\n", ENVELOPE, "HELO\r\n", NULL};
    check_script(&su, segs, "220 250 250/2.1.0 250/2.1.5 501/5.5.4", "MAIL RCPT", &r);
    assert_true(starts(hd_buf_cstr(&r.out) + strlen("220 mx.test ESMTP herald\r\n"),
                       "250 mx.test\r\n"));
    assert_false(r.esmtp);
    assert_string_equal(r.helo, "old.client");
    run_free(&r);
}

static void test_pipelined_transaction(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO, ENVELOPE "RCPT TO:<reject-me@example.net>\r\nDATA\r\n",
                          "line one\r\n.\r\nQUIT\r\n", NULL};
    check_script(&su, segs, EHLO_ENV_REPLIES " 550/5.1.1 354 250/2.0.0 221/2.0.0",
                 "MAIL RCPT RCPT MESSAGE CLOSE", &r);
    assert_string_equal(hd_buf_cstr(&r.msgs), "[line one\r\n]");
    assert_string_equal(hd_buf_cstr(&r.rcpts), "bob@example.net");
    run_free(&r);
}

static void test_pipelined_everything_in_one_write(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO ENVELOPE "DATA\r\nfirst\r\n.\r\n"
                          "MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\nsecond\r\n.\r\n"
                          "QUIT\r\nNOOP\r\n",
                          NULL};
    check_script(&su, segs,
                 EHLO_ENV_REPLIES " 354 250/2.0.0 250/2.1.0 250/2.1.5 354 250/2.0.0 221/2.0.0",
                 "MAIL RCPT MESSAGE MAIL RCPT MESSAGE CLOSE", &r);
    assert_string_equal(hd_buf_cstr(&r.msgs), "[first\r\n][second\r\n]");
    assert_string_equal(r.msg_from, "");
    assert_string_equal(hd_buf_cstr(&r.rcpts), "postmaster");
    run_free(&r);
}

static void test_empty_message(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO ENVELOPE "DATA\r\n", ".\r\n", NULL};
    check_script(&su, segs, EHLO_ENV_REPLIES " 354 250/2.0.0", "MAIL RCPT MESSAGE", &r);
    assert_string_equal(hd_buf_cstr(&r.msgs), "[]");
    run_free(&r);
}

static void test_new_transaction_after_message(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO ENVELOPE "DATA\r\n", "a\r\n.\r\n", "RCPT TO:<x@y.example>\r\n",
                          "MAIL FROM:<z@y.example>\r\n", NULL};
    /* the envelope is gone after the message: RCPT needs a new MAIL */
    check_script(&su, segs, EHLO_ENV_REPLIES " 354 250/2.0.0 503/5.5.1 250/2.1.0",
                 "MAIL RCPT MESSAGE MAIL", &r);
    run_free(&r);
}

/* SMTP smuggling ---------------------------------------------------------- */

struct smuggle_case {
    const char *name, *seq;
    const char *why; /* refusal text, NULL: accepted */
    bool ends;       /* seq holds a real <CRLF>.<CRLF> */
};

static const struct smuggle_case smuggle_cases[] = {
    /* "hello" is line 3 of the text */
    {"LF.LF", "\n.\n", "bare LF in line 3", false},
    {"CR.CR", "\r.\r", "bare CR in line 3", false},
    {"LF.CRLF", "\n.\r\n", "bare LF in line 3", false},
    {"CRLF.LF", "\r\n.\n", "bare LF in line 4", false},
    {"CRLF.CR", "\r\n.\r", "bare CR in line 4", false},
    {"CR.CRLF", "\r.\r\n", "bare CR in line 3", false},
    {"LF.CR", "\n.\r", "bare LF in line 3", false},
    {"CR.LF", "\r.\n", "bare CR in line 3", false},
    {"CRLF.CRCRLF", "\r\n.\r\r\n", "bare CR in line 4", false},
    {"CRLF.SPCRLF", "\r\n. \r\n", NULL, false},
    /* a real end after a bare CR / LF: refused, and what follows is
     * (rightly) a new transaction */
    {"CRCRLF.CRLF", "\r\r\n.\r\n", "bare CR in line 3", true},
    {"LFCRLF.CRLF", "\n\r\n.\r\n", "bare LF in line 3", true},
    {"CRLF.CRLF", "\r\n.\r\n", NULL, true},
};

/* "hello" + seq + a smuggled transaction + the real end. A bare LF or CR
 * anywhere refuses the message; only a real <CRLF>.<CRLF> ends it. */
static void test_smuggling(void **state)
{
    setup su;
    setup_init(&su);
    for (size_t i = 0; i < sizeof smuggle_cases / sizeof smuggle_cases[0]; i++) {
        const struct smuggle_case *c = &smuggle_cases[i];
        char body[512];
        snprintf(body, sizeof body,
                 "Subject: x\r\n\r\nhello%sMAIL FROM:<evil@example.com>\r\n"
                 "RCPT TO:<victim@example.net>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n",
                 c->seq);
        const char *segs[] = {EHLO ENVELOPE "DATA\r\n", body, "NOOP\r\n", NULL};
        const char *first = c->why != NULL ? "550/5.6.0" : "250/2.0.0";
        const char *replies =
            c->ends ? fmt(EHLO_ENV_REPLIES " 354 %s 250/2.1.0 250/2.1.5 354 250/2.0.0 221/2.0.0",
                          first)
                    : fmt(EHLO_ENV_REPLIES " 354 %s 221/2.0.0", first);
        const char *events =
            c->ends ? (c->why != NULL ? "MAIL RCPT MAIL RCPT MESSAGE CLOSE"
                                      : "MAIL RCPT MESSAGE MAIL RCPT MESSAGE CLOSE")
                    : (c->why != NULL ? "MAIL RCPT CLOSE" : "MAIL RCPT MESSAGE CLOSE");
        run r;
        check_script(&su, segs, replies, events, &r);
        if (c->why != NULL)
            assert_out_has(&r, fmt("550 5.6.0 message refused: %s\r\n", c->why));
        if (!c->ends && c->why == NULL) /* the smuggled lines stayed text */
            assert_non_null(strstr(hd_buf_cstr(&r.msgs), "\r\nMAIL FROM:<evil@example.com>\r\n"));
        run_free(&r);
    }
}

static void test_smuggling_never_two_messages(void **state)
{
    /* whatever line ends, one DATA gives at most one message */
    setup su;
    setup_init(&su);
    const char *bits[] = {"\r", "\n", ".", "x"};
    for (unsigned m = 0; m < 256; m++) {
        char body[64] = "a";
        for (int k = 0; k < 4; k++)
            strncat(body, bits[(m >> (2 * k)) & 3], sizeof body - strlen(body) - 1);
        strncat(body, "b\r\n.\r\n", sizeof body - strlen(body) - 1);
        const char *segs[] = {EHLO ENVELOPE "DATA\r\n", body, NULL};
        run r, one;
        run_script(&su, segs, (size_t)-1, &r);
        run_script(&su, segs, 1, &one);
        assert_buf_eq(&r.out, &one.out, "replies");
        if (r.n_messages > 1)
            fail_msg("pattern %u gave %d messages", m, r.n_messages);
        bool bare = false;
        for (size_t i = 0; body[i] != '\0'; i++)
            if ((body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) ||
                (body[i] == '\r' && body[i + 1] != '\n'))
                bare = true;
        bool refused = strstr(hd_buf_cstr(&r.out), "550 5.6.0") != NULL;
        /* four pieces cannot hold a whole <CRLF>.<CRLF> after "a" */
        if (bare ? (r.n_messages != 0 || !refused) : r.n_messages != 1)
            fail_msg("pattern %u (%s): %d messages, refused %d", m,
                     bare ? "bare" : "clean", r.n_messages, refused);
        run_free(&r);
        run_free(&one);
    }
}

static void test_data_line_numbers(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO ENVELOPE "DATA\r\n", "one\r\ntwo\r\nthree\rfour\r\n.\r\n",
                          NULL};
    check_script(&su, segs, EHLO_ENV_REPLIES " 354 550/5.6.0", "MAIL RCPT", &r);
    assert_out_has(&r, "message refused: bare CR in line 3\r\n");
    run_free(&r);
}

/* A NUL byte anywhere in the text (inside a line, at its start, after a
 * stuffed dot) refuses the message like a bare CR or LF: 550 5.6.0 at the
 * real end, no MESSAGE event; the session goes on. Fed whole and byte by
 * byte (segs are C strings, so this one feeds lengths itself). */
static void test_data_nul_refused(void **state)
{
    static const struct {
        const char *name;
        const char *text;
        size_t len;
        const char *why;
    } cases[] = {
        {"inside", "one\r\ntw\0o\r\n.\r\n", 14, "NUL byte in line 2"},
        {"line start", "\0\r\n.\r\n", 6, "NUL byte in line 1"},
        {"after dot", "..\0\r\n.\r\n", 8, "NUL byte in line 1"},
        {"after CR", "a\r\0\r\n.\r\n", 9, "bare CR in line 1"},
        {"clean", "a\r\n.\r\n", 6, NULL},
    };
    const char *head = EHLO ENVELOPE "DATA\r\n";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t chunk = 1; chunk <= cases[i].len; chunk += cases[i].len - 1) {
            setup su;
            setup_init(&su);
            hd_smtpd *s;
            hd_err err;
            run r;
            run_init(&r);
            assert_int_equal(hd_smtpd_new(&su.o, &s, &err), 0);
            hd_smtpd_greet(s, true);
            pump(s, &r);
            assert_int_equal(hd_smtpd_feed(s, head, strlen(head), &err), 0);
            pump(s, &r);
            for (size_t off = 0; off < cases[i].len; off += chunk) {
                size_t n = cases[i].len - off < chunk ? cases[i].len - off : chunk;
                assert_int_equal(hd_smtpd_feed(s, cases[i].text + off, n, &err), 0);
                pump(s, &r);
            }
            hd_smtpd_free(s);
            if (cases[i].why) {
                assert_out_has(&r, fmt("550 5.6.0 message refused: %s\r\n", cases[i].why));
                assert_int_equal(r.n_messages, 0);
            } else {
                assert_int_equal(r.n_messages, 1);
            }
            run_free(&r);
        }
    }
}

static void test_refused_data_resets_transaction(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {EHLO ENVELOPE "DATA\r\n", "x\ny\r\n.\r\n", "DATA\r\n", NULL};
    expect(&su, segs, EHLO_ENV_REPLIES " 354 550/5.6.0 503/5.5.1", "MAIL RCPT");
}

/* Command line hygiene ------------------------------------------------------ */

static void test_bare_lf_command(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {"NOOP\n", "RSET\rQUIT\r\n", "NOOP\r\n", NULL};
    check_script(&su, segs, "220 500/5.5.2 500/5.5.2 250/2.0.0", "", &r);
    assert_out_has(&r, "500 5.5.2 bare LF/CR in command");
    run_free(&r);
}

static void test_long_command_line(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_line = 512;
    run r;
    /* the tail of the long line looks like a command and must not run */
    const char *segs[] = {EHLO, fmt("NOOP %s\r\nQUIT\r\nNOOP\r\n", rep('x', 600)),
                          fmt("NOOP %s", rep('y', 700)), "\nstill skipped\r\nNOOP\r\n", NULL};
    check_script(&su, segs, "220 250 500/5.5.2 221/2.0.0", "CLOSE", &r);
    run_free(&r);
    const char *segs2[] = {EHLO, fmt("NOOP %sRCPT TO:<x@y.example>\r\n", rep('x', 600)),
                           fmt("NOOP %s", rep('y', 700)), "\nRSET\r\nNOOP\r\n", NULL};
    check_script(&su, segs2, "220 250 500/5.5.2 500/5.5.2 250/2.0.0", "", &r);
    assert_out_has(&r, "500 5.5.2 line too long (limit 512 bytes)\r\n");
    run_free(&r);
}

static void test_command_line_limit_exact(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_line = 512;
    /* "NOOP " + 505 + CRLF = 512 bytes: fits; one more does not */
    const char *segs[] = {fmt("NOOP %s\r\n", rep('x', 505)), fmt("NOOP %s\r\n", rep('x', 506)),
                          "NOOP\r\n", NULL};
    expect(&su, segs, "220 250/2.0.0 500/5.5.2 250/2.0.0", "");
}

static void test_long_data_line(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_data_line = 1000;
    run r;
    const char *ok[] = {EHLO ENVELOPE "DATA\r\n", fmt("%s\r\n.\r\n", rep('a', 998)), NULL};
    check_script(&su, ok, EHLO_ENV_REPLIES " 354 250/2.0.0", "MAIL RCPT MESSAGE", &r);
    assert_int_equal(r.msgs.len, 998 + 2 + 2);
    run_free(&r);
    const char *bad[] = {EHLO ENVELOPE "DATA\r\n", fmt("x\r\n%s\r\n.\r\nNOOP\r\n", rep('a', 999)),
                         NULL};
    check_script(&su, bad, EHLO_ENV_REPLIES " 354 550/5.6.0 250/2.0.0", "MAIL RCPT", &r);
    assert_out_has(&r, "message refused: line 2 longer than 1000 bytes");
    run_free(&r);
}

static void test_default_data_line_allows_long_lines(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO ENVELOPE "DATA\r\n", fmt("%s\r\n.\r\n", rep('h', 3000)), NULL};
    check_script(&su, segs, EHLO_ENV_REPLIES " 354 250/2.0.0", "MAIL RCPT MESSAGE", &r);
    run_free(&r);
}

static void test_oversize_message(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_message_size = 100;
    run r;
    /* exactly 100 bytes after unstuffing: accepted */
    const char *fits[] = {EHLO ENVELOPE "DATA\r\n", fmt(".%s\r\n.\r\n", rep('a', 98)), NULL};
    check_script(&su, fits, EHLO_ENV_REPLIES " 354 250/2.0.0", "MAIL RCPT MESSAGE", &r);
    assert_int_equal(r.msgs.len, 102);
    run_free(&r);
    const char *big[] = {EHLO ENVELOPE "DATA\r\n", fmt("%s\r\n", rep('a', 99)),
                         fmt("%s\r\n.\r\nQUIT\r\n", rep('b', 200)), NULL};
    check_script(&su, big, EHLO_ENV_REPLIES " 354 552/5.3.4 221/2.0.0", "MAIL RCPT CLOSE", &r);
    run_free(&r);
}

static void test_oversize_memory_bounded(void **state)
{
    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.max_message_size = 10000;
    o.max_pipeline = 4096;
    o.max_line = 1000;
    hd_smtpd *s;
    assert_int_equal(hd_smtpd_new(&o, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    const char *head = EHLO "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n";
    assert_int_equal(hd_smtpd_feed(s, head, strlen(head), NULL), 0);
    hd_smtpd_event ev;
    while ((ev = hd_smtpd_step(s)) != HD_SMTPD_EV_NEED_INPUT) {
        hd_smtpd_reply ok = {250, NULL, NULL};
        if (ev == HD_SMTPD_EV_MAIL)
            hd_smtpd_answer_mail(s, &ok);
        else if (ev == HD_SMTPD_EV_RCPT)
            hd_smtpd_answer_rcpt(s, &ok);
        else
            fail_msg("event %d", (int)ev);
    }
    char chunk[4000];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 40; i++) {
        chunk[sizeof chunk - 2] = '\r';
        chunk[sizeof chunk - 1] = '\n';
        assert_int_equal(hd_smtpd_feed(s, chunk, sizeof chunk, NULL), 0);
        assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_NEED_INPUT);
        hd_smtpd_output_done(s, hd_smtpd_output(s).len);
        /* input + message + small fixed buffers */
        assert_true(smtpd_mem_held(s) <= 2 * 4096 + 2 * 10000 + 64 * 1024 * 5);
    }
    assert_int_equal(hd_smtpd_feed(s, ".\r\n", 3, NULL), 0);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_NEED_INPUT);
    hd_slice out = hd_smtpd_output(s);
    assert_true(hd_slice_find(out, hd_slice_cstr("552 5.3.4")) != (size_t)-1);
    hd_smtpd_free(s);
}

/* MAIL and RCPT ----------------------------------------------------------- */

static void test_size_parameter(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_message_size = 5000;
    run r;
    const char *segs[] = {EHLO,
                          "MAIL FROM:<a@b.example> SIZE=5001\r\n",
                          "MAIL FROM:<a@b.example> SIZE=99999999999999999999\r\n", /* > 2^64 */
                          "MAIL FROM:<a@b.example> SIZE=123456789012345678901\r\n", /* 21 digits */
                          "MAIL FROM:<a@b.example> SIZE=12x\r\n",
                          "MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n",
                          "MAIL FROM:<a@b.example> SIZE\r\n",
                          "MAIL FROM:<a@b.example> size=5000\r\n",
                          NULL};
    check_script(&su, segs, "220 250 552/5.3.4 552/5.3.4 501/5.5.4 501/5.5.4 501/5.5.4 501/5.5.4 "
                            "250/2.1.0",
                 "MAIL", &r);
    assert_int_equal(r.size, 5000);
    assert_out_has(&r, "552 5.3.4 message size exceeds fixed maximum message size of 5000 bytes");
    run_free(&r);
}

static void test_body_and_unknown_parameters(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO,
                          "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
                          "MAIL FROM:<a@b.example> RET=HDRS\r\n",
                          "MAIL FROM:<a@b.example> SIZE=10  BODY=8bitmime AUTH=<>\r\n",
                          "RCPT TO:<c@d.example> NOTIFY=NEVER\r\n",
                          "RCPT TO:<c@d.example>x\r\n",
                          "RCPT TO:<c@d.example>  \r\n",
                          "DATA\r\n",
                          "caf\xc3\xa9\r\n.\r\n",
                          NULL};
    check_script(&su, segs, "220 250 501/5.5.4 555/5.5.4 250/2.1.0 555/5.5.4 501/5.5.4 250/2.1.5 "
                            "354 250/2.0.0",
                 "MAIL RCPT MESSAGE", &r);
    assert_true(r.body_8bit);
    assert_true(r.msg_8bit);
    assert_int_equal(r.size, 10);
    assert_out_has(&r, "555 5.5.4 unsupported parameter RET\r\n");
    run_free(&r);
}

static void test_null_sender_and_postmaster(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO,
                          "MAIL FROM:<postmaster>\r\n",
                          "MAIL FROM:<>\r\n",
                          "RCPT TO:<>\r\n",
                          "RCPT TO:<user>\r\n",
                          "RCPT TO:<PostMaster>\r\n",
                          "RCPT TO:<postmaster@example.com>\r\n",
                          NULL};
    check_script(&su, segs, "220 250 501/5.1.7 250/2.1.0 501/5.1.3 501/5.1.3 250/2.1.5 250/2.1.5",
                 "MAIL RCPT RCPT", &r);
    assert_string_equal(r.from, "");
    run_free(&r);
}

/* RFC 5321 §4.5.1 lets <postmaster> go without a domain, meaning the
 * local postmaster: an MX takes it, submission has none (550 5.1.3). */
static void test_bare_postmaster_on_submission(void **state)
{
    setup su;
    setup_init(&su);
    su.o.postmaster_needs_domain = true;
    run r;
    const char *segs[] = {EHLO, "MAIL FROM:<>\r\n", "RCPT TO:<postmaster>\r\n",
                          "RCPT TO:<PostMaster>\r\n", "RCPT TO:<postmaster@example.com>\r\n",
                          NULL};
    check_script(&su, segs, "220 250 250/2.1.0 550/5.1.3 550/5.1.3 250/2.1.5", "MAIL RCPT", &r);
    assert_out_has(&r, "550 5.1.3 <postmaster> needs a domain here");
    assert_string_equal(hd_buf_cstr(&r.rcpts), "");
    run_free(&r);
}

static void test_source_route_quoted_and_literals(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO,
                          "MAIL FROM:<@relay.example,@hop.example:\"john q\\\"doe\"@example.com>\r\n",
                          "RCPT TO:<@a.example:user@[192.0.2.1]>\r\n",
                          "RCPT TO:<user@[IPv6:2001:db8::1]>\r\n",
                          "RCPT TO:<user@[300.1.1.1]>\r\n",
                          "RCPT TO:<user@[IPv6:zz::1]>\r\n",
                          "RCPT TO:<user@[x-tag:content]>\r\n",
                          "DATA\r\n",
                          ".\r\n",
                          NULL};
    check_script(&su, segs, "220 250 250/2.1.0 250/2.1.5 250/2.1.5 501/5.1.3 501/5.1.3 250/2.1.5 "
                            "354 250/2.0.0",
                 "MAIL RCPT RCPT RCPT MESSAGE", &r);
    assert_string_equal(r.msg_from, "\"john q\\\"doe\"@example.com");
    assert_string_equal(hd_buf_cstr(&r.rcpts),
                        "user@[192.0.2.1],user@[IPv6:2001:db8::1],user@[x-tag:content]");
    run_free(&r);
}

struct addr_case {
    const char *path, *want;
};

static void test_bad_address_syntax(void **state)
{
    static const struct addr_case cases[] = {
        {"user@example.com", "501/5.1.3"},      /* no angle brackets */
        {"<user@>", "501/5.1.3"},
        {"<@example.com>", "501/5.1.3"},
        {"<user@-bad.example>", "501/5.1.3"},
        {"<user@bad-.example>", "501/5.1.3"},
        {"<a..b@example.com>", "501/5.1.3"},
        {"<.a@example.com>", "501/5.1.3"},
        {"<user@example.com", "501/5.1.3"},
        {"<user@example..com>", "501/5.1.3"},
        {"<user@example.com.>", "501/5.1.3"},
        {"<\"unterminated@example.com>", "501/5.1.3"},
        {"<us er@example.com>", "501/5.1.3"},
        {"<user@exa_mple.com>", "501/5.1.3"},
        {"<@a.example user@example.com>", "501/5.1.3"},
        {"<user@example.com>>", "501/5.5.4"},
        {"<user(comment)@example.com>", "501/5.1.3"},
        {"<user@[1.2.3]>", "501/5.1.3"},
        {"<user@[IPv6:1.2.3.4]>", "501/5.1.3"},
        {"<user@[]>", "501/5.1.3"},
        {"<user@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com>", "501/5.1.3"},
        {"<!#$%&'*+-/=?^_`{|}~@example.com>", "250/2.1.5"},
        {"<\"a b\\\\c\"@example.com>", "250/2.1.5"},
        {"<user@sub-1.example-2.com>", "250/2.1.5"},
    };
    setup su;
    setup_init(&su);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *segs[] = {EHLO "MAIL FROM:<a@b.example>\r\n",
                              fmt("RCPT TO:%s\r\n", cases[i].path), NULL};
        run r;
        run_script(&su, segs, (size_t)-1, &r);
        const char *sum = hd_buf_cstr(&r.summary);
        const char *last = strrchr(sum, ' ');
        if (last == NULL || strcmp(last + 1, cases[i].want) != 0)
            fail_msg("%s: got %s want %s", cases[i].path, sum, cases[i].want);
        run_free(&r);
    }
}

static void test_address_limits(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {
        EHLO "MAIL FROM:<a@b.example>\r\n",
        fmt("RCPT TO:<%s@example.com>\r\n", rep('l', 64)),
        fmt("RCPT TO:<%s@example.com>\r\n", rep('l', 65)),
        fmt("RCPT TO:<u@%s>\r\n", domain_of(255)),
        fmt("RCPT TO:<u@%s>\r\n", domain_of(256)),
        /* local 60 + @ + domain 193 + <> = 256 octets: the longest path */
        fmt("RCPT TO:<%s@%s>\r\n", rep('p', 60), domain_of(193)),
        fmt("RCPT TO:<%s@%s>\r\n", rep('p', 60), domain_of(194)),
        /* the source route counts towards the path */
        fmt("RCPT TO:<@r.example:%s@%s>\r\n", rep('p', 60), domain_of(183)),
        NULL};
    check_script(&su, segs, "220 250 250/2.1.0 250/2.1.5 553/5.1.3 553/5.1.3 553/5.1.3 250/2.1.5 "
                            "553/5.1.3 553/5.1.3",
                 "MAIL RCPT RCPT", &r);
    assert_out_has(&r, "553 5.1.3 local part longer than 64 octets");
    assert_out_has(&r, "553 5.1.3 domain longer than 255 octets");
    assert_out_has(&r, "553 5.1.3 path longer than 256 octets");
    run_free(&r);
    /* the sender gets the sender's code, X.1.7 (RFC 3463) */
    const char *mail[] = {EHLO, fmt("MAIL FROM:<%s@example.com>\r\n", rep('l', 65)), NULL};
    expect(&su, mail, "220 250 553/5.1.7", "");
}

static void test_smtputf8(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {EHLO,
                          "MAIL FROM:<j\xc3\xb6rg@example.com>\r\n",
                          "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8=yes\r\n",
                          "MAIL FROM:<j\xff@example.com> SMTPUTF8\r\n",
                          "MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example> SMTPUTF8\r\n",
                          "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>\r\n",
                          "RCPT TO:<\xc0\xaf@example.com>\r\n", /* overlong */
                          "DATA\r\n",
                          ".\r\n",
                          "MAIL FROM:<plain@example.com>\r\n",
                          "RCPT TO:<\xc3\xa9@example.com>\r\n",
                          NULL};
    check_script(&su, segs, "220 250 553/5.6.7 501/5.5.4 501/5.1.7 250/2.1.0 250/2.1.5 501/5.1.3 "
                            "354 250/2.0.0 250/2.1.0 553/5.6.7",
                 "MAIL RCPT MESSAGE MAIL", &r);
    assert_true(r.msg_utf8);
    assert_false(r.smtputf8); /* the last MAIL had none */
    assert_string_equal(r.msg_from, "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
    run_free(&r);
}

static void test_sequence_errors(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {"MAIL FROM:<a@b.example>\r\n",
                          "RCPT TO:<c@d.example>\r\n",
                          "DATA\r\n",
                          EHLO,
                          "RCPT TO:<c@d.example>\r\n",
                          "DATA\r\n",
                          "MAIL FROM:<a@b.example>\r\n",
                          "MAIL FROM:<a@b.example>\r\n",
                          "DATA\r\n",
                          "RCPT TO:<reject@d.example>\r\n",
                          "DATA\r\n",
                          NULL};
    expect(&su, segs,
           "220 503/5.5.1 503/5.5.1 503/5.5.1 250 503/5.5.1 503/5.5.1 250/2.1.0 503/5.5.1 "
           "554/5.5.1 550/5.1.1 554/5.5.1",
           "MAIL RCPT");
}

static void test_syntax_errors(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {EHLO,
                          "MAIL TO:<a@b.example>\r\n",
                          "MAIL FROM <a@b.example>\r\n",
                          "MAIL FROM: <a@b.example>\r\n", /* a space after ':' tolerated */
                          "RCPT <c@d.example>\r\n",
                          "RSET now\r\n",
                          "VRFY\r\n",
                          "EHLO\r\n",
                          "EHLO bad\x01name\r\n",
                          NULL};
    expect(&su, segs, "220 250 501/5.5.4 501/5.5.4 250/2.1.0 501/5.5.4 501/5.5.4 501/5.5.4 "
                      "501/5.5.4 501/5.5.4",
           "MAIL");
}

static void test_unknown_and_simple_commands(void **state)
{
    setup su;
    setup_init(&su);
    run r;
    const char *segs[] = {"XYZZY\r\n", "noop whatever\r\n", "VRFY bob\r\n", "HELP\r\n",
                          "\r\n", "EXPN list\r\n", "quit\r\n", NULL};
    check_script(&su, segs, "220 500/5.5.2 250/2.0.0 252/2.0.0 214/2.0.0 500/5.5.2 500/5.5.2 "
                            "221/2.0.0",
                 "CLOSE", &r);
    assert_out_has(&r, "500 5.5.2 unknown command\r\n");
    run_free(&r);
}

static void test_http_request_closes(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", NULL};
    expect(&su, segs, "220 421/4.7.0", "CLOSE");
}

static void test_rset(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {EHLO ENVELOPE, "RSET\r\n", "DATA\r\n", "RCPT TO:<c@d.example>\r\n",
                          "MAIL FROM:<e@f.example>\r\n", NULL};
    expect(&su, segs, EHLO_ENV_REPLIES " 250/2.0.0 503/5.5.1 503/5.5.1 250/2.1.0",
           "MAIL RCPT MAIL");
}

static void test_ehlo_resets_transaction(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {EHLO ENVELOPE, EHLO, "DATA\r\n", NULL};
    expect(&su, segs, EHLO_ENV_REPLIES " 250 503/5.5.1", "MAIL RCPT");
}

static void test_rejected_sender_not_kept(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {EHLO, "MAIL FROM:<reject@example.com>\r\n", "RCPT TO:<c@d.example>\r\n",
                          "MAIL FROM:<tempfail@example.com>\r\n", "RCPT TO:<c@d.example>\r\n",
                          NULL};
    expect(&su, segs, "220 250 550/5.1.1 503/5.5.1 451/4.0.0 503/5.5.1", "MAIL MAIL");
}

static void test_max_recipients(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_recipients = 2;
    run r;
    const char *segs[] = {EHLO "MAIL FROM:<a@b.example>\r\n"
                          "RCPT TO:<reject@x.example>\r\nRCPT TO:<r1@x.example>\r\n"
                          "RCPT TO:<r2@x.example>\r\nRCPT TO:<r3@x.example>\r\n"
                          "DATA\r\n.\r\n",
                          NULL};
    check_script(&su, segs, "220 250 250/2.1.0 550/5.1.1 250/2.1.5 250/2.1.5 452/4.5.3 354 250/2.0.0",
                 "MAIL RCPT RCPT RCPT MESSAGE", &r);
    assert_string_equal(hd_buf_cstr(&r.rcpts), "r1@x.example,r2@x.example");
    run_free(&r);
}

static void test_max_errors(void **state)
{
    setup su;
    setup_init(&su);
    su.o.max_errors = 3;
    run r;
    const char *segs[] = {"BOGUS\r\n", "DATA\r\n", "NOOP\r\n", "X\n", "NOOP\r\n", NULL};
    check_script(&su, segs, "220 500/5.5.2 503/5.5.1 250/2.0.0 500/5.5.2 421/4.7.0", "CLOSE", &r);
    assert_out_has(&r, "421 4.7.0 mx.test Error: too many errors");
    run_free(&r);
}

static void test_quit_ignores_rest(void **state)
{
    setup su;
    setup_init(&su);
    const char *segs[] = {"QUIT\r\nNOOP\r\n", "NOOP\r\n", NULL};
    expect(&su, segs, "220 221/2.0.0", "CLOSE");
}

static void test_refused_greeting(void **state)
{
    setup su;
    setup_init(&su);
    su.refuse_greeting = true;
    run r;
    const char *segs[] = {EHLO, "MAIL FROM:<a@b.example>\r\n", "NOOP\r\n", "QUIT\r\n", NULL};
    check_script(&su, segs, "554 503/5.5.1 503/5.5.1 503/5.5.1 221/2.0.0", "CLOSE", &r);
    assert_true(starts(hd_buf_cstr(&r.out), "554 mx.test "));
    run_free(&r);
}

static void test_shutdown(void **state)
{
    hd_smtpd *s;
    assert_int_equal(hd_smtpd_new(NULL, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    hd_smtpd_output_done(s, hd_smtpd_output(s).len);
    assert_int_equal(hd_smtpd_feed(s, "NOOP\r\n", 6, NULL), 0);
    hd_smtpd_shutdown(s, "going down\r\n250 fake");
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_CLOSE);
    hd_slice o = hd_smtpd_output(s);
    assert_true(hd_slice_eq_cstr(o, "421 4.3.2 localhost going down??250 fake\r\n"));
    hd_smtpd_free(s);
}

/* Answers ------------------------------------------------------------------ */

static void drain(hd_smtpd *s, hd_buf *out)
{
    hd_slice o = hd_smtpd_output(s);
    hd_buf_append_slice(out, o);
    hd_smtpd_output_done(s, o.len);
}

static void test_answers_wait_and_are_sanitised(void **state)
{
    hd_smtpd *s;
    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.max_line = 512;
    o.max_pipeline = 600;
    assert_int_equal(hd_smtpd_new(&o, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    hd_buf out;
    hd_buf_init(&out, 1u << 16);
    const char *in = EHLO "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nNOOP\r\n";
    assert_int_equal(hd_smtpd_feed(s, in, strlen(in), NULL), 0);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_MAIL);
    assert_null(hd_smtpd_rcpt(s));
    /* nothing moves until the answer */
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_WAIT);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_WAIT);
    /* while waiting, input piles up to max_pipeline + max_line, then
     * HD_ELIMIT */
    char noops[6 * 179];
    for (size_t i = 0; i < sizeof noops; i += 6)
        memcpy(noops + i, "NOOP\r\n", 6);
    hd_err err;
    /* 29 bytes wait already (RCPT, NOOP): 29 + 1074 + 6 = 1109 fit */
    assert_int_equal(hd_smtpd_feed(s, noops, sizeof noops, &err), 0);
    assert_int_equal(hd_smtpd_feed(s, "NOOP\r\n", 6, &err), 0);
    assert_int_equal(hd_smtpd_feed(s, "NOOP", 4, &err), HD_ELIMIT);
    assert_non_null(strstr(err.msg, "limit 1112"));
    hd_smtpd_answer_rcpt(s, NULL); /* wrong answer: ignored */
    hd_smtpd_reply bad = {354, "2.1.0", NULL};
    hd_smtpd_answer_mail(s, &bad); /* not a valid final code: 451 */
    drain(s, &out);
    assert_non_null(strstr(hd_buf_cstr(&out), "451 4.3.0 internal error"));
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_NEED_INPUT); /* RCPT → 503, NOOP */
    drain(s, &out);
    assert_non_null(strstr(hd_buf_cstr(&out), "503 5.5.1 need MAIL before RCPT\r\n250 2.0.0 OK\r\n"));

    const char *again = "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n";
    assert_int_equal(hd_smtpd_feed(s, again, strlen(again), NULL), 0);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_MAIL);
    hd_smtpd_reply wrong_class = {250, "5.1.0", "fine"};
    hd_smtpd_answer_mail(s, &wrong_class);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_RCPT);
    assert_string_equal(hd_smtpd_rcpt(s), "c@d.example");
    char longtext[1000];
    memset(longtext, 'L', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    memcpy(longtext, "ok\r\n550 injected\x7f\xc3", 18);
    hd_smtpd_reply r = {550, "5.7.1", longtext};
    hd_smtpd_answer_rcpt(s, &r);
    hd_buf_reset(&out);
    drain(s, &out);
    const char *t = hd_buf_cstr(&out);
    assert_true(starts(t, "250 2.1.0 fine\r\n550 5.7.1 ok??550 injected??LLL"));
    /* one line each, the second cut to a sane length */
    const char *second = strstr(t, "\r\n") + 2;
    assert_int_equal(strlen(second), strlen("550 5.7.1 ") + SMTPD_TEXT_MAX + 2);
    hd_buf_free(&out);
    hd_smtpd_free(s);
}

static void test_options_checked(void **state)
{
    hd_smtpd_opts o;
    hd_smtpd *s;
    hd_err err;
    hd_smtpd_opts_init(&o);
    o.max_line = 100;
    assert_int_equal(hd_smtpd_new(&o, &s, &err), HD_EINVAL);
    assert_null(s);
    hd_smtpd_opts_init(&o);
    o.hostname = "bad host";
    assert_int_equal(hd_smtpd_new(&o, &s, &err), HD_EINVAL);
    hd_smtpd_opts_init(&o);
    o.max_data_line = 998;
    assert_int_equal(hd_smtpd_new(&o, &s, &err), HD_EINVAL);
    hd_smtpd_opts_init(&o);
    o.max_pipeline = 100;
    assert_int_equal(hd_smtpd_new(&o, &s, &err), HD_EINVAL);
    hd_smtpd_opts_init(&o);
    assert_int_equal(o.max_line, 1000);
    assert_int_equal(o.max_data_line, 8192);
    assert_int_equal(hd_smtpd_new(&o, &s, &err), 0);
    hd_smtpd_free(s);
}

static void test_pipelined_output_flood_bounded(void **state)
{
    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.max_pipeline = 1024;
    o.max_line = 512;
    hd_smtpd *s;
    assert_int_equal(hd_smtpd_new(&o, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    /* EHLO floods without reading replies: the step closes before the
     * output grows past its bound */
    char flood[127 * 8];
    for (size_t i = 0; i < sizeof flood; i += 8)
        memcpy(flood + i, "EHLO x\r\n", 8);
    size_t n = sizeof flood;
    hd_smtpd_event ev = HD_SMTPD_EV_NEED_INPUT;
    for (int round = 0; round < 200 && ev == HD_SMTPD_EV_NEED_INPUT; round++) {
        assert_int_equal(hd_smtpd_feed(s, flood, n, NULL), 0);
        ev = hd_smtpd_step(s); /* the shell never calls output_done here */
    }
    assert_int_equal(ev, HD_SMTPD_EV_CLOSE);
    hd_slice out = hd_smtpd_output(s);
    assert_true(out.len < 4 * 1024 + 64 * 1024);
    assert_true(hd_slice_find(out, hd_slice_cstr("421 4.7.0")) != (size_t)-1);
    hd_smtpd_free(s);
}

/* AUTH ---------------------------------------------------------------------- */

static void auth_setup(setup *su)
{
    setup_init(su);
    su->o.tls_active = true;
}

static const char *plain(const char *authzid, const char *user, const char *pass)
{
    char raw[256];
    size_t a = strlen(authzid), u = strlen(user), p = strlen(pass);
    memcpy(raw, authzid, a);
    raw[a] = '\0';
    memcpy(raw + a + 1, user, u);
    raw[a + 1 + u] = '\0';
    memcpy(raw + a + u + 2, pass, p);
    return b64(raw, a + u + 2 + p);
}

static void test_auth_plain_initial_response(void **state)
{
    setup su;
    auth_setup(&su);
    run r;
    const char *segs[] = {EHLO, fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          "MAIL FROM:<a@b.example>\r\n", NULL};
    check_script(&su, segs, "220 250 235/2.7.0 250/2.1.0", "AUTH MAIL", &r);
    assert_string_equal(r.mech, "PLAIN");
    assert_string_equal(r.authzid, "");
    assert_string_equal(r.authcid, "user");
    assert_string_equal(r.password, "secret");
    assert_true(r.authed);
    assert_string_equal(r.auth_user, "user");
    assert_out_has(&r, "250 AUTH PLAIN LOGIN\r\n");
    run_free(&r);
}

static void test_auth_plain_challenge(void **state)
{
    setup su;
    auth_setup(&su);
    run r;
    /* an authzid equal to the authcid is the user acting as itself */
    const char *segs[] = {EHLO, "AUTH plain\r\n", fmt("%s\r\n", plain("user", "user", "secret")),
                          NULL};
    check_script(&su, segs, "220 250 334 235/2.7.0", "AUTH", &r);
    assert_out_has(&r, "\r\n334 \r\n");
    assert_string_equal(r.authzid, "user");
    assert_true(r.authed);
    run_free(&r);
}

/* RFC 4616 §2: an authzid other than the authcid asks to act as someone
 * else; herald allows nobody that, so it is refused before any password
 * check (no AUTH event), whatever the password. */
static void test_auth_plain_authzid_refused(void **state)
{
    setup su;
    auth_setup(&su);
    su.o.auth_required = true;
    run r;
    const char *segs[] = {EHLO, fmt("AUTH PLAIN %s\r\n", plain("admin", "user", "secret")),
                          "AUTH plain\r\n", fmt("%s\r\n", plain("User", "user", "secret")),
                          fmt("AUTH PLAIN %s\r\n", plain("use", "user", "secret")),
                          "MAIL FROM:<a@b.example>\r\n", NULL};
    check_script(&su, segs, "220 250 535/5.7.8 334 535/5.7.8 535/5.7.8 530/5.7.0", "", &r);
    assert_out_has(&r, "535 5.7.8 authorization identity must be empty or the user name itself\r\n");
    assert_false(r.authed);
    run_free(&r);
}

/* The shell may refuse an AUTH without judging it (too many checks in
 * hand): 454 4.7.0 by default, the session stays usable. */
static void test_auth_refused_by_shell(void **state)
{
    setup su;
    auth_setup(&su);
    run r;
    const char *segs[] = {EHLO, fmt("AUTH PLAIN %s\r\n", plain("", "busy", "x")),
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")), NULL};
    check_script(&su, segs, "220 250 454/4.7.0 235/2.7.0", "AUTH AUTH", &r);
    assert_true(r.authed);
    run_free(&r);
}

static void test_auth_login(void **state)
{
    setup su;
    auth_setup(&su);
    run r;
    const char *segs[] = {EHLO, "AUTH LOGIN\r\n", fmt("%s\r\n", b64("user", 4)),
                          fmt("%s\r\n", b64("secret", 6)), NULL};
    check_script(&su, segs, "220 250 334 334 235/2.7.0", "AUTH", &r);
    assert_out_has(&r, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 ");
    assert_string_equal(r.mech, "LOGIN");
    assert_string_equal(r.authcid, "user");
    assert_string_equal(r.password, "secret");
    assert_true(r.authed);
    run_free(&r);
    /* with the user name as initial response */
    const char *ir[] = {EHLO, fmt("AUTH LOGIN %s\r\n", b64("user", 4)),
                        fmt("%s\r\n", b64("secret", 6)), NULL};
    expect(&su, ir, "220 250 334 235/2.7.0", "AUTH");
}

static void test_auth_failures(void **state)
{
    setup su;
    auth_setup(&su);
    run r;
    const char *segs[] = {EHLO,
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "wrong")),
                          "AUTH PLAIN\r\n", "*\r\n",
                          "AUTH LOGIN\r\n", fmt("%s\r\n", b64("user", 4)), "*\r\n",
                          "AUTH PLAIN not*base64\r\n",
                          "AUTH PLAIN\r\n", "AAAA\r\n", /* decodes, but no NULs */
                          fmt("AUTH PLAIN %s\r\n", plain("", "", "secret")),
                          "AUTH PLAIN =\r\n",
                          "AUTH CRAM-MD5\r\n",
                          "AUTH\r\n",
                          "MAIL FROM:<a@b.example>\r\n",
                          NULL};
    check_script(&su, segs, "220 250 535/5.7.8 334 501/5.7.0 334 334 501/5.7.0 501/5.5.2 334 "
                            "501/5.5.2 501/5.5.2 501/5.5.2 504/5.5.4 501/5.5.4 250/2.1.0",
                 "AUTH MAIL", &r);
    assert_false(r.authed);
    assert_string_equal(r.auth_user, "(null)");
    assert_out_has(&r, "501 5.7.0 Authentication cancelled\r\n");
    run_free(&r);
}

static void test_auth_sequence(void **state)
{
    setup su;
    auth_setup(&su);
    const char *segs[] = {"HELO x.example\r\n",
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          EHLO "MAIL FROM:<a@b.example>\r\n",
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          "RSET\r\n",
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          NULL};
    expect(&su, segs, "220 250 503/5.5.1 250 250/2.1.0 503/5.5.1 250/2.0.0 235/2.7.0 503/5.5.1",
           "MAIL AUTH");
}

static void test_auth_needs_tls(void **state)
{
    setup su;
    setup_init(&su);
    su.o.tls_available = true;
    run r;
    const char *segs[] = {EHLO, fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")), NULL};
    check_script(&su, segs, "220 250 538/5.7.11", "", &r);
    assert_null(strstr(hd_buf_cstr(&r.out), "AUTH PLAIN LOGIN"));
    assert_out_has(&r, "538 5.7.11 Encryption required");
    run_free(&r);
    /* unless the loopback listener allows it */
    su.o.auth_without_tls = true;
    expect(&su, segs, "220 250 235/2.7.0", "AUTH");
}

static void test_auth_required(void **state)
{
    setup su;
    auth_setup(&su);
    su.o.auth_required = true;
    const char *segs[] = {EHLO, "MAIL FROM:<a@b.example>\r\n",
                          fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          "MAIL FROM:<a@b.example>\r\n", NULL};
    expect(&su, segs, "220 250 530/5.7.0 235/2.7.0 250/2.1.0", "AUTH MAIL");
}

static void test_auth_pipelined_after_response(void **state)
{
    /* the commands after an AUTH wait for its answer, then run as the
     * authenticated user */
    setup su;
    auth_setup(&su);
    su.o.auth_required = true;
    const char *segs[] = {fmt(EHLO "AUTH PLAIN %s\r\n" ENVELOPE "DATA\r\n",
                              plain("", "user", "secret")),
                          "x\r\n.\r\n", NULL};
    expect(&su, segs, "220 250 235/2.7.0 250/2.1.0 250/2.1.5 354 250/2.0.0",
           "AUTH MAIL RCPT MESSAGE");
}

/* STARTTLS ------------------------------------------------------------------ */

static void test_starttls_discards_pipelined_input(void **state)
{
    setup su;
    setup_init(&su);
    su.o.tls_available = true;
    run r;
    const char *segs[] = {EHLO,
                          "STARTTLS\r\nMAIL FROM:<injected@example.com>\r\nQUIT\r\n",
                          "MAIL FROM:<a@b.example>\r\n", /* TLS up: EHLO needed again */
                          EHLO,
                          "STARTTLS\r\n",
                          "MAIL FROM:<a@b.example>\r\n",
                          NULL};
    check_script(&su, segs, "220 250 220/2.0.0 503/5.5.1 250 503/5.5.1 250/2.1.0",
                 "STARTTLS MAIL", &r);
    assert_string_equal(r.from, "a@b.example");
    assert_out_has(&r, "220 2.0.0 Ready to start TLS\r\n");
    assert_out_has(&r, "503 5.5.1 TLS already active\r\n");
    run_free(&r);
}

static void test_starttls_forgets_auth_and_helo(void **state)
{
    setup su;
    setup_init(&su);
    su.o.tls_available = true;
    su.o.auth_without_tls = true;
    run r;
    const char *segs[] = {EHLO, fmt("AUTH PLAIN %s\r\n", plain("", "user", "secret")),
                          "STARTTLS\r\n", NULL};
    check_script(&su, segs, "220 250 235/2.7.0 220/2.0.0", "AUTH STARTTLS", &r);
    assert_false(r.authed);
    assert_string_equal(r.helo, "");
    run_free(&r);
}

static void test_starttls_refusals(void **state)
{
    setup su;
    setup_init(&su);
    const char *none[] = {EHLO, "STARTTLS\r\n", NULL};
    expect(&su, none, "220 250 502/5.5.1", "");
    su.o.tls_active = true;
    su.o.tls_available = true;
    expect(&su, none, "220 250 503/5.5.1", "");
    su.o.tls_active = false;
    const char *order[] = {"STARTTLS\r\n", EHLO "MAIL FROM:<a@b.example>\r\n", "STARTTLS\r\n",
                           "STARTTLS now\r\n", NULL};
    expect(&su, order, "220 503/5.5.1 250 250/2.1.0 503/5.5.1 501/5.5.4", "MAIL");
}


static void test_reply_lines_bounded_with_long_hostname(void **state)
{
    char host[256], text[1001];
    memset(host, 'h', 255);
    host[255] = '\0';
    memset(text, 't', 1000);
    text[1000] = '\0';
    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.hostname = host;
    hd_smtpd *s;
    assert_int_equal(hd_smtpd_new(&o, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    hd_smtpd_output_done(s, hd_smtpd_output(s).len);
    hd_smtpd_shutdown(s, text);
    hd_slice out = hd_smtpd_output(s);
    assert_int_equal(out.len, SMTPD_REPLY_LINE_MAX);
    assert_true(out.p[out.len - 2] == '\r' && out.p[out.len - 1] == '\n');
    assert_true(memchr(out.p, '\n', out.len - 1) == NULL);
    hd_smtpd_free(s);
}

static void test_output_done_partial(void **state)
{
    hd_smtpd *s;
    assert_int_equal(hd_smtpd_new(NULL, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    assert_int_equal(hd_smtpd_feed(s, "NOOP\r\n", 6, NULL), 0);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_NEED_INPUT);
    hd_slice o = hd_smtpd_output(s);
    assert_true(hd_slice_eq_cstr(o, "220 localhost ESMTP herald\r\n250 2.0.0 OK\r\n"));
    /* the shell wrote only part of it: the rest stays, in order */
    hd_smtpd_output_done(s, strlen("220 localhost "));
    assert_true(hd_slice_eq_cstr(hd_smtpd_output(s), "ESMTP herald\r\n250 2.0.0 OK\r\n"));
    hd_smtpd_output_done(s, 1000);
    assert_int_equal(hd_smtpd_output(s).len, 0);
    hd_smtpd_free(s);
}

static void test_feed_after_partial_line_fits(void **state)
{
    hd_smtpd_opts o;
    hd_smtpd_opts_init(&o);
    o.max_line = 512;
    o.max_pipeline = 1024;
    hd_smtpd *s;
    assert_int_equal(hd_smtpd_new(&o, &s, NULL), 0);
    hd_smtpd_greet(s, true);
    char buf[1024];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "NOOP", 4);
    /* 500 bytes of a line wait; a full max_pipeline feed still fits */
    assert_int_equal(hd_smtpd_feed(s, buf, 500, NULL), 0);
    assert_int_equal(hd_smtpd_step(s), HD_SMTPD_EV_NEED_INPUT);
    memcpy(buf, "x\r\n", 3);
    assert_int_equal(hd_smtpd_feed(s, buf, sizeof buf, NULL), 0);
    hd_smtpd_free(s);
}

static void test_more_syntax(void **state)
{
    setup su;
    auth_setup(&su);
    run r;
    const char *segs[] = {EHLO,
                          "AUTH LOGIN\r\n", "=\r\n",                  /* empty user name */
                          "AUTH LOGIN\r\n", fmt("%s\r\n", b64("u", 1)), fmt("%s\r\n", b64("a\0b", 3)),
                          "MAIL FROM:<a@b.example> =x\r\n",
                          "MAIL FROM:<a@b.example> AUTH=\r\n",
                          "MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8\r\n",
                          "MAIL FROM:<u@[1.2.3.4>\r\n",
                          "MAIL FROM:<\"a\x01\"@b.example>\r\n",
                          "MAIL FROM:<\"a\\\x01\"@b.example>\r\n",
                          "MAIL FROM:<u@[tag:a\\b]>\r\n",
                          "MAIL FROM:<\xf0\x9f\x98\x80@b.example> SMTPUTF8\r\n", /* 4-byte UTF-8 */
                          "RCPT TO:<\xed\xa0\x80@b.example>\r\n",                /* a surrogate */
                          "RCPT TO:<x@b.example>\r\n",
                          "DATA now\r\n",
                          "DATA\r\n", ".\r\n",
                          NULL};
    check_script(&su, segs, "220 250 334 501/5.5.2 334 334 501/5.5.2 501/5.5.4 501/5.5.4 "
                            "501/5.5.4 501/5.1.7 501/5.1.7 501/5.1.7 501/5.1.7 250/2.1.0 "
                            "501/5.1.3 250/2.1.5 501/5.5.4 354 250/2.0.0",
                 "MAIL RCPT MESSAGE", &r);
    assert_string_equal(r.msg_from, "\xf0\x9f\x98\x80@b.example");
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting_and_quit),
        cmocka_unit_test(test_full_transaction),
        cmocka_unit_test(test_ehlo_reply),
        cmocka_unit_test(test_ehlo_offers_starttls_then_auth),
        cmocka_unit_test(test_helo),
        cmocka_unit_test(test_auth_disabled),
        cmocka_unit_test(test_pipelined_transaction),
        cmocka_unit_test(test_pipelined_everything_in_one_write),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_new_transaction_after_message),
        cmocka_unit_test(test_smuggling),
        cmocka_unit_test(test_smuggling_never_two_messages),
        cmocka_unit_test(test_data_line_numbers),
        cmocka_unit_test(test_data_nul_refused),
        cmocka_unit_test(test_refused_data_resets_transaction),
        cmocka_unit_test(test_bare_lf_command),
        cmocka_unit_test(test_long_command_line),
        cmocka_unit_test(test_command_line_limit_exact),
        cmocka_unit_test(test_long_data_line),
        cmocka_unit_test(test_default_data_line_allows_long_lines),
        cmocka_unit_test(test_oversize_message),
        cmocka_unit_test(test_oversize_memory_bounded),
        cmocka_unit_test(test_size_parameter),
        cmocka_unit_test(test_body_and_unknown_parameters),
        cmocka_unit_test(test_null_sender_and_postmaster),
        cmocka_unit_test(test_bare_postmaster_on_submission),
        cmocka_unit_test(test_source_route_quoted_and_literals),
        cmocka_unit_test(test_bad_address_syntax),
        cmocka_unit_test(test_address_limits),
        cmocka_unit_test(test_smtputf8),
        cmocka_unit_test(test_sequence_errors),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_unknown_and_simple_commands),
        cmocka_unit_test(test_http_request_closes),
        cmocka_unit_test(test_rset),
        cmocka_unit_test(test_ehlo_resets_transaction),
        cmocka_unit_test(test_rejected_sender_not_kept),
        cmocka_unit_test(test_max_recipients),
        cmocka_unit_test(test_max_errors),
        cmocka_unit_test(test_quit_ignores_rest),
        cmocka_unit_test(test_refused_greeting),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_answers_wait_and_are_sanitised),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_pipelined_output_flood_bounded),
        cmocka_unit_test(test_auth_plain_initial_response),
        cmocka_unit_test(test_auth_plain_challenge),
        cmocka_unit_test(test_auth_plain_authzid_refused),
        cmocka_unit_test(test_auth_refused_by_shell),
        cmocka_unit_test(test_auth_login),
        cmocka_unit_test(test_auth_failures),
        cmocka_unit_test(test_auth_sequence),
        cmocka_unit_test(test_auth_needs_tls),
        cmocka_unit_test(test_auth_required),
        cmocka_unit_test(test_auth_pipelined_after_response),
        cmocka_unit_test(test_starttls_discards_pipelined_input),
        cmocka_unit_test(test_starttls_forgets_auth_and_helo),
        cmocka_unit_test(test_starttls_refusals),
        cmocka_unit_test(test_reply_lines_bounded_with_long_hostname),
        cmocka_unit_test(test_output_done_partial),
        cmocka_unit_test(test_feed_after_partial_line_fits),
        cmocka_unit_test(test_more_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
