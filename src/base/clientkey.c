/*
 * clientkey.c - the key a client address is counted under
 * (herald/clientkey.h): IPv4 as is, IPv6 by its /64.
 */
#include <herald/clientkey.h>

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <herald/err.h>

int hd_clientkey_of(const char *ip, char *key, size_t n)
{
    if (n > 0)
        key[0] = '\0';
    if (n < HD_CLIENTKEY_MAX)
        return HD_ELIMIT;
    uint8_t a[16];
    if (ip != NULL && inet_pton(AF_INET, ip, a) == 1)
        return inet_ntop(AF_INET, a, key, (socklen_t)n) ? 0 : HD_EINVAL;
    if (ip == NULL || inet_pton(AF_INET6, ip, a) != 1)
        return HD_EINVAL;
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, v4mapped, sizeof v4mapped) == 0)
        return inet_ntop(AF_INET, a + 12, key, (socklen_t)n) ? 0 : HD_EINVAL;
    memset(a + 8, 0, 8);    /* the /64: the interface identifier goes */
    if (!inet_ntop(AF_INET6, a, key, (socklen_t)n))
        return HD_EINVAL;
    size_t len = strlen(key);
    snprintf(key + len, n - len, "/64");
    return 0;
}
