/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_results.c - the vex_results handle and range search on
 * collections, through the public API: projections (vector, metadata,
 * payload) on memtable and segment rows after upserts, deletes and
 * metadata-only updates, checked against a model; the same hits as
 * vex_search; vectors and metadata from the same version of a record as
 * its hit while a writer rewrites them; reuse of one handle with no
 * allocation after warm-up; bad input with messages; range search exact
 * against brute force on flat collections and exact memtables (with
 * truncation, filters and the id callback), and recall against brute
 * force on HNSW segments, plain and filtered.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "test_alloc.h"
#include "util/rng.h"
#include "vexdb.h"

static char tmp_root[256];

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_results_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static vex_db *open_db(const char *name, uint32_t exact_rows)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    o.memtable_bytes = 1 << 20; /* the smallest */
    o.memtable_exact_rows = exact_rows;
    o.durability = VEX_DURABILITY_NONE;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static vex_collection *make_coll(vex_db *db, uint32_t dim, vex_metric metric,
                                 vex_index_kind kind)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.metric = metric;
    cfg.index_kind = kind;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    return c;
}

static int msg_has(vex_collection *c, const char *s)
{
    const char *m = vex_collection_errmsg(c);
    if (strstr(m, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", m, s);
        return 0;
    }
    return 1;
}

/* ---- a model of the collection --------------------------------------- */

#define MAXN 16000

typedef struct model {
    uint32_t dim;
    float *vec;            /* MAXN x dim */
    int live[MAXN];        /* 1: present */
    int64_t gen[MAXN];     /* the "gen" field of its metadata */
    int has_meta[MAXN];    /* 0: written without metadata */
    size_t pay_len[MAXN];  /* 0: no payload */
    int64_t pay_gen[MAXN]; /* the payload is pay_of(id, pay_gen) */
} model;

/* The payload of record id written at generation gen: a length from 0
 * (none) to 300 bytes, each a function of (id, gen, position). */
static size_t pay_of(uint64_t id, int64_t gen, unsigned char *buf)
{
    size_t n = (size_t)((id * 37 + (uint64_t)gen * 11) % 301);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(id * 31 + (uint64_t)gen * 7 + i);
    return n;
}

static void rand_vec(vex_rng *r, float *v, uint32_t dim)
{
    for (uint32_t j = 0; j < dim; j++)
        v[j] = (float)vex_rng_double(r) * 2.0f - 1.0f;
}

/* Write id with a fresh vector and metadata {gen, grp, name, tags}. */
static void put(vex_collection *c, model *m, vex_meta *meta, vex_rng *r,
                uint64_t id, int64_t gen, int with_meta)
{
    float *v = m->vec + id * m->dim;
    char name[32];
    const char *tags[2] = {"even", "odd"};
    rand_vec(r, v, m->dim);
    vex_meta_clear(meta);
    snprintf(name, sizeof name, "rec-%llu", (unsigned long long)id);
    CHECK_RC(vex_meta_set_int(meta, "gen", gen), VEX_OK);
    CHECK_RC(vex_meta_set_int(meta, "grp", (int64_t)(id % 3)), VEX_OK);
    CHECK_RC(vex_meta_set_string(meta, "name", name, strlen(name)), VEX_OK);
    CHECK_RC(vex_meta_set_tags(meta, "tags", &tags[id & 1], 1), VEX_OK);
    {
        unsigned char pay[301];
        vex_record rec;
        vex_record_init(&rec);
        rec.id = id;
        rec.vector = v;
        rec.meta = with_meta ? meta : NULL;
        rec.payload = pay;
        rec.payload_len = pay_of(id, gen, pay);
        CHECK_RC(vex_upsert_record(c, &rec), VEX_OK);
        m->pay_len[id] = rec.payload_len;
        m->pay_gen[id] = gen;
    }
    m->live[id] = 1;
    m->gen[id] = gen;
    m->has_meta[id] = with_meta;
}

static float dist_l2(const float *a, const float *b, uint32_t dim)
{
    float s = 0;
    for (uint32_t j = 0; j < dim; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

/* Check hit i's projections in r against the model. */
static void check_hit(const model *m, const vex_results *r, size_t i,
                      unsigned with)
{
    const vex_hit *h = vex_results_hits(r) + i;
    uint64_t id = h->id;
    const void *vp = vex_results_vector(r, i);
    const vex_meta *vm = vex_results_meta(r, i);
    const void *p = (const void *)1;
    size_t len = 99;
    vex_field f;
    CHECK(id < MAXN && m->live[id]);
    if (id >= MAXN)
        return;
    if (with & VEX_WITH_VECTOR) {
        CHECK(vp != NULL &&
              memcmp(vp, m->vec + id * m->dim, m->dim * sizeof(float)) == 0);
    } else {
        CHECK(vp == NULL);
    }
    if (with & VEX_WITH_META) {
        CHECK(vm != NULL);
        if (vm == NULL)
            return;
        if (!m->has_meta[id]) {
            CHECK_EQ_INT(vex_meta_count(vm), 0);
            CHECK_RC(vex_results_field(r, i, "gen", &f), VEX_NOTFOUND);
        } else {
            size_t t;
            const char *tp;
            size_t tl;
            char name[32];
            CHECK_EQ_INT(vex_meta_count(vm), 4);
            CHECK_RC(vex_results_field(r, i, "gen", &f), VEX_OK);
            CHECK(f.type == VEX_TYPE_INT && f.i == m->gen[id]);
            CHECK_RC(vex_results_field(r, i, "name", &f), VEX_OK);
            snprintf(name, sizeof name, "rec-%llu", (unsigned long long)id);
            CHECK(f.type == VEX_TYPE_STRING && f.len == strlen(name) &&
                  memcmp(f.s, name, f.len) == 0);
            CHECK_RC(vex_meta_find(vm, "tags", &t), VEX_OK);
            CHECK_RC(vex_meta_tag(vm, t, 0, &tp, &tl), VEX_OK);
            CHECK(tl == ((id & 1) ? 3u : 4u));
            CHECK_RC(vex_results_field(r, i, "absent", &f), VEX_NOTFOUND);
        }
    } else {
        CHECK(vm == NULL);
        CHECK_RC(vex_results_field(r, i, "gen", &f), VEX_MISUSE);
    }
    if (with & VEX_WITH_PAYLOAD) {
        unsigned char want[301];
        size_t wn = pay_of(id, m->pay_gen[id], want);
        CHECK_RC(vex_results_payload(r, i, &p, &len), VEX_OK);
        CHECK_EQ_INT(len, m->pay_len[id]);
        CHECK_EQ_INT(wn, m->pay_len[id]);
        if (m->pay_len[id] == 0)
            CHECK(p == NULL);
        else
            CHECK(p != NULL && memcmp(p, want, wn) == 0);
    } else {
        CHECK_RC(vex_results_payload(r, i, &p, &len), VEX_MISUSE);
    }
}

/* vex_search_results with `with` against vex_search and the model. */
static void check_query(vex_collection *c, const model *m, vex_results *r,
                        const float *q, size_t k, unsigned with, int exact)
{
    vex_hit hits[64];
    size_t n = 0;
    CHECK_RC(vex_search(c, q, k, NULL, hits, NULL, &n), VEX_OK);
    CHECK_RC(vex_search_results(c, q, k, NULL, with, r), VEX_OK);
    CHECK_EQ_INT(vex_results_count(r), n);
    /* the same hits (an HNSW memtable's background graph insertions
     * between the two calls could change them: compare when exact) */
    for (size_t i = 0; exact && i < n && i < vex_results_count(r); i++)
        CHECK(vex_results_hits(r)[i].id == hits[i].id &&
              vex_results_hits(r)[i].distance == hits[i].distance);
    CHECK_EQ_INT(vex_results_truncated(r), 0);
    for (size_t i = 0; i < vex_results_count(r); i++)
        check_hit(m, r, i, with);
    CHECK(vex_results_vector(r, n) == NULL && vex_results_meta(r, n) == NULL);
}

static void check_all_projections(vex_collection *c, const model *m,
                                  vex_results *r, vex_rng *rng, int exact)
{
    static const unsigned withs[] = {0,
                                     VEX_WITH_VECTOR,
                                     VEX_WITH_META,
                                     VEX_WITH_PAYLOAD,
                                     VEX_WITH_VECTOR | VEX_WITH_META,
                                     VEX_WITH_ALL};
    float q[64];
    for (size_t w = 0; w < sizeof withs / sizeof withs[0]; w++)
        for (int t = 0; t < 4; t++) {
            rand_vec(rng, q, m->dim);
            check_query(c, m, r, q, t == 0 ? 1 : 25, withs[w], exact);
        }
}

/* ---- projections ---------------------------------------------------- */

static void test_projections(void)
{
    vex_db *db = open_db("proj", 256);
    vex_collection *c;
    vex_results *r = NULL;
    vex_meta *meta = NULL;
    vex_rng rng;
    static model m;
    memset(&m, 0, sizeof m);
    m.dim = 8;
    m.vec = calloc(MAXN * m.dim, sizeof(float));
    vex_rng_seed(&rng, test_seed(11));
    if (db == NULL)
        return;
    for (int kind = 0; kind < 2; kind++) {
        c = make_coll(db, m.dim, VEX_METRIC_L2,
                      kind ? VEX_INDEX_HNSW : VEX_INDEX_FLAT);
        if (c == NULL)
            break;
        memset(m.live, 0, sizeof m.live);
        CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
        CHECK_RC(vex_results_create(NULL, &r), VEX_OK);
        /* 600 rows to a segment, 200 in the memtable (a tenth without
         * metadata) */
        for (uint64_t id = 0; id < 600; id++)
            put(c, &m, meta, &rng, id, 0, id % 10 != 3);
        CHECK_RC(vex_flush(c), VEX_OK);
        for (uint64_t id = 600; id < 800; id++)
            put(c, &m, meta, &rng, id, 0, id % 10 != 3);
        check_all_projections(c, &m, r, &rng, kind == 0);
        /* overwrites of segment rows into the memtable, deletes of both,
         * metadata-only updates of both */
        for (uint64_t id = 0; id < 800; id += 7)
            put(c, &m, meta, &rng, id, 1, 1);
        for (uint64_t id = 3; id < 800; id += 11) {
            CHECK_RC(vex_delete(c, id), VEX_OK);
            m.live[id] = 0;
        }
        for (uint64_t id = 5; id < 800; id += 13) {
            if (!m.live[id])
                continue;
            CHECK_RC(vex_meta_set_int(meta, "gen", 7), VEX_OK);
            CHECK_RC(vex_update_meta(c, id, meta), VEX_OK);
            m.gen[id] = 7;
            m.has_meta[id] = 1;
            /* the other fields of `meta` are those of the last put: keep
             * the model's name check right by restoring them */
            {
                char name[32];
                const char *tags[2] = {"even", "odd"};
                snprintf(name, sizeof name, "rec-%llu", (unsigned long long)id);
                CHECK_RC(vex_meta_set_int(meta, "grp", (int64_t)(id % 3)),
                         VEX_OK);
                CHECK_RC(vex_meta_set_string(meta, "name", name, strlen(name)),
                         VEX_OK);
                CHECK_RC(vex_meta_set_tags(meta, "tags", &tags[id & 1], 1),
                         VEX_OK);
                CHECK_RC(vex_update_meta(c, id, meta), VEX_OK);
            }
        }
        check_all_projections(c, &m, r, &rng, kind == 0);
        /* everything in segments, then compacted */
        CHECK_RC(vex_flush(c), VEX_OK);
        check_all_projections(c, &m, r, &rng, kind == 0);
        CHECK_RC(vex_compact(c), VEX_OK);
        check_all_projections(c, &m, r, &rng, kind == 0);
        vex_results_free(r);
        vex_meta_free(meta);
        CHECK_RC(vex_collection_close(c), VEX_OK);
        CHECK_RC(vex_collection_drop(db, "c"), VEX_OK);
    }
    CHECK_RC(vex_db_close(db), VEX_OK);
    free(m.vec);
}

/* ---- one snapshot for hits and projections -------------------------- */

#define SNAP_IDS 64
#define SNAP_DIM 4

typedef struct writer_arg {
    vex_collection *c;
    atomic_int stop;
} writer_arg;

/* Rewrite every record again and again: generation g gives vector
 * (g, id, 0, 0) and metadata gen = g, so a vector and metadata of the
 * same version agree. */
static void *writer(void *arg)
{
    writer_arg *w = arg;
    vex_meta *meta = NULL;
    if (vex_meta_create(NULL, &meta) != VEX_OK)
        return NULL;
    for (int64_t g = 1; !atomic_load(&w->stop) && g < 100000; g++)
        for (uint64_t id = 0; id < SNAP_IDS; id++) {
            float v[SNAP_DIM] = {(float)g, (float)id, 0, 0};
            vex_meta_set_int(meta, "gen", g);
            if (vex_upsert_meta(w->c, id, v, meta) != VEX_OK)
                break;
        }
    vex_meta_free(meta);
    return NULL;
}

static void test_same_snapshot(void)
{
    vex_db *db = open_db("snap", 256);
    vex_collection *c;
    vex_results *r = NULL;
    writer_arg w;
    pthread_t th;
    int bad = 0, searches = 0;
    if (db == NULL)
        return;
    c = make_coll(db, SNAP_DIM, VEX_METRIC_L2, VEX_INDEX_FLAT);
    CHECK_RC(vex_results_create(NULL, &r), VEX_OK);
    if (c == NULL || r == NULL)
        return;
    w.c = c;
    atomic_init(&w.stop, 0);
    for (uint64_t id = 0; id < SNAP_IDS; id++) {
        float v[SNAP_DIM] = {0, (float)id, 0, 0};
        CHECK_RC(vex_upsert(c, id, v), VEX_OK);
    }
    CHECK(pthread_create(&th, NULL, writer, &w) == 0);
    for (int i = 0; i < 400; i++) {
        float q[SNAP_DIM] = {0, (float)(i % SNAP_IDS), 0, 0};
        CHECK_RC(vex_search_results(c, q, 16, NULL,
                                    VEX_WITH_VECTOR | VEX_WITH_META, r),
                 VEX_OK);
        searches++;
        for (size_t j = 0; j < vex_results_count(r); j++) {
            const float *v = vex_results_vector(r, j);
            const vex_hit *h = vex_results_hits(r) + j;
            vex_field f;
            int64_t gen = 0;
            if (vex_results_field(r, j, "gen", &f) == VEX_OK)
                gen = f.i;
            /* the vector is the hit's (its distance) and the
             * metadata's (its generation) */
            bad += v == NULL || (int64_t)v[0] != gen ||
                   (uint64_t)v[1] != h->id ||
                   fabsf(dist_l2(v, q, SNAP_DIM) - h->distance) >
                       1e-3f * (1.0f + h->distance);
        }
    }
    atomic_store(&w.stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ_INT(bad, 0);
    CHECK(searches == 400);
    vex_results_free(r);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* ---- reuse without allocation --------------------------------------- */

typedef struct count_alloc {
    atomic_long allocs, live;
} count_alloc;

static void *ca_alloc(void *u, size_t n)
{
    count_alloc *a = u;
    atomic_fetch_add(&a->allocs, 1);
    atomic_fetch_add(&a->live, 1);
    return malloc(n);
}

static void *ca_realloc(void *u, void *p, size_t n)
{
    count_alloc *a = u;
    atomic_fetch_add(&a->allocs, 1);
    if (p == NULL)
        atomic_fetch_add(&a->live, 1);
    return realloc(p, n);
}

static void ca_free(void *u, void *p)
{
    count_alloc *a = u;
    if (p)
        atomic_fetch_sub(&a->live, 1);
    free(p);
}

static void test_reuse(void)
{
    vex_db *db = open_db("reuse", 256);
    vex_collection *c;
    vex_results *r = NULL;
    vex_meta *meta = NULL;
    count_alloc ca;
    vex_allocator al = {ca_alloc, ca_realloc, ca_free, &ca};
    vex_rng rng;
    static model m;
    long warm;
    float q[8];
    memset(&m, 0, sizeof m);
    m.dim = 8;
    m.vec = calloc(MAXN * m.dim, sizeof(float));
    atomic_init(&ca.allocs, 0);
    atomic_init(&ca.live, 0);
    vex_rng_seed(&rng, test_seed(12));
    if (db == NULL)
        return;
    c = make_coll(db, m.dim, VEX_METRIC_L2, VEX_INDEX_HNSW);
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    CHECK_RC(vex_results_create(&al, &r), VEX_OK);
    if (c == NULL || r == NULL)
        return;
    for (uint64_t id = 0; id < 1000; id++)
        put(c, &m, meta, &rng, id, (int64_t)id, 1);
    CHECK_RC(vex_flush(c), VEX_OK);
    for (uint64_t id = 1000; id < 1300; id++)
        put(c, &m, meta, &rng, id, (int64_t)id, 1);
    for (int i = 0; i < 20; i++) { /* warm-up */
        rand_vec(&rng, q, m.dim);
        CHECK_RC(vex_search_results(c, q, 10, NULL, VEX_WITH_ALL, r), VEX_OK);
        CHECK_RC(vex_range_search(c, q, 0.5f, 10, NULL, VEX_WITH_ALL, r),
                 VEX_OK);
    }
    warm = atomic_load(&ca.allocs);
    CHECK(warm > 0); /* the counter sees the handle's allocations */
    for (int i = 0; i < 300; i++) {
        rand_vec(&rng, q, m.dim);
        CHECK_RC(vex_search_results(c, q, 1 + i % 10, NULL, VEX_WITH_ALL, r),
                 VEX_OK);
        CHECK_EQ_INT(vex_results_count(r), 1 + i % 10);
        check_hit(&m, r, 0, VEX_WITH_ALL);
        CHECK_RC(vex_range_search(c, q, 0.5f, 10, NULL, VEX_WITH_ALL, r),
                 VEX_OK);
    }
    CHECK_EQ_INT(atomic_load(&ca.allocs), warm);
    /* a larger k grows the handle once */
    rand_vec(&rng, q, m.dim);
    CHECK_RC(vex_search_results(c, q, 50, NULL, VEX_WITH_ALL, r), VEX_OK);
    CHECK(atomic_load(&ca.allocs) > warm);
    vex_results_free(r);
    CHECK_EQ_INT(atomic_load(&ca.live), 0);
    vex_meta_free(meta);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    free(m.vec);
}

/* ---- bad input -------------------------------------------------------- */

static void test_bad_input(void)
{
    vex_db *db = open_db("bad", 256);
    vex_collection *c, *cip;
    vex_results *r = NULL;
    vex_search_params p;
    vex_meta *metas[4] = {NULL};
    float q[4] = {0.1f, 0.2f, 0.3f, 0.4f}, nanq[4] = {NAN, 0, 0, 0};
    const void *pp;
    size_t len;
    vex_field f;
    if (db == NULL)
        return;
    c = make_coll(db, 4, VEX_METRIC_L2, VEX_INDEX_FLAT);
    {
        vex_collection_config cfg;
        vex_collection_config_init(&cfg);
        cfg.dim = 4;
        cfg.metric = VEX_METRIC_IP;
        CHECK_RC(vex_collection_create(db, "ip", &cfg, &cip), VEX_OK);
    }
    CHECK_RC(vex_results_create(NULL, &r), VEX_OK);
    CHECK_RC(vex_results_create(NULL, NULL), VEX_MISUSE);
    if (c == NULL || r == NULL || cip == NULL)
        return;
    for (uint64_t id = 0; id < 10; id++) {
        float v[4] = {(float)id, 1, 0, 0};
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
        CHECK_RC(vex_insert(cip, id, v), VEX_OK);
    }
    /* a failed call leaves the handle empty */
    CHECK_RC(vex_search_results(c, q, 5, NULL, VEX_WITH_ALL, r), VEX_OK);
    CHECK_EQ_INT(vex_results_count(r), 5);
    CHECK_RC(vex_search_results(c, q, 5, NULL, 16u, r), VEX_INVALID);
    CHECK(msg_has(c, "unknown bits 0x10"));
    CHECK_EQ_INT(vex_results_count(r), 0);
    CHECK(vex_results_hits(r) == NULL);
    CHECK(vex_results_vector(r, 0) == NULL && vex_results_meta(r, 0) == NULL);
    CHECK_RC(vex_results_payload(r, 0, &pp, &len), VEX_MISUSE);
    CHECK_RC(vex_search_results(c, q, 5, NULL, 0, NULL), VEX_MISUSE);
    CHECK(msg_has(c, "results must not be NULL"));
    CHECK_RC(vex_search_results(c, NULL, 5, NULL, 0, r), VEX_MISUSE);
    CHECK_RC(vex_search_results(NULL, q, 5, NULL, 0, r), VEX_MISUSE);
    CHECK_RC(vex_search_results(c, q, 0, NULL, 0, r), VEX_INVALID);
    CHECK(msg_has(c, "k is 0"));
    CHECK_RC(vex_search_results(c, q, VEX_MAX_K + 1, NULL, 0, r), VEX_INVALID);
    CHECK_RC(vex_search_results(c, nanq, 5, NULL, 0, r), VEX_INVALID);
    CHECK(msg_has(c, "query"));
    vex_search_params_init(&p);
    CHECK_RC(vex_meta_create(NULL, &metas[0]), VEX_OK);
    p.meta_out = metas;
    CHECK_RC(vex_search_results(c, q, 1, &p, 0, r), VEX_INVALID);
    CHECK(msg_has(c, "VEX_WITH_META"));
    vex_meta_free(metas[0]);
    /* range: radius and limit */
    CHECK_RC(vex_range_search(c, q, NAN, 10, NULL, 0, r), VEX_INVALID);
    CHECK(msg_has(c, "radius is NaN"));
    CHECK_RC(vex_range_search(c, q, -1.0f, 10, NULL, 0, r), VEX_INVALID);
    CHECK(msg_has(c, "never negative"));
    CHECK_RC(vex_range_search(c, q, 1.0f, 0, NULL, 0, r), VEX_INVALID);
    CHECK(msg_has(c, "limit is 0"));
    CHECK_RC(vex_range_search(c, q, 1.0f, VEX_MAX_K + 1, NULL, 0, r),
             VEX_INVALID);
    CHECK(msg_has(c, "limit is 100001"));
    CHECK_RC(vex_range_search(c, q, 1.0f, 10, NULL, 16u, r), VEX_INVALID);
    CHECK_RC(vex_range_search(c, q, 1.0f, 10, NULL, 0, NULL), VEX_MISUSE);
    CHECK_RC(vex_range_search(c, q, INFINITY, 10, NULL, 0, r), VEX_OK);
    CHECK_EQ_INT(vex_results_count(r), 10);
    CHECK_EQ_INT(vex_results_truncated(r), 0);
    CHECK_RC(vex_range_search(c, q, INFINITY, 9, NULL, 0, r), VEX_OK);
    CHECK_EQ_INT(vex_results_count(r), 9);
    CHECK_EQ_INT(vex_results_truncated(r), 1);
    /* IP distances are negative: a negative radius is meaningful */
    CHECK_RC(vex_range_search(cip, q, -0.5f, 100, NULL, 0, r), VEX_OK);
    /* q . (id, 1, 0, 0) = 0.1 id + 0.2 >= 0.5 for id >= 3 */
    CHECK_EQ_INT(vex_results_count(r), 7);
    for (size_t i = 0; i < vex_results_count(r); i++)
        CHECK(vex_results_hits(r)[i].distance <= -0.5f);
    /* accessors */
    CHECK_RC(vex_search_results(c, q, 3, NULL, VEX_WITH_META, r), VEX_OK);
    CHECK_RC(vex_results_field(r, 0, NULL, &f), VEX_MISUSE);
    CHECK_RC(vex_results_field(r, 0, "x", NULL), VEX_MISUSE);
    CHECK_RC(vex_results_field(r, 3, "x", &f), VEX_NOTFOUND);
    CHECK_RC(vex_results_field(NULL, 0, "x", &f), VEX_MISUSE);
    CHECK_EQ_INT(vex_meta_count(vex_results_meta(r, 0)), 0);
    CHECK_RC(vex_search_results(c, q, 3, NULL, VEX_WITH_PAYLOAD, r), VEX_OK);
    CHECK_RC(vex_results_payload(r, 3, &pp, &len), VEX_NOTFOUND);
    CHECK_RC(vex_results_payload(r, 0, NULL, &len), VEX_MISUSE);
    CHECK_EQ_INT(vex_results_count(NULL), 0);
    CHECK(vex_results_hits(NULL) == NULL);
    vex_results_free(NULL);
    vex_results_free(r);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_collection_close(cip), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* ---- range search against brute force --------------------------------- */

typedef struct bf_hit {
    float d;
    uint64_t id;
} bf_hit;

static int bf_cmp(const void *a, const void *b)
{
    const bf_hit *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

typedef int (*accept_fn)(uint64_t id);

static int odd_ids(uint64_t id, void *ctx)
{
    (void)ctx;
    return (int)(id & 1);
}

static int accept_all(uint64_t id)
{
    (void)id;
    return 1;
}
static int accept_odd(uint64_t id)
{
    return (int)(id & 1);
}
static int accept_grp1(uint64_t id)
{
    return id % 3 == 1;
}
static int accept_not2(uint64_t id)
{
    return id % 3 != 2;
}
static int accept_rare(uint64_t id)
{
    return id % 3 == 1 && id < 90; /* grp = 1 AND gen < 90 with gen = id */
}

/* The accepted live records sorted by distance to q (returns the count). */
static size_t brute(const model *m, const float *q, accept_fn acc, bf_hit *out)
{
    size_t n = 0;
    for (uint64_t id = 0; id < MAXN; id++)
        if (m->live[id] && acc(id))
            out[n++] = (bf_hit){dist_l2(m->vec + id * m->dim, q, m->dim), id};
    qsort(out, n, sizeof *out, bf_cmp);
    return n;
}

/* A radius with `want` records inside, halfway between two distances. */
static float radius_for(const bf_hit *bf, size_t n, size_t want)
{
    if (want >= n)
        return bf[n - 1].d + 1.0f;
    return (bf[want - 1].d + bf[want].d) * 0.5f;
}

/* Exact: r holds the first min(limit, want) of bf, truncated when
 * want > limit. */
static void check_exact(const vex_results *r, const bf_hit *bf, size_t want,
                        size_t limit)
{
    size_t n = want < limit ? want : limit;
    CHECK_EQ_INT(vex_results_count(r), n);
    CHECK_EQ_INT(vex_results_truncated(r), want > limit);
    for (size_t i = 0; i < n && i < vex_results_count(r); i++)
        CHECK_MSG(vex_results_hits(r)[i].id == bf[i].id,
                  "hit %zu: %llu vs %llu", i,
                  (unsigned long long)vex_results_hits(r)[i].id,
                  (unsigned long long)bf[i].id);
}

static void exact_round(vex_collection *c, const model *m, vex_results *r,
                        vex_rng *rng, const vex_filter *grp1,
                        const vex_filter *rare)
{
    static bf_hit bf[MAXN];
    float q[16];
    vex_search_params p;
    struct {
        accept_fn acc;
        const vex_filter *where;
        vex_filter_fn fn;
    } cases[] = {{accept_all, NULL, NULL},
                 {accept_odd, NULL, odd_ids},
                 {accept_grp1, grp1, NULL},
                 {accept_rare, rare, NULL}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int t = 0; t < 5; t++) {
            size_t n, want;
            float rad;
            rand_vec(rng, q, m->dim);
            n = brute(m, q, cases[ci].acc, bf);
            if (n == 0)
                continue;
            want = 1 + (size_t)vex_rng_below(rng, n < 60 ? n : 60);
            rad = radius_for(bf, n, want);
            vex_search_params_init(&p);
            p.where = cases[ci].where;
            p.filter = cases[ci].fn;
            /* room for all, then a limit that truncates, then exactly */
            CHECK_RC(vex_range_search(c, q, rad, 100, &p, VEX_WITH_META, r),
                     VEX_OK);
            check_exact(r, bf, want, 100);
            for (size_t i = 0; i < vex_results_count(r); i++)
                check_hit(m, r, i, VEX_WITH_META);
            CHECK_RC(vex_range_search(c, q, rad, want, &p, 0, r), VEX_OK);
            check_exact(r, bf, want, want);
            if (want > 1) {
                CHECK_RC(vex_range_search(c, q, rad, want / 2, &p, 0, r),
                         VEX_OK);
                check_exact(r, bf, want, want / 2);
            }
        }
}

static void load(vex_collection *c, model *m, vex_rng *rng, uint64_t lo,
                 uint64_t hi)
{
    vex_meta *meta = NULL;
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    for (uint64_t id = lo; id < hi; id++)
        put(c, m, meta, rng, id, (int64_t)id, 1);
    vex_meta_free(meta);
}

static void churn(vex_collection *c, model *m, vex_rng *rng, uint64_t n)
{
    vex_meta *meta = NULL;
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    for (uint64_t id = 0; id < n; id += 9)
        put(c, m, meta, rng, id, (int64_t)id, 1);
    for (uint64_t id = 4; id < n; id += 10) {
        CHECK_RC(vex_delete(c, id), VEX_OK);
        m->live[id] = 0;
    }
    vex_meta_free(meta);
}

/* Flat collections (segments and memtables) and an HNSW collection's
 * memtable below memtable_exact_rows: exact. */
static void test_range_exact(void)
{
    static model m;
    vex_rng rng;
    vex_results *r = NULL;
    memset(&m, 0, sizeof m);
    m.dim = 8;
    m.vec = calloc(MAXN * m.dim, sizeof(float));
    vex_rng_seed(&rng, test_seed(13));
    CHECK_RC(vex_results_create(NULL, &r), VEX_OK);
    for (int phase = 0; phase < 2; phase++) {
        vex_db *db = open_db(phase ? "rexm" : "rexf", 100000);
        vex_collection *c;
        vex_filter *grp1 = NULL, *rare = NULL;
        if (db == NULL)
            break;
        memset(m.live, 0, sizeof m.live);
        c = make_coll(db, m.dim, VEX_METRIC_L2,
                      phase ? VEX_INDEX_HNSW : VEX_INDEX_FLAT);
        if (c == NULL)
            break;
        CHECK_RC(vex_filter_parse(c, "grp = 1", &grp1), VEX_OK);
        CHECK_RC(vex_filter_parse(c, "grp = 1 AND gen < 90", &rare), VEX_OK);
        if (phase == 0) { /* flat: two segments and a memtable */
            load(c, &m, &rng, 0, 1500);
            CHECK_RC(vex_flush(c), VEX_OK);
            load(c, &m, &rng, 1500, 3000);
            CHECK_RC(vex_flush(c), VEX_OK);
            load(c, &m, &rng, 3000, 4000);
            churn(c, &m, &rng, 4000);
        } else { /* an HNSW collection's exact memtable */
            load(c, &m, &rng, 0, 3000);
            churn(c, &m, &rng, 3000);
        }
        exact_round(c, &m, r, &rng, grp1, rare);
        vex_filter_free(grp1);
        vex_filter_free(rare);
        CHECK_RC(vex_collection_close(c), VEX_OK);
        CHECK_RC(vex_db_close(db), VEX_OK);
    }
    vex_results_free(r);
    free(m.vec);
}

/* HNSW segments: approximate; recall against brute force. */
static void test_range_hnsw_recall(void)
{
    static model m;
    static bf_hit bf[MAXN];
    vex_rng rng;
    vex_results *r = NULL;
    vex_db *db = open_db("rhnsw", 256);
    vex_collection *c;
    vex_filter *grp1 = NULL, *rare = NULL;
    memset(&m, 0, sizeof m);
    m.dim = 16;
    m.vec = calloc(MAXN * m.dim, sizeof(float));
    vex_rng_seed(&rng, test_seed(14));
    if (db == NULL)
        return;
    c = make_coll(db, m.dim, VEX_METRIC_L2, VEX_INDEX_HNSW);
    CHECK_RC(vex_results_create(NULL, &r), VEX_OK);
    if (c == NULL || r == NULL)
        return;
    CHECK_RC(vex_filter_parse(c, "grp != 2", &grp1), VEX_OK);
    CHECK_RC(vex_filter_parse(c, "grp = 1 AND gen < 90", &rare), VEX_OK);
    /* one segment large enough that "grp != 2" (two thirds of 14,400
     * live rows: below 90%, and m * m = 9.2e7 above the scan's cost
     * limit 32 * ef * n = 6.0e7 at the capacity 130) is planned as a
     * filtered graph walk, and "rare" exactly */
    load(c, &m, &rng, 0, MAXN);
    CHECK_RC(vex_flush(c), VEX_OK);
    churn(c, &m, &rng, MAXN);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_compact(c), VEX_OK);
    for (int ci = 0; ci < 3; ci++) {
        accept_fn acc = ci == 0   ? accept_all
                        : ci == 1 ? accept_not2
                                  : accept_rare;
        const vex_filter *where = ci == 0 ? NULL : ci == 1 ? grp1 : rare;
        size_t found = 0, total = 0, extra = 0, graph = 0, exact = 0, ran = 0;
        for (int t = 0; t < 40; t++) {
            float q[16];
            vex_search_params p;
            vex_search_stats st;
            size_t n, want;
            float rad;
            rand_vec(&rng, q, m.dim);
            n = brute(&m, q, acc, bf);
            want = n < 120 ? n : 120;
            if (want == 0)
                continue;
            ran++;
            rad = radius_for(bf, n, want);
            vex_search_params_init(&p);
            vex_search_stats_init(&st);
            p.where = where;
            p.stats = &st;
            CHECK_RC(vex_range_search(c, q, rad, 130, &p, 0, r), VEX_OK);
            graph += st.plan_graph;
            exact += st.plan_exact;
            CHECK_EQ_INT(vex_results_truncated(r), 0);
            for (size_t i = 0; i < vex_results_count(r); i++) {
                const vex_hit *h = vex_results_hits(r) + i;
                int in = 0;
                for (size_t j = 0; j < want; j++)
                    in |= bf[j].id == h->id;
                found += (size_t)in;
                extra += (size_t)!in; /* never: all are within */
                CHECK(h->distance <= rad);
                CHECK(i == 0 || h[-1].distance <= h->distance);
            }
            total += want;
        }
        fprintf(stderr, "  hnsw range recall (filter %d): %.3f\n", ci,
                (double)found / (double)total);
        CHECK_EQ_INT(extra, 0);
        CHECK_MSG(found >= total * 95 / 100, "recall %zu / %zu", found, total);
        if (ci == 1) {
            /* walks first; after VX_PLAN_FEEDBACK_MIN of them the
             * planner weighs what they cost against the scan (storage/
             * plan.h), which may then take over */
            CHECK_MSG(graph >= 16, "%zu graph plans", graph);
            CHECK_EQ_INT(graph + exact, ran);
        }
        if (ci == 2) { /* the exact plan */
            CHECK(graph == 0 && exact > 0);
            CHECK_EQ_INT(found, total);
        }
    }
    vex_filter_free(grp1);
    vex_filter_free(rare);
    vex_results_free(r);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    free(m.vec);
}

/* ---- out of memory ----------------------------------------------------- */

/* Every allocation of the handle fails in turn: create or search returns
 * VEX_NOMEM with a message and an empty handle, nothing leaks, and a
 * later search with memory succeeds. */
static void test_oom(void)
{
    static model m;
    vex_db *db = open_db("oom", 256);
    vex_collection *c;
    vex_rng rng;
    float q[8];
    int done = 0;
    memset(&m, 0, sizeof m);
    m.dim = 8;
    m.vec = calloc(MAXN * m.dim, sizeof(float));
    vex_rng_seed(&rng, test_seed(15));
    if (db == NULL)
        return;
    c = make_coll(db, m.dim, VEX_METRIC_L2, VEX_INDEX_FLAT);
    if (c == NULL)
        return;
    load(c, &m, &rng, 0, 300);
    CHECK_RC(vex_flush(c), VEX_OK);
    load(c, &m, &rng, 300, 400);
    rand_vec(&rng, q, m.dim);
    for (long budget = 0; !done && budget < 1000; budget++) {
        fail_alloc fa;
        vex_allocator al = {fa_alloc, fa_realloc, fa_free, &fa};
        vex_results *r = NULL;
        int rc;
        pthread_mutex_init(&fa.lock, NULL);
        fa.budget = budget;
        fa.live = 0;
        rc = vex_results_create(&al, &r);
        if (rc == VEX_OK) {
            rc = vex_search_results(c, q, 40, NULL, VEX_WITH_ALL, r);
            if (rc == VEX_OK) {
                rc = vex_range_search(c, q, 1e30f, 60, NULL, VEX_WITH_ALL, r);
                done = rc == VEX_OK;
            }
            if (rc != VEX_OK) {
                CHECK_EQ_INT(vex_results_count(r), 0);
                CHECK(msg_has(c, "out of memory"));
            } else {
                CHECK_EQ_INT(vex_results_count(r), 60);
                for (size_t i = 0; i < 60; i++)
                    check_hit(&m, r, i, VEX_WITH_ALL);
            }
        }
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM, "budget %ld: %d", budget,
                  rc);
        vex_results_free(r);
        CHECK_MSG(fa.live == 0, "budget %ld: %ld blocks leaked", budget,
                  fa.live);
        pthread_mutex_destroy(&fa.lock);
    }
    CHECK(done);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    free(m.vec);
}

int main(void)
{
    make_root();
    TEST_RUN(test_bad_input);
    TEST_RUN(test_projections);
    TEST_RUN(test_same_snapshot);
    TEST_RUN(test_reuse);
    TEST_RUN(test_oom);
    TEST_RUN(test_range_exact);
    TEST_RUN(test_range_hnsw_recall);
    rm_rf(tmp_root);
    return TEST_EXIT();
}
