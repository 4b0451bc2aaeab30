/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_db.c - databases and collections through the public API: create,
 * reopen, records, batches, flush, search over memtable + segments, and a
 * seeded model test (random operations, reopens and flushes checked
 * against an in-memory oracle with exact search).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/db.h"
/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "test_alloc.h"
#include "util/rng.h"
#include "vexdb.h"

static char tmp_root[256];

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_db_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static void db_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp_root, name);
    rm_rf(buf);
}

static vex_db *open_db(const char *path, int create)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    vex_db_options_init(&o);
    o.create_if_missing = create;
    o.n_threads = 2;
    rc = vex_db_open(path, &o, &db);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex_db_open(%s): %s: %s\n", path, vex_status_name(rc),
                vex_db_errmsg(db));
        vex_db_close(db);
        return NULL;
    }
    return db;
}

static void fill(vex_rng *r, float *v, size_t dim)
{
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(vex_rng_next(r) >> 40) / (float)(1 << 24) - 0.5f;
}

/* ------------------------------------------------------------------ */

static void test_open_errors(void)
{
    char p[300], f[320];
    vex_db *db = NULL, *db2 = NULL;
    vex_db_options o;
    FILE *fp;
    db_path(p, sizeof p, "errors");
    vex_db_options_init(&o);
    CHECK_RC(vex_db_open(p, &o, &db), VEX_NOTFOUND);
    CHECK(strstr(vex_db_errmsg(db), "create_if_missing") != NULL);
    vex_db_close(db);
    db = open_db(p, 1);
    CHECK(db != NULL);
    /* a second handle on the same directory */
    CHECK_RC(vex_db_open(p, &o, &db2), VEX_BUSY);
    vex_db_close(db2);
    vex_db_close(db);
    /* reopening without create works now */
    db = open_db(p, 0);
    CHECK(db != NULL);
    vex_db_close(db);
    /* a non-empty directory that is not a database */
    db_path(p, sizeof p, "notadb");
    mkdir(p, 0755);
    snprintf(f, sizeof f, "%s/precious.txt", p);
    fp = fopen(f, "w");
    fputs("hello", fp);
    fclose(fp);
    o.create_if_missing = 1;
    CHECK_RC(vex_db_open(p, &o, &db), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(db), "not empty") != NULL);
    vex_db_close(db);
    CHECK(access(f, F_OK) == 0);
    /* a damaged marker */
    db_path(p, sizeof p, "badmarker");
    db = open_db(p, 1);
    vex_db_close(db);
    snprintf(f, sizeof f, "%s/VEXDB", p);
    fp = fopen(f, "r+b");
    fseek(fp, 20, SEEK_SET);
    fputc(0x5a, fp);
    fclose(fp);
    CHECK_RC(vex_db_open(p, &o, &db), VEX_CORRUPT);
    CHECK(strstr(vex_db_errmsg(db), "offset") != NULL);
    vex_db_close(db);
    /* bad options */
    o.durability = (vex_durability)7;
    CHECK_RC(vex_db_open(p, &o, &db), VEX_INVALID);
    vex_db_close(db);
    vex_db_options_init(&o);
    o.memtable_bytes = 10;
    CHECK_RC(vex_db_open(p, &o, &db), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(db), "memtable_bytes") != NULL);
    vex_db_close(db);
}

static int collect(void *ctx, const char *name)
{
    char *buf = ctx;
    strcat(buf, name);
    strcat(buf, ";");
    return 0;
}

