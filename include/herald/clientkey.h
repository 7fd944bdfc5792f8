/*
 * herald/clientkey.h - the key a client address is counted under for the
 * per-client limits (sessions at once, connections a minute): an IPv4
 * address as itself, an IPv6 address by its /64, the block one subscriber
 * is usually given (RFC 6177), so that a client cannot escape a limit by
 * moving through its own addresses. An IPv4-mapped IPv6 address
 * (::ffff:192.0.2.1, a dual-stack listener's IPv4 client) is its IPv4
 * address.
 *
 * Pure: text in, text out.
 */
#ifndef HERALD_CLIENTKEY_H
#define HERALD_CLIENTKEY_H

#include <stddef.h>

/* Room for the longest key: an IPv6 /64 prefix and "/64", and a NUL. */
#define HD_CLIENTKEY_MAX 48

/* The key of the address literal ip ("192.0.2.1", "2001:db8:1:2::5") in
 * key (n bytes, at least HD_CLIENTKEY_MAX): "192.0.2.1", "2001:db8:1:2::/64".
 * HD_EINVAL (key "") when ip is not an address literal, HD_ELIMIT when n
 * is too small. */
int hd_clientkey_of(const char *ip, char *key, size_t n);

#endif
