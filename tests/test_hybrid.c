/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hybrid.c - the text field and keyword/hybrid search of a
 * collection, through the public API.
 *
 *  - BM25 over a collection split into several segments, frozen and
 *    active memtables, with deletes and upserts not yet compacted, equals
 *    a brute-force BM25 (FTS5's formula) over a model of the live records
 *    computed here, scores and order, before and after a compaction, after
 *    reopening (log replay and segments), with a metadata filter and a
 *    user id filter (which select results but never change the
 *    statistics);
 *  - a hybrid search equals fusing, here, the vector leg and the keyword
 *    leg each searched on its own (RRF and weighted sum);
 *  - texts round trip: vex_get_text, VEX_WITH_TEXT, a metadata update
 *    keeps the text, an upsert without one drops it; batches and
 *    vex_upsert_many_text;
 *  - statistics: legs, postings read; vex_db_verify checks every
 *    segment's postings (an INFO finding each) and finds no damage;
 *  - keyword searches beside a writer that upserts, deletes, flushes and
 *    compacts: every hit's text holds the query word;
 *  - bad input: invalid UTF-8, a text on a collection without a text
 *    field, params.text there, bad BM25 and fusion parameters, a NULL
 *    query without text, batch and range searches with text.
 * The texts are words of a small vocabulary of lowercase ASCII letters,
 * which the analyzer (no stemmer, no stop words) keeps as they are, so
 * the model tokenizes them by splitting on spaces.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM   8
#define N_IDS 500
#define N_VOC 24

static char tmp_root[256];

static const char *const voc[N_VOC] = {
    "alpha",  "bravo", "charlie", "delta",  "echo",    "foxtrot",
    "golf",   "hotel", "india",   "juliet", "kilo",    "lima",
    "mike",   "nov",   "oscar",   "papa",   "quebec",  "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray"};

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_hybrid_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

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
    o.durability = VEX_DURABILITY_NONE;
    o.compact_min_merge = 0; /* compactions only when the test asks */
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static int coll_has(vex_collection *c, const char *s)
{
    const char *m = vex_collection_errmsg(c);
    if (strstr(m, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", m, s);
        return 0;
    }
    return 1;
}

/* ---- the model: id -> live, vector, text, group ---------------------- */

typedef struct model {
    int live[N_IDS];
    float vec[N_IDS][DIM];
    char text[N_IDS][160];
    int grp[N_IDS];
} model;

static void rand_text(vex_rng *r, char *out, size_t cap)
{
    size_t n = 1 + (size_t)vex_rng_below(r, 12), at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        /* skewed: low words are common, high ones rare */
        double u = vex_rng_double(r);
        size_t w = (size_t)(u * u * N_VOC);
        int len = snprintf(out + at, cap - at, "%s%s", i ? " " : "", voc[w]);
        at += (size_t)len;
    }
}

/* Write record id into the collection and the model (text may be ""). */
static void put(vex_collection *c, model *m, vex_rng *r, uint64_t id,
                vex_meta *meta, int with_text)
{
    vex_record rec;
    for (int d = 0; d < DIM; d++)
        m->vec[id][d] = (float)vex_rng_normal(r);
    if (with_text)
        rand_text(r, m->text[id], sizeof m->text[id]);
    else
        m->text[id][0] = '\0';
    m->grp[id] = (int)vex_rng_below(r, 3);
    vex_meta_clear(meta);
    CHECK_RC(vex_meta_set_int(meta, "grp", m->grp[id]), VEX_OK);
    vex_record_init(&rec);
    rec.id = id;
    rec.vector = m->vec[id];
    rec.meta = meta;
    rec.text = m->text[id];
    rec.text_len = strlen(m->text[id]);
    CHECK_RC(vex_upsert_record(c, &rec), VEX_OK);
    m->live[id] = 1;
}

/* Term frequency of word w in text t (words split on spaces). */
static unsigned tf_of(const char *t, const char *w, unsigned *len)
{
    unsigned tf = 0, n = 0;
    size_t wl = strlen(w);
    while (*t) {
        size_t l = strcspn(t, " ");
        if (l > 0) {
            n++;
            tf += l == wl && memcmp(t, w, wl) == 0;
        }
        t += l;
        while (*t == ' ')
            t++;
    }
    *len = n;
    return tf;
}

typedef struct scored {
    uint64_t id;
    double score;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Brute-force BM25 (FTS5's) of the query words over the model's live
 * records with a text; only records with grp == want_grp (-1: any) and
 * an even id when even_only are returned. Returns how many of out[]. */
static size_t model_bm25(const model *m, const char *const *q, size_t nq,
                         double k1, double b, int want_grp, int even_only,
                         scored *out)
{
    double n_docs = 0, total = 0, df[8] = {0};
    size_t n = 0;
    for (size_t id = 0; id < N_IDS; id++) {
        unsigned len;
        if (!m->live[id] || m->text[id][0] == '\0')
            continue;
        n_docs++;
        for (size_t i = 0; i < nq; i++)
            df[i] += tf_of(m->text[id], q[i], &len) > 0;
        total += len;
    }
    for (size_t id = 0; id < N_IDS; id++) {
        double s = 0;
        int any = 0;
        if (!m->live[id] || m->text[id][0] == '\0')
            continue;
        for (size_t i = 0; i < nq; i++) {
            unsigned len, tf = tf_of(m->text[id], q[i], &len);
            double idf = log((n_docs - df[i] + 0.5) / (df[i] + 0.5));
            if (tf == 0)
                continue;
            any = 1;
            if (idf <= 0)
                idf = 1e-6;
            s += idf * (tf * (k1 + 1)) /
                 (tf + k1 * (1 - b + b * len / (total / n_docs)));
        }
        if (!any || (want_grp >= 0 && m->grp[id] != want_grp) ||
            (even_only && id % 2))
            continue;
        out[n].id = id;
        out[n].score = s;
        n++;
    }
    qsort(out, n, sizeof *out, cmp_scored);
    return n;
}

static int even_ids(uint64_t id, void *ctx)
{
    (void)ctx;
    return id % 2 == 0;
}

/* Compare text-only vex_search of `qtext` (the words of q) with the
 * model; grp >= 0 adds the filter "grp = <grp>". */
static void check_text_query(vex_collection *c, const model *m,
                             const char *const *q, size_t nq, int grp, int even,
                             const char *phase)
{
    char qtext[256] = "";
    vex_search_params p;
    vex_search_stats st;
    vex_hit hits[20];
    scored want[N_IDS];
    size_t n = 0, nw, k = 20;
    vex_filter *f = NULL;
    for (size_t i = 0; i < nq; i++) {
        strcat(qtext, i ? " " : "");
        strcat(qtext, q[i]);
    }
    vex_search_params_init(&p);
    vex_search_stats_init(&st);
    p.text = qtext;
    p.stats = &st;
    if (grp >= 0) {
        char ft[32];
        snprintf(ft, sizeof ft, "grp = %d", grp);
        CHECK_RC(vex_filter_parse(c, ft, &f), VEX_OK);
        p.where = f;
    }
    if (even) {
        p.filter = even_ids;
    }
    CHECK_RC(vex_search(c, NULL, k, &p, hits, NULL, &n), VEX_OK);
    nw = model_bm25(m, q, nq, 1.2, 0.75, grp, even, want);
    CHECK_MSG(n == (nw < k ? nw : k), "%s: \"%s\": %zu hits, model %zu", phase,
              qtext, n, nw);
    for (size_t i = 0; i < n && i < nw; i++) {
        double got = -(double)hits[i].distance;
        /* ties in score may order differently only if the scores are
         * equal: then the ids are both in the model's top, by id */
        CHECK_MSG(fabs(got - want[i].score) <= 1e-4 * (1 + fabs(want[i].score)),
                  "%s: \"%s\" hit %zu: score %g, model %g", phase, qtext, i,
                  got, want[i].score);
        CHECK_MSG(hits[i].id == want[i].id ||
                      fabs(want[i].score - got) <= 1e-5 * (1 + fabs(got)),
                  "%s: \"%s\" hit %zu: id %llu, model %llu", phase, qtext, i,
                  (unsigned long long)hits[i].id,
                  (unsigned long long)want[i].id);
    }
    CHECK(st.legs == VEX_LEG_TEXT);
    CHECK(st.text_hits == n);
    CHECK(n == 0 || st.postings_read > 0);
    vex_filter_free(f);
}

static void check_all_queries(vex_collection *c, const model *m,
                              const char *phase)
{
    static const char *const q1[] = {"alpha"};
    static const char *const q2[] = {"bravo", "kilo"};
    static const char *const q3[] = {"xray", "alpha", "golf"};
    static const char *const q4[] = {"whiskey", "victor"};
    static const char *const q5[] = {"nosuchword"};
    check_text_query(c, m, q1, 1, -1, 0, phase);
    check_text_query(c, m, q2, 2, -1, 0, phase);
    check_text_query(c, m, q3, 3, -1, 0, phase);
    check_text_query(c, m, q4, 2, -1, 0, phase);
    check_text_query(c, m, q5, 1, -1, 0, phase);
    check_text_query(c, m, q2, 2, 1, 0, phase);
    check_text_query(c, m, q3, 3, 2, 0, phase);
    check_text_query(c, m, q4, 2, -1, 1, phase);
    check_text_query(c, m, q1, 1, -1, 1, phase);
}

static vex_collection *create_text(vex_db *db, const char *name, int kind)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = (vex_index_kind)kind;
    cfg.text = 1;
    CHECK_RC(vex_collection_create(db, name, &cfg, &c), VEX_OK);
    return c;
}

/* vex_db_verify's INFO findings about segment texts. */
static int count_text_info(void *ctx, const vex_finding *f)
{
    if (f->severity == VEX_SEVERITY_INFO && strstr(f->message, "text: ") &&
        strstr(f->message, "postings checked"))
        (*(int *)ctx)++;
    return 0;
}

/* The record split over segments and memtables, with deletes, upserts,
 * rows without text: BM25 equals the model's at every phase. */
static void test_bm25_split(void)
{
    vex_db *db = open_db("split");
    vex_collection *c = create_text(db, "docs", VEX_INDEX_FLAT);
    static model m;
    vex_meta *meta = NULL;
    vex_rng r;
    memset(&m, 0, sizeof m);
    vex_rng_seed(&r, test_seed(20));
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 150; i++) {
            uint64_t id = vex_rng_below(&r, N_IDS);
            put(c, &m, &r, id, meta, vex_rng_below(&r, 8) != 0);
        }
        for (int i = 0; i < 30; i++) {
            uint64_t id = vex_rng_below(&r, N_IDS);
            if (m.live[id]) {
                CHECK_RC(vex_delete(c, id), VEX_OK);
                m.live[id] = 0;
            }
        }
        if (round < 3)
            CHECK_RC(vex_flush(c), VEX_OK);
        check_all_queries(c, &m, round < 3 ? "segments" : "memtable");
    }
    CHECK_RC(vex_compact(c), VEX_OK);
    check_all_queries(c, &m, "compacted");
    /* more deletes after the compaction, then reopen: replay + segment */
    for (int i = 0; i < 40; i++) {
        uint64_t id = vex_rng_below(&r, N_IDS);
        if (m.live[id]) {
            CHECK_RC(vex_delete(c, id), VEX_OK);
            m.live[id] = 0;
        }
    }
    for (int i = 0; i < 40; i++)
        put(c, &m, &r, vex_rng_below(&r, N_IDS), meta, 1);
    check_all_queries(c, &m, "after compaction");
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = open_db("split");
    CHECK_RC(vex_collection_open(db, "docs", &c), VEX_OK);
    check_all_queries(c, &m, "reopened");
    {
        /* vex verify: every segment's postings checked, no damage */
        char path[512];
        vex_verify_options vo;
        vex_verify_report rep;
        int n_text = 0;
        snprintf(path, sizeof path, "%s/split", tmp_root);
        vex_verify_options_init(&vo);
        vex_verify_report_init(&rep);
        vo.report_info = 1;
        vo.on_finding = count_text_info;
        vo.ctx = &n_text;
        CHECK_RC(vex_db_verify(path, &vo, &rep), VEX_OK);
        CHECK_EQ_INT(rep.errors, 0);
        CHECK(n_text >= 1 && (uint64_t)n_text == rep.segments);
    }
    /* texts read back */
    for (uint64_t id = 0; id < N_IDS; id++) {
        char buf[200];
        size_t len = 0;
        int rc = vex_get_text(c, id, buf, sizeof buf, &len);
        if (!m.live[id]) {
            CHECK_RC(rc, VEX_NOTFOUND);
            continue;
        }
        CHECK_RC(rc, VEX_OK);
        CHECK(len == strlen(m.text[id]) && memcmp(buf, m.text[id], len) == 0);
    }
    vex_meta_free(meta);
    vex_collection_close(c);
    vex_db_close(db);
}

