/*
 * verify.c - full verification (SPF + DKIM + ARC + DMARC + the
 * Authentication-Results field) of a corpus, caches warm, one core,
 * beside DKIM verification alone of the same corpus.
 *
 * usage: bench_verify CORPUS_DIR ZONE [SECONDS [ROUNDS [full]]]
 *
 * With "full" last, only the full verdict is timed (for perf record).
 *
 * Reads CORPUS_DIR/msg-*.eml (DKIM-signed, some with ARC sets) and, when
 * present, CORPUS_DIR/facts.txt: one line per message,
 *   FILE IP HELO MAIL-FROM
 * (the SMTP facts SPF needs; "-" as MAIL-FROM is the null reverse-path).
 * Messages missing from it get the fixed pair 192.0.2.25 /
 * bounce@<From domain>. ZONE is herald's zone fixture, served by the
 * fixture resolver (no network).
 *
 * Every verdict shares, across all messages, one hd_dkim_keycache (DKIM
 * and ARC keys), one hd_dns_cache (SPF and DMARC answers) and one
 * hd_spf_records (parsed SPF records); the DKIM and ARC verifiers are
 * made once and reused (each run resets them); an hd_spf and an hd_dmarc
 * are made per message, as their API wants. A first pass over the corpus
 * warms the caches and checks the verdicts (every DKIM signature must
 * pass); then ROUNDS (default 3) rounds each time, for about SECONDS
 * (default 2) apiece and in turn:
 *   dkim      hd_dkim_verify_run only;
 *   dkim+arc  hd_dkim_verify_run + hd_arc_verify_run (the crypto floor of
 *             the full verdict on ARC-sealed mail);
 *   full      the From domain (hd_msg_parse + hd_addr_parse_from, as
 *             `herald verify` does), SPF, DKIM, ARC, DMARC, and the
 *             Authentication-Results field, as src/cli/cmd_verify.c
 *             builds it.
 * Prints per round and then the medians:
 *   RESULT herald verify dkim-only <msg/s> msg/s
 *   RESULT herald verify dkim+arc <msg/s> msg/s
 *   RESULT herald verify full <msg/s> msg/s
 *   RESULT herald verify full/dkim-only <percent> %
 *   RESULT herald verify full/dkim+arc <percent> %
 * and where the full verdict's time goes (per stage, us/msg, measured
 * with the clock around each stage in the full runs).
 */
#include <herald/arc.h>
#include <herald/dkim.h>
#include <herald/dmarc.h>
#include <herald/dns.h>
#include <herald/mail.h>
#include <herald/spf.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MSGS 20000
#define MAX_ROUNDS 15

typedef struct message {
    char name[64];
    hd_slice raw;
    char ip[64], helo[256], mail_from[512];
    bool have_facts;
    bool arc;   /* carries ARC sets */
} message;

typedef struct ctx {
    hd_dns *dns;
    hd_dkim_keycache *keys;
    hd_dns_cache *answers;
    hd_spf_records *records;
    hd_dkim_verifier *dkim;
    hd_arc_verifier *arcv;
    hd_buf ar;
    int64_t now;
} ctx;

enum { ST_FROM, ST_SPF, ST_DKIM, ST_ARC, ST_DMARC, ST_AR, ST_N };
static const char *stage_name[ST_N] = {"From domain", "SPF", "DKIM", "ARC", "DMARC", "AR field"};

typedef struct tally {
    size_t spf_pass, dkim_pass, arc_pass, arc_none, dmarc_pass, dmarc_other;
} tally;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const message *m, const hd_err *err)
{
    fprintf(stderr, "bench_verify: %s%s%s: %s\n", m ? m->name : "", m ? ": " : "", what,
            err ? hd_err_str(err) : "failed");
    exit(1);
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
    return strcmp(((const message *)a)->name, ((const message *)b)->name);
}

