/*
 * smtpc.c - the client side of one SMTP session as a state machine fed
 * with the server's bytes (RFC 5321, 3207, 2920, 1870, 6152, 6531).
 *
 * The session reads one reply at a time, in order, and matches it to the
 * oldest command still unanswered. Outside a transaction that command is
 * named by the state; inside one, by the transaction cursor (tstep and
 * rcpt_i), which walks MAIL, every RCPT, DATA, then "." or RSET. With
 * PIPELINING the whole MAIL..DATA group is written at once (RFC 2920
 * §3.1: DATA is the last command of a group) and the cursor walks the
 * replies; without it each reply triggers the next command.
 *
 * Recipient results: every recipient starts open (code -1). A refusal at
 * RCPT closes it; acceptance keeps it open until the reply to "." (or to
 * a refused DATA) closes every accepted one; a session failure closes all
 * that are still open. HD_SMTPC_EV_TXN_DONE is raised only once all are
 * closed.
 *
 * Decisions the RFCs leave open, as herald takes them:
 * - An 8-bit message (txn.body_8bit) goes with BODY=8BITMIME; to a server
 *   that does not offer 8BITMIME it is not sent at all: every recipient
 *   gets 554 5.6.3 (RFC 6152 §3; RFC 3463 X.6.3, conversion required but
 *   not supported). Converting here would break the DKIM signatures;
 *   herald converts what it can before signing (submit.h), so only
 *   messages that could not be converted are still 8-bit.
 * - RSET follows a transaction that MAIL opened but that did not end with
 *   the reply to "." (every RCPT refused, DATA refused): RFC 5321
 *   §4.1.1.4 does not say whether a refused DATA clears the server's
 *   state, and the next MAIL must not meet a half-open one. A refused MAIL
 *   opened nothing, so no RSET; after "." the transaction is over.
 * - When DATA gets 354 although no recipient was accepted (a pipelining
 *   server that ought to have refused it), the session sends a lone "."
 *   (RFC 2920 §3.1) and ignores the reply.
 * - The message is dot-stuffed and its line ends made CRLF (data.c).
 * - A 421 (RFC 5321 §3.8) or a protocol error ends the session without
 *   QUIT; a refused greeting, EHLO/HELO or TLS policy failure ends it with
 *   QUIT. Session failures decided here (no reply to report) have code 0
 *   and a 4.x.x enhanced code, so the message is retried.
 * - READY and STARTTLS are raised once each time they become true; a
 *   later step() returns NEED_INPUT until something happens.
 *
 * Ownership: the session copies helo_name; the transaction given to
 * hd_smtpc_begin() is borrowed until HD_SMTPC_EV_TXN_DONE.
 */
#include "smtpc/smtpc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum state {
    ST_GREETING, /* waiting for the 220 */
    ST_EHLO,
    ST_HELO,
    ST_STARTTLS, /* STARTTLS sent */
    ST_TLS_WAIT, /* the shell does the handshake */
    ST_IDLE,
    ST_TXN,
    ST_QUIT, /* QUIT sent */
    ST_CLOSED,
} state;

typedef enum tstep {
    T_MAIL,
    T_RCPT,
    T_DATA,
    T_DOT,         /* the message and "." were sent */
    T_DOT_IGNORED, /* a lone "." after a 354 nobody needed */
    T_RSET,
} tstep;

struct hd_smtpc {
    char *helo;
    hd_smtpc_tls_policy policy;
    bool tls_active;
    state st;

    hd_buf in;     /* server bytes; in.p[in_off..] are unread */
    size_t in_off;
    hd_smtpc_scan scan;
    hd_buf out;    /* commands; out.p[out_off..] are not yet written */
    size_t out_off;

    hd_smtpc_exts ext; /* what the last EHLO offered */

    bool ev_ready, ev_starttls, ev_txn_done;
    bool failed;
    hd_smtpc_result session;

