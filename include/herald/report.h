/*
 * herald/report.h - reading the mail that comes back: delivery status
 * notifications (RFC 3464, status codes RFC 3463), feedback reports (ARF,
 * RFC 5965), and non-standard bounces recognised by a rule set kept in a
 * text file (data/bounce-rules.txt), not in code.
 *
 * Pure parsing: no I/O, no matching against the queue. The results carry
 * what a caller needs to find the original message and recipient: the
 * DSN's To: and the returned header's Return-Path (herald's VERP address,
 * see verp.h), the returned Message-ID, and each recipient's address.
 *
 * Results are self-contained (copied into fixed-size fields, so they do
 * not borrow the message). Every field is bounded: a longer value is cut
 * and HD_REPORT_TRUNCATED set; more than HD_REPORT_MAX_RCPTS recipients
 * are dropped with HD_REPORT_TOO_MANY. Damage that leaves something usable
 * gives a result with HD_REPORT_PARTIAL; a message that is not a report at
 * all is HD_ENOTFOUND; a MIME bomb is HD_ELIMIT (from mime.h).
 */
#ifndef HERALD_REPORT_H
#define HERALD_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

/* Recipient blocks kept from one DSN; a real DSN has a handful. */
#define HD_REPORT_MAX_RCPTS 1000
/* RFC 5321 §4.5.3.1.3: a path is at most 256 octets. */
#define HD_REPORT_ADDR_MAX 256
/* RFC 5322 §2.1.1: a line is at most 998 octets; unfolded values longer
 * than that (a chatty Diagnostic-Code) are cut. */
#define HD_REPORT_TEXT_MAX 998
/* Short fields: dates, MTA names (a domain is at most 253), type names. */
#define HD_REPORT_SHORT_MAX 256
/* Decoded bytes kept of one report part or of a bounce's text. */
#define HD_REPORT_PART_MAX (1024u * 1024)
/* Rules in one rule file. */
#define HD_REPORT_MAX_RULES 500

/* Bits of hd_dsn.flags and hd_arf.flags. */
enum {
    HD_REPORT_PARTIAL = 1u << 0,     /* something was unreadable; the rest is kept */
    HD_REPORT_TRUNCATED = 1u << 1,   /* a value was longer than its field */
    HD_REPORT_TOO_MANY = 1u << 2,    /* recipients past HD_REPORT_MAX_RCPTS dropped */
    HD_REPORT_NONSTANDARD = 1u << 3, /* read by the rule set, not RFC 3464 */
    HD_REPORT_NO_ORIGINAL = 1u << 4, /* no returned message or header found */
    /* deviations from RFC 3464 read leniently, as real MTAs send them */
    HD_REPORT_LAX_SEPARATOR = 1u << 5, /* groups parted by a line of only white space */
    HD_REPORT_LAX_STATUS = 1u << 6,    /* a Status that is an SMTP reply code, not RFC 3463 */
    HD_REPORT_BAD_ORIGINAL = 1u << 7,  /* the returned part is not a readable message */
    HD_REPORT_LAX_FIELDS = 1u << 8,    /* fields out of RFC 3464 shape, read as meant */
    HD_REPORT_FROM_ORIGINAL = 1u << 9, /* the bounce names no address: the failed one is
                                        * the returned message's sole recipient */
};
#define HD_REPORT_FLAG_BITS 10

typedef enum hd_dsn_action {
    HD_DSN_ACTION_NONE = 0, /* absent or unknown */
    HD_DSN_FAILED,
    HD_DSN_DELAYED,
    HD_DSN_DELIVERED,
    HD_DSN_RELAYED,
    HD_DSN_EXPANDED,
} hd_dsn_action;

typedef enum hd_bounce_class {
    HD_BOUNCE_NONE = 0, /* not a failure (delivered, relayed, expanded) or unknown */
    HD_BOUNCE_HARD,     /* the address is bad for good: suppress it */
    HD_BOUNCE_SOFT,     /* a failure that says nothing final about the address: record it */
} hd_bounce_class;

