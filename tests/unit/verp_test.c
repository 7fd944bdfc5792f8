/*
 * verp_test.c - authenticated VERP envelope senders
 * (b-<id>-<mac>@bounce-domain): known answers, round trips, forged and
 * damaged addresses, malformed local parts, buffer sizes.
 *
 * The known answers were computed outside herald (Python: the first 10
 * bytes of hmac.new(key, id, sha256), RFC 4648 base32, lower case, no
 * padding) with key = bytes 0, 1, ..., 31.
 */
#include "testutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <herald/verp.h>

static uint8_t key[HD_VERP_KEY_LEN];

static int setup_key(void **state)
{
    for (size_t i = 0; i < HD_VERP_KEY_LEN; i++)
        key[i] = (uint8_t)i;
    return 0;
}

#define ID40 "0123456789abcdefghijklmnopqrstuvwxyz0123"

static const struct {
    const char *id, *want;
} known[] = {
    {"a", "b-a-kft52forqftktxlm@bounce.example.com"},
    {"3f2a9c", "b-3f2a9c-mk46yhffv6hcsfu6@bounce.example.com"},
    {ID40, "b-" ID40 "-ht3fsv3gx4qrdxoi@bounce.example.com"},
};

/* The local part of an address (up to the '@'). */
static void local_part(const char *addr, char *out, size_t size)
{
    const char *at = strchr(addr, '@');
    assert_non_null(at);
    size_t n = (size_t)(at - addr);
    assert_true(n < size);
    memcpy(out, addr, n);
    out[n] = '\0';
}

static void test_known_answers(void **state)
{
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        char addr[256];
        hd_err err;
        hd_err_clear(&err);
        if (hd_verp_encode(key, known[i].id, "bounce.example.com", addr, sizeof addr, &err) != 0)
            fail_msg("encode %s: %s", known[i].id, err.msg);
        assert_string_equal(addr, known[i].want);
    }
}

static void test_round_trip(void **state)
{
    const char *ids[] = {"a", "0", "z9", "3f2a9c0d1e2f", ID40, "7777777777"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char addr[256], lp[128], id[HD_VERP_ID_MAX + 1];
        hd_err err;
        hd_err_clear(&err);
        assert_int_equal(hd_verp_encode(key, ids[i], "b.example.org", addr, sizeof addr, &err), 0);
        local_part(addr, lp, sizeof lp);
        memset(id, 'x', sizeof id);
        if (hd_verp_decode(key, lp, id, &err) != 0)
            fail_msg("decode %s: %s", lp, err.msg);
        assert_string_equal(id, ids[i]);
    }
}

/* Receivers may change the case of a local part; decoding must not care. */
static void test_decode_ignores_case(void **state)
{
    char lp[128], id[HD_VERP_ID_MAX + 1];
    local_part(known[1].want, lp, sizeof lp);
    for (size_t i = 0; lp[i]; i++)
        lp[i] = (char)toupper((unsigned char)lp[i]);
    assert_int_equal(hd_verp_decode(key, lp, id, NULL), 0);
    assert_string_equal(id, "3f2a9c");
    lp[0] = 'b'; /* mixed */
    lp[5] = 'a';
    assert_int_equal(hd_verp_decode(key, lp, id, NULL), 0);
    assert_string_equal(id, "3f2a9c");
}

static void test_wrong_key(void **state)
{
    uint8_t other[HD_VERP_KEY_LEN];
    memcpy(other, key, sizeof other);
    other[31] ^= 1;
    char lp[128], id[HD_VERP_ID_MAX + 1];
    local_part(known[1].want, lp, sizeof lp);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_verp_decode(other, lp, id, &err), HD_EINVAL);
    assert_true(err.msg[0] != '\0');
}

/* Every single-character change of the id or the mac (to another
 * character the syntax allows) must be caught by the mac. */
static void test_tampered(void **state)
{
    char lp[128], id[HD_VERP_ID_MAX + 1];
    local_part(known[1].want, lp, sizeof lp); /* b-3f2a9c-mk46yhffv6hcsfu6 */
    size_t n = strlen(lp);
    size_t tried = 0;
    for (size_t i = 2; i < n; i++) {
        if (lp[i] == '-')
            continue;
        bool in_id = i < 8;
        const char *alphabet = in_id ? "0123456789abcdefghijklmnopqrstuvwxyz"
                                     : "abcdefghijklmnopqrstuvwxyz234567";
        for (const char *c = alphabet; *c; c++) {
            if (*c == lp[i])
                continue;
            char t[128];
            memcpy(t, lp, n + 1);
            t[i] = *c;
            hd_err err;
            hd_err_clear(&err);
            int rc = hd_verp_decode(key, t, id, &err);
            if (rc != HD_EINVAL)
                fail_msg("%s: rc %d (%s), want HD_EINVAL", t, rc, err.msg);
            tried++;
        }
    }
    assert_true(tried > 500);
}

struct bad_case {
    const char *name, *lp;
};

