/*
 * spool.c - append-only segment files holding accepted messages' bytes
 * (see herald/spool.h for the layout and the durability argument).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <herald/spool.h>

#define SEG_MAGIC "HDM1"
#define ENV_MAGIC "HDE1"        /* an envelope record (herald/spool.h) */
#define MAX_SEGMENTS 65536      /* live segments tracked; far above need */
#define READ_FDS 16             /* read descriptors kept open */

typedef struct seg_count {
    uint32_t segment;
    uint32_t holders;
} seg_count;

typedef struct read_fd {
    uint32_t segment;
    int fd;
} read_fd;

struct hd_spool {
    char *dir;
    int dir_fd;
    uint64_t segment_max;
    pthread_mutex_t lock;
    /* writer side (one thread) */
    uint32_t cur;               /* current segment number */
    uint32_t high;              /* the number in HIGH_WATER */
    int cur_fd;
    uint64_t cur_size;
    bool cur_new;               /* folder entry not yet synced */
    /* shared, under lock */
    seg_count *counts;
    size_t n_counts, cap_counts;
    read_fd rfd[READ_FDS];
    size_t rfd_next;
};

static void seg_path(const hd_spool *sp, uint32_t seg, char *out, size_t size)
{
    snprintf(out, size, "%s/%08u.seg", sp->dir, seg);
}

static bool parse_seg_name(const char *name, uint32_t *seg)
{
    uint32_t v = 0;
    size_t i = 0;
    for (; i < 8; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(name[i] - '0');
    }
    if (strcmp(name + i, ".seg") != 0)
        return false;
    *seg = v;
    return true;
}

static seg_count *count_find(hd_spool *sp, uint32_t seg, bool create)
{
    for (size_t i = 0; i < sp->n_counts; i++)
        if (sp->counts[i].segment == seg)
            return &sp->counts[i];
    if (!create || sp->n_counts >= MAX_SEGMENTS)
        return NULL;
    if (sp->n_counts == sp->cap_counts) {
        size_t cap = sp->cap_counts ? sp->cap_counts * 2 : 64;
        seg_count *c = realloc(sp->counts, cap * sizeof *c);
        if (!c)
            return NULL;
        sp->counts = c;
        sp->cap_counts = cap;
    }
    sp->counts[sp->n_counts] = (seg_count){seg, 0};
    return &sp->counts[sp->n_counts++];
}

/* Close the cached read descriptor of seg (under lock), so that unlinking
 * the segment gives its disk space back. */
static void forget_read_fd(hd_spool *sp, uint32_t seg)
{
    for (size_t i = 0; i < READ_FDS; i++)
        if (sp->rfd[i].fd >= 0 && sp->rfd[i].segment == seg) {
            close(sp->rfd[i].fd);
            sp->rfd[i].fd = -1;
        }
}

/* The number of an orphan/ entry: NNNNNNNN.seg, or a recovered copy kept
 * as NNNNNNNN.seg.recovered. */
static bool parse_orphan_name(const char *name, uint32_t *seg)
{
    char base[13];
    if (strlen(name) < 12)
        return false;
    memcpy(base, name, 12);
    base[12] = '\0';
    return parse_seg_name(base, seg) && (!name[12] || strcmp(name + 12, ".recovered") == 0);
}

/* Highest segment number in the folder and in orphan/ (0 when none): a
 * number stays taken while an orphaned segment, or its recovered copy,
 * has it, so recovery never meets two segments of one number and a kept
 * copy is never replaced. */
static int highest_segment(hd_spool *sp, uint32_t *out, hd_err *err)
{
    char orphan[4096];
    snprintf(orphan, sizeof orphan, "%s/orphan", sp->dir);
    const char *dirs[] = {sp->dir, orphan};
    uint32_t hi = 0, seg;
    for (size_t i = 0; i < 2; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d && i == 1 && errno == ENOENT)
            break;
        if (!d)
            return hd_err_set(err, HD_EIO, "%s: %s", dirs[i], strerror(errno));
        struct dirent *e;
        while ((e = readdir(d)))
            if ((i == 0 ? parse_seg_name(e->d_name, &seg) : parse_orphan_name(e->d_name, &seg)) &&
                seg > hi)
                hi = seg;
        closedir(d);
    }
    *out = hi;
    return 0;
}

