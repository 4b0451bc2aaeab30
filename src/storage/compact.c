/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compact.c - building segment files: from a frozen memtable (a flush)
 * and from a merge of segments (a compaction), plus the size-tiered
 * policy that picks what to merge. Installing the result (carrying
 * deletes over, publishing the manifest, swapping the version) is the
 * collection's job (engine/collection.c, protocol V3/V4 in version.h);
 * everything here reads only snapshots and writes only new files, so it
 * runs without any lock of the collection.
 *
 * Quantized collections (config.quant): just before a segment's index is
 * serialised, it trains its own quantizer on its own vectors
 * (vx_ix_train_own), so the blob carries the codebook and codes; a
 * segment too small for its quantizer is written unquantized.
 */
#include "storage/compact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows added to a graph per compaction step (the cancel flag is polled
 * between steps, so closing a collection waits for at most one step). */
#define COMPACT_STEP 1024

typedef struct idkey {
    uint64_t id, key;
} idkey;

/* The META section being built: every key's record (NULL: none), then
 * the columns encoded from them (meta/column.h). */
typedef struct meta_col {
    const vm_record **recs; /* n entries */
    vm_record **owned;      /* compaction: records rebuilt from the inputs */
    uint64_t n;
    int any; /* some key has metadata (else no section is written) */
    unsigned char *blob;
    size_t len;
} meta_col;

static void meta_col_free(const vex_mem *mem, meta_col *mc)
{
    if (mc->owned)
        for (uint64_t i = 0; i < mc->n; i++)
            vx_vm_record_free(mc->owned[i], mem);
    vx_mem_free(mem, mc->owned);
    vx_mem_free(mem, (void *)mc->recs);
    vx_mem_free(mem, mc->blob);
}

/* Room for n keys' records (owned ones too when `own`). */
static int meta_col_init(const seg_builder *b, meta_col *mc, uint64_t n,
                         int own)
{
    if (n > UINT32_MAX)
        return vx_err_set(b->err, VEX_INVALID,
                          "%llu keys: metadata columns hold at most "
                          "4294967295 rows",
                          (unsigned long long)n);
    mc->n = n;
    mc->recs = vx_mem_calloc(b->mem, n ? n : 1, sizeof *mc->recs);
    if (own)
        mc->owned = vx_mem_calloc(b->mem, n ? n : 1, sizeof *mc->owned);
    if (mc->recs == NULL || (own && mc->owned == NULL))
        return vx_err_set(b->err, VEX_NOMEM, "out of memory");
    return VEX_OK;
}

/* Encode the columns (when some key has metadata). */
static int meta_col_encode(const seg_builder *b, meta_col *mc)
{
    for (uint64_t i = 0; i < mc->n && !mc->any; i++)
        mc->any = vx_vm_record_n_fields(mc->recs[i]) > 0;
    if (!mc->any)
        return VEX_OK;
    return vx_vm_colset_build(mc->recs, (uint32_t)mc->n, b->meta_flags, b->mem,
                              b->err, &mc->blob, &mc->len);
}

/* The keys' payloads for the PAYLOAD section: pointers into the
 * memtable or the input segments' mappings (both held by the caller). */
typedef struct pay_col {
    const unsigned char **p;
    uint32_t *len;
    int any; /* some key has a payload (else no section is written) */
} pay_col;

static void pay_col_free(const vex_mem *mem, pay_col *pc)
{
    vx_mem_free(mem, pc->p);
    vx_mem_free(mem, pc->len);
}

static int pay_col_init(const seg_builder *b, pay_col *pc, uint64_t n)
{
    pc->p = vx_mem_calloc(b->mem, n ? n : 1, sizeof *pc->p);
    pc->len = vx_mem_calloc(b->mem, n ? n : 1, sizeof *pc->len);
    if (pc->p == NULL || pc->len == NULL)
        return vx_err_set(b->err, VEX_NOMEM, "out of memory");
    return VEX_OK;
}

static void pay_col_set(pay_col *pc, uint64_t k, const unsigned char *p,
                        size_t len)
{
    pc->p[k] = p;
    pc->len[k] = (uint32_t)len;
    pc->any |= len > 0;
}

