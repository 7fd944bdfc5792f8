/*
 * signer.c - the signer process and the server's side of it (signer.h).
 *
 * Three processes (docs/architecture.md, "Processes"):
 *   - the server (the caller of signer_start): talks to the network; holds
 *     one end of every channel;
 *   - the keeper: forked first, before any key is read or any thread
 *     started; keeps the privileges the server may drop and the signer's
 *     ends of the channels, forks the signer and forks it again when it
 *     dies, and tells the server the new signer's pid on the news pipe;
 *   - the signer: reads the keys the database names and answers requests,
 *     one thread per channel, one request at a time on each (so at most
 *     `channels` signatures are in flight; more wait in the socket).
 * Channels are SOCK_SEQPACKET socketpairs: each frame is one packet, so a
 * frame cut short, too long or garbled by a buggy or compromised server is
 * refused alone and the next packet is read where it starts, and the
 * packets waiting when a signer dies are answered by the next one.
 * Requests in flight when it died are failed by the server's side as soon
 * as the news of the restart comes (their answers, if any, come later and
 * are dropped by request id).
 *
 * The signer looks a request's key id up in what its own reading of the
 * database gave it, and reads a key file only inside DATA/keys (after
 * symlinks) whose public key is the one the database publishes: the
 * database is written by the server, which may be the compromised one, so
 * it must not be able to point the signer at another private key.
 */
#define _GNU_SOURCE /* setresuid, setresgid, CPU affinity */
#include "signer/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <herald/base64.h>
#include <herald/domain.h>
#include <herald/key.h>
#include <herald/limits.h>
#include <herald/ratelimit.h>
#include <herald/signproto.h>
#include <herald/store.h>

#define PACKET_MAX (4u + HD_SIGNPROTO_FRAME_MAX)
#define SIGN_WAIT_MS 10000      /* a signature takes a millisecond or two */
#define RELOAD_WAIT_MS 120000   /* thousands of RSA keys, parsed once per thread */
#define POLL_SLICE_MS 100       /* how often a waiting request looks for news */
#define RESTART_PAUSE_S 1       /* a signer dying at once is forked again after this */

/* ---- the server's side ---- */

typedef struct chan {
    int fd;
    uint32_t next_id;
    bool busy;
    int cpu;                    /* where its signing thread runs (cpu_of) */
} chan;

struct signer {
    chan *ch;                   /* the signing channels */
    unsigned n;
    chan ctl;                   /* reloads, domains added (any thread, under ctl_lock) */
    pthread_mutex_t ctl_lock;
    pthread_mutex_t lock;       /* ch[].busy */
    pthread_cond_t freed;
    int life_fd;                /* to the keeper; closing it stops the keeper */
    int news_fd;                /* from the keeper: the pid of each signer it forks */
    pthread_mutex_t news_lock;
    pid_t keeper;
    atomic_uint generation;     /* signers forked so far */
    atomic_int pid;
    atomic_bool keeper_gone;
    _Atomic uint64_t news_read_ms;  /* when the news were last read */
    hd_log log;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read what the keeper said (any thread). */
static void news_drain(signer *s)
{
    pthread_mutex_lock(&s->news_lock);
    atomic_store(&s->news_read_ms, mono_ms());
    for (;;) {
        int32_t pid;
        ssize_t r = read(s->news_fd, &pid, sizeof pid);
        if (r == (ssize_t)sizeof pid) {
            atomic_store(&s->pid, pid);
            atomic_fetch_add(&s->generation, 1);
            continue;
        }
        if (r == 0 && !atomic_exchange(&s->keeper_gone, true))
            hd_log_msg(&s->log, HD_LOG_ERROR, "signer: its keeper is gone; nothing can be "
                       "signed until herald serve is restarted");
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    pthread_mutex_unlock(&s->news_lock);
}

/* The CPU channel t's signing thread is pinned to: the t-th of the CPUs
 * this process may use, round and round (the server and the signer, forked
 * from it, see the same set). -1: none. */
static int cpu_of(unsigned t)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (n <= 0)
        return -1;
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set) && seen++ == (int)(t % (unsigned)n))
            return cpu;
    return -1;
}

/* A free channel, the one whose signing thread is on this thread's CPU if
 * it is free: the signer's thread is then woken on the CPU the asker is
 * leaving, and the asker on the one the signer leaves, with no wake-up
 * across CPUs (which costs most of a request on a virtual machine). */