/* The highest segment number ever started in this folder, kept beside
 * the segments: the files go when their mail is done (and a clean stop
 * retires the current one), so the files alone would give the same
 * number to a new segment, and the database's segment_released rows are
 * keyed by it. A database restored from an older copy (which knows fewer
 * numbers) is outdone by this file; a spool lost or replaced (this file
 * with it) by the database's own highest number, the floor the caller
 * passes to hd_spool_open. */
#define HIGH_WATER "segments.highwater"
#define HIGH_WATER_LEN 9        /* "NNNNNNNN\n" */

static int read_high_water(hd_spool *sp, uint32_t *out, hd_err *err)
{
    char path[4096], text[HIGH_WATER_LEN + 1];
    snprintf(path, sizeof path, "%s/" HIGH_WATER, sp->dir);
    *out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, text, sizeof text);
    int e = errno;
    close(fd);
    if (n < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(e));
    uint32_t v = 0;
    bool ok = n == HIGH_WATER_LEN && text[HIGH_WATER_LEN - 1] == '\n';
    for (size_t i = 0; ok && i < HIGH_WATER_LEN - 1; i++) {
        ok = text[i] >= '0' && text[i] <= '9';
        v = v * 10 + (uint32_t)(text[i] - '0');
    }
    if (!ok)
        return hd_err_set(err, HD_ESYNTAX, "%s: not a segment number (8 digits and a newline); "
                          "write the highest NNNNNNNN.seg number this spool ever had, or a higher "
                          "one, into it", path);
    *out = v;
    return 0;
}

/* Raise the high-water mark to seg, durably, before a segment of that
 * number is created: a crash between the two leaves a number skipped,
 * never one reused. */
static int write_high_water(hd_spool *sp, uint32_t seg, hd_err *err)
{
    char path[4096], tmp[4200], text[16];
    snprintf(path, sizeof path, "%s/" HIGH_WATER, sp->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(text, sizeof text, "%08u\n", seg);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", tmp, strerror(errno));
    bool ok = write(fd, text, (size_t)len) == len && fdatasync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0 || fsync(sp->dir_fd) != 0) {
        if (ok)
            e = errno;
        unlink(tmp);
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(e ? e : EIO));
    }
    sp->high = seg;
    return 0;
}

static int start_segment(hd_spool *sp, hd_err *err)
{
    char path[4096];
    uint32_t next = sp->cur + 1;
    if (next > sp->high) {
        int rc = write_high_water(sp, next, err);
        if (rc)
            return rc;
    }
    seg_path(sp, next, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    if (sp->cur_fd >= 0) {
        /* the last appends to the old segment are made durable here:
         * hd_spool_sync() only flushes the current one */
        if (fdatasync(sp->cur_fd) != 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return hd_err_set(err, HD_EIO, "spool sync: %s", strerror(e));
        }
        close(sp->cur_fd);
        pthread_mutex_lock(&sp->lock);
        uint32_t old = sp->cur;
        seg_count *c = count_find(sp, old, false);
        bool empty = !c || c->holders == 0;
        if (empty)
            forget_read_fd(sp, old);
        pthread_mutex_unlock(&sp->lock);
        sp->cur = next;
        if (empty) {
            seg_path(sp, old, path, sizeof path);
            unlink(path);
        }
    }
    sp->cur = next;
    sp->cur_fd = fd;
    sp->cur_size = 0;
    sp->cur_new = true;
    return 0;
}

int hd_spool_open(const char *dir, uint64_t segment_max, uint32_t segment_floor, hd_spool **out,
                  hd_err *err)
{
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return hd_err_set(err, HD_EIO, "%s: %s", dir, strerror(errno));
    hd_spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir))) {
        free(sp);
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&sp->lock, NULL);
    sp->cur_fd = -1;
    sp->segment_max = segment_max ? segment_max : (64u << 20);
    for (size_t i = 0; i < READ_FDS; i++)
        sp->rfd[i].fd = -1;
    sp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (sp->dir_fd < 0) {
        rc = hd_err_set(err, HD_EIO, "%s: %s", dir, strerror(errno));
    } else if (!(rc = highest_segment(sp, &sp->cur, err)) &&
               !(rc = read_high_water(sp, &sp->high, err))) {
        /* above every number a file, the high-water mark or the
         * database (segment_floor) has: a number is never used twice */
        if (sp->cur < sp->high)
            sp->cur = sp->high;
        if (sp->cur < segment_floor)
            sp->cur = segment_floor;
        rc = start_segment(sp, err);
    }
    if (rc) {
        hd_spool_close(sp);
        return rc;
    }
    *out = sp;
    return 0;
}

