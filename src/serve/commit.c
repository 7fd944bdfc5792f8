/*
 * commit.c - the committer thread: every database write and spool append
 * of the running server, made durable in batches (group commit).
 *
 * A batch is whatever arrived while the previous batch was being written:
 * the new messages' bytes are appended to the spool and flushed with one
 * fdatasync, then every row (messages, recipients, state changes, events,
 * suppressions) goes into one SQLite transaction, committed with
 * synchronous=FULL. Only then are the waiting sessions told (250), so an
 * acknowledged message is on disk twice over: bytes, then rows. Under
 * load a batch holds many messages and the disk flushes are shared; when
 * idle a batch is one message and nothing waits for a timer.
 *
 * When a batch cannot be written (the disk is full, the database fails),
 * the queue's changes in it are not dropped: they go back to the head of
 * the line and are retried every RETRY_MS, and until a write succeeds and
 * the reserve file is back the committer is "blocked": the queue starts no
 * delivery (an outcome that cannot be recorded would be sent again after a
 * restart) and new mail gets 452. The reserve (data_dir/reserve, [queue]
 * reserve_space) is disk space held back for that moment: on the first
 * failure it is given up, so the outcomes of deliveries already made can
 * still be written; it is made again before deliveries resume.
 *
 * The committer is in the engine room and calls nothing above it by
 * name: a room's own writes come as commit_op_apply (a function run in
 * the transaction and one run after it), and what must happen after a
 * batch or when the committer can write again hangs on its hooks
 * (commit_hook_add).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve/engine.h"

#define PRUNE_BATCH 10000       /* rows of each kind per hourly pass: keeps the batch short */
#define RETRY_MS 1000           /* a blocked committer tries again this often */
#define HOOKS_MAX 4             /* per commit_hook_when: one room each today */
#define HOOK_WHENS (COMMIT_HOOK_RESUMED + 1)
/* a failing disk fails every retry: one line a minute of each kind */
#define LOG_ERR_LIMITED(kind, ...) serve_log_limited(HD_LOG_ERROR, kind, NULL, __VA_ARGS__)

typedef enum commit_kind {
    COMMIT_RCPT,        /* rcpt row update and its event */
    COMMIT_SUPPRESS,    /* suppression add (or update) */
    COMMIT_UNSUPPRESS,  /* suppression remove */
    COMMIT_RELEASE,     /* message released; spool segment released after commit */
    COMMIT_CAPTURE,     /* sandbox capture row */
    COMMIT_MARK,        /* run done(arg) on the main thread once everything before is durable */
    COMMIT_PRUNE,       /* retention: remove rows older than prune_before */
    COMMIT_APPLY,       /* apply(store, arg, err) in the batch; then finish(arg, rc) */
} commit_kind;

/* One change: a tag, what its kind needs, and the strings it carries
 * after it (text), so that a recipient's change is the size of its
 * strings, not of the rows' largest fields. Made by the commit_op_*
 * functions; freed by the committer once its batch is over. */
struct commit_op {
    commit_kind kind;
    struct commit_op *next;
    union {
        struct {
            commit_rcpt_desc row;       /* strings in text */
            commit_event_desc event;    /* strings in text */
            int64_t at_ms;              /* when the event happened */
        } rcpt;
        struct {
            const char *address, *reason, *source;   /* in text; unsuppress: address */
        } suppress;
        struct {
            int64_t message_id;
            uint32_t segment;
        } release;
        struct {
            hd_store_capture row;       /* strings in text, data in data */
            uint8_t *data;              /* owned */
        } capture;
        struct {
            serve_fn done;
            void *arg;
            int *result;
        } mark;
        int64_t prune_before;
        struct {
            int (*fn)(hd_store *st, void *arg, hd_err *err);
            void (*finish)(void *arg, int rc);
            void *arg;
        } apply;
    } u;
    char text[];
};

typedef struct commit_hook {
    serve_fn fn;
    void *arg;
} commit_hook;

struct serve_commit {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    commit_msg *msgs, *msgs_tail;
    commit_op *ops, *ops_tail;
    size_t n_msgs;
    bool stop;
    hd_store *store;
    /* blocked: the last write failed, or the reserve could not be made;
     * read by the main thread (commit_blocked) */
    atomic_bool blocked;
    atomic_size_t held;          /* queue changes waiting for a write */
    char why[HD_ERR_MSG_MAX];    /* under lock */
    char reserve[4096];          /* data_dir/reserve, "" when reserve_space is 0 */
    /* written on the main thread before the loop runs, read there (the
     * count by the committer too, to know whether to post) */
    commit_hook hooks[HOOK_WHENS][HOOKS_MAX];
    atomic_size_t n_hooks[HOOK_WHENS];
};

