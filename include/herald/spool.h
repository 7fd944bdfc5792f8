/*
 * herald/spool.h - where accepted messages' bytes live until delivered.
 *
 * The spool is a folder of append-only segment files (00000001.seg, ...).
 * Each message is one record: a 32-byte header (magic "HDM1", length,
 * CRC-32 of the bytes, the message's 16-byte id) and the bytes. Appends
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

#include "herald/buf.h"
#include "herald/err.h"

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
 * segment_max: bytes after which a new segment is started. */
int hd_spool_open(const char *dir, uint64_t segment_max, hd_spool **out, hd_err *err);
void hd_spool_close(hd_spool *sp);

/* Append the concatenation of parts[0..n) as one record. Not durable until
 * hd_spool_sync(). */
int hd_spool_append(hd_spool *sp, const uint8_t id[HD_SPOOL_ID_LEN], const hd_slice *parts,
                    size_t n, hd_spool_loc *out, hd_err *err);

/* Make every append so far durable (fdatasync; a new segment's folder
 * entry is synced too). */
int hd_spool_sync(hd_spool *sp, hd_err *err);

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

/* After the queue is loaded: delete segments that no live message holds
 * (left behind by a crash between a commit and an unlink). Returns how
 * many were deleted. */
int hd_spool_collect(hd_spool *sp, hd_err *err);

/* Copy a record's raw bytes (whatever they are) into the spool's
 * corrupt/ folder as NAME, for an operator to look at. */
int hd_spool_quarantine(hd_spool *sp, const hd_spool_loc *loc, const char *name, hd_err *err);

/* Segment files present (for tests and `herald queue` stats). */
size_t hd_spool_segment_count(hd_spool *sp);

#endif
