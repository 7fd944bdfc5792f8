/*
 * dns_unbound_test.c - the libunbound back end against a real unbound.
 *
 * The group setup starts `unbound -d` on 127.0.0.1 at a free high port with
 * a throwaway config that answers only from local-data (`local-zone: "."
 * static`, so nothing is ever forwarded off the machine), and the group
 * teardown stops it by PID, also after a failed test; PR_SET_PDEATHSIG
 * stops it should this process die first. A silent server for the timeout
 * test is a UDP socket (and a TCP listener) that this test binds and never
 * reads. unbound is a required test tool: without it the test fails.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <herald/dns.h>
#include <herald/err.h>

struct server {
    char *dir;
    pid_t pid;
    int port;
    char addr[64]; /* "127.0.0.1@PORT" */
};

static const char *unbound_path(void)
{
    static const char *const paths[] = {"/usr/sbin/unbound", "/usr/local/sbin/unbound"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

static int bind_loopback(int type, int port)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    return ntohs(sa.sin_port);
}

/* A port free for both UDP and TCP on 127.0.0.1; with keep, the two
 * sockets stay bound (the TCP one listening) and are returned. */
static int free_port(bool keep, int *udp, int *tcp)
{
    for (int tries = 0; tries < 50; tries++) {
        int u = bind_loopback(SOCK_DGRAM, 0);
        if (u < 0)
            return -1;
        int port = local_port(u);
        int t = bind_loopback(SOCK_STREAM, port);
        if (t >= 0 && port >= 1024) {
            if (keep && listen(t, 4) == 0) {
                *udp = u;
                *tcp = t;
                return port;
            }
            close(u);
            close(t);
            if (!keep)
                return port;
            continue;
        }
        close(u);
        if (t >= 0)
            close(t);
    }
    return -1;
}

#define CONFIG_FMT \
    "server:\n" \
    "    interface: 127.0.0.1\n" \
    "    port: %d\n" \
    "    do-ip6: no\n" \
    "    do-daemonize: no\n" \
    "    username: \"\"\n" \
    "    chroot: \"\"\n" \
    "    directory: \"%s\"\n" \
    "    pidfile: \"%s/unbound.pid\"\n" \
    "    use-syslog: no\n" \
    "    logfile: \"\"\n" \
    "    verbosity: 0\n" \
    "    access-control: 127.0.0.0/8 allow\n" \
    "    module-config: \"iterator\"\n" \
    "    num-threads: 1\n" \
    "    local-zone: \".\" static\n" \
    "    local-zone: \"example.test.\" static\n" \
    "    local-data: \"example.test. 300 IN A 192.0.2.1\"\n" \
    "    local-data: \"example.test. 300 IN AAAA 2001:db8::1\"\n" \
    "    local-data: \"example.test. 300 IN MX 10 mx1.example.test.\"\n" \
    "    local-data: \"example.test. 300 IN MX 20 mx2.example.test.\"\n" \
    "    local-data: 'example.test. 300 IN TXT \"v=spf1 -all\"'\n" \
    "    local-data: 'multi.example.test. 120 IN TXT \"part one \" \"part two\"'\n" \
    "    local-data: \"mx1.example.test. 300 IN A 192.0.2.10\"\n" \
    "    local-data: \"alias.example.test. 300 IN CNAME mx1.example.test.\"\n" \
    "    local-data: \"ttl.example.test. 42 IN A 192.0.2.42\"\n" \
    "    local-data: \"example.test. 300 IN NS ns.example.test.\"\n" \
    "    local-data-ptr: \"192.0.2.1 example.test.\"\n" \
    "    local-data-ptr: \"10.0.0.1 lan.example.test.\"\n" \
    "remote-control:\n" \
     \
    "    control-enable: no\n"

static bool tcp_ready(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void stop_server(struct server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status;
        for (int i = 0; i < 100 && waitpid(s->pid, &status, WNOHANG) == 0; i++)
            sleep_ms(50);
        if (waitpid(s->pid, &status, WNOHANG) == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        }
        s->pid = 0;
    }
    if (s->dir != NULL) {
        tu_rmtree(s->dir);
        free(s->dir);
        s->dir = NULL;
    }
}

static pid_t spawn(const char *prog, const char *conf, const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execl(prog, "unbound", "-d", "-c", conf, (char *)NULL);
    _exit(127);
}

static int setup_server(void **state)
{
    const char *prog = unbound_path();
    if (prog == NULL) {
        /* a required test tool, not an optional one: fail, never skip */
        fprintf(stderr, "unbound is not installed (scripts/install-deps.sh --test installs it)\n");
        return -1;
    }
    struct server *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->dir = tu_mkdtemp();
    s->port = free_port(false, NULL, NULL);
    assert_true(s->port > 0);
    snprintf(s->addr, sizeof s->addr, "127.0.0.1@%d", s->port);
    const char *conf = tu_path(s->dir, "unbound.conf");
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, CONFIG_FMT, s->port, s->dir, s->dir);
    fclose(f);
    char log[4200];
    snprintf(log, sizeof log, "%s/unbound.log", s->dir);
    s->pid = spawn(prog, conf, log);
    *state = s;
    for (int i = 0; i < 200; i++) { /* up to 10 s */
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            uint8_t *text = tu_read_file(log, NULL);
            fprintf(stderr, "unbound exited at start:\n%s\n", (const char *)text);
            free(text);
            stop_server(s);
            free(s);
            *state = NULL;
            return -1;
        }
        if (tcp_ready(s->port))
            return 0;
        sleep_ms(50);
    }
    fprintf(stderr, "unbound did not listen on %s\n", s->addr);
    stop_server(s);
    free(s);
    *state = NULL;
    return -1;
}

