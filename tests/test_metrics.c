/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c - vex_metrics_text through the public API: the output is
 * read back by a small strict parser of the Prometheus text format
 * (HELP and TYPE before a family's samples, each family once, label
 * syntax and escapes, numbers, cumulative histogram buckets ending in
 * +Inf with _count equal to it), and each metric is checked for what it
 * means: a write, a search of each kind, a filtered search's plan, a
 * flush, a compaction move the series that say so, by the right amount.
 * The parser is checked to refuse broken texts, so it can fail.
 */
#include "test.h"
#include "obs_parse.h"
#include "vexdb.h"

static char tmp_root[256];

#define DIM 8

static void vec_of(uint64_t id, float *v)
{
    for (int j = 0; j < DIM; j++)
        v[j] =
            (float)((id * 2654435761u + (uint64_t)j * 40503u) % 1000) / 100.0f;
}

static int metrics(vex_db *db, prom_doc *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc = vex_metrics_text(db, &text, &len);
    CHECK_RC(rc, VEX_OK);
    if (rc != VEX_OK)
        return 0;
    CHECK(strlen(text) == len);
    rc = prom_parse(text, d);
    CHECK_MSG(rc == 0, "parse: %s", d->why);
    vex_metrics_free(db, text);
    return rc == 0;
}

/* The value of series `name` of collection "c" with one more label
 * ("" for none); -1 when absent. */
static double val(const prom_doc *d, const char *name, const char *extra)
{
    char want[128];
    snprintf(want, sizeof want, "collection=\"c\"%s%s", extra[0] ? "," : "",
             extra);
    return prom_get(d, name, want);
}

static void insert_rows(vex_collection *c, uint64_t from, uint64_t n)
{
    vex_meta *m = NULL;
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (uint64_t id = from; id < from + n; id++) {
        float v[DIM];
        vec_of(id, v);
        CHECK_RC(vex_meta_set_int(m, "g", (int64_t)(id % 10)), VEX_OK);
        CHECK_RC(vex_insert_meta(c, id, v, m), VEX_OK);
    }
    vex_meta_free(m);
}

