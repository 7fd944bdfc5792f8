/*
 * spf_suite_test.c - the openspf SPF conformance suites (tests/data/
 * openspf/rfc7208-tests.yml and rfc4408-tests.yml) against herald's SPF
 * evaluator, through the DNS zone fixture.
 *
 * scripts/spf-suite.py converts a suite's YAML into a line format (its
 * docstring describes it); this program runs the converter, builds one
 * hd_dns zone per scenario and checks every test: the result must be one
 * the suite accepts and, when the suite gives an explanation, the verdict's
 * explanation must equal it. The zone fixture holds every name and record
 * of the suites as they are (names with blanks or '%' written with escapes,
 * TXT records of zero strings, names with only SPF-type records), so the
 * fixture answers every question itself.
 * RFC 4408 tests whose expectations RFC 7208 changed are excluded by name,
 * each with its reason, and reported as excluded, never dropped silently.
 */
#include "testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <herald/dns.h>
#include <herald/spf.h>

#define PYTHON "/usr/bin/python3"
#define CONVERTER HERALD_SOURCE_DIR "/scripts/spf-suite.py"
#define SUITE_DIR HERALD_TESTDATA "/openspf"
/* What the suite's explanations need: %{r} appears only in an exp= domain
 * (a permerror), so any name does. */
#define RECEIVER "receiver.example.com"
#define NOW 1700000000
/* The converter's output is a few hundred kilobytes at most. */
#define CONVERTED_MAX (8u * 1024 * 1024)
#define FIELDS_MAX 64

/* Tables ----------------------------------------------------------------- */

/* An RFC 4408 test whose expectation RFC 7208 changed. */
typedef struct exclusion {
    const char *test;
    const char *rfc7208_section;
    const char *reason;
} exclusion;

/* The RFC 4408 suite accepts the RFC 7208 outcome of every test it shares
 * with rfc7208-tests.yml (same names, same data; checked when this list
 * was written), so nothing needs excluding yet. An entry here is printed
 * as "excluded (reason)" each run. */
static const exclusion rfc4408_exclusions[] = {
    {NULL, NULL, NULL},
};

static const exclusion no_exclusions[] = {
    {NULL, NULL, NULL},
};

typedef struct suite_spec {
    const char *label;          /* "rfc7208" */
    const char *file;           /* under SUITE_DIR */
    size_t scenarios, tests;    /* what the file holds (SOURCES.md) */
    const exclusion *excluded;
} suite_spec;

static const suite_spec suites[] = {
    {"rfc7208", "rfc7208-tests.yml", 16, 203, no_exclusions},
    {"rfc4408", "rfc4408-tests.yml", 15, 191, rfc4408_exclusions},
};

static const struct {
    const char *name;
    hd_spf_result result;
} result_names[] = {
    {"none", HD_SPF_NONE},         {"neutral", HD_SPF_NEUTRAL},
    {"pass", HD_SPF_PASS},         {"fail", HD_SPF_FAIL},
    {"softfail", HD_SPF_SOFTFAIL}, {"temperror", HD_SPF_TEMPERROR},
    {"permerror", HD_SPF_PERMERROR},
};

/* The converted suite ---------------------------------------------------- */

typedef struct text {
    char *p;    /* NUL-terminated; may hold NULs before len (TXT data) */
    size_t len;
} text;

typedef struct suite_test {
    char *name;
    char *spec;         /* NULL when the suite gives none */
    char *host;
    char *helo;
    char *mailfrom;
    char *want_text;    /* "fail,permerror" */
    unsigned want;      /* bit (1u << hd_spf_result) per acceptable result */
    char *explanation;  /* NULL: not checked */
} suite_test;

typedef struct scenario {
    char *description;
    hd_buf zone;
    suite_test *tests;
    size_t ntests;
} scenario;

typedef struct suite_data {
    char *name;
    scenario *sc;
    size_t nsc;
    size_t declared_scenarios, declared_tests;
} suite_data;

