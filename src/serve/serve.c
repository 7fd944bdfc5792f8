/*
 * serve.c - `herald serve`: start the parts in order, run the loop, stop
 * them in reverse order.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/rand.h>

#include <herald/domain.h>
#include "net/tls.h"
#include "serve/engine.h"
#include "serve/delivery.h"
#include "serve/feedback.h"
#include "serve/intake.h"
#include "serve/serve.h"
#include "serve/status.h"

/* ---- files ---- */

static int make_dir(const char *path, hd_err *err)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

/* The VERP HMAC key: 32 random bytes in data_dir/verp.key (0600), made
 * once. Every bounce address of the mail sent is signed with it, so a new
 * key makes the server refuse at RCPT the bounces of all mail sent before
 * (they are lost): a missing key beside a database holding messages is
 * refused unless the operator says so (serve_options.new_verp_key). A key
 * others can read lets them forge bounces and complaints about any
 * recipient: refused, as ssh refuses a private key others can read. */
static int verp_key_read(serve *sv, int fd, const char *path, hd_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    if (st.st_mode & 0077)
        return hd_err_set(err, HD_EPERM,
                          "%s: others may read or change the VERP key (mode %04o): chmod 600 it; "
                          "whoever read it can forge bounces and complaints",
                          path, (unsigned)(st.st_mode & 07777));
    ssize_t n = read(fd, sv->verp_key, sizeof sv->verp_key);
    if (n != (ssize_t)sizeof sv->verp_key)
        return hd_err_set(err, HD_EIO, "%s: expected %zu bytes", path, sizeof sv->verp_key);
    return 0;
}

/* Written whole or not at all: a temporary file, synced, renamed into
 * place, the directory synced; a key cut short by a full disk would stop
 * every later start. */
static int verp_key_write(serve *sv, const char *path, hd_err *err)
{
    char tmp[4096 + 8];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, sv->verp_key, sizeof sv->verp_key) == (ssize_t)sizeof sv->verp_key &&
              fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(e));
    }
    int dir = open(sv->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    return 0;
}

static int verp_key(serve *sv, const serve_options *opt, hd_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/verp.key", sv->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        int rc = verp_key_read(sv, fd, path, err);
        close(fd);
        return rc;
    }
    if (errno != ENOENT)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    int64_t n_messages = 0;
    int rc = hd_store_message_count(sv->store, &n_messages, err);
    if (rc)
        return rc;
    bool sent = n_messages > 0;
    if (sent && !(opt && opt->new_verp_key))
        return hd_err_set(err, HD_ESTATE,
                          "%s is missing but the database holds messages whose bounce addresses "
                          "it signed: restore it from a backup of the data directory, or start "
                          "once with `herald serve --new-verp-key` (bounces to mail sent "
                          "before are then refused)", path);
    if (RAND_bytes(sv->verp_key, sizeof sv->verp_key) != 1)
        return hd_err_set(err, HD_ECRYPTO, "no randomness for the VERP key");
    if ((rc = verp_key_write(sv, path, err)) != 0)
        return rc;
    if (sent)
        LOG_WARN("%s: a new VERP key (--new-verp-key): bounces to mail sent before are refused",
                 path);
    return 0;
}

/* One server per data directory: a second one would collect the first
 * one's current spool segment as unused and deliver its queue twice. The
 * lock is an flock on the directory itself, held for the life of the
 * process (Postfix's master.lock is a file, which `rm` would defeat: a
 * removed lock file is a new file with no lock on it). data_dir/lock
 * holds the pid, for the refusal's message only. */
static int lock_data_dir(serve *sv, hd_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", sv->data_dir);
    sv->lock_fd = open(sv->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sv->lock_fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", sv->data_dir, strerror(errno));
    if (flock(sv->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) { /* not another server: a file system without locks */
            close(sv->lock_fd);
            sv->lock_fd = -1;
            return hd_err_set(err, HD_EIO, "%s: cannot lock the data directory: %s",
                              sv->data_dir, strerror(e));
        }
        char pid[32] = "";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, pid, sizeof pid - 1) : -1;
        if (fd >= 0)
            close(fd);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(sv->lock_fd);
        sv->lock_fd = -1;
        return hd_err_set(err, HD_EINVAL, "%s: another herald serve (pid %s) is using this data directory",
                          sv->data_dir, pid[0] ? pid : "unknown: its lock file was removed");
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, pid, (size_t)len) != len) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

