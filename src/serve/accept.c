/*
 * accept.c - a new message, from SMTP submission (intake.c) or the HTTP
 * API (api.c), made ready and durable on one path, so both doors give the
 * same guarantees: the sender's right to its From domain, completion
 * (Message-ID, Date), a Received field, the DKIM signatures, the VERP
 * envelope sender; then the committer (spool + rows, fsync); then the
 * queue. Only then does the caller answer 250 or 202.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include <openssl/rand.h>

#include "serve/intake.h"
#include <herald/mail.h>
#include <herald/submit.h>

struct serve_accept {
    uint64_t inflight;          /* bytes of messages between arrival and their answer */
    int64_t disk_checked;       /* when free space was last looked at */
    uint64_t disk_free;         /* bytes free then (f_bavail) */
    uint64_t disk_taken;        /* bytes accepted since: not yet in disk_free */
    bool disk_known;
};

/* What one message takes on disk beyond its bytes: its spool record
 * header, its envelope record, rows and WAL frames (a few pages). */
#define ROW_BYTES (16u * 1024)

int accept_init(serve *sv, hd_err *err)
{
    sv->accept = calloc(1, sizeof *sv->accept);
    return sv->accept ? 0 : hd_err_set(err, HD_ENOMEM, "out of memory");
}

void accept_free(serve *sv)
{
    free(sv->accept);
    sv->accept = NULL;
}

/* Free space as last measured (statvfs at most once a second) less what
 * was accepted since and what is being written now: a burst within the
 * second cannot pass min_free_space. */
static uint64_t disk_free_estimate(serve *sv)
{
    struct serve_accept *a = sv->accept;
    int64_t now = serve_now();
    if (now != a->disk_checked || !a->disk_known) {
        struct statvfs vfs;
        a->disk_checked = now;
        a->disk_known = statvfs(sv->data_dir, &vfs) == 0;
        a->disk_free = a->disk_known ? (uint64_t)vfs.f_bavail * vfs.f_frsize : UINT64_MAX;
        a->disk_taken = 0;
    }
    uint64_t used = a->disk_taken + a->inflight;
    return a->disk_free > used ? a->disk_free - used : 0;
}

const char *accept_storage_full_for(serve *sv, uint64_t bytes)
{
    if (queue_size(sv) >= sv->cfg->queue.max_queued)
        return "the queue is full, try again later";
    /* nothing is taken that could not be recorded (commit.c) */
    if (commit_blocked(sv))
        return "the queue cannot be written (disk full?), try again later";
    uint64_t min_free = sv->cfg->queue.min_free_space;
    if (!min_free)
        return NULL;
    uint64_t need = bytes ? bytes + ROW_BYTES : 0;
    uint64_t left = disk_free_estimate(sv);
    if (left >= min_free && left - min_free >= need)
        return NULL;
    LOG_WARN_LIMITED("disk-low", NULL,
                     "%s: about %llu bytes free, %llu must stay free ([queue] min_free_space): "
                     "new mail is refused with 452 4.3.1 (API: 503)",
                     sv->data_dir, (unsigned long long)left, (unsigned long long)min_free);
    return "not enough disk space, try again later";
}

const char *accept_storage_full(serve *sv)
{
    return accept_storage_full_for(sv, 0);
}

accept_job *accept_job_new(serve *sv)
{
    accept_job *j = calloc(1, sizeof *j);
    if (j)
        j->sv = sv;
    return j;
}

void accept_job_free(accept_job *j)
{
    if (!j)
        return;
    j->sv->accept->inflight -= j->inflight;
    if (j->ds)
        domains_put(j->ds);
    for (size_t i = 0; j->rcpts && i < j->n_rcpts; i++)
        free(j->rcpts[i]);
    free(j->rcpts);
    free(j->cm.rcpt_ids);
    hd_buf_free(&j->head);
    hd_buf_free(&j->body);
    hd_buf_free(&j->owned);
    free(j);
}

int accept_add_rcpt(accept_job *j, const char *address)
{
    char **v = realloc(j->rcpts, (j->n_rcpts + 1) * sizeof *v);
    if (!v)
        return HD_ENOMEM;
    j->rcpts = v;
    if (!(v[j->n_rcpts] = strdup(address)))
        return HD_ENOMEM;
    j->n_rcpts++;
    return 0;
}

bool accept_reserve(serve *sv, size_t bytes)
{
    struct serve_accept *a = sv->accept;
    /* the message, its signed copy and its spool write are held until the
     * commit: bound what all callers hold at once */
    if (a->inflight + bytes > sv->cfg->queue.max_inflight) {
        LOG_WARN_LIMITED("inflight", NULL,
                         "%llu bytes of mail in flight already; a message of %zu bytes is deferred",
                         (unsigned long long)a->inflight, bytes);
        return false;
    }
    a->inflight += bytes;
    return true;
}

