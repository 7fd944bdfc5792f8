/*
 * backoff.c - a destination's pause after trouble (herald/backoff.h):
 * HD_BACKOFF_FIRST doubling per consecutive trouble, capped by cause.
 * Pure: no clock, no state.
 */
#include <herald/backoff.h>

int64_t hd_backoff_pause(unsigned troubles, hd_backoff_cause cause)
{
    int64_t cap = cause == HD_BACKOFF_UNREACHABLE ? HD_BACKOFF_UNREACHABLE_MAX
                                                  : HD_BACKOFF_PUSHBACK_MAX;
    int64_t pause = HD_BACKOFF_FIRST;
    for (unsigned i = 1; i < troubles && pause < cap; i++)
        pause *= 2;
    return pause < cap ? pause : cap;
}
