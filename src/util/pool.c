/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pool.c - fixed worker pool (see pool.h).
 *
 * Design. A loop ("job") lives on the stack of the thread that calls
 * vx_pool_run() and is linked into the pool's job list while it has
 * unclaimed tasks. Idle workers sleep on one condition variable; a new job
 * wakes them. A worker joins the first job that still has tasks and room
 * for another thread, claims tasks one at a time with an atomic counter
 * (tasks are coarse: blocks of vectors or groups of queries), and on
 * leaving reports how many it finished. The caller claims tasks too, then
 * waits until every task is finished and every worker that joined has left,
 * which is what makes a stack-allocated job safe.
 *
 * Rejected: a lock-free deque per worker (work stealing). Our tasks are
 * few and even, so stealing would add complexity without gain.
 */
#include "util/pool.h"

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "vexdb.h"

typedef struct pool_job {
    vex_pool_fn fn;
    void *arg;
    size_t n_tasks;
    atomic_size_t next_task;
    size_t n_done; /* guarded by pool->lock */
    unsigned max_workers;
    unsigned n_joined; /* including the caller; guarded by pool->lock */
    unsigned n_active; /* workers (not the caller) still inside the job */
    struct pool_job *next;
    int listed;
} pool_job;

struct vex_pool {
    vex_mem mem;
    unsigned n_threads;
    unsigned n_started;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    pool_job *head, *tail;
    int shutdown;
    int background; /* workers run at VEX_BACKGROUND_NICE */
};

unsigned vx_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return 1;
    if (n > VEX_MAX_THREADS)
        return VEX_MAX_THREADS;
    return (unsigned)n;
}

static void job_unlink(vex_pool *p, pool_job *j)
{
    pool_job **pp = &p->head, *prev = NULL;
    if (!j->listed)
        return;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == j) {
        *pp = j->next;
        if (p->tail == j)
            p->tail = prev;
    }
    j->listed = 0;
    j->next = NULL;
}

/* Claim and run tasks until none are left; returns how many ran. */
static size_t job_work(pool_job *j, unsigned worker)
{
    size_t done = 0;
    for (;;) {
        size_t t =
            atomic_fetch_add_explicit(&j->next_task, 1, memory_order_relaxed);
        if (t >= j->n_tasks)
            break;
        j->fn(j->arg, t, worker);
        done++;
    }
    return done;
}

void vx_thread_background(void)
{
#if defined(__linux__)
    /* Linux keeps a nice value per thread (NPTL threads are tasks): only
     * this thread is lowered. Failure (a sandbox may forbid it) leaves the
     * thread at its priority, which is only slower for the foreground. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
                      VEX_BACKGROUND_NICE);
#endif
}

static void *pool_main(void *arg)
{
    vex_pool *p = arg;
    if (p->background)
        vx_thread_background();
    pthread_mutex_lock(&p->lock);
    for (;;) {
        pool_job *j;
        unsigned worker;
        size_t done;
        while (!p->shutdown) {
            for (j = p->head; j; j = j->next)
                if (j->n_joined < j->max_workers &&
                    atomic_load_explicit(&j->next_task, memory_order_relaxed) <
                        j->n_tasks)
                    break;
            if (j)
                break;
            pthread_cond_wait(&p->work_cv, &p->lock);
        }
        if (p->shutdown)
            break;
        worker = j->n_joined++;
        j->n_active++;
        pthread_mutex_unlock(&p->lock);

        done = job_work(j, worker);

        pthread_mutex_lock(&p->lock);
        j->n_done += done;
        j->n_active--;
        job_unlink(p, j); /* no tasks left to claim */
        if (j->n_done == j->n_tasks && j->n_active == 0)
            pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int vx_pool_create(const vex_mem *m, unsigned n_threads, vex_pool **out)
{
    return vx_pool_create_ex(m, n_threads, 0, out);
}

int vx_pool_create_ex(const vex_mem *m, unsigned n_threads, int background,
                      vex_pool **out)
{
    vex_pool *p;
    unsigned i;
    *out = NULL;
    if (n_threads < 1 || n_threads > VEX_MAX_THREADS)
        return VEX_INVALID;
    p = vx_mem_calloc(m, 1, sizeof *p);
    if (p == NULL)
        return VEX_NOMEM;
    p->mem = *m;
    p->background = background;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (n_threads > 1) {
        p->threads = vx_mem_calloc(m, n_threads - 1, sizeof(pthread_t));
        if (p->threads == NULL) {
            vx_pool_destroy(p);
            return VEX_NOMEM;
        }
        for (i = 0; i + 1 < n_threads; i++) {
            if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0) {
                vx_pool_destroy(p);
                return VEX_NOMEM;
            }
            p->n_started++;
        }
    }
    *out = p;
    return VEX_OK;
}

void vx_pool_destroy(vex_pool *p)
{
    unsigned i;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->lock);
    vx_mem_free(&p->mem, p->threads);
    vx_mem_free(&p->mem, p);
}

unsigned vx_pool_size(const vex_pool *p)
{
    return p->n_threads;
}

unsigned vx_pool_width(const vex_pool *p, unsigned max_threads)
{
    if (max_threads == 0 || max_threads > p->n_threads)
        return p->n_threads;
    return max_threads;
}

void vx_pool_run(vex_pool *p, size_t n_tasks, unsigned max_threads,
                 vex_pool_fn fn, void *arg)
{
    pool_job j;
    size_t done;
    unsigned width = vx_pool_width(p, max_threads);

    if (n_tasks == 0)
        return;
    if (width == 1 || n_tasks == 1) {
        size_t t;
        for (t = 0; t < n_tasks; t++)
            fn(arg, t, 0);
        return;
    }
    j.fn = fn;
    j.arg = arg;
    j.n_tasks = n_tasks;
    atomic_init(&j.next_task, 0);
    j.n_done = 0;
    j.max_workers = width;
    j.n_joined = 1; /* the caller is worker 0 */
    j.n_active = 0;
    j.next = NULL;
    j.listed = 1;

    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = &j;
    else
        p->head = &j;
    p->tail = &j;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->lock);

    done = job_work(&j, 0);

    pthread_mutex_lock(&p->lock);
    j.n_done += done;
    job_unlink(p, &j);
    while (j.n_done < j.n_tasks || j.n_active > 0)
        pthread_cond_wait(&p->done_cv, &p->lock);
    pthread_mutex_unlock(&p->lock);
}
