/*
 * dkim_int.h - what the files of the DKIM module share; not a public door.
 */
#ifndef HERALD_DKIM_INT_H
#define HERALD_DKIM_INT_H

#include <herald/dkim.h>
#include <herald/mail.h>
#include <herald/tag.h>

#include <openssl/evp.h>

/* canon.c ----------------------------------------------------------------- */

/* Where canonical body bytes go: a running hash that stops after limit
 * bytes (l=), and the count of all canonical bytes. */
typedef struct dkim_body_sink {
    EVP_MD_CTX *md;
    uint64_t limit;  /* UINT64_MAX: no l= */
    uint64_t total;  /* canonical bytes produced */
    int failed;      /* an EVP call failed */
    hd_buf *capture; /* tests: the canonical bytes are appended here too */
} dkim_body_sink;

/* Feed the canonical form of body (CRLF line ends) to sink. */
void dkim_canon_body(hd_dkim_canon canon, hd_slice body, dkim_body_sink *sink);

/* Append the canonical form of one header field (name, value; value runs
 * from after the colon to before the final line end) to out, with a
 * trailing CRLF when crlf is true. */
int dkim_canon_header(hd_dkim_canon canon, hd_slice raw, hd_slice name, hd_slice value,
                      bool crlf, hd_buf *out);

/* Parse msg for signing or verification. A message with bare LF line
 * ends is converted to CRLF into copy (which the caller frees after *out)
 * and parsed again, so LF and CRLF spellings hash alike. */
int dkim_parse_message(hd_slice msg, hd_buf *copy, hd_msg **out, hd_err *err);

/* c= "header/body" (RFC 6376 §3.5); a missing body part means simple. */
int dkim_parse_canon(hd_slice c, hd_dkim_canon *header, hd_dkim_canon *body);
const char *dkim_canon_name(hd_dkim_canon c);

/* The header fields h= selects, in h= order (RFC 6376 §5.4.2): each name
 * takes the bottom-most instance not yet used; a name with no instance
 * left selects nothing (index (size_t)-1). */
size_t dkim_select_headers(const hd_msg *msg, const hd_slice *names, size_t nnames,
                           size_t *out);

/* Syntax of d= and s= (RFC 6376 §3.5: domain-name / sub-domain *("." ...)) */
bool dkim_domain_ok(hd_slice d);
bool dkim_selector_ok(hd_slice s);
/* i= domain equal to d= or a subdomain of it (RFC 6376 §3.5 i=). */
bool dkim_identity_in_domain(hd_slice identity_domain, hd_slice d);

/* verify.c: the SHA-256 body hash a started verifier computed for body
 * canonicalization bc without l= (for ARC on the same message); false
 * when it has none. */
bool dkim_verifier_body_hash(const hd_dkim_verifier *v, hd_dkim_canon bc, uint8_t out[32]);

#endif