void hd_spool_close(hd_spool *sp)
{
    if (!sp)
        return;
    if (sp->cur_fd >= 0)
        close(sp->cur_fd);
    for (size_t i = 0; i < READ_FDS; i++)
        if (sp->rfd[i].fd >= 0)
            close(sp->rfd[i].fd);
    if (sp->dir_fd >= 0)
        close(sp->dir_fd);
    pthread_mutex_destroy(&sp->lock);
    free(sp->counts);
    free(sp->dir);
    free(sp);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int write_all(int fd, struct iovec *iov, int n, const char *what, hd_err *err)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return hd_err_set(err, HD_EIO, "spool %s: %s", what, strerror(errno));
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

#define MAX_PARTS 14

static int append_record(hd_spool *sp, const char *magic, const uint8_t id[HD_SPOOL_ID_LEN],
                         const hd_slice *parts, size_t n, hd_spool_loc *out, hd_err *err)
{
    if (n > MAX_PARTS)
        return hd_err_set(err, HD_EINVAL, "spool append: %zu parts, at most %d", n, MAX_PARTS);
    /* the length is checked before a byte is read, and the sum cannot wrap */
    uint64_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len > UINT32_MAX - len)
            return hd_err_set(err, HD_ELIMIT, "spool append: message over %u bytes", UINT32_MAX);
        len += parts[i].len;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            crc = crc32_z(crc, parts[i].p, parts[i].len);
    int rc;
    if (sp->cur_size > 0 && sp->cur_size + len > sp->segment_max && (rc = start_segment(sp, err)))
        return rc;
    uint8_t hdr[HD_SPOOL_RECORD_HEADER] = {0};
    memcpy(hdr, magic, 4);
    put_u32(hdr + 4, (uint32_t)len);
    put_u32(hdr + 8, (uint32_t)crc);
    memcpy(hdr + 16, id, HD_SPOOL_ID_LEN);
    struct iovec iov[MAX_PARTS + 1];
    iov[0] = (struct iovec){hdr, sizeof hdr};
    int niov = 1;
    for (size_t i = 0; i < n; i++)
        if (parts[i].len)
            iov[niov++] = (struct iovec){(void *)parts[i].p, parts[i].len};
    if ((rc = write_all(sp->cur_fd, iov, niov, "write", err))) {
        /* Drop a torn record so the next one starts at cur_size, where its
         * location will say; failing that, count the torn bytes. */
        struct stat st;
        if (ftruncate(sp->cur_fd, (off_t)sp->cur_size) != 0 && fstat(sp->cur_fd, &st) == 0)
            sp->cur_size = (uint64_t)st.st_size;
        return rc;
    }
    *out = (hd_spool_loc){sp->cur, sp->cur_size, (uint32_t)len, (uint32_t)crc};
    sp->cur_size += HD_SPOOL_RECORD_HEADER + len;
    return 0;
}

int hd_spool_append(hd_spool *sp, const uint8_t id[HD_SPOOL_ID_LEN], const hd_slice *parts,
                    size_t n, hd_spool_loc *out, hd_err *err)
{
    return append_record(sp, SEG_MAGIC, id, parts, n, out, err);
}

int hd_spool_append_envelope(hd_spool *sp, const uint8_t id[HD_SPOOL_ID_LEN], hd_slice text,
                             hd_err *err)
{
    hd_spool_loc loc;
    if (text.len > HD_SPOOL_ENVELOPE_MAX)
        return hd_err_set(err, HD_ELIMIT, "spool envelope: %zu bytes, at most %u", text.len,
                          HD_SPOOL_ENVELOPE_MAX);
    return append_record(sp, ENV_MAGIC, id, &text, 1, &loc, err);
}

