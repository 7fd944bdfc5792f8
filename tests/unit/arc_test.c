/*
 * arc_test.c - ARC validation and sealing, case by case: chain shape
 * (too many sets, gaps, duplicates), a broken newest AMS, oldest-pass,
 * real samples (one ed25519-sha256 set), and round trips through herald's
 * own sealer with fresh RSA and Ed25519 keys, once and twice.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/arc.h>
#include <herald/base64.h>
#include <herald/dns.h>
#include <herald/key.h>

#define NOW 1700000000

static hd_dns *zone_text(const char *text)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_slice_cstr(text), "<test>", &err) != 0)
        fail_msg("zone text: %s", err.msg);
    return dns;
}

/* Validate msg; the verifier is returned for the set details. */
static hd_arc_verifier *validate(hd_dns *dns, hd_slice msg, int64_t now)
{
    hd_arc_verify_opts o;
    hd_arc_verify_opts_init(&o, now);
    hd_arc_verifier *v = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_arc_verifier_new(&o, &v, &err), 0);
    if (hd_arc_verify_run(v, msg, dns, &err) != 0)
        fail_msg("verify_run: %s", err.msg);
    return v;
}

static hd_arc_result result_of(hd_dns *dns, hd_slice msg)
{
    hd_arc_verifier *v = validate(dns, msg, NOW);
    hd_arc_result r = *hd_arc_verify_result(v);
    hd_arc_verifier_free(v);
    return r;
}

/* Shape ----------------------------------------------------------------- */

/* Fields that parse (tag lists with i=) but carry no real signatures. */
static void fake_set(hd_buf *m, unsigned i, bool aar, bool ams, bool as)
{
    if (as)
        hd_buf_printf(m, "ARC-Seal: i=%u; a=rsa-sha256; cv=%s; d=example.org; s=x; b=AAAA\r\n", i,
                      i == 1 ? "none" : "pass");
    if (ams)
        hd_buf_printf(m, "ARC-Message-Signature: i=%u; a=rsa-sha256; d=example.org; s=x; "
                         "h=from; bh=AAAA; b=AAAA\r\n", i);
    if (aar)
        hd_buf_printf(m, "ARC-Authentication-Results: i=%u; mx.example.org; spf=pass\r\n", i);
}

static const char body_part[] = "From: a@example.org\r\nTo: b@example.net\r\n"
                                "Subject: hi\r\n\r\nbody\r\n";

static hd_arc_result shape(void (*build)(hd_buf *))
{
    hd_buf m;
    hd_buf_init(&m, 1 << 20);
    build(&m);
    hd_buf_append_cstr(&m, body_part);
    hd_dns *dns = zone_text("");
    hd_arc_result r = result_of(dns, hd_buf_slice(&m));
    hd_dns_free(dns);
    hd_buf_free(&m);
    return r;
}

static void build_51(hd_buf *m)
{
    for (unsigned i = 51; i >= 1; i--)
        fake_set(m, i, true, true, true);
}

static void build_gap(hd_buf *m)
{
    fake_set(m, 3, true, true, true);
    fake_set(m, 1, true, true, true);
}

static void build_dup(hd_buf *m)
{
    fake_set(m, 1, true, true, true);
    fake_set(m, 1, false, true, false);
}

static void build_missing_as(hd_buf *m)
{
    fake_set(m, 2, true, true, false);
    fake_set(m, 1, true, true, true);
}

static void build_none(hd_buf *m)
{
    (void)m;
}

static void test_chain_shape(void **state)
{
    hd_arc_result r = shape(build_51);
    assert_int_equal(r.cv, HD_ARC_FAIL);
    assert_int_equal(r.max_instance, 51);
    assert_non_null(strstr(r.reason, "above 50"));

    r = shape(build_gap);
    assert_int_equal(r.cv, HD_ARC_FAIL);
    assert_int_equal(r.failed_instance, 2);
    assert_non_null(strstr(r.reason, "no ARC set with i=2"));

    r = shape(build_dup);
    assert_int_equal(r.cv, HD_ARC_FAIL);
    assert_non_null(strstr(r.reason, "two ARC-Message-Signature fields carry i=1"));

    r = shape(build_missing_as);
    assert_int_equal(r.cv, HD_ARC_FAIL);
    assert_non_null(strstr(r.reason, "i=2 has no ARC-Seal"));

    r = shape(build_none);
    assert_int_equal(r.cv, HD_ARC_NONE);
    assert_int_equal(r.nsets, 0);
}

/* Sealing with fresh keys ----------------------------------------------- */

typedef struct sealer_key {
    hd_key *key;
    const char *selector;
} sealer_key;

