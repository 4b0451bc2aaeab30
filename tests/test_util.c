/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_util.c - util layer: status table, allocator, id map, top-k heap,
 * worker pool, error messages, the bounded reader.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "util/cmap.h"
#include "util/err.h"
#include "util/idmap.h"
#include "util/mem.h"
#include "util/pool.h"
#include "util/rd.h"
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

/* ---- error messages ------------------------------------------------------ */

static void test_err_set(void)
{
    vex_err e;
    CHECK_EQ_INT(vx_err_set(NULL, VEX_IOERR, "no handle %d", 1), VEX_IOERR);
    CHECK_EQ_INT(VX_CORRUPT(NULL, "no handle"), VEX_CORRUPT);
    vx_err_init(&e);
    CHECK_EQ_INT(vx_err_set(&e, VEX_INVALID, "k is %d", 7), VEX_INVALID);
    CHECK(e.rc == VEX_INVALID && strcmp(e.msg, "k is 7") == 0);
    /* a message built from the current one */
    vx_err_set(&e, VEX_INVALID, "open: %s", e.msg);
    CHECK(strcmp(e.msg, "open: k is 7") == 0);
    CHECK_EQ_INT(VX_CORRUPT(&e, "blob: bad magic at offset %d", 0),
                 VEX_CORRUPT);
    CHECK(e.rc == VEX_CORRUPT);
    CHECK(strstr(e.msg, "blob: bad magic at offset 0") != NULL);
#ifdef NDEBUG
    CHECK(strcmp(e.msg, "blob: bad magic at offset 0") == 0);
#else
    CHECK_MSG(strncmp(e.msg, "test_util.c:", 12) == 0, "%s", e.msg);
#endif
    vx_err_destroy(&e);
}

/* ---- the bounded reader -------------------------------------------------- */

static void test_rd_in_bounds(void)
{
    const unsigned char b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                               0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
                               0x0f, 0x10, 0x11, 0x00, 0x00, 0xc0, 0x3f,
                               0xe5, 0x8e, 0x26, 'x',  'y'};
    unsigned char two[2];
    vx_rd r = vx_rd_new(b, sizeof b);
    CHECK(vx_rd_ok(&r) && vx_rd_left(&r) == sizeof b);
    CHECK_EQ_INT(vx_rd_u8(&r, "a"), 0x01);
    CHECK_EQ_INT(vx_rd_u16(&r, "b"), 0x0302);
    CHECK_EQ_INT(vx_rd_u32(&r, "c"), 0x07060504);
    CHECK(vx_rd_u64(&r, "d") == 0x0f0e0d0c0b0a0908ull);
    CHECK_EQ_INT(vx_rd_pos(&r), 15);
    CHECK(vx_rd_skip(&r, 2, "e")); /* 0x10 0x11 */
    CHECK(vx_rd_f32(&r, "f") == 1.5f);
    CHECK(vx_rd_varint(&r, "g") == 624485); /* e5 8e 26 */
    CHECK(vx_rd_copy(&r, two, 2, "h") && two[0] == 'x' && two[1] == 'y');
    CHECK(vx_rd_end(&r, "i") && vx_rd_ok(&r));
    CHECK(strcmp(vx_rd_what(&r), "") == 0);
    /* seek back, sub-reader with file offsets */
    CHECK(vx_rd_seek(&r, 4, "j") && vx_rd_pos(&r) == 4);
    {
        vx_rd s = vx_rd_sub(&r, 3, "k");
        CHECK(vx_rd_ok(&s) && vx_rd_left(&s) == 3 && vx_rd_off(&s) == 4);
        CHECK_EQ_INT(vx_rd_u16(&s, "l"), 0x0605);
        CHECK_EQ_INT(vx_rd_u16(&s, "past the sub-range"), 0);
        CHECK(!vx_rd_ok(&s) && vx_rd_fail_off(&s) == 6);
        CHECK(vx_rd_ok(&r) && vx_rd_pos(&r) == 7);
    }
    {
        const double d = -2.25;
        unsigned char e[8];
        uint64_t u;
        vx_rd t;
        memcpy(&u, &d, 8);
        for (int i = 0; i < 8; i++)
            e[i] = (unsigned char)(u >> (8 * i));
        t = vx_rd_at(e, 8, 100);
        CHECK(vx_rd_f64(&t, "m") == d && vx_rd_off(&t) == 108);
    }
}

