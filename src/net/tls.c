/*
 * tls.c - OpenSSL contexts for the submission listener (STARTTLS, RFC
 * 3207) and for delivery, and the self-signed certificate of the default
 * set-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/tls.h"

static int ssl_error(hd_err *err, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return hd_err_set(err, HD_ECRYPTO, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

SSL_CTX *net_tls_server_ctx(const char *cert, const char *key, hd_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_error(err, "TLS server context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_error(err, cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error(err, key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *net_tls_client_ctx(bool verify, hd_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        ssl_error(err, "TLS client context");
        return NULL;
    }
    /* RFC 8996: no TLS 1.0/1.1; opportunistic TLS still beats plain text */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (verify) {
        SSL_CTX_set_default_verify_paths(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

static int write_pem(const char *path, int mode, int (*fn)(FILE *, void *), void *obj, hd_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    }
    int ok = fn(f, obj);
    if (fclose(f) != 0 || !ok)
        return ssl_error(err, path);
    return 0;
}

static int pem_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(FILE *f, void *x)
{
    return PEM_write_X509(f, x);
}

/* dir/tls-cert.pem and dir/tls-key.pem (0600), made once: an EC P-256 key
 * and a certificate for hostname valid ten years. Clients of the default
 * set-up are on this machine; a real deployment names its own files. */
int net_tls_self_signed(const char *dir, const char *hostname, char **cert, char **key,
                        hd_err *err)
{
    char cpath[4096], kpath[4096];
    snprintf(cpath, sizeof cpath, "%s/tls-cert.pem", dir);
    snprintf(kpath, sizeof kpath, "%s/tls-key.pem", dir);
    *cert = strdup(cpath);
    *key = strdup(kpath);
    if (!*cert || !*key)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    if (access(cpath, R_OK) == 0 && access(kpath, R_OK) == 0)
        return 0;
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int rc = 0;
    if (!pk || !x) {
        rc = ssl_error(err, "self-signed certificate");
        goto done;
    }
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1, -1, 0);
    X509_set_issuer_name(x, name);
    char san[300];
    snprintf(san, sizeof san, "DNS:%s", hostname);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext) {
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (!X509_sign(x, pk, EVP_sha256())) {
        rc = ssl_error(err, "self-signed certificate");
        goto done;
    }
    if ((rc = write_pem(kpath, 0600, pem_key, pk, err)) || (rc = write_pem(cpath, 0644, pem_cert, x, err)))
        goto done;
done:
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}