static chan *chan_take(signer *s)
{
    int here = sched_getcpu();
    pthread_mutex_lock(&s->lock);
    for (;;) {
        chan *any = NULL;
        for (unsigned i = 0; i < s->n; i++) {
            if (s->ch[i].busy)
                continue;
            if (s->ch[i].cpu == here) {
                any = &s->ch[i];
                break;
            }
            if (!any)
                any = &s->ch[i];
        }
        if (any) {
            any->busy = true;
            pthread_mutex_unlock(&s->lock);
            return any;
        }
        pthread_cond_wait(&s->freed, &s->lock);
    }
}

static void chan_give(signer *s, chan *c)
{
    pthread_mutex_lock(&s->lock);
    c->busy = false;
    pthread_cond_signal(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

/* Send one request on c and wait for its answer (decoded into a, its body
 * borrowed from buf). Two system calls when all is well: the channel's
 * receive times out every POLL_SLICE_MS (SO_RCVTIMEO), and only then are
 * the keeper's news read, so a restart is seen within that time. */
static int ask(signer *s, chan *c, const hd_buf *req, uint32_t id, uint8_t *buf,
               hd_signproto_msg *a, int wait_ms, hd_err *err)
{
    uint64_t t0 = mono_ms();
    /* news of a restart long past must not fail this request at its first
     * time-out: read them now and then before asking */
    if (t0 - atomic_load(&s->news_read_ms) >= POLL_SLICE_MS)
        news_drain(s);
    unsigned gen = atomic_load(&s->generation);
    if (atomic_load(&s->keeper_gone))
        return hd_err_set(err, HD_ETEMP, "the signer is gone (its keeper died)");
    if (send(c->fd, req->p, req->len, MSG_NOSIGNAL) != (ssize_t)req->len)
        return hd_err_set(err, HD_ETEMP, "cannot reach the signer: %s", strerror(errno));
    uint64_t deadline = t0 + (uint64_t)wait_ms;
    for (;;) {
        ssize_t n = recv(c->fd, buf, PACKET_MAX, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            news_drain(s);
            if (atomic_load(&s->generation) != gen || atomic_load(&s->keeper_gone))
                return hd_err_set(err, HD_ETEMP, "the signer restarted while request %lu was "
                                  "in flight", (unsigned long)id);
            if (mono_ms() >= deadline)
                return hd_err_set(err, HD_ETEMP, "the signer did not answer request %lu in %d "
                                  "ms", (unsigned long)id, wait_ms);
            continue;
        }
        if (n <= 0)
            return hd_err_set(err, HD_ETEMP, "the signer's channel is closed");
        size_t used = 0;
        hd_err derr = {0};
        if (hd_signproto_decode(hd_slice_make(buf, (size_t)n), a, &used, &derr) != 0 ||
            used != (size_t)n || a->type != HD_SIGNPROTO_ANSWER)
            return hd_err_set(err, HD_ETEMP, "a garbled answer from the signer: %s",
                              derr.code ? hd_err_str(&derr) : "not one answer frame");
        if (a->id == id)
            return 0;
        /* the answer to a request failed before (at a restart): dropped */
    }
}

int signer_sign(signer *s, int64_t key_id, const uint8_t digest[32], hd_buf *sig, hd_err *err)
{
    chan *c = chan_take(s);
    uint32_t id = ++c->next_id;
    hd_buf req;
    hd_buf_init(&req, PACKET_MAX);
    uint8_t buf[PACKET_MAX];
    hd_signproto_msg a;
    int rc = hd_signproto_put_sign(&req, id, key_id, digest, 32);
    if (rc)
        rc = hd_err_set(err, rc, "sign request: %s", hd_err_name(rc));
    else
        rc = ask(s, c, &req, id, buf, &a, SIGN_WAIT_MS, err);
    if (!rc && a.status != HD_SIGNPROTO_OK)
        rc = hd_err_set(err, HD_ETEMP, "the signer %s: %.*s", hd_signproto_status_name(a.status),
                        (int)a.body.len, (const char *)a.body.p);
    if (!rc && (rc = hd_buf_append_slice(sig, a.body)) != 0)
        hd_err_set(err, rc, "the signature does not fit");
    hd_buf_free(&req);
    chan_give(s, c);
    return rc;
}

int signer_reload(signer *s, char *summary, size_t size, hd_err *err)
{
    pthread_mutex_lock(&s->ctl_lock);
    uint32_t id = ++s->ctl.next_id;
    hd_buf req;
    hd_buf_init(&req, PACKET_MAX);
    uint8_t buf[PACKET_MAX];
    hd_signproto_msg a;
    int rc = hd_signproto_put_reload(&req, id);
    if (rc)
        rc = hd_err_set(err, rc, "reload request: %s", hd_err_name(rc));
    else
        rc = ask(s, &s->ctl, &req, id, buf, &a, RELOAD_WAIT_MS, err);
    hd_buf_free(&req);
    if (!rc && a.status != HD_SIGNPROTO_OK)
        rc = hd_err_set(err, HD_ETEMP, "the signer could not reload: %.*s", (int)a.body.len,
                        (const char *)a.body.p);
    if (!rc && summary)
        snprintf(summary, size, "%.*s", (int)a.body.len, (const char *)a.body.p);
    pthread_mutex_unlock(&s->ctl_lock);
    return rc;
}

int signer_add_domain(signer *s, const char *domain, const char *bounce, int64_t now,
                      hd_err *err)
{
    pthread_mutex_lock(&s->ctl_lock);
    uint32_t id = ++s->ctl.next_id;
    hd_buf req;
    hd_buf_init(&req, PACKET_MAX);
    uint8_t buf[PACKET_MAX];
    hd_signproto_msg a;
    int rc = hd_signproto_put_add_domain(&req, id, now, hd_slice_cstr(domain),
                                         hd_slice_cstr(bounce ? bounce : ""));
    if (rc)
        rc = hd_err_set(err, HD_EINVAL, "domain %s: a name too long", domain);
    else
        rc = ask(s, &s->ctl, &req, id, buf, &a, RELOAD_WAIT_MS, err);
    hd_buf_free(&req);
    /* the signer's own error (an invalid name, a domain that exists) as it is */
    if (!rc && a.status != HD_SIGNPROTO_OK)
        rc = hd_err_set(err, a.code ? a.code : HD_ETEMP, "%.*s", (int)a.body.len,
                        (const char *)a.body.p);
    pthread_mutex_unlock(&s->ctl_lock);
    return rc;
}

pid_t signer_pid(signer *s)
{
    news_drain(s);
    return atomic_load(&s->pid);
}

int signer_channel_fd(signer *s, unsigned i) { return i < s->n ? s->ch[i].fd : -1; }

void signer_stop(signer *s)
{
    if (s == NULL)
        return;
    int fds[] = {s->ctl.fd, s->life_fd /* the keeper stops the signer and exits */,
                 s->news_fd};
    for (unsigned i = 0; i < s->n; i++)
        if (s->ch[i].fd >= 0)
            close(s->ch[i].fd);
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    while (s->keeper > 0 && waitpid(s->keeper, NULL, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->news_lock);
    pthread_mutex_destroy(&s->ctl_lock);
    free(s->ch);
    free(s);
}

/* ---- the signer process ---- */

typedef struct worker_ctx {
    struct sctx *x;
    unsigned i;
    int fd;
} worker_ctx;

typedef struct sctx {
    const hd_config *cfg;
    hd_log log;
    unsigned n;                 /* signing channels */
    int *fds;                   /* n signing channels, then the control channel */
    hd_signproto_keys **tables; /* one per channel, each under its lock */
    pthread_mutex_t *locks;
    pthread_mutex_t limit_lock;
    hd_ratelimit *limiter;
} sctx;

/* Refusals are what a compromised server can repeat: at most a line a
 * minute per kind and channel (the count held back in the next one). */
static void log_refusal(sctx *x, unsigned channel, const char *kind, const char *why)
{
    char who[32];
    snprintf(who, sizeof who, "channel %u", channel);
    uint64_t held = 0;
    pthread_mutex_lock(&x->limit_lock);
    bool through = x->limiter == NULL ||
                   hd_ratelimit_allow(x->limiter, kind, who, (int64_t)mono_ms(), &held);
    pthread_mutex_unlock(&x->limit_lock);
    if (!through)
        return;
    if (held)
        hd_log_msg(&x->log, HD_LOG_WARN, "signer: %s: refused: %s (and %llu more like it since "
                   "the last such line, not logged)", who, why, (unsigned long long)held);
    else
        hd_log_msg(&x->log, HD_LOG_WARN, "signer: %s: refused: %s", who, why);
}

typedef struct key_row {
    hd_store_key k;     /* public_b64 owned */
} key_row;

typedef struct rows {
    key_row *v;
    size_t n;
    hd_store *st;
    hd_err *err;
} rows;

static int collect_key(const hd_store_key *k, void *arg)
{
    rows *r = arg;
    /* retiring keys too: a message signed on the snapshot of a moment ago
     * must not fail because the activation came first */
    if (k->state != HD_STORE_KEY_ACTIVE && k->state != HD_STORE_KEY_RETIRING)
        return 0;
    key_row *v = realloc(r->v, (r->n + 1) * sizeof *v);
    if (!v)
        return HD_ENOMEM;
    r->v = v;
    v[r->n].k = *k;
    if (!(v[r->n].k.public_b64 = strdup(k->public_b64 ? k->public_b64 : "")))
        return HD_ENOMEM;
    r->n++;
    return 0;
}

static int collect_domain(const hd_store_domain *d, void *arg)
{
    rows *r = arg;
    return hd_store_key_each(r->st, d->name, collect_key, r, r->err);
}

static void rows_free(rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        hd_store_key_clear(&r->v[i].k);
    free(r->v);
}

/* The database's keys: none when there is no database yet (a first
 * start: the server makes it, then asks for a reload). */
static int read_rows(const hd_config *cfg, rows *r, hd_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/herald.db", cfg->data_dir);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    int rc = hd_store_open_readonly(path, &r->st, err);
    r->err = err;
    if (!rc)
        rc = hd_store_domain_each(r->st, collect_domain, r, err);
    if (rc == HD_ENOMEM)
        hd_err_set(err, rc, "out of memory");
    hd_store_close(r->st);
    r->st = NULL;
    return rc;
}

/* Whether path, after symlinks (into real), is inside dir. */
static bool inside(const char *path, const char *dir, char *real)
{
    size_t dl = strlen(dir);
    return realpath(path, real) != NULL && strncmp(real, dir, dl) == 0 && real[dl] == '/';
}

/* The key file of k, read only from inside keys_dir (after symlinks): the
 * path the database names, or else keys_dir/DOMAIN/ with the file name it
 * names (a data directory copied or moved keeps the old absolute paths in
 * its database). */
static int read_key_file(const hd_store_key *k, const char *keys_dir, uint8_t *buf, size_t size,
                         size_t *len, hd_err *err)
{
    char real[PATH_MAX], here[PATH_MAX * 2];
    *len = 0;
    const char *base = strrchr(k->path, '/');
    snprintf(here, sizeof here, "%s/%s/%s", keys_dir, k->domain, base ? base + 1 : k->path);
    if (!inside(k->path, keys_dir, real) && !inside(here, keys_dir, real))
        return hd_err_set(err, HD_EPERM, "%s is not inside %s (nor is %s there): the signer "
                          "reads no key file elsewhere", k->path, keys_dir,
                          base ? base + 1 : k->path);
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", real, strerror(errno));
    ssize_t n = read(fd, buf, size);
    int e = errno;
    close(fd);
    if (n < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", real, strerror(e));
    if ((size_t)n == size)
        return hd_err_set(err, HD_ELIMIT, "%s: too large to be a private key", real);
    *len = (size_t)n;
    return 0;
}

/* Whether key's public half is what the database publishes for k. */
static bool public_matches(const hd_key *key, const hd_store_key *k)
{
    hd_buf pub, b64;
    hd_buf_init(&pub, 4096);
    hd_buf_init(&b64, 8192);
    hd_err err = {0};
    bool same = hd_key_public_bytes(key, &pub, &err) == 0 &&
                hd_b64_encode(hd_buf_slice(&pub), &b64) == 0 &&
                strcmp(hd_buf_cstr(&b64), k->public_b64) == 0;
    hd_buf_free(&pub);
    hd_buf_free(&b64);
    return same;
}

/* Add k to every table (one parsed copy per thread). */
static int load_one(sctx *x, const hd_store_key *k, const char *keys_dir,
                    hd_signproto_keys **tables, hd_err *err)
{
    uint8_t buf[HD_LIMIT_KEY_FILE_BYTES + 1];
    size_t len = 0;
    int rc = read_key_file(k, keys_dir, buf, sizeof buf, &len, err);
    for (unsigned t = 0; !rc && t < x->n; t++) {
        hd_key *key = NULL;
        rc = hd_key_parse_private(hd_slice_make(buf, len), k->path, &key, err);
        if (!rc && t == 0 && !public_matches(key, k)) {
            hd_key_free(key);
            rc = hd_err_set(err, HD_EKEY, "%s is not the key the database publishes for it",
                            k->path);
        }
        if (!rc)
            rc = hd_signproto_keys_add(tables[t], k->id, key, err);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* Read the keys again into new tables; swap them in. */
static int load_keys(sctx *x, char *summary, size_t size, hd_err *err)
{
    rows r = {0};
    int rc = read_rows(x->cfg, &r, err);
    hd_signproto_keys **tables = calloc(x->n, sizeof *tables);
    if (!rc && !tables)
        rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    for (unsigned t = 0; !rc && t < x->n; t++)
        rc = hd_signproto_keys_new(&tables[t], err);
    char data[PATH_MAX], keys_dir[PATH_MAX + 8];
    if (!rc && realpath(x->cfg->data_dir, data) == NULL)
        rc = r.n ? hd_err_set(err, HD_EIO, "%s: %s", x->cfg->data_dir, strerror(errno)) : 0;
    snprintf(keys_dir, sizeof keys_dir, "%s/keys", data);
    size_t bad = 0;
    for (size_t i = 0; !rc && i < r.n; i++) {
        hd_err kerr = {0};
        if (load_one(x, &r.v[i].k, keys_dir, tables, &kerr) != 0) {
            /* the others still sign; this one's mail waits (451) */
            bad++;
            hd_log_msg(&x->log, HD_LOG_ERROR, "signer: domain %s key %s: %s; its mail is "
                       "refused for now (451)", r.v[i].k.domain, r.v[i].k.selector,
                       hd_err_str(&kerr));
        }
    }
    if (rc) {
        for (unsigned t = 0; tables && t < x->n; t++)
            hd_signproto_keys_free(tables[t]);
        free(tables);
        rows_free(&r);
        return rc;
    }
    for (unsigned t = 0; t < x->n; t++) {
        pthread_mutex_lock(&x->locks[t]);
        hd_signproto_keys *old = x->tables[t];
        x->tables[t] = tables[t];
        pthread_mutex_unlock(&x->locks[t]);
        hd_signproto_keys_free(old);
    }
    free(tables);
    snprintf(summary, size, "%zu key%s%s", r.n - bad, r.n - bad == 1 ? "" : "s",
             bad ? " (some unusable: see the log)" : "");
    rows_free(&r);
    return 0;
}

/* A new sending domain, its keys made here (hd_domain_add: the database
 * rows and DATA/keys/DOMAIN/), then the keys read again: the server's
 * `POST /v1/domains` without a private key in the server. */
static int add_domain(sctx *x, const hd_signproto_msg *m, char *text, size_t size, hd_err *err)
{
    char domain[256], bounce[256], data[PATH_MAX], keys_dir[PATH_MAX + 8], db[PATH_MAX + 16];
    snprintf(domain, sizeof domain, "%.*s", (int)m->domain.len, (const char *)m->domain.p);
    snprintf(bounce, sizeof bounce, "%.*s", (int)m->bounce.len, (const char *)m->bounce.p);
    if (realpath(x->cfg->data_dir, data) == NULL)
        return hd_err_set(err, HD_EIO, "%s: %s", x->cfg->data_dir, strerror(errno));
    snprintf(keys_dir, sizeof keys_dir, "%s/keys", data);
    snprintf(db, sizeof db, "%s/herald.db", data);
    hd_store *st = NULL;
    int rc = hd_store_open(db, true, &st, err);
    if (!rc) {
        hd_domain_add_opts o = {.domain = domain, .bounce_domain = bounce[0] ? bounce : NULL,
                                .now = m->now};
        rc = hd_domain_add(st, keys_dir, &o, err);
    }
    hd_store_close(st);
    if (rc)
        return rc;
    hd_err lerr = {0};
    if (load_keys(x, text, size, &lerr) != 0)
        hd_log_msg(&x->log, HD_LOG_ERROR, "signer: reading the keys after adding %s: %s",
                   domain, hd_err_str(&lerr));
    snprintf(text, size, "domain %s added", domain);
    hd_log_msg(&x->log, HD_LOG_INFO, "signer: domain %s added, its keys made", domain);
    return 0;
}

/* One packet in, one answer out; false when the server is gone. */
static bool serve_packet(sctx *x, unsigned i, int fd, uint8_t *buf, hd_buf *ans)
{
    ssize_t n = recv(fd, buf, PACKET_MAX + 1, 0);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0) {
        /* the end, or an empty packet (SOCK_SEQPACKET has those) */
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 0) > 0 && (pf.revents & POLLHUP))
            return false;
    }
    hd_buf_reset(ans);
    hd_signproto_msg m;
    size_t used = 0;
    hd_err why = {0};
    int rc = hd_signproto_decode(hd_slice_make(buf, (size_t)n), &m, &used, &why);
    if (n == 0)
        rc = hd_err_set(&why, HD_ESYNTAX, "an empty packet");
    else if (!rc && used != (size_t)n)
        rc = used == 0 ? hd_err_set(&why, HD_ESYNTAX, "a frame cut short: %zd bytes", n)
                       : hd_err_set(&why, HD_ESYNTAX, "%zd bytes after a frame of %zu", n - (ssize_t)used, used);
    bool control = i == x->n;
    if (!rc && control && m.type == HD_SIGNPROTO_RELOAD) {
        char summary[128];
        rc = load_keys(x, summary, sizeof summary, &why);
        hd_log_msg(&x->log, rc ? HD_LOG_ERROR : HD_LOG_INFO, "signer: reload: %s",
                   rc ? hd_err_str(&why) : summary);
        hd_signproto_put_answer(ans, m.id, rc ? HD_SIGNPROTO_FAILED : HD_SIGNPROTO_OK, rc,
                                hd_slice_cstr(rc ? hd_err_str(&why) : summary));
    } else if (!rc && control && m.type == HD_SIGNPROTO_ADD_DOMAIN) {
        char text[128];
        rc = add_domain(x, &m, text, sizeof text, &why);
        const char *body = rc ? hd_err_str(&why) : text;
        /* an invalid or taken name is the asker's; anything else (the disk,
         * the database) a failure to try again */
        hd_signproto_status st = !rc ? HD_SIGNPROTO_OK
                                 : rc == HD_EINVAL || rc == HD_ESTATE ? HD_SIGNPROTO_REFUSED
                                                                      : HD_SIGNPROTO_FAILED;
        hd_signproto_put_answer(ans, m.id, st, rc,
                                hd_slice_make(body, strnlen(body, HD_SIGNPROTO_TEXT_MAX)));
    } else if (!rc && !control && m.type == HD_SIGNPROTO_SIGN) {
        pthread_mutex_lock(&x->locks[i]);
        rc = hd_signproto_serve(x->tables[i], &m, ans, &why);
        pthread_mutex_unlock(&x->locks[i]);
        if (rc)
            log_refusal(x, i, rc == HD_ENOTFOUND ? "unknown-key" : "bad-request", hd_err_str(&why));
    } else {
        if (!rc)
            hd_err_set(&why, HD_EINVAL, "a frame of type %d on a %s channel", (int)m.type,
                       control ? "control" : "signing");
        log_refusal(x, i, "bad-frame", hd_err_str(&why));
        const char *text = hd_err_str(&why);
        hd_signproto_put_answer(ans, m.id, HD_SIGNPROTO_REFUSED, why.code ? why.code : HD_EINVAL,
                                hd_slice_make(text, strnlen(text, HD_SIGNPROTO_TEXT_MAX)));
    }
    if (ans->len && send(fd, ans->p, ans->len, MSG_NOSIGNAL) < 0 && errno == EPIPE)
        return false;
    return true;
}

static void *channel_thread(void *arg)
{
    worker_ctx *w = arg;
    int cpu = cpu_of(w->i);
    if (cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    }
    uint8_t buf[PACKET_MAX + 1];
    hd_buf ans;
    hd_buf_init(&ans, PACKET_MAX);
    while (serve_packet(w->x, w->i, w->fd, buf, &ans))
        ;
    /* the server is gone: so is the reason to hold keys */
    _exit(0);
    return NULL;
}

static void signer_main(const hd_config *cfg, const hd_log *log, int *fds, unsigned n,
                        pid_t keeper)
{
    prctl(PR_SET_NAME, "herald-signer");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_DUMPABLE, 0);   /* no core file, no ptrace by the dropped server */
    if (getppid() != keeper)
        _exit(0);
    sctx x = {.cfg = cfg, .log = *log, .n = n, .fds = fds};
    x.tables = calloc(n, sizeof *x.tables);
    x.locks = calloc(n, sizeof *x.locks);
    x.limiter = hd_ratelimit_new(256, 60000);
    pthread_mutex_init(&x.limit_lock, NULL);
    if (!x.tables || !x.locks)
        _exit(71);
    hd_err err = {0};
    for (unsigned t = 0; t < n; t++) {
        pthread_mutex_init(&x.locks[t], NULL);
        if (hd_signproto_keys_new(&x.tables[t], &err) != 0)
            _exit(71);
    }
    char summary[128];
    if (load_keys(&x, summary, sizeof summary, &err) != 0)
        hd_log_msg(&x.log, HD_LOG_ERROR, "signer: %s", hd_err_str(&err));
    else
        hd_log_msg(&x.log, HD_LOG_INFO, "signer (pid %ld): %s", (long)getpid(), summary);
    for (unsigned t = 0; t < n; t++) {
        worker_ctx *w = malloc(sizeof *w);
        pthread_t th;
        if (!w)
            _exit(71);
        *w = (worker_ctx){&x, t, fds[t]};
        if (pthread_create(&th, NULL, channel_thread, w) != 0)
            _exit(71);
        pthread_detach(th);
    }
    uint8_t buf[PACKET_MAX + 1];
    hd_buf ans;
    hd_buf_init(&ans, PACKET_MAX);
    while (serve_packet(&x, n, fds[n], buf, &ans))
        ;
    _exit(0);
}

/* ---- the keeper ---- */

static pid_t spawn_signer(const hd_config *cfg, const hd_log *log, int *fds, unsigned n,
                          int life_fd, int news_fd)
{
    pid_t keeper = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(life_fd);
        close(news_fd);
        signer_main(cfg, log, fds, n, keeper);
    }
    return pid;
}

static void keeper_main(const hd_config *cfg, const hd_log *log, int *fds, unsigned n,
                        int life_fd, int news_fd, pid_t server)
{
    prctl(PR_SET_NAME, "herald-keeper");
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_DUMPABLE, 0);
    if (getppid() != server)
        _exit(0);   /* the server died before the death signal was set */
    time_t started = time(NULL);
    pid_t pid = spawn_signer(cfg, log, fds, n, life_fd, news_fd);
    for (;;) {
        int st = 0;
        if (pid > 0) {
            int32_t p = pid;
            if (write(news_fd, &p, sizeof p) != (ssize_t)sizeof p)
                break;
        } else {
            hd_log_msg(log, HD_LOG_ERROR, "signer: cannot fork: %s", strerror(errno));
        }
        for (;;) {
            struct pollfd pf = {life_fd, POLLIN, 0};
            if (poll(&pf, 1, POLL_SLICE_MS) > 0 && pf.revents) {
                if (pid > 0) {
                    kill(pid, SIGKILL);
                    waitpid(pid, NULL, 0);
                }
                _exit(0);   /* the server closed its end: it is stopping */
            }
            if (pid <= 0 || waitpid(pid, &st, WNOHANG) == pid)
                break;
        }
        if (pid > 0) {
            char how[64];
            if (WIFSIGNALED(st))
                snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(st));
            else
                snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
            hd_log_msg(log, HD_LOG_ERROR, "signer (pid %ld) %s: starting another; the "
                       "signatures it had in hand fail as temporary (451)", (long)pid, how);
        }
        if (time(NULL) - started < RESTART_PAUSE_S)
            sleep(RESTART_PAUSE_S);     /* dying at once: not a tight loop */
        started = time(NULL);
        pid = spawn_signer(cfg, log, fds, n, life_fd, news_fd);
    }
    if (pid > 0)
        kill(pid, SIGKILL);
    _exit(0);
}

