/*
 * spool_test.c - the message spool: append-only segment files of records
 * (32-byte header + bytes), on a temporary folder.
 *
 * Covers: appends of several parts read back byte-exact, every damage
 * hd_spool_read() must notice (payload, header fields, truncation, wrong
 * id, wrong location) as HD_ESYNTAX "corrupt ...", a missing segment as
 * HD_EIO, segment rotation, hold/release and collect deleting only
 * segments nobody holds (never the current one), reopening (always a new
 * segment), quarantine, file modes, the 4 GiB record limit, that a
 * failed write does not shift the offsets of the records after it; the
 * envelope record's text (round trip, every parse error), reading a
 * segment file whole (scan, torn tail, checksum), and collection that
 * deletes only with proof (else spool/orphan/, never reusing the number),
 * and segment numbers never used twice (high-water mark, the caller's
 * floor; a damaged mark is an error).
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <herald/spool.h>

typedef struct fixture {
    char *tmp;        /* mkdtemp folder */
    char dir[4096];   /* tmp/spool: created by hd_spool_open */
    hd_spool *sp;
    hd_buf out;
} fixture;

static void open_spool(fixture *f, uint64_t segment_max)
{
    hd_err err;
    hd_err_clear(&err);
    if (hd_spool_open(f->dir, segment_max, 0, &f->sp, &err) != 0)
        fail_msg("open %s: %s", f->dir, err.msg);
}

static void reopen_spool(fixture *f, uint64_t segment_max)
{
    hd_spool_close(f->sp);
    f->sp = NULL;
    open_spool(f, segment_max);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->tmp = tu_mkdtemp();
    snprintf(f->dir, sizeof f->dir, "%s/spool", f->tmp);
    hd_buf_init(&f->out, 1u << 20);
    *state = f; /* each test opens the spool with the segment size it wants */
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    hd_spool_close(f->sp);
    hd_buf_free(&f->out);
    tu_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void make_id(uint8_t id[HD_SPOOL_ID_LEN], uint8_t seed)
{
    for (size_t i = 0; i < HD_SPOOL_ID_LEN; i++)
        id[i] = (uint8_t)(seed * 31u + i);
}

/* A message of len bytes whose content depends on seed. */
static uint8_t *make_bytes(size_t len, uint8_t seed)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 7u + (i >> 8));
    return p;
}

static hd_spool_loc append1(fixture *f, const uint8_t id[HD_SPOOL_ID_LEN], const void *p, size_t len)
{
    hd_slice part = hd_slice_make(p, len);
    hd_spool_loc loc;
    hd_err err;
    hd_err_clear(&err);
    if (hd_spool_append(f->sp, id, &part, 1, &loc, &err) != 0)
        fail_msg("append: %s", err.msg);
    return loc;
}

static bool all_finished(const uint8_t id[HD_SPOOL_ID_LEN], uint32_t segment, uint64_t offset,
                         void *arg)
{
    (void)id;
    (void)segment;
    (void)offset;
    (void)arg;
    return true;
}

/* Collection with a database that knows every message as finished:
 * segments deleted. */
static int collect_finished(fixture *f, hd_err *err)
{
    hd_spool_collected out;
    int rc = hd_spool_collect(f->sp, all_finished, NULL, NULL, &out, err);
    assert_int_equal(rc, 0);
    assert_int_equal(out.orphaned, 0);
    return (int)out.removed;
}

static void sync_ok(fixture *f)
{
    hd_err err;
    hd_err_clear(&err);
    if (hd_spool_sync(f->sp, &err) != 0)
        fail_msg("sync: %s", err.msg);
}

static void read_ok(fixture *f, const hd_spool_loc *loc, const uint8_t id[HD_SPOOL_ID_LEN],
                    const void *want, size_t want_len)
{
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_spool_read(f->sp, loc, id, &f->out, &err);
    if (rc != 0)
        fail_msg("read segment %u offset %llu: %s", loc->segment, (unsigned long long)loc->offset,
                 err.msg);
    assert_int_equal(f->out.len, want_len);
    if (want_len)
        assert_memory_equal(f->out.p, want, want_len);
}

/* hd_spool_read must refuse with HD_ESYNTAX and a "corrupt" message. */
static void read_corrupt(fixture *f, const hd_spool_loc *loc, const uint8_t id[HD_SPOOL_ID_LEN],
                         const char *what)
{
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_spool_read(f->sp, loc, id, &f->out, &err);
    if (rc != HD_ESYNTAX)
        fail_msg("%s: rc %d (%s), want HD_ESYNTAX", what, rc, err.msg);
    if (strstr(err.msg, "corrupt") == NULL)
        fail_msg("%s: message without \"corrupt\": %s", what, err.msg);
}

static const char *seg_file(const fixture *f, uint32_t seg)
{
    static char path[2][4200];
    static int next;
    char *p = path[next++ % 2];
    snprintf(p, sizeof path[0], "%s/%08u.seg", f->dir, seg);
    return p;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static off_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s failed", path);
    return st.st_size;
}

static void patch_byte(const char *path, off_t at, uint8_t xor_with)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= xor_with;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void append_raw(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, len), (ssize_t)len);
    close(fd);
}

/* ---- append and read ---- */

