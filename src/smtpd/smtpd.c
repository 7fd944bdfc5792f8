/*
 * smtpd.c - one SMTP server session, sans I/O: options, input framing,
 * the step loop, replies and the shell's answers.
 *
 * Input is framed here. A command line ends at LF and is good only when
 * the LF follows a CR and no other CR is on it; a line with a bare LF or
 * bare CR is answered 500 5.5.2 and never interpreted. A line over
 * max_line (CRLF included) is answered 500 5.5.2 at once and skipped up
 * to the next CRLF, so its tail is never taken for a new command. DATA
 * text goes to data.c.
 *
 * Decisions: data lines may be up to max_data_line (default 8192, CRLF
 * included). RFC 5321 §4.5.3.1.6 sets 1000 as the length every receiver
 * must accept, and asks (§4.5.3.1) for no limits where possible; real
 * MUAs and applications send longer HTML lines, so refusing at 1000
 * would bounce good mail, while a line past 8 KB is a broken or hostile
 * client: the message is then refused with 550 5.6.0 after its end.
 * Enhanced status codes (RFC 2034) go on every 2xx/4xx/5xx reply but the
 * greeting and the successful HELO/EHLO reply; 3xx replies (334, 354)
 * have none, as RFC 3463 defines no class 3.
 *
 * Memory: unprocessed input is capped at max_pipeline plus one partial
 * command line (feed refuses more), a message at max_message_size, the output of one step at
 * out_soft (then 421 and close: only a client that pipelines thousands
 * of EHLO/HELP/NOOP without reading gets there).
 */
#include "smtpd/smtpd_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hd_smtpd_opts_init(hd_smtpd_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->hostname = "localhost";
    opts->max_message_size = 25u * 1024 * 1024;
    opts->max_recipients = 1000;
    opts->max_line = 1000;
    opts->max_data_line = 8192;
    opts->max_errors = 20;
    opts->max_pipeline = 64u * 1024;
}

static int check_opts(const hd_smtpd_opts *o, hd_err *err)
{
    size_t hl = o->hostname != NULL ? strlen(o->hostname) : 0;
    if (hl == 0 || hl > SMTPD_HELO_MAX)
        return hd_err_set(err, HD_EINVAL, "smtpd: hostname must be 1..%d bytes",
                          SMTPD_HELO_MAX);
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)o->hostname[i];
        if (c <= ' ' || c >= 0x7f)
            return hd_err_set(err, HD_EINVAL,
                              "smtpd: hostname has byte 0x%02x at offset %zu", c, i);
    }
    if (o->max_line < 512) /* RFC 5321 §4.5.3.1.4 */
        return hd_err_set(err, HD_EINVAL, "smtpd: max_line %zu below 512", o->max_line);
    if (o->max_data_line < 1000) /* RFC 5321 §4.5.3.1.6 */
        return hd_err_set(err, HD_EINVAL, "smtpd: max_data_line %zu below 1000",
                          o->max_data_line);
    if (o->max_pipeline < o->max_line)
        return hd_err_set(err, HD_EINVAL, "smtpd: max_pipeline %zu below max_line %zu",
                          o->max_pipeline, o->max_line);
    if (o->max_recipients == 0 || o->max_errors == 0 || o->max_message_size == 0)
        return hd_err_set(err, HD_EINVAL,
                          "smtpd: max_recipients, max_errors, max_message_size must be > 0");
    if (o->auth_required && o->auth_disabled)
        return hd_err_set(err, HD_EINVAL, "smtpd: auth_required with auth_disabled");
    if (o->max_pipeline > SIZE_MAX / 8 || o->max_message_size > SIZE_MAX / 2)
        return hd_err_set(err, HD_EINVAL, "smtpd: limits too large");
    return 0;
}

