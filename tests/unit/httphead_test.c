/*
 * httphead_test.c - herald/httphead.h: where a request head ends, and the
 * framing it is read with (RFC 9112 §6.3): one Content-Length of digits,
 * no Transfer-Encoding, no folded fields; each refusal with its status.
 */
#include "testutil.h"

#include <string.h>

#include <herald/httphead.h>

typedef struct head_case {
    const char *name;
    const char *head;
    int want_status;            /* 0: accepted */
    uint64_t want_length;
    const char *want_auth;      /* NULL: absent */
    const char *want_msg;       /* a part of the refusal's reason */
} head_case;

static const head_case cases[] = {
    {"get", "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n", 0, 0, NULL, NULL},
    {"post with a length", "POST /v1/messages HTTP/1.1\r\nContent-Length: 42\r\n\r\n", 0, 42, NULL, NULL},
    {"bare LF lines, as evhttp reads them", "POST / HTTP/1.1\nContent-Length: 7\n\n", 0, 7, NULL, NULL},
    {"authorization trimmed", "GET / HTTP/1.1\r\nauthorization:  Bearer hk_a_b \t\r\n\r\n", 0, 0, "Bearer hk_a_b", NULL},
    {"length zero on GET", "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, 0, NULL, NULL},
    {"two lengths", "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 60\r\n\r\n", 400, 0, NULL, "more than once"},
    {"two equal lengths", "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 400, 0, NULL, "more than once"},
    {"a list of lengths", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, 0, NULL, "digits only"},
    {"a plus sign", "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, 0, NULL, "digits only"},
    {"a minus sign", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, 0, NULL, "digits only"},
    {"hex", "POST / HTTP/1.1\r\nContent-Length: 0x2f\r\n\r\n", 400, 0, NULL, "digits only"},
    {"empty length", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, 0, NULL, "digits only"},
    {"length past 18 digits", "POST / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n", 400, 0, NULL, "digits only"},
    {"chunked with a length", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400, 0, NULL, "together"},
    {"chunked alone", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411, 0, NULL, "send Content-Length"},
    {"folded field", "POST / HTTP/1.1\r\nX-A: a\r\n b\r\nContent-Length: 1\r\n\r\n", 400, 0, NULL, "folded"},
    {"space before the colon", "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400, 0, NULL, "malformed"},
    {"no colon", "GET / HTTP/1.1\r\nnonsense\r\n\r\n", 400, 0, NULL, "malformed"},
    {"a body on GET", "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400, 0, NULL, "no body"},
    {"a body on PUT", "PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400, 0, NULL, "POST only"},
    {"a body on PATCH", "PATCH / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400, 0, NULL, "POST only"},
    {"a body on DELETE", "DELETE / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400, 0, NULL, "POST only"},
    {"lower-case post takes no body", "post / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", 400, 0, NULL, "no body"},
    {"two authorizations", "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", 400, 0, NULL, "more than once"},
    {"empty request line", "\r\n", 400, 0, NULL, "missing"},
    {"no space in the request line", "GET\r\n\r\n", 400, 0, NULL, "malformed"},
};

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const head_case *t = &cases[i];
        hd_slice in = hd_slice_make((const uint8_t *)t->head, strlen(t->head));
        hd_httphead h;
        hd_err err = {0};
        int rc = hd_httphead_parse(in, &h, &err);
        if ((rc != 0) != (t->want_status != 0) || (rc && h.status != t->want_status))
            fail_msg("%s: rc %d status %d (%s)", t->name, rc, h.status, err.msg);
        if (rc && !strstr(err.msg, t->want_msg))
            fail_msg("%s: reason \"%s\" does not say \"%s\"", t->name, err.msg, t->want_msg);
        if (!rc && h.content_length != t->want_length)
            fail_msg("%s: length %llu", t->name, (unsigned long long)h.content_length);
        if (!rc && (t->want_auth == NULL) != (h.authorization.p == NULL))
            fail_msg("%s: authorization present or absent wrongly", t->name);
        if (!rc && t->want_auth &&
            (h.authorization.len != strlen(t->want_auth) ||
             memcmp(h.authorization.p, t->want_auth, h.authorization.len) != 0))
            fail_msg("%s: authorization \"%.*s\"", t->name, (int)h.authorization.len,
                     (const char *)h.authorization.p);
    }
}

static void test_end(void **state)
{
    (void)state;
    static const struct { const char *in; size_t want; } ends[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest", 27}, {"GET / HTTP/1.1\nHost: x\n\nrest", 24},
        {"GET / HTTP/1.1\r\nHost: x\r\n", 0}, {"GET / HTTP/1.1\r\nHost: x\n\r\n", 26},
        {"\r\n", 2}, {"\n", 1}, {"", 0}, {"GET / HTTP/1.1\r\n\r", 0},
    };
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
        size_t got = hd_httphead_end(hd_slice_make((const uint8_t *)ends[i].in, strlen(ends[i].in)));
        if (got != ends[i].want)
            fail_msg("end of \"%s\": %zu, want %zu", ends[i].in, got, ends[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
