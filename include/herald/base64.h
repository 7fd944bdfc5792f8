/*
 * herald/base64.h - RFC 4648 §4 base64.
 *
 * Strict mode accepts only the alphabet, with exactly the required '='
 * padding at the end. The DKIM mode (RFC 6376 §3.5 b= and §3.6.1 p=) also
 * ignores folding whitespace (SP, HTAB, CR, LF) anywhere in the input.
 * Both modes require the RFC 4648 §3.2 padding and refuse non-zero
 * trailing bits (§3.5), so one value has one spelling.
 */
#ifndef HERALD_BASE64_H
#define HERALD_BASE64_H

#include <herald/buf.h>
#include <herald/err.h>

typedef enum hd_b64_mode {
    HD_B64_STRICT,
    HD_B64_IGNORE_WSP,
} hd_b64_mode;

/* Decoded size upper bound for len input bytes. */
static inline size_t hd_b64_decoded_max(size_t len) { return len / 4 * 3 + 3; }
static inline size_t hd_b64_encoded_len(size_t len) { return (len + 2) / 3 * 4; }

/* Decode in into out (appended). On malformed input: HD_ESYNTAX with the
 * offending offset in err. */
int hd_b64_decode(hd_slice in, hd_b64_mode mode, hd_buf *out, hd_err *err);

/* Encode in, appending to out (no line breaks). */
int hd_b64_encode(hd_slice in, hd_buf *out);

#endif
