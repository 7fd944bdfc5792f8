/*
 * server.c - telling a running `herald serve` that the database changed.
 *
 * The server keeps a snapshot of the sending domains and their keys (a
 * message is signed without a database read); `herald domain add|remove|
 * rotate-key` change the database and then ask the server on the same data
 * directory to take a new snapshot, over its control socket (POST /reload,
 * the same as SIGHUP). Users and API keys need no telling: the server reads
 * them at each login and each request.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "net/control.h"

cli_server cli_reload_server(const char *data_dir, char *why, size_t size)
{
    int status = 0;
    char body[512];
    hd_err err = {0};
    int rc = net_control_post(data_dir, "/reload", &status, body, sizeof body, &err);
    if (rc == HD_ENOTFOUND)
        return CLI_SERVER_NOT_RUNNING;
    if (rc != 0) {
        snprintf(why, size, "%s", hd_err_str(&err));
        return CLI_SERVER_NOT_TOLD;
    }
    if (status != 200) {
        snprintf(why, size, "the server answered %d %s; its log says why", status, body);
        return CLI_SERVER_NOT_TOLD;
    }
    return CLI_SERVER_RELOADED;
}

const char *cli_server_word(cli_server s)
{
    return s == CLI_SERVER_RELOADED      ? "reloaded"
           : s == CLI_SERVER_NOT_RUNNING ? "not running"
                                         : "not told";
}

void cli_server_say(cli_server s, const char *why, const char *data_dir, const char *prefix)
{
    if (s == CLI_SERVER_RELOADED)
        printf("%sthe running server has reloaded its sending domains and keys\n", prefix);
    else if (s == CLI_SERVER_NOT_RUNNING)
        printf("%sno server is running on %s; it reads this when it starts\n", prefix, data_dir);
    else
        cli_error("warning: the running server was not told (%s); reload it: systemctl reload "
                  "herald, or kill -HUP its process",
                  why);
}
