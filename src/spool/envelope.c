/*
 * envelope.c - the envelope record of a spooled message (herald/spool.h):
 * what the database holds of it, as text beside its bytes, so the spool
 * alone can say who a message is for. Pure: bytes in, fields out.
 *
 *   herald-envelope 1
 *   uuid 0123456789abcdef0123456789abcdef
 *   mail-from b-0123...-mac@bounce.example.com
 *   from-domain example.com
 *   message-id <x@example.com>
 *   submitter alice
 *   pool
 *   received-at 1700000000
 *   expires-at 1700432000
 *   flags 0
 *   rcpt bob@example.net
 *   rcpt carol@example.org
 *
 * Lines end with LF; a value is everything after the first space.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/spool.h>

#define ENV_FIRST_LINE "herald-envelope 1"

static bool value_ok(const char *v)
{
    return v && strlen(v) <= HD_SPOOL_FIELD_MAX && !strpbrk(v, "\r\n");
}

int hd_spool_envelope_write(const hd_spool_envelope *env, hd_buf *out, hd_err *err)
{
    const struct {
        const char *name, *value;
    } text[] = {{"uuid", env->uuid},           {"mail-from", env->mail_from},
                {"from-domain", env->from_domain}, {"message-id", env->message_id},
                {"submitter", env->submitter}, {"pool", env->pool ? env->pool : ""}};
    for (size_t i = 0; i < sizeof text / sizeof *text; i++)
        if (!value_ok(text[i].value))
            return hd_err_set(err, HD_EINVAL, "envelope %s: missing, too long or with a line break",
                              text[i].name);
    if (env->n_rcpts == 0 || env->n_rcpts > HD_SPOOL_ENVELOPE_RCPTS)
        return hd_err_set(err, HD_EINVAL, "envelope: %zu recipients (1 to %u)", env->n_rcpts,
                          HD_SPOOL_ENVELOPE_RCPTS);
    int rc = hd_buf_append_cstr(out, ENV_FIRST_LINE "\n");
    for (size_t i = 0; !rc && i < sizeof text / sizeof *text; i++)
        rc = hd_buf_printf(out, "%s %s\n", text[i].name, text[i].value);
    if (!rc)
        rc = hd_buf_printf(out, "received-at %lld\nexpires-at %lld\nflags %u\n",
                           (long long)env->received_at, (long long)env->expires_at, env->flags);
    for (size_t i = 0; !rc && i < env->n_rcpts; i++) {
        if (!value_ok(env->rcpts[i]) || !*env->rcpts[i])
            return hd_err_set(err, HD_EINVAL, "envelope rcpt %zu: empty, too long or with a line break",
                              i + 1);
        rc = hd_buf_printf(out, "rcpt %s\n", env->rcpts[i]);
    }
    if (rc)
        return hd_err_set(err, rc, "envelope: over %zu bytes", out->max);
    return 0;
}

void hd_spool_envelope_free(hd_spool_envelope *env)
{
    free(env->mail_from);
    free(env->from_domain);
    free(env->message_id);
    free(env->submitter);
    free(env->pool);
    for (size_t i = 0; i < env->n_rcpts; i++)
        free(env->rcpts[i]);
    free(env->rcpts);
    memset(env, 0, sizeof *env);
}

static bool parse_i64(const char *v, int64_t *out)
{
    char *end;
    if (!*v || strlen(v) > 19)
        return false;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0)
        return false;
    *out = n;
    return true;
}

static int set_once(char **slot, const char *v, size_t line, const char *name, hd_err *err)
{
    if (*slot)
        return hd_err_set(err, HD_ESYNTAX, "envelope line %zu: a second %s", line, name);
    if (!(*slot = strdup(v)))
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    return 0;
}

static bool is_hex32(const char *v)
{
    if (strlen(v) != 32)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* One "name value" line. */