static int tls_start(serve *sv, hd_err *err)
{
    char *cert = NULL, *key = NULL;
    int rc = 0;
    if (sv->cfg->smtp.tls_cert) {
        cert = strdup(sv->cfg->smtp.tls_cert);
        key = strdup(sv->cfg->smtp.tls_key ? sv->cfg->smtp.tls_key : sv->cfg->smtp.tls_cert);
    } else {
        rc = net_tls_self_signed(sv->data_dir, sv->cfg->hostname, &cert, &key, err);
    }
    if (!rc && !(sv->tls_server = net_tls_server_ctx(cert, key, err)))
        rc = err->code;
    free(cert);
    free(key);
    if (rc)
        return rc;
    hd_config_tls_policy p = sv->cfg->delivery.tls;
    if (p != HD_TLS_POLICY_NONE &&
        !(sv->tls_client = net_tls_client_ctx(p >= HD_TLS_POLICY_VERIFY, err)))
        return err->code;
    return 0;
}

/* ---- signals and housekeeping ---- */

static struct event *sig_term, *sig_int, *sig_hup, *housekeeping;

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    serve *sv = arg;
    LOG_INFO("signal %d: stopping; the queue is kept on disk", (int)sig);
    serve_notify("STOPPING=1\nSTATUS=stopping; the queue is kept on disk");
    sv->stopping = true;
    event_base_loopexit(sv->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    hd_err err = {0};
    serve_reload(arg, "SIGHUP", &err);
}

static void on_housekeeping(evutil_socket_t fd, short what, void *arg)
{
    serve *sv = arg;
    hd_err err = {0};
    commit_op_post(sv, commit_op_prune(serve_now() - (int64_t)sv->cfg->queue.retention));
    int n = hd_domain_retire_due(sv->store, serve_now(), &err);
    if (n > 0)
        LOG_INFO("%d retiring DKIM key%s now retired (may leave DNS)", n, n == 1 ? "" : "s");
}

/* The CPUs this process may run on (a cpuset or taskset narrows them). */
static unsigned cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 256 ? (unsigned)n : 2;
}

/* Workers (signing, storing, the API): [queue] signing_threads, else one
 * per CPU. */
static unsigned signing_threads(const hd_config *cfg)
{
    return cfg->queue.signing_threads ? cfg->queue.signing_threads : cpu_count();
}

/* Password checks: half the CPUs, one to four (each scrypt check holds
 * its memory), so that guessing leaves the rest to signing and the API. */
static unsigned auth_threads(void)
{
    unsigned n = cpu_count() / 2;
    return n < 1 ? 1 : n > 4 ? 4 : n;
}

/* Descriptors the configured caps may hold at once: every session of both
 * SMTP listeners, every outgoing connection, the database connections of
 * the threads (the file, its WAL and shared memory: 3 each, for the
 * workers, the password checks, the committer and the main thread), the
 * HTTP listeners' connection caps, and a reserve for DNS, the spool,
 * webhooks and the refused connections waiting for their 421 (intake_listen.c:
 * at most 64 a listener). */
static rlim_t fd_need(const hd_config *cfg)
{
    rlim_t threads = (rlim_t)signing_threads(cfg) + auth_threads() + 2;
    return (rlim_t)cfg->smtp.max_sessions + cfg->inbound.max_sessions +
           cfg->delivery.max_connections + 3 * threads + cfg->api.max_connections +
           cfg->status.max_connections + 192;
}

/* Whether the caps fit under the hard RLIMIT_NOFILE (the soft one is
 * raised to it at start): else a configuration error with the numbers,
 * since sessions past the limit would fail at accept() instead. */
