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

/* Times in every JSON output are RFC 3339 UTC strings (RFC 3339 §5.6),
 * with milliseconds only where the source has them; a Unix time beside
 * one is named <field>_unix (integer seconds). */

/* An instant (Unix milliseconds) as RFC 3339 UTC with milliseconds:
 * "2026-11-27T08:00:00.123Z". */
void hd_json_time(int64_t ms, char out[HD_JSON_TIME_LEN]);

/* An instant (Unix seconds) as RFC 3339 UTC: "2026-11-27T08:00:00Z". */
void hd_json_time_secs(int64_t secs, char out[HD_JSON_TIME_LEN]);

/* The same as JSON strings (NULL only when out of memory). */
json_t *hd_json_time_ms_value(int64_t ms);
json_t *hd_json_time_value(int64_t secs);

/* Sets key to the time (seconds) and key_unix to the integer beside it:
 * {"created": "2026-11-27T08:00:00Z", "created_unix": 1795766400}. A time
 * of 0 ("never", "not yet") sets both to null. 0 or HD_ENOMEM. */
int hd_json_set_time(json_t *obj, const char *key, int64_t secs);

#endif