static void test_collections(void)
{
    char p[300], names[256] = "", f[400];
    vex_db *db;
    vex_collection *c = NULL, *c2 = NULL;
    vex_collection_config cfg, got;
    db_path(p, sizeof p, "colls");
    db = open_db(p, 1);
    vex_collection_config_init(&cfg);
    cfg.dim = 16;
    CHECK_RC(vex_collection_create(db, "bad/name", &cfg, &c), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(db), "character") != NULL);
    CHECK_RC(vex_collection_create(db, ".hidden", &cfg, &c), VEX_INVALID);
    CHECK_RC(vex_collection_create(db, "", &cfg, &c), VEX_INVALID);
    cfg.dim = 0;
    CHECK_RC(vex_collection_create(db, "zero", &cfg, &c), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(db), "dim") != NULL);
    cfg.dim = 16;
    cfg.metric = VEX_METRIC_HAMMING;
    CHECK_RC(vex_collection_create(db, "mismatch", &cfg, &c), VEX_INVALID);
    cfg.metric = VEX_METRIC_COSINE;
    cfg.hnsw_m = 12;
    CHECK_RC(vex_collection_create(db, "docs", &cfg, &c), VEX_OK);
    CHECK(c != NULL);
    CHECK_RC(vex_collection_create(db, "docs", &cfg, NULL), VEX_EXISTS);
    cfg.index_kind = VEX_INDEX_FLAT;
    cfg.hnsw_m = 0;
    CHECK_RC(vex_collection_create(db, "alpha", &cfg, NULL), VEX_OK);
    CHECK_RC(vex_collection_list(db, collect, names), VEX_OK);
    CHECK(strcmp(names, "alpha;docs;") == 0);
    /* opening an open collection shares the handle */
    CHECK_RC(vex_collection_open(db, "docs", &c2), VEX_OK);
    CHECK(c2 == c);
    CHECK_RC(vex_collection_drop(db, "docs"), VEX_BUSY);
    vex_collection_close(c2);
    CHECK_RC(vex_collection_drop(db, "docs"), VEX_BUSY);
    vex_collection_close(c);
    CHECK_RC(vex_collection_open(db, "nope", &c), VEX_NOTFOUND);
    vex_db_close(db);

    /* the configuration survives, resolved */
    db = open_db(p, 0);
    CHECK_RC(vex_collection_open(db, "docs", &c), VEX_OK);
    vex_collection_get_config(c, &got);
    CHECK_EQ_INT(got.dim, 16);
    CHECK_EQ_INT(got.metric, VEX_METRIC_COSINE);
    CHECK_EQ_INT(got.index_kind, VEX_INDEX_HNSW);
    CHECK_EQ_INT(got.hnsw_m, 12);
    CHECK(got.hnsw_ef_construction >= 100 && got.hnsw_ef_search == 64);
    vex_collection_close(c);
    CHECK_RC(vex_collection_drop(db, "docs"), VEX_OK);
    CHECK_RC(vex_collection_drop(db, "docs"), VEX_NOTFOUND);
    names[0] = '\0';
    CHECK_RC(vex_collection_list(db, collect, names), VEX_OK);
    CHECK(strcmp(names, "alpha;") == 0);
    vex_db_close(db);

    /* leftovers of an interrupted create and drop: not collections,
     * removed on open */
    snprintf(f, sizeof f, "%s/collections/x", p); /* empty */
    mkdir(f, 0755);
    snprintf(f, sizeof f, "%s/collections/y", p);
    mkdir(f, 0755);
    snprintf(f, sizeof f, "%s/collections/y/DROPPING", p);
    fclose(fopen(f, "w"));
    snprintf(f, sizeof f, "%s/collections/y/MANIFEST-0000000000000001", p);
    fclose(fopen(f, "w"));
    snprintf(f, sizeof f, "%s/collections/z", p);
    mkdir(f, 0755);
    snprintf(f, sizeof f, "%s/collections/z/CREATING", p);
    fclose(fopen(f, "w"));
    db = open_db(p, 0);
    for (const char *n = "xyz"; *n; n++) {
        snprintf(f, sizeof f, "%s/collections/%c", p, *n);
        CHECK_MSG(access(f, F_OK) != 0, "%s survived", f);
    }
    names[0] = '\0';
    CHECK_RC(vex_collection_list(db, collect, names), VEX_OK);
    CHECK(strcmp(names, "alpha;") == 0);
    vex_db_close(db);
}

