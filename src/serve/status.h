/*
 * status.h - the status endpoint of `herald serve` (status.c): /health,
 * /metrics and the control socket. On top of the rooms: it reads them all.
 */
#ifndef HERALD_SERVE_STATUS_H
#define HERALD_SERVE_STATUS_H

#include "serve/engine.h"

int status_start(serve *sv, hd_err *err);
void status_stop(serve *sv);

#endif
