/*
 * signproto_test.c - herald/signproto.h: frames round-trip; truncated,
 * oversized and garbage frames are refused with what and where; the
 * signer's table signs only for its own key ids and 32-byte digests; and
 * an hd_key that signs through a function (the network processes' view of
 * a key) makes DKIM signatures that verify with the real key.
 */
#include "testutil.h"

#include <string.h>

#include <herald/dkim.h>
#include <herald/key.h>
#include <herald/signproto.h>

static const uint8_t digest32[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                     31, 32};

static void test_roundtrip(void **state)
{
    (void)state;
    hd_buf b;
    hd_buf_init(&b, 4096);
    assert_int_equal(hd_signproto_put_sign(&b, 7, -42, digest32, 32), 0);
    assert_int_equal(hd_signproto_put_reload(&b, 8), 0);
    assert_int_equal(hd_signproto_put_answer(&b, 9, HD_SIGNPROTO_REFUSED, HD_ENOTFOUND,
                                             hd_slice_cstr("no such key")), 0);
    assert_int_equal(hd_signproto_put_add_domain(&b, 10, 1765000000, hd_slice_cstr("example.com"),
                                                 hd_slice_cstr("")), 0);
    /* a status and a code that disagree are not written */
    assert_int_equal(hd_signproto_put_answer(&b, 11, HD_SIGNPROTO_OK, HD_EIO, HD_SLICE_NULL),
                     HD_EINVAL);
    assert_int_equal(hd_signproto_put_answer(&b, 11, HD_SIGNPROTO_FAILED, 0, HD_SLICE_NULL),
                     HD_EINVAL);
    hd_slice in = hd_buf_slice(&b);
    hd_signproto_msg m;
    size_t used;
    hd_err err = {0};
    assert_int_equal(hd_signproto_decode(in, &m, &used, &err), 0);
    assert_int_equal(used, 4 + 6 + 9 + 32);
    assert_int_equal(m.type, HD_SIGNPROTO_SIGN);
    assert_int_equal(m.id, 7);
    assert_true(m.key_id == -42);
    assert_int_equal(m.digest.len, 32);
    assert_memory_equal(m.digest.p, digest32, 32);
    in.p += used, in.len -= used;
    assert_int_equal(hd_signproto_decode(in, &m, &used, &err), 0);
    assert_int_equal(used, 10);
    assert_int_equal(m.type, HD_SIGNPROTO_RELOAD);
    assert_int_equal(m.id, 8);
    in.p += used, in.len -= used;
    assert_int_equal(hd_signproto_decode(in, &m, &used, &err), 0);
    assert_int_equal(m.type, HD_SIGNPROTO_ANSWER);
    assert_int_equal(m.status, HD_SIGNPROTO_REFUSED);
    assert_int_equal(m.code, HD_ENOTFOUND);
    assert_true(hd_slice_eq_cstr(m.body, "no such key"));
    in.p += used, in.len -= used;
    assert_int_equal(hd_signproto_decode(in, &m, &used, &err), 0);
    assert_int_equal(m.type, HD_SIGNPROTO_ADD_DOMAIN);
    assert_int_equal(m.id, 10);
    assert_true(m.now == 1765000000);
    assert_true(hd_slice_eq_cstr(m.domain, "example.com"));
    assert_int_equal(m.bounce.len, 0);
    assert_int_equal(used, in.len);
    hd_buf_free(&b);
}

/* Every proper prefix of a frame asks for more, never errs or reads past. */
static void test_truncated_asks_for_more(void **state)
{
    (void)state;
    hd_buf b;
    hd_buf_init(&b, 4096);
    assert_int_equal(hd_signproto_put_sign(&b, 1, 5, digest32, 32), 0);
    for (size_t n = 0; n < b.len; n++) {
        hd_signproto_msg m;
        size_t used = 99;
        hd_err err = {0};
        assert_int_equal(hd_signproto_decode(hd_slice_make(b.p, n), &m, &used, &err), 0);
        assert_int_equal(used, 0);
    }
    hd_buf_free(&b);
}

