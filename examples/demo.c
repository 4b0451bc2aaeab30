/* SPDX-License-Identifier: Apache-2.0 */
/*
 * demo.c - the README's first command: a tour of the database API.
 *
 * Generates a seeded, clustered dataset (so neighbours mean something),
 * creates a database directory with one HNSW collection, loads the data in
 * durable batches with metadata, searches, deletes and re-inserts a
 * record, flushes, closes, reopens and searches again, then searches with
 * a metadata filter, printing results and timings. Uses
 * only include/vexdb.h. Usage: vex-demo [dir] [n] [dim] (defaults
 * vexdb-demo, 50000 x 128).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vexdb.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a seeded generator so every run shows the same data */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float gauss(uint64_t *s)
{
    double u1 = ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0;
    double u2 = (double)(next_u64(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* n points around 64 cluster centres */
static float *clustered(uint64_t *seed, size_t n, size_t dim,
                        const float *centres)
{
    float *v = malloc(n * dim * sizeof *v);
    size_t i, d;
    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        const float *c = centres + (next_u64(seed) % 64) * dim;
        for (d = 0; d < dim; d++)
            v[i * dim + d] = c[d] + 0.35f * gauss(seed);
    }
    return v;
}

static int fail(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "demo: %s failed: %s (%s)\n", what, vex_errstr(rc), msg);
    return 1;
}

/* Search the first queries and print the top hits of query 0. */
static int show(vex_collection *c, const float *queries, size_t dim,
                const char *when, uint64_t *first_ids)
{
    vex_hit hits[5];
    size_t nh, i;
    double t0 = now();
    int rc;
    for (i = 0; i < 100; i++) {
        rc = vex_search(c, queries + i * dim, 5, NULL, hits, NULL, &nh);
        if (rc != VEX_OK)
            return fail("vex_search", rc, vex_collection_errmsg(c));
        if (i == 0)
            for (size_t j = 0; j < nh; j++)
                first_ids[j] = hits[j].id;
    }
    printf("%s: %.3f ms per query (100 queries); nearest to query 0:\n", when,
           (now() - t0) * 10);
    rc = vex_search(c, queries, 5, NULL, hits, NULL, &nh);
    if (rc != VEX_OK)
        return fail("vex_search", rc, vex_collection_errmsg(c));
    for (i = 0; i < nh; i++)
        printf("  %zu. id %-8" PRIu64 " distance %.4f\n", i + 1, hits[i].id,
               hits[i].distance);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "vexdb-demo";
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 50000;
    size_t dim = argc > 3 ? strtoul(argv[3], NULL, 10) : 128;
    const size_t nq = 100, chunk = 1000;
    uint64_t seed = 20261122, before[5] = {0}, after[5] = {0};
    float *centres = NULL, *base = NULL, *queries = NULL;
    vex_db_options dopt;
    vex_collection_config cfg;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_batch *batch = NULL;
    vex_meta *meta = NULL;
    static const char *const langs[] = {"en", "de", "fr", "ja"};
    double t0;
    size_t i;
    int rc, status = 1;

    if (n < 10 || dim < 1 || dim > VEX_MAX_DIM) {
        fprintf(stderr, "usage: vex-demo [dir] [n >= 10] [dim 1..%d]\n",
                VEX_MAX_DIM);
        return 2;
    }
    printf("VexDB %s demo: database %s, %zu x %zu float32 vectors, L2, "
           "kernels: %s\n",
           vex_version(), path, n, dim, vex_simd_name());
    centres = malloc(64 * dim * sizeof *centres);
    if (!centres)
        goto out;
    for (i = 0; i < 64 * dim; i++)
        centres[i] = 2.0f * gauss(&seed);
    base = clustered(&seed, n, dim, centres);
    queries = clustered(&seed, nq, dim, centres);
    if (!base || !queries)
        goto out;

    /* 1. open (creating the directory) and create a collection */
    vex_db_options_init(&dopt);
    dopt.create_if_missing = 1;
    rc = vex_db_open(path, &dopt, &db);
    if (rc != VEX_OK) {
        status = fail("vex_db_open", rc, vex_db_errmsg(db));
        goto out;
    }
    rc = vex_collection_open(db, "demo", &c);
    if (rc == VEX_OK) {
        /* left over from an earlier run: start again */
        vex_collection_close(c);
        c = NULL;
        rc = vex_collection_drop(db, "demo");
    } else if (rc == VEX_NOTFOUND) {
        rc = VEX_OK;
    }
    vex_collection_config_init(&cfg);
    cfg.dim = (uint32_t)dim;
    cfg.metric = VEX_METRIC_L2;
    cfg.index_kind = VEX_INDEX_HNSW;
    if (rc == VEX_OK)
        rc = vex_collection_create(db, "demo", &cfg, &c);
    if (rc != VEX_OK) {
        status = fail("vex_collection_create", rc, vex_db_errmsg(db));
        goto out;
    }

    /* 2. load: atomic, durable batches of 1000 (ids are the caller's),
     * each record with typed metadata */
    rc = vex_batch_create(dim * sizeof(float), NULL, &batch);
    if (rc == VEX_OK)
        rc = vex_meta_create(NULL, &meta);
    if (rc != VEX_OK)
        goto out;
    t0 = now();
    for (i = 0; i < n && rc == VEX_OK; i += chunk) {
        vex_batch_clear(batch);
        for (size_t j = i; j < n && j < i + chunk && rc == VEX_OK; j++) {
            const char *lang = langs[j % 4];
            rc = vex_meta_set_string(meta, "lang", lang, 2);
            if (rc == VEX_OK)
                rc = vex_meta_set_int(meta, "year", 2000 + (int64_t)(j % 25));
            if (rc == VEX_OK)
                rc = vex_batch_insert_meta(batch, 1000 + j, base + j * dim,
                                           meta);
        }
        if (rc == VEX_OK)
            rc = vex_batch_commit(c, batch);
    }
    if (rc != VEX_OK) {
        status = fail("loading", rc, vex_collection_errmsg(c));
        goto out;
    }
    printf("loaded %" PRIu64 " records in %.2f s (each batch fsynced)\n",
           vex_collection_count(c), now() - t0);
    if (show(c, queries, dim, "search (memtable)", before))
        goto out;

    /* 3. writes are records: delete the best hit, insert it twice */
    rc = vex_delete(c, before[0]);
    if (rc == VEX_OK)
        rc = vex_insert(c, before[0], base + (before[0] - 1000) * dim);
    if (rc != VEX_OK) {
        status = fail("delete/insert", rc, vex_collection_errmsg(c));
        goto out;
    }
    rc = vex_insert(c, before[0], base + (before[0] - 1000) * dim);
    printf("inserting id %" PRIu64 " twice: %s: %s\n", before[0],
           vex_status_name(rc), vex_collection_errmsg(c));

    /* 4. flush to a segment file, close, reopen, search again */
    t0 = now();
    rc = vex_flush(c);
    if (rc != VEX_OK) {
        status = fail("vex_flush", rc, vex_collection_errmsg(c));
        goto out;
    }
    printf("flushed to a segment in %.2f s\n", now() - t0);
    rc = vex_db_close(db);
    db = NULL;
    c = NULL;
    if (rc != VEX_OK) {
        status = fail("vex_db_close", rc, "");
        goto out;
    }
    t0 = now();
    rc = vex_db_open(path, &dopt, &db);
    if (rc == VEX_OK)
        rc = vex_collection_open(db, "demo", &c);
    if (rc != VEX_OK) {
        status = fail("reopen", rc, vex_db_errmsg(db));
        goto out;
    }
    printf("reopened in %.2f ms: %" PRIu64 " records\n", (now() - t0) * 1e3,
           vex_collection_count(c));
    if (show(c, queries, dim, "search (segment)", after))
        goto out;
    for (i = 0; i < 5; i++)
        if (before[i] != after[i]) {
            fprintf(stderr, "demo: results differ after reopen\n");
            goto out;
        }
    printf("same results after reopen\n");

    /* 5. a filtered search: the nearest records with lang 'de' from 2020
     * on (5% of the rows), each hit with its metadata */
    {
        const char *text = "lang = 'de' AND year >= 2020";
        vex_filter *where = NULL;
        vex_meta *got[5] = {NULL};
        vex_search_params sp;
        vex_search_stats st;
        vex_hit hits[5];
        size_t nh = 0;
        rc = vex_filter_parse(c, text, &where);
        for (i = 0; i < 5 && rc == VEX_OK; i++)
            rc = vex_meta_create(NULL, &got[i]);
        vex_search_params_init(&sp);
        vex_search_stats_init(&st);
        sp.where = where;
        sp.stats = &st;
        sp.meta_out = got;
        t0 = now();
        if (rc == VEX_OK)
            rc = vex_search(c, queries, 5, &sp, hits, NULL, &nh);
        if (rc != VEX_OK) {
            status = fail("filtered search", rc, vex_collection_errmsg(c));
        } else {
            printf("search where %s: %.3f ms (plan: %s), nearest to query "
                   "0:\n",
                   text, (now() - t0) * 1e3,
                   st.plan_exact   ? "exact over the matches"
                   : st.plan_graph ? "filtered graph walk"
                                   : "graph walk, then filter");
            for (i = 0; i < nh; i++) {
                vex_field lang, year;
                size_t fl = 0, fy = 0;
                vex_meta_find(got[i], "lang", &fl);
                vex_meta_find(got[i], "year", &fy);
                vex_meta_field(got[i], fl, &lang);
                vex_meta_field(got[i], fy, &year);
                printf("  %zu. id %-8" PRIu64 " distance %.4f  lang %.*s "
                       "year %" PRId64 "\n",
                       i + 1, hits[i].id, hits[i].distance, (int)lang.len,
                       lang.s, year.i);
            }
        }
        for (i = 0; i < 5; i++)
            vex_meta_free(got[i]);
        vex_filter_free(where);
        if (rc != VEX_OK)
            goto out;
    }
    printf("The database is in %s%s\n", path[0] == '/' ? "" : "./", path);
    status = 0;
out:
    if (status == 1 && (!centres || !base || !queries))
        fprintf(stderr, "demo: out of memory\n");
    vex_batch_free(batch);
    vex_meta_free(meta);
    vex_db_close(db);
    free(centres);
    free(base);
    free(queries);
    return status;
}