int signer_start(const hd_config *cfg, unsigned channels, const hd_log *log, signer **out,
                 hd_err *err)
{
    *out = NULL;
    signer *s = calloc(1, sizeof *s);
    int *far = calloc(channels + 1, sizeof *far);
    if (!s || !far || !(s->ch = calloc(channels, sizeof *s->ch))) {
        free(s ? s->ch : NULL);
        free(s);
        free(far);
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    s->n = channels;
    s->log = *log;
    s->ctl.fd = s->life_fd = s->news_fd = -1;
    for (unsigned i = 0; i < channels; i++) {
        s->ch[i].fd = -1;
        s->ch[i].cpu = cpu_of(i);
    }
    for (unsigned i = 0; i <= channels; i++)
        far[i] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->freed, NULL);
    pthread_mutex_init(&s->news_lock, NULL);
    pthread_mutex_init(&s->ctl_lock, NULL);
    int life[2] = {-1, -1}, news[2] = {-1, -1};
    int rc = 0;
    for (unsigned i = 0; !rc && i <= channels; i++) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
            rc = hd_err_set(err, HD_EIO, "signer channel: %s", strerror(errno));
            break;
        }
        /* the server's end: a wait for an answer looks up every slice */
        struct timeval slice = {0, POLL_SLICE_MS * 1000};
        setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &slice, sizeof slice);
        if (i < channels)
            s->ch[i].fd = sp[0];
        else
            s->ctl.fd = sp[0];
        far[i] = sp[1];
    }
    if (!rc && (pipe2(life, O_CLOEXEC) != 0 || pipe2(news, O_CLOEXEC) != 0))
        rc = hd_err_set(err, HD_EIO, "signer pipes: %s", strerror(errno));
    pid_t server = getpid();
    pid_t pid = rc ? -1 : fork();
    if (pid == 0) {
        close(life[1]);
        close(news[0]);
        for (unsigned i = 0; i < channels; i++)
            close(s->ch[i].fd);
        close(s->ctl.fd);
        signal(SIGINT, SIG_IGN);    /* the server stops it when it stops */
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        keeper_main(cfg, log, far, channels, life[0], news[1], server);
    }
    if (!rc && pid < 0)
        rc = hd_err_set(err, HD_EIO, "cannot fork the signer: %s", strerror(errno));
    for (unsigned i = 0; i <= channels; i++)
        if (far[i] >= 0)
            close(far[i]);
    free(far);
    if (life[0] >= 0)
        close(life[0]);
    if (news[1] >= 0)
        close(news[1]);
    s->life_fd = life[1];
    s->news_fd = news[0];
    s->keeper = pid;
    if (rc) {
        s->n = 0;
        signer_stop(s);
        return rc;
    }
    /* the first signer's pid; then the news are read without waiting */
    int32_t first = 0;
    if (read(s->news_fd, &first, sizeof first) != (ssize_t)sizeof first) {
        signer_stop(s);
        return hd_err_set(err, HD_EIO, "the signer did not start");
    }
    atomic_store(&s->pid, first);
    atomic_store(&s->generation, 1);
    fcntl(s->news_fd, F_SETFL, fcntl(s->news_fd, F_GETFL) | O_NONBLOCK);
    *out = s;
    return 0;
}

