/*
 * sdnotify.h - telling a service manager (systemd) how `herald serve` is
 * doing, through the documented notification socket protocol (sd_notify(3):
 * one datagram of "KEY=VALUE" lines to the AF_UNIX socket named in
 * $NOTIFY_SOCKET). Written here rather than linking libsystemd: the protocol
 * is one sendto(), and herald then runs the same with or without systemd.
 */
#ifndef HERALD_NET_SDNOTIFY_H
#define HERALD_NET_SDNOTIFY_H

#include <herald/err.h>

/* Send state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. Returns 0
 * when sent, or when no service manager asked (no $NOTIFY_SOCKET): a
 * program not started by systemd has nobody to tell. HD_EINVAL for a
 * socket name that is not a path or an abstract name, HD_EIO when the
 * datagram cannot be sent; err says which socket and why. */
int net_sd_notify(const char *state, hd_err *err);

/* The CLOCK_MONOTONIC time in microseconds, for RELOADING=1's
 * MONOTONIC_USEC= (systemd.service(5), Type=notify-reload). */
unsigned long long net_sd_monotonic_usec(void);

#endif
