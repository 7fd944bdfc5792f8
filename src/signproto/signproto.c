/*
 * signproto.c - the signer protocol's frames (herald/signproto.h) and the
 * signer's answer to one request.
 *
 * The decoder trusts nothing of a frame: the length is checked against the
 * maximum before anything is waited for, every field against what is left
 * of the frame, and a frame must end exactly where its fields do, so a
 * frame from a buggy or compromised asker is refused with the byte where
 * it went wrong instead of being half-read. The key table is sorted by key
 * id; a request names a key only by its id, and an id the table does not
 * hold is refused, never looked up anywhere else.
 */
#include <herald/limits.h>
#include <herald/signproto.h>

#include <stdlib.h>
#include <string.h>

#define HEAD_LEN 6u      /* version, type, request id */
#define PREFIX_LEN 4u

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int decode_sign(const uint8_t *p, size_t len, hd_signproto_msg *out, hd_err *err)
{
    /* p is the body after the head; offsets in messages count from the
     * frame's first byte */
    size_t at = PREFIX_LEN + HEAD_LEN;
    if (len < 9)
        return hd_err_set(err, HD_ESYNTAX, "sign request cut short at byte %zu: %zu bytes of "
                          "key id and digest length, 9 needed", at + len, len);
    out->key_id = (int64_t)((uint64_t)get_u32(p) << 32 | get_u32(p + 4));
    size_t dlen = p[8];
    if (dlen == 0 || dlen > HD_SIGNPROTO_DIGEST_MAX)
        return hd_err_set(err, HD_ESYNTAX, "sign request: digest length %zu at byte %zu is not "
                          "1..%u", dlen, at + 8, HD_SIGNPROTO_DIGEST_MAX);
    if (len - 9 != dlen)
        return hd_err_set(err, HD_ESYNTAX, "sign request: %zu bytes of digest at byte %zu, its "
                          "length says %zu", len - 9, at + 9, dlen);
    out->digest = hd_slice_make(p + 9, dlen);
    return 0;
}

static int decode_answer(const uint8_t *p, size_t len, hd_signproto_msg *out, hd_err *err)
{
    size_t at = PREFIX_LEN + HEAD_LEN;
    if (len < 7)
        return hd_err_set(err, HD_ESYNTAX, "answer cut short at byte %zu: %zu bytes of status, "
                          "code and length, 7 needed", at + len, len);
    if (p[0] > HD_SIGNPROTO_FAILED)
        return hd_err_set(err, HD_ESYNTAX, "answer: unknown status %u at byte %zu", p[0], at);
    out->status = (hd_signproto_status)p[0];
    int32_t code = (int32_t)get_u32(p + 1);
    if (code > 0 || code < -1000)
        return hd_err_set(err, HD_ESYNTAX, "answer: code %ld at byte %zu is not an error code",
                          (long)code, at + 1);
    if ((code == 0) != (out->status == HD_SIGNPROTO_OK))
        return hd_err_set(err, HD_ESYNTAX, "answer: status %u with code %ld at byte %zu", p[0],
                          (long)code, at + 1);
    out->code = code;
    size_t blen = (size_t)p[5] << 8 | p[6];
    if (len - 7 != blen)
        return hd_err_set(err, HD_ESYNTAX, "answer: %zu bytes of body at byte %zu, its length "
                          "says %zu", len - 7, at + 7, blen);
    out->body = hd_slice_make(p + 7, blen);
    return 0;
}

/* A u8-length-prefixed name at *off of p (len bytes); what names it in
 * messages. */
static int decode_name(const uint8_t *p, size_t len, size_t *off, const char *what,
                       hd_slice *out, hd_err *err)
{
    size_t at = PREFIX_LEN + HEAD_LEN + *off;
    if (*off >= len)
        return hd_err_set(err, HD_ESYNTAX, "add-domain request cut short at byte %zu: no length "
                          "of the %s", at, what);
    size_t n = p[*off];
    if (len - *off - 1 < n)
        return hd_err_set(err, HD_ESYNTAX, "add-domain request: the %s at byte %zu says %zu "
                          "bytes, %zu are left", what, at, n, len - *off - 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[*off + 1 + i];
        if (c <= ' ' || c >= 0x7f)
            return hd_err_set(err, HD_ESYNTAX, "add-domain request: byte %zu of the %s is not "
                              "printable ASCII", at + 1 + i, what);
    }
    *out = hd_slice_make(p + *off + 1, n);
    *off += 1 + n;
    return 0;
}

