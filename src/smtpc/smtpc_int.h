/*
 * smtpc_int.h - pieces of the SMTP client shared between its files: the
 * limits it works within and the reply scanner (reply.c) the session
 * (smtpc.c) reads server replies with.
 */
#ifndef HERALD_SMTPC_INT_H
#define HERALD_SMTPC_INT_H

#include <herald/limits.h>
#include <herald/smtpc.h>

/* Server bytes held unread. The server only answers commands, and every
 * reply is bounded by SMTPC_REPLY_MAX, so more than this is a flood. */
#define SMTPC_IN_MAX (256u * 1024)
/* One reply, all its lines, before its last line ended. RFC 5321
 * §4.5.3.1.5 allows 512 bytes a line; lines up to this are tolerated. */
#define SMTPC_REPLY_MAX (64u * 1024)
/* RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with CRLF;
 * text beyond (code, separator and CRLF take 6) is cut. */
#define SMTPC_LINE_TEXT_MAX (512u - 6)
/* Recipients in one transaction. RFC 5321 §4.5.3.1.8 sets no client
 * limit; servers must take 100. A worker splits bigger batches. */
#define SMTPC_MAX_RCPTS 1000
/* RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets. */
#define SMTPC_PATH_MAX (256u - 2)
/* EHLO keywords remembered for hd_smtpc_has_ext(), and their length. */
#define SMTPC_MAX_EXT 64
#define SMTPC_EXT_NAME_MAX 32
/* Output: the commands of a transaction plus the dot-stuffed message,
 * which at worst doubles (every byte a bare LF or a stuffed dot). */
#define SMTPC_OUT_MAX ((size_t)HD_LIMIT_MESSAGE_BYTES * 2 + 1024u * 1024)
/* An output buffer bigger than this is freed once written out. */
#define SMTPC_OUT_KEEP (64u * 1024)

/* Where the scanner is in the reply being read; offsets count from the
 * first byte of the reply. Kept between calls so bytes arriving one at a
 * time are looked at once. */
typedef struct hd_smtpc_scan {
    size_t line_start; /* first byte of the current line */
    size_t search;     /* where to look for the next LF */
    unsigned nlines;
    int code;
} hd_smtpc_scan;

enum {
    SMTPC_SCAN_AGAIN, /* no complete reply yet */
    SMTPC_SCAN_DONE,  /* *len bytes hold a complete reply */
    SMTPC_SCAN_ERROR, /* garbage or over a limit; why says which */
};

/* Look for a complete reply at the start of in (RFC 5321 §4.2: lines
 * "DDD-text", the last "DDD text" or "DDD", all with the same code;
 * CRLF or a bare LF ends a line). */
int hd_smtpc_reply_scan(hd_smtpc_scan *s, hd_slice in, size_t *len, int *code,
                        char *why, size_t whylen);

/* The next line of a complete reply: its text after code and separator,
 * without the line end, uncut. false after the last line. */
bool hd_smtpc_reply_line(hd_slice reply, size_t *pos, hd_slice *text);

/* Fill r (code, enhanced, text; not phase) from a complete reply: the
 * enhanced status code (RFC 3463) of the first line if it has one whose
 * class matches the code, stripped from every line that repeats it; lines
 * cut at SMTPC_LINE_TEXT_MAX, joined by " / ", control bytes replaced. */
void hd_smtpc_reply_result(hd_slice reply, int code, hd_smtpc_result *r);

/* Extensions the session acts on, as bits of hd_smtpc_exts.bits. */
enum {
    SMTPC_EXT_SIZE = 1u << 0,
    SMTPC_EXT_PIPELINING = 1u << 1,
    SMTPC_EXT_8BITMIME = 1u << 2,
    SMTPC_EXT_STARTTLS = 1u << 3,
    SMTPC_EXT_SMTPUTF8 = 1u << 4,
    SMTPC_EXT_ENHANCED = 1u << 5,
};

/* What one EHLO reply offered (ext.c). */
typedef struct hd_smtpc_exts {
    unsigned bits;
    uint64_t max_size; /* SIZE n; 0 = no limit announced */
    char names[SMTPC_MAX_EXT][SMTPC_EXT_NAME_MAX]; /* every keyword, upper case */
    size_t n;
} hd_smtpc_exts;

void hd_smtpc_exts_clear(hd_smtpc_exts *e);
/* Replace e with what a complete 2xx EHLO reply offers. */
void hd_smtpc_exts_learn(hd_smtpc_exts *e, hd_slice reply);
bool hd_smtpc_exts_has(const hd_smtpc_exts *e, const char *keyword); /* case-insensitive */

/* The message m as sent after 354 (data.c): CRLF line ends, a final CRLF,
 * stuffed dots, then ".\r\n". Appends to out, which must have room for
 * the returned byte count (call with out == NULL first to count). *size
 * (may be NULL) gets the RFC 1870 §2 size: without the stuffed dots and
 * the final ".". */
size_t hd_smtpc_stuff(hd_slice m, hd_buf *out, uint64_t *size);

/* Copy s into dst (size n, always NUL-terminated), control bytes turned
 * into '?'. Returns the bytes copied. */
size_t hd_smtpc_copy_text(char *dst, size_t n, hd_slice s);

#endif
