/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jobs.h - the database's background threads: memtable indexing, flushes
 * and compactions of its collections.
 *
 * A small fixed set of threads (vex_db_options.background_threads) owned
 * by the database handle takes (collection, kind) jobs from one queue,
 * highest priority first (flush, then index, then compact: a flush frees
 * memory writers may be waiting for). A collection has at most one queued
 * or running job of each kind, so scheduling is idempotent and cheap; a
 * job that leaves work behind schedules itself again. Jobs of different
 * kinds for one collection may run at once (a long compaction does not
 * hold up flushes); the collection serialises what must be serial.
 *
 * Threading: every function may be called from any thread.
 * vx_jobs_forget(c) returns once no job of `c` is queued or running;
 * after it, vx_jobs_schedule(c, ...) must not be called again (the
 * collection is closing).
 */
#ifndef VEX_ENGINE_JOBS_H
#define VEX_ENGINE_JOBS_H

#include "util/mem.h"
#include "vexdb.h"

enum {
    VX_JOB_FLUSH = 0,
    VX_JOB_INDEX = 1,
    VX_JOB_COMPACT = 2,
    VX_JOB_KINDS = 3
};

typedef struct vx_jobs vx_jobs;

/* Start n threads. VEX_NOMEM, or VEX_IOERR when a thread cannot start. */
int vx_jobs_start(const vex_mem *mem, unsigned n, vx_jobs **out);
/* Stop the threads after their current job (queued jobs are dropped) and
 * free. NULL is a no-op. */
void vx_jobs_stop(vx_jobs *j);

void vx_jobs_schedule(vx_jobs *j, vex_collection *c, int kind);
void vx_jobs_forget(vx_jobs *j, vex_collection *c);

/* Threads of a pool of pool_width the background memtable indexer may
 * use (0: all) when the collection's last write was published at
 * last_write_ns (0: none yet) and it is now_ns, on a machine of `cpus`
 * online CPUs. While writes arrive (one within VX_INDEX_WRITES_RECENT_NS)
 * and the pool would take every CPU, it leaves one to the writers: a
 * woken writer or group-commit leader then finds a CPU free instead of
 * queueing behind the graph build, whose nice value only lowers its
 * share (issue 19 item 5: the 8-writer p99 halved). When writes stop, the
 * next chunk goes back to full width, so the unindexed tail is caught up
 * at full speed; it never grows past the memtable either way (its flush
 * indexes what is left). */
#define VX_INDEX_WRITES_RECENT_NS (UINT64_C(100) * 1000 * 1000)
unsigned vx_jobs_index_width(unsigned pool_width, unsigned cpus,
                             uint64_t now_ns, uint64_t last_write_ns);

/* Run one job (collection.c). */
void vx_coll_run_job(vex_collection *c, int kind);

#endif
