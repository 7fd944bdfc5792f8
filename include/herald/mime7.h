/*
 * herald/mime7.h - a message's 8-bit MIME parts re-encoded to 7 bits, so it
 * can cross any SMTP hop (RFC 6152 §3: no 8-bit data to a server that does
 * not offer 8BITMIME) and its DKIM signatures survive (RFC 6376 §5.3:
 * signers SHOULD convert to a 7-bit transfer encoding before signing).
 *
 * hd_mime7_convert walks the MIME tree (mime.h, with its depth and part
 * limits) and re-encodes each leaf part whose body has 8-bit bytes and
 * whose Content-Transfer-Encoding is an identity one that allows it (none,
 * 7bit, 8bit): quoted-printable (RFC 2045 §6.7) for text, base64 (§6.8)
 * when the body looks binary (a NUL, a bare CR, a line over 998 octets)
 * or when base64 is shorter (more than one byte in six would be written
 * =XX). So a body grows by less than HD_MIME7_GROWTH: base64 by 4/3 and
 * its line ends (78/76), quoted-printable by at most 1 + 2/6 and its
 * soft breaks and "=2D" at a line's start (< 5 bytes in 73). The part's
 * Content-Transfer-Encoding field is replaced (or added
 * at the end of its header; a message's top level, also one inside a
 * message/rfc822 part, gets MIME-Version too if it had
 * none). Every other byte (7-bit parts, delimiters, preambles, header
 * fields) is copied as it is.
 *
 * What cannot be converted is left as it is and reported: 8-bit bytes in
 * a header (only SMTPUTF8, RFC 6532, may carry them), in a part encoded
 * binary (RFC 3030 BINARYMIME), base64 or quoted-printable already, in a
 * multipart or message part (RFC 2045 §6.4: identity encodings only), in
 * a preamble or epilogue, or behind an unreadable Content-Type or a MIME
 * structure the reader refuses (too deep, too many parts).
 *
 * Pure; line ends are kept as they are (CRLF or bare LF), and new lines
 * use the style of the header they go into.
 */
#ifndef HERALD_MIME7_H
#define HERALD_MIME7_H

#include <stdbool.h>
#include <stddef.h>

#include <herald/buf.h>
#include <herald/err.h>

/* RFC 2045 §6.7 rule 5: encoded lines are at most 76 characters. */
#define HD_MIME7_LINE_MAX 76
/* RFC 5321 §4.5.3.1.6: a text line is at most 998 octets before CRLF. */
#define HD_MIME7_SMTP_LINE_MAX 998
/* What a converted message may need at most: this many times its size
 * (see above; 1.43 at most) plus HD_MIME7_SLACK for the changed fields:
 * up to 64 bytes a part (MIME-Version and Content-Transfer-Encoding) for
 * at most HD_MIME_MAX_PARTS parts, and a trace field above the message
 * (mime7.c checks this at compile time). */
#define HD_MIME7_GROWTH 1.5
#define HD_MIME7_SLACK (64 * 1024)

typedef struct hd_mime7_report {
    size_t converted;   /* parts re-encoded */
    size_t to_qp;       /* ... of which to quoted-printable */
    bool eight_bit;     /* the result still has 8-bit bytes */
    char why[256];      /* when eight_bit: the first thing that kept it so, and where */
} hd_mime7_report;

/* True when s has a byte >= 0x80. */
bool hd_mime7_has_8bit(hd_slice s);

/* Append msg to out with its 8-bit parts re-encoded; out NULL only
 * fills rep (what would be converted, what would stay 8-bit). rep is
 * always set. Errors: HD_ENOMEM, HD_ELIMIT past out's cap (out then holds
 * part of the message). A message without 8-bit bytes is copied at the
 * cost of one scan. */
int hd_mime7_convert(hd_slice msg, hd_buf *out, hd_mime7_report *rep, hd_err *err);

/* Quoted-printable (RFC 2045 §6.7) of in, appended to out: CRLF and bare
 * LF are hard line breaks written as they are, a bare CR is =0D; "=",
 * bytes outside printable ASCII, and SP/HTAB before a line end are
 * =XX; lines are broken with soft breaks ("=" + eol) at 76 characters.
 * hd_mime_decode_qp gives in back. */
int hd_mime7_qp_encode(hd_slice in, const char *eol, hd_buf *out);
/* Base64 (RFC 2045 §6.8) of in in lines of 76 characters, each ended by
 * eol (the last one too). */
int hd_mime7_b64_encode(hd_slice in, const char *eol, hd_buf *out);

#endif
