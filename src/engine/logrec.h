/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logrec.h - the payload of a collection's log records: the operation
 * codec (bytes in docs/FORMAT.md, "Log record payload").
 *
 * A record is an 8-byte header (magic "VOP1", number of operations) and
 * that many operations, each a 16-byte header (kind, metadata length, id)
 * followed by the vector (puts) and the encoded metadata record (kinds 4
 * to 6); kinds 7 and 8 (puts with a payload) have a 24-byte header (the
 * payload length added) and carry the vector, the metadata (possibly
 * none) and the payload bytes; kinds 9 and 10 (puts with a text) the
 * same header with the text length and the text after the payload. The
 * write path encodes a group's operations into
 * one record, vex_batch keeps its operations in the same encoding, and recovery
 * checks a record whole with vx_logrec_check before it applies any of it. The
 * decoders read untrusted bytes (a log file) and never read past `n`.
 *
 * Pure functions: no locks, no allocation, any thread.
 */
#ifndef VEX_ENGINE_LOGREC_H
#define VEX_ENGINE_LOGREC_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"
#include "util/err.h"
#include "util/mem.h"

#define VX_LOGREC_MAGIC       0x31504f56u /* "VOP1" little-endian */
#define VX_LOGREC_HEADER      8
#define VX_LOGREC_OP_HEADER   16
#define VX_LOGREC_OP_HEADER_P 24 /* kinds 7 and 8 */

/* Operation kinds. Kinds 4-6 carry a metadata record: insert and upsert
 * with metadata, and a metadata-only update (which is never logged: the
 * leader logs it as VX_OP_UPSERT_M, or VX_OP_UPSERT_P when the row has a
 * payload, with the row's current vector and payload). Kinds 7 and 8 are
 * insert and upsert with a payload (1..VEX_MAX_PAYLOAD bytes) and
 * optional metadata (length 0: none). */
enum {
    VX_OP_INSERT = 1,
    VX_OP_UPSERT = 2,
    VX_OP_DELETE = 3,
    VX_OP_INSERT_M = 4,
    VX_OP_UPSERT_M = 5,
    VX_OP_SETMETA = 6,
    VX_OP_INSERT_P = 7,
    VX_OP_UPSERT_P = 8,
    /* since 0.5.0: insert and upsert with a text (1..VT_MAX_TEXT bytes of
     * valid UTF-8), optional metadata and an optional payload (lengths
     * 0: none); 24-byte header as kinds 7 and 8, the text length in its
     * last 4 bytes; the text follows the payload. Older builds refuse
     * these kinds as malformed (a record holding one is never replayed
     * wrong, only refused). */
    VX_OP_INSERT_T = 9,
    VX_OP_UPSERT_T = 10
};

/* One operation, as encoded or decoded; pointers borrow the caller's or
 * the record's bytes. */
typedef struct vx_op {
    int kind;
    uint64_t id;
    const void *vec;           /* puts: vec_bytes (may be unaligned) */
    const unsigned char *meta; /* encoded metadata record, or NULL */
    size_t meta_len;
    const unsigned char *pay; /* payload bytes (kinds 7-10), or NULL */
    size_t pay_len;
    const char *txt; /* text bytes (kinds 9, 10), or NULL */
    size_t txt_len;
} vx_op;

int vx_logrec_kind_has_vec(int kind);
int vx_logrec_kind_has_meta(int kind);
int vx_logrec_kind_has_payload(int kind);
int vx_logrec_kind_has_text(int kind);
int vx_logrec_kind_is_insert(int kind);
/* The put kind for a record: with a text 9/10, else with a payload 7/8,
 * else with metadata 4/5, else 1/2 (`insert` chooses the insert kinds). */
int vx_logrec_put_kind(int insert, size_t meta_len, size_t pay_len,
                       size_t txt_len);
/* "insert", "upsert", "metadata update" or "delete", for messages. */
const char *vx_logrec_op_name(int kind);

/* Bytes of one encoded operation. */
size_t vx_logrec_op_size(size_t vec_bytes, int kind, size_t meta_len,
                         size_t pay_len, size_t txt_len);

/* Write the record header for n_ops operations at p. */
void vx_logrec_header(unsigned char *p, uint32_t n_ops);

/* Encode one operation at p (vx_logrec_op_size bytes). With op->meta,
 * op->pay or op->txt NULL the lengths are written but not those bytes
 * (the caller fills them in place). */
void vx_logrec_op_encode(unsigned char *p, const vx_op *op, size_t vec_bytes);

/* Decode one operation at p (n bytes left) into *op: its size, or 0 when
 * the bytes are not a well-formed operation (unknown kind, non-zero
 * reserved bytes, metadata length 0 (kinds 4-6) or above VM_MAX_ENCODED,
 * payload length 0 (kinds 7, 8) or above VEX_MAX_PAYLOAD, text length 0
 * or above VT_MAX_TEXT (kinds 9, 10), or too short). The text's UTF-8 is
 * checked by vx_logrec_check, not here.
 * Pointers point into p; the vector may be unaligned. The metadata bytes
 * are only located (decode them with vx_vm_record_decode). */
size_t vx_logrec_op_decode(const unsigned char *p, size_t n, size_t vec_bytes,
                           vx_op *op);

/* Check a whole record before any of it is applied: the header, every
 * operation well-formed and loggable (no metadata-only update), every
 * vector valid for `cfg` (vx_vector_check, on a copy in `vec_scratch`, a
 * float-aligned buffer of cfg->vec_bytes), every metadata record decoding
 * strictly, every text valid UTF-8, and no bytes after the last
 * operation. VEX_OK with *n_ops
 * set; VEX_CORRUPT (VEX_NOMEM when decoding metadata ran out of memory)
 * with a message naming the operation and its byte offset, which the
 * caller prefixes with the file and sequence number. */
int vx_logrec_check(const unsigned char *p, size_t n,
                    const vex_index_config *cfg, void *vec_scratch,
                    const vex_mem *mem, vex_err *err, uint32_t *n_ops);

#endif
