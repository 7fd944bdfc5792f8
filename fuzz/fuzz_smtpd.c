/*
 * fuzz_smtpd.c - the SMTP server session, driven the way the shell does.
 *
 * Input: byte 0 picks options (TLS, AUTH, small limits, refused greeting,
 * shutdown at the end, a 255-byte hostname; AUTH disabled when not
 * required and byte 1 is odd; bare <postmaster> refused when bit 2 of
 * byte 1 is set),
 * bytes 1-3 the points where the client's bytes are split into writes,
 * byte 4 seeds the answers; the rest is what the client sends. Every
 * event is answered (accept or reject by input bits; AUTH true, false
 * or refused without a verdict;
 * the TLS handshake completes now or after the next write).
 *
 * Invariants: replies are whole CRLF lines of at most 512 bytes that
 * start with a code; a delivered message has CRLF line ends only (no
 * bare CR or LF, no NUL got through) and fits max_message_size; an AUTH
 * event's authzid is empty or the authcid; no recipient without a domain
 * when bare <postmaster> is refused; the recipient
 * list is within max_recipients; the session's memory stays within its
 * limits; step never loops.
 */
#include "smtpd/smtpd_int.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct drive {
    hd_smtpd *s;
    hd_smtpd_opts o;
    uint32_t bits;
    bool tls_pending, tls_late, closed;
} drive;

static bool next_bit(drive *d)
{
    /* xorshift over the seed: a stream of answer choices */
    d->bits ^= d->bits << 13;
    d->bits ^= d->bits >> 17;
    d->bits ^= d->bits << 5;
    return d->bits & 1;
}

static void check_output(const drive *d)
{
    hd_slice o = hd_smtpd_output(d->s);
    if (o.len == 0)
        return;
    if (o.len < 2 || o.p[o.len - 2] != '\r' || o.p[o.len - 1] != '\n')
        abort();
    size_t start = 0;
    for (size_t i = 0; i < o.len; i++) {
        if (o.p[i] == '\r' && (i + 1 >= o.len || o.p[i + 1] != '\n'))
            abort(); /* bare CR in a reply */
        if (o.p[i] != '\n')
            continue;
        if (i == 0 || o.p[i - 1] != '\r')
            abort(); /* bare LF in a reply */
        size_t len = i + 1 - start;
        const uint8_t *l = o.p + start;
        if (len > SMTPD_REPLY_LINE_MAX || len < 6)
            abort();
        if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9' ||
            (l[3] != ' ' && l[3] != '-'))
            abort();
        start = i + 1;
    }
}

static void check_memory(const drive *d)
{
    const hd_smtpd *s = d->s;
    /* every buffer at most doubles past its cap */
    size_t bound = 2 * (d->o.max_pipeline + 1) + 2 * (s->out.max + 1) +
                   2 * (s->cred.max + 1) + 2 * (d->o.max_message_size + 1) +
                   d->o.max_recipients * (sizeof(char *) + SMTPD_PATH_MAX + 1) + 256;
    if (smtpd_mem_held(s) > bound)
        abort();
}

static void check_message(const drive *d, const hd_smtpd_message_info *m)
{
    if (m == NULL || m->data.len > d->o.max_message_size || m->n_rcpts == 0 ||
        m->n_rcpts > d->o.max_recipients || m->reverse_path == NULL)
        abort();
    const uint8_t *p = m->data.p;
    size_t n = m->data.len;
    /* only CRLF line ends reach the shell */
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            abort();
        if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
            abort();
        if (p[i] == '\0')
            abort(); /* RFC 5321 §2.3.8: no NUL in text */
    }
    if (n > 0 && (n < 2 || p[n - 1] != '\n'))
        abort();
    for (size_t i = 0; i < m->n_rcpts; i++)
        if (m->rcpts[i] == NULL || strlen(m->rcpts[i]) > SMTPD_PATH_MAX)
            abort();
}

static hd_smtpd_reply pick(drive *d, int ok_code)
{
    if (next_bit(d))
        return (hd_smtpd_reply){ok_code, NULL, "OK"};
    return next_bit(d) ? (hd_smtpd_reply){550, "5.7.1", "no\r\nthanks"}
                       : (hd_smtpd_reply){451, "4.9.99", NULL};
}