    /* the transaction */
    bool txn_open;
    hd_smtpc_txn txn;
    hd_smtpc_result *res; /* n_res results; code -1 = still open */
    bool *accepted;       /* accepted at RCPT */
    size_t n_res;
    bool pipelined, mail_ok, quit_after;
    size_t n_accepted, rcpt_i;
    tstep tstep;
};

/* ------------------------------------------------------------------ */
/* results and failures                                                */

static void local_result(hd_smtpc_result *r, int code, const char *enhanced,
                         hd_smtpc_phase phase, const char *text)
{
    r->code = code;
    hd_smtpc_copy_text(r->enhanced, sizeof r->enhanced, hd_slice_cstr(enhanced));
    hd_smtpc_copy_text(r->text, sizeof r->text, hd_slice_cstr(text));
    r->phase = phase;
}

static bool rcpt_open(const hd_smtpc *c, size_t i)
{
    return c->res[i].code == -1;
}

/* Give r to every recipient still open. */
static void close_open(hd_smtpc *c, const hd_smtpc_result *r)
{
    for (size_t i = 0; i < c->n_res; i++)
        if (rcpt_open(c, i))
            c->res[i] = *r;
}

/* Undo a half-queued command. */
static void out_truncate(hd_smtpc *c, size_t len)
{
    c->out.len = len;
    if (c->out.p != NULL)
        c->out.p[len] = '\0';
}

static void discard_output(hd_smtpc *c)
{
    hd_buf_reset(&c->out);
    c->out_off = 0;
}

static void discard_input(hd_smtpc *c)
{
    hd_buf_reset(&c->in);
    c->in_off = 0;
    memset(&c->scan, 0, sizeof c->scan);
}

/* The session is over: r goes to the session and to every open
 * recipient; TXN_DONE (if a transaction was open), then CLOSE. */
static void session_fail(hd_smtpc *c, const hd_smtpc_result *r, bool send_quit)
{
    c->failed = true;
    c->session = *r;
    if (c->txn_open) {
        close_open(c, r);
        c->txn_open = false;
        c->ev_txn_done = true;
    }
    if (send_quit)
        (void)hd_buf_append_cstr(&c->out, "QUIT\r\n");
    c->ev_ready = c->ev_starttls = false;
    c->st = ST_CLOSED;
    discard_input(c);
}

static void local_fail(hd_smtpc *c, const char *enhanced, hd_smtpc_phase phase,
                       const char *text, bool send_quit)
{
    hd_smtpc_result r;
    local_result(&r, 0, enhanced, phase, text);
    session_fail(c, &r, send_quit);
}

/* RFC 3463 X.5.0: other or undefined protocol status. */
static void protocol_error(hd_smtpc *c, const char *why)
{
    char text[HD_SMTPC_MAX_REPLY_TEXT];
    snprintf(text, sizeof text, "protocol error: %s", why);
    local_fail(c, "4.5.0", HD_SMTPC_PHASE_SESSION, text, false);
}

