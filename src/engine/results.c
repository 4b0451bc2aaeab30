/* SPDX-License-Identifier: Apache-2.0 */
/*
 * results.c - the vex_results handle: a caller-owned, reusable set of
 * search hits with their projections (vector, metadata, payload), filled
 * by vex_search_results (k-NN) and vex_range_search (all records within
 * a radius, up to a limit).
 *
 * One search runs on one snapshot (V2): the hits come from search.c's
 * vx_coll_search_run, and each hit's row is then found again by id at the
 * snapshot's sequence number (vx_coll_find_row) and its projections read
 * through the source interface (storage/source.h), so metadata and
 * payload are those of the same version of the record as the hit, as
 * vex_search's meta_out does.
 *
 * Memory. The handle keeps every buffer between searches and only grows
 * them: hits and scratch (k or limit + 1 entries), vectors, one metadata
 * view per hit slot (engine/meta_api.h), payload bytes. Metadata records
 * are copied by the sources onto an allocator of their choosing; here
 * that is an arena owned by the handle (bump allocation in chunks from
 * the handle's allocator, frees ignored, reset as a whole at the start of
 * each search), so copying k records costs no allocation once the arena
 * is as large as a search needs. A reset after the arena needed more than
 * one chunk replaces them with one chunk of their total size, so a
 * steady workload settles on one chunk and allocates nothing. Rejected:
 * a vex_meta handle per hit with its own record allocation (what
 * meta_out costs: k allocations and frees per search), and decoding
 * fields lazily on access (the snapshot would have to outlive the
 * search, pinning segments a compaction wants to delete).
 *
 * Range search is planned per source as a k-NN search of k = limit + 1
 * (so the plans and fallbacks of filtered search apply unchanged), then
 * cut at the radius; the extra hit tells whether the limit truncated the
 * answer.
 */
#include <math.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/meta_api.h"
#include "storage/source.h"

/* ---- the arena for metadata records ---- */

#define ARENA_ALIGN     16
#define ARENA_MIN_CHUNK 4096

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used; /* bytes of data[] */
    _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_chunk;

typedef struct arena {
    const vex_mem *base; /* the handle's allocator */
    arena_chunk *head;   /* the chunk allocations come from; older after */
} arena;

/* Each block is preceded by ARENA_ALIGN bytes holding its size, so that
 * realloc knows how much to copy. */