int serve_fd_check(const hd_config *cfg, hd_err *err)
{
    struct rlimit rl;
    rlim_t need = fd_need(cfg);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need)
        return 0;
    return hd_config_error(
        cfg, err, HD_EINVAL, "smtp", NULL, "max_sessions",
        "the caps need about %llu open files but the hard limit is %llu (sessions %u + inbound %u "
        "+ delivery %u + api %u + status %u + %llu more): raise LimitNOFILE= or ulimit -Hn, "
        "or lower the caps",
        (unsigned long long)need, (unsigned long long)rl.rlim_max, cfg->smtp.max_sessions,
        cfg->inbound.max_sessions, cfg->delivery.max_connections, cfg->api.max_connections,
        cfg->status.max_connections,
        (unsigned long long)(need - cfg->smtp.max_sessions - cfg->inbound.max_sessions -
                             cfg->delivery.max_connections - cfg->api.max_connections -
                             cfg->status.max_connections));
}

/* Raise the soft RLIMIT_NOFILE to the hard limit (systemd gives a service
 * 1024 soft, 524288 hard: the soft limit is there for programs that use
 * select(), which herald does not), so that the caps serve_fd_check saw
 * fit are usable; and say so if the caps still do not fit. */
static void fd_budget(const hd_config *cfg)
{
    struct rlimit rl;
    rlim_t need = fd_need(cfg);
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? (need > rl.rlim_cur ? need : rl.rlim_cur)
                                               : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need)
        LOG_WARN("open files limited to %llu, but the session and connection caps need about "
                 "%llu: raise the limit (ulimit -n, or LimitNOFILE= in the systemd unit) or "
                 "lower max_sessions / max_connections",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* The log as configured: level, text or json, and the journal's shape when
 * stderr is systemd's journal (systemd.exec(5), $JOURNAL_STREAM). */
void serve_log_warning(const char *text)
{
    LOG_WARN("%s", text);
}

void serve_log_init(const hd_config *cfg)
{
    hd_log_level level = HD_LOG_INFO;
    hd_log_level_parse(cfg->log_level, &level);
    hd_log_init(&serve_log, "herald", level);
    serve_log.format = cfg->log.format;
    serve_log.clock = serve_now_ms;
    struct stat st;
    const char *js = getenv("JOURNAL_STREAM");
    serve_log.journal = js != NULL && fstat(STDERR_FILENO, &st) == 0 &&
                        hd_log_journal_stream(js, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
}

/* The database, checked: a damaged file is refused at start, not found
 * by the first write that reaches the bad page. */
static int open_store(serve *sv, const char *path, hd_err *err)
{
    int rc = hd_store_open(path, sv->cfg->queue.durable, &sv->store, err);
    if (rc == 0)
        rc = hd_store_quick_check(sv->store, err);
    char why[HD_ERR_MSG_MAX];
    snprintf(why, sizeof why, "%s", hd_err_str(err));
    if (rc == 0 || (!strstr(why, "malformed") && !strstr(why, "damaged")))
        return rc;
    /* the whole advice in the log; the error (cut at HD_ERR_MSG_MAX) the gist */
    LOG_ERR("%s: %s; herald does not start on a damaged database: keep a copy of the data "
            "directory, then restore the database or rebuild it (docs/operations.md, \"A damaged "
            "or lost database\")", path, why);
    return hd_err_set(err, HD_ESTATE, "not starting: %s is damaged (docs/operations.md): %s",
                      path, why);
}

static void serve_stop(serve *sv)
{
    sv->stopping = true;
    status_stop(sv);
    api_close_listener(sv);
    intake_close_listeners(sv);
    work_stop(sv);       /* finishes the jobs in hand (they may use sessions) */
    commit_stop(sv);     /* writes what was handed to it (and posts back) */
    work_free(sv);
    serve_post_free(sv); /* only now can the post queue go */
    webhook_stop(sv);    /* after the committer: its answers are in */
    intake_stop(sv);     /* then the sessions can go */
    api_stop(sv);        /* and the API's requests */
    accept_free(sv);
    deliver_stop(sv);
    queue_free(sv);
    metrics_free(sv);
    domains_check_stop(sv);
    if (sv->domains)
        domains_put(sv->domains);
    serve_dns_stop(sv);
    hd_report_rules_free(sv->bounce_rules);
    /* a clean stop: the current segment goes when no live message holds
     * it, so that its delivered mail is not found unknown (pruned, or a
     * lost release) at the next start and moved to orphan/ */
    if (sv->spool)
        hd_spool_retire_current(sv->spool);
    hd_spool_close(sv->spool);
    hd_store_close(sv->store);
    SSL_CTX_free(sv->tls_server);
    SSL_CTX_free(sv->tls_client);
    OPENSSL_cleanse(sv->verp_key, sizeof sv->verp_key);
    struct event *evs[] = {sig_term, sig_int, sig_hup, housekeeping};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        if (evs[i])
            event_free(evs[i]);
    if (sv->base)
        event_base_free(sv->base);
    if (sv->lock_fd >= 0)
        close(sv->lock_fd);   /* releases the data directory */
    free(sv->data_dir);
}

int serve_run(hd_config *cfg, const serve_options *opt, hd_err *err)
{
    serve sv_storage = {0}, *sv = &sv_storage;
    sv->cfg = cfg;
    serve_log_init(cfg);
    signal(SIGPIPE, SIG_IGN);
    fd_budget(cfg);
    srand((unsigned)serve_now_ms() ^ (unsigned)getpid());

    char path[4096];
    int rc = 0;
    sv->data_dir = strdup(cfg->data_dir);
    if (!sv->data_dir)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/herald.db", sv->data_dir);
    sv->lock_fd = -1;
    if ((rc = make_dir(sv->data_dir, err)) || (rc = lock_data_dir(sv, err)) ||
        (rc = open_store(sv, path, err)) || (rc = verp_key(sv, opt, err)) ||
        (rc = serve_hard_reasons(cfg, &sv->hard_reasons, err)) ||
        (rc = serve_load_bounce_rules(cfg, &sv->bounce_rules, err)))
        goto out;
    snprintf(path, sizeof path, "%s/spool", sv->data_dir);
    uint32_t seg_floor = 0;     /* new segments above every number the database means */
    if ((rc = hd_store_segment_highest(sv->store, &seg_floor, err)) ||
        (rc = hd_spool_open(path, 0, seg_floor, &sv->spool, err)) || (rc = tls_start(sv, err)))
        goto out;
    if (evthread_use_pthreads() != 0 || !(sv->base = event_base_new())) {
        rc = hd_err_set(err, HD_EIO, "cannot set up the event loop");
        goto out;
    }
    unsigned nworkers = signing_threads(cfg), nauth = auth_threads();
    if ((rc = serve_post_start(sv, err)) || (rc = serve_dns_start(sv, err)) ||
        (rc = work_start(sv, nworkers, nauth, err)) ||
        (rc = commit_start(sv, err)) || (rc = domains_load(sv, err)) ||
        (rc = queue_load(sv, err)) || (rc = accept_init(sv, err)) ||
        (rc = intake_start(sv, err)) || (rc = status_start(sv, err)) || (rc = api_start(sv, err)) ||
        (rc = webhook_start(sv, err)))
        goto out;

    sig_term = evsignal_new(sv->base, SIGTERM, on_stop, sv);
    sig_int = evsignal_new(sv->base, SIGINT, on_stop, sv);
    sig_hup = evsignal_new(sv->base, SIGHUP, on_hup, sv);
    housekeeping = event_new(sv->base, -1, EV_PERSIST, on_housekeeping, sv);
    struct timeval hour = {3600, 0};
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    evsignal_add(sig_hup, NULL);
    event_add(housekeeping, &hour);
    on_housekeeping(-1, 0, sv);
    serve_warn_trusted_tenants(sv);
    LOG_INFO("herald serving from %s with %u worker%s; sandbox delivery for %s", sv->data_dir,
             nworkers, nworkers == 1 ? "" : "s",
             cfg->delivery.mode == HD_DELIVERY_SANDBOX ? "every domain without delivery = real"
                                                       : "domains set to delivery = sandbox");
    /* every listener is bound: a client may connect from now on */
    char state[256];
    snprintf(state, sizeof state, "READY=1\nMAINPID=%ld\nSTATUS=serving from %.200s",
             (long)getpid(), sv->data_dir);
    serve_notify(state);
    event_base_dispatch(sv->base);
out:
    serve_stop(sv);
    return rc;
}