void accept_release(serve *sv, size_t bytes)
{
    sv->accept->inflight -= bytes;
}

bool accept_admit(accept_job *j, size_t bytes)
{
    if (!accept_reserve(j->sv, bytes))
        return false;
    j->inflight += bytes;
    if (!j->ds)
        j->ds = domains_get(j->sv);     /* on the thread that swaps snapshots */
    return true;
}

bool accept_may_send_as(const char *list, const char *domain)
{
    size_t n = strlen(domain);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((e - p == 1 && *p == '*') || ((size_t)(e - p) == n && strncasecmp(p, domain, n) == 0))
            return true;
        p = e;
    }
    return false;
}

void accept_new_uuid(char out[33])
{
    uint8_t b[16];
    static const char hex[] = "0123456789abcdef";
    RAND_bytes(b, sizeof b);
    for (size_t i = 0; i < 16; i++)
        out[2 * i] = hex[b[i] >> 4], out[2 * i + 1] = hex[b[i] & 15];
    out[32] = '\0';
}

static void refuse(accept_job *j, int code, const char *enh, const char *what, const char *detail)
{
    j->code = code;
    snprintf(j->enhanced, sizeof j->enhanced, "%s", enh);
    snprintf(j->text, sizeof j->text, "%s%s", what, detail);
}

static void accepted(void *arg);

/* The envelope, the trace field and the signatures: j->body is the
 * message as it will leave, j->head its DKIM-Signature fields. */
static int build(worker *w, accept_job *j, const serve_domain *dom, const hd_submit_info *info,
                 hd_err *err)
{
    serve *sv = j->sv;
    hd_store_message *m = &j->cm.m;
    char date[40];
    hd_mail_date(j->now, date);
    hd_buf_init(&j->head, 64 * 1024);
    /* re-encoding 8-bit parts (hd_submit_write) makes a body longer */
    hd_buf_init(&j->body, (size_t)((double)j->data.len * HD_MIME7_GROWTH) + HD_MIME7_SLACK);
    /* RFC 5321 §4.4: the trace field of this hop */
    int rc = hd_buf_printf(&j->body, "Received: from %s\r\n\tby %s (herald) with %s id %s;\r\n\t%s\r\n",
                           j->trace_from, sv->cfg->hostname, j->trace_with, m->uuid, date);
    hd_mime7_report r8;
    if (!rc)
        rc = hd_submit_write(j->data, info, &j->body, &r8);
    if (rc == HD_ELIMIT) {
        j->too_big = true; /* the client's message itself: 552, not a retry */
        return hd_err_set(err, rc, "the message re-encoded to 7 bits is over %zu bytes",
                          j->body.max);
    }
    if (rc)
        return hd_err_set(err, rc, "out of memory");
    /* the flag delivery reads: what is on the wire, not what the client
     * declared (RFC 6152 §3: BODY=8BITMIME, or no hop without 8BITMIME) */
    j->flags = (j->flags & ~(unsigned)HD_MSG_8BIT) | (r8.eight_bit ? HD_MSG_8BIT : 0);
    if (r8.eight_bit)
        LOG_INFO_ID(m->uuid, "stays 8-bit, only for hops that offer 8BITMIME: %s", r8.why);
    if ((rc = worker_sign(w, j->ds, dom, hd_buf_slice(&j->body), &j->head, err)))
        return rc;
    return hd_verp_encode(sv->verp_key, m->uuid, dom->bounce_domain, m->mail_from,
                          sizeof m->mail_from, err);
}

