/*
 * clientkey_test.c - herald/clientkey.h: the key a client address is
 * counted under (IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4),
 * and what is not an address.
 */
#include "testutil.h"

#include <string.h>

#include <herald/clientkey.h>
#include <herald/err.h>

struct key_case {
    const char *name;
    const char *ip;
    int rc;
    const char *want;
};

static const struct key_case cases[] = {
    {"ipv4 as is", "192.0.2.1", 0, "192.0.2.1"},
    {"ipv4 loopback others apart", "127.0.0.2", 0, "127.0.0.2"},
    {"ipv6 by its /64", "2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64"},
    {"ipv6 same /64 same key", "2001:db8:1:2:ffff:ffff:ffff:ffff", 0, "2001:db8:1:2::/64"},
    {"ipv6 next /64 apart", "2001:db8:1:3::1", 0, "2001:db8:1:3::/64"},
    {"ipv6 loopback", "::1", 0, "::/64"},
    {"ipv6 compressed input", "2001:DB8::1", 0, "2001:db8::/64"},
    {"ipv4-mapped is ipv4", "::ffff:198.51.100.7", 0, "198.51.100.7"},
    {"not an address", "mail.example.com", HD_EINVAL, ""},
    {"ipv4 with a prefix", "192.0.2.0/24", HD_EINVAL, ""},
    {"empty", "", HD_EINVAL, ""},
    {"ipv6 zone id", "fe80::1%eth0", HD_EINVAL, ""},
};

static void test_keys(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct key_case *c = &cases[i];
        char key[HD_CLIENTKEY_MAX];
        memset(key, 'x', sizeof key);
        int rc = hd_clientkey_of(c->ip, key, sizeof key);
        if (rc != c->rc || strcmp(key, c->want) != 0)
            fail_msg("%s: %s: got %d \"%s\", want %d \"%s\"", c->name, c->ip, rc, key, c->rc,
                     c->want);
    }
}

/* The longest /64 fits; a buffer too small is refused, not overrun. */
static void test_room(void **state)
{
    (void)state;
    char key[HD_CLIENTKEY_MAX];
    assert_int_equal(hd_clientkey_of("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", key, sizeof key), 0);
    assert_string_equal(key, "ffff:ffff:ffff:ffff::/64");
    assert_int_equal(hd_clientkey_of("::ffff:255.255.255.255", key, sizeof key), 0);
    assert_string_equal(key, "255.255.255.255");
    char small[8] = "zzzzzzz";
    assert_int_equal(hd_clientkey_of("192.0.2.1", small, sizeof small), HD_ELIMIT);
    assert_string_equal(small, "");
    assert_int_equal(hd_clientkey_of(NULL, key, sizeof key), HD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