static void test_bad_frames(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        int want;
        const char *msg;    /* a part of the message */
    } cases[] = {
        {"over the maximum", "\x00\x00\x10\x00", 4, HD_ELIMIT, "4096 bytes (length at byte 0)"},
        {"4 GiB length", "\xff\xff\xff\xff", 4, HD_ELIMIT, "over the"},
        {"shorter than the head", "\x00\x00\x00\x02\x01\x01", 6, HD_ESYNTAX, "shorter than"},
        {"wrong version", "\x00\x00\x00\x06\x02\x02\x00\x00\x00\x01", 10, HD_ESYNTAX,
         "version 2 at byte 4"},
        {"unknown type", "\x00\x00\x00\x06\x01\x09\x00\x00\x00\x01", 10, HD_ESYNTAX,
         "unknown frame type 9 at byte 5"},
        {"sign without key id", "\x00\x00\x00\x08\x01\x01\x00\x00\x00\x01\x00\x00", 12,
         HD_ESYNTAX, "cut short at byte 12"},
        {"digest length 0", "\x00\x00\x00\x0f\x01\x01\x00\x00\x00\x01"
                            "\x00\x00\x00\x00\x00\x00\x00\x01\x00", 19, HD_ESYNTAX,
         "digest length 0 at byte 18"},
        {"digest longer than said", "\x00\x00\x00\x11\x01\x01\x00\x00\x00\x01"
                                    "\x00\x00\x00\x00\x00\x00\x00\x01\x01\xaa\xbb", 21,
         HD_ESYNTAX, "2 bytes of digest at byte 19, its length says 1"},
        {"reload with a tail", "\x00\x00\x00\x07\x01\x02\x00\x00\x00\x01\x00", 11, HD_ESYNTAX,
         "1 bytes after its head"},
        {"answer with unknown status", "\x00\x00\x00\x0d\x01\x03\x00\x00\x00\x01\x07"
                                       "\xff\xff\xff\xfe\x00\x00", 17, HD_ESYNTAX,
         "unknown status 7"},
        {"answer without its code", "\x00\x00\x00\x09\x01\x03\x00\x00\x00\x01\x01\x00\x00",
         13, HD_ESYNTAX, "7 needed"},
        {"answer ok with a code", "\x00\x00\x00\x0d\x01\x03\x00\x00\x00\x01\x00"
                                  "\xff\xff\xff\xfe\x00\x00", 17, HD_ESYNTAX,
         "status 0 with code -2"},
        {"answer with a positive code", "\x00\x00\x00\x0d\x01\x03\x00\x00\x00\x01\x01"
                                        "\x00\x00\x00\x05\x00\x00", 17, HD_ESYNTAX,
         "code 5 at byte 11"},
        {"answer body longer than said", "\x00\x00\x00\x0e\x01\x03\x00\x00\x00\x01\x00"
                                         "\x00\x00\x00\x00\x00\x00x", 18, HD_ESYNTAX,
         "1 bytes of body"},
        {"add-domain without time", "\x00\x00\x00\x07\x01\x04\x00\x00\x00\x01\x00", 11,
         HD_ESYNTAX, "no time"},
        {"add-domain name past the end", "\x00\x00\x00\x11\x01\x04\x00\x00\x00\x01"
                                         "\x00\x00\x00\x00\x00\x00\x00\x01\x05" "ab", 21,
         HD_ESYNTAX, "the domain at byte 18 says 5 bytes, 2 are left"},
        {"add-domain empty name", "\x00\x00\x00\x10\x01\x04\x00\x00\x00\x01"
                                  "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00", 20,
         HD_ESYNTAX, "an empty domain"},
        {"add-domain name with a space", "\x00\x00\x00\x11\x01\x04\x00\x00\x00\x01"
                                         "\x00\x00\x00\x00\x00\x00\x00\x01\x01 \x00", 21,
         HD_ESYNTAX, "byte 19 of the domain is not printable"},
        {"add-domain without bounce length", "\x00\x00\x00\x10\x01\x04\x00\x00\x00\x01"
                                             "\x00\x00\x00\x00\x00\x00\x00\x01\x01" "a", 20,
         HD_ESYNTAX, "no length of the bounce domain"},
        {"add-domain with a tail", "\x00\x00\x00\x12\x01\x04\x00\x00\x00\x01"
                                   "\x00\x00\x00\x00\x00\x00\x00\x01\x01" "a\x00" "z", 22,
         HD_ESYNTAX, "1 bytes after its fields"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hd_signproto_msg m;
        size_t used = 99;
        hd_err err = {0};
        int rc = hd_signproto_decode(hd_slice_make(cases[i].bytes, cases[i].len), &m, &used,
                                     &err);
        if (rc != cases[i].want || used != 0 || !strstr(err.msg, cases[i].msg))
            fail_msg("%s: rc %d used %zu \"%s\", want %d with \"%s\"", cases[i].name, rc, used,
                     err.msg, cases[i].want, cases[i].msg);
    }
}

