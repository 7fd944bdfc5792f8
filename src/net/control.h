/*
 * control.h - talking to a running server over its control socket
 * (data_dir/control.sock): one HTTP/1.0 POST, the answer's status and body.
 */
#ifndef HERALD_NET_CONTROL_H
#define HERALD_NET_CONTROL_H

#include <stddef.h>

#include <herald/err.h>

/* POST path; *status gets the HTTP status, body the answer's body (cut to
 * size). HD_ENOTFOUND when no server listens there (no socket, or a stale
 * one); HD_EIO when it cannot be reached or answers wrongly. */
int net_control_post(const char *data_dir, const char *path, int *status, char *body,
                     size_t size, hd_err *err);

#endif
