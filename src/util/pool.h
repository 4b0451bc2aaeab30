/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pool.h - a fixed pool of worker threads for parallel loops.
 *
 * A handle creates one pool and keeps it for its lifetime; no thread is
 * ever started on the query path. vx_pool_run() executes a parallel loop
 * fn(arg, task, worker) over tasks [0, n_tasks) and returns when all of
 * them are done. The calling thread takes part (as worker 0), so a pool of
 * size 1 has no threads at all and runs everything inline. Several threads
 * may call vx_pool_run() on one pool at once: their loops share the
 * workers. `worker` is unique among the threads running one loop at a time
 * and < max(1, min(max_threads, pool size)), so callers can index
 * per-worker scratch with it.
 */
#ifndef VEX_UTIL_POOL_H
#define VEX_UTIL_POOL_H

#include <stddef.h>

#include "util/mem.h"

typedef struct vex_pool vex_pool;

typedef void (*vex_pool_fn)(void *arg, size_t task, unsigned worker);

/* n_threads counts the caller: n_threads - 1 threads are started. */
int vx_pool_create(const vex_mem *m, unsigned n_threads, vex_pool **out);
/* The same, for background work: the pool's threads lower their own
 * scheduling priority (nice VEX_BACKGROUND_NICE, Linux only) so graph
 * builds of flushes and compactions yield the CPU to writers and
 * searches. The calling thread of vx_pool_run keeps its priority. */
int vx_pool_create_ex(const vex_mem *m, unsigned n_threads, int background,
                      vex_pool **out);
void vx_pool_destroy(vex_pool *p);

/* Lower the calling thread's priority to VEX_BACKGROUND_NICE (Linux; a
 * no-op elsewhere or when not permitted). */
#define VEX_BACKGROUND_NICE 10
void vx_thread_background(void);
unsigned vx_pool_size(const vex_pool *p);

/* Threads a loop may use: max_threads 0 means the whole pool. */
unsigned vx_pool_width(const vex_pool *p, unsigned max_threads);

void vx_pool_run(vex_pool *p, size_t n_tasks, unsigned max_threads,
                 vex_pool_fn fn, void *arg);

/* Number of online CPUs (at least 1). */
unsigned vx_cpu_count(void);

#endif
