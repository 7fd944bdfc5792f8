/*
 * cmd_recover.c - `herald queue recover`: queue again the mail held in
 * spool/orphan/, the segments a start found that its database did not
 * know (a lost or replaced herald.db). Each message's envelope record
 * (herald/spool.h) says who it is for; its bytes are appended to the live
 * spool and its rows inserted, as the committer does, so the next start
 * delivers it. The server must be stopped (the data directory's lock):
 * it owns the spool while it runs.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <herald/spool.h>
#include <herald/store.h>

static const char recover_help[] =
    "usage: herald queue recover [--config FILE | --data-dir DIR]\n"
    "\n"
    "Queue again the mail in DIR/spool/orphan/: the spool segments a start\n"
    "moved aside because this database did not know them (herald.db lost or\n"
    "replaced; docs/operations.md). Each message with its envelope record is\n"
    "queued for its recipients as when it was accepted; one already in the\n"
    "database is left alone. A message without one (a segment an older herald\n"
    "wrote) is written to spool/orphan/ID.eml to be sent again by hand. A\n"
    "segment done is renamed NNNNNNNN.seg.recovered (kept, not deleted).\n"
    "Run it with the server stopped; start the server after it to deliver.\n"
    "\n"
    "Exit: 0 done (or nothing to recover), 64 usage, 66 no data directory or\n"
    "database, 75 the server is running, 70 a segment could not be read or\n"
    "its mail queued (the others are done; run it again after the cause).\n";

typedef struct recover_ctx {
    const char *dir;            /* data directory */
    const char *seg_path;       /* the orphaned segment being read */
    hd_store *st;
    hd_spool *sp;
    hd_spool_record env;        /* the last envelope record seen */
    bool have_env;
    size_t queued, rcpts, known, pruned, bare, bad, bad_env;
    hd_err err;
} recover_ctx;

/* The server's lock (serve.c, lock_data_dir: an flock on the data
 * directory itself), held while recovering so no server starts meanwhile. */
static int lock_dir(const char *dir, int *fd)
{
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) {
        cli_error("%s: %s", dir, strerror(errno));
        return errno == EACCES || errno == EPERM ? CLI_NOPERM : CLI_NOINPUT;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            cli_error("%s: the server is running; stop it first (recovery appends to the spool "
                      "the server owns)", dir);
        else
            cli_error("%s: cannot lock the data directory: %s", dir, strerror(e));
        close(*fd);
        *fd = -1;
        return e == EWOULDBLOCK ? CLI_TEMPFAIL : CLI_SOFTWARE;
    }
    return CLI_OK;
}

static void id_text(const uint8_t id[HD_SPOOL_ID_LEN], char out[HD_SPOOL_ID_LEN + 1])
{
    for (size_t i = 0; i < HD_SPOOL_ID_LEN; i++)
        out[i] = id[i] >= 0x21 && id[i] < 0x7f && id[i] != '/' ? (char)id[i] : '_';
    out[HD_SPOOL_ID_LEN] = '\0';
}

/* A message without an envelope: its bytes to orphan/ID.eml for a person. */
static int write_bare(recover_ctx *rc, const hd_spool_record *r, const hd_buf *bytes)
{
    char id[HD_SPOOL_ID_LEN + 1], path[4200];
    id_text(r->id, id);
    snprintf(path, sizeof path, "%s/spool/orphan/%s.eml", rc->dir, id);
    FILE *f = fopen(path, "wbx");
    if (!f && errno == EEXIST)
        return 0;       /* written by an earlier run */
    if (!f || fwrite(bytes->p, 1, bytes->len, f) != bytes->len || fclose(f) != 0) {
        hd_err_set(&rc->err, HD_EIO, "%s: %s", path, strerror(errno));
        return HD_EIO;
    }
    printf("%s: no usable envelope: the message is in %s\n", rc->seg_path,
           path);
    return 0;
}

