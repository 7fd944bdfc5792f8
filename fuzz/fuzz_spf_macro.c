/*
 * fuzz_spf_macro.c - SPF macro expansion (RFC 7208 §7) of arbitrary bytes;
 * the first byte chooses domain-spec or explanation rules and IPv4 or
 * IPv6.
 */
#include <herald/spf.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool v6 = data[0] & 1;
    hd_spf_macro_ctx c = {
        .sender = "strong-bad@email.example.com", .domain = "email.example.com",
        .ip = v6 ? "2001:db8::cb01" : "192.0.2.3",
        .ip_dotted = v6 ? "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1"
                        : "192.0.2.3",
        .is_v6 = v6, .helo = "mx.example.org", .receiver = "receiver.example.net",
        .validated = (data[0] & 4) ? NULL : "mx.example.org", .now = 1700000000,
        .exp = data[0] & 2,
    };
    hd_buf out;
    hd_buf_init(&out, 1 << 16); /* bounded: a long expansion fails, never grows */
    hd_spf_macro_expand(hd_slice_make(data + 1, size - 1), &c, &out, NULL);
    hd_buf_free(&out);
    return 0;
}
