/*
 * log.c - the program's log lines. Only the program (cli/, serve/) logs.
 */
#include <herald/log.h>

#include <stdarg.h>
#include <stdio.h>

static const char *const level_names[] = {"error", "warning", "info", "debug"};

const char *hd_log_level_name(hd_log_level level)
{
    if ((unsigned)level < sizeof level_names / sizeof level_names[0])
        return level_names[level];
    return "?";
}

void hd_log_init(hd_log *log, const char *ident, hd_log_level max)
{
    log->max = max;
    log->ident = ident;
    log->sink = NULL;
    log->sink_arg = NULL;
}

void hd_log_msg(const hd_log *log, hd_log_level level, const char *fmt, ...)
{
    if (log == NULL || level > log->max)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log->sink != NULL) {
        log->sink(log->sink_arg, level, line);
        return;
    }
    fprintf(stderr, "%s: %s: %s\n", log->ident ? log->ident : "herald",
            hd_log_level_name(level), line);
}
