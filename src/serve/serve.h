/*
 * serve.h - `herald serve` as the command line sees it: run the server,
 * check its configuration first. serve.c wires the rooms together
 * (engine.h describes them and their threads).
 */
#ifndef HERALD_SERVE_H
#define HERALD_SERVE_H

#include <stdbool.h>

#include <herald/config.h>
#include <herald/err.h>
#include <herald/report.h>

/* What the operator told `herald serve` beyond the configuration. */
typedef struct serve_options {
    bool new_verp_key; /* make a new verp.key though messages were sent with the lost one */
} serve_options;
int serve_run(hd_config *cfg, const serve_options *opt, hd_err *err);

/* Sets the server's log from the configuration (serve.c). */
void serve_log_init(const hd_config *cfg);
/* A warning line in that log (the configuration check's, at start). */
void serve_log_warning(const char *text);

/* ---- the configuration's files and domains (check.c) ---- */
typedef void (*serve_warn_fn)(void *arg, const char *text);
/* What `serve --check` checks and `serve` before it starts: the files the
 * configuration names open and parse, each [domain NAME] is a sending
 * domain of the data directory; creates nothing. An error is the
 * configuration's (*config_fault, "FILE:LINE: [section] key: reason") or
 * the database's. warn gets what is allowed but likely wrong (real
 * delivery with hostname = localhost or with no sending domain). */
int serve_check_config(const hd_config *cfg, serve_warn_fn warn, void *arg, bool *config_fault,
                       hd_err *err);

/* ---- the bounce rules of a configuration (check.c; loaded once at start) ---- */
/* [inbound] hard_reasons as a set; an unknown name is a configuration
 * error (FILE:LINE). */
int serve_hard_reasons(const hd_config *cfg, hd_bounce_reasons *out, hd_err *err);
/* The bounce rule set: [inbound] bounce_rules (at most 1 MiB), else the
 * built-in one; the one reader for --check, start and the server (a bad
 * file is FILE:LINE: [inbound] bounce_rules: ...). */
int serve_load_bounce_rules(const hd_config *cfg, hd_report_rules **out, hd_err *err);

/* data/bounce-rules.txt, built in (generated/bounce_rules.c) */
extern const unsigned char serve_bounce_rules[];
extern const size_t serve_bounce_rules_len;

/* Whether the session and connection caps fit under the hard limit of
 * open files (serve.c); a configuration error with the numbers if not. */
int serve_fd_check(const hd_config *cfg, hd_err *err);

#endif
