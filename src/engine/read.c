/* SPDX-License-Identifier: Apache-2.0 */
/*
 * read.c - reads of one record or of all of them, each on a snapshot
 * (V2): vex_get (the vector), vex_get_meta (the metadata),
 * vex_get_payload (the payload), vex_scan
 * (every visible record, optionally filtered), vex_collection_count. A
 * record is looked up newest source first: memtables from the active one
 * back, then segments from the newest.
 */
#include <string.h>

#include "engine/coll_int.h"
#include "engine/meta_api.h"
#include "meta/value.h"
#include "storage/source.h"

/* The source holding `id`'s row visible at snapshot `s`, and its ref:
 * the newest source that has one (a row ended in a newer source is not
 * visible there, so the first hit is the live one). */
const vx_source *vx_coll_find_row(const vx_snap *s, uint64_t id, uint64_t *ref)
{
    for (uint32_t i = 0; i < s->v->n_src; i++) {
        const vx_source *src = &s->v->src[i];
        if (src->m->find(src->self, id, s->seq, ref))
            return src;
    }
    return NULL;
}

/* Copy the vector of `id` as of snapshot `s`. */
int vx_coll_get_snap(vex_collection *c, const vx_snap *s, uint64_t id,
                     void *out)
{
    uint64_t ref;
    const vx_source *src = vx_coll_find_row(s, id, &ref);
    if (src == NULL)
        return vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                          (unsigned long long)id);
    return src->m->vector(src->self, ref, out, &c->err);
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

/* vex_get_payload and vex_get_text: the row's bytes of either kind. */
static int get_bytes(vex_collection *c, uint64_t id, void *buf, size_t cap,
                     size_t *len, int text)
{
    vx_snap s;
    uint64_t ref;
    const vx_source *src;
    const void *p = NULL;
    const char *t = NULL;
    size_t n = 0;
    int rc;
    if (len)
        *len = 0;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (len == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "len is NULL");
    if (buf == NULL && cap > 0)
        return vx_err_set(&c->err, VEX_MISUSE, "buf is NULL with cap %zu", cap);
    vx_coll_snap_take(c, &s);
    src = vx_coll_find_row(&s, id, &ref);
    if (src == NULL) {
        rc = vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                        (unsigned long long)id);
    } else {
        rc = text ? src->m->text(src->self, ref, &t, &n, &c->err)
                  : src->m->payload(src->self, ref, &p, &n, &c->err);
        if (text)
            p = t;
        if (rc == VEX_OK) {
            if (n > 0 && cap > 0)
                memcpy(buf, p, n < cap ? n : cap);
            *len = n;
        }
    }
    vx_coll_snap_drop(&s);
    return rc;
}

int vex_get_payload(vex_collection *c, uint64_t id, void *buf, size_t cap,
                    size_t *len)
{
    return get_bytes(c, id, buf, cap, len, 0);
}

int vex_get_text(vex_collection *c, uint64_t id, char *buf, size_t cap,
                 size_t *len)
{
    return get_bytes(c, id, buf, cap, len, 1);
}

