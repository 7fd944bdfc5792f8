/*
 * fuzz_signproto.c - the signer's request stream: frames decoded one after
 * another as the signer reads them, each sign request answered by a table
 * of one Ed25519 key (id 1), until the end or the first bad frame.
 */
#include <herald/signproto.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 8032 §7.1 test 1's secret key, as a base64 seed (RFC 8463 App. A) */
static const char seed[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

static hd_signproto_keys *table(void)
{
    static hd_signproto_keys *t;
    if (t == NULL) {
        hd_key *k = NULL;
        hd_err err = {0};
        if (hd_key_parse_private(hd_slice_cstr(seed), "fuzz", &k, &err) != 0 ||
            hd_signproto_keys_new(&t, &err) != 0 || hd_signproto_keys_add(t, 1, k, &err) != 0)
            __builtin_trap();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_slice in = hd_slice_make(data, size);
    hd_buf answer;
    hd_buf_init(&answer, 1u << 20);
    for (;;) {
        hd_signproto_msg m;
        size_t used = 0;
        hd_err err = {0};
        if (hd_signproto_decode(in, &m, &used, &err) != 0 || used == 0)
            break;
        if (m.type == HD_SIGNPROTO_SIGN) {
            hd_err why = {0};
            hd_signproto_serve(table(), &m, &answer, &why);
        }
        in.p += used;
        in.len -= used;
    }
    hd_buf_free(&answer);
    return 0;
}
