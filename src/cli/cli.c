/*
 * cli.c - helpers shared by the subcommands.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("herald: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Optimal string alignment distance between a and b (insertions,
 * deletions, substitutions and swaps of neighbours, each 1); names longer
 * than 32 bytes are far from every command. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAX = 32 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return MAX;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *cli_nearest(const char *const *names, const char *name)
{
    const char *best = NULL, *prefixed = NULL;
    size_t best_d = 3, n_prefixed = 0, len = strlen(name);
    for (const char *const *c = names; *c; c++) {
        if (len >= 2 && strncmp(*c, name, len) == 0) {
            prefixed = *c;
            n_prefixed++;
        }
        size_t d = edit_distance(name, *c);
        if (d < best_d && d < len) {
            best_d = d;
            best = *c;
        }
    }
    return n_prefixed == 1 ? prefixed : best;
}

static const char *nearest_command(const cli_cmd *cmds, const char *name)
{
    const char *names[64];
    size_t n = 0;
    for (const cli_cmd *c = cmds; c->name && n < 63; c++)
        names[n++] = c->name;
    names[n] = NULL;
    return cli_nearest(names, name);
}

int cli_dispatch(const char *prog, const cli_cmd *cmds, int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : NULL;
    bool help = name == NULL || strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 ||
                strcmp(name, "-h") == 0;
    if (help && argc > 2) { /* "herald help dkim" = "herald dkim --help" */
        for (const cli_cmd *c = cmds; c->name; c++)
            if (strcmp(c->name, argv[2]) == 0) {
                char *sub[] = {argv[2], "--help", NULL};
                return c->run(2, sub);
            }
    }
    if (!help) {
        for (const cli_cmd *c = cmds; c->name; c++)
            if (strcmp(c->name, name) == 0)
                return c->run(argc - 1, argv + 1);
        const char *near = nearest_command(cmds, name);
        if (near)
            cli_error("unknown command \"%s\": did you mean \"%s %s\"? (see \"%s help\")",
                      name, prog, near, prog);
        else
            cli_error("unknown command \"%s\" (see \"%s help\")", name, prog);
    }
    FILE *out = help ? stdout : stderr;
    fprintf(out, "usage: %s COMMAND [ARGS]\n\ncommands:\n", prog);
    for (const cli_cmd *c = cmds; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\n\"%s COMMAND --help\" tells more. Exit codes: docs/cli.md.\n", prog);
    return help ? CLI_OK : CLI_USAGE;
}

int cli_read_input(const char *path, size_t max, hd_buf *out)
{
    bool is_stdin = path == NULL || strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        cli_error("%s: cannot open: %s", path, strerror(errno));
        return CLI_NOINPUT;
    }
    hd_buf_init(out, max);
    uint8_t chunk[65536];
    size_t n;
    int rc = CLI_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (hd_buf_append(out, chunk, n) != 0) {
            cli_error("%s: larger than the %zu-byte limit", is_stdin ? "standard input" : path, max);
            rc = CLI_DATAERR;
            break;
        }
    }
    if (rc == CLI_OK && ferror(f)) {
        cli_error("%s: read error", is_stdin ? "standard input" : path);
        rc = CLI_NOINPUT;
    }
    if (!is_stdin)
        fclose(f);
    if (rc != CLI_OK)
        hd_buf_free(out);
    return rc;
}

int cli_dns_open(const cli_dns_opts *o, hd_dns **out)
{
    hd_err err;
    hd_err_clear(&err);
    int rc;
    if (o->zone != NULL && o->server != NULL) {
        cli_error("give --dns-zone or --dns-server, not both");
        return CLI_USAGE;
    }
    if (o->zone != NULL) {
        rc = hd_dns_new_zone_file(out, o->zone, &err);
    } else {
        hd_dns_config cfg = {o->server, o->timeout_ms, NULL};
        rc = hd_dns_new_unbound(out, &cfg, &err);
    }
    if (rc != 0) {
        cli_error("DNS: %s", hd_err_str(&err));
        return rc == HD_EIO ? CLI_NOINPUT : rc == HD_ESYNTAX ? CLI_DATAERR : CLI_USAGE;
    }
    return CLI_OK;
}

bool cli_dns_option(int opt, const char *arg, cli_dns_opts *o)
{
    long long ms;
    switch (opt) {
    case 'Z':
        o->zone = arg;
        return true;
    case 'D':
        o->server = arg;
        return true;
    default:
        if (!cli_parse_long("--dns-timeout", arg, 1, 600000, &ms))
            return false;
        o->timeout_ms = (unsigned)ms;
        return true;
    }
}

bool cli_parse_long(const char *opt, const char *arg, long long min, long long max,
                    long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < min || v > max) {
        cli_error("%s: \"%s\" is not a number in %lld..%lld", opt, arg, min, max);
        return false;
    }
    *out = v;
    return true;
}