static int decode_add_domain(const uint8_t *p, size_t len, hd_signproto_msg *out, hd_err *err)
{
    if (len < 8)
        return hd_err_set(err, HD_ESYNTAX, "add-domain request cut short at byte %zu: no time",
                          PREFIX_LEN + HEAD_LEN + len);
    out->now = (int64_t)((uint64_t)get_u32(p) << 32 | get_u32(p + 4));
    size_t off = 8;
    int rc = decode_name(p, len, &off, "domain", &out->domain, err);
    if (!rc && out->domain.len == 0)
        rc = hd_err_set(err, HD_ESYNTAX, "add-domain request: an empty domain at byte %u",
                        PREFIX_LEN + HEAD_LEN + 8);
    if (!rc)
        rc = decode_name(p, len, &off, "bounce domain", &out->bounce, err);
    if (!rc && off != len)
        rc = hd_err_set(err, HD_ESYNTAX, "add-domain request: %zu bytes after its fields at byte "
                        "%zu", len - off, PREFIX_LEN + HEAD_LEN + off);
    return rc;
}

int hd_signproto_decode(hd_slice in, hd_signproto_msg *out, size_t *used, hd_err *err)
{
    memset(out, 0, sizeof *out);
    *used = 0;
    if (in.len < PREFIX_LEN)
        return 0;
    uint32_t len = get_u32(in.p);
    if (len > HD_SIGNPROTO_FRAME_MAX)
        return hd_err_set(err, HD_ELIMIT, "frame of %lu bytes (length at byte 0) is over the "
                          "%u-byte maximum", (unsigned long)len, HD_SIGNPROTO_FRAME_MAX);
    if (len < HEAD_LEN)
        return hd_err_set(err, HD_ESYNTAX, "frame of %lu bytes (length at byte 0) is shorter "
                          "than its %u-byte head", (unsigned long)len, HEAD_LEN);
    if (in.len - PREFIX_LEN < len)
        return 0;
    const uint8_t *p = in.p + PREFIX_LEN;
    if (p[0] != HD_SIGNPROTO_VERSION)
        return hd_err_set(err, HD_ESYNTAX, "version %u at byte 4, %u expected", p[0],
                          HD_SIGNPROTO_VERSION);
    out->id = get_u32(p + 2);
    int rc;
    switch (p[1]) {
    case HD_SIGNPROTO_SIGN:
        out->type = HD_SIGNPROTO_SIGN;
        rc = decode_sign(p + HEAD_LEN, len - HEAD_LEN, out, err);
        break;
    case HD_SIGNPROTO_RELOAD:
        out->type = HD_SIGNPROTO_RELOAD;
        rc = len == HEAD_LEN ? 0
                             : hd_err_set(err, HD_ESYNTAX, "reload request with %lu bytes after "
                                          "its head at byte %u", (unsigned long)(len - HEAD_LEN),
                                          PREFIX_LEN + HEAD_LEN);
        break;
    case HD_SIGNPROTO_ANSWER:
        out->type = HD_SIGNPROTO_ANSWER;
        rc = decode_answer(p + HEAD_LEN, len - HEAD_LEN, out, err);
        break;
    case HD_SIGNPROTO_ADD_DOMAIN:
        out->type = HD_SIGNPROTO_ADD_DOMAIN;
        rc = decode_add_domain(p + HEAD_LEN, len - HEAD_LEN, out, err);
        break;
    default:
        rc = hd_err_set(err, HD_ESYNTAX, "unknown frame type %u at byte 5", p[1]);
        break;
    }
    if (rc) {
        uint32_t id = out->id;
        memset(out, 0, sizeof *out);
        out->id = id;   /* a refusal can still name the request */
        return rc;
    }
    *used = PREFIX_LEN + len;
    return 0;
}

