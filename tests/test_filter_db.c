/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_filter_db.c - filtered search and scan through the public API.
 *
 * A flat collection is searched with filters of selectivity 0.1%..100%
 * (and ones on strings, tags, nulls and missing fields) while its rows
 * sit in the memtable, in segments plus memtable, after metadata-only
 * updates and deletes, after compaction and after a reopen; every result
 * is checked against a brute-force oracle (exact filtered k-NN over a
 * model), so the results are the same whatever holds the rows. An HNSW
 * collection big enough for every plan is checked for recall@10 >= 0.95
 * against the oracle at the same selectivities, for min(k, matches)
 * results always, and for the plan the statistics report. vex_scan is
 * checked against the model; malformed filters give positioned errors;
 * the C builder makes the same filters as text.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/db.h"
#include "storage/mcache.h"
#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM 16
#define K   10

static char tmp_root[256];

/* A database in the test's directory with `n_threads` workers and a
 * match cache of `cache_bytes`; compactions only when the test asks. */
static vex_db *open_db_with(const char *name, uint32_t n_threads,
                            uint64_t cache_bytes)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = n_threads;
    o.background_threads = 1;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.match_cache_bytes = cache_bytes;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static vex_db *open_db(const char *name)
{
    return open_db_with(name, 2, UINT64_C(64) << 20);
}

/* ---- the model ------------------------------------------------------ */

typedef struct row {
    int present;
    int has_bucket; /* "bucket" present */
    int64_t bucket; /* 0..999 */
    int lang;       /* 0..3: en de fr it; 4: null */
    int tag;        /* tags ["t<tag>", "all"] */
    float v[DIM];
} row;

static const char *langs[] = {"en", "de", "fr", "it"};

typedef struct flt {
    const char *text;
    int (*match)(const row *r);
} flt;

static int f_b1(const row *r)
{
    return r->has_bucket && r->bucket < 1;
}
static int f_b10(const row *r)
{
    return r->has_bucket && r->bucket < 10;
}
static int f_b100(const row *r)
{
    return r->has_bucket && r->bucket < 100;
}
static int f_b500(const row *r)
{
    return r->has_bucket && r->bucket < 500;
}
static int f_all(const row *r)
{
    return r->has_bucket && r->bucket >= 0;
}
static int f_lang(const row *r)
{
    return r->lang == 1 || r->lang == 2;
}
static int f_tag(const row *r)
{
    return r->tag == 3;
}
static int f_null(const row *r)
{
    return r->lang == 4;
}
static int f_mix(const row *r)
{
    /* three-valued: a missing bucket or a null lang is not a match */
    return r->has_bucket && r->bucket >= 900 && r->lang != 4 && r->lang != 0;
}

static const flt filters[] = {
    {"bucket < 1", f_b1},
    {"bucket < 10", f_b10},
    {"bucket BETWEEN 0 AND 99", f_b100},
    {"bucket < 500", f_b500},
    {"bucket >= 0", f_all},
    {"lang IN ('de', 'fr')", f_lang},
    {"tags CONTAINS 't3'", f_tag},
    {"lang IS NULL", f_null},
    {"NOT bucket < 900 AND lang != 'en'", f_mix},
};
#define N_FILTERS (sizeof filters / sizeof filters[0])

static void make_row(vex_rng *r, row *x, uint64_t id)
{
    x->present = 1;
    x->has_bucket = vex_rng_below(r, 20) != 0; /* 5% without it */
    x->bucket = (int64_t)((id * 7919) % 1000);
    x->lang = (int)vex_rng_below(r, 5);
    x->tag = (int)vex_rng_below(r, 8);
    for (int i = 0; i < DIM; i++)
        x->v[i] = (float)vex_rng_double(r) * 2.0f - 1.0f;
}

static void meta_of(vex_meta *m, const row *x)
{
    char t[8];
    const char *tags[2] = {t, "all"};
    vex_meta_clear(m);
    snprintf(t, sizeof t, "t%d", x->tag);
    if (x->has_bucket)
        vex_meta_set_int(m, "bucket", x->bucket);
    if (x->lang < 4)
        vex_meta_set_string(m, "lang", langs[x->lang], 2);
    else
        vex_meta_set_null(m, "lang");
    vex_meta_set_tags(m, "tags", tags, 2);
}