static void *arena_alloc(void *user, size_t size)
{
    arena *a = user;
    size_t need, csize;
    unsigned char *p;
    if (size > SIZE_MAX / 2 - ARENA_ALIGN)
        return NULL;
    need =
        ARENA_ALIGN + ((size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
    if (a->head == NULL || a->head->size - a->head->used < need) {
        arena_chunk *ch;
        csize = a->head ? 2 * a->head->size : ARENA_MIN_CHUNK;
        if (csize < need)
            csize = need;
        ch = vx_mem_alloc(a->base, sizeof *ch + csize);
        if (ch == NULL)
            return NULL;
        ch->size = csize;
        ch->used = 0;
        ch->next = a->head;
        a->head = ch;
    }
    p = a->head->data + a->head->used;
    a->head->used += need;
    memcpy(p, &size, sizeof size);
    return p + ARENA_ALIGN;
}

static void *arena_realloc(void *user, void *ptr, size_t size)
{
    size_t old;
    void *np;
    if (ptr == NULL)
        return arena_alloc(user, size);
    memcpy(&old, (unsigned char *)ptr - ARENA_ALIGN, sizeof old);
    if (size <= old)
        return ptr;
    np = arena_alloc(user, size);
    if (np)
        memcpy(np, ptr, old);
    return np;
}

static void arena_free(void *user, void *ptr)
{
    (void)user;
    (void)ptr; /* everything goes at the next reset */
}

static void arena_release(arena *a)
{
    while (a->head) {
        arena_chunk *next = a->head->next;
        vx_mem_free(a->base, a->head);
        a->head = next;
    }
}

/* Forget every block. Several chunks become one of their total size (or
 * none when that allocation fails: the next search grows again). */
static void arena_reset(arena *a)
{
    if (a->head && a->head->next) {
        size_t total = 0;
        for (arena_chunk *ch = a->head; ch; ch = ch->next)
            total += ch->size;
        arena_release(a);
        a->head = vx_mem_alloc(a->base, sizeof *a->head + total);
        if (a->head) {
            a->head->size = total;
            a->head->next = NULL;
        }
    }
    if (a->head)
        a->head->used = 0;
}

/* ---- the handle ---- */

struct vex_results {
    vex_mem mem;
    arena ar;
    vex_mem ar_mem; /* an allocator over `ar`, for the sources' copies */
    size_t n;       /* hits held */
    size_t cap;     /* room in hits, tmp, pay_off, pay_len */
    vex_hit *hits, *tmp;
    unsigned with; /* the projections of the hits held */
    int truncated;
    size_t vec_bytes; /* of the hits held */
    unsigned char *vecs;
    size_t vecs_cap; /* bytes */
    vex_meta **views;
    size_t n_views; /* created so far; reused */
    unsigned char *pay;
    size_t pay_cap, pay_used;
    size_t *pay_off, *pay_len;
    size_t *txt_off, *txt_len; /* texts, in `pay` too */
};

int vex_results_create(const vex_allocator *alloc, vex_results **out)
{
    vex_mem mem;
    vex_results *r;
    vex_allocator aa;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    r = vx_mem_calloc(&mem, 1, sizeof *r);
    if (r == NULL)
        return VEX_NOMEM;
    r->mem = mem;
    r->ar.base = &r->mem;
    aa.alloc = arena_alloc;
    aa.realloc = arena_realloc;
    aa.free = arena_free;
    aa.user = &r->ar;
    if (vx_mem_init(&r->ar_mem, &aa) != VEX_OK) {
        vx_mem_free(&mem, r);
        return VEX_INTERNAL;
    }
    *out = r;
    return VEX_OK;
}

void vex_results_free(vex_results *r)
{
    vex_mem mem;
    if (r == NULL)
        return;
    mem = r->mem;
    for (size_t i = 0; i < r->n_views; i++)
        vx_meta_view_free(r->views[i], &mem);
    vx_mem_free(&mem, r->views);
    arena_release(&r->ar);
    vx_mem_free(&mem, r->hits);
    vx_mem_free(&mem, r->tmp);
    vx_mem_free_aligned(&mem, r->vecs);
    vx_mem_free(&mem, r->pay);
    vx_mem_free(&mem, r->pay_off);
    vx_mem_free(&mem, r->pay_len);
    vx_mem_free(&mem, r->txt_off);
    vx_mem_free(&mem, r->txt_len);
    vx_mem_free(&mem, r);
}

/* Grow `*p` (elements of `size` bytes) to hold `want`; VEX_NOMEM leaves
 * it as it was. */
static int res_grow(const vex_mem *mem, void **p, size_t want, size_t size)
{
    void *np = vx_mem_realloc(mem, *p, want * size);
    if (np == NULL)
        return VEX_NOMEM;
    *p = np;
    return VEX_OK;
}

/* Room for `k` hits with the projections in `with` of vectors of
 * `vec_bytes`. */
static int reserve(vex_results *r, size_t k, unsigned with, size_t vec_bytes)
{
    const vex_mem *m = &r->mem;
    if (k > r->cap) {
        if (res_grow(m, (void **)&r->hits, k, sizeof *r->hits) != VEX_OK ||
            res_grow(m, (void **)&r->tmp, k, sizeof *r->tmp) != VEX_OK ||
            res_grow(m, (void **)&r->pay_off, k, sizeof *r->pay_off) !=
                VEX_OK ||
            res_grow(m, (void **)&r->pay_len, k, sizeof *r->pay_len) !=
                VEX_OK ||
            res_grow(m, (void **)&r->txt_off, k, sizeof *r->txt_off) !=
                VEX_OK ||
            res_grow(m, (void **)&r->txt_len, k, sizeof *r->txt_len) != VEX_OK)
            return VEX_NOMEM;
        r->cap = k;
    }
    if ((with & VEX_WITH_VECTOR) && k * vec_bytes > r->vecs_cap) {
        void *v = vx_mem_alloc_aligned(m, k * vec_bytes, 64);
        if (v == NULL)
            return VEX_NOMEM;
        vx_mem_free_aligned(m, r->vecs);
        r->vecs = v;
        r->vecs_cap = k * vec_bytes;
    }
    if ((with & VEX_WITH_META) && k > r->n_views) {
        if (res_grow(m, (void **)&r->views, k, sizeof *r->views) != VEX_OK)
            return VEX_NOMEM;
        while (r->n_views < k) {
            if (vx_meta_view_new(m, &r->ar_mem, &r->views[r->n_views]) !=
                VEX_OK)
                return VEX_NOMEM;
            r->n_views++;
        }
    }
    return VEX_OK;
}

/* Append bytes of hit i (its payload or text) to r->pay: their offset
 * into *off and length into *lenp. */
static int put_bytes(vex_results *r, size_t *off, size_t *lenp, const void *p,
                     size_t len)
{
    *off = r->pay_used;
    *lenp = len;
    if (len == 0)
        return VEX_OK;
    if (len > r->pay_cap - r->pay_used) {
        size_t want = r->pay_cap ? r->pay_cap : 4096;
        while (want - r->pay_used < len) {
            if (want > SIZE_MAX / 2)
                return VEX_NOMEM;
            want *= 2;
        }
        if (res_grow(&r->mem, (void **)&r->pay, want, 1) != VEX_OK)
            return VEX_NOMEM;
        r->pay_cap = want;
    }
    memcpy(r->pay + r->pay_used, p, len);
    r->pay_used += len;
    return VEX_OK;
}

/* Each hit's projections, read from snapshot s. */
static int project(vex_collection *c, const vx_snap *s, vex_results *r)
{
    for (size_t i = 0; i < r->n; i++) {
        uint64_t ref;
        const vx_source *src = vx_coll_find_row(s, r->hits[i].id, &ref);
        int rc = VEX_OK;
        if (src == NULL)
            return vx_err_set(&c->err, VEX_INTERNAL,
                              "hit %llu is not in its search's snapshot",
                              (unsigned long long)r->hits[i].id);
        if (r->with & VEX_WITH_VECTOR)
            rc = src->m->vector(src->self, ref, r->vecs + i * r->vec_bytes,
                                &c->err);
        if (rc == VEX_OK && (r->with & VEX_WITH_META)) {
            vm_record *rec = NULL;
            rc = src->m->record(src->self, ref, &r->ar_mem, &rec, &c->err);
            vx_meta_view_set(r->views[i], rc == VEX_OK ? rec : NULL);
        }
        if (rc == VEX_OK && (r->with & VEX_WITH_PAYLOAD)) {
            const void *p = NULL;
            size_t len = 0;
            rc = src->m->payload(src->self, ref, &p, &len, &c->err);
            if (rc == VEX_OK &&
                put_bytes(r, &r->pay_off[i], &r->pay_len[i], p, len) != VEX_OK)
                rc = vx_coll_nomem(c);
        }
        if (rc == VEX_OK && (r->with & VEX_WITH_TEXT)) {
            const char *p = NULL;
            size_t len = 0;
            rc = src->m->text(src->self, ref, &p, &len, &c->err);
            if (rc == VEX_OK &&
                put_bytes(r, &r->txt_off[i], &r->txt_len[i], p, len) != VEX_OK)
                rc = vx_coll_nomem(c);
        }
        if (rc != VEX_OK)
            return rc;
    }
    return VEX_OK;
}

/* A range search's radius and limit (range != 0). */
static int check_range(vex_collection *c, float radius, size_t limit)
{
    if (isnan(radius))
        return vx_err_set(&c->err, VEX_INVALID, "radius is NaN");
    if (radius < 0.0f && c->cfg.metric != VEX_METRIC_IP)
        return vx_err_set(&c->err, VEX_INVALID,
                          "radius is %g: distances of metric %s are never "
                          "negative",
                          (double)radius,
                          vex_metric_name((vex_metric)c->cfg.metric));
    if (limit == 0 || limit > VEX_MAX_K)
        return vx_err_set(&c->err, VEX_INVALID, "limit is %zu, must be 1..%d",
                          limit, VEX_MAX_K);
    return VEX_OK;
}

/* vex_search_results (range 0: k nearest) and vex_range_search (range 1:
 * within radius, at most limit). */
static int results_search(vex_collection *c, const void *query, size_t k,
                          int range, float radius, size_t limit,
                          const vex_search_params *params, unsigned with,
                          vex_results *r)
{
    vex_search_params dflt, pbuf;
    vx_snap s;
    int rc;
    if (!vx_coll_usable(c))
        return VEX_MISUSE;
    if (r == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "results must not be NULL");
    r->n = 0;
    r->truncated = 0;
    r->with = 0;
    if (with & ~VEX_WITH_ALL)
        return vx_err_set(&c->err, VEX_INVALID,
                          "with is 0x%x: unknown bits 0x%x (VEX_WITH_VECTOR, "
                          "VEX_WITH_META, VEX_WITH_PAYLOAD, VEX_WITH_TEXT)",
                          with, with & ~VEX_WITH_ALL);
    if (params == NULL) {
        vex_search_params_init(&dflt);
        params = &dflt;
    }
    if (range) {
        if (params->text)
            return vx_err_set(&c->err, VEX_INVALID,
                              "params.text: a range search has no keyword "
                              "leg (use vex_search_results)");
        if ((rc = check_range(c, radius, limit)) != VEX_OK)
            return rc;
        k = limit < VEX_MAX_K ? limit + 1 : limit;
    }
    if ((rc = vx_coll_search_check(c, query, k, &params, &pbuf)) != VEX_OK)
        return rc;
    if (params->meta_out)
        return vx_err_set(&c->err, VEX_INVALID,
                          "params.meta_out applies to vex_search only: ask "
                          "for VEX_WITH_META instead");
    if (reserve(r, k, with, c->vec_bytes) != VEX_OK)
        return vx_coll_nomem(c);
    arena_reset(&r->ar);
    r->with = with;
    r->vec_bytes = c->vec_bytes;
    r->pay_used = 0;
    vx_coll_snap_take(c, &s);
    rc = vx_coll_search_run(c, &s, query, k, params, r->hits, r->tmp, &r->n);
    if (rc == VEX_OK && range) {
        size_t n = 0;
        while (n < r->n && r->hits[n].distance <= radius)
            n++;
        r->truncated = n > limit || (n == limit && k == limit);
        r->n = n > limit ? limit : n;
    }
    if (rc == VEX_OK && with)
        rc = project(c, &s, r);
    vx_coll_snap_drop(&s);
    if (rc != VEX_OK) {
        r->n = 0;
        r->truncated = 0;
    }
    return rc;
}

int vex_search_results(vex_collection *c, const void *query, size_t k,
                       const vex_search_params *params, unsigned with,
                       vex_results *r)
{
    uint64_t t0 = vx_now_ns();
    int rc = results_search(c, query, k, 0, 0.0f, 0, params, with, r);
    vx_coll_search_done(c, 0, 1, t0, rc);
    return rc;
}

int vex_range_search(vex_collection *c, const void *query, float radius,
                     size_t limit, const vex_search_params *params,
                     unsigned with, vex_results *r)
{
    uint64_t t0 = vx_now_ns();
    int rc = results_search(c, query, 0, 1, radius, limit, params, with, r);
    vx_coll_search_done(c, 1, 1, t0, rc);
    return rc;
}

/* ---- accessors ---- */

size_t vex_results_count(const vex_results *r)
{
    return r ? r->n : 0;
}

const vex_hit *vex_results_hits(const vex_results *r)
{
    return r && r->n ? r->hits : NULL;
}

int vex_results_truncated(const vex_results *r)
{
    return r ? r->truncated : 0;
}

const void *vex_results_vector(const vex_results *r, size_t i)
{
    if (r == NULL || i >= r->n || !(r->with & VEX_WITH_VECTOR))
        return NULL;
    return r->vecs + i * r->vec_bytes;
}

const vex_meta *vex_results_meta(const vex_results *r, size_t i)
{
    if (r == NULL || i >= r->n || !(r->with & VEX_WITH_META))
        return NULL;
    return r->views[i];
}

int vex_results_field(const vex_results *r, size_t i, const char *name,
                      vex_field *out)
{
    size_t f;
    if (r == NULL || name == NULL || out == NULL || !(r->with & VEX_WITH_META))
        return VEX_MISUSE;
    if (i >= r->n || vex_meta_find(r->views[i], name, &f) != VEX_OK)
        return VEX_NOTFOUND;
    return vex_meta_field(r->views[i], f, out);
}

int vex_results_payload(const vex_results *r, size_t i, const void **p,
                        size_t *len)
{
    if (r == NULL || p == NULL || len == NULL || !(r->with & VEX_WITH_PAYLOAD))
        return VEX_MISUSE;
    if (i >= r->n)
        return VEX_NOTFOUND;
    *len = r->pay_len[i];
    *p = *len ? r->pay + r->pay_off[i] : NULL;
    return VEX_OK;
}

int vex_results_text(const vex_results *r, size_t i, const char **p,
                     size_t *len)
{
    if (r == NULL || p == NULL || len == NULL || !(r->with & VEX_WITH_TEXT))
        return VEX_MISUSE;
    if (i >= r->n)
        return VEX_NOTFOUND;
    *len = r->txt_len[i];
    *p = *len ? (const char *)r->pay + r->txt_off[i] : NULL;
    return VEX_OK;
}
