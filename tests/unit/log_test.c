/*
 * log_test.c - herald/log.h: the shape of a log line (text, json, the
 * journal's), with the clock given, and the JOURNAL_STREAM check.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <herald/log.h>

#define T0 1795766400123LL /* 2026-11-27T08:00:00.123Z */

static int64_t fixed_clock(void)
{
    return T0;
}

typedef struct line_case {
    const char *name;
    hd_log_format format;
    bool journal;
    bool clock;
    hd_log_level level;
    const char *id;
    const char *msg;
    const char *want;
} line_case;

static const line_case line_cases[] = {
    {"text with time and level word", HD_LOG_TEXT, false, true, HD_LOG_INFO, NULL,
     "queue loaded", "2026-11-27T08:00:00.123Z herald info: queue loaded"},
    {"text: warn spelt as log_level spells it", HD_LOG_TEXT, false, true, HD_LOG_WARN, NULL,
     "x", "2026-11-27T08:00:00.123Z herald warn: x"},
    {"text: the id before the text", HD_LOG_TEXT, false, true, HD_LOG_ERROR,
     "0123456789abcdef0123456789abcdef", "spool read failed",
     "2026-11-27T08:00:00.123Z herald error: 0123456789abcdef0123456789abcdef: spool read failed"},
    {"text: an empty id is none", HD_LOG_TEXT, false, true, HD_LOG_DEBUG, "", "y",
     "2026-11-27T08:00:00.123Z herald debug: y"},
    {"text: no clock, no time", HD_LOG_TEXT, false, false, HD_LOG_INFO, NULL, "z",
     "herald info: z"},
    {"text: control characters stay on one line", HD_LOG_TEXT, false, true, HD_LOG_INFO,
     "1.2.3.4", "reply\r\n250 x\x1b", "2026-11-27T08:00:00.123Z herald info: 1.2.3.4: reply??250 x?"},
    {"journal: priority prefix, no time (journald stamps)", HD_LOG_TEXT, true, true,
     HD_LOG_WARN, "192.0.2.1", "too many", "<4>warn: 192.0.2.1: too many"},
    {"journal: error is priority 3", HD_LOG_TEXT, true, true, HD_LOG_ERROR, NULL, "e",
     "<3>error: e"},
    {"journal: info is 6", HD_LOG_TEXT, true, true, HD_LOG_INFO, NULL, "i", "<6>info: i"},
    {"journal: debug is 7", HD_LOG_TEXT, true, true, HD_LOG_DEBUG, NULL, "d", "<7>debug: d"},
    {"json: time, level, msg", HD_LOG_JSON, false, true, HD_LOG_INFO, NULL, "hello",
     "{\"time\":\"2026-11-27T08:00:00.123Z\",\"level\":\"info\",\"msg\":\"hello\"}"},
    {"json: the id a field of its own", HD_LOG_JSON, false, true, HD_LOG_WARN, "abc",
     "say \"hi\"\n",
     "{\"time\":\"2026-11-27T08:00:00.123Z\",\"level\":\"warn\",\"id\":\"abc\",\"msg\":\"say "
     "\\\"hi\\\"\\n\"}"},
    {"json: bytes that are not UTF-8 become ?", HD_LOG_JSON, false, true, HD_LOG_INFO, NULL,
     "caf\xe9", "{\"time\":\"2026-11-27T08:00:00.123Z\",\"level\":\"info\",\"msg\":\"caf?\"}"},
    {"json under the journal: prefix, keeps its time", HD_LOG_JSON, true, true, HD_LOG_ERROR,
     NULL, "x",
     "<3>{\"time\":\"2026-11-27T08:00:00.123Z\",\"level\":\"error\",\"msg\":\"x\"}"},
};

static void test_lines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof line_cases / sizeof line_cases[0]; i++) {
        const line_case *c = &line_cases[i];
        hd_log log;
        hd_log_init(&log, "herald", HD_LOG_DEBUG);
        log.format = c->format;
        log.journal = c->journal;
        log.clock = c->clock ? fixed_clock : NULL;
        char out[HD_LOG_LINE_MAX];
        size_t n = hd_log_format_line(&log, T0, c->level, c->id, c->msg, out, sizeof out);
        if (strcmp(out, c->want) != 0 || n != strlen(c->want))
            fail_msg("%s: got \"%s\" (%zu), want \"%s\"", c->name, out, n, c->want);
    }
}

