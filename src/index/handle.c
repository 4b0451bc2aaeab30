/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handle.c - the index handle at its two levels: the internal interface
 * (index/ix.h) that storage and engine use, and the public vex_index_*
 * functions (include/vexdb.h) wrapped around it.
 *
 * Both levels are one object, struct vex_index (vx_ix in ix.h), in front
 * of the in-memory indexes (index layer, so the storage layer's memtables
 * and segments can use it): it owns the allocator, the worker pool (its
 * own or a borrowed one) and the kind's instance, and forwards to the
 * kind's method table (src/index/index.h).
 *
 * The internal functions (vx_ix_*) trust their arguments and report into
 * the vex_err of the call, so a search fanned out over many sources is
 * validated once by its caller and concurrent failures never share a
 * message. The public functions (vex_index_*) keep the documented
 * behaviour of vexdb.h: they check the handle and every argument (the
 * shared checks vx_ix_check_* are the same ones the engine calls once per
 * user call), then call the internal function with the handle's own
 * message, which vex_index_errmsg reads. Nothing here is on a hot path
 * except the per-query validation of the public search, one pass over the
 * query vector.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "index/index.h"
#include "index/ix.h"
#include "quant/quant.h"
#include "simd/simd.h"
#include "util/abi.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/pool.h"
#include "vexdb.h"

struct vex_index {
    vex_mem mem;
    /* the public handle's message: written only by the vex_index_*
     * wrappers (through the internal calls they make), read by
     * vex_index_errmsg; internal callers never touch it */
    vex_err err;
    vex_index_options opts;
    vex_allocator alloc_copy;
    vex_index_config cfg;
    vex_pool *pool;
    int own_pool; /* 0: borrowed from the caller (the database's) */
    const vex_index_methods *m;
    void *impl; /* NULL only on a public handle whose open failed */
};

/* ---------------------------------------------------------------------
 * Names and sizes
 * ------------------------------------------------------------------- */

static const struct {
    vex_metric m;
    const char *name;
} metric_names[] = {{VEX_METRIC_L2, "l2"},
                    {VEX_METRIC_IP, "ip"},
                    {VEX_METRIC_COSINE, "cosine"},
                    {VEX_METRIC_HAMMING, "hamming"},
                    {VEX_METRIC_JACCARD, "jaccard"}};

static const struct {
    vex_elem e;
    const char *name;
} elem_names[] = {{VEX_ELEM_F32, "f32"}, {VEX_ELEM_BIT, "bit"}};

const char *vex_metric_name(vex_metric m)
{
    size_t i;
    for (i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++)
        if (metric_names[i].m == m)
            return metric_names[i].name;
    return "?";
}

int vex_metric_parse(const char *name, vex_metric *out)
{
    size_t i;
    if (name == NULL || out == NULL)
        return VEX_MISUSE;
    for (i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        if (strcmp(metric_names[i].name, name) == 0) {
            *out = metric_names[i].m;
            return VEX_OK;
        }
    }
    return VEX_INVALID;
}

const char *vex_elem_name(vex_elem e)
{
    size_t i;
    for (i = 0; i < sizeof elem_names / sizeof elem_names[0]; i++)
        if (elem_names[i].e == e)
            return elem_names[i].name;
    return "?";
}

int vex_elem_parse(const char *name, vex_elem *out)
{
    size_t i;
    if (name == NULL || out == NULL)
        return VEX_MISUSE;
    for (i = 0; i < sizeof elem_names / sizeof elem_names[0]; i++) {
        if (strcmp(elem_names[i].name, name) == 0) {
            *out = elem_names[i].e;
            return VEX_OK;
        }
    }
    return VEX_INVALID;
}

size_t vex_vector_size(vex_elem elem, uint32_t dim)
{
    if (dim == 0 || dim > VEX_MAX_DIM)
        return 0;
    switch (elem) {
    case VEX_ELEM_F32:
        return (size_t)dim * sizeof(float);
    case VEX_ELEM_BIT:
        return ((size_t)dim + 7) / 8;
    }
    return 0;
}

static int metric_fits_elem(vex_metric m, vex_elem e)
{
    if (e == VEX_ELEM_F32)
        return m == VEX_METRIC_L2 || m == VEX_METRIC_IP ||
               m == VEX_METRIC_COSINE;
    if (e == VEX_ELEM_BIT)
        return m == VEX_METRIC_HAMMING || m == VEX_METRIC_JACCARD;
    return 0;
}

static void search_params_defaults(vex_search_params *params)
{
    memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
    params->n_threads = 0;
    params->ef_search = 0;
    params->filter = NULL;
    params->filter_ctx = NULL;
    params->filter_max_ef = 0;
    params->refine = 0.0f;
    params->where = NULL;
    params->stats = NULL;
    params->meta_out = NULL;
    params->text = NULL;
    params->bm25_k1 = 1.2f;
    params->bm25_b = 0.75f;
    params->fusion = VEX_FUSION_RRF;
    params->rrf_k = 60.0f;
    params->vector_weight = 1.0f;
    params->text_weight = 1.0f;
    params->text_candidates = 0;
}

void vex_search_params_init_size(vex_search_params *params, size_t size)
{
    vex_search_params full;
    if (params == NULL)
        return;
    search_params_defaults(&full);
    vx_abi_init(&VX_ABI_SEARCH_PARAMS, params, size, &full);
}

void(vex_search_params_init)(vex_search_params *params)
{
    vex_search_params_init_size(params, VX_ABI_SEARCH_PARAMS.ends[0]);
}