int hd_spool_sync(hd_spool *sp, hd_err *err)
{
    if (fdatasync(sp->cur_fd) != 0)
        return hd_err_set(err, HD_EIO, "spool sync: %s", strerror(errno));
    if (sp->cur_new) {
        if (fsync(sp->dir_fd) != 0)
            return hd_err_set(err, HD_EIO, "spool folder sync: %s", strerror(errno));
        sp->cur_new = false;
    }
    return 0;
}

hd_spool_mark hd_spool_mark_now(hd_spool *sp)
{
    return (hd_spool_mark){sp->cur, sp->cur_size};
}

/* Cut the file of seg to size (when it is still there) and sync it. */
static int cut_file(hd_spool *sp, uint32_t seg, uint64_t size, hd_err *err)
{
    char path[4096];
    seg_path(sp, seg, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    int rc = 0;
    if (ftruncate(fd, (off_t)size) != 0 || fdatasync(fd) != 0)
        rc = hd_err_set(err, HD_EIO, "%s: cannot cut back to %llu bytes: %s", path,
                        (unsigned long long)size, strerror(errno));
    close(fd);
    return rc;
}

int hd_spool_rewind(hd_spool *sp, hd_spool_mark mark, hd_err *err)
{
    int rc = 0;
    if (sp->cur == mark.segment) {
        if (sp->cur_size <= mark.size)
            return 0;
        if (ftruncate(sp->cur_fd, (off_t)mark.size) != 0 || fdatasync(sp->cur_fd) != 0)
            return hd_err_set(err, HD_EIO, "spool segment %08u: cannot cut back to %llu bytes: %s",
                              sp->cur, (unsigned long long)mark.size, strerror(errno));
        sp->cur_size = mark.size;
        return 0;
    }
    /* segments were started since: the one current at the mark is cut
     * back, the later ones (this batch's alone) emptied */
    rc = cut_file(sp, mark.segment, mark.size, err);
    for (uint32_t seg = mark.segment + 1; !rc && seg < sp->cur; seg++)
        rc = cut_file(sp, seg, 0, err);
    if (!rc && sp->cur_size > 0) {
        if (ftruncate(sp->cur_fd, 0) != 0 || fdatasync(sp->cur_fd) != 0)
            rc = hd_err_set(err, HD_EIO, "spool segment %08u: cannot empty: %s", sp->cur,
                            strerror(errno));
        else
            sp->cur_size = 0;
    }
    return rc;
}

/* A read descriptor for seg (under lock). */
static int read_fd_for(hd_spool *sp, uint32_t seg, hd_err *err)
{
    for (size_t i = 0; i < READ_FDS; i++)
        if (sp->rfd[i].fd >= 0 && sp->rfd[i].segment == seg)
            return sp->rfd[i].fd;
    char path[4096];
    seg_path(sp, seg, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    read_fd *slot = &sp->rfd[sp->rfd_next++ % READ_FDS];
    if (slot->fd >= 0)
        close(slot->fd);
    *slot = (read_fd){seg, fd};
    return fd;
}

static int pread_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r, len -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

int hd_spool_read(hd_spool *sp, const hd_spool_loc *loc, const uint8_t id[HD_SPOOL_ID_LEN],
                  hd_buf *out, hd_err *err)
{
    hd_buf_reset(out);
    int rc = hd_buf_reserve(out, (size_t)loc->length + 1); /* in 32 bits, 4 GiB - 1 wraps to 0 */
    if (rc)
        return hd_err_set(err, rc, "spool read: message of %u bytes", loc->length);
    uint8_t hdr[HD_SPOOL_RECORD_HEADER];
    pthread_mutex_lock(&sp->lock);
    int fd = read_fd_for(sp, loc->segment, err);
    int ok = fd >= 0 && pread_all(fd, hdr, sizeof hdr, loc->offset) == 0 &&
             pread_all(fd, out->p, loc->length, loc->offset + sizeof hdr) == 0;
    pthread_mutex_unlock(&sp->lock);
    if (fd < 0)
        return fd;
    if (!ok)
        return hd_err_set(err, HD_ESYNTAX, "corrupt spool record: segment %u offset %llu is cut short",
                          loc->segment, (unsigned long long)loc->offset);
    out->len = loc->length;
    out->p[out->len] = '\0';
    if (memcmp(hdr, SEG_MAGIC, 4) != 0 || get_u32(hdr + 4) != loc->length ||
        memcmp(hdr + 16, id, HD_SPOOL_ID_LEN) != 0)
        return hd_err_set(err, HD_ESYNTAX, "corrupt spool record: bad header at segment %u offset %llu",
                          loc->segment, (unsigned long long)loc->offset);
    uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), out->p, out->len);
    if (crc != loc->crc || get_u32(hdr + 8) != loc->crc)
        return hd_err_set(err, HD_ESYNTAX, "corrupt spool record: checksum mismatch at segment %u offset %llu",
                          loc->segment, (unsigned long long)loc->offset);
    return 0;
}

