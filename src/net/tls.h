/*
 * tls.h - the server's TLS contexts (net/tls.c): the listeners' (a
 * certificate and key from files), the delivery client's, and the
 * self-signed certificate made at first start when none is configured.
 */
#ifndef HERALD_NET_TLS_H
#define HERALD_NET_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

#include <herald/err.h>

SSL_CTX *net_tls_server_ctx(const char *cert, const char *key, hd_err *err);
SSL_CTX *net_tls_client_ctx(bool verify, hd_err *err);
/* A self-signed certificate for hostname in dir (made once, kept). */
int net_tls_self_signed(const char *dir, const char *hostname, char **cert, char **key,
                        hd_err *err);

#endif
