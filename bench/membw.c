/* SPDX-License-Identifier: Apache-2.0 */
/*
 * membw.c - memory-bandwidth probe: how fast can this machine stream a
 * large buffer from DRAM, with 1 thread and with all threads?
 *
 * Flat search is bandwidth-bound, so its benchmarks report their speed as
 * a ratio of this probe measured in the same run. The probe is independent
 * of the library's kernels: a plain read-and-add over 64-bit words with
 * eight accumulators, compiled with -O3 -march=native so the compiler
 * vectorises it with the widest loads the CPU has. Best of several passes.
 *
 * Output: one JSON object per line,
 *   {"bench":"membw","threads":T,"bytes":B,"gbps":G}
 * Usage: membw [--mib N] [--passes P] [--threads T]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct slice {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} slice;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *read_slice(void *arg)
{
    slice *s = arg;
    uint64_t a[8] = {0};
    size_t i, j;
    for (i = 0; i + 8 <= s->n; i += 8)
        for (j = 0; j < 8; j++)
            a[j] += s->p[i + j];
    for (; i < s->n; i++)
        a[0] += s->p[i];
    s->sum = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return NULL;
}

static double probe(const uint64_t *buf, size_t words, int threads, int passes,
                    uint64_t *sink)
{
    double best = 0;
    int pass, t;
    for (pass = 0; pass < passes; pass++) {
        pthread_t th[256];
        slice sl[256];
        size_t per = words / (size_t)threads;
        double t0 = now(), dt;
        for (t = 0; t < threads; t++) {
            sl[t].p = buf + (size_t)t * per;
            sl[t].n = t == threads - 1 ? words - (size_t)t * per : per;
            pthread_create(&th[t], NULL, read_slice, &sl[t]);
        }
        for (t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            *sink += sl[t].sum;
        }
        dt = now() - t0;
        if ((double)words * 8 / dt > best)
            best = (double)words * 8 / dt;
    }
    return best / 1e9;
}

int main(int argc, char **argv)
{
    size_t mib = 1024, words, i;
    int passes = 5, max_threads = (int)sysconf(_SC_NPROCESSORS_ONLN), t, a;
    uint64_t *buf, sink = 0;
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--mib") == 0 && a + 1 < argc)
            mib = strtoul(argv[++a], NULL, 10);
        else if (strcmp(argv[a], "--passes") == 0 && a + 1 < argc)
            passes = atoi(argv[++a]);
        else if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc)
            max_threads = atoi(argv[++a]);
        else {
            fprintf(stderr,
                    "usage: membw [--mib N] [--passes P] [--threads T]\n");
            return 2;
        }
    }
    if (mib < 1 || passes < 1 || max_threads < 1 || max_threads > 256) {
        fprintf(stderr, "membw: bad arguments\n");
        return 2;
    }
    words = mib * 1024 * 1024 / 8;
    buf = malloc(words * 8);
    if (buf == NULL) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (i = 0; i < words; i++) /* touch every page, defeat zero pages */
        buf[i] = i * 0x9e3779b97f4a7c15ULL;
    for (t = 1; t <= max_threads;
         t = t < max_threads && t * 2 > max_threads ? max_threads : t * 2) {
        double g = probe(buf, words, t, passes, &sink);
        printf("{\"bench\":\"membw\",\"threads\":%d,\"bytes\":%zu,"
               "\"gbps\":%.3f}\n",
               t, words * 8, g);
        if (t == max_threads)
            break;
    }
    fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
    free(buf);
    return 0;
}
