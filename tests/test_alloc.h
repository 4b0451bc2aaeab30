/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_alloc.h - a vex_allocator for out-of-memory sweeps: it lets `budget`
 * allocations (alloc or realloc) succeed and fails every one after, and
 * counts live blocks so a test can check that nothing leaked after a
 * failure. Thread-safe (index worker threads allocate too).
 */
#ifndef VEX_TEST_ALLOC_H
#define VEX_TEST_ALLOC_H

#include <pthread.h>
#include <stdlib.h>

typedef struct fail_alloc {
    pthread_mutex_t lock;
    long budget; /* allocations left before failing; < 0 = unlimited */
    long live;
} fail_alloc;

static void *fa_alloc(void *u, size_t n)
{
    fail_alloc *f = u;
    void *p = NULL;
    pthread_mutex_lock(&f->lock);
    if (f->budget != 0) {
        if (f->budget > 0)
            f->budget--;
        p = malloc(n);
        if (p)
            f->live++;
    }
    pthread_mutex_unlock(&f->lock);
    return p;
}

static void *fa_realloc(void *u, void *ptr, size_t n)
{
    fail_alloc *f = u;
    void *p = NULL;
    pthread_mutex_lock(&f->lock);
    if (f->budget != 0) {
        if (f->budget > 0)
            f->budget--;
        p = realloc(ptr, n);
    }
    pthread_mutex_unlock(&f->lock);
    return p;
}

static void fa_free(void *u, void *ptr)
{
    fail_alloc *f = u;
    pthread_mutex_lock(&f->lock);
    f->live--;
    pthread_mutex_unlock(&f->lock);
    free(ptr);
}

#endif