static void test_append_parts_read_back(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id1[HD_SPOOL_ID_LEN], id2[HD_SPOOL_ID_LEN];
    make_id(id1, 1);
    make_id(id2, 2);
    const char *head = "DKIM-Signature: v=1; a=ed25519-sha256\r\n";
    const char *body = "From: a@example.com\r\n\r\nhello\r\n";
    uint8_t *bin = make_bytes(5000, 9); /* any byte values, NULs included */
    hd_slice parts[4] = {hd_slice_cstr(head), hd_slice_make("", 0), hd_slice_cstr(body),
                         hd_slice_make(bin, 5000)};
    hd_spool_loc a, b;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_append(f->sp, id1, parts, 4, &a, &err), 0);
    assert_int_equal(hd_spool_append(f->sp, id2, parts, 2, &b, &err), 0);
    sync_ok(f);

    size_t total = strlen(head) + strlen(body) + 5000;
    assert_int_equal(a.segment, 1);
    assert_int_equal(a.offset, 0);
    assert_int_equal(a.length, total);
    assert_int_equal(b.segment, 1);
    assert_int_equal(b.offset, HD_SPOOL_RECORD_HEADER + total);
    assert_int_equal(b.length, strlen(head));
    assert_int_equal(file_size(seg_file(f, 1)), 2 * HD_SPOOL_RECORD_HEADER + total + strlen(head));

    uint8_t *want = malloc(total);
    memcpy(want, head, strlen(head));
    memcpy(want + strlen(head), body, strlen(body));
    memcpy(want + strlen(head) + strlen(body), bin, 5000);
    assert_int_equal(a.crc, (uint32_t)crc32(crc32(0, Z_NULL, 0), want, (uInt)total));
    read_ok(f, &a, id1, want, total);
    /* the buffer's contents are replaced, not appended to */
    read_ok(f, &b, id2, head, strlen(head));
    read_ok(f, &a, id1, want, total);
    free(want);
    free(bin);
}

static void test_empty_record(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 3);
    hd_spool_loc loc;
    assert_int_equal(hd_spool_append(f->sp, id, NULL, 0, &loc, NULL), 0);
    assert_int_equal(loc.length, 0);
    hd_spool_loc next = append1(f, id, "x", 1);
    assert_int_equal(next.offset, HD_SPOOL_RECORD_HEADER);
    assert_int_equal(hd_buf_append_cstr(&f->out, "stale"), 0);
    read_ok(f, &loc, id, "", 0);
    read_ok(f, &next, id, "x", 1);
}

static void test_too_many_parts(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 4);
    hd_slice parts[64];
    for (size_t i = 0; i < 64; i++)
        parts[i] = hd_slice_cstr("a");
    hd_spool_loc loc;
    hd_err err;
    hd_err_clear(&err);
    /* the part limit (14) is not in the header; what matters is a clean
     * refusal that writes nothing */
    assert_true(hd_spool_append(f->sp, id, parts, 64, &loc, &err) < 0);
    assert_int_equal(file_size(seg_file(f, 1)), 0);
}

/* ---- damage ---- */

static void test_corrupt_payload(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 5);
    const char *msg = "Subject: x\r\n\r\nbody\r\n";
    hd_spool_loc first = append1(f, id, "first", 5);
    hd_spool_loc loc = append1(f, id, msg, strlen(msg));
    sync_ok(f);
    read_ok(f, &loc, id, msg, strlen(msg));
    const off_t at[] = {0, 9, (off_t)strlen(msg) - 1};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        off_t pos = (off_t)loc.offset + HD_SPOOL_RECORD_HEADER + at[i];
        patch_byte(seg_file(f, 1), pos, 0x20);
        read_corrupt(f, &loc, id, "flipped payload byte");
        patch_byte(seg_file(f, 1), pos, 0x20);
        read_ok(f, &loc, id, msg, strlen(msg));
    }
    /* a damaged neighbour does not affect the first record */
    patch_byte(seg_file(f, 1), (off_t)loc.offset + HD_SPOOL_RECORD_HEADER, 0x01);
    read_ok(f, &first, id, "first", 5);
}

static void test_corrupt_header(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 6);
    append1(f, id, "padding", 7);
    hd_spool_loc loc = append1(f, id, "the message", 11);
    sync_ok(f);
    /* magic, length, CRC and id bytes of the header */
    const struct {
        off_t at;
        const char *what;
    } cases[] = {
        {0, "magic"}, {3, "magic"}, {4, "length high byte"}, {7, "length low byte"},
        {8, "crc"},   {11, "crc"},  {16, "id first byte"},   {31, "id last byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        off_t pos = (off_t)loc.offset + cases[i].at;
        patch_byte(seg_file(f, 1), pos, 0x80);
        read_corrupt(f, &loc, id, cases[i].what);
        patch_byte(seg_file(f, 1), pos, 0x80);
        read_ok(f, &loc, id, "the message", 11);
    }
}

static void test_truncated_segment(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 7);
    hd_spool_loc a = append1(f, id, "complete", 8);
    hd_spool_loc b = append1(f, id, "0123456789", 10);
    sync_ok(f);
    /* cut in the payload, then in the header, then at the record's start */
    const off_t cut[] = {(off_t)b.offset + HD_SPOOL_RECORD_HEADER + 9,
                         (off_t)b.offset + HD_SPOOL_RECORD_HEADER + 1,
                         (off_t)b.offset + 20, (off_t)b.offset};
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        assert_int_equal(truncate(seg_file(f, 1), cut[i]), 0);
        read_corrupt(f, &b, id, "truncated record");
    }
    read_ok(f, &a, id, "complete", 8);
}

