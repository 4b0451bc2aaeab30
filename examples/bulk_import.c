/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bulk_import.c - load many records fast: arrays in, chunked bulk writes,
 * no sync per write, one flush at the end, then one compaction so the
 * collection is a single indexed segment. Uses only <vexdb.h>.
 *
 * Usage: bulk_import [dir [file.fvecs]]
 *   dir         the database (default "vexdb-bulk"; created if missing)
 *   file.fvecs  vectors to load (texmex format: per vector an int32
 *               dimension, then that many float32); without it, 10,000
 *               seeded, clustered 32-dimensional vectors are generated.
 * Record i gets id i, metadata {"cluster": i % 16, "source": name} and is
 * upserted, so running it again over the same database changes nothing.
 *
 * Build against an installed VexDB:
 *   cc bulk_import.c $(pkg-config --cflags --libs vexdb)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vexdb.h>

#define GEN_N   10000
#define GEN_DIM 32
#define CHUNK   5000 /* records per vex_upsert_many call */

/* Wall-clock seconds; timespec_get is ISO C11, so the example builds with
 * -std=c11 and no POSIX feature macro. */
static double now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read a whole .fvecs file into a new n x dim array (NULL on failure,
 * with the reason printed). */
static float *read_fvecs(const char *path, size_t *n, uint32_t *dim)
{
    FILE *f = fopen(path, "rb");
    float *v = NULL;
    long size;
    int32_t d;
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    if (fread(&d, 4, 1, f) != 1 || d < 1 || d > VEX_MAX_DIM ||
        fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        size % (4 + 4 * (long)d) != 0) {
        fprintf(stderr, "%s: not an .fvecs file\n", path);
        fclose(f);
        return NULL;
    }
    *dim = (uint32_t)d;
    *n = (size_t)(size / (4 + 4 * (long)d));
    v = malloc(*n * *dim * sizeof *v);
    rewind(f);
    for (size_t i = 0; v && i < *n; i++) {
        int32_t di;
        if (fread(&di, 4, 1, f) != 1 || di != d ||
            fread(v + i * *dim, 4, *dim, f) != *dim) {
            fprintf(stderr, "%s: vector %zu: bad dimension or short read\n",
                    path, i);
            free(v);
            v = NULL;
        }
    }
    fclose(f);
    return v;
}

/* GEN_N vectors around 16 seeded centres (xorshift: the same every run). */
static float *generate(size_t *n, uint32_t *dim)
{
    uint64_t s = 0x9e3779b97f4a7c15u;
    float *v = malloc((size_t)GEN_N * GEN_DIM * sizeof *v);
    float centre[16][GEN_DIM];
    if (v == NULL)
        return NULL;
    for (int c = 0; c < 16; c++)
        for (int j = 0; j < GEN_DIM; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            centre[c][j] = (float)(s % 1000) / 100.0f;
        }
    for (size_t i = 0; i < GEN_N; i++)
        for (int j = 0; j < GEN_DIM; j++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            v[i * GEN_DIM + j] =
                centre[i % 16][j] + (float)(s % 1000) / 1000.0f - 0.5f;
        }
    *n = GEN_N;
    *dim = GEN_DIM;
    return v;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "vexdb-bulk";
    const char *src = argc > 2 ? argv[2] : "generated";
    size_t n = 0;
    uint32_t dim = 0;
    float *vecs = argc > 2 ? read_fvecs(argv[2], &n, &dim) : generate(&n, &dim);
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    vex_meta **metas = calloc(CHUNK, sizeof *metas);
    vex_db *db = NULL;
    vex_collection *c = NULL;
    int rc, status = 1;
    if (vecs == NULL || ids == NULL || metas == NULL)
        goto out;

    /* Bulk loads can be redone, so nothing is synced until the flush
     * below (VEX_DURABILITY_NONE); a crash before it loses only records
     * this program would write again. */
    vex_db_options dopt;
    vex_db_options_init(&dopt);
    dopt.create_if_missing = 1;
    dopt.durability = VEX_DURABILITY_NONE;
    rc = vex_db_open(dir, &dopt, &db);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex_db_open: %s\n",
                db ? vex_db_errmsg(db) : "no memory");
        goto out;
    }
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    cfg.dim = dim;
    rc = vex_collection_open_or_create(db, "imported", &cfg, &c, NULL);
    if (rc != VEX_OK) {
        fprintf(stderr, "collection: %s\n", vex_db_errmsg(db));
        goto out;
    }
    for (size_t i = 0; i < CHUNK; i++)
        if (vex_meta_create(NULL, &metas[i]) != VEX_OK)
            goto out;
    for (size_t i = 0; i < n; i++)
        ids[i] = i;

    /* Each vex_upsert_many checks all of its records before writing any,
     * then commits them in atomic chunks; the vectors are read straight
     * from the array. */
    double t0 = now();
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK, done = 0;
        for (size_t i = 0; i < m; i++) {
            vex_meta_clear(metas[i]);
            vex_meta_set_int(metas[i], "cluster", (int64_t)((at + i) % 16));
            vex_meta_set_string(metas[i], "source", src, strlen(src));
        }
        rc = vex_upsert_many(c, m, ids + at, vecs + at * dim,
                             (const vex_meta *const *)metas, NULL, &done);
        if (rc != VEX_OK) {
            fprintf(stderr, "records %zu..%zu: %s (%zu written)\n", at,
                    at + m - 1, vex_collection_errmsg(c), done);
            goto out;
        }
    }
    double t1 = now();
    /* One flush makes everything durable and writes indexed segments;
     * one compaction merges them into a single segment. */
    if ((rc = vex_flush(c)) != VEX_OK || (rc = vex_compact(c)) != VEX_OK) {
        fprintf(stderr, "flush/compact: %s\n", vex_collection_errmsg(c));
        goto out;
    }
    double t2 = now();

    vex_stats st;
    vex_stats_init(&st);
    if (vex_stats_get(c, &st) != VEX_OK)
        goto out;
    printf("loaded %zu x %u vectors from %s: %.0f records/s written, "
           "%.2f s to flush and compact\n",
           n, dim, src, (double)n / (t1 - t0 + 1e-9), t2 - t1);
    printf("collection \"imported\": %llu records, %llu segment(s), "
           "%.1f MiB on disk\n",
           (unsigned long long)st.live_rows, (unsigned long long)st.segments,
           (double)st.disk_bytes / (1 << 20));
    if (st.live_rows != n) { /* upserts: a second run must not add rows */
        fprintf(stderr, "expected %zu records\n", n);
        goto out;
    }

    /* The first vector's nearest record is itself. */
    vex_hit hit;
    size_t got = 0;
    rc = vex_search(c, vecs, 1, NULL, &hit, NULL, &got);
    if (rc != VEX_OK || got != 1 || hit.id != 0) {
        fprintf(stderr, "search: %s\n",
                rc ? vex_collection_errmsg(c) : "record 0 not found first");
        goto out;
    }
    printf("nearest to vector 0: id %llu at distance %g\n",
           (unsigned long long)hit.id, (double)hit.distance);
    status = 0;
out:
    vex_collection_close(c);
    vex_db_close(db);
    for (size_t i = 0; metas && i < CHUNK; i++)
        vex_meta_free(metas[i]);
    free(metas);
    free(ids);
    free(vecs);
    return status;
}
