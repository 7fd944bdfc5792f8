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
 *
 *   signer_drive --bench SECONDS CONFIG RSA_ID ED_ID RSA_PEM ED_PEM
 *
 * measures what the IPC costs: a message's two signatures (RSA-2048 and
 * Ed25519) in this process and through the signer, with 1 and 2 threads
 * (docs/benchmarks.md).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
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

/* ---- --bench: what the IPC costs a message ---- */

typedef struct bench_arg {
    signer *s;              /* NULL: sign in this process */
    hd_key *keys[2];        /* in-process: RSA, Ed25519 */
    int64_t ids[2];
    double seconds;
    unsigned long pairs;
} bench_arg;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* RSA and Ed25519 signatures of one digest, as for one message, until
 * the time is up. */
static void *bench_thread(void *p)
{
    bench_arg *a = p;
    uint8_t digest[32];
    memset(digest, 0x17, sizeof digest);
    hd_buf sig;
    hd_buf_init(&sig, 4096);
    double end = now_s() + a->seconds;
    while (now_s() < end) {
        for (int k = 0; k < 2; k++) {
            hd_err err = {0};
            hd_buf_reset(&sig);
            int rc = a->s ? signer_sign(a->s, a->ids[k], digest, &sig, &err)
                          : hd_key_sign_digest(a->keys[k], digest, &sig, &err);
            if (rc) {
                fprintf(stderr, "bench: %s\n", hd_err_str(&err));
                exit(1);
            }
        }
        a->pairs++;
    }
    hd_buf_free(&sig);
    return NULL;
}

/* CPU-seconds used so far by this process and, when pid > 0, the signer
 * (utime + stime of /proc/PID/stat): what a message costs the machine,
 * which other work on it changes less than the wall time. */
static double cpu_s(pid_t pid)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (f && fgets(line, sizeof line, f)) {
        const char *p = strrchr(line, ')');
        unsigned long long ut = 0, st = 0;
        for (int field = 3; p && *p; p++)
            if (*p == ' ' && ++field == 14) {
                ut = strtoull(p + 1, NULL, 10);
                st = strtoull(strchr(p + 1, ' ') + 1, NULL, 10);
                break;
            }
        t += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    if (f)
        fclose(f);
    return t;
}

static double bench_run(signer *s, hd_key *keys[2][2], const int64_t ids[2], unsigned threads,
                        double seconds, double *cpu_per_msg)
{
    pid_t pid = s ? signer_pid(s) : 0;
    double cpu0 = cpu_s(pid);
    bench_arg a[2];
    pthread_t th[2];
    for (unsigned t = 0; t < threads; t++) {
        a[t] = (bench_arg){s, {keys[t][0], keys[t][1]}, {ids[0], ids[1]}, seconds, 0};
        pthread_create(&th[t], NULL, bench_thread, &a[t]);
    }
    unsigned long pairs = 0;
    for (unsigned t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        pairs += a[t].pairs;
    }
    *cpu_per_msg = (cpu_s(pid) - cpu0) / (double)(pairs ? pairs : 1);
    return (double)pairs / seconds;
}

/* signer_drive --bench SECONDS CONFIG RSA_ID ED_ID RSA_PEM ED_PEM */
static int bench(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: signer_drive --bench SECONDS CONFIG RSA_ID ED_ID RSA_PEM ED_PEM\n");
        return 64;
    }
    double seconds = strtod(argv[2], NULL);
    hd_config *cfg = NULL;
    hd_err err = {0};
    hd_key *keys[2][2];
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 2; k++)
            if (hd_key_load_private(argv[6 + k], &keys[t][k], &err) != 0) {
                fprintf(stderr, "%s\n", hd_err_str(&err));
                return 66;
            }
    int64_t ids[2] = {strtoll(argv[4], NULL, 10), strtoll(argv[5], NULL, 10)};
    if (hd_config_load(argv[3], &cfg, &err) != 0) {
        fprintf(stderr, "%s\n", hd_err_str(&err));
        return 66;
    }
    hd_log log;
    hd_log_init(&log, "herald", HD_LOG_WARN);
    signer *s = NULL;
    if (signer_start(cfg, 2, &log, &s, &err) != 0 || signer_reload(s, NULL, 0, &err) != 0) {
        fprintf(stderr, "%s\n", hd_err_str(&err));
        return 1;
    }
    for (unsigned threads = 1; threads <= 2; threads++) {
        double c_local, c_remote, c_local2;
        double local = bench_run(NULL, keys, ids, threads, seconds, &c_local);
        double remote = bench_run(s, keys, ids, threads, seconds, &c_remote);
        double local2 = bench_run(NULL, keys, ids, threads, seconds, &c_local2);
        /* before and after: the drift of a shared machine */
        local = (local + local2) / 2;
        c_local = (c_local + c_local2) / 2;
        printf("RESULT %u thread%s: in-process %.0f msg/s, %.1f us CPU per message "
               "(RSA-2048 + Ed25519); through the signer %.0f msg/s, %.1f us CPU (server + "
               "signer): +%.1f us CPU per message\n",
               threads, threads == 1 ? " " : "s", local, 1e6 * c_local, remote, 1e6 * c_remote,
               1e6 * (c_remote - c_local));
    }
    signer_stop(s);
    hd_config_free(cfg);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 2; k++)
            hd_key_free(keys[t][k]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench(argc, argv);
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