static void test_wrong_id_or_location(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN], other[HD_SPOOL_ID_LEN];
    make_id(id, 8);
    make_id(other, 9);
    hd_spool_loc a = append1(f, id, "alpha", 5);
    hd_spool_loc b = append1(f, other, "bravo!", 6);
    sync_ok(f);
    read_corrupt(f, &a, other, "wrong id");
    /* a location that is off (as from a damaged database row) */
    hd_spool_loc l = a;
    l.crc ^= 1;
    read_corrupt(f, &l, id, "wrong crc in the row");
    l = a;
    l.length = 4;
    read_corrupt(f, &l, id, "shorter length in the row");
    l = a;
    l.length = 6;
    read_corrupt(f, &l, id, "longer length in the row");
    l = a;
    l.offset = 1;
    read_corrupt(f, &l, id, "offset inside a record");
    l = b;
    l.offset = 1000;
    read_corrupt(f, &l, other, "offset past the end");
    read_ok(f, &b, other, "bravo!", 6);
}

static void test_missing_segment_is_io_error(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 10);
    hd_spool_loc loc = append1(f, id, "x", 1);
    loc.segment = 77;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_read(f->sp, &loc, id, &f->out, &err), HD_EIO);
    assert_non_null(strstr(err.msg, "00000077.seg"));
}

/* A row claiming a 4 GiB - 1 record must not make the read write past the
 * buffer (loc->length + 1 computed in 32 bits wraps to 0); the buffer's
 * cap (1 MiB here) refuses it. */
static void test_read_huge_length_in_row(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 11);
    uint8_t *msg = make_bytes(3000, 1);
    hd_spool_loc loc = append1(f, id, msg, 3000);
    sync_ok(f);
    loc.length = UINT32_MAX;
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_spool_read(f->sp, &loc, id, &f->out, &err);
    assert_int_equal(rc, HD_ELIMIT);
    assert_int_equal(f->out.len, 0);
    free(msg);
}

/* ---- limits ---- */

/* More than UINT32_MAX bytes are refused before a byte is read or written:
 * the parts below claim 4 GiB but point at one small buffer, so the check
 * must come before the CRC pass. */
static void test_record_over_4gib_refused(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 12);
    static const uint8_t small[16];
    const hd_slice cases[][2] = {
        {{small, UINT32_MAX}, {small, 1}},
        {{small, (size_t)UINT32_MAX + 1}, {small, 0}},
        {{small, SIZE_MAX}, {small, 2}}, /* the sum wraps around size_t */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hd_spool_loc loc;
        hd_err err;
        hd_err_clear(&err);
        assert_int_equal(hd_spool_append(f->sp, id, cases[i], 2, &loc, &err), HD_ELIMIT);
    }
    assert_int_equal(file_size(seg_file(f, 1)), 0);
    hd_spool_loc loc = append1(f, id, "after", 5);
    assert_int_equal(loc.offset, 0);
}

/* A write that fails half way (here: RLIMIT_FSIZE) leaves a torn record;
 * the next record must still be found where its location says. */
static void test_failed_write_keeps_offsets(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 13);
    hd_spool_loc a = append1(f, id, "before", 6);
    sync_ok(f);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)file_size(seg_file(f, 1)) + 50;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint8_t *big = make_bytes(200, 3);
    hd_spool_loc torn;
    hd_slice part = hd_slice_make(big, 200);
    hd_err err;
    hd_err_clear(&err);
    int rc = hd_spool_append(f->sp, id, &part, 1, &torn, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);
    assert_int_equal(rc, HD_EIO);

    hd_spool_loc c = append1(f, id, "after the failure", 17);
    sync_ok(f);
    read_ok(f, &c, id, "after the failure", 17);
    read_ok(f, &a, id, "before", 6);
    free(big);
}

/* ---- segments ---- */

static void test_rotation_at_segment_max(void **state)
{
    fixture *f = *state;
    open_spool(f, 100);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 14);
    uint8_t *m60 = make_bytes(60, 5), *m10 = make_bytes(10, 6), *m500 = make_bytes(500, 7);
    hd_spool_loc l[5];
    const uint8_t *msg[5] = {m60, m60, m10, m10, m500};
    const size_t len[5] = {60, 60, 10, 10, 500};
    /* 60: 92 bytes in segment 1; 60: would pass 100, segment 2; 10: 92 +
     * 42 > 100, segment 3; 10: 42 + 42 <= 100, stays; 500: bigger than a
     * segment, alone in segment 4 */
    for (size_t i = 0; i < 5; i++) {
        l[i] = append1(f, id, msg[i], len[i]);
        hd_spool_hold(f->sp, l[i].segment); /* as the committer does */
    }
    sync_ok(f);
    const uint32_t want_seg[] = {1, 2, 3, 3, 4};
    const uint64_t want_off[] = {0, 0, 0, 42, 0};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(l[i].segment, want_seg[i]);
        assert_int_equal(l[i].offset, want_off[i]);
    }
    assert_int_equal(file_size(seg_file(f, 1)), 92);
    assert_int_equal(file_size(seg_file(f, 2)), 92);
    assert_int_equal(file_size(seg_file(f, 3)), 84);
    assert_int_equal(file_size(seg_file(f, 4)), 532);
    for (size_t i = 0; i < 5; i++)
        read_ok(f, &l[i], id, msg[i], len[i]);
    assert_int_equal(hd_spool_segment_count(f->sp), 4);
    free(m60), free(m10), free(m500);
}

