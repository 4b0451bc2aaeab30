/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vexdb.h - the whole public API of VexDB, an embeddable vector database.
 *
 * This header is the manual. Read it top to bottom: conventions first, then
 * status codes, the library-wide calls, and the handles in the order you
 * would use them.
 *
 * CONVENTIONS
 *
 *   Status codes. Every function that can fail returns an int status code
 *   from the table below (VEX_OK is 0). vex_errstr() names a code; the handle
 *   the call was made on also keeps a detailed message (vex_index_errmsg()).
 *
 *   Handles are opaque. Their layout is private so it can change without
 *   breaking the ABI. Every handle states its threading contract.
 *
 *   Options structs start with `struct_size`; always fill them with the
 *   matching *_init() function first, then change the fields you need. Values
 *   out of the documented range are rejected with VEX_INVALID and a message;
 *   they are never clamped or ignored.
 *
 *   Structs grow without breaking programs. New fields are only ever
 *   appended to a struct. Each *_init() (and vex_collection_get_config())
 *   is a macro passing sizeof the caller's struct to a *_size() function,
 *   which writes no more than that and records it in struct_size. The
 *   library accepts any struct_size from the struct's first release
 *   (0.1.0) up to its own: a program compiled against an older header
 *   keeps working with a newer library, the fields its header lacked take
 *   their defaults, and statistics are filled only as far as the caller's
 *   struct reaches. A struct_size below the first release's (the struct
 *   was not initialised) or above the library's (the program was built
 *   against a newer header than the library it runs with) is VEX_MISUSE.
 *   The functions named like the macros are exported for programs built
 *   against 0.1.0 and write that release's layout.
 *
 *   Ownership. Unless a function says otherwise, pointers passed in are
 *   borrowed for the duration of the call only, and results are written into
 *   caller-provided arrays, so the search path never allocates on the
 *   caller's behalf.
 *
 *   Distances. Smaller is always nearer:
 *     VEX_METRIC_L2       squared Euclidean distance  sum (a_i - b_i)^2
 *     VEX_METRIC_IP       negative inner product      -sum a_i b_i
 *     VEX_METRIC_COSINE   cosine distance             1 - cos(a, b)
 *     VEX_METRIC_HAMMING  number of differing bits
 *     VEX_METRIC_JACCARD  1 - |a AND b| / |a OR b|    (0 when both are empty)
 *
 * CAVEATS
 *
 *   - Cosine indexes reject the zero vector: its direction is undefined.
 *   - HNSW with VEX_METRIC_IP on vectors of very different norms finds
 *     fewer true neighbours than with L2 or cosine (inner product is not
 *     a distance, and small-norm vectors are hard to reach); normalise the
 *     vectors and use cosine when the norms carry no meaning.
 *   - Vectors with NaN or infinite components are rejected on insert and as
 *     queries, because they make every distance meaningless; so are float32
 *     vectors whose squared norm overflows float32 (a sum of squares above
 *     3.4e38, e.g. any component beyond 1.8e19: distances would be
 *     infinite), all with
 *     VEX_INVALID and a message naming the problem.
 *   - vex_index_errmsg() describes the most recent failed call on the handle.
 *     When several threads use one handle and more than one call fails at
 *     the same time, use vex_index_errmsg_copy(), which is safe, and know
 *     that the message may belong to another thread's call; the status code
 *     each call returns is always its own.
 */
#ifndef VEXDB_H
#define VEXDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VEX_API
#elif defined(__GNUC__)
#define VEX_API __attribute__((visibility("default")))
#else
#define VEX_API
#endif

/* ---------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------- */

#define VEX_VERSION_MAJOR  0
#define VEX_VERSION_MINOR  4
#define VEX_VERSION_PATCH  0
#define VEX_VERSION_STRING "0.4.0"
#define VEX_VERSION_NUMBER                                                     \
    (VEX_VERSION_MAJOR * 10000 + VEX_VERSION_MINOR * 100 + VEX_VERSION_PATCH)

/* The version of the library actually linked, "MAJOR.MINOR.PATCH". The
 * string is static. Thread-safe. */
VEX_API const char *vex_version(void);

/* The same as a number, MAJOR*10000 + MINOR*100 + PATCH. Thread-safe. */
VEX_API int vex_version_number(void);

/* Optional features compiled into the library actually linked, a bit set
 * of VEX_FEATURE_* (vex_features()). A database written with a feature
 * that this library lacks is refused by name where it needs it (see
 * vex_collection_config.compression); nothing is silently ignored. The
 * SIMD kernel sets are chosen at run time: see vex_simd_supported(). */
#define VEX_FEATURE_ZSTD 0x1u /* zstd: VEX_COMPRESS_ZSTD collections */
/* io_uring (liburing): a DiskANN segment's search step submits its page
 * reads together. Without it they are read one after another, with the
 * same results; a kernel that refuses a ring falls back the same way. */
#define VEX_FEATURE_IO_URING 0x2u

/* The VEX_FEATURE_* bits of this library. Thread-safe. */
VEX_API uint32_t vex_features(void);

/* The name of one VEX_FEATURE_* bit ("zstd", "io_uring"), or NULL for a value
 * that is not exactly one known bit. The string is static. Thread-safe. */
VEX_API const char *vex_feature_name(uint32_t feature);

/* ---------------------------------------------------------------------
 * Status codes
 *
 * One table, so the enum, vex_errstr() and the documentation cannot drift.
 * Codes are small, stable, non-negative integers; new ones are only ever
 * appended.
 * ------------------------------------------------------------------- */

#define VEX_STATUS_TABLE(X)                                                    \
    X(VEX_OK, 0, "ok")                                                         \
    X(VEX_NOMEM, 1, "out of memory")                                           \
    X(VEX_IOERR, 2, "I/O error")                                               \
    X(VEX_CORRUPT, 3, "data is corrupt")                                       \
    X(VEX_INVALID, 4, "invalid argument")                                      \
    X(VEX_MISUSE, 5, "library used incorrectly")                               \
    X(VEX_NOTFOUND, 6, "not found")                                            \
    X(VEX_EXISTS, 7, "already exists")                                         \
    X(VEX_FULL, 8, "limit reached")                                            \
    X(VEX_BUSY, 9, "resource busy")                                            \
    X(VEX_UNSUPPORTED, 10, "not supported by this build or machine")           \
    X(VEX_INTERNAL, 11, "internal error")                                      \
    X(VEX_READONLY, 12, "database is read-only")

enum vex_status {
#define VEX_STATUS_ENUM_(name, value, text) name = value,
    VEX_STATUS_TABLE(VEX_STATUS_ENUM_)
#undef VEX_STATUS_ENUM_
};

/* A short static English description of a status code ("out of memory").
 * Unknown codes give "unknown status code". Thread-safe. */
VEX_API const char *vex_errstr(int rc);

/* The symbolic name of a status code ("VEX_NOMEM"), or "VEX_?" for unknown
 * codes. Thread-safe. */
VEX_API const char *vex_status_name(int rc);

/* ---------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------- */

/* Largest dimension of a vector (components for dense types, bits for
 * VEX_ELEM_BIT). Integer kernels are exact up to this size. */
#define VEX_MAX_DIM 65536
/* Largest k of one search. */
#define VEX_MAX_K 100000
/* Largest number of worker threads of one handle. */
#define VEX_MAX_THREADS 256
/* Largest payload of one record, in bytes (1 MiB; see vex_record). */
#define VEX_MAX_PAYLOAD 1048576
/* Largest encoded metadata of one record, in bytes (1 MiB; a vex_meta
 * setter refuses a change that would exceed it). */
#define VEX_MAX_META_BYTES 1048576
/* Most bytes of operations one vex_batch holds (16 MiB; see
 * vex_batch_commit for how operations are counted). */
#define VEX_BATCH_MAX_BYTES 16777216

/* ---------------------------------------------------------------------
 * Allocator hook
 *
 * Each handle can use its own allocator. When `alloc` is NULL the C
 * library's malloc, realloc and free are used. All three functions must be
 * given together and be safe to call from several threads at once (the
 * handle's worker threads use them). `realloc` follows the C contract:
 * on failure it returns NULL and leaves `ptr` allocated. The library never
 * passes a size of 0.
 * ------------------------------------------------------------------- */