/* ---- privileges ---- */

/* Keep CAP_NET_BIND_SERVICE alone, so listeners on ports below 1024 can
 * still be bound after the drop (they are bound later, at start). */
static int keep_bind_capability(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = 1u << CAP_NET_BIND_SERVICE;
    return (int)syscall(SYS_capset, &h, d);
}

int signer_drop_privileges(const char *user, hd_log *log, hd_err *err)
{
    if (geteuid() != 0)
        return 0;
    if (user == NULL) {
        hd_log_msg(log, HD_LOG_INFO, "running as root with no `user` set: the network "
                   "process keeps root (the keys are in the signer either way)");
        return 0;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return hd_err_set(err, HD_EINVAL, "user %s: no such user", user);
    if (pw->pw_uid == 0)
        return hd_err_set(err, HD_EINVAL, "user %s: is root; name an unprivileged user", user);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (initgroups(user, gid) != 0 || setresgid(gid, gid, gid) != 0 ||
        prctl(PR_SET_KEEPCAPS, 1) != 0 || setresuid(uid, uid, uid) != 0)
        return hd_err_set(err, HD_EPERM, "cannot become user %s: %s", user, strerror(errno));
    int keep = keep_bind_capability();
    prctl(PR_SET_KEEPCAPS, 0);
    if (keep != 0)
        hd_log_msg(log, HD_LOG_WARN, "user %s: cannot keep the right to bind ports below 1024: "
                   "%s", user, strerror(errno));
    if (setresuid(0, 0, 0) == 0)
        return hd_err_set(err, HD_EPERM, "user %s: root could be taken back", user);
    hd_log_msg(log, HD_LOG_INFO, "network process running as %s (uid %ld); the DKIM keys are "
               "read by the signer only", user, (long)uid);
    return 0;
}
