/*
 * fuzz_spool.c - reading spool records (hd_spool_read) from damaged or
 * made-up segment files.
 *
 * A spool is opened once in a temporary folder; two valid records are
 * appended to it at start, and the segment's bytes kept as a template.
 * Byte 0 picks the mode:
 *   even: damage. The template is written as segment 98 with the input's
 *         damage: bytes 1-2 (when not zero) cut the file to that length,
 *         then each pair (position, xor) flips bits. The second record is
 *         read through its real location.
 *   odd:  made up. Bytes 1-12 are a location (offset, length, CRC, big
 *         endian; the offset taken modulo the file's length + 64), byte 13
 *         seeds the id, and the rest is written as segment 99.
 * Invariants: a read either fails with HD_ESYNTAX, HD_EIO or HD_ELIMIT
 * (the output buffer is capped at 1 MiB), or returns exactly the bytes
 * the file holds after a header that matches the location and the id,
 * with the location's CRC. The output buffer is fresh for each read, so
 * that ASan sees a write past what the read reserved.
 */
#include <herald/spool.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (1u << 20)

static struct {
    char tmp[256], dir[300];
    hd_spool *sp;
    uint8_t *tmpl;      /* segment 1 after the two appends */
    size_t tmpl_len;
    hd_spool_loc loc;   /* of the second record */
    uint8_t id[HD_SPOOL_ID_LEN];
} g;

static void seg_name(uint32_t seg, char *out, size_t size)
{
    snprintf(out, size, "%s/%08u.seg", g.dir, seg);
}

static void cleanup(void)
{
    char path[400];
    hd_spool_close(g.sp);
    for (uint32_t seg = 1; seg <= 99; seg++) {
        seg_name(seg, path, sizeof path);
        unlink(path);
    }
    rmdir(g.dir);
    rmdir(g.tmp);
    free(g.tmpl);
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    uint8_t *p = malloc(1 << 16);
    *len = fread(p, 1, 1 << 16, f);
    fclose(f);
    return p;
}

static void init(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g.tmp, sizeof g.tmp, "%s/herald-fuzz-spool-XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(g.tmp))
        abort();
    snprintf(g.dir, sizeof g.dir, "%s/spool", g.tmp);
    if (hd_spool_open(g.dir, 0, 0, &g.sp, NULL) != 0)
        abort();
    for (size_t i = 0; i < HD_SPOOL_ID_LEN; i++)
        g.id[i] = (uint8_t)(0xa0 + i);
    static const char first[] = "From: a@example.com\r\n\r\nfirst\r\n";
    uint8_t second[300];
    for (size_t i = 0; i < sizeof second; i++)
        second[i] = (uint8_t)(i * 37u);
    hd_slice parts[2] = {hd_slice_make(second, 100), hd_slice_make(second + 100, 200)};
    hd_spool_loc l1;
    hd_slice p1 = hd_slice_cstr(first);
    if (hd_spool_append(g.sp, g.id, &p1, 1, &l1, NULL) != 0 ||
        hd_spool_append(g.sp, g.id, parts, 2, &g.loc, NULL) != 0 || hd_spool_sync(g.sp, NULL) != 0)
        abort();
    char path[400];
    seg_name(1, path, sizeof path);
    g.tmpl = read_whole(path, &g.tmpl_len);
    if (g.tmpl_len != 2 * HD_SPOOL_RECORD_HEADER + strlen(first) + sizeof second)
        abort();
    atexit(cleanup);
}

/* Rewrite the segment in place (same file, so a cached descriptor sees it). */
static void write_segment(uint32_t seg, const uint8_t *p, size_t len)
{
    char path[400];
    seg_name(seg, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len && write(fd, p, len) != (ssize_t)len))
        abort();
    close(fd);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What a successful read must have seen in file[0..len). */
static void check_read(int rc, const hd_buf *out, const hd_spool_loc *loc, const uint8_t *id,
                       const uint8_t *file, size_t len)
{
    if (rc != 0) {
        if (rc != HD_ESYNTAX && rc != HD_EIO && rc != HD_ELIMIT)
            abort();
        return;
    }
    uint64_t end = loc->offset + HD_SPOOL_RECORD_HEADER + loc->length;
    if (loc->offset > len || end > len || out->len != loc->length)
        abort();
    const uint8_t *h = file + loc->offset;
    if (memcmp(h, "HDM1", 4) != 0 || be32(h + 4) != loc->length || be32(h + 8) != loc->crc ||
        memcmp(h + 16, id, HD_SPOOL_ID_LEN) != 0)
        abort();
    if (loc->length && memcmp(out->p, h + HD_SPOOL_RECORD_HEADER, loc->length) != 0)
        abort();
    if ((uint32_t)crc32(crc32(0, Z_NULL, 0), out->p, loc->length) != loc->crc)
        abort();
}

static void damage_mode(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(g.tmpl_len);
    memcpy(file, g.tmpl, g.tmpl_len);
    size_t len = g.tmpl_len;
    if (size >= 2) {
        size_t cut = (size_t)data[0] << 8 | data[1];
        if (cut > 0 && cut < len)
            len = cut;
        data += 2, size -= 2;
    }
    for (size_t i = 0; i + 1 < size; i += 2)
        if (len > 0)
            file[(size_t)data[i] * 7 % len] ^= data[i + 1];
    write_segment(98, file, len);
    hd_spool_loc loc = g.loc;
    loc.segment = 98;
    hd_buf out;
    hd_buf_init(&out, OUT_MAX);
    int rc = hd_spool_read(g.sp, &loc, g.id, &out, NULL);
    check_read(rc, &out, &loc, g.id, file, len);
    /* untouched bytes must read back as they were written */
    if (len == g.tmpl_len && memcmp(file, g.tmpl, len) == 0 &&
        (rc != 0 || memcmp(out.p, g.tmpl + loc.offset + HD_SPOOL_RECORD_HEADER, loc.length) != 0))
        abort();
    hd_buf_free(&out);
    free(file);
}

static void made_up_mode(const uint8_t *data, size_t size)
{
    if (size < 13)
        return;
    const uint8_t *file = data + 13;
    size_t len = size - 13;
    hd_spool_loc loc = {99, be32(data) % (len + 64), be32(data + 4), be32(data + 8)};
    uint8_t id[HD_SPOOL_ID_LEN];
    for (size_t i = 0; i < HD_SPOOL_ID_LEN; i++)
        id[i] = (uint8_t)(data[12] + i);
    write_segment(99, file, len);
    hd_buf out;
    hd_buf_init(&out, OUT_MAX);
    int rc = hd_spool_read(g.sp, &loc, id, &out, NULL);
    check_read(rc, &out, &loc, id, file, len);
    hd_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.sp)
        init();
    if (size == 0)
        return 0;
    if (data[0] & 1)
        made_up_mode(data + 1, size - 1);
    else
        damage_mode(data + 1, size - 1);
    return 0;
}
