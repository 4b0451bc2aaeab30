/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check.h - assertions of the code's own invariants, and mutexes that know
 * their owner so that "caller holds the lock" can be asserted.
 *
 * VX_ASSERT(x) checks an invariant of ours (never a property of input:
 * bad input and damaged files get a status code and a message). It is
 * active when NDEBUG is not defined, which is how the Debug and sanitizer
 * builds run in CI, and compiles to nothing in Release.
 *
 * vx_mutex wraps a pthread mutex. In debug builds it records the thread
 * that holds it, so a function whose comment says "apply lock held" says
 * it as VX_ASSERT_HELD(&c->apply.mu) and a caller that forgot the lock
 * fails in the test suite instead of racing silently (SQLite's
 * assert(sqlite3_mutex_held(...)) habit). In Release builds the owner is
 * not tracked and the wrappers are plain pthread calls. Condition waits
 * go through vx_cond_wait, which hands the ownership over correctly.
 */
#ifndef VEX_UTIL_CHECK_H
#define VEX_UTIL_CHECK_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>

#ifndef NDEBUG
#define VX_DEBUG     1
#define VX_ASSERT(x) assert(x)
#else
#define VX_DEBUG     0
#define VX_ASSERT(x) ((void)0)
#endif

typedef struct vx_mutex {
    pthread_mutex_t m;
#if VX_DEBUG
    _Atomic unsigned long owner; /* pthread_self() of the holder, or 0 */
#endif
} vx_mutex;

static inline void vx_mutex_init(vx_mutex *mu)
{
    pthread_mutex_init(&mu->m, NULL);
#if VX_DEBUG
    atomic_init(&mu->owner, 0);
#endif
}

static inline void vx_mutex_destroy(vx_mutex *mu)
{
    pthread_mutex_destroy(&mu->m);
}

static inline void vx_mutex_lock(vx_mutex *mu)
{
    pthread_mutex_lock(&mu->m);
#if VX_DEBUG
    atomic_store_explicit(&mu->owner, (unsigned long)pthread_self(),
                          memory_order_relaxed);
#endif
}

/* 0 when the lock was taken (as pthread_mutex_trylock). */
static inline int vx_mutex_trylock(vx_mutex *mu)
{
    int rc = pthread_mutex_trylock(&mu->m);
#if VX_DEBUG
    if (rc == 0)
        atomic_store_explicit(&mu->owner, (unsigned long)pthread_self(),
                              memory_order_relaxed);
#endif
    return rc;
}

static inline void vx_mutex_unlock(vx_mutex *mu)
{
#if VX_DEBUG
    assert(atomic_load_explicit(&mu->owner, memory_order_relaxed) ==
           (unsigned long)pthread_self());
    atomic_store_explicit(&mu->owner, 0, memory_order_relaxed);
#endif
    pthread_mutex_unlock(&mu->m);
}

/* Whether the calling thread holds mu (always 1 in Release builds: only
 * for assertions). */
static inline int vx_mutex_held(const vx_mutex *mu)
{
#if VX_DEBUG
    return atomic_load_explicit(&mu->owner, memory_order_relaxed) ==
           (unsigned long)pthread_self();
#else
    (void)mu;
    return 1;
#endif
}

#define VX_ASSERT_HELD(mu) VX_ASSERT(vx_mutex_held(mu))

static inline void vx_cond_wait(pthread_cond_t *cv, vx_mutex *mu)
{
#if VX_DEBUG
    assert(vx_mutex_held(mu));
    atomic_store_explicit(&mu->owner, 0, memory_order_relaxed);
#endif
    pthread_cond_wait(cv, &mu->m);
#if VX_DEBUG
    atomic_store_explicit(&mu->owner, (unsigned long)pthread_self(),
                          memory_order_relaxed);
#endif
}

#endif