static int parse_line(hd_spool_envelope *env, const char *name, const char *v, size_t line,
                      size_t *cap, hd_err *err)
{
    int64_t n;
    if (strlen(v) > HD_SPOOL_FIELD_MAX)     /* what the writer would refuse */
        return hd_err_set(err, HD_ESYNTAX, "envelope line %zu: a value over %u bytes", line,
                          HD_SPOOL_FIELD_MAX);
    if (strcmp(name, "uuid") == 0) {
        if (env->uuid[0] || !is_hex32(v))
            return hd_err_set(err, HD_ESYNTAX, "envelope line %zu: uuid must be 32 hex digits, once",
                              line);
        memcpy(env->uuid, v, 33);
        return 0;
    }
    if (strcmp(name, "mail-from") == 0)
        return set_once(&env->mail_from, v, line, name, err);
    if (strcmp(name, "from-domain") == 0)
        return set_once(&env->from_domain, v, line, name, err);
    if (strcmp(name, "message-id") == 0)
        return set_once(&env->message_id, v, line, name, err);
    if (strcmp(name, "submitter") == 0)
        return set_once(&env->submitter, v, line, name, err);
    if (strcmp(name, "pool") == 0)
        return set_once(&env->pool, v, line, name, err);
    if (strcmp(name, "received-at") == 0 || strcmp(name, "expires-at") == 0 ||
        strcmp(name, "flags") == 0) {
        if (!parse_i64(v, &n) || (name[0] == 'f' && n > UINT32_MAX))
            return hd_err_set(err, HD_ESYNTAX, "envelope line %zu: %s is not a number", line, name);
        if (name[0] == 'r')
            env->received_at = n;
        else if (name[0] == 'e')
            env->expires_at = n;
        else
            env->flags = (uint32_t)n;
        return 0;
    }
    if (strcmp(name, "rcpt") == 0) {
        if (!*v)
            return hd_err_set(err, HD_ESYNTAX, "envelope line %zu: an empty rcpt", line);
        if (env->n_rcpts >= HD_SPOOL_ENVELOPE_RCPTS)
            return hd_err_set(err, HD_ELIMIT, "envelope line %zu: over %u recipients", line,
                              HD_SPOOL_ENVELOPE_RCPTS);
        if (env->n_rcpts == *cap) {
            size_t c = *cap ? *cap * 2 : 8;
            char **r = realloc(env->rcpts, c * sizeof *r);
            if (!r)
                return hd_err_set(err, HD_ENOMEM, "out of memory");
            env->rcpts = r;
            *cap = c;
        }
        if (!(env->rcpts[env->n_rcpts] = strdup(v)))
            return hd_err_set(err, HD_ENOMEM, "out of memory");
        env->n_rcpts++;
        return 0;
    }
    return 0;   /* a name a later herald may add: skipped */
}

int hd_spool_envelope_parse(const uint8_t *p, size_t len, hd_spool_envelope *out, hd_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > HD_SPOOL_ENVELOPE_MAX)
        return hd_err_set(err, HD_ELIMIT, "envelope: %zu bytes, at most %u", len,
                          HD_SPOOL_ENVELOPE_MAX);
    char buf[HD_SPOOL_FIELD_MAX + 64];
    size_t line = 0, cap = 0;
    int rc = 0;
    for (size_t at = 0; !rc && at < len;) {
        const uint8_t *nl = memchr(p + at, '\n', len - at);
        if (!nl) {
            rc = hd_err_set(err, HD_ESYNTAX, "envelope line %zu: no line end", line + 1);
            break;
        }
        size_t n = (size_t)(nl - (p + at));
        line++;
        if (n >= sizeof buf || memchr(p + at, '\0', n) || memchr(p + at, '\r', n)) {
            rc = hd_err_set(err, HD_ESYNTAX, "envelope line %zu: too long, or a NUL or CR in it",
                            line);
            break;
        }
        memcpy(buf, p + at, n);
        buf[n] = '\0';
        at += n + 1;
        if (line == 1) {
            if (strcmp(buf, ENV_FIRST_LINE) != 0)
                rc = hd_err_set(err, HD_ESYNTAX, "envelope line 1: not \"" ENV_FIRST_LINE "\"");
            continue;
        }
        char *sp = strchr(buf, ' ');
        if (!sp) {
            rc = hd_err_set(err, HD_ESYNTAX, "envelope line %zu: no space after the name", line);
            break;
        }
        *sp = '\0';
        rc = parse_line(out, buf, sp + 1, line, &cap, err);
    }
    if (!rc && line == 0)
        rc = hd_err_set(err, HD_ESYNTAX, "envelope: empty");
    if (!rc && (!out->uuid[0] || !out->mail_from || !out->from_domain || out->n_rcpts == 0))
        rc = hd_err_set(err, HD_ESYNTAX, "envelope: uuid, mail-from, from-domain or rcpt missing");
    /* without its times a recovered message would expire at once (0):
     * every herald writes both, and no real time is 0 */
    if (!rc && (out->received_at <= 0 || out->expires_at <= 0))
        rc = hd_err_set(err, HD_ESYNTAX, "envelope: received-at or expires-at missing");
    /* the rest may be missing: a record names what it has */
    char **opt[] = {&out->message_id, &out->submitter, &out->pool};
    for (size_t i = 0; !rc && i < 3; i++)
        if (!*opt[i] && !(*opt[i] = strdup("")))
            rc = hd_err_set(err, HD_ENOMEM, "out of memory");
    if (rc)
        hd_spool_envelope_free(out);
    return rc;
}