int vx_search_params_take(const vex_search_params **params,
                          vex_search_params *buf, vex_err *err)
{
    int rc;
    if (*params == NULL || (*params)->struct_size == sizeof **params)
        return VEX_OK;
    search_params_defaults(buf);
    if ((rc = vx_abi_in(&VX_ABI_SEARCH_PARAMS, *params, buf, err)) != VEX_OK)
        return rc;
    *params = buf;
    return VEX_OK;
}

void vex_index_options_init_size(vex_index_options *opts, size_t size)
{
    vex_index_options full;
    if (opts == NULL)
        return;
    vx_ix_options_init(&full);
    vx_abi_init(&VX_ABI_INDEX_OPTIONS, opts, size, &full);
}

void(vex_index_options_init)(vex_index_options *opts)
{
    vex_index_options_init_size(opts, VX_ABI_INDEX_OPTIONS.ends[0]);
}

void vx_ix_options_init(vex_index_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->kind = VEX_INDEX_FLAT;
    opts->elem = VEX_ELEM_F32;
    opts->metric = VEX_METRIC_L2;
    opts->dim = 0;
    opts->n_threads = 0;
    opts->capacity = 0;
    opts->allocator = NULL;
    opts->hnsw_m = 0;
    opts->hnsw_ef_construction = 0;
    opts->hnsw_ef_search = 0;
    opts->hnsw_seed = 0;
    opts->quant = VEX_QUANT_NONE;
    opts->quant_m = 0;
    opts->quant_bits = 0;
    opts->quant_refine = 0.0f;
}

/* ---------------------------------------------------------------------
 * Where messages go
 * ------------------------------------------------------------------- */

/* The internal functions take err == NULL (the caller wants no message);
 * the kinds and vx_err_set need somewhere to write, so such a call gets a
 * scratch message of its own for its duration. */
/* ---------------------------------------------------------------------
 * Validation shared by every index kind (and by the engine, once per
 * user call)
 * ------------------------------------------------------------------- */

static int check_options(const vex_index_options *o, vex_err *e)
{
    if (o->struct_size != sizeof(vex_index_options))
        return vx_err_set(e, VEX_MISUSE,
                          "options.struct_size is %u, expected %zu: fill the "
                          "struct with vex_index_options_init()",
                          o->struct_size, sizeof(vex_index_options));
    if (o->kind == VEX_INDEX_DISKANN)
        return vx_err_set(e, VEX_INVALID,
                          "VEX_INDEX_DISKANN is a kind of collection segment "
                          "(vex_collection_config.diskann_min_rows), not of "
                          "a vex_index");
    if (o->kind != VEX_INDEX_FLAT && o->kind != VEX_INDEX_HNSW)
        return vx_err_set(e, VEX_INVALID, "unknown index kind %d",
                          (int)o->kind);
    if (o->kind != VEX_INDEX_HNSW && (o->hnsw_m || o->hnsw_ef_construction ||
                                      o->hnsw_ef_search || o->hnsw_seed))
        return vx_err_set(e, VEX_INVALID,
                          "hnsw_* options apply only to VEX_INDEX_HNSW; "
                          "leave them 0 for other kinds");
    if (o->hnsw_m == 1 || o->hnsw_m > 256)
        return vx_err_set(e, VEX_INVALID,
                          "hnsw_m is %u, must be 2..256 "
                          "(or 0 for the default)",
                          o->hnsw_m);
    if (o->hnsw_ef_construction > VEX_MAX_K)
        return vx_err_set(e, VEX_INVALID,
                          "hnsw_ef_construction is %u, must be 1..%d (or 0 "
                          "for the default)",
                          o->hnsw_ef_construction, VEX_MAX_K);
    if (o->hnsw_ef_search > VEX_MAX_K)
        return vx_err_set(e, VEX_INVALID,
                          "hnsw_ef_search is %u, must be 1..%d (or 0 for "
                          "the default)",
                          o->hnsw_ef_search, VEX_MAX_K);
    if (o->elem != VEX_ELEM_F32 && o->elem != VEX_ELEM_BIT)
        return vx_err_set(e, VEX_INVALID, "unknown element type %d",
                          (int)o->elem);
    if (!metric_fits_elem(o->metric, o->elem))
        return vx_err_set(e, VEX_INVALID,
                          "metric %s (%d) does not apply to element type %s; "
                          "f32 takes l2, ip, cosine and bit takes hamming, "
                          "jaccard",
                          vex_metric_name(o->metric), (int)o->metric,
                          vex_elem_name(o->elem));
    if (o->dim == 0 || o->dim > VEX_MAX_DIM)
        return vx_err_set(e, VEX_INVALID, "dim is %u, must be 1..%d", o->dim,
                          VEX_MAX_DIM);
    if (o->n_threads > VEX_MAX_THREADS)
        return vx_err_set(e, VEX_INVALID, "n_threads is %u, must be 0..%d",
                          o->n_threads, VEX_MAX_THREADS);
    if (o->quant < VEX_QUANT_NONE || o->quant > VEX_QUANT_OPQ)
        return vx_err_set(e, VEX_INVALID, "unknown quantizer %d",
                          (int)o->quant);
    if (o->quant != VEX_QUANT_NONE && o->elem != VEX_ELEM_F32)
        return vx_err_set(e, VEX_INVALID,
                          "quantization applies to float32 vectors only");
    if (o->quant != VEX_QUANT_PQ && o->quant != VEX_QUANT_OPQ &&
        (o->quant_m || o->quant_bits))
        return vx_err_set(e, VEX_INVALID,
                          "quant_m and quant_bits apply only to "
                          "VEX_QUANT_PQ and VEX_QUANT_OPQ; leave them 0");
    if (o->quant_bits != 0 && o->quant_bits != 4 && o->quant_bits != 8)
        return vx_err_set(e, VEX_INVALID,
                          "quant_bits is %u, must be 4 or 8 (or 0 for 8)",
                          o->quant_bits);
    if (o->quant_m > o->dim ||
        (o->quant_bits == 4 && o->quant_m > VQ_PQ4_MAX_M))
        return vx_err_set(e, VEX_INVALID,
                          "quant_m is %u, must be 1..%u for dimension %u "
                          "(at most %d with 4-bit codes), or 0 for the "
                          "default",
                          o->quant_m, o->dim, o->dim, VQ_PQ4_MAX_M);
    if (o->quant == VEX_QUANT_OPQ && o->dim > VQ_OPQ_MAX_DIM)
        return vx_err_set(e, VEX_INVALID,
                          "OPQ supports dimensions up to %d, not %u",
                          VQ_OPQ_MAX_DIM, o->dim);
    if (o->quant == VEX_QUANT_NONE && o->quant_refine != 0.0f)
        return vx_err_set(e, VEX_INVALID,
                          "quant_refine applies only to a quantized index; "
                          "leave it 0");
    if (o->quant_refine != 0.0f &&
        !(o->quant_refine >= 1.0f && o->quant_refine <= 1000.0f))
        return vx_err_set(e, VEX_INVALID,
                          "quant_refine is %g, must be 1..1000 (or 0 for the "
                          "default)",
                          (double)o->quant_refine);
    if (o->capacity > VEX_INDEX_MAX_VECTORS)
        return vx_err_set(e, VEX_INVALID,
                          "capacity %llu exceeds the limit %llu",
                          (unsigned long long)o->capacity,
                          (unsigned long long)VEX_INDEX_MAX_VECTORS);
    if (o->allocator &&
        (o->allocator->alloc || o->allocator->realloc || o->allocator->free) &&
        !(o->allocator->alloc && o->allocator->realloc && o->allocator->free))
        return vx_err_set(e, VEX_INVALID,
                          "allocator must set alloc, realloc and free "
                          "together");
    return VEX_OK;
}