static void test_rd_past_end_sticks(void)
{
    const unsigned char b[6] = {1, 2, 3, 4, 5, 6};
    unsigned char dst[4] = {9, 9, 9, 9};
    vx_rd r = vx_rd_new(b, sizeof b);
    CHECK_EQ_INT(vx_rd_u32(&r, "first"), 0x04030201);
    /* 2 bytes left: a u32 fails, consumes nothing, returns 0 */
    CHECK_EQ_INT(vx_rd_u32(&r, "truncated count"), 0);
    CHECK(!vx_rd_ok(&r));
    CHECK(strcmp(vx_rd_what(&r), "truncated count") == 0);
    CHECK_EQ_INT(vx_rd_fail_off(&r), 4);
    /* later reads are no-ops, even ones that would fit; the first
     * failure is kept */
    CHECK_EQ_INT(vx_rd_u8(&r, "second"), 0);
    CHECK_EQ_INT(vx_rd_u16(&r, "third"), 0);
    CHECK(vx_rd_take(&r, 0, "fourth") == NULL);
    CHECK(!vx_rd_copy(&r, dst, 4, "fifth") && dst[0] == 0 && dst[3] == 0);
    CHECK(!vx_rd_skip(&r, 1, "sixth") && !vx_rd_seek(&r, 0, "seventh"));
    CHECK(!vx_rd_end(&r, "eighth") && !vx_rd_zero(&r, 0, "ninth"));
    vx_rd_fail(&r, "a check");
    vx_rd_fail_at(&r, 0, "another check");
    CHECK(strcmp(vx_rd_what(&r), "truncated count") == 0);
    CHECK_EQ_INT(vx_rd_fail_off(&r), 4);
    CHECK_EQ_INT(vx_rd_pos(&r), 4);
    /* a sub-reader of a failed reader is failed with the same reason */
    {
        vx_rd s = vx_rd_sub(&r, 1, "sub");
        CHECK(!vx_rd_ok(&s) && vx_rd_left(&s) == 0);
        CHECK(strcmp(vx_rd_what(&s), "truncated count") == 0);
        CHECK_EQ_INT(vx_rd_fail_off(&s), 4);
    }
    /* NULL what: a default description */
    r = vx_rd_new(b, 1);
    vx_rd_u16(&r, NULL);
    CHECK(!vx_rd_ok(&r) && strcmp(vx_rd_what(&r), "read past the end") == 0);
    /* a decoder's own check is a failure like any other */
    r = vx_rd_at(b, sizeof b, 1000);
    vx_rd_u16(&r, "x");
    vx_rd_fail(&r, "value out of range");
    CHECK(strcmp(vx_rd_what(&r), "value out of range") == 0);
    CHECK_EQ_INT(vx_rd_fail_off(&r), 1002);
    /* bytes left over */
    r = vx_rd_new(b, sizeof b);
    vx_rd_u32(&r, "x");
    CHECK(!vx_rd_end(&r, "trailing bytes") && vx_rd_fail_off(&r) == 4);
    /* reserved bytes: the first non-zero one is named */
    {
        const unsigned char z[5] = {0, 0, 0, 7, 0};
        r = vx_rd_at(z, sizeof z, 10);
        CHECK(!vx_rd_zero(&r, 5, "reserved byte not zero"));
        CHECK_EQ_INT(vx_rd_fail_off(&r), 13);
        r = vx_rd_new(z, sizeof z);
        CHECK(vx_rd_zero(&r, 3, "x") && vx_rd_ok(&r));
    }
}

