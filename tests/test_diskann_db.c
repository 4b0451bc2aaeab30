/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_diskann_db.c - DiskANN segments through the public API.
 *
 * A collection with diskann_min_rows is filled, flushed and compacted:
 * its segment must then be a DiskANN one (vex_stats_segments,
 * vex_stats), searches must keep recall@10 against a brute-force oracle
 * (plain, and filtered at 1%, 10% and 50% through every plan), report
 * their reads (vex_search_stats.io_*), return the vectors exactly as
 * stored (L2 and cosine), respect deletes before and after the next
 * compaction, survive a reopen, fill the node cache within the
 * database's budget, and pass vex_db_verify. A flipped byte in a node
 * page is VEX_CORRUPT from the search that reads it and a finding of
 * vex_db_verify, never a crash or a wrong answer. Bad settings are
 * refused with messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/rng.h"
#include "vecgen.h"
#include "vexdb.h"

#define DIM 24
#define N   3000
#define K   10

static char tmp_root[256];

static vex_db *open_db(const char *name, uint64_t cache)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.background_threads = 1;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.diskann_cache_bytes = cache;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static void cfg_of(vex_collection_config *cfg, vex_metric m)
{
    vex_collection_config_init(cfg);
    cfg->dim = DIM;
    cfg->metric = m;
    cfg->hnsw_m = 12;
    cfg->diskann_min_rows = 500;
    cfg->diskann_r = 32;
    cfg->diskann_l = 64;
}

/* ids 1..N, group = id % 100 (a filter on it selects 1%..100%) */
static void fill(vex_collection *c, const float *v, size_t n)
{
    vex_meta *m = NULL;
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (size_t i = 0; i < n; i++) {
        vex_meta_clear(m);
        CHECK_RC(vex_meta_set_int(m, "g", (int64_t)((i + 1) % 100)), VEX_OK);
        CHECK_RC(vex_insert_meta(c, i + 1, v + i * DIM, m), VEX_OK);
    }
    vex_meta_free(m);
}

/* Exact top-k ids of q among live ids accepted by (g < lim). */
static size_t oracle(vex_metric met, const float *v, const uint8_t *dead,
                     const float *q, int64_t lim, uint64_t *out)
{
    float best[K];
    size_t n = 0;
    for (size_t i = 0; i < N; i++) {
        float d;
        size_t j;
        if (dead[i] || (int64_t)((i + 1) % 100) >= lim)
            continue;
        d = vecgen_dist(met, q, v + i * DIM, DIM);
        if (n == K && d >= best[K - 1])
            continue;
        j = n < K ? n++ : K - 1;
        while (j > 0 && best[j - 1] > d) {
            best[j] = best[j - 1];
            out[j] = out[j - 1];
            j--;
        }
        best[j] = d;
        out[j] = i + 1;
    }
    return n;
}

/* Mean recall@10 over `nq` queries with filter g < lim (100: none). */
static double recall(vex_collection *c, vex_metric met, const float *v,
                     const uint8_t *dead, const float *qs, size_t nq,
                     int64_t lim, uint64_t *io_reads)
{
    double sum = 0;
    vex_filter *f = NULL;
    if (lim < 100) {
        char text[64];
        snprintf(text, sizeof text, "g < %lld", (long long)lim);
        CHECK_RC(vex_filter_parse(c, text, &f), VEX_OK);
    }
    for (size_t i = 0; i < nq; i++) {
        vex_search_params p;
        vex_search_stats st;
        vex_hit hits[K];
        uint64_t want[K];
        size_t n = 0, m = oracle(met, v, dead, qs + i * DIM, lim, want),
               hit = 0;
        vex_search_params_init(&p);
        vex_search_stats_init(&st);
        p.where = f;
        p.stats = &st;
        p.ef_search = 80;
        CHECK_RC(vex_search(c, qs + i * DIM, K, &p, hits, NULL, &n), VEX_OK);
        CHECK_EQ_INT(n, m);
        for (size_t a = 0; a < n; a++) {
            CHECK(!dead[hits[a].id - 1]);
            CHECK(lim >= 100 || (int64_t)(hits[a].id % 100) < lim);
            for (size_t b = 0; b < m; b++)
                hit += hits[a].id == want[b];
        }
        sum += m ? (double)hit / (double)m : 1.0;
        if (io_reads)
            *io_reads += st.io_reads;
    }
    vex_filter_free(f);
    return sum / (double)nq;
}