/* Why a recipient failed, named as Sisimai (the reference bounce
 * classifier) names its reasons, so the two can be compared and users of
 * either read the same words. Only the reasons about the address itself
 * are hard (userunknown, hostunknown, hasmoved, and notaccept with a 5.x.x
 * status); every other failure is soft: a full mailbox, a message too
 * large, a content or policy rejection, a block or an expiry say nothing
 * final about the address (hd_bounce_reason_class). */
typedef enum hd_bounce_reason {
    HD_REASON_UNDEFINED = 0, /* a failure whose reason could not be read */
    HD_REASON_USERUNKNOWN,   /* no such mailbox (RFC 3463 X.1.1) */
    HD_REASON_HOSTUNKNOWN,   /* no such domain or host (X.1.2) */
    HD_REASON_HASMOVED,      /* the mailbox moved, no forwarding (X.1.6) */
    HD_REASON_NOTACCEPT,     /* the domain takes no mail (null MX, RFC 7505: X.1.10) */
    HD_REASON_MAILBOXFULL,   /* over quota (X.2.2) */
    HD_REASON_MESGTOOBIG,    /* message too large (X.2.3, X.3.4) */
    HD_REASON_EXCEEDLIMIT,   /* over a per-mailbox size limit */
    HD_REASON_SUSPEND,       /* mailbox disabled or suspended (X.2.1) */
    HD_REASON_FILTERED,      /* refused by the recipient's filter */
    HD_REASON_BLOCKED,       /* the sending IP or host is blocked */
    HD_REASON_REJECTED,      /* the envelope sender was refused */
    HD_REASON_SPAMDETECTED,  /* judged spam */
    HD_REASON_VIRUSDETECTED, /* judged infected */
    HD_REASON_POLICYVIOLATION, /* a local policy refused it */
    HD_REASON_SECURITYERROR, /* authentication or security refusal (X.7.x) */
    HD_REASON_CONTENTERROR,  /* the content was malformed (X.6.x) */
    HD_REASON_SYNTAXERROR,   /* an SMTP syntax error (X.5.2) */
    HD_REASON_EXPIRED,       /* given up after retrying (X.4.7) */
    HD_REASON_NETWORKERROR,  /* routing or network trouble (X.4.x) */
    HD_REASON_NORELAYING,    /* relaying denied */
    HD_REASON_SYSTEMERROR,   /* the remote system failed (X.3.x) */
    HD_REASON_SYSTEMFULL,    /* the remote system is out of space (X.3.1) */
    HD_REASON_TOOMANYCONN,   /* too many connections or messages: rate-limited */
    HD_REASON_MAILERERROR,   /* a local mailer program failed */
    HD_REASON_ONHOLD,        /* the report leaves the outcome open */
    HD_REASON_VACATION,      /* an auto-reply, not a failure */
    HD_REASON_DELIVERED,     /* a success report (Action: delivered/relayed/expanded) */
    HD_REASON_COUNT
} hd_bounce_reason;

typedef struct hd_dsn_rcpt {
    char final_recipient[HD_REPORT_ADDR_MAX + 1];    /* address, "rfc822;" removed */
    char original_recipient[HD_REPORT_ADDR_MAX + 1]; /* "" when absent */
    hd_dsn_action action;
    char status[16];     /* "5.1.1" as given, "" when absent or malformed */
    int status_class;    /* 2, 4, 5, or 0 */
    char remote_mta[HD_REPORT_SHORT_MAX + 1];      /* "dns;" removed */
    char diagnostic_type[32];                      /* "smtp", "X-Postfix", ... */
    char diagnostic[HD_REPORT_TEXT_MAX + 1];       /* unfolded */
    char last_attempt_date[HD_REPORT_SHORT_MAX + 1];
    hd_bounce_reason reason;
    hd_bounce_class bounce; /* hd_bounce_reason_class(reason, status) */
} hd_dsn_rcpt;

