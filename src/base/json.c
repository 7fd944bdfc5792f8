/*
 * json.c - JSON strings of outside text, and times, as every output of
 * herald writes them (herald/json.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <herald/err.h>
#include <herald/json.h>

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 §4), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool bad = cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF);
    return overlong || bad ? 0 : len;
}

json_t *hd_json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    size_t n = strlen(s);
    char *clean = malloc(n + 1);
    if (clean == NULL)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(p + i, n - i);
        if (len == 0) {
            clean[i++] = '?';
        } else {
            memcpy(clean + i, p + i, len);
            i += len;
        }
    }
    clean[n] = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

void hd_json_time(int64_t ms, char out[HD_JSON_TIME_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    struct tm tm;
    if (gmtime_r(&secs, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    snprintf(out, HD_JSON_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void hd_json_time_secs(int64_t secs, char out[HD_JSON_TIME_LEN])
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    snprintf(out, HD_JSON_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

json_t *hd_json_time_ms_value(int64_t ms)
{
    char s[HD_JSON_TIME_LEN];
    hd_json_time(ms, s);
    return json_string(s);
}

json_t *hd_json_time_value(int64_t secs)
{
    char s[HD_JSON_TIME_LEN];
    hd_json_time_secs(secs, s);
    return json_string(s);
}

int hd_json_set_time(json_t *obj, const char *key, int64_t secs)
{
    char unix_key[128];
    if (snprintf(unix_key, sizeof unix_key, "%s_unix", key) >= (int)sizeof unix_key)
        return HD_EINVAL;
    json_t *t = secs ? hd_json_time_value(secs) : json_null();
    json_t *u = secs ? json_integer(secs) : json_null();
    if (!t || !u) {
        json_decref(t);
        json_decref(u);
        return HD_ENOMEM;
    }
    if (json_object_set_new(obj, key, t) != 0) { /* it took t either way */
        json_decref(u);
        return HD_ENOMEM;
    }
    return json_object_set_new(obj, unix_key, u) == 0 ? 0 : HD_ENOMEM;
}
