/*
 * cmd_serve.c - `herald serve`, and the data-directory options (and the
 * database behind them) that the other commands share with it.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <herald/config.h>
#include <herald/store.h>

#include "serve/serve.h"

static const char serve_help[] =
    "usage: herald serve [--config FILE] [--check] [--new-verp-key]\n"
    "                    [--accept-empty-database]\n"
    "\n"
    "Run the delivery server: SMTP submission, DKIM signing, the durable queue,\n"
    "delivery (sandbox capture by default), the status endpoint. Without\n"
    "--config it runs on the embedded defaults (docs/config.md): data in\n"
    "./herald-data, submission on 127.0.0.1:2525, status on 127.0.0.1:8025,\n"
    "sandbox delivery. SIGTERM/SIGINT stop it (the queue stays on disk);\n"
    "SIGHUP reloads the sending domains.\n"
    "\n"
    "  -c, --config FILE   the configuration file\n"
    "      --check         check the configuration and exit: the file, every file\n"
    "                      it names (TLS certificate and key, zone file, bounce\n"
    "                      rules, CA files), and that each [domain NAME] is a\n"
    "                      sending domain; warnings go to standard error\n"
    "      --new-verp-key  data_dir/verp.key is lost: make a new one though the\n"
    "                      database holds sent mail (its bounces are then refused;\n"
    "                      without this the server refuses to start)\n"
    "      --accept-empty-database\n"
    "                      start although herald.db holds no message while the\n"
    "                      spool holds accepted mail (a lost or replaced\n"
    "                      database): the spool's segments go to spool/orphan/,\n"
    "                      and `herald queue recover` queues their mail again\n"
    "\n"
    "Exit: 0 stopped cleanly (--check: configuration ok), 64 usage, 78 bad\n"
    "configuration (FILE:LINE: key: reason), 70 failed to start, 75 the data\n"
    "directory needs the operator (a lost verp.key, a damaged or lost database),\n"
    "77 no permission (a file herald may not open, or a key file others can read).\n";

int cli_load_config(const char *path, hd_config **out)
{
    hd_err err = {0};
    int rc = path ? hd_config_load(path, out, &err) : hd_config_defaults(out, &err);
    if (rc) {
        cli_error("%s", hd_err_str(&err));
        if (rc != HD_EIO)
            return CLI_CONFIG;
        /* the file could not be read: say whether it is ours to read */
        return access(path, R_OK) != 0 && (errno == EACCES || errno == EPERM) ? CLI_NOPERM
                                                                             : CLI_NOINPUT;
    }
    return CLI_OK;
}

int cli_data_dir(const char *config, const char *data_dir, char **out)
{
    if (data_dir) {
        *out = strdup(data_dir);
        return *out ? CLI_OK : CLI_SOFTWARE;
    }
    hd_config *cfg = NULL;
    int rc = cli_load_config(config, &cfg);
    if (rc)
        return rc;
    *out = strdup(cfg->data_dir);
    hd_config_free(cfg);
    return *out ? CLI_OK : CLI_SOFTWARE;
}

/* Open DIR/herald.db (read-only or for changes); a missing data directory
 * or database is named as such, a closed one with the file at fault. */
static int open_store(const char *config, const char *data_dir, const char *hint, bool write,
                      hd_store **st)
{
    *st = NULL;
    char *dir = NULL;
    int rc = cli_data_dir(config, data_dir, &dir);
    if (rc)
        return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", dir);
    if (!hint)
        hint = "has the server run with this data directory?";
    struct stat sb;
    if (stat(dir, &sb) != 0 && errno == ENOENT) {
        cli_error("%s: no such data directory (check --data-dir, or data_dir in the "
                  "configuration)", dir);
        free(dir);
        return CLI_NOINPUT;
    }
    free(dir);
    hd_err err = {0};
    if (write && access(path, F_OK) != 0 && errno == ENOENT)
        rc = HD_ENOTFOUND; /* a change needs the database: none is made here */
    else if (write) /* a change the CLI makes follows the server's durability rules */
        rc = hd_store_open(path, true, st, &err);
    else
        rc = hd_store_open_readonly(path, st, &err);
    if (rc == HD_ENOTFOUND) {
        cli_error("%s: no herald database (%s)", path, hint);
        return CLI_NOINPUT;
    }
    if (rc) {
        cli_error("%s", hd_err_str(&err));
        return rc == HD_EPERM ? CLI_NOPERM : rc == HD_ESTATE ? CLI_TEMPFAIL : CLI_NOINPUT;
    }
    return CLI_OK;
}

