/*
 * fuzz_report.c - DSN, ARF and rule-driven bounce reading over one
 * message, with a small rule set and with the built-in rule table
 * (data/bounce-rules.txt, linked in from generated/bounce_rules.c: its
 * vendor sections, address directives and phrases), and the rule file
 * parser over the same bytes.
 */
#include <herald/report.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* generated/bounce_rules.c */
extern const unsigned char serve_bounce_rules[];
extern const size_t serve_bounce_rules_len;

static const char rules_text[] = "cut \"copy of the message\"\n"
                                 "vendor v when \"x-v:\"\n"
                                 "status 5.1.1 reason userunknown contains \"nobody\"\n"
                                 "address after \"failed:\"\n"
                                 "end\n"
                                 "status 5.1.1 contains \"user unknown\"\n"
                                 "status 4.2.2 contains \"over quota\"\n"
                                 "reason blocked contains \"blocked\"\n"
                                 "status 5.0.0 contains \"failed\"\n"
                                 "address header X-Failed-Recipients\n"
                                 "address field Original-Recipient\n"
                                 "address before \"----\"\n"
                                 "address colon\n"
                                 "address returned To\n";

static void check_dsn(const hd_dsn *d)
{
    if (d->nrcpts > HD_REPORT_MAX_RCPTS || (d->nrcpts > 0 && d->rcpts == NULL))
        abort();
    for (size_t i = 0; i < d->nrcpts; i++)
        if (strlen(d->rcpts[i].final_recipient) > HD_REPORT_ADDR_MAX ||
            strlen(d->rcpts[i].diagnostic) > HD_REPORT_TEXT_MAX ||
            (unsigned)d->rcpts[i].reason >= HD_REASON_COUNT)
            abort();
}

static void bounce_with(hd_slice in, const hd_report_rules *rs)
{
    hd_dsn d;
    hd_err err;
    (void)hd_report_parse_bounce(in, rs, &d, &err);
    check_dsn(&d);
    hd_dsn_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hd_report_rules *builtin;
    if (builtin == NULL &&
        hd_report_rules_parse(hd_slice_make(serve_bounce_rules, serve_bounce_rules_len), &builtin,
                              NULL) != 0)
        abort(); /* the shipped table must parse */
    hd_slice in = hd_slice_make(data, size);
    hd_report_rules *rs = NULL;
    if (hd_report_rules_parse(hd_slice_cstr(rules_text), &rs, NULL) != 0)
        abort();
    hd_dsn d;
    hd_err err;
    (void)hd_report_parse_dsn(in, &d, &err);
    check_dsn(&d);
    hd_dsn_free(&d);
    bounce_with(in, rs);
    bounce_with(in, builtin);
    hd_arf a;
    (void)hd_report_parse_arf(in, &a, &err);
    hd_report_rules_free(rs);
    rs = NULL;
    if (hd_report_rules_parse(in, &rs, &err) == 0)
        hd_report_rules_free(rs);
    return 0;
}