static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    if (src)
        for (; src[n] && n + 1 < size; n++)
            dst[n] = (src[n] == '\r' || src[n] == '\n') ? ' ' : src[n];
    dst[n] = '\0';
}

void commit_event_fill(hd_store_event *e, const commit_event_desc *d)
{
    memset(e, 0, sizeof *e);
    e->at_ms = serve_now_ms();
    copy_cut(e->type, sizeof e->type, hd_event_type_name(d->type));
    copy_cut(e->message, sizeof e->message, d->message);
    copy_cut(e->recipient, sizeof e->recipient, d->recipient);
    copy_cut(e->remote_host, sizeof e->remote_host, d->remote);
    copy_cut(e->reply, sizeof e->reply, d->reply);
    copy_cut(e->tls, sizeof e->tls, d->tls);
    e->duration_ms = d->timed ? d->duration_ms : -1;
    e->detail = (char *)d->detail;      /* hd_store_event_add only reads it */
}

/* ---- making changes ---- */

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

static commit_op *op_new(commit_kind kind, size_t text)
{
    commit_op *op = calloc(1, sizeof *op + text);
    if (!op) {
        LOG_ERR("out of memory for a queue update");
        abort();
    }
    op->kind = kind;
    return op;
}

/* The bytes s takes in an op's text: at most size - 1 of it (the row's
 * field holds no more; size 0: all of it) and a NUL. */
static size_t text_size(const char *s, size_t size)
{
    return s ? strnlen(s, size ? size - 1 : SIZE_MAX) + 1 : 0;
}

/* s copied to *at (cut as text_size says), which moves past it; NULL stays NULL. */
static const char *text_put(char **at, const char *s, size_t size)
{
    if (!s)
        return NULL;
    size_t n = text_size(s, size) - 1;
    char *p = *at;
    memcpy(p, s, n);
    p[n] = '\0';
    *at += n + 1;
    return p;
}

#define RCPT_FIELD(f) FIELD_SIZE(hd_store_recipient, f)
#define EVENT_FIELD(f) FIELD_SIZE(hd_store_event, f)
_Static_assert(RCPT_FIELD(last_reply) == EVENT_FIELD(reply), "one reply serves both");

commit_op *commit_op_rcpt(const commit_rcpt_desc *r, const commit_event_desc *e)
{
    size_t n = text_size(r->last_reply, RCPT_FIELD(last_reply)) +
               text_size(r->mail_from, RCPT_FIELD(mail_from)) +
               text_size(e->message, EVENT_FIELD(message)) +
               text_size(e->recipient, EVENT_FIELD(recipient)) +
               text_size(e->remote, EVENT_FIELD(remote_host)) +
               text_size(e->tls, EVENT_FIELD(tls)) + text_size(e->detail, 0);
    /* the reply is most often the row's too: kept once (the fields are of one size) */
    bool one_reply = e->reply == r->last_reply;
    if (!one_reply)
        n += text_size(e->reply, EVENT_FIELD(reply));
    commit_op *op = op_new(COMMIT_RCPT, n);
    char *at = op->text;
    commit_rcpt_desc *row = &op->u.rcpt.row;
    *row = *r;
    row->last_reply = text_put(&at, r->last_reply, RCPT_FIELD(last_reply));
    row->mail_from = text_put(&at, r->mail_from, RCPT_FIELD(mail_from));
    commit_event_desc *ev = &op->u.rcpt.event;
    *ev = *e;
    ev->message = text_put(&at, e->message, EVENT_FIELD(message));
    ev->recipient = text_put(&at, e->recipient, EVENT_FIELD(recipient));
    ev->remote = text_put(&at, e->remote, EVENT_FIELD(remote_host));
    ev->reply = one_reply ? row->last_reply : text_put(&at, e->reply, EVENT_FIELD(reply));
    ev->tls = text_put(&at, e->tls, EVENT_FIELD(tls));
    ev->detail = text_put(&at, e->detail, 0);
    op->u.rcpt.at_ms = serve_now_ms();
    return op;
}

#define SUPPRESS_ADDRESS HD_STORE_ADDR_MAX
#define SUPPRESS_REASON HD_STORE_TEXT_MAX
#define SUPPRESS_SOURCE 32          /* "bounce" "complaint" "api" ... */

