/*
 * herald/smtpd.h - the server side of one SMTP session, sans I/O.
 *
 * RFC 5321 with the submission profile of RFC 6409 and the extensions
 * STARTTLS (RFC 3207), AUTH PLAIN/LOGIN (RFC 4954), SIZE (RFC 1870),
 * PIPELINING (RFC 2920), 8BITMIME, ENHANCEDSTATUSCODES (RFC 2034) and
 * SMTPUTF8 (RFC 6531).
 *
 * The session never touches a socket or a clock. The shell (serve/) feeds
 * the bytes it read with hd_smtpd_feed(), then calls hd_smtpd_step() until
 * it returns HD_SMTPD_EV_NEED_INPUT; after every step it writes out
 * hd_smtpd_output() and calls hd_smtpd_output_done(). Replies are produced
 * in order; with PIPELINING several may be waiting in the output.
 *
 * Some events need a decision from the shell (AUTH credentials, a sender,
 * a recipient, a complete message). After such an event the session stops
 * consuming input (step returns HD_SMTPD_EV_WAIT) until the matching
 * hd_smtpd_answer_*() is called; the decision may come much later (the
 * shell can sign and commit a message to disk in another thread first).
 *
 * Line-ending hygiene (SMTP smuggling): commands and DATA lines must end
 * with CRLF. A bare LF or bare CR in a command line is answered 500 5.5.2;
 * in DATA it marks the message as refused: the session reads on to the real
 * <CRLF>.<CRLF> and answers 550 5.6.0 without raising HD_SMTPD_EV_MESSAGE,
 * so <LF>.<LF>, <CR>.<CR>, <LF>.<CRLF> and the like can never end DATA or
 * split one message into two.
 */
#ifndef HERALD_SMTPD_H
#define HERALD_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

typedef struct hd_smtpd hd_smtpd; /* opaque */

typedef struct hd_smtpd_opts {
    const char *hostname;      /* borrowed; greeting and EHLO reply */
    size_t max_message_size;   /* SIZE; bytes of DATA (after unstuffing) */
    size_t max_recipients;     /* RCPTs per transaction; more get 452 4.5.3 */
    size_t max_line;           /* command line incl. CRLF (RFC 5321 §4.5.3.1.4: >= 512) */
    size_t max_data_line;      /* text line in DATA incl. CRLF (>= 1000) */
    unsigned max_errors;       /* bad commands before 421 4.7.0 and close */
    size_t max_pipeline;       /* unread input bytes held while waiting */
    bool tls_available;        /* advertise STARTTLS (not once TLS is active) */
    bool tls_active;           /* the connection is already TLS (implicit TLS) */
    bool auth_without_tls;     /* offer AUTH before TLS (loopback only) */
    bool auth_required;        /* MAIL needs a successful AUTH first (530 5.7.0) */
    bool auth_disabled;        /* never offer AUTH, answer it 502 (an MX for inbound mail) */
    bool postmaster_needs_domain; /* RCPT TO:<postmaster> gets 550 5.1.3 (submission: no local
                                   * postmaster there; RFC 5321 §4.5.1 makes it legal on an MX) */
} hd_smtpd_opts;

/* Defaults: hostname "localhost", 25 MB, 1000 recipients, 1000-byte command
 * lines, 8192-byte data lines (RFC 5321's 1000 is what a receiver must at
 * least take; longer lines are common, see smtpd.c), 20 errors, 64 KB
 * pipeline, no TLS, auth not required. hd_smtpd_new() refuses max_line
 * < 512, max_data_line < 1000, max_pipeline < max_line, zero limits and
 * auth_required with auth_disabled. */
void hd_smtpd_opts_init(hd_smtpd_opts *opts);

typedef enum hd_smtpd_event {
    HD_SMTPD_EV_NEED_INPUT = 0, /* all input consumed; feed more */
    HD_SMTPD_EV_WAIT,           /* waiting for an hd_smtpd_answer_*() call */
    HD_SMTPD_EV_STARTTLS,       /* flush output (the 220), start TLS, then hd_smtpd_tls_started() */
    HD_SMTPD_EV_AUTH,           /* credentials ready: hd_smtpd_auth(); answer_auth() */
    HD_SMTPD_EV_MAIL,           /* MAIL FROM parsed: hd_smtpd_mail(); answer_mail() */
    HD_SMTPD_EV_RCPT,           /* RCPT TO parsed: hd_smtpd_rcpt(); answer_rcpt() */
    HD_SMTPD_EV_MESSAGE,        /* DATA complete: hd_smtpd_message(); answer_message() */
    HD_SMTPD_EV_CLOSE,          /* flush output, then close (QUIT, 421, error limit) */
} hd_smtpd_event;

/* SMTP reply decided by the shell: code 250/451/550..., enhanced status
 * "2.1.0" (may be NULL: the session picks one from the code), text
 * without CRLF (borrowed, copied; control bytes are replaced). */
typedef struct hd_smtpd_reply {
    int code;
    const char *enhanced;
    const char *text;
} hd_smtpd_reply;

