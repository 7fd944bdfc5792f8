/*
 * smtpd_int.h - what the files of the smtpd module share; not a public door.
 *
 * smtpd.c   the session: options, input framing, step loop, replies, answers
 * cmd.c     the command table and the handlers of the simple commands
 * auth.c    AUTH PLAIN / LOGIN (RFC 4954)
 * data.c    DATA reception: CRLF framing, dot-unstuffing, smuggling defence
 * path.c    RFC 5321 §4.1.2 Path and ESMTP parameter grammar
 */
#ifndef HERALD_SMTPD_INT_H
#define HERALD_SMTPD_INT_H

#include <herald/smtpd.h>

/* RFC 5321 §4.5.3.1.1-3: local part, domain and whole path (with its
 * angle brackets and source route) in octets. */
#define SMTPD_LOCAL_MAX 64
#define SMTPD_DOMAIN_MAX 255
#define SMTPD_PATH_MAX 256
/* RFC 1035 §2.3.4: one label of a domain name. */
#define SMTPD_LABEL_MAX 63
/* RFC 5321 §4.5.3.1.5: a reply line including the code and CRLF. */
#define SMTPD_REPLY_LINE_MAX 512
/* Reply text the shell may give; cut beyond (leaves room for code and
 * enhanced code within SMTPD_REPLY_LINE_MAX). */
#define SMTPD_TEXT_MAX 400
/* HELO/EHLO argument kept (a domain name or address literal). */
#define SMTPD_HELO_MAX 255

/* Handlers and the step loop return an hd_smtpd_event or this: go on
 * with the next input. */
#define SMTPD_CONTINUE (-1)

typedef enum smtpd_pending {
    SMTPD_P_NONE,
    SMTPD_P_AUTH,
    SMTPD_P_MAIL,
    SMTPD_P_RCPT,
    SMTPD_P_MESSAGE,
    SMTPD_P_STARTTLS,
} smtpd_pending;

typedef enum smtpd_auth_step {
    SMTPD_AUTH_IDLE,
    SMTPD_AUTH_PLAIN,      /* sent "334 ", want the PLAIN response */
    SMTPD_AUTH_LOGIN_USER, /* sent "334 VXNlcm5hbWU6" */
    SMTPD_AUTH_LOGIN_PASS, /* sent "334 UGFzc3dvcmQ6" */
} smtpd_auth_step;

/* Where DATA reception is within a line (see data.c). */
typedef enum smtpd_data_state {
    SMTPD_D_LINE_START, /* after <CRLF> (or the 354) */
    SMTPD_D_DOT,        /* the line began with "." (held back) */
    SMTPD_D_DOT_CR,     /* "." then CR at the start of a line */
    SMTPD_D_TEXT,       /* inside a line */
    SMTPD_D_CR,         /* a CR inside a line (held back) */
} smtpd_data_state;

/* Why a received message is refused; the first reason seen wins. */
typedef enum smtpd_refuse {
    SMTPD_REFUSE_NONE,
    SMTPD_REFUSE_BARE_LF,
    SMTPD_REFUSE_BARE_CR,
    SMTPD_REFUSE_NUL,
} smtpd_refuse;

struct hd_smtpd {
    hd_smtpd_opts o;
    char host[SMTPD_HELO_MAX + 1];

    /* input not yet consumed is in.p[in_off .. in.len) */
    hd_buf in;
    size_t in_off;
    bool skipping; /* discarding an over-long command line up to CRLF */
    bool skip_cr;  /* ... and the last byte discarded was a CR */

    hd_buf out;
    size_t out_soft; /* beyond this, stop: 421 (see smtpd.c) */

    bool greeted, refused, closed;
    unsigned errors;
    smtpd_pending pending;

    /* session facts */
    char helo[SMTPD_HELO_MAX + 1];
    bool have_helo, esmtp, tls;
    bool authed;
    char *auth_user;

    /* AUTH exchange; cred holds "authzid\0authcid\0password\0" */
    smtpd_auth_step auth_step;
    const char *auth_mech;
    hd_buf cred;
    hd_smtpd_auth_info auth_info;

    /* the MAIL or RCPT waiting for an answer */
    char cand[SMTPD_PATH_MAX + 1];
    hd_smtpd_mail_info cand_mail;