/* Reserve a frame of body_len bytes after the head; returns where the body
 * goes, or NULL. */
static uint8_t *frame_start(hd_buf *out, hd_signproto_type type, uint32_t id, size_t body_len)
{
    if (HEAD_LEN + body_len > HD_SIGNPROTO_FRAME_MAX ||
        hd_buf_reserve(out, PREFIX_LEN + HEAD_LEN + body_len) != 0)
        return NULL;
    uint8_t *p = out->p + out->len;
    put_u32(p, (uint32_t)(HEAD_LEN + body_len));
    p[4] = HD_SIGNPROTO_VERSION;
    p[5] = (uint8_t)type;
    put_u32(p + 6, id);
    out->len += PREFIX_LEN + HEAD_LEN + body_len;
    return p + PREFIX_LEN + HEAD_LEN;
}

int hd_signproto_put_sign(hd_buf *out, uint32_t id, int64_t key_id, const uint8_t *digest,
                          size_t digest_len)
{
    if (digest_len > 255)
        return HD_EINVAL;
    uint8_t *p = frame_start(out, HD_SIGNPROTO_SIGN, id, 9 + digest_len);
    if (p == NULL)
        return HD_ELIMIT;
    put_u32(p, (uint32_t)((uint64_t)key_id >> 32));
    put_u32(p + 4, (uint32_t)key_id);
    p[8] = (uint8_t)digest_len;
    if (digest_len)
        memcpy(p + 9, digest, digest_len);
    return 0;
}

int hd_signproto_put_reload(hd_buf *out, uint32_t id)
{
    return frame_start(out, HD_SIGNPROTO_RELOAD, id, 0) ? 0 : HD_ELIMIT;
}

int hd_signproto_put_add_domain(hd_buf *out, uint32_t id, int64_t now, hd_slice domain,
                                hd_slice bounce)
{
    if (domain.len > 255 || bounce.len > 255)
        return HD_ELIMIT;
    uint8_t *p = frame_start(out, HD_SIGNPROTO_ADD_DOMAIN, id, 10 + domain.len + bounce.len);
    if (p == NULL)
        return HD_ELIMIT;
    put_u32(p, (uint32_t)((uint64_t)now >> 32));
    put_u32(p + 4, (uint32_t)now);
    p[8] = (uint8_t)domain.len;
    if (domain.len)
        memcpy(p + 9, domain.p, domain.len);
    p[9 + domain.len] = (uint8_t)bounce.len;
    if (bounce.len)
        memcpy(p + 10 + domain.len, bounce.p, bounce.len);
    return 0;
}

int hd_signproto_put_answer(hd_buf *out, uint32_t id, hd_signproto_status status, int code,
                            hd_slice body)
{
    if (body.len > 0xffff)
        return HD_ELIMIT;
    /* the code travels with the status: 0 exactly when it is ok */
    if ((status == HD_SIGNPROTO_OK) != (code == 0) || code > 0 || code < -1000)
        return HD_EINVAL;
    uint8_t *p = frame_start(out, HD_SIGNPROTO_ANSWER, id, 7 + body.len);
    if (p == NULL)
        return HD_ELIMIT;
    p[0] = (uint8_t)status;
    put_u32(p + 1, (uint32_t)code);
    p[5] = (uint8_t)(body.len >> 8);
    p[6] = (uint8_t)body.len;
    if (body.len)
        memcpy(p + 7, body.p, body.len);
    return 0;
}

const char *hd_signproto_status_name(hd_signproto_status status)
{
    switch (status) {
    case HD_SIGNPROTO_OK: return "ok";
    case HD_SIGNPROTO_REFUSED: return "refused";
    case HD_SIGNPROTO_FAILED: return "failed";
    }
    return "unknown";
}

/* ---- the key table ---- */

typedef struct entry {
    int64_t id;
    hd_key *key;
} entry;

struct hd_signproto_keys {
    entry *v;       /* sorted by id */
    size_t n, cap;
};

