/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal.h - the write-ahead log: an append-only sequence of opaque records,
 * each numbered by a 64-bit sequence number (1, 2, 3, ... with no gaps),
 * kept in files wal-<16 hex digits of the first sequence number>.log in
 * one directory. The storage engine writes its insert/upsert/delete
 * batches here before applying them and replays them after a restart. It
 * sits on the io layer (every file operation goes through a vex_vfs) and
 * is internal: nothing here is part of the public API. The byte layout is
 * in docs/FORMAT.md ("Write-ahead log"); the durability invariants are at
 * the top of wal.c.
 *
 * Threading: vx_wal_append, vx_wal_sync, vx_wal_next_seq, vx_wal_new_file and
 * vx_wal_drop_before may
 * be called by several threads at once on one handle (a mutex inside);
 * concurrent FULL appends share fsyncs (group commit: each returns once
 * a sync that started after its write has succeeded). vx_wal_open and
 * vx_wal_close must not race with any other call on the handle. vx_wal_replay
 * is a standalone function and may run on a directory no writer has open;
 * running it while a writer appends sees some prefix of the log.
 *
 * Caveats:
 *  - Only one writer may have a directory open; nothing enforces it yet
 *    (the engine's LOCK file will).
 *  - Under WAL_DURABILITY_NONE records are not padded to sectors, so the
 *    first write after a vx_wal_sync shares a sector with synced records; a
 *    disk that garbles a whole sector on power loss can then damage a
 *    synced record, which replay reports as VEX_CORRUPT. FULL pads every
 *    record and has no such window.
 *  - Damage to a record that no later record proves was synced (e.g.
 *    unsynced NONE appends) is indistinguishable from a torn write: replay
 *    stops there with VEX_OK and counts the rest in bytes_ignored.
 */
#ifndef VEX_STORAGE_WAL_H
#define VEX_STORAGE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "io/vfs.h"
#include "util/err.h"
#include "vexdb.h"

/* Largest payload of one record (a larger vx_wal_append is VEX_INVALID, a
 * larger length on disk is damage). */
#define WAL_MAX_PAYLOAD (64u << 20)

enum {
    WAL_DURABILITY_FULL = 0, /* each append is synced before it returns */
    WAL_DURABILITY_NONE =
        1, /* appends are synced only by vx_wal_sync/rotation */
};

typedef struct wal_options {
    /* A file that has reached this size (bytes) gets no more records: the
     * next append starts a new file. Range 4096 .. 1 << 40; default 64 MiB.
     * A single record larger than it still goes in (alone in its file). */
    uint64_t max_file_bytes;
    int durability; /* WAL_DURABILITY_*; default FULL */
    /* The sequence number of the first record when the directory holds no
     * log file yet (ignored otherwise), 1 .. 2^64 - 2; default 1. A backup
     * (vex_backup) starts its copy of a log past its manifest's
     * flushed_seq. */
    uint64_t first_seq;
} wal_options;

void vx_wal_options_init(wal_options *o);

typedef struct wal wal;

/* Open the log in directory `dir` (which must exist) for appending. The
 * existing files are checked as vx_wal_replay does (without delivering
 * records); a torn tail of the last file is cut away and the cut synced,
 * so the next record follows the last intact one; an empty directory gets
 * its first file (sequence numbers start at 1). `vfs` is borrowed and must
 * outlive the handle; `dir` and `opts` are copied; `alloc` is copied
 * (NULL: libc). `err` may be NULL. On VEX_OK *out is a handle the caller
 * owns (vx_wal_close); on failure *out is NULL and `err` says why:
 * VEX_CORRUPT naming file and offset, VEX_UNSUPPORTED for a newer format,
 * VEX_INVALID for bad options, or an I/O status. */
int vx_wal_open(vex_vfs *vfs, const char *dir, const wal_options *opts,
                const vex_allocator *alloc, vex_err *err, wal **out);

/* Append one record of `n` bytes (`payload` may be NULL when n is 0; it is
 * only read during the call). On VEX_OK *seq (if not NULL) is its sequence
 * number; under FULL durability the record is on disk when this returns.
 * Any failed write or sync makes the handle refuse every later append and
 * sync with the same status ("sticky") until it is closed and reopened;
 * the record may or may not survive. VEX_INVALID for n > WAL_MAX_PAYLOAD
 * and VEX_FULL when sequence numbers are exhausted (neither sticky). */
int vx_wal_append(wal *w, const void *payload, size_t n, uint64_t *seq,
                  vex_err *err);

/* Make every record appended so far durable (fdatasync of the current
 * file). A failure is sticky as for vx_wal_append. */
int vx_wal_sync(wal *w, vex_err *err);

/* The sequence number the next append will get. */
uint64_t vx_wal_next_seq(wal *w);

/* Close the current file (synced) and start the next one, unless it holds
 * no record yet, so that vx_wal_drop_before can delete every record appended
 * so far. A failure is sticky as for vx_wal_append. */
int vx_wal_new_file(wal *w, vex_err *err);

/* Delete the files all of whose records have sequence numbers < seq (the
 * caller has made them redundant, e.g. by flushing a segment), oldest
 * first, then sync the directory. The current file is never deleted. */
int vx_wal_drop_before(wal *w, uint64_t seq, vex_err *err);

/* Close the handle (syncing nothing: call vx_wal_sync first under NONE).
 * Always frees `w`; NULL is a no-op. Returns the close status. */
int vx_wal_close(wal *w, vex_err *err);

/* Called for each record delivered by vx_wal_replay, in sequence order.
 * `payload` is valid only during the call. A non-zero return stops the
 * replay and becomes its return value. */
typedef int (*wal_replay_fn)(void *ctx, uint64_t seq, const void *payload,
                             size_t n);

typedef struct wal_replay_stats {
    uint64_t n_files;       /* log files read */
    uint64_t n_records;     /* intact records seen (delivered or not) */
    uint64_t n_delivered;   /* records with seq >= from_seq */
    uint64_t first_seq;     /* of the oldest file; 0 when there is none */
    uint64_t next_seq;      /* one past the last intact record */
    uint64_t bytes_ignored; /* torn tail of the last file (not delivered) */
} wal_replay_stats;

/* Read the log in `dir` and deliver, in order, every intact record whose
 * sequence number is >= from_seq. A torn or truncated tail of the LAST
 * file (an append or a rotation a crash interrupted) ends the replay
 * with VEX_OK and is counted in stats->bytes_ignored. Damage anywhere
 * else (a bad record followed by an intact one written after the bad one
 * was synced, a bad file header, a gap in the sequence numbers, a torn
 * tail of an earlier file) is VEX_CORRUPT
 * with the file name and offset in `err`. A directory without log files
 * replays nothing and returns VEX_OK. `stats` may be NULL; it is filled
 * also on failure (as far as the replay got). Reads only; `alloc` as for
 * vx_wal_open. */
int vx_wal_replay(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                  wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                  vex_err *err, wal_replay_stats *stats);

/* As vx_wal_replay, but files all of whose records are below from_seq (a
 * later file starts at or below it) are neither opened nor checked:
 * stats->first_seq and n_files then describe the files read. For a reader
 * beside a writer, which may delete such files at any moment (after a
 * manifest that covers them): only the files it needs are opened. */
int vx_wal_replay_tail(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                       wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                       vex_err *err, wal_replay_stats *stats);

/* Where vx_wal_replay_at is: the file being read (its first sequence
 * number, which names it, and its size) and the byte offset of the record
 * being delivered. */
typedef struct wal_pos {
    uint64_t file_first;
    uint64_t file_size;
    uint64_t offset;
} wal_pos;

/* As vx_wal_replay, and *pos says where each record comes from: while fn
 * runs it names the record's file and offset; after a failure, the file
 * the failure was met in (its message has the offset); after VEX_OK, the
 * last file read (with stats->bytes_ignored, the torn tail starts at
 * file_size - bytes_ignored). For vex_db_verify and vex_dump_file. */
int vx_wal_replay_at(vex_vfs *vfs, const char *dir, uint64_t from_seq,
                     wal_replay_fn fn, void *ctx, const vex_allocator *alloc,
                     vex_err *err, wal_replay_stats *stats, wal_pos *pos);

#endif
