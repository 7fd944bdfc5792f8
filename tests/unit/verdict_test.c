/*
 * verdict_test.c - a receiver's whole verdict: a message signed here with
 * a generated key, judged against a zone fixture holding its key, an SPF
 * record and a DMARC record: everything aligned; a body changed after
 * signing; SPF failing while DKIM carries DMARC; no records at all; DNS
 * timeouts; the Authentication-Results field, the JSON and the diagnosis
 * that come out; connection facts read from Received and Return-Path.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/arc.h>
#include <herald/authres.h>
#include <herald/base64.h>
#include <herald/dkim.h>
#include <herald/dns.h>
#include <herald/key.h>
#include <herald/verdict.h>

#define NOW 1800000000

static const char invoice[] =
    "From: Billing <billing@example.com>\r\n"
    "To: customer@example.net\r\n"
    "Subject: Your invoice\r\n"
    "Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n"
    "Message-ID: <inv-1@example.com>\r\n"
    "\r\n"
    "Your invoice is attached.\r\n";

/* The key of s1._domainkey.example.com, its record and the signed
 * invoice, made once for the group. */
typedef struct fixture {
    hd_key *key;
    char record[2048];
    hd_buf signed_invoice;
} fixture;

static fixture fx;

static void dkim_record(hd_key *key, char *out, size_t len)
{
    hd_buf pub, b64;
    hd_buf_init(&pub, 4096);
    hd_buf_init(&b64, 4096);
    hd_err err;
    hd_err_clear(&err);
    if (hd_key_public_bytes(key, &pub, &err) != 0 || hd_b64_encode(hd_buf_slice(&pub), &b64) != 0)
        fail_msg("public key: %s", err.msg);
    snprintf(out, len, "v=DKIM1; k=%s; p=%s", hd_key_type_name(hd_key_get_type(key)), hd_buf_cstr(&b64));
    hd_buf_free(&pub);
    hd_buf_free(&b64);
}

/* DKIM-Signature by d=domain s=s1, then the message, into out. */
static void sign(hd_key *key, const char *domain, const char *msg, hd_buf *out)
{
    hd_dkim_sign_opts o;
    hd_dkim_sign_opts_init(&o);
    o.domain = domain;
    o.selector = "s1";
    o.timestamp = NOW - 60;
    hd_dkim_signer *s = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dkim_signer_new(&o, key, &s, &err) != 0 || hd_dkim_sign(s, hd_slice_cstr(msg), out, &err) != 0)
        fail_msg("signing: %s", err.msg);
    hd_dkim_signer_free(s);
    assert_int_equal(hd_buf_append_cstr(out, msg), 0);
}

static int setup(void **state)
{
    hd_err err;
    hd_err_clear(&err);
    if (hd_key_generate(HD_KEY_RSA, 2048, &fx.key, &err) != 0) {
        fprintf(stderr, "key: %s\n", err.msg);
        return -1;
    }
    dkim_record(fx.key, fx.record, sizeof fx.record);
    hd_buf_init(&fx.signed_invoice, 1 << 16);
    sign(fx.key, "example.com", invoice, &fx.signed_invoice);
    return 0;
}

static int teardown(void **state)
{
    hd_key_free(fx.key);
    hd_buf_free(&fx.signed_invoice);
    return 0;
}

/* "name IN TXT" with the record cut in 255-byte strings (RFC 1035 §3.3.14). */
static void zone_txt(hd_buf *z, const char *name, const char *record)
{
    hd_buf_printf(z, "%s. IN TXT", name);
    size_t len = strlen(record);
    for (size_t i = 0; i < len; i += 255)
        hd_buf_printf(z, " \"%.*s\"", (int)(len - i < 255 ? len - i : 255), record + i);
    hd_buf_append_cstr(z, "\n");
}

/* The sender's zone: its DKIM key, SPF for 192.0.2.0/24 and p=reject;
 * plus extra lines. */
static hd_dns *zone(const char *extra)
{
    hd_buf z;
    hd_buf_init(&z, 1 << 16);
    zone_txt(&z, "s1._domainkey.example.com", fx.record);
    zone_txt(&z, "example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    zone_txt(&z, "_dmarc.example.com", "v=DMARC1; p=reject; rua=mailto:dmarc@example.com");
    hd_buf_append_cstr(&z, extra);
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_buf_slice(&z), "<verdict test>", &err) != 0)
        fail_msg("zone: %s", err.msg);
    hd_buf_free(&z);
    return dns;
}

static hd_verdict_request request(const char *ip, const char *mail_from)
{
    return (hd_verdict_request){.ip = ip, .helo = "mail.example.com", .mail_from = mail_from,
                                .now = NOW, .arc = true};
}

