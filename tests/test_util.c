/*
 * test_util.c - util layer: status table, allocator, id map, top-k heap,
 * worker pool.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "util/cmap.h"
#include "util/idmap.h"
#include "util/mem.h"
#include "util/pool.h"
#include "util/rng.h"
#include "util/topk.h"
#include "vexdb.h"

static void test_status_table(void)
{
    CHECK(strcmp(vex_errstr(VEX_OK), "ok") == 0);
    CHECK(strcmp(vex_errstr(VEX_NOMEM), "out of memory") == 0);
    CHECK(strcmp(vex_status_name(VEX_CORRUPT), "VEX_CORRUPT") == 0);
    CHECK(strcmp(vex_errstr(-1), "unknown status code") == 0);
    CHECK(strcmp(vex_status_name(9999), "VEX_?") == 0);
    CHECK(strcmp(vex_version(), VEX_VERSION_STRING) == 0);
    CHECK_EQ_INT(vex_version_number(), VEX_VERSION_NUMBER);
}

static void test_mem_aligned(void)
{
    vex_mem m;
    size_t align;
    CHECK_RC(vx_mem_init(&m, NULL), VEX_OK);
    for (align = 1; align <= 4096; align *= 2) {
        unsigned char *p = vx_mem_alloc_aligned(&m, 100, align);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p %
               (align < sizeof(void *) ? sizeof(void *) : align)) == 0);
        memset(p, 0xab, 100);
        vx_mem_free_aligned(&m, p);
    }
    CHECK(vx_mem_alloc_aligned(&m, SIZE_MAX - 8, 64) == NULL);
    CHECK(vx_mem_calloc(&m, SIZE_MAX / 2, 4) == NULL);
}

static void test_mem_partial_allocator(void)
{
    vex_mem m;
    vex_allocator a = {0};
    a.alloc = NULL;
    CHECK_RC(vx_mem_init(&m, &a), VEX_OK); /* all NULL: libc */
    a.free = (void (*)(void *, void *))1;
    CHECK_RC(vx_mem_init(&m, &a), VEX_INVALID);
}

static void test_idmap_model(void)
{
    /* random operations checked against a direct-mapped model */
    enum { N = 4096 };
    static uint64_t model[N];
    static unsigned char present[N];
    vex_mem m;
    vex_idmap map;
    vex_rng r;
    size_t i, live = 0;
    vx_mem_init(&m, NULL);
    vx_idmap_init(&map, &m);
    vex_rng_seed(&r, test_seed(1));
    memset(present, 0, sizeof present);
    for (i = 0; i < 200000; i++) {
        /* keys spread over 64 bits but derived from a small index */
        uint64_t k = vex_rng_below(&r, N);
        uint64_t key = k * 0x9e3779b97f4a7c15ULL;
        unsigned op = (unsigned)vex_rng_below(&r, 3);
        if (op == 0) {
            uint64_t v = vex_rng_next(&r) >> 1;
            CHECK_RC(vx_idmap_put(&map, key, v), VEX_OK);
            live += !present[k];
            present[k] = 1;
            model[k] = v;
        } else if (op == 1) {
            int got = vx_idmap_remove(&map, key);
            CHECK_EQ_INT(got, present[k]);
            live -= present[k];
            present[k] = 0;
        } else {
            uint64_t v = 0;
            int got = vx_idmap_get(&map, key, &v);
            CHECK_EQ_INT(got, present[k]);
            if (got && present[k])
                CHECK(v == model[k]);
        }
        CHECK_EQ_INT(map.count, live);
    }
    /* extreme keys */
    CHECK_RC(vx_idmap_put(&map, 0, 5), VEX_OK);
    CHECK_RC(vx_idmap_put(&map, UINT64_MAX, 6), VEX_OK);
    {
        uint64_t v;
        CHECK(vx_idmap_get(&map, 0, &v) && v == 5);
        CHECK(vx_idmap_get(&map, UINT64_MAX, &v) && v == 6);
    }
    vx_idmap_destroy(&map);
}

