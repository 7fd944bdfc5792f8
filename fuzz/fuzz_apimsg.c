/*
 * fuzz_apimsg.c - the JSON body of POST /v1/messages (hd_apimsg_parse).
 *
 * Whatever the input: the result is 0 or one of the documented codes;
 * on success there is at least one recipient, no recipient has a control
 * character, the message is under the cap and every line ends in CRLF
 * (no bare CR or LF can reach the signer or the spool).
 */
#include <herald/apimsg.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BYTES (256u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_apimsg m;
    hd_err err = {0};
    hd_apimsg_opts o = {.now = 1700000000, .unique = "fuzz1", .max_bytes = MAX_BYTES,
                        .max_recipients = 50};
    int rc = hd_apimsg_parse(hd_slice_make(data, size), &o, &m, &err);
    if (rc != 0 && rc != HD_ESYNTAX && rc != HD_EINVAL && rc != HD_ELIMIT &&
        rc != HD_EUNSUPPORTED && rc != HD_ENOMEM)
        abort();
    if (rc == 0) {
        if (m.n_rcpts == 0 || m.n_rcpts > 50 || m.message.len == 0 || m.message.len > MAX_BYTES * 2)
            abort();
        for (size_t i = 0; i < m.n_rcpts; i++)
            for (const char *p = m.rcpts[i]; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    abort();
        const uint8_t *b = m.message.p;
        for (size_t i = 0; i < m.message.len; i++) {
            if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
                abort();
            if (b[i] == '\r' && (i + 1 == m.message.len || b[i + 1] != '\n'))
                abort();
        }
    }
    hd_apimsg_free(&m);
    return 0;
}
