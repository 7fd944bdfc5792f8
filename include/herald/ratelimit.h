/*
 * herald/ratelimit.h - "at most one of these per key per window": the
 * guard that keeps an attack from writing the log for the attacker. A
 * refusal repeated by one client (or an error repeated by the system, such
 * as EMFILE at accept) is logged once a window; the next line let through
 * says how many like it were held back in between.
 *
 * Pure: the caller gives the time. Keys are hashed (64-bit FNV-1a), not
 * kept; the table has a fixed number of slots, in sets of four, and a new
 * key takes the oldest slot of its set, so memory stays the same whatever
 * the number of clients. Not thread-safe: one table per thread, or a lock
 * around it (serve's LOG_LIMITED holds one).
 */
#ifndef HERALD_RATELIMIT_H
#define HERALD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hd_ratelimit hd_ratelimit;

/* A table of about slots keys (rounded up to a multiple of 4, at least 4)
 * letting one event per key through every window_ms. NULL: out of memory. */
hd_ratelimit *hd_ratelimit_new(size_t slots, int64_t window_ms);
void hd_ratelimit_free(hd_ratelimit *rl);

/* Whether the event named by kind and who (either may be NULL) at now_ms
 * may go through: the first of its key in each window does. When it does,
 * *held (if not NULL) gets how many events of that key were held back since
 * the last one let through. */
bool hd_ratelimit_allow(hd_ratelimit *rl, const char *kind, const char *who, int64_t now_ms,
                        uint64_t *held);

#endif