int vx_ix_check_options(const vex_index_options *o, vex_err *err)
{
    return (check_options(o, err));
}

int vx_ix_check_vector(const vex_index_config *cfg, const void *v,
                       const char *what, size_t pos, vex_err *err)
{
    char why[160];
    if (vx_vector_check(cfg, v, why, sizeof why) == VEX_OK)
        return VEX_OK;
    return (vx_err_set(err, VEX_INVALID, "%s %zu: %s", what, pos, why));
}

int vx_ix_check_k(size_t k, vex_err *err)
{
    if (k >= 1 && k <= VEX_MAX_K)
        return VEX_OK;
    return (
        vx_err_set(err, VEX_INVALID, "k is %zu, must be 1..%d", k, VEX_MAX_K));
}

static int check_params(const vx_ix *ix, const vex_search_params *p,
                        vex_search_opts *so, vex_err *e)
{
    vex_search_params buf;
    int rc;
    vx_ix_search_opts_init(so);
    if (p == NULL)
        return VEX_OK;
    if ((rc = vx_search_params_take(&p, &buf, e)) != VEX_OK)
        return rc;
    if (p->ef_search > VEX_MAX_K)
        return vx_err_set(e, VEX_INVALID,
                          "params.ef_search is %u, must be 0..%d", p->ef_search,
                          VEX_MAX_K);
    if (p->filter_max_ef > VEX_MAX_K)
        return vx_err_set(e, VEX_INVALID,
                          "params.filter_max_ef is %u, must be 0..%d",
                          p->filter_max_ef, VEX_MAX_K);
    if (p->where != NULL || p->stats != NULL || p->meta_out != NULL ||
        p->beam_width != 0 || p->text != NULL)
        return vx_err_set(e, VEX_INVALID,
                          "params.where, stats, meta_out, beam_width and text "
                          "apply to collection searches only");
    if (p->filter_max_ef && p->filter == NULL)
        return vx_err_set(e, VEX_INVALID,
                          "params.filter_max_ef is set but there is no "
                          "filter");
    if ((p->ef_search || p->filter_max_ef) && ix->opts.kind == VEX_INDEX_FLAT)
        return vx_err_set(e, VEX_INVALID,
                          "params.ef_search and filter_max_ef must be 0 for "
                          "a flat index, which is exact");
    if (p->refine != 0.0f && ix->cfg.quant == VEX_QUANT_NONE)
        return vx_err_set(e, VEX_INVALID,
                          "params.refine applies only to a quantized index "
                          "(options.quant); leave it 0");
    if (p->refine != 0.0f && !(p->refine >= 1.0f && p->refine <= 1000.0f))
        return vx_err_set(e, VEX_INVALID,
                          "params.refine is %g, must be 1..1000 (or 0 for "
                          "the index default)",
                          (double)p->refine);
    if (p->n_threads > vx_pool_size(ix->pool))
        return vx_err_set(e, VEX_INVALID,
                          "params.n_threads is %u but the index has %u "
                          "threads",
                          p->n_threads, vx_pool_size(ix->pool));
    so->n_threads = p->n_threads;
    so->ef = p->ef_search;
    so->filter = p->filter;
    so->filter_ctx = p->filter_ctx;
    so->filter_max_ef = p->filter_max_ef;
    so->refine = p->refine;
    return VEX_OK;
}