static hd_verdict *judge(const hd_verdict_request *req, hd_slice msg, hd_dns *dns)
{
    hd_verdict *v = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_verdict_run(req, msg, dns, &v, &err) != 0)
        fail_msg("verdict: %s", err.msg);
    assert_non_null(v);
    return v;
}

/* The field, checked to parse back as RFC 8601 with the methods in order. */
static void ar_text(const hd_verdict *v, hd_buf *out, const char *const *methods, size_t n)
{
    hd_err err;
    hd_err_clear(&err);
    if (hd_verdict_ar(v, "mx.receiver.test", out, &err) != 0)
        fail_msg("AR: %s", err.msg);
    const char *text = hd_buf_cstr(out);
    const char *name = "Authentication-Results:";
    assert_memory_equal(text, name, strlen(name));
    assert_true(out->len > 2 && text[out->len - 2] == '\r' && text[out->len - 1] == '\n');
    hd_authres *ar = NULL;
    if (hd_authres_parse(hd_slice_make(text + strlen(name), out->len - strlen(name)), &ar, &err) != 0)
        fail_msg("AR does not parse back: %s\n%s", err.msg, text);
    assert_string_equal(hd_authres_authserv_id(ar), "mx.receiver.test");
    assert_int_equal(hd_authres_count(ar), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(hd_authres_get(ar, i)->method, methods[i]);
    hd_authres_free(ar);
}

static json_t *json_of(const hd_verdict *v, const char *authserv, bool explain)
{
    hd_buf text;
    hd_buf_init(&text, 1 << 20);
    hd_err err;
    hd_err_clear(&err);
    if (hd_verdict_json(v, authserv, explain, &text, &err) != 0)
        fail_msg("JSON: %s", err.msg);
    assert_null(memchr(text.p, '\n', text.len)); /* one line */
    json_error_t jerr;
    json_t *o = json_loads(hd_buf_cstr(&text), 0, &jerr);
    if (o == NULL)
        fail_msg("JSON does not parse: %s\n%s", jerr.text, hd_buf_cstr(&text));
    hd_buf_free(&text);
    return o;
}

static const char *jget_str(json_t *o, const char *path1, const char *path2)
{
    json_t *j = json_object_get(o, path1);
    if (path2 != NULL)
        j = json_object_get(j, path2);
    if (!json_is_string(j))
        fail_msg("JSON %s.%s is not a string", path1, path2 ? path2 : "");
    return json_string_value(j);
}

static bool jget_bool(json_t *o, const char *path1, const char *path2)
{
    json_t *j = json_object_get(json_object_get(o, path1), path2);
    if (!json_is_boolean(j))
        fail_msg("JSON %s.%s is not a boolean", path1, path2);
    return json_is_true(j);
}

/* Everything aligned ------------------------------------------------------- */

static void test_all_pass_and_align(void **state)
{
    hd_dns *dns = zone("");
    hd_verdict_request req = request("192.0.2.10", "billing@example.com");
    hd_verdict *v = judge(&req, hd_buf_slice(&fx.signed_invoice), dns);

    assert_string_equal(hd_verdict_from_domain(v), "example.com");
    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_PASS);
    assert_int_equal(hd_verdict_dkim_count(v), 1);
    assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_PASS);
    assert_string_equal(hd_verdict_dkim(v, 0)->domain, "example.com");
    assert_null(hd_verdict_dkim(v, 1));
    const hd_dmarc_verdict *d = hd_verdict_dmarc(v);
    assert_int_equal(d->result, HD_DMARC_PASS);
    assert_true(d->spf_aligned && d->dkim_aligned);
    assert_int_equal(d->policy, HD_DMARC_P_REJECT);
    assert_int_equal(d->disposition, HD_DMARC_P_NONE);
    assert_int_equal(hd_verdict_arc(v)->cv, HD_ARC_NONE);
    assert_int_equal(hd_verdict_nproblems(v), 0);

    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    static const char *const methods[] = {"spf", "dkim", "dmarc"}; /* no arc: no chain */
    ar_text(v, &ar, methods, 3);
    const char *text = hd_buf_cstr(&ar);
    assert_non_null(strstr(text, "Authentication-Results: mx.receiver.test;"));
    assert_non_null(strstr(text, "spf=pass"));
    assert_non_null(strstr(text, "dkim=pass"));
    assert_non_null(strstr(text, "dmarc=pass"));
    assert_non_null(strstr(text, "header.d=example.com"));

    json_t *o = json_of(v, "mx.receiver.test", false);
    assert_string_equal(jget_str(o, "from_domain", NULL), "example.com");
    assert_string_equal(jget_str(o, "connection", "ip"), "192.0.2.10");
    assert_string_equal(jget_str(o, "connection", "mail_from"), "billing@example.com");
    assert_false(jget_bool(o, "connection", "from_message"));
    assert_string_equal(jget_str(o, "spf", "result"), "pass");
    assert_string_equal(jget_str(o, "spf", "domain"), "example.com");
    json_t *dk = json_object_get(o, "dkim");
    assert_int_equal(json_array_size(dk), 1);
    assert_string_equal(jget_str(json_array_get(dk, 0), "result", NULL), "pass");
    assert_string_equal(jget_str(json_array_get(dk, 0), "selector", NULL), "s1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(dk, 0), "key_bits")), 2048);
    assert_string_equal(jget_str(o, "dmarc", "result"), "pass");
    assert_string_equal(jget_str(o, "dmarc", "policy"), "reject");
    assert_string_equal(jget_str(o, "dmarc", "record_domain"), "example.com");
    assert_true(jget_bool(o, "dmarc", "dkim_aligned"));
    assert_true(jget_bool(o, "dmarc", "spf_aligned"));
    assert_string_equal(jget_str(o, "arc", "cv"), "none");
    /* the very field of hd_verdict_ar, without its CRLF */
    const char *jar = jget_str(o, "authentication_results", NULL);
    assert_int_equal(strlen(jar), ar.len - 2);
    assert_memory_equal(jar, text, ar.len - 2);
    assert_null(json_object_get(o, "explanation"));
    json_decref(o);

    /* without an authserv-id: no field in the JSON */
    o = json_of(v, NULL, false);
    assert_null(json_object_get(o, "authentication_results"));
    json_decref(o);

    hd_buf expl;
    hd_buf_init(&expl, 1 << 16);
    assert_int_equal(hd_verdict_explain(v, &expl, NULL), 0);
    assert_non_null(strstr(hd_buf_cstr(&expl), "DMARC passes"));
    hd_buf_free(&expl);
    hd_buf_free(&ar);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* A body changed after signing --------------------------------------------- */

static void test_body_changed_fails_dkim_and_dmarc(void **state)
{
    hd_buf msg;
    hd_buf_init(&msg, 1 << 16);
    hd_buf_append_slice(&msg, hd_buf_slice(&fx.signed_invoice));
    char *body = strstr((char *)msg.p, "is attached");
    assert_non_null(body);
    memcpy(body, "IS ATTACHED", 11);
    hd_dns *dns = zone("");
    /* a forwarder's address: SPF cannot rescue DMARC either */
    hd_verdict_request req = request("203.0.113.50", "billing@example.com");
    hd_verdict *v = judge(&req, hd_buf_slice(&msg), dns);

    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_FAIL);
    assert_int_equal(hd_verdict_dkim_count(v), 1);
    assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_FAIL);
    assert_int_equal(hd_verdict_dkim(v, 0)->reason_code, HD_DKIM_R_BODY_HASH);
    const hd_dmarc_verdict *d = hd_verdict_dmarc(v);
    assert_int_equal(d->result, HD_DMARC_FAIL);
    assert_int_equal(d->policy, HD_DMARC_P_REJECT);
    assert_int_equal(d->disposition, HD_DMARC_P_REJECT);
    assert_false(d->spf_aligned || d->dkim_aligned);

    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    static const char *const methods[] = {"spf", "dkim", "dmarc"};
    ar_text(v, &ar, methods, 3);
    assert_non_null(strstr(hd_buf_cstr(&ar), "spf=fail"));
    assert_non_null(strstr(hd_buf_cstr(&ar), "dkim=fail"));
    assert_non_null(strstr(hd_buf_cstr(&ar), "dmarc=fail"));

    json_t *o = json_of(v, "mx.receiver.test", true);
    assert_string_equal(jget_str(o, "dmarc", "result"), "fail");
    assert_string_equal(jget_str(o, "dmarc", "disposition"), "reject");
    assert_string_equal(jget_str(json_array_get(json_object_get(o, "dkim"), 0), "reason_code", NULL),
                        "body_hash_mismatch");
    /* the explanation in the JSON is hd_verdict_explain's text */
    hd_buf expl;
    hd_buf_init(&expl, 1 << 16);
    assert_int_equal(hd_verdict_explain(v, &expl, NULL), 0);
    assert_non_null(strstr(hd_buf_cstr(&expl), "body hash"));
    assert_string_equal(jget_str(o, "explanation", NULL), hd_buf_cstr(&expl));
    json_decref(o);

    hd_buf_free(&expl);
    hd_buf_free(&ar);
    hd_buf_free(&msg);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* Forwarded: SPF fails, DKIM carries DMARC ----------------------------------- */

