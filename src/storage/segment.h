/*
 * segment.h - immutable segment files: the flushed rows of a collection.
 *
 * A segment file seg-<16 lowercase hex digits of its file number>.vseg is
 * written once by seg_write (from a memtable flush or a compaction),
 * published by the manifest, and from then on only read: seg_open maps it
 * whole and hands out pointers into the mapping, so a segment of millions
 * of rows opens in O(n_rows * 8) (the id array is checked) and its index
 * blob is used in place by vex_index_open_buffer. A file holds a header,
 * a table of up to SEG_MAX_SECTIONS sections, and the sections, each on a
 * 4096-byte boundary and with its own CRC32C; today SEG_SEC_IDS (the row
 * ids, ascending) and SEG_SEC_INDEX (an index blob). Every byte is in
 * docs/FORMAT.md ("Segment file"); the format version changes with it.
 * Part of the storage layer, on the io layer (every file access goes
 * through a vex_vfs); internal, nothing here is public API.
 *
 * Ownership: `vfs` is borrowed and must outlive every seg opened on it;
 * `path` and the seg_write_info arrays are only read during the call;
 * `mem` is copied (NULL: the C library's allocator). Pointers returned by
 * seg_ids and seg_index point into the segment's mapping and are valid
 * until seg_close.
 *
 * Threading: seg_write and seg_open are independent calls (two of them may
 * run at once on different paths). After seg_open returns, every function
 * except seg_close may be called on the same seg by any number of threads
 * at once; seg_close must not race with any other call on it.
 *
 * Errors: `err` may be NULL. Damage is VEX_CORRUPT with a message naming
 * the file and the byte offset ("dir/seg-000000000000002a.vseg: ids
 * section: id at offset 4104 not above the previous one"); a newer format
 * version, an unknown section kind or a big-endian host is
 * VEX_UNSUPPORTED; I/O failures keep the vfs status and message.
 *
 * Caveats:
 *  - seg_open verifies the INDEX section's checksum only on the first
 *    seg_index call (it can be hundreds of MiB): an opened segment is not
 *    yet a verified one.
 *  - The mapping is read-only and shared with the file: a file changed or
 *    truncated behind VexDB's back after seg_open can fault on access
 *    (SIGBUS), as with any mmap. Segments are never modified in place.
 *  - When the vfs hands back a mapping that is not 64-byte aligned (the
 *    in-memory test vfs does: it copies into malloc'd memory), seg_open
 *    reads the file into an aligned buffer of its own instead, so the
 *    alignment promised below holds on every vfs.
 */
#ifndef VEX_STORAGE_SEGMENT_H
#define VEX_STORAGE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "io/vfs.h"
#include "util/err.h"
#include "util/mem.h"
#include "vexdb.h"

#define SEG_MAX_SECTIONS 16
/* Most rows one segment may hold (2^40; ids alone are then 8 TiB). */
#define SEG_MAX_ROWS (1ull << 40)
/* Length of a segment file name without the NUL ("seg-" 16 hex ".vseg"). */
#define SEG_NAME_LEN 25

/* section kinds */
enum { SEG_SEC_IDS = 1, SEG_SEC_INDEX = 2 };

typedef struct seg_write_info {
    uint64_t number; /* file number, also in the name */
    uint32_t dim, elem, metric, index_kind;
    uint64_t n_rows, min_seq, max_seq;
    const uint64_t *ids;    /* n_rows ids, strictly ascending (checked:
                               VEX_INVALID); may be NULL when n_rows is 0 */
    const void *index_blob; /* may be NULL with blob_size 0 (no INDEX
                               section); non-NULL: an INDEX section of
                               blob_size bytes (0 allowed) */
    uint64_t blob_size;
} seg_write_info;

/* Write the segment described by `wi` to `path`, created exclusively
 * (VEX_EXISTS if present; the existing file is left alone). The data is
 * written straight from wi->ids and wi->index_blob in writes of at most
 * 4 MiB (no copy of the blob is made), then the file is synced
 * (VEX_SYNC_FULL) and closed. The directory is NOT synced: the manifest
 * publish that makes the segment part of the database does that. dim,
 * elem, metric, index_kind, min_seq and max_seq are stored, not
 * interpreted. Checked: n_rows <= SEG_MAX_ROWS, ids strictly ascending,
 * a blob pointer for a non-zero blob_size (VEX_INVALID, nothing created).
 * On any later failure the partial file is removed (best effort: if that
 * remove fails too, the file stays and the engine's orphan sweep, which
 * lists names with seg_parse_name, deletes it) and `err` names the file
 * and the offset. `mem` is accepted for symmetry with seg_open; the
 * writer allocates nothing. */
int seg_write(vex_vfs *vfs, const char *path, const seg_write_info *wi,
              const vex_mem *mem, vex_err *err);

typedef struct seg seg;

typedef struct seg_info {
    uint64_t number, n_rows, min_seq, max_seq, file_size;
    uint32_t dim, elem, metric, index_kind;
} seg_info;

/* Open `path` read-only and map the whole file. Checks: magic, format
 * version (newer: VEX_UNSUPPORTED), header CRC, file number ==
 * expect_number (a renamed or foreign file is VEX_CORRUPT), file size ==
 * the size in the header (truncation), the section table (kinds known
 * and not repeated, sections inside the file, 4096-aligned, in order,
 * not overlapping, an IDS section of exactly n_rows * 8 bytes), zero
 * bytes everywhere outside the header and the sections, and the IDS
 * section in full (CRC, strictly ascending): O(n_rows * 8). The INDEX
 * section's CRC is NOT checked here; seg_index checks it on first use.
 * On VEX_OK *out is a handle the caller owns (seg_close); on failure
 * *out is NULL. Errors: VEX_CORRUPT "<path>: <what> at offset N",
 * VEX_UNSUPPORTED, VEX_NOMEM, I/O statuses. */
int seg_open(vex_vfs *vfs, const char *path, uint64_t expect_number,
             const vex_mem *mem, vex_err *err, seg **out);

/* The header's fields; file_size is the file's size in bytes. */
void seg_get_info(const seg *s, seg_info *out);

/* The n_rows ids, strictly ascending, in the mapping (8-byte aligned). */
const uint64_t *seg_ids(const seg *s);

/* Binary search for `id`: 1 and *row (0-based; `row` may be NULL) when
 * present, else 0. Allocates nothing, takes no lock. */
int seg_find(const seg *s, uint64_t id, uint64_t *row);

/* The INDEX section: *blob points into the mapping (64-byte aligned, as
 * vex_index_open_buffer needs for in-place use) and *size is its length.
 * The first call verifies its CRC32C; concurrent first calls wait for one
 * verification. A mismatch (VEX_CORRUPT naming file and offset) is
 * remembered and returned again, with the same message, by every later
 * call. VEX_NOTFOUND when the segment has no INDEX section. On failure
 * *blob is NULL and *size 0. */
int seg_index(seg *s, const void **blob, uint64_t *size, vex_err *err);

/* The path the segment was opened with (the seg's own copy). */
const char *seg_path(const seg *s);

/* Unmap and close. NULL is a no-op. */
void seg_close(seg *s);

/* Write "seg-%016llx.vseg" for `number` into buf (n bytes): VEX_OK, or
 * VEX_INVALID when n < SEG_NAME_LEN + 1 (buf then holds "" if n > 0). */
int seg_file_name(char *buf, size_t n, uint64_t number);

/* 1 and *number when `name` (a bare file name) is exactly "seg-", 16
 * lowercase hex digits and ".vseg"; else 0 (*number untouched). */
int seg_parse_name(const char *name, uint64_t *number);

#endif
