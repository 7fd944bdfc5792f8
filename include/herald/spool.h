/*
 * herald/spool.h - where accepted messages' bytes live until delivered.
 *
 * The spool is a folder of append-only segment files (00000001.seg, ...).
 * Each message is one record: a 32-byte header (magic "HDM1", length,
 * CRC-32 of the bytes, the message's 16-byte id) and the bytes, after an
 * envelope record of the same shape (magic "HDE1", see below). Appends
 * go to the current segment; hd_spool_sync() makes every append so far
 * durable with one fdatasync, which is what lets many sessions share one
 * disk flush (group commit). The database row that points at a record is
 * written only after that sync, so a row never points at bytes that could
 * be lost; a torn tail after a crash is bytes no row points at.
 *
 * A segment is deleted when it is no longer the current one and no live
 * message holds it (hd_spool_hold/_release count the holders). On open, a
 * fresh segment is started: an old tail is never appended to.
 *
 * Thread use: one writer thread appends, syncs and releases; any thread
 * may hd_spool_read(). The spool locks internally.
 */
#ifndef HERALD_SPOOL_H
#define HERALD_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <herald/buf.h>
#include <herald/err.h>

#define HD_SPOOL_ID_LEN 16
#define HD_SPOOL_RECORD_HEADER 32

typedef struct hd_spool hd_spool; /* opaque */

/* Where a record lives. */
typedef struct hd_spool_loc {
    uint32_t segment;
    uint64_t offset;   /* of the record header */
    uint32_t length;   /* of the message bytes */
    uint32_t crc;      /* CRC-32 (zlib) of the message bytes */
} hd_spool_loc;

/* Opens (creating, mode 0700) the spool folder and starts a new segment.
 * segment_max: bytes after which a new segment is started. The new
 * segment's number is above every number used before: above the files in
 * the folder and in orphan/, above the folder's high-water mark (the file
 * segments.highwater, raised and synced before each segment is created),
 * and above segment_floor, the highest number the caller's database
 * refers to (hd_store_segment_highest; 0 for none). A database's rows are
 * keyed by segment number, so a number is never used twice. */
int hd_spool_open(const char *dir, uint64_t segment_max, uint32_t segment_floor, hd_spool **out,
                  hd_err *err);
void hd_spool_close(hd_spool *sp);

/* Append the concatenation of parts[0..n) as one record. Not durable until
 * hd_spool_sync(). */
int hd_spool_append(hd_spool *sp, const uint8_t id[HD_SPOOL_ID_LEN], const hd_slice *parts,
                    size_t n, hd_spool_loc *out, hd_err *err);

/* Make every append so far durable (fdatasync; a new segment's folder
 * entry is synced too). */
int hd_spool_sync(hd_spool *sp, hd_err *err);

/* Where the next append goes: taken before a batch's appends, so that a
 * batch whose rows cannot be written is taken out of the spool again
 * (hd_spool_rewind) and no record stays that no row will ever point at. */
typedef struct hd_spool_mark {
    uint32_t segment;
    uint64_t size;
} hd_spool_mark;

hd_spool_mark hd_spool_mark_now(hd_spool *sp);
/* Cut every record appended since mark off the spool (the segment that
 * was current then back to its size then, a segment started since back
 * to empty) and sync that. The appends' holders must be released by the
 * caller. HD_EIO when a file cannot be cut. */
int hd_spool_rewind(hd_spool *sp, hd_spool_mark mark, hd_err *err);

/* Read a record's bytes into out (replacing its contents), checking the
 * header, the id and the CRC: HD_ESYNTAX "corrupt ..." when they do not
 * match, HD_EIO when the segment cannot be read. */
int hd_spool_read(hd_spool *sp, const hd_spool_loc *loc, const uint8_t id[HD_SPOOL_ID_LEN],
                  hd_buf *out, hd_err *err);

/* Count a live message in a segment (at load, and after each append). */
void hd_spool_hold(hd_spool *sp, uint32_t segment);
/* A message left its segment; the segment is deleted when it is empty
 * and not the current one. */
void hd_spool_release(hd_spool *sp, uint32_t segment);

/* ---- envelopes: what the database says of a message, kept beside it ----
 *
 * Before each message record the committer appends an envelope record
 * (magic "HDE1", the same id): the envelope sender, the recipients and
 * what the messages row holds, as text lines. The spool alone then says
 * what is to be delivered to whom, so mail survives the loss of the
 * database (herald queue recover). */

#define HD_SPOOL_ENVELOPE_MAX (4u * 1024 * 1024)     /* bytes of one envelope record */
#define HD_SPOOL_ENVELOPE_RCPTS 100000               /* recipients in one */
#define HD_SPOOL_FIELD_MAX 2048                      /* bytes of one value (the longest row text is 1024) */

