/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topk.c - out-of-line parts of top-k selection (see topk.h).
 */
#include "util/topk.h"

size_t vx_topk_sort(vex_topk *t)
{
    /* heapsort: repeatedly move the worst to the end */
    size_t n = t->n;
    while (n > 1) {
        vex_hit tmp = t->h[0];
        t->h[0] = t->h[n - 1];
        t->h[n - 1] = tmp;
        n--;
        vex_topk_sift_down(t->h, n, 0);
    }
    return t->n;
}

void vx_topk_merge(vex_topk *t, const vex_topk *other)
{
    size_t i;
    for (i = 0; i < other->n; i++)
        vex_topk_push(t, other->h[i].distance, other->h[i].id);
}
