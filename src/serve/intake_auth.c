/*
 * intake_auth.c - AUTH on the submission listener: the limits on attempts
 * per client address (IPv6: its /64), one password check per client at a
 * time (a second one waits for it), a bounded number in all, run on the
 * password-check pool of its own (serve_work_auth) so that guessing never
 * delays mail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <herald/passwd.h>
#include <herald/smtpd.h>
#include "serve/intake_int.h"

/* A second AUTH from a client whose password check is under way waits
 * for it (every local application logs in from 127.0.0.1, often several
 * at once): it retries every AUTH_RETRY_MS, at most AUTH_WAIT_MAX_MS,
 * and at most AUTH_WAITING_MAX sessions per client wait; past either
 * it gets 454 4.7.0. */
#define AUTH_RETRY_MS 20
#define AUTH_WAIT_MAX_MS 5000
#define AUTH_WAITING_MAX 8

/* A client-chosen string made safe for one log line: control bytes and
 * non-ASCII become '?' (in place; the name is only logged after this). */
static const char *printable(char *s)
{
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return s;
}

typedef struct auth_job {
    session *s;
    int slot;                   /* in serve_intake.auth_pending */
    char key[HD_CLIENTKEY_MAX];   /* the client's, for the counts and the log */
    char user[HD_STORE_NAME_MAX];
    char password[512];
    bool ok;
    char domains[1024];
} auth_job;

/* On the password-check pool. */
static void auth_work(worker *w, void *arg)
{
    auth_job *j = arg;
    hd_store_user u;
    hd_err err = {0};
    j->ok = false;
    if (hd_store_user_get(worker_store(w), j->user, &u, &err) == 0) {
        bool ok = false;
        if (hd_passwd_verify(j->password, u.pwhash, &ok, &err) == 0 && ok) {
            j->ok = true;
            snprintf(j->domains, sizeof j->domains, "%s", u.domains);
        }
    } else {
        /* same cost for an unknown user as for a wrong password, so the
         * answer time does not tell which names exist */
        char dummy[256];
        hd_passwd_hash(j->password, dummy, sizeof dummy, &err);
    }
    OPENSSL_cleanse(j->password, sizeof j->password);
}

static void auth_done(void *arg)
{
    auth_job *j = arg;
    session *s = j->s;
    serve *sv = s->sv;
    sv->intake->auth_pending[j->slot][0] = '\0';
    atomic_fetch_add(j->ok ? &sv->metrics.auth_ok : &sv->metrics.auth_failed, 1);
    if (j->ok) {
        /* the attempt was counted when it started; a success gives it
         * back, so logging in often from one address never locks it out */
        ip_count *f = intake__ip_slot(sv->intake->auth_fails, j->key, false);
        if (f && f->count > 0)
            f->count--;
    } else {
        LOG_WARN_LIMITED("auth-failed", j->key, "authentication failed for user \"%s\" (535 5.7.8)",
                         printable(j->user));
    }
    if (intake__session_back(s)) {
        if (j->ok) {
            snprintf(s->user, sizeof s->user, "%s", j->user);
            snprintf(s->user_domains, sizeof s->user_domains, "%s", j->domains);
            LOG_INFO_ID(s->id, "authenticated as %s", printable(j->user));
        }
        hd_smtpd_answer_auth(s->smtpd, j->ok);
        intake__session_resume(s);
    }
    free(j);
}

/* A free slot for a password check from key, or -1 with *same set when
 * that client already has one in hand. */
static int auth_slot(struct serve_intake *in, const char *key, bool *same)
{
    int free_slot = -1;
    *same = false;
    for (int i = 0; i < AUTH_PENDING_MAX; i++) {
        if (!in->auth_pending[i][0])
            free_slot = free_slot < 0 ? i : free_slot;
        else if (strcmp(in->auth_pending[i], key) == 0)
            *same = true;
    }
    return *same ? -1 : free_slot;
}

/* 454 4.7.0: the client may try again shortly (intake__drive() goes on). */
static void refuse_auth(session *s, const char *text)
{
    hd_smtpd_reply r = {454, "4.7.0", text};
    hd_smtpd_refuse_auth(s->smtpd, &r);
}

void intake__start_auth(session *s);

