/*
 * fuzz_passwd.c - the stored password hash parser (a string from the
 * database, which a writer to it could plant).
 *
 * Properties: a string that parses has exactly one spelling (formatting
 * what was parsed gives the input back byte for byte), and its cost is
 * within the bounds; a cheap one is also verified, which must not fail
 * for any reason but a mismatch.
 */
#include <stdlib.h>
#include <string.h>

#include <herald/base64.h>
#include <herald/passwd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the stored value is a C string: a NUL would end it */
    if (memchr(data, 0, size) != NULL)
        return 0;
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    hd_passwd_params p;
    uint8_t salt[HD_PASSWD_SALT_LEN], key[HD_PASSWD_KEY_LEN];
    if (hd_passwd_parse(s, &p, salt, key, NULL) == 0) {
        if (p.ln < 1 || p.ln > HD_PASSWD_MAX_LN || p.r < 1 ||
            p.r > HD_PASSWD_MAX_R || p.p < 1 || p.p > HD_PASSWD_MAX_P ||
            (128ull * p.r << p.ln) > HD_PASSWD_MAX_MEM)
            abort();
        hd_buf b;
        hd_buf_init(&b, 256);
        hd_buf_printf(&b, "$scrypt$ln=%u,r=%u,p=%u$", p.ln, p.r, p.p);
        hd_b64_encode(hd_slice_make(salt, sizeof salt), &b);
        hd_buf_append_byte(&b, '$');
        hd_b64_encode(hd_slice_make(key, sizeof key), &b);
        if (strcmp(hd_buf_cstr(&b), s) != 0)
            abort();
        hd_buf_free(&b);
        if (p.ln <= 6 && p.r <= 4) {
            bool ok = true;
            if (hd_passwd_verify("password", s, &ok, NULL) != 0)
                abort();
        }
    }
    free(s);
    return 0;
}