static void test_records(void)
{
    char p[300];
    vex_db *db;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_batch *b = NULL;
    float v[8], out[8], bad[8];
    vex_hit hits[4];
    size_t nh;
    db_path(p, sizeof p, "records");
    db = open_db(p, 1);
    vex_collection_config_init(&cfg);
    cfg.dim = 8;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "r", &cfg, &c), VEX_OK);
    for (int i = 0; i < 8; i++)
        v[i] = (float)i;
    CHECK_RC(vex_insert(c, 7, v), VEX_OK);
    CHECK_RC(vex_insert(c, 7, v), VEX_EXISTS);
    CHECK(strstr(vex_collection_errmsg(c), "7") != NULL);
    CHECK_RC(vex_get(c, 7, out), VEX_OK);
    CHECK(memcmp(v, out, sizeof v) == 0);
    CHECK_RC(vex_get(c, 8, out), VEX_NOTFOUND);
    memcpy(bad, v, sizeof v);
    bad[3] = NAN;
    CHECK_RC(vex_insert(c, 9, bad), VEX_INVALID);
    CHECK(strstr(vex_collection_errmsg(c), "id 9") != NULL);
    CHECK_RC(vex_delete(c, 8), VEX_NOTFOUND);
    v[0] = 100;
    CHECK_RC(vex_upsert(c, 7, v), VEX_OK);
    CHECK_RC(vex_get(c, 7, out), VEX_OK);
    CHECK(out[0] == 100);
    CHECK_EQ_INT(vex_collection_count(c), 1);

    /* batches are atomic */
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    v[0] = 1;
    CHECK_RC(vex_batch_insert(b, 1, v), VEX_OK);
    CHECK_RC(vex_batch_insert(b, 2, v), VEX_OK);
    CHECK_RC(vex_batch_delete(b, 7), VEX_OK);
    CHECK_RC(vex_batch_insert(b, 7, v), VEX_OK); /* fine: deleted before */
    CHECK_RC(vex_batch_insert(b, 2, v), VEX_OK); /* fails: inserted above */
    CHECK_EQ_INT(vex_batch_count(b), 5);
    CHECK_RC(vex_batch_commit(c, b), VEX_EXISTS);
    CHECK(strstr(vex_collection_errmsg(c), "operation 4") != NULL);
    CHECK_EQ_INT(vex_collection_count(c), 1);
    CHECK_RC(vex_get(c, 1, out), VEX_NOTFOUND);
    CHECK_RC(vex_get(c, 7, out), VEX_OK);
    CHECK(out[0] == 100);
    vex_batch_clear(b);
    CHECK_RC(vex_batch_insert(b, 1, v), VEX_OK);
    CHECK_RC(vex_batch_insert(b, 2, v), VEX_OK);
    CHECK_RC(vex_batch_delete(b, 7), VEX_OK);
    CHECK_RC(vex_batch_upsert(b, 7, v), VEX_OK);
    CHECK_RC(vex_batch_delete(b, 2), VEX_OK);
    CHECK_RC(vex_batch_commit(c, b), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(c), 2);
    CHECK_RC(vex_get(c, 7, out), VEX_OK);
    CHECK(out[0] == 1);
    /* a batch of another vector size */
    vex_batch_free(b);
    CHECK_RC(vex_batch_create(12, NULL, &b), VEX_OK);
    CHECK_RC(vex_batch_delete(b, 1), VEX_OK);
    CHECK_RC(vex_batch_commit(c, b), VEX_INVALID);
    vex_batch_free(b);

    /* search: nearest first; with vectors */
    {
        float q[8] = {1, 1, 2, 3, 4, 5, 6, 7}, vecs[4 * 8];
        CHECK_RC(vex_search(c, q, 4, NULL, hits, vecs, &nh), VEX_OK);
        CHECK_EQ_INT(nh, 2);
        CHECK(hits[0].id == 1 || hits[0].id == 7);
        CHECK(hits[0].distance == 0.0f);
        CHECK(memcmp(vecs, v, sizeof v) == 0);
        CHECK_RC(vex_search(c, q, 0, NULL, hits, NULL, &nh), VEX_INVALID);
        q[2] = INFINITY;
        CHECK_RC(vex_search(c, q, 4, NULL, hits, NULL, &nh), VEX_INVALID);
    }
    vex_db_close(db);

    /* everything is back after reopen (log replay), then after a flush */
    for (int round = 0; round < 2; round++) {
        db = open_db(p, 0);
        CHECK_RC(vex_collection_open(db, "r", &c), VEX_OK);
        CHECK_EQ_INT(vex_collection_count(c), 2);
        CHECK_RC(vex_get(c, 7, out), VEX_OK);
        CHECK(out[0] == 1);
        CHECK_RC(vex_get(c, 2, out), VEX_NOTFOUND);
        if (round == 0)
            CHECK_RC(vex_flush(c), VEX_OK);
        vex_db_close(db);
    }
    /* deletes and upserts of rows in segments */
    db = open_db(p, 0);
    CHECK_RC(vex_collection_open(db, "r", &c), VEX_OK);
    CHECK_RC(vex_delete(c, 1), VEX_OK);
    v[0] = 55;
    CHECK_RC(vex_upsert(c, 7, v), VEX_OK);
    CHECK_RC(vex_insert(c, 1, v), VEX_OK);
    CHECK_RC(vex_delete(c, 1), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(c), 1);
    vex_db_close(db);
    db = open_db(p, 0);
    CHECK_RC(vex_collection_open(db, "r", &c), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(c), 1);
    CHECK_RC(vex_get(c, 1, out), VEX_NOTFOUND);
    CHECK_RC(vex_get(c, 7, out), VEX_OK);
    CHECK(out[0] == 55);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK); /* nothing to do */
    vex_db_close(db);
    db = open_db(p, 0);
    CHECK_RC(vex_collection_open(db, "r", &c), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(c), 1);
    CHECK_RC(vex_get(c, 1, out), VEX_NOTFOUND);
    CHECK_RC(vex_get(c, 7, out), VEX_OK);
    CHECK(out[0] == 55);
    vex_db_close(db);
}

