/*
 * auth.c - AUTH PLAIN (RFC 4616) and LOGIN over SMTP (RFC 4954).
 *
 * The session only decodes: it collects authzid, authcid and password,
 * raises HD_SMTPD_EV_AUTH and lets the shell judge them. The credentials
 * live in s->cred as "authzid\0authcid\0password\0" and are wiped as soon
 * as the exchange ends (answered, cancelled or broken).
 */
#include "smtpd/smtpd_int.h"

#include <string.h>

#include <herald/base64.h>

/* memset that the compiler may not drop for a dead store. */
static void wipe(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n-- > 0)
        *v++ = 0;
}

void smtpd_auth_clear(hd_smtpd *s)
{
    if (s->cred.p != NULL)
        wipe(s->cred.p, s->cred.cap);
    s->cred.len = 0;
    s->auth_step = SMTPD_AUTH_IDLE;
    memset(&s->auth_info, 0, sizeof s->auth_info);
}

/* A failed exchange: wipe, reply, count the error. */
static int auth_fail(hd_smtpd *s, int code, const char *enh, const char *text)
{
    smtpd_auth_clear(s);
    return smtpd_fail(s, code, enh, "%s", text);
}

/* Decode one client response into s->cred; "=" is the empty initial
 * response (RFC 4954 §4). Returns 0 or a reply's return value. */
static int decode(hd_smtpd *s, hd_slice b64, bool initial)
{
    if (initial && hd_slice_eq_cstr(b64, "="))
        return 0;
    if (hd_b64_decode(b64, HD_B64_STRICT, &s->cred, NULL) != 0)
        return auth_fail(s, 501, "5.5.2", "cannot decode base64 response");
    return 0;
}

static int raise_auth(hd_smtpd *s, const char *mech, size_t authzid, size_t authcid,
                      size_t password)
{
    if (hd_buf_append_byte(&s->cred, 0) != 0)
        return auth_fail(s, 454, "4.7.0", "temporary authentication failure");
    const char *c = (const char *)s->cred.p;
    s->auth_step = SMTPD_AUTH_IDLE;
    s->auth_info.mechanism = mech;
    s->auth_info.authzid = authzid == (size_t)-1 ? "" : c + authzid;
    s->auth_info.authcid = c + authcid;
    s->auth_info.password = c + password;
    s->pending = SMTPD_P_AUTH;
    return HD_SMTPD_EV_AUTH;
}

/* RFC 4616 §2: [authzid] NUL authcid NUL passwd, authcid and passwd
 * not empty. */
static int plain_response(hd_smtpd *s)
{
    const uint8_t *p = s->cred.p;
    size_t n = s->cred.len;
    const uint8_t *nul1 = n > 0 ? memchr(p, 0, n) : NULL;
    const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - p)) : NULL;
    if (nul2 == NULL || memchr(nul2 + 1, 0, n - (size_t)(nul2 + 1 - p)) != NULL ||
        nul2 == nul1 + 1 || (size_t)(nul2 + 1 - p) == n)
        return auth_fail(s, 501, "5.5.2", "malformed PLAIN response");
    /* RFC 4616 §2: the server may refuse an authzid it does not allow; a
     * user acts only as itself here, so an authzid is either absent or
     * the authcid (refused before any password check) */
    size_t zlen = (size_t)(nul1 - p), clen = (size_t)(nul2 - nul1 - 1);
    if (zlen != 0 && (zlen != clen || memcmp(p, nul1 + 1, zlen) != 0))
        return auth_fail(s, 535, "5.7.8",
                         "authorization identity must be empty or the user name itself");
    return raise_auth(s, "PLAIN", 0, (size_t)(nul1 + 1 - p), (size_t)(nul2 + 1 - p));
}

/* A LOGIN field was just decoded from start on: one non-empty value
 * without NUL. */
static bool login_field_ok(const hd_smtpd *s, size_t start)
{
    size_t n = s->cred.len - start;
    return n > 0 && memchr(s->cred.p + start, 0, n) == NULL;
}

