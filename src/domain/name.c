/*
 * name.c - domain names, host names and selectors as herald accepts them
 * for publishing: LDH labels only (no underscores, no IDN U-labels; an IDN
 * is given in its xn-- A-label form).
 */
#include "domain/domain_int.h"

#include <string.h>

/* RFC 1035 §2.3.4: 63 bytes a label, 255 a name on the wire, so 253 in
 * text without the trailing dot. */
#define LABEL_MAX 63
#define NAME_MAX_TEXT 253

static bool is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* One label s[0..len): RFC 1035 §2.3.1 letters, digits, hyphens, not at
 * either end (RFC 1123 §2.1 allows a leading digit). */
static const char *label_problem(const char *s, size_t len)
{
    if (len == 0)
        return "has an empty label";
    if (len > LABEL_MAX)
        return "has a label longer than 63 bytes";
    for (size_t i = 0; i < len; i++)
        if (!is_ldh(s[i]))
            return "may hold only letters, digits, '-' and '.'";
    if (s[0] == '-' || s[len - 1] == '-')
        return "has a label that starts or ends with '-'";
    return NULL;
}

static bool all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int hd_domain_check_name(const char *in, size_t min_labels, const char *what, char *out,
                         size_t out_size, hd_err *err)
{
    if (in == NULL || *in == '\0')
        return hd_err_set(err, HD_EINVAL, "no %s given", what);
    size_t len = strnlen(in, NAME_MAX_TEXT + 2);
    if (len > 0 && in[len - 1] == '.')
        len--; /* absolute either way */
    if (len > NAME_MAX_TEXT)
        return hd_err_set(err, HD_EINVAL, "%s %.60s...: longer than %d bytes", what, in,
                          NAME_MAX_TEXT);
    if (len + 1 > out_size)
        return hd_err_set(err, HD_ELIMIT, "%s %.*s: no room for it", what, (int)len, in);
    size_t labels = 0, start = 0;
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && in[i] != '.')
            continue;
        const char *why = label_problem(in + start, i - start);
        if (why != NULL)
            return hd_err_set(err, HD_EINVAL, "%s \"%.*s\" %s", what, (int)len, in, why);
        last = in + start;
        last_len = i - start;
        labels++;
        start = i + 1;
    }
    if (labels < min_labels)
        return hd_err_set(err, HD_EINVAL, "%s \"%.*s\" needs at least %zu labels (like example.com)",
                          what, (int)len, in, min_labels);
    if (min_labels > 1 && all_digits(last, last_len))
        return hd_err_set(err, HD_EINVAL, "%s \"%.*s\" looks like an address, not a name", what,
                          (int)len, in);
    for (size_t i = 0; i < len; i++)
        out[i] = lower(in[i]);
    out[len] = '\0';
    return 0;
}

int hd_domain_name_normalize(const char *in, char *out, size_t out_size, hd_err *err)
{
    return hd_domain_check_name(in, 2, "domain", out, out_size, err);
}
