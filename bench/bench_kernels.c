/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kernels.c - throughput of the distance kernels, per ISA table.
 *
 * For every table this machine can run (scalar, avx2, avx512) and dims
 * 96/100/128/384/768/1536 it measures, single-threaded:
 *   l2sq_f32_batch, dot_f32_batch  GB/s of vector data read, over a ~1 MiB
 *                                  block (L2-resident) and over a 512 MiB
 *                                  block (beyond every cache);
 *   dots_f32_packed                GFLOP/s, 64 queries x 4096 vectors, with
 *                                  and without the pack_f32 cost;
 *   l2sq_u8, hamming               GB/s of code bytes, L2-resident.
 * First it runs a memory-bandwidth probe (a plain streaming read-and-sum
 * of the 512 MiB block with the widest ISA), and every out-of-cache line
 * carries its ratio to that probe. Output: one JSON object per line.
 *
 * Usage: bench_kernels [--quick]   (--quick: 64 MiB block, shorter runs)
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simd/simd.h"
#include "util/rng.h"

static double g_min_time = 0.25; /* seconds per measurement */
static volatile float g_sink;    /* keeps results alive */
static volatile uint64_t g_isink;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes) != 0) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* ---- memory-bandwidth probe --------------------------------------------- */

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static float sum_avx512(const float *x,
                                                           size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx2"))) static float sum_avx2(const float *x, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    float t[8];
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(x + i + 24));
    }
    _mm256_storeu_ps(
        t, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#endif

static float sum_plain(const float *x, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

/* n must be a multiple of 64 floats */
static double probe_bandwidth(const float *x, size_t n, const char **isa)
{
    float (*fn)(const float *, size_t) = sum_plain;
    double t0, t;
    size_t passes = 0;
    *isa = "scalar";
#if defined(__x86_64__)
    if (vx_simd_table_avx512()) {
        fn = sum_avx512;
        *isa = "avx512";
    } else if (vx_simd_table_avx2()) {
        fn = sum_avx2;
        *isa = "avx2";
    }
#endif
    g_sink = fn(x, n); /* warm the TLB */
    t0 = now();
    do {
        g_sink = fn(x, n);
        passes++;
        t = now() - t0;
    } while (t < g_min_time || passes < 2);
    return (double)passes * (double)n * sizeof(float) / t / 1e9;
}

/* ---- float32 batch ---------------------------------------------------------
 */

#define BLOCK 4096 /* vectors per batch call, as a flat scan would use */

static double bench_batch(const vex_simd_table *t, int l2, const float *q,
                          const float *x, size_t count, size_t dim, float *out)
{
    double t0 = now(), el;
    size_t passes = 0, j;
    do {
        for (j = 0; j < count; j += BLOCK) {
            size_t c = count - j < BLOCK ? count - j : BLOCK;
            if (l2)
                t->l2sq_f32_batch(q, x + j * dim, dim, c, dim, out);
            else
                t->dot_f32_batch(q, x + j * dim, dim, c, dim, out);
            g_sink = out[0];
        }
        passes++;
        el = now() - t0;
    } while (el < g_min_time);
    return (double)passes * (double)count * (double)dim * sizeof(float) / el /
           1e9;
}

static void emit_batch(const char *isa, const char *kernel, size_t dim,
                       const char *set, size_t bytes, double gbps, double membw)
{
    printf("{\"bench\":\"kernel\",\"isa\":\"%s\",\"kernel\":\"%s\","
           "\"dim\":%zu,\"set\":\"%s\",\"bytes\":%zu,\"gbps\":%.2f",
           isa, kernel, dim, set, bytes, gbps);
    if (membw > 0)
        printf(",\"vs_membw\":%.3f", gbps / membw);
    printf("}\n");
    fflush(stdout);
}

/* ---- float32 packed ---------------------------------------------------------
 */

static void bench_packed(const vex_simd_table *t, const float *q,
                         const float *x, size_t dim)
{
    enum { NQ = 64, COUNT = 4096 };
    size_t psz = vex_simd_pack_size(t->panel, COUNT, dim);
    float *pk = xalloc(psz * sizeof(float));
    float *out = xalloc((size_t)NQ * COUNT * sizeof(float));
    double flops = 2.0 * NQ * COUNT * (double)dim, t0, el, el_pack;
    size_t reps = 0;
    t->pack_f32(x, dim, COUNT, dim, pk);
    t0 = now();
    do {
        t->dots_f32_packed(q, dim, NQ, pk, COUNT, dim, out, COUNT);
        g_sink = out[reps % COUNT];
        reps++;
        el = now() - t0;
    } while (el < g_min_time);
    el /= (double)reps;
    reps = 0;
    t0 = now();
    do {
        t->pack_f32(x, dim, COUNT, dim, pk);
        g_sink = pk[reps % psz];
        reps++;
        el_pack = now() - t0;
    } while (el_pack < g_min_time / 2);
    el_pack /= (double)reps;
    printf(
        "{\"bench\":\"kernel\",\"isa\":\"%s\",\"kernel\":\"dots_f32_packed\","
        "\"dim\":%zu,\"nq\":%d,\"count\":%d,\"gflops\":%.1f,"
        "\"gflops_with_pack\":%.1f}\n",
        t->name, dim, NQ, COUNT, flops / el / 1e9,
        flops / (el + el_pack) / 1e9);
    fflush(stdout);
    free(pk);
    free(out);
}

/* ---- integers and bits ------------------------------------------------ */

static void bench_codes(const vex_simd_table *t, const uint8_t *codes,
                        size_t total, size_t dim)
{
    size_t nb_u8 = dim, nb_bits = (dim + 7) / 8, j, passes;
    size_t n_u8 = total / nb_u8, n_bits = total / nb_bits;
    double t0, el;
    uint64_t acc = 0;
    passes = 0;
    t0 = now();
    do {
        for (j = 0; j < n_u8; j++)
            acc += t->l2sq_u8(codes, codes + j * nb_u8, nb_u8);
        passes++;
        el = now() - t0;
    } while (el < g_min_time / 2);
    printf("{\"bench\":\"kernel\",\"isa\":\"%s\",\"kernel\":\"l2sq_u8\","
           "\"dim\":%zu,\"set\":\"l2\",\"bytes\":%zu,\"gbps\":%.2f}\n",
           t->name, dim, n_u8 * nb_u8,
           (double)passes * (double)(n_u8 * nb_u8) / el / 1e9);
    passes = 0;
    t0 = now();
    do {
        for (j = 0; j < n_bits; j++)
            acc += t->hamming(codes, codes + j * nb_bits, nb_bits);
        passes++;
        el = now() - t0;
    } while (el < g_min_time / 2);
    printf("{\"bench\":\"kernel\",\"isa\":\"%s\",\"kernel\":\"hamming\","
           "\"dim\":%zu,\"code_bytes\":%zu,\"set\":\"l2\",\"bytes\":%zu,"
           "\"gbps\":%.2f}\n",
           t->name, dim, nb_bits, n_bits * nb_bits,
           (double)passes * (double)(n_bits * nb_bits) / el / 1e9);
    fflush(stdout);
    g_isink = acc;
}

int main(int argc, char **argv)
{
    static const size_t dims[] = {96, 100, 128, 384, 768, 1536};
    const vex_simd_table *tabs[3];
    size_t n_tabs = 0, big_bytes = (size_t)512 << 20, small_bytes = 1u << 20;
    size_t big_n, small_n, i, di;
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    float *big, *q, *out;
    uint8_t *codes;
    const char *probe_isa;
    double membw;
    vex_rng r;

    if (argc > 1 && !quick) {
        fprintf(stderr, "usage: bench_kernels [--quick]\n");
        return 2;
    }
    if (quick) {
        big_bytes = (size_t)64 << 20;
        g_min_time = 0.05;
    }
    tabs[n_tabs++] = vx_simd_table_scalar();
    if (vx_simd_table_avx2())
        tabs[n_tabs++] = vx_simd_table_avx2();
    if (vx_simd_table_avx512())
        tabs[n_tabs++] = vx_simd_table_avx512();

    big_n = big_bytes / sizeof(float);
    small_n = small_bytes / sizeof(float);
    big = xalloc(big_bytes);
    q = xalloc(2048 * 64 * sizeof(float));
    out = xalloc(BLOCK * sizeof(float));
    codes = xalloc(small_bytes);
    vex_rng_seed(&r, 42);
    for (i = 0; i < big_n; i++)
        big[i] = (float)(vex_rng_next(&r) >> 40) * (1.0f / 16777216.0f) - 0.5f;
    for (i = 0; i < 2048 * 64; i++)
        q[i] = (float)vex_rng_double(&r) - 0.5f;
    for (i = 0; i < small_bytes; i++)
        codes[i] = (uint8_t)vex_rng_next(&r);

    membw = probe_bandwidth(big, big_n, &probe_isa);
    printf("{\"bench\":\"membw\",\"isa\":\"%s\",\"bytes\":%zu,\"gbps\":%.2f}\n",
           probe_isa, big_bytes, membw);
    fflush(stdout);

    for (i = 0; i < n_tabs; i++) {
        const vex_simd_table *t = tabs[i];
        for (di = 0; di < sizeof dims / sizeof dims[0]; di++) {
            size_t dim = dims[di], l2;
            size_t c_small = small_n / dim, c_big = big_n / dim;
            /* the L2 set is the first 1 MiB of the big block, warmed */
            for (l2 = 0; l2 < 2; l2++) {
                const char *k = l2 ? "l2sq_f32_batch" : "dot_f32_batch";
                double g = bench_batch(t, (int)l2, q, big, c_small, dim, out);
                emit_batch(t->name, k, dim, "l2", c_small * dim * 4, g, 0);
                g = bench_batch(t, (int)l2, q, big, c_big, dim, out);
                emit_batch(t->name, k, dim, "mem", c_big * dim * 4, g, membw);
            }
            bench_packed(t, q, big, dim);
            bench_codes(t, codes, small_bytes, dim);
        }
    }
    free(big);
    free(q);
    free(out);
    free(codes);
    return 0;
}
