/*
 * dkim.c - DKIM signing and verification throughput, one core, in memory.
 *
 * usage: bench_dkim CORPUS_DIR RSA_KEY ED_KEY ZONE [SECONDS]
 *
 * Reads CORPUS_DIR/msg-*.eml (gen-corpus.py: 2 KB and 50 KB bodies),
 * then for each of {RSA-2048, Ed25519} x {small, big} messages signs and
 * verifies them in a loop for about SECONDS (default 2) each, with the
 * verifier's key cache warm, and prints one line per figure:
 *   RESULT <name> <value> <unit>
 * It also measures the body hash alone (relaxed canonicalization +
 * SHA-256) over the big messages, in MB/s, and, as the in-process limits
 * beside them, the bare sign/verify primitive of each key and SHA-256
 * alone over the same bytes ("RESULT raw ...").
 */
#include <herald/dkim.h>
#include <herald/dns.h>
#include <herald/key.h>
#include <herald/mail.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "auth/dkim/dkim_int.h"

typedef struct corpus {
    hd_slice *msg;
    size_t n;
} corpus;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load_file(const char *path, hd_slice *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        return -1;
    }
    fclose(f);
    *out = hd_slice_make(p, (size_t)n);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Split the corpus by size: small (< 10 KB) and big. */
static int load_corpus(const char *dir, corpus *small, corpus *big)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    char *names[20000];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && nn < 20000)
        if (strncmp(e->d_name, "msg-", 4) == 0)
            names[nn++] = strdup(e->d_name);
    closedir(d);
    qsort(names, nn, sizeof names[0], by_name);
    small->msg = calloc(nn, sizeof(hd_slice));
    big->msg = calloc(nn, sizeof(hd_slice));
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        hd_slice m;
        if (load_file(path, &m) != 0)
            return -1;
        corpus *c = m.len < 10240 ? small : big;
        c->msg[c->n++] = m;
        free(names[i]);
    }
    return 0;
}

static hd_key *load_key(const char *path)
{
    hd_key *k = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_key_load_private(path, &k, &err) != 0) {
        fprintf(stderr, "bench_dkim: %s\n", err.msg);
        exit(1);
    }
    return k;
}

/* Sign each message of c, round-robin, for secs; returns msg/s and keeps
 * the last signed copy of every message in signed_out. */
static double bench_sign(hd_key *key, const char *selector, const corpus *c, double secs,
                         hd_buf *signed_out)
{
    hd_dkim_sign_opts o;
    hd_dkim_sign_opts_init(&o);
    o.domain = "example.org";
    o.selector = selector;
    hd_dkim_signer *s = NULL;
    hd_err err;
    if (hd_dkim_signer_new(&o, key, &s, &err) != 0)
        exit(1);
    hd_buf out;
    hd_buf_init(&out, 1 << 20);
    size_t count = 0;
    double t0 = now_s(), t1;
    do {
        for (size_t i = 0; i < c->n; i++) {
            hd_buf_reset(&out);
            if (hd_dkim_sign(s, c->msg[i], &out, &err) != 0) {
                fprintf(stderr, "bench_dkim: sign: %s\n", err.msg);
                exit(1);
            }
            if (signed_out != NULL && count < c->n) {
                hd_buf_init(&signed_out[i], 1 << 24);
                hd_buf_append_slice(&signed_out[i], hd_buf_slice(&out));
                hd_buf_append_slice(&signed_out[i], c->msg[i]);
            }
            count++;
        }
        t1 = now_s();
    } while (t1 - t0 < secs);
    hd_buf_free(&out);
    hd_dkim_signer_free(s);
    return (double)count / (t1 - t0);
}

static double bench_verify(hd_dns *dns, hd_buf *msgs, size_t n, double secs)
{
    hd_dkim_keycache *cache = hd_dkim_keycache_new(64, 3600);
    hd_dkim_verify_opts o;
    hd_dkim_verify_opts_init(&o, (int64_t)time(NULL));
    o.cache = cache;
    hd_dkim_verifier *v = NULL;
    hd_err err;
    hd_dkim_verifier_new(&o, &v, &err);
    size_t count = 0;
    double t0 = 0, t1;
    for (int warm = 1; warm >= 0; warm--) { /* first pass fills the key cache */
        count = 0;
        t0 = now_s();
        do {
            for (size_t i = 0; i < n; i++) {
                if (hd_dkim_verify_run(v, hd_buf_slice(&msgs[i]), dns, &err) != 0 ||
                    hd_dkim_verify_result(v, 0)->result != HD_DKIM_PASS) {
                    fprintf(stderr, "bench_dkim: message %zu did not verify\n", i);
                    exit(1);
                }
                count++;
            }
            t1 = now_s();
        } while (!warm && t1 - t0 < secs);
    }
    hd_dkim_verifier_free(v);
    hd_dkim_keycache_free(cache);
    return (double)count / (t1 - t0);
}

/* The bare primitive through the same EVP calls, for the in-process
 * limit beside each figure (openssl speed runs in another process, and on
 * a shared VM the two can differ by 20 %). */
