/*
 * webhook.c - webhook bodies and their signatures (see herald/webhook.h).
 *
 * The body is built with jansson; the signature is HMAC-SHA256 through
 * OpenSSL's one-shot HMAC(). Verification parses the header as a list of
 * key=value items separated by commas (unknown keys are skipped, so a
 * later scheme can be added beside v1), then compares every v1 value with
 * CRYPTO_memcmp so the time taken does not say how much of it matched.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <herald/json.h>
#include <herald/webhook.h>

/* ---- the body ---------------------------------------------------------- */

static int put_str(json_t *o, const char *key, const char *v)
{
    if (v == NULL || v[0] == '\0')
        return 0;
    json_t *j = hd_json_text(v);
    return j != NULL && json_object_set_new(o, key, j) == 0 ? 0 : HD_ENOMEM;
}

static int put_int(json_t *o, const char *key, int64_t v)
{
    json_t *j = json_integer(v);
    return j != NULL && json_object_set_new(o, key, j) == 0 ? 0 : HD_ENOMEM;
}

static int put_detail(json_t *o, const char *detail)
{
    if (detail == NULL || detail[0] == '\0')
        return 0;
    json_t *j = json_loads(detail, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        j = hd_json_text(detail);
    return j != NULL && json_object_set_new(o, "detail", j) == 0 ? 0 : HD_ENOMEM;
}

static int fill(json_t *o, const hd_store_event *e, const char *domain)
{
    char at[HD_JSON_TIME_LEN];
    hd_json_time(e->at_ms, at);
    int rc = put_int(o, "id", e->id);
    rc = rc ? rc : put_str(o, "type", e->type);
    rc = rc ? rc : put_str(o, "at", at);
    rc = rc ? rc : put_str(o, "message", e->message);
    rc = rc ? rc : put_str(o, "domain", domain);
    rc = rc ? rc : put_str(o, "recipient", e->recipient);
    rc = rc ? rc : put_str(o, "remote_host", e->remote_host);
    rc = rc ? rc : put_str(o, "reply", e->reply);
    rc = rc ? rc : put_str(o, "tls", e->tls);
    if (!rc && e->duration_ms >= 0)
        rc = put_int(o, "duration_ms", e->duration_ms);
    return rc ? rc : put_detail(o, e->detail);
}

json_t *hd_webhook_event_json(const hd_store_event *e, const char *domain)
{
    json_t *o = json_object();
    if (o == NULL || fill(o, e, domain) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int hd_webhook_payload(const hd_store_event *e, const char *domain, hd_buf *out, hd_err *err)
{
    hd_buf_reset(out);
    json_t *o = hd_webhook_event_json(e, domain);
    if (o == NULL)
        return hd_err_set(err, HD_ENOMEM, "webhook body of event %" PRId64 ": out of memory",
                          e->id);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text == NULL)
        return hd_err_set(err, HD_ENOMEM, "webhook body of event %" PRId64 ": out of memory",
                          e->id);
    int rc = hd_buf_append_cstr(out, text);
    free(text);
    if (rc != 0)
        return hd_err_set(err, rc, "webhook body of event %" PRId64 ": %s", e->id,
                          rc == HD_ELIMIT ? "larger than the limit" : "out of memory");
    return 0;
}

/* ---- signing ----------------------------------------------------------- */

static int mac_hex(const uint8_t *secret, size_t secret_len, int64_t t, hd_slice body,
                   char hex[65])
{
    char prefix[32];
    int n = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    uint8_t md[32];
    size_t md_len = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, secret, secret_len, params) == 1 &&
             EVP_MAC_update(ctx, (const uint8_t *)prefix, (size_t)n) == 1 &&
             (body.len == 0 || EVP_MAC_update(ctx, body.p, body.len) == 1) &&
             EVP_MAC_final(ctx, md, &md_len, sizeof md) == 1 && md_len == sizeof md;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        return HD_ECRYPTO;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof md; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}

static int check_secret(size_t len, hd_err *err)
{
    if (len < HD_WEBHOOK_SECRET_MIN || len > HD_WEBHOOK_SECRET_MAX)
        return hd_err_set(err, HD_EINVAL, "webhook secret: %zu bytes; it must have %d to %d", len,
                          HD_WEBHOOK_SECRET_MIN, HD_WEBHOOK_SECRET_MAX);
    return 0;
}

int hd_webhook_sign(const uint8_t *secret, size_t secret_len, int64_t t, hd_slice body,
                    char *out, size_t size, hd_err *err)
{
    char hex[65];
    int rc = check_secret(secret_len, err);
    if (rc)
        return rc;
    if (t < 0)
        return hd_err_set(err, HD_EINVAL, "webhook signature: negative time");
    if (mac_hex(secret, secret_len, t, body, hex) != 0)
        return hd_err_set(err, HD_ECRYPTO, "webhook signature: HMAC-SHA256 failed");
    int n = snprintf(out, size, "t=%" PRId64 ",v1=%s", t, hex);
    if (n < 0 || (size_t)n >= size)
        return hd_err_set(err, HD_ELIMIT, "webhook signature: buffer too small");
    return 0;
}

/* ---- verifying --------------------------------------------------------- */

typedef struct sig_header {
    int64_t t;
    bool has_t;
    hd_slice v1[16];
    size_t n_v1;
} sig_header;

static bool all_digits(hd_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    return s.len > 0;
}

static bool all_hex(hd_slice s)
{
    for (size_t i = 0; i < s.len; i++)
        if (!((s.p[i] >= '0' && s.p[i] <= '9') || (s.p[i] >= 'a' && s.p[i] <= 'f')))
            return false;
    return true;
}

/* One "key=value" item at offset off of the header. */
static int parse_item(sig_header *h, hd_slice item, size_t off, hd_err *err)
{
    item = hd_slice_trim_wsp(item);
    const uint8_t *eq = memchr(item.p, '=', item.len);
    if (eq == NULL || eq == item.p)
        return hd_err_set(err, HD_ESYNTAX, "Herald-Signature: at offset %zu: expected key=value",
                          off);
    hd_slice key = hd_slice_make(item.p, (size_t)(eq - item.p));
    hd_slice val = hd_slice_make(eq + 1, item.len - key.len - 1);
    if (hd_slice_eq_cstr(key, "t")) {
        if (h->has_t)
            return hd_err_set(err, HD_ESYNTAX, "Herald-Signature: t= given twice");
        if (!all_digits(val) || val.len > 12)
            return hd_err_set(err, HD_ESYNTAX,
                              "Herald-Signature: at offset %zu: t= must be Unix seconds", off);
        int64_t t = 0;
        for (size_t i = 0; i < val.len; i++)
            t = t * 10 + (val.p[i] - '0');
        h->t = t;
        h->has_t = true;
    } else if (hd_slice_eq_cstr(key, "v1")) {
        if (val.len != 64 || !all_hex(val))
            return hd_err_set(err, HD_ESYNTAX,
                              "Herald-Signature: at offset %zu: v1= must be 64 lower-case hex "
                              "digits", off);
        if (h->n_v1 == sizeof h->v1 / sizeof h->v1[0])
            return hd_err_set(err, HD_ESYNTAX, "Herald-Signature: too many v1= signatures");
        h->v1[h->n_v1++] = val;
    }
    return 0;
}

static int parse_header(sig_header *h, hd_slice header, hd_err *err)
{
    memset(h, 0, sizeof *h);
    if (header.len > HD_WEBHOOK_HEADER_MAX)
        return hd_err_set(err, HD_ESYNTAX, "Herald-Signature: longer than %d bytes",
                          HD_WEBHOOK_HEADER_MAX);
    size_t start = 0;
    for (size_t i = 0; i <= header.len; i++) {
        if (i < header.len && header.p[i] != ',')
            continue;
        int rc = parse_item(h, hd_slice_make(header.p + start, i - start), start, err);
        if (rc)
            return rc;
        start = i + 1;
    }
    if (!h->has_t)
        return hd_err_set(err, HD_ESYNTAX, "Herald-Signature: no t= timestamp");
    if (h->n_v1 == 0)
        return hd_err_set(err, HD_ESYNTAX, "Herald-Signature: no v1= signature");
    return 0;
}

int hd_webhook_verify(const uint8_t *secret, size_t secret_len, hd_slice header, hd_slice body,
                      int64_t now, int64_t tolerance, hd_err *err)
{
    sig_header h;
    int rc = check_secret(secret_len, err);
    if (rc || (rc = parse_header(&h, header, err)) != 0)
        return rc;
    int64_t skew = h.t > now ? h.t - now : now - h.t;
    if (tolerance < 0 || skew > tolerance)
        return hd_err_set(err, HD_EINVAL,
                          "Herald-Signature: timestamp %" PRId64 " is %" PRId64
                          " s from now (tolerance %" PRId64 " s): stale or replayed",
                          h.t, skew, tolerance);
    char want[65];
    if (mac_hex(secret, secret_len, h.t, body, want) != 0)
        return hd_err_set(err, HD_ECRYPTO, "Herald-Signature: HMAC-SHA256 failed");
    bool ok = false;
    for (size_t i = 0; i < h.n_v1; i++)
        ok |= CRYPTO_memcmp(want, h.v1[i].p, 64) == 0;
    OPENSSL_cleanse(want, sizeof want);
    if (!ok)
        return hd_err_set(err, HD_EINVAL, "Herald-Signature: no v1= signature matches the body");
    return 0;
}