/* vex_db_verify's findings on stderr (a failing check then says why). */
static int print_finding(void *ctx, const vex_finding *f)
{
    (void)ctx;
    if (f->severity != VEX_SEVERITY_INFO)
        fprintf(stderr, "  finding: %s: %s\n", f->file ? f->file : "-",
                f->message);
    return 0;
}

static int verify_db(const char *name)
{
    char path[512];
    vex_verify_options o;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_verify_options_init(&o);
    o.on_finding = print_finding;
    return vex_db_verify(path, &o, NULL);
}

static void segments_are(vex_collection *c, uint32_t want_dann)
{
    vex_stats st;
    vex_segment_stats segs[8];
    size_t n = 0, dann = 0;
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK_RC(vex_stats_segments(c, segs, 8, &n), VEX_OK);
    for (size_t i = 0; i < n && i < 8; i++)
        dann += segs[i].index_kind == VEX_INDEX_DISKANN;
    CHECK_EQ_INT(dann, want_dann);
    CHECK_EQ_INT(st.diskann_segments, want_dann);
}

static void run_metric(vex_metric met, const char *name)
{
    vex_rng r;
    float *v, *qs, back[DIM];
    uint8_t dead[N];
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_db *db;
    uint64_t reads = 0;
    double rc1;
    vex_rng_seed(&r, test_seed(11) + (uint64_t)met);
    v = vecgen_clustered(&r, N, DIM, 7);
    qs = vecgen_clustered(&r, 40, DIM, 7);
    memset(dead, 0, sizeof dead);
    db = open_db(name, 0);
    cfg_of(&cfg, met);
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    fill(c, v, N);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_compact(c), VEX_OK);
    segments_are(c, 1);

    /* the stored vectors, bit for bit */
    for (uint64_t id = 1; id <= N; id += 97) {
        CHECK_RC(vex_get(c, id, back), VEX_OK);
        CHECK(memcmp(back, v + (id - 1) * DIM, sizeof back) == 0);
    }
    rc1 = recall(c, met, v, dead, qs, 40, 100, &reads);
    CHECK_MSG(rc1 >= 0.95, "%s recall %.3f", name, rc1);
    CHECK(reads > 0);
    /* filtered: 1% (exact plan), 10% and 50% (walks) */
    CHECK_MSG(recall(c, met, v, dead, qs, 40, 1, NULL) >= 0.99, "%s 1%%", name);
    CHECK_MSG(recall(c, met, v, dead, qs, 40, 10, NULL) >= 0.9, "%s 10%%",
              name);
    CHECK_MSG(recall(c, met, v, dead, qs, 40, 50, NULL) >= 0.95, "%s 50%%",
              name);

    /* deletes: gone at once, and after the compaction that reclaims them */
    for (uint64_t id = 5; id <= N; id += 7) {
        CHECK_RC(vex_delete(c, id), VEX_OK);
        dead[id - 1] = 1;
    }
    CHECK(recall(c, met, v, dead, qs, 40, 100, NULL) >= 0.95);
    CHECK_RC(vex_get(c, 5, back), VEX_NOTFOUND);
    CHECK_RC(vex_compact(c), VEX_OK);
    segments_are(c, 1);
    CHECK(recall(c, met, v, dead, qs, 40, 100, NULL) >= 0.95);
    CHECK(recall(c, met, v, dead, qs, 40, 10, NULL) >= 0.9);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* reopen with a node cache: same answers, cache hits, within budget */
    db = open_db(name, UINT64_C(1) << 20);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    {
        vex_search_params p;
        vex_search_stats st;
        vex_stats s;
        vex_hit hits[K];
        size_t n = 0;
        vex_search_params_init(&p);
        vex_search_stats_init(&st);
        p.stats = &st;
        p.beam_width = 8;
        CHECK_RC(vex_search(c, qs, K, &p, hits, NULL, &n), VEX_OK);
        CHECK_EQ_INT(n, K);
        CHECK(st.io_cache_hits > 0);
        vex_stats_init(&s);
        CHECK_RC(vex_stats_get(c, &s), VEX_OK);
        CHECK(s.diskann_cache_bytes > 0);
        CHECK(s.diskann_cache_bytes <= (UINT64_C(1) << 20) / 2);
        CHECK(s.diskann_resident_bytes > s.diskann_cache_bytes);
        p.beam_width = 65;
        CHECK_RC(vex_search(c, qs, K, &p, hits, NULL, &n), VEX_INVALID);
    }
    CHECK(recall(c, met, v, dead, qs, 40, 100, NULL) >= 0.95);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    CHECK_RC(verify_db(name), VEX_OK);
    free(v);
    free(qs);
}