static void zone_add_key(hd_buf *z, const sealer_key *k)
{
    hd_buf pub, b64;
    hd_buf_init(&pub, 4096);
    hd_buf_init(&b64, 8192);
    assert_int_equal(hd_key_public_bytes(k->key, &pub, NULL), 0);
    assert_int_equal(hd_b64_encode(hd_buf_slice(&pub), &b64), 0);
    char rec[8192];
    snprintf(rec, sizeof rec, "v=DKIM1; k=%s; p=%s", hd_key_type_name(hd_key_get_type(k->key)),
             hd_buf_cstr(&b64));
    hd_buf_printf(z, "%s._domainkey.example.org. IN TXT", k->selector);
    size_t len = strlen(rec);
    for (size_t i = 0; i < len; i += 255)
        hd_buf_printf(z, " \"%.*s\"", (int)(len - i < 255 ? len - i : 255), rec + i);
    hd_buf_append_cstr(z, "\n");
    hd_buf_free(&pub);
    hd_buf_free(&b64);
}

/* Validate msg, seal it, and replace msg by the sealed message. */
static void seal_into(hd_dns *dns, const sealer_key *k, const char *headers, hd_buf *msg)
{
    hd_arc_result chain = result_of(dns, hd_buf_slice(msg));
    hd_arc_seal_opts o;
    hd_arc_seal_opts_init(&o);
    o.domain = "example.org";
    o.selector = k->selector;
    o.headers = headers;
    o.timestamp = NOW - 60;
    hd_arc_sealer *s = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_arc_sealer_new(&o, k->key, &s, &err), 0);
    hd_buf ar, out;
    hd_buf_init(&ar, 4096);
    hd_buf_init(&out, 1 << 20);
    hd_buf_printf(&ar, "relay.example.org; ");
    hd_arc_result_to_ar(&chain, &ar);
    hd_buf_append_cstr(&ar, "; spf=pass smtp.mailfrom=example.org; dkim=none");
    if (hd_arc_seal(s, hd_buf_slice(msg), &chain, hd_buf_cstr(&ar), &out, &err) != 0)
        fail_msg("seal: %s", err.msg);
    assert_true(out.len > 0);
    hd_buf_append_slice(&out, hd_buf_slice(msg));
    hd_buf_reset(msg);
    hd_buf_append_slice(msg, hd_buf_slice(&out));
    hd_buf_free(&ar);
    hd_buf_free(&out);
    hd_arc_sealer_free(s);
}

typedef struct fixture {
    sealer_key rsa, ed;
    hd_dns *dns;
} fixture;

static void fixture_make(fixture *f)
{
    f->rsa.selector = "rsa";
    f->ed.selector = "ed";
    assert_int_equal(hd_key_generate(HD_KEY_RSA, 2048, &f->rsa.key, NULL), 0);
    assert_int_equal(hd_key_generate(HD_KEY_ED25519, 0, &f->ed.key, NULL), 0);
    hd_buf z;
    hd_buf_init(&z, 1 << 16);
    zone_add_key(&z, &f->rsa);
    zone_add_key(&z, &f->ed);
    f->dns = zone_text(hd_buf_cstr(&z));
    hd_buf_free(&z);
}

static void fixture_free(fixture *f)
{
    hd_key_free(f->rsa.key);
    hd_key_free(f->ed.key);
    hd_dns_free(f->dns);
}

static void test_roundtrip_rsa_and_ed25519(void **state)
{
    fixture f;
    fixture_make(&f);
    const sealer_key *keys[] = {&f.rsa, &f.ed};
    for (size_t k = 0; k < 2; k++) {
        hd_buf m;
        hd_buf_init(&m, 1 << 20);
        hd_buf_append_cstr(&m, body_part);
        seal_into(f.dns, keys[k], NULL, &m);
        hd_arc_verifier *v = validate(f.dns, hd_buf_slice(&m), NOW);
        const hd_arc_result *r = hd_arc_verify_result(v);
        if (r->cv != HD_ARC_PASS)
            fail_msg("%s: cv=%s: %s", keys[k]->selector, hd_arc_cv_name(r->cv), r->reason);
        assert_int_equal(r->nsets, 1);
        const hd_arc_set_info *s = hd_arc_verify_set(v, 0);
        assert_string_equal(s->as_domain, "example.org");
        assert_string_equal(s->as_selector, keys[k]->selector);
        assert_string_equal(s->authserv_id, "relay.example.org");
        assert_string_equal(s->aar, "relay.example.org; arc=none; spf=pass "
                                    "smtp.mailfrom=example.org; dkim=none");
        assert_string_equal(s->ams_algorithm, k ? "ed25519-sha256" : "rsa-sha256");
        assert_int_equal(s->seal_cv, HD_ARC_NONE);
        hd_arc_verifier_free(v);
        hd_buf_free(&m);
    }
    fixture_free(&f);
}