static message *load_corpus(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    message *msgs = calloc(MAX_MSGS, sizeof *msgs);
    struct dirent *e;
    *n = 0;
    while (msgs != NULL && (e = readdir(d)) != NULL && *n < MAX_MSGS)
        if (strncmp(e->d_name, "msg-", 4) == 0 && strlen(e->d_name) < sizeof msgs[0].name)
            snprintf(msgs[(*n)++].name, sizeof msgs[0].name, "%s", e->d_name);
    closedir(d);
    if (msgs == NULL)
        return NULL;
    qsort(msgs, *n, sizeof *msgs, by_name);
    for (size_t i = 0; i < *n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, msgs[i].name);
        if (load_file(path, &msgs[i].raw) != 0)
            return NULL;
    }
    /* facts.txt: FILE IP HELO MAIL-FROM */
    char path[4096];
    snprintf(path, sizeof path, "%s/facts.txt", dir);
    FILE *f = fopen(path, "r");
    char line[1024];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char name[64], ip[64], helo[256], mf[512];
        if (line[0] == '#' || sscanf(line, "%63s %63s %255s %511s", name, ip, helo, mf) != 4)
            continue;
        message key;
        snprintf(key.name, sizeof key.name, "%s", name);
        message *m = bsearch(&key, msgs, *n, sizeof *msgs, by_name);
        if (m == NULL)
            continue;
        snprintf(m->ip, sizeof m->ip, "%s", ip);
        snprintf(m->helo, sizeof m->helo, "%s", helo);
        snprintf(m->mail_from, sizeof m->mail_from, "%s", strcmp(mf, "-") == 0 ? "" : mf);
        m->have_facts = true;
    }
    if (f != NULL)
        fclose(f);
    return msgs;
}

/* The From domain, as `herald verify` finds it. */
static bool from_domain(hd_slice raw, char *out, size_t len)
{
    hd_msg *m = NULL;
    hd_err err;
    hd_err_clear(&err);
    out[0] = '\0';
    if (hd_msg_parse(raw, &(hd_msg_limits){.header_only = true}, &m, &err) != 0)
        return false;
    size_t i = hd_msg_find(m, "From", 0);
    bool ok = false, multiple = false;
    hd_addr_list from;
    if (i != (size_t)-1 && hd_addr_parse_from(hd_msg_field(m, i)->value, &from, &multiple, &err) == 0) {
        snprintf(out, len, "%s", from.v[0].domain ? from.v[0].domain : "");
        hd_addr_list_free(&from);
        ok = true;
    }
    hd_msg_free(m);
    return ok;
}

static void dkim_only(ctx *c, const message *m)
{
    hd_err err;
    hd_err_clear(&err);
    if (hd_dkim_verify_run(c->dkim, m->raw, c->dns, &err) != 0)
        die("DKIM", m, &err);
    if (hd_dkim_verify_count(c->dkim) == 0 || hd_dkim_verify_result(c->dkim, 0)->result != HD_DKIM_PASS)
        die("DKIM did not pass", m, NULL);
}

static void dkim_arc(ctx *c, const message *m)
{
    dkim_only(c, m);
    hd_err err;
    hd_err_clear(&err);
    if (hd_arc_verify_run(c->arcv, m->raw, c->dns, &err) != 0)
        die("ARC", m, &err);
}

/* The full verdict for one message; stage times added to st when given,
 * verdicts counted in t when given. */