static int teardown_server(void **state)
{
    struct server *s = *state;
    if (s != NULL) {
        stop_server(s);
        free(s);
    }
    return 0;
}

static hd_dns *resolver(void **state, unsigned timeout_ms)
{
    struct server *s = *state;
    assert_non_null(s);
    hd_dns_config cfg = {.server = s->addr, .timeout_ms = timeout_ms};
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_unbound(&dns, &cfg, &err) != 0)
        fail_msg("hd_dns_new_unbound: %s", err.msg);
    return dns;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The records as "a;b;c", sorted (unbound may rotate RRsets). */
static void render_sorted(const hd_dns_answer *ans, char *out, size_t outlen)
{
    char *items[16];
    size_t n = ans->nrr < 16 ? ans->nrr : 16;
    for (size_t i = 0; i < n; i++) {
        const hd_dns_rr *rr = &ans->rr[i];
        char one[600];
        switch (rr->type) {
        case HD_DNS_T_A: inet_ntop(AF_INET, rr->addr, one, sizeof one); break;
        case HD_DNS_T_AAAA: inet_ntop(AF_INET6, rr->addr, one, sizeof one); break;
        case HD_DNS_T_MX: snprintf(one, sizeof one, "%u %s", rr->preference, rr->name); break;
        case HD_DNS_T_TXT:
            snprintf(one, sizeof one, "[%zu]%s", rr->txt_strings, (const char *)rr->txt);
            break;
        default: snprintf(one, sizeof one, "%s", rr->name); break;
        }
        items[i] = strdup(one);
    }
    qsort(items, n, sizeof items[0], cmp_str);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, len < outlen ? outlen - len : 0, "%s%s",
                                i ? ";" : "", items[i]);
        free(items[i]);
    }
}

struct ub_case {
    const char *name, *qname;
    uint16_t qtype;
    hd_dns_status want;
    const char *rrs;
    const char *canonname;
    long ttl_min, ttl_max; /* -1: not checked */
};

static const struct ub_case ub_cases[] = {
    {"a", "example.test", HD_DNS_T_A, HD_DNS_OK, "192.0.2.1", NULL, 290, 300},
    {"aaaa", "example.test.", HD_DNS_T_AAAA, HD_DNS_OK, "2001:db8::1", NULL, -1, -1},
    {"mx", "example.test", HD_DNS_T_MX, HD_DNS_OK, "10 mx1.example.test;20 mx2.example.test",
     NULL, -1, -1},
    {"txt", "example.test", HD_DNS_T_TXT, HD_DNS_OK, "[1]v=spf1 -all", NULL, -1, -1},
    {"txt of two strings", "Multi.Example.Test", HD_DNS_T_TXT, HD_DNS_OK,
     "[2]part one part two", NULL, 110, 120},
    {"ns", "example.test", HD_DNS_T_NS, HD_DNS_OK, "ns.example.test", NULL, -1, -1},
    {"ptr", "1.2.0.192.in-addr.arpa", HD_DNS_T_PTR, HD_DNS_OK, "example.test", NULL, -1, -1},
    {"rfc 1918 ptr asked of the server", "1.0.0.10.in-addr.arpa", HD_DNS_T_PTR, HD_DNS_OK,
     "lan.example.test", NULL, -1, -1},
    {"cname followed", "alias.example.test", HD_DNS_T_A, HD_DNS_OK, "192.0.2.10",
     "mx1.example.test", -1, -1},
    {"cname asked for", "alias.example.test", HD_DNS_T_CNAME, HD_DNS_OK, "mx1.example.test",
     NULL, -1, -1},
    {"ttl", "ttl.example.test", HD_DNS_T_A, HD_DNS_OK, "192.0.2.42", NULL, 35, 42},
    {"nxdomain", "nosuch.example.test", HD_DNS_T_A, HD_DNS_NXDOMAIN, "", NULL, -1, -1},
    {"nodata", "mx1.example.test", HD_DNS_T_TXT, HD_DNS_NODATA, "", NULL, -1, -1},
};

