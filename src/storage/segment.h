/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.h - immutable segment files: the flushed rows of a collection.
 *
 * A segment file seg-<16 lowercase hex digits of its file number>.vseg is
 * written once by vx_seg_write (from a memtable flush or a compaction),
 * published by the manifest, and from then on only read: vx_seg_open maps it
 * whole and hands out pointers into the mapping, so a segment of millions
 * of rows opens in O(n_keys * 8) (the id and key arrays are checked) and
 * its index blob is used in place by vx_ix_open_buffer. A file holds
 * a header, a table of up to SEG_MAX_SECTIONS sections, and the sections,
 * each on a 4096-byte boundary and with its own CRC32C. Every byte is in
 * docs/FORMAT.md ("Segment file"); the format version changes with it.
 * Part of the storage layer, on the io layer (every file access goes
 * through a vex_vfs); internal, nothing here is public API.
 *
 * Keys and rows (format version 6, written only for a segment whose index
 * is a DiskANN graph written by the writer's index_write hook; else 5,
 * written only for a segment with texts, else version 4; versions 2 to 4,
 * still read, lack the optional TEXT and
 * POSTINGS sections (the keys' texts and their BM25 postings), versions 2
 * and 3 also the optional PAYLOAD section (the keys' payloads), and
 * version 2 also the optional META section: the keys' metadata by
 * column). The index blob is
 * keyed by INDEX KEYS 0..n_keys-1, not by user ids, so that a memtable whose
 * index is keyed by row number can be flushed with its graph unchanged. Some
 * keys may be dead: rows overwritten or deleted before the flush still sit in
 * the graph. A segment therefore stores:
 *  - SEG_SEC_IDS: the n_rows LIVE user ids, strictly ascending;
 *  - SEG_SEC_ROWKEYS: n_rows keys, row_keys[i] the index key of ids[i]
 *    (each < n_keys, all distinct);
 *  - SEG_SEC_KEYIDS: n_keys ids, key_ids[k] the user id of key k when k
 *    is live (key_ids[row_keys[i]] == ids[i]) and 0 when it is dead;
 *  - SEG_SEC_INDEX: the index blob, holding exactly keys 0..n_keys-1.
 * So n_rows <= n_keys; n_rows == n_keys when nothing died. A search of
 * the blob yields keys; vx_seg_key_live filters the dead ones and
 * vx_seg_key_id maps the rest to user ids; vx_seg_find maps a user id to its
 * key. A user id of 0 is allowed: vx_seg_key_id then returns 0 for a live
 * key too, and only vx_seg_key_live tells the two apart.
 *
 * Ownership: `vfs` is borrowed and must outlive every seg opened on it;
 * `path` and the seg_write_info arrays are only read during the call;
 * `mem` is copied (NULL: the C library's allocator). Pointers returned by
 * vx_seg_ids, vx_seg_row_keys, vx_seg_key_ids and vx_seg_index point into the
 * segment's mapping and are valid until vx_seg_close.
 *
 * Threading: vx_seg_write and vx_seg_open are independent calls (two of them
 * may run at once on different paths). After vx_seg_open returns, every
 * function except vx_seg_close may be called on the same seg by any number of
 * threads at once (all but vx_seg_index take no lock at all); vx_seg_close must
 * not race with any other call on it.
 *
 * Errors: `err` may be NULL. Damage is VEX_CORRUPT with a message naming
 * the file and the byte offset ("dir/seg-000000000000002a.vseg: ids
 * section: id at offset 4104 not above the previous one"); a newer or an
 * older format version (version 1 files, from before index keys, are not
 * readable by this build: there is no migration), an unknown section kind
 * or a big-endian host is VEX_UNSUPPORTED; I/O failures keep the vfs
 * status and message.
 *
 * Caveats:
 *  - vx_seg_open verifies the INDEX section's checksum only on the first
 *    vx_seg_index call (it can be hundreds of MiB): an opened segment is not
 *    yet a verified one.
 *  - The mapping is read-only and shared with the file: a file changed or
 *    truncated behind VexDB's back after vx_seg_open can fault on access
 *    (SIGBUS), as with any mmap. Segments are never modified in place.
 *  - When the vfs hands back a mapping that is not 64-byte aligned (the
 *    in-memory test vfs does: it copies into malloc'd memory), vx_seg_open
 *    reads the file into an aligned buffer of its own instead, so the
 *    alignment promised below holds on every vfs.
 *  - An open seg holds a bitmap of n_keys bits (n_keys / 8 bytes of heap)
 *    besides the mapping: that is what makes vx_seg_key_live O(1).
 */
#ifndef VEX_STORAGE_SEGMENT_H
#define VEX_STORAGE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "io/vfs.h"
#include "text/postings.h"
#include "util/err.h"
#include "util/mem.h"
#include "vexdb.h"

#define SEG_MAX_SECTIONS 16
/* Most rows, and most index keys, one segment may hold (2^40; ids alone
 * are then 8 TiB). */
#define SEG_MAX_ROWS (1ull << 40)
/* Length of a segment file name without the NUL ("seg-" 16 hex ".vseg"). */
#define SEG_NAME_LEN 25

/* section kinds (docs/FORMAT.md "Sections") */
enum {
    SEG_SEC_IDS = 1,     /* n_rows live user ids, strictly ascending */
    SEG_SEC_INDEX = 2,   /* the index blob, keyed by 0..n_keys-1 */
    SEG_SEC_ROWKEYS = 3, /* n_rows index keys, one per id */
    SEG_SEC_KEYIDS = 4,  /* n_keys user ids, one per key (0: dead) */
    SEG_SEC_META = 5,    /* metadata columns of the keys (format 3) */
    SEG_SEC_PAYLOAD = 6, /* payloads of the keys (format 4) */
    SEG_SEC_TEXT = 7,    /* texts of the keys (format 5) */
    SEG_SEC_POSTINGS = 8 /* BM25 postings of those texts (format 5) */
};

typedef struct seg_write_info {
    uint64_t number; /* file number, also in the name */
    uint32_t dim, elem, metric, index_kind;
    uint64_t n_rows; /* live rows, <= n_keys */
    uint64_t n_keys; /* index keys 0..n_keys-1, <= SEG_MAX_ROWS */
    uint64_t min_seq, max_seq;
    const uint64_t *ids;      /* n_rows ids, strictly ascending; may be
                                 NULL when n_rows is 0 */
    const uint64_t *row_keys; /* n_rows: the index key of ids[i], each
                                 < n_keys, all distinct; may be NULL when
                                 n_rows is 0 */
    const uint64_t *key_ids;  /* n_keys: the id of every key; for a live
                                 key k = row_keys[i], key_ids[k] must be
                                 ids[i]; for a dead key (one no row_keys
                                 entry names) any value, written as 0;
                                 may be NULL when n_keys is 0 */
    const void *index_blob;   /* may be NULL with blob_size 0 (no INDEX
                                 section); non-NULL: an INDEX section of
                                 blob_size bytes (0 allowed) */
    uint64_t blob_size;
    /* Metadata (format 3): NULL = no META section. Otherwise meta_len
     * bytes of metadata columns over the n_keys keys (meta/column.h,
     * vx_vm_colset_build with n_keys rows; dead keys without metadata),
     * written as they are. Not decoded here. */
    const unsigned char *meta;
    uint64_t meta_len;
    /* Payloads (format 4): NULL = no PAYLOAD section. Otherwise n_keys
     * entries: key k's payload is pay_len[k] bytes at pay[k] (0: none, at
     * most VEX_MAX_PAYLOAD; pay[k] may be NULL only for length 0). Dead
     * keys are written without one, whatever is given for them. */
    const unsigned char *const *pay;
    const uint32_t *pay_len;
    /* Texts (format 5): NULL = no TEXT and POSTINGS sections (the file is
     * then written as format 4). Otherwise n_keys entries as for the
     * payloads: key k's text is text_len[k] bytes of valid UTF-8 at
     * text[k] (0: none, at most VT_MAX_TEXT); dead keys are written
     * without one. The POSTINGS section is built here from the live keys'
     * texts, analysed with *analyzer (required with text). */
    const unsigned char *const *text;
    const uint32_t *text_len;
    const vt_analyzer *analyzer;
    /* An index written straight to the file (format 6, a DiskANN index:
     * index_kind VEX_INDEX_DISKANN) instead of index_blob, which must then
     * be NULL: index_write(index_ctx, f, off, &len, err) writes the INDEX
     * section at `off` (4096-aligned) and sets its length; the writer then
     * reads the section back once for its CRC. */
    int (*index_write)(void *ctx, vex_file *f, uint64_t off, uint64_t *len,
                       vex_err *err);
    void *index_ctx;
} seg_write_info;

/* Write the segment described by `wi` to `path`, created exclusively
 * (VEX_EXISTS if present; the existing file is left alone). The ids, row
 * keys and index blob are written straight from the caller's arrays in
 * writes of at most 4 MiB (no copy of the blob is made); the key ids go
 * through a buffer of at most 4 MiB, where dead keys become 0. Then the
 * file is synced (VEX_SYNC_FULL) and closed. The directory is NOT synced:
 * the manifest publish that makes the segment part of the database does
 * that. dim, elem, metric, index_kind, min_seq and max_seq are stored,
 * not interpreted; nor is the blob (the caller guarantees it holds keys
 * 0..n_keys-1).
 * Checked before anything is created (VEX_INVALID, message naming the
 * file and the row or key): n_rows <= n_keys <= SEG_MAX_ROWS, non-NULL
 * arrays for non-zero counts, ids strictly ascending, every row key
 * < n_keys and distinct, key_ids[row_keys[i]] == ids[i], a blob pointer
 * for a non-zero blob_size. VEX_NOMEM (nothing created) when the bitmap
 * of n_keys bits or the key-id buffer cannot be allocated from `mem`
 * (NULL: the C library's allocator); both are freed before returning.
 * On any later failure the partial file is removed (best effort: if that
 * remove fails too, the file stays and the engine's orphan sweep, which
 * lists names with vx_seg_parse_name, deletes it) and `err` names the file
 * and the offset. */
int vx_seg_write(vex_vfs *vfs, const char *path, const seg_write_info *wi,
                 const vex_mem *mem, vex_err *err);

typedef struct seg seg;

typedef struct seg_info {
    uint64_t number, n_rows, n_keys, min_seq, max_seq, file_size;
    uint32_t dim, elem, metric, index_kind;
} seg_info;

/* Open `path` read-only and map the whole file. Checks: magic, header
 * CRC, format version (newer or older: VEX_UNSUPPORTED), file number ==
 * expect_number (a renamed or foreign file is VEX_CORRUPT), file size ==
 * the size in the header (truncation), n_rows <= n_keys <= SEG_MAX_ROWS,
 * the section table (kinds known and not repeated, sections inside the
 * file, 4096-aligned, in order, not overlapping; IDS and ROWKEYS present
 * with n_rows * 8 bytes, KEYIDS with n_keys * 8), zero bytes everywhere
 * outside the header and the sections, and the IDS, ROWKEYS and KEYIDS
 * sections in full: CRCs, ids strictly ascending, row keys < n_keys and
 * distinct, key_ids[row_keys[i]] == ids[i], the key id of every dead key
 * 0, and a PAYLOAD section in full (CRC, offsets). O(n_keys * 8) time
 * plus the payload bytes; allocates the live-key bitmap (n_keys bits) from
 * `mem`. The INDEX section's CRC is NOT checked here; vx_seg_index checks it
 * on first use. On VEX_OK *out is a handle the caller owns (vx_seg_close);
 * on failure *out is NULL. Errors: VEX_CORRUPT "<path>: <what> at offset
 * N", VEX_UNSUPPORTED, VEX_NOMEM, I/O statuses. */
int vx_seg_open(vex_vfs *vfs, const char *path, uint64_t expect_number,
                const vex_mem *mem, vex_err *err, seg **out);

/* The segment's open file (read-only), to read a DiskANN INDEX section
 * through (vx_seg_index_range says where; its CRC is not checked there:
 * the index checks itself page by page as it reads). Reads are
 * thread-safe; the handle lives until vx_seg_close. */
vex_file *vx_seg_file(const seg *s);

/* The header's index kind (seg_info.index_kind). */
uint32_t vx_seg_kind(const seg *s);

/* Check the INDEX section's whole CRC (vx_seg_index does it on first use;
 * this is for a DiskANN segment, whose section is never read whole
 * otherwise: `vex verify`). Reads the section through the file in
 * chunks. VEX_CORRUPT with the offset, I/O errors. */
int vx_seg_check_index_crc(seg *s, vex_err *err);

/* The header's fields; file_size is the file's size in bytes. */
void vx_seg_get_info(const seg *s, seg_info *out);

/* The n_rows live ids, strictly ascending, in the mapping (8-byte
 * aligned). */
const uint64_t *vx_seg_ids(const seg *s);

/* The n_rows index keys, row_keys[i] the key of vx_seg_ids(s)[i], in the
 * mapping (8-byte aligned). */
const uint64_t *vx_seg_row_keys(const seg *s);

/* The n_keys key ids, key_ids[k] the user id of key k or 0 when k is
 * dead, in the mapping (8-byte aligned). */
const uint64_t *vx_seg_key_ids(const seg *s);

/* Binary search of the ids for `id`: 1 and *key, the INDEX KEY of the
 * live row with that id (row_keys[i], not the position i; `key` may be
 * NULL), when present, else 0 (*key untouched). O(log n_rows); allocates
 * nothing, takes no lock. */
int vx_seg_find(const seg *s, uint64_t id, uint64_t *key);

/* The user id of index key `key`: key_ids[key], which is 0 for a dead
 * key (and for a live key whose id is 0: see vx_seg_key_live). 0 as well
 * for key >= n_keys. O(1), no lock. */
uint64_t vx_seg_key_id(const seg *s, uint64_t key);

/* 1 when `key` is a live key (some row_keys entry names it), 0 when it is
 * dead or >= n_keys. O(1) from the bitmap vx_seg_open built; no lock. */
int vx_seg_key_live(const seg *s, uint64_t key);

/* The same bitmap whole: (n_keys + 63) / 64 words, bit k % 64 of word
 * k / 64 set when key k is live, bits past n_keys clear. For passes over
 * every key (a filter's match set) a word at a time. No lock. */
const uint64_t *vx_seg_live_words(const seg *s);

/* The META section: 1 with *p (in the mapping) and *len, the metadata
 * columns of the segment's keys (open with vx_vm_colset_open, n_keys rows,
 * which checks them strictly), or 0 (*p NULL, *len 0) when there is none
 * (a format-2 file or one written without metadata). *off is the
 * section's file offset, for messages. O(1), no lock. */
int vx_seg_meta(const seg *s, const unsigned char **p, size_t *len,
                uint64_t *off);
/* Key `key`'s payload: *p (in the mapping) and *len; *p NULL and *len 0
 * when it has none (no PAYLOAD section: format 2 or 3, or written without
 * payloads; a dead key; key >= n_keys). The section was checked whole by
 * vx_seg_open (checksum, offsets ascending and inside it, each payload at
 * most VEX_MAX_PAYLOAD, dead keys empty). O(1), no lock. */
void vx_seg_payload(const seg *s, uint64_t key, const unsigned char **p,
                    size_t *len);
/* Bytes of payload the segment stores (0 without a PAYLOAD section). */
uint64_t vx_seg_payload_bytes(const seg *s);
/* Key `key`'s text: *p (in the mapping, not NUL-terminated) and *len; *p
 * NULL and *len 0 when it has none (no TEXT section: format 2 to 4, or
 * written without texts; a dead key; key >= n_keys). Checked whole by
 * vx_seg_open (checksum, offsets, each text valid UTF-8, dead keys
 * empty). O(1), no lock. */
void vx_seg_text(const seg *s, uint64_t key, const char **p, size_t *len);
/* Bytes of text the segment stores (0 without a TEXT section). */
uint64_t vx_seg_text_bytes(const seg *s);
/* The BM25 postings of the keys' texts (text/postings.h; keys are the
 * segment's index keys, a key has a document exactly when it has a
 * text), opened and checked whole by vx_seg_open; NULL without a
 * POSTINGS section. Valid until vx_seg_close; any thread. */
const vt_postings *vx_seg_postings(const seg *s);

/* The INDEX section: *blob points into the mapping (64-byte aligned, as
 * vx_ix_open_buffer needs for in-place use) and *size is its length.
 * The first call verifies its CRC32C; concurrent first calls wait for one
 * verification. A mismatch (VEX_CORRUPT naming file and offset) is
 * remembered and returned again, with the same message, by every later
 * call. VEX_NOTFOUND when the segment has no INDEX section. On failure
 * *blob is NULL and *size 0. */
int vx_seg_index(seg *s, const void **blob, uint64_t *size, vex_err *err);

/* The INDEX section's file offset and length (both 0 without one): an
 * offset inside the blob plus this is the file offset (vex_db_verify
 * reports damage found by the blob's checks that way). */
void vx_seg_index_range(const seg *s, uint64_t *off, uint64_t *len);

/* [p, p + len) of the mapping holds data read rarely and at random (the
 * full vectors of a quantized index, read by reranks only): hand its pages
 * back to the kernel (VEX_ADVICE_COLD); the next access reads them from
 * the file again. Nothing happens when the file was read into memory
 * instead of mapped. */
void vx_seg_advise_cold(seg *s, const void *p, uint64_t len);

/* The path the segment was opened with (the seg's own copy). */
const char *vx_seg_path(const seg *s);

/* Unmap and close. NULL is a no-op. */
void vx_seg_close(seg *s);

/* Write "seg-%016llx.vseg" for `number` into buf (n bytes): VEX_OK, or
 * VEX_INVALID when n < SEG_NAME_LEN + 1 (buf then holds "" if n > 0). */
int vx_seg_file_name(char *buf, size_t n, uint64_t number);

/* 1 and *number when `name` (a bare file name) is exactly "seg-", 16
 * lowercase hex digits and ".vseg"; else 0 (*number untouched). */
int vx_seg_parse_name(const char *name, uint64_t *number);

#endif