static void test_hold_release(void **state)
{
    fixture *f = *state;
    open_spool(f, 100);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 15);
    uint8_t *m = make_bytes(60, 1);
    hd_spool_loc a = append1(f, id, m, 60);
    hd_spool_hold(f->sp, a.segment);
    hd_spool_loc b = append1(f, id, m, 60);
    hd_spool_hold(f->sp, b.segment);
    hd_spool_hold(f->sp, b.segment); /* a second message in b's segment */
    sync_ok(f);
    assert_int_equal(a.segment, 1);
    assert_int_equal(b.segment, 2);

    /* the last holder of a non-current segment leaving deletes it */
    hd_spool_release(f->sp, a.segment);
    assert_false(file_exists(seg_file(f, 1)));
    /* the current one stays, held or not */
    hd_spool_release(f->sp, b.segment);
    assert_true(file_exists(seg_file(f, 2)));
    hd_spool_release(f->sp, b.segment);
    assert_true(file_exists(seg_file(f, 2)));
    read_ok(f, &b, id, m, 60);
    /* an extra release does not underflow the count */
    hd_spool_release(f->sp, b.segment);
    assert_true(file_exists(seg_file(f, 2)));

    /* once it stops being current, the empty segment 2 goes away */
    hd_spool_loc c = append1(f, id, m, 60);
    hd_spool_hold(f->sp, c.segment);
    assert_int_equal(c.segment, 3);
    assert_false(file_exists(seg_file(f, 2)));
    assert_int_equal(hd_spool_segment_count(f->sp), 1);
    free(m);
}

static void test_held_segment_survives_rotation(void **state)
{
    fixture *f = *state;
    open_spool(f, 100);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 16);
    uint8_t *m = make_bytes(70, 2);
    hd_spool_loc l[3];
    for (size_t i = 0; i < 3; i++) {
        l[i] = append1(f, id, m, 70);
        hd_spool_hold(f->sp, l[i].segment);
    }
    sync_ok(f);
    assert_int_equal(hd_spool_segment_count(f->sp), 3);
    for (size_t i = 0; i < 3; i++)
        read_ok(f, &l[i], id, m, 70);
    hd_spool_release(f->sp, l[1].segment);
    assert_int_equal(hd_spool_segment_count(f->sp), 2);
    read_ok(f, &l[0], id, m, 70);
    read_ok(f, &l[2], id, m, 70);
    free(m);
}

/* More segments than the spool keeps read descriptors for. */
static void test_many_segments_read(void **state)
{
    fixture *f = *state;
    open_spool(f, 64);
    uint8_t id[HD_SPOOL_ID_LEN];
    hd_spool_loc l[40];
    uint8_t *m[40];
    for (size_t i = 0; i < 40; i++) {
        make_id(id, (uint8_t)i);
        m[i] = make_bytes(40 + i, (uint8_t)i);
        l[i] = append1(f, id, m[i], 40 + i);
        hd_spool_hold(f->sp, l[i].segment);
    }
    sync_ok(f);
    assert_int_equal(hd_spool_segment_count(f->sp), 40);
    for (int round = 0; round < 3; round++)
        for (size_t k = 0; k < 40; k++) {
            size_t i = round == 1 ? 39 - k : (k * 7) % 40;
            make_id(id, (uint8_t)i);
            read_ok(f, &l[i], id, m[i], 40 + i);
        }
    for (size_t i = 0; i < 40; i++)
        free(m[i]);
}

/* A deleted segment's disk space must come back: no descriptor of the
 * spool may stay open on it. */
static size_t open_deleted_files(const fixture *f)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        fail_msg("cannot list /proc/self/fd");
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char link[300], target[4200];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t r = readlink(link, target, sizeof target - 1);
        if (r <= 0)
            continue;
        target[r] = '\0';
        if (strncmp(target, f->dir, strlen(f->dir)) == 0 && strstr(target, "(deleted)") != NULL)
            n++;
    }
    closedir(d);
    return n;
}

static void test_deleted_segments_not_kept_open(void **state)
{
    fixture *f = *state;
    /* herald runs on Linux: /proc is where open descriptors can be seen */
    assert_true(file_exists("/proc/self/fd"));
    open_spool(f, 100);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 17);
    uint8_t *m = make_bytes(60, 3);
    /* read while current, released while current, deleted at rotation */
    hd_spool_loc a = append1(f, id, m, 60);
    hd_spool_hold(f->sp, a.segment);
    sync_ok(f);
    read_ok(f, &a, id, m, 60);
    hd_spool_release(f->sp, a.segment);
    hd_spool_loc b = append1(f, id, m, 60);
    hd_spool_hold(f->sp, b.segment);
    assert_false(file_exists(seg_file(f, a.segment)));
    assert_int_equal(open_deleted_files(f), 0);

    /* read, then deleted by collect after a reopen */
    sync_ok(f);
    read_ok(f, &b, id, m, 60);
    reopen_spool(f, 100);
    read_ok(f, &b, id, m, 60);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(collect_finished(f, &err), 1);
    assert_false(file_exists(seg_file(f, b.segment)));
    assert_int_equal(open_deleted_files(f), 0);
    free(m);
}

static void test_reopen_starts_new_segment(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 18);
    hd_spool_loc a = append1(f, id, "one", 3);
    sync_ok(f);
    /* a torn tail, as a crash mid-append leaves */
    append_raw(seg_file(f, 1), "HDM1\0\0", 6);
    off_t size1 = file_size(seg_file(f, 1));
    reopen_spool(f, 0);
    hd_spool_loc b = append1(f, id, "two", 3);
    sync_ok(f);
    assert_int_equal(b.segment, 2);
    assert_int_equal(b.offset, 0);
    assert_int_equal(file_size(seg_file(f, 1)), size1);
    read_ok(f, &a, id, "one", 3);
    read_ok(f, &b, id, "two", 3);
    /* again: segment 3, even though 2 is short */
    reopen_spool(f, 0);
    hd_spool_loc c = append1(f, id, "three", 5);
    assert_int_equal(c.segment, 3);
    assert_int_equal(c.offset, 0);
}

