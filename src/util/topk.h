/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topk.h - bounded top-k selection of (distance, id) pairs.
 *
 * A max-heap of at most `cap` hits keyed by (distance, id): the root is the
 * worst hit kept, so a candidate is accepted only when it beats the root,
 * and most candidates of a scan are rejected by one comparison against
 * vex_topk_bound(). Ties in distance are broken by the smaller id, which
 * makes results deterministic and identical between the single, batch and
 * multi-threaded paths. The heap works in caller-provided storage, so
 * searches do not allocate.
 */
#ifndef VEX_UTIL_TOPK_H
#define VEX_UTIL_TOPK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "vexdb.h"

typedef struct vex_topk {
    vex_hit *h;
    size_t n, cap;
} vex_topk;

static inline int vex_hit_worse(const vex_hit *a, const vex_hit *b)
{
    return a->distance > b->distance ||
           (a->distance == b->distance && a->id > b->id);
}

static inline void vex_topk_init(vex_topk *t, vex_hit *storage, size_t cap)
{
    t->h = storage;
    t->n = 0;
    t->cap = cap;
}

/* Distances above this cannot enter (equal ones may, by id). */
static inline float vex_topk_bound(const vex_topk *t)
{
    return t->n < t->cap ? INFINITY : t->h[0].distance;
}

static inline void vex_topk_sift_down(vex_hit *h, size_t n, size_t i)
{
    vex_hit x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && vex_hit_worse(&h[c + 1], &h[c]))
            c++;
        if (!vex_hit_worse(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static inline void vex_topk_push(vex_topk *t, float d, uint64_t id)
{
    vex_hit x;
    x.id = id;
    x.distance = d;
    if (t->n < t->cap) {
        size_t i = t->n++;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!vex_hit_worse(&x, &t->h[parent]))
                break;
            t->h[i] = t->h[parent];
            i = parent;
        }
        t->h[i] = x;
    } else if (t->cap > 0 && vex_hit_worse(&t->h[0], &x)) {
        t->h[0] = x;
        vex_topk_sift_down(t->h, t->n, 0);
    }
}

/* Sort the kept hits nearest first, in place; returns their number. The
 * heap is consumed. */
size_t vx_topk_sort(vex_topk *t);

/* Merge another heap's hits into t. */
void vx_topk_merge(vex_topk *t, const vex_topk *other);

#endif