static void test_spf_fail_dkim_pass_is_dmarc_pass(void **state)
{
    hd_dns *dns = zone("");
    hd_verdict_request req = request("203.0.113.50", "billing@example.com");
    hd_verdict *v = judge(&req, hd_buf_slice(&fx.signed_invoice), dns);
    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_FAIL);
    assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_PASS);
    const hd_dmarc_verdict *d = hd_verdict_dmarc(v);
    assert_int_equal(d->result, HD_DMARC_PASS);
    assert_true(d->dkim_aligned);
    assert_false(d->spf_aligned);
    assert_int_equal(d->disposition, HD_DMARC_P_NONE);
    hd_buf expl;
    hd_buf_init(&expl, 1 << 16);
    assert_int_equal(hd_verdict_explain(v, &expl, NULL), 0);
    assert_non_null(strstr(hd_buf_cstr(&expl), "forwarded"));
    hd_buf_free(&expl);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* Nothing published ----------------------------------------------------------- */

static void test_no_records_is_none(void **state)
{
    hd_dns *dns = zone("");
    hd_verdict_request req = request("192.0.2.10", "x@nothing.test");
    const char *msg = "From: x@nothing.test\r\nSubject: hi\r\n\r\nbody\r\n";
    hd_verdict *v = judge(&req, hd_slice_cstr(msg), dns);
    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_NONE);
    assert_int_equal(hd_verdict_dkim_count(v), 0);
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_NONE);
    assert_false(hd_verdict_dmarc(v)->have_record);

    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    static const char *const methods[] = {"spf", "dkim", "dmarc"};
    ar_text(v, &ar, methods, 3);
    assert_non_null(strstr(hd_buf_cstr(&ar), "spf=none"));
    assert_non_null(strstr(hd_buf_cstr(&ar), "dkim=none"));
    assert_non_null(strstr(hd_buf_cstr(&ar), "dmarc=none"));
    json_t *o = json_of(v, "mx.receiver.test", false);
    assert_int_equal(json_array_size(json_object_get(o, "dkim")), 0);
    assert_string_equal(jget_str(o, "dmarc", "result"), "none");
    assert_string_equal(jget_str(o, "spf", "result"), "none");
    json_decref(o);
    hd_buf_free(&ar);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* DNS timing out ----------------------------------------------------------------- */