static int login_user(hd_smtpd *s)
{
    if (!login_field_ok(s, 0))
        return auth_fail(s, 501, "5.5.2", "malformed LOGIN user name");
    if (hd_buf_append_byte(&s->cred, 0) != 0)
        return auth_fail(s, 454, "4.7.0", "temporary authentication failure");
    s->auth_step = SMTPD_AUTH_LOGIN_PASS;
    smtpd_reply(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
    return SMTPD_CONTINUE;
}

static int login_pass(hd_smtpd *s, size_t start)
{
    if (!login_field_ok(s, start))
        return auth_fail(s, 501, "5.5.2", "malformed LOGIN password");
    return raise_auth(s, "LOGIN", (size_t)-1, 0, start);
}

int smtpd_cmd_auth(hd_smtpd *s, hd_slice arg)
{
    if (!s->esmtp) /* RFC 4954 §4: an ESMTP extension */
        return smtpd_fail(s, 503, "5.5.1", "send EHLO first");
    /* a listener without AUTH (the inbound MX) does not offer it in EHLO;
     * RFC 5321 §4.2.4 gives 502 for a command the server does not take */
    if (s->o.auth_disabled)
        return smtpd_fail(s, 502, "5.5.1", "AUTH not available on this service");
    if (!smtpd_auth_offered(s)) /* RFC 4954 §6 */
        return smtpd_fail(s, 538, "5.7.11",
                          "Encryption required for requested authentication mechanism");
    if (s->authed) /* RFC 4954 §4 */
        return smtpd_fail(s, 503, "5.5.1", "already authenticated");
    if (s->have_mail)
        return smtpd_fail(s, 503, "5.5.1", "AUTH not permitted during a mail transaction");

    size_t k = 0;
    while (k < arg.len && arg.p[k] != ' ')
        k++;
    hd_slice mech = hd_slice_make(arg.p, k);
    hd_slice ir = hd_slice_make(arg.p + k, arg.len - k);
    while (ir.len > 0 && ir.p[0] == ' ') {
        ir.p++;
        ir.len--;
    }
    if (mech.len == 0)
        return smtpd_fail(s, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");

    smtpd_auth_clear(s);
    int rc;
    if (hd_slice_caseeq_cstr(mech, "PLAIN")) {
        if (ir.len == 0) {
            s->auth_step = SMTPD_AUTH_PLAIN;
            smtpd_reply(s, 334, NULL, "%s", "");
            return SMTPD_CONTINUE;
        }
        return (rc = decode(s, ir, true)) != 0 ? rc : plain_response(s);
    }
    if (hd_slice_caseeq_cstr(mech, "LOGIN")) {
        if (ir.len == 0) {
            s->auth_step = SMTPD_AUTH_LOGIN_USER;
            smtpd_reply(s, 334, NULL, "VXNlcm5hbWU6"); /* "Username:" */
            return SMTPD_CONTINUE;
        }
        return (rc = decode(s, ir, true)) != 0 ? rc : login_user(s);
    }
    return smtpd_fail(s, 504, "5.5.4", "Unrecognized authentication type");
}

int smtpd_auth_line(hd_smtpd *s, hd_slice line)
{
    if (hd_slice_eq_cstr(line, "*")) /* RFC 4954 §4 */
        return auth_fail(s, 501, "5.7.0", "Authentication cancelled");
    size_t start = s->cred.len;
    int rc = decode(s, line, false);
    if (rc != 0)
        return rc;
    switch (s->auth_step) {
    case SMTPD_AUTH_PLAIN:
        return plain_response(s);
    case SMTPD_AUTH_LOGIN_USER:
        return login_user(s);
    case SMTPD_AUTH_LOGIN_PASS:
        return login_pass(s, start);
    case SMTPD_AUTH_IDLE:
        break;
    }
    return SMTPD_CONTINUE;
}