/* RRF and weighted-sum fusion computed here from the two legs. */
typedef struct fz {
    uint64_t id;
    double s;
} fz;

static void fuse_add(fz *acc, size_t *n, uint64_t id, double s)
{
    for (size_t i = 0; i < *n; i++)
        if (acc[i].id == id) {
            acc[i].s += s;
            return;
        }
    acc[*n].id = id;
    acc[*n].s = s;
    (*n)++;
}

static int cmp_fz(const void *a, const void *b)
{
    const fz *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void check_hybrid(vex_collection *c, const float *qv, const char *qt,
                         unsigned fusion)
{
    enum { K = 10, CAND = 30 };
    vex_search_params p;
    vex_search_stats st;
    vex_hit vh[CAND], th[CAND], hh[K];
    size_t nv = 0, nt = 0, nh = 0, na = 0;
    fz acc[2 * CAND];
    vex_search_params_init(&p);
    CHECK_RC(vex_search(c, qv, CAND, &p, vh, NULL, &nv), VEX_OK);
    p.text = qt;
    CHECK_RC(vex_search(c, NULL, CAND, &p, th, NULL, &nt), VEX_OK);
    p.fusion = fusion;
    p.text_candidates = CAND;
    p.rrf_k = 60.0f;
    p.vector_weight = 1.0f;
    p.text_weight = 0.5f;
    vex_search_stats_init(&st);
    p.stats = &st;
    CHECK_RC(vex_search(c, qv, K, &p, hh, NULL, &nh), VEX_OK);
    CHECK(st.legs == (VEX_LEG_TEXT | VEX_LEG_VECTOR));
    CHECK(st.vector_hits == nv && st.text_hits == nt);
    if (fusion == VEX_FUSION_RRF) {
        for (size_t i = 0; i < nv; i++)
            fuse_add(acc, &na, vh[i].id, 1.0 / (60.0 + (double)(i + 1)));
        for (size_t i = 0; i < nt; i++)
            fuse_add(acc, &na, th[i].id, 0.5 / (60.0 + (double)(i + 1)));
    } else {
        /* min-max: best 1, worst 0; all equal: 1 */
        double lo = vh[nv - 1].distance, hi = vh[0].distance;
        for (size_t i = 0; i < nv; i++)
            fuse_add(acc, &na, vh[i].id,
                     hi == lo ? 1.0
                              : ((double)vh[i].distance - lo) / (hi - lo));
        lo = -(double)th[nt - 1].distance;
        hi = -(double)th[0].distance;
        for (size_t i = 0; i < nt; i++)
            fuse_add(acc, &na, th[i].id,
                     0.5 * (hi == lo
                                ? 1.0
                                : (-(double)th[i].distance - lo) / (hi - lo)));
    }
    qsort(acc, na, sizeof *acc, cmp_fz);
    CHECK_EQ_INT(nh, na < K ? na : K);
    for (size_t i = 0; i < nh; i++) {
        CHECK_MSG(fabs(-(double)hh[i].distance - acc[i].s) <=
                      1e-3 * (1e-3 + fabs(acc[i].s)),
                  "fusion %u hit %zu: %g, here %g", fusion, i,
                  -(double)hh[i].distance, acc[i].s);
        CHECK_MSG(hh[i].id == acc[i].id ||
                      fabs(acc[i].s + (double)hh[i].distance) < 1e-6,
                  "fusion %u hit %zu: id %llu, here %llu", fusion, i,
                  (unsigned long long)hh[i].id, (unsigned long long)acc[i].id);
    }
}

static void test_hybrid_fusion(void)
{
    vex_db *db = open_db("fusion");
    vex_collection *c = create_text(db, "docs", VEX_INDEX_FLAT);
    static model m;
    vex_meta *meta = NULL;
    vex_rng r;
    float qv[DIM];
    memset(&m, 0, sizeof m);
    vex_rng_seed(&r, test_seed(21));
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    for (uint64_t id = 0; id < 300; id++) {
        put(c, &m, &r, id, meta, 1);
        if (id == 150)
            CHECK_RC(vex_flush(c), VEX_OK);
    }
    for (int t = 0; t < 5; t++) {
        for (int d = 0; d < DIM; d++)
            qv[d] = (float)vex_rng_normal(&r);
        check_hybrid(c, qv, t % 2 ? "alpha bravo" : "charlie delta echo",
                     VEX_FUSION_RRF);
        check_hybrid(c, qv, t % 2 ? "golf alpha" : "bravo", VEX_FUSION_SUM);
    }
    vex_meta_free(meta);
    vex_collection_close(c);
    vex_db_close(db);
}

/* Texts through every write path, projections, metadata updates. */
static void test_roundtrip(void)
{
    vex_db *db = open_db("round");
    vex_collection *c = create_text(db, "docs", VEX_INDEX_HNSW);
    vex_batch *b = NULL;
    vex_results *res = NULL;
    vex_meta *meta = NULL;
    vex_record rec;
    float v[DIM] = {1, 0, 0, 0, 0, 0, 0, 0};
    uint64_t ids[3] = {10, 11, 12};
    float vecs[3][DIM] = {{0, 1}, {0, 0, 1}, {0, 0, 0, 1}};
    vex_payload texts[3] = {{"Crème brûlée", 14}, {"", 0}, {"ΑΒΓ δέλτα", 17}};
    vex_search_params p;
    char buf[64];
    size_t len = 0, n = 0;
    const char *tp;
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    vex_record_init(&rec);
    rec.id = 1;
    rec.vector = v;
    rec.text = "hello world";
    rec.text_len = 11;
    CHECK_RC(vex_insert_record(c, &rec), VEX_OK);
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    rec.id = 2;
    rec.text = "batched text";
    rec.text_len = 12;
    CHECK_RC(vex_batch_insert_record(b, &rec), VEX_OK);
    CHECK_RC(vex_batch_commit(c, b), VEX_OK);
    CHECK_RC(vex_upsert_many_text(c, 3, ids, vecs, NULL, NULL, texts, &n),
             VEX_OK);
    CHECK_EQ_INT(n, 3);
    /* a metadata update keeps the text (memtable, then segment) */
    CHECK_RC(vex_meta_set_int(meta, "x", 1), VEX_OK);
    CHECK_RC(vex_update_meta(c, 1, meta), VEX_OK);
    CHECK_RC(vex_get_text(c, 1, buf, sizeof buf, &len), VEX_OK);
    CHECK(len == 11 && memcmp(buf, "hello world", 11) == 0);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_update_meta(c, 2, meta), VEX_OK);
    CHECK_RC(vex_get_text(c, 2, buf, sizeof buf, &len), VEX_OK);
    CHECK(len == 12 && memcmp(buf, "batched text", 12) == 0);
    CHECK_RC(vex_get_text(c, 11, buf, sizeof buf, &len), VEX_OK);
    CHECK_EQ_INT(len, 0);
    /* diacritics folded, Greek case-folded */
    vex_search_params_init(&p);
    CHECK_RC(vex_results_create(NULL, &res), VEX_OK);
    p.text = "CREME";
    CHECK_RC(vex_search_results(c, NULL, 5, &p, VEX_WITH_TEXT, res), VEX_OK);
    CHECK_EQ_INT(vex_results_count(res), 1);
    CHECK(vex_results_hits(res)[0].id == 10);
    CHECK_RC(vex_results_text(res, 0, &tp, &len), VEX_OK);
    CHECK(len == 14 && memcmp(tp, "Crème brûlée", 14) == 0);
    p.text = "αβγ";
    CHECK_RC(vex_search_results(c, NULL, 5, &p, VEX_WITH_TEXT, res), VEX_OK);
    CHECK(vex_results_count(res) == 1 && vex_results_hits(res)[0].id == 12);
    /* an upsert without a text drops it, and the id leaves the index */
    rec.id = 10;
    rec.text = NULL;
    rec.text_len = 0;
    CHECK_RC(vex_upsert_record(c, &rec), VEX_OK);
    CHECK_RC(vex_get_text(c, 10, buf, sizeof buf, &len), VEX_OK);
    CHECK_EQ_INT(len, 0);
    p.text = "creme";
    CHECK_RC(vex_search_results(c, NULL, 5, &p, 0, res), VEX_OK);
    CHECK_EQ_INT(vex_results_count(res), 0);
    CHECK_RC(vex_results_text(res, 0, &tp, &len), VEX_MISUSE);
    vex_results_free(res);
    vex_batch_free(b);
    vex_meta_free(meta);
    vex_collection_close(c);
    vex_db_close(db);
}

