/*
 * explain_test.c - the diagnosis of a DKIM signature broken in transit
 * (hd_explain over verdicts made by hand): the reason named first when
 * the body hash differs, every change the hashes show (a re-encoded body,
 * a footer, a Subject [tag], a rewritten Content-Transfer-Encoding), what
 * is only probable said so, the List-Id in balanced parentheses, and the
 * ARC seal that would have saved a message that carries none.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <herald/explain.h>

static void broken_sig(hd_dkim_result *r, hd_dkim_reason why, unsigned changes)
{
    memset(r, 0, sizeof *r);
    r->result = HD_DKIM_FAIL;
    r->reason_code = why;
    r->changes = changes;
    snprintf(r->domain, sizeof r->domain, "example.com");
    snprintf(r->selector, sizeof r->selector, "s1");
}

/* Every paragraph closes the parentheses it opens. */
static bool balanced(const char *text)
{
    int depth = 0;
    for (const char *p = text; *p; p++) {
        depth += *p == '(';
        depth -= *p == ')';
        if (depth < 0 || (*p == '\n' && depth != 0))
            return false;
    }
    return depth == 0;
}

typedef struct expl_case {
    const char *name;
    hd_dkim_reason why;
    unsigned changes;
    const char *tag, *encoding, *was;
    uint64_t footer;
    const char *list_id;
    bool subject_tagged, arc_checked, arc_present;
    const char *want[6]; /* each in the text */
    const char *not[3];  /* none in the text */
} expl_case;

static const expl_case cases[] = {
    {"list behind a quoted-printable gateway", HD_DKIM_R_BODY_HASH,
     HD_DKIM_CH_BODY | HD_DKIM_CH_HEADER | HD_DKIM_CH_REENCODED | HD_DKIM_CH_FOOTER |
         HD_DKIM_CH_SUBJECT_TAG | HD_DKIM_CH_CTE | HD_DKIM_CH_CHECKED,
     "[customers]", "quoted-printable", "8bit", 36, "<customers.lists.example.org>", true, true, false,
     {"body hash of the signature by example.com no longer matches (body_hash_mismatch)",
      "re-encoded as quoted-printable (decoded, it is the signed body with a footer of 36 bytes",
      "the Subject was tagged \"[customers]\"",
      "Content-Transfer-Encoding field was rewritten from 8bit to quoted-printable",
      "mailing lists add (List-Id: <customers.lists.example.org>), and a gateway", "sealed it with ARC"},
     {"probably", "signature_mismatch", NULL}},
    {"gateway only", HD_DKIM_R_BODY_HASH,
     HD_DKIM_CH_BODY | HD_DKIM_CH_HEADER | HD_DKIM_CH_REENCODED | HD_DKIM_CH_CTE | HD_DKIM_CH_CHECKED, "",
     "quoted-printable", "8bit", 0, NULL, false, true, false,
     {"(body_hash_mismatch)", "decoded, it is the signed body)", "rewritten from 8bit to quoted-printable",
      "gateway or relay that re-encodes 8bit mail", "forwarder or gateway sealed it with ARC", NULL},
     {"mailing list", "Subject", NULL}},
    {"Subject tag not proven", HD_DKIM_R_SIGNATURE, HD_DKIM_CH_HEADER | HD_DKIM_CH_SUBJECT_TAG, "[x]", "", "",
     0, NULL, true, true, false,
     {"signature by example.com no longer verifies (signature_mismatch)",
      "probably the Subject, which now starts with \"[x]\"", NULL},
     {"body hash", "footer", NULL}},
    {"CTE rewrite inferred, not proven", HD_DKIM_R_BODY_HASH,
     HD_DKIM_CH_BODY | HD_DKIM_CH_HEADER | HD_DKIM_CH_REENCODED | HD_DKIM_CH_CTE, "", "base64", "", 0, NULL,
     false, true, false,
     {"re-encoded as base64", "probably the Content-Transfer-Encoding field, rewritten to base64", NULL},
     {"rewritten from", NULL, NULL}},
    {"footer and a header field", HD_DKIM_R_BODY_HASH, HD_DKIM_CH_BODY | HD_DKIM_CH_HEADER | HD_DKIM_CH_FOOTER,
     "", "", "", 17, "<l.example.org>", false, true, false,
     {"a footer of 17 bytes was added at the end of the body",
      "a signed header field was changed or added after signing", "(List-Id: <l.example.org>)", NULL},
     {NULL, NULL, NULL}},
    {"body changed, no list", HD_DKIM_R_BODY_HASH, HD_DKIM_CH_BODY, "", "", "", 0, NULL, false, true, false,
     {"the body was changed after signing.", "An auto-forward", NULL},
     {"header field", NULL, NULL}},
    {"ARC not validated: nothing said of it", HD_DKIM_R_BODY_HASH, HD_DKIM_CH_BODY, "", "", "", 0, NULL,
     false, false, false, {"(body_hash_mismatch)", NULL}, {"ARC", NULL, NULL}},
    {"a chain present: no advice to add one", HD_DKIM_R_BODY_HASH, HD_DKIM_CH_BODY, "", "", "", 0, NULL, false,
     true, true, {"(body_hash_mismatch)", NULL}, {"carries no ARC", NULL, NULL}},
};