/* Adaptive HNSW parameters (documented in vexdb.h). M grows with the
 * dimension because high-dimensional data has more "directions" a node
 * must keep links in; efConstruction grows with the log of the expected
 * size because the graph's diameter does. */
static void hnsw_defaults(vex_index_config *c, const vex_index_options *o)
{
    double expected = o->capacity ? (double)o->capacity : 1e6;
    double efc = 40.0 * log10(expected > 10 ? expected : 10);
    c->hnsw_m = o->hnsw_m;
    if (c->hnsw_m == 0)
        c->hnsw_m = o->dim <= 128    ? 16
                    : o->dim <= 512  ? 24
                    : o->dim <= 1024 ? 32
                                     : 48;
    c->hnsw_ef_construction = o->hnsw_ef_construction;
    if (c->hnsw_ef_construction == 0)
        c->hnsw_ef_construction = efc < 100   ? 100
                                  : efc > 400 ? 400
                                              : (uint32_t)(efc + 0.5);
    c->hnsw_ef_search = o->hnsw_ef_search ? o->hnsw_ef_search : 64;
    c->hnsw_seed = o->hnsw_seed;
}

static void quant_defaults(vex_index_config *c, const vex_index_options *o)
{
    int pq = o->quant == VEX_QUANT_PQ || o->quant == VEX_QUANT_OPQ;
    c->quant = (uint32_t)o->quant;
    c->quant_bits = c->quant_m = 0;
    c->quant_refine = 0.0f;
    if (o->quant == VEX_QUANT_NONE)
        return;
    c->quant_bits = pq ? (o->quant_bits ? o->quant_bits : 8) : 0;
    c->quant_m = o->quant_m;
    if (pq && c->quant_m == 0) { /* dim / 2 bits per vector */
        uint32_t per = c->quant_bits == 8 ? 8 : 4;
        c->quant_m = (o->dim + per - 1) / per;
        if (c->quant_bits == 4 && c->quant_m > VQ_PQ4_MAX_M)
            c->quant_m = VQ_PQ4_MAX_M;
    }
    c->quant_refine = o->quant_refine != 0.0f     ? o->quant_refine
                      : o->quant == VEX_QUANT_SQ8 ? 2.0f
                                                  : 10.0f;
}

/* The configuration an index made from `o` (checked) uses. */
static void config_resolve(vex_index_config *c, const vex_index_options *o)
{
    memset(c, 0, sizeof *c);
    c->elem = o->elem;
    c->metric = o->metric;
    c->dim = o->dim;
    c->vec_bytes = vex_vector_size(o->elem, o->dim);
    c->capacity = o->capacity;
    if (o->kind == VEX_INDEX_HNSW)
        hnsw_defaults(c, o);
    quant_defaults(c, o);
}

int vx_ix_resolve(const vex_index_options *o, vex_index_config *cfg,
                  vex_err *err)
{
    int rc = vx_ix_check_options(o, err);
    if (rc == VEX_OK)
        config_resolve(cfg, o);
    return rc;
}

/* ---------------------------------------------------------------------
 * Handle
 * ------------------------------------------------------------------- */

/* Allocate a handle whose error message can explain any later failure.
 * The handle comes from the user's allocator when that is usable; a
 * broken allocator is reported through a libc handle. */
static int handle_new(const vex_allocator *a, int a_valid, vex_index **out)
{
    vex_mem mem;
    vex_index *ix;
    if (!a_valid || vx_mem_init(&mem, a) != VEX_OK)
        vx_mem_init(&mem, NULL);
    ix = vx_mem_calloc(&mem, 1, sizeof *ix);
    if (ix == NULL)
        return VEX_NOMEM;
    ix->mem = mem;
    vx_err_init(&ix->err);
    *out = ix;
    return VEX_OK;
}

/* Everything after validation that create and open share: keep the
 * options (HNSW and quantizer parameters resolved), pick the methods,
 * start the pool unless `shared` is given. */
static int handle_setup(vex_index *ix, const vex_index_options *opts,
                        vex_pool *shared, vex_err *err)
{
    unsigned n_threads;
    int rc;
    ix->opts = *opts;
    if (opts->allocator) {
        ix->alloc_copy = *opts->allocator;
        ix->opts.allocator = &ix->alloc_copy;
    }
    config_resolve(&ix->cfg, opts);
    ix->m = &vx_flat_methods;
    if (opts->kind == VEX_INDEX_HNSW) {
        ix->m = &vx_hnsw_methods;
        ix->opts.hnsw_m = ix->cfg.hnsw_m;
        ix->opts.hnsw_ef_construction = ix->cfg.hnsw_ef_construction;
        ix->opts.hnsw_ef_search = ix->cfg.hnsw_ef_search;
    }
    if (opts->quant != VEX_QUANT_NONE) {
        ix->opts.quant_bits = ix->cfg.quant_bits;
        ix->opts.quant_m = ix->cfg.quant_m;
        ix->opts.quant_refine = ix->cfg.quant_refine;
    }
    if (shared) {
        ix->pool = shared;
        ix->own_pool = 0;
        return VEX_OK;
    }
    ix->own_pool = 1;
    n_threads = opts->n_threads ? opts->n_threads : vx_cpu_count();
    rc = vx_pool_create(&ix->mem, n_threads, &ix->pool);
    if (rc != VEX_OK) {
        ix->pool = NULL;
        return vx_err_set(err, rc, "cannot start %u worker threads%s",
                          n_threads, rc == VEX_NOMEM ? ": out of memory" : "");
    }
    return VEX_OK;
}

