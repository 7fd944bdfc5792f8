/*
 * err.c - error values: the HD_E* table, and the hd_err that carries a code
 * with a human reason.
 */
#include <herald/err.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    const char *msg;
} err_table[] = {
#define HD_ERRNO_ROW(n, m) {HD_E##n, "HD_E" #n, m},
    HD_ERRNO_MAP(HD_ERRNO_ROW)
#undef HD_ERRNO_ROW
};

const char *hd_err_name(int code)
{
    if (code == 0)
        return "HD_OK";
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code)
            return err_table[i].name;
    return "HD_E?";
}

const char *hd_strerror(int code)
{
    if (code == 0)
        return "success";
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code)
            return err_table[i].msg;
    return "unknown error";
}

/* Messages go to logs and terminals one line each, and often quote
 * hostile input: control characters become '?'. */
static void make_printable(char *msg)
{
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

int hd_err_set(hd_err *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->msg, sizeof err->msg, "%s", hd_strerror(code));
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    make_printable(err->msg);
    return code;
}

int hd_err_prefix(hd_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return 0;
    char prefix[HD_ERR_MSG_MAX], old[HD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", hd_err_str(err));
    snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old);
    make_printable(err->msg);
    return err->code;
}

void hd_err_clear(hd_err *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

const char *hd_err_str(const hd_err *err)
{
    if (err == NULL)
        return "";
    if (err->msg[0] != '\0')
        return err->msg;
    return hd_strerror(err->code);
}
