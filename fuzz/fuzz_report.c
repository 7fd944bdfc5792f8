/*
 * fuzz_report.c - DSN, ARF and rule-driven bounce reading over one
 * message, and the rule file parser over the same bytes.
 */
#include <herald/report.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rules_text[] = "status 5.1.1 contains \"user unknown\"\n"
                                 "status 4.2.2 contains \"over quota\"\n"
                                 "status 5.0.0 contains \"failed\"\n"
                                 "address field Original-Recipient\n"
                                 "address colon\n";

static void check_dsn(const hd_dsn *d)
{
    if (d->nrcpts > HD_REPORT_MAX_RCPTS || (d->nrcpts > 0 && d->rcpts == NULL))
        abort();
    for (size_t i = 0; i < d->nrcpts; i++)
        if (strlen(d->rcpts[i].final_recipient) > HD_REPORT_ADDR_MAX ||
            strlen(d->rcpts[i].diagnostic) > HD_REPORT_TEXT_MAX)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hd_slice in = hd_slice_make(data, size);
    hd_report_rules *rs = NULL;
    if (hd_report_rules_parse(hd_slice_cstr(rules_text), &rs, NULL) != 0)
        abort();
    hd_dsn d;
    hd_err err;
    (void)hd_report_parse_dsn(in, &d, &err);
    check_dsn(&d);
    hd_dsn_free(&d);
    (void)hd_report_parse_bounce(in, rs, &d, &err);
    check_dsn(&d);
    hd_dsn_free(&d);
    hd_arf a;
    (void)hd_report_parse_arf(in, &a, &err);
    hd_report_rules_free(rs);
    rs = NULL;
    if (hd_report_rules_parse(in, &rs, &err) == 0)
        hd_report_rules_free(rs);
    return 0;
}
