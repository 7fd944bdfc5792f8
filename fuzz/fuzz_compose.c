/*
 * fuzz_compose.c - the message composer, with every field from the input.
 *
 * Input: a flags byte, then fields separated by 0xFF (which UTF-8 never
 * holds): from name, from address, to name, to address, cc name, cc
 * address, subject, text, html, header name, header value, filename,
 * content type, content id, attachment data, unique. Flags choose which
 * optional fields are present.
 *
 * Invariants: an error leaves the output untouched and says why; a
 * success is ASCII, every line ends in CRLF and holds at most 998 bytes,
 * and hd_msg_parse reads it with one From and no Bcc.
 */
#include <herald/compose.h>
#include <herald/mail.h>

#include <stdlib.h>
#include <string.h>

#define NFIELDS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(hd_slice s)
{
    size_t start = 0;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.p[i];
        if (c == 0 || c >= 0x80)
            abort();
        if (c == '\r' && (i + 1 == s.len || s.p[i + 1] != '\n'))
            abort();
        if (c == '\n') {
            if (i == 0 || s.p[i - 1] != '\r' || i - 1 - start > 998)
                abort();
            start = i + 1;
        }
    }
    if (start != s.len)
        abort();
    hd_msg *msg = NULL;
    if (hd_msg_parse(s, NULL, &msg, NULL) != 0)
        abort();
    if (hd_msg_count(msg, "From") != 1 || hd_msg_count(msg, "Bcc") != 0 ||
        hd_msg_count(msg, "MIME-Version") != 1)
        abort();
    hd_msg_free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 1 << 16)
        return 0;
    unsigned flags = data[0];
    char *copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    char *f[NFIELDS];
    size_t flen[NFIELDS];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size - 1 && n < NFIELDS; i++) {
        if (i == size - 1 || (uint8_t)copy[i] == 0xFF) {
            copy[i] = '\0';
            f[n] = copy + start;
            flen[n++] = i - start;
            start = i + 1;
        }
    }
    for (; n < NFIELDS; n++) {
        f[n] = copy + size - 1;
        flen[n] = 0;
    }

    hd_compose_addr to = {f[2][0] ? f[2] : NULL, f[3]};
    hd_compose_addr cc = {f[4][0] ? f[4] : NULL, f[5]};
    hd_compose_header hdr = {f[9], f[10]};
    hd_compose_attachment att[2] = {
        {f[11][0] ? f[11] : NULL, f[12][0] ? f[12] : NULL,
         hd_slice_make(f[14], flen[14]), f[13][0] ? f[13] : NULL},
        {f[11], NULL, hd_slice_make(f[7], flen[7]), NULL},
    };
    hd_compose_msg m = {
        .from = {f[0][0] ? f[0] : NULL, f[1]},
        .to = &to, .n_to = (flags & 1) ? 1 : 0,
        .cc = &cc, .n_cc = (flags & 2) ? 1 : 0,
        .reply_to = &to, .n_reply_to = (flags & 4) ? 1 : 0,
        .subject = (flags & 8) ? f[6] : NULL,
        .text = (flags & 16) ? hd_slice_make(f[7], flen[7]) : HD_SLICE_NULL,
        .html = (flags & 32) ? hd_slice_make(f[8], flen[8]) : HD_SLICE_NULL,
        .headers = &hdr, .n_headers = (flags & 64) ? 1 : 0,
        .att = att, .n_att = (flags & 128) ? 2 : (flags & 1) ? 1 : 0,
        .now = 1700000000,
        .unique = f[15][0] ? f[15] : "fuzz",
        .message_id_domain = (flags & 4) ? "example.org" : NULL,
    };
    hd_buf out;
    hd_buf_init(&out, 1 << 22);
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_compose(&m, &out, &err);
    if (rc != 0 && (out.len != 0 || err.msg[0] == '\0'))
        abort();
    if (rc == 0)
        check_output(hd_buf_slice(&out));
    hd_buf_free(&out);
    free(copy);
    return 0;
}