static void full(ctx *c, const message *m, double *st, tally *t)
{
    hd_err err;
    hd_err_clear(&err);
    double t0 = st ? now_s() : 0, t1;
#define LAP(s)                                                                                     \
    do {                                                                                           \
        if (st) {                                                                                  \
            t1 = now_s();                                                                          \
            st[s] += t1 - t0;                                                                      \
            t0 = t1;                                                                               \
        }                                                                                          \
    } while (0)

    char fdom[256], mf[512];
    if (!from_domain(m->raw, fdom, sizeof fdom))
        die("no From domain", m, NULL);
    const char *ip = m->have_facts ? m->ip : "192.0.2.25";
    const char *helo = m->have_facts ? m->helo : "mail.example.org";
    if (m->have_facts)
        snprintf(mf, sizeof mf, "%s", m->mail_from);
    else
        snprintf(mf, sizeof mf, "bounce@%s", fdom);
    LAP(ST_FROM);

    hd_spf *spf = NULL;
    hd_spf_request req = {.ip = ip, .sender = mf, .helo = helo, .now = c->now};
    hd_spf_opts so = {.cache = c->answers, .records = c->records};
    if (hd_spf_new(&req, &so, &spf, &err) != 0 || hd_spf_run(spf, c->dns, &err) != 0)
        die("SPF", m, &err);
    LAP(ST_SPF);

    if (hd_dkim_verify_run(c->dkim, m->raw, c->dns, &err) != 0)
        die("DKIM", m, &err);
    LAP(ST_DKIM);

    if (hd_arc_verify_run(c->arcv, m->raw, c->dns, &err) != 0)
        die("ARC", m, &err);
    LAP(ST_ARC);

    const hd_spf_verdict *sv = hd_spf_get_verdict(spf);
    hd_dmarc_request dr = {.from_domain = fdom, .now = c->now, .mode = HD_DMARC_RFC9989,
                           .pct_roll = (unsigned)(c->now % 100), .spf_domain = sv->domain,
                           .spf_pass = sv->result == HD_SPF_PASS};
    size_t ndk = hd_dkim_verify_count(c->dkim);
    for (size_t i = 0; i < ndk && dr.ndkim < HD_DMARC_MAX_DKIM; i++) {
        const hd_dkim_result *r = hd_dkim_verify_result(c->dkim, i);
        if (r->result == HD_DKIM_PASS)
            dr.dkim_domains[dr.ndkim++] = r->domain;
    }
    hd_dmarc_opts dopts = {.cache = c->answers};
    hd_dmarc *dmarc = NULL;
    if (hd_dmarc_new(&dr, &dopts, &dmarc, &err) != 0 || hd_dmarc_run(dmarc, c->dns, &err) != 0)
        die("DMARC", m, &err);
    LAP(ST_DMARC);

    /* Authentication-Results, as cmd_verify.c's build_ar */
    hd_buf *ar = &c->ar;
    hd_buf_reset(ar);
    hd_buf_printf(ar, "Authentication-Results: %s", "mx.bench.test");
    hd_buf_append_cstr(ar, ";\r\n\t");
    hd_spf_to_ar(spf, ar);
    for (size_t i = 0; i < ndk; i++) {
        hd_buf_append_cstr(ar, ";\r\n\t");
        hd_dkim_result_to_ar(hd_dkim_verify_result(c->dkim, i), ar);
    }
    if (ndk == 0)
        hd_buf_append_cstr(ar, ";\r\n\tdkim=none");
    const hd_dmarc_verdict *dv = hd_dmarc_get_verdict(dmarc);
    hd_buf_append_cstr(ar, ";\r\n\t");
    hd_dmarc_to_ar(dv, ar);
    const hd_arc_result *arc = hd_arc_verify_result(c->arcv);
    if (arc->cv != HD_ARC_NONE) {
        hd_buf_append_cstr(ar, ";\r\n\t");
        hd_arc_result_to_ar(arc, ar);
    }
    if (hd_buf_cstr(ar) == NULL)
        die("Authentication-Results", m, NULL);
    LAP(ST_AR);
#undef LAP

    if (t != NULL) {
        t->spf_pass += sv->result == HD_SPF_PASS;
        t->dkim_pass += ndk > 0 && hd_dkim_verify_result(c->dkim, 0)->result == HD_DKIM_PASS;
        t->arc_pass += arc->cv == HD_ARC_PASS;
        t->arc_none += arc->cv == HD_ARC_NONE;
        t->dmarc_pass += dv->result == HD_DMARC_PASS;
        t->dmarc_other += dv->result != HD_DMARC_PASS;
    }
    hd_spf_free(spf);
    hd_dmarc_free(dmarc);
}

typedef enum { RUN_DKIM, RUN_DKIM_ARC, RUN_FULL } run_kind;

