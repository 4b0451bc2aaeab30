/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_stats.h - the order statistics the C benchmarks report: medians
 * of interleaved passes (header-only, libc only, so that benchmarks
 * without the dataset readers share them too).
 */
#ifndef VEX_BENCH_STATS_H
#define VEX_BENCH_STATS_H

#include <stdlib.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v); 0 for none. */
static inline double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
