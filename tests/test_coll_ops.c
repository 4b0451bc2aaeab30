/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_coll_ops.c - get-or-create, delete and count by filter, and
 * filters that cannot match, through the public API.
 *
 * vex_collection_open_or_create: creates, then opens with a matching
 * configuration (adaptive values match what was resolved), refuses every
 * kind of difference with a message naming it, and under eight racing
 * threads exactly one creates. vex_delete_where / vex_count_where: rows
 * in memtables and segments are counted and deleted against a model,
 * across a reopen; bad input (NULL, empty text, syntax errors) deletes
 * nothing; a delete that matches nothing logs nothing; writers racing
 * with a delete by filter leave a state some serial order explains.
 * Filter checks: schema type errors name the field and the types;
 * without a schema, search stats name fields never seen.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/coll_int.h"
#include "test.h"
#include "test_alloc.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM 8

static char tmp_root[256];

static vex_db *open_db(const char *name)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static void cfg_flat(vex_collection_config *cfg)
{
    vex_collection_config_init(cfg);
    cfg->dim = DIM;
    cfg->index_kind = VEX_INDEX_FLAT;
}

static void vec_of(uint64_t id, float *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] = (float)((id * 31 + (uint64_t)d * 7) % 97) / 97.0f + 0.01f;
}

/* Record id has g = id % 10 and, for even ids, s = "e". */
static int put(vex_collection *c, vex_meta *m, uint64_t id, int64_t g)
{
    float v[DIM];
    vec_of(id, v);
    vex_meta_clear(m);
    vex_meta_set_int(m, "g", g);
    if (id % 2 == 0)
        vex_meta_set_string(m, "s", "e", 1);
    return vex_upsert_meta(c, id, v, m);
}

/* ---- get-or-create -------------------------------------------------- */