int hd_smtpd_new(const hd_smtpd_opts *opts, hd_smtpd **out, hd_err *err)
{
    hd_smtpd_opts def;
    if (opts == NULL) {
        hd_smtpd_opts_init(&def);
        opts = &def;
    }
    *out = NULL;
    int rc = check_opts(opts, err);
    if (rc != 0)
        return rc;
    hd_smtpd *s = calloc(1, sizeof *s);
    if (s == NULL)
        return hd_err_set(err, HD_ENOMEM, "smtpd: no memory for a session");
    s->o = *opts;
    memcpy(s->host, opts->hostname, strlen(opts->hostname) + 1);
    s->o.hostname = s->host;
    s->tls = opts->tls_active;
    hd_buf_init(&s->in, opts->max_pipeline + opts->max_line);
    /* one step's replies: generous for a pipelined transaction of
     * max_pipeline bytes, bounded against EHLO floods */
    s->out_soft = 4 * opts->max_pipeline + 16 * 1024;
    hd_buf_init(&s->out, s->out_soft + 16 * 1024);
    hd_buf_init(&s->cred, 2 * opts->max_line + 16); /* LOGIN: user + password */
    hd_buf_init(&s->msg, opts->max_message_size);
    *out = s;
    return 0;
}

static void free_rcpts(hd_smtpd *s)
{
    for (size_t i = 0; i < s->n_rcpts; i++)
        free(s->rcpts[i]);
    s->n_rcpts = 0;
}

void hd_smtpd_free(hd_smtpd *s)
{
    if (s == NULL)
        return;
    smtpd_auth_clear(s);
    free_rcpts(s);
    free(s->rcpts);
    free(s->auth_user);
    hd_buf_free(&s->in);
    hd_buf_free(&s->out);
    hd_buf_free(&s->cred);
    hd_buf_free(&s->msg);
    free(s);
}

size_t smtpd_mem_held(const hd_smtpd *s)
{
    return s->in.cap + s->out.cap + s->cred.cap + s->msg.cap +
           s->cap_rcpts * (sizeof(char *) + SMTPD_PATH_MAX + 1);
}

/* Replies ------------------------------------------------------------------ */

