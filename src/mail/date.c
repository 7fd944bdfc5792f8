/*
 * date.c - the RFC 5322 §3.3 date-time herald writes (Date fields of
 * submitted and composed mail, Received fields).
 */
#include <stdio.h>
#include <time.h>

#include <herald/mail.h>

void hd_mail_date(int64_t t, char out[40])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    /* RFC 5322's year is 4*DIGIT: keep to 0000-9999 */
    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        time_t zero = 0;
        gmtime_r(&zero, &tm);
    }
    snprintf(out, 40, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
