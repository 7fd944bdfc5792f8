/*
 * herald/signproto.h - the signer protocol: what the network processes of
 * `herald serve` ask the signer process, which alone holds the private
 * DKIM keys (docs/architecture.md, "Processes"), and what it answers; and
 * the signer's side of it, a table of keys that answers request frames.
 *
 * A frame is a 4-byte big-endian length of what follows, at most
 * HD_SIGNPROTO_FRAME_MAX, then
 *   u8  version (HD_SIGNPROTO_VERSION)
 *   u8  type    (hd_signproto_type)
 *   u32 request id (the asker's own; echoed in the answer)
 * and by type
 *   SIGN        i64 key id, u8 digest length, the digest
 *   RELOAD      nothing
 *   ADD_DOMAIN  i64 now, u8 length, the domain, u8 length, the bounce
 *               domain (0: the default); its keys are made by the signer
 *   ANSWER      u8 status, i32 code (0 or the HD_E* of a refusal or
 *               failure), u16 length, that many bytes (the signature, or
 *               the reason as text)
 * integers big-endian. A key id is only a name: the signer looks it up in
 * the keys its own reading of the configuration gave it and refuses any
 * other. Pure: bytes in, messages and answers out; no I/O.
 */
#ifndef HERALD_SIGNPROTO_H
#define HERALD_SIGNPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>
#include <herald/key.h>

#define HD_SIGNPROTO_VERSION 1
/* A frame after its length: the largest is an answer with an 8192-bit RSA
 * signature (1024 bytes) or a reason of up to HD_SIGNPROTO_TEXT_MAX. */
#define HD_SIGNPROTO_FRAME_MAX 1200u
#define HD_SIGNPROTO_DIGEST_MAX 64u   /* SHA-512 and below; the signer takes 32 only */
#define HD_SIGNPROTO_TEXT_MAX 256u    /* an answer's reason */
#define HD_SIGNPROTO_DIGEST_LEN 32u   /* SHA-256: RFC 6376 §3.3, RFC 8463 §3 */

typedef enum hd_signproto_type {
    HD_SIGNPROTO_SIGN = 1,
    HD_SIGNPROTO_RELOAD = 2,
    HD_SIGNPROTO_ANSWER = 3,
    HD_SIGNPROTO_ADD_DOMAIN = 4,
} hd_signproto_type;

typedef enum hd_signproto_status {
    HD_SIGNPROTO_OK = 0,        /* body: the signature (SIGN), a summary (RELOAD) */
    HD_SIGNPROTO_REFUSED = 1,   /* a request the signer will never grant (unknown key,
                                 * wrong digest length, malformed frame) */
    HD_SIGNPROTO_FAILED = 2,    /* could not now (signing or reading keys failed): retry */
} hd_signproto_status;

typedef struct hd_signproto_msg {
    hd_signproto_type type;
    uint32_t id;
    int64_t key_id;             /* SIGN */
    hd_slice digest;            /* SIGN, borrowed from the frame */
    hd_signproto_status status; /* ANSWER */
    int code;                   /* ANSWER: 0 or an HD_E* */
    hd_slice body;              /* ANSWER, borrowed from the frame */
    int64_t now;                /* ADD_DOMAIN */
    hd_slice domain, bounce;    /* ADD_DOMAIN, borrowed; bounce may be empty */
} hd_signproto_msg;

/* Decode the frame at the start of in. 0 with *used the frame's whole
 * length (prefix included) and out filled; 0 with *used = 0 when in holds
 * only part of a frame so far (read more); HD_ELIMIT for a frame longer
 * than HD_SIGNPROTO_FRAME_MAX, HD_ESYNTAX for anything malformed (its
 * message says what, at which byte). A stream that gave an error cannot be
 * read further: its frames are no longer where they were meant to be. */
int hd_signproto_decode(hd_slice in, hd_signproto_msg *out, size_t *used, hd_err *err);

/* Append one frame to out. */
int hd_signproto_put_sign(hd_buf *out, uint32_t id, int64_t key_id, const uint8_t *digest,
                          size_t digest_len);
int hd_signproto_put_reload(hd_buf *out, uint32_t id);
int hd_signproto_put_add_domain(hd_buf *out, uint32_t id, int64_t now, hd_slice domain,
                                hd_slice bounce);
int hd_signproto_put_answer(hd_buf *out, uint32_t id, hd_signproto_status status, int code,
                            hd_slice body);

const char *hd_signproto_status_name(hd_signproto_status status); /* "ok" "refused" "failed" */

/* ---- the signer's side ---- */

/* The keys one signing thread may use, by key id. Owns its hd_keys (an
 * hd_key is for one thread at a time: one table per thread). */
typedef struct hd_signproto_keys hd_signproto_keys;

int hd_signproto_keys_new(hd_signproto_keys **out, hd_err *err);
void hd_signproto_keys_free(hd_signproto_keys *t);
/* Takes key (freed on failure too); HD_EINVAL for an id already there or a
 * key that cannot sign. */
int hd_signproto_keys_add(hd_signproto_keys *t, int64_t key_id, hd_key *key, hd_err *err);
size_t hd_signproto_keys_count(const hd_signproto_keys *t);

/* Answer one SIGN request: a known key id and a 32-byte digest are signed,
 * anything else refused; the answer frame is appended to answer. Returns
 * 0 when the request was granted; else the code of the refusal or failure
 * with why saying what (for the signer's log; the same text is the
 * answer's body). A message of another type is refused too. */
int hd_signproto_serve(hd_signproto_keys *t, const hd_signproto_msg *req, hd_buf *answer,
                       hd_err *why);

#endif
