/*
 * fuzz_address.c - hd_addr_parse_list (and hd_addr_parse_from) on
 * arbitrary bytes. Checks that every address has a local part and a
 * domain, that no output string holds a line end or is longer than the
 * input, and that a failed parse leaves the list empty.
 */
#include <stdint.h>
#include <string.h>

#include <herald/mail.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond))                                                                       \
            __builtin_trap();                                                              \
    } while (0)

static void check_str(const char *s, size_t size, bool may_be_null)
{
    if (s == NULL) {
        CHECK(may_be_null);
        return;
    }
    size_t n = strlen(s);
    CHECK(n <= size && strpbrk(s, "\r\n") == NULL);
}

static void check_list(const hd_addr_list *l, size_t size)
{
    for (size_t i = 0; i < l->n; i++) {
        check_str(l->v[i].display, size, true);
        check_str(l->v[i].local, size, false);
        check_str(l->v[i].domain, size, false);
        check_str(l->v[i].group, size, true);
        CHECK(l->v[i].local[0] != '\0' && l->v[i].domain[0] != '\0');
        CHECK(l->v[i].group == NULL || l->had_group);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_addr_list list;
    hd_err err;
    if (hd_addr_parse_list(hd_slice_make(data, size), &list, &err) == 0) {
        check_list(&list, size);
        size_t n = list.n;
        hd_addr_list_free(&list);
        bool multiple;
        int rc = hd_addr_parse_from(hd_slice_make(data, size), &list, &multiple, &err);
        CHECK((rc == 0) == (n > 0));
        CHECK(rc != 0 || (list.n == n && multiple == (n > 1)));
        hd_addr_list_free(&list);
    } else {
        CHECK(list.n == 0 && list.v == NULL && err.msg[0] != '\0');
    }
    return 0;
}