typedef struct hd_dsn {
    char reporting_mta[HD_REPORT_SHORT_MAX + 1];
    char original_envelope_id[HD_REPORT_SHORT_MAX + 1];
    char arrival_date[HD_REPORT_SHORT_MAX + 1];
    hd_dsn_rcpt *rcpts; /* owned; hd_dsn_free */
    size_t nrcpts;
    /* the original message, from the returned message or header part */
    char orig_message_id[HD_REPORT_TEXT_MAX + 1];
    char orig_return_path[HD_REPORT_ADDR_MAX + 1]; /* "" when the part has none */
    char dsn_to[HD_REPORT_ADDR_MAX + 1];           /* the DSN's own To: address */
    /* best guess at the original envelope sender: orig_return_path, else
     * dsn_to (a DSN goes to the MAIL FROM, RFC 3461 §6.1) */
    char envelope_sender[HD_REPORT_ADDR_MAX + 1];
    unsigned flags;
} hd_dsn;

/* RFC 5965 §7.3 feedback types, and RFC 6591's auth-failure. */
typedef enum hd_arf_type {
    HD_ARF_OTHER = 0, /* "other" or an unknown type (kept in feedback_type) */
    HD_ARF_ABUSE,
    HD_ARF_FRAUD,
    HD_ARF_VIRUS,
    HD_ARF_NOT_SPAM,
    HD_ARF_AUTH_FAILURE,
} hd_arf_type;

typedef struct hd_arf {
    hd_arf_type type;
    char feedback_type[64];
    char user_agent[HD_REPORT_SHORT_MAX + 1];
    char version[16];
    char original_mail_from[HD_REPORT_ADDR_MAX + 1];
    char original_rcpt_to[HD_REPORT_ADDR_MAX + 1]; /* the first one */
    size_t n_rcpt_to;                              /* how many were given */
    char arrival_date[HD_REPORT_SHORT_MAX + 1];
    char reporting_mta[HD_REPORT_SHORT_MAX + 1];
    char source_ip[64];
    char authentication_results[HD_REPORT_TEXT_MAX + 1];
    char orig_message_id[HD_REPORT_TEXT_MAX + 1];
    char orig_from[HD_REPORT_TEXT_MAX + 1];
    char orig_to[HD_REPORT_TEXT_MAX + 1];
    unsigned flags;
} hd_arf;

/* A standard DSN: multipart/report; report-type=delivery-status with a
 * message/delivery-status part (also accepted inside a multipart/mixed
 * wrapper). HD_ENOTFOUND when there is no such part; out is then empty.
 * Classification per recipient: delivered, relayed and expanded are no
 * bounce; otherwise the reason comes from the status (a 4.x.x "failed" is
 * an expiry, a delay without a status "onhold") and the class from the
 * reason (hd_bounce_reason_class: hard only when the address itself is
 * bad). Free with hd_dsn_free whatever the return value. */
int hd_report_parse_dsn(hd_slice msg, hd_dsn *out, hd_err *err);
void hd_dsn_free(hd_dsn *dsn);

/* A feedback report: multipart/report; report-type=feedback-report with a
 * message/feedback-report part. HD_ENOTFOUND when there is none. */
int hd_report_parse_arf(hd_slice msg, hd_arf *out, hd_err *err);

/* The rule table (data/bounce-rules.txt, built in; docs/bounces.md has
 * the full syntax). One directive a line; '#' starts a comment:
 *   status X.Y.Z [reason NAME] contains "text"   phrase -> status, reason
 *   reason NAME contains "text"                  phrase -> reason only
 *   address after|before "text"                  where failed addresses
 *   address colon | field NAME | header NAME     are named (several a
 *   address returned NAME                        bounce; tried in order)
 *   cut "text"                                   the returned message starts
 *   vendor NAME when "text" ... end              a section for one MTA
 * Texts match ASCII case-insensitively; the first matching phrase wins.
 * Errors say "line N: ...". Bounded: HD_REPORT_MAX_RULES phrases, 64
 * address directives, 64 vendor sections, 32 cuts, 200-byte texts. */
typedef struct hd_report_rules hd_report_rules;
int hd_report_rules_parse(hd_slice text, hd_report_rules **out, hd_err *err);
void hd_report_rules_free(hd_report_rules *rules);

