/*
 * sdnotify.c - the sd_notify(3) datagram protocol, without libsystemd.
 *
 * $NOTIFY_SOCKET names an AF_UNIX datagram socket: a path ("/run/systemd/
 * notify") or, when it starts with '@', a name in the abstract namespace
 * (the '@' becomes a NUL byte). One datagram carries newline-separated
 * assignments; systemd reads READY=1, RELOADING=1, STOPPING=1, STATUS=,
 * MAINPID= and MONOTONIC_USEC=.
 */
#include "net/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int net_sd_notify(const char *state, hd_err *err)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len > sizeof sa.sun_path)
        return hd_err_set(err, HD_EINVAL,
                          "NOTIFY_SOCKET=\"%.100s\": not a socket path or an @abstract name", name);
    memcpy(sa.sun_path, name, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "NOTIFY_SOCKET: socket: %s", strerror(errno));
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, sa_len);
    int saved = errno;
    close(fd);
    if (n < 0)
        return hd_err_set(err, HD_EIO, "NOTIFY_SOCKET=%s: %s", name, strerror(saved));
    return 0;
}

unsigned long long net_sd_monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u;
}