/* Fill a new handle from options: check, set up, create the instance. */
static int index_init(vex_index *ix, const vex_index_options *opts,
                      vex_pool *shared, vex_err *err)
{
    int rc = check_options(opts, err);
    if (rc == VEX_OK)
        rc = handle_setup(ix, opts, shared, err);
    if (rc == VEX_OK)
        rc = ix->m->create(&ix->mem, ix->pool, err, &ix->cfg, &ix->impl);
    if (rc == VEX_OK && opts->capacity) {
        rc = ix->m->reserve(ix->impl, opts->capacity, err);
        if (rc != VEX_OK) {
            ix->m->destroy(ix->impl);
            ix->impl = NULL;
        }
    }
    return rc;
}

int vex_index_create(const vex_index_options *opts, vex_index **out)
{
    vex_index_options full;
    vex_index *ix = NULL;
    int rc, sized;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (opts == NULL)
        return VEX_MISUSE;
    vx_ix_options_init(&full);
    sized = vx_abi_in(&VX_ABI_INDEX_OPTIONS, opts, &full, NULL) == VEX_OK;
    rc = handle_new(full.allocator, sized, &ix);
    if (rc != VEX_OK)
        return rc;
    *out = ix; /* kept on failure: it explains why */
    if (!sized)
        return vx_abi_check(&VX_ABI_INDEX_OPTIONS, opts->struct_size, &ix->err);
    return index_init(ix, &full, NULL, &ix->err);
}

int vx_ix_create(const vex_index_options *opts, vex_pool *pool, vx_ix **out,
                 vex_err *err)
{
    vex_index *ix = NULL;
    vex_err *e = err;
    int rc;
    *out = NULL;
    rc = handle_new(opts->allocator,
                    opts->struct_size == sizeof(vex_index_options), &ix);
    if (rc != VEX_OK)
        return (vx_err_set(e, rc, "out of memory creating an index"));
    rc = index_init(ix, opts, pool, e);
    if (rc != VEX_OK)
        vx_ix_free(ix);
    else
        *out = ix;
    return (rc);
}

static void open_options_defaults(vex_open_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}

void vex_open_options_init_size(vex_open_options *opts, size_t size)
{
    vex_open_options full;
    if (opts == NULL)
        return;
    open_options_defaults(&full);
    vx_abi_init(&VX_ABI_OPEN_OPTIONS, opts, size, &full);
}

void(vex_open_options_init)(vex_open_options *opts)
{
    vex_open_options_init_size(opts, VX_ABI_OPEN_OPTIONS.ends[0]);
}

/* Fill a new handle from a blob (untrusted: everything is checked). */
static int index_open(vex_index *ix, const void *buf, uint64_t size,
                      const vex_open_options *opts, vex_pool *shared,
                      vex_err *err)
{
    vex_index_options io;
    vex_blob_info info;
    int rc, borrow;

    if (opts->struct_size != sizeof(vex_open_options))
        return vx_err_set(err, VEX_MISUSE,
                          "options.struct_size is %u, expected %zu: fill the "
                          "struct with vex_open_options_init()",
                          opts->struct_size, sizeof(vex_open_options));
    if (opts->n_threads > VEX_MAX_THREADS)
        return vx_err_set(err, VEX_INVALID, "n_threads is %u, must be 0..%d",
                          opts->n_threads, VEX_MAX_THREADS);
    if (opts->flags & ~(uint32_t)VEX_OPEN_COPY)
        return vx_err_set(err, VEX_INVALID, "unknown flags 0x%x",
                          opts->flags & ~(uint32_t)VEX_OPEN_COPY);
    if (buf == NULL)
        return vx_err_set(err, VEX_MISUSE, "buf is NULL");
    rc = vx_blob_parse(buf, size, &info, err);
    if (rc != VEX_OK)
        return rc;
    /* the stored configuration must pass the same checks as options */
    vx_ix_options_init(&io);
    io.kind = (vex_index_kind)info.kind;
    io.elem = (vex_elem)info.elem;
    io.metric = (vex_metric)info.metric;
    io.dim = info.dim;
    io.n_threads = opts->n_threads;
    io.allocator = opts->allocator;
    if (info.kind == VEX_INDEX_HNSW) {
        /* stored values are resolved: 0 (adaptive) never appears */
        if (!info.m || !info.ef_construction || !info.ef_search)
            return vx_err_set(err, VEX_CORRUPT,
                              "index blob: M %u, ef_construction %u, "
                              "ef_search %u must all be non-zero",
                              info.m, info.ef_construction, info.ef_search);
        io.hnsw_m = info.m;
        io.hnsw_ef_construction = info.ef_construction;
        io.hnsw_ef_search = info.ef_search;
        io.hnsw_seed = info.seed;
    } else if (info.m || info.ef_construction || info.ef_search || info.seed) {
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: a %s index with graph parameters",
                          info.kind == VEX_INDEX_FLAT ? "flat" : "?");
    }
    if (info.quant) {
        /* stored values are resolved too */
        io.quant = (vex_quant)info.quant;
        io.quant_m = info.quant_m;
        io.quant_bits = info.quant_bits;
        io.quant_refine = info.quant_refine;
        if (info.quant_refine == 0.0f ||
            ((info.quant == VEX_QUANT_PQ || info.quant == VEX_QUANT_OPQ) &&
             (info.quant_m == 0 || info.quant_bits == 0)))
            return vx_err_set(err, VEX_CORRUPT,
                              "index blob: quantizer parameters at byte 104 "
                              "are not resolved (M %u, bits %u, refine %g)",
                              info.quant_m, info.quant_bits,
                              (double)info.quant_refine);
    }
    rc = check_options(&io, err);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(err, msg, sizeof msg);
        return vx_err_set(err, VEX_CORRUPT, "index blob header: %s", msg);
    }
    rc = handle_setup(ix, &io, shared, err);
    if (rc != VEX_OK)
        return rc;
    borrow = !(opts->flags & VEX_OPEN_COPY) && (uintptr_t)buf % 64 == 0;
    rc = ix->m->open(&ix->mem, ix->pool, err, &ix->cfg, &info, buf, borrow,
                     &ix->impl);
    if (rc != VEX_OK)
        ix->impl = NULL;
    return rc;
}