void hd_spool_hold(hd_spool *sp, uint32_t segment)
{
    pthread_mutex_lock(&sp->lock);
    seg_count *c = count_find(sp, segment, true);
    if (c)
        c->holders++;
    pthread_mutex_unlock(&sp->lock);
}

void hd_spool_release(hd_spool *sp, uint32_t segment)
{
    char path[4096];
    pthread_mutex_lock(&sp->lock);
    seg_count *c = count_find(sp, segment, false);
    bool drop = false;
    if (c && c->holders > 0 && --c->holders == 0 && segment != sp->cur) {
        *c = sp->counts[--sp->n_counts];
        forget_read_fd(sp, segment);
        drop = true;
    }
    pthread_mutex_unlock(&sp->lock);
    if (drop) {
        seg_path(sp, segment, path, sizeof path);
        unlink(path);
    }
}

/* Whether every message record of the segment file is finished; why says
 * what is not. */
typedef struct proof_ctx {
    hd_spool_finished_fn finished;
    void *arg;
    size_t messages, unfinished;
} proof_ctx;

static int proof_one(const hd_spool_record *r, void *arg)
{
    proof_ctx *pc = arg;
    if (r->kind != HD_SPOOL_REC_MESSAGE)
        return 0;
    pc->messages++;
    if (!pc->finished || !pc->finished(r->id, r->loc.segment, r->loc.offset, pc->arg))
        pc->unfinished++;
    return 0;
}