void accept_run(worker *w, accept_job *j)
{
    serve *sv = j->sv;
    hd_err err = {0};
    hd_store_message *m = &j->cm.m;
    j->now = serve_now();
    if (!m->uuid[0])
        accept_new_uuid(m->uuid);

    hd_submit_info info;
    hd_submit_opts so = {.hostname = sv->cfg->hostname, .id = m->uuid, .now = j->now};
    if (hd_submit_prepare(j->data, &so, &info, &err) != 0) {
        refuse(j, 550, "5.6.0", "message refused: ", hd_err_str(&err));
        hd_submit_info_free(&info);
        serve_post(sv, accepted, j);    /* every way out answers the caller */
        return;
    }
    const serve_domain *dom = domains_find(j->ds, info.from_domain);
    if (!dom) {
        refuse(j, 550, "5.7.1", "not a sending domain of this server: ", info.from_domain);
    } else if (!accept_may_send_as(j->may_send_as, dom->name)) {
        refuse(j, 550, "5.7.1", "you may not send as ", dom->name);
    } else if (build(w, j, dom, &info, &err) != 0) {
        LOG_ERR_ID(m->uuid, "signing for %s: %s", dom->name, hd_err_str(&err));
        if (j->too_big) /* the same message would fail again */
            refuse(j, 552, "5.3.4", "message too big once made 7-bit: ", hd_err_str(&err));
        else
            refuse(j, 451, "4.3.0", "temporary failure signing the message, ", "try again later");
    } else {
        snprintf(m->from_domain, sizeof m->from_domain, "%s", dom->name);
        snprintf(m->message_id, sizeof m->message_id, "%s", info.message_id);
        snprintf(m->submitter, sizeof m->submitter, "%s", j->submitter);
        m->received_at = j->now;
        m->expires_at = j->now + (int64_t)sv->cfg->queue.max_lifetime;
        m->flags = j->flags;
        j->cm.parts[0] = hd_buf_slice(&j->head);
        j->cm.parts[1] = hd_buf_slice(&j->body);
        j->cm.n_parts = 2;
        j->cm.rcpts = j->rcpts;
        j->cm.n_rcpts = j->n_rcpts;
        j->cm.rcpt_ids = calloc(j->n_rcpts ? j->n_rcpts : 1, sizeof *j->cm.rcpt_ids);
        j->cm.done = accepted;
        j->cm.arg = j;
        j->code = j->cm.rcpt_ids ? 250 : 0;
        if (!j->cm.rcpt_ids)
            refuse(j, 451, "4.3.0", "out of memory, ", "try again later");
    }
    hd_submit_info_free(&info);
    if (j->code == 250)
        commit_message(sv, &j->cm);
    else
        serve_post(sv, accepted, j);
}

static void accept_work(worker *w, void *arg)
{
    accept_run(w, arg);
}

void accept_start(accept_job *j)
{
    serve_work(j->sv, accept_work, NULL, j);
}

/* Main thread: the message is durable (or refused). */
static void accepted(void *arg)
{
    accept_job *j = arg;
    serve *sv = j->sv;
    if (j->code == 250 && j->cm.rc == HD_EAGAIN) {
        /* the committer is blocked: the message was not written (commit.c
         * refuse_new; no store or spool call answers HD_EAGAIN) */
        serve_log_limited(HD_LOG_WARN, "not-stored", NULL, "%s: not stored: %s", j->cm.m.uuid,
                          hd_err_str(&j->cm.err));
        refuse(j, 452, "4.3.1", "the queue cannot be written (disk full?), ", "try again later");
    } else if (j->code == 250 && j->cm.rc) {
        serve_log_limited(HD_LOG_ERROR, "not-stored", NULL, "%s: not stored: %s", j->cm.m.uuid,
                          hd_err_str(&j->cm.err));
        refuse(j, 451, "4.3.0", "temporary failure storing the message, ", "try again later");
    } else if (j->code == 250) {
        sv->accept->disk_taken += (uint64_t)j->cm.loc.length + ROW_BYTES;
        atomic_fetch_add(&sv->metrics.messages_accepted, 1);
        atomic_fetch_add(&sv->metrics.recipients_accepted, j->n_rcpts);
        j->cm.m.segment = j->cm.loc.segment;
        metrics_accepted(sv, j->cm.m.from_domain,
                         queue_pool_label(sv, j->cm.m.from_domain, j->cm.m.pool), j->cm.loc.length);
        queue_add(sv, &j->cm.m, j->rcpts, j->cm.rcpt_ids, j->n_rcpts);
        snprintf(j->text, sizeof j->text, "Ok: queued as %s", j->cm.m.uuid);
        /* the envelope sender as it will go on the wire: with per-recipient
         * VERP each recipient has its own, so the log gives their form */
        const char *mf = j->cm.m.mail_from, *at = strrchr(mf, '@');
        bool per_rcpt = at && queue_sender_per_rcpt(sv, j->cm.m.from_domain);
        LOG_INFO_ID(j->cm.m.uuid,
                    "accepted from %s, %zu recipient%s, envelope from %s%s%s, message-id %s",
                    j->cm.m.submitter, j->n_rcpts, j->n_rcpts == 1 ? "" : "s",
                    per_rcpt ? "b-r<recipient>-<mac>@" : "", per_rcpt ? at + 1 : mf,
                    per_rcpt ? " (one per recipient)" : "", j->cm.m.message_id);
    }
    if (j->code != 250)
        atomic_fetch_add(&sv->metrics.messages_rejected, 1);
    j->done(j);
}
