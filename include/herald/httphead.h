/*
 * herald/httphead.h - the head of an HTTP/1.1 request (request line and
 * header fields), read for its framing before the server reads a body
 * (RFC 9112 §2.2, §3, §5, §6.3).
 *
 * Strict on purpose: a request is framed by one Content-Length of digits
 * or none. Two Content-Length fields (even equal), a list, a sign, a
 * Transfer-Encoding, a field folded over lines, a malformed field name and
 * a body on any method but POST are refused, so that no proxy in
 * front can read a different request boundary than the server (request
 * smuggling). Lines end in LF with an optional CR before it, as evhttp
 * reads them.
 *
 * Pure: bytes in, a verdict out. The slices point into the input.
 */
#ifndef HERALD_HTTPHEAD_H
#define HERALD_HTTPHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

typedef struct hd_httphead {
    hd_slice method;
    hd_slice authorization;         /* the field's value, trimmed; .p NULL when absent */
    uint64_t content_length;        /* 0 when absent */
    int status;                     /* on a refusal: the HTTP status to answer (400, 411) */
} hd_httphead;

/* Where the head in data ends: the length through its empty line, or 0
 * while it is incomplete. A head may begin with no empty line. */
size_t hd_httphead_end(hd_slice data);


/* Read a whole head (hd_httphead_end's length of it). 0, or HD_ESYNTAX
 * with out->status and err saying which field and why. */
int hd_httphead_parse(hd_slice head, hd_httphead *out, hd_err *err);

#endif
