/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_pyref.c - the C side of bench/python_bench.py: the same searches
 * the Python binding makes, as a tight C loop over the public API, on the
 * same index file, so that the binding's cost is the difference.
 *
 *   bench_pyref INDEX.vex QUERIES.fvecs K EF[,EF...] [THREADS]
 *
 * Opens INDEX.vex (written by vexdb.Index.save) memory-mapped, in place,
 * as vexdb.Index.load(mmap=True) does, reads the queries, and for each ef
 * prints one JSON line: single-query QPS (each query alone through
 * vex_index_search on this thread, one pass over all queries), batch QPS
 * (one vex_index_search_batch over all queries on THREADS threads of the
 * index, default 0 = all) and a checksum of the single-query hit ids (so
 * the caller can check that the Python run returned the same hits).
 * With EF "-" it serves instead: for each line "EF" read from stdin it
 * runs that pass and prints its JSON line, so that the caller can
 * interleave C passes with its own, pass by pass, against one warm
 * process (python_bench.py does).
 */
#include <vexdb.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Queries of an .fvecs file of dimension dim; *n receives their count. */
static float *read_fvecs(const char *path, uint32_t dim, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1024, count = 0;
    float *v = malloc(cap * dim * sizeof *v);
    int32_t d;
    while (v && fread(&d, 4, 1, f) == 1) {
        if ((uint32_t)d != dim) {
            fprintf(stderr, "%s: record %zu has dimension %d, not %u\n", path,
                    count, d, dim);
            free(v);
            v = NULL;
            break;
        }
        if (count == cap) {
            cap *= 2;
            float *g = realloc(v, cap * dim * sizeof *v);
            if (!g) {
                free(v);
                v = NULL;
                break;
            }
            v = g;
        }
        if (fread(v + count * dim, sizeof *v, dim, f) != dim) {
            free(v);
            v = NULL;
            break;
        }
        count++;
    }
    fclose(f);
    *n = count;
    return v;
}

/* One pass at `ef`: every query alone, then all as one batch; prints the
 * JSON line. 0, or 1 after printing the error. */
static int run_pass(vex_index *ix, uint32_t dim, const float *q, size_t nq,
                    size_t k, uint32_t ef, vex_hit *hits, size_t *nh)
{
    vex_search_params sp;
    vex_search_params_init(&sp);
    sp.ef_search = ef;
    uint64_t sum = 0;
    double t0 = now();
    for (size_t i = 0; i < nq; i++) {
        size_t n = 0;
        int rc = vex_index_search(ix, q + i * dim, k, &sp, hits, &n);
        if (rc != VEX_OK) {
            fprintf(stderr, "search: %s\n", vex_index_errmsg(ix));
            return 1;
        }
        for (size_t j = 0; j < n; j++)
            sum += hits[j].id * (j + 1);
    }
    double t1 = now();
    int rc = vex_index_search_batch(ix, q, nq, k, &sp, hits, nh);
    double t2 = now();
    if (rc != VEX_OK) {
        fprintf(stderr, "batch: %s\n", vex_index_errmsg(ix));
        return 1;
    }
    printf("{\"ef\": %u, \"qps_1t\": %.1f, \"qps_batch\": %.1f, "
           "\"checksum\": %llu, \"queries\": %zu}\n",
           ef, (double)nq / (t1 - t0), (double)nq / (t2 - t1),
           (unsigned long long)sum, nq);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_pyref INDEX.vex QUERIES.fvecs K "
                        "EF[,EF...] [THREADS]\n");
        return 2;
    }
    size_t k = (size_t)strtoul(argv[3], NULL, 10);
    uint32_t threads = argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 0;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    vex_open_options oo;
    vex_open_options_init(&oo);
    oo.n_threads = threads;
    vex_index *ix = NULL;
    int rc = vex_index_open_buffer(map, (uint64_t)st.st_size, &oo, &ix);
    if (rc != VEX_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], ix ? vex_index_errmsg(ix) : "");
        return 1;
    }
    vex_index_options io;
    vex_index_options_init(&io);
    vex_index_get_options(ix, &io);
    size_t nq = 0;
    float *q = read_fvecs(argv[2], io.dim, &nq);
    vex_hit *hits = malloc(nq * k * sizeof *hits);
    size_t *nh = malloc(nq * sizeof *nh);
    if (!q || !hits || !nh || k == 0) {
        fprintf(stderr, "cannot read %s (or out of memory)\n", argv[2]);
        return 1;
    }
    int bad = 0;
    if (strcmp(argv[4], "-") == 0) {
        char line[64];
        while (!bad && fgets(line, sizeof line, stdin))
            bad = run_pass(ix, io.dim, q, nq, k,
                           (uint32_t)strtoul(line, NULL, 10), hits, nh);
    } else {
        for (char *tok = strtok(argv[4], ","); !bad && tok;
             tok = strtok(NULL, ","))
            bad = run_pass(ix, io.dim, q, nq, k,
                           (uint32_t)strtoul(tok, NULL, 10), hits, nh);
    }
    if (bad)
        return 1;
    vex_index_free(ix);
    munmap(map, (size_t)st.st_size);
    free(q);
    free(hits);
    free(nh);
    return 0;
}