static const struct bad_case malformed[] = {
    {"empty", ""},
    {"just the prefix", "b-"},
    {"no b- prefix", "x-3f2a9c-mk46yhffv6hcsfu6"},
    {"prefix without dash", "b3f2a9c-mk46yhffv6hcsfu6"},
    {"no mac", "b-3f2a9c"},
    {"no mac after dash", "b-3f2a9c-"},
    {"mac one short", "b-3f2a9c-mk46yhffv6hcsfu"},
    {"mac one long", "b-3f2a9c-mk46yhffv6hcsfu6a"},
    {"empty id", "b--mk46yhffv6hcsfu6"},
    {"id with a dot", "b-3f.a9c-mk46yhffv6hcsfu6"},
    {"id with an underscore", "b-3f_a9c-mk46yhffv6hcsfu6"},
    {"id with a dash", "b-3f-a9c-mk46yhffv6hcsfu6"},
    {"id with a space", "b-3f a9c-mk46yhffv6hcsfu6"},
    {"id with 8-bit", "b-3f\xc3\xa9-mk46yhffv6hcsfu6"},
    {"id of 41", "b-" ID40 "a-ht3fsv3gx4qrdxoi"},
    {"far too long", "b-" ID40 ID40 ID40 "-ht3fsv3gx4qrdxoi"},
    {"a whole address", "b-3f2a9c-mk46yhffv6hcsfu6@bounce.example.com"},
    {"quoted", "\"b-3f2a9c-mk46yhffv6hcsfu6\""},
};

static void test_malformed(void **state)
{
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char id[HD_VERP_ID_MAX + 1];
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_verp_decode(key, malformed[i].lp, id, &err);
        if (rc != HD_ESYNTAX)
            fail_msg("%s: rc %d (%s), want HD_ESYNTAX", malformed[i].name, rc, err.msg);
        if (err.msg[0] == '\0')
            fail_msg("%s: no reason given", malformed[i].name);
    }
}

/* A mac of the right length with characters base32 does not have can
 * never match; any refusal will do (the header does not say which). */
static void test_mac_outside_base32(void **state)
{
    char id[HD_VERP_ID_MAX + 1];
    assert_true(hd_verp_decode(key, "b-3f2a9c-mk46yhffv6hcsf01", id, NULL) < 0);
    assert_true(hd_verp_decode(key, "b-3f2a9c-mk46yhffv6hcsf!!", id, NULL) < 0);
}

static void test_encode_bad_id(void **state)
{
    const char *bad[] = {"", "ABC", "a-b", "a.b", "a b", "caf\xc3\xa9", ID40 "a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char addr[256] = "untouched";
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_verp_encode(key, bad[i], "bounce.example.com", addr, sizeof addr, &err);
        if (rc != HD_EINVAL)
            fail_msg("id \"%s\": rc %d, want HD_EINVAL", bad[i], rc);
    }
}

static void test_encode_buffer_size(void **state)
{
    const char *want = known[0].want;
    size_t len = strlen(want);
    char addr[256];
    hd_err err;
    hd_err_clear(&err);
    /* exactly enough (with the NUL) works; one byte less does not */
    assert_int_equal(hd_verp_encode(key, "a", "bounce.example.com", addr, len + 1, &err), 0);
    assert_string_equal(addr, want);
    assert_int_equal(hd_verp_encode(key, "a", "bounce.example.com", addr, len, &err), HD_ELIMIT);
    assert_int_equal(hd_verp_encode(key, "a", "bounce.example.com", addr, 1, &err), HD_ELIMIT);
    assert_int_equal(hd_verp_encode(key, "a", "bounce.example.com", addr, 0, &err), HD_ELIMIT);
}

/* RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. The longest id
 * must fit, and decoding must take whatever the encoder can make. */
static void test_local_part_length(void **state)
{
    char addr[256], lp[128], id[HD_VERP_ID_MAX + 1];
    assert_int_equal(hd_verp_encode(key, ID40, "x.example", addr, sizeof addr, NULL), 0);
    local_part(addr, lp, sizeof lp);
    assert_true(strlen(lp) <= 64);
    assert_int_equal(strlen(ID40), HD_VERP_ID_MAX);
    assert_int_equal(hd_verp_decode(key, lp, id, NULL), 0);
    assert_string_equal(id, ID40);
}

/* Per-recipient ids: "r" + base 36, round trip through an address; never
 * a message id (32 hex digits); bad ones refused. */
static void test_rcpt_ids(void **state)
{
    (void)state;
    static const int64_t ids[] = {1, 35, 36, 1295, 123456789, INT64_MAX};
    static const char *const want[] = {"r1", "rz", "r10", "rzz", "r21i3v9", "r1y2p0ij32e8e7"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        char id[HD_VERP_ID_MAX + 1], addr[128], back[HD_VERP_ID_MAX + 1];
        hd_verp_rcpt_id(ids[i], id);
        assert_string_equal(id, want[i]);
        int64_t got = 0;
        assert_true(hd_verp_rcpt_parse(id, &got));
        assert_true(got == ids[i]);
        assert_int_equal(hd_verp_encode(key, id, "bounce.example.com", addr, sizeof addr, NULL), 0);
        *strchr(addr, '@') = '\0';
        assert_true(strlen(addr) <= 64);      /* RFC 5321 §4.5.3.1.1 */
        assert_int_equal(hd_verp_decode(key, addr, back, NULL), 0);
        assert_string_equal(back, id);
    }
    int64_t v;
    static const char *const bad[] = {"", "r", "r0", "0123456789abcdef0123456789abcdef", "rA1",
                                      "r-1", "r1y2p0ij32e8e8", "rzzzzzzzzzzzzz"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (hd_verp_rcpt_parse(bad[i], &v))
            fail_msg("\"%s\" parsed as recipient %lld", bad[i], (long long)v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_decode_ignores_case),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_mac_outside_base32),
        cmocka_unit_test(test_encode_bad_id),
        cmocka_unit_test(test_encode_buffer_size),
        cmocka_unit_test(test_local_part_length),
        cmocka_unit_test(test_rcpt_ids),
    };
    return cmocka_run_group_tests(tests, setup_key, NULL);
}