static void test_rd_edges(void)
{
    const unsigned char b[3] = {0x80, 0x80, 0x80};
    const unsigned char big[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0x01, 0x00};
    const unsigned char over[10] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0x02};
    vx_rd r;
    /* empty and NULL inputs: zero-length reads succeed, others fail */
    r = vx_rd_new(NULL, 0);
    CHECK(vx_rd_take(&r, 0, "x") != NULL && vx_rd_ok(&r));
    CHECK(vx_rd_skip(&r, 0, "x") && vx_rd_end(&r, "x") &&
          vx_rd_zero(&r, 0, "x"));
    CHECK(vx_rd_seek(&r, 0, "x") && !vx_rd_seek(&r, 1, "seek past"));
    CHECK(strcmp(vx_rd_what(&r), "seek past") == 0);
    r = vx_rd_new(b, 0);
    CHECK(vx_rd_take(&r, 0, "x") == b && vx_rd_ok(&r));
    CHECK_EQ_INT(vx_rd_u8(&r, "empty"), 0);
    CHECK(!vx_rd_ok(&r) && vx_rd_fail_off(&r) == 0);
    /* exactly to the end is fine; one byte more is not */
    r = vx_rd_new(b, sizeof b);
    CHECK(vx_rd_take(&r, 3, "x") == b && vx_rd_left(&r) == 0);
    CHECK(vx_rd_take(&r, 0, "x") == b + 3 && vx_rd_ok(&r));
    CHECK(vx_rd_take(&r, 1, "one more") == NULL && !vx_rd_ok(&r));
    /* pos + n would overflow: a failure, not a wrap */
    r = vx_rd_new(b, sizeof b);
    vx_rd_u8(&r, "x");
    CHECK(vx_rd_take(&r, UINT64_MAX, "huge") == NULL);
    CHECK(strcmp(vx_rd_what(&r), "huge") == 0 && vx_rd_fail_off(&r) == 1);
    r = vx_rd_new(b, sizeof b);
    vx_rd_u8(&r, "x");
    CHECK(vx_rd_take(&r, (uint64_t)SIZE_MAX, "size_max") == NULL);
    CHECK(!vx_rd_skip(&r, UINT64_MAX - 1, "x") && !vx_rd_ok(&r));
    r = vx_rd_new(b, sizeof b);
    CHECK(!vx_rd_seek(&r, UINT64_MAX, "far seek") && vx_rd_pos(&r) == 0);
    /* count * size overflows */
    r = vx_rd_new(b, sizeof b);
    CHECK(vx_rd_array(&r, UINT64_MAX / 4 + 1, 8, "array") == NULL);
    CHECK(strcmp(vx_rd_what(&r), "array") == 0);
    r = vx_rd_new(b, sizeof b);
    CHECK(vx_rd_array(&r, 3, 1, "x") == b && vx_rd_ok(&r));
    CHECK(vx_rd_array(&r, UINT64_MAX, 0, "x") != NULL && vx_rd_ok(&r));
    /* sub-reader longer than what is left */
    r = vx_rd_new(b, sizeof b);
    {
        vx_rd s = vx_rd_sub(&r, 4, "short section");
        CHECK(!vx_rd_ok(&r) && !vx_rd_ok(&s) && vx_rd_left(&s) == 0);
        CHECK(strcmp(vx_rd_what(&s), "short section") == 0);
    }
    /* varints: truncated inside, at most 64 bits, at most 10 bytes */
    r = vx_rd_at(b, sizeof b, 50);
    CHECK(vx_rd_varint(&r, "truncated varint") == 0 && !vx_rd_ok(&r));
    CHECK_EQ_INT(vx_rd_fail_off(&r), 50);
    r = vx_rd_new(big, sizeof big);
    CHECK(vx_rd_varint(&r, "x") == UINT64_MAX && vx_rd_pos(&r) == 10);
    r = vx_rd_new(over, sizeof over);
    CHECK(vx_rd_varint(&r, "too big") == 0 && !vx_rd_ok(&r));
    CHECK_EQ_INT(vx_rd_fail_off(&r), 0);
    {
        unsigned char eleven[11];
        memset(eleven, 0x80, sizeof eleven);
        eleven[10] = 0;
        r = vx_rd_new(eleven, sizeof eleven);
        CHECK(vx_rd_varint(&r, "too long") == 0 && !vx_rd_ok(&r));
    }
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
    TEST_RUN(test_err_set);
    TEST_RUN(test_rd_in_bounds);
    TEST_RUN(test_rd_past_end_sticks);
    TEST_RUN(test_rd_edges);
    return TEST_EXIT();
}
