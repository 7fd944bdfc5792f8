/*
 * log.c - the program's log lines (herald/log.h). Only the program (cli/,
 * serve/) logs; it hands in the clock, so the formatting is a pure
 * function the unit tests call with a fixed time.
 *
 * A line is formatted whole into a stack buffer and written with one
 * fwrite, so the lines of several threads do not interleave.
 */
#include <herald/log.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <herald/json.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* RFC 5424 §6.2.1: err, warning, informational, debug */
static const int level_priorities[] = {3, 4, 6, 7};

#define N_LEVELS (sizeof level_names / sizeof level_names[0])

const char *hd_log_level_name(hd_log_level level)
{
    if ((unsigned)level < N_LEVELS)
        return level_names[level];
    return "?";
}

int hd_log_priority(hd_log_level level)
{
    if ((unsigned)level < N_LEVELS)
        return level_priorities[level];
    return 7;
}

bool hd_log_level_parse(const char *name, hd_log_level *out)
{
    for (unsigned i = 0; name != NULL && i < N_LEVELS; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (hd_log_level)i;
            return true;
        }
    return false;
}

bool hd_log_format_parse(const char *name, hd_log_format *out)
{
    if (name != NULL && strcmp(name, "text") == 0) {
        *out = HD_LOG_TEXT;
        return true;
    }
    if (name != NULL && strcmp(name, "json") == 0) {
        *out = HD_LOG_JSON;
        return true;
    }
    return false;
}

void hd_log_init(hd_log *log, const char *ident, hd_log_level max)
{
    *log = (hd_log){.max = max, .ident = ident, .format = HD_LOG_TEXT};
}

/* Decimal digits only, at most 19 of them (no sign, no blank). */
static bool read_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* systemd.exec(5), $JOURNAL_STREAM: "the device and inode numbers of the
 * file descriptor, formatted in decimal and separated by a colon"; a
 * program compares them with its stderr's, since a stderr handed on to
 * something else keeps the variable. */
bool hd_log_journal_stream(const char *journal_stream, uint64_t dev, uint64_t ino)
{
    if (journal_stream == NULL)
        return false;
    const char *colon = strchr(journal_stream, ':');
    uint64_t d, i;
    if (colon == NULL ||
        !read_u64(journal_stream, (size_t)(colon - journal_stream), &d) ||
        !read_u64(colon + 1, strlen(colon + 1), &i))
        return false;
    return d == dev && i == ino;
}

/* Copies text into out (room bytes with the NUL), control characters as
 * '?', cut at a UTF-8 boundary when it does not fit. */
static size_t put_text(char *out, size_t room, const char *text)
{
    if (room == 0)
        return 0;
    size_t n = strlen(text);
    if (n > room - 1) {
        n = room - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    return n;
}

static size_t format_text(const hd_log *log, const char *time, hd_log_level level,
                          const char *id, const char *msg, char *out, size_t cap)
{
    int n;
    if (log->journal)
        n = snprintf(out, cap, "<%d>%s: ", hd_log_priority(level), hd_log_level_name(level));
    else
        n = snprintf(out, cap, "%s%s%s %s: ", time, time[0] ? " " : "",
                     log->ident ? log->ident : "herald", hd_log_level_name(level));
    size_t o = n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
    if (id != NULL && id[0] != '\0') {
        o += put_text(out + o, cap - o, id);
        o += put_text(out + o, cap - o, ": ");
    }
    return o + put_text(out + o, cap - o, msg);
}

/* {"time":...,"level":...,"id":...,"msg":...}; a message that does not
 * fit is cut and the line said so ("truncated":true). */
static size_t format_json(const hd_log *log, const char *time, hd_log_level level,
                          const char *id, const char *msg, char *out, size_t cap)
{
    size_t o = 0;
    if (log->journal)
        o = (size_t)snprintf(out, cap, "<%d>", hd_log_priority(level));
    json_t *j = json_object();
    if (j != NULL) {
        if (time[0])
            json_object_set_new(j, "time", json_string(time));
        json_object_set_new(j, "level", json_string(hd_log_level_name(level)));
        if (id != NULL && id[0] != '\0')
            json_object_set_new(j, "id", hd_json_text(id));
        json_object_set_new(j, "msg", hd_json_text(msg));
    }
    size_t n = j ? json_dumpb(j, out + o, cap - o - 1, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    if (n > 0 && n <= cap - o - 1) {
        json_decref(j);
        out[o + n] = '\0';
        return o + n;
    }
    /* too long (or no memory): the message cut to what is left */
    char cut[HD_LOG_LINE_MAX / 2];
    put_text(cut, sizeof cut < cap / 2 ? sizeof cut : cap / 2, msg);
    if (j != NULL) {
        json_object_set_new(j, "msg", hd_json_text(cut));
        json_object_set_new(j, "truncated", json_true());
        n = json_dumpb(j, out + o, cap - o - 1, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
    }
    if (n == 0 || n > cap - o - 1) {
        n = (size_t)snprintf(out + o, cap - o, "{\"level\":\"%s\",\"msg\":\"(unwritable)\"}",
                             hd_log_level_name(level));
        return o + (n < cap - o ? n : cap - o - 1);
    }
    out[o + n] = '\0';
    return o + n;
}

size_t hd_log_format_line(const hd_log *log, int64_t now_ms, hd_log_level level, const char *id,
                          const char *msg, char *out, size_t cap)
{
    char time[HD_JSON_TIME_LEN] = "";
    /* journald stamps each line itself; JSON keeps its field */
    if (log->clock != NULL && !(log->journal && log->format == HD_LOG_TEXT))
        hd_json_time(now_ms, time);
    if (log->format == HD_LOG_JSON)
        return format_json(log, time, level, id, msg, out, cap);
    return format_text(log, time, level, id, msg, out, cap);
}

static void log_v(const hd_log *log, hd_log_level level, const char *id, const char *fmt,
                  va_list ap) __attribute__((format(printf, 4, 0)));

static void log_v(const hd_log *log, hd_log_level level, const char *id, const char *fmt,
                  va_list ap)
{
    char msg[HD_LOG_LINE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char line[HD_LOG_LINE_MAX + 256];
    size_t n = hd_log_format_line(log, log->clock ? log->clock() : 0, level, id, msg, line,
                                  sizeof line - 1);
    if (log->sink != NULL) {
        log->sink(log->sink_arg, level, line);
        return;
    }
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

void hd_log_msg(const hd_log *log, hd_log_level level, const char *fmt, ...)
{
    if (log == NULL || level > log->max)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_v(log, level, NULL, fmt, ap);
    va_end(ap);
}

void hd_log_msg_id(const hd_log *log, hd_log_level level, const char *id, const char *fmt, ...)
{
    if (log == NULL || level > log->max)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_v(log, level, id, fmt, ap);
    va_end(ap);
}
