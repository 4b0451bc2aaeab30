/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ix.c - the internal index interface (src/index/ix.h) that storage
 * and engine use: a failing call reports into the vex_err its caller
 * passes, never into the handle's message (which the public wrapper
 * owns), so concurrent failures on one index each read their own message;
 * a failed create or open leaves nothing behind; the refusals that
 * vx_ix_train_own treats as success write nothing; vx_ix_links copies
 * out a graph whose level-0 links reach every live node from the entry
 * point and never name a removed one.
 *
 * A search is made to fail without touching the index: the allocator
 * refuses everything, and the search asks for a beam wider than any
 * cached scratch context holds, so the context must grow (VEX_NOMEM).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "index/ix.h"
#include "test.h"
#include "test_alloc.h"
#include "util/rng.h"

#define DIM        8
#define N          600
#define WIDE_EF    50000 /* wider than any context built by the adds */
#define N_THREADS  4
#define ITERATIONS 200

static const char *const nomem_msg = "out of memory for search scratch";

typedef struct fixture {
    fail_alloc fa;
    vex_allocator a;
    vx_ix *ix;
    float *base;
} fixture;

/* An HNSW index of N random vectors on an allocator that can be shut. */
static void fixture_open(fixture *f)
{
    vex_index_options o;
    vex_err e;
    uint64_t ids[N];
    vex_rng r;
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->fa.lock, NULL);
    f->fa.budget = -1;
    f->a.user = &f->fa;
    f->a.alloc = fa_alloc;
    f->a.realloc = fa_realloc;
    f->a.free = fa_free;
    vex_rng_seed(&r, test_seed(77));
    f->base = malloc(N * DIM * sizeof *f->base);
    for (size_t i = 0; i < N * DIM; i++)
        f->base[i] = (float)vex_rng_normal(&r);
    for (size_t i = 0; i < N; i++)
        ids[i] = i;
    vx_ix_options_init(&o);
    o.kind = VEX_INDEX_HNSW;
    o.dim = DIM;
    o.n_threads = 2;
    o.allocator = &f->a;
    vx_err_init(&e);
    CHECK_RC(vx_ix_create(&o, NULL, &f->ix, &e), VEX_OK);
    CHECK_RC(vx_ix_add(f->ix, ids, f->base, N, 0, &e), VEX_OK);
    vx_err_destroy(&e);
}

static void fixture_close(fixture *f)
{
    vx_ix_free(f->ix);
    CHECK_EQ_INT(f->fa.live, 0);
    pthread_mutex_destroy(&f->fa.lock);
    free(f->base);
}

static void set_budget(fixture *f, long budget)
{
    pthread_mutex_lock(&f->fa.lock);
    f->fa.budget = budget;
    pthread_mutex_unlock(&f->fa.lock);
}

static void test_search_error_to_caller(void)
{
    fixture f;
    vex_search_opts so;
    vex_search_params p;
    vex_hit hits[10], hits2[20];
    size_t n = 99, nb[2];
    vex_err e;
    char msg[VEX_ERRMSG_MAX];
    fixture_open(&f);
    vx_err_init(&e);
    vx_ix_search_opts_init(&so);
    so.ef = WIDE_EF;
    set_budget(&f, 0);

    /* the internal search: the message is the caller's... */
    CHECK_RC(vx_ix_search(f.ix, f.base, 10, &so, hits, &n, &e), VEX_NOMEM);
    CHECK_EQ_INT(n, 0);
    vx_err_copy(&e, msg, sizeof msg);
    CHECK_MSG(strcmp(msg, nomem_msg) == 0, "caller's message: '%s'", msg);
    CHECK_EQ_INT(e.rc, VEX_NOMEM);
    /* ...and the handle's stays as it was (empty) */
    CHECK_MSG(vex_index_errmsg(f.ix)[0] == '\0', "handle's message: '%s'",
              vex_index_errmsg(f.ix));
    /* no message wanted: the same failure, nowhere written */
    CHECK_RC(vx_ix_search(f.ix, f.base, 10, &so, hits, &n, NULL), VEX_NOMEM);
    CHECK_MSG(vex_index_errmsg(f.ix)[0] == '\0', "handle's message: '%s'",
              vex_index_errmsg(f.ix));
    /* batch and range report the same way */
    CHECK_RC(vx_ix_search_batch(f.ix, f.base, 2, 10, &so, hits2, nb, &e),
             VEX_NOMEM);
    CHECK_MSG(vex_index_errmsg(f.ix)[0] == '\0', "after batch: '%s'",
              vex_index_errmsg(f.ix));

    /* the public wrapper still reports into the handle, as documented */
    vex_search_params_init(&p);
    p.ef_search = WIDE_EF;
    CHECK_RC(vex_index_search(f.ix, f.base, 10, &p, hits, &n), VEX_NOMEM);
    CHECK_MSG(strcmp(vex_index_errmsg(f.ix), nomem_msg) == 0,
              "public message: '%s'", vex_index_errmsg(f.ix));

    /* with memory again the same internal search succeeds */
    set_budget(&f, -1);
    CHECK_RC(vx_ix_search(f.ix, f.base, 10, &so, hits, &n, &e), VEX_OK);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(hits[0].id, 0);
    vx_err_destroy(&e);
    fixture_close(&f);
}