static void test_bad_input(void)
{
    vex_db *db = open_db("bad");
    vex_collection *c = create_text(db, "docs", VEX_INDEX_FLAT), *plain = NULL;
    vex_collection_config cfg;
    vex_search_params p;
    vex_record rec;
    vex_batch *b = NULL;
    vex_results *res = NULL;
    vex_hit hits[4];
    size_t n;
    float v[DIM] = {1};
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    CHECK_RC(vex_collection_create(db, "plain", &cfg, &plain), VEX_OK);
    cfg.text_stemmer = VEX_STEMMER_PORTER; /* without text */
    CHECK_RC(vex_collection_create(db, "bad1", &cfg, NULL), VEX_INVALID);
    cfg.text = 2;
    CHECK_RC(vex_collection_create(db, "bad2", &cfg, NULL), VEX_INVALID);
    vex_record_init(&rec);
    rec.id = 1;
    rec.vector = v;
    rec.text = "ok \xC3\x28 bad";
    rec.text_len = 9;
    CHECK_RC(vex_insert_record(c, &rec), VEX_INVALID);
    CHECK(coll_has(c, "UTF-8"));
    rec.text = NULL;
    CHECK_RC(vex_insert_record(c, &rec), VEX_INVALID);
    CHECK(coll_has(c, "NULL"));
    rec.text = "fine";
    rec.text_len = 4;
    CHECK_RC(vex_insert_record(plain, &rec), VEX_INVALID);
    CHECK(coll_has(plain, "no text field"));
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    CHECK_RC(vex_batch_insert_record(b, &rec), VEX_OK);
    CHECK_RC(vex_batch_commit(plain, b), VEX_INVALID);
    CHECK(coll_has(plain, "no text field"));
    CHECK_RC(vex_insert_record(c, &rec), VEX_OK);
    vex_search_params_init(&p);
    p.text = "fine";
    CHECK_RC(vex_search(plain, v, 4, &p, hits, NULL, &n), VEX_INVALID);
    CHECK(coll_has(plain, "no text field"));
    CHECK_RC(vex_search(c, NULL, 4, NULL, hits, NULL, &n), VEX_MISUSE);
    p.text = "\xFF";
    CHECK_RC(vex_search(c, NULL, 4, &p, hits, NULL, &n), VEX_INVALID);
    CHECK(coll_has(c, "UTF-8"));
    p.text = "fine";
    p.bm25_b = 1.5f;
    CHECK_RC(vex_search(c, NULL, 4, &p, hits, NULL, &n), VEX_INVALID);
    CHECK(coll_has(c, "bm25_b"));
    p.bm25_b = 0.75f;
    p.fusion = 7;
    CHECK_RC(vex_search(c, v, 4, &p, hits, NULL, &n), VEX_INVALID);
    CHECK(coll_has(c, "fusion"));
    p.fusion = VEX_FUSION_RRF;
    p.text_weight = 0;
    p.vector_weight = 0;
    CHECK_RC(vex_search(c, v, 4, &p, hits, NULL, &n), VEX_INVALID);
    p.text_weight = 1;
    p.vector_weight = 1;
    CHECK_RC(vex_search_batch(c, v, 1, 4, &p, hits, &n), VEX_INVALID);
    CHECK_RC(vex_results_create(NULL, &res), VEX_OK);
    CHECK_RC(vex_range_search(c, v, 1.0f, 4, &p, 0, res), VEX_INVALID);
    CHECK(coll_has(c, "range"));
    CHECK_RC(vex_search(c, v, 4, &p, hits, NULL, &n), VEX_OK);
    CHECK_EQ_INT(n, 1);
    vex_results_free(res);
    vex_batch_free(b);
    vex_collection_close(plain);
    vex_collection_close(c);
    vex_db_close(db);
}

