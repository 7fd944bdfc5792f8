/*
 * herald/json.h - what herald's JSON outputs (the API, webhooks, verdicts,
 * the CLI's --json) write the same way everywhere.
 */
#ifndef HERALD_JSON_H
#define HERALD_JSON_H

#include <stdint.h>

#include <jansson.h>

/* A JSON string of s. Text that came from outside (a remote server's
 * reply, a message's header, a DNS record) may hold bytes that are not
 * UTF-8, which jansson refuses: each byte of an ill-formed sequence
 * (RFC 3629 §4) becomes '?', well-formed ones are kept. NULL only when out
 * of memory. */
json_t *hd_json_text(const char *s);

#define HD_JSON_TIME_LEN 32

/* An instant (Unix milliseconds) as RFC 3339 UTC with milliseconds:
 * "2026-11-27T08:00:00.123Z". */
void hd_json_time(int64_t ms, char out[HD_JSON_TIME_LEN]);

#endif