static void test_collect_after_reopen(void **state)
{
    fixture *f = *state;
    open_spool(f, 100);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 19);
    uint8_t *m = make_bytes(70, 4);
    hd_spool_loc l[3];
    for (size_t i = 0; i < 3; i++) {
        l[i] = append1(f, id, m, 70);
        hd_spool_hold(f->sp, l[i].segment);
    }
    sync_ok(f);
    assert_int_equal(l[0].segment, 1);
    assert_int_equal(l[2].segment, 3);
    /* a crash between the database commit and the unlinks: after the
     * restart only the message in segment 2 is still live */
    reopen_spool(f, 100);
    assert_int_equal(hd_spool_segment_count(f->sp), 4); /* 1, 2, 3 and the new 4 */
    hd_spool_hold(f->sp, l[1].segment);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(collect_finished(f, &err), 2);
    assert_false(file_exists(seg_file(f, 1)));
    assert_true(file_exists(seg_file(f, 2)));
    assert_false(file_exists(seg_file(f, 3)));
    assert_true(file_exists(seg_file(f, 4))); /* current, never collected */
    read_ok(f, &l[1], id, m, 70);
    assert_int_equal(collect_finished(f, &err), 0);
    /* files that are not segments are left alone */
    char other[4300];
    snprintf(other, sizeof other, "%s/notes.txt", f->dir);
    FILE *fp = fopen(other, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(collect_finished(f, &err), 0);
    assert_true(file_exists(other));
    free(m);
}

/* ---- quarantine, modes ---- */

static void test_quarantine_copies_raw_record(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 20);
    append1(f, id, "neighbour", 9);
    hd_spool_loc loc = append1(f, id, "damaged message", 15);
    append1(f, id, "after", 5);
    sync_ok(f);
    patch_byte(seg_file(f, 1), (off_t)loc.offset + HD_SPOOL_RECORD_HEADER + 2, 0x40);
    read_corrupt(f, &loc, id, "damaged before quarantine");
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_quarantine(f->sp, &loc, "msg-1", &err), 0);

    char qdir[4300], qfile[4400];
    snprintf(qdir, sizeof qdir, "%s/corrupt", f->dir);
    snprintf(qfile, sizeof qfile, "%s/msg-1", qdir);
    size_t qlen, slen;
    uint8_t *q = tu_read_file(qfile, &qlen);
    uint8_t *seg = tu_read_file(seg_file(f, 1), &slen);
    assert_int_equal(qlen, HD_SPOOL_RECORD_HEADER + 15);
    assert_memory_equal(q, seg + loc.offset, qlen);
    assert_memory_equal(q, "HDM1", 4);
    struct stat st;
    assert_int_equal(stat(qdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(qfile, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(q);
    free(seg);

    assert_int_equal(hd_spool_quarantine(f->sp, &loc, "../escape", &err), HD_EINVAL);
    snprintf(qfile, sizeof qfile, "%s/escape", f->tmp);
    assert_false(file_exists(qfile));
}

static void test_quarantine_truncated_record(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 21);
    hd_spool_loc loc = append1(f, id, "0123456789", 10);
    sync_ok(f);
    assert_int_equal(truncate(seg_file(f, 1), HD_SPOOL_RECORD_HEADER + 4), 0);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_quarantine(f->sp, &loc, "cut", &err), 0);
    char qfile[4400];
    snprintf(qfile, sizeof qfile, "%s/corrupt/cut", f->dir);
    assert_int_equal(file_size(qfile), HD_SPOOL_RECORD_HEADER + 4);
}

static void test_file_modes(void **state)
{
    fixture *f = *state;
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 22);
    mode_t old = umask(0);
    open_spool(f, 0); /* even with a permissive umask */
    umask(old);
    append1(f, id, "x", 1);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(seg_file(f, 1), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_open_fails_cleanly(void **state)
{
    fixture *f = *state;
    char path[4300];
    snprintf(path, sizeof path, "%s/file", f->tmp);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    hd_spool *sp = (hd_spool *)1;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_open(path, 0, 0, &sp, &err), HD_EIO);
    assert_null(sp);
    snprintf(path, sizeof path, "%s/no/such/dir", f->tmp);
    assert_int_equal(hd_spool_open(path, 0, 0, &sp, &err), HD_EIO);
    assert_null(sp);
}

/* ---- envelopes, scanning, collection with proof (issue 14 item 5) ---- */

static void test_envelope_round_trip(void **state)
{
    (void)state;
    char *rcpts[] = {"bob@example.net", "Carol@Example.org"};
    hd_spool_envelope env = {.mail_from = "b-x-y@bounce.example.com", .from_domain = "example.com",
                             .message_id = "<m1@example.com>", .submitter = "alice", .pool = "",
                             .received_at = 1700000000, .expires_at = 1700432000, .flags = 1,
                             .rcpts = rcpts, .n_rcpts = 2};
    memcpy(env.uuid, "0123456789abcdef0123456789abcdef", 33);
    hd_buf b;
    hd_buf_init(&b, 1 << 20);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_envelope_write(&env, &b, &err), 0);
    hd_spool_envelope got;
    assert_int_equal(hd_spool_envelope_parse(b.p, b.len, &got, &err), 0);
    assert_string_equal(got.uuid, env.uuid);
    assert_string_equal(got.mail_from, env.mail_from);
    assert_string_equal(got.from_domain, "example.com");
    assert_string_equal(got.message_id, "<m1@example.com>");
    assert_string_equal(got.submitter, "alice");
    assert_string_equal(got.pool, "");
    assert_int_equal(got.received_at, 1700000000);
    assert_int_equal(got.expires_at, 1700432000);
    assert_int_equal(got.flags, 1);
    assert_int_equal(got.n_rcpts, 2);
    assert_string_equal(got.rcpts[1], "Carol@Example.org");
    hd_spool_envelope_free(&got);

    /* a value with a line break is refused when written */
    env.submitter = "al\nice";
    hd_buf_reset(&b);
    assert_int_equal(hd_spool_envelope_write(&env, &b, &err), HD_EINVAL);
    assert_non_null(strstr(err.msg, "submitter"));
    hd_buf_free(&b);
}