/* Rows for one recovered message (inside the segment's transaction). */
static int insert_rows(recover_ctx *rc, const hd_spool_envelope *env, const hd_spool_loc *loc,
                       hd_err *err)
{
    hd_store_message m = {0};
    int64_t now = (int64_t)time(NULL);
    snprintf(m.uuid, sizeof m.uuid, "%s", env->uuid);
    m.segment = loc->segment;
    m.offset = (int64_t)loc->offset;
    m.length = loc->length;
    m.crc = loc->crc;
    snprintf(m.mail_from, sizeof m.mail_from, "%s", env->mail_from);
    snprintf(m.from_domain, sizeof m.from_domain, "%s", env->from_domain);
    snprintf(m.message_id, sizeof m.message_id, "%s", env->message_id);
    snprintf(m.submitter, sizeof m.submitter, "%s", env->submitter);
    snprintf(m.pool, sizeof m.pool, "%s", env->pool);
    m.received_at = env->received_at;
    /* mail answered 250 gets its whole lifetime again from now, not none */
    m.expires_at = env->expires_at > now ? env->expires_at
                                         : now + (env->expires_at - env->received_at);
    m.flags = env->flags;
    int rc2 = hd_store_message_insert(rc->st, &m, err);
    for (size_t i = 0; !rc2 && i < env->n_rcpts; i++) {
        hd_store_recipient r = {0};
        r.message = m.id;
        snprintf(r.address, sizeof r.address, "%s", env->rcpts[i]);
        const char *at = strrchr(env->rcpts[i], '@');
        snprintf(r.domain, sizeof r.domain, "%s", at ? at + 1 : "");
        for (char *p = r.domain; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        r.state = HD_RCPT_QUEUED;
        r.next_attempt = now;
        r.updated_at = now;
        rc2 = hd_store_recipient_insert(rc->st, &r, err);
    }
    if (!rc2) {
        hd_store_event e = {0};
        e.at_ms = now * 1000;
        e.duration_ms = -1;
        snprintf(e.type, sizeof e.type, "%s", hd_event_type_name(HD_EVENT_ACCEPTED));
        snprintf(e.message, sizeof e.message, "%s", env->uuid);
        snprintf(e.reply, sizeof e.reply, "recovered from %s by herald queue recover",
                 rc->seg_path);
        rc2 = hd_store_event_add(rc->st, &e, err);
    }
    return rc2;
}

/* The server's test at start (queue.c, spool_pruned): a message the
 * database does not have, appended to its segment no later than the last
 * one the database released from there, was delivered (or bounced) and
 * then pruned by retention; queueing it again would send it twice.
 * Segment numbers are never reused (hd_spool_open), so the mark is this
 * segment's. */
static bool recover_pruned(recover_ctx *rc, const hd_spool_record *msg)
{
    int64_t mark = -1;
    hd_err ignore = {0};
    return msg->loc.segment != 0 &&
           hd_store_segment_released(rc->st, msg->loc.segment, &mark, &ignore) == 0 &&
           mark >= 0 && (int64_t)msg->loc.offset <= mark;
}

/* An envelope and its message: queue it again unless the database knows
 * it, or knew it and pruned it once finished. */
static int recover_pair(recover_ctx *rc, const hd_spool_record *msg, const hd_buf *bytes)
{
    hd_buf eb;
    hd_buf_init(&eb, HD_SPOOL_ENVELOPE_MAX + 1);
    hd_spool_envelope env;
    int r = hd_spool_read_file(rc->seg_path, &rc->env, &eb, &rc->err);
    if (!r)
        r = hd_spool_envelope_parse(eb.p, eb.len, &env, &rc->err);
    hd_buf_free(&eb);
    if (r == HD_ESYNTAX || r == HD_ELIMIT) {
        /* a damaged envelope loses who the message is for, not the
         * message, nor the records after it: the bytes go out as .eml */
        fprintf(stderr, "herald: %s: damaged envelope: %s; its message is written out bare\n",
                rc->seg_path, hd_err_str(&rc->err));
        rc->bad_env++;
        return write_bare(rc, msg, bytes);
    }
    if (r) {
        hd_err_prefix(&rc->err, "%s: ", rc->seg_path);
        return r;
    }
    hd_store_message known;
    hd_err ignore = {0};
    if (hd_store_message_get(rc->st, env.uuid, &known, &ignore) == 0) {
        rc->known++;
        hd_spool_envelope_free(&env);
        return 0;
    }
    if (recover_pruned(rc, msg)) {
        rc->pruned++;
        hd_spool_envelope_free(&env);
        return 0;
    }
    hd_spool_loc loc;
    hd_slice part = hd_buf_slice(bytes);
    hd_buf text;
    hd_buf_init(&text, HD_SPOOL_ENVELOPE_MAX);
    r = hd_spool_envelope_write(&env, &text, &rc->err);
    if (!r)
        r = hd_spool_append_envelope(rc->sp, msg->id, hd_buf_slice(&text), &rc->err);
    if (!r)
        r = hd_spool_append(rc->sp, msg->id, &part, 1, &loc, &rc->err);
    hd_buf_free(&text);
    if (!r)
        r = insert_rows(rc, &env, &loc, &rc->err);
    if (!r) {
        rc->queued++;
        rc->rcpts += env.n_rcpts;
    }
    hd_spool_envelope_free(&env);
    return r;
}

static int recover_record(const hd_spool_record *r, void *arg)
{
    recover_ctx *rc = arg;
    if (r->kind == HD_SPOOL_REC_ENVELOPE) {
        rc->env = *r;
        rc->have_env = true;
        return 0;
    }
    hd_buf bytes;
    hd_buf_init(&bytes, (size_t)r->loc.length + 1);
    int e = hd_spool_read_file(rc->seg_path, r, &bytes, &rc->err);
    if (e == HD_ESYNTAX) {      /* damaged: said, the rest goes on */
        fprintf(stderr, "herald: %s\n", hd_err_str(&rc->err));
        rc->bad++;
        e = 0;
    } else if (!e && rc->have_env && memcmp(rc->env.id, r->id, HD_SPOOL_ID_LEN) == 0) {
        e = recover_pair(rc, r, &bytes);
    } else if (!e) {
        rc->bare++;
        e = write_bare(rc, r, &bytes);
    }
    rc->have_env = false;
    hd_buf_free(&bytes);
    return e;
}

/* One orphaned segment: its messages appended, synced, then their rows in
 * one transaction; then it is renamed .recovered. */
static int recover_segment(recover_ctx *rc, const char *name)
{
    char path[4200], done[4300];
    snprintf(path, sizeof path, "%s/spool/orphan/%s", rc->dir, name);
    rc->seg_path = path;
    rc->have_env = false;
    int r = hd_store_begin(rc->st, &rc->err);
    if (r)
        return r;
    uint32_t seg = (uint32_t)strtoul(name, NULL, 10);
    r = hd_spool_scan(path, seg, recover_record, rc, &rc->err);
    if (r == HD_ESYNTAX) {      /* a torn tail: the records before it were read */
        fprintf(stderr, "herald: %s\n", hd_err_str(&rc->err));
        r = 0;
    }
    if (!r)
        r = hd_spool_sync(rc->sp, &rc->err);    /* the bytes before the rows that point at them */
    if (!r)
        r = hd_store_commit(rc->st, &rc->err);
    if (r) {
        hd_store_rollback(rc->st);
        return r;
    }
    snprintf(done, sizeof done, "%s.recovered", path);
    /* never over an older kept copy (link fails with EEXIST) */
    if (link(path, done) != 0 || unlink(path) != 0)
        return hd_err_set(&rc->err, HD_EIO, "%s -> %s: %s", path, done, strerror(errno));
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The orphaned segments' names, sorted (oldest first). */
static int list_orphans(const char *dir, char ***out, size_t *n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/spool/orphan", dir);
    *out = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len != 12 || strspn(e->d_name, "0123456789") != 8 || strcmp(e->d_name + 8, ".seg") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(*out, cap * sizeof *v);
            if (!v)
                break;
            *out = v;
        }
        if (((*out)[*n] = strdup(e->d_name)))
            (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, by_name);
    return 0;
}

/* What was done, one line a kind. */
static void print_summary(const recover_ctx *ctx, size_t segments)
{
    printf("recovered %zu message%s for %zu recipient%s from %zu segment%s: start the server to "
           "deliver them\n", ctx->queued, ctx->queued == 1 ? "" : "s", ctx->rcpts,
           ctx->rcpts == 1 ? "" : "s", segments, segments == 1 ? "" : "s");
    if (ctx->known)
        printf("%zu message%s already in the database: left alone\n", ctx->known,
               ctx->known == 1 ? "" : "s");
    if (ctx->pruned)
        printf("%zu message%s already delivered and pruned, skipped\n", ctx->pruned,
               ctx->pruned == 1 ? "" : "s");
    if (ctx->bare)
        printf("%zu message%s without an envelope (an older herald wrote them): in "
               "%s/spool/orphan/*.eml; submit them again to deliver them (any SMTP client, or "
               "POST /v1/messages with \"raw\")\n",
               ctx->bare, ctx->bare == 1 ? "" : "s", ctx->dir);
    if (ctx->bad_env)
        printf("%zu message%s with a damaged envelope (named above): in %s/spool/orphan/*.eml; "
               "submit them again to deliver them\n",
               ctx->bad_env, ctx->bad_env == 1 ? "" : "s", ctx->dir);
    if (ctx->bad)
        printf("%zu damaged record%s skipped (named above)\n", ctx->bad, ctx->bad == 1 ? "" : "s");
}

int cmd_queue_recover(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *config = NULL, *data_dir = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:d:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'h': fputs(recover_help, stdout); return CLI_OK;
        default: fputs(recover_help, stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cli_error("queue recover: no arguments expected");
        return CLI_USAGE;
    }
    char *dir = NULL;
    int rc = cli_data_dir(config, data_dir, &dir);
    if (rc)
        return rc;
    int lock_fd = -1;
    hd_store *st = NULL;
    hd_spool *sp = NULL;
    char **names = NULL;
    size_t n = 0;
    /* the lock first: a running server must not see its database opened
     * for writing by anyone else */
    if ((rc = lock_dir(dir, &lock_fd)) || (rc = cli_open_store_rw(config, dir, NULL, &st)))
        goto out;
    if (list_orphans(dir, &names, &n) != 0) {
        cli_error("%s/spool/orphan: %s", dir, strerror(errno));
        rc = CLI_NOINPUT;
        goto out;
    }
    if (n == 0) {
        printf("nothing to recover: %s/spool/orphan/ holds no segment\n", dir);
        goto out;
    }
    char spool[4200];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    recover_ctx ctx = {.dir = dir, .st = st};
    uint32_t seg_floor = 0;
    if (hd_store_segment_highest(st, &seg_floor, &ctx.err) != 0 ||
        hd_spool_open(spool, 0, seg_floor, &sp, &ctx.err) != 0) {
        cli_error("%s", hd_err_str(&ctx.err));
        rc = CLI_SOFTWARE;
        goto out;
    }
    ctx.sp = sp;
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (recover_segment(&ctx, names[i]) != 0) {
            cli_error("%s/spool/orphan/%s: not recovered: %s", dir, names[i], hd_err_str(&ctx.err));
            failed++;
        }
    }
    print_summary(&ctx, n - failed);
    rc = failed ? CLI_SOFTWARE : CLI_OK;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    hd_spool_close(sp);
    hd_store_close(st);
    if (lock_fd >= 0)
        close(lock_fd);
    free(dir);
    return rc;
}