static void test_open_or_create(void)
{
    vex_db *db = open_db("ooc");
    vex_collection_config cfg, want;
    vex_collection *c = NULL, *c2 = NULL;
    vex_schema_field fields[2] = {{"year", VEX_TYPE_INT, 0},
                                  {"lang", VEX_TYPE_STRING, 1}};
    int created = -1;
    const char *msg;

    vex_collection_config_init(&cfg);
    cfg.dim = 16;
    cfg.metric = VEX_METRIC_COSINE;
    cfg.schema_fields = fields;
    cfg.n_schema_fields = 2;
    CHECK_RC(vex_collection_open_or_create(db, "docs", &cfg, &c, &created),
             VEX_OK);
    CHECK(c != NULL);
    CHECK_EQ_INT(created, 1);
    /* the same request opens it (adaptive HNSW values were resolved) */
    CHECK_RC(vex_collection_open_or_create(db, "docs", &cfg, &c2, &created),
             VEX_OK);
    CHECK_EQ_INT(created, 0);
    CHECK(c2 == c);
    vex_collection_close(c2);
    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* after a reopen of the database too; fields in another order */
    db = open_db("ooc");
    {
        vex_schema_field rev[2] = {fields[1], fields[0]};
        want = cfg;
        want.schema_fields = rev;
        CHECK_RC(vex_collection_open_or_create(db, "docs", &want, &c, &created),
                 VEX_OK);
        CHECK_EQ_INT(created, 0);
        vex_collection_close(c);
    }
    /* no schema asked for: any schema is accepted */
    want = cfg;
    want.schema_fields = NULL;
    want.n_schema_fields = 0;
    CHECK_RC(vex_collection_open_or_create(db, "docs", &want, &c, NULL),
             VEX_OK);
    vex_collection_close(c);

    /* each difference is refused and named; nothing stays open */
    struct {
        int what;
        const char *frag;
    } cases[] = {
        {0, "exists with dim 16, asked for 768"},
        {1, "metric cosine, asked for l2"},
        {2, "element type f32, asked for bit"},
        {3, "index kind hnsw, asked for flat"},
        {4, "hnsw_m"},
        {5, "quantizer none, asked for sq8"},
        {6, "schema field \"year\" of type int64 (required), asked for "
            "double"},
        {7, "no schema field \"title\""},
        {8, "an open schema, asked for a closed one"},
        {9, "schema field \"lang\", which was not asked for"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vex_schema_field f2[2] = {fields[0], fields[1]};
        want = cfg;
        want.schema_fields = f2;
        switch (cases[i].what) {
        case 0:
            want.dim = 768;
            break;
        case 1:
            want.metric = VEX_METRIC_L2;
            break;
        case 2:
            want.elem = VEX_ELEM_BIT;
            want.metric = VEX_METRIC_HAMMING;
            break;
        case 3:
            want.index_kind = VEX_INDEX_FLAT;
            break;
        case 4: {
            vex_collection_config have;
            CHECK_RC(vex_collection_open(db, "docs", &c), VEX_OK);
            vex_collection_get_config(c, &have);
            vex_collection_close(c);
            want.hnsw_m = have.hnsw_m + 2;
            break;
        }
        case 5:
            want.quant = VEX_QUANT_SQ8;
            break;
        case 6:
            f2[0].type = VEX_TYPE_DOUBLE;
            break;
        case 7:
            f2[1].name = "title";
            break;
        case 8:
            want.schema_closed = 1;
            break;
        case 9:
            want.n_schema_fields = 1;
            break;
        }
        c = (vex_collection *)&c; /* must be reset */
        CHECK_RC(vex_collection_open_or_create(db, "docs", &want, &c, NULL),
                 VEX_INVALID);
        CHECK(c == NULL);
        msg = vex_db_errmsg(db);
        CHECK_MSG(strstr(msg, cases[i].frag) != NULL, "case %zu: %s", i, msg);
    }
    /* the collection is not left open by a refused call: drop works */
    /* a bad request is refused even when the collection exists */
    want = cfg;
    want.dim = 0;
    CHECK_RC(vex_collection_open_or_create(db, "docs", &want, &c, NULL),
             VEX_INVALID);
    CHECK_RC(vex_collection_open_or_create(db, "docs", NULL, &c, NULL),
             VEX_MISUSE);
    CHECK_RC(vex_collection_open_or_create(db, "docs", &cfg, NULL, NULL),
             VEX_MISUSE);
    CHECK_RC(vex_collection_open_or_create(db, "bad/name", &cfg, &c, NULL),
             VEX_INVALID);
    CHECK_RC(vex_collection_drop(db, "docs"), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

typedef struct race_arg {
    vex_db *db;
    pthread_barrier_t *bar;
    int created, rc;
    vex_collection *c;
} race_arg;

static void *race_main(void *p)
{
    race_arg *a = p;
    vex_collection_config cfg;
    cfg_flat(&cfg);
    pthread_barrier_wait(a->bar);
    a->rc =
        vex_collection_open_or_create(a->db, "raced", &cfg, &a->c, &a->created);
    return NULL;
}

static void test_open_or_create_race(void)
{
    enum { T = 8 };
    vex_db *db = open_db("race");
    for (int round = 0; round < 5; round++) {
        pthread_t th[T];
        race_arg a[T];
        pthread_barrier_t bar;
        int n_created = 0;
        pthread_barrier_init(&bar, NULL, T);
        for (int i = 0; i < T; i++) {
            memset(&a[i], 0, sizeof a[i]);
            a[i].db = db;
            a[i].bar = &bar;
            pthread_create(&th[i], NULL, race_main, &a[i]);
        }
        for (int i = 0; i < T; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        for (int i = 0; i < T; i++) {
            CHECK_RC(a[i].rc, VEX_OK);
            CHECK(a[i].c == a[0].c);
            n_created += a[i].created;
        }
        CHECK_EQ_INT(n_created, 1);
        for (int i = 0; i < T; i++)
            vex_collection_close(a[i].c);
        CHECK_RC(vex_collection_drop(db, "raced"), VEX_OK);
    }
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* ---- delete and count by filter ------------------------------------- */

static uint64_t count_of(vex_collection *c, const char *text)
{
    vex_filter *f = NULL;
    uint64_t n = UINT64_MAX;
    if (text == NULL) {
        CHECK_RC(vex_count_where(c, NULL, &n), VEX_OK);
        return n;
    }
    CHECK_RC(vex_filter_parse(c, text, &f), VEX_OK);
    CHECK_RC(vex_count_where(c, f, &n), VEX_OK);
    vex_filter_free(f);
    return n;
}

static void test_delete_where(void)
{
    enum { N = 3000 };
    static int live[N];
    vex_db *db = open_db("delwhere");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_meta *m = NULL;
    vex_stats st;
    uint64_t n = 0, seq0;
    vex_filter *f = NULL;
    size_t want;

    cfg_flat(&cfg);
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    /* two thirds in segments, the rest in the memtable */
    for (uint64_t id = 0; id < N; id++) {
        CHECK_RC(put(c, m, id, (int64_t)(id % 10)), VEX_OK);
        live[id] = 1;
        if (id == N / 3 || id == 2 * N / 3)
            CHECK_RC(vex_flush(c), VEX_OK);
    }
    /* an upsert moves a segment row's record to the memtable: g = 77 */
    CHECK_RC(put(c, m, 5, 77), VEX_OK);
    CHECK_RC(put(c, m, 2500, 77), VEX_OK);

    CHECK(count_of(c, NULL) == N);
    CHECK(count_of(c, "g = 3") == N / 10);
    CHECK(count_of(c, "g = 77") == 2);
    CHECK(count_of(c, "g < 2 AND s = 'e'") == N / 10 - 1); /* not 2500 */
    CHECK(count_of(c, "nothing = 1") == 0);

    /* a filter of another database's collection is refused */
    {
        vex_db *db2 = open_db("delwhere-other");
        vex_collection *c2 = NULL;
        CHECK_RC(vex_collection_create(db2, "c", &cfg, &c2), VEX_OK);
        CHECK_RC(vex_filter_parse(c2, "g = 3", &f), VEX_OK);
        CHECK_RC(vex_delete_where(c, f, &n), VEX_MISUSE);
        CHECK(strstr(vex_collection_errmsg(c), "another database") != NULL);
        vex_filter_free(f);
        vex_collection_close(c2);
        CHECK_RC(vex_db_close(db2), VEX_OK);
    }
    /* bad input deletes nothing */
    CHECK_RC(vex_delete_where(c, NULL, &n), VEX_MISUSE);
    CHECK_RC(vex_delete_where_text(c, NULL, &n), VEX_MISUSE);
    CHECK_RC(vex_delete_where_text(c, "", &n), VEX_INVALID);
    CHECK_RC(vex_delete_where_text(c, "g = ", &n), VEX_INVALID);
    CHECK(strstr(vex_collection_errmsg(c), "offset") != NULL);
    CHECK_RC(vex_delete_where_text(c, "g = 1 OR", &n), VEX_INVALID);
    CHECK_RC(vex_count_where(c, NULL, NULL), VEX_MISUSE);
    CHECK(count_of(c, NULL) == N);

    /* nothing matches: VEX_OK, 0, nothing logged */
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    seq0 = st.last_seq;
    n = 99;
    CHECK_RC(vex_delete_where_text(c, "g = 1000", &n), VEX_OK);
    CHECK(n == 0);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK(st.last_seq == seq0);

    /* one commit deletes every match, memtable and segments alike */
    CHECK_RC(vex_delete_where_text(c, "g = 3 OR g = 77", &n), VEX_OK);
    CHECK(n == N / 10 + 2);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK(st.last_seq == seq0 + 1);
    want = 0;
    for (uint64_t id = 0; id < N; id++) {
        int64_t g = (int64_t)(id % 10);
        if (id == 5 || id == 2500 || g == 3)
            live[id] = 0;
        want += (size_t)live[id];
    }
    CHECK(vex_collection_count(c) == want);
    CHECK(count_of(c, NULL) == want);
    CHECK(count_of(c, "g = 3") == 0);
    {
        float v[DIM];
        CHECK_RC(vex_get(c, 13, v), VEX_NOTFOUND);
        CHECK_RC(vex_get(c, 5, v), VEX_NOTFOUND);
        CHECK_RC(vex_get(c, 14, v), VEX_OK);
    }
    /* a built filter, on a compiled handle reused twice */
    {
        vex_filter_builder *b = NULL;
        vex_value lo = {VEX_TYPE_INT, 0, 8, 0, NULL, 0};
        vex_value hi = {VEX_TYPE_INT, 0, 9, 0, NULL, 0};
        CHECK_RC(vex_filter_builder_create(NULL, &b), VEX_OK);
        CHECK_RC(vex_filter_build(c, b, vex_expr_between(b, "g", lo, hi), &f),
                 VEX_OK);
        vex_filter_builder_free(b);
        CHECK_RC(vex_delete_where(c, f, &n), VEX_OK);
        CHECK(n == 2 * N / 10);
        CHECK_RC(vex_delete_where(c, f, &n), VEX_OK);
        CHECK(n == 0);
        vex_filter_free(f);
        for (uint64_t id = 0; id < N; id++)
            if (id % 10 >= 8 && live[id]) {
                live[id] = 0;
                want--;
            }
    }
    CHECK(vex_collection_count(c) == want);
    /* more matches than one commit may hold: VEX_FULL, nothing deleted
     * (the limit, 4,194,303 at 64 MiB per log record, lowered to 100) */
    c->lead.where_max = 100;
    CHECK_RC(vex_delete_where_text(c, "g = 4", &n), VEX_FULL);
    CHECK(n == 0);
    CHECK(strstr(vex_collection_errmsg(c), "more than 100 records match") !=
          NULL);
    CHECK(strstr(vex_collection_errmsg(c), "nothing was deleted") != NULL);
    CHECK(count_of(c, "g = 4") == N / 10);
    CHECK(vex_collection_count(c) == want);
    CHECK_RC(vex_delete_where_text(c, "g = 4 AND k = 1", &n), VEX_OK);
    CHECK(n == 0);
    c->lead.where_max = 0;
    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* durable: the same after a reopen (replayed from the log) */
    db = open_db("delwhere");
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    CHECK(vex_collection_count(c) == want);
    CHECK(count_of(c, NULL) == want);
    CHECK(count_of(c, "g = 3 OR g >= 8") == 0);
    CHECK(count_of(c, "g = 4") == N / 10);
    for (uint64_t id = 0; id < N; id += 7) {
        float v[DIM];
        CHECK_RC(vex_get(c, id, v), live[id] ? VEX_OK : VEX_NOTFOUND);
    }
    vex_meta_free(m);
    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* Writers move records between groups g=0 and g=1 while another thread
 * deletes g = 1 by filter repeatedly. Every record a writer last wrote
 * with g = 1 before a delete acknowledged after it must be gone, and the
 * final state must equal the model in which each delete removed exactly
 * the g = 1 records of its moment: checked as "no live record has g = 1
 * after a final delete" and "every record written with g = 0 after the
 * last delete is live". */
typedef struct mover {
    vex_collection *c;
    uint64_t base;
    atomic_int *stop;
    int rc;
} mover;

static void *mover_main(void *p)
{
    mover *mv = p;
    vex_meta *m = NULL;
    vex_rng r;
    vex_rng_seed(&r, mv->base);
    if (vex_meta_create(NULL, &m) != VEX_OK)
        return NULL;
    while (!atomic_load(mv->stop)) {
        uint64_t id = mv->base + vex_rng_below(&r, 200);
        int rc = put(mv->c, m, id, (int64_t)vex_rng_below(&r, 2));
        if (rc != VEX_OK) {
            mv->rc = rc;
            break;
        }
    }
    vex_meta_free(m);
    return NULL;
}

static void test_delete_where_race(void)
{
    vex_db *db = open_db("delrace");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_filter *f = NULL;
    atomic_int stop = 0;
    mover mv[3];
    pthread_t th[3];
    uint64_t total = 0, n;
    vex_meta *m = NULL;

    cfg_flat(&cfg);
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_filter_parse(c, "g = 1", &f), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (uint64_t id = 0; id < 100; id++)
        CHECK_RC(put(c, m, 10000 + id, 1), VEX_OK);
    for (int i = 0; i < 3; i++) {
        mv[i].c = c;
        mv[i].base = (uint64_t)i * 1000;
        mv[i].stop = &stop;
        mv[i].rc = VEX_OK;
        pthread_create(&th[i], NULL, mover_main, &mv[i]);
    }
    for (int i = 0; i < 200; i++) {
        CHECK_RC(vex_delete_where(c, f, &n), VEX_OK);
        total += n;
        if (i == 100)
            CHECK_RC(vex_flush(c), VEX_OK);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_RC(mv[i].rc, VEX_OK);
    }
    CHECK(total >= 100);
    /* a final delete leaves no match, and the count agrees */
    CHECK_RC(vex_delete_where(c, f, &n), VEX_OK);
    CHECK(count_of(c, "g = 1") == 0);
    CHECK(count_of(c, NULL) == vex_collection_count(c));
    CHECK(count_of(c, "g = 0") == vex_collection_count(c));
    /* writes after it are all live */
    CHECK_RC(put(c, m, 5000, 1), VEX_OK);
    CHECK(count_of(c, "g = 1") == 1);
    vex_meta_free(m);
    vex_filter_free(f);
    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* Out of memory at every allocation of a delete by filter: VEX_NOMEM
 * (or success), nothing leaked, reads of the handle see all or none of
 * the deletes, and a reopen shows all or none of them. OOM_ONLY=N runs
 * only budget N (to find a leak with ASan's report). */
static void test_delete_where_oom(void)
{
    int done = 0;
    long first = getenv("OOM_ONLY") ? atol(getenv("OOM_ONLY")) : 0;
    for (long budget = first; !done && budget < 400; budget++) {
        fail_alloc fa = {PTHREAD_MUTEX_INITIALIZER, -1, 0};
        vex_allocator al = {fa_alloc, fa_realloc, fa_free, &fa};
        char path[512], cmd[600];
        vex_db_options o;
        vex_db *db = NULL;
        vex_collection_config cfg;
        vex_collection *c = NULL;
        vex_meta *m = NULL;
        vex_batch *b = NULL;
        uint64_t n = 0, left;
        int rc, sticky;
        snprintf(path, sizeof path, "%s/oom", tmp_root);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
        CHECK(system(cmd) == 0);
        vex_db_options_init(&o);
        o.create_if_missing = 1;
        o.n_threads = 1;
        o.background_threads = 1;
        o.compact_min_merge = 0;
        o.compact_deleted_pct = 0;
        o.allocator = &al;
        CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
        cfg_flat(&cfg);
        CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
        CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
        CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
        for (uint64_t id = 0; id < 100; id++) {
            float v[DIM];
            vec_of(id, v);
            vex_meta_clear(m);
            vex_meta_set_int(m, "g", (int64_t)(id % 10));
            CHECK_RC(vex_batch_insert_meta(b, id, v, m), VEX_OK);
            if (id == 59 || id == 99) { /* 60 rows in a segment */
                CHECK_RC(vex_batch_commit(c, b), VEX_OK);
                vex_batch_clear(b);
            }
            if (id == 59)
                CHECK_RC(vex_flush(c), VEX_OK);
        }
        vex_batch_free(b);
        vex_meta_free(m);
        pthread_mutex_lock(&fa.lock);
        fa.budget = budget;
        pthread_mutex_unlock(&fa.lock);
        rc = vex_delete_where_text(c, "g < 5", &n);
        pthread_mutex_lock(&fa.lock);
        done = fa.budget != 0; /* the call met no failure */
        fa.budget = -1;
        pthread_mutex_unlock(&fa.lock);
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM, "budget %ld: %s", budget,
                  vex_status_name(rc));
        CHECK(rc != VEX_OK || n == 50);
        /* the handle's readers: all or none */
        left = count_of(c, NULL);
        CHECK_MSG(left == (rc == VEX_OK ? 50u : 100u),
                  "budget %ld: %s, %llu records visible", budget,
                  vex_status_name(rc), (unsigned long long)left);
        sticky = vex_delete(c, 99) == VEX_NOMEM;
        vex_collection_close(c);
        CHECK_RC(vex_db_close(db), VEX_OK);
        CHECK_MSG(fa.live == 0, "budget %ld: %ld blocks leaked", budget,
                  fa.live);
        /* reopened: all or none (a failure after the log write made the
         * handle sticky; replay then applies the whole record) */
        o.allocator = NULL;
        CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
        CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
        left = count_of(c, NULL);
        if (sticky) /* the delete of 99 was refused */
            CHECK_MSG(left == 50 || left == 100,
                      "budget %ld: %llu after reopen", budget,
                      (unsigned long long)left);
        else /* ... or applied */
            CHECK_MSG(left == (rc == VEX_OK ? 49u : 99u),
                      "budget %ld: %s, %llu after reopen", budget,
                      vex_status_name(rc), (unsigned long long)left);
        CHECK(count_of(c, "g < 5") == (left >= 99 ? 50u : 0u));
        vex_collection_close(c);
        CHECK_RC(vex_db_close(db), VEX_OK);
        if (first > 0)
            break;
    }
    CHECK(done || first > 0);
}

/* ---- filters that cannot match --------------------------------------- */

static void expect_invalid(vex_collection *c, const char *text,
                           const char *frag1, const char *frag2)
{
    vex_filter *f = (vex_filter *)&f;
    const char *msg;
    CHECK_RC(vex_filter_parse(c, text, &f), VEX_INVALID);
    CHECK(f == NULL);
    msg = vex_collection_errmsg(c);
    CHECK_MSG(strstr(msg, frag1) && strstr(msg, frag2), "%s: %s", text, msg);
    /* and a delete by that text deletes nothing */
    CHECK_RC(vex_delete_where_text(c, text, NULL), VEX_INVALID);
}

static void test_filter_schema_errors(void)
{
    vex_db *db = open_db("schema");
    vex_collection_config cfg;
    vex_collection *c = NULL, *cc = NULL;
    vex_schema_field fields[4] = {{"year", VEX_TYPE_INT, 0},
                                  {"lang", VEX_TYPE_STRING, 1},
                                  {"tags", VEX_TYPE_TAGS, 1},
                                  {"score", VEX_TYPE_DOUBLE, 1}};
    vex_meta *m = NULL;
    vex_filter *f = NULL;
    vex_filter_builder *b = NULL;
    float v[DIM];
    uint64_t n;

    cfg_flat(&cfg);
    cfg.schema_fields = fields;
    cfg.n_schema_fields = 4;
    CHECK_RC(vex_collection_create(db, "open", &cfg, &c), VEX_OK);
    cfg.schema_closed = 1;
    CHECK_RC(vex_collection_create(db, "closed", &cfg, &cc), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    vex_meta_set_int(m, "year", 2020);
    vex_meta_set_string(m, "lang", "en", 2);
    vec_of(1, v);
    CHECK_RC(vex_insert_meta(c, 1, v, m), VEX_OK);
    CHECK_RC(vex_insert_meta(cc, 1, v, m), VEX_OK);

    /* wrong literal types, for every condition that takes a literal */
    expect_invalid(c, "year = 'x'", "field \"year\" is int64", "string");
    expect_invalid(c, "year IN ('a', 'b')", "field \"year\" is int64",
                   "string");
    expect_invalid(c, "year NOT IN ('a')", "field \"year\" is int64", "string");
    expect_invalid(c, "year BETWEEN 'a' AND 'b'", "field \"year\" is int64",
                   "string");
    expect_invalid(c, "year = true", "field \"year\" is int64", "bool");
    expect_invalid(c, "lang > 3", "field \"lang\" is string", "number");
    expect_invalid(c, "score IN (true)", "field \"score\" is double", "bool");
    expect_invalid(c, "lang CONTAINS 'x'", "field \"lang\" is string",
                   "tags field");
    expect_invalid(c, "year CONTAINS ANY ('x')", "field \"year\" is int64",
                   "tags field");
    expect_invalid(c, "tags = 'x'", "field \"tags\" is tags", "CONTAINS");
    expect_invalid(c, "NOT (year >= 1 AND lang = 1)", "field \"lang\"",
                   "number");
    /* a closed schema refuses undeclared fields */
    expect_invalid(cc, "yeer = 2020", "field \"yeer\"", "not in the schema");
    expect_invalid(cc, "yeer IS NULL", "field \"yeer\"", "not in the schema");
    /* the builder is checked the same way */
    {
        vex_value s = {VEX_TYPE_STRING, 0, 0, 0, "x", 1};
        CHECK_RC(vex_filter_builder_create(NULL, &b), VEX_OK);
        CHECK_RC(
            vex_filter_build(c, b, vex_expr_cmp(b, "year", VEX_CMP_EQ, s), &f),
            VEX_INVALID);
        CHECK(strstr(vex_collection_errmsg(c), "field \"year\" is int64"));
        CHECK_RC(vex_filter_build(c, b, vex_expr_in(b, "year", &s, 1, 1), &f),
                 VEX_INVALID);
        CHECK_RC(vex_filter_build(cc, b, vex_expr_is_null(b, "nope", 0), &f),
                 VEX_INVALID);
        CHECK(strstr(vex_collection_errmsg(cc), "not in the schema"));
        vex_filter_builder_free(b);
    }
    /* legal: IS NULL on a required field (never true), an undeclared
     * field of an open schema (untyped) */
    CHECK_RC(vex_filter_parse(c, "year IS NULL", &f), VEX_OK);
    CHECK_RC(vex_count_where(c, f, &n), VEX_OK);
    CHECK(n == 0);
    vex_filter_free(f);
    CHECK_RC(vex_filter_parse(c, "extra = 'x' OR extra = 1", &f), VEX_OK);
    vex_filter_free(f);
    CHECK(vex_collection_count(c) == 1);
    vex_meta_free(m);
    vex_collection_close(c);
    vex_collection_close(cc);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

static uint32_t unknown_of(vex_collection *c, const char *text, char *first)
{
    vex_search_params p;
    vex_search_stats st;
    vex_filter *f = NULL;
    vex_hit hits[4];
    size_t n_hits;
    float q[DIM];
    vec_of(3, q);
    vex_search_params_init(&p);
    vex_search_stats_init(&st);
    st.unknown_fields = 99;
    CHECK_RC(vex_filter_parse(c, text, &f), VEX_OK);
    p.where = f;
    p.stats = &st;
    CHECK_RC(vex_search(c, q, 4, &p, hits, NULL, &n_hits), VEX_OK);
    vex_filter_free(f);
    snprintf(first, VEX_FIELD_NAME_MAX + 1, "%s", st.unknown_field);
    return st.unknown_fields;
}

static void test_filter_unknown_fields(void)
{
    vex_db *db = open_db("unknown");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_meta *m = NULL;
    char first[VEX_FIELD_NAME_MAX + 1];
    vex_schema_field decl = {"declared", VEX_TYPE_INT, 1};
    float v[DIM];

    cfg_flat(&cfg);
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    /* empty collection: every field is unknown */
    CHECK_EQ_INT(unknown_of(c, "g = 1", first), 1);
    CHECK(strcmp(first, "g") == 0);
    for (uint64_t id = 0; id < 50; id++)
        CHECK_RC(put(c, m, id, (int64_t)(id % 10)), VEX_OK);
    /* memtable rows */
    CHECK_EQ_INT(unknown_of(c, "g = 1", first), 0);
    CHECK(first[0] == '\0');
    CHECK_EQ_INT(unknown_of(c, "g = 1 AND (zz = 2 OR zz = 3)", first), 1);
    CHECK(strcmp(first, "zz") == 0);
    CHECK_EQ_INT(unknown_of(c, "s = 'e' OR (zz = 2 AND NOT yy IS NULL)", first),
                 2);
    CHECK(strcmp(first, "zz") == 0 || strcmp(first, "yy") == 0);
    /* a field only some rows have is known; one seen in a later row too */
    vex_meta_clear(m);
    vex_meta_set_bool(m, "late", 1);
    vec_of(60, v);
    CHECK_RC(vex_insert_meta(c, 60, v, m), VEX_OK);
    CHECK_EQ_INT(unknown_of(c, "late = true AND zz = 1", first), 1);
    CHECK(strcmp(first, "zz") == 0);
    /* segments: their column names */
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_EQ_INT(unknown_of(c, "late = true OR g = 1", first), 0);
    CHECK_EQ_INT(unknown_of(c, "late2 = true OR g = 1", first), 1);
    CHECK(strcmp(first, "late2") == 0);
    /* a field of a deleted record still counts as seen */
    CHECK_RC(vex_delete(c, 60), VEX_OK);
    CHECK_EQ_INT(unknown_of(c, "late = true", first), 0);
    /* and after a reopen (replay rebuilds the memtable's set) */
    vex_meta_clear(m);
    vex_meta_set_int(m, "fresh", 1);
    vec_of(61, v);
    CHECK_RC(vex_insert_meta(c, 61, v, m), VEX_OK);
    vex_collection_close(c);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    CHECK_EQ_INT(unknown_of(c, "fresh = 1 AND late = true AND g = 1", first),
                 0);
    CHECK_EQ_INT(unknown_of(c, "fresh2 = 1", first), 1);
    vex_collection_close(c);

    /* an open schema: declared fields are known even when no row has
     * them; undeclared ones are reported */
    cfg.schema_fields = &decl;
    cfg.n_schema_fields = 1;
    CHECK_RC(vex_collection_create(db, "s", &cfg, &c), VEX_OK);
    vec_of(1, v);
    CHECK_RC(vex_insert(c, 1, v), VEX_OK);
    CHECK_EQ_INT(unknown_of(c, "declared = 1 OR other = 1", first), 1);
    CHECK(strcmp(first, "other") == 0);
    vex_collection_close(c);
    vex_meta_free(m);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_coll_ops_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_open_or_create);
    TEST_RUN(test_open_or_create_race);
    TEST_RUN(test_delete_where);
    TEST_RUN(test_delete_where_race);
    TEST_RUN(test_delete_where_oom);
    TEST_RUN(test_filter_schema_errors);
    TEST_RUN(test_filter_unknown_fields);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