static void test_l2(void)
{
    run_metric(VEX_METRIC_L2, "l2");
}

static void test_cosine(void)
{
    run_metric(VEX_METRIC_COSINE, "cos");
}

/* The one DiskANN segment file of collection c in database `name`. */
static int seg_file(const char *name, char *out, size_t size)
{
    char cmd[700];
    FILE *p;
    snprintf(cmd, sizeof cmd, "ls %s/%s/collections/c/seg-*.vseg", tmp_root,
             name);
    p = popen(cmd, "r");
    if (p == NULL || fgets(out, (int)size, p) == NULL) {
        if (p)
            pclose(p);
        return 0;
    }
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
    return 1;
}

static void test_damage(void)
{
    vex_rng r;
    float *v, *qs;
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_db *db;
    char file[600];
    int saw_corrupt = 0;
    vex_rng_seed(&r, test_seed(99));
    v = vecgen_clustered(&r, N, DIM, 3);
    qs = vecgen_clustered(&r, 20, DIM, 3);
    db = open_db("damage", 0);
    cfg_of(&cfg, VEX_METRIC_L2);
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    fill(c, v, N);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_compact(c), VEX_OK);
    segments_are(c, 1);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    /* a byte in the middle of the last node page (the end of the file) */
    CHECK(seg_file("damage", file, sizeof file));
    {
        FILE *f = fopen(file, "r+b");
        long size;
        int ch;
        CHECK(f != NULL);
        if (f) {
            fseek(f, 0, SEEK_END);
            size = ftell(f);
            fseek(f, size - 2000, SEEK_SET);
            ch = fgetc(f);
            fseek(f, size - 2000, SEEK_SET);
            fputc(ch ^ 0x40, f);
            fclose(f);
        }
    }
    CHECK(verify_db("damage") == VEX_CORRUPT);
    db = open_db("damage", 0);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    /* searches that read the page fail with VEX_CORRUPT; the others
     * answer (the walk need not reach that page) */
    for (int i = 0; i < 20 && c; i++) {
        vex_hit hits[K];
        size_t n = 0;
        vex_search_params p;
        int rc;
        vex_search_params_init(&p);
        p.ef_search = 400;
        rc = vex_search(c, qs + i * DIM, K, &p, hits, NULL, &n);
        CHECK(rc == VEX_OK || rc == VEX_CORRUPT);
        if (rc == VEX_CORRUPT) {
            saw_corrupt = 1;
            CHECK(strstr(vex_collection_errmsg(c), "checksum") != NULL);
        }
    }
    {
        /* every row's vector: the damaged page's rows are VEX_CORRUPT */
        float back[DIM];
        int bad = 0;
        for (uint64_t id = 1; id <= N; id++) {
            int rc = vex_get(c, id, back);
            CHECK(rc == VEX_OK || rc == VEX_CORRUPT);
            if (rc == VEX_OK)
                CHECK(memcmp(back, v + (id - 1) * DIM, sizeof back) == 0);
            bad += rc == VEX_CORRUPT;
        }
        CHECK(bad > 0);
        (void)saw_corrupt; /* a walk may or may not pass that page */
    }
    vex_collection_close(c);
    vex_db_close(db);
    free(v);
    free(qs);
}