typedef struct hd_smtpd_auth_info {
    const char *mechanism;   /* "PLAIN" or "LOGIN" */
    const char *authzid;     /* "" when absent */
    const char *authcid;     /* user name */
    const char *password;    /* wiped by the session after answer_auth() */
} hd_smtpd_auth_info;

/* MAIL FROM: reverse path (may be "" for the null sender <>) and the
 * parameters RFC 1870/6152/6531 define. Everything is borrowed from the
 * session until the next step. */
typedef struct hd_smtpd_mail_info {
    const char *reverse_path; /* without angle brackets */
    uint64_t size;            /* SIZE=, 0 if absent */
    bool body_8bit;           /* BODY=8BITMIME */
    bool smtputf8;            /* SMTPUTF8 */
} hd_smtpd_mail_info;

typedef struct hd_smtpd_message_info {
    hd_slice data;            /* message: dot-unstuffed, CRLF line ends, without the final "." line */
    const char *reverse_path;
    const char *const *rcpts; /* accepted recipients, n_rcpts of them */
    size_t n_rcpts;
    bool body_8bit;
    bool smtputf8;
} hd_smtpd_message_info;

/* opts NULL: the defaults. HD_EINVAL for options outside the limits above. */
int hd_smtpd_new(const hd_smtpd_opts *opts, hd_smtpd **out, hd_err *err);
void hd_smtpd_free(hd_smtpd *s);

/* Queue the greeting ("220 host ESMTP herald"); call once, first. With
 * ok == false the session answers 554 and then 503 to everything but QUIT
 * (RFC 5321 §3.1), e.g. when the server is overloaded. */
void hd_smtpd_greet(hd_smtpd *s, bool ok);

/* Append bytes read from the client. HD_ELIMIT when more than
 * max_pipeline bytes (plus one partial command line, < max_line) would be
 * waiting unprocessed: the client pipelined too much while the session
 * waited for an answer, and the shell then closes. A feed of at most
 * max_pipeline bytes after step returned NEED_INPUT always fits. Input
 * fed after EV_CLOSE, or between EV_STARTTLS and tls_started(), is
 * dropped. */
int hd_smtpd_feed(hd_smtpd *s, const void *data, size_t len, hd_err *err);

/* Run until an event; see hd_smtpd_event. Never fails: protocol errors
 * become replies. */
hd_smtpd_event hd_smtpd_step(hd_smtpd *s);

/* Bytes to send to the client; borrowed until hd_smtpd_output_done(). */
hd_slice hd_smtpd_output(const hd_smtpd *s);
void hd_smtpd_output_done(hd_smtpd *s, size_t n);

/* TLS is up: forget everything learnt before (RFC 3207 §4.2), expect EHLO.
 * Any input fed before the TLS handshake was discarded by the session
 * when it raised HD_SMTPD_EV_STARTTLS (command injection defence). */
void hd_smtpd_tls_started(hd_smtpd *s);

/* Event data, valid after the matching event until the answer. */
const hd_smtpd_auth_info *hd_smtpd_auth(const hd_smtpd *s);
const hd_smtpd_mail_info *hd_smtpd_mail(const hd_smtpd *s);
const char *hd_smtpd_rcpt(const hd_smtpd *s);        /* forward path, no brackets */
const hd_smtpd_message_info *hd_smtpd_message(const hd_smtpd *s);

/* Answers. answer_auth: ok → 235 2.7.0; not ok → 535 5.7.8. refuse_auth:
 * the pending AUTH is refused without a verdict on the credentials, with
 * the shell's reply (454 4.7.0 when r is NULL or not 4xx/5xx), e.g. when
 * too many password checks are under way; it counts as an error. The others
 * send the reply given; a 2xx keeps the sender/recipient/message. A code
 * outside 2xx/4xx/5xx becomes 451 4.3.0; an enhanced code whose class
 * does not match the code is replaced. After an answer, call
 * hd_smtpd_step() again: the reply is in the output and pipelined input
 * goes on. An answer that matches no pending event is ignored. */
void hd_smtpd_answer_auth(hd_smtpd *s, bool ok);
void hd_smtpd_refuse_auth(hd_smtpd *s, const hd_smtpd_reply *r);
void hd_smtpd_answer_mail(hd_smtpd *s, const hd_smtpd_reply *r);
void hd_smtpd_answer_rcpt(hd_smtpd *s, const hd_smtpd_reply *r);
void hd_smtpd_answer_message(hd_smtpd *s, const hd_smtpd_reply *r);

/* Session facts for the shell. */
bool hd_smtpd_is_authenticated(const hd_smtpd *s);
const char *hd_smtpd_auth_user(const hd_smtpd *s);   /* NULL unless authenticated */
const char *hd_smtpd_helo(const hd_smtpd *s);        /* "" before HELO/EHLO */
bool hd_smtpd_esmtp(const hd_smtpd *s);              /* EHLO (not HELO) */

/* Queue an unsolicited 421 4.3.2 "<text>" and close (shutdown, timeout). */
void hd_smtpd_shutdown(hd_smtpd *s, const char *text);

#endif