static void test_dns_timeout_is_temperror(void **state)
{
    hd_dns *dns = zone("slow.test. TIMEOUT\n"
                       "_dmarc.slow.test. TIMEOUT\n"
                       "s1._domainkey.slow.test. TIMEOUT\n");
    hd_buf msg;
    hd_buf_init(&msg, 1 << 16);
    sign(fx.key, "slow.test", "From: a@slow.test\r\nSubject: hi\r\n\r\nbody\r\n", &msg);
    hd_verdict_request req = request("192.0.2.10", "a@slow.test");
    hd_verdict *v = judge(&req, hd_buf_slice(&msg), dns);
    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_TEMPERROR);
    assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_TEMPERROR);
    assert_int_equal(hd_verdict_dkim(v, 0)->reason_code, HD_DKIM_R_KEY_TEMP);
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_TEMPERROR);
    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    static const char *const methods[] = {"spf", "dkim", "dmarc"};
    ar_text(v, &ar, methods, 3);
    assert_non_null(strstr(hd_buf_cstr(&ar), "spf=temperror"));
    assert_non_null(strstr(hd_buf_cstr(&ar), "dkim=temperror"));
    assert_non_null(strstr(hd_buf_cstr(&ar), "dmarc=temperror"));
    json_t *o = json_of(v, NULL, false);
    assert_string_equal(jget_str(o, "dmarc", "result"), "temperror");
    json_decref(o);
    hd_buf_free(&ar);
    hd_buf_free(&msg);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* Checks that failed temporarily while the DMARC record is there: an aligned
 * identifier's temperror leaves the message unjudged (RFC 9989 §5.3.6): no
 * dmarc=fail and no p=reject applied. */