static void test_sealed_twice(void **state)
{
    fixture f;
    fixture_make(&f);
    hd_buf m;
    hd_buf_init(&m, 1 << 20);
    hd_buf_append_cstr(&m, body_part);
    seal_into(f.dns, &f.rsa, NULL, &m);
    seal_into(f.dns, &f.ed, NULL, &m);
    hd_arc_verifier *v = validate(f.dns, hd_buf_slice(&m), NOW);
    const hd_arc_result *r = hd_arc_verify_result(v);
    if (r->cv != HD_ARC_PASS)
        fail_msg("cv=%s: %s", hd_arc_cv_name(r->cv), r->reason);
    assert_int_equal(r->nsets, 2);
    assert_int_equal(r->oldest_pass, 0);
    assert_int_equal(hd_arc_verify_set(v, 1)->seal_cv, HD_ARC_PASS);
    assert_non_null(strstr(hd_arc_verify_set(v, 1)->aar, "arc=pass"));
    hd_buf ar;
    hd_buf_init(&ar, 1024);
    hd_arc_result_to_ar(r, &ar);
    assert_string_equal(hd_buf_cstr(&ar), "arc=pass (i=2) header.oldest-pass=0");
    hd_buf_free(&ar);
    hd_arc_verifier_free(v);
    hd_buf_free(&m);
    fixture_free(&f);
}

/* Replace the first occurrence of from by to in m. */
static void edit(hd_buf *m, const char *from, const char *to)
{
    char *p = strstr((char *)m->p, from);
    assert_non_null(p);
    hd_buf n;
    hd_buf_init(&n, 1 << 20);
    hd_buf_append(&n, m->p, (size_t)((uint8_t *)p - m->p));
    hd_buf_append_cstr(&n, to);
    hd_buf_append_cstr(&n, p + strlen(from));
    hd_buf_reset(m);
    hd_buf_append_slice(m, hd_buf_slice(&n));
    hd_buf_free(&n);
}

static void test_broken_newest_ams(void **state)
{
    fixture f;
    fixture_make(&f);
    hd_buf m;
    hd_buf_init(&m, 1 << 20);
    hd_buf_append_cstr(&m, body_part);
    seal_into(f.dns, &f.rsa, NULL, &m);
    seal_into(f.dns, &f.ed, NULL, &m);
    edit(&m, "Subject: hi", "Subject: changed");
    hd_arc_result r = result_of(f.dns, hd_buf_slice(&m));
    assert_int_equal(r.cv, HD_ARC_FAIL);
    assert_int_equal(r.failed_instance, 2);
    assert_non_null(strstr(r.reason, "newest ARC-Message-Signature (i=2)"));
    /* a failed chain is sealed with cv=fail over the new set alone
     * (§5.1.2), and then never again (§5.1 step 2) */
    hd_arc_seal_opts o;
    hd_arc_seal_opts_init(&o);
    o.domain = "example.org";
    o.selector = "rsa";
    hd_arc_sealer *s = NULL;
    assert_int_equal(hd_arc_sealer_new(&o, f.rsa.key, &s, NULL), 0);
    hd_buf out;
    hd_buf_init(&out, 1 << 20);
    assert_int_equal(hd_arc_seal(s, hd_buf_slice(&m), &r, "relay.example.org; arc=fail", &out,
                                 NULL), 0);
    assert_non_null(strstr(hd_buf_cstr(&out), "cv=fail; d=example.org; i=3"));
    hd_buf_append_slice(&out, hd_buf_slice(&m));
    hd_arc_result r3 = result_of(f.dns, hd_buf_slice(&out));
    assert_int_equal(r3.cv, HD_ARC_FAIL);
    assert_true(r3.latest_seal_fail);
    hd_buf again;
    hd_buf_init(&again, 1 << 20);
    assert_int_equal(hd_arc_seal(s, hd_buf_slice(&out), &r3, "relay.example.org; arc=fail",
                                 &again, NULL), 0);
    assert_int_equal(again.len, 0);
    hd_buf_free(&again);
    hd_buf_free(&out);
    hd_arc_sealer_free(s);
    hd_buf_free(&m);
    fixture_free(&f);
}