static void vreply(hd_smtpd *s, int code, const char *enh, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static void vreply(hd_smtpd *s, int code, const char *enh, const char *fmt, va_list ap)
{
    /* cut the text so the line, CRLF included, stays within §4.5.3.1.5 */
    char text[SMTPD_REPLY_LINE_MAX];
    size_t prefix = 4 + (enh != NULL ? strlen(enh) + 1 : 0);
    vsnprintf(text, SMTPD_REPLY_LINE_MAX - 2 - prefix + 1, fmt, ap);
    int rc = enh != NULL ? hd_buf_printf(&s->out, "%03d %s %s\r\n", code, enh, text)
                         : hd_buf_printf(&s->out, "%03d %s\r\n", code, text);
    if (rc != 0)
        s->closed = true; /* out of memory: nothing sensible left to say */
}

void smtpd_reply(hd_smtpd *s, int code, const char *enh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(s, code, enh, fmt, ap);
    va_end(ap);
}

int smtpd_close(hd_smtpd *s)
{
    s->closed = true;
    return HD_SMTPD_EV_CLOSE;
}

int smtpd_count_error(hd_smtpd *s)
{
    if (++s->errors < s->o.max_errors)
        return SMTPD_CONTINUE;
    smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors, closing connection", s->host);
    return smtpd_close(s);
}

int smtpd_fail(hd_smtpd *s, int code, const char *enh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(s, code, enh, fmt, ap);
    va_end(ap);
    return smtpd_count_error(s);
}

/* Reply text from the shell: printable ASCII only, at most
 * SMTPD_TEXT_MAX bytes, so it can neither break the reply framing nor
 * exceed the §4.5.3.1.5 line length. */
static void clean_text(char *dst, const char *src, const char *dflt)
{
    if (src == NULL || *src == '\0')
        src = dflt;
    size_t i = 0;
    for (; src[i] != '\0' && i < SMTPD_TEXT_MAX; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

/* "d.ddd.ddd" whose class agrees with the reply code (RFC 3463 §2). */
static bool enhanced_ok(const char *e, int code)
{
    if (e == NULL || e[0] - '0' != code / 100 || e[1] != '.')
        return false;
    const char *p = e + 2;
    for (int part = 0; part < 2; part++) {
        size_t n = 0;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n == 0 || n > 3)
            return false;
        p += n;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* Queue the shell's reply; returns whether it is a 2xx. */
static bool answer_reply(hd_smtpd *s, const hd_smtpd_reply *r, const char *ok_enh)
{
    static const hd_smtpd_reply internal = {451, "4.3.0", "internal error: no valid reply"};
    if (r == NULL || r->code < 200 || r->code > 599 || r->code / 100 == 3)
        r = &internal;
    int cls = r->code / 100;
    const char *enh = r->enhanced;
    if (!enhanced_ok(enh, r->code))
        enh = cls == 2 ? ok_enh : cls == 4 ? "4.0.0" : "5.0.0";
    char text[SMTPD_TEXT_MAX + 1];
    clean_text(text, r->text, cls == 2 ? "OK" : cls == 4 ? "temporary failure" : "rejected");
    smtpd_reply(s, r->code, enh, "%s", text);
    return cls == 2;
}

/* Session ------------------------------------------------------------------ */

void smtpd_txn_reset(hd_smtpd *s)
{
    s->have_mail = false;
    s->from[0] = '\0';
    memset(&s->mail, 0, sizeof s->mail);
    free_rcpts(s);
    smtpd_data_clear(s);
}

void hd_smtpd_greet(hd_smtpd *s, bool ok)
{
    if (s->greeted)
        return;
    s->greeted = true;
    s->refused = !ok;
    if (ok)
        smtpd_reply(s, 220, NULL, "%s ESMTP herald", s->host);
    else /* RFC 5321 §3.1 */
        smtpd_reply(s, 554, NULL, "%s ESMTP service not available", s->host);
}

void hd_smtpd_shutdown(hd_smtpd *s, const char *text)
{
    if (s->closed)
        return;
    char clean[SMTPD_TEXT_MAX + 1];
    clean_text(clean, text, "Service not available, closing transmission channel");
    smtpd_reply(s, 421, "4.3.2", "%s %s", s->host, clean);
    smtpd_close(s);
}

int hd_smtpd_feed(hd_smtpd *s, const void *data, size_t len, hd_err *err)
{
    /* after close, and between STARTTLS and the handshake, input is
     * dropped: plaintext sent before TLS must not count (RFC 3207 §6) */
    if (s->closed || s->pending == SMTPD_P_STARTTLS || len == 0)
        return 0;
    /* a partial command line (< max_line) may wait besides the pipeline,
     * so a feed of max_pipeline bytes after NEED_INPUT always fits */
    size_t waiting = s->in.len - s->in_off;
    size_t limit = s->o.max_pipeline + s->o.max_line;
    if (len > limit - waiting)
        return hd_err_set(err, HD_ELIMIT,
                          "smtpd: %zu bytes of input waiting unprocessed, limit %zu",
                          waiting + len, limit);
    if (s->in_off > 0) {
        memmove(s->in.p, s->in.p + s->in_off, waiting);
        s->in.len = waiting;
        s->in_off = 0;
    }
    int rc = hd_buf_append(&s->in, data, len);
    if (rc != 0)
        return hd_err_set(err, rc, "smtpd: cannot hold %zu bytes of input", len);
    return 0;
}

hd_slice hd_smtpd_output(const hd_smtpd *s)
{
    return hd_buf_slice(&s->out);
}

void hd_smtpd_output_done(hd_smtpd *s, size_t n)
{
    if (n >= s->out.len) {
        hd_buf_reset(&s->out);
        return;
    }
    memmove(s->out.p, s->out.p + n, s->out.len - n);
    s->out.len -= n;
    s->out.p[s->out.len] = '\0';
}

/* Skip an over-long line through the next CRLF; true once done. */
static bool skip_line(hd_smtpd *s)
{
    while (s->in_off < s->in.len) {
        uint8_t c = s->in.p[s->in_off++];
        if (c == '\n' && s->skip_cr) {
            s->skipping = false;
            return true;
        }
        s->skip_cr = c == '\r';
    }
    return false;
}

/* The next command line. Returns 1 with *line (CRLF removed), 0 when
 * more input is needed, or SMTPD_CONTINUE / an event after answering a
 * bad line. */
static int next_line(hd_smtpd *s, hd_slice *line)
{
    if (s->skipping && !skip_line(s))
        return 0;
    size_t n = s->in.len - s->in_off;
    if (n == 0) /* (in.p may still be NULL) */
        return 0;
    const uint8_t *p = s->in.p + s->in_off;
    size_t scan = n < s->o.max_line ? n : s->o.max_line;
    const uint8_t *lf = memchr(p, '\n', scan);
    if (lf == NULL) {
        if (n < s->o.max_line)
            return 0;
        /* no line end within max_line: answer now, skip the rest */
        s->skipping = true;
        s->skip_cr = false;
        smtpd_auth_clear(s);
        int ev = smtpd_fail(s, 500, "5.5.2", "line too long (limit %zu bytes)", s->o.max_line);
        return ev == SMTPD_CONTINUE ? SMTPD_CONTINUE : ev;
    }
    size_t len = (size_t)(lf - p);
    s->in_off += len + 1;
    bool bare = len == 0 || p[len - 1] != '\r';
    if (!bare && memchr(p, '\r', len - 1) != NULL)
        bare = true;
    if (bare) {
        smtpd_auth_clear(s);
        return smtpd_fail(s, 500, "5.5.2", "bare LF/CR in command (lines must end with CRLF)");
    }
    *line = hd_slice_make(p, len - 1);
    return 1;
}

hd_smtpd_event hd_smtpd_step(hd_smtpd *s)
{
    for (;;) {
        if (s->closed)
            return HD_SMTPD_EV_CLOSE;
        if (s->pending != SMTPD_P_NONE)
            return HD_SMTPD_EV_WAIT;
        if (s->out.len > s->out_soft) {
            smtpd_reply(s, 421, "4.7.0", "%s too many pipelined commands, closing connection",
                        s->host);
            return (hd_smtpd_event)smtpd_close(s);
        }
        int ev;
        if (s->in_data) {
            ev = smtpd_data_consume(s);
            if (ev == SMTPD_CONTINUE && s->in_data)
                return HD_SMTPD_EV_NEED_INPUT;
        } else {
            hd_slice line;
            int got = next_line(s, &line);
            if (got == 0)
                return HD_SMTPD_EV_NEED_INPUT;
            if (got == 1)
                ev = s->auth_step != SMTPD_AUTH_IDLE ? smtpd_auth_line(s, line)
                                                     : smtpd_command(s, line);
            else
                ev = got;
        }
        if (ev != SMTPD_CONTINUE)
            return (hd_smtpd_event)ev;
    }
}

void hd_smtpd_tls_started(hd_smtpd *s)
{
    if (s->pending != SMTPD_P_STARTTLS)
        return;
    s->pending = SMTPD_P_NONE;
    s->tls = true;
    /* RFC 3207 §4.2: discard all knowledge obtained from the client */
    s->have_helo = s->esmtp = false;
    s->helo[0] = '\0';
    s->authed = false;
    free(s->auth_user);
    s->auth_user = NULL;
    smtpd_auth_clear(s);
    smtpd_txn_reset(s);
    hd_buf_reset(&s->in);
    s->in_off = 0;
    s->skipping = false;
}

/* Events and answers -------------------------------------------------------- */

const hd_smtpd_auth_info *hd_smtpd_auth(const hd_smtpd *s)
{
    return s->pending == SMTPD_P_AUTH ? &s->auth_info : NULL;
}

const hd_smtpd_mail_info *hd_smtpd_mail(const hd_smtpd *s)
{
    return s->pending == SMTPD_P_MAIL ? &s->cand_mail : NULL;
}

const char *hd_smtpd_rcpt(const hd_smtpd *s)
{
    return s->pending == SMTPD_P_RCPT ? s->cand : NULL;
}

const hd_smtpd_message_info *hd_smtpd_message(const hd_smtpd *s)
{
    return s->pending == SMTPD_P_MESSAGE ? &s->msg_info : NULL;
}

void hd_smtpd_answer_auth(hd_smtpd *s, bool ok)
{
    if (s->pending != SMTPD_P_AUTH)
        return;
    s->pending = SMTPD_P_NONE;
    if (ok) {
        free(s->auth_user);
        s->auth_user = hd_slice_strdup(hd_slice_cstr(s->auth_info.authcid));
        s->authed = s->auth_user != NULL;
    }
    smtpd_auth_clear(s);
    if (s->authed) {
        smtpd_reply(s, 235, "2.7.0", "Authentication successful");
        return;
    }
    /* RFC 4954 §6; failures count, which bounds password guessing */
    smtpd_fail(s, 535, "5.7.8", "Authentication credentials invalid");
}

void hd_smtpd_refuse_auth(hd_smtpd *s, const hd_smtpd_reply *r)
{
    static const hd_smtpd_reply busy = {454, "4.7.0", "temporary authentication failure"};
    if (s->pending != SMTPD_P_AUTH)
        return;
    s->pending = SMTPD_P_NONE;
    smtpd_auth_clear(s);
    if (r == NULL || r->code < 400 || r->code > 599)
        r = &busy;
    answer_reply(s, r, "4.7.0");
    smtpd_count_error(s); /* a client that loops on it is closed at max_errors */
}

void hd_smtpd_answer_mail(hd_smtpd *s, const hd_smtpd_reply *r)
{
    if (s->pending != SMTPD_P_MAIL)
        return;
    s->pending = SMTPD_P_NONE;
    if (!answer_reply(s, r, "2.1.0"))
        return;
    s->have_mail = true;
    memcpy(s->from, s->cand, sizeof s->from);
    s->mail = s->cand_mail;
    s->mail.reverse_path = s->from;
}

void hd_smtpd_answer_rcpt(hd_smtpd *s, const hd_smtpd_reply *r)
{
    if (s->pending != SMTPD_P_RCPT)
        return;
    s->pending = SMTPD_P_NONE;
    if (s->n_rcpts == s->cap_rcpts) {
        size_t ncap = s->cap_rcpts ? s->cap_rcpts * 2 : 8;
        if (ncap > s->o.max_recipients)
            ncap = s->o.max_recipients;
        char **nv = realloc(s->rcpts, ncap * sizeof *nv);
        if (nv == NULL) {
            smtpd_reply(s, 452, "4.3.1", "insufficient system resources");
            return;
        }
        s->rcpts = nv;
        s->cap_rcpts = ncap;
    }
    char *copy = hd_slice_strdup(hd_slice_cstr(s->cand));
    if (copy == NULL) {
        smtpd_reply(s, 452, "4.3.1", "insufficient system resources");
        return;
    }
    if (!answer_reply(s, r, "2.1.5")) {
        free(copy);
        return;
    }
    s->rcpts[s->n_rcpts++] = copy;
}

void hd_smtpd_answer_message(hd_smtpd *s, const hd_smtpd_reply *r)
{
    if (s->pending != SMTPD_P_MESSAGE)
        return;
    s->pending = SMTPD_P_NONE;
    answer_reply(s, r, "2.0.0");
    smtpd_txn_reset(s);
}

bool hd_smtpd_is_authenticated(const hd_smtpd *s)
{
    return s->authed;
}

const char *hd_smtpd_auth_user(const hd_smtpd *s)
{
    return s->authed ? s->auth_user : NULL;
}

const char *hd_smtpd_helo(const hd_smtpd *s)
{
    return s->helo;
}

bool hd_smtpd_esmtp(const hd_smtpd *s)
{
    return s->esmtp;
}