/* Any bounce: a standard DSN when there is a message/delivery-status part
 * (read leniently where MTAs deviate, each deviation a flag; with rules,
 * each recipient's reason refined by their phrases), else the rules (when
 * not NULL) over the first text part, which set HD_REPORT_NONSTANDARD and
 * give every failed address the directives find, each with its own
 * explanation, status and reason; a Message-ID line quoted in the text is
 * taken as the original's. A phrase without an address is no bounce.
 * HD_ENOTFOUND when neither reads it as a bounce. */
int hd_report_parse_bounce(hd_slice msg, const hd_report_rules *rules, hd_dsn *out, hd_err *err);

/* A reply an SMTP server gave herald while it delivered (RFC 5321 §4.2),
 * read as a DSN's Diagnostic-Code is: the rule table's phrases (rules may
 * be NULL: the codes only), the enhanced status (RFC 2034; "" when none)
 * and a code in the text. An address refused only after DATA (at_rcpt
 * false) was accepted at RCPT TO: "user unknown" then is the recipient's
 * filter (filtered), as in a DSN. Returns the class; *reason is set. A
 * 2xx or 3xx is no failure (HD_BOUNCE_NONE, delivered). */
hd_bounce_class hd_report_classify_reply(const hd_report_rules *rules, int code,
                                         const char *enhanced, const char *text, bool at_rcpt,
                                         hd_bounce_reason *reason);

/* A failure as Amazon SES classifies bounces, for applications written
 * against SES (docs/bounces.md has the table): the type is "Permanent"
 * exactly when c is hard, "Undetermined" when the reason could not be
 * read, else "Transient" (a policy or block refusal included: it says
 * nothing final about the address); the subtype is SES's name for the
 * reason where one fits ("NoEmail", "MailboxFull", "MessageTooLarge",
 * "ContentRejected", "AttachmentRejected"), else "General" (and
 * "Undetermined" with that type). Static strings. */
typedef struct hd_bounce_ses {
    const char *type;
    const char *subtype;
} hd_bounce_ses;
hd_bounce_ses hd_bounce_ses_of(hd_bounce_class c, hd_bounce_reason r);

const char *hd_dsn_action_name(hd_dsn_action a);
/* "partial", "truncated", ... for one HD_REPORT_* bit; NULL for others. */
const char *hd_report_flag_name(unsigned bit);
const char *hd_bounce_class_name(hd_bounce_class c);
/* "userunknown", "mailboxfull", ... ; "undefined" for an unknown value. */
const char *hd_bounce_reason_name(hd_bounce_reason r);
/* The reason named by an RFC 3463 status alone ("5.1.1" -> userunknown);
 * HD_REASON_UNDEFINED when the code says nothing more specific. */
hd_bounce_reason hd_bounce_reason_from_status(const char *status);
/* Hard or soft for a reason: hard only for reasons about the address,
 * and never with a 4.x.x status (status is the X.Y.Z, may be ""; RFC 3463
 * §3.1: a persistent transient failure may yet succeed). */
hd_bounce_class hd_bounce_reason_class(hd_bounce_reason r, const char *status);
/* The reason of that name (case-insensitive): 0 and *out set, or
 * HD_ENOTFOUND. */
int hd_bounce_reason_from_name(hd_slice name, hd_bounce_reason *out);

/* Reasons an operator counts as hard too ([inbound] hard_reasons: e.g. a
 * policy or blocklist refusal, which herald takes as soft): a bit each,
 * HD_BOUNCE_REASON_BIT(r). */
typedef uint64_t hd_bounce_reasons;
#define HD_BOUNCE_REASON_BIT(r) ((hd_bounce_reasons)1 << (unsigned)(r))
/* herald's class c of a failure with reason r and status ("5.7.1", or the
 * reply's class "5"), and the extra hard reasons: a soft failure with a
 * permanent status whose reason is among them is hard; a temporary one
 * (4.x.x) stays soft, whatever the setting. */
hd_bounce_class hd_bounce_class_with(hd_bounce_class c, hd_bounce_reason r, const char *status,
                                     hd_bounce_reasons extra_hard);

#endif