static double bench_raw(hd_key *key, bool verify, double secs)
{
    uint8_t digest[32] = {1};
    hd_buf sig;
    hd_buf_init(&sig, 1024);
    hd_err err;
    hd_key_sign_digest(key, digest, &sig, &err);
    hd_key *pub = key;
    hd_buf der;
    hd_buf_init(&der, 4096);
    if (verify) {
        hd_key_public_bytes(key, &der, &err);
        hd_key_from_public(hd_key_get_type(key), hd_buf_slice(&der), &pub, &err);
    }
    size_t count = 0;
    double t0 = now_s(), t1;
    do {
        for (int i = 0; i < 20; i++) {
            int rc;
            if (verify) {
                rc = hd_key_verify_digest(pub, digest, 32, false, hd_buf_slice(&sig), &err);
            } else {
                sig.len = 0;
                rc = hd_key_sign_digest(key, digest, &sig, &err);
            }
            if (rc != 0)
                exit(1);
        }
        count += 20;
        t1 = now_s();
    } while (t1 - t0 < secs);
    if (verify)
        hd_key_free(pub);
    hd_buf_free(&der);
    hd_buf_free(&sig);
    return (double)count / (t1 - t0);
}

/* SHA-256 alone over the big bodies, MB/s: the limit for body hashing. */
static double bench_sha256(const corpus *c, double secs)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    size_t bytes = 0;
    uint8_t out[32];
    unsigned len;
    double t0 = now_s(), t1;
    do {
        for (size_t i = 0; i < c->n; i++) {
            EVP_DigestInit_ex(md, sha, NULL);
            EVP_DigestUpdate(md, c->msg[i].p, c->msg[i].len);
            EVP_DigestFinal_ex(md, out, &len);
            bytes += c->msg[i].len;
        }
        t1 = now_s();
    } while (t1 - t0 < secs);
    EVP_MD_free(sha);
    EVP_MD_CTX_free(md);
    return (double)bytes / (t1 - t0) / 1e6;
}

/* Relaxed body canonicalization + SHA-256 alone, MB/s of input. */
static double bench_body_hash(const corpus *c, double secs)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t bytes = 0;
    uint8_t out[32];
    unsigned len;
    double t0 = now_s(), t1;
    do {
        for (size_t i = 0; i < c->n; i++) {
            hd_msg *m = NULL;
            hd_msg_parse(c->msg[i], NULL, &m, NULL);
            hd_slice body = hd_msg_body(m);
            EVP_DigestInit_ex(md, EVP_sha256(), NULL);
            dkim_body_sink sink = {md, UINT64_MAX, 0, 0, NULL};
            dkim_canon_body(HD_DKIM_RELAXED, body, &sink);
            EVP_DigestFinal_ex(md, out, &len);
            bytes += body.len;
            hd_msg_free(m);
        }
        t1 = now_s();
    } while (t1 - t0 < secs);
    EVP_MD_CTX_free(md);
    return (double)bytes / (t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_dkim CORPUS_DIR RSA_KEY ED_KEY ZONE [SECONDS]\n");
        return 64;
    }
    double secs = argc > 5 ? atof(argv[5]) : 2.0;
    corpus small = {0}, big = {0};
    if (load_corpus(argv[1], &small, &big) != 0 || small.n == 0 || big.n == 0) {
        fprintf(stderr, "bench_dkim: cannot load the corpus in %s\n", argv[1]);
        return 66;
    }
    hd_key *rsa = load_key(argv[2]), *ed = load_key(argv[3]);
    hd_dns *dns = NULL;
    hd_err err;
    if (hd_dns_new_zone_file(&dns, argv[4], &err) != 0) {
        fprintf(stderr, "bench_dkim: %s\n", err.msg);
        return 66;
    }
    struct {
        const char *name;
        hd_key *key;
        const char *sel;
        const corpus *c;
    } runs[] = {
        {"rsa2048 2KB", rsa, "rsa2048", &small},
        {"rsa2048 50KB", rsa, "rsa2048", &big},
        {"ed25519 2KB", ed, "ed25519", &small},
        {"ed25519 50KB", ed, "ed25519", &big},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        hd_buf *signed_msgs = calloc(runs[r].c->n, sizeof(hd_buf));
        if (runs[r].c == &small) { /* the primitive, once per key */
            printf("RESULT raw sign %s %.1f ops/s\n", runs[r].sel, bench_raw(runs[r].key, false, secs));
            printf("RESULT raw verify %s %.1f ops/s\n", runs[r].sel, bench_raw(runs[r].key, true, secs));
        }
        double s = bench_sign(runs[r].key, runs[r].sel, runs[r].c, secs, signed_msgs);
        printf("RESULT herald sign %s %.1f msg/s\n", runs[r].name, s);
        double v = bench_verify(dns, signed_msgs, runs[r].c->n, secs);
        printf("RESULT herald verify %s %.1f msg/s\n", runs[r].name, v);
        for (size_t i = 0; i < runs[r].c->n; i++)
            hd_buf_free(&signed_msgs[i]);
        free(signed_msgs);
        fflush(stdout);
    }
    printf("RESULT raw sha256 50KB %.1f MB/s\n", bench_sha256(&big, secs));
    printf("RESULT herald body-hash relaxed 50KB %.1f MB/s\n", bench_body_hash(&big, secs));
    hd_key_free(rsa);
    hd_key_free(ed);
    hd_dns_free(dns);
    return 0;
}
