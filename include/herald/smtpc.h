/*
 * herald/smtpc.h - the client side of one SMTP session, sans I/O: what the
 * delivery workers speak to a remote MX (RFC 5321), with EHLO/HELO
 * fallback, opportunistic STARTTLS (RFC 3207), PIPELINING (RFC 2920),
 * SIZE (RFC 1870), 8BITMIME and SMTPUTF8 (RFC 6531), several recipients
 * per transaction and several transactions per connection.
 *
 * The shell connects, then feeds the server's bytes with hd_smtpc_feed()
 * and calls hd_smtpc_step() until it returns HD_SMTPC_EV_NEED_INPUT,
 * writing out hd_smtpc_output() after every step. When the session is
 * idle (HD_SMTPC_EV_READY) the shell starts a transaction with
 * hd_smtpc_begin() or ends with hd_smtpc_quit(). When the transaction is
 * over (HD_SMTPC_EV_TXN_DONE) every recipient has a result
 * (hd_smtpc_rcpt_result()). READY and STARTTLS are raised once each time
 * they become true; later steps return NEED_INPUT until something happens.
 *
 * Replies are parsed with bounds: a reply line is at most 512 bytes
 * (RFC 5321 §4.5.3.1.5; longer lines are cut, not fatal), a multi-line
 * reply at most HD_SMTPC_MAX_REPLY_LINES lines; garbage (a line that does
 * not start with three digits and SP/-) ends the session as a protocol
 * error with a 4xx-class result, so the message is retried elsewhere.
 */
#ifndef HERALD_SMTPC_H
#define HERALD_SMTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

#define HD_SMTPC_MAX_REPLY_LINES 64
#define HD_SMTPC_MAX_REPLY_TEXT 1024  /* reply text kept per result */

typedef struct hd_smtpc hd_smtpc; /* opaque */

typedef enum hd_smtpc_tls_policy {
    HD_SMTPC_TLS_NONE,          /* never STARTTLS */
    HD_SMTPC_TLS_OPPORTUNISTIC, /* STARTTLS when offered; plain otherwise */
    HD_SMTPC_TLS_REQUIRED,      /* no STARTTLS offered → session fails 4xx */
} hd_smtpc_tls_policy;

typedef struct hd_smtpc_opts {
    const char *helo_name;      /* borrowed; EHLO argument */
    hd_smtpc_tls_policy tls;
    bool tls_active;            /* connection is TLS from the start */
} hd_smtpc_opts;

void hd_smtpc_opts_init(hd_smtpc_opts *opts);

typedef enum hd_smtpc_event {
    HD_SMTPC_EV_NEED_INPUT = 0, /* waiting for the server */
    HD_SMTPC_EV_STARTTLS,       /* 220 to STARTTLS came: do the handshake, then hd_smtpc_tls_started() or hd_smtpc_tls_failed() */
    HD_SMTPC_EV_READY,          /* idle after EHLO (or after a transaction): begin() or quit() */
    HD_SMTPC_EV_TXN_DONE,       /* transaction over: read hd_smtpc_txn_result() */
    HD_SMTPC_EV_CLOSE,          /* flush output and close; the session is finished */
} hd_smtpc_event;

/* Where in the dialogue a result was decided. */
typedef enum hd_smtpc_phase {
    HD_SMTPC_PHASE_CONNECT,     /* greeting */
    HD_SMTPC_PHASE_EHLO,
    HD_SMTPC_PHASE_STARTTLS,
    HD_SMTPC_PHASE_MAIL,
    HD_SMTPC_PHASE_RCPT,
    HD_SMTPC_PHASE_DATA,        /* the DATA command or the final reply after "." */
    HD_SMTPC_PHASE_SESSION,     /* connection lost, protocol error, 421 */
} hd_smtpc_phase;

/* code 0: no reply to report (connection lost, protocol error, TLS policy
 * or handshake); always temporary, with a 4.x.x enhanced code. */
typedef struct hd_smtpc_result {
    int code;                        /* 250, 450, 550 ... ; 0 = no reply */
    char enhanced[16];               /* "5.1.1" or "" */
    char text[HD_SMTPC_MAX_REPLY_TEXT]; /* whole reply, lines joined by " / " */
    hd_smtpc_phase phase;
} hd_smtpc_result;

/* A transaction. Everything is borrowed until HD_SMTPC_EV_TXN_DONE. The
 * message must have CRLF line ends; the session dot-stuffs it and adds
 * the final ".". */
typedef struct hd_smtpc_txn {
    const char *mail_from;       /* "" for the null sender */
    const char *const *rcpts;
    size_t n_rcpts;
    hd_slice message;
    bool body_8bit;              /* BODY=8BITMIME; refused 554 5.6.3 if not offered (RFC 6152 §3) */
    bool smtputf8;               /* needs SMTPUTF8; refused 5xx-class if not offered */
} hd_smtpc_txn;

int hd_smtpc_new(const hd_smtpc_opts *opts, hd_smtpc **out, hd_err *err);
void hd_smtpc_free(hd_smtpc *c);

int hd_smtpc_feed(hd_smtpc *c, const void *data, size_t len, hd_err *err);
hd_smtpc_event hd_smtpc_step(hd_smtpc *c);

hd_slice hd_smtpc_output(const hd_smtpc *c);
void hd_smtpc_output_done(hd_smtpc *c, size_t n);

void hd_smtpc_tls_started(hd_smtpc *c);  /* re-sends EHLO (RFC 3207 §4.2) */
void hd_smtpc_tls_failed(hd_smtpc *c);   /* session ends (the shell may retry without TLS) */

/* Start a transaction; only when the last event was HD_SMTPC_EV_READY. */
int hd_smtpc_begin(hd_smtpc *c, const hd_smtpc_txn *txn, hd_err *err);
void hd_smtpc_quit(hd_smtpc *c);

/* The connection was lost or timed out (the shell saw EOF or an error):
 * every recipient of a running transaction gets code 0, phase SESSION. */
void hd_smtpc_lost(hd_smtpc *c, const char *why);

/* After HD_SMTPC_EV_TXN_DONE: the result of recipient i (same order as
 * txn.rcpts). A recipient accepted at RCPT takes the DATA result. A
 * session-level failure (greeting, EHLO, MAIL, 421, lost connection)
 * applies to every recipient. */
const hd_smtpc_result *hd_smtpc_rcpt_result(const hd_smtpc *c, size_t i);

/* Session facts: what the server offered (valid after EHLO). */
bool hd_smtpc_tls_active(const hd_smtpc *c);
bool hd_smtpc_has_ext(const hd_smtpc *c, const char *keyword); /* "PIPELINING", "SIZE", ... */
uint64_t hd_smtpc_max_size(const hd_smtpc *c);  /* 0 = not announced */
const hd_smtpc_result *hd_smtpc_session_result(const hd_smtpc *c); /* last session-level failure, NULL if none */

#endif