/* A table of one Ed25519 and one RSA key, ids 10 and 11. */
static hd_signproto_keys *table_of_two(hd_key **pub_ed, hd_key **pub_rsa)
{
    hd_signproto_keys *t = NULL;
    hd_err err = {0};
    assert_int_equal(hd_signproto_keys_new(&t, &err), 0);
    hd_key *ed = NULL, *rsa = NULL;
    assert_int_equal(hd_key_generate(HD_KEY_ED25519, 0, &ed, &err), 0);
    assert_int_equal(hd_key_generate(HD_KEY_RSA, 1024, &rsa, &err), 0);
    hd_buf pb;
    hd_buf_init(&pb, 4096);
    assert_int_equal(hd_key_public_bytes(ed, &pb, &err), 0);
    assert_int_equal(hd_key_from_public(HD_KEY_ED25519, hd_buf_slice(&pb), pub_ed, &err), 0);
    hd_buf_reset(&pb);
    assert_int_equal(hd_key_public_bytes(rsa, &pb, &err), 0);
    assert_int_equal(hd_key_from_public(HD_KEY_RSA, hd_buf_slice(&pb), pub_rsa, &err), 0);
    hd_buf_free(&pb);
    assert_int_equal(hd_signproto_keys_add(t, 11, rsa, &err), 0);
    assert_int_equal(hd_signproto_keys_add(t, 10, ed, &err), 0);
    return t;
}

/* Decode the answer the table gave. */
static hd_signproto_msg answer_of(const hd_buf *b)
{
    hd_signproto_msg m;
    size_t used;
    hd_err err = {0};
    assert_int_equal(hd_signproto_decode(hd_buf_slice(b), &m, &used, &err), 0);
    assert_int_equal(used, b->len);
    assert_int_equal(m.type, HD_SIGNPROTO_ANSWER);
    return m;
}

static void test_serve(void **state)
{
    (void)state;
    hd_key *pub_ed = NULL, *pub_rsa = NULL;
    hd_signproto_keys *t = table_of_two(&pub_ed, &pub_rsa);
    assert_int_equal(hd_signproto_keys_count(t), 2);
    hd_err why = {0};
    hd_key *again = NULL;
    assert_int_equal(hd_key_generate(HD_KEY_ED25519, 0, &again, &why), 0);
    assert_int_equal(hd_signproto_keys_add(t, 10, again, &why), HD_EINVAL);   /* taken, freed */
    hd_key *public_only = NULL;
    hd_buf pb;
    hd_buf_init(&pb, 4096);
    assert_int_equal(hd_key_public_bytes(pub_ed, &pb, &why), 0);
    assert_int_equal(hd_key_from_public(HD_KEY_ED25519, hd_buf_slice(&pb), &public_only, &why), 0);
    hd_buf_free(&pb);
    assert_int_equal(hd_signproto_keys_add(t, 12, public_only, &why), HD_EINVAL);

    static const struct {
        const char *name;
        int64_t key_id;
        size_t digest_len;
        int want_rc;
        hd_signproto_status want;
        const char *msg;
    } cases[] = {
        {"Ed25519 key signs", 10, 32, 0, HD_SIGNPROTO_OK, ""},
        {"RSA key signs", 11, 32, 0, HD_SIGNPROTO_OK, ""},
        {"unknown key id", 12, 32, HD_ENOTFOUND, HD_SIGNPROTO_REFUSED,
         "key id 12 is not one of the 2 keys"},
        {"negative key id", -1, 32, HD_ENOTFOUND, HD_SIGNPROTO_REFUSED, "key id -1"},
        {"SHA-1 sized digest", 10, 20, HD_EINVAL, HD_SIGNPROTO_REFUSED, "a digest of 20 bytes"},
        {"SHA-512 sized digest", 11, 64, HD_EINVAL, HD_SIGNPROTO_REFUSED, "a digest of 64"},
    };
    uint8_t digest[64];
    memset(digest, 0x5a, sizeof digest);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hd_buf req, ans;
        hd_buf_init(&req, 4096);
        hd_buf_init(&ans, 4096);
        assert_int_equal(hd_signproto_put_sign(&req, (uint32_t)i, cases[i].key_id, digest,
                                               cases[i].digest_len), 0);
        hd_signproto_msg m;
        size_t used;
        hd_err err = {0};
        assert_int_equal(hd_signproto_decode(hd_buf_slice(&req), &m, &used, &err), 0);
        hd_err_clear(&why);
        int rc = hd_signproto_serve(t, &m, &ans, &why);
        hd_signproto_msg a = answer_of(&ans);
        if (rc != cases[i].want_rc || a.status != cases[i].want || a.id != (uint32_t)i ||
            !strstr(why.msg, cases[i].msg))
            fail_msg("%s: rc %d status %s \"%s\"", cases[i].name, rc,
                     hd_signproto_status_name(a.status), why.msg);
        if (a.status == HD_SIGNPROTO_OK) {
            hd_key *pub = cases[i].key_id == 10 ? pub_ed : pub_rsa;
            assert_int_equal(hd_key_verify_digest(pub, digest, 32, false, a.body, &err), 0);
        } else {
            assert_true(hd_slice_eq_cstr(a.body, why.msg));
        }
        hd_buf_free(&req);
        hd_buf_free(&ans);
    }
    /* an answer or a reload is not a sign request */
    hd_signproto_msg reload = {.type = HD_SIGNPROTO_RELOAD, .id = 3};
    hd_buf ans;
    hd_buf_init(&ans, 4096);
    assert_int_equal(hd_signproto_serve(t, &reload, &ans, &why), HD_EINVAL);
    assert_int_equal(answer_of(&ans).status, HD_SIGNPROTO_REFUSED);
    hd_buf_free(&ans);
    hd_key_free(pub_ed);
    hd_key_free(pub_rsa);
    hd_signproto_keys_free(t);
}