/* Keyword searches while a writer upserts, deletes and flushes: every
 * hit's text (read from the search's snapshot) holds the query word, and
 * every search succeeds (TSan runs this case: the memtable's keyword
 * index is read while rows are appended). */
typedef struct conc {
    vex_collection *c;
    _Atomic int stop;
    _Atomic int bad;
} conc;

static void *conc_reader(void *arg)
{
    conc *x = arg;
    vex_results *res = NULL;
    vex_search_params p;
    unsigned i = 0;
    if (vex_results_create(NULL, &res) != VEX_OK) {
        atomic_store(&x->bad, 1);
        return NULL;
    }
    vex_search_params_init(&p);
    while (!atomic_load(&x->stop)) {
        const char *w = voc[i++ % 6];
        p.text = w;
        if (vex_search_results(x->c, NULL, 20, &p, VEX_WITH_TEXT, res) !=
            VEX_OK) {
            atomic_store(&x->bad, 1);
            break;
        }
        for (size_t h = 0; h < vex_results_count(res); h++) {
            const char *t;
            size_t len;
            char buf[200];
            if (vex_results_text(res, h, &t, &len) != VEX_OK || len == 0 ||
                len >= sizeof buf) {
                atomic_store(&x->bad, 2);
                continue;
            }
            memcpy(buf, t, len);
            buf[len] = '\0';
            if (strstr(buf, w) == NULL)
                atomic_store(&x->bad, 3);
        }
    }
    vex_results_free(res);
    return NULL;
}