typedef struct vex_allocator {
    void *(*alloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
    void *user; /* passed back to each function, owned by the caller */
} vex_allocator;

/* ---------------------------------------------------------------------
 * SIMD kernels
 *
 * Distance kernels are chosen once per process from the CPU's features.
 * The choice can be forced for tests and benchmarks, either by setting the
 * environment variable VEX_SIMD=scalar|avx2|avx512|neon before the first
 * call into the library, or with vex_simd_force(). An unset VEX_SIMD, "auto",
 * or a name that is unknown or cannot run here all mean the best supported
 * set; the library prints nothing (compare vex_simd_name() to check).
 * "avx2" needs AVX2, FMA, F16C and POPCNT; "avx512" needs AVX-512 F, BW,
 * DQ, VL, VNNI and VPOPCNTDQ (Ice Lake, Sapphire Rapids, Zen 4 and later;
 * otherwise avx2 is used), each with the OS saving the register state.
 * ------------------------------------------------------------------- */

/* The name of the kernel set in use ("scalar", "avx2", "avx512", "neon").
 * Thread-safe. */
VEX_API const char *vex_simd_name(void);

/* Force a kernel set by name, or pass NULL or "auto" for the best the CPU
 * supports. Returns VEX_UNSUPPORTED if the CPU cannot run it and VEX_INVALID
 * for unknown names; the current choice is then left unchanged. Not
 * thread-safe: call it before any other thread uses the library. */
VEX_API int vex_simd_force(const char *name);

/* Whether this build and CPU can run the named kernel set (1) or not (0). */
VEX_API int vex_simd_supported(const char *name);

/* ---------------------------------------------------------------------
 * Enumerations shared by indexes and (later) collections
 * ------------------------------------------------------------------- */
typedef enum vex_metric {
    VEX_METRIC_L2 = 1,
    VEX_METRIC_IP = 2,
    VEX_METRIC_COSINE = 3,
    VEX_METRIC_HAMMING = 4,
    VEX_METRIC_JACCARD = 5
} vex_metric;

/* Element types of stored vectors and queries.
 *   VEX_ELEM_F32  float32 components; metrics L2, IP, COSINE.
 *   VEX_ELEM_BIT  packed bits, bit i of the vector is bit (i % 8) of byte
 *                 i / 8; a vector of dim bits takes (dim + 7) / 8 bytes and
 *                 the unused high bits of the last byte must be zero.
 *                 Metrics HAMMING, JACCARD. */
typedef enum vex_elem { VEX_ELEM_F32 = 1, VEX_ELEM_BIT = 2 } vex_elem;

/* Names for printing and parsing ("l2", "ip", "cosine", "hamming",
 * "jaccard"; "f32", "bit"). Parsing returns VEX_INVALID for unknown names. */
VEX_API const char *vex_metric_name(vex_metric m);
VEX_API int vex_metric_parse(const char *name, vex_metric *out);
VEX_API const char *vex_elem_name(vex_elem e);
VEX_API int vex_elem_parse(const char *name, vex_elem *out);

/* Bytes one vector of `dim` elements of type `elem` takes, or 0 when the
 * combination is invalid. */
VEX_API size_t vex_vector_size(vex_elem elem, uint32_t dim);

/* ---------------------------------------------------------------------
 * Search results
 * ------------------------------------------------------------------- */
typedef struct vex_hit {
    uint64_t id;    /* the id the vector was added with */
    float distance; /* see "Distances" above; smaller is nearer */
} vex_hit;

/* A search filter: a vector can be a result only if this returns non-zero
 * for its id. It is called from the searching thread and, for batch and
 * parallel searches, from the index's worker threads at the same time, so
 * it must be thread-safe, must not call into the same index, and should
 * be cheap (a bitmap or hash lookup). */
typedef int (*vex_filter_fn)(uint64_t id, void *ctx);

/* A compiled metadata filter, per-query statistics of collection
 * searches and a record's metadata; described with the collections
 * below. */
typedef struct vex_filter vex_filter;
typedef struct vex_search_stats vex_search_stats;
typedef struct vex_meta vex_meta;

/* Parameters of one search call. Fill with vex_search_params_init(). */
typedef struct vex_search_params {
    uint32_t struct_size;
    /* Threads this call may use, 0 = all threads of the handle's pool,
     * 1 = only the calling thread; at most the pool size. A batch search
     * spreads its queries over them. A single flat k-NN or range search
     * splits its scan over them; a single HNSW search is one graph walk
     * and always runs on the calling thread. Default 0. */
    uint32_t n_threads;
    /* HNSW: size of the candidate list (efSearch); larger finds more of
     * the true neighbours and costs more. 0 = the index's default
     * (options.hnsw_ef_search); values below k are raised to k. Must be 0
     * for flat indexes, which are exact. At most VEX_MAX_K. */
    uint32_t ef_search;
    /* Only ids for which filter(id, filter_ctx) != 0 are returned; NULL =
     * no filter. A flat search stays exact: the k nearest accepted
     * vectors. An HNSW search walks the graph through rejected nodes (so
     * it does not get stuck where they cluster) and returns the nearest
     * accepted ones its beam found; when that is fewer than k it searches
     * again with a beam four times wider, up to filter_max_ef. For very
     * selective filters an exact (flat) search over the matching ids is
     * the better plan. Default NULL. */
    vex_filter_fn filter;
    void *filter_ctx; /* passed to filter, owned by the caller */
    /* HNSW with a filter: the widest beam a search may grow to, which
     * bounds its extra work; 0 = 16 x ef. Must be 0 without a filter or
     * for flat. At most VEX_MAX_K. */
    uint32_t filter_max_ef;
    /* Quantized indexes only (options.quant != VEX_QUANT_NONE): the
     * search ranks candidates by distances to the quantized codes, keeps
     * the nearest ceil(refine * k) of them (at most VEX_MAX_K; HNSW widens
     * its beam to at least that many), computes their full-precision
     * distances from the stored vectors and returns the k nearest by those.
     * Returned distances are then always full precision. 0 = the index's
     * default (options.quant_refine); otherwise 1..1000 (1 reranks only
     * the k candidates: exact distances, code order). Must be 0 for an
     * unquantized index (VEX_INVALID). Until the index is trained
     * (vex_index_train) every distance is full precision and the value
     * has no effect. Default 0. */
    float refine;
    /* Collections only (must be NULL for vex_index searches): only
     * records whose metadata this filter (vex_filter_parse) matches are
     * returned; see "Filtered search" below. Borrowed during the call; not
     * combinable with `filter`. Default NULL. */
    const vex_filter *where;
    /* vex_search, vex_search_results and vex_range_search only (must be
     * NULL elsewhere: vex_search_batch and vex_index searches refuse it
     * with VEX_INVALID): when not NULL, the search fills it (initialise
     * it with vex_search_stats_init) with how it ran. Default NULL. */
    vex_search_stats *stats;
    /* vex_search only (must be NULL elsewhere): when not NULL, an array
     * of k handles the caller created (vex_meta_create); hit i's metadata,
     * from the same snapshot as the hits, replaces the contents of
     * meta_out[i] (i < *n_hits; the others are left alone). Default NULL.
     * The older form: vex_search_results with VEX_WITH_META gives the
     * same metadata without a handle per hit. */
    vex_meta *const *meta_out;
    /* --- since 0.5.0 --- */
    /* DiskANN segments (collections with diskann_min_rows set): node
     * pages read at once per step of the walk (beam width W), 1..64;
     * wider issues more reads per step and takes fewer steps. The walk's
     * candidate list is ef_search, or max(100, k) when ef_search is 0.
     * 0 = 4. Must be 0 for collections without DiskANN segments and for
     * vex_index searches (VEX_INVALID). */
    uint32_t beam_width;
    /* Hybrid and keyword search (collections with a text field only, see
     * "Text and hybrid search" below; vex_search and vex_search_results
     * only): a query text (NUL-terminated UTF-8) searched with BM25 over
     * the records' texts. With a query vector too, the two result lists
     * (each leg's best `text_candidates`) are fused into one ranking by
     * `fusion`; with a NULL query vector the search is keyword only.
     * Default NULL: a vector search. */
    const char *text;
    /* BM25's k1 (0..100, default 1.2) and b (0..1, default 0.75). */
    float bm25_k1;
    float bm25_b;
    /* How a hybrid search fuses its legs: VEX_FUSION_RRF (default) or
     * VEX_FUSION_SUM. */
    uint32_t fusion;
    /* VEX_FUSION_RRF's k: 0..1e6, default 60. */
    float rrf_k;
    /* Weights of the vector and keyword legs in the fusion (finite, >= 0,
     * not both 0; default 1 and 1). */
    float vector_weight;
    float text_weight;
    /* Results each leg of a hybrid search contributes to the fusion:
     * 0 = max(k, 100) (at most VEX_MAX_K), else k..VEX_MAX_K. */
    uint32_t text_candidates;
} vex_search_params;

/* vex_search_params.fusion: reciprocal rank fusion (a hit's score is the
 * sum over the legs holding it of weight / (rrf_k + rank), ranks from 1),
 * or a weighted sum of min-max normalised scores (each leg's best 1, its
 * worst 0; BM25 scores and distances alike). */
#define VEX_FUSION_RRF 1u
#define VEX_FUSION_SUM 2u

/* Fill *params with the defaults (see "Structs grow" above). */
VEX_API void vex_search_params_init(vex_search_params *params);
VEX_API void vex_search_params_init_size(vex_search_params *params,
                                         size_t size);
#define vex_search_params_init(params)                                         \
    vex_search_params_init_size((params), sizeof *(params))

/* ---------------------------------------------------------------------
 * vex_index: an in-memory vector index
 *
 * A standalone index of vectors with 64-bit ids, for programs that want
 * nearest-neighbour search without a database directory. Kinds:
 *
 *   VEX_INDEX_FLAT  exact search: every query compares against every
 *                   vector with SIMD kernels. Results are exact. Batch
 *                   searches scan the data block by block for many queries
 *                   at once, so the data is read once per block, not once
 *                   per query.
 *   VEX_INDEX_HNSW  approximate search on a hierarchical navigable small
 *                   world graph (Malkov & Yashunin): logarithmic search
 *                   time; recall is traded against speed with ef_search.
 *                   Adds of many vectors at once are built in parallel on
 *                   the handle's threads; searches may run while vectors
 *                   are added. Removed vectors are unlinked from the graph
 *                   (their neighbours are repaired), so recall does not
 *                   decay with deletes.
 *
 * Threading: any number of threads may search one index at the same time,
 * and vex_index_add() and vex_index_remove() may be called from any thread
 * at any time. A flat index makes writes wait for running searches (and
 * new searches for running writes). HNSW holds searches back only while an
 * add claims room and while a remove marks its vector; the linking of
 * added vectors, the bulk of the work, runs alongside searches, which may
 * or may not see a vector whose add has not returned yet. A handle must
 * not be used after vex_index_free() begins.
 * ------------------------------------------------------------------- */
typedef struct vex_index vex_index;

typedef enum vex_index_kind {
    VEX_INDEX_FLAT = 1,
    VEX_INDEX_HNSW = 2,
    /* Since 0.5.0: a disk-resident Vamana graph (DiskANN). Only a kind of
     * collection segments (vex_collection_config.diskann_min_rows), never
     * of a vex_index: vex_index_create refuses it (VEX_INVALID). It is
     * what vex_segment_stats.index_kind reports for such a segment. */
    VEX_INDEX_DISKANN = 3
} vex_index_kind;

/* Quantizers of vex_index_options.quant: compact codes kept next to the
 * full vectors, searched first, with the best candidates reranked on the
 * full vectors (vex_search_params.refine). Float32 vectors and the L2, IP
 * and cosine metrics only. Bytes per code for dim d:
 *
 *   VEX_QUANT_SQ8  d (8 bits per component, per-dimension ranges): 4x
 *   VEX_QUANT_BQ   ceil(d / 8) (sign bits after centring; codes are
 *                  ranked by Hamming distance): 32x, a coarse first pass
 *   VEX_QUANT_PQ   product quantization: quant_m subvectors of 8 (or 4,
 *                  quant_bits) bits each, asymmetric distance tables
 *   VEX_QUANT_OPQ  PQ after a learned rotation (lower error, same size)
 */
typedef enum vex_quant {
    VEX_QUANT_NONE = 0,
    VEX_QUANT_SQ8 = 1,
    VEX_QUANT_BQ = 2,
    VEX_QUANT_PQ = 3,
    VEX_QUANT_OPQ = 4
} vex_quant;

typedef struct vex_index_options {
    uint32_t struct_size;
    vex_index_kind kind; /* default VEX_INDEX_FLAT */
    vex_elem elem;       /* default VEX_ELEM_F32 */
    vex_metric metric;   /* default VEX_METRIC_L2 */
    uint32_t dim;        /* required, 1..VEX_MAX_DIM; no default (0) */
    /* Worker threads for searches, 0 = the number of online CPUs (capped at
     * VEX_MAX_THREADS), 1 = no worker threads: everything runs on the
     * calling thread. Default 0. */
    uint32_t n_threads;
    /* Vectors to reserve room for up front, 0 = grow as needed. Default 0. */
    uint64_t capacity;
    /* Allocator for everything the handle owns; NULL = malloc/free. The
     * struct is copied; `user` must outlive the handle. Default NULL. */
    const vex_allocator *allocator;

    /* ---- HNSW only: must stay 0 for other kinds ---- */
    /* Links per node on the upper levels (level 0 keeps 2 * M), 2..256.
     * 0 = chosen from the dimension: 16 up to 128 dims, 24 up to 512, 32
     * up to 1024, 48 above. */
    uint32_t hnsw_m;
    /* Candidate list size while inserting, 1..VEX_MAX_K. 0 = chosen from
     * the expected size (capacity, or 1,000,000 when capacity is 0):
     * 40 * log10(size), clamped to 100..400. */
    uint32_t hnsw_ef_construction;
    /* Default ef_search of searches that pass 0, 1..VEX_MAX_K. 0 = 64. */
    uint32_t hnsw_ef_search;
    /* Seed of the level generator. A node's level is a function of the
     * seed and its id, so a single-threaded build is reproducible. */
    uint64_t hnsw_seed;

    /* ---- quantization (any kind, float32 vectors, L2/IP/cosine) ---- */
    /* Quantizer, default VEX_QUANT_NONE. A quantized index keeps the full
     * vectors too (reranking needs them) plus one code per vector; codes
     * exist once the index is trained (vex_index_train). */
    vex_quant quant;
    /* PQ/OPQ: number of subvectors, 1..dim (and at most 256 with 4-bit
     * codes); 0 = ceil(dim / 8) with 8-bit codes, ceil(dim / 4) with
     * 4-bit ones (16x smaller than float32). Must be 0 for other
     * quantizers. */
    uint32_t quant_m;
    /* PQ/OPQ: bits per subvector code, 8 or 4; 0 = 8. Must be 0 for
     * other quantizers. */
    uint32_t quant_bits;
    /* Default refine of searches that pass 0 (see vex_search_params),
     * 1..1000; 0 = 2 for SQ8, 10 for BQ, PQ and OPQ. Must be 0 without a
     * quantizer. */
    float quant_refine;
} vex_index_options;

/* Fill *opts with the defaults (see "Structs grow" above). */
VEX_API void vex_index_options_init(vex_index_options *opts);
VEX_API void vex_index_options_init_size(vex_index_options *opts, size_t size);
#define vex_index_options_init(opts)                                           \
    vex_index_options_init_size((opts), sizeof *(opts))

/* Create an index. On VEX_OK, *out is a new handle owned by the caller, to
 * be released with vex_index_free(). When creation fails after the handle
 * was allocated (for example for invalid options), *out is still set so
 * that vex_index_errmsg() can say why; free it too. When even the handle
 * could not be allocated *out is NULL and the result is VEX_NOMEM.
 * Returns VEX_INVALID for bad options, VEX_NOMEM, VEX_MISUSE for NULL
 * arguments. */
VEX_API int vex_index_create(const vex_index_options *opts, vex_index **out);

/* Release the handle and everything it owns. NULL is a no-op. The caller
 * must make sure no other call on the handle is running or starts. */
VEX_API void vex_index_free(vex_index *idx);

/* Add `n` vectors with ids `ids[0..n)`; vector i starts at byte
 * i * vex_vector_size(elem, dim) of `vectors`. Atomic: if any vector or id
 * is rejected nothing is added. Returns VEX_EXISTS if an id is already in
 * the index or repeats within the call, VEX_INVALID for non-finite
 * components, zero vectors under cosine, or stray padding bits, VEX_FULL
 * past the kind's size limit (2^40
 * vectors flat, 2^31 HNSW), VEX_NOMEM. The message names the offending
 * position. The vectors are copied. */
VEX_API int vex_index_add(vex_index *idx, const uint64_t *ids,
                          const void *vectors, size_t n);

/* Remove the vector with this id. VEX_NOTFOUND if there is none. */
VEX_API int vex_index_remove(vex_index *idx, uint64_t id);

/* Copy the stored vector with this id into `vector_out` (room for
 * vex_vector_size(elem, dim) bytes). VEX_NOTFOUND if there is none. */
VEX_API int vex_index_get(vex_index *idx, uint64_t id, void *vector_out);

/* Number of vectors in the index. */
VEX_API uint64_t vex_index_count(const vex_index *idx);

/* Bytes of memory the index holds or its searches keep reading (data,
 * ids, lookup tables, scratch; arrays used in place from an opened buffer
 * count too). A quantized index counts its codes and codebook, and its
 * full vectors (kept for reranking) unless they are read in place from
 * an opened buffer: only reranks touch those, so a memory-mapped file
 * leaves them on disk. vex_index_code_size() is the per-vector size of
 * what its searches scan. */
VEX_API uint64_t vex_index_memory(const vex_index *idx);

/* Train the quantizer of a quantized index (options.quant) and encode
 * every vector the index holds; vectors added later are encoded as they
 * are added. `sample` holds n float32 vectors of the index's dimension
 * (read, not retained); sample NULL with n 0 trains on the index's own
 * vectors (a seeded subsample of at most 65,536). Training needs at least
 * 1 vector (SQ8, BQ), 256 (PQ/OPQ 8-bit) or 16 (4-bit). A quantizer is
 * trained once: VEX_MISUSE if the index has no quantizer or is trained
 * already, VEX_INVALID for too few or non-finite vectors, VEX_NOMEM. On
 * failure the index stays untrained and unchanged. Until trained, a
 * quantized index searches with full-precision distances only. Writes
 * wait while it runs (as for vex_index_add). */
VEX_API int vex_index_train(vex_index *idx, const float *sample, size_t n);

/* Bytes of one quantized code (the in-memory size per vector of what
 * searches scan): 0 for an unquantized index, else the code size of the
 * configured quantizer (also before training). */
VEX_API size_t vex_index_code_size(const vex_index *idx);

/* The options the index was created (or opened) with, allocator pointer
 * included, with adaptive HNSW parameters (0) replaced by the values
 * chosen, written as far as `size` bytes (the macro passes sizeof *out). */
VEX_API void vex_index_get_options(const vex_index *idx,
                                   vex_index_options *out);
VEX_API void vex_index_get_options_size(const vex_index *idx,
                                        vex_index_options *out, size_t size);
#define vex_index_get_options(idx, out)                                        \
    vex_index_get_options_size((idx), (out), sizeof *(out))

/* k nearest neighbours of one query (a vector in the index's element type
 * and dimension). Writes up to k hits to `hits` (room for k), nearest first,
 * ties broken by the smaller id, and their number, min(k, count), to
 * *n_hits. `params` may be NULL for defaults. k must be 1..VEX_MAX_K.
 * Returns VEX_INVALID for a bad query or k. Allocates nothing in steady
 * state: scratch (visited tables, candidate lists, per-thread heaps) is
 * kept by the handle and reused, and only a search that needs more than
 * any before it (a first search, a larger k or ef) allocates, so
 * VEX_NOMEM is possible then. */
VEX_API int vex_index_search(vex_index *idx, const void *query, size_t k,
                             const vex_search_params *params, vex_hit *hits,
                             size_t *n_hits);

/* k nearest neighbours of each of `n_queries` queries stored back to back.
 * The hits of query i go to hits[i*k .. i*k+k), their number to n_hits[i].
 * Results are the same as n calls of vex_index_search(). Scratch memory
 * comes from contexts the handle keeps and reuses: a call allocates only
 * when it needs more than any call before it, and may then return
 * VEX_NOMEM. */
VEX_API int vex_index_search_batch(vex_index *idx, const void *queries,
                                   size_t n_queries, size_t k,
                                   const vex_search_params *params,
                                   vex_hit *hits, size_t *n_hits);

/* All vectors within `radius` of the query (distance <= radius), nearest
 * first. At most `capacity` hits are written; *n_total receives how many
 * vectors are within the radius, so a caller who gets n_total > capacity
 * holds the nearest `capacity` of them and can call again with more room.
 * capacity may be 0 to only count. Flat: exact. HNSW: approximate, the
 * vectors within the radius among those a search with a candidate list of
 * max(ef_search, capacity) finds (capacity at most VEX_MAX_K). */
VEX_API int vex_index_range_search(vex_index *idx, const void *query,
                                   float radius,
                                   const vex_search_params *params,
                                   vex_hit *hits, size_t capacity,
                                   uint64_t *n_total);

/* ---- Serialisation -------------------------------------------------
 *
 * An index can be written into one contiguous buffer (a "blob": a
 * checksummed header and checksummed sections, docs/FORMAT.md) and opened
 * from one, e.g. a file the caller has memory-mapped. An index opened this
 * way uses the buffer in place: no graph is rebuilt and no vector is
 * copied; only the id lookup table (and a flat index's per-vector norms)
 * is built (O(n)). */

/* Write the index into buf[0..size). *needed receives the blob's size
 * (may be NULL). With buf NULL and size 0, or a buffer that is too small,
 * nothing is written and the result is VEX_FULL: call again with a
 * buffer of *needed bytes. The index waits for running writes and blocks
 * new ones while it is copied; searches continue. HNSW: when vectors were
 * added since the graph last checked that every live vector can be
 * reached from its entry point (adds do that only now and then, as it
 * walks the whole graph), the call first links any that cannot (O(n)),
 * so a blob always has every live vector reachable; VEX_NOMEM if that
 * needs memory it cannot have. */
VEX_API int vex_index_serialize(vex_index *idx, void *buf, uint64_t size,
                                uint64_t *needed);

/* Options of vex_index_open_buffer(). Fill with vex_open_options_init(). */
typedef struct vex_open_options {
    uint32_t struct_size;
    /* Worker threads, as vex_index_options.n_threads. Default 0. */
    uint32_t n_threads;
    /* As vex_index_options.allocator. Default NULL. */
    const vex_allocator *allocator;
    /* VEX_OPEN_COPY: copy the buffer instead of using it in place.
     * Default 0. */
    uint32_t flags;
} vex_open_options;

#define VEX_OPEN_COPY 1u

/* Fill *opts with the defaults (see "Structs grow" above). */
VEX_API void vex_open_options_init(vex_open_options *opts);
VEX_API void vex_open_options_init_size(vex_open_options *opts, size_t size);
#define vex_open_options_init(opts)                                            \
    vex_open_options_init_size((opts), sizeof *(opts))

/* Open an index from a blob written by vex_index_serialize(). The kind,
 * element type, metric, dimension and graph parameters come from the
 * blob. Everything in it is checked before use (header and section
 * checksums, every size, every graph link, duplicate ids), so a damaged
 * or hostile buffer gives VEX_CORRUPT (VEX_UNSUPPORTED for a newer format
 * version or a big-endian host) with a message naming what is wrong and
 * where, never a crash; the check reads the whole buffer once.
 *
 * Ownership: the index uses `buf` in place when it is 64-byte aligned
 * (mmap gives page alignment) and VEX_OPEN_COPY is not set; then buf must
 * stay valid and unchanged until vex_index_free(), and the first add or
 * remove copies the index into memory of its own (copy on write); the
 * index never writes to buf. An unaligned buffer, or VEX_OPEN_COPY, is
 * copied; buf can be released as soon as the call returns. *out follows
 * vex_index_create()'s rules. */
VEX_API int vex_index_open_buffer(const void *buf, uint64_t size,
                                  const vex_open_options *opts,
                                  vex_index **out);

/* Verify the index's internal invariants: for flat, that ids and slots
 * agree; for HNSW, link counts and targets, levels, the entry point, the
 * id map, and that every live vector can be reached from the entry point
 * on level 0 (a live vector that cannot is one no search returns; the
 * message says how many and names the first by id). Like
 * vex_index_serialize, it first links the vectors added since the last
 * such pass, so it reports what a blob would hold. VEX_OK, or
 * VEX_CORRUPT with a message naming the first broken invariant (VEX_NOMEM
 * when that pass cannot have its memory). Takes the index's write lock:
 * use it in tests and debugging, not on a hot path. */
VEX_API int vex_index_check(vex_index *idx);

/* The message of the most recent failed call on this handle, or "" if none
 * failed. Valid until the next call on the handle. See CAVEATS for threads. */
VEX_API const char *vex_index_errmsg(const vex_index *idx);

/* Copy that message into buf (always NUL-terminated when size > 0).
 * Returns the message length. Safe while other threads use the handle. */
VEX_API size_t vex_index_errmsg_copy(const vex_index *idx, char *buf,
                                     size_t size);

/* ---------------------------------------------------------------------
 * vex_db: a database directory
 *
 * A database is a directory holding named collections. Every write goes
 * to the collection's write-ahead log before it is applied, so after
 * vex_insert() and friends return VEX_OK (in a syncing durability mode) the
 * write survives kill -9 and power loss. Writes land in an in-memory
 * memtable that is searchable at once and is flushed to an immutable,
 * checksummed segment file when it grows past a threshold or on
 * vex_flush(); opening a database maps its segments and replays the log
 * written since the last flush (docs/FORMAT.md describes every file).
 *
 * One process at a time may have a database open for writing: a second
 * vex_db_open() on the same directory, from this process or another, fails
 * with VEX_BUSY (an advisory lock on the file LOCK). Any number of
 * read-only opens (vex_db_options.read_only) may exist beside it, in this
 * process or others; see "Read-only opens" below. Files in the directory
 * are untrusted input: damage is reported as VEX_CORRUPT naming the file
 * and byte offset, never a crash.
 *
 * Threading: a vex_db and its collections may be used from any number of
 * threads at once, except that vex_db_close() must not race with any other
 * call on the database or its collections.
 * ------------------------------------------------------------------- */
typedef struct vex_db vex_db;
typedef struct vex_collection vex_collection;

/* When a write is acknowledged (the call returns VEX_OK). */
typedef enum vex_durability {
    /* The write is on disk (fsync) before the call returns; concurrent
     * writers share one fsync (group commit), so throughput grows with the
     * number of writers. The default. */
    VEX_DURABILITY_GROUP = 0,
    /* Every commit is synced on its own: no sharing, one fsync per call. */
    VEX_DURABILITY_FULL = 1,
    /* Nothing is synced until vex_flush() or vex_db_close(): fastest, for
     * bulk loads that can be redone. A crash loses an unspecified suffix of
     * the unsynced writes (whole commits, never parts of one). */
    VEX_DURABILITY_NONE = 2
} vex_durability;

/* What a write does when flushing has fallen behind (see
 * max_frozen_memtables). */
typedef enum vex_write_stall {
    /* Wait until a flush has made room (the default). */
    VEX_STALL_WAIT = 0,
    /* Fail the write with VEX_BUSY at once; nothing is written. */
    VEX_STALL_BUSY = 1
} vex_write_stall;

/* Options of vex_db_open(). Fill with vex_db_options_init(). Except for
 * `create_if_missing`, these are run-time settings, not stored. */
typedef struct vex_db_options {
    uint32_t struct_size;
    /* Create the directory (its parent must exist) and an empty database
     * when `path` does not exist; an existing empty directory is always
     * accepted as a new database. Default 0. */
    int create_if_missing;
    vex_durability durability; /* default VEX_DURABILITY_GROUP */
    /* Threads of each of the database's two worker pools: one runs the
     * parallel part of searches (fan-out over sources, batch search), the
     * other the graph builds of background work (memtable indexing,
     * flushes, compactions) at background priority (nice 10 on Linux, so
     * builds yield the CPU to writers and searches). 0 = the number of
     * online CPUs, at most VEX_MAX_THREADS. Default 0. */
    uint32_t n_threads;
    /* Background threads that index memtables, flush them and compact
     * segments (at background priority), 1..16. Default 2. */
    uint32_t background_threads;
    /* A collection's memtable is frozen (and flushed to a segment in the
     * background) once its vectors, encoded metadata and payloads take
     * this many bytes, 1 MiB .. 64 GiB.
     * Default 64 MiB. */
    uint64_t memtable_bytes;
    /* Frozen memtables of a collection that may wait for their flush
     * before writes stall (write_stall says how), 1..64. Memory of a
     * collection's memtables is bounded by about
     * (max_frozen_memtables + 1) * memtable_bytes. Default 2. */
    uint32_t max_frozen_memtables;
    vex_write_stall write_stall; /* default VEX_STALL_WAIT */
    /* An HNSW collection's memtable is searched exactly up to this many
     * rows; above it, background threads insert its rows into a graph (in
     * steps of 256 or more) and only the rows not yet inserted are
     * searched exactly. Every row is put in a graph by its flush anyway,
     * so a low value costs nothing but keeps the exact part of a search
     * short. 0 = index from the first row; at most 1,000,000. Default
     * 256. */
    uint32_t memtable_exact_rows;
    /* A write-ahead log file is closed and a new one started past this
     * size, 64 KiB .. 1 TiB. Default 64 MiB. */
    uint64_t wal_file_bytes;
    /* Size-tiered compaction. Segments fall in tiers by file size (tier t
     * holds sizes in [4^t, 4^(t+1)) MiB, tier 0 everything below 4 MiB);
     * when a tier holds compact_min_merge segments, the background merges
     * up to compact_max_merge of them (oldest first) into one, dropping
     * deleted and overwritten rows and building a new index. 0 turns
     * automatic merging off; else 2..64. Default 4. */
    uint32_t compact_min_merge;
    /* Most segments one automatic compaction merges, 2..256 and at least
     * compact_min_merge. Default 16. */
    uint32_t compact_max_merge;
    /* A segment whose deleted rows (deleted, overwritten, or dead when it
     * was flushed) reach this percentage of its rows is rewritten on its
     * own to reclaim the space; 0 = never, else 1..100. Default 30. */
    uint32_t compact_deleted_pct;
    /* Bytes of filter match sets (one bit per segment row, per filter
     * used on the segment) the database keeps so that repeated searches
     * with a filter (the same handle, or handles parsed from the same
     * text) evaluate it once per segment; least recently used sets are
     * evicted past it (a freed filter's first), and a segment's go when
     * it is replaced. 0 = keep none (every filtered search evaluates its
     * filter); at most 2^40. Default 64 MiB. */
    uint64_t match_cache_bytes;
    /* Allocator for everything the handle and its collections own; NULL =
     * malloc/free. Copied; `user` must outlive the handle. Default NULL. */
    const vex_allocator *allocator;
    /* 1: closing a collection (its last vex_collection_close, or
     * vex_db_close) first flushes its memtables to segments with their
     * graphs, as vex_flush does, so that the next open maps indexed
     * segments and searches as fast as before the close, with no log to
     * replay. The close then takes as long as that flush: writing the
     * memtables' rows, and inserting into a graph the rows the
     * background had not indexed yet. 0: a fast close that leaves the
     * rows written since the last flush in the log only; the next open
     * replays them into a memtable and searches them exactly until
     * background threads have indexed them again (as after a crash).
     * Either way nothing acknowledged is lost. A read-only handle
     * (read_only) never flushes: it writes nothing. Default 1. */
    int flush_on_close;
    /* 1 = open the database read-only (see "Read-only opens" below): the
     * handle never writes, creates, removes or locks a file, takes no lock
     * (a process holding the database open for writing neither blocks it
     * nor is blocked by it), and every collection it opens is a snapshot
     * as of that open, changed only by vex_collection_refresh(). Every
     * write call on it fails with VEX_READONLY. create_if_missing must
     * then be 0 (else VEX_INVALID). The settings of writes (durability,
     * memtable_bytes, max_frozen_memtables, write_stall, wal_file_bytes,
     * compact_*) are checked but have no use. 0 or 1; default 0. */
    int read_only;
    /* Point-in-time reads: how many manifest versions of each collection
     * a writable handle keeps on disk, the current one included, so that
     * read-only handles can open an older one (vex_collection_open_at).
     * 0 or 1 = the current one only (nothing extra kept). N >= 2 also keeps
     * the N - 1 versions published before it: their manifest files, every
     * segment file one of them names (segments a compaction replaced stay
     * until the last version naming them leaves the window), and the log
     * from the oldest kept version's flush position on. Disk cost: up to
     * N - 1 extra copies of the rows that compactions rewrote meanwhile,
     * plus the log written since that oldest version's flush. A version
     * leaves the window when a publish (flush or compaction) makes it the
     * N-th oldest; opening with a smaller N removes the versions beyond
     * it. 0..1000; default 0. */
    uint32_t manifest_retention;
    /* --- since 0.5.0 --- */
    /* RAM budget, over all DiskANN segments the handle has open, for
     * their node caches: each segment, as it opens, caches the node pages
     * nearest its graph's entry point (the first breadth-first levels,
     * which every search reads) up to half of what is left of the budget,
     * so the first segments do not take it all; a segment's share returns
     * to the budget when it closes. The rest of a DiskANN segment's
     * memory (its navigation codes, key table and page checksums) is not
     * counted here: vex_stats.diskann_resident_bytes reports all of it.
     * 0 = no cache (every node is read from the file); at most 2^40.
     * Default 0. */
    uint64_t diskann_cache_bytes;
} vex_db_options;

/* Fill *opts with the defaults (see "Structs grow" above). */
VEX_API void vex_db_options_init(vex_db_options *opts);
VEX_API void vex_db_options_init_size(vex_db_options *opts, size_t size);
#define vex_db_options_init(opts)                                              \
    vex_db_options_init_size((opts), sizeof *(opts))

/* Open (or create, see create_if_missing) the database in directory
 * `path`. Opening is cheap: collections are loaded when first opened.
 * Leftovers of interrupted operations (a half-created or half-dropped
 * collection) are removed. On VEX_OK *out is a handle owned by the caller
 * (vex_db_close()). On failure *out is still set, when memory allowed, so
 * that vex_db_errmsg() can say why; close it too (*out is NULL only with
 * VEX_NOMEM). Errors: VEX_NOTFOUND (no such directory and no
 * create_if_missing), VEX_BUSY (open elsewhere), VEX_INVALID (bad options,
 * or a non-empty directory that is not a database), VEX_CORRUPT,
 * VEX_UNSUPPORTED (a newer format), I/O errors. */
VEX_API int vex_db_open(const char *path, const vex_db_options *opts,
                        vex_db **out);

/* Close the database: closes every collection handle still open (they
 * must not be used afterwards; see vex_collection_close: each is flushed
 * first unless flush_on_close is 0), stops the
 * background threads and pools, and releases the lock.
 * Returns the first error met while syncing or closing (the handle is
 * freed regardless). NULL is a no-op. */
VEX_API int vex_db_close(vex_db *db);

/* The message of the most recent failed call on the database handle
 * (including vex_collection_create/open/drop/list), or "". Valid until the
 * next call on the handle; vex_db_errmsg_copy() is the thread-safe form. */
VEX_API const char *vex_db_errmsg(const vex_db *db);
VEX_API size_t vex_db_errmsg_copy(const vex_db *db, char *buf, size_t size);

/* ---------------------------------------------------------------------
 * Collections
 * ------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Metadata
 *
 * A record may carry typed metadata: a set of fields, each a name (1..64
 * bytes of UTF-8 without control characters) and a value of one of the
 * types below. Limits: 256 fields, strings of up to 65,536 bytes of valid
 * UTF-8, tags of up to 256 bytes, 1,024 tags and 1 MiB of encoded
 * metadata per record. A collection may declare a schema (see
 * vex_collection_config); then every write is checked against it.
 *
 * vex_meta is a small builder and reader of one record's metadata: fill
 * it with vex_meta_set_*() and pass it to vex_insert_meta() and friends,
 * which copy it (the handle stays the caller's), or let vex_get_meta()
 * fill it. Fields are kept in name order (bytewise); setting a name that
 * is present replaces its value.
 *
 * Threading: a vex_meta belongs to one thread at a time; several threads
 * may read one (vex_meta_count/find/field/tag, and pass it to writes) when
 * none changes it.
 * ------------------------------------------------------------------- */

/* Longest metadata field name, in bytes. */
#define VEX_FIELD_NAME_MAX 64

/* Value types; the numbers are stored on disk and never change. */
typedef enum vex_type {
    VEX_TYPE_NULL = 0,
    VEX_TYPE_BOOL = 1,
    VEX_TYPE_INT = 2, /* int64 */
    VEX_TYPE_DOUBLE = 3,
    VEX_TYPE_STRING = 4,
    VEX_TYPE_TAGS = 5 /* a list of strings */
} vex_type;

/* "null", "bool", "int64", "double", "string", "tags", or "?". */
VEX_API const char *vex_type_name(vex_type t);

/* typedef struct vex_meta vex_meta; (declared with vex_search_params) */

/* Create an empty metadata handle (owned by the caller: vex_meta_free).
 * `alloc` may be NULL (malloc); its `user` must outlive the handle.
 * VEX_NOMEM, VEX_MISUSE (out is NULL), VEX_INVALID (a partial allocator). */
VEX_API int vex_meta_create(const vex_allocator *alloc, vex_meta **out);
VEX_API void vex_meta_free(vex_meta *m); /* NULL: no-op */
/* Remove every field. */
VEX_API void vex_meta_clear(vex_meta *m);

/* Set field `name` (NUL-terminated) to a value, replacing a field of the
 * same name. Strings and tags are copied; `s` is `len` bytes (need not be
 * NUL-terminated), each tag NUL-terminated. Returns VEX_INVALID (with
 * vex_meta_errmsg naming the field) for a bad name, invalid UTF-8, a NaN,
 * or a broken limit; the handle is then unchanged. VEX_NOMEM, VEX_MISUSE
 * for NULL arguments. */
VEX_API int vex_meta_set_null(vex_meta *m, const char *name);
VEX_API int vex_meta_set_bool(vex_meta *m, const char *name, int value);
VEX_API int vex_meta_set_int(vex_meta *m, const char *name, int64_t value);
VEX_API int vex_meta_set_double(vex_meta *m, const char *name, double value);
VEX_API int vex_meta_set_string(vex_meta *m, const char *name, const char *s,
                                size_t len);
VEX_API int vex_meta_set_tags(vex_meta *m, const char *name,
                              const char *const *tags, size_t n_tags);
/* Remove field `name`: VEX_OK, or VEX_NOTFOUND when it is absent. */
VEX_API int vex_meta_remove(vex_meta *m, const char *name);

/* Number of fields. */
VEX_API size_t vex_meta_count(const vex_meta *m);

/* One field as read back. Pointers point into the handle and are valid
 * until it is changed or freed; names and strings are NOT NUL-terminated
 * (use the lengths). Only the member of `type` is meaningful. */
typedef struct vex_field {
    const char *name;
    size_t name_len;
    vex_type type;
    int b;         /* VEX_TYPE_BOOL: 0 or 1 */
    int64_t i;     /* VEX_TYPE_INT */
    double d;      /* VEX_TYPE_DOUBLE */
    const char *s; /* VEX_TYPE_STRING: the bytes */
    size_t len;    /* VEX_TYPE_STRING: their length */
    size_t n_tags; /* VEX_TYPE_TAGS: read each with vex_meta_tag() */
} vex_field;

/* Field number i (0 .. count-1, in name order): VEX_OK, or VEX_NOTFOUND
 * when i is out of range. */
VEX_API int vex_meta_field(const vex_meta *m, size_t i, vex_field *out);
/* The number of field `name` (NUL-terminated) into *i: VEX_OK, or
 * VEX_NOTFOUND. */
VEX_API int vex_meta_find(const vex_meta *m, const char *name, size_t *i);
/* Tag j of tags field i: *p (not NUL-terminated, valid as for vex_field)
 * and *len. VEX_NOTFOUND when i or j is out of range, VEX_INVALID when
 * field i is not a tags field. */
VEX_API int vex_meta_tag(const vex_meta *m, size_t i, size_t j, const char **p,
                         size_t *len);

/* The message of the most recent failed call on the handle, or "". */
VEX_API const char *vex_meta_errmsg(const vex_meta *m);

/* One field of a collection schema (vex_collection_config). */
typedef struct vex_schema_field {
    const char *name; /* NUL-terminated, a valid field name */
    vex_type type;    /* VEX_TYPE_BOOL .. VEX_TYPE_TAGS */
    int nullable;     /* 1: may be absent or null; 0: required */
} vex_schema_field;

/* Longest collection name. Names are 1..64 characters from [A-Za-z0-9_.-]
 * and must not start with '.'; they are used as directory names. */
#define VEX_NAME_MAX 64

/* Compression of a collection's stored metadata columns
 * (vex_collection_config.compression). */
typedef enum vex_compression {
    /* Columns are stored uncompressed (their encodings, dictionaries and
     * bit-packing still make them compact): every build of the library
     * reads the collection. The default. */
    VEX_COMPRESS_NONE = 0,
    /* Each column's value stream is compressed with zstd when that saves
     * at least a tenth. Needs a library built with zstd
     * (vex_features() & VEX_FEATURE_ZSTD): creating such a collection in a
     * build without it is VEX_UNSUPPORTED, and so is opening one, with a
     * message naming zstd. */
    VEX_COMPRESS_ZSTD = 1
} vex_compression;

/* The stored configuration of a collection. Fill with
 * vex_collection_config_init(). Every value is stored in the collection
 * when it is created; adaptive (0) HNSW values are resolved and stored. */
typedef struct vex_collection_config {
    uint32_t struct_size;
    uint32_t dim;      /* required, 1..VEX_MAX_DIM */
    vex_elem elem;     /* default VEX_ELEM_F32 */
    vex_metric metric; /* default VEX_METRIC_L2 */
    /* Index of flushed segments (and of memtables past
     * memtable_exact_rows): VEX_INDEX_HNSW (default) or VEX_INDEX_FLAT. */
    vex_index_kind index_kind;
    /* HNSW parameters as in vex_index_options; 0 = adaptive (resolved
     * with the 1,000,000-vector rule); must be 0 for VEX_INDEX_FLAT. */
    uint32_t hnsw_m;
    uint32_t hnsw_ef_construction;
    uint32_t hnsw_ef_search;
    uint64_t hnsw_seed;
    /* Quantization of segments (float32 only), as in vex_index_options:
     * every segment written by a flush or a compaction trains its own
     * quantizer on its own vectors and stores the codebook and codes next
     * to the full vectors (which stay in the mapped file and are read only
     * to rerank). Memtables always search full vectors. A segment with
     * fewer vectors than its quantizer needs to train (256 for PQ/OPQ,
     * 16 with 4-bit codes) stays unquantized. vex_search_params.refine
     * applies to the quantized segments; it must be 0 for a collection
     * without a quantizer. quant_m, quant_bits and quant_refine are stored
     * resolved (0 = the vex_index_options defaults). Default
     * VEX_QUANT_NONE. */
    vex_quant quant;
    uint32_t quant_m;
    uint32_t quant_bits;
    float quant_refine;
    /* Optional metadata schema: n_schema_fields declarations with distinct
     * names (at most 256), read by vex_collection_create only; NULL and 0
     * (the default) = no schema, any metadata is accepted. With a schema,
     * every write is checked: a declared field must have its type (an
     * int64 is not accepted for a double) or be null/absent when
     * nullable; a required one must be present and not null. With
     * schema_closed = 1, fields the schema does not declare are refused
     * too; 0 (default) allows them, untyped. The schema is stored with the
     * collection. vex_collection_get_config() points schema_fields at the
     * handle's own copy (valid until the collection is closed). */
    const vex_schema_field *schema_fields;
    uint32_t n_schema_fields;
    uint32_t schema_closed; /* 0 or 1 */
    /* --- since 0.3.0 --- */
    /* Compression of the metadata columns segments store
     * (vex_compression; default VEX_COMPRESS_NONE). Stored with the
     * collection and fixed at creation; flushes and compactions write
     * what it says. (Collections written by 0.1 and 0.2 builds with zstd
     * may hold compressed columns under VEX_COMPRESS_NONE: a build with
     * zstd reads them and vex_compact rewrites them uncompressed; a build
     * without zstd refuses those columns when it reads them.) */
    vex_compression compression;
    /* --- since 0.5.0 --- */
    /* DiskANN segments (docs/diskann.md): a compaction whose output
     * holds at least this many live rows (and at least 16) writes a
     * disk-resident segment instead of an in-memory one (a flush writes
     * the memtable's graph as it is, and the compaction policy then
     * rewrites a segment of that size on its own): a Vamana graph with the full
     * vectors in 4 KiB node pages searched from the file, and only
     * product-quantized navigation codes (diskann_pq_m bytes per vector)
     * in memory. Building one needs its vectors in memory; searching
     * needs a few page reads per hop. Float32 L2 and cosine collections
     * only. 1 = every compacted segment; 0 (the default) = never. Memtables
     * keep index_kind, and so do smaller segments. Stored with the collection
     * and fixed at creation, as are the other diskann_ fields. */
    uint64_t diskann_min_rows;
    /* Degree bound of the graph, 4..256; 0 = 64. */
    uint32_t diskann_r;
    /* Candidate list size while building, diskann_r..4096; 0 = 100. */
    uint32_t diskann_l;
    /* Pruning factor of the second build pass, 1..2; 0 = 1.2. */
    float diskann_alpha;
    /* Bytes of navigation code per vector (PQ subquantizers of 8 bits),
     * 1..dim; 0 = ceil(dim / 4). */
    uint32_t diskann_pq_m;
    /* The records' text field and its keyword index (see "Text and hybrid
     * search"): 0 (the default) = none, records carrying a text are
     * refused; 1 = records may carry a text, indexed for BM25. With
     * text = 1: text_stemmer VEX_STEMMER_NONE (default) or
     * VEX_STEMMER_PORTER (English), and text_stopwords 1 to leave English
     * stop words out of the index (default 0); both must be 0 without a
     * text field. All three are stored with the collection and fixed at
     * creation. */
    uint32_t text;
    uint32_t text_stemmer;
    uint32_t text_stopwords;
} vex_collection_config;

/* vex_collection_config.text_stemmer values. */
#define VEX_STEMMER_NONE   0u
#define VEX_STEMMER_PORTER 1u

/* Fill *cfg with the defaults (see "Structs grow" above). */
VEX_API void vex_collection_config_init(vex_collection_config *cfg);
VEX_API void vex_collection_config_init_size(vex_collection_config *cfg,
                                             size_t size);
#define vex_collection_config_init(cfg)                                        \
    vex_collection_config_init_size((cfg), sizeof *(cfg))

/* Create collection `name` with configuration `cfg` (durably: when this
 * returns VEX_OK the collection survives a crash). On VEX_OK *out (if not
 * NULL) is an open handle to it, as from vex_collection_open(). Errors in
 * the database's message: VEX_EXISTS, VEX_INVALID (bad name or config),
 * I/O errors. */
VEX_API int vex_collection_create(vex_db *db, const char *name,
                                  const vex_collection_config *cfg,
                                  vex_collection **out);

/* Open collection `name`: loads its manifest, maps its segments (reading
 * only their headers and id lists, so this is fast whatever their size)
 * and replays its write-ahead log. Each segment's index is verified
 * (checksum and graph invariants, O(segment size)) before it is used in
 * place: a background thread starts on that at once, and a search or get
 * that needs an index before it is done waits for, or does, that work. Opening
 * an already open collection returns the same handle again (each open needs its
 * own vex_collection_close()). Errors: VEX_NOTFOUND, VEX_CORRUPT (naming file
 * and offset), VEX_UNSUPPORTED, I/O errors; *out is NULL on failure. */
VEX_API int vex_collection_open(vex_db *db, const char *name,
                                vex_collection **out);

/* Get or create: open collection `name` if it exists, else create it
 * with `cfg` (as vex_collection_create), in one step. `cfg` is checked
 * either way (VEX_INVALID for a bad one). When the collection exists, its
 * stored configuration must match what `cfg` asks for, else VEX_INVALID
 * with a message naming the first difference ("collection \"docs\" exists
 * with dim 384, asked for 768"); nothing is opened then. Compared:
 *   always            dim, elem, metric, index_kind, quant (the values
 *                     vex_collection_config_init gives count as asked:
 *                     an HNSW request does not open a flat collection);
 *   when non-zero     hnsw_m, hnsw_ef_construction, hnsw_ef_search,
 *                     hnsw_seed, quant_m, quant_bits, quant_refine,
 *                     compression, text (0 = adaptive or default
 *                     matches whatever was resolved or stored; a
 *                     non-zero text compares text_stemmer and
 *                     text_stopwords too);
 *   when declared     the schema (n_schema_fields > 0): the same fields
 *                     as a set (name, type, nullable, in any order) and
 *                     the same schema_closed; with n_schema_fields = 0 any
 *                     schema, or none, is accepted.
 * On VEX_OK *out is an open handle (close it with vex_collection_close)
 * and *created (if not NULL) is 1 when this call created the collection,
 * 0 when it opened an existing one. Threads racing on one name are
 * serialised by the database handle: exactly one creates, the others open
 * (and compare). Errors as for vex_collection_create and
 * vex_collection_open, in the database's message; *out is NULL on
 * failure. */
VEX_API int vex_collection_open_or_create(vex_db *db, const char *name,
                                          const vex_collection_config *cfg,
                                          vex_collection **out, int *created);

/* Release one open of the handle. The last release first flushes the
 * memtables to segments with their graphs (vex_db_options.flush_on_close,
 * the default), so that the next open searches at full speed at once;
 * then it stops the collection's background work (a compaction in
 * progress is abandoned between two steps of its graph build, before it
 * writes a file: its rows are still in the old segments, and the next
 * open starts it again), waits for it, syncs the log and frees the
 * handle. A collection in the sticky error state is not flushed. Returns
 * the first error of the flush, sync or close (the handle is freed
 * regardless; a failed flush loses nothing: the rows stay in the log and
 * are replayed by the next open). NULL is a no-op. Must not race with
 * other calls on the same handle. */
VEX_API int vex_collection_close(vex_collection *c);

/* Delete collection `name` and all its data, durably. VEX_BUSY while it is
 * open; VEX_NOTFOUND when there is none. */
VEX_API int vex_collection_drop(vex_db *db, const char *name);

/* Call fn(ctx, name) for every collection, in name order. A non-zero
 * return from fn stops the listing and is returned. `name` is valid during
 * the call only. */
VEX_API int vex_collection_list(vex_db *db,
                                int (*fn)(void *ctx, const char *name),
                                void *ctx);

/* The collection's stored configuration (resolved values) into `out`,
 * written as far as `size` bytes (the macro passes sizeof *out), with
 * struct_size set to it. */
VEX_API void vex_collection_get_config(const vex_collection *c,
                                       vex_collection_config *out);
VEX_API void vex_collection_get_config_size(const vex_collection *c,
                                            vex_collection_config *out,
                                            size_t size);
#define vex_collection_get_config(c, out)                                      \
    vex_collection_get_config_size((c), (out), sizeof *(out))

/* Rows (live records) in the collection. */
VEX_API uint64_t vex_collection_count(vex_collection *c);

/* The message of the most recent failed call on the collection handle,
 * or ""; _copy is the thread-safe form. */
VEX_API const char *vex_collection_errmsg(const vex_collection *c);
VEX_API size_t vex_collection_errmsg_copy(const vex_collection *c, char *buf,
                                          size_t size);

/* ---------------------------------------------------------------------
 * Read-only opens
 *
 * vex_db_open() with vex_db_options.read_only = 1 opens a database that
 * another handle or process may hold open for writing (or none does),
 * without disturbing it: the reader takes no lock and never writes,
 * creates, renames or removes a byte (no LOCK, no recovery, no log
 * truncation, no removal of leftovers, no flush or compaction), so the
 * writer neither waits for it nor notices it. The database must exist
 * (VEX_NOTFOUND otherwise).
 *
 * vex_collection_open() on a read-only database loads a consistent
 * snapshot: the collection's current manifest, its segments, and its
 * write-ahead log up to the last complete record (a record the writer is
 * appending is not included). That is the state after some prefix of the
 * writer's commits, never a mix: every commit is in it whole or not at
 * all. Should the writer publish a new manifest (and delete the files of
 * the old one) while the reader loads, the load starts again from the new
 * one; after 32 such attempts in a row it fails with VEX_BUSY. A segment,
 * once loaded, stays readable even after the writer deletes its file
 * (its mapping and open file keep the data), so searches never fail
 * because of the writer. Records replayed from the log are held (and
 * indexed, by the background threads) in the reader's memory, which
 * grows with the part of the log the writer has not flushed yet.
 *
 * The snapshot changes only on vex_collection_refresh(). Every write on a
 * read-only handle (vex_insert and the other record writes, batch
 * commits, vex_flush, vex_compact, vex_collection_create, _drop) fails
 * with VEX_READONLY and a message; nothing is logged.
 *
 * Caveats: under VEX_DURABILITY_NONE the writer's unsynced commits are
 * visible to readers, and a crash of the writer may then lose commits a
 * reader saw. A collection dropped and created again under the same name
 * is a different collection: refresh reports VEX_NOTFOUND; open it again.
 * ------------------------------------------------------------------- */

/* Move a read-only handle to the newest snapshot on disk: the log records
 * appended since (applied in place, cheap), or, when the writer has
 * published a new manifest since, a new snapshot loaded as by
 * vex_collection_open() (segments mapped again; their indexes are
 * verified again in the background, as after an open). Searches and gets
 * already running finish on the snapshot they started on; later calls see
 * the new one. `changed` (may be NULL) is set to 1 when the handle now
 * reads a newer state (new commits or a new manifest), else 0. On failure
 * the handle keeps its earlier snapshot, still usable, and the message
 * says why: VEX_NOTFOUND (the collection was dropped), VEX_BUSY (the
 * writer kept publishing; retry), VEX_CORRUPT, I/O errors, VEX_NOMEM.
 * On a writable handle (which always reads its latest writes) it does
 * nothing and returns VEX_OK with *changed = 0. Thread-safe: refreshes of
 * one handle run one at a time, alongside its searches and gets. */
VEX_API int vex_collection_refresh(vex_collection *c, int *changed);

/* ---------------------------------------------------------------------
 * Point-in-time reads (time travel)
 *
 * Each flush or compaction publishes a new manifest version of a
 * collection, numbered upwards. With vex_db_options.manifest_retention = N
 * the writer keeps the last N versions, and a read-only handle can open
 * any of them: the collection exactly as it was when that version was
 * published (every commit up to its as_of_seq: records deleted by then are
 * absent, overwritten ones have the vector and metadata they had then).
 * ------------------------------------------------------------------- */

/* One kept version of a collection. */
typedef struct vex_version_info {
    uint64_t version;      /* the manifest number (MANIFEST-<16 hex>) */
    uint64_t as_of_seq;    /* the last commit it contains (its log
                              sequence number; 0: none, the empty
                              collection) */
    uint64_t flushed_seq;  /* commits up to here are in its segments */
    uint64_t publish_unix; /* when it was published, Unix seconds; 0 for
                              a version written before point-in-time reads
                              existed, which vex_collection_open_at
                              refuses */
    uint32_t segments;     /* segment files it names */
    uint64_t segment_rows; /* live rows of those segments (the log after
                              flushed_seq adds or removes some) */
    int current;           /* 1 for the version CURRENT names */
} vex_version_info;

/* Call fn(ctx, info) for every version of collection `name` kept on disk,
 * oldest first (the current one last). A non-zero return from fn stops
 * the listing and is returned. `info` is valid during the call only.
 * Works on read-only and writable handles; reads only. A version that the
 * writer removes while this lists is skipped. Errors in the database's
 * message: VEX_NOTFOUND (no such collection), VEX_CORRUPT, I/O errors. */
VEX_API int vex_collection_versions(vex_db *db, const char *name,
                                    int (*fn)(void *ctx,
                                              const vex_version_info *info),
                                    void *ctx);

/* Open collection `name` as it was at `version` (a number from
 * vex_collection_versions), on a read-only database only (VEX_MISUSE
 * otherwise). *out is a new handle of its own (each call makes one; close
 * it with vex_collection_close; vex_collection_open of the same name
 * returns another handle, at the current state) that reads the version's
 * segments and replays the log up to its as_of_seq. It never changes:
 * vex_collection_refresh on it is VEX_MISUSE, writes are VEX_READONLY.
 * Errors in the database's message: VEX_NOTFOUND (no such collection, or
 * a version not kept, or one that left the retention window while it was
 * being opened), VEX_UNSUPPORTED (a version written before point-in-time
 * reads), VEX_CORRUPT, I/O errors; *out is NULL on failure. */
VEX_API int vex_collection_open_at(vex_db *db, const char *name,
                                   uint64_t version, vex_collection **out);

/* ---------------------------------------------------------------------
 * Records
 *
 * A record is a 64-bit id chosen by the caller and a vector of
 * vex_vector_size(elem, dim) bytes. Vectors are validated as for
 * vex_index_add() (finite components, non-zero under cosine, zero padding
 * bits). Each call below is one atomic, durable commit (see
 * vex_durability).
 *
 * Sticky errors: when writing or syncing the log fails, the outcome of
 * that commit on disk is unknown; the collection then refuses every later
 * write with the same status and message until it is closed and opened
 * again (reads keep working). A failed flush also makes the handle
 * sticky when the failure leaves the on-disk state unknown.
 * ------------------------------------------------------------------- */

/* Add a record; VEX_EXISTS if the id is present. */
VEX_API int vex_insert(vex_collection *c, uint64_t id, const void *vector);
/* Add a record or replace the vector of an existing one. */
VEX_API int vex_upsert(vex_collection *c, uint64_t id, const void *vector);
/* Delete a record; VEX_NOTFOUND if the id is absent (nothing is logged). */
VEX_API int vex_delete(vex_collection *c, uint64_t id);
/* Copy the record's vector to `vector_out`; VEX_NOTFOUND if absent. */
VEX_API int vex_get(vex_collection *c, uint64_t id, void *vector_out);

/* Writes with metadata. `meta` (may be NULL: no metadata) is copied; the
 * handle stays the caller's and may be reused at once. The record's
 * metadata is replaced as a whole: an upsert (with or without metadata)
 * leaves exactly the metadata it gives. With a schema, the metadata is
 * checked in the calling thread before anything is logged: VEX_INVALID,
 * with a message naming the field ("insert of id 7: metadata: field
 * \"year\": expected int64, got string"). vex_insert()/vex_upsert() are the
 * same calls with NULL metadata (so a schema with required fields
 * refuses them). Thread-safe, as vex_insert(). */
VEX_API int vex_insert_meta(vex_collection *c, uint64_t id, const void *vector,
                            const vex_meta *meta);
VEX_API int vex_upsert_meta(vex_collection *c, uint64_t id, const void *vector,
                            const vex_meta *meta);
/* Replace the metadata of an existing record and keep its vector and
 * payload (the caller passes neither; the log record carries both).
 * VEX_NOTFOUND if the id is absent (nothing is logged). */
VEX_API int vex_update_meta(vex_collection *c, uint64_t id,
                            const vex_meta *meta);
/* Replace the contents of `out` (a handle the caller created) with a copy
 * of the record's metadata (no fields when it has none); VEX_NOTFOUND if
 * the id is absent (out is then cleared). Reads a snapshot, like
 * vex_get(). Thread-safe. VEX_CORRUPT (file and offset) when a segment's
 * stored metadata is damaged. */
VEX_API int vex_get_meta(vex_collection *c, uint64_t id, vex_meta *out);

/* ---------------------------------------------------------------------
 * Records with payloads, and bulk writes from arrays
 *
 * A record may carry a PAYLOAD: an opaque byte string of
 * 1..VEX_MAX_PAYLOAD bytes (document text, a JSON blob, a file path),
 * stored in the log and in segments next to the vector (not in the
 * metadata columns: filters cannot see it) and read back with
 * vex_get_payload(). Length 0 means "no payload".
 *
 * Semantics: an insert or upsert writes the WHOLE record: vector,
 * metadata and payload; an upsert without a payload leaves the record
 * without one (vex_upsert, vex_upsert_meta included). vex_update_meta()
 * and vex_batch_update_meta() replace only the metadata and keep the
 * vector AND the payload (they are logged with both, so the log record
 * of a metadata update grows by the payload's size).
 * ------------------------------------------------------------------- */

/* One record to write. Initialise with vex_record_init() (which sets
 * struct_size and zeroes the rest), then fill in the fields. Pointers are
 * only read during the call (everything is copied). */
typedef struct vex_record {
    uint32_t struct_size;
    uint64_t id;
    const void *vector;   /* vex_vector_size(elem, dim) bytes; required */
    const vex_meta *meta; /* NULL: no metadata */
    const void *payload;  /* payload_len bytes; NULL only with length 0 */
    size_t payload_len;   /* 0..VEX_MAX_PAYLOAD; 0: no payload */
    /* --- since 0.5.0 --- */
    /* The record's text (valid UTF-8, text_len bytes, at most
     * VEX_MAX_TEXT; NULL only with length 0; 0: no text): collections
     * with a text field only (vex_collection_config.text). */
    const char *text;
    size_t text_len;
} vex_record;

/* Longest text of one record (bytes). */
#define VEX_MAX_TEXT (1u << 20)

/* Fill *r with the defaults (see "Structs grow" above). */
VEX_API void vex_record_init(vex_record *r);
VEX_API void vex_record_init_size(vex_record *r, size_t size);
#define vex_record_init(r) vex_record_init_size((r), sizeof *(r))

/* Insert (VEX_EXISTS if the id is present) or upsert one record with its
 * metadata and payload, as one atomic, durable commit (as vex_insert_meta
 * and vex_upsert_meta). VEX_INVALID, with a message, for a payload longer
 * than VEX_MAX_PAYLOAD, a NULL payload with a non-zero length, a bad
 * vector or metadata that the schema refuses; VEX_MISUSE for a NULL
 * record or vector or a wrong struct_size. Thread-safe, as vex_insert. */
VEX_API int vex_insert_record(vex_collection *c, const vex_record *r);
VEX_API int vex_upsert_record(vex_collection *c, const vex_record *r);

/* Copy the payload of record `id` to buf: min(cap, length) bytes, and the
 * full length to *len (so a caller can call with cap 0 to size a buffer;
 * buf may be NULL when cap is 0). A record without a payload: VEX_OK and
 * *len 0. VEX_NOTFOUND if the id is absent (*len 0). Reads a snapshot,
 * like vex_get(). Thread-safe. VEX_CORRUPT (file and offset) when a
 * segment's stored payloads are damaged. */
VEX_API int vex_get_payload(vex_collection *c, uint64_t id, void *buf,
                            size_t cap, size_t *len);

/* Copy the text of record `id` to buf, as vex_get_payload copies a
 * payload: min(cap, length) bytes (no NUL is added) and the full length
 * to *len; a record without a text: VEX_OK and *len 0. VEX_NOTFOUND if
 * the id is absent (*len 0). Reads a snapshot, like vex_get().
 * Thread-safe. VEX_CORRUPT when a segment's stored texts are damaged. */
VEX_API int vex_get_text(vex_collection *c, uint64_t id, char *buf, size_t cap,
                         size_t *len);

/* A payload of vex_insert_many()/vex_upsert_many(): len 0 = none. */
typedef struct vex_payload {
    const void *data;
    size_t len;
} vex_payload;

/* Write n records from arrays: ids[i], the vector at
 * (const char *)vectors + i * vex_vector_size(elem, dim) (an n x dim
 * row-major array), metas (NULL, or n handles of which any may be NULL)
 * and payloads (NULL, or n entries of which any may have len 0).
 *
 * Everything is checked first, in the calling thread, before anything is
 * written: NULL arrays (ids and vectors are required; n 0 is VEX_OK with
 * nothing written), each vector, each payload (length, NULL data), each
 * metadata record against the schema, and for vex_insert_many an id
 * repeated within the call or already present; a failure is VEX_INVALID
 * (VEX_EXISTS for an existing id, VEX_MISUSE for NULL arrays) with a
 * message naming the record's index and id ("record 537 (id 1537):
 * metadata: field \"year\": expected int64, got string"), and nothing
 * is written.
 *
 * Then the records are committed in order in CHUNKS, each one atomic and
 * durable like a vex_batch_commit() of at most VEX_BATCH_MAX_BYTES of
 * operations; the whole call is NOT atomic. *n_done (may be NULL) is set
 * to the number of records committed: on VEX_OK n, on a failure midway
 * (an I/O error, or a concurrent writer inserting one of the ids between
 * the check and its chunk) the records [0, *n_done) are written and the
 * rest are not. Within vex_upsert_many a repeated id is allowed: the
 * later record wins. Thread-safe, as vex_insert. */
VEX_API int vex_insert_many(vex_collection *c, size_t n, const uint64_t *ids,
                            const void *vectors, const vex_meta *const *metas,
                            const vex_payload *payloads, size_t *n_done);
VEX_API int vex_upsert_many(vex_collection *c, size_t n, const uint64_t *ids,
                            const void *vectors, const vex_meta *const *metas,
                            const vex_payload *payloads, size_t *n_done);
/* As vex_insert_many and vex_upsert_many, with texts (NULL, or n entries
 * of which any may have len 0: no text; each valid UTF-8 of at most
 * VEX_MAX_TEXT bytes, checked in the first pass like the payloads) on a
 * collection with a text field. */
VEX_API int vex_insert_many_text(vex_collection *c, size_t n,
                                 const uint64_t *ids, const void *vectors,
                                 const vex_meta *const *metas,
                                 const vex_payload *payloads,
                                 const vex_payload *texts, size_t *n_done);
VEX_API int vex_upsert_many_text(vex_collection *c, size_t n,
                                 const uint64_t *ids, const void *vectors,
                                 const vex_meta *const *metas,
                                 const vex_payload *payloads,
                                 const vex_payload *texts, size_t *n_done);

/* A write batch: operations collected in memory and committed atomically
 * (all or none, also across a crash) by vex_batch_commit(). A batch
 * belongs to the thread using it; it may be committed to any collection
 * with its dimension and element type, and reused after commit or clear. */
typedef struct vex_batch vex_batch;

/* Create an empty batch for vectors of `vector_size` bytes (as
 * vex_vector_size() gives). `alloc` may be NULL (malloc). */
VEX_API int vex_batch_create(size_t vector_size, const vex_allocator *alloc,
                             vex_batch **out);
VEX_API void vex_batch_free(vex_batch *b);
/* Queue an operation; the vector is copied. Returns VEX_NOMEM, VEX_FULL
 * when the batch has no room for it (see "Limits" below), or VEX_MISUSE
 * for NULL arguments. Validation happens at commit.
 *
 * Limits: a batch holds at most VEX_BATCH_MAX_BYTES (16 MiB) of
 * operations, each counted as its log encoding: 16 bytes (24 with a
 * payload), plus the vector (puts and metadata updates), the encoded
 * metadata and the payload. That is 1,023 rows at dim 4096 float32
 * (16 KiB + 16 bytes each), about 16,000 at dim 256. An operation that
 * does not fit returns VEX_FULL, leaves the batch as it was, and sets
 * the batch's message ("batch is full: ... commit it and start another,
 * or use vex_insert_many"); a record is at most VEX_MAX_PAYLOAD of
 * payload and VEX_MAX_META_BYTES of metadata, so every single operation
 * fits in an empty batch. */
VEX_API int vex_batch_insert(vex_batch *b, uint64_t id, const void *vector);
VEX_API int vex_batch_upsert(vex_batch *b, uint64_t id, const void *vector);
VEX_API int vex_batch_delete(vex_batch *b, uint64_t id);
/* As vex_insert_meta/vex_upsert_meta/vex_update_meta, queued: the
 * metadata is copied into the batch (NULL: none); the schema is checked
 * at commit, where a violation fails the commit with the operation's
 * index and id in the message. */
VEX_API int vex_batch_insert_meta(vex_batch *b, uint64_t id, const void *vector,
                                  const vex_meta *meta);
VEX_API int vex_batch_upsert_meta(vex_batch *b, uint64_t id, const void *vector,
                                  const vex_meta *meta);
VEX_API int vex_batch_update_meta(vex_batch *b, uint64_t id,
                                  const vex_meta *meta);
/* As vex_insert_record/vex_upsert_record, queued (the payload is
 * copied). VEX_INVALID for a payload longer than VEX_MAX_PAYLOAD or a
 * NULL payload with a non-zero length, VEX_MISUSE for a NULL record or
 * vector or a wrong struct_size (with the batch's message). */
VEX_API int vex_batch_insert_record(vex_batch *b, const vex_record *r);
VEX_API int vex_batch_upsert_record(vex_batch *b, const vex_record *r);
/* The message of the batch's most recent failed call (the queueing
 * calls above: a full batch, a bad payload, out of memory), or "" (valid
 * until the next call on the batch). A failed vex_batch_commit() is a
 * call on the collection: its message, naming the operation's index and
 * id, is in vex_collection_errmsg(), and the batch is left unchanged. */
VEX_API const char *vex_batch_errmsg(const vex_batch *b);
/* Number of queued operations. */
VEX_API size_t vex_batch_count(const vex_batch *b);
/* Drop every queued operation (memory is kept for reuse). */
VEX_API void vex_batch_clear(vex_batch *b);

/* Apply the batch's operations in order as one atomic commit. They are
 * checked in order against the collection as it is when the commit runs
 * (an insert of an id inserted earlier in the batch is VEX_EXISTS, a
 * delete of an id deleted earlier is VEX_NOTFOUND); if any fails, nothing
 * is applied and the message names the operation's index and id. The
 * batch is left unchanged either way. At most VEX_BATCH_MAX_BYTES of
 * operations (vex_batch_insert and friends refuse more). Its metadata
 * updates are logged with the record's current vector and payload: when
 * that makes the commit's log record larger than 32 MiB the commit fails
 * with VEX_FULL (commit fewer metadata updates at a time). */
VEX_API int vex_batch_commit(vex_collection *c, const vex_batch *b);

/* Freeze the memtable and write every frozen memtable to a segment file,
 * publish them in the manifest and discard the log they cover; returns
 * when that is done (it runs on the calling thread, alongside searches
 * and writes, which go to a new memtable). Also makes every earlier write
 * durable under VEX_DURABILITY_NONE. A no-op when nothing was written
 * since the last flush. Thread-safe. */
VEX_API int vex_flush(vex_collection *c);

/* Merge every segment of the collection into one, dropping deleted and
 * overwritten rows and building a fresh index for it, and publish the
 * result in one manifest step; the replaced files are removed once no
 * search uses them. Runs on the calling thread, alongside searches and
 * writes; waits for a background compaction of the collection that is
 * running. Does not flush the memtable first (call vex_flush). A no-op
 * when there is no segment, or one without deleted rows. Thread-safe. */
VEX_API int vex_compact(vex_collection *c);

/* Statistics of a collection, as of one moment. */
typedef struct vex_stats {
    uint32_t struct_size;
    uint64_t live_rows;        /* records (as vex_collection_count) */
    uint64_t deleted_rows;     /* segment rows deleted or overwritten, or dead
                                  when flushed: space compaction reclaims */
    uint64_t memtable_rows;    /* rows in memtables, ended ones included */
    uint64_t memtable_bytes;   /* memory held by memtables and their graphs */
    uint32_t memtables;        /* active + frozen */
    uint32_t frozen_memtables; /* waiting for their flush */
    uint64_t unindexed_rows;   /* memtable rows not yet in a graph (searched
                                  exactly); 0 for flat collections */
    uint32_t segments;
    uint64_t segment_rows;  /* rows stored in segments, deleted included */
    uint64_t segment_bytes; /* sum of segment file sizes */
    uint64_t disk_bytes;    /* every file of the collection: segments,
                               manifest, log */
    uint64_t last_seq;      /* of the last applied write */
    uint64_t flushed_seq;   /* writes up to here are in segments */
    uint64_t flushes, compactions; /* completed since the handle opened */
    uint64_t compacted_rows;       /* rows written by those compactions */
    uint64_t write_stalls;         /* writes that waited or got VEX_BUSY */
    /* payload bytes held by memtables and segments, ended and dead rows'
     * included (what memtable_bytes and segment_bytes spend on them) */
    uint64_t payload_bytes;
    /* --- since 0.5.0 --- */
    uint32_t diskann_segments; /* segments of kind VEX_INDEX_DISKANN */
    /* Memory those segments hold: navigation codes, key tables, page
     * checksums, node caches (vex_db_options.diskann_cache_bytes). A
     * segment opens its index on first use, when the background warms it
     * after an open, or here (reading its in-memory parts); a damaged one
     * counts 0 (the searches that need it report the damage). */
    uint64_t diskann_resident_bytes;
    uint64_t diskann_cache_bytes; /* the node caches' part of it */
    /* The flush and the compaction running now, background or called:
     * rows of the segment being built that are in its index so far, of
     * all its rows (a DiskANN compaction reports 0 until its graph is
     * written); 0 and 0 when none runs. Read from another thread while
     * vex_flush or vex_compact runs, they show its progress (`vex flush`
     * and `vex compact` draw it on a terminal). The rest of the work
     * (writing the file, reading the input segments) is not counted. */
    uint64_t flush_rows_done, flush_rows_total;
    uint64_t compact_rows_done, compact_rows_total;
} vex_stats;

/* One segment, for vex_stats_segments(). */
typedef struct vex_segment_stats {
    uint64_t number; /* file number: seg-<16 hex digits>.vseg */
    uint64_t rows;   /* rows stored (keys), dead and deleted included */
    uint64_t live_rows;
    uint64_t file_bytes;
    vex_index_kind index_kind;
} vex_segment_stats;

/* Fill *st with the defaults (see "Structs grow" above). */
VEX_API void vex_stats_init(vex_stats *st);
VEX_API void vex_stats_init_size(vex_stats *st, size_t size);
#define vex_stats_init(st) vex_stats_init_size((st), sizeof *(st))

/* Fill `st` (initialised with vex_stats_init) for collection `c`.
 * Thread-safe; takes no lock a writer holds for long; disk_bytes comes
 * from listing the collection's directory. */
VEX_API int vex_stats_get(vex_collection *c, vex_stats *st);

/* The collection's segments, oldest first: writes min(cap, count) entries
 * to out[] and the count to *n. Thread-safe. */
VEX_API int vex_stats_segments(vex_collection *c, vex_segment_stats *out,
                               size_t cap, size_t *n);

/* ---------------------------------------------------------------------
 * Text and hybrid search (since 0.5.0)
 *
 * A collection created with vex_collection_config.text = 1 (and
 * optionally text_stemmer, text_stopwords) gives each record an optional
 * text (vex_record.text, vex_batch_*_record, vex_*_many_text), stored in
 * the log, the memtables and the segments like a payload and indexed for
 * BM25 keyword search. An upsert writes the whole record: without a text
 * the record has none afterwards; vex_update_meta keeps it. Read it back
 * with vex_get_text, or with a hit (VEX_WITH_TEXT).
 *
 * Analysis is SQLite FTS5's `unicode61` tokenizer with `remove_diacritics
 * 2`: tokens are runs of letters, numbers and private-use code points,
 * case-folded, Latin diacritics removed ("Crème" -> "creme"); then,
 * as configured, English stop words dropped and the Porter stemmer
 * applied. A text that is not valid UTF-8 is VEX_INVALID naming the byte.
 *
 * Scores are BM25 as FTS5's bm25() computes them (the negated value),
 * with k1 and b from vex_search_params, over the live records of the
 * search's snapshot: the document count, mean length and each term's
 * document frequency are those of every memtable and segment together,
 * deleted and overwritten rows excluded, so a record's score does not
 * depend on how the rows happen to be split into segments, nor on
 * deletes not yet compacted away. Each segment keeps compressed postings
 * with per-block maxima, searched by block-max WAND: exact top-k.
 *
 * Searching: set vex_search_params.text. With a NULL query vector,
 * vex_search returns the k best records by BM25, `distance` = -score
 * (smaller is better, as everywhere); records that hold no query term
 * are never returned. With a vector too, both legs run on the same
 * snapshot (each for text_candidates results) and are fused
 * (params.fusion): `distance` = -fused score. params.where and
 * params.filter apply to both legs (a filter never changes the BM25
 * statistics, as in a filtered SQL query). vex_search_stats says which
 * legs ran and how many postings the keyword leg read and skipped.
 * Not available: vex_search_batch, vex_range_search (VEX_INVALID).
 * ------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Search
 * ------------------------------------------------------------------- */

/* The k nearest records to `query` over the memtables and every segment,
 * with deletes and overwrites applied, as of one moment: the search works
 * on a snapshot (the collection's memtables, segments and last applied
 * write when it starts) and sees every write acknowledged before it
 * started and none that were applied after; it takes no lock a writer,
 * flush or compaction holds, and never waits for them. `params` as for
 * vex_index_search() (NULL for defaults; ef_search applies to HNSW
 * segments and memtables). params.n_threads: 1 = search on the calling
 * thread only; 0 = the database's pool (n_threads of vex_db_options); N =
 * at most N threads. With more than one thread, a collection of two or
 * more sources of 20,000+ rows (memtables and segments) searches them in
 * parallel and merges the top k; smaller ones stay on the calling thread
 * (a hand-off would cost more than it saves). Writes *n_hits <= k hits
 * nearest first (ties by id) to hits[0..k). When `vectors_out` is not
 * NULL it receives each hit's vector (k * vector-size bytes of room).
 * Thread-safe: any number of threads may search one collection at once.
 * Allocates only when k > 256 or the sources x k exceed a stack buffer.
 * vectors_out and params.meta_out are the older form of projections:
 * vex_search_results (below) returns the same hits with their vectors,
 * metadata and payloads in one reusable vex_results handle. */
VEX_API int vex_search(vex_collection *c, const void *query, size_t k,
                       const vex_search_params *params, vex_hit *hits,
                       void *vectors_out, size_t *n_hits);

/* k nearest records for each of `n_queries` queries (stored back to back,
 * vector-size bytes each), all on one snapshot: queries are spread over
 * params.n_threads threads of the database's pool (as vex_search), each
 * searched over every source. Query i's hits go to hits[i * k ..] and
 * their count to n_hits[i]. A query that fails validation fails the call
 * before anything is searched (the message names its index). Thread-safe.
 * Allocates k hits of scratch per thread. */
VEX_API int vex_search_batch(vex_collection *c, const void *queries,
                             size_t n_queries, size_t k,
                             const vex_search_params *params, vex_hit *hits,
                             size_t *n_hits);

/* ---------------------------------------------------------------------
 * Results sets: projected search and range search
 *
 * A vex_results handle holds the hits of one search and, as the caller
 * asks with `with`, each hit's vector, metadata and payload, all read
 * from the same snapshot as the hits (a record updated, overwritten or
 * deleted after the search started does not show through). It replaces
 * vex_search's vectors_out and params.meta_out (the older form, kept
 * working): no vex_meta handle per hit and no call per field, and one
 * handle serves any number of searches. It is what the Python binding
 * and the CLI read.
 *
 * Ownership: the handle is the caller's (vex_results_free). Everything
 * an accessor returns (the hit array, vectors, metadata views, payload
 * bytes) is owned by the handle and valid until the next search into it,
 * or vex_results_free. Memory: buffers grow to the largest search seen
 * and are kept, so searching again into the same handle allocates
 * nothing once it has held a search as large (same k or limit, metadata
 * and payloads no bigger); the allocator is the one given at creation.
 *
 * Threading: a handle belongs to one thread at a time (a search writes
 * it; accessors only read it, so several threads may read it at once
 * while no search writes it). Use one handle per searching thread.
 * ------------------------------------------------------------------- */

typedef struct vex_results vex_results;

/* Projections (the `with` argument): besides ids and distances, which
 * every hit has. */
#define VEX_WITH_VECTOR  1u /* the hit's vector (vex_results_vector) */
#define VEX_WITH_META    2u /* its metadata (vex_results_meta / _field) */
#define VEX_WITH_PAYLOAD 4u /* its payload bytes (vex_results_payload) */
#define VEX_WITH_TEXT    8u /* its text (vex_results_text); since 0.5.0 */
#define VEX_WITH_ALL                                                           \
    (VEX_WITH_VECTOR | VEX_WITH_META | VEX_WITH_PAYLOAD | VEX_WITH_TEXT)

/* A new, empty results set, owned by the caller (vex_results_free).
 * `alloc` may be NULL (malloc); its `user` must outlive the handle.
 * VEX_NOMEM, VEX_MISUSE (out is NULL), VEX_INVALID (a partial
 * allocator). */
VEX_API int vex_results_create(const vex_allocator *alloc, vex_results **out);
VEX_API void vex_results_free(vex_results *r); /* NULL: no-op */

/* The k nearest records to `query`, as vex_search (the same hits, in the
 * same order, with the same params: NULL for defaults; params.stats is
 * filled; params.meta_out must be NULL: ask for VEX_WITH_META instead),
 * into `r` with the projections in `with` (0: ids and distances only).
 * On failure `r` holds no hits (count 0). Errors in vex_collection_errmsg:
 * VEX_MISUSE (NULL c, query or r), VEX_INVALID (unknown bits in `with`,
 * k, params or query as vex_search), VEX_NOMEM (r could not grow),
 * VEX_CORRUPT (a segment's row could not be read). Thread-safe on the
 * collection; `r` as above. Allocates only what vex_search does, plus
 * the growth of `r`. */
VEX_API int vex_search_results(vex_collection *c, const void *query, size_t k,
                               const vex_search_params *params, unsigned with,
                               vex_results *r);

/* Range (threshold) search: every record within `radius` of `query`
 * (distance <= radius, in the metric's distance as listed at the top of
 * this file: squared for L2, negative for IP), nearest first (ties by
 * id), with deletes and overwrites applied on one snapshot, filtered by
 * params.where or params.filter as vex_search, at most `limit`
 * (1..VEX_MAX_K) of them, into `r` with the projections in `with`.
 *
 * More than `limit` within the radius: `r` holds the nearest `limit` and
 * vex_results_truncated(r) is 1 (0 otherwise): search again with a
 * larger limit or a smaller radius for the rest. (The search looks for
 * limit + 1 to tell; with limit == VEX_MAX_K it cannot look further and
 * reports 1 whenever VEX_MAX_K records are found.)
 *
 * Exactness: a flat collection, a memtable below memtable_exact_rows and
 * a source whose filter plan is exact (see "Filtered search" below)
 * return exactly the records within the radius. A graph (HNSW) source is
 * approximate, as vex_index_range_search: the records within the radius
 * among the nearest max(ef_search, limit + 1) that a graph search finds,
 * so a radius holding more records than ef_search reaches may miss some;
 * raise params.ef_search (or limit) for recall. Each source is planned
 * as a k-NN search of k = limit + 1 (the plans and fallbacks of
 * "Filtered search" below), then cut at the radius.
 *
 * Errors as vex_search_results, plus VEX_INVALID for a NaN radius, a
 * negative radius with a metric whose distances are never negative (all
 * but IP), and limit 0 or above VEX_MAX_K. Cost: that of a k-NN search
 * with k = limit + 1, so keep `limit` near what you need. */
VEX_API int vex_range_search(vex_collection *c, const void *query, float radius,
                             size_t limit, const vex_search_params *params,
                             unsigned with, vex_results *r);

/* Hits held (0 for a new handle or after a failed search). */
VEX_API size_t vex_results_count(const vex_results *r);
/* The hits, nearest first: vex_results_count(r) of them (NULL when 0). */
VEX_API const vex_hit *vex_results_hits(const vex_results *r);
/* 1 when the last range search had more records within its radius than
 * its limit (see vex_range_search); 0 otherwise and after k-NN. */
VEX_API int vex_results_truncated(const vex_results *r);
/* Hit i's vector (vector-size bytes, aligned for its element type), or
 * NULL when i is out of range or VEX_WITH_VECTOR was not asked for. */
VEX_API const void *vex_results_vector(const vex_results *r, size_t i);
/* Hit i's metadata as a read-only view, read with vex_meta_count,
 * vex_meta_field, vex_meta_find and vex_meta_tag (a record without
 * metadata gives a view of 0 fields), or NULL when i is out of range or
 * VEX_WITH_META was not asked for. Owned by r: never pass it to
 * vex_meta_free or a vex_meta_set_ function. */
VEX_API const vex_meta *vex_results_meta(const vex_results *r, size_t i);
/* Field `name` (NUL-terminated) of hit i into *out (pointers valid as for
 * vex_results_meta): VEX_OK; VEX_NOTFOUND when the record has no such
 * field or i is out of range; VEX_MISUSE when VEX_WITH_META was not asked
 * for or an argument is NULL. Tags: read them with vex_meta_tag on
 * vex_results_meta(r, i) and the field number from vex_meta_find. */
VEX_API int vex_results_field(const vex_results *r, size_t i, const char *name,
                              vex_field *out);
/* Hit i's payload: *p and *len (*p NULL and *len 0 when the record has
 * none). VEX_OK; VEX_NOTFOUND when i is out of range; VEX_MISUSE when
 * VEX_WITH_PAYLOAD was not asked for or an argument is NULL. */
VEX_API int vex_results_payload(const vex_results *r, size_t i, const void **p,
                                size_t *len);
/* Hit i's text: *p (not NUL-terminated) and *len (*p NULL and *len 0 when
 * the record has none). VEX_OK; VEX_NOTFOUND when i is out of range;
 * VEX_MISUSE when VEX_WITH_TEXT was not asked for or an argument is
 * NULL. */
VEX_API int vex_results_text(const vex_results *r, size_t i, const char **p,
                             size_t *len);

/* ---------------------------------------------------------------------
 * Filtered search and scan
 *
 * A filter is text in the language of docs/FILTERS.md (string literals
 * take single quotes; double quotes name a field), e.g.
 * ```filter
 * year >= 2020 AND lang IN ('en', 'de') AND NOT tags CONTAINS 'draft'
 * ```
 * compiled once per collection (type-checked against its schema, if it
 * has one) and used by any number of searches and scans at once.
 *
 * Evaluation. Memtable rows are tested directly against their metadata
 * (three-valued: a condition on a missing or null field, or on a value of
 * another type, is not a match). For each segment, the filter's match set
 * (a bitmap of the rows it matches) is built the first time the filter
 * handle meets the segment, from the segment's metadata columns, and kept
 * in the database's match cache (vex_db_options.match_cache_bytes), keyed
 * by the filter's canonical text (vex_filter_print): a handle parsed anew
 * for every query reuses the set an earlier handle of the same filter
 * built. vex_filter_free makes a handle's sets the first to be evicted;
 * a segment's sets go when a compaction replaces it. Deletes are
 * applied as candidates are checked. A plan is chosen per source, the
 * same way for memtables and segments, from its rows n, the matches m
 * among them (deleted ones included, so m is an estimate; a memtable does
 * not count them) and whether it has a graph:
 *   exact  no graph (a flat index, a memtable not yet indexed), or
 *          m <= 4096, or scoring the m matches costs less than the
 *          walk: m * m <= 32 * ef * n, with ef the search's ef_search
 *          (at least k); e.g. up to 14% of 100k rows at ef 64 and 4.5%
 *          of 1M: the exact distance to every matching row;
 *   post   m >= 90% of n: a graph search for enough extra
 *          candidates, then the non-matching ones dropped;
 *   graph  otherwise (and always for an indexed memtable): a graph walk
 *          that passes through non-matching rows and returns only
 *          matching ones, with a beam of ef * n / m entries (within
 *          filter_max_ef, default 16 x ef), so that about ef of them
 *          match: ef_search means the same at every selectivity.
 * The rule sees only m, n and ef. Each segment's match set also records
 * what its filtered walks cost (distances, and how many fell back, as
 * below); after 16 walks a filter whose walks cost more than scanning
 * its matches (one whose matches lie apart from where the queries land,
 * for instance) is answered exactly on that segment from then on.
 * A graph or post plan that finds fewer than min(k, m) results (k for a
 * memtable) is redone exactly, a fallback: so k results come back
 * whenever at least k records match. Reuse one vex_filter for repeated
 * searches: a new handle costs one pass over every segment's metadata on
 * first use. Once a handle's match sets are cached, a filtered search
 * allocates only what vex_search does, plus a candidate list for post
 * plans wider than 256 and one vector for vectors over 16 KiB.
 * ------------------------------------------------------------------- */

/* Compile filter `text` (NUL-terminated UTF-8) for collection `c`. On
 * VEX_OK *out is a handle owned by the caller (vex_filter_free), usable
 * with this collection (and others of the same schema) from any thread;
 * it may outlive the collection but not the database. VEX_INVALID with a
 * message in vex_collection_errmsg giving the byte offset ("filter: at
 * offset 12: expected a value, found ')'") for a syntax error, a limit,
 * or a field or literal the schema does not allow; VEX_NOMEM. */
VEX_API int vex_filter_parse(vex_collection *c, const char *text,
                             vex_filter **out);
VEX_API void vex_filter_free(vex_filter *f); /* NULL: no-op */
/* The filter's canonical text, as snprintf: at most size - 1 bytes and a
 * NUL when size > 0; returns the full length. */
VEX_API size_t vex_filter_print(const vex_filter *f, char *buf, size_t size);

/* ---- The filter builder: the same filters from C, without text ----
 *
 * A builder owns the expressions made with it (field names and strings
 * are copied in); expressions may be shared by several parents. A
 * constructor given a bad argument (an unknown value type, a NULL, a list
 * too long) or out of memory returns NULL, and the builder remembers the
 * first failure: every constructor given a NULL expression returns NULL
 * too, and vex_filter_build reports that failure. One builder belongs to
 * one thread at a time; it may build any number of filters. */
typedef struct vex_filter_builder vex_filter_builder;
typedef struct vex_expr vex_expr;

/* A literal: the member of `type` is read (VEX_TYPE_BOOL, INT, DOUBLE or
 * STRING; `s` is `len` bytes, not necessarily NUL-terminated). */
typedef struct vex_value {
    vex_type type;
    int b;
    int64_t i;
    double d;
    const char *s;
    size_t len;
} vex_value;

typedef enum vex_cmp_op {
    VEX_CMP_EQ = 0,
    VEX_CMP_NE = 1,
    VEX_CMP_LT = 2,
    VEX_CMP_LE = 3,
    VEX_CMP_GT = 4,
    VEX_CMP_GE = 5
} vex_cmp_op;

/* `alloc` may be NULL (malloc). VEX_NOMEM, VEX_MISUSE, VEX_INVALID. */
VEX_API int vex_filter_builder_create(const vex_allocator *alloc,
                                      vex_filter_builder **out);
VEX_API void vex_filter_builder_free(vex_filter_builder *b); /* NULL: no-op */

/* field <op> v (bools only with EQ and NE). `field` is NUL-terminated. */
VEX_API vex_expr *vex_expr_cmp(vex_filter_builder *b, const char *field,
                               vex_cmp_op op, vex_value v);
/* field IN (v[0..n)) or, with `negate`, NOT IN; 1..1024 values, all
 * numbers, all strings or all bools. */
VEX_API vex_expr *vex_expr_in(vex_filter_builder *b, const char *field,
                              const vex_value *v, size_t n, int negate);
/* lo <= field <= hi; both numbers or both strings. */
VEX_API vex_expr *vex_expr_between(vex_filter_builder *b, const char *field,
                                   vex_value lo, vex_value hi);
/* Tags field CONTAINS tags[0] (n == 1, all == 0), CONTAINS ANY (all == 0)
 * or CONTAINS ALL (all == 1) of 1..1024 NUL-terminated tags. */
VEX_API vex_expr *vex_expr_contains(vex_filter_builder *b, const char *field,
                                    const char *const *tags, size_t n, int all);
/* field IS NULL (absent or null) or, with `negate`, IS NOT NULL. */
VEX_API vex_expr *vex_expr_is_null(vex_filter_builder *b, const char *field,
                                   int negate);
/* x AND y, x OR y, NOT x. */
VEX_API vex_expr *vex_expr_and(vex_filter_builder *b, vex_expr *x, vex_expr *y);
VEX_API vex_expr *vex_expr_or(vex_filter_builder *b, vex_expr *x, vex_expr *y);
VEX_API vex_expr *vex_expr_not(vex_filter_builder *b, vex_expr *x);

/* Compile `root` for collection `c` as vex_filter_parse compiles text
 * (type-checked against its schema; the same filter as the equivalent
 * text: vex_filter_print gives the same canonical text). The builder is
 * left usable and keeps owning `root`. Errors in vex_collection_errmsg:
 * the builder's first failure, a type error naming the field, VEX_NOMEM. */
VEX_API int vex_filter_build(vex_collection *c, vex_filter_builder *b,
                             const vex_expr *root, vex_filter **out);

/* The plan a source ran (vex_source_explain.plan). */
typedef enum vex_plan {
    VEX_PLAN_UNFILTERED = 0, /* no filter: the index walk, and the rows it
                                does not reach (a memtable's unindexed
                                tail) exactly */
    VEX_PLAN_EXACT = 1,      /* exact distances to the matching rows */
    VEX_PLAN_GRAPH = 2,      /* a graph walk through non-matching rows */
    VEX_PLAN_POST = 3        /* a graph walk for extra candidates, the
                                non-matching ones dropped */
} vex_plan;

/* How one source (a memtable or a segment) of a search ran: an entry of
 * vex_search_stats.explain. */
typedef struct vex_source_explain {
    const char *kind; /* "memtable" or "segment" (a static string) */
    uint64_t segment; /* a segment's file number; 0 for a memtable */
    uint64_t rows;    /* rows the source holds, deleted ones included */
    int searched;     /* 0: it held no rows (then nothing below is set) */
    int plan;         /* vex_plan */
    int fell_back;    /* a graph or post plan redone exactly */
    int has_graph;    /* an index graph reaches (some of) its rows */
    /* why this plan, in words, e.g. "filter matches 35 of 20000 rows
     * (<= 4096): exact" */
    char reason[160];
    /* the planner's estimate of matching rows (the match set's count,
     * deleted rows included), or UINT64_MAX when not counted (no filter,
     * or a memtable, which tests rows as it meets them) */
    uint64_t est_matches;
    /* matching rows the plan found: an exact pass's visible matches, a
     * graph walk's matching hits, a post plan's matching candidates;
     * UINT64_MAX when not counted (no filter; a memtable's exact pass) */
    uint64_t matches;
    uint64_t distances;     /* distances computed (vectors or codes) */
    uint64_t nodes_visited; /* graph nodes a walk expanded */
    uint64_t rows_scanned;  /* rows exact passes examined */
    uint64_t time_ns;       /* time spent on this source */
} vex_source_explain;

/* How a collection search ran (vex_search_params.stats). */
struct vex_search_stats {
    uint32_t struct_size;
    uint32_t sources;          /* memtables and segments searched */
    uint64_t rows_matched;     /* segment rows the filter matched */
    uint32_t plan_exact;       /* sources searched with the exact plan (a
                                  memtable: scanned without its graph) */
    uint32_t plan_graph;       /* ... with the graph plan (a memtable: its
                                  graph walk, and its unindexed tail exactly) */
    uint32_t plan_post;        /* segments searched with the post plan */
    uint32_t fallbacks;        /* graph or post plans redone exactly (see
                                  above), counted besides their plan, for
                                  memtables and segments alike */
    uint32_t match_sets_built; /* segments on which this search evaluated
                                  the filter over every row, because its
                                  match set was not in the database's
                                  cache (vex_db_options.match_cache_bytes);
                                  the others reused a cached set */
    /* Fields the filter (params.where) names that the collection does not
     * know: the schema, if any, does not declare them, and no record of
     * the searched snapshot has (or had: deleted and overwritten rows
     * count) a field of that name, in any memtable row or segment column.
     * Every condition on such a field sees it missing (so only IS NULL can
     * be true): a typo or a field never written, which a tool can warn
     * about. With a closed schema this is always 0 (vex_filter_parse
     * refuses undeclared fields). The number of distinct such fields, and
     * the first of them in the filter's canonical order (NUL-terminated,
     * "" when none). Costs one probe of each memtable's name set and a
     * look at each segment's column names per field of the filter. */
    uint32_t unknown_fields;
    char unknown_field[VEX_FIELD_NAME_MAX + 1];
    /* Explain (0.4.0): set these two after vex_search_stats_init to get
     * one vex_source_explain per source of the search's snapshot
     * (memtables newest first, then segments), written to
     * explain[0 .. min(n_explain, explain_cap)); the array is the
     * caller's and only borrowed during the call. Counting the work
     * costs a few additions per node or row; NULL (the default) costs
     * nothing. vex_search, vex_search_results and vex_range_search. */
    vex_source_explain *explain;
    uint32_t explain_cap;
    /* out: the snapshot's sources (entries beyond explain_cap are not
     * written) */
    uint32_t n_explain;
    /* --- since 0.5.0 --- */
    /* DiskANN segments: reads submitted (a node spanning several pages is
     * one read), 4 KiB pages and bytes they read, and pages served from
     * the node cache instead. 0 when no DiskANN segment was searched. */
    uint64_t io_reads;
    uint64_t io_pages;
    uint64_t io_bytes;
    uint64_t io_cache_hits;
    /* The legs that ran: VEX_LEG_VECTOR and/or VEX_LEG_TEXT (params.text
     * set). And the keyword leg's work (0 without it): postings decoded,
     * postings of the query terms skipped without decoding (block-max
     * WAND), documents fully scored, the live documents of the snapshot
     * (BM25's N) and each leg's results before fusion. */
    uint32_t legs;
    uint64_t postings_read;
    uint64_t postings_skipped;
    uint64_t text_docs_scored;
    uint64_t text_docs;
    uint32_t vector_hits;
    uint32_t text_hits;
};

/* vex_search_stats.legs bits. */
#define VEX_LEG_VECTOR 1u
#define VEX_LEG_TEXT   2u

/* Fill *st with the defaults (see "Structs grow" above). */
VEX_API void vex_search_stats_init(vex_search_stats *st);
VEX_API void vex_search_stats_init_size(vex_search_stats *st, size_t size);
#define vex_search_stats_init(st) vex_search_stats_init_size((st), sizeof *(st))

/* Call fn(ctx, id, meta) for every record of a snapshot of `c` that
 * `where` matches (NULL: every record), memtables first, then segments
 * (ids in no particular order). `meta` is the record's metadata, valid
 * during the call only. A non-zero return from fn stops the scan and is
 * returned. fn must not write to `c`. Thread-safe. VEX_CORRUPT when a
 * segment's metadata is damaged. */
VEX_API int vex_scan(vex_collection *c, const vex_filter *where,
                     int (*fn)(void *ctx, uint64_t id, const vex_meta *meta),
                     void *ctx);

/* ---------------------------------------------------------------------
 * Delete and count by filter
 * ------------------------------------------------------------------- */

/* Number of records of a snapshot of `c` that `where` matches (NULL:
 * every record), into *count: the records vex_scan would visit at the
 * same moment, counted without copying their metadata. Thread-safe; takes
 * no lock a writer holds. VEX_MISUSE (count NULL), VEX_CORRUPT when a
 * segment's metadata is damaged. */
VEX_API int vex_count_where(vex_collection *c, const vex_filter *where,
                            uint64_t *count);

/* Delete every record `where` matches, as ONE atomic, durable commit (one
 * log record of ordinary deletes: all or none, also across a crash, and
 * durable as vex_batch_commit under the database's durability mode);
 * *n_deleted (if not NULL) receives the number deleted, 0 when nothing
 * matched (then nothing is logged and VEX_OK is returned).
 *
 * Which records: the filter is evaluated by the write leader inside the
 * collection's write critical section, after every write acknowledged
 * before the call started and before any write that starts after it
 * returns. So the deleted set is exactly the matches at the commit's
 * sequence number. A write racing with the call is ordered wholly before
 * it or wholly after it, never in between: an insert or upsert applied
 * before is deleted if its record then matches; one applied after is kept
 * (an upsert of a deleted id re-creates it); a vex_update_meta or
 * vex_delete applied after, of a record the call deleted, gets
 * VEX_NOTFOUND. A record deleted here is never half deleted (its rows in
 * memtables and segments end at the same sequence number). Writers queued
 * behind the call wait while the filter is evaluated (a pass over the
 * memtables' rows and each segment's match set, built once and cached as
 * for searches); searches and gets never wait, and a snapshot taken
 * before the commit keeps seeing the deleted records.
 *
 * Limit: one commit holds at most 4,194,303 deletes (a log record is at
 * most 64 MiB, 16 bytes per delete); when more records match, nothing is
 * deleted and VEX_FULL says so: narrow the filter and call again.
 * Errors: VEX_MISUSE (where NULL: use vex_collection_drop to delete every
 * record; a filter of another database), VEX_FULL, VEX_NOMEM, VEX_CORRUPT
 * (damaged segment metadata), the sticky log errors of vex_insert. The
 * filter handle stays the caller's. Thread-safe, as vex_insert. */
VEX_API int vex_delete_where(vex_collection *c, const vex_filter *where,
                             uint64_t *n_deleted);
/* As vex_delete_where with filter text compiled by vex_filter_parse:
 * VEX_MISUSE for NULL text, VEX_INVALID (with the offset) for a syntax
 * error or empty text; nothing is deleted then. */
VEX_API int vex_delete_where_text(vex_collection *c, const char *where,
                                  uint64_t *n_deleted);

/* ---------------------------------------------------------------------
 * Verify, dump and backup
 *
 * Tools for operators, behind `vex verify`, `vex dump` and `vex backup`.
 * vex_db_verify reads every file of a database and checks everything
 * that can be checked about it; vex_dump_file lists one file for a human
 * (a bug report, a debugging session); vex_backup writes a consistent
 * copy of a database that another handle may be writing to. All three
 * read the database as a read-only open does ("Read-only opens" above):
 * they take no lock and never write, create, rename or remove anything
 * in it, so they work beside a process that holds it open for writing,
 * which neither waits for them nor notices them. Files are untrusted
 * input: damage is reported, never a crash.
 * ------------------------------------------------------------------- */

/* How serious a finding is. */
typedef enum vex_severity {
    /* A fact: a file that was checked and what it holds (reported only
     * with vex_verify_options.report_info). */
    VEX_SEVERITY_INFO = 0,
    /* Not damage, worth knowing: a torn tail of the last log file (a
     * crash cut an append short, or a writer is appending), a leftover
     * file that the next writable open removes, live graph nodes that no
     * search can reach. */
    VEX_SEVERITY_WARNING = 1,
    /* Damage: a file or record that fails a checksum or a rule, so that
     * an open, a search or a read of it would fail (VEX_CORRUPT), or a
     * file this library cannot read (VEX_UNSUPPORTED), or one it could
     * not read at all (I/O errors). */
    VEX_SEVERITY_ERROR = 2
} vex_severity;

/* vex_finding.offset when the finding is not about a byte of a file. */
#define VEX_NO_OFFSET UINT64_MAX

/* One finding of vex_db_verify. Every pointer is valid during the
 * callback only (copy what you keep). */
typedef struct vex_finding {
    vex_severity severity;
    int status; /* VEX_CORRUPT, VEX_UNSUPPORTED, VEX_IOERR, ...; VEX_OK for
                   warnings and facts */
    const char *collection; /* its name, or "" for the database's own files */
    /* The file, relative to the database directory, '/'-separated
     * ("collections/docs/seg-000000000000002a.vseg", "VEXDB"), or "" */
    const char *file;
    /* The byte offset in `file` where the damage was found (a record's,
     * section's or field's first byte), or VEX_NO_OFFSET */
    uint64_t offset;
    const char *message; /* what is wrong, in English, one line */
} vex_finding;

/* Called once per finding, in the order found. A non-zero return stops
 * the verification and is returned by vex_db_verify. */
typedef int (*vex_finding_fn)(void *ctx, const vex_finding *f);

/* Options of vex_db_verify. Fill with vex_verify_options_init(). */
typedef struct vex_verify_options {
    uint32_t struct_size;
    /* Check only this collection (NUL-terminated name); NULL = the
     * database's marker and every collection. Default NULL. */
    const char *collection;
    /* Where findings go; NULL = nowhere (the report still counts them).
     * Called on the calling thread. Default NULL. */
    vex_finding_fn on_finding;
    void *ctx; /* passed to on_finding, owned by the caller */
    /* 1 = also report INFO findings (one per file checked, with what it
     * holds); 0 = warnings and errors only. Default 0. */
    int report_info;
    /* Allocator for the verification's own memory; NULL = malloc/free.
     * Default NULL. */
    const vex_allocator *allocator;
} vex_verify_options;

/* What vex_db_verify saw. Fill with vex_verify_report_init(). */
typedef struct vex_verify_report {
    uint32_t struct_size;
    uint64_t errors;      /* ERROR findings */
    uint64_t warnings;    /* WARNING findings */
    uint64_t collections; /* collections checked */
    uint64_t files;       /* files read */
    uint64_t bytes;       /* bytes read */
    uint64_t manifests;   /* manifest files checked (current and kept) */
    uint64_t segments;    /* segment files checked */
    uint64_t log_files;   /* write-ahead log files checked */
    uint64_t log_records; /* log records checked */
    uint64_t rows;        /* segment keys checked (ids, key maps, vectors) */
    uint64_t graph_nodes; /* HNSW nodes whose links were checked */
    uint64_t graph_links; /* HNSW level-0 links checked */
} vex_verify_report;

/* Fill *opts with the defaults (see "Structs grow" above). */
VEX_API void vex_verify_options_init(vex_verify_options *opts);
VEX_API void vex_verify_options_init_size(vex_verify_options *opts,
                                          size_t size);
#define vex_verify_options_init(opts)                                          \
    vex_verify_options_init_size((opts), sizeof *(opts))
/* Fill *r with the defaults (see "Structs grow" above). */
VEX_API void vex_verify_report_init(vex_verify_report *r);
VEX_API void vex_verify_report_init_size(vex_verify_report *r, size_t size);
#define vex_verify_report_init(r) vex_verify_report_init_size((r), sizeof *(r))

/* Check the database in directory `path` without opening it: the format
 * marker (VEXDB); for each collection (or only opts->collection) its
 * CURRENT, every manifest file (the current one and those kept for
 * point-in-time reads: checksum and every field rule), every segment
 * file (header, section table, every section's checksum, the id, row-key
 * and key-id maps, payload offsets, the metadata columns decoded
 * strictly, the index blob with every vector and, for HNSW, every graph
 * invariant: link targets in range, not free, not the node itself, not
 * repeated, of a high enough level, link counts within the level's
 * bound, levels, entry point, unique live ids; that the index holds
 * exactly the segment's keys; that the segment matches its manifest
 * entry and holds every id the manifest lists as deleted), and every
 * write-ahead log file (header, every record's checksums and sequence
 * number, every operation decoded and checked as replay checks it, and
 * that the log continues where the manifest's segments end). Segment
 * files no manifest names are leftovers (a WARNING; the next writable
 * open removes them), checked all the same.
 *
 * Every problem is one finding passed to opts->on_finding, naming the
 * collection, the file and the byte offset; verification goes on after
 * damage, so one run reports every damaged file (within a file, what the
 * first failed check hides cannot be checked). A database that a writer
 * changes meanwhile is read like a read-only open reads it: when a
 * collection's CURRENT moves while it is checked (a flush or compaction
 * removed files), its findings are dropped and it is checked again, up
 * to 32 times (then VEX_BUSY). Reads only.
 *
 * `opts` may be NULL (defaults); `report` may be NULL, else it is filled
 * (initialise it with vex_verify_report_init). Returns VEX_OK when there
 * is no ERROR finding, else the status of the first one (VEX_CORRUPT for
 * damage); also VEX_NOTFOUND (no such directory, or no such collection,
 * reported as a finding too), VEX_MISUSE (path NULL, a bad struct_size),
 * VEX_NOMEM, VEX_BUSY, or the callback's non-zero return. Thread-safe:
 * calls share nothing. Cost: one read of every byte of the database. */
VEX_API int vex_db_verify(const char *path, const vex_verify_options *opts,
                          vex_verify_report *report);

/* Options of vex_dump_file. Fill with vex_dump_options_init(). */
typedef struct vex_dump_options {
    uint32_t struct_size;
    /* Entries listed per list (ids, log records, deleted ids, columns,
     * segments); the rest are counted ("... 9990 more"). 0 = all.
     * Default 16. */
    uint64_t max_items;
    /* Allocator; NULL = malloc/free. Default NULL. */
    const vex_allocator *allocator;
} vex_dump_options;

/* Fill *opts with the defaults (see "Structs grow" above). */
VEX_API void vex_dump_options_init(vex_dump_options *opts);
VEX_API void vex_dump_options_init_size(vex_dump_options *opts, size_t size);
#define vex_dump_options_init(opts)                                            \
    vex_dump_options_init_size((opts), sizeof *(opts))

/* List the file `path` for a human: a database marker (VEXDB), a CURRENT,
 * a manifest (header, configuration, every segment with its deleted ids,
 * the schema's size, the history block), a segment file (header, section
 * table with each checksum checked, ids and their keys, metadata columns,
 * payload sizes, the index blob's header and sections) or a write-ahead
 * log file (header, then every record: offset, sequence number, sizes,
 * checksums, and its operations: kind, id, metadata and payload sizes,
 * when the collection's manifest two directories up gives the vector
 * size). The kind comes from the file's first bytes (its magic), not its
 * name. Each line (NUL-terminated, without a newline, valid during the
 * call only) goes to fn(ctx, line); a non-zero return stops the listing
 * and is returned. Damage ends the listing of the part it is in with a
 * line "damage: <what> at offset N"; the rest of the file is still listed
 * where its structure can still be found.
 *
 * Returns VEX_OK when the file is intact, VEX_CORRUPT when damage was
 * found (each described by a "damage:" line), VEX_UNSUPPORTED when the
 * file is not one of the kinds above or has a part this build cannot read
 * (a newer format version, an unknown section kind), VEX_NOTFOUND, I/O
 * errors, VEX_NOMEM (each of these described by a line starting
 * "error: "), VEX_MISUSE (NULL path or fn, a bad struct_size: no line).
 * Reads only; the file may belong to a database another process has
 * open. Thread-safe. */
VEX_API int vex_dump_file(const char *path, const vex_dump_options *opts,
                          int (*fn)(void *ctx, const char *line), void *ctx);

/* Options of vex_backup. Fill with vex_backup_options_init(). */
typedef struct vex_backup_options {
    uint32_t struct_size;
    /* 1 = hard-link segment files into the copy where the file system
     * allows it (segments are never modified, so a link is as good as a
     * copy against everything but damage to the disk itself), copying
     * the others; 0 = copy every byte. Manifests and logs are always
     * written anew. Default 0. */
    int hard_link;
    /* 1 = check the finished copy with vex_db_verify before it is put in
     * place, and fail (VEX_CORRUPT, leaving nothing at dest) when it finds
     * damage; 0 = do not. Default 1. */
    int verify;
    /* Called on the calling thread as the copy grows (about every MiB,
     * and once at the end) with the bytes copied or linked so far and an
     * estimate of the total (the segment and log files of every
     * collection when the backup started; at least `done`; the last
     * call has done = total), for a progress display. A non-zero return stops
     * the backup, removes the partial copy and is returned. NULL = none.
     * Default NULL. */
    int (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx; /* passed to progress, owned by the caller */
} vex_backup_options;

/* What vex_backup copied. */
typedef struct vex_backup_report {
    uint32_t struct_size;
    uint64_t collections;
    uint64_t segments;    /* segment files copied or linked */
    uint64_t linked;      /* of which hard-linked */
    uint64_t bytes;       /* bytes written (links count 0) */
    uint64_t log_records; /* log records copied */
} vex_backup_report;

/* Fill *opts with the defaults (see "Structs grow" above). */
VEX_API void vex_backup_options_init(vex_backup_options *opts);
VEX_API void vex_backup_options_init_size(vex_backup_options *opts,
                                          size_t size);
#define vex_backup_options_init(opts)                                          \
    vex_backup_options_init_size((opts), sizeof *(opts))
/* Fill *r with the defaults (see "Structs grow" above). */
VEX_API void vex_backup_report_init(vex_backup_report *r);
VEX_API void vex_backup_report_init_size(vex_backup_report *r, size_t size);
#define vex_backup_report_init(r) vex_backup_report_init_size((r), sizeof *(r))

/* Write a consistent copy of database `db` (open read-only or for
 * writing, by this process or beside another) to the new directory
 * `dest`, which must not exist (VEX_EXISTS) and whose parent must. Each
 * collection is copied as of one moment while writers keep writing:
 * the manifest CURRENT names, exactly the segment files it names (copied,
 * or hard-linked, see hard_link), and the log records after its
 * flushed_seq up to the last complete record at the time of the copy,
 * cut at a record boundary, into a new manifest and log naming exactly
 * that; so the copy holds, per collection, every commit up to some
 * sequence number and none after it. When a writer publishes meanwhile
 * (removing files the copy needs) the collection is copied again, up to
 * 32 times (then VEX_BUSY). Collections are copied one after another, so
 * two collections may be copied as of different moments. Kept manifest
 * versions (manifest_retention) are not copied: the copy holds the
 * current one. Under VEX_DURABILITY_NONE the copy may hold commits the
 * writer had not synced yet.
 *
 * The copy is built in `dest` + ".partial", synced, verified (see
 * opts->verify) and renamed to `dest` at the end: on any failure nothing
 * is left at dest and the partial directory is removed (a ".partial"
 * left by a crash is refused with VEX_EXISTS: remove it). Nothing in the
 * source is written. Errors in vex_db_errmsg(db): VEX_EXISTS, VEX_NOTFOUND
 * (dest's parent), VEX_CORRUPT (damage in a file being copied, or found
 * by the verification, naming file and offset), VEX_BUSY, I/O errors
 * (VEX_FULL for a full disk), VEX_NOMEM, VEX_MISUSE (NULL db or dest, a
 * bad struct_size). `opts` may be NULL (defaults); `report` may be NULL.
 * Thread-safe with every other call on db (it reads files only). */
VEX_API int vex_backup(vex_db *db, const char *dest,
                       const vex_backup_options *opts,
                       vex_backup_report *report);

/* ---------------------------------------------------------------------
 * Observability: metrics, the log hook, health
 *
 * docs/observability.md lists every metric and log event. Metrics are
 * counted by the threads that do the work (relaxed atomics in each open
 * collection, no lock on the search path) and read on demand; they start
 * at zero when a collection handle opens and go with its last close.
 * ------------------------------------------------------------------- */

/* The database's metrics in the Prometheus text exposition format
 * (version 0.0.4): a # HELP and a # TYPE line per metric family, then
 * one line per series, labelled db="<the path given to vex_db_open>"
 * and, for per-collection series, collection="<name>" (plus plan, kind
 * or part where the family says); histograms as cumulative _bucket
 * series with le="..." (log-spaced: 1 microsecond times powers of two
 * for times in seconds, powers of two for counts, then "+Inf"), _sum and
 * _count. Covers every collection open at the moment of the call.
 *
 * On VEX_OK *text is a NUL-terminated string of *len bytes (len may be
 * NULL) allocated with the database's allocator, owned by the caller,
 * who frees it with vex_metrics_free(db, text) before closing db.
 * Errors: VEX_MISUSE (NULL db or text), VEX_NOMEM. Thread-safe: reads
 * counters without stopping searches or writes, so series may be a few
 * events apart from each other. Costs one snapshot and one listing of
 * the directory per collection (for bytes on disk). */
VEX_API int vex_metrics_text(vex_db *db, char **text, size_t *len);

/* Free a string vex_metrics_text returned (NULL: no-op). */
VEX_API void vex_metrics_free(vex_db *db, char *text);

/* Levels of log messages, most severe first. */
typedef enum vex_log_level {
    VEX_LOG_ERROR = 0,   /* a background job failed (once per failure);
                            vex_flush or vex_compact failed; a collection
                            did not open because a file is damaged */
    VEX_LOG_WARNING = 1, /* degraded: a collection became read-only until
                            reopened, a write stalled, a best-effort
                            cleanup failed, a damaged segment or a torn
                            log tail was found */
    VEX_LOG_INFO = 2,    /* background work: flushes and compactions
                            starting and finishing (rows, bytes, times),
                            collections recovered, retries succeeding */
    VEX_LOG_DEBUG = 3    /* details: memtable indexing rounds */
} vex_log_level;

/* The name of a level ("error", "warning", "info", "debug"), or "?". */
VEX_API const char *vex_log_level_name(int level);

/* A log hook: `collection` is the collection's name, or NULL for the
 * database; `message` is one line of text without a newline. Both are
 * valid during the call only. */
typedef void (*vex_log_fn)(void *ctx, int level, const char *collection,
                           const char *message);

/* Set the database's log hook: fn(ctx, ...) is called for every event of
 * `level` or a more severe one (fn NULL: no hook, the default). Events
 * come from background threads, and from the calling thread of the call
 * that caused them (vex_flush, vex_compact, opening a collection, a
 * stalled write); the hook is called with a lock of its own held, so
 * calls never overlap and, once vex_db_set_log returns, the previous
 * hook is never called again. The hook must be quick and must not call
 * any function of this database (a deadlock) or block for long (a
 * background job waits for it). Nothing is logged per search or per
 * write at INFO or above. Errors: VEX_MISUSE (NULL db), VEX_INVALID (a
 * level out of range). Thread-safe. */
VEX_API int vex_db_set_log(vex_db *db, vex_log_fn fn, void *ctx, int level);

/* Longest message in vex_health, with its NUL. */
#define VEX_HEALTH_MSG_MAX 512

/* The database's health (vex_db_health). */
typedef struct vex_health {
    uint32_t struct_size;
    /* 1 when any of sticky_collections, disk_full, flush_failing or
     * compaction_failing is non-zero: the database is up but needs
     * attention (free space, then reopen the sticky collections). */
    int degraded;
    /* Open collections in the sticky error state: they refuse writes
     * until reopened (see vex_collection_open); sticky_message is the
     * first one's reason, sticky_collection its name. */
    uint32_t sticky_collections;
    /* 1 when the latest background failure was VEX_FULL (disk full) and
     * no background job has succeeded since. */
    int disk_full;
    /* Open collections whose latest flush failed (their frozen memtables
     * wait; writes stall when too many wait). */
    uint32_t flush_failing;
    /* Open collections whose automatic compaction is paused after a
     * failure (until their next successful flush). */
    uint32_t compaction_failing;
    /* Background failures since the database opened (flushes,
     * compactions, memtable indexing), with the latest one's status
     * (VEX_OK when none), collection, message and time (Unix ms). Each
     * failure is also logged once at VEX_LOG_ERROR as it happens. */
    uint64_t background_errors;
    int last_error;
    char last_error_collection[VEX_NAME_MAX + 1];
    char last_error_message[VEX_HEALTH_MSG_MAX];
    uint64_t last_error_unix_ms;
    char sticky_collection[VEX_NAME_MAX + 1];
    char sticky_message[VEX_HEALTH_MSG_MAX];
} vex_health;

/* Fill *h with the defaults (see "Structs grow" above). */
VEX_API void vex_health_init(vex_health *h);
VEX_API void vex_health_init_size(vex_health *h, size_t size);
#define vex_health_init(h) vex_health_init_size((h), sizeof *(h))

/* Fill *h (initialised with vex_health_init) with the database's health
 * now. A program can poll it (it is cheap: no I/O) or watch the log hook
 * for the same failures as they happen. Errors: VEX_MISUSE (NULL db or
 * h, a bad struct_size). Thread-safe. */
VEX_API int vex_db_health(vex_db *db, vex_health *h);

#ifdef __cplusplus
}
#endif
#endif /* VEXDB_H */