int cli_open_store(const char *config, const char *data_dir, const char *hint, hd_store **st)
{
    return open_store(config, data_dir, hint, false, st);
}

int cli_open_store_rw(const char *config, const char *data_dir, const char *hint, hd_store **st)
{
    return open_store(config, data_dir, hint, true, st);
}

/* Whether a configuration holding webhook secrets is open to more than the
 * server: any access by others or any group write is; group read is not
 * when the group is the one the server runs as: ours, or, when root runs
 * the check (`herald serve --check` before `systemctl start`), the group
 * that owns the data directory, the service's own (root:herald 0640 and
 * herald:herald /var/lib/herald, as the Debian package makes them). */
static bool config_exposed(const struct stat *st, const char *data_dir)
{
    if (st->st_mode & 0027)
        return true;
    if (!(st->st_mode & 0040) || st->st_gid == getegid())
        return false;
    struct stat d;
    return !(geteuid() == 0 && stat(data_dir, &d) == 0 && d.st_gid == st->st_gid);
}

/* --check: warnings on standard error, beside the verdict. */
static void warn_stderr(void *arg, const char *text)
{
    (void)arg;
    fprintf(stderr, "herald: warning: %s\n", text);
}

/* serve: a warning is a log line, where the operator looks. */
static void warn_log(void *arg, const char *text)
{
    (void)arg;
    serve_log_warning(text);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"new-verp-key", no_argument, NULL, 'V'},
        {"accept-empty-database", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *config = NULL;
    bool check = false, accept_empty = false;
    serve_options options = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'k': check = true; break;
        case 'V': options.new_verp_key = true; break;
        case 'E': accept_empty = true; break;
        case 'h': fputs(serve_help, stdout); return CLI_OK;
        default: fputs(serve_help, stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        fputs(serve_help, stderr);
        return CLI_USAGE;
    }
    hd_config *cfg = NULL;
    int rc = cli_load_config(config, &cfg);
    if (rc)
        return rc;
    /* webhook secrets live in the file: only its owner, and the group the
     * server runs as, may read it, as ssh refuses a private key others
     * can read */
    struct stat st;
    if (config && cfg->n_webhooks > 0 && stat(config, &st) == 0 &&
        config_exposed(&st, cfg->data_dir)) {
        cli_error("%s: holds webhook secrets but others may read or change it (mode %04o); "
                  "chmod 600 it, or 640 with the server's group as its group",
                  config, (unsigned)(st.st_mode & 07777));
        hd_config_free(cfg);
        return CLI_CONFIG;
    }
    if (accept_empty)
        cfg->queue.accept_empty_database = true;
    hd_err err = {0};
    bool config_fault = true;
    if (!check)
        serve_log_init(cfg);
    if (serve_check_config(cfg, check ? warn_stderr : warn_log, NULL, &config_fault, &err) != 0) {
        cli_error("%s", hd_err_str(&err));
        hd_config_free(cfg);
        return config_fault ? CLI_CONFIG : CLI_SOFTWARE;
    }
    if (check) {
        printf("%s: configuration ok\n", config ? config : "(embedded defaults)");
        hd_config_free(cfg);
        return CLI_OK;
    }
    rc = serve_run(cfg, &options, &err);
    hd_config_free(cfg);
    if (rc) {
        cli_error("%s", hd_err_str(&err));
        return rc == HD_ESTATE ? CLI_TEMPFAIL : rc == HD_EPERM ? CLI_NOPERM : CLI_SOFTWARE;
    }
    return CLI_OK;
}
