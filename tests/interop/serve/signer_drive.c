/*
 * signer_drive.c - drives the signer process (src/signer) the way a buggy
 * or compromised server could, for tests/interop/serve_signer_proto.sh:
 *
 *   signer_drive CONFIG KEY_ID
 *
 * starts the signer for CONFIG's data directory (2 channels), then: a
 * sign request for KEY_ID is granted and verifies; one for an unknown key
 * id and one with a 20-byte digest are refused; an empty packet, a
 * truncated frame, an oversized packet and random garbage packets
 * (SIGNER_DRIVE_SEED replays a run; the seed is printed) each get a
 * refusal, and afterwards the same signer (same pid) still signs. The
 * signer's log goes to stderr, for the script to check. Exit 0 when all
 * held.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <herald/signproto.h>

#include "signer/signer.h"

static int failures;

#define CHECK(cond, ...)                          \
    do {                                          \
        if (!(cond)) {                            \
            printf("FAIL: " __VA_ARGS__);         \
            printf("\n");                         \
            failures++;                           \
        }                                         \
    } while (0)

/* Send one raw packet on fd and read the answer: its status, or -1 when
 * none came within 5 s or it was not an answer. */
static int raw(int fd, const void *p, size_t len, char *text, size_t size)
{
    if (send(fd, p, len, MSG_NOSIGNAL) != (ssize_t)len)
        return -1;
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, 5000) != 1)
        return -1;
    uint8_t buf[4 + HD_SIGNPROTO_FRAME_MAX];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    hd_signproto_msg a;
    size_t used;
    hd_err err = {0};
    if (n <= 0 || hd_signproto_decode(hd_slice_make(buf, (size_t)n), &a, &used, &err) != 0 ||
        used != (size_t)n || a.type != HD_SIGNPROTO_ANSWER)
        return -1;
    snprintf(text, size, "%.*s", (int)a.body.len, (const char *)a.body.p);
    return (int)a.status;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: signer_drive CONFIG KEY_ID\n");
        return 64;
    }
    hd_config *cfg = NULL;
    hd_err err = {0};
    if (hd_config_load(argv[1], &cfg, &err) != 0) {
        fprintf(stderr, "%s\n", hd_err_str(&err));
        return 66;
    }
    int64_t key_id = strtoll(argv[2], NULL, 10);
    hd_log log;
    hd_log_init(&log, "herald", HD_LOG_DEBUG);
    signer *s = NULL;
    if (signer_start(cfg, 2, &log, &s, &err) != 0) {
        fprintf(stderr, "signer_start: %s\n", hd_err_str(&err));
        return 1;
    }
    char summary[128] = "";
    CHECK(signer_reload(s, summary, sizeof summary, &err) == 0, "reload: %s", hd_err_str(&err));
    printf("reload: %s\n", summary);
    pid_t pid = signer_pid(s);

    uint8_t digest[32];
    memset(digest, 0x42, sizeof digest);
    hd_buf sig;
    hd_buf_init(&sig, 2048);
    int rc = signer_sign(s, key_id, digest, &sig, &err);
    CHECK(rc == 0 && sig.len > 0, "key id %lld: %s", (long long)key_id, hd_err_str(&err));
    printf("known key id %lld: signed (%zu bytes)\n", (long long)key_id, sig.len);

    hd_buf_reset(&sig);
    hd_err_clear(&err);
    rc = signer_sign(s, 999999, digest, &sig, &err);
    CHECK(rc == HD_ETEMP && sig.len == 0 && strstr(err.msg, "refused") &&
              strstr(err.msg, "key id 999999"),
          "unknown key id: rc %d \"%s\"", rc, err.msg);
    printf("unknown key id: %s\n", err.msg);

    int fd = signer_channel_fd(s, 1);
    char text[512];
    hd_buf req;
    hd_buf_init(&req, 4096);
    hd_signproto_put_sign(&req, 77, key_id, digest, 20);
    int st = raw(fd, req.p, req.len, text, sizeof text);
    CHECK(st == HD_SIGNPROTO_REFUSED && strstr(text, "digest of 20 bytes"),
          "20-byte digest: status %d \"%s\"", st, text);
    printf("20-byte digest: %s\n", text);

    /* bad packets: each refused, none fatal */
    hd_buf_reset(&req);
    hd_signproto_put_sign(&req, 78, key_id, digest, 32);
    static uint8_t big[5000];
    memset(big, 'A', sizeof big);
    struct {
        const char *name;
        const void *p;
        size_t len;
    } bad[] = {
        {"empty packet", "", 0},
        {"truncated frame", req.p, 20},
        {"frame and a tail", NULL, 0},
        {"oversized packet", big, sizeof big},
        {"HTTP request", "GET / HTTP/1.1\r\n\r\n", 18},
    };
    uint8_t tail[200];
    memcpy(tail, req.p, req.len);
    memcpy(tail + req.len, "xyz", 3);
    bad[2].p = tail;
    bad[2].len = req.len + 3;
    unsigned refused = 0, total = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        st = raw(fd, bad[i].p, bad[i].len, text, sizeof text);
        total++;
        refused += st == HD_SIGNPROTO_REFUSED;
        CHECK(st == HD_SIGNPROTO_REFUSED, "%s: status %d", bad[i].name, st);
        printf("%s: %s\n", bad[i].name, text);
    }
    const char *env = getenv("SIGNER_DRIVE_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    unsigned garbage = 300;
    for (unsigned i = 0; i < garbage; i++) {
        uint8_t g[1400];
        size_t len = 1 + (size_t)rand() % sizeof g;
        for (size_t j = 0; j < len; j++)
            g[j] = (uint8_t)rand();
        if (i % 3 == 0) {   /* a plausible head: the right length, version, type */
            uint32_t l = (uint32_t)len - 4;
            g[0] = (uint8_t)(l >> 24), g[1] = (uint8_t)(l >> 16), g[2] = (uint8_t)(l >> 8);
            g[3] = (uint8_t)l;
            if (len > 5)
                g[4] = 1, g[5] = 1;
        }
        st = raw(fd, g, len, text, sizeof text);
        total++;
        refused += st == HD_SIGNPROTO_REFUSED;
        CHECK(st == HD_SIGNPROTO_REFUSED, "garbage packet %u (%zu bytes): status %d", i, len, st);
    }
    printf("garbage: seed %u (SIGNER_DRIVE_SEED=%u replays)\n", seed, seed);

    hd_buf_reset(&sig);
    rc = signer_sign(s, key_id, digest, &sig, &err);
    CHECK(rc == 0, "after the bad packets: %s", hd_err_str(&err));
    CHECK(signer_pid(s) == pid, "the signer restarted: pid %ld, was %ld", (long)signer_pid(s),
          (long)pid);
    printf("signer_drive: %u bad packets, %u refused; signer pid %ld %s; known key still signs: "
           "%s; %d failure(s)\n", total, refused, (long)signer_pid(s),
           signer_pid(s) == pid ? "unchanged" : "CHANGED", rc == 0 ? "yes" : "NO", failures);
    hd_buf_free(&req);
    hd_buf_free(&sig);
    signer_stop(s);
    hd_config_free(cfg);
    return failures ? 1 : 0;
}
