/*
 * fuzz_authres.c - Authentication-Results parsing and generation on
 * arbitrary bytes.
 *
 * The input is parsed as an Authentication-Results value, as an ARC one,
 * and checked for its authserv-id (RFC 8601 §5). A successful parse must
 * hold only strings without CR, LF or NUL, lowercase keywords and results
 * within the limits; each result is then written back as a canonical
 * fragment, and a field built from those fragments must parse back to the
 * same results (the builder checks this itself; any failure traps).
 * Finally the raw input is offered as one fragment: when the builder takes
 * it, the folded field must parse back too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <herald/authres.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond))                                                                       \
            __builtin_trap();                                                              \
    } while (0)

static void check_string(const char *s, bool lower)
{
    CHECK(s != NULL);
    for (; *s; s++) {
        CHECK(*s != '\r' && *s != '\n');
        if (lower)
            CHECK(!(*s >= 'A' && *s <= 'Z'));
    }
}

static void quoted(hd_buf *b, const char *s)
{
    hd_buf_append_byte(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            hd_buf_append_byte(b, '\\');
        hd_buf_append_byte(b, (uint8_t)*s);
    }
    hd_buf_append_byte(b, '"');
}

/* method[/v]=result reason="..." ptype.prop="value" name="value" */
static void fragment(const hd_authres_result *r, hd_buf *b)
{
    hd_buf_reset(b);
    hd_buf_append_cstr(b, r->method);
    if (r->method_version != 1)
        hd_buf_printf(b, "/%u", r->method_version);
    hd_buf_printf(b, "=%s", r->result);
    if (r->reason != NULL) {
        hd_buf_append_cstr(b, " reason=");
        quoted(b, r->reason);
    }
    for (size_t j = 0; j < r->nprops; j++) {
        const hd_authres_prop *p = &r->props[j];
        if (p->unparsed)
            hd_buf_printf(b, " %s=", p->property);
        else
            hd_buf_printf(b, " %s.%s=", p->ptype, p->property);
        quoted(b, p->value);
    }
}

static void check_parsed(const hd_authres *ar)
{
    check_string(hd_authres_authserv_id(ar), false);
    size_t n = hd_authres_count(ar);
    CHECK(n <= HD_AUTHRES_MAX_RESULTS);
    CHECK(!(n > 0 && hd_authres_is_none(ar)));
    hd_authres_builder *b = NULL;
    CHECK(hd_authres_builder_new("fuzz.example", &b, NULL) == 0);
    hd_buf frag;
    hd_buf_init(&frag, 1u << 20);
    for (size_t i = 0; i < n; i++) {
        const hd_authres_result *r = hd_authres_get(ar, i);
        check_string(r->method, true);
        check_string(r->result, true);
        CHECK(r->method[0] != '\0' && r->result[0] != '\0');
        if (r->reason)
            check_string(r->reason, false);
        if (r->comment)
            check_string(r->comment, false);
        CHECK(r->nprops <= HD_AUTHRES_MAX_PROPS);
        for (size_t j = 0; j < r->nprops; j++) {
            check_string(r->props[j].ptype, true);
            check_string(r->props[j].property, true);
            check_string(r->props[j].value, false);
            CHECK(r->props[j].unparsed == (r->props[j].ptype[0] == '\0'));
            CHECK(hd_authres_find_prop(ar, i, r->props[j].ptype, r->props[j].property) != NULL);
        }
        fragment(r, &frag);
        int rc = hd_authres_builder_add(b, hd_buf_slice(&frag), NULL);
        CHECK(rc == 0 || rc == HD_ELIMIT);
    }
    hd_buf out;
    hd_buf_init(&out, 1u << 22);
    int rc = hd_authres_builder_finish(b, &out, NULL);
    CHECK(rc == 0 || rc == HD_ELIMIT);
    hd_buf_free(&out);
    hd_buf_free(&frag);
    hd_authres_builder_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_slice in = hd_slice_make(data, size);
    hd_authres *ar = NULL;
    hd_err err;
    int rc = hd_authres_parse(in, &ar, &err);
    CHECK(rc == 0 || rc == HD_ESYNTAX || rc == HD_ELIMIT);
    CHECK(rc != HD_ELIMIT || strstr(err.msg, "internal") == NULL); /* the arena bound holds */
    CHECK((rc == 0) == (ar != NULL));
    if (rc == 0)
        check_parsed(ar);
    hd_authres_free(ar);

    unsigned inst = 0;
    rc = hd_authres_parse_arc(in, &inst, &ar, &err);
    CHECK(rc == 0 || rc == HD_ESYNTAX || rc == HD_ELIMIT);
    CHECK(rc == 0 ? inst >= 1 && inst <= HD_AUTHRES_ARC_MAX_INSTANCE : inst == 0);
    if (rc == 0)
        check_parsed(ar);
    hd_authres_free(ar);

    (void)hd_authres_claims_id(in, "example.com");

    /* the input as a fragment: taken or refused, never a bad field */
    hd_authres_builder *b = NULL;
    CHECK(hd_authres_builder_new_arc(1, "fuzz.example", &b, NULL) == 0);
    if (hd_authres_builder_add(b, in, NULL) == 0) {
        hd_buf out;
        hd_buf_init(&out, 1u << 22);
        rc = hd_authres_builder_finish(b, &out, &err);
        CHECK(rc == 0 || rc == HD_ELIMIT);
        hd_buf_free(&out);
    }
    hd_authres_builder_free(b);
    return 0;
}
