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

/* diagnose.c: what changed after signing ----------------------------------- */

/* What the body shows once its hash failed. */
typedef struct dkim_body_change {
    bool footer;           /* the signed body, then footer_bytes canonical bytes */
    bool reencoded;        /* decoded, it is the signed body (plus the footer) */
    uint64_t footer_bytes;
    char encoding[24];     /* the Content-Transfer-Encoding now, lower case */
} dkim_body_change;

/* Look for the signed body (digest want, hlen bytes of md) in m's body as
 * it is and, when the body is quoted-printable or base64, decoded: whole,
 * or followed by at most HD_LIMIT_DKIM_FOOTER_BYTES more. For signatures
 * without l=, bodies up to HD_LIMIT_DKIM_DIAGNOSE_BYTES. Not finding it is
 * no error; HD_ENOMEM or HD_ECRYPTO are. */
int dkim_find_body_change(const hd_msg *m, hd_dkim_canon bc, const EVP_MD *md,
                          const uint8_t *want, size_t hlen, dkim_body_change *out);

/* A signed field hashed as it may have been before a change. */
typedef struct dkim_field_edit {
    size_t field;   /* index in the message; (size_t)-1: no edit */
    hd_slice value; /* the value to hash instead (borrowed), unless drop */
    bool drop;      /* hash as if the field were absent */
} dkim_field_edit;

/* One guess at the signed header fields, and the changes it undoes. */
typedef struct dkim_header_guess {
    dkim_field_edit subject, cte;
    unsigned undoes;       /* HD_DKIM_CH_SUBJECT_TAG, HD_DKIM_CH_CTE */
    const char *cte_was;   /* the Content-Transfer-Encoding tried ("": none) */
} dkim_header_guess;

#define DKIM_MAX_GUESSES 7

/* The guesses worth a header hash, given the fields h= selected
 * (sel[0..n), dkim_select_headers): the signed Subject without the
 * "[tag]" it starts with (the tag into tag, cut to tag_size); when the
 * body was re-encoded, the signed Content-Transfer-Encoding as 8bit, 7bit
 * or absent; each alone and together. */
size_t dkim_header_guesses(const hd_msg *m, const size_t *sel, size_t n, bool reencoded,
                           dkim_header_guess out[DKIM_MAX_GUESSES], char *tag, size_t tag_size);

#endif
