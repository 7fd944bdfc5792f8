/*
 * cli.h - what the `herald` subcommands share: exit codes, input reading,
 * the DNS options, JSON output.
 *
 * Only the program exits; each command returns one of these codes to
 * main(). The codes follow sysexits(3) so scripts can tell a usage error
 * from a bad message from a temporary failure.
 */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <herald/buf.h>
#include <herald/dns.h>
#include <herald/err.h>

enum {
    CLI_OK = 0,          /* success; for verify: a signature passed */
    CLI_FAIL = 1,        /* verify: signatures present, none passed */
    CLI_NONE = 2,        /* verify: no signature */
    CLI_USAGE = 64,      /* bad command line */
    CLI_DATAERR = 65,    /* input could not be parsed */
    CLI_NOINPUT = 66,    /* an input file is missing or unreadable */
    CLI_SOFTWARE = 70,   /* internal error */
    CLI_CANTCREAT = 73,  /* an output file could not be created */
    CLI_TEMPFAIL = 75,   /* temporary failure (DNS): try again later */
    CLI_NOPERM = 77,     /* a file or directory is closed to this user */
    CLI_CONFIG = 78,     /* bad configuration file */
};

typedef struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_cmd;

/* Dispatch argv[1] among cmds (with "help"); prints usage for unknown. */
int cli_dispatch(const char *prog, const cli_cmd *cmds, int argc, char **argv);

/* The name of names (NULL-terminated) that name was most likely meant to
 * be: the only one it begins (2 bytes at least), else the nearest within
 * two edits (and fewer than its length); NULL when none is near. */
const char *cli_nearest(const char *const *names, const char *name);

/* Print "herald: " + message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole file ("-" or NULL: standard input), at most max bytes. */
int cli_read_input(const char *path, size_t max, hd_buf *out);

/* DNS back end from --dns-zone FILE or --dns-server ADDR[@PORT]. */
typedef struct cli_dns_opts {
    const char *zone;
    const char *server;
    unsigned timeout_ms;
} cli_dns_opts;

int cli_dns_open(const cli_dns_opts *o, hd_dns **out);

/* The DNS options every command that looks up DNS takes: its longopts
 * entries, and their handling (false, with the error printed, when the
 * value is bad). */
#define CLI_DNS_LONGOPTS                                                                    \
    {"dns-zone", required_argument, NULL, 'Z'}, {"dns-server", required_argument, NULL, 'D'}, \
        {"dns-timeout", required_argument, NULL, 'W'}
#define CLI_DNS_CASES case 'Z': case 'D': case 'W'
bool cli_dns_option(int opt, const char *arg, cli_dns_opts *o);

/* Parse a decimal integer option; false (and an error printed) if bad. */
bool cli_parse_long(const char *opt, const char *arg, long long min, long long max,
                    long long *out);

/* The help text for the DNS options, to include in --help. */
#define CLI_DNS_HELP                                                                    \
    "      --dns-zone FILE      answer DNS from a zone fixture file (offline)\n"        \
    "      --dns-server ADDR[@PORT]  ask this DNS server (e.g. 127.0.0.1@5353);\n"      \
    "                           default: the system resolver (/etc/resolv.conf)\n"      \
    "      --dns-timeout MS     per-query timeout (default 5000)\n"

/* Subcommand groups. */
int cmd_dkim(int argc, char **argv);
int cmd_spf(int argc, char **argv);
int cmd_dmarc(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_arc(int argc, char **argv);
int cmd_domain(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_queue(int argc, char **argv);
int cmd_queue_recover(int argc, char **argv);   /* cmd_recover.c */
int cmd_events(int argc, char **argv);
int cmd_captures(int argc, char **argv);
int cmd_apikey(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_webhooks(int argc, char **argv);
int cmd_inbound(int argc, char **argv);

/* The server's configuration: the file, or the embedded defaults when
 * path is NULL; errors printed, CLI_CONFIG/CLI_NOINPUT returned. */
struct hd_config;
int cli_load_config(const char *path, struct hd_config **out);
/* The data directory: data_dir if given, else the config's (file or
 * defaults). *out is malloc'ed. */
int cli_data_dir(const char *config, const char *data_dir, char **out);
/* Open that data directory's database for reading only: nothing is
 * created or changed. A missing directory or database is CLI_NOINPUT with
 * hint (NULL: "has the server run ...?") in the message; one closed to
 * this user is CLI_NOPERM naming the file. */
struct hd_store;
int cli_open_store(const char *config, const char *data_dir, const char *hint,
                   struct hd_store **st);
/* The same for a command that changes the database (which must exist). */
int cli_open_store_rw(const char *config, const char *data_dir, const char *hint,
                      struct hd_store **st);


/* Telling a running server that the sending domains or keys changed
 * (server.c): POST /reload on data_dir's control socket. */
typedef enum cli_server {
    CLI_SERVER_RELOADED,    /* it answered: a new snapshot is in use */
    CLI_SERVER_NOT_RUNNING, /* no server on that data directory */
    CLI_SERVER_NOT_TOLD,    /* one may run but could not be told: why says why */
} cli_server;
cli_server cli_reload_server(const char *data_dir, char *why, size_t size);
#define CLI_SERVER_WHY_MAX 320
/* "reloaded", "not running", "not told" (JSON output). */
const char *cli_server_word(cli_server s);
/* Say what became of it: a line on stdout starting with prefix ("; herald: "
 * in zone output), or a warning on stderr when it could not be told. */
void cli_server_say(cli_server s, const char *why, const char *data_dir, const char *prefix);

#endif