static void *grow(void *array, size_t count, size_t size)
{
    void *p = realloc(array, (count + 1) * size);
    if (p == NULL)
        fail_msg("out of memory");
    memset((char *)p + count * size, 0, size);
    return p;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A converter field: "-" is absent (p NULL), "=VALUE" percent-encoded. */
static text field_decode(const char *field, size_t line)
{
    text t = {NULL, 0};
    if (strcmp(field, "-") == 0)
        return t;
    if (field[0] != '=')
        fail_msg("converted suite line %zu: field \"%s\" is neither -, nor =VALUE", line, field);
    size_t n = strlen(field + 1);
    t.p = malloc(n + 1);
    if (t.p == NULL)
        fail_msg("out of memory");
    for (const char *s = field + 1; *s != '\0'; s++) {
        if (*s == '%') {
            int hi = hex_value(s[1]), lo = hi < 0 ? -1 : hex_value(s[2]);
            if (lo < 0)
                fail_msg("converted suite line %zu: bad %%XX in \"%s\"", line, field);
            t.p[t.len++] = (char)(hi * 16 + lo);
            s += 2;
        } else {
            t.p[t.len++] = *s;
        }
    }
    t.p[t.len] = '\0';
    return t;
}

/* A field that must be a string without NULs; NULL when absent and
 * allowed to be. */
static char *field_string(const char *field, bool may_be_absent, size_t line)
{
    text t = field_decode(field, line);
    if (t.p == NULL && !may_be_absent)
        fail_msg("converted suite line %zu: a value is required", line);
    if (t.p != NULL && strlen(t.p) != t.len)
        fail_msg("converted suite line %zu: NUL inside \"%s\"", line, field);
    return t.p;
}

static unsigned parse_results(const char *list, size_t line)
{
    unsigned want = 0;
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        size_t k = 0, count = sizeof result_names / sizeof result_names[0];
        while (k < count && !(strlen(result_names[k].name) == n &&
                              strncmp(result_names[k].name, p, n) == 0))
            k++;
        if (k == count)
            fail_msg("converted suite line %zu: unknown result \"%.*s\"", line, (int)n, p);
        want |= 1u << result_names[k].result;
        p += n + (p[n] == ',');
    }
    if (want == 0)
        fail_msg("converted suite line %zu: no result", line);
    return want;
}

static void parse_test(scenario *sc, char **f, size_t nf, size_t line)
{
    if (nf != 8)
        fail_msg("converted suite line %zu: a test line has 8 fields, not %zu", line, nf);
    sc->tests = grow(sc->tests, sc->ntests, sizeof *sc->tests);
    suite_test *t = &sc->tests[sc->ntests++];
    t->name = field_string(f[1], false, line);
    t->spec = field_string(f[2], true, line);
    t->host = field_string(f[3], false, line);
    t->helo = field_string(f[4], false, line);
    t->mailfrom = field_string(f[5], false, line);
    t->want_text = field_string(f[6], false, line);
    t->want = parse_results(t->want_text, line);
    t->explanation = field_string(f[7], true, line);
}

/* One line of the converter's output. */
static void parse_line(suite_data *sd, char *s, size_t line)
{
    scenario *sc = sd->nsc > 0 ? &sd->sc[sd->nsc - 1] : NULL;
    if (strncmp(s, "z ", 2) == 0) { /* a zone line, verbatim */
        if (sc == NULL || hd_buf_append_cstr(&sc->zone, s + 2) != 0 ||
            hd_buf_append_byte(&sc->zone, '\n') != 0)
            fail_msg("converted suite line %zu: zone line outside a scenario", line);
        return;
    }
    char *f[FIELDS_MAX];
    size_t nf = 0;
    for (char *tok = s; tok != NULL && *tok != '\0';) {
        if (nf == FIELDS_MAX)
            fail_msg("converted suite line %zu: more than %d fields", line, FIELDS_MAX);
        f[nf++] = tok;
        tok = strchr(tok, ' ');
        if (tok != NULL)
            *tok++ = '\0';
    }
    if (nf == 0)
        return;
    if (strcmp(f[0], "suite") == 0 && nf == 2) {
        sd->name = field_string(f[1], false, line);
    } else if (strcmp(f[0], "scenario") == 0 && nf == 2) {
        sd->sc = grow(sd->sc, sd->nsc, sizeof *sd->sc);
        sc = &sd->sc[sd->nsc++];
        sc->description = field_string(f[1], false, line);
        hd_buf_init(&sc->zone, CONVERTED_MAX);
    } else if (sc == NULL) {
        fail_msg("converted suite line %zu: \"%s\" before the first scenario", line, f[0]);
    } else if (strcmp(f[0], "test") == 0) {
        parse_test(sc, f, nf, line);
    } else if (strcmp(f[0], "count") == 0 && nf == 3) {
        sd->declared_scenarios = strtoul(f[1], NULL, 10);
        sd->declared_tests = strtoul(f[2], NULL, 10);
    } else {
        fail_msg("converted suite line %zu: unknown line \"%s\"", line, f[0]);
    }
}