/* Move a segment into orphan/ (made 0700 when missing), synced. */
static int move_to_orphan(hd_spool *sp, uint32_t seg, hd_err *err)
{
    char from[4096], dir[4096], to[4200];
    seg_path(sp, seg, from, sizeof from);
    snprintf(dir, sizeof dir, "%s/orphan", sp->dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return hd_err_set(err, HD_EIO, "%s: %s", dir, strerror(errno));
    snprintf(to, sizeof to, "%s/%08u.seg", dir, seg);
    /* link, then unlink: an orphan of that name already there is never
     * replaced (EEXIST), unlike rename */
    if (link(from, to) != 0)
        return hd_err_set(err, HD_EIO, "%s -> %s: %s", from, to, strerror(errno));
    if (unlink(from) != 0)
        return hd_err_set(err, HD_EIO, "%s: %s", from, strerror(errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    fsync(sp->dir_fd);
    return 0;
}

int hd_spool_collect(hd_spool *sp, hd_spool_finished_fn finished, hd_spool_orphan_fn orphan,
                     void *arg, hd_spool_collected *out, hd_err *err)
{
    *out = (hd_spool_collected){0, 0};
    DIR *d = opendir(sp->dir);
    if (!d)
        return hd_err_set(err, HD_EIO, "%s: %s", sp->dir, strerror(errno));
    struct dirent *e;
    uint32_t seg;
    char path[4096], why[HD_ERR_MSG_MAX + 128];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (!parse_seg_name(e->d_name, &seg) || seg == sp->cur)
            continue;
        pthread_mutex_lock(&sp->lock);
        seg_count *c = count_find(sp, seg, false);
        bool unused = !c || c->holders == 0;
        if (unused)
            forget_read_fd(sp, seg);
        pthread_mutex_unlock(&sp->lock);
        if (!unused)
            continue;
        seg_path(sp, seg, path, sizeof path);
        proof_ctx pc = {finished, arg, 0, 0};
        hd_err serr = {0};
        int src = hd_spool_scan(path, seg, proof_one, &pc, &serr);
        if (src == 0 && pc.unfinished == 0) {
            /* proof: nothing in it, or every message in it finished */
            if (unlink(path) == 0)
                out->removed++;
            continue;
        }
        if (src != 0)
            snprintf(why, sizeof why, "%s", hd_err_str(&serr));
        else
            snprintf(why, sizeof why, "%zu of its %zu message%s unknown to the database or not "
                     "finished", pc.unfinished, pc.messages, pc.messages == 1 ? "" : "s");
        if ((rc = move_to_orphan(sp, seg, err)) == 0) {
            out->orphaned++;
            if (orphan)
                orphan(seg, why, arg);
        }
    }
    closedir(d);
    return rc;
}

size_t hd_spool_pin_unknown(hd_spool *sp, hd_spool_finished_fn known,
                            void (*pinned)(uint32_t segment, size_t unknown, void *arg),
                            void *arg)
{
    /* the held segments, copied: scanning reads files, not under the lock */
    pthread_mutex_lock(&sp->lock);
    size_t n = 0;
    uint32_t *segs = sp->n_counts ? malloc(sp->n_counts * sizeof *segs) : NULL;
    for (size_t i = 0; segs && i < sp->n_counts; i++)
        if (sp->counts[i].holders > 0 && sp->counts[i].segment != sp->cur)
            segs[n++] = sp->counts[i].segment;
    pthread_mutex_unlock(&sp->lock);
    size_t pins = 0;
    char path[4096];
    for (size_t i = 0; i < n; i++) {
        seg_path(sp, segs[i], path, sizeof path);
        proof_ctx pc = {known, arg, 0, 0};
        hd_err err = {0};
        /* an unreadable tail is no unknown message: it was never acknowledged */
        hd_spool_scan(path, segs[i], proof_one, &pc, &err);
        if (pc.unfinished == 0)
            continue;
        hd_spool_hold(sp, segs[i]);     /* one holder that never lets go */
        pins++;
        if (pinned)
            pinned(segs[i], pc.unfinished, arg);
    }
    free(segs);
    return pins;
}

size_t hd_spool_data_segments(hd_spool *sp, uint64_t *bytes)
{
    *bytes = 0;
    DIR *d = opendir(sp->dir);
    if (!d)
        return 0;
    struct dirent *e;
    uint32_t seg;
    size_t n = 0;
    char path[4096];
    struct stat st;
    while ((e = readdir(d))) {
        if (!parse_seg_name(e->d_name, &seg) || seg == sp->cur)
            continue;
        seg_path(sp, seg, path, sizeof path);
        if (stat(path, &st) == 0 && st.st_size > 0) {
            n++;
            *bytes += (uint64_t)st.st_size;
        }
    }
    closedir(d);
    return n;
}

void hd_spool_retire_current(hd_spool *sp)
{
    char path[4096];
    pthread_mutex_lock(&sp->lock);
    seg_count *c = count_find(sp, sp->cur, false);
    bool unused = sp->cur_fd >= 0 && (!c || c->holders == 0);
    if (unused)
        forget_read_fd(sp, sp->cur);
    pthread_mutex_unlock(&sp->lock);
    if (!unused)
        return;
    close(sp->cur_fd);
    sp->cur_fd = -1;
    seg_path(sp, sp->cur, path, sizeof path);
    unlink(path);
}

/* ---- reading segment files whole ---- */

int hd_spool_scan(const char *path, uint32_t segment,
                  int (*fn)(const hd_spool_record *r, void *arg), void *arg, hd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size, off = 0;
    int rc = 0;
    while (!rc && off < size) {
        uint8_t hdr[HD_SPOOL_RECORD_HEADER];
        hd_spool_record r;
        if (size - off < sizeof hdr || pread_all(fd, hdr, sizeof hdr, off) != 0) {
            rc = hd_err_set(err, HD_ESYNTAX, "%s: a record cut short at offset %llu (a torn tail)",
                            path, (unsigned long long)off);
            break;
        }
        bool msg = memcmp(hdr, SEG_MAGIC, 4) == 0, env = memcmp(hdr, ENV_MAGIC, 4) == 0;
        uint32_t len = get_u32(hdr + 4);
        if (!msg && !env) {
            rc = hd_err_set(err, HD_ESYNTAX, "%s: no record header at offset %llu", path,
                            (unsigned long long)off);
            break;
        }
        if (len > size - off - sizeof hdr) {
            rc = hd_err_set(err, HD_ESYNTAX, "%s: the record at offset %llu runs past the end "
                            "(a torn tail)", path, (unsigned long long)off);
            break;
        }
        r.kind = msg ? HD_SPOOL_REC_MESSAGE : HD_SPOOL_REC_ENVELOPE;
        memcpy(r.id, hdr + 16, HD_SPOOL_ID_LEN);
        r.loc = (hd_spool_loc){segment, off, len, get_u32(hdr + 8)};
        rc = fn(&r, arg);
        off += sizeof hdr + len;
    }
    close(fd);
    return rc;
}

int hd_spool_read_file(const char *path, const hd_spool_record *r, hd_buf *out, hd_err *err)
{
    hd_buf_reset(out);
    int rc = hd_buf_reserve(out, (size_t)r->loc.length + 1);
    if (rc)
        return hd_err_set(err, rc, "%s: a record of %u bytes", path, r->loc.length);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    int ok = pread_all(fd, out->p, r->loc.length, r->loc.offset + HD_SPOOL_RECORD_HEADER) == 0;
    close(fd);
    if (!ok)
        return hd_err_set(err, HD_ESYNTAX, "%s: the record at offset %llu is cut short", path,
                          (unsigned long long)r->loc.offset);
    out->len = r->loc.length;
    out->p[out->len] = '\0';
    if ((uint32_t)crc32_z(crc32(0L, Z_NULL, 0), out->p, out->len) != r->loc.crc)
        return hd_err_set(err, HD_ESYNTAX, "%s: checksum mismatch in the record at offset %llu",
                          path, (unsigned long long)r->loc.offset);
    return 0;
}

int hd_spool_quarantine(hd_spool *sp, const hd_spool_loc *loc, const char *name, hd_err *err)
{
    char path[4096], qdir[4096];
    snprintf(qdir, sizeof qdir, "%s/corrupt", sp->dir);
    if (mkdir(qdir, 0700) != 0 && errno != EEXIST)
        return hd_err_set(err, HD_EIO, "%s: %s", qdir, strerror(errno));
    if (strchr(name, '/'))
        return hd_err_set(err, HD_EINVAL, "quarantine name %s has a '/'", name);
    snprintf(path, sizeof path, "%s/%s", qdir, name);
    hd_buf b;
    hd_buf_init(&b, (size_t)loc->length + HD_SPOOL_RECORD_HEADER + 1);
    int rc = hd_buf_reserve(&b, (size_t)loc->length + HD_SPOOL_RECORD_HEADER);
    if (rc) {
        hd_buf_free(&b);
        return hd_err_set(err, rc, "quarantine: out of memory");
    }
    pthread_mutex_lock(&sp->lock);
    int fd = read_fd_for(sp, loc->segment, err);
    ssize_t got = fd >= 0 ? pread(fd, b.p, (size_t)loc->length + HD_SPOOL_RECORD_HEADER, (off_t)loc->offset) : -1;
    pthread_mutex_unlock(&sp->lock);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        hd_buf_free(&b);
        return hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    }
    rc = 0;
    if (got > 0 && write(out, b.p, (size_t)got) != got)
        rc = hd_err_set(err, HD_EIO, "%s: %s", path, strerror(errno));
    close(out);
    hd_buf_free(&b);
    return rc;
}

size_t hd_spool_segment_count(hd_spool *sp)
{
    DIR *d = opendir(sp->dir);
    if (!d)
        return 0;
    struct dirent *e;
    uint32_t seg;
    size_t n = 0;
    while ((e = readdir(d)))
        if (parse_seg_name(e->d_name, &seg))
            n++;
    closedir(d);
    return n;
}
