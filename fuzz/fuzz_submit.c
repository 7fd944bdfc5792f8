/*
 * fuzz_submit.c - RFC 6409 §8 message completion (hd_submit_prepare) on
 * arbitrary messages.
 *
 * Invariants on success: from_domain is non-empty, lower case, with no
 * space or control byte; message_id has no line end; the added fields are
 * whole CRLF-terminated header lines that parse as a header, a
 * Message-ID exactly when the message had none (and then message_id is
 * its value) and a Date exactly when it had none. hd_submit_write gives
 * the added fields and the message less the dropped ones (for a 7-bit
 * message the lengths add up), whose header has no Bcc, Resent-Bcc,
 * Return-Path or Content-Length and as many other fields as before (and,
 * for an 8-bit message, at most a MIME-Version and a
 * Content-Transfer-Encoding more); a result the report calls 7-bit has
 * no 8-bit byte (fuzz_mime7 checks the re-encoding itself). On failure
 * the code is one the header allows. Either way the info can be freed.
 */
#include <herald/mail.h>
#include <herald/submit.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_domain(const char *d)
{
    if (d[0] == '\0')
        abort();
    for (const char *p = d; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == 0x7f || (c >= 'A' && c <= 'Z'))
            abort();
    }
}

/* Every line of added is "Name: value" ending in CRLF, with no CR or LF
 * elsewhere. */
static void check_lines(hd_slice a)
{
    if (a.len > 0 && (a.len < 2 || a.p[a.len - 2] != '\r' || a.p[a.len - 1] != '\n'))
        abort();
    size_t start = 0;
    for (size_t i = 0; i < a.len; i++) {
        if (a.p[i] == '\n' && (i == 0 || a.p[i - 1] != '\r'))
            abort();
        if (a.p[i] == '\r' && (i + 1 >= a.len || a.p[i + 1] != '\n'))
            abort();
        if (a.p[i] == '\n') {
            hd_slice line = hd_slice_make(a.p + start, i + 1 - start);
            if (hd_slice_find(line, hd_slice_cstr(": ")) == (size_t)-1)
                abort();
            start = i + 1;
        }
    }
}

static void check_added(hd_slice msg, const hd_submit_info *info)
{
    hd_slice a = hd_buf_slice(&info->added);
    check_lines(a);
    hd_msg_limits lim = {.header_only = true};
    hd_msg *orig = NULL, *add = NULL;
    if (hd_msg_parse(msg, &lim, &orig, NULL) != 0)
        abort(); /* prepare parsed the same bytes */
    bool had_mid = hd_msg_find(orig, "Message-ID", 0) != (size_t)-1;
    bool had_date = hd_msg_find(orig, "Date", 0) != (size_t)-1;
    hd_msg_free(orig);
    if (a.len == 0) {
        if (!had_mid || !had_date)
            abort();
        return;
    }
    if (hd_msg_parse(a, NULL, &add, NULL) != 0)
        abort();
    if (hd_msg_count(add, "Message-ID") != (had_mid ? 0u : 1u) ||
        hd_msg_count(add, "Date") != (had_date ? 0u : 1u) ||
        hd_msg_nfields(add) != (size_t)!had_mid + (size_t)!had_date)
        abort();
    if (!had_mid) {
        const hd_hdr_field *f = hd_msg_field(add, hd_msg_find(add, "Message-ID", 0));
        if (!hd_slice_eq_cstr(hd_slice_trim_wsp(f->value), info->message_id))
            abort();
    }
    hd_msg_free(add);
}

static size_t others(const hd_msg *m)
{
    static const char *const dropped[] = {"Bcc", "Resent-Bcc", "Return-Path", "Content-Length"};
    size_t n = hd_msg_nfields(m);
    for (size_t k = 0; k < sizeof dropped / sizeof dropped[0]; k++)
        n -= hd_msg_count(m, dropped[k]);
    return n;
}

static void check_written(hd_slice msg, const hd_submit_info *info)
{
    hd_buf out;
    hd_buf_init(&out, 2 * msg.len + 4096);
    hd_mime7_report rep;
    if (hd_submit_write(msg, info, &out, &rep) != 0)
        abort();
    size_t gone = 0;
    for (size_t i = 0; i < info->ndrop; i++)
        gone += info->drop[i].len;
    hd_slice w = hd_buf_slice(&out);
    bool eight = hd_mime7_has_8bit(msg);
    if (rep.eight_bit != hd_mime7_has_8bit(w) || (!eight && rep.converted))
        abort();
    if (!eight && w.len != info->added.len + msg.len - gone)
        abort();
    hd_msg_limits lim = {.header_only = true};
    hd_msg *before = NULL, *after = NULL;
    if (hd_msg_parse(msg, &lim, &before, NULL) != 0)
        abort();
    size_t nadded = 0;
    for (size_t i = 0; i < info->added.len; i++)
        nadded += info->added.p[i] == '\n';
    int rc = hd_msg_parse(w, &lim, &after, NULL);
    if (rc == 0) {
        /* the root's Content-Transfer-Encoding and MIME-Version when its
         * body was re-encoded */
        size_t more = hd_msg_nfields(after) - (others(before) + nadded);
        if (others(after) != hd_msg_nfields(after) || hd_msg_nfields(after) < others(before) + nadded ||
            more > (rep.converted ? 2u : 0u))
            abort();
        hd_msg_free(after);
    } else if (rc != HD_ELIMIT) { /* only the added fields can push it over a limit */
        abort();
    }
    hd_msg_free(before);
    hd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_submit_opts o = {.hostname = "mx.example.net", .id = "0123456789abcdef", .now = 1800000000};
    hd_submit_info info;
    hd_err err;
    hd_slice msg = hd_slice_make(data, size);
    int rc = hd_submit_prepare(msg, &o, &info, &err);
    if (rc == 0) {
        check_domain(info.from_domain);
        if (memchr(info.message_id, '\0', sizeof info.message_id) == NULL ||
            strpbrk(info.message_id, "\r\n") != NULL)
            abort();
        check_added(msg, &info);
        check_written(msg, &info);
    } else if (rc != HD_ESYNTAX && rc != HD_ELIMIT && rc != HD_ENOMEM) {
        abort();
    }
    hd_submit_info_free(&info);
    return 0;
}