/* Run the converter on one suite file and parse what it prints. */
static void load_suite(const char *path, suite_data *sd)
{
    if (access(PYTHON, X_OK) != 0)
        fail_msg("%s is missing: the SPF suite converter needs python3 and python3-yaml", PYTHON);
    if (strchr(path, '\'') != NULL || strchr(CONVERTER, '\'') != NULL)
        fail_msg("a quote in the path %s or %s", path, CONVERTER);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", PYTHON, CONVERTER, path);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        fail_msg("cannot run %s", cmd);
    hd_buf out;
    hd_buf_init(&out, CONVERTED_MAX);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        if (hd_buf_append(&out, chunk, n) != 0)
            fail_msg("%s printed more than %u bytes", cmd, CONVERTED_MAX);
    int status = pclose(p);
    if (status != 0)
        fail_msg("%s failed (exit status %d; 3 means python3-yaml is missing: "
                 "apt-get install python3-yaml)", cmd,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (hd_buf_append_byte(&out, '\0') != 0)
        fail_msg("out of memory");
    memset(sd, 0, sizeof *sd);
    char *s = (char *)out.p;
    for (size_t line = 1; s != NULL && *s != '\0'; line++) {
        char *nl = strchr(s, '\n');
        if (nl != NULL)
            *nl = '\0';
        parse_line(sd, s, line);
        s = nl != NULL ? nl + 1 : NULL;
    }
    hd_buf_free(&out);
}

static void free_suite(suite_data *sd)
{
    for (size_t i = 0; i < sd->nsc; i++) {
        scenario *sc = &sd->sc[i];
        for (size_t k = 0; k < sc->ntests; k++) {
            suite_test *t = &sc->tests[k];
            free(t->name);
            free(t->spec);
            free(t->host);
            free(t->helo);
            free(t->mailfrom);
            free(t->want_text);
            free(t->explanation);
        }
        free(sc->tests);
        free(sc->description);
        hd_buf_free(&sc->zone);
    }
    free(sd->sc);
    free(sd->name);
}

typedef struct outcome {
    bool ran;              /* false: the harness could not evaluate (see err) */
    hd_spf_verdict v;
    hd_err err;
} outcome;

static void evaluate(const scenario *sc, hd_dns *dns, const suite_test *t, outcome *out)
{
    memset(out, 0, sizeof *out);
    hd_err_clear(&out->err);
    hd_spf_request req = {
        .ip = t->host,
        .sender = t->mailfrom,
        .helo = t->helo,
        .check_helo = false,
        .receiver = RECEIVER,
        .now = NOW,
    };
    hd_spf *spf = NULL;
    if (hd_spf_new(&req, NULL, &spf, &out->err) != 0)
        return;
    int rc = hd_spf_run(spf, dns, &out->err);
    if (rc == 0) {
        out->v = *hd_spf_get_verdict(spf);
        out->ran = true;
    }
    hd_spf_free(spf);
}

/* The explanation herald gives when no exp= applies, for the suite's
 * "DEFAULT": the same request against a record of "-all" alone at the
 * domain the test checked. */
static void default_explanation(const suite_test *t, const hd_spf_verdict *v, char *out,
                                size_t outlen)
{
    hd_buf zone;
    hd_buf_init(&zone, 4096);
    if (hd_buf_printf(&zone, "%s. IN TXT \"v=spf1 -all\"\n", v->domain) != 0)
        fail_msg("out of memory");
    hd_dns *dns = NULL;
    hd_err err;
    hd_err_clear(&err);
    if (hd_dns_new_zone_text(&dns, hd_buf_slice(&zone), "<default-exp>", &err) != 0)
        fail_msg("default explanation probe for %s: %s", v->domain, err.msg);
    scenario probe = {0};
    outcome o;
    evaluate(&probe, dns, t, &o);
    if (!o.ran || o.v.result != HD_SPF_FAIL)
        fail_msg("default explanation probe for %s: %s", v->domain,
                 o.ran ? hd_spf_result_name(o.v.result) : hd_err_str(&o.err));
    snprintf(out, outlen, "%s", o.v.explanation);
    hd_dns_free(dns);
    hd_buf_free(&zone);
}

static const exclusion *find_exclusion(const exclusion *list, const char *test)
{
    for (; list->test != NULL; list++)
        if (strcmp(list->test, test) == 0)
            return list;
    return NULL;
}

typedef struct tally {
    size_t passed, failed, excluded;
} tally;

static void check_test(const suite_spec *spec, const scenario *sc, hd_dns *dns,
                       const suite_test *t, tally *tl)
{
    const exclusion *ex = find_exclusion(spec->excluded, t->name);
    if (ex != NULL) {
        printf("%s: %s: excluded (RFC 7208 %s: %s)\n", spec->label, t->name, ex->rfc7208_section,
               ex->reason);
        tl->excluded++;
        return;
    }
    outcome o;
    evaluate(sc, dns, t, &o);
    bool ok = o.ran && (t->want & (1u << o.v.result)) != 0;
    char want_exp[600] = "";
    if (ok && t->explanation != NULL) {
        if (strcmp(t->explanation, "DEFAULT") == 0)
            default_explanation(t, &o.v, want_exp, sizeof want_exp);
        else
            snprintf(want_exp, sizeof want_exp, "%s", t->explanation);
        ok = strcmp(want_exp, o.v.explanation) == 0;
    }
    if (ok) {
        tl->passed++;
        return;
    }
    tl->failed++;
    printf("FAIL %s [%s] %s (spec %s; ip %s, mailfrom \"%s\", helo \"%s\"): want %s",
           spec->label, sc->description, t->name, t->spec != NULL ? t->spec : "-", t->host,
           t->mailfrom, t->helo, t->want_text);
    if (t->explanation != NULL && strcmp(t->explanation, "DEFAULT") == 0 && want_exp[0] != '\0')
        printf(" exp DEFAULT = \"%s\"", want_exp);
    else if (t->explanation != NULL)
        printf(" exp \"%s\"", t->explanation);
    if (!o.ran) {
        printf("; got harness error: %s\n", hd_err_str(&o.err));
        return;
    }
    printf("; got %s", hd_spf_result_name(o.v.result));
    if (t->explanation != NULL)
        printf(" exp \"%s\"", o.v.explanation);
    printf("; mechanism \"%s\"; reason: %s\n", o.v.mechanism, o.v.reason);
}

static void run_suite(const suite_spec *spec, tally *tl)
{
    suite_data sd;
    load_suite(tu_path(SUITE_DIR, spec->file), &sd);
    size_t ntests = 0;
    for (size_t i = 0; i < sd.nsc; i++)
        ntests += sd.sc[i].ntests;
    if (sd.nsc != spec->scenarios || ntests != spec->tests ||
        sd.declared_scenarios != sd.nsc || sd.declared_tests != ntests)
        fail_msg("%s: converted %zu scenarios / %zu tests (converter counted %zu / %zu), "
                 "expected %zu / %zu", spec->file, sd.nsc, ntests, sd.declared_scenarios,
                 sd.declared_tests, spec->scenarios, spec->tests);
    for (const exclusion *ex = spec->excluded; ex->test != NULL; ex++) {
        bool found = false;
        for (size_t i = 0; i < sd.nsc && !found; i++)
            for (size_t k = 0; k < sd.sc[i].ntests && !found; k++)
                found = strcmp(sd.sc[i].tests[k].name, ex->test) == 0;
        if (!found)
            fail_msg("%s: the exclusion list names %s, which is not in the suite", spec->label,
                     ex->test);
    }
    *tl = (tally){0, 0, 0};
    for (size_t i = 0; i < sd.nsc; i++) {
        scenario *sc = &sd.sc[i];
        hd_dns *dns = NULL;
        hd_err err;
        hd_err_clear(&err);
        if (hd_dns_new_zone_text(&dns, hd_buf_slice(&sc->zone), spec->file, &err) != 0)
            fail_msg("%s [%s]: the fixture refuses the converted zone: %s", spec->label,
                     sc->description, err.msg);
        for (size_t k = 0; k < sc->ntests; k++)
            check_test(spec, sc, dns, &sc->tests[k], tl);
        hd_dns_free(dns);
    }
    printf("%s: %zu passed, %zu failed", spec->label, tl->passed, tl->failed);
    if (tl->excluded > 0)
        printf(", %zu excluded", tl->excluded);
    printf(" (of %zu)\n", ntests);
    free_suite(&sd);
}

/* Tests ------------------------------------------------------------------ */

/* The converter's field encoding, which every other check relies on. */
static void test_field_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *field;
        const char *want; /* NULL: absent */
        size_t len;
    } cases[] = {
        {"-", NULL, 0},
        {"=", "", 0},
        {"=%2D", "-", 1},
        {"=JUMPIN'%20JUPITER", "JUMPIN' JUPITER", 15},
        {"=macro%25percent%20%20space%2520url", "macro%percent  space%20url", 26},
        {"=a%00b", "a\0b", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text t = field_decode(cases[i].field, i + 1);
        if (cases[i].want == NULL) {
            assert_null(t.p);
            continue;
        }
        assert_non_null(t.p);
        assert_int_equal(t.len, cases[i].len);
        assert_memory_equal(t.p, cases[i].want, t.len);
        free(t.p);
    }
}

/* Every suite: all tests pass, or are excluded by name with a reason. */
static void test_openspf_suites(void **state)
{
    (void)state;
    size_t count = sizeof suites / sizeof suites[0];
    tally total = {0, 0, 0};
    for (size_t i = 0; i < count; i++) {
        tally tl;
        run_suite(&suites[i], &tl);
        total.passed += tl.passed;
        total.failed += tl.failed;
        total.excluded += tl.excluded;
    }
    printf("%zu passed, %zu failed", total.passed, total.failed);
    if (total.excluded > 0)
        printf(", %zu excluded", total.excluded);
    printf("\n");
    fflush(stdout);
    if (total.failed > 0)
        fail_msg("%zu SPF suite tests failed", total.failed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_encoding),
        cmocka_unit_test(test_openspf_suites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
