/*
 * control.c - the CLI side of the control socket (see control.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/control.h"

#define CONTROL_TIMEOUT_S 10

int net_control_post(const char *data_dir, const char *path, int *status, char *body,
                     size_t size, hd_err *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int n = snprintf(sun.sun_path, sizeof sun.sun_path, "%s/control.sock", data_dir);
    if (n < 0 || (size_t)n >= sizeof sun.sun_path)
        return hd_err_set(err, HD_ELIMIT, "%s/control.sock: path too long", data_dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "socket: %s", strerror(errno));
    struct timeval tv = {CONTROL_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        int e = errno;
        close(fd);
        /* no socket, or one left by a server that stopped: nobody listens */
        return hd_err_set(err, e == ENOENT || e == ECONNREFUSED ? HD_ENOTFOUND : HD_EIO,
                          "no server is running on %s (%s)", sun.sun_path, strerror(e));
    }
    char req[512];
    int len = snprintf(req, sizeof req, "POST %s HTTP/1.0\r\nHost: herald\r\nContent-Length: 0\r\n\r\n", path);
    if (len < 0 || (size_t)len >= sizeof req || write(fd, req, (size_t)len) != len) {
        close(fd);
        return hd_err_set(err, HD_EIO, "control request failed");
    }
    char resp[8192];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof resp - 1 && (r = read(fd, resp + got, sizeof resp - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = '\0';
    /* "HTTP/1.x NNN ..." */
    if (got < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
        return hd_err_set(err, HD_EIO, "the server's control answer is not HTTP");
    *status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, size, "%s", b ? b + 4 : "");
    size_t bl = strlen(body);
    while (bl > 0 && (body[bl - 1] == '\n' || body[bl - 1] == '\r'))
        body[--bl] = '\0';
    return 0;
}