static void test_oldest_pass(void **state)
{
    fixture f;
    fixture_make(&f);
    hd_buf m;
    hd_buf_init(&m, 1 << 20);
    hd_buf_append_cstr(&m, body_part);
    seal_into(f.dns, &f.rsa, "from:subject", &m);
    seal_into(f.dns, &f.ed, "from:to", &m);
    /* set 2 does not sign Subject: changing it breaks only AMS 1 */
    edit(&m, "Subject: hi", "Subject: [list] hi");
    hd_arc_result r = result_of(f.dns, hd_buf_slice(&m));
    if (r.cv != HD_ARC_PASS)
        fail_msg("cv=%s: %s", hd_arc_cv_name(r.cv), r.reason);
    assert_int_equal(r.oldest_pass, 2);
    hd_buf_free(&m);
    fixture_free(&f);
}

static void test_sealer_refusals(void **state)
{
    fixture f;
    fixture_make(&f);
    hd_arc_seal_opts o;
    hd_arc_seal_opts_init(&o);
    o.domain = "example.org";
    o.selector = "rsa";
    hd_arc_sealer *s = NULL;
    hd_err err;
    o.headers = "from:arc-seal";
    assert_int_equal(hd_arc_sealer_new(&o, f.rsa.key, &s, &err), HD_EINVAL);
    o.headers = "from:Authentication-Results";
    assert_int_equal(hd_arc_sealer_new(&o, f.rsa.key, &s, &err), HD_EINVAL);
    o.headers = "to:subject";
    assert_int_equal(hd_arc_sealer_new(&o, f.rsa.key, &s, &err), HD_EINVAL);
    o.headers = NULL;
    assert_int_equal(hd_arc_sealer_new(&o, f.rsa.key, &s, &err), 0);
    hd_arc_result full = {.cv = HD_ARC_PASS, .max_instance = 50, .nsets = 50};
    hd_buf out;
    hd_buf_init(&out, 1 << 16);
    assert_int_equal(hd_arc_seal(s, hd_slice_cstr(body_part), &full, "x; spf=pass", &out, &err),
                     HD_ELIMIT);
    hd_arc_result none = {.cv = HD_ARC_NONE};
    assert_int_equal(hd_arc_seal(s, hd_slice_cstr(body_part), &none, "x;\r\nspf=pass", &out,
                                 &err), HD_EINVAL); /* no CR/LF into a header */
    hd_arc_result lie = {.cv = HD_ARC_PASS, .max_instance = 1, .nsets = 1};
    assert_int_equal(hd_arc_seal(s, hd_slice_cstr(body_part), &lie, "x; spf=pass", &out, &err),
                     HD_EINVAL); /* the result is not this message's */
    hd_buf_free(&out);
    hd_arc_sealer_free(s);
    fixture_free(&f);
}

/* stalwartlabs/mail-auth's ARC samples: TXT records ("name value" lines),
 * a blank line, the message. 002 has an ed25519-sha256 set. */
static void test_mail_auth_samples(void **state)
{
    static const char *const files[] = {"001.txt", "002.txt"};
    for (size_t c = 0; c < 2; c++) {
        char rel[128];
        snprintf(rel, sizeof rel, "mail-auth/arc/%s", files[c]);
        size_t len;
        char *text = (char *)tu_read_file(tu_path(HERALD_TESTDATA, rel), &len);
        hd_buf zone;
        hd_buf_init(&zone, 1 << 16);
        size_t i = 0;
        while (i < len && text[i] != '\n') {
            size_t e = i, sp;
            while (e < len && text[e] != '\n')
                e++;
            for (sp = i; sp < e && text[sp] != ' '; sp++)
                ;
            hd_buf_printf(&zone, "%.*s. IN TXT", (int)(sp - i), text + i);
            for (size_t k = sp + 1; k < e; k += 255)
                hd_buf_printf(&zone, " \"%.*s\"", (int)(e - k < 255 ? e - k : 255), text + k);
            hd_buf_append_cstr(&zone, "\n");
            i = e + 1;
        }
        hd_dns *dns = zone_text(hd_buf_cstr(&zone));
        hd_arc_result r = result_of(dns, hd_slice_make(text + i + 1, len - i - 1));
        if (r.cv != HD_ARC_PASS)
            fail_msg("%s: cv=%s: %s", files[c], hd_arc_cv_name(r.cv), r.reason);
        hd_dns_free(dns);
        hd_buf_free(&zone);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_shape),
        cmocka_unit_test(test_roundtrip_rsa_and_ed25519),
        cmocka_unit_test(test_sealed_twice),
        cmocka_unit_test(test_broken_newest_ams),
        cmocka_unit_test(test_oldest_pass),
        cmocka_unit_test(test_sealer_refusals),
        cmocka_unit_test(test_mail_auth_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