int hd_signproto_keys_new(hd_signproto_keys **out, hd_err *err)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : hd_err_set(err, HD_ENOMEM, "out of memory");
}

void hd_signproto_keys_free(hd_signproto_keys *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        hd_key_free(t->v[i].key);
    free(t->v);
    free(t);
}

size_t hd_signproto_keys_count(const hd_signproto_keys *t) { return t->n; }

/* The first index whose id is >= id. */
static size_t lower_bound(const hd_signproto_keys *t, int64_t id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int hd_signproto_keys_add(hd_signproto_keys *t, int64_t key_id, hd_key *key, hd_err *err)
{
    size_t at = lower_bound(t, key_id);
    int rc = 0;
    if (at < t->n && t->v[at].id == key_id)
        rc = hd_err_set(err, HD_EINVAL, "key id %lld twice", (long long)key_id);
    else if (!hd_key_is_private(key))
        rc = hd_err_set(err, HD_EINVAL, "key id %lld: not a private key", (long long)key_id);
    if (!rc && t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            rc = hd_err_set(err, HD_ENOMEM, "out of memory");
        else
            t->v = v, t->cap = cap;
    }
    if (rc) {
        hd_key_free(key);
        return rc;
    }
    memmove(t->v + at + 1, t->v + at, (t->n - at) * sizeof *t->v);
    t->v[at] = (entry){key_id, key};
    t->n++;
    return 0;
}

/* The refusal's answer (its text also in why). */
static int refuse(hd_buf *answer, uint32_t id, hd_signproto_status status, hd_err *why)
{
    const char *text = hd_err_str(why);
    size_t len = strlen(text);
    if (len > HD_SIGNPROTO_TEXT_MAX)
        len = HD_SIGNPROTO_TEXT_MAX;
    int code = why->code ? why->code : HD_EINVAL;
    if (hd_signproto_put_answer(answer, id, status, code, hd_slice_make(text, len)) != 0)
        return HD_ENOMEM;
    return code;
}

int hd_signproto_serve(hd_signproto_keys *t, const hd_signproto_msg *req, hd_buf *answer,
                       hd_err *why)
{
    if (req->type != HD_SIGNPROTO_SIGN) {
        hd_err_set(why, HD_EINVAL, "request %lu: a frame of type %d is not a sign request",
                   (unsigned long)req->id, (int)req->type);
        return refuse(answer, req->id, HD_SIGNPROTO_REFUSED, why);
    }
    if (req->digest.len != HD_SIGNPROTO_DIGEST_LEN) {
        hd_err_set(why, HD_EINVAL, "request %lu: a digest of %zu bytes, SHA-256 has %u",
                   (unsigned long)req->id, req->digest.len, HD_SIGNPROTO_DIGEST_LEN);
        return refuse(answer, req->id, HD_SIGNPROTO_REFUSED, why);
    }
    size_t at = lower_bound(t, req->key_id);
    if (at == t->n || t->v[at].id != req->key_id) {
        hd_err_set(why, HD_ENOTFOUND, "request %lu: key id %lld is not one of the %zu keys of "
                   "this signer", (unsigned long)req->id, (long long)req->key_id, t->n);
        return refuse(answer, req->id, HD_SIGNPROTO_REFUSED, why);
    }
    hd_buf sig;
    hd_buf_init(&sig, HD_LIMIT_DKIM_RSA_MAX_BITS / 8);
    int rc = hd_key_sign_digest(t->v[at].key, req->digest.p, &sig, why);
    if (rc) {
        hd_buf_free(&sig);
        hd_err_prefix(why, "request %lu: key id %lld: ", (unsigned long)req->id,
                      (long long)req->key_id);
        return refuse(answer, req->id, HD_SIGNPROTO_FAILED, why);
    }
    rc = hd_signproto_put_answer(answer, req->id, HD_SIGNPROTO_OK, 0, hd_buf_slice(&sig));
    hd_buf_free(&sig);
    if (rc)
        return hd_err_set(why, rc, "request %lu: the answer does not fit",
                          (unsigned long)req->id);
    return 0;
}