static void test_records(void **state)
{
    hd_dns *dns = resolver(state, 3000);
    for (size_t i = 0; i < sizeof ub_cases / sizeof ub_cases[0]; i++) {
        const struct ub_case *c = &ub_cases[i];
        hd_dns_answer *ans = NULL;
        hd_err err;
        hd_err_clear(&err);
        if (hd_dns_query(dns, c->qname, c->qtype, &ans, &err) != 0)
            fail_msg("%s: %s", c->name, err.msg);
        char got[2048];
        render_sorted(ans, got, sizeof got);
        if (ans->status != c->want || strcmp(got, c->rrs) != 0)
            fail_msg("%s: got %s \"%s\" (%s), want %s \"%s\"", c->name,
                     hd_dns_status_name(ans->status), got, ans->why,
                     hd_dns_status_name(c->want), c->rrs);
        if ((c->canonname == NULL) != (ans->canonname == NULL) ||
            (c->canonname != NULL && strcmp(c->canonname, ans->canonname) != 0))
            fail_msg("%s: canonname %s, want %s", c->name,
                     ans->canonname ? ans->canonname : "(null)",
                     c->canonname ? c->canonname : "(null)");
        if (c->ttl_min >= 0 && (ans->ttl < c->ttl_min || ans->ttl > c->ttl_max))
            fail_msg("%s: ttl %u, want %ld..%ld", c->name, ans->ttl, c->ttl_min, c->ttl_max);
        int rcode = c->want == HD_DNS_NXDOMAIN ? 3 : 0;
        if (ans->rcode != rcode)
            fail_msg("%s: rcode %d, want %d", c->name, ans->rcode, rcode);
        assert_false(ans->secure); /* no trust anchor */
        hd_dns_answer_free(ans);
    }
    hd_dns_free(dns);
}

struct tally {
    int n;
    hd_dns_status status[8];
};

static void tally_cb(void *arg, hd_dns_answer *ans)
{
    struct tally *t = arg;
    t->status[t->n++] = ans->status;
    hd_dns_answer_free(ans);
}

static void test_async(void **state)
{
    hd_dns *dns = resolver(state, 3000);
    struct tally t = {0};
    assert_true(hd_dns_fd(dns) >= 0);
    assert_int_equal(hd_dns_next_timeout_ms(dns, hd_dns_now_ms()), -1);
    assert_int_equal(hd_dns_submit(dns, "example.test", HD_DNS_T_A, tally_cb, &t, NULL), 0);
    assert_int_equal(hd_dns_submit(dns, "nosuch.example.test", HD_DNS_T_A, tally_cb, &t, NULL),
                     0);
    assert_int_equal(hd_dns_submit(dns, "multi.example.test", HD_DNS_T_TXT, tally_cb, &t, NULL),
                     0);
    assert_int_equal(t.n, 0); /* never from submit */
    assert_int_equal(hd_dns_pending(dns), 3);
    long next = hd_dns_next_timeout_ms(dns, hd_dns_now_ms());
    assert_true(next > 0 && next <= 3000);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_dns_wait(dns, &err), 0);
    assert_int_equal(t.n, 3);
    assert_int_equal(hd_dns_pending(dns), 0);
    int ok = 0, nx = 0;
    for (int i = 0; i < 3; i++) {
        ok += t.status[i] == HD_DNS_OK;
        nx += t.status[i] == HD_DNS_NXDOMAIN;
    }
    assert_int_equal(ok, 2);
    assert_int_equal(nx, 1);
    /* freeing with a question out runs no callback */
    assert_int_equal(hd_dns_submit(dns, "mx1.example.test", HD_DNS_T_AAAA, tally_cb, &t, NULL),
                     0);
    hd_dns_free(dns);
    assert_int_equal(t.n, 3);
}

static void test_silent_server_times_out(void **state)
{
    assert_non_null(*state);
    int udp = -1, tcp = -1;
    int port = free_port(true, &udp, &tcp);
    assert_true(port > 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1@%d", port);
    hd_dns_config cfg = {.server = addr, .timeout_ms = 400};
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_dns_new_unbound(&dns, &cfg, &err), 0);
    uint64_t t0 = hd_dns_now_ms();
    hd_dns_answer *ans = NULL;
    assert_int_equal(hd_dns_query(dns, "example.test", HD_DNS_T_A, &ans, &err), 0);
    uint64_t took = hd_dns_now_ms() - t0;
    assert_int_equal(ans->status, HD_DNS_TIMEOUT);
    char want[128];
    snprintf(want, sizeof want, "no answer from %s within 400 ms", addr);
    assert_string_equal(ans->why, want);
    if (took < 390 || took > 2000)
        fail_msg("timed out after %llu ms, want about 400", (unsigned long long)took);
    hd_dns_answer_free(ans);
    hd_dns_free(dns);
    close(udp);
    close(tcp);
}

static void test_bad_config(void **state)
{
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    hd_dns_config cfg = {.server = "not an address"};
    assert_int_equal(hd_dns_new_unbound(&dns, &cfg, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "bad server \"not an address\""));
    assert_null(dns);
    hd_dns_config ta = {.server = "127.0.0.1@1", .trust_anchor = "/nonexistent/root.key"};
    assert_int_equal(hd_dns_new_unbound(&dns, &ta, &err), HD_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/root.key"));
    assert_null(dns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_async),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, setup_server, teardown_server);
}
