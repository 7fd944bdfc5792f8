/*
 * fuzz_mime7.c - 8-bit parts re-encoded to 7 bits (hd_mime7_convert) on
 * arbitrary messages.
 *
 * Invariants: a message without 8-bit bytes comes back byte for byte; the
 * report's eight_bit is true exactly when the result has an 8-bit byte,
 * and then it has a reason; the analysis alone (no output) says the
 * same; when the input is a MIME tree the reader takes, the result is the
 * same tree (count, types, shape) and every leaf decodes to what it
 * decoded to before; re-encoded bodies are 7-bit with lines of at most 76
 * characters. The encoders, on the raw input, decode back to it.
 */
#include <herald/mime.h>
#include <herald/mime7.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_leaf(const hd_mime_part *a, const hd_mime_part *b)
{
    hd_buf da, db;
    hd_buf_init(&da, 1 << 22);
    hd_buf_init(&db, 1 << 22);
    int ra = hd_mime_decode(a, &da, NULL), rb = hd_mime_decode(b, &db, NULL);
    /* a part left as it was may fail to decode both times alike */
    if (ra != rb || (ra == 0 && (da.len != db.len || (da.len && memcmp(da.p, db.p, da.len) != 0))))
        abort();
    if (!hd_slice_eq(a->body, b->body)) {
        if (hd_mime7_has_8bit(b->body))
            abort();
        size_t col = 0;
        for (size_t k = 0; k < b->body.len; k++) {
            uint8_t c = b->body.p[k];
            col = c == '\n' ? 0 : c == '\r' ? col : col + 1;
            if (col > HD_MIME7_LINE_MAX)
                abort();
        }
    }
    hd_buf_free(&da);
    hd_buf_free(&db);
}

static void same_tree(hd_slice in, hd_slice out)
{
    hd_mime *a = NULL, *b = NULL;
    if (hd_mime_parse(in, NULL, &a, NULL) != 0)
        return;
    int rc = hd_mime_parse(out, NULL, &b, NULL);
    if (rc == HD_ELIMIT) { /* a field added may cross a header limit */
        hd_mime_free(a);
        return;
    }
    if (rc != 0 || hd_mime_nparts(a) != hd_mime_nparts(b))
        abort();
    for (size_t i = 0; i < hd_mime_nparts(a); i++) {
        const hd_mime_part *pa = hd_mime_part_at(a, i), *pb = hd_mime_part_at(b, i);
        if (pa->nchildren != pb->nchildren || pa->depth != pb->depth ||
            !hd_slice_caseeq(pa->ctype.type, pb->ctype.type) ||
            !hd_slice_caseeq(pa->ctype.subtype, pb->ctype.subtype))
            abort();
        if (pa->nchildren == 0)
            same_leaf(pa, pb);
    }
    hd_mime_free(a);
    hd_mime_free(b);
}

static void encoders(hd_slice in)
{
    for (int b64 = 0; b64 < 2; b64++) {
        hd_buf enc, dec;
        hd_buf_init(&enc, 4 * in.len + 64);
        hd_buf_init(&dec, in.len + 64);
        if ((b64 ? hd_mime7_b64_encode(in, "\r\n", &enc) : hd_mime7_qp_encode(in, "\r\n", &enc)) != 0)
            abort();
        if (hd_mime7_has_8bit(hd_buf_slice(&enc)))
            abort();
        int rc = b64 ? hd_mime_decode_base64(hd_buf_slice(&enc), &dec, NULL)
                     : hd_mime_decode_qp(hd_buf_slice(&enc), &dec, NULL);
        /* quoted-printable keeps CRLF and LF as line breaks; a bare CR is
         * =0D: every input decodes back */
        if (rc != 0 || dec.len != in.len || (in.len && memcmp(dec.p, in.p, in.len) != 0))
            abort();
        hd_buf_free(&enc);
        hd_buf_free(&dec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_slice in = hd_slice_make(data, size);
    hd_buf out;
    /* the cap the server gives (accept.c): the documented growth bound */
    hd_buf_init(&out, (size_t)((double)size * HD_MIME7_GROWTH) + HD_MIME7_SLACK);
    hd_mime7_report rep, dry;
    hd_err err;
    if (hd_mime7_convert(in, &out, &rep, &err) != 0)
        abort(); /* within the bound: nothing else can fail */
    hd_slice o = hd_buf_slice(&out);
    if (rep.eight_bit != hd_mime7_has_8bit(o) || rep.eight_bit != (rep.why[0] != '\0'))
        abort();
    if (!hd_mime7_has_8bit(in) && (o.len != size || (size && memcmp(o.p, data, size) != 0)))
        abort();
    if (hd_mime7_convert(in, NULL, &dry, NULL) != 0 || dry.converted != rep.converted ||
        dry.eight_bit != rep.eight_bit || strcmp(dry.why, rep.why) != 0)
        abort();
    same_tree(in, o);
    hd_buf_free(&out);
    if (size <= 4096)
        encoders(in);
    return 0;
}
