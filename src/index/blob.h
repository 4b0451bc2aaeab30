/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blob.h - the container every serialised index is written in.
 *
 * An index blob is a 384-byte header followed by up to VEX_BLOB_SECTIONS
 * sections, each starting on a 64-byte boundary and carrying its own
 * CRC32C. The header holds what the index kinds need to rebuild their
 * configuration (kind, element type, metric, dimension, graph parameters)
 * and the section table; it is encoded field by field in little-endian
 * and protected by its own CRC32C. Sections hold arrays in the host's
 * byte order, to be used in place when the blob is memory-mapped (readers
 * refuse blobs on big-endian hosts). Every byte is described in
 * docs/FORMAT.md; VEX_BLOB_VERSION changes with it.
 */
#ifndef VEX_INDEX_BLOB_H
#define VEX_INDEX_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define VEX_BLOB_MAGIC "VEXINDEX"
/* 1: unquantized blobs are still written as 1 (at most 8 sections);
 * 2 was a development layout of quantized blobs, refused */
#define VEX_BLOB_VERSION  3
#define VEX_BLOB_HEADER   384
#define VEX_BLOB_SECTIONS 9
#define VEX_BLOB_ALIGN    64

/* section ids */
enum {
    VEX_SEC_VECTORS = 1,   /* flat: n x vec_bytes; quantized hnsw:
                              n x (vec_bytes + 4), the vector and its aux */
    VEX_SEC_IDS = 2,       /* n x u64 */
    VEX_SEC_AUX = 3,       /* flat: n x f32 (|x|^2 for l2, 1/|x| cosine) */
    VEX_SEC_SLOTS = 4,     /* hnsw: n x slot_bytes */
    VEX_SEC_LEVELS = 5,    /* hnsw: n x u8 */
    VEX_SEC_STATE = 6,     /* hnsw: n x u8 (0 live, 1 deleted, 2 free) */
    VEX_SEC_UPPER_OFF = 7, /* hnsw: n x u64 */
    VEX_SEC_UPPER = 8,     /* hnsw: upper_len x u32 */
    VEX_SEC_QUANTIZER = 9, /* quantized: the quantizer blob (src/quant) */
    VEX_SEC_CODES = 10     /* quantized: n_slots x code size */
};

typedef struct vex_blob_section {
    uint32_t id, crc;
    uint64_t offset, length;
} vex_blob_section;

typedef struct vex_blob_info {
    uint32_t kind, elem, metric, dim;
    uint64_t n_slots, n_live;
    uint32_t m, ef_construction, ef_search;
    uint64_t seed, entry, slot_bytes, upper_len;
    /* version 3: quantizer kind (vex_quant), bits, M, default refine */
    uint32_t quant, quant_bits, quant_m;
    float quant_refine;
    uint32_t n_sections;
    vex_blob_section sec[VEX_BLOB_SECTIONS];
} vex_blob_info;

/* Given sec[i].id and .length for n_sections sections, assign offsets;
 * returns the blob's total size, or 0 on overflow. */
uint64_t vx_blob_layout(vex_blob_info *info);

/* Fill the CRC of every section from buf (already laid out), then encode
 * the header into buf[0..VEX_BLOB_HEADER). */
void vx_blob_finish(vex_blob_info *info, unsigned char *buf);

/* Decode and check a blob of `size` bytes: magic, version, header CRC,
 * section table bounds (inside the blob, aligned, in order, not
 * overlapping) and every section's CRC. Errors are VEX_CORRUPT (or
 * VEX_UNSUPPORTED for a newer version or a big-endian host) with a message
 * naming the field and byte offset. */
int vx_blob_parse(const unsigned char *buf, uint64_t size, vex_blob_info *info,
                  vex_err *err);

/* The range [*off, *off + *len) of a blob that searches read only to
 * rerank: the full vectors of a quantized index (its VEX_SEC_VECTORS).
 * Returns 1, or 0 with *off and *len 0 for any other blob. Reads the
 * header alone; call it on a blob that has been opened (parsed and
 * checked). */
int vx_blob_cold_range(const unsigned char *buf, uint64_t size, uint64_t *off,
                       uint64_t *len);

/* Bytes of an opened blob by part, for memory statistics: the vectors
 * (VECTORS, AUX), quantized codes (CODES, QUANTIZER), the graph (SLOTS,
 * LEVELS, STATE, UPPER_OFF, UPPER) and the ids, from the header's section
 * table alone (bounds-checked against `size`; sections outside it are
 * skipped, and a header of another version gives zeros). */
enum {
    VX_BLOB_PART_VECTORS,
    VX_BLOB_PART_CODES,
    VX_BLOB_PART_GRAPH,
    VX_BLOB_PART_IDS,
    VX_BLOB_PARTS
};
void vx_blob_parts(const unsigned char *buf, uint64_t size,
                   uint64_t parts[VX_BLOB_PARTS]);

/* The section with this id, or NULL. */
const vex_blob_section *vx_blob_find(const vex_blob_info *info, uint32_t id);

#endif