int vex_index_open_buffer(const void *buf, uint64_t size,
                          const vex_open_options *opts, vex_index **out)
{
    vex_open_options full;
    vex_index *ix = NULL;
    int rc, sized = 1;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    open_options_defaults(&full);
    if (opts != NULL)
        sized = vx_abi_in(&VX_ABI_OPEN_OPTIONS, opts, &full, NULL) == VEX_OK;
    rc = handle_new(full.allocator, sized, &ix);
    if (rc != VEX_OK)
        return rc;
    *out = ix; /* kept on failure: it explains why */
    if (!sized)
        return vx_abi_check(&VX_ABI_OPEN_OPTIONS, opts->struct_size, &ix->err);
    return index_open(ix, buf, size, &full, NULL, &ix->err);
}

int vx_ix_open_buffer(const void *buf, uint64_t size,
                      const vex_open_options *opts, vex_pool *pool, vx_ix **out,
                      vex_err *err)
{
    vex_open_options dflt;
    vex_index *ix = NULL;
    vex_err *e = err;
    int rc;
    *out = NULL;
    if (opts == NULL) {
        open_options_defaults(&dflt);
        opts = &dflt;
    }
    rc = handle_new(opts->allocator,
                    opts->struct_size == sizeof(vex_open_options), &ix);
    if (rc != VEX_OK)
        return (vx_err_set(e, rc, "out of memory opening an index"));
    rc = index_open(ix, buf, size, opts, pool, e);
    if (rc != VEX_OK)
        vx_ix_free(ix);
    else
        *out = ix;
    return (rc);
}

void vx_ix_free(vx_ix *ix)
{
    vex_mem mem;
    if (ix == NULL)
        return;
    if (ix->impl)
        ix->m->destroy(ix->impl);
    if (ix->own_pool && ix->pool)
        vx_pool_destroy(ix->pool);
    vx_err_destroy(&ix->err);
    mem = ix->mem;
    vx_mem_free(&mem, ix);
}

void vex_index_free(vex_index *ix)
{
    vx_ix_free(ix);
}

/* ---------------------------------------------------------------------
 * The internal interface (index/ix.h): no argument checks, messages to
 * the caller's err
 * ------------------------------------------------------------------- */

vex_index_kind vx_ix_kind(const vx_ix *ix)
{
    return ix->opts.kind;
}

const vex_index_config *vx_ix_config(const vx_ix *ix)
{
    return &ix->cfg;
}

uint64_t vx_ix_count(const vx_ix *ix)
{
    return ix->m->count(ix->impl);
}

uint64_t vx_ix_memory(const vx_ix *ix)
{
    return sizeof *ix + ix->m->memory(ix->impl);
}

int vx_ix_check_params(const vx_ix *ix, const vex_search_params *p,
                       vex_search_opts *so, vex_err *err)
{
    return (check_params(ix, p, so, err));
}

int vx_ix_add(vx_ix *ix, const uint64_t *ids, const void *vecs, size_t n,
              unsigned max_threads, vex_err *err)
{
    if (n == 0)
        return VEX_OK;
    return (ix->m->add(ix->impl, ids, vecs, n, max_threads, err));
}

int vx_ix_remove(vx_ix *ix, uint64_t id, vex_err *err)
{
    return (ix->m->remove(ix->impl, id, err));
}

int vx_ix_get(vx_ix *ix, uint64_t id, void *vec_out, vex_err *err)
{
    return (ix->m->get(ix->impl, id, vec_out, err));
}

int vx_ix_score(vx_ix *ix, const void *query, float qaux, const uint64_t *ids,
                size_t n, float *dist, vex_err *err)
{
    return ix->m->score(ix->impl, query, qaux, ids, n, dist, err);
}

int vx_ix_can_score(const vx_ix *ix)
{
    return ix->m->score != NULL;
}

int vx_ix_train(vx_ix *ix, const float *sample, size_t n, vex_err *err)
{
    return (ix->m->train(ix->impl, sample, n, err));
}

int vx_ix_train_own(vx_ix *ix, vex_err *err)
{
    vex_err tmp;
    int rc;
    if (ix->cfg.quant == VEX_QUANT_NONE)
        return VEX_OK;
    /* the kind's message goes to a scratch one first: the two refusals
     * below are not failures and must not overwrite the caller's */
    vx_err_init(&tmp);
    rc = ix->m->train(ix->impl, NULL, 0, &tmp);
    /* MISUSE: trained already (a flush retried after a failed write);
     * INVALID: too few vectors for the quantizer, which stays untrained */
    if (rc == VEX_MISUSE || rc == VEX_INVALID)
        rc = VEX_OK;
    if (rc != VEX_OK && err != NULL)
        vx_err_set(err, rc, "%s", tmp.msg);
    vx_err_destroy(&tmp);
    return rc;
}

int vx_ix_serialize(vx_ix *ix, void *buf, uint64_t size, uint64_t *needed,
                    vex_err *err)
{
    return ix->m->serialize(ix->impl, buf, size, needed, err);
}