static void test_check_temperrors_leave_message_unjudged(void **state)
{
    hd_dns *dns = zone("slow.test. TIMEOUT\n"
                       "s1._domainkey.slow.test. TIMEOUT\n"
                       "_dmarc.slow.test. IN TXT \"v=DMARC1; p=reject\"\n");
    hd_buf msg;
    hd_buf_init(&msg, 1 << 16);
    sign(fx.key, "slow.test", "From: a@slow.test\r\nSubject: hi\r\n\r\nbody\r\n", &msg);
    hd_verdict_request req = request("192.0.2.10", "a@slow.test");
    hd_verdict *v = judge(&req, hd_buf_slice(&msg), dns);
    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_TEMPERROR);
    assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_TEMPERROR);
    const hd_dmarc_verdict *d = hd_verdict_dmarc(v);
    assert_true(d->have_record);
    assert_int_equal(d->result, HD_DMARC_TEMPERROR);
    assert_int_equal(d->policy, HD_DMARC_P_REJECT);
    assert_int_equal(d->disposition, HD_DMARC_P_NONE);
    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    static const char *const methods[] = {"spf", "dkim", "dmarc"};
    ar_text(v, &ar, methods, 3);
    assert_non_null(strstr(hd_buf_cstr(&ar), "dmarc=temperror (p=reject dis=none)"));
    assert_null(strstr(hd_buf_cstr(&ar), "policy.dmarc"));
    json_t *o = json_of(v, NULL, true);
    assert_string_equal(jget_str(o, "dmarc", "result"), "temperror");
    assert_string_equal(jget_str(o, "dmarc", "disposition"), "none");
    const char *expl = jget_str(o, "explanation", NULL);
    assert_non_null(strstr(expl, "DMARC could not be checked"));
    assert_non_null(strstr(expl, "p=reject is not applied"));
    assert_null(strstr(expl, "DMARC fails"));
    json_decref(o);
    hd_buf_free(&ar);
    hd_verdict_free(v);

    /* the only temperror is an unaligned provider's signature: SPF fails
     * for the From domain, so DMARC fails and p=reject applies */
    hd_buf_reset(&msg);
    sign(fx.key, "slow.test", invoice, &msg);
    req = request("203.0.113.50", "billing@example.com");
    v = judge(&req, hd_buf_slice(&msg), dns);
    assert_int_equal(hd_verdict_spf(v)->result, HD_SPF_FAIL);
    assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_TEMPERROR);
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_FAIL);
    assert_int_equal(hd_verdict_dmarc(v)->disposition, HD_DMARC_P_REJECT);
    hd_verdict_free(v);

    /* an aligned pass beside the temperror passes */
    hd_buf_reset(&msg);
    sign(fx.key, "slow.test", hd_buf_cstr(&fx.signed_invoice), &msg);
    v = judge(&req, hd_buf_slice(&msg), dns);
    assert_int_equal(hd_verdict_dkim_count(v), 2);
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_PASS);
    hd_verdict_free(v);
    hd_buf_free(&msg);
    hd_dns_free(dns);
}

/* What an ARC seal vouches for --------------------------------------------------- */

/* The invoice with its body changed by a list (DKIM broken), sealed by
 * lists.example.org with the AAR payload given. */
static void sealed_by_list(const char *authres, hd_buf *out)
{
    hd_buf changed;
    hd_buf_init(&changed, 1 << 16);
    hd_buf_append_slice(&changed, hd_buf_slice(&fx.signed_invoice));
    hd_buf_append_cstr(&changed, "-- \r\nlist footer\r\n");
    hd_arc_seal_opts o;
    hd_arc_seal_opts_init(&o);
    o.domain = "lists.example.org";
    o.selector = "arc";
    o.timestamp = NOW - 30;
    hd_arc_sealer *s = NULL;
    hd_arc_result none = {.cv = HD_ARC_NONE};
    hd_err err;
    hd_err_clear(&err);
    hd_buf_reset(out);
    if (hd_arc_sealer_new(&o, fx.key, &s, &err) != 0 ||
        hd_arc_seal(s, hd_buf_slice(&changed), &none, authres, out, &err) != 0)
        fail_msg("sealing: %s", err.msg);
    hd_arc_sealer_free(s);
    hd_buf_append_slice(out, hd_buf_slice(&changed));
    hd_buf_free(&changed);
}

/* RFC 8617 §7.2.1: the oldest AAR is read result by result; only an aligned
 * DKIM or SPF pass, or dmarc=pass for the From domain, vouches. */
