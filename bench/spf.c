/*
 * spf.c - SPF evaluation throughput with a warm DNS cache, one core.
 *
 * usage: bench_spf ZONE SENDER_DOMAIN IPS_FILE [SECONDS [RESULTS_FILE]]
 *
 * Loads ZONE with the zone-fixture back end, reads one client IP a line
 * from IPS_FILE (bench/spf/gen-workload.py), makes one hd_dns_cache and one
 * hd_spf_records (parsed records) shared
 * by every evaluation, then checks MAIL FROM bounce@SENDER_DOMAIN for each
 * IP: one hd_spf per evaluation (hd_spf_new, hd_spf_run against the zone,
 * so a question the cache cannot answer still gets its answer, and
 * hd_spf_free). A first pass over all the IPs warms the cache (and writes
 * "ip result" lines to RESULTS_FILE when given); then timed passes run for
 * about SECONDS (default 3). Prints
 *   RESULT herald spf <evals/s> evals/s
 * the pass/fail counts of the warm-up pass, the mean time per evaluation,
 * and the process's max RSS (getrusage) before and after the timed
 * passes: equal when memory does not grow with the number of evaluations.
 * A second timed run also formats each verdict's Received-SPF field
 * (hd_spf_received_spf), as libspf2's spfquery prints one per query:
 *   RESULT herald spf+received-spf <evals/s> evals/s
 */
#include <herald/dns.h>
#include <herald/spf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* One IP a line (the first word of each line). */
static char **load_ips(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 1024;
    char **ips = malloc(cap * sizeof *ips);
    char line[256];
    *n = 0;
    while (ips != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (*n == cap) {
            char **more = realloc(ips, (cap *= 2) * sizeof *ips);
            if (more == NULL)
                break;
            ips = more;
        }
        ips[(*n)++] = strdup(line);
    }
    fclose(f);
    return ips;
}

/* One evaluation; exits on an error the workload should never cause. */
static hd_spf_result eval(const char *ip, const char *sender, int64_t now, const hd_spf_opts *opts,
                          hd_dns *dns, hd_buf *header)
{
    hd_spf_request req = {.ip = ip, .sender = sender, .helo = "mail.client.test", .now = now};
    hd_spf *spf = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_spf_new(&req, opts, &spf, &err) != 0 || hd_spf_run(spf, dns, &err) != 0) {
        fprintf(stderr, "bench_spf: %s: %s\n", ip, err.msg);
        exit(1);
    }
    hd_spf_result r = hd_spf_get_verdict(spf)->result;
    if (header != NULL) {
        hd_buf_reset(header);
        if (hd_spf_received_spf(spf, header) != 0) {
            fprintf(stderr, "bench_spf: %s: cannot format Received-SPF\n", ip);
            exit(1);
        }
    }
    hd_spf_free(spf);
    return r;
}

/* Evaluations round-robin over the IPs for about secs (the clock is read
 * every 1000); returns evaluations/s. */
static double timed(char **ips, size_t n, const char *sender, int64_t now, const hd_spf_opts *opts,
                    hd_dns *dns, hd_buf *header, double secs, size_t *evals, double *used)
{
    size_t i = 0;
    double t0 = now_s(), t1;
    *evals = 0;
    do {
        for (size_t k = 0; k < 1000; k++) {
            (void)eval(ips[i], sender, now, opts, dns, header);
            if (++i == n)
                i = 0;
        }
        *evals += 1000;
        t1 = now_s();
    } while (t1 - t0 < secs);
    *used = t1 - t0;
    return (double)*evals / *used;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_spf ZONE SENDER_DOMAIN IPS_FILE [SECONDS [RESULTS_FILE]]\n");
        return 64;
    }
    double secs = argc > 4 ? atof(argv[4]) : 3.0;
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_file(&dns, argv[1], &err) != 0) {
        fprintf(stderr, "bench_spf: %s\n", err.msg);
        return 66;
    }
    char sender[300];
    snprintf(sender, sizeof sender, "bounce@%s", argv[2]);
    size_t n = 0;
    char **ips = load_ips(argv[3], &n);
    if (ips == NULL || n == 0) {
        fprintf(stderr, "bench_spf: no client IPs in %s\n", argv[3]);
        return 66;
    }
    FILE *res = NULL;
    if (argc > 5 && (res = fopen(argv[5], "w")) == NULL) {
        perror(argv[5]);
        return 73;
    }

    hd_dns_cache *cache = hd_dns_cache_new(4096, 3600, 300);
    hd_spf_records *records = hd_spf_records_new(1024);
    hd_spf_opts opts = {.cache = cache, .records = records};
    int64_t now = (int64_t)time(NULL);

    /* Warm-up pass: fills the cache, counts the results. */
    size_t count[HD_SPF_PERMERROR + 1] = {0};
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        hd_spf_result r = eval(ips[i], sender, now, &opts, dns, NULL);
        count[r]++;
        if (res != NULL)
            fprintf(res, "%s %s\n", ips[i], hd_spf_result_name(r));
    }
    double warm = now_s() - t0;
    if (res != NULL)
        fclose(res);
    printf("clients %zu: pass %zu, fail %zu, softfail %zu, neutral %zu, none %zu, temperror %zu, "
           "permerror %zu (warm-up pass, %.2f s)\n",
           n, count[HD_SPF_PASS], count[HD_SPF_FAIL], count[HD_SPF_SOFTFAIL], count[HD_SPF_NEUTRAL],
           count[HD_SPF_NONE], count[HD_SPF_TEMPERROR], count[HD_SPF_PERMERROR], warm);

    /* Timed passes over the same IPs, cache warm. */
    long rss_before = max_rss_kb();
    size_t evals = 0;
    double used = 0;
    double rate = timed(ips, n, sender, now, &opts, dns, NULL, secs, &evals, &used);
    long rss_after = max_rss_kb();
    printf("timed: %zu evaluations (%.2f passes) in %.2f s, %.2f us/eval\n", evals, (double)evals / (double)n,
           used, 1e6 * used / (double)evals);
    printf("max RSS: %ld KB before the timed passes, %ld KB after\n", rss_before, rss_after);
    printf("RESULT herald spf %.1f evals/s\n", rate);
    fflush(stdout);

    hd_buf header;
    hd_buf_init(&header, 4096);
    double rate_h = timed(ips, n, sender, now, &opts, dns, &header, secs, &evals, &used);
    long rss_end = max_rss_kb();
    printf("timed with Received-SPF: %zu evaluations in %.2f s, %.2f us/eval\n", evals, used,
           1e6 * used / (double)evals);
    printf("RESULT herald spf+received-spf %.1f evals/s\n", rate_h);
    printf("RESULT herald rss-before %ld KB\n", rss_before);
    printf("RESULT herald rss-after %ld KB\n", rss_end);
    hd_buf_free(&header);

    for (size_t k = 0; k < n; k++)
        free(ips[k]);
    free(ips);
    hd_dns_cache_free(cache);
    hd_spf_records_free(records);
    hd_dns_free(dns);
    return 0;
}