int vx_ix_scan(vx_ix *ix, vex_scan_fn fn, void *ctx)
{
    return ix->m->scan(ix->impl, fn, ctx);
}

int vx_ix_settle(vx_ix *ix, vex_err *err)
{
    return ix->m->settle(ix->impl, err);
}

int vx_ix_links(vx_ix *ix, vex_links_fn fn, void *ctx, uint64_t *entry,
                vex_err *err)
{
    if (ix->m->links == NULL)
        return vx_err_set(err, VEX_MISUSE, "a %s index has no graph",
                          ix->m->name);
    return ix->m->links(ix->impl, fn, ctx, entry, err);
}

int vx_ix_graph_stats(vx_ix *ix, vex_graph_stats *stats, vex_err *err)
{
    return (ix->m->check(ix->impl, stats, err));
}

int vx_ix_search(vx_ix *ix, const void *query, size_t k,
                 const vex_search_opts *so, vex_hit *hits, size_t *n_hits,
                 vex_err *err)
{
    vex_search_opts nan_cut;
    assert(ix->impl != NULL && k >= 1 && k <= VEX_MAX_K);
    if (isnan(so->cut)) { /* a NaN distance bound: no cut */
        nan_cut = *so;
        nan_cut.cut = INFINITY;
        so = &nan_cut;
    }
    *n_hits = 0;
    return (ix->m->search(ix->impl, query, k, so, hits, n_hits, err));
}

int vx_ix_search_batch(vx_ix *ix, const void *queries, size_t n_queries,
                       size_t k, const vex_search_opts *so, vex_hit *hits,
                       size_t *n_hits, vex_err *err)
{
    assert(ix->impl != NULL && k >= 1 && k <= VEX_MAX_K && n_queries >= 1);
    memset(n_hits, 0, n_queries * sizeof *n_hits);
    return (ix->m->search_batch(ix->impl, queries, n_queries, k, so, hits,
                                n_hits, err));
}

int vx_ix_range(vx_ix *ix, const void *query, float radius,
                const vex_search_opts *so, vex_hit *hits, size_t capacity,
                uint64_t *n_total, vex_err *err)
{
    assert(ix->impl != NULL && !isnan(radius));
    *n_total = 0;
    return (ix->m->range_search(ix->impl, query, radius, so, hits, capacity,
                                n_total, err));
}

/* ---------------------------------------------------------------------
 * The public wrapper (include/vexdb.h): check the handle and the user's
 * arguments, then the internal call with the handle's message
 * ------------------------------------------------------------------- */

/* A handle whose creation failed only explains why; calls on it are
 * misuse. */
static int handle_usable(vex_index *ix)
{
    if (ix == NULL)
        return 0;
    if (ix->impl == NULL) {
        vx_err_set(&ix->err, VEX_MISUSE,
                   "this index handle failed to open; only "
                   "vex_index_errmsg() and vex_index_free() apply");
        return 0;
    }
    return 1;
}

/* Check n vectors of the handle's configuration. */
static int check_vectors(vex_index *ix, const void *v, size_t n, size_t stride,
                         const char *what)
{
    for (size_t i = 0; i < n; i++) {
        int rc = vx_ix_check_vector(
            &ix->cfg, (const unsigned char *)v + i * stride, what, i, &ix->err);
        if (rc != VEX_OK)
            return rc;
    }
    return VEX_OK;
}

int vex_index_serialize(vex_index *ix, void *buf, uint64_t size,
                        uint64_t *needed)
{
    uint64_t dummy;
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (buf == NULL && size > 0)
        return vx_err_set(&ix->err, VEX_MISUSE, "buf is NULL but size > 0");
    return vx_ix_serialize(ix, buf, size, needed ? needed : &dummy, &ix->err);
}

int vex_index_add(vex_index *ix, const uint64_t *ids, const void *vectors,
                  size_t n)
{
    int rc;
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (n == 0)
        return VEX_OK;
    if (ids == NULL || vectors == NULL)
        return vx_err_set(&ix->err, VEX_MISUSE,
                          "ids and vectors must not be NULL");
    rc = check_vectors(ix, vectors, n, ix->cfg.vec_bytes, "vector");
    if (rc != VEX_OK)
        return rc;
    return vx_ix_add(ix, ids, vectors, n, 0, &ix->err);
}

int vex_index_remove(vex_index *ix, uint64_t id)
{
    if (!handle_usable(ix))
        return VEX_MISUSE;
    return vx_ix_remove(ix, id, &ix->err);
}

int vex_index_get(vex_index *ix, uint64_t id, void *vector_out)
{
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (vector_out == NULL)
        return vx_err_set(&ix->err, VEX_MISUSE, "vector_out is NULL");
    return vx_ix_get(ix, id, vector_out, &ix->err);
}

uint64_t vex_index_count(const vex_index *ix)
{
    return ix && ix->impl ? vx_ix_count(ix) : 0;
}

uint64_t vex_index_memory(const vex_index *ix)
{
    return ix && ix->impl ? vx_ix_memory(ix) : 0;
}

int vex_index_train(vex_index *ix, const float *sample, size_t n)
{
    int rc;
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (ix->cfg.quant == VEX_QUANT_NONE)
        return vx_err_set(&ix->err, VEX_MISUSE,
                          "the index has no quantizer (options.quant)");
    if ((sample == NULL) != (n == 0))
        return vx_err_set(&ix->err, VEX_MISUSE,
                          "pass a sample with n > 0, or NULL and 0 to train "
                          "on the index's own vectors");
    rc = check_vectors(ix, sample, n, ix->cfg.vec_bytes, "sample vector");
    if (rc != VEX_OK)
        return rc;
    return vx_ix_train(ix, sample, n, &ix->err);
}

