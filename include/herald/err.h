/*
 * herald/err.h - error values.
 *
 * Every fallible function returns int: 0 on success or a negative HD_E*
 * code, and fills an optional hd_err with the code and a human message that
 * says what was wrong and where. Authentication verdicts (pass, fail, ...)
 * are data in result structs, never errors.
 */
#ifndef HERALD_ERR_H
#define HERALD_ERR_H

#include <stddef.h>

/* One table generates the codes, their names and their default messages. */
#define HD_ERRNO_MAP(X)                                                    \
    X(NOMEM, "out of memory")                                             \
    X(INVAL, "invalid argument")                                          \
    X(SYNTAX, "malformed input")                                          \
    X(LIMIT, "a limit was exceeded")                                      \
    X(IO, "input/output error")                                           \
    X(NOTFOUND, "not found")                                              \
    X(TEMP, "temporary failure, try again later")                         \
    X(CRYPTO, "cryptographic operation failed")                           \
    X(KEY, "unusable key")                                                \
    X(UNSUPPORTED, "not supported")                                       \
    X(AGAIN, "more input needed")                                         \
    X(STATE, "call not valid in this state")                              \
    X(PERM, "permission denied")

enum {
    HD_OK = 0,
#define HD_ERRNO_ENUM(name, msg) HD_E##name,
    HD__EFIRST = -64,
    HD_ERRNO_MAP(HD_ERRNO_ENUM)
#undef HD_ERRNO_ENUM
    HD__ELAST
};

#define HD_ERR_MSG_MAX 256

typedef struct hd_err {
    int code;                 /* 0 or a negative HD_E* */
    char msg[HD_ERR_MSG_MAX]; /* human reason; "" when unset */
} hd_err;

/* Name ("HD_ESYNTAX") and default message of a code. */
const char *hd_err_name(int code);
const char *hd_strerror(int code);

/* Record code and printf-style reason in err (which may be NULL); returns
 * code so callers can write `return hd_err_set(err, HD_ESYNTAX, ...)`. */
int hd_err_set(hd_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context: "file.pem: " + old message. */
int hd_err_prefix(hd_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void hd_err_clear(hd_err *err);

/* The message if set, else the code's default message. */
const char *hd_err_str(const hd_err *err);

#endif
