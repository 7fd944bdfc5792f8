/*
 * herald/log.h - the program's logging: one line per event, to stderr or a
 * caller-given sink. Libraries never log (docs/style.md rule 7); they return errors
 * and offer trace callbacks, which the program routes here.
 */
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

typedef enum hd_log_level {
    HD_LOG_ERROR,
    HD_LOG_WARN,
    HD_LOG_INFO,
    HD_LOG_DEBUG,
} hd_log_level;

typedef void (*hd_log_sink)(void *arg, hd_log_level level, const char *line);

typedef struct hd_log {
    hd_log_level max;   /* events above this level are dropped */
    const char *ident;  /* program name, e.g. "herald" */
    hd_log_sink sink;   /* NULL: stderr */
    void *sink_arg;
} hd_log;

void hd_log_init(hd_log *log, const char *ident, hd_log_level max);
void hd_log_msg(const hd_log *log, hd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *hd_log_level_name(hd_log_level level);

#endif