/* Sessions of s's client (s aside) waiting for its password check. */
static unsigned auth_waiting(const session *s)
{
    unsigned n = 0;
    for (const session *o = s->sv->intake->sessions; o; o = o->next)
        n += o != s && o->auth_wait_ticks && strcmp(o->client, s->client) == 0;
    return n;
}

/* A waiting AUTH's timer: the session is held (busy) meanwhile, so a
 * client gone while it waited is freed here, once, by session_back. */
static void auth_retry(evutil_socket_t fd, short what, void *arg)
{
    session *s = arg;
    if (!intake__session_back(s))
        return;
    intake__start_auth(s);
    if (!s->busy)
        intake__session_resume(s);
}

/* Wait AUTH_RETRY_MS for the client's check under way; false when it may
 * not wait (more than AUTH_WAITING_MAX do, or it waited AUTH_WAIT_MAX_MS). */
static bool auth_wait(session *s)
{
    if (s->auth_wait_ticks == 0 && auth_waiting(s) >= AUTH_WAITING_MAX)
        return false;
    if (s->auth_wait_ticks >= AUTH_WAIT_MAX_MS / AUTH_RETRY_MS)
        return false;
    if (!s->auth_wait && !(s->auth_wait = evtimer_new(s->sv->base, auth_retry, s)))
        return false;
    s->auth_wait_ticks++;
    intake__session_hold(s);
    struct timeval tv = {0, AUTH_RETRY_MS * 1000};
    evtimer_add(s->auth_wait, &tv);
    return true;
}

/* AUTH credentials are in: the limits, then a password check on its own
 * pool. An attempt counts against [smtp] auth_failures_per_minute when
 * it starts (counted at the end, parallel guesses all passed the check
 * before any was counted); one check per client (address, IPv6 /64) at
 * a time, a second one waits for it (auth_wait), AUTH_PENDING_MAX for
 * everyone. */
void intake__start_auth(session *s)
{
    struct serve_intake *in = s->sv->intake;
    const hd_smtpd_auth_info *ai = hd_smtpd_auth(s->smtpd);
    uint32_t limit = s->sv->cfg->smtp.auth_failures_per_minute;
    const char *key = s->client; /* the address, an IPv6 client's /64 */
    ip_count *f = limit ? intake__ip_slot(in->auth_fails, key, true) : NULL;
    if (f && f->count >= limit) {
        s->auth_wait_ticks = 0;
        LOG_WARN_LIMITED("auth-limit", key,
                         "%u authentication attempts this minute ([smtp] auth_failures_per_minute); "
                         "session closed (421)", f->count);
        hd_smtpd_shutdown(s->smtpd, "too many authentication failures, try again later");
        intake__drive(s);
        return;
    }
    bool same;
    int slot = auth_slot(in, key, &same);
    if (slot < 0 && same) {
        if (auth_wait(s))
            return;
        s->auth_wait_ticks = 0;
        LOG_WARN_LIMITED("auth-concurrent", key,
                         "AUTH refused (454 4.7.0): another one from this client is being "
                         "checked and %d wait for it, or this one waited %d ms",
                         AUTH_WAITING_MAX, AUTH_WAIT_MAX_MS);
        refuse_auth(s, "another authentication from your address is in progress, try again shortly");
        return;
    }
    s->auth_wait_ticks = 0;
    if (slot < 0) {
        LOG_WARN_LIMITED("auth-busy", key, "AUTH refused (454 4.7.0): %d password checks under way",
                         AUTH_PENDING_MAX);
        refuse_auth(s, "too many authentications in progress, try again shortly");
        return;
    }
    auth_job *j = calloc(1, sizeof *j);
    if (!j) {
        refuse_auth(s, "temporary authentication failure");
        return;
    }
    if (f)
        f->count++;
    j->s = s;
    j->slot = slot;
    snprintf(j->key, sizeof j->key, "%s", key);
    snprintf(in->auth_pending[slot], HD_CLIENTKEY_MAX, "%s", key);
    snprintf(j->user, sizeof j->user, "%s", ai->authcid);
    snprintf(j->password, sizeof j->password, "%s", ai->password);
    intake__session_hold(s);
    serve_work_auth(s->sv, auth_work, auth_done, j);
}
