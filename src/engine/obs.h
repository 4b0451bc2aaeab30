/* SPDX-License-Identifier: Apache-2.0 */
/*
 * obs.h - observability of a database: the metrics every collection
 * counts (metrics.c renders them as Prometheus text), the log hook and
 * the health record of background failures (events.c).
 *
 * Metrics are relaxed atomics in the collection handle, added to by the
 * thread that did the work: a search adds a few counters and one
 * histogram bucket after it ran, and takes no lock. Histograms have fixed
 * log-spaced buckets (powers of two of a unit: a microsecond for times,
 * one for counts), so recording is a count-leading-zeros and one add, and
 * every collection's buckets line up. Rejected: per-thread counter
 * shards. They would spare the cache line a counter lives on from moving
 * between cores when many threads search one collection at once, but a
 * search costs tens of microseconds against a few nanoseconds for the
 * shared add (bench/bench_obs.c measures it), and shards need a thread
 * registry, which is global state.
 *
 * A histogram's _count is its buckets' sum, read at render time, so the
 * text always has _count equal to the +Inf bucket; _sum is a separate
 * atomic and may lag the buckets by the samples being recorded.
 */
#ifndef VEX_ENGINE_OBS_H
#define VEX_ENGINE_OBS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "util/err.h"
#include "vexdb.h"

/* Buckets: le = unit * 2^i for i in 0..VX_HIST_BOUNDS-1, then +Inf. */
#define VX_HIST_BOUNDS 26

typedef struct vx_hist {
    _Atomic uint64_t b[VX_HIST_BOUNDS + 1]; /* per bucket, not cumulative */
    _Atomic uint64_t sum;                   /* in units of the recorder */
} vx_hist;

/* Counters of a collection (vx_metrics.c[]). */
enum {
    VX_C_SEARCH_KNN,   /* queries of vex_search / vex_search_results */
    VX_C_SEARCH_RANGE, /* queries of vex_range_search */
    VX_C_SEARCH_BATCH, /* queries of vex_search_batch */
    VX_C_SEARCH_ERRORS,
    VX_C_PLAN_UNFILTERED, /* sources searched, by plan */
    VX_C_PLAN_EXACT,
    VX_C_PLAN_GRAPH,
    VX_C_PLAN_POST,
    VX_C_FALLBACKS,
    VX_C_WRITES, /* requests through the writer queue */
    VX_C_WRITE_ERRORS,
    VX_C_WRITE_ROWS, /* operations logged */
    VX_C_FLUSH_ERRORS,
    VX_C_FLUSH_ROWS,
    VX_C_FLUSH_BYTES,
    VX_C_COMPACT_ERRORS,
    VX_C_COMPACT_ROWS,
    VX_C_COMPACT_BYTES_IN,
    VX_C_COMPACT_BYTES_OUT,
    VX_C_BG_ERRORS,
    VX_C_N
};

/* Histograms of a collection (vx_metrics.h[]). */
enum {
    VX_H_SEARCH_KNN, /* seconds per call, by kind as VX_C_SEARCH_* */
    VX_H_SEARCH_RANGE,
    VX_H_SEARCH_BATCH,
    VX_H_WRITE,     /* seconds a write request took (queue, log, apply) */
    VX_H_SYNC,      /* seconds of a log append in a syncing mode */
    VX_H_SYNC_ROWS, /* operations per synced log append */
    VX_H_FLUSH,     /* seconds per successful flush */
    VX_H_COMPACT,   /* seconds per successful compaction */
    VX_H_STALL,     /* seconds a write waited for room (or 0 for BUSY) */
    VX_H_N
};

typedef struct vx_metrics {
    _Atomic uint64_t c[VX_C_N];
    vx_hist h[VX_H_N];
    /* 1 while the latest flush failed (vex_health.flush_failing) */
    _Atomic int flush_failing;
} vx_metrics;

static inline uint64_t vx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void vx_count(vx_metrics *m, int which, uint64_t n)
{
    atomic_fetch_add_explicit(&m->c[which], n, memory_order_relaxed);
}

/* The bucket of value v in units of `unit`: the smallest i with
 * v <= unit * 2^i, or VX_HIST_BOUNDS (+Inf). */
static inline unsigned vx_hist_bucket(uint64_t v, uint64_t unit)
{
    uint64_t q = (v + unit - 1) / unit;
    unsigned i = q <= 1 ? 0 : 64u - (unsigned)__builtin_clzll(q - 1);
    return i < VX_HIST_BOUNDS ? i : VX_HIST_BOUNDS;
}

/* Record v (nanoseconds for time histograms, a count otherwise). */
static inline void vx_hist_add(vx_hist *h, uint64_t v, uint64_t unit)
{
    atomic_fetch_add_explicit(&h->b[vx_hist_bucket(v, unit)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

#define VX_UNIT_TIME  1000u /* ns per microsecond: the first bound */
#define VX_UNIT_COUNT 1u

/* A time sample: nanoseconds since t0. */
static inline void vx_hist_time(vx_metrics *m, int which, uint64_t t0)
{
    vx_hist_add(&m->h[which], vx_now_ns() - t0, VX_UNIT_TIME);
}

/* ---- events.c: the log hook and the health record ---- */

/* The database's observer state (inside vex_db). */
typedef struct vx_obs {
    pthread_mutex_t mu; /* the hook (and calls to it), the health record */
    _Atomic int level;  /* highest level delivered; -1: no hook */
    vex_log_fn fn;      /* mu */
    void *ctx;          /* mu */
    uint64_t bg_errors; /* mu: background failures since open */
    int last_rc;        /* mu: the latest one */
    uint64_t last_unix_ms;
    char last_coll[VEX_NAME_MAX + 1];
    char last_msg[VEX_ERRMSG_MAX];
    int last_full; /* mu: the latest background failure was VEX_FULL and no
                      background job succeeded since */
} vx_obs;

void vx_obs_init(vx_obs *o);
void vx_obs_destroy(vx_obs *o);

/* Whether a message at `level` would be delivered (a cheap check before
 * formatting one). */
static inline int vx_log_on(const vx_obs *o, int level)
{
    return level <=
           atomic_load_explicit(&((vx_obs *)o)->level, memory_order_relaxed);
}

/* Deliver a message about collection `coll` (NULL: the database) to the
 * hook, when one is set for `level`. Never called with a collection lock
 * that a search takes; the hook runs under o->mu. */
void vx_log(vx_obs *o, int level, const char *coll, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A background job of collection `coll` failed with rc and msg: counted
 * in the health record and logged at error level, once per failure. */
void vx_obs_bg_error(vx_obs *o, const char *coll, int rc, const char *what,
                     const char *msg);
/* A background job succeeded: a disk-full condition is over. */
void vx_obs_bg_ok(vx_obs *o);

#endif