static int hit_cmp(const void *a, const void *b)
{
    const vex_hit *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void test_topk_against_sort(void)
{
    enum { N = 1000 };
    vex_hit all[N], store[64];
    vex_rng r;
    size_t k, i;
    vex_rng_seed(&r, test_seed(2));
    for (k = 1; k <= 64; k = k * 2 + 1) {
        vex_topk t;
        for (i = 0; i < N; i++) {
            /* few distinct distances, so ties must break by id */
            all[i].distance = (float)vex_rng_below(&r, 50);
            all[i].id = vex_rng_below(&r, 1u << 20);
        }
        vex_topk_init(&t, store, k);
        for (i = 0; i < N; i++)
            vex_topk_push(&t, all[i].distance, all[i].id);
        qsort(all, N, sizeof all[0], hit_cmp);
        CHECK_EQ_INT(vx_topk_sort(&t), k);
        for (i = 0; i < k; i++)
            CHECK(store[i].id == all[i].id &&
                  store[i].distance == all[i].distance);
    }
}

typedef struct pool_arg {
    atomic_uint_fast64_t sum;
    atomic_int seen[64];
    unsigned width;
    atomic_int bad_worker;
} pool_arg;

static void pool_task(void *arg, size_t task, unsigned worker)
{
    pool_arg *a = arg;
    atomic_fetch_add(&a->sum, task + 1);
    atomic_fetch_add(&a->seen[task % 64], 1);
    if (worker >= a->width)
        atomic_store(&a->bad_worker, 1);
}

static void *pool_caller(void *p)
{
    vex_pool *pool = p;
    int round;
    for (round = 0; round < 200; round++) {
        pool_arg a;
        size_t n = 1 + (size_t)round * 7 % 300, i;
        atomic_init(&a.sum, 0);
        atomic_init(&a.bad_worker, 0);
        for (i = 0; i < 64; i++)
            atomic_init(&a.seen[i], 0);
        a.width = vx_pool_width(pool, (unsigned)(round % 4));
        vx_pool_run(pool, n, (unsigned)(round % 4), pool_task, &a);
        if (atomic_load(&a.sum) != n * (n + 1) / 2 ||
            atomic_load(&a.bad_worker))
            return (void *)1;
    }
    return NULL;
}

static void test_pool_concurrent_callers(void)
{
    vex_mem m;
    vex_pool *pool = NULL;
    pthread_t th[3];
    void *res;
    int i;
    vx_mem_init(&m, NULL);
    CHECK_RC(vx_pool_create(&m, 3, &pool), VEX_OK);
    CHECK_EQ_INT(vx_pool_size(pool), 3);
    for (i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, pool_caller, pool);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], &res);
        CHECK(res == NULL);
    }
    vx_pool_destroy(pool);
    CHECK_RC(vx_pool_create(&m, 0, &pool), VEX_INVALID);
    CHECK_RC(vx_pool_create(&m, 1, &pool), VEX_OK);
    CHECK(pool_caller(pool) == NULL);
    vx_pool_destroy(pool);
}

/* cmap: one writer inserts and updates (values only grow) while readers
 * look up; a reader never sees a value go back or a key vanish, and the
 * final map equals a plain model. */
#define CM_KEYS 20000
typedef struct cm_ctx {
    vex_cmap m;
    _Atomic int stop;
    _Atomic uint64_t published; /* keys [0, published) are in the map */
} cm_ctx;

static void *cm_reader(void *arg)
{
    cm_ctx *x = arg;
    uint64_t last[64] = {0};
    while (!atomic_load(&x->stop)) {
        uint64_t n = atomic_load(&x->published);
        for (uint64_t i = 0; i < 64; i++) {
            uint64_t k = (i * 311) % CM_KEYS, v = 0;
            int got = vx_cmap_get(&x->m, k * 0x9E3779B97F4A7C15ull, &v);
            if (k < n)
                CHECK(got); /* published keys never vanish */
            if (got) {
                CHECK(v % CM_KEYS == k);
                CHECK(v >= last[i]); /* values never go back */
                last[i] = v;
            }
        }
    }
    return NULL;
}

static void test_cmap_one_writer(void)
{
    cm_ctx x;
    pthread_t th[2];
    vex_mem mem;
    vx_mem_init(&mem, NULL);
    vx_cmap_init(&x.m, &mem);
    atomic_init(&x.stop, 0);
    atomic_init(&x.published, 0);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, cm_reader, &x);
    for (uint64_t round = 0; round < 3; round++)
        for (uint64_t k = 0; k < CM_KEYS; k++) {
            CHECK_RC(vx_cmap_put(&x.m, k * 0x9E3779B97F4A7C15ull,
                                 round * CM_KEYS + k),
                     VEX_OK);
            if (round == 0)
                atomic_store(&x.published, k + 1);
        }
    atomic_store(&x.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_INT(x.m.count, CM_KEYS);
    for (uint64_t k = 0; k < CM_KEYS; k++) {
        uint64_t v = 0;
        CHECK(vx_cmap_get(&x.m, k * 0x9E3779B97F4A7C15ull, &v));
        CHECK_EQ_INT(v, 2 * CM_KEYS + k);
    }
    CHECK(!vx_cmap_get(&x.m, 12345, NULL));
    CHECK_RC(vx_cmap_put(&x.m, 1, UINT64_MAX), VEX_INVALID);
    vx_cmap_destroy(&x.m);
}

int main(void)
{
    TEST_RUN(test_status_table);
    TEST_RUN(test_mem_aligned);
    TEST_RUN(test_mem_partial_allocator);
    TEST_RUN(test_idmap_model);
    TEST_RUN(test_cmap_one_writer);
    TEST_RUN(test_topk_against_sort);
    TEST_RUN(test_pool_concurrent_callers);
    return TEST_EXIT();
}