static void parse_fails(const char *text, int code, const char *says)
{
    hd_spool_envelope got;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_envelope_parse((const uint8_t *)text, strlen(text), &got, &err), code);
    if (!strstr(err.msg, says))
        fail_msg("\"%s\" not in \"%s\"", says, err.msg);
}

static void test_envelope_parse_errors(void **state)
{
    (void)state;
    const char *good_head = "herald-envelope 1\nuuid 0123456789abcdef0123456789abcdef\n"
                            "mail-from a@b\nfrom-domain b\n";
    char t[512];
    parse_fails("", HD_ESYNTAX, "empty");
    parse_fails("herald-envelope 2\n", HD_ESYNTAX, "line 1");
    parse_fails("herald-envelope 1\nuuid 12\n", HD_ESYNTAX, "line 2: uuid");
    snprintf(t, sizeof t, "%s", good_head);
    parse_fails(t, HD_ESYNTAX, "missing");                  /* no rcpt */
    snprintf(t, sizeof t, "%srcpt x@y", good_head);
    parse_fails(t, HD_ESYNTAX, "line 5: no line end");
    snprintf(t, sizeof t, "%srcpt x@y\r\n", good_head);
    parse_fails(t, HD_ESYNTAX, "line 5");
    snprintf(t, sizeof t, "%smail-from c@d\n", good_head);
    parse_fails(t, HD_ESYNTAX, "a second mail-from");
    snprintf(t, sizeof t, "%sreceived-at soon\n", good_head);
    parse_fails(t, HD_ESYNTAX, "received-at is not a number");
    snprintf(t, sizeof t, "%snospace\n", good_head);
    parse_fails(t, HD_ESYNTAX, "no space");
    /* without its times a recovered message would expire at once */
    snprintf(t, sizeof t, "%srcpt x@y\n", good_head);
    parse_fails(t, HD_ESYNTAX, "received-at or expires-at missing");
    snprintf(t, sizeof t, "%sreceived-at 1700000000\nrcpt x@y\n", good_head);
    parse_fails(t, HD_ESYNTAX, "received-at or expires-at missing");
    /* a name a later herald may add is skipped; missing optional fields are "" */
    snprintf(t, sizeof t, "%sreceived-at 1700000000\nexpires-at 1700400000\n"
             "future-field 1\nrcpt x@y\n", good_head);
    hd_spool_envelope got;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_envelope_parse((const uint8_t *)t, strlen(t), &got, &err), 0);
    assert_string_equal(got.submitter, "");
    assert_int_equal(got.n_rcpts, 1);
    hd_spool_envelope_free(&got);
}

typedef struct scan_seen {
    hd_spool_record r[8];
    size_t n;
} scan_seen;

static int scan_note(const hd_spool_record *r, void *arg)
{
    scan_seen *s = arg;
    if (s->n < 8)
        s->r[s->n] = *r;
    s->n++;
    return 0;
}

static void test_scan_and_read_file(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 40);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_append_envelope(f->sp, id, hd_slice_make("env", 3), &err), 0);
    hd_spool_loc loc = append1(f, id, "message", 7);
    sync_ok(f);
    scan_seen seen = {0};
    assert_int_equal(hd_spool_scan(seg_file(f, 1), 1, scan_note, &seen, &err), 0);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.r[0].kind, HD_SPOOL_REC_ENVELOPE);
    assert_int_equal(seen.r[1].kind, HD_SPOOL_REC_MESSAGE);
    assert_memory_equal(seen.r[1].id, id, HD_SPOOL_ID_LEN);
    assert_int_equal(seen.r[1].loc.offset, loc.offset);
    assert_int_equal(seen.r[1].loc.length, 7);
    assert_int_equal(hd_spool_read_file(seg_file(f, 1), &seen.r[1], &f->out, &err), 0);
    assert_memory_equal(f->out.p, "message", 7);
    /* the message reader still finds it by its location */
    read_ok(f, &loc, id, "message", 7);
    /* a changed byte: the checksum says so */
    patch_byte(seg_file(f, 1), (off_t)loc.offset + HD_SPOOL_RECORD_HEADER + 2, 0x20);
    assert_int_equal(hd_spool_read_file(seg_file(f, 1), &seen.r[1], &f->out, &err), HD_ESYNTAX);
    assert_non_null(strstr(err.msg, "checksum"));
    /* a torn tail: the records before it, then HD_ESYNTAX */
    append_raw(seg_file(f, 1), "HDM1\0\0\0\x40", 8);
    seen.n = 0;
    assert_int_equal(hd_spool_scan(seg_file(f, 1), 1, scan_note, &seen, &err), HD_ESYNTAX);
    assert_int_equal(seen.n, 2);
    assert_non_null(strstr(err.msg, "torn tail"));
}

typedef struct proof {
    uint8_t unfinished[HD_SPOOL_ID_LEN];
    size_t orphaned;
    char why[256];
} proof;

