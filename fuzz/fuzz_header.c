/*
 * fuzz_header.c - hd_msg_parse on arbitrary bytes, then every field and
 * the body walked, From parsed with hd_addr_parse_from, and the line-end
 * helpers run; the parser's invariants (see src/mail/header.c) are checked
 * and a violation traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <herald/mail.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond))                                                                       \
            __builtin_trap();                                                              \
    } while (0)

static unsigned sum_bytes(hd_slice s)
{
    unsigned sum = 0;
    for (size_t i = 0; i < s.len; i++)
        sum += s.p[i];
    return sum;
}

/* Fields tile the header: each starts where the previous one's line end
 * stops; value and raw end together; the name is ftext. */
static void check_fields(const hd_msg *m, const uint8_t *data)
{
    const uint8_t *at = data;
    for (size_t i = 0; i < hd_msg_nfields(m); i++) {
        const hd_hdr_field *f = hd_msg_field(m, i);
        CHECK(f != NULL && f->raw.p == at && f->name.p == f->raw.p);
        CHECK(f->name.len > 0 && f->name.len < f->raw.len);
        for (size_t j = 0; j < f->name.len; j++)
            CHECK(f->name.p[j] > 32 && f->name.p[j] < 127 && f->name.p[j] != ':');
        CHECK(f->value.p + f->value.len == f->raw.p + f->raw.len);
        CHECK(f->raw_eol >= f->raw.len && f->raw_eol - f->raw.len <= 2);
        CHECK(memchr(f->raw.p, 0, f->raw.len) == NULL);
        CHECK(hd_msg_find(m, "x", i) == (size_t)-1 || hd_msg_find(m, "x", i) >= i);
        at += f->raw_eol;
    }
    CHECK(hd_msg_field(m, hd_msg_nfields(m)) == NULL);
}

static void parse_from(const hd_msg *m)
{
    size_t i = hd_msg_find(m, "From", 0);
    if (i == (size_t)-1)
        return;
    hd_addr_list list;
    bool multiple;
    hd_err err;
    if (hd_addr_parse_from(hd_msg_field(m, i)->value, &list, &multiple, &err) == 0) {
        CHECK(list.n > 0 && multiple == (list.n > 1));
        hd_addr_list_free(&list);
    } else {
        CHECK(list.n == 0 && list.v == NULL && err.msg[0] != '\0');
    }
}

static void check_crlf(const uint8_t *data, size_t size)
{
    hd_buf out;
    hd_buf_init(&out, 2 * size + 1);
    CHECK(hd_mail_to_crlf(hd_slice_make(data, size), &out) == 0);
    CHECK(out.len >= size && !hd_mail_has_bare_lf(hd_buf_slice(&out)));
    CHECK((out.len == size) == !hd_mail_has_bare_lf(hd_slice_make(data, size)));
    hd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_msg *m = NULL;
    hd_err err;
    volatile unsigned sink = 0;
    if (hd_msg_parse(hd_slice_make(data, size), NULL, &m, &err) == 0) {
        check_fields(m, data);
        for (size_t i = 0; i < hd_msg_nfields(m); i++)
            sink += sum_bytes(hd_msg_field(m, i)->raw);
        hd_slice body = hd_msg_body(m);
        CHECK(hd_msg_body_offset(m) + body.len == size);
        sink += sum_bytes(body);
        CHECK(!(hd_msg_flags(m) & HD_MSG_NO_BODY) || body.len == 0);
        parse_from(m);
        hd_msg_free(m);
    } else {
        CHECK(m == NULL && err.msg[0] != '\0');
    }
    check_crlf(data, size);
    (void)sink;
    return 0;
}