static float l2(const float *a, const float *b)
{
    float s = 0;
    for (int i = 0; i < DIM; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* Exact filtered k-NN over the model: ids and distances, nearest first
 * (ties by id); returns the number of matches (all of them). */
static size_t oracle(const row *rows, size_t n, const float *q,
                     int (*match)(const row *), vex_hit *out, size_t k,
                     size_t *n_out)
{
    size_t m = 0, h = 0;
    for (size_t id = 0; id < n; id++) {
        float d;
        size_t j;
        if (!rows[id].present || !match(&rows[id]))
            continue;
        m++;
        d = l2(q, rows[id].v);
        if (h == k && (d > out[k - 1].distance ||
                       (d == out[k - 1].distance && id > out[k - 1].id)))
            continue;
        j = h < k ? h++ : k - 1;
        while (j > 0 && (out[j - 1].distance > d ||
                         (out[j - 1].distance == d && out[j - 1].id > id))) {
            out[j] = out[j - 1];
            j--;
        }
        out[j].id = id;
        out[j].distance = d;
    }
    *n_out = h;
    return m;
}

static vex_filter *compile(vex_collection *c, const char *text)
{
    vex_filter *f = NULL;
    CHECK_RC(vex_filter_parse(c, text, &f), VEX_OK);
    return f;
}

/* The filters, compiled once per database open and kept across writes,
 * flushes and compactions: the match sets segments cache for them must
 * stay right (deletes and updates come after they were built). */
static vex_filter *kept[N_FILTERS];

static void drop_kept(void)
{
    for (size_t i = 0; i < N_FILTERS; i++) {
        vex_filter_free(kept[i]);
        kept[i] = NULL;
    }
}

/* Handles vex_search fills with the hits' metadata. */
static vex_meta *g_metas[K];

/* Every filter, a few queries: exact agreement with the oracle. */
static void check_exact(vex_collection *c, const row *rows, size_t n,
                        vex_rng *r, const char *when)
{
    for (size_t fi = 0; fi < N_FILTERS; fi++) {
        vex_filter *f = kept[fi] ? kept[fi] : compile(c, filters[fi].text);
        kept[fi] = f;
        if (f == NULL)
            continue;
        for (int qi = 0; qi < 4; qi++) {
            float q[DIM];
            vex_hit got[K], want[K];
            size_t ng = 0, nw = 0, m;
            vex_search_params sp;
            vex_search_stats st;
            for (int i = 0; i < DIM; i++)
                q[i] = (float)vex_rng_double(r) * 2.0f - 1.0f;
            vex_search_params_init(&sp);
            vex_search_stats_init(&st);
            sp.where = f;
            sp.stats = &st;
            sp.meta_out = g_metas;
            CHECK_RC(vex_search(c, q, K, &sp, got, NULL, &ng), VEX_OK);
            m = oracle(rows, n, q, filters[fi].match, want, K, &nw);
            /* each hit's metadata came with it */
            for (size_t i = 0; i < ng; i++) {
                const row *x = &rows[got[i].id];
                size_t at;
                vex_field fl;
                int has = vex_meta_find(g_metas[i], "bucket", &at) == VEX_OK;
                CHECK_MSG(has == x->has_bucket &&
                              (!has ||
                               (vex_meta_field(g_metas[i], at, &fl) == VEX_OK &&
                                fl.i == x->bucket)),
                          "%s: hit %llu: metadata differs from the model", when,
                          (unsigned long long)got[i].id);
            }
            CHECK_MSG(ng == nw, "%s: \"%s\": %zu hits, the oracle %zu (of %zu)",
                      when, filters[fi].text, ng, nw, m);
            for (size_t i = 0; i < ng && i < nw; i++) {
                CHECK_MSG(got[i].id == want[i].id &&
                              fabsf(got[i].distance - want[i].distance) <=
                                  1e-4f * (1 + want[i].distance),
                          "%s: \"%s\": hit %zu is %llu at %g, the oracle's "
                          "%llu at %g",
                          when, filters[fi].text, i,
                          (unsigned long long)got[i].id, got[i].distance,
                          (unsigned long long)want[i].id, want[i].distance);
            }
            CHECK(st.plan_graph == 0 && st.plan_post == 0); /* flat */
        }
    }
}

typedef struct scan_ctx {
    const row *rows;
    size_t n, seen;
    int bad;
    int (*match)(const row *);
} scan_ctx;

static int scan_cb(void *ctx, uint64_t id, const vex_meta *meta)
{
    scan_ctx *s = ctx;
    size_t i;
    vex_field f;
    s->seen++;
    if (id >= s->n || !s->rows[id].present || !s->match(&s->rows[id]))
        s->bad++;
    else if (s->rows[id].has_bucket &&
             (vex_meta_find(meta, "bucket", &i) != VEX_OK ||
              vex_meta_field(meta, i, &f) != VEX_OK ||
              f.i != s->rows[id].bucket))
        s->bad++;
    return 0;
}

static void check_scan(vex_collection *c, const row *rows, size_t n,
                       const char *when)
{
    for (size_t fi = 0; fi < N_FILTERS; fi += 2) {
        vex_filter *f = compile(c, filters[fi].text);
        scan_ctx s = {rows, n, 0, 0, filters[fi].match};
        size_t want = 0;
        for (size_t id = 0; id < n; id++)
            want += rows[id].present && filters[fi].match(&rows[id]);
        CHECK_RC(vex_scan(c, f, scan_cb, &s), VEX_OK);
        CHECK_MSG(s.seen == want && s.bad == 0,
                  "%s: scan \"%s\": %zu seen, %zu wanted, %d wrong", when,
                  filters[fi].text, s.seen, want, s.bad);
        vex_filter_free(f);
    }
}

static void test_flat_oracle(void)
{
    enum { N = 3000 };
    vex_db *db = open_db("flat");
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *m = NULL;
    row *rows = calloc(N, sizeof *rows);
    vex_rng r;
    vex_rng_seed(&r, 42);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    if (c == NULL || m == NULL || rows == NULL)
        goto out;
    for (uint64_t id = 0; id < N / 2; id++) {
        make_row(&r, &rows[id], id);
        meta_of(m, &rows[id]);
        CHECK_RC(vex_insert_meta(c, id, rows[id].v, m), VEX_OK);
    }
    check_exact(c, rows, N, &r, "memtable");
    CHECK_RC(vex_flush(c), VEX_OK);
    check_exact(c, rows, N, &r, "one segment");
    for (uint64_t id = N / 2; id < N; id++) {
        make_row(&r, &rows[id], id);
        meta_of(m, &rows[id]);
        CHECK_RC(vex_insert_meta(c, id, rows[id].v, m), VEX_OK);
    }
    check_exact(c, rows, N, &r, "segment + memtable");
    check_scan(c, rows, N, "segment + memtable");
    /* metadata-only updates and deletes over both */
    for (uint64_t id = 0; id < N; id += 7) {
        rows[id].bucket = (rows[id].bucket + 500) % 1000;
        rows[id].lang = (rows[id].lang + 1) % 5;
        meta_of(m, &rows[id]);
        CHECK_RC(vex_update_meta(c, id, m), VEX_OK);
    }
    for (uint64_t id = 3; id < N; id += 11) {
        CHECK_RC(vex_delete(c, id), VEX_OK);
        rows[id].present = 0;
    }
    check_exact(c, rows, N, &r, "updated");
    CHECK_RC(vex_flush(c), VEX_OK);
    check_exact(c, rows, N, &r, "two segments");
    CHECK_RC(vex_compact(c), VEX_OK);
    check_exact(c, rows, N, &r, "compacted");
    drop_kept();
    CHECK_RC(vex_collection_close(c), VEX_OK);
    c = NULL;
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = open_db("flat");
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    if (c == NULL)
        goto out;
    check_exact(c, rows, N, &r, "reopened");
    check_scan(c, rows, N, "reopened");
out:
    drop_kept();
    vex_meta_free(m);
    free(rows);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

/* HNSW: recall@10 >= 0.95 at every selectivity, min(k, m) results, and
 * the plan each selectivity gets in a segment of 20,000 rows. */
static void test_hnsw_recall(void)
{
    enum { N = 20000, Q = 40 };
    static const struct {
        const char *text;
        int (*match)(const row *);
        int plan; /* 0 exact, 1 graph, 2 post */
    } sel[] = {{"bucket < 1", f_b1, 0},
               {"bucket < 10", f_b10, 0},
               {"bucket < 100", f_b100, 0},
               {"bucket < 500", f_b500, 1},
               {"bucket >= 0", f_all, 2}};
    vex_db *db = open_db("hnsw");
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *m = NULL;
    vex_batch *b = NULL;
    row *rows = calloc(N, sizeof *rows);
    vex_rng r;
    vex_rng_seed(&r, 7);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    cfg.hnsw_m = 16;
    cfg.hnsw_ef_construction = 100;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
    if (c == NULL || m == NULL || b == NULL || rows == NULL)
        goto out;
    for (uint64_t id = 0; id < N; id++) {
        make_row(&r, &rows[id], id);
        rows[id].has_bucket = 1;
        meta_of(m, &rows[id]);
        CHECK_RC(vex_batch_insert_meta(b, id, rows[id].v, m), VEX_OK);
        if (vex_batch_count(b) == 1000) {
            CHECK_RC(vex_batch_commit(c, b), VEX_OK);
            vex_batch_clear(b);
        }
    }
    for (int phase = 0; phase < 2; phase++)
        for (size_t si = 0; si < sizeof sel / sizeof sel[0]; si++) {
            vex_filter *f = compile(c, sel[si].text);
            size_t found = 0, total = 0;
            uint32_t plans[3] = {0, 0, 0}, falls = 0;
            for (int qi = 0; qi < Q && f; qi++) {
                float q[DIM];
                vex_hit got[K], want[K];
                size_t ng = 0, nw = 0;
                vex_search_params sp;
                vex_search_stats st;
                for (int i = 0; i < DIM; i++)
                    q[i] = (float)vex_rng_double(&r) * 2.0f - 1.0f;
                vex_search_params_init(&sp);
                vex_search_stats_init(&st);
                sp.where = f;
                sp.stats = &st;
                sp.ef_search = 64;
                CHECK_RC(vex_search(c, q, K, &sp, got, NULL, &ng), VEX_OK);
                oracle(rows, N, q, sel[si].match, want, K, &nw);
                CHECK_MSG(ng == nw, "\"%s\": %zu hits, %zu match", sel[si].text,
                          ng, nw);
                for (size_t i = 0; i < nw; i++)
                    for (size_t j = 0; j < ng; j++)
                        found += got[j].id == want[i].id;
                for (size_t j = 0; j < ng; j++)
                    CHECK_MSG(sel[si].match(&rows[got[j].id]),
                              "\"%s\": hit %llu does not match", sel[si].text,
                              (unsigned long long)got[j].id);
                total += nw;
                plans[0] += st.plan_exact;
                plans[1] += st.plan_graph;
                plans[2] += st.plan_post;
                falls += st.fallbacks;
                CHECK_EQ_INT(st.sources, 1);
            }
            if (phase == 0) {
                /* the memtable: its graph (filled in the background) with the
                 * filter hook, its tail exactly */
                CHECK_MSG(total > 0 && (double)found / (double)total >= 0.95,
                          "memtable \"%s\": recall@10 %.3f", sel[si].text,
                          total ? (double)found / (double)total : 0.0);
                /* one memtable per query: its plan counted once, and a
                 * fallback (the walk redone exactly) besides its graph
                 * plan, as for a segment; a memtable never post-filters */
                CHECK_MSG(plans[0] + plans[1] == Q && plans[2] == 0 &&
                              falls <= plans[1],
                          "memtable \"%s\": plans %u/%u/%u, %u fallbacks",
                          sel[si].text, plans[0], plans[1], plans[2], falls);
                vex_filter_free(f);
                if (si + 1 == sizeof sel / sizeof sel[0])
                    CHECK_RC(vex_flush(c), VEX_OK);
                continue;
            }
            CHECK_MSG(total > 0 && (double)found / (double)total >= 0.95,
                      "\"%s\": recall@10 %.3f", sel[si].text,
                      total ? (double)found / (double)total : 0.0);
            CHECK_MSG(plans[sel[si].plan] == Q, "\"%s\": plans %u/%u/%u",
                      sel[si].text, plans[0], plans[1], plans[2]);
            printf("  %-14s recall@10 %.3f plans exact/graph/post %u/%u/%u\n",
                   sel[si].text, total ? (double)found / (double)total : 0.0,
                   plans[0], plans[1], plans[2]);
            vex_filter_free(f);
        }
out:
    vex_batch_free(b);
    vex_meta_free(m);
    free(rows);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

/* Malformed filters, type errors against a schema, misuse. */
static void test_errors(void)
{
    static const struct {
        const char *text, *want;
    } bad[] = {{"bucket >", "offset 8"},     {"bucket = 'x", "offset 9"},
               {"(bucket = 1", "offset 11"}, {"bucket = 1 AND", "offset 14"},
               {"bucket === 1", "offset 8"}, {"lang = 5", "lang"},
               {"nosuch = 1", "nosuch"}};
    vex_db *db = open_db("errors");
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_schema_field fields[] = {{"bucket", VEX_TYPE_INT, 1},
                                 {"lang", VEX_TYPE_STRING, 1}};
    vex_filter *f = NULL;
    vex_search_params sp;
    vex_hit hits[K];
    size_t n;
    float q[DIM] = {0};
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    cfg.schema_fields = fields;
    cfg.n_schema_fields = 2;
    cfg.schema_closed = 1;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    if (c == NULL)
        goto out;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(vex_filter_parse(c, bad[i].text, &f), VEX_INVALID);
        CHECK(f == NULL);
        CHECK_MSG(strstr(vex_collection_errmsg(c), bad[i].want) != NULL,
                  "\"%s\": message \"%s\" lacks \"%s\"", bad[i].text,
                  vex_collection_errmsg(c), bad[i].want);
    }
    CHECK_RC(vex_filter_parse(c, NULL, &f), VEX_MISUSE);
    CHECK_RC(vex_filter_parse(c, "bucket IN (3, 1, 2)", &f), VEX_OK);
    if (f) {
        char buf[64];
        vex_index *ix = NULL;
        vex_index_options io;
        vex_filter_print(f, buf, sizeof buf);
        CHECK(strstr(buf, "1, 2, 3") != NULL);
        /* with a caller's filter function: refused */
        vex_search_params_init(&sp);
        sp.where = f;
        sp.filter = (vex_filter_fn)1;
        CHECK_RC(vex_search(c, q, K, &sp, hits, NULL, &n), VEX_INVALID);
        /* an empty collection: no hits */
        sp.filter = NULL;
        CHECK_RC(vex_search(c, q, K, &sp, hits, NULL, &n), VEX_OK);
        CHECK_EQ_INT(n, 0);
        /* metadata out: vex_search only, every handle needed */
        sp.meta_out = g_metas;
        CHECK_RC(vex_search_batch(c, q, 1, K, &sp, hits, &n), VEX_INVALID);
        sp.meta_out = NULL;
        {
            /* stats likewise: refused by a batch, not left unfilled */
            vex_search_stats st;
            vex_search_stats_init(&st);
            sp.stats = &st;
            CHECK_RC(vex_search_batch(c, q, 1, K, &sp, hits, &n), VEX_INVALID);
            CHECK(strstr(vex_collection_errmsg(c), "stats") != NULL);
            sp.stats = NULL;
        }
        sp.meta_out = g_metas;
        {
            vex_meta *none[K] = {NULL};
            vex_meta *mm = NULL;
            CHECK_RC(vex_meta_create(NULL, &mm), VEX_OK);
            CHECK_RC(vex_meta_set_int(mm, "bucket", 1), VEX_OK);
            CHECK_RC(vex_insert_meta(c, 1, q, mm), VEX_OK);
            sp.meta_out = none;
            CHECK_RC(vex_search(c, q, K, &sp, hits, NULL, &n), VEX_MISUSE);
            sp.meta_out = g_metas;
            CHECK_RC(vex_search(c, q, K, &sp, hits, NULL, &n), VEX_OK);
            CHECK_EQ_INT(n, 1);
            CHECK_EQ_INT(vex_meta_count(g_metas[0]), 1);
            vex_meta_free(mm);
        }
        sp.meta_out = NULL;
        /* a standalone index has no metadata */
        vex_index_options_init(&io);
        io.dim = DIM;
        io.n_threads = 1;
        CHECK_RC(vex_index_create(&io, &ix), VEX_OK);
        CHECK_RC(vex_index_search(ix, q, K, &sp, hits, &n), VEX_INVALID);
        vex_index_free(ix);
        vex_filter_free(f);
    }
out:
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

/* The builder makes the same filters as text: equal canonical text and
 * equal results; failures are remembered and reported by the build. */
static void same_as_text(vex_collection *c, vex_filter_builder *b,
                         const vex_expr *e, const char *text)
{
    vex_filter *fb = NULL, *ft = NULL;
    char pb[256], pt[256];
    CHECK_RC(vex_filter_build(c, b, e, &fb), VEX_OK);
    CHECK_RC(vex_filter_parse(c, text, &ft), VEX_OK);
    if (fb && ft) {
        vex_filter_print(fb, pb, sizeof pb);
        vex_filter_print(ft, pt, sizeof pt);
        CHECK_MSG(strcmp(pb, pt) == 0, "builder \"%s\" vs text \"%s\"", pb, pt);
    }
    vex_filter_free(fb);
    vex_filter_free(ft);
}

static void test_builder(void)
{
    vex_db *db = open_db("builder");
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_schema_field fields[] = {{"bucket", VEX_TYPE_INT, 1},
                                 {"lang", VEX_TYPE_STRING, 1},
                                 {"tags", VEX_TYPE_TAGS, 1}};
    vex_filter_builder *b = NULL;
    vex_filter *f = NULL;
    vex_value i5 = {VEX_TYPE_INT, 0, 5, 0, NULL, 0};
    vex_value i9 = {VEX_TYPE_INT, 0, 9, 0, NULL, 0};
    vex_value de = {VEX_TYPE_STRING, 0, 0, 0, "de", 2};
    vex_value fr = {VEX_TYPE_STRING, 0, 0, 0, "fr", 2};
    vex_value bad = {(vex_type)42, 0, 0, 0, NULL, 0};
    vex_value lvals[2];
    const char *tags[] = {"t1", "t2"};
    lvals[0] = fr;
    lvals[1] = de;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    cfg.schema_fields = fields;
    cfg.n_schema_fields = 3;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_filter_builder_create(NULL, &b), VEX_OK);
    if (c == NULL || b == NULL)
        goto out;
    same_as_text(c, b, vex_expr_cmp(b, "bucket", VEX_CMP_GE, i5),
                 "bucket >= 5");
    same_as_text(
        c, b,
        vex_expr_and(b, vex_expr_in(b, "lang", lvals, 2, 0),
                     vex_expr_not(b, vex_expr_contains(b, "tags", tags, 1, 0))),
        "lang IN ('de', 'fr') AND NOT tags CONTAINS 't1'");
    same_as_text(c, b,
                 vex_expr_or(b, vex_expr_between(b, "bucket", i5, i9),
                             vex_expr_is_null(b, "lang", 1)),
                 "bucket BETWEEN 5 AND 9 OR lang IS NOT NULL");
    same_as_text(c, b, vex_expr_contains(b, "tags", tags, 2, 1),
                 "tags CONTAINS ALL ('t1', 't2')");
    same_as_text(c, b, vex_expr_in(b, "bucket", &i9, 1, 1),
                 "bucket NOT IN (9)");
    /* a type error against the schema: this build fails, naming the
     * field; the builder stays usable */
    CHECK_RC(
        vex_filter_build(c, b, vex_expr_cmp(b, "lang", VEX_CMP_EQ, i5), &f),
        VEX_INVALID);
    CHECK(f == NULL && strstr(vex_collection_errmsg(c), "lang") != NULL);
    same_as_text(c, b, vex_expr_cmp(b, "lang", VEX_CMP_NE, de), "lang != 'de'");
    /* a bad literal: remembered, NULLs propagate, the build reports it */
    CHECK(vex_expr_cmp(b, "bucket", VEX_CMP_EQ, bad) == NULL);
    CHECK(vex_expr_and(b, NULL, vex_expr_is_null(b, "lang", 0)) == NULL);
    CHECK_RC(vex_filter_build(c, b, NULL, &f), VEX_INVALID);
    CHECK(strstr(vex_collection_errmsg(c), "filter builder") != NULL);
out:
    vex_filter_builder_free(b);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

/* Searches and scans with shared filter handles while a writer inserts,
 * updates metadata, deletes, flushes and compacts: the match sets are
 * built by racing first searches and read without locks. Ids with
 * id % 3 == 1 always have grp = 1 (updates keep it), ids 0..2999 are
 * never deleted, so every search must return k hits, all with
 * id % 3 == 1, and every scan only such ids. Run under TSan by the
 * concurrency job (test_filter_db_threads). */
typedef struct conc {
    vex_collection *c;
    vex_filter *f;
    _Atomic int stop;
    _Atomic int bad;
    unsigned seed;
} conc;

static int conc_scan_cb(void *ctx, uint64_t id, const vex_meta *meta)
{
    conc *x = ctx;
    (void)meta;
    if (id % 3 != 1)
        atomic_fetch_add(&x->bad, 1);
    return 0;
}

static void *conc_reader(void *arg)
{
    conc *x = arg;
    vex_rng r;
    vex_rng_seed(&r, x->seed);
    while (!atomic_load(&x->stop)) {
        float q[DIM];
        vex_hit hits[K];
        size_t n = 0;
        vex_search_params sp;
        for (int i = 0; i < DIM; i++)
            q[i] = (float)vex_rng_double(&r) * 2.0f - 1.0f;
        vex_search_params_init(&sp);
        sp.where = x->f;
        sp.n_threads = 1;
        if (vex_search(x->c, q, K, &sp, hits, NULL, &n) != VEX_OK || n != K)
            atomic_fetch_add(&x->bad, 1);
        for (size_t i = 0; i < n; i++)
            if (hits[i].id % 3 != 1)
                atomic_fetch_add(&x->bad, 1);
        if (vex_rng_below(&r, 16) == 0 &&
            vex_scan(x->c, x->f, conc_scan_cb, x) != VEX_OK)
            atomic_fetch_add(&x->bad, 1);
    }
    return NULL;
}

static void test_concurrent(void)
{
    vex_db *db = open_db("conc");
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *m = NULL;
    conc x[2];
    pthread_t th[2];
    vex_filter *f = NULL;
    vex_rng r;
    float v[DIM];
    vex_rng_seed(&r, 99);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    cfg.hnsw_m = 8;
    cfg.hnsw_ef_construction = 40;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    if (c == NULL || m == NULL)
        goto out;
    for (uint64_t id = 0; id < 3000; id++) {
        for (int i = 0; i < DIM; i++)
            v[i] = (float)vex_rng_double(&r) * 2.0f - 1.0f;
        vex_meta_clear(m);
        vex_meta_set_int(m, "grp", id % 3 == 1);
        vex_meta_set_int(m, "gen", 0);
        CHECK_RC(vex_insert_meta(c, id, v, m), VEX_OK);
    }
    CHECK_RC(vex_flush(c), VEX_OK);
    f = compile(c, "grp = 1");
    if (f == NULL)
        goto out;
    for (int t = 0; t < 2; t++) {
        x[t].c = c;
        x[t].f = f;
        atomic_init(&x[t].stop, 0);
        atomic_init(&x[t].bad, 0);
        x[t].seed = 1000u + (unsigned)t;
        pthread_create(&th[t], NULL, conc_reader, &x[t]);
    }
    for (int round = 0; round < 6; round++) {
        for (uint64_t j = 0; j < 500; j++) {
            uint64_t id = 3000 + vex_rng_below(&r, 2000);
            uint64_t old = vex_rng_below(&r, 3000);
            for (int i = 0; i < DIM; i++)
                v[i] = (float)vex_rng_double(&r) * 2.0f - 1.0f;
            vex_meta_clear(m);
            vex_meta_set_int(m, "grp", id % 3 == 1);
            vex_meta_set_int(m, "gen", round);
            (void)vex_upsert_meta(c, id, v, m);
            if (j % 5 == 0)
                (void)vex_delete(c, 3000 + vex_rng_below(&r, 2000));
            vex_meta_clear(m);
            vex_meta_set_int(m, "grp", old % 3 == 1);
            vex_meta_set_int(m, "gen", round + 1);
            CHECK_RC(vex_update_meta(c, old, m), VEX_OK);
        }
        CHECK_RC(vex_flush(c), VEX_OK);
        if (round % 2 == 1)
            CHECK_RC(vex_compact(c), VEX_OK);
    }
    for (int t = 0; t < 2; t++) {
        atomic_store(&x[t].stop, 1);
        pthread_join(th[t], NULL);
        CHECK_MSG(atomic_load(&x[t].bad) == 0, "reader %d: %d bad results", t,
                  atomic_load(&x[t].bad));
    }
out:
    vex_filter_free(f);
    vex_meta_free(m);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

/* ---- the match cache ----------------------------------------------------
 *
 * Filters parsed per query (the usual pattern) must not push the sets of
 * long-lived filters out: before the cache moved out of the segments, 16
 * slots per segment were filled by the first 16 filters and never freed,
 * so from the 17th on every search with a new filter, long-lived ones
 * included, evaluated it over every row of the segment. */

static vex_db *open_db_cache(const char *name, uint64_t budget)
{
    return open_db_with(name, 1, budget);
}

/* Flush `n` rows with bucket = id % 1000 as one segment. */
static void load_segment(vex_collection *c, uint64_t first, uint64_t n)
{
    vex_batch *b = NULL;
    vex_meta *m = NULL;
    vex_rng r;
    vex_rng_seed(&r, 77 + first);
    CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (uint64_t id = first; id < first + n; id++) {
        float v[DIM];
        for (int d = 0; d < DIM; d++)
            v[d] = (float)vex_rng_double(&r);
        vex_meta_clear(m);
        CHECK_RC(vex_meta_set_int(m, "bucket", (int64_t)(id % 1000)), VEX_OK);
        CHECK_RC(vex_batch_insert_meta(b, id, v, m), VEX_OK);
    }
    CHECK_RC(vex_batch_commit(c, b), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK);
    vex_meta_free(m);
    vex_batch_free(b);
}

/* One filtered search; returns how many match sets it built. */
static uint32_t search_built(vex_collection *c, const vex_filter *f)
{
    float q[DIM] = {0.5f};
    vex_hit hits[K];
    size_t nh = 0;
    vex_search_params sp;
    vex_search_stats st;
    vex_search_params_init(&sp);
    vex_search_stats_init(&st);
    sp.where = f;
    sp.stats = &st;
    CHECK_RC(vex_search(c, q, K, &sp, hits, NULL, &nh), VEX_OK);
    CHECK_EQ_INT(nh, K);
    return st.match_sets_built;
}

static void test_match_cache(void)
{
    vex_db *db = open_db_cache("mcache", UINT64_C(64) << 20);
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_filter *a, *b, *f;
    size_t n_sets, bytes;
    char text[64];
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    load_segment(c, 0, 5000);

    a = compile(c, "bucket < 100");
    CHECK_EQ_INT(search_built(c, a), 1);
    CHECK_EQ_INT(search_built(c, a), 0);
    /* a thousand handles of one text, each parsed per query, used once
     * and freed (a server's pattern): the set is built once, by `a` */
    for (int i = 0; i < 1000; i++) {
        f = compile(c, "bucket<100"); /* same canonical text */
        CHECK_EQ_INT(search_built(c, f), 0);
        vex_filter_free(f);
    }
    /* a thousand different filters, each used once and freed */
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof text, "bucket < %d", 200 + i);
        f = compile(c, text);
        CHECK_EQ_INT(search_built(c, f), 1);
        vex_filter_free(f);
    }
    /* a new long-lived filter is cached as the first one was, and the
     * first one still is */
    b = compile(c, "bucket >= 500");
    CHECK_EQ_INT(search_built(c, b), 1);
    CHECK_EQ_INT(search_built(c, b), 0);
    CHECK_EQ_INT(search_built(c, a), 0);
    vx_mcache_usage(db->mcache, &n_sets, &bytes);
    CHECK_EQ_INT(n_sets, 1002);
    CHECK(bytes <= (UINT64_C(64) << 20));
    vex_filter_free(b);

    /* a segment's sets go when a compaction replaces it */
    load_segment(c, 5000, 5000);
    CHECK_EQ_INT(search_built(c, a), 1); /* the new segment's */
    CHECK_RC(vex_compact(c), VEX_OK);
    vx_mcache_usage(db->mcache, &n_sets, &bytes);
    CHECK_EQ_INT(n_sets, 0);
    CHECK_EQ_INT(search_built(c, a), 1);
    CHECK_EQ_INT(search_built(c, a), 0);
    vex_filter_free(a);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* room for two sets of the 10,000-row segment: the least recently
     * used set goes first, and a freed filter's sets go before the sets
     * of filters in use */
    db = open_db_cache("mcache", 2 * (10000 / 8 + 64));
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    a = compile(c, "bucket < 100");
    b = compile(c, "bucket >= 500");
    CHECK_EQ_INT(search_built(c, a), 1);
    CHECK_EQ_INT(search_built(c, b), 1);
    f = compile(c, "bucket < 7");
    CHECK_EQ_INT(search_built(c, f), 1); /* evicts a, the least recent */
    CHECK_EQ_INT(search_built(c, b), 0);
    CHECK_EQ_INT(search_built(c, a), 1); /* evicts f */
    CHECK_EQ_INT(search_built(c, f), 1); /* evicts b */
    vex_filter_free(f);                  /* f's set to the cold end */
    CHECK_EQ_INT(search_built(c, b), 1); /* evicts f's, not a's */
    CHECK_EQ_INT(search_built(c, a), 0);
    vx_mcache_usage(db->mcache, &n_sets, &bytes);
    CHECK_EQ_INT(n_sets, 2);
    vex_filter_free(a);
    vex_filter_free(b);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* budget 0: nothing is kept, every search evaluates */
    db = open_db_cache("mcache", 0);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    a = compile(c, "bucket < 100");
    CHECK_EQ_INT(search_built(c, a), 1);
    CHECK_EQ_INT(search_built(c, a), 1);
    vex_filter_free(a);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

static void test_match_cache_option(void)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/mcache-opt", tmp_root);
    vex_db_options_init(&o);
    CHECK(o.match_cache_bytes == (UINT64_C(64) << 20));
    o.create_if_missing = 1;
    o.match_cache_bytes = (UINT64_C(1) << 40) + 1;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(db), "match_cache_bytes") != NULL);
    vex_db_close(db);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_filter_db_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    for (int i = 0; i < K; i++)
        if (vex_meta_create(NULL, &g_metas[i]) != VEX_OK)
            return 2;
    TEST_RUN(test_errors);
    TEST_RUN(test_builder);
    TEST_RUN(test_flat_oracle);
    TEST_RUN(test_hnsw_recall);
    TEST_RUN(test_concurrent);
    TEST_RUN(test_match_cache);
    TEST_RUN(test_match_cache_option);
    for (int i = 0; i < K; i++)
        vex_meta_free(g_metas[i]);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}
