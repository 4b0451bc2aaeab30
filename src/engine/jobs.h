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

/* Run one job (collection.c). */
void vx_coll_run_job(vex_collection *c, int kind);

#endif