static void test_meaning(void)
{
    char path[300];
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    prom_doc d;
    float q[DIM];
    vex_hit hits[10 * 4];
    size_t n = 0, nh[4];
    vex_segment_stats segs[2];
    size_t n_segs = 0;

    snprintf(path, sizeof path, "%s/meaning", tmp_root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.compact_min_merge = 0; /* compactions only when asked */
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);

    /* nothing yet: every series is there at 0 */
    if (metrics(db, &d)) {
        CHECK(val(&d, "vex_writes_total", "") == 0);
        CHECK(val(&d, "vex_searches_total", "kind=\"knn\"") == 0);
        CHECK(val(&d, "vex_flush_seconds_count", "") == 0);
        CHECK(prom_get(&d, "vex_db_open_collections", "") == 1);
        prom_free(&d);
    }

    insert_rows(c, 0, 100);
    vec_of(7, q);
    for (int i = 0; i < 3; i++)
        CHECK_RC(vex_search(c, q, 10, NULL, hits, NULL, &n), VEX_OK);
    if (metrics(db, &d)) {
        CHECK(val(&d, "vex_writes_total", "") == 100);
        CHECK(val(&d, "vex_write_rows_total", "") == 100);
        CHECK(val(&d, "vex_write_seconds_count", "") == 100);
        /* group commit: every write was a synced append of one row */
        CHECK(val(&d, "vex_log_sync_seconds_count", "") == 100);
        CHECK(val(&d, "vex_log_sync_rows_sum", "") == 100);
        CHECK(val(&d, "vex_log_sync_rows_bucket", "le=\"1\"") == 100);
        CHECK(val(&d, "vex_searches_total", "kind=\"knn\"") == 3);
        CHECK(val(&d, "vex_searches_total", "kind=\"range\"") == 0);
        CHECK(val(&d, "vex_search_seconds_count", "kind=\"knn\"") == 3);
        CHECK(val(&d, "vex_search_seconds_sum", "kind=\"knn\"") > 0);
        /* one source (the memtable), searched without a filter */
        CHECK(val(&d, "vex_search_sources_total", "plan=\"unfiltered\"") == 3);
        CHECK(val(&d, "vex_search_sources_total", "plan=\"exact\"") == 0);
        CHECK(val(&d, "vex_rows", "") == 100);
        CHECK(val(&d, "vex_segments", "") == 0);
        CHECK(val(&d, "vex_memtable_fill_ratio", "") > 0);
        CHECK(val(&d, "vex_memory_bytes", "part=\"memtable_vectors\"") ==
              100.0 * DIM * 4);
        CHECK(val(&d, "vex_flush_seconds_count", "") == 0);
        prom_free(&d);
    }

    CHECK_RC(vex_flush(c), VEX_OK);
    if (metrics(db, &d)) {
        CHECK(val(&d, "vex_flush_seconds_count", "") == 1);
        CHECK(val(&d, "vex_flush_seconds_bucket", "le=\"+Inf\"") == 1);
        CHECK(val(&d, "vex_flush_rows_total", "") == 100);
        CHECK(val(&d, "vex_flush_bytes_total", "") > 0);
        CHECK(val(&d, "vex_flush_errors_total", "") == 0);
        CHECK(val(&d, "vex_segments", "") == 1);
        CHECK(val(&d, "vex_disk_bytes", "") >=
              val(&d, "vex_flush_bytes_total", ""));
        CHECK(val(&d, "vex_memory_bytes", "part=\"segment_index\"") > 0);
        CHECK(val(&d, "vex_memory_bytes", "part=\"memtable_vectors\"") == 0);
        prom_free(&d);
    }

    /* a filtered search of the segment: 10 matches of 100 rows is the
     * exact plan; range and batch count under their kinds */
    {
        vex_filter *f = NULL;
        vex_search_params p;
        vex_results *r = NULL;
        CHECK_RC(vex_filter_parse(c, "g = 3", &f), VEX_OK);
        vex_search_params_init(&p);
        p.where = f;
        CHECK_RC(vex_search(c, q, 5, &p, hits, NULL, &n), VEX_OK);
        CHECK(n == 5);
        CHECK_RC(vex_results_create(NULL, &r), VEX_OK);
        CHECK_RC(vex_range_search(c, q, 1e9f, 5, NULL, 0, r), VEX_OK);
        vex_results_free(r);
        CHECK_RC(vex_search_batch(c, q, 1, 10, NULL, hits, nh), VEX_OK);
        vex_filter_free(f);
    }
    if (metrics(db, &d)) {
        CHECK(val(&d, "vex_search_sources_total", "plan=\"exact\"") == 1);
        CHECK(val(&d, "vex_search_sources_total", "plan=\"graph\"") == 0);
        CHECK(val(&d, "vex_searches_total", "kind=\"knn\"") == 4);
        CHECK(val(&d, "vex_searches_total", "kind=\"range\"") == 1);
        CHECK(val(&d, "vex_searches_total", "kind=\"batch\"") == 1);
        CHECK(val(&d, "vex_search_seconds_count", "kind=\"range\"") == 1);
        /* unfiltered: 3 of the memtable, then range and batch over the
         * segment (the empty memtable is not searched) */
        CHECK(val(&d, "vex_search_sources_total", "plan=\"unfiltered\"") == 5);
        /* the segment's index is open: its sections by part (flat: no
         * graph, no codes) */
        CHECK(val(&d, "vex_memory_bytes", "part=\"segment_vectors\"") >=
              100.0 * DIM * 4);
        CHECK(val(&d, "vex_memory_bytes", "part=\"segment_graph\"") == 0);
        CHECK(val(&d, "vex_memory_bytes", "part=\"segment_codes\"") == 0);
        CHECK(val(&d, "vex_memory_bytes", "part=\"segment_index\"") >=
              100.0 * 8); /* the ids */
        prom_free(&d);
    }

    /* a failed search counts as an error */
    CHECK_RC(vex_search(c, q, 0, NULL, hits, NULL, &n), VEX_INVALID);
    insert_rows(c, 100, 50);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_stats_segments(c, segs, 2, &n_segs), VEX_OK);
    CHECK(n_segs == 2);
    CHECK_RC(vex_delete(c, 3), VEX_OK);
    CHECK_RC(vex_compact(c), VEX_OK);
    if (metrics(db, &d)) {
        CHECK(val(&d, "vex_search_errors_total", "") == 1);
        CHECK(val(&d, "vex_flush_seconds_count", "") == 2);
        CHECK(val(&d, "vex_flush_rows_total", "") == 150);
        CHECK(val(&d, "vex_compaction_seconds_count", "") == 1);
        CHECK(val(&d, "vex_compaction_bytes_in_total", "") ==
              (double)(segs[0].file_bytes + segs[1].file_bytes));
        CHECK(val(&d, "vex_compaction_bytes_out_total", "") > 0);
        CHECK(val(&d, "vex_compaction_rows_total", "") == 149);
        CHECK(val(&d, "vex_segments", "") == 1);
        CHECK(val(&d, "vex_rows", "") == 149);
        CHECK(val(&d, "vex_background_errors_total", "") == 0);
        CHECK(val(&d, "vex_collection_sticky", "") == 0);
        CHECK(prom_get(&d, "vex_db_degraded", "") == 0);
        prom_free(&d);
    }
    CHECK_RC(vex_collection_close(c), VEX_OK);
    /* a closed collection's series are gone */
    if (metrics(db, &d)) {
        CHECK(val(&d, "vex_writes_total", "") == -1);
        CHECK(prom_get(&d, "vex_db_open_collections", "") == 0);
        prom_free(&d);
    }
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* Label values are escaped: a database path with a quote and a
 * backslash comes back intact through the parser. */