static bool proof_finished(const uint8_t id[HD_SPOOL_ID_LEN], uint32_t segment, uint64_t offset,
                           void *arg)
{
    proof *p = arg;
    (void)segment;
    (void)offset;
    return memcmp(id, p->unfinished, HD_SPOOL_ID_LEN) != 0;
}

static void proof_orphan(uint32_t segment, const char *why, void *arg)
{
    proof *p = arg;
    p->orphaned++;
    snprintf(p->why, sizeof p->why, "%u: %s", segment, why);
}

static void test_collect_needs_proof(void **state)
{
    fixture *f = *state;
    open_spool(f, 100);
    uint8_t done[HD_SPOOL_ID_LEN], live[HD_SPOOL_ID_LEN];
    make_id(done, 41);
    make_id(live, 42);
    uint8_t *m = make_bytes(80, 5);
    /* held while this process runs (else rotation deletes them) */
    hd_spool_loc a = append1(f, done, m, 80);   /* segment 1: finished */
    hd_spool_hold(f->sp, a.segment);
    hd_spool_loc b = append1(f, live, m, 80);   /* segment 2: not known as finished */
    hd_spool_hold(f->sp, b.segment);
    hd_spool_loc c = append1(f, done, m, 80);   /* segment 3: torn tail after it */
    hd_spool_hold(f->sp, c.segment);
    sync_ok(f);
    assert_int_equal(a.segment, 1);
    assert_int_equal(b.segment, 2);
    assert_int_equal(c.segment, 3);
    append_raw(seg_file(f, 3), "HDM1", 4);
    reopen_spool(f, 100);                       /* segment 4 is current; 5 is made empty */
    char empty[4300];
    snprintf(empty, sizeof empty, "%s/00000005.seg", f->dir);
    FILE *fp = fopen(empty, "w");
    assert_non_null(fp);
    fclose(fp);
    proof p = {{0}, 0, ""};
    memcpy(p.unfinished, live, HD_SPOOL_ID_LEN);
    hd_spool_collected out;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_collect(f->sp, proof_finished, proof_orphan, &p, &out, &err), 0);
    assert_int_equal(out.removed, 2);           /* 1 (finished) and 5 (empty) */
    assert_int_equal(out.orphaned, 2);          /* 2 (unfinished) and 3 (unreadable tail) */
    assert_false(file_exists(seg_file(f, 1)));
    assert_false(file_exists(empty));
    assert_false(file_exists(seg_file(f, 2)));
    char orphan[4300];
    snprintf(orphan, sizeof orphan, "%s/orphan/00000002.seg", f->dir);
    assert_true(file_exists(orphan));
    assert_int_equal(file_size(orphan), HD_SPOOL_RECORD_HEADER + 80);   /* every byte kept */
    snprintf(orphan, sizeof orphan, "%s/orphan/00000003.seg", f->dir);
    assert_true(file_exists(orphan));
    assert_int_equal(p.orphaned, 2);
    /* no proof at all (no database): nothing is deleted */
    reopen_spool(f, 100);
    uint64_t bytes = 0;
    assert_int_equal(hd_spool_data_segments(f->sp, &bytes), 0);
    /* orphaned numbers are not used again: the next segment is above them */
    hd_spool_loc d = append1(f, done, m, 10);
    assert_true(d.segment > 3);
    free(m);
}

static void test_collect_without_proof_keeps_everything(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 43);
    append1(f, id, "acknowledged mail", 17);
    sync_ok(f);
    reopen_spool(f, 0);
    uint64_t bytes = 0;
    assert_int_equal(hd_spool_data_segments(f->sp, &bytes), 1);
    assert_int_equal(bytes, HD_SPOOL_RECORD_HEADER + 17);
    hd_spool_collected out;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_collect(f->sp, NULL, NULL, NULL, &out, &err), 0);
    assert_int_equal(out.removed, 0);
    assert_int_equal(out.orphaned, 1);
}

static void note_pin(uint32_t segment, size_t unknown, void *arg)
{
    proof *p = arg;
    p->orphaned++;
    snprintf(p->why, sizeof p->why, "%u: %zu", segment, unknown);
}

/* A database restored from an older copy: a live segment also holds a
 * message it does not know; that segment must outlive its known mail. */
static void test_pin_unknown(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t known[HD_SPOOL_ID_LEN], unknown[HD_SPOOL_ID_LEN];
    make_id(known, 45);
    make_id(unknown, 46);
    hd_spool_loc a = append1(f, known, "known", 5);
    hd_spool_hold(f->sp, a.segment);
    append1(f, unknown, "unknown", 7);
    sync_ok(f);
    reopen_spool(f, 0);
    hd_spool_hold(f->sp, a.segment);            /* the queue loaded the known message */
    proof p = {{0}, 0, ""};
    memcpy(p.unfinished, unknown, HD_SPOOL_ID_LEN);
    assert_int_equal(hd_spool_pin_unknown(f->sp, proof_finished, note_pin, &p), 1);
    assert_string_equal(p.why, "1: 1");
    hd_spool_release(f->sp, a.segment);         /* the known message is done */
    assert_true(file_exists(seg_file(f, 1)));   /* kept for the unknown one */
    /* every message known: nothing pinned, the release deletes it */
    reopen_spool(f, 0);
    hd_spool_hold(f->sp, a.segment);
    assert_int_equal(hd_spool_pin_unknown(f->sp, all_finished, note_pin, &p), 0);
    hd_spool_release(f->sp, a.segment);
    assert_false(file_exists(seg_file(f, 1)));
}