static void out_of_memory(hd_smtpc *c)
{
    local_fail(c, "4.3.0", HD_SMTPC_PHASE_SESSION, "out of memory queueing a command", false);
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

/* Queue a command line; on failure the session ends and false returns. */
static bool send_cmd(hd_smtpc *c, const char *verb, const char *arg)
{
    size_t old = c->out.len;
    if (hd_buf_append_cstr(&c->out, verb) == 0 && hd_buf_append_cstr(&c->out, arg) == 0 &&
        hd_buf_append_cstr(&c->out, "\r\n") == 0)
        return true;
    out_truncate(c, old);
    out_of_memory(c);
    return false;
}

static bool send_ehlo(hd_smtpc *c, bool ehlo)
{
    c->st = ehlo ? ST_EHLO : ST_HELO;
    return send_cmd(c, ehlo ? "EHLO " : "HELO ", c->helo);
}

static bool send_rcpt(hd_smtpc *c, size_t i)
{
    size_t old = c->out.len;
    if (hd_buf_printf(&c->out, "RCPT TO:<%s>\r\n", c->txn.rcpts[i]) == 0)
        return true;
    out_truncate(c, old);
    out_of_memory(c);
    return false;
}

static bool send_message(hd_smtpc *c)
{
    size_t need = hd_smtpc_stuff(c->txn.message, NULL, NULL);
    if (hd_buf_reserve(&c->out, need) != 0) {
        out_of_memory(c);
        return false;
    }
    hd_smtpc_stuff(c->txn.message, &c->out, NULL);
    return true;
}

/* ------------------------------------------------------------------ */
/* the dialogue outside a transaction                                  */

static void go_idle(hd_smtpc *c)
{
    c->st = ST_IDLE;
    c->ev_ready = true;
}

/* After EHLO or HELO: STARTTLS if the policy wants it, else ready. */
static void after_hello(hd_smtpc *c)
{
    if (c->tls_active || c->policy == HD_SMTPC_TLS_NONE) {
        go_idle(c);
    } else if (c->ext.bits & SMTPC_EXT_STARTTLS) {
        if (send_cmd(c, "STARTTLS", ""))
            c->st = ST_STARTTLS;
    } else if (c->policy == HD_SMTPC_TLS_REQUIRED) {
        local_fail(c, "4.7.0", HD_SMTPC_PHASE_STARTTLS, "STARTTLS not offered", true);
    } else {
        go_idle(c);
    }
}

static void on_greeting(hd_smtpc *c, const hd_smtpc_result *r)
{
    if (r->code / 100 == 2)
        send_ehlo(c, true);
    else
        session_fail(c, r, true); /* RFC 5321 §3.1: 554 greeting, then QUIT */
}

static void on_ehlo(hd_smtpc *c, const hd_smtpc_result *r, hd_slice reply)
{
    if (r->code / 100 == 2) {
        hd_smtpc_exts_learn(&c->ext, reply);
        after_hello(c);
    } else if (r->code / 100 == 5) {
        /* RFC 5321 §3.2: a server that does not know EHLO gets HELO. */
        hd_smtpc_exts_clear(&c->ext);
        send_ehlo(c, false);
    } else {
        session_fail(c, r, true);
    }
}

static void on_helo(hd_smtpc *c, const hd_smtpc_result *r)
{
    if (r->code / 100 == 2)
        after_hello(c);
    else
        session_fail(c, r, true);
}

static void on_starttls(hd_smtpc *c, const hd_smtpc_result *r)
{
    if (r->code / 100 == 2) {
        /* Bytes after the 220 are discarded by the caller: they came
         * before TLS and must not be read as replies after it. */
        c->st = ST_TLS_WAIT;
        c->ev_starttls = true;
    } else if (c->policy == HD_SMTPC_TLS_REQUIRED) {
        char text[HD_SMTPC_MAX_REPLY_TEXT];
        snprintf(text, sizeof text, "STARTTLS refused: %d %s", r->code, r->text);
        local_fail(c, "4.7.0", HD_SMTPC_PHASE_STARTTLS, text, true);
    } else {
        /* RFC 3207 §4.1: the client may go on without TLS; the plain EHLO
         * still holds. */
        go_idle(c);
    }
}

/* ------------------------------------------------------------------ */
/* the transaction                                                     */

static void txn_finish(hd_smtpc *c)
{
    c->txn_open = false;
    c->ev_txn_done = true;
    if (c->quit_after) {
        if (send_cmd(c, "QUIT", ""))
            c->st = ST_QUIT;
    } else {
        go_idle(c);
    }
}

/* Give r (with phase) to every recipient accepted at RCPT. */
static void close_accepted(hd_smtpc *c, const hd_smtpc_result *r, hd_smtpc_phase phase)
{
    for (size_t i = 0; i < c->n_res; i++)
        if (c->accepted[i] && rcpt_open(c, i)) {
            c->res[i] = *r;
            c->res[i].phase = phase;
        }
}

/* The transaction ends without a final reply to "." */
static void txn_abort(hd_smtpc *c)
{
    if (c->mail_ok) {
        if (send_cmd(c, "RSET", ""))
            c->tstep = T_RSET;
    } else {
        txn_finish(c);
    }
}

static void on_mail(hd_smtpc *c, const hd_smtpc_result *r)
{
    c->mail_ok = r->code / 100 == 2;
    if (!c->mail_ok) {
        hd_smtpc_result m = *r;
        m.phase = HD_SMTPC_PHASE_MAIL;
        close_open(c, &m);
    }
    c->rcpt_i = 0;
    c->tstep = T_RCPT;
    if (c->pipelined)
        return; /* the RCPT and DATA replies follow */
    if (c->mail_ok)
        send_rcpt(c, 0);
    else
        txn_finish(c);
}

static void on_rcpt(hd_smtpc *c, const hd_smtpc_result *r)
{
    size_t i = c->rcpt_i++;
    if (c->mail_ok) {
        c->res[i] = *r;
        c->res[i].phase = HD_SMTPC_PHASE_RCPT;
        if (r->code / 100 == 2) {
            c->accepted[i] = true;
            c->n_accepted++;
            c->res[i].code = -1; /* open until the reply to "." */
        }
    }
    if (c->rcpt_i < c->txn.n_rcpts) {
        if (!c->pipelined)
            send_rcpt(c, c->rcpt_i);
        return;
    }
    if (c->pipelined) {
        c->tstep = T_DATA;
    } else if (c->n_accepted > 0) {
        if (send_cmd(c, "DATA", ""))
            c->tstep = T_DATA;
    } else {
        txn_abort(c);
    }
}

static void on_data(hd_smtpc *c, const hd_smtpc_result *r)
{
    if (r->code / 100 == 3) {
        if (c->mail_ok && c->n_accepted > 0) {
            if (send_message(c))
                c->tstep = T_DOT;
        } else if (send_cmd(c, ".", "")) {
            c->tstep = T_DOT_IGNORED; /* RFC 2920 §3.1 */
        }
        return;
    }
    if (r->code / 100 == 2) {
        protocol_error(c, "DATA answered with a 2xx reply");
        return;
    }
    close_accepted(c, r, HD_SMTPC_PHASE_DATA);
    txn_abort(c);
}

static void on_dot(hd_smtpc *c, const hd_smtpc_result *r)
{
    close_accepted(c, r, HD_SMTPC_PHASE_DATA);
    txn_finish(c);
}

static void on_rset(hd_smtpc *c, const hd_smtpc_result *r)
{
    /* A server that refuses RSET is in a state we do not know: finish
     * this transaction, then leave. */
    if (r->code / 100 != 2)
        c->quit_after = true;
    txn_finish(c);
}

static hd_smtpc_phase txn_phase(const hd_smtpc *c)
{
    switch (c->tstep) {
    case T_MAIL:
        return HD_SMTPC_PHASE_MAIL;
    case T_RCPT:
        return HD_SMTPC_PHASE_RCPT;
    case T_DATA:
    case T_DOT:
    case T_DOT_IGNORED:
        return HD_SMTPC_PHASE_DATA;
    case T_RSET:
        break;
    }
    return HD_SMTPC_PHASE_SESSION;
}

static void on_txn_reply(hd_smtpc *c, const hd_smtpc_result *r)
{
    if (r->code / 100 == 3 && c->tstep != T_DATA) {
        char why[64];
        snprintf(why, sizeof why, "unexpected %d reply", r->code);
        protocol_error(c, why);
        return;
    }
    switch (c->tstep) {
    case T_MAIL:
        on_mail(c, r);
        break;
    case T_RCPT:
        on_rcpt(c, r);
        break;
    case T_DATA:
        on_data(c, r);
        break;
    case T_DOT:
        on_dot(c, r);
        break;
    case T_DOT_IGNORED:
        txn_finish(c);
        break;
    case T_RSET:
        on_rset(c, r);
        break;
    }
}

/* ------------------------------------------------------------------ */
/* replies                                                             */

static hd_smtpc_phase state_phase(const hd_smtpc *c)
{
    switch (c->st) {
    case ST_GREETING:
        return HD_SMTPC_PHASE_CONNECT;
    case ST_EHLO:
    case ST_HELO:
        return HD_SMTPC_PHASE_EHLO;
    case ST_STARTTLS:
        return HD_SMTPC_PHASE_STARTTLS;
    case ST_TXN:
        return txn_phase(c);
    default:
        break;
    }
    return HD_SMTPC_PHASE_SESSION;
}

static void on_reply(hd_smtpc *c, hd_slice reply, int code)
{
    hd_smtpc_result r;
    hd_smtpc_reply_result(reply, code, &r);
    r.phase = state_phase(c);
    if (c->st == ST_QUIT) {
        c->st = ST_CLOSED;
        return;
    }
    if (code == 421) { /* RFC 5321 §3.8: the server is closing */
        session_fail(c, &r, false);
        return;
    }
    if (code / 100 == 3 && c->st != ST_TXN) {
        char why[64];
        snprintf(why, sizeof why, "unexpected %d reply", code);
        protocol_error(c, why);
        return;
    }
    switch (c->st) {
    case ST_GREETING:
        on_greeting(c, &r);
        break;
    case ST_EHLO:
        on_ehlo(c, &r, reply);
        break;
    case ST_HELO:
        on_helo(c, &r);
        break;
    case ST_STARTTLS:
        on_starttls(c, &r);
        break;
    case ST_TXN:
        on_txn_reply(c, &r);
        break;
    case ST_IDLE:
        protocol_error(c, "reply while no command was pending");
        break;
    default:
        break;
    }
}

/* Read and act on one reply; false when none is complete yet. */
static bool read_reply(hd_smtpc *c)
{
    hd_slice in = hd_slice_make(c->in.p + c->in_off, c->in.len - c->in_off);
    size_t len = 0;
    int code = 0;
    char why[128];
    int s = hd_smtpc_reply_scan(&c->scan, in, &len, &code, why, sizeof why);
    if (s == SMTPC_SCAN_AGAIN)
        return false;
    if (s == SMTPC_SCAN_ERROR) {
        if (c->st == ST_QUIT)
            c->st = ST_CLOSED;
        else
            protocol_error(c, why);
        discard_input(c);
        return true;
    }
    /* Consumed first: the handlers may discard the input (the reply's
     * bytes stay where they are until the next feed). */
    c->in_off += len;
    memset(&c->scan, 0, sizeof c->scan);
    on_reply(c, hd_slice_make(in.p, len), code);
    if (c->st == ST_CLOSED || c->st == ST_TLS_WAIT)
        discard_input(c);
    return true;
}

/* ------------------------------------------------------------------ */
/* public                                                              */

void hd_smtpc_opts_init(hd_smtpc_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->helo_name = "localhost";
    opts->tls = HD_SMTPC_TLS_OPPORTUNISTIC;
}

/* Bytes that must not appear in a value sent inside a command: control
 * characters (CR and LF above all, STYLE §13), and for paths the angle
 * brackets that delimit them. */
static bool clean_value(const char *s, bool path)
{
    for (; *s; s++) {
        uint8_t ch = (uint8_t)*s;
        if (ch < 0x20 || ch == 0x7f || (path && (ch == '<' || ch == '>')))
            return false;
    }
    return true;
}

int hd_smtpc_new(const hd_smtpc_opts *opts, hd_smtpc **out, hd_err *err)
{
    *out = NULL;
    const char *helo = opts->helo_name ? opts->helo_name : "localhost";
    if (*helo == '\0' || strlen(helo) > SMTPC_PATH_MAX || !clean_value(helo, true) ||
        strchr(helo, ' ') != NULL)
        return hd_err_set(err, HD_EINVAL, "smtpc: unusable helo_name");
    hd_smtpc *c = calloc(1, sizeof *c);
    if (c == NULL)
        return hd_err_set(err, HD_ENOMEM, "smtpc: out of memory");
    c->helo = hd_slice_strdup(hd_slice_cstr(helo));
    if (c->helo == NULL) {
        free(c);
        return hd_err_set(err, HD_ENOMEM, "smtpc: out of memory");
    }
    c->policy = opts->tls;
    c->tls_active = opts->tls_active;
    c->st = ST_GREETING;
    hd_buf_init(&c->in, SMTPC_IN_MAX);
    hd_buf_init(&c->out, SMTPC_OUT_MAX);
    *out = c;
    return 0;
}

static void free_txn(hd_smtpc *c)
{
    free(c->res);
    free(c->accepted);
    c->res = NULL;
    c->accepted = NULL;
    c->n_res = 0;
}

void hd_smtpc_free(hd_smtpc *c)
{
    if (c == NULL)
        return;
    free_txn(c);
    hd_buf_free(&c->in);
    hd_buf_free(&c->out);
    free(c->helo);
    free(c);
}

int hd_smtpc_feed(hd_smtpc *c, const void *data, size_t len, hd_err *err)
{
    if (len == 0 || c->st == ST_CLOSED || c->st == ST_TLS_WAIT)
        return 0; /* nothing more is read; before TLS nothing may be */
    if (c->in_off > 0) {
        size_t left = c->in.len - c->in_off;
        memmove(c->in.p, c->in.p + c->in_off, left);
        c->in.len = left;
        c->in_off = 0;
    }
    int rc = hd_buf_append(&c->in, data, len);
    if (rc == HD_ELIMIT) {
        char why[80];
        snprintf(why, sizeof why, "more than %u bytes of unread server input", SMTPC_IN_MAX);
        protocol_error(c, why);
        return hd_err_set(err, HD_ELIMIT, "smtpc: %s", why);
    }
    if (rc != 0) {
        local_fail(c, "4.3.0", HD_SMTPC_PHASE_SESSION, "out of memory reading a reply", false);
        return hd_err_set(err, rc, "smtpc: out of memory reading a reply");
    }
    return 0;
}

hd_smtpc_event hd_smtpc_step(hd_smtpc *c)
{
    for (;;) {
        if (c->ev_txn_done) {
            c->ev_txn_done = false;
            return HD_SMTPC_EV_TXN_DONE;
        }
        if (c->ev_starttls) {
            c->ev_starttls = false;
            return HD_SMTPC_EV_STARTTLS;
        }
        if (c->st == ST_CLOSED)
            return HD_SMTPC_EV_CLOSE;
        if (c->st == ST_TLS_WAIT)
            return HD_SMTPC_EV_NEED_INPUT;
        if (read_reply(c))
            continue;
        if (c->st == ST_IDLE && c->ev_ready) {
            c->ev_ready = false;
            return HD_SMTPC_EV_READY;
        }
        return HD_SMTPC_EV_NEED_INPUT;
    }
}

hd_slice hd_smtpc_output(const hd_smtpc *c)
{
    return hd_slice_make(c->out.p + c->out_off, c->out.len - c->out_off);
}

/* An offset, not a memmove per write: a big message leaves in many
 * partial writes. A buffer that held a big message is given back. */
void hd_smtpc_output_done(hd_smtpc *c, size_t n)
{
    if (n >= c->out.len - c->out_off) {
        if (c->out.cap > SMTPC_OUT_KEEP)
            hd_buf_free(&c->out);
        else
            hd_buf_reset(&c->out);
        c->out_off = 0;
        return;
    }
    c->out_off += n;
}

void hd_smtpc_tls_started(hd_smtpc *c)
{
    if (c->st != ST_TLS_WAIT)
        return;
    /* RFC 3207 §4.2: forget what the server said before TLS. */
    c->tls_active = true;
    c->ev_starttls = false;
    hd_smtpc_exts_clear(&c->ext);
    discard_input(c);
    send_ehlo(c, true);
}

void hd_smtpc_tls_failed(hd_smtpc *c)
{
    if (c->st != ST_TLS_WAIT)
        return;
    c->ev_starttls = false;
    local_fail(c, "4.7.0", HD_SMTPC_PHASE_STARTTLS, "TLS handshake failed", false);
}

static int check_txn(const hd_smtpc_txn *t, hd_err *err)
{
    if (t->mail_from == NULL || (t->rcpts == NULL && t->n_rcpts > 0) ||
        (t->message.p == NULL && t->message.len > 0))
        return hd_err_set(err, HD_EINVAL, "smtpc: incomplete transaction");
    if (t->n_rcpts == 0)
        return hd_err_set(err, HD_EINVAL, "smtpc: transaction without recipients");
    if (t->n_rcpts > SMTPC_MAX_RCPTS)
        return hd_err_set(err, HD_ELIMIT, "smtpc: more than %d recipients", SMTPC_MAX_RCPTS);
    if (t->message.len > HD_LIMIT_MESSAGE_BYTES)
        return hd_err_set(err, HD_ELIMIT, "smtpc: message larger than %u bytes",
                          HD_LIMIT_MESSAGE_BYTES);
    if (strlen(t->mail_from) > SMTPC_PATH_MAX || !clean_value(t->mail_from, true))
        return hd_err_set(err, HD_EINVAL, "smtpc: unusable sender address");
    for (size_t i = 0; i < t->n_rcpts; i++)
        if (t->rcpts[i] == NULL || t->rcpts[i][0] == '\0' ||
            strlen(t->rcpts[i]) > SMTPC_PATH_MAX || !clean_value(t->rcpts[i], true))
            return hd_err_set(err, HD_EINVAL, "smtpc: unusable recipient address #%zu", i);
    return 0;
}

/* Refuse the whole transaction before sending anything. */
static void refuse_local(hd_smtpc *c, int code, const char *enhanced, const char *text)
{
    hd_smtpc_result r;
    local_result(&r, code, enhanced, HD_SMTPC_PHASE_MAIL, text);
    close_open(c, &r);
    txn_finish(c);
}

/* MAIL FROM with the parameters the server understands. */
static int send_mail(hd_smtpc *c, uint64_t size)
{
    const hd_smtpc_txn *t = &c->txn;
    int rc = hd_buf_printf(&c->out, "MAIL FROM:<%s>", t->mail_from);
    if (rc == 0 && (c->ext.bits & SMTPC_EXT_SIZE))
        rc = hd_buf_printf(&c->out, " SIZE=%llu", (unsigned long long)size);
    if (rc == 0 && t->body_8bit && (c->ext.bits & SMTPC_EXT_8BITMIME))
        rc = hd_buf_append_cstr(&c->out, " BODY=8BITMIME");
    if (rc == 0 && t->smtputf8)
        rc = hd_buf_append_cstr(&c->out, " SMTPUTF8");
    if (rc == 0)
        rc = hd_buf_append_cstr(&c->out, "\r\n");
    for (size_t i = 0; rc == 0 && c->pipelined && i < t->n_rcpts; i++)
        rc = hd_buf_printf(&c->out, "RCPT TO:<%s>\r\n", t->rcpts[i]);
    if (rc == 0 && c->pipelined)
        rc = hd_buf_append_cstr(&c->out, "DATA\r\n");
    return rc;
}

int hd_smtpc_begin(hd_smtpc *c, const hd_smtpc_txn *txn, hd_err *err)
{
    if (c->st != ST_IDLE)
        return hd_err_set(err, HD_ESTATE, "smtpc: begin() while the session is not ready");
    int rc = check_txn(txn, err);
    if (rc != 0)
        return rc;
    free_txn(c);
    c->res = calloc(txn->n_rcpts, sizeof *c->res);
    c->accepted = calloc(txn->n_rcpts, sizeof *c->accepted);
    if (c->res == NULL || c->accepted == NULL) {
        free_txn(c);
        return hd_err_set(err, HD_ENOMEM, "smtpc: out of memory");
    }
    c->n_res = txn->n_rcpts;
    for (size_t i = 0; i < c->n_res; i++)
        c->res[i].code = -1;
    c->txn = *txn;
    c->txn_open = true;
    c->ev_ready = false;
    c->mail_ok = c->quit_after = false;
    c->n_accepted = c->rcpt_i = 0;
    c->tstep = T_MAIL;
    c->pipelined = (c->ext.bits & SMTPC_EXT_PIPELINING) != 0;

    uint64_t size = 0;
    hd_smtpc_stuff(txn->message, NULL, &size);
    if (txn->smtputf8 && !(c->ext.bits & SMTPC_EXT_SMTPUTF8)) {
        /* RFC 6531 §3.4: no SMTPUTF8, no delivery of this message here. */
        refuse_local(c, 550, "5.6.7", "SMTPUTF8 needed but not offered by the server");
        return 0;
    }
    if (txn->body_8bit && !(c->ext.bits & SMTPC_EXT_8BITMIME)) {
        /* RFC 6152 §3: no 8-bit data to a server without 8BITMIME */
        refuse_local(c, 554, "5.6.3",
                     "8-bit message not sent: the server does not offer 8BITMIME (RFC 6152 §3), "
                     "and re-encoding the signed message would break its DKIM signatures");
        return 0;
    }
    if (c->ext.max_size > 0 && size > c->ext.max_size) {
        char text[128];
        snprintf(text, sizeof text, "message of %llu bytes exceeds the server's SIZE %llu",
                 (unsigned long long)size, (unsigned long long)c->ext.max_size);
        refuse_local(c, 552, "5.3.4", text); /* RFC 1870 §6 */
        return 0;
    }
    size_t old = c->out.len;
    rc = send_mail(c, size);
    if (rc != 0) {
        out_truncate(c, old);
        c->txn_open = false;
        c->ev_ready = true;
        return hd_err_set(err, rc, "smtpc: cannot queue the transaction");
    }
    c->st = ST_TXN;
    return 0;
}

void hd_smtpc_quit(hd_smtpc *c)
{
    switch (c->st) {
    case ST_CLOSED:
    case ST_QUIT:
        return;
    case ST_IDLE:
        c->ev_ready = false;
        if (send_cmd(c, "QUIT", ""))
            c->st = ST_QUIT;
        return;
    case ST_TLS_WAIT: /* no plain-text QUIT in the middle of a handshake */
        local_fail(c, "4.4.2", HD_SMTPC_PHASE_SESSION, "session ended by the client", false);
        return;
    default:
        local_fail(c, "4.4.2", HD_SMTPC_PHASE_SESSION, "session ended by the client", true);
        return;
    }
}

void hd_smtpc_lost(hd_smtpc *c, const char *why)
{
    if (c->st == ST_CLOSED)
        return;
    discard_output(c);
    if (c->st == ST_QUIT) {
        c->st = ST_CLOSED;
        discard_input(c);
        return;
    }
    /* RFC 3463 X.4.2: bad connection. */
    local_fail(c, "4.4.2", HD_SMTPC_PHASE_SESSION, why ? why : "connection lost", false);
}

const hd_smtpc_result *hd_smtpc_rcpt_result(const hd_smtpc *c, size_t i)
{
    if (i >= c->n_res || c->txn_open)
        return NULL;
    return &c->res[i];
}

bool hd_smtpc_tls_active(const hd_smtpc *c)
{
    return c->tls_active;
}

bool hd_smtpc_has_ext(const hd_smtpc *c, const char *keyword)
{
    return hd_smtpc_exts_has(&c->ext, keyword);
}

uint64_t hd_smtpc_max_size(const hd_smtpc *c)
{
    return c->ext.max_size;
}

const hd_smtpc_result *hd_smtpc_session_result(const hd_smtpc *c)
{
    return c->failed ? &c->session : NULL;
}