size_t vex_index_code_size(const vex_index *ix)
{
    return ix && ix->impl ? ix->m->code_size(ix->impl) : 0;
}

void vex_index_get_options_size(const vex_index *ix, vex_index_options *out,
                                size_t size)
{
    if (out == NULL)
        return;
    vex_index_options_init_size(out, size);
    if (ix == NULL ||
        vx_abi_check(&VX_ABI_INDEX_OPTIONS, out->struct_size, NULL) != VEX_OK)
        return;
    vx_abi_out(&VX_ABI_INDEX_OPTIONS, out, &ix->opts);
}

void(vex_index_get_options)(const vex_index *ix, vex_index_options *out)
{
    vex_index_get_options_size(ix, out, VX_ABI_INDEX_OPTIONS.ends[0]);
}

/* The checks every public k-NN search makes before the internal call. */
static int ix_check_search(vex_index *ix, const void *query, size_t k,
                           const vex_search_params *params, vex_search_opts *so)
{
    int rc;
    if ((rc = vx_ix_check_k(k, &ix->err)) != VEX_OK ||
        (rc = check_params(ix, params, so, &ix->err)) != VEX_OK ||
        (rc = vx_ix_check_vector(&ix->cfg, query, "query", 0, &ix->err)) !=
            VEX_OK)
        return rc;
    return VEX_OK;
}

int vex_index_search(vex_index *ix, const void *query, size_t k,
                     const vex_search_params *params, vex_hit *hits,
                     size_t *n_hits)
{
    vex_search_opts so;
    int rc;
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (query == NULL || hits == NULL || n_hits == NULL)
        return vx_err_set(&ix->err, VEX_MISUSE,
                          "query, hits and n_hits must not be NULL");
    *n_hits = 0;
    if ((rc = ix_check_search(ix, query, k, params, &so)) != VEX_OK)
        return rc;
    return vx_ix_search(ix, query, k, &so, hits, n_hits, &ix->err);
}

int vex_index_search_batch(vex_index *ix, const void *queries, size_t n_queries,
                           size_t k, const vex_search_params *params,
                           vex_hit *hits, size_t *n_hits)
{
    vex_search_opts so;
    size_t i, total;
    int rc;
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (n_queries == 0)
        return VEX_OK;
    if (queries == NULL || hits == NULL || n_hits == NULL)
        return vx_err_set(&ix->err, VEX_MISUSE,
                          "queries, hits and n_hits must not be NULL");
    if ((rc = vx_ix_check_k(k, &ix->err)) != VEX_OK ||
        (rc = check_params(ix, params, &so, &ix->err)) != VEX_OK)
        return rc;
    if (vex_mul_overflow(n_queries, k, &total) ||
        vex_mul_overflow(total, sizeof(vex_hit), &total) ||
        vex_mul_overflow(n_queries, ix->cfg.vec_bytes, &total))
        return vx_err_set(&ix->err, VEX_INVALID,
                          "%zu queries of k=%zu overflow the address space",
                          n_queries, k);
    for (i = 0; i < n_queries; i++) {
        n_hits[i] = 0;
        rc = vx_ix_check_vector(
            &ix->cfg, (const unsigned char *)queries + i * ix->cfg.vec_bytes,
            "query", i, &ix->err);
        if (rc != VEX_OK)
            return rc;
    }
    return vx_ix_search_batch(ix, queries, n_queries, k, &so, hits, n_hits,
                              &ix->err);
}

int vex_index_range_search(vex_index *ix, const void *query, float radius,
                           const vex_search_params *params, vex_hit *hits,
                           size_t capacity, uint64_t *n_total)
{
    vex_search_opts so;
    int rc;
    if (!handle_usable(ix))
        return VEX_MISUSE;
    if (query == NULL || n_total == NULL || (hits == NULL && capacity > 0))
        return vx_err_set(&ix->err, VEX_MISUSE,
                          "query and n_total must not be NULL, nor hits "
                          "when capacity > 0");
    *n_total = 0;
    if (isnan(radius))
        return vx_err_set(&ix->err, VEX_INVALID, "radius is NaN");
    if ((rc = check_params(ix, params, &so, &ix->err)) != VEX_OK ||
        (rc = vx_ix_check_vector(&ix->cfg, query, "query", 0, &ix->err)) !=
            VEX_OK)
        return rc;
    if (capacity > VEX_MAX_K && ix->opts.kind == VEX_INDEX_HNSW)
        return vx_err_set(&ix->err, VEX_INVALID,
                          "capacity %zu: an HNSW range search returns at "
                          "most %d hits",
                          capacity, VEX_MAX_K);
    return vx_ix_range(ix, query, radius, &so, hits, capacity, n_total,
                       &ix->err);
}

int vex_index_check(vex_index *ix)
{
    if (!handle_usable(ix))
        return VEX_MISUSE;
    return vx_ix_graph_stats(ix, NULL, &ix->err);
}

const char *vex_index_errmsg(const vex_index *ix)
{
    if (ix == NULL)
        return "no index handle (NULL)";
    return ix->err.msg;
}

size_t vex_index_errmsg_copy(const vex_index *ix, char *buf, size_t size)
{
    if (ix == NULL) {
        if (size > 0)
            buf[0] = '\0';
        return 0;
    }
    return vx_err_copy((vex_err *)&ix->err, buf, size);
}
