/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jobs.c - background threads of a database (see jobs.h).
 *
 * The queue is a short array of (collection, kind) entries scanned for
 * the highest priority: there are few collections with work at any time,
 * and a scan is cheaper than keeping per-kind lists consistent.
 */
#include "engine/jobs.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util/pool.h"

typedef struct job {
    vex_collection *c;
    int kind;
    int running; /* taken by a thread */
} job;

struct vx_jobs {
    const vex_mem *mem;
    pthread_mutex_t mu;
    pthread_cond_t work, idle;
    job *q;
    size_t n, cap;
    int stop;
    unsigned n_threads;
    pthread_t threads[];
};

/* Whether a job of this collection and kind is running (one at a time:
 * a second entry waits for the first to finish). */
static int busy(const vx_jobs *j, const vex_collection *c, int kind)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->q[i].c == c && j->q[i].kind == kind && j->q[i].running)
            return 1;
    return 0;
}

static void *worker(void *arg)
{
    vx_jobs *j = arg;
    vx_thread_background(); /* builds yield to writers and searches */
    pthread_mutex_lock(&j->mu);
    for (;;) {
        size_t best = SIZE_MAX;
        job taken;
        for (size_t i = 0; i < j->n; i++) {
            if (j->q[i].running || busy(j, j->q[i].c, j->q[i].kind))
                continue;
            if (best == SIZE_MAX || j->q[i].kind < j->q[best].kind)
                best = i;
        }
        if (j->stop)
            break;
        if (best == SIZE_MAX) {
            pthread_cond_wait(&j->work, &j->mu);
            continue;
        }
        j->q[best].running = 1;
        taken = j->q[best];
        pthread_mutex_unlock(&j->mu);
        vx_coll_run_job(taken.c, taken.kind);
        pthread_mutex_lock(&j->mu);
        for (size_t i = 0; i < j->n; i++) {
            if (j->q[i].c == taken.c && j->q[i].kind == taken.kind &&
                j->q[i].running) {
                j->q[i] = j->q[--j->n];
                break;
            }
        }
        pthread_cond_broadcast(&j->idle);
        pthread_cond_broadcast(&j->work);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int vx_jobs_start(const vex_mem *mem, unsigned n, vx_jobs **out)
{
    vx_jobs *j = vx_mem_calloc(mem, 1, sizeof *j + n * sizeof(pthread_t));
    *out = NULL;
    if (j == NULL)
        return VEX_NOMEM;
    j->mem = mem;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->work, NULL);
    pthread_cond_init(&j->idle, NULL);
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&j->threads[i], NULL, worker, j) != 0) {
            vx_jobs_stop(j);
            return VEX_IOERR;
        }
        j->n_threads++;
    }
    *out = j;
    return VEX_OK;
}

void vx_jobs_stop(vx_jobs *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    pthread_cond_broadcast(&j->work);
    pthread_mutex_unlock(&j->mu);
    for (unsigned i = 0; i < j->n_threads; i++)
        pthread_join(j->threads[i], NULL);
    vx_mem_free(j->mem, j->q);
    pthread_cond_destroy(&j->work);
    pthread_cond_destroy(&j->idle);
    pthread_mutex_destroy(&j->mu);
    vx_mem_free(j->mem, j);
}

void vx_jobs_schedule(vx_jobs *j, vex_collection *c, int kind)
{
    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; i < j->n; i++) {
        /* queued and not yet taken: nothing to do; taken: queue one more
         * run so work that arrived during this one is not missed */
        if (j->q[i].c == c && j->q[i].kind == kind && !j->q[i].running) {
            pthread_mutex_unlock(&j->mu);
            return;
        }
    }
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        job *q = vx_mem_realloc(j->mem, j->q, cap * sizeof *q);
        if (q == NULL) {
            /* the work is picked up by the next schedule of this kind */
            pthread_mutex_unlock(&j->mu);
            return;
        }
        j->q = q;
        j->cap = cap;
    }
    j->q[j->n].c = c;
    j->q[j->n].kind = kind;
    j->q[j->n].running = 0;
    j->n++;
    pthread_cond_signal(&j->work);
    pthread_mutex_unlock(&j->mu);
}

void vx_jobs_forget(vx_jobs *j, vex_collection *c)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        int running = 0;
        for (size_t i = 0; i < j->n;) {
            if (j->q[i].c != c) {
                i++;
            } else if (j->q[i].running) {
                running = 1;
                i++;
            } else {
                j->q[i] = j->q[--j->n];
            }
        }
        if (!running)
            break;
        pthread_cond_wait(&j->idle, &j->mu);
    }
    pthread_mutex_unlock(&j->mu);
}

unsigned vx_jobs_index_width(unsigned pool_width, unsigned cpus,
                             uint64_t now_ns, uint64_t last_write_ns)
{
    if (last_write_ns == 0 || now_ns < last_write_ns ||
        now_ns - last_write_ns > VX_INDEX_WRITES_RECENT_NS)
        return 0;
    if (cpus < 2 || pool_width < cpus)
        return 0; /* one CPU: nothing to leave; a narrower pool leaves some */
    return cpus - 1;
}
