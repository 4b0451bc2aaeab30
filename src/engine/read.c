/*
 * read.c - reads of one record or of all of them, each on a snapshot
 * (V2): vex_get (the vector), vex_get_meta (the metadata), vex_scan
 * (every visible record, optionally filtered), vex_collection_count. A
 * record is looked up newest source first: memtables from the active one
 * back, then segments from the newest.
 */
#include <string.h>

#include "engine/coll_int.h"
#include "engine/meta_api.h"
#include "meta/value.h"
#include "storage/segment.h"

/* Copy the vector of `id` as of snapshot `s`. */
int vx_coll_get_snap(vex_collection *c, const vx_snap *s, uint64_t id,
                     void *out)
{
    const version *v = s->v;
    uint64_t row, key;
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_find(v->mts[i], id, s->seq, &row)) {
            memcpy(out, mt_row_vec(v->mts[i], row), c->vec_bytes);
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;) {
        vseg *g = v->segs[i];
        vex_index *ix;
        int rc;
        if (!vx_seg_find(g->s, id, &key) || !vseg_visible(g, key, s->seq))
            continue;
        if ((rc = vx_vseg_index(g, &ix, &c->err)) != VEX_OK)
            return rc;
        if (vex_index_get(ix, key, out) != VEX_OK)
            return vx_err_set(&c->err, VEX_CORRUPT,
                              "%s: id %llu (key %llu) is listed but not in "
                              "the index",
                              vx_seg_path(g->s), (unsigned long long)id,
                              (unsigned long long)key);
        return VEX_OK;
    }
    return vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                      (unsigned long long)id);
}

int vex_get(vex_collection *c, uint64_t id, void *vector_out)
{
    vx_snap s;
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (vector_out == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "vector_out is NULL");
    vx_coll_snap_take(c, &s);
    rc = vx_coll_get_snap(c, &s, id, vector_out);
    vx_coll_snap_drop(&s);
    return rc;
}

/* Copy the metadata of `id` as of snapshot `s` into `out`. */
int vx_coll_get_meta_snap(vex_collection *c, const vx_snap *s, uint64_t id,
                          vex_meta *out)
{
    const version *v = s->v;
    const vex_mem *om = vx_meta_mem(out);
    uint64_t row, key;
    for (uint32_t i = v->n_mts; i-- > 0;)
        if (vx_mt_find(v->mts[i], id, s->seq, &row)) {
            const vm_record *rec = mt_row_meta(v->mts[i], row);
            vm_record *copy = NULL;
            if (rec && vx_vm_record_copy(rec, om, &copy) != VEX_OK)
                return vx_coll_nomem(c);
            vx_meta_take(out, copy);
            return VEX_OK;
        }
    for (uint32_t i = v->n_segs; i-- > 0;) {
        vseg *g = v->segs[i];
        vm_record *rec = NULL;
        int rc;
        if (!vx_seg_find(g->s, id, &key) || !vseg_visible(g, key, s->seq))
            continue;
        rc = vx_vseg_record(g, key, om, &rec, &c->err);
        if (rc != VEX_OK)
            return rc;
        vx_meta_take(out, rec);
        return VEX_OK;
    }
    vx_meta_take(out, NULL);
    return vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                      (unsigned long long)id);
}

int vex_get_meta(vex_collection *c, uint64_t id, vex_meta *out)
{
    vx_snap s;
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (out == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "out is NULL");
    vx_coll_snap_take(c, &s);
    rc = vx_coll_get_meta_snap(c, &s, id, out);
    vx_coll_snap_drop(&s);
    return rc;
}

uint64_t vex_collection_count(vex_collection *c)
{
    if (!vx_coll_usable(c))
        return 0;
    return atomic_load(&c->counts.n_live);
}

int vex_scan(vex_collection *c, const vex_filter *where,
             int (*fn)(void *ctx, uint64_t id, const vex_meta *meta), void *ctx)
{
    vex_meta *m = NULL;
    vx_snap s;
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (fn == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "fn is NULL");
    rc = vex_meta_create(c->db->opts.allocator, &m);
    if (rc != VEX_OK)
        return vx_coll_nomem(c);
    vx_coll_snap_take(c, &s);
    for (uint32_t i = 0; i < s.v->n_mts && rc == VEX_OK; i++) {
        const memtable *mt = s.v->mts[i];
        uint64_t n = mt_rows(mt);
        for (uint64_t r = 0; r < n && rc == VEX_OK; r++) {
            const vm_record *rec;
            vm_record *copy = NULL;
            if (!mt_visible(mt, r, s.seq))
                continue;
            rec = mt_row_meta(mt, r);
            if (where && !vx_vmf_eval(where->f, rec))
                continue;
            if (rec &&
                vx_vm_record_copy(rec, vx_meta_mem(m), &copy) != VEX_OK) {
                rc = vx_coll_nomem(c);
                break;
            }
            vx_meta_take(m, copy);
            rc = fn(ctx, mt_row_id(mt, r), m);
        }
    }
    for (uint32_t i = 0; i < s.v->n_segs && rc == VEX_OK; i++) {
        vseg *g = s.v->segs[i];
        const uint64_t *ids = vx_seg_ids(g->s), *rk = vx_seg_row_keys(g->s);
        const vx_match *match = NULL;
        const uint64_t *bits = NULL;
        if (g->info.n_rows == 0)
            continue;
        int built;
        if (where && (rc = vx_vseg_match(g, where->id, where->f, &match, &built,
                                         &c->err)) == VEX_OK)
            bits = match->bits;
        for (uint64_t j = 0; j < g->info.n_rows && rc == VEX_OK; j++) {
            vm_record *copy = NULL;
            if (!vseg_visible(g, rk[j], s.seq))
                continue;
            if (bits && !((bits[rk[j] >> 6] >> (rk[j] & 63)) & 1))
                continue;
            rc = vx_vseg_record(g, rk[j], vx_meta_mem(m), &copy, &c->err);
            if (rc != VEX_OK) {
                vx_vm_record_free(copy, vx_meta_mem(m));
                break;
            }
            vx_meta_take(m, copy);
            rc = fn(ctx, ids[j], m);
        }
        vx_vseg_match_release(g, match);
    }
    vx_coll_snap_drop(&s);
    vex_meta_free(m);
    return rc;
}