static void test_arc_vouches_for_aligned_results_only(void **state)
{
    static const struct {
        const char *name, *aar;
        const char *method, *domain; /* NULL: vouches for nothing */
    } cases[] = {
        {"the author's signature failed, an ESP's passed",
         "lists.example.org; dkim=fail header.d=example.com; dkim=pass header.d=esp.example", NULL, NULL},
        {"a look-alike domain", "lists.example.org; dkim=pass header.d=example.com.attacker.net", NULL,
         NULL},
        {"the look-alike beside the author's failure",
         "lists.example.org; dkim=pass header.d=example.com.attacker.net; dkim=fail header.d=example.com",
         NULL, NULL},
        {"the author's signature passed", "lists.example.org; dkim=pass header.d=example.com", "dkim",
         "example.com"},
        {"a subdomain's signature (adkim relaxed)",
         "lists.example.org; dkim=fail header.d=esp.example; dkim=pass header.i=@mail.example.com",
         "dkim", "mail.example.com"},
        {"SPF for an aligned bounce domain",
         "lists.example.org; dkim=fail header.d=example.com; spf=pass smtp.mailfrom=b@bounce.example.com",
         "spf", "bounce.example.com"},
        {"SPF for a look-alike", "lists.example.org; spf=pass smtp.mailfrom=b@example.com.attacker.net",
         NULL, NULL},
        {"a recorded DMARC pass", "lists.example.org; dkim=fail header.d=example.com; dmarc=pass "
                                  "header.from=example.com", "dmarc", "example.com"},
        {"a DMARC pass for another From domain", "lists.example.org; dmarc=pass header.from=attacker.net",
         NULL, NULL},
        {"failures only", "lists.example.org; dkim=fail header.d=example.com; spf=fail "
                          "smtp.mailfrom=b@example.com; dmarc=fail header.from=example.com", NULL, NULL},
        {"DKIM is named before SPF", "lists.example.org; spf=pass smtp.mailfrom=example.com; "
                                     "dkim=pass header.d=example.com", "dkim", "example.com"},
    };
    hd_buf z;
    hd_buf_init(&z, 8192);
    zone_txt(&z, "arc._domainkey.lists.example.org", fx.record);
    hd_dns *dns = zone(hd_buf_cstr(&z));
    hd_buf_free(&z);
    hd_buf msg;
    hd_buf_init(&msg, 1 << 16);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sealed_by_list(cases[i].aar, &msg);
        hd_verdict_request req = request("198.51.100.9", "bounces@lists.example.org");
        hd_verdict *v = judge(&req, hd_buf_slice(&msg), dns);
        if (hd_verdict_arc(v) == NULL || hd_verdict_arc(v)->cv != HD_ARC_PASS)
            fail_msg("%s: the chain does not pass", cases[i].name);
        assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_FAIL);
        json_t *o = json_of(v, NULL, true);
        json_t *vouch = json_object_get(json_object_get(o, "arc"), "vouches");
        const char *expl = jget_str(o, "explanation", NULL);
        if (cases[i].method == NULL) {
            if (!json_is_null(vouch) || strstr(expl, "vouches that") != NULL ||
                strstr(expl, "does not vouch for the author") == NULL)
                fail_msg("%s: vouches for something:\n%s", cases[i].name, expl);
        } else {
            char want[300];
            snprintf(want, sizeof want, "vouches that when lists.example.org received the message, %s",
                     strcmp(cases[i].method, "dmarc") == 0 ? "DMARC passed for example.com" :
                     strcmp(cases[i].method, "spf") == 0 ? "SPF passed for the MAIL FROM domain" :
                     "a DKIM signature by");
            if (strcmp(jget_str(vouch, "method", NULL), cases[i].method) != 0 ||
                strcmp(jget_str(vouch, "domain", NULL), cases[i].domain) != 0 ||
                strstr(expl, want) == NULL || strstr(expl, cases[i].domain) == NULL)
                fail_msg("%s: vouches %s for %s, want %s for %s:\n%s", cases[i].name,
                         jget_str(vouch, "method", NULL), jget_str(vouch, "domain", NULL),
                         cases[i].method, cases[i].domain, expl);
        }
        json_decref(o);
        hd_verdict_free(v);
    }
    hd_buf_free(&msg);
    hd_dns_free(dns);
}

/* What is left out, and why ----------------------------------------------------- */

static void test_parts_not_evaluated(void **state)
{
    hd_dns *dns = zone("");
    hd_slice msg = hd_buf_slice(&fx.signed_invoice);

    /* no client address: no SPF, DKIM alone carries DMARC */
    hd_verdict_request req = request(NULL, "billing@example.com");
    req.arc = false;
    hd_verdict *v = judge(&req, msg, dns);
    assert_null(hd_verdict_spf(v));
    assert_null(hd_verdict_arc(v));
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_PASS);
    assert_int_equal(hd_verdict_nproblems(v), 0);
    hd_buf ar;
    hd_buf_init(&ar, 1 << 16);
    static const char *const methods[] = {"dkim", "dmarc"};
    ar_text(v, &ar, methods, 2);
    json_t *o = json_of(v, NULL, false);
    assert_true(json_is_null(json_object_get(o, "spf")));
    assert_null(json_object_get(o, "arc"));
    assert_string_equal(jget_str(o, "connection", "ip"), "");
    json_decref(o);
    hd_verdict_free(v);

    /* an address but no envelope sender: no SPF either */
    req = request("192.0.2.10", NULL);
    v = judge(&req, msg, dns);
    assert_null(hd_verdict_spf(v));
    assert_int_equal(hd_verdict_nproblems(v), 0);
    hd_verdict_free(v);

    /* an address that is none: SPF left out with the reason as a problem */
    req = request("not-an-ip", "billing@example.com");
    v = judge(&req, msg, dns);
    assert_null(hd_verdict_spf(v));
    assert_int_equal(hd_verdict_nproblems(v), 1);
    assert_memory_equal(hd_verdict_problem(v, 0), "SPF: ", 5);
    assert_non_null(strstr(hd_verdict_problem(v, 0), "not-an-ip"));
    assert_null(hd_verdict_problem(v, 1));
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_PASS);
    hd_verdict_free(v);

    hd_buf_free(&ar);
    hd_dns_free(dns);
}