static void answer(drive *d, hd_smtpd_event ev)
{
    hd_smtpd_reply r;
    switch (ev) {
    case HD_SMTPD_EV_AUTH: {
        if (d->o.auth_disabled)
            abort(); /* an MX session never takes AUTH */
        const hd_smtpd_auth_info *a = hd_smtpd_auth(d->s);
        if (a == NULL || a->authcid == NULL || a->password == NULL || a->authzid == NULL ||
            a->authcid[0] == '\0' || a->password[0] == '\0')
            abort();
        if (a->authzid[0] != '\0' && strcmp(a->authzid, a->authcid) != 0)
            abort(); /* RFC 4616 §2: acting as another user is refused in the session */
        if (next_bit(d))
            hd_smtpd_answer_auth(d->s, next_bit(d));
        else
            hd_smtpd_refuse_auth(d->s, NULL);
        break;
    }
    case HD_SMTPD_EV_MAIL: {
        const hd_smtpd_mail_info *m = hd_smtpd_mail(d->s);
        if (m == NULL || strlen(m->reverse_path) > SMTPD_PATH_MAX ||
            m->size > d->o.max_message_size)
            abort();
        r = pick(d, 250);
        hd_smtpd_answer_mail(d->s, &r);
        break;
    }
    case HD_SMTPD_EV_RCPT: {
        const char *rcpt = hd_smtpd_rcpt(d->s);
        if (rcpt == NULL || rcpt[0] == '\0' || strlen(rcpt) > SMTPD_PATH_MAX)
            abort();
        if (d->o.postmaster_needs_domain && strchr(rcpt, '@') == NULL)
            abort();
        r = pick(d, 250);
        hd_smtpd_answer_rcpt(d->s, &r);
        break;
    }
    case HD_SMTPD_EV_MESSAGE:
        check_message(d, hd_smtpd_message(d->s));
        r = pick(d, 250);
        hd_smtpd_answer_message(d->s, &r);
        break;
    default:
        abort();
    }
}

/* Step until the session wants input; what the shell does after a read. */
static void pump(drive *d)
{
    for (int guard = 0;; guard++) {
        if (guard > 100000)
            abort(); /* step must make progress */
        hd_smtpd_event ev = hd_smtpd_step(d->s);
        check_output(d);
        check_memory(d);
        hd_smtpd_output_done(d->s, hd_smtpd_output(d->s).len);
        switch (ev) {
        case HD_SMTPD_EV_NEED_INPUT:
            return;
        case HD_SMTPD_EV_CLOSE:
            d->closed = true;
            return;
        case HD_SMTPD_EV_WAIT:
            if (!d->tls_pending)
                abort(); /* nothing else can be waited on here */
            return;
        case HD_SMTPD_EV_STARTTLS:
            d->tls_pending = true;
            if (!d->tls_late) {
                hd_smtpd_tls_started(d->s);
                d->tls_pending = false;
            }
            d->tls_late = !d->tls_late;
            break;
        default:
            answer(d, ev);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    drive d;
    memset(&d, 0, sizeof d);
    uint8_t flags = data[0];
    hd_smtpd_opts_init(&d.o);
    char longhost[SMTPD_HELO_MAX + 1];
    memset(longhost, 'h', SMTPD_HELO_MAX);
    longhost[SMTPD_HELO_MAX] = '\0';
    d.o.hostname = (flags & 128) ? longhost : "fuzz.test";
    d.o.tls_available = flags & 1;
    d.o.tls_active = flags & 2;
    d.o.auth_without_tls = flags & 4;
    d.o.auth_required = flags & 8;
    d.o.auth_disabled = !d.o.auth_required && (data[1] & 1); /* the inbound listener */
    d.o.postmaster_needs_domain = data[1] & 2;                 /* the submission listener */
    d.o.max_message_size = 64 * 1024;
    if (flags & 16) {
        d.o.max_line = 512;
        d.o.max_data_line = 1000;
        d.o.max_message_size = 2000;
        d.o.max_recipients = 3;
        d.o.max_errors = 5;
        d.o.max_pipeline = 1024;
    }
    d.bits = (uint32_t)data[4] * 2654435761u | 1;
    const uint8_t *in = data + 5;
    size_t n = size - 5;
    size_t cut[5] = {0, (size_t)data[1] * n / 256, (size_t)data[2] * n / 256,
                     (size_t)data[3] * n / 256, n};
    for (int i = 1; i < 4; i++) /* sort the three cut points */
        for (int j = i; j > 0 && cut[j] < cut[j - 1]; j--) {
            size_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }

    if (hd_smtpd_new(&d.o, &d.s, NULL) != 0)
        abort();
    hd_smtpd_greet(d.s, !(flags & 32));
    pump(&d);
    for (int i = 0; i < 4 && !d.closed; i++) {
        /* a write larger than max_pipeline is fed in pieces, as the
         * shell must */
        for (size_t off = cut[i]; off < cut[i + 1] && !d.closed;) {
            size_t len = cut[i + 1] - off;
            if (len > d.o.max_pipeline)
                len = d.o.max_pipeline;
            if (hd_smtpd_feed(d.s, in + off, len, NULL) != 0) {
                d.closed = true; /* HD_ELIMIT: the shell closes */
                break;
            }
            off += len;
            pump(&d);
        }
        if (d.tls_pending) { /* the handshake after this write */
            hd_smtpd_tls_started(d.s);
            d.tls_pending = false;
            pump(&d);
        }
    }
    if (!d.closed && (flags & 64)) {
        hd_smtpd_shutdown(d.s, "bye\r\nnow");
        if (hd_smtpd_step(d.s) != HD_SMTPD_EV_CLOSE)
            abort();
        check_output(&d);
    }
    hd_smtpd_free(d.s);
    return 0;
}
