/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manifest.h - the versioned manifest of one collection: its persistent
 * configuration, the list of its segment files with each segment's delete
 * state, and the WAL position already contained in the segments. Each
 * version is a complete snapshot in its own file MANIFEST-<16 hex digits>
 * (no edit log), and the small file CURRENT names the version in force,
 * as LevelDB's MANIFEST + CURRENT do. A collection directory holds
 * CURRENT, MANIFEST-*, seg-<16 hex>.vseg and wal/. Part of the storage
 * layer (every file operation goes through a vex_vfs); internal, nothing
 * here is public API. Bytes and the publish protocol are in docs/FORMAT.md
 * ("Collection manifest"); the crash invariants are at the top of
 * manifest.c.
 *
 * Ownership: a `manifest` owns its `segs` array and each segment's
 * `deleted` array; both are separate allocations from the vex_mem the
 * manifest was decoded or loaded with, and vx_manifest_free releases them
 * with it (vx_mem_free). A caller that builds a manifest by hand for
 * vx_manifest_encode/vx_manifest_publish may own its arrays however it likes
 * (those functions only read them), but must use the same convention if
 * it ever hands the struct to vx_manifest_free.
 *
 * Errors: `err` may be NULL everywhere. Messages name the file and, for
 * damage, the byte offset ("coll/MANIFEST-0000000000000007: deleted ids
 * of segment 2 not ascending at offset 412"). A success leaves `err`
 * alone.
 *
 * Threading: every function is reentrant (no shared state); several
 * threads may call them at once on different structs and directories. The
 * caller (the engine) serialises publishes to one directory and must not
 * load a directory while publishing to it from another thread.
 *
 * Why vx_manifest_load never falls back to an older manifest: an older
 * version lists deleted ids that were deleted later as live (it would
 * resurrect deleted rows), and its flushed_seq is older while the WAL
 * records between it and the newer flushed_seq may already have been
 * dropped (vx_wal_drop_before), so rows would be lost silently. A damaged or
 * missing current manifest therefore stops the open with VEX_CORRUPT, and
 * recovery is a human decision (restore a backup), not a guess. The
 * publish protocol (vx_manifest_publish) makes this safe: CURRENT never
 * durably names a manifest whose bytes are not durable.
 *
 * Caveats:
 *  - vx_manifest_publish creates MANIFEST-<number> exclusively: a leftover
 *    file of that number (from a publish that failed ambiguously or was
 *    cut short by a crash) makes it fail with VEX_EXISTS. After
 *    vx_manifest_load, before publishing, sweep the MANIFEST-* files that
 *    CURRENT does not name (vx_manifest_parse_name), or choose numbers above
 *    them.
 *  - Older manifests are not deleted by publish; the engine deletes them
 *    (after the publish returned VEX_OK) when no reader needs them.
 */
#ifndef VEX_STORAGE_MANIFEST_H
#define VEX_STORAGE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "io/vfs.h"
#include "util/err.h"
#include "util/mem.h"
#include "vexdb.h"

/* Longest collection name (bytes, without the NUL). */
#define MAN_NAME_MAX 64
/* Most segments one manifest may list. */
#define MAN_MAX_SEGMENTS (1u << 20)
/* Bytes vx_manifest_file_name needs: "MANIFEST-" + 16 hex digits + NUL. */
#define MAN_FILE_NAME_SIZE 26

/* The collection's persistent configuration. Validated by encode
 * (VEX_INVALID) and decode (VEX_CORRUPT):
 *  - name: 1..64 bytes of [A-Za-z0-9_.-], not starting with '.', then a
 *    NUL (it is a directory name);
 *  - dim 1..VEX_MAX_DIM; elem a vex_elem; metric a vex_metric that suits
 *    the elem (F32: L2, IP, COSINE; BIT: HAMMING, JACCARD);
 *  - index_kind 1 (flat) or 2 (HNSW); under flat the four hnsw_* fields
 *    are 0; under HNSW hnsw_m is 0 or 2..256 and the ef values are
 *    0..VEX_MAX_K (0 = adaptive, as in vex_index_options);
 *  - quant 0..4 (vex_quant), non-zero only for F32; quant_m 1..dim and
 *    quant_bits 4 or 8 exactly for PQ/OPQ (0 otherwise, M <= 256 with
 *    4 bits); quant_refine 1..1000 with a quantizer, 0 without;
 *  - created_unix is informational and not checked. */
typedef struct man_config {
    char name[MAN_NAME_MAX + 1];
    uint32_t dim, elem, metric; /* vex_elem / vex_metric values */
    uint32_t index_kind;        /* 1 flat, 2 hnsw */
    uint32_t hnsw_m, hnsw_ef_construction, hnsw_ef_search;
    uint64_t hnsw_seed;
    uint64_t created_unix;               /* seconds; informational */
    uint32_t quant, quant_m, quant_bits; /* resolved, as in vex_index_config */
    float quant_refine;
    /* vex_compression of the metadata columns, 0..MAN_COMPRESS_MAX; stored
     * in the header (offset 52) of a format-4 manifest, which is written
     * only when it is not 0 */
    uint32_t compression;
    /* DiskANN segments (vex_collection_config.diskann_*), resolved: all
     * zero when dann_min_rows is 0; stored in the extension block of a
     * format-5 manifest (entry kind 1), written only when set */
    uint64_t dann_min_rows;
    uint32_t dann_r, dann_l, dann_pq_m;
    float dann_alpha;
    /* The records' text field (the extension block of a format-5 manifest,
     * entry kind 2, written only when text is 1): text 0 or 1, text_stemmer 0
     * (none) or 1 (Porter), text_stopwords 0 or 1; the last two 0 without text.
     */
    uint32_t text, text_stemmer, text_stopwords;
} man_config;

/* Highest compression value a manifest may hold (VEX_COMPRESS_ZSTD). */
#define MAN_COMPRESS_MAX 1u

/* One segment file seg-<number>.vseg. Validated: number < the manifest's
 * next_file and unique among the segment and manifest numbers;
 * n_deleted <= n_rows; min_seq <= max_seq <= the manifest's flushed_seq;
 * deleted strictly ascending. */
typedef struct man_segment {
    uint64_t number; /* segment file number */
    uint64_t n_rows, file_size, min_seq, max_seq;
    uint64_t n_deleted; /* ids deleted or overwritten since it was written */
    uint64_t *deleted;  /* n_deleted ids, strictly ascending (NULL when 0) */
} man_segment;

typedef struct manifest {
    uint64_t number; /* this manifest's file number (MANIFEST-<number>) */
    man_config config;
    /* next unused file number for segments/manifests: above every number
     * in use, including `number` (so it is >= 1) */
    uint64_t next_file;
    /* every WAL record with seq <= flushed_seq is contained in segments */
    uint64_t flushed_seq;
    uint32_t n_segments; /* <= MAN_MAX_SEGMENTS */
    man_segment *segs;   /* oldest first; NULL when n_segments is 0 */
    /* The collection's metadata schema blob (meta/schema.h; opaque here,
     * the engine decodes it strictly), schema_len <= MAN_MAX_SCHEMA bytes;
     * NULL and 0: no schema. A separate allocation, owned like segs. A
     * manifest with a schema is written as format version 2, one without
     * as version 1 (so older readers keep reading those). */
    unsigned char *schema;
    uint32_t schema_len;
    /* Format 3 (both 0 in formats 1 and 2, which are written when both
     * are 0): the last log record whose effects the manifest's deletes
     * hold when it was published (>= flushed_seq), so the collection as of
     * this manifest is its segments with their deletes plus the log
     * records flushed_seq + 1 .. as_of_seq; and when it was published
     * (Unix seconds, informational). */
    uint64_t as_of_seq;
    uint64_t publish_unix;
} manifest;

/* Largest schema blob a manifest carries. */
#define MAN_MAX_SCHEMA (1u << 20)

/* Serialise `m` (only read) to a freshly allocated buffer: on VEX_OK *buf
 * (owned by the caller, freed with vx_mem_free(mem, ...)) and *len hold
 * the bytes of a MANIFEST file. Validates the struct first: VEX_INVALID,
 * with the reason in `err`, for a bad configuration (see man_config), a
 * segment that breaks the rules of man_segment (unsorted or duplicate
 * deleted ids, n_deleted > n_rows, min_seq > max_seq, max_seq >
 * flushed_seq), duplicate file numbers, a number >= next_file, more than
 * MAN_MAX_SEGMENTS segments, or NULL arrays with non-zero counts.
 * VEX_NOMEM when the buffer cannot be allocated. On failure *buf is NULL
 * and *len 0. */
int vx_manifest_encode(const manifest *m, const vex_mem *mem, vex_err *err,
                       unsigned char **buf, size_t *len);

/* Parse and validate `len` untrusted bytes (only read). `fname` names the
 * file in messages ("<fname>: <what> at offset N"; NULL: "manifest").
 * VEX_CORRUPT for any damage or rule broken (as listed for
 * vx_manifest_encode), VEX_UNSUPPORTED for a newer format version, VEX_NOMEM.
 * No allocation is larger than the input justifies (every count is
 * checked against the length first). On VEX_OK *out is filled and owns its
 * arrays (allocated from `mem`; release with vx_manifest_free); on failure
 * *out is zeroed. */
int vx_manifest_decode(const unsigned char *buf, size_t len, const char *fname,
                       const vex_mem *mem, vex_err *err, manifest *out);

/* Free the arrays of a manifest filled by vx_manifest_decode/vx_manifest_load
 * (with the same `mem`) and zero it. Safe on a zeroed struct; NULL is a
 * no-op. */
void vx_manifest_free(manifest *m, const vex_mem *mem);

/* Publish `m` (only read) as the current manifest of directory `dir`
 * (which must exist):
 *   1. write MANIFEST-<m->number>, created exclusively, and fsync it;
 *   2. write CURRENT.tmp naming it (with a checksum) and fsync it;
 *   3. fsync the directory (both names durable before CURRENT can name
 *      the new manifest);
 *   4. rename CURRENT.tmp -> CURRENT;
 *   5. fsync the directory.
 * After VEX_OK the new manifest is durable and current. On failure `err`
 * names the file and the step, and *ambiguous (if not NULL) says what the
 * disk holds:
 *  - 0: the failure came before the rename: the old manifest (or none) is
 *    still current, and the partial MANIFEST file (only if this call
 *    created it) and CURRENT.tmp are removed, best effort;
 *  - 1: the failure came at or after the rename: CURRENT may name either
 *    manifest, now or after a crash; the caller must treat its handle as
 *    broken (refuse writes until it reloads).
 * VEX_INVALID (not ambiguous) when `m` does not validate (see
 * vx_manifest_encode) or the path is too long; VEX_EXISTS when
 * MANIFEST-<number> exists already (see Caveats); else an I/O status or
 * VEX_NOMEM. Does not delete older manifests. */
int vx_manifest_publish(vex_vfs *vfs, const char *dir, const manifest *m,
                        const vex_mem *mem, vex_err *err, int *ambiguous);

/* The number of the manifest CURRENT in `dir` names, without loading it
 * (a read-only reader compares it before and after reading the files to
 * tell a concurrent publish from damage). VEX_NOTFOUND without CURRENT,
 * VEX_CORRUPT when it is damaged; reads only. */
int vx_manifest_current(vex_vfs *vfs, const char *dir, vex_err *err,
                        uint64_t *number);

/* Load the manifest that CURRENT names in `dir` into *out (on VEX_OK it
 * owns its arrays; release with vx_manifest_free; on failure *out is
 * zeroed). VEX_NOTFOUND when `dir` has no CURRENT (not a collection, or a
 * collection whose first publish never completed). VEX_CORRUPT with the
 * file and offset when CURRENT is damaged, when the manifest it names is
 * missing or damaged, or when that manifest's number disagrees with its
 * name. Never falls back to an older manifest (see the top of this file
 * for why). VEX_UNSUPPORTED for a newer format; I/O statuses; VEX_NOMEM.
 * Reads only; a CURRENT.tmp left by an interrupted publish is ignored. */
/* Load MANIFEST-<number> of `dir` (any version, current or kept for
 * point-in-time reads) as vx_manifest_load loads the current one;
 * VEX_NOTFOUND when the file does not exist. */
int vx_manifest_load_number(vex_vfs *vfs, const char *dir, uint64_t number,
                            const vex_mem *mem, vex_err *err, manifest *out);

int vx_manifest_load(vex_vfs *vfs, const char *dir, const vex_mem *mem,
                     vex_err *err, manifest *out);

/* Write "MANIFEST-<16 lowercase hex digits of number>" and a NUL into buf.
 * VEX_OK, or VEX_INVALID when n < MAN_FILE_NAME_SIZE (buf then holds ""
 * if n > 0). For the engine's orphan sweep. */
int vx_manifest_file_name(char *buf, size_t n, uint64_t number);

/* 1 and *number when `name` is exactly "MANIFEST-" followed by 16
 * lowercase hex digits; else 0 (*number untouched). */
int vx_manifest_parse_name(const char *name, uint64_t *number);

#endif