/* A message longer than the line: text is cut at a character boundary,
 * json stays one parseable object and says it was cut. */
static void test_long(void **state)
{
    (void)state;
    char msg[3000];
    for (size_t i = 0; i + 2 < sizeof msg; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    msg[sizeof msg - 2] = '\0';
    hd_log log;
    hd_log_init(&log, "herald", HD_LOG_DEBUG);
    log.clock = fixed_clock;
    char out[512];
    size_t n = hd_log_format_line(&log, T0, HD_LOG_INFO, NULL, msg, out, sizeof out);
    assert_true(n < sizeof out);
    assert_int_equal(strlen(out), n);
    assert_int_equal((unsigned char)out[n - 1], 0xa9);   /* whole characters only */
    log.format = HD_LOG_JSON;
    n = hd_log_format_line(&log, T0, HD_LOG_INFO, "id1", msg, out, sizeof out);
    assert_int_equal(strlen(out), n);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (j == NULL)
        fail_msg("not JSON: %s: %s", e.text, out);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_string_equal(json_string_value(json_object_get(j, "id")), "id1");
    json_decref(j);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const words[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        hd_log_level l = HD_LOG_DEBUG;
        assert_true(hd_log_level_parse(words[i], &l));
        assert_int_equal(l, i);
        assert_string_equal(hd_log_level_name(l), words[i]);   /* the same word both ways */
    }
    hd_log_level l;
    assert_false(hd_log_level_parse("warning", &l));
    assert_false(hd_log_level_parse(NULL, &l));
    hd_log_format f;
    assert_true(hd_log_format_parse("json", &f) && f == HD_LOG_JSON);
    assert_true(hd_log_format_parse("text", &f) && f == HD_LOG_TEXT);
    assert_false(hd_log_format_parse("journal", &f));
}

static void test_journal_stream(void **state)
{
    (void)state;
    assert_true(hd_log_journal_stream("8:12345", 8, 12345));
    assert_false(hd_log_journal_stream("8:12345", 8, 12346));   /* stderr went elsewhere */
    assert_false(hd_log_journal_stream("9:12345", 8, 12345));
    assert_false(hd_log_journal_stream(NULL, 8, 12345));
    assert_false(hd_log_journal_stream("", 0, 0));
    assert_false(hd_log_journal_stream(":", 0, 0));
    assert_false(hd_log_journal_stream("8:", 8, 0));
    assert_false(hd_log_journal_stream("8:12345x", 8, 12345));
    assert_false(hd_log_journal_stream(" 8:12345", 8, 12345));
    assert_false(hd_log_journal_stream("-8:12345", 8, 12345));
    assert_false(hd_log_journal_stream("99999999999999999999:1", 0, 1));   /* past 64 bits */
}

typedef struct captured {
    int n;
    char line[HD_LOG_LINE_MAX + 256];
} captured;

static void sink(void *arg, hd_log_level level, const char *line)
{
    (void)level;
    captured *c = arg;
    c->n++;
    snprintf(c->line, sizeof c->line, "%s", line);
}

static void test_sink_and_level(void **state)
{
    (void)state;
    captured c = {0};
    hd_log log;
    hd_log_init(&log, "herald", HD_LOG_INFO);
    log.clock = fixed_clock;
    log.sink = sink;
    log.sink_arg = &c;
    hd_log_msg(&log, HD_LOG_DEBUG, "dropped %d", 1);
    assert_int_equal(c.n, 0);
    hd_log_msg_id(&log, HD_LOG_INFO, "q1", "delivered to %s", "a@b.example");
    assert_int_equal(c.n, 1);
    assert_string_equal(c.line, "2026-11-27T08:00:00.123Z herald info: q1: delivered to a@b.example");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_journal_stream),
        cmocka_unit_test(test_sink_and_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