commit_op *commit_op_suppress(const char *address, const char *reason, const char *source)
{
    commit_op *op = op_new(COMMIT_SUPPRESS, text_size(address, SUPPRESS_ADDRESS) +
                                                text_size(reason, SUPPRESS_REASON) +
                                                text_size(source, SUPPRESS_SOURCE));
    char *at = op->text;
    op->u.suppress.address = text_put(&at, address, SUPPRESS_ADDRESS);
    op->u.suppress.reason = text_put(&at, reason, SUPPRESS_REASON);
    op->u.suppress.source = text_put(&at, source, SUPPRESS_SOURCE);
    return op;
}

commit_op *commit_op_unsuppress(const char *address)
{
    commit_op *op = op_new(COMMIT_UNSUPPRESS, text_size(address, SUPPRESS_ADDRESS));
    char *at = op->text;
    op->u.suppress.address = text_put(&at, address, SUPPRESS_ADDRESS);
    return op;
}

commit_op *commit_op_release(int64_t message_id, uint32_t segment)
{
    commit_op *op = op_new(COMMIT_RELEASE, 0);
    op->u.release.message_id = message_id;
    op->u.release.segment = segment;
    return op;
}

commit_op *commit_op_capture(const hd_store_capture *cap)
{
    commit_op *op = op_new(COMMIT_CAPTURE, text_size(cap->message, 0) +
                                               text_size(cap->recipient, 0) +
                                               text_size(cap->mail_from, 0) +
                                               text_size(cap->verdict, 0) +
                                               text_size(cap->detail, 0));
    char *at = op->text;
    hd_store_capture *row = &op->u.capture.row;
    *row = *cap;
    row->message = text_put(&at, cap->message, 0);
    row->recipient = text_put(&at, cap->recipient, 0);
    row->mail_from = text_put(&at, cap->mail_from, 0);
    row->verdict = text_put(&at, cap->verdict, 0);
    row->detail = text_put(&at, cap->detail, 0);
    /* the message may be large: without the memory for it the row is
     * stored without its bytes, not refused */
    uint8_t *data = malloc(cap->data.len ? cap->data.len : 1);
    if (data && cap->data.len)
        memcpy(data, cap->data.p, cap->data.len);
    op->u.capture.data = data;
    row->data = hd_slice_make(data, data ? cap->data.len : 0);
    return op;
}

commit_op *commit_op_mark(serve_fn done, void *arg, int *result)
{
    commit_op *op = op_new(COMMIT_MARK, 0);
    op->u.mark.done = done;
    op->u.mark.arg = arg;
    op->u.mark.result = result;
    return op;
}

commit_op *commit_op_prune(int64_t before)
{
    commit_op *op = op_new(COMMIT_PRUNE, 0);
    op->u.prune_before = before;
    return op;
}

commit_op *commit_op_apply(int (*apply)(hd_store *st, void *arg, hd_err *err),
                           void (*finish)(void *arg, int rc), void *arg)
{
    commit_op *op = op_new(COMMIT_APPLY, 0);
    op->u.apply.fn = apply;
    op->u.apply.finish = finish;
    op->u.apply.arg = arg;
    return op;
}

static void free_op(commit_op *op)
{
    if (op->kind == COMMIT_CAPTURE)
        free(op->u.capture.data);
    free(op);
}

/* ---- hooks ---- */

void commit_hook_add(serve *sv, commit_hook_when when, serve_fn fn, void *arg)
{
    struct serve_commit *c = sv->commit;
    size_t n = atomic_load(&c->n_hooks[when]);
    if (n == HOOKS_MAX) {
        LOG_ERR("too many committer hooks");    /* a programming error: HOOKS_MAX */
        abort();
    }
    c->hooks[when][n] = (commit_hook){fn, arg};
    atomic_store(&c->n_hooks[when], n + 1);
}

/* Main thread: the hooks of one kind, in the order they were added. */
static void run_hooks(serve *sv, commit_hook_when when)
{
    struct serve_commit *c = sv->commit;
    size_t n = c ? atomic_load(&c->n_hooks[when]) : 0;     /* none once stopped */
    for (size_t i = 0; i < n; i++)
        c->hooks[when][i].fn(c->hooks[when][i].arg);
}

static void run_batch_hooks(void *sv)
{
    run_hooks(sv, COMMIT_HOOK_BATCH);
}

static void run_resumed_hooks(void *sv)
{
    run_hooks(sv, COMMIT_HOOK_RESUMED);
}

