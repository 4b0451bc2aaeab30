/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c - vex_stats_get (rows, memtables, segments, flushes,
 * compactions, stalls, bytes on disk) and vex_stats_segments, read from a
 * snapshot and the collection's atomic counters without blocking writers.
 */
#include <string.h>

#include "engine/coll_int.h"
#include "storage/segment.h"
#include "util/abi.h"

void vex_stats_init_size(vex_stats *st, size_t size)
{
    vex_stats full;
    if (st == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    vx_abi_init(&VX_ABI_STATS, st, size, &full);
}

void(vex_stats_init)(vex_stats *st)
{
    vex_stats_init_size(st, VX_ABI_STATS.ends[0]);
}

typedef struct du_ctx {
    vex_collection *c;
    const char *dir;
    uint64_t bytes;
} du_ctx;

static int du_entry(void *arg, const char *name, int kind)
{
    du_ctx *d = arg;
    vex_vfs *vfs = d->c->db->vfs;
    char *p;
    vex_file *f = NULL;
    uint64_t size = 0;
    if (kind != VEX_VFS_FILE)
        return 0;
    p = vx_path_join(d->c->mem, d->dir, name);
    if (p == NULL)
        return 0;
    if (vfs->methods->open(vfs, p, VX_FILE_READONLY, &f, NULL) == VEX_OK) {
        if (vfs->methods->size(f, &size, NULL) == VEX_OK)
            d->bytes += size;
        vfs->methods->close(f, NULL);
    }
    vx_mem_free(d->c->mem, p);
    return 0;
}

int vex_stats_get(vex_collection *c, vex_stats *user)
{
    vex_stats full, *st = &full;
    vx_snap s;
    du_ctx d;
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (user == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "stats is NULL");
    if ((rc = vx_abi_check(&VX_ABI_STATS, user->struct_size, &c->err)) !=
        VEX_OK)
        return rc;
    vex_stats_init(st);
    vx_coll_snap_take(c, &s);
    st->live_rows = atomic_load(&c->counts.n_live);
    st->memtables = s.v->n_mts;
    st->frozen_memtables = s.v->n_mts - 1;
    for (uint32_t i = 0; i < s.v->n_mts; i++) {
        const memtable *m = s.v->mts[i];
        uint64_t n = mt_rows(m);
        st->memtable_rows += n;
        st->memtable_bytes += vx_mt_memory(m);
        st->payload_bytes +=
            atomic_load_explicit(&m->pay_bytes, memory_order_relaxed);
        if (m->ix)
            st->unindexed_rows += n - mt_indexed(m);
    }
    st->segments = s.v->n_segs;
    for (uint32_t i = 0; i < s.v->n_segs; i++) {
        const vseg *g = s.v->segs[i];
        st->segment_rows += g->info.n_keys;
        st->deleted_rows += vseg_dead(g);
        st->segment_bytes += g->info.file_size;
        st->payload_bytes += vx_seg_payload_bytes(g->s);
        if (g->info.index_kind == VEX_INDEX_DISKANN) {
            uint64_t cache;
            vex_err tmp;
            /* opened here if no search has yet (a damaged one is
             * reported by the searches that need it) */
            vx_err_init(&tmp);
            (void)vx_vseg_warm((vseg *)g, &tmp);
            vx_err_destroy(&tmp);
            st->diskann_segments++;
            st->diskann_resident_bytes += vx_vseg_dann_resident(g, &cache);
            st->diskann_cache_bytes += cache;
        }
    }
    st->last_seq = s.seq;
    vx_coll_snap_drop(&s);
    st->flushed_seq = atomic_load(&c->apply.flushed_seq);
    st->flushes = atomic_load(&c->counts.n_flushes);
    st->compactions = atomic_load(&c->counts.n_compactions);
    st->compacted_rows = atomic_load(&c->counts.n_compacted_rows);
    st->write_stalls = atomic_load(&c->counts.n_stalls);
    /* total first: a build that ends between the loads reads 0 of 0 or
     * its last figures, never done above total */
    st->flush_rows_total = atomic_load(&c->bg.flush_total);
    st->flush_rows_done = atomic_load(&c->bg.flush_done);
    st->compact_rows_total = atomic_load(&c->bg.compact_total);
    st->compact_rows_done = atomic_load(&c->bg.compact_done);
    if (st->flush_rows_done > st->flush_rows_total)
        st->flush_rows_done = st->flush_rows_total;
    if (st->compact_rows_done > st->compact_rows_total)
        st->compact_rows_done = st->compact_rows_total;
    d.c = c;
    d.bytes = 0;
    d.dir = c->dir;
    (void)c->db->vfs->methods->list(c->db->vfs, c->dir, du_entry, &d, NULL);
    d.dir = c->wal_dir;
    (void)c->db->vfs->methods->list(c->db->vfs, c->wal_dir, du_entry, &d, NULL);
    st->disk_bytes = d.bytes;
    vx_abi_out(&VX_ABI_STATS, user, st);
    return VEX_OK;
}

int vex_stats_segments(vex_collection *c, vex_segment_stats *out, size_t cap,
                       size_t *n)
{
    vx_snap s;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (n == NULL || (out == NULL && cap > 0))
        return vx_err_set(&c->err, VEX_MISUSE,
                          "n is NULL, or out is NULL with cap > 0");
    vx_coll_snap_take(c, &s);
    *n = s.v->n_segs;
    for (size_t i = 0; i < cap && i < s.v->n_segs; i++) {
        const vseg *g = s.v->segs[i];
        out[i].number = g->info.number;
        out[i].rows = g->info.n_keys;
        out[i].live_rows = vseg_live_rows(g);
        out[i].file_bytes = g->info.file_size;
        out[i].index_kind = (vex_index_kind)g->info.index_kind;
    }
    vx_coll_snap_drop(&s);
    return VEX_OK;
}
