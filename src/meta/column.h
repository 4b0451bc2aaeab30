/* SPDX-License-Identifier: Apache-2.0 */
/*
 * column.h - metadata stored by column (meta layer; uses src/util and
 * meta/value.h, meta/filter.h). A segment's records are immutable, so
 * their metadata can be kept as columns: one per (field name, value type)
 * seen in the segment, each a dense array over the segment's rows with a
 * presence bitmap, in an encoding chosen from the column's statistics
 * (a field set to null has a column of type null: presence only, so a
 * record comes back exactly as it was written):
 *
 *   int64    plain, frame-of-reference bit-packing, or run-length
 *   bool     bit-packing (1 bit) or run-length
 *   double   byte-stream-split (the eight bytes of the values in eight
 *            streams, which a block compressor exploits) or plain
 *   string   dictionary (sorted distinct values + bit-packed codes) or
 *            plain (offsets + bytes)
 *   tags     dictionary of the distinct tags + per-row code lists, or
 *            plain
 *
 * and with per-block minima and maxima (zone maps) for int64 and double.
 * When asked (VM_BUILD_ZSTD: a collection created with
 * VEX_COMPRESS_ZSTD) a library built with zstd (optional, detected by
 * CMake) also compresses each column's value stream when that saves at
 * least a tenth; otherwise columns are written uncompressed, so every
 * build reads them.
 * Every byte is in docs/FORMAT.md ("Metadata columns").
 *
 * A column set (vm_colset) is all the columns of one segment in one blob.
 * vx_vm_colset_open checks the blob completely (it is untrusted: any damage
 * is VEX_CORRUPT with the column and offset) and decodes what evaluation
 * needs. Then:
 *   - vx_vm_colset_eval turns a compiled filter into the bitmap of matching
 *     rows. It is exact by construction: every leaf is decided by the
 *     filter module's own leaf semantics (vx_vmf_eval_leaf), applied once
 *     per dictionary entry for dictionary columns (the bitmap index),
 *     once per block where the zone map decides a range leaf, and once
 *     per row otherwise. AND/OR combine bitmaps; NOT (which normalization
 *     leaves only over leaves) is the leaf's complement among the rows
 *     where the leaf is known, so three-valued logic holds.
 *   - vx_vm_colset_record rebuilds one row's record (for get and scan).
 *
 * Threading: a vm_colset is immutable after open; any number of threads
 * may use it at once. Errors: `err` may be NULL.
 */
#ifndef VEX_META_COLUMN_H
#define VEX_META_COLUMN_H

#include <stddef.h>
#include <stdint.h>

#include "meta/filter.h"
#include "meta/value.h"
#include "util/err.h"
#include "util/mem.h"

#define VM_COLSET_VERSION 1u
#define VM_COL_BLOCK      1024u /* rows per zone-map block */

/* Encodings (stored; the numbers never change). */
enum {
    VM_ENC_PLAIN = 0,
    VM_ENC_BITPACK = 1,
    VM_ENC_RLE = 2,
    VM_ENC_DICT = 3,
    VM_ENC_BSS = 4
};
/* Or-ed into the stored encoding byte: the value stream is zstd-compressed
 * (written only by a library built with zstd; one built without refuses
 * such a column with VEX_UNSUPPORTED). */
#define VM_ENC_ZSTD 0x80

/* 1 when this library compresses column value streams with zstd. */
int vx_vm_colset_zstd(void);

typedef struct vm_colset vm_colset;

/* vx_vm_colset_build flags. VM_BUILD_ZSTD: compress value streams
 * (needs vx_vm_colset_zstd). */
#define VM_BUILD_ZSTD 1u

/* Encode the metadata of n rows (recs[i] NULL = no metadata) into a new
 * blob *out of *out_len bytes (free with vx_mem_free; `mem` not NULL),
 * with VM_BUILD_* `flags`. VEX_NOMEM; VEX_INVALID when a column would pass
 * the format's limits (more than 2^32 - 1 bytes); VEX_UNSUPPORTED for
 * VM_BUILD_ZSTD in a library built without zstd. */
int vx_vm_colset_build(const vm_record *const *recs, uint32_t n, unsigned flags,
                       const vex_mem *mem, vex_err *err, unsigned char **out,
                       size_t *out_len);

/* Check and open a blob (only read; it must outlive the set, whose
 * string and tag values point into it). `mem` (not NULL) is copied. n_rows is
 * the number of rows the caller expects (the segment's). VEX_CORRUPT ("metadata
 * columns: ... at offset N"), VEX_UNSUPPORTED (newer version), VEX_NOMEM. */
int vx_vm_colset_open(const unsigned char *buf, size_t len, uint32_t n_rows,
                      const vex_mem *mem, vex_err *err, vm_colset **out);
void vx_vm_colset_close(vm_colset *s); /* NULL: no-op */

uint32_t vx_vm_colset_rows(const vm_colset *s);
uint32_t vx_vm_colset_columns(const vm_colset *s);

/* Column i (0 .. columns-1, in (name, type) order): its name, type,
 * encoding (VM_ENC_*, with VM_ENC_ZSTD or-ed in when its value stream is
 * compressed) and number of rows with a value. */
void vx_vm_colset_column(const vm_colset *s, uint32_t i, vm_str *name,
                         int *type, int *encoding, uint32_t *n_present);

/* Set bits[r / 64] bit r % 64 for every row r that filter f matches
 * (TRUE in three-valued logic); bits has (n_rows + 63) / 64 words and is
 * overwritten. *n_match receives the count. VEX_NOMEM (scratch bitmaps
 * for AND/OR nodes are allocated). */
int vx_vm_colset_eval(const vm_colset *s, const vmf_filter *f, uint64_t *bits,
                      uint64_t *n_match, vex_err *err);

/* Row r's metadata as a new record (NULL when the row has no fields);
 * free with vx_vm_record_free. VEX_NOMEM; VEX_INVALID for r out of range. */
int vx_vm_colset_record(const vm_colset *s, uint32_t r, const vex_mem *mem,
                        vex_err *err, vm_record **out);

/* Bytes of memory the open set holds besides the blob. */
uint64_t vx_vm_colset_memory(const vm_colset *s);

#endif