static void test_concurrent(void)
{
    vex_db *db = open_db("conc");
    vex_collection *c = create_text(db, "docs", VEX_INDEX_HNSW);
    static model m;
    vex_meta *meta = NULL;
    pthread_t th[2];
    conc x;
    vex_rng r;
    memset(&m, 0, sizeof m);
    vex_rng_seed(&r, test_seed(22));
    CHECK_RC(vex_meta_create(NULL, &meta), VEX_OK);
    x.c = c;
    atomic_init(&x.stop, 0);
    atomic_init(&x.bad, 0);
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, conc_reader, &x) == 0);
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 200; i++) {
            uint64_t id = vex_rng_below(&r, N_IDS);
            if (vex_rng_below(&r, 5) == 0 && m.live[id]) {
                CHECK_RC(vex_delete(c, id), VEX_OK);
                m.live[id] = 0;
            } else {
                put(c, &m, &r, id, meta, 1);
            }
        }
        CHECK_RC(vex_flush(c), VEX_OK);
        if (round == 3)
            CHECK_RC(vex_compact(c), VEX_OK);
    }
    atomic_store(&x.stop, 1);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    CHECK_EQ_INT(atomic_load(&x.bad), 0);
    check_all_queries(c, &m, "after concurrency");
    vex_meta_free(meta);
    vex_collection_close(c);
    vex_db_close(db);
}

int main(void)
{
    make_root();
    TEST_RUN(test_bm25_split);
    TEST_RUN(test_hybrid_fusion);
    TEST_RUN(test_roundtrip);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_concurrent);
    rm_rf(tmp_root);
    return TEST_EXIT();
}