static void test_escape(void)
{
    char path[300];
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    prom_doc d;
    snprintf(path, sizeof path, "%s/we\"ird\\name", tmp_root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    if (metrics(db, &d)) {
        char want[700];
        size_t n = 0;
        n += (size_t)snprintf(want, sizeof want, "db=\"");
        for (const char *q = path; *q; q++) {
            if (*q == '"' || *q == '\\')
                want[n++] = '\\';
            want[n++] = *q;
        }
        snprintf(want + n, sizeof want - n, "\"");
        CHECK(prom_get(&d, "vex_rows", want) == 0);
        prom_free(&d);
    }
    CHECK_RC(vex_metrics_text(NULL, NULL, NULL), VEX_MISUSE);
    {
        /* the handle of a failed open explains itself, has no metrics */
        vex_db *bad = NULL;
        vex_db_options b;
        vex_health h;
        char *t = NULL;
        vex_db_options_init(&b);
        b.background_threads = 99;
        CHECK(vex_db_open(path, &b, &bad) == VEX_INVALID);
        CHECK_RC(vex_metrics_text(bad, &t, NULL), VEX_MISUSE);
        CHECK(t == NULL);
        vex_health_init(&h);
        CHECK_RC(vex_db_health(bad, &h), VEX_OK);
        CHECK(!h.degraded);
        vex_db_close(bad);
    }
    CHECK_RC(vex_metrics_text(db, NULL, NULL), VEX_MISUSE);
    vex_metrics_free(db, NULL);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* Explain: one entry per source with its plan, the reason, the
 * estimate and what it found, and the work it did. */
static void test_explain(void)
{
    char path[300];
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_search_stats st;
    vex_source_explain ex[4];
    vex_search_params p;
    vex_filter *f = NULL;
    vex_hit hits[10];
    size_t n = 0;
    float q[DIM];
    snprintf(path, sizeof path, "%s/explain", tmp_root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.compact_min_merge = 0;
    o.durability = VEX_DURABILITY_NONE;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    insert_rows(c, 0, 10000); /* g = id % 10 */
    CHECK_RC(vex_flush(c), VEX_OK);
    insert_rows(c, 10000, 100); /* a memtable below memtable_exact_rows */
    vec_of(5, q);

    /* unfiltered: the memtable scanned, the segment's graph walked */
    vex_search_params_init(&p);
    vex_search_stats_init(&st);
    st.explain = ex;
    st.explain_cap = 4;
    p.stats = &st;
    CHECK_RC(vex_search(c, q, 10, &p, hits, NULL, &n), VEX_OK);
    CHECK(st.n_explain == 2);
    CHECK(strcmp(ex[0].kind, "memtable") == 0 && ex[0].segment == 0);
    CHECK(ex[0].searched && ex[0].plan == VEX_PLAN_UNFILTERED);
    CHECK(ex[0].rows == 100 && ex[0].rows_scanned == 100 &&
          ex[0].distances == 100 && ex[0].nodes_visited == 0);
    CHECK(strcmp(ex[1].kind, "segment") == 0 && ex[1].segment > 0);
    CHECK(ex[1].plan == VEX_PLAN_UNFILTERED && ex[1].has_graph);
    CHECK(ex[1].rows == 10000 && ex[1].nodes_visited > 0);
    CHECK(ex[1].distances >= ex[1].nodes_visited);
    CHECK(ex[1].distances < 10000); /* a walk, not a scan */
    CHECK(ex[1].est_matches == UINT64_MAX && ex[1].matches == UINT64_MAX);
    CHECK(strstr(ex[1].reason, "no filter") != NULL);
    CHECK(ex[1].time_ns > 0);
    {
        char *text = NULL;
        prom_doc d;
        CHECK_RC(vex_metrics_text(db, &text, NULL), VEX_OK);
        if (text && prom_parse(text, &d) == 0) {
            CHECK(val(&d, "vex_memory_bytes", "part=\"segment_graph\"") > 0);
            CHECK(val(&d, "vex_memory_bytes", "part=\"segment_vectors\"") >=
                  10000.0 * DIM * 4);
            prom_free(&d);
        }
        vex_metrics_free(db, text);
    }

    /* exact: 1,000 of 10,000 rows match (<= 4096) */
    CHECK_RC(vex_filter_parse(c, "g = 3", &f), VEX_OK);
    p.where = f;
    CHECK_RC(vex_search(c, q, 10, &p, hits, NULL, &n), VEX_OK);
    CHECK(ex[1].plan == VEX_PLAN_EXACT);
    CHECK(ex[1].est_matches == 1000 && ex[1].matches == 1000);
    CHECK(ex[1].rows_scanned == 1000 && ex[1].distances == 1000);
    CHECK(strstr(ex[1].reason, "1000 of 10000 rows (<= 4096)") != NULL);
    /* the memtable's matches are not counted; it has no graph yet */
    CHECK(ex[0].plan == VEX_PLAN_EXACT && ex[0].est_matches == UINT64_MAX);
    vex_filter_free(f);

    /* graph: 5,000 of 10,000 */
    CHECK_RC(vex_filter_parse(c, "g < 5", &f), VEX_OK);
    p.where = f;
    CHECK_RC(vex_search(c, q, 10, &p, hits, NULL, &n), VEX_OK);
    CHECK(ex[1].plan == VEX_PLAN_GRAPH && !ex[1].fell_back);
    CHECK(ex[1].est_matches == 5000 && ex[1].matches >= 10);
    CHECK(ex[1].nodes_visited > 0 && ex[1].rows_scanned == 0);
    /* the rule's terms and the beam (ef 64 at 50%: 128) */
    CHECK_MSG(strstr(ex[1].reason, "5000 of 10000 rows (m*m > ") != NULL &&
                  strstr(ex[1].reason, "beam ") != NULL,
              "%s", ex[1].reason);
    vex_filter_free(f);

    /* post: every row matches */
    CHECK_RC(vex_filter_parse(c, "g >= 0", &f), VEX_OK);
    p.where = f;
    CHECK_RC(vex_search(c, q, 10, &p, hits, NULL, &n), VEX_OK);
    CHECK(ex[1].plan == VEX_PLAN_POST && ex[1].est_matches == 10000);
    CHECK(strstr(ex[1].reason, ">= 90%") != NULL);

    /* a short array: only the first entry is written */
    memset(ex, 0, sizeof ex);
    st.explain_cap = 1;
    CHECK_RC(vex_search(c, q, 10, &p, hits, NULL, &n), VEX_OK);
    CHECK(st.n_explain == 2 && ex[0].kind != NULL && ex[1].kind == NULL);
    vex_filter_free(f);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* The parser refuses each way a text can break the format. */
static void test_parser_refuses(void)
{
    static const char *bad[] = {
        /* a sample before its TYPE */
        "x_total 1\n",
        /* a family twice */
        "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n# TYPE a counter\n",
        /* a sample of another family */
        "# TYPE a gauge\nb 1\n",
        /* an unknown type */
        "# TYPE a thing\na 1\n",
        /* a label without quotes, a bad escape, no closing brace */
        "# TYPE a gauge\na{x=1} 1\n",
        "# TYPE a gauge\na{x=\"\\q\"} 1\n",
        "# TYPE a gauge\na{x=\"1\" 1\n",
        /* not a number */
        "# TYPE a gauge\na 1x\n",
        /* buckets not cumulative, no +Inf, count not the +Inf bucket */
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} "
        "1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} "
        "2\nh_sum 1\nh_count 3\n",
        /* no newline at the end */
        "# TYPE a gauge\na 1",
    };
    static const char *good =
        "# HELP a A gauge.\n# TYPE a gauge\na{x=\"q\\\"\\\\\\n\"} 1.5e3\n"
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} "
        "2\nh_sum 3\nh_count 2\n";
    prom_doc d;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = prom_parse(bad[i], &d);
        CHECK_MSG(rc != 0, "bad text %zu accepted", i);
        if (rc == 0)
            prom_free(&d);
    }
    CHECK(prom_parse(good, &d) == 0);
    CHECK(prom_get(&d, "a", "x=\"q\\\"\\\\\\n\"") == 1500);
    CHECK(prom_get(&d, "h_count", "") == 2);
    prom_free(&d);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_metrics_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_parser_refuses);
    TEST_RUN(test_meaning);
    TEST_RUN(test_escape);
    TEST_RUN(test_explain);
    rm_rf(tmp_root);
    return TEST_EXIT();
}