static void test_retire_current(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 44);
    hd_spool_loc a = append1(f, id, "held", 4);
    hd_spool_hold(f->sp, a.segment);
    sync_ok(f);
    hd_spool_retire_current(f->sp);             /* held: kept */
    assert_true(file_exists(seg_file(f, 1)));
    reopen_spool(f, 0);
    hd_spool_loc b = append1(f, id, "done", 4);
    hd_spool_hold(f->sp, b.segment);
    hd_spool_release(f->sp, b.segment);
    hd_spool_retire_current(f->sp);             /* nothing holds it: gone */
    assert_false(file_exists(seg_file(f, b.segment)));
    assert_true(file_exists(seg_file(f, 1)));
}

/* A number is never used twice: the database's rows (segment_released)
 * are keyed by it. Every segment file gone (the mail done, the current
 * one retired at a clean stop), the next open still starts above the
 * high-water mark; a spool lost whole starts above the caller's floor. */
static void test_numbers_never_reused(void **state)
{
    fixture *f = *state;
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 46);
    hd_spool_loc a = append1(f, id, "done", 4);
    sync_ok(f);
    hd_spool_retire_current(f->sp);
    assert_false(file_exists(seg_file(f, a.segment)));
    reopen_spool(f, 0);
    hd_spool_loc b = append1(f, id, "next", 4);
    assert_true(b.segment > a.segment);
    hd_spool_retire_current(f->sp);
    hd_spool_close(f->sp);
    f->sp = NULL;
    /* the spool lost whole: the database's floor */
    tu_rmtree(f->dir);
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_open(f->dir, 0, 7, &f->sp, &err), 0);
    hd_spool_loc c = append1(f, id, "after", 5);
    assert_int_equal(c.segment, 8);
    /* an older database (a lower floor): the high-water mark wins */
    reopen_spool(f, 0);
    hd_spool_loc d = append1(f, id, "later", 5);
    assert_true(d.segment > 8);
}

/* A damaged high-water mark stops the open with a clear error (a guess
 * could reuse a number). */
static void test_high_water_damaged(void **state)
{
    fixture *f = *state;
    char path[4300];
    assert_int_equal(mkdir(f->dir, 0700), 0);
    snprintf(path, sizeof path, "%s/segments.highwater", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("12x4\n", fp);
    fclose(fp);
    hd_spool *sp = NULL;
    hd_err err;
    hd_err_clear(&err);
    assert_int_equal(hd_spool_open(f->dir, 0, 0, &sp, &err), HD_ESYNTAX);
    assert_null(sp);
    assert_non_null(strstr(err.msg, "segments.highwater"));
}

/* A recovered copy (orphan/N.seg.recovered) keeps its number taken: a
 * later segment of that number, orphaned, would replace it. */
static void test_recovered_copy_keeps_its_number(void **state)
{
    fixture *f = *state;
    char orphan[4300], path[4400];
    assert_int_equal(mkdir(f->dir, 0700), 0);
    snprintf(orphan, sizeof orphan, "%s/orphan", f->dir);
    assert_int_equal(mkdir(orphan, 0700), 0);
    snprintf(path, sizeof path, "%s/00000005.seg.recovered", orphan);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("kept", fp);
    fclose(fp);
    open_spool(f, 0);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 45);
    hd_spool_loc a = append1(f, id, "new", 3);
    assert_true(a.segment > 5);
}

/* A batch whose rows fail is cut out again: within one segment, and
 * across a segment started during the batch. */
static void test_rewind(void **state)
{
    fixture *f = *state;
    open_spool(f, 100);
    uint8_t id[HD_SPOOL_ID_LEN];
    make_id(id, 46);
    hd_spool_loc a = append1(f, id, "keep", 4);
    hd_spool_hold(f->sp, a.segment);
    hd_spool_mark m = hd_spool_mark_now(f->sp);
    append1(f, id, "drop", 4);
    hd_err err = {0};
    assert_int_equal(hd_spool_rewind(f->sp, m, &err), 0);
    struct stat st;
    assert_int_equal(stat(seg_file(f, a.segment), &st), 0);
    assert_int_equal((uint64_t)st.st_size, HD_SPOOL_RECORD_HEADER + 4);
    /* the next append goes where the cut one was */
    hd_spool_loc b = append1(f, id, "next", 4);
    assert_int_equal(b.segment, a.segment);
    assert_int_equal(b.offset, HD_SPOOL_RECORD_HEADER + 4);
    hd_spool_hold(f->sp, b.segment);
    /* across a rotation: 100-byte segments, the big record starts a new one */
    m = hd_spool_mark_now(f->sp);
    char big[90];
    memset(big, 'x', sizeof big);
    hd_spool_loc c = append1(f, id, big, sizeof big);
    assert_true(c.segment > a.segment);
    assert_int_equal(hd_spool_rewind(f->sp, m, &err), 0);
    assert_int_equal(stat(seg_file(f, a.segment), &st), 0);
    assert_int_equal((uint64_t)st.st_size, 2 * (HD_SPOOL_RECORD_HEADER + 4));
    assert_int_equal(stat(seg_file(f, c.segment), &st), 0);
    assert_int_equal(st.st_size, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recovered_copy_keeps_its_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_parts_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_id_or_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_segment_is_io_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_huge_length_in_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_over_4gib_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_keeps_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_at_segment_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_segment_survives_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_segments_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_segments_not_kept_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_starts_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_copies_raw_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_truncated_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup, teardown),
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_parse_errors),
        cmocka_unit_test_setup_teardown(test_scan_and_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_needs_proof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_collect_without_proof_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_high_water_damaged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
