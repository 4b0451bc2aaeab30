/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quickstart.c - the smallest useful VexDB program: create a database,
 * insert vectors, search, close. Uses only <vexdb.h>.
 *
 * Usage: quickstart [dir]   (default "vexdb-quickstart"; the database is
 * created there, or opened again if it exists)
 *
 * Build against an installed VexDB:
 *   cc quickstart.c $(pkg-config --cflags --libs vexdb)
 */
#include <stdint.h>
#include <stdio.h>

#include <vexdb.h>

#define DIM 8
#define N   1000

/* Print the handle's message and return 1 when rc is not VEX_OK. */
static int check(int rc, const char *what, const char *msg)
{
    if (rc == VEX_OK)
        return 0;
    fprintf(stderr, "%s: %s: %s\n", what, vex_status_name(rc), msg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "vexdb-quickstart";

    /* 1. Open (and create) the database directory. */
    vex_db_options dopt;
    vex_db_options_init(&dopt); /* defaults first, then what we change */
    dopt.create_if_missing = 1;
    vex_db *db = NULL;
    int rc = vex_db_open(dir, &dopt, &db);
    if (check(rc, "vex_db_open", db ? vex_db_errmsg(db) : "out of memory"))
        goto fail; /* the handle, if any, still has to be closed */

    /* 2. A collection of 8-dimensional float vectors, HNSW, L2 (defaults),
     *    created on the first run and opened on later ones. */
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    vex_collection *c = NULL;
    int created = 0;
    rc = vex_collection_open_or_create(db, "points", &cfg, &c, &created);
    if (check(rc, "vex_collection_open_or_create", vex_db_errmsg(db)))
        goto fail;

    /* 3. Insert N vectors in one call (durable when it returns VEX_OK).
     *    Vector i is (i, i, ..., i) / N, so the nearest ids to a query
     *    are easy to predict. */
    static uint64_t ids[N];
    static float vecs[N][DIM];
    for (size_t i = 0; i < N; i++) {
        ids[i] = 1000 + i;
        for (size_t j = 0; j < DIM; j++)
            vecs[i][j] = (float)i / N;
    }
    if (created) {
        rc = vex_insert_many(c, N, ids, vecs, NULL, NULL, NULL);
        if (check(rc, "vex_insert_many", vex_collection_errmsg(c)))
            goto fail;
    }

    /* 4. The 5 nearest neighbours of the vector of id 1500. */
    float query[DIM];
    for (size_t j = 0; j < DIM; j++)
        query[j] = 500.0f / N;
    vex_hit hits[5];
    size_t n_hits = 0;
    rc = vex_search(c, query, 5, NULL, hits, NULL, &n_hits);
    if (check(rc, "vex_search", vex_collection_errmsg(c)))
        goto fail;
    printf("VexDB %s: %llu vectors, nearest to id 1500:\n", vex_version(),
           (unsigned long long)vex_collection_count(c));
    for (size_t i = 0; i < n_hits; i++)
        printf("  id %llu  distance %g\n", (unsigned long long)hits[i].id,
               (double)hits[i].distance);
    if (n_hits != 5 || hits[0].id != 1500) {
        fprintf(stderr, "unexpected result\n");
        goto fail;
    }

    /* 5. Closing the database closes its collections too. */
    return vex_db_close(db) == VEX_OK ? 0 : 1;
fail:
    vex_db_close(db);
    return 1;
}