    /* the transaction */
    bool have_mail;
    char from[SMTPD_PATH_MAX + 1];
    hd_smtpd_mail_info mail;
    char **rcpts;
    size_t n_rcpts, cap_rcpts;

    /* DATA */
    bool in_data;
    smtpd_data_state ds;
    size_t line_no, line_len;
    smtpd_refuse refuse;
    size_t refuse_line;
    bool too_big;
    size_t long_line; /* first line over max_data_line, 0 if none */
    hd_buf msg;
    hd_smtpd_message_info msg_info;
};

/* smtpd.c ----------------------------------------------------------------- */

/* Queue "code enh text\r\n" (enh may be NULL: 3xx replies, greeting,
 * HELO/EHLO). The text is the session's own and trusted. */
void smtpd_reply(hd_smtpd *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A reply for a bad command: counts an error and, at max_errors, adds
 * 421 4.7.0 and closes. Returns SMTPD_CONTINUE or HD_SMTPD_EV_CLOSE. */
int smtpd_fail(hd_smtpd *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Count an error already answered; same return as smtpd_fail. */
int smtpd_count_error(hd_smtpd *s);
/* Forget the transaction (RSET, EHLO, end of DATA). */
void smtpd_txn_reset(hd_smtpd *s);
/* Close after the replies queued so far. */
int smtpd_close(hd_smtpd *s);

/* cmd.c ------------------------------------------------------------------- */

/* Handle one command line (without its CRLF). */
int smtpd_command(hd_smtpd *s, hd_slice line);
/* The AUTH mechanisms are offered now (RFC 4954 §4, RFC 3207 §4). */
bool smtpd_auth_offered(const hd_smtpd *s);

/* auth.c ------------------------------------------------------------------ */

int smtpd_cmd_auth(hd_smtpd *s, hd_slice arg);
/* A line during an AUTH exchange (a base64 response or "*"). */
int smtpd_auth_line(hd_smtpd *s, hd_slice line);
/* End the exchange and wipe the credentials. */
void smtpd_auth_clear(hd_smtpd *s);

/* data.c ------------------------------------------------------------------ */

void smtpd_data_begin(hd_smtpd *s);
/* Consume input as message text; returns an event, or SMTPD_CONTINUE
 * when the input is used up or DATA ended with a reply (in_data false). */
int smtpd_data_consume(hd_smtpd *s);
/* Drop the received message. */
void smtpd_data_clear(hd_smtpd *s);

/* path.c ------------------------------------------------------------------ */

typedef enum smtpd_path_rc {
    SMTPD_PATH_OK,
    SMTPD_PATH_SYNTAX,      /* why says what */
    SMTPD_PATH_LOCAL_LONG,  /* local part over SMTPD_LOCAL_MAX */
    SMTPD_PATH_DOMAIN_LONG, /* domain over SMTPD_DOMAIN_MAX */
    SMTPD_PATH_TOO_LONG,    /* path over SMTPD_PATH_MAX */
} smtpd_path_rc;

typedef struct smtpd_path {
    char mailbox[SMTPD_PATH_MAX + 1]; /* source route stripped; "" for <> */
    bool is_null;                     /* <> */
    bool eight_bit;                   /* a byte >= 0x80 */
    bool utf8_ok;                     /* ... all of them well-formed UTF-8 */
    const char *why;                  /* reason for SMTPD_PATH_SYNTAX */
} smtpd_path;

/* Parse a Path (RFC 5321 §4.1.2) at the start of *in and advance past
 * its '>'. allow_null: "<>" (MAIL); allow_postmaster: "<postmaster>"
 * without a domain (RCPT, RFC 5321 §4.5.1). */
smtpd_path_rc smtpd_path_parse(hd_slice *in, bool allow_null, bool allow_postmaster,
                               smtpd_path *out);

/* The next " keyword[=value]" parameter after a path: 1 found, 0 at the
 * end, -1 malformed (RFC 5321 §4.1.2 Mail-parameters, with RFC 6531's
 * UTF-8 values). */
int smtpd_param_next(hd_slice *in, hd_slice *keyword, hd_slice *value, bool *has_value);

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
bool smtpd_utf8_valid(hd_slice s);

/* For tests and the fuzzer: bytes the session holds in its buffers. */
size_t smtpd_mem_held(const hd_smtpd *s);

#endif