/* Copy the metadata of `id` as of snapshot `s` into `out`. */
int vx_coll_get_meta_snap(vex_collection *c, const vx_snap *s, uint64_t id,
                          vex_meta *out)
{
    uint64_t ref;
    const vx_source *src = vx_coll_find_row(s, id, &ref);
    vm_record *rec = NULL;
    int rc;
    if (src == NULL) {
        vx_meta_take(out, NULL);
        return vx_err_set(&c->err, VEX_NOTFOUND, "no record with id %llu",
                          (unsigned long long)id);
    }
    rc = src->m->record(src->self, ref, vx_meta_mem(out), &rec, &c->err);
    if (rc != VEX_OK)
        return rc;
    vx_meta_take(out, rec);
    return VEX_OK;
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

/* One scanned row: its metadata copied into the caller's handle. */
typedef struct scan_ctx {
    vex_collection *c;
    vex_meta *m;
    int (*fn)(void *ctx, uint64_t id, const vex_meta *meta);
    void *ctx;
} scan_ctx;

static int scan_row(void *arg, const vx_source *src, uint64_t id, uint64_t ref)
{
    scan_ctx *sc = arg;
    vm_record *rec = NULL;
    int rc =
        src->m->record(src->self, ref, vx_meta_mem(sc->m), &rec, &sc->c->err);
    if (rc != VEX_OK)
        return rc;
    vx_meta_take(sc->m, rec);
    return sc->fn(sc->ctx, id, sc->m);
}

typedef struct scan_fwd_ctx {
    const vx_source *src;
    vx_coll_row_fn fn;
    void *ctx;
} scan_fwd_ctx;

static int scan_fwd(void *arg, uint64_t id, uint64_t ref)
{
    scan_fwd_ctx *f = arg;
    return f->fn(f->ctx, f->src, id, ref);
}

/* The rows of snapshot `s` that `where` (NULL: all) matches, newest
 * source first; each visible record once (a record has one visible row
 * at a sequence number). Segments answer with their match set, memtables
 * evaluate the filter per row. */
int vx_coll_scan_snap(vex_collection *c, const vx_snap *s,
                      const vex_filter *where, vx_coll_row_fn fn, void *ctx)
{
    int rc = VEX_OK;
    for (uint32_t i = 0; i < s->v->n_src && rc == VEX_OK; i++) {
        const vx_source *src = &s->v->src[i];
        const vx_match *match = NULL;
        vx_src_accept acc;
        memset(&acc, 0, sizeof acc);
        acc.seq = s->seq;
        if (src->m->refs(src->self) == 0)
            continue;
        if (where && src->m->match) {
            vx_src_query q;
            int built;
            memset(&q, 0, sizeof q);
            q.where = where->f;
            q.where_key = &where->key;
            q.seq = s->seq;
            q.mem = c->mem;
            rc = src->m->match(src->self, &q, &match, &built, &c->err);
            if (rc != VEX_OK)
                break;
            acc.bits = match->bits;
        } else if (where) {
            acc.where = where->f;
        }
        {
            scan_fwd_ctx fwd = {src, fn, ctx};
            rc = src->m->scan(src->self, &acc, scan_fwd, &fwd, &c->err);
        }
        if (match)
            src->m->match_release(src->self, match);
    }
    return rc;
}

int vex_scan(vex_collection *c, const vex_filter *where,
             int (*fn)(void *ctx, uint64_t id, const vex_meta *meta), void *ctx)
{
    scan_ctx sc;
    vx_snap s;
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (fn == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "fn is NULL");
    memset(&sc, 0, sizeof sc);
    sc.c = c;
    sc.fn = fn;
    sc.ctx = ctx;
    rc = vex_meta_create(c->db->opts.allocator, &sc.m);
    if (rc != VEX_OK)
        return vx_coll_nomem(c);
    vx_coll_snap_take(c, &s);
    rc = vx_coll_scan_snap(c, &s, where, scan_row, &sc);
    vx_coll_snap_drop(&s);
    vex_meta_free(sc.m);
    return rc;
}

static int count_row(void *arg, const vx_source *src, uint64_t id, uint64_t ref)
{
    (void)src;
    (void)id;
    (void)ref;
    (*(uint64_t *)arg)++;
    return 0;
}

int vex_count_where(vex_collection *c, const vex_filter *where, uint64_t *count)
{
    vx_snap s;
    uint64_t n = 0;
    int rc;
    if (count)
        *count = 0;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (count == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "count is NULL");
    vx_coll_snap_take(c, &s);
    rc = vx_coll_scan_snap(c, &s, where, count_row, &n);
    vx_coll_snap_drop(&s);
    if (rc == VEX_OK)
        *count = n;
    return rc;
}