typedef struct worker {
    fixture *f;
    unsigned t;
    long wrong; /* messages that were not this thread's */
    char first_wrong[3 * VEX_ERRMSG_MAX];
} worker;

static void expect(worker *w, vex_err *e, int rc, int want_rc, const char *want)
{
    char msg[VEX_ERRMSG_MAX];
    /* widen the window between a failure and the reading of its message,
     * where another thread's failure would land in a shared message */
    sched_yield();
    vx_err_copy(e, msg, sizeof msg);
    if (rc != want_rc || strcmp(msg, want) != 0) {
        if (w->wrong++ == 0)
            snprintf(w->first_wrong, sizeof w->first_wrong,
                     "rc %d, '%s' instead of '%s'", rc, msg, want);
    }
}

/* Each thread fails three ways in turn on the shared index, each time
 * with a message only it can produce or at least only it expects now: a
 * search (out of memory), a get of an id of its own that is missing, a
 * query check with a NaN at its own component. With one shared message
 * the threads would read each other's. */
static void *worker_main(void *arg)
{
    worker *w = arg;
    const vex_index_config *cfg = vx_ix_config(w->f->ix);
    vex_search_opts so;
    vex_hit hits[10];
    float q[DIM], out[DIM];
    char want[VEX_ERRMSG_MAX];
    size_t n;
    vex_err e;
    vx_err_init(&e);
    vx_ix_search_opts_init(&so);
    so.ef = WIDE_EF;
    so.n_threads = 1;
    memcpy(q, w->f->base, sizeof q);
    q[w->t] = NAN;
    for (unsigned i = 0; i < ITERATIONS; i++) {
        uint64_t id = 1000000 + (uint64_t)w->t * 100000 + i;
        int rc = vx_ix_search(w->f->ix, w->f->base + (size_t)i % N * DIM, 10,
                              &so, hits, &n, &e);
        expect(w, &e, rc, VEX_NOMEM, nomem_msg);
        rc = vx_ix_get(w->f->ix, id, out, &e);
        snprintf(want, sizeof want, "id %llu is not in the index",
                 (unsigned long long)id);
        expect(w, &e, rc, VEX_NOTFOUND, want);
        rc = vx_ix_check_vector(cfg, q, "query", i, &e);
        snprintf(want, sizeof want, "query %u: component %u is NaN", i, w->t);
        expect(w, &e, rc, VEX_INVALID, want);
    }
    vx_err_destroy(&e);
    return NULL;
}