/* The policy converts a flushed segment past diskann_min_rows in the
 * background, with every other compaction rule off. */
static void test_background(void)
{
    vex_rng r;
    float *v;
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_db *db = open_db("bg", 0);
    vex_stats st;
    int waited = 0;
    vex_rng_seed(&r, test_seed(5));
    v = vecgen_clustered(&r, 800, DIM, 5);
    cfg_of(&cfg, VEX_METRIC_L2);
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    fill(c, v, 800);
    CHECK_RC(vex_flush(c), VEX_OK);
    vex_stats_init(&st);
    do {
        usleep(20000);
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    } while (st.diskann_segments == 0 && ++waited < 1500);
    CHECK_EQ_INT(st.diskann_segments, 1);
    CHECK_EQ_INT(st.segments, 1);
    CHECK_EQ_INT(st.live_rows, 800);
    vex_collection_close(c);
    vex_db_close(db);
    free(v);
}

static void test_bad_settings(void)
{
    vex_db *db = open_db("bad", 0);
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_index_options io;
    vex_index *ix = NULL;
    cfg_of(&cfg, VEX_METRIC_IP);
    CHECK_RC(vex_collection_create(db, "ip", &cfg, &c), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(db), "DiskANN") != NULL);
    cfg_of(&cfg, VEX_METRIC_L2);
    cfg.diskann_r = 2;
    CHECK_RC(vex_collection_create(db, "r", &cfg, &c), VEX_INVALID);
    cfg_of(&cfg, VEX_METRIC_L2);
    cfg.diskann_l = 8; /* below R */
    CHECK_RC(vex_collection_create(db, "l", &cfg, &c), VEX_INVALID);
    cfg_of(&cfg, VEX_METRIC_L2);
    cfg.diskann_alpha = 3.0f;
    CHECK_RC(vex_collection_create(db, "a", &cfg, &c), VEX_INVALID);
    cfg_of(&cfg, VEX_METRIC_L2);
    cfg.diskann_pq_m = DIM + 1;
    CHECK_RC(vex_collection_create(db, "m", &cfg, &c), VEX_INVALID);
    cfg_of(&cfg, VEX_METRIC_L2);
    cfg.diskann_min_rows = 0; /* settings without the switch */
    CHECK_RC(vex_collection_create(db, "z", &cfg, &c), VEX_INVALID);
    /* a collection without DiskANN refuses beam_width */
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    CHECK_RC(vex_collection_create(db, "plain", &cfg, &c), VEX_OK);
    {
        float q[DIM] = {1};
        vex_hit hits[1];
        size_t n;
        vex_search_params p;
        vex_search_params_init(&p);
        p.beam_width = 4;
        CHECK_RC(vex_search(c, q, 1, &p, hits, NULL, &n), VEX_INVALID);
    }
    /* the stored, resolved settings come back */
    vex_collection_close(c);
    cfg_of(&cfg, VEX_METRIC_L2);
    cfg.diskann_r = 0;
    CHECK_RC(vex_collection_create(db, "res", &cfg, &c), VEX_OK);
    {
        vex_collection_config got;
        vex_collection_config_init(&got);
        vex_collection_get_config(c, &got);
        CHECK_EQ_INT(got.diskann_min_rows, 500);
        CHECK_EQ_INT(got.diskann_r, 64);
        CHECK_EQ_INT(got.diskann_l, 64);
        CHECK(got.diskann_alpha == 1.2f);
        CHECK_EQ_INT(got.diskann_pq_m, DIM / 4);
    }
    vex_collection_close(c);
    vex_db_close(db);
    /* a vex_index is never DiskANN */
    vex_index_options_init(&io);
    io.dim = DIM;
    io.kind = VEX_INDEX_DISKANN;
    CHECK(vex_index_create(&io, &ix) != VEX_OK);
    vex_index_free(ix);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_diskann_db_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_l2);
    TEST_RUN(test_cosine);
    TEST_RUN(test_damage);
    TEST_RUN(test_background);
    TEST_RUN(test_bad_settings);
    rm_rf(tmp_root);
    return TEST_EXIT();
}