static void test_broken_signature(void **state)
{
    (void)state;
    size_t passed = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const expl_case *k = &cases[c];
        hd_dkim_result r;
        broken_sig(&r, k->why, k->changes);
        snprintf(r.subject_tag, sizeof r.subject_tag, "%s", k->tag);
        snprintf(r.encoding, sizeof r.encoding, "%s", k->encoding);
        snprintf(r.encoding_was, sizeof r.encoding_was, "%s", k->was);
        r.footer_bytes = k->footer;
        hd_explain_input in = {
            .from_domain = "example.com", .ip = "203.0.113.60", .mail_from = "owner@lists.example.org",
            .helo = "lists.example.org", .dkim = &r, .ndkim = 1, .list_id = k->list_id,
            .subject_tagged = k->subject_tagged, .arc_checked = k->arc_checked,
            .arc_present = k->arc_present, .arc_cv = k->arc_present ? "fail" : NULL,
            .arc_sealer = k->arc_present ? "lists.example.org" : NULL,
        };
        hd_buf out;
        hd_buf_init(&out, 1 << 16);
        assert_int_equal(hd_explain(&in, &out), 0);
        const char *text = hd_buf_cstr(&out);
        for (size_t w = 0; w < 6 && k->want[w] != NULL; w++)
            if (strstr(text, k->want[w]) == NULL)
                fail_msg("%s: lacks \"%s\":\n%s", k->name, k->want[w], text);
        for (size_t w = 0; w < 3 && k->not[w] != NULL; w++)
            if (strstr(text, k->not[w]) != NULL)
                fail_msg("%s: says \"%s\":\n%s", k->name, k->not[w], text);
        if (!balanced(text))
            fail_msg("%s: unbalanced parentheses:\n%s", k->name, text);
        passed++;
        hd_buf_free(&out);
    }
    print_message("broken signature explained: %zu cases passed\n", passed);
}

/* A passing aligned signature beside a broken one: nothing to explain
 * about the broken one, and no ARC advice. */
static void test_aligned_pass_wins(void **state)
{
    (void)state;
    hd_dkim_result r[2];
    broken_sig(&r[0], HD_DKIM_R_BODY_HASH, HD_DKIM_CH_BODY);
    broken_sig(&r[1], HD_DKIM_R_OK, 0);
    r[1].result = HD_DKIM_PASS;
    hd_explain_input in = {.from_domain = "example.com", .dkim = r, .ndkim = 2, .arc_checked = true,
                           .list_id = "<l.example.org>"};
    hd_buf out;
    hd_buf_init(&out, 1 << 16);
    assert_int_equal(hd_explain(&in, &out), 0);
    assert_null(strstr(hd_buf_cstr(&out), "no longer"));
    assert_null(strstr(hd_buf_cstr(&out), "ARC"));
    hd_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_broken_signature),
        cmocka_unit_test(test_aligned_pass_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
