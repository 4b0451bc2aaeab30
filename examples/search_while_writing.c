/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search_while_writing.c - one collection shared by threads: writers keep
 * upserting while readers search, with no locking in the program. Every
 * acknowledged write is visible to the next search at once (the library
 * searches new rows exactly until its background threads have indexed
 * them), so each reader checks that the record a writer just reported is
 * found by its own vector. Uses only <vexdb.h> and pthreads.
 *
 * Usage: search_while_writing [dir]   (default "vexdb-concurrent")
 *
 * Build against an installed VexDB:
 *   cc search_while_writing.c $(pkg-config --cflags --libs vexdb) -pthread
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <vexdb.h>

#define DIM       16
#define WRITERS   2
#define READERS   2
#define PER_WRITE 1000 /* records each writer upserts */

static vex_collection *coll;
/* the highest id each writer has had acknowledged (-1: none yet) */
static _Atomic int64_t acked[WRITERS];
static atomic_int failed;

/* Record id's vector: a point that no other id shares. */
static void vector_of(uint64_t id, float *v)
{
    for (int j = 0; j < DIM; j++)
        v[j] = (float)((id * 2654435761u + (uint64_t)j * 40503u) % 10007) /
               10007.0f;
}

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    float v[DIM];
    for (int i = 0; i < PER_WRITE && !atomic_load(&failed); i++) {
        /* writer w owns ids w, w + WRITERS, w + 2 * WRITERS, ... */
        uint64_t id = (uint64_t)i * WRITERS + (uint64_t)w;
        vector_of(id, v);
        int rc = vex_upsert(coll, id, v);
        if (rc != VEX_OK) {
            fprintf(stderr, "writer %d: id %llu: %s\n", w,
                    (unsigned long long)id, vex_collection_errmsg(coll));
            atomic_store(&failed, 1);
            break;
        }
        atomic_store(&acked[w], (int64_t)id); /* after the acknowledgement */
    }
    return NULL;
}

static void *reader(void *arg)
{
    int r = (int)(intptr_t)arg;
    long checks = 0;
    float q[DIM];
    vex_hit hits[3];
    int64_t seen[WRITERS];
    for (int w = 0; w < WRITERS; w++)
        seen[w] = -1;
    /* until both writers are done, search for each newly acknowledged id */
    for (;;) {
        int done = 1;
        for (int w = 0; w < WRITERS; w++) {
            int64_t id = atomic_load(&acked[w]);
            done &= id >= (int64_t)(PER_WRITE - 1) * WRITERS + w;
            if (id == seen[w])
                continue; /* nothing new from this writer */
            seen[w] = id;
            vector_of((uint64_t)id, q);
            size_t n = 0;
            int rc = vex_search(coll, q, 3, NULL, hits, NULL, &n);
            if (rc != VEX_OK || n == 0 || hits[0].id != (uint64_t)id ||
                hits[0].distance != 0.0f) {
                fprintf(stderr,
                        "reader %d: acknowledged id %lld not found "
                        "first: %s\n",
                        r, (long long)id,
                        rc ? vex_collection_errmsg(coll) : "other id");
                atomic_store(&failed, 1);
            }
            checks++;
        }
        if (done || atomic_load(&failed))
            break;
        sched_yield();
    }
    printf("reader %d: %ld searches, each found the latest write\n", r, checks);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "vexdb-concurrent";
    pthread_t tw[WRITERS], tr[READERS];
    vex_db_options dopt;
    vex_db *db = NULL;
    int rc;

    vex_db_options_init(&dopt);
    dopt.create_if_missing = 1;
    rc = vex_db_open(dir, &dopt, &db);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex_db_open: %s\n",
                db ? vex_db_errmsg(db) : "no memory");
        vex_db_close(db);
        return 1;
    }
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    rc = vex_collection_open_or_create(db, "live", &cfg, &coll, NULL);
    if (rc != VEX_OK) {
        fprintf(stderr, "collection: %s\n", vex_db_errmsg(db));
        vex_db_close(db);
        return 1;
    }
    /* The handle is shared: every call on it is thread-safe. */
    for (int w = 0; w < WRITERS; w++)
        atomic_store(&acked[w], -1);
    for (int w = 0; w < WRITERS; w++)
        pthread_create(&tw[w], NULL, writer, (void *)(intptr_t)w);
    for (int r = 0; r < READERS; r++)
        pthread_create(&tr[r], NULL, reader, (void *)(intptr_t)r);
    for (int w = 0; w < WRITERS; w++)
        pthread_join(tw[w], NULL);
    for (int r = 0; r < READERS; r++)
        pthread_join(tr[r], NULL);

    printf("collection \"live\": %llu records\n",
           (unsigned long long)vex_collection_count(coll));
    if (vex_collection_count(coll) != (uint64_t)WRITERS * PER_WRITE)
        atomic_store(&failed, 1);
    vex_collection_close(coll);
    vex_db_close(db);
    return atomic_load(&failed) ? 1 : 0;
}