/* ------------------------------------------------------------------
 * Model test: random operations against an oracle
 * ------------------------------------------------------------------ */

#define M_DIM 256 /* 1 KiB vectors: a 1 MiB memtable flushes at 1024 rows */
#define M_IDS 3000

typedef struct oracle {
    int live[M_IDS];
    float vec[M_IDS][M_DIM];
} oracle;

static float l2(const float *a, const float *b)
{
    float s = 0;
    for (int i = 0; i < M_DIM; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

static void check_against(vex_collection *c, const oracle *o, vex_rng *r,
                          int exact)
{
    float q[M_DIM], out[M_DIM];
    vex_hit hits[10];
    size_t nh, live = 0;
    vex_stats st;
    for (int i = 0; i < M_IDS; i++)
        live += o->live[i];
    CHECK_EQ_INT(vex_collection_count(c), live);
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK_EQ_INT(st.live_rows, live);
    CHECK(st.segment_rows >= st.deleted_rows);
    CHECK(st.memtables >= 1 && st.frozen_memtables == st.memtables - 1);
    for (int t = 0; t < 40; t++) {
        uint64_t id = vex_rng_next(r) % M_IDS;
        int rc = vex_get(c, id, out);
        CHECK_RC(rc, o->live[id] ? VEX_OK : VEX_NOTFOUND);
        if (rc == VEX_OK)
            CHECK(memcmp(out, o->vec[id], sizeof out) == 0);
    }
    for (int t = 0; t < 5; t++) {
        float best[10];
        int nb = 0;
        fill(r, q, M_DIM);
        /* exact top 10 distances from the oracle */
        for (int i = 0; i < M_IDS; i++) {
            float d;
            int j;
            if (!o->live[i])
                continue;
            d = l2(q, o->vec[i]);
            if (nb < 10)
                nb++;
            else if (d >= best[9])
                continue;
            for (j = nb - 1; j > 0 && best[j - 1] > d; j--)
                best[j] = best[j - 1];
            best[j] = d;
        }
        CHECK_RC(vex_search(c, q, 10, NULL, hits, NULL, &nh), VEX_OK);
        CHECK_EQ_INT(nh, nb);
        for (size_t i = 0; i < nh; i++) {
            CHECK(hits[i].id < M_IDS && o->live[hits[i].id]);
            if (exact)
                CHECK_MSG(fabsf(hits[i].distance - best[i]) <=
                              1e-4f * (1 + best[i]),
                          "hit %zu: %g vs %g", i, hits[i].distance, best[i]);
        }
    }
}

static void model_run(vex_index_kind kind, uint32_t exact_rows, int steps)
{
    char p[300];
    vex_db_options opt;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_batch *b = NULL;
    oracle *o = calloc(1, sizeof *o);
    vex_rng r;
    float v[M_DIM];
    vex_rng_seed(&r, test_seed(4242 + kind));
    db_path(p, sizeof p, kind == VEX_INDEX_FLAT ? "model_flat" : "model_hnsw");
    vex_db_options_init(&opt);
    opt.create_if_missing = 1;
    opt.memtable_bytes = 1 << 20;
    opt.memtable_exact_rows = exact_rows;
    opt.durability = VEX_DURABILITY_NONE; /* clean closes sync */
    opt.n_threads = 2;
    /* compactions come from the operation mix (vex_compact), so runs are
     * repeatable; background merging is in test_snapshots */
    opt.compact_min_merge = 0;
    opt.compact_deleted_pct = 0;
    CHECK_RC(vex_db_open(p, &opt, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = M_DIM;
    cfg.index_kind = kind;
    if (kind == VEX_INDEX_HNSW) {
        cfg.hnsw_ef_search = 400;      /* near-exact on this small set */
        cfg.hnsw_m = 8;                /* cheap graphs: they are rebuilt by */
        cfg.hnsw_ef_construction = 64; /* every flush and compaction */
    }
    CHECK_RC(vex_collection_create(db, "m", &cfg, &c), VEX_OK);
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    for (int step = 0; step < steps && c; step++) {
        unsigned op = (unsigned)(vex_rng_next(&r) % 100);
        uint64_t id = vex_rng_next(&r) % M_IDS;
        if (op < 45) {
            fill(&r, v, M_DIM);
            CHECK_RC(vex_insert(c, id, v), o->live[id] ? VEX_EXISTS : VEX_OK);
            if (!o->live[id]) {
                o->live[id] = 1;
                memcpy(o->vec[id], v, sizeof v);
            }
        } else if (op < 65) {
            fill(&r, v, M_DIM);
            CHECK_RC(vex_upsert(c, id, v), VEX_OK);
            o->live[id] = 1;
            memcpy(o->vec[id], v, sizeof v);
        } else if (op < 80) {
            CHECK_RC(vex_delete(c, id), o->live[id] ? VEX_OK : VEX_NOTFOUND);
            o->live[id] = 0;
        } else if (op < 95) {
            /* a batch of upserts and deletes of ids that exist */
            int n = 1 + (int)(vex_rng_next(&r) % 50);
            int live_tmp[M_IDS];
            memcpy(live_tmp, o->live, sizeof live_tmp);
            vex_batch_clear(b);
            for (int i = 0; i < n; i++) {
                uint64_t bid = vex_rng_next(&r) % M_IDS;
                if (live_tmp[bid] && (vex_rng_next(&r) & 1)) {
                    vex_batch_delete(b, bid);
                    live_tmp[bid] = 0;
                } else {
                    fill(&r, v, M_DIM);
                    vex_batch_upsert(b, bid, v);
                    live_tmp[bid] = 2 + i; /* remember which op */
                }
            }
            CHECK_RC(vex_batch_commit(c, b), VEX_OK);
            /* apply to the oracle by re-reading the batch's effect */
            for (int i = 0; i < M_IDS; i++) {
                if (live_tmp[i] >= 2) {
                    o->live[i] = 1;
                    CHECK_RC(vex_get(c, (uint64_t)i, o->vec[i]), VEX_OK);
                } else {
                    o->live[i] = live_tmp[i];
                }
            }
        } else if (op < 97) {
            CHECK_RC(vex_flush(c), VEX_OK);
        } else if (op < 98) {
            CHECK_RC(vex_compact(c), VEX_OK);
        } else {
            CHECK_RC(vex_db_close(db), VEX_OK);
            db = NULL;
            c = NULL;
            CHECK_RC(vex_db_open(p, &opt, &db), VEX_OK);
            CHECK_RC(vex_collection_open(db, "m", &c), VEX_OK);
            check_against(c, o, &r, kind == VEX_INDEX_FLAT);
        }
        if (step % 500 == 499 && c)
            check_against(c, o, &r, kind == VEX_INDEX_FLAT);
    }
    if (c)
        check_against(c, o, &r, kind == VEX_INDEX_FLAT);
    vex_batch_free(b);
    vex_db_close(db);
    free(o);
}

static void test_model_flat(void)
{
    model_run(VEX_INDEX_FLAT, 0, 4000);
}
static void test_model_hnsw(void)
{
    model_run(VEX_INDEX_HNSW, 300, 4000);
}

/* ------------------------------------------------------------------
 * Concurrent writers (group commit) and readers
 * ------------------------------------------------------------------ */

typedef struct thr {
    vex_collection *c;
    int t, n;
    int fails;
} thr;

static void *writer(void *arg)
{
    thr *a = arg;
    float v[16];
    vex_rng r;
    vex_rng_seed(&r, (uint64_t)a->t + 1);
    for (int i = 0; i < a->n; i++) {
        fill(&r, v, 16);
        if (vex_insert(a->c, (uint64_t)a->t * 1000000 + (uint64_t)i, v) !=
            VEX_OK)
            a->fails++;
        if (i % 10 == 9 && vex_delete(a->c, (uint64_t)a->t * 1000000 +
                                                (uint64_t)i - 5) != VEX_OK)
            a->fails++;
    }
    return NULL;
}

static void *reader(void *arg)
{
    thr *a = arg;
    float q[16];
    vex_hit hits[10];
    size_t nh;
    vex_rng r;
    vex_rng_seed(&r, 99);
    for (int i = 0; i < a->n; i++) {
        fill(&r, q, 16);
        if (vex_search(a->c, q, 10, NULL, hits, NULL, &nh) != VEX_OK)
            a->fails++;
    }
    return NULL;
}

/* Deleting half the rows and compacting gives the space back; a thousand
 * flush + compaction cycles leak neither file handles nor memory. */
static int count_fds(void)
{
    char path[64];
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}

static void test_space_and_cycles(void)
{
    char p[300];
    fail_alloc fa = {PTHREAD_MUTEX_INITIALIZER, -1, 0};
    vex_allocator al = {fa_alloc, fa_realloc, fa_free, &fa};
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_stats st;
    vex_rng r;
    float v[64];
    uint64_t before, after;
    long live_base = 0;
    int fds_base = 0;
    vex_rng_seed(&r, test_seed(515));
    db_path(p, sizeof p, "space");
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.durability = VEX_DURABILITY_NONE;
    o.compact_min_merge = 0; /* only the explicit compactions below */
    o.compact_deleted_pct = 0;
    o.allocator = &al;
    CHECK_RC(vex_db_open(p, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = 64;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "sp", &cfg, &c), VEX_OK);
    for (uint64_t id = 0; id < 8000; id++) {
        fill(&r, v, 64);
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
    }
    CHECK_RC(vex_flush(c), VEX_OK);
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    before = st.disk_bytes;
    CHECK(st.segments == 1 && st.segment_rows == 8000);
    for (uint64_t id = 0; id < 8000; id += 2)
        CHECK_RC(vex_delete(c, id), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK_EQ_INT(st.deleted_rows, 4000);
    CHECK_RC(vex_compact(c), VEX_OK);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    after = st.disk_bytes;
    CHECK_EQ_INT(st.deleted_rows, 0);
    CHECK_EQ_INT(st.live_rows, 4000);
    CHECK_EQ_INT(st.segments, 1);
    CHECK_MSG(after < before * 6 / 10,
              "disk bytes %llu before deleting half, %llu after compacting",
              (unsigned long long)before, (unsigned long long)after);
    fprintf(stderr, "space: %llu bytes -> %llu after deleting half\n",
            (unsigned long long)before, (unsigned long long)after);
    /* cycles: write, delete, flush, compact */
    for (int cycle = 0; cycle < 1000; cycle++) {
        uint64_t id = 100000 + (uint64_t)cycle;
        fill(&r, v, 64);
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
        CHECK_RC(vex_delete(c, (uint64_t)(cycle * 2 + 1) % 8000 | 1),
                 cycle < 4000 ? VEX_OK : VEX_NOTFOUND);
        CHECK_RC(vex_flush(c), VEX_OK);
        CHECK_RC(vex_compact(c), VEX_OK);
        if (cycle == 9) {
            pthread_mutex_lock(&fa.lock);
            live_base = fa.live;
            pthread_mutex_unlock(&fa.lock);
            fds_base = count_fds();
        }
    }
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK_EQ_INT(st.segments, 1);
    CHECK_EQ_INT(st.live_rows, 4000 - 1000 + 1000);
    CHECK_EQ_INT(count_fds(), fds_base);
    pthread_mutex_lock(&fa.lock);
    CHECK_MSG(fa.live <= live_base + 8,
              "%ld blocks live after 1000 cycles, %ld after 10", fa.live,
              live_base);
    pthread_mutex_unlock(&fa.lock);
    CHECK_RC(vex_db_close(db), VEX_OK);
    CHECK_EQ_INT(fa.live, 0);
}

/* A clean close leaves the index on disk: the next open has segments with
 * graphs and nothing to replay, and answers exactly as before the close;
 * flush_on_close = 0 leaves the rows in the log (replayed into a memtable,
 * searched exactly until indexed again). Either way nothing is lost. */
static void test_close_keeps_index(void)
{
    char p[300];
    const size_t dim = 16, n = 3000, nq = 20, k = 10;
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_search_params sp;
    vex_search_stats ss;
    vex_stats st;
    vex_rng r;
    float *qs = malloc(nq * dim * sizeof *qs), v[16];
    vex_hit before[20 * 10], after[20 * 10];
    size_t nb[20], na[20];

    vex_rng_seed(&r, test_seed(77));
    db_path(p, sizeof p, "closeidx");
    for (int fast = 0; fast < 2; fast++) {
        rm_rf(p);
        vex_db_options_init(&o);
        CHECK_EQ_INT(o.flush_on_close, 1); /* the default */
        o.flush_on_close = 2;
        CHECK_RC(vex_db_open(p, &o, &db), VEX_INVALID);
        CHECK(db && strstr(vex_db_errmsg(db), "flush_on_close") != NULL);
        vex_db_close(db);
        db = NULL;
        o.create_if_missing = 1;
        o.n_threads = 1;
        o.flush_on_close = fast ? 0 : 1;
        o.memtable_exact_rows = 0;
        CHECK_RC(vex_db_open(p, &o, &db), VEX_OK);
        vex_collection_config_init(&cfg);
        cfg.dim = (uint32_t)dim;
        cfg.hnsw_ef_search = 200;
        CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
        for (uint64_t id = 0; id < n; id++) {
            fill(&r, v, dim);
            CHECK_RC(vex_insert(c, id, v), VEX_OK);
        }
        for (uint64_t id = 0; id < n; id += 10)
            CHECK_RC(vex_delete(c, id), VEX_OK);
        for (size_t i = 0; i < nq * dim; i++)
            qs[i] = (float)(vex_rng_next(&r) >> 40) / (float)(1 << 24) - 0.5f;
        vex_stats_init(&st);
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
        CHECK_EQ_INT(st.segments, 0); /* all rows in the memtable */
        vex_search_params_init(&sp);
        sp.n_threads = 1;
        sp.ef_search = 400; /* wide enough that both runs are exact here */
        for (size_t q = 0; q < nq; q++)
            CHECK_RC(vex_search(c, qs + q * dim, k, &sp, before + q * k, NULL,
                                &nb[q]),
                     VEX_OK);
        CHECK_RC(vex_db_close(db), VEX_OK);

        db = NULL;
        CHECK_RC(vex_db_open(p, &o, &db), VEX_OK);
        CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
        CHECK_EQ_INT(st.live_rows, n - n / 10);
        if (!fast) {
            /* indexed segments, an empty log to replay */
            CHECK_EQ_INT(st.segments, 1);
            CHECK_EQ_INT(st.memtable_rows, 0);
            CHECK_EQ_INT(st.unindexed_rows, 0);
            CHECK_EQ_INT(st.flushed_seq, st.last_seq);
        } else {
            CHECK_EQ_INT(st.segments, 0);
            CHECK_EQ_INT(st.memtable_rows, n); /* replayed */
        }
        vex_search_stats_init(&ss);
        sp.stats = &ss;
        CHECK_RC(vex_search(c, qs, k, &sp, after, NULL, &na[0]), VEX_OK);
        CHECK_EQ_INT(ss.sources, 1); /* one segment, or one memtable */
        sp.stats = NULL;
        for (size_t q = 0; q < nq; q++) {
            CHECK_RC(vex_search(c, qs + q * dim, k, &sp, after + q * k, NULL,
                                &na[q]),
                     VEX_OK);
            CHECK_EQ_INT(na[q], nb[q]);
            for (size_t i = 0; i < na[q] && i < nb[q]; i++)
                CHECK(after[q * k + i].id == before[q * k + i].id);
        }
        /* a second close with nothing new writes no new segment */
        CHECK_RC(vex_collection_close(c), VEX_OK);
        CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
        CHECK_EQ_INT(st.segments, fast ? 0 : 1);
        CHECK_RC(vex_db_close(db), VEX_OK);
        db = NULL;
    }
    free(qs);
}

/* Fan-out over sources and batch search give what a single-threaded
 * search gives, bit for bit (flat: exact). */
static void test_fanout_and_batch(void)
{
    char p[300];
    vex_db *db;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_batch *b = NULL;
    vex_search_params one, all;
    vex_rng r;
    float v[8], qs[20 * 8];
    vex_hit h1[10], h2[10], hb[20 * 10];
    size_t n1, n2, nb[20];
    vex_rng_seed(&r, test_seed(616));
    db_path(p, sizeof p, "fanout");
    db = open_db(p, 1);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    vex_collection_config_init(&cfg);
    cfg.dim = 8;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "f", &cfg, &c), VEX_OK);
    /* two segments and a memtable, each past the fan-out threshold */
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    for (uint64_t id = 0; id < 66000; id++) {
        fill(&r, v, 8);
        vex_batch_insert(b, id, v);
        if (id % 7 == 3 && id > 100)
            vex_batch_delete(b, id - 100);
        if (id % 1000 == 999) {
            CHECK_RC(vex_batch_commit(c, b), VEX_OK);
            vex_batch_clear(b);
        }
        if (id == 21999 || id == 43999)
            CHECK_RC(vex_flush(c), VEX_OK);
    }
    vex_batch_free(b);
    vex_search_params_init(&one);
    one.n_threads = 1;
    vex_search_params_init(&all);
    for (int t = 0; t < 20; t++) {
        fill(&r, qs + t * 8, 8);
        CHECK_RC(vex_search(c, qs + t * 8, 10, &one, h1, NULL, &n1), VEX_OK);
        CHECK_RC(vex_search(c, qs + t * 8, 10, &all, h2, NULL, &n2), VEX_OK);
        CHECK_EQ_INT(n1, 10);
        CHECK_EQ_INT(n2, n1);
        for (size_t i = 0; i < n1; i++)
            CHECK(h1[i].id == h2[i].id && h1[i].distance == h2[i].distance);
    }
    CHECK_RC(vex_search_batch(c, qs, 20, 10, &all, hb, nb), VEX_OK);
    for (int t = 0; t < 20; t++) {
        CHECK_RC(vex_search(c, qs + t * 8, 10, &one, h1, NULL, &n1), VEX_OK);
        CHECK_EQ_INT(nb[t], n1);
        for (size_t i = 0; i < n1; i++)
            CHECK(h1[i].id == hb[t * 10 + i].id &&
                  h1[i].distance == hb[t * 10 + i].distance);
    }
    one.n_threads = VEX_MAX_THREADS + 1;
    CHECK_RC(vex_search(c, qs, 10, &one, h1, NULL, &n1), VEX_INVALID);
    qs[3] = NAN;
    CHECK_RC(vex_search_batch(c, qs, 20, 10, &all, hb, nb), VEX_INVALID);
    CHECK(strstr(vex_collection_errmsg(c), "query 0") != NULL);
    vex_db_close(db);
}

static void test_concurrent_writers(void)
{
    char p[300];
    vex_db_options opt;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    pthread_t th[6];
    thr a[6];
    int n = 300;
    db_path(p, sizeof p, "concurrent");
    vex_db_options_init(&opt);
    opt.create_if_missing = 1;
    opt.memtable_exact_rows = 500;
    opt.n_threads = 2;
    CHECK_RC(vex_db_open(p, &opt, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = 16;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    for (int t = 0; t < 6; t++) {
        a[t].c = c;
        a[t].t = t;
        a[t].n = t < 4 ? n : 200;
        a[t].fails = 0;
        pthread_create(&th[t], NULL, t < 4 ? writer : reader, &a[t]);
    }
    for (int t = 0; t < 6; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ_INT(a[t].fails, 0);
    }
    CHECK_EQ_INT(vex_collection_count(c), 4 * (n - n / 10));
    CHECK_RC(vex_flush(c), VEX_OK);
    vex_db_close(db);
    CHECK_RC(vex_db_open(p, &opt, &db), VEX_OK);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(c), 4 * (n - n / 10));
    vex_db_close(db);
}

int main(void)
{
    make_root();
    TEST_RUN(test_open_errors);
    TEST_RUN(test_collections);
    TEST_RUN(test_records);
    TEST_RUN(test_model_flat);
    TEST_RUN(test_model_hnsw);
    TEST_RUN(test_fanout_and_batch);
    TEST_RUN(test_space_and_cycles);
    TEST_RUN(test_close_keeps_index);
    TEST_RUN(test_concurrent_writers);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
