/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.c - reference-counted versions and segments in use (the
 * protocol, V1-V6, is in version.h).
 */
#include "storage/version.h"

#include "index/blob.h"
#include "index/ix.h"
#include "util/check.h"

#include <stdio.h>
#include <string.h>

int vx_vseg_open(vex_vfs *vfs, const char *path, uint64_t number,
                 const vex_mem *mem, vex_pool *pool, const vseg_env *env,
                 vex_err *err, vseg **out)
{
    vseg *v = vx_mem_calloc(mem, 1, sizeof *v);
    int rc;
    *out = NULL;
    if (v == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    v->mem = mem;
    v->vfs = vfs;
    v->pool = pool;
    v->mcache = env ? env->mcache : NULL;
    v->budget = env ? env->dann_budget : NULL;
    atomic_init(&v->dann, NULL);
    atomic_init(&v->refs, 1);
    atomic_init(&v->del, NULL);
    atomic_init(&v->n_deleted, 0);
    atomic_init(&v->obsolete, 0);
    atomic_init(&v->ix, NULL);
    pthread_mutex_init(&v->open_lock, NULL);
    rc = vx_seg_open(vfs, path, number, mem, err, &v->s);
    if (rc != VEX_OK) {
        pthread_mutex_destroy(&v->open_lock);
        vx_mem_free(mem, v);
        return rc;
    }
    vx_seg_get_info(v->s, &v->info);
    *out = v;
    return VEX_OK;
}

void vx_vseg_ref(vseg *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void vx_vseg_unref(vseg *v)
{
    _Atomic uint64_t *d;
    if (v == NULL ||
        atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    vx_ix_free(atomic_load_explicit(&v->ix, memory_order_relaxed));
    vx_dann_close(atomic_load_explicit(&v->dann, memory_order_relaxed));
    if (v->budget && v->dann_cache)
        atomic_fetch_add(v->budget, v->dann_cache);
    /* its match sets go before its address can name another segment */
    vx_mcache_drop_owner(v->mcache, v);
    vx_vm_colset_close(atomic_load_explicit(&v->cols, memory_order_relaxed));
    if (atomic_load(&v->obsolete)) {
        /* V5: replaced by a published manifest and no longer read */
        size_t n = strlen(vx_seg_path(v->s)) + 1;
        char *path = vx_mem_alloc(v->mem, n);
        if (path)
            memcpy(path, vx_seg_path(v->s), n);
        vx_seg_close(v->s);
        if (path)
            (void)v->vfs->methods->remove(v->vfs, path, NULL);
        vx_mem_free(v->mem, path);
    } else {
        vx_seg_close(v->s);
    }
    d = atomic_load_explicit(&v->del, memory_order_relaxed);
    vx_mem_free(v->mem, (void *)d);
    pthread_mutex_destroy(&v->open_lock);
    vx_mem_free(v->mem, v);
}

int vx_vseg_delete(vseg *v, uint64_t key, uint64_t seq)
{
    _Atomic uint64_t *d = atomic_load_explicit(&v->del, memory_order_relaxed);
    /* V6: a key is deleted once, at a real sequence number, and only a
     * key live at birth holds a row to delete */
    VX_ASSERT(key < v->info.n_keys && seq > 0);
    VX_ASSERT(vx_seg_key_live(v->s, key) && vseg_del_seq(v, key) == 0);
    if (d == NULL) {
        d = vx_mem_calloc(v->mem, v->info.n_keys ? v->info.n_keys : 1,
                          sizeof *d);
        if (d == NULL)
            return VEX_NOMEM;
        atomic_store_explicit(&v->del, d, memory_order_release);
    }
    atomic_store_explicit(&d[key], seq, memory_order_release);
    atomic_fetch_add_explicit(&v->n_deleted, 1, memory_order_relaxed);
    return VEX_OK;
}

int vx_vseg_live(const vseg *v, uint64_t id, uint64_t *key)
{
    uint64_t k;
    if (!vx_seg_find(v->s, id, &k) || vseg_del_seq(v, k) != 0)
        return 0;
    *key = k;
    return 1;
}

int vx_vseg_colset(vseg *v, const vm_colset **out, vex_err *err)
{
    vm_colset *cs = atomic_load_explicit(&v->cols, memory_order_acquire);
    const unsigned char *p;
    size_t len;
    uint64_t off;
    int rc = VEX_OK;
    *out = NULL;
    if (cs || !vx_seg_meta(v->s, &p, &len, &off)) {
        *out = cs;
        return VEX_OK;
    }
    pthread_mutex_lock(&v->open_lock);
    cs = atomic_load_explicit(&v->cols, memory_order_relaxed);
    if (cs == NULL) {
        vex_err e;
        vx_err_init(&e);
        if (v->info.n_keys > UINT32_MAX)
            rc = vx_err_set(&e, VEX_CORRUPT,
                            "%llu keys, metadata columns hold at most "
                            "4294967295 rows",
                            (unsigned long long)v->info.n_keys);
        else
            rc = vx_vm_colset_open(p, len, (uint32_t)v->info.n_keys, v->mem, &e,
                                   &cs);
        if (rc != VEX_OK) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&e, msg, sizeof msg);
            vx_err_set(err, rc, "%s: meta section at offset %llu: %s",
                       vx_seg_path(v->s), (unsigned long long)off, msg);
            vx_vm_colset_close(cs);
            cs = NULL;
        } else {
            atomic_store_explicit(&v->cols, cs, memory_order_release);
        }
        vx_err_destroy(&e);
    }
    pthread_mutex_unlock(&v->open_lock);
    *out = cs;
    return rc;
}

int vx_vseg_record(vseg *v, uint64_t key, const vex_mem *mem, vm_record **out,
                   vex_err *err)
{
    const vm_colset *cs;
    int rc = vx_vseg_colset(v, &cs, err);
    *out = NULL;
    if (rc != VEX_OK || cs == NULL)
        return rc;
    {
        vex_err e;
        vx_err_init(&e);
        rc = vx_vm_colset_record(cs, (uint32_t)key, mem, &e, out);
        if (rc != VEX_OK) {
            char msg[VEX_ERRMSG_MAX];
            vx_err_copy(&e, msg, sizeof msg);
            vx_err_set(err, rc, "%s: metadata of key %llu: %s",
                       vx_seg_path(v->s), (unsigned long long)key, msg);
        }
        vx_err_destroy(&e);
    }
    return rc;
}

int vx_vseg_match(vseg *v, const vx_mkey *key, const vmf_filter *f,
                  const vx_match **out, int *built, vex_err *err)
{
    const vm_colset *cs;
    uint64_t *b, n = 0, n_keys = v->info.n_keys, words = (n_keys + 63) / 64;
    int rc;
    *out = NULL;
    *built = 0;
    if (v->mcache && (*out = vx_mcache_get(v->mcache, v, key)) != NULL)
        return VEX_OK;
    *built = 1;
    rc = vx_vseg_colset(v, &cs, err);
    if (rc != VEX_OK)
        return rc;
    b = vx_mem_calloc(v->mem, words + 1, sizeof *b);
    if (b == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    if (cs) {
        uint64_t m;
        rc = vx_vm_colset_eval(cs, f, b, &m, err);
    } else {
        /* no metadata at all: every key is a record without fields */
        vm_record *none = NULL;
        if (vx_vmf_eval(f, none))
            for (uint64_t w = 0; w < words; w++)
                b[w] = ~UINT64_C(0);
    }
    if (rc != VEX_OK) {
        vx_mem_free(v->mem, b);
        return rc;
    }
    /* only keys live at birth are rows (dead keys have no metadata and
     * could match a filter such as "x IS NULL"); the live bitmap's bits
     * past n_keys are clear, so this also cuts the last word */
    {
        const uint64_t *live = vx_seg_live_words(v->s);
        for (uint64_t w = 0; w < words; w++) {
            b[w] &= live[w];
            n += (uint64_t)__builtin_popcountll(b[w]);
        }
    }
    if (v->mcache) {
        *out = vx_mcache_put(v->mcache, v, key, b, (words + 1) * sizeof *b, n);
    } else {
        /* no cache: an uncached set of a budget-0 cache of its own is not
         * worth one; hand out a set the release frees */
        vx_match *m = vx_mem_calloc(v->mem, 1, sizeof *m);
        if (m) {
            m->bits = b;
            m->count = n;
        } else {
            vx_mem_free(v->mem, b);
        }
        *out = m;
    }
    if (*out == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    return VEX_OK;
}

void vx_vseg_match_release(vseg *v, const vx_match *m)
{
    if (m == NULL)
        return;
    if (v->mcache) {
        vx_mcache_release(v->mcache, m);
    } else {
        vx_mem_free(v->mem, (void *)m->bits);
        vx_mem_free(v->mem, (void *)m);
    }
}

int vx_vseg_index(vseg *v, vx_ix **out, vex_err *err)
{
    vx_ix *ix = atomic_load_explicit(&v->ix, memory_order_acquire);
    int rc;
    if (ix) {
        *out = ix;
        return VEX_OK;
    }
    if (v->info.index_kind == VEX_INDEX_DISKANN)
        return vx_err_set(err, VEX_MISUSE,
                          "%s: a DiskANN segment has no in-memory index",
                          vx_seg_path(v->s));
    pthread_mutex_lock(&v->open_lock);
    ix = atomic_load_explicit(&v->ix, memory_order_relaxed);
    if (ix == NULL && v->ix_rc == VEX_OK) {
        const void *blob = NULL;
        uint64_t size = 0;
        vex_open_options oo;
        const vex_index_config *ic;
        vex_err tmp;
        vx_err_init(&tmp);
        rc = vx_seg_index(v->s, &blob, &size, &tmp);
        if (rc == VEX_OK) {
            vex_open_options_init(&oo);
            oo.n_threads = 1;
            oo.allocator = &v->mem->a;
            rc = vx_ix_open_buffer(blob, size, &oo, v->pool, &ix, &tmp);
            if (rc != VEX_OK) {
                char msg[VEX_ERRMSG_MAX];
                vx_err_copy(&tmp, msg, sizeof msg);
                vx_err_set(&tmp, rc, "%s: index section: %s", vx_seg_path(v->s),
                           msg);
            }
        }
        if (rc == VEX_OK) {
            ic = vx_ix_config(ix);
            if (ic->dim != v->info.dim || (uint32_t)ic->elem != v->info.elem ||
                (uint32_t)ic->metric != v->info.metric ||
                vx_ix_count(ix) != v->info.n_keys)
                rc = vx_err_set(
                    &tmp, VEX_CORRUPT,
                    "%s: index section holds %llu vectors of dim %u, the "
                    "segment header says %llu keys of dim %u",
                    vx_seg_path(v->s), (unsigned long long)vx_ix_count(ix),
                    ic->dim, (unsigned long long)v->info.n_keys, v->info.dim);
        }
        if (rc == VEX_OK) {
            /* the open read every vector to check it; a quantized index
             * reads its full vectors again only to rerank: leave them on
             * disk (the codes, ids and graph stay resident) */
            uint64_t off, len;
            if (vx_blob_cold_range(blob, size, &off, &len))
                vx_seg_advise_cold(v->s, (const unsigned char *)blob + off,
                                   len);
        }
        if (rc != VEX_OK) {
            vx_ix_free(ix);
            ix = NULL;
            v->ix_rc = rc;
            vx_err_copy(&tmp, v->ix_msg, sizeof v->ix_msg);
        } else {
            atomic_store_explicit(&v->ix, ix, memory_order_release);
        }
        vx_err_destroy(&tmp);
    }
    rc = v->ix_rc;
    pthread_mutex_unlock(&v->open_lock);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s", v->ix_msg);
    *out = ix;
    return VEX_OK;
}

/* Take up to half of what is left of the budget (at most `want`). */
static uint64_t dann_budget_take(_Atomic uint64_t *b, uint64_t want)
{
    uint64_t left, take;
    if (b == NULL)
        return 0;
    left = atomic_load(b);
    do {
        take = left / 2 < want ? left / 2 : want;
    } while (take && !atomic_compare_exchange_weak(b, &left, left - take));
    return take;
}

int vx_vseg_dann(vseg *v, vx_dann **out, vex_err *err)
{
    vx_dann *d = atomic_load_explicit(&v->dann, memory_order_acquire);
    int rc;
    if (d) {
        *out = d;
        return VEX_OK;
    }
    *out = NULL;
    if (v->info.index_kind != VEX_INDEX_DISKANN)
        return vx_err_set(err, VEX_MISUSE, "%s: not a DiskANN segment",
                          vx_seg_path(v->s));
    pthread_mutex_lock(&v->open_lock);
    d = atomic_load_explicit(&v->dann, memory_order_relaxed);
    if (d == NULL && v->ix_rc == VEX_OK) {
        uint64_t off, len, take, cached = 0;
        vex_err tmp;
        vx_err_init(&tmp);
        vx_seg_index_range(v->s, &off, &len);
        take = dann_budget_take(v->budget, len);
        rc = vx_dann_open(v->mem, vx_seg_file(v->s), off, len, take, &d, &tmp);
        if (rc == VEX_OK &&
            (vx_dann_count(d) != v->info.n_keys ||
             v->info.n_rows != v->info.n_keys ||
             vx_dann_dim(d) != v->info.dim || !vx_dann_dense_keys(d)))
            rc =
                vx_err_set(&tmp, VEX_CORRUPT,
                           "holds %llu vectors of dim %u (keys %s), the "
                           "segment header says %llu keys and %llu rows "
                           "of dim %u",
                           (unsigned long long)vx_dann_count(d), vx_dann_dim(d),
                           vx_dann_dense_keys(d) ? "0..n-1" : "not 0..n-1",
                           (unsigned long long)v->info.n_keys,
                           (unsigned long long)v->info.n_rows, v->info.dim);
        if (rc == VEX_OK) {
            vx_dann_pages(d, &cached);
            v->dann_cache = cached * VX_DANN_PAGE;
            atomic_store_explicit(&v->dann, d, memory_order_release);
        } else {
            char msg[VEX_ERRMSG_MAX / 2];
            vx_dann_close(d);
            d = NULL;
            vx_err_copy(&tmp, msg, sizeof msg);
            v->ix_rc = rc;
            snprintf(v->ix_msg, sizeof v->ix_msg, "%s: index section: %s",
                     vx_seg_path(v->s), msg);
        }
        /* what the cache did not use goes back */
        if (v->budget && take > v->dann_cache)
            atomic_fetch_add(v->budget, take - v->dann_cache);
        vx_err_destroy(&tmp);
    }
    rc = v->ix_rc;
    pthread_mutex_unlock(&v->open_lock);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s", v->ix_msg);
    *out = d;
    return VEX_OK;
}

int vx_vseg_warm(vseg *v, vex_err *err)
{
    if (v->info.index_kind == VEX_INDEX_DISKANN) {
        vx_dann *d;
        return vx_vseg_dann(v, &d, err);
    }
    vx_ix *ix;
    return vx_vseg_index(v, &ix, err);
}

int vx_vseg_vector(vseg *v, uint64_t key, void *out, vex_err *err)
{
    int rc;
    if (v->info.index_kind == VEX_INDEX_DISKANN) {
        vx_dann *d;
        vx_dann_scratch *sc;
        if ((rc = vx_vseg_dann(v, &d, err)) != VEX_OK)
            return rc;
        if (vx_dann_acquire(d, 1, 1, &sc) != VEX_OK)
            return vx_err_set(err, VEX_NOMEM, "out of memory");
        rc = vx_dann_vector(d, sc, (uint32_t)key, out, NULL, err);
        vx_dann_release(d, sc);
        if (rc == VEX_NOTFOUND)
            rc = vx_err_set(err, VEX_CORRUPT,
                            "%s: key %llu is live but not in the index",
                            vx_seg_path(v->s), (unsigned long long)key);
        else if (rc != VEX_OK)
            rc = vx_ix_err_in(err, rc, vx_seg_path(v->s));
        return rc;
    }
    vx_ix *ix;
    if ((rc = vx_vseg_index(v, &ix, err)) != VEX_OK)
        return rc;
    if (vx_ix_get(ix, key, out, NULL) != VEX_OK)
        return vx_err_set(err, VEX_CORRUPT,
                          "%s: key %llu is live but not in the index",
                          vx_seg_path(v->s), (unsigned long long)key);
    return VEX_OK;
}

uint64_t vx_vseg_dann_resident(const vseg *v, uint64_t *cache)
{
    vx_dann *d = atomic_load_explicit(&((vseg *)v)->dann, memory_order_acquire);
    *cache = d ? v->dann_cache : 0;
    return d ? vx_dann_resident_bytes(d) : 0;
}

int vx_version_new(const vex_mem *mem, memtable *const *mts, uint32_t n_mts,
                   vseg *const *segs, uint32_t n_segs, version **out)
{
    version *v = vx_mem_calloc(mem, 1, sizeof *v);
    *out = NULL;
    if (v == NULL)
        return VEX_NOMEM;
    v->mem = mem;
    v->mts = vx_mem_alloc(mem, (n_mts ? n_mts : 1) * sizeof *v->mts);
    v->segs = vx_mem_alloc(mem, (n_segs ? n_segs : 1) * sizeof *v->segs);
    v->src = vx_mem_alloc(mem, ((size_t)n_mts + n_segs + 1) * sizeof *v->src);
    if (v->mts == NULL || v->segs == NULL || v->src == NULL) {
        vx_mem_free(mem, v->mts);
        vx_mem_free(mem, v->segs);
        vx_mem_free(mem, v->src);
        vx_mem_free(mem, v);
        return VEX_NOMEM;
    }
    atomic_init(&v->refs, 1);
    VX_ASSERT(n_mts >= 1); /* there is always an active memtable */
    v->n_mts = n_mts;
    v->n_segs = n_segs;
    for (uint32_t i = 0; i < n_mts; i++) {
        v->mts[i] = mts[i];
        vx_mt_ref(mts[i]);
    }
    for (uint32_t i = 0; i < n_segs; i++) {
        v->segs[i] = segs[i];
        vx_vseg_ref(segs[i]);
    }
    for (uint32_t i = n_mts; i-- > 0;)
        v->src[v->n_src++] = (vx_source){&vx_memtable_source, mts[i]};
    for (uint32_t i = n_segs; i-- > 0;)
        v->src[v->n_src++] =
            (vx_source){segs[i]->info.index_kind == VEX_INDEX_DISKANN
                            ? &vx_dann_segment_source
                            : &vx_segment_source,
                        segs[i]};
    *out = v;
    return VEX_OK;
}

void vx_version_ref(version *v)
{
    atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void vx_version_unref(version *v)
{
    if (v == NULL ||
        atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < v->n_mts; i++)
        vx_mt_unref(v->mts[i]);
    for (uint32_t i = 0; i < v->n_segs; i++)
        vx_vseg_unref(v->segs[i]);
    vx_mem_free(v->mem, v->mts);
    vx_mem_free(v->mem, v->segs);
    vx_mem_free(v->mem, v->src);
    vx_mem_free(v->mem, v);
}
