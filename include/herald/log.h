/*
 * herald/log.h - the program's logging: one line per event, to stderr or a
 * caller-given sink. Libraries never log (docs/style.md rule 7); they return errors
 * and offer trace callbacks, which the program routes here.
 *
 * A line carries the time (RFC 3339 UTC, milliseconds), the level as
 * log_level spells it (error, warn, info, debug), the id of the session,
 * message or request it is about when there is one, and the text. Three
 * shapes (docs/config.md, [log]):
 *
 *     text     2026-12-07T19:10:00.123Z herald info: 9f0c...: delivered to ...
 *     json     {"time":"2026-12-07T19:10:00.123Z","level":"info","id":"9f0c...","msg":"delivered to ..."}
 *     journal  <6>info: 9f0c...: delivered to ...
 *
 * The journal shape is the text one for systemd's journal, which adds the
 * time itself and reads the syslog priority from the "<N>" prefix
 * (sd-daemon(3)); json under the journal keeps its time and gets the
 * prefix. Control characters in the text become '?' so that one event
 * stays one line.
 */
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hd_log_level {
    HD_LOG_ERROR,
    HD_LOG_WARN,
    HD_LOG_INFO,
    HD_LOG_DEBUG,
} hd_log_level;

typedef enum hd_log_format {
    HD_LOG_TEXT,
    HD_LOG_JSON,
} hd_log_format;

/* Gets each formatted line (without its newline). */
typedef void (*hd_log_sink)(void *arg, hd_log_level level, const char *line);

/* The program's clock: Unix milliseconds (the library reads no clock). */
typedef int64_t (*hd_log_clock)(void);

typedef struct hd_log {
    hd_log_level max;     /* events above this level are dropped */
    const char *ident;    /* program name, e.g. "herald" */
    hd_log_format format; /* HD_LOG_TEXT */
    bool journal;         /* stderr is systemd's journal: "<N>" prefix, no time in text */
    hd_log_clock clock;   /* NULL: lines carry no time */
    hd_log_sink sink;     /* NULL: stderr */
    void *sink_arg;
} hd_log;

/* Longest line written (the text is cut, at a UTF-8 boundary, to fit). */
#define HD_LOG_LINE_MAX 2048

void hd_log_init(hd_log *log, const char *ident, hd_log_level max);
void hd_log_msg(const hd_log *log, hd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same about a session, message or request: id (borrowed; NULL or ""
 * for none) is a field of its own in json and "ID: " before the text. */
void hd_log_msg_id(const hd_log *log, hd_log_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The level as log_level spells it: "error", "warn", "info", "debug". */
const char *hd_log_level_name(hd_log_level level);
/* The level named by log_level; false for another word. */
bool hd_log_level_parse(const char *name, hd_log_level *out);
/* "text" or "json"; false for another word. */
bool hd_log_format_parse(const char *name, hd_log_format *out);
/* Its syslog priority (RFC 5424 §6.2.1): 3, 4, 6, 7. */
int hd_log_priority(hd_log_level level);

/* One line, pure: what hd_log_msg writes for msg at now_ms (ignored
 * without log->clock). Writes at most cap bytes with the NUL (cap >= 64);
 * returns the length written. */
size_t hd_log_format_line(const hd_log *log, int64_t now_ms, hd_log_level level, const char *id,
                          const char *msg, char *out, size_t cap);

/* Whether stderr is systemd's journal: JOURNAL_STREAM ("DEVICE:INODE", in
 * decimal; systemd.exec(5)) names the device and inode stderr has. NULL
 * or anything else: false. */
bool hd_log_journal_stream(const char *journal_stream, uint64_t dev, uint64_t ino);

#endif