typedef struct hd_spool_envelope {
    char uuid[33];              /* the queue id (32 hex digits) */
    char *mail_from;            /* the message's VERP envelope sender */
    char *from_domain;
    char *message_id;
    char *submitter;
    char *pool;                 /* "" when none */
    int64_t received_at, expires_at;
    uint32_t flags;
    char **rcpts;
    size_t n_rcpts;
} hd_spool_envelope;

/* The record's text: "herald-envelope 1" then one "name value" line each.
 * A value with CR, LF or NUL, or over HD_SPOOL_FIELD_MAX, is refused. */
int hd_spool_envelope_write(const hd_spool_envelope *env, hd_buf *out, hd_err *err);
/* Parse a record's text (bounded; every error says which line). The
 * strings are allocated: hd_spool_envelope_free. */
int hd_spool_envelope_parse(const uint8_t *p, size_t len, hd_spool_envelope *out, hd_err *err);
void hd_spool_envelope_free(hd_spool_envelope *env);

/* Append an envelope record for id (written and synced with the batch). */
int hd_spool_append_envelope(hd_spool *sp, const uint8_t id[HD_SPOOL_ID_LEN], hd_slice text,
                             hd_err *err);

/* ---- reading a segment file whole (collection, recovery) ---- */

typedef enum { HD_SPOOL_REC_MESSAGE, HD_SPOOL_REC_ENVELOPE } hd_spool_rec_kind;

typedef struct hd_spool_record {
    hd_spool_rec_kind kind;
    uint8_t id[HD_SPOOL_ID_LEN];
    hd_spool_loc loc;           /* segment, offset of the header, length, crc */
} hd_spool_record;

/* fn(record) for each record of the segment file path, in order, without
 * reading the bytes; fn returning non-zero stops (and is returned). A
 * record that does not parse, or runs past the end of the file (a torn
 * tail), is HD_ESYNTAX naming the offset, after the records before it. */
int hd_spool_scan(const char *path, uint32_t segment,
                  int (*fn)(const hd_spool_record *r, void *arg), void *arg, hd_err *err);
/* The bytes of one record of the file path, checked against its CRC. */
int hd_spool_read_file(const char *path, const hd_spool_record *r, hd_buf *out, hd_err *err);

/* ---- collection: a segment goes only with proof that it is finished ---- */

/* Whether the message with this spool id, its record at offset in
 * segment, is recorded as finished (every recipient final) by this
 * database; anything else (unknown, live, cannot tell) is no proof. The
 * place tells a message retention pruned (appended before one the
 * database released from that segment) from one it never had. */
typedef bool (*hd_spool_finished_fn)(const uint8_t id[HD_SPOOL_ID_LEN], uint32_t segment,
                                     uint64_t offset, void *arg);
/* Told of each segment moved to orphan/, with why. */
typedef void (*hd_spool_orphan_fn)(uint32_t segment, const char *why, void *arg);

typedef struct hd_spool_collected {
    size_t removed;             /* segments deleted: empty, or every message finished */
    size_t orphaned;            /* moved to orphan/ */
} hd_spool_collected;

/* After the queue is loaded: a segment no live message holds (left by a
 * crash between a commit and an unlink, or by a lost database) is deleted
 * only when it is empty or finished(id) holds for every message record in
 * it; otherwise it is moved to the spool's orphan/ folder (never deleted)
 * and orphan() is told. Segment numbers are never reused while a segment
 * of that number is in orphan/. */
int hd_spool_collect(hd_spool *sp, hd_spool_finished_fn finished, hd_spool_orphan_fn orphan,
                     void *arg, hd_spool_collected *out, hd_err *err);

/* After the queue is loaded, before collection: a segment that live
 * messages hold but that also holds a message record known(id) does not
 * know of (a database restored from an older copy) is pinned: it is not
 * deleted when its known messages are done, so the next start's
 * collection moves it to orphan/ instead. pinned() is told of each.
 * Returns how many were pinned. */
size_t hd_spool_pin_unknown(hd_spool *sp, hd_spool_finished_fn known,
                            void (*pinned)(uint32_t segment, size_t unknown, void *arg),
                            void *arg);

/* Segment files other than the current one that hold at least one byte,
 * and their total size (the spool of mail a database should know of). */
size_t hd_spool_data_segments(hd_spool *sp, uint64_t *bytes);

/* At a clean stop: the current segment goes when no live message holds it
 * (every message appended to it was released, or never acknowledged). */
void hd_spool_retire_current(hd_spool *sp);

/* Copy a record's raw bytes (whatever they are) into the spool's
 * corrupt/ folder as NAME, for an operator to look at. */
int hd_spool_quarantine(hd_spool *sp, const hd_spool_loc *loc, const char *name, hd_err *err);

/* Segment files present (for tests and `herald queue` stats). */
size_t hd_spool_segment_count(hd_spool *sp);

#endif
