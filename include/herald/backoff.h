/*
 * herald/backoff.h - how long a destination rests after trouble: the
 * delivery policy's pause, as a pure function of the trouble so far.
 *
 * A destination (a recipient domain and a source-address pool) whose
 * connection ended in trouble gets no new connection until the pause is
 * over; then one connection probes it. The pause doubles with each probe
 * that fails in turn, from HD_BACKOFF_FIRST, up to a cap that depends on
 * the cause:
 *   - no host took the connection (refused, unreachable, no answer, the
 *     MX lookup failed): a probe costs the receiver nothing, and mail
 *     should flow again soon after the host comes back, so the pause stops
 *     growing at HD_BACKOFF_UNREACHABLE_MAX;
 *   - a receiver answered and pushed back (421, 4xx to MAIL or DATA, a
 *     session lost): it asked for less, and gets up to HD_BACKOFF_PUSHBACK_MAX.
 * Counting the trouble is the caller's: connections that were already
 * open when the pause began are one trouble, not one each.
 */
#ifndef HERALD_BACKOFF_H
#define HERALD_BACKOFF_H

#include <stdint.h>

typedef enum hd_backoff_cause {
    HD_BACKOFF_UNREACHABLE,     /* no host answered SMTP */
    HD_BACKOFF_PUSHBACK,        /* a host answered and pushed back */
} hd_backoff_cause;

#define HD_BACKOFF_FIRST 5              /* seconds: the pause after one trouble */
#define HD_BACKOFF_UNREACHABLE_MAX 60   /* seconds: a recovered host waits at most this */
#define HD_BACKOFF_PUSHBACK_MAX 300     /* seconds: a receiver that pushes back, 5 min */

/* The pause in seconds after troubles (>= 1; 0 is taken as 1) consecutive
 * troubled probes of one destination, the last one for cause. */
int64_t hd_backoff_pause(unsigned troubles, hd_backoff_cause cause);

#endif