/* The network side's key: public only, signing through a function that
 * speaks the protocol with a table (here in memory, in the server over a
 * socket). */
typedef struct remote {
    hd_signproto_keys *t;
    int64_t key_id;
    unsigned calls;
} remote;

static int remote_sign(void *arg, const uint8_t digest[32], hd_buf *sig, hd_err *err)
{
    remote *r = arg;
    r->calls++;
    hd_buf req, ans;
    hd_buf_init(&req, 4096);
    hd_buf_init(&ans, 4096);
    hd_signproto_put_sign(&req, r->calls, r->key_id, digest, 32);
    hd_signproto_msg m, a;
    size_t used;
    int rc = hd_signproto_decode(hd_buf_slice(&req), &m, &used, err);
    if (!rc)
        hd_signproto_serve(r->t, &m, &ans, err);
    if (!rc)
        rc = hd_signproto_decode(hd_buf_slice(&ans), &a, &used, err);
    if (!rc && a.status != HD_SIGNPROTO_OK)
        rc = hd_err_set(err, HD_ETEMP, "signer: %.*s", (int)a.body.len, (const char *)a.body.p);
    if (!rc)
        rc = hd_buf_append_slice(sig, a.body);
    hd_buf_free(&req);
    hd_buf_free(&ans);
    return rc;
}

static void test_remote_key_signs_dkim(void **state)
{
    (void)state;
    hd_key *pub_ed = NULL, *pub_rsa = NULL;
    hd_signproto_keys *t = table_of_two(&pub_ed, &pub_rsa);
    hd_err err = {0};
    hd_buf out;
    hd_buf_init(&out, 1u << 16);
    hd_dkim_sign_opts o;
    hd_dkim_sign_opts_init(&o);
    o.domain = "example.com";
    o.selector = "s1";
    /* no signing function yet: a public key cannot sign */
    hd_dkim_signer *s = NULL;
    assert_false(hd_key_can_sign(pub_rsa));
    assert_int_equal(hd_dkim_signer_new(&o, pub_rsa, &s, &err), HD_EINVAL);
    remote r = {t, 11, 0};
    hd_key_set_signer(pub_rsa, remote_sign, &r);
    assert_true(hd_key_can_sign(pub_rsa));
    assert_false(hd_key_is_private(pub_rsa));
    assert_int_equal(hd_dkim_signer_new(&o, pub_rsa, &s, &err), 0);
    const char *msg = "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n";
    assert_int_equal(hd_dkim_sign_all(&s, 1, hd_slice_cstr(msg), &out, &err), 0);
    assert_int_equal(r.calls, 1);
    assert_non_null(strstr(hd_buf_cstr(&out), "a=rsa-sha256"));
    /* the same signature the key itself gives: PKCS#1 v1.5 is deterministic */
    uint8_t d[32];
    memset(d, 7, sizeof d);
    hd_buf s1, s2;
    hd_buf_init(&s1, 2048);
    hd_buf_init(&s2, 2048);
    assert_int_equal(hd_key_sign_digest(pub_rsa, d, &s1, &err), 0);
    assert_int_equal(hd_key_verify_digest(pub_rsa, d, 32, false, hd_buf_slice(&s1), &err), 0);
    /* a key id the table does not hold: an error, no signature */
    r.key_id = 99;
    assert_int_equal(hd_key_sign_digest(pub_rsa, d, &s2, &err), HD_ETEMP);
    assert_int_equal(s2.len, 0);
    assert_non_null(strstr(err.msg, "key id 99"));
    hd_buf_free(&s1);
    hd_buf_free(&s2);
    hd_buf_free(&out);
    hd_dkim_signer_free(s);
    hd_key_free(pub_ed);
    hd_key_free(pub_rsa);
    hd_signproto_keys_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_truncated_asks_for_more),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_serve),
        cmocka_unit_test(test_remote_key_signs_dkim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