/* Messages that cannot be judged, and requests that cannot be run. */
static void test_refused(void **state)
{
    static const struct {
        const char *name, *msg;
        int rc;
        const char *why;
    } cases[] = {
        {"no From field", "To: a@example.net\r\nSubject: x\r\n\r\nbody\r\n", HD_ESYNTAX,
         "no From field"},
        {"From without an address", "From: <<<\r\nSubject: x\r\n\r\nbody\r\n", HD_ESYNTAX,
         "From field (line 1)"},
        {"not a header", "this is not a header\r\n\r\nbody\r\n", HD_ESYNTAX, "line 1"},
    };
    hd_dns *dns = zone("");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_verdict_request req = request("192.0.2.10", "a@example.com");
        static char dummy;
        hd_verdict *v = (hd_verdict *)&dummy; /* must be reset to NULL */
        hd_err err;
        hd_err_clear(&err);
        int rc = hd_verdict_run(&req, hd_slice_cstr(cases[i].msg), dns, &v, &err);
        if (rc != cases[i].rc || strstr(err.msg, cases[i].why) == NULL)
            fail_msg("%s: rc %d, \"%s\"", cases[i].name, rc, err.msg);
        assert_null(v);
    }
    hd_verdict_request req = request("192.0.2.10", "a@example.com");
    req.rfc7489 = true; /* without a Public Suffix List */
    hd_verdict *v = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_verdict_run(&req, hd_buf_slice(&fx.signed_invoice), dns, &v, &err), HD_EINVAL);
    assert_null(v);
    hd_dns_free(dns);
}

/* RFC 7489 mode with Debian's list decides alike for this simple case. */
static void test_rfc7489_mode(void **state)
{
    hd_dmarc_psl *psl = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dmarc_psl_load(NULL, &psl, &err) != 0)
        fail_msg("%s (Debian's publicsuffix package)", err.msg);
    hd_dns *dns = zone("");
    hd_verdict_request req = request("203.0.113.50", "billing@example.com");
    req.rfc7489 = true;
    req.psl = psl;
    hd_verdict *v = judge(&req, hd_buf_slice(&fx.signed_invoice), dns);
    assert_int_equal(hd_verdict_dmarc(v)->mode, HD_DMARC_RFC7489);
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_PASS);
    json_t *o = json_of(v, NULL, false);
    assert_string_equal(jget_str(o, "dmarc", "mode"), "rfc7489");
    json_decref(o);
    hd_verdict_free(v);
    hd_dns_free(dns);
    hd_dmarc_psl_free(psl);
}

/* A cache given by the caller is the one SPF and DMARC fill. */
static void test_shared_cache(void **state)
{
    hd_dns *dns = zone("");
    hd_dns_cache *cache = hd_dns_cache_new(64, 3600, 60);
    hd_dkim_keycache *keys = hd_dkim_keycache_new(16, 3600);
    hd_verdict_request req = request("192.0.2.10", "billing@example.com");
    req.cache = cache;
    req.keys = keys;
    for (int round = 0; round < 2; round++) {
        hd_verdict *v = judge(&req, hd_buf_slice(&fx.signed_invoice), dns);
        assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_PASS);
        assert_int_equal(hd_verdict_dkim(v, 0)->result, HD_DKIM_PASS);
        hd_verdict_free(v);
    }
    assert_non_null(hd_dns_cache_get(cache, "example.com", HD_DNS_T_TXT, NOW));
    assert_non_null(hd_dns_cache_get(cache, "_dmarc.example.com", HD_DNS_T_TXT, NOW));
    hd_dkim_keycache_free(keys);
    hd_dns_cache_free(cache);
    hd_dns_free(dns);
}