static int cmp_idkey(const void *a, const void *b)
{
    const idkey *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Serialise index `ix` into an aligned buffer. */
static int serialize_index(const seg_builder *b, vx_ix *ix,
                           unsigned char **blob, uint64_t *size)
{
    int rc;
    *blob = NULL;
    /* the size first: VEX_FULL with no buffer is the expected answer, so
     * its message (err NULL) must not reach the caller's */
    rc = vx_ix_serialize(ix, NULL, 0, size, NULL);
    if (rc != VEX_FULL && rc != VEX_OK)
        return vx_err_set(b->err, rc, "serialising an index: %s",
                          vex_errstr(rc));
    *blob = vx_mem_alloc_aligned(b->mem, *size ? *size : 64, 64);
    if (*blob == NULL)
        return vx_err_set(b->err, VEX_NOMEM, "out of memory");
    rc = vx_ix_serialize(ix, *blob, *size, size, b->err);
    if (rc != VEX_OK) {
        vx_mem_free_aligned(b->mem, *blob);
        *blob = NULL;
        return vx_ix_err_in(b->err, rc, "serialising an index");
    }
    return VEX_OK;
}

/* The build's progress for vex_stats: `done` of `total` output rows are
 * in its index (a DiskANN build reports 0 until its graph is written). */
static void progress_set(const seg_builder *b, uint64_t done, uint64_t total)
{
    if (b->total)
        atomic_store_explicit(b->total, total, memory_order_relaxed);
    if (b->done)
        atomic_store_explicit(b->done, done, memory_order_relaxed);
}

/* A new empty index of the collection's kind on the database's pool. */
static int index_new(const seg_builder *b, int kind, vx_ix **out)
{
    vex_index_options io = b->iopts;
    int rc;
    io.kind = (vex_index_kind)kind;
    if (kind != VEX_INDEX_HNSW) {
        io.hnsw_m = io.hnsw_ef_construction = io.hnsw_ef_search = 0;
        io.hnsw_seed = 0;
    }
    rc = vx_ix_create(&io, b->pool, out, b->err);
    if (rc != VEX_OK)
        vx_ix_err_in(b->err, rc, "creating an index");
    return rc;
}

/* A DiskANN index being written into a segment (the writer's hook). */
typedef struct dann_job {
    const seg_builder *b;
    const float *vecs; /* n vectors, keys 0..n-1 */
    const uint32_t *keys;
    size_t n;
} dann_job;

static int dann_write_index(void *ctx, vex_file *f, uint64_t off, uint64_t *len,
                            vex_err *err)
{
    const dann_job *j = ctx;
    vx_dann_params p = j->b->dann;
    p.cancel = j->b->cancel;
    return vx_dann_write(j->b->mem, j->b->pool, j->vecs, j->keys, j->n,
                         j->b->iopts.dim, &p, f, off, len, err);
}

/* Write a segment file from (ids ascending, row_keys, key_ids) and the
 * index blob, and open it. */
static int write_segment(const seg_builder *b, uint64_t number, int index_kind,
                         uint64_t n_rows, uint64_t n_keys, const uint64_t *ids,
                         const uint64_t *row_keys, const uint64_t *key_ids,
                         const void *blob, uint64_t blob_size,
                         const meta_col *mc, const pay_col *pc,
                         const pay_col *tc, uint64_t min_seq, uint64_t max_seq,
                         dann_job *dj, vseg **out)
{
    seg_write_info wi;
    char *path = NULL;
    int rc;
    *out = NULL;
    memset(&wi, 0, sizeof wi);
    wi.number = number;
    wi.dim = b->iopts.dim;
    wi.elem = (uint32_t)b->iopts.elem;
    wi.metric = (uint32_t)b->iopts.metric;
    wi.index_kind = (uint32_t)index_kind;
    wi.n_rows = n_rows;
    wi.n_keys = n_keys;
    wi.min_seq = min_seq;
    wi.max_seq = max_seq;
    wi.ids = ids;
    wi.row_keys = row_keys;
    wi.key_ids = key_ids;
    wi.index_blob = blob;
    wi.blob_size = blob_size;
    if (dj) {
        wi.index_write = dann_write_index;
        wi.index_ctx = dj;
    }
    if (mc->any) {
        wi.meta = mc->blob;
        wi.meta_len = mc->len;
    }
    if (pc->any) {
        wi.pay = pc->p;
        wi.pay_len = pc->len;
    }
    if (b->text && tc->any) { /* texts and their postings (format 5) */
        wi.text = tc->p;
        wi.text_len = tc->len;
        wi.analyzer = b->text;
    }
    {
        char name[64];
        vx_seg_file_name(name, sizeof name, number);
        path = vx_mem_alloc(b->mem, strlen(b->dir) + strlen(name) + 2);
        if (path == NULL)
            return vx_err_set(b->err, VEX_NOMEM, "out of memory");
        sprintf(path, "%s/%s", b->dir, name);
    }
    rc = vx_seg_write(b->vfs, path, &wi, b->mem, b->err);
    if (rc == VEX_OK) {
        vseg_env env = {b->mcache, b->dann_budget};
        rc = vx_vseg_open(b->vfs, path, number, b->mem, b->pool, &env, b->err,
                          out);
        if (rc == VEX_OK) {
            /* open (and so verify) the index here, in the background, so
             * that the first search after the install does not pay for it
             * (O(segment size): ~70 ms for 100k HNSW rows) */
            rc = vx_vseg_warm(*out, b->err);
            if (rc != VEX_OK) {
                vx_vseg_unref(*out);
                *out = NULL;
            }
        }
        if (rc != VEX_OK)
            (void)b->vfs->methods->remove(b->vfs, path, NULL);
    }
    vx_mem_free(b->mem, path);
    return rc;
}

/* Build the segment of frozen memtable `m` with the rows live at `s`. */
int vx_compact_flush_build(const seg_builder *b, memtable *m, uint64_t s,
                           uint64_t number, vseg **out, int *cancelled)
{
    uint64_t n_keys = mt_rows(m), n = 0;
    uint64_t *key_ids = NULL, *ids = NULL, *row_keys = NULL;
    idkey *live = NULL;
    unsigned char *blob = NULL;
    uint64_t blob_size = 0;
    vx_ix *flat = NULL, *ix = m->ix;
    meta_col mc = {NULL, NULL, 0, 0, NULL, 0};
    pay_col pc = {NULL, NULL, 0}, tc = {NULL, NULL, 0};
    int rc = VEX_OK;
    *out = NULL;
    key_ids = vx_mem_alloc(b->mem, (n_keys ? n_keys : 1) * sizeof *key_ids);
    live = vx_mem_alloc(b->mem, (n_keys ? n_keys : 1) * sizeof *live);
    if (key_ids == NULL || live == NULL) {
        rc = vx_err_set(b->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    for (uint64_t r = 0; r < n_keys; r++) {
        key_ids[r] = mt_row_id(m, r);
        if (mt_visible(m, r, s)) {
            live[n].id = key_ids[r];
            live[n].key = r;
            n++;
        }
    }
    if (n == 0)
        goto out; /* nothing survives: no file */
    qsort(live, n, sizeof *live, cmp_idkey);
    ids = vx_mem_alloc(b->mem, n * sizeof *ids);
    row_keys = vx_mem_alloc(b->mem, n * sizeof *row_keys);
    if (ids == NULL || row_keys == NULL) {
        rc = vx_err_set(b->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        ids[i] = live[i].id;
        row_keys[i] = live[i].key;
    }
    /* the metadata of every live key, in key order (dead keys: none) */
    rc = meta_col_init(b, &mc, n_keys, 0);
    for (uint64_t r = 0; r < n_keys && rc == VEX_OK; r++)
        mc.recs[r] = mt_visible(m, r, s) ? mt_row_meta(m, r) : NULL;
    if (rc == VEX_OK)
        rc = meta_col_encode(b, &mc);
    /* the payload of every live key (dead keys: none) */
    if (rc == VEX_OK && (rc = pay_col_init(b, &pc, n_keys)) == VEX_OK)
        for (uint64_t r = 0; r < n_keys; r++) {
            size_t len;
            const unsigned char *p = mt_row_pay(m, r, &len);
            if (mt_visible(m, r, s))
                pay_col_set(&pc, r, p, len);
        }
    /* the text of every live key (dead keys: none) */
    if (rc == VEX_OK && (rc = pay_col_init(b, &tc, n_keys)) == VEX_OK)
        for (uint64_t r = 0; r < n_keys; r++) {
            size_t len;
            const char *p = mt_row_txt(m, r, &len);
            if (mt_visible(m, r, s))
                pay_col_set(&tc, r, (const unsigned char *)p, len);
        }
    if (rc != VEX_OK)
        goto out;
    if (ix) {
        progress_set(b, mt_indexed(m), n_keys);
        rc = vx_mt_index_to(m, n_keys, b->cancel, b->done, NULL, NULL, b->err);
        if (rc == VEX_OK && mt_indexed(m) != n_keys && b->cancel &&
            atomic_load(b->cancel)) {
            *cancelled = 1; /* closing: the log still holds the rows */
            goto out;
        }
        if (rc == VEX_OK && mt_indexed(m) != n_keys)
            rc = vx_err_set(
                b->err, VEX_INTERNAL, "memtable graph holds %llu of %llu rows",
                (unsigned long long)mt_indexed(m), (unsigned long long)n_keys);
    } else {
        /* a flat segment: every row, keyed by row number like a graph */
        uint64_t keys[MT_CHUNK];
        rc = index_new(b, VEX_INDEX_FLAT, &flat);
        /* a chunk's vectors are contiguous: one add per chunk */
        for (uint64_t r = 0; rc == VEX_OK && r < n_keys; r += MT_CHUNK) {
            size_t cnt =
                n_keys - r < MT_CHUNK ? (size_t)(n_keys - r) : MT_CHUNK;
            for (size_t j = 0; j < cnt; j++)
                keys[j] = r + j;
            rc = vx_ix_add(flat, keys, mt_row_vec(m, r), cnt, 0, b->err);
            if (rc != VEX_OK)
                vx_ix_err_in(b->err, rc, "flat segment index");
        }
        ix = flat;
    }
    /* quantized collections: the segment's own quantizer (a memtable
     * graph is trained in place; searches of the frozen memtable then
     * rank by codes and rerank, as the segment will) */
    if (rc == VEX_OK && (rc = vx_ix_train_own(ix, b->err)) != VEX_OK)
        vx_ix_err_in(b->err, rc, "training the segment's quantizer");
    if (rc == VEX_OK)
        rc = serialize_index(b, ix, &blob, &blob_size);
    if (rc == VEX_OK)
        rc = write_segment(b, number, m->ix ? VEX_INDEX_HNSW : VEX_INDEX_FLAT,
                           n, n_keys, ids, row_keys, key_ids, blob, blob_size,
                           &mc, &pc, &tc, m->min_seq ? m->min_seq : 1,
                           m->freeze_seq ? m->freeze_seq : 1, NULL, out);
out:
    meta_col_free(b->mem, &mc);
    pay_col_free(b->mem, &pc);
    pay_col_free(b->mem, &tc);
    vx_ix_free(flat);
    vx_mem_free_aligned(b->mem, blob);
    vx_mem_free(b->mem, key_ids);
    vx_mem_free(b->mem, live);
    vx_mem_free(b->mem, ids);
    vx_mem_free(b->mem, row_keys);
    return rc;
}

static unsigned size_tier(uint64_t bytes)
{
    unsigned t = 0;
    uint64_t mib = bytes >> 20;
    while (mib >= 4) {
        mib /= 4;
        t++;
    }
    return t;
}

/* Choose inputs from `v` into pick[] (indexes, ascending); returns how
 * many. `all`: every segment (vex_compact), when that reclaims anything. */
/* Whether the next rewrite of `s` alone would make it a DiskANN segment
 * (so it should be rewritten: a flush writes the memtable's graph). */
static int dann_due(const vseg *s, uint64_t min_rows)
{
    uint64_t live = vseg_live_rows(s);
    return min_rows && s->info.index_kind != VEX_INDEX_DISKANN &&
           live >= min_rows && live >= VX_DANN_MIN_ROWS;
}

uint32_t vx_compact_pick(const version *v, const compact_policy *o, int all,
                         uint32_t *pick)
{
    uint32_t n = 0;
    if (all) {
        for (uint32_t i = 0; i < v->n_segs; i++)
            pick[n++] = i;
        if (n == 1 && vseg_dead(v->segs[0]) == 0 &&
            !dann_due(v->segs[0], o->dann_min_rows))
            n = 0;
        return n;
    }
    if (o->deleted_pct) {
        for (uint32_t i = 0; i < v->n_segs; i++) {
            const vseg *s = v->segs[i];
            if (s->info.n_keys &&
                vseg_dead(s) * 100 >=
                    (uint64_t)o->deleted_pct * s->info.n_keys) {
                pick[0] = i;
                return 1;
            }
        }
    }
    for (uint32_t i = 0; i < v->n_segs; i++)
        if (dann_due(v->segs[i], o->dann_min_rows)) {
            pick[0] = i;
            return 1;
        }
    if (o->min_merge) {
        for (unsigned tier = 0; tier < 40; tier++) {
            n = 0;
            for (uint32_t i = 0; i < v->n_segs && n < o->max_merge; i++)
                if (size_tier(v->segs[i]->info.file_size) == tier)
                    pick[n++] = i;
            if (n >= o->min_merge)
                return n;
        }
    }
    return 0;
}

typedef struct crow {
    uint64_t id;
    uint32_t src;
    uint64_t key;
} crow;

static int cmp_crow(const void *a, const void *b)
{
    const crow *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The DiskANN output of a compaction: every row's vector in memory (the
 * graph build needs them all), keys 0..n-1 in id order. */
static int compact_dann(const seg_builder *b, vseg *const *in, const crow *rows,
                        uint64_t n, const uint64_t *ids, const meta_col *mc,
                        const pay_col *pc, const pay_col *tc, uint64_t min_seq,
                        uint64_t max_seq, uint64_t number, vseg **out,
                        int *cancelled)
{
    size_t dim = b->iopts.dim;
    float *vecs = vx_mem_alloc(b->mem, (size_t)n * dim * sizeof *vecs);
    uint32_t *keys32 = vx_mem_alloc(b->mem, (size_t)n * sizeof *keys32);
    uint64_t *keys = vx_mem_alloc(b->mem, (size_t)n * sizeof *keys);
    int rc = VEX_OK;
    progress_set(b, 0, n);
    if (vecs == NULL || keys32 == NULL || keys == NULL || n >= UINT32_MAX) {
        rc = vx_err_set(
            b->err, n >= UINT32_MAX ? VEX_INVALID : VEX_NOMEM,
            "a DiskANN segment of %llu rows: %s", (unsigned long long)n,
            n >= UINT32_MAX ? "too many (at most 2^32 - 1)" : "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n && rc == VEX_OK; i++) {
        if (i % COMPACT_STEP == 0 && b->cancel && atomic_load(b->cancel)) {
            *cancelled = 1;
            goto out;
        }
        keys32[i] = (uint32_t)i;
        keys[i] = i;
        rc = vx_vseg_vector(in[rows[i].src], rows[i].key, vecs + i * dim,
                            b->err);
    }
    if (rc == VEX_OK) {
        dann_job dj = {b, vecs, keys32, (size_t)n};
        rc = write_segment(b, number, VEX_INDEX_DISKANN, n, n, ids, keys, ids,
                           NULL, 0, mc, pc, tc, min_seq, max_seq, &dj, out);
        if (rc == VEX_BUSY && b->cancel && atomic_load(b->cancel)) {
            *cancelled = 1; /* the graph build stopped: nothing written */
            rc = VEX_OK;
        } else if (rc != VEX_OK) {
            vx_ix_err_in(b->err, rc, "DiskANN segment");
        }
    }
out:
    vx_mem_free(b->mem, vecs);
    vx_mem_free(b->mem, keys32);
    vx_mem_free(b->mem, keys);
    return rc;
}

/* Merge inputs (the rows visible at s) into a new segment. *out NULL when
 * no row survives. VEX_ABORTED-like: returns VEX_OK with *cancelled when
 * the collection started closing. */
int vx_compact_build(const seg_builder *b, vseg *const *in, uint32_t n_in,
                     uint64_t s, uint64_t number, vseg **out, int *cancelled)
{
    vx_ix *ix = NULL;
    crow *rows = NULL;
    uint64_t n = 0, total = 0, *ids = NULL, *keys = NULL;
    unsigned char *vecs = NULL, *blob = NULL;
    uint64_t blob_size = 0, min_seq = UINT64_MAX, max_seq = 0;
    meta_col mc = {NULL, NULL, 0, 0, NULL, 0};
    pay_col pc = {NULL, NULL, 0}, tc = {NULL, NULL, 0};
    int rc = VEX_OK;
    *out = NULL;
    *cancelled = 0;
    for (uint32_t i = 0; i < n_in; i++) {
        total += in[i]->info.n_rows;
        if (in[i]->info.min_seq < min_seq)
            min_seq = in[i]->info.min_seq;
        if (in[i]->info.max_seq > max_seq)
            max_seq = in[i]->info.max_seq;
        if ((rc = vx_vseg_warm(in[i], b->err)) != VEX_OK)
            goto out;
    }
    rows = vx_mem_alloc(b->mem, (total ? total : 1) * sizeof *rows);
    if (rows == NULL) {
        rc = vx_err_set(b->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < n_in; i++) {
        const uint64_t *rk = vx_seg_row_keys(in[i]->s);
        for (uint64_t j = 0; j < in[i]->info.n_rows; j++)
            if (vseg_visible(in[i], rk[j], s)) {
                rows[n].id = vx_seg_key_id(in[i]->s, rk[j]);
                rows[n].src = i;
                rows[n].key = rk[j];
                n++;
            }
    }
    if (n == 0)
        goto out;
    qsort(rows, n, sizeof *rows, cmp_crow);
    ids = vx_mem_alloc(b->mem, n * sizeof *ids);
    keys = vx_mem_alloc(b->mem, n * sizeof *keys);
    vecs = vx_mem_alloc(b->mem, COMPACT_STEP * b->vec_bytes);
    if (ids == NULL || keys == NULL || vecs == NULL) {
        rc = vx_err_set(b->err, VEX_NOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        ids[i] = rows[i].id;
        keys[i] = i;
    }
    /* metadata: each live row's record, rebuilt from the input's columns
     * (opened strictly: the input files are untrusted) */
    rc = meta_col_init(b, &mc, n, 1);
    for (uint64_t i = 0; i < n && rc == VEX_OK; i++) {
        rc = vx_vseg_record(in[rows[i].src], rows[i].key, b->mem, &mc.owned[i],
                            b->err);
        mc.recs[i] = mc.owned[i];
    }
    if (rc == VEX_OK)
        rc = meta_col_encode(b, &mc);
    /* payloads: each live row's, from its input (checked at its open) */
    if (rc == VEX_OK && (rc = pay_col_init(b, &pc, n)) == VEX_OK)
        for (uint64_t i = 0; i < n; i++) {
            const unsigned char *p;
            size_t len;
            vx_seg_payload(in[rows[i].src]->s, rows[i].key, &p, &len);
            pay_col_set(&pc, i, p, len);
        }
    /* texts: each live row's (checked at its input's open); the output's
     * postings are built anew from them, over the live rows only */
    if (rc == VEX_OK && (rc = pay_col_init(b, &tc, n)) == VEX_OK)
        for (uint64_t i = 0; i < n; i++) {
            const char *p;
            size_t len;
            vx_seg_text(in[rows[i].src]->s, rows[i].key, &p, &len);
            pay_col_set(&tc, i, (const unsigned char *)p, len);
        }
    if (rc != VEX_OK)
        goto out;
    if (b->dann_min_rows && n >= b->dann_min_rows && n >= VX_DANN_MIN_ROWS) {
        rc = compact_dann(b, in, rows, n, ids, &mc, &pc, &tc, min_seq, max_seq,
                          number, out, cancelled);
        goto out;
    }
    rc = index_new(b, (int)b->iopts.kind, &ix);
    progress_set(b, 0, n);
    for (uint64_t at = 0; rc == VEX_OK && at < n; at += COMPACT_STEP) {
        size_t cnt = n - at < COMPACT_STEP ? (size_t)(n - at) : COMPACT_STEP;
        if ((b->cancel && atomic_load(b->cancel))) {
            *cancelled = 1;
            goto out;
        }
        for (size_t j = 0; j < cnt && rc == VEX_OK; j++) {
            const crow *r = &rows[at + j];
            rc = vx_vseg_vector(in[r->src], r->key, vecs + j * b->vec_bytes,
                                b->err);
        }
        if (rc == VEX_OK) {
            rc = vx_ix_add(ix, keys + at, vecs, cnt, 0, b->err);
            if (rc != VEX_OK)
                vx_ix_err_in(b->err, rc, "compaction index");
            progress_set(b, at + cnt, n);
        }
    }
    /* a merged segment trains its own quantizer on its own vectors */
    if (rc == VEX_OK && (rc = vx_ix_train_own(ix, b->err)) != VEX_OK)
        vx_ix_err_in(b->err, rc, "training the segment's quantizer");
    if (rc == VEX_OK)
        rc = serialize_index(b, ix, &blob, &blob_size);
    if (rc == VEX_OK)
        rc = write_segment(b, number, (int)b->iopts.kind, n, n, ids, keys, ids,
                           blob, blob_size, &mc, &pc, &tc, min_seq, max_seq,
                           NULL, out);
out:
    meta_col_free(b->mem, &mc);
    pay_col_free(b->mem, &pc);
    pay_col_free(b->mem, &tc);
    vx_ix_free(ix);
    vx_mem_free_aligned(b->mem, blob);
    vx_mem_free(b->mem, vecs);
    vx_mem_free(b->mem, keys);
    vx_mem_free(b->mem, ids);
    vx_mem_free(b->mem, rows);
    return rc;
}