void commit_message(serve *sv, commit_msg *cm)
{
    struct serve_commit *c = sv->commit;
    cm->next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->msgs_tail)
        c->msgs_tail->next = cm;
    else
        c->msgs = cm;
    c->msgs_tail = cm;
    c->n_msgs++;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void commit_op_post(serve *sv, commit_op *op)
{
    struct serve_commit *c = sv->commit;
    op->next = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->ops_tail)
        c->ops_tail->next = op;
    else
        c->ops = op;
    c->ops_tail = op;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Rows of one accepted message, inside the batch transaction. */
static int insert_message(hd_store *st, commit_msg *cm, hd_err *err)
{
    cm->m.segment = cm->loc.segment;
    cm->m.offset = (int64_t)cm->loc.offset;
    cm->m.length = cm->loc.length;
    cm->m.crc = cm->loc.crc;
    int rc = hd_store_message_insert(st, &cm->m, err);
    for (size_t i = 0; !rc && i < cm->n_rcpts; i++) {
        hd_store_recipient r = {0};
        r.message = cm->m.id;
        copy_cut(r.address, sizeof r.address, cm->rcpts[i]);
        const char *at = strrchr(cm->rcpts[i], '@');
        copy_cut(r.domain, sizeof r.domain, at ? at + 1 : "");
        for (char *p = r.domain; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        r.state = HD_RCPT_QUEUED;
        r.next_attempt = cm->m.received_at;
        r.updated_at = cm->m.received_at;
        if (!(rc = hd_store_recipient_insert(st, &r, err)))
            cm->rcpt_ids[i] = r.id;
    }
    if (!rc) {
        hd_store_event e;
        commit_event_fill(&e, &(commit_event_desc){.type = HD_EVENT_ACCEPTED,
                                                   .message = cm->m.uuid,
                                                   .reply = cm->m.submitter});
        rc = hd_store_event_add(st, &e, err);
    }
    if (!rc && cm->idem)
        rc = hd_store_idempotency_add(st, cm->idem, err);
    return rc;
}

/* A recipient's row and its event, stamped when the change was made. */
static int apply_rcpt(hd_store *st, const commit_op *op, hd_err *err)
{
    const commit_rcpt_desc *d = &op->u.rcpt.row;
    hd_store_recipient r = {.id = d->id,
                            .message = d->message,
                            .state = d->state,
                            .attempts = d->attempts,
                            .next_attempt = d->next_attempt,
                            .updated_at = d->updated_at};
    snprintf(r.last_reply, sizeof r.last_reply, "%s", d->last_reply ? d->last_reply : "");
    snprintf(r.mail_from, sizeof r.mail_from, "%s", d->mail_from ? d->mail_from : "");
    int rc = hd_store_recipient_update(st, &r, err);
    if (rc)
        return rc;
    hd_store_event e;
    commit_event_fill(&e, &op->u.rcpt.event);
    e.at_ms = op->u.rcpt.at_ms;
    return hd_store_event_add(st, &e, err);
}

static int apply_op(hd_store *st, commit_op *op, hd_err *err)
{
    int rc = 0;
    switch (op->kind) {
    case COMMIT_RCPT:
        rc = apply_rcpt(st, op, err);
        break;
    case COMMIT_SUPPRESS:
        rc = hd_store_suppression_add(st, op->u.suppress.address, op->u.suppress.reason,
                                      op->u.suppress.source, serve_now(), err);
        break;
    case COMMIT_UNSUPPRESS:
        rc = hd_store_suppression_remove(st, op->u.suppress.address, err);
        if (rc == HD_ENOTFOUND)
            rc = 0;     /* already gone: the wanted state */
        break;
    case COMMIT_RELEASE:
        rc = hd_store_message_release(st, op->u.release.message_id, err);
        break;
    case COMMIT_CAPTURE:
        rc = hd_store_capture_add(st, &op->u.capture.row, err);
        break;
    case COMMIT_PRUNE: {
        size_t n = 0;
        rc = hd_store_prune(st, op->u.prune_before, PRUNE_BATCH, &n, err);
        if (!rc && n)
            LOG_INFO("retention: %zu old row%s removed", n, n == 1 ? "" : "s");
        break;
    }
    case COMMIT_APPLY:
        rc = op->u.apply.fn(st, op->u.apply.arg, err);
        break;
    case COMMIT_MARK:
        break;
    }
    return rc;
}

/* The envelope beside the bytes: with it the spool alone says who the
 * message is for, should the database be lost (herald queue recover). */
static int append_envelope(serve *sv, const commit_msg *cm, const uint8_t id[HD_SPOOL_ID_LEN],
                           hd_err *err)
{
    const hd_store_message *m = &cm->m;
    hd_spool_envelope env = {
        .mail_from = (char *)m->mail_from, .from_domain = (char *)m->from_domain,
        .message_id = (char *)m->message_id, .submitter = (char *)m->submitter,
        .pool = (char *)m->pool, .received_at = m->received_at, .expires_at = m->expires_at,
        .flags = m->flags, .rcpts = cm->rcpts, .n_rcpts = cm->n_rcpts};
    snprintf(env.uuid, sizeof env.uuid, "%s", m->uuid);
    hd_buf b;
    hd_buf_init(&b, HD_SPOOL_ENVELOPE_MAX);
    hd_err why = {0};
    int rc = 0;
    if (hd_spool_envelope_write(&env, &b, &why) != 0)   /* a recovery aid: the mail goes on */
        LOG_WARN_ID(m->uuid, "no envelope record in the spool: %s", hd_err_str(&why));
    else
        rc = hd_spool_append_envelope(sv->spool, id, hd_buf_slice(&b), err);
    hd_buf_free(&b);
    return rc;
}

/* The queue's own changes are what happened (a delivery made, a bounce
 * received): when their batch fails they are kept and written by a later
 * one, never dropped. The others answer their caller with the failure. */
static bool op_kept(const commit_op *op)
{
    switch (op->kind) {
    case COMMIT_RCPT:
    case COMMIT_SUPPRESS:
    case COMMIT_UNSUPPRESS:
    case COMMIT_RELEASE:
    case COMMIT_CAPTURE:
        return true;
    default:
        return false;
    }
}

/* Take records appended since mark out of the spool again. Should that
 * fail they stay, records no row points at: their segment is then moved
 * to orphan/ rather than deleted, and `queue recover` would send them. */
static void rewind_spool(serve *sv, hd_spool_mark mark)
{
    hd_err err = {0};
    if (hd_spool_rewind(sv->spool, mark, &err) != 0)
        LOG_ERR_LIMITED("spool-rewind", "spool: %s: records of mail answered 451 stay in the "
                        "spool; do not `herald queue recover` segment %08u", hd_err_str(&err),
                        mark.segment);
}

/* Hold reserve_space bytes back in data_dir/reserve (allocated, not a
 * sparse file), so that the next failure has room to record what was
 * done. 0 when it is there (or none is configured). */
static int make_reserve(serve *sv, hd_err *err)
{
    struct serve_commit *c = sv->commit;
    uint64_t size = sv->cfg->queue.reserve_space;
    struct stat st;
    if (!c->reserve[0] || size == 0 ||
        (stat(c->reserve, &st) == 0 && (uint64_t)st.st_blocks * 512 >= size))
        return 0;
    int fd = open(c->reserve, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", c->reserve, strerror(errno));
    int e = posix_fallocate(fd, 0, (off_t)size);
    if (e == 0 && fdatasync(fd) != 0)
        e = errno;
    close(fd);
    if (e) {
        unlink(c->reserve);     /* a part of it would only take space */
        return hd_err_set(err, HD_EIO, "%s: cannot hold %llu bytes in reserve: %s", c->reserve,
                          (unsigned long long)size, strerror(e));
    }
    return 0;
}

/* A write failed: stop deliveries (queue.c asks commit_blocked), and give
 * the reserve up so the retry has room. True when the reserve was given up
 * just now (worth retrying at once). */
static bool block(serve *sv, const hd_err *err)
{
    struct serve_commit *c = sv->commit;
    pthread_mutex_lock(&c->lock);
    snprintf(c->why, sizeof c->why, "%s", hd_err_str(err));
    pthread_mutex_unlock(&c->lock);
    atomic_store(&c->blocked, true);
    atomic_fetch_add(&sv->metrics.commit_failures, 1);
    LOG_WARN_LIMITED("database-write", NULL,
                     "cannot record the queue: %s; no delivery starts and new mail gets 452 "
                     "until a write succeeds (%zu change%s held in memory, retried every second)",
                     hd_err_str(err), atomic_load(&c->held), atomic_load(&c->held) == 1 ? "" : "s");
    bool freed = c->reserve[0] && unlink(c->reserve) == 0;
    if (freed)
        LOG_WARN("%s given up (%llu bytes) so that what was already done can be recorded; "
                 "deliveries resume once it can be made again", c->reserve,
                 (unsigned long long)sv->cfg->queue.reserve_space);
    return freed;
}

/* Blocked, and nothing is held any more: deliveries resume once the
 * reserve is back and a write has been seen to commit. wrote: this call
 * follows a committed batch; otherwise a probe write must commit first
 * (a failed batch of new mail leaves nothing held, and the reserve it
 * gave up can be made again at once, while the database still fails). */
static void try_unblock(serve *sv, bool wrote)
{
    struct serve_commit *c = sv->commit;
    hd_err err = {0};
    if (!atomic_load(&c->blocked) || atomic_load(&c->held) > 0)
        return;
    if (!wrote && hd_store_probe_write(c->store, serve_now(), &err) != 0) {
        pthread_mutex_lock(&c->lock);
        snprintf(c->why, sizeof c->why, "%s", hd_err_str(&err));
        pthread_mutex_unlock(&c->lock);
        LOG_WARN_LIMITED("database-write", NULL, "cannot record the queue: %s; deliveries stay "
                         "stopped", hd_err_str(&err));
        return;
    }
    if (make_reserve(sv, &err) != 0) {
        pthread_mutex_lock(&c->lock);
        snprintf(c->why, sizeof c->why, "%s", hd_err_str(&err));
        pthread_mutex_unlock(&c->lock);
        LOG_WARN_LIMITED("database-reserve", NULL, "%s; deliveries stay stopped", hd_err_str(&err));
        return;
    }
    atomic_store(&c->blocked, false);
    LOG_INFO("the queue can be recorded again: deliveries resume");
    serve_post(sv, run_resumed_hooks, sv);     /* the queue is kicked */
}

/* Step 1, the bytes: every message after its envelope, one flush; a
 * message whose append fails is cut off again (its envelope too). */
static int append_messages(serve *sv, commit_msg *msgs, size_t *n_msgs, hd_err *err)
{
    int rc = 0;
    for (commit_msg *cm = msgs; cm; cm = cm->next, (*n_msgs)++) {
        uint8_t id[HD_SPOOL_ID_LEN] = {0};
        memcpy(id, cm->m.uuid, strnlen(cm->m.uuid, HD_SPOOL_ID_LEN));
        hd_spool_mark mark = hd_spool_mark_now(sv->spool);
        cm->rc = append_envelope(sv, cm, id, &cm->err);
        if (!cm->rc)
            cm->rc = hd_spool_append(sv->spool, id, cm->parts, cm->n_parts, &cm->loc, &cm->err);
        if (!cm->rc)
            hd_spool_hold(sv->spool, cm->loc.segment);
        else
            rewind_spool(sv, mark);
    }
    if (msgs && sv->cfg->queue.durable && (rc = hd_spool_sync(sv->spool, err)))
        LOG_ERR_LIMITED("spool-sync", "spool: %s", hd_err_str(err));
    return rc;
}

/* Step 2, the rows: one transaction for the messages and the changes. */
static int write_rows(struct serve_commit *c, commit_msg *msgs, commit_op *ops, size_t *n_ops,
                      hd_err *err)
{
    int rc = hd_store_begin(c->store, err);
    if (rc) {
        LOG_ERR_LIMITED("database-begin", "database: %s", hd_err_str(err));
        return rc;
    }
    for (commit_msg *cm = msgs; cm && !rc; cm = cm->next)
        if (!cm->rc)
            rc = insert_message(c->store, cm, err);
    for (commit_op *op = ops; op && !rc; op = op->next, (*n_ops)++)
        rc = apply_op(c->store, op, err);
    if (!rc)
        rc = hd_store_commit(c->store, err);
    if (rc) {
        LOG_ERR_LIMITED("database-commit", "database: %s", hd_err_str(err));
        hd_store_rollback(c->store);
    }
    return rc;
}

/* Step 3a: tell the waiting sessions. A failed batch fails each message
 * (the client gets 451 and may retry: nothing it was told is lost), and
 * its records leave the spool: no row will ever point at them, and a
 * later `queue recover` must not send what was answered 451. */
static void answer_messages(serve *sv, commit_msg *msgs, hd_spool_mark batch_mark, int rc,
                            const hd_err *err)
{
    if (rc && msgs)
        rewind_spool(sv, batch_mark);
    for (commit_msg *cm = msgs; cm;) {
        commit_msg *next = cm->next;
        if (rc && !cm->rc) {
            cm->rc = rc;
            cm->err = *err;
            hd_spool_release(sv->spool, cm->loc.segment);
        } else if (cm->rc) {
            LOG_ERR_LIMITED("spool-append", "spool: %s", hd_err_str(&cm->err));
        }
        serve_post(sv, cm->done, cm->arg);
        cm = next;
    }
}

/* Step 3b: finish each change, or, when the batch failed and keep is
 * set, put the ones that must not be lost back at the head of the line,
 * before anything newer. Returns how many were kept. */
static size_t finish_ops(serve *sv, commit_op *ops, int rc, bool keep, const hd_err *err)
{
    struct serve_commit *c = sv->commit;
    commit_op *kept = NULL, *kept_last = NULL;
    size_t n_kept = 0, n_lost = 0;
    for (commit_op *op = ops; op;) {
        commit_op *next = op->next;
        if (rc && op_kept(op) && keep) {
            op->next = NULL;
            if (kept_last)
                kept_last->next = op;
            else
                kept = op;
            kept_last = op;
            n_kept++;
            op = next;
            continue;
        }
        if (rc && op_kept(op))
            n_lost++;
        if (!rc && op->kind == COMMIT_RELEASE)
            hd_spool_release(sv->spool, op->u.release.segment);
        if (op->kind == COMMIT_MARK && op->u.mark.result)
            *op->u.mark.result = rc;
        if (op->kind == COMMIT_MARK && op->u.mark.done)
            serve_post(sv, op->u.mark.done, op->u.mark.arg);
        if (op->kind == COMMIT_APPLY && op->u.apply.finish)
            op->u.apply.finish(op->u.apply.arg, rc);    /* a failure is its caller's to answer */
        free_op(op);
        op = next;
    }
    if (n_lost)
        LOG_ERR("%zu queue change%s could not be recorded before stopping: %s; those recipients "
                "are tried again from the last recorded state at the next start",
                n_lost, n_lost == 1 ? "" : "s", hd_err_str(err));
    if (kept) {
        pthread_mutex_lock(&c->lock);
        kept_last->next = c->ops;
        if (!c->ops)
            c->ops_tail = kept_last;
        c->ops = kept;
        pthread_mutex_unlock(&c->lock);
    }
    return n_kept;
}

/* keep: a failed batch's queue changes go back to the head of the line
 * (false at the last batch before stopping: they are lost, and said so). */
static int run_batch(serve *sv, commit_msg *msgs, commit_op *ops, bool keep)
{
    struct serve_commit *c = sv->commit;
    hd_err err = {0};
    size_t n_msgs = 0, n_ops = 0;
    hd_spool_mark batch_mark = hd_spool_mark_now(sv->spool);
    int rc = append_messages(sv, msgs, &n_msgs, &err);
    if (!rc)
        rc = write_rows(c, msgs, ops, &n_ops, &err);
    atomic_fetch_add(&sv->metrics.commit_batches, 1);
    atomic_fetch_add(&sv->metrics.commit_messages, n_msgs);
    atomic_fetch_add(&sv->metrics.commit_ops, n_ops);
    answer_messages(sv, msgs, batch_mark, rc, &err);
    atomic_store(&c->held, finish_ops(sv, ops, rc, keep, &err));
    if (!rc && atomic_load(&c->n_hooks[COMMIT_HOOK_BATCH]) > 0)
        serve_post(sv, run_batch_hooks, sv);    /* there may be new events */
    if (rc)
        return block(sv, &err) ? HD_EAGAIN : rc;
    try_unblock(sv, true);
    return 0;
}

/* While blocked: new messages are not written (the spool and the
 * reserve are kept for the held changes) and are answered 452
 * (HD_EAGAIN, which no store or spool call returns: accept.c). */
static void refuse_new(serve *sv, commit_msg *msgs)
{
    struct serve_commit *c = sv->commit;
    char why[HD_ERR_MSG_MAX];
    pthread_mutex_lock(&c->lock);
    snprintf(why, sizeof why, "%s", c->why);
    pthread_mutex_unlock(&c->lock);
    for (commit_msg *cm = msgs; cm;) {
        commit_msg *next = cm->next;
        cm->rc = hd_err_set(&cm->err, HD_EAGAIN, "the queue cannot be written (%s)", why);
        serve_post(sv, cm->done, cm->arg);
        cm = next;
    }
}

/* refuse_new for every message waiting (called and returning with the
 * lock held; it is let go while they are answered). */
static void refuse_waiting(serve *sv)
{
    struct serve_commit *c = sv->commit;
    commit_msg *refused = c->msgs;
    c->msgs = c->msgs_tail = NULL;
    c->n_msgs = 0;
    pthread_mutex_unlock(&c->lock);
    refuse_new(sv, refused);
    pthread_mutex_lock(&c->lock);
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *commit_main(void *arg)
{
    serve *sv = arg;
    struct serve_commit *c = sv->commit;
    bool again = false;     /* the reserve was just given up: retry at once */
    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->msgs && !c->ops && !c->stop && !atomic_load(&c->blocked))
            pthread_cond_wait(&c->cond, &c->lock);
        if (atomic_load(&c->blocked) && !again) {
            /* the disk gets time; new mail is answered at once, unwritten:
             * its bytes would take the room kept for the held changes */
            struct timespec ts;
            deadline_in(&ts, RETRY_MS);
            bool due = false;
            while (!c->stop && !due) {
                if (c->msgs) {
                    refuse_waiting(sv);
                    continue;
                }
                due = pthread_cond_timedwait(&c->cond, &c->lock, &ts) != 0;
            }
        }
        again = false;
        if (atomic_load(&c->blocked) && c->msgs)
            refuse_waiting(sv);
        if (!c->msgs && !c->ops && c->stop) {
            pthread_mutex_unlock(&c->lock);
            break;
        }
        /* take at most commit_batch messages; ops all at once */
        commit_msg *msgs = c->msgs, *last = NULL;
        size_t take = 0, max = sv->cfg->queue.commit_batch ? sv->cfg->queue.commit_batch : 256;
        for (commit_msg *m = msgs; m && take < max; m = m->next)
            last = m, take++;
        if (last) {
            c->msgs = last->next;
            if (!c->msgs)
                c->msgs_tail = NULL;
            last->next = NULL;
            c->n_msgs -= take;
        }
        commit_op *ops = c->ops;
        c->ops = c->ops_tail = NULL;
        bool stopping = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (!msgs && !ops) {
            try_unblock(sv, false);     /* nothing to write: can we write again? */
            continue;
        }
        int rc = run_batch(sv, msgs, ops, true);
        again = rc == HD_EAGAIN;
        if (rc && stopping) {
            /* one more try (the reserve may just have been given up);
             * what still cannot be written is said lost */
            pthread_mutex_lock(&c->lock);
            ops = c->ops;
            c->ops = c->ops_tail = NULL;
            pthread_mutex_unlock(&c->lock);
            if (ops)
                run_batch(sv, NULL, ops, false);
        }
    }
    return NULL;
}

bool commit_blocked(serve *sv)
{
    return sv->commit && atomic_load(&sv->commit->blocked);
}

size_t commit_held(serve *sv)
{
    return sv->commit ? atomic_load(&sv->commit->held) : 0;
}

void commit_blocked_why(serve *sv, char *out, size_t size)
{
    struct serve_commit *c = sv->commit;
    if (!c) {
        snprintf(out, size, "%s", "");
        return;
    }
    pthread_mutex_lock(&c->lock);
    snprintf(out, size, "%s", c->why);
    pthread_mutex_unlock(&c->lock);
}

int commit_start(serve *sv, hd_err *err)
{
    struct serve_commit *c = calloc(1, sizeof *c);
    if (!c)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->commit = c;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    atomic_init(&c->blocked, false);
    atomic_init(&c->held, 0);
    atomic_init(&c->n_hooks[COMMIT_HOOK_BATCH], 0);
    atomic_init(&c->n_hooks[COMMIT_HOOK_RESUMED], 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", sv->data_dir);
    int rc = hd_store_open(path, sv->cfg->queue.durable, &c->store, err);
    if (rc)
        return rc;
    if (sv->cfg->queue.reserve_space)
        snprintf(c->reserve, sizeof c->reserve, "%s/reserve", sv->data_dir);
    /* started on a full disk (a restart after the reserve was used):
     * nothing is delivered until there is room to record it */
    hd_err why = {0};
    if (make_reserve(sv, &why) != 0) {
        snprintf(c->why, sizeof c->why, "%s", hd_err_str(&why));
        atomic_store(&c->blocked, true);
        LOG_WARN("%s; no delivery starts and new mail gets 452 until there is room "
                 "(retried every second)", hd_err_str(&why));
    }
    if (pthread_create(&c->thread, NULL, commit_main, sv) != 0)
        return hd_err_set(err, HD_EIO, "cannot start the committer thread");
    return 0;
}

void commit_stop(serve *sv)
{
    struct serve_commit *c = sv->commit;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    hd_store_close(c->store);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
    sv->commit = NULL;
}