/* Strings from the message that are not UTF-8 still give valid JSON. */
static void test_json_of_8bit_domain(void **state)
{
    hd_dns *dns = zone("");
    hd_verdict_request req = request("192.0.2.10", "a@example.com");
    hd_verdict *v = judge(&req, hd_slice_cstr("From: a@ex\xe4mple.com\r\n\r\nbody\r\n"), dns);
    assert_string_equal(hd_verdict_from_domain(v), "ex\xe4mple.com");
    json_t *o = json_of(v, "mx.receiver.test", true);
    assert_string_equal(jget_str(o, "from_domain", NULL), "ex?mple.com");
    assert_string_equal(jget_str(o, "dmarc", "result"), "none");
    assert_non_null(strstr(jget_str(o, "explanation", NULL), "ex?mple.com"));
    json_decref(o);
    hd_verdict_free(v);
    /* well-formed UTF-8 is kept as it is */
    v = judge(&req, hd_slice_cstr("From: a@b\xc3\xbc" "cher.example\r\n\r\nbody\r\n"), dns);
    o = json_of(v, NULL, false);
    assert_string_equal(jget_str(o, "from_domain", NULL), "b\xc3\xbc" "cher.example");
    json_decref(o);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* The diagnosis reads List-Id, the Subject tag and the facts' origin. */
static void test_explain_uses_message_facts(void **state)
{
    hd_buf msg;
    hd_buf_init(&msg, 1 << 16);
    hd_buf_append_cstr(&msg, "List-Id: <customers.lists.example.org>\r\n");
    hd_buf_append_slice(&msg, hd_buf_slice(&fx.signed_invoice));
    char *subj = strstr((char *)msg.p, "Subject: Your");
    memcpy(subj, "Subject: [cu]", 13);
    hd_dns *dns = zone("");
    hd_verdict_request req = request("203.0.113.60", "owner@lists.example.org");
    req.facts_from_message = true;
    hd_verdict *v = judge(&req, hd_buf_slice(&msg), dns);
    assert_int_equal(hd_verdict_dmarc(v)->result, HD_DMARC_FAIL);
    hd_buf expl;
    hd_buf_init(&expl, 1 << 16);
    assert_int_equal(hd_verdict_explain(v, &expl, NULL), 0);
    assert_non_null(strstr(hd_buf_cstr(&expl), "mailing list"));
    assert_non_null(strstr(hd_buf_cstr(&expl), "were read from the"));
    json_t *o = json_of(v, NULL, false);
    assert_true(jget_bool(o, "connection", "from_message"));
    json_decref(o);
    hd_buf_free(&expl);
    hd_buf_free(&msg);
    hd_verdict_free(v);
    hd_dns_free(dns);
}

/* Connection facts from the message ---------------------------------------------- */

static void test_facts_from_message(void **state)
{
    static const struct {
        const char *name, *header;
        const char *ip, *helo, *mail_from;
        bool have_ip, have_helo, have_mail_from;
    } cases[] = {
        {"Received and Return-Path",
         "Return-Path: <billing@example.com>\r\n"
         "Received: from mail.example.com (mail.example.com [192.0.2.10]) by mx.test;\r\n"
         " Fri, 27 Nov 2026 09:00:01 +0000\r\n",
         "192.0.2.10", "mail.example.com", "billing@example.com", true, true, true},
        {"the topmost Received only",
         "Received: from top.example (top [198.51.100.1]) by mx.test\r\n"
         "Received: from older.example (older [203.0.113.1]) by top.example\r\n",
         "198.51.100.1", "top.example", "", true, true, false},
        {"an IPv6 literal", "Received: from h6.example (h6 [IPv6:2001:db8::1]) by mx\r\n",
         "2001:db8::1", "h6.example", "", true, true, false},
        {"a HELO ended by ';'", "Received: from bare.example; Fri, 27 Nov 2026\r\n", "", "bare.example",
         "", false, true, false},
        {"the null sender", "Return-Path: <>\r\n", "", "", "", false, false, true},
        {"a Return-Path without brackets", "Return-Path: billing@example.com\r\n", "", "", "", false,
         false, true},
        {"neither", "Subject: x\r\n", "", "", "", false, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%sFrom: a@example.com\r\n\r\nbody\r\n", cases[i].header);
        hd_verdict_facts f;
        hd_err err;
        hd_err_clear(&err);
        if (hd_verdict_facts_from_message(hd_slice_cstr(msg), &f, &err) != 0)
            fail_msg("%s: %s", cases[i].name, err.msg);
        if (strcmp(f.ip, cases[i].ip) != 0 || strcmp(f.helo, cases[i].helo) != 0 ||
            strcmp(f.mail_from, cases[i].mail_from) != 0 || f.have_ip != cases[i].have_ip ||
            f.have_helo != cases[i].have_helo || f.have_mail_from != cases[i].have_mail_from)
            fail_msg("%s: ip \"%s\" (%d) helo \"%s\" (%d) mail from \"%s\" (%d)", cases[i].name, f.ip,
                     f.have_ip, f.helo, f.have_helo, f.mail_from, f.have_mail_from);
    }
    hd_verdict_facts f;
    assert_int_equal(hd_verdict_facts_from_message(hd_slice_cstr("no header\r\n\r\n"), &f, NULL),
                     HD_ESYNTAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_pass_and_align),
        cmocka_unit_test(test_body_changed_fails_dkim_and_dmarc),
        cmocka_unit_test(test_spf_fail_dkim_pass_is_dmarc_pass),
        cmocka_unit_test(test_no_records_is_none),
        cmocka_unit_test(test_dns_timeout_is_temperror),
        cmocka_unit_test(test_check_temperrors_leave_message_unjudged),
        cmocka_unit_test(test_arc_vouches_for_aligned_results_only),
        cmocka_unit_test(test_parts_not_evaluated),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_rfc7489_mode),
        cmocka_unit_test(test_shared_cache),
        cmocka_unit_test(test_json_of_8bit_domain),
        cmocka_unit_test(test_explain_uses_message_facts),
        cmocka_unit_test(test_facts_from_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