static void test_concurrent_failures(void)
{
    fixture f;
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    fixture_open(&f);
    set_budget(&f, 0);
    for (unsigned t = 0; t < N_THREADS; t++) {
        w[t].f = &f;
        w[t].t = t;
        w[t].wrong = 0;
        w[t].first_wrong[0] = '\0';
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    for (unsigned t = 0; t < N_THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(w[t].wrong == 0, "thread %u: %ld wrong, first: %s", t,
                  w[t].wrong, w[t].first_wrong);
    }
    CHECK_MSG(vex_index_errmsg(f.ix)[0] == '\0', "handle's message: '%s'",
              vex_index_errmsg(f.ix));
    set_budget(&f, -1);
    fixture_close(&f);
}

static void test_create_open_failures(void)
{
    vex_index_options o;
    unsigned char junk[256];
    vx_ix *ix = (vx_ix *)junk;
    vex_err e;
    char msg[VEX_ERRMSG_MAX];
    vx_err_init(&e);
    vx_ix_options_init(&o);
    o.dim = 0;
    CHECK_RC(vx_ix_create(&o, NULL, &ix, &e), VEX_INVALID);
    CHECK(ix == NULL);
    vx_err_copy(&e, msg, sizeof msg);
    CHECK_MSG(strstr(msg, "dim is 0") != NULL, "'%s'", msg);
    memset(junk, 0x5a, sizeof junk);
    ix = (vx_ix *)junk;
    CHECK_RC(vx_ix_open_buffer(junk, sizeof junk, NULL, NULL, &ix, &e),
             VEX_CORRUPT);
    CHECK(ix == NULL);
    CHECK(e.msg[0] != '\0');
    CHECK_RC(vx_ix_open_buffer(junk, sizeof junk, NULL, NULL, &ix, NULL),
             VEX_CORRUPT);
    vx_err_destroy(&e);
}

/* Too few vectors for a PQ codebook: train_own leaves the index
 * unquantized, returns VEX_OK and writes nothing. */
static void test_train_own_quiet(void)
{
    vex_index_options o;
    uint64_t ids[10];
    float v[10 * DIM];
    vx_ix *ix = NULL;
    vex_err e;
    vex_rng r;
    vex_rng_seed(&r, test_seed(5));
    for (size_t i = 0; i < 10 * DIM; i++)
        v[i] = (float)vex_rng_normal(&r);
    for (size_t i = 0; i < 10; i++)
        ids[i] = i;
    vx_err_init(&e);
    vx_ix_options_init(&o);
    o.dim = DIM;
    o.n_threads = 1;
    o.quant = VEX_QUANT_PQ;
    CHECK_RC(vx_ix_create(&o, NULL, &ix, &e), VEX_OK);
    CHECK_RC(vx_ix_add(ix, ids, v, 10, 0, &e), VEX_OK);
    CHECK_RC(vx_ix_train_own(ix, &e), VEX_OK);
    CHECK_MSG(e.msg[0] == '\0', "'%s'", e.msg);
    vx_ix_free(ix);
    vx_err_destroy(&e);
}

typedef struct links_walk {
    uint8_t seen[N];      /* level 0 reported */
    uint32_t deg[N];      /* level-0 link count */
    uint64_t adj[N][128]; /* level-0 links */
    unsigned top[N];
    unsigned max_top;
    int bad;
} links_walk;

static int links_collect(void *ctx, uint64_t id, unsigned top, unsigned level,
                         const uint64_t *links, size_t n)
{
    links_walk *w = ctx;
    if (id >= N || level > top || n > 128)
        return w->bad = 1;
    for (size_t i = 0; i < n; i++)
        if (links[i] >= N || links[i] == id)
            return w->bad = 1;
    w->top[id] = top;
    if (top > w->max_top)
        w->max_top = top;
    if (level == 0) {
        w->seen[id]++;
        w->deg[id] = (uint32_t)n;
        memcpy(w->adj[id], links, n * sizeof *links);
    }
    return 0;
}

static int links_stop(void *ctx, uint64_t id, unsigned top, unsigned level,
                      const uint64_t *links, size_t n)
{
    (void)ctx, (void)id, (void)top, (void)level, (void)links, (void)n;
    return 1;
}

static void test_links(void)
{
    fixture f;
    links_walk *w = calloc(1, sizeof *w);
    uint64_t entry = UINT64_MAX, queue[N];
    uint8_t reached[N] = {0};
    size_t head = 0, tail = 0, live = 0;
    vex_index_options o;
    vx_ix *flat = NULL;
    vex_err e;
    vx_err_init(&e);
    fixture_open(&f);
    for (uint64_t id = 0; id < N; id += 7) /* removed: never reported */
        CHECK_RC(vx_ix_remove(f.ix, id, &e), VEX_OK);
    CHECK_RC(vx_ix_settle(f.ix, &e), VEX_OK);
    CHECK_RC(vx_ix_links(f.ix, links_collect, w, &entry, &e), VEX_OK);
    CHECK(!w->bad);
    CHECK(entry < N && entry % 7 != 0);
    CHECK_EQ_INT(w->top[entry], w->max_top);
    for (uint64_t id = 0; id < N; id++) {
        CHECK_EQ_INT(w->seen[id], id % 7 == 0 ? 0 : 1);
        for (uint32_t i = 0; i < w->deg[id]; i++)
            CHECK(w->adj[id][i] % 7 != 0);
        live += id % 7 != 0;
    }
    queue[tail++] = entry; /* every live node reachable on level 0 */
    reached[entry] = 1;
    while (head < tail) {
        uint64_t u = queue[head++];
        for (uint32_t i = 0; i < w->deg[u]; i++)
            if (!reached[w->adj[u][i]]) {
                reached[w->adj[u][i]] = 1;
                queue[tail++] = w->adj[u][i];
            }
    }
    CHECK_EQ_INT(tail, live);
    CHECK_RC(vx_ix_links(f.ix, links_stop, w, &entry, &e), VEX_INVALID);
    fixture_close(&f);

    vx_ix_options_init(&o); /* flat: no graph; empty HNSW: no entry */
    o.dim = DIM;
    o.n_threads = 1;
    CHECK_RC(vx_ix_create(&o, NULL, &flat, &e), VEX_OK);
    CHECK_RC(vx_ix_links(flat, links_collect, w, &entry, &e), VEX_MISUSE);
    CHECK_MSG(strstr(e.msg, "no graph") != NULL, "'%s'", e.msg);
    vx_ix_free(flat);
    o.kind = VEX_INDEX_HNSW;
    CHECK_RC(vx_ix_create(&o, NULL, &flat, &e), VEX_OK);
    CHECK_RC(vx_ix_links(flat, links_collect, w, &entry, &e), VEX_NOTFOUND);
    vx_ix_free(flat);
    vx_err_destroy(&e);
    free(w);
}

int main(void)
{
    TEST_RUN(test_search_error_to_caller);
    TEST_RUN(test_concurrent_failures);
    TEST_RUN(test_create_open_failures);
    TEST_RUN(test_train_own_quiet);
    TEST_RUN(test_links);
    return TEST_EXIT();
}