/* Whole passes over the corpus for about secs; msg/s. */
static double timed(ctx *c, const message *msgs, size_t n, run_kind k, double secs, double *st,
                    size_t *count)
{
    size_t cnt = 0;
    double t0 = now_s(), t1;
    do {
        for (size_t i = 0; i < n; i++) {
            switch (k) {
            case RUN_DKIM: dkim_only(c, &msgs[i]); break;
            case RUN_DKIM_ARC: dkim_arc(c, &msgs[i]); break;
            case RUN_FULL: full(c, &msgs[i], st, NULL); break;
            }
        }
        cnt += n;
        t1 = now_s();
    } while (t1 - t0 < secs);
    if (count != NULL)
        *count += cnt;
    return (double)cnt / (t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *v);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_verify CORPUS_DIR ZONE [SECONDS [ROUNDS [full]]]\n");
        return 64;
    }
    double secs = argc > 3 ? atof(argv[3]) : 2.0;
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 3;
    bool full_only = argc > 5 && strcmp(argv[5], "full") == 0;
    size_t n = 0;
    message *msgs = load_corpus(argv[1], &n);
    if (msgs == NULL || n == 0) {
        fprintf(stderr, "bench_verify: cannot load the corpus in %s\n", argv[1]);
        return 66;
    }
    ctx c;
    memset(&c, 0, sizeof c);
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_file(&c.dns, argv[2], &err) != 0) {
        fprintf(stderr, "bench_verify: %s\n", hd_err_str(&err));
        return 66;
    }
    c.now = (int64_t)time(NULL);
    c.keys = hd_dkim_keycache_new(256, 3600);
    c.answers = hd_dns_cache_new(4096, 3600, 300);
    c.records = hd_spf_records_new(1024);
    hd_dkim_verify_opts dko;
    hd_dkim_verify_opts_init(&dko, c.now);
    dko.cache = c.keys;
    hd_arc_verify_opts ao;
    hd_arc_verify_opts_init(&ao, c.now);
    ao.cache = c.keys;
    if (hd_dkim_verifier_new(&dko, &c.dkim, &err) != 0)
        die("verifier", NULL, &err);
    /* ARC always runs right after DKIM on the same message: it may reuse
     * DKIM's body hash, as herald verify does */
    ao.same_message_dkim = c.dkim;
    if (hd_arc_verifier_new(&ao, &c.arcv, &err) != 0)
        die("verifier", NULL, &err);
    hd_buf_init(&c.ar, 1 << 16);

    /* Warm-up pass: fills every cache; counts the verdicts. */
    tally t = {0};
    size_t bytes = 0, nfacts = 0, narc = 0;
    for (size_t i = 0; i < n; i++) {
        full(&c, &msgs[i], NULL, &t);
        msgs[i].arc = hd_arc_verify_result(c.arcv)->cv != HD_ARC_NONE;
        narc += msgs[i].arc;
        nfacts += msgs[i].have_facts;
        bytes += msgs[i].raw.len;
    }
    printf("corpus: %zu messages, %zu bytes (mean %zu), %zu with ARC sets, %zu with facts\n", n, bytes,
           bytes / n, narc, nfacts);
    printf("verdicts: spf pass %zu, dkim pass %zu, arc pass %zu (none %zu), dmarc pass %zu (other %zu)\n",
           t.spf_pass, t.dkim_pass, t.arc_pass, t.arc_none, t.dmarc_pass, t.dmarc_other);
    printf("example Authentication-Results (last message):\n%s\n", hd_buf_cstr(&c.ar));
    if (t.dkim_pass != n || t.arc_pass != narc || t.dmarc_pass != n) {
        fprintf(stderr, "bench_verify: the corpus does not verify as it should\n");
        return 1;
    }

    double rd[MAX_ROUNDS], ra[MAX_ROUNDS], rf[MAX_ROUNDS], st[ST_N] = {0};
    size_t nfull = 0;
    for (int r = 0; r < rounds; r++) {
        rf[r] = timed(&c, msgs, n, RUN_FULL, secs, st, &nfull);
        if (full_only) {
            printf("round %d/%d: full %.1f msg/s\n", r + 1, rounds, rf[r]);
            continue;
        }
        rd[r] = timed(&c, msgs, n, RUN_DKIM, secs, NULL, NULL);
        ra[r] = timed(&c, msgs, n, RUN_DKIM_ARC, secs, NULL, NULL);
        printf("round %d/%d: dkim-only %.1f, dkim+arc %.1f, full %.1f msg/s (full/dkim-only %.1f %%)\n",
               r + 1, rounds, rd[r], ra[r], rf[r], 100 * rf[r] / rd[r]);
        fflush(stdout);
    }
    if (full_only)
        return 0;
    /* The half without ARC sets alone: there the DKIM verification is the
     * whole of the crypto, the premise of the 80 % target. */
    message *plain = calloc(n, sizeof *plain);
    size_t np = 0;
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].arc)
            plain[np++] = msgs[i];
    double pd[MAX_ROUNDS], pf[MAX_ROUNDS], pst[ST_N] = {0};
    size_t npfull = 0;
    for (int r = 0; np > 0 && r < rounds; r++) {
        pd[r] = timed(&c, plain, np, RUN_DKIM, secs / 2, NULL, NULL);
        pf[r] = timed(&c, plain, np, RUN_FULL, secs / 2, pst, &npfull);
        printf("round %d/%d, %zu messages without ARC: dkim-only %.1f, full %.1f msg/s (%.1f %%)\n",
               r + 1, rounds, np, pd[r], pf[r], 100 * pf[r] / pd[r]);
        fflush(stdout);
    }
    double d = median(rd, rounds), a = median(ra, rounds), f = median(rf, rounds);
    printf("RESULT herald verify dkim-only %.1f msg/s\n", d);
    printf("RESULT herald verify dkim+arc %.1f msg/s\n", a);
    printf("RESULT herald verify full %.1f msg/s\n", f);
    printf("RESULT herald verify full/dkim-only %.1f %%\n", 100 * f / d);
    printf("RESULT herald verify full/dkim+arc %.1f %%\n", 100 * f / a);
    double tot = 0;
    for (int s = 0; s < ST_N; s++)
        tot += st[s];
    printf("full verdict, where the time goes (%zu verdicts, clock around each stage):\n", nfull);
    for (int s = 0; s < ST_N; s++)
        printf("  %-12s %8.2f us/msg  %5.1f %%\n", stage_name[s], 1e6 * st[s] / (double)nfull,
               100 * st[s] / tot);
    if (np > 0) {
        double d2 = median(pd, rounds), f2 = median(pf, rounds);
        printf("RESULT herald verify no-arc dkim-only %.1f msg/s\n", d2);
        printf("RESULT herald verify no-arc full %.1f msg/s\n", f2);
        printf("RESULT herald verify no-arc full/dkim-only %.1f %%\n", 100 * f2 / d2);
        printf("full verdict without ARC sets, per stage:");
        for (int s = 0; s < ST_N; s++)
            printf(" %s %.2f", stage_name[s], 1e6 * pst[s] / (double)npfull);
        printf(" us/msg\n");
        printf("TARGET (messages without ARC) full >= 80%% of dkim-only: %s (%.1f %%)\n",
               f2 >= 0.8 * d2 ? "met" : "NOT met", 100 * f2 / d2);
    }
    printf("TARGET full >= 80%% of dkim-only: %s (%.1f %%)\n", f >= 0.8 * d ? "met" : "NOT met",
           100 * f / d);
    free(plain);

    hd_buf_free(&c.ar);
    hd_dkim_verifier_free(c.dkim);
    hd_arc_verifier_free(c.arcv);
    hd_spf_records_free(c.records);
    hd_dns_cache_free(c.answers);
    hd_dkim_keycache_free(c.keys);
    hd_dns_free(c.dns);
    for (size_t i = 0; i < n; i++)
        free((void *)msgs[i].raw.p);
    free(msgs);
    return 0;
}
